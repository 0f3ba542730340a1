/* SPDX-License-Identifier: MIT */
/* tests/verifier/vgen.c: the random program generator of vgen.h.
 *
 * The generator keeps a rough idea of what each register holds (nothing, a
 * number, the context, a stack pointer, a map value that may be NULL, a ring
 * buffer record) and picks operations that mostly fit; a "mistake" (with the
 * configured chance) picks a wrong register, offset, size or argument, drops
 * a NULL check or a submit, or makes a loop endless.  r6 holds the context
 * and r9 the packet start (xdp), so most items have a valid base at hand.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "vgen.h"

/* the kernel's encodings (uapi linux/bpf.h), written out so this file needs
 * no kernel headers */
enum {
	LD = 0x00,
	LDX = 0x01,
	ST = 0x02,
	STX = 0x03,
	ALU = 0x04,
	JMP = 0x05,
	JMP32 = 0x06,
	ALU64 = 0x07,
	K = 0x00,
	X = 0x08,
	W = 0x00,
	H = 0x08,
	B = 0x10,
	DW = 0x18,
	IMM = 0x00,
	MEM = 0x60,
	ATOMIC = 0xc0,
	OP_ADD = 0x00,
	OP_SUB = 0x10,
	OP_MUL = 0x20,
	OP_OR = 0x40,
	OP_AND = 0x50,
	OP_LSH = 0x60,
	OP_RSH = 0x70,
	OP_XOR = 0xa0,
	OP_MOV = 0xb0,
	OP_ARSH = 0xc0,
	J_JA = 0x00,
	J_JEQ = 0x10,
	J_JGT = 0x20,
	J_JGE = 0x30,
	J_JNE = 0x50,
	J_JSGT = 0x60,
	J_JLT = 0xa0,
	J_JLE = 0xb0,
	J_JSLT = 0xc0,
	J_CALL = 0x80,
	J_EXIT = 0x90,
};

const struct vgen_map vgen_maps[VGEN_NMAPS] = {
	[VGEN_MAP_HASH] = { 1, 4, 16, 8, 0, 0 },
	[VGEN_MAP_ARRAY] = { 2, 4, 24, 4, 0, 0 },
	[VGEN_MAP_RINGBUF] = { 27, 0, 0, 4096, 0, 0 },
	[VGEN_MAP_RODATA] = { 2, 4, 16, 1, 0x80 /* BPF_F_RDONLY_PROG */, 1 },
};

enum rk {
	RK_NONE, /* not written (or clobbered by a call) */
	RK_SCALAR,
	RK_CTX,
	RK_STACK,
	RK_MAPVAL, /* value of map reg_map[r]; null: not yet checked */
	RK_PKT,
};

struct gen {
	uint64_t s; /* xorshift state */
	int mistakes;
	enum vgen_type type;
	struct bpftime_insn *v;
	size_t n, cap;
	bool oom;
	enum rk rk[11];
	bool null[11];
	int map[11];
	int stack_off[11];
	int depth; /* nesting of branches and loops */
	int avoid; /* a loop's counter register while its body is made, else -1 */
};

static uint64_t rnd(struct gen *g)
{
	g->s ^= g->s << 13;
	g->s ^= g->s >> 7;
	g->s ^= g->s << 17;
	return g->s;
}

static unsigned int pick(struct gen *g, unsigned int n)
{
	return (unsigned int)(rnd(g) % n);
}

static bool oops(struct gen *g)
{
	return pick(g, 1000) < (unsigned int)g->mistakes;
}

static void emit(struct gen *g, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 64;
		struct bpftime_insn *nv = realloc(g->v, cap * sizeof(*nv));

		if (!nv) {
			g->oom = true;
			return;
		}
		g->v = nv;
		g->cap = cap;
	}
	g->v[g->n++] = (struct bpftime_insn){
		.code = code, .dst = dst, .src = src, .off = off, .imm = imm
	};
}

