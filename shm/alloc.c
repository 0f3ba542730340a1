/* SPDX-License-Identifier: MIT */
/* shm/alloc.c: the arena allocator.  First fit over one doubly linked free
 * list, boundary tags (size in a header and a footer) so that a freed block
 * merges with free neighbours at once.  Offsets only: the arena is mapped at
 * a different address in each process.  One robust lock; maps preallocate
 * their elements, so this is not on any hot path.
 *
 * Block: [u64 size|used][u64 magic][payload ...][u64 size|used]
 *
 * The free list and the tags are read from the segment, which another
 * process may have garbled: every block offset is checked (block_ok: in
 * the arena, aligned, its size in range and matching its footer) before it
 * is used, the list walk is bounded, and a corrupt arena is reported once
 * and the allocation or free fails instead of writing anywhere.
 *
 * Crash consistency: a process killed (SIGKILL, at any instruction) inside
 * shm_alloc or shm_free must not leave a half-split block, a half-merged
 * one or a half-linked free list.  Every store of an operation goes through
 * jset(), which first appends the word's offset and old value to the undo
 * log in struct shm_alloc and then publishes the entry by incrementing
 * undo_n; only then is the word written.  The operation commits by setting
 * undo_n back to 0 just before the unlock.  A holder that dies leaves undo_n
 * set (the robust lock lets the next locker in); alloc_lock() sees it and
 * restores the logged words, last first, then clears undo_n: the arena is
 * exactly as before the dead operation.  That replay only writes old values,
 * so a locker killed during it leaves a log that the next one replays again
 * with the same result.  So an operation either happened (its caller got
 * the block, or the block was freed) or did not; the only loss is the block
 * of an allocation that completed but whose caller died before it could
 * record the offset (it stays allocated, leaked), unless it used
 * shm_alloc_rec(), which records it in the same logged step.  The log costs
 * three stores per store.  Tested by shm/alloc_crash_test.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define USED 1ULL

static inline struct shm_block *blk(struct bpftime_shm *shm, uint64_t off)
{
	return (struct shm_block *)(shm->base + off);
}

static inline uint64_t bsize(struct bpftime_shm *shm, uint64_t off)
{
	return blk(shm, off)->size & ~USED;
}

static inline uint64_t arena_end(struct bpftime_shm *shm)
{
	return shm->hdr->arena_off + (shm->hdr->arena_size & ~15ULL);
}

/* Is @off a block with consistent tags, inside the arena?  (@used: the
 * state it must be in; -1: either) */
static bool block_ok(struct bpftime_shm *shm, uint64_t off, int used)
{
	uint64_t start = shm->hdr->arena_off, end = arena_end(shm), size, tag;

	if (off < start || off >= end || (off - start) % 16 || end - off < SHM_BLOCK_MIN)
		return false;
	tag = blk(shm, off)->size;
	size = tag & ~USED;
	if (size < SHM_BLOCK_MIN || size % 16 || size > end - off)
		return false;
	if (used >= 0 && (int)(tag & USED) != used)
		return false;
	return *(uint64_t *)(shm->base + off + size - SHM_BLOCK_FTR) == tag;
}

/* reported once per process and segment view */
static void arena_corrupt(struct bpftime_shm *shm, const char *what, uint64_t off)
{
	static _Atomic bool told;

	if (!atomic_exchange(&told, true))
		pr_warn("shm '%s': the arena is corrupt (%s at offset %#llx): allocations fail\n",
			shm->name, what, (unsigned long long)off);
}

/* The logged store (see the header comment).  An operation makes at most
 * 23 of them (an allocation that splits off a leading gap and a tail). */
