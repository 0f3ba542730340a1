/* SPDX-License-Identifier: MIT */
/* bench/kshare_bench.c: what a map access costs a userspace program when the
 * map lives in the kernel (kernel-shared mode, maps/kernel.c), next to the
 * same access on our own maps (the segment) and in the kernel itself (the
 * same instructions as an XDP program run by BPF_PROG_TEST_RUN with repeat).
 *
 *   kshare_bench [--quick] [--reps N]
 *
 * Every program does the operation K = 32 times, unrolled; an empty program
 * gives each side's per-run overhead: ns/op = (run - empty) / K.  Each figure
 * is the best of --reps measurements (default 21) of about 1 ms each.  The
 * kernel-shared array is mapped (BPF_F_MMAPABLE): a lookup is an address, as
 * in the kernel.  The kernel-shared hash and per-CPU maps copy the value with
 * one bpf(2) per lookup; a lookup whose value the program changes costs a
 * second call at the end of the run (the write-back; per-CPU maps a third:
 * the other CPUs' values are read again).  --quick: one short round, checks
 * that every side runs (exit 1 if the kernel-shared side cannot).  Needs
 * root and a usable bpf(2) for the kernel and kernel-shared columns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/kernel.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "segment.h"

#define INSN(CODE, DST, SRC, OFF, IMM) \
	((struct bpftime_insn){        \
		.code = (CODE), .dst = (DST), .src = (SRC), .off = (OFF), .imm = (IMM) })
#define K	  32
#define MAX_INSNS (K * 16 + 16)
#define MAX_REPS  101

enum op { OP_EMPTY, OP_LOOKUP, OP_LOOKUP_INC, OP_UPDATE };

static const struct bench {
	const char *name;
	uint32_t type;
	enum op op;
} benches[] = {
	{ "empty program (per-run overhead)", 0, OP_EMPTY },
	{ "array lookup", BPF_MAP_TYPE_ARRAY, OP_LOOKUP },
	{ "array lookup + atomic add", BPF_MAP_TYPE_ARRAY, OP_LOOKUP_INC },
	{ "array update", BPF_MAP_TYPE_ARRAY, OP_UPDATE },
	{ "hash lookup (hit)", BPF_MAP_TYPE_HASH, OP_LOOKUP },
	{ "hash lookup + add", BPF_MAP_TYPE_HASH, OP_LOOKUP_INC },
	{ "hash update", BPF_MAP_TYPE_HASH, OP_UPDATE },
	{ "percpu array lookup", BPF_MAP_TYPE_PERCPU_ARRAY, OP_LOOKUP },
	{ "percpu hash lookup", BPF_MAP_TYPE_PERCPU_HASH, OP_LOOKUP },
};

enum side { OURS, SHARED, KERNEL, NSIDES };
static const char *const side_names[NSIDES] = { "segment", "kernel-shared", "kernel" };

static struct bpftime_shm *shm;
static struct bpftime_runtime *rt;
static uint8_t pkt[64];
static int reps = 21;

static size_t gen(enum op op, int map_fd, struct bpftime_insn *p)
{
	size_t n = 0;

	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 1); /* key 1 */
	p[n++] = INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -16, 42);
	for (int i = 0; i < K && op != OP_EMPTY; i++) {
		p[n++] = INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd);
		p[n++] = INSN(0, 0, 0, 0, 0);
		p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0);
		p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4);
		if (op == OP_UPDATE) {
			p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0);
			p[n++] = INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -16);
			p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0);
			p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_update_elem);
			continue;
		}
		p[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
		if (op == OP_LOOKUP_INC) {
			p[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0);
			p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1);
			p[n++] = INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD);
		}
	}
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 2); /* XDP_PASS */
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per run of @prog on side @s, best of reps; < 0: cannot run */
static double measure(enum side s, int prog)
{
	double best = -1;
	uint64_t n = 64, r0;

	for (int rep = 0; rep < reps; rep++) {
		double t;

		if (s == KERNEL) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt,
				    .data_size_in = sizeof(pkt), .repeat = (int)n);

			if (bpf_prog_test_run_opts(prog, &o))
				return -1;
			t = o.duration;
		} else {
			double t0 = now_ns();

			for (uint64_t i = 0; i < n; i++)
				if (bpftime_runtime__run(rt, prog, pkt, sizeof(pkt), &r0))
					return -1;
			t = (now_ns() - t0) / (double)n;
		}
		if (best < 0 || t < best)
			best = t;
		/* about 1 ms per measurement */
		if (rep == 0 && t > 0 && t * (double)n < 1e6)
			n = (uint64_t)(1e6 / t) + 1;
	}
	return best;
}

