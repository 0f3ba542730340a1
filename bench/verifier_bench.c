/* SPDX-License-Identifier: MIT */
/* bench/verifier_bench.c: how long our verifier takes next to the kernel's
 * BPF_PROG_LOAD on the same programs: the bench programs' XDP entries
 * (clang-compiled packet parsers, the largest programs we have) and a
 * 4,000-iteration bounded loop (a kprobe program).  Prints the median of
 * several loads per side and the ratio.  --quick: one load each and a check
 * that ours accepts them all; the kernel side is skipped without bpf().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>

static const char *const progs[] = { "crc32", "hash64", "primes", "memops", "parser", "helpers" };

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* one load by our verifier; ns, or 0 with the message printed */
static uint64_t ours(uint32_t type, const struct bpf_insn *insns, size_t cnt, const char *name)
{
	struct bpftime_verifier_ops ops;
	struct bpftime_vm *vm;
	uint64_t t0, t1;
	int err;

	bpftime_verifier_ops__init(&ops, type, 0);
	ops.gpl_compatible = true; /* the kernel loads them as GPL too */
	BPFTIME_OPTS(bpftime_vm_opts, o, .name = name, .verifier = &ops);
	t0 = now_ns();
	vm = bpftime_vm__new(&o);
	if (!vm || bpftime_helpers__register(vm))
		return 0;
	err = bpftime_vm__load(vm, (const struct bpftime_insn *)(const void *)insns, cnt);
	t1 = now_ns();
	if (err)
		fprintf(stderr, "%s: our verifier refuses it: %s\n", name,
			bpftime_vm__last_error(vm));
	bpftime_vm__free(vm);
	return err ? 0 : t1 - t0;
}

/* one BPF_PROG_LOAD; ns, 0 when the kernel cannot be asked or refuses */
static uint64_t kernel(uint32_t type, const struct bpf_insn *insns, size_t cnt)
{
	uint64_t t0 = now_ns(), t1;
	int fd = bpf_prog_load(type, "vbench", "GPL", insns, cnt, NULL);

	t1 = now_ns();
	if (fd < 0)
		return 0;
	close(fd);
	return t1 - t0;
}

static void row(const char *name, uint32_t type, const struct bpf_insn *insns, size_t cnt, int reps,
		int *fails)
{
	uint64_t o[64], k[64];
	int no = 0, nk = 0;

	for (int i = 0; i < reps; i++) {
		uint64_t a = ours(type, insns, cnt, name), b = kernel(type, insns, cnt);

		if (a)
			o[no++] = a;
		if (b)
			k[nk++] = b;
	}
	if (!no)
		(*fails)++;
	qsort(o, (size_t)no, sizeof(o[0]), cmp_u64);
	qsort(k, (size_t)nk, sizeof(k[0]), cmp_u64);
	printf("%-10s %6zu %12.1f", name, cnt, no ? o[no / 2] / 1000.0 : -1.0);
	if (nk)
		printf(" %12.1f %8.2f\n", k[nk / 2] / 1000.0,
		       no ? (double)o[no / 2] / (double)k[nk / 2] : 0);
	else
		printf(" %12s %8s\n", "n/a", "");
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	int reps = quick ? 1 : 21, fails = 0;
	struct bpf_insn loop[] = {
		/* r0 = 0; r1 = 0; do { r0 += r1; r1 += 1; } while (r1 < 4000); exit */
		{ .code = 0xb7, .dst_reg = 0 },
		{ .code = 0xb7, .dst_reg = 1 },
		{ .code = 0x0f, .dst_reg = 0, .src_reg = 1 },
		{ .code = 0x07, .dst_reg = 1, .imm = 1 },
		{ .code = 0xa5, .dst_reg = 1, .off = -3, .imm = 4000 },
		{ .code = 0x95 },
	};

	libbpf_set_print(NULL);
	printf("verification time, median of %d loads (us)\n", reps);
	printf("%-10s %6s %12s %12s %8s\n", "program", "insns", "bpftime", "kernel", "ratio");
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char path[512];
		struct bpf_object *obj;
		struct bpf_program *p;

		snprintf(path, sizeof(path), "%s/%s.bpf.o", BENCH_PROG_DIR, progs[i]);
		obj = bpf_object__open_file(path, NULL);
		if (!obj) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			fails++;
			continue;
		}
		p = bpf_object__find_program_by_name(obj, "bench_xdp");
		if (p)
			row(progs[i], BPF_PROG_TYPE_XDP, bpf_program__insns(p),
			    bpf_program__insn_cnt(p), reps, &fails);
		bpf_object__close(obj);
	}
	row("loop4000", BPF_PROG_TYPE_KPROBE, loop, sizeof(loop) / sizeof(loop[0]), reps, &fails);
	return fails ? 1 : 0;
}
