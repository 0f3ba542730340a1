/* SPDX-License-Identifier: MIT */
/* vm/verifier_scalar.c: the verifier's scalar domain: tnums (known bits),
 * signed/unsigned 64- and 32-bit bounds, their ALU transfer functions and
 * the refinement a conditional jump gives each path.
 *
 * Every function is a sound over-approximation: when in doubt a result
 * becomes "any value" (of the operation's width), never something narrower
 * than what the machine can produce.  32-bit operations work on a "view" of
 * the low 32 bits and zero-extend, as the ISA does.  The semantics follow the
 * kernel's verifier (tnum.c, adjust_scalar_min_max_vals, reg_set_min_max);
 * the code is our own.
 */
#include <stdint.h>
#include "verifier.h"
#include "insn.h"

/* ---- tnum ---------------------------------------------------------------- */

struct tnum tn_const(uint64_t v)
{
	return TNUM(v, 0);
}

struct tnum tn_range(uint64_t min, uint64_t max)
{
	uint64_t chi = min ^ max, delta;
	unsigned int bits = chi ? 64 - (unsigned int)__builtin_clzll(chi) : 0;

	if (min > max || bits > 63)
		return TNUM_UNKNOWN;
	delta = (UINT64_C(1) << bits) - 1;
	return TNUM(min & ~delta, delta);
}

struct tnum tn_add(struct tnum a, struct tnum b)
{
	uint64_t sm = a.mask + b.mask, sv = a.value + b.value;
	uint64_t chi = (sm + sv) ^ sv, mu = chi | a.mask | b.mask;

	return TNUM(sv & ~mu, mu);
}

struct tnum tn_sub(struct tnum a, struct tnum b)
{
	uint64_t dv = a.value - b.value;
	uint64_t chi = (dv + a.mask) ^ (dv - b.mask), mu = chi | a.mask | b.mask;

	return TNUM(dv & ~mu, mu);
}

struct tnum tn_and(struct tnum a, struct tnum b)
{
	uint64_t v = a.value & b.value;

	return TNUM(v, (a.value | a.mask) & (b.value | b.mask) & ~v);
}

struct tnum tn_or(struct tnum a, struct tnum b)
{
	uint64_t v = a.value | b.value;

	return TNUM(v, (a.mask | b.mask) & ~v);
}

struct tnum tn_xor(struct tnum a, struct tnum b)
{
	uint64_t mu = a.mask | b.mask;

	return TNUM((a.value ^ b.value) & ~mu, mu);
}

/* long multiplication over a's bits: a known one adds b's unknown bits, an
 * unknown bit adds every possibly-set bit of b */
struct tnum tn_mul(struct tnum a, struct tnum b)
{
	struct tnum acc = TNUM(0, 0);
	uint64_t v = a.value * b.value;

	while (a.value || a.mask) {
		if (a.value & 1)
			acc = tn_add(acc, TNUM(0, b.mask));
		else if (a.mask & 1)
			acc = tn_add(acc, TNUM(0, b.value | b.mask));
		a = tn_rsh(a, 1);
		b = tn_lsh(b, 1);
	}
	return tn_add(TNUM(v, 0), acc);
}

struct tnum tn_lsh(struct tnum a, unsigned int s)
{
	return TNUM(a.value << s, a.mask << s);
}

struct tnum tn_rsh(struct tnum a, unsigned int s)
{
	return TNUM(a.value >> s, a.mask >> s);
}

struct tnum tn_arsh(struct tnum a, unsigned int s, unsigned int width)
{
	if (width == 32)
		return TNUM((uint32_t)((int32_t)(uint32_t)a.value >> s),
			    (uint32_t)((int32_t)(uint32_t)a.mask >> s));
	return TNUM((uint64_t)((int64_t)a.value >> s), (uint64_t)((int64_t)a.mask >> s));
}

struct tnum tn_intersect(struct tnum a, struct tnum b)
{
	uint64_t v = a.value | b.value, mu = a.mask & b.mask;

	return TNUM(v & ~mu, mu);
}

