/* SPDX-License-Identifier: MIT */
/* bpftime/shm.h: the shared-memory segment that loaders, agents and tools
 * share, and its handler table.  Public API; compiles alone as C and C++.
 *
 * One POSIX shm object (BPFTIME_GLOBAL_SHM_NAME, default "bpftime_maps_shm",
 * i.e. /dev/shm/bpftime_maps_shm; mode 0600) holds a versioned header, an
 * allocator arena, a handler table of BPFTIME_MAX_FD_COUNT slots (default
 * 6144) indexed by fd, a pinned-path table and a trace ring.  Each process maps
 * it at its own address; everything inside refers to other things by offset.
 *
 * Handlers and objects.  A slot (an "fd") refers to an object: a map, a
 * program, a perf event, a link or a BTF blob.  Objects are reference counted:
 * several slots may refer to one object (bpftime_handler_dup, OBJ_GET of a
 * pinned path, *_GET_FD_BY_ID), pins hold a reference, links hold their
 * program and target, programs the maps bound to them, and map-in-map /
 * prog-array entries hold theirs.  Each object has a unique id (never reused
 * while the segment exists), like the kernel's map/prog/link ids.
 *
 * Fds.  Every *__create() takes an fd: >= 0 creates at exactly that slot
 * (the syscall server passes the real fd it reserved on /dev/null; -EEXIST if
 * the slot is taken, e.g. by another loader: reserve another fd and retry);
 * -1 takes the first free slot (tools).  The fd used is returned.
 *
 * Change tracking.  Each slot has a generation counter bumped on every change
 * (odd while a change is in progress), so a reader can detect reuse; the
 * segment has an epoch word bumped on every handler change, which
 * bpftime_shm__wait_epoch() waits on (futex, no polling).
 *
 * Ownership.  Each slot records the pid that created it (0: nobody, e.g. state
 * imported by a tool).  bpftime_shm__release_owner() drops the slots of a
 * process that exits; bpftime_shm__reclaim_dead() drops those whose owner no
 * longer exists.  Slots whose object is pinned are kept either way.
 *
 * Locks.  Every lock in the segment is a process-shared robust pthread mutex:
 * a process killed while holding one does not wedge the others (the next
 * locker gets EOWNERDEAD, marks it consistent and goes on; the structures
 * are updated so that any prefix of an update is consistent).
 *
 * Errors: int calls return 0 (or an fd / a count) or a negative errno and set
 * errno; pointer calls return NULL and set errno.  -EPROTO means the segment
 * is not one this build can use (bad magic, ABI version, size); a message
 * naming the segment and the mismatch is logged.
 */
#ifndef BPFTIME_SHM_H
#define BPFTIME_SHM_H

#include <bpftime/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BPFTIME_DEFAULT_SHM_NAME "bpftime_maps_shm"
#define BPFTIME_DEFAULT_SHM_MB	 50
#define BPFTIME_DEFAULT_MAX_FD	 6144
#define BPFTIME_OBJ_NAME_LEN	 16 /* the kernel's BPF_OBJ_NAME_LEN */
#define BPFTIME_MAX_PINS	 1024
#define BPFTIME_PIN_PATH_MAX	 256
#define BPFTIME_PROG_MAX_ATTACH	 16
#define BPFTIME_PROG_MAX_MAPS	 64 /* the kernel's MAX_USED_MAPS */

struct bpftime_shm;
struct bpftime_insn; /* bpftime/vm.h */

/* Options of create/open.  Zero fields take the environment, then the default:
 * name BPFTIME_GLOBAL_SHM_NAME, size_mb BPFTIME_SHM_MEMORY_MB, max_fd
 * BPFTIME_MAX_FD_COUNT.  size_mb and max_fd only matter when creating. */
struct bpftime_shm_opts {
	size_t sz; /* sizeof(struct bpftime_shm_opts) */
	const char *name;
	uint32_t size_mb;
	uint32_t max_fd;
	size_t : 0;
};

