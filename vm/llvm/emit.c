/* SPDX-License-Identifier: MIT */
/* vm/llvm/emit.c: translates a loaded eBPF program (the resolved form of
 * vm/internal.h) into LLVM IR, through the LLVM-C API only.
 *
 * Shape of the IR:
 *   - bpf_main(ptr ctx, i64 size) is the program; each bpf-to-bpf call
 *     target (and each function value, lddw src 4) becomes an internal
 *     function sub_<pc>(r1..r5, ptr stop, i32 depth).  A function's body is
 *     every instruction reachable from its entry (calls do not count), so
 *     code shared by two functions is simply emitted twice.
 *   - The eleven registers are allocas (mem2reg promotes them); r10 points
 *     to the end of the function's own 512-byte stack alloca.
 *   - Memory is accessed as gep(inttoptr(reg), off): when reg is the stack
 *     pointer, instcombine folds inttoptr(ptrtoint(p)) and SROA sees plain
 *     stack slots.
 *   - "Stop the program" (a successful tail call, a bad callx target, too
 *     deep a call chain) returns 0 from every frame: a frame that stops sets
 *     the i8 flag *stop, owned by bpf_main, and each caller returns 0 as soon
 *     as the flag is set after a call.
 *   - Division and modulo never divide by 0 or do INT_MIN / -1 in the IR: the
 *     divisor is replaced by 1 in those cases and the kernel's result
 *     selected afterwards; shift amounts are masked.
 *   - Helpers: JIT: calls to the constant address vm->helpers[id]; AOT: calls
 *     to the external i64 _bpf_helper_ext_%04u(i64 x5).  Map references (lddw
 *     pseudo sources): JIT: the resolved constant; AOT: calls to
 *     __lddw_helper_map_by_fd/by_idx and __lddw_helper_map_val.
 *   - A call to helper 12 (bpf_tail_call) that returns 0 has succeeded (see
 *     vm_tail_call_helper): the program stops and bpftime_vm__run() runs
 *     the next one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vm/internal.h"
#include "emit.h"
#include "llvm.h"

#define NREGS 11

struct emit {
	struct bpftime_vm *vm;
	const struct bpftime_insn *insns; /* resolved */
	const struct bpftime_insn *orig;  /* as loaded: lddw pseudo sources */
	uint32_t cnt;
	bool aot;

	LLVMContextRef ctx;
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMTypeRef t1, t8, t16, t32, t64, tptr, thelper, tsub, tmain;

	uint32_t *entries; /* pcs of subprogram entries, ascending */
	uint32_t nentries;
	uint8_t *is_value;  /* [nentries] the entry is a function value's target */
	LLVMValueRef *subs; /* function of entries[i] */
	LLVMValueRef helpers[BPFTIME_MAX_HELPER_ID + 1];
	LLVMValueRef map_by_fd, map_by_idx, map_val;

	/* the function being emitted */
	LLVMValueRef fn;
	bool is_main;
	LLVMValueRef regs[NREGS];
	LLVMValueRef stop;	/* ptr to the i8 stop flag */
	LLVMValueRef depth;	/* i32 frame depth, 1 in bpf_main */
	uint8_t *reach;		/* [cnt] reachable from the entry */
	LLVMBasicBlockRef *bbs; /* [cnt] block starting at pc, or NULL */
};

int llvm_error(struct bpftime_vm *vm, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->errmsg, sizeof(vm->errmsg), fmt, ap);
	va_end(ap);
	return -err;
}

static LLVMValueRef c64(struct emit *e, uint64_t v)
{
	return LLVMConstInt(e->t64, v, 0);
}

static LLVMValueRef c32(struct emit *e, uint32_t v)
{
	return LLVMConstInt(e->t32, v, 0);
}

static LLVMValueRef get(struct emit *e, unsigned int reg)
{
	return LLVMBuildLoad2(e->b, e->t64, e->regs[reg], "");
}

static void set(struct emit *e, unsigned int reg, LLVMValueRef v)
{
	LLVMBuildStore(e->b, v, e->regs[reg]);
}

static void set32(struct emit *e, unsigned int reg, LLVMValueRef v32)
{
	set(e, reg, LLVMBuildZExt(e->b, v32, e->t64, ""));
}

static LLVMValueRef get32(struct emit *e, unsigned int reg)
{
	return LLVMBuildTrunc(e->b, get(e, reg), e->t32, "");
}

static LLVMTypeRef int_type(struct emit *e, unsigned int bytes)
{
	switch (bytes) {
	case 1:
		return e->t8;
	case 2:
		return e->t16;
	case 4:
		return e->t32;
	default:
		return e->t64;
	}
}