/* the map and program of @b on side @s; the program's fd or -1 */
static int setup(enum side s, const struct bench *b, char *why, size_t len)
{
	struct bpftime_insn insns[MAX_INSNS];
	int ncpus = libbpf_num_possible_cpus(), map = -1, prog;
	uint64_t *val = calloc((size_t)ncpus, 8);
	uint32_t key = 1;
	size_t cnt;

	if (b->type) {
		BPFTIME_OPTS(bpftime_map_create_opts, o, .kernel = s == SHARED);

		if (s == KERNEL)
			map = bpf_map_create(b->type, "bench", 4, 8, 1024, NULL);
		else
			map = bpftime_map_create(shm, -1, (enum bpftime_map_type)b->type, "bench",
						 4, 8, 1024, &o);
		if (map < 0) {
			snprintf(why, len, "map: %s", strerror(errno));
			free(val);
			return -1;
		}
		if (s == KERNEL)
			bpf_map_update_elem(map, &key, val, 0);
		else
			bpftime_map_update_elem(shm, map, &key, val, 0);
	}
	free(val);
	cnt = gen(b->op, map, insns);
	if (s == KERNEL) {
		prog = bpf_prog_load(BPF_PROG_TYPE_XDP, "bench", "GPL",
				     (const struct bpf_insn *)insns, cnt, NULL);
	} else {
		prog = bpftime_prog_create(shm, -1, BPF_PROG_TYPE_XDP, "bench", insns, cnt, NULL);
		if (prog >= 0 && !bpftime_runtime__prog(rt, prog))
			prog = -1;
	}
	if (prog < 0)
		snprintf(why, len, "program: %s", strerror(errno));
	return prog;
}

int main(int argc, char **argv)
{
	double empty[NSIDES] = { 0 };
	bool quick = false, kernel_ok;
	char name[64], why[160];
	int failed = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = true;
			reps = 1;
		} else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
			reps = atoi(argv[++i]);
			if (reps < 1 || reps > MAX_REPS)
				reps = 21;
		} else {
			fprintf(stderr, "usage: kshare_bench [--quick] [--reps N]\n");
			return 2;
		}
	}
	kernel_ok = !bpftime_kernel_probe();
	snprintf(name, sizeof(name), "bpftime_kshare_bench_%d", getpid());
	bpftime_shm__remove(name);
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = name, .size_mb = 64, .max_fd = 1024);
	shm = bpftime_shm__create(&so);
	if (!shm) {
		perror("kshare_bench: segment");
		return 1;
	}
	bench_remove_segment_at_exit(name);
	BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_JIT, .engine_set = true,
		     .no_fallback = true);
	rt = bpftime_runtime__new(shm, &ro);
	if (!rt) {
		perror("kshare_bench: runtime");
		return 1;
	}
	printf("kshare_bench: ns per operation inside a program (JIT for userspace; best of %d; "
	       "K = %d per run)%s\n",
	       reps, K, kernel_ok ? "" : "; no usable bpf(2): kernel columns skipped");
	printf("%-34s %14s %14s %14s\n", "", side_names[OURS], side_names[SHARED],
	       side_names[KERNEL]);
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		const struct bench *b = &benches[i];

		printf("%-34s", b->name);
		for (int s = 0; s < NSIDES; s++) {
			double t;
			int prog;

			if (s != OURS && !kernel_ok) {
				printf(" %14s", "-");
				continue;
			}
			prog = setup((enum side)s, b, why, sizeof(why));
			t = prog >= 0 ? measure((enum side)s, prog) : -1;
			if (s == KERNEL && prog >= 0)
				close(prog);
			if (t < 0) {
				printf(" %14s", "fails");
				fprintf(stderr, "\n%s, %s: %s\n", b->name, side_names[s],
					prog < 0 ? why : "run failed");
				failed = 1;
				continue;
			}
			if (b->op == OP_EMPTY) {
				empty[s] = t;
				printf(" %11.1f ns", t);
			} else {
				printf(" %11.1f ns",
				       (t - empty[s]) / K > 0 ? (t - empty[s]) / K : 0);
			}
		}
		printf("\n");
		fflush(stdout);
	}
	if (quick)
		printf("kshare_bench: --quick: every side ran%s\n",
		       failed ? " (except above)" : "");
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	return failed;
}
