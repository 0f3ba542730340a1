/* SPDX-License-Identifier: MIT */
/* syscall-server/interpose.c: the libc entry points the loader's libbpf
 * reaches.  Each one checks whether the call concerns us (a bpf or
 * perf_event_open syscall, an fd we handed out, a sysfs file we serve, a
 * path on the BPF filesystem) and
 * otherwise passes it to the next definition (the real libc, found with
 * dlsym(RTLD_NEXT)).  These are the only symbols the library exports
 * (libbpftime-syscall-server.map).
 *
 * Errors follow libc: -1 with errno set.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <linux/magic.h>
#include <linux/perf_event.h>
#include "internal.h"
#include "common/compiler.h"

#define EXPORT	 __attribute__((visibility("default")))
/* Variadic wrappers read as many arguments as the call can have; a caller
 * that passed fewer leaves garbage there (harmless, never used), which
 * AddressSanitizer would report as a stack underflow. */
#define VARIADIC __attribute__((no_sanitize("address")))

struct srv_real srv_real;

#define RESOLVE(name) srv_real.name = (typeof(srv_real.name))dlsym(RTLD_NEXT, #name)

void srv_resolve_real(void)
{
	if (srv_real.close)
		return;
	RESOLVE(syscall);
	RESOLVE(ioctl);
	RESOLVE(mmap);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(open);
	RESOLVE(openat);
	RESOLVE(fopen);
	RESOLVE(epoll_create1);
	RESOLVE(epoll_ctl);
	RESOLVE(epoll_wait);
	RESOLVE(epoll_pwait);
	RESOLVE(close);
	RESOLVE(statfs);
	RESOLVE(statfs64);
	RESOLVE(mkdir);
	RESOLVE(unlink);
	RESOLVE(sigaction);
}

static long ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* ours: this process made it, and we are serving (not in a forked child) */
static bool ours(int fd)
{
	return srv.ready && srv_is_ours(fd) && getpid() == srv.pid;
}