static int find_entry(const struct emit *e, uint32_t pc)
{
	uint32_t lo = 0, hi = e->nentries;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (e->entries[mid] == pc)
			return (int)mid;
		if (e->entries[mid] < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static void add_fn_attr(struct emit *e, LLVMValueRef fn, const char *name)
{
	unsigned int kind = LLVMGetEnumAttributeKindForName(name, strlen(name));

	if (kind) /* some names vanish in newer LLVMs: then skip */
		LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
					LLVMCreateEnumAttribute(e->ctx, kind, 0));
}

/* Pointer to size bytes at reg + off, typed for LLVM 14's typed pointers
 * (a no-op cast with opaque pointers). */
static LLVMValueRef addr(struct emit *e, unsigned int reg, int16_t off, unsigned int size)
{
	LLVMValueRef base = LLVMBuildIntToPtr(e->b, get(e, reg), e->tptr, "");
	LLVMValueRef idx = c64(e, (uint64_t)(int64_t)off);
	LLVMValueRef p = LLVMBuildGEP2(e->b, e->t8, base, &idx, 1, "");

	return LLVMBuildPointerCast(e->b, p, LLVMPointerType(int_type(e, size), 0), "");
}

/* The callee value of helper id (declared on first use). */
static LLVMValueRef helper_callee(struct emit *e, uint32_t id)
{
	char name[32];

	if (e->helpers[id])
		return e->helpers[id];
	if (e->aot) {
		snprintf(name, sizeof(name), LLVM_HELPER_FMT, id);
		e->helpers[id] = LLVMAddFunction(e->mod, name, e->thelper);
	} else {
		e->helpers[id] = LLVMConstIntToPtr(c64(e, (uint64_t)(uintptr_t)e->vm->helpers[id]),
						   LLVMPointerType(e->thelper, 0));
	}
	return e->helpers[id];
}

/* Leaves the current function with r0 = 0 and the stop flag set. */
static void build_stop(struct emit *e)
{
	if (!e->is_main)
		LLVMBuildStore(e->b, LLVMConstInt(e->t8, 1, 0), e->stop);
	LLVMBuildRet(e->b, c64(e, 0));
}

/* if (cond) stop; continues in a fresh block */
static void stop_if(struct emit *e, LLVMValueRef cond)
{
	LLVMBasicBlockRef stop = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "stop");
	LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "");

	LLVMBuildCondBr(e->b, cond, stop, cont);
	LLVMPositionBuilderAtEnd(e->b, stop);
	build_stop(e);
	LLVMPositionBuilderAtEnd(e->b, cont);
}

static LLVMValueRef call_helper(struct emit *e, uint32_t id)
{
	LLVMValueRef args[5], ret;

	for (unsigned int i = 0; i < 5; i++)
		args[i] = get(e, i + 1);
	ret = LLVMBuildCall2(e->b, e->thelper, helper_callee(e, id), args, 5, "");
	if (id == VM_HELPER_TAIL_CALL)
		stop_if(e, LLVMBuildICmp(e->b, LLVMIntEQ, ret, c64(e, 0), ""));
	return ret;
}

static LLVMValueRef call_sub(struct emit *e, int idx)
{
	LLVMValueRef args[7], ret, flag;

	for (unsigned int i = 0; i < 5; i++)
		args[i] = get(e, i + 1);
	args[5] = e->stop;
	args[6] = LLVMBuildAdd(e->b, e->depth, c32(e, 1), "");
	ret = LLVMBuildCall2(e->b, e->tsub, e->subs[idx], args, 7, "");
	flag = LLVMBuildLoad2(e->b, e->t8, e->stop, "");
	stop_if(e, LLVMBuildICmp(e->b, LLVMIntNE, flag, LLVMConstInt(e->t8, 0, 0), ""));
	return ret;
}

/* callx: a helper id, a function value, or else the program stops. */
static void emit_callx(struct emit *e, unsigned int reg)
{
	LLVMValueRef v = get(e, reg), sw, r0;
	LLVMBasicBlockRef helpers = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "callx.helper");
	LLVMBasicBlockRef funcs = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "callx.func");
	LLVMBasicBlockRef stop = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "callx.stop");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "callx.done");
	unsigned int nhelpers = 0;

	for (uint32_t id = 0; id <= BPFTIME_MAX_HELPER_ID; id++)
		nhelpers += e->vm->helpers[id] != NULL;
	LLVMBuildCondBr(e->b, LLVMBuildICmp(e->b, LLVMIntULE, v, c64(e, BPFTIME_MAX_HELPER_ID), ""),
			helpers, funcs);

	LLVMPositionBuilderAtEnd(e->b, helpers);
	sw = LLVMBuildSwitch(e->b, v, stop, nhelpers);
	for (uint32_t id = 0; id <= BPFTIME_MAX_HELPER_ID; id++) {
		LLVMBasicBlockRef bb;

		if (!e->vm->helpers[id])
			continue;
		bb = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "");
		LLVMAddCase(sw, c64(e, id), bb);
		LLVMPositionBuilderAtEnd(e->b, bb);
		r0 = call_helper(e, id);
		set(e, 0, r0);
		LLVMBuildBr(e->b, done);
	}

	LLVMPositionBuilderAtEnd(e->b, funcs);
	sw = LLVMBuildSwitch(e->b, LLVMBuildSub(e->b, v, c64(e, VM_FUNC_BASE), ""), stop,
			     e->nentries);
	for (uint32_t i = 0; i < e->nentries; i++) {
		LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "");

		LLVMAddCase(sw, c64(e, e->entries[i]), bb);
		LLVMPositionBuilderAtEnd(e->b, bb);
		r0 = call_sub(e, (int)i);
		set(e, 0, r0);
		LLVMBuildBr(e->b, done);
	}

	LLVMPositionBuilderAtEnd(e->b, stop);
	build_stop(e);
	LLVMPositionBuilderAtEnd(e->b, done);
}

