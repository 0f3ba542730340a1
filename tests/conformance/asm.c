/* SPDX-License-Identifier: MIT */
/* tests/conformance/asm.c: the .data test-file reader and the assembler for
 * the bpf_conformance text syntax.  The encodings are written here from
 * FORMAT.md and RFC 9669, independently of vm/insn.def, so that the
 * conformance suite checks the VM's table instead of echoing it.
 *
 * The assembler makes two passes: the first splits lines into tokens and
 * assigns each instruction its slot (lddw takes two) and each label the slot
 * of the next instruction; the second encodes, resolving jump targets as
 * label_slot - this_slot - 1.  The first "exit" is implicitly labelled
 * "exit" unless the program defines that label itself.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "asm.h"

/* encoding pieces (RFC 9669 §3; values as in the kernel's uapi) */
enum {
	CLS_LD = 0x00,
	CLS_LDX = 0x01,
	CLS_ST = 0x02,
	CLS_STX = 0x03,
	CLS_ALU = 0x04,
	CLS_JMP = 0x05,
	CLS_JMP32 = 0x06,
	CLS_ALU64 = 0x07,
	SRC_K = 0x00,
	SRC_X = 0x08,
	SZ_W = 0x00,
	SZ_H = 0x08,
	SZ_B = 0x10,
	SZ_DW = 0x18,
	MODE_IMM = 0x00,
	MODE_MEM = 0x60,
	MODE_MEMSX = 0x80,
	MODE_ATOMIC = 0xc0,
	OP_NEG = 0x80,
	OP_MOV = 0xb0,
	OP_END = 0xd0,
	OP_CALL = 0x80,
	OP_EXIT = 0x90,
	ATOMIC_FETCH = 0x01,
};

#define MAX_TOKENS 8

struct src_insn {
	unsigned int line;
	size_t slot;
	int ntok;
	char *tok[MAX_TOKENS];
};

struct label {
	const char *name;
	size_t slot;
	unsigned int line;
};

struct asm_ctx {
	const char *name;
	char *err;
	size_t err_sz;
	struct label *labels;
	size_t nlabels;
	size_t nslots;
};

static int fail(struct asm_ctx *ctx, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct asm_ctx *ctx, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!ctx->err || !ctx->err_sz)
		return -EINVAL;
	n = snprintf(ctx->err, ctx->err_sz, "%s:%u: ", ctx->name, line);
	if (n < 0 || (size_t)n >= ctx->err_sz)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, ctx->err_sz - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Parses "[+-]digits" or "[+-]0xHEX" (hex digits of either case) into a sign
 * and a magnitude; false on anything else or on a magnitude above 2^64-1. */
static bool parse_num(const char *s, bool *neg, uint64_t *mag, bool *hex)
{
	unsigned int base = 10;
	uint64_t v = 0;

	*neg = false;
	if (*s == '+' || *s == '-')
		*neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	*hex = base == 16;
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned int d;

		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			return false;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	*mag = v;
	return true;
}

/* 32-bit immediate: decimal must fit s32; hex up to 0xffffffff is taken as
 * raw bits (0xffffffff == -1). */
static int parse_imm32(struct asm_ctx *ctx, unsigned int line, const char *s, int32_t *imm)
{
	bool neg, hex;
	uint64_t mag;

	if (!parse_num(s, &neg, &mag, &hex))
		return fail(ctx, line, "invalid immediate '%s'", s);
	if (neg) {
		if (mag > UINT64_C(0x80000000))
			return fail(ctx, line, "immediate '%s' does not fit in 32 bits", s);
		*imm = (int32_t)(-(int64_t)mag);
	} else if (hex) {
		if (mag > UINT32_MAX)
			return fail(ctx, line, "immediate '%s' does not fit in 32 bits", s);
		*imm = (int32_t)(uint32_t)mag;
	} else {
		if (mag > INT32_MAX)
			return fail(ctx, line,
				    "immediate '%s' does not fit in a signed 32-bit value", s);
		*imm = (int32_t)mag;
	}
	return 0;
}

/* 64-bit immediate of lddw: hex up to 64 bits, signed negative decimal or
 * unsigned decimal. */
static int parse_imm64(struct asm_ctx *ctx, unsigned int line, const char *s, uint64_t *imm)
{
	bool neg, hex;
	uint64_t mag;

	if (!parse_num(s, &neg, &mag, &hex))
		return fail(ctx, line, "invalid 64-bit immediate '%s'", s);
	if (neg) {
		if (mag > (UINT64_C(1) << 63))
			return fail(ctx, line, "immediate '%s' does not fit in 64 bits", s);
		*imm = -mag;
	} else {
		*imm = mag;
	}
	return 0;
}

/* "%rN" (or "rN"), N = 0..15: the 4-bit field can hold bad registers that
 * verifier tests need. */
