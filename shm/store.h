/* SPDX-License-Identifier: MIT */
/* shm/store.h: the segment as a typed object store, as the layers above
 * shm/ see it (maps/ keeps its records and storage in the same arena): the
 * process-local view of the segment, offsets, the robust locks, the arena
 * allocator, object records and slots, and the registration of kinds.
 * Internal to the tree; the public view is bpftime/shm.h. */
#ifndef BPFTIME_SHM_STORE_H
#define BPFTIME_SHM_STORE_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/shm.h>
#include "layout.h"

#define SHM_KINDS (BPFTIME_HANDLER_BTF + 1) /* indexed by enum bpftime_handler_type */

struct shm_kind_ops;

struct shm_kind {
	const struct shm_kind_ops *ops;
	void *state;
};

struct bpftime_shm {
	char name[NAME_MAX + 1];
	int fd;
	char *base;
	size_t size;
	struct shm_header *hdr;
	struct shm_alloc *alloc;
	struct shm_slot *slots;
	struct shm_pin *pins;
	struct shm_trace *trace;
	char *trace_buf;
	uint32_t max_fd;
	uint32_t ncpus;
	struct shm_cpu *cpus; /* per-CPU slot owners (cpu.c) */
	size_t page_size;

	/* guard.c: set when the segment was truncated or replaced under us
	 * (the mapping is then zero pages); our entry in the SIGBUS guard */
	_Atomic int gone;
	int guard;

	/* the kinds of objects registered in this process (shm_kind_register) */
	pthread_mutex_t kinds_lock;
	struct shm_kind kinds[SHM_KINDS];
};

/* The address of offset @off in this process (callers check off != 0 where
 * 0 means "none"). */
static inline void *shm_ptr(const struct bpftime_shm *shm, uint64_t off)
{
	return shm->base + off;
}

/* Is [@off, @off + @len) inside the segment, past its header?  Every
 * offset read from the segment is checked with this before use: the segment
 * is input that another process (or a bug, or a file system) may have
 * garbled, and a wild offset must not take the host process down. */
static inline bool shm_range_ok(const struct bpftime_shm *shm, uint64_t off, uint64_t len)
{
	return off >= sizeof(struct shm_header) && off <= shm->size && len <= shm->size - off;
}

static inline uint64_t shm_off(const struct bpftime_shm *shm, const void *p)
{
	return p ? (uint64_t)((const char *)p - shm->base) : 0;
}

/* lock.c: process-shared robust mutexes.  shm_lock() recovers a mutex whose
 * owner died (EOWNERDEAD -> pthread_mutex_consistent) and returns 0; the
 * data it protects is whatever the dead owner left (callers keep every
 * update publishable by a single store, so that is always a consistent
 * state).  shm_trylock() returns 0 or -EBUSY. */
int shm_mutex_init(struct shm_mutex *m);
void shm_lock(struct shm_mutex *m);
int shm_trylock(struct shm_mutex *m);
void shm_unlock(struct shm_mutex *m);

/* alloc.c: the arena allocator (first fit, boundary tags, coalescing).
 * shm_alloc() returns the offset of @size zeroed bytes aligned to @align (a
 * power of two, 16 at least), or 0 when the arena is full, in which case it
 * logs a message naming BPFTIME_SHM_MEMORY_MB. */
uint64_t shm_alloc(struct bpftime_shm *shm, size_t size, size_t align);
/* The same, but the block is not zeroed (the caller initialises what it
 * uses), and its offset | @tag is stored in *@rec (a word in the segment)
 * as part of the allocation: a caller killed after it leaves the block
 * recorded there, never leaked. */
uint64_t shm_alloc_rec(struct bpftime_shm *shm, size_t size, size_t align, uint64_t *rec,
		       uint64_t tag);
/* Undoes the allocator operation of a holder that died in it (as the next
 * allocation would): after it, a *@rec word of shm_alloc_rec is final. */
void shm_alloc_settle(struct bpftime_shm *shm);
void shm_free(struct bpftime_shm *shm, uint64_t off);
uint64_t shm_strdup(struct bpftime_shm *shm, const char *s);

/* table.c: objects and slots. */

/* Allocates an object record of @size bytes (zeroed) with type, a fresh id
 * and refcnt 1 (the caller's reference).  Returns the offset or 0. */
uint64_t shm_obj_new(struct bpftime_shm *shm, uint32_t type, size_t size, const char *name);
/* Installs object @obj_off at slot @fd (-1: first free), taking over the
 * caller's reference on success.  Returns the fd or -EEXIST/-EMFILE/-EBADF;
 * on error the caller still owns its reference. */
int shm_obj_install(struct bpftime_shm *shm, int fd, uint64_t obj_off);
/* The same, dropping the caller's reference on error (-errno, errno set). */
int shm_obj_install_or_put(struct bpftime_shm *shm, int fd, uint64_t obj_off);
/* Reference counting: get may be called with the table lock held or not;
 * put frees the object when the count drops to zero. */
