/* SPDX-License-Identifier: MIT */
/* shm/internal.h: shm/'s own declarations beyond store.h (which the layers
 * above use).  Internal to shm/. */
#ifndef BPFTIME_SHM_INTERNAL_H
#define BPFTIME_SHM_INTERNAL_H

#include "store.h"

/* lock.c */
/* true when shm_lock/shm_unlock do the uncontended case themselves (the
 * probe in lock.c found glibc's robust list as expected); for tests */
bool shm_lock_fast_path(void);

/* alloc.c: sets up the allocator of a new segment */
void shm_alloc_init(struct bpftime_shm *shm);

/* check.c: reports a corrupt slot, once per slot and generation */
void shm_report_corrupt(struct bpftime_shm *shm, int fd, uint32_t gen, const char *why);

/* guard.c: drops the segment from the SIGBUS guard (before it is unmapped) */
void shm_unguard(struct bpftime_shm *shm);

/* objects.c: frees what a record of one of shm/'s own kinds (program, perf
 * event, link, BTF) owns and drops the references it holds; false for a
 * record of another kind */
bool shm_own_obj_release(struct bpftime_shm *shm, uint64_t obj_off);

#endif /* BPFTIME_SHM_INTERNAL_H */
