/* SPDX-License-Identifier: MIT */
/* tests/pktctx/xdp_count.bpf.c: one XDP program for `bpftool prog load`
 * and `prog run` (and bench/prog_run_bench): reads ctx->data, swaps the
 * Ethernet addresses, counts packets and bytes by EtherType. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u64);
} bytes SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned char *p = data, tmp[6];
	__u64 len = end - data, *v;
	__u16 proto;

	if (data + 14 > end)
		return XDP_DROP;
	__builtin_memcpy(tmp, p, 6);
	__builtin_memcpy(p, p + 6, 6);
	__builtin_memcpy(p + 6, tmp, 6);
	proto = *(__u16 *)(p + 12);
	v = bpf_map_lookup_elem(&bytes, &proto);
	if (v)
		__sync_fetch_and_add(v, len);
	else
		bpf_map_update_elem(&bytes, &proto, &len, BPF_NOEXIST);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
