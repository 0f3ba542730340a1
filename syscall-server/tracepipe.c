/* SPDX-License-Identifier: MIT */
/* syscall-server/tracepipe.c: the trace pipe of a loader under `bpftime
 * load` is bpftime's trace ring (the bpf_printk output in the segment),
 * never the kernel's, and nothing is mounted on the host to read it.
 *
 * What `bpftool prog tracelog` does (and cat, or a loader reading printk
 * output): statfs() of the usual tracefs mount points until one says
 * TRACEFS_MAGIC, else scan /proc/mounts and try mount("tracefs"); then
 * fopen("<mount>/trace_pipe") and getline() on it forever.  Here:
 *   - statfs of /sys/kernel/tracing and /sys/kernel/debug/tracing answers
 *     TRACEFS_MAGIC (srv_tracefs_statfs), whether or not a tracefs is
 *     mounted there, so the tool finds "a tracefs" without mounting one;
 *   - mount() of a tracefs or debugfs is refused with EPERM and a log line
 *     (srv_mount_refused), so a tool that looks elsewhere first cannot
 *     mount one on the host either;
 *   - opening <root>/trace_pipe (open, openat, fopen: sysfs.c) gives the
 *     read end of a pipe that a thread of this process fills from the trace
 *     ring: each message as the kernel's trace_pipe line (helpers/output.c
 *     stores them in that format) plus its newline.  A read blocks until a
 *     message comes, as on the kernel's pipe;
 *   - opening <root>/trace gives the kernel's trace file: its header
 *     (entries in the buffer, entries written, CPUs) and the messages not
 *     consumed yet, without consuming them, then end of file.
 * The pipe consumes, as the kernel's does: the segment keeps one consumed
 * position, the thread takes the oldest unconsumed message
 * (bpftime_trace__consume), so a message goes to one reader, in any
 * process, and the trace file no longer shows it.  A message is consumed
 * when the thread moves it into the pipe: what a reader leaves unread in
 * its pipe when it closes it (at most the pipe's 64 KiB) is consumed too,
 * as what a kernel reader's read() returned and it did not use.  The
 * thread sleeps on the segment's data futex and ends when the reader
 * closes its end (EPIPE on a write, or POLLERR while idle).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

#define TRACE_LINE_MAX 4200 /* the ring truncates messages to 4 KiB */
#define IDLE_CHECK_MS  500  /* how often an idle feeder looks for a gone reader */

static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* the length of the tracefs root @path starts with (followed by "/" or
 * its end), or 0 */
static size_t root_len(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		size_t n = strlen(roots[i]);

		if (!strncmp(path, roots[i], n) && (path[n] == 0 || path[n] == '/'))
			return n;
	}
	return 0;
}

bool srv_tracefs_statfs(const char *path, struct statfs64 *st)
{
	size_t n;

	if (!srv.ready || !path)
		return false;
	n = root_len(path);
	if (!n || (path[n] && strcmp(path + n, "/")))
		return false;
	memset(st, 0, sizeof(*st));
	st->f_type = TRACEFS_MAGIC;
	st->f_bsize = 4096;
	st->f_namelen = 255;
	return true;
}

bool srv_trace_pipe_path(const char *path)
{
	size_t n = path ? root_len(path) : 0;

	return n && !strcmp(path + n, "/trace_pipe");
}

bool srv_trace_file_path(const char *path)
{
	size_t n = path ? root_len(path) : 0;

	return n && !strcmp(path + n, "/trace");
}

/* the kernel's header of the trace file (nop tracer) */
#define TRACE_HEADER                                                       \
	"# tracer: nop\n"                                                  \
	"#\n"                                                              \
	"# entries-in-buffer/entries-written: %d/%llu   #P:%ld\n"          \
	"#\n"                                                              \
	"#                                _-----=> irqs-off/BH-disabled\n" \
	"#                               / _----=> need-resched\n"         \
	"#                              | / _---=> hardirq/softirq\n"      \
	"#                              || / _--=> preempt-depth\n"        \
	"#                              ||| / _-=> migrate-disable\n"      \
	"#                              |||| /     delay\n"                \
	"#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"      \
	"#              | |         |   |||||     |         |\n"