static void lddw(struct gen *g, uint8_t dst, uint8_t src, int32_t imm, int32_t imm2)
{
	emit(g, LD | IMM | DW, dst, src, 0, imm);
	emit(g, 0, 0, 0, 0, imm2);
}

static const uint8_t sizes[] = { B, H, W, DW };
static const int size_bytes[] = { 1, 2, 4, 8 };

static int sz_idx(struct gen *g)
{
	return (int)pick(g, 4);
}

/* a register holding @kind, or -1 */
static int find(struct gen *g, enum rk kind)
{
	int start = (int)pick(g, 10);

	for (int i = 0; i < 10; i++) {
		int r = (start + i) % 10;

		if (r == g->avoid)
			continue;
		if (g->rk[r] == kind && !(kind == RK_MAPVAL && g->null[r]))
			return r;
	}
	return -1;
}

/* a register to overwrite: r0..r5, r7, r8 (r6 ctx, r9 packet stay) */
static int scratch(struct gen *g)
{
	static const int regs[] = { 0, 1, 2, 3, 4, 5, 7, 8 };

	int r = oops(g) ? (int)pick(g, 10) : regs[pick(g, 8)];

	return r == g->avoid ? 0 : r;
}

static void set(struct gen *g, int r, enum rk kind)
{
	g->rk[r] = kind;
	g->null[r] = false;
}

static void clobber_call(struct gen *g)
{
	for (int r = 1; r <= 5; r++)
		set(g, r, RK_NONE);
	set(g, 0, RK_SCALAR);
}

/* a scalar operand register (writes one first when there is none) */
static int scalar(struct gen *g)
{
	int r = find(g, RK_SCALAR);

	if (r < 0 || oops(g)) {
		if (oops(g))
			return (int)pick(g, 10); /* maybe uninitialised, maybe a pointer */
		r = scratch(g);
		emit(g, ALU64 | OP_MOV | K, (uint8_t)r, 0, 0, (int32_t)(rnd(g) % 200) - 50);
		set(g, r, RK_SCALAR);
	}
	return r;
}

static void item_alu(struct gen *g)
{
	static const uint8_t ops[] = { OP_ADD, OP_SUB, OP_MUL, OP_OR,  OP_AND,
				       OP_LSH, OP_RSH, OP_XOR, OP_MOV, OP_ARSH };
	uint8_t op = ops[pick(g, sizeof(ops))];
	int dst = scalar(g), src;
	bool w32 = pick(g, 4) == 0;
	uint8_t cls = w32 ? ALU : ALU64;

	if (op == OP_LSH || op == OP_RSH || op == OP_ARSH) {
		emit(g, cls | op | K, (uint8_t)dst, 0, 0, (int32_t)pick(g, w32 ? 32 : 64));
	} else if (pick(g, 2)) {
		src = scalar(g);
		emit(g, cls | op | X, (uint8_t)dst, (uint8_t)src, 0, 0);
	} else {
		emit(g, cls | op | K, (uint8_t)dst, 0, 0, (int32_t)rnd(g) % 1024);
	}
	if (g->rk[dst] != RK_SCALAR && op == OP_MOV)
		set(g, dst, RK_SCALAR);
}

/* offset for an access of @size bytes into an object of @len bytes */
static int obj_off(struct gen *g, int len, int size)
{
	if (oops(g))
		return (int)pick(g, (unsigned int)len + 16) - 8;
	return (int)pick(g, (unsigned int)(len / size)) * size;
}

/* the context's size and its natural access size index per type */
static const struct {
	int len, si;
} ctx_shape[] = {
	[VGEN_KPROBE] = { 168, -1 },	  [VGEN_XDP] = { 24, 2 },
	[VGEN_TRACEPOINT] = { 64, -1 },	  [VGEN_RAW_TP] = { 96, 3 },
	[VGEN_SOCKET_FILTER] = { 96, 2 }, [VGEN_PERF_EVENT] = { 184, -1 },
};

