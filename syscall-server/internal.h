/* SPDX-License-Identifier: MIT */
/* syscall-server/internal.h: the fake kernel preloaded into libbpf loaders
 * (libbpftime-syscall-server.so).
 *
 * interpose.c  the libc entry points libbpf reaches (syscall, ioctl, mmap,
 *              close, dup*, fcntl, epoll_*, open*, fopen*, and statfs/mkdir/
 *              unlink under /sys/fs/bpf), passing anything that is not ours
 *              to the real libc (dlsym RTLD_NEXT)
 * server.c     process state: the segment, which fds are ours, fd
 *              reservation on /dev/null, constructor/destructor
 * bpf_cmd.c    bpf(2) commands on maps, links, pins, ids, info, BTF
 * prog.c       PROG_LOAD (verified by our verifier), PROG_TEST_RUN
 * perf.c       perf_event_open, the perf ioctls, mmap of map and perf fds
 * epoll.c      epoll emulation for ring buffers and perf buffers
 * procfd.c     our fds in /proc/self/fd (readlink) and /proc/self/fdinfo
 * bpffs.c      /sys/fs/bpf for bpftool, ls, stat, rm, mkdir, rmdir
 * sysfs.c      the sysfs files libbpf reads
 * tracefs.c    the syscall tracepoints' tracefs files, what an id means
 * netlink.c    rtnetlink XDP/tc attach requests refused with an error ack
 * tracepipe.c  trace_pipe fed from the segment's trace ring; tracefs statfs,
 *              and the mount() wrapper (no tracefs mounted on the host)
 * tag.c        the kernel's program tag (SHA-256)
 * jited.c      the jited_* fields of a program's info: our JIT's code
 *
 * Every call that reaches us returns what the kernel would: -errno from the
 * srv_* functions, turned into -1/errno by interpose.c.  One mutex serialises
 * the server's state changes; map element commands, the only frequent ones,
 * go without it (maps/ locks what it needs).
 */
#ifndef BPFTIME_SYSCALL_SERVER_INTERNAL_H
#define BPFTIME_SYSCALL_SERVER_INTERNAL_H

#include <pthread.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/statfs.h>
#include <linux/bpf.h>
#include <bpftime/shm.h>
#include <bpftime/map.h>

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", which bpf(2) leaks */
#endif

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#define offsetofend(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* the PMU type we give libbpf for uprobes (/sys/bus/event_source/devices/
 * uprobe/type) and the bit of attr.config that marks a uretprobe */
#define SRV_UPROBE_PMU_TYPE 9
/* and for kprobes, so that they are refused by name, not mistaken for
 * another PMU */
#define SRV_KPROBE_PMU_TYPE 10
#define SRV_RETPROBE_BIT    0

/* what a loader fd is, from this process's point of view */
enum srv_fd_kind {
	SRV_FD_NONE = 0,
	SRV_FD_HANDLER,	  /* a slot of the handler table (map, prog, link...) */
	SRV_FD_STATS,	  /* ENABLE_STATS */
	SRV_FD_KBTF,	  /* the kernel's vmlinux BTF (kbtf.c) */
	SRV_FD_BPFFS_DIR, /* a directory of our /sys/fs/bpf (bpffs.c keeps its path) */
};

struct srv_fd {
	uint8_t kind;	       /* enum srv_fd_kind */
	int32_t implicit_link; /* perf event: link made by PERF_EVENT_IOC_SET_BPF, or -1 */
	void *ring_meta;       /* perf event: local view of its ring's metadata page */
};

struct srv {
	struct bpftime_shm *shm;
	pid_t pid;
	int max_fd;
	struct srv_fd *fds; /* max_fd entries */
	pthread_mutex_t lock;
	bool ready;
	bool warned;
	bool kernel;	/* kernel-shared mode (kshare.c) */
	int kernel_err; /* it was asked for but the kernel refuses: every bpf() fails */
};

extern struct srv srv;

/* real libc functions (interpose.c) */
struct srv_real {
	long (*syscall)(long, ...);
	int (*ioctl)(int, unsigned long, ...);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*fcntl)(int, int, ...);
	int (*open)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	void *(*fopen)(const char *, const char *);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, void *);
	int (*epoll_wait)(int, void *, int, int);
	int (*epoll_pwait)(int, void *, int, int, const void *);
	int (*statfs)(const char *, struct statfs *);
	int (*statfs64)(const char *, struct statfs64 *);
	int (*mkdir)(const char *, mode_t);
	int (*unlink)(const char *);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
};
extern struct srv_real srv_real;
void srv_resolve_real(void);
/* handlers of the loader's that ran on this thread so far (interpose.c's
 * relay counts them): an emulated blocking call that sees the count move
 * returns EINTR, as the kernel's does for a signal that came during it */
