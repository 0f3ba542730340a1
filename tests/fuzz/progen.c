/* SPDX-License-Identifier: MIT */
/* tests/fuzz/progen.c: the random program generator (see progen.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "progen.h"
#include <bpftime/vm.h>
#include "vm/test_insn.h"
#include "common/compiler.h"

#define REG_CTX	  9  /* context pointer, never an ALU operand */
#define REG_LOOP  8  /* loop counter: written only by loop heads */
#define MAX_FUNCS 4  /* main + up to 3 subprograms */
#define MAX_PEND  64 /* pending forward jumps in one segment */

/* context layout (PROGEN_CTX_SIZE bytes) */
#define CTX_RW	   0 /* [0, 128): random loads, stores, atomics */
#define CTX_RW_LEN 128
#define CTX_STACK  128 /* [128, 192): copy of main's top stack window */
#define CTX_BOTTOM 192 /* [192, 208): copy of main's bottom stack window */
#define CTX_REGS   208 /* [208, 280): r0..r8 at exit */

/* stack windows: [r10 - 64, r10) and [r10 - 512, r10 - 496) (disp32) */
#define STK_TOP	   64
#define STK_BOTTOM 16

struct pend {
	size_t slot; /* the jump instruction */
	int items;   /* items still to skip */
	bool ja32;   /* offset goes into imm */
};

struct gen {
	uint64_t rng;
	const struct progen_opts *opts;
	struct bpftime_insn *insns;
	size_t cnt, cap;
	bool oom;
	struct pend pend[MAX_PEND];
	int npend;
	int func; /* function being generated */
	int nfuncs;
	size_t entry[MAX_FUNCS];
	/* calls to patch once every function's pc is known */
	struct {
		size_t slot;
		int func;
		bool lddw;
	} fix[256];
	int nfix;
	bool in_loop;
};

