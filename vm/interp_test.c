/* SPDX-License-Identifier: MIT */
/* vm/interp_test.c: the interpreter's semantics beyond the conformance
 * vectors: division by a register zero, INT_MIN / -1, shift masking, v4
 * instructions, atomics, helper dispatch, bpf-to-bpf calls with their own
 * frames and the depth limit, callx and function values, bpftime_vm__call_func,
 * tail calls (incl. the limit of 33), every lddw pseudo source through the
 * resolver, and the bounds-checked mode.  Built twice: computed goto and
 * -DBPFTIME_VM_SWITCH=1 (interp_switch_test). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "vm/internal.h"
#include "vm/test_insn.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define PROG(...)                                     \
	(const struct bpftime_insn[]){ __VA_ARGS__ }, \
		N(((const struct bpftime_insn[]){ __VA_ARGS__ }))

static struct bpftime_vm *load_opts(const struct bpftime_insn *insns, size_t cnt,
				    const struct bpftime_vm_opts *opts)
{
	struct bpftime_vm *vm = bpftime_vm__new(opts);
	int err;

	assert_non_null(vm);
	err = bpftime_vm__load(vm, insns, cnt);
	if (err)
		fail_msg("load failed: %d %s", err, bpftime_vm__last_error(vm));
	return vm;
}

/* Loads, runs once on mem, frees; returns r0. */
static uint64_t run_mem(const struct bpftime_insn *insns, size_t cnt, void *mem, size_t len)
{
	struct bpftime_vm *vm = load_opts(insns, cnt, NULL);
	uint64_t r0 = 0xdead;

	assert_int_equal(bpftime_vm__run(vm, mem, len, &r0), 0);
	bpftime_vm__free(vm);
	return r0;
}

static uint64_t run(const struct bpftime_insn *insns, size_t cnt)
{
	return run_mem(insns, cnt, NULL, 0);
}

#define RUN(...) run(PROG(__VA_ARGS__))

static void test_alu(void **state)
{
	(void)state;
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 6), BPF_ALU64_IMM(BPF_MUL, 0, 7), BPF_EXIT_INSN()),
			 42);
	/* 32-bit results zero-extend; imm sign-extends in 64-bit ops */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -1), BPF_ALU32_IMM(BPF_ADD, 0, 0), BPF_EXIT_INSN()),
			 0xffffffffu);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -1), BPF_EXIT_INSN()), UINT64_MAX);
	assert_int_equal(RUN(BPF_MOV32_IMM(0, -1), BPF_EXIT_INSN()), 0xffffffffu);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x123456789abcdef0), BPF_NEG32(0), BPF_EXIT_INSN()),
			 (uint32_t)-0x9abcdef0u);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 5), BPF_NEG64(0), BPF_EXIT_INSN()), (uint64_t)-5);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0xffffffff00000003), BPF_ALU64_IMM(BPF_AND, 0, -2),
			     BPF_ALU64_IMM(BPF_XOR, 0, 1), BPF_ALU64_IMM(BPF_OR, 0, 8),
			     BPF_EXIT_INSN()),
			 0xffffffff0000000bu);
	/* div64 by an immediate is unsigned against the sign-extended imm */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -1), BPF_ALU64_IMM(BPF_DIV, 0, -1), BPF_EXIT_INSN()),
			 1);
}

static void test_div_mod_by_zero_reg(void **state)
{
	(void)state;
	/* div by zero: 0; mod by zero: dst unchanged; 32-bit forms zero-extend */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 10), BPF_MOV64_IMM(1, 0),
			     BPF_ALU64_REG(BPF_DIV, 0, 1), BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -10), BPF_MOV64_IMM(1, 0),
			     BPF_ALU64_REG(BPF_MOD, 0, 1), BPF_EXIT_INSN()),
			 (uint64_t)-10);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x100000007), BPF_LD_IMM64(1, 0x500000000),
			     BPF_ALU32_REG(BPF_DIV, 0, 1), BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x100000007), BPF_LD_IMM64(1, 0x500000000),
			     BPF_ALU32_REG(BPF_MOD, 0, 1), BPF_EXIT_INSN()),
			 7);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_MOV64_IMM(1, 0), BPF_SDIV64_REG(0, 1),
			     BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_MOV64_IMM(1, 0), BPF_SMOD64_REG(0, 1),
			     BPF_EXIT_INSN()),
			 (uint64_t)-7);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_MOV64_IMM(1, 0), BPF_SDIV32_REG(0, 1),
			     BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_MOV64_IMM(1, 0), BPF_SMOD32_REG(0, 1),
			     BPF_EXIT_INSN()),
			 (uint32_t)-7);
}

