/* SPDX-License-Identifier: MIT */
/* vm/llvm_test.c: the LLVM back end (engine llvm) and AOT objects (engine
 * aot, compiled by LLVM and loaded by vm/aot_load.c).  Every program runs on
 * the interpreter too and the engines must agree with it and with the
 * value worked out here: tail calls (also from a nested frame), callx to
 * helpers, function values and bad targets, the call-depth stop, map
 * references (constants in the JIT, symbols in AOT objects), atomics,
 * division edge cases, and the AOT loader's errors.
 *
 * Run as `llvm_test missing [WHY]` (with BPFTIME_LLVM_LIB naming no file, or
 * a library that is not the back end) it checks instead that a missing back
 * end is a clean -EOPNOTSUPP whose message contains WHY.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "vm/internal.h"
#include "vm/test_insn.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const enum bpftime_engine engines[] = {
	BPFTIME_ENGINE_INTERP,
	BPFTIME_ENGINE_LLVM,
	BPFTIME_ENGINE_AOT,
};

static uint64_t helper_xor(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return r1 ^ r2 ^ r3 ^ r4 ^ r5 ^ 0xabc;
}

static unsigned int calls_counted;

static uint64_t helper_count(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	return ++calls_counted;
}

/* Map "fds" 3 and 4: handle 0x1000 + fd; values live in map_values[fd]. */
static uint64_t map_values[8][4];

static int resolve(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *value)
{
	(void)ctx;
	if (imm < 0 || imm >= (int32_t)N(map_values) || (imm != 3 && imm != 4))
		return -ENOENT;
	switch (src) {
	case BPFTIME_PSEUDO_MAP_FD:
		*value = 0x1000 + (uint64_t)imm;
		return 0;
	case BPFTIME_PSEUDO_MAP_VALUE:
		*value = (uint64_t)(uintptr_t)map_values[imm] + (uint32_t)next_imm;
		return 0;
	}
	return -EINVAL;
}

static struct bpftime_vm *tails[2];

static struct bpftime_vm *tail_lookup(void *ctx, uint64_t map, uint64_t index)
{
	(void)ctx;
	return map == 0x77 && index < N(tails) ? tails[index] : NULL;
}

static struct bpftime_vm *load(const struct bpftime_insn *insns, size_t cnt)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .resolve_lddw = resolve, .tail_call = tail_lookup);
	struct bpftime_vm *vm = bpftime_vm__new(&opts);

	assert_non_null(vm);
	assert_int_equal(bpftime_vm__register_helper(vm, 1, "xor", helper_xor), 0);
	assert_int_equal(bpftime_vm__register_helper(vm, 2, "count", helper_count), 0);
	if (bpftime_vm__load(vm, insns, cnt))
		fail_msg("load: %s", bpftime_vm__last_error(vm));
	return vm;
}

static void select_engine(struct bpftime_vm *vm, enum bpftime_engine e)
{
	if (bpftime_vm__compile(vm, e))
		fail_msg("%s: %s", bpftime_engine__name(e), bpftime_vm__last_error(vm));
}

static uint64_t run(struct bpftime_vm *vm, void *mem, size_t len)
{
	uint64_t r0 = 0xdead;

	assert_int_equal(bpftime_vm__run(vm, mem, len, &r0), 0);
	return r0;
}

/* Runs the program on every engine with memory mem (copied per engine) and
 * checks r0 against want. */
static void expect_all(const struct bpftime_insn *insns, size_t cnt, const void *mem, size_t len,
		       uint64_t want)
{
	for (size_t i = 0; i < N(engines); i++) {
		struct bpftime_vm *vm = load(insns, cnt);
		uint8_t buf[64] = { 0 };
		uint64_t r0;

		assert_true(len <= sizeof(buf));
		if (mem)
			memcpy(buf, mem, len);
		select_engine(vm, engines[i]);
		r0 = run(vm, buf, len);
		if (r0 != want)
			fail_msg("%s: r0 = 0x%llx, want 0x%llx", bpftime_engine__name(engines[i]),
				 (unsigned long long)r0, (unsigned long long)want);
		bpftime_vm__free(vm);
	}
}

