/* SPDX-License-Identifier: MIT */
/* bench/map_bench.c: map operation costs.
 *
 *  control plane: our C API (bpftime_map_lookup_elem/update/delete, by fd)
 *                 versus the kernel's bpf(2) on the same kind of map;
 *  in program:    our in-program entry points (bpftime_map__lookup_elem...,
 *                 a direct call, what a helper does) versus the kernel's
 *                 bpf_map_lookup_elem inside a program (a bounded loop of
 *                 lookups run with BPF_PROG_TEST_RUN, divided per lookup).
 *
 * Prints ns/op (median of 5 runs) and the kernel/bpftime ratio.  --quick
 * only checks that everything runs (CTest); it never asserts on timing.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "segment.h"

#define ENTRIES 1024
#define RUNS	5

static int iters = 200000;
static struct bpftime_shm *shm;
static char shm_name[64];

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum op { OP_LOOKUP, OP_UPDATE, OP_DELETE_INSERT };
static const char *op_names[] = { "lookup", "update", "delete+insert" };

/* ns per operation; delete+insert counts the pair as one op */
static double run_ops(bool kernel, int fd, enum op op, uint32_t vsize)
{
	char value[4096] = { 1 };
	double t[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (int i = 0; i < iters; i++) {
			uint64_t k = (uint64_t)(i & (ENTRIES - 1));
			uint32_t k32 = (uint32_t)k;
			void *key = vsize ? (void *)&k : (void *)&k32;
			int err = 0;

			switch (op) {
			case OP_LOOKUP:
				err = kernel ? bpf_map_lookup_elem(fd, key, value)
					     : bpftime_map_lookup_elem(shm, fd, key, value, 0);
				break;
			case OP_UPDATE:
				err = kernel ? bpf_map_update_elem(fd, key, value, 0)
					     : bpftime_map_update_elem(shm, fd, key, value, 0);
				break;
			case OP_DELETE_INSERT:
				err = kernel ? bpf_map_delete_elem(fd, key)
					     : bpftime_map_delete_elem(shm, fd, key);
				if (err == -ENOENT) /* an LRU map may have evicted it */
					err = 0;
				if (!err)
					err = kernel ? bpf_map_update_elem(fd, key, value, 0)
						     : bpftime_map_update_elem(shm, fd, key, value,
									       0);
				break;
			}
			if (err) {
				fprintf(stderr, "%s %s failed: %d\n", kernel ? "kernel" : "bpftime",
					op_names[op], err);
				exit(1);
			}
		}
		t[r] = (now_ns() - t0) / iters;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_d);
	return t[RUNS / 2];
}

/* value size of the control-plane maps (--value-size N); the in-program
 * part keeps 8-byte values */
static uint32_t cp_vsize = 8;

/* key_size 8 for hashes (vsize flag), 4 for arrays */
static void control_plane(void)
{
	static const struct {
		const char *name;
		enum bpf_map_type type;
		uint32_t ks;
	} maps[] = {
		{ "hash", BPF_MAP_TYPE_HASH, 8 },
		{ "array", BPF_MAP_TYPE_ARRAY, 4 },
		{ "percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY, 4 },
		{ "lru_hash", BPF_MAP_TYPE_LRU_HASH, 8 },
	};
	char value[4096] = { 0 };

	printf("control plane (ns/op, median of %d x %d ops, %u-byte values)\n", RUNS, iters,
	       cp_vsize);
	printf("  %-14s %-14s %10s %10s %8s\n", "map", "op", "bpftime", "kernel", "ratio");
	for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
		int kfd = bpf_map_create(maps[m].type, "b", maps[m].ks, cp_vsize, ENTRIES, NULL);
		int ufd = bpftime_map_create(shm, -1, (enum bpftime_map_type)maps[m].type, "b",
					     maps[m].ks, cp_vsize, ENTRIES, NULL);
		bool is_hash = maps[m].ks == 8;

		if (ufd < 0) {
			fprintf(stderr, "bpftime map create failed: %d\n", ufd);
			exit(1);
		}
		for (uint64_t k = 0; k < ENTRIES; k++) {
			uint32_t k32 = (uint32_t)k;
			void *key = is_hash ? (void *)&k : (void *)&k32;

			if (kfd >= 0)
				bpf_map_update_elem(kfd, key, value, 0);
			bpftime_map_update_elem(shm, ufd, key, value, 0);
		}
		for (int op = 0; op < 3; op++) {
			double u, k = 0;

			if (op == OP_DELETE_INSERT && !is_hash)
				continue;
			u = run_ops(false, ufd, op, is_hash);
			if (kfd >= 0)
				k = run_ops(true, kfd, op, is_hash);
			if (kfd >= 0)
				printf("  %-14s %-14s %10.1f %10.1f %7.1fx\n", maps[m].name,
				       op_names[op], u, k, k / u);
			else
				printf("  %-14s %-14s %10.1f %10s %8s\n", maps[m].name,
				       op_names[op], u, "n/a", "");
		}
		if (kfd >= 0)
			close(kfd);
	}
}

