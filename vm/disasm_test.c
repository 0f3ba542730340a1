/* SPDX-License-Identifier: MIT */
/* vm/disasm_test.c: the disassembler's lines, pinned in bpftool's words. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "vm/internal.h"
#include "vm/test_insn.h"

#define N(a)	     (sizeof(a) / sizeof((a)[0]))
#define PROG_1(insn) (const struct bpftime_insn[]){ insn }, 1

static const char *names(void *ctx, int32_t id)
{
	(void)ctx;
	return id == 1 ? "map_lookup_elem" : id == 6 ? "bpf_trace_printk" : NULL;
}

/* ids for fds 3.. are fd * 10 */
static int map_ids(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, char *buf,
		   size_t len)
{
	(void)ctx;
	if (imm < 3)
		return -ENOENT;
	if (src == BPFTIME_PSEUDO_MAP_FD)
		snprintf(buf, len, "map[id:%d]", imm * 10);
	else
		snprintf(buf, len, "map[id:%d][0]+%d", imm * 10, next_imm);
	return 0;
}

struct line_case {
	struct bpftime_insn insn[2];
	const char *text;
};

static void test_lines(void **state)
{
	BPFTIME_OPTS(bpftime_disasm_opts, opts, .helper_name = names, .map_desc = map_ids);
	const struct line_case cases[] = {
		{ { BPF_MOV64_IMM(0, 2) }, "r0 = 2" },
		{ { BPF_MOV64_IMM(0, -1) }, "r0 = -1" },
		{ { BPF_MOV32_IMM(3, 7) }, "w3 = 7" },
		{ { BPF_MOV64_REG(6, 1) }, "r6 = r1" },
		{ { BPF_ALU32_REG(BPF_ADD, 1, 2) }, "w1 += w2" },
		{ { BPF_ALU64_IMM(BPF_SUB, 1, 8) }, "r1 -= 8" },
		{ { BPF_ALU64_IMM(BPF_LSH, 1, 3) }, "r1 <<= 3" },
		{ { BPF_ALU64_REG(BPF_ARSH, 1, 2) }, "r1 s>>= r2" },
		{ { BPF_ALU32_IMM(BPF_XOR, 4, 255) }, "w4 ^= 255" },
		{ { BPF_NEG64(5) }, "r5 = -r5" },
		{ { BPF_NEG32(5) }, "w5 = -w5" },
		{ { BPF_ALU64_REG(BPF_DIV, 1, 2) }, "r1 /= r2" },
		{ { BPF_SDIV64_REG(1, 2) }, "r1 s/= r2" },
		{ { BPF_SMOD64_REG(1, 2) }, "r1 s%= r2" },
		{ { BPF_SDIV32_IMM(1, -3) }, "w1 s/= -3" },
		{ { BPF_ALU32_IMM(BPF_MOD, 1, 10) }, "w1 %= 10" },
		{ { BPF_MOVSX64_REG(1, 2, 8) }, "r1 = (s8)r2" },
		{ { BPF_MOVSX64_REG(1, 2, 32) }, "r1 = (s32)r2" },
		{ { BPF_MOVSX32_REG(1, 2, 16) }, "w1 = (s16)w2" },
		{ { BPF_ENDIAN(BPF_TO_BE, 1, 16) }, "r1 = be16 r1" },
		{ { BPF_ENDIAN(BPF_TO_LE, 1, 64) }, "r1 = le64 r1" },
		{ { BPF_BSWAP(1, 32) }, "r1 = bswap32 r1" },
		{ { BPF_JMP_IMM(BPF_JGT, 1, 5, 3) }, "if r1 > 0x5 goto pc+3" },
		{ { BPF_JMP_IMM(BPF_JSLT, 1, -1, -4) }, "if r1 s< 0xffffffff goto pc-4" },
		{ { BPF_JMP_REG(BPF_JEQ, 1, 2, 0) }, "if r1 == r2 goto pc+0" },
		{ { BPF_JMP32_IMM(BPF_JNE, 3, 0x10, 1) }, "if w3 != 0x10 goto pc+1" },
		{ { BPF_JMP32_REG(BPF_JSET, 3, 4, 7) }, "if w3 & w4 goto pc+7" },
		{ { BPF_JMP_A(-2) }, "goto pc-2" },
		{ { BPF_JMP32_A(70000) }, "gotol pc+70000" },
		{ { BPF_CALL_HELPER(1) }, "call bpf_map_lookup_elem#1" },
		{ { BPF_CALL_HELPER(6) }, "call bpf_trace_printk#6" },
		{ { BPF_CALL_HELPER(99) }, "call unknown#99" },
		{ { BPF_CALL_REL(5) }, "call pc+5" },
		{ { BPF_CALLX(2) }, "callx r2" },
		{ { BPF_EXIT_INSN() }, "exit" },
		{ { BPF_LD_MAP_FD(1, 3) }, "r1 = map[id:30]" },
		{ { BPF_LD_MAP_VALUE(1, 3, 16) }, "r1 = map[id:30][0]+16" },
		{ { BPF_LD_MAP_FD(1, 2) }, "r1 = map[fd:2]" },
		{ { BPF_LD_MAP_VALUE(2, 1, 8) }, "r2 = map[fd:1][0]+8" },
		{ { BPF_LD_IMM64_RAW(1, BPFTIME_PSEUDO_MAP_IDX, 0, 0) }, "r1 = map[idx:0]" },
		{ { BPF_LD_IMM64_RAW(1, BPFTIME_PSEUDO_MAP_IDX_VALUE, 1, 4) },
		  "r1 = map[idx:1][0]+4" },
		{ { BPF_LD_IMM64_RAW(1, BPFTIME_PSEUDO_BTF_ID, 77, 0) }, "r1 = btf_id[77]" },
		{ { BPF_LD_FUNC(2, 5) }, "r2 = subprog[+5]" },
		{ { BPF_LD_IMM64(1, 0x1122334455667788) }, "r1 = 0x1122334455667788" },
		{ { BPF_LD_IMM64(1, 1) }, "r1 = 0x1" },
		{ { BPF_LDX_MEM(BPF_W, 0, 1, 4) }, "r0 = *(u32 *)(r1 +4)" },
		{ { BPF_LDX_MEM(BPF_DW, 0, 10, -16) }, "r0 = *(u64 *)(r10 -16)" },
		{ { BPF_LDX_MEMSX(BPF_B, 0, 1, 0) }, "r0 = *(s8 *)(r1 +0)" },
		{ { BPF_LDX_MEMSX(BPF_W, 3, 2, -2) }, "r3 = *(s32 *)(r2 -2)" },
		{ { BPF_STX_MEM(BPF_DW, 10, 1, -8) }, "*(u64 *)(r10 -8) = r1" },
		{ { BPF_STX_MEM(BPF_B, 1, 2, 3) }, "*(u8 *)(r1 +3) = r2" },
		{ { BPF_ST_MEM(BPF_H, 10, -2, 7) }, "*(u16 *)(r10 -2) = 7" },
		{ { BPF_ATOMIC_OP(BPF_W, BPF_ADD, 1, 2, 0) }, "lock *(u32 *)(r1 +0) += r2" },
		{ { BPF_ATOMIC_OP(BPF_DW, BPF_XOR, 1, 2, 8) }, "lock *(u64 *)(r1 +8) ^= r2" },
		{ { BPF_ATOMIC_OP(BPF_DW, BPF_ADD | BPF_FETCH, 1, 2, 0) },
		  "r2 = atomic64_fetch_add((u64 *)(r1 +0), r2)" },
		{ { BPF_ATOMIC_OP(BPF_W, BPF_OR | BPF_FETCH, 1, 2, 0) },
		  "r2 = atomic_fetch_or((u32 *)(r1 +0), r2)" },
		{ { BPF_ATOMIC_OP(BPF_DW, BPF_XCHG, 1, 2, 0) },
		  "r2 = atomic64_xchg((u64 *)(r1 +0), r2)" },
		{ { BPF_ATOMIC_OP(BPF_DW, BPF_CMPXCHG, 1, 2, 0) },
		  "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)" },
		{ { BPF_ATOMIC_OP(BPF_W, BPF_CMPXCHG, 1, 2, -4) },
		  "r0 = atomic_cmpxchg((u32 *)(r1 -4), r0, r2)" },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct bpftime_insn *insn = cases[i].insn;
		int want = insn->code == OP_LDDW ? 2 : 1;
		int n = bpftime_disasm_insn(insn, (size_t)want, 0, &opts, buf, sizeof(buf));

		if (n != want || strcmp(buf, cases[i].text))
			fail_msg("case %zu: got %d '%s', want %d '%s'", i, n, buf, want,
				 cases[i].text);
	}
	/* without opts: no helper names, map fds */
	assert_int_equal(bpftime_disasm_insn(PROG_1(BPF_CALL_HELPER(1)), 0, NULL, buf, 64), 1);
	assert_string_equal(buf, "call unknown#1");
}