static void item_ctx(struct gen *g)
{
	int si = ctx_shape[g->type].si, dst = scratch(g), off;

	if (si < 0 || oops(g))
		si = sz_idx(g);
	off = obj_off(g, ctx_shape[g->type].len, size_bytes[si]);
	if (oops(g)) /* a store into the context */
		emit(g, ST | MEM | sizes[si], 6, 0, (int16_t)off, 1);
	else
		emit(g, LDX | MEM | sizes[si], (uint8_t)dst, 6, (int16_t)off, 0);
	set(g, dst, RK_SCALAR);
}

static int stack_off(struct gen *g, int size)
{
	if (oops(g))
		return -(int)pick(g, 530) + 8;
	return -(int)(pick(g, 64) + 1) * 8 + (int)(pick(g, (unsigned int)(8 / size)) * size);
}

static void item_stack(struct gen *g)
{
	int si = sz_idx(g), off = stack_off(g, size_bytes[si]);

	switch (pick(g, 4)) {
	case 0: /* store an immediate */
		emit(g, ST | MEM | sizes[si], 10, 0, (int16_t)off, (int32_t)pick(g, 100));
		break;
	case 1: { /* store a register (spill when 8 bytes) */
		int src = oops(g) ? (int)pick(g, 10) : scalar(g);

		emit(g, STX | MEM | sizes[si], 10, (uint8_t)src, (int16_t)off, 0);
		break;
	}
	case 2: { /* load */
		int dst = scratch(g);

		emit(g, LDX | MEM | sizes[si], (uint8_t)dst, 10, (int16_t)off, 0);
		set(g, dst, RK_SCALAR);
		break;
	}
	default: { /* through a copy of the frame pointer, maybe at a variable offset */
		int p = scratch(g), base = -8 * (int)(pick(g, 32) + 1) - 64;

		emit(g, ALU64 | OP_MOV | X, (uint8_t)p, 10, 0, 0);
		emit(g, ALU64 | OP_ADD | K, (uint8_t)p, 0, 0, base);
		if (pick(g, 3) == 0) {
			int i = scalar(g);

			if (i != p) {
				if (!oops(g))
					emit(g, ALU64 | OP_AND | K, (uint8_t)i, 0, 0,
					     oops(g) ? 0x3ff : 0x38);
				emit(g, ALU64 | OP_ADD | X, (uint8_t)p, (uint8_t)i, 0, 0);
			}
		}
		emit(g, ST | MEM | DW, (uint8_t)p, 0, 0, 7);
		set(g, p, RK_STACK);
		break;
	}
	}
}

/* key at fp-4, r1 = map, r2 = key: the start of a map helper call */
static void map_args(struct gen *g, int map)
{
	if (!oops(g))
		emit(g, ST | MEM | W, 10, 0, -4, (int32_t)pick(g, 6));
	if (oops(g))
		emit(g, ALU64 | OP_MOV | K, 1, 0, 0, 0);
	else
		lddw(g, 1, 1, map, 0);
	emit(g, ALU64 | OP_MOV | X, 2, 10, 0, 0);
	emit(g, ALU64 | OP_ADD | K, 2, 0, 0, oops(g) ? -2 : -4);
}

/* one access of the value in @r (map @map) */
/* a register for a loaded value: not r6..r9, which may hold the pointers */
static int value_dst(struct gen *g)
{
	return oops(g) ? (int)pick(g, 10) : 1 + (int)pick(g, 5);
}

