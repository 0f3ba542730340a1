/* SPDX-License-Identifier: MIT */
/* bench/systp_bench.c: what a syscall tracepoint costs, in ns per getppid():
 * empty eBPF programs attached the way a user gets them (programs, perf
 * events and links in a segment, libbpftime-agent.so in the process, here
 * dlopen'ed as `bpftime attach` does), with 1, 2 and 4 programs (sys_enter_
 * getppid, + sys_exit_getppid, + raw_syscalls sys_enter and sys_exit), next
 * to the kernel's tracepoints with the same programs in the same run (root:
 * tracefs mounted in a private mount namespace, perf_event_open +
 * PERF_EVENT_IOC_SET_BPF as libbpf does).  Also: the agent with a segment that
 * holds no syscall tracepoint (the hook is never set up), a program on
 * another syscall only (getppid unwatched), and the hook off after the
 * last program went.
 *
 * The net.  Our rows run twice: in this process with the syscall hook's
 * safety net (Syscall User Dispatch) kept on (BPFTIME_SYSCALL_NET=on), and
 * in a second process of the same kind (forked before the agent is loaded,
 * a segment of its own) with BPFTIME_SYSCALL_NET=auto (the default), where
 * the hook turns the net off when it can prove nothing is missed.  Each
 * auto row says whether the net was off around its measurement (asked of
 * the agent, bpftime_agent_syscall_net) and, when not, why.  (--pages runs
 * with the environment's setting: auto, the default, unless set.)
 *
 * The agent applies a change asynchronously; a sentinel program on
 * sys_enter_getpgid, attached after a row's links and removed after them,
 * tells when it has.
 *
 * The machine is shared and its load drifts over seconds, so rows are
 * interleaved: each round measures every row once, and "added" is the
 * median over rounds of (row - native of the same round).  The native and
 * kernel rows run in a clean child forked before the agent is loaded (once
 * the hook has started, this process is never native again); the row with
 * no syscall tracepoint runs first, paired with the child's native rounds,
 * before any hook exists.  --best: the best round instead of the median.
 *
 * Times are the thread's cpu time (kernel time of the syscalls included),
 * --wall: the monotonic clock.
 *
 * --pages: instead of times, the pages each getppid() touches between two
 * kernel entries (page_trace.h: counted exactly by single-stepping; with
 * PTI and no PCID each one is a TLB refill), for native and our rows.
 *
 * --ab AGENT_B: two builds compared in one run (ab_main()).
 *
 * --paired: ours measured within one process, watched calls against the
 * hook's direct call in blocks that alternate every ~0.2 ms (paired_main()):
 * what the default mode's rounds cannot resolve, a few ns under a drift of
 * tens.
 *
 *   systp_bench [--calls N] [--rounds R] [--best] [--wall] [--quick]
 *               [--pages [--check]] [--paired] [--ab AGENT_B]
 *   (SYSTP_BENCH_AGENT=path: load that libbpftime-agent.so instead)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_tp.h>
#include <bpftime/vm.h>
#include "page_trace.h"

#define TRACEPOINT_PROG	  5 /* BPF_PROG_TYPE_TRACEPOINT */
#define NR_GETPPID	  110
#define NR_GETPGID	  121
#define NR_OPENAT	  257
#define NET_WAIT_FIRST_MS 1000 /* how long a row waits for the net to go off, first round */
#define NET_WAIT_MS	  300  /* later rounds, if it went off in the first */

static long n_calls = 20000;
static int n_rounds = 31;
static bool use_best;
static struct bpftime_shm *shm;
static int counter_map, sentinel_prog, empty_prog[4];
static char seg_path[96];

static void remove_segment(void)
{
	if (seg_path[0])
		unlink(seg_path);
}