static inline void jset(struct bpftime_shm *shm, uint64_t *p, uint64_t v)
{
	struct shm_alloc *a = shm->alloc;
	uint64_t n = a->undo_n;

	if (NEVER(n >= SHM_UNDO_MAX)) {
		arena_corrupt(shm, "the undo log overflowing", n);
		*p = v;
		return;
	}
	a->undo[n].off = (uint64_t)((char *)p - (char *)shm->base);
	a->undo[n].old = *p;
	/* the entry before the count, the count before the store (the
	 * writer's own order is what a SIGKILL can cut; the next locker reads
	 * after the robust lock's hand-over) */
	atomic_signal_fence(memory_order_seq_cst);
	a->undo_n = n + 1;
	atomic_signal_fence(memory_order_seq_cst);
	*p = v;
}

/* Is @off a word the log may restore: in the arena, or one of the
 * allocator's counters? */
static bool undo_off_ok(struct bpftime_shm *shm, uint64_t off)
{
	uint64_t ao = shm->hdr->alloc_off;

	if (off % 8)
		return false;
	if (off >= shm->hdr->arena_off && off + 8 <= arena_end(shm))
		return true;
	return off == ao + offsetof(struct shm_alloc, free_head) ||
	       off == ao + offsetof(struct shm_alloc, used) ||
	       off == ao + offsetof(struct shm_alloc, free_blocks);
}

/* The holder before us died inside an operation: undo it. */
static void undo_replay(struct bpftime_shm *shm)
{
	struct shm_alloc *a = shm->alloc;
	uint64_t n = a->undo_n;

	if (n > SHM_UNDO_MAX) {
		arena_corrupt(shm, "the undo log count", n);
		n = 0;
	}
	for (uint64_t i = n; i-- > 0;) {
		uint64_t off = a->undo[i].off;

		if (!undo_off_ok(shm, off)) {
			arena_corrupt(shm, "an undo log entry", off);
			continue;
		}
		*(uint64_t *)(shm->base + off) = a->undo[i].old;
	}
	atomic_signal_fence(memory_order_seq_cst);
	a->undo_n = 0;
	pr_debug("shm '%s': undid an allocator operation (%llu stores) of a dead process\n",
		 shm->name, (unsigned long long)n);
}

static inline void alloc_lock(struct bpftime_shm *shm)
{
	shm_lock(&shm->alloc->lock);
	if (unlikely(shm->alloc->undo_n))
		undo_replay(shm);
}

/* commits the operation (if any) and unlocks */
static inline void alloc_unlock(struct bpftime_shm *shm)
{
	atomic_signal_fence(memory_order_seq_cst);
	shm->alloc->undo_n = 0;
	shm_unlock(&shm->alloc->lock);
}

static inline void set_tags(struct bpftime_shm *shm, uint64_t off, uint64_t size, bool used)
{
	uint64_t v = size | (used ? USED : 0);

	jset(shm, &blk(shm, off)->size, v);
	jset(shm, (uint64_t *)(shm->base + off + size - SHM_BLOCK_FTR), v);
}

static void list_add(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_alloc *a = shm->alloc;
	struct shm_block *b = blk(shm, off);

	jset(shm, &b->magic, 0);
	jset(shm, &b->prev_free, 0);
	if (a->free_head && block_ok(shm, a->free_head, 0)) {
		jset(shm, &b->next_free, a->free_head);
		jset(shm, &blk(shm, a->free_head)->prev_free, off);
	} else {
		jset(shm, &b->next_free, 0); /* a corrupt head: the rest of the list is lost */
	}
	jset(shm, &a->free_head, off);
	jset(shm, &a->free_blocks, a->free_blocks + 1);
}

/* false (nothing changed) if a neighbour on the list is not a free block */
static bool list_del(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_alloc *a = shm->alloc;
	struct shm_block *b = blk(shm, off);

	if ((b->prev_free && !block_ok(shm, b->prev_free, 0)) ||
	    (b->next_free && !block_ok(shm, b->next_free, 0)) ||
	    (!b->prev_free && a->free_head != off)) {
		arena_corrupt(shm, "a free list link", off);
		return false;
	}
	if (b->prev_free)
		jset(shm, &blk(shm, b->prev_free)->next_free, b->next_free);
	else
		jset(shm, &a->free_head, b->next_free);
	if (b->next_free)
		jset(shm, &blk(shm, b->next_free)->prev_free, b->prev_free);
	jset(shm, &a->free_blocks, a->free_blocks - 1);
	return true;
}

