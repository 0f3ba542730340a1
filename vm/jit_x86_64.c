/* SPDX-License-Identifier: MIT */
/* vm/jit_x86_64.c: the x86-64 JIT.
 *
 * Input: the resolved program (vm->insns, see vm/internal.h).  Output:
 * vm->jit_fn, a System V function uint64_t fn(void *mem, uint64_t len) in a
 * piece of the code arena (jit_arena.c; vm->jit_mem, vm->jit_size): the
 * code is written where the arena says (a buffer, or the piece itself while
 * it is RW) and then sealed RX, never writable and executable at once; the
 * unused tail of the piece is INT3.
 *
 * Register mapping, as the kernel's x86-64 JIT does it, so that helper calls
 * are plain System V calls with their arguments already in place:
 *   r0  = rax  the C return register: a helper's result lands in r0
 *   r1  = rdi  \
 *   r2  = rsi   | the first five System V argument registers, in order:
 *   r3  = rdx   | r1..r5 are the helper's arguments, and like them they are
 *   r4  = rcx   | caller-saved, which is what the eBPF ABI says of r1..r5
 *   r5  = r8   /
 *   r6  = rbx  \
 *   r7  = r13   | callee-saved in C and in eBPF: helpers preserve them for
 *   r8  = r14   | free; r12 is skipped because as a base it needs a SIB
 *   r9  = r15  /  byte, which makes every load/store through it longer
 *   r10 = rbp  the frame pointer: callee-saved, and [rbp - off] is short
 * Scratch: r11 (AUX) and r10 (AUX2) as in the kernel, plus r9 (AUX3): all
 * three are caller-saved and carry no eBPF register.  r12 (UNWIND) is used
 * only by programs with subprograms: it holds the stack pointer to unwind
 * to when the whole program must stop (tail call, call depth exceeded, bad
 * callx), and [r12 - 8] counts the active eBPF frames.
 *
 * Layout of the piece (JIT_UNIT-aligned, so 16-byte alignment holds):
 *   [struct jit_header, JIT_HDR bytes]
 *   [entry stub + unwind exit]          only with subprograms
 *   [function 0 = main][subprogram 1][subprogram 2]...
 *   [int32 table: pc -> subprogram entry, relative to the table]
 *                                       only with subprograms
 * Each eBPF function is a native function with its own prologue: it pushes
 * the callee-saved registers it uses and, if it uses r10, gets a 512-byte
 * frame below rbp.  bpf-to-bpf calls are native calls, so r6..r9 and r10
 * survive them as the eBPF ABI requires.
 *
 * Code is emitted once, into a heap buffer, in its largest form: every
 * eBPF jump as rel32 and every helper call as movabs rax + call rax.  Each
 * of those, and every other position-dependent field (rel32 to a function,
 * the unwind exit, the table), is recorded as a fixup.  Then sizes converge
 * in passes over the fixups only: a jump becomes short (rel8) as soon as its
 * displacement fits (displacements only shrink, so this ends), and a helper
 * call becomes a direct call rel32 when the helper is within reach of the
 * whole piece.  Loop heads (backward jump targets) get nop padding to a
 * 16-byte boundary, sized once the jumps are fixed.  The last step copies
 * the code to where the arena says it is written (jit_piece.write),
 * closing the gaps and writing every fixup in its final form for where it
 * runs (jit_piece.code), and the arena's seal puts it in place.  Emitting once keeps compile time near one switch
 * dispatch per instruction.
 *
 * Beyond one x86 sequence per instruction, emit_fused() folds the pairs and
 * triples clang emits everywhere (a conditional jump over a goto, mov + add
 * into lea, mov + add + load into one indexed load) when no jump lands
 * between them.  Every semantic corner (div/mod by zero and INT_MIN / -1,
 * 32-bit zero extension, shift masking) follows the kernel; vm/jit_test.c
 * and tests/fuzz/ check the JIT against the interpreter.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "jit_arena.h"
#include "jit_emit.h"
#include "common/compiler.h"
#include "common/alloc.h"

#define AUX    X86_R11
#define AUX2   X86_R10
#define AUX3   X86_R9
#define UNWIND X86_R12

/* ORDER REG: eBPF register -> x86 register (see the top of the file) */
static const uint8_t reg_map[11] = {
	X86_RAX, X86_RDI, X86_RSI, X86_RDX, X86_RCX, X86_R8,
	X86_RBX, X86_R13, X86_R14, X86_R15, X86_RBP,
};

#define JIT_HDR	     64	 /* header bytes before the code: keeps code 64-byte aligned */
#define JIT_MAX_INSN 192 /* upper bound of the bytes one eBPF instruction emits */
#define JIT_MAX_FUNC 64	 /* upper bound of a function prologue + loop-head padding */
#define JIT_STUB_MAX 96	 /* upper bound of the entry stub */

/* At the start of the piece; read by vm_jit_call(). */
struct jit_header {
	uint32_t entry_off; /* jit_fn */
	uint32_t stub_off;  /* C-callable stub(r1..r5, target), 0 without subprograms */
	uint32_t table_off; /* int32 per pc, relative to the table; 0 without subprograms */
	uint32_t table_cnt;
};

struct jit_func {
	uint32_t start, end; /* [start, end) pcs */
	uint32_t off;	     /* native offset of the prologue */
	uint32_t fk;	     /* the first fixup at or after off */
	uint8_t nsaved;
	uint8_t saved[5]; /* callee-saved registers pushed, in push order */
	uint16_t used;	  /* eBPF registers named by its instructions */
	bool stack;	  /* uses r10: gets a 512-byte frame */
	bool pad;	  /* makes calls 16-byte aligned */
};

enum {
	JF_ENTRY = 1 << 1,  /* target of a local call or a function value */
	JF_TARGET = 1 << 2, /* target of a jump */
	JF_LOOP = 1 << 3,   /* target of a backward jump: a loop head */
};

/* A position-dependent spot in the emitted code (see the top of the file). */
enum jit_fix_kind {
	FIX_JUMP,   /* eBPF jump, emitted as jmp/jcc rel32; target = pc */
	FIX_CALL,   /* helper call, emitted as movabs rax, imm64; call rax */
	FIX_UNWIND, /* rel32 field to the unwind exit */
	FIX_FUNC,   /* rel32 field to a function's prologue; target = function index */
	FIX_TABLE,  /* rel32 field to the pc -> subprogram table */
	FIX_ALIGN,  /* up to 15 bytes of nop aligning a loop head to 16 bytes */
};

struct jit_fix {
	uint32_t pos;	 /* offset in the buffer: the jump or call, or the rel32 field */
	uint32_t target; /* pc or function index */
	uint8_t kind;
	int8_t cc;    /* jumps: condition, -1 for jmp; align: 1 if code falls into the head */
	bool small;   /* jump: rel8; call: direct rel32 */
	uint8_t size; /* bytes in the buffer */
	uint32_t tk;  /* jump: the first fixup at or after its target */
	uint8_t pad;  /* align: the nop bytes in the piece */
};

struct jit {
	struct bpftime_vm *vm;
	const struct bpftime_insn *insns;
	size_t cnt;
	uint32_t *addrs;  /* offset of each pc's code in the buffer (cnt + 1) */
	uint32_t *fixidx; /* the first fixup at or after addrs[pc] (cnt + 1) */
	uint8_t *flags;	  /* JF_* per pc */
	struct jit_func *funcs;
	size_t nfuncs;
	bool subprogs; /* more than one function: stub, UNWIND, table */
	uint8_t *buf;  /* the code in its largest form */
	size_t buf_cap;
	struct jit_fix *fix;
	uint32_t *shrunk; /* bytes saved before fixup k (nfix + 1) */
	size_t nfix, fix_cap;
	bool oom;
	struct jit_piece piece;		/* where the code goes (jit_arena.h) */
	uint8_t *base;			/* where it runs: piece.code */
	uint8_t *out;			/* where it is written: piece.write */
	size_t cap;			/* piece.size */
	uint32_t unwind_off, unwind_fk; /* the unwind exit inside the stub */
	uint32_t entry_fk, stub_fk;	/* fixup indexes of the header offsets */
	uint32_t code_end, table_off;
	struct jit_header hdr;
	size_t addrs_cap, flags_cap, funcs_cap, shrunk_cap; /* elements */
};

/* The work buffers of struct jit, kept per thread between compiles: a
 * compile then calls malloc only when a program is larger than any before
 * on this thread.  Freed when the thread exits, or after a compile that
 * made them larger than JIT_SCRATCH_KEEP bytes in all. */
#define JIT_SCRATCH_KEEP (512u << 10)

struct jit_scratch {
	uint32_t *addrs;
	uint8_t *flags;
	struct jit_func *funcs;
	uint8_t *buf;
	struct jit_fix *fix;
	uint32_t *shrunk;
	size_t addrs_cap, flags_cap, funcs_cap, buf_cap, fix_cap, shrunk_cap;
};