static void test_errors(void **state)
{
	const struct bpftime_insn bad[] = { BPF_RAW_INSN(0xff, 0, 0, 0, 0),
					    BPF_RAW_INSN(OP_LDDW, 0, 0, 0, 1) };
	char buf[64], tiny[8];

	(void)state;
	assert_int_equal(bpftime_disasm_insn(bad, 2, 0, NULL, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "invalid opcode 0xff");
	assert_int_equal(bpftime_disasm_insn(bad, 2, 1, NULL, buf, sizeof(buf)), -EINVAL);
	assert_string_equal(buf, "incomplete lddw");
	assert_int_equal(bpftime_disasm_insn(bad, 2, 2, NULL, buf, sizeof(buf)), -EINVAL);
	/* truncation keeps the string terminated and still counts slots */
	assert_int_equal(bpftime_disasm_insn(PROG_1(BPF_JMP_IMM(BPF_JGT, 1, 5, 3)), 0, NULL, tiny,
					     sizeof(tiny)),
			 1);
	assert_string_equal(tiny, "if r1 >");
}

static uint64_t helper_zero(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* The whole-program printer, as the tools use it (bpftool's layout). */
static void test_program(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(1, 0),	       BPF_LD_IMM64(2, 0x100000000), BPF_CALL_HELPER(14),
		BPF_JMP_IMM(BPF_JEQ, 0, 0, 1), BPF_MOV64_IMM(0, 1),	     BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	(void)state;
	assert_int_equal(bpftime_vm__register_helper(vm, 14, "get_current_pid_tgid", helper_zero),
			 0);
	assert_int_equal(bpftime_vm__load(vm, prog, N(prog)), 0);
	f = open_memstream(&text, &size);
	assert_non_null(f);
	assert_int_equal(bpftime_vm__disasm(vm, f), 0);
	fclose(f);
	assert_string_equal(text, "   0: (b7) r1 = 0\n"
				  "   1: (18) r2 = 0x100000000\n"
				  "   3: (85) call bpf_get_current_pid_tgid#14\n"
				  "   4: (15) if r0 == 0x0 goto pc+1\n"
				  "   5: (b7) r0 = 1\n"
				  "   6: (95) exit\n");
	free(text);
	bpftime_vm__free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
