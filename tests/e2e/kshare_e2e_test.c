/* SPDX-License-Identifier: MIT */
/* tests/e2e/kshare_e2e_test.c: kernel-shared mode end to end (issue 17).
 *
 *  - mixed: in a private network namespace with a veth pair, one loader
 *    (`bpftime load --run-with-kernel examples/kshare/kshare`) puts an XDP
 *    program into the kernel on one end and a uprobe program in userspace on
 *    the victim (`bpftime start`); frames sent on the other end and victim
 *    calls count into the same kernel array and hash, and both feed the same
 *    perf event array and ring buffer, which the loader reads with libbpf's
 *    perf buffer and ring buffer:
 *    every count equals frames sent plus calls made; a tracepoint program of
 *    the same loader (sched_process_fork, in a private tracefs) runs in the
 *    kernel and counts the loader's forks; bpftimetool shows which side runs
 *    each program and that the maps live in the kernel, bpftool under bpftime
 *    load the kernel's JIT image of the program that runs there;
 *  - tail call: examples/kshare/tailcall loads a raw program into the kernel
 *    (raw system calls), puts its fd into a prog array, and a uprobe program
 *    tail-calls it: the kernel array it increments counts every call;
 *  - kernel verifier: with BPFTIME_KERNEL_VERIFIER=1 the kernel's verifier
 *    checks what ours accepted, and its refusal (with its log) wins;
 *  - refused: under seccomp_guard (the kernel's bpf() fails) the mode fails
 *    at load with a message, from the command line and from the server
 *    (environment variable only), and the default mode still works there.
 *
 * The first two need root and a usable bpf(2) (else Skipped); the mixed one
 * also needs ip(8) and unshare(CLONE_NEWNET).
 *
 *   kshare_e2e_test BPFTIME GUARD EXAMPLES_DIR SERVER_SO BPFTIMETOOL KVERIFIER_CHECK
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/kernel.h>
#include <bpftime/shm.h>
#include "proc.h"

static const char *bpftime_bin, *guard_bin, *examples, *server_so, *tool_bin, *kv_bin;
static int kernel_err;

static int cleanup(void **state)
{
	(void)state;
	kill_live();
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	unsetenv("BPFTIME_RUN_WITH_KERNEL");
	return 0;
}

static const char *ex(const char *rel)
{
	static char paths[8][4096];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", examples, rel);
	return p;
}

/* sends "p" to the loader every 100 ms until a line of its stdout contains
 * @want (the counts settle once every event is polled) */
static void expect_report(struct proc *p, const char *want)
{
	for (int waited = 0; !strstr(p->obuf, want); waited += 100) {
		if (waited > STUCK_MS || p->out_eof) {
			fprintf(stderr, "loader stdout:\n%s\nstderr:\n%s\n", p->obuf, p->ebuf);
			fail_msg("no report '%s'", want);
		}
		assert_int_equal(write(p->in, "p\n", 2), 2);
		pump(p, 100);
	}
}

static bool need_kernel(void)
{
	if (geteuid() != 0) {
		TEST_SKIP("kernel-shared mode needs root (BPF_MAP_GET_FD_BY_ID)");
		return false;
	}
	if (kernel_err) {
		TEST_SKIP("the kernel's eBPF is not usable here: %s", strerror(-kernel_err));
		return false;
	}
	return true;
}

static int run(const char *cmdline)
{
	int st = system(cmdline);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* @n frames of the test's ethertype (0x88b5) out of @ifname */
static void send_frames(const char *ifname, int n)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = ETH_ALEN };
	unsigned char frame[64];
	int s = socket(AF_PACKET, SOCK_RAW, 0);

	assert_true(s >= 0);
	to.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(to.sll_ifindex > 0);
	memset(frame, 0xff, 6);				  /* broadcast */
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6); /* a local address */
	frame[12] = 0x88;
	frame[13] = 0xb5;
	memset(frame + 14, 'k', sizeof(frame) - 14);
	for (int i = 0; i < n; i++)
		assert_int_equal(
			sendto(s, frame, sizeof(frame), 0, (struct sockaddr *)&to, sizeof(to)),
			(ssize_t)sizeof(frame));
	close(s);
}

