/* SPDX-License-Identifier: MIT */
/* maps/map.c: map creation, the control-plane entry points (the checks the
 * kernel's bpf(2) layer makes before the map type sees a call), the
 * per-process handle cache and the in-program entry points.
 *
 * Handles: bpftime_map_get_handle() looks the fd's object up in a per-fd cache
 * (one atomic load and two compares when warm); a miss builds the handle
 * under the process's handle lock.  Handles live until bpftime_shm__close(),
 * so a pointer an lddw resolved to never dangles in this process; a handle
 * whose map was removed keeps pointing at the old object (as a kernel map
 * kept alive by a program would), which the agent avoids by following the
 * epoch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/kernel.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/opts.h"

#define ACCESS_MASK \
	(BPFTIME_F_RDONLY | BPFTIME_F_WRONLY | BPFTIME_F_RDONLY_PROG | BPFTIME_F_WRONLY_PROG)

struct handle_cache {
	pthread_mutex_t lock; /* all, and making handles */
	struct bpftime_map *all;
	uint32_t n;
	_Atomic(struct bpftime_map *) by_fd[];
};

const struct map_ops *map_ops_of(uint32_t type)
{
	switch (type) {
	case BPFTIME_MAP_HASH:
		return &map_hash_ops;
	case BPFTIME_MAP_ARRAY:
		return &map_array_ops;
	case BPFTIME_MAP_PROG_ARRAY:
		return &map_prog_array_ops;
	case BPFTIME_MAP_PERF_EVENT_ARRAY:
		return &map_perf_event_array_ops;
	case BPFTIME_MAP_PERCPU_HASH:
		return &map_percpu_hash_ops;
	case BPFTIME_MAP_PERCPU_ARRAY:
		return &map_percpu_array_ops;
	case BPFTIME_MAP_STACK_TRACE:
		return &map_stack_trace_ops;
	case BPFTIME_MAP_LRU_HASH:
		return &map_lru_hash_ops;
	case BPFTIME_MAP_LRU_PERCPU_HASH:
		return &map_lru_percpu_hash_ops;
	case BPFTIME_MAP_LPM_TRIE:
		return &map_lpm_ops;
	case BPFTIME_MAP_ARRAY_OF_MAPS:
		return &map_array_of_maps_ops;
	case BPFTIME_MAP_HASH_OF_MAPS:
		return &map_hash_of_maps_ops;
	case BPFTIME_MAP_QUEUE:
		return &map_queue_ops;
	case BPFTIME_MAP_STACK:
		return &map_stack_ops;
	case BPFTIME_MAP_RINGBUF:
		return &map_ringbuf_ops;
	case BPFTIME_MAP_BLOOM_FILTER:
		return &map_bloom_ops;
	default:
		return NULL;
	}
}

static bool is_fd_map(uint32_t type)
{
	return type == BPFTIME_MAP_PROG_ARRAY || type == BPFTIME_MAP_PERF_EVENT_ARRAY ||
	       type == BPFTIME_MAP_ARRAY_OF_MAPS || type == BPFTIME_MAP_HASH_OF_MAPS;
}

static bool is_percpu(uint32_t type)
{
	return type == BPFTIME_MAP_PERCPU_HASH || type == BPFTIME_MAP_PERCPU_ARRAY ||
	       type == BPFTIME_MAP_LRU_PERCPU_HASH;
}

int map_own(struct map_record *m, uint64_t off)
{
	if (!off)
		return -ENOMEM;
	for (int i = 0; i < SHM_OWNED_ALLOCS; i++) {
		if (!m->own.allocs[i]) {
			m->own.allocs[i] = off;
			return 0;
		}
	}
	(void)NEVER(1);
	return -EINVAL;
}

/* the per-CPU slot of the program run on this thread (shm/cpu.c) */
uint32_t map_this_cpu(const struct bpftime_map *h)
{
	return shm_this_cpu(h->shm);
}

