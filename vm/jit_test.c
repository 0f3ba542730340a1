/* SPDX-License-Identifier: MIT */
/* vm/jit_test.c: the x86-64 JIT's tricky cases.
 *
 * Every program runs on the interpreter and on the JIT; both must agree on
 * r0 and on the memory they were given, and r0 must be the value the kernel's
 * semantics give.  The cases aim at what a JIT gets wrong: the registers div
 * and shifts need (rax, rdx, rcx are eBPF registers), 32-bit zero extension,
 * division corner cases, atomics with r0 as operand or base, jumps that need
 * rel32, calls (helpers, tail calls, bpf-to-bpf, callx, callbacks, depth).
 * Also: the code mapping is never writable and padded with INT3.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/testkit.h"
#include "vm/internal.h"
#include "vm/jit_arena.h"
#include "vm/test_insn.h"
#include "common/compiler.h"

#define MEM_SIZE 64

#if defined(__SANITIZE_ADDRESS__)
#define JIT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define JIT_TEST_ASAN 1
#endif
#endif

static uint64_t helper_sum(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + 2 * b + 3 * c + 4 * d + 5 * e;
}

static uint64_t helper_cb(uint64_t fn, uint64_t n, uint64_t c, uint64_t d, uint64_t e)
{
	uint64_t acc = 0;

	UNUSED(c);
	UNUSED(d);
	UNUSED(e);
	for (uint64_t i = 0; i < n; i++)
		acc = acc * 10 + bpftime_vm__call_func(fn, i, 7, 0, 0, 0);
	return acc;
}

static struct bpftime_vm *tail_target;

static struct bpftime_vm *tail_lookup(void *ctx, uint64_t map, uint64_t index)
{
	UNUSED(ctx);
	return map == 1 && index == 0 ? tail_target : NULL;
}

static struct bpftime_vm *new_vm(const struct bpftime_insn *insns, size_t cnt)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .tail_call = tail_lookup);
	struct bpftime_vm *vm = bpftime_vm__new(&opts);

	assert_non_null(vm);
	assert_int_equal(bpftime_vm__register_helper(vm, 1, "sum", helper_sum), 0);
	assert_int_equal(bpftime_vm__register_helper(vm, 2, "cb", helper_cb), 0);
	if (bpftime_vm__load(vm, insns, cnt))
		fail_msg("load: %s", bpftime_vm__last_error(vm));
	return vm;
}

/* Runs on both engines with equal copies of mem; returns r0. */
static uint64_t run_both_mem(const struct bpftime_insn *insns, size_t cnt, uint8_t *mem)
{
	struct bpftime_vm *vm = new_vm(insns, cnt);
	uint8_t m_int[MEM_SIZE], m_jit[MEM_SIZE];
	uint64_t r_int, r_jit;

	memcpy(m_int, mem, MEM_SIZE);
	memcpy(m_jit, mem, MEM_SIZE);
	assert_int_equal(bpftime_vm__run(vm, m_int, MEM_SIZE, &r_int), 0);
	if (bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT))
		fail_msg("jit: %s", bpftime_vm__last_error(vm));
	assert_int_equal(bpftime_vm__run(vm, m_jit, MEM_SIZE, &r_jit), 0);
	if (r_int != r_jit)
		fail_msg("r0: interpreter 0x%llx, jit 0x%llx", (unsigned long long)r_int,
			 (unsigned long long)r_jit);
	assert_memory_equal(m_int, m_jit, MEM_SIZE);
	memcpy(mem, m_jit, MEM_SIZE);
	bpftime_vm__free(vm);
	return r_jit;
}

static uint64_t run_both(const struct bpftime_insn *insns, size_t cnt)
{
	uint8_t mem[MEM_SIZE] = { 0 };

	return run_both_mem(insns, cnt, mem);
}

#define RUN(...)                                                  \
	({                                                        \
		const struct bpftime_insn p_[] = { __VA_ARGS__ }; \
		run_both(p_, ARRAY_SIZE(p_));                     \
	})

/* the value a register starts with in the cases below: both halves non-zero */
#define V1 0xfedcba9876543210ull
#define V2 0x0000000500000007ull

/* dst and src over r0 (rax), r3 (rdx), r4 (rcx), r1 and r6, for every
 * div/mod form, against a C model of the kernel's rules */
static uint64_t model_div(bool w, bool mod, bool sgn, uint64_t a, uint64_t b)
{
	if (!w) {
		uint32_t x = (uint32_t)a, y = (uint32_t)b;

		if (!y)
			return mod ? x : 0;
		if (sgn) {
			if ((int32_t)y == -1)
				return mod ? 0 : (uint32_t)-x;
			return mod ? (uint32_t)((int32_t)x % (int32_t)y)
				   : (uint32_t)((int32_t)x / (int32_t)y);
		}
		return mod ? x % y : x / y;
	}
	if (!b)
		return mod ? a : 0;
	if (sgn) {
		if ((int64_t)b == -1)
			return mod ? 0 : -a;
		return mod ? (uint64_t)((int64_t)a % (int64_t)b)
			   : (uint64_t)((int64_t)a / (int64_t)b);
	}
	return mod ? a % b : a / b;
}

