// SPDX-License-Identifier: GPL-2.0
/* examples/readline/readline.bpf.c: on every return of readline(), sends the
 * returned line (a user pointer) with the pid and command name through a
 * ring buffer (what bcc's bashreadline does with a perf buffer). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "readline.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("uretprobe")
int BPF_KRETPROBE(printret, const void *ret)
{
	struct readline_event *e;

	if (!ret)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->line, sizeof(e->line), ret);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