unsigned int srv_signals_seen(void);

/* server.c */
bool srv_active(void);	       /* initialised (logs once if not) */
bool srv_is_ours(int fd);      /* an fd this process got from us */
struct srv_fd *srv_fd(int fd); /* NULL if out of range */
/* reserves a real fd on /dev/null for a new object and calls @make(fd, ctx)
 * until the handler slot of that number is free in the segment; returns the
 * fd (marked ours) or -errno */
int srv_new_fd(int (*make)(int fd, void *ctx), void *ctx, bool cloexec);
/* the same with a real fd the caller already has (closed on error) */
int srv_place_fd(int fd, int (*make)(int fd, void *ctx), void *ctx, bool cloexec);
/* a real fd the loader just opened whose number is a taken slot (another
 * loader's, or a closed map a program still names) moves to a free one, so
 * that dup2/dup3 onto it can make it ours later (libbpf's map reuse) */
int srv_avoid_taken(int fd);
/* forgets @fd and drops its slot (close, dup2 over it) */
void srv_release_fd(int fd);
void srv_lock(void);
/* kbtf.c: the kernel's vmlinux BTF as id SRV_KBTF_ID (above the ids the
 * segment gives out, which count from 1): available?, an fd of it, its
 * OBJ_GET_INFO_BY_FD */
#define SRV_KBTF_ID 0x7fffffffu
struct bpf_btf_info;
bool srv_kbtf_available(void);
int srv_kbtf_open(void);
int srv_kbtf_info(struct bpf_btf_info *u, struct bpf_btf_info *k);
/* timer.c: a timed software perf event (CPU_CLOCK, TASK_CLOCK) exists:
 * start the thread that runs the loader's timers (once) */
void srv_timers_kick(void);
void srv_timers_fini(void);
void srv_unlock(void);

/* bpf_cmd.c */
long srv_bpf(int cmd, union bpf_attr *uattr, unsigned int size);
/* the kernel's answer for an fd that is not the right kind of object:
 * -EBADF if it is not an open fd at all, else -EINVAL */
int srv_bad_fd(int fd);

/* epoll.c: the watcher thread of mixed epoll sets (started at start-up) */
void srv_epoll_start(void);

/* prog.c */
int srv_prog_load(union bpf_attr *attr);
int srv_prog_test_run(union bpf_attr *attr, union bpf_attr *uattr);
/* the runtime whose VMs PROG_TEST_RUN runs (made on first use; NULL:
 * ENOMEM).  Caller holds srv_lock */
struct bpftime_runtime *srv_prog_runtime(void);

/* jited.c: OBJ_GET_INFO_BY_FD's jited_* fields of program @fd (the code
 * our JIT made for it in this process), after the rest of @k is filled */
int srv_prog_jited_info(int fd, const struct bpf_prog_info *u, struct bpf_prog_info *k);

/* the program at @fd as the kernel's xlated dump shows it: the stored form
 * with its context accesses rewritten to the real context (prog.c); copies
 * up to @n instructions into @out */
void srv_prog_xlated(int fd, const struct bpftime_insn *stored, struct bpftime_insn *out, size_t n);

/* tag.c: the kernel's program tag (bpf_prog_info.tag).  0 or -ENOMEM */
struct bpftime_insn;
int srv_prog_tag(const struct bpftime_insn *insns, size_t cnt, uint8_t tag[8]);

/* perf.c */
long srv_perf_event_open(void *attr, pid_t pid, int cpu, int group_fd, unsigned long flags);
int srv_perf_ioctl(int fd, unsigned long req, unsigned long arg);
void *srv_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void srv_perf_closed(int fd);
/* gives perf event @fd the program @prog (PERF_EVENT_IOC_SET_BPF, and
 * PROG_ATTACH with BPF_MODIFY_RETURN): a link that goes with the perf fd.
 * Caller holds srv_lock.  Returns 0, -EBADF/-EINVAL (not a program), -EEXIST */
int srv_perf_set_prog(int fd, int prog, uint32_t attach_type);

/* kshare.c: kernel-shared mode.  The hooks return SRV_KSHARE_PASS when the
 * call is not theirs (the usual path then serves it). */
#define SRV_KSHARE_PASS (-2147483647 - 1)
struct perf_event_attr;
void srv_kshare_init(void);
bool srv_kshare_loads_at_prog_load(uint32_t prog_type);
int srv_kshare_prog_load(union bpf_attr *attr);
int srv_kshare_link_create(const union bpf_attr *attr);
int srv_kshare_prog_attach(int cmd, const union bpf_attr *attr);
int srv_kshare_set_bpf(int perf_fd, int prog);
long srv_kshare_perf_event_open(const struct perf_event_attr *attr, void *uattr, pid_t pid, int cpu,
				int group_fd, unsigned long flags);
