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
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <jansson.h>
#include "common/testkit.h"
#include <linux/bpf.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))

/* one kernel side at a time on the machine (see kernel_exclusive) */
#define KERNEL_LOCK "/tmp/bpftime_bpftool_seed_kernel.lock"

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

static int run(struct proc *p, const char *const *argv)
{
	spawn(p, argv, false);
	return proc_wait(p);
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
	int lock, status;

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
	/* the kernel's trace_pipe is one for the machine, and reading consumes:
	 * not while another run's kernel side reads it (kernel_exclusive) */
	lock = open(KERNEL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	status = run(&p, argv);
	if (lock >= 0)
		close(lock);
	if (status) {
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
	proc_use_segment("bpftime_bt", "tracelog");
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
	status = proc_wait(&p);
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
	proc_use_segment("bpftime_bt", "devattach");
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
	proc_use_segment("bpftime_bt", "jited");
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
	assert_int_equal(proc_wait(&h), 0);
}

/* ---- seed 004: the bpftool workflow, ours next to the kernel's ------------ */

enum seed_step {
	S_LOAD,
	S_SHOW,
	S_XLATED,
	S_JITED,
	S_NETATTACH,
	S_MAPS1,
	S_COUNTER0,
	S_GEN,
	S_LOADALL,
	S_LS,
	S_MAPS2,
	S_RUN1,
	S_CALLTABLE,
	S_UPDATE1,
	S_RUN2,
	S_COUNTER,
	S_UPDATE2,
	S_RUN3,
	S_STREAK,
	S_PROGS,
	S_VISUAL,
	S_FEATURE,
	S_RM,
	S_PROGS2,
	S_BTFSHOW,
	S_BTFDUMP,
	S_TRACELOG, /* not a command: the tracelog that ran beside the runs */
	S_COUNT
};

struct seed_step_def {
	const char *what;
	const char *argv[20]; /* bpftool's arguments, or a command if argv[0] starts with '/' */
};

#define RUN_ARGS                                                                                   \
	"prog", "run", "pinned", "/sys/fs/bpf/app/xdp_entrypoint", "data_in", "@DATA", "data_out", \
		"-", "repeat"

static const struct seed_step_def seed[S_COUNT] = {
	[S_LOAD] = { "prog load counter_nobtf",
		     { "prog", "load", "@OBJ/counter_nobtf.bpf.o", "/sys/fs/bpf/counter_nobtf",
		       "type", "xdp" } },
	[S_SHOW] = { "prog show --bpffs", { "prog", "show", "--bpffs" } },
	[S_XLATED] = { "prog dump xlated pinned",
		       { "prog", "dump", "xlated", "pinned", "/sys/fs/bpf/counter_nobtf" } },
	[S_JITED] = { "prog dump jited pinned",
		      { "prog", "dump", "jited", "pinned", "/sys/fs/bpf/counter_nobtf" } },
	[S_NETATTACH] = { "net attach xdp (refused)",
			  { "net", "attach", "xdp", "pinned", "/sys/fs/bpf/counter_nobtf", "dev",
			    "lo" } },
	[S_MAPS1] = { "-j map show", { "-j", "map", "show" } },
	[S_COUNTER0] = { "-j map dump name counter_map",
			 { "-j", "map", "dump", "name", "counter_map" } },
	[S_GEN] = { "gen object app.o",
		    { "gen", "object", "@APP", "@OBJ/counter.bpf.o", "@OBJ/entrypoint.bpf.o",
		      "@OBJ/streak.bpf.o" } },
	[S_LOADALL] = { "prog loadall ... pinmaps",
			{ "prog", "loadall", "@APP", "/sys/fs/bpf/app", "type", "xdp", "map",
			  "name", "counter_map", "name", "counter_map", "pinmaps",
			  "/sys/fs/bpf/app" } },
	[S_LS] = { "ls -l /sys/fs/bpf/app", { "/bin/ls", "-l", "/sys/fs/bpf/app" } },
	[S_MAPS2] = { "-j map show (after loadall)", { "-j", "map", "show" } },
	[S_RUN1] = { "prog run repeat 3 (empty table)", { RUN_ARGS, "3" } },
	[S_CALLTABLE] = { "map dump name call_table", { "map", "dump", "name", "call_table" } },
	[S_UPDATE1] = { "map update call_table counter",
			{ "map", "update", "name", "call_table", "key", "0", "0", "0", "0", "value",
			  "pinned", "/sys/fs/bpf/app/xdp_counter" } },
	[S_RUN2] = { "prog run repeat 3 (counter)", { RUN_ARGS, "3" } },
	[S_COUNTER] = { "-j map dump name counter_map",
			{ "-j", "map", "dump", "name", "counter_map" } },
	[S_UPDATE2] = { "map update call_table streak",
			{ "map", "update", "name", "call_table", "key", "0", "0", "0", "0", "value",
			  "pinned", "/sys/fs/bpf/app/xdp_streak" } },
	[S_RUN3] = { "prog run repeat 5 (streak)", { RUN_ARGS, "5" } },
	[S_STREAK] = { "-j map dump name streak_map",
		       { "-j", "map", "dump", "name", "streak_map" } },
	[S_PROGS] = { "-j prog show (stats)", { "-j", "prog", "show" } },
	[S_VISUAL] = { "prog dump xlated visual",
		       { "prog", "dump", "xlated", "name", "xdp_streak", "visual" } },
	[S_FEATURE] = { "feature probe", { "feature", "probe" } },
	[S_RM] = { "rm /sys/fs/bpf/counter_nobtf", { "/bin/rm", "/sys/fs/bpf/counter_nobtf" } },
	[S_PROGS2] = { "-j prog show (after rm)", { "-j", "prog", "show" } },
	[S_BTFSHOW] = { "-j btf show", { "-j", "btf", "show" } },
	[S_BTFDUMP] = { "btf dump id (streak_map's)", { "btf", "dump", "id", "@BTF_ID" } },
	[S_TRACELOG] = { "prog tracelog (beside the runs)", { NULL } },
};

/* steps the kernel does not run: its would touch the host (a real device) */
static bool ours_only(int st)
{
	return st == S_NETATTACH;
}

/* what one side did */
struct seed_side {
	const char *name; /* "bpftime", "kernel" */
	bool kernel;
	bool ran[S_COUNT];
	int status[S_COUNT];
	char *out[S_COUNT], *err[S_COUNT];
	char app[128];
	char tracelog[1 << 14];
};

static struct seed_side ours_side = { .name = "bpftime" },
			kern_side = { .name = "kernel", .kernel = true };
static char seed_data[128], seed_log[128];
static int stats_was = -1;

static json_t *side_json(const struct seed_side *sd, enum seed_step st)
{
	return sd->ran[st] && sd->out[st] ? json_loads(sd->out[st], 0, NULL) : NULL;
}

/* the object named @name in a -j listing (borrowed from @arr), the @nth such */
static json_t *find_named_json(json_t *arr, const char *name, int nth)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
	{
		json_t *n = json_object_get(o, "name");

		if (json_is_string(n) && !strcmp(json_string_value(n), name) && nth-- == 0)
			return o;
	}
	return NULL;
}

/* the name of map @id in that side's map listing (after loadall, or the
 * first), or "?" */
static const char *map_name(const struct seed_side *sd, json_int_t id)
{
	static char buf[4][64];
	static int next;
	char *b = buf[next++ % 4];

	snprintf(b, 64, "?");
	for (int st = S_MAPS2;; st = S_MAPS1) {
		json_t *arr = side_json(sd, (enum seed_step)st), *o;
		size_t i;

		json_array_foreach(arr, i, o)
		{
			if (json_integer_value(json_object_get(o, "id")) == id)
				snprintf(b, 64, "%s",
					 json_string_value(json_object_get(o, "name")) ?: "?");
		}
		json_decref(arr);
		if (st == S_MAPS1 || strcmp(b, "?"))
			break;
	}
	return b;
}

static const char *resolve_arg(struct seed_side *sd, const char *a)
{
	static char buf[8][4096];
	static int next;
	char *b = buf[next++ % 8];

	if (!strncmp(a, "@OBJ/", 5)) {
		snprintf(b, 4096, "%s/%s", objdir, a + 5);
		return b;
	}
	if (!strcmp(a, "@APP"))
		return sd->app;
	if (!strcmp(a, "@DATA"))
		return seed_data;
	if (!strcmp(a, "@BTF_ID")) {
		json_t *arr = side_json(sd, S_MAPS2);
		json_t *m = arr ? find_named_json(arr, "streak_map", 0) : NULL;

		snprintf(b, 4096, "%lld",
			 m ? (long long)json_integer_value(json_object_get(m, "btf_id")) : 0);
		json_decref(arr);
		return b;
	}
	return a;
}

static void seed_run_step(struct seed_side *sd, enum seed_step st)
{
	const char *argv[32];
	int n = 0;
	struct proc *p = malloc(sizeof(*p));

	assert_non_null(p);
	if (!sd->kernel) {
		argv[n++] = guard_bin;
		argv[n++] = "-m";
		argv[n++] = bpftime_bin;
		argv[n++] = "load";
	}
	if (seed[st].argv[0][0] != '/')
		argv[n++] = bpftool_bin;
	for (int i = 0; seed[st].argv[i]; i++)
		argv[n++] = resolve_arg(sd, seed[st].argv[i]);
	argv[n] = NULL;
	sd->status[st] = run(p, argv);
	sd->out[st] = strdup(p->obuf);
	sd->err[st] = strdup(no_log(p->ebuf));
	sd->ran[st] = true;
	free(p);
}

/* The kernel frees a program after an RCU grace period: after the rm of
 * its last pin, the first xdp_counter (the lowest id) stays listed for a
 * moment.  Wait until it is gone (ours is gone at once), bounded by
 * STUCK_MS (a safety net, never a measurement). */
static void kernel_settle(struct seed_side *sd)
{
	json_t *arr = side_json(sd, S_PROGS), *o;
	json_int_t id = 0;
	char ids[32];
	const char *argv[] = { bpftool_bin, "prog", "show", "id", ids, NULL };
	size_t i;

	json_array_foreach(arr, i, o)
	{
		const char *n = json_string_value(json_object_get(o, "name"));
		json_int_t v = json_integer_value(json_object_get(o, "id"));

		if (n && !strcmp(n, "xdp_counter") && (!id || v < id))
			id = v;
	}
	json_decref(arr);
	snprintf(ids, sizeof(ids), "%lld", (long long)id);
	for (int t = 0; id && t < STUCK_MS / 100; t++) {
		struct proc *p = malloc(sizeof(*p));
		int status;

		assert_non_null(p);
		status = run(p, argv);
		free(p);
		if (status)
			break;
		usleep(100 * 1000);
	}
}

/* the whole sequence on one side; the tracelog runs beside the test runs */
static void seed_run_side(struct seed_side *sd)
{
	const char *tl_ours[] = { guard_bin,   "-m",   bpftime_bin, "load",
				  bpftool_bin, "prog", "tracelog",  NULL };
	const char *tl_kern[] = { bpftool_bin, "prog", "tracelog", NULL };
	struct proc *tl = malloc(sizeof(*tl));
	const char *before = NULL;
	char *mounts;

	assert_non_null(tl);
	snprintf(sd->app, sizeof(sd->app), "/tmp/bpftime_bt_%d_%s_app.o", getpid(), sd->name);
	for (int st = 0; st < S_TRACELOG; st++) {
		if (st == S_RUN1)
			spawn(tl, sd->kernel ? tl_kern : tl_ours, false);
		if (ours_only(st) && sd->kernel)
			continue;
		if (!sd->kernel)
			before = mount_table();
		if (sd->kernel && st == S_PROGS2)
			kernel_settle(sd);
		seed_run_step(sd, (enum seed_step)st);
		if (before && strcmp(before, (mounts = mount_table())))
			fail_msg("step '%s' under bpftime changed the mount table:\n%s",
				 seed[st].what, mounts);
		if (st == S_RUN3) {
			/* the runs' lines reach the pipe: 3 x 2 (nothing to tail-call:
			 * two lines each), 3, 5
			 * (a safety bound only, never a measurement) */
			bool ran =
				!sd->status[S_RUN1] && !sd->status[S_RUN2] && !sd->status[S_RUN3];

			for (int i = 0; i < (ran ? STUCK_MS : 1000) / 100; i++) {
				int n = 0;

				for (const char *l = tl->obuf; (l = strstr(l, "entrypoint: ")); l++)
					n++;
				if (n >= 14)
					break;
				pump(tl, 100);
			}
			kill(tl->pid, SIGINT);
			proc_wait(tl);
			sd->ran[S_TRACELOG] = true;
			snprintf(sd->tracelog, sizeof(sd->tracelog), "%.*s",
				 (int)MIN(strlen(tl->obuf), sizeof(sd->tracelog) - 1), tl->obuf);
		}
	}
	unlink(sd->app);
	free(tl);
}

/* ---- comparisons: NULL when the step matches, else why not ---------------- */

static char why[4096];

static const char *differ(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *differ(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return why;
}

static const char *first_line(const char *s)
{
	static char buf[2][256];
	static int next;
	char *b = buf[next++ % 2];

	snprintf(b, 256, "%.*s", (int)strcspn(s, "\n"), s);
	return b;
}

static const char *cmp_status(enum seed_step st)
{
	if (ours_side.status[st] != kern_side.status[st])
		return differ("exit status %d vs %d (bpftime: '%s')", ours_side.status[st],
			      kern_side.status[st], first_line(ours_side.err[st]));
	return NULL;
}

static const char *cmp_stdout(enum seed_step st)
{
	if (cmp_status(st))
		return why;
	if (strcmp(ours_side.out[st], kern_side.out[st]))
		return differ("output '%s' vs '%s'", first_line(ours_side.out[st]),
			      first_line(kern_side.out[st]));
	return NULL;
}

static const char *cmp_json(enum seed_step st)
{
	json_t *a = side_json(&ours_side, st), *b = side_json(&kern_side, st);
	bool same = a && b && json_equal(a, b);

	json_decref(a);
	json_decref(b);
	if (cmp_status(st))
		return why;
	if (!same)
		return differ("'%s' vs '%s'", first_line(ours_side.out[st]),
			      first_line(kern_side.out[st]));
	return NULL;
}

static const char *cmp_show(void)
{
	const char *want[] = { "xdp  name xdp_counter", "pinned /sys/fs/bpf/counter_nobtf" };

	if (cmp_status(S_SHOW))
		return why;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		bool o = strstr(ours_side.out[S_SHOW], want[i]),
		     k = strstr(kern_side.out[S_SHOW], want[i]);

		if (o != k)
			return differ("'%s' %s in ours, %s in the kernel's", want[i],
				      o ? "is" : "is not", k ? "is" : "is not");
	}
	return NULL;
}

/* the maps an xlated dump names, by name ("map[id:N]" -> that map's name) */
static void xlated_maps(const struct seed_side *sd, enum seed_step st, char *out, size_t size)
{
	size_t len = 0;

	out[0] = 0;
	for (const char *l = sd->out[st]; (l = strstr(l, "map[id:")); l++) {
		const char *name = map_name(sd, strtoll(l + 7, NULL, 10));

		if (!strstr(out, name))
			len += (size_t)snprintf(out + len, size - len, "%s ", name);
	}
}

static const char *cmp_xlated(void)
{
	char a[256], b[256];

	if (cmp_status(S_XLATED))
		return why;
	xlated_maps(&ours_side, S_XLATED, a, sizeof(a));
	xlated_maps(&kern_side, S_XLATED, b, sizeof(b));
	if (strcmp(a, b) || !a[0])
		return differ("maps named: '%s' vs '%s'", a, b);
	return NULL;
}

static const char *cmp_jited(void)
{
	if (cmp_status(S_JITED))
		return why;
	if (strcmp(ours_side.err[S_JITED], kern_side.err[S_JITED]))
		return differ("'%s' vs '%s'", first_line(ours_side.err[S_JITED]),
			      first_line(kern_side.err[S_JITED]));
	return NULL;
}

static const char *cmp_netattach(void)
{
	const char *e = ours_side.err[S_NETATTACH];

	if (!ours_side.status[S_NETATTACH] || !strstr(e, "Operation not supported") ||
	    !strstr(e, "Kernel error message: bpftime: XDP programs cannot be attached"))
		return differ("bpftime should refuse with EOPNOTSUPP and say why: status %d, '%s'",
			      ours_side.status[S_NETATTACH], first_line(e));
	return NULL;
}

/* the fields of the maps named in @names that must match; ids may differ,
 * btf_id only in whether there is one */
static const char *cmp_maps(enum seed_step st, const char *const *names)
{
	static const char *const fields[] = { "type",	     "flags",  "bytes_key", "bytes_value",
					      "max_entries", "frozen", "name" };
	json_t *a = side_json(&ours_side, st), *b = side_json(&kern_side, st);
	const char *ret = NULL;

	if (cmp_status(st))
		ret = why;
	for (; !ret && *names; names++) {
		json_t *x = a ? find_named_json(a, *names, 0) : NULL,
		       *y = b ? find_named_json(b, *names, 0) : NULL;

		if (!x || !y) {
			ret = differ("map %s: %s", *names,
				     x ? "not in the kernel's" : "not in ours");
			break;
		}
		for (size_t i = 0; i < ARRAY_SIZE(fields) && !ret; i++)
			if (!json_equal(json_object_get(x, fields[i]) ?: json_null(),
					json_object_get(y, fields[i]) ?: json_null()))
				ret = differ("map %s: %s differs", *names, fields[i]);
		/* not for the prog array: bpftool 7.1's full listing on the
		 * kernel prints the btf_id of the map listed before it (its
		 * `map show name call_table` shows none, as ours) */
		if (!ret && strcmp(*names, "call_table") &&
		    !json_integer_value(json_object_get(x, "btf_id")) !=
			    !json_integer_value(json_object_get(y, "btf_id")))
			ret = differ("map %s: btf_id %lld vs %lld", *names,
				     (long long)json_integer_value(json_object_get(x, "btf_id")),
				     (long long)json_integer_value(json_object_get(y, "btf_id")));
		/* one counter_map: loadall reused it */
		if (!ret && (find_named_json(a, *names, 1) != NULL) !=
				    (find_named_json(b, *names, 1) != NULL))
			ret = differ("map %s: a second one in %s", *names,
				     find_named_json(a, *names, 1) ? "ours" : "the kernel's");
	}
	json_decref(a);
	json_decref(b);
	return ret;
}

static const char *cmp_maps1(void)
{
	static const char *const names[] = { "counter_map", NULL };

	return cmp_maps(S_MAPS1, names);
}

static const char *cmp_maps2(void)
{
	static const char *const names[] = { "counter_map", "call_table", "streak_map", NULL };

	return cmp_maps(S_MAPS2, names);
}

static const char *cmp_gen(void)
{
	if (cmp_status(S_GEN))
		return why;
	/* both objects are gone by now; gen object is deterministic: what
	 * loadall did with them is compared next */
	return NULL;
}

/* the names ls lists (its last column), sorted as ls sorts them */
static void ls_names(const char *out, char *names, size_t size)
{
	size_t len = 0;

	names[0] = 0;
	for (const char *l = out; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
		const char *end = l + strcspn(l, "\n"), *sp = end;

		if (!strncmp(l, "total ", 6))
			continue;
		while (sp > l && sp[-1] != ' ')
			sp--;
		len += (size_t)snprintf(names + len, size - len, "%.*s ", (int)(end - sp), sp);
	}
}

static const char *cmp_ls(void)
{
	char a[512], b[512];

	if (cmp_status(S_LS))
		return why;
	ls_names(ours_side.out[S_LS], a, sizeof(a));
	ls_names(kern_side.out[S_LS], b, sizeof(b));
	if (strcmp(a, b))
		return differ("'%s' vs '%s'", a, b);
	return NULL;
}

/* a run's output without the duration */
static void run_result(const char *out, char *res, size_t size)
{
	const char *d = strstr(out, ", duration");

	snprintf(res, size, "%.*s", d ? (int)(d - out) : (int)strlen(out), out);
}

static const char *cmp_run(enum seed_step st)
{
	char a[2048], b[2048];

	if (cmp_status(st))
		return why;
	run_result(ours_side.out[st], a, sizeof(a));
	run_result(kern_side.out[st], b, sizeof(b));
	if (strcmp(a, b))
		return differ("'%s' vs '%s'", a, b);
	return NULL;
}

/* our programs in a -j prog show: type, tag, gpl, run_cnt, the maps (by name) */
static const char *cmp_progs(enum seed_step st)
{
	static const char *const names[] = { "xdp_entrypoint", "xdp_counter", "xdp_streak" };
	json_t *a = side_json(&ours_side, st), *b = side_json(&kern_side, st);
	const char *ret = NULL;

	if (cmp_status(st))
		ret = why;
	for (size_t i = 0; !ret && i < ARRAY_SIZE(names); i++) {
		for (int nth = 0; !ret; nth++) {
			json_t *x = a ? find_named_json(a, names[i], nth) : NULL,
			       *y = b ? find_named_json(b, names[i], nth) : NULL;
			static const char *const f[] = { "type", "tag", "gpl_compatible", "run_cnt",
							 "jited" };
			char mx[128] = "", my[128] = "";
			size_t k;
			json_t *v;

			if (!x && !y)
				break;
			if (!x || !y) {
				ret = differ("%s #%d only in %s", names[i], nth,
					     x ? "ours" : "the kernel's");
				break;
			}
			for (size_t j = 0; j < ARRAY_SIZE(f) && !ret; j++) {
				json_t *fx = json_object_get(x, f[j]),
				       *fy = json_object_get(y, f[j]);
				char *dx, *dy;

				if (json_equal(fx ?: json_null(), fy ?: json_null()))
					continue;
				dx = json_dumps(fx ?: json_null(), JSON_ENCODE_ANY);
				dy = json_dumps(fy ?: json_null(), JSON_ENCODE_ANY);
				ret = differ("%s: %s %s vs %s", names[i], f[j], dx, dy);
				free(dx);
				free(dy);
			}
			json_array_foreach(json_object_get(x, "map_ids"), k, v) strcat(
				strcat(mx, map_name(&ours_side, json_integer_value(v))), " ");
			json_array_foreach(json_object_get(y, "map_ids"), k, v) strcat(
				strcat(my, map_name(&kern_side, json_integer_value(v))), " ");
			if (!ret && strcmp(mx, my))
				ret = differ("%s: maps '%s' vs '%s'", names[i], mx, my);
		}
	}
	json_decref(a);
	json_decref(b);
	return ret;
}

static const char *cmp_visual(void)
{
	if (cmp_status(S_VISUAL))
		return why;
	if (!strstr(ours_side.out[S_VISUAL], "digraph") ||
	    !strstr(kern_side.out[S_VISUAL], "digraph"))
		return differ("no dot graph (%s)", first_line(ours_side.out[S_VISUAL]));
	return NULL;
}

/* what the seed's programs need, as feature probe says it */
static const char *cmp_feature(void)
{
	static const char *const lines[] = {
		"eBPF program_type xdp is available", "eBPF map_type array is available",
		"eBPF map_type hash is available",    "eBPF map_type prog_array is available",
		"\n\t- bpf_map_lookup_elem\n",	      "\n\t- bpf_tail_call\n",
		"\n\t- bpf_trace_printk\n",	      "\n\t- bpf_map_update_elem\n",
	};
	const char *xo = strstr(ours_side.out[S_FEATURE], "for program type xdp:"),
		   *xk = strstr(kern_side.out[S_FEATURE], "for program type xdp:");

	if (cmp_status(S_FEATURE))
		return why;
	if (!xo || !xk)
		return differ("no helper list for xdp in %s", xo ? "the kernel's" : "ours");
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		/* helpers: in the xdp section (up to the next section) */
		bool helper = lines[i][0] == '\n';
		const char *o = helper ? xo : ours_side.out[S_FEATURE],
			   *k = helper ? xk : kern_side.out[S_FEATURE];
		const char *fo = strstr(o, lines[i]), *fk = strstr(k, lines[i]);
		const char *eo = helper ? strstr(xo, "\n\n") : NULL,
			   *ek = helper ? strstr(xk, "\n\n") : NULL;
		bool ino = fo && (!eo || fo < eo), ink = fk && (!ek || fk < ek);

		if (ino != ink)
			return differ("'%s' %s", first_line(lines[i] + helper),
				      ino ? "only in ours" : "only in the kernel's");
	}
	return NULL;
}