struct tnum tn_cast(struct tnum a, unsigned int bytes)
{
	uint64_t m = bytes >= 8 ? UINT64_MAX : (UINT64_C(1) << (bytes * 8)) - 1;

	return TNUM(a.value & m, a.mask & m);
}

bool tn_is_const(struct tnum a)
{
	return !a.mask;
}

bool tn_in(struct tnum outer, struct tnum inner)
{
	if (inner.mask & ~outer.mask)
		return false;
	return (inner.value & ~outer.mask) == outer.value;
}

/* ---- registers ------------------------------------------------------------ */

static void full32(struct vreg *r)
{
	r->s32min = INT32_MIN;
	r->s32max = INT32_MAX;
	r->u32min = 0;
	r->u32max = UINT32_MAX;
}

static void full64(struct vreg *r)
{
	r->smin = INT64_MIN;
	r->smax = INT64_MAX;
	r->umin = 0;
	r->umax = UINT64_MAX;
}

void vv_mark_unknown(struct vreg *r)
{
	uint8_t fn = r->frameno;

	*r = (struct vreg){ .type = VT_SCALAR, .var = TNUM_UNKNOWN };
	r->frameno = fn;
	full64(r);
	full32(r);
}

void vv_mark_unbounded_var(struct vreg *r)
{
	r->var = TNUM_UNKNOWN;
	full64(r);
	full32(r);
}

void vv_mark_const(struct vreg *r, uint64_t v)
{
	*r = (struct vreg){ .type = VT_SCALAR, .var = tn_const(v) };
	r->smin = r->smax = (int64_t)v;
	r->umin = r->umax = v;
	r->s32min = r->s32max = (int32_t)(uint32_t)v;
	r->u32min = r->u32max = (uint32_t)v;
}

bool vv_is_const(const struct vreg *r)
{
	return tn_is_const(r->var);
}

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static void deduce64(struct vreg *r)
{
	if (r->smin >= 0 || r->smax < 0) {
		uint64_t lo = MAX((uint64_t)r->smin, r->umin), hi = MIN((uint64_t)r->smax, r->umax);

		r->umin = lo;
		r->smin = (int64_t)lo;
		r->umax = hi;
		r->smax = (int64_t)hi;
	} else if ((int64_t)r->umax >= 0) {
		r->smin = (int64_t)r->umin;
		r->umax = MIN((uint64_t)r->smax, r->umax);
		r->smax = (int64_t)r->umax;
	} else if ((int64_t)r->umin < 0) {
		r->umin = MAX((uint64_t)r->smin, r->umin);
		r->smin = (int64_t)r->umin;
		r->smax = (int64_t)r->umax;
	}
}

static void deduce32(struct vreg *r)
{
	if (r->s32min >= 0 || r->s32max < 0) {
		uint32_t lo = MAX((uint32_t)r->s32min, r->u32min);
		uint32_t hi = MIN((uint32_t)r->s32max, r->u32max);

		r->u32min = lo;
		r->s32min = (int32_t)lo;
		r->u32max = hi;
		r->s32max = (int32_t)hi;
	} else if ((int32_t)r->u32max >= 0) {
		r->s32min = (int32_t)r->u32min;
		r->u32max = MIN((uint32_t)r->s32max, r->u32max);
		r->s32max = (int32_t)r->u32max;
	} else if ((int32_t)r->u32min < 0) {
		r->u32min = MAX((uint32_t)r->s32min, r->u32min);
		r->s32min = (int32_t)r->u32min;
		r->s32max = (int32_t)r->u32max;
	}
}

static void from_tnum(struct vreg *r)
{
	struct tnum t = r->var;
	uint32_t v32 = (uint32_t)t.value, m32 = (uint32_t)t.mask;

	r->smin = MAX(r->smin, (int64_t)(t.value | (t.mask & (UINT64_C(1) << 63))));
	r->smax = MIN(r->smax, (int64_t)(t.value | (t.mask & (uint64_t)INT64_MAX)));
	r->umin = MAX(r->umin, t.value);
	r->umax = MIN(r->umax, t.value | t.mask);
	r->s32min = MAX(r->s32min, (int32_t)(v32 | (m32 & UINT32_C(0x80000000))));
	r->s32max = MIN(r->s32max, (int32_t)(v32 | (m32 & (uint32_t)INT32_MAX)));
	r->u32min = MAX(r->u32min, v32);
	r->u32max = MIN(r->u32max, v32 | m32);
}