static void test_divmod_edges(void **state)
{
	/* r0 = a mix of INT64_MIN s/ -1, INT64_MIN s% -1, 7 / 0, 7 % 0, -7 s% 0,
	 * and in 32 bits INT32_MIN s/ -1 and 5 % 0 (upper bits cleared) */
	const struct bpftime_insn prog[] = {
		BPF_LD_IMM64(1, INT64_MIN),
		BPF_MOV64_IMM(2, -1),
		BPF_MOV64_REG(3, 1),
		BPF_SDIV64_REG(3, 2), /* r3 = INT64_MIN */
		BPF_MOV64_REG(4, 1),
		BPF_SMOD64_REG(4, 2), /* r4 = 0 */
		BPF_MOV64_IMM(5, 0),
		BPF_MOV64_IMM(6, 7),
		BPF_ALU64_REG(BPF_DIV, 6, 5), /* r6 = 0 */
		BPF_MOV64_IMM(7, 7),
		BPF_ALU64_REG(BPF_MOD, 7, 5), /* r7 = 7 */
		BPF_MOV64_IMM(8, -7),
		BPF_SMOD64_REG(8, 5), /* r8 = -7 */
		BPF_LD_IMM64(9, 0xffffffff80000000ULL),
		BPF_SDIV32_IMM(9, -1), /* w9 = INT32_MIN, zero-extended */
		BPF_LD_IMM64(0, 0x1234567800000005ULL),
		BPF_ALU32_REG(BPF_MOD, 0, 5), /* w0 = 5 */
		BPF_ALU64_REG(BPF_XOR, 0, 3),
		BPF_ALU64_REG(BPF_ADD, 0, 4),
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_ALU64_IMM(BPF_LSH, 0, 4),
		BPF_ALU64_REG(BPF_ADD, 0, 7),
		BPF_ALU64_IMM(BPF_LSH, 0, 4),
		BPF_ALU64_REG(BPF_XOR, 0, 8),
		BPF_ALU64_REG(BPF_ADD, 0, 9),
		BPF_EXIT_INSN(),
	};
	uint64_t want = (5 ^ (uint64_t)INT64_MIN) + 0 + 0;

	(void)state;
	want = (want << 4) + 7;
	want = (want << 4) ^ (uint64_t)-7;
	want += 0x80000000u;
	expect_all(prog, N(prog), NULL, 0, want);
}

static void test_shifts_and_atomics(void **state)
{
	/* mem[0..7] = 10; lock add 5; fetch-or 0x100 into r3; cmpxchg 0x10f -> 1;
	 * shift by a register of 65 (masked to 1) and 33 (w: masked to 1) */
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(2, 5),
		BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 1, 2, 0),
		BPF_MOV64_IMM(3, 0x100),
		BPF_ATOMIC_OP(BPF_DW, BPF_OR | BPF_FETCH, 1, 3, 0), /* r3 = 15 */
		BPF_MOV64_IMM(0, 0x10f),
		BPF_MOV64_IMM(4, 1),
		BPF_ATOMIC_OP(BPF_DW, BPF_CMPXCHG, 1, 4, 0), /* r0 = 0x10f, mem = 1 */
		BPF_LDX_MEM(BPF_DW, 5, 1, 0),
		BPF_MOV64_IMM(6, 65),
		BPF_ALU64_REG(BPF_LSH, 5, 6), /* r5 = 2 */
		BPF_MOV32_IMM(7, 33),
		BPF_MOV32_IMM(8, -1),
		BPF_ALU32_REG(BPF_RSH, 8, 7), /* w8 = 0x7fffffff */
		BPF_MOV32_IMM(9, 4),
		BPF_ATOMIC_OP(BPF_W, BPF_XCHG, 1, 9, 8), /* r9 = mem[8..11] = 0x33, then 4 */
		BPF_ALU64_REG(BPF_ADD, 0, 3),
		BPF_ALU64_REG(BPF_ADD, 0, 5),
		BPF_ALU64_REG(BPF_ADD, 0, 8),
		BPF_ALU64_REG(BPF_ADD, 0, 9),
		BPF_LDX_MEM(BPF_W, 9, 1, 8),
		BPF_ALU64_REG(BPF_ADD, 0, 9),
		BPF_EXIT_INSN(),
	};
	uint64_t mem[2] = { 10, 0x33 };

	(void)state;
	expect_all(prog, N(prog), mem, sizeof(mem), 0x10fu + 15 + 2 + 0x7fffffffu + 0x33 + 4);
}

/* The rotate-after-multiply shape clang's BPF back end leaves, which the
 * LLVM back end turns back into a rotate: right for every width and shift,
 * and left alone when the constants do not match (a near miss). */