static bool is_reg(const char *s)
{
	if (*s == '%')
		s++;
	if (*s++ != 'r' || !isdigit((unsigned char)*s))
		return false;
	if (s[1] == 0)
		return true;
	return s[0] == '1' && s[1] >= '0' && s[1] <= '5' && s[2] == 0;
}

static int parse_reg(struct asm_ctx *ctx, unsigned int line, const char *s, uint8_t *reg)
{
	if (!is_reg(s))
		return fail(ctx, line, "invalid register '%s' (expected %%r0..%%r10)", s);
	*reg = (uint8_t)atoi(s + (*s == '%' ? 2 : 1));
	return 0;
}

static int check_off16(struct asm_ctx *ctx, unsigned int line, const char *s, int64_t v,
		       int16_t *off)
{
	if (v < INT16_MIN || v > INT16_MAX)
		return fail(ctx, line, "offset '%s' does not fit in 16 bits", s);
	*off = (int16_t)v;
	return 0;
}

/* "[%rN]", "[%rN+off]" or "[%rN-off]" */
static int parse_mem(struct asm_ctx *ctx, unsigned int line, const char *s, uint8_t *reg,
		     int16_t *off)
{
	char buf[64], *p, *end;
	size_t len = strlen(s);
	bool neg, hex;
	uint64_t mag;

	if (len < 3 || len >= sizeof(buf) || s[0] != '[' || s[len - 1] != ']')
		return fail(ctx, line, "invalid memory operand '%s' (expected [%%rN+off])", s);
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = 0;
	p = buf + strcspn(buf, "+-");
	*off = 0;
	if (*p) {
		if (!parse_num(p, &neg, &mag, &hex))
			return fail(ctx, line, "invalid offset in memory operand '%s'", s);
		if (mag > UINT32_MAX)
			mag = UINT32_MAX; /* out of range either way */
		if (check_off16(ctx, line, s, neg ? -(int64_t)mag : (int64_t)mag, off))
			return -EINVAL;
		*p = 0;
	}
	end = buf;
	if (!is_reg(end))
		return fail(ctx, line, "invalid register in memory operand '%s'", s);
	return parse_reg(ctx, line, end, reg);
}

static const struct label *find_label(const struct asm_ctx *ctx, const char *name)
{
	for (size_t i = 0; i < ctx->nlabels; i++)
		if (!strcmp(ctx->labels[i].name, name))
			return &ctx->labels[i];
	return NULL;
}

/* A jump or call target: "+N", "-N", "N" or a label.  The encoded value is
 * relative to the next slot.  wide: the target lives in imm (ja32, call
 * local), else in the 16-bit offset. */
static int parse_target(struct asm_ctx *ctx, const struct src_insn *si, const char *s, bool wide,
			int64_t *rel)
{
	const struct label *l;
	bool neg, hex;
	uint64_t mag;

	if (*s == '+' || *s == '-' || isdigit((unsigned char)*s)) {
		if (!parse_num(s, &neg, &mag, &hex) || mag > UINT32_MAX)
			return fail(ctx, si->line, "invalid jump offset '%s'", s);
		*rel = neg ? -(int64_t)mag : (int64_t)mag;
	} else {
		l = find_label(ctx, s);
		if (!l)
			return fail(ctx, si->line, "unknown label '%s'", s);
		*rel = (int64_t)l->slot - (int64_t)si->slot - 1;
	}
	if (wide ? (*rel < INT32_MIN || *rel > INT32_MAX) : (*rel < INT16_MIN || *rel > INT16_MAX))
		return fail(ctx, si->line, "jump target '%s' is out of range (%lld)", s,
			    (long long)*rel);
	return 0;
}

static int want_operands(struct asm_ctx *ctx, const struct src_insn *si, int n)
{
	if (si->ntok - 1 != n)
		return fail(ctx, si->line, "'%s' takes %d operand%s, got %d", si->tok[0], n,
			    n == 1 ? "" : "s", si->ntok - 1);
	return 0;
}

struct mnemonic {
	const char *name;
	uint8_t code;
	int16_t off;
	int32_t imm;
};

static const struct mnemonic alu_ops[] = {
	{ "add", 0x00, 0, 0 },	{ "sub", 0x10, 0, 0 },	{ "mul", 0x20, 0, 0 },
	{ "div", 0x30, 0, 0 },	{ "or", 0x40, 0, 0 },	{ "and", 0x50, 0, 0 },
	{ "lsh", 0x60, 0, 0 },	{ "rsh", 0x70, 0, 0 },	{ "mod", 0x90, 0, 0 },
	{ "xor", 0xa0, 0, 0 },	{ "mov", 0xb0, 0, 0 },	{ "arsh", 0xc0, 0, 0 },
	{ "sdiv", 0x30, 1, 0 }, { "smod", 0x90, 1, 0 }, /* v4: signed, offset 1 */
};

