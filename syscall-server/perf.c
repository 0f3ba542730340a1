/* SPDX-License-Identifier: MIT */
/* syscall-server/perf.c: perf_event_open, the perf ioctls and mmap of our fds.
 *
 * perf_event_open records a perf-event handler, never calling the kernel:
 *   uprobe/uretprobe  attr.type SRV_UPROBE_PMU_TYPE (what sysfs.c serves),
 *                     config1 = path, config2 = offset, config bit
 *                     SRV_RETPROBE_BIT = return probe, config >> 32 = ref_ctr
 *                     offset (libbpf's PERF_UPROBE_REF_CTR_OFFSET_SHIFT)
 *   tracepoint        PERF_TYPE_TRACEPOINT, config = tracefs event id of a
 *                     syscall tracepoint (tracefs.c says which one: the
 *                     perf event's config); other tracepoints are refused
 *   software          PERF_TYPE_SOFTWARE (perf buffers: BPF_OUTPUT)
 *   uprobe override   bpftime's type 1008 (BPFTIME_PERF_TYPE_UPROBE_OVERRIDE):
 *                     config1 = path, config2 = offset; a program comes
 *                     with BPF_PROG_ATTACH(BPF_MODIFY_RETURN) (bpf_cmd.c) or
 *                     PERF_EVENT_IOC_SET_BPF, runs instead of the function,
 *                     and bpf_override_return gives its return value
 * Other PMUs are refused with ENOENT, as the kernel refuses an unknown type.
 *
 * mmap: a map fd shows the map's bytes in the segment (bpftime_map__
 * mmap_region: mmapable arrays, ring buffers with their data mapped twice
 * back to back as the kernel does); a software perf event fd shows its perf
 * ring, created in the segment on the first mmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/perf_event.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"

struct pe_ctx {
	struct bpftime_perf_event_opts o;
	char path[4096];
};

static int make_pe(int fd, void *ctx)
{
	struct pe_ctx *c = ctx;

	return bpftime_perf_event_create(srv.shm, fd, &c->o);
}

/* A uprobe for one process (a loader's attach with a pid; bpftrace -p PID
 * does so for usdt probes, its uprobes on a path have pid -1) runs only
 * where an agent serves the segment: a process that has none (not started
 * with `bpftime start`, never given `bpftime attach`) would be silently
 * untraced, which the kernel never does; said once per pid. */
static void check_agent_in(pid_t pid)
{
	static pid_t told;
	char path[64], line[512];
	bool found = false;
	FILE *f;

	if (pid <= 0 || pid == told)
		return;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return; /* gone, or not ours to read: the kernel would refuse the same way */
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "libbpftime-agent") != NULL;
	fclose(f);
	if (found)
		return;
	told = pid;
	pr_warn("syscall server: process %d has no bpftime agent: its uprobes do not run until "
		"`bpftime attach %d` (or start it with `bpftime start`)\n",
		(int)pid, (int)pid);
}