static const char *cmp_rm(void)
{
	return cmp_status(S_RM);
}

static const char *cmp_btfshow(void)
{
	json_t *a = side_json(&ours_side, S_BTFSHOW), *b = side_json(&kern_side, S_BTFSHOW);
	const struct seed_side *sides[2] = { &ours_side, &kern_side };
	json_t *arrs[2] = { a, b };
	int found[2] = { 0, 0 };

	for (int s2 = 0; s2 < 2; s2++) {
		size_t i, k;
		json_t *o, *v;

		json_array_foreach(arrs[s2], i, o) json_array_foreach(
			json_object_get(o, "map_ids"), k,
			v) if (!strcmp(map_name(sides[s2], json_integer_value(v)), "streak_map"))
			found[s2] = 1;
	}
	json_decref(a);
	json_decref(b);
	if (cmp_status(S_BTFSHOW))
		return why;
	if (found[0] != found[1])
		return differ("a BTF object holding streak_map %s",
			      found[0] ? "only in ours" : "only in the kernel's");
	return NULL;
}

static const char *cmp_tracelog(void)
{
	char a[2048] = "", b[2048] = "", msg[256];
	const struct seed_side *sides[2] = { &ours_side, &kern_side };
	char *outs[2] = { a, b };

	for (int s2 = 0; s2 < 2; s2++) {
		size_t len = 0;

		for (const char *l = sides[s2]->tracelog; *l;
		     l += strcspn(l, "\n") + (l[strcspn(l, "\n")] ? 1 : 0)) {
			char line[512];

			snprintf(line, sizeof(line), "%.*s", (int)strcspn(l, "\n"), l);
			if (!strstr(line, "entrypoint: "))
				continue;
			if (parse_trace_line(line, msg, sizeof(msg)))
				return differ("%s: not a trace_pipe line: '%s'", sides[s2]->name,
					      line);
			len += (size_t)snprintf(outs[s2] + len, 2048 - len, "%s|", msg);
		}
	}
	if (strcmp(a, b))
		return differ("'%s' vs '%s'", a, b);
	return NULL;
}