static const struct mnemonic jmp_ops[] = {
	{ "jeq", 0x10, 0, 0 },	{ "jgt", 0x20, 0, 0 },	{ "jge", 0x30, 0, 0 },
	{ "jset", 0x40, 0, 0 }, { "jne", 0x50, 0, 0 },	{ "jsgt", 0x60, 0, 0 },
	{ "jsge", 0x70, 0, 0 }, { "jlt", 0xa0, 0, 0 },	{ "jle", 0xb0, 0, 0 },
	{ "jslt", 0xc0, 0, 0 }, { "jsle", 0xd0, 0, 0 },
};

/* v4 sign-extending moves: register source, width in the offset */
static const struct mnemonic movsx_ops[] = {
	{ "movsx832", CLS_ALU | SRC_X | OP_MOV, 8, 0 },
	{ "movsx1632", CLS_ALU | SRC_X | OP_MOV, 16, 0 },
	{ "movsx864", CLS_ALU64 | SRC_X | OP_MOV, 8, 0 },
	{ "movsx1664", CLS_ALU64 | SRC_X | OP_MOV, 16, 0 },
	{ "movsx3264", CLS_ALU64 | SRC_X | OP_MOV, 32, 0 },
};

/* byte swaps: width in imm */
static const struct mnemonic end_ops[] = {
	{ "le16", CLS_ALU | SRC_K | OP_END, 0, 16 }, { "le32", CLS_ALU | SRC_K | OP_END, 0, 32 },
	{ "le64", CLS_ALU | SRC_K | OP_END, 0, 64 }, { "be16", CLS_ALU | SRC_X | OP_END, 0, 16 },
	{ "be32", CLS_ALU | SRC_X | OP_END, 0, 32 }, { "be64", CLS_ALU | SRC_X | OP_END, 0, 64 },
	{ "bswap16", CLS_ALU64 | OP_END, 0, 16 },    { "bswap32", CLS_ALU64 | OP_END, 0, 32 },
	{ "bswap64", CLS_ALU64 | OP_END, 0, 64 },    { "swap16", CLS_ALU64 | OP_END, 0, 16 },
	{ "swap32", CLS_ALU64 | OP_END, 0, 32 },     { "swap64", CLS_ALU64 | OP_END, 0, 64 },
};

/* loads and stores; off = 0 load, 1 store imm, 2 store reg */
static const struct mnemonic mem_ops[] = {
	{ "ldxb", CLS_LDX | MODE_MEM | SZ_B, 0, 0 },
	{ "ldxh", CLS_LDX | MODE_MEM | SZ_H, 0, 0 },
	{ "ldxw", CLS_LDX | MODE_MEM | SZ_W, 0, 0 },
	{ "ldxdw", CLS_LDX | MODE_MEM | SZ_DW, 0, 0 },
	{ "ldxsb", CLS_LDX | MODE_MEMSX | SZ_B, 0, 0 },
	{ "ldxsh", CLS_LDX | MODE_MEMSX | SZ_H, 0, 0 },
	{ "ldxsw", CLS_LDX | MODE_MEMSX | SZ_W, 0, 0 },
	{ "stb", CLS_ST | MODE_MEM | SZ_B, 1, 0 },
	{ "sth", CLS_ST | MODE_MEM | SZ_H, 1, 0 },
	{ "stw", CLS_ST | MODE_MEM | SZ_W, 1, 0 },
	{ "stdw", CLS_ST | MODE_MEM | SZ_DW, 1, 0 },
	{ "stxb", CLS_STX | MODE_MEM | SZ_B, 2, 0 },
	{ "stxh", CLS_STX | MODE_MEM | SZ_H, 2, 0 },
	{ "stxw", CLS_STX | MODE_MEM | SZ_W, 2, 0 },
	{ "stxdw", CLS_STX | MODE_MEM | SZ_DW, 2, 0 },
};

/* atomic operations: the operation is in imm */
static const struct mnemonic atomic_ops[] = {
	{ "add", 0, 0, 0x00 }, { "and", 0, 0, 0x50 },  { "or", 0, 0, 0x40 },
	{ "xor", 0, 0, 0xa0 }, { "xchg", 0, 0, 0xe1 }, { "cmpxchg", 0, 0, 0xf1 },
};

static const struct mnemonic *lookup(const struct mnemonic *tab, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(tab[i].name, name))
			return &tab[i];
	return NULL;
}

/* Looks @name up in @tab directly or, with a "32" suffix, by its base;
 * *is32 tells which. */
static const struct mnemonic *lookup32(const struct mnemonic *tab, size_t n, const char *name,
				       bool *is32)
{
	char base[16];
	size_t len = strlen(name);

	*is32 = false;
	if (lookup(tab, n, name))
		return lookup(tab, n, name);
	if (len < 3 || len >= sizeof(base) || strcmp(name + len - 2, "32"))
		return NULL;
	memcpy(base, name, len - 2);
	base[len - 2] = 0;
	*is32 = true;
	return lookup(tab, n, base);
}