static void test_int_min_by_minus_one(void **state)
{
	(void)state;
	assert_int_equal(RUN(BPF_LD_IMM64(0, INT64_MIN), BPF_SDIV64_IMM(0, -1), BPF_EXIT_INSN()),
			 (uint64_t)INT64_MIN);
	assert_int_equal(RUN(BPF_LD_IMM64(0, INT64_MIN), BPF_MOV64_IMM(1, -1), BPF_SDIV64_REG(0, 1),
			     BPF_EXIT_INSN()),
			 (uint64_t)INT64_MIN);
	assert_int_equal(RUN(BPF_LD_IMM64(0, INT64_MIN), BPF_SMOD64_IMM(0, -1), BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_LD_IMM64(0, INT64_MIN), BPF_MOV64_IMM(1, -1), BPF_SMOD64_REG(0, 1),
			     BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_MOV32_IMM(0, INT32_MIN), BPF_SDIV32_IMM(0, -1), BPF_EXIT_INSN()),
			 0x80000000u);
	assert_int_equal(RUN(BPF_MOV32_IMM(0, INT32_MIN), BPF_MOV64_IMM(1, -1),
			     BPF_SDIV32_REG(0, 1), BPF_EXIT_INSN()),
			 0x80000000u);
	assert_int_equal(RUN(BPF_MOV32_IMM(0, INT32_MIN), BPF_SMOD32_IMM(0, -1), BPF_EXIT_INSN()),
			 0);
	/* truncation toward zero, remainder takes the dividend's sign */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_SDIV64_IMM(0, 2), BPF_EXIT_INSN()),
			 (uint64_t)-3);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_SMOD64_IMM(0, 2), BPF_EXIT_INSN()),
			 (uint64_t)-1);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -7), BPF_SMOD32_IMM(0, 2), BPF_EXIT_INSN()),
			 0xffffffffu);
}

static void test_shifts(void **state)
{
	(void)state;
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 1), BPF_MOV64_IMM(1, 65),
			     BPF_ALU64_REG(BPF_LSH, 0, 1), BPF_EXIT_INSN()),
			 2);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 1), BPF_MOV64_IMM(1, 33),
			     BPF_ALU32_REG(BPF_LSH, 0, 1), BPF_EXIT_INSN()),
			 2);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 1), BPF_ALU64_IMM(BPF_LSH, 0, 67), BPF_EXIT_INSN()),
			 8);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -16), BPF_ALU64_IMM(BPF_ARSH, 0, 2), BPF_EXIT_INSN()),
			 (uint64_t)-4);
	assert_int_equal(
		RUN(BPF_MOV64_IMM(0, -16), BPF_ALU32_IMM(BPF_ARSH, 0, 34), BPF_EXIT_INSN()),
		0xfffffffcu);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, -16), BPF_ALU32_IMM(BPF_RSH, 0, 2), BPF_EXIT_INSN()),
			 0x3ffffffcu);
}

static void test_v4_moves_loads_swaps(void **state)
{
	(void)state;
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 0x180), BPF_MOVSX64_REG(0, 1, 8), BPF_EXIT_INSN()),
			 (uint64_t)-128);
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 0x18000), BPF_MOVSX64_REG(0, 1, 16), BPF_EXIT_INSN()),
			 (uint64_t)-32768);
	assert_int_equal(
		RUN(BPF_LD_IMM64(1, 0x180000000), BPF_MOVSX64_REG(0, 1, 32), BPF_EXIT_INSN()),
		(uint64_t)(int64_t)INT32_MIN);
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 0x80), BPF_MOVSX32_REG(0, 1, 8), BPF_EXIT_INSN()),
			 0xffffff80u);
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 0x8000), BPF_MOVSX32_REG(0, 1, 16), BPF_EXIT_INSN()),
			 0xffff8000u);
	/* sign-extending loads from the stack */
	assert_int_equal(RUN(BPF_ST_MEM(BPF_W, 10, -4, 0x80ff80f0), BPF_LDX_MEMSX(BPF_B, 0, 10, -4),
			     BPF_EXIT_INSN()),
			 (uint64_t)-16);
	assert_int_equal(RUN(BPF_ST_MEM(BPF_W, 10, -4, 0x80ff80f0), BPF_LDX_MEMSX(BPF_H, 0, 10, -4),
			     BPF_EXIT_INSN()),
			 (uint64_t)(int16_t)0x80f0);
	assert_int_equal(RUN(BPF_ST_MEM(BPF_W, 10, -4, 0x80ff80f0), BPF_LDX_MEMSX(BPF_W, 0, 10, -4),
			     BPF_EXIT_INSN()),
			 (uint64_t)(int64_t)(int32_t)0x80ff80f0);
	assert_int_equal(RUN(BPF_ST_MEM(BPF_W, 10, -4, 0x80ff80f0), BPF_LDX_MEM(BPF_H, 0, 10, -2),
			     BPF_EXIT_INSN()),
			 0x80ff);
	/* byte order on this little-endian host */
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_ENDIAN(BPF_TO_BE, 0, 16),
			     BPF_EXIT_INSN()),
			 0x8877);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_ENDIAN(BPF_TO_BE, 0, 32),
			     BPF_EXIT_INSN()),
			 0x88776655);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_ENDIAN(BPF_TO_BE, 0, 64),
			     BPF_EXIT_INSN()),
			 0x8877665544332211);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_ENDIAN(BPF_TO_LE, 0, 16),
			     BPF_EXIT_INSN()),
			 0x7788);
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_ENDIAN(BPF_TO_LE, 0, 32),
			     BPF_EXIT_INSN()),
			 0x55667788);
	assert_int_equal(
		RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_BSWAP(0, 32), BPF_EXIT_INSN()),
		0x88776655);
	assert_int_equal(
		RUN(BPF_LD_IMM64(0, 0x1122334455667788), BPF_BSWAP(0, 64), BPF_EXIT_INSN()),
		0x8877665544332211);
}