static void test_mul_rotate(void **state)
{
	static const struct {
		bool is32;
		int s;
		uint64_t c1, c2;
		bool rotate; /* the IR must have a funnel shift */
	} cases[] = {
		{ false, 33, 0x87c37b91114253d5ULL, 0x87c37b91114253d5ULL << 31, true },
		{ false, 1, 0x9e3779b97f4a7c15ULL, 0x9e3779b97f4a7c15ULL << 63, true },
		{ false, 63, 0x1234567ULL, 0x1234567ULL << 1, true },
		{ false, 33, 0x87c37b91114253d5ULL, (0x87c37b91114253d5ULL << 31) ^ 4, false },
		{ true, 17, 0x85ebca6bULL, (0x85ebca6bULL << 15) & 0xffffffffULL, true },
		{ true, 17, 0x85ebca6bULL, ((0x85ebca6bULL << 15) + 1) & 0xffffffffULL, false },
	};

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		uint64_t x = 0xdeadbeefcafef00dULL, want;
		uint8_t cls = cases[i].is32 ? BPF_ALU : BPF_ALU64;
		const struct bpftime_insn prog[] = {
			BPF_LDX_MEM(BPF_DW, 1, 1, 0),
			BPF_LD_IMM64(4, cases[i].c2),
			BPF_LD_IMM64(5, cases[i].c1),
			BPF_MOV64_REG(2, 1),
			BPF_RAW_INSN(cls | BPF_MUL | BPF_X, 2, 4, 0, 0),	  /* x * c2 */
			BPF_RAW_INSN(cls | BPF_MUL | BPF_X, 1, 5, 0, 0),	  /* x * c1 */
			BPF_RAW_INSN(cls | BPF_RSH | BPF_K, 1, 0, 0, cases[i].s), /* >> s */
			BPF_RAW_INSN(cls | BPF_OR | BPF_X, 1, 2, 0, 0),
			BPF_MOV64_REG(0, 1),
			BPF_EXIT_INSN(),
		};

		if (cases[i].is32) {
			uint32_t a = (uint32_t)x * (uint32_t)cases[i].c2;
			uint32_t m = (uint32_t)x * (uint32_t)cases[i].c1;

			want = a | m >> cases[i].s;
		} else {
			want = x * cases[i].c2 | (x * cases[i].c1) >> cases[i].s;
		}
		struct bpftime_vm *vm;
		size_t size;
		void *ir;

		expect_all(prog, N(prog), &x, sizeof(x), want);
		vm = load(prog, N(prog));
		assert_int_equal(bpftime_vm__emit_aot(vm, true, &ir, &size), 0);
		if (cases[i].rotate != (strstr(ir, "@llvm.fshl") != NULL))
			fail_msg("case %zu: rotate %s", i,
				 cases[i].rotate ? "missed" : "wrongly made");
		free(ir);
		bpftime_vm__free(vm);
	}
}

/* Tail calls: slot 0 returns 42 + ctx[0]; the caller tail-calls slot r7
 * from inside a subprogram, so success must leave both frames. */