#define LOOKUP(tab, name)	  lookup(tab, sizeof(tab) / sizeof(tab[0]), name)
#define LOOKUP32(tab, name, is32) lookup32(tab, sizeof(tab) / sizeof(tab[0]), name, is32)

static int encode_call(struct asm_ctx *ctx, const struct src_insn *si, struct bpftime_insn *insn)
{
	const char *kind = "helper", *arg;
	int64_t rel;
	int err;

	if (si->ntok == 3) {
		kind = si->tok[1];
		arg = si->tok[2];
	} else if (si->ntok == 2) {
		arg = si->tok[1];
	} else {
		return fail(ctx, si->line, "'call' takes [helper|local|runtime] and a target");
	}
	insn->code = CLS_JMP | OP_CALL;
	if (!strcmp(kind, "helper") && is_reg(arg)) {
		/* callx: the register holding the target goes in dst */
		uint8_t reg = 0;

		insn->code |= SRC_X;
		err = parse_reg(ctx, si->line, arg, &reg);
		insn->dst = reg;
		return err;
	}
	if (!strcmp(kind, "helper"))
		return parse_imm32(ctx, si->line, arg, &insn->imm);
	if (!strcmp(kind, "runtime")) {
		insn->src = 2;
		return parse_imm32(ctx, si->line, arg, &insn->imm);
	}
	if (!strcmp(kind, "local")) {
		insn->src = 1;
		err = parse_target(ctx, si, arg, true, &rel);
		insn->imm = (int32_t)rel;
		return err;
	}
	return fail(ctx, si->line, "unknown call kind '%s' (helper, local or runtime)", kind);
}

/* lock [fetch] add|and|or|xor[32] [dst+off], src; lock xchg|cmpxchg[32] ... */
static int encode_lock(struct asm_ctx *ctx, const struct src_insn *si, struct bpftime_insn *insn)
{
	const struct mnemonic *m;
	bool fetch = false, is32;
	int i = 1;
	uint8_t reg = 0;
	int err;

	if (i < si->ntok && !strcmp(si->tok[i], "fetch")) {
		fetch = true;
		i++;
	}
	if (si->ntok - i != 3)
		return fail(ctx, si->line, "'lock' takes [fetch] OP [%%rN+off], %%rM");
	m = LOOKUP32(atomic_ops, si->tok[i], &is32);
	if (!m)
		return fail(ctx, si->line, "unknown atomic operation '%s'", si->tok[i]);
	insn->code = CLS_STX | MODE_ATOMIC | (is32 ? SZ_W : SZ_DW);
	insn->imm = m->imm | (fetch ? ATOMIC_FETCH : 0);
	err = parse_mem(ctx, si->line, si->tok[i + 1], &reg, &insn->off);
	if (err)
		return err;
	insn->dst = reg;
	err = parse_reg(ctx, si->line, si->tok[i + 2], &reg);
	insn->src = reg;
	return err;
}

/* The pseudo lddw forms the verifier tests need (the kernel's src values):
 *   lddw %rD, map N              src 1 (map fd), imm N: the caller's map index
 *   lddw %rD, map_value N OFF    src 2 (map value), imm N, second imm OFF
 *   lddw %rD, func TARGET        src 4 (function), imm relative like call local
 * Whoever loads the program replaces the map indexes by real fds. */
static int encode_pseudo_lddw(struct asm_ctx *ctx, const struct src_insn *si,
			      struct bpftime_insn *insn)
{
	const char *kind = si->tok[2];
	uint8_t reg = 0;
	int32_t idx = 0, off = 0;
	int64_t rel;
	int err;

	if ((err = parse_reg(ctx, si->line, si->tok[1], &reg)))
		return err;
	insn[0].code = CLS_LD | MODE_IMM | SZ_DW;
	insn[0].dst = reg;
	if (!strcmp(kind, "func")) {
		if ((err = want_operands(ctx, si, 3)) ||
		    (err = parse_target(ctx, si, si->tok[3], true, &rel)))
			return err;
		insn[0].src = 4;
		insn[0].imm = (int32_t)rel;
		return 0;
	}
	if (!strcmp(kind, "map")) {
		if ((err = want_operands(ctx, si, 3)) ||
		    (err = parse_imm32(ctx, si->line, si->tok[3], &idx)))
			return err;
		insn[0].src = 1;
		insn[0].imm = idx;
		return 0;
	}
	if (!strcmp(kind, "map_value")) {
		if ((err = want_operands(ctx, si, 4)) ||
		    (err = parse_imm32(ctx, si->line, si->tok[3], &idx)) ||
		    (err = parse_imm32(ctx, si->line, si->tok[4], &off)))
			return err;
		insn[0].src = 2;
		insn[0].imm = idx;
		insn[1].imm = off;
		return 0;
	}
	return fail(ctx, si->line, "unknown lddw pseudo source '%s' (map, map_value, func)", kind);
}

