/* SPDX-License-Identifier: MIT */
/* helpers/packet.c: the helpers of packet programs that make sense without
 * a NIC: skb_load_bytes, skb_store_bytes, l3/l4_csum_replace, csum_diff,
 * redirect (the verdict only: there is no device to send to) and the XDP
 * adjust_head/meta/tail.  r1 is the real context (struct bpftime_xdp_ctx
 * or bpftime_skb_ctx of bpftime/runtime.h, after the load-time context
 * rewrite), so the helpers move its pointers as the kernel moves an
 * xdp_buff's or an skb's.  Semantics and error codes follow the kernel's
 * net/core/filter.c for a linear skb with ip_summed CHECKSUM_NONE (what
 * BPF_PROG_TEST_RUN builds); the checksum arithmetic is RFC 1071's.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"

#define ETH_HLEN	  14
#define XDP_FRAME_SIZE	  40  /* the kernel's struct xdp_frame, kept at the headroom's start */
#define XDP_META_MAX	  255 /* skb_shared_info.meta_len is a u8 */
#define XDP_ABORTED	  0
#define XDP_REDIRECT	  4
#define TC_ACT_SHOT	  2
#define TC_ACT_REDIRECT	  7
#define F_RECOMPUTE_CSUM  (1ULL << 0)
#define F_INVALIDATE_HASH (1ULL << 1)
#define F_HDR_FIELD_MASK  0xfULL
#define F_PSEUDO_HDR	  (1ULL << 4)
#define F_MARK_MANGLED_0  (1ULL << 5)
#define F_MARK_ENFORCE	  (1ULL << 6)
#define F_IPV6		  (1ULL << 7)
#define F_INGRESS	  (1ULL << 0)
#define CSUM_MANGLED_0	  0xffff

#define SKB(r1) ((struct bpftime_skb_ctx *)(uintptr_t)(r1))
#define XDP(r1) ((struct bpftime_xdp_ctx *)(uintptr_t)(r1))

/* ---- one's complement arithmetic (RFC 1071) -------------------------------- */

static uint32_t csum_add(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;

	return r + (r < b);
}

static uint32_t csum_sub(uint32_t a, uint32_t b)
{
	return csum_add(a, ~b);
}

/* 32-bit one's complement sum of @len bytes (a multiple of 4) plus @seed */
static uint32_t csum_words(const void *buf, uint32_t len, uint32_t seed)
{
	const uint8_t *p = buf;
	uint32_t s = seed, w;

	for (uint32_t i = 0; i + 4 <= len; i += 4) {
		memcpy(&w, p + i, 4);
		s = csum_add(s, w);
	}
	return s;
}

