/* SPDX-License-Identifier: MIT */
/* examples/systp/opensnoop.bpf.c: opensnoop-like: openat entry and exit
 * paired through a hash map keyed by thread id, filters as const volatile
 * (set by the loader before load), events to a perf buffer or a ring
 * buffer.  Built with CO-RE: the context fields are relocated against the
 * running kernel's BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "systp.h"

const volatile int targ_tgid = 0;
const volatile bool targ_failed = false;
const volatile bool use_ringbuf = false;
const volatile char targ_comm[SYSTP_COMM_LEN] = {};

struct args_t {
	const char *fname;
	int flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, struct args_t);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64[32]);
} stack_buf SEC(".maps");

static __always_inline bool comm_ok(void)
{
	char comm[SYSTP_COMM_LEN];

	if (!targ_comm[0])
		return true;
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < SYSTP_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32, tid = (u32)id;
	struct args_t a = {};

	if (targ_tgid && targ_tgid != tgid)
		return 0;
	if (!comm_ok())
		return 0;
	a.fname = (const char *)BPF_CORE_READ(ctx, args[1]);
	a.flags = (int)BPF_CORE_READ(ctx, args[2]);
	bpf_map_update_elem(&start, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id, zero = 0;
	struct open_event e = {};
	struct args_t *ap;
	void *stack;
	long ret;

	ap = bpf_map_lookup_elem(&start, &tid);
	if (!ap)
		return 0;
	ret = BPF_CORE_READ(ctx, ret);
	if (targ_failed && ret >= 0)
		goto cleanup;
	e.pid = id >> 32;
	e.tid = tid;
	e.uid = (u32)bpf_get_current_uid_gid();
	e.flags = ap->flags;
	e.ret = ret;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_probe_read_user_str(e.path, sizeof(e.path), ap->fname);
	stack = bpf_map_lookup_elem(&stack_buf, &zero);
	if (stack)
		e.stack_bytes = bpf_get_stack(ctx, stack, 32 * sizeof(u64), BPF_F_USER_STACK);
	if (use_ringbuf)
		bpf_ringbuf_output(&rb, &e, sizeof(e), 0);
	else
		bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
cleanup:
	bpf_map_delete_elem(&start, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
