/* SPDX-License-Identifier: MIT */
/* bench/map_prog_bench.c: what map operations cost inside a program, on our
 * JIT (maps in the shared-memory segment, helpers from helpers/) and in the
 * kernel (the same instructions as an XDP program run by BPF_PROG_TEST_RUN
 * with repeat), in the same run; plus the control plane (our C API against
 * the bpf() syscall).
 *
 *   map_prog_bench [--quick] [--no-kernel] [--reps N]
 *
 * Every program does the operation K = 32 times, unrolled, and an empty
 * program gives the per-run overhead of each side: ns/op = (run - empty) / K.
 * Each figure is the best of --reps measurements (default 31) of about 1 ms
 * each, alternating the sides: the machine is shared, and the best run is
 * the one least disturbed by other processes (the kernel's test-run timer
 * leaves out the time it is rescheduled; ours cannot).  The ring buffer is drained between measurements
 * (its consumer position set to the producer's), on both sides.  Figures
 * only: --quick checks that everything runs and the map contents the
 * programs leave agree between the two sides (exit 1 otherwise).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "segment.h"

/* instruction builders over the uapi constants (linux/bpf.h, via libbpf) */
#define INSN(CODE, DST, SRC, OFF, IMM) \
	((struct bpftime_insn){        \
		.code = (CODE), .dst = (DST), .src = (SRC), .off = (OFF), .imm = (IMM) })
#define BPF_ST_MEM(SZ, DST, OFF, IMM) INSN(BPF_ST | BPF_MEM | (SZ), DST, 0, OFF, IMM)
#define BPF_MOV64_REG(DST, SRC)	      INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define BPF_MOV64_IMM(DST, IMM)	      INSN(BPF_ALU64 | BPF_MOV | BPF_K, DST, 0, 0, IMM)
#define BPF_ALU64_IMM(OP, DST, IMM)   INSN(BPF_ALU64 | (OP) | BPF_K, DST, 0, 0, IMM)
#define BPF_CALL_HELPER(ID)	      INSN(BPF_JMP | BPF_CALL, 0, 0, 0, ID)
#define BPF_EXIT_INSN()		      INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define BPF_LD_MAP_FD(DST, FD) \
	INSN(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_FD, 0, FD), INSN(0, 0, 0, 0, 0)

#define K	  32
#define MAX_INSNS (K * 16 + 16)
#define MAX_REPS  31
#define TARGET_NS 1e6 /* short: less chance of being preempted inside */
#define RB_SIZE	  (16u << 20)

enum op { OP_EMPTY, OP_LOOKUP, OP_UPDATE, OP_UPDATE_DELETE, OP_RINGBUF, OP_CALL };

struct bench {
	const char *name;
	uint32_t map_type;
	enum op op;
	uint32_t key; /* the key the program uses (present unless deleting); OP_CALL: helper id */
};

static const struct bench benches[] = {
	{ "empty program (per-run overhead)", 0, OP_EMPTY, 0 },
	{ "hash lookup (hit)", BPF_MAP_TYPE_HASH, OP_LOOKUP, 1 },
	{ "hash lookup (miss)", BPF_MAP_TYPE_HASH, OP_LOOKUP, 999 },
	{ "hash update (existing)", BPF_MAP_TYPE_HASH, OP_UPDATE, 1 },
	{ "hash update+delete", BPF_MAP_TYPE_HASH, OP_UPDATE_DELETE, 7 },
	{ "array lookup", BPF_MAP_TYPE_ARRAY, OP_LOOKUP, 1 },
	{ "array update", BPF_MAP_TYPE_ARRAY, OP_UPDATE, 1 },
	{ "percpu array lookup", BPF_MAP_TYPE_PERCPU_ARRAY, OP_LOOKUP, 1 },
	{ "percpu hash lookup", BPF_MAP_TYPE_PERCPU_HASH, OP_LOOKUP, 1 },
	{ "percpu hash update", BPF_MAP_TYPE_PERCPU_HASH, OP_UPDATE, 1 },
	{ "lru hash lookup", BPF_MAP_TYPE_LRU_HASH, OP_LOOKUP, 1 },
	{ "lru hash update", BPF_MAP_TYPE_LRU_HASH, OP_UPDATE, 1 },
	{ "ringbuf output (8 bytes)", BPF_MAP_TYPE_RINGBUF, OP_RINGBUF, 0 },
	/* other helpers, for scale (probe_read_user costs a process_vm_readv here) */
	{ "ktime_get_ns", 0, OP_CALL, 5 },
	{ "get_prandom_u32", 0, OP_CALL, 7 },
	{ "get_smp_processor_id", 0, OP_CALL, 8 },
	{ "get_current_pid_tgid", 0, OP_CALL, 14 },
	{ "probe_read_user (stack, 8 bytes)", 0, OP_CALL, 112 },
	/* from the packet: ours reads process memory through process_vm_readv;
	 * the kernel's would fault on a kernel address, so it is not compared */
	{ "probe_read_user (other, 8 bytes)", 0, OP_CALL, 1112 },
};

