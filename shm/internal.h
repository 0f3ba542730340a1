/* shm/internal.h: the process-local view of the segment and shm/'s internal
 * API (allocator, robust locks, object slots).  Used by shm/ and by maps/,
 * which stores its state in the same arena. */
#ifndef BPFTIME_SHM_INTERNAL_H
#define BPFTIME_SHM_INTERNAL_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/shm.h>
#include "layout.h"

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
	size_t page_size;

	/* Per-process map handles, managed by maps/ (see maps/internal.h). */
	pthread_mutex_t handles_lock;
	void *handles;
};

/* The address of offset @off in this process (callers check off != 0 where
 * 0 means "none"). */
static inline void *shm_ptr(const struct bpftime_shm *shm, uint64_t off)
{
	return shm->base + off;
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
/* true when shm_lock/shm_unlock do the uncontended case themselves (the
 * probe in lock.c found glibc's robust list as expected); for tests */
bool shm_lock_fast_path(void);

/* alloc.c: the arena allocator (first fit, boundary tags, coalescing).
 * shm_alloc() returns the offset of @size zeroed bytes aligned to @align (a
 * power of two, 16 at least), or 0 when the arena is full, in which case it
 * logs a message naming BPFTIME_SHM_MEMORY_MB. */
void shm_alloc_init(struct bpftime_shm *shm);
uint64_t shm_alloc(struct bpftime_shm *shm, size_t size, size_t align);
void shm_free(struct bpftime_shm *shm, uint64_t off);
uint64_t shm_strdup(struct bpftime_shm *shm, const char *s);

/* handlers.c: objects and slots. */

/* Allocates an object record of @size bytes (zeroed) with type, a fresh id
 * and refcnt 1 (the caller's reference).  Returns the offset or 0. */
uint64_t shm_obj_new(struct bpftime_shm *shm, uint32_t type, size_t size, const char *name);
/* Installs object @obj_off at slot @fd (-1: first free), taking over the
 * caller's reference on success.  Returns the fd or -EEXIST/-EMFILE/-EBADF;
 * on error the caller still owns its reference. */
int shm_obj_install(struct bpftime_shm *shm, int fd, uint64_t obj_off);
/* Reference counting: get may be called with the table lock held or not;
 * put frees the object when the count drops to zero. */
void shm_obj_get(struct bpftime_shm *shm, uint64_t obj_off);
void shm_obj_put(struct bpftime_shm *shm, uint64_t obj_off);
/* The object at slot @fd if its type is @type (NONE: any), else NULL. */
void *shm_slot_obj(struct bpftime_shm *shm, int fd, uint32_t type);
/* Frees the maps whose grace period is over (all of them if @all);
 * returns how many. */
int shm_reap(struct bpftime_shm *shm, bool all);
/* Bumps the epoch and wakes its waiters. */
void shm_epoch_bump(struct bpftime_shm *shm);
/* Bumps the data sequence and wakes waiters, if any. */
void shm_data_notify(struct bpftime_shm *shm);

/* Set by maps/: releases what a map holds (references in fd arrays) before
 * its arena blocks are freed.  NULL when maps/ is not linked in. */
extern void (*shm_map_release_hook)(struct bpftime_shm *shm, struct shm_map *map);
/* Set by maps/: frees the per-process handles on bpftime_shm__close(). */
extern void (*shm_handles_free_hook)(struct bpftime_shm *shm);

/* segment.c: libbpf-style error return (sets errno, returns -err). */
static inline int shm_err(int err)
{
	if (err < 0)
		errno = -err;
	return err;
}

#endif /* BPFTIME_SHM_INTERNAL_H */