/* Encodes one instruction into insn[0] (and insn[1] for lddw). */
static int encode(struct asm_ctx *ctx, const struct src_insn *si, struct bpftime_insn *insn)
{
	const char *mn = si->tok[0];
	const struct mnemonic *m;
	uint8_t reg = 0;
	uint64_t imm64 = 0;
	int64_t rel;
	bool is32;
	int err;

	if (!strcmp(mn, "exit")) {
		insn->code = CLS_JMP | OP_EXIT;
		return want_operands(ctx, si, 0);
	}
	if (!strcmp(mn, "call"))
		return encode_call(ctx, si, insn);
	if (!strcmp(mn, "lock"))
		return encode_lock(ctx, si, insn);
	if (!strcmp(mn, "lddw") && si->ntok >= 4)
		return encode_pseudo_lddw(ctx, si, insn);
	if (!strcmp(mn, "lddw")) {
		if ((err = want_operands(ctx, si, 2)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)) ||
		    (err = parse_imm64(ctx, si->line, si->tok[2], &imm64)))
			return err;
		insn[0].code = CLS_LD | MODE_IMM | SZ_DW;
		insn[0].dst = reg;
		insn[0].imm = (int32_t)(uint32_t)imm64;
		insn[1].imm = (int32_t)(uint32_t)(imm64 >> 32);
		return 0;
	}
	if (!strcmp(mn, "ja") || !strcmp(mn, "ja32")) {
		bool wide = mn[2] != 0;

		if ((err = want_operands(ctx, si, 1)) ||
		    (err = parse_target(ctx, si, si->tok[1], wide, &rel)))
			return err;
		if (wide) {
			insn->code = CLS_JMP32; /* gotol: JA in the JMP32 class, target in imm */
			insn->imm = (int32_t)rel;
		} else {
			insn->code = CLS_JMP;
			insn->off = (int16_t)rel;
		}
		return 0;
	}
	if ((m = LOOKUP(movsx_ops, mn))) {
		insn->code = m->code;
		insn->off = m->off;
		if ((err = want_operands(ctx, si, 2)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)))
			return err;
		insn->dst = reg;
		err = parse_reg(ctx, si->line, si->tok[2], &reg);
		insn->src = reg;
		return err;
	}
	if ((m = LOOKUP(end_ops, mn))) {
		insn->code = m->code;
		insn->imm = m->imm;
		if ((err = want_operands(ctx, si, 1)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)))
			return err;
		insn->dst = reg;
		return 0;
	}
	if ((m = LOOKUP(mem_ops, mn))) {
		insn->code = m->code;
		if ((err = want_operands(ctx, si, 2)))
			return err;
		if (m->off == 0) { /* ldx dst, [src+off] */
			if ((err = parse_reg(ctx, si->line, si->tok[1], &reg)))
				return err;
			insn->dst = reg;
			err = parse_mem(ctx, si->line, si->tok[2], &reg, &insn->off);
			insn->src = reg;
			return err;
		}
		if ((err = parse_mem(ctx, si->line, si->tok[1], &reg, &insn->off)))
			return err;
		insn->dst = reg;
		if (m->off == 1)
			return parse_imm32(ctx, si->line, si->tok[2], &insn->imm);
		err = parse_reg(ctx, si->line, si->tok[2], &reg);
		insn->src = reg;
		return err;
	}
	if ((m = LOOKUP32(jmp_ops, mn, &is32))) {
		insn->code = m->code | (is32 ? CLS_JMP32 : CLS_JMP);
		if ((err = want_operands(ctx, si, 3)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)))
			return err;
		insn->dst = reg;
		if (is_reg(si->tok[2])) {
			insn->code |= SRC_X;
			parse_reg(ctx, si->line, si->tok[2], &reg);
			insn->src = reg;
		} else if ((err = parse_imm32(ctx, si->line, si->tok[2], &insn->imm))) {
			return err;
		}
		if ((err = parse_target(ctx, si, si->tok[3], false, &rel)))
			return err;
		insn->off = (int16_t)rel;
		return 0;
	}
	if (!strcmp(mn, "neg") || !strcmp(mn, "neg32")) {
		insn->code = OP_NEG | (mn[3] ? CLS_ALU : CLS_ALU64);
		if ((err = want_operands(ctx, si, 1)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)))
			return err;
		insn->dst = reg;
		return 0;
	}
	if ((m = LOOKUP32(alu_ops, mn, &is32))) {
		insn->code = m->code | (is32 ? CLS_ALU : CLS_ALU64);
		insn->off = m->off;
		if ((err = want_operands(ctx, si, 2)) ||
		    (err = parse_reg(ctx, si->line, si->tok[1], &reg)))
			return err;
		insn->dst = reg;
		if (is_reg(si->tok[2])) {
			insn->code |= SRC_X;
			parse_reg(ctx, si->line, si->tok[2], &reg);
			insn->src = reg;
			return 0;
		}
		return parse_imm32(ctx, si->line, si->tok[2], &insn->imm);
	}
	return fail(ctx, si->line, "unknown instruction '%s'", mn);
}