static __thread struct jit_scratch jit_scratch;
static pthread_key_t jit_scratch_key;
static pthread_once_t jit_scratch_once = PTHREAD_ONCE_INIT;
static bool jit_scratch_keyed; /* jit_scratch_key exists */

static void scratch_release(struct jit_scratch *s)
{
	free(s->addrs);
	free(s->flags);
	free(s->funcs);
	free(s->buf);
	free(s->fix);
	free(s->shrunk);
	memset(s, 0, sizeof(*s));
}

static void scratch_destructor(void *arg)
{
	scratch_release(arg);
}

static void scratch_init(void)
{
	jit_scratch_keyed = !pthread_key_create(&jit_scratch_key, scratch_destructor);
}

/* Moves this thread's buffers into j. */
static void scratch_take(struct jit *j)
{
	struct jit_scratch *s = &jit_scratch;

	j->addrs = s->addrs;
	j->flags = s->flags;
	j->funcs = s->funcs;
	j->buf = s->buf;
	j->fix = s->fix;
	j->shrunk = s->shrunk;
	j->addrs_cap = s->addrs_cap;
	j->flags_cap = s->flags_cap;
	j->funcs_cap = s->funcs_cap;
	j->buf_cap = s->buf_cap;
	j->fix_cap = s->fix_cap;
	j->shrunk_cap = s->shrunk_cap;
	memset(s, 0, sizeof(*s));
}

/* Gives j's buffers back to this thread (or frees them). */
static void scratch_give(struct jit *j)
{
	struct jit_scratch *s = &jit_scratch;

	*s = (struct jit_scratch){
		.addrs = j->addrs,
		.flags = j->flags,
		.funcs = j->funcs,
		.buf = j->buf,
		.fix = j->fix,
		.shrunk = j->shrunk,
		.addrs_cap = j->addrs_cap,
		.flags_cap = j->flags_cap,
		.funcs_cap = j->funcs_cap,
		.buf_cap = j->buf_cap,
		.fix_cap = j->fix_cap,
		.shrunk_cap = j->shrunk_cap,
	};
	pthread_once(&jit_scratch_once, scratch_init);
	if (s->addrs_cap * sizeof(*s->addrs) + s->flags_cap + s->funcs_cap * sizeof(*s->funcs) +
			    s->buf_cap + s->fix_cap * sizeof(*s->fix) +
			    s->shrunk_cap * sizeof(*s->shrunk) >
		    JIT_SCRATCH_KEEP ||
	    !jit_scratch_keyed || pthread_setspecific(jit_scratch_key, s))
		scratch_release(s);
}

/* At least n elements of size bytes at *p (*cap elements now); the old
 * contents are not kept. */
static int reserve(void *p, size_t *cap, size_t n, size_t size)
{
	void **pp = p, *q;

	if (n <= *cap)
		return 0;
	if (*cap * 2 > n)
		n = *cap * 2;
	q = mem_alloc(n * size);
	if (!q)
		return -ENOMEM;
	free(*pp);
	*pp = q;
	*cap = n;
	return 0;
}

/* The C side of a tail call: calls the tail-call helper and tells the code
 * in rdx (the second half of a 16-byte struct return) whether to stop. */
struct jit_pair {
	uint64_t r0;
	uint64_t stop;
};

static struct jit_pair jit_tail_call(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				     uint64_t r5)
{
	struct jit_pair ret;

	ret.r0 = vm_tail_call_helper(r1, r2, r3, r4, r5);
	ret.stop = vm_run_state.tail_next != NULL;
	return ret;
}

static uint32_t jit_pos(const struct jit *j, const struct jit_out *o)
{
	return (uint32_t)(o->p - j->buf);
}

static void add_fix(struct jit *j, uint32_t pos, enum jit_fix_kind kind, int cc, uint32_t target,
		    uint8_t size)
{
	if (j->nfix == j->fix_cap) {
		size_t cap = j->fix_cap ? j->fix_cap * 2 : 64;
		struct jit_fix *p = mem_realloc(j->fix, cap * sizeof(*p));

		if (!p) {
			j->oom = true;
			return;
		}
		j->fix = p;
		j->fix_cap = cap;
	}
	j->fix[j->nfix++] = (struct jit_fix){
		.pos = pos, .target = target, .kind = (uint8_t)kind, .cc = (int8_t)cc, .size = size
	};
}

/* A rel32 field whose target is only known at the end. */
static void emit_rel32_fix(struct jit *j, struct jit_out *o, enum jit_fix_kind kind,
			   uint32_t target)
{
	add_fix(j, jit_pos(j, o), kind, -1, target, 4);
	emit_u32(o, 0);
}

/* call fn.  relax: movabs rax, imm64 + call rax (rax is r0, which the call
 * overwrites anyway), which may become a direct call rel32 once the piece
 * is known; only where no short jump of the same sequence spans it. */
static void emit_call_abs(struct jit *j, struct jit_out *o, const void *fn, bool relax)
{
	uint64_t t = (uint64_t)(uintptr_t)fn;

	if (relax) {
		add_fix(j, jit_pos(j, o), FIX_CALL, -1, 0, 12);
		emit2(o, 0x48, 0xb8); /* movabs rax, imm64: always the 10-byte form */
		emit_u64(o, t);
	} else {
		emit_mov_imm64(o, X86_RAX, t);
	}
	emit_call_reg(o, X86_RAX);
}

static void emit_epilogue(struct jit_out *o, const struct jit_func *f)
{
	if (f->stack)
		emit_mov_rr(o, true, X86_RSP, X86_RBP);
	else if (f->pad)
		emit_pop(o, X86_RCX); /* r4: clobbered by the call anyway */
	for (int i = f->nsaved - 1; i >= 0; i--)
		emit_pop(o, f->saved[i]);
	emit1(o, 0xc3); /* ret */
}

/* Registers start at 0 in the interpreter; the kernel's verifier rejects
 * reading one before writing it, ours does not, so a program that does so
 * sees 0 here too.  main: every register it names except r1, r2 and r10. */
static void emit_zero_regs(struct jit_out *o, uint16_t used)
{
	static const uint8_t regs[] = { 0, 3, 4, 5, 6, 7, 8, 9 };

	for (size_t i = 0; i < ARRAY_SIZE(regs); i++)
		if (used & (1u << regs[i]))
			emit_rr(o, 0x31, false, reg_map[regs[i]], reg_map[regs[i]]);
}

static void emit_prologue(struct jit_out *o, const struct jit_func *f, bool main)
{
	for (int i = 0; i < f->nsaved; i++)
		emit_push(o, f->saved[i]);
	if (f->stack) {
		emit_mov_rr(o, true, X86_RBP, X86_RSP);
		/* sub rsp, 512 (+ 8) */
		emit3(o, 0x48, 0x81, 0xec);
		emit_u32(o, BPFTIME_STACK_SIZE + (f->pad ? 8 : 0));
	} else if (f->pad) {
		emit_push(o, X86_RAX);
	}
	if (main)
		emit_zero_regs(o, f->used);
}

/* Stops the whole program with r0 = 0: from any frame via the unwind exit,
 * or (no subprograms: only main exists) through main's epilogue. */
static void emit_stop(struct jit *j, struct jit_out *o, const struct jit_func *f)
{
	emit_rr(o, 0x31, false, X86_RAX, X86_RAX); /* xor eax, eax */
	if (j->subprogs) {
		emit1(o, 0xe9); /* jmp unwind (always rel32: its size never changes) */
		emit_rel32_fix(j, o, FIX_UNWIND, 0);
	} else {
		emit_epilogue(o, f);
	}
}

/* The entry stub: jit_fn of programs with subprograms, and the C-callable
 * stub(r1..r5, target in r9) for vm_jit_call.  It saves every callee-saved
 * register, sets UNWIND, starts the frame count at 1 and calls the function;
 * the unwind exit after it is where emit_stop() lands. */
static void emit_stub(struct jit *j, struct jit_out *o)
{
	static const uint8_t saved[] = { X86_RBX, X86_RBP, X86_R12, X86_R13, X86_R14, X86_R15 };

	j->hdr.entry_off = jit_pos(j, o);
	j->entry_fk = (uint32_t)j->nfix;
	emit_zero_regs(o, 1u << 3 | 1u << 4 | 1u << 5); /* r3-r5: no arguments of main */
	/* lea r9, [rip + function 0] */
	emit3(o, 0x4c, 0x8d, 0x0d);
	emit_rel32_fix(j, o, FIX_FUNC, 0);
	j->hdr.stub_off = jit_pos(j, o);
	j->stub_fk = (uint32_t)j->nfix;
	for (size_t i = 0; i < ARRAY_SIZE(saved); i++)
		emit_push(o, saved[i]);
	emit_mov_rr(o, true, UNWIND, X86_RSP);
	emit_zero_regs(o, 1u << 0 | 0xf << 6); /* r0, r6-r9: as the interpreter starts */
	emit2(o, 0x6a, 0x01); /* push 1: the frame count; rsp is now 16-byte aligned */
	emit_call_reg(o, AUX3);
	j->unwind_off = jit_pos(j, o);
	j->unwind_fk = (uint32_t)j->nfix;
	emit_mov_rr(o, true, X86_RSP, UNWIND);
	for (int i = ARRAY_SIZE(saved) - 1; i >= 0; i--)
		emit_pop(o, saved[i]);
	emit1(o, 0xc3);
}

