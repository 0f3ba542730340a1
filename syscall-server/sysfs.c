/* syscall-server/sysfs.c: the sysfs files libbpf reads before it calls
 * perf_event_open, served from memory so the answers match what perf.c
 * accepts:
 *   /sys/bus/event_source/devices/uprobe/type            SRV_UPROBE_PMU_TYPE
 *   /sys/bus/event_source/devices/uprobe/format/retprobe "config:0"
 *   /sys/bus/event_source/devices/kprobe/...             SRV_KPROBE_PMU_TYPE, so
 *                                     perf.c can say kprobes are not served
 * Tracefs event ids (.../events/CAT/NAME/id) come from the real tracefs
 * when it is there; perf.c records whatever id the loader passes.  Without
 * a tracefs (containers, CI) the syscall tracepoints still get ids, in a
 * range no kernel uses: SRV_TP_SYSCALL_BASE + 2 * nr for sys_enter_NAME and
 * + 1 for sys_exit_NAME (internal.h; the agent decodes them the same way).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
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

static const struct {
	const char *name;
	int nr;
} syscalls[] = {
#define SYSCALL(name, nr) { #name, nr },
#include "syscalls.def"
#undef SYSCALL
};

/* "<tracefs>/events/syscalls/sys_{enter,exit}_NAME/id" for a missing
 * tracefs: the fake id, or -ENOENT */
static int syscall_tp_id(const char *path)
{
	static const char *const roots[] = { "/sys/kernel/tracing/events/syscalls/",
					     "/sys/kernel/debug/tracing/events/syscalls/" };
	const char *p = NULL, *slash;
	size_t len;
	int exit;

	for (size_t i = 0; i < ARRAY_SIZE(roots) && !p; i++)
		if (!strncmp(path, roots[i], strlen(roots[i])))
			p = path + strlen(roots[i]);
	if (!p)
		return -ENOENT;
	if (!strncmp(p, "sys_enter_", 10)) {
		exit = 0;
		p += 10;
	} else if (!strncmp(p, "sys_exit_", 9)) {
		exit = 1;
		p += 9;
	} else {
		return -ENOENT;
	}
	slash = strchr(p, '/');
	if (!slash || strcmp(slash, "/id") != 0)
		return -ENOENT;
	len = (size_t)(slash - p);
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return -ENOENT; /* a real tracefs answers */
	for (size_t i = 0; i < ARRAY_SIZE(syscalls); i++)
		if (strlen(syscalls[i].name) == len && !strncmp(syscalls[i].name, p, len))
			return SRV_TP_SYSCALL_BASE + 2 * syscalls[i].nr + exit;
	return -ENOENT;
}

int srv_sysfs_open(const char *path)
{
	char buf[32];
	int id;

	if (!srv.ready)
		return -ENOENT;
	if (!strcmp(path, UPROBE_DIR "type")) {
		snprintf(buf, sizeof(buf), "%d\n", SRV_UPROBE_PMU_TYPE);
		return memfd_with(buf);
	}
	if (!strcmp(path, KPROBE_DIR "type")) {
		snprintf(buf, sizeof(buf), "%d\n", SRV_KPROBE_PMU_TYPE);
		return memfd_with(buf);
	}
	if (!strcmp(path, UPROBE_DIR "format/retprobe") ||
	    !strcmp(path, KPROBE_DIR "format/retprobe")) {
		snprintf(buf, sizeof(buf), "config:%d\n", SRV_RETPROBE_BIT);
		return memfd_with(buf);
	}
	id = syscall_tp_id(path);
	if (id >= 0) {
		snprintf(buf, sizeof(buf), "%d\n", id);
		return memfd_with(buf);
	}
	return -ENOENT;
}
