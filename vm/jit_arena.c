/* SPDX-License-Identifier: MIT */
/* vm/jit_arena.c: the memory JIT code lives in (see jit_arena.h).
 *
 * Mapping fresh pages for every program made the kernel a third of the
 * compile time: mmap, a page fault per page, mprotect, and munmap on free.
 * Instead, code goes into chunks of JIT_CHUNK_PAGES pages mapped once with
 * MAP_POPULATE (no faults later) and carved into pieces of whole pages, one
 * bit per page in chunk->busy.  A compile then costs one mprotect (RX) and
 * a free one mprotect (back to RW) plus an INT3 fill.
 *
 * W^X holds page by page: a free or freshly handed out piece is RW, a
 * sealed one is RX, and the only transitions are RW -> RX (seal, after the
 * code is written) and RX -> RW (free, after which the program's code is
 * no longer run).  The chunks are private anonymous memory, so a fork()ed
 * child gets its own copy-on-write arena, as it did with one mapping per
 * program.  A dual mapping of a memfd (RW view + RX view) would save the
 * mprotect calls but is shared across fork(): a child compiling into its
 * copy of the arena would overwrite its parent's code.
 *
 * Freed memory is INT3 before its bit is cleared, so stale code is never
 * handed out again (nor run: it is not executable while free).  Pieces
 * larger than half a chunk get a mapping of their own ("solo" chunks),
 * unmapped on free.  The arena keeps at most one empty chunk around.
 *
 * Chunks are placed near the first helper a program calls when they can
 * be (512 MiB below it), so that helper calls are direct rel32 calls, as
 * in the kernel; a program is put into a chunk within reach of its helper
 * when one has room.  One mutex guards the chunk list; compiling is not a
 * hot path.  pthread_atfork() handlers take it around fork() so that a
 * child never inherits it locked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "jit_arena.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define JIT_CHUNK_PAGES 64 /* one uint64_t of busy bits */
#define JIT_CHUNK_SIZE	(JIT_CHUNK_PAGES * JIT_PAGE)
#define JIT_NEAR_BELOW	(UINT64_C(512) << 20) /* chunks this far below a helper */
#define JIT_NEAR_TRIES	16

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels take it as a hint */
#endif

struct jit_chunk {
	struct jit_chunk *next;
	uint8_t *base;
	size_t size;
	uint64_t busy; /* bit i: page i is handed out (not for solo chunks) */
	bool solo;     /* one piece, the whole mapping */
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static struct jit_chunk *chunks;
static size_t nr_pieces, used_bytes;

static void arena_lock_fn(void)
{
	pthread_mutex_lock(&arena_lock);
}

static void arena_unlock_fn(void)
{
	pthread_mutex_unlock(&arena_lock);
}

static void arena_init(void)
{
	pthread_atfork(arena_lock_fn, arena_unlock_fn, arena_unlock_fn);
}

static bool is_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* every byte of [base, base + size) can reach near with a rel32 */
static bool in_reach(const uint8_t *base, size_t size, const void *near)
{
	int64_t t = (int64_t)(uintptr_t)near, b = (int64_t)(uintptr_t)base;

	return !near || (is_s32(t - b) && is_s32(t - (b + (int64_t)size)));
}

static uint64_t run_mask(size_t pages, size_t first)
{
	return (pages >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << pages) - 1) << first;
}

/* A populated RW mapping of size bytes: within reach of near (NULL if no
 * address in reach is free), or with near NULL anywhere. */
