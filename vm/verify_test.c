/* SPDX-License-Identifier: MIT */
/* vm/verify_test.c: the structural verifier.  Each rejected program pins its
 * exact message (they are part of the interface: conformance "-- error"
 * cases and users' scripts read them); the accepted ones guard against a
 * verifier that is stricter than the ISA. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bpftime/log.h>
#include "vm/internal.h"
#include "vm/test_insn.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t helper_zero(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	(void)e;
	return 0;
}

static int verify(const struct bpftime_insn *insns, size_t cnt, char *msg, size_t len)
{
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	int err;

	assert_non_null(vm);
	assert_int_equal(bpftime_vm__register_helper(vm, 1, "map_lookup_elem", helper_zero), 0);
	err = bpftime_vm__load(vm, insns, cnt);
	snprintf(msg, len, "%s", bpftime_vm__last_error(vm));
	bpftime_vm__free(vm);
	return err;
}

struct reject_case {
	int err; /* the errno, the kernel's for that refusal (EINVAL unless said) */
	const char *msg;
	size_t cnt;
	struct bpftime_insn insns[12];
};

#define REJECT_E(ERR, MSG, ...)                                                                 \
	{                                                                                       \
		.err = (ERR), .msg = (MSG), .cnt = N(((struct bpftime_insn[]){ __VA_ARGS__ })), \
		.insns = {                                                                      \
			__VA_ARGS__                                                             \
		}                                                                               \
	}
#define REJECT(MSG, ...) REJECT_E(EINVAL, MSG, __VA_ARGS__)