/**
 * @brief **bpftime_shm__create()** creates and initialises a new segment,
 * mode 0600 (0660 and the group of BPFTIME_SHM_GROUP when that is set), its
 * whole size reserved in /dev/shm before it is published.
 * @return the mapped segment, or NULL with errno: EEXIST (already exists),
 *         EINVAL (bad name or size), ENOSPC (/dev/shm cannot hold it; logged),
 *         ENOMEM, EACCES...
 */
BPFTIME_API struct bpftime_shm *bpftime_shm__create(const struct bpftime_shm_opts *opts);

/**
 * @brief **bpftime_shm__open()** maps an existing segment, waiting briefly
 * for its creator to finish initialising it, and checks its owner and
 * header.  A segment is used only if it is owned by the caller's effective
 * user or by root and no one else may write it, except the group named by
 * BPFTIME_SHM_GROUP (a group name or gid) when that is set.  Slots whose
 * records are corrupt are reported and read as empty afterwards.
 * @return the segment, or NULL with errno: ENOENT (no such segment), EPERM
 *         (another user's or a writable-by-others segment; logged with its
 *         owner), EPROTO (header mismatch or never initialised; logged), EACCES...
 */
BPFTIME_API struct bpftime_shm *bpftime_shm__open(const struct bpftime_shm_opts *opts);

/** @brief **bpftime_shm__open_or_create()** opens the segment or, if there is
 * none, creates it; race-free between processes.  Errors as above. */
BPFTIME_API struct bpftime_shm *bpftime_shm__open_or_create(const struct bpftime_shm_opts *opts);

/** @brief **bpftime_shm__close()** unmaps the segment and frees this
 * process's handles (the segment itself stays); NULL is fine. */
BPFTIME_API void bpftime_shm__close(struct bpftime_shm *shm);

/** @brief **bpftime_shm__remove()** unlinks the segment @name (NULL: the
 * environment or default name).  Mappings stay valid until closed.
 * @return 0 or -ENOENT, -EACCES */
BPFTIME_API int bpftime_shm__remove(const char *name);

/**
 * @brief **bpftime_shm__guard()** protects this process from a segment that
 * is truncated under it: a SIGBUS on the mapping (other SIGBUS go to the
 * previous handler) replaces it with zero pages and marks it gone, and the
 * faulting access resumes.  For processes that must never die of bpftime
 * (the agent).  @return 0 or -errno (-ENOSPC: too many guarded segments)
 */
BPFTIME_API int bpftime_shm__guard(struct bpftime_shm *shm);
/** @brief true once the segment was found truncated or replaced (by a
 * guarded fault or bpftime_shm__check()); its mapping is then zero pages */
BPFTIME_API bool bpftime_shm__gone(const struct bpftime_shm *shm);
/** @brief **bpftime_shm__check()** compares the object with the mapping:
 * @return 0, or -ENXIO when it was truncated or the name now names another
 *         object (the mapping is then replaced by zero pages: no access
 *         faults), or -errno of fstat */
BPFTIME_API int bpftime_shm__check(struct bpftime_shm *shm);

/** @brief the segment's name (borrowed) */
BPFTIME_API const char *bpftime_shm__name(const struct bpftime_shm *shm);
/** @brief the shm object's file descriptor, for mmap'ing regions of it at the
 * file offsets bpftime_map_mmap_region() returns (owned by @shm) */
BPFTIME_API int bpftime_shm__fd(const struct bpftime_shm *shm);
/** @brief the segment size in bytes */
BPFTIME_API size_t bpftime_shm__size(const struct bpftime_shm *shm);
/** @brief the number of handler slots */
BPFTIME_API int bpftime_shm__max_fd(const struct bpftime_shm *shm);
/** @brief the number of possible CPUs the segment was created for (per-CPU
 * maps have this many slots) */
BPFTIME_API int bpftime_shm__ncpus(const struct bpftime_shm *shm);

/**
 * @brief **bpftime_shm__cpu_get()** starts a program run on the calling
 * thread: it claims one of the segment's per-CPU slots (the current CPU's if
 * free, else another; it waits while all are owned by other runs), so that,
 * as in the kernel, no other run uses that slot's per-CPU data until
 * **bpftime_shm__cpu_put()**.  Calls nest on a thread (the inner run keeps
 * the slot).  Call it around every program run that may touch per-CPU data.
 * @return the slot, in [0, ncpus)
 */