/* A jump to pc target (cc < 0: unconditional): rel32 for now, maybe rel8
 * after relaxation. */
static void emit_jump(struct jit *j, struct jit_out *o, size_t target, int cc)
{
	add_fix(j, jit_pos(j, o), FIX_JUMP, cc, (uint32_t)target, cc < 0 ? 5 : 6);
	if (cc < 0)
		emit1(o, 0xe9);
	else
		emit2(o, 0x0f, (uint8_t)(0x80 + cc));
	emit_u32(o, 0);
}

static int cond_cc(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return X86_CC_E;
	case BPF_JGT:
		return X86_CC_A;
	case BPF_JGE:
		return X86_CC_AE;
	case BPF_JSET:
	case BPF_JNE:
		return X86_CC_NE;
	case BPF_JSGT:
		return X86_CC_G;
	case BPF_JSGE:
		return X86_CC_GE;
	case BPF_JLT:
		return X86_CC_B;
	case BPF_JLE:
		return X86_CC_BE;
	case BPF_JSLT:
		return X86_CC_L;
	case BPF_JSLE:
		return X86_CC_LE;
	}
	return -1;
}

static void emit_cond_jump_cc(struct jit *j, struct jit_out *o, size_t pc,
			      const struct bpftime_insn *insn, bool w, bool negate);

/* if (dst op src/imm) goto target, for JMP (w) and JMP32 */
static void emit_cond_jump(struct jit *j, struct jit_out *o, size_t pc,
			   const struct bpftime_insn *insn, bool w)
{
	emit_cond_jump_cc(j, o, pc, insn, w, false);
}

/* the same, or with the condition negated (x86 conditions come in pairs
 * that differ in bit 0) */
static void emit_cond_jump_cc(struct jit *j, struct jit_out *o, size_t pc,
			      const struct bpftime_insn *insn, bool w, bool negate)
{
	size_t target = pc + 1 + insn->off;
	int dst = reg_map[insn->dst];
	uint8_t op = BPF_OP(insn->code);

	if (target == pc + 1)
		return; /* nothing to decide */
	if (BPF_SRC(insn->code) == BPF_X) {
		emit_rr(o, op == BPF_JSET ? 0x85 : 0x39, w, dst, reg_map[insn->src]);
	} else if (op == BPF_JSET) {
		if (insn->imm >= 0 && insn->imm <= 0xff) {
			/* test dst8, imm8: the other bits are masked out anyway */
			emit_rex(o, false, 0, dst, dst >= 4);
			emit3(o, 0xf6, 0xc0 | (dst & 7), (uint8_t)insn->imm);
		} else {
			emit_rex(o, w, 0, dst, false);
			emit2(o, 0xf7, 0xc0 | (dst & 7));
			emit_u32(o, (uint32_t)insn->imm);
		}
	} else if (insn->imm == 0) {
		emit_rr(o, 0x85, w, dst, dst); /* test: the same flags as cmp 0 */
	} else {
		emit_alu_ri(o, X86_CMP, w, dst, insn->imm);
	}
	emit_jump(j, o, target, cond_cc(op) ^ (negate ? 1 : 0));
}

/* dst /= or %= src (or imm), with the kernel's rules: x / 0 = 0, x % 0 = x,
 * INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0; 32-bit forms zero-extend.  div
 * needs rax and rdx (r0 and r3), which are saved in AUX2/AUX3. */
static void emit_divmod(struct jit_out *o, bool w, bool mod, bool sgn, int dst, bool use_imm,
			int src, int32_t imm)
{
	uint8_t *j_zero = NULL, *j_m1 = NULL, *j_done1, *j_done2 = NULL;
	int result = mod ? X86_RDX : X86_RAX, divisor = AUX;

	if (use_imm) {
		if (imm == 0) { /* the verifier rejects this; keep the rule anyway */
			if (!mod)
				emit_rr(o, 0x31, false, dst, dst);
			else if (!w)
				emit_mov_rr(o, false, dst, dst);
			return;
		}
		if (sgn && imm == -1) {
			if (!mod)
				emit_f7(o, 3, w, dst); /* neg */
			else
				emit_rr(o, 0x31, false, dst, dst);
			return;
		}
		emit_mov_imm32(o, w, AUX, imm);
	} else {
		/* div clobbers rax and rdx: a divisor there goes to AUX first */
		if (src == X86_RAX || src == X86_RDX) {
			emit_mov_rr(o, w, AUX, src);
			divisor = AUX;
		} else {
			divisor = src;
		}
		emit_rr(o, 0x85, w, divisor, divisor); /* test */
		j_zero = emit_jcc8_fwd(o, X86_CC_E);
		if (sgn) {
			emit_alu_ri(o, X86_CMP, w, divisor, -1);
			j_m1 = emit_jcc8_fwd(o, X86_CC_E);
		}
	}
	if (dst != X86_RAX)
		emit_mov_rr(o, true, AUX2, X86_RAX);
	if (dst != X86_RDX)
		emit_mov_rr(o, true, AUX3, X86_RDX);
	if (dst != X86_RAX)
		emit_mov_rr(o, true, X86_RAX, dst);
	if (sgn) {
		if (w)
			emit2(o, 0x48, 0x99); /* cqo */
		else
			emit1(o, 0x99); /* cdq */
	} else {
		emit_rr(o, 0x31, false, X86_RDX, X86_RDX);
	}
	emit_f7(o, sgn ? 7 : 6, w, divisor); /* idiv / div */
	if (dst != result)
		emit_mov_rr(o, true, dst, result);
	if (dst != X86_RAX)
		emit_mov_rr(o, true, X86_RAX, AUX2);
	if (dst != X86_RDX)
		emit_mov_rr(o, true, X86_RDX, AUX3);
	if (use_imm)
		return;
	j_done1 = emit_jcc8_fwd(o, -1);
	jit_patch8(o, j_zero);
	if (!mod)
		emit_rr(o, 0x31, false, dst, dst);
	else if (!w)
		emit_mov_rr(o, false, dst, dst);
	if (sgn) {
		j_done2 = emit_jcc8_fwd(o, -1);
		jit_patch8(o, j_m1);
		if (!mod)
			emit_f7(o, 3, w, dst);
		else
			emit_rr(o, 0x31, false, dst, dst);
		jit_patch8(o, j_done2);
	}
	jit_patch8(o, j_done1);
}

/* dst <<= src etc.: x86 shifts by cl only, and cl is r4's */
static void emit_shift_reg(struct jit_out *o, enum x86_shift op, bool w, int dst, int src)
{
	if (src == X86_RCX) {
		emit_shift_cl(o, op, w, dst);
	} else if (dst == X86_RCX) {
		emit_mov_rr(o, true, AUX, X86_RCX);
		emit_mov_rr(o, true, X86_RCX, src);
		emit_shift_cl(o, op, w, AUX);
		emit_mov_rr(o, true, X86_RCX, AUX);
	} else {
		emit_mov_rr(o, true, AUX, X86_RCX);
		emit_mov_rr(o, true, X86_RCX, src);
		emit_shift_cl(o, op, w, dst);
		emit_mov_rr(o, true, X86_RCX, AUX);
	}
}

static void emit_shift_imm(struct jit_out *o, enum x86_shift op, bool w, int dst, int32_t imm)
{
	uint8_t n = (uint8_t)(imm & (w ? 63 : 31));

	if (n)
		emit_shift_ri(o, op, w, dst, n);
	else if (!w)
		emit_mov_rr(o, false, dst, dst); /* still zero-extends */
}

/* END: le (only truncates on a little-endian host), be and bswap */
static void emit_end(struct jit_out *o, bool swap, int dst, int32_t width)
{
	switch (width) {
	case 16:
		if (swap) {
			/* ror dst16, 8 */
			emit1(o, 0x66);
			emit_rex(o, false, 0, dst, false);
			emit3(o, 0xc1, 0xc8 | (dst & 7), 8);
		}
		emit_0f_rr(o, 0xb7, false, dst, dst, false); /* movzx dst32, dst16 */
		break;
	case 32:
		if (swap) {
			emit_rex(o, false, 0, dst, false);
			emit2(o, 0x0f, 0xc8 | (dst & 7)); /* bswap dst32 */
		} else {
			emit_mov_rr(o, false, dst, dst);
		}
		break;
	default:
		if (swap) {
			emit_rex(o, true, 0, dst, false);
			emit2(o, 0x0f, 0xc8 | (dst & 7)); /* bswap dst */
		}
		break;
	}
}

