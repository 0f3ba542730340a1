/* SPDX-License-Identifier: MIT */
/* tests/conformance/asm_test.c: unit tests of the .data reader and the
 * assembler.  Encodings are checked against words worked out by hand from
 * RFC 9669 (written as the 64-bit little-endian slot, the "-- raw" notation),
 * and every shared conformance file must parse. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/testkit.h"
#include "asm.h"

static uint64_t word(const struct bpftime_insn *insn)
{
	return insn->code | (uint64_t)insn->dst << 8 | (uint64_t)insn->src << 12 |
	       (uint64_t)(uint16_t)insn->off << 16 | (uint64_t)(uint32_t)insn->imm << 32;
}

struct enc_case {
	const char *src;
	uint64_t w[2]; /* w[1] only for lddw */
};

static const struct enc_case enc_cases[] = {
	{ "add %r1, %r2", { 0x000000000000210f } },
	{ "add32 %r1, 5", { 0x0000000500000104 } },
	{ "sub %r9, 0x7fffffff", { 0x7fffffff00000917 } },
	{ "mul32 %r2, %r3", { 0x000000000000322c } },
	{ "div %r4, 3", { 0x0000000300000437 } },
	{ "or32 %r1, 1", { 0x0000000100000144 } },
	{ "and %r1, %r2", { 0x000000000000215f } },
	{ "lsh %r1, 63", { 0x0000003f00000167 } },
	{ "rsh32 %r1, %r2", { 0x000000000000217c } },
	{ "mod32 %r1, 7", { 0x0000000700000194 } },
	{ "xor %r1, %r2", { 0x00000000000021af } },
	{ "mov %r0, -1", { 0xffffffff000000b7 } },
	{ "mov32 %r0, 0xffffffff", { 0xffffffff000000b4 } },
	{ "mov32 %r0, 0x80000000", { 0x80000000000000b4 } },
	{ "mov %r0, -2147483648", { 0x80000000000000b7 } },
	{ "arsh %r1, %r2", { 0x00000000000021cf } },
	{ "arsh32 %r1, 3", { 0x00000003000001c4 } },
	{ "neg %r3", { 0x0000000000000387 } },
	{ "neg32 %r3", { 0x0000000000000384 } },
	{ "sdiv %r1, %r2", { 0x000000000001213f } },
	{ "sdiv32 %r1, -3", { 0xfffffffd00010134 } },
	{ "smod %r1, %r2", { 0x000000000001219f } },
	{ "smod32 %r1, 3", { 0x0000000300010194 } },
	{ "movsx832 %r1, %r2", { 0x00000000000821bc } },
	{ "movsx1632 %r1, %r2", { 0x00000000001021bc } },
	{ "movsx864 %r1, %r2", { 0x00000000000821bf } },
	{ "movsx1664 %r1, %r2", { 0x00000000001021bf } },
	{ "movsx3264 %r1, %r2", { 0x00000000002021bf } },
	{ "le16 %r1", { 0x00000010000001d4 } },
	{ "le32 %r1", { 0x00000020000001d4 } },
	{ "le64 %r1", { 0x00000040000001d4 } },
	{ "be16 %r2", { 0x00000010000002dc } },
	{ "be64 %r2", { 0x00000040000002dc } },
	{ "bswap16 %r3", { 0x00000010000003d7 } },
	{ "bswap32 %r3", { 0x00000020000003d7 } },
	{ "swap64 %r3", { 0x00000040000003d7 } },
	{ "ldxb %r0, [%r1+2]", { 0x0000000000021071 } },
	{ "ldxh %r0, [%r1]", { 0x0000000000001069 } },
	{ "ldxw %r0, [%r1+0x10]", { 0x0000000000101061 } },
	{ "ldxdw %r0, [%r10-8]", { 0x00000000fff8a079 } },
	{ "ldxsb %r0, [%r1+1]", { 0x0000000000011091 } },
	{ "ldxsh %r0, [%r1-2]", { 0x00000000fffe1089 } },
	{ "ldxsw %r0, [%r1+4]", { 0x0000000000041081 } },
	{ "stb [%r1+1], 0x11", { 0x0000001100010172 } },
	{ "sth [%r1], -1", { 0xffffffff0000016a } },
	{ "stw [%r10-4], 0x12345678", { 0x12345678fffc0a62 } },
	{ "stdw [%r1+8], 2", { 0x000000020008017a } },
	{ "stxb [%r1+1], %r2", { 0x0000000000012173 } },
	{ "stxh [%r1+2], %r2", { 0x000000000002216b } },
	{ "stxw [%r1+4], %r2", { 0x0000000000042163 } },
	{ "stxdw [%r10-8], %r1", { 0x00000000fff81a7b } },
	{ "lddw %r0, 0x1122334455667788", { 0x5566778800000018, 0x1122334400000000 } },
	{ "lddw %r1, -2", { 0xfffffffe00000118, 0xffffffff00000000 } },
	{ "lddw %r0, 2147483648", { 0x8000000000000018, 0 } },
	{ "lddw %r0, 18446744073709551615", { 0xffffffff00000018, 0xffffffff00000000 } },
	/* pseudo sources for verifier tests: map index, map value + offset, function */
	{ "lddw %r1, map 3", { 0x0000000300001118, 0 } },
	{ "lddw %r2, map_value 1 16", { 0x0000000100002218, 0x0000001000000000 } },
	{ "lddw %r2, func +2", { 0x0000000200004218, 0 } },
	{ "ja +1", { 0x0000000000010005 } },
	{ "ja -1", { 0x00000000ffff0005 } },
	{ "ja32 -1", { 0xffffffff00000006 } },
	{ "ja32 +70000", { 0x0001117000000006 } },
	{ "jeq %r1, 5, +2", { 0x0000000500020115 } },
	{ "jgt %r1, %r2, +1", { 0x000000000001212d } },
	{ "jge32 %r1, -1, +1", { 0xffffffff00010136 } },
	{ "jset %r1, 0x80, +1", { 0x0000008000010145 } },
	{ "jne32 %r1, %r2, +1", { 0x000000000001215e } },
	{ "jsgt %r1, %r2, +1", { 0x000000000001216d } },
	{ "jsge %r1, 1, +1", { 0x0000000100010175 } },
	{ "jlt32 %r1, %r2, -3", { 0x00000000fffd21ae } },
	{ "jle %r1, 1, +1", { 0x00000001000101b5 } },
	{ "jslt %r1, %r2, +1", { 0x00000000000121cd } },
	{ "jsle32 %r1, 0, +1", { 0x00000000000101d6 } },
	{ "exit", { 0x0000000000000095 } },
	{ "call 5", { 0x0000000500000085 } },
	{ "call helper 7", { 0x0000000700000085 } },
	{ "call %r2", { 0x000000000000028d } },
	{ "call helper %r3", { 0x000000000000038d } },
	{ "call local +3", { 0x0000000300001085 } },
	{ "call runtime 9", { 0x0000000900002085 } },
	{ "lock add [%r10-8], %r1", { 0x00000000fff81adb } },
	{ "lock add32 [%r1+4], %r2", { 0x00000000000421c3 } },
	{ "lock and [%r1], %r2", { 0x00000050000021db } },
	{ "lock or32 [%r1], %r2", { 0x00000040000021c3 } },
	{ "lock xor [%r1], %r2", { 0x000000a0000021db } },
	{ "lock fetch add [%r1], %r2", { 0x00000001000021db } },
	{ "lock fetch xor32 [%r1+4], %r2", { 0x000000a1000421c3 } },
	{ "lock xchg32 [%r0], %r1", { 0x000000e1000010c3 } },
	{ "lock cmpxchg [%r2], %r3", { 0x000000f1000032db } },
};

