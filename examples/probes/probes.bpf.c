// SPDX-License-Identifier: GPL-2.0
/* examples/probes/probes.bpf.c: four programs counting into one array:
 * two uprobes on the same function, a uretprobe on it summing its return
 * values, and a uprobe on a shared library's function. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

enum { FIRST, SECOND, RETURNS, RET_SUM, LIB, NR_COUNTS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_COUNTS);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

static __always_inline void add(u32 k, u64 v)
{
	u64 *c = bpf_map_lookup_elem(&counts, &k);

	if (c)
		__sync_fetch_and_add(c, v);
}

SEC("uprobe")
int BPF_KPROBE(exe_first)
{
	add(FIRST, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(exe_second)
{
	add(SECOND, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(exe_return, int ret)
{
	add(RETURNS, 1);
	add(RET_SUM, (u64)(long)ret);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(lib_entry)
{
	add(LIB, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