/* lock *(dst + off) op= src, with the fetch, xchg and cmpxchg forms */
static int emit_atomic(struct jit_out *o, bool w, int base, int16_t off, int src, int32_t imm)
{
	uint8_t *loop;
	int opnd;
	uint8_t alu;

	switch (imm) {
	case BPF_ADD:
		emit_mem_op(o, true, 0x01, w, base, off, src);
		return 0;
	case BPF_OR:
		emit_mem_op(o, true, 0x09, w, base, off, src);
		return 0;
	case BPF_AND:
		emit_mem_op(o, true, 0x21, w, base, off, src);
		return 0;
	case BPF_XOR:
		emit_mem_op(o, true, 0x31, w, base, off, src);
		return 0;
	case BPF_ADD | BPF_FETCH:
		emit_mem_op(o, true, 0x0fc1, w, base, off, src); /* lock xadd */
		return 0;
	case BPF_XCHG:
		emit_mem_op(o, false, 0x87, w, base, off, src); /* xchg locks implicitly */
		return 0;
	case BPF_CMPXCHG:
		emit_mem_op(o, true, 0x0fb1, w, base, off, src); /* compares with rax = r0 */
		if (!w)
			emit_mov_rr(o, false, X86_RAX, X86_RAX); /* success leaves rax[63:32] */
		return 0;
	case BPF_OR | BPF_FETCH:
		alu = 0x09;
		break;
	case BPF_AND | BPF_FETCH:
		alu = 0x21;
		break;
	case BPF_XOR | BPF_FETCH:
		alu = 0x31;
		break;
	default:
		return -EINVAL;
	}
	/* fetch and/or/xor: a cmpxchg loop, which needs rax (r0): save it in
	 * AUX2, address in AUX3, new value in AUX */
	emit_mov_rr(o, true, AUX2, X86_RAX);
	emit_rex(o, true, AUX3, base, false);
	emit1(o, 0x8d); /* lea aux3, [base + off] */
	emit_modrm_mem(o, AUX3, base, off);
	opnd = src == X86_RAX ? AUX2 : src;
	emit_load(o, w ? 8 : 4, false, X86_RAX, AUX3, 0);
	loop = o->p;
	emit_mov_rr(o, true, AUX, X86_RAX);
	emit_rr(o, alu, w, AUX, opnd);
	emit_mem_op(o, true, 0x0fb1, w, AUX3, 0, AUX);
	emit2(o, 0x70 + X86_CC_NE, (uint8_t)(loop - (o->p + 2)));
	if (src != X86_RAX) {
		emit_mov_rr(o, w, src, X86_RAX); /* old value, zero-extended for 32 bits */
		emit_mov_rr(o, true, X86_RAX, AUX2);
	}
	return 0;
}