static uint8_t *map_chunk(size_t size, const void *near)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE;
	uint64_t t = (uint64_t)(uintptr_t)near, h;
	void *p;

	if (!near) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (t < 2 * JIT_NEAR_BELOW)
		return NULL;
	h = (t - JIT_NEAR_BELOW) & ~(uint64_t)(JIT_CHUNK_SIZE - 1);
	for (int i = 0; i < JIT_NEAR_TRIES && h > size + JIT_CHUNK_SIZE;
	     i++, h -= size + JIT_CHUNK_SIZE) {
		p = mmap((void *)(uintptr_t)h, size, PROT_READ | PROT_WRITE,
			 flags | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED) {
			/* a kernel without MAP_FIXED_NOREPLACE takes it as a hint */
			if (in_reach(p, size, near))
				return p;
			munmap(p, size);
			return NULL;
		}
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

static struct jit_chunk *new_chunk(size_t size, const void *near, bool solo)
{
	struct jit_chunk *c = mem_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base = map_chunk(size, near);
	if (!c->base) {
		free(c);
		return NULL;
	}
	/* Every page its own VMA: every other page is marked NOHUGEPAGE (no
	 * effect on memory this small: a huge page needs 2 MiB), and VMAs
	 * whose flags differ never merge.  Then sealing or freeing a piece
	 * changes whole VMAs instead of splitting the chunk's VMA and merging
	 * it back, which makes each mprotect about a third cheaper.  Costs
	 * JIT_CHUNK_PAGES VMAs per chunk; without THP (EINVAL) it is only
	 * slower. */
	if (!solo)
		for (size_t i = 0; i < size / JIT_PAGE; i += 2)
			madvise(c->base + i * JIT_PAGE, JIT_PAGE, MADV_NOHUGEPAGE);
	c->size = size;
	c->solo = solo;
	c->next = chunks;
	chunks = c;
	return c;
}

/* The first run of pages free bits in c, or -1. */
static int find_run(const struct jit_chunk *c, size_t pages)
{
	for (size_t i = 0; i + pages <= JIT_CHUNK_PAGES; i++)
		if (!(c->busy & run_mask(pages, i)))
			return (int)i;
	return -1;
}

/* The first run of pages free pages in a shared chunk (in reach of near
 * when reach), at *first; NULL if none. */
static struct jit_chunk *first_fit(size_t pages, const void *near, bool reach, int *first)
{
	for (struct jit_chunk *c = chunks; c; c = c->next) {
		if (c->solo || (reach && !in_reach(c->base, c->size, near)))
			continue;
		*first = find_run(c, pages);
		if (*first >= 0)
			return c;
	}
	return NULL;
}

void *jit_arena_alloc(size_t size, const void *near)
{
	size_t pages = size / JIT_PAGE;
	struct jit_chunk *c;
	uint8_t *p = NULL;
	int i = -1;

	if (!size || size % JIT_PAGE) {
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&arena_once, arena_init);
	pthread_mutex_lock(&arena_lock);
	if (pages > JIT_CHUNK_PAGES / 2) {
		c = new_chunk(size, near, true);
		if (!c && near)
			c = new_chunk(size, NULL, true);
		if (c)
			p = c->base;
		goto out;
	}
	/* room in a chunk in reach of near, else a new chunk in reach; failing
	 * both, room anywhere (calls out of reach stay indirect), else a new
	 * chunk anywhere */
	c = first_fit(pages, near, true, &i);
	if (!c && near && (c = new_chunk(JIT_CHUNK_SIZE, near, false)))
		i = 0;
	if (!c && near)
		c = first_fit(pages, near, false, &i);
	if (!c && (c = new_chunk(JIT_CHUNK_SIZE, NULL, false)))
		i = 0;
	if (!c)
		goto out;
	c->busy |= run_mask(pages, (size_t)i);
	p = c->base + (size_t)i * JIT_PAGE;
out:
	if (p) {
		nr_pieces++;
		used_bytes += size;
	}
	pthread_mutex_unlock(&arena_lock);
	if (!p)
		errno = ENOMEM;
	return p;
}

static struct jit_chunk *chunk_of(const uint8_t *p, struct jit_chunk ***link)
{
	struct jit_chunk **l = &chunks;

	for (; *l; l = &(*l)->next) {
		if (p >= (*l)->base && p < (*l)->base + (*l)->size) {
			if (link)
				*link = l;
			return *l;
		}
	}
	return NULL;
}

int jit_arena_seal(void *base, size_t size, size_t keep)
{
	struct jit_chunk *c;
	uint8_t *p = base;

	if (!keep || keep > size || keep % JIT_PAGE)
		return -EINVAL;
	if (mprotect(base, keep, PROT_READ | PROT_EXEC))
		return -errno;
	if (keep == size)
		return 0;
	pthread_mutex_lock(&arena_lock);
	c = chunk_of(p, NULL);
	if (ALWAYS(c)) {
		if (c->solo) {
			munmap(p + keep, size - keep);
			c->size = keep;
		} else {
			c->busy &= ~run_mask((size - keep) / JIT_PAGE,
					     (size_t)(p + keep - c->base) / JIT_PAGE);
		}
		used_bytes -= size - keep;
	}
	pthread_mutex_unlock(&arena_lock);
	return 0;
}

static void unmap_chunk(struct jit_chunk **link)
{
	struct jit_chunk *c = *link;

	*link = c->next;
	munmap(c->base, c->size);
	free(c);
}

void jit_arena_free(void *base, size_t size)
{
	struct jit_chunk *c, **link;
	uint8_t *p = base;

	if (!base)
		return;
	pthread_mutex_lock(&arena_lock);
	c = chunk_of(p, &link);
	if (NEVER(!c))
		goto out;
	nr_pieces--;
	used_bytes -= size;
	if (c->solo) {
		unmap_chunk(link);
		goto out;
	}
	if (mprotect(p, size, PROT_READ | PROT_WRITE)) {
		/* the pages stay RX and busy: never handed out again */
		pr_warn("jit: cannot make freed code writable (%d): %zu bytes leaked\n", errno,
			size);
		goto out;
	}
	memset(p, 0xcc, size); /* int3 */
	c->busy &= ~run_mask(size / JIT_PAGE, (size_t)(p - c->base) / JIT_PAGE);
	if (c->busy)
		goto out;
	/* keep this chunk (the next compile is likely to want the same
	 * place) and unmap any other empty one */
	for (link = &chunks; *link; link = &(*link)->next) {
		if (*link != c && !(*link)->solo && !(*link)->busy) {
			unmap_chunk(link);
			break;
		}
	}
out:
	pthread_mutex_unlock(&arena_lock);
}

void jit_arena_trim(void)
{
	struct jit_chunk **l = &chunks;

	pthread_mutex_lock(&arena_lock);
	while (*l) {
		if (!(*l)->solo && !(*l)->busy)
			unmap_chunk(l);
		else
			l = &(*l)->next;
	}
	pthread_mutex_unlock(&arena_lock);
}

void jit_arena_stats(struct jit_arena_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&arena_lock);
	for (const struct jit_chunk *c = chunks; c; c = c->next) {
		st->chunks++;
		st->mapped += c->size;
	}
	st->used = used_bytes;
	st->pieces = nr_pieces;
	pthread_mutex_unlock(&arena_lock);
}
