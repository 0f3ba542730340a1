/* SPDX-License-Identifier: MIT */
/* bench/jit_compile.c: how long the x86-64 JIT takes to compile.
 *
 * Builds a deterministic 1,000-instruction program of the kind clang emits
 * (ALU on registers and immediates, stack loads and stores, forward
 * branches, a loop, helper calls, lddw) and reports the time of
 * vm_jit_compile() per program and per instruction (and with vm_jit_free(),
 * which returns the code to the JIT's arena), as the median of several
 * rounds (CPU time of this thread, so a busy machine does not inflate it).
 * Also the load time (verify + resolve + interpreter decoding) for
 * comparison.
 *
 *   jit_compile [--insns N] [--rounds N] [--quick]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpftime/vm.h>
#include "vm/jit.h"
#include "vm/test_insn.h"

static uint64_t helper(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a ^ b ^ c ^ d ^ e;
}

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* n instructions (n >= 64), ending in exit */
static struct bpftime_insn *build(size_t n)
{
	struct bpftime_insn *p = calloc(n, sizeof(*p));
	size_t i = 0;
	uint32_t x = 12345;

	if (!p)
		return NULL;
	p[i++] = BPF_MOV64_IMM(0, 0);
	for (int r = 1; r <= 9; r++)
		p[i++] = BPF_MOV64_IMM(r, r * 3);
	p[i++] = BPF_MOV64_IMM(8, 4); /* loop counter */
	for (int o = 1; o <= 32; o++) /* every slot read below is written first */
		p[i++] = BPF_ST_MEM(BPF_DW, 10, -8 * o, o);
	size_t head = i, wide_ok = i;

	while (i < n - 6) {
		uint8_t d = (uint8_t)(x % 8), s = (uint8_t)((x / 8) % 8);

		x = x * 1103515245 + 12345;
		switch ((x >> 16) % 12) {
		case 0:
			p[i++] = BPF_ALU64_REG(BPF_ADD, d, s);
			break;
		case 1:
			p[i++] = BPF_ALU64_IMM(BPF_XOR, d, (int32_t)x);
			break;
		case 2:
			p[i++] = BPF_ALU32_IMM(BPF_LSH, d, x % 32);
			break;
		case 3:
			p[i++] = BPF_ALU64_REG(BPF_MUL, d, s);
			break;
		case 4:
			p[i++] = BPF_STX_MEM(BPF_DW, 10, s, -8 * (int)(1 + x % 32));
			break;
		case 5:
			p[i++] = BPF_LDX_MEM(BPF_W, d, 10, -8 * (int)(1 + x % 32));
			break;
		case 6: /* forward branch over up to 3 instructions */
			p[i++] = BPF_JMP_IMM(BPF_JGT, d, (int32_t)(x % 100), (int)(x % 4));
			wide_ok = i + 4; /* never land inside an lddw */
			break;
		case 7:
			p[i++] = BPF_ALU32_REG(BPF_SUB, d, s);
			break;
		case 8:
			if (i + 2 < n - 6 && i >= wide_ok) {
				struct bpftime_insn ld[] = { BPF_LD_IMM64(d, 0x123456789ull * x) };

				p[i++] = ld[0];
				p[i++] = ld[1];
			}
			break;
		case 9:
			p[i++] = BPF_JMP32_REG(BPF_JNE, d, s, (int)(x % 3));
			wide_ok = i + 4;
			break;
		case 10: /* a helper call; r1-r5 are undefined after it: set them */
			if (x % 8 || i + 6 >= n - 6) {
				p[i++] = BPF_ALU64_IMM(BPF_AND, d, 0xffff);
				break;
			}
			p[i++] = BPF_CALL_HELPER(1);
			for (int r = 1; r <= 5; r++)
				p[i++] = BPF_MOV64_IMM(r, r);
			break;
		default:
			p[i++] = BPF_MOV64_REG(d, s);
			break;
		}
	}
	/* branches above may reach at most 3 ahead: pad the tail with plain ALU */
	while (i < n - 3)
		p[i++] = BPF_ALU64_IMM(BPF_ADD, 0, 1);
	p[i++] = BPF_ALU64_IMM(BPF_SUB, 8, 1);
	p[i] = BPF_JMP_IMM(BPF_JNE, 8, 0, (int)head - (int)i - 1);
	i++;
	p[i++] = BPF_EXIT_INSN();
	return p;
}