static void test_divmod_registers(void **state)
{
	static const uint8_t regs[] = { 0, 3, 4, 1, 6 };
	static const uint64_t dividends[] = { V1, 0x8000000000000000ull, 0x80000000ull, 100 };
	static const uint64_t divisors[] = { 0, UINT64_MAX,	0xffffffffull,
					     7, 0x100000000ull, 0xfffffffffffffff9ull };

	UNUSED(state);
	for (int form = 0; form < 8; form++) {
		bool w = form & 1, mod = form & 2, sgn = form & 4;
		uint8_t cls = w ? BPF_ALU64 : BPF_ALU;

		for (size_t d = 0; d < ARRAY_SIZE(regs); d++)
			for (size_t s = 0; s < ARRAY_SIZE(regs); s++)
				for (size_t a = 0; a < ARRAY_SIZE(dividends); a++)
					for (size_t b = 0; b < ARRAY_SIZE(divisors); b++) {
						uint8_t dr = regs[d], sr = regs[s];
						uint64_t x = dividends[a],
							 y = dr == sr ? x : divisors[b];
						uint64_t want = model_div(w, mod, sgn, x, y);
						static const uint64_t init[] = { 11, 33, 44, 111,
										 66 };
						uint8_t mem[MEM_SIZE] = { 0 };
						const struct bpftime_insn p[] = {
							BPF_MOV64_REG(9, 1),
							BPF_LD_IMM64(0, 11),
							BPF_LD_IMM64(3, 33),
							BPF_LD_IMM64(4, 44),
							BPF_LD_IMM64(1, 111),
							BPF_LD_IMM64(6, 66),
							BPF_LD_IMM64(sr, y),
							BPF_LD_IMM64(dr, x),
							BPF_RAW_INSN(
								cls | (mod ? BPF_MOD : BPF_DIV) |
									BPF_X,
								dr, sr, sgn, 0),
							BPF_STX_MEM(BPF_DW, 9, 0, 0),
							BPF_STX_MEM(BPF_DW, 9, 3, 8),
							BPF_STX_MEM(BPF_DW, 9, 4, 16),
							BPF_STX_MEM(BPF_DW, 9, 1, 24),
							BPF_STX_MEM(BPF_DW, 9, 6, 32),
							BPF_MOV64_REG(0, dr),
							BPF_EXIT_INSN(),
						};
						uint64_t got = run_both_mem(p, ARRAY_SIZE(p), mem);

						if (got != want)
							fail_msg("form %d r%u op r%u: 0x%llx op "
								 "0x%llx = "
								 "0x%llx, want 0x%llx",
								 form, dr, sr,
								 (unsigned long long)x,
								 (unsigned long long)y,
								 (unsigned long long)got,
								 (unsigned long long)want);
						/* every other register survived, src unchanged */
						for (size_t k = 0; k < ARRAY_SIZE(regs); k++) {
							uint64_t v;

							memcpy(&v, mem + 8 * k, 8);
							if (regs[k] == dr)
								continue;
							assert_int_equal(
								v, regs[k] == sr ? y : init[k]);
						}
					}
	}
}

static void test_divmod_imm(void **state)
{
	static const int32_t imms[] = { -1, 1, 7, -7, INT32_MIN, 0x7fffffff };
	static const uint64_t dividends[] = { V1, 0x8000000000000000ull, 0x80000000ull, 0 };

	UNUSED(state);
	for (int form = 0; form < 8; form++) {
		bool w = form & 1, mod = form & 2, sgn = form & 4;
		uint8_t cls = w ? BPF_ALU64 : BPF_ALU;

		for (size_t i = 0; i < ARRAY_SIZE(imms); i++)
			for (size_t a = 0; a < ARRAY_SIZE(dividends); a++)
				for (uint8_t dr = 0; dr <= 4; dr += 3) {
					uint64_t y =
						w ? (uint64_t)(int64_t)imms[i] : (uint32_t)imms[i];
					uint64_t want = model_div(w, mod, sgn, dividends[a], y);
					uint64_t got =
						RUN(BPF_LD_IMM64(0, 5), BPF_LD_IMM64(3, 6),
						    BPF_LD_IMM64(dr, dividends[a]),
						    BPF_RAW_INSN(cls | (mod ? BPF_MOD : BPF_DIV) |
									 BPF_K,
								 dr, 0, sgn, imms[i]),
						    BPF_MOV64_REG(0, dr), BPF_EXIT_INSN());

					assert_int_equal(got, want);
				}
	}
}

