// SPDX-License-Identifier: GPL-2.0
/* examples/uretprobe/uretprobe.bpf.c: on every return of the probed function,
 * reserves a ring buffer record with the pid, tid and return value. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "uretprobe.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

__u64 seq = 0;

SEC("uretprobe")
int BPF_KRETPROBE(on_return, long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	struct uret_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	e->tid = (u32)id;
	e->ret = ret;
	e->seq = __sync_fetch_and_add(&seq, 1);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