static const char *seed_compare(enum seed_step st)
{
	switch (st) {
	case S_LOAD:
	case S_LOADALL:
	case S_UPDATE1:
	case S_UPDATE2:
		return cmp_status(st);
	case S_SHOW:
		return cmp_show();
	case S_XLATED:
		return cmp_xlated();
	case S_JITED:
		return cmp_jited();
	case S_NETATTACH:
		return cmp_netattach();
	case S_MAPS1:
		return cmp_maps1();
	case S_MAPS2:
		return cmp_maps2();
	case S_COUNTER0:
	case S_COUNTER:
	case S_STREAK:
		return cmp_json(st);
	case S_GEN:
		return cmp_gen();
	case S_LS:
		return cmp_ls();
	case S_RUN1:
	case S_RUN2:
	case S_RUN3:
		return cmp_run(st);
	case S_CALLTABLE:
	case S_BTFDUMP:
		return cmp_stdout(st);
	case S_PROGS:
	case S_PROGS2:
		return cmp_progs(st);
	case S_VISUAL:
		return cmp_visual();
	case S_FEATURE:
		return cmp_feature();
	case S_RM:
		return cmp_rm();
	case S_BTFSHOW:
		return cmp_btfshow();
	case S_TRACELOG:
		return cmp_tracelog();
	case S_COUNT:
		break;
	}
	return NULL;
}