/* Our side is timed in thread CPU time: the kernel's BPF_PROG_TEST_RUN timer
 * stops while the test loop is preempted (bpf_test_timer around
 * cond_resched), so wall-clock time on a loaded machine would charge us for
 * other processes' time slices and the kernel not. */
/* value size of the maps (--value-size): torn-read protection costs more
 * on values wider than 8 bytes */
static uint32_t vsize = 8;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The program: key and value on the stack, K operations, r0 = XDP_PASS. */
static size_t gen(const struct bench *b, int map_fd, struct bpftime_insn *p)
{
	size_t n = 0;

	p[n++] = BPF_ST_MEM(BPF_W, 10, -4, b->op == OP_CALL ? 0 : (int32_t)b->key);
	p[n++] = BPF_ST_MEM(BPF_DW, 10, -16, 42);
	/* the rest of a --value-size value, below it: r10 - 8 - vsize .. r10 - 16 */
	for (int32_t o = 24; o <= 8 + (int32_t)vsize; o += 8)
		p[n++] = BPF_ST_MEM(BPF_DW, 10, -o, 42);
	for (int i = 0; i < K && b->op == OP_CALL; i++) {
		if (b->key == 112) { /* probe_read_user(r10 - 24, 8, r10 - 16) */
			p[n++] = BPF_MOV64_REG(1, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 1, -24);
			p[n++] = BPF_MOV64_IMM(2, 8);
			p[n++] = BPF_MOV64_REG(3, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 3, -16);
		} else if (b->key == 1112) { /* probe_read_user(r10 - 24, 8, ctx) */
			if (!i)
				p[n++] = BPF_MOV64_REG(6, 1);
			p[n++] = BPF_MOV64_REG(1, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 1, -24);
			p[n++] = BPF_MOV64_IMM(2, 8);
			p[n++] = BPF_MOV64_REG(3, 6);
		}
		p[n++] = BPF_CALL_HELPER(b->key == 1112 ? 112 : (int32_t)b->key);
	}
	for (int i = 0; i < K && b->op != OP_EMPTY && b->op != OP_CALL; i++) {
		struct bpftime_insn ld[] = { BPF_LD_MAP_FD(1, map_fd) };

		p[n++] = ld[0];
		p[n++] = ld[1];
		switch (b->op) {
		case OP_LOOKUP:
			p[n++] = BPF_MOV64_REG(2, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, -4);
			p[n++] = BPF_CALL_HELPER(1);
			break;
		case OP_UPDATE:
		case OP_UPDATE_DELETE:
			p[n++] = BPF_MOV64_REG(2, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, -4);
			p[n++] = BPF_MOV64_REG(3, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 3, -8 - (int32_t)vsize);
			p[n++] = BPF_MOV64_IMM(4, 0);
			p[n++] = BPF_CALL_HELPER(2);
			if (b->op == OP_UPDATE)
				break;
			p[n++] = ld[0];
			p[n++] = ld[1];
			p[n++] = BPF_MOV64_REG(2, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, -4);
			p[n++] = BPF_CALL_HELPER(3);
			break;
		case OP_RINGBUF:
			p[n++] = BPF_MOV64_REG(2, 10);
			p[n++] = BPF_ALU64_IMM(BPF_ADD, 2, -16);
			p[n++] = BPF_MOV64_IMM(3, 8);
			p[n++] = BPF_MOV64_IMM(4, 1); /* BPF_RB_NO_WAKEUP */
			p[n++] = BPF_CALL_HELPER(130);
			break;
		case OP_EMPTY:
		case OP_CALL:
			break;
		}
	}
	p[n++] = BPF_MOV64_IMM(0, 2);
	p[n++] = BPF_EXIT_INSN();
	return n;
}