/* ---- in program ------------------------------------------------------- */

#define LOOP 1000

/* r6 = 0; loop: r7 = r6 & (ENTRIES-1); *(u64 *)(r10 - 8) = r7; r1 = map;
 * r2 = r10 - 8; call lookup; r6 += 1; if r6 < LOOP goto loop; r0 = 0; exit */
static int kernel_lookup_prog(int map_fd, bool key32)
{
	struct bpf_insn p[] = {
		{ .code = 0xb7, .dst_reg = 6, .imm = 0 },
		{ .code = 0xbf, .dst_reg = 7, .src_reg = 6 },
		{ .code = 0x57, .dst_reg = 7, .imm = ENTRIES - 1 },
		{ .code = (uint8_t)(key32 ? 0x63 : 0x7b), .dst_reg = 10, .src_reg = 7, .off = -8 },
		{ .code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ .code = 0 },
		{ .code = 0xbf, .dst_reg = 2, .src_reg = 10 },
		{ .code = 0x07, .dst_reg = 2, .imm = -8 },
		{ .code = 0x85, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = 0x07, .dst_reg = 6, .imm = 1 },
		{ .code = 0xa5, .dst_reg = 6, .off = -10, .imm = LOOP },
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 },
		{ .code = 0x95 },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o);

	return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "lk", "GPL", p, sizeof(p) / sizeof(p[0]),
			     &o);
}

/* the same loop with bpf_map_update_elem(map, &key, &value = key, BPF_ANY) */
static int kernel_update_prog(int map_fd, bool key32)
{
	struct bpf_insn p[] = {
		{ .code = 0xb7, .dst_reg = 6, .imm = 0 },
		{ .code = 0xbf, .dst_reg = 7, .src_reg = 6 },
		{ .code = 0x57, .dst_reg = 7, .imm = ENTRIES - 1 },
		{ .code = (uint8_t)(key32 ? 0x63 : 0x7b), .dst_reg = 10, .src_reg = 7, .off = -8 },
		{ .code = 0x7b, .dst_reg = 10, .src_reg = 7, .off = -16 },
		{ .code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ .code = 0 },
		{ .code = 0xbf, .dst_reg = 2, .src_reg = 10 },
		{ .code = 0x07, .dst_reg = 2, .imm = -8 },
		{ .code = 0xbf, .dst_reg = 3, .src_reg = 10 },
		{ .code = 0x07, .dst_reg = 3, .imm = -16 },
		{ .code = 0xb7, .dst_reg = 4, .imm = 0 },
		{ .code = 0x85, .imm = BPF_FUNC_map_update_elem },
		{ .code = 0x07, .dst_reg = 6, .imm = 1 },
		{ .code = 0xa5, .dst_reg = 6, .off = -14, .imm = LOOP },
		{ .code = 0xb7, .dst_reg = 0, .imm = 0 },
		{ .code = 0x95 },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o);

	return bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "up", "GPL", p, sizeof(p) / sizeof(p[0]),
			     &o);
}

static double kernel_in_prog(int prog)
{
	char data[64] = { 0 };
	double t[RUNS];
	int reps = iters / LOOP > 10 ? iters / LOOP : 10;

	for (int r = 0; r < RUNS; r++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = sizeof(data),
			    .repeat = reps);

		if (bpf_prog_test_run_opts(prog, &o))
			return -1;
		t[r] = (double)o.duration / LOOP; /* duration: ns per run */
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_d);
	return t[RUNS / 2];
}

static volatile uint64_t sink;

/* the consumer page of the ring buffer being measured (what == 2): a
 * consumer that keeps up, as libbpf's would, by jumping to the producer */
static volatile uint64_t *rb_cons, *rb_prod;

static double our_in_prog(struct bpftime_map *h, bool key32, int what)
{
	double t[RUNS];
	char rec[64] = { 0 };

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (int i = 0; i < iters; i++) {
			uint64_t k = (uint64_t)(i & (ENTRIES - 1));
			uint32_t k32 = (uint32_t)k;
			void *key = key32 ? (void *)&k32 : (void *)&k;

			if (what == 0) {
				sink += (uintptr_t)bpftime_map__lookup_elem(h, key);
			} else if (what == 1) {
				sink += (uint64_t)bpftime_map__update_elem(h, key, rec, 0);
			} else {
				sink += (uint64_t)bpftime_map__ringbuf_output(h, rec, sizeof(rec),
									      BPFTIME_RB_NO_WAKEUP);
				if (!(i & 255))
					*rb_cons = *rb_prod;
			}
		}
		t[r] = (now_ns() - t0) / iters;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_d);
	return t[RUNS / 2];
}