/* every mnemonic encodes as RFC 9669 says */
static void test_encodings(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		struct bpftime_insn *insns;
		char err[256];
		size_t cnt;
		int ret;

		ret = asm_assemble("t", c->src, 1, &insns, &cnt, err, sizeof(err));
		if (ret)
			fail_msg("'%s': %s", c->src, err);
		assert_int_equal(cnt, strncmp(c->src, "lddw", 4) ? 1 : 2);
		if (word(&insns[0]) != c->w[0])
			fail_msg("'%s': got 0x%016llx, want 0x%016llx", c->src,
				 (unsigned long long)word(&insns[0]), (unsigned long long)c->w[0]);
		if (cnt == 2 && word(&insns[1]) != c->w[1])
			fail_msg("'%s' slot 2: got 0x%016llx, want 0x%016llx", c->src,
				 (unsigned long long)word(&insns[1]), (unsigned long long)c->w[1]);
		free(insns);
	}
}

/* labels resolve to slots (lddw counts two); the first exit is "exit" */
static void test_labels(void **state)
{
	static const char src[] = "mov %r0, 0\n"
				  "jeq %r0, 0, out # forward over a lddw\n"
				  "lddw %r1, 1\n"
				  "out:\n"
				  "ja exit\n"
				  "back: mov %r0, 2\n"
				  "exit\n"
				  "ja back\n"
				  "call local back\n"
				  "exit\n";
	struct bpftime_insn *insns;
	char err[256];
	size_t cnt;

	(void)state;
	assert_int_equal(asm_assemble("t", src, 1, &insns, &cnt, err, sizeof(err)), 0);
	assert_int_equal(cnt, 10);
	assert_int_equal(insns[1].off, 2);  /* slot 1 -> slot 4 */
	assert_int_equal(insns[4].off, 1);  /* slot 4 -> first exit at slot 6 */
	assert_int_equal(insns[7].off, -3); /* slot 7 -> back at slot 5 */
	assert_int_equal(insns[8].imm, -4); /* call local: slot 8 -> slot 5 */
	assert_int_equal(insns[8].src, 1);
	free(insns);
}