static uint64_t rnd(struct gen *g)
{
	/* splitmix64: small, good enough, and a pure function of the seed */
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t below(struct gen *g, uint32_t n)
{
	return (uint32_t)(rnd(g) % n);
}

/* Immediates: mostly the interesting ones */
static int32_t rnd_imm(struct gen *g)
{
	static const int32_t special[] = { 0,	   1,  -1,   2,		7,	    31,
					   32,	   63, 64,   255,	0x7fffffff, INT32_MIN,
					   0xffff, -2, 0x80, 0x12345678 };

	if (below(g, 2))
		return special[below(g, ARRAY_SIZE(special))];
	if (below(g, 2))
		return (int32_t)below(g, 256) - 128;
	return (int32_t)(uint32_t)rnd(g);
}

static uint64_t rnd_imm64(struct gen *g)
{
	static const uint64_t special[] = { 0,
					    1,
					    UINT64_MAX,
					    0x8000000000000000ull,
					    0x7fffffffffffffffull,
					    0xffffffff,
					    0x100000000ull,
					    0xffffffff80000000ull };

	if (below(g, 3) == 0)
		return special[below(g, ARRAY_SIZE(special))];
	return rnd(g);
}

/* a register random code may write: r0..r7 (r8 is the loop counter) */
static uint8_t rnd_dst(struct gen *g)
{
	return (uint8_t)below(g, 8);
}

/* a register random code may read: r0..r8 */
static uint8_t rnd_src(struct gen *g)
{
	return (uint8_t)below(g, 9);
}

static void put(struct gen *g, struct bpftime_insn insn)
{
	if (g->cnt == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		struct bpftime_insn *p = realloc(g->insns, cap * sizeof(*p));

		if (!p) {
			g->oom = true;
			return;
		}
		g->insns = p;
		g->cap = cap;
	}
	g->insns[g->cnt++] = insn;
}

static void put_lddw(struct gen *g, uint8_t dst, uint8_t src, uint64_t v)
{
	struct bpftime_insn lo[] = { BPF_LD_IMM64_RAW(dst, src, (uint32_t)v, (uint32_t)(v >> 32)) };

	put(g, lo[0]);
	put(g, lo[1]);
}

/* An item boundary: forward jumps whose target is here get their offset. */
static void item_end(struct gen *g)
{
	for (int i = 0; i < g->npend; i++) {
		if (--g->pend[i].items > 0)
			continue;
		if (!g->oom) {
			int32_t rel = (int32_t)(g->cnt - g->pend[i].slot - 1);

			if (g->pend[i].ja32)
				g->insns[g->pend[i].slot].imm = rel;
			else
				g->insns[g->pend[i].slot].off = (int16_t)rel;
		}
		g->pend[i--] = g->pend[--g->npend];
	}
}

/* End of a segment: the remaining jumps land here. */
static void segment_end(struct gen *g)
{
	for (int i = 0; i < g->npend; i++)
		g->pend[i].items = 1;
	item_end(g);
}

static void add_pend(struct gen *g, bool ja32)
{
	if (g->npend == MAX_PEND) {
		/* no room: make it a jump to the next item */
		g->insns[g->cnt - 1].off = 0;
		return;
	}
	g->pend[g->npend++] = (struct pend){ g->cnt - 1, 1 + (int)below(g, 5), ja32 };
}

static void reinit_args(struct gen *g)
{
	for (uint8_t r = 1; r <= 5; r++)
		put(g, BPF_MOV64_IMM(r, rnd_imm(g)));
}

static const uint8_t alu_ops[] = { BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR,	BPF_AND, BPF_LSH,
				   BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH };

static void gen_alu(struct gen *g)
{
	uint8_t op = alu_ops[below(g, ARRAY_SIZE(alu_ops))];
	uint8_t cls = below(g, 2) ? BPF_ALU64 : BPF_ALU;
	uint8_t dst = rnd_dst(g);
	int16_t off = 0;

	if (op == BPF_NEG) {
		put(g, BPF_RAW_INSN(cls | BPF_NEG, dst, 0, 0, 0));
		return;
	}
	if ((op == BPF_DIV || op == BPF_MOD) && below(g, 2))
		off = 1; /* sdiv / smod */
	if (below(g, 2)) {
		int32_t imm = rnd_imm(g);

		if ((op == BPF_DIV || op == BPF_MOD) && imm == 0)
			imm = below(g, 2) ? -1 : 3;
		put(g, BPF_RAW_INSN(cls | op | BPF_K, dst, 0, off, imm));
		return;
	}
	if (op == BPF_MOV && below(g, 3) == 0) { /* movsx */
		static const int16_t w64[] = { 8, 16, 32 }, w32[] = { 8, 16 };

		off = cls == BPF_ALU64 ? w64[below(g, 3)] : w32[below(g, 2)];
	}
	put(g, BPF_RAW_INSN(cls | op | BPF_X, dst, rnd_src(g), off, 0));
}

static void gen_end(struct gen *g)
{
	static const int32_t widths[] = { 16, 32, 64 };
	static const uint8_t codes[] = { BPF_ALU | BPF_END | BPF_TO_LE,
					 BPF_ALU | BPF_END | BPF_TO_BE,
					 BPF_ALU64 | BPF_END | BPF_TO_LE };

	put(g, BPF_RAW_INSN(codes[below(g, 3)], rnd_dst(g), 0, 0, widths[below(g, 3)]));
}

/* a memory operand: base register and offset of size bytes */
static void rnd_mem(struct gen *g, unsigned int size, bool aligned, uint8_t *base, int16_t *off)
{
	uint32_t o;

	switch (below(g, 4)) {
	case 0:
		*base = 10;
		o = below(g, STK_TOP - size + 1);
		if (aligned)
			o &= ~(size - 1);
		*off = (int16_t)(-STK_TOP + (int)o);
		break;
	case 1:
		*base = 10;
		o = below(g, STK_BOTTOM - size + 1);
		if (aligned)
			o &= ~(size - 1);
		*off = (int16_t)(-BPFTIME_STACK_SIZE + (int)o);
		break;
	default:
		*base = REG_CTX;
		o = below(g, CTX_RW_LEN - size + 1);
		if (aligned)
			o &= ~(size - 1);
		*off = (int16_t)(CTX_RW + o);
		break;
	}
}

static const uint8_t sizes[] = { BPF_B, BPF_H, BPF_W, BPF_DW };

static void gen_load(struct gen *g)
{
	uint8_t sz = sizes[below(g, 4)], base;
	int16_t off;
	bool sx = sz != BPF_DW && below(g, 3) == 0;

	if (below(g, 4) == 0) {
		/* pointer arithmetic, as clang indexes arrays:
		 * rK = i; rD = ctx; rD += rK (or imm); rD = *(rD + off) */
		uint8_t d = rnd_dst(g), k = (uint8_t)((d + 1 + below(g, 7)) % 8);
		uint32_t size = insn_mem_size(sz), i = below(g, CTX_RW_LEN - size + 1);
		int32_t o = (int32_t)below(g, i + 1);

		if (below(g, 2)) {
			put(g, BPF_MOV64_IMM(k, (int32_t)i - o));
			put(g, BPF_MOV64_REG(d, REG_CTX));
			put(g, BPF_ALU64_REG(BPF_ADD, d, k));
		} else {
			put(g, BPF_MOV64_REG(d, REG_CTX));
			put(g, BPF_ALU64_IMM(BPF_ADD, d, (int32_t)i - o));
		}
		if (below(g, 2)) {
			put(g, BPF_RAW_INSN(BPF_LDX | (sx ? BPF_MEMSX : BPF_MEM) | sz, d, d, o, 0));
		} else {
			/* into another register; then rD must not keep an address */
			put(g, BPF_RAW_INSN(BPF_LDX | (sx ? BPF_MEMSX : BPF_MEM) | sz, k, d, o, 0));
			put(g, BPF_MOV64_IMM(d, rnd_imm(g)));
		}
		return;
	}
	rnd_mem(g, insn_mem_size(sz), false, &base, &off);
	put(g, BPF_RAW_INSN(BPF_LDX | (sx ? BPF_MEMSX : BPF_MEM) | sz, rnd_dst(g), base, off, 0));
}

static void gen_store(struct gen *g)
{
	uint8_t sz = sizes[below(g, 4)], base;
	int16_t off;

	rnd_mem(g, insn_mem_size(sz), false, &base, &off);
	if (below(g, 2))
		put(g, BPF_ST_MEM(sz, base, off, rnd_imm(g)));
	else
		put(g, BPF_STX_MEM(sz, base, rnd_src(g), off));
}

static void gen_atomic(struct gen *g)
{
	static const int32_t ops[] = { BPF_ADD,
				       BPF_AND,
				       BPF_OR,
				       BPF_XOR,
				       BPF_ADD | BPF_FETCH,
				       BPF_AND | BPF_FETCH,
				       BPF_OR | BPF_FETCH,
				       BPF_XOR | BPF_FETCH,
				       BPF_XCHG,
				       BPF_CMPXCHG };
	uint8_t sz = below(g, 2) ? BPF_DW : BPF_W, base;
	int32_t op = ops[below(g, ARRAY_SIZE(ops))];
	int16_t off;
	/* fetch forms write src: keep it a writable register */
	uint8_t src = op & BPF_FETCH ? rnd_dst(g) : rnd_src(g);

	rnd_mem(g, insn_mem_size(sz), true, &base, &off);
	put(g, BPF_ATOMIC_OP(sz, op, base, src, off));
}

static const uint8_t jmp_ops[] = { BPF_JEQ,  BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT,
				   BPF_JSGE, BPF_JLT, BPF_JLE, BPF_JSLT, BPF_JSLE };

static void gen_jump(struct gen *g)
{
	uint8_t cls = below(g, 2) ? BPF_JMP : BPF_JMP32;

	switch (below(g, 8)) {
	case 0:
		put(g, BPF_JMP_A(0));
		add_pend(g, false);
		return;
	case 1:
		put(g, BPF_JMP32_A(0));
		add_pend(g, true);
		return;
	}
	if (below(g, 2))
		put(g, BPF_RAW_INSN(cls | jmp_ops[below(g, ARRAY_SIZE(jmp_ops))] | BPF_K,
				    rnd_src(g), 0, 0, rnd_imm(g)));
	else
		put(g, BPF_RAW_INSN(cls | jmp_ops[below(g, ARRAY_SIZE(jmp_ops))] | BPF_X,
				    rnd_src(g), rnd_src(g), 0, 0));
	add_pend(g, false);
}

static void add_fix(struct gen *g, int func, bool lddw)
{
	if (g->nfix < (int)ARRAY_SIZE(g->fix))
		g->fix[g->nfix++] = (typeof(g->fix[0])){ g->cnt - (lddw ? 2 : 1), func, lddw };
}

/* calls; returns false if none fits here */
static bool gen_call(struct gen *g)
{
	int callee = g->func + 1 + (int)below(g, MAX_FUNCS);

	if (g->opts->no_calls)
		return false;
	switch (below(g, 6)) {
	case 0: /* helper */
		put(g, BPF_CALL_HELPER(PROGEN_HELPER_MIX));
		break;
	case 1: /* helper storing through a context pointer */
		put(g, BPF_MOV64_REG(1, REG_CTX));
		put(g, BPF_ALU64_IMM(BPF_ADD, 1, CTX_RW + below(g, CTX_RW_LEN - 8 + 1)));
		put(g, BPF_CALL_HELPER(PROGEN_HELPER_STORE));
		break;
	case 2: /* callx of a helper id */
		put(g, BPF_MOV64_IMM(0, PROGEN_HELPER_MIX));
		put(g, BPF_CALLX(0));
		break;
	case 3: /* bpf-to-bpf call; every subprogram takes the context in r2 */
		if (callee >= g->nfuncs)
			return false;
		put(g, BPF_MOV64_REG(2, REG_CTX));
		put(g, BPF_CALL_REL(0));
		add_fix(g, callee, false);
		break;
	case 4: { /* callx of a function value, in a register that is no argument */
		static const uint8_t regs[] = { 0, 6, 7 };
		uint8_t r = regs[below(g, 3)];

		if (callee >= g->nfuncs)
			return false;
		put(g, BPF_MOV64_REG(2, REG_CTX));
		put_lddw(g, r, BPFTIME_PSEUDO_FUNC, 0);
		add_fix(g, callee, true);
		put(g, BPF_CALLX(r));
		break;
	}
	case 5: /* callback(i, ctx) through the loop helper */
		if (callee >= g->nfuncs)
			return false;
		put(g, BPF_MOV64_REG(3, REG_CTX));
		put_lddw(g, 1, BPFTIME_PSEUDO_FUNC, 0);
		add_fix(g, callee, true);
		put(g, BPF_MOV64_IMM(2, below(g, 4)));
		put(g, BPF_CALL_HELPER(PROGEN_HELPER_LOOP));
		break;
	}
	reinit_args(g);
	return true;
}

static void gen_item(struct gen *g)
{
	uint32_t k = below(g, 100);

	if (k < 30)
		gen_alu(g);
	else if (k < 36)
		gen_end(g);
	else if (k < 40)
		put_lddw(g, rnd_dst(g), 0, rnd_imm64(g));
	else if (k < 52)
		gen_load(g);
	else if (k < 64)
		gen_store(g);
	else if (k < 72)
		gen_atomic(g);
	else if (k < 90)
		gen_jump(g);
	else if (!gen_call(g))
		gen_alu(g);
	item_end(g);
}

/* straight-line code with forward branches, or a bounded loop */
static void gen_segment(struct gen *g, size_t items)
{
	if (!g->in_loop && items >= 4 && below(g, 4) == 0) {
		size_t head;

		put(g, BPF_MOV64_IMM(REG_LOOP, 1 + below(g, 4)));
		head = g->cnt;
		g->in_loop = true;
		for (size_t i = 0; i < items; i++)
			gen_item(g);
		segment_end(g);
		g->in_loop = false;
		put(g, BPF_ALU64_IMM(BPF_ADD, REG_LOOP, -1));
		put(g, BPF_JMP_IMM(BPF_JNE, REG_LOOP, 0, 0));
		if (!g->oom)
			g->insns[g->cnt - 1].off = (int16_t)(head - g->cnt);
		return;
	}
	for (size_t i = 0; i < items; i++)
		gen_item(g);
	segment_end(g);
}

static void gen_function(struct gen *g)
{
	size_t items = 4 + below(g, (uint32_t)g->opts->max_items);

	g->entry[g->func] = g->cnt;
	if (g->func == 0)
		put(g, BPF_MOV64_REG(REG_CTX, 1));
	else
		put(g, BPF_MOV64_REG(REG_CTX, 2));
	/* every register and both stack windows written first */
	for (uint8_t r = 0; r <= 8; r++) {
		if (g->func && r >= 1 && r <= 5 && r != 2 && below(g, 2))
			continue; /* keep the caller's argument (r2 was the context) */
		if (below(g, 4) == 0)
			put_lddw(g, r, 0, rnd_imm64(g));
		else
			put(g, BPF_MOV64_IMM(r, rnd_imm(g)));
	}
	for (int o = 8; o <= STK_TOP; o += 8)
		put(g, BPF_ST_MEM(BPF_DW, 10, -o, rnd_imm(g)));
	for (int o = 0; o < STK_BOTTOM; o += 8)
		put(g, BPF_ST_MEM(BPF_DW, 10, -BPFTIME_STACK_SIZE + o, rnd_imm(g)));
	while (items) {
		size_t n = 1 + below(g, (uint32_t)items);

		gen_segment(g, n);
		items -= n;
	}
	if (g->func == 0) {
		for (uint8_t r = 0; r <= 8; r++)
			put(g, BPF_STX_MEM(BPF_DW, REG_CTX, r, CTX_REGS + 8 * r));
		for (int o = 0; o < STK_TOP; o += 8) {
			put(g, BPF_LDX_MEM(BPF_DW, 1, 10, -STK_TOP + o));
			put(g, BPF_STX_MEM(BPF_DW, REG_CTX, 1, CTX_STACK + o));
		}
		for (int o = 0; o < STK_BOTTOM; o += 8) {
			put(g, BPF_LDX_MEM(BPF_DW, 1, 10, -BPFTIME_STACK_SIZE + o));
			put(g, BPF_STX_MEM(BPF_DW, REG_CTX, 1, CTX_BOTTOM + o));
		}
	} else {
		/* fold the frame into the result */
		put(g, BPF_LDX_MEM(BPF_DW, 1, 10, -8 * (1 + (int)below(g, STK_TOP / 8))));
		put(g, BPF_ALU64_REG(BPF_XOR, 0, 1));
	}
	put(g, BPF_EXIT_INSN());
}

int progen_generate(uint64_t seed, const struct progen_opts *opts, struct progen_prog *prog)
{
	static const struct progen_opts defaults = { .max_items = 40 };
	struct gen g = { .rng = seed, .opts = opts ? opts : &defaults };
	struct progen_opts o;

	if (!g.opts->max_items) {
		o = *g.opts;
		o.max_items = defaults.max_items;
		g.opts = &o;
	}
	memset(prog, 0, sizeof(*prog));
	g.nfuncs = g.opts->no_calls ? 1 : 1 + (int)below(&g, MAX_FUNCS);
	for (g.func = 0; g.func < g.nfuncs; g.func++)
		gen_function(&g);
	if (g.oom) {
		free(g.insns);
		return -ENOMEM;
	}
	for (int i = 0; i < g.nfix; i++) {
		int32_t rel = (int32_t)(g.entry[g.fix[i].func] - g.fix[i].slot - 1);

		g.insns[g.fix[i].slot].imm = rel;
	}
	for (size_t i = 0; i < PROGEN_CTX_SIZE; i += 8) {
		uint64_t v = rnd(&g);

		memcpy(prog->ctx + i, &v, 8);
	}
	prog->insns = g.insns;
	prog->cnt = g.cnt;
	return 0;
}

void progen_free(struct progen_prog *prog)
{
	free(prog->insns);
	prog->insns = NULL;
	prog->cnt = 0;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static uint64_t helper_mix(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return mix64(r1 ^ mix64(r2 ^ mix64(r3 ^ mix64(r4 ^ mix64(r5)))));
}

static uint64_t helper_store(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	uint64_t v = r2 ^ 0x5a5a5a5a5a5a5a5aull;

	(void)r3;
	(void)r4;
	(void)r5;
	memcpy((void *)(uintptr_t)r1, &v, 8);
	return r2 * 3;
}

static uint64_t helper_loop(uint64_t fn, uint64_t n, uint64_t ctx, uint64_t r4, uint64_t r5)
{
	uint64_t acc = 0;

	(void)r4;
	(void)r5;
	for (uint64_t i = 0; i < n && i < 8; i++)
		acc = acc * 31 + bpftime_vm__call_func(fn, i, ctx, 0, 0, 0);
	return acc;
}

int progen_register_helpers(struct bpftime_vm *vm)
{
	int err;

	err = bpftime_vm__register_helper(vm, PROGEN_HELPER_MIX, "progen_mix", helper_mix);
	if (!err)
		err = bpftime_vm__register_helper(vm, PROGEN_HELPER_STORE, "progen_store",
						  helper_store);
	if (!err)
		err = bpftime_vm__register_helper(vm, PROGEN_HELPER_LOOP, "progen_loop",
						  helper_loop);
	return err;
}

int progen_run(const struct progen_prog *prog, enum bpftime_engine engine,
	       struct progen_result *res)
{
	struct bpftime_vm *vm;
	int err;

	memset(res, 0, sizeof(*res));
	memcpy(res->ctx, prog->ctx, sizeof(res->ctx));
	vm = bpftime_vm__new(NULL);
	if (!vm) {
		snprintf(res->msg, sizeof(res->msg), "new: %s", strerror(errno));
		return res->err = -errno;
	}
	err = progen_register_helpers(vm);
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "register helpers: %s", strerror(-err));
		goto out;
	}
	err = bpftime_vm__load(vm, prog->insns, prog->cnt);
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "load: %s", bpftime_vm__last_error(vm));
		goto out;
	}
	err = bpftime_vm__compile(vm, engine);
	if (err) {
		snprintf(res->msg, sizeof(res->msg), "compile (%s): %s",
			 bpftime_engine__name(engine), bpftime_vm__last_error(vm));
		goto out;
	}
	err = bpftime_vm__run(vm, res->ctx, sizeof(res->ctx), &res->r0);
	if (err)
		snprintf(res->msg, sizeof(res->msg), "run (%s): %s", bpftime_engine__name(engine),
			 bpftime_vm__last_error(vm));
out:
	bpftime_vm__free(vm);
	return res->err = err;
}

int progen_compare(const struct progen_prog *prog, enum bpftime_engine a, enum bpftime_engine b,
		   char *why, size_t why_len)
{
	struct progen_result ra, rb;

	if (progen_run(prog, a, &ra)) {
		snprintf(why, why_len, "%s", ra.msg);
		return -1;
	}
	if (progen_run(prog, b, &rb)) {
		snprintf(why, why_len, "%s", rb.msg);
		return -1;
	}
	if (ra.r0 != rb.r0) {
		snprintf(why, why_len, "r0: %s 0x%" PRIx64 ", %s 0x%" PRIx64,
			 bpftime_engine__name(a), ra.r0, bpftime_engine__name(b), rb.r0);
		return -1;
	}
	for (size_t i = 0; i < PROGEN_CTX_SIZE; i++) {
		if (ra.ctx[i] != rb.ctx[i]) {
			snprintf(why, why_len, "context byte %zu: %s 0x%02x, %s 0x%02x", i,
				 bpftime_engine__name(a), ra.ctx[i], bpftime_engine__name(b),
				 rb.ctx[i]);
			return -1;
		}
	}
	return 0;
}
