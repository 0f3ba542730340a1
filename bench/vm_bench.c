/* SPDX-License-Identifier: MIT */
/* bench/vm_bench.c: runs the eBPF benchmark programs (bench/progs/NAME.bpf.o)
 * through every engine of our VM that compiles them (interpreter, jit, and
 * llvm and aot when libbpftime-llvm.so is built) and, when the kernel's
 * bpf() is usable, through BPF_PROG_TEST_RUN on the kernel (its JIT when
 * net.core.bpf_jit_enable is set), on the same input, in the same run.
 *
 *   vm_bench [--dir DIR] [--prog NAME] [--engine NAME]... [--repeat N]
 *            [--reps N] [--no-kernel] [--quick]
 *
 * Each object has two entries over one always-inline body (progs/bench.h):
 * bench_vm(mem, len) for our VM and bench_xdp(ctx) for the kernel.  For
 * every side the runner picks a repeat count that takes about 20 ms
 * (--repeat fixes it), takes several repetitions (--reps) interleaved across
 * the sides, and prints the median ns per run, the ratio engine/kernel and
 * the geometric mean of the ratios per engine.  Results are checked: every
 * side must return the same 32-bit value (the XDP retval is 32 bits); a
 * mismatch makes the exit status 1.  Times are figures, never assertions.
 *
 * Helpers for our VM live here for now (the runtime's helper library comes
 * later): 5 bpf_ktime_get_ns (CLOCK_MONOTONIC), 7 bpf_get_prandom_u32
 * (xorshift32), 8 bpf_get_smp_processor_id (sched_getcpu).
 */
#define _GNU_SOURCE /* sched_getcpu */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/vm.h>

#ifndef BENCH_PROG_DIR
#define BENCH_PROG_DIR "."
#endif

#define MAX_REPS  99
#define TARGET_NS 20000000.0 /* per measurement */

struct bench_prog {
	const char *name;
	const char *what;
	size_t input_len;
	bool text; /* ASCII "key=value, 123" text instead of random bytes */
	/* the result computed here in C, when the program has a closed form */
	uint32_t (*expect)(const uint8_t *in, size_t len);
};