/* mod: modulo, else division; sign: sdiv/smod (off = 1).  Returns the
 * kernel's result (x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN,
 * INT_MIN % -1 = 0) without a trapping division in the IR: the operands
 * are chosen so that those cases divide by 1.  A division's result is the
 * plain quotient, so LLVM still sees x - x / y * y as a remainder. */
static LLVMValueRef divmod(struct emit *e, LLVMTypeRef t, LLVMValueRef d, LLVMValueRef s, bool mod,
			   bool sign)
{
	LLVMValueRef zero = LLVMConstInt(t, 0, 0), one = LLVMConstInt(t, 1, 0);
	LLVMValueRef is0 = LLVMBuildICmp(e->b, LLVMIntEQ, s, zero, "");
	LLVMValueRef safe, q, ism1;

	if (!sign) {
		safe = LLVMBuildSelect(e->b, is0, one, s, "");
		if (!mod) /* x / 0 = 0: divide 0 by 1 then, no select on the result */
			return LLVMBuildUDiv(e->b, LLVMBuildSelect(e->b, is0, zero, d, ""), safe,
					     "");
		q = LLVMBuildURem(e->b, d, safe, "");
		return LLVMBuildSelect(e->b, is0, d, q, "");
	}
	/* x / -1 = -x (wrapping: INT_MIN / -1 = INT_MIN), x % -1 = 0 */
	ism1 = LLVMBuildICmp(e->b, LLVMIntEQ, s, LLVMConstAllOnes(t), "");
	safe = LLVMBuildSelect(e->b, LLVMBuildOr(e->b, is0, ism1, ""), one, s, "");
	if (!mod) { /* 0 / 1 and -x / 1: no select on the result */
		d = LLVMBuildSelect(e->b, ism1, LLVMBuildNeg(e->b, d, ""), d, "");
		return LLVMBuildSDiv(e->b, LLVMBuildSelect(e->b, is0, zero, d, ""), safe, "");
	}
	q = LLVMBuildSelect(e->b, ism1, zero, LLVMBuildSRem(e->b, d, safe, ""), "");
	return LLVMBuildSelect(e->b, is0, d, q, "");
}

static LLVMValueRef bswap(struct emit *e, LLVMValueRef v, unsigned int bits)
{
	static const char name[] = "llvm.bswap";
	unsigned int id = LLVMLookupIntrinsicID(name, sizeof(name) - 1);
	LLVMTypeRef t = int_type(e, bits / 8);
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(e->mod, id, &t, 1);
	LLVMValueRef arg = LLVMBuildTrunc(e->b, v, t, "");

	return LLVMBuildZExt(
		e->b,
		LLVMBuildCall2(e->b, LLVMIntrinsicGetType(e->ctx, id, &t, 1), fn, &arg, 1, ""),
		e->t64, "");
}

/* ALU operation op (BPF_ADD, ...) on two values of one width. */
static LLVMValueRef alu(struct emit *e, LLVMTypeRef t, unsigned int bits, uint8_t op,
			LLVMValueRef d, LLVMValueRef s, int16_t off)
{
	LLVMValueRef mask = LLVMConstInt(t, bits - 1, 0);

	switch (op) {
	case BPF_ADD:
		return LLVMBuildAdd(e->b, d, s, "");
	case BPF_SUB:
		return LLVMBuildSub(e->b, d, s, "");
	case BPF_MUL:
		return LLVMBuildMul(e->b, d, s, "");
	case BPF_DIV:
		return divmod(e, t, d, s, false, off == 1);
	case BPF_MOD:
		return divmod(e, t, d, s, true, off == 1);
	case BPF_OR:
		return LLVMBuildOr(e->b, d, s, "");
	case BPF_AND:
		return LLVMBuildAnd(e->b, d, s, "");
	case BPF_XOR:
		return LLVMBuildXor(e->b, d, s, "");
	case BPF_LSH:
		return LLVMBuildShl(e->b, d, LLVMBuildAnd(e->b, s, mask, ""), "");
	case BPF_RSH:
		return LLVMBuildLShr(e->b, d, LLVMBuildAnd(e->b, s, mask, ""), "");
	case BPF_ARSH:
		return LLVMBuildAShr(e->b, d, LLVMBuildAnd(e->b, s, mask, ""), "");
	case BPF_NEG:
		return LLVMBuildNeg(e->b, d, "");
	}
	return NULL;
}

static LLVMValueRef sext_from(struct emit *e, LLVMValueRef v, unsigned int bits, LLVMTypeRef to)
{
	return LLVMBuildSExt(e->b, LLVMBuildTrunc(e->b, v, int_type(e, bits / 8), ""), to, "");
}

static void emit_alu64(struct emit *e, const struct bpftime_insn *insn, bool reg)
{
	uint8_t op = BPF_OP(insn->code);
	LLVMValueRef s = reg ? get(e, insn->src) : c64(e, (uint64_t)(int64_t)insn->imm);

	if (op == BPF_MOV) {
		if (reg && insn->off)
			s = sext_from(e, s, (unsigned int)insn->off, e->t64); /* movsx */
		set(e, insn->dst, s);
		return;
	}
	set(e, insn->dst, alu(e, e->t64, 64, op, get(e, insn->dst), s, insn->off));
}