static void remove_segment_on_signal(int sig)
{
	remove_segment();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* the thread's cpu time: on a shared, loaded machine the wall clock mostly
 * measures the other tenants (--wall: CLOCK_MONOTONIC) */
static clockid_t clock_id = CLOCK_THREAD_CPUTIME_ID;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* one round: ns per call */
static double one_round(void)
{
	pid_t want = getppid();
	uint64_t t0 = now_ns();
	long bad = 0;

	for (long i = 0; i < n_calls; i++)
		bad += getppid() != want;
	if (bad) {
		fprintf(stderr, "systp_bench: getppid returned a wrong value %ld times\n", bad);
		exit(1);
	}
	return (double)(now_ns() - t0) / (double)n_calls;
}

/* the first calls of a site trap until the agent's patcher has rewritten
 * it (asynchronously) */
static void warm_up(bool wait)
{
	struct timespec nap = { 0, 20000000 };

	for (int w = 0; w < (wait ? 3 : 1); w++) {
		for (long i = 0; i < 1000; i++)
			getppid();
		if (wait)
			nanosleep(&nap, NULL);
	}
}

static double pick(double *v, int n)
{
	double c[101];

	memcpy(c, v, (size_t)n * sizeof(*c));
	qsort(c, (size_t)n, sizeof(c[0]), cmp_double);
	return use_best ? c[0] : c[n / 2];
}

/* the rows, in print order */
enum {
	R_NATIVE,
	R_K1,
	R_K2,
	R_K4,
	R_K4S, /* 4 programs on sys_enter_getppid */
	R_NONE,
	R_B1,
	R_B2,
	R_B4,
	R_B4S,
	R_UNWATCHED,
	R_PAUSED,
	R_A1, /* the same as R_B1.. R_PAUSED, BPFTIME_SYSCALL_NET=auto */
	R_A2,
	R_A4,
	R_A4S,
	R_AUNWATCHED,
	R_APAUSED,
	R_N
};
#define R_AUTO(row) ((row)-R_B1 + R_A1) /* our row, net auto */
#define OUR_ROWS    6
static const int our_rows[OUR_ROWS] = { R_B1, R_B2, R_B4, R_B4S, R_UNWATCHED, R_PAUSED };
#define KERNEL_SAME4 5 /* the child's command: 4 programs on sys_enter_getppid */
static const char *const row_name[R_N] = {
	"native (no agent)",
	"kernel, 1 prog (enter)",
	"kernel, 2 progs (+ exit)",
	"kernel, 4 progs (+ raw enter, raw exit)",
	"kernel, 4 progs on sys_enter_getppid",
	"bpftime, no syscall tracepoint in the segment",
	"net on, 1 prog (enter)",
	"net on, 2 progs (+ exit)",
	"net on, 4 progs (+ raw enter, raw exit)",
	"net on, 4 progs on sys_enter_getppid",
	"net on, getppid unwatched (1 prog on openat)",
	"net on, hook off (last program gone)",
	"net auto, 1 prog (enter)",
	"net auto, 2 progs (+ exit)",
	"net auto, 4 progs (+ raw enter, raw exit)",
	"net auto, 4 progs on sys_enter_getppid",
	"net auto, getppid unwatched (1 prog on openat)",
	"net auto, hook off (last program gone)",
};
static const int row_progs[R_N] = { 0, 1, 2, 4, 4, 0, 1, 2, 4, 4, 0, 0, 1, 2, 4, 4, 0, 0 };
static double val[R_N][101], added[R_N][101];
static bool have[R_N];

/* the net around an auto row's rounds: rounds it was off in, measured
 * rounds, and the last reason it was on */
static int net_off_rounds[R_N], net_rounds[R_N];
static char net_why[R_N][160];

/* ns per program beyond the first on one tracepoint: (4 on it - 1) / 3,
 * both rows of the same round and the same process (no native in it: the
 * other process's bias cancels out) */
static void print_slope(int four, int one)
{
	double d[101];

	if (!have[four] || !have[one])
		return;
	for (int i = 0; i < n_rounds; i++)
		d[i] = (val[four][i] - val[one][i]) / 3;
	printf("    each program beyond the first: %.1f ns (rows of the same process and round)\n",
	       pick(d, n_rounds));
}

/* With the net off an unwatched getppid runs the native code (exactly:
 * --pages), so the auto process's unwatched row is a native round of the
 * same process: @r minus it, round by round, has no other process's bias
 * (the clean child's native differs from ours by up to +-40 ns here). */
static void print_vs_unwatched(int r)
{
	double d[101];

	if (!have[r] || !have[R_AUNWATCHED] || net_off_rounds[R_AUNWATCHED] != n_rounds)
		return;
	for (int i = 0; i < n_rounds; i++)
		d[i] = val[r][i] - val[R_AUNWATCHED][i];
	printf("    added vs the unwatched row (the native path, same process and round): "
	       "%.1f ns\n",
	       pick(d, n_rounds));
}

static void print_row(int r)
{
	double ns = pick(val[r], n_rounds), add = pick(added[r], n_rounds);

	if (!have[r])
		return;
	if (r == R_NATIVE)
		printf("%-46s %9.1f\n", row_name[r], ns);
	else if (!row_progs[r])
		printf("%-46s %9.1f %9.1f\n", row_name[r], ns, add);
	else
		printf("%-46s %9.1f %9.1f %9.1f\n", row_name[r], ns, add, add / row_progs[r]);
	if (r == R_K4S || r == R_B4S || r == R_A4S)
		print_slope(r, r == R_K4S ? R_K1 : r == R_B4S ? R_B1 : R_A1);
	if (r >= R_A1 && r <= R_A4S)
		print_vs_unwatched(r);
	if (r < R_B1)
		return;
	if (r < R_A1) {
		/* the net kept on: said only when it was not */
		if (net_off_rounds[r])
			printf("    net off in %d of %d rounds (BPFTIME_SYSCALL_NET=on)\n",
			       net_off_rounds[r], net_rounds[r]);
		return;
	}
	if (net_off_rounds[r] == net_rounds[r])
		printf("    net off (every round)\n");
	else if (!net_off_rounds[r])
		printf("    net on: %s\n", net_why[r]);
	else
		printf("    net off in %d of %d rounds; on: %s\n", net_off_rounds[r], net_rounds[r],
		       net_why[r]);
}

/* ---- ours: the segment ---------------------------------------------------- */

static int make_prog(const char *name, const struct bpftime_insn *insns, size_t cnt)
{
	int fd = bpftime_prog_create(shm, -1, TRACEPOINT_PROG, name, insns, cnt, NULL);

	if (fd < 0) {
		fprintf(stderr, "systp_bench: cannot store prog %s: %s\n", name, strerror(-fd));
		exit(1);
	}
	return fd;
}

/* perf event + link as the syscall server records them; fds[0..1] */
static void attach_tp(int prog, enum bpftime_systp_kind kind, int nr, int *fds)
{
	int id = kind == BPFTIME_SYSTP_RAW_ENTER  ? BPFTIME_SYSTP_ID_BASE - 2
		 : kind == BPFTIME_SYSTP_RAW_EXIT ? BPFTIME_SYSTP_ID_BASE - 1
						  : BPFTIME_SYSTP_ID_BASE + 2 * nr + (int)kind;
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_TRACEPOINT, .pid = -1,
		     .tracepoint_id = id, .cpu = -1, .config = BPFTIME_SYSTP_CONFIG(kind, nr));

	fds[1] = bpftime_perf_event_create(shm, -1, &o);
	if (fds[1] < 0 || bpftime_perf_event_enable(shm, fds[1], true)) {
		fprintf(stderr, "systp_bench: cannot create a perf event\n");
		exit(1);
	}
	fds[0] = bpftime_link_create(shm, -1, prog, fds[1], NULL);
	if (fds[0] < 0) {
		fprintf(stderr, "systp_bench: cannot create a link\n");
		exit(1);
	}
}

