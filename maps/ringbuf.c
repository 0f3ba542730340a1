/* SPDX-License-Identifier: MIT */
/* maps/ringbuf.c: RINGBUF with the kernel's layout and record format, so
 * libbpf's ring_buffer consumer works on a mapping of it unchanged.
 *
 * In the segment (page aligned, m->mmap_off):
 *   page 0   consumer page: u64 consumer_pos at byte 0 (the consumer writes it)
 *   page 1   producer page: u64 producer_pos at byte 0; our producer lock at
 *            byte 64 (libbpf only reads byte 0)
 *   page 2.. data, max_entries bytes (a power of two)
 * Records: u32 len (BUSY bit 31 while reserved, DISCARD bit 30), u32 (the
 * kernel's pg_off, which consumers ignore; here the reserving thread's tid),
 * then the sample, the whole padded to 8 bytes.
 *
 * Producers need records to be contiguous even when they wrap, so each
 * process maps the data twice, back to back:
 *   [consumer][producer][data][data again]
 * submit/discard find the ring of a record through a per-process registry
 * of these mappings.  A process killed between reserve and submit would
 * leave a BUSY record that the consumer waits behind forever (the kernel
 * cannot be killed there): a producer that finds the ring full discards the
 * BUSY records whose reserving thread no longer exists (kill(tid, 0) fails
 * with ESRCH; producers in another pid namespace sharing the segment would
 * look dead too, so this repair assumes one pid namespace).  BPF_RB_* wakeup
 * flags are honoured through the segment's data sequence.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#define RB_LOCK_OFF   64
#define RB_MAX_MAPPED 256

struct rb_local {
	struct bpftime_map *h;
	char *cons;
	char *prod;
	char *data;
	uint64_t mask;
	char *map_base;
	size_t map_len;
};

/* this process's ring mappings: [lo, hi) -> ring (entries are never moved;
 * a freed entry has lo 0) */
static struct {
	_Atomic uintptr_t lo;
	uintptr_t hi;
	struct rb_local *l;
} rb_reg[RB_MAX_MAPPED];
static _Atomic int rb_nreg;
static pthread_mutex_t rb_reg_lock = PTHREAD_MUTEX_INITIALIZER;

static int rb_register(struct rb_local *l)
{
	int i, ret = -ENOSPC;

	pthread_mutex_lock(&rb_reg_lock);
	for (i = 0; i < RB_MAX_MAPPED; i++) {
		if (atomic_load(&rb_reg[i].lo))
			continue;
		rb_reg[i].hi = (uintptr_t)l->map_base + l->map_len;
		rb_reg[i].l = l;
		atomic_store_explicit(&rb_reg[i].lo, (uintptr_t)l->map_base, memory_order_release);
		if (i >= atomic_load(&rb_nreg))
			atomic_store(&rb_nreg, i + 1);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&rb_reg_lock);
	return ret;
}

static void rb_unregister(struct rb_local *l)
{
	pthread_mutex_lock(&rb_reg_lock);
	for (int i = 0; i < RB_MAX_MAPPED; i++)
		if (rb_reg[i].l == l)
			atomic_store(&rb_reg[i].lo, 0);
	pthread_mutex_unlock(&rb_reg_lock);
}

static struct rb_local *rb_find(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	int n = atomic_load_explicit(&rb_nreg, memory_order_acquire);

	for (int i = 0; i < n; i++) {
		uintptr_t lo = atomic_load_explicit(&rb_reg[i].lo, memory_order_acquire);

		if (lo && a >= lo && a < rb_reg[i].hi)
			return rb_reg[i].l;
	}
	return NULL;
}

static int rb_alloc_check(struct bpftime_shm *shm, struct map_record *m)
{
	if (m->key_size || m->value_size || (m->map_flags & ~BPFTIME_F_NUMA_NODE) ||
	    !m->max_entries || (m->max_entries & (m->max_entries - 1)) ||
	    m->max_entries % shm->page_size)
		return -EINVAL;
	if (m->max_entries > (1u << 30))
		return -E2BIG;
	return 0;
}

static int rb_alloc(struct bpftime_shm *shm, struct map_record *m)
{
	size_t len = 2 * shm->page_size + m->max_entries;
	char *base;
	int err;

	m->priv_off = shm_alloc(shm, len, shm->page_size);
	if ((err = map_own(m, m->priv_off)))
		return err;
	m->mmap_off = m->priv_off;
	m->mmap_len = len;
	base = shm_ptr(shm, m->priv_off);
	return shm_mutex_init((struct shm_mutex *)(base + shm->page_size + RB_LOCK_OFF));
}