static void emit_alu32(struct emit *e, const struct bpftime_insn *insn, bool reg)
{
	uint8_t op = BPF_OP(insn->code);
	LLVMValueRef s = reg ? get32(e, insn->src) : c32(e, (uint32_t)insn->imm);

	if (op == BPF_MOV) {
		if (reg && insn->off)
			s = sext_from(e, s, (unsigned int)insn->off, e->t32); /* movsx */
		set32(e, insn->dst, s);
		return;
	}
	set32(e, insn->dst, alu(e, e->t32, 32, op, get32(e, insn->dst), s, insn->off));
}

static void emit_end(struct emit *e, const struct bpftime_insn *insn, bool swap)
{
	LLVMValueRef d = get(e, insn->dst);
	unsigned int bits = (unsigned int)insn->imm;

	if (swap)
		d = bswap(e, d, bits);
	else if (bits < 64)
		d = LLVMBuildZExt(e->b, LLVMBuildTrunc(e->b, d, int_type(e, bits / 8), ""), e->t64,
				  "");
	set(e, insn->dst, d);
}

static LLVMIntPredicate jmp_pred(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return LLVMIntEQ;
	case BPF_JGT:
		return LLVMIntUGT;
	case BPF_JGE:
		return LLVMIntUGE;
	case BPF_JNE:
		return LLVMIntNE;
	case BPF_JSGT:
		return LLVMIntSGT;
	case BPF_JSGE:
		return LLVMIntSGE;
	case BPF_JLT:
		return LLVMIntULT;
	case BPF_JLE:
		return LLVMIntULE;
	case BPF_JSLT:
		return LLVMIntSLT;
	default: /* BPF_JSLE */
		return LLVMIntSLE;
	}
}

static void emit_cond_jmp(struct emit *e, uint32_t pc, const struct bpftime_insn *insn, bool is32,
			  bool reg)
{
	uint8_t op = BPF_OP(insn->code);
	LLVMValueRef d, s, cond;

	if (is32) {
		d = get32(e, insn->dst);
		s = reg ? get32(e, insn->src) : c32(e, (uint32_t)insn->imm);
	} else {
		d = get(e, insn->dst);
		s = reg ? get(e, insn->src) : c64(e, (uint64_t)(int64_t)insn->imm);
	}
	if (op == BPF_JSET)
		cond = LLVMBuildICmp(e->b, LLVMIntNE, LLVMBuildAnd(e->b, d, s, ""),
				     LLVMConstNull(LLVMTypeOf(d)), "");
	else
		cond = LLVMBuildICmp(e->b, jmp_pred(op), d, s, "");
	LLVMBuildCondBr(e->b, cond, e->bbs[pc + 1 + insn->off], e->bbs[pc + 1]);
}

static void emit_load(struct emit *e, const struct bpftime_insn *insn, bool sx)
{
	unsigned int size = insn_mem_size(insn->code);
	LLVMValueRef v =
		LLVMBuildLoad2(e->b, int_type(e, size), addr(e, insn->src, insn->off, size), "");

	LLVMSetAlignment(v, 1);
	if (size < 8)
		v = sx ? LLVMBuildSExt(e->b, v, e->t64, "") : LLVMBuildZExt(e->b, v, e->t64, "");
	set(e, insn->dst, v);
}

static void emit_store(struct emit *e, const struct bpftime_insn *insn, LLVMValueRef v)
{
	unsigned int size = insn_mem_size(insn->code);
	LLVMValueRef st;

	if (size < 8)
		v = LLVMBuildTrunc(e->b, v, int_type(e, size), "");
	st = LLVMBuildStore(e->b, v, addr(e, insn->dst, insn->off, size));
	LLVMSetAlignment(st, 1);
}

static int emit_atomic(struct emit *e, uint32_t pc, const struct bpftime_insn *insn)
{
	unsigned int size = insn->code == OP_ATOMIC32 ? 4 : 8;
	LLVMTypeRef t = int_type(e, size);
	LLVMValueRef p = addr(e, insn->dst, insn->off, size);
	/* trunc to the same type is no instruction at all */
	LLVMValueRef s = LLVMBuildTrunc(e->b, get(e, insn->src), t, ""), old;
	LLVMAtomicRMWBinOp rmw;

	switch (insn->imm & ~BPF_FETCH) {
	case BPF_ADD:
		rmw = LLVMAtomicRMWBinOpAdd;
		break;
	case BPF_OR:
		rmw = LLVMAtomicRMWBinOpOr;
		break;
	case BPF_AND:
		rmw = LLVMAtomicRMWBinOpAnd;
		break;
	case BPF_XOR:
		rmw = LLVMAtomicRMWBinOpXor;
		break;
	case BPF_XCHG & ~BPF_FETCH:
		rmw = LLVMAtomicRMWBinOpXchg;
		break;
	case BPF_CMPXCHG & ~BPF_FETCH: {
		LLVMValueRef cmp = LLVMBuildTrunc(e->b, get(e, 0), t, "");

		old = LLVMBuildAtomicCmpXchg(e->b, p, cmp, s,
					     LLVMAtomicOrderingSequentiallyConsistent,
					     LLVMAtomicOrderingSequentiallyConsistent, 0);
		old = LLVMBuildExtractValue(e->b, old, 0, "");
		set(e, 0, LLVMBuildZExt(e->b, old, e->t64, ""));
		return 0;
	}
	default:
		return llvm_error(e->vm, EINVAL, "pc %u: unknown atomic operation 0x%x", pc,
				  (unsigned int)insn->imm);
	}
	old = LLVMBuildAtomicRMW(e->b, rmw, p, s, LLVMAtomicOrderingSequentiallyConsistent, 0);
	if (insn->imm & BPF_FETCH)
		set(e, insn->src, LLVMBuildZExt(e->b, old, e->t64, ""));
	return 0;
}