static void test_rejects(void **state)
{
	/* an automatic array: the insn macros are compound literals */
	const struct reject_case rejects[] = {
		/* opcodes and encodings */
		REJECT("pc 1: unknown opcode ff", BPF_MOV64_IMM(0, 0),
		       BPF_RAW_INSN(0xff, 0, 0, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_LD_[ABS|IND] instructions not allowed for this program type "
		       "(bpftime has none of these legacy packet loads)",
		       BPF_RAW_INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: unknown opcode 8f",
		       BPF_RAW_INSN(BPF_ALU64 | BPF_NEG | BPF_X, 0, 1, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: unknown opcode 99", BPF_LDX_MEMSX(BPF_DW, 0, 1, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ALU uses reserved fields (src is not zero)",
		       BPF_RAW_INSN(OP_ADD64_IMM, 0, 3, 0, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ALU uses reserved fields (imm is not zero)",
		       BPF_RAW_INSN(OP_ADD64_REG, 0, 1, 0, 7), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ALU uses reserved fields (off is not zero)",
		       BPF_RAW_INSN(OP_ADD64_REG, 0, 1, 2, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: BPF_EXIT uses reserved fields (off is not zero)", BPF_MOV64_IMM(0, 0),
		       BPF_RAW_INSN(OP_EXIT, 0, 0, 1, 0)),
		REJECT("pc 0: BPF_JA uses reserved fields (imm is not zero)",
		       BPF_RAW_INSN(OP_JA, 0, 0, 1, 5), BPF_EXIT_INSN(), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_CALL uses reserved fields (dst is not zero)",
		       BPF_RAW_INSN(OP_CALL, 1, 0, 0, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_END uses reserved fields (width 8)", BPF_ENDIAN(BPF_TO_BE, 0, 8),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_END uses reserved fields (width 24)", BPF_BSWAP(0, 24),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ATOMIC uses invalid atomic opcode 10",
		       BPF_ATOMIC_OP(BPF_DW, BPF_SUB, 10, 1, -8), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ATOMIC uses invalid atomic opcode e0",
		       BPF_ATOMIC_OP(BPF_W, BPF_XCHG & ~BPF_FETCH, 10, 1, -8), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ALU uses reserved fields (div off 2)",
		       BPF_RAW_INSN(OP_DIV64_REG, 0, 1, 2, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_ALU uses reserved fields (mod off -1)",
		       BPF_RAW_INSN(OP_MOD32_IMM, 0, 0, -1, 3), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_MOV uses reserved fields (movsx off 32)",
		       BPF_MOVSX32_REG(0, 1, 32), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_MOV uses reserved fields (movsx off 4)", BPF_MOVSX64_REG(0, 1, 4),
		       BPF_EXIT_INSN()),
		/* registers */
		REJECT("pc 0: R11 is invalid", BPF_MOV64_IMM(11, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: R12 is invalid", BPF_MOV64_IMM(0, 0), BPF_LDX_MEM(BPF_W, 0, 12, 0),
		       BPF_EXIT_INSN()),
		REJECT_E(EACCES, "pc 2: frame pointer is read only", BPF_MOV64_IMM(0, 0),
			 BPF_MOV64_IMM(1, 0), BPF_MOV64_REG(10, 1), BPF_EXIT_INSN()),
		REJECT_E(EACCES, "pc 0: frame pointer is read only",
			 BPF_LDX_MEM(BPF_DW, 10, 10, -8), BPF_EXIT_INSN()),
		REJECT_E(EACCES, "pc 0: frame pointer is read only", BPF_LD_IMM64(10, 1),
			 BPF_EXIT_INSN()),
		REJECT_E(EACCES, "pc 0: frame pointer is read only",
			 BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, 1, 10, 0), BPF_EXIT_INSN()),
		/* division by an immediate zero, every form */
		REJECT("pc 5: div by zero", BPF_MOV64_IMM(0, 1), BPF_MOV64_IMM(1, 1),
		       BPF_MOV64_IMM(2, 1), BPF_MOV64_IMM(3, 1), BPF_MOV64_IMM(4, 1),
		       BPF_ALU64_IMM(BPF_DIV, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: div by zero", BPF_ALU64_IMM(BPF_MOD, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: div by zero", BPF_ALU32_IMM(BPF_DIV, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: div by zero", BPF_ALU32_IMM(BPF_MOD, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: div by zero", BPF_SDIV64_IMM(0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: div by zero", BPF_SMOD32_IMM(0, 0), BPF_EXIT_INSN()),
		/* jumps */
		REJECT("pc 1: jump out of range from insn 1 to 40", BPF_MOV64_IMM(0, 0),
		       BPF_JMP_IMM(BPF_JEQ, 0, 0, 38), BPF_EXIT_INSN()),
		REJECT("pc 0: jump out of range from insn 0 to -1", BPF_JMP_A(-2), BPF_EXIT_INSN()),
		REJECT("pc 1: jump out of range from insn 1 to 3", BPF_MOV64_IMM(0, 0),
		       BPF_JMP32_A(1), BPF_EXIT_INSN()),
		REJECT("pc 0: jump into the middle of ldimm64 insn 1", BPF_JMP_A(1),
		       BPF_LD_IMM64(0, 1), BPF_EXIT_INSN()),
		REJECT("pc 3: jump out of range from insn 3 to 0 (it leaves the subprogram at pc "
		       "3)",
		       BPF_MOV64_IMM(0, 0), BPF_CALL_REL(1), BPF_EXIT_INSN(), BPF_JMP_A(-4)),
		/* lddw */
		REJECT("pc 1: invalid BPF_LD_IMM insn (the second slot is missing)",
		       BPF_MOV64_IMM(0, 0), BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1)),
		REJECT("pc 1: invalid bpf_ld_imm64 insn (malformed second slot)",
		       BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1), BPF_RAW_INSN(0, 1, 0, 0, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 1: invalid bpf_ld_imm64 insn (malformed second slot)",
		       BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1), BPF_EXIT_INSN(), BPF_EXIT_INSN()),
		REJECT("pc 0: unrecognized bpf_ld_imm64 insn (pseudo source 7)",
		       BPF_LD_IMM64_RAW(0, 7, 1, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: invalid bpf_ld_imm64 insn (imm of the second slot)",
		       BPF_LD_IMM64_RAW(0, 1, 3, 4), BPF_EXIT_INSN()),
		REJECT("pc 0: call to invalid destination (pc 8)", BPF_LD_FUNC(1, 7),
		       BPF_EXIT_INSN()),
		/* calls */
		REJECT("pc 0: unknown func bpf_skc_lookup_tcp#99", BPF_CALL_HELPER(99),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: invalid func unknown#-1", BPF_CALL_HELPER(-1), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid func unknown#512", BPF_CALL_HELPER(512), BPF_EXIT_INSN()),
		REJECT("pc 0: kfunc calls (kernel functions by BTF id) are not supported by "
		       "bpftime",
		       BPF_RAW_INSN(OP_CALL, 0, BPFTIME_CALL_KFUNC, 0, 1234), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_CALL uses reserved fields (src 3)",
		       BPF_RAW_INSN(OP_CALL, 0, 3, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: call to invalid destination (pc 5)", BPF_CALL_REL(4),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: call into the middle of ldimm64 insn 2", BPF_CALL_REL(2),
		       BPF_EXIT_INSN(), BPF_LD_IMM64(0, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: R11 is invalid", BPF_CALLX(11), BPF_EXIT_INSN()),
		REJECT("pc 0: BPF_CALL uses reserved fields (imm is not zero)",
		       BPF_RAW_INSN(OP_CALLX, 1, 0, 0, 1), BPF_EXIT_INSN()),
		/* the shape of the program */
		REJECT("pc 0: last insn is not an exit or jmp", BPF_MOV64_IMM(0, 0)),
		REJECT("pc 1: last insn is not an exit or jmp", BPF_MOV64_IMM(0, 0),
		       BPF_JMP_IMM(BPF_JEQ, 0, 0, -2)),
		REJECT("pc 1: last insn is not an exit or jmp", BPF_MOV64_IMM(0, 0),
		       BPF_CALL_HELPER(1)),
		REJECT("pc 2: last insn is not an exit or jmp (it falls through into the "
		       "subprogram at pc 3)",
		       BPF_CALL_REL(2), BPF_MOV64_IMM(0, 0), BPF_MOV64_IMM(0, 1),
		       BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN()),
		REJECT_E(
			E2BIG,
			"pc 3: the call stack of 9 frames is too deep ! (a recursive call to pc 2)",
			BPF_CALL_REL(1), BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 0), BPF_CALL_REL(-2),
			BPF_EXIT_INSN()),
		REJECT_E(
			E2BIG,
			"pc 3: the call stack of 9 frames is too deep ! (a recursive call to pc 3)",
			BPF_CALL_REL(2), BPF_EXIT_INSN(), BPF_EXIT_INSN(), BPF_CALL_REL(-1),
			BPF_EXIT_INSN()),
	};
	char msg[256];

	(void)state;
	assert_true(N(rejects) >= 20);
	for (size_t i = 0; i < N(rejects); i++) {
		int err = verify(rejects[i].insns, rejects[i].cnt, msg, sizeof(msg));

		if (err != -rejects[i].err || strcmp(msg, rejects[i].msg))
			fail_msg("case %zu: got %d '%s', want %d '%s'", i, err, msg,
				 -rejects[i].err, rejects[i].msg);
	}
}

/* The depth case needs more slots than a struct reject_case holds: a chain
 * of 9 frames, each subprogram "call +2; exit; exit" (pc 3k). */
static void test_call_depth(void **state)
{
	struct bpftime_insn prog[3 * 9];
	char msg[256];

	(void)state;
	for (size_t k = 0; k < 9; k++) {
		prog[3 * k] = BPF_CALL_REL(2);
		prog[3 * k + 1] = BPF_EXIT_INSN();
		prog[3 * k + 2] = BPF_EXIT_INSN();
	}
	/* the last subprogram calls nothing: 9 frames */
	prog[3 * 8] = BPF_MOV64_IMM(0, 0);
	assert_int_equal(verify(prog, N(prog), msg, sizeof(msg)), -E2BIG);
	assert_string_equal(msg, "pc 21: the call stack of 9 frames is too deep !");
	/* 8 frames are fine */
	prog[3 * 7] = BPF_MOV64_IMM(0, 0);
	assert_int_equal(verify(prog, N(prog), msg, sizeof(msg)), 0);
}

static void test_size_limits(void **state)
{
	struct bpftime_insn *big;
	char msg[256];

	(void)state;
	assert_int_equal(verify(NULL, 0, msg, sizeof(msg)), -E2BIG);
	assert_string_equal(msg, "program has no instructions");
	big = calloc(BPFTIME_MAX_INSNS + 1, sizeof(*big));
	assert_non_null(big);
	for (size_t i = 0; i <= BPFTIME_MAX_INSNS; i++)
		big[i] = BPF_MOV64_IMM(0, 0);
	big[BPFTIME_MAX_INSNS] = BPF_EXIT_INSN();
	assert_int_equal(verify(big, BPFTIME_MAX_INSNS + 1, msg, sizeof(msg)), -E2BIG);
	assert_string_equal(msg, "program too large: 1000001 instructions (max 1000000)");
	/* exactly the limit is accepted */
	big[BPFTIME_MAX_INSNS - 1] = BPF_EXIT_INSN();
	assert_int_equal(verify(big, BPFTIME_MAX_INSNS, msg, sizeof(msg)), 0);
	free(big);
}

static void test_accepts(void **state)
{
	/* things the ISA allows that a too-strict verifier would refuse */
	static const struct bpftime_insn ok1[] = {
		BPF_ALU64_IMM(BPF_LSH, 0, 70), /* shift counts are masked, not rejected */
		BPF_ALU32_IMM(BPF_ARSH, 0, -1),
		BPF_ALU64_REG(BPF_DIV, 0, 1),	  /* by a register: defined */
		BPF_SDIV32_IMM(0, -1),		  /* INT_MIN / -1 is defined */
		BPF_ST_MEM(BPF_DW, 10, -8, 1),	  /* r10 as a base */
		BPF_STX_MEM(BPF_DW, 10, 10, -16), /* and as a source */
		BPF_ATOMIC_OP(BPF_W, BPF_CMPXCHG, 10, 1, -4),
		BPF_MOVSX64_REG(1, 2, 32),
		BPF_LD_IMM64(3, 0x1122334455667788),
		BPF_JMP32_A(1), /* gotol over a slot */
		BPF_EXIT_INSN(),
		BPF_CALLX(3), /* callx of any register */
		BPF_EXIT_INSN(),
	};
	/* exit need not be last: the bpf_conformance exit-not-last shape */
	static const struct bpftime_insn ok2[] = {
		BPF_MOV64_IMM(1, 0), BPF_JMP_A(2),	  BPF_MOV64_IMM(2, 0),
		BPF_EXIT_INSN(),     BPF_MOV64_IMM(0, 0), BPF_JMP_A(-4),
	};
	/* a function value makes a subprogram; a call to it too */
	static const struct bpftime_insn ok3[] = {
		BPF_LD_FUNC(1, 3), /* subprogram at pc 4 */
		BPF_CALL_REL(3),   /* subprogram at pc 6 */
		BPF_EXIT_INSN(),     BPF_MOV64_IMM(0, 1), BPF_EXIT_INSN(),
		BPF_MOV64_IMM(0, 2), BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm;
	char msg[256];

	(void)state;
	assert_int_equal(verify(ok1, N(ok1), msg, sizeof(msg)), 0);
	assert_int_equal(verify(ok2, N(ok2), msg, sizeof(msg)), 0);
	vm = bpftime_vm__new(NULL);
	assert_int_equal(bpftime_vm__load(vm, ok3, N(ok3)), 0);
	assert_true(vm_is_subprog(vm, 0));
	assert_true(vm_is_subprog(vm, 4));
	assert_true(vm_is_subprog(vm, 6));
	assert_false(vm_is_subprog(vm, 3));
	assert_false(vm_is_subprog(vm, 5));
	assert_false(vm_is_subprog(vm, 8));
	bpftime_vm__free(vm);
}

static uint64_t next_rand(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return *seed;
}

/* A plausible instruction: a valid opcode with the fields its form uses set
 * to small values and the others zero; one in eight gets one field (or the
 * opcode) scrambled. */
static struct bpftime_insn random_insn(uint64_t *seed, const uint8_t *valid, size_t nvalid)
{
	static const int32_t atomics[] = { 0x00, 0x01, 0x40, 0x41, 0x50,
					   0x51, 0xa0, 0xa1, 0xe1, 0xf1 };
	uint64_t x = next_rand(seed), y = next_rand(seed);
	uint8_t code = valid[x % nvalid];
	uint32_t flags = insn_desc[code].flags;
	bool reg = BPF_SRC(code) == BPF_X;
	struct bpftime_insn insn = BPF_RAW_INSN(code, (x >> 8) % 10, 0, 0, 0);

	if (flags & F_ALU) {
		insn.src = reg ? (x >> 12) % 11 : 0;
		insn.imm = reg ? 0 : (int32_t)((x >> 16) % 7) + 1;
		if (flags & F_END)
			insn.imm = 16 << ((x >> 16) % 3);
	} else if (flags & F_JUMP) {
		insn.src = reg && (flags & F_COND) ? (x >> 12) % 11 : 0;
		insn.off = (int16_t)((x >> 16) % 7) - 3;
		insn.imm = reg || !(flags & F_COND) ? 0 : (int32_t)((x >> 24) % 5);
		if (code == OP_JA32) {
			insn.imm = insn.off;
			insn.off = 0;
		}
		if (code == OP_JA)
			insn.dst = 0;
	} else if (flags & F_CALL) {
		insn.dst = code == OP_CALLX ? insn.dst : 0;
		insn.src = code == OP_CALL ? (x >> 12) % 2 : 0;
		insn.imm = code == OP_CALLX ? 0 : insn.src ? (int32_t)((x >> 16) % 7) - 3 : 1;
	} else if (flags & F_TERM) {
		insn.dst = 0;
	} else if (flags & (F_LOAD | F_STORE)) {
		insn.src = BPF_CLASS(code) == BPF_ST ? 0 : (x >> 12) % 11;
		insn.off = (int16_t)((x >> 16) % 16) - 8;
		insn.imm = BPF_CLASS(code) == BPF_ST ? (int32_t)(x >> 32) : 0;
		if (flags & F_ATOMIC)
			insn.imm = atomics[(x >> 24) % (sizeof(atomics) / sizeof(atomics[0]))];
	} else { /* lddw: the caller fills the second slot */
		insn.imm = (int32_t)(x >> 32);
	}
	switch (y % 8 == 0 ? (y >> 3) % 5 : 5) {
	case 0:
		insn.code = (uint8_t)(y >> 8);
		break;
	case 1:
		insn.dst = (y >> 8) % 16;
		break;
	case 2:
		insn.src = (y >> 8) % 16;
		break;
	case 3:
		insn.off = (int16_t)(y >> 16);
		break;
	case 4:
		insn.imm = (int32_t)(y >> 32);
		break;
	}
	return insn;
}

/* Random programs, biased toward valid opcodes and small fields: the
 * verifier must answer (0, or -EINVAL with a "pc N: ..." or whole-program
 * message) and never crash; whatever it accepts disassembles cleanly, has a
 * subprogram table that starts at 0 and, when it cannot loop, runs on the
 * bounds-checked interpreter to a result or a clean -EFAULT. */
static void test_random_programs(void **state)
{
	uint8_t valid[256];
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = true);
	size_t nvalid = 0, accepted = 0, ran = 0;
	uint8_t mem[64] = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15;
	struct bpftime_insn prog[24];
	FILE *null = fopen("/dev/null", "w");

	(void)state;
	assert_non_null(null);
	for (unsigned int c = 0; c < 256; c++)
		if (insn_desc[c].flags & F_VALID)
			valid[nvalid++] = (uint8_t)c;
	for (int iter = 0; iter < 20000; iter++) {
		size_t cnt = 1 + iter % N(prog);
		struct bpftime_vm *vm = bpftime_vm__new(&opts);
		bool loops = false;
		uint64_t r0;
		int err;

		assert_non_null(vm);
		assert_int_equal(bpftime_vm__register_helper(vm, 1, "map_lookup_elem", helper_zero),
				 0);
		for (size_t i = 0; i < cnt; i++)
			prog[i] = random_insn(&seed, valid, nvalid);
		for (size_t i = 0; i + 1 < cnt; i++)
			if (prog[i].code == OP_LDDW && (seed >> (i % 64)) & 1)
				prog[++i] = BPF_RAW_INSN(0, 0, 0, 0, (int32_t)seed);
		prog[cnt - 1] = BPF_EXIT_INSN();
		if (seed % 16 == 0)
			prog[cnt - 1] = random_insn(&seed, valid, nvalid);
		err = bpftime_vm__load(vm, prog, cnt);
		if (err) {
			/* malformed (EINVAL), r10 written (EACCES), calls too
			 * deep or recursive (E2BIG) */
			assert_true(err == -EINVAL || err == -EACCES || err == -E2BIG);
			assert_true(!strncmp(bpftime_vm__last_error(vm), "pc ", 3));
		} else {
			accepted++;
			assert_int_equal(bpftime_vm__disasm(vm, null), 0);
			assert_true(vm_is_subprog(vm, 0));
			/* without backward jumps it terminates: the bounds-checked
			 * interpreter runs it to a result or a clean fault */
			for (size_t i = 0; i < cnt; i++)
				if (insn_desc[prog[i].code].flags & F_JUMP &&
				    (prog[i].code == OP_JA32 ? prog[i].imm : prog[i].off) < 0)
					loops = true;
			if (!loops) {
				err = bpftime_vm__run(vm, mem, sizeof(mem), &r0);
				assert_true(err == 0 || err == -EFAULT);
				ran++;
			}
		}
		bpftime_vm__free(vm);
	}
	fclose(null);
	/* the generator must reach both outcomes to mean anything */
	print_message("random programs: %zu of 20000 accepted, %zu run\n", accepted, ran);
	assert_true(accepted > 1000 && accepted < 19000);
}

static char logged[512];

__attribute__((format(printf, 2, 0))) static int capture(enum bpftime_log_level level,
							 const char *fmt, va_list ap)
{
	if (level == BPFTIME_LOG_DEBUG && strstr(fmt, "rejected"))
		vsnprintf(logged, sizeof(logged), fmt, ap);
	return 0;
}

/* The debug log shows the rejected instruction in the disassembler's words. */
static void test_log_shows_insn(void **state)
{
	const struct bpftime_insn prog[] = { BPF_MOV64_IMM(0, 1), BPF_ALU32_IMM(BPF_MOD, 0, 0),
					     BPF_EXIT_INSN() };
	bpftime_print_fn old = bpftime_set_print(capture);
	char msg[256];

	(void)state;
	logged[0] = 0;
	assert_int_equal(verify(prog, N(prog), msg, sizeof(msg)), -EINVAL);
	bpftime_set_print(old);
	assert_string_equal(logged, "bpftime: prog 'prog': rejected: pc 1: div by zero:    1: "
				    "(94) w0 %= 0\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejects),	       cmocka_unit_test(test_call_depth),
		cmocka_unit_test(test_size_limits),    cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_log_shows_insn), cmocka_unit_test(test_random_programs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
