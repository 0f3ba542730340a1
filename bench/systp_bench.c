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
 * another syscall only (getppid unwatched), and the hook paused after the
 * last program went.
 *
 * The agent applies a change asynchronously; a sentinel program on
 * sys_enter_getpgid, attached after a row's links and removed after them,
 * tells when it has.  Median of the rounds (--best: the best round).
 *
 *   systp_bench [--calls N] [--rounds R] [--best] [--quick]
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_tp.h>
#include <bpftime/vm.h>

#define TRACEPOINT_PROG 5 /* BPF_PROG_TYPE_TRACEPOINT */
#define NR_GETPPID	110
#define NR_GETPGID	121
#define NR_OPENAT	257

static long n_calls = 20000;
static int n_rounds = 21;
static bool use_best;
static struct bpftime_shm *shm;
static int counter_map, sentinel_prog, empty_prog[4];
static double native_ns;
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double measure(void)
{
	double v[101];
	pid_t want = getppid();
	long bad = 0;

	for (int r = 0; r < n_rounds; r++) {
		uint64_t t0 = now_ns();

		for (long i = 0; i < n_calls; i++)
			bad += getppid() != want;
		v[r] = (double)(now_ns() - t0) / (double)n_calls;
	}
	if (bad) {
		fprintf(stderr, "systp_bench: getppid returned a wrong value %ld times\n", bad);
		exit(1);
	}
	qsort(v, (size_t)n_rounds, sizeof(v[0]), cmp_double);
	return use_best ? v[0] : v[n_rounds / 2];
}

static void row(const char *name, int progs)
{
	double ns = measure();

	if (!progs) {
		printf("%-44s %9.1f %9.1f\n", name, ns, ns - native_ns);
	} else {
		printf("%-44s %9.1f %9.1f %9.1f\n", name, ns, ns - native_ns,
		       (ns - native_ns) / progs);
	}
	fflush(stdout);
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

static void our_row(const char *name, int progs, int nr)
{
	int fds[10], s[2];

	for (int i = 0; i < progs; i++)
		attach_tp(empty_prog[i], kinds[i], nr, fds + 2 * i);
	attach_tp(sentinel_prog, BPFTIME_SYSTP_ENTER, NR_GETPGID, s);
	wait_sentinel(true);
	row(name, nr == NR_GETPPID ? progs : 0);
	detach(fds, 2 * progs);
	detach(s, 2);
	wait_sentinel(false);
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

static void kernel_rows(void)
{
	static const char *const events[4] = { "syscalls/sys_enter_getppid",
					       "syscalls/sys_exit_getppid",
					       "raw_syscalls/sys_enter", "raw_syscalls/sys_exit" };
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	int ncpu = (int)sysconf(_SC_NPROCESSORS_CONF), prog_fd, fds[4][256], n[4] = { 0 };

	if (ncpu < 1 || ncpu > 256)
		ncpu = 1;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		printf("%-44s (no tracefs: %s)\n", "kernel", strerror(errno));
		return;
	}
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "systp_bench", "GPL", insns, 2, NULL);
	if (prog_fd < 0) {
		printf("%-44s (the kernel refused BPF_PROG_LOAD: %s)\n", "kernel", strerror(errno));
		umount("/sys/kernel/tracing");
		return;
	}
	for (int k = 0; k < 4; k++) {
		static const char *const names[4] = { "kernel, 1 prog (enter)",
						      "kernel, 2 progs (+ exit)", "",
						      "kernel, 4 progs (+ raw enter, raw exit)" };
		int id = tp_id(events[k]);

		n[k] = id < 0 ? 0 : kernel_tp(prog_fd, id, fds[k], ncpu);
		if (n[k] < 1) {
			printf("%-44s (perf_event_open refused: %s)\n", events[k], strerror(errno));
			break;
		}
		if (k != 2)
			row(names[k], k + 1);
	}
	for (int k = 0; k < 4; k++)
		while (n[k] > 0)
			close(fds[k][--n[k]]);
	close(prog_fd);
	umount("/sys/kernel/tracing");
}

int main(int argc, char **argv)
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
	void *agent;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			n_calls = 2000;
			n_rounds = 1;
		} else if (!strcmp(argv[i], "--best")) {
			use_best = true;
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			n_calls = strtol(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			n_rounds = (int)strtol(argv[++i], NULL, 0);
			if (n_rounds < 1 || n_rounds > 101)
				n_rounds = 21;
		} else {
			fprintf(stderr,
				"usage: systp_bench [--calls N] [--rounds R] [--best] [--quick]\n");
			return 2;
		}
	}
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
		return 1;
	}
	counter_map = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "counter", 4, 8, 1, NULL);
	if (counter_map < 0)
		return 1;
	count[0].imm = counter_map;
	sentinel_prog = make_prog("sentinel", count, 6);
	for (int i = 0; i < 4; i++)
		empty_prog[i] = make_prog("empty", empty, 2);

	printf("ns per getppid(), empty eBPF programs on syscall tracepoints (%s engine),\n"
	       "%s of %d rounds of %ld calls\n",
	       getenv("BPFTIME_VM_NAME") ? getenv("BPFTIME_VM_NAME") : "jit",
	       use_best ? "best" : "median", n_rounds, n_calls);
	printf("%-44s %9s %9s %9s\n", "", "ns/call", "added", "per prog");
	native_ns = measure();
	printf("%-44s %9.1f\n", "native (no agent)", native_ns);
	kernel_rows();

	agent = dlopen(BPFTIME_AGENT_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!agent) {
		fprintf(stderr, "systp_bench: cannot load the agent: %s\n", dlerror());
		return 1;
	}
	row("bpftime, no syscall tracepoint in the segment", 0);
	our_row("bpftime, 1 prog (enter)", 1, NR_GETPPID);
	our_row("bpftime, 2 progs (+ exit)", 2, NR_GETPPID);
	our_row("bpftime, 4 progs (+ raw enter, raw exit)", 4, NR_GETPPID);
	our_row("bpftime, getppid unwatched (1 prog on openat)", 1, NR_OPENAT);
	row("bpftime, hook paused (last program gone)", 0);
	return 0;
}
