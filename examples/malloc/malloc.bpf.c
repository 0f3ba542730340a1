// SPDX-License-Identifier: GPL-2.0
/* examples/malloc/malloc.bpf.c: counts malloc calls per process (uprobe on
 * libc's malloc; the loader attaches it). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);   /* tgid */
	__type(value, u64); /* calls */
} counts SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(count_malloc, size_t size)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u64 one = 1, *v;

	v = bpf_map_lookup_elem(&counts, &pid);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	/* another thread may have inserted it meanwhile */
	if (bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST)) {
		v = bpf_map_lookup_elem(&counts, &pid);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