/* zlib's CRC-32 of the first 1024 bytes, bit by bit */
static uint32_t expect_crc32(const uint8_t *in, size_t len)
{
	uint32_t crc = 0xffffffff;

	for (size_t i = 0; i < len && i < 1024; i++) {
		crc ^= in[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
	}
	return ~crc;
}

/* 239 primes below 1502, and the first input byte */
static uint32_t expect_primes(const uint8_t *in, size_t len)
{
	uint32_t count = 0;

	(void)len;
	for (uint32_t n = 2; n < 1502; n++) {
		uint32_t d = 2;

		while (d * d <= n && n % d)
			d++;
		count += d * d > n;
	}
	return count << 8 | in[0];
}

static const struct bench_prog progs[] = {
	{ "crc32", "CRC-32 with a nibble table over 1 KiB", 1024, false, expect_crc32 },
	{ "hash64", "64-bit multiply/rotate hash over 2 KiB", 2048, false, NULL },
	{ "primes", "trial-division prime count (1500 numbers)", 64, false, expect_primes },
	{ "memops", "histogram + reversed copy over 2 KiB", 2048, false, NULL },
	{ "parser", "tokenizer state machine over 1 KiB of text", 1024, true, NULL },
	{ "helpers", "64 x (ktime, prandom, smp_processor_id)", 64, false, NULL },
};

/* The sides: our engines, then the kernel. */
/* ORDER SIDE: the engines in enum bpftime_engine order, so a parsed engine
 * is its side index */
enum { SIDE_INTERP, SIDE_JIT, SIDE_LLVM, SIDE_AOT, SIDE_KERNEL, NR_SIDES };
static const char *const side_names[NR_SIDES] = { "interpreter", "jit", "llvm", "aot", "kernel" };
static const enum bpftime_engine side_engine[SIDE_KERNEL] = {
	BPFTIME_ENGINE_INTERP, BPFTIME_ENGINE_JIT, BPFTIME_ENGINE_LLVM, BPFTIME_ENGINE_AOT
};

static struct {
	const char *dir;
	const char *only;
	bool want[NR_SIDES];
	uint64_t repeat; /* 0: calibrate */
	int reps;
	bool kernel;
} cfg = {
	.dir = BENCH_PROG_DIR,
	.want = { true, true, true, true, true },
	.reps = 5,
	.kernel = true,
};

/* ---- helpers for our VM ---- */

static uint64_t helper_ktime_get_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct timespec ts;

	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static __thread uint32_t prandom_state = 2463534242u;

static uint64_t helper_get_prandom_u32(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				       uint64_t r5)
{
	uint32_t x = prandom_state;

	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	prandom_state = x;
	return x;
}

static uint64_t helper_get_smp_processor_id(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
					    uint64_t r5)
{
	int cpu = sched_getcpu();

	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	return cpu < 0 ? 0 : (uint64_t)cpu;
}

/* ---- input ---- */

static uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Deterministic input: random bytes, or text for the tokenizer. */
static void make_input(const struct bench_prog *p, uint8_t *buf)
{
	static const char *const words[] = { "key", "value",	  "name", "Host",   "id",
					     "len", "user_agent", "x",	  "Accept", "count" };
	uint64_t s = 0x2545f4914f6cdd1dULL ^ p->input_len;
	size_t i = 0;

	if (!p->text) {
		for (i = 0; i < p->input_len; i++)
			buf[i] = (uint8_t)(xorshift64(&s) >> 24);
		return;
	}
	while (i < p->input_len) {
		char tok[32];
		uint64_t r = xorshift64(&s);
		int n;

		switch (r % 5) {
		case 0:
			n = snprintf(tok, sizeof(tok), "%s=", words[(r >> 8) % 10]);
			break;
		case 1:
			n = snprintf(tok, sizeof(tok), "%u", (unsigned int)(r >> 16) % 100000);
			break;
		case 2:
			n = snprintf(tok, sizeof(tok), "%s ", words[(r >> 8) % 10]);
			break;
		case 3:
			n = snprintf(tok, sizeof(tok), "%c ", ",;.\n"[(r >> 8) % 4]);
			break;
		default:
			n = snprintf(tok, sizeof(tok), " %s", words[(r >> 8) % 10]);
			break;
		}
		for (int k = 0; k < n && i < p->input_len; k++)
			buf[i++] = (uint8_t)tok[k];
	}
}

/* ---- timing ---- */

/* Our side is timed in thread CPU time: the kernel's BPF_PROG_TEST_RUN timer
 * stops while the test loop is preempted (bpf_test_timer around
 * cond_resched), so wall-clock time on a loaded machine would charge us for
 * other processes' time slices and the kernel not. */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct side {
	bool ok;
	char why[256];	       /* why the side is unavailable */
	struct bpftime_vm *vm; /* our engines */
	int fd;		       /* kernel */
	uint64_t n;	       /* runs per measurement */
	double ns[MAX_REPS];   /* per-run time of each repetition */
	uint32_t result;
};

/* One measurement of @n runs; returns ns per run, or < 0 on error. */
static double measure(int side, struct side *s, uint8_t *buf, size_t len, uint64_t n)
{
	if (side == SIDE_KERNEL) {
		LIBBPF_OPTS(bpf_test_run_opts, topts, .data_in = buf, .data_size_in = (__u32)len,
			    .repeat = (int)n);
		int err = bpf_prog_test_run_opts(s->fd, &topts);

		if (err) {
			snprintf(s->why, sizeof(s->why), "BPF_PROG_TEST_RUN: %s", strerror(-err));
			return -1;
		}
		s->result = topts.retval;
		return topts.duration; /* the kernel's mean per run, in whole ns */
	}
	double t0 = now_ns();
	uint64_t r0 = 0;

	for (uint64_t i = 0; i < n; i++) {
		if (bpftime_vm__run(s->vm, buf, len, &r0)) {
			snprintf(s->why, sizeof(s->why), "run failed: %s",
				 bpftime_vm__last_error(s->vm));
			return -1;
		}
	}
	s->result = (uint32_t)r0;
	return (now_ns() - t0) / (double)n;
}

/* Picks the runs per measurement so one takes about TARGET_NS. */
static int calibrate(int side, struct side *s, uint8_t *buf, size_t len)
{
	uint64_t n = 1;

	if (cfg.repeat) {
		s->n = cfg.repeat;
		return 0;
	}
	for (;;) {
		double per = measure(side, s, buf, len, n);

		if (per < 0)
			return -1;
		if (per * (double)n >= 2e6 || n >= (1u << 24)) {
			double want = TARGET_NS / (per > 1 ? per : 1);

			s->n = want < 1 ? 1 : want > 1e8 ? 100000000 : (uint64_t)want;
			return 0;
		}
		n *= 4;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double tmp[MAX_REPS];

	memcpy(tmp, v, n * sizeof(*v));
	qsort(tmp, n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ---- loading ---- */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int load_engine(int side, struct side *s, const struct bpf_insn *insns, size_t cnt,
		       const char *name)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = name);

	s->vm = bpftime_vm__new(&opts);
	if (!s->vm) {
		snprintf(s->why, sizeof(s->why), "bpftime_vm__new: %s", strerror(errno));
		return -1;
	}
	if (bpftime_vm__register_helper(s->vm, 5, "ktime_get_ns", helper_ktime_get_ns) ||
	    bpftime_vm__register_helper(s->vm, 7, "get_prandom_u32", helper_get_prandom_u32) ||
	    bpftime_vm__register_helper(s->vm, 8, "get_smp_processor_id",
					helper_get_smp_processor_id)) {
		snprintf(s->why, sizeof(s->why), "register_helper: %s", strerror(errno));
		return -1;
	}
	if (bpftime_vm__load(s->vm, (const struct bpftime_insn *)(const void *)insns, cnt)) {
		snprintf(s->why, sizeof(s->why), "load: %s", bpftime_vm__last_error(s->vm));
		return -1;
	}
	if (bpftime_vm__compile(s->vm, side_engine[side])) {
		snprintf(s->why, sizeof(s->why), "%s", bpftime_vm__last_error(s->vm));
		return -1;
	}
	return 0;
}

static int load_kernel(struct side *s, const struct bpf_insn *insns, size_t cnt)
{
	static char log[65536];
	LIBBPF_OPTS(bpf_prog_load_opts, lopts);

	s->fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_xdp", "GPL", insns, cnt, &lopts);
	if (s->fd >= 0)
		return 0;
	snprintf(s->why, sizeof(s->why), "bpf(BPF_PROG_LOAD): %s", strerror(errno));
	/* again with the verifier log, to show why */
	lopts.log_buf = log;
	lopts.log_size = sizeof(log);
	lopts.log_level = 1;
	log[0] = 0;
	s->fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench_xdp", "GPL", insns, cnt, &lopts);
	if (s->fd >= 0)
		return 0;
	if (log[0]) {
		size_t l = strlen(log);

		fprintf(stderr, "kernel verifier log (tail):\n%s\n",
			log + (l > 2000 ? l - 2000 : 0));
	}
	return -1;
}

/* ---- the run ---- */

struct row {
	const struct bench_prog *p;
	size_t insns;
	bool ok[NR_SIDES];
	double ns[NR_SIDES];
	uint32_t result;
};

static char last_why[NR_SIDES][sizeof(((struct side *)0)->why)];

/* Runs one program on every side; returns 0, or -1 on a result mismatch or
 * when the program cannot be run at all. */
static int run_prog(const struct bench_prog *p, struct row *row)
{
	struct side sides[NR_SIDES] = {};
	struct bpf_object *obj;
	const struct bpf_program *vm_prog, *xdp_prog;
	uint8_t *input = NULL, *buf = NULL;
	char path[4096];
	int ret = -1, ref = -1;

	memset(row, 0, sizeof(*row));
	row->p = p;
	snprintf(path, sizeof(path), "%s/%s.bpf.o", cfg.dir, p->name);
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		fprintf(stderr, "%s: cannot open %s: %s\n", p->name, path, strerror(errno));
		return -1;
	}
	vm_prog = bpf_object__find_program_by_name(obj, "bench_vm");
	xdp_prog = bpf_object__find_program_by_name(obj, "bench_xdp");
	if (!vm_prog || !xdp_prog) {
		fprintf(stderr, "%s: %s lacks bench_vm or bench_xdp\n", p->name, path);
		goto out;
	}
	row->insns = bpf_program__insn_cnt(vm_prog);
	input = malloc(p->input_len);
	buf = malloc(p->input_len);
	if (!input || !buf)
		goto out;
	make_input(p, input);

	for (int i = 0; i < NR_SIDES; i++) {
		struct side *s = &sides[i];

		s->fd = -1;
		if (!cfg.want[i])
			continue;
		if (i == SIDE_KERNEL) {
			if (!cfg.kernel)
				continue;
			if (load_kernel(s, bpf_program__insns(xdp_prog),
					bpf_program__insn_cnt(xdp_prog)))
				goto unavailable;
		} else if (load_engine(i, s, bpf_program__insns(vm_prog),
				       bpf_program__insn_cnt(vm_prog), p->name)) {
			goto unavailable;
		}
		memcpy(buf, input, p->input_len);
		if (calibrate(i, s, buf, p->input_len))
			goto unavailable;
		s->ok = true;
		continue;
	unavailable:
		/* an engine that is not built says so once, not per program */
		if (strcmp(last_why[i], s->why))
			printf("  %-8s %-11s unavailable: %s\n", p->name, side_names[i], s->why);
		snprintf(last_why[i], sizeof(last_why[i]), "%s", s->why);
	}

	/* repetitions interleave the sides, so drifting machine load hits all */
	for (int r = 0; r < cfg.reps; r++) {
		for (int i = 0; i < NR_SIDES; i++) {
			struct side *s = &sides[i];

			if (!s->ok)
				continue;
			memcpy(buf, input, p->input_len);
			s->ns[r] = measure(i, s, buf, p->input_len, s->n);
			if (s->ns[r] < 0) {
				printf("  %-8s %-11s failed: %s\n", p->name, side_names[i], s->why);
				s->ok = false;
			}
		}
	}

	ret = 0;
	for (int i = 0; i < NR_SIDES; i++) {
		struct side *s = &sides[i];

		if (!s->ok)
			continue;
		row->ok[i] = true;
		row->ns[i] = median(s->ns, cfg.reps);
		if (ref < 0) {
			ref = i;
			row->result = s->result;
		} else if (s->result != row->result) {
			printf("  %-8s MISMATCH: %s returned 0x%08x, %s returned 0x%08x\n", p->name,
			       side_names[i], s->result, side_names[ref], row->result);
			ret = -1;
		}
	}
	if (ref < 0) {
		printf("  %-8s no side could run it\n", p->name);
		ret = -1;
	} else if (p->expect && p->expect(input, p->input_len) != row->result) {
		printf("  %-8s WRONG: every side returned 0x%08x, the C reference says 0x%08x\n",
		       p->name, row->result, p->expect(input, p->input_len));
		ret = -1;
	}
out:
	for (int i = 0; i < NR_SIDES; i++) {
		bpftime_vm__free(sides[i].vm);
		if (sides[i].fd >= 0)
			close(sides[i].fd);
	}
	bpf_object__close(obj);
	free(input);
	free(buf);
	return ret;
}

static void kernel_banner(void)
{
	char jit[16] = "?";
	FILE *f;

	if (!cfg.kernel || !cfg.want[SIDE_KERNEL]) {
		printf("kernel: not measured (--no-kernel)\n");
		return;
	}
	f = fopen("/proc/sys/net/core/bpf_jit_enable", "r");
	if (f) {
		if (!fgets(jit, sizeof(jit), f))
			snprintf(jit, sizeof(jit), "?");
		fclose(f);
		jit[strcspn(jit, "\n")] = 0;
	}
	printf("kernel: BPF_PROG_TEST_RUN (XDP) with net.core.bpf_jit_enable=%s%s\n", jit,
	       strcmp(jit, "0") ? "" : " (kernel JIT off: the kernel interprets)");
}

/* The kernel side needs bpf(); without it the benchmark still runs ours. */
static void probe_kernel(void)
{
	static const struct bpf_insn ret0[] = {
		{ .code = 0xb7, .dst_reg = 0, .imm = 2 }, /* r0 = XDP_PASS */
		{ .code = 0x95 },			  /* exit */
	};
	int fd;

	if (!cfg.kernel || !cfg.want[SIDE_KERNEL])
		return;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "probe", "GPL", ret0, 2, NULL);
	if (fd < 0) {
		printf("kernel: bpf() is not usable here (%s%s); measuring our engines only\n",
		       strerror(errno), geteuid() ? ", not root" : "");
		cfg.kernel = false;
		return;
	}
	close(fd);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--dir DIR] [--prog NAME] [--engine "
		"interpreter|jit|llvm|aot|kernel]...\n"
		"          [--repeat N] [--reps N] [--no-kernel] [--quick]\n"
		"  --prog NAME   only this program (",
		prog);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		fprintf(stderr, "%s%s", i ? ", " : "", progs[i].name);
	fprintf(stderr, ")\n"
			"  --engine      measure only the named sides (repeatable)\n"
			"  --repeat N    runs per measurement (default: about 20 ms each)\n"
			"  --reps N      repetitions, median reported (default 5)\n"
			"  --quick       --repeat 3 --reps 1: just check that everything runs\n");
}