long srv_perf_event_open(void *uattr, pid_t pid, int cpu, int group_fd, unsigned long flags)
{
	struct perf_event_attr attr;
	struct pe_ctx c;
	uint32_t size;
	long ret;

	if (!uattr)
		return -EFAULT;
	memcpy(&size, (char *)uattr + offsetof(struct perf_event_attr, size), sizeof(size));
	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, uattr, size && size < sizeof(attr) ? size : sizeof(attr));
	if (flags & ~(unsigned long)(PERF_FLAG_FD_CLOEXEC | PERF_FLAG_FD_NO_GROUP |
				     PERF_FLAG_FD_OUTPUT | PERF_FLAG_PID_CGROUP))
		return -EINVAL;
	ret = srv_kshare_perf_event_open(&attr, uattr, pid, cpu, group_fd, flags);
	if (ret != SRV_KSHARE_PASS)
		return ret; /* kernel-shared mode: a kernel event (kshare.c) */
	if (group_fd != -1) {
		pr_warn("syscall server: perf_event_open with a group fd is not supported\n");
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	c.o.sz = sizeof(c.o);
	c.o.pid = pid;
	c.o.cpu = cpu;
	c.o.sample_type = attr.sample_type;
	if (attr.type == SRV_UPROBE_PMU_TYPE || attr.type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE) {
		const char *path = (const char *)(uintptr_t)attr.config1;

		if (!path)
			return -EINVAL;
		snprintf(c.path, sizeof(c.path), "%s", path);
		if (attr.type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE)
			c.o.type = BPFTIME_PERF_TYPE_UPROBE_OVERRIDE;
		else
			c.o.type = attr.config & (1ull << SRV_RETPROBE_BIT)
					   ? BPFTIME_PERF_TYPE_URETPROBE
					   : BPFTIME_PERF_TYPE_UPROBE;
		c.o.module = c.path;
		c.o.offset = attr.config2;
		c.o.ref_ctr_off = attr.config >> 32;
	} else if (attr.type == PERF_TYPE_TRACEPOINT) {
		c.o.type = BPFTIME_PERF_TYPE_TRACEPOINT;
		c.o.tracepoint_id = (int32_t)attr.config;
		srv_lock();
		ret = srv_tracefs_resolve(c.o.tracepoint_id, &c.o.config);
		srv_unlock();
		if (ret) {
			pr_warn("syscall server: tracepoint id %d is not a syscall tracepoint: "
				"only syscalls/* and raw_syscalls/* run in userspace\n",
				c.o.tracepoint_id);
			return -EOPNOTSUPP;
		}
	} else if (attr.type == PERF_TYPE_SOFTWARE) {
		c.o.type = BPFTIME_PERF_TYPE_SOFTWARE;
		c.o.config = attr.config;
		c.o.sample_period = attr.sample_period; /* a union with sample_freq */
		c.o.freq = attr.freq;
	} else if (attr.type == SRV_KPROBE_PMU_TYPE) {
		pr_warn("syscall server: kprobes probe the kernel: not supported in userspace (use "
			"a uprobe)\n");
		return -EOPNOTSUPP;
	} else {
		pr_warn("syscall server: perf_event_open of PMU type %u is not supported in "
			"userspace\n",
			attr.type);
		return -ENOENT;
	}
	srv_lock();
	ret = srv_new_fd(make_pe, &c, flags & PERF_FLAG_FD_CLOEXEC);
	if (ret >= 0 && !attr.disabled)
		bpftime_perf_event_enable(srv.shm, (int)ret, true);
	srv_unlock();
	if (ret >= 0 && c.o.type == BPFTIME_PERF_TYPE_SOFTWARE && c.o.sample_period)
		srv_timers_kick();
	if (ret >= 0 &&
	    (c.o.type == BPFTIME_PERF_TYPE_UPROBE || c.o.type == BPFTIME_PERF_TYPE_URETPROBE ||
	     c.o.type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE))
		check_agent_in(pid);
	if (ret < 0)
		pr_warn("syscall server: cannot record perf event: %s\n", strerror((int)-ret));
	return ret;
}

void srv_perf_closed(int fd)
{
	struct srv_fd *f = srv_fd(fd);

	if (f->implicit_link >= 0) {
		bpftime_handler_close(srv.shm, f->implicit_link);
		f->implicit_link = -1;
	}
	if (f->ring_meta) {
		munmap(f->ring_meta, (size_t)getpagesize());
		f->ring_meta = NULL;
	}
}

int srv_perf_set_prog(int fd, int prog, uint32_t attach_type)
{
	BPFTIME_OPTS(bpftime_link_opts, o, .attach_type = attach_type);
	struct srv_fd *f = srv_fd(fd);
	int ret;

	if (!srv_is_ours(prog) || bpftime_handler_get_type(srv.shm, prog) != BPFTIME_HANDLER_PROG)
		return srv_bad_fd(prog);
	if (f->implicit_link >= 0)
		return -EEXIST;
	ret = bpftime_link_create(srv.shm, -1, prog, fd, &o);
	if (ret < 0)
		return ret;
	f->implicit_link = ret;
	return 0;
}