static void value_access(struct gen *g, int r, int map)
{
	int len = map == VGEN_MAP_RINGBUF ? 16 : (int)vgen_maps[map].value;
	int si = sz_idx(g), off = obj_off(g, len, size_bytes[si]);

	switch (pick(g, 5)) {
	case 0:
		emit(g, ST | MEM | sizes[si], (uint8_t)r, 0, (int16_t)off, (int32_t)pick(g, 9));
		break;
	case 1: { /* atomic add */
		int v = scalar(g);

		si = pick(g, 2) ? 3 : 2;
		off = obj_off(g, len, size_bytes[si]);
		emit(g, STX | ATOMIC | sizes[si], (uint8_t)r, (uint8_t)v, (int16_t)off,
		     pick(g, 2) ? 0 : 1 /* fetch */);
		break;
	}
	case 2: { /* variable offset: p = r + (x & mask) */
		int x = value_dst(g);

		if (x == r)
			x = 1;
		emit(g, LDX | MEM | DW, (uint8_t)x, (uint8_t)r, 0, 0);
		if (!oops(g))
			emit(g, ALU64 | OP_AND | K, (uint8_t)x, 0, 0, oops(g) ? 31 : 7);
		emit(g, ALU64 | OP_ADD | X, (uint8_t)x, (uint8_t)r, 0, 0);
		emit(g, LDX | MEM | B, (uint8_t)x, (uint8_t)x, (int16_t)(pick(g, 9)), 0);
		set(g, x, RK_SCALAR);
		break;
	}
	default: {
		int d = value_dst(g);

		if (d == r)
			d = 1;
		emit(g, LDX | MEM | sizes[si], (uint8_t)d, (uint8_t)r, (int16_t)off, 0);
		set(g, d, RK_SCALAR);
		break;
	}
	}
}

static void item_lookup(struct gen *g)
{
	int map = pick(g, 8) == 0 ? VGEN_MAP_RODATA : (int)pick(g, 2);
	int keep = pick(g, 2) ? 7 : 8, check;
	size_t jmp;

	map_args(g, map);
	emit(g, JMP | J_CALL, 0, 0, 0, 1);
	clobber_call(g);
	set(g, 0, RK_MAPVAL);
	g->null[0] = true;
	g->map[0] = map;
	emit(g, ALU64 | OP_MOV | X, (uint8_t)keep, 0, 0, 0);
	g->rk[keep] = RK_MAPVAL;
	g->null[keep] = true;
	g->map[keep] = map;
	/* check r0 or the copy (both become safe), or (mistake) neither */
	check = pick(g, 2) ? 0 : keep;
	jmp = g->n;
	if (!oops(g))
		emit(g, JMP | J_JEQ | K, (uint8_t)check, 0, 0, 0);
	else
		jmp = (size_t)-1;
	g->null[0] = g->null[keep] = false;
	for (unsigned int i = 0, n = 1 + pick(g, 3); i < n; i++)
		value_access(g, pick(g, 2) ? keep : (g->rk[0] == RK_MAPVAL ? 0 : keep), map);
	if (jmp != (size_t)-1 && !g->oom)
		g->v[jmp].off = (int16_t)(g->n - jmp - 1);
	/* after the join the value may be NULL again */
	for (int r = 0; r < 10; r++)
		if (g->rk[r] == RK_MAPVAL)
			g->null[r] = true;
}

static void item_ringbuf(struct gen *g)
{
	int size = oops(g) ? (int)pick(g, 40) : 16;
	size_t jmp;

	lddw(g, 1, 1, oops(g) ? VGEN_MAP_HASH : VGEN_MAP_RINGBUF, 0);
	emit(g, ALU64 | OP_MOV | K, 2, 0, 0, size);
	emit(g, ALU64 | OP_MOV | K, 3, 0, 0, 0);
	emit(g, JMP | J_CALL, 0, 0, 0, 131);
	clobber_call(g);
	emit(g, ALU64 | OP_MOV | X, 7, 0, 0, 0);
	jmp = g->n;
	emit(g, JMP | J_JEQ | K, 7, 0, 0, 0);
	for (unsigned int i = 0, n = pick(g, 3); i < n; i++)
		value_access(g, 7, VGEN_MAP_RINGBUF);
	if (!oops(g)) { /* submit or discard; a mistake leaks it */
		emit(g, ALU64 | OP_MOV | X, 1, 7, 0, 0);
		emit(g, ALU64 | OP_MOV | K, 2, 0, 0, 0);
		emit(g, JMP | J_CALL, 0, 0, 0, pick(g, 2) ? 132 : 133);
		if (oops(g)) /* and use after release */
			emit(g, ST | MEM | DW, 7, 0, 0, 1);
	}
	if (!g->oom)
		g->v[jmp].off = (int16_t)(g->n - jmp - 1);
	clobber_call(g);
	set(g, 0, RK_NONE); /* submit and discard return nothing */
	set(g, 7, RK_NONE);
}

