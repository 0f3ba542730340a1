/* SPDX-License-Identifier: MIT */
/* syscall-server/server.c: the server's process state.
 *
 * The constructor opens (or creates) the segment, reclaims the objects of
 * loaders that died without cleaning up, removes this library from
 * LD_PRELOAD so the loader's children run without it, and logs
 * "bpftime-syscall-server started".  The destructor releases every unpinned
 * object this process created (the links go with them, so agents stop running
 * its programs); `bpftime load` does the same after the loader exits, which
 * also covers a loader killed by a signal.
 *
 * Fds.  The loader sees real fd numbers: each object gets a fd opened on
 * /dev/null, and that number is its slot in the segment's handler table.
 * The table is shared by every loader, so a number another process holds in
 * the table is skipped: the /dev/null fd moves (F_DUPFD) to the next number
 * whose slot is free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"
#include "common/proc.h"

struct srv srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

void srv_lock(void)
{
	pthread_mutex_lock(&srv.lock);
}

void srv_unlock(void)
{
	pthread_mutex_unlock(&srv.lock);
}

bool srv_active(void)
{
	if (likely(srv.ready))
		return true;
	if (!srv.warned) {
		srv.warned = true;
		pr_warn("syscall server: no shared memory; bpf() and perf_event_open() fail with "
			"ENOSYS\n");
	}
	return false;
}

struct srv_fd *srv_fd(int fd)
{
	if (fd < 0 || fd >= srv.max_fd || !srv.fds)
		return NULL;
	return &srv.fds[fd];
}

bool srv_is_ours(int fd)
{
	struct srv_fd *f = srv_fd(fd);

	return f && f->kind != SRV_FD_NONE;
}

static int reserve_null(bool cloexec)
{
	return srv_real.open("/dev/null", O_RDONLY | (cloexec ? O_CLOEXEC : 0));
}

int srv_new_fd(int (*make)(int fd, void *ctx), void *ctx, bool cloexec)
{
	int fd = reserve_null(cloexec);

	if (fd < 0)
		return -errno;
	return srv_place_fd(fd, make, ctx, cloexec);
}

int srv_place_fd(int fd, int (*make)(int fd, void *ctx), void *ctx, bool cloexec)
{
	int next, nfd, ret;

	for (;;) {
		if (fd >= srv.max_fd) {
			pr_warn("syscall server: fd %d is beyond BPFTIME_MAX_FD_COUNT (%d)\n", fd,
				srv.max_fd);
			ret = -EMFILE;
			break;
		}
		ret = make(fd, ctx);
		if (ret != -EEXIST)
			break;
		/* another loader holds this slot: move to a number whose slot is
		 * free (F_DUPFD gives the lowest free fd at or above it) */
		for (next = fd + 1; next < srv.max_fd &&
				    bpftime_handler_get_type(srv.shm, next) != BPFTIME_HANDLER_NONE;
		     next++)
			;
		nfd = srv_real.fcntl(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, next);
		ret = -errno;
		srv_real.close(fd);
		if (nfd < 0)
			return ret;
		fd = nfd;
	}
	if (ret < 0) {
		srv_real.close(fd);
		return ret;
	}
	srv.fds[fd] = (struct srv_fd){ .kind = SRV_FD_HANDLER, .implicit_link = -1 };
	return fd;
}

int srv_avoid_taken(int fd)
{
	int next, nfd, flags;

	if (!srv.ready || fd < 0 || fd >= srv.max_fd || srv.fds[fd].kind != SRV_FD_NONE)
		return fd;
	flags = srv_real.fcntl(fd, F_GETFD);
	/* F_DUPFD gives the lowest free fd at or above a free slot's number,
	 * which may be another taken slot: until both are free */
	while (fd < srv.max_fd && bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_NONE) {
		for (next = fd + 1; next < srv.max_fd &&
				    bpftime_handler_get_type(srv.shm, next) != BPFTIME_HANDLER_NONE;
		     next++)
			;
		nfd = srv_real.fcntl(
			fd, flags > 0 && (flags & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD, next);
		if (nfd < 0)
			break; /* keep this one: still a working fd */
		srv_real.close(fd);
		fd = nfd;
	}
	return fd;
}

void srv_release_fd(int fd)
{
	struct srv_fd *f = srv_fd(fd);

	if (!f || f->kind == SRV_FD_NONE)
		return;
	srv_epoll_forget(fd);
	if (f->kind == SRV_FD_STATS)
		bpftime_shm__stats_enable(srv.shm, false);
	if (f->kind == SRV_FD_BPFFS_DIR)
		srv_bpffs_fd_closed(fd);
	if (f->kind == SRV_FD_HANDLER) {
		if (bpftime_handler_get_type(srv.shm, fd) == BPFTIME_HANDLER_PERF_EVENT)
			srv_perf_closed(fd);
		/* objects others hold (a program its maps, a pin, a link)
		 * live on without the slot: they name each other by object */
		bpftime_handler_close(srv.shm, fd);
	}
	*f = (struct srv_fd){ .kind = SRV_FD_NONE, .implicit_link = -1 };
}

__attribute__((constructor)) static void srv_init(void)
{
	int reclaimed;

	srv_resolve_real();
	bpftime_log_set_default_level(BPFTIME_LOG_WARN);
	bpftime_log_set_component("syscall-server");
	/* our children (system(), exec) are not served */
	/* the loader's children (system(), exec) are not served; with
	 * BPFTIME_AGENT_PATH (set by `bpftime load`) the agent takes the
	 * server's place, so what the loader starts (bpftrace -c CMD) is traced
	 * as the kernel's uprobes would trace it */
	proc_strip_preload("libbpftime-syscall-server", getenv("BPFTIME_AGENT_PATH"));
	setenv("BPFTIME_USED", "1", 1); /* as under the original's `bpftime load` */
	srv.pid = getpid();
	srv.shm = bpftime_shm__open_or_create(NULL);
	if (!srv.shm) {
		pr_err("syscall server: cannot open the shared memory: %s\n", strerror(errno));
		return;
	}
	srv.max_fd = bpftime_shm__max_fd(srv.shm);
	srv.fds = calloc((size_t)srv.max_fd, sizeof(*srv.fds));
	if (!srv.fds) {
		bpftime_shm__close(srv.shm);
		srv.shm = NULL;
		return;
	}
	srv_kshare_init();
	reclaimed = bpftime_shm__reclaim_dead(srv.shm);
	if (reclaimed > 0)
		pr_info("syscall server: released %d objects of loaders that exited\n", reclaimed);
	srv.ready = true;
	srv_epoll_start();
	bpftime_log(BPFTIME_LOG_WARN, "bpftime-syscall-server started\n");
}

__attribute__((destructor)) static void srv_fini(void)
{
	if (!srv.ready || getpid() != srv.pid)
		return;
	srv_lock();
	srv.ready = false;
	srv_timers_fini();
	for (int fd = 0; fd < srv.max_fd; fd++) /* the kernel closes them at exit */
		if (srv.fds[fd].kind == SRV_FD_STATS)
			bpftime_shm__stats_enable(srv.shm, false);
	bpftime_shm__release_owner(srv.shm, srv.pid);
	srv_unlock();
}