struct err_case {
	const char *src;
	const char *msg;
};

static const struct err_case err_cases[] = {
	{ "mov %r0, 1\nfoo %r1\n", "t:2: unknown instruction 'foo'" },
	{ "mov %r16, 1", "t:1: invalid register '%r16' (expected %r0..%r10)" },
	{ "mov %r1, %x", "t:1: invalid immediate '%x'" },
	{ "ja nowhere", "t:1: unknown label 'nowhere'" },
	{ "a:\nexit\na:\nexit", "t:3: duplicate label 'a' (first defined at line 1)" },
	{ "mov32 %r0, 0x100000000", "t:1: immediate '0x100000000' does not fit in 32 bits" },
	{ "mov %r0, 2147483648",
	  "t:1: immediate '2147483648' does not fit in a signed 32-bit value" },
	{ "mov %r0, -0x80000001", "t:1: immediate '-0x80000001' does not fit in 32 bits" },
	{ "lddw %r0, 0x10000000000000000", "t:1: invalid 64-bit immediate '0x10000000000000000'" },
	{ "add %r1", "t:1: 'add' takes 2 operands, got 1" },
	{ "exit %r0", "t:1: 'exit' takes 0 operands, got 1" },
	{ "neg %r1, %r2", "t:1: 'neg' takes 1 operand, got 2" },
	{ "ldxw %r0, [%r1+40000]", "t:1: offset '[%r1+40000]' does not fit in 16 bits" },
	{ "ldxw %r0, %r1", "t:1: invalid memory operand '%r1' (expected [%rN+off])" },
	{ "stxw [%x+1], %r1", "t:1: invalid register in memory operand '[%x+1]'" },
	{ "ja +32768", "t:1: jump target '+32768' is out of range (32768)" },
	{ "jeq %r0, 0, -32769", "t:1: jump target '-32769' is out of range (-32769)" },
	{ "call local nowhere", "t:1: unknown label 'nowhere'" },
	{ "call vm 1", "t:1: unknown call kind 'vm' (helper, local or runtime)" },
	{ "lock nand [%r1], %r2", "t:1: unknown atomic operation 'nand'" },
	{ "lock add [%r1]", "t:1: 'lock' takes [fetch] OP [%rN+off], %rM" },
	{ "1abc:\nexit", "t:1: invalid label '1abc'" },
	{ "# only a comment\n\n", "t:1: no instructions" },
};

