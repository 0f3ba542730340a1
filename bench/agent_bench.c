/* SPDX-License-Identifier: MIT */
/* bench/agent_bench.c: the full uprobe path, in ns per call: a function with
 * an empty eBPF program attached the way a user gets it: programs, perf
 * events and links in a shared-memory segment (what `bpftime load` leaves),
 * libbpftime-agent.so in the process (dlopen'ed here, as `bpftime attach`
 * does; its constructor and watcher thread do the rest), the JIT running the
 * program from the hook.  hook_bench measures the hook engine alone.
 *
 * Rows: no hook; uprobe; uretprobe; uprobe + uretprobe; override (the
 * program calls bpf_override_return with the function's own result, so the
 * results stay checkable); uprobe with run statistics on (BPF_ENABLE_STATS:
 * run_cnt and run_time_ns counted per run; the other agent rows measure
 * them off, the agent does not follow kernel.bpf_stats_enabled, but the
 * kernel rows count when it is 1: the header says which); and, when the
 * kernel lets us (root, perf_event_open + BPF), the kernel's uprobe and
 * uretprobe with the same empty program on the same function in the same
 * run.  Each row with 1 and 2 threads (ns per call per thread), best (or
 * median) of the rounds, and the cost added over "no hook".
 *
 * The agent applies a change asynchronously; a sentinel link on another
 * function, created after the row's links and removed after them, tells
 * when it has (the agent applies one segment state at a time).
 *
 *   agent_bench [--calls N] [--rounds R] [--median] [--quick]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include <bpftime/attach.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "segment.h"

long agent_bench_target(long x);
long agent_bench_sentinel(long x);

#define KPROBE_PROG 2
#define PT_RDI	    (14 * 8)

static long n_calls = 20000;
static int n_rounds = 101;
static bool use_median;

static long (*volatile target_ptr)(long) = agent_bench_target;
static long (*volatile sentinel_ptr)(long) = agent_bench_sentinel;
static long total_bad;

static struct bpftime_shm *shm;
static char exe[PATH_MAX];

static int counter_map, sentinel_prog, empty_prog, empty2_prog, override_prog;
static double base_ns[3];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct worker {
	pthread_t th;
	atomic_int *go;
	double ns;
	long bad;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	long (*f)(long) = target_ptr;
	uint64_t t0;

	while (!atomic_load(w->go))
		;
	t0 = now_ns();
	for (long i = 0; i < n_calls; i++)
		if (f(i) != i + 1)
			w->bad++;
	w->ns = (double)(now_ns() - t0) / (double)n_calls;
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ns per call per thread, best of the rounds (the round least disturbed by
 * other load on the machine; the median is printed by --median).  Rounds
 * are short (20,000 calls by default) so that on a busy machine some of
 * them run undisturbed on both threads at once. */
static double measure(int threads)
{
	double v[101];

	for (int r = 0; r < n_rounds; r++) {
		struct worker w[2] = { 0 };
		atomic_int go = 0;
		double sum = 0;

		for (int t = 0; t < threads; t++) {
			w[t].go = &go;
			pthread_create(&w[t].th, NULL, worker_fn, &w[t]);
		}
		atomic_store(&go, 1);
		for (int t = 0; t < threads; t++) {
			pthread_join(w[t].th, NULL);
			sum += w[t].ns;
			total_bad += w[t].bad;
		}
		v[r] = sum / threads;
	}
	qsort(v, (size_t)n_rounds, sizeof(v[0]), cmp_double);
	return use_median ? v[n_rounds / 2] : v[0];
}

static void row(const char *name)
{
	double ns[3];

	for (int t = 1; t <= 2; t++)
		ns[t] = measure(t);
	if (!strcmp(name, "no hook")) {
		base_ns[1] = ns[1];
		base_ns[2] = ns[2];
	}
	printf("%-28s %8.1f %8.1f   %8.1f %8.1f\n", name, ns[1], ns[1] - base_ns[1], ns[2],
	       ns[2] - base_ns[2]);
	fflush(stdout);
}

/* ---- the segment side (what a loader leaves there) ---------------------- */

static uint64_t sym_offset(const char *name)
{
	uint64_t off, size;

	if (bpftime_elf_find_symbol(exe, name, &off, &size)) {
		fprintf(stderr, "agent_bench: no symbol %s in %s\n", name, exe);
		exit(1);
	}
	return off;
}

static int make_prog(const char *name, const struct bpftime_insn *insns, size_t cnt)
{
	int fd = bpftime_prog_create(shm, -1, KPROBE_PROG, name, insns, cnt, NULL);

	if (fd < 0) {
		fprintf(stderr, "agent_bench: cannot store prog %s: %s\n", name, strerror(-fd));
		exit(1);
	}
	return fd;
}

