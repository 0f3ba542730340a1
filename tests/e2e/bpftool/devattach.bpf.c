/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/devattach.bpf.c: an XDP program and a tc classifier
 * that pass everything (the device attach test, tests/e2e/devattach.c). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	(void)skb;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
