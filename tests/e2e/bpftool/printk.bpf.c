/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/printk.bpf.c: one bpf_printk line per run (the kernel's
 * trace_pipe line the tracelog test compares ours with). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int say_hello(struct __sk_buff *skb)
{
	bpf_printk("hello from bpf %d", 42);
	(void)skb;
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
