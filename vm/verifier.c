/* SPDX-License-Identifier: MIT */
/* vm/verifier.c: the memory-safety verifier: abstract interpretation of
 * every path of the program, after the structural pass (verify.c).
 *
 * What it proves, for the program type, helpers and maps described by the
 * embedder's struct bpftime_verifier_ops (bpftime/vm.h):
 *   - registers are written before they are read, r0 at every exit;
 *   - every load, store and atomic goes through a pointer whose type allows
 *     it and stays inside the object: stack (512 bytes per frame, per-byte
 *     written/zero/spilled-register state; uninitialised bytes are never
 *     read), context (the program type's rules), map values and keys (their
 *     sizes; read-only maps are never written), packet data (only below a
 *     range proved by a comparison with the packet end), ringbuf memory;
 *   - maybe-NULL pointers (lookups, reservations) are compared with 0 before
 *     use; the check covers every copy (ids);
 *   - helpers get the arguments their prototype asks for (map kinds, sized
 *     memory, context, callbacks); references taken (ringbuf_reserve) are
 *     released on every path; a spin lock is released on every path and no
 *     helper but unlock is called while it is held;
 *   - termination: loops are explored until they exit (states that repeat
 *     exactly are an infinite loop), and at most BPFTIME_MAX_INSNS
 *     instructions are processed in all; bpf_loop / for_each_map_elem
 *     callbacks are verified as functions called any number of times;
 *     bpf-to-bpf calls get their own frames up to BPFTIME_MAX_CALL_DEPTH.
 * Paths are pruned when their state is within one already proved safe from
 * the same instruction (never within one still being explored, which would
 * not prove termination).  What the comparison may ignore is computed
 * beforehand (analyse): dead registers, and registers and stack slots whose
 * value decides no check from there on (the kernel finds the same by
 * precision backtracking); which registers may point into a stack tells
 * which loads and stores touch stack slots.  States are kept at the
 * kernel's prune points with its heuristics (is_state_visited).
 *
 * Messages use the kernel verifier's words so that logs read the same; the
 * code is our own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "verifier.h"
#include "common/alloc.h"
#include "common/compiler.h"

#define NREGS		 11
#define REG_FP		 10
#define MAX_SLOTS	 (BPFTIME_STACK_SIZE / 8)
#define MAX_FRAMES	 BPFTIME_MAX_CALL_DEPTH
#define MAX_REFS	 64
#define MAX_VAR_OFF	 (1 << 29)
/* When a stored state is worth keeping (the kernel's heuristics): a new
 * state is stored only after NEW_STATE_JMPS jumps and NEW_STATE_INSNS
 * instructions since the last one (LOOP_STATE_* while a state at this pc is
 * still being explored: the iterations of a loop differ anyway), and a
 * completed state that failed to prune more than EVICT_MISS * (hits + 1)
 * times is dropped. */
#define NEW_STATE_JMPS	 2
#define NEW_STATE_INSNS	 8
#define LOOP_STATE_JMPS	 20
#define LOOP_STATE_INSNS 100
#define EVICT_MISS	 3
#define EVICT_MISS_CB	 64 /* callback entries being explored: re-entries converge on them */

enum { ST_INVALID = 0, ST_MISC, ST_ZERO, ST_SPILL };
enum { CB_NONE = 0, CB_LOOP, CB_FOR_EACH };
enum { MARK_PRUNE = 1, MARK_CB_ENTRY = 2, MARK_EXIT_SOON = 4 };

struct vslot {
	uint8_t type[8]; /* byte i is at offset -(slot+1)*8 + i */
	struct vreg spill;
};

struct vframe {
	struct vreg regs[NREGS];
	int32_t callsite;   /* pc of the call in the caller, -1 for the main frame */
	uint8_t cb;	    /* CB_*: a callback of the helper at callsite */
	uint32_t cb_nrefs;  /* references held when the callback was entered */
	uint32_t cb_map;    /* for_each: the map */
	uint32_t cb_entry;  /* the callback's first pc */
	uint32_t entry;	    /* the subprogram this frame runs */
	struct vreg cb_ctx; /* the context argument it was given */
	uint32_t nslots;    /* slots allocated, from the top of the stack */
	struct vslot *slot;
};

struct vref {
	uint32_t id, insn;
};

struct vstate {
	struct vframe *fr[MAX_FRAMES];
	uint32_t cur; /* current frame */
	uint32_t nrefs;
	struct vref *refs; /* MAX_REFS of them once one is held, else NULL */
	bool locked;
	uint32_t lock_map;
	int32_t lock_off;
	/* a callback to enter again (pushed at its exit; see do_exit) */
	bool re_pending, re_entry;
	uint8_t re_kind;
	uint32_t re_callsite, re_entry_pc, re_map;
	struct vreg re_ctx;
	/* pruning bookkeeping */
	struct vstate *parent; /* the newest stored state on this path */
	uint32_t branches;     /* live paths through this stored state */
};

struct vsl {
	struct vsl *next;
	uint32_t hit, miss; /* prunes it made; visits it did not prune */
	struct vstate st;
};

struct vstack_ent {
	struct vstate *st;
	uint32_t pc;
};

struct vlog {
	char *buf;
	size_t len, cap;
};

struct ver {
	struct bpftime_vm *vm;
	const struct bpftime_insn *insns;
	uint32_t cnt;
	struct bpftime_verifier_ops ops;
	struct vstate *st;
	uint32_t pc;
	uint32_t id_gen;
	uint64_t processed;
	uint64_t jmps;			    /* jump-class instructions processed */
	uint64_t prev_jmps, prev_processed; /* when the last state was stored */
	uint32_t total_states, cur_states, peak_states, max_states_per_insn;
	uint8_t *mark;
	uint16_t *live;	 /* registers r0..r9 live before each pc */
	uint16_t *need;	 /* registers whose value may still decide a check (see analyse) */
	uint64_t *sneed; /* the same for the 8-byte stack slots of the current frame */
	uint16_t *fpreg; /* during analyse: registers that may point into a stack */
	uint32_t *depth; /* by subprogram entry pc: the deepest stack byte used */
	struct vsl **sl;
	struct vsl *zombies; /* dropped from sl but still parents of live paths */
	uint32_t *sl_cnt;
	struct vstack_ent *stack;
	size_t sp, stack_cap;
	struct bpftime_verifier_map *maps;
	int32_t *map_src, *map_imm;
	size_t nmaps;
	uint32_t ctx_extent;
	uint8_t *ctxacc;   /* ctx_convert: per pc, 1 a context access, 2 another pointer */
	bool strict_stack; /* refuse reads of unwritten stack (unprivileged rules) */
	uint32_t log_level;
	struct vlog *log;
	char msg[256];
};

/* ---- messages and the log ------------------------------------------------- */

