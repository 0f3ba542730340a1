/* SPDX-License-Identifier: MIT */
/* helpers/helpers.h: what the runtime layer needs of helpers/ beyond the
 * public bpftime/runtime.h. */
#ifndef BPFTIME_HELPERS_HELPERS_H
#define BPFTIME_HELPERS_HELPERS_H

struct bpftime_shm;

/* The segment printk output goes to (bpftime_helpers__set_shm), or NULL. */
struct bpftime_shm *helpers_shm(void);

#endif /* BPFTIME_HELPERS_HELPERS_H */