BPFTIME_API int bpftime_shm__cpu_get(struct bpftime_shm *shm);
/** @brief ends the run started by the matching bpftime_shm__cpu_get() */
BPFTIME_API void bpftime_shm__cpu_put(struct bpftime_shm *shm);
/** @brief whether the calling thread is inside a program run (between
 * bpftime_shm__cpu_get() and bpftime_shm__cpu_put()) */
BPFTIME_API bool bpftime_shm__cpu_busy(void);

/** @brief the number of possible CPUs per /sys/devices/system/cpu/possible
 * (libbpf_num_possible_cpus semantics), at least 1 */
BPFTIME_API int bpftime_num_possible_cpus(void);

struct bpftime_shm_stats {
	size_t sz;
	uint64_t arena_size;   /* bytes the allocator manages */
	uint64_t used;	       /* bytes in allocated blocks (incl. headers) */
	uint64_t largest_free; /* largest free block */
	uint32_t free_blocks;
	uint32_t handlers; /* used slots */
	size_t : 0;
};
/** @brief fills @stats; returns 0 or -EINVAL */
BPFTIME_API int bpftime_shm__stats(struct bpftime_shm *shm, struct bpftime_shm_stats *stats);

/**
 * @brief **bpftime_shm__reap()** frees maps whose last reference is gone.
 * A map's memory outlives its last reference by a grace period of one
 * second, so that an agent still running a program that uses it (until it
 * sees the epoch change) never writes into memory given to something else.
 * Reaping happens by itself on later creations and before any allocation
 * would fail; tools call this to account for memory at once.
 * @param all true: ignore the grace period
 * @return the number of maps freed
 */
BPFTIME_API int bpftime_shm__reap(struct bpftime_shm *shm, bool all);

/** @brief the handler-table epoch: bumped on every create/close/change */
BPFTIME_API uint32_t bpftime_shm__epoch(const struct bpftime_shm *shm);
/**
 * @brief **bpftime_shm__wait_epoch()** waits until the epoch differs from
 * @seen (futex).  @timeout_ms < 0 waits forever.
 * @return 0 when it changed, -ETIMEDOUT, -EINTR
 */
BPFTIME_API int bpftime_shm__wait_epoch(struct bpftime_shm *shm, uint32_t seen, int timeout_ms);

/** @brief the data sequence word: bumped whenever a ring buffer or perf
 * buffer in the segment receives data (what an emulated epoll waits on) */
BPFTIME_API uint32_t bpftime_shm__data_seq(const struct bpftime_shm *shm);
/** @brief waits until the data sequence differs from @seen; as wait_epoch */
BPFTIME_API int bpftime_shm__wait_data(struct bpftime_shm *shm, uint32_t seen, int timeout_ms);

/* ---- handler table ---------------------------------------------------- */

enum bpftime_handler_type {
	BPFTIME_HANDLER_NONE = 0,
	BPFTIME_HANDLER_MAP = 1,
	BPFTIME_HANDLER_PROG = 2,
	BPFTIME_HANDLER_PERF_EVENT = 3,
	BPFTIME_HANDLER_LINK = 4,
	BPFTIME_HANDLER_BTF = 5,
};

struct bpftime_handler_info {
	enum bpftime_handler_type type;
	uint32_t gen;	   /* slot generation: changes when the slot is reused */
	uint32_t id;	   /* object id (shared by dup'ed slots) */
	int32_t owner_pid; /* 0: nobody */
	uint32_t refcnt;   /* references to the object */
	bool pinned;
	char name[BPFTIME_OBJ_NAME_LEN];
};

/** @brief the handler at @fd.  @return 0, -EBADF (out of range), -ENOENT (empty) */
BPFTIME_API int bpftime_handler_get_info(struct bpftime_shm *shm, int fd,
					 struct bpftime_handler_info *info);
/** @brief iteration: the first used fd above @fd (-1 to start), or -ENOENT */
BPFTIME_API int bpftime_handler_next(struct bpftime_shm *shm, int fd);
/** @brief the type at @fd (BPFTIME_HANDLER_NONE if empty or out of range) */
BPFTIME_API enum bpftime_handler_type bpftime_handler_get_type(struct bpftime_shm *shm, int fd);
/** @brief **bpftime_handler_close()** empties slot @fd and drops its object
 * reference (the object goes when the last reference does).
 * @return 0, -EBADF */