static bool valid_label(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.')
			return false;
	return true;
}

static int add_label(struct asm_ctx *ctx, const char *name, size_t slot, unsigned int line)
{
	const struct label *old = find_label(ctx, name);
	struct label *l;

	if (old)
		return fail(ctx, line, "duplicate label '%s' (first defined at line %u)", name,
			    old->line);
	l = realloc(ctx->labels, (ctx->nlabels + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	ctx->labels = l;
	l[ctx->nlabels++] = (struct label){ name, slot, line };
	return 0;
}

/* Splits @line in place into tokens separated by blanks and commas. */
static int tokenize(struct asm_ctx *ctx, char *line, unsigned int no, char **tok)
{
	int n = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t\r\v\f,");
		if (!*p)
			return n;
		if (n == MAX_TOKENS)
			return fail(ctx, no, "too many operands");
		tok[n++] = p;
		p += strcspn(p, " \t\r\v\f,");
		if (*p)
			*p++ = 0;
	}
}

/* Assembles @src; line i of it is reported as line_nos[i], or first_line + i
 * without line_nos. */
static int assemble(struct asm_ctx *ctx, const char *src, unsigned int first_line,
		    const unsigned int *line_nos, struct bpftime_insn **out, size_t *out_cnt)
{
	struct src_insn *insns = NULL, *si;
	size_t n = 0, idx = 0, implicit_exit = SIZE_MAX;
	unsigned int implicit_line = 0, no;
	struct bpftime_insn *code = NULL;
	char *buf, *line, *next;
	int ret = 0;

	*out = NULL;
	*out_cnt = 0;
	buf = strdup(src ? src : "");
	if (!buf)
		return -ENOMEM;
	for (line = buf; line; line = next, idx++) {
		char *tok[MAX_TOKENS];
		int ntok;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else if (!*line)
			break; /* after the final newline */
		no = line_nos ? line_nos[idx] : first_line + (unsigned int)idx;
		line[strcspn(line, "#")] = 0;
		ntok = tokenize(ctx, line, no, tok);
		if (ntok < 0) {
			ret = ntok;
			goto out;
		}
		if (ntok && tok[0][strlen(tok[0]) - 1] == ':') {
			tok[0][strlen(tok[0]) - 1] = 0;
			if (!valid_label(tok[0])) {
				ret = fail(ctx, no, "invalid label '%s'", tok[0]);
				goto out;
			}
			ret = add_label(ctx, tok[0], ctx->nslots, no);
			if (ret)
				goto out;
			memmove(tok, tok + 1, --ntok * sizeof(tok[0]));
		}
		if (!ntok)
			continue;
		si = realloc(insns, (n + 1) * sizeof(*insns));
		if (!si) {
			ret = -ENOMEM;
			goto out;
		}
		insns = si;
		si = &insns[n++];
		si->line = no;
		si->slot = ctx->nslots;
		si->ntok = ntok;
		memcpy(si->tok, tok, ntok * sizeof(tok[0]));
		if (!strcmp(tok[0], "exit") && implicit_exit == SIZE_MAX) {
			implicit_exit = ctx->nslots;
			implicit_line = no;
		}
		ctx->nslots += strcmp(tok[0], "lddw") ? 1 : 2;
	}
	if (implicit_exit != SIZE_MAX && !find_label(ctx, "exit")) {
		ret = add_label(ctx, "exit", implicit_exit, implicit_line);
		if (ret)
			goto out;
	}
	if (!ctx->nslots) {
		ret = fail(ctx, first_line, "no instructions");
		goto out;
	}
	code = calloc(ctx->nslots, sizeof(*code));
	if (!code) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ret = encode(ctx, &insns[i], &code[insns[i].slot]);
		if (ret)
			goto out;
	}
	*out = code;
	*out_cnt = ctx->nslots;
	code = NULL;
out:
	free(code);
	free(ctx->labels);
	ctx->labels = NULL;
	ctx->nlabels = 0;
	free(insns);
	free(buf);
	return ret;
}

int asm_assemble(const char *name, const char *src, unsigned int first_line,
		 struct bpftime_insn **out, size_t *out_cnt, char *err, size_t err_sz)
{
	struct asm_ctx ctx = { .name = name ? name : "<asm>", .err = err, .err_sz = err_sz };

	if (err && err_sz)
		err[0] = 0;
	return assemble(&ctx, src, first_line, NULL, out, out_cnt);
}

/* ---- .data files ---- */

