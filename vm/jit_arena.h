/* SPDX-License-Identifier: MIT */
/* vm/jit_arena.h: the process-wide arena that holds JIT code (jit_arena.c).
 *
 * A piece is a page-aligned run of whole pages.  It is handed out RW (and
 * already populated, so writing it takes no page faults), sealed RX once
 * the code is in place, and on free made RW again and filled with INT3
 * before it can be handed out again.  No page is ever writable and
 * executable at the same time.  Every call is thread-safe.
 */
#ifndef BPFTIME_VM_JIT_ARENA_H
#define BPFTIME_VM_JIT_ARENA_H

#include <stddef.h>

#define JIT_PAGE 4096 /* x86-64 base pages are always 4 KiB */

/* size bytes (a multiple of JIT_PAGE) of RW memory, page-aligned; when
 * near is not NULL, preferably within rel32 reach of it (so that calls to
 * near can be direct).  Returns NULL with errno set (ENOMEM) on failure. */
void *jit_arena_alloc(size_t size, const void *near);

/* Gives the pages [keep, size) of the piece at base back to the arena and
 * makes [base, base + keep) read + execute.  On error (-errno) the whole
 * piece is still the caller's, RW: free it with jit_arena_free(). */
int jit_arena_seal(void *base, size_t size, size_t keep);

/* Returns the piece at base (RW or sealed) to the arena: it becomes RW,
 * INT3 throughout, and reusable.  NULL is ignored. */
void jit_arena_free(void *base, size_t size);

/* Unmaps the chunks that hold no piece (otherwise the arena keeps one
 * empty chunk, the last one emptied, for the next compile). */
void jit_arena_trim(void);

struct jit_arena_stats {
	size_t chunks; /* mappings held */
	size_t mapped; /* bytes mapped */
	size_t used;   /* bytes handed out and not freed */
	size_t pieces; /* pieces handed out and not freed */
};

void jit_arena_stats(struct jit_arena_stats *st);

#endif /* BPFTIME_VM_JIT_ARENA_H */