BPFTIME_API int bpftime_handler_close(struct bpftime_shm *shm, int fd);
/** @brief makes @newfd (or the first free slot if -1) refer to @oldfd's
 * object.  @return the new fd, -EBADF, -EEXIST, -EMFILE (table full) */
BPFTIME_API int bpftime_handler_dup(struct bpftime_shm *shm, int oldfd, int newfd);
/** @brief a slot referring to object @id, the lowest one, or -ENOENT */
BPFTIME_API int bpftime_handler_fd_by_id(struct bpftime_shm *shm, uint32_t id);
/** @brief **bpftime_handler_open_id()** makes slot @newfd (-1: the first
 * free one) refer to the object with @id, wherever it is held: a slot of any
 * process, a pin, a link, a program's maps or BTF, a map's BTF, a prog array
 * or map-in-map entry (what *_GET_FD_BY_ID reaches in the kernel).
 * @return the fd, -ENOENT, -EEXIST, -EMFILE */
BPFTIME_API int bpftime_handler_open_id(struct bpftime_shm *shm, uint32_t id, int newfd);
/** @brief the smallest id above @id among the live objects (every object
 * something holds, as bpftime_handler_open_id() reaches them), or -ENOENT;
 * @type BPFTIME_HANDLER_NONE matches every type (GET_NEXT_ID) */
BPFTIME_API int bpftime_handler_next_id(struct bpftime_shm *shm, enum bpftime_handler_type type,
					uint32_t id, uint32_t *next_id);
/** @brief changes the owner of @fd (0: nobody).  @return 0, -EBADF */
BPFTIME_API int bpftime_handler_set_owner(struct bpftime_shm *shm, int fd, pid_t pid);
/** @brief closes every slot owned by @pid whose object is not pinned.
 * @return the number closed */
BPFTIME_API int bpftime_shm__release_owner(struct bpftime_shm *shm, pid_t pid);
/** @brief closes every unpinned slot whose owner process is gone (kill(pid, 0)
 * fails with ESRCH: owners are seen from this process's pid namespace).
 * @return the number closed */
BPFTIME_API int bpftime_shm__reclaim_dead(struct bpftime_shm *shm);

/* ---- pinned paths (OBJ_PIN / OBJ_GET) --------------------------------- */

/** @brief pins @fd's object at @path (< BPFTIME_PIN_PATH_MAX bytes).
 * @return 0, -EBADF, -EEXIST (path taken), -ENOSPC (table full), -ENAMETOOLONG */
BPFTIME_API int bpftime_obj_pin(struct bpftime_shm *shm, int fd, const char *path);
/** @brief opens the object pinned at @path in slot @newfd (-1: first free).
 * @return the fd, -ENOENT, -EEXIST, -EMFILE */
BPFTIME_API int bpftime_obj_get(struct bpftime_shm *shm, const char *path, int newfd);
/** @brief removes a pin.  @return 0, -ENOENT (-EISDIR: a directory) */
BPFTIME_API int bpftime_obj_unpin(struct bpftime_shm *shm, const char *path);
/** @brief iteration over pins: index @i (0..BPFTIME_MAX_PINS-1) copies the
 * path and returns the object id, or -ENOENT for an empty entry, -EINVAL past the end */
BPFTIME_API int bpftime_obj_pin_at(struct bpftime_shm *shm, int i, char *path, size_t len);

/* ---- directories of the BPF filesystem --------------------------------
 * Pins live in the segment, and so do the directories they are in: made by
 * bpftime_bpffs_mkdir(), or implied by the pins and directories below them
 * (an implied directory goes with its last entry).  The segment does not
 * know where the file system is mounted: callers check parents. */

/** @brief what @path is: 0 with *@type the pinned object's type and *@id
 * its id, or *@type BPFTIME_HANDLER_NONE for a directory; *@mode its
 * permission bits (pins 0600, implied directories 0700); -ENOENT */
