/* SPDX-License-Identifier: MIT */
/* tests/identity/idprintk.bpf.c: one bpf_printk line per test run, "idtp
 * TAG SEQ" with TAG and SEQ the packet's first two u32s (identity_test's
 * trace_pipe case: which reader got which line). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int id_printk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 *v = data;

	if (data + 8 > end)
		return XDP_ABORTED;
	bpf_printk("idtp %u %u", v[0], v[1]);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
