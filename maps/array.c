/* SPDX-License-Identifier: MIT */
/* maps/array.c: ARRAY (incl. BPF_F_MMAPABLE), PERCPU_ARRAY and the fd
 * arrays: PROG_ARRAY, PERF_EVENT_ARRAY, ARRAY_OF_MAPS; plus
 * bpf_perf_event_output into a perf event's ring.
 *
 * Storage: max_entries values round_up(value_size, 8) apart, contiguous
 * (per-CPU: ncpus of them per index, index-major).  Mmapable arrays start on
 * a page and span whole pages, so the syscall server can mmap them from the
 * shm object at m->mmap_off.  Fd arrays store the referenced object's offset
 * (a u64 in the 8-byte slot) and hold a reference on it.
 *
 * Torn values.  Values wider than 8 bytes have a sequence count each (a u32
 * array at priv2_off), odd while an update (syscall or helper) writes the
 * value: updates take it like a lock (CAS even -> odd), copying lookups
 * retry while it is odd or moved, so they never return a mix of two
 * updates.  A writer that died with the count odd is taken over after
 * SEQ_DEAD_NS.  Programs writing through a lookup's pointer bypass it, as
 * they bypass everything in the kernel.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "common/compiler.h"

#define ARRAY_FLAGS                                                                       \
	(BPFTIME_F_NUMA_NODE | BPFTIME_F_MMAPABLE | BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | \
	 BPFTIME_F_RDONLY_PROG | BPFTIME_F_WRONLY_PROG | BPFTIME_F_INNER_MAP |            \
	 BPFTIME_F_PRESERVE_ELEMS)
#define PCPU_MIN_UNIT_SIZE (32u << 10)
#define SEQ_SPINS	   1024
#define SEQ_DEAD_NS	   (200 * 1000000ULL) /* odd this long: its writer died */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static inline _Atomic uint32_t *seq_of(struct bpftime_map *h, uint32_t idx)
{
	return h->local ? (_Atomic uint32_t *)h->local + idx : NULL;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Takes the element's count from even to odd (a writer's lock); a count
 * that stays odd for SEQ_DEAD_NS belonged to a writer that died: it is taken
 * over as it is (odd, ours now). */
static void seq_lock(_Atomic uint32_t *s)
{
	uint32_t v = atomic_load_explicit(s, memory_order_relaxed), held = v;
	uint64_t since = 0;

	for (int spins = 0;; spins++) {
		if (!(v & 1)) {
			if (atomic_compare_exchange_weak_explicit(
				    s, &v, v + 1, memory_order_acquire, memory_order_relaxed))
				return;
			continue;
		}
		if (v != held) { /* another writer: progress */
			held = v;
			since = 0;
		}
		if (spins >= SEQ_SPINS) {
			uint64_t now = mono_ns();

			if (!since)
				since = now;
			else if (now - since > SEQ_DEAD_NS &&
				 atomic_compare_exchange_strong(s, &v, v + 2))
				return;
			sched_yield();
		} else {
			cpu_relax();
		}
		v = atomic_load_explicit(s, memory_order_relaxed);
	}
}

static inline void seq_unlock(_Atomic uint32_t *s)
{
	atomic_store_explicit(s, atomic_load_explicit(s, memory_order_relaxed) + 1,
			      memory_order_release);
}

static inline char *elem(struct bpftime_map *h, uint32_t idx)
{
	return h->priv + (size_t)idx * h->vsize8;
}

static inline char *pelem(struct bpftime_map *h, uint32_t idx, uint32_t cpu)
{
	return h->priv + ((size_t)idx * h->ncpus + cpu) * h->vsize8;
}

static int array_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	bool percpu = m->map_type == BPFTIME_MAP_PERCPU_ARRAY;

	UNUSED(shm);
	if (!m->max_entries || m->key_size != 4 || !m->value_size || m->map_flags & ~ARRAY_FLAGS)
		return -EINVAL;
	if (m->map_type != BPFTIME_MAP_ARRAY &&
	    m->map_flags & (BPFTIME_F_MMAPABLE | BPFTIME_F_INNER_MAP))
		return -EINVAL;
	if (m->map_type != BPFTIME_MAP_PERF_EVENT_ARRAY && m->map_flags & BPFTIME_F_PRESERVE_ELEMS)
		return -EINVAL;
	if (percpu && MAP_ROUND8(m->value_size) > PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	if (m->value_size > (1u << 30))
		return -E2BIG;
	return 0;
}