/* does `prog show` output @out say that the program named by @name runs in
 * the kernel?  (its entry: from its first line to the next entry's) */
static bool shown_in_kernel(const char *out, const char *name)
{
	const char *e = strstr(out, name), *next, *k;

	assert_non_null(e);
	for (next = strchr(e, '\n'); next && next[1] == '\t'; next = strchr(next + 1, '\n'))
		;
	k = strstr(e, "runs in the kernel (kernel prog id ");
	return k && (!next || k < next);
}

#ifndef BPFTIME_E2E_SANITIZED /* (the bpftool check is not made there) */
/* the length of kernel program @id's JIT image, asked of the kernel */
static unsigned int kernel_jited_len(unsigned int id)
{
	struct bpf_prog_info info;
	union bpf_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	fd = bpftime_kernel_bpf(BPF_PROG_GET_FD_BY_ID, &a, sizeof(a));
	assert_true(fd >= 0);
	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uint64_t)(uintptr_t)&info;
	assert_int_equal(bpftime_kernel_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), 0);
	close((int)fd);
	assert_int_not_equal(info.jited_prog_len, 0);
	return info.jited_prog_len;
}
#endif

/* ---- tests ------------------------------------------------------------ */

static void test_mixed_xdp_uprobe(void **state)
{
	const char *largv[] = { bpftime_bin, "load", "--run-with-kernel", ex("kshare/kshare"),
				"--fork-tp", "ksB",  ex("victim/victim"), NULL };
	const char *vargv[] = { bpftime_bin, "start", ex("victim/victim"), "20", "1", NULL };
	const char *pargv[] = { tool_bin, "prog", "show", NULL };
	const char *margv[] = { tool_bin, "map", "show", NULL };
	struct proc loader, victim, tool;
	static char prog_show[sizeof(((struct proc *)0)->obuf)];
	bool tp;

	(void)state;
	if (!need_kernel())
		return;
	if (run("ip -V >/dev/null 2>&1")) {
		TEST_SKIP("no ip(8) for the veth pair");
		return;
	}
	/* this process's own network: the veth pair is seen by nobody else
	 * and goes with the test process */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS)) {
		TEST_SKIP("unshare(CLONE_NEWNET | CLONE_NEWNS): %s", strerror(errno));
		return;
	}
	/* and a tracefs of its own, for the kernel tracepoint (without one,
	 * no tracepoint program: forks stay 0) */
	assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	tp = !mount("none", "/sys/kernel/tracing", "tracefs", 0, NULL);
	if (!tp)
		memmove(&largv[4], &largv[5], 3 * sizeof(largv[0]));
	assert_int_equal(run("ip link add ksA type veth peer name ksB && ip link set ksA up && "
			     "ip link set ksB up"),
			 0);
	proc_use_segment("bpftime_kshare_e2e", "mixed");
	spawn(&loader, largv, true);
	expect_out(&loader, "kshare: ready");
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_non_null(strstr(victim.obuf, "victim: 20 calls"));
	send_frames("ksA", 30);
	/* the loader forks 5 children: the kernel tracepoint counts them */
	if (tp)
		assert_int_equal(write(loader.in, "f\n", 2), 2);
	/* the kernel's XDP program and the userspace uprobe program counted
	 * into the same kernel maps, and both fed the perf buffer */
	expect_report(&loader, tp ? "counts total=50 xdp=30 uprobe=20 hash=50 events_xdp=30 "
				    "events_uprobe=20 records_xdp=30 records_uprobe=20 forks=5\n"
				  : "counts total=50 xdp=30 uprobe=20 hash=50 events_xdp=30 "
				    "events_uprobe=20 records_xdp=30 records_uprobe=20 forks=0\n");
	/* which side runs what */
	spawn(&tool, pargv, false);
	assert_int_equal(proc_wait_eof(&tool), 0);
	assert_true(shown_in_kernel(tool.obuf, "name on_packet"));
	memcpy(prog_show, tool.obuf, sizeof(prog_show));
	if (tp) /* loaded into the kernel when it was attached there */
		assert_true(shown_in_kernel(tool.obuf, "name on_fork"));
	assert_false(shown_in_kernel(tool.obuf, "name on_call"));
