/* SPDX-License-Identifier: MIT */
/* vm/insn.h: instruction encoding constants and the opcode enum built from
 * insn.def.  Internal to vm/ and its tests (the encoding
 * constants); the public view is include/bpftime/insn.h.
 *
 * Encoding (RFC 9669 section 3): 8-byte slots, little-endian,
 *   u8 code | u8 dst:4 (low nibble), src:4 (high nibble) | s16 off | s32 imm
 * code = class (bits 0-2) | source (bit 3) | operation (bits 4-7) for
 * ALU/JMP, or class | size (bits 3-4) | mode (bits 5-7) for loads/stores.
 */
#ifndef BPFTIME_VM_INSN_H
#define BPFTIME_VM_INSN_H

#include <stdint.h>
#include <bpftime/insn.h>
#include <bpftime/vm.h>

/* The values are the kernel's (uapi linux/bpf_common.h, linux/bpf.h); the
 * guards let this header sit next to the uapi headers without conflict. */
#ifndef BPF_LD
#define BPF_LD	 0x00
#define BPF_LDX	 0x01
#define BPF_ST	 0x02
#define BPF_STX	 0x03
#define BPF_ALU	 0x04
#define BPF_JMP	 0x05
#define BPF_RET	 0x06
#define BPF_MISC 0x07
#define BPF_W	 0x00
#define BPF_H	 0x08
#define BPF_B	 0x10
#define BPF_IMM	 0x00
#define BPF_ABS	 0x20
#define BPF_IND	 0x40
#define BPF_MEM	 0x60
#define BPF_ADD	 0x00
#define BPF_SUB	 0x10
#define BPF_MUL	 0x20
#define BPF_DIV	 0x30
#define BPF_OR	 0x40
#define BPF_AND	 0x50
#define BPF_LSH	 0x60
#define BPF_RSH	 0x70
#define BPF_NEG	 0x80
#define BPF_MOD	 0x90
#define BPF_XOR	 0xa0
#define BPF_JA	 0x00
#define BPF_JEQ	 0x10
#define BPF_JGT	 0x20
#define BPF_JGE	 0x30
#define BPF_JSET 0x40
#define BPF_K	 0x00
#define BPF_X	 0x08
#endif
#ifndef BPF_JMP32
#define BPF_JMP32 0x06
#endif
#ifndef BPF_ALU64
#define BPF_ALU64 0x07
#define BPF_DW	  0x18
#define BPF_MOV	  0xb0
#define BPF_ARSH  0xc0
#define BPF_END	  0xd0
#define BPF_TO_LE 0x00
#define BPF_TO_BE 0x08
#define BPF_JNE	  0x50
#define BPF_JSGT  0x60
#define BPF_JSGE  0x70
#define BPF_CALL  0x80
#define BPF_EXIT  0x90
#endif
#ifndef BPF_ATOMIC
#define BPF_ATOMIC 0xc0
#endif
#ifndef BPF_MEMSX
#define BPF_MEMSX 0x80
#endif
#ifndef BPF_JLT
#define BPF_JLT	 0xa0
#define BPF_JLE	 0xb0
#define BPF_JSLT 0xc0
#define BPF_JSLE 0xd0
#endif
#ifndef BPF_FETCH
#define BPF_FETCH   0x01
#define BPF_XCHG    (0xe0 | BPF_FETCH)
#define BPF_CMPXCHG (0xf0 | BPF_FETCH)
#endif

#define BPF_CLASS(code) ((code)&0x07)
#define BPF_SIZE(code)	((code)&0x18)
#define BPF_MODE(code)	((code)&0xe0)
#define BPF_OP(code)	((code)&0xf0)
#define BPF_SRC(code)	((code)&0x08)

/* lddw pseudo sources and call kinds: enum bpftime_pseudo and enum
 * bpftime_call_kind in bpftime/insn.h */

/* Flags of an insn.def row */
enum insn_flags {
	F_VALID = 1 << 0, /* set by insn.c for every row */
	F_ALU = 1 << 1,
	F_DIV = 1 << 2,	 /* div/mod (sdiv/smod with off = 1) */
	F_END = 1 << 3,	 /* byte swap, width in imm */
	F_JUMP = 1 << 4, /* has a jump target */
	F_COND = 1 << 5, /* conditional: falls through too */
	F_CALL = 1 << 6,
	F_TERM = 1 << 7, /* ends a path (exit) */
	F_WIDE = 1 << 8, /* occupies two slots (lddw) */
	F_LOAD = 1 << 9,
	F_STORE = 1 << 10,
	F_ATOMIC = 1 << 11,
};

enum insn_op {
#define INSN(name, code, tmpl, fl) OP_##name = (code),
#include "insn.def"
#undef INSN
};

struct insn_desc {
	const char *name; /* "ADD64_IMM"; NULL for an invalid opcode */
	const char *tmpl; /* disassembly template, see insn.def */
	uint32_t flags;	  /* enum insn_flags, F_VALID for a real opcode */
};

/* Indexed by opcode byte; built in insn.c from insn.def. */
extern const struct insn_desc insn_desc[256];

/* Size of a memory access in bytes from a load/store opcode. */
static inline unsigned int insn_mem_size(uint8_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_B:
		return 1;
	case BPF_H:
		return 2;
	case BPF_W:
		return 4;
	default:
		return 8;
	}
}

#endif /* BPFTIME_VM_INSN_H */