void shm_obj_get(struct bpftime_shm *shm, uint64_t obj_off);
void shm_obj_put(struct bpftime_shm *shm, uint64_t obj_off);
/* The live object with @id (of @type; BPFTIME_HANDLER_NONE: any), wherever
 * it is held, with a reference taken for the caller; 0 if there is none. */
uint64_t shm_obj_find_id(struct bpftime_shm *shm, uint32_t id, uint32_t type);
/* The object at slot @fd if its type is @type (NONE: any), else NULL.  A
 * slot whose record fails shm_obj_check() is reported (once per slot
 * generation) and reads as empty (errno EBADMSG). */
void *shm_slot_obj(struct bpftime_shm *shm, int fd, uint32_t type);
/* Checks the record at @off as an object of @type: inside the segment,
 * aligned, of that type, and the offsets and counts it holds in range
 * (records of registered kinds: the head and the blocks they own; their
 * layer checks the rest).  Returns 0 or -EBADMSG with a description in @why. */
int shm_obj_check(const struct bpftime_shm *shm, uint32_t type, uint64_t off, const char **why);
/* Frees the records whose grace period is over (all of them if @all);
 * returns how many. */
int shm_reap(struct bpftime_shm *shm, bool all);
/* Bumps the epoch and wakes its waiters. */
void shm_epoch_bump(struct bpftime_shm *shm);
/* Bumps the data sequence and wakes waiters, if any. */
void shm_data_notify(struct bpftime_shm *shm);

/* ---- kinds: the typed part of the store ------------------------------
 *
 * Every object record starts with struct shm_obj; its type is a handler type.
 * shm/ knows the records of programs, perf events, links and BTF itself.
 * Other layers register their kinds in each process, on the segment they
 * use, before they create or use objects of it (maps/: on its first call
 * with that segment): the ops drop the references a record holds, and a
 * kind may keep process-local state (maps: the handle cache), freed at
 * bpftime_shm__close().
 *
 * Records of registered kinds start with struct shm_obj followed by struct
 * shm_owned (layout.h: the blocks they own) and are freed SHM_FREE_GRACE_NS
 * after their last reference goes: an agent may still run a program that
 * uses the object until it sees the epoch change.  A record whose kind this
 * process has not registered is parked unreleased, for a process that has
 * it to release (or for a full arena to take back).
 */
struct shm_kind_ops {
	/* drops the references the record holds (it has no more references
	 * itself); may be NULL */
	void (*release)(struct bpftime_shm *shm, uint64_t obj_off);
	/* frees the kind's process-local state at close; may be NULL */
	void (*close)(struct bpftime_shm *shm, void *state);
};

#define SHM_FREE_GRACE_NS 1000000000ULL

/* Registers @ops (static storage) and @state for objects of handler type
 * @type in this process's view of the segment.  Returns 0, -EEXIST (already
 * registered: the caller frees its @state and uses shm_kind_state()), -EINVAL. */
int shm_kind_register(struct bpftime_shm *shm, uint32_t type, const struct shm_kind_ops *ops,
		      void *state);

/* The state registered for @type, or NULL (lock-free: an acquire load). */
static inline void *shm_kind_state(struct bpftime_shm *shm, uint32_t type)
{
	return type < SHM_KINDS ? __atomic_load_n(&shm->kinds[type].state, __ATOMIC_ACQUIRE) : NULL;
}

/* cpu.c: per-CPU slots.  shm_cpu_slot is the slot the calling thread's
 * program run owns (bpftime_shm__cpu_get), -1 outside a run; shm_cur_cpu()
 * the CPU the thread runs on now (rseq, else sched_getcpu). */
extern __thread int32_t shm_cpu_slot __attribute__((tls_model("initial-exec")));
/* called once when the thread's outermost program run ends (before its CPU
 * slot is released), then cleared: kernel-shared maps write back the value
 * copies the run changed (maps/kernel.c) */
extern __thread void (*shm_run_end_hook)(void);
int shm_cur_cpu(void);

/* The per-CPU slot for an access from a program: the run's slot, or outside
 * a run (a test calling the maps directly) the current CPU. */
static inline uint32_t shm_this_cpu(const struct bpftime_shm *shm)
{
	int c = shm_cpu_slot;

	if (__builtin_expect(c >= 0, 1))
		return (uint32_t)c;
	c = shm_cur_cpu();
	return c < 0 ? 0 : (uint32_t)c % shm->ncpus;
}

/* segment.c: libbpf-style error return (sets errno, returns -err). */
static inline int shm_err(int err)
{
	if (err < 0)
		errno = -err;
	return err;
}

#endif /* BPFTIME_SHM_STORE_H */
