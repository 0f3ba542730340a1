/* SPDX-License-Identifier: MIT */
/* tests/fuzz/progen.h: random VALID eBPF programs for differential testing
 * of the engines (interpreter, x86-64 JIT, LLVM, ...).
 *
 * A program is a pure function of its seed.  It uses every instruction class
 * (ALU/ALU64 incl. v4 sdiv/smod/movsx, END/bswap, lddw, loads incl. sign-
 * extending ones, stores, all atomics, JMP/JMP32 forward branches, gotol,
 * bounded loops, helper calls, bpf-to-bpf calls, callx, callbacks through a
 * bpf_loop-like helper) and is written so that its result does not depend
 * on anything an engine may legitimately do differently:
 *   - r9 holds the context pointer and r10 the frame pointer; neither is ever
 *     an ALU operand, so no address leaks into a result;
 *   - every register is written before it is read, and r1..r5 are written
 *     again after every call (the ABI leaves them undefined);
 *   - stack and context accesses stay inside windows that are initialised
 *     first; atomics are naturally aligned;
 *   - branches go forward inside their segment, loops run 1..4 times, calls
 *     go to higher-numbered subprograms only.
 * Before exit, main dumps r0..r8 and its stack windows into the context, so
 * comparing r0 and the context buffer compares the whole visible state.
 */
#ifndef BPFTIME_TESTS_FUZZ_PROGEN_H
#define BPFTIME_TESTS_FUZZ_PROGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/vm.h>

#define PROGEN_CTX_SIZE 288 /* bytes of context memory a program expects */

/* helper ids the programs call; progen_register_helpers() binds them */
#define PROGEN_HELPER_MIX   200 /* mixes r1..r5 into r0 */
#define PROGEN_HELPER_STORE 201 /* *(u64 *)r1 = r2 ^ const; returns r2 * 3 */
#define PROGEN_HELPER_LOOP  202 /* bpf_loop-like: calls function value r1 r2 times */

struct progen_opts {
	size_t max_items; /* random items per function (default 40) */
	bool no_calls;	  /* no helpers, subprograms or callx */
};

struct progen_prog {
	struct bpftime_insn *insns;
	size_t cnt;
	uint8_t ctx[PROGEN_CTX_SIZE]; /* initial context contents */
};

/* Generates the program of @seed.  Returns 0 or -ENOMEM. */
int progen_generate(uint64_t seed, const struct progen_opts *opts, struct progen_prog *prog);
void progen_free(struct progen_prog *prog);

/* Registers the PROGEN_HELPER_* helpers.  Returns 0 or a negative errno. */
int progen_register_helpers(struct bpftime_vm *vm);

/* Result of one run */
struct progen_result {
	int err; /* load/compile/run error, 0 if it ran */
	uint64_t r0;
	uint8_t ctx[PROGEN_CTX_SIZE];
	char msg[256];
};

/* Loads @prog into a fresh VM and runs it on @engine with a copy of its
 * context.  Returns 0 when it ran (result in @res), else a negative errno
 * with res->msg saying which step failed. */
int progen_run(const struct progen_prog *prog, enum bpftime_engine engine,
	       struct progen_result *res);

/* Runs @prog on @a and @b and compares r0 and the context.  Returns 0 if
 * they agree, else -1 with a description in @why. */
int progen_compare(const struct progen_prog *prog, enum bpftime_engine a, enum bpftime_engine b,
		   char *why, size_t why_len);

#endif /* BPFTIME_TESTS_FUZZ_PROGEN_H */