static void test_tail_calls(void **state)
{
	const struct bpftime_insn leaf[] = {
		BPF_LDX_MEM(BPF_DW, 0, 1, 0),
		BPF_ALU64_IMM(BPF_ADD, 0, 42),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn caller[] = {
		BPF_LDX_MEM(BPF_DW, 7, 1, 8), /* slot from ctx[1] */
		BPF_MOV64_REG(2, 7),
		BPF_CALL_REL(2),
		BPF_ALU64_IMM(BPF_ADD, 0, 1000), /* only after a failed tail call */
		BPF_EXIT_INSN(),
		/* sub: tail_call(ctx, 0x77, r2) */
		BPF_MOV64_REG(3, 2),
		BPF_MOV64_IMM(2, 0x77),
		BPF_CALL_HELPER(VM_HELPER_TAIL_CALL),
		BPF_MOV64_IMM(0, 7),
		BPF_EXIT_INSN(),
	};

	(void)state;
	for (size_t i = 0; i < N(engines); i++) {
		uint64_t ctx[2] = { 3, 0 };
		struct bpftime_vm *vm = load(caller, N(caller));

		tails[0] = load(leaf, N(leaf));
		tails[1] = NULL;
		select_engine(tails[0], engines[i]);
		select_engine(vm, engines[i]);
		assert_int_equal(run(vm, ctx, sizeof(ctx)), 45);
		ctx[1] = 1; /* empty slot: the program goes on */
		assert_int_equal(run(vm, ctx, sizeof(ctx)), 1007);
		bpftime_vm__free(tails[0]);
		tails[0] = NULL;
		bpftime_vm__free(vm);
	}
}

/* callx: a function value, a helper id, and a bad target (r0 = 0). */
static void test_callx(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_LDX_MEM(BPF_DW, 6, 1, 0), /* selector */
		BPF_LD_FUNC(8, 11),	      /* pc 1: r8 = the function at pc 13 */
		BPF_MOV64_IMM(1, 21),
		BPF_JMP_IMM(BPF_JNE, 6, 0, 2),
		BPF_CALLX(8), /* r0 = 42 */
		BPF_EXIT_INSN(),
		BPF_JMP_IMM(BPF_JNE, 6, 1, 3),
		BPF_MOV64_IMM(8, 1),
		BPF_CALLX(8), /* helper 1 */
		BPF_EXIT_INSN(),
		BPF_CALLX(6), /* anything else: stop */
		BPF_EXIT_INSN(),
		/* pc 13 */
		BPF_MOV64_REG(0, 1),
		BPF_ALU64_IMM(BPF_MUL, 0, 2),
		BPF_EXIT_INSN(),
	};

	(void)state;
	for (size_t i = 0; i < N(engines); i++) {
		struct bpftime_vm *vm = load(prog, N(prog));
		uint64_t ctx;

		select_engine(vm, engines[i]);
		ctx = 0;
		assert_int_equal(run(vm, &ctx, 8), 42);
		ctx = 1;
		assert_int_equal(run(vm, &ctx, 8), 21 ^ 8 ^ 0xabc); /* r2 = len */
		ctx = 2;					    /* helper 2 */
		calls_counted = 0;
		assert_int_equal(run(vm, &ctx, 8), 1);
		ctx = 300; /* no helper 300 */
		assert_int_equal(run(vm, &ctx, 8), 0);
		ctx = VM_FUNC_BASE + 14; /* not a subprogram entry */
		assert_int_equal(run(vm, &ctx, 8), 0);
		bpftime_vm__free(vm);
	}
}

/* Endless recursion through callx stops at BPFTIME_MAX_CALL_DEPTH frames
 * with r0 = 0 on every engine, after the same number of helper calls. */
static void test_call_depth(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_CALL_REL(1),
		BPF_EXIT_INSN(),
		/* pc 2: count, then call itself through a function value */
		BPF_CALL_HELPER(2),
		BPF_LD_FUNC(6, -2),
		BPF_CALLX(6),
		BPF_MOV64_IMM(0, 99),
		BPF_EXIT_INSN(),
	};

	(void)state;
	for (size_t i = 0; i < N(engines); i++) {
		struct bpftime_vm *vm = load(prog, N(prog));

		select_engine(vm, engines[i]);
		calls_counted = 0;
		assert_int_equal(run(vm, NULL, 0), 0);
		assert_int_equal(calls_counted, BPFTIME_MAX_CALL_DEPTH - 1);
		bpftime_vm__free(vm);
	}
}

/* bpf_loop (181): callback(i, ctx) for i < n through bpftime_vm__call_func(), which
 * runs the callback on the engine of the running program. */
static uint64_t helper_loop(uint64_t n, uint64_t fn, uint64_t ctx, uint64_t flags, uint64_t r5)
{
	(void)flags, (void)r5;
	for (uint64_t i = 0; i < n; i++) {
		if (bpftime_vm__call_func(fn, i, ctx, 0, 0, 0))
			return i + 1;
	}
	return n;
}

