/* SPDX-License-Identifier: MIT */
/* maps/queue.c: QUEUE (FIFO) and STACK (LIFO) over one ring of
 * max_entries + 1 value slots under a robust lock, and BLOOM_FILTER (a bit
 * set with nr_hash_funcs independent hashes of the value, lock-free). */
#include <errno.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"

#define QS_FLAGS                                                                             \
	(BPFTIME_F_NUMA_NODE | BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | BPFTIME_F_RDONLY_PROG | \
	 BPFTIME_F_WRONLY_PROG)

struct qs {
	struct shm_mutex lock;
	uint32_t head, tail, size;
	uint32_t pad;
	uint64_t data_off;
};

static int qs_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	UNUSED(shm);
	if (m->key_size || !m->value_size || m->map_flags & ~QS_FLAGS || !m->max_entries)
		return -EINVAL;
	if (m->value_size > (1u << 22))
		return -E2BIG;
	return 0;
}

static int qs_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	struct qs *q;
	int err;

	m->priv_off = shm_alloc(shm, sizeof(*q), 64);
	if ((err = map_own(m, m->priv_off)))
		return err;
	q = shm_ptr(shm, m->priv_off);
	q->size = m->max_entries + 1;
	q->data_off = shm_alloc(shm, (size_t)q->size * m->value_size, 16);
	if ((err = map_own(m, q->data_off)))
		return err;
	return shm_mutex_init(&q->lock);
}

static inline char *slot(struct bpftime_map *h, struct qs *q, uint32_t i)
{
	return (char *)shm_ptr(h->shm, q->data_off) + (size_t)i * h->value_size;
}

/* Lock held: are the ring's indices and storage (read from the segment)
 * in range?  Checked on every operation; a corrupt ring is reported and the
 * operation fails (-EBADMSG) rather than writing anywhere. */
static int qs_check(struct bpftime_map *h, struct qs *q)
{
	if (likely(q->size == h->max_entries + 1 && q->head < q->size && q->tail < q->size &&
		   shm_range_ok(h->shm, q->data_off, (uint64_t)q->size * h->value_size)))
		return 0;
	return map_corrupt(h, "queue indices or storage out of range");
}

static int qs_handle_init(struct bpftime_map *h)
{
	if (!shm_range_ok(h->shm, h->m->priv_off, sizeof(struct qs)))
		return map_corrupt(h, "queue state outside the segment");
	return 0;
}

static long qs_push(struct bpftime_map *h, const void *value, uint64_t flags)
{
	struct qs *q = (struct qs *)h->priv;
	uint32_t next;

	if ((flags & BPFTIME_NOEXIST) || flags > BPFTIME_EXIST)
		return -EINVAL;
	shm_lock(&q->lock);
	if (unlikely(qs_check(h, q))) {
		shm_unlock(&q->lock);
		return -EBADMSG;
	}
	next = q->head + 1 == q->size ? 0 : q->head + 1;
	if (next == q->tail) {
		if (!(flags & BPFTIME_EXIST)) {
			shm_unlock(&q->lock);
			return -E2BIG;
		}
		/* full with BPF_EXIST: overwrite the oldest */
		q->tail = q->tail + 1 == q->size ? 0 : q->tail + 1;
	}
	memcpy(slot(h, q, q->head), value, h->value_size);
	q->head = next;
	shm_unlock(&q->lock);
	return 0;
}

static long qs_take(struct bpftime_map *h, void *value, bool del)
{
	struct qs *q = (struct qs *)h->priv;
	uint32_t i;

	shm_lock(&q->lock);
	if (unlikely(qs_check(h, q))) {
		shm_unlock(&q->lock);
		return -EBADMSG;
	}
	if (q->head == q->tail) {
		shm_unlock(&q->lock);
		return -ENOENT;
	}
	if (h->type == BPFTIME_MAP_QUEUE) {
		i = q->tail;
		if (del)
			q->tail = i + 1 == q->size ? 0 : i + 1;
	} else {
		i = q->head ? q->head - 1 : q->size - 1;
		if (del)
			q->head = i;
	}
	memcpy(value, slot(h, q, i), h->value_size);
	shm_unlock(&q->lock);
	return 0;
}

static long qs_pop(struct bpftime_map *h, void *value)
{
	return qs_take(h, value, true);
}

static long qs_peek(struct bpftime_map *h, void *value)
{
	return qs_take(h, value, false);
}

static int qs_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	UNUSED(key);
	UNUSED(flags);
	return (int)qs_take(h, value, false);
}

static int qs_sys_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	UNUSED(key);
	return (int)qs_push(h, value, flags);
}

static int qs_sys_lookup_and_delete(struct bpftime_map *h, const void *key, void *value,
				    uint64_t flags)
{
	UNUSED(key);
	if (flags)
		return -EINVAL;
	return (int)qs_take(h, value, true);
}

static int qs_sys_delete(struct bpftime_map *h, const void *key)
{
	UNUSED(h);
	UNUSED(key);
	return -EINVAL;
}

static int qs_get_next_key(struct bpftime_map *h, const void *key, void *next)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(next);
	return -EINVAL;
}

static long qs_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	UNUSED(key);
	return qs_push(h, value, flags);
}

static long qs_delete(struct bpftime_map *h, const void *key)
{
	return qs_sys_delete(h, key);
}

#define QS_OPS                                                                                 \
	.alloc_check = qs_alloc_check, .alloc = qs_alloc, .handle_init = qs_handle_init,       \
	.sys_lookup = qs_sys_lookup, .sys_update = qs_sys_update, .sys_delete = qs_sys_delete, \
	.sys_lookup_and_delete = qs_sys_lookup_and_delete, .get_next_key = qs_get_next_key,    \
	.update = qs_update, .delete = qs_delete, .push = qs_push, .pop = qs_pop, .peek = qs_peek

