/* SPDX-License-Identifier: MIT */
/* maps/lpm.c: LPM_TRIE, as a hash table of exact prefixes plus a count of
 * entries per prefix length.  A lookup probes the lengths that have entries,
 * longest first, with the key's data masked to that length: O(number of
 * distinct prefix lengths), lock-free like the hash map it is built on.
 * The table is keyed by the prefix bits only; the key as given (bits past
 * prefixlen included, which the kernel keeps and get_next_key returns) is
 * stored after the value.
 *
 * get_next_key follows the kernel's order (a post-order walk of the trie,
 * 0-branch first): a prefix comes after every longer prefix it contains, and
 * otherwise the first differing bit decides, 0 first.  It scans all entries,
 * so a full iteration is quadratic; fine for the control plane's use.
 * Updates and deletes are serialised by one lock (they also keep the counts).
 * A count is raised before its entry is linked and lowered after it is
 * unlinked, so it is never below the entries of its length and a reader
 * never misses one; a writer killed in between leaves a count one too high
 * (one useless probe), recounted by the next writer.
 */
#include <errno.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"

#define LPM_FLAGS                                                                            \
	(BPFTIME_F_NO_PREALLOC | BPFTIME_F_NUMA_NODE | BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | \
	 BPFTIME_F_RDONLY_PROG | BPFTIME_F_WRONLY_PROG)
#define LPM_DATA_MAX	256
/* the longest prefix, from the handle's key size (not from the segment) */
#define LPM_MAX_PLEN(h) (((h)->key_size - 4) * 8)

struct lpm {
	struct shm_mutex lock;
	uint32_t max_plen;
	/* set for the whole of an update or delete: found set by the next
	 * locker, the holder died between the hash table and the counts,
	 * which are then recounted from the table (lpm_recount) */
	uint32_t busy;
	_Atomic uint32_t counts[]; /* [max_plen + 1] */
};

static int lpm_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	UNUSED(shm);
	if (!m->max_entries || !(m->map_flags & BPFTIME_F_NO_PREALLOC) ||
	    m->map_flags & ~LPM_FLAGS || m->key_size < 4 + 1 || m->key_size > 4 + LPM_DATA_MAX ||
	    !m->value_size || m->value_size > (1u << 22))
		return -EINVAL;
	return 0;
}

static int lpm_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	const struct map_ops *hops = &map_hash_ops;
	uint32_t max_plen = (m->key_size - 4) * 8;
	struct lpm *l;
	int err = hops->alloc(shm, m);

	if (err)
		return err;
	m->priv2_off = shm_alloc(shm, sizeof(*l) + 4 * (max_plen + 1), 64);
	if ((err = map_own(m, m->priv2_off)))
		return err;
	l = shm_ptr(shm, m->priv2_off);
	l->max_plen = max_plen;
	return shm_mutex_init(&l->lock);
}

static int lpm_handle_init(struct bpftime_map *h)
{
	int err = map_hash_ops.handle_init(h);
	uint32_t max_plen = (h->key_size - 4) * 8;
	struct lpm *l = shm_ptr(h->shm, h->m->priv2_off);

	if (err)
		return err;
	if (!shm_range_ok(h->shm, h->m->priv2_off, sizeof(*l) + 4 * ((uint64_t)max_plen + 1)) ||
	    l->max_plen != max_plen)
		return map_corrupt(h, "prefix counts out of range");
	h->local = l;
	return 0;
}

static inline struct lpm *lpm_of(struct bpftime_map *h)
{
	return h->local;
}

/* key = {u32 prefixlen, data}; dst gets prefixlen @plen and data masked */
static void mask_key(struct bpftime_map *h, const void *key, uint32_t plen, unsigned char *dst)
{
	uint32_t dlen = h->key_size - 4, full = plen / 8, rem = plen % 8;

	memcpy(dst, &plen, 4);
	memcpy(dst + 4, (const unsigned char *)key + 4, full);
	if (full < dlen) {
		dst[4 + full] = rem ? (unsigned char)(((const unsigned char *)key)[4 + full] &
						      (0xff00 >> rem))
				    : 0;
		memset(dst + 4 + full + 1, 0, dlen - full - 1);
	}
}

