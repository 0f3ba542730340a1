/* SPDX-License-Identifier: MIT */
/* examples/kshare/kshare.bpf.c: one object, two worlds (kernel-shared mode).
 * on_packet runs in the kernel (XDP on a device), on_call in userspace (a
 * uprobe on target_func of a traced process); both count into the same
 * array and hash and send an event into the same perf event array and ring
 * buffer.  on_fork
 * (optional) is a kernel tracepoint counting the forks of one process (the
 * loader's: its pid is a constant of .rodata, a frozen kernel array). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define ETH_P_KSHARE 0x88b5 /* IEEE 802 local experimental: the test's frames */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hcounts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} records SEC(".maps");

struct event {
	__u32 side; /* 1 kernel (XDP), 2 userspace (uprobe) */
	__u32 pad;
	__u64 total;
};

static __always_inline void count(void *ctx, __u32 side)
{
	__u32 k = 0, hk = 7;
	struct event e = { .side = side };
	__u64 *v, *hv, one = 1;

	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		e.total = __sync_fetch_and_add(v, 1) + 1;
	k = side;
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	hv = bpf_map_lookup_elem(&hcounts, &hk);
	if (hv)
		__sync_fetch_and_add(hv, 1);
	else
		bpf_map_update_elem(&hcounts, &hk, &one, BPF_NOEXIST);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	bpf_ringbuf_output(&records, &e, sizeof(e), 0);
}

const volatile __u32 fork_tgid = 0;

SEC("tracepoint/sched/sched_process_fork")
int on_fork(void *ctx)
{
	__u32 k = 3;
	__u64 *v;

	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != fork_tgid)
		return 0;
	v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("xdp")
int on_packet(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_KSHARE))
		return XDP_PASS;
	count(ctx, 1);
	return XDP_DROP;
}

SEC("uprobe")
int BPF_KPROBE(on_call, int x)
{
	count(ctx, 2);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