static void detach(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		bpftime_handler_close(shm, fds[i]);
}

static uint64_t sentinel_count(void)
{
	uint32_t key = 0;
	uint64_t v = 0;

	bpftime_map_lookup_elem(shm, counter_map, &key, &v, 0);
	return v;
}

static void wait_sentinel(bool on)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 20000; i++) {
		uint64_t before = sentinel_count();

		syscall(SYS_getpgid, 0);
		if ((sentinel_count() != before) == on)
			return;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "systp_bench: the agent never applied the change\n");
	exit(1);
}

static const enum bpftime_systp_kind kinds[4] = { BPFTIME_SYSTP_ENTER, BPFTIME_SYSTP_EXIT,
						  BPFTIME_SYSTP_RAW_ENTER, BPFTIME_SYSTP_RAW_EXIT };

/* the agent's bpftime_agent_syscall_net (NULL: an agent without it) */
static int (*agent_net)(char *why, size_t len);

/* the net now: 0 off, 1 on (why says why), -1 unknown (why says why) */
static int net_state(char *why, size_t len)
{
	int st;

	if (!agent_net) {
		snprintf(why, len, "not known (this agent has no bpftime_agent_syscall_net)");
		return -1;
	}
	st = agent_net(why, len);
	if (st < 0)
		snprintf(why, len, "the hook never started");
	return st;
}

/* the net around a round of a net auto row */
struct net_seen {
	int wait_ms; /* in: how long to wait for the net to go off first */
	int off;     /* out: 1 off before and after the round */
	char why[160];
};

/* one round with @progs programs on syscall @nr; @net: wait for the net to
 * go off (up to net->wait_ms) and say whether it was off around the round */
static double our_round(int progs, int nr, bool same, bool first, struct net_seen *net)
{
	struct timespec nap = { 0, 2000000 };
	int fds[10], s[2], before;
	double ns;

	for (int i = 0; i < progs; i++)
		attach_tp(empty_prog[i], same ? BPFTIME_SYSTP_ENTER : kinds[i], nr, fds + 2 * i);
	attach_tp(sentinel_prog, BPFTIME_SYSTP_ENTER, NR_GETPGID, s);
	wait_sentinel(true);
	warm_up(first);
	for (int waited = 0;
	     net && net_state(net->why, sizeof(net->why)) == 1 && waited < net->wait_ms;
	     waited += 2)
		nanosleep(&nap, NULL);
	before = net ? net_state(net->why, sizeof(net->why)) : -1;
	ns = one_round();
	if (net)
		net->off = !before && !net_state(net->why, sizeof(net->why));
	detach(fds, 2 * progs);
	detach(s, 2);
	wait_sentinel(false);
	return ns;
}

/* ---- --pages ------------------------------------------------------------- */

#define PAGE_CALLS 50

static void page_loop(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		getppid();
}

static bool page_failed;
static double page_total[R_N]; /* code + data per call */

/* a row's name in --pages, whose net is BPFTIME_SYSCALL_NET's (auto
 * unless set) */
static const char *page_name(int row)
{
	static char buf[64];

	if (row < R_B1 || row > R_PAUSED)
		return row_name[row];
	snprintf(buf, sizeof(buf), "bpftime, %s", row_name[row] + strlen("net on, "));
	return buf;
}

static void page_row(int row)
{
	const char *name = page_name(row);
	struct page_count pc;
	int err = page_trace(page_loop, (void *)(intptr_t)PAGE_CALLS, PAGE_CALLS, &pc);

	if (err) {
		printf("%-46s (cannot trace: %s)\n", name, strerror(-err));
		page_failed = true;
		return;
	}
	page_total[row] = pc.code + pc.data;
	printf("%-46s %9.2f %9.2f %9.1f\n", name, pc.code, pc.data, pc.insns);
}

/* --pages --check: what the hot path's layout keeps (docs/syscall-
 * tracepoints.md; exact counts, not times, so a test can hold them): no
 * page at all without a tracepoint or after the last program, 3 for an
 * unwatched call (the trampoline's, the stack's margin), 11 for one
 * program (8 now, the stack may add one), 2 per further program (1 now: its
 * JIT code).  Not for sanitizer builds (shadow memory). */
static bool check_pages;

static bool pages_within_bounds(void)
{
	const struct {
		int row;
		double max_added;
	} bound[] = {
		{ R_NONE, 0 }, { R_PAUSED, 0 }, { R_UNWATCHED, 3 }, { R_B1, 11 },
		{ R_B2, 13 },  { R_B4, 17 },	{ R_B4S, 17 },
	};
	bool ok = true;

	for (size_t i = 0; i < sizeof(bound) / sizeof(bound[0]); i++) {
		double more = page_total[bound[i].row] - page_total[R_NATIVE];

		if (more > bound[i].max_added + 0.5) {
			printf("systp_bench: %s touches %.1f pages more than native (at most "
			       "%.0f)\n",
			       page_name(bound[i].row), more, bound[i].max_added);
			ok = false;
		}
	}
	return ok;
}