/* a helper with (mostly) fitting arguments */
static void item_helper(struct gen *g)
{
	switch (pick(g, 6)) {
	case 0:
		emit(g, JMP | J_CALL, 0, 0, 0, pick(g, 2) ? 5 : 7); /* ktime, prandom */
		break;
	case 1: { /* probe_read_kernel(stack + off, size, 0) */
		int size = oops(g) ? (int)pick(g, 600) - 50 : (int)(pick(g, 4) + 1) * 8;

		emit(g, ALU64 | OP_MOV | X, 1, 10, 0, 0);
		emit(g, ALU64 | OP_ADD | K, 1, 0, 0, -(int)(pick(g, 4) + 1) * 32);
		if (oops(g)) {
			int s = scalar(g);

			emit(g, ALU64 | OP_MOV | X, 2, (uint8_t)s, 0, 0);
			if (!oops(g))
				emit(g, ALU64 | OP_AND | K, 2, 0, 0, 31);
		} else {
			emit(g, ALU64 | OP_MOV | K, 2, 0, 0, size);
		}
		emit(g, ALU64 | OP_MOV | K, 3, 0, 0, 0);
		if (oops(g))
			emit(g, ALU64 | OP_MOV | X, 1, (uint8_t)pick(g, 10), 0, 0);
		emit(g, JMP | J_CALL, 0, 0, 0, 113);
		break;
	}
	case 2: { /* trace_printk(fmt on the stack, size) */
		emit(g, ST | MEM | DW, 10, 0, -16, 0x0a6425);
		if (!oops(g))
			emit(g, ST | MEM | DW, 10, 0, -8, 0);
		emit(g, ALU64 | OP_MOV | X, 1, 10, 0, 0);
		emit(g, ALU64 | OP_ADD | K, 1, 0, 0, -16);
		emit(g, ALU64 | OP_MOV | K, 2, 0, 0, oops(g) ? 24 : 16);
		emit(g, ALU64 | OP_MOV | X, 3, (uint8_t)scalar(g), 0, 0);
		emit(g, JMP | J_CALL, 0, 0, 0, 6);
		break;
	}
	case 3: { /* map_update_elem(map, key, value on the stack, 0) */
		int map = pick(g, 2) ? VGEN_MAP_HASH : VGEN_MAP_ARRAY;
		int voff = -(int)(pick(g, 8) + 4) * 8;

		for (int o = 0; o < (int)vgen_maps[map].value; o += 8)
			if (!oops(g))
				emit(g, ST | MEM | DW, 10, 0, (int16_t)(voff + o), o);
		map_args(g, map);
		emit(g, ALU64 | OP_MOV | X, 3, 10, 0, 0);
		emit(g, ALU64 | OP_ADD | K, 3, 0, 0, oops(g) ? -8 : voff);
		emit(g, ALU64 | OP_MOV | K, 4, 0, 0, 0);
		emit(g, JMP | J_CALL, 0, 0, 0, 2);
		break;
	}
	case 4: /* map_delete_elem */
		map_args(g, VGEN_MAP_HASH);
		emit(g, JMP | J_CALL, 0, 0, 0, 3);
		break;
	default: { /* random helper, random arguments: mostly refused */
		static const int32_t ids[] = { 1, 2, 6, 12, 14, 16, 25, 93, 113, 131, 132, 165 };

		for (int r = 1; r <= 5; r++)
			if (pick(g, 2))
				emit(g, ALU64 | OP_MOV | K, (uint8_t)r, 0, 0, (int32_t)pick(g, 64));
		emit(g, JMP | J_CALL, 0, 0, 0, ids[pick(g, sizeof(ids) / sizeof(ids[0]))]);
		break;
	}
	}
	clobber_call(g);
}