static void stats_restore(void)
{
	FILE *f;

	if (stats_was < 0)
		return;
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "w");
	if (f) {
		fprintf(f, "%d\n", stats_was);
		fclose(f);
	}
	stats_was = -1;
}

static int seed_cleanup(void **state)
{
	stats_restore();
	unlink(seed_data);
	unlink(seed_log);
	setenv("BPFTIME_LOG_OUTPUT", "console", 1);
	return cleanup(state);
}

/* a private mount namespace for the kernel's side: its own bpffs and
 * tracefs, gone with this process */
/* Kernel object names and ids are machine-wide, and the seed selects maps
 * and programs by name: one kernel side at a time on this machine (an
 * exclusive lock across every worktree's runs, held until this process
 * exits), and none of another run's objects left (their frees are RCU
 * deferred): wait until no map of these names is listed, bounded by
 * STUCK_MS (a safety net, never a measurement). */
static void kernel_exclusive(void)
{
	const char *argv[] = { bpftool_bin, "-j", "map", "show", NULL };
	int fd = open(KERNEL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd >= 0)
		flock(fd, LOCK_EX); /* released when the test exits */
	for (int t = 0; t < STUCK_MS / 100; t++) {
		struct proc *p = malloc(sizeof(*p));
		bool left;

		assert_non_null(p);
		run(p, argv);
		left = strstr(p->obuf, "\"name\":\"counter_map\"") ||
		       strstr(p->obuf, "\"name\":\"call_table\"") ||
		       strstr(p->obuf, "\"name\":\"streak_map\"");
		free(p);
		if (!left)
			return;
		usleep(100 * 1000);
	}
	print_message("maps of another run's kernel side are still listed: the comparison may "
		      "see them\n");
}