/* the 32-bit and 64-bit bounds inform each other when the upper halves of
 * a 64-bit range are equal (the low halves then move monotonically) */
static void link32_64(struct vreg *r)
{
	if ((r->umin >> 32) == (r->umax >> 32)) {
		uint64_t hi = r->umin & ~UINT64_C(0xffffffff);

		r->u32min = MAX(r->u32min, (uint32_t)r->umin);
		r->u32max = MIN(r->u32max, (uint32_t)r->umax);
		if ((int32_t)(uint32_t)r->umin <= (int32_t)(uint32_t)r->umax) {
			r->s32min = MAX(r->s32min, (int32_t)(uint32_t)r->umin);
			r->s32max = MIN(r->s32max, (int32_t)(uint32_t)r->umax);
		}
		r->umin = MAX(r->umin, hi | r->u32min);
		r->umax = MIN(r->umax, hi | r->u32max);
	}
	if (((uint64_t)r->smin >> 32) == ((uint64_t)r->smax >> 32)) {
		r->u32min = MAX(r->u32min, (uint32_t)r->smin);
		r->u32max = MIN(r->u32max, (uint32_t)r->smax);
		if ((int32_t)(uint32_t)r->smin <= (int32_t)(uint32_t)r->smax) {
			r->s32min = MAX(r->s32min, (int32_t)(uint32_t)r->smin);
			r->s32max = MIN(r->s32max, (int32_t)(uint32_t)r->smax);
		}
	}
}

static void to_tnum(struct vreg *r)
{
	struct tnum t = tn_intersect(r->var, tn_range(r->umin, r->umax));
	struct tnum lo = tn_intersect(tn_cast(t, 4), tn_range(r->u32min, r->u32max));

	r->var = TNUM((t.value & ~UINT64_C(0xffffffff)) | lo.value,
		      (t.mask & ~UINT64_C(0xffffffff)) | lo.mask);
}

bool vv_bounds_empty(const struct vreg *r)
{
	return r->smin > r->smax || r->umin > r->umax || r->s32min > r->s32max ||
	       r->u32min > r->u32max || r->var.value > r->umax ||
	       (r->var.value | r->var.mask) < r->umin;
}

void vv_sync(struct vreg *r)
{
	for (int i = 0; i < 2; i++) {
		from_tnum(r);
		link32_64(r);
		deduce32(r);
		deduce64(r);
		if (vv_bounds_empty(r))
			return;
		to_tnum(r);
	}
}

void vv_zext32(struct vreg *r)
{
	r->var = tn_cast(r->var, 4);
	r->umin = r->u32min;
	r->umax = r->u32max;
	r->smin = (int64_t)r->umin;
	r->smax = (int64_t)r->umax;
	vv_sync(r);
}

void vv_truncate(struct vreg *r, unsigned int bytes)
{
	uint64_t max = (UINT64_C(1) << (bytes * 8)) - 1;

	if (bytes >= 8 || r->umax <= max)
		return;
	r->var = tn_cast(r->var, bytes);
	r->umin = 0;
	r->umax = max;
	r->smin = 0;
	r->smax = (int64_t)max;
	full32(r);
	vv_sync(r);
}

void vv_sext(struct vreg *r, unsigned int bits)
{
	uint64_t half = UINT64_C(1) << (bits - 1);
	uint64_t m = (half << 1) - 1;

	if (bits >= 64)
		return;
	if (tn_is_const(tn_cast(r->var, bits / 8))) {
		uint64_t v = r->var.value & m;

		vv_mark_const(r, (v & half) ? v | ~m : v);
		return;
	}
	if (r->umax < half) /* non-negative and narrow: unchanged */
		return;
	if (bits == 32 && r->s32min <= r->s32max) {
		int64_t lo = r->s32min, hi = r->s32max;

		vv_mark_unknown(r);
		r->smin = lo;
		r->smax = hi;
	} else {
		vv_mark_unknown(r);
		r->smin = -(int64_t)half;
		r->smax = (int64_t)half - 1;
	}
	vv_sync(r);
}