/* malformed input is rejected with NAME:LINE and what is wrong */
static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		struct bpftime_insn *insns = (void *)1;
		char err[256];
		size_t cnt = 1;
		int ret;

		ret = asm_assemble("t", err_cases[i].src, 1, &insns, &cnt, err, sizeof(err));
		if (ret != -EINVAL)
			fail_msg("'%s': expected -EINVAL, got %d", err_cases[i].src, ret);
		assert_null(insns);
		assert_int_equal(cnt, 0);
		assert_string_equal(err, err_cases[i].msg);
	}
}

/* a register number beyond r10 still encodes (verifier tests need it) */
static void test_bad_register_encodes(void **state)
{
	struct bpftime_insn *insns;
	char err[256];
	size_t cnt;

	(void)state;
	assert_int_equal(asm_assemble("t", "mov %r11, 1", 1, &insns, &cnt, err, sizeof(err)), 0);
	assert_int_equal(word(&insns[0]), 0x0000000100000bb7);
	free(insns);
}

/* sections, comments, CRLF, the raw override, mem and result forms */
static void test_data_file(void **state)
{
	static const char text[] = "# Copyright header: ignored\r\n"
				   "-- asm\r\n"
				   "mov %r0, 1 # comment\r\n"
				   "\r\n"
				   "# another comment\n"
				   "add %r0, %r2\n"
				   "exit\n"
				   "-- c\n"
				   "int x(void) { return 1; }\n"
				   "-- mem\n"
				   "00 01 ff\n"
				   "  7f\t80\n"
				   "-- no register offset\n"
				   "call instruction\n"
				   "-- result\n"
				   "0x0\n"
				   "0xFFFFFFF6\n";
	struct asm_case c;
	char err[256];

	(void)state;
	assert_int_equal(asm_case__parse(&c, "f.data", text, err, sizeof(err)), 0);
	assert_int_equal(c.cnt, 3);
	assert_false(c.from_raw);
	assert_int_equal(word(&c.insns[1]), 0x000000000000200f);
	assert_true(c.has_mem);
	assert_int_equal(c.mem_len, 5);
	assert_memory_equal(c.mem, "\x00\x01\xff\x7f\x80", 5);
	assert_true(c.has_result);
	assert_int_equal(c.result, 0xfffffff6); /* last line counts */
	assert_null(c.error);
	asm_case__free(&c);

	/* raw overrides asm (lddw.data's shape) */
	assert_int_equal(asm_case__parse(&c, "f.data",
					 "-- asm\nmov %r0, 1\nexit\n-- raw\n"
					 "0x5566778800000018 0x1122334400000000\n149\n"
					 "-- result\n42\n",
					 err, sizeof(err)),
			 0);
	assert_true(c.from_raw);
	assert_int_equal(c.cnt, 3);
	assert_int_equal(c.insns[0].code, 0x18);
	assert_int_equal((uint32_t)c.insns[0].imm, 0x55667788);
	assert_int_equal((uint32_t)c.insns[1].imm, 0x11223344);
	assert_int_equal(c.insns[2].code, 0x95);
	assert_false(c.has_mem);
	assert_null(c.mem);
	assert_int_equal(c.result, 42);
	asm_case__free(&c);

	/* an error section instead of a result */
	assert_int_equal(asm_case__parse(&c, "f.data",
					 "-- asm\nexit\n-- error\nfirst\n  pc 0: no r0  \n", err,
					 sizeof(err)),
			 0);
	assert_false(c.has_result);
	assert_string_equal(c.error, "pc 0: no r0");
	asm_case__free(&c);
}

