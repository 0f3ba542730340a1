/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/counter.bpf.c: counts the packets it sees in
 * counter_map[0] and lets them pass (seed 004's counter). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} counter_map SEC(".maps");

SEC("xdp")
int xdp_counter(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&counter_map, &key);

	(void)ctx;
	if (count)
		__sync_fetch_and_add(count, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