/* ---- views: the 64-bit value or the low 32 bits ---------------------------- */

struct view {
	struct tnum t;
	int64_t smin, smax;
	uint64_t umin, umax;
};

static struct view get_view(const struct vreg *r, unsigned int w)
{
	if (w == 64)
		return (struct view){ r->var, r->smin, r->smax, r->umin, r->umax };
	return (struct view){ tn_cast(r->var, 4), r->s32min, r->s32max, r->u32min, r->u32max };
}

static uint64_t umax_w(unsigned int w)
{
	return w == 64 ? UINT64_MAX : UINT32_MAX;
}

static int64_t smin_w(unsigned int w)
{
	return w == 64 ? INT64_MIN : INT32_MIN;
}

static int64_t smax_w(unsigned int w)
{
	return w == 64 ? INT64_MAX : INT32_MAX;
}

/* an ALU result: 64-bit replaces everything, 32-bit zero-extends */
static void put_result(struct vreg *r, unsigned int w, struct view v)
{
	uint8_t fn = r->frameno;

	*r = (struct vreg){ .type = VT_SCALAR, .frameno = fn };
	if (w == 64) {
		r->var = v.t;
		r->smin = v.smin;
		r->smax = v.smax;
		r->umin = v.umin;
		r->umax = v.umax;
		full32(r);
		vv_sync(r);
		return;
	}
	r->var = tn_cast(v.t, 4);
	r->s32min = (int32_t)v.smin;
	r->s32max = (int32_t)v.smax;
	r->u32min = (uint32_t)v.umin;
	r->u32max = (uint32_t)v.umax;
	r->umin = 0;
	r->umax = UINT32_MAX;
	r->smin = 0;
	r->smax = UINT32_MAX;
	vv_sync(r);
}

static void s_full(struct view *v, unsigned int w)
{
	v->smin = smin_w(w);
	v->smax = smax_w(w);
}

static void u_full(struct view *v, unsigned int w)
{
	v->umin = 0;
	v->umax = umax_w(w);
}

static struct view full_view(unsigned int w)
{
	struct view v = { .t = w == 64 ? TNUM_UNKNOWN : TNUM(0, UINT32_MAX) };

	s_full(&v, w);
	u_full(&v, w);
	return v;
}

static bool add_s(int64_t a, int64_t b, unsigned int w, int64_t *r)
{
	if (__builtin_add_overflow(a, b, r))
		return false;
	return *r >= smin_w(w) && *r <= smax_w(w);
}

static bool sub_s(int64_t a, int64_t b, unsigned int w, int64_t *r)
{
	if (__builtin_sub_overflow(a, b, r))
		return false;
	return *r >= smin_w(w) && *r <= smax_w(w);
}

static bool mul_s(int64_t a, int64_t b, unsigned int w, int64_t *r)
{
	if (__builtin_mul_overflow(a, b, r))
		return false;
	return *r >= smin_w(w) && *r <= smax_w(w);
}

static bool add_u(uint64_t a, uint64_t b, unsigned int w, uint64_t *r)
{
	if (__builtin_add_overflow(a, b, r))
		return false;
	return *r <= umax_w(w);
}

