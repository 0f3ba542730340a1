/* SPDX-License-Identifier: MIT */
/* tests/identity/idprog.bpf.c: a program with two maps of its own: each run
 * adds 1 to counter[0] and sets table[7] = 42.  Loaded and pinned by one
 * process, run by another after the first one exited (identity_test). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

SEC("socket")
int id_count(void *ctx)
{
	__u32 zero = 0, seven = 7;
	__u64 v = 42, *c;

	c = bpf_map_lookup_elem(&counter, &zero);
	if (c)
		__sync_fetch_and_add(c, 1);
	bpf_map_update_elem(&table, &seven, &v, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
