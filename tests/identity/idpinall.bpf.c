/* SPDX-License-Identifier: MIT */
/* tests/identity/idpinall.bpf.c: a uprobe, a syscall tracepoint and a
 * profile (timed perf event) program counting into hits[0], hits[1] and
 * hits[2] for the process whose comm is target_comm (set by the loader:
 * the kernel's tracepoint and perf events see every process).  Its loader
 * pins the three links, closes their fds and exits: the pins alone keep
 * them attached (identity_test). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile char target_comm[16] = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline int is_target(void)
{
	char comm[16];

	if (bpf_get_current_comm(comm, sizeof(comm)))
		return 0;
	for (int i = 0; i < 16; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	return 1;
}

static __always_inline void count(__u32 k)
{
	__u64 *c = bpf_map_lookup_elem(&hits, &k);

	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("uprobe")
int pa_probe(void *ctx)
{
	if (is_target())
		count(0);
	return 0;
}

/* the main thread's calls only (not the agent's threads) */
SEC("tracepoint/syscalls/sys_enter_clock_nanosleep")
int pa_systp(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	if ((__u32)id == (__u32)(id >> 32) && is_target())
		count(1);
	return 0;
}

SEC("perf_event")
int pa_profile(void *ctx)
{
	if (is_target())
		count(2);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
