/* SPDX-License-Identifier: MIT */
/* vm/interp.c: the interpreter.
 *
 * At load, vm_interp_prepare() turns the resolved program into a
 * direct-threaded form: one struct dinsn per slot holding the address of its
 * handler and the operands, so dispatch is a single indirect jump.  The
 * decoding also picks specialised handlers for encodings chosen by other
 * fields (sdiv/smod, movsx, local calls, the tail-call helper), puts the
 * 64-bit lddw value in the second slot, forwards operands between
 * neighbours (see "Operand forwarding"), fuses common pairs into
 * superinstructions, and, in bounds-checked mode, sends loads, stores and
 * atomics to handlers that check the address first and then fall through
 * into the plain handler.
 *
 * One body, two ways to run it (Lua's vmdispatch): VM_CASE()/VM_NEXT()
 * compile it with computed goto, or as a switch when BPFTIME_VM_SWITCH=1.
 *
 * Semantics are the kernel's (RFC 9669): div by zero gives 0, mod by zero
 * leaves dst unchanged (32-bit forms zero-extend), INT_MIN / -1 = INT_MIN and
 * INT_MIN % -1 = 0, shift counts are masked, 32-bit results zero-extend.
 * All of it in unsigned arithmetic so there is no C undefined behaviour.
 *
 * Stack: each run owns BPFTIME_MAX_CALL_DEPTH frames of BPFTIME_STACK_SIZE
 * bytes on the C stack (so runs are thread-safe); a bpf-to-bpf call moves
 * r10 down one frame and saves r6-r9, r10 and the return address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* The opcode lists and handler macros are laid out by hand. */
/* clang-format off */
/* Loads and stores that touch memory defined by the bounds check. */
#define VM_MEM_OPS(X)                                                                              \
	X(LDXW) X(LDXH) X(LDXB) X(LDXDW) X(LDXSW) X(LDXSH) X(LDXSB) X(STW) X(STH) X(STB) X(STDW)  \
	X(STXW) X(STXH) X(STXB) X(STXDW) X(ATOMIC32) X(ATOMIC64)

/*
 * Operand forwarding.  eBPF registers live in memory (reg[]), so a chain of
 * dependent instructions pays a store-to-load round trip per link.  Every
 * handler that writes a register also leaves the value in the local `acc`;
 * when an instruction reads the register its predecessor just wrote (and
 * nothing jumps to it, so the predecessor always ran right before), decoding
 * picks a variant that takes that operand from `acc`: _AD for dst (ALU
 * read-modify-write, compares, store bases), _AS for src (ALU and compare
 * sources, moves, load bases, stored values).  Conditional jumps and plain
 * stores write no register, so forwarding also reaches past them (unless
 * they are jump targets themselves).  The fused handlers (F3, FJ, FL below)
 * come with forwarded variants too.
 */
#define VM_BINOPS(M, X)                                                                            \
	M(X, ADD) M(X, SUB) M(X, MUL) M(X, OR) M(X, AND) M(X, XOR) M(X, LSH) M(X, RSH) M(X, ARSH)  \
	M(X, DIV) M(X, MOD)
#define VM_JCCS(M, X)                                                                              \
	M(X, JEQ) M(X, JNE) M(X, JGT) M(X, JGE) M(X, JLT) M(X, JLE) M(X, JSGT) M(X, JSGE)          \
	M(X, JSLT) M(X, JSLE) M(X, JSET)
#define BIN_ALL(X, n) X(n##64_IMM) X(n##64_REG) X(n##32_IMM) X(n##32_REG)
#define BIN_REG(X, n) X(n##64_REG) X(n##32_REG)
#define JCC_ALL(X, n) X(n##_IMM) X(n##_REG) X(n##32_IMM) X(n##32_REG)
#define JCC_REG(X, n) X(n##_REG) X(n##32_REG)
#define VM_AD_OPS(X)                                                                               \
	VM_BINOPS(BIN_ALL, X) VM_JCCS(JCC_ALL, X) X(NEG64) X(NEG32) X(STB) X(STH) X(STW) X(STDW)   \
	X(STXB) X(STXH) X(STXW) X(STXDW)
#define VM_AS_OPS(X)                                                                               \
	VM_BINOPS(BIN_REG, X) VM_JCCS(JCC_REG, X) X(MOV64_REG) X(MOV32_REG) X(LDXB) X(LDXH)       \
	X(LDXW) X(LDXDW) X(LDXSB) X(LDXSH) X(LDXSW) X(STXB) X(STXH) X(STXW) X(STXDW)

/* Superinstructions "rD op= imm; if rD cmp X goto" for the loop-counter and
 * mask-and-test idioms: X(alu, alu expr, jcc, condition, jcc operand). */
