// SPDX-License-Identifier: GPL-2.0
/* examples/override/override.bpf.c: skips the probed function and makes it
 * return new_ret (set by the loader), counting the overrides.  The agent
 * attaches a uprobe whose program calls bpf_override_return as an override
 * probe (bpftime's perf type 1008), so a plain SEC("uprobe") is enough. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile long new_ret = 0;
__u64 overrides = 0;

SEC("uprobe")
int BPF_KPROBE(do_override)
{
	__sync_fetch_and_add(&overrides, 1);
	bpf_override_return(ctx, new_ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