static void test_callbacks(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_ST_MEM(BPF_DW, 10, -8, 0),
		BPF_MOV64_IMM(1, 10),
		BPF_LD_FUNC(2, 9), /* pc 2: the callback at pc 12 */
		BPF_MOV64_REG(3, 10),
		BPF_ALU64_IMM(BPF_ADD, 3, -8),
		BPF_MOV64_IMM(4, 0),
		BPF_CALL_HELPER(181),
		BPF_LDX_MEM(BPF_DW, 6, 10, -8),
		BPF_ALU64_IMM(BPF_LSH, 0, 32), /* the loop count, then the sum */
		BPF_ALU64_REG(BPF_OR, 0, 6),
		BPF_EXIT_INSN(),
		/* pc 12: *ctx += i */
		BPF_LDX_MEM(BPF_DW, 0, 2, 0),
		BPF_ALU64_REG(BPF_ADD, 0, 1),
		BPF_STX_MEM(BPF_DW, 2, 0, 0),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};

	(void)state;
	for (size_t i = 0; i < N(engines); i++) {
		struct bpftime_vm *vm = bpftime_vm__new(NULL);
		const uint64_t args[5] = { 5, (uint64_t)(uintptr_t)&map_values[0][0] };
		uint64_t ret = 0;

		assert_int_equal(bpftime_vm__register_helper(vm, 181, "loop", helper_loop), 0);
		assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
		select_engine(vm, engines[i]);
		assert_int_equal(run(vm, NULL, 0), (10ULL << 32) | 45);
		/* the compiled code has its own entry for the callback */
		map_values[0][0] = 1;
		if (engines[i] != BPFTIME_ENGINE_INTERP) {
			assert_int_equal(vm_llvm_call(vm, 12, args, &ret), 0);
			assert_int_equal(ret, 0);
			assert_int_equal(map_values[0][0], 6);
			assert_int_equal(vm_llvm_call(vm, 13, args, &ret), -ENOENT);
		}
		bpftime_vm__free(vm);
	}
}

/* Map handles (src 1) reach helpers; map values (src 2) are memory. */
static void test_maps(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_FD(1, 3),
		BPF_CALL_HELPER(1), /* r0 = 0x1003 ^ 0xabc */
		BPF_MOV64_REG(6, 0),
		BPF_LD_MAP_VALUE(2, 4, 8),
		BPF_LDX_MEM(BPF_DW, 3, 2, 0), /* map_values[4][1] */
		BPF_ALU64_IMM(BPF_ADD, 3, 1),
		BPF_STX_MEM(BPF_DW, 2, 3, 0),
		BPF_ALU64_REG(BPF_ADD, 6, 3),
		BPF_MOV64_REG(0, 6),
		BPF_EXIT_INSN(),
	};

	(void)state;
	map_values[4][1] = 100;
	for (size_t i = 0; i < N(engines); i++) {
		struct bpftime_vm *vm = load(prog, N(prog));

		select_engine(vm, engines[i]);
		assert_int_equal(run(vm, NULL, 0), (0x1003 ^ 0xabc) + 101 + i);
		assert_int_equal(map_values[4][1], 101 + i);
		bpftime_vm__free(vm);
	}
}

/* IR and object output; the object loads alone into a fresh VM. */
static void test_emit_ir_and_object(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(1, 5),
		BPF_CALL_HELPER(1),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = load(prog, N(prog)), *other;
	size_t size;
	void *buf;

	(void)state;
	assert_int_equal(bpftime_vm__emit_aot(vm, true, &buf, &size), 0);
	assert_non_null(strstr(buf, "define i64 @bpf_main("));
	assert_non_null(strstr(buf, "@_bpf_helper_ext_0001("));
	free(buf);
	assert_int_equal(bpftime_vm__emit_aot(vm, false, &buf, &size), 0);
	assert_memory_equal(buf, "\177ELF", 4);

	/* the object loads into another VM (program-less) with helper 1 bound */
	other = bpftime_vm__new(NULL);
	assert_non_null(other);
	assert_int_equal(bpftime_vm__load_aot(other, buf, size), -ENOENT);
	assert_non_null(strstr(bpftime_vm__last_error(other), "_bpf_helper_ext_0001"));
	assert_int_equal(bpftime_vm__register_helper(other, 1, "xor", helper_xor), 0);
	assert_int_equal(bpftime_vm__load_aot(other, buf, size), 0);
	assert_int_equal(bpftime_vm__compile(other, BPFTIME_ENGINE_AOT), 0);
	assert_int_equal(run(other, NULL, 0), 5 ^ 0xabc);
	/* only the object is there: no other engine can run */
	assert_int_equal(bpftime_vm__compile(other, BPFTIME_ENGINE_INTERP), -EOPNOTSUPP);
	bpftime_vm__free(other);

	/* malformed objects are refused with a reason */
	other = bpftime_vm__new(NULL);
	assert_int_equal(bpftime_vm__load_aot(other, "not an object", 13), -ENOEXEC);
	assert_string_equal(bpftime_vm__last_error(other), "aot object: not an ELF file");
	assert_int_equal(bpftime_vm__load_aot(other, buf, 64), -ENOEXEC);
	((uint8_t *)buf)[18] = 0xf7; /* e_machine = EM_BPF */
	assert_int_equal(bpftime_vm__load_aot(other, buf, size), -ENOEXEC);
	assert_string_equal(bpftime_vm__last_error(other), "aot object: not an x86-64 ELF object");
	bpftime_vm__free(other);
	free(buf);
	bpftime_vm__free(vm);
}

