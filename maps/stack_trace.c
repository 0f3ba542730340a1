/* SPDX-License-Identifier: MIT */
/* maps/stack_trace.c: STACK_TRACE.  Buckets (a power of two >= max_entries)
 * of {nr, hash, ips[value_size / 8]}; the stack id is the hash of the ips
 * masked to the bucket count, as in the kernel.  One robust lock: stores are
 * rare (bpf_get_stackid dedups stacks) and the syscall side only reads.
 *
 * Storage on use: the map holds one offset per bucket and a bucket's block
 * is allocated when a stack first lands in it (kept, emptied, on delete;
 * freed with the map).  bpftrace's default stack map (131,072 buckets of
 * 1,016 bytes, 128 MiB if allocated up front) thus costs 1 MiB plus the
 * stacks actually seen.  A store that finds the arena full fails with
 * -ENOMEM, as the kernel's does when its preallocated buckets run out. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"

#define STK_FLAGS                                                                            \
	(BPFTIME_F_NUMA_NODE | BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | BPFTIME_F_RDONLY_PROG | \
	 BPFTIME_F_WRONLY_PROG | BPFTIME_F_STACK_BUILD_ID)
#define MAX_STACK_DEPTH 127 /* kernel.perf_event_max_stack default */

struct stk {
	struct shm_mutex lock;
	uint32_t n_buckets;
	uint32_t bucket_size;
	uint64_t buckets_off;
};

struct stk_bucket {
	uint32_t nr; /* 0: empty */
	uint32_t hash;
	uint64_t ips[];
};

static int stk_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	UNUSED(shm);
	if (m->map_flags & ~STK_FLAGS || m->key_size != 4 || m->value_size < 8 ||
	    m->value_size % 8 || !m->max_entries)
		return -EINVAL;
	if (m->map_flags & BPFTIME_F_STACK_BUILD_ID)
		return -EOPNOTSUPP; /* build-id stacks need the target's ELF notes */
	if (m->value_size / 8 > MAX_STACK_DEPTH)
		return -EINVAL;
	if (m->max_entries > (1u << 24))
		return -E2BIG;
	return 0;
}

static int stk_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	struct stk *s;
	int err;

	m->priv_off = shm_alloc(shm, sizeof(*s), 64);
	if ((err = map_own(m, m->priv_off)))
		return err;
	s = shm_ptr(shm, m->priv_off);
	s->n_buckets = map_roundup_pow2(m->max_entries);
	s->bucket_size = sizeof(struct stk_bucket) + m->value_size;
	s->buckets_off = shm_alloc(shm, (size_t)s->n_buckets * sizeof(uint64_t), 16);
	if ((err = map_own(m, s->buckets_off)))
		return err;
	return shm_mutex_init(&s->lock);
}

static inline _Atomic uint64_t *bucket_slot(struct bpftime_shm *shm, struct stk *s, uint32_t id)
{
	return (_Atomic uint64_t *)shm_ptr(shm, s->buckets_off) + id;
}

/* The bucket @id (< NBUCKETS(h)), or NULL while no stack has landed there
 * or when its offset (read from the segment) is not a bucket inside it. */
static inline struct stk_bucket *bucket(struct bpftime_map *h, struct stk *s, uint32_t id)
{
	uint64_t off = atomic_load_explicit(&h->buckets[id], memory_order_acquire);
	struct stk_bucket *b;

	(void)s;
	if (!off)
		return NULL;
	b = likely(shm_range_ok(h->shm, off, sizeof(*b) + h->value_size)) ? shm_ptr(h->shm, off)
									  : NULL;
	if (unlikely(!b || b->nr > h->value_size / 8)) {
		map_corrupt(h, "a stack bucket out of range");
		return NULL;
	}
	return b;
}

/* the bucket array, checked once per process and then used through the
 * handle (h->buckets, h->bucket_mask): the header in the segment may be
 * garbled later without sending an access elsewhere */
static int stk_handle_init(struct bpftime_map *h)
{
	struct stk *s = (struct stk *)h->priv;

	if (!shm_range_ok(h->shm, h->m->priv_off, sizeof(*s)) ||
	    s->n_buckets != map_roundup_pow2(h->max_entries) ||
	    !shm_range_ok(h->shm, s->buckets_off, (uint64_t)s->n_buckets * 8))
		return map_corrupt(h, "stack trace buckets out of range");
	h->buckets = shm_ptr(h->shm, s->buckets_off);
	h->bucket_mask = s->n_buckets - 1;
	return 0;
}

#define NBUCKETS(h) ((h)->bucket_mask + 1)

static inline bool bucket_used(struct bpftime_map *h, struct stk *s, uint32_t id)
{
	struct stk_bucket *b = bucket(h, s, id);

	return b && b->nr;
}

/* frees the buckets' blocks (the offsets array and the header are owned
 * blocks of the map, freed by the store) */