struct side {
	bool ok;
	char why[160];
	int map_fd, prog_fd;	 /* kernel fds, or segment fds */
	struct bpftime_vm *vm;	 /* ours */
	uint64_t *rb_cons;	 /* ring buffer consumer position */
	const uint64_t *rb_prod; /* producer position */
	uint64_t n;
	double ns[MAX_REPS];
};

static struct bpftime_shm *shm;

static struct bpftime_runtime *rt;
static int ncpus;
static uint8_t pkt[64];

static void rb_drain(struct side *s)
{
	if (s->rb_cons)
		__atomic_store_n(s->rb_cons, __atomic_load_n(s->rb_prod, __ATOMIC_ACQUIRE),
				 __ATOMIC_RELEASE);
}

static double measure(bool kernel, struct side *s, uint64_t n)
{
	double t0;
	uint64_t r0;

	rb_drain(s);
	if (kernel) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = (int)n);
		int err = bpf_prog_test_run_opts(s->prog_fd, &o);

		if (err) {
			snprintf(s->why, sizeof(s->why), "BPF_PROG_TEST_RUN: %s", strerror(-err));
			return -1;
		}
		return o.duration;
	}
	t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		bpftime_vm__run(s->vm, pkt, sizeof(pkt), &r0);
	return (now_ns() - t0) / (double)n;
}

/* the syscall-side value of key @key for the map type, all CPUs */
static size_t value_len(uint32_t type)
{
	bool percpu = type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH;

	return percpu ? 8u * (size_t)ncpus : 8;
}

static void map_rb(bool kernel, struct side *s)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint64_t off = 0;
	size_t len = 0;
	void *cons, *prod;
	int fd = kernel ? s->map_fd : bpftime_shm__fd(shm);

	if (!kernel && bpftime_map_mmap_region(shm, s->map_fd, &off, &len))
		return;
	cons = mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	prod = mmap(NULL, (size_t)ps, PROT_READ, MAP_SHARED, fd, (off_t)(off + (uint64_t)ps));
	if (cons == MAP_FAILED || prod == MAP_FAILED)
		return;
	s->rb_cons = cons;
	s->rb_prod = prod;
}

static int setup_side(bool kernel, const struct bench *b, struct side *s)
{
	struct bpftime_insn insns[MAX_INSNS];
	uint32_t key = 1;
	uint64_t *val = calloc((size_t)ncpus, vsize);
	size_t cnt;

	s->ok = false;
	s->map_fd = -1;
	if (b->map_type) {
		uint32_t ks = b->map_type == BPF_MAP_TYPE_RINGBUF ? 0 : 4;
		uint32_t vs = b->map_type == BPF_MAP_TYPE_RINGBUF ? 0 : vsize;
		uint32_t max = b->map_type == BPF_MAP_TYPE_RINGBUF ? RB_SIZE : 1024;

		if (kernel)
			s->map_fd = bpf_map_create(b->map_type, "bench", ks, vs, max, NULL);
		else
			s->map_fd = bpftime_map_create(shm, -1, (enum bpftime_map_type)b->map_type,
						       "bench", ks, vs, max, NULL);
		if (s->map_fd < 0) {
			snprintf(s->why, sizeof(s->why), "map create: %s", strerror(errno));
			free(val);
			return -1;
		}
		if (b->map_type == BPF_MAP_TYPE_RINGBUF)
			map_rb(kernel, s);
		else if (kernel)
			bpf_map_update_elem(s->map_fd, &key, val, 0);
		else
			bpftime_map_update_elem(shm, s->map_fd, &key, val, 0);
	}
	free(val);
	cnt = gen(b, s->map_fd, insns);
	if (kernel) {
		char log[4096] = "";
		LIBBPF_OPTS(bpf_prog_load_opts, lo, .log_buf = log, .log_size = sizeof(log));

		s->prog_fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench", "GPL",
					   (const struct bpf_insn *)insns, cnt, &lo);
		if (s->prog_fd < 0) {
			snprintf(s->why, sizeof(s->why), "prog load: %s %.80s", strerror(errno),
				 log);
			return -1;
		}
	} else {
		s->prog_fd =
			bpftime_prog_create(shm, -1, BPF_PROG_TYPE_XDP, "bench", insns, cnt, NULL);
		s->vm = s->prog_fd >= 0 ? bpftime_runtime__prog(rt, s->prog_fd) : NULL;
		if (!s->vm) {
			snprintf(s->why, sizeof(s->why), "prog: %s", strerror(errno));
			return -1;
		}
		if (bpftime_vm__engine(s->vm) != BPFTIME_ENGINE_JIT) {
			snprintf(s->why, sizeof(s->why), "not on the jit");
			return -1;
		}
	}
	s->ok = true;
	return 0;
}