/* A loop over the memory, compiled once and run from four threads at once:
 * compiled code keeps no state of its own. */
#include <pthread.h>

struct thread_arg {
	struct bpftime_vm *vm;
	uint64_t sum;
};

static void *thread_run(void *p)
{
	struct thread_arg *a = p;
	uint8_t mem[32];

	for (int i = 0; i < 1000; i++) {
		uint64_t r0 = 0;

		for (size_t j = 0; j < sizeof(mem); j++)
			mem[j] = (uint8_t)(i + j);
		if (bpftime_vm__run(a->vm, mem, sizeof(mem), &r0))
			return NULL;
		a->sum += r0;
	}
	return p;
}

static void test_threads(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 0),
		BPF_JMP_IMM(BPF_JEQ, 2, 0, 5),
		BPF_LDX_MEM(BPF_B, 3, 1, 0),
		BPF_ALU64_REG(BPF_ADD, 0, 3),
		BPF_ALU64_IMM(BPF_ADD, 1, 1),
		BPF_ALU64_IMM(BPF_SUB, 2, 1),
		BPF_JMP_A(-6),
		BPF_EXIT_INSN(),
	};
	uint64_t want = 0;

	(void)state;
	for (int i = 0; i < 1000; i++)
		for (int j = 0; j < 32; j++)
			want += (uint8_t)(i + j);
	for (size_t e = 1; e < N(engines); e++) {
		struct bpftime_vm *vm = load(prog, N(prog));
		struct thread_arg args[4];
		pthread_t t[4];

		select_engine(vm, engines[e]);
		for (int i = 0; i < 4; i++) {
			args[i] = (struct thread_arg){ .vm = vm };
			assert_int_equal(pthread_create(&t[i], NULL, thread_run, &args[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			void *ret;

			assert_int_equal(pthread_join(t[i], &ret), 0);
			assert_ptr_equal(ret, &args[i]);
			assert_int_equal(args[i].sum, want);
		}
		bpftime_vm__free(vm);
	}
}

static const char *missing_why = "";

/* BPFTIME_LLVM_LIB names no file, or a library that is not the back end:
 * both LLVM engines fail cleanly, saying why (missing_why). */
static void test_backend_missing(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 1),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = load(prog, N(prog));
	size_t size;
	void *buf;

	(void)state;
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_LLVM), -EOPNOTSUPP);
	assert_non_null(strstr(bpftime_vm__last_error(vm), "llvm back end not available"));
	if (!strstr(bpftime_vm__last_error(vm), missing_why))
		fail_msg("'%s' does not say '%s'", bpftime_vm__last_error(vm), missing_why);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_AOT), -EOPNOTSUPP);
	assert_int_equal(bpftime_vm__emit_aot(vm, false, &buf, &size), -EOPNOTSUPP);
	assert_null(buf);
	/* the other engines are unaffected */
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_INTERP), 0);
	assert_int_equal(run(vm, NULL, 0), 1);
	bpftime_vm__free(vm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_divmod_edges),
		cmocka_unit_test(test_shifts_and_atomics),
		cmocka_unit_test(test_mul_rotate),
		cmocka_unit_test(test_tail_calls),
		cmocka_unit_test(test_callx),
		cmocka_unit_test(test_call_depth),
		cmocka_unit_test(test_callbacks),
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_emit_ir_and_object),
		cmocka_unit_test(test_threads),
	};
	const struct CMUnitTest missing[] = {
		cmocka_unit_test(test_backend_missing),
	};

	if (argc > 1 && !strcmp(argv[1], "missing")) {
		if (argc > 2)
			missing_why = argv[2];
		return cmocka_run_group_tests_name("llvm_missing", missing, NULL, NULL);
	}
	return cmocka_run_group_tests_name("llvm", tests, NULL, NULL);
}
