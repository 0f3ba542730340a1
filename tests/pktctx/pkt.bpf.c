/* SPDX-License-Identifier: MIT */
/* tests/pktctx/pkt.bpf.c: XDP, tc and socket filter programs that use the
 * contexts the kernel builds for BPF_PROG_TEST_RUN (ctx->data as a real
 * pointer, metadata, __sk_buff fields) and the packet helpers.  pkt_run
 * runs each on the kernel and under bpftime; the outputs must agree. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN 14

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static void put(__u32 k, __u64 v)
{
	bpf_map_update_elem(&out, &k, &v, 0);
}

/* swaps the Ethernet addresses, counts bytes, notes the xdp_md fields */
SEC("xdp")
int xdp_swap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned char *p = data, tmp[6];

	if (data + ETH_HLEN > end)
		return XDP_DROP;
	__builtin_memcpy(tmp, p, 6);
	__builtin_memcpy(p, p + 6, 6);
	__builtin_memcpy(p + 6, tmp, 6);
	put(0, end - data);
	put(1, ctx->ingress_ifindex);
	put(2, ctx->rx_queue_index);
	put(3, (void *)(long)ctx->data_meta == data);
	return XDP_TX;
}

/* pops the Ethernet header, then pushes 4 bytes of its own */
SEC("xdp")
int xdp_head(struct xdp_md *ctx)
{
	void *data, *end;

	if (bpf_xdp_adjust_head(ctx, ETH_HLEN))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 4 > end)
		return XDP_DROP;
	*(__u32 *)data = bpf_htonl(0xdeadbeef);
	put(4, end - data);
	put(5, bpf_xdp_adjust_head(ctx, -4096)); /* past the headroom: -EINVAL */
	return XDP_PASS;
}

/* trims 4 bytes, grows by 8 (zeroed), writes the last byte */
SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	unsigned char *data, *end;

	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, 8))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 68 > end)
		return XDP_DROP;
	data[67] = 0x7e;
	put(6, (void *)end - (void *)data);
	put(7, bpf_xdp_adjust_tail(ctx, 4096)); /* past the frame: -EINVAL */
	return XDP_PASS;
}

/* makes 8 bytes of metadata and fills them from the packet */
SEC("xdp")
int xdp_meta(struct xdp_md *ctx)
{
	void *data, *meta;

	if (bpf_xdp_adjust_meta(ctx, -8))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	meta = (void *)(long)ctx->data_meta;
	if (meta + 8 > data || data + 8 > (void *)(long)ctx->data_end)
		return XDP_DROP;
	__builtin_memcpy(meta, data, 8);
	put(8, data - meta);
	put(9, bpf_xdp_adjust_meta(ctx, -6)); /* not a multiple of 4: -EACCES */
	return XDP_PASS;
}

/* sums metadata the caller gave (ctx_in.data = its length) */
SEC("xdp")
int xdp_meta_in(struct xdp_md *ctx)
{
	unsigned char *meta = (void *)(long)ctx->data_meta, *data = (void *)(long)ctx->data;
	__u64 sum = 0;

	for (int i = 0; i < 16; i++) {
		if (meta + i + 1 > data)
			break;
		sum += meta[i];
	}
	put(10, sum);
	put(11, data - meta);
	return XDP_PASS;
}

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	put(12, bpf_redirect(7, 1)); /* a flag: XDP_ABORTED */
	return bpf_redirect(7, 0);
}

/* the checksum of the first 20 bytes after Ethernet, diffed against a copy
 * with one word changed */
SEC("xdp")
int xdp_csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 from[5], to[5];

	if (data + ETH_HLEN + 20 > end)
		return XDP_DROP;
	__builtin_memcpy(from, data + ETH_HLEN, 20);
	__builtin_memcpy(to, from, 20);
	to[2] ^= 0x01020304;
	put(13, bpf_csum_diff(0, 0, data + ETH_HLEN, 20, 0));
	put(14, bpf_csum_diff(from, 20, to, 20, 0));
	put(15, bpf_csum_diff(from, 8, 0, 0, 0x1234));
	return XDP_PASS;
}

/* IPv4 + UDP: lowers the TTL with the header checksum fixed (l3), changes
 * the UDP destination port with the checksum fixed (l4), sets mark and
 * priority, rotates cb[] */
SEC("tc")
int tc_rewrite(struct __sk_buff *skb)
{
	__u8 ttl, new_ttl;
	__u16 old_port, new_port = bpf_htons(4242);
	__u32 c0 = skb->cb[0];
	__u16 old_w, new_w;

	if (bpf_skb_load_bytes(skb, ETH_HLEN + 8, &ttl, 1))
		return 2;
	new_ttl = ttl - 1;
	old_w = (__u16)ttl; /* ttl is the high byte of the 16-bit word at 8 */
	new_w = (__u16)new_ttl;
	if (bpf_skb_store_bytes(skb, ETH_HLEN + 8, &new_ttl, 1, 0))
		return 2;
	if (bpf_l3_csum_replace(skb, ETH_HLEN + 10, old_w, new_w, 2))
		return 2;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 20 + 2, &old_port, 2))
		return 2;
	if (bpf_skb_store_bytes(skb, ETH_HLEN + 20 + 2, &new_port, 2, 0))
		return 2;
	if (bpf_l4_csum_replace(skb, ETH_HLEN + 20 + 6, old_port, new_port, BPF_F_PSEUDO_HDR | 2))
		return 2;
	skb->mark = skb->mark * 3 + 1;
	skb->priority = 7;
	skb->cb[0] = skb->cb[4];
	skb->cb[4] = skb->cb[3];
	skb->cb[3] = skb->cb[2];
	skb->cb[2] = skb->cb[1];
	skb->cb[1] = c0;
	skb->tc_index = 9;
	return bpf_redirect(3, 0);
}

/* direct packet access and the fields the kernel fills */
SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 *p = data;

	put(0, skb->len);
	put(1, skb->protocol);
	put(2, skb->pkt_type);
	put(3, skb->ifindex);
	put(4, skb->ingress_ifindex);
	put(5, skb->wire_len);
	put(6, skb->gso_segs);
	put(7, skb->gso_size);
	put(8, skb->tstamp);
	put(9, end - data);
	put(10, (void *)(long)skb->data_meta == data);
	put(11, skb->hash);
	put(12, *(__u8 *)((void *)skb + 16)); /* a narrow load of protocol */
	if (data + ETH_HLEN + 2 > end)
		return 2;
	p[ETH_HLEN + 1] = 0x5a;				   /* tos */
	put(13, bpf_skb_load_bytes(skb, skb->len, &p, 1)); /* past the end: -EFAULT */
	return 0;
}

SEC("socket")
int sk_len(struct __sk_buff *skb)
{
	return skb->len;
}

/* the IP protocol byte through skb_load_bytes (the data starts at the
 * network header for socket filters), and cb round trip */
SEC("socket")
int sk_load(struct __sk_buff *skb)
{
	__u8 hdr[20];

	if (bpf_skb_load_bytes(skb, 0, hdr, sizeof(hdr)))
		return -1;
	skb->cb[0] = hdr[9];
	skb->cb[1] = skb->protocol;
	skb->cb[2] = skb->cb[2] + 1;
	return hdr[9] << 16 | skb->len;
}

SEC("raw_tp")
int raw_args(__u64 *ctx)
{
	return ctx[0] + ctx[1] * 2;
}

char LICENSE[] SEC("license") = "GPL";