void *srv_kshare_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, bool *done);
int srv_kshare_prog_array_update(int map_fd, const void *key, const void *value, uint64_t flags);
/* fills the kernel's JIT image (jited_prog_len/insns, ksyms, func lens)
 * and run statistics of kernel program @kernel_id into @k, with @u's buffers */
void srv_kshare_prog_info(uint32_t kernel_id, const struct bpf_prog_info *u,
			  struct bpf_prog_info *k);
/* the fd epoll waits on for @fd: a kernel map's kernel fd, else @fd */
int srv_kshare_epoll_fd(int fd);
/* BPFTIME_KERNEL_VERIFIER: the kernel's verdict on a program ours accepted;
 * 0, or -EINVAL/-EACCES (refused, the kernel's log in the loader's buffer) */
int srv_kshare_kernel_verdict(const union bpf_attr *attr, const char *name);

/* epoll.c */
int srv_epoll_ctl(int epfd, int op, int fd, void *event);
int srv_epoll_wait(int epfd, void *events, int max, int timeout, const void *sigmask);
void srv_epoll_closed(int fd);
/* drops a closed fd of ours from every emulated epoll set, as the kernel
 * does when a file goes (caller holds srv_lock) */
void srv_epoll_forget(int fd);
bool srv_epoll_has(int epfd);
void srv_epoll_note_real(int epfd, int op); /* a real fd was added/removed */

/* sysfs.c: a memfd with the contents of a file we fake, -ENOENT for a path
 * that is not ours */
int srv_sysfs_open(const char *path);

/* procfd.c: our fds in /proc: the link target of /proc/self/fd/N (its
 * length, or -ENOENT when N is not ours), and a memfd with the kernel's
 * fdinfo fields for /proc/self/fdinfo/N (or -ENOENT) */
int srv_procfd_readlink(const char *path, char *buf, size_t len);
int srv_procfd_open(const char *path);

/* bpffs.c: is @path (absolute, or relative to a working directory there)
 * on our /sys/fs/bpf; mkdir and unlink there (0 or -errno) */
bool srv_bpffs_path(const char *path);
int srv_bpffs_mkdir(const char *path, mode_t mode);
int srv_bpffs_unlink(const char *path);
/* openat of @path (relative to @dirfd: AT_FDCWD, or one of our directory
 * fds) on our /sys/fs/bpf: a directory fd (SRV_FD_BPFFS_DIR) or -errno;
 * SRV_BPFFS_PASS for a path that is not ours */
#define SRV_BPFFS_PASS INT_MIN
int srv_bpffs_openat(int dirfd, const char *path, int flags);
/* a directory fd closed, or dup'ed to @newfd (srv lock held) */
void srv_bpffs_fd_closed(int fd);
void srv_bpffs_fd_dup(int oldfd, int newfd);

/* tracefs.c: the contents of a syscall tracepoint's tracefs file (id,
 * format) into @buf, returning its length (snprintf's), or -ENOENT for a
 * path that is not one or that the mounted tracefs serves itself */
int srv_tracefs_open(const char *path, char *buf, size_t size);
/* tracepipe.c: statfs of a tracefs root (fills @st, true) or not ours;
 * whether @path is a trace_pipe; a read fd that streams the trace ring as
 * the kernel's trace_pipe lines (or -errno); whether a mount() is one we
 * refuse (tracefs/debugfs: logged, the caller fails it with EPERM) */
bool srv_tracefs_statfs(const char *path, struct statfs64 *st);
bool srv_trace_pipe_path(const char *path);
int srv_trace_pipe_open(void);
/* the trace file (not consuming): whether @path is one; its text (malloc'ed) */
bool srv_trace_file_path(const char *path);
char *srv_trace_file_text(void);
bool srv_mount_refused(const char *source, const char *target, const char *fstype);
/* netlink.c: LINK_CREATE of @attach_type: -EOPNOTSUPP (logged) for the
 * attach types that name a network device (XDP, tcx, netkit), else 0 */
int srv_refuse_dev_attach(uint32_t attach_type, int prog_fd, int target);
/* what tracepoint @id is: 0 with *config = BPFTIME_SYSTP_CONFIG(kind, nr)
 * for a syscall tracepoint (ours or the mounted tracefs's), or -ENOENT */
int srv_tracefs_resolve(int id, uint64_t *config);

#endif