static LLVMValueRef declare_ext(struct emit *e, LLVMValueRef *cache, const char *name,
				LLVMTypeRef arg)
{
	LLVMTypeRef ty;

	if (*cache)
		return *cache;
	ty = LLVMFunctionType(e->t64, &arg, 1, 0);
	*cache = LLVMAddFunction(e->mod, name, ty);
	/* the same map gives the same address all run long: let LLVM hoist */
	add_fn_attr(e, *cache, "nounwind");
	add_fn_attr(e, *cache, "readnone");
	add_fn_attr(e, *cache, "willreturn");
	return *cache;
}

static LLVMValueRef call_ext(struct emit *e, LLVMValueRef fn, LLVMValueRef arg)
{
	LLVMTypeRef at = LLVMTypeOf(arg);

	return LLVMBuildCall2(e->b, LLVMFunctionType(e->t64, &at, 1, 0), fn, &arg, 1, "");
}

static int emit_lddw(struct emit *e, uint32_t pc, const struct bpftime_insn *insn)
{
	const struct bpftime_insn *orig = &e->orig[pc];
	uint64_t value = (uint32_t)insn[0].imm | (uint64_t)(uint32_t)insn[1].imm << 32;
	LLVMValueRef v, map;

	if (!e->aot) {
		set(e, insn->dst, c64(e, value));
		return 0;
	}
	switch (orig->src) {
	case BPFTIME_PSEUDO_IMM64:
	case BPFTIME_PSEUDO_FUNC: /* VM_FUNC_BASE + pc: the same in every process */
		v = c64(e, value);
		break;
	case BPFTIME_PSEUDO_MAP_FD:
	case BPFTIME_PSEUDO_MAP_VALUE:
		map = call_ext(e, declare_ext(e, &e->map_by_fd, LLVM_MAP_BY_FD_SYM, e->t32),
			       c32(e, (uint32_t)orig->imm));
		v = map;
		break;
	case BPFTIME_PSEUDO_MAP_IDX:
	case BPFTIME_PSEUDO_MAP_IDX_VALUE:
		map = call_ext(e, declare_ext(e, &e->map_by_idx, LLVM_MAP_BY_IDX_SYM, e->t32),
			       c32(e, (uint32_t)orig->imm));
		v = map;
		break;
	default:
		return llvm_error(e->vm, EOPNOTSUPP,
				  "pc %u: lddw pseudo source %u cannot be compiled ahead of time",
				  pc, orig->src);
	}
	if (orig->src == BPFTIME_PSEUDO_MAP_VALUE || orig->src == BPFTIME_PSEUDO_MAP_IDX_VALUE) {
		v = call_ext(e, declare_ext(e, &e->map_val, LLVM_MAP_VAL_SYM, e->t64), v);
		v = LLVMBuildAdd(e->b, v, c64(e, (uint32_t)orig[1].imm), "");
	}
	set(e, insn->dst, v);
	return 0;
}

