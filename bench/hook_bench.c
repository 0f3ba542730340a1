/* SPDX-License-Identifier: MIT */
/* bench/hook_bench.c: what an inline probe adds to a call, in ns.
 *
 * The probed function is hook_bench_target (bench/hook_bench_target.c, its own
 * compilation unit).  Rows: no hook, uprobe, uretprobe, both, override (the
 * handler returns the function's own result), an int3-trap uprobe, a uprobe
 * running an empty eBPF program on our JIT; then, when the kernel lets us (root,
 * perf_event_open + BPF), the kernel's uprobe and uretprobe with an empty
 * BPF_PROG_TYPE_KPROBE program on the same function in the same run.  Each row
 * is run with 1 and 2 threads (ns per call per thread) and reports the median
 * of several rounds (thread CPU time) and the cost added over "no hook".
 *
 *   hook_bench [--calls N] [--rounds R] [--quick]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
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
#include <bpftime/log.h>
#include <bpftime/vm.h>

long hook_bench_target(long x);
long hook_bench_target_trap(long x);

static long n_calls = 5000000;
static long calls_div = 1; /* slow rows (traps) run fewer calls */
static int n_rounds = 5;

static long (*volatile target_ptr)(long) = hook_bench_target;
static long total_bad;

/* The thread's CPU time: the machine is shared, and time spent preempted is
 * not what a probe costs. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
	long n = n_calls / calls_div > 100 ? n_calls / calls_div : 100;
	uint64_t t0;

	while (!atomic_load(w->go))
		;
	t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (f(i) != i + 1)
			w->bad++;
	w->ns = (double)(now_ns() - t0) / (double)n;
	return NULL;
}

/* ns per call per thread, median of the rounds */
static double measure(int threads)
{
	double v[16] = { 0 };

	for (int r = 0; r < n_rounds; r++) {
		struct worker w[2] = { 0 };
		atomic_int go = 0;
		double sum = 0;

		for (int i = 0; i < threads; i++) {
			w[i].go = &go;
			pthread_create(&w[i].th, NULL, worker_fn, &w[i]);
		}
		atomic_store(&go, 1);
		for (int i = 0; i < threads; i++) {
			pthread_join(w[i].th, NULL);
			if (w[i].bad)
				fprintf(stderr, "hook_bench: wrong results (%ld)\n", w[i].bad);
			total_bad += w[i].bad;
			sum += w[i].ns;
		}
		v[r] = sum / threads;
	}
	for (int i = 1; i < n_rounds; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n_rounds / 2];
}

static void empty_fn(struct bpftime_pt_regs *regs, void *data)
{
	(void)regs;
	(void)data;
}

static int override_fn(struct bpftime_pt_regs *regs, void *data)
{
	(void)data;
	regs->rax = regs->rdi + 1;
	return 1;
}

static void prog_fn(struct bpftime_pt_regs *regs, void *data)
{
	uint64_t r0;

	bpftime_vm__run(data, regs, sizeof(*regs), &r0);
}

struct row {
	const char *name;
	double ns[2];
};

static struct row rows[16];
static int n_rows;
static double base[2];

static void run_row(const char *name)
{
	struct row *r = &rows[n_rows++];

	r->name = name;
	for (int t = 1; t <= 2; t++)
		r->ns[t - 1] = measure(t);
	if (n_rows == 1) {
		base[0] = r->ns[0];
		base[1] = r->ns[1];
	}
	printf("%-28s %9.1f %9.1f %9.1f %9.1f\n", name, r->ns[0], r->ns[0] - base[0], r->ns[1],
	       r->ns[1] - base[1]);
	fflush(stdout);
}

/* Sites outlive their probes, so the trap row uses its own (identical) function. */
static int attach_run(const char *name, bpftime_probe_fn fn, void *data,
		      enum bpftime_probe_type type, bool trap, bpftime_probe_fn fn2)
{
	struct bpftime_probe_opts o = { .sz = sizeof(o), .type = type, .force_trap = trap };
	struct bpftime_probe *p, *q = NULL;
	long (*target)(long) = trap ? hook_bench_target_trap : hook_bench_target;

	target_ptr = target;
	p = bpftime_probe__attach((void *)target, fn, data, &o);
	if (!p) {
		printf("%-28s attach failed: %s\n", name, strerror(errno));
		return -1;
	}
	if (fn2) {
		o.type = BPFTIME_PROBE_URETPROBE;
		q = bpftime_probe__attach((void *)target, fn2, data, &o);
		if (!q) {
			printf("%-28s attach failed: %s\n", name, strerror(errno));
			bpftime_probe__detach(p);
			return -1;
		}
	}
	calls_div = trap ? 100 : 1;
	run_row(name);
	calls_div = 1;
	bpftime_probe__detach(q);
	bpftime_probe__detach(p);
	target_ptr = hook_bench_target;
	return 0;
}

