// SPDX-License-Identifier: GPL-2.0
/* examples/funclatency/funclatency.bpf.c: the entry probe stamps the time per
 * thread, the return probe adds the elapsed nanoseconds to a log2 histogram
 * (slot k counts durations in [2^k, 2^(k+1)); slot 0 also takes 0 and 1). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);   /* tid */
	__type(value, u64); /* entry time, ns */
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, u32);
	__type(value, u64);
} hist SEC(".maps");

/* floor(log2(v)) for v > 0, without loops */
static __always_inline u32 log2_u64(u64 v)
{
	u32 r = 0, s;

	s = (v > 0xffffffffULL) << 5;
	v >>= s;
	r |= s;
	s = (v > 0xffff) << 4;
	v >>= s;
	r |= s;
	s = (v > 0xff) << 3;
	v >>= s;
	r |= s;
	s = (v > 0xf) << 2;
	v >>= s;
	r |= s;
	s = (v > 0x3) << 1;
	v >>= s;
	r |= s;
	r |= (u32)(v >> 1);
	return r;
}

SEC("uprobe")
int BPF_KPROBE(func_entry)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&starts, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(func_return)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *ts, delta, *count;
	u32 slot;

	ts = bpf_map_lookup_elem(&starts, &tid);
	if (!ts)
		return 0; /* entered before we attached */
	delta = bpf_ktime_get_ns() - *ts;
	bpf_map_delete_elem(&starts, &tid);
	slot = delta ? log2_u64(delta) : 0;
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	count = bpf_map_lookup_elem(&hist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
