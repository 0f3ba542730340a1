/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/* tests/verifier/safe.bpf.c: the fixed versions of unsafe.bpf.c's programs,
 * which the kernel and our verifier must both load (safe.corpus). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct locked {
	struct bpf_spin_lock lock;
	long count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct locked);
} locks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, int);
	__type(value, long);
} table SEC(".maps");

const volatile long limit = 10;

SEC("tc")
int spin_lock_paired(void *ctx)
{
	int k = 0;
	struct locked *v = bpf_map_lookup_elem(&locks, &k);

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	v->count++;
	bpf_spin_unlock(&v->lock);
	return 0;
}

static int add_index(__u32 index, void *data)
{
	*(long *)data += index;
	return 0;
}

SEC("kprobe/f")
int bpf_loop_sum(void *ctx)
{
	long sum = 0;

	bpf_loop(100, add_index, &sum, 0);
	return sum;
}

static int outer(__u32 index, void *data)
{
	bpf_loop(10, add_index, data, 0);
	return 0;
}

SEC("kprobe/f")
int bpf_loop_nested(void *ctx)
{
	long sum = 0;

	bpf_loop(10, outer, &sum, 0);
	return sum;
}

SEC("kprobe/f")
int rodata_read(void *ctx)
{
	return limit;
}

SEC("kprobe/f")
int hash_value_checked(void *ctx)
{
	int k = 1;
	long *v = bpf_map_lookup_elem(&table, &k);

	return v ? *v : 0;
}