EXPORT VARIADIC long syscall(long nr, ...)
{
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	srv_resolve_real();
	switch (nr) {
	case SYS_bpf:
		if (!srv_active())
			return ret_errno(-ENOSYS);
		return ret_errno(srv_bpf((int)a[0], (union bpf_attr *)a[1], (unsigned int)a[2]));
	case SYS_perf_event_open:
		if (!srv_active())
			return ret_errno(-ENOSYS);
		return ret_errno(srv_perf_event_open((void *)a[0], (pid_t)a[1], (int)a[2],
						     (int)a[3], (unsigned long)a[4]));
	case SYS_dup3:
		return dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_close:
		return close((int)a[0]);
	case SYS_ioctl:
		return ioctl((int)a[0], (unsigned long)a[1], a[2]);
	case SYS_mmap:
		return (long)mmap((void *)a[0], (size_t)a[1], (int)a[2], (int)a[3], (int)a[4],
				  (off_t)a[5]);
	default:
		return srv_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

EXPORT VARIADIC int ioctl(int fd, unsigned long req, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	srv_resolve_real();
	if (ours(fd))
		return (int)ret_errno(srv_perf_ioctl(fd, req, arg));
	if (srv.kernel && req == PERF_EVENT_IOC_SET_BPF && ours((int)arg))
		return (int)ret_errno(srv_kshare_set_bpf(fd, (int)arg)); /* a kernel event */
	return srv_real.ioctl(fd, req, arg);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	srv_resolve_real();
	if (fd >= 0 && !(flags & MAP_ANONYMOUS) && ours(fd))
		return srv_mmap(addr, len, prot, flags, fd, off);
	return srv_real.mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

EXPORT int close(int fd)
{
	srv_resolve_real();
	if (ours(fd)) {
		srv_lock();
		srv_release_fd(fd);
		srv_unlock();
	} else if (srv.ready && srv_epoll_has(fd)) {
		srv_epoll_closed(fd);
	}
	return srv_real.close(fd);
}

struct dup_ctx {
	int oldfd;
};

static int make_dup(int fd, void *ctx)
{
	return bpftime_handler_dup(srv.shm, ((struct dup_ctx *)ctx)->oldfd, fd);
}

/* dup/F_DUPFD: any number from @min up will do, so take one whose slot is
 * free (like a new object's); @cloexec for the new fd */
static int dup_any(int oldfd, bool cloexec, int min)
{
	struct dup_ctx c = { oldfd };
	struct srv_fd *f;
	int fd;

	srv_lock();
	f = srv_fd(oldfd);
	if (f->kind != SRV_FD_HANDLER) {
		/* a stats fd: nothing in the segment */
		fd = srv_real.fcntl(oldfd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
		if (fd >= 0 && srv_fd(fd)) {
			*srv_fd(fd) = *f;
			if (f->kind == SRV_FD_BPFFS_DIR)
				srv_bpffs_fd_dup(oldfd, fd);
		} else if (fd >= 0) {
			srv_real.close(fd);
			fd = -1;
			errno = EMFILE;
		}
		srv_unlock();
		return fd;
	}
	fd = srv_real.fcntl(oldfd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
	fd = fd < 0 ? -errno : srv_place_fd(fd, make_dup, &c, cloexec);
	srv_unlock();
	return (int)ret_errno(fd);
}

/* dup2/dup3: @newfd (a real fd now open on what @oldfd is) takes @oldfd's
 * object; if another loader holds that slot, the number cannot be ours:
 * EBUSY (the kernel's answer for a dup2 racing with open) */
static int dup_to(int oldfd, int newfd)
{
	struct srv_fd *f = srv_fd(newfd);
	int r;

	if (newfd < 0)
		return newfd;
	if (!f) {
		srv_real.close(newfd);
		errno = EMFILE;
		return -1;
	}
	srv_lock();
	if (srv_fd(oldfd)->kind != SRV_FD_HANDLER) {
		*f = *srv_fd(oldfd);
		f->implicit_link = -1;
		f->ring_meta = NULL;
		if (f->kind == SRV_FD_BPFFS_DIR)
			srv_bpffs_fd_dup(oldfd, newfd);
		srv_unlock();
		return newfd;
	}
	r = bpftime_handler_dup(srv.shm, oldfd, newfd);
	if (r < 0) {
		srv_unlock();
		srv_real.close(newfd);
		errno = r == -EEXIST ? EBUSY : -r;
		return -1;
	}
	*f = (struct srv_fd){ .kind = SRV_FD_HANDLER, .implicit_link = -1 };
	srv_unlock();
	return newfd;
}

/* dup2/dup3 onto one of our fds closes what it was first */
static void drop_target(int newfd, int oldfd)
{
	if (newfd != oldfd && ours(newfd)) {
		srv_lock();
		srv_release_fd(newfd);
		srv_unlock();
	}
}

EXPORT int dup(int oldfd)
{
	srv_resolve_real();
	if (ours(oldfd))
		return dup_any(oldfd, false, 0);
	return srv_real.dup(oldfd);
}

EXPORT int dup2(int oldfd, int newfd)
{
	srv_resolve_real();
	drop_target(newfd, oldfd);
	if (ours(oldfd) && oldfd != newfd)
		return dup_to(oldfd, srv_real.dup2(oldfd, newfd));
	return srv_real.dup2(oldfd, newfd);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	srv_resolve_real();
	drop_target(newfd, oldfd);
	if (ours(oldfd) && oldfd != newfd)
		return dup_to(oldfd, srv_real.dup3(oldfd, newfd, flags));
	return srv_real.dup3(oldfd, newfd, flags);
}

EXPORT VARIADIC int fcntl(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	srv_resolve_real();
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && ours(fd))
		return dup_any(fd, cmd == F_DUPFD_CLOEXEC, (int)arg);
	return srv_real.fcntl(fd, cmd, arg);
}

EXPORT VARIADIC int fcntl64(int fd, int cmd, ...)
{
	unsigned long arg;
	va_list ap;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}

static bool is_served_path(const char *path)
{
	return path && (!strncmp(path, "/sys/", 5) || !strncmp(path, "/proc/", 6));
}

EXPORT VARIADIC int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;

	va_start(ap, flags);
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	srv_resolve_real();
	if (is_served_path(path)) {
		fd = srv_sysfs_open(path);
		if (fd != -ENOENT)
			return (int)ret_errno(fd);
	}
	fd = srv_bpffs_openat(AT_FDCWD, path, flags);
	if (fd != SRV_BPFFS_PASS)
		return (int)ret_errno(fd);
	return srv_avoid_taken(srv_real.open(path, flags, mode));
}

EXPORT VARIADIC int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	va_start(ap, flags);
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return open(path, flags, mode);
}

EXPORT VARIADIC int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;
	int fd;

	va_start(ap, flags);
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	srv_resolve_real();
	if (is_served_path(path)) {
		fd = srv_sysfs_open(path);
		if (fd != -ENOENT)
			return (int)ret_errno(fd);
	}
	fd = srv_bpffs_openat(dirfd, path, flags);
	if (fd != SRV_BPFFS_PASS)
		return (int)ret_errno(fd);
	return srv_avoid_taken(srv_real.openat(dirfd, path, flags, mode));
}

EXPORT VARIADIC int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	va_start(ap, flags);
	if (flags & (O_CREAT | __O_TMPFILE))
		mode = va_arg(ap, mode_t);
	va_end(ap);
	return openat(dirfd, path, flags, mode);
}