void shm_alloc_init(struct bpftime_shm *shm)
{
	struct shm_header *h = shm->hdr;
	uint64_t size = h->arena_size & ~15ULL;

	shm->alloc->free_head = 0;
	shm->alloc->used = 0;
	shm->alloc->free_blocks = 0;
	shm->alloc->undo_n = 0;
	set_tags(shm, h->arena_off, size, false);
	list_add(shm, h->arena_off);
	shm->alloc->undo_n = 0;
}

static uint64_t alloc_once(struct bpftime_shm *shm, size_t size, size_t align, uint64_t *rec,
			   uint64_t tag);

uint64_t shm_alloc(struct bpftime_shm *shm, size_t size, size_t align)
{
	return shm_alloc_rec(shm, size, align, NULL, 0);
}

uint64_t shm_alloc_rec(struct bpftime_shm *shm, size_t size, size_t align, uint64_t *rec,
		       uint64_t tag)
{
	uint64_t off;

	/* the tests' fault hook (common/alloc.h): as if the arena were full */
	if (unlikely(mem_fault_step()))
		return 0;
	off = alloc_once(shm, size, align, rec, tag);

	/* before saying ENOMEM, free the maps still in their grace period */
	if (!off && shm_reap(shm, true))
		off = alloc_once(shm, size, align, rec, tag);
	if (!off)
		pr_warn("shm '%s': out of memory allocating %zu bytes (segment is %zu MiB; raise "
			"BPFTIME_SHM_MEMORY_MB)\n",
			shm->name, size, shm->size >> 20);
	return off;
}

static uint64_t alloc_once(struct bpftime_shm *shm, size_t size, size_t align, uint64_t *rec,
			   uint64_t tag)
{
	struct shm_alloc *a = shm->alloc;
	uint64_t need, off, ret = 0, steps = 0;

	if (align < 16)
		align = 16;
	if (size > shm->hdr->arena_size)
		goto fail_nolock;
	need = (size + SHM_BLOCK_HDR + SHM_BLOCK_FTR + 15) & ~15ULL;
	if (need < SHM_BLOCK_MIN)
		need = SHM_BLOCK_MIN;

	alloc_lock(shm);
	for (off = a->free_head; off; off = blk(shm, off)->next_free) {
		uint64_t fsize, p = off + SHM_BLOCK_HDR;
		uint64_t ap = (p + align - 1) & ~(uint64_t)(align - 1), nb, tail;

		/* a free list longer than the arena has blocks: a cycle */
		if (!block_ok(shm, off, 0) || ++steps > shm->hdr->arena_size / SHM_BLOCK_MIN) {
			arena_corrupt(shm, "a free list entry", off);
			break;
		}
		fsize = bsize(shm, off);
		/* a leading gap must be able to stand alone as a free block */
		while (ap != p && ap - p < SHM_BLOCK_MIN)
			ap += align;
		nb = ap - SHM_BLOCK_HDR;
		if (nb + need > off + fsize)
			continue;
		if (!list_del(shm, off))
			break;
		if (nb != off) {
			set_tags(shm, off, nb - off, false);
			list_add(shm, off);
		}
		tail = off + fsize - (nb + need);
		if (tail >= SHM_BLOCK_MIN) {
			set_tags(shm, nb + need, tail, false);
			list_add(shm, nb + need);
		} else {
			need += tail;
		}
		set_tags(shm, nb, need, true);
		jset(shm, &blk(shm, nb)->magic, SHM_BLOCK_MAGIC);
		jset(shm, &a->used, a->used + need);
		ret = nb + SHM_BLOCK_HDR;
		if (rec)
			jset(shm, rec, ret | tag); /* with the allocation or not at all */
		break;
	}
	alloc_unlock(shm);
	if (ret && !rec)
		memset(shm->base + ret, 0, size); /* shm_alloc_rec's caller fills its block */
	return ret;
fail_nolock:
	return 0;
}