int srv_perf_ioctl(int fd, unsigned long req, unsigned long arg)
{
	struct srv_fd *f = srv_fd(fd);
	int ret = 0;

	srv_lock();
	if (f->kind != SRV_FD_HANDLER ||
	    bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_PERF_EVENT) {
		ret = -ENOTTY;
		goto out;
	}
	switch (req) {
	case PERF_EVENT_IOC_ENABLE:
	case PERF_EVENT_IOC_DISABLE:
		ret = bpftime_perf_event_enable(srv.shm, fd, req == PERF_EVENT_IOC_ENABLE);
		break;
	case PERF_EVENT_IOC_SET_BPF:
		ret = srv_perf_set_prog(fd, (int)arg, BPF_PERF_EVENT);
		break;
	case PERF_EVENT_IOC_RESET:
	case PERF_EVENT_IOC_REFRESH:
		break;
	case PERF_EVENT_IOC_ID: {
		struct bpftime_perf_event_info pi;

		ret = bpftime_perf_event_get_info(srv.shm, fd, &pi);
		if (!ret)
			*(uint64_t *)arg = pi.id;
		break;
	}
	default:
		pr_warn("syscall server: perf ioctl 0x%lx is not supported in userspace\n", req);
		ret = -EINVAL;
	}
out:
	srv_unlock();
	return ret;
}

static void *map_shm(void *addr, size_t len, int prot, int flags, uint64_t off)
{
	return srv_real.mmap(addr, len, prot, (flags & ~MAP_PRIVATE) | MAP_SHARED,
			     bpftime_shm__fd(srv.shm), (off_t)off);
}

/* the real mmap failed: its errno is the answer */
static void *mmap_failed(int *err)
{
	*err = errno;
	return MAP_FAILED;
}

/* ring buffer, libbpf's second mmap: producer page + data twice, read only */
static void *map_ringbuf_data(void *addr, size_t len, int prot, int flags, uint64_t off,
			      size_t region)
{
	size_t page = (size_t)getpagesize(), data = region - 2 * page;
	char *base;

	if (len != page + 2 * data || (prot & PROT_WRITE))
		return MAP_FAILED;
	base = srv_real.mmap(addr, len, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
	if (base == MAP_FAILED)
		return MAP_FAILED;
	if (map_shm(base, page + data, prot, MAP_FIXED, off + page) == MAP_FAILED ||
	    map_shm(base + page + data, data, prot, MAP_FIXED, off + 2 * page) == MAP_FAILED) {
		munmap(base, len);
		return MAP_FAILED;
	}
	return base;
}

void *srv_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t foff)
{
	size_t page = (size_t)getpagesize(), region;
	struct bpftime_map_info mi;
	uint64_t off;
	void *ret = MAP_FAILED;
	int err = EINVAL;

	srv_lock();
	if (srv_fd(fd)->kind != SRV_FD_HANDLER)
		goto out;
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_MAP: {
		bool kernel;

		ret = srv_kshare_mmap(addr, len, prot, flags, fd, foff, &kernel);
		if (kernel) { /* the kernel's map (kshare.c) */
			err = errno;
			goto out;
		}
	}
		if (bpftime_map_get_info(srv.shm, fd, &mi) ||
		    bpftime_map_mmap_region(srv.shm, fd, &off, &region))
			goto out;
		if ((prot & PROT_WRITE) && (flags & MAP_SHARED) &&
		    (mi.frozen ||
		     (mi.map_flags & BPF_F_RDONLY_PROG && mi.type != BPF_MAP_TYPE_RINGBUF))) {
			err = EPERM;
			goto out;
		}
		if (mi.type == BPF_MAP_TYPE_RINGBUF) {
			if (foff == 0 && len <= page) {
				ret = map_shm(addr, len, prot, flags, off);
				if (ret == MAP_FAILED)
					ret = mmap_failed(&err);
			} else if ((size_t)foff == page) {
				/* the producer side is the kernel's: read only */
				ret = map_ringbuf_data(addr, len, prot, flags, off, region);
				if (ret == MAP_FAILED)
					err = prot & PROT_WRITE ? EPERM : EINVAL;
			}
			break;
		}
		if (foff < 0 || (size_t)foff + len > ((region + page - 1) & ~(page - 1)))
			goto out;
		ret = map_shm(addr, len, prot, flags, off + (uint64_t)foff);
		if (ret == MAP_FAILED)
			ret = mmap_failed(&err);
		break;
	case BPFTIME_HANDLER_PERF_EVENT: {
		if (foff != 0 || bpftime_perf_event_mmap_ring(srv.shm, fd, len, &off))
			goto out;
		ret = map_shm(addr, len, prot, flags, off);
		if (ret == MAP_FAILED)
			ret = mmap_failed(&err);
		break;
	}
	default:
		err = ENODEV;
		break;
	}
out:
	srv_unlock();
	if (ret == MAP_FAILED)
		errno = err;
	return ret;
}
