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
	const char *msg;
	size_t cnt;
	struct bpftime_insn insns[12];
};

#define REJECT(MSG, ...)                                                                     \
	{                                                                                    \
		.msg = (MSG), .cnt = N(((struct bpftime_insn[]){ __VA_ARGS__ })), .insns = { \
			__VA_ARGS__                                                          \
		}                                                                            \
	}

static void test_rejects(void **state)
{
	/* an automatic array: the insn macros are compound literals */
	const struct reject_case rejects[] = {
		/* opcodes and encodings */
		REJECT("pc 1: invalid opcode 0xff", BPF_MOV64_IMM(0, 0),
		       BPF_RAW_INSN(0xff, 0, 0, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid opcode 0x20",
		       BPF_RAW_INSN(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid opcode 0x8f",
		       BPF_RAW_INSN(BPF_ALU64 | BPF_NEG | BPF_X, 0, 1, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid opcode 0x99", BPF_LDX_MEMSX(BPF_DW, 0, 1, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: reserved src field is not zero",
		       BPF_RAW_INSN(OP_ADD64_IMM, 0, 3, 0, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: reserved imm field is not zero",
		       BPF_RAW_INSN(OP_ADD64_REG, 0, 1, 0, 7), BPF_EXIT_INSN()),
		REJECT("pc 0: reserved off field is not zero",
		       BPF_RAW_INSN(OP_ADD64_REG, 0, 1, 2, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: reserved off field is not zero", BPF_MOV64_IMM(0, 0),
		       BPF_RAW_INSN(OP_EXIT, 0, 0, 1, 0)),
		REJECT("pc 0: reserved imm field is not zero", BPF_RAW_INSN(OP_JA, 0, 0, 1, 5),
		       BPF_EXIT_INSN(), BPF_EXIT_INSN()),
		REJECT("pc 0: reserved dst field is not zero", BPF_RAW_INSN(OP_CALL, 1, 0, 0, 1),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: invalid byte swap width 8", BPF_ENDIAN(BPF_TO_BE, 0, 8),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: invalid byte swap width 24", BPF_BSWAP(0, 24), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid atomic operation 0x10",
		       BPF_ATOMIC_OP(BPF_DW, BPF_SUB, 10, 1, -8), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid atomic operation 0xe0",
		       BPF_ATOMIC_OP(BPF_W, BPF_XCHG & ~BPF_FETCH, 10, 1, -8), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid div offset 2", BPF_RAW_INSN(OP_DIV64_REG, 0, 1, 2, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: invalid mod offset -1", BPF_RAW_INSN(OP_MOD32_IMM, 0, 0, -1, 3),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: invalid movsx offset 32", BPF_MOVSX32_REG(0, 1, 32), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid movsx offset 4", BPF_MOVSX64_REG(0, 1, 4), BPF_EXIT_INSN()),
		/* registers */
		REJECT("pc 0: invalid register r11", BPF_MOV64_IMM(11, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: invalid register r12", BPF_MOV64_IMM(0, 0),
		       BPF_LDX_MEM(BPF_W, 0, 12, 0), BPF_EXIT_INSN()),
		REJECT("pc 2: r10 is read-only", BPF_MOV64_IMM(0, 0), BPF_MOV64_IMM(1, 0),
		       BPF_MOV64_REG(10, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: r10 is read-only", BPF_LDX_MEM(BPF_DW, 10, 10, -8), BPF_EXIT_INSN()),
		REJECT("pc 0: r10 is read-only", BPF_LD_IMM64(10, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: r10 is read-only",
		       BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, 1, 10, 0), BPF_EXIT_INSN()),
		/* division by an immediate zero, every form */
		REJECT("pc 5: division by zero immediate", BPF_MOV64_IMM(0, 1), BPF_MOV64_IMM(1, 1),
		       BPF_MOV64_IMM(2, 1), BPF_MOV64_IMM(3, 1), BPF_MOV64_IMM(4, 1),
		       BPF_ALU64_IMM(BPF_DIV, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: division by zero immediate", BPF_ALU64_IMM(BPF_MOD, 0, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: division by zero immediate", BPF_ALU32_IMM(BPF_DIV, 0, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: division by zero immediate", BPF_ALU32_IMM(BPF_MOD, 0, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: division by zero immediate", BPF_SDIV64_IMM(0, 0), BPF_EXIT_INSN()),
		REJECT("pc 0: division by zero immediate", BPF_SMOD32_IMM(0, 0), BPF_EXIT_INSN()),
		/* jumps */
		REJECT("pc 1: jump out of range to pc 40", BPF_MOV64_IMM(0, 0),
		       BPF_JMP_IMM(BPF_JEQ, 0, 0, 38), BPF_EXIT_INSN()),
		REJECT("pc 0: jump out of range to pc -1", BPF_JMP_A(-2), BPF_EXIT_INSN()),
		REJECT("pc 1: jump out of range to pc 3", BPF_MOV64_IMM(0, 0), BPF_JMP32_A(1),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: jump into the middle of lddw at pc 2", BPF_JMP_A(1),
		       BPF_LD_IMM64(0, 1), BPF_EXIT_INSN()),
		REJECT("pc 3: jump to pc 0 leaves the subprogram at pc 3", BPF_MOV64_IMM(0, 0),
		       BPF_CALL_REL(1), BPF_EXIT_INSN(), BPF_JMP_A(-4)),
		/* lddw */
		REJECT("pc 1: lddw is missing its second slot", BPF_MOV64_IMM(0, 0),
		       BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1)),
		REJECT("pc 1: malformed second slot of lddw", BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1),
		       BPF_RAW_INSN(0, 1, 0, 0, 0), BPF_EXIT_INSN()),
		REJECT("pc 1: malformed second slot of lddw", BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1),
		       BPF_EXIT_INSN(), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid lddw pseudo source 7", BPF_LD_IMM64_RAW(0, 7, 1, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 1: reserved imm field is not zero", BPF_LD_IMM64_RAW(0, 1, 3, 4),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: call out of range to pc 8", BPF_LD_FUNC(1, 7), BPF_EXIT_INSN()),
		/* calls */
		REJECT("pc 0: unknown helper 99", BPF_CALL_HELPER(99), BPF_EXIT_INSN()),
		REJECT("pc 0: unknown helper -1", BPF_CALL_HELPER(-1), BPF_EXIT_INSN()),
		REJECT("pc 0: unknown helper 512", BPF_CALL_HELPER(512), BPF_EXIT_INSN()),
		REJECT("pc 0: kfunc calls are not supported",
		       BPF_RAW_INSN(OP_CALL, 0, INSN_CALL_KFUNC, 0, 1234), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid call kind 3", BPF_RAW_INSN(OP_CALL, 0, 3, 0, 0),
		       BPF_EXIT_INSN()),
		REJECT("pc 0: call out of range to pc 5", BPF_CALL_REL(4), BPF_EXIT_INSN()),
		REJECT("pc 0: call into the middle of lddw at pc 3", BPF_CALL_REL(2),
		       BPF_EXIT_INSN(), BPF_LD_IMM64(0, 1), BPF_EXIT_INSN()),
		REJECT("pc 0: invalid register r11", BPF_CALLX(11), BPF_EXIT_INSN()),
		REJECT("pc 0: reserved imm field is not zero", BPF_RAW_INSN(OP_CALLX, 1, 0, 0, 1),
		       BPF_EXIT_INSN()),
		/* the shape of the program */
		REJECT("last instruction does not end the program", BPF_MOV64_IMM(0, 0)),
		REJECT("last instruction does not end the program", BPF_MOV64_IMM(0, 0),
		       BPF_JMP_IMM(BPF_JEQ, 0, 0, -2)),
		REJECT("last instruction does not end the program", BPF_MOV64_IMM(0, 0),
		       BPF_CALL_HELPER(1)),
		REJECT("pc 2: falls through into the subprogram at pc 3", BPF_CALL_REL(2),
		       BPF_MOV64_IMM(0, 0), BPF_MOV64_IMM(0, 1), BPF_MOV64_IMM(0, 2),
		       BPF_EXIT_INSN()),
		REJECT("pc 3: recursive call to pc 2", BPF_CALL_REL(1), BPF_EXIT_INSN(),
		       BPF_MOV64_IMM(0, 0), BPF_CALL_REL(-2), BPF_EXIT_INSN()),
		REJECT("pc 3: recursive call to pc 3", BPF_CALL_REL(2), BPF_EXIT_INSN(),
		       BPF_EXIT_INSN(), BPF_CALL_REL(-1), BPF_EXIT_INSN()),
	};
	char msg[256];

	(void)state;
	assert_true(N(rejects) >= 20);
	for (size_t i = 0; i < N(rejects); i++) {
		int err = verify(rejects[i].insns, rejects[i].cnt, msg, sizeof(msg));

		if (err != -EINVAL || strcmp(msg, rejects[i].msg))
			fail_msg("case %zu: got %d '%s', want -EINVAL '%s'", i, err, msg,
				 rejects[i].msg);
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
	assert_int_equal(verify(prog, N(prog), msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "pc 21: call depth exceeds 8 frames");
	/* 8 frames are fine */
	prog[3 * 7] = BPF_MOV64_IMM(0, 0);
	assert_int_equal(verify(prog, N(prog), msg, sizeof(msg)), 0);
}

static void test_size_limits(void **state)
{
	struct bpftime_insn *big;
	char msg[256];

	(void)state;
	assert_int_equal(verify(NULL, 0, msg, sizeof(msg)), -EINVAL);
	assert_string_equal(msg, "program has no instructions");
	big = calloc(BPFTIME_MAX_INSNS + 1, sizeof(*big));
	assert_non_null(big);
	for (size_t i = 0; i <= BPFTIME_MAX_INSNS; i++)
		big[i] = BPF_MOV64_IMM(0, 0);
	big[BPFTIME_MAX_INSNS] = BPF_EXIT_INSN();
	assert_int_equal(verify(big, BPFTIME_MAX_INSNS + 1, msg, sizeof(msg)), -EINVAL);
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
	assert_string_equal(logged, "bpftime: prog 'prog': rejected: pc 1: division by zero "
				    "immediate:    1: (94) w0 %= 0\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_call_depth),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_log_shows_insn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
