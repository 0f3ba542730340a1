// SPDX-License-Identifier: GPL-2.0
/* examples/error_inject/error_inject.bpf.c: two programs for bpftime's
 * uprobe override (perf event type 1008), attached the original bpftime's
 * way (attach_override.h: perf_event_open + BPF_PROG_ATTACH with
 * BPF_MODIFY_RETURN):
 *   do_error_inject  the probed function fails (returns -1) for odd
 *                    arguments and runs normally for even ones
 *   do_replace       the function never runs: it returns 3 * its argument
 * Both count what they did. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 injected = 0;
__u64 passed = 0;
__u64 replaced = 0;

SEC("uprobe")
int BPF_KPROBE(do_error_inject, int x)
{
	if (x & 1) {
		__sync_fetch_and_add(&injected, 1);
		bpf_override_return(ctx, -1);
		return 0;
	}
	__sync_fetch_and_add(&passed, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(do_replace, int x)
{
	__sync_fetch_and_add(&replaced, 1);
	bpf_override_return(ctx, (long)x * 3);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
