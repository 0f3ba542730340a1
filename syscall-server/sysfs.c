/* syscall-server/sysfs.c: the sysfs files libbpf reads before it calls
 * perf_event_open, served from memory so the answers match what perf.c
 * accepts:
 *   /sys/bus/event_source/devices/uprobe/type            SRV_UPROBE_PMU_TYPE
 *   /sys/bus/event_source/devices/uprobe/format/retprobe "config:0"
 * Tracefs event ids (.../events/CAT/NAME/id) are read from the real tracefs;
 * perf.c records whatever id the loader passes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "internal.h"

#define UPROBE_DIR "/sys/bus/event_source/devices/uprobe/"

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
	char buf[32];

	if (!srv.ready)
		return -ENOENT;
	if (!strcmp(path, UPROBE_DIR "type")) {
		snprintf(buf, sizeof(buf), "%d\n", SRV_UPROBE_PMU_TYPE);
		return memfd_with(buf);
	}
	if (!strcmp(path, UPROBE_DIR "format/retprobe")) {
		snprintf(buf, sizeof(buf), "config:%d\n", SRV_RETPROBE_BIT);
		return memfd_with(buf);
	}
	return -ENOENT;
}