static void teardown_side(bool kernel, struct side *s)
{
	long ps = sysconf(_SC_PAGESIZE);

	if (s->rb_cons) {
		munmap(s->rb_cons, (size_t)ps);
		munmap((void *)s->rb_prod, (size_t)ps);
		s->rb_cons = NULL;
	}
	if (kernel) {
		if (s->prog_fd >= 0)
			close(s->prog_fd);
		if (s->map_fd >= 0)
			close(s->map_fd);
	}
	/* ours stay in the private segment until it is removed */
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double best(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[0];
}

/* control plane: ns per call of lookup/update through our C API and bpf(),
 * best of @reps batches */
static void control_plane(bool kernel_ok, int reps)
{
	uint32_t key = 1;
	uint64_t val = 5;
	int ours = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "cp", 4, 8, 1024, NULL);
	int kfd = kernel_ok ? bpf_map_create(BPF_MAP_TYPE_HASH, "cp", 4, 8, 1024, NULL) : -1;
	const uint64_t n = 20000;
	double t[4] = { 1e18, 1e18, 1e18, 1e18 }, t0, d;

	bpftime_map_update_elem(shm, ours, &key, &val, 0);
	if (kfd >= 0)
		bpf_map_update_elem(kfd, &key, &val, 0);
	for (int r = 0; r < reps; r++) {
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bpftime_map_lookup_elem(shm, ours, &key, &val, 0);
		d = (now_ns() - t0) / (double)n;
		t[0] = d < t[0] ? d : t[0];
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bpftime_map_update_elem(shm, ours, &key, &val, 0);
		d = (now_ns() - t0) / (double)n;
		t[1] = d < t[1] ? d : t[1];
		if (kfd < 0)
			continue;
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bpf_map_lookup_elem(kfd, &key, &val);
		d = (now_ns() - t0) / (double)n;
		t[2] = d < t[2] ? d : t[2];
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bpf_map_update_elem(kfd, &key, &val, 0);
		d = (now_ns() - t0) / (double)n;
		t[3] = d < t[3] ? d : t[3];
	}
	if (kfd >= 0)
		close(kfd);
	else
		t[2] = t[3] = 0;
	printf("\ncontrol plane (ns per call)     bpftime C API   kernel bpf()   speedup\n");
	printf("  %-30s %12.1f %14.1f %9.1fx\n", "hash lookup", t[0], t[2], t[2] / t[0]);
	printf("  %-30s %12.1f %14.1f %9.1fx\n", "hash update", t[1], t[3], t[3] / t[1]);
}