static void *lpm_lookup(struct bpftime_map *h, const void *key)
{
	struct lpm *l = lpm_of(h);
	unsigned char buf[4 + LPM_DATA_MAX];
	uint32_t plen;

	memcpy(&plen, key, 4);
	if (plen > LPM_MAX_PLEN(h))
		plen = LPM_MAX_PLEN(h);
	for (int64_t p = plen; p >= 0; p--) {
		void *v;

		if (!atomic_load_explicit(&l->counts[p], memory_order_acquire))
			continue;
		mask_key(h, key, (uint32_t)p, buf);
		v = htab_lookup_elem_key(h, buf);
		if (v)
			return v;
	}
	return NULL;
}

/* as lpm_lookup, but copying the value with the hash map's torn-read
 * protection (a value replaced under us is never returned half old) */
static int lpm_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	struct lpm *l = lpm_of(h);
	unsigned char buf[4 + LPM_DATA_MAX];
	uint32_t plen;
	int err;

	UNUSED(flags);
	if (!key)
		return -EINVAL;
	memcpy(&plen, key, 4);
	if (plen > LPM_MAX_PLEN(h))
		plen = LPM_MAX_PLEN(h);
	for (int64_t p = plen; p >= 0; p--) {
		if (!atomic_load_explicit(&l->counts[p], memory_order_acquire))
			continue;
		mask_key(h, key, (uint32_t)p, buf);
		err = map_hash_ops.sys_lookup(h, buf, value, 0);
		if (err != -ENOENT)
			return err; /* found, or a corrupt table (-EBADMSG) */
	}
	return -ENOENT;
}

/* repair: counts the entry, and gives it back its key as given if the
 * dead writer did not get to store it (then the masked key stands in) */
static long count_prefix(struct bpftime_map *h, const void *key, void *value, void *ctx)
{
	unsigned char buf[4 + LPM_DATA_MAX];
	char *given = (char *)value + h->vsize8;
	struct lpm *l = ctx;
	uint32_t plen, gplen;

	memcpy(&plen, key, 4);
	if (plen <= LPM_MAX_PLEN(h))
		atomic_fetch_add(&l->counts[plen], 1);
	memcpy(&gplen, given, 4);
	if (gplen != plen || plen > LPM_MAX_PLEN(h) ||
	    (mask_key(h, given, plen, buf), memcmp(buf, key, h->key_size)))
		memcpy(given, key, h->key_size);
	return 0;
}

/* lock held: enters the writer section, first rebuilding the counts if
 * the last writer died inside it */
static void lpm_enter(struct bpftime_map *h, struct lpm *l)
{
	shm_lock(&l->lock);
	if (unlikely(l->busy)) {
		for (uint32_t p = 0; p <= LPM_MAX_PLEN(h); p++)
			atomic_store(&l->counts[p], 0);
		map_hash_ops.for_each(h, count_prefix, l);
	}
	l->busy = 1;
	atomic_signal_fence(memory_order_seq_cst);
}

static void lpm_leave(struct lpm *l)
{
	atomic_signal_fence(memory_order_seq_cst);
	l->busy = 0;
	shm_unlock(&l->lock);
}

static int lpm_update_common(struct bpftime_map *h, const void *key, const void *value,
			     uint64_t flags)
{
	struct lpm *l = lpm_of(h);
	unsigned char buf[4 + LPM_DATA_MAX];
	uint32_t plen;
	bool exists;
	int err;

	if (flags > BPFTIME_EXIST)
		return -EINVAL;
	memcpy(&plen, key, 4);
	if (plen > LPM_MAX_PLEN(h))
		return -EINVAL;
	mask_key(h, key, plen, buf);
	lpm_enter(h, l);
	exists = htab_lookup_elem_key(h, buf) != NULL;
	if (!exists && htab_count(h) >= (int)h->max_entries && flags != BPFTIME_EXIST) {
		lpm_leave(l);
		return -ENOSPC;
	}
	/* a new prefix is counted before it is linked, so that a reader
	 * never skips a length that has an entry (a count one too high, left
	 * by a writer killed in between or by a failed update, costs a
	 * reader one probe until the next writer recounts) */
	if (!exists)
		atomic_fetch_add(&l->counts[plen], 1);
	err = map_hash_ops.sys_update(h, buf, value, flags);
	if (!err) {
		/* the element the update installed: record the key as given */
		char *v = htab_lookup_elem_key(h, buf);

		if (v)
			memcpy(v + h->vsize8, key, h->key_size);
	} else if (!exists) {
		atomic_fetch_sub(&l->counts[plen], 1);
	}
	lpm_leave(l);
	return err;
}

