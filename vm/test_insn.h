/* SPDX-License-Identifier: MIT */
/* vm/test_insn.h: instruction-building macros for tests, named after the
 * kernel's (include/linux/filter.h) so eBPF engineers read them at sight.
 * Each expands to one struct bpftime_insn initializer (lddw to two), for use
 * inside an array:
 *
 *	struct bpftime_insn prog[] = {
 *		BPF_MOV64_IMM(0, 1),
 *		BPF_ALU64_IMM(BPF_ADD, 0, 2),
 *		BPF_EXIT_INSN(),
 *	};
 *
 * Registers are plain numbers (r10 = 10).  Test-only; not installed.
 */
#ifndef BPFTIME_VM_TEST_INSN_H
#define BPFTIME_VM_TEST_INSN_H

#include <bpftime/vm.h>
#include "vm/insn.h"

#define BPF_RAW_INSN(CODE, DST, SRC, OFF, IMM)         \
	((struct bpftime_insn){ .code = (CODE),        \
				.dst = (DST),          \
				.src = (SRC),          \
				.off = (int16_t)(OFF), \
				.imm = (int32_t)(IMM) })

/* ALU: OP is BPF_ADD, BPF_SUB, ... */
#define BPF_ALU64_IMM(OP, DST, IMM) BPF_RAW_INSN(BPF_ALU64 | (OP) | BPF_K, DST, 0, 0, IMM)
#define BPF_ALU64_REG(OP, DST, SRC) BPF_RAW_INSN(BPF_ALU64 | (OP) | BPF_X, DST, SRC, 0, 0)
#define BPF_ALU32_IMM(OP, DST, IMM) BPF_RAW_INSN(BPF_ALU | (OP) | BPF_K, DST, 0, 0, IMM)
#define BPF_ALU32_REG(OP, DST, SRC) BPF_RAW_INSN(BPF_ALU | (OP) | BPF_X, DST, SRC, 0, 0)
#define BPF_MOV64_IMM(DST, IMM)	    BPF_ALU64_IMM(BPF_MOV, DST, IMM)
#define BPF_MOV64_REG(DST, SRC)	    BPF_ALU64_REG(BPF_MOV, DST, SRC)
#define BPF_MOV32_IMM(DST, IMM)	    BPF_ALU32_IMM(BPF_MOV, DST, IMM)
#define BPF_MOV32_REG(DST, SRC)	    BPF_ALU32_REG(BPF_MOV, DST, SRC)
#define BPF_NEG64(DST)		    BPF_RAW_INSN(BPF_ALU64 | BPF_NEG, DST, 0, 0, 0)
#define BPF_NEG32(DST)		    BPF_RAW_INSN(BPF_ALU | BPF_NEG, DST, 0, 0, 0)

/* v4: signed div/mod (off = 1) and sign-extending moves (off = bits) */
#define BPF_SDIV64_IMM(DST, IMM)	BPF_RAW_INSN(BPF_ALU64 | BPF_DIV | BPF_K, DST, 0, 1, IMM)
#define BPF_SDIV64_REG(DST, SRC)	BPF_RAW_INSN(BPF_ALU64 | BPF_DIV | BPF_X, DST, SRC, 1, 0)
#define BPF_SMOD64_IMM(DST, IMM)	BPF_RAW_INSN(BPF_ALU64 | BPF_MOD | BPF_K, DST, 0, 1, IMM)
#define BPF_SMOD64_REG(DST, SRC)	BPF_RAW_INSN(BPF_ALU64 | BPF_MOD | BPF_X, DST, SRC, 1, 0)
#define BPF_SDIV32_IMM(DST, IMM)	BPF_RAW_INSN(BPF_ALU | BPF_DIV | BPF_K, DST, 0, 1, IMM)
#define BPF_SDIV32_REG(DST, SRC)	BPF_RAW_INSN(BPF_ALU | BPF_DIV | BPF_X, DST, SRC, 1, 0)
#define BPF_SMOD32_IMM(DST, IMM)	BPF_RAW_INSN(BPF_ALU | BPF_MOD | BPF_K, DST, 0, 1, IMM)
#define BPF_SMOD32_REG(DST, SRC)	BPF_RAW_INSN(BPF_ALU | BPF_MOD | BPF_X, DST, SRC, 1, 0)
#define BPF_MOVSX64_REG(DST, SRC, BITS) BPF_RAW_INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, BITS, 0)
#define BPF_MOVSX32_REG(DST, SRC, BITS) BPF_RAW_INSN(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, BITS, 0)