static void stk_release(struct bpftime_shm *shm, struct map_record *m)
{
	struct stk *s;

	if (!m->priv_off)
		return;
	s = shm_ptr(shm, m->priv_off);
	if (!s->buckets_off ||
	    !shm_range_ok(shm, s->buckets_off, (uint64_t)s->n_buckets * sizeof(uint64_t)))
		return; /* garbled: the buckets stay allocated */
	for (uint32_t i = 0; i < s->n_buckets; i++) {
		uint64_t off = atomic_exchange(bucket_slot(shm, s, i), 0);

		if (off)
			shm_free(shm, off);
	}
}

long bpftime_map__stack_store(struct bpftime_map *h, const uint64_t *ips, uint32_t nr,
			      uint64_t flags)
{
	struct stk *s = (struct stk *)h->priv;
	uint32_t skip = flags & BPFTIME_F_SKIP_FIELD_MASK, hash, id;
	struct stk_bucket *b;
	long ret;

	if (h->type != BPFTIME_MAP_STACK_TRACE ||
	    (flags & ~(BPFTIME_F_SKIP_FIELD_MASK | BPFTIME_F_USER_STACK | BPFTIME_F_FAST_STACK_CMP |
		       BPFTIME_F_REUSE_STACKID)))
		return -EINVAL;
	if (nr <= skip)
		return -EFAULT;
	ips += skip;
	nr -= skip;
	if (nr > h->value_size / 8)
		nr = h->value_size / 8;
	hash = map_hash(ips, nr * 8, 0);
	id = hash & h->bucket_mask;
	shm_lock(&s->lock);
	b = bucket(h, s, id);
	if (!b) {
		uint64_t off = shm_alloc(h->shm, sizeof(*b) + h->value_size, 16);

		if (!off) {
			shm_unlock(&s->lock);
			return -ENOMEM;
		}
		b = shm_ptr(h->shm, off);
		atomic_store_explicit(&h->buckets[id], off, memory_order_release);
	}
	if (b->nr && b->hash == hash && b->nr == nr &&
	    ((flags & BPFTIME_F_FAST_STACK_CMP) || !memcmp(b->ips, ips, (size_t)nr * 8))) {
		ret = id;
	} else if (b->nr && !(flags & BPFTIME_F_REUSE_STACKID)) {
		ret = -EEXIST;
	} else {
		memcpy(b->ips, ips, (size_t)nr * 8);
		b->hash = hash;
		b->nr = nr;
		ret = id;
	}
	shm_unlock(&s->lock);
	return ret;
}

static int stk_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	struct stk *s = (struct stk *)h->priv;
	struct stk_bucket *b;
	uint32_t id;
	int ret = 0;

	UNUSED(flags);
	if (!key)
		return -EINVAL;
	memcpy(&id, key, 4);
	if (id >= NBUCKETS(h))
		return -ENOENT;
	shm_lock(&s->lock);
	b = bucket(h, s, id);
	if (!b || !b->nr) {
		ret = -ENOENT;
	} else {
		memcpy(value, b->ips, (size_t)b->nr * 8);
		memset((char *)value + (size_t)b->nr * 8, 0, h->value_size - (size_t)b->nr * 8);
	}
	shm_unlock(&s->lock);
	return ret;
}

static int stk_sys_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(value);
	UNUSED(flags);
	return -EINVAL;
}

static int stk_sys_delete(struct bpftime_map *h, const void *key)
{
	struct stk *s = (struct stk *)h->priv;
	struct stk_bucket *b;
	uint32_t id;
	int ret = 0;

	if (!key)
		return -EINVAL;
	memcpy(&id, key, 4);
	if (id >= NBUCKETS(h))
		return -E2BIG;
	shm_lock(&s->lock);
	b = bucket(h, s, id);
	if (!b || !b->nr)
		ret = -ENOENT;
	else
		b->nr = 0;
	shm_unlock(&s->lock);
	return ret;
}

static int stk_get_next_key(struct bpftime_map *h, const void *key, void *next)
{
	struct stk *s = (struct stk *)h->priv;
	uint32_t id = 0;

	if (key) {
		memcpy(&id, key, 4);
		if (id >= NBUCKETS(h) || !bucket_used(h, s, id))
			id = 0;
		else
			id++;
	}
	for (; id < NBUCKETS(h); id++) {
		if (bucket_used(h, s, id)) {
			memcpy(next, &id, 4);
			return 0;
		}
	}
	return -ENOENT;
}

static int stk_sys_lookup_and_delete(struct bpftime_map *h, const void *key, void *value,
				     uint64_t flags)
{
	int err = stk_sys_lookup(h, key, value, flags);

	return err ? err : stk_sys_delete(h, key);
}

static long stk_delete(struct bpftime_map *h, const void *key)
{
	return stk_sys_delete(h, key);
}

const struct map_ops map_stack_trace_ops = {
	.alloc_check = stk_alloc_check,
	.alloc = stk_alloc,
	.handle_init = stk_handle_init,
	.release = stk_release,
	.sys_lookup = stk_sys_lookup,
	.sys_update = stk_sys_update,
	.sys_delete = stk_sys_delete,
	.sys_lookup_and_delete = stk_sys_lookup_and_delete,
	.get_next_key = stk_get_next_key,
	.delete = stk_delete,
};