static void test_jumps(void **state)
{
	(void)state;
	/* JMP32 compares ignore the upper half */
	assert_int_equal(RUN(BPF_LD_IMM64(1, 0x700000005), BPF_MOV64_IMM(0, 1),
			     BPF_JMP32_IMM(BPF_JEQ, 1, 5, 1), BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
			 1);
	assert_int_equal(RUN(BPF_LD_IMM64(1, 0x700000005), BPF_MOV64_IMM(0, 1),
			     BPF_JMP_IMM(BPF_JEQ, 1, 5, 1), BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
			 2);
	/* signed and unsigned views of -1 */
	assert_int_equal(RUN(BPF_MOV64_IMM(1, -1), BPF_MOV64_IMM(0, 1),
			     BPF_JMP_IMM(BPF_JSLT, 1, 0, 1), BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
			 1);
	assert_int_equal(RUN(BPF_MOV64_IMM(1, -1), BPF_MOV64_IMM(0, 1),
			     BPF_JMP_IMM(BPF_JLT, 1, 0, 1), BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
			 2);
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 6), BPF_MOV64_IMM(2, 4), BPF_MOV64_IMM(0, 1),
			     BPF_JMP_REG(BPF_JSET, 1, 2, 1), BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
			 1);
	/* a jump target whose predecessor writes the register it reads must
	 * not take the value forwarded from the path that was not taken */
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 5), BPF_MOV64_IMM(2, 0), BPF_JMP_A(1),
			     BPF_MOV64_IMM(1, 7), BPF_JMP_IMM(BPF_JEQ, 1, 5, 2),
			     BPF_MOV64_IMM(0, 1), BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 2),
			     BPF_EXIT_INSN()),
			 2);
	/* the same for a fused "r3 = r2; r3 += 1" entered by a jump */
	assert_int_equal(RUN(BPF_MOV64_IMM(2, 0), BPF_MOV64_IMM(4, 100), BPF_JMP_A(2),
			     BPF_MOV64_IMM(0, 0), BPF_MOV64_IMM(2, 9), BPF_MOV64_REG(3, 2),
			     BPF_ALU64_IMM(BPF_ADD, 3, 1), BPF_MOV64_REG(0, 3), BPF_EXIT_INSN()),
			 1);
	/* fused moves and operations in all widths, incl. "rD = rA; rD op= rD" */
	assert_int_equal(RUN(BPF_LD_IMM64(1, 0x100000003), BPF_MOV64_REG(2, 1),
			     BPF_ALU64_REG(BPF_ADD, 2, 2), BPF_MOV32_REG(3, 1),
			     BPF_ALU32_IMM(BPF_LSH, 3, 33), BPF_MOV64_REG(0, 2),
			     BPF_ALU64_REG(BPF_SUB, 0, 3), BPF_EXIT_INSN()),
			 0x200000006 - 6);
	/* forwarded operands in every position: r1 = 3; r2 = r1 (src); r2 += r2
	 * (dst and src); r2 = *(u64 *)(r10 - 8) after storing through r2 */
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 3), BPF_MOV64_REG(2, 1), BPF_ALU64_REG(BPF_ADD, 2, 2),
			     BPF_STX_MEM(BPF_DW, 10, 2, -8), BPF_MOV64_REG(3, 10),
			     BPF_LDX_MEM(BPF_DW, 0, 3, -8), BPF_ALU32_REG(BPF_SUB, 0, 1),
			     BPF_JMP32_REG(BPF_JNE, 0, 1, 1), BPF_EXIT_INSN(),
			     BPF_ALU64_IMM(BPF_ADD, 0, 100), BPF_EXIT_INSN()),
			 3);
	/* acc survives stores and untaken compares: r1 is read forwarded
	 * three instructions after it was written */
	assert_int_equal(RUN(BPF_MOV64_IMM(2, 1), BPF_MOV64_IMM(1, 7),
			     BPF_STX_MEM(BPF_DW, 10, 1, -8), BPF_JMP_IMM(BPF_JEQ, 2, 0, 2),
			     BPF_JMP_IMM(BPF_JNE, 1, 7, 1), BPF_ALU64_IMM(BPF_ADD, 1, 1),
			     BPF_MOV64_REG(0, 1), BPF_EXIT_INSN()),
			 8);
	/* ... but not through a store that is a jump target: here r1 = 7 is not
	 * what acc holds when the store is entered from pc 2 */
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 7), BPF_MOV64_IMM(2, 100), BPF_JMP_A(1),
			     BPF_MOV64_IMM(1, 8), BPF_STX_MEM(BPF_DW, 10, 2, -8),
			     BPF_MOV64_REG(0, 1), BPF_EXIT_INSN()),
			 7);
	/* fused "add; compare" loops, 64 and 32-bit, forwarded or not */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 0), BPF_MOV64_IMM(1, 0), BPF_ALU64_IMM(BPF_ADD, 0, 3),
			     BPF_ALU64_IMM(BPF_ADD, 1, 1), BPF_JMP_IMM(BPF_JNE, 1, 10, -3),
			     BPF_MOV32_IMM(2, 0), BPF_ALU32_IMM(BPF_ADD, 2, -1),
			     BPF_ALU32_IMM(BPF_AND, 2, 0xff), BPF_JMP32_REG(BPF_JNE, 2, 1, 1),
			     BPF_EXIT_INSN(), BPF_ALU64_REG(BPF_ADD, 0, 2), BPF_EXIT_INSN()),
			 30 + 0xff);
	/* gotol: a 32-bit offset in imm, backwards and forwards; a counted loop */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 0), BPF_JMP32_A(2), BPF_ALU64_IMM(BPF_ADD, 0, 1),
			     BPF_EXIT_INSN(), BPF_ALU64_IMM(BPF_ADD, 0, 10),
			     BPF_JMP_IMM(BPF_JLT, 0, 30, -2), BPF_JMP32_A(-5)),
			 31);
}