/* our rows, one configuration at a time */
static void pages_ours(void)
{
	for (int row = R_B1; row <= R_UNWATCHED; row++) {
		int progs = row_progs[row] ? row_progs[row] : 1, fds[10], s[2];

		for (int i = 0; i < progs; i++)
			attach_tp(empty_prog[i], row == R_B4S ? BPFTIME_SYSTP_ENTER : kinds[i],
				  row == R_UNWATCHED ? NR_OPENAT : NR_GETPPID, fds + 2 * i);
		attach_tp(sentinel_prog, BPFTIME_SYSTP_ENTER, NR_GETPGID, s);
		wait_sentinel(true);
		warm_up(true);
		page_row(row);
		detach(fds, 2 * progs);
		detach(s, 2);
		wait_sentinel(false);
	}
	/* with the net auto, the hook's pause reaches the sites through the
	 * patcher, asynchronously */
	warm_up(true);
	page_row(R_PAUSED);
}

/* ---- the kernel's tracepoints ---------------------------------------------- */

static int tp_id(const char *event)
{
	char path[256];
	int id = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", event);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &id) != 1)
		id = -1;
	fclose(f);
	return id;
}

/* the perf event with the program attached, as libbpf opens it (pid -1,
 * cpu 0: a tracepoint's programs run on every cpu; a second event with the
 * same program on the same tracepoint is refused with EEXIST) */
static int kernel_tp(int prog_fd, int id, int *fds, int max)
{
	struct perf_event_attr attr;
	int n = 0;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (uint64_t)id;
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	for (int cpu = 0; cpu < max && cpu < 1; cpu++) {
		int fd =
			(int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

		if (fd < 0)
			break;
		if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 ||
		    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
			close(fd);
			break;
		}
		fds[n++] = fd;
	}
	return n;
}

/* ---- the clean child: native and kernel rounds ---------------------------- */

static int to_child[2], from_child[2];
static pid_t child;

struct kernel_state {
	int prog_fd[4], id[4]; /* 4 programs: one tracepoint takes a program once */
	const char *why;       /* set when the kernel rows cannot run */
};

static void kernel_setup(struct kernel_state *k)
{
	static const char *const events[4] = { "syscalls/sys_enter_getppid",
					       "syscalls/sys_exit_getppid",
					       "raw_syscalls/sys_enter", "raw_syscalls/sys_exit" };
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	static char why[128];

	k->why = NULL;
	for (int i = 0; i < 4; i++)
		k->prog_fd[i] = -1;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		snprintf(why, sizeof(why), "no tracefs: %s", strerror(errno));
		k->why = why;
		return;
	}
	for (int i = 0; i < 4; i++) {
		k->id[i] = tp_id(events[i]);
		if (k->id[i] < 0) {
			snprintf(why, sizeof(why), "no tracepoint %s", events[i]);
			k->why = why;
			return;
		}
	}
	for (int i = 0; i < 4 && !k->why; i++) {
		k->prog_fd[i] = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "systp_bench", "GPL", insns,
					      2, NULL);
		if (k->prog_fd[i] < 0) {
			snprintf(why, sizeof(why), "the kernel refused BPF_PROG_LOAD: %s",
				 strerror(errno));
			k->why = why;
		}
	}
}

/* --paired (paired_main): pairs of blocks a round, calls a block */
#define PAIRS 100
static long pair_calls = 200;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double block_ns(void)
{
	uint64_t t0 = mono_ns();

	for (long c = 0; c < pair_calls; c++)
		getppid();
	return (double)(mono_ns() - t0) / (double)pair_calls;
}

/* @n programs attached (KERNEL_SAME4: 4 on sys_enter_getppid), their
 * perf events in @fds: how many, or -1 with none left open */
static int kernel_attach(struct kernel_state *k, int n, int *fds)
{
	bool same = n == KERNEL_SAME4;
	int got = 0;

	if (same)
		n = 4;
	for (; got < n; got++)
		if (kernel_tp(k->prog_fd[same ? got : 0], k->id[same ? 0 : got], &fds[got], 1) != 1)
			break;
	if (got == n)
		return got;
	while (got > 0)
		close(fds[--got]);
	return -1;
}

/* one round with @n kernel programs attached (0: native; KERNEL_SAME4: 4
 * on sys_enter_getppid); NAN if it cannot */
static double kernel_round(struct kernel_state *k, int n)
{
	int fds[4], got;
	double ns;

	if (n && k->why)
		return NAN;
	got = kernel_attach(k, n, fds);
	ns = got < 0 ? NAN : one_round();
	while (got > 0)
		close(fds[--got]);
	return ns;
}

static void child_main(void)
{
	struct kernel_state k;
	char why[128] = "";
	int cmd;

	kernel_setup(&k);
	if (k.why)
		snprintf(why, sizeof(why), "%s", k.why);
	if (write(from_child[1], why, sizeof(why)) != sizeof(why))
		_exit(1);
	warm_up(false);
	while (read(to_child[0], &cmd, sizeof(cmd)) == sizeof(cmd) && cmd >= 0) {
		double ns = kernel_round(&k, cmd);

		if (write(from_child[1], &ns, sizeof(ns)) != sizeof(ns))
			break;
	}
	_exit(0);
}

/* forks the clean child; returns why the kernel rows cannot run, or NULL */
static const char *start_child(void)
{
	static char why[128];

	if (pipe(to_child) || pipe(from_child)) {
		perror("systp_bench: pipe");
		exit(1);
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		perror("systp_bench: fork");
		exit(1);
	}
	if (!child)
		child_main();
	if (read(from_child[0], why, sizeof(why)) != sizeof(why)) {
		fprintf(stderr, "systp_bench: the reference child died\n");
		exit(1);
	}
	why[sizeof(why) - 1] = 0;
	return why[0] ? why : NULL;
}