char *srv_trace_file_text(void)
{
	static __thread char line[TRACE_LINE_MAX + 2];
	uint64_t pos, written;
	size_t len = 0, cap = 4096;
	char *text = malloc(cap);
	int n;

	if (!text)
		return NULL;
	n = bpftime_trace__unconsumed(srv.shm, &pos, &written);
	len = (size_t)snprintf(text, cap, TRACE_HEADER, n, (unsigned long long)written,
			       sysconf(_SC_NPROCESSORS_ONLN));
	/* the unconsumed messages, not consuming them (a writer may add more
	 * meanwhile: those are shown too, as the kernel's file would) */
	while (n-- > 0 && bpftime_trace__read(srv.shm, &pos, line, TRACE_LINE_MAX) >= 0) {
		size_t l = strlen(line);

		if (len + l + 2 > cap) {
			char *t = realloc(text, cap = (len + l + 2) * 2);

			if (!t)
				break;
			text = t;
		}
		memcpy(text + len, line, l);
		len += l;
		text[len++] = '\n';
		text[len] = 0;
	}
	return text;
}

bool srv_mount_refused(const char *source, const char *target, const char *fstype)
{
	if (!srv.ready || !fstype || (strcmp(fstype, "tracefs") && strcmp(fstype, "debugfs")))
		return false;
	pr_warn("syscall server: not mounting %s %s at %s: under bpftime the trace pipe "
		"(%s/trace_pipe) is bpftime's trace ring, served without a mount\n",
		fstype, source ? source : "", target ? target : "(null)", roots[0]);
	return true;
}

/* writes all of @buf to @fd; false when the reader is gone (or any error) */
static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static bool reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP));
}

static void *feed(void *arg)
{
	int fd = (int)(intptr_t)arg;
	static __thread char line[TRACE_LINE_MAX + 2];
	sigset_t all;

	/* SIGPIPE from a write after the reader left goes to this thread:
	 * blocked, the write fails with EPIPE instead; the process's own
	 * signals go to its other threads */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		uint32_t seq = bpftime_shm__data_seq(srv.shm);
		int n;

		while ((n = bpftime_trace__consume(srv.shm, line, TRACE_LINE_MAX)) >= 0) {
			size_t len = strlen(line);

			line[len++] = '\n';
			if (!write_all(fd, line, len))
				goto out;
		}
		if (reader_gone(fd))
			break;
		bpftime_shm__wait_data(srv.shm, seq, IDLE_CHECK_MS);
	}
out:
	srv_real.close(fd);
	return NULL;
}

int srv_trace_pipe_open(void)
{
	pthread_attr_t attr;
	pthread_t t;
	int p[2], err;

	if (!srv.ready)
		return -ENOENT;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &attr, feed, (void *)(intptr_t)p[1]);
	pthread_attr_destroy(&attr);
	if (err) {
		srv_real.close(p[0]);
		srv_real.close(p[1]);
		return -err;
	}
	return p[0];
}

/* mount(2)'s libc entry point: a tracefs or debugfs is never mounted from
 * a loader under bpftime (see the top of the file); anything else is the
 * real libc's */
__attribute__((visibility("default"))) int mount(const char *source, const char *target,
						 const char *fstype, unsigned long flags,
						 const void *data)
{
	static int (*real_mount)(const char *, const char *, const char *, unsigned long,
				 const void *);

	if (srv_mount_refused(source, target, fstype)) {
		errno = EPERM;
		return -1;
	}
	if (!real_mount)
		real_mount = (typeof(real_mount))dlsym(RTLD_NEXT, "mount");
	if (!real_mount) {
		errno = ENOSYS;
		return -1;
	}
	return real_mount(source, target, fstype, flags, data);
}