/* the fortified entry points (-D_FORTIFY_SOURCE builds, coreutils') */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return open(path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	FILE *f;
	int fd;

	srv_resolve_real();
	if (is_served_path(path)) {
		fd = srv_sysfs_open(path);
		if (fd >= 0) {
			f = fdopen(fd, "r");
			if (!f)
				srv_real.close(fd);
			return f;
		}
		if (fd != -ENOENT) {
			errno = -fd;
			return NULL;
		}
	}
	return srv_real.fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return fopen(path, mode);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	int ret;

	srv_resolve_real();
	if (ours(fd) && srv.kernel)
		fd = srv_kshare_epoll_fd(fd); /* a kernel ring buffer: its kernel fd */
	if (ours(fd))
		return (int)ret_errno(srv_epoll_ctl(epfd, op, fd, event));
	ret = srv_real.epoll_ctl(epfd, op, fd, event);
	if (!ret && srv.ready)
		srv_epoll_note_real(epfd, op);
	return ret;
}

EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	srv_resolve_real();
	if (srv.ready && srv_epoll_has(epfd))
		return (int)ret_errno(srv_epoll_wait(epfd, events, max, timeout, NULL));
	return srv_real.epoll_wait(epfd, events, max, timeout);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout,
		       const sigset_t *sigmask)
{
	srv_resolve_real();
	if (srv.ready && srv_epoll_has(epfd))
		return (int)ret_errno(srv_epoll_wait(epfd, events, max, timeout, sigmask));
	return srv_real.epoll_pwait(epfd, events, max, timeout, sigmask);
}

/* ---- signals -------------------------------------------------------------
 * A signal that comes while the kernel's epoll_wait blocks makes it return
 * EINTR, and loaders rely on it: bpftrace leaves its loop on that EINTR,
 * not on its handler's flag, so a SIGINT handled just before it blocks
 * again is lost until the next one.  Our epoll_wait runs user code around
 * its waits, where such a signal finds the thread: the loader's handlers
 * go through a relay that counts them per thread, and the emulated wait
 * returns EINTR when the count moved during it (epoll.c). */

static struct {
	void *fn;
	bool info; /* SA_SIGINFO: fn takes (sig, info, ucontext) */
} app_handler[_NSIG];
static __thread unsigned int signals_seen __attribute__((tls_model("initial-exec")));

unsigned int srv_signals_seen(void)
{
	return signals_seen;
}