/* The indexed-load superinstruction "rD = rA; rD += rB; rX = *(rD + off)",
 * with rB forwarded, neither, rA forwarded; rX == rD; sign extension; rD
 * keeps the address. */
static void test_indexed_loads(void **state)
{
	uint8_t mem[8] = { 10, 20, 30, 40, 0xf0, 60, 70, 80 };

	(void)state;
	assert_int_equal(run_mem(PROG(BPF_MOV64_IMM(3, 2), BPF_MOV64_REG(2, 1),
				      BPF_ALU64_REG(BPF_ADD, 2, 3), BPF_LDX_MEM(BPF_B, 0, 2, 1),
				      BPF_MOV64_REG(4, 1), BPF_ALU64_REG(BPF_ADD, 4, 3),
				      BPF_LDX_MEM(BPF_H, 4, 4, 0), BPF_ALU64_REG(BPF_ADD, 0, 4),
				      BPF_ALU64_IMM(BPF_ADD, 2, 0), BPF_MOV64_REG(5, 2),
				      BPF_ALU64_REG(BPF_ADD, 5, 3), BPF_LDX_MEMSX(BPF_B, 5, 5, 0),
				      BPF_ALU64_REG(BPF_ADD, 0, 5), BPF_ALU64_REG(BPF_ADD, 0, 2),
				      BPF_ALU64_REG(BPF_SUB, 0, 1), BPF_EXIT_INSN()),
				 mem, sizeof(mem)),
			 40 + 0x281e - 16 + 2);
}

static void test_atomics(void **state)
{
	uint64_t mem[2];

	(void)state;
#define ATOMIC_CASE(SIZE, OP, INIT, SRC, WANT_MEM, WANT_R0)                                   \
	do {                                                                                  \
		mem[0] = (INIT);                                                              \
		mem[1] = 0;                                                                   \
		assert_int_equal(run_mem(PROG(BPF_LD_IMM64(2, SRC), BPF_MOV64_IMM(0, 3),      \
					      BPF_ATOMIC_OP(SIZE, OP, 1, 2, 0),               \
					      BPF_ALU64_REG(BPF_ADD, 0, 2), BPF_EXIT_INSN()), \
					 mem, sizeof(mem)),                                   \
				 (WANT_R0));                                                  \
		assert_int_equal(mem[0], (WANT_MEM));                                         \
	} while (0)
	/* r0 = 3 + r2 afterwards: shows what the fetch forms wrote back */
	ATOMIC_CASE(BPF_DW, BPF_ADD, 10, 5, 15, 8);
	ATOMIC_CASE(BPF_DW, BPF_ADD | BPF_FETCH, 10, 5, 15, 13);
	ATOMIC_CASE(BPF_DW, BPF_AND | BPF_FETCH, 0xff, 0x0f, 0x0f, 3 + 0xff);
	ATOMIC_CASE(BPF_DW, BPF_OR, 0xf0, 0x0f, 0xff, 3 + 0x0f);
	ATOMIC_CASE(BPF_DW, BPF_XOR | BPF_FETCH, 0xff, 0x0f, 0xf0, 3 + 0xff);
	ATOMIC_CASE(BPF_DW, BPF_XCHG, 0x1111111111, 7, 7, 3 + 0x1111111111);
	/* 32-bit: the upper half of memory is untouched, fetched values zero-extend */
	ATOMIC_CASE(BPF_W, BPF_ADD | BPF_FETCH, 0x1ffffffff, 1, 0x100000000, 3 + 0xffffffffull);
	ATOMIC_CASE(BPF_W, BPF_XCHG, 0x500000006, 0x700000008, 0x500000008, 3 + 6);
	ATOMIC_CASE(BPF_W, BPF_AND, 0xff, 0x10f, 0x0f, 3 + 0x10f);
	/* cmpxchg compares with r0 (3 here) and returns the old value in r0 */
	ATOMIC_CASE(BPF_DW, BPF_CMPXCHG, 3, 9, 9, 3 + 9);
	ATOMIC_CASE(BPF_DW, BPF_CMPXCHG, 4, 9, 4, 4 + 9);
	ATOMIC_CASE(BPF_W, BPF_CMPXCHG, 0x100000003, 9, 0x100000009, 3 + 9);
#undef ATOMIC_CASE
}

static uint64_t helper_args(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a * 10000 + b * 1000 + c * 100 + d * 10 + e;
}

static void test_helpers(void **state)
{
	static const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(6, 6),
		BPF_MOV64_IMM(7, 7),
		BPF_MOV64_IMM(8, 8),
		BPF_MOV64_IMM(9, 9),
		BPF_MOV64_IMM(1, 1),
		BPF_MOV64_IMM(2, 2),
		BPF_MOV64_IMM(3, 3),
		BPF_MOV64_IMM(4, 4),
		BPF_MOV64_IMM(5, 5),
		BPF_CALL_HELPER(77), /* r0 = 12345 */
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_ALU64_REG(BPF_ADD, 0, 7),
		BPF_ALU64_REG(BPF_ADD, 0, 8),
		BPF_ALU64_REG(BPF_ADD, 0, 9),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	uint64_t r0;

	(void)state;
	assert_int_equal(bpftime_vm__register_helper(vm, 77, "args", helper_args), 0);
	assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 12345 + 6 + 7 + 8 + 9);
	/* helpers bind at load */
	assert_int_equal(bpftime_vm__register_helper(vm, 78, "late", helper_args), -EBUSY);
	bpftime_vm__free(vm);
}

