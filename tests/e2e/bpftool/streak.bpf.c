/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/streak.bpf.c: counts runs in streak_map (a hash keyed
 * by the packet's first byte), turns the echo "> ... <3" into "< ... <3" and
 * sends the packet back (seed 004's streak). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} streak_map SEC(".maps");

SEC("xdp")
int xdp_streak(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u64 one = 1, *n;
	__u32 key;

	if (data + 17 > end)
		return XDP_ABORTED;
	key = data[0];
	n = bpf_map_lookup_elem(&streak_map, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&streak_map, &key, &one, BPF_NOEXIST);
	if (data[16] == '>')
		data[16] = '<';
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