static int rb_handle_init(struct bpftime_map *h)
{
	size_t ps = h->shm->page_size, data = h->max_entries;
	size_t len = 2 * ps + 2 * data;
	uint64_t off = h->m->mmap_off;
	struct rb_local *l = calloc(1, sizeof(*l));
	char *p;

	if (!l)
		return -ENOMEM;
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		free(l);
		return -ENOMEM;
	}
	if (mmap(p, 2 * ps + data, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, h->shm->fd,
		 (off_t)off) == MAP_FAILED ||
	    mmap(p + 2 * ps + data, data, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 h->shm->fd, (off_t)(off + 2 * ps)) == MAP_FAILED)
		goto fail;
	l->h = h;
	l->cons = p;
	l->prod = p + ps;
	l->data = p + 2 * ps;
	l->mask = data - 1;
	l->map_base = p;
	l->map_len = len;
	if (rb_register(l)) {
		errno = ENOSPC;
		goto fail;
	}
	h->local = l;
	return 0;
fail:
	pr_warn("ring buffer '%s': cannot map: %s\n", h->m->obj.name, strerror(errno));
	munmap(p, len);
	free(l);
	return -ENOMEM;
}

static void rb_handle_fini(struct bpftime_map *h)
{
	struct rb_local *l = h->local;

	if (!l)
		return;
	rb_unregister(l);
	munmap(l->map_base, l->map_len);
	free(l);
	h->local = NULL;
}

static inline _Atomic uint64_t *cons_pos(struct rb_local *l)
{
	return (_Atomic uint64_t *)(void *)l->cons;
}

static inline _Atomic uint64_t *prod_pos(struct rb_local *l)
{
	return (_Atomic uint64_t *)(void *)l->prod;
}

/* Producer lock held, ring full: discards the BUSY records of threads that
 * no longer exist, so that the consumer can move past them.  A consumer
 * stalls at the first BUSY record after its position, so only the first
 * few records from there are looked at: a full ring costs no long scan on
 * every failed reserve.  Returns how many were discarded (the space comes
 * back once the consumer has consumed them). */
#define RB_REPAIR_SCAN 64

static int rb_discard_dead(struct rb_local *l, uint64_t cons, uint64_t prod)
{
	int n = 0, seen = 0;

	for (uint64_t pos = cons; pos < prod && seen < RB_REPAIR_SCAN; seen++) {
		_Atomic uint32_t *hdr = (_Atomic uint32_t *)(void *)(l->data + (pos & l->mask));
		uint32_t len = atomic_load_explicit(&hdr[0], memory_order_acquire);
		uint32_t tid = atomic_load_explicit(&hdr[1], memory_order_relaxed);

		if (len & BPFTIME_RINGBUF_BUSY_BIT) {
			if (!tid || !kill((pid_t)tid, 0) || errno != ESRCH)
				break; /* a live producer: the consumer waits for it */
			if (atomic_compare_exchange_strong(&hdr[0], &len,
							   (len & ~BPFTIME_RINGBUF_BUSY_BIT) |
								   BPFTIME_RINGBUF_DISCARD_BIT))
				n++;
		}
		len &= ~(BPFTIME_RINGBUF_BUSY_BIT | BPFTIME_RINGBUF_DISCARD_BIT);
		pos += (len + BPFTIME_RINGBUF_HDR_SZ + 7) & ~7ULL;
	}
	if (n)
		shm_data_notify(l->h->shm);
	return n;
}

void *bpftime_map__ringbuf_reserve(struct bpftime_map *h, uint64_t size, uint64_t flags)
{
	struct rb_local *l = h->local;
	uint64_t len, cons, prod;
	struct shm_mutex *lock;
	uint32_t *hdr;

	if (unlikely(h->kernel))
		return map_kernel_ringbuf_reserve(h, size, flags);
	if (unlikely(h->type != BPFTIME_MAP_RINGBUF || flags || !l))
		return NULL;
	len = (size + BPFTIME_RINGBUF_HDR_SZ + 7) & ~7ULL;
	if (size > 0x3fffffff || len > l->mask + 1)
		return NULL;
	lock = (struct shm_mutex *)(l->prod + RB_LOCK_OFF);
	shm_lock(lock);
	cons = atomic_load_explicit(cons_pos(l), memory_order_acquire);
	prod = atomic_load_explicit(prod_pos(l), memory_order_relaxed);
	/* the positions are the segment's (the consumer writes its own):
	 * every access below is masked into the double mapping, so wild ones
	 * cannot fault, but a consumer ahead of the producer or a ring fuller
	 * than its size is a garbled ring that would look full forever */
	if (unlikely(cons > prod || prod - cons > l->mask + 1)) {
		shm_unlock(lock);
		map_corrupt(h, "ring buffer positions out of order");
		return NULL;
	}
	if (prod + len - cons > l->mask + 1 &&
	    (!rb_discard_dead(l, cons, prod) || prod + len - cons > l->mask + 1)) {
		shm_unlock(lock);
		return NULL;
	}
	hdr = (uint32_t *)(void *)(l->data + (prod & l->mask));
	hdr[0] = (uint32_t)size | BPFTIME_RINGBUF_BUSY_BIT;
	hdr[1] = map_self_tid();
	atomic_store_explicit(prod_pos(l), prod + len, memory_order_release);
	shm_unlock(lock);
	return hdr + 2;
}

