// SPDX-License-Identifier: GPL-2.0
/* examples/maps/maps.bpf.c: one map of every type libbpf can create, all used
 * by a uprobe (on_call) and a tail-call target (tail).  The loader checks the
 * control-plane side of each. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 16 * sizeof(u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} lru_percpu_hash SEC(".maps");

struct lpm_key {
	u32 prefixlen;
	u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, u32);
} lpm SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} inner0 SEC(".maps"), inner1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, u32);
	__array(values, struct inner);
} array_of_maps SEC(".maps") = {
	.values = { &inner0 },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, u32);
	__array(values, struct inner);
} hash_of_maps SEC(".maps") = {
	.values = { [1] = &inner1 },
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, u32);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, u32);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(map_extra, 3);
	__type(value, u32);
} bloom SEC(".maps");

SEC("uprobe")
int tail(struct pt_regs *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__array(values, int(void *));
} progs SEC(".maps") = {
	.values = { [0] = (void *)&tail },
};

SEC("uprobe")
int tail(struct pt_regs *ctx)
{
	u32 k = 3;
	u64 *v = bpf_map_lookup_elem(&array, &k);

	if (v)
		__sync_fetch_and_add(v, 1); /* array[3]: tail calls made */
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_call, int x)
{
	u32 k = 0, ux = (u32)x;
	u64 one = 1, *v;
	void *in;

	v = bpf_map_lookup_elem(&array, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	bpf_map_update_elem(&hash, &ux, &one, BPF_ANY);
	v = bpf_map_lookup_elem(&percpu_array, &k);
	if (v)
		*v += 1;
	bpf_map_update_elem(&percpu_hash, &k, &one, BPF_ANY);
	bpf_map_update_elem(&lru_hash, &ux, &one, BPF_ANY);
	bpf_map_update_elem(&lru_percpu_hash, &ux, &one, BPF_ANY);
	bpf_map_push_elem(&queue, &ux, BPF_EXIST);
	bpf_map_push_elem(&stack, &ux, BPF_EXIST);
	bpf_map_push_elem(&bloom, &ux, 0);
	bpf_ringbuf_output(&ringbuf, &ux, sizeof(ux), 0);
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &ux, sizeof(ux));
	bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	in = bpf_map_lookup_elem(&array_of_maps, &k);
	if (in) {
		v = bpf_map_lookup_elem(in, &k);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	struct lpm_key lk = { 32, ux };
	if (bpf_map_lookup_elem(&lpm, &lk)) {
		k = 1;
		v = bpf_map_lookup_elem(&array, &k); /* array[1]: lpm hits */
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	bpf_tail_call(ctx, &progs, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