/* byte order: BPF_TO_LE / BPF_TO_BE, and the v4 unconditional swap */
#define BPF_ENDIAN(TYPE, DST, BITS) BPF_RAW_INSN(BPF_ALU | BPF_END | (TYPE), DST, 0, 0, BITS)
#define BPF_BSWAP(DST, BITS)	    BPF_RAW_INSN(BPF_ALU64 | BPF_END | BPF_TO_LE, DST, 0, 0, BITS)

/* 64-bit immediate (two slots) and its pseudo-source forms */
#define BPF_LD_IMM64_RAW(DST, SRC, IMM, NEXT_IMM)                  \
	BPF_RAW_INSN(BPF_LD | BPF_DW | BPF_IMM, DST, SRC, 0, IMM), \
		BPF_RAW_INSN(0, 0, 0, 0, NEXT_IMM)
#define BPF_LD_IMM64(DST, IMM) \
	BPF_LD_IMM64_RAW(DST, 0, (uint32_t)(uint64_t)(IMM), (uint32_t)((uint64_t)(IMM) >> 32))
#define BPF_LD_MAP_FD(DST, FD)	       BPF_LD_IMM64_RAW(DST, BPFTIME_PSEUDO_MAP_FD, FD, 0)
#define BPF_LD_MAP_VALUE(DST, FD, OFF) BPF_LD_IMM64_RAW(DST, BPFTIME_PSEUDO_MAP_VALUE, FD, OFF)
#define BPF_LD_FUNC(DST, REL)	       BPF_LD_IMM64_RAW(DST, BPFTIME_PSEUDO_FUNC, REL, 0)

/* memory: SIZE is BPF_B, BPF_H, BPF_W, BPF_DW */
#define BPF_LDX_MEM(SIZE, DST, SRC, OFF) BPF_RAW_INSN(BPF_LDX | BPF_MEM | (SIZE), DST, SRC, OFF, 0)
#define BPF_LDX_MEMSX(SIZE, DST, SRC, OFF) \
	BPF_RAW_INSN(BPF_LDX | BPF_MEMSX | (SIZE), DST, SRC, OFF, 0)
#define BPF_STX_MEM(SIZE, DST, SRC, OFF) BPF_RAW_INSN(BPF_STX | BPF_MEM | (SIZE), DST, SRC, OFF, 0)
#define BPF_ST_MEM(SIZE, DST, OFF, IMM)	 BPF_RAW_INSN(BPF_ST | BPF_MEM | (SIZE), DST, 0, OFF, IMM)
/* OP is BPF_ADD, BPF_AND, ... optionally | BPF_FETCH, or BPF_XCHG, BPF_CMPXCHG */
#define BPF_ATOMIC_OP(SIZE, OP, DST, SRC, OFF) \
	BPF_RAW_INSN(BPF_STX | BPF_ATOMIC | (SIZE), DST, SRC, OFF, OP)

/* jumps: OP is BPF_JEQ, BPF_JGT, ... */
#define BPF_JMP_IMM(OP, DST, IMM, OFF)	 BPF_RAW_INSN(BPF_JMP | (OP) | BPF_K, DST, 0, OFF, IMM)
#define BPF_JMP_REG(OP, DST, SRC, OFF)	 BPF_RAW_INSN(BPF_JMP | (OP) | BPF_X, DST, SRC, OFF, 0)
#define BPF_JMP32_IMM(OP, DST, IMM, OFF) BPF_RAW_INSN(BPF_JMP32 | (OP) | BPF_K, DST, 0, OFF, IMM)
#define BPF_JMP32_REG(OP, DST, SRC, OFF) BPF_RAW_INSN(BPF_JMP32 | (OP) | BPF_X, DST, SRC, OFF, 0)
#define BPF_JMP_A(OFF)			 BPF_RAW_INSN(BPF_JMP | BPF_JA, 0, 0, OFF, 0)
#define BPF_JMP32_A(IMM)		 BPF_RAW_INSN(BPF_JMP32 | BPF_JA, 0, 0, 0, IMM) /* gotol */

/* calls and exit */
#define BPF_CALL_HELPER(ID) BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, BPFTIME_CALL_HELPER, 0, ID)
#define BPF_CALL_REL(REL)   BPF_RAW_INSN(BPF_JMP | BPF_CALL, 0, BPFTIME_CALL_LOCAL, 0, REL)
#define BPF_CALLX(DST)	    BPF_RAW_INSN(BPF_JMP | BPF_CALL | BPF_X, DST, 0, 0, 0)
#define BPF_EXIT_INSN()	    BPF_RAW_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#endif /* BPFTIME_VM_TEST_INSN_H */