static const struct err_case data_errors[] = {
	{ "-- asm\nexit\n-- bogus\n", "f.data:3: unknown section '-- bogus'" },
	{ "-- asm\nexit\n", "f.data:1: no '-- result' or '-- error' section" },
	{ "-- result\n1\n", "f.data:1: no '-- asm' or '-- raw' section" },
	{ "-- asm\n# c\nexit\n\nmov %r0, x\n-- result\n1\n", "f.data:5: invalid immediate 'x'" },
	{ "-- asm\nexit\n-- mem\n00 01\n0g\n-- result\n1\n", "f.data:5: invalid memory byte '0g'" },
	{ "-- asm\nexit\n-- result\n1\nzz\n",
	  "f.data:5: invalid result 'zz' (expected 0xHEX or decimal)" },
	{ "-- asm\nexit\n-- raw\n0x95 x\n-- result\n1\n", "f.data:4: invalid raw instruction 'x'" },
	{ "-- asm\nexit\n-- result\n1\n-- result\n2\n",
	  "f.data:5: section '-- result' repeated (first at line 3)" },
};

/* malformed .data files name the file and line */
static void test_data_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(data_errors) / sizeof(data_errors[0]); i++) {
		struct asm_case c;
		char err[256];

		if (asm_case__parse(&c, "f.data", data_errors[i].src, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu parsed", i);
		assert_string_equal(err, data_errors[i].msg);
		assert_null(c.insns);
	}
}

static const char *conformance_dir(void)
{
	static char path[4096];
	const char *shared = getenv("BPFTIME_SHARED_DIR");

	if (!shared || !*shared)
		return NULL;
	snprintf(path, sizeof(path), "%s/conformance/bpf_conformance", shared);
	return path;
}

/* every shared conformance file parses; lddw.data's asm equals its raw */
static void test_shared_files(void **state)
{
	const char *dir = conformance_dir();
	struct dirent *de;
	size_t n = 0;
	DIR *d = NULL;

	(void)state;
	if (!dir || !(d = opendir(dir))) {
		TEST_SKIP("no conformance vectors at %s (set BPFTIME_SHARED_DIR)",
			  dir ? dir : "$BPFTIME_SHARED_DIR/conformance/bpf_conformance");
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char path[4352], err[512];
		struct asm_case c;

		if (len < 5 || strcmp(de->d_name + len - 5, ".data"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (asm_case__parse_file(&c, path, err, sizeof(err)))
			fail_msg("%s", err);
		assert_true(c.has_result);
		if (!strcmp(de->d_name, "lddw.data")) {
			struct bpftime_insn *raw = c.insns;
			size_t raw_cnt = c.cnt;
			struct bpftime_insn *a;
			size_t cnt;

			assert_true(c.from_raw);
			assert_int_equal(asm_assemble("lddw", "lddw %r0, 0x1122334455667788\nexit",
						      1, &a, &cnt, err, sizeof(err)),
					 0);
			assert_int_equal(cnt, raw_cnt);
			assert_memory_equal(a, raw, cnt * sizeof(*a));
			free(a);
		}
		asm_case__free(&c);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 313);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encodings),    cmocka_unit_test(test_labels),
		cmocka_unit_test(test_errors),	     cmocka_unit_test(test_bad_register_encodes),
		cmocka_unit_test(test_data_file),    cmocka_unit_test(test_data_errors),
		cmocka_unit_test(test_shared_files),
	};

	return TEST_RUN(tests, NULL, NULL);
}