static void test_local_calls(void **state)
{
	(void)state;
	/* the callee's r10-8 is its own frame: the caller's slot survives,
	 * r6-r9 come back, r1-r5 go in, r0 comes out */
	assert_int_equal(
		RUN(BPF_ST_MEM(BPF_DW, 10, -8, 1000), BPF_MOV64_IMM(6, 60), BPF_MOV64_IMM(1, 5),
		    BPF_CALL_REL(4), BPF_LDX_MEM(BPF_DW, 1, 10, -8), BPF_ALU64_REG(BPF_ADD, 0, 1),
		    BPF_ALU64_REG(BPF_ADD, 0, 6), BPF_EXIT_INSN(),
		    /* callee */
		    BPF_ST_MEM(BPF_DW, 10, -8, 7), BPF_MOV64_IMM(6, 0),
		    BPF_LDX_MEM(BPF_DW, 0, 10, -8), BPF_ALU64_REG(BPF_ADD, 0, 1), BPF_EXIT_INSN()),
		1000 + 60 + 7 + 5);
	/* a pointer into the caller's frame stays valid in the callee */
	assert_int_equal(RUN(BPF_ST_MEM(BPF_DW, 10, -8, 41), BPF_MOV64_REG(1, 10),
			     BPF_ALU64_IMM(BPF_ADD, 1, -8), BPF_CALL_REL(2),
			     BPF_LDX_MEM(BPF_DW, 0, 10, -8), BPF_EXIT_INSN(),
			     BPF_LDX_MEM(BPF_DW, 2, 1, 0), BPF_ALU64_IMM(BPF_ADD, 2, 1),
			     BPF_STX_MEM(BPF_DW, 1, 2, 0), BPF_EXIT_INSN()),
			 42);
	/* BPFTIME_MAX_CALL_DEPTH frames in a chain: main + 7 callees, each adds 1 */
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 0), BPF_CALL_REL(1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(), BPF_CALL_REL(2),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN(),
			     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN()),
			 7);
}

/* callx through a function value (lddw src 4) and through a helper id */
static void test_callx(void **state)
{
	static const struct bpftime_insn prog[] = {
		BPF_LD_FUNC(2, 10), /* r2 = &func (pc 11) */
		BPF_MOV64_IMM(1, 20),
		BPF_CALLX(2), /* r0 = 21 */
		BPF_MOV64_REG(6, 0),
		BPF_MOV64_IMM(3, 77),
		BPF_MOV64_IMM(2, 2),
		BPF_MOV64_IMM(1, 1),
		BPF_CALLX(3), /* helper 77 */
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_EXIT_INSN(),
		BPF_MOV64_REG(0, 1), /* func: r1 + 1 */
		BPF_ALU64_IMM(BPF_ADD, 0, 1),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	uint64_t r0;

	(void)state;
	assert_int_equal(bpftime_vm__register_helper(vm, 77, "args", helper_args), 0);
	assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 21 + helper_args(1, 2, 77, 0, 0));
	bpftime_vm__free(vm);
}

static void test_callx_invalid(void **state)
{
	static const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 5), BPF_MOV64_IMM(1, 1000), BPF_CALLX(1),
		BPF_MOV64_IMM(0, 9), BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true);
	struct bpftime_vm *vm;
	uint64_t r0 = 1;

	(void)state;
	/* unchecked: the program stops with r0 = 0 */
	vm = load_opts(prog, N(prog), NULL);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 0);
	bpftime_vm__free(vm);
	/* checked: a clean error */
	vm = load_opts(prog, N(prog), &opts);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), -EFAULT);
	assert_string_equal(bpftime_vm__last_error(vm), "pc 2: callx to invalid target 0x3e8");
	bpftime_vm__free(vm);
}

/* Recursion the verifier cannot see (callx of a function value) meets the
 * run-time depth limit. */
static void test_callx_recursion_depth(void **state)
{
	static const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 0),
		BPF_CALL_REL(1),
		BPF_EXIT_INSN(),
		/* func: r0++, r2 = &func, callx r2 */
		BPF_ALU64_IMM(BPF_ADD, 0, 1),
		BPF_LD_FUNC(2, -2),
		BPF_CALLX(2),
		BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true);
	struct bpftime_vm *vm = load_opts(prog, N(prog), &opts);
	uint64_t r0;

	(void)state;
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), -EFAULT);
	assert_string_equal(bpftime_vm__last_error(vm), "pc 6: call depth exceeds 8 frames");
	bpftime_vm__free(vm);
}

/* A bpf_loop-like helper: calls the callback r2 times through bpftime_vm__call_func */
static uint64_t helper_loop(uint64_t n, uint64_t fn, uint64_t ctx, uint64_t r4, uint64_t r5)
{
	uint64_t i;

	(void)r4;
	(void)r5;
	for (i = 0; i < n; i++)
		if (bpftime_vm__call_func(fn, i, ctx, 0, 0, 0))
			break;
	return i;
}