/* bpf_spin_lock: the word is 0 or the owner's tid.  Waiting on a lock
 * whose owner no longer exists (SIGKILLed inside the critical section)
 * takes it over, so a dead process never wedges a map value.  "No longer
 * exists" is kill(tid, 0) failing with ESRCH after at least 50 ms of
 * waiting: critical sections are a few instructions, and the delay keeps a
 * live owner in another pid namespace (where its tid means nothing here)
 * from losing its lock to a merely slow check. */
static __thread uint32_t my_tid;

static void tid_reset(void)
{
	my_tid = 0;
}

uint32_t map_self_tid(void)
{
	if (unlikely(!my_tid))
		my_tid = (uint32_t)syscall(SYS_gettid);
	return my_tid;
}

__attribute__((constructor)) static void spin_atfork(void)
{
	pthread_atfork(NULL, NULL, tid_reset); /* the child's thread has a new tid */
}

void bpftime_spin_lock(void *lock)
{
	_Atomic uint32_t *l = lock;
	uint32_t me = map_self_tid(), owner = 0;

	struct timespec t0 = { 0 }, t;

	for (unsigned int spins = 0;; spins++) {
		if (atomic_compare_exchange_weak_explicit(l, &owner, me, memory_order_acquire,
							  memory_order_relaxed))
			return;
		if (!owner)
			continue;
		if (spins == 1023)
			clock_gettime(CLOCK_MONOTONIC, &t0);
		if (spins > 1023 && (spins & 1023) == 1023 &&
		    (clock_gettime(CLOCK_MONOTONIC, &t),
		     (t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) >=
			     50000000L) &&
		    kill((pid_t)owner, 0) && errno == ESRCH) {
			/* the owner died holding it */
			if (atomic_compare_exchange_strong(l, &owner, me))
				return;
		} else {
			sched_yield();
		}
		owner = 0;
	}
}

void bpftime_spin_unlock(void *lock)
{
	atomic_store_explicit((_Atomic uint32_t *)lock, 0, memory_order_release);
}

void map_value_lock(const struct bpftime_map *h, void *value)
{
	bpftime_spin_lock((char *)value + h->m->spin_lock_off);
}

void map_value_unlock(const struct bpftime_map *h, void *value)
{
	bpftime_spin_unlock((char *)value + h->m->spin_lock_off);
}

void map_copy_value(const struct bpftime_map *h, void *dst, const void *src)
{
	int32_t off = h->m->spin_lock_off;

	if (off < 0) {
		memcpy(dst, src, h->value_size);
		return;
	}
	memcpy(dst, src, (size_t)off);
	memcpy((char *)dst + off + 4, (const char *)src + off + 4, h->value_size - (size_t)off - 4);
}

/* ---- fd maps ---------------------------------------------------------- */

static bool inner_compatible(const struct map_record *outer, const struct map_record *in)
{
	return in->map_type == outer->inner_type && in->key_size == outer->inner_key_size &&
	       in->value_size == outer->inner_value_size && in->map_flags == outer->inner_flags &&
	       ((outer->inner_flags & BPFTIME_F_INNER_MAP) ||
		in->max_entries == outer->inner_max_entries);
}

uint64_t map_fd_get(struct bpftime_map *h, const void *value, int *err)
{
	struct bpftime_shm *shm = h->shm;
	uint32_t fd, want;
	struct shm_obj *o;
	uint64_t off = 0;

	memcpy(&fd, value, 4);
	switch (h->type) {
	case BPFTIME_MAP_PROG_ARRAY:
		want = BPFTIME_HANDLER_PROG;
		break;
	case BPFTIME_MAP_PERF_EVENT_ARRAY:
		want = BPFTIME_HANDLER_PERF_EVENT;
		break;
	default:
		want = BPFTIME_HANDLER_MAP;
		break;
	}
	shm_lock(&shm->hdr->table_lock);
	o = fd < (uint32_t)INT32_MAX ? shm_slot_obj(shm, (int)fd, 0) : NULL;
	if (!o) {
		*err = -EBADF;
	} else if (o->type != want) {
		*err = want == BPFTIME_HANDLER_PERF_EVENT ? -EBADF : -EINVAL;
	} else if (want == BPFTIME_HANDLER_MAP &&
		   !inner_compatible(h->m, (const struct map_record *)o)) {
		*err = -EINVAL;
	} else {
		off = shm_off(shm, o);
		shm_obj_get(shm, off);
	}
	shm_unlock(&shm->hdr->table_lock);
	return off;
}