/* Emits the instruction at pc into the current block. */
static int emit_insn(struct emit *e, uint32_t pc)
{
	const struct bpftime_insn *insn = &e->insns[pc];
	int idx;

	switch ((enum insn_op)insn->code) {
	case OP_ADD64_IMM:
	case OP_SUB64_IMM:
	case OP_MUL64_IMM:
	case OP_DIV64_IMM:
	case OP_OR64_IMM:
	case OP_AND64_IMM:
	case OP_LSH64_IMM:
	case OP_RSH64_IMM:
	case OP_NEG64:
	case OP_MOD64_IMM:
	case OP_XOR64_IMM:
	case OP_MOV64_IMM:
	case OP_ARSH64_IMM:
		emit_alu64(e, insn, false);
		return 0;
	case OP_ADD64_REG:
	case OP_SUB64_REG:
	case OP_MUL64_REG:
	case OP_DIV64_REG:
	case OP_OR64_REG:
	case OP_AND64_REG:
	case OP_LSH64_REG:
	case OP_RSH64_REG:
	case OP_MOD64_REG:
	case OP_XOR64_REG:
	case OP_MOV64_REG:
	case OP_ARSH64_REG:
		emit_alu64(e, insn, true);
		return 0;
	case OP_ADD32_IMM:
	case OP_SUB32_IMM:
	case OP_MUL32_IMM:
	case OP_DIV32_IMM:
	case OP_OR32_IMM:
	case OP_AND32_IMM:
	case OP_LSH32_IMM:
	case OP_RSH32_IMM:
	case OP_NEG32:
	case OP_MOD32_IMM:
	case OP_XOR32_IMM:
	case OP_MOV32_IMM:
	case OP_ARSH32_IMM:
		emit_alu32(e, insn, false);
		return 0;
	case OP_ADD32_REG:
	case OP_SUB32_REG:
	case OP_MUL32_REG:
	case OP_DIV32_REG:
	case OP_OR32_REG:
	case OP_AND32_REG:
	case OP_LSH32_REG:
	case OP_RSH32_REG:
	case OP_MOD32_REG:
	case OP_XOR32_REG:
	case OP_MOV32_REG:
	case OP_ARSH32_REG:
		emit_alu32(e, insn, true);
		return 0;
	case OP_LE:
		emit_end(e, insn, false);
		return 0;
	case OP_BE:
	case OP_BSWAP:
		emit_end(e, insn, true); /* x86-64 is little-endian */
		return 0;
	case OP_JA:
		LLVMBuildBr(e->b, e->bbs[pc + 1 + insn->off]);
		return 0;
	case OP_JA32:
		LLVMBuildBr(e->b, e->bbs[pc + 1 + insn->imm]);
		return 0;
	case OP_JEQ_IMM:
	case OP_JGT_IMM:
	case OP_JGE_IMM:
	case OP_JSET_IMM:
	case OP_JNE_IMM:
	case OP_JSGT_IMM:
	case OP_JSGE_IMM:
	case OP_JLT_IMM:
	case OP_JLE_IMM:
	case OP_JSLT_IMM:
	case OP_JSLE_IMM:
		emit_cond_jmp(e, pc, insn, false, false);
		return 0;
	case OP_JEQ_REG:
	case OP_JGT_REG:
	case OP_JGE_REG:
	case OP_JSET_REG:
	case OP_JNE_REG:
	case OP_JSGT_REG:
	case OP_JSGE_REG:
	case OP_JLT_REG:
	case OP_JLE_REG:
	case OP_JSLT_REG:
	case OP_JSLE_REG:
		emit_cond_jmp(e, pc, insn, false, true);
		return 0;
	case OP_JEQ32_IMM:
	case OP_JGT32_IMM:
	case OP_JGE32_IMM:
	case OP_JSET32_IMM:
	case OP_JNE32_IMM:
	case OP_JSGT32_IMM:
	case OP_JSGE32_IMM:
	case OP_JLT32_IMM:
	case OP_JLE32_IMM:
	case OP_JSLT32_IMM:
	case OP_JSLE32_IMM:
		emit_cond_jmp(e, pc, insn, true, false);
		return 0;
	case OP_JEQ32_REG:
	case OP_JGT32_REG:
	case OP_JGE32_REG:
	case OP_JSET32_REG:
	case OP_JNE32_REG:
	case OP_JSGT32_REG:
	case OP_JSGE32_REG:
	case OP_JLT32_REG:
	case OP_JLE32_REG:
	case OP_JSLT32_REG:
	case OP_JSLE32_REG:
		emit_cond_jmp(e, pc, insn, true, true);
		return 0;
	case OP_CALL:
		if (insn->src == BPFTIME_CALL_HELPER) {
			if ((uint32_t)insn->imm > BPFTIME_MAX_HELPER_ID ||
			    !e->vm->helpers[insn->imm])
				return llvm_error(e->vm, EINVAL, "pc %u: unknown helper %d", pc,
						  insn->imm);
			set(e, 0, call_helper(e, (uint32_t)insn->imm));
			return 0;
		}
		if (insn->src == BPFTIME_CALL_LOCAL) {
			idx = find_entry(e, pc + 1 + (uint32_t)insn->imm);
			if (idx < 0)
				return llvm_error(e->vm, EINVAL, "pc %u: bad call target", pc);
			set(e, 0, call_sub(e, idx));
			return 0;
		}
		return llvm_error(e->vm, EOPNOTSUPP, "pc %u: kfunc calls are not supported", pc);
	case OP_CALLX:
		emit_callx(e, insn->dst);
		return 0;
	case OP_EXIT:
		LLVMBuildRet(e->b, get(e, 0));
		return 0;
	case OP_LDDW:
		return emit_lddw(e, pc, insn);
	case OP_LDXW:
	case OP_LDXH:
	case OP_LDXB:
	case OP_LDXDW:
		emit_load(e, insn, false);
		return 0;
	case OP_LDXSW:
	case OP_LDXSH:
	case OP_LDXSB:
		emit_load(e, insn, true);
		return 0;
	case OP_STW:
	case OP_STH:
	case OP_STB:
	case OP_STDW:
		emit_store(e, insn, c64(e, (uint64_t)(int64_t)insn->imm));
		return 0;
	case OP_STXW:
	case OP_STXH:
	case OP_STXB:
	case OP_STXDW:
		emit_store(e, insn, get(e, insn->src));
		return 0;
	case OP_ATOMIC32:
	case OP_ATOMIC64:
		return emit_atomic(e, pc, insn);
	}
	return llvm_error(e->vm, EINVAL, "pc %u: unknown opcode 0x%02x", pc, insn->code);
}

static int64_t jump_off(const struct bpftime_insn *insn)
{
	return insn->code == OP_JA32 ? insn->imm : insn->off;
}

/* Marks what is reachable from entry in e->reach and creates a block for
 * every reachable jump target and fall-through after a conditional jump. */
