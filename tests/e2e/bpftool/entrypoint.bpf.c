/* SPDX-License-Identifier: MIT */
/* tests/e2e/bpftool/entrypoint.bpf.c: says what it got (bpf_printk), then
 * tail-calls call_table[0]; with nothing there it says so and drops the
 * packet (seed 004's entrypoint). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 4);
} call_table SEC(".maps");

SEC("xdp")
int xdp_entrypoint(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	bpf_printk("entrypoint: %d bytes", (int)(end - data));
	bpf_tail_call(ctx, &call_table, 0);
	bpf_printk("entrypoint: call_table[0] is empty");
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
