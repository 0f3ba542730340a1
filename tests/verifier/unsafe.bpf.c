/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/* tests/verifier/unsafe.bpf.c: programs the kernel's verifier refuses that
 * need BTF (spin locks, callbacks, .rodata) or are best written in C.  Each
 * program has an entry in unsafe.corpus ("object unsafe.bpf.o NAME") with
 * the kernel's reason; vcorpus loads one program at a time. */
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

static struct locked *get_locked(void)
{
	int k = 0;

	return bpf_map_lookup_elem(&locks, &k);
}

SEC("tc")
int spin_lock_twice(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	bpf_spin_lock(&v->lock);
	v->count++;
	bpf_spin_unlock(&v->lock);
	return 0;
}

SEC("tc")
int spin_lock_kept(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	v->count++;
	return 0;
}

SEC("tc")
int spin_lock_kept_on_one_path(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	if (v->count++ > 5)
		return 1;
	bpf_spin_unlock(&v->lock);
	return 0;
}

SEC("tc")
int spin_lock_helper_call(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	v->count = bpf_ktime_get_ns();
	bpf_spin_unlock(&v->lock);
	return 0;
}

SEC("tc")
int spin_unlock_unlocked(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	v->count++;
	bpf_spin_unlock(&v->lock);
	return 0;
}

SEC("tc")
int spin_lock_field_store(void *ctx)
{
	struct locked *v = get_locked();

	if (!v)
		return 0;
	*(volatile int *)&v->lock = 0;
	return 0;
}

SEC("kprobe/f")
int rodata_write(void *ctx)
{
	*(volatile long *)&limit = 5;
	return 0;
}

SEC("kprobe/f")
int hash_value_unchecked(void *ctx)
{
	int k = 1;
	long *v = bpf_map_lookup_elem(&table, &k);

	return *(volatile long *)v;
}

static int spin(__u32 index, void *data)
{
	volatile int x = 1;

	while (x)
		;
	return 0;
}

SEC("kprobe/f")
int bpf_loop_cb_spins(void *ctx)
{
	bpf_loop(10, spin, 0, 0);
	return 0;
}

static int nested_outer(__u32 index, void *data)
{
	bpf_loop(10, spin, 0, 0);
	return 0;
}

SEC("kprobe/f")
int bpf_loop_nested_spins(void *ctx)
{
	bpf_loop(10, nested_outer, 0, 0);
	return 0;
}

static int bad_ret(__u32 index, void *data)
{
	return 7;
}

SEC("kprobe/f")
int bpf_loop_cb_bad_return(void *ctx)
{
	bpf_loop(10, bad_ret, 0, 0);
	return 0;
}

static int write_past_ctx(__u32 index, void *data)
{
	((volatile long *)data)[1] = index;
	return 0;
}

SEC("kprobe/f")
int bpf_loop_cb_ctx_oob(void *ctx)
{
	long slot = 0;

	bpf_loop(10, write_past_ctx, &slot, 0);
	return slot;
}