static double child_round(int nprogs)
{
	double ns;

	if (write(to_child[1], &nprogs, sizeof(nprogs)) != sizeof(nprogs) ||
	    read(from_child[0], &ns, sizeof(ns)) != sizeof(ns)) {
		fprintf(stderr, "systp_bench: the reference child died\n");
		exit(1);
	}
	return ns;
}

static void stop_child(void)
{
	int cmd = -1;

	if (write(to_child[1], &cmd, sizeof(cmd)) != sizeof(cmd))
		kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static void record(int row, int round, double ns, double native)
{
	val[row][round] = ns;
	added[row][round] = ns - native;
	have[row] = !isnan(ns);
}

/* ---- the segment and the programs (each measuring process has its own) ---- */

static void setup_segment(void)
{
	static const struct bpftime_insn empty[] = {
		{ .code = 0xb7, .dst = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },		      /* exit */
	};
	struct bpftime_insn count[] = {
		{ .code = 0x18, .dst = 1, .src = 2 /* map value */ }, /* r1 = &counter[0] */
		{ .code = 0 },
		{ .code = 0xb7, .dst = 2, .imm = 1 },		/* r2 = 1 */
		{ .code = 0xdb, .dst = 1, .src = 2, .imm = 0 }, /* lock *(u64 *)r1 += r2 */
		{ .code = 0xb7, .dst = 0, .imm = 0 },
		{ .code = 0x95 },
	};
	struct sigaction sa = { .sa_handler = remove_segment_on_signal };
	char name[64];

	snprintf(name, sizeof(name), "bpftime_systp_bench_%d", getpid());
	snprintf(seg_path, sizeof(seg_path), "/dev/shm/%s", name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", name, 1);
	bpftime_shm__remove(name);
	atexit(remove_segment);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	BPFTIME_OPTS(bpftime_shm_opts, so, .size_mb = 8, .max_fd = 256);
	shm = bpftime_shm__create(&so);
	if (!shm) {
		fprintf(stderr, "systp_bench: cannot create the segment: %s\n", strerror(errno));
		exit(1);
	}
	counter_map = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "counter", 4, 8, 1, NULL);
	if (counter_map < 0)
		exit(1);
	count[0].imm = counter_map;
	sentinel_prog = make_prog("sentinel", count, 6);
	for (int i = 0; i < 4; i++)
		empty_prog[i] = make_prog("empty", empty, 2);
}

/* dlopens the agent (SYSTP_BENCH_AGENT: another build's, to compare two
 * builds); NULL with the message printed */
static void *load_agent(void)
{
	void *agent = dlopen(getenv("SYSTP_BENCH_AGENT") ? getenv("SYSTP_BENCH_AGENT")
							 : BPFTIME_AGENT_PATH,
			     RTLD_NOW | RTLD_LOCAL);

	if (!agent) {
		fprintf(stderr, "systp_bench: cannot load the agent: %s\n", dlerror());
		return NULL;
	}
	agent_net = (int (*)(char *, size_t))dlsym(agent, "bpftime_agent_syscall_net");
	return agent;
}

/* ---- the net auto process: our rows with BPFTIME_SYSCALL_NET=auto ----------- */

/* the net auto process, and with --ab a second one with another agent */
static struct auto_proc {
	int to[2], from[2];
	pid_t pid;
} procs[2];
static struct auto_proc *const ap = &procs[0];

struct auto_reply {
	double ns;
	int off;       /* the net was off around the round */
	char why[160]; /* when not: why (the handshake: why the process cannot run) */
};

static void auto_main(const struct auto_proc *me)
{
	/* rows whose net went off in their first round wait for it later */
	bool went_off[R_N] = { false };
	struct auto_reply rep;
	int cmd[2];

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setenv("BPFTIME_SYSCALL_NET", "auto", 1);
	setup_segment();
	memset(&rep, 0, sizeof(rep));
	if (!load_agent())
		snprintf(rep.why, sizeof(rep.why), "cannot load the agent");
	if (write(me->from[1], &rep, sizeof(rep)) != sizeof(rep) || rep.why[0])
		exit(1);
	warm_up(false);
	/* cmd: our row (R_B1 .. R_PAUSED), first round */
	while (read(me->to[0], cmd, sizeof(cmd)) == sizeof(cmd) && cmd[0] >= 0) {
		int row = cmd[0];
		struct net_seen net = { .wait_ms = cmd[1]	   ? NET_WAIT_FIRST_MS
						   : went_off[row] ? NET_WAIT_MS
								   : 20 };

		memset(&rep, 0, sizeof(rep));
		if (row == R_PAUSED) {
			rep.ns = one_round();
			net.off = !net_state(net.why, sizeof(net.why));
		} else {
			rep.ns = our_round(row_progs[row] ? row_progs[row] : 1,
					   row == R_UNWATCHED ? NR_OPENAT : NR_GETPPID,
					   row == R_B4S, cmd[1], &net);
		}
		if (cmd[1])
			went_off[row] = net.off;
		rep.off = net.off;
		snprintf(rep.why, sizeof(rep.why), "%s", net.why);
		if (write(me->from[1], &rep, sizeof(rep)) != sizeof(rep))
			break;
	}
	exit(0);
}

/* forks a net auto process (@agent: its agent, NULL: the default one);
 * returns why it cannot run, or NULL */
static const char *start_auto(struct auto_proc *pr, const char *agent)
{
	static struct auto_reply rep;

	if (pipe(pr->to) || pipe(pr->from)) {
		perror("systp_bench: pipe");
		exit(1);
	}
	fflush(stdout);
	pr->pid = fork();
	if (pr->pid < 0) {
		perror("systp_bench: fork");
		exit(1);
	}
	if (!pr->pid) {
		if (agent)
			setenv("SYSTP_BENCH_AGENT", agent, 1);
		auto_main(pr);
	}
	if (read(pr->from[0], &rep, sizeof(rep)) != sizeof(rep)) {
		waitpid(pr->pid, NULL, 0);
		pr->pid = 0;
		return "the net auto process died";
	}
	if (rep.why[0]) {
		waitpid(pr->pid, NULL, 0);
		pr->pid = 0;
		rep.why[sizeof(rep.why) - 1] = 0;
		return rep.why;
	}
	return NULL;
}

/* one round of our @row in @pr (@first: the row's first round) */
static void auto_ask(struct auto_proc *pr, int row, bool first, struct auto_reply *rep)
{
	int cmd[2] = { row, first };

	if (write(pr->to[1], cmd, sizeof(cmd)) != sizeof(cmd) ||
	    read(pr->from[0], rep, sizeof(*rep)) != sizeof(*rep)) {
		fprintf(stderr, "systp_bench: a net auto process died\n");
		exit(1);
	}
}

/* one round of our @row in the net auto process, recorded as its auto row */
static void auto_round(int row, int round, double native)
{
	struct auto_reply rep;
	int a = R_AUTO(row);

	if (!ap->pid)
		return;
	auto_ask(ap, row, round == 0, &rep);
	record(a, round, rep.ns, native);
	net_rounds[a]++;
	net_off_rounds[a] += rep.off;
	if (!rep.off) {
		rep.why[sizeof(rep.why) - 1] = 0;
		snprintf(net_why[a], sizeof(net_why[a]), "%s", rep.why);
	}
}

static void stop_auto(struct auto_proc *pr)
{
	int cmd[2] = { -1, 0 };

	if (!pr->pid)
		return;
	if (write(pr->to[1], cmd, sizeof(cmd)) != sizeof(cmd))
		kill(pr->pid, SIGTERM);
	waitpid(pr->pid, NULL, 0);
	pr->pid = 0;
}

/* --ab PATH: two builds in one run.  Two net auto processes, the agent of
 * this build (or SYSTP_BENCH_AGENT) and the one at PATH, each row's round
 * made in both one after the other (which one first alternates), so that
 * the machine's drift, which moves a row by tens of ns between runs here,
 * hits both alike.  Per row: each one's ns added against its own unwatched
 * row (the native path of the same process and round), and the median of
 * the per-round differences B - A. */
static int ab_main(const char *agent_b)
{
	static double v[2][R_N][101];
	const char *why;

	if ((why = start_auto(&procs[0], NULL)) || (why = start_auto(&procs[1], agent_b))) {
		fprintf(stderr, "systp_bench: --ab: %s\n", why);
		stop_auto(&procs[0]);
		stop_auto(&procs[1]);
		return 1;
	}
	for (int r = 0; r < n_rounds; r++) {
		for (int k = 0; k < OUR_ROWS - 1; k++) { /* not the paused row */
			int row = our_rows[(k + r) % (OUR_ROWS - 1)];

			for (int j = 0; j < 2; j++) {
				int p = (r + k + j) & 1;
				struct auto_reply rep;

				auto_ask(&procs[p], row, r == 0, &rep);
				/* the unwatched row is the native path only with
				 * the net off */
				v[p][row][r] = rep.off || row != R_UNWATCHED ? rep.ns : NAN;
			}
		}
	}
	stop_auto(&procs[0]);
	stop_auto(&procs[1]);
	printf("A: %s\nB: %s\n",
	       getenv("SYSTP_BENCH_AGENT") ? getenv("SYSTP_BENCH_AGENT") : BPFTIME_AGENT_PATH,
	       agent_b);
	printf("ns added per getppid() vs the unwatched row, net auto, %s of %d rounds of %ld "
	       "calls\n",
	       use_best ? "best" : "median", n_rounds, n_calls);
	printf("%-46s %9s %9s %9s\n", "", "A", "B", "B - A");
	for (int row = R_B1; row <= R_B4S; row++) {
		double a[101], b[101], d[101];
		int n = 0;

		for (int r = 0; r < n_rounds; r++) {
			double x = v[0][row][r] - v[0][R_UNWATCHED][r];
			double y = v[1][row][r] - v[1][R_UNWATCHED][r];

			if (isnan(x) || isnan(y))
				continue; /* the net was on in an unwatched round */
			a[n] = x;
			b[n] = y;
			d[n++] = y - x;
		}
		if (!n) {
			printf("%-46s (the net was on in every unwatched round)\n", page_name(row));
			continue;
		}
		printf("%-46s %9.1f %9.1f %9.1f\n", page_name(row), pick(a, n), pick(b, n),
		       pick(d, n));
	}
	return 0;
}

/* ---- --paired: watched and unwatched calls in one process ------------------ */

/* The syscall hook's own direct call (its region's first bytes: long
 * raw(nr, a1..a6), a `syscall` no handler sees), found in /proc/self/maps;
 * NULL before the hook has started */
typedef long (*direct_fn)(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

static direct_fn find_direct(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	unsigned long start = 0;

	if (!f)
		return NULL;
	while (!start && fgets(line, sizeof(line), f)) {
		unsigned long lo;
		char perm[5];

		if (sscanf(line, "%lx-%*x %4s", &lo, perm) == 2 && !strcmp(perm, "r-xs") &&
		    strstr(line, "/memfd:bpftime-syscalls"))
			start = lo;
	}
	fclose(f);
	/* raw()'s first instructions (mov rax, rdi; mov rdi, rsi): another
	 * layout, and this bench would call the wrong code */
	if (start && memcmp((const void *)start, "\x48\x89\xf8\x48\x89\xf7", 6))
		return NULL;
	return (direct_fn)start;
}

/* PAIRS pairs of blocks: getppid() through libc's (rewritten) site, and
 * the same number through the hook's direct call (which first alternates);
 * d[i]: ns per call of the site's block minus the direct one's */
static void pair_blocks(direct_fn direct, double *d)
{
	for (int i = 0; i < PAIRS; i++) {
		double site = 0, dir = 0;

		for (int k = 0; k < 2; k++) {
			if ((k == 0) == ((i & 1) == 0)) {
				site = block_ns();
			} else {
				uint64_t t0 = mono_ns();

				for (long c = 0; c < pair_calls; c++)
					direct(NR_GETPPID, 0, 0, 0, 0, 0, 0);
				dir = (double)(mono_ns() - t0) / (double)pair_calls;
			}
		}
		d[i] = site - dir;
	}
}

/* --paired: ns added per getppid() measured within one process, where the
 * machine's drift and the process's own placement (rows move by tens of
 * ns from one process to the next here) hit both sides alike.
 *   ours (net auto): per configuration, blocks of calls through libc's
 *     watched site alternate (every ~0.2 ms) with blocks through the hook's
 *     direct call; the same difference with getppid unwatched (1 program on
 *     openat: libc's getppid then runs the native instructions) is the
 *     direct call's own cost, subtracted.
 *   the kernel's, for reference (the clean child, as in the default mode):
 *     a round of n_calls with the programs attached minus a native round
 *     just before it (attaching is too slow to alternate blocks: a
 *     disabled perf event still runs its tracepoint's programs, and
 *     detaching waits for RCU).
 * Per configuration: the median over rounds of each round's median. */
static int paired_main(const char *kernel_why)
{
	static const int rows[] = { R_UNWATCHED, R_B1, R_B2, R_B4, R_B4S };
	static const int krow[] = { 0, 1, 2, 4, KERNEL_SAME4 };
	enum { NROWS = sizeof(rows) / sizeof(rows[0]) };
	static double d[NROWS][PAIRS], med[NROWS][101], kmed[NROWS][101];
	static char on_why[NROWS][160];
	int off[NROWS] = { 0 };
	direct_fn direct = NULL;
	char why[160] = "";

	for (int r = 0; r < n_rounds; r++) {
		for (int k = 0; k < NROWS; k++) {
			int i = (k + r) % NROWS, row = rows[i];
			int progs = row_progs[row] ? row_progs[row] : 1, fds[10], s[2], before;
			struct timespec nap = { 0, 2000000 };

			if (i && !kernel_why) {
				double nat = child_round(0);

				kmed[i][r] = child_round(krow[i]) - nat;
			}
			for (int j = 0; j < progs; j++)
				attach_tp(empty_prog[j],
					  row == R_B4S ? BPFTIME_SYSTP_ENTER : kinds[j],
					  row == R_UNWATCHED ? NR_OPENAT : NR_GETPPID, fds + 2 * j);
			attach_tp(sentinel_prog, BPFTIME_SYSTP_ENTER, NR_GETPGID, s);
			wait_sentinel(true);
			warm_up(r == 0);
			for (int w = 0; w < 500 && net_state(why, sizeof(why)) == 1; w++)
				nanosleep(&nap, NULL);
			if (!direct && !(direct = find_direct())) {
				fprintf(stderr,
					"systp_bench: --paired: the syscall hook's direct call is "
					"not found (the hook never started, or its region's "
					"layout changed)\n");
				return 1;
			}
			before = net_state(why, sizeof(why));
			pair_blocks(direct, d[i]);
			if (!before && !net_state(why, sizeof(why)))
				off[i]++; /* off before and after */
			else
				snprintf(on_why[i], sizeof(on_why[i]), "%s", why);
			detach(fds, 2 * progs);
			detach(s, 2);
			wait_sentinel(false);
			qsort(d[i], PAIRS, sizeof(double), cmp_double);
			med[i][r] = d[i][PAIRS / 2];
		}
	}
	printf("ns added per getppid(), empty eBPF programs, %d rounds; ours measured within "
	       "one\nprocess: each round the median of %d pairs of blocks of %ld calls, libc's "
	       "watched\nsite against the hook's direct call, minus the same with getppid "
	       "unwatched; the\nkernel's: a round of %ld calls attached minus a native one; "
	       "median of the rounds\n[lowest, highest]\n",
	       n_rounds, PAIRS, pair_calls, n_calls);
	printf("%-36s %22s %9s %9s\n", "", "bpftime", "per prog", "kernel");
	for (int i = 0; i < NROWS; i++) {
		double base = pick(med[0], n_rounds), lo = INFINITY, hi = -INFINITY;
		double ours = pick(med[i], n_rounds) - (i ? base : 0);
		char range[40];

		for (int r = 0; r < n_rounds; r++) {
			double v = med[i][r] - (i ? med[0][r] : 0);

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		snprintf(range, sizeof(range), "%.1f [%.1f, %.1f]", ours, lo, hi);
		if (!i) {
			printf("%-36s %22s   (site - direct: the calibration)\n",
			       page_name(rows[i]) + strlen("bpftime, "), range);
		} else {
			printf("%-36s %22s %9.1f", page_name(rows[i]) + strlen("bpftime, "), range,
			       ours / row_progs[rows[i]]);
			if (kernel_why)
				printf("   (kernel: %s)\n", kernel_why);
			else
				printf(" %9.1f\n", pick(kmed[i], n_rounds));
		}
		if (off[i] < n_rounds)
			printf("    net on in %d of %d rounds: %s\n", n_rounds - off[i], n_rounds,
			       on_why[i]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *why = NULL, *auto_why = NULL, *agent_b = NULL;
	bool pages = false, paired = false, rounds_set = false, calls_set = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			n_calls = 2000;
			n_rounds = 1;
			rounds_set = true;
		} else if (!strcmp(argv[i], "--pages")) {
			pages = true;
		} else if (!strcmp(argv[i], "--paired")) {
			paired = true;
		} else if (!strcmp(argv[i], "--check")) {
			check_pages = true;
		} else if (!strcmp(argv[i], "--best")) {
			use_best = true;
		} else if (!strcmp(argv[i], "--ab") && i + 1 < argc) {
			agent_b = argv[++i];
		} else if (!strcmp(argv[i], "--wall")) {
			clock_id = CLOCK_MONOTONIC;
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			n_calls = strtol(argv[++i], NULL, 0);
			calls_set = true;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			n_rounds = (int)strtol(argv[++i], NULL, 0);
			rounds_set = true;
			if (n_rounds < 1 || n_rounds > 101)
				n_rounds = 31;
		} else {
			fprintf(stderr, "usage: systp_bench [--calls N] [--rounds R] [--best] "
					"[--wall] [--quick] [--pages [--check]] [--paired] [--ab "
					"AGENT_B]\n");
			return 2;
		}
	}
	if (agent_b && pages) {
		fprintf(stderr, "systp_bench: --ab measures times; --pages counts pages of this "
				"build only: use one or the other\n");
		return 2;
	}
	if (paired && (agent_b || pages)) {
		fprintf(stderr, "systp_bench: --paired is a measurement of its own: not with "
				"--ab or --pages\n");
		return 2;
	}
	if (agent_b)
		return ab_main(agent_b);
	if (paired) {
		int ret = 1;

		if (!rounds_set)
			n_rounds = 9;
		if (calls_set)
			pair_calls = n_calls;
		why = start_child(); /* (forked before the agent is loaded) */
		setenv("BPFTIME_SYSCALL_NET", "auto", 1);
		setup_segment();
		warm_up(false);
		if (load_agent())
			ret = paired_main(why);
		stop_child();
		return ret;
	}
	/* before this process has a segment or an agent: the net auto one
	 * starts clean */
	if (!pages) {
		auto_why = start_auto(ap, NULL);
		setenv("BPFTIME_SYSCALL_NET", "on", 1);
	}
	setup_segment();

	if (pages) {
		printf("pages touched per getppid() between kernel entries (single-stepped),\n"
		       "empty eBPF programs on syscall tracepoints (%s engine, "
		       "BPFTIME_SYSCALL_NET=%s)\n",
		       getenv("BPFTIME_VM_NAME") ? getenv("BPFTIME_VM_NAME") : "jit",
		       getenv("BPFTIME_SYSCALL_NET"));
		printf("%-46s %9s %9s %9s\n", "", "code", "data", "insns");
		page_row(R_NATIVE);
	} else {
		printf("ns per getppid(), empty eBPF programs on syscall tracepoints (%s engine),\n"
		       "%s of %d interleaved rounds of %ld calls, %s; added: vs native in the same "
		       "round\n",
		       getenv("BPFTIME_VM_NAME") ? getenv("BPFTIME_VM_NAME") : "jit",
		       use_best ? "best" : "median", n_rounds, n_calls,
		       clock_id == CLOCK_MONOTONIC ? "wall clock" : "thread cpu time");
		printf("%-46s %9s %9s %9s\n", "", "ns/call", "added", "per prog");
		why = start_child();
	}
	warm_up(false);
	if (!load_agent()) {
		if (!pages) {
			stop_child();
			stop_auto(ap);
		}
		return 1;
	}
	if (pages) {
		page_row(R_NONE);
		pages_ours();
		return page_failed || (check_pages && !pages_within_bounds());
	}
	/* before any hook exists: the agent with nothing to do */
	for (int r = 0; r < n_rounds; r++) {
		double nat = child_round(0);

		record(R_NONE, r, one_round(), nat);
	}
	for (int r = 0; r < n_rounds; r++) {
		double nat = child_round(0);

		record(R_NATIVE, r, nat, nat);
		record(R_K1, r, child_round(1), nat);
		record(R_K2, r, child_round(2), nat);
		record(R_K4, r, child_round(4), nat);
		record(R_K4S, r, child_round(KERNEL_SAME4), nat);
		/* our rows in an order that rotates: none always follows
		 * the same change */
		for (int k = 0; k < OUR_ROWS; k++) {
			int row = our_rows[(k + r) % OUR_ROWS];

			struct net_seen net = { .wait_ms = 0 };

			if (row == R_PAUSED) {
				record(row, r, one_round(), nat);
				net.off = !net_state(net.why, sizeof(net.why));
			} else {
				record(row, r,
				       our_round(row_progs[row] ? row_progs[row] : 1,
						 row == R_UNWATCHED ? NR_OPENAT : NR_GETPPID,
						 row == R_B4S, r == 0, &net),
				       nat);
			}
			net_rounds[row]++;
			net_off_rounds[row] += net.off;
		}
		for (int k = 0; k < OUR_ROWS; k++)
			auto_round(our_rows[(k + r) % OUR_ROWS], r, nat);
	}
	stop_child();
	stop_auto(ap);
	for (int r = 0; r < R_N; r++) {
		print_row(r);
		if (r == R_NATIVE && why)
			printf("%-46s (%s)\n", "kernel", why);
		if (r == R_A1 && auto_why)
			printf("%-46s (%s)\n", "net auto", auto_why);
	}
	return 0;
}