BPFTIME_API int bpftime_bpffs_lookup(struct bpftime_shm *shm, const char *path,
				     enum bpftime_handler_type *type, uint32_t *id, uint32_t *mode);
/** @brief makes directory @path with permission bits @mode.  @return 0,
 * -EEXIST (a pin or directory is there), -ENOSPC (the pin table is full),
 * -ENAMETOOLONG */
BPFTIME_API int bpftime_bpffs_mkdir(struct bpftime_shm *shm, const char *path, uint32_t mode);
/** @brief removes directory @path.  @return 0, -ENOENT, -ENOTDIR (a pin),
 * -ENOTEMPTY */
BPFTIME_API int bpftime_bpffs_rmdir(struct bpftime_shm *shm, const char *path);
/** @brief iteration over pins and directories: entry @i (0..BPFTIME_MAX_PINS-1)
 * copies its path and returns the pinned object's type, BPFTIME_HANDLER_NONE
 * (0) for a directory, -ENOENT for an empty entry, -EINVAL past the end */
BPFTIME_API int bpftime_bpffs_entry_at(struct bpftime_shm *shm, int i, char *path, size_t len);

/* ---- programs --------------------------------------------------------- */

struct bpftime_prog_create_opts {
	size_t sz; /* sizeof(struct bpftime_prog_create_opts) */
	uint32_t expected_attach_type;
	const char *license; /* copied (up to 63 bytes) */
	uint32_t prog_flags;
	uint32_t kern_version;
	uint32_t attach_btf_id;
	int32_t attach_prog_fd;
	int32_t prog_btf_fd; /* a BTF slot (-1: none): the program holds that object */
	/* BTF func info and line info (PROG_LOAD's), copied: @func_info_cnt
	 * records of @func_info_rec_size bytes (at least the kernel's struct
	 * bpf_func_info, 8), @line_info_cnt records of @line_info_rec_size
	 * (at least struct bpf_line_info, 16); insn_off counts instructions.
	 * Callers built before these fields pass a smaller sz: none. */
	const void *func_info;
	uint32_t func_info_rec_size;
	uint32_t func_info_cnt;
	const void *line_info;
	uint32_t line_info_rec_size;
	uint32_t line_info_cnt;
	size_t : 0;
};

struct bpftime_prog_info {
	uint32_t type;
	uint32_t expected_attach_type;
	uint32_t id;
	uint32_t insn_cnt;
	uint32_t prog_flags;
	uint32_t kern_version;
	uint32_t attach_btf_id;
	int32_t attach_prog_fd;
	int32_t prog_btf_fd;
	uint32_t attach_cnt;
	int32_t attach_fds[BPFTIME_PROG_MAX_ATTACH];
	uint32_t used_map_cnt;
	uint64_t aot_size;
	char name[BPFTIME_OBJ_NAME_LEN];
	char license[64];
	uint32_t btf_id; /* id of the BTF object it holds (0: none) */
	uint32_t func_info_cnt;
	uint32_t line_info_cnt;
	uint64_t run_cnt;	 /* runs counted while stats were on */
	uint64_t run_time_ns;	 /* and their time */
	uint64_t load_time;	 /* CLOCK_BOOTTIME ns when it was stored */
	uint32_t created_by_uid; /* the creator's uid */
	/* kernel-shared mode: the program's copy in the kernel (0: none), and
	 * whether it only exists there (a kernel program a loader put in a
	 * prog array: no instructions of its own here) */
	uint32_t kernel_id;
	bool kernel_only;
};

/**
 * @brief **bpftime_prog_create()** stores a program (type = the kernel's
 * prog type, instructions copied into the segment).  Its lddws with pseudo
 * source map fd (1) or map value (2) name maps by slot (the caller's fds);
 * the program holds those maps and is stored with their object ids in
 * place of the fds, as the kernel's xlated form, so that it means the same
 * maps in every process whatever happens to the fds later.  fd_array
 * indexes (sources 5 and 6) are stored as given.
 * @return the fd; -EINVAL (no insns, bad opts), -EBADF (an lddw names no
 *         map), -E2BIG (more than BPFTIME_PROG_MAX_MAPS maps), -ENOMEM,
 *         -EEXIST, -EMFILE
 */
