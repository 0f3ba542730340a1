// SPDX-License-Identifier: GPL-2.0
/* examples/globals/globals.bpf.c: a uprobe whose behaviour the loader sets
 * through global variables: target_pid (.rodata, before load), step (.data,
 * changed at run time) and the results in .bss the loader reads. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_pid = 0; /* 0: every process */
__u64 step = 1;
__u64 calls = 0;
__u64 total = 0;
__s64 last_arg = -1;

SEC("uprobe")
int BPF_KPROBE(on_call, int x)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (target_pid && pid != target_pid)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	__sync_fetch_and_add(&total, step);
	last_arg = x;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