/* shifts by register: x86 shifts by cl only, and cl belongs to r4 */
static void test_shift_registers(void **state)
{
	static const uint8_t ops[] = { BPF_LSH, BPF_RSH, BPF_ARSH };
	static const uint64_t counts[] = { 0, 1, 31, 32, 33, 63, 64, 65, 0xffffffff00000003ull };

	UNUSED(state);
	for (size_t o = 0; o < ARRAY_SIZE(ops); o++)
		for (int w = 0; w < 2; w++)
			for (uint8_t dr = 3; dr <= 5; dr++)
				for (uint8_t sr = 3; sr <= 5; sr++)
					for (size_t c = 0; c < ARRAY_SIZE(counts); c++) {
						uint64_t x = dr == sr ? counts[c] : V1,
							 n = counts[c];
						uint64_t want;

						if (w) {
							unsigned int k = n & 63;

							want = ops[o] == BPF_LSH ? x << k
							       : ops[o] == BPF_RSH
								       ? x >> k
								       : (uint64_t)((int64_t)x >>
										    k);
						} else {
							unsigned int k = n & 31;
							uint32_t y = (uint32_t)x;

							want = ops[o] == BPF_LSH
								       ? (uint32_t)(y << k)
							       : ops[o] == BPF_RSH
								       ? y >> k
								       : (uint32_t)((int32_t)y >>
										    k);
						}
						uint64_t got = RUN(
							BPF_LD_IMM64(3, 0x333),
							BPF_LD_IMM64(4, 0x444),
							BPF_LD_IMM64(5, 0x555), BPF_LD_IMM64(sr, n),
							BPF_LD_IMM64(dr, x),
							BPF_RAW_INSN((w ? BPF_ALU64 : BPF_ALU) |
									     ops[o] | BPF_X,
								     dr, sr, 0, 0),
							/* the other two registers must be intact */
							BPF_MOV64_REG(0, dr),
							BPF_ALU64_IMM(BPF_XOR, 3, 0x333),
							BPF_ALU64_IMM(BPF_XOR, 4, 0x444),
							BPF_ALU64_IMM(BPF_XOR, 5, 0x555),
							BPF_STX_MEM(BPF_DW, 10, 3, -8),
							BPF_STX_MEM(BPF_DW, 10, 4, -16),
							BPF_STX_MEM(BPF_DW, 10, 5, -24),
							BPF_ST_MEM(BPF_DW, 10, -8 * (dr - 2), 0),
							BPF_ST_MEM(BPF_DW, 10, -8 * (sr - 2), 0),
							BPF_LDX_MEM(BPF_DW, 3, 10, -8),
							BPF_LDX_MEM(BPF_DW, 4, 10, -16),
							BPF_LDX_MEM(BPF_DW, 5, 10, -24),
							BPF_ALU64_REG(BPF_OR, 3, 4),
							BPF_ALU64_REG(BPF_OR, 3, 5),
							BPF_JMP_IMM(BPF_JEQ, 3, 0, 1),
							BPF_MOV64_IMM(0, -1), BPF_EXIT_INSN());

						if (dr == sr)
							continue; /* the "intact" check is moot */
						assert_int_equal(got, want);
					}
}

/* 32-bit results zero-extend even when nothing else changes */
static void test_zero_extension(void **state)
{
	UNUSED(state);
	/* shift by an immediate 0 and by a register holding 32 */
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ALU32_IMM(BPF_LSH, 0, 0), BPF_EXIT_INSN()),
			 0x76543210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_MOV64_IMM(1, 32),
			     BPF_ALU32_REG(BPF_RSH, 0, 1), BPF_EXIT_INSN()),
			 0x76543210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_MOV32_REG(0, 0), BPF_EXIT_INSN()),
			 0x76543210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ALU32_IMM(BPF_ADD, 0, 0), BPF_EXIT_INSN()),
			 0x76543210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ENDIAN(BPF_TO_LE, 0, 32), BPF_EXIT_INSN()),
			 0x76543210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ENDIAN(BPF_TO_LE, 0, 16), BPF_EXIT_INSN()),
			 0x3210);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ENDIAN(BPF_TO_BE, 0, 16), BPF_EXIT_INSN()),
			 0x1032);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ENDIAN(BPF_TO_BE, 0, 32), BPF_EXIT_INSN()),
			 0x10325476);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ENDIAN(BPF_TO_LE, 0, 64), BPF_EXIT_INSN()),
			 V1);
	assert_int_equal(
		RUN(BPF_LD_IMM64(6, V1), BPF_BSWAP(6, 64), BPF_MOV64_REG(0, 6), BPF_EXIT_INSN()),
		0x1032547698badcfeull);
	/* neg32 of INT_MIN, mul32 */
	assert_int_equal(RUN(BPF_LD_IMM64(0, 0xffffffff80000000ull), BPF_NEG32(0), BPF_EXIT_INSN()),
			 0x80000000);
	assert_int_equal(RUN(BPF_LD_IMM64(0, V1), BPF_ALU32_IMM(BPF_MUL, 0, 3), BPF_EXIT_INSN()),
			 (uint32_t)(0x76543210u * 3));
}

static void test_movsx(void **state)
{
	static const uint8_t regs[] = { 0, 1, 6, 10 };

	UNUSED(state);
	for (size_t i = 0; i < ARRAY_SIZE(regs) - 1; i++) {
		uint8_t r = regs[i], s = regs[i + 1] == 10 ? 2 : regs[i + 1];

		assert_int_equal(RUN(BPF_LD_IMM64(s, 0x12345680), BPF_MOVSX64_REG(r, s, 8),
				     BPF_MOV64_REG(0, r), BPF_EXIT_INSN()),
				 (uint64_t)-128);
		assert_int_equal(RUN(BPF_LD_IMM64(s, 0x12348001), BPF_MOVSX64_REG(r, s, 16),
				     BPF_MOV64_REG(0, r), BPF_EXIT_INSN()),
				 0xffffffffffff8001ull);
		assert_int_equal(RUN(BPF_LD_IMM64(s, 0x1280000001ull), BPF_MOVSX64_REG(r, s, 32),
				     BPF_MOV64_REG(0, r), BPF_EXIT_INSN()),
				 0xffffffff80000001ull);
		assert_int_equal(RUN(BPF_LD_IMM64(s, 0xff000000000000f0ull),
				     BPF_MOVSX32_REG(r, s, 8), BPF_MOV64_REG(0, r),
				     BPF_EXIT_INSN()),
				 0xfffffff0ull);
		assert_int_equal(RUN(BPF_LD_IMM64(s, 0xff0000000000f000ull),
				     BPF_MOVSX32_REG(r, s, 16), BPF_MOV64_REG(0, r),
				     BPF_EXIT_INSN()),
				 0xfffff000ull);
	}
}