static void item_pkt(struct gen *g)
{
	int len = 8 * (int)(pick(g, 4) + 1), si = sz_idx(g);
	int off = oops(g) ? (int)pick(g, (unsigned int)len + 8) : obj_off(g, len, size_bytes[si]);
	size_t jmp;

	emit(g, LDX | MEM | W, 2, 6, 4, 0); /* data_end */
	emit(g, ALU64 | OP_MOV | X, 3, 9, 0, 0);
	emit(g, ALU64 | OP_ADD | K, 3, 0, 0, len);
	jmp = g->n;
	emit(g, JMP | (oops(g) ? J_JLT : J_JGT) | X, 3, 2, 0, 0);
	if (pick(g, 2))
		emit(g, LDX | MEM | sizes[si], 4, 9, (int16_t)off, 0);
	else
		emit(g, ST | MEM | sizes[si], 9, 0, (int16_t)off, 1);
	if (!g->oom)
		g->v[jmp].off = (int16_t)(g->n - jmp - 1);
	set(g, 2, RK_NONE);
	set(g, 3, RK_NONE);
	set(g, 4, RK_NONE);
}

static void items(struct gen *g, unsigned int n);

static void item_branch(struct gen *g)
{
	static const uint8_t ops[] = { J_JEQ, J_JGT, J_JGE, J_JNE, J_JSGT, J_JLT, J_JLE, J_JSLT };
	int r = scalar(g);
	size_t jmp = g->n;

	emit(g, (pick(g, 4) ? JMP : JMP32) | ops[pick(g, sizeof(ops))] | K, (uint8_t)r, 0, 0,
	     (int32_t)pick(g, 64));
	g->depth++;
	items(g, 1 + pick(g, 3));
	g->depth--;
	if (!g->oom)
		g->v[jmp].off = (int16_t)(g->n - jmp - 1);
}

static void item_loop(struct gen *g)
{
	static const int32_t bounds[] = { 3, 10, 50, 200, 5000 };
	int32_t bound = bounds[pick(g, 5)];
	int step = oops(g) ? 0 : 1;
	size_t top;

	emit(g, ALU64 | OP_MOV | K, 8, 0, 0, 0);
	set(g, 8, RK_SCALAR);
	top = g->n;
	g->depth++;
	g->avoid = oops(g) ? -1 : 8;
	for (unsigned int i = 0, n = pick(g, 3); i < n; i++)
		item_alu(g);
	g->avoid = -1;
	g->depth--;
	emit(g, ALU64 | OP_ADD | K, 8, 0, 0, step);
	if (oops(g)) /* a counter that skips the bound */
		emit(g, JMP | J_JNE | K, 8, 0, (int16_t)(top - g->n - 1), bound * 2 + 1);
	else
		emit(g, JMP | J_JLT | K, 8, 0, (int16_t)(top - g->n - 1), bound);
}

static void items(struct gen *g, unsigned int n)
{
	for (unsigned int i = 0; i < n && !g->oom; i++) {
		switch (pick(g, g->depth ? 8 : 11)) {
		case 0:
		case 1:
			item_alu(g);
			break;
		case 2:
			item_ctx(g);
			break;
		case 3:
		case 4:
			item_stack(g);
			break;
		case 5:
			item_lookup(g);
			break;
		case 6:
			item_helper(g);
			break;
		case 7:
			if (g->type == VGEN_XDP)
				item_pkt(g);
			else
				item_ringbuf(g);
			break;
		case 8:
			item_branch(g);
			break;
		case 9:
			item_loop(g);
			break;
		default:
			if (g->type == VGEN_XDP)
				item_pkt(g);
			else
				item_stack(g);
			break;
		}
	}
}