void vv_alu(struct vreg *dst, const struct vreg *src, uint8_t op, unsigned int w, int16_t off)
{
	struct view a = get_view(dst, w), b = get_view(src, w), r = full_view(w);
	uint64_t m = umax_w(w);
	bool bconst = tn_is_const(b.t);
	uint64_t c = b.t.value;

	switch (op) {
	case BPF_ADD:
		r.t = tn_cast(tn_add(a.t, b.t), w / 8);
		if (!add_s(a.smin, b.smin, w, &r.smin) || !add_s(a.smax, b.smax, w, &r.smax))
			s_full(&r, w);
		if (!add_u(a.umin, b.umin, w, &r.umin) || !add_u(a.umax, b.umax, w, &r.umax))
			u_full(&r, w);
		break;
	case BPF_SUB:
		r.t = tn_cast(tn_sub(a.t, b.t), w / 8);
		if (!sub_s(a.smin, b.smax, w, &r.smin) || !sub_s(a.smax, b.smin, w, &r.smax))
			s_full(&r, w);
		if (a.umin >= b.umax) {
			r.umin = a.umin - b.umax;
			r.umax = a.umax - b.umin;
		}
		break;
	case BPF_MUL: {
		/* the kernel's scalar_min_max_mul: the bounds' products when
		 * none overflows (signed: the four corners) */
		int64_t p[4];

		r.t = tn_cast(tn_mul(a.t, b.t), w / 8);
		if (!__builtin_mul_overflow(a.umin, b.umin, &r.umin) &&
		    !__builtin_mul_overflow(a.umax, b.umax, &r.umax) && r.umax <= m)
			; /* bounded */
		else
			u_full(&r, w);
		if (mul_s(a.smin, b.smin, w, &p[0]) && mul_s(a.smin, b.smax, w, &p[1]) &&
		    mul_s(a.smax, b.smin, w, &p[2]) && mul_s(a.smax, b.smax, w, &p[3])) {
			r.smin = MIN(MIN(p[0], p[1]), MIN(p[2], p[3]));
			r.smax = MAX(MAX(p[0], p[1]), MAX(p[2], p[3]));
		} else {
			s_full(&r, w);
		}
		break;
	}
	case BPF_AND:
		r.t = tn_and(a.t, b.t);
		r.umin = r.t.value;
		r.umax = MIN(a.umax, b.umax);
		if (a.smin >= 0 || b.smin >= 0) { /* either operand clears the sign */
			r.smin = 0;
			r.smax = smax_w(w);
		}
		break;
	case BPF_OR:
		r.t = tn_or(a.t, b.t);
		r.umin = MAX(a.umin, b.umin);
		r.umax = r.t.value | r.t.mask;
		if (a.smin >= 0 && b.smin >= 0) {
			r.smin = 0;
			r.smax = smax_w(w);
		}
		break;
	case BPF_XOR:
		r.t = tn_xor(a.t, b.t);
		r.umin = r.t.value;
		r.umax = r.t.value | r.t.mask;
		if (a.smin >= 0 && b.smin >= 0) {
			r.smin = 0;
			r.smax = smax_w(w);
		}
		break;
	case BPF_LSH:
		if (!bconst || c >= w)
			break; /* the run masks the count: any value */
		r.t = tn_cast(tn_lsh(a.t, (unsigned int)c), w / 8);
		if (a.umax <= (m >> c)) {
			r.umin = a.umin << c;
			r.umax = a.umax << c;
		}
		break;
	case BPF_RSH:
		if (!bconst || c >= w) {
			r.umax = a.umax; /* a >> n <= a */
			break;
		}
		r.t = tn_rsh(a.t, (unsigned int)c);
		r.umin = a.umin >> c;
		r.umax = a.umax >> c;
		break;
	case BPF_ARSH:
		if (!bconst || c >= w)
			break;
		r.t = tn_cast(tn_arsh(a.t, (unsigned int)c, w), w / 8);
		r.smin = a.smin >> c;
		r.smax = a.smax >> c;
		break;
	case BPF_DIV:
		if (off)
			break; /* sdiv: any value */
		if (bconst && c) {
			r.umin = a.umin / c;
			r.umax = a.umax / c;
		} else {
			r.umax = a.umax; /* a / b <= a, a / 0 = 0 */
		}
		break;
	case BPF_MOD:
		if (off)
			break; /* smod: any value */
		if (bconst && c && a.umax < c) {
			r = a; /* unchanged */
		} else if (bconst && c) {
			r.umax = c - 1;
		} else {
			r.umax = a.umax; /* a % b <= a, a % 0 = a */
		}
		break;
	case BPF_NEG:
		if (tn_is_const(a.t)) {
			uint64_t v = (0 - a.t.value) & m;

			r.t = tn_const(v);
			r.umin = r.umax = v;
			r.smin = r.smax = w == 64 ? (int64_t)v : (int32_t)(uint32_t)v;
		}
		break;
	default:
		break;
	}
	put_result(dst, w, r);
}