static void test_loads_stores(void **state)
{
	uint8_t mem[MEM_SIZE];

	UNUSED(state);
	for (int i = 0; i < MEM_SIZE; i++)
		mem[i] = (uint8_t)(0x80 + i);
	/* sign-extending loads through r1 (rdi), into r1 and r6 (sil/dil cases) */
	{
		const struct bpftime_insn p[] = {
			BPF_LDX_MEMSX(BPF_B, 6, 1, 1), BPF_LDX_MEMSX(BPF_H, 7, 1, 2),
			BPF_LDX_MEMSX(BPF_W, 8, 1, 4), BPF_LDX_MEM(BPF_B, 2, 1, 3),
			BPF_STX_MEM(BPF_DW, 1, 6, 8),  BPF_STX_MEM(BPF_DW, 1, 7, 16),
			BPF_STX_MEM(BPF_DW, 1, 8, 24), BPF_STX_MEM(BPF_B, 1, 2, 32),
			BPF_STX_MEM(BPF_B, 1, 6, 33), /* byte store from bl */
			BPF_MOV64_IMM(2, 0x1234),      BPF_STX_MEM(BPF_B, 1, 2, 34), /* from sil */
			BPF_ST_MEM(BPF_H, 1, 36, -2),  BPF_ST_MEM(BPF_DW, 1, 40, -3),
			BPF_LDX_MEMSX(BPF_B, 1, 1, 0), /* base = dst */
			BPF_MOV64_REG(0, 1),	       BPF_EXIT_INSN(),
		};
		uint64_t v;

		assert_int_equal(run_both_mem(p, ARRAY_SIZE(p), mem), (uint64_t)(int8_t)0x80);
		memcpy(&v, mem + 8, 8);
		assert_int_equal(v, (uint64_t)(int8_t)0x81);
		memcpy(&v, mem + 16, 8);
		assert_int_equal(v, (uint64_t)(int16_t)0x8382);
		memcpy(&v, mem + 24, 8);
		assert_int_equal(v, (uint64_t)(int32_t)0x87868584);
		assert_int_equal(mem[32], 0x83);
		assert_int_equal(mem[33], 0x81);
		assert_int_equal(mem[34], 0x34);
		memcpy(&v, mem + 40, 8);
		assert_int_equal(v, (uint64_t)-3);
	}
	/* r10 far offsets (disp32) */
	assert_int_equal(RUN(BPF_ST_MEM(BPF_DW, 10, -512, 77), BPF_LDX_MEM(BPF_DW, 0, 10, -512),
			     BPF_EXIT_INSN()),
			 77);
}

static const int32_t atomic_ops[] = { BPF_ADD,
				      BPF_AND,
				      BPF_OR,
				      BPF_XOR,
				      BPF_ADD | BPF_FETCH,
				      BPF_AND | BPF_FETCH,
				      BPF_OR | BPF_FETCH,
				      BPF_XOR | BPF_FETCH,
				      BPF_XCHG,
				      BPF_CMPXCHG };

/* every atomic, 32 and 64 bit, with r0 as the base, as the source, and neither */
static void test_atomics(void **state)
{
	UNUSED(state);
	for (size_t i = 0; i < ARRAY_SIZE(atomic_ops); i++)
		for (int w = 0; w < 2; w++)
			for (int form = 0; form < 3; form++)
				for (int eq = 0; eq < 2; eq++) {
					uint8_t sz = w ? BPF_DW : BPF_W;
					uint8_t base = form == 0 ? 0 : 2, src = form == 1 ? 0 : 3;
					uint8_t mem[MEM_SIZE] = { 0 };
					uint64_t init = 0xf0f0f0f0ccccccccull, r0;
					/* cmpxchg: r0 equal (or not) to the memory */
					uint64_t cmp = eq ? init : 0x1111;

					memcpy(mem + 8, &init, 8);
					const struct bpftime_insn p[] = {
						BPF_LD_IMM64(0, cmp),
						BPF_LD_IMM64(3, 0xaaaaaaaa0000ff00ull),
						BPF_MOV64_REG(base, 1),
						BPF_ATOMIC_OP(sz, atomic_ops[i], base, src, 8),
						/* r0 as the base holds an address: not a result */
						base == 0 ? BPF_MOV64_IMM(0, 0)
							  : BPF_MOV64_REG(0, 0),
						/* r0 = r0 ^ (r3 << 1): both observable */
						BPF_MOV64_REG(4, src == 0 ? 0 : 3),
						BPF_ALU64_IMM(BPF_LSH, 4, 1),
						BPF_ALU64_REG(BPF_XOR, 0, 4),
						BPF_EXIT_INSN(),
					};

					if (base == 0 && atomic_ops[i] == BPF_CMPXCHG)
						continue; /* r0 would be both pointer and value */
					r0 = run_both_mem(p, ARRAY_SIZE(p), mem);
					UNUSED(r0);
				}
}