int main(int argc, char **argv)
{
	struct row rows[sizeof(progs) / sizeof(progs[0])];
	size_t nrows = 0;
	bool engine_given = false;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--dir") && v) {
			cfg.dir = argv[++i];
		} else if (!strcmp(a, "--prog") && v) {
			cfg.only = argv[++i];
		} else if (!strcmp(a, "--engine") && v) {
			int k;

			if (!engine_given)
				memset(cfg.want, 0, sizeof(cfg.want));
			engine_given = true;
			for (k = 0; k < NR_SIDES && strcmp(side_names[k], v); k++)
				;
			if (k == NR_SIDES) {
				enum bpftime_engine e;

				if (bpftime_engine__parse(v, &e)) {
					fprintf(stderr, "%s: unknown engine '%s'\n", argv[0], v);
					return 2;
				}
				k = (int)e;
			}
			cfg.want[k] = true;
			i++;
		} else if (!strcmp(a, "--repeat") && v) {
			cfg.repeat = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(a, "--reps") && v) {
			cfg.reps = atoi(argv[++i]);
			if (cfg.reps < 1 || cfg.reps > MAX_REPS) {
				fprintf(stderr, "%s: --reps must be 1..%d\n", argv[0], MAX_REPS);
				return 2;
			}
		} else if (!strcmp(a, "--no-kernel")) {
			cfg.kernel = false;
		} else if (!strcmp(a, "--quick")) {
			cfg.repeat = 3;
			cfg.reps = 1;
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	libbpf_set_print(libbpf_quiet);
	probe_kernel();
	kernel_banner();
	printf("programs: %s/NAME.bpf.o; median of %d repetition%s\n\n", cfg.dir, cfg.reps,
	       cfg.reps == 1 ? "" : "s");

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (cfg.only && strcmp(cfg.only, progs[i].name))
			continue;
		if (run_prog(&progs[i], &rows[nrows]))
			status = 1;
		nrows++;
	}
	if (!nrows) {
		fprintf(stderr, "%s: no program named '%s'\n", argv[0], cfg.only);
		return 2;
	}

	printf("\n");
	for (size_t r = 0; r < nrows; r++)
		printf("%-8s %s (%zu input bytes)\n", rows[r].p->name, rows[r].p->what,
		       rows[r].p->input_len);

	/* the table: ns per run, then ratios to the kernel */
	printf("\n%-8s %6s %10s", "program", "insns", "result");
	for (int k = 0; k < NR_SIDES; k++)
		if (cfg.want[k])
			printf(" %12s", side_names[k]);
	for (int k = 0; k < SIDE_KERNEL; k++)
		if (cfg.want[k] && cfg.kernel && cfg.want[SIDE_KERNEL])
			printf(" %11.11s/k", side_names[k]);
	printf("\n");
	for (size_t r = 0; r < nrows; r++) {
		const struct row *row = &rows[r];

		printf("%-8s %6zu 0x%08x", row->p->name, row->insns, row->result);
		for (int k = 0; k < NR_SIDES; k++) {
			if (!cfg.want[k])
				continue;
			if (row->ok[k])
				printf(" %9.1f ns", row->ns[k]);
			else
				printf(" %12s", "-");
		}
		for (int k = 0; k < SIDE_KERNEL; k++) {
			if (!cfg.want[k] || !cfg.kernel || !cfg.want[SIDE_KERNEL])
				continue;
			if (row->ok[k] && row->ok[SIDE_KERNEL] && row->ns[SIDE_KERNEL] > 0)
				printf(" %12.2fx", row->ns[k] / row->ns[SIDE_KERNEL]);
			else
				printf(" %13s", "-");
		}
		printf("\n");
	}
	if (cfg.kernel && cfg.want[SIDE_KERNEL]) {
		printf("\ngeometric mean of engine/kernel:");
		for (int k = 0; k < SIDE_KERNEL; k++) {
			double logsum = 0;
			int n = 0;

			if (!cfg.want[k])
				continue;
			for (size_t r = 0; r < nrows; r++) {
				if (rows[r].ok[k] && rows[r].ok[SIDE_KERNEL] &&
				    rows[r].ns[SIDE_KERNEL] > 0) {
					logsum += log(rows[r].ns[k] / rows[r].ns[SIDE_KERNEL]);
					n++;
				}
			}
			if (n)
				printf("  %s %.2fx (%d program%s)", side_names[k], exp(logsum / n),
				       n, n == 1 ? "" : "s");
			else
				printf("  %s -", side_names[k]);
		}
		printf("\n");
	}
	if (status)
		printf("\nFAILED: results differ between sides or a program could not run\n");
	return status;
}