static int fd_array_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	if (m->value_size != 4 || m->map_flags & BPFTIME_F_MMAPABLE)
		return -EINVAL;
	return array_alloc_check(shm, m);
}

static int array_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	uint64_t n = m->map_type == BPFTIME_MAP_PERCPU_ARRAY ? shm->ncpus : 1;
	uint64_t size = (uint64_t)MAP_ROUND8(m->value_size) * m->max_entries * n;
	size_t align = 16;
	int err;

	if (m->map_flags & BPFTIME_F_MMAPABLE) {
		align = shm->page_size;
		size = (size + shm->page_size - 1) & ~(uint64_t)(shm->page_size - 1);
	}
	if (size > shm->hdr->arena_size)
		return -ENOMEM;
	m->priv_off = shm_alloc(shm, size, align);
	err = map_own(m, m->priv_off);
	if (err)
		return err;
	if (m->map_flags & BPFTIME_F_MMAPABLE) {
		m->mmap_off = m->priv_off;
		m->mmap_len = size;
	}
	if (m->value_size > 8 &&
	    (m->map_type == BPFTIME_MAP_ARRAY || m->map_type == BPFTIME_MAP_PERCPU_ARRAY)) {
		m->priv2_off = shm_alloc(shm, (size_t)m->max_entries * 4, 64);
		err = map_own(m, m->priv2_off);
		if (err)
			return err;
	}
	return 0;
}

static int array_handle_init(struct bpftime_map *h)
{
	h->local = h->m->priv2_off ? shm_ptr(h->shm, h->m->priv2_off) : NULL;
	return 0;
}

static void fd_array_release(struct bpftime_shm *shm, struct map_record *m)
{
	uint64_t *slots = shm_ptr(shm, m->priv_off);

	if (!m->priv_off)
		return;
	for (uint32_t i = 0; i < m->max_entries; i++) {
		uint64_t off = atomic_exchange((_Atomic uint64_t *)&slots[i], 0);

		if (off)
			shm_obj_put(shm, off);
	}
}

static int get_index(const void *key, uint32_t *idx)
{
	if (!key)
		return -EINVAL;
	memcpy(idx, key, 4);
	return 0;
}

/* ---- plain and per-CPU arrays ----------------------------------------- */

static void *array_lookup(struct bpftime_map *h, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	if (unlikely(idx >= h->max_entries))
		return NULL;
	return elem(h, idx);
}

static void *percpu_array_lookup(struct bpftime_map *h, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	if (unlikely(idx >= h->max_entries))
		return NULL;
	return pelem(h, idx, map_this_cpu(h));
}

static void *percpu_array_lookup_cpu(struct bpftime_map *h, const void *key, uint32_t cpu)
{
	uint32_t idx = *(const uint32_t *)key;

	if (idx >= h->max_entries)
		return NULL;
	return pelem(h, idx, cpu);
}

static void copy_value_out(struct bpftime_map *h, uint32_t idx, void *value, uint64_t flags);

/* A copy no update is writing (see the file comment). */
static int array_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	_Atomic uint32_t *s;
	uint32_t idx, s1;

	if (get_index(key, &idx))
		return -EINVAL;
	if (idx >= h->max_entries)
		return -ENOENT;
	s = seq_of(h, idx);
	if (!s || (flags & BPFTIME_F_LOCK)) {
		copy_value_out(h, idx, value, flags);
		return 0;
	}
	for (int spins = 0; spins < SEQ_SPINS; spins++) {
		s1 = atomic_load_explicit(s, memory_order_acquire);
		if (s1 & 1) {
			cpu_relax();
			continue;
		}
		copy_value_out(h, idx, value, flags);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(s, memory_order_relaxed) == s1)
			return 0;
	}
	/* a writer keeps it busy (or died in it): copy as a writer would */
	seq_lock(s);
	copy_value_out(h, idx, value, flags);
	seq_unlock(s);
	return 0;
}

static void copy_value_out(struct bpftime_map *h, uint32_t idx, void *value, uint64_t flags)
{
	char *v;

	if (h->type == BPFTIME_MAP_PERCPU_ARRAY) {
		for (uint32_t c = 0; c < h->ncpus; c++)
			memcpy((char *)value + (size_t)c * h->vsize8, pelem(h, idx, c), h->vsize8);
		return;
	}
	v = elem(h, idx);
	if (flags & BPFTIME_F_LOCK) {
		map_value_lock(h, v);
		map_copy_value(h, value, v);
		map_value_unlock(h, v);
		if (h->m->spin_lock_off >= 0)
			memset((char *)value + h->m->spin_lock_off, 0, 4);
		return;
	}
	memcpy(value, v, h->value_size);
	if (h->m->spin_lock_off >= 0)
		memset((char *)value + h->m->spin_lock_off, 0, 4);
}