/* Jumps that need rel32 forward and backward, and gotol. */
static void test_long_jumps(void **state)
{
	enum { N = 300 };
	struct bpftime_insn p[N + 10];
	size_t n = 0;

	UNUSED(state);
	p[n++] = BPF_MOV64_IMM(0, 0);
	p[n++] = BPF_MOV64_IMM(1, 3);
	/* loop head at 2 */
	p[n++] = BPF_JMP_IMM(BPF_JEQ, 1, 0, N + 2); /* forward over the body */
	for (int i = 0; i < N; i++)
		p[n++] = BPF_ALU64_IMM(BPF_ADD, 0, i);
	p[n++] = BPF_ALU64_IMM(BPF_SUB, 1, 1);
	p[n] = BPF_JMP_A(1 - (int)n); /* back to 2: n + 1 + off = 2 */
	n++;
	p[n++] = BPF_JMP32_A(1); /* gotol over the next one */
	p[n++] = BPF_MOV64_IMM(0, -1);
	p[n++] = BPF_EXIT_INSN();
	assert_int_equal(run_both(p, n), 3ull * (N * (N - 1) / 2));
}

static void test_helpers(void **state)
{
	UNUSED(state);
	/* five arguments in place, r6-r9 survive the call */
	assert_int_equal(RUN(BPF_MOV64_IMM(6, 60), BPF_MOV64_IMM(9, 90), BPF_MOV64_IMM(1, 1),
			     BPF_MOV64_IMM(2, 2), BPF_MOV64_IMM(3, 3), BPF_MOV64_IMM(4, 4),
			     BPF_MOV64_IMM(5, 5), BPF_CALL_HELPER(1), BPF_ALU64_REG(BPF_ADD, 0, 6),
			     BPF_ALU64_REG(BPF_ADD, 0, 9), BPF_EXIT_INSN()),
			 1 + 4 + 9 + 16 + 25 + 150);
	/* callx of a helper id; of nothing (stops with r0 = 0) */
	assert_int_equal(RUN(BPF_MOV64_IMM(1, 1), BPF_MOV64_IMM(2, 0), BPF_MOV64_IMM(3, 0),
			     BPF_MOV64_IMM(4, 0), BPF_MOV64_IMM(5, 0), BPF_MOV64_IMM(7, 1),
			     BPF_CALLX(7), BPF_EXIT_INSN()),
			 1);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 5), BPF_MOV64_IMM(7, 99), BPF_CALLX(7),
			     BPF_MOV64_IMM(0, 5), BPF_EXIT_INSN()),
			 0);
	assert_int_equal(RUN(BPF_MOV64_IMM(0, 5), BPF_LD_IMM64(7, VM_FUNC_BASE + 1), BPF_CALLX(7),
			     BPF_MOV64_IMM(0, 5), BPF_EXIT_INSN()),
			 0);
}

/* bpf-to-bpf: frames, callee-saved registers, function values, callbacks */
static void test_local_calls(void **state)
{
	UNUSED(state);
	/* main: r6 = 1, calls f(10) which uses r6 and the stack */
	assert_int_equal(RUN(BPF_MOV64_IMM(6, 1), BPF_ST_MEM(BPF_DW, 10, -8, 100),
			     BPF_MOV64_IMM(1, 10), BPF_CALL_REL(4), BPF_LDX_MEM(BPF_DW, 1, 10, -8),
			     BPF_ALU64_REG(BPF_ADD, 0, 1), BPF_ALU64_REG(BPF_ADD, 0, 6),
			     BPF_EXIT_INSN(),
			     /* f: */
			     BPF_MOV64_IMM(6, 1000), BPF_ST_MEM(BPF_DW, 10, -8, 5),
			     BPF_LDX_MEM(BPF_DW, 0, 10, -8), BPF_ALU64_REG(BPF_ADD, 0, 1),
			     BPF_ALU64_REG(BPF_ADD, 0, 6), BPF_EXIT_INSN()),
			 1015 + 100 + 1);
	/* callx of a function value, and a callback through a helper */
	assert_int_equal(RUN(BPF_LD_FUNC(7, 10), BPF_MOV64_IMM(1, 4), BPF_CALLX(7),
			     BPF_MOV64_REG(6, 0), BPF_LD_FUNC(1, 5), BPF_MOV64_IMM(2, 3),
			     BPF_CALL_HELPER(2), BPF_ALU64_REG(BPF_ADD, 0, 6), BPF_EXIT_INSN(),
			     /* g(r1, r2) = r1 * 2 + r2 */
			     BPF_MOV64_REG(0, 1), BPF_ALU64_REG(BPF_ADD, 0, 0),
			     BPF_ALU64_REG(BPF_ADD, 0, 2), BPF_EXIT_INSN()),
			 /* callback: g(0,7) g(1,7) g(2,7) = 7 9 11 -> ((7*10)+9)*10+11,
			  * plus g(4, r2 = len 64) */
			 801 + 72);
}

/* A self-calling subprogram through callx stops at the frame limit with
 * r0 = 0 on both engines. */
static void test_call_depth(void **state)
{
	UNUSED(state);
	/* f(n): n + 1 frames deep, then returns n; main counts via r1 */
	for (int depth = 1; depth <= BPFTIME_MAX_CALL_DEPTH + 2; depth++) {
		uint64_t r0 = RUN(BPF_MOV64_IMM(1, depth), BPF_CALL_REL(2),
				  BPF_ALU64_IMM(BPF_ADD, 0, 1000), BPF_EXIT_INSN(),
				  /* f: if r1 == 1 return 1; r0 = callx f(r1 - 1) + 1 */
				  BPF_MOV64_IMM(0, 1), BPF_JMP_IMM(BPF_JEQ, 1, 1, 5),
				  BPF_ALU64_IMM(BPF_SUB, 1, 1), BPF_LD_FUNC(6, -4), BPF_CALLX(6),
				  BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_EXIT_INSN());

		/* main + depth frames of f */
		if (depth + 1 <= BPFTIME_MAX_CALL_DEPTH)
			assert_int_equal(r0, 1000 + depth);
		else
			assert_int_equal(r0, 0);
	}
}