static void test_call_func(void **state)
{
	/* sum i for i < 10 into the caller's stack slot through ctx */
	static const struct bpftime_insn prog[] = {
		BPF_ST_MEM(BPF_DW, 10, -8, 0),
		BPF_MOV64_IMM(1, 10),
		BPF_LD_FUNC(2, 6),
		BPF_MOV64_REG(3, 10),
		BPF_ALU64_IMM(BPF_ADD, 3, -8),
		BPF_CALL_HELPER(181),
		BPF_LDX_MEM(BPF_DW, 0, 10, -8),
		BPF_EXIT_INSN(),
		/* callback(i, ctx): *ctx += i; stop after i == 6 */
		BPF_LDX_MEM(BPF_DW, 3, 2, 0),
		BPF_ALU64_REG(BPF_ADD, 3, 1),
		BPF_STX_MEM(BPF_DW, 2, 3, 0),
		BPF_MOV64_IMM(0, 0),
		BPF_JMP_IMM(BPF_JNE, 1, 6, 1),
		BPF_MOV64_IMM(0, 1),
		BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true);
	struct bpftime_vm *vm;
	uint64_t r0;

	(void)state;
	for (int checked = 0; checked < 2; checked++) {
		vm = bpftime_vm__new(checked ? &opts : NULL);
		assert_int_equal(bpftime_vm__register_helper(vm, 181, "loop", helper_loop), 0);
		assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
		assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
		assert_int_equal(r0, 0 + 1 + 2 + 3 + 4 + 5 + 6);
		bpftime_vm__free(vm);
	}
	/* outside a run there is no program: 0 */
	assert_int_equal(bpftime_vm__call_func(VM_FUNC_BASE + 8, 0, 0, 0, 0, 0), 0);
}

/* Tail calls: prog array "map" 0x7a11 with slot i -> tails[i] */
static struct bpftime_vm *tails[4];

static struct bpftime_vm *tail_lookup(void *ctx, uint64_t map, uint64_t index)
{
	(void)ctx;
	if (map != 0x7a11 || index >= N(tails))
		return NULL;
	return tails[index];
}

static void test_tail_calls(void **state)
{
	/* main: tail-calls slot r2-from-ctx; on failure returns 100 + r0 of the helper */
	static const struct bpftime_insn main_prog[] = {
		BPF_MOV64_REG(6, 1), BPF_LDX_MEM(BPF_DW, 3, 1, 0),   BPF_LD_IMM64(2, 0x7a11),
		BPF_CALL_HELPER(12), BPF_ALU64_IMM(BPF_ADD, 0, 100), BPF_EXIT_INSN(),
	};
	/* slot 1: returns 7 + ctx[8] */
	static const struct bpftime_insn leaf[] = {
		BPF_LDX_MEM(BPF_DW, 0, 1, 8),
		BPF_ALU64_IMM(BPF_ADD, 0, 7),
		BPF_EXIT_INSN(),
	};
	/* slot 2: ctx[8]++, then tail-calls itself from inside a subprogram;
	 * when that fails (the 33 limit) returns ctx[8] */
	static const struct bpftime_insn self[] = {
		BPF_MOV64_REG(6, 1),
		BPF_LDX_MEM(BPF_DW, 3, 1, 8),
		BPF_ALU64_IMM(BPF_ADD, 3, 1),
		BPF_STX_MEM(BPF_DW, 1, 3, 8),
		BPF_CALL_REL(2),
		BPF_LDX_MEM(BPF_DW, 0, 6, 8),
		BPF_EXIT_INSN(),
		BPF_LD_IMM64(2, 0x7a11),
		BPF_MOV64_IMM(3, 2),
		BPF_CALL_HELPER(12),
		BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .tail_call = tail_lookup);
	struct bpftime_vm *vm;
	uint64_t ctx[2], r0;

	(void)state;
	memset(tails, 0, sizeof(tails));
	vm = load_opts(main_prog, N(main_prog), &opts);
	tails[1] = load_opts(leaf, N(leaf), NULL);
	tails[2] = load_opts(self, N(self), &opts);
	/* the tail call replaces the program; ctx passes through */
	ctx[0] = 1;
	ctx[1] = 30;
	assert_int_equal(bpftime_vm__run(vm, ctx, sizeof(ctx), &r0), 0);
	assert_int_equal(r0, 37);
	/* an empty slot: the helper fails and the caller continues */
	ctx[0] = 3;
	assert_int_equal(bpftime_vm__run(vm, ctx, sizeof(ctx), &r0), 0);
	assert_int_equal(r0, 100 + (uint64_t)-ENOENT);
	/* 33 tail calls succeed, the 34th fails: slot 2 runs 33 times */
	ctx[0] = 2;
	ctx[1] = 0;
	assert_int_equal(bpftime_vm__run(vm, ctx, sizeof(ctx), &r0), 0);
	assert_int_equal(ctx[1], BPFTIME_MAX_TAIL_CALLS);
	assert_int_equal(r0, BPFTIME_MAX_TAIL_CALLS);
	/* the count is per run: entered directly, slot 2 runs 1 + 33 times */
	ctx[1] = 0;
	assert_int_equal(bpftime_vm__run(tails[2], ctx, sizeof(ctx), &r0), 0);
	assert_int_equal(r0, 1 + BPFTIME_MAX_TAIL_CALLS);
	/* without a tail_call callback the helper always fails */
	ctx[0] = 1;
	bpftime_vm__free(vm);
	vm = load_opts(main_prog, N(main_prog), NULL);
	assert_int_equal(bpftime_vm__run(vm, ctx, sizeof(ctx), &r0), 0);
	assert_int_equal(r0, 100 + (uint64_t)-ENOENT);
	bpftime_vm__free(vm);
	for (size_t i = 0; i < N(tails); i++)
		bpftime_vm__free(tails[i]);
}