BPFTIME_API int bpftime_prog_create(struct bpftime_shm *shm, int fd, uint32_t prog_type,
				    const char *name, const struct bpftime_insn *insns,
				    size_t insn_cnt, const struct bpftime_prog_create_opts *opts);
/** @brief **bpftime_prog_set_kernel()** records that program @fd has a copy
 * in the kernel with id @kernel_id (@kernel_only: it runs only there).
 * @return 0, -EBADF (not a program) */
BPFTIME_API int bpftime_prog_set_kernel(struct bpftime_shm *shm, int fd, uint32_t kernel_id,
					bool kernel_only);
/** @brief @return 0, -EBADF (not a program) */
BPFTIME_API int bpftime_prog_get_info(struct bpftime_shm *shm, int fd,
				      struct bpftime_prog_info *info);
/** @brief the stored instructions (borrowed: points into the segment, valid
 * while the program exists; map references carry map ids, see
 * bpftime_prog_create()), NULL with errno EBADF */
BPFTIME_API const struct bpftime_insn *bpftime_prog_insns(struct bpftime_shm *shm, int fd,
							  size_t *cnt);
/* a program's BTF func info and line info (borrowed: in the segment, valid
 * while the program exists; NULL with a count of 0 when it has none) */
struct bpftime_prog_btf_ext {
	const void *func_info;
	uint32_t func_info_rec_size;
	uint32_t func_info_cnt;
	const void *line_info;
	uint32_t line_info_rec_size;
	uint32_t line_info_cnt;
};
/** @brief fills @ext.  @return 0, -EBADF (not a program) */
BPFTIME_API int bpftime_prog_get_btf_ext(struct bpftime_shm *shm, int fd,
					 struct bpftime_prog_btf_ext *ext);
/** @brief records @target_fd in the program's attach list (bpftime's
 * attach_fds).  @return 0, -EBADF, -E2BIG (BPFTIME_PROG_MAX_ATTACH) */
BPFTIME_API int bpftime_prog_add_attach_fd(struct bpftime_shm *shm, int fd, int target_fd);
/**
 * @brief **bpftime_prog_bind_map()** makes the program hold a reference to
 * the map at @map_fd (BPF_PROG_BIND_MAP; the syscall server also binds the
 * maps a program's lddw instructions name at PROG_LOAD, as the kernel's
 * used_maps): the map lives as long as the program, whatever happens to its
 * fds.  Binding a map twice is a no-op.
 * @return 0, -EBADF (not a program / not a map), -E2BIG (BPFTIME_PROG_MAX_MAPS)
 */
BPFTIME_API int bpftime_prog_bind_map(struct bpftime_shm *shm, int prog_fd, int map_fd);
/** @brief the ids of the maps the program holds; returns how many (at most @max
 * are written), -EBADF */
BPFTIME_API int bpftime_prog_map_ids(struct bpftime_shm *shm, int prog_fd, uint32_t *ids, int max);
/** @brief counts @cnt runs of the program taking @ns in total (while
 * bpftime_shm__stats_enabled()).  @return 0, -EBADF */
BPFTIME_API int bpftime_prog_stats_add(struct bpftime_shm *shm, int fd, uint64_t cnt, uint64_t ns);
/** @brief the same for the program with object id @id, wherever it is held
 * (the program of a link an agent runs).  @return 0, -ENOENT */
BPFTIME_API int bpftime_prog_stats_add_by_id(struct bpftime_shm *shm, uint32_t id, uint64_t cnt,
					     uint64_t ns);
/** @brief the word bpftime_shm__stats_enabled() reads (non-zero: runs are
 * counted), for hot paths that test it inline with a relaxed atomic load
 * (__atomic_load_n); valid while the segment is open */
BPFTIME_API const uint32_t *bpftime_shm__stats_word(const struct bpftime_shm *shm);
/** @brief BPF_ENABLE_STATS(BPF_STATS_RUN_TIME) for every process of the
 * segment: @on true counts one more holder, false one less; runs are
 * counted while any holder is left */