static void relay(int sig, siginfo_t *si, void *uc)
{
	void *fn = sig > 0 && sig < _NSIG ? app_handler[sig].fn : NULL;

	signals_seen++;
	if (!fn || fn == (void *)SIG_DFL || fn == (void *)SIG_IGN)
		return;
	if (app_handler[sig].info)
		((void (*)(int, siginfo_t *, void *))fn)(sig, si, uc);
	else
		((void (*)(int))fn)(sig);
}

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction mine, prev;
	typeof(app_handler[0]) was;
	void *fn = NULL;
	int r;

	srv_resolve_real();
	if (!srv_real.sigaction) {
		errno = ENOSYS;
		return -1;
	}
	if (sig <= 0 || sig >= _NSIG)
		return srv_real.sigaction(sig, act, old);
	was = app_handler[sig];
	if (act) {
		fn = act->sa_flags & SA_SIGINFO ? (void *)act->sa_sigaction
						: (void *)act->sa_handler;
		if (fn != (void *)SIG_DFL && fn != (void *)SIG_IGN) {
			/* the relay may run the new handler from now on */
			app_handler[sig].fn = fn;
			app_handler[sig].info = act->sa_flags & SA_SIGINFO;
			mine = *act;
			mine.sa_sigaction = relay;
			mine.sa_flags |= SA_SIGINFO;
			act = &mine;
		}
	}
	r = srv_real.sigaction(sig, act, &prev);
	if (r) {
		app_handler[sig] = was;
		return r;
	}
	if (old) {
		*old = prev;
		if (prev.sa_flags & SA_SIGINFO && prev.sa_sigaction == relay) {
			/* what the loader installed, as it installed it */
			if (was.info) {
				old->sa_sigaction = (void (*)(int, siginfo_t *, void *))was.fn;
			} else {
				old->sa_flags &= ~SA_SIGINFO;
				old->sa_handler = (void (*)(int))was.fn;
			}
		}
	}
	return 0;
}

/* glibc's signal() calls its sigaction internally, past this library:
 * the BSD semantics through ours (the signal blocked in its handler,
 * SA_RESTART) */
EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction act, old;

	memset(&act, 0, sizeof(act));
	act.sa_handler = handler;
	sigemptyset(&act.sa_mask);
	if (sig > 0 && sig < _NSIG)
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = SA_RESTART;
	if (sigaction(sig, &act, &old))
		return SIG_ERR;
	return old.sa_flags & SA_SIGINFO ? (sighandler_t)(void (*)(void))old.sa_sigaction
					 : old.sa_handler;
}

/* ---- the BPF filesystem ------------------------------------------------
 * Pins live in the segment, not in a bpffs.  libbpf checks that a pin path
 * is on one (statfs f_type BPF_FS_MAGIC), creates its parent directories
 * and unlinks pins: under /sys/fs/bpf those see the segment's view. */

static bool bpffs_path(const char *path)
{
	return srv_bpffs_path(path); /* bpffs.c */
}

static void bpffs_statfs(struct statfs64 *st)
{
	memset(st, 0, sizeof(*st));
	st->f_type = BPF_FS_MAGIC;
	st->f_bsize = 4096;
	st->f_namelen = 255;
}

EXPORT int statfs64(const char *path, struct statfs64 *st)
{
	srv_resolve_real();
	if (bpffs_path(path)) {
		bpffs_statfs(st);
		return 0;
	}
	if (srv_tracefs_statfs(path, st))
		return 0;
	return srv_real.statfs64(path, st);
}

EXPORT int statfs(const char *path, struct statfs *st)
{
	srv_resolve_real();
	if (bpffs_path(path)) {
		/* same layout on 64-bit */
		_Static_assert(sizeof(struct statfs) == sizeof(struct statfs64), "statfs layout");
		bpffs_statfs((struct statfs64 *)st);
		return 0;
	}
	if (srv_tracefs_statfs(path, (struct statfs64 *)st))
		return 0;
	return srv_real.statfs(path, st);
}

EXPORT int mkdir(const char *path, mode_t mode)
{
	srv_resolve_real();
	if (bpffs_path(path))
		return (int)ret_errno(srv_bpffs_mkdir(path, mode)); /* bpffs.c */
	return srv_real.mkdir(path, mode);
}

EXPORT int unlink(const char *path)
{
	int ret;

	srv_resolve_real();
	if (bpffs_path(path)) {
		srv_lock();
		ret = srv_bpffs_unlink(path);
		srv_unlock();
		return (int)ret_errno(ret);
	}
	return srv_real.unlink(path);
}