uint32_t vgen_prog_type(enum vgen_type t)
{
	/* BPF_PROG_TYPE_*: KPROBE 2, XDP 6, TRACEPOINT 5, RAW_TRACEPOINT 17,
	 * SOCKET_FILTER 1, PERF_EVENT 7 */
	static const uint32_t types[] = { 2, 6, 5, 17, 1, 7 };

	return types[t];
}

/* The license, from its own hash of the seed (the program's random stream
 * stays as it was): a quarter of the programs get one of eight licenses,
 * half of them not GPL-compatible (their gpl_only helper calls must be
 * refused); the others "GPL". */
static const char *license_of(uint64_t seed)
{
	static const char *const lic[] = { "GPL v2", "Dual BSD/GPL", "Dual MIT/GPL", "GPL",
					   "MIT",    "Proprietary",  "BSD",	     "GPL-2.0" };
	uint64_t h = (seed + 0x632be59bd9b4e019ull) * 0xff51afd7ed558ccdull;

	h ^= h >> 33;
	return h % 4 ? "GPL" : lic[(h >> 8) % 8];
}

int vgen_generate(uint64_t seed, const struct vgen_opts *opts, struct vgen_prog *p)
{
	struct gen g;

	memset(&g, 0, sizeof(g));
	memset(p, 0, sizeof(*p));
	g.s = seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	if (!g.s)
		g.s = 1;
	for (int i = 0; i < 4; i++)
		rnd(&g);
	g.avoid = -1;
	g.mistakes = opts && opts->mistakes ? opts->mistakes : 15;
	if (opts && opts->kprobe_only) {
		g.type = VGEN_KPROBE;
	} else {
		/* half kprobes, then xdp, then the other context layouts */
		static const enum vgen_type mix[] = {
			VGEN_KPROBE, VGEN_KPROBE,	 VGEN_KPROBE,	 VGEN_KPROBE,
			VGEN_KPROBE, VGEN_XDP,		 VGEN_XDP,	 VGEN_TRACEPOINT,
			VGEN_RAW_TP, VGEN_SOCKET_FILTER, VGEN_PERF_EVENT
		};

		g.type = mix[pick(&g, sizeof(mix) / sizeof(mix[0]))];
	}
	/* prologue: r6 = ctx; xdp: r9 = packet start */
	emit(&g, ALU64 | OP_MOV | X, 6, 1, 0, 0);
	set(&g, 6, RK_CTX);
	set(&g, 10, RK_STACK);
	if (g.type == VGEN_XDP) {
		emit(&g, LDX | MEM | W, 9, 1, 0, 0);
		set(&g, 9, RK_PKT);
	}
	items(&g, 3 + pick(&g, 14));
	if (oops(&g)) {
		emit(&g, ALU64 | OP_MOV | X, 0, (uint8_t)pick(&g, 11), 0, 0);
	} else {
		emit(&g, ALU64 | OP_MOV | K, 0, 0, 0, g.type == VGEN_XDP ? 2 : 0);
		if (g.type == VGEN_SOCKET_FILTER)
			g.v[g.n - 1].imm = 64; /* bytes to keep */
	}
	emit(&g, JMP | J_EXIT, 0, 0, 0, 0);
	if (g.oom) {
		free(g.v);
		return -ENOMEM;
	}
	p->type = g.type;
	p->insns = g.v;
	p->cnt = g.n;
	p->license = license_of(seed);
	return 0;
}

void vgen_free(struct vgen_prog *p)
{
	free(p->insns);
	memset(p, 0, sizeof(*p));
}