static void in_program(void)
{
	static const struct {
		const char *name;
		enum bpf_map_type type;
		uint32_t ks;
	} maps[] = {
		{ "hash", BPF_MAP_TYPE_HASH, 8 },
		{ "array", BPF_MAP_TYPE_ARRAY, 4 },
		{ "percpu_array", BPF_MAP_TYPE_PERCPU_ARRAY, 4 },
		{ "percpu_hash", BPF_MAP_TYPE_PERCPU_HASH, 8 },
		{ "lru_hash", BPF_MAP_TYPE_LRU_HASH, 8 },
	};
	char value[4096] = { 0 };

	printf("in program (ns/op; bpftime: direct call of the helper body; kernel: the helper "
	       "in a BPF_PROG_TEST_RUN loop)\n");
	printf("  %-14s %-14s %10s %10s %8s\n", "map", "op", "bpftime", "kernel", "ratio");
	for (size_t m = 0; m < sizeof(maps) / sizeof(maps[0]); m++) {
		int kfd = bpf_map_create(maps[m].type, "b", maps[m].ks, 8, ENTRIES, NULL);
		int ufd = bpftime_map_create(shm, -1, (enum bpftime_map_type)maps[m].type, "b",
					     maps[m].ks, 8, ENTRIES, NULL);
		struct bpftime_map *h = bpftime_map_get_handle(shm, ufd);
		bool key32 = maps[m].ks == 4;
		int prog = -1;
		double u, k = -1;

		for (uint64_t i = 0; i < ENTRIES; i++) {
			uint32_t k32 = (uint32_t)i;
			void *key = key32 ? (void *)&k32 : (void *)&i;

			if (kfd >= 0)
				bpf_map_update_elem(kfd, key, value, 0);
			bpftime_map__update_elem(h, key, value, 0);
		}
		if (kfd >= 0)
			prog = kernel_lookup_prog(kfd, key32);
		u = our_in_prog(h, key32, 0);
		if (prog >= 0)
			k = kernel_in_prog(prog);
		if (k > 0)
			printf("  %-14s %-14s %10.1f %10.1f %7.2fx\n", maps[m].name, "lookup", u, k,
			       k / u);
		else
			printf("  %-14s %-14s %10.1f %10s\n", maps[m].name, "lookup", u, "n/a");
		if (prog >= 0)
			close(prog);
		prog = kfd >= 0 ? kernel_update_prog(kfd, key32) : -1;
		u = our_in_prog(h, key32, 1);
		k = prog >= 0 ? kernel_in_prog(prog) : -1;
		if (k > 0)
			printf("  %-14s %-14s %10.1f %10.1f %7.2fx\n", maps[m].name, "update", u, k,
			       k / u);
		else
			printf("  %-14s %-14s %10.1f %10s\n", maps[m].name, "update", u, "n/a");
		if (prog >= 0)
			close(prog);
		if (kfd >= 0)
			close(kfd);
	}
	{
		int rfd =
			bpftime_map_create(shm, -1, BPFTIME_MAP_RINGBUF, "rb", 0, 0, 1 << 24, NULL);
		struct bpftime_map *h = bpftime_map_get_handle(shm, rfd);
		uint64_t off;
		size_t len;
		char *p;

		if (!h || bpftime_map_mmap_region(shm, rfd, &off, &len))
			return;
		/* consumer page RW and producer page, as libbpf maps them */
		p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, bpftime_shm__fd(shm),
			 (off_t)off);
		if (p == MAP_FAILED)
			return;
		rb_cons = (volatile uint64_t *)(void *)p;
		rb_prod = (volatile uint64_t *)(void *)(p + 4096);
		printf("  %-14s %-14s %10.1f   (64-byte records, consumer keeping up)\n", "ringbuf",
		       "output", our_in_prog(h, false, 2));
		munmap(p, 8192);
	}
}

static int quiet(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l;
	(void)f;
	(void)ap;
	return 0;
}

int main(int argc, char **argv)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 128, .max_fd = 64);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			iters = 2000;
		} else if (!strcmp(argv[i], "--value-size") && i + 1 < argc &&
			   (cp_vsize = (uint32_t)atoi(argv[++i])) >= 1 && cp_vsize <= 512) {
		} else {
			fprintf(stderr, "usage: map_bench [--quick] [--value-size 1..512]\n");
			return 2;
		}
	}
	libbpf_set_print(quiet);
	snprintf(shm_name, sizeof(shm_name), "bpftime_map_bench_%d", getpid());
	bpftime_shm__remove(shm_name);
	bench_remove_segment_at_exit(shm_name);
	shm = bpftime_shm__create(&o);
	if (!shm) {
		perror("bpftime_shm__create");
		return 1;
	}
	printf("possible CPUs: %d\n", bpftime_shm__ncpus(shm));
	control_plane();
	in_program();
	bpftime_shm__close(shm);
	return 0;
}