/* ---- conditional jumps ------------------------------------------------------ */

static int branch_view(struct view a, struct view b, uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		if (tn_is_const(a.t) && tn_is_const(b.t))
			return a.t.value == b.t.value;
		if (a.umin > b.umax || a.umax < b.umin || a.smin > b.smax || a.smax < b.smin ||
		    ((a.t.value ^ b.t.value) & ~(a.t.mask | b.t.mask)))
			return 0;
		return -1;
	case BPF_JNE: {
		int r = branch_view(a, b, BPF_JEQ);

		return r < 0 ? r : !r;
	}
	case BPF_JGT:
		return a.umin > b.umax ? 1 : a.umax <= b.umin ? 0 : -1;
	case BPF_JGE:
		return a.umin >= b.umax ? 1 : a.umax < b.umin ? 0 : -1;
	case BPF_JLT:
		return a.umax < b.umin ? 1 : a.umin >= b.umax ? 0 : -1;
	case BPF_JLE:
		return a.umax <= b.umin ? 1 : a.umin > b.umax ? 0 : -1;
	case BPF_JSGT:
		return a.smin > b.smax ? 1 : a.smax <= b.smin ? 0 : -1;
	case BPF_JSGE:
		return a.smin >= b.smax ? 1 : a.smax < b.smin ? 0 : -1;
	case BPF_JSLT:
		return a.smax < b.smin ? 1 : a.smin >= b.smax ? 0 : -1;
	case BPF_JSLE:
		return a.smax <= b.smin ? 1 : a.smin > b.smax ? 0 : -1;
	case BPF_JSET:
		if (a.t.value & b.t.value)
			return 1;
		if (!((a.t.value | a.t.mask) & (b.t.value | b.t.mask)))
			return 0;
		return -1;
	default:
		return -1;
	}
}

int vv_branch(const struct vreg *dst, const struct vreg *src, uint8_t op, unsigned int w)
{
	return branch_view(get_view(dst, w), get_view(src, w), op);
}

static uint8_t negate(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return BPF_JNE;
	case BPF_JNE:
		return BPF_JEQ;
	case BPF_JGT:
		return BPF_JLE;
	case BPF_JLE:
		return BPF_JGT;
	case BPF_JGE:
		return BPF_JLT;
	case BPF_JLT:
		return BPF_JGE;
	case BPF_JSGT:
		return BPF_JSLE;
	case BPF_JSLE:
		return BPF_JSGT;
	case BPF_JSGE:
		return BPF_JSLT;
	case BPF_JSLT:
		return BPF_JSGE;
	default:
		return op;
	}
}

/* a view back into a register: 64-bit replaces, 32-bit narrows the low half */
static void put_view(struct vreg *r, unsigned int w, struct view v)
{
	if (w == 64) {
		r->var = tn_intersect(r->var, v.t);
		r->smin = MAX(r->smin, v.smin);
		r->smax = MIN(r->smax, v.smax);
		r->umin = MAX(r->umin, v.umin);
		r->umax = MIN(r->umax, v.umax);
	} else {
		struct tnum lo = tn_intersect(tn_cast(r->var, 4), tn_cast(v.t, 4));

		r->var = TNUM((r->var.value & ~UINT64_C(0xffffffff)) | lo.value,
			      (r->var.mask & ~UINT64_C(0xffffffff)) | lo.mask);
		r->s32min = (int32_t)MAX((int64_t)r->s32min, v.smin);
		r->s32max = (int32_t)MIN((int64_t)r->s32max, v.smax);
		r->u32min = (uint32_t)MAX((uint64_t)r->u32min, v.umin);
		r->u32max = (uint32_t)MIN((uint64_t)r->u32max, v.umax);
		if (v.smin > smax_w(32) || v.smax < smin_w(32) || v.umin > UINT32_MAX) {
			r->u32min = 1; /* empty */
			r->u32max = 0;
		}
	}
}

