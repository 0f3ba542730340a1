/* SPDX-License-Identifier: MIT */
/* vm/verifier.h: the abstract domain shared by the memory-safety verifier's
 * files (verifier.c: paths, states, memory, calls; verifier_scalar.c: known
 * bits and bounds).  Internal to vm/.
 *
 * A register's value is described as the kernel's verifier describes it: a
 * type, and for scalars (or the variable part of a pointer's offset) a tnum
 * (which bits are known, and their value) with signed and unsigned bounds on
 * the 64-bit value and on its low 32 bits.  The five descriptions are kept
 * consistent by vv_sync(); each is a sound over-approximation on its own, so
 * any one may be looser than the others.
 */
#ifndef BPFTIME_VM_VERIFIER_H
#define BPFTIME_VM_VERIFIER_H

#include <stdbool.h>
#include <stdint.h>

/* known bits: bit i is unknown when mask bit i is set, else it is value bit i */
struct tnum {
	uint64_t value;
	uint64_t mask;
};

#define TNUM(v, m)   ((struct tnum){ .value = (v), .mask = (m) })
#define TNUM_UNKNOWN TNUM(0, UINT64_MAX)

struct tnum tn_const(uint64_t v);
struct tnum tn_range(uint64_t min, uint64_t max);
struct tnum tn_add(struct tnum a, struct tnum b);
struct tnum tn_sub(struct tnum a, struct tnum b);
struct tnum tn_and(struct tnum a, struct tnum b);
struct tnum tn_or(struct tnum a, struct tnum b);
struct tnum tn_xor(struct tnum a, struct tnum b);
struct tnum tn_mul(struct tnum a, struct tnum b);
struct tnum tn_lsh(struct tnum a, unsigned int s);
struct tnum tn_rsh(struct tnum a, unsigned int s);
struct tnum tn_arsh(struct tnum a, unsigned int s, unsigned int width);
struct tnum tn_intersect(struct tnum a, struct tnum b);
struct tnum tn_cast(struct tnum a, unsigned int bytes); /* truncate, zero-extend */
bool tn_is_const(struct tnum a);
bool tn_in(struct tnum outer, struct tnum inner); /* inner's values all in outer */

enum vv_type {
	VT_NOT_INIT = 0,
	VT_SCALAR,
	VT_CTX,
	VT_STACK,
	VT_MAP_VALUE,
	VT_MAP_KEY,
	VT_MAP_PTR,
	VT_PKT,
	VT_PKT_META,
	VT_PKT_END,
	VT_MEM,	 /* ringbuf_reserve memory: map = its size */
	VT_FUNC, /* function value: map = subprogram pc */
};

struct vreg {
	uint8_t type;	 /* enum vv_type */
	bool maybe_null; /* pointer or NULL, until a comparison with 0 decides */
	uint8_t frameno; /* VT_STACK: the frame whose stack it points into */
	int32_t off;	 /* pointers: the fixed part of the offset */
	/* scalars: the value; pointers: the variable part of the offset */
	struct tnum var;
	int64_t smin, smax;
	uint64_t umin, umax;
	int32_t s32min, s32max;
	uint32_t u32min, u32max;
	uint32_t id;	     /* copies share it: null checks, packet ranges, scalar bounds */
	uint32_t ref_obj_id; /* the reference this pointer holds (ringbuf memory) */
	uint32_t map;	     /* VT_MAP_*: index in the verifier's map table; VT_MEM: size */
	int32_t range;	     /* VT_PKT: bytes past off proved to be before packet end */
};

/* scalar helpers (verifier_scalar.c) */
void vv_mark_unknown(struct vreg *r);		/* any 64-bit scalar */
void vv_mark_const(struct vreg *r, uint64_t v); /* the scalar v */
void vv_mark_unbounded_var(struct vreg *r);	/* pointer's variable part: any */
void vv_sync(struct vreg *r);			/* make the five descriptions agree */
bool vv_is_const(const struct vreg *r);
bool vv_bounds_empty(const struct vreg *r); /* contradictory: the path cannot happen */
/* zero-extend the low 32 bits (a 32-bit ALU result) */
void vv_zext32(struct vreg *r);
/* sign-extend the low @bits bits into the 64-bit value */
void vv_sext(struct vreg *r, unsigned int bits);
/* truncate to the low @bytes bytes (zero-extended): a narrow load or bswap */
void vv_truncate(struct vreg *r, unsigned int bytes);

/* dst = dst OP src for scalars; op is the BPF_OP, w 32 or 64; off is the
 * instruction's off field (signed div/mod when 1).  Returns false when the
 * op is not a scalar ALU op handled here. */
void vv_alu(struct vreg *dst, const struct vreg *src, uint8_t op, unsigned int w, int16_t off);

/* Conditional jumps on two scalars (src may be a constant).  vv_branch()
 * returns 1 if (dst OP src) is always true, 0 if always false, -1 if
 * unknown, for width w.  vv_refine() narrows both for the path where the
 * condition has value @taken; returns false when that path is impossible. */
int vv_branch(const struct vreg *dst, const struct vreg *src, uint8_t op, unsigned int w);
bool vv_refine(struct vreg *dst, struct vreg *src, uint8_t op, unsigned int w, bool taken);

/* old's possible values include all of cur's (both scalars) */
bool vv_scalar_within(const struct vreg *old, const struct vreg *cur);

#endif /* BPFTIME_VM_VERIFIER_H */