static int array_check_update(struct bpftime_map *h, uint32_t idx, uint64_t flags)
{
	if ((flags & ~(uint64_t)BPFTIME_F_LOCK) > BPFTIME_EXIST)
		return -EINVAL;
	if (idx >= h->max_entries)
		return -E2BIG;
	if (flags & BPFTIME_NOEXIST)
		return -EEXIST;
	if ((flags & BPFTIME_F_LOCK) &&
	    (h->m->spin_lock_off < 0 || h->type == BPFTIME_MAP_PERCPU_ARRAY))
		return -EINVAL;
	return 0;
}

static void store_value(struct bpftime_map *h, char *dst, const void *src, uint64_t flags)
{
	if (flags & BPFTIME_F_LOCK) {
		map_value_lock(h, dst);
		map_copy_value(h, dst, src);
		map_value_unlock(h, dst);
	} else if (h->m->spin_lock_off >= 0) {
		map_copy_value(h, dst, src);
	} else {
		memcpy(dst, src, h->value_size);
	}
}

static int array_sys_update(struct bpftime_map *h, const void *key, const void *value,
			    uint64_t flags)
{
	_Atomic uint32_t *s;
	uint32_t idx;
	int err;

	if (get_index(key, &idx))
		return -EINVAL;
	err = array_check_update(h, idx, flags);
	if (err)
		return err;
	s = (flags & BPFTIME_F_LOCK) ? NULL : seq_of(h, idx);
	if (s)
		seq_lock(s);
	if (h->type == BPFTIME_MAP_PERCPU_ARRAY) {
		for (uint32_t c = 0; c < h->ncpus; c++)
			memcpy(pelem(h, idx, c), (const char *)value + (size_t)c * h->vsize8,
			       h->vsize8);
	} else {
		store_value(h, elem(h, idx), value, flags);
	}
	if (s)
		seq_unlock(s);
	return 0;
}

static long array_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	uint32_t idx = *(const uint32_t *)key;
	int err = array_check_update(h, idx, flags);
	_Atomic uint32_t *s;

	if (err)
		return err;
	s = (flags & BPFTIME_F_LOCK) ? NULL : seq_of(h, idx);
	if (s)
		seq_lock(s);
	if (h->type == BPFTIME_MAP_PERCPU_ARRAY)
		memcpy(pelem(h, idx, map_this_cpu(h)), value, h->value_size);
	else
		store_value(h, elem(h, idx), value, flags);
	if (s)
		seq_unlock(s);
	return 0;
}

static int array_delete(struct bpftime_map *h, const void *key)
{
	UNUSED(h);
	UNUSED(key);
	return -EINVAL;
}

static long array_delete_prog(struct bpftime_map *h, const void *key)
{
	return array_delete(h, key);
}

static int array_get_next_key(struct bpftime_map *h, const void *key, void *next_key)
{
	uint32_t idx = key ? *(const uint32_t *)key : UINT32_MAX, next;

	if (idx >= h->max_entries) {
		next = 0;
	} else {
		if (idx == h->max_entries - 1)
			return -ENOENT;
		next = idx + 1;
	}
	memcpy(next_key, &next, 4);
	return 0;
}

static long array_for_each(struct bpftime_map *h, bpftime_map_elem_fn fn, void *ctx)
{
	long n = 0;

	for (uint32_t i = 0; i < h->max_entries; i++) {
		void *v = h->type == BPFTIME_MAP_PERCPU_ARRAY ? pelem(h, i, map_this_cpu(h))
							      : elem(h, i);

		n++;
		if (fn(h, &i, v, ctx))
			break;
	}
	return n;
}

const struct map_ops map_array_ops = {
	.alloc_check = array_alloc_check,
	.alloc = array_alloc,
	.handle_init = array_handle_init,
	.sys_lookup = array_sys_lookup,
	.sys_update = array_sys_update,
	.sys_delete = array_delete,
	.get_next_key = array_get_next_key,
	.lookup = array_lookup,
	.update = array_update,
	.delete = array_delete_prog,
	.for_each = array_for_each,
};

