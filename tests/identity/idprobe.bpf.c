/* SPDX-License-Identifier: MIT */
/* tests/identity/idprobe.bpf.c: a uprobe counting calls in hits[0].  Its
 * loader pins the link and the map and exits; the link alone keeps the
 * probe attached (identity_test). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("uprobe")
int id_probe(void *ctx)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&hits, &zero);

	if (c)
		__sync_fetch_and_add(c, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