static int scan_function(struct emit *e, uint32_t entry)
{
	uint32_t *stack = malloc(sizeof(*stack) * e->cnt), top = 0;
	int err = 0;

	if (!stack)
		return llvm_error(e->vm, ENOMEM, "out of memory");
	memset(e->reach, 0, e->cnt);
	memset(e->bbs, 0, sizeof(*e->bbs) * e->cnt);
	e->reach[entry] = 1;
	stack[top++] = entry;
	e->bbs[entry] = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "");
	while (top) {
		uint32_t pc = stack[--top], next[2];
		const struct bpftime_insn *insn = &e->insns[pc];
		uint32_t flags = insn_desc[insn->code].flags, n = 0;

		if (flags & F_TERM)
			continue;
		if (flags & F_JUMP) {
			int64_t t = (int64_t)pc + 1 + jump_off(insn);

			if (t < 0 || t >= e->cnt) {
				err = llvm_error(e->vm, EINVAL, "pc %u: jump out of range", pc);
				break;
			}
			next[n++] = (uint32_t)t;
			if (flags & F_COND)
				next[n++] = pc + 1;
		} else {
			next[n++] = pc + ((flags & F_WIDE) ? 2 : 1);
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t t = next[i];

			if (t >= e->cnt) {
				err = llvm_error(e->vm, EINVAL, "pc %u: falls off the program", pc);
				goto out;
			}
			if ((flags & F_JUMP) && !e->bbs[t])
				e->bbs[t] = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "");
			if (!e->reach[t]) {
				e->reach[t] = 1;
				stack[top++] = t;
			}
		}
	}
out:
	free(stack);
	return err;
}

/* Emits the body of e->fn, whose entry block is already current, from pc
 * entry. */
static int emit_body(struct emit *e, uint32_t entry)
{
	bool open = false; /* the current block still needs a terminator */
	int err;

	err = scan_function(e, entry);
	if (err)
		return err;
	LLVMBuildBr(e->b, e->bbs[entry]);
	for (uint32_t pc = 0; pc < e->cnt; pc++) {
		const struct bpftime_insn *insn = &e->insns[pc];

		if (!e->reach[pc])
			continue;
		if (e->bbs[pc]) {
			if (open)
				LLVMBuildBr(e->b, e->bbs[pc]);
			LLVMPositionBuilderAtEnd(e->b, e->bbs[pc]);
		} else if (!open) {
			/* reachable only through a jump, hence a block start */
			return llvm_error(e->vm, EINVAL, "pc %u: internal: no block", pc);
		}
		err = emit_insn(e, pc);
		if (err)
			return err;
		/* jumps and exit end their block; everything else falls through */
		open = !(insn_desc[insn->code].flags & (F_JUMP | F_TERM));
		if (insn->code == OP_LDDW)
			pc++;
	}
	if (open)
		return llvm_error(e->vm, EINVAL, "program falls off its end");
	return 0;
}

/* Allocas for the registers and the stack in the entry block. */
static void emit_frame(struct emit *e)
{
	LLVMTypeRef stack_t = LLVMArrayType(e->t8, BPFTIME_STACK_SIZE);
	LLVMValueRef stack = LLVMBuildAlloca(e->b, stack_t, "stack"), end, idx;

	LLVMSetAlignment(stack, 16);
	for (unsigned int i = 0; i < NREGS; i++) {
		char name[8];

		snprintf(name, sizeof(name), "r%u", i);
		e->regs[i] = LLVMBuildAlloca(e->b, e->t64, name);
	}
	idx = c64(e, BPFTIME_STACK_SIZE);
	end = LLVMBuildGEP2(e->b, e->t8, LLVMBuildPointerCast(e->b, stack, e->tptr, ""), &idx, 1,
			    "");
	set(e, 10, LLVMBuildPtrToInt(e->b, end, e->t64, ""));
	set(e, 0, c64(e, 0));
	for (unsigned int i = 6; i < 10; i++)
		set(e, i, c64(e, 0));
}

static int emit_sub(struct emit *e, uint32_t i)
{
	LLVMBasicBlockRef entry;

	e->fn = e->subs[i];
	e->is_main = false;
	entry = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "entry");
	LLVMPositionBuilderAtEnd(e->b, entry);
	emit_frame(e);
	for (unsigned int r = 1; r <= 5; r++)
		set(e, r, LLVMGetParam(e->fn, r - 1));
	e->stop = LLVMGetParam(e->fn, 5);
	e->depth = LLVMGetParam(e->fn, 6);
	/* the kernel's limit on frames; the interpreter stops the same way */
	stop_if(e, LLVMBuildICmp(e->b, LLVMIntUGT, e->depth, c32(e, BPFTIME_MAX_CALL_DEPTH), ""));
	return emit_body(e, e->entries[i]);
}

/* bpf_sub_<pc>(r1..r5): the callback entry for bpftime_vm__call_func(), a fresh
 * program whose first frame is this subprogram. */
static void emit_callback_entry(struct emit *e, uint32_t i)
{
	LLVMValueRef fn, stop, args[7];
	char name[32];

	snprintf(name, sizeof(name), VM_LLVM_SUB_PFX "%u", e->entries[i]);
	fn = LLVMAddFunction(e->mod, name, e->thelper);
	add_fn_attr(e, fn, "nounwind");
	LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, fn, "entry"));
	stop = LLVMBuildAlloca(e->b, e->t8, "stop");
	LLVMBuildStore(e->b, LLVMConstInt(e->t8, 0, 0), stop);
	for (unsigned int r = 0; r < 5; r++)
		args[r] = LLVMGetParam(fn, r);
	args[5] = stop;
	args[6] = c32(e, 1);
	LLVMBuildRet(e->b, LLVMBuildCall2(e->b, e->tsub, e->subs[i], args, 7, ""));
}