/* a perf event + link; returns the link fd, *perf the event's */
static int attach_prog(int prog, int type, const char *sym, int *perf)
{
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = type, .pid = -1, .module = exe,
		     .offset = sym_offset(sym));
	int link;

	*perf = bpftime_perf_event_create(shm, -1, &o);
	if (*perf < 0 || bpftime_perf_event_enable(shm, *perf, true)) {
		fprintf(stderr, "agent_bench: cannot create a perf event\n");
		exit(1);
	}
	link = bpftime_link_create(shm, -1, prog, *perf, NULL);
	if (link < 0) {
		fprintf(stderr, "agent_bench: cannot create a link\n");
		exit(1);
	}
	return link;
}

static uint64_t sentinel_count(void)
{
	uint32_t key = 0;
	uint64_t v = 0;

	bpftime_map_lookup_elem(shm, counter_map, &key, &v, 0);
	return v;
}

/* calls the sentinel until it counts (@on) or stops counting (!@on) */
static void wait_sentinel(bool on)
{
	struct timespec ts = { 0, 1000000 };

	for (int i = 0; i < 20000; i++) {
		uint64_t before = sentinel_count();

		sentinel_ptr(1);
		if ((sentinel_count() != before) == on)
			return;
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "agent_bench: the agent never applied the change\n");
	exit(1);
}

struct attached {
	int n, fds[8];
};

static void add(struct attached *a, int prog, int type)
{
	int perf, link = attach_prog(prog, type, "agent_bench_target", &perf);

	a->fds[a->n++] = link;
	a->fds[a->n++] = perf;
}

/* applies a row's links (sentinel last), runs the row, removes them */
static void agent_row(const char *name, struct attached *a)
{
	int sperf, slink = attach_prog(sentinel_prog, BPFTIME_PERF_TYPE_UPROBE,
				       "agent_bench_sentinel", &sperf);

	wait_sentinel(true);
	row(name);
	for (int i = 0; i < a->n; i++)
		bpftime_handler_close(shm, a->fds[i]);
	bpftime_handler_close(shm, slink);
	bpftime_handler_close(shm, sperf);
	wait_sentinel(false);
}

/* ---- the kernel's uprobes ------------------------------------------------ */

/* one perf event per cpu (pid -1: a task-bound event would add the perf
 * context switch to every measurement); returns how many were opened */
static int kernel_uprobe(int prog_fd, bool ret, int *fds, int max)
{
	struct perf_event_attr attr;
	int type, n = 0;
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");

	if (!f)
		return -1;
	if (fscanf(f, "%d", &type) != 1)
		type = -1;
	fclose(f);
	if (type < 0)
		return -1;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = (uint32_t)type;
	attr.config = ret ? 1 : 0; /* format/retprobe: config:0 */
	attr.config1 = (uint64_t)(uintptr_t)exe;
	attr.config2 = sym_offset("agent_bench_target");
	for (int cpu = 0; cpu < max; cpu++) {
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
	if (n < max) {
		while (n > 0)
			close(fds[--n]);
		return -1;
	}
	return n;
}

static void kernel_rows(void)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	int prog_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "agent_bench", "GPL", insns, 2, NULL);
	long saved_calls = n_calls;
	int saved_rounds = n_rounds;

	/* a trap per call costs microseconds: fewer calls keep the run short */
	if (n_calls > 20000)
		n_calls = 20000;
	if (n_rounds == 1) /* --quick */
		n_calls = 1000;
	if (n_rounds > 3)
		n_rounds = 3;

	if (prog_fd < 0) {
		printf("%-28s (the kernel refused BPF_PROG_LOAD: %s)\n", "kernel uprobe",
		       strerror(errno));
		n_calls = saved_calls;
		n_rounds = saved_rounds;
		return;
	}
	for (int ret = 0; ret < 2; ret++) {
		const char *name = ret ? "kernel uretprobe" : "kernel uprobe";
		int fds[256], ncpu = (int)sysconf(_SC_NPROCESSORS_CONF), n;

		if (ncpu < 1 || ncpu > 256)
			ncpu = 1;
		n = kernel_uprobe(prog_fd, ret, fds, ncpu);
		if (n < 0) {
			printf("%-28s (perf_event_open refused: %s)\n", name, strerror(errno));
			continue;
		}
		row(name);
		while (n > 0)
			close(fds[--n]);
	}
	close(prog_fd);
	n_calls = saved_calls;
	n_rounds = saved_rounds;
}

