/* SPDX-License-Identifier: MIT */
/* vm/jit_emit.h: x86-64 instruction encoders for jit_x86_64.c.
 *
 * Every encoder appends to a struct jit_out without bounds checks: the caller
 * reserves JIT_MAX_INSN bytes per eBPF instruction (see jit_x86_64.c), so a
 * check per byte would only cost time.  Register numbers are the hardware
 * encodings (enum x86_reg); bit 3 goes into the REX prefix.
 *
 * The encodings follow the Intel SDM, volume 2: a register-direct ModRM is
 * 0xC0 | reg << 3 | rm; a memory operand [base + disp] needs a SIB byte when
 * the base is rsp/r12 and an explicit displacement when it is rbp/r13.
 */
#ifndef BPFTIME_VM_JIT_EMIT_H
#define BPFTIME_VM_JIT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum x86_reg {
	X86_RAX = 0,
	X86_RCX = 1,
	X86_RDX = 2,
	X86_RBX = 3,
	X86_RSP = 4,
	X86_RBP = 5,
	X86_RSI = 6,
	X86_RDI = 7,
	X86_R8 = 8,
	X86_R9 = 9,
	X86_R10 = 10,
	X86_R11 = 11,
	X86_R12 = 12,
	X86_R13 = 13,
	X86_R14 = 14,
	X86_R15 = 15,
};

/* condition codes (the low nibble of Jcc/SETcc) */
enum x86_cc {
	X86_CC_B = 0x2,	 /* unsigned <  */
	X86_CC_AE = 0x3, /* unsigned >= */
	X86_CC_E = 0x4,
	X86_CC_NE = 0x5,
	X86_CC_BE = 0x6, /* unsigned <= */
	X86_CC_A = 0x7,	 /* unsigned >  */
	X86_CC_L = 0xc,	 /* signed <  */
	X86_CC_GE = 0xd, /* signed >= */
	X86_CC_LE = 0xe, /* signed <= */
	X86_CC_G = 0xf,	 /* signed >  */
};

/* group-1 ALU operations: the /digit of 0x81/0x83, and (<< 3 | 1) the
 * "op r/m, reg" opcode */
enum x86_alu {
	X86_ADD = 0,
	X86_OR = 1,
	X86_AND = 4,
	X86_SUB = 5,
	X86_XOR = 6,
	X86_CMP = 7,
};

/* group-2 shifts: the /digit of 0xC1/0xD1/0xD3 */
enum x86_shift {
	X86_SHL = 4,
	X86_SHR = 5,
	X86_SAR = 7,
};

struct jit_out {
	uint8_t *p; /* next byte to write */
};

static inline bool is_s8(int64_t v)
{
	return v >= -128 && v <= 127;
}

static inline bool is_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* The byte writers load o->p once and store it back once: a store through
 * a uint8_t pointer may alias anything, o->p included, so writing through
 * o->p directly would make the compiler reload it after every byte and
 * chain each instruction's bytes through memory. */
static inline void emit1(struct jit_out *o, uint8_t b)
{
	uint8_t *p = o->p;

	*p = b;
	o->p = p + 1;
}

static inline void emit2(struct jit_out *o, uint8_t a, uint8_t b)
{
	uint8_t *p = o->p;

	p[0] = a;
	p[1] = b;
	o->p = p + 2;
}

static inline void emit3(struct jit_out *o, uint8_t a, uint8_t b, uint8_t c)
{
	uint8_t *p = o->p;

	p[0] = a;
	p[1] = b;
	p[2] = c;
	o->p = p + 3;
}

static inline void emit_u16(struct jit_out *o, uint16_t v)
{
	uint8_t *p = o->p;

	memcpy(p, &v, 2);
	o->p = p + 2;
}

static inline void emit_u32(struct jit_out *o, uint32_t v)
{
	uint8_t *p = o->p;

	memcpy(p, &v, 4);
	o->p = p + 4;
}

static inline void emit_u64(struct jit_out *o, uint64_t v)
{
	uint8_t *p = o->p;

	memcpy(p, &v, 8);
	o->p = p + 8;
}

/* REX prefix when one is needed.  force: an 8-bit operand in spl/bpl/sil/dil
 * (without REX those encodings mean ah/ch/dh/bh). */
static inline void emit_rex(struct jit_out *o, bool w, int reg, int rm, bool force)
{
	uint8_t rex = 0x40 | (w ? 8 : 0) | ((reg & 8) >> 1) | ((rm & 8) >> 3);

	if (rex != 0x40 || force)
		emit1(o, rex);
}