void map_fd_put(struct bpftime_map *h, uint64_t obj_off)
{
	if (obj_off)
		shm_obj_put(h->shm, obj_off);
}

int map_fd_sys_value(struct bpftime_map *h, uint64_t obj_off, void *value)
{
	struct shm_obj *o;

	if (h->type == BPFTIME_MAP_PERF_EVENT_ARRAY)
		return -ENOTSUPP;
	if (!obj_off)
		return -ENOENT;
	o = shm_ptr(h->shm, obj_off);
	memcpy(value, &o->id, 4);
	return 0;
}

/* ---- handles ---------------------------------------------------------- */

/* The kind's process-local state: every handle made in this process. */
static void handles_free(struct bpftime_shm *shm, void *state)
{
	struct handle_cache *c = state;
	struct bpftime_map *h, *n;

	UNUSED(shm);
	if (!c)
		return;
	for (h = c->all; h; h = n) {
		n = h->next;
		if (h->ops->handle_fini)
			h->ops->handle_fini(h);
		free(h);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void map_release(struct bpftime_shm *shm, uint64_t off)
{
	struct map_record *m = shm_ptr(shm, off);
	const struct map_ops *ops = m->kernel_id ? &map_kernel_ops : map_ops_of(m->map_type);

	if (ops && ops->release)
		ops->release(shm, m);
	if (m->btf_off && shm_range_ok(shm, m->btf_off, sizeof(struct shm_obj)))
		shm_obj_put(shm, m->btf_off);
	m->btf_off = 0;
}

static const struct shm_kind_ops map_kind_ops = {
	.release = map_release,
	.close = handles_free,
};

_Static_assert(offsetof(struct map_record, own) == sizeof(struct shm_obj),
	       "the store finds its part right after the object head");

/* Registers maps as a kind of the store on first use of @shm in this
 * process; returns the handle cache, or NULL (ENOMEM). */
static struct handle_cache *maps_attach(struct bpftime_shm *shm)
{
	struct handle_cache *c = shm_kind_state(shm, BPFTIME_HANDLER_MAP);

	if (likely(c))
		return c;
	c = calloc(1, sizeof(*c) + shm->max_fd * sizeof(c->by_fd[0]));
	if (!c)
		return NULL;
	c->n = shm->max_fd;
	pthread_mutex_init(&c->lock, NULL);
	if (shm_kind_register(shm, BPFTIME_HANDLER_MAP, &map_kind_ops, c)) {
		handles_free(shm, c); /* another thread was first */
		c = shm_kind_state(shm, BPFTIME_HANDLER_MAP);
	}
	return c;
}

int map_corrupt(struct bpftime_map *h, const char *what)
{
	if (!atomic_exchange_explicit(&h->corrupt_told, true, memory_order_relaxed))
		pr_warn("shm '%s': map '%.16s' is corrupt (%s): its operations fail with "
			"EBADMSG\n",
			bpftime_shm__name(h->shm), h->m->obj.name, what);
	return -EBADMSG;
}

struct bpftime_map *map_handle_of_obj(struct bpftime_shm *shm, struct map_record *m)
{
	struct handle_cache *c;
	struct bpftime_map *h = NULL;

	c = maps_attach(shm);
	if (!c)
		return NULL;
	pthread_mutex_lock(&c->lock);
	for (h = c->all; h; h = h->next)
		if (h->m == m && h->id == m->obj.id)
			goto out;
	/* the record is input: its own offsets must lie in the segment (shm/
	 * checked the head; the type's state is trusted past this point) */
	if (!shm_range_ok(shm, shm_off(shm, m), sizeof(*m)) || !map_ops_of(m->map_type) ||
	    (m->priv_off && !shm_range_ok(shm, m->priv_off, 8)) ||
	    (m->priv2_off && !shm_range_ok(shm, m->priv2_off, 8)) ||
	    (m->mmap_off && !shm_range_ok(shm, m->mmap_off, m->mmap_len))) {
		pr_warn("shm '%s': map '%.16s' is corrupt (state outside the segment): skipped\n",
			bpftime_shm__name(shm), m->obj.name);
		errno = EBADMSG;
		h = NULL;
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->ops = m->kernel_id ? &map_kernel_ops : map_ops_of(m->map_type);
	h->shm = shm;
	h->m = m;
	h->priv = shm_ptr(shm, m->priv_off);
	h->id = m->obj.id;
	h->type = m->map_type;
	h->key_size = m->key_size;
	h->value_size = m->value_size;
	h->max_entries = m->max_entries;
	h->ncpus = shm->ncpus;
	h->vsize8 = MAP_ROUND8(m->value_size);
	h->fd_values = is_fd_map(m->map_type);
	if (!h->ops || (h->ops->handle_init && h->ops->handle_init(h))) {
		free(h);
		h = NULL;
		goto out;
	}
	h->next = c->all;
	c->all = h;
out:
	pthread_mutex_unlock(&c->lock);
	return h;
}

struct bpftime_map *bpftime_map_get_handle(struct bpftime_shm *shm, int fd)
{
	struct handle_cache *c = shm_kind_state(shm, BPFTIME_HANDLER_MAP);
	struct map_record *m;
	struct bpftime_map *h;

	/* warm: the slot (read as shm_slot_obj does, without the call) still
	 * holds the object the cached handle was made for */
	if (likely(c && fd >= 0 && (uint32_t)fd < shm->max_fd)) {
		struct shm_slot *s = &shm->slots[fd];

		h = atomic_load_explicit(&c->by_fd[fd], memory_order_acquire);
		if (likely(h &&
			   atomic_load_explicit(&s->type, memory_order_acquire) ==
				   BPFTIME_HANDLER_MAP &&
			   atomic_load_explicit(&s->obj_off, memory_order_acquire) ==
				   shm_off(shm, h->m) &&
			   h->id == h->m->obj.id))
			return h;
	}
	m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);
	if (unlikely(!m))
		return errno = EBADF, NULL;
	if (likely(c)) {
		h = atomic_load_explicit(&c->by_fd[fd], memory_order_acquire);
		if (likely(h && h->m == m && h->id == m->obj.id))
			return h;
	}
	h = map_handle_of_obj(shm, m);
	if (!h)
		return errno = ENOMEM, NULL;
	c = shm_kind_state(shm, BPFTIME_HANDLER_MAP);
	atomic_store_explicit(&c->by_fd[fd], h, memory_order_release);
	return h;
}

struct bpftime_map *bpftime_map_get_handle_by_id(struct bpftime_shm *shm, uint32_t id)
{
	struct bpftime_map *h = NULL;
	const char *why;
	uint64_t off;

	if (!maps_attach(shm))
		return errno = ENOMEM, NULL;
	off = shm_obj_find_id(shm, id, BPFTIME_HANDLER_MAP);
	if (!off)
		return errno = ENOENT, NULL;
	if (!shm_obj_check(shm, BPFTIME_HANDLER_MAP, off, &why))
		h = map_handle_of_obj(shm, shm_ptr(shm, off));
	else
		errno = EBADMSG;
	/* whoever named the id holds the map (a program, its used maps) */
	shm_obj_put(shm, off);
	return h;
}

uint32_t bpftime_map__type(const struct bpftime_map *map)
{
	return map->type;
}

uint32_t bpftime_map__id(const struct bpftime_map *map)
{
	return map->id;
}

uint32_t bpftime_map__value_size(const struct bpftime_map *map)
{
	return map->value_size;
}

/* ---- creation --------------------------------------------------------- */

static bool name_ok(const char *name)
{
	if (!name)
		return true;
	for (size_t i = 0; name[i]; i++) {
		char c = name[i];

		if (i >= BPFTIME_OBJ_NAME_LEN - 1)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* A map whose storage does not fit in the segment fails its creation with
 * ENOMEM, as the kernel's does when it cannot allocate; the user learns
 * which setting to raise (arrays are allocated whole: programs get
 * their values without a check; hash maps and stack maps that do not fit
 * are allocated as they fill and fail here only when even their index
 * does not fit). */
static void map_no_room(struct bpftime_shm *shm, const struct map_record *m)
{
	struct bpftime_shm_stats st = { .sz = sizeof(st) };

	if (bpftime_shm__stats(shm, &st))
		st.arena_size = st.largest_free = 0;
	pr_warn("shm '%s': map '%s' (type %u, %u entries, key %u, value %u bytes) does not fit: "
		"%llu KiB free of the segment's %llu KiB; raise BPFTIME_SHM_MEMORY_MB (`bpftime "
		"load --memory-size MB`, default 50) or make the map smaller\n",
		shm->name, m->obj.name, m->map_type, m->max_entries, m->key_size, m->value_size,
		(unsigned long long)st.largest_free >> 10, (unsigned long long)st.arena_size >> 10);
}

int bpftime_map_create(struct bpftime_shm *shm, int fd, enum bpftime_map_type type,
		       const char *name, uint32_t key_size, uint32_t value_size,
		       uint32_t max_entries, const struct bpftime_map_create_opts *uopts)
{
	const struct map_ops *ops = map_ops_of(type);
	struct bpftime_map_create_opts o, *opts = &o;
	struct map_record *m;
	uint64_t off;
	uint32_t flags;
	int err;

	if (!OPTS_VALID(uopts, bpftime_map_create_opts))
		return shm_err(-EINVAL);
	OPTS_COPY(&o, uopts);
	flags = opts->map_flags;
	if (!ops || !name_ok(name))
		return shm_err(-EINVAL);
	if (!maps_attach(shm))
		return shm_err(-ENOMEM);
	if (opts && opts->map_extra && type != BPFTIME_MAP_BLOOM_FILTER)
		return shm_err(-EINVAL);
	if ((flags & BPFTIME_F_RDONLY && flags & BPFTIME_F_WRONLY) ||
	    (flags & BPFTIME_F_RDONLY_PROG && flags & BPFTIME_F_WRONLY_PROG))
		return shm_err(-EINVAL);
	off = shm_obj_new(shm, BPFTIME_HANDLER_MAP, sizeof(*m), name);
	if (!off)
		return shm_err(-ENOMEM);
	m = shm_ptr(shm, off);
	m->map_type = type;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;
	m->map_flags = flags;
	m->spin_lock_off = -1;
	if (opts) {
		/* a map with BTF types holds its BTF object (the kernel's map->btf) */
		if (opts->btf_key_type_id || opts->btf_value_type_id ||
		    opts->btf_vmlinux_value_type_id) {
			struct shm_obj *b;

			shm_lock(&shm->hdr->table_lock);
			b = shm_slot_obj(shm, (int)opts->btf_fd, BPFTIME_HANDLER_BTF);
			if (b) {
				m->btf_off = shm_off(shm, b);
				m->btf_id = b->id;
				shm_obj_get(shm, m->btf_off);
			}
			shm_unlock(&shm->hdr->table_lock);
		}
		m->btf_key_type_id = opts->btf_key_type_id;
		m->btf_value_type_id = opts->btf_value_type_id;
		m->btf_vmlinux_value_type_id = opts->btf_vmlinux_value_type_id;
		m->map_extra = opts->map_extra;
		if (opts->has_spin_lock) {
			if (opts->spin_lock_off < 0 || opts->spin_lock_off % 4 ||
			    (uint32_t)opts->spin_lock_off + 4 > value_size) {
				err = -EINVAL;
				goto out;
			}
			m->spin_lock_off = opts->spin_lock_off;
		}
	}
	if (type == BPFTIME_MAP_ARRAY_OF_MAPS || type == BPFTIME_MAP_HASH_OF_MAPS) {
		struct map_record *in;

		in = uopts ? shm_slot_obj(shm, opts->inner_map_fd, BPFTIME_HANDLER_MAP) : NULL;
		if (!in) {
			/* as fdget: no such fd is EBADF, an fd that is not a map EINVAL */
			err = uopts && bpftime_handler_get_type(shm, opts->inner_map_fd) ? -EINVAL
											 : -EBADF;
			goto out;
		}
		if (in->map_type == BPFTIME_MAP_ARRAY_OF_MAPS ||
		    in->map_type == BPFTIME_MAP_HASH_OF_MAPS ||
		    in->map_type == BPFTIME_MAP_PROG_ARRAY) {
			err = -EINVAL;
			goto out;
		}
		m->inner_type = in->map_type;
		m->inner_key_size = in->key_size;
		m->inner_value_size = in->value_size;
		m->inner_max_entries = in->max_entries;
		m->inner_flags = in->map_flags;
	}
	if (OPTS_GET(opts, kernel, false) && bpftime_kernel_type_shareable(type) &&
	    m->spin_lock_off < 0) {
		/* kernel-shared mode (kernel.c): the storage is the kernel's */
		err = map_kernel_create(shm, m);
	} else {
		err = ops->alloc_check(shm, m);
		if (!err)
			err = ops->alloc(shm, m);
		if (err == -ENOMEM)
			map_no_room(shm, m);
	}
	if (err)
		goto out;
	err = shm_obj_install(shm, fd, off);
	if (err < 0)
		goto out;
	pr_debug("map '%s' type %u created at fd %d\n", m->obj.name, type, err);
	return err;
out:
	shm_obj_put(shm, off);
	return shm_err(err);
}

/* ---- control plane ---------------------------------------------------- */

/* bpf(2) copies the key only for maps with a key; a key pointer given to a
 * map without keys (queue, stack, bloom filter, ring buffer) is -EINVAL. */
static inline int key_ok(const struct bpftime_map *h, const void *key)
{
	return (!h->key_size && key) ? -EINVAL : 0;
}

static struct bpftime_map *sys_handle(struct bpftime_shm *shm, int fd)
{
	return bpftime_map_get_handle(shm, fd);
}

int bpftime_map_lookup_elem(struct bpftime_shm *shm, int fd, const void *key, void *value,
			    uint64_t flags)
{
	struct bpftime_map *h = sys_handle(shm, fd);

	if (!h)
		return shm_err(-EBADF);
	if (flags & ~(uint64_t)BPFTIME_F_LOCK)
		return shm_err(-EINVAL);
	if ((flags & BPFTIME_F_LOCK) && h->m->spin_lock_off < 0)
		return shm_err(-EINVAL);
	if (h->m->map_flags & BPFTIME_F_WRONLY)
		return shm_err(-EPERM);
	if (key_ok(h, key))
		return shm_err(-EINVAL);
	if (!h->ops->sys_lookup)
		return shm_err(-ENOTSUPP);
	return shm_err(h->ops->sys_lookup(h, key, value, flags));
}

static int write_perm(struct bpftime_map *h)
{
	if ((h->m->map_flags & BPFTIME_F_RDONLY) || atomic_load(&h->m->frozen))
		return -EPERM;
	return 0;
}

int bpftime_map_update_elem(struct bpftime_shm *shm, int fd, const void *key, const void *value,
			    uint64_t flags)
{
	struct bpftime_map *h = sys_handle(shm, fd);
	int err;

	if (!h)
		return shm_err(-EBADF);
	err = write_perm(h);
	if (err)
		return shm_err(err);
	if (key_ok(h, key) || ((flags & BPFTIME_F_LOCK) && h->m->spin_lock_off < 0))
		return shm_err(-EINVAL);
	if (!h->ops->sys_update)
		return shm_err(-ENOTSUPP);
	return shm_err(h->ops->sys_update(h, key, value, flags));
}

int bpftime_map_delete_elem(struct bpftime_shm *shm, int fd, const void *key)
{
	struct bpftime_map *h = sys_handle(shm, fd);
	int err;

	if (!h)
		return shm_err(-EBADF);
	err = write_perm(h);
	if (!err)
		err = key_ok(h, key);
	if (err)
		return shm_err(err);
	if (!h->ops->sys_delete)
		return shm_err(-ENOTSUPP);
	return shm_err(h->ops->sys_delete(h, key));
}

int bpftime_map_get_next_key(struct bpftime_shm *shm, int fd, const void *key, void *next_key)
{
	struct bpftime_map *h = sys_handle(shm, fd);

	if (!h)
		return shm_err(-EBADF);
	if (h->m->map_flags & BPFTIME_F_WRONLY)
		return shm_err(-EPERM);
	if (key_ok(h, key))
		return shm_err(-EINVAL);
	if (!h->ops->get_next_key)
		return shm_err(-ENOTSUPP);
	return shm_err(h->ops->get_next_key(h, key, next_key));
}

int bpftime_map_lookup_and_delete_elem(struct bpftime_shm *shm, int fd, const void *key,
				       void *value, uint64_t flags)
{
	struct bpftime_map *h = sys_handle(shm, fd);
	int err;

	if (!h)
		return shm_err(-EBADF);
	if (flags & ~(uint64_t)BPFTIME_F_LOCK)
		return shm_err(-EINVAL);
	if ((flags & BPFTIME_F_LOCK) && h->m->spin_lock_off < 0)
		return shm_err(-EINVAL);
	err = write_perm(h);
	if (!err && (h->m->map_flags & BPFTIME_F_WRONLY))
		err = -EPERM;
	if (!err)
		err = key_ok(h, key);
	if (err)
		return shm_err(err);
	if (!h->ops->sys_lookup_and_delete)
		return shm_err(-ENOTSUPP);
	return shm_err(h->ops->sys_lookup_and_delete(h, key, value, flags));
}

int bpftime_map_freeze(struct bpftime_shm *shm, int fd)
{
	struct map_record *m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);
	uint32_t zero = 0;

	if (!m)
		return shm_err(-EBADF);
	/* as the kernel: a map that cannot be written (frozen already,
	 * BPF_F_RDONLY) fails the permission check first */
	if (m->map_flags & BPFTIME_F_RDONLY)
		return shm_err(-EPERM);
	if (atomic_load(&m->frozen))
		return shm_err(-EPERM);
	if (m->kernel_id) {
		int err = map_kernel_freeze(shm, m);

		if (err)
			return shm_err(err);
	}
	if (!atomic_compare_exchange_strong(&m->frozen, &zero, 1))
		return shm_err(-EPERM);
	shm_epoch_bump(shm);
	return 0;
}

static void map_info_of(struct bpftime_shm *shm, struct map_record *m,
			struct bpftime_map_info *info)
{
	memset(info, 0, sizeof(*info));
	info->type = m->map_type;
	info->id = m->obj.id;
	info->key_size = m->key_size;
	info->value_size = m->value_size;
	info->max_entries = m->max_entries;
	info->map_flags = m->map_flags;
	info->btf_id = m->btf_id;
	info->btf_fd = UINT32_MAX; /* the lowest slot naming the BTF object now */
	for (uint32_t i = 0; m->btf_off && i < shm->max_fd; i++) {
		if (atomic_load(&shm->slots[i].obj_off) == m->btf_off &&
		    atomic_load(&shm->slots[i].type) == BPFTIME_HANDLER_BTF) {
			info->btf_fd = i;
			break;
		}
	}
	info->btf_key_type_id = m->btf_key_type_id;
	info->btf_value_type_id = m->btf_value_type_id;
	info->btf_vmlinux_value_type_id = m->btf_vmlinux_value_type_id;
	info->map_extra = m->map_extra;
	info->value_size_syscall =
		is_percpu(m->map_type) ? MAP_ROUND8(m->value_size) * shm->ncpus : m->value_size;
	info->inner_map_type = m->inner_type;
	info->inner_key_size = m->inner_key_size;
	info->inner_value_size = m->inner_value_size;
	info->inner_max_entries = m->inner_max_entries;
	info->inner_map_flags = m->inner_flags;
	info->frozen = atomic_load(&m->frozen);
	info->has_spin_lock = m->spin_lock_off >= 0;
	info->spin_lock_off = m->spin_lock_off;
	memcpy(info->name, m->obj.name, sizeof(info->name));
}

int bpftime_map_get_info(struct bpftime_shm *shm, int fd, struct bpftime_map_info *info)
{
	struct map_record *m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);

	if (!m)
		return shm_err(-EBADF);
	map_info_of(shm, m, info);
	return 0;
}

void bpftime_map__get_info(const struct bpftime_map *map, struct bpftime_map_info *info)
{
	map_info_of(map->shm, map->m, info);
}

int bpftime_map_mmap_region(struct bpftime_shm *shm, int fd, uint64_t *off, size_t *len)
{
	struct map_record *m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);

	if (!m)
		return shm_err(-EBADF);
	if (!m->mmap_off)
		return shm_err(-EINVAL);
	*off = m->mmap_off;
	*len = m->mmap_len;
	return 0;
}

/* ---- in-program entry points ------------------------------------------ */

int bpftime_map__direct_value_addr(struct bpftime_map *map, uint32_t off, uint64_t *addr)
{
	if (map->type != BPFTIME_MAP_ARRAY || map->max_entries != 1)
		return shm_err(-ENOTSUPP);
	if (off >= map->value_size)
		return shm_err(-EINVAL);
	*addr = (uint64_t)(uintptr_t)(map->priv + off);
	return 0;
}

void *bpftime_map__lookup_elem(struct bpftime_map *map, const void *key)
{
	return map->ops->lookup ? map->ops->lookup(map, key) : NULL;
}

long bpftime_map__update_elem(struct bpftime_map *map, const void *key, const void *value,
			      uint64_t flags)
{
	if ((flags & BPFTIME_F_LOCK) && map->m->spin_lock_off < 0)
		return -EINVAL;
	return map->ops->update ? map->ops->update(map, key, value, flags) : -EINVAL;
}

long bpftime_map__delete_elem(struct bpftime_map *map, const void *key)
{
	return map->ops->delete ? map->ops->delete (map, key) : -EINVAL;
}

long bpftime_map__push_elem(struct bpftime_map *map, const void *value, uint64_t flags)
{
	return map->ops->push ? map->ops->push(map, value, flags) : -EINVAL;
}

long bpftime_map__pop_elem(struct bpftime_map *map, void *value)
{
	return map->ops->pop ? map->ops->pop(map, value) : -EINVAL;
}

long bpftime_map__peek_elem(struct bpftime_map *map, void *value)
{
	return map->ops->peek ? map->ops->peek(map, value) : -EINVAL;
}

void *bpftime_map__lookup_percpu_elem(struct bpftime_map *map, const void *key, uint32_t cpu)
{
	if (!map->ops->lookup_percpu || cpu >= map->ncpus)
		return NULL;
	return map->ops->lookup_percpu(map, key, cpu);
}

long bpftime_map__for_each_elem(struct bpftime_map *map, bpftime_map_elem_fn fn, void *ctx,
				uint64_t flags)
{
	if (flags || !fn || !map->ops->for_each)
		return -EINVAL;
	return map->ops->for_each(map, fn, ctx);
}