/* A tail call ends the caller at once, from main and from a subprogram. */
static void test_tail_calls(void **state)
{
	const struct bpftime_insn target[] = { BPF_MOV64_IMM(0, 42), BPF_EXIT_INSN() };
	uint8_t mem[MEM_SIZE] = { 0 };

	UNUSED(state);
	tail_target = new_vm(target, ARRAY_SIZE(target));
	assert_int_equal(bpftime_vm__compile(tail_target, BPFTIME_ENGINE_JIT), 0);
	{
		const struct bpftime_insn p[] = {
			BPF_MOV64_REG(6, 1), BPF_MOV64_IMM(2, 1),	  BPF_MOV64_IMM(3, 0),
			BPF_CALL_HELPER(12), BPF_ST_MEM(BPF_DW, 6, 0, 7), BPF_MOV64_IMM(0, 1),
			BPF_EXIT_INSN(),
		};

		assert_int_equal(run_both_mem(p, ARRAY_SIZE(p), mem), 42);
		assert_int_equal(mem[0], 0); /* the rest of the caller did not run */
	}
	{
		/* from a subprogram, through callx of helper 12; a miss continues */
		const struct bpftime_insn p[] = {
			BPF_MOV64_REG(6, 1),  BPF_CALL_REL(3),	   BPF_ST_MEM(BPF_DW, 6, 0, 7),
			BPF_MOV64_IMM(0, 1),  BPF_EXIT_INSN(),	   BPF_MOV64_IMM(2, 1),
			BPF_MOV64_IMM(3, 5),  BPF_CALL_HELPER(12), /* miss */
			BPF_MOV64_REG(1, 6),  BPF_MOV64_IMM(2, 1), BPF_MOV64_IMM(3, 0),
			BPF_MOV64_IMM(7, 12), BPF_CALLX(7),	   BPF_ST_MEM(BPF_DW, 6, 8, 7),
			BPF_EXIT_INSN(),
		};

		assert_int_equal(run_both_mem(p, ARRAY_SIZE(p), mem), 42);
		assert_int_equal(mem[0], 0);
		assert_int_equal(mem[8], 0);
	}
	bpftime_vm__free(tail_target);
	tail_target = NULL;
}

/* bpftime_vm__native / bpftime_vm__run_native: NULL where bpftime_vm__run
 * is needed (interpreter, no program); the compiled code otherwise, giving what bpftime_vm__run gives, tail calls
 * included. */
static void test_run_native(void **state)
{
	const struct bpftime_insn target[] = { BPF_MOV64_IMM(0, 42), BPF_EXIT_INSN() };
	const struct bpftime_insn reads[] = {
		BPF_LDX_MEM(BPF_DW, 0, 1, 8), /* r0 = *(u64 *)(ctx + 8) */
		BPF_ALU64_IMM(BPF_ADD, 0, 1),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn tail[] = {
		BPF_MOV64_REG(6, 1), BPF_MOV64_IMM(2, 1),	  BPF_MOV64_IMM(3, 0),
		BPF_CALL_HELPER(12), BPF_ST_MEM(BPF_DW, 6, 0, 7), BPF_MOV64_IMM(0, 1),
		BPF_EXIT_INSN(),
	};
	uint64_t mem[2] = { 0, 99 }, r0 = 0;
	struct bpftime_vm *vm, *tv;
	bpftime_vm_native_fn fn;

	UNUSED(state);
	vm = new_vm(reads, ARRAY_SIZE(reads));
	assert_null(bpftime_vm__native(vm, sizeof(mem))); /* interpreter */
	assert_null(bpftime_vm__native_direct(vm, sizeof(mem)));
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT), 0);
	assert_null(bpftime_vm__native(NULL, sizeof(mem)));
	assert_null(bpftime_vm__native_direct(NULL, sizeof(mem)));
	fn = bpftime_vm__native(vm, sizeof(mem));
	assert_non_null(fn);
	assert_int_equal(bpftime_vm__run(vm, mem, sizeof(mem), &r0), 0);
	assert_int_equal(r0, 100);
	assert_int_equal(bpftime_vm__run_native(vm, fn, mem, sizeof(mem)), 100);
	/* no tail call, no callback: its code called as it is */
	assert_ptr_equal(bpftime_vm__native_direct(vm, sizeof(mem)), fn);
	assert_int_equal(fn(mem, sizeof(mem)), 100);
	bpftime_vm__free(vm);

	tail_target = new_vm(target, ARRAY_SIZE(target));
	assert_int_equal(bpftime_vm__compile(tail_target, BPFTIME_ENGINE_JIT), 0);
	tv = new_vm(tail, ARRAY_SIZE(tail));
	assert_int_equal(bpftime_vm__compile(tv, BPFTIME_ENGINE_JIT), 0);
	fn = bpftime_vm__native(tv, sizeof(mem));
	assert_non_null(fn);
	assert_null(
		bpftime_vm__native_direct(tv, sizeof(mem))); /* a tail call needs the run state */
	mem[0] = 0;
	assert_int_equal(bpftime_vm__run_native(tv, fn, mem, sizeof(mem)), 42);
	assert_int_equal(mem[0], 0); /* the rest of the caller did not run */
	bpftime_vm__free(tv);
	bpftime_vm__free(tail_target);
	tail_target = NULL;
}

/* bpftime_vm__jited: the functions back to back, every pc inside its
 * function after the prologue, the image the code that runs. */
