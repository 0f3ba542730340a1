/* SPDX-License-Identifier: MIT */
/* examples/systp/errinject.bpf.c: error injection on write(2): every second
 * write of a process named targ_comm to fd targ_fd fails with -EIO without
 * being made (bpf_override_return from sys_enter_write: bpftime runs it; the
 * kernel allows the helper in kprobe programs only). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "systp.h"

const volatile char targ_comm[SYSTP_COMM_LEN] = {};
const volatile int targ_fd = 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps"); /* [0] writes seen, [1] writes failed */

SEC("tracepoint/syscalls/sys_enter_write")
int fail_write(struct trace_event_raw_sys_enter *ctx)
{
	char comm[SYSTP_COMM_LEN];
	u32 k0 = 0, k1 = 1;
	u64 *seen, *failed;

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < SYSTP_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return 0;
		if (!comm[i])
			break;
	}
	if ((int)BPF_CORE_READ(ctx, args[0]) != targ_fd)
		return 0;
	seen = bpf_map_lookup_elem(&stats, &k0);
	failed = bpf_map_lookup_elem(&stats, &k1);
	if (!seen || !failed)
		return 0;
	if (__sync_fetch_and_add(seen, 1) % 2 == 1) {
		__sync_fetch_and_add(failed, 1);
		bpf_override_return((struct pt_regs *)ctx, -5 /* EIO */);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
