/* SPDX-License-Identifier: MIT */
/* maps/hash.c: HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH, HASH_OF_MAPS.
 *
 * Layout (one struct htab in priv, all arrays in the arena):
 *   buckets[n_buckets]   u64 head of a singly linked chain, power-of-two count
 *   locks[n_locks]       robust mutexes, one per group of buckets (writers)
 *   chunks[n_chunks]     offsets of the element chunks: one chunk holding every
 *                        element when preallocated (the default), chunks of
 *                        256 allocated as the map fills with BPF_F_NO_PREALLOC
 *
 * Readers never lock.  Copying readers (the syscall-style lookups) never see
 * a torn value: each element has a sequence count, odd while a writer fills
 * it (a reused element a stale reader may still be reading) or changes it
 * in place (per-CPU updates); the reader copies, checks the count did not
 * move and retries otherwise (copy_stable).  Programs get a pointer and read
 * it as they like, as in the kernel.  Chains end in a "nulls" marker, (bucket << 1) | 1,
 * rather than 0 (the kernel's hlist_nulls): a reader that followed an element
 * which was deleted and reused in another bucket ends on the wrong marker and
 * restarts.  Writers hold the bucket's lock (the only lock an update, a
 * delete or an LRU eviction takes); an update of an existing key links a
 * fresh element in front and unlinks the old one, so readers see the old
 * value or the new one, never a mix (except per-CPU and BPF_F_LOCK updates,
 * which are in place, as in the kernel).
 *
 * Free elements sit on a lock-free LIFO stack (element index + a 32-bit ABA
 * tag in one 64-bit word), like the kernel's per-CPU free lists: a freed
 * element may be reused by the next update, so a pointer a program got from
 * lookup stays readable but may show another key's value once the element is
 * deleted (the kernel's semantics for preallocated maps).  Each lock group
 * also keeps one spare element under its lock: a replacing update takes it
 * and leaves the old element in its place, a delete parks its element there
 * and an insert takes it, so the common updates do one lock and no other
 * atomic operation on shared words but the element count (see
 * htab_update_common; the lock itself is shm/lock.c's).
 *
 * LRU maps approximate LRU with CLOCK (second chance), as the kernel
 * approximates it with per-CPU lists: lookups set the element's ref bit; an
 * update that finds no free element sweeps a shared clock hand over the
 * elements, clears the ref bits it passes and evicts the first unreferenced
 * in-use element whose bucket lock it gets with trylock (never blocking while
 * holding nothing but that), so there is no list and no LRU lock.
 *
 * Crash consistency.  Every chain change is a single store, so a process
 * killed inside a writer section leaves chains that readers can walk, but
 * it may leave a replaced key twice in its chain (the new element linked,
 * the old not yet unlinked) and the element count off by one.  Each lock
 * group has a busy word set for the whole section; the next locker that
 * finds it set (the holder died: the robust mutex gave it the lock) repairs
 * the map before its own operation (htab_repair): with every group lock
 * taken in order, it unlinks the older copy of a duplicated key (the newer
 * one, linked in front, wins, as the update would have), cuts any chain
 * that does not end within the number of elements, recounts, and builds the
 * free stack again from every element no chain, spare or parked slot holds.
 * That takes back the element a killed writer had in hand: an element is
 * taken off the free stack, evicted or unlinked only inside a section and
 * pushed back before the section ends, so outside the sections every
 * element is accounted for (htab_census checks it).
 *
 * Bounds.  Links, element indices and the free list are read from the
 * segment, which another process may have garbled: every element offset is
 * checked to lie in the segment before it is used (elem_ok), every walk is
 * bounded by the number of elements, and a corrupt structure is reported
 * once (map_corrupt) and fails the operation with -EBADMSG (in programs: a
 * lookup finds nothing).
 */
#include <errno.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"
#include <stdio.h>
#include <stdlib.h>

#define HTAB_FLAGS                                                                             \
	(BPFTIME_F_NO_PREALLOC | BPFTIME_F_NO_COMMON_LRU | BPFTIME_F_NUMA_NODE |               \
	 BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | BPFTIME_F_RDONLY_PROG | BPFTIME_F_WRONLY_PROG | \
	 BPFTIME_F_ZERO_SEED)
#define PCPU_MIN_UNIT_SIZE (32u << 10)
#define MAX_BPF_STACK	   512
#define HTAB_EXTRA	   64 /* spare elements for replacing updates */

/* chunks[c] while a grower sets the chunk up: allocated (recorded with the
 * allocation, so a grower killed there leaks nothing), its elements not
 * yet initialised; an odd offset, which elem_at() never resolves */
#define CHUNK_PENDING 1ULL

/* A bucket-group lock and, under it, one spare element: an update that
 * replaces a key takes the spare and leaves the old element as the new
 * spare, so it touches no shared free list (two atomic RMWs saved). */
struct htab_lock {
	struct shm_mutex m;
	uint32_t spare; /* index + 1; 0: none */
	/* LRU maps: an element a delete left (index + 1; 0: none).  Unlike
	 * the spare it counts against max_entries, so the group's next insert
	 * may take it; an insert elsewhere that finds no free element steals
	 * it (lru_steal) before it evicts.  Read unlocked only as a hint. */
	uint32_t parked;
	/* 1 from just after the lock is taken to just before it is released:
	 * a locker that finds it set took the lock from a writer that died in
	 * its section, and repairs the map before going on (htab_repair) */
	uint32_t busy;
} __attribute__((aligned(64)));

struct htab {
	uint32_t n_buckets;
	uint32_t n_locks;
	uint32_t n_elems;
	uint32_t elem_size;
	uint32_t seed;
	_Atomic int32_t count;
	uint64_t buckets_off;
	uint64_t locks_off;
	uint64_t chunks_off;
	uint32_t chunk_shift;
	uint32_t n_chunks;
	_Atomic uint32_t chunks_ready;
	_Atomic uint32_t parked_any; /* LRU: some group may hold a parked element */
	struct shm_mutex grow_lock;
	_Atomic uint64_t free_top; /* tag << 32 | (index + 1); 0 index: empty */
	_Atomic uint64_t clock_hand;
};

struct htab_elem {
	_Atomic uint64_t next;
	_Atomic uint32_t free_next; /* index + 1 of the next free element */
	uint32_t hash;
	_Atomic uint32_t ref;	/* LRU: used since the clock hand passed */
	_Atomic uint32_t inuse; /* linked in a bucket (changes under its lock) */
	uint32_t idx;
	/* odd while a writer (holding a bucket lock) fills the element or
	 * changes its value in place: a copying reader (copy_stable) retries */
	_Atomic uint32_t seq;
	char key[]; /* key (rounded up to 8), then the value area */
};