const struct map_ops map_queue_ops = { QS_OPS };
const struct map_ops map_stack_ops = { QS_OPS };

/* ---- bloom filter ----------------------------------------------------- */

#define BLOOM_FLAGS (QS_FLAGS | BPFTIME_F_ZERO_SEED)

struct bloom {
	uint32_t nr_hashes;
	uint32_t mask; /* bits - 1 */
	uint32_t seed;
	uint32_t pad;
	uint64_t bits_off;
};

static int bloom_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	UNUSED(shm);
	if (m->key_size || !m->value_size || !m->max_entries || m->map_flags & ~BLOOM_FLAGS ||
	    (m->map_extra & ~0xfULL))
		return -EINVAL;
	return 0;
}

static int bloom_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	uint32_t nr = (uint32_t)(m->map_extra & 0xf) ?: 5;
	uint64_t bits = (uint64_t)m->max_entries * nr * 7 / 5; /* n * k / ln 2 */
	struct bloom *b;
	int err;

	if (bits > (1ULL << 31))
		bits = 1ULL << 31;
	bits = map_roundup_pow2((uint32_t)(bits < 64 ? 64 : bits));
	if (bits / 8 > shm->hdr->arena_size)
		return -ENOMEM;
	m->priv_off = shm_alloc(shm, sizeof(*b), 16);
	if ((err = map_own(m, m->priv_off)))
		return err;
	b = shm_ptr(shm, m->priv_off);
	b->nr_hashes = nr;
	b->mask = (uint32_t)(bits - 1);
	b->seed = (m->map_flags & BPFTIME_F_ZERO_SEED) ? 0 : m->obj.id * 0x85ebca6bu;
	b->bits_off = shm_alloc(shm, bits / 8, 64);
	return map_own(m, b->bits_off);
}

static inline _Atomic uint64_t *bloom_word(struct bpftime_map *h, struct bloom *b, uint32_t bit)
{
	return (_Atomic uint64_t *)shm_ptr(h->shm, b->bits_off) + (bit >> 6);
}

/* the bit array (offset and size read from the segment) is inside it */
static int bloom_check(struct bpftime_map *h, struct bloom *b)
{
	if (likely(!((uint64_t)b->mask & ((uint64_t)b->mask + 1)) && b->mask >= 63 &&
		   shm_range_ok(h->shm, b->bits_off, ((uint64_t)b->mask + 1) / 8) &&
		   !(b->bits_off & 7) && b->nr_hashes <= 15))
		return 0;
	return map_corrupt(h, "bloom filter bits out of range");
}

static int bloom_handle_init(struct bpftime_map *h)
{
	if (!shm_range_ok(h->shm, h->m->priv_off, sizeof(struct bloom)))
		return map_corrupt(h, "bloom filter state outside the segment");
	return 0;
}

static long bloom_push(struct bpftime_map *h, const void *value, uint64_t flags)
{
	struct bloom *b = (struct bloom *)h->priv;

	if (flags != BPFTIME_ANY)
		return -EINVAL;
	if (unlikely(bloom_check(h, b)))
		return -EBADMSG;
	for (uint32_t i = 0; i < b->nr_hashes; i++) {
		uint32_t bit = map_hash(value, h->value_size, b->seed + i) & b->mask;

		atomic_fetch_or_explicit(bloom_word(h, b, bit), 1ULL << (bit & 63),
					 memory_order_relaxed);
	}
	return 0;
}

static long bloom_peek(struct bpftime_map *h, void *value)
{
	struct bloom *b = (struct bloom *)h->priv;

	if (unlikely(bloom_check(h, b)))
		return -EBADMSG;
	for (uint32_t i = 0; i < b->nr_hashes; i++) {
		uint32_t bit = map_hash(value, h->value_size, b->seed + i) & b->mask;

		if (!(atomic_load_explicit(bloom_word(h, b, bit), memory_order_relaxed) &
		      (1ULL << (bit & 63))))
			return -ENOENT;
	}
	return 0;
}

static long bloom_pop(struct bpftime_map *h, void *value)
{
	UNUSED(h);
	UNUSED(value);
	return -EOPNOTSUPP;
}

static int bloom_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	UNUSED(key);
	UNUSED(flags);
	return (int)bloom_peek(h, value); /* the value is the input here */
}

static int bloom_sys_update(struct bpftime_map *h, const void *key, const void *value,
			    uint64_t flags)
{
	UNUSED(key);
	return (int)bloom_push(h, value, flags);
}

static int bloom_sys_delete(struct bpftime_map *h, const void *key)
{
	UNUSED(h);
	UNUSED(key);
	return -EOPNOTSUPP;
}

static int bloom_get_next_key(struct bpftime_map *h, const void *key, void *next)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(next);
	return -EOPNOTSUPP;
}

static long bloom_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(value);
	UNUSED(flags);
	return -EINVAL;
}

static long bloom_delete(struct bpftime_map *h, const void *key)
{
	return bloom_sys_delete(h, key);
}

const struct map_ops map_bloom_ops = {
	.alloc_check = bloom_alloc_check,
	.alloc = bloom_alloc,
	.handle_init = bloom_handle_init,
	.sys_lookup = bloom_sys_lookup,
	.sys_update = bloom_sys_update,
	.sys_delete = bloom_sys_delete,
	.get_next_key = bloom_get_next_key,
	.update = bloom_update,
	.delete = bloom_delete,
	.push = bloom_push,
	.pop = bloom_pop,
	.peek = bloom_peek,
};