const struct map_ops map_percpu_array_ops = {
	.alloc_check = array_alloc_check,
	.alloc = array_alloc,
	.handle_init = array_handle_init,
	.sys_lookup = array_sys_lookup,
	.sys_update = array_sys_update,
	.sys_delete = array_delete,
	.get_next_key = array_get_next_key,
	.lookup = percpu_array_lookup,
	.update = array_update,
	.delete = array_delete_prog,
	.lookup_percpu = percpu_array_lookup_cpu,
	.for_each = array_for_each,
};

/* ---- fd arrays -------------------------------------------------------- */

static inline _Atomic uint64_t *fd_slot(struct bpftime_map *h, uint32_t idx)
{
	return (_Atomic uint64_t *)(h->priv + (size_t)idx * 8);
}

static int fd_array_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	uint32_t idx;

	UNUSED(flags);
	if (get_index(key, &idx))
		return -EINVAL;
	if (h->type == BPFTIME_MAP_PERF_EVENT_ARRAY)
		return -ENOTSUPP;
	if (idx >= h->max_entries)
		return -ENOENT;
	return map_fd_sys_value(h, atomic_load(fd_slot(h, idx)), value);
}

static int fd_array_sys_update(struct bpftime_map *h, const void *key, const void *value,
			       uint64_t flags)
{
	uint32_t idx;
	uint64_t obj, old;
	int err = 0;

	if (get_index(key, &idx))
		return -EINVAL;
	if (flags != BPFTIME_ANY)
		return -EINVAL;
	if (idx >= h->max_entries)
		return -E2BIG;
	obj = map_fd_get(h, value, &err);
	if (!obj)
		return err;
	old = atomic_exchange(fd_slot(h, idx), obj);
	map_fd_put(h, old);
	return 0;
}

static int fd_array_sys_delete(struct bpftime_map *h, const void *key)
{
	uint32_t idx;
	uint64_t old;

	if (get_index(key, &idx))
		return -EINVAL;
	if (idx >= h->max_entries)
		return -E2BIG;
	old = atomic_exchange(fd_slot(h, idx), 0);
	if (!old)
		return -ENOENT;
	map_fd_put(h, old);
	return 0;
}

static long fd_array_delete_prog(struct bpftime_map *h, const void *key)
{
	/* programs may not delete from fd arrays (the verifier refuses) */
	UNUSED(h);
	UNUSED(key);
	return -EINVAL;
}

static void *array_of_maps_lookup(struct bpftime_map *h, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;
	uint64_t off;

	if (unlikely(idx >= h->max_entries))
		return NULL;
	off = atomic_load_explicit(fd_slot(h, idx), memory_order_acquire);
	if (!off)
		return NULL;
	return map_handle_of_obj(h->shm, shm_ptr(h->shm, off));
}

uint32_t bpftime_map__prog_array_get(struct bpftime_map *h, uint32_t index)
{
	uint64_t off;

	if (unlikely(h->type != BPFTIME_MAP_PROG_ARRAY || index >= h->max_entries))
		return 0;
	off = atomic_load_explicit(fd_slot(h, index), memory_order_acquire);
	return off ? ((struct shm_obj *)shm_ptr(h->shm, off))->id : 0;
}

/* Tools (bpftimetool export): the id of the object at @index of any fd
 * array, the perf event array included, whose syscall lookup is refused. */
uint32_t bpftime_map__fd_array_get(struct bpftime_map *h, uint32_t index)
{
	uint64_t off;

	if (!h->fd_values || h->type == BPFTIME_MAP_HASH_OF_MAPS || index >= h->max_entries)
		return 0;
	off = atomic_load_explicit(fd_slot(h, index), memory_order_acquire);
	return off ? ((struct shm_obj *)shm_ptr(h->shm, off))->id : 0;
}

const struct map_ops map_prog_array_ops = {
	.alloc_check = fd_array_alloc_check,
	.alloc = array_alloc,
	.release = fd_array_release,
	.sys_lookup = fd_array_sys_lookup,
	.sys_update = fd_array_sys_update,
	.sys_delete = fd_array_sys_delete,
	.get_next_key = array_get_next_key,
	.delete = fd_array_delete_prog,
};