static inline void emit_modrm_rr(struct jit_out *o, int reg, int rm)
{
	emit1(o, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/* ModRM (+ SIB + displacement) for [base + off] */
static inline void emit_modrm_mem(struct jit_out *o, int reg, int base, int32_t off)
{
	int mod = off == 0 && (base & 7) != X86_RBP ? 0 : is_s8(off) ? 1 : 2;

	emit1(o, mod << 6 | (reg & 7) << 3 | (base & 7));
	if ((base & 7) == X86_RSP)
		emit1(o, 0x24); /* SIB: base only */
	if (mod == 1)
		emit1(o, (uint8_t)off);
	else if (mod == 2)
		emit_u32(o, (uint32_t)off);
}

/* "op r/m, reg" register form: add 01, or 09, and 21, sub 29, xor 31,
 * cmp 39, test 85, mov 89 */
static inline void emit_rr(struct jit_out *o, uint8_t op, bool w, int dst, int src)
{
	emit_rex(o, w, src, dst, false);
	emit2(o, op, 0xc0 | (src & 7) << 3 | (dst & 7));
}

/* imul dst, dst, imm: 6b /r ib when the immediate fits a byte, else 69 /r id */
static inline void emit_imul_imm(struct jit_out *o, bool w, int dst, int32_t imm)
{
	emit_rex(o, w, dst, dst, false);
	if (is_s8(imm)) {
		emit2(o, 0x6b, 0xc0 | (dst & 7) << 3 | (dst & 7));
		emit1(o, (uint8_t)imm);
	} else {
		emit2(o, 0x69, 0xc0 | (dst & 7) << 3 | (dst & 7));
		emit_u32(o, (uint32_t)imm);
	}
}

static inline void emit_mov_rr(struct jit_out *o, bool w, int dst, int src)
{
	emit_rr(o, 0x89, w, dst, src);
}

/* 0F-prefixed "reg, r/m" register form: imul 0F AF, movzx 0F B6/B7,
 * movsx 0F BE/BF; byte: the source is an 8-bit register */
static inline void emit_0f_rr(struct jit_out *o, uint8_t op, bool w, int reg, int rm, bool byte)
{
	emit_rex(o, w, reg, rm, byte && rm >= 4);
	emit3(o, 0x0f, op, 0xc0 | (reg & 7) << 3 | (rm & 7));
}

/* group-1 ALU op with an immediate (sign-extended when w) */
static inline void emit_alu_ri(struct jit_out *o, enum x86_alu op, bool w, int dst, int32_t imm)
{
	emit_rex(o, w, 0, dst, false);
	if (is_s8(imm)) {
		emit2(o, 0x83, 0xc0 | op << 3 | (dst & 7));
		emit1(o, (uint8_t)imm);
	} else {
		emit2(o, 0x81, 0xc0 | op << 3 | (dst & 7));
		emit_u32(o, (uint32_t)imm);
	}
}

/* dst = imm: zero-extended 32-bit value (w = false), or sign-extended (w) */
static inline void emit_mov_imm32(struct jit_out *o, bool w, int dst, int32_t imm)
{
	if (imm == 0) {
		emit_rr(o, 0x31, false, dst, dst); /* xor dst32, dst32 */
	} else if (!w || imm > 0) {
		emit_rex(o, false, 0, dst, false);
		emit1(o, 0xb8 + (dst & 7)); /* mov r32, imm32 */
		emit_u32(o, (uint32_t)imm);
	} else {
		emit_rex(o, true, 0, dst, false);
		emit2(o, 0xc7, 0xc0 | (dst & 7)); /* mov r64, simm32 */
		emit_u32(o, (uint32_t)imm);
	}
}

/* dst = 64-bit constant, shortest encoding */
static inline void emit_mov_imm64(struct jit_out *o, int dst, uint64_t v)
{
	if (v <= UINT32_MAX) {
		emit_mov_imm32(o, false, dst, (int32_t)(uint32_t)v);
	} else if ((int64_t)v >= INT32_MIN && (int64_t)v < 0) {
		emit_mov_imm32(o, true, dst, (int32_t)(int64_t)v);
	} else {
		emit_rex(o, true, 0, dst, false);
		emit1(o, 0xb8 + (dst & 7)); /* movabs r64, imm64 */
		emit_u64(o, v);
	}
}

/* shift by an immediate count (already masked, non-zero) */
static inline void emit_shift_ri(struct jit_out *o, enum x86_shift op, bool w, int dst, uint8_t n)
{
	emit_rex(o, w, 0, dst, false);
	if (n == 1) {
		emit2(o, 0xd1, 0xc0 | op << 3 | (dst & 7));
	} else {
		emit2(o, 0xc1, 0xc0 | op << 3 | (dst & 7));
		emit1(o, n);
	}
}

/* shift by cl */
static inline void emit_shift_cl(struct jit_out *o, enum x86_shift op, bool w, int dst)
{
	emit_rex(o, w, 0, dst, false);
	emit2(o, 0xd3, 0xc0 | op << 3 | (dst & 7));
}

/* group-3 unary op on a register: neg /3, div /6, idiv /7 */
static inline void emit_f7(struct jit_out *o, int ext, bool w, int rm)
{
	emit_rex(o, w, 0, rm, false);
	emit2(o, 0xf7, 0xc0 | ext << 3 | (rm & 7));
}

/* dst = [base + off], zero- or (sx) sign-extended to 64 bits */
static inline void emit_load(struct jit_out *o, unsigned int size, bool sx, int dst, int base,
			     int32_t off)
{
	switch (size) {
	case 1:
		emit_rex(o, sx, dst, base, false);
		emit2(o, 0x0f, sx ? 0xbe : 0xb6); /* movsx r64, m8 / movzx r32, m8 */
		break;
	case 2:
		emit_rex(o, sx, dst, base, false);
		emit2(o, 0x0f, sx ? 0xbf : 0xb7); /* movsx r64, m16 / movzx r32, m16 */
		break;
	case 4:
		emit_rex(o, sx, dst, base, false);
		emit1(o, sx ? 0x63 : 0x8b); /* movsxd r64, m32 / mov r32, m32 */
		break;
	default:
		emit_rex(o, true, dst, base, false);
		emit1(o, 0x8b); /* mov r64, m64 */
		break;
	}
	emit_modrm_mem(o, dst, base, off);
}

/* [base + off] = src (low size bytes) */
static inline void emit_store(struct jit_out *o, unsigned int size, int base, int32_t off, int src)
{
	if (size == 2)
		emit1(o, 0x66);
	emit_rex(o, size == 8, src, base, size == 1 && src >= 4);
	emit1(o, size == 1 ? 0x88 : 0x89);
	emit_modrm_mem(o, src, base, off);
}

/* [base + off] = imm (size bytes; 8: imm sign-extended) */
static inline void emit_store_imm(struct jit_out *o, unsigned int size, int base, int32_t off,
				  int32_t imm)
{
	if (size == 2)
		emit1(o, 0x66);
	emit_rex(o, size == 8, 0, base, false);
	emit1(o, size == 1 ? 0xc6 : 0xc7);
	emit_modrm_mem(o, 0, base, off);
	if (size == 1)
		emit1(o, (uint8_t)imm);
	else if (size == 2)
		emit_u16(o, (uint16_t)imm);
	else
		emit_u32(o, (uint32_t)imm);
}

/* "op [base + off], reg" with an optional lock prefix; op is one or two
 * opcode bytes (0x0f xx when op > 0xff) */
static inline void emit_mem_op(struct jit_out *o, bool lock, uint16_t op, bool w, int base,
			       int32_t off, int reg)
{
	if (lock)
		emit1(o, 0xf0);
	emit_rex(o, w, reg, base, false);
	if (op > 0xff)
		emit1(o, (uint8_t)(op >> 8));
	emit1(o, (uint8_t)op);
	emit_modrm_mem(o, reg, base, off);
}

static inline void emit_push(struct jit_out *o, int reg)
{
	if (reg >= 8)
		emit1(o, 0x41);
	emit1(o, 0x50 + (reg & 7));
}

static inline void emit_pop(struct jit_out *o, int reg)
{
	if (reg >= 8)
		emit1(o, 0x41);
	emit1(o, 0x58 + (reg & 7));
}

/* call reg */
static inline void emit_call_reg(struct jit_out *o, int reg)
{
	if (reg >= 8)
		emit1(o, 0x41);
	emit2(o, 0xff, 0xd0 | (reg & 7));
}

/* A short forward jump whose target is not known yet: returns the rel8
 * byte to patch with jit_patch8() once the target is reached. */
static inline uint8_t *emit_jcc8_fwd(struct jit_out *o, int cc)
{
	emit2(o, (uint8_t)(cc < 0 ? 0xeb : 0x70 + cc), 0);
	return o->p - 1;
}

static inline void jit_patch8(struct jit_out *o, uint8_t *rel)
{
	*rel = (uint8_t)(o->p - (rel + 1));
}

#endif /* BPFTIME_VM_JIT_EMIT_H */
