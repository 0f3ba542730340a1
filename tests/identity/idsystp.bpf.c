/* SPDX-License-Identifier: MIT */
/* tests/identity/idsystp.bpf.c: a syscall tracepoint counting the
 * clock_nanosleep calls of main threads in hits[0].  Its loader pins the
 * link and the map and exits; the link alone keeps it attached
 * (identity_test).  Threads other than the main one (the agent's) are not
 * counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_clock_nanosleep")
int id_systp(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0;
	__u64 *c;

	if ((__u32)id != (__u32)(id >> 32))
		return 0;
	c = bpf_map_lookup_elem(&hits, &zero);
	if (c)
		__sync_fetch_and_add(c, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