const struct map_ops map_array_of_maps_ops = {
	.alloc_check = fd_array_alloc_check,
	.alloc = array_alloc,
	.release = fd_array_release,
	.sys_lookup = fd_array_sys_lookup,
	.sys_update = fd_array_sys_update,
	.sys_delete = fd_array_sys_delete,
	.get_next_key = array_get_next_key,
	.lookup = array_of_maps_lookup,
	.delete = fd_array_delete_prog,
};

const struct map_ops map_perf_event_array_ops = {
	.alloc_check = fd_array_alloc_check,
	.alloc = array_alloc,
	.release = fd_array_release,
	.sys_lookup = fd_array_sys_lookup,
	.sys_update = fd_array_sys_update,
	.sys_delete = fd_array_sys_delete,
	.get_next_key = array_get_next_key,
	.delete = fd_array_delete_prog,
};

/* ---- bpf_perf_event_output -------------------------------------------
 * Writes a PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: {u32 type = 9, u16 misc,
 * u16 size}, u32 raw size, the bytes, padded so that the record is a
 * multiple of 8 (the raw size counts the padding, as the kernel's does).
 * Records wrap around the data area byte by byte; the consumer
 * (perf_buffer) copies wrapped records out.  A full ring drops the record
 * and counts it (in the meta page's reserved area); the next record that
 * fits is preceded by a PERF_RECORD_LOST {header, u64 id, u64 lost}, as the
 * kernel does, which perf_buffer reports through its lost callback.
 *
 * No drop goes unreported: a sample is written only if a LOST record still
 * fits after it, so the first drop after a sample writes its LOST record at
 * once; drops after that (the ring still full) wait in the counter, which
 * bpftime_perf_ring_flush_lost() (the loader's epoll_wait, in the consumer's
 * thread, so the consumer is not reading) adds to a new LOST record or to
 * the last one when the consumer has not reached it yet.
 *
 * A record written into an empty ring stamps the ring with the segment's
 * next data sequence (PERF_META_READY), so that the loader's epoll_wait can
 * report ready rings in the order they became ready, as the kernel's ready
 * list does (bpftrace drops what it reads after its exit() record). */
#define PERF_META_HEAD	    1024
#define PERF_META_TAIL	    1032
#define PERF_META_LOCK	    2048
#define PERF_META_LOST	    2112 /* drops not reported yet */
#define PERF_META_LAST_LOST 2120 /* head position of the last LOST record + 1, 0: none */
#define PERF_META_READY	    2128 /* data sequence when the ring last became non-empty */
#define PERF_RECORD_LOST    2
#define PERF_RECORD_SAMPLE  9

static void ring_copy(char *data, uint64_t size, uint64_t pos, const void *src, uint64_t len)
{
	uint64_t at = pos & (size - 1), first = len < size - at ? len : size - at;

	memcpy(data + at, src, first);
	if (first < len)
		memcpy(data, (const char *)src + first, len - first);
}

/* writes a LOST record for @lost drops at @head (the caller publishes it) */
static void write_lost(char *meta, size_t page, uint64_t dsize, uint64_t head, uint64_t lost)
{
	struct {
		uint32_t type;
		uint16_t misc;
		uint16_t size;
		uint64_t id;
		uint64_t lost;
	} __attribute__((packed)) lr = { PERF_RECORD_LOST, 0, 24, 0, lost };

	ring_copy(meta + page, dsize, head, &lr, sizeof(lr));
	*(uint64_t *)(meta + PERF_META_LAST_LOST) = head + 1;
}

int bpftime_perf_ring_flush_lost(struct bpftime_shm *shm, uint64_t ring_off, uint64_t ring_len)
{
	char *meta = shm_ptr(shm, ring_off);
	uint64_t dsize = ring_len - shm->page_size, head, tail, lost, last;
	int ret = 0;

	if (!atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST),
				  memory_order_relaxed))
		return 0;
	shm_lock((struct shm_mutex *)(meta + PERF_META_LOCK));
	head = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_HEAD),
				    memory_order_relaxed);
	tail = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_TAIL),
				    memory_order_acquire);
	lost = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST),
				    memory_order_relaxed);
	last = *(uint64_t *)(meta + PERF_META_LAST_LOST);
	if (!lost)
		goto out;
	if (head + 24 - tail <= dsize) {
		write_lost(meta, shm->page_size, dsize, head, lost);
		atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_HEAD), head + 24,
				      memory_order_release);
	} else if (last && last - 1 >= tail && last - 1 + 24 <= head) {
		/* the consumer has not reached the last LOST record: add to it */
		uint64_t n;
		char *data = meta + shm->page_size;
		uint64_t at = last - 1 + 16, off = at & (dsize - 1);

		if (off + 8 <= dsize) {
			memcpy(&n, data + off, 8);
			n += lost;
			memcpy(data + off, &n, 8);
		} else {
			ret = -EAGAIN; /* the count straddles the end: next time */
			goto out;
		}
	} else {
		ret = -EAGAIN;
		goto out;
	}
	atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST), 0, memory_order_relaxed);
	ret = 1;