static const struct jit_func *func_at(const struct jit *j, size_t pc)
{
	size_t lo = 0, hi = j->nfuncs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (j->funcs[mid].start == pc)
			return &j->funcs[mid];
		if (j->funcs[mid].start < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* bpf-to-bpf call with the frame-count check: more than
 * BPFTIME_MAX_CALL_DEPTH frames stop the program with r0 = 0.  The target
 * is function number func, or with func < 0 the address in AUX. */
static void emit_local_call(struct jit *j, struct jit_out *o, const struct jit_func *f,
			    int64_t func)
{
	uint8_t *j_ok;

	/* cmp qword [r12 - 8], MAX */
	emit3(o, 0x49, 0x83, 0x7c);
	emit3(o, 0x24, 0xf8, BPFTIME_MAX_CALL_DEPTH);
	j_ok = emit_jcc8_fwd(o, X86_CC_B);
	emit_stop(j, o, f);
	jit_patch8(o, j_ok);
	emit3(o, 0x49, 0xff, 0x44); /* inc qword [r12 - 8] */
	emit2(o, 0x24, 0xf8);
	if (func >= 0) {
		emit1(o, 0xe8);
		emit_rel32_fix(j, o, FIX_FUNC, (uint32_t)func);
	} else {
		emit_call_reg(o, AUX);
	}
	emit3(o, 0x49, 0xff, 0x4c); /* dec qword [r12 - 8] */
	emit2(o, 0x24, 0xf8);
}

/* After the tail-call helper: rdx says whether a tail call was taken, and
 * then the whole program stops with r0 = 0 (vm.c runs the next one). */
static void emit_tail_call(struct jit *j, struct jit_out *o, const struct jit_func *f, bool relax)
{
	uint8_t *j_cont;

	emit_call_abs(j, o, (const void *)jit_tail_call, relax);
	emit_rr(o, 0x85, false, X86_RDX, X86_RDX);
	j_cont = emit_jcc8_fwd(o, X86_CC_E);
	emit_stop(j, o, f);
	jit_patch8(o, j_cont);
}

/* callx: a helper id, or a function value of a subprogram (see internal.h);
 * anything else stops the program with r0 = 0. */
static void emit_callx(struct jit *j, struct jit_out *o, const struct jit_func *f, int reg)
{
	uint8_t *j_sub, *j_tail, *j_bad1, *j_done1, *j_done2, *j_bad2 = NULL, *j_bad3 = NULL;
	uint8_t *j_done3 = NULL;

	emit_mov_rr(o, true, AUX, reg);
	emit_rex(o, true, 0, AUX, false);
	emit2(o, 0x81, 0xc0 | X86_CMP << 3 | (AUX & 7)); /* cmp r11, MAX_HELPER_ID */
	emit_u32(o, BPFTIME_MAX_HELPER_ID);
	j_sub = emit_jcc8_fwd(o, X86_CC_A);
	emit_alu_ri(o, X86_CMP, true, AUX, VM_HELPER_TAIL_CALL);
	j_tail = emit_jcc8_fwd(o, X86_CC_E);
	emit_mov_imm64(o, AUX2, (uint64_t)(uintptr_t)j->vm->helpers);
	emit3(o, 0x4f, 0x8b, 0x1c); /* mov r11, [r10 + r11 * 8] */
	emit1(o, 0xda);
	emit_rr(o, 0x85, true, AUX, AUX);
	j_bad1 = emit_jcc8_fwd(o, X86_CC_E);
	emit_call_reg(o, AUX);
	j_done1 = emit_jcc8_fwd(o, -1);
	jit_patch8(o, j_tail);
	emit_tail_call(j, o, f, false); /* spanned by the short jumps around it */
	j_done2 = emit_jcc8_fwd(o, -1);
	jit_patch8(o, j_sub);
	if (j->subprogs) {
		emit_mov_imm64(o, AUX2, VM_FUNC_BASE);
		emit_rr(o, 0x29, true, AUX, AUX2); /* sub r11, r10 */
		emit_rex(o, true, 0, AUX, false);
		emit2(o, 0x81, 0xc0 | X86_CMP << 3 | (AUX & 7)); /* cmp r11, cnt */
		emit_u32(o, (uint32_t)j->cnt);
		j_bad2 = emit_jcc8_fwd(o, X86_CC_AE);
		emit3(o, 0x4c, 0x8d, 0x15); /* lea r10, [rip + table] */
		emit_rel32_fix(j, o, FIX_TABLE, 0);
		emit3(o, 0x4f, 0x63, 0x1c); /* movsxd r11, dword [r10 + r11 * 4] */
		emit1(o, 0x9a);
		emit_rr(o, 0x85, true, AUX, AUX);
		j_bad3 = emit_jcc8_fwd(o, X86_CC_E);
		emit_rr(o, 0x01, true, AUX, AUX2); /* add r11, r10 */
		emit_local_call(j, o, f, -1);
		j_done3 = emit_jcc8_fwd(o, -1);
	}
	jit_patch8(o, j_bad1);
	if (j_bad2) {
		jit_patch8(o, j_bad2);
		jit_patch8(o, j_bad3);
	}
	emit_stop(j, o, f);
	jit_patch8(o, j_done1);
	jit_patch8(o, j_done2);
	if (j_done3)
		jit_patch8(o, j_done3);
}

#define ALU64(op) emit_alu_ri(o, op, true, dst, imm)
#define ALU32(op) emit_alu_ri(o, op, false, dst, imm)

static size_t emit_fused(struct jit *j, struct jit_out *o, size_t pc);

/* Emits one instruction (two slots for lddw), or with *fused set the group
 * of *fused instructions emit_fused() folded into one (*fused stays 0
 * otherwise).  Trying the fusion from inside the switch costs no branch of
 * its own on the opcode.  Returns 0 or -errno. */
static int emit_insn(struct jit *j, struct jit_out *o, size_t pc, const struct jit_func *f,
		     size_t *fused)
{
	const struct bpftime_insn *insn = &j->insns[pc];
	int dst = reg_map[insn->dst], src = reg_map[insn->src];
	int32_t imm = insn->imm;
	int16_t off = insn->off;
	bool sdiv = off == 1;

	switch ((enum insn_op)insn->code) {
	case OP_ADD64_IMM:
		ALU64(X86_ADD);
		return 0;
	case OP_ADD64_REG:
		emit_rr(o, 0x01, true, dst, src);
		return 0;
	case OP_SUB64_IMM:
		ALU64(X86_SUB);
		return 0;
	case OP_SUB64_REG:
		emit_rr(o, 0x29, true, dst, src);
		return 0;
	case OP_MUL64_IMM:
		emit_imul_imm(o, true, dst, imm);
		return 0;
	case OP_MUL64_REG:
		emit_0f_rr(o, 0xaf, true, dst, src, false);
		return 0;
	case OP_DIV64_IMM:
		emit_divmod(o, true, false, sdiv, dst, true, 0, imm);
		return 0;
	case OP_DIV64_REG:
		emit_divmod(o, true, false, sdiv, dst, false, src, 0);
		return 0;
	case OP_OR64_IMM:
		ALU64(X86_OR);
		return 0;
	case OP_OR64_REG:
		emit_rr(o, 0x09, true, dst, src);
		return 0;
	case OP_AND64_IMM:
		if (imm >= 0) /* same result, zero-extending 32-bit form */
			ALU32(X86_AND);
		else
			ALU64(X86_AND);
		return 0;
	case OP_AND64_REG:
		emit_rr(o, 0x21, true, dst, src);
		return 0;
	case OP_LSH64_IMM:
		emit_shift_imm(o, X86_SHL, true, dst, imm);
		return 0;
	case OP_LSH64_REG:
		emit_shift_reg(o, X86_SHL, true, dst, src);
		return 0;
	case OP_RSH64_IMM:
		emit_shift_imm(o, X86_SHR, true, dst, imm);
		return 0;
	case OP_RSH64_REG:
		emit_shift_reg(o, X86_SHR, true, dst, src);
		return 0;
	case OP_NEG64:
		emit_f7(o, 3, true, dst);
		return 0;
	case OP_MOD64_IMM:
		emit_divmod(o, true, true, sdiv, dst, true, 0, imm);
		return 0;
	case OP_MOD64_REG:
		emit_divmod(o, true, true, sdiv, dst, false, src, 0);
		return 0;
	case OP_XOR64_IMM:
		ALU64(X86_XOR);
		return 0;
	case OP_XOR64_REG:
		emit_rr(o, 0x31, true, dst, src);
		return 0;
	case OP_MOV64_IMM:
		emit_mov_imm32(o, true, dst, imm);
		return 0;
	case OP_MOV64_REG:
		switch (off) {
		case 0:
			*fused = emit_fused(j, o, pc);
			if (*fused)
				return 0;
			if (dst != src)
				emit_mov_rr(o, true, dst, src);
			return 0;
		case 8:
			emit_0f_rr(o, 0xbe, true, dst, src, true); /* movsx r64, r8 */
			return 0;
		case 16:
			emit_0f_rr(o, 0xbf, true, dst, src, false); /* movsx r64, r16 */
			return 0;
		case 32:
			emit_rex(o, true, dst, src, false); /* movsxd r64, r32 */
			emit2(o, 0x63, 0xc0 | (dst & 7) << 3 | (src & 7));
			return 0;
		}
		break;
	case OP_ARSH64_IMM:
		emit_shift_imm(o, X86_SAR, true, dst, imm);
		return 0;
	case OP_ARSH64_REG:
		emit_shift_reg(o, X86_SAR, true, dst, src);
		return 0;
	case OP_BSWAP:
		emit_end(o, true, dst, imm);
		return 0;
	case OP_ADD32_IMM:
		ALU32(X86_ADD);
		return 0;
	case OP_ADD32_REG:
		emit_rr(o, 0x01, false, dst, src);
		return 0;
	case OP_SUB32_IMM:
		ALU32(X86_SUB);
		return 0;
	case OP_SUB32_REG:
		emit_rr(o, 0x29, false, dst, src);
		return 0;
	case OP_MUL32_IMM:
		emit_imul_imm(o, false, dst, imm);
		return 0;
	case OP_MUL32_REG:
		emit_0f_rr(o, 0xaf, false, dst, src, false);
		return 0;
	case OP_DIV32_IMM:
		emit_divmod(o, false, false, sdiv, dst, true, 0, imm);
		return 0;
	case OP_DIV32_REG:
		emit_divmod(o, false, false, sdiv, dst, false, src, 0);
		return 0;
	case OP_OR32_IMM:
		ALU32(X86_OR);
		return 0;
	case OP_OR32_REG:
		emit_rr(o, 0x09, false, dst, src);
		return 0;
	case OP_AND32_IMM:
		ALU32(X86_AND);
		return 0;
	case OP_AND32_REG:
		emit_rr(o, 0x21, false, dst, src);
		return 0;
	case OP_LSH32_IMM:
		emit_shift_imm(o, X86_SHL, false, dst, imm);
		return 0;
	case OP_LSH32_REG:
		emit_shift_reg(o, X86_SHL, false, dst, src);
		return 0;
	case OP_RSH32_IMM:
		emit_shift_imm(o, X86_SHR, false, dst, imm);
		return 0;
	case OP_RSH32_REG:
		emit_shift_reg(o, X86_SHR, false, dst, src);
		return 0;
	case OP_NEG32:
		emit_f7(o, 3, false, dst);
		return 0;
	case OP_MOD32_IMM:
		emit_divmod(o, false, true, sdiv, dst, true, 0, imm);
		return 0;
	case OP_MOD32_REG:
		emit_divmod(o, false, true, sdiv, dst, false, src, 0);
		return 0;
	case OP_XOR32_IMM:
		ALU32(X86_XOR);
		return 0;
	case OP_XOR32_REG:
		emit_rr(o, 0x31, false, dst, src);
		return 0;
	case OP_MOV32_IMM:
		emit_mov_imm32(o, false, dst, imm);
		return 0;
	case OP_MOV32_REG:
		switch (off) {
		case 0:
			emit_mov_rr(o, false, dst, src);
			return 0;
		case 8:
			emit_0f_rr(o, 0xbe, false, dst, src, true); /* movsx r32, r8 */
			return 0;
		case 16:
			emit_0f_rr(o, 0xbf, false, dst, src, false); /* movsx r32, r16 */
			return 0;
		}
		break;
	case OP_ARSH32_IMM:
		emit_shift_imm(o, X86_SAR, false, dst, imm);
		return 0;
	case OP_ARSH32_REG:
		emit_shift_reg(o, X86_SAR, false, dst, src);
		return 0;
	case OP_LE:
		emit_end(o, false, dst, imm);
		return 0;
	case OP_BE:
		emit_end(o, true, dst, imm);
		return 0;
	case OP_JA:
		if (off)
			emit_jump(j, o, pc + 1 + off, -1);
		return 0;
	case OP_JA32:
		if (imm)
			emit_jump(j, o, pc + 1 + imm, -1);
		return 0;
	case OP_JEQ_IMM:
	case OP_JEQ_REG:
	case OP_JGT_IMM:
	case OP_JGT_REG:
	case OP_JGE_IMM:
	case OP_JGE_REG:
	case OP_JSET_IMM:
	case OP_JSET_REG:
	case OP_JNE_IMM:
	case OP_JNE_REG:
	case OP_JSGT_IMM:
	case OP_JSGT_REG:
	case OP_JSGE_IMM:
	case OP_JSGE_REG:
	case OP_JLT_IMM:
	case OP_JLT_REG:
	case OP_JLE_IMM:
	case OP_JLE_REG:
	case OP_JSLT_IMM:
	case OP_JSLT_REG:
	case OP_JSLE_IMM:
	case OP_JSLE_REG:
		if (off == 1 && (*fused = emit_fused(j, o, pc)))
			return 0;
		emit_cond_jump(j, o, pc, insn, true);
		return 0;
	case OP_JEQ32_IMM:
	case OP_JEQ32_REG:
	case OP_JGT32_IMM:
	case OP_JGT32_REG:
	case OP_JGE32_IMM:
	case OP_JGE32_REG:
	case OP_JSET32_IMM:
	case OP_JSET32_REG:
	case OP_JNE32_IMM:
	case OP_JNE32_REG:
	case OP_JSGT32_IMM:
	case OP_JSGT32_REG:
	case OP_JSGE32_IMM:
	case OP_JSGE32_REG:
	case OP_JLT32_IMM:
	case OP_JLT32_REG:
	case OP_JLE32_IMM:
	case OP_JLE32_REG:
	case OP_JSLT32_IMM:
	case OP_JSLT32_REG:
	case OP_JSLE32_IMM:
	case OP_JSLE32_REG:
		if (off == 1 && (*fused = emit_fused(j, o, pc)))
			return 0;
		emit_cond_jump(j, o, pc, insn, false);
		return 0;
	case OP_CALL:
		if (insn->src == BPFTIME_CALL_LOCAL) {
			const struct jit_func *t = func_at(j, pc + 1 + imm);

			if (!t)
				break;
			emit_local_call(j, o, f, t - j->funcs);
			return 0;
		}
		if (insn->src != BPFTIME_CALL_HELPER || (uint32_t)imm > BPFTIME_MAX_HELPER_ID ||
		    !j->vm->helpers[imm])
			break;
		if (imm == VM_HELPER_TAIL_CALL)
			emit_tail_call(j, o, f, true);
		else
			emit_call_abs(j, o, (const void *)j->vm->helpers[imm], true);
		return 0;
	case OP_CALLX:
		emit_callx(j, o, f, dst);
		return 0;
	case OP_EXIT:
		emit_epilogue(o, f);
		return 0;
	case OP_LDDW:
		emit_mov_imm64(o, dst, (uint32_t)imm | (uint64_t)(uint32_t)insn[1].imm << 32);
		return 0;
	case OP_LDXW:
	case OP_LDXH:
	case OP_LDXB:
	case OP_LDXDW:
		emit_load(o, insn_mem_size(insn->code), false, dst, src, off);
		return 0;
	case OP_LDXSW:
	case OP_LDXSH:
	case OP_LDXSB:
		emit_load(o, insn_mem_size(insn->code), true, dst, src, off);
		return 0;
	case OP_STW:
	case OP_STH:
	case OP_STB:
	case OP_STDW:
		emit_store_imm(o, insn_mem_size(insn->code), dst, off, imm);
		return 0;
	case OP_STXW:
	case OP_STXH:
	case OP_STXB:
	case OP_STXDW:
		emit_store(o, insn_mem_size(insn->code), dst, off, src);
		return 0;
	case OP_ATOMIC32:
		if (emit_atomic(o, false, dst, off, src, imm))
			break;
		return 0;
	case OP_ATOMIC64:
		if (emit_atomic(o, true, dst, off, src, imm))
			break;
		return 0;
	}
	return vm_error(j->vm, EOPNOTSUPP,
			"pc %zu: jit cannot compile opcode 0x%02x (src %u off %d imm %d)", pc,
			insn->code, insn->src, insn->off, insn->imm);
}

/* [base + index + off] operand (index is never rsp: no eBPF register is) */
static void emit_modrm_sib(struct jit_out *o, int reg, int base, int index, int32_t off)
{
	int mod = off == 0 && (base & 7) != X86_RBP ? 0 : is_s8(off) ? 1 : 2;

	emit2(o, (uint8_t)(mod << 6 | (reg & 7) << 3 | 4),
	      (uint8_t)((index & 7) << 3 | (base & 7)));
	if (mod == 1)
		emit1(o, (uint8_t)off);
	else if (mod == 2)
		emit_u32(o, (uint32_t)off);
}

static void emit_rex_sib(struct jit_out *o, bool w, int reg, int base, int index)
{
	uint8_t rex =
		0x40 | (w ? 8 : 0) | ((reg & 8) >> 1) | ((index & 8) >> 2) | ((base & 8) >> 3);

	if (rex != 0x40)
		emit1(o, rex);
}

/* dst = [base + index + off], as emit_load() */
static void emit_load_sib(struct jit_out *o, unsigned int size, bool sx, int dst, int base,
			  int index, int32_t off)
{
	switch (size) {
	case 1:
		emit_rex_sib(o, sx, dst, base, index);
		emit2(o, 0x0f, sx ? 0xbe : 0xb6);
		break;
	case 2:
		emit_rex_sib(o, sx, dst, base, index);
		emit2(o, 0x0f, sx ? 0xbf : 0xb7);
		break;
	case 4:
		emit_rex_sib(o, sx, dst, base, index);
		emit1(o, sx ? 0x63 : 0x8b);
		break;
	default:
		emit_rex_sib(o, true, dst, base, index);
		emit1(o, 0x8b);
		break;
	}
	emit_modrm_sib(o, dst, base, index, off);
}

/* Instruction pairs and triples clang emits all the time, folded into one
 * x86 instruction when the inner ones are no jump targets (so no other path
 * sees the intermediate state):
 *   if (cond) goto +1; goto L     ->  if (!cond) goto L
 *   rD = rA; rD += imm/rB         ->  lea rD, [rA + imm/rB]
 *   rD = rA; rD += rB; rD = *(rD + off)  ->  mov rD, [rA + rB + off]
 * Returns the number of eBPF instructions consumed, 0 if none applies. */
static size_t emit_fused(struct jit *j, struct jit_out *o, size_t pc)
{
	const struct bpftime_insn *a = &j->insns[pc], *b, *c;
	int d, x, y;
	int64_t k;

	if (pc + 1 >= j->cnt || (j->flags[pc + 1] & (JF_TARGET | JF_ENTRY)))
		return 0;
	b = a + 1;
	if ((insn_desc[a->code].flags & F_COND) && a->off == 1 &&
	    (b->code == OP_JA || b->code == OP_JA32)) {
		struct bpftime_insn inv = *a;
		size_t target = pc + 2 + (b->code == OP_JA32 ? b->imm : b->off);

		/* emit_cond_jump() with the negated condition and b's target */
		inv.off = (int16_t)(target - pc - 1);
		if ((int64_t)target - (int64_t)pc - 1 != inv.off || target == pc + 1)
			return 0;
		emit_cond_jump_cc(j, o, pc, &inv, BPF_CLASS(a->code) == BPF_JMP, true);
		return 2;
	}
	if (a->code != OP_MOV64_REG || a->off || a->dst == a->src)
		return 0;
	d = reg_map[a->dst];
	x = reg_map[a->src];
	if (b->dst != a->dst)
		return 0;
	c = pc + 2 < j->cnt && !(j->flags[pc + 2] & (JF_TARGET | JF_ENTRY)) ? b + 1 : NULL;
	if (c && (!(insn_desc[c->code].flags & F_LOAD) || c->src != a->dst))
		c = NULL; /* c: a load through rD */
	if (b->code == OP_ADD64_REG && b->src != a->dst) {
		y = reg_map[b->src];
		if (c && c->dst == a->dst) {
			emit_load_sib(o, insn_mem_size(c->code), BPF_MODE(c->code) == BPF_MEMSX, d,
				      x, y, c->off);
			return 3;
		}
		emit_rex_sib(o, true, d, x, y);
		emit1(o, 0x8d); /* lea d, [x + y] */
		emit_modrm_sib(o, d, x, y, 0);
		if (!c)
			return 2;
		/* rD stays live: the load does not wait for the lea (neither
		 * writes rA or rB before the other reads them) */
		emit_load_sib(o, insn_mem_size(c->code), BPF_MODE(c->code) == BPF_MEMSX,
			      reg_map[c->dst], x, y, c->off);
		return 3;
	}
	if (b->code == OP_ADD64_IMM) {
		k = b->imm;
		if (!c || c->dst != a->dst || !is_s32(k + c->off)) {
			emit_rex(o, true, d, x, false);
			emit1(o, 0x8d); /* lea d, [x + imm] */
			emit_modrm_mem(o, d, x, (int32_t)k);
		}
		if (!c || !is_s32(k + c->off))
			return 2;
		/* rD = rA + imm; rE = *(rD + off): the load straight from rA */
		emit_load(o, insn_mem_size(c->code), BPF_MODE(c->code) == BPF_MEMSX,
			  reg_map[c->dst], x, (int32_t)(k + c->off));
		return 3;
	}
	return 0;
}

static const uint8_t saved_order[] = { X86_RBX, X86_R13, X86_R14, X86_R15 }; /* ORDER REG r6-r9 */

/* Finds the functions (main + every target of a local call or a function
 * value), their register use, and checks that control flow stays inside
 * each function, which the native frames rely on. */
static int jit_analyze(struct jit *j)
{
	const struct bpftime_insn *insns = j->insns;
	const struct bpftime_vm *vm = j->vm;
	size_t cnt = j->cnt, nf = vm->nr_subprogs ? vm->nr_subprogs : 1, fi;
	bool callx = false;

	/* the verifier's subprogram list (subprogs[0] = 0): every local call
	 * target and function value starts one */
	if (vm->nr_subprogs && vm->subprogs[0] != 0)
		return vm_error(j->vm, EINVAL, "jit: subprogram list does not start at pc 0");
	if (reserve(&j->funcs, &j->funcs_cap, nf, sizeof(*j->funcs)))
		return vm_error(j->vm, ENOMEM, "out of memory");
	memset(j->funcs, 0, nf * sizeof(*j->funcs));
	j->nfuncs = nf;
	for (fi = 0; fi < nf; fi++) {
		uint32_t start = fi < vm->nr_subprogs ? vm->subprogs[fi] : 0;

		if (start >= cnt || (fi && start <= j->funcs[fi - 1].start))
			return vm_error(j->vm, EINVAL, "jit: bad subprogram list");
		j->funcs[fi].start = start;
		j->flags[start] |= JF_ENTRY;
	}
	for (fi = 0; fi < nf; fi++) {
		struct jit_func *f = &j->funcs[fi];
		const struct bpftime_insn *last = NULL;
		uint16_t used = 0;
		bool calls = false;

		f->end = fi + 1 < nf ? j->funcs[fi + 1].start : (uint32_t)cnt;
		for (size_t pc = f->start; pc < f->end; pc++) {
			const struct bpftime_insn *in = &insns[pc];
			int64_t target;

			last = in;
			if (in->dst > 10 || in->src > 10)
				return vm_error(j->vm, EINVAL, "pc %zu: invalid register", pc);
			callx |= in->code == OP_CALLX;
			used |= (uint16_t)(1u << in->dst);
			if (in->code != OP_CALL && in->code != OP_LDDW)
				used |= (uint16_t)(1u << in->src);
			if (in->code == OP_CALL || in->code == OP_CALLX)
				calls = true;
			if (insn_desc[in->code].flags & F_JUMP) {
				target =
					(int64_t)pc + 1 + (in->code == OP_JA32 ? in->imm : in->off);
				if (target < f->start || target >= f->end)
					return vm_error(
						j->vm, EOPNOTSUPP,
						"pc %zu: jit: jump to pc %lld leaves its function",
						pc, (long long)target);
				j->flags[target] |=
					JF_TARGET | (target <= (int64_t)pc ? JF_LOOP : 0);
			}
			if (in->code == OP_LDDW)
				pc++;
		}
		if (!last ||
		    (last->code != OP_EXIT && last->code != OP_JA && last->code != OP_JA32))
			return vm_error(
				j->vm, EOPNOTSUPP,
				"pc %u: jit: the function at pc %u falls through into the next",
				f->end - 1, f->start);
		for (int r = 0; r < 4; r++)
			if (used & (1u << (6 + r)))
				f->saved[f->nsaved++] = saved_order[r];
		f->used = used;
		f->stack = used & (1u << 10);
		if (f->stack)
			f->saved[f->nsaved++] = X86_RBP;
		/* entry rsp = 8 (mod 16); calls need 0 after the pushes */
		f->pad = calls && f->nsaved % 2 == 0;
	}
	/* callx may name any subprogram, main included (vm_is_subprog) */
	j->subprogs = nf > 1 || callx;
	return 0;
}

/* Emits the whole program into j->buf in its largest form. */
static int jit_emit(struct jit *j)
{
	struct jit_out o = { j->buf + JIT_HDR };
	size_t fi = 0, fused;
	bool no_fall = false; /* the last instruction does not fall through */
	const struct jit_func *f = NULL;
	int err;

	memset(j->buf, 0xcc, JIT_HDR);
	j->hdr.entry_off = JIT_HDR;
	if (j->subprogs)
		emit_stub(j, &o);
	for (size_t pc = 0; pc < j->cnt; pc++) {
		if (j->buf_cap - jit_pos(j, &o) < JIT_MAX_INSN + JIT_MAX_FUNC) {
			size_t pos = jit_pos(j, &o), cap = j->buf_cap * 2;
			uint8_t *p = mem_realloc(j->buf, cap);

			if (!p)
				return vm_error(j->vm, ENOMEM, "out of memory");
			j->buf = p;
			j->buf_cap = cap;
			o.p = p + pos;
		}
		if (fi < j->nfuncs && pc == j->funcs[fi].start) {
			j->funcs[fi].off = jit_pos(j, &o);
			j->funcs[fi].fk = (uint32_t)j->nfix;
			f = &j->funcs[fi++];
			/* with subprograms the entry stub zeroes them */
			emit_prologue(&o, f, f == j->funcs && !j->subprogs);
			no_fall = false;
		}
		if (j->flags[pc] & JF_LOOP) {
			/* cc: whether the code before falls into the loop head */
			add_fix(j, jit_pos(j, &o), FIX_ALIGN, !no_fall, 0, 15);
			memset(o.p, 0x90, 15);
			o.p += 15;
		}
		j->addrs[pc] = jit_pos(j, &o);
		j->fixidx[pc] = (uint32_t)j->nfix;
		fused = 0;
		err = emit_insn(j, &o, pc, f, &fused);
		if (err)
			return err;
		no_fall = false;
		if (fused) {
			/* the instructions folded in are no jump targets */
			while (--fused) {
				j->addrs[++pc] = jit_pos(j, &o);
				j->fixidx[pc] = (uint32_t)j->nfix;
			}
			continue;
		}
		no_fall = j->insns[pc].code == OP_EXIT || j->insns[pc].code == OP_JA ||
			  j->insns[pc].code == OP_JA32;
		if (j->insns[pc].code == OP_LDDW) {
			j->addrs[++pc] = jit_pos(j, &o);
			j->fixidx[pc] = (uint32_t)j->nfix;
		}
	}
	j->addrs[j->cnt] = jit_pos(j, &o);
	j->fixidx[j->cnt] = (uint32_t)j->nfix;
	j->code_end = j->addrs[j->cnt];
	if (j->oom)
		return vm_error(j->vm, ENOMEM, "out of memory");
	return 0;
}

static uint8_t fix_small_size(const struct jit_fix *x)
{
	switch (x->kind) {
	case FIX_JUMP:
		return 2;
	case FIX_CALL:
		return 5;
	}
	return x->size;
}

/* Offset in the piece of buffer offset pos, fk the first fixup at or
 * after it. */
static uint32_t final_of(const struct jit *j, uint32_t pos, uint32_t fk)
{
	return pos - j->shrunk[fk];
}

/* Recomputes j->shrunk from the current fixup forms. */
static void jit_layout(struct jit *j)
{
	uint32_t s = 0;

	for (size_t i = 0; i < j->nfix; i++) {
		j->shrunk[i] = s;
		if (j->fix[i].small)
			s += j->fix[i].size - fix_small_size(&j->fix[i]);
	}
	j->shrunk[j->nfix] = s;
}

static uint32_t jump_target(const struct jit *j, const struct jit_fix *x)
{
	return j->addrs[x->target] - j->shrunk[x->tk];
}

/* Picks the final form of every fixup: direct calls where the helper is
 * within reach of the whole piece, then short jumps until nothing changes
 * (each pass only shrinks code, so displacements only shrink). */
static void jit_relax(struct jit *j)
{
	int64_t b = (int64_t)(uintptr_t)j->base;
	bool changed;

	for (size_t i = 0; i < j->nfix; i++) {
		struct jit_fix *x = &j->fix[i];
		int64_t t;

		if (x->kind == FIX_JUMP) {
			x->tk = j->fixidx[x->target];
		} else if (x->kind == FIX_CALL) {
			memcpy(&t, j->buf + x->pos + 2, 8);
			x->small = is_s32(t - b) && is_s32(t - (b + (int64_t)j->cap));
		}
	}
	do {
		changed = false;
		jit_layout(j);
		for (size_t i = 0; i < j->nfix; i++) {
			struct jit_fix *x = &j->fix[i];
			int64_t end = (int64_t)(x->pos - j->shrunk[i]) + 2;

			if (x->kind != FIX_JUMP || x->small)
				continue;
			if (is_s8((int64_t)jump_target(j, x) - end)) {
				x->small = true;
				changed = true;
			}
		}
	} while (changed);
	/* loop heads: now that the jumps are fixed, the padding each needs;
	 * less padding only brings jump ends closer, so rel8 still fits */
	for (size_t i = 0, extra = 0; i < j->nfix; i++) {
		struct jit_fix *x = &j->fix[i];

		j->shrunk[i] += (uint32_t)extra;
		if (x->kind == FIX_ALIGN) {
			uint32_t at = x->pos - j->shrunk[i];

			x->pad = (uint8_t)((16 - at % 16) % 16);
			if (x->cc && x->pad > 8)
				x->pad = 0; /* executed on the way in: at most one nop */
			extra += 15 - x->pad;
		}
		if (i + 1 == j->nfix)
			j->shrunk[j->nfix] += (uint32_t)extra;
	}
}

/* n bytes of nop in as few instructions as possible (Intel SDM's
 * recommended multi-byte forms, at most 8 bytes each here) */
static void emit_nops(uint8_t *p, unsigned int n)
{
	static const uint8_t nops[9][8] = {
		{ 0 },
		{ 0x90 },
		{ 0x66, 0x90 },
		{ 0x0f, 0x1f, 0x00 },
		{ 0x0f, 0x1f, 0x40, 0x00 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00 },
		{ 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 },
	};

	while (n) {
		unsigned int k = n > 8 ? 8 : n;

		memcpy(p, nops[k], k);
		p += k;
		n -= k;
	}
}

/* Copies the code into the piece with every fixup in its final form. */
static void jit_copy(struct jit *j)
{
	uint8_t *out = j->out;
	uint32_t prev = 0;

	for (size_t i = 0; i < j->nfix; i++) {
		const struct jit_fix *x = &j->fix[i];
		uint32_t at, to = 0;
		int64_t t;

		memcpy(out, j->buf + prev, x->pos - prev);
		out += x->pos - prev;
		at = (uint32_t)(out - j->out);
		switch (x->kind) {
		case FIX_JUMP:
			to = jump_target(j, x);
			if (x->small) {
				emit_jcc8_fwd(&(struct jit_out){ out }, x->cc)[0] =
					(uint8_t)((int32_t)to - (int32_t)(at + 2));
			} else if (x->cc < 0) {
				out[0] = 0xe9;
				t = (int64_t)to - (at + 5);
				memcpy(out + 1, &(int32_t){ (int32_t)t }, 4);
			} else {
				out[0] = 0x0f;
				out[1] = (uint8_t)(0x80 + x->cc);
				t = (int64_t)to - (at + 6);
				memcpy(out + 2, &(int32_t){ (int32_t)t }, 4);
			}
			break;
		case FIX_CALL:
			if (x->small) {
				memcpy(&t, j->buf + x->pos + 2, 8);
				out[0] = 0xe8;
				t -= (int64_t)(uintptr_t)j->base + at + 5;
				memcpy(out + 1, &(int32_t){ (int32_t)t }, 4);
			} else {
				memcpy(out, j->buf + x->pos, x->size);
			}
			break;
		case FIX_UNWIND:
			to = final_of(j, j->unwind_off, j->unwind_fk);
			break;
		case FIX_FUNC:
			to = final_of(j, j->funcs[x->target].off, j->funcs[x->target].fk);
			break;
		case FIX_ALIGN:
			emit_nops(out, x->pad);
			break;
		case FIX_TABLE:
			to = j->table_off;
			break;
		}
		if (x->kind >= FIX_UNWIND && x->kind <= FIX_TABLE)
			memcpy(out, &(int32_t){ (int32_t)to - (int32_t)(at + 4) }, 4);
		out += x->kind == FIX_ALIGN ? x->pad : x->small ? fix_small_size(x) : x->size;
		prev = x->pos + x->size;
	}
	memcpy(out, j->buf + prev, j->code_end - prev);
}

/* The pc -> subprogram table, once the code is final. */
static void jit_write_table(struct jit *j, uint32_t code_end)
{
	int32_t *table = (int32_t *)(void *)(j->out + j->table_off);

	memset(j->out + code_end, 0xcc, j->table_off - code_end);
	memset(table, 0, j->cnt * sizeof(*table));
	for (size_t i = 0; i < j->nfuncs; i++)
		if (j->flags[j->funcs[i].start] & JF_ENTRY)
			table[j->funcs[i].start] =
				(int32_t)final_of(j, j->funcs[i].off, j->funcs[i].fk) -
				(int32_t)j->table_off;
}

/* The first helper the program calls: the arena puts the code within
 * rel32 reach of it if it can, so that helper calls can be direct calls as
 * in the kernel (calls out of reach stay movabs + call). */
static const void *jit_near(const struct jit *j)
{
	for (size_t i = 0; i < j->nfix; i++) {
		uint64_t t;

		if (j->fix[i].kind != FIX_CALL)
			continue;
		memcpy(&t, j->buf + j->fix[i].pos + 2, 8);
		return (const void *)(uintptr_t)t;
	}
	return NULL;
}

/* Where each pc and each function ended up (bpftime_vm__jited), relative
 * to the first function's prologue; kept by the VM until the next compile. */
static int jit_record_offsets(struct jit *j, uint32_t code_end)
{
	struct bpftime_vm *vm = j->vm;
	uint32_t *offs = mem_alloc((j->cnt + 1 + 2 * j->nfuncs + 1) * sizeof(*offs));
	uint32_t image = final_of(j, j->funcs[0].off, j->funcs[0].fk);

	if (!offs)
		return vm_error(vm, ENOMEM, "out of memory");
	for (size_t pc = 0; pc <= j->cnt; pc++)
		offs[pc] = final_of(j, j->addrs[pc], j->fixidx[pc]) - image;
	for (size_t i = 0; i < j->nfuncs; i++)
		offs[j->cnt + 1 + i] = final_of(j, j->funcs[i].off, j->funcs[i].fk) - image;
	offs[j->cnt + 1 + j->nfuncs] = code_end - image;
	for (size_t i = 0; i < j->nfuncs; i++)
		offs[j->cnt + 1 + j->nfuncs + 1 + i] = j->funcs[i].start;
	free(vm->jit_offs);
	vm->jit_offs = offs;
	vm->jit_image = image;
	vm->jit_nfuncs = (uint32_t)j->nfuncs;
	return 0;
}

int vm_jit_compile(struct bpftime_vm *vm)
{
	size_t end;
	struct jit j = { .vm = vm, .insns = vm->insns, .cnt = vm->cnt };
	uint32_t code_end;
	int err;

	if (!vm->cnt)
		return vm_error(vm, EINVAL, "jit: empty program");
	if (vm->cnt > BPFTIME_MAX_INSNS)
		return vm_error(vm, E2BIG, "jit: program too large");
	vm_jit_free(vm);
	scratch_take(&j);
	/* most instructions take under 16 bytes; jit_emit() grows the buffer */
	if (reserve(&j.addrs, &j.addrs_cap, 2 * (j.cnt + 1), sizeof(*j.addrs)) ||
	    reserve(&j.flags, &j.flags_cap, j.cnt + 1, 1) ||
	    reserve(&j.buf, &j.buf_cap,
		    JIT_HDR + JIT_STUB_MAX + JIT_MAX_INSN + JIT_MAX_FUNC + j.cnt * 16, 1)) {
		err = vm_error(vm, ENOMEM, "out of memory");
		goto out;
	}
	memset(j.flags, 0, j.cnt + 1);
	j.nfix = 0;
	j.fixidx = j.addrs + j.cnt + 1;
	err = jit_analyze(&j);
	if (!err)
		err = jit_emit(&j);
	if (err)
		goto out;
	if (reserve(&j.shrunk, &j.shrunk_cap, j.nfix + 1, sizeof(*j.shrunk))) {
		err = vm_error(vm, ENOMEM, "out of memory");
		goto out;
	}
	/* the largest form bounds the piece */
	end = j.code_end + (j.subprogs ? 8 + j.cnt * 4 : 0);
	err = jit_arena_alloc(&j.piece, end, jit_near(&j));
	if (err) {
		err = vm_error(vm, -err, "jit: cannot map %zu bytes for code", end);
		goto out;
	}
	j.base = j.piece.code;
	j.out = j.piece.write;
	j.cap = j.piece.size;
	jit_relax(&j);
	code_end = final_of(&j, j.code_end, (uint32_t)j.nfix);
	j.table_off = (code_end + 7) & ~7u;
	jit_copy(&j);
	j.hdr.entry_off = final_of(&j, j.hdr.entry_off, j.entry_fk);
	end = code_end;
	if (j.subprogs) {
		j.hdr.stub_off = final_of(&j, j.hdr.stub_off, j.stub_fk);
		j.hdr.table_off = j.table_off;
		j.hdr.table_cnt = (uint32_t)j.cnt;
		jit_write_table(&j, code_end);
		end = j.table_off + j.cnt * 4;
	}
	memcpy(j.out, &j.hdr, sizeof(j.hdr));
	err = jit_record_offsets(&j, code_end);
	if (err)
		goto out;
	err = jit_arena_seal(&j.piece, end); /* pads with INT3 */
	if (err) {
		err = vm_error(vm, -err, "jit: cannot make the code executable");
		goto out;
	}
	vm->jit_mem = j.piece.code;
	vm->jit_size = j.piece.size;
	vm->jit_fn = (vm_jit_fn)(void *)(j.base + j.hdr.entry_off);
	j.piece.code = NULL;
out:
	jit_arena_drop(&j.piece);
	scratch_give(&j);
	return err;
}

void vm_jit_free(struct bpftime_vm *vm)
{
	free(vm->jit_offs);
	vm->jit_offs = NULL;
	vm->jit_nfuncs = 0;
	jit_arena_free(vm->jit_mem, vm->jit_size);
	vm->jit_fn = NULL;
	vm->jit_mem = NULL;
	vm->jit_size = 0;
}

size_t vm_jit_size(const struct bpftime_vm *vm)
{
	return vm->jit_size;
}

int bpftime_vm__jited(const struct bpftime_vm *vm, struct bpftime_jited *out)
{
	if (!vm || !out)
		return -EINVAL;
	if (!vm->jit_fn || !vm->jit_offs)
		return -ENOENT;
	out->image = (const uint8_t *)vm->jit_mem + vm->jit_image;
	out->insn_cnt = (uint32_t)vm->cnt;
	out->insn_off = vm->jit_offs;
	out->nr_funcs = vm->jit_nfuncs;
	out->func_off = vm->jit_offs + vm->cnt + 1;
	out->len = out->func_off[out->nr_funcs];
	out->func_pc = out->func_off + out->nr_funcs + 1;
	return 0;
}

int vm_jit_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret)
{
	const struct jit_header *hdr = vm->jit_mem;
	const uint8_t *base = vm->jit_mem;
	uint64_t (*stub)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, const void *);
	int32_t rel;

	if (!hdr || !hdr->stub_off || pc >= hdr->table_cnt)
		return -ENOENT;
	memcpy(&rel, base + hdr->table_off + pc * 4, sizeof(rel));
	if (!rel)
		return -ENOENT;
	stub = (uint64_t(*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, const void *))(
		uintptr_t)(base + hdr->stub_off);
	*ret = stub(args[0], args[1], args[2], args[3], args[4], base + hdr->table_off + rel);
	return 0;
}
