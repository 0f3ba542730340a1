/* SPDX-License-Identifier: MIT */
/* syscall-server/sysfs.c: the sysfs files libbpf reads before it calls
 * perf_event_open, served from memory so the answers match what perf.c
 * accepts:
 *   /sys/bus/event_source/devices/uprobe/type            SRV_UPROBE_PMU_TYPE
 *   /sys/bus/event_source/devices/uprobe/format/retprobe "config:0"
 *   /sys/bus/event_source/devices/kprobe/...             SRV_KPROBE_PMU_TYPE, so
 *                                     perf.c can say kprobes are not served
 *   <tracefs>/uprobe_events                              empty (no probe of ours
 *                                     is a tracefs one)
 * and the syscall tracepoints' tracefs files (tracefs.c), and the trace
 * pipe (tracepipe.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "internal.h"
#include "common/compiler.h"

#define UPROBE_DIR "/sys/bus/event_source/devices/uprobe/"
#define KPROBE_DIR "/sys/bus/event_source/devices/kprobe/"

/* a read-only-looking memfd holding @text, positioned at 0 */
static int memfd_with(const char *text)
{
	size_t len = strlen(text);
	int fd = (int)srv_real.syscall(SYS_memfd_create, "bpftime-sysfs", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		int err = -errno;

		srv_real.close(fd);
		return err ? err : -EIO;
	}
	return fd;
}

int srv_sysfs_open(const char *path)
{
	char buf[8192];
	int n;

	if (!srv.ready)
		return -ENOENT;
	if (!strncmp(path, "/proc/", 6))
		return srv_procfd_open(path); /* procfd.c */
	if (!strcmp(path, UPROBE_DIR "type")) {
		snprintf(buf, sizeof(buf), "%d\n", SRV_UPROBE_PMU_TYPE);
		return memfd_with(buf);
	}
	if (srv.kernel && !strncmp(path, KPROBE_DIR, strlen(KPROBE_DIR)))
		return -ENOENT; /* kernel-shared mode: the kernel's kprobes (kshare.c) */
	if (!strcmp(path, KPROBE_DIR "type")) {
		snprintf(buf, sizeof(buf), "%d\n", SRV_KPROBE_PMU_TYPE);
		return memfd_with(buf);
	}
	if (!strcmp(path, UPROBE_DIR "format/retprobe") ||
	    !strcmp(path, KPROBE_DIR "format/retprobe")) {
		snprintf(buf, sizeof(buf), "config:%d\n", SRV_RETPROBE_BIT);
		return memfd_with(buf);
	}
	/* bcc (bpftrace) reads the probe event list at detach to see whether
	 * the probe was made through tracefs: ours never are (perf_event_open
	 * with the uprobe PMU), so the list is empty, as a kernel's is for
	 * PMU-made probes */
	if (!strcmp(path, "/sys/kernel/tracing/uprobe_events") ||
	    !strcmp(path, "/sys/kernel/debug/tracing/uprobe_events"))
		return memfd_with("");
	if (srv_trace_pipe_path(path))
		return srv_trace_pipe_open();
	if (srv_trace_file_path(path)) {
		char *text = srv_trace_file_text();

		n = text ? memfd_with(text) : -ENOMEM;
		free(text);
		return n;
	}
	n = srv_tracefs_open(path, buf, sizeof(buf));
	if (n >= (int)sizeof(buf)) {
		char *big = malloc((size_t)n + 1);

		if (!big)
			return -ENOMEM;
		srv_tracefs_open(path, big, (size_t)n + 1);
		n = memfd_with(big);
		free(big);
		return n;
	}
	if (n >= 0)
		return memfd_with(buf);
	return -ENOENT;
}