int main(int argc, char **argv)
{
	size_t n = 1000, rounds = 21, iters = 2000;
	struct bpftime_insn *prog;
	struct bpftime_vm *vm;
	double *jit, *load, *with_free;
	uint64_t r_int = 0, r_jit = 0;
	uint8_t mem[64] = { 0 };
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--insns") && i + 1 < argc) {
			n = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--quick")) {
			rounds = 1;
			iters = 10;
		} else {
			fprintf(stderr, "usage: %s [--insns N] [--rounds N] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (n < 64 || !rounds) {
		fprintf(stderr, "jit_compile: need --insns >= 64 and --rounds >= 1\n");
		return 2;
	}
	prog = build(n);
	jit = calloc(rounds, sizeof(*jit));
	load = calloc(rounds, sizeof(*load));
	with_free = calloc(rounds, sizeof(*with_free));
	if (!prog || !jit || !load || !with_free)
		return 1;
	vm = bpftime_vm__new(NULL);
	if (!vm || bpftime_vm__register_helper(vm, 1, "h", helper) ||
	    bpftime_vm__load(vm, prog, n)) {
		fprintf(stderr, "jit_compile: load: %s\n", vm ? bpftime_vm__last_error(vm) : "");
		return 1;
	}
	/* the program is real: both engines agree on it */
	bpftime_vm__run(vm, mem, sizeof(mem), &r_int);
	err = bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT);
	if (err || bpftime_vm__run(vm, mem, sizeof(mem), &r_jit) || r_int != r_jit) {
		fprintf(stderr, "jit_compile: jit: %s (r0 0x%llx vs 0x%llx)\n",
			bpftime_vm__last_error(vm), (unsigned long long)r_jit,
			(unsigned long long)r_int);
		return 1;
	}
	for (size_t r = 0; r < rounds; r++) {
		double t0 = cpu_ns(), sum = 0;

		for (size_t k = 0; k < iters; k++) {
			double t1 = cpu_ns();

			if (vm_jit_compile(vm)) {
				fprintf(stderr, "jit_compile: %s\n", bpftime_vm__last_error(vm));
				return 1;
			}
			sum += cpu_ns() - t1;
			vm_jit_free(vm);
		}
		jit[r] = sum / (double)iters;
		with_free[r] = (cpu_ns() - t0) / (double)iters;
		t0 = cpu_ns();
		for (size_t k = 0; k < iters / 10 + 1; k++) {
			struct bpftime_vm *v = bpftime_vm__new(NULL);

			if (!v || bpftime_vm__register_helper(v, 1, "h", helper) ||
			    bpftime_vm__load(v, prog, n))
				return 1;
			bpftime_vm__free(v);
		}
		load[r] = (cpu_ns() - t0) / (double)(iters / 10 + 1);
	}
	qsort(jit, rounds, sizeof(*jit), cmp_double);
	qsort(load, rounds, sizeof(*load), cmp_double);
	qsort(with_free, rounds, sizeof(*with_free), cmp_double);
	if (vm_jit_compile(vm))
		return 1;
	printf("jit compile: %zu instructions -> %zu bytes of code mapped\n", n, vm_jit_size(vm));
	printf("  compile:        %8.0f ns  (%.1f ns per instruction)  median of %zu rounds\n",
	       jit[rounds / 2], jit[rounds / 2] / (double)n, rounds);
	printf("  compile + free: %8.0f ns  (the free returns the code to the arena)\n",
	       with_free[rounds / 2]);
	printf("  load (verify, resolve, decode) for comparison: %8.0f ns\n", load[rounds / 2]);
	bpftime_vm__free(vm);
	free(prog);
	free(jit);
	free(load);
	free(with_free);
	return 0;
}