static int emit_main(struct emit *e)
{
	LLVMBasicBlockRef entry;

	e->fn = LLVMAddFunction(e->mod, LLVM_MAIN_SYM, e->tmain);
	add_fn_attr(e, e->fn, "nounwind");
	e->is_main = true;
	entry = LLVMAppendBasicBlockInContext(e->ctx, e->fn, "entry");
	LLVMPositionBuilderAtEnd(e->b, entry);
	emit_frame(e);
	set(e, 1, LLVMBuildPtrToInt(e->b, LLVMGetParam(e->fn, 0), e->t64, ""));
	set(e, 2, LLVMGetParam(e->fn, 1));
	set(e, 3, c64(e, 0));
	set(e, 4, c64(e, 0));
	set(e, 5, c64(e, 0));
	e->stop = LLVMBuildAlloca(e->b, e->t8, "stop");
	LLVMBuildStore(e->b, LLVMConstInt(e->t8, 0, 0), e->stop);
	e->depth = c32(e, 1);
	return emit_body(e, 0);
}

/* Collects subprogram entries as the verifier defines them: pc 0, targets
 * of local calls and function values (callx may reach any of them). */
static int find_entries(struct emit *e)
{
	uint8_t *mark = calloc(e->cnt, 1);
	uint32_t n = 1;

	if (!mark)
		return llvm_error(e->vm, ENOMEM, "out of memory");
	mark[0] = 1;
	for (uint32_t pc = 0; pc < e->cnt; pc++) {
		const struct bpftime_insn *insn = &e->orig[pc];
		int64_t t = -1;

		if (insn->code == OP_CALL && insn->src == BPFTIME_CALL_LOCAL)
			t = (int64_t)pc + 1 + insn->imm;
		else if (insn->code == OP_LDDW && insn->src == BPFTIME_PSEUDO_FUNC)
			t = (int64_t)pc + 1 + insn->imm;
		if (insn->code == OP_LDDW)
			pc++;
		if (t < 0)
			continue;
		if (t >= e->cnt) {
			free(mark);
			return llvm_error(e->vm, EINVAL, "pc %u: call target out of range", pc);
		}
		n += !mark[t];
		mark[t] |= insn->code == OP_LDDW ? 3 : 1; /* 2: a function value */
	}
	e->entries = calloc(n ? n : 1, sizeof(*e->entries));
	e->subs = calloc(n ? n : 1, sizeof(*e->subs));
	e->is_value = calloc(n ? n : 1, 1);
	if (!e->entries || !e->subs || !e->is_value) {
		free(mark);
		return llvm_error(e->vm, ENOMEM, "out of memory");
	}
	for (uint32_t pc = 0; pc < e->cnt; pc++) {
		if (mark[pc])
			e->is_value[e->nentries] = mark[pc] & 2;
		if (mark[pc])
			e->entries[e->nentries++] = pc;
	}
	free(mark);
	return 0;
}

int llvm_emit_module(struct bpftime_vm *vm, LLVMModuleRef mod, bool aot)
{
	struct emit e = {
		.vm = vm,
		.insns = vm->insns,
		.orig = vm->orig_insns,
		.cnt = (uint32_t)vm->cnt,
		.aot = aot,
		.ctx = LLVMGetModuleContext(mod),
		.mod = mod,
	};
	LLVMTypeRef args[7];
	int err;

	if (!vm->loaded || !vm->cnt)
		return llvm_error(vm, EINVAL, "no program loaded");
	e.b = LLVMCreateBuilderInContext(e.ctx);
	e.t1 = LLVMInt1TypeInContext(e.ctx);
	e.t8 = LLVMInt8TypeInContext(e.ctx);
	e.t16 = LLVMInt16TypeInContext(e.ctx);
	e.t32 = LLVMInt32TypeInContext(e.ctx);
	e.t64 = LLVMInt64TypeInContext(e.ctx);
	e.tptr = LLVMPointerType(e.t8, 0);
	for (unsigned int i = 0; i < 5; i++)
		args[i] = e.t64;
	e.thelper = LLVMFunctionType(e.t64, args, 5, 0);
	args[5] = e.tptr;
	args[6] = e.t32;
	e.tsub = LLVMFunctionType(e.t64, args, 7, 0);
	args[0] = e.tptr;
	args[1] = e.t64;
	e.tmain = LLVMFunctionType(e.t64, args, 2, 0);
	e.reach = malloc(e.cnt);
	e.bbs = malloc(sizeof(*e.bbs) * e.cnt);
	if (!e.reach || !e.bbs) {
		err = llvm_error(vm, ENOMEM, "out of memory");
		goto out;
	}
	err = find_entries(&e);
	if (err)
		goto out;
	for (uint32_t i = 0; i < e.nentries; i++) {
		char name[32];

		snprintf(name, sizeof(name), "sub_%u", e.entries[i]);
		e.subs[i] = LLVMAddFunction(mod, name, e.tsub);
		LLVMSetLinkage(e.subs[i], LLVMInternalLinkage);
		add_fn_attr(&e, e.subs[i], "nounwind");
	}
	err = emit_main(&e);
	for (uint32_t i = 0; !err && i < e.nentries; i++)
		err = emit_sub(&e, i);
	for (uint32_t i = 0; !err && i < e.nentries; i++) {
		if (e.is_value[i])
			emit_callback_entry(&e, i);
	}
out:
	free(e.reach);
	free(e.bbs);
	free(e.entries);
	free(e.subs);
	free(e.is_value);
	LLVMDisposeBuilder(e.b);
	return err;
}