/* known bits that disagree: no value is in both */
static bool tn_conflict(struct tnum a, struct tnum b)
{
	return (a.value ^ b.value) & ~(a.mask | b.mask);
}

#define EMPTY(v) ((v).umin > (v).umax || (v).smin > (v).smax)

bool vv_refine(struct vreg *dst, struct vreg *src, uint8_t op, unsigned int w, bool taken)
{
	struct view a = get_view(dst, w), b = get_view(src, w);
	uint64_t um = umax_w(w);

	if (!taken)
		op = op == BPF_JSET ? (uint8_t)(BPF_JSET | 1) : negate(op);
	switch (op) {
	case BPF_JEQ:
		if (tn_conflict(a.t, b.t))
			return false;
		a.t = b.t = tn_intersect(a.t, b.t);
		a.umin = b.umin = MAX(a.umin, b.umin);
		a.umax = b.umax = MIN(a.umax, b.umax);
		a.smin = b.smin = MAX(a.smin, b.smin);
		a.smax = b.smax = MIN(a.smax, b.smax);
		break;
	case BPF_JNE:
		if (tn_is_const(b.t)) {
			if (a.umin == b.t.value && a.umin < um)
				a.umin++;
			else if (a.umax == b.t.value && a.umax > 0)
				a.umax--;
			else if (a.umin == b.t.value)
				return false;
		}
		break;
	case BPF_JGT:
		if (b.umin == um || a.umax == 0)
			return false;
		a.umin = MAX(a.umin, b.umin + 1);
		b.umax = MIN(b.umax, a.umax - 1);
		break;
	case BPF_JGE:
		a.umin = MAX(a.umin, b.umin);
		b.umax = MIN(b.umax, a.umax);
		break;
	case BPF_JLT:
		if (b.umax == 0 || a.umin == um)
			return false;
		a.umax = MIN(a.umax, b.umax - 1);
		b.umin = MAX(b.umin, a.umin + 1);
		break;
	case BPF_JLE:
		a.umax = MIN(a.umax, b.umax);
		b.umin = MAX(b.umin, a.umin);
		break;
	case BPF_JSGT:
		if (b.smin == smax_w(w) || a.smax == smin_w(w))
			return false;
		a.smin = MAX(a.smin, b.smin + 1);
		b.smax = MIN(b.smax, a.smax - 1);
		break;
	case BPF_JSGE:
		a.smin = MAX(a.smin, b.smin);
		b.smax = MIN(b.smax, a.smax);
		break;
	case BPF_JSLT:
		if (b.smax == smin_w(w) || a.smin == smax_w(w))
			return false;
		a.smax = MIN(a.smax, b.smax - 1);
		b.smin = MAX(b.smin, a.smin + 1);
		break;
	case BPF_JSLE:
		a.smax = MIN(a.smax, b.smax);
		b.smin = MAX(b.smin, a.smin);
		break;
	case BPF_JSET | 1: /* not taken: no common bit */
		if (tn_is_const(b.t)) {
			if (a.t.value & b.t.value)
				return false;
			a.t = TNUM(a.t.value & ~b.t.value, a.t.mask & ~b.t.value);
		}
		break;
	default: /* JSET taken: nothing simple to learn */
		break;
	}
	if (EMPTY(a) || EMPTY(b))
		return false;
	put_view(dst, w, a);
	put_view(src, w, b);
	vv_sync(dst);
	vv_sync(src);
	return !vv_bounds_empty(dst) && !vv_bounds_empty(src);
}

bool vv_scalar_within(const struct vreg *old, const struct vreg *cur)
{
	return old->smin <= cur->smin && old->smax >= cur->smax && old->umin <= cur->umin &&
	       old->umax >= cur->umax && old->s32min <= cur->s32min && old->s32max >= cur->s32max &&
	       old->u32min <= cur->u32min && old->u32max >= cur->u32max &&
	       tn_in(old->var, cur->var);
}