#define FJ_ADD64_IMM(X, n)                                                                         \
	X(ADD64_IMM, ADD64, n##_IMM, n##64, IMM_NEXT) X(ADD64_IMM, ADD64, n##_REG, n##64, SRC_NEXT)
#define FJ_AND64_IMM(X, n)                                                                         \
	X(AND64_IMM, AND64, n##_IMM, n##64, IMM_NEXT) X(AND64_IMM, AND64, n##_REG, n##64, SRC_NEXT)
#define FJ_ADD32_IMM(X, n)                                                                         \
	X(ADD32_IMM, ADD32, n##32_IMM, n##32, IMM_NEXT)                                            \
	X(ADD32_IMM, ADD32, n##32_REG, n##32, SRC_NEXT)
#define FJ_AND32_IMM(X, n)                                                                         \
	X(AND32_IMM, AND32, n##32_IMM, n##32, IMM_NEXT)                                            \
	X(AND32_IMM, AND32, n##32_REG, n##32, SRC_NEXT)
#define VM_FJ_OPS(X)                                                                               \
	VM_JCCS(FJ_ADD64_IMM, X)                                                                   \
	VM_JCCS(FJ_AND64_IMM, X) VM_JCCS(FJ_ADD32_IMM, X) VM_JCCS(FJ_AND32_IMM, X)

/* Loads as X(name, size, extension); the indexed-load superinstruction
 * "rD = rA; rD += rB; rX = *(size *)(rD + off)" exists for each. */
#define VM_LDX_OPS(X)                                                                              \
	X(LDXB, 1, ZX) X(LDXH, 2, ZX) X(LDXW, 4, ZX) X(LDXDW, 8, ZX) X(LDXSB, 1, SX8)               \
	X(LDXSH, 2, SX16) X(LDXSW, 4, SX32)

/* Handler numbers: the opcode byte for insn.def rows, then variants. */
enum vop {
#define INSN(name, code, tmpl, fl) VOP_##name = (code),
#include "insn.def"
#undef INSN
	VOP_SDIV64_IMM = 256,
	VOP_SDIV64_REG,
	VOP_SMOD64_IMM,
	VOP_SMOD64_REG,
	VOP_SDIV32_IMM,
	VOP_SDIV32_REG,
	VOP_SMOD32_IMM,
	VOP_SMOD32_REG,
	VOP_MOVSX64_8,
	VOP_MOVSX64_16,
	VOP_MOVSX64_32,
	VOP_MOVSX32_8,
	VOP_MOVSX32_16,
	VOP_CALL_LOCAL,
	VOP_CALL_TAIL,
	VOP_INVALID,
	VOP_AD_BASE = 512,  /* + basic handler: dst from acc */
	VOP_AS_BASE = 1024, /* + basic handler: src from acc */
	VOP_CHK_BASE = 1536, /* + opcode: bounds-checked memory access */
#define X(name) VOP_##name##_CHK = VOP_CHK_BASE + OP_##name,
	VM_MEM_OPS(X)
#undef X
	/* superinstructions: "rD = rA; rD op= B" in one handler (F3), and with
	 * rA forwarded (F3A); see vm_interp_prepare() */
	VOP_FUSED_BASE = VOP_CHK_BASE + 256,
#define X(name) VOP_F3_##name, VOP_F3A_##name,
	VM_BINOPS(BIN_ALL, X)
#undef X
#define X(name) VOP_F3B_##name,
	VM_BINOPS(BIN_REG, X)
#undef X
#define X(an, af, jn, jf, o) VOP_FJ_##an##_##jn, VOP_FJA_##an##_##jn,
	VM_FJ_OPS(X)
#undef X
#define X(name, size, ext) VOP_FL_##name, VOP_FLA_##name, VOP_FLB_##name,
	VM_LDX_OPS(X)
#undef X
	VOP_MAX,
};

static const bool has_ad[VOP_AD_BASE] = {
#define X(name) [VOP_##name] = true,
	VM_AD_OPS(X)
#undef X
};
static const bool has_as[VOP_AD_BASE] = {
#define X(name) [VOP_##name] = true,
	VM_AS_OPS(X)
#undef X
};

/* One decoded slot.  The second slot of an lddw holds the 64-bit value. */
struct dinsn {
	union {
		const void *handler; /* computed goto */
		uintptr_t op;	     /* switch build: enum vop */
	};
	union {
		struct {
			uint8_t dst;
			uint8_t src;
			int16_t off;
			int32_t imm;
		};
		uint64_t imm64;		   /* second slot of lddw */
		bpftime_helper_fn helper; /* helper call: bound at load */
	};
};

struct frame {
	const struct dinsn *ret;
	uint64_t saved[5]; /* r6-r9, r10 */
};

/* One run (or one bpftime_vm__call_func callback) on this thread.  Runs nest through
 * helpers; the bounds check accepts the memory of every active run. */
struct run {
	uint64_t reg[11];
	struct bpftime_vm *vm;
	uint64_t mem, mem_len;
	unsigned int depth; /* frames in use beyond the first */
	struct run *parent;
	struct frame frames[BPFTIME_MAX_CALL_DEPTH];
	uint8_t stack[BPFTIME_MAX_CALL_DEPTH * BPFTIME_STACK_SIZE] __attribute__((aligned(16)));
};

static __thread struct run *cur_run;

/* Guest memory: the one pair of accessors.  memcpy keeps unaligned access
 * defined (UBSan-clean); the compiler turns it into a plain move. */
static ALWAYS_INLINE uint64_t vm_load(uint64_t addr, unsigned int size)
{
	const void *p = (const void *)(uintptr_t)addr;
	uint8_t b;
	uint16_t h;
	uint32_t w;
	uint64_t dw;

	switch (size) {
	case 1:
		memcpy(&b, p, 1);
		return b;
	case 2:
		memcpy(&h, p, 2);
		return h;
	case 4:
		memcpy(&w, p, 4);
		return w;
	default:
		memcpy(&dw, p, 8);
		return dw;
	}
}

static ALWAYS_INLINE void vm_store(uint64_t addr, unsigned int size, uint64_t val)
{
	void *p = (void *)(uintptr_t)addr;
	uint8_t b = (uint8_t)val;
	uint16_t h = (uint16_t)val;
	uint32_t w = (uint32_t)val;

	switch (size) {
	case 1:
		memcpy(p, &b, 1);
		break;
	case 2:
		memcpy(p, &h, 2);
		break;
	case 4:
		memcpy(p, &w, 4);
		break;
	default:
		memcpy(p, &val, 8);
	}
}

static bool in_range(uint64_t addr, uint64_t size, uint64_t lo, uint64_t len)
{
	return addr >= lo && size <= len && addr - lo <= len - size;
}

/* Bounds-checked mode: the live stack frames and the context memory of
 * every active run on this thread, then the embedder's callback. */
static __attribute__((noinline)) bool access_ok(const struct run *r, uint64_t addr, uint64_t size, bool write)
{
	const struct bpftime_vm *vm = r->vm;

	for (const struct run *p = r; p; p = p->parent) {
		uint64_t top = (uint64_t)(uintptr_t)(p->stack + sizeof(p->stack));
		uint64_t used = (uint64_t)(p->depth + 1) * BPFTIME_STACK_SIZE;

		if (in_range(addr, size, top - used, used))
			return true;
		if (p->mem_len && in_range(addr, size, p->mem, p->mem_len))
			return true;
	}
	return vm->opts.mem_check && vm->opts.mem_check(vm->opts.user_ctx, addr, size, write);
}

static int fault(struct run *r, size_t pc, uint64_t addr, unsigned int size, bool write)
{
	return vm_error(r->vm, EFAULT, "pc %zu: out of bounds %s of %u bytes at 0x%llx", pc,
			write ? "write" : "read", size, (unsigned long long)addr);
}

/* Atomic read-modify-write on guest memory; returns the old value. */
static ALWAYS_INLINE uint64_t atomic_op(uint64_t addr, int32_t op, uint64_t val, uint64_t cmp,
					bool is64)
{
	if (is64) {
		uint64_t *p = (uint64_t *)(uintptr_t)addr;

		switch (op & ~BPF_FETCH) {
		case BPF_ADD:
			return __atomic_fetch_add(p, val, __ATOMIC_SEQ_CST);
		case BPF_AND:
			return __atomic_fetch_and(p, val, __ATOMIC_SEQ_CST);
		case BPF_OR:
			return __atomic_fetch_or(p, val, __ATOMIC_SEQ_CST);
		case BPF_XOR:
			return __atomic_fetch_xor(p, val, __ATOMIC_SEQ_CST);
		case BPF_XCHG & ~BPF_FETCH:
			return __atomic_exchange_n(p, val, __ATOMIC_SEQ_CST);
		default: /* BPF_CMPXCHG, checked by the verifier */
			__atomic_compare_exchange_n(p, &cmp, val, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
			return cmp;
		}
	} else {
		uint32_t *p = (uint32_t *)(uintptr_t)addr, v = (uint32_t)val, c = (uint32_t)cmp;

		switch (op & ~BPF_FETCH) {
		case BPF_ADD:
			return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
		case BPF_AND:
			return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);
		case BPF_OR:
			return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
		case BPF_XOR:
			return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);
		case BPF_XCHG & ~BPF_FETCH:
			return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
		default:
			__atomic_compare_exchange_n(p, &c, v, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
			return c;
		}
	}
}

static ALWAYS_INLINE uint64_t swap_le(uint64_t v, int32_t width)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return width == 16 ? (uint16_t)v : width == 32 ? (uint32_t)v : v;
#else
	return width == 16 ? __builtin_bswap16((uint16_t)v) :
	       width == 32 ? __builtin_bswap32((uint32_t)v) : __builtin_bswap64(v);
#endif
}

static ALWAYS_INLINE uint64_t swap_always(uint64_t v, int32_t width)
{
	return width == 16 ? __builtin_bswap16((uint16_t)v) :
	       width == 32 ? __builtin_bswap32((uint32_t)v) : __builtin_bswap64(v);
}

static ALWAYS_INLINE uint64_t swap_be(uint64_t v, int32_t width)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return swap_always(v, width);
#else
	return width == 16 ? (uint16_t)v : width == 32 ? (uint32_t)v : v;
#endif
}

#ifdef BPFTIME_VM_TRACE
/* -DBPFTIME_VM_TRACE=1: every dispatch logs the instruction and r0-r10 at
 * debug level (a fused pair or triple shows as its first instruction). */
static void trace(const struct bpftime_vm *vm, size_t pc, const uint64_t *reg)
{
	char line[128];

	bpftime_disasm_insn(vm->insns, vm->cnt, pc, NULL, line, sizeof(line));
	pr_debug("prog '%s': %4zu: %-40s r0=%#llx r1=%#llx r2=%#llx r3=%#llx r4=%#llx r5=%#llx "
		 "r6=%#llx r7=%#llx r8=%#llx r9=%#llx r10=%#llx\n",
		 vm->name, pc, line, (unsigned long long)reg[0], (unsigned long long)reg[1],
		 (unsigned long long)reg[2], (unsigned long long)reg[3],
		 (unsigned long long)reg[4], (unsigned long long)reg[5],
		 (unsigned long long)reg[6], (unsigned long long)reg[7],
		 (unsigned long long)reg[8], (unsigned long long)reg[9],
		 (unsigned long long)reg[10]);
}
#define VM_TRACE() trace(vm, PC, reg)
#else
#define VM_TRACE() do {} while (0)
#endif

#ifdef BPFTIME_VM_SWITCH
#define VM_CASE(name)	 case VOP_##name:
#define VM_CASE_AD(name) case VOP_AD_BASE + VOP_##name:
#define VM_CASE_AS(name) case VOP_AS_BASE + VOP_##name:
#define VM_NEXT()	 continue
#define VM_FALLTHROUGH	 __attribute__((fallthrough))
#else
#define VM_CASE(name)	 do_##name:
#define VM_CASE_AD(name) do_##name##_AD:
#define VM_CASE_AS(name) do_##name##_AS:
#define VM_NEXT()                                                                                  \
	do {                                                                                       \
		VM_TRACE();                                                                        \
		goto *ip->handler;                                                                 \
	} while (0)
#define VM_FALLTHROUGH	 do {} while (0)
#endif

/* Register and operand accessors (the kernel interpreter's DST/SRC/IMM). */
#define DST   reg[ip->dst]
#define SRC   reg[ip->src]
#define IMM   ((uint64_t)(int64_t)ip->imm) /* sign-extended to 64 bits */
#define IMM32 ((uint32_t)ip->imm)
#define OFF   ((uint64_t)(int64_t)ip->off)
#define PC    ((size_t)(ip - code))

#define NEXT(n)                                                                                    \
	{                                                                                          \
		ip += (n);                                                                         \
		VM_NEXT();                                                                         \
	}
/* every register write goes through here, see "Operand forwarding" */
#define SET(v)                                                                                     \
	acc = (v);                                                                                 \
	DST = acc;
#define JUMP_IF(c)                                                                                 \
	{                                                                                          \
		if (c)                                                                             \
			ip += ip->off;                                                             \
		NEXT(1)                                                                            \
	}

/* Binary ALU operations as expressions of (dst, src); the 32-bit forms
 * truncate both and zero-extend the result. */
#define U32(v)	     ((uint32_t)(v))
#define S32(v)	     ((int32_t)(uint32_t)(v))
#define ADD64(d, s)  ((d) + (s))
#define ADD32(d, s)  U32(U32(d) + U32(s))
#define SUB64(d, s)  ((d) - (s))
#define SUB32(d, s)  U32(U32(d) - U32(s))
#define MUL64(d, s)  ((d) * (s))
#define MUL32(d, s)  U32(U32(d) * U32(s))
#define OR64(d, s)   ((d) | (s))
#define OR32(d, s)   U32(U32(d) | U32(s))
#define AND64(d, s)  ((d) & (s))
#define AND32(d, s)  U32(U32(d) & U32(s))
#define XOR64(d, s)  ((d) ^ (s))
#define XOR32(d, s)  U32(U32(d) ^ U32(s))
#define LSH64(d, s)  ((d) << ((s)&63))
#define LSH32(d, s)  U32(U32(d) << ((s)&31))
#define RSH64(d, s)  ((d) >> ((s)&63))
#define RSH32(d, s)  U32(U32(d) >> ((s)&31))
#define ARSH64(d, s) ((uint64_t)((int64_t)(d) >> ((s)&63)))
#define ARSH32(d, s) U32(S32(d) >> ((s)&31))
/* div by zero gives 0, mod by zero leaves dst (RFC 9669) */
#define DIV64(d, s) ((s) ? (d) / (s) : 0)
#define DIV32(d, s) (U32(s) ? U32(d) / U32(s) : 0)
#define MOD64(d, s) ((s) ? (d) % (s) : (d))
#define MOD32(d, s) (U32(s) ? U32(d) % U32(s) : U32(d))

#define BINOP(n)                                                                                   \
	VM_CASE(n##64_IMM) SET(n##64(DST, IMM)) NEXT(1)                                            \
	VM_CASE_AD(n##64_IMM) SET(n##64(acc, IMM)) NEXT(1)                                         \
	VM_CASE(n##64_REG) SET(n##64(DST, SRC)) NEXT(1)                                            \
	VM_CASE_AD(n##64_REG) SET(n##64(acc, SRC)) NEXT(1)                                         \
	VM_CASE_AS(n##64_REG) SET(n##64(DST, acc)) NEXT(1)                                         \
	VM_CASE(n##32_IMM) SET(n##32(DST, IMM)) NEXT(1)                                            \
	VM_CASE_AD(n##32_IMM) SET(n##32(acc, IMM)) NEXT(1)                                         \
	VM_CASE(n##32_REG) SET(n##32(DST, SRC)) NEXT(1)                                            \
	VM_CASE_AD(n##32_REG) SET(n##32(acc, SRC)) NEXT(1)                                         \
	VM_CASE_AS(n##32_REG) SET(n##32(DST, acc)) NEXT(1)

/* "rD = rA; rD op= B" fused: A is this slot's src (or acc), B the next
 * slot's imm or src register. */
#define IMM_NEXT ((uint64_t)(int64_t)ip[1].imm)
#define SRC_NEXT reg[ip[1].src]
#define FUSED3(n)                                                                                  \
	VM_CASE(F3_##n##64_IMM) SET(n##64(SRC, IMM_NEXT)) NEXT(2)                                  \
	VM_CASE(F3A_##n##64_IMM) SET(n##64(acc, IMM_NEXT)) NEXT(2)                                 \
	VM_CASE(F3_##n##64_REG) SET(n##64(SRC, SRC_NEXT)) NEXT(2)                                  \
	VM_CASE(F3A_##n##64_REG) SET(n##64(acc, SRC_NEXT)) NEXT(2)                                 \
	VM_CASE(F3_##n##32_IMM) SET(n##32(SRC, IMM_NEXT)) NEXT(2)                                  \
	VM_CASE(F3A_##n##32_IMM) SET(n##32(acc, IMM_NEXT)) NEXT(2)                                 \
	VM_CASE(F3_##n##32_REG) SET(n##32(SRC, SRC_NEXT)) NEXT(2)                                  \
	VM_CASE(F3A_##n##32_REG) SET(n##32(acc, SRC_NEXT)) NEXT(2)                                 \
	VM_CASE(F3B_##n##64_REG) SET(n##64(SRC, acc)) NEXT(2)                                      \
	VM_CASE(F3B_##n##32_REG) SET(n##32(SRC, acc)) NEXT(2)

/* "rD op= imm; if rD cmp X goto": the jump's offset is relative to the
 * second slot */
#define JUMP2_IF(c)                                                                                \
	{                                                                                          \
		if (c)                                                                             \
			ip += ip[1].off;                                                           \
		NEXT(2)                                                                            \
	}
#define FUSEDJ(an, af, jn, jf, o)                                                                  \
	VM_CASE(FJ_##an##_##jn) SET(af(DST, IMM)) JUMP2_IF(jf(acc, o))                             \
	VM_CASE(FJA_##an##_##jn) SET(af(acc, IMM)) JUMP2_IF(jf(acc, o))

/* "rD = rA; rD += rB; rX = *(size *)(rD + off)": the address from rA (or
 * acc) and rB (or acc), the load described by the third slot.  Not used in
 * bounds-checked mode. */
#define FL_LOAD(size, ext)                                                                         \
	DST = tmp;                                                                                 \
	acc = ext(vm_load(tmp + (uint64_t)(int64_t)ip[2].off, size));                              \
	reg[ip[2].dst] = acc;                                                                      \
	NEXT(3)
#define FUSEDL(name, size, ext)                                                                    \
	VM_CASE(FL_##name) tmp = SRC + SRC_NEXT;                                                   \
	FL_LOAD(size, ext)                                                                         \
	VM_CASE(FLA_##name) tmp = acc + SRC_NEXT;                                                  \
	FL_LOAD(size, ext)                                                                         \
	VM_CASE(FLB_##name) tmp = SRC + acc;                                                       \
	FL_LOAD(size, ext)

/* Conditions as expressions of (dst, src). */
#define JEQ64(d, s)  ((d) == (s))
#define JEQ32(d, s)  (U32(d) == U32(s))
#define JNE64(d, s)  ((d) != (s))
#define JNE32(d, s)  (U32(d) != U32(s))
#define JGT64(d, s)  ((d) > (s))
#define JGT32(d, s)  (U32(d) > U32(s))
#define JGE64(d, s)  ((d) >= (s))
#define JGE32(d, s)  (U32(d) >= U32(s))
#define JLT64(d, s)  ((d) < (s))
#define JLT32(d, s)  (U32(d) < U32(s))
#define JLE64(d, s)  ((d) <= (s))
#define JLE32(d, s)  (U32(d) <= U32(s))
#define JSGT64(d, s) ((int64_t)(d) > (int64_t)(s))
#define JSGT32(d, s) (S32(d) > S32(s))
#define JSGE64(d, s) ((int64_t)(d) >= (int64_t)(s))
#define JSGE32(d, s) (S32(d) >= S32(s))
#define JSLT64(d, s) ((int64_t)(d) < (int64_t)(s))
#define JSLT32(d, s) (S32(d) < S32(s))
#define JSLE64(d, s) ((int64_t)(d) <= (int64_t)(s))
#define JSLE32(d, s) (S32(d) <= S32(s))
#define JSET64(d, s) (((d) & (s)) != 0)
#define JSET32(d, s) ((U32(d) & U32(s)) != 0)

#define JCC(n)                                                                                     \
	VM_CASE(n##_IMM) JUMP_IF(n##64(DST, IMM))                                                  \
	VM_CASE_AD(n##_IMM) JUMP_IF(n##64(acc, IMM))                                               \
	VM_CASE(n##_REG) JUMP_IF(n##64(DST, SRC))                                                  \
	VM_CASE_AD(n##_REG) JUMP_IF(n##64(acc, SRC))                                               \
	VM_CASE_AS(n##_REG) JUMP_IF(n##64(DST, acc))                                               \
	VM_CASE(n##32_IMM) JUMP_IF(n##32(DST, IMM))                                                \
	VM_CASE_AD(n##32_IMM) JUMP_IF(n##32(acc, IMM))                                             \
	VM_CASE(n##32_REG) JUMP_IF(n##32(DST, SRC))                                                \
	VM_CASE_AD(n##32_REG) JUMP_IF(n##32(acc, SRC))                                             \
	VM_CASE_AS(n##32_REG) JUMP_IF(n##32(DST, acc))

/* A load: the checked label verifies [addr, addr+size) and falls into the
 * plain one.  Forwarded variants are not used in bounds-checked mode. */
#define LDX(name, size, ext)                                                                       \
	VM_CASE(name##_CHK)                                                                        \
	if (unlikely(!access_ok(r, SRC + OFF, size, false)))                                       \
		return fault(r, PC, SRC + OFF, size, false);                                       \
	VM_FALLTHROUGH;                                                                            \
	VM_CASE(name) SET(ext(vm_load(SRC + OFF, size))) NEXT(1)                                   \
	VM_CASE_AS(name) SET(ext(vm_load(acc + OFF, size))) NEXT(1)

#define ST(name, size)                                                                             \
	VM_CASE(name##_CHK)                                                                        \
	if (unlikely(!access_ok(r, DST + OFF, size, true)))                                        \
		return fault(r, PC, DST + OFF, size, true);                                        \
	VM_FALLTHROUGH;                                                                            \
	VM_CASE(name) vm_store(DST + OFF, size, IMM);                                              \
	NEXT(1)                                                                                    \
	VM_CASE_AD(name) vm_store(acc + OFF, size, IMM);                                           \
	NEXT(1)

#define STX(name, size)                                                                            \
	VM_CASE(name##_CHK)                                                                        \
	if (unlikely(!access_ok(r, DST + OFF, size, true)))                                        \
		return fault(r, PC, DST + OFF, size, true);                                        \
	VM_FALLTHROUGH;                                                                            \
	VM_CASE(name) vm_store(DST + OFF, size, SRC);                                              \
	NEXT(1)                                                                                    \
	VM_CASE_AD(name) vm_store(acc + OFF, size, SRC);                                           \
	NEXT(1)                                                                                    \
	VM_CASE_AS(name) vm_store(DST + OFF, size, acc);                                           \
	NEXT(1)

/* adapters: VM_BINOPS(BINOP_M, ) / VM_JCCS(JCC_M, ) emit every handler */
#define BINOP_M(X, n) BINOP(n) FUSED3(n)
#define JCC_M(X, n)   JCC(n)

#define ZX(v)	(v)
#define SX8(v)	((uint64_t)(int64_t)(int8_t)(v))
#define SX16(v) ((uint64_t)(int64_t)(int16_t)(v))
#define SX32(v) ((uint64_t)(int64_t)(int32_t)(v))

/*
 * The interpreter body.  With labels != NULL it only hands out its handler
 * table (computed goto needs the addresses of labels inside this function).
 * Returns 0 with *ret = r0, or -EFAULT with the message set.
 */
/*
 * UBSan's alignment and pointer-overflow checks are left out of this one
 * function: with a check on every reg[]/ip access of ~600 handlers they made
 * clang -O1 take minutes to compile it.  The pointers involved are the
 * decoded program and the register file, indexed by values the verifier
 * and the decoder bound; guest memory goes through memcpy and stays checked
 * by ASan, and the arithmetic checks (shifts, overflow, division) stay on.
 */
__attribute__((no_sanitize("alignment", "pointer-overflow"))) static int
exec(struct run *r, const struct dinsn *code, size_t start, uint64_t *ret,
     const void *const **labels)
{
#ifndef BPFTIME_VM_SWITCH
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
	static const void *const table[VOP_MAX] = {
		[0 ... VOP_MAX - 1] = &&do_INVALID,
#define INSN(name, c, tmpl, fl) [VOP_##name] = &&do_##name,
#include "insn.def"
#undef INSN
		[VOP_SDIV64_IMM] = &&do_SDIV64_IMM, [VOP_SDIV64_REG] = &&do_SDIV64_REG,
		[VOP_SMOD64_IMM] = &&do_SMOD64_IMM, [VOP_SMOD64_REG] = &&do_SMOD64_REG,
		[VOP_SDIV32_IMM] = &&do_SDIV32_IMM, [VOP_SDIV32_REG] = &&do_SDIV32_REG,
		[VOP_SMOD32_IMM] = &&do_SMOD32_IMM, [VOP_SMOD32_REG] = &&do_SMOD32_REG,
		[VOP_MOVSX64_8] = &&do_MOVSX64_8,   [VOP_MOVSX64_16] = &&do_MOVSX64_16,
		[VOP_MOVSX64_32] = &&do_MOVSX64_32, [VOP_MOVSX32_8] = &&do_MOVSX32_8,
		[VOP_MOVSX32_16] = &&do_MOVSX32_16, [VOP_CALL_LOCAL] = &&do_CALL_LOCAL,
		[VOP_CALL_TAIL] = &&do_CALL_TAIL,
#define X(name) [VOP_##name##_CHK] = &&do_##name##_CHK,
		VM_MEM_OPS(X)
#undef X
#define X(name) [VOP_AD_BASE + VOP_##name] = &&do_##name##_AD,
		VM_AD_OPS(X)
#undef X
#define X(name) [VOP_AS_BASE + VOP_##name] = &&do_##name##_AS,
		VM_AS_OPS(X)
#undef X
#define X(name) [VOP_F3_##name] = &&do_F3_##name, [VOP_F3A_##name] = &&do_F3A_##name,
		VM_BINOPS(BIN_ALL, X)
#undef X
#define X(name) [VOP_F3B_##name] = &&do_F3B_##name,
		VM_BINOPS(BIN_REG, X)
#undef X
#define X(an, af, jn, jf, o)                                                                       \
	[VOP_FJ_##an##_##jn] = &&do_FJ_##an##_##jn, [VOP_FJA_##an##_##jn] = &&do_FJA_##an##_##jn,
		VM_FJ_OPS(X)
#undef X
#define X(name, size, ext)                                                                         \
	[VOP_FL_##name] = &&do_FL_##name, [VOP_FLA_##name] = &&do_FLA_##name,                      \
	[VOP_FLB_##name] = &&do_FLB_##name,
		VM_LDX_OPS(X)
#undef X
	};
#pragma GCC diagnostic pop
#endif
	struct bpftime_vm *vm;
	uint64_t *reg;
	const struct dinsn *ip;
	bpftime_helper_fn fn;
	uint64_t tmp, acc = 0;

	if (labels) {
#ifndef BPFTIME_VM_SWITCH
		*labels = table;
#endif
		return 0;
	}
	vm = r->vm;
	reg = r->reg;
	ip = code + start;

#ifdef BPFTIME_VM_SWITCH
	for (;;) {
		VM_TRACE();
		switch ((unsigned int)ip->op) {
#else
	VM_NEXT();
	{
		{
#endif
		VM_BINOPS(BINOP_M, )
		VM_CASE(NEG64) SET(0 - DST) NEXT(1)
		VM_CASE_AD(NEG64) SET(0 - acc) NEXT(1)
		VM_CASE(NEG32) SET(U32(0 - U32(DST))) NEXT(1)
		VM_CASE_AD(NEG32) SET(U32(0 - U32(acc))) NEXT(1)
		VM_CASE(MOV64_IMM) SET(IMM) NEXT(1)
		VM_CASE(MOV64_REG) SET(SRC) NEXT(1)
		VM_CASE_AS(MOV64_REG) SET(acc) NEXT(1)
		VM_CASE(MOV32_IMM) SET(IMM32) NEXT(1)
		VM_CASE(MOV32_REG) SET(U32(SRC)) NEXT(1)
		VM_CASE_AS(MOV32_REG) SET(U32(acc)) NEXT(1)
		VM_CASE(MOVSX64_8) SET(SX8(SRC)) NEXT(1)
		VM_CASE(MOVSX64_16) SET(SX16(SRC)) NEXT(1)
		VM_CASE(MOVSX64_32) SET(SX32(SRC)) NEXT(1)
		VM_CASE(MOVSX32_8) SET(U32(SX8(SRC))) NEXT(1)
		VM_CASE(MOVSX32_16) SET(U32(SX16(SRC))) NEXT(1)
		/* signed div/mod: -1 is special-cased, INT_MIN / -1 would trap */
		VM_CASE(SDIV64_IMM) tmp = IMM;
		goto sdiv64;
		VM_CASE(SDIV64_REG) tmp = SRC;
sdiv64:
		SET((int64_t)tmp == -1 ? 0 - DST :
		    tmp		       ? (uint64_t)((int64_t)DST / (int64_t)tmp) : 0)
		NEXT(1)
		VM_CASE(SMOD64_IMM) tmp = IMM;
		goto smod64;
		VM_CASE(SMOD64_REG) tmp = SRC;
smod64:
		SET((int64_t)tmp == -1 ? 0 : tmp ? (uint64_t)((int64_t)DST % (int64_t)tmp) : DST)
		NEXT(1)
		VM_CASE(SDIV32_IMM) tmp = IMM32;
		goto sdiv32;
		VM_CASE(SDIV32_REG) tmp = U32(SRC);
sdiv32:
		SET(S32(tmp) == -1 ? U32(0 - U32(DST)) : tmp ? U32(S32(DST) / S32(tmp)) : 0)
		NEXT(1)
		VM_CASE(SMOD32_IMM) tmp = IMM32;
		goto smod32;
		VM_CASE(SMOD32_REG) tmp = U32(SRC);
smod32:
		SET(S32(tmp) == -1 ? 0 : tmp ? U32(S32(DST) % S32(tmp)) : U32(DST))
		NEXT(1)
		VM_CASE(LE) SET(swap_le(DST, ip->imm)) NEXT(1)
		VM_CASE(BE) SET(swap_be(DST, ip->imm)) NEXT(1)
		VM_CASE(BSWAP) SET(swap_always(DST, ip->imm)) NEXT(1)

		VM_CASE(JA) NEXT(1 + ip->off)
		VM_CASE(JA32) NEXT(1 + ip->imm)
		VM_JCCS(JCC_M, )
		VM_FJ_OPS(FUSEDJ)
		VM_LDX_OPS(FUSEDL)

		VM_CASE(LDDW) SET(ip[1].imm64) NEXT(2)
		LDX(LDXB, 1, ZX)
		LDX(LDXH, 2, ZX)
		LDX(LDXW, 4, ZX)
		LDX(LDXDW, 8, ZX)
		LDX(LDXSB, 1, SX8)
		LDX(LDXSH, 2, SX16)
		LDX(LDXSW, 4, SX32)
		ST(STB, 1)
		ST(STH, 2)
		ST(STW, 4)
		ST(STDW, 8)
		STX(STXB, 1)
		STX(STXH, 2)
		STX(STXW, 4)
		STX(STXDW, 8)

		VM_CASE(ATOMIC32_CHK)
		if (unlikely(!access_ok(r, DST + OFF, 4, true)))
			return fault(r, PC, DST + OFF, 4, true);
		VM_FALLTHROUGH;
		VM_CASE(ATOMIC32)
		tmp = atomic_op(DST + OFF, ip->imm, SRC, reg[0], false);
		if (ip->imm == BPF_CMPXCHG)
			reg[0] = (uint32_t)tmp;
		else if (ip->imm & BPF_FETCH)
			SRC = (uint32_t)tmp;
		NEXT(1)
		VM_CASE(ATOMIC64_CHK)
		if (unlikely(!access_ok(r, DST + OFF, 8, true)))
			return fault(r, PC, DST + OFF, 8, true);
		VM_FALLTHROUGH;
		VM_CASE(ATOMIC64)
		tmp = atomic_op(DST + OFF, ip->imm, SRC, reg[0], true);
		if (ip->imm == BPF_CMPXCHG)
			reg[0] = tmp;
		else if (ip->imm & BPF_FETCH)
			SRC = tmp;
		NEXT(1)

		/* helper call (src 0); the tail-call helper has its own handler */
		VM_CASE(CALL)
		acc = reg[0] = ip->helper(reg[1], reg[2], reg[3], reg[4], reg[5]);
		NEXT(1)
		VM_CASE(CALL_TAIL)
		acc = reg[0] =
			vm->helpers[VM_HELPER_TAIL_CALL](reg[1], reg[2], reg[3], reg[4], reg[5]);
		if (vm_run_state.tail_next)
			goto leave;
		NEXT(1)
		VM_CASE(CALLX)
		tmp = DST;
		if (tmp <= BPFTIME_MAX_HELPER_ID) {
			fn = vm->helpers[tmp];
			if (!fn)
				goto bad_callx;
			reg[0] = fn(reg[1], reg[2], reg[3], reg[4], reg[5]);
			if (tmp == VM_HELPER_TAIL_CALL && vm_run_state.tail_next)
				goto leave;
			NEXT(1)
		}
		tmp -= VM_FUNC_BASE;
		if (!vm_is_subprog(vm, tmp))
			goto bad_callx;
		goto call;
		VM_CASE(CALL_LOCAL)
		tmp = PC + 1 + (int64_t)ip->imm;
call:
		if (unlikely(r->depth + 1 >= BPFTIME_MAX_CALL_DEPTH)) {
			vm_error(vm, EFAULT, "pc %zu: call depth exceeds %d frames", PC,
				 BPFTIME_MAX_CALL_DEPTH);
			goto stop;
		}
		{
			struct frame *f = &r->frames[r->depth++];

			f->ret = ip + 1;
			memcpy(f->saved, &reg[6], sizeof(f->saved));
			reg[10] -= BPFTIME_STACK_SIZE;
			ip = code + tmp;
		}
		VM_NEXT();
		VM_CASE(EXIT)
		if (r->depth) {
			struct frame *f = &r->frames[--r->depth];

			memcpy(&reg[6], f->saved, sizeof(f->saved));
			ip = f->ret;
			VM_NEXT();
		}
		*ret = reg[0];
		return 0;

#ifdef BPFTIME_VM_SWITCH
		default:
#endif
		VM_CASE(INVALID)
		/* cannot happen: the verifier accepts only insn.def rows */
		vm_error(vm, EFAULT, "pc %zu: invalid instruction", PC);
		goto stop;
		}
	}

bad_callx:
	vm_error(vm, EFAULT, "pc %zu: callx to invalid target 0x%llx", PC,
		 (unsigned long long)DST);
stop:
	/* the callx rule: stop with r0 = 0; the bounds-checked mode reports */
	*ret = 0;
	return vm->opts.bounds_check ? -EFAULT : 0;
leave:
	*ret = 0;
	return 0;
}

/* clang-format on */

/* Picks the handler of one slot. */
static enum vop decode_op(const struct bpftime_insn *insn, bool checked)
{
	uint8_t code = insn->code;

	switch (code) {
	case OP_DIV64_IMM:
	case OP_DIV64_REG:
	case OP_MOD64_IMM:
	case OP_MOD64_REG:
	case OP_DIV32_IMM:
	case OP_DIV32_REG:
	case OP_MOD32_IMM:
	case OP_MOD32_REG:
		if (insn->off != 1)
			return code;
		return VOP_SDIV64_IMM + (BPF_CLASS(code) == BPF_ALU) * 4 +
		       (BPF_OP(code) == BPF_MOD) * 2 + (BPF_SRC(code) == BPF_X);
	case OP_MOV64_REG:
		return insn->off == 8	 ? VOP_MOVSX64_8
		       : insn->off == 16 ? VOP_MOVSX64_16
		       : insn->off == 32 ? VOP_MOVSX64_32
					 : code;
	case OP_MOV32_REG:
		return insn->off == 8 ? VOP_MOVSX32_8 : insn->off == 16 ? VOP_MOVSX32_16 : code;
	case OP_CALL:
		if (insn->src == BPFTIME_CALL_LOCAL)
			return VOP_CALL_LOCAL;
		return insn->imm == VM_HELPER_TAIL_CALL ? VOP_CALL_TAIL : code;
	}
	if (checked && insn_desc[code].flags & (F_LOAD | F_STORE))
		return VOP_CHK_BASE + code;
	return code;
}

/* The register an instruction leaves in acc, or -1.  Every F_ALU, F_LOAD
 * and lddw handler writes dst through SET(); helper calls set r0. */
static int forwarded_reg(const struct bpftime_insn *insn)
{
	uint32_t flags = insn_desc[insn->code].flags;

	if (flags & (F_ALU | F_LOAD) || insn->code == OP_LDDW)
		return insn->dst;
	if (insn->code == OP_CALL && insn->src == BPFTIME_CALL_HELPER)
		return 0;
	return -1;
}

static void fill(struct dinsn *d, const struct bpftime_insn *insn, const void *const *table,
		 enum vop op)
{
#ifdef BPFTIME_VM_SWITCH
	UNUSED(table);
	d->op = op;
#else
	d->handler = table[op];
#endif
	d->dst = insn->dst;
	d->src = insn->src;
	d->off = insn->off;
	d->imm = insn->imm;
}

/* The F3 handler for "rD = rA; rD op= B" at pc, or -1: a plain move
 * followed, in the same width, by a binary operation on rD that nothing
 * jumps to.  The F3A variant (rA forwarded) is the next enum value. */
static int fuse3(const struct bpftime_insn *insns, size_t cnt, size_t pc, const uint8_t *target)
{
	const struct bpftime_insn *mov = &insns[pc], *alu = &insns[pc + 1];
	bool is64 = mov->code == OP_MOV64_REG;

	if ((!is64 && mov->code != OP_MOV32_REG) || mov->off || pc + 1 >= cnt || target[pc + 1] ||
	    alu->dst != mov->dst || alu->off ||
	    BPF_CLASS(alu->code) != (is64 ? BPF_ALU64 : BPF_ALU))
		return -1;
	switch (alu->code) {
#define X(name)         \
	case OP_##name: \
		return VOP_F3_##name;
		VM_BINOPS(BIN_ALL, X)
#undef X
	default:
		return -1;
	}
}

/* The FJ handler for "rD op= imm; if rD cmp X goto" at pc, or -1.  The
 * FJA variant is the next enum value. */
static int fusej(const struct bpftime_insn *insns, size_t cnt, size_t pc, const uint8_t *target)
{
	const struct bpftime_insn *alu = &insns[pc], *j = &insns[pc + 1];

	if ((alu->code != OP_ADD64_IMM && alu->code != OP_AND64_IMM && alu->code != OP_ADD32_IMM &&
	     alu->code != OP_AND32_IMM) ||
	    pc + 1 >= cnt || target[pc + 1] || j->dst != alu->dst)
		return -1;
#define X(an, af, jn, jf, o)                            \
	if (alu->code == OP_##an && j->code == OP_##jn) \
		return VOP_FJ_##an##_##jn;
	VM_FJ_OPS(X)
#undef X
	return -1;
}

/* Conditional jumps and plain stores write no register: after them acc
 * still holds what the instruction before them left (when that one ran
 * right before: not for a jump target). */
static bool keeps_acc(const struct bpftime_insn *insn)
{
	return insn_desc[insn->code].flags & F_COND ||
	       ((BPF_CLASS(insn->code) == BPF_ST || BPF_CLASS(insn->code) == BPF_STX) &&
		BPF_MODE(insn->code) == BPF_MEM);
}

/* The FL handler for "rD = rA; rD += rB; rX = *(size *)(rD + off)" at pc
 * (where fuse3 found the first two), or -1. */
static int fusel(const struct bpftime_insn *insns, size_t cnt, size_t pc, const uint8_t *target)
{
	const struct bpftime_insn *ld = &insns[pc + 2];

	if (insns[pc].code != OP_MOV64_REG || insns[pc + 1].code != OP_ADD64_REG || pc + 2 >= cnt ||
	    target[pc + 2] || ld->src != insns[pc].dst)
		return -1;
	switch (ld->code) {
#define X(name, size, ext) \
	case OP_##name:    \
		return VOP_FL_##name;
		VM_LDX_OPS(X)
#undef X
	default:
		return -1;
	}
}

/* F3B: "rD = rA; rD op= rB" with rB forwarded */
static enum vop f3b_op(uint8_t alu_code)
{
	switch (alu_code) {
#define X(name)         \
	case OP_##name: \
		return VOP_F3B_##name;
		VM_BINOPS(BIN_REG, X)
#undef X
	default:
		return VOP_INVALID; /* cannot happen: fuse3 chose a binary operation */
	}
}

/* Marks the pcs control can reach other than from the previous slot. */
static uint8_t *branch_targets(const struct bpftime_vm *vm)
{
	uint8_t *t = mem_calloc(vm->cnt, 1);

	if (!t)
		return NULL;
	for (size_t i = 0; i < vm->nr_subprogs; i++)
		t[vm->subprogs[i]] = 1;
	for (size_t pc = 0; pc < vm->cnt; pc++) {
		const struct bpftime_insn *insn = &vm->insns[pc];
		int64_t dest;

		if (insn->code == OP_LDDW) {
			pc++;
			continue;
		}
		if (insn->code == OP_JA32)
			dest = (int64_t)pc + 1 + insn->imm;
		else if (insn_desc[insn->code].flags & F_JUMP)
			dest = (int64_t)pc + 1 + insn->off;
		else
			continue;
		if (ALWAYS(dest >= 0 && (uint64_t)dest < vm->cnt))
			t[dest] = 1;
	}
	return t;
}

int vm_interp_prepare(struct bpftime_vm *vm)
{
	const struct bpftime_insn *insns = vm->insns;
	bool checked = vm->opts.bounds_check;
	const void *const *table = NULL;
	struct dinsn *code;
	uint8_t *target;
	int prev = -1; /* register the previous instruction left in acc */

	exec(NULL, NULL, 0, NULL, &table);
	code = mem_calloc(vm->cnt, sizeof(*code));
	target = branch_targets(vm);
	if (!code || !target) {
		free(code);
		free(target);
		return vm_error(vm, ENOMEM, "out of memory decoding %zu instructions", vm->cnt);
	}
	for (size_t pc = 0; pc < vm->cnt; pc++) {
		const struct bpftime_insn *insn = &insns[pc];
		struct dinsn *d = &code[pc];
		enum vop op = decode_op(insn, checked);
		bool mem = insn_desc[insn->code].flags & (F_LOAD | F_STORE);
		int fused = fuse3(insns, vm->cnt, pc, target);

		if (fused < 0 && (fused = fusej(insns, vm->cnt, pc, target)) >= 0) {
			op = (enum vop)(fused + (!target[pc] && prev == insn->dst));
			fill(d, insn, table, op);
			fill(&code[pc + 1], &insns[pc + 1], table, VOP_INVALID);
			prev = insn->dst; /* the jump leaves acc alone */
			pc++;
			continue;
		}
		if (fused >= 0) {
			/* the second slot is reached only through this one: its
			 * handler never runs, its operands are read from here */
			const struct bpftime_insn *alu = &insns[pc + 1];
			bool fwd = !target[pc] && prev >= 0;
			uint8_t b = alu->src == insn->dst ? insn->src : alu->src;

			int fl = checked ? -1 : fusel(insns, vm->cnt, pc, target);

			op = (enum vop)fused;
			if (fwd && prev == insn->src)
				op = (enum vop)(fused + 1);
			else if (fwd && BPF_SRC(alu->code) == BPF_X && prev == b)
				op = f3b_op(alu->code);
			fill(&code[pc + 1], alu, table, VOP_INVALID);
			code[pc + 1].src = b; /* "rD = rA; rD op= rD" reads rA twice */
			if (fl >= 0) {
				/* and the load: FL, FLA (rA forwarded), FLB (rB) */
				op = (enum vop)fl;
				if (fwd && prev == insn->src)
					op = (enum vop)(fl + 1);
				else if (fwd && prev == b)
					op = (enum vop)(fl + 2);
				fill(d, insn, table, op);
				fill(&code[pc + 2], &insns[pc + 2], table, VOP_INVALID);
				prev = insns[pc + 2].dst;
				pc += 2;
				continue;
			}
			fill(d, insn, table, op);
			prev = insn->dst;
			pc++;
			continue;
		}
		if (prev >= 0 && !target[pc] && op < VOP_AD_BASE && !(checked && mem)) {
			if (has_ad[op] && insn->dst == prev)
				op += VOP_AD_BASE;
			else if (has_as[op] && insn->src == prev)
				op += VOP_AS_BASE;
		}
		if (forwarded_reg(insn) >= 0 || target[pc] || !keeps_acc(insn))
			prev = forwarded_reg(insn);
		fill(d, insn, table, op);
		if (op == VOP_CALL)
			d->helper = vm->helpers[insn->imm]; /* non-NULL: the verifier checked */
		if (insn->code == OP_LDDW) {
			/* resolved form: src is 0 and the value spans both imms */
			fill(&code[pc + 1], &insns[pc + 1], table, VOP_INVALID);
			code[pc + 1].imm64 = (uint64_t)(uint32_t)insn->imm |
					     (uint64_t)(uint32_t)insn[1].imm << 32;
			pc++;
		}
	}
	free(target);
	free(vm->interp_code);
	vm->interp_code = code;
	return 0;
}

void vm_interp_free(struct bpftime_vm *vm)
{
	free(vm->interp_code);
	vm->interp_code = NULL;
}

static int run_at(struct bpftime_vm *vm, size_t pc, uint64_t mem, uint64_t len,
		  const uint64_t args[5], uint64_t *ret)
{
	struct run r;
	int err;

	if (unlikely(!vm->interp_code)) {
		*ret = 0;
		return vm_error(vm, EINVAL, "program '%s' is not loaded", vm->name);
	}
	memset(r.reg, 0, sizeof(r.reg));
	memcpy(&r.reg[1], args, 5 * sizeof(uint64_t));
	r.reg[10] = (uint64_t)(uintptr_t)(r.stack + sizeof(r.stack));
	r.vm = vm;
	r.mem = mem;
	r.mem_len = len;
	r.depth = 0;
	r.parent = cur_run;
	cur_run = &r;
	err = exec(&r, vm->interp_code, pc, ret, NULL);
	cur_run = r.parent;
	return err;
}

int vm_interp_run(struct bpftime_vm *vm, void *mem, uint64_t len, uint64_t *ret)
{
	const uint64_t args[5] = { (uint64_t)(uintptr_t)mem, len };

	return run_at(vm, 0, (uint64_t)(uintptr_t)mem, len, args, ret);
}

int vm_interp_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret)
{
	if (!vm_is_subprog(vm, pc)) {
		*ret = 0;
		return vm->opts.bounds_check ? vm_error(vm, EFAULT, "callback at invalid pc %u", pc)
					     : 0;
	}
	return run_at(vm, pc, 0, 0, args, ret);
}