static bool kernel_namespace(void)
{
	if (geteuid() || unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return false;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return false;
	mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	return true;
}

static void test_seed(void **state)
{
	int differ_cnt = 0, same_cnt = 0;
	FILE *f;

	(void)state;
	if (!bpftool_bin)
		TEST_SKIP("no bpftool on this machine");
	if (geteuid())
		TEST_SKIP("the kernel's side needs root (a private mount namespace, bpffs)");
	proc_use_segment("bpftime_bt", "seed");
	setenv("BPFTIME_KEEP_SHM", "1", 1); /* pins outlive each step's bpftool */
	/* the server's lines to a file: feature probe makes thousands */
	snprintf(seed_log, sizeof(seed_log), "/tmp/bpftime_bt_%d_seed.log", getpid());
	setenv("BPFTIME_LOG_OUTPUT", seed_log, 1);
	/* the seed's data: 16 zero bytes and an echo request */
	snprintf(seed_data, sizeof(seed_data), "/tmp/bpftime_bt_%d_data", getpid());
	f = fopen(seed_data, "w");
	assert_non_null(f);
	fwrite("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0> Hello eCHO! <3", 1, 32, f);
	fclose(f);
	/* run statistics, as the seed's sysctl (restored afterwards) */
	f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r+");
	if (f) {
		if (fscanf(f, "%d", &stats_was) != 1)
			stats_was = -1;
		rewind(f);
		fputs("1\n", f);
		fclose(f);
	}
	seed_run_side(&ours_side);
	if (!kernel_namespace())
		TEST_SKIP(
			"no private mount namespace with a bpffs here: no kernel to compare with");
	kernel_exclusive();
	seed_run_side(&kern_side);
	stats_restore();
	print_message("\n%-34s %-7s %-7s %s\n", "seed 004 step", "bpftime", "kernel", "result");
	for (int st = 0; st < S_COUNT; st++) {
		const char *d = seed_compare((enum seed_step)st);
		char ks[16];

		snprintf(ks, sizeof(ks), "%d", kern_side.status[st]);
		print_message("%-34s %-7d %-7s %s%s\n", seed[st].what, ours_side.status[st],
			      ours_only(st)	 ? "-"
			      : st == S_TRACELOG ? ""
						 : ks,
			      d ? "DIFFERS: " : "same", d ? d : "");
		if (d)
			differ_cnt++;
		else
			same_cnt++;
	}
	print_message("%d steps match the kernel's, %d differ\n", same_cnt, differ_cnt);
	if (differ_cnt)
		fail_msg("%d of %d seed steps differ from the kernel's (table above)", differ_cnt,
			 S_COUNT);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_tracelog, cleanup),
		cmocka_unit_test_teardown(test_devattach, cleanup),
		cmocka_unit_test_teardown(test_jited, cleanup),
		/* last: it moves this process into a mount namespace of its own */
		cmocka_unit_test_teardown(test_seed, seed_cleanup),
	};

	if (argc < 8) {
		fprintf(stderr, "usage: bpftool_seed_test BPFTIME GUARD BPFTOOL|none OBJDIR "
				"DEVATTACH JITED_INFO BPFTIMETOOL|none\n");
		return 2;
	}
	jited_bin = argv[6];
	tool_bin = strcmp(argv[7], "none") ? argv[7] : NULL;
	setenv("BPFTIME_LOG_OUTPUT", "console", 1); /* the server's lines on stderr */
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	bpftool_bin = strcmp(argv[3], "none") ? argv[3] : NULL;
	objdir = argv[4];
	devattach_bin = argv[5];
	remove_stale_segments("bpftime_bt_");
	return TEST_RUN(tests, NULL, NULL);
}