/* 32 -> 16 bits, not complemented */
static uint16_t csum_from32to16(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t csum_fold(uint32_t s)
{
	return (uint16_t)~csum_from32to16(s);
}

static uint16_t csum16_add(uint16_t csum, uint16_t addend)
{
	uint16_t r = (uint16_t)(csum + addend);

	return (uint16_t)(r + (r < addend));
}

static uint16_t load16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static void store16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* ---- skb ---------------------------------------------------------------------- */

static uint64_t skb_len(const struct bpftime_skb_ctx *s)
{
	return s->data_end - s->data;
}

/* long bpf_skb_load_bytes(const void *skb, u32 offset, void *to, u32 len):
 * -EFAULT (and to zeroed) past the packet */
HELPER_DECL(skb_load_bytes)
{
	struct bpftime_skb_ctx *s = SKB(r1);
	uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
	void *to = (void *)(uintptr_t)r3;

	UNUSED(r5);
	if (off > INT_MAX || (uint64_t)off + len > skb_len(s)) {
		memset(to, 0, len);
		return (uint64_t)-EFAULT;
	}
	memcpy(to, (const void *)(uintptr_t)(s->data + off), len);
	return 0;
}

/* long bpf_skb_store_bytes(struct sk_buff *skb, u32 offset, const void *from,
 * u32 len, u64 flags): the checksum flags change skb->csum, which a
 * CHECKSUM_NONE skb does not use */
HELPER_DECL(skb_store_bytes)
{
	struct bpftime_skb_ctx *s = SKB(r1);
	uint32_t off = (uint32_t)r2, len = (uint32_t)r4;

	if (r5 & ~(F_RECOMPUTE_CSUM | F_INVALIDATE_HASH))
		return (uint64_t)-EINVAL;
	if (off > INT_MAX || (uint64_t)off + len > skb_len(s))
		return (uint64_t)-EFAULT;
	memmove((void *)(uintptr_t)(s->data + off), (const void *)(uintptr_t)r3, len);
	if (r5 & F_INVALIDATE_HASH)
		s->sk[17] = 0; /* __sk_buff.hash (offset 68) */
	return 0;
}

/* the 16-bit checksum at @off of the packet, or NULL (-EFAULT) */
static uint8_t *csum_field(struct bpftime_skb_ctx *s, uint64_t off)
{
	if (off > 0xffff || (off & 1) || off + 2 > skb_len(s))
		return NULL;
	return (uint8_t *)(uintptr_t)(s->data + off);
}

/* long bpf_l3_csum_replace(skb, u32 offset, u64 from, u64 to, u64 size):
 * size 0 (to is a csum_diff result), 2 or 4 */
HELPER_DECL(l3_csum_replace)
{
	struct bpftime_skb_ctx *s = SKB(r1);
	uint8_t *p;
	uint16_t sum;

	if (r5 & ~F_HDR_FIELD_MASK)
		return (uint64_t)-EINVAL;
	p = csum_field(s, (uint32_t)r2);
	if (!p)
		return (uint64_t)-EFAULT;
	sum = load16(p);
	switch (r5 & F_HDR_FIELD_MASK) {
	case 0:
		if (r3)
			return (uint64_t)-EINVAL;
		sum = csum_fold(csum_add((uint32_t)r4, ~(uint32_t)sum));
		break;
	case 2:
		sum = (uint16_t)~csum16_add(csum16_add((uint16_t)~sum, (uint16_t) ~(uint16_t)r3),
					    (uint16_t)r4);
		break;
	case 4:
		sum = csum_fold(csum_add(csum_sub(~(uint32_t)sum, (uint32_t)r3), (uint32_t)r4));
		break;
	default:
		return (uint64_t)-EINVAL;
	}
	store16(p, sum);
	return 0;
}

/* long bpf_l4_csum_replace(skb, u32 offset, u64 from, u64 to, u64 flags):
 * the pseudo-header flag changes nothing more on a CHECKSUM_NONE skb */
HELPER_DECL(l4_csum_replace)
{
	struct bpftime_skb_ctx *s = SKB(r1);
	bool mmzero = r5 & F_MARK_MANGLED_0, mforce = r5 & F_MARK_ENFORCE;
	uint32_t from = (uint32_t)r3, to = (uint32_t)r4;
	uint8_t *p;
	uint16_t sum;

	if (r5 & ~(F_MARK_MANGLED_0 | F_MARK_ENFORCE | F_PSEUDO_HDR | F_HDR_FIELD_MASK | F_IPV6))
		return (uint64_t)-EINVAL;
	p = csum_field(s, (uint32_t)r2);
	if (!p)
		return (uint64_t)-EFAULT;
	sum = load16(p);
	if (mmzero && !mforce && !sum)
		return 0;
	switch (r5 & F_HDR_FIELD_MASK) {
	case 0:
		if (r3)
			return (uint64_t)-EINVAL;
		sum = csum_fold(csum_add(to, ~(uint32_t)sum));
		break;
	case 2:
		from &= 0xffff;
		to &= 0xffff;
		__attribute__((fallthrough)); /* a 2-byte field is a 4-byte one's low half */
	case 4:
		sum = csum_fold(csum_add(csum_add(~(uint32_t)sum, ~from), to));
		break;
	default:
		return (uint64_t)-EINVAL;
	}
	if (mmzero && !sum)
		sum = CSUM_MANGLED_0;
	store16(p, sum);
	return 0;
}

/* s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size,
 * __wsum seed): sizes are multiples of 4, each at most 512 */
HELPER_DECL(csum_diff)
{
	uint32_t fsize = (uint32_t)r2, tsize = (uint32_t)r4, seed = (uint32_t)r5;
	const void *from = (const void *)(uintptr_t)r1, *to = (const void *)(uintptr_t)r3;

	if (((fsize | tsize) & 3) || fsize > 512 || tsize > 512)
		return (uint64_t)-EINVAL;
	if (fsize && tsize)
		return csum_from32to16(
			csum_sub(csum_words(to, tsize, seed), csum_words(from, fsize, 0)));
	if (tsize)
		return csum_from32to16(csum_words(to, tsize, seed));
	if (fsize)
		return csum_from32to16(~csum_words(from, fsize, ~seed));
	return seed;
}

/* long bpf_redirect(u32 ifindex, u64 flags) for tc: TC_ACT_REDIRECT, or
 * TC_ACT_SHOT for flags other than BPF_F_INGRESS.  There is no device
 * here: the verdict is all a program gets, as in a test run. */
HELPER_DECL(redirect)
{
	UNUSED(r1), UNUSED(r3), UNUSED(r4), UNUSED(r5);
	return r2 & ~F_INGRESS ? TC_ACT_SHOT : TC_ACT_REDIRECT;
}

/* the same for XDP (bound to id 23 for XDP programs): XDP_REDIRECT, or
 * XDP_ABORTED for any flag */
static uint64_t helper_xdp_redirect(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	UNUSED(r1), UNUSED(r3), UNUSED(r4), UNUSED(r5);
	return r2 ? XDP_ABORTED : XDP_REDIRECT;
}

/* ---- xdp ---------------------------------------------------------------------- */

/* long bpf_xdp_adjust_head(struct xdp_md *xdp, int delta): the metadata
 * moves with the data; at least ETH_HLEN bytes stay */
HELPER_DECL(xdp_adjust_head)
{
	struct bpftime_xdp_ctx *x = XDP(r1);
	int64_t delta = (int32_t)r2;
	uint64_t metalen = x->data - x->data_meta;
	uint64_t data = x->data + (uint64_t)delta;

	UNUSED(r3), UNUSED(r4), UNUSED(r5);
	if (data < x->data_hard_start + XDP_FRAME_SIZE + metalen || data > x->data_end - ETH_HLEN)
		return (uint64_t)-EINVAL;
	if (metalen)
		memmove((void *)(uintptr_t)(x->data_meta + (uint64_t)delta),
			(const void *)(uintptr_t)x->data_meta, metalen);
	x->data_meta += (uint64_t)delta;
	x->data = data;
	return 0;
}

/* long bpf_xdp_adjust_meta(struct xdp_md *xdp, int delta): metadata is a
 * multiple of 4 bytes, at most 255, after the frame header */
HELPER_DECL(xdp_adjust_meta)
{
	struct bpftime_xdp_ctx *x = XDP(r1);
	uint64_t meta = x->data_meta + (uint64_t)(int64_t)(int32_t)r2, metalen;

	UNUSED(r3), UNUSED(r4), UNUSED(r5);
	if (meta < x->data_hard_start + XDP_FRAME_SIZE || meta > x->data)
		return (uint64_t)-EINVAL;
	metalen = x->data - meta;
	if ((metalen & 3) || metalen > XDP_META_MAX)
		return (uint64_t)-EACCES;
	x->data_meta = meta;
	return 0;
}

/* long bpf_xdp_adjust_tail(struct xdp_md *xdp, int delta): up to the
 * frame's end (minus the kernel's shared-info tailroom), down to ETH_HLEN;
 * grown bytes are zeroed */
HELPER_DECL(xdp_adjust_tail)
{
	struct bpftime_xdp_ctx *x = XDP(r1);
	int64_t delta = (int32_t)r2;
	uint64_t end = x->data_end + (uint64_t)delta;

	UNUSED(r3), UNUSED(r4), UNUSED(r5);
	if (x->frags)
		return (uint64_t)-EOPNOTSUPP; /* the kernel grows and shrinks the fragments */
	if (end > x->data_hard_end || end < x->data + ETH_HLEN)
		return (uint64_t)-EINVAL;
	if (delta > 0)
		memset((void *)(uintptr_t)x->data_end, 0, (size_t)delta);
	x->data_end = end;
	return 0;
}

int bpftime_helpers__register_for_type(struct bpftime_vm *vm, uint32_t prog_type)
{
	int err = bpftime_helpers__register(vm);

	if (!err && prog_type == 6) /* BPF_PROG_TYPE_XDP */
		err = bpftime_vm__register_helper(vm, 23, "redirect", helper_xdp_redirect);
	return err;
}