BPFTIME_API void bpftime_shm__stats_enable(struct bpftime_shm *shm, bool on);
/** @brief whether program runs are counted now */
BPFTIME_API bool bpftime_shm__stats_enabled(const struct bpftime_shm *shm);
/** @brief stores a native AOT object for the program (copied; replaces any
 * previous one).  @return 0, -EBADF, -ENOMEM */
BPFTIME_API int bpftime_prog_set_aot(struct bpftime_shm *shm, int fd, const void *obj, size_t size);
/** @brief the AOT object (borrowed, in the segment) or NULL (errno ENOENT/EBADF) */
BPFTIME_API const void *bpftime_prog_aot(struct bpftime_shm *shm, int fd, size_t *size);

/* ---- perf events ------------------------------------------------------ */

/* perf event types as bpftime records them (JSON "type") */
#define BPFTIME_PERF_TYPE_SOFTWARE	  1
#define BPFTIME_PERF_TYPE_TRACEPOINT	  2
#define BPFTIME_PERF_TYPE_UPROBE	  6
#define BPFTIME_PERF_TYPE_URETPROBE	  7
#define BPFTIME_PERF_TYPE_UPROBE_OVERRIDE 1008

struct bpftime_perf_event_opts {
	size_t sz;	       /* sizeof(struct bpftime_perf_event_opts) */
	int32_t type;	       /* BPFTIME_PERF_TYPE_* */
	int32_t pid;	       /* -1: any */
	const char *module;    /* uprobe: binary path; copied */
	uint64_t offset;       /* uprobe: file offset */
	uint64_t ref_ctr_off;  /* uprobe: semaphore offset */
	int32_t tracepoint_id; /* tracepoint */
	int32_t cpu;	       /* software: cpu (-1 any) */
	uint64_t config;       /* software: PERF_COUNT_SW_* */
	uint64_t sample_type;
	uint64_t cookie; /* bpf_get_attach_cookie */
	/* software clocks (PERF_COUNT_SW_CPU_CLOCK, _TASK_CLOCK): the
	 * sampling period in ns, or with @freq set samples per second */
	uint64_t sample_period;
	bool freq;
	size_t : 0;
};

struct bpftime_perf_event_info {
	int32_t type;
	int32_t pid;
	const char *module; /* borrowed: in the segment ("" if none) */
	uint64_t offset;
	uint64_t ref_ctr_off;
	int32_t tracepoint_id;
	int32_t cpu;
	uint64_t config;
	uint64_t sample_type;
	uint64_t cookie;
	uint32_t id;
	bool enabled;
	uint64_t ring_off; /* perf ring: file offset in the segment (0 if none) */
	uint64_t ring_len;
	uint64_t sample_period; /* or frequency, with freq */
	bool freq;
};

/** @brief records a perf event.  @return the fd; -EINVAL, -ENOMEM, -EEXIST, -EMFILE */
BPFTIME_API int bpftime_perf_event_create(struct bpftime_shm *shm, int fd,
					  const struct bpftime_perf_event_opts *opts);
/** @brief @return 0, -EBADF */
BPFTIME_API int bpftime_perf_event_get_info(struct bpftime_shm *shm, int fd,
					    struct bpftime_perf_event_info *info);
/** @brief the same for the perf event with object id @id, wherever it is
 * held (a link of a loader that exited).  @return 0, -ENOENT */
BPFTIME_API int bpftime_perf_event_get_info_by_id(struct bpftime_shm *shm, uint32_t id,
						  struct bpftime_perf_event_info *info);
/** @brief PERF_EVENT_IOC_ENABLE/DISABLE.  @return 0, -EBADF */
BPFTIME_API int bpftime_perf_event_enable(struct bpftime_shm *shm, int fd, bool enable);
/** @brief sets the attach cookie.  @return 0, -EBADF */
BPFTIME_API int bpftime_perf_event_set_cookie(struct bpftime_shm *shm, int fd, uint64_t cookie);
/**
 * @brief **bpftime_perf_event_mmap_ring()** gives a software (BPF output)
 * perf event the ring a perf_buffer consumer mmaps: @len bytes = one
 * metadata page (struct perf_event_mmap_page) plus 2^n data pages.  The ring
 * lives at file offset *@off of bpftime_shm__fd(); mapping @len bytes there is
 * what the kernel's perf mmap gives.  Calling again with the same length
 * returns the same ring.
 * @return 0, -EBADF, -EINVAL (bad length, or a different length than before), -ENOMEM
 */