static void vlogf(struct ver *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void vlogf(struct ver *v, const char *fmt, ...)
{
	struct vlog *l = v->log;
	va_list ap;
	int n;

	if (!l)
		return;
	for (;;) {
		size_t room = l->cap - l->len;

		va_start(ap, fmt);
		n = vsnprintf(l->buf ? l->buf + l->len : NULL, l->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (l->buf && (size_t)n < room) {
			l->len += (size_t)n;
			return;
		}
		if (l->len + (size_t)n + 1 > (64u << 20))
			return; /* a runaway log is cut, not the verification */
		size_t cap = (l->cap ? l->cap * 2 : 4096);
		while (cap < l->len + (size_t)n + 1)
			cap *= 2;
		char *nb = mem_realloc(l->buf, cap);
		if (!nb)
			return;
		l->buf = nb;
		l->cap = cap;
	}
}

/* a rejection: the kernel's words in the log, "pc N: ..." in errmsg.
 * rej() fails with EACCES, the kernel's errno for most refusals (memory
 * accesses, argument and pointer types); rej_e() with the kernel's other
 * errno of that refusal: EINVAL (structure, helpers, references, locks,
 * loops, return values, out-of-range pointer math), E2BIG (too large, too
 * deep). */
static int vrej(struct ver *v, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static int vrej(struct ver *v, int err, const char *fmt, va_list ap)
{
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	snprintf(v->vm->errmsg, sizeof(v->vm->errmsg), "pc %u: %.230s", v->pc, v->msg);
	vlogf(v, "%s\n", v->msg);
	return -err;
}

static int rej(struct ver *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int rej(struct ver *v, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vrej(v, EACCES, fmt, ap);
	va_end(ap);
	return err;
}

static int rej_e(struct ver *v, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int rej_e(struct ver *v, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vrej(v, err, fmt, ap);
	va_end(ap);
	return err;
}

static const char *tname(const struct vreg *r)
{
	static const char *const names[] = {
		[VT_NOT_INIT] = "?",
		[VT_SCALAR] = "scalar",
		[VT_CTX] = "ctx",
		[VT_STACK] = "fp",
		[VT_MAP_VALUE] = "map_value",
		[VT_MAP_KEY] = "map_key",
		[VT_MAP_PTR] = "map_ptr",
		[VT_PKT] = "pkt",
		[VT_PKT_META] = "pkt_meta",
		[VT_PKT_END] = "pkt_end",
		[VT_MEM] = "ringbuf_mem",
		[VT_FUNC] = "func",
	};
	static const char *const null_names[] = {
		[VT_MAP_VALUE] = "map_value_or_null",
		[VT_MEM] = "ringbuf_mem_or_null",
	};

	if (r->maybe_null && r->type < ARRAY_SIZE(null_names) && null_names[r->type])
		return null_names[r->type];
	return r->type < ARRAY_SIZE(names) ? names[r->type] : "?";
}

static void print_reg(struct ver *v, int i, const struct vreg *r)
{
	if (r->type == VT_NOT_INIT)
		return;
	if (r->type == VT_SCALAR) {
		if (vv_is_const(r))
			vlogf(v, " R%d=%" PRId64, i, (int64_t)r->var.value);
		else
			vlogf(v,
			      " R%d=scalar(smin=%" PRId64 ",smax=%" PRId64 ",umin=%" PRIu64
			      ",umax=%" PRIu64 ",var_off=(0x%" PRIx64 "; 0x%" PRIx64 "))",
			      i, r->smin, r->smax, r->umin, r->umax, r->var.value, r->var.mask);
		return;
	}
	vlogf(v, " R%d=%s(", i, tname(r));
	if (r->id)
		vlogf(v, "id=%u,", r->id);
	if (r->ref_obj_id)
		vlogf(v, "ref_obj_id=%u,", r->ref_obj_id);
	if (r->type == VT_PKT || r->type == VT_PKT_META)
		vlogf(v, "r=%d,", r->range);
	vlogf(v, "off=%d", r->off);
	if (!vv_is_const(r) || r->var.value)
		vlogf(v, ",smin=%" PRId64 ",smax=%" PRId64, r->smin, r->smax);
	vlogf(v, ")");
}

static void print_state(struct ver *v)
{
	const struct vframe *f = v->st->fr[v->st->cur];

	if (v->st->cur)
		vlogf(v, " frame%u:", v->st->cur);
	for (int i = 0; i < NREGS; i++)
		print_reg(v, i, &f->regs[i]);
	for (uint32_t s = 0; s < f->nslots; s++) {
		if (f->slot[s].type[0] == ST_SPILL) {
			vlogf(v, " fp%d=", -(int)(s + 1) * 8);
			print_reg(v, -1, &f->slot[s].spill);
		} else if (f->slot[s].type[0] != ST_INVALID || f->slot[s].type[7] != ST_INVALID) {
			vlogf(v, " fp%d=", -(int)(s + 1) * 8);
			for (int b = 7; b >= 0; b--)
				vlogf(v, "%c", "?mz"[f->slot[s].type[b] % 3]);
		}
	}
	vlogf(v, "\n");
}

static const char *disasm_helper(void *ctx, int32_t id)
{
	const struct bpftime_vm *vm = ctx;

	return id >= 0 && id <= BPFTIME_MAX_HELPER_ID ? vm->helper_names[id] : NULL;
}

static void print_insn(struct ver *v, uint32_t pc)
{
	struct bpftime_disasm_opts o = { .sz = sizeof(o),
					 .helper_name = disasm_helper,
					 .ctx = v->vm };
	char line[160];

	bpftime_disasm_insn(v->insns, v->cnt, pc, &o, line, sizeof(line));
	vlogf(v, "%u: (%02x) %s\n", pc, v->insns[pc].code, line);
}

/* ---- states ----------------------------------------------------------------- */

static struct vframe *frame_new(void)
{
	return mem_calloc(1, sizeof(struct vframe));
}

static void frame_free(struct vframe *f)
{
	if (f) {
		free(f->slot);
		free(f);
	}
}

static struct vframe *frame_dup(const struct vframe *f)
{
	struct vframe *n = mem_alloc(sizeof(*n));

	if (!n)
		return NULL;
	*n = *f;
	n->slot = NULL;
	if (f->nslots) {
		n->slot = mem_alloc(f->nslots * sizeof(*n->slot));
		if (!n->slot) {
			free(n);
			return NULL;
		}
		memcpy(n->slot, f->slot, f->nslots * sizeof(*n->slot));
	}
	return n;
}

static void state_clear(struct vstate *s)
{
	for (uint32_t i = 0; i < MAX_FRAMES; i++) {
		frame_free(s->fr[i]);
		s->fr[i] = NULL;
	}
	free(s->refs);
	s->refs = NULL;
}

static void state_free(struct vstate *s)
{
	if (s) {
		state_clear(s);
		free(s);
	}
}

/* copies src into dst (dst's frames freed first); false on ENOMEM */
static bool state_copy(struct vstate *dst, const struct vstate *src)
{
	struct vframe *fr[MAX_FRAMES] = { 0 };
	struct vref *refs = NULL;

	if (src->nrefs) {
		refs = mem_alloc(MAX_REFS * sizeof(*refs));
		if (!refs)
			return false;
		memcpy(refs, src->refs, src->nrefs * sizeof(*refs));
	}
	for (uint32_t i = 0; i <= src->cur; i++) {
		fr[i] = frame_dup(src->fr[i]);
		if (!fr[i]) {
			for (uint32_t k = 0; k < i; k++)
				frame_free(fr[k]);
			free(refs);
			return false;
		}
	}
	state_clear(dst);
	*dst = *src;
	memcpy(dst->fr, fr, sizeof(fr));
	dst->refs = refs;
	return true;
}

static int oom(struct ver *v)
{
	return vm_error(v->vm, ENOMEM, "out of memory verifying %u instructions", v->cnt);
}

/* grows frame f's stack to n slots (new ones invalid) */
static int grow_stack(struct ver *v, struct vframe *f, uint32_t n)
{
	struct vslot *s;

	if (n <= f->nslots)
		return 0;
	s = mem_realloc(f->slot, n * sizeof(*s));
	if (!s)
		return oom(v);
	memset(s + f->nslots, 0, (n - f->nslots) * sizeof(*s));
	f->slot = s;
	f->nslots = n;
	return 0;
}

static struct vframe *curf(struct ver *v)
{
	return v->st->fr[v->st->cur];
}

static struct vreg *reg(struct ver *v, int r)
{
	return &curf(v)->regs[r];
}

static uint32_t new_id(struct ver *v)
{
	return ++v->id_gen;
}

/* calls fn on every register and spilled register of every frame */
#define FOR_EACH_REG(st, r, body)                                         \
	do {                                                              \
		for (uint32_t fi_ = 0; fi_ <= (st)->cur; fi_++) {         \
			struct vframe *f_ = (st)->fr[fi_];                \
			for (int ri_ = 0; ri_ < NREGS; ri_++) {           \
				struct vreg *r = &f_->regs[ri_];          \
				body;                                     \
			}                                                 \
			for (uint32_t si_ = 0; si_ < f_->nslots; si_++) { \
				if (f_->slot[si_].type[0] != ST_SPILL)    \
					continue;                         \
				struct vreg *r = &f_->slot[si_].spill;    \
				body;                                     \
			}                                                 \
		}                                                         \
	} while (0)

/* ---- pushing and popping paths ------------------------------------------------ */

static int push_branch(struct ver *v, uint32_t pc, struct vstate **out)
{
	struct vstate *s = mem_calloc(1, sizeof(*s));

	if (!s || !state_copy(s, v->st)) {
		free(s);
		return oom(v);
	}
	if (v->sp == v->stack_cap) {
		size_t cap = v->stack_cap ? v->stack_cap * 2 : 64;
		struct vstack_ent *n = mem_realloc(v->stack, cap * sizeof(*n));

		if (!n) {
			state_free(s);
			return oom(v);
		}
		v->stack = n;
		v->stack_cap = cap;
	}
	if (v->sp >= 8192)
		return rej_e(v, E2BIG, "The sequence of %d jumps is too complex.", (int)v->sp);
	v->stack[v->sp].st = s;
	v->stack[v->sp].pc = pc;
	v->sp++;
	if (s->parent)
		s->parent->branches++;
	if (out)
		*out = s;
	return 0;
}

/* a path ended: stored states along it may now be complete */
static void path_done(struct vstate *s)
{
	for (struct vstate *p = s->parent; p; p = p->parent) {
		if (--p->branches)
			break;
	}
}

/* appends @m to the program's maps (their source and imm are the lookup
 * key: src -1 and the outer map's index for an inner map template) */
static int add_map(struct ver *v, const struct bpftime_verifier_map *m, int32_t src, int32_t imm,
		   uint32_t *idx)
{
	if (v->nmaps % 16 == 0) {
		struct bpftime_verifier_map *nm =
			mem_realloc(v->maps, (v->nmaps + 16) * sizeof(*nm));
		int32_t *ns, *ni;

		if (!nm)
			return oom(v);
		v->maps = nm;
		ns = mem_realloc(v->map_src, (v->nmaps + 16) * sizeof(*ns));
		if (!ns)
			return oom(v);
		v->map_src = ns;
		ni = mem_realloc(v->map_imm, (v->nmaps + 16) * sizeof(*ni));
		if (!ni)
			return oom(v);
		v->map_imm = ni;
	}
	v->maps[v->nmaps] = *m;
	v->map_src[v->nmaps] = src;
	v->map_imm[v->nmaps] = imm;
	*idx = (uint32_t)v->nmaps++;
	return 0;
}

/* ---- map references ------------------------------------------------------- */

static int map_index(struct ver *v, unsigned int src, int32_t imm, int32_t next_imm, uint32_t *idx)
{
	unsigned int key_src = src == BPFTIME_PSEUDO_MAP_VALUE	     ? BPFTIME_PSEUDO_MAP_FD
			       : src == BPFTIME_PSEUDO_MAP_IDX_VALUE ? BPFTIME_PSEUDO_MAP_IDX
								     : src;
	struct bpftime_verifier_map m = { .spin_lock_off = -1 };
	int err;

	for (size_t i = 0; i < v->nmaps; i++) {
		if (v->map_src[i] == (int32_t)key_src && v->map_imm[i] == imm) {
			*idx = (uint32_t)i;
			return 0;
		}
	}
	if (!v->ops.map_info)
		return rej_e(v, EBADF, "fd %d is not pointing to valid bpf_map", imm);
	err = v->ops.map_info(v->ops.ctx, src, imm, next_imm, &m);
	if (err)
		return rej_e(v, EBADF, "fd %d is not pointing to valid bpf_map", imm);
	return add_map(v, &m, (int32_t)key_src, imm, idx);
}

/* ---- register checks ---------------------------------------------------------- */

static int check_read(struct ver *v, int r)
{
	if (reg(v, r)->type == VT_NOT_INIT)
		return rej(v, "R%d !read_ok", r);
	return 0;
}

static bool is_ptr(const struct vreg *r)
{
	return r->type != VT_NOT_INIT && r->type != VT_SCALAR;
}

static bool is_null_const(const struct vreg *r)
{
	return r->type == VT_SCALAR && vv_is_const(r) && r->var.value == 0;
}

/* ---- memory ----------------------------------------------------------------- */

/* the stack bytes [lo, hi) of a frame, hi <= 0: are they all written? (for
 * reads); sets *bad to the first unwritten offset */
static bool stack_init(const struct vframe *f, int lo, int hi, int *bad)
{
	for (int o = lo; o < hi; o++) {
		uint32_t s = (uint32_t)(-o - 1) / 8;
		int b = (o % 8 + 8) % 8;

		if (s >= f->nslots || f->slot[s].type[b] == ST_INVALID) {
			*bad = o;
			return false;
		}
	}
	return true;
}

/* marks stack bytes [lo, hi) written with unknown data (or zeros) */
static void stack_mark(struct vframe *f, int lo, int hi, uint8_t t)
{
	for (int o = lo; o < hi; o++) {
		uint32_t s = (uint32_t)(-o - 1) / 8;
		int b = (o % 8 + 8) % 8;
		struct vslot *sl = &f->slot[s];

		if (sl->type[0] == ST_SPILL) { /* a partial overwrite ends the spill */
			for (int k = 0; k < 8; k++)
				sl->type[k] = (sl->spill.type == VT_SCALAR &&
					       vv_is_const(&sl->spill) && sl->spill.var.value == 0)
						      ? ST_ZERO
						      : ST_MISC;
			sl->spill = (struct vreg){ 0 };
		}
		sl->type[b] = t;
	}
}

static void mark_sized_unknown(struct vreg *r, uint32_t size, bool sext)
{
	vv_mark_unknown(r);
	if (size < 8) {
		vv_truncate(r, size);
		if (sext)
			vv_sext(r, size * 8);
	}
}

/* the range of a pointer's variable offset, as [smin, umax] when
 * non-negative; rejects negative or unbounded variable offsets */
static int var_range(struct ver *v, int regno, const struct vreg *r, int64_t *lo, int64_t *hi)
{
	if (vv_is_const(r)) {
		*lo = *hi = (int64_t)r->var.value;
		return 0;
	}
	if (r->smin < 0)
		return rej(v,
			   "R%d min value is negative, either use unsigned index or do a if (index "
			   ">=0) check.",
			   regno);
	if (r->umax >= MAX_VAR_OFF)
		return rej(v,
			   "R%d unbounded memory access, make sure to bounds check any such access",
			   regno);
	*lo = r->smin;
	*hi = (int64_t)r->umax;
	return 0;
}

/* [off + lo, off + hi + size) inside [0, mem_size) */
static bool in_bounds(int64_t off, int64_t lo, int64_t hi, uint64_t size, uint64_t mem_size)
{
	return off + lo >= 0 && (uint64_t)(off + hi) + size <= mem_size;
}

static int check_stack(struct ver *v, int regno, const struct vreg *r, int32_t off, uint32_t size,
		       bool write, const struct vreg *val, struct vreg *out, bool sext, bool helper)
{
	struct vframe *f = v->st->fr[r->frameno];
	int64_t lo, hi;
	int bad;
	int err;

	if (vv_is_const(r)) {
		lo = hi = (int64_t)r->var.value;
	} else if (r->smin <= -MAX_VAR_OFF || r->smax >= MAX_VAR_OFF) {
		return rej(v, "invalid unbounded variable-offset%s stack R%d",
			   write ? " write to" : " read from", regno);
	} else {
		lo = r->smin;
		hi = r->smax;
	}
	lo += (int64_t)r->off + off;
	hi += (int64_t)r->off + off;
	/* the stack is always accessed aligned (the kernel's strict rule) */
	if (!helper && size > 1 &&
	    ((r->off + off + (int64_t)r->var.value) % (int64_t)size ||
	     (r->var.mask & (size - 1)))) {
		if (vv_is_const(r))
			return rej(v, "misaligned stack access off %" PRId64 "+%d+%d size %u",
				   (int64_t)r->var.value, r->off, off, size);
		return rej(v,
			   "misaligned stack access off (0x%" PRIx64 "; 0x%" PRIx64
			   ")+%d+%d size %u",
			   r->var.value, r->var.mask, r->off, off, size);
	}
	if (lo < -BPFTIME_STACK_SIZE || hi + size > 0 || (helper && size == 0 && lo >= 0)) {
		/* the kernel: EACCES when the first byte is outside the frame,
		 * EINVAL when only the end runs past its top */
		int e = lo < -BPFTIME_STACK_SIZE || lo >= 0 ? EACCES : EINVAL;

		if (vv_is_const(r))
			return rej_e(v, e, "invalid%s stack R%d off=%" PRId64 " size=%u",
				     write ? " write to" : " read from", regno, lo, size);
		return rej_e(v, e,
			     "invalid variable-offset%s stack R%d var_off=(0x%" PRIx64
			     "; 0x%" PRIx64 ") off=%d size=%u",
			     write ? " write to" : " read from", regno, r->var.value, r->var.mask,
			     r->off + off, size);
	}
	if (size == 0)
		return 0;
	if ((uint32_t)-lo > v->depth[f->entry])
		v->depth[f->entry] = (uint32_t)-lo;
	err = grow_stack(v, f, (uint32_t)((-lo + 7) / 8));
	if (err)
		return err;
	if (write) {
		if (lo == hi && val && size == 8 && lo % 8 == 0 && val->type != VT_NOT_INIT) {
			struct vslot *sl = &f->slot[(-lo - 1) / 8];

			/* a whole-slot store of a register: spill it (keeps pointers and bounds) */
			memset(sl->type, ST_SPILL, 8);
			sl->spill = *val;
			return 0;
		}
		if (val && is_ptr(val) && lo == hi)
			return rej(v, "invalid size of register spill");
		stack_mark(f, (int)lo, (int)(hi + size),
			   lo == hi && val && is_null_const(val) ? ST_ZERO : ST_MISC);
		return 0;
	}
	/* unwritten bytes read as unknown data: privileged loaders may do it in
	 * the kernel too (allow_uninit_stack), and it is the frame's own memory */
	if (!v->strict_stack) {
		/* nothing to check */
	} else if (!stack_init(f, (int)lo, (int)(hi + size), &bad)) {
		if (helper)
			return rej(v, "invalid indirect read from stack R%d off %d+%d size %u",
				   regno, (int)lo, bad - (int)lo, size);
		if (lo == hi)
			return rej(v, "invalid read from stack R%d off %d+%d size %u", regno,
				   (int)lo, bad - (int)lo, size);
		return rej(v,
			   "invalid read from stack R%d var_off=(0x%" PRIx64 "; 0x%" PRIx64
			   ") off=%d size=%u",
			   regno, r->var.value, r->var.mask, r->off + off, size);
	}
	if (!out)
		return 0;
	if (lo == hi && size == 8 && lo % 8 == 0 && f->slot[(-lo - 1) / 8].type[0] == ST_SPILL) {
		*out = f->slot[(-lo - 1) / 8].spill;
		return 0;
	}
	if (lo == hi) {
		bool zero = true;
		const struct vslot *first = &f->slot[(-lo - 1) / 8];

		if (first->type[0] == ST_SPILL && is_ptr(&first->spill) && !helper)
			return rej(v, "invalid size of register fill");

		for (int o = (int)lo; o < (int)lo + (int)size; o++) {
			uint32_t s = (uint32_t)(-o - 1) / 8;
			const struct vslot *sl = &f->slot[s];

			if (sl->type[0] == ST_SPILL)
				zero = zero && is_null_const(&sl->spill);
			else if (sl->type[(o % 8 + 8) % 8] != ST_ZERO)
				zero = false;
		}
		if (zero) {
			vv_mark_const(out, 0);
			return 0;
		}
	}
	mark_sized_unknown(out, size, sext);
	return 0;
}

static int check_spin_lock_overlap(struct ver *v, const struct bpftime_verifier_map *m, int64_t lo,
				   int64_t hi_end)
{
	if (m->spin_lock_off >= 0 && lo < m->spin_lock_off + 4 && hi_end > m->spin_lock_off)
		return rej(v, "bpf_spin_lock cannot be accessed directly by load/store");
	return 0;
}

/* one access of @size bytes at r + off; write: val is the stored register
 * (NULL for an immediate or an unknown value); read: *out gets the value */
static int check_mem(struct ver *v, int regno, int32_t off, uint32_t size, bool write,
		     const struct vreg *val, struct vreg *out, bool sext, bool atomic)
{
	struct vreg *r = reg(v, regno);
	int64_t lo, hi, o = (int64_t)r->off + off;
	int err;

	if (r->type == VT_NOT_INIT)
		return rej(v, "R%d !read_ok", regno);
	/* atomics: the kernel's strict alignment comes first, for a number too */
	if (atomic && r->type == VT_SCALAR && size > 1 &&
	    ((r->off + off + (int64_t)r->var.value) % (int64_t)size || (r->var.mask & (size - 1))))
		return rej(v, "misaligned access off (0x%" PRIx64 "; 0x%" PRIx64 ")+%d+%d size %u",
			   r->var.value, r->var.mask, r->off, off, size);
	if (r->maybe_null || !is_ptr(r) || r->type == VT_PKT_END || r->type == VT_MAP_PTR ||
	    r->type == VT_FUNC)
		return rej(v, "R%d invalid mem access '%s'", regno, tname(r));
	if (atomic && r->type != VT_STACK && r->type != VT_MAP_VALUE && r->type != VT_MEM &&
	    !(r->type == VT_CTX && v->ops.raw_ctx))
		return rej(v, "BPF_ATOMIC stores into R%d %s is not allowed", regno, tname(r));
	/* atomics are aligned on every kind of memory */
	if (atomic && r->type != VT_STACK &&
	    ((r->off + off + (int64_t)r->var.value) % (int64_t)size || (r->var.mask & (size - 1))))
		return rej(v,
			   "misaligned %saccess off (0x%" PRIx64 "; 0x%" PRIx64 ")+%d+%d size %u",
			   r->type == VT_MAP_VALUE ? "value " : "", r->var.value, r->var.mask,
			   r->off, off, size);
	switch (r->type) {
	case VT_STACK:
		return check_stack(v, regno, r, off, size, write, val, out, sext, false);
	case VT_MAP_VALUE:
	case VT_MAP_KEY: {
		const struct bpftime_verifier_map *m = &v->maps[r->map];
		uint32_t msize = r->type == VT_MAP_VALUE ? m->value_size : m->key_size;

		err = var_range(v, regno, r, &lo, &hi);
		if (err)
			return err;
		if (!in_bounds(o, lo, hi, size, msize)) {
			if (r->type == VT_MAP_KEY)
				return rej(v,
					   "invalid access to map key, key_size=%u off=%" PRId64
					   " size=%u",
					   msize, o + (o + lo < 0 ? lo : hi), size);
			return rej(v,
				   "invalid access to map value, value_size=%u off=%" PRId64
				   " size=%u",
				   msize, o + (o + lo < 0 ? lo : hi), size);
		}
		if (write && r->type == VT_MAP_KEY)
			return rej(v, "write to map key R%d is not allowed", regno);
		if (write && m->rdonly_prog)
			return rej(v,
				   "write into map forbidden, value_size=%u off=%" PRId64
				   " size=%u",
				   msize, o + lo, size);
		if (r->type == VT_MAP_VALUE) {
			err = check_spin_lock_overlap(v, m, o + lo, o + hi + size);
			if (err)
				return err;
		}
		/* a read-only map's contents are constants (the kernel's
		 * bpf_map_direct_read): a load at a known offset of its one
		 * value (an array of one entry: ro_value) yields a number */
		if (out && !write && !atomic && r->type == VT_MAP_VALUE && lo == hi &&
		    m->ro_value && m->rdonly_prog && m->frozen && m->type == 2 /* array */ &&
		    m->max_entries == 1) {
			uint64_t c = 0;

			memcpy(&c, (const uint8_t *)m->ro_value + o + lo, size); /* LE host */
			if (sext && size < 8 && (c >> (size * 8 - 1)) & 1)
				c |= ~UINT64_C(0) << (size * 8);
			vv_mark_const(out, c);
			return 0;
		}
		break;
	}
	case VT_MEM:
		err = var_range(v, regno, r, &lo, &hi);
		if (err)
			return err;
		if (o + lo < 0)
			return rej(v, "R%d min value is outside of the allowed memory range",
				   regno);
		if (!in_bounds(o, lo, hi, size, r->map))
			return rej(v,
				   "invalid access to memory, mem_size=%u off=%" PRId64 " size=%u",
				   r->map, o + (o + lo < 0 ? lo : hi), size);
		break;
	case VT_PKT:
	case VT_PKT_META:
		err = var_range(v, regno, r, &lo, &hi);
		if (err)
			return err;
		/* the range holds for the pointers of this id, variable part included */
		if (!in_bounds(o, 0, 0, size, (uint64_t)r->range)) {
			/* the kernel's two lines; its off= is the fixed part of
			 * the offset (the register's and the instruction's) */
			err = rej(v,
				  "invalid access to packet, off=%" PRId64
				  " size=%u, R%d(id=%u,off=%" PRId64 ",r=%d)",
				  o, size, regno, r->id, o, r->range);
			vlogf(v, "R%d offset is outside of the packet\n", regno);
			return err;
		}
		break;
	case VT_CTX: {
		enum bpftime_ctx_reg t = BPFTIME_CTX_SCALAR;

		if (v->ops.raw_ctx) {
			err = var_range(v, regno, r, &lo, &hi);
			if (err)
				return err;
			if (!in_bounds(o, lo, hi, size, v->ops.ctx_size))
				return rej(v,
					   "invalid access to memory, mem_size=%u off=%" PRId64
					   " size=%u",
					   v->ops.ctx_size, o + (o + lo < 0 ? lo : hi), size);
			if ((uint64_t)(o + hi) + size > v->ctx_extent)
				v->ctx_extent = (uint32_t)(o + hi + size);
			break;
		}
		if (!vv_is_const(r) || r->var.value)
			return rej(v,
				   "variable ctx access var_off=(0x%" PRIx64 "; 0x%" PRIx64
				   ") disallowed",
				   r->var.value, r->var.mask);
		if (r->off)
			return rej(v, "dereference of modified ctx ptr R%d off=%d disallowed",
				   regno, r->off);
		if (!v->ops.ctx_access || off < 0 ||
		    v->ops.ctx_access(v->ops.ctx, off, size, write, &t))
			return rej(v, "invalid bpf_context access off=%d size=%u", off, size);
		if ((uint64_t)off + size > v->ctx_extent)
			v->ctx_extent = (uint32_t)off + size;
		if (out && t != BPFTIME_CTX_SCALAR) {
			*out = (struct vreg){ .type = t == BPFTIME_CTX_PACKET	    ? VT_PKT
						      : t == BPFTIME_CTX_PACKET_END ? VT_PKT_END
										    : VT_PKT_META };
			vv_mark_const(out, 0);
			out->type = t == BPFTIME_CTX_PACKET	  ? VT_PKT
				    : t == BPFTIME_CTX_PACKET_END ? VT_PKT_END
								  : VT_PKT_META;
			return 0;
		}
		break;
	}
	default:
		return rej(v, "R%d invalid mem access '%s'", regno, tname(r));
	}
	if (out)
		mark_sized_unknown(out, size, sext);
	return 0;
}

/* helper memory arguments: [r, r + size_max) readable (or writable) */
static int check_helper_mem(struct ver *v, int regno, uint64_t size, bool write)
{
	struct vreg *r = reg(v, regno);
	int64_t lo, hi;
	int err;

	if (r->type == VT_NOT_INIT)
		return rej(v, "R%d !read_ok", regno);
	if (r->maybe_null || !is_ptr(r))
		return rej(v,
			   "R%d type=%s expected=fp, pkt, pkt_meta, map_key, map_value, mem, "
			   "ringbuf_mem, buf, trusted_ptr_",
			   regno, tname(r));
	if (size > (1u << 29))
		return rej(v, "R%d unbounded memory access", regno + 1);
	switch (r->type) {
	case VT_STACK:
		err = check_stack(v, regno, r, 0, (uint32_t)size, write, NULL, NULL, false, true);
		return err;
	case VT_MAP_VALUE:
	case VT_MAP_KEY:
	case VT_MEM:
	case VT_PKT:
	case VT_PKT_META:
		if (size == 0)
			return 0;
		return check_mem(v, regno, 0, (uint32_t)size, write, NULL, NULL, false, false);
	case VT_CTX:
		if (!v->ops.raw_ctx)
			break;
		return size ? check_mem(v, regno, 0, (uint32_t)size, write, NULL, NULL, false,
					false)
			    : 0;
	default:
		break;
	}
	UNUSED(lo);
	UNUSED(hi);
	return rej(v,
		   "R%d type=%s expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, "
		   "buf, trusted_ptr_",
		   regno, tname(r));
}

/* ---- pointer arithmetic ------------------------------------------------------- */

static const char *op_name(uint8_t op)
{
	static const char *const n[16] = { "+=",  "-=", "*=", "/=", "|=",   "&=",     "<<=", ">>=",
					   "neg", "%=", "^=", "=",  "s>>=", "endian", "?",   "?" };
	return n[op >> 4];
}

static int ptr_alu(struct ver *v, int dregno, struct vreg *dst, const struct vreg *ptr,
		   const struct vreg *s, uint8_t op, bool ptr_is_src)
{
	struct vreg res = *ptr;

	if (ptr->maybe_null)
		return rej(v, "R%d pointer arithmetic on %s prohibited, null-check it first",
			   dregno, tname(ptr));
	switch (ptr->type) {
	case VT_CTX:
	case VT_STACK:
	case VT_MAP_VALUE:
	case VT_MAP_KEY:
	case VT_PKT:
	case VT_PKT_META:
	case VT_MEM:
		break;
	default:
		return rej(v, "R%d pointer arithmetic on %s prohibited", dregno, tname(ptr));
	}
	if (op != BPF_ADD && op != BPF_SUB) {
		if (op == BPF_AND || op == BPF_OR || op == BPF_XOR)
			return rej(v, "R%d bitwise operator %s on pointer prohibited", dregno,
				   op_name(op));
		return rej(v, "R%d pointer arithmetic with %s operator prohibited", dregno,
			   op_name(op));
	}
	if (op == BPF_SUB && ptr_is_src)
		return rej(v, "R%d tried to subtract pointer from scalar", dregno);
	if (op == BPF_SUB && ptr->type == VT_STACK)
		return rej(v, "R%d subtraction from stack pointer prohibited", dregno);
	if (vv_is_const(s)) {
		int64_t c = (int64_t)s->var.value, n;

		if (op == BPF_SUB)
			c = -c;
		n = (int64_t)ptr->off + c;
		if (c <= -MAX_VAR_OFF || c >= MAX_VAR_OFF || n <= -MAX_VAR_OFF || n >= MAX_VAR_OFF)
			return rej_e(v, EINVAL,
				     "value %" PRId64 " makes %s pointer be out of bounds", c,
				     tname(ptr));
		res.off = (int32_t)n;
		*dst = res;
		return 0;
	}
	if (s->smin == INT64_MIN || s->smin <= -MAX_VAR_OFF)
		return rej_e(v, EINVAL,
			     "math between %s pointer and register with unbounded min value is not "
			     "allowed",
			     tname(ptr));
	/* no upper limit here: the access checks the resulting range */
	{
		struct vreg var = res;

		var.type = VT_SCALAR;
		vv_alu(&var, s, op, 64, 0);
		res.var = var.var;
		res.smin = var.smin;
		res.smax = var.smax;
		res.umin = var.umin;
		res.umax = var.umax;
		res.s32min = var.s32min;
		res.s32max = var.s32max;
		res.u32min = var.u32min;
		res.u32max = var.u32max;
		if (res.smin <= -MAX_VAR_OFF)
			return rej_e(v, EINVAL, "value makes %s pointer be out of bounds",
				     tname(ptr));
	}
	if (res.type == VT_PKT || res.type == VT_PKT_META) {
		res.id = new_id(v); /* a new variable part: ranges proved so far do not apply */
		res.range = 0;
	}
	*dst = res;
	return 0;
}

static int do_alu(struct ver *v, const struct bpftime_insn *in)
{
	bool is64 = BPF_CLASS(in->code) == BPF_ALU64, x = BPF_SRC(in->code) == BPF_X;
	uint8_t op = BPF_OP(in->code);
	struct vreg *dst = reg(v, in->dst), imm;
	const struct vreg *src;
	int err;

	if (op == BPF_MOV) {
		if (!x) {
			vv_mark_const(dst, is64 ? (uint64_t)(int64_t)in->imm : (uint32_t)in->imm);
			return 0;
		}
		err = check_read(v, in->src);
		if (err)
			return err;
		src = reg(v, in->src);
		if (in->off) { /* movsx */
			struct vreg t = *src;

			if (t.type != VT_SCALAR)
				vv_mark_unknown(&t);
			t.id = 0;
			vv_sext(&t, (unsigned int)in->off);
			if (!is64)
				vv_zext32(&t);
			*dst = t;
			return 0;
		}
		if (is64) {
			if (src->type == VT_SCALAR && !vv_is_const(src) && !src->id)
				reg(v, in->src)->id = new_id(v);
			*dst = *reg(v, in->src);
			return 0;
		}
		{
			struct vreg t = *src;

			if (t.type != VT_SCALAR)
				vv_mark_unknown(&t);
			t.id = 0;
			vv_zext32(&t);
			*dst = t;
		}
		return 0;
	}
	err = check_read(v, in->dst);
	if (err)
		return err;
	if (op == BPF_NEG || op == BPF_END) {
		if (dst->type != VT_SCALAR) {
			vv_mark_unknown(dst);
			return 0;
		}
		dst->id = 0;
		if (op == BPF_NEG) {
			vv_alu(dst, dst, BPF_NEG, is64 ? 64 : 32, 0);
			return 0;
		}
		/* byte swaps: a to-le of 16/32 bits only truncates on this host */
		if (in->code == OP_LE) {
			vv_truncate(dst, (unsigned int)in->imm / 8);
			return 0;
		}
		{
			uint64_t val = dst->var.value;
			bool k = vv_is_const(dst);

			vv_mark_unknown(dst);
			if (in->imm < 64)
				vv_truncate(dst, (unsigned int)in->imm / 8);
			if (k) {
				uint64_t r = in->imm == 16   ? __builtin_bswap16((uint16_t)val)
					     : in->imm == 32 ? __builtin_bswap32((uint32_t)val)
							     : __builtin_bswap64(val);
				vv_mark_const(dst, r);
			}
		}
		return 0;
	}
	if (x) {
		err = check_read(v, in->src);
		if (err)
			return err;
		src = reg(v, in->src);
	} else {
		vv_mark_const(&imm, is64 ? (uint64_t)(int64_t)in->imm : (uint32_t)in->imm);
		src = &imm;
	}
	if (is_ptr(dst) || is_ptr(src)) {
		/* the kernel's order: two pointers, then 32-bit, then the rest */
		if (is_ptr(dst) && is_ptr(src)) {
			if (op == BPF_SUB) {
				vv_mark_unknown(dst); /* a difference of two pointers */
				if (!is64)
					vv_zext32(dst);
				return 0;
			}
			return rej(v, "R%d pointer %s pointer prohibited", in->dst, op_name(op));
		}
		if (!is64) {
			if (op == BPF_SUB) { /* a meaningless number */
				vv_mark_unknown(dst);
				vv_zext32(dst);
				return 0;
			}
			return rej(v, "R%d 32-bit pointer arithmetic prohibited", in->dst);
		}
		if (is_ptr(dst))
			return ptr_alu(v, in->dst, dst, dst, src, op, false);
		return ptr_alu(v, in->dst, dst, src, dst, op, true);
	}
	dst->id = 0;
	vv_alu(dst, src, op, is64 ? 64 : 32, in->off);
	return 0;
}

/* ---- loads, stores, atomics --------------------------------------------------- */

static unsigned int size_of(uint8_t code)
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

/* Each instruction must always access the context or never (the kernel's
 * rule, in its words, for every program type): with ctx_convert a context
 * access is rewritten at load time. */
static int note_ctx_access(struct ver *v, int regno)
{
	uint8_t kind;

	if (v->ops.raw_ctx)
		return 0;
	kind = reg(v, regno)->type == VT_CTX ? 1 : 2;
	if (v->ctxacc[v->pc] && v->ctxacc[v->pc] != kind)
		return rej_e(v, EINVAL, "same insn cannot be used with different pointers");
	v->ctxacc[v->pc] = kind;
	return 0;
}

static int do_ldx(struct ver *v, const struct bpftime_insn *in)
{
	struct vreg out;
	int err = check_read(v, in->src);

	if (!err)
		err = note_ctx_access(v, in->src);
	if (err)
		return err;
	memset(&out, 0, sizeof(out));
	err = check_mem(v, in->src, in->off, size_of(in->code), false, NULL, &out,
			BPF_MODE(in->code) == BPF_MEMSX, false);
	if (err)
		return err;
	*reg(v, in->dst) = out;
	return 0;
}

static int do_st(struct ver *v, const struct bpftime_insn *in)
{
	struct vreg val, *valp = NULL;
	int err = check_read(v, in->dst);

	if (err)
		return err;
	if (BPF_CLASS(in->code) == BPF_STX) {
		err = check_read(v, in->src);
		if (err)
			return err;
		valp = reg(v, in->src);
	} else {
		vv_mark_const(&val, (uint64_t)(int64_t)in->imm);
		valp = &val;
	}
	val = *valp;
	err = note_ctx_access(v, in->dst);
	if (err)
		return err;
	return check_mem(v, in->dst, in->off, size_of(in->code), true, &val, NULL, false, false);
}

static int do_atomic(struct ver *v, const struct bpftime_insn *in)
{
	unsigned int size = size_of(in->code);
	struct vreg old;
	int err = check_read(v, in->dst);

	if (!err)
		err = check_read(v, in->src);
	if (err)
		return err;
	if (in->imm == BPF_CMPXCHG) {
		err = check_read(v, 0);
		if (err)
			return err;
	}
	err = note_ctx_access(v, in->dst);
	if (err)
		return err;
	err = check_mem(v, in->dst, in->off, size, false, NULL, &old, false, true);
	/* the kernel checks the write after the fetched value has landed:
	 * when the register it lands in is the address, the address is gone
	 * (a fetch into dst, cmpxchg with dst r0) and the write is refused */
	if (!err && ((in->imm == BPF_CMPXCHG && in->dst == 0) ||
		     (in->imm != BPF_CMPXCHG && in->imm & BPF_FETCH && in->src == in->dst)))
		vv_mark_unknown(reg(v, in->dst));
	if (!err)
		err = check_mem(v, in->dst, in->off, size, true, NULL, NULL, false, true);
	if (err)
		return err;
	if (in->imm == BPF_CMPXCHG)
		mark_sized_unknown(reg(v, 0), size, false);
	else if (in->imm & BPF_FETCH)
		mark_sized_unknown(reg(v, in->src), size, false);
	return 0;
}

static int do_lddw(struct ver *v, const struct bpftime_insn *in)
{
	struct vreg *dst = reg(v, in->dst);
	uint32_t idx = 0;
	int err;

	switch (in->src) {
	case BPFTIME_PSEUDO_IMM64:
		vv_mark_const(dst,
			      (uint64_t)(uint32_t)in->imm | ((uint64_t)(uint32_t)in[1].imm << 32));
		return 0;
	case BPFTIME_PSEUDO_FUNC:
		vv_mark_const(dst, 0);
		dst->type = VT_FUNC;
		dst->map = (uint32_t)((int64_t)v->pc + 1 + in->imm);
		return 0;
	case BPFTIME_PSEUDO_MAP_FD:
	case BPFTIME_PSEUDO_MAP_IDX:
	case BPFTIME_PSEUDO_MAP_VALUE:
	case BPFTIME_PSEUDO_MAP_IDX_VALUE:
		err = map_index(v, in->src, in->imm, in[1].imm, &idx);
		if (err)
			return err;
		vv_mark_const(dst, 0);
		dst->map = idx;
		if (in->src == BPFTIME_PSEUDO_MAP_FD || in->src == BPFTIME_PSEUDO_MAP_IDX) {
			dst->type = VT_MAP_PTR;
			return 0;
		}
		dst->type = VT_MAP_VALUE;
		if (in[1].imm < 0 || (uint32_t)in[1].imm >= v->maps[idx].value_size)
			return rej(v, "invalid access to map value pointer, value_size=%u off=%d",
				   v->maps[idx].value_size, in[1].imm);
		dst->off = in[1].imm;
		return 0;
	default:
		return rej_e(v, EINVAL, "lddw pseudo source %u is not supported by bpftime (%s)",
			     in->src,
			     in->src == 3 ? "a kernel variable by BTF id (ksym): bpftime has no "
					    "kernel types"
					  : "unknown source");
	}
}

/* ---- conditional jumps -------------------------------------------------------- */

/* all copies of a maybe-NULL pointer (same id) become NULL (a scalar 0) or
 * the pointer; a NULL reservation is no reference to release */
static void mark_null(struct vstate *st, uint32_t id, bool is_null)
{
	uint32_t ref = 0;

	FOR_EACH_REG(st, r, {
		if (r->maybe_null && r->id == id && is_ptr(r)) {
			if (is_null) {
				ref = r->ref_obj_id ? r->ref_obj_id : ref;
				vv_mark_const(r, 0);
			} else {
				r->maybe_null = false;
				if (r->type != VT_PKT)
					r->id = 0;
			}
		}
	});
	if (ref) {
		for (uint32_t i = 0; i < st->nrefs; i++) {
			if (st->refs[i].id == ref) {
				st->refs[i] = st->refs[--st->nrefs];
				break;
			}
		}
	}
}

/* scalar bounds learnt on one copy hold for all (same id) */
static void sync_copies(struct vstate *st, const struct vreg *known)
{
	if (!known->id || known->type != VT_SCALAR)
		return;
	FOR_EACH_REG(st, r, {
		if (r->type == VT_SCALAR && r->id == known->id)
			*r = *known;
	});
}

/* packet pointers with the id of pkt, compared below the end: bytes up to
 * pkt->off are in the packet */
static void mark_pkt_range(struct vstate *st, const struct vreg *pkt)
{
	int32_t range = pkt->off;

	if (range <= 0 || range > 0xffff || pkt->smin < 0)
		return;
	FOR_EACH_REG(st, r, {
		if (r->type == pkt->type && r->id == pkt->id && r->range < range)
			r->range = range;
	});
}

/* A comparison of a packet pointer with the packet end: on the path where
 * pkt <= end (or pkt < end) the range grows. */
static bool pkt_cmp(struct vstate *st, const struct vreg *d, const struct vreg *s, uint8_t op,
		    bool taken)
{
	const struct vreg *pkt;
	bool pkt_le_end; /* the condition, when true, says pkt (<|<=) end */
	bool dst_is_pkt;

	if (d->type == VT_PKT && s->type == VT_PKT_END)
		dst_is_pkt = true;
	else if (d->type == VT_PKT_END && s->type == VT_PKT)
		dst_is_pkt = false;
	else if (d->type == VT_PKT_META && s->type == VT_PKT)
		dst_is_pkt = true;
	else if (d->type == VT_PKT && s->type == VT_PKT_META)
		dst_is_pkt = false;
	else
		return false;
	pkt = dst_is_pkt ? d : s;
	switch (op) {
	case BPF_JGT:
	case BPF_JGE:
		pkt_le_end = !dst_is_pkt; /* end > pkt */
		break;
	case BPF_JLT:
	case BPF_JLE:
		pkt_le_end = dst_is_pkt; /* pkt < end */
		break;
	default:
		return true;
	}
	/* pkt below end, or metadata below the packet start */
	if (pkt_le_end == taken)
		mark_pkt_range(st, pkt);
	return true;
}

/* After a conditional jump pushed its target and goes on with the
 * fall-through: when the target is a few instructions from an exit and the
 * fall-through is not, the target is explored first instead (swapped with
 * the pushed state), so that loops whose every iteration has an early
 * return (a bounds check) do not keep one pushed state per iteration. */
static void exit_first(struct ver *v, uint32_t target, uint32_t fall, uint32_t *next)
{
	struct vstack_ent *top = &v->stack[v->sp - 1];
	struct vstate *t;

	if (*next != fall || top->pc != target || !(v->mark[target] & MARK_EXIT_SOON) ||
	    (v->mark[fall] & MARK_EXIT_SOON))
		return;
	t = top->st;
	top->st = v->st;
	top->pc = fall;
	v->st = t;
	*next = target;
}

static int do_cond_jmp(struct ver *v, const struct bpftime_insn *in, uint32_t *next)
{
	bool x = BPF_SRC(in->code) == BPF_X, is32 = BPF_CLASS(in->code) == BPF_JMP32;
	uint8_t op = BPF_OP(in->code);
	uint32_t target = (uint32_t)((int64_t)v->pc + 1 + in->off), fall = v->pc + 1;
	struct vreg *d = reg(v, in->dst), imm, *s;
	struct vstate *other;
	bool pushed = false;
	int taken, err;

	err = check_read(v, in->dst);
	if (err)
		return err;
	if (x) {
		err = check_read(v, in->src);
		if (err)
			return err;
		s = reg(v, in->src);
	} else {
		vv_mark_const(&imm,
			      is32 ? (uint64_t)(uint32_t)in->imm : (uint64_t)(int64_t)in->imm);
		s = &imm;
	}
	/* pointer against NULL */
	if ((op == BPF_JEQ || op == BPF_JNE) && (is_ptr(d) != is_ptr(s)) &&
	    is_null_const(is_ptr(d) ? s : d) && !is32) {
		struct vreg *p = is_ptr(d) ? d : s;

		if (!p->maybe_null) { /* a valid pointer is never NULL */
			*next = (op == BPF_JNE) ? target : fall;
			return 0;
		}
		uint32_t id = p->id;

		err = push_branch(v, target, &other);
		if (err)
			return err;
		/* target: JEQ -> NULL there, JNE -> not NULL there */
		mark_null(other, id, op == BPF_JEQ);
		mark_null(v->st, id, op != BPF_JEQ);
		*next = fall;
		exit_first(v, target, fall, next);
		return 0;
	}
	if (d->type == VT_SCALAR && s->type == VT_SCALAR) {
		taken = vv_branch(d, s, op, is32 ? 32 : 64);
		if (taken >= 0) {
			*next = taken ? target : fall;
			return 0;
		}
		err = push_branch(v, target, &other);
		if (err)
			return err;
		{
			struct vreg *od = &other->fr[other->cur]->regs[in->dst];
			struct vreg oi = imm, *os = x ? &other->fr[other->cur]->regs[in->src] : &oi;
			bool ok_t = vv_refine(od, os, op, is32 ? 32 : 64, true);
			bool ok_f = vv_refine(d, s, op, is32 ? 32 : 64, false);

			if (ok_t) {
				sync_copies(other, od);
				if (x)
					sync_copies(other, os);
				pushed = true;
			} else {
				/* the taken path cannot happen: drop it */
				v->sp--;
				path_done(other);
				state_free(other);
			}
			if (!ok_f) {
				*next = UINT32_MAX; /* this path cannot happen */
				return 0;
			}
			sync_copies(v->st, d);
			if (x)
				sync_copies(v->st, s);
		}
		*next = fall;
		if (pushed)
			exit_first(v, target, fall, next);
		return 0;
	}
	/* pointer comparisons: packet ranges; otherwise both ways, nothing learnt */
	err = push_branch(v, target, &other);
	if (err)
		return err;
	if (!is32 && x) {
		struct vreg *od = &other->fr[other->cur]->regs[in->dst];
		struct vreg *os = &other->fr[other->cur]->regs[in->src];

		if (pkt_cmp(other, od, os, op, true))
			pkt_cmp(v->st, d, s, op, false);
	}
	*next = fall;
	exit_first(v, target, fall, next);
	return 0;
}

/* ---- calls ------------------------------------------------------------------ */

static int enter_frame(struct ver *v, uint32_t callsite, uint8_t cb)
{
	struct vstate *st = v->st;
	struct vframe *f;

	if (st->cur + 1 >= MAX_FRAMES)
		return rej_e(v, E2BIG, "the call stack of %u frames is too deep !", st->cur + 2);
	f = frame_new();
	if (!f)
		return oom(v);
	f->callsite = (int32_t)callsite;
	f->cb = cb;
	f->cb_nrefs = st->nrefs;
	st->fr[++st->cur] = f;
	f->regs[REG_FP].type = VT_STACK;
	vv_mark_const(&f->regs[REG_FP], 0);
	f->regs[REG_FP].type = VT_STACK;
	f->regs[REG_FP].frameno = (uint8_t)st->cur;
	return 0;
}

static int do_local_call(struct ver *v, uint32_t target)
{
	struct vframe *caller = curf(v);
	int err = enter_frame(v, v->pc, CB_NONE);

	if (err)
		return err;
	curf(v)->entry = target;
	for (int i = 1; i <= 5; i++)
		curf(v)->regs[i] = caller->regs[i];
	v->pc = target;
	return 0;
}

/* the callback's frame at its entry, arguments set per helper */
static int enter_callback(struct ver *v, uint32_t callsite, uint32_t entry, uint8_t kind,
			  uint32_t map, const struct vreg *ctx_arg)
{
	int err = enter_frame(v, callsite, kind);
	struct vframe *f;

	if (err)
		return err;
	f = curf(v);
	f->cb_map = map;
	f->cb_entry = entry;
	f->entry = entry;
	f->cb_ctx = *ctx_arg;
	if (kind == CB_LOOP) {
		vv_mark_unknown(&f->regs[1]);
		f->regs[1].umax = UINT32_MAX - 1; /* the index is below nr_loops, a u32 */
		vv_sync(&f->regs[1]);
		f->regs[2] = *ctx_arg;
	} else {
		vv_mark_const(&f->regs[1], 0);
		f->regs[1].type = VT_MAP_PTR;
		f->regs[1].map = map;
		vv_mark_const(&f->regs[2], 0);
		f->regs[2].type = VT_MAP_KEY;
		f->regs[2].map = map;
		vv_mark_const(&f->regs[3], 0);
		f->regs[3].type = VT_MAP_VALUE;
		f->regs[3].map = map;
		f->regs[4] = *ctx_arg;
	}
	v->pc = entry;
	return 0;
}

static void release_ref(struct vstate *st, uint32_t ref)
{
	for (uint32_t i = 0; i < st->nrefs; i++) {
		if (st->refs[i].id == ref) {
			st->refs[i] = st->refs[--st->nrefs];
			break;
		}
	}
	FOR_EACH_REG(st, r, {
		if (r->ref_obj_id == ref)
			vv_mark_unknown(r);
	});
}

struct call_meta {
	bool has_key; /* the key is a known constant */
	uint64_t key;
	bool has_map;
	uint32_t map;
	uint64_t alloc_size;
	int cb_reg;
	int ctx_reg;
	int release_reg;
};

static int check_size_arg(struct ver *v, int regno, bool zero_ok, uint64_t *size)
{
	const struct vreg *r = reg(v, regno);

	if (r->type != VT_SCALAR)
		return rej(v, "R%d type=%s expected=scalar", regno, tname(r));
	if (r->smin < 0)
		return rej(v, "R%d min value is negative, either use unsigned or 'var &= const'",
			   regno);
	if (r->umax >= (1u << 29))
		return rej(v,
			   "R%d unbounded memory access, use 'var &= const' or 'if (var < const)'",
			   regno);
	if (!zero_ok && r->umin == 0)
		return rej(v, "R%d invalid zero-sized read", regno);
	*size = r->umax;
	return 0;
}

static int check_const_str(struct ver *v, int regno)
{
	const struct vreg *r = reg(v, regno);
	const struct bpftime_verifier_map *m;
	const char *p;

	if (r->type != VT_MAP_VALUE || r->maybe_null)
		return rej(v, "R%d type=%s expected=map_value", regno, tname(r));
	m = &v->maps[r->map];
	if (!m->rdonly_prog || !m->frozen) /* the kernel's bpf_map_is_rdonly() */
		return rej(v, "R%d does not point to a readonly map'", regno);
	if (!vv_is_const(r))
		return rej(v, "R%d is not a constant address'", regno);
	if (r->off + (int64_t)r->var.value < 0 ||
	    r->off + (int64_t)r->var.value >= (int64_t)m->value_size)
		return rej(v, "invalid access to map value, value_size=%u off=%d size=1",
			   m->value_size, r->off);
	if (!m->ro_value)
		return rej(v, "R%d points to a read-only map whose contents are unknown here",
			   regno);
	p = (const char *)m->ro_value + r->off + r->var.value;
	if (!memchr(p, 0, m->value_size - (size_t)(r->off + (int64_t)r->var.value)))
		return rej_e(v, EINVAL, "string is not zero-terminated");
	return 0;
}

static const char *helper_name(struct ver *v, int32_t id)
{
	const char *n = id >= 0 && id <= BPFTIME_MAX_HELPER_ID ? v->vm->helper_names[id] : NULL;

	return n && *n ? n : "unknown";
}

static int check_helper_arg(struct ver *v, const struct bpftime_helper_proto *p, int32_t id, int i,
			    struct call_meta *meta)
{
	int regno = i + 1;
	uint8_t kind = p->arg[i];
	struct vreg *r = reg(v, regno);
	uint64_t size = 0;
	int err;

	if (r->type == VT_NOT_INIT)
		return rej(v, "R%d !read_ok", regno);
	switch (kind) {
	case BPFTIME_ARG_ANYTHING:
		return 0;
	case BPFTIME_ARG_CONST_MAP_PTR:
		if (r->type != VT_MAP_PTR)
			return rej(v, "R%d type=%s expected=map_ptr", regno, tname(r));
		if (p->flags & BPFTIME_HF_TAIL_CALL && v->maps[r->map].type != 3)
			return rej_e(v, EINVAL, "expected prog array map for tail call");
		if (p->map_types && !(p->map_types & (UINT64_C(1) << (v->maps[r->map].type & 63))))
			return rej_e(v, EINVAL, "cannot pass map_type %u into func bpf_%s#%d",
				     v->maps[r->map].type, helper_name(v, id), id);
		meta->has_map = true;
		meta->map = r->map;
		return 0;
	case BPFTIME_ARG_MAP_KEY:
	case BPFTIME_ARG_MAP_VALUE:
	case BPFTIME_ARG_UNINIT_MAP_VALUE: {
		const struct bpftime_verifier_map *m;

		if (!meta->has_map)
			return rej(v, "invalid map_ptr to access map->%s",
				   kind == BPFTIME_ARG_MAP_KEY ? "key" : "value");
		m = &v->maps[meta->map];
		size = kind == BPFTIME_ARG_MAP_KEY ? m->key_size : m->value_size;
		if (kind == BPFTIME_ARG_MAP_KEY && r->type == VT_STACK && vv_is_const(r) &&
		    size == 4) {
			/* a key the stack knows (the kernel's get_constant_map_key):
			 * zeros, or a spilled constant whose spilled bytes from the
			 * key's start to the slot's top are exactly the key's 4: of
			 * a whole-slot spill, the upper half (the key is then the
			 * whole spilled value) */
			int64_t o = r->off + (int64_t)r->var.value;
			const struct vframe *f = v->st->fr[r->frameno];

			if (o >= -BPFTIME_STACK_SIZE && o + 4 <= 0 &&
			    (uint32_t)(-o - 1) / 8 < f->nslots) {
				const struct vslot *sl = &f->slot[(-o - 1) / 8];
				int b = (int)((o % 8 + 8) % 8);

				if (sl->type[0] == ST_SPILL) {
					if (b == 4 && sl->spill.type == VT_SCALAR &&
					    vv_is_const(&sl->spill)) {
						meta->has_key = true;
						meta->key = sl->spill.var.value;
					}
				} else if (b + 4 <= 8 && sl->type[b] == ST_ZERO &&
					   sl->type[b + 1] == ST_ZERO &&
					   sl->type[b + 2] == ST_ZERO &&
					   sl->type[b + 3] == ST_ZERO) {
					meta->has_key = true;
					meta->key = 0;
				}
			}
		}
		if (r->type == VT_SCALAR && size == 0 && is_null_const(r))
			return 0;
		err = check_helper_mem(v, regno, size, kind == BPFTIME_ARG_UNINIT_MAP_VALUE);
		if (!err && kind == BPFTIME_ARG_UNINIT_MAP_VALUE && r->type == VT_STACK)
			err = 0;
		return err;
	}
	case BPFTIME_ARG_MEM:
	case BPFTIME_ARG_MEM_OR_NULL:
	case BPFTIME_ARG_UNINIT_MEM: {
		uint8_t next = i < 4 ? p->arg[i + 1] : BPFTIME_ARG_NONE;
		bool zero_ok = next == BPFTIME_ARG_CONST_SIZE_OR_ZERO;

		if (next != BPFTIME_ARG_CONST_SIZE && !zero_ok)
			return rej_e(v, EINVAL,
				     "arg %d memory without a size argument in the prototype", i);
		err = check_read(v, regno + 1);
		if (!err)
			err = check_size_arg(v, regno + 1, zero_ok, &size);
		if (err)
			return err;
		if (is_null_const(r) && (kind == BPFTIME_ARG_MEM_OR_NULL || zero_ok)) {
			if (reg(v, regno + 1)->umax)
				return rej(v,
					   "R%d type=scalar expected=fp, pkt, pkt_meta, map_key, "
					   "map_value, mem",
					   regno);
			return 0;
		}
		return check_helper_mem(v, regno, size, kind == BPFTIME_ARG_UNINIT_MEM);
	}
	case BPFTIME_ARG_CONST_SIZE:
	case BPFTIME_ARG_CONST_SIZE_OR_ZERO:
		return 0; /* checked with its memory */
	case BPFTIME_ARG_CTX:
		if (r->type != VT_CTX)
			return rej(v, "R%d type=%s expected=ctx", regno, tname(r));
		if (r->off || !vv_is_const(r) || r->var.value)
			return rej(v, "dereference of modified ctx ptr R%d off=%d disallowed",
				   regno, r->off);
		meta->ctx_reg = regno;
		return 0;
	case BPFTIME_ARG_CONST_ALLOC_SIZE_OR_ZERO:
		if (r->type != VT_SCALAR || !vv_is_const(r))
			return rej(v, "R%d is not a known constant'", regno);
		meta->alloc_size = r->var.value;
		if (meta->alloc_size >= (1u << 29))
			return rej(v, "R%d unbounded memory access", regno);
		return 0;
	case BPFTIME_ARG_RINGBUF_MEM:
		if (r->type != VT_MEM || r->maybe_null)
			return rej(v, "R%d type=%s expected=ringbuf_mem", regno, tname(r));
		if (!r->ref_obj_id)
			return rej_e(v, EINVAL,
				     "R%d must be referenced when passed to release function",
				     regno);
		if (r->off || !vv_is_const(r) || r->var.value)
			return rej_e(v, EINVAL,
				     "R%d must have zero offset when passed to release func",
				     regno);
		meta->release_reg = regno;
		return 0;
	case BPFTIME_ARG_SPIN_LOCK: {
		const struct bpftime_verifier_map *m;
		int32_t off;

		if (r->type != VT_MAP_VALUE || r->maybe_null)
			return rej(v, "R%d type=%s expected=map_value", regno, tname(r));
		if (!vv_is_const(r))
			return rej_e(v, EINVAL,
				     "R%d doesn't have constant offset. bpf_spin_lock has to be at "
				     "the constant offset",
				     regno);
		m = &v->maps[r->map];
		off = r->off + (int32_t)r->var.value;
		if (m->spin_lock_off < 0)
			return rej_e(v, EINVAL,
				     "map '%u' has to have BTF in order to use bpf_spin_lock",
				     m->id);
		if (off != m->spin_lock_off)
			return rej_e(v, EINVAL,
				     "off %d doesn't point to 'struct bpf_spin_lock' that is at %d",
				     off, m->spin_lock_off);
		if (p->flags & BPFTIME_HF_LOCK) {
			if (v->st->locked)
				return rej_e(v, EINVAL,
					     "Locking two bpf_spin_locks are not allowed");
			v->st->locked = true;
			v->st->lock_map = r->map;
			v->st->lock_off = off;
		} else {
			if (!v->st->locked)
				return rej_e(v, EINVAL, "bpf_spin_unlock without taking a lock");
			if (v->st->lock_map != r->map || v->st->lock_off != off)
				return rej_e(v, EINVAL, "bpf_spin_unlock of different lock");
			v->st->locked = false;
		}
		return 0;
	}
	case BPFTIME_ARG_CALLBACK:
		if (r->type != VT_FUNC)
			return rej(v, "R%d type=%s expected=func", regno, tname(r));
		meta->cb_reg = regno;
		return 0;
	case BPFTIME_ARG_CONST_STR:
		return check_const_str(v, regno);
	case BPFTIME_ARG_STACK_OR_NULL:
		if (is_null_const(r))
			return 0;
		if (r->type != VT_STACK)
			return rej(v, "R%d type=%s expected=fp", regno, tname(r));
		return 0;
	case BPFTIME_ARG_LONG_PTR:
		return check_helper_mem(v, regno, 8, true);
	default:
		return rej_e(v, EINVAL, "helper bpf_%s#%d: unknown argument kind %u",
			     helper_name(v, id), id, kind);
	}
}

/* the template of a map of maps' inner maps, as a map of its own */
static int inner_map(struct ver *v, uint32_t outer, uint32_t *idx)
{
	struct bpftime_verifier_map m = { .spin_lock_off = -1 };
	const struct bpftime_verifier_map *o = &v->maps[outer];

	if (!o->inner_type)
		return rej_e(v, EINVAL,
			     "map %u: a map of maps without an inner map template (its inner "
			     "maps' type and sizes): lookups in it cannot be verified",
			     o->id);
	m.type = o->inner_type;
	m.key_size = o->inner_key_size;
	m.value_size = o->inner_value_size;
	m.max_entries = o->inner_max_entries;
	m.id = o->id | 0x80000000u;
	for (size_t i = 0; i < v->nmaps; i++) {
		if (v->map_src[i] == -1 && v->map_imm[i] == (int32_t)outer) {
			*idx = (uint32_t)i;
			return 0;
		}
	}
	return add_map(v, &m, -1, (int32_t)outer, idx);
}

static int do_helper_call(struct ver *v, int32_t id, uint32_t *next)
{
	const struct bpftime_helper_proto *p =
		v->ops.helper_proto ? v->ops.helper_proto(v->ops.ctx, id) : NULL;
	struct call_meta meta = { .cb_reg = -1, .ctx_reg = -1, .release_reg = -1 };
	struct vreg r0;
	int err;

	if (!p) {
		/* the kernel's words: a helper we have that this program type
		 * may not call; one we lack (the kernel's older wording, which
		 * feature probes look for); an id past the kernel's last */
		const char *kn = vm_kernel_helper_name(id);

		if (id >= 0 && id <= BPFTIME_MAX_HELPER_ID && v->vm->helpers[id])
			return rej_e(v, EINVAL, "program of this type cannot use helper bpf_%s#%d",
				     helper_name(v, id), id);
		if (kn)
			return rej_e(v, EINVAL, "unknown func bpf_%s#%d", kn, id);
		return rej_e(v, EINVAL, "invalid func unknown#%d", id);
	}
	if (v->st->locked && !(p->flags & BPFTIME_HF_UNLOCK))
		return rej_e(v, EINVAL, "function calls are not allowed while holding a lock");
	if (p->flags & BPFTIME_HF_GPL_ONLY && !v->ops.gpl_compatible)
		return rej_e(v, EINVAL,
			     "cannot call GPL-restricted function from non-GPL compatible program");
	for (int i = 0; i < 5 && p->arg[i] != BPFTIME_ARG_NONE; i++) {
		err = check_helper_arg(v, p, id, i, &meta);
		if (err)
			return err;
	}
	if (p->flags & BPFTIME_HF_TAIL_CALL && v->st->nrefs)
		return rej_e(v, EINVAL, "tail_call would lead to reference leak");
	/* memory the helper writes (uninit arguments) is written now */
	for (int i = 0; i < 5 && p->arg[i] != BPFTIME_ARG_NONE; i++) {
		struct vreg *r = reg(v, i + 1);
		uint64_t size = 0;

		if (r->type != VT_STACK)
			continue;
		if (p->arg[i] == BPFTIME_ARG_UNINIT_MEM)
			size = reg(v, i + 2)->umax;
		else if (p->arg[i] == BPFTIME_ARG_UNINIT_MAP_VALUE && meta.has_map)
			size = v->maps[meta.map].value_size;
		else if (p->arg[i] == BPFTIME_ARG_LONG_PTR)
			size = 8;
		if (size && vv_is_const(r)) {
			int lo = r->off + (int)r->var.value;

			stack_mark(v->st->fr[r->frameno], lo, lo + (int)size, ST_MISC);
		} else if (size) {
			int lo = r->off + (int)r->smin, hi = r->off + (int)r->smax + (int)size;

			stack_mark(v->st->fr[r->frameno], lo, hi, ST_MISC);
		}
	}
	if (meta.release_reg > 0)
		release_ref(v->st, reg(v, meta.release_reg)->ref_obj_id);
	/* r0 */
	memset(&r0, 0, sizeof(r0));
	switch (p->ret) {
	case BPFTIME_RET_VOID:
		break;
	case BPFTIME_RET_MAP_VALUE_OR_NULL:
		if (!meta.has_map)
			return rej_e(v, EINVAL, "kernel subsystem misconfigured verifier");
		vv_mark_const(&r0, 0);
		r0.type = VT_MAP_VALUE;
		r0.maybe_null = true;
		r0.map = meta.map;
		r0.id = new_id(v);
		if ((v->maps[meta.map].type == 2 || v->maps[meta.map].type == 6) && meta.has_key &&
		    meta.key < v->maps[meta.map].max_entries) {
			/* an array slot that exists: never NULL */
			r0.maybe_null = false;
			r0.id = 0;
		}
		if (v->maps[meta.map].type == 12 || v->maps[meta.map].type == 13) {
			/* a map of maps: the inner map (its template), or NULL */
			err = inner_map(v, meta.map, &r0.map);
			if (err)
				return err;
			r0.type = VT_MAP_PTR;
		}
		break;
	case BPFTIME_RET_ALLOC_MEM_OR_NULL:
		if (v->st->nrefs == MAX_REFS)
			return rej_e(v, EINVAL, "too many references held (max %d)", MAX_REFS);
		if (!v->st->refs) {
			v->st->refs = mem_alloc(MAX_REFS * sizeof(*v->st->refs));
			if (!v->st->refs)
				return oom(v);
		}
		vv_mark_const(&r0, 0);
		r0.type = VT_MEM;
		r0.maybe_null = true;
		r0.map = (uint32_t)meta.alloc_size;
		r0.id = new_id(v);
		r0.ref_obj_id = r0.id;
		v->st->refs[v->st->nrefs].id = r0.id;
		v->st->refs[v->st->nrefs].insn = v->pc;
		v->st->nrefs++;
		break;
	default:
		vv_mark_unknown(&r0);
		if (p->ret_max > 0) {
			r0.umax = (uint64_t)p->ret_max;
			vv_sync(&r0);
		}
	}
	if (p->flags & (BPFTIME_HF_LOOP_CB | BPFTIME_HF_FOR_EACH_CB)) {
		struct vreg ctx_arg = *reg(v, p->flags & BPFTIME_HF_LOOP_CB ? 3 : 3);
		uint32_t entry = meta.cb_reg > 0 ? reg(v, meta.cb_reg)->map : 0;
		uint8_t kind = p->flags & BPFTIME_HF_LOOP_CB ? CB_LOOP : CB_FOR_EACH;
		struct vstate *skip;

		if (meta.cb_reg < 0 || (kind == CB_FOR_EACH && !meta.has_map))
			return rej_e(v, EINVAL,
				     "helper bpf_%s#%d: callback prototype is incomplete",
				     helper_name(v, id), id);
		/* the callback may run zero times: continue after the call */
		for (int i = 1; i <= 5; i++)
			curf(v)->regs[i].type = VT_NOT_INIT;
		curf(v)->regs[0] = r0;
		err = push_branch(v, v->pc + 1, &skip);
		if (err)
			return err;
		err = enter_callback(v, v->pc, entry, kind, meta.map, &ctx_arg);
		if (err)
			return err;
		*next = v->pc;
		return 0;
	}
	for (int i = 1; i <= 5; i++)
		curf(v)->regs[i].type = VT_NOT_INIT;
	curf(v)->regs[0] = r0;
	/* the packet may have moved: every packet pointer becomes a number
	 * (the kernel's clear_all_pkt_pointers, privileged flavour) */
	if (p->flags & BPFTIME_HF_CHANGES_PKT)
		FOR_EACH_REG(v->st, r, {
			if (r->type == VT_PKT || r->type == VT_PKT_META || r->type == VT_PKT_END)
				vv_mark_unknown(r);
		});
	*next = v->pc + 1;
	return 0;
}

/* pointers into a frame that is going away become unusable */
static void drop_frame_ptrs(struct vstate *st, uint32_t frameno)
{
	FOR_EACH_REG(st, r, {
		if (r->type == VT_STACK && r->frameno >= frameno)
			vv_mark_unknown(r);
	});
}

static int check_ret_r0(struct ver *v, bool main)
{
	struct vreg *r0 = reg(v, 0);

	if (r0->type == VT_NOT_INIT)
		return rej(v, "R0 !read_ok");
	/* a pointer returned is only a number to the caller (the kernel lets
	 * privileged programs do it too) */
	UNUSED(main);
	return 0;
}

/* exit: returns 1 when the path is finished, 0 to continue at *next */
static int do_exit(struct ver *v, uint32_t *next)
{
	struct vstate *st = v->st;
	struct vframe *callee = curf(v), *caller;
	struct vreg r0;
	int err;

	if (st->cur == 0) {
		err = check_ret_r0(v, true);
		if (err)
			return err;
		if (st->locked)
			return rej_e(v, EINVAL,
				     "BPF_EXIT instruction in main prog cannot be used inside "
				     "bpf_spin_lock-ed region");
		if (st->nrefs)
			return rej_e(v, EINVAL, "Unreleased reference id=%u alloc_insn=%u",
				     st->refs[0].id, st->refs[0].insn);
		if (v->ops.ret_checked) {
			const struct vreg *ret = reg(v, 0);

			if (ret->type != VT_SCALAR)
				return rej_e(
					v, EINVAL,
					"At program exit the register R0 is not a known value (%s)",
					tname(ret));
			if (ret->smin < v->ops.ret_min || ret->smax > v->ops.ret_max)
				return rej_e(v, EINVAL,
					     "At program exit the register R0 has smin=%" PRId64
					     " smax=%" PRId64 " should have been in [%d, %d]",
					     ret->smin, ret->smax, v->ops.ret_min, v->ops.ret_max);
		}
		return 1;
	}
	err = check_ret_r0(v, false);
	if (err)
		return err;
	r0 = callee->regs[0];
	if (r0.type == VT_STACK && r0.frameno == st->cur)
		return rej_e(v, EINVAL, "cannot return stack pointer to the caller frame");
	if (callee->cb) {
		if (r0.type != VT_SCALAR || r0.smin < 0 || r0.smax > 1) {
			if (r0.type == VT_SCALAR && !vv_is_const(&r0))
				return rej_e(v, EINVAL,
					     "At callback return the register R0 has unknown "
					     "scalar value should have been in [0, 1]");
			return rej_e(v, EINVAL,
				     "At callback return the register R0 has smin=%" PRId64
				     " smax=%" PRId64 " should have been in [0, 1]",
				     r0.smin, r0.smax);
		}
		if (st->nrefs > callee->cb_nrefs)
			return rej_e(v, EINVAL, "Unreleased reference id=%u alloc_insn=%u",
				     st->refs[st->nrefs - 1].id, st->refs[st->nrefs - 1].insn);
		if (st->locked)
			return rej_e(v, EINVAL, "bpf_spin_unlock is missing");
	}
	{
		uint32_t callsite = (uint32_t)callee->callsite, map = callee->cb_map;
		uint32_t entry = callee->cb_entry;
		uint8_t cb = callee->cb;
		struct vreg ctx = callee->cb_ctx;

		st->fr[st->cur] = NULL;
		st->cur--;
		frame_free(callee);
		drop_frame_ptrs(st, st->cur + 1);
		caller = curf(v);
		for (int i = 1; i <= 5; i++)
			caller->regs[i] = (struct vreg){ .type = VT_NOT_INIT };
		if (cb) {
			struct vstate *again;

			/* the helper returns a count; and it may call the callback
			 * again, on the state this run left */
			vv_mark_unknown(&caller->regs[0]);
			err = push_branch(v, UINT32_MAX - 1, &again);
			if (err)
				return err;
			again->re_pending = true;
			again->re_kind = cb;
			again->re_callsite = callsite;
			again->re_entry_pc = entry;
			again->re_map = map;
			again->re_ctx = ctx;
		} else {
			caller->regs[0] = r0;
		}
		*next = callsite + 1;
	}
	return 0;
}

/* ---- pruning ---------------------------------------------------------------- */

struct idmap {
	uint32_t n;
	uint32_t tmp;
	struct {
		uint32_t old, cur;
	} m[128];
};

static bool check_id(struct idmap *im, uint32_t old, uint32_t cur)
{
	if (!old)
		return true;
	if (!cur)
		cur = 0x80000000u + ++im->tmp; /* unlinked: unique */
	for (uint32_t i = 0; i < im->n; i++)
		if (im->m[i].old == old)
			return im->m[i].cur == cur;
	if (im->n == ARRAY_SIZE(im->m))
		return false;
	im->m[im->n].old = old;
	im->m[im->n].cur = cur;
	im->n++;
	return true;
}

static bool regsafe(const struct vreg *o, const struct vreg *c, struct idmap *im)
{
	if (o->type == VT_NOT_INIT)
		return true;
	if (c->type != o->type)
		return false;
	if (o->type == VT_SCALAR)
		return vv_scalar_within(o, c) && check_id(im, o->id, c->id);
	if (o->maybe_null != c->maybe_null || o->off != c->off || o->map != c->map ||
	    o->frameno != c->frameno)
		return false;
	if (!vv_scalar_within(o, c))
		return false;
	if ((o->type == VT_PKT || o->type == VT_PKT_META) && o->range > c->range)
		return false;
	if (!check_id(im, o->id, c->id) || !check_id(im, o->ref_obj_id, c->ref_obj_id))
		return false;
	return true;
}

/* old and cur hold data (no pointer) in this slot */
static bool slot_is_data(const struct vslot *sl)
{
	return sl->type[0] != ST_SPILL || sl->spill.type == VT_SCALAR;
}

/* Unwritten stack bytes read as unknown data unless v->strict_stack, so
 * that they are then as good as written ones (ST_MISC). */
static bool stacksafe(const struct vframe *o, const struct vframe *c, struct idmap *im,
		      uint64_t sneed, bool strict)
{
	for (uint32_t s = 0; s < o->nslots; s++) {
		const struct vslot *os = &o->slot[s];
		const struct vslot *cs = s < c->nslots ? &c->slot[s] : NULL;

		/* a slot whose contents decide nothing from here: any data will do */
		if (s < 64 && !(sneed & (UINT64_C(1) << s)) && slot_is_data(os) &&
		    (cs ? slot_is_data(cs) && (!strict || !memchr(cs->type, ST_INVALID, 8))
			: !strict))
			continue;

		for (int b = 0; b < 8; b++) {
			uint8_t ot = os->type[b], ct = cs ? cs->type[b] : ST_INVALID;

			if (ot == ST_INVALID)
				continue;
			if (ot == ST_SPILL) {
				if (ct != ST_SPILL || !regsafe(&os->spill, &cs->spill, im))
					return false;
				break;
			}
			if (ct == ST_INVALID && (strict || ot != ST_MISC))
				return false;
			if (ot == ST_ZERO) {
				if (ct == ST_ZERO)
					continue;
				if (ct == ST_SPILL && is_null_const(&cs->spill))
					continue;
				return false;
			}
			/* old misc: any data, but a spilled pointer is not data */
			if (ct == ST_SPILL && cs->spill.type != VT_SCALAR)
				return false;
		}
	}
	return true;
}

/* the same abstract value, field by field (no padding bytes compared) */
static bool reg_equal(const struct vreg *a, const struct vreg *b)
{
	return a->type == b->type && a->maybe_null == b->maybe_null && a->frameno == b->frameno &&
	       a->off == b->off && a->var.value == b->var.value && a->var.mask == b->var.mask &&
	       a->smin == b->smin && a->smax == b->smax && a->umin == b->umin &&
	       a->umax == b->umax && a->s32min == b->s32min && a->s32max == b->s32max &&
	       a->u32min == b->u32min && a->u32max == b->u32max && a->map == b->map &&
	       a->range == b->range;
}

static bool states_safe(struct ver *v, const struct vstate *o, const struct vstate *c, uint32_t pc,
			bool exact)
{
	struct idmap im = { 0 };

	if (o->cur != c->cur || o->locked != c->locked || o->nrefs != c->nrefs)
		return false;
	if (o->locked && (o->lock_map != c->lock_map || o->lock_off != c->lock_off))
		return false;
	for (uint32_t i = 0; i < o->nrefs; i++)
		if (!check_id(&im, o->refs[i].id, c->refs[i].id))
			return false;
	for (uint32_t f = 0; f <= o->cur; f++) {
		const struct vframe *of = o->fr[f], *cf = c->fr[f];

		if (of->callsite != cf->callsite || of->cb != cf->cb || of->cb_map != cf->cb_map ||
		    of->cb_entry != cf->cb_entry)
			return false;
		if (of->cb && !regsafe(&of->cb_ctx, &cf->cb_ctx, &im))
			return false;
		for (int r = 0; r < NREGS; r++) {
			if (f == o->cur && r < 10 && !(v->live[pc] & (1u << r)))
				continue;
			if (!exact && f == o->cur && r < 10 && !(v->need[pc] & (1u << r)) &&
			    of->regs[r].type == VT_SCALAR && cf->regs[r].type == VT_SCALAR)
				continue; /* its value decides nothing from here */
			if (f != o->cur && r < 6)
				continue; /* clobbered by the return */
			if (exact) {
				if (!reg_equal(&of->regs[r], &cf->regs[r]))
					return false;
				if (of->regs[r].type != VT_NOT_INIT &&
				    !regsafe(&of->regs[r], &cf->regs[r], &im))
					return false;
				continue;
			}
			if (!regsafe(&of->regs[r], &cf->regs[r], &im))
				return false;
		}
		if (!stacksafe(of, cf, &im, !exact && f == o->cur ? v->sneed[pc] : UINT64_MAX,
			       v->strict_stack || exact))
			return false;
		if (exact && !stacksafe(cf, of, &im, UINT64_MAX, true))
			return false;
	}
	return true;
}

/* Widens scalars that differ from the state at the previous entry of the
 * same callback to any value, so that re-entries converge (the helper,
 * not the verifier, bounds how often a callback runs). */
static void widen(struct vstate *old, struct vstate *cur)
{
	for (uint32_t f = 0; f <= cur->cur && f <= old->cur; f++) {
		struct vframe *of = old->fr[f], *cf = cur->fr[f];

		for (int r = 0; r < NREGS; r++) {
			struct vreg *c = &cf->regs[r];

			if (c->type == VT_SCALAR &&
			    (of->regs[r].type != VT_SCALAR || !vv_scalar_within(&of->regs[r], c)))
				vv_mark_unknown(c);
		}
		for (uint32_t s = 0; s < cf->nslots; s++) {
			struct vslot *cs = &cf->slot[s];

			if (cs->type[0] != ST_SPILL || cs->spill.type != VT_SCALAR)
				continue;
			if (s >= of->nslots || of->slot[s].type[0] != ST_SPILL ||
			    of->slot[s].spill.type != VT_SCALAR ||
			    !vv_scalar_within(&of->slot[s].spill, &cs->spill))
				vv_mark_unknown(&cs->spill);
		}
	}
}

/* 1: pruned; 0: go on (state stored or not); <0: error */
static int is_state_visited(struct ver *v, uint32_t pc)
{
	bool cb_entry = (v->mark[pc] & MARK_CB_ENTRY) && v->st->re_entry && curf(v)->cb;
	/* callback entries always keep a state: re-entries converge on it */
	bool add = cb_entry || (v->jmps - v->prev_jmps >= NEW_STATE_JMPS &&
				v->processed - v->prev_processed >= NEW_STATE_INSNS);
	uint32_t n_here = 0;
	struct vsl **link, *n;

	v->st->re_entry = false;

	for (link = &v->sl[pc]; *link;) {
		struct vsl *sl = *link;

		n_here++;
		if (sl->st.branches) {
			/* still being explored: only an exact repeat is a verdict */
			if (cb_entry) {
				if (states_safe(v, &sl->st, v->st, pc, false))
					goto hit;
				widen(&sl->st, v->st);
				if (states_safe(v, &sl->st, v->st, pc, false))
					goto hit;
			} else if (states_safe(v, &sl->st, v->st, pc, true)) {
				return rej_e(v, EINVAL, "infinite loop detected at insn %u", pc);
			}
			/* a loop: its iterations differ, keep fewer of them */
			if (!cb_entry && v->jmps - v->prev_jmps < LOOP_STATE_JMPS &&
			    v->processed - v->prev_processed < LOOP_STATE_INSNS)
				add = false;
		} else if (states_safe(v, &sl->st, v->st, pc, false)) {
			goto hit;
		}
		/* misses count only when a state is stored instead, so that
		 * the states of a loop's first iterations are not all dropped */
		if (add)
			sl->miss++;
		if (sl->miss >
		    (sl->hit + 1) * (cb_entry && sl->st.branches ? EVICT_MISS_CB : EVICT_MISS)) {
			/* unlikely to prune: dropped from the list; a state
			 * still being explored is the parent of live paths
			 * and is freed at the end */
			*link = sl->next;
			v->sl_cnt[pc]--;
			if (sl->st.branches) {
				sl->next = v->zombies;
				v->zombies = sl;
			} else {
				state_clear(&sl->st);
				free(sl);
				v->cur_states--;
			}
			continue;
		}
		link = &sl->next;
	}
	if (n_here > v->max_states_per_insn)
		v->max_states_per_insn = n_here;
	if (!add)
		return 0;
	n = mem_calloc(1, sizeof(*n));
	if (!n || !state_copy(&n->st, v->st)) {
		free(n);
		return oom(v);
	}
	n->st.branches = 1;
	n->st.parent = v->st->parent;
	v->st->parent = &n->st;
	n->next = v->sl[pc];
	v->sl[pc] = n;
	v->sl_cnt[pc]++;
	v->total_states++;
	v->cur_states++;
	if (v->cur_states > v->peak_states)
		v->peak_states = v->cur_states;
	v->prev_jmps = v->jmps;
	v->prev_processed = v->processed;
	return 0;
hit:
	(*link)->hit++;
	return 1;
}

/* ---- static analysis: prune points and register liveness ------------------------ */

static int helper_nargs(struct ver *v, int32_t id)
{
	const struct bpftime_helper_proto *p =
		v->ops.helper_proto ? v->ops.helper_proto(v->ops.ctx, id) : NULL;
	int n = 0;

	if (!p)
		return 5;
	while (n < 5 && p->arg[n] != BPFTIME_ARG_NONE)
		n++;
	return n;
}

/* registers an instruction reads (use) and writes (def), r0..r9 */
static void use_def(struct ver *v, uint32_t pc, uint16_t *use, uint16_t *def)
{
	const struct bpftime_insn *in = &v->insns[pc];
	uint8_t cls = BPF_CLASS(in->code);
	uint16_t d = (uint16_t)(1u << in->dst), s = (uint16_t)(1u << in->src);

	*use = *def = 0;
	switch (cls) {
	case BPF_ALU:
	case BPF_ALU64:
		if (BPF_OP(in->code) == BPF_MOV) {
			*use = BPF_SRC(in->code) == BPF_X ? s : 0;
		} else {
			*use = d | (BPF_SRC(in->code) == BPF_X ? s : 0);
		}
		*def = d;
		break;
	case BPF_LDX:
		*use = s;
		*def = d;
		break;
	case BPF_ST:
		*use = d;
		break;
	case BPF_STX:
		*use = d | s;
		if (BPF_MODE(in->code) == BPF_ATOMIC) {
			if (in->imm == BPF_CMPXCHG) {
				*use |= 1;
				*def = 1;
			} else if (in->imm & BPF_FETCH) {
				*def = s;
			}
		}
		break;
	case BPF_LD:
		*def = d;
		break;
	default: /* jumps */
		if (in->code == OP_CALL) {
			int n = in->src == BPFTIME_CALL_HELPER ? helper_nargs(v, in->imm) : 5;

			*use = (uint16_t)(((1u << n) - 1) << 1);
			*def = 0x3f;
		} else if (in->code == OP_CALLX) {
			*use = d | 0x3e;
			*def = 0x3f;
		} else if (in->code == OP_EXIT) {
			*use = 1;
		} else if (in->code != OP_JA && in->code != OP_JA32) {
			*use = d | (BPF_SRC(in->code) == BPF_X ? s : 0);
		}
	}
	*use &= 0x3ff;
	*def &= 0x3ff;
}

static bool exit_needs_r0(const struct ver *v, uint32_t pc)
{
	return v->ops.ret_checked || (v->vm->nr_subprogs > 1 && pc >= v->vm->subprogs[1]);
}

/* needed-before from needed-after, for the instruction at i */
static uint16_t need_transfer(struct ver *v, uint32_t i, uint16_t out)
{
	const struct bpftime_insn *in = &v->insns[i];
	uint16_t d = (uint16_t)(1u << in->dst), s = (uint16_t)(1u << in->src);
	bool x = BPF_SRC(in->code) == BPF_X;

	switch (BPF_CLASS(in->code)) {
	case BPF_ALU:
	case BPF_ALU64:
		if (BPF_OP(in->code) == BPF_MOV) {
			if ((out & d) && x)
				out = (uint16_t)((out & ~d) | s);
			else
				out &= (uint16_t)~d;
		} else if (BPF_OP(in->code) != BPF_NEG && BPF_OP(in->code) != BPF_END) {
			if (out & d)
				out |= x ? s : 0;
		}
		break;
	case BPF_LDX:
		out = (uint16_t)((out & ~d) | s);
		break;
	case BPF_ST:
		out |= d;
		break;
	case BPF_STX:
		out |= d | s;
		if (BPF_MODE(in->code) == BPF_ATOMIC && in->imm == BPF_CMPXCHG)
			out |= 1;
		break;
	case BPF_LD:
		out &= (uint16_t)~d;
		break;
	default:
		if (in->code == OP_CALL) {
			int n = in->src == BPFTIME_CALL_HELPER ? helper_nargs(v, in->imm) : 5;

			out = (uint16_t)((out & ~0x3f) | (((1u << n) - 1) << 1));
		} else if (in->code == OP_CALLX) {
			out = (uint16_t)((out & ~0x3f) | d | 0x3e);
		} else if (in->code == OP_EXIT) {
			out = exit_needs_r0(v, i) ? 1 : 0;
		} else if (in->code != OP_JA && in->code != OP_JA32) {
			out |= d | (x ? s : 0);
		}
	}
	return out & 0x3ff;
}

static bool has_mem_arg(struct ver *v, int32_t id)
{
	const struct bpftime_helper_proto *p =
		v->ops.helper_proto ? v->ops.helper_proto(v->ops.ctx, id) : NULL;

	if (!p)
		return true;
	for (int i = 0; i < 5; i++)
		if (p->arg[i] != BPFTIME_ARG_NONE && p->arg[i] != BPFTIME_ARG_ANYTHING &&
		    p->arg[i] != BPFTIME_ARG_CONST_MAP_PTR && p->arg[i] != BPFTIME_ARG_CONST_SIZE &&
		    p->arg[i] != BPFTIME_ARG_CONST_SIZE_OR_ZERO && p->arg[i] != BPFTIME_ARG_CTX &&
		    p->arg[i] != BPFTIME_ARG_CONST_ALLOC_SIZE_OR_ZERO)
			return true;
	return false;
}

/* the slot an r10-based access of @size at @off covers, or -1 */
static int fp_slot(int16_t off, unsigned int size)
{
	if (off >= 0 || off < -BPFTIME_STACK_SIZE || (-off - 1) / 8 != (-(off + (int)size)) / 8)
		return -1;
	return (-off - 1) / 8;
}

/* stack slots needed before the instruction at i, from those needed
 * after it (@out) and the registers needed after it (@rout) */
static uint64_t sneed_transfer(struct ver *v, uint32_t i, uint64_t out, uint16_t rout)
{
	const struct bpftime_insn *in = &v->insns[i];
	unsigned int size = 1u << (3 - (BPF_SIZE(in->code) >> 3));
	int slot;

	size = BPF_SIZE(in->code) == BPF_DW  ? 8
	       : BPF_SIZE(in->code) == BPF_W ? 4
	       : BPF_SIZE(in->code) == BPF_H ? 2
					     : 1;
	switch (BPF_CLASS(in->code)) {
	case BPF_LDX:
		if (!(rout & (1u << in->dst)))
			return out;
		if (!(v->fpreg[i] & (1u << in->src)))
			return out; /* not a stack read */
		slot = in->src == 10 ? fp_slot(in->off, size) : -1;
		return slot < 0 ? UINT64_MAX : out | (UINT64_C(1) << slot);
	case BPF_ST:
	case BPF_STX:
		if (!(v->fpreg[i] & (1u << in->dst)))
			return out; /* not a stack write */
		slot = in->dst == 10 ? fp_slot(in->off, size) : -1;
		if (BPF_MODE(in->code) == BPF_ATOMIC)
			return slot < 0 ? UINT64_MAX : out | (UINT64_C(1) << slot);
		if (slot >= 0 && size == 8)
			out &= ~(UINT64_C(1) << slot); /* overwritten whole */
		return out;
	case BPF_JMP:
	case BPF_JMP32:
		if (in->code == OP_CALLX ||
		    (in->code == OP_CALL && in->src != BPFTIME_CALL_HELPER) ||
		    (in->code == OP_CALL && (v->fpreg[i] & 0x3e) && has_mem_arg(v, in->imm)))
			return UINT64_MAX; /* may read the stack through a pointer */
		if (in->code == OP_EXIT)
			return 0;
		return out;
	default:
		return out;
	}
}

/* The registers that may hold a pointer into a stack before each
 * instruction (v->fpreg), a forward may-analysis: r10, what is computed
 * from it, a subprogram's arguments (its caller's stack), what a local call
 * returns, and what is loaded from memory once any such register may have
 * been stored anywhere.  The other registers never address a stack, so
 * their loads and stores leave the stack's slots alone (sneed_transfer). */
static void fp_analysis(struct ver *v, uint16_t *fp)
{
	const uint16_t args = 0x3e | (1u << REG_FP);
	bool stored = false, changed = true;

	while (changed) {
		changed = false;
		memset(fp, 0, v->cnt * sizeof(*fp));
		fp[0] = 1u << REG_FP;
		for (uint32_t i = 1; i < v->vm->nr_subprogs; i++)
			fp[v->vm->subprogs[i]] = args;
		for (uint32_t pc = 0; pc < v->cnt; pc++)
			if (v->mark[pc] & MARK_CB_ENTRY)
				fp[pc] = args;
		for (bool again = true; again;) {
			again = false;
			for (uint32_t i = 0; i < v->cnt; i++) {
				const struct bpftime_insn *in = &v->insns[i];
				uint16_t in_fp = fp[i], out = in_fp, d = (uint16_t)(1u << in->dst);
				uint16_t sbit = (uint16_t)(in_fp & (1u << in->src));
				uint32_t succ[2] = { i + 1, UINT32_MAX };

				switch (BPF_CLASS(in->code)) {
				case BPF_ALU:
				case BPF_ALU64:
					if (BPF_OP(in->code) == BPF_MOV)
						out &= (uint16_t)~d;
					if (BPF_SRC(in->code) == BPF_X && sbit)
						out |= d;
					break;
				case BPF_LDX:
					out &= (uint16_t)~d;
					if (stored)
						out |= d;
					break;
				case BPF_STX:
					if (sbit && !stored) {
						stored = true;
						changed = true;
					}
					if (BPF_MODE(in->code) == BPF_ATOMIC && stored)
						out |= in->imm == BPF_CMPXCHG  ? 1
						       : (in->imm & BPF_FETCH) ? d
									       : 0;
					break;
				case BPF_LD: /* lddw (the structural pass refuses the others) */
					out &= (uint16_t)~d;
					succ[0] = i + (in->code == OP_LDDW ? 2 : 1);
					break;
				case BPF_ST:
					break;
				default:
					if (in->code == OP_EXIT) {
						succ[0] = UINT32_MAX;
					} else if (in->code == OP_CALL || in->code == OP_CALLX) {
						out &= (uint16_t)~0x3f;
						if (in->code != OP_CALL ||
						    in->src != BPFTIME_CALL_HELPER)
							out |= 1; /* a function may return one */
					} else if (in->code == OP_JA || in->code == OP_JA32) {
						succ[0] = (uint32_t)((int64_t)i + 1 +
								     (in->code == OP_JA ? in->off
											: in->imm));
					} else {
						succ[1] = (uint32_t)((int64_t)i + 1 + in->off);
					}
				}
				out |= 1u << REG_FP;
				for (int k = 0; k < 2; k++) {
					if (succ[k] >= v->cnt || (fp[succ[k]] | out) == fp[succ[k]])
						continue;
					fp[succ[k]] |= out;
					again = true;
				}
				if (in->code == OP_LDDW)
					i++;
			}
		}
	}
}

static int analyse(struct ver *v)
{
	uint16_t *use = mem_alloc(v->cnt * sizeof(*use)), *def = mem_alloc(v->cnt * sizeof(*def));
	bool changed = true;

	v->fpreg = mem_alloc(v->cnt * sizeof(*v->fpreg));
	if (!use || !def || !v->fpreg) {
		free(use);
		free(def);
		free(v->fpreg);
		v->fpreg = NULL;
		return oom(v);
	}
	for (uint32_t pc = 0; pc < v->cnt; pc++) {
		const struct bpftime_insn *in = &v->insns[pc];

		use_def(v, pc, &use[pc], &def[pc]);
		if (in->code == OP_LDDW) {
			if (in->src == BPFTIME_PSEUDO_FUNC)
				v->mark[pc + 1 + in->imm] |= MARK_CB_ENTRY | MARK_PRUNE;
			pc++;
			use[pc] = def[pc] = 0;
			continue;
		}
		if (BPF_CLASS(in->code) != BPF_JMP && BPF_CLASS(in->code) != BPF_JMP32)
			continue;
		if (in->code == OP_CALL || in->code == OP_CALLX) {
			if (pc + 1 < v->cnt)
				v->mark[pc + 1] |= MARK_PRUNE;
			if (in->code == OP_CALL && in->src == BPFTIME_CALL_LOCAL)
				v->mark[pc + 1 + in->imm] |= MARK_PRUNE;
			continue;
		}
		if (in->code == OP_EXIT)
			continue;
		/* the kernel's prune points: jump targets, and conditional
		 * jumps themselves (not their fall-through) */
		v->mark[in->code == OP_JA32 ? pc + 1 + in->imm : pc + 1 + in->off] |= MARK_PRUNE;
		if (in->code != OP_JA && in->code != OP_JA32)
			v->mark[pc] |= MARK_PRUNE;
	}
	for (uint32_t pc = 0; pc < v->cnt; pc++) {
		uint32_t i = pc;

		for (int steps = 0; steps < 8 && i < v->cnt; steps++) {
			const struct bpftime_insn *in = &v->insns[i];

			if (in->code == OP_EXIT) {
				v->mark[pc] |= MARK_EXIT_SOON;
				break;
			}
			if (in->code == OP_JA || in->code == OP_JA32)
				i = (uint32_t)((int64_t)i + 1 +
					       (in->code == OP_JA ? in->off : in->imm));
			else if (BPF_CLASS(in->code) == BPF_JMP || BPF_CLASS(in->code) == BPF_JMP32)
				break;
			else
				i += in->code == OP_LDDW ? 2 : 1;
		}
	}
	fp_analysis(v, v->fpreg);
	/* live-in = use | (live-out & ~def), backwards until stable */
	while (changed) {
		changed = false;
		for (uint32_t i = v->cnt; i-- > 0;) {
			const struct bpftime_insn *in = &v->insns[i];
			uint16_t out = 0, live;

			if (i > 0 && v->insns[i - 1].code == OP_LDDW && !(i >= 2 && 0)) {
				/* second slot of an lddw: never executed on its own */
				bool hi = false;

				for (uint32_t k = i; k > 0 && v->insns[k - 1].code == OP_LDDW; k--)
					hi = !hi;
				if (hi)
					continue;
			}
			if (in->code == OP_EXIT) {
				out = 0;
			} else if (in->code == OP_JA || in->code == OP_JA32) {
				out = v->live[in->code == OP_JA ? i + 1 + in->off
								: i + 1 + in->imm];
			} else if ((BPF_CLASS(in->code) == BPF_JMP ||
				    BPF_CLASS(in->code) == BPF_JMP32) &&
				   in->code != OP_CALL && in->code != OP_CALLX) {
				out = v->live[i + 1 + in->off] |
				      (i + 1 < v->cnt ? v->live[i + 1] : 0);
			} else {
				uint32_t nx = i + (in->code == OP_LDDW ? 2 : 1);

				out = nx < v->cnt ? v->live[nx] : 0;
			}
			live = use[i] | (out & ~def[i]);
			if (live != v->live[i]) {
				v->live[i] = live;
				changed = true;
			}
			{
				uint16_t nout, nin, rout;
				uint64_t sout, sin;

				if (in->code == OP_EXIT) {
					nout = rout = 0;
					sout = 0;
				} else if (in->code == OP_JA || in->code == OP_JA32) {
					uint32_t t = in->code == OP_JA ? i + 1 + in->off
								       : i + 1 + in->imm;

					nout = rout = v->need[t];
					sout = v->sneed[t];
				} else if ((BPF_CLASS(in->code) == BPF_JMP ||
					    BPF_CLASS(in->code) == BPF_JMP32) &&
					   in->code != OP_CALL && in->code != OP_CALLX) {
					nout = v->need[i + 1 + in->off] |
					       (i + 1 < v->cnt ? v->need[i + 1] : 0);
					sout = v->sneed[i + 1 + in->off] |
					       (i + 1 < v->cnt ? v->sneed[i + 1] : 0);
					rout = nout;
				} else {
					uint32_t nx = i + (in->code == OP_LDDW ? 2 : 1);

					nout = rout = nx < v->cnt ? v->need[nx] : 0;
					sout = nx < v->cnt ? v->sneed[nx] : 0;
				}
				nin = need_transfer(v, i, nout) & live;
				/* a value stored where nothing needs it is not needed:
				 * into a stack slot nobody reads for a check, or
				 * anywhere but a stack (a store's value is never
				 * checked; a pointer's type is compared anyway) */
				if (BPF_CLASS(in->code) == BPF_STX &&
				    BPF_MODE(in->code) == BPF_MEM && in->src != 10 &&
				    in->src != in->dst && !(nout & (1u << in->src))) {
					int sl = in->dst == 10 ? fp_slot(in->off, size_of(in->code))
							       : -1;

					if (!(v->fpreg[i] & (1u << in->dst)) ||
					    (sl >= 0 && !(sout & (UINT64_C(1) << sl))))
						nin &= (uint16_t) ~(1u << in->src);
				}
				if (nin != v->need[i]) {
					v->need[i] = nin;
					changed = true;
				}
				sin = sneed_transfer(v, i, sout, rout);
				if (sin != v->sneed[i]) {
					v->sneed[i] = sin;
					changed = true;
				}
			}
		}
	}
	free(use);
	free(def);
	free(v->fpreg);
	v->fpreg = NULL;
	return 0;
}

/* The kernel's check_cfg: every instruction is reachable from the entry
 * or from a function value (callbacks). */
static int check_reachable(struct ver *v)
{
	uint8_t *seen = mem_calloc(v->cnt, 1);
	uint32_t *work = mem_alloc(v->cnt * sizeof(*work)), n = 0;
	int err = 0;

	if (!seen || !work) {
		free(seen);
		free(work);
		return oom(v);
	}
#define PUSH(t)                                 \
	do {                                    \
		uint32_t t_ = (t);              \
		if (t_ < v->cnt && !seen[t_]) { \
			seen[t_] = 1;           \
			work[n++] = t_;         \
		}                               \
	} while (0)
	PUSH(0);
	for (uint32_t pc = 0; pc < v->cnt; pc++) {
		if (v->insns[pc].code == OP_LDDW) {
			if (v->insns[pc].src == BPFTIME_PSEUDO_FUNC)
				PUSH((uint32_t)((int64_t)pc + 1 + v->insns[pc].imm));
			pc++;
		}
	}
	while (n) {
		uint32_t pc = work[--n];
		const struct bpftime_insn *in = &v->insns[pc];
		uint8_t cls = BPF_CLASS(in->code);

		if (in->code == OP_LDDW) {
			PUSH(pc + 2);
		} else if (cls != BPF_JMP && cls != BPF_JMP32) {
			PUSH(pc + 1);
		} else if (in->code == OP_EXIT) {
			continue;
		} else if (in->code == OP_JA) {
			PUSH((uint32_t)((int64_t)pc + 1 + in->off));
		} else if (in->code == OP_JA32) {
			PUSH((uint32_t)((int64_t)pc + 1 + in->imm));
		} else if (in->code == OP_CALL || in->code == OP_CALLX) {
			if (in->code == OP_CALL && in->src == BPFTIME_CALL_LOCAL)
				PUSH((uint32_t)((int64_t)pc + 1 + in->imm));
			PUSH(pc + 1);
		} else {
			PUSH((uint32_t)((int64_t)pc + 1 + in->off));
			PUSH(pc + 1);
		}
	}
#undef PUSH
	for (uint32_t pc = 0; pc < v->cnt && !err; pc++) {
		if (!seen[pc]) {
			v->pc = pc;
			err = rej_e(v, EINVAL, "unreachable insn %u", pc);
		}
		if (v->insns[pc].code == OP_LDDW)
			pc++;
	}
	free(seen);
	free(work);
	return err;
}

static uint32_t round_depth(uint32_t d)
{
	return ((d ? d : 1) + 31) / 32 * 32;
}

/* the stack a call chain from subprogram @entry needs, at most */
static int chain_depth(struct ver *v, uint32_t entry, uint32_t frames, uint32_t sum)
{
	const struct bpftime_vm *vm = v->vm;
	size_t i;
	uint32_t end;
	int err;

	sum += round_depth(v->depth[entry]);
	frames++;
	if (sum > BPFTIME_STACK_SIZE)
		return rej(v, "combined stack size of %u calls is %u. Too large", frames, sum);
	for (i = 0; i < vm->nr_subprogs && vm->subprogs[i] != entry; i++)
		;
	end = i + 1 < vm->nr_subprogs ? vm->subprogs[i + 1] : v->cnt;
	for (uint32_t pc = entry; pc < end; pc++) {
		const struct bpftime_insn *in = &v->insns[pc];

		if (in->code == OP_LDDW) {
			pc++;
			continue;
		}
		if (in->code != OP_CALL || in->src != BPFTIME_CALL_LOCAL)
			continue;
		err = chain_depth(v, (uint32_t)((int64_t)pc + 1 + in->imm), frames, sum);
		if (err)
			return err;
	}
	return 0;
}

/* the kernel's limit on the stack of a whole call chain (our engines give
 * every frame its own 512 bytes; the contract is the kernel's) */
static int check_combined_stack(struct ver *v)
{
	int err = chain_depth(v, 0, 0, 0);

	for (uint32_t pc = 0; !err && pc < v->cnt; pc++) {
		if (v->insns[pc].code != OP_LDDW)
			continue;
		if (v->insns[pc].src == BPFTIME_PSEUDO_FUNC)
			err = chain_depth(v, (uint32_t)((int64_t)pc + 1 + v->insns[pc].imm), 0, 0);
		pc++;
	}
	return err;
}

/* ---- the main loop ------------------------------------------------------------ */

static int init_state(struct ver *v)
{
	struct vstate *st = mem_calloc(1, sizeof(*st));
	struct vframe *f = frame_new();

	if (!st || !f) {
		free(st);
		free(f);
		return oom(v);
	}
	st->fr[0] = f;
	f->callsite = -1;
	vv_mark_const(&f->regs[REG_FP], 0);
	f->regs[REG_FP].type = VT_STACK;
	if (v->ops.raw_ctx || v->ops.ctx_access) {
		vv_mark_const(&f->regs[1], 0);
		f->regs[1].type = VT_CTX;
	}
	if (v->ops.raw_ctx) { /* the run's length: at most ctx_size */
		vv_mark_unknown(&f->regs[2]);
		f->regs[2].umax = v->ops.ctx_size;
		vv_sync(&f->regs[2]);
	}
	v->st = st;
	return 0;
}

/* re-entering a callback (pushed by do_exit with pc UINT32_MAX - 1) */
static int reenter_callback(struct ver *v, uint32_t *pc)
{
	struct vstate *st = v->st;
	struct vreg ctx = st->re_ctx;
	int err;

	st->re_pending = false;
	st->re_entry = true;
	v->pc = st->re_callsite;
	err = enter_callback(v, st->re_callsite, st->re_entry_pc, st->re_kind, st->re_map, &ctx);
	if (err)
		return err;
	*pc = v->pc;
	return 0;
}

static int do_check(struct ver *v)
{
	uint32_t pc = 0;
	int err;

	err = init_state(v);
	if (err)
		return err;
	for (;;) {
		const struct bpftime_insn *in;
		uint32_t next;

		if (pc == UINT32_MAX) /* an impossible path */
			goto pop;
		if (pc == UINT32_MAX - 1) {
			err = reenter_callback(v, &pc);
			if (err)
				return err;
		}
		v->pc = pc;
		if (++v->processed > BPFTIME_MAX_INSNS)
			return rej_e(v, E2BIG,
				     "BPF program is too large. Processed %" PRIu64 " insn",
				     v->processed);
		if (v->mark[pc] & MARK_PRUNE) {
			err = is_state_visited(v, pc);
			if (err < 0)
				return err;
			if (err == 1) {
				if (v->log_level >= 2)
					vlogf(v, "%u: safe\n", pc);
				goto done;
			}
		}
		in = &v->insns[pc];
		if (v->log_level) {
			if (v->log_level >= 2) {
				vlogf(v, "%u:", pc);
				print_state(v);
			}
			print_insn(v, pc);
		}
		next = pc + 1;
		if (BPF_CLASS(in->code) == BPF_JMP || BPF_CLASS(in->code) == BPF_JMP32)
			v->jmps++;
		switch (BPF_CLASS(in->code)) {
		case BPF_ALU:
		case BPF_ALU64:
			err = do_alu(v, in);
			break;
		case BPF_LDX:
			err = do_ldx(v, in);
			break;
		case BPF_ST:
			err = do_st(v, in);
			break;
		case BPF_STX:
			err = BPF_MODE(in->code) == BPF_ATOMIC ? do_atomic(v, in) : do_st(v, in);
			break;
		case BPF_LD:
			err = do_lddw(v, in);
			next = pc + 2;
			break;
		default:
			if (in->code == OP_JA) {
				next = (uint32_t)((int64_t)pc + 1 + in->off);
				err = 0;
			} else if (in->code == OP_JA32) {
				next = (uint32_t)((int64_t)pc + 1 + in->imm);
				err = 0;
			} else if (in->code == OP_EXIT) {
				err = do_exit(v, &next);
				if (err == 1)
					goto done;
			} else if (in->code == OP_CALL && in->src == BPFTIME_CALL_LOCAL) {
				err = do_local_call(v, (uint32_t)((int64_t)pc + 1 + in->imm));
				next = v->pc;
			} else if (in->code == OP_CALL) {
				err = do_helper_call(v, in->imm, &next);
			} else if (in->code == OP_CALLX) {
				struct vreg *t = reg(v, in->dst);

				err = check_read(v, in->dst);
				if (!err && t->type == VT_FUNC) {
					err = do_local_call(v, t->map);
					next = v->pc;
				} else if (!err && t->type == VT_SCALAR && vv_is_const(t) &&
					   t->var.value <= BPFTIME_MAX_HELPER_ID &&
					   v->vm->helpers[t->var.value]) {
					err = do_helper_call(v, (int32_t)t->var.value, &next);
				} else if (!err) {
					err = rej_e(
						v, EINVAL,
						"callx R%d: not a known helper or function (%s)",
						in->dst, tname(t));
				}
			} else {
				err = do_cond_jmp(v, in, &next);
			}
		}
		if (err)
			return err;
		pc = next;
		continue;
	done:
		path_done(v->st);
	pop:
		if (!v->sp)
			return 0;
		state_free(v->st);
		v->sp--;
		v->st = v->stack[v->sp].st;
		pc = v->stack[v->sp].pc;
		if (v->log_level && pc < v->cnt) {
			vlogf(v, "from %u to %u:", v->pc, pc);
			print_state(v);
		}
	}
}

static void free_all(struct ver *v)
{
	while (v->sp)
		state_free(v->stack[--v->sp].st);
	free(v->stack);
	state_free(v->st);
	if (v->sl) {
		for (uint32_t pc = 0; pc < v->cnt; pc++) {
			struct vsl *sl = v->sl[pc];

			while (sl) {
				struct vsl *nx = sl->next;

				state_clear(&sl->st);
				free(sl);
				sl = nx;
			}
		}
	}
	while (v->zombies) {
		struct vsl *nx = v->zombies->next;

		state_clear(&v->zombies->st);
		free(v->zombies);
		v->zombies = nx;
	}
	free(v->sl);
	free(v->sl_cnt);
	free(v->mark);
	free(v->live);
	free(v->need);
	free(v->sneed);
	free(v->depth);
	free(v->maps);
	free(v->map_src);
	free(v->map_imm);
	free(v->ctxacc);
}

/* the pcs of the context accesses, for load to rewrite (vm->ctx_pcs) */
static int save_ctx_pcs(struct ver *v)
{
	struct bpftime_vm *vm = v->vm;
	size_t n = 0;

	for (uint32_t pc = 0; pc < v->cnt; pc++)
		n += v->ctxacc[pc] == 1;
	free(vm->ctx_pcs);
	vm->ctx_pcs = NULL;
	vm->nr_ctx_pcs = 0;
	if (!n)
		return 0;
	vm->ctx_pcs = mem_calloc(n, sizeof(*vm->ctx_pcs));
	if (!vm->ctx_pcs)
		return oom(v);
	for (uint32_t pc = 0; pc < v->cnt; pc++)
		if (v->ctxacc[pc] == 1)
			vm->ctx_pcs[vm->nr_ctx_pcs++] = pc;
	return 0;
}

int vm_verify_safety(struct bpftime_vm *vm, const struct bpftime_insn *insns, size_t cnt)
{
	struct ver v = { .vm = vm, .insns = insns, .cnt = (uint32_t)cnt };
	struct vlog log = { 0 };
	int err;

	v.ops = vm->vops;
	v.log_level = vm->opts.log_level;
	v.log = v.log_level ? &log : NULL;
	v.mark = mem_calloc(cnt, 1);
	v.live = mem_calloc(cnt, sizeof(*v.live));
	v.need = mem_calloc(cnt, sizeof(*v.need));
	v.sneed = mem_calloc(cnt, sizeof(*v.sneed));
	v.depth = mem_calloc(cnt, sizeof(*v.depth));
	v.sl = mem_calloc(cnt, sizeof(*v.sl));
	v.sl_cnt = mem_calloc(cnt, sizeof(*v.sl_cnt));
	v.ctxacc = mem_calloc(cnt, 1);
	if (!v.mark || !v.live || !v.need || !v.sneed || !v.depth || !v.sl || !v.sl_cnt ||
	    !v.ctxacc) {
		err = oom(&v);
		goto out;
	}
	err = analyse(&v);
	if (!err)
		err = check_reachable(&v);
	if (!err)
		err = do_check(&v);
	if (!err)
		err = check_combined_stack(&v);
	if (!err)
		vm->ctx_extent = v.ctx_extent;
	if (!err && v.ops.ctx_convert && !v.ops.raw_ctx)
		err = save_ctx_pcs(&v);
	vlogf(&v,
	      "processed %" PRIu64 " insns (limit %d) max_states_per_insn %u total_states %u "
	      "peak_states %u mark_read 0\n",
	      v.processed > BPFTIME_MAX_INSNS ? (uint64_t)BPFTIME_MAX_INSNS : v.processed,
	      BPFTIME_MAX_INSNS, v.max_states_per_insn, v.total_states, v.peak_states);
out:
	free_all(&v);
	free(vm->vlog);
	vm->vlog = log.buf;
	return err;
}
