/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool_seed_test.c: bpftool on bpftime (issue 12).
 *
 * tracelog   `bpftool prog tracelog` under `bpftime load` (in seccomp_guard
 *            -m: no bpf(), no mount) streams bpf_printk lines a program run
 *            in another process writes to the segment's trace ring, in the
 *            kernel's trace_pipe line format (checked against a line of the
 *            kernel's own trace_pipe when the kernel can run the program),
 *            and the mount table is the same afterwards.
 * devattach  XDP and tc attachment to a real device, every libbpf way, is
 *            refused with EOPNOTSUPP and the extended ack message; inside a
 *            fresh network namespace the device has nothing attached after.
 * seed       the sequence of shared/seeds/004 (see seed.c... below), each
 *            step a separate `bpftime load bpftool ...`, then the same
 *            sequence on the kernel in a private mount namespace with its
 *            own bpffs; every step's outputs are compared field by field and
 *            the table of matching and differing steps is printed.  Any
 *            differing step fails the test.
 *
 * jited      OBJ_GET_INFO's jited_* fields under `bpftime load` pass the checks
 *            libbpf and bpftool make (jited_info.c), with the kernel's counts;
 *            `bpftimetool prog dump jited` disassembles the same program.
 *
 *   bpftool_seed_test BPFTIME GUARD BPFTOOL|none OBJDIR DEVATTACH JITED_INFO BPFTIMETOOL|none
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <linux/bpf.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))

static const char *bpftime_bin, *guard_bin, *bpftool_bin, *objdir, *devattach_bin, *jited_bin,
	*tool_bin;

