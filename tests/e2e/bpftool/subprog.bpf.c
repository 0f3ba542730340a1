/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/subprog.bpf.c: a program with a bpf-to-bpf call, so
 * that its JIT code has two functions (the jited info test). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} sums SEC(".maps");

static __attribute__((noinline)) __u64 add_to(__u32 key, __u64 v)
{
	__u64 *s = bpf_map_lookup_elem(&sums, &key);

	if (!s)
		return 0;
	*s += v;
	return *s;
}

SEC("xdp")
int xdp_sum(struct xdp_md *ctx)
{
	__u64 a = add_to(0, 1);
	__u64 b = add_to(1, 2);

	(void)ctx;
	return a + b > 3 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