BPFTIME_API int bpftime_perf_event_mmap_ring(struct bpftime_shm *shm, int fd, size_t len,
					     uint64_t *off);

/* ---- links ------------------------------------------------------------ */

struct bpftime_link_opts {
	size_t sz; /* sizeof(struct bpftime_link_opts) */
	uint32_t attach_type;
	uint64_t cookie;
	size_t : 0;
};

struct bpftime_link_info {
	int32_t prog_fd;   /* the lowest slot naming the program now, -1: none */
	int32_t target_fd; /* the same for the target */
	uint32_t prog_id;  /* ids of the objects the link holds */
	uint32_t target_id;
	uint32_t attach_type;
	uint64_t cookie;
	uint32_t id;
};

/** @brief links program @prog_fd to @target_fd (a perf event, usually); the
 * link holds references to both.  @return the fd; -EBADF (not a program /
 * no such target), -ENOMEM, -EEXIST, -EMFILE */
BPFTIME_API int bpftime_link_create(struct bpftime_shm *shm, int fd, int prog_fd, int target_fd,
				    const struct bpftime_link_opts *opts);
/** @brief @return 0, -EBADF */
BPFTIME_API int bpftime_link_get_info(struct bpftime_shm *shm, int fd,
				      struct bpftime_link_info *info);
/** @brief the same for the link with object id @id, wherever it is held (a
 * pin whose loader closed the link's fd: no slot names it; iterate with
 * bpftime_handler_next_id(BPFTIME_HANDLER_LINK)).  @return 0, -ENOENT */
BPFTIME_API int bpftime_link_get_info_by_id(struct bpftime_shm *shm, uint32_t id,
					    struct bpftime_link_info *info);

/* ---- BTF blobs -------------------------------------------------------- */

/** @brief stores a BTF blob (copied).  @return the fd; -EINVAL, -ENOMEM, -EEXIST, -EMFILE */
BPFTIME_API int bpftime_btf_create(struct bpftime_shm *shm, int fd, const void *data, size_t size);
/** @brief the blob (borrowed, in the segment), or NULL with errno EBADF */
BPFTIME_API const void *bpftime_btf_data(struct bpftime_shm *shm, int fd, size_t *size);

/* ---- trace ring (bpf_printk output) ----------------------------------- */

/** @brief appends one message to the trace ring (truncated to 4 KiB); the
 * oldest messages are overwritten when it is full.  @return 0, -EINVAL */
BPFTIME_API int bpftime_trace__write(struct bpftime_shm *shm, const char *msg, size_t len);
/**
 * @brief **bpftime_trace__read()** copies the next message at or after
 * *@pos (0 at first) into @buf (NUL-terminated, truncated to @len - 1) and
 * advances *@pos.  If the writer lapped the reader (more than 256 KiB
 * behind), reading resumes at the start of the ring's current lap, so the
 * messages in between are skipped, never torn.
 * @return the message length, or -EAGAIN when there is nothing new
 */
BPFTIME_API int bpftime_trace__read(struct bpftime_shm *shm, uint64_t *pos, char *buf, size_t len);
/**
 * @brief **bpftime_trace__consume()** the kernel's trace_pipe: copies the
 * oldest message no reader has consumed yet (the segment keeps one
 * consumed position for every process) and consumes it, so each message
 * goes to one reader.  @return the message length, or -EAGAIN
 */
BPFTIME_API int bpftime_trace__consume(struct bpftime_shm *shm, char *buf, size_t len);
/**
 * @brief the kernel's trace file (not consuming): *@pos is where the
 * unconsumed messages start (read them on with bpftime_trace__read()),
 * *@written how many messages were ever written.  @return how many
 * unconsumed messages the ring holds
 */
BPFTIME_API int bpftime_trace__unconsumed(struct bpftime_shm *shm, uint64_t *pos,
					  uint64_t *written);

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_SHM_H */