#ifndef BPFTIME_E2E_SANITIZED
	/* bpftool under bpftime load shows the kernel's own program (its JIT
	 * image) for the one that runs there */
	if (!access("/usr/sbin/bpftool", X_OK)) {
		const char *bargv[] = { bpftime_bin, "load", "/usr/sbin/bpftool",
					"prog",	     "show", NULL };
		unsigned int kid = 0, jited = 0;
		const char *x;

		x = strstr(prog_show, "name on_packet");
		assert_non_null(x);
		assert_int_equal(sscanf(strstr(x, "(kernel prog id "), "(kernel prog id %u)", &kid),
				 1);
		spawn(&tool, bargv, false);
		assert_int_equal(proc_wait_eof(&tool), 0);
		x = strstr(tool.obuf, "name on_packet");
		assert_non_null(x);
		x = strstr(x, "  jited ");
		assert_non_null(x);
		assert_int_equal(sscanf(x, "  jited %uB", &jited), 1);
		assert_int_equal(jited, kernel_jited_len(kid));
	}
#endif
	spawn(&tool, margv, false);
	assert_int_equal(proc_wait_eof(&tool), 0);
	assert_non_null(strstr(tool.obuf, "name counts"));
	assert_non_null(strstr(tool.obuf, "in the kernel (kernel map id "));
	assert_int_equal(write(loader.in, "q\n", 2), 2);
	assert_int_equal(proc_wait_eof(&loader), 0);
	run("ip link del ksA 2>/dev/null");
}

static void test_tail_call_into_kernel(void **state)
{
	const char *largv[] = { bpftime_bin, "load", ex("kshare/tailcall"), ex("victim/victim"),
				NULL };
	const char *vargv[] = { bpftime_bin, "start", ex("victim/victim"), "25", "0", NULL };
	struct proc loader, victim;

	(void)state;
	if (!need_kernel())
		return;
	proc_use_segment("bpftime_kshare_e2e", "tail");
	spawn(&loader, largv, true);
	expect_out(&loader, "tailcall: ready");
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_non_null(strstr(victim.obuf, "victim: 25 calls"));
	/* every call tail-called the kernel program, which counted it */
	expect_report(&loader, "kernel_count=25 missed=0\n");
	assert_int_equal(write(loader.in, "q\n", 2), 2);
	assert_int_equal(proc_wait_eof(&loader), 0);
}

static void test_refused_without_kernel(void **state)
{
	const char *cli[] = {
		guard_bin, bpftime_bin,		"load", "--run-with-kernel", ex("kshare/kshare"),
		"lo",	   ex("victim/victim"), NULL
	};
	const char *env[] = { guard_bin,
			      "env",
			      NULL,
			      "BPFTIME_RUN_WITH_KERNEL=1",
			      "BPFTIME_LOG_OUTPUT=console",
			      ex("kshare/kshare"),
			      "lo",
			      ex("victim/victim"),
			      NULL };
	const char *dflt[] = {
		guard_bin, bpftime_bin, "load", ex("malloc/malloc"), "-i", "50", NULL
	};
	char preload[4200];
	struct proc p;

	(void)state;
	proc_use_segment("bpftime_kshare_e2e", "refused");
	/* the command line says why before the loader runs */
	spawn(&p, cli, false);
	assert_int_equal(proc_wait_eof(&p), 1);
	assert_non_null(strstr(p.ebuf, "kernel-shared mode (--run-with-kernel, "
				       "BPFTIME_RUN_WITH_KERNEL) needs the kernel's eBPF"));
	assert_null(strstr(p.obuf, "ready"));
#ifndef BPFTIME_E2E_SANITIZED /* (a preloaded sanitized server needs the ASan runtime first) */
	/* the server alone (the variable, no bpftime load): every bpf() fails,
	 * with one message, and the loader stops */
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", server_so);
	env[2] = preload;
	spawn(&p, env, false);
	assert_int_not_equal(proc_wait_eof(&p), 0);
	assert_non_null(strstr(p.ebuf, "BPFTIME_RUN_WITH_KERNEL is set, but the kernel's eBPF is "
				       "not usable here"));
	assert_null(strstr(p.obuf, "ready"));
#else
	(void)env;
	(void)preload;
#endif
	/* the default mode keeps working in the same place */
	spawn(&p, dflt, false);
	expect_out(&p, "ready\n");
	kill(p.pid, SIGTERM);
	assert_int_equal(proc_wait_eof(&p), 0);
}

