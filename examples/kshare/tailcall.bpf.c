/* SPDX-License-Identifier: MIT */
/* examples/kshare/tailcall.bpf.c: a uprobe program that tail-calls slot 0 of
 * its prog array, where the loader (tailcall.c) puts a program it loaded
 * into the kernel itself: under bpftime the tail call leaves userspace and
 * runs that kernel program (BPF_PROG_TEST_RUN with this context). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} missed SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(on_call, int x)
{
	__u32 k = 0;
	__u64 *v;

	bpf_tail_call(ctx, &jmp, 0);
	/* only when the tail call did not happen */
	v = bpf_map_lookup_elem(&missed, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
