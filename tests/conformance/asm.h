/* SPDX-License-Identifier: MIT */
/* tests/conformance/asm.h: reader of bpf_conformance ".data" test files and
 * assembler for their text syntax (../shared/conformance/FORMAT.md §1-§3).
 *
 * A .data file has sections: "-- asm" (program), "-- raw" (8-byte slots that
 * override asm), "-- mem" (hex bytes for r1/r2), "-- result" (expected r0)
 * and "-- error" (expected error text); "-- c" and "-- no register offset"
 * are ignored.  Any test may also use asm_assemble() alone to build a
 * program from text.  Beyond the conformance syntax, lddw takes the pseudo
 * sources verifier tests need: "lddw %r1, map N" (src 1, imm N),
 * "lddw %r1, map_value N OFF" (src 2) and "lddw %r2, func LABEL" (src 4);
 * the loader replaces the map index N by a map fd.
 *
 * Errors are returned as -errno with a one-line message "NAME:LINE: what" in
 * the caller's buffer.
 */
#ifndef BPFTIME_TESTS_ASM_H
#define BPFTIME_TESTS_ASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/vm.h>

struct asm_case {
	struct bpftime_insn *insns; /* the program: raw section if present, else asm */
	size_t cnt;		    /* slots (lddw counts 2) */
	bool from_raw;		    /* insns came from a "-- raw" section */
	uint8_t *mem;		    /* "-- mem" bytes, NULL when absent */
	size_t mem_len;
	bool has_mem;
	bool has_result;
	uint64_t result; /* expected r0 */
	char *error;	 /* expected error text ("-- error"), NULL when absent */
};

/**
 * asm_assemble() - assembles text in the bpf_conformance syntax.
 * @name: used in error messages ("NAME:LINE: ...")
 * @src: program text, one instruction per line; '#' starts a comment
 * @first_line: line number of src's first line (for messages)
 * @insns: receives a malloc'ed array the caller frees
 * @cnt: receives its number of slots
 * Return: 0, -EINVAL with @err filled for malformed input, -ENOMEM.
 */
int asm_assemble(const char *name, const char *src, unsigned int first_line,
		 struct bpftime_insn **insns, size_t *cnt, char *err, size_t err_sz);

/**
 * asm_case__parse() - parses the text of a whole .data file.
 * @c: filled on success; release with asm_case__free() (also after failure)
 * Return: 0, -EINVAL with @err filled ("NAME:LINE: ..."), -ENOMEM.
 */
int asm_case__parse(struct asm_case *c, const char *name, const char *text, char *err,
		    size_t err_sz);

/** asm_case__parse_file() - reads and parses the .data file at @path. */
int asm_case__parse_file(struct asm_case *c, const char *path, char *err, size_t err_sz);

/** asm_case__free() - releases what the parse allocated; zeroes @c. */
void asm_case__free(struct asm_case *c);

#endif /* BPFTIME_TESTS_ASM_H */