static void rb_commit(void *data, uint64_t flags, bool discard)
{
	_Atomic uint32_t *hdr = (_Atomic uint32_t *)((char *)data - BPFTIME_RINGBUF_HDR_SZ);
	uint32_t busy = atomic_load_explicit(&hdr[0], memory_order_relaxed), len;
	struct rb_local *l = rb_find(hdr);

	len = busy & ~BPFTIME_RINGBUF_BUSY_BIT;
	if (discard)
		len |= BPFTIME_RINGBUF_DISCARD_BIT;
	/* a CAS, not a store: if the record was taken for a dead producer's
	 * and discarded (rb_discard_dead), leave it alone */
	if (!(busy & BPFTIME_RINGBUF_BUSY_BIT) ||
	    !atomic_compare_exchange_strong_explicit(&hdr[0], &busy, len, memory_order_release,
						     memory_order_relaxed))
		return;
	if (!(flags & BPFTIME_RB_NO_WAKEUP) && likely(l))
		shm_data_notify(l->h->shm);
}

void bpftime_ringbuf_submit(void *data, uint64_t flags)
{
	if (!map_kernel_ringbuf_commit(data, flags, false))
		rb_commit(data, flags, false);
}

void bpftime_ringbuf_discard(void *data, uint64_t flags)
{
	if (!map_kernel_ringbuf_commit(data, flags, true))
		rb_commit(data, flags, true);
}

long bpftime_map__ringbuf_output(struct bpftime_map *h, const void *data, uint64_t size,
				 uint64_t flags)
{
	void *p;

	if (unlikely(h->kernel))
		return map_kernel_ringbuf_output(h, data, size, flags);
	if (flags & ~(BPFTIME_RB_NO_WAKEUP | BPFTIME_RB_FORCE_WAKEUP))
		return -EINVAL;
	p = bpftime_map__ringbuf_reserve(h, size, 0);
	if (!p)
		return -EAGAIN;
	memcpy(p, data, size);
	rb_commit(p, flags, false);
	return 0;
}

uint64_t bpftime_map__ringbuf_query(struct bpftime_map *h, uint64_t flags)
{
	struct rb_local *l = h->local;
	uint64_t cons, prod;

	if (h->kernel || h->type != BPFTIME_MAP_RINGBUF || !l)
		return 0; /* a kernel ring buffer's positions are not queried (kernel.c) */
	cons = atomic_load_explicit(cons_pos(l), memory_order_acquire);
	prod = atomic_load_explicit(prod_pos(l), memory_order_acquire);
	switch (flags) {
	case BPFTIME_RB_AVAIL_DATA:
		return prod - cons;
	case BPFTIME_RB_RING_SIZE:
		return l->mask + 1;
	case BPFTIME_RB_CONS_POS:
		return cons;
	case BPFTIME_RB_PROD_POS:
		return prod;
	default:
		return 0;
	}
}

static int rb_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(value);
	UNUSED(flags);
	return -ENOTSUPP;
}

static int rb_sys_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(value);
	UNUSED(flags);
	return -ENOTSUPP;
}

static int rb_sys_delete(struct bpftime_map *h, const void *key)
{
	UNUSED(h);
	UNUSED(key);
	return -ENOTSUPP;
}

static int rb_get_next_key(struct bpftime_map *h, const void *key, void *next)
{
	UNUSED(h);
	UNUSED(key);
	UNUSED(next);
	return -ENOTSUPP;
}

const struct map_ops map_ringbuf_ops = {
	.alloc_check = rb_alloc_check,
	.alloc = rb_alloc,
	.handle_init = rb_handle_init,
	.handle_fini = rb_handle_fini,
	.sys_lookup = rb_sys_lookup,
	.sys_update = rb_sys_update,
	.sys_delete = rb_sys_delete,
	.get_next_key = rb_get_next_key,
};