/* BPFTIME_KERNEL_VERIFIER: a program bpftime's verifier accepts and the
 * kernel's refuses (a lookup in a bloom filter: bpftime's own semantics) is
 * refused, with the kernel's log; without the option it loads.  A GPL-only
 * helper from a non-GPL program is refused either way, by our verifier. */
static void test_kernel_verifier(void **state)
{
	const char *on[] = {
		bpftime_bin, "load", "--kernel-verifier", "--bpftime-log-output=console",
		kv_bin,	     NULL
	};
	const char *off[] = { bpftime_bin, "load", "--bpftime-log-output=console", kv_bin, NULL };
	const char *gpl;
	struct proc p;

	(void)state;
	if (!need_kernel())
		return;
	proc_use_segment("bpftime_kshare_e2e", "kverifier");
	spawn(&p, on, false);
	assert_int_equal(proc_wait_eof(&p), 0);
	assert_non_null(strstr(p.obuf, "good: OK 0\n"));
	assert_non_null(strstr(p.obuf, "nongpl: ERR 22\n"));
	gpl = strstr(p.obuf, "cannot call GPL-restricted function from non-GPL");
	assert_true(gpl && gpl > strstr(p.obuf, "nongpl log:") && gpl < strstr(p.obuf, "bloom:"));
	assert_non_null(strstr(p.obuf, "bloom: ERR 13\n"));
	assert_non_null(strstr(p.obuf, "bloom log: bpftime's verifier accepted the program; the "
				       "kernel's refused it:\n"));
	/* the kernel checks the (empty) key first */
	assert_non_null(
		strstr(p.obuf, "5: (85) call bpf_map_lookup_elem#1\ninvalid zero-sized read"));
	assert_non_null(strstr(p.ebuf, "program 'bloom': bpftime's verifier: accepted; the "
				       "kernel's verifier: refused"));
	bpftime_shm__remove(NULL);
	spawn(&p, off, false);
	assert_int_equal(proc_wait_eof(&p), 0);
	assert_non_null(strstr(p.obuf, "nongpl: ERR 22\n"));
	assert_non_null(strstr(p.obuf, "bloom: OK 0\n"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_refused_without_kernel, cleanup),
		cmocka_unit_test_teardown(test_tail_call_into_kernel, cleanup),
		cmocka_unit_test_teardown(test_kernel_verifier, cleanup),
		/* last: it moves the test process into its own network namespace */
		cmocka_unit_test_teardown(test_mixed_xdp_uprobe, cleanup),
	};

	if (argc < 7) {
		fprintf(stderr, "usage: kshare_e2e_test BPFTIME GUARD EXAMPLES_DIR SERVER_SO "
				"BPFTIMETOOL KVERIFIER_CHECK\n");
		return 2;
	}
	kv_bin = argv[6];
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	examples = argv[3];
	server_so = argv[4];
	tool_bin = argv[5];
	signal(SIGPIPE, SIG_IGN);
	remove_stale_segments("bpftime_kshare_e2e_");
	kernel_err = bpftime_kernel_probe();
	return TEST_RUN(tests, NULL, NULL);
}
