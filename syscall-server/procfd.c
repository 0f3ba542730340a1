/* SPDX-License-Identifier: MIT */
/* syscall-server/procfd.c: our fds as /proc shows the kernel's.
 *
 * An fd we hand out is a real fd opened on /dev/null (server.c), so the
 * kernel's /proc would say "/dev/null".  Tools tell what an fd is from
 * there: bpftool's get_fd_type() reads the link /proc/self/fd/N
 * ("anon_inode:bpf-map", "anon_inode:bpf-prog", "anon_inode:bpf-link",
 * "anon_inode:btf"), and its map code reads "frozen:" from
 * /proc/self/fdinfo/N.  For our fds (of this process: /proc/self,
 * /proc/thread-self, /proc/<our pid>) both say what the kernel's would:
 * readlink gives the anon inode's name, and opening the fdinfo gives a file
 * with the kernel's fields in the kernel's order (bpf_map_show_fdinfo,
 * bpf_prog_show_fdinfo, bpf_link_show_fdinfo, bpf_btf_show_fdinfo): the
 * common pos/flags/mnt_id/ino lines, then the object's.  Any other path is
 * the kernel's business.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"

#define EXPORT __attribute__((visibility("default")))

/* an absolute path (the libc entry points' path arguments are declared
 * nonnull, but a NULL must still reach the real function) */
static bool is_abs(const char *p)
{
	return p && p[0] == '/';
}

static ssize_t (*real_readlink)(const char *, char *, size_t);
static ssize_t (*real_readlinkat)(int, const char *, char *, size_t);

/* The fd N of "/proc/{self,thread-self,PID}/@what/N" when PID is us and N
 * is one of our fds; else -1. */
static int our_proc_fd(const char *path, const char *what)
{
	const char *p;
	char *end;
	long pid, fd;
	size_t n = strlen(what);

	if (!srv.ready || !path || strncmp(path, "/proc/", 6) || getpid() != srv.pid)
		return -1;
	p = path + 6;
	if (!strncmp(p, "self/", 5)) {
		p += 5;
	} else if (!strncmp(p, "thread-self/", 12)) {
		p += 12;
	} else {
		pid = strtol(p, &end, 10);
		if (end == p || *end != '/' || pid != srv.pid)
			return -1;
		p = end + 1;
	}
	if (strncmp(p, what, n) || p[n] != '/')
		return -1;
	p += n + 1;
	fd = strtol(p, &end, 10);
	if (end == p || *end || fd < 0 || fd > INT32_MAX || !srv_is_ours((int)fd))
		return -1;
	return (int)fd;
}

/* the anon inode name of our fd @fd */
static const char *anon_name(int fd)
{
	switch (srv_fd(fd)->kind) {
	case SRV_FD_STATS:
		return "bpf-stats";
	case SRV_FD_KBTF:
		return "btf";
	default:
		break;
	}
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_MAP:
		return "bpf-map";
	case BPFTIME_HANDLER_PROG:
		return "bpf-prog";
	case BPFTIME_HANDLER_LINK:
		return "bpf-link";
	case BPFTIME_HANDLER_BTF:
		return "btf";
	case BPFTIME_HANDLER_PERF_EVENT:
		return "[perf_event]";
	default:
		return "[eventfd]"; /* cannot happen: closed under us */
	}
}

int srv_procfd_readlink(const char *path, char *buf, size_t len)
{
	char name[64];
	int fd = our_proc_fd(path, "fd");
	size_t n;

	if (fd < 0)
		return -ENOENT;
	n = (size_t)snprintf(name, sizeof(name), "anon_inode:%s", anon_name(fd));
	n = MIN(n, len);
	memcpy(buf, name, n); /* readlink: no NUL */
	return (int)n;
}

/* a memfd holding @len bytes of @text, at offset 0 */
static int memfd_text(const char *text, size_t len)
{
	int fd = (int)srv_real.syscall(SYS_memfd_create, "bpftime-fdinfo", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0) {
		srv_real.close(fd);
		return -EIO;
	}
	return fd;
}

static void hex_tag(const struct bpftime_insn *insns, size_t cnt, char out[17])
{
	uint8_t tag[8] = { 0 };

	if (insns)
		srv_prog_tag(insns, cnt, tag);
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", tag[i]);
}

/* the kernel's memlock figure: whole pages */
static unsigned long long pages(unsigned long long bytes)
{
	return (bytes + 4095) / 4096 * 4096;
}