static bool starts_with(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int cleanup(void **state)
{
	(void)state;
	kill_live();
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	return 0;
}

static int finish(struct proc *p)
{
	int status;
	pid_t w;

	while ((w = waitpid(p->pid, &status, WNOHANG)) == 0)
		pump(p, 50);
	assert_int_equal(w, p->pid);
	while (pump(p, 0))
		;
	reaped(p->pid);
	close(p->out);
	close(p->err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int run(struct proc *p, const char *const *argv)
{
	spawn(p, argv, false);
	return finish(p);
}

static void shm_for_test(const char *name)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "bpftime_bt_%d_%s", getpid(), name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", buf, 1);
	bpftime_shm__remove(NULL);
}

/* the whole mount table of this process's namespace */
static char *mount_table(void)
{
	static char buf[3][1 << 16];
	static int next;
	char *b = buf[next++ % 3];
	int fd = open("/proc/self/mountinfo", O_RDONLY);
	ssize_t n, len = 0;

	assert_true(fd >= 0);
	while ((n = read(fd, b + len, sizeof(buf[0]) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	b[len] = 0;
	return b;
}

/* @text without the bpftime log lines ("[2026-...] [warn] [pid] ...") the
 * server writes to stderr in tests (into one of two static buffers) */
static const char *no_log(const char *text)
{
	static char buf[2][1 << 16];
	static int next;
	char *b = buf[next++ % 2];
	size_t len = 0;

	for (const char *l = text; *l;) {
		size_t n = strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0);

		if (strncmp(l, "[20", 3) && len + n < sizeof(buf[0])) {
			memcpy(b + len, l, n);
			len += n;
		}
		l += n;
	}
	b[len] = 0;
	return b;
}

/* ---- tracelog ------------------------------------------------------------ */

/* one line of a trace_pipe: "<comm>-<pid> [<cpu>] <flags> <sec>.<usec>:
 * bpf_trace_printk: <msg>", the comm right-aligned in 16 columns; 0 and
 * the message, or -1 */
static int parse_trace_line(const char *line, char *msg, size_t size)
{
	unsigned long sec, usec;
	int pid, cpu, n = 0;
	char flags[16];
	const char *dash, *p;

	p = strstr(line, ": bpf_trace_printk: ");
	if (!p)
		return -1;
	/* the comm may hold '-' and spaces: the pid follows the last '-' before "[" */
	dash = memrchr(line, '[', (size_t)(p - line));
	if (!dash)
		return -1;
	while (dash > line && *dash != '-')
		dash--;
	if (*dash != '-' || dash - line < 1)
		return -1;
	if (sscanf(dash, "-%d [%d] %15s %lu.%lu:%n", &pid, &cpu, flags, &sec, &usec, &n) != 5 ||
	    dash + n != p + 1 || pid <= 0)
		return -1;
	/* six digits of microseconds, as the kernel prints them */
	if (strspn((const char *)memrchr(dash, '.', (size_t)(p - dash)) + 1, "0123456789") != 6)
		return -1;
	snprintf(msg, size, "%.*s", (int)strcspn(p + 20, "\n"), p + 20);
	return 0;
}

/* "hello from bpf %d" with the first byte of the input, built on the stack
 * (no map for the string: the test makes the program itself) */
static const struct bpftime_insn printk_prog[] = {
	{ .code = 0x71, .dst = 3, .src = 1 },		   /* r3 = *(u8 *)(r1 + 0) */
	{ .code = 0x18, .dst = 1, .imm = 0x6c6c6568 },	   /* r1 = "hello fr" ll */
	{ .imm = 0x7266206f },				   /* */
	{ .code = 0x7b, .dst = 10, .src = 1, .off = -24 }, /* *(u64 *)(r10 - 24) = r1 */
	{ .code = 0x18, .dst = 1, .imm = 0x62206d6f },	   /* r1 = "om bpf %" ll */
	{ .imm = 0x25206670 },				   /* */
	{ .code = 0x7b, .dst = 10, .src = 1, .off = -16 }, /* *(u64 *)(r10 - 16) = r1 */
	{ .code = 0xb7, .dst = 1, .imm = 'd' },		   /* r1 = 'd' */
	{ .code = 0x7b, .dst = 10, .src = 1, .off = -8 },  /* *(u64 *)(r10 - 8) = r1 */
	{ .code = 0xbf, .dst = 1, .src = 10 },		   /* r1 = r10 */
	{ .code = 0x07, .dst = 1, .imm = -24 },		   /* r1 += -24 */
	{ .code = 0xb7, .dst = 2, .imm = 18 },		   /* r2 = 18 */
	{ .code = 0x85, .imm = 6 },			   /* call bpf_trace_printk */
	{ .code = 0xb7, .dst = 0, .imm = 7 },		   /* r0 = 7 */
	{ .code = 0x95 },				   /* exit */
};

/* the kernel's line for the same message, from a private mount namespace
 * with its own tracefs; 0 and the line, or -1 when the kernel cannot */
static int kernel_trace_line(char *line, size_t size)
{
	char script[2048];
	const char *argv[] = { "/usr/bin/unshare", "-m", "--propagation", "private",
			       "/bin/sh",	   "-c", script,	  NULL };
	struct proc p;

	if (geteuid() || access("/usr/bin/unshare", X_OK))
		return -1;
	snprintf(script, sizeof(script),
		 "set -e; mount -t bpf bpf /sys/fs/bpf; mount -t tracefs tracefs "
		 "/sys/kernel/tracing; "
		 "%s prog load %s/printk.bpf.o /sys/fs/bpf/bt_printk type socket >&2; "
		 "printf %%064d 0 > /tmp/bt_printk_%d; "
		 "%s prog run pinned /sys/fs/bpf/bt_printk data_in /tmp/bt_printk_%d >&2; "
		 "rm -f /tmp/bt_printk_%d; timeout 10 grep -m1 'hello from bpf' "
		 "/sys/kernel/tracing/trace_pipe",
		 bpftool_bin, objdir, getpid(), bpftool_bin, getpid(), getpid());
	if (run(&p, argv)) {
		print_message("the kernel cannot run the printk program: %s\n", p.ebuf);
		return -1;
	}
	snprintf(line, size, "%.*s", (int)MIN(strlen(p.obuf), size - 1), p.obuf);
	return 0;
}

static void test_tracelog(void **state)
{
	const char *argv[] = { guard_bin,   "-m",   bpftime_bin, "load",
			       bpftool_bin, "prog", "tracelog",	 NULL };
	struct bpftime_insn insns[ARRAY_SIZE(printk_prog)];
	struct bpftime_runtime *rt;
	struct bpftime_shm *shm;
	char *before, msg[128], kline[512];
	const char *l;
	struct proc p;
	int fd, status;

	(void)state;
	if (!bpftool_bin)
		TEST_SKIP("no bpftool on this machine");
	shm_for_test("tracelog");
	memcpy(insns, printk_prog, sizeof(insns));
	shm = bpftime_shm__open_or_create(NULL);
	assert_non_null(shm);
	fd = bpftime_prog_create(shm, 100, BPFTIME_PROG_TYPE_RAW_MEMORY, "say_hello", insns,
				 ARRAY_SIZE(insns), NULL);
	assert_int_equal(fd, 100);
	rt = bpftime_runtime__new(shm, NULL);
	assert_non_null(rt);
	before = mount_table();
	/* one message before bpftool starts, two while it waits */
	{
		uint8_t in[8] = { 1 };
		uint64_t r0;

		assert_int_equal(bpftime_runtime__run(rt, fd, in, sizeof(in), &r0), 0);
		assert_int_equal(r0, 7);
	}
	spawn(&p, argv, false);
	expect_out(&p, "bpf_trace_printk: hello from bpf 1\n");
	for (uint8_t i = 2; i <= 3; i++) {
		uint8_t in[8] = { i };
		uint64_t r0;

		assert_int_equal(bpftime_runtime__run(rt, fd, in, sizeof(in), &r0), 0);
	}
	expect_out(&p, "bpf_trace_printk: hello from bpf 3\n");
	/* every line in the kernel's format, in order */
	l = p.obuf;
	for (int i = 1; i <= 3; i++) {
		char want[64];

		assert_int_equal(parse_trace_line(l, msg, sizeof(msg)), 0);
		snprintf(want, sizeof(want), "hello from bpf %d", i);
		assert_string_equal(msg, want);
		l = strchr(l, '\n') + 1;
	}
	assert_string_equal(l, "");
	assert_string_equal(mount_table(), before);
	assert_null(strstr(p.ebuf, "mount"));
	kill(p.pid, SIGINT);
	status = finish(&p);
	assert_int_equal(status, 0);
	assert_string_equal(mount_table(), before);
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	if (kernel_trace_line(kline, sizeof(kline)) == 0) {
		assert_int_equal(parse_trace_line(kline, msg, sizeof(msg)), 0);
		assert_string_equal(msg, "hello from bpf 42");
		print_message("kernel: %sbpftime: %.*s\n", kline, (int)strcspn(p.obuf, "\n"),
			      p.obuf);
	}
}

/* ---- device attach ------------------------------------------------------- */

static void test_devattach(void **state)
{
	char script[2048];
	const char *argv[] = { "/usr/bin/unshare", "-n", "/bin/sh", "-c", script, NULL };
	const char *names[] = { "bpf_xdp_attach", "bpf_link_create(BPF_XDP)", "bpf_tc_attach",
				"bpf_xdp_detach" };
	struct proc p;

	(void)state;
	if (geteuid() || access("/usr/bin/unshare", X_OK))
		TEST_SKIP("needs root and unshare(1) for a private network namespace");
	shm_for_test("devattach");
	/* in a network namespace of its own: had anything reached the
	 * kernel, only that namespace's lo would carry it, and ip shows it */
	snprintf(script, sizeof(script),
		 "ip link set dev lo up; %s %s load %s %s/devattach.bpf.o xdp_pass tc_pass lo; "
		 "echo status $?; ip -d link show dev lo; tc filter show dev lo ingress",
		 guard_bin, bpftime_bin, devattach_bin, objdir);
	assert_int_equal(run(&p, argv), 0);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char want[128];

		snprintf(want, sizeof(want), "%s: -95 EOPNOTSUPP\n", names[i]);
		if (!strstr(p.obuf, want))
			fail_msg("no '%s' in:\n%s\n%s", want, p.obuf, p.ebuf);
	}
	/* after devattach, what ip and tc show of lo: no program on it */
	assert_non_null(strstr(p.obuf, "status 0\n"));
	assert_null(strstr(strstr(p.obuf, "status 0\n"), "xdp"));
	assert_null(strstr(strstr(p.obuf, "status 0\n"), "filter"));
	/* what libbpf prints from the extended ack, and the server's lines */
	assert_non_null(strstr(p.ebuf, "libbpf: Kernel error message: bpftime: XDP programs cannot "
				       "be attached to a real network device in userspace"));
	assert_non_null(strstr(p.ebuf, "libbpf: Kernel error message: bpftime: tc programs cannot "
				       "be attached to a real network device in userspace"));
	assert_non_null(strstr(p.ebuf, "netlink RTM_SETLINK with IFLA_XDP refused"));
	assert_non_null(strstr(p.ebuf, "LINK_CREATE of program fd"));
	assert_non_null(strstr(p.ebuf, "as XDP on ifindex 1 refused"));
}

/* ---- jited code ---------------------------------------------------------- */

static void test_jited(void **state)
{
	char obj[4096], want[128];
	const char *hold[] = { guard_bin, bpftime_bin, "load", jited_bin, obj, "--hold", NULL };
	const char *kern[] = { jited_bin, obj, NULL };
	const char *show[] = { guard_bin, bpftime_bin, "load", bpftool_bin,
			       "-j",	  "prog",      "show", NULL };
	const char *jdump[] = { guard_bin, bpftime_bin, "load", bpftool_bin, "prog",
				"dump",	   "jited",	"name", "xdp_sum",   NULL };
	char fdstr[16];
	const char *dump[] = { tool_bin, "prog", "dump", "jited", fdstr, "opcodes", NULL };
	const char *jdump_j[] = { tool_bin, "-j", "prog", "dump", "jited", fdstr, NULL };
	struct bpftime_shm *shm;
	struct proc h, p, k;
	const char *l;
	int fd = -1;

	(void)state;
	shm_for_test("jited");
	snprintf(obj, sizeof(obj), "%s/subprog.bpf.o", objdir);
	spawn(&h, hold, true);
	expect_out(&h, "holding\n");
	/* what libbpf and bpftool check of the jited info, as on the kernel */
	assert_non_null(strstr(h.obuf, "xdp_sum: jited sums funcs 2 lines "));
	assert_non_null(strstr(h.obuf, " linfo ok\n"));
	if (geteuid() == 0 && run(&k, kern) == 0) {
		assert_string_equal(h.obuf, strcat(k.obuf, "holding\n"));
	} else {
		print_message("kernel: no comparison (%s)\n", k.ebuf);
	}
	if (bpftool_bin) {
		/* bpftool sees our JIT's code size, and (this Debian bpftool has no
		 * disassembler) says about the dump what it says on the kernel */
		assert_int_equal(run(&p, show), 0);
		assert_non_null(strstr(p.obuf, "\"name\":\"xdp_sum\""));
		assert_non_null(strstr(p.obuf, "\"jited\":true,\"bytes_jited\":"));
		run(&p, jdump);
		run(&k,
		    (const char *const[]){ bpftool_bin, "prog", "dump", "jited", "id", "1", NULL });
		if (strstr(k.ebuf, "No libbfd support") || strstr(k.ebuf, "No JIT disassembly"))
			assert_string_equal(no_log(p.ebuf), k.ebuf);
		else
			assert_non_null(strstr(p.obuf, "bpf_prog_"));
	}
	if (tool_bin) {
		shm = bpftime_shm__open(NULL);
		assert_non_null(shm);
		for (int i = bpftime_handler_next(shm, -1); i >= 0;
		     i = bpftime_handler_next(shm, i)) {
			struct bpftime_prog_info pi;

			if (!bpftime_prog_get_info(shm, i, &pi) && !strcmp(pi.name, "xdp_sum"))
				fd = i;
		}
		bpftime_shm__close(shm);
		assert_true(fd >= 0);
		snprintf(fdstr, sizeof(fdstr), "%d", fd);
		assert_int_equal(run(&p, dump), 0);
		assert_true(starts_with(p.obuf, "bpf_prog_xdp_sum:\n"));
		assert_non_null(strstr(p.obuf, "\nbpf_prog_xdp_sum_F1:\n"));
		assert_non_null(strstr(p.obuf, "\n; \t__u64 a = add_to(0, 1);\n   0:\tpush   "));
		assert_non_null(
			strstr(p.obuf, "; \t__u64 *s = bpf_map_lookup_elem(&sums, &key);\n"));
		/* every instruction line: offset, tab, mnemonic; then its bytes */
		for (l = p.obuf; *l; l = strchr(l, '\n') + 1) {
			unsigned int off, b;
			int n = 0;

			if (!strncmp(l, "bpf_prog_", 9) || *l == ';' || *l == '\n')
				continue;
			snprintf(want, sizeof(want), "%.*s", (int)strcspn(l, "\n"), l);
			if (sscanf(l, "%x:\t%n", &off, &n) != 1 || !n)
				fail_msg("not an instruction line: '%s'", want);
			l = strchr(l, '\n') + 1;
			if (*l != '\t' || sscanf(l, "\t%02x ", &b) != 1)
				fail_msg("no opcode bytes after '%s'", want);
		}
		assert_int_equal(run(&p, jdump_j), 0);
		assert_true(starts_with(p.obuf, "[{\"name\":\"bpf_prog_xdp_sum\",\"insns\":[{"));
		assert_non_null(strstr(p.obuf, "{\"name\":\"bpf_prog_xdp_sum_F1\""));
		assert_non_null(strstr(p.obuf, "\"pc\":\"0x0\",\"operation\":\"push\""));
	}
	close(h.in);
	assert_int_equal(finish(&h), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tracelog, cleanup),
		cmocka_unit_test_teardown(test_devattach, cleanup),
		cmocka_unit_test_teardown(test_jited, cleanup),
	};

	if (argc < 8) {
		fprintf(stderr, "usage: bpftool_seed_test BPFTIME GUARD BPFTOOL|none OBJDIR "
				"DEVATTACH JITED_INFO BPFTIMETOOL|none\n");
		return 2;
	}
	jited_bin = argv[6];
	tool_bin = strcmp(argv[7], "none") ? argv[7] : NULL;
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	bpftool_bin = strcmp(argv[3], "none") ? argv[3] : NULL;
	objdir = argv[4];
	devattach_bin = argv[5];
	remove_stale_segments("bpftime_bt_");
	return TEST_RUN(tests, NULL, NULL);
}