int main(int argc, char **argv)
{
	static const struct bpftime_insn empty[] = {
		{ .code = 0xb7, .dst = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },		      /* exit */
	};
	/* bpf_override_return(ctx, ctx->di + 1): the function's own result */
	static const struct bpftime_insn override[] = {
		{ .code = 0x79, .dst = 2, .src = 1, .off = PT_RDI }, /* r2 = *(u64 *)(r1 + di) */
		{ .code = 0x07, .dst = 2, .imm = 1 },		     /* r2 += 1 */
		{ .code = 0x85, .imm = 58 },			     /* call override_return */
		{ .code = 0xb7, .dst = 0, .imm = 0 },
		{ .code = 0x95 },
	};
	struct bpftime_insn count[] = {
		{ .code = 0x18, .dst = 1, .src = 2 /* map value */ }, /* r1 = &counter[0] */
		{ .code = 0 },
		{ .code = 0xb7, .dst = 2, .imm = 1 },		/* r2 = 1 */
		{ .code = 0xdb, .dst = 1, .src = 2, .imm = 0 }, /* lock *(u64 *)r1 += r2 */
		{ .code = 0xb7, .dst = 0, .imm = 0 },
		{ .code = 0x95 },
	};
	char name[64];
	ssize_t n;
	void *agent;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			n_calls = 20000;
			n_rounds = 1;
		} else if (!strcmp(argv[i], "--median")) {
			use_median = true;
		} else if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
			n_calls = strtol(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			n_rounds = (int)strtol(argv[++i], NULL, 0);
			if (n_rounds < 1 || n_rounds > 101)
				n_rounds = 101;
		} else {
			fprintf(stderr, "usage: agent_bench [--calls N] [--rounds R] [--median] "
					"[--quick]\n");
			return 2;
		}
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 1;
	exe[n] = 0;

	/* the loader's side: a private segment with the programs */
	snprintf(name, sizeof(name), "bpftime_agent_bench_%d", getpid());
	setenv("BPFTIME_GLOBAL_SHM_NAME", name, 1);
	bpftime_shm__remove(name);
	bench_remove_segment_at_exit(name);
	BPFTIME_OPTS(bpftime_shm_opts, so, .size_mb = 8, .max_fd = 256);
	shm = bpftime_shm__create(&so);
	if (!shm) {
		fprintf(stderr, "agent_bench: cannot create the segment: %s\n", strerror(errno));
		return 1;
	}
	counter_map = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "counter", 4, 8, 1, NULL);
	if (counter_map < 0)
		goto fail;
	count[0].imm = counter_map;
	sentinel_prog = make_prog("sentinel", count, 6);
	empty_prog = make_prog("empty", empty, 2);
	empty2_prog = make_prog("empty2", empty, 2);
	override_prog = make_prog("override", override, 5);

	printf("ns per call of a hooked function, empty eBPF program through the agent (%s "
	       "engine),\n"
	       "%s of %d rounds of %ld calls per thread (kernel rows: at most 20000 calls, 3 "
	       "rounds)\n",
	       getenv("BPFTIME_VM_NAME") ? getenv("BPFTIME_VM_NAME") : "jit",
	       use_median ? "median" : "best", n_rounds, n_calls);
	{
		FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
		int c = f ? fgetc(f) : EOF;

		if (f)
			fclose(f);
		printf("run statistics: the agent's only in the stats row; the kernel's %s\n",
		       c == '1' ? "in its rows too (kernel.bpf_stats_enabled is 1)"
				: "off (kernel.bpf_stats_enabled is 0)");
	}
	printf("%-28s %8s %8s   %8s %8s\n", "", "1 thread", "added", "2 thr.", "added");
	row("no hook");
	/* before any inline hook has touched the function's page */
	kernel_rows();

	/* the target's side: the agent, as `bpftime attach` brings it in */
	agent = dlopen(BPFTIME_AGENT_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!agent) {
		fprintf(stderr, "agent_bench: cannot load the agent: %s\n", dlerror());
		goto fail;
	}
	{
		struct attached a = { 0 };

		add(&a, empty_prog, BPFTIME_PERF_TYPE_UPROBE);
		agent_row("uprobe", &a);
	}
	{
		struct attached a = { 0 };

		add(&a, empty_prog, BPFTIME_PERF_TYPE_URETPROBE);
		agent_row("uretprobe", &a);
	}
	{
		struct attached a = { 0 };

		add(&a, empty_prog, BPFTIME_PERF_TYPE_UPROBE);
		add(&a, empty2_prog, BPFTIME_PERF_TYPE_URETPROBE);
		agent_row("uprobe + uretprobe", &a);
	}
	{
		struct attached a = { 0 };

		add(&a, override_prog, BPFTIME_PERF_TYPE_UPROBE_OVERRIDE);
		agent_row("override", &a);
	}
	{
		struct attached a = { 0 };
		struct bpftime_prog_info pi;

		bpftime_shm__stats_enable(shm, true);
		add(&a, empty_prog, BPFTIME_PERF_TYPE_UPROBE);
		agent_row("uprobe, run stats on", &a);
		bpftime_shm__stats_enable(shm, false);
		if (bpftime_prog_get_info(shm, empty_prog, &pi) || !pi.run_cnt || !pi.run_time_ns) {
			fprintf(stderr, "agent_bench: the stats row counted no runs\n");
			goto fail;
		}
	}
	if (total_bad) {
		fprintf(stderr, "agent_bench: %ld calls returned a wrong result\n", total_bad);
		goto fail;
	}
	bpftime_shm__close(shm);
	bpftime_shm__remove(name);
	return 0;
fail:
	bpftime_shm__close(shm);
	bpftime_shm__remove(name);
	return 1;
}