static void test_jited_layout(void **state)
{
	const struct bpftime_insn p[] = {
		BPF_MOV64_IMM(6, 1),
		BPF_ST_MEM(BPF_DW, 10, -8, 100),
		BPF_MOV64_IMM(1, 10),
		BPF_CALL_REL(4),
		BPF_LDX_MEM(BPF_DW, 1, 10, -8),
		BPF_ALU64_REG(BPF_ADD, 0, 1),
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_EXIT_INSN(),
		/* f: */
		BPF_MOV64_IMM(6, 1000),
		BPF_LD_IMM64(2, 0x1122334455667788ull),
		BPF_ALU64_REG(BPF_ADD, 0, 1),
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = new_vm(p, ARRAY_SIZE(p));
	struct bpftime_jited j;

	UNUSED(state);
	assert_int_equal(bpftime_vm__jited(vm, &j), -ENOENT);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT), 0);
	assert_int_equal(bpftime_vm__jited(vm, &j), 0);
	assert_int_equal(j.nr_funcs, 2);
	assert_int_equal(j.insn_cnt, ARRAY_SIZE(p));
	assert_int_equal(j.func_off[0], 0);
	assert_int_equal(j.func_pc[0], 0);
	assert_int_equal(j.func_pc[1], 8);
	assert_true(j.func_off[1] > j.func_off[0] && j.func_off[2] > j.func_off[1]);
	assert_int_equal(j.len, j.func_off[2]);
	assert_int_equal(j.insn_off[j.insn_cnt], j.len);
	/* the prologue first, then the pcs in order, each in its function */
	assert_true(j.insn_off[0] > j.func_off[0]);
	assert_true(j.insn_off[8] > j.func_off[1]);
	for (uint32_t pc = 0; pc < j.insn_cnt; pc++) {
		assert_true(j.insn_off[pc] <= j.insn_off[pc + 1]);
		assert_true(j.insn_off[pc] < j.func_off[pc < 8 ? 1 : 2]);
	}
	/* the lddw's second slot: where the next code starts */
	assert_int_equal(j.insn_off[10], j.insn_off[11]);
	assert_true(j.image > (const uint8_t *)vm->jit_mem &&
		    j.image + j.len <= (const uint8_t *)vm->jit_mem + vm->jit_size);
	/* the function the header's table sends callx/bpf_loop to for pc 8 */
	{
		const int32_t *table =
			(const int32_t *)(const void *)((const uint8_t *)vm->jit_mem +
							((const uint32_t *)vm->jit_mem)[2]);

		assert_ptr_equal((const uint8_t *)table + table[8], j.image + j.func_off[1]);
	}
	bpftime_vm__free(vm);
}

/* The code mapping is RX, never writable, and its padding traps. */
static void test_wx(void **state)
{
	const struct bpftime_insn p[] = { BPF_MOV64_IMM(0, 1), BPF_EXIT_INSN() };
	struct bpftime_vm *vm = new_vm(p, ARRAY_SIZE(p));
	char line[512];
	bool found = false;
	FILE *f;

	UNUSED(state);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT), 0);
	assert_non_null(vm->jit_mem);
	f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
			continue;
		if ((uintptr_t)vm->jit_mem >= lo && (uintptr_t)vm->jit_mem < hi) {
			found = true;
			assert_int_equal(perms[0], 'r');
			assert_int_equal(perms[1], '-');
			assert_int_equal(perms[2], 'x');
		}
	}
	fclose(f);
	assert_true(found);
	assert_int_equal(((uint8_t *)vm->jit_mem)[vm->jit_size - 1], 0xcc);
	bpftime_vm__free(vm);
}

/* Compiled code is shared by threads; each run has its own stack. */
static struct bpftime_vm *thread_vm;

static void *thread_fn(void *arg)
{
	uint64_t sum = 0, r0;

	for (uint64_t i = 0; i < 2000; i++) {
		uint8_t mem[MEM_SIZE] = { (uint8_t)(uintptr_t)arg };

		if (bpftime_vm__run(thread_vm, mem, sizeof(mem), &r0))
			return NULL;
		sum += r0;
	}
	return (void *)(uintptr_t)sum;
}

static void test_threads(void **state)
{
	const struct bpftime_insn p[] = {
		BPF_LDX_MEM(BPF_B, 6, 1, 0),
		BPF_STX_MEM(BPF_DW, 10, 6, -8),
		BPF_MOV64_IMM(1, 1),
		BPF_MOV64_IMM(2, 0),
		BPF_MOV64_IMM(3, 0),
		BPF_MOV64_IMM(4, 0),
		BPF_MOV64_IMM(5, 0),
		BPF_CALL_HELPER(1),
		BPF_LDX_MEM(BPF_DW, 0, 10, -8),
		BPF_EXIT_INSN(),
	};
	pthread_t t[4];

	UNUSED(state);
	thread_vm = new_vm(p, ARRAY_SIZE(p));
	assert_int_equal(bpftime_vm__compile(thread_vm, BPFTIME_ENGINE_JIT), 0);
	for (uintptr_t i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_fn, (void *)(i + 1)), 0);
	for (uintptr_t i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_int_equal((uintptr_t)ret, 2000 * (i + 1));
	}
	bpftime_vm__free(thread_vm);
}