enum section {
	SEC_NONE,
	SEC_ASM,
	SEC_RESULT,
	SEC_MEM,
	SEC_RAW,
	SEC_IGNORED,
	SEC_ERROR,
};

/* Text of one section: its content lines joined with '\n' and the file line
 * of each (for messages). */
struct section_text {
	char *text;
	size_t len;
	unsigned int *lines;
	size_t nlines;
};

static int section_append(struct section_text *s, const char *line, unsigned int no)
{
	size_t l = strlen(line);
	unsigned int *lines;
	char *text;

	text = realloc(s->text, s->len + l + 2);
	if (!text)
		return -ENOMEM;
	s->text = text;
	memcpy(text + s->len, line, l);
	s->len += l;
	text[s->len++] = '\n';
	text[s->len] = 0;
	lines = realloc(s->lines, (s->nlines + 1) * sizeof(*lines));
	if (!lines)
		return -ENOMEM;
	s->lines = lines;
	lines[s->nlines++] = no;
	return 0;
}

static void section_free(struct section_text *s)
{
	free(s->text);
	free(s->lines);
}

/* Chooses the section kind of a "--" header by substring, in the order the
 * reference runner tests them (so "-- c" must come after "asm" etc.). */
static enum section section_kind(const char *hdr)
{
	if (strstr(hdr, "asm"))
		return SEC_ASM;
	if (strstr(hdr, "result"))
		return SEC_RESULT;
	if (strstr(hdr, "mem"))
		return SEC_MEM;
	if (strstr(hdr, "raw"))
		return SEC_RAW;
	if (strstr(hdr, "no register offset") || strstr(hdr, " c"))
		return SEC_IGNORED;
	if (strstr(hdr, "error"))
		return SEC_ERROR;
	return SEC_NONE;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* The last non-empty line of a section (trimmed, in place) and its number. */
static char *last_line(struct section_text *s, unsigned int *no)
{
	char *p = s->text, *last = NULL;
	size_t i = 0;

	while (p && *p) {
		char *nl = strchr(p, '\n');

		if (nl)
			*nl = 0;
		p = trim(p);
		if (*p) {
			last = p;
			*no = s->lines[i];
		}
		p = nl ? nl + 1 : NULL;
		i++;
	}
	return last;
}

static int parse_result(struct asm_ctx *ctx, struct section_text *s, struct asm_case *c)
{
	unsigned int no = 0;
	char *l = last_line(s, &no);
	bool neg, hex;
	uint64_t v;

	if (!l)
		return 0;
	if (!parse_num(l, &neg, &v, &hex) || neg || (strstr(l, "0x") != NULL) != hex)
		return fail(ctx, no, "invalid result '%s' (expected 0xHEX or decimal)", l);
	c->result = v;
	c->has_result = true;
	return 0;
}

/* Whitespace-separated hex bytes; each token truncated to 8 bits. */
static int parse_mem_section(struct asm_ctx *ctx, struct section_text *s, struct asm_case *c)
{
	size_t line = 0;
	char *p = s->text ? s->text : (char *)"";

	c->has_mem = true;
	while (*p) {
		size_t len = strcspn(p, " \t\r\n");
		uint64_t v = 0;
		uint8_t *mem;

		if (!len) {
			if (*p == '\n')
				line++;
			p++;
			continue;
		}
		for (size_t i = 0; i < len; i++) {
			if (!isxdigit((unsigned char)p[i]) || len > 16)
				return fail(ctx, s->lines[line], "invalid memory byte '%.*s'",
					    (int)len, p);
			v = v * 16 +
			    (isdigit((unsigned char)p[i])
				     ? (uint64_t)(p[i] - '0')
				     : (uint64_t)(tolower((unsigned char)p[i]) - 'a' + 10));
		}
		mem = realloc(c->mem, c->mem_len + 1);
		if (!mem)
			return -ENOMEM;
		c->mem = mem;
		c->mem[c->mem_len++] = (uint8_t)v;
		p += len;
	}
	return 0;
}

/* Whitespace-separated 64-bit slots, little-endian: code, dst|src<<4, off, imm. */
static int parse_raw(struct asm_ctx *ctx, struct section_text *s, struct asm_case *c)
{
	size_t line = 0;
	char *p = s->text;

	free(c->insns);
	c->insns = NULL;
	c->cnt = 0;
	c->from_raw = true;
	while (p && *p) {
		size_t len = strcspn(p, " \t\r\n");
		struct bpftime_insn *insns;
		bool neg, hex;
		uint64_t v;
		char tok[32];

		if (!len) {
			if (*p == '\n')
				line++;
			p++;
			continue;
		}
		snprintf(tok, sizeof(tok), "%.*s", (int)len, p);
		if (len >= sizeof(tok) || !parse_num(tok, &neg, &v, &hex) || neg)
			return fail(ctx, s->lines[line], "invalid raw instruction '%s'", tok);
		insns = realloc(c->insns, (c->cnt + 1) * sizeof(*insns));
		if (!insns)
			return -ENOMEM;
		c->insns = insns;
		insns[c->cnt++] = (struct bpftime_insn){
			.code = (uint8_t)v,
			.dst = (uint8_t)((v >> 8) & 0xf),
			.src = (uint8_t)((v >> 12) & 0xf),
			.off = (int16_t)(uint16_t)(v >> 16),
			.imm = (int32_t)(uint32_t)(v >> 32),
		};
		p += len;
	}
	if (!c->cnt)
		return fail(ctx, s->lines ? s->lines[0] : 0, "empty raw section");
	return 0;
}

int asm_case__parse(struct asm_case *c, const char *name, const char *text, char *err,
		    size_t err_sz)
{
	struct asm_ctx ctx = { .name = name ? name : "<data>", .err = err, .err_sz = err_sz };
	struct section_text sec[SEC_ERROR + 1] = {};
	unsigned int sec_line[SEC_ERROR + 1] = {};
	bool seen[SEC_ERROR + 1] = {};
	enum section cur = SEC_NONE;
	bool in_file = false;
	char *buf, *line, *next;
	unsigned int no = 1;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	if (err && err_sz)
		err[0] = 0;
	buf = strdup(text ? text : "");
	if (!buf)
		return -ENOMEM;
	for (line = buf; line; line = next, no++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		line[strcspn(line, "\r#")] = 0;
		if (strstr(line, "--")) {
			cur = section_kind(line);
			if (cur == SEC_NONE) {
				ret = fail(&ctx, no, "unknown section '%s'", trim(line));
				goto out;
			}
			if (seen[cur] && cur != SEC_IGNORED) {
				ret = fail(&ctx, no, "section '%s' repeated (first at line %u)",
					   trim(line), sec_line[cur]);
				goto out;
			}
			seen[cur] = true;
			sec_line[cur] = no;
			in_file = true;
			continue;
		}
		if (!in_file || !*trim(line) || cur == SEC_IGNORED)
			continue;
		ret = section_append(&sec[cur], line, no);
		if (ret)
			goto out;
	}
	if (!seen[SEC_ASM] && !seen[SEC_RAW]) {
		ret = fail(&ctx, 1, "no '-- asm' or '-- raw' section");
		goto out;
	}
	if (seen[SEC_ASM]) {
		ret = assemble(&ctx, sec[SEC_ASM].text, 0, sec[SEC_ASM].lines, &c->insns, &c->cnt);
		if (ret)
			goto out;
	}
	if (seen[SEC_RAW] && (ret = parse_raw(&ctx, &sec[SEC_RAW], c)))
		goto out;
	if (seen[SEC_MEM] && (ret = parse_mem_section(&ctx, &sec[SEC_MEM], c)))
		goto out;
	if (seen[SEC_RESULT] && (ret = parse_result(&ctx, &sec[SEC_RESULT], c)))
		goto out;
	if (seen[SEC_ERROR]) {
		unsigned int eno;
		char *l = sec[SEC_ERROR].text ? last_line(&sec[SEC_ERROR], &eno) : NULL;

		if (l && !(c->error = strdup(l))) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (!c->has_result && !c->error)
		ret = fail(&ctx, 1, "no '-- result' or '-- error' section");
out:
	for (size_t i = 0; i < sizeof(sec) / sizeof(sec[0]); i++)
		section_free(&sec[i]);
	free(buf);
	if (ret)
		asm_case__free(c);
	return ret;
}

int asm_case__parse_file(struct asm_case *c, const char *path, char *err, size_t err_sz)
{
	char *text = NULL;
	size_t len = 0, cap = 0, got;
	FILE *f;
	int ret;

	memset(c, 0, sizeof(*c));
	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		if (err && err_sz)
			snprintf(err, err_sz, "%s: cannot open: %s", path, strerror(-ret));
		return ret;
	}
	do {
		if (len + 4096 + 1 > cap) {
			char *t = realloc(text, cap = len + 4096 + 1);

			if (!t) {
				free(text);
				fclose(f);
				return -ENOMEM;
			}
			text = t;
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
	} while (got);
	ret = ferror(f) ? -EIO : 0;
	fclose(f);
	if (ret) {
		if (err && err_sz)
			snprintf(err, err_sz, "%s: read error", path);
		free(text);
		return ret;
	}
	text[len] = 0;
	if (strlen(text) != len) {
		if (err && err_sz)
			snprintf(err, err_sz, "%s: contains a NUL byte", path);
		free(text);
		return -EINVAL;
	}
	ret = asm_case__parse(c, path, text, err, err_sz);
	free(text);
	return ret;
}

void asm_case__free(struct asm_case *c)
{
	if (!c)
		return;
	free(c->insns);
	free(c->mem);
	free(c->error);
	memset(c, 0, sizeof(*c));
}