static bool kernel_usable(char *why, size_t len)
{
	const struct bpftime_insn ret[] = { BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN() };
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "probe", "GPL", (const struct bpf_insn *)ret, 2,
			       NULL);

	if (fd < 0) {
		snprintf(why, len, "%s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* after the quick runs, both sides' maps must hold the programs' value */
static int check_contents(const struct bench *b, struct side *sides)
{
	uint32_t key = b->key;
	uint64_t *v[2];
	size_t len = value_len(b->map_type);
	int ret = 0, e0, e1;

	if (b->op != OP_UPDATE || !sides[0].ok || !sides[1].ok)
		return 0;
	v[0] = calloc(1, len);
	v[1] = calloc(1, len);
	e0 = bpf_map_lookup_elem(sides[0].map_fd, &key, v[0]);
	e1 = bpftime_map_lookup_elem(shm, sides[1].map_fd, &key, v[1], 0);
	/* per-CPU: the value lands on the CPU the run was on; compare the sums */
	{
		uint64_t s0 = 0, s1 = 0;

		for (size_t i = 0; i < len / 8; i++) {
			s0 += v[0][i];
			s1 += v[1][i];
		}
		if (e0 || e1 || s0 % 42 || s1 % 42 || !s0 != !s1) {
			fprintf(stderr, "%s: the kernel and bpftime disagree\n", b->name);
			ret = 1;
		}
	}
	free(v[0]);
	free(v[1]);
	return ret;
}

int main(int argc, char **argv)
{
	bool quick = false, use_kernel = true;
	int reps = 31, status = 0;
	char shm_name[64], why[128] = "";
	double base[2] = { 0, 0 };

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--no-kernel"))
			use_kernel = false;
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--value-size") && i + 1 < argc &&
			 (vsize = (uint32_t)atoi(argv[++i])) >= 8 && vsize <= 256 && !(vsize % 8))
			;
		else {
			fprintf(stderr, "usage: map_prog_bench [--quick] [--no-kernel] [--reps N] "
					"[--value-size 8..256, a multiple of 8]\n");
			return 2;
		}
	}
	if (quick)
		reps = 1;
	if (reps < 1 || reps > MAX_REPS)
		reps = 31;
	snprintf(shm_name, sizeof(shm_name), "bpftime_map_prog_bench_%d", getpid());
	bench_remove_segment_at_exit(shm_name);
	{
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 64);
		BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_JIT,
			     .engine_set = true, .no_fallback = true);

		shm = bpftime_shm__create(&o);
		rt = shm ? bpftime_runtime__new(shm, &ro) : NULL;
	}
	if (!rt) {
		fprintf(stderr, "cannot create the segment: %s\n", strerror(errno));
		return 1;
	}
	ncpus = bpftime_shm__ncpus(shm);
	if (use_kernel && !kernel_usable(why, sizeof(why)))
		use_kernel = false;
	printf("in-program map operations, ns per operation (%d ops per run, empty run subtracted, "
	       "best of %d; %u-byte values)\n",
	       K, reps, vsize);
	if (!use_kernel)
		printf("kernel: not measured (%s)\n", why[0] ? why : "--no-kernel");
	printf("  %-34s %12s %12s %8s\n", "operation", "bpftime-jit", "kernel", "ratio");
	for (size_t bi = 0; bi < sizeof(benches) / sizeof(benches[0]); bi++) {
		const struct bench *b = &benches[bi];
		struct side sides[2] = { 0 }; /* 0 kernel, 1 ours */
		double res[2] = { -1, -1 };

		for (int k = 0; k < 2; k++) {
			if (k == 0 && (!use_kernel || b->key == 1112))
				continue;
			if (setup_side(k == 0, b, &sides[k]))
				fprintf(stderr, "%s (%s): %s\n", b->name, k ? "bpftime" : "kernel",
					sides[k].why);
		}
		if (!sides[1].ok)
			status = 1;
		/* calibrate: about TARGET_NS per measurement */
		for (int k = 0; k < 2; k++) {
			double t;

			if (!sides[k].ok)
				continue;
			sides[k].n = quick ? 100 : 1000;
			t = measure(k == 0, &sides[k], sides[k].n);
			if (!quick && t > 0) {
				sides[k].n = (uint64_t)(TARGET_NS / t) + 1;
				/* the ring must hold one measurement's records */
				if (b->op == OP_RINGBUF && sides[k].n * K * 16 > RB_SIZE / 2)
					sides[k].n = RB_SIZE / 2 / (K * 16);
			}
		}
		for (int r = 0; r < reps; r++) {
			for (int k = 0; k < 2; k++) {
				if (sides[k].ok)
					sides[k].ns[r] = measure(k == 0, &sides[k], sides[k].n);
			}
		}
		for (int k = 0; k < 2; k++) {
			if (!sides[k].ok)
				continue;
			res[k] = best(sides[k].ns, reps);
			if (b->op == OP_EMPTY)
				base[k] = res[k];
			else
				res[k] = (res[k] - base[k]) / K;
		}
		if (quick)
			status |= check_contents(b, sides);
		if (res[0] >= 0)
			printf("  %-34s %12.2f %12.2f %8.2f\n", b->name, res[1], res[0],
			       res[0] > 0 ? res[1] / res[0] : 0);
		else
			printf("  %-34s %12.2f %12s %8s\n", b->name, res[1], "-", "-");
		teardown_side(true, &sides[0]);
		teardown_side(false, &sides[1]);
	}
	control_plane(use_kernel, quick ? 1 : reps);
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return status;
}