void shm_alloc_settle(struct bpftime_shm *shm)
{
	alloc_lock(shm); /* replays a dead holder's undo log */
	alloc_unlock(shm);
}

void shm_free(struct bpftime_shm *shm, uint64_t p)
{
	struct shm_alloc *a = shm->alloc;
	uint64_t off, size, start = shm->hdr->arena_off;
	uint64_t end = arena_end(shm);

	if (!p)
		return;
	off = p - SHM_BLOCK_HDR;
	alloc_lock(shm);
	if (NEVER(off < start || off >= end || !block_ok(shm, off, 1) ||
		  blk(shm, off)->magic != SHM_BLOCK_MAGIC)) {
		alloc_unlock(shm);
		pr_warn("shm '%s': bad free of offset %#llx\n", shm->name, (unsigned long long)p);
		return;
	}
	size = bsize(shm, off);
	jset(shm, &a->used, a->used - size);
	jset(shm, &blk(shm, off)->magic, 0);
	/* merge with the next block (a neighbour whose tags are garbled is
	 * not merged: the block is freed alone) */
	if (off + size < end && block_ok(shm, off + size, 0)) {
		uint64_t nsize = bsize(shm, off + size);

		if (list_del(shm, off + size))
			size += nsize;
	}
	/* and with the previous one */
	if (off > start) {
		uint64_t pt = *(uint64_t *)(shm->base + off - SHM_BLOCK_FTR);

		if (!(pt & USED) && pt <= off - start && block_ok(shm, off - pt, 0)) {
			uint64_t poff = off - pt;

			if (list_del(shm, poff)) {
				off = poff;
				size += pt;
			}
		}
	}
	set_tags(shm, off, size, false);
	list_add(shm, off);
	alloc_unlock(shm);
}

uint64_t shm_strdup(struct bpftime_shm *shm, const char *s)
{
	size_t n = strlen(s) + 1;
	uint64_t off = shm_alloc(shm, n, 16);

	if (off)
		memcpy(shm->base + off, s, n);
	return off;
}

int bpftime_shm__stats(struct bpftime_shm *shm, struct bpftime_shm_stats *st)
{
	struct bpftime_shm_stats out = { .sz = sizeof(out) };
	struct shm_alloc *a;
	uint64_t largest = 0;
	uint32_t n = 0;

	/* an out-struct: an older caller gets the fields it has, a newer one
	 * zeros past ours (the opts rule of common/opts.h, the other way) */
	if (!shm || !st || st->sz < sizeof(size_t))
		return shm_err(-EINVAL);
	a = shm->alloc;
	alloc_lock(shm);
	for (uint64_t off = a->free_head, steps = 0; off; off = blk(shm, off)->next_free) {
		if (!block_ok(shm, off, 0) || ++steps > shm->hdr->arena_size / SHM_BLOCK_MIN) {
			arena_corrupt(shm, "a free list entry", off);
			break;
		}
		if (bsize(shm, off) > largest)
			largest = bsize(shm, off);
	}
	out.arena_size = shm->hdr->arena_size;
	out.used = a->used;
	out.largest_free = largest;
	out.free_blocks = (uint32_t)a->free_blocks;
	alloc_unlock(shm);
	for (uint32_t i = 0; i < shm->max_fd; i++)
		if (atomic_load_explicit(&shm->slots[i].type, memory_order_relaxed))
			n++;
	out.handlers = n;
	if (st->sz > sizeof(out))
		memset((char *)st + sizeof(out), 0, st->sz - sizeof(out));
	out.sz = st->sz;
	memcpy(st, &out, st->sz < sizeof(out) ? st->sz : sizeof(out));
	return 0;
}
