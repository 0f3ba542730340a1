/* SPDX-License-Identifier: MIT */
/* examples/systp/sigsnoop.bpf.c: sigsnoop-like: kill, tkill and tgkill of
 * the processes named targ_comm, with their results, to a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "systp.h"

const volatile char targ_comm[SYSTP_COMM_LEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct sig_event);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

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

static __always_inline int enter(int nr, int target, int sig)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct sig_event e = {};

	if (!comm_ok())
		return 0;
	e.pid = id >> 32;
	e.nr = nr;
	e.target = target;
	e.sig = sig;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_map_update_elem(&values, &tid, &e, BPF_ANY);
	return 0;
}

static __always_inline int leave(long ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct sig_event *e = bpf_map_lookup_elem(&values, &tid);
	struct sig_event *out;

	if (!e)
		return 0;
	out = bpf_ringbuf_reserve(&rb, sizeof(*out), 0);
	if (out) {
		*out = *e;
		out->ret = ret;
		bpf_ringbuf_submit(out, 0);
	}
	bpf_map_delete_elem(&values, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_kill")
int kill_entry(struct trace_event_raw_sys_enter *ctx)
{
	return enter(62, (int)BPF_CORE_READ(ctx, args[0]), (int)BPF_CORE_READ(ctx, args[1]));
}

SEC("tracepoint/syscalls/sys_exit_kill")
int kill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(BPF_CORE_READ(ctx, ret));
}

SEC("tracepoint/syscalls/sys_enter_tkill")
int tkill_entry(struct trace_event_raw_sys_enter *ctx)
{
	return enter(200, (int)BPF_CORE_READ(ctx, args[0]), (int)BPF_CORE_READ(ctx, args[1]));
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int tkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(BPF_CORE_READ(ctx, ret));
}

SEC("tracepoint/syscalls/sys_enter_tgkill")
int tgkill_entry(struct trace_event_raw_sys_enter *ctx)
{
	return enter(234, (int)BPF_CORE_READ(ctx, args[1]), (int)BPF_CORE_READ(ctx, args[2]));
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int tgkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(BPF_CORE_READ(ctx, ret));
}

char LICENSE[] SEC("license") = "GPL";
