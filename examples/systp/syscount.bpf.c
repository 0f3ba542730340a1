/* SPDX-License-Identifier: MIT */
/* examples/systp/syscount.bpf.c: syscount-like: raw_syscalls enter/exit,
 * calls and failures per syscall number of the processes named targ_comm,
 * paired by thread id so a call counts once it returns. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "systp.h"

const volatile char targ_comm[SYSTP_COMM_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct count_val);
} counts SEC(".maps");

static __always_inline bool comm_ok(void)
{
	char comm[SYSTP_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < SYSTP_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 nr = BPF_CORE_READ(ctx, id);

	if (!comm_ok())
		return 0;
	bpf_map_update_elem(&pending, &tid, &nr, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid(), key;
	struct count_val zero = {}, *v;
	u64 *nr;

	nr = bpf_map_lookup_elem(&pending, &tid);
	if (!nr)
		return 0;
	key = (u32)*nr;
	bpf_map_delete_elem(&pending, &tid);
	if (key != (u32)BPF_CORE_READ(ctx, id))
		return 0;
	v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&counts, &key);
		if (!v)
			return 0;
	}
	__sync_fetch_and_add(&v->count, 1);
	if (BPF_CORE_READ(ctx, ret) < 0)
		__sync_fetch_and_add(&v->errors, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