/* Compiling twice or freeing an uncompiled VM is harmless. */
static void test_lifecycle(void **state)
{
	const struct bpftime_insn p[] = { BPF_MOV64_IMM(0, 3), BPF_EXIT_INSN() };
	struct bpftime_vm *vm = new_vm(p, ARRAY_SIZE(p));
	uint64_t r0;

	UNUSED(state);
	assert_int_equal(vm_jit_compile(vm), 0);
	assert_int_equal(vm_jit_compile(vm), 0);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT), 0);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 3);
	vm_jit_free(vm);
	vm_jit_free(vm);
	assert_null(vm->jit_fn);
	bpftime_vm__free(vm);
}

/* Registers a program reads before writing start at 0, as in the
 * interpreter (the kernel's verifier would reject such a program; ours does
 * not), in main, in main with subprograms, and in callbacks. */
static void test_unwritten_registers(void **state)
{
	UNUSED(state);
	assert_int_equal(RUN(BPF_EXIT_INSN()), 0);
	assert_int_equal(RUN(BPF_MOV64_REG(0, 3), BPF_ALU64_REG(BPF_OR, 0, 4),
			     BPF_ALU64_REG(BPF_OR, 0, 5), BPF_ALU64_REG(BPF_OR, 0, 6),
			     BPF_ALU64_REG(BPF_OR, 0, 7), BPF_ALU64_REG(BPF_OR, 0, 8),
			     BPF_ALU64_REG(BPF_OR, 0, 9), BPF_EXIT_INSN()),
			 0);
	/* with a subprogram: main reads r6-r9 and r3-r5 before writing them */
	assert_int_equal(RUN(BPF_ALU64_REG(BPF_OR, 0, 6), BPF_ALU64_REG(BPF_OR, 0, 9),
			     BPF_ALU64_REG(BPF_OR, 0, 3), BPF_ALU64_REG(BPF_OR, 0, 5),
			     BPF_MOV64_REG(7, 0), BPF_CALL_REL(2), BPF_ALU64_REG(BPF_ADD, 0, 7),
			     BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 5), BPF_EXIT_INSN()),
			 5);
	/* a callback (bpftime_vm__call_func) sees r0 and r6-r9 at 0: g(i, 7) = i + 7 + r6 + r0 */
	assert_int_equal(RUN(BPF_MOV64_IMM(6, 1000), BPF_LD_FUNC(1, 4), BPF_MOV64_IMM(2, 2),
			     BPF_CALL_HELPER(2), BPF_EXIT_INSN(), BPF_ALU64_REG(BPF_ADD, 0, 1),
			     BPF_ALU64_REG(BPF_ADD, 0, 2), BPF_ALU64_REG(BPF_ADD, 0, 6),
			     BPF_EXIT_INSN()),
			 7 * 10 + 8);
}

/* A compile that fails (here: no address space left for the code) leaves a
 * message, keeps the previous engine, and the program still runs.  It runs
 * first: once the arena has reserved its address space (jit_arena.c:
 * pools, never given back), a compile needs no more. */
static void test_compile_failure(void **state)
{
#ifdef JIT_TEST_ASAN
	UNUSED(state);
	TEST_SKIP("ASan needs address space of its own");
#else
	const struct bpftime_insn p[] = { BPF_MOV64_IMM(0, 9), BPF_EXIT_INSN() };
	struct bpftime_vm *vm = new_vm(p, ARRAY_SIZE(p));
	struct jit_arena_stats st;
	struct rlimit old, lim;
	unsigned long pages = 0;
	uint64_t r0;
	FILE *f;
	int err;

	UNUSED(state);
	jit_arena_stats(&st);
	if (st.pools)
		fail_msg("test_compile_failure must run before any compile");
	f = fopen("/proc/self/statm", "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	assert_int_equal(getrlimit(RLIMIT_AS, &old), 0);
	lim = old;
	lim.rlim_cur = pages * 4096; /* what is mapped now: nothing more fits */
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	err = bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_true(err == -ENOMEM || err == -EAGAIN);
	assert_true(strstr(bpftime_vm__last_error(vm), "jit: cannot map") ||
		    strstr(bpftime_vm__last_error(vm), "out of memory"));
	assert_int_equal(bpftime_vm__engine(vm), BPFTIME_ENGINE_INTERP);
	assert_null(vm->jit_mem);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 9);
	/* and once there is a little room again, it compiles, into a pool of
	 * the size it needs (not the usual 64 MiB) */
	lim.rlim_cur = pages * 4096 + (8 << 20);
	assert_int_equal(setrlimit(RLIMIT_AS, &lim), 0);
	err = bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT);
	assert_int_equal(setrlimit(RLIMIT_AS, &old), 0);
	assert_int_equal(err, 0);
	jit_arena_stats(&st);
	assert_int_equal(st.pools, 1);
	assert_true(st.reserved < (8 << 20));
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 9);
	bpftime_vm__free(vm);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_failure), /* first: see there */
		cmocka_unit_test(test_divmod_registers),
		cmocka_unit_test(test_divmod_imm),
		cmocka_unit_test(test_shift_registers),
		cmocka_unit_test(test_zero_extension),
		cmocka_unit_test(test_movsx),
		cmocka_unit_test(test_loads_stores),
		cmocka_unit_test(test_atomics),
		cmocka_unit_test(test_long_jumps),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_local_calls),
		cmocka_unit_test(test_call_depth),
		cmocka_unit_test(test_tail_calls),
		cmocka_unit_test(test_run_native),
		cmocka_unit_test(test_wx),
		cmocka_unit_test(test_jited_layout),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_unwritten_registers),
	};

	return TEST_RUN(tests, NULL, NULL);
}