/* lddw pseudo sources: the resolver sees (src, imm, next_imm) */
static int resolver_calls;

static int resolve(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *value)
{
	(void)ctx;
	resolver_calls++;
	if (imm == 99)
		return -ENOENT;
	if (src == BPFTIME_PSEUDO_BTF_ID)
		return -EOPNOTSUPP;
	*value = (uint64_t)src << 40 | (uint64_t)(uint32_t)imm << 8 | (uint32_t)next_imm;
	return 0;
}

static void test_lddw_pseudo(void **state)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .resolve_lddw = resolve);
	struct bpftime_vm *vm;
	uint64_t r0;
	size_t cnt;

	(void)state;
	for (unsigned int src = 1; src <= 6; src++) {
		const bool next_ok = src == 2 || src == 6;
		const struct bpftime_insn prog[] = {
			BPF_LD_IMM64_RAW(0, src, 5, next_ok ? 16 : 0),
			BPF_EXIT_INSN(),
			BPF_EXIT_INSN(),
			BPF_EXIT_INSN(),
			BPF_EXIT_INSN(),
			BPF_EXIT_INSN(),
			BPF_MOV64_IMM(0, 1),
			BPF_EXIT_INSN(),
		};

		resolver_calls = 0;
		vm = bpftime_vm__new(&opts);
		if (src == BPFTIME_PSEUDO_BTF_ID) {
			/* documented choice: BTF ids go to the resolver, which may refuse */
			assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), -EOPNOTSUPP);
			assert_string_equal(bpftime_vm__last_error(vm),
					    "pc 0: cannot resolve lddw pseudo source 3 imm 5: "
					    "Operation not supported");
			bpftime_vm__free(vm);
			continue;
		}
		assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
		assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
		if (src == BPFTIME_PSEUDO_FUNC) {
			/* a function value: tag + the subprogram's pc; no resolver call */
			assert_int_equal(r0, VM_FUNC_BASE + 6);
			assert_int_equal(resolver_calls, 0);
		} else {
			assert_int_equal(r0, (uint64_t)src << 40 | 5 << 8 | (next_ok ? 16 : 0));
			assert_int_equal(resolver_calls, 1);
		}
		/* the resolved form has src 0 and keeps the original around */
		assert_int_equal(bpftime_vm__insns(vm, &cnt)[0].src, 0);
		assert_int_equal(cnt, N(prog));
		bpftime_vm__free(vm);
	}
	/* resolver error */
	vm = bpftime_vm__new(&opts);
	assert_int_equal(bpftime_vm__load(vm, PROG(BPF_LD_MAP_FD(1, 99), BPF_EXIT_INSN())),
			 -ENOENT);
	assert_string_equal(bpftime_vm__last_error(vm),
			    "pc 0: cannot resolve lddw pseudo source 1 imm 99: "
			    "No such file or directory");
	bpftime_vm__free(vm);
	/* no resolver at all */
	vm = bpftime_vm__new(NULL);
	assert_int_equal(bpftime_vm__load(vm, PROG(BPF_MOV64_IMM(0, 0), BPF_LD_MAP_VALUE(1, 3, 8),
						   BPF_EXIT_INSN())),
			 -EINVAL);
	assert_string_equal(bpftime_vm__last_error(vm),
			    "pc 1: lddw with pseudo source 2 but no resolver");
	bpftime_vm__free(vm);
}

static bool allow_extra(void *ctx, uint64_t addr, uint64_t size, bool write)
{
	const uint8_t *extra = ctx;

	return !write && addr >= (uintptr_t)extra && addr + size <= (uintptr_t)extra + 16;
}

/* Expects -EFAULT and the message words + "0x<addr>"; prefix_only when the
 * address is on the run's own stack (not known here): then only the words. */
static void expect_fault(const struct bpftime_insn *insns, size_t cnt, void *mem, size_t len,
			 const char *words, uint64_t addr, bool prefix_only)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true);
	struct bpftime_vm *vm = load_opts(insns, cnt, &opts);
	char want[160];
	uint64_t r0 = 1;

	snprintf(want, sizeof(want), "%s0x%llx", words, (unsigned long long)addr);
	assert_int_equal(bpftime_vm__run(vm, mem, len, &r0), -EFAULT);
	assert_int_equal(r0, 0);
	if (prefix_only) {
		*strstr(want, "0x") = 0;
		assert_ptr_equal(strstr(bpftime_vm__last_error(vm), want),
				 bpftime_vm__last_error(vm));
	} else {
		assert_string_equal(bpftime_vm__last_error(vm), want);
	}
	bpftime_vm__free(vm);
}