/* Writer side of the element's sequence count (a bucket lock held). */
static inline void seq_begin(struct htab_elem *e)
{
	atomic_store_explicit(&e->seq, atomic_load_explicit(&e->seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static inline void seq_end(struct htab_elem *e)
{
	atomic_store_explicit(&e->seq, atomic_load_explicit(&e->seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* A 64-bit multiply-rotate hash over 8-byte words with a final avalanche
 * (written here; same family as xxhash/murmur finalisers).  Always inlined
 * so that key_hash() gets a straight-line copy for 4- and 8-byte keys (the
 * same function, so the same buckets, as map_hash()). */
static __attribute__((always_inline)) inline uint32_t hash_bytes(const void *data, uint32_t len,
								 uint32_t seed)
{
	const unsigned char *p = data;
	uint64_t h = seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		h ^= rotl64(w * 0x87c37b91114253d5ULL, 31) * 0x4cf5ad432745937fULL;
		h = rotl64(h, 27) * 5 + 0x52dce729;
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;

		memcpy(&w, p, 4);
		h ^= (uint64_t)w * 0x87c37b91114253d5ULL;
		h = rotl64(h, 23) * 0x4cf5ad432745937fULL;
		p += 4;
		len -= 4;
	}
	while (len--) {
		h ^= (uint64_t)*p++ * 0x9e3779b97f4a7c15ULL;
		h = rotl64(h, 11) * 0x87c37b91114253d5ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

uint32_t map_hash(const void *data, uint32_t len, uint32_t seed)
{
	return hash_bytes(data, len, seed);
}

/* memcpy for keys and values: the sizes maps mostly have are copied inline
 * instead of through a call into libc (a third of a small update's copies) */
static __attribute__((always_inline)) inline void copy_bytes(void *dst, const void *src, size_t n)
{
	switch (n) {
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, n);
		break;
	}
}

static inline struct htab *htab_of(struct bpftime_map *h)
{
	return (struct htab *)h->priv;
}

static inline struct htab_elem *E(struct bpftime_map *h, uint64_t off)
{
	return (struct htab_elem *)(h->base + off);
}

static inline uint64_t OFF(struct bpftime_map *h, struct htab_elem *e)
{
	return (uint64_t)((char *)e - h->base);
}

static inline void *elem_value(struct bpftime_map *h, struct htab_elem *e)
{
	return e->key + h->key8;
}

static inline bool is_nulls(uint64_t n)
{
	return n & 1;
}

/* Is @n (a link read from the segment) an element's offset as far as
 * memory safety goes: aligned, and the whole element inside the segment?
 * Checked on every hop of every walk: a wild link (another process's bug,
 * a garbled segment) must fail the operation, not fault the host. */
static inline bool elem_ok(const struct bpftime_map *h, uint64_t n)
{
	/* one compare: rotated right by 3, an offset with any of its low 3
	 * bits set is beyond every span (elem_lo is a multiple of 8) */
	uint64_t d = n - h->elem_lo;

	return likely(((d >> 3) | (d << 61)) <= h->elem_span8);
}

/* the slow side of a failed check: reported once (map_corrupt) */
static __attribute__((noinline, cold)) int chain_bad(struct bpftime_map *h, uint32_t b,
						     const char *why)
{
	char what[96];

	snprintf(what, sizeof(what), "bucket %u: %s", b, why);
	return map_corrupt(h, what);
}

static inline bool key_eq(struct bpftime_map *h, const struct htab_elem *e, const void *key)
{
	switch (h->key_size) {
	case 4:
		return *(const uint32_t *)e->key == *(const uint32_t *)key;
	case 8:
		return *(const uint64_t *)(const void *)e->key == *(const uint64_t *)key;
	default:
		return !memcmp(e->key, key, h->key_size);
	}
}

static inline uint32_t key_hash(struct bpftime_map *h, const void *key)
{
	switch (h->key_size) {
	case 4:
		return hash_bytes(key, 4, h->seed);
	case 8:
		return hash_bytes(key, 8, h->seed);
	default:
		return map_hash(key, h->key_size, h->seed);
	}
}

static inline struct htab_lock *lock_group(struct bpftime_map *h, uint32_t b)
{
	return &((struct htab_lock *)h->locks)[b & h->lock_mask];
}

static void htab_repair(struct bpftime_map *h);
static bool htab_dead_writer(struct bpftime_map *h);

/* A writer's section on a lock group (see "Crash consistency" above). */
static inline void glock(struct bpftime_map *h, struct htab_lock *l)
{
	for (;;) {
		shm_lock(&l->m);
		if (likely(!__atomic_load_n(&l->busy, __ATOMIC_RELAXED)))
			break;
		shm_unlock(&l->m);
		htab_repair(h);
	}
	__atomic_store_n(&l->busy, 1, __ATOMIC_RELAXED);
	/* no store of the section may become visible before busy */
	atomic_signal_fence(memory_order_seq_cst);
}

/* 0 with the section entered, or -EBUSY.  Called holding another group's
 * lock (LRU eviction), so a group whose writer died is left for its next
 * locker to repair (htab_repair takes every lock) and counts as busy. */
static inline int gtrylock(struct htab_lock *l)
{
	if (shm_trylock(&l->m))
		return -EBUSY;
	if (unlikely(__atomic_load_n(&l->busy, __ATOMIC_RELAXED))) {
		shm_unlock(&l->m);
		return -EBUSY;
	}
	__atomic_store_n(&l->busy, 1, __ATOMIC_RELAXED);
	atomic_signal_fence(memory_order_seq_cst);
	return 0;
}

static inline void gunlock(struct htab_lock *l)
{
	atomic_signal_fence(memory_order_seq_cst);
	__atomic_store_n(&l->busy, 0, __ATOMIC_RELAXED);
	shm_unlock(&l->m);
}

/* Lock-free search (readers). */
#ifdef MAP_TEST_HOOKS
/* test builds only (maps/hash_race_test.c): runs between a reader's key
 * compare and its load of the element's next pointer, to replay races */
void (*map_test_find_hook)(struct bpftime_map *h, void *elem_value);
#define FIND_HOOK(h, e)                                          \
	do {                                                     \
		if (map_test_find_hook)                          \
			map_test_find_hook(h, elem_value(h, e)); \
	} while (0)
#else
#define FIND_HOOK(h, e) ((void)0)
#endif

/* Restarts of a search that ended on another bucket's marker (its element
 * moved under it) before the chain is taken for corrupt: a real restart
 * needs a concurrent delete and reinsert per pass. */
#define FIND_RESTARTS 1024

/* The element holding @key in bucket @b, or NULL; *@bad set (and the map
 * reported) when the chain is corrupt: a link out of the segment, longer
 * than the map has elements (a cycle), or a marker that keeps sending the
 * search back. */
static __attribute__((always_inline)) inline struct htab_elem *
find(struct bpftime_map *h, uint32_t b, uint32_t hash, const void *key, bool *bad)
{
	uint32_t steps, restarts = 0;
	uint64_t n;

again:
	steps = h->n_elems + 1; /* counted down: a chain ends within n_elems */
	n = atomic_load_explicit(&h->buckets[b], memory_order_acquire);
	while (!is_nulls(n)) {
		struct htab_elem *e;

		if (unlikely(!elem_ok(h, n) || !--steps)) {
			/* a pass longer than the elements may be a reader
			 * carried along by moving elements: retried a little */
			if (elem_ok(h, n) && ++restarts < 4)
				goto again;
			*bad = true;
			chain_bad(h, b,
				  elem_ok(h, n) ? "a chain longer than the map (a cycle)"
						: "a link outside the segment");
			return NULL;
		}
		e = E(h, n);
		if (e->hash == hash && key_eq(h, e, key))
			return e;
		FIND_HOOK(h, e);
		n = atomic_load_explicit(&e->next, memory_order_acquire);
	}
	if (unlikely((n >> 1) != b)) {
		if (likely(++restarts < FIND_RESTARTS))
			goto again;
		*bad = true;
		chain_bad(h, b, "a chain ending on a wrong marker");
	}
	return NULL;
}

/* Bucket lock held: unlinks e from bucket b; false (reported) if the chain
 * is corrupt or e is not in it. */
static bool unlink_elem(struct bpftime_map *h, uint32_t b, struct htab_elem *e)
{
	_Atomic uint64_t *pp = &h->buckets[b];
	uint64_t target = OFF(h, e), n;
	uint32_t steps = 0;

	while (!is_nulls(n = atomic_load_explicit(pp, memory_order_relaxed))) {
		if (unlikely(!elem_ok(h, n) || ++steps > h->n_elems)) {
			chain_bad(h, b, "a bad link met while unlinking");
			return false;
		}
		if (n == target) {
			atomic_store_explicit(pp, atomic_load(&e->next), memory_order_release);
			return true;
		}
		pp = &E(h, n)->next;
	}
	chain_bad(h, b, "an element missing from its chain");
	return false;
}

/* Element @idx (an index read from the segment: free stack, spare,
 * parked), or NULL if the index or its chunk is out of range. */
static inline struct htab_elem *elem_at(struct bpftime_map *h, uint32_t idx)
{
	uint64_t off;

	uint64_t chunk;

	if (unlikely(idx >= h->n_elems))
		return NULL;
	chunk = h->chunks[idx >> h->chunk_shift];
	if (unlikely(!chunk))
		return NULL; /* a chunk not allocated (yet): no element there */
	off = chunk + (uint64_t)(idx & ((1u << h->chunk_shift) - 1)) * h->elem_size;
	return likely(elem_ok(h, off)) ? E(h, off) : NULL;
}

/* e's index, checked to name e (UINT32_MAX, reported, if not: an element
 * whose index is garbled is never freed nor reused) */
static inline uint32_t elem_idx(struct bpftime_map *h, struct htab_elem *e)
{
	uint32_t idx = e->idx;

	if (unlikely(elem_at(h, idx) != e)) {
		map_corrupt(h, "an element's index does not name it");
		return UINT32_MAX;
	}
	return idx;
}

static void free_push(struct bpftime_map *h, struct htab_elem *e)
{
	_Atomic uint64_t *top = &htab_of(h)->free_top;
	uint64_t old = atomic_load_explicit(top, memory_order_relaxed), new;
	uint32_t me = elem_idx(h, e) + 1;

	if (unlikely(!me))
		return; /* garbled: leaked rather than handed out twice */
	do {
		atomic_store_explicit(&e->free_next, (uint32_t)old, memory_order_relaxed);
		new = ((old >> 32) + 1) << 32 | me;
	} while (!atomic_compare_exchange_weak_explicit(top, &old, new, memory_order_release,
							memory_order_relaxed));
}

static struct htab_elem *free_pop(struct bpftime_map *h)
{
	_Atomic uint64_t *top = &htab_of(h)->free_top;
	uint64_t old = atomic_load_explicit(top, memory_order_acquire), new;
	struct htab_elem *e;

	do {
		if (!(uint32_t)old)
			return NULL;
		e = elem_at(h, (uint32_t)old - 1);
		if (unlikely(!e)) {
			map_corrupt(h, "the free list names no element");
			return NULL;
		}
		/* e may be popped and reused under us: then the tag moved on
		 * and the CAS fails, whatever free_next we read */
		new = ((old >> 32) + 1) << 32 |
		      atomic_load_explicit(&e->free_next, memory_order_relaxed);
	} while (!atomic_compare_exchange_weak_explicit(top, &old, new, memory_order_acquire,
							memory_order_acquire));
	return e;
}

/* ---- repair -------------------------------------------------------------- */

struct census {
	uint64_t *bits; /* elements accounted for (linked, spare, parked, free) */
	uint32_t total; /* elements that exist (chunks allocated so far) */
	uint32_t marked;
	uint32_t dups, cuts, dropped;
	int32_t count; /* linked */
	bool bad;      /* something to fix found (census: a corrupt structure) */
};

/* marks element e as accounted for; false if it is not a valid element or
 * was marked already (linked twice, a spare that is also linked, ...) */
static bool mark(struct bpftime_map *h, struct census *c, struct htab_elem *e)
{
	uint32_t idx = e->idx;

	if (idx >= c->total || elem_at(h, idx) != e)
		return false;
	if (!c->bits) /* no memory for the bitmap: checks validity only */
		return true;
	if (c->bits[idx / 64] >> (idx % 64) & 1)
		return false;
	c->bits[idx / 64] |= 1ULL << (idx % 64);
	c->marked++;
	return true;
}

/* Every group lock held.  Walks every chain, marking its elements; with
 * @fix it unlinks the older copy of a duplicated key (found behind the
 * newer in the same chain) and cuts a chain at a link outside the segment,
 * an element met twice (a cycle or chains sharing a tail) or a marker of
 * another bucket; without, it only notes them (c->bad).  Then marks the
 * spare and parked elements (a bad one is dropped with @fix). */
static void census_chains(struct bpftime_map *h, struct census *c, bool fix)
{
	struct htab_lock *locks = (struct htab_lock *)h->locks;

	for (uint32_t b = 0; b <= h->bucket_mask; b++) {
		_Atomic uint64_t *pp = &h->buckets[b];
		uint64_t n;
		uint32_t steps = 0;

		while (!is_nulls(n = atomic_load_explicit(pp, memory_order_relaxed))) {
			struct htab_elem *e = elem_ok(h, n) ? E(h, n) : NULL;
			bool dup = false;

			if (++steps > c->total)
				e = NULL; /* a cycle (when there is no bitmap to see it) */
			if (e) {
				/* the prefix before e is checked and marked */
				for (uint64_t m = atomic_load(&h->buckets[b]); m != n;
				     m = atomic_load(&E(h, m)->next)) {
					if (E(h, m)->hash == e->hash &&
					    key_eq(h, E(h, m), e->key)) {
						dup = true;
						break;
					}
				}
			}
			if (dup) {
				c->bad = true;
				if (!fix)
					return;
				/* unmarked: the free list is rebuilt from it */
				atomic_store_explicit(pp, atomic_load(&e->next),
						      memory_order_release);
				atomic_store_explicit(&e->inuse, 0, memory_order_relaxed);
				c->dups++;
				continue;
			}
			if (!e || !mark(h, c, e))
				goto cut;
			atomic_store_explicit(&e->inuse, 1, memory_order_relaxed);
			c->count++;
			pp = &e->next;
		}
		if ((n >> 1) == b)
			continue;
	cut:
		c->bad = true;
		if (!fix)
			return;
		atomic_store_explicit(pp, (uint64_t)b << 1 | 1, memory_order_release);
		c->cuts++;
	}
	for (uint32_t i = 0; i <= h->lock_mask; i++) {
		uint32_t *w[2] = { &locks[i].spare, &locks[i].parked };

		for (int k = 0; k < 2; k++) {
			struct htab_elem *e;

			if (!*w[k])
				continue;
			e = elem_at(h, *w[k] - 1);
			if (e && mark(h, c, e))
				continue;
			c->bad = true;
			if (fix) {
				__atomic_store_n(w[k], 0, __ATOMIC_RELAXED);
				c->dropped++;
			}
		}
	}
}

/* Every group lock held, so no writer is in a section and the free stack
 * (pushed and popped only in sections) is still: builds it again from
 * every element nothing else accounts for.  That takes back an element a
 * writer killed in its section held (popped, or unlinked and not yet
 * freed) and repairs a garbled free list.  LRU maps first give a spare to
 * each group that lost its own, so they still hold max_entries keys at
 * most.  Returns how many elements went on the stack. */
static uint32_t rebuild_free(struct bpftime_map *h, struct census *c)
{
	struct htab *t = htab_of(h);
	struct htab_lock *locks = (struct htab_lock *)h->locks;
	uint64_t top = atomic_load(&t->free_top);
	uint32_t head = 0, n = 0, g = 0;

	for (uint32_t idx = c->total; idx-- > 0;) {
		struct htab_elem *e;

		if (c->bits[idx / 64] >> (idx % 64) & 1)
			continue;
		e = elem_at(h, idx);
		if (!e)
			continue;
		atomic_store_explicit(&e->inuse, 0, memory_order_relaxed);
		while (h->lru && g <= h->lock_mask && locks[g].spare)
			g++;
		if (h->lru && g <= h->lock_mask) {
			locks[g].spare = idx + 1;
			continue;
		}
		atomic_store_explicit(&e->free_next, head, memory_order_relaxed);
		head = idx + 1;
		n++;
	}
	atomic_store(&t->free_top, (((top >> 32) + 1) << 32) | head);
	return n;
}

/* the elements on the free stack as it is (bounded walk); all locks held */
static uint32_t free_len(struct bpftime_map *h, struct census *c, bool mark_them)
{
	uint32_t n = 0, i = (uint32_t)atomic_load(&htab_of(h)->free_top);

	while (i && n <= c->total) {
		struct htab_elem *e = elem_at(h, i - 1);

		if (!e || (mark_them && !mark(h, c, e))) {
			c->bad = true;
			break;
		}
		n++;
		i = atomic_load_explicit(&e->free_next, memory_order_relaxed);
	}
	return n;
}

static uint32_t elems_existing(struct bpftime_map *h)
{
	struct htab *t = htab_of(h);
	uint64_t n = (uint64_t)atomic_load(&t->chunks_ready) << h->chunk_shift;

	return n < h->n_elems ? (uint32_t)n : h->n_elems;
}

/* A grower that died with chunk c allocated (chunks[c] set, chunks_ready
 * still c; see htab_grow).  Still pending (its elements not initialised,
 * none reachable): the block is freed.  Whole: the chunk is counted, so the
 * census takes its elements in (those already linked, popped by others
 * once the chunk was pushed, stay; the rest go on the rebuilt free stack).
 * Every group lock held: growth happens only in a section, so no grower is
 * alive.  True if there was one. */
static bool finish_dead_grow(struct bpftime_map *h)
{
	struct htab *t = htab_of(h);
	uint32_t per = 1u << h->chunk_shift;
	uint32_t n_chunks = (uint32_t)(((uint64_t)h->n_elems + per - 1) >> h->chunk_shift);
	uint32_t c = atomic_load(&t->chunks_ready), first, cnt;
	uint64_t off;

	if (c >= n_chunks)
		return false;
	/* a grower killed inside the allocation: its record of the chunk is
	 * undone with it (the allocator's undo log) before it is read */
	if (h->chunks[c])
		shm_alloc_settle(h->shm);
	if (!h->chunks[c])
		return false;
	off = h->chunks[c];
	first = c * per;
	cnt = h->n_elems - first < per ? h->n_elems - first : per;
	if (off & CHUNK_PENDING) {
		shm_free(h->shm, off & ~CHUNK_PENDING);
		h->chunks[c] = 0;
		return true;
	}
	if (!shm_range_ok(h->shm, off, (uint64_t)cnt * h->elem_size) || off % 8) {
		map_corrupt(h, "a chunk offset outside the segment");
		h->chunks[c] = 0;
		return true;
	}
	atomic_store(&t->chunks_ready, c + 1);
	return true;
}

/* A writer died in its section (some group's busy word is set): with every
 * group lock taken in order (writers hold one lock and only trylock others,
 * so this cannot deadlock), drop the older copy of each duplicated key, cut
 * chains that are corrupt or end on another bucket's marker, recount, and
 * build the free stack again (which takes back the element the dead writer
 * held).  A no-op when another locker repaired it first. */
static void htab_repair(struct bpftime_map *h)
{
	struct htab *t = htab_of(h);
	struct htab_lock *locks = (struct htab_lock *)h->locks;
	struct census c = { .total = 0 };
	uint32_t was_free = 0, now_free = 0;
	bool any = false;

	for (uint32_t i = 0; i <= h->lock_mask; i++)
		shm_lock(&locks[i].m);
	for (uint32_t i = 0; i <= h->lock_mask; i++)
		any |= __atomic_load_n(&locks[i].busy, __ATOMIC_RELAXED) != 0;
	any |= finish_dead_grow(h);
	c.total = elems_existing(h);
	if (any) {
		/* without memory for the bitmap, chains are still repaired and
		 * counted, but nothing is taken back */
		c.bits = mem_calloc(((size_t)c.total + 63) / 64, 8);
		census_chains(h, &c, true);
		if (c.bits) {
			was_free = free_len(h, &c, false);
			now_free = rebuild_free(h, &c);
		}
		atomic_store(&t->count, c.count);
		free(c.bits);
		pr_warn("map '%s': repaired after a writer died in an update (%u duplicate keys "
			"dropped, %u chains cut, %d elements, %d taken back)\n",
			h->m->obj.name, c.dups, c.cuts, c.count, (int)now_free - (int)was_free);
	}
	for (uint32_t i = h->lock_mask + 1; i-- > 0;) {
		__atomic_store_n(&locks[i].busy, 0, __ATOMIC_RELAXED);
		shm_unlock(&locks[i].m);
	}
}

int htab_census(struct bpftime_map *h, uint32_t *accounted, uint32_t *total)
{
	struct htab_lock *locks = (struct htab_lock *)h->locks;
	struct census c = { .total = elems_existing(h) };

	if (!h->locks)
		return -EINVAL; /* not a hash map */
	if (htab_dead_writer(h))
		htab_repair(h);
	c.bits = mem_calloc(((size_t)c.total + 63) / 64, 8);
	if (!c.bits)
		return -ENOMEM;
	for (uint32_t i = 0; i <= h->lock_mask; i++)
		shm_lock(&locks[i].m);
	census_chains(h, &c, false);
	if (!c.bad)
		free_len(h, &c, true);
	for (uint32_t i = h->lock_mask + 1; i-- > 0;)
		shm_unlock(&locks[i].m);
	free(c.bits);
	*accounted = c.marked;
	*total = c.total;
	return c.bad ? -EBADMSG : 0;
}

/* Did a writer die in its section (a group busy with its lock free)?  For
 * the paths that must not wait for that group's next writer: counting,
 * refusing a full map, starting an iteration. */
static bool htab_dead_writer(struct bpftime_map *h)
{
	struct htab_lock *locks = (struct htab_lock *)h->locks;

	for (uint32_t i = 0; i <= h->lock_mask; i++) {
		struct htab_lock *l = &locks[i];
		bool dead;

		if (!__atomic_load_n(&l->busy, __ATOMIC_RELAXED) || shm_trylock(&l->m))
			continue;
		dead = __atomic_load_n(&l->busy, __ATOMIC_RELAXED) != 0;
		shm_unlock(&l->m);
		if (dead)
			return true;
	}
	return false;
}

/* Sets up chunk c of the map (arena block at off): its elements, then
 * chunks[c] = off (the chunk is whole: htab_repair keeps it), then pushes
 * its elements on the free stack in one CAS. */
static void chunk_init(struct bpftime_shm *shm, struct htab *t, uint32_t c, uint64_t off)
{
	uint32_t per = 1u << t->chunk_shift, first = c * per;
	uint32_t cnt = t->n_elems - first < per ? t->n_elems - first : per;
	char *base = shm_ptr(shm, off);
	struct htab_elem *last = (struct htab_elem *)(base + (size_t)(cnt - 1) * t->elem_size);
	uint64_t old, new;

	/* a grown chunk is not zeroed (shm_alloc_rec): the element heads are
	 * written whole here, keys and values by the update that takes one */
	for (uint32_t i = 0; i < cnt; i++) {
		struct htab_elem *e = (struct htab_elem *)(base + (size_t)i * t->elem_size);

		memset(e, 0, sizeof(*e));
		e->idx = first + i;
		atomic_store_explicit(&e->free_next, first + i + 2, memory_order_relaxed);
	}
	atomic_store_explicit((_Atomic uint64_t *)shm_ptr(shm, t->chunks_off) + c, off,
			      memory_order_release);
	old = atomic_load(&t->free_top);
	do {
		atomic_store_explicit(&last->free_next, (uint32_t)old, memory_order_relaxed);
		new = ((old >> 32) + 1) << 32 | (first + 1);
	} while (!atomic_compare_exchange_weak(&t->free_top, &old, new));
}

/* Adds a chunk of elements (BPF_F_NO_PREALLOC, and preallocated maps too
 * big for the free space at creation, which grow the same way).  In a
 * writer's section (a group lock held), under grow_lock.  0: grown, or
 * grown by someone else meanwhile; -ENOSPC: every chunk is there; -ENOMEM:
 * the arena is full; -EAGAIN: a grower died after publishing its chunk's
 * offset and before counting it (chunks[chunks_ready] set): the caller
 * leaves its section and repairs (htab_repair finishes that chunk), since
 * whether its elements reached the free stack cannot be told here. */
static int htab_grow(struct bpftime_map *h)
{
	struct htab *t = htab_of(h);
	/* the chunk count as this handle checked it (handle_init), not as
	 * the segment says now: chunks[] is indexed with it */
	uint32_t n_chunks =
		(uint32_t)(((uint64_t)h->n_elems + (1u << h->chunk_shift) - 1) >> h->chunk_shift);
	uint32_t c;
	uint64_t off;
	int err = 0;

	shm_lock(&t->grow_lock);
	c = atomic_load(&t->chunks_ready);
	if (atomic_load(&t->free_top) & 0xffffffffu) {
		/* someone else grew it meanwhile */
	} else if (c >= n_chunks) {
		err = -ENOSPC;
	} else if (h->chunks[c]) {
		err = -EAGAIN;
	} else {
		off = shm_alloc_rec(h->shm, (size_t)t->elem_size << t->chunk_shift, 64,
				    &h->chunks[c], CHUNK_PENDING);
		if (!off) {
			err = -ENOMEM;
		} else {
			chunk_init(h->shm, t, c, off);
			atomic_store(&t->chunks_ready, c + 1);
		}
	}
	shm_unlock(&t->grow_lock);
	return err;
}

/* The arena is full and a map that grows cannot take a new key although it
 * is below max_entries: said once per map and process, with what to raise
 * (the update fails with ENOMEM, as a kernel map's allocation failure). */
static __attribute__((noinline, cold)) void htab_full(struct bpftime_map *h)
{
	if (atomic_exchange(&h->full_told, true))
		return;
	pr_warn("shm '%s': map '%s' cannot grow: the segment is full (%d of %u entries in "
		"it): updates of new keys fail with ENOMEM; raise BPFTIME_SHM_MEMORY_MB "
		"(`bpftime load --memory-size MB`)\n",
		bpftime_shm__name(h->shm), h->m->obj.name, atomic_load(&htab_of(h)->count),
		h->max_entries);
}

/* A free element, growing the map when there is none; NULL with *err set
 * (htab_grow's codes: -ENOSPC every element exists, -ENOMEM the arena is
 * full, -EAGAIN a dead grower to repair first). */
static struct htab_elem *elem_alloc(struct bpftime_map *h, int *err)
{
	struct htab_elem *e;
	/* each round grows by a chunk or finds one grown meanwhile; a free
	 * list that names no element (corrupt) must not spin here */
	uint32_t rounds = htab_of(h)->n_chunks + 2;

	while (!(e = free_pop(h))) {
		if (!rounds--) {
			*err = -ENOSPC;
			return NULL;
		}
		*err = htab_grow(h);
		if (*err) {
			if (*err == -ENOMEM)
				htab_full(h);
			return NULL;
		}
	}
	return e;
}

/* CLOCK eviction for LRU maps, called in the section of group @held (the
 * evicted element stays in a section until it is linked again: a writer
 * killed with it in hand leaves a busy group, and the repair takes it
 * back); elements of other groups are taken with trylock.  @old (the
 * key the caller replaces) is not evicted. */
static struct htab_elem *lru_evict(struct bpftime_map *h, struct htab_lock *held,
				   struct htab_elem *old)
{
	struct htab *t = htab_of(h);

	for (uint64_t n = 0; n < 3ULL * h->n_elems; n++) {
		uint64_t i = atomic_fetch_add_explicit(&t->clock_hand, 1, memory_order_relaxed);
		struct htab_elem *e = elem_at(h, (uint32_t)(i % h->n_elems));
		struct htab_lock *g;
		uint32_t b;

		if (!e || e == old || !atomic_load_explicit(&e->inuse, memory_order_relaxed))
			continue;
		if (atomic_load_explicit(&e->ref, memory_order_relaxed)) {
			atomic_store_explicit(&e->ref, 0, memory_order_relaxed);
			continue;
		}
		b = __atomic_load_n(&e->hash, __ATOMIC_RELAXED) &
		    h->bucket_mask; /* may be rewritten */
		g = lock_group(h, b);
		if (g != held && gtrylock(g))
			continue;
		/* in use and hashing to b under b's lock: it is linked in b */
		if (atomic_load_explicit(&e->inuse, memory_order_relaxed) &&
		    (e->hash & h->bucket_mask) == b && unlink_elem(h, b, e)) {
			atomic_store_explicit(&e->inuse, 0, memory_order_relaxed);
			atomic_fetch_sub(&t->count, 1);
			if (g != held)
				gunlock(g);
			return e;
		}
		if (g != held)
			gunlock(g);
	}
	return NULL;
}

/* LRU: takes a parked element from another lock group (trylock only, in
 * the section of @held; a busy group is skipped); NULL if none. */
static struct htab_elem *lru_steal(struct bpftime_map *h, struct htab_lock *held)
{
	struct htab *t = htab_of(h);
	struct htab_lock *locks = (struct htab_lock *)h->locks;
	uint32_t start = (uint32_t)atomic_load_explicit(&t->clock_hand, memory_order_relaxed);

	for (uint32_t i = 0; i <= h->lock_mask; i++) {
		struct htab_lock *g = &locks[(start + i) & h->lock_mask];
		struct htab_elem *e;
		uint32_t p;

		if (g == held || !__atomic_load_n(&g->parked, __ATOMIC_RELAXED) || gtrylock(g))
			continue;
		p = g->parked;
		e = p ? elem_at(h, p - 1) : NULL;
		if (p)
			__atomic_store_n(&g->parked, 0, __ATOMIC_RELAXED);
		gunlock(g);
		if (e)
			return e;
		if (p)
			map_corrupt(h, "a parked element out of range");
	}
	return NULL;
}

/* LRU, no free element in the update's own group nor on the free stack;
 * called in the section of group @held.  Parked elements go first (they
 * are free places below max_entries), then elements not allocated yet (a
 * map too big for the free space at creation grows as it fills: while a
 * chunk is missing the map holds fewer than max_entries keys, so nothing
 * is evicted), then eviction; the scan runs when parked_any says a delete
 * parked something since the last empty scan, and once more, in any case,
 * before giving up (a park racing with the flag's reset is found there).
 * NULL with *err: -ENOMEM (no element: the arena is full below max_entries,
 * or nothing evictable), -EAGAIN (a dead grower: repair first). */
static struct htab_elem *lru_alloc_slow(struct bpftime_map *h, struct htab_lock *held,
					struct htab_elem *old, int *err)
{
	struct htab *t = htab_of(h);
	struct htab_elem *e;

	*err = -ENOMEM;
	if (atomic_load_explicit(&t->parked_any, memory_order_relaxed)) {
		e = lru_steal(h, held);
		if (e)
			return e;
		atomic_store_explicit(&t->parked_any, 0, memory_order_relaxed);
	}
	e = elem_alloc(h, err);
	if (e)
		return e;
	if (*err == -ENOMEM || *err == -EAGAIN) {
		/* below max_entries but no memory: a parked element still
		 * serves; never an eviction (the kernel's map would hold
		 * max_entries keys) */
		e = lru_steal(h, held);
		return e;
	}
	*err = -ENOMEM;
	e = lru_evict(h, held, old);
	if (!e)
		e = lru_steal(h, held);
	return e;
}

/* ---- creation --------------------------------------------------------- */

/* LRU maps, at creation (prealloc: one chunk at @chunk): pops one element
 * per lock group off the free stack as the group's spare. */
static void lru_spares_init(struct bpftime_shm *shm, struct htab *t, uint64_t chunk)
{
	struct htab_lock *locks = shm_ptr(shm, t->locks_off);
	char *base = shm_ptr(shm, chunk);

	for (uint32_t i = 0; i < t->n_locks; i++) {
		uint64_t top = atomic_load(&t->free_top);
		uint32_t idx = (uint32_t)top - 1;
		struct htab_elem *e = (struct htab_elem *)(base + (size_t)idx * t->elem_size);

		atomic_store(&t->free_top, (top & ~0xffffffffULL) | atomic_load(&e->free_next));
		locks[i].spare = idx + 1;
	}
}

static int htab_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	bool lru =
		m->map_type == BPFTIME_MAP_LRU_HASH || m->map_type == BPFTIME_MAP_LRU_PERCPU_HASH;
	bool percpu = m->map_type == BPFTIME_MAP_PERCPU_HASH ||
		      m->map_type == BPFTIME_MAP_LRU_PERCPU_HASH;

	UNUSED(shm);
	if (m->map_type == BPFTIME_MAP_HASH_OF_MAPS && m->value_size != 4)
		return -EINVAL;
	if (m->map_flags & ~HTAB_FLAGS)
		return -EINVAL;
	if (!lru && (m->map_flags & BPFTIME_F_NO_COMMON_LRU))
		return -EINVAL;
	if (lru && (m->map_flags & BPFTIME_F_NO_PREALLOC))
		return -ENOTSUPP;
	if ((m->map_flags & BPFTIME_F_NUMA_NODE) && (m->map_flags & BPFTIME_F_NO_COMMON_LRU))
		return -EINVAL;
	if (!m->max_entries || !m->key_size || !m->value_size)
		return -EINVAL;
	if (m->value_size >= (1u << 22) - MAX_BPF_STACK - sizeof(struct htab_elem))
		return -E2BIG;
	if (percpu && MAP_ROUND8(m->value_size) > PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	return 0;
}

static int htab_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	bool lru =
		m->map_type == BPFTIME_MAP_LRU_HASH || m->map_type == BPFTIME_MAP_LRU_PERCPU_HASH;
	bool percpu = m->map_type == BPFTIME_MAP_PERCPU_HASH ||
		      m->map_type == BPFTIME_MAP_LRU_PERCPU_HASH;
	uint64_t vsize = (uint64_t)MAP_ROUND8(m->value_size) * (percpu ? shm->ncpus : 1) +
			 /* LPM tries keep the key as given after the value */
			 (m->map_type == BPFTIME_MAP_LPM_TRIE ? MAP_ROUND8(m->key_size) : 0);
	uint64_t esize = (sizeof(struct htab_elem) + MAP_ROUND8(m->key_size) + vsize + 15) & ~15ULL;
	bool prealloc = lru || !(m->map_flags & BPFTIME_F_NO_PREALLOC);
	uint32_t nb = map_roundup_pow2(m->max_entries), nl = nb < 1024 ? nb : 1024, shift,
		 lazy_shift;
	/* LRU maps: max_entries on the free stack and one spare per lock
	 * group, set aside below (replacements only, so never more than
	 * max_entries keys); others: the spares and a few for replacements in
	 * flight, all on the free stack */
	uint64_t n_elems = (uint64_t)m->max_entries + (lru ? nl : HTAB_EXTRA + shm->ncpus + nl);
	uint64_t first_chunk;
	struct htab *t;
	_Atomic uint64_t *buckets;
	int err;

	if (m->max_entries > (1u << 31))
		return -E2BIG;
	shift = prealloc ? (uint32_t)__builtin_ctz(map_roundup_pow2((uint32_t)n_elems)) : 8;
	first_chunk = esize * (n_elems < (1ULL << shift) ? n_elems : (1ULL << shift));
	/* LRU maps set one element per lock group aside as its spare at
	 * creation: the first chunk holds them (nl is a power of two) */
	lazy_shift = lru && nl > 256 ? (uint32_t)__builtin_ctz(nl) : 8;
	if (prealloc && shift > lazy_shift && (uint64_t)nb * 8 <= shm->hdr->arena_size) {
		/* preallocation is the kernel's speed choice, not a semantic
		 * one: elements that do not fit in the arena's free space now
		 * are allocated as the map fills, in chunks of 256 (as with
		 * BPF_F_NO_PREALLOC; LRU maps: of at least one per lock
		 * group), so a big map can be created (bpftrace's maps ask for
		 * more than they use) and an update fails with ENOMEM only
		 * when the segment is really full.  An LRU map evicts only
		 * once all its max_entries elements exist, as the kernel's. */
		struct bpftime_shm_stats st = { .sz = sizeof(st) };

		if (!bpftime_shm__stats(shm, &st) &&
		    first_chunk + (uint64_t)nb * 8 + 65536 > st.largest_free) {
			pr_info("shm '%s': map '%s': its %llu bytes of elements do not fit in the "
				"free "
				"space (%llu bytes): allocated as the map fills\n",
				shm->name, m->obj.name, (unsigned long long)first_chunk,
				(unsigned long long)st.largest_free);
			shift = lazy_shift;
			first_chunk =
				esize * (n_elems < (1ULL << shift) ? n_elems : (1ULL << shift));
		}
	}
	if (first_chunk > shm->hdr->arena_size || (uint64_t)nb * 8 > shm->hdr->arena_size)
		return -ENOMEM; /* said by map.c (map_no_room) */
	m->priv_off = shm_alloc(shm, sizeof(*t), 64);
	err = map_own(m, m->priv_off);
	if (err)
		return err;
	t = shm_ptr(shm, m->priv_off);
	t->n_buckets = nb;
	t->n_locks = nl;
	t->n_elems = (uint32_t)n_elems;
	t->elem_size = (uint32_t)esize;
	t->seed = (m->map_flags & BPFTIME_F_ZERO_SEED) ? 0 : (uint32_t)(m->obj.id * 0x9e3779b9u);
	t->buckets_off = shm_alloc(shm, (size_t)nb * 8, 64);
	if ((err = map_own(m, t->buckets_off)))
		return err;
	t->locks_off = shm_alloc(shm, (size_t)nl * sizeof(struct htab_lock), 64);
	if ((err = map_own(m, t->locks_off)))
		return err;
	t->chunk_shift = shift;
	t->n_chunks = (uint32_t)((n_elems + (1ULL << shift) - 1) >> shift);
	t->chunks_off = shm_alloc(shm, (size_t)t->n_chunks * 8, 16);
	if ((err = map_own(m, t->chunks_off)) || (err = shm_mutex_init(&t->grow_lock)))
		return err;
	for (uint32_t i = 0; i < nl; i++) {
		err = shm_mutex_init(&((struct htab_lock *)shm_ptr(shm, t->locks_off))[i].m);
		if (err)
			return err;
	}
	buckets = shm_ptr(shm, t->buckets_off);
	for (uint32_t i = 0; i < nb; i++)
		atomic_store_explicit(&buckets[i], ((uint64_t)i << 1) | 1, memory_order_relaxed);
	/* the first chunk (every element when preallocated); freed by
	 * htab_release with the others */
	{
		uint64_t off = shm_alloc(shm, first_chunk, 64);

		if (!off)
			return -ENOMEM;
		chunk_init(shm, t, 0, off);
		atomic_store(&t->chunks_ready, 1);
		if (lru)
			lru_spares_init(shm, t, off);
	}
	return 0;
}

static int htab_handle_init(struct bpftime_map *h)
{
	struct bpftime_shm *shm = h->shm;
	struct htab *t = htab_of(h);
	uint64_t min_esize;

	/* the geometry is read once here and trusted after: it must describe
	 * arrays inside the segment (elements are checked on each use) */
	if (!shm_range_ok(shm, h->m->priv_off, sizeof(*t)))
		goto bad;
	min_esize = sizeof(struct htab_elem) + MAP_ROUND8(h->key_size) + MAP_ROUND8(h->value_size);
	if (!t->n_buckets || (t->n_buckets & (t->n_buckets - 1)) || !t->n_locks ||
	    (t->n_locks & (t->n_locks - 1)) || t->n_locks > t->n_buckets ||
	    t->n_elems < h->max_entries || t->elem_size < min_esize || t->elem_size % 16 ||
	    t->chunk_shift > 31 || !t->n_chunks ||
	    (uint64_t)t->n_chunks << t->chunk_shift < t->n_elems ||
	    !shm_range_ok(shm, t->buckets_off, (uint64_t)t->n_buckets * 8) ||
	    !shm_range_ok(shm, t->locks_off, (uint64_t)t->n_locks * sizeof(struct htab_lock)) ||
	    !shm_range_ok(shm, t->chunks_off, (uint64_t)t->n_chunks * 8) ||
	    t->elem_size >= shm->size)
		goto bad;
	h->elem_lo = sizeof(struct shm_header);
	h->elem_span8 = (shm->size - t->elem_size - h->elem_lo) >> 3;
	h->n_elems = t->n_elems;
	h->base = h->shm->base;
	h->buckets = shm_ptr(h->shm, t->buckets_off);
	h->locks = shm_ptr(h->shm, t->locks_off);
	h->bucket_mask = t->n_buckets - 1;
	h->lock_mask = t->n_locks - 1;
	h->seed = t->seed;
	h->elem_size = t->elem_size;
	h->chunks = shm_ptr(h->shm, t->chunks_off);
	h->chunk_shift = t->chunk_shift;
	h->key8 = MAP_ROUND8(h->key_size);
	h->lru = h->type == BPFTIME_MAP_LRU_HASH || h->type == BPFTIME_MAP_LRU_PERCPU_HASH;
	h->percpu = h->type == BPFTIME_MAP_PERCPU_HASH || h->type == BPFTIME_MAP_LRU_PERCPU_HASH;
	return 0;
bad:
	pr_warn("shm '%s': map '%.16s' is corrupt (hash table geometry out of range): skipped\n",
		bpftime_shm__name(shm), h->m->obj.name);
	return -EBADMSG;
}

/* a chunk offset read from the segment that may be freed (a garbled one is
 * left: shm_free would refuse it too, loudly) */
static bool chunk_ok(struct bpftime_shm *shm, uint64_t off)
{
	return off && !(off & 15) && shm_range_ok(shm, off, 16);
}

/* Drops the references the elements of a map of maps hold and frees the
 * element chunks (the rest are the map's own.allocs[], freed by shm/). */
void htab_release(struct bpftime_shm *shm, struct map_record *m)
{
	struct htab *t;
	_Atomic uint64_t *buckets;
	uint64_t *chunks;

	if (!m->priv_off)
		return;
	t = shm_ptr(shm, m->priv_off);
	if (!t->chunks_off)
		return;
	chunks = shm_ptr(shm, t->chunks_off);
	if (m->map_type != BPFTIME_MAP_HASH_OF_MAPS || !t->buckets_off)
		goto free_chunks;
	buckets = shm_ptr(shm, t->buckets_off);
	for (uint32_t b = 0; b < t->n_buckets; b++) {
		uint32_t steps = 0;

		for (uint64_t n = atomic_load(&buckets[b]); !is_nulls(n);) {
			struct htab_elem *e = shm_ptr(shm, n);
			uint64_t obj;

			/* a corrupt chain: the references behind it stay */
			if (!shm_range_ok(shm, n, t->elem_size) || ++steps > t->n_elems)
				break;

			memcpy(&obj, e->key + MAP_ROUND8(m->key_size), 8);
			if (obj)
				shm_obj_put(shm, obj);
			n = atomic_load(&e->next);
		}
	}
free_chunks:
	shm_alloc_settle(shm); /* a grower's record undone with its allocation */
	for (uint32_t c = 0; c < atomic_load(&t->chunks_ready) && c < t->n_chunks; c++)
		if (chunk_ok(shm, chunks[c]))
			shm_free(shm, chunks[c]);
	/* one a grower that died was setting up (no repair since) */
	{
		uint32_t c = atomic_load(&t->chunks_ready);

		if (c < t->n_chunks && chunk_ok(shm, chunks[c] & ~CHUNK_PENDING))
			shm_free(shm, chunks[c] & ~CHUNK_PENDING);
	}
}

/* ---- lookups ---------------------------------------------------------- */

static __attribute__((always_inline)) inline struct htab_elem *lookup_elem(struct bpftime_map *h,
									   const void *key)
{
	uint32_t hash = key_hash(h, key);
	bool bad = false; /* a corrupt chain reads as "not found" in programs */

	return find(h, hash & h->bucket_mask, hash, key, &bad);
}

void *htab_lookup_elem_key(struct bpftime_map *h, const void *key)
{
	struct htab_elem *e = lookup_elem(h, key);

	return e ? elem_value(h, e) : NULL;
}

int htab_count(struct bpftime_map *h)
{
	if (htab_dead_writer(h))
		htab_repair(h);
	return atomic_load(&htab_of(h)->count);
}

static void *htab_lookup(struct bpftime_map *h, const void *key)
{
	struct htab_elem *e = lookup_elem(h, key);

	return likely(e) ? elem_value(h, e) : NULL;
}

static void *lru_lookup(struct bpftime_map *h, const void *key)
{
	struct htab_elem *e = lookup_elem(h, key);

	if (!e)
		return NULL;
	if (!atomic_load_explicit(&e->ref, memory_order_relaxed))
		atomic_store_explicit(&e->ref, 1, memory_order_relaxed);
	return elem_value(h, e);
}

static void *percpu_lookup(struct bpftime_map *h, const void *key)
{
	struct htab_elem *e = lookup_elem(h, key);

	if (!e)
		return NULL;
	if (h->lru && !atomic_load_explicit(&e->ref, memory_order_relaxed))
		atomic_store_explicit(&e->ref, 1, memory_order_relaxed);
	return (char *)elem_value(h, e) + (size_t)map_this_cpu(h) * h->vsize8;
}

static void *percpu_lookup_cpu(struct bpftime_map *h, const void *key, uint32_t cpu)
{
	struct htab_elem *e = lookup_elem(h, key);

	return e ? (char *)elem_value(h, e) + (size_t)cpu * h->vsize8 : NULL;
}

static void *hash_of_maps_lookup(struct bpftime_map *h, const void *key)
{
	struct htab_elem *e = lookup_elem(h, key);
	uint64_t obj;

	if (!e)
		return NULL;
	memcpy(&obj, elem_value(h, e), 8);
	return obj ? map_handle_of_obj(h->shm, shm_ptr(h->shm, obj)) : NULL;
}

/* copies an element's value out in the syscall format (no consistency
 * check: callers hold the bucket lock or use copy_stable) */
static int copy_out(struct bpftime_map *h, struct htab_elem *e, void *value, uint64_t flags)
{
	char *v = elem_value(h, e);

	if (h->type == BPFTIME_MAP_HASH_OF_MAPS) {
		uint64_t obj;

		memcpy(&obj, v, 8);
		return map_fd_sys_value(h, obj, value);
	}
	if (h->percpu) {
		for (uint32_t c = 0; c < h->ncpus; c++)
			memcpy((char *)value + (size_t)c * h->vsize8, v + (size_t)c * h->vsize8,
			       h->vsize8);
		return 0;
	}
	if (flags & BPFTIME_F_LOCK) {
		map_value_lock(h, v);
		map_copy_value(h, value, v);
		map_value_unlock(h, v);
	} else {
		copy_bytes(value, v, h->value_size);
	}
	if (h->m->spin_lock_off >= 0)
		memset((char *)value + h->m->spin_lock_off, 0, 4);
	return 0;
}

#define SEQ_SPINS 4096 /* an odd count this long: its writer may be dead */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* A lookup that copies a value no writer is changing: the element's
 * sequence count is even and the same before and after the copy, and the
 * element still holds the key (it may have been deleted and reused for
 * another key since find()).  A count that stays odd means a writer is slow
 * or died holding its bucket lock: then the copy is made under that lock
 * (shm_lock recovers it from a dead owner; the count is then made even). */
static int copy_stable(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	uint32_t hash = key_hash(h, key), b = hash & h->bucket_mask, s1;
	struct htab_elem *e;
	struct htab_lock *l;
	int err;

	bool bad = false;

	for (int spins = 0; spins < SEQ_SPINS; spins++) {
		e = find(h, b, hash, key, &bad);
		if (!e)
			return bad ? -EBADMSG : -ENOENT;
		s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		if (e->hash != hash || !key_eq(h, e, key))
			continue; /* reused for another key */
		err = copy_out(h, e, value, flags);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1)
			return err;
	}
	l = lock_group(h, b);
	glock(h, l);
	e = find(h, b, hash, key, &bad);
	if (e && (atomic_load(&e->seq) & 1))
		seq_end(e); /* its writer died in the middle: what it left stands */
	err = e ? copy_out(h, e, value, flags) : bad ? -EBADMSG : -ENOENT;
	gunlock(l);
	return err;
}

static int htab_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	if (!key)
		return -EINVAL;
	if ((flags & BPFTIME_F_LOCK) && h->percpu)
		return -EINVAL;
	return copy_stable(h, key, value, flags);
}

/* ---- updates ---------------------------------------------------------- */

/* Writes a value into e.  sys: syscall format (per-CPU: all CPUs);
 * otherwise in-program (per-CPU: this CPU, others zeroed if fresh). */
static void fill_value(struct bpftime_map *h, struct htab_elem *e, const void *value, bool sys,
		       bool fresh, uint64_t fdobj)
{
	char *v = elem_value(h, e);

	if (h->type == BPFTIME_MAP_HASH_OF_MAPS) {
		memcpy(v, &fdobj, 8);
	} else if (h->percpu) {
		if (sys) {
			for (uint32_t c = 0; c < h->ncpus; c++)
				memcpy(v + (size_t)c * h->vsize8,
				       (const char *)value + (size_t)c * h->vsize8, h->vsize8);
		} else {
			uint32_t cpu = map_this_cpu(h);

			if (fresh)
				memset(v, 0, (size_t)h->vsize8 * h->ncpus);
			copy_bytes(v + (size_t)cpu * h->vsize8, value, h->value_size);
		}
	} else if (h->m->spin_lock_off >= 0) {
		if (fresh)
			memset(v + h->m->spin_lock_off, 0, 4);
		map_copy_value(h, v, value);
	} else {
		copy_bytes(v, value, h->value_size);
	}
}

/* Insert or replace.  One lock (the bucket group's) and, in the common
 * cases, no shared free-list operation:
 *  - replacing a key: the new value goes into the group's spare element,
 *    linked in front of the old one, and the old element becomes the spare;
 *  - inserting a new key (not LRU): the spare if there is one (a delete
 *    left it), else the free stack.
 * The key is hashed once and searched for once, under the lock (a
 * lockless search first, to refuse new keys into a full map without
 * locking, made every replacement in a full map search twice: 5 ns of
 * about 40; the kernel also locks to refuse).  A new key reserves its
 * place in the count under the lock.  LRU maps never insert into a spare:
 * their spares are elements max_entries + 1 and on, so they hold
 * max_entries keys at most; a new key takes the group's parked element or
 * a free one, and when there is none the update unlocks, steals or evicts
 * (which takes other bucket locks) and starts over with that element. */
static int htab_update_common(struct bpftime_map *h, const void *key, const void *value,
			      uint64_t flags, bool sys)
{
	struct htab *t = htab_of(h);
	struct htab_elem *old, *e = NULL;
	struct htab_lock *l;
	uint32_t hash, b;
	uint64_t fdobj = 0;
	bool counted = false, bad = false;
	int err = 0, aerr = 0;

	if ((flags & ~(uint64_t)BPFTIME_F_LOCK) > BPFTIME_EXIST)
		return -EINVAL;
	if ((flags & BPFTIME_F_LOCK) && (h->percpu || h->m->spin_lock_off < 0))
		return -EINVAL;
	hash = key_hash(h, key);
	b = hash & h->bucket_mask;
	l = lock_group(h, b);
	if (flags & BPFTIME_F_LOCK) {
		/* in place under the value's lock, as the kernel does */
		old = find(h, b, hash, key, &bad);
		if (bad)
			return -EBADMSG;
		if (old) {
			if (flags & BPFTIME_NOEXIST)
				return -EEXIST;
			map_value_lock(h, elem_value(h, old));
			map_copy_value(h, elem_value(h, old), value);
			map_value_unlock(h, elem_value(h, old));
			return 0;
		}
	}
	if (h->type == BPFTIME_MAP_HASH_OF_MAPS) {
		fdobj = map_fd_get(h, value, &err);
		if (!fdobj)
			return err;
	}
relock:
	glock(h, l);
	old = find(h, b, hash, key, &bad);
	if (bad) {
		err = -EBADMSG;
		goto unlock;
	}
	if ((flags & 3) == BPFTIME_NOEXIST && old) {
		err = -EEXIST;
		goto unlock;
	}
	if ((flags & 3) == BPFTIME_EXIST && !old) {
		err = -ENOENT;
		goto unlock;
	}
	if (old && ((flags & BPFTIME_F_LOCK) || h->percpu)) {
		/* in place: per-CPU values, and BPF_F_LOCK after a racing insert */
		if (flags & BPFTIME_F_LOCK) {
			map_value_lock(h, elem_value(h, old));
			map_copy_value(h, elem_value(h, old), value);
			map_value_unlock(h, elem_value(h, old));
		} else {
			seq_begin(old);
			fill_value(h, old, value, sys, false, 0);
			seq_end(old);
		}
		if (h->lru)
			atomic_store_explicit(&old->ref, 1, memory_order_relaxed);
		goto unlock;
	}
	if (!e) {
		/* a new key takes its place in the count before it is linked:
		 * two inserts under different locks cannot both take the last
		 * one (the kernel's htab counts the same way) */
		if (!h->lru && !old) {
			/* (a plain load first: a full map refuses without an
			 * atomic operation on the shared count) */
			int32_t max = (int32_t)h->max_entries;

			if (atomic_load_explicit(&t->count, memory_order_relaxed) >= max)
				goto full;
			if (atomic_fetch_add(&t->count, 1) >= max) {
				atomic_fetch_sub(&t->count, 1);
				goto full;
			}
			counted = true;
		}
		/* every element taken here stays in this section until it is
		 * linked or given back (see htab_repair) */
		if (l->spare && (old || !h->lru)) {
			e = elem_at(h, l->spare - 1);
			l->spare = 0;
			if (!e) {
				err = map_corrupt(h, "a spare element out of range");
				goto uncount;
			}
		} else if (h->lru) {
			if (l->parked) {
				e = elem_at(h, l->parked - 1);
				__atomic_store_n(&l->parked, 0, __ATOMIC_RELAXED);
			} else {
				e = free_pop(h);
			}
			if (!e)
				e = lru_alloc_slow(h, l, old, &aerr);
			if (!e) {
				/* a group whose writer died may hold every
				 * element: repaired, then tried again */
				gunlock(l);
				if (aerr == -EAGAIN || htab_dead_writer(h)) {
					htab_repair(h);
					goto relock;
				}
				return -ENOMEM;
			}
		} else {
			e = elem_alloc(h, &aerr);
			if (!e && aerr == -EAGAIN) {
				/* a grower died: repaired, then tried again */
				if (counted)
					atomic_fetch_sub(&t->count, 1);
				counted = false;
				gunlock(l);
				htab_repair(h);
				goto relock;
			}
		}
		if (!e) {
			/* no element although count < max_entries: the arena is
			 * full (BPF_F_NO_PREALLOC growth) */
			if (counted)
				atomic_fetch_sub(&t->count, 1);
			err = !counted && atomic_load(&t->count) >= (int32_t)h->max_entries
				      ? -E2BIG
				      : -ENOMEM;
			goto unlock;
		}
	}
	/* a stale reader may still be copying e (found before it was freed) */
	seq_begin(e);
	e->hash = hash;
	atomic_store_explicit(&e->ref, 0, memory_order_relaxed);
	copy_bytes(e->key, key, h->key_size);
	if (likely(!h->percpu && !fdobj && h->m->spin_lock_off < 0))
		copy_bytes(elem_value(h, e), value, h->value_size); /* fill_value's plain case */
	else
		fill_value(h, e, value, sys, true, fdobj);
	seq_end(e);
	fdobj = 0;
	atomic_store_explicit(&e->next, atomic_load_explicit(&h->buckets[b], memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(&h->buckets[b], OFF(h, e), memory_order_release);
	if (old && !unlink_elem(h, b, old))
		old = NULL; /* a corrupt chain (reported): not reused */
	else if (!old && !counted)
		atomic_fetch_add(&t->count, 1); /* LRU: its free elements bound it */
	atomic_store_explicit(&e->inuse, 1, memory_order_release);
	if (old)
		atomic_store_explicit(&old->inuse, 0, memory_order_relaxed);
	e = NULL;
	if (old) {
		if (h->type == BPFTIME_MAP_HASH_OF_MAPS) {
			uint64_t o;

			memcpy(&o, elem_value(h, old), 8);
			map_fd_put(h, o);
		}
		if (!l->spare) {
			l->spare = elem_idx(h, old) + 1;
			old = NULL;
		}
	}
	if (old)
		free_push(h, old);
	gunlock(l);
	return 0;
uncount:
	if (counted)
		atomic_fetch_sub(&t->count, 1);
unlock:
	if (e)
		free_push(h, e);
	gunlock(l);
	map_fd_put(h, fdobj);
	return err;
full:
	/* a writer that died between counting and linking leaves the count
	 * one too high: make sure before refusing */
	gunlock(l);
	if (htab_dead_writer(h)) {
		htab_repair(h);
		goto relock;
	}
	map_fd_put(h, fdobj);
	return -E2BIG;
}

static int htab_sys_update(struct bpftime_map *h, const void *key, const void *value,
			   uint64_t flags)
{
	if (!key || !value)
		return -EINVAL;
	return htab_update_common(h, key, value, flags, true);
}

static long htab_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	if (h->type == BPFTIME_MAP_HASH_OF_MAPS)
		return -EINVAL; /* programs cannot store maps */
	return htab_update_common(h, key, value, flags, false);
}

static int delete_common(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	struct htab *t = htab_of(h);
	struct htab_elem *e;
	struct htab_lock *l;
	uint32_t hash, b;
	uint64_t obj = 0;
	bool bad = false;
	int err = 0;

	if (!key)
		return -EINVAL;
	hash = key_hash(h, key);
	b = hash & h->bucket_mask;
	l = lock_group(h, b);
	glock(h, l);
	e = find(h, b, hash, key, &bad);
	if (!e) {
		gunlock(l);
		return bad ? -EBADMSG : -ENOENT;
	}
	if (value)
		err = copy_out(h, e, value, flags);
	if (!unlink_elem(h, b, e)) {
		gunlock(l);
		return -EBADMSG;
	}
	atomic_store_explicit(&e->inuse, 0, memory_order_relaxed);
	atomic_fetch_sub(&t->count, 1);
	if (h->type == BPFTIME_MAP_HASH_OF_MAPS)
		memcpy(&obj, elem_value(h, e), 8); /* e may be reused once unlocked */
	/* the next insert or replace in this group takes it without touching
	 * the shared free stack (LRU: parked, see struct htab_lock); only when
	 * every element exists from the start (one chunk): a map that grows
	 * may have no other element for an insert into another group once the
	 * arena is full */
	if (h->lru && !l->parked) {
		__atomic_store_n(&l->parked, elem_idx(h, e) + 1, __ATOMIC_RELAXED);
		if (!atomic_load_explicit(&t->parked_any, memory_order_relaxed))
			atomic_store_explicit(&t->parked_any, 1, memory_order_relaxed);
		e = NULL;
	} else if (!h->lru && !l->spare && t->n_chunks == 1) {
		l->spare = elem_idx(h, e) + 1;
		e = NULL;
	}
	if (e)
		free_push(h, e);
	gunlock(l);
	map_fd_put(h, obj);
	return err;
}

static int htab_sys_delete(struct bpftime_map *h, const void *key)
{
	return delete_common(h, key, NULL, 0);
}

static long htab_delete(struct bpftime_map *h, const void *key)
{
	return delete_common(h, key, NULL, 0);
}

static int htab_sys_lookup_and_delete(struct bpftime_map *h, const void *key, void *value,
				      uint64_t flags)
{
	if (h->type == BPFTIME_MAP_HASH_OF_MAPS)
		return -ENOTSUPP;
	if ((flags & BPFTIME_F_LOCK) && h->percpu)
		return -EINVAL;
	return delete_common(h, key, value, flags);
}

/* Copies the key of the element at @n (reached in bucket @b) to @next_key:
 * 0; 1 if that key does not hash to @b under its stored hash (the element
 * was reused under us, or its key or hash is garbled: iterating from it
 * would start over forever); -EBADMSG for an offset outside the segment. */
static int take_key(struct bpftime_map *h, uint32_t b, uint64_t n, void *next_key)
{
	struct htab_elem *e;
	uint32_t hash;

	if (!elem_ok(h, n))
		return chain_bad(h, b, "a link outside the segment");
	e = E(h, n);
	memcpy(next_key, e->key, h->key_size);
	hash = key_hash(h, next_key);
	return (hash & h->bucket_mask) == b && __atomic_load_n(&e->hash, __ATOMIC_RELAXED) == hash
		       ? 0
		       : 1;
}

static int next_key_once(struct bpftime_map *h, const void *key, void *next_key, uint32_t *at)
{
	uint32_t b = 0;
	uint64_t n;

	if (key) {
		uint32_t hash = key_hash(h, key);
		struct htab_elem *e;
		bool bad = false;

		b = hash & h->bucket_mask;
		e = find(h, b, hash, key, &bad);
		if (bad)
			return -EBADMSG;
		if (e) {
			/* the rest of the chain must end (an iteration over a
			 * cycle would never end) */
			uint32_t steps = 0;

			for (n = atomic_load(&e->next); !is_nulls(n);
			     n = atomic_load(&E(h, n)->next))
				if (!elem_ok(h, n) || ++steps > h->n_elems)
					return chain_bad(h, b,
							 "a bad link after the key (a cycle?)");
			n = atomic_load_explicit(&e->next, memory_order_acquire);
			if (!is_nulls(n))
				return *at = b, take_key(h, b, n, next_key);
			b++;
		} else {
			b = 0;
		}
	}
	for (; b <= h->bucket_mask; b++) {
		n = atomic_load_explicit(&h->buckets[b], memory_order_acquire);
		if (!is_nulls(n))
			return *at = b, take_key(h, b, n, next_key);
	}
	return -ENOENT;
}

static int htab_get_next_key(struct bpftime_map *h, const void *key, void *next_key)
{
	uint32_t b = 0;

	/* an iteration starts: a key left twice by a dead writer would make
	 * it loop (get_next_key of the older copy finds the newer one) */
	if (!key && htab_dead_writer(h))
		htab_repair(h);
	/* a key that does not lead back to its element is retried (a
	 * concurrent reuse) and then taken for corrupt */
	for (int tries = 0; tries < 8; tries++) {
		int err = next_key_once(h, key, next_key, &b);

		if (err <= 0)
			return err;
	}
	return chain_bad(h, b, "an element whose key does not hash to its bucket");
}

static long htab_for_each(struct bpftime_map *h, bpftime_map_elem_fn fn, void *ctx)
{
	long cnt = 0;

	for (uint32_t b = 0; b <= h->bucket_mask; b++) {
		uint64_t n = atomic_load_explicit(&h->buckets[b], memory_order_acquire);
		uint32_t steps = 0;

		while (!is_nulls(n)) {
			struct htab_elem *e;
			char *v;

			if (!elem_ok(h, n) || ++steps > h->n_elems) {
				chain_bad(h, b, "a bad link met while iterating");
				return cnt; /* what was visited: for_each has no error */
			}
			e = E(h, n);
			v = elem_value(h, e);

			n = atomic_load_explicit(&e->next, memory_order_acquire);
			if (h->percpu)
				v += (size_t)map_this_cpu(h) * h->vsize8;
			cnt++;
			if (fn(h, e->key, v, ctx))
				return cnt;
		}
	}
	return cnt;
}

#define HTAB_COMMON                                                                            \
	.alloc_check = htab_alloc_check, .alloc = htab_alloc, .handle_init = htab_handle_init, \
	.sys_lookup = htab_sys_lookup, .sys_update = htab_sys_update,                          \
	.sys_delete = htab_sys_delete, .sys_lookup_and_delete = htab_sys_lookup_and_delete,    \
	.get_next_key = htab_get_next_key, .update = htab_update, .delete = htab_delete,       \
	.for_each = htab_for_each, .release = htab_release

const struct map_ops map_hash_ops = { HTAB_COMMON, .lookup = htab_lookup };
const struct map_ops map_lru_hash_ops = { HTAB_COMMON, .lookup = lru_lookup };
const struct map_ops map_percpu_hash_ops = { HTAB_COMMON, .lookup = percpu_lookup,
					     .lookup_percpu = percpu_lookup_cpu };
const struct map_ops map_lru_percpu_hash_ops = { HTAB_COMMON, .lookup = percpu_lookup,
						 .lookup_percpu = percpu_lookup_cpu };
const struct map_ops map_hash_of_maps_ops = { HTAB_COMMON, .lookup = hash_of_maps_lookup };