out:
	shm_unlock((struct shm_mutex *)(meta + PERF_META_LOCK));
	return ret;
}

uint32_t bpftime_perf_ring_ready_seq(const void *meta)
{
	return atomic_load_explicit(
		(_Atomic const uint32_t *)((const char *)meta + PERF_META_READY),
		memory_order_relaxed);
}

long bpftime_map__perf_event_output(struct bpftime_map *h, uint64_t flags, const void *data,
				    uint64_t size)
{
	struct bpftime_shm *shm = h->shm;
	uint64_t idx = flags & BPFTIME_F_INDEX_MASK, off, ring, dsize, head, tail, raw, rec, lost;
	struct shm_perf_event *pe;
	char *meta;
	struct {
		uint32_t type;
		uint16_t misc;
		uint16_t size;
		uint32_t raw_size;
	} __attribute__((packed)) hdr;
	static const char zeros[8];

	if (unlikely(h->kernel))
		return map_kernel_perf_output(h, flags, data, size);
	if (h->type != BPFTIME_MAP_PERF_EVENT_ARRAY || (flags & ~BPFTIME_F_INDEX_MASK))
		return -EINVAL;
	if (idx == BPFTIME_F_CURRENT_CPU)
		idx = map_this_cpu(h);
	if (idx >= h->max_entries)
		return -E2BIG;
	off = atomic_load_explicit(fd_slot(h, (uint32_t)idx), memory_order_acquire);
	if (!off)
		return -ENOENT;
	pe = shm_ptr(shm, off);
	ring = atomic_load_explicit(&pe->ring_off, memory_order_acquire);
	if (!ring)
		return -ENOENT;
	meta = shm_ptr(shm, ring);
	dsize = pe->ring_len - shm->page_size;
	raw = ((size + 4 + 7) & ~7ULL) - 4;
	rec = 8 + 4 + raw;
	if (rec > 0xffff)
		return -E2BIG;
	hdr.type = PERF_RECORD_SAMPLE;
	hdr.misc = 0;
	hdr.size = (uint16_t)rec;
	hdr.raw_size = (uint32_t)raw;
	shm_lock((struct shm_mutex *)(meta + PERF_META_LOCK));
	head = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_HEAD),
				    memory_order_relaxed);
	tail = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_TAIL),
				    memory_order_acquire);
	lost = atomic_load_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST),
				    memory_order_relaxed);
	if (head == tail)
		atomic_store_explicit((_Atomic uint32_t *)(meta + PERF_META_READY),
				      bpftime_shm__data_seq(shm) + 1, memory_order_relaxed);
	if (head + rec + 24 + (lost ? 24 : 0) - tail > dsize) {
		/* dropped: reported at once if a LOST record fits */
		lost++;
		if (head + 24 - tail <= dsize) {
			write_lost(meta, shm->page_size, dsize, head, lost);
			atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_HEAD),
					      head + 24, memory_order_release);
			lost = 0;
		}
		atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST), lost,
				      memory_order_relaxed);
		shm_unlock((struct shm_mutex *)(meta + PERF_META_LOCK));
		shm_data_notify(shm);
		return -ENOSPC;
	}
	if (lost) {
		write_lost(meta, shm->page_size, dsize, head, lost);
		head += 24;
		atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_LOST), 0,
				      memory_order_relaxed);
	}
	ring_copy(meta + shm->page_size, dsize, head, &hdr, sizeof(hdr));
	ring_copy(meta + shm->page_size, dsize, head + sizeof(hdr), data, size);
	if (raw > size)
		ring_copy(meta + shm->page_size, dsize, head + sizeof(hdr) + size, zeros,
			  raw - size);
	atomic_store_explicit((_Atomic uint64_t *)(meta + PERF_META_HEAD), head + rec,
			      memory_order_release);
	shm_unlock((struct shm_mutex *)(meta + PERF_META_LOCK));
	shm_data_notify(shm);
	return 0;
}