static void test_bounds_check(void **state)
{
	static uint8_t extra[16] = { 0x5a };
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true, .mem_check = allow_extra,
		     .user_ctx = extra);
	uint8_t mem[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct bpftime_vm *vm;
	uint64_t r0;

	(void)state;
	/* one past the end of the context */
	expect_fault(PROG(BPF_MOV64_IMM(0, 0), BPF_LDX_MEM(BPF_W, 0, 1, 5), BPF_EXIT_INSN()), mem,
		     sizeof(mem), "pc 1: out of bounds read of 4 bytes at ", (uintptr_t)mem + 5,
		     false);
	/* above the stack top, and below the frame */
	expect_fault(PROG(BPF_STX_MEM(BPF_DW, 10, 1, 0), BPF_EXIT_INSN()), mem, sizeof(mem),
		     "pc 0: out of bounds write of 8 bytes at ", 0, true);
	expect_fault(PROG(BPF_ST_MEM(BPF_B, 10, -513, 1), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		     NULL, 0, "pc 0: out of bounds write of 1 bytes at ", 0, true);
	/* NULL context, atomics and sign-extending loads are checked too */
	expect_fault(PROG(BPF_MOV64_IMM(2, 1), BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 1, 2, 0),
			  BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		     NULL, 0, "pc 1: out of bounds write of 8 bytes at ", 0, false);
	expect_fault(PROG(BPF_LDX_MEMSX(BPF_H, 0, 1, -2), BPF_EXIT_INSN()), mem, sizeof(mem),
		     "pc 0: out of bounds read of 2 bytes at ", (uintptr_t)mem - 2, false);
	/* allowed: the whole context, the frame, and what mem_check allows */
	vm = load_opts(PROG(BPF_LDX_MEM(BPF_DW, 0, 1, 0), BPF_STX_MEM(BPF_DW, 10, 0, -512),
			    BPF_LDX_MEM(BPF_B, 0, 10, -512), BPF_LD_IMM64(2, (uintptr_t)extra),
			    BPF_LDX_MEM(BPF_B, 3, 2, 15), BPF_LDX_MEM(BPF_B, 3, 2, 0),
			    BPF_ALU64_REG(BPF_ADD, 0, 3), BPF_EXIT_INSN()),
		       &opts);
	assert_int_equal(bpftime_vm__run(vm, mem, sizeof(mem), &r0), 0);
	assert_int_equal(r0, 1 + 0x5a);
	bpftime_vm__free(vm);
	/* mem_check is asked about writes too, and refuses here */
	vm = load_opts(PROG(BPF_LD_IMM64(2, (uintptr_t)extra), BPF_ST_MEM(BPF_B, 2, 0, 1),
			    BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		       &opts);
	assert_int_equal(bpftime_vm__run(vm, mem, sizeof(mem), &r0), -EFAULT);
	bpftime_vm__free(vm);
	/* a callee may use its caller's frame, not the other way round */
	vm = load_opts(PROG(BPF_MOV64_REG(1, 10), BPF_ALU64_IMM(BPF_ADD, 1, -8), BPF_CALL_REL(1),
			    BPF_EXIT_INSN(), BPF_ST_MEM(BPF_DW, 1, 0, 3),
			    BPF_LDX_MEM(BPF_DW, 0, 1, 0), BPF_EXIT_INSN()),
		       &opts);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 3);
	bpftime_vm__free(vm);
	expect_fault(PROG(BPF_CALL_REL(3), BPF_LDX_MEM(BPF_DW, 0, 0, 0), BPF_MOV64_IMM(0, 0),
			  BPF_EXIT_INSN(), BPF_MOV64_REG(0, 10), BPF_ALU64_IMM(BPF_ADD, 0, -8),
			  BPF_EXIT_INSN()),
		     NULL, 0, "pc 1: out of bounds read of 8 bytes at ", 0, true);
}

/* Runs are thread-safe: each has its own registers and stack. */
struct thread_arg {
	struct bpftime_vm *vm;
	uint64_t in, out;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 2000; i++)
		if (bpftime_vm__run(a->vm, &a->in, sizeof(a->in), &a->out) || a->out != a->in * 3)
			return p;
	return NULL;
}

static void test_threads(void **state)
{
	/* r0 = callee() + 2 * (caller's r10-8): 3 * ctx[0] only if the callee's
	 * zeroing of its own r10-8 touched neither the caller nor other threads */
	struct bpftime_vm *vm = load_opts(
		PROG(BPF_LDX_MEM(BPF_DW, 2, 1, 0), BPF_STX_MEM(BPF_DW, 10, 2, -8), BPF_CALL_REL(4),
		     BPF_LDX_MEM(BPF_DW, 3, 10, -8), BPF_ALU64_REG(BPF_ADD, 0, 3),
		     BPF_ALU64_REG(BPF_ADD, 0, 3), BPF_EXIT_INSN(), BPF_MOV64_IMM(2, 0),
		     BPF_STX_MEM(BPF_DW, 10, 2, -8), BPF_LDX_MEM(BPF_DW, 0, 1, 0), BPF_EXIT_INSN()),
		NULL);
	struct thread_arg args[4];
	pthread_t th[4];
	void *res;

	(void)state;
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ .vm = vm, .in = (uint64_t)i * 1000 + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	bpftime_vm__free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alu),
		cmocka_unit_test(test_div_mod_by_zero_reg),
		cmocka_unit_test(test_int_min_by_minus_one),
		cmocka_unit_test(test_shifts),
		cmocka_unit_test(test_v4_moves_loads_swaps),
		cmocka_unit_test(test_jumps),
		cmocka_unit_test(test_indexed_loads),
		cmocka_unit_test(test_atomics),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_local_calls),
		cmocka_unit_test(test_callx),
		cmocka_unit_test(test_callx_invalid),
		cmocka_unit_test(test_callx_recursion_depth),
		cmocka_unit_test(test_call_func),
		cmocka_unit_test(test_tail_calls),
		cmocka_unit_test(test_lddw_pseudo),
		cmocka_unit_test(test_bounds_check),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