/* the object lines of fdinfo for our fd @fd, appended at @b */
static int object_lines(int fd, char *b, size_t size)
{
	struct bpftime_map_info mi;
	struct bpftime_prog_info pi;
	struct bpftime_link_info li;
	struct bpftime_handler_info hi;
	const struct bpftime_insn *insns;
	size_t cnt = 0;
	char tag[17];

	if (srv_fd(fd)->kind == SRV_FD_KBTF)
		return snprintf(b, size, "btf_id:\t%u\n", SRV_KBTF_ID);
	if (srv_fd(fd)->kind != SRV_FD_HANDLER)
		return 0;
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_MAP:
		if (bpftime_map_get_info(srv.shm, fd, &mi))
			return 0;
		return snprintf(b, size,
				"map_type:\t%u\nkey_size:\t%u\nvalue_size:\t%u\n"
				"max_entries:\t%u\nmap_flags:\t0x%x\nmap_extra:\t0x%llx\n"
				"memlock:\t%llu\nmap_id:\t%u\nfrozen:\t%u\n",
				mi.type, mi.key_size, mi.value_size, mi.max_entries, mi.map_flags,
				(unsigned long long)mi.map_extra,
				pages((unsigned long long)(mi.key_size + mi.value_size_syscall) *
				      mi.max_entries),
				mi.id, mi.frozen ? 1u : 0u);
	case BPFTIME_HANDLER_PROG: {
		struct bpftime_runtime *rt;
		struct bpftime_vm *vm;
		unsigned int jited;

		if (bpftime_prog_get_info(srv.shm, fd, &pi))
			return 0;
		/* jited as OBJ_GET_INFO says (jited.c): our JIT built it */
		srv_lock();
		rt = srv_prog_runtime();
		vm = rt ? bpftime_runtime__prog(rt, fd) : NULL;
		jited = vm && bpftime_vm__engine(vm) == BPFTIME_ENGINE_JIT;
		srv_unlock();
		insns = bpftime_prog_insns(srv.shm, fd, &cnt);
		hex_tag(insns, cnt, tag);
		return snprintf(b, size,
				"prog_type:\t%u\nprog_jited:\t%u\nprog_tag:\t%s\nmemlock:\t%llu\n"
				"prog_id:\t%u\nrun_time_ns:\t%llu\nrun_cnt:\t%llu\n"
				"recursion_misses:\t%llu\nverified_insns:\t%u\n",
				pi.type, jited, tag, pages((unsigned long long)pi.insn_cnt * 8),
				pi.id, (unsigned long long)pi.run_time_ns,
				(unsigned long long)pi.run_cnt, 0ULL, pi.insn_cnt);
	}
	case BPFTIME_HANDLER_LINK: {
		int n;

		if (bpftime_link_get_info(srv.shm, fd, &li))
			return 0;
		n = snprintf(b, size, "link_type:\tperf_event\nlink_id:\t%u\n", li.id);
		if (li.prog_id && li.prog_fd >= 0) {
			insns = bpftime_prog_insns(srv.shm, li.prog_fd, &cnt);
			hex_tag(insns, cnt, tag);
			n += snprintf(b + n, size - (size_t)n, "prog_tag:\t%s\nprog_id:\t%u\n", tag,
				      li.prog_id);
		}
		return n;
	}
	case BPFTIME_HANDLER_BTF:
		if (bpftime_handler_get_info(srv.shm, fd, &hi))
			return 0;
		return snprintf(b, size, "btf_id:\t%u\n", hi.id);
	default:
		return 0;
	}
}

int srv_procfd_open(const char *path)
{
	char buf[2048], real[128], line[256];
	int fd = our_proc_fd(path, "fdinfo"), n, flags;
	unsigned long long mnt_id = 0, ino = 0;
	FILE *f;

	if (fd < 0)
		return -ENOENT;
	/* the anon inode's mount and inode stand in for /dev/null's */
	snprintf(real, sizeof(real), "/proc/self/fdinfo/%d", fd);
	f = srv_real.fopen(real, "r");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "mnt_id: %llu", &mnt_id);
		sscanf(line, "ino: %llu", &ino);
	}
	if (f)
		fclose(f);
	flags = srv_real.fcntl(fd, F_GETFD);
	/* the kernel's bpf fds are O_RDWR, with O_CLOEXEC when asked */
	n = snprintf(buf, sizeof(buf), "pos:\t0\nflags:\t0%o\nmnt_id:\t%llu\nino:\t%llu\n",
		     O_RDWR | (flags > 0 && (flags & FD_CLOEXEC) ? O_CLOEXEC : 0), mnt_id, ino);
	n += object_lines(fd, buf + n, sizeof(buf) - (size_t)n);
	return memfd_text(buf, (size_t)MIN((size_t)n, sizeof(buf) - 1));
}

EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
	int n;

	if (!real_readlink)
		real_readlink = (typeof(real_readlink))dlsym(RTLD_NEXT, "readlink");
	n = srv_procfd_readlink(path, buf, len);
	if (n != -ENOENT)
		return n;
	return real_readlink(path, buf, len);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
	int n;

	if (!real_readlinkat)
		real_readlinkat = (typeof(real_readlinkat))dlsym(RTLD_NEXT, "readlinkat");
	n = is_abs(path) ? srv_procfd_readlink(path, buf, len) : -ENOENT;
	if (n != -ENOENT)
		return n;
	return real_readlinkat(dirfd, path, buf, len);
}