/* ---- the kernel's uprobes ---- */

static int kernel_uprobe(const char *exe, uint64_t off, bool ret, int prog_fd)
{
	struct perf_event_attr attr;
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");
	int type = -1, fd;

	if (!f)
		return -errno;
	if (fscanf(f, "%d", &type) != 1)
		type = -1;
	fclose(f);
	if (type < 0)
		return -EINVAL;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = (uint32_t)type;
	attr.config = ret ? 1 : 0; /* format/retprobe: config:0 */
	attr.config1 = (uint64_t)(uintptr_t)exe;
	attr.config2 = off;
	/* as libbpf does for "any process": pid -1 on cpu 0; the program runs on every cpu */
	fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 ||
	    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void kernel_rows(void)
{
	struct bpf_insn insns[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },			  /* exit */
	};
	char exe[4096];
	uint64_t off;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int prog_fd, fd;

	if (n < 0) {
		printf("kernel uprobe: readlink failed\n");
		return;
	}
	exe[n] = 0;
	if (bpftime_elf_find_symbol(exe, "hook_bench_target", &off, NULL)) {
		printf("kernel uprobe: hook_bench_target not found in %s\n", exe);
		return;
	}
	prog_fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "hook_bench", "GPL", insns, 2, NULL);
	if (prog_fd < 0) {
		printf("%-28s skipped: bpf(PROG_LOAD): %s\n", "kernel uprobe", strerror(errno));
		return;
	}
	for (int ret = 0; ret < 2; ret++) {
		const char *name = ret ? "kernel uretprobe (bpf)" : "kernel uprobe (bpf)";

		fd = kernel_uprobe(exe, off, ret, prog_fd);
		if (fd < 0) {
			printf("%-28s skipped: %s\n", name, strerror(-fd));
			continue;
		}
		calls_div = 1000;
		run_row(name);
		calls_div = 1;
		close(fd);
	}
	close(prog_fd);
}

static struct bpftime_vm *empty_prog(void)
{
	static const struct bpftime_insn insns[] = {
		{ .code = 0xb7, .dst = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },		      /* exit */
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = "empty");
	struct bpftime_vm *vm = bpftime_vm__new(&opts);

	if (!vm)
		return NULL;
	if (bpftime_vm__load(vm, insns, 2) || bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT)) {
		printf("empty eBPF program: %s\n", bpftime_vm__last_error(vm));
		bpftime_vm__free(vm);
		return NULL;
	}
	return vm;
}

int main(int argc, char **argv)
{
	struct bpftime_vm *vm;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n_calls = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			n_rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick"))
			n_calls = 20000, n_rounds = 1;
		else {
			fprintf(stderr, "usage: hook_bench [--calls N] [--rounds R] [--quick]\n");
			return 2;
		}
	}
	if (n_rounds < 1 || n_rounds > 15 || n_calls < 1) {
		fprintf(stderr, "hook_bench: rounds 1..15, calls >= 1\n");
		return 2;
	}
	bpftime_log_set_default_level(BPFTIME_LOG_ERROR); /* the trap row would warn */
	printf("hook_bench: %ld calls per thread, median of %d rounds\n", n_calls, n_rounds);
	printf("%-28s %9s %9s %9s %9s\n", "ns per call", "1 thread", "added", "2 threads", "added");
	run_row("no hook");
	/* the kernel first: its int3 goes into the page before we ever write it */
	kernel_rows();
	attach_run("uprobe", empty_fn, NULL, BPFTIME_PROBE_UPROBE, false, NULL);
	attach_run("uretprobe", empty_fn, NULL, BPFTIME_PROBE_URETPROBE, false, NULL);
	attach_run("uprobe + uretprobe", empty_fn, NULL, BPFTIME_PROBE_UPROBE, false, empty_fn);
	attach_run("override", (bpftime_probe_fn)(void (*)(void))override_fn, NULL,
		   BPFTIME_PROBE_OVERRIDE, false, NULL);
	vm = empty_prog();
	if (vm) {
		attach_run("uprobe + empty eBPF (JIT)", prog_fn, vm, BPFTIME_PROBE_UPROBE, false,
			   NULL);
		attach_run("uretprobe + empty eBPF", prog_fn, vm, BPFTIME_PROBE_URETPROBE, false,
			   NULL);
		bpftime_vm__free(vm);
	}
	attach_run("uprobe (int3 trap)", empty_fn, NULL, BPFTIME_PROBE_UPROBE, true, NULL);
	return total_bad ? 1 : 0;
}