static int lpm_delete_common(struct bpftime_map *h, const void *key)
{
	struct lpm *l = lpm_of(h);
	unsigned char buf[4 + LPM_DATA_MAX];
	uint32_t plen;
	int err;

	if (!key)
		return -EINVAL;
	memcpy(&plen, key, 4);
	if (plen > LPM_MAX_PLEN(h))
		return -EINVAL;
	mask_key(h, key, plen, buf);
	lpm_enter(h, l);
	err = map_hash_ops.sys_delete(h, buf);
	if (!err)
		atomic_fetch_sub(&l->counts[plen], 1);
	lpm_leave(l);
	return err;
}

static int lpm_sys_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	if (!key || !value)
		return -EINVAL;
	return lpm_update_common(h, key, value, flags);
}

static long lpm_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	return lpm_update_common(h, key, value, flags);
}

static int lpm_sys_delete(struct bpftime_map *h, const void *key)
{
	return lpm_delete_common(h, key);
}

static long lpm_delete(struct bpftime_map *h, const void *key)
{
	return lpm_delete_common(h, key);
}

/* <0: a comes before b in the kernel's iteration order */
static int lpm_cmp(uint32_t dlen, const unsigned char *a, const unsigned char *b)
{
	uint32_t pa, pb, l;

	memcpy(&pa, a, 4);
	memcpy(&pb, b, 4);
	l = pa < pb ? pa : pb;
	for (uint32_t i = 0; i < l && i < dlen * 8; i++) {
		int ba = (a[4 + i / 8] >> (7 - i % 8)) & 1, bb = (b[4 + i / 8] >> (7 - i % 8)) & 1;

		if (ba != bb)
			return ba - bb;
	}
	return pa == pb ? 0 : (pa > pb ? -1 : 1);
}

struct next_ctx {
	uint32_t key_size;
	const unsigned char *after; /* NULL: find the minimum */
	unsigned char best[4 + LPM_DATA_MAX];
	const void *best_value;
};

static long next_cb(struct bpftime_map *h, const void *key, void *value, void *ctx)
{
	struct next_ctx *c = ctx;
	uint32_t dlen = c->key_size - 4;

	UNUSED(h);
	UNUSED(value);
	if (c->after && lpm_cmp(dlen, key, c->after) <= 0)
		return 0;
	if (!c->best_value || lpm_cmp(dlen, key, c->best) < 0) {
		memcpy(c->best, key, c->key_size);
		c->best_value = value;
	}
	return 0;
}

static int lpm_get_next_key(struct bpftime_map *h, const void *key, void *next)
{
	unsigned char buf[4 + LPM_DATA_MAX];
	struct next_ctx c = { .key_size = h->key_size };

	if (key) {
		uint32_t plen;

		memcpy(&plen, key, 4);
		if (plen <= LPM_MAX_PLEN(h)) {
			mask_key(h, key, plen, buf);
			if (htab_lookup_elem_key(h, buf))
				c.after = buf;
		}
	}
	map_hash_ops.for_each(h, next_cb, &c);
	if (!c.best_value)
		return -ENOENT;
	memcpy(next, (const char *)c.best_value + h->vsize8, h->key_size); /* as given */
	return 0;
}

const struct map_ops map_lpm_ops = {
	.alloc_check = lpm_alloc_check,
	.alloc = lpm_alloc,
	.handle_init = lpm_handle_init,
	.release = htab_release,
	.sys_lookup = lpm_sys_lookup,
	.sys_update = lpm_sys_update,
	.sys_delete = lpm_sys_delete,
	.get_next_key = lpm_get_next_key,
	.lookup = lpm_lookup,
	.update = lpm_update,
	.delete = lpm_delete,
};
