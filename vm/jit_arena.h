/* SPDX-License-Identifier: MIT */
/* vm/jit_arena.h: the process-wide arena that holds JIT code (jit_arena.c).
 *
 * Small pieces share pages: they are runs of JIT_UNIT-byte units in chunks
 * that are read + execute from creation to unmap and never writable.  The
 * code is written elsewhere (a buffer the arena hands out with the piece)
 * and copied into place through /proc/self/mem when it is sealed; on free
 * the piece becomes INT3 the same way.  Large pieces (and every piece when
 * /proc/self/mem cannot be written) are whole pages of their own, written
 * in place RW and then made RX.  No mapping is ever writable and
 * executable.  All of it lives in a few reservations of address space
 * (pools) that are never given back, each reported once to the code notify
 * callback (bpftime_vm_set_code_notify()).  Every call is thread-safe.
 */
#ifndef BPFTIME_VM_JIT_ARENA_H
#define BPFTIME_VM_JIT_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define JIT_PAGE 4096 /* x86-64 base pages are always 4 KiB */
#define JIT_UNIT 64   /* pieces in shared pages are runs of these */

struct jit_piece {
	uint8_t *code;	/* where the code runs (never writable when shared) */
	uint8_t *write; /* where to write it before jit_arena_seal(): RW, size bytes */
	size_t size;	/* bytes held at code */
};

/* Reserves at least size bytes for code: pc->code is where it will run
 * (JIT_UNIT-aligned; when near is not NULL, preferably within rel32 reach
 * of near, so that calls to near can be direct), pc->write where to write
 * it until it is sealed (pc->code itself for a piece of its own pages, a
 * buffer otherwise), pc->size the bytes held.  Returns 0, or -EINVAL (size
 * 0) or -ENOMEM with *pc zeroed. */
int jit_arena_alloc(struct jit_piece *pc, size_t size, const void *near);

/* Makes the first keep bytes written at pc->write the runnable code at
 * pc->code, INT3 after them up to the end of their last unit (or page),
 * and gives the rest of the piece back.  On success pc->write is NULL and
 * pc->size the bytes now held (free with jit_arena_free(pc->code,
 * pc->size)).  On error (-errno) the piece is still the caller's, unsealed:
 * give it back with jit_arena_drop(). */
int jit_arena_seal(struct jit_piece *pc, size_t keep);

/* Gives back a piece that was not sealed; zeroes *pc.  Ignores a zeroed
 * piece. */
void jit_arena_drop(struct jit_piece *pc);

/* Returns the sealed piece at code (size bytes, as jit_arena_seal() left
 * pc->size) to the arena, once its code can no longer run: its bytes
 * become INT3, then reusable.  NULL is ignored. */
void jit_arena_free(void *code, size_t size);

/* Unmaps the chunks that hold no piece (otherwise the arena keeps one
 * empty chunk, the last one emptied, for the next compile). */
void jit_arena_trim(void);

/* size bytes of RW pages in the arena's address space (see jit_arena.c:
 * reported to the code notify callback), for a loader that sets their
 * protections itself (AOT images); NULL on failure (errno not set). */
void *jit_arena_map(size_t size);

/* Gives back what jit_arena_map() returned (its addresses stay the arena's,
 * PROT_NONE).  NULL is ignored. */
void jit_arena_unmap(void *p, size_t size);

struct jit_arena_stats {
	size_t pools;	 /* address space reservations (never given back) */
	size_t reserved; /* bytes of them */
	size_t chunks;	 /* mappings held */
	size_t mapped;	 /* bytes mapped */
	size_t used;	 /* bytes handed out and not freed */
	size_t pieces;	 /* pieces handed out and not freed */
	int shared;	 /* 1: small pieces share pages; 0: every piece has pages of
			  its own (/proc/self/mem not writable); -1: not known yet */
};

void jit_arena_stats(struct jit_arena_stats *st);

#endif /* BPFTIME_VM_JIT_ARENA_H */
