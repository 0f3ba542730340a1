/* SPDX-License-Identifier: MIT */
/* shm/table.c: the handler table and the life of the objects it refers to:
 * records, references, slots, ids, owners and the grace period of the
 * kinds registered by other layers (store.h).  The records shm/ knows
 * itself are in objects.c, pinned paths in pin.c.
 *
 * Slots change only under the table lock; readers do not lock: they load the
 * slot's type and object offset (the object outlives a racing close only as
 * long as another reference holds it, as with a kernel fd that is closed
 * while in use by another thread).  Every change makes the slot generation
 * odd, edits, makes it even again, then bumps the epoch.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

static bool fd_ok(const struct bpftime_shm *shm, int fd)
{
	return fd >= 0 && (uint32_t)fd < shm->max_fd;
}

static void copy_name(char dst[BPFTIME_OBJ_NAME_LEN], const char *src)
{
	memset(dst, 0, BPFTIME_OBJ_NAME_LEN);
	if (src)
		strncpy(dst, src, BPFTIME_OBJ_NAME_LEN - 1);
}

/* ---- the list of live objects -------------------------------------------
 * Every object is on it from its creation until its last reference goes,
 * whoever holds it: a slot (an fd of some process), a pin, a link, a
 * program's used maps or BTF, a map's BTF, a prog array or map-in-map slot.
 * That is what the kernel's id allocators give: GET_NEXT_ID walks it and
 * GET_FD_BY_ID finds an object on it.  Objects are added at the tail, so
 * the list runs in creation order.  The forward links are what counts:
 * they are changed last, so a process killed while it changes the list
 * leaves at worst a dead record on it (skipped: no references) or a tail
 * behind the end (found again by the next addition); walks are bounded. */

static bool obj_off_ok(const struct bpftime_shm *shm, uint64_t off)
{
	return off % 8 == 0 && shm_range_ok(shm, off, sizeof(struct shm_obj));
}

static struct shm_obj *list_obj(struct bpftime_shm *shm, uint64_t off)
{
	return off && obj_off_ok(shm, off) ? shm_ptr(shm, off) : NULL;
}

static void ids_link(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_header *h = shm->hdr;
	struct shm_obj *o = shm_ptr(shm, off), *t;

	shm_lock(&h->ids_lock);
	t = list_obj(shm, h->ids_tail);
	/* a process killed in here may have left the tail behind: the end
	 * is where the forward links end */
	for (int n = 0; t && t->id_next && list_obj(shm, t->id_next) && n < 64; n++)
		t = list_obj(shm, t->id_next);
	o->id_next = 0;
	o->id_prev = shm_off(shm, t);
	if (t)
		t->id_next = off;
	else
		h->ids_head = off;
	h->ids_tail = off;
	atomic_fetch_add(&h->ids_count, 1);
	shm_unlock(&h->ids_lock);
}

static void ids_unlink(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_header *h = shm->hdr;
	struct shm_obj *o = shm_ptr(shm, off), *prev, *next;

	shm_lock(&h->ids_lock);
	prev = list_obj(shm, o->id_prev);
	next = list_obj(shm, o->id_next);
	/* back links first, the forward link last: killed half-way, the
	 * forward list (what walkers follow) still holds the dead record,
	 * which they skip (no references) */
	if (next)
		next->id_prev = o->id_prev;
	else if (h->ids_tail == off)
		h->ids_tail = o->id_prev;
	if (prev)
		prev->id_next = o->id_next;
	else if (h->ids_head == off)
		h->ids_head = o->id_next;
	o->id_next = o->id_prev = 0;
	atomic_fetch_sub(&h->ids_count, 1);
	shm_unlock(&h->ids_lock);
}

/* Walks the live objects (ids_lock held by the caller): @fn returns true to
 * stop.  The walk is bounded, so a garbled list cannot loop forever. */
static void ids_walk(struct bpftime_shm *shm, bool (*fn)(struct shm_obj *o, void *ctx), void *ctx)
{
	uint64_t limit = shm->size / sizeof(struct shm_obj);
	struct shm_obj *o = list_obj(shm, shm->hdr->ids_head);

	for (uint64_t n = 0; o && n < limit; n++, o = list_obj(shm, o->id_next))
		if (fn(o, ctx))
			return;
}

/* A reference to @o unless its last one is gone already (it is being freed). */
static bool get_unless_zero(struct shm_obj *o)
{
	uint32_t c = atomic_load(&o->refcnt);

	while (c)
		if (atomic_compare_exchange_weak(&o->refcnt, &c, c + 1))
			return true;
	return false;
}

struct find_ctx {
	uint32_t id, type;
	uint64_t off;
	struct bpftime_shm *shm;
};

static bool find_one(struct shm_obj *o, void *ctx)
{
	struct find_ctx *c = ctx;

	if (o->id != c->id || (c->type && o->type != c->type))
		return false;
	if (get_unless_zero(o))
		c->off = shm_off(c->shm, o);
	return true;
}

uint64_t shm_obj_find_id(struct bpftime_shm *shm, uint32_t id, uint32_t type)
{
	struct find_ctx c = { .id = id, .type = type, .shm = shm };

	if (!id)
		return 0;
	shm_lock(&shm->hdr->ids_lock);
	ids_walk(shm, find_one, &c);
	shm_unlock(&shm->hdr->ids_lock);
	return c.off;
}

uint64_t shm_obj_new(struct bpftime_shm *shm, uint32_t type, size_t size, const char *name)
{
	uint64_t off;

	shm_reap(shm, false);
	off = shm_alloc(shm, size, 16);
	struct shm_obj *o;

	if (!off)
		return 0;
	o = shm_ptr(shm, off);
	o->type = type;
	o->id = atomic_fetch_add(&shm->hdr->next_id, 1);
	atomic_store(&o->refcnt, 1);
	copy_name(o->name, name);
	ids_link(shm, off);
	return off;
}

void shm_obj_get(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_obj *o = shm_ptr(shm, off);

	atomic_fetch_add(&o->refcnt, 1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int shm_kind_register(struct bpftime_shm *shm, uint32_t type, const struct shm_kind_ops *ops,
		      void *state)
{
	int err = 0;

	/* shm/ frees the records of its own kinds itself */
	if (type != BPFTIME_HANDLER_MAP || !ops)
		return -EINVAL;
	pthread_mutex_lock(&shm->kinds_lock);
	if (shm->kinds[type].ops) {
		err = -EEXIST;
	} else {
		__atomic_store_n(&shm->kinds[type].ops, ops, __ATOMIC_RELEASE);
		__atomic_store_n(&shm->kinds[type].state, state, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&shm->kinds_lock);
	return err;
}

static const struct shm_kind_ops *kind_ops(struct bpftime_shm *shm, uint32_t type)
{
	return type < SHM_KINDS ? __atomic_load_n(&shm->kinds[type].ops, __ATOMIC_ACQUIRE) : NULL;
}

/* Records of registered kinds (not shm/'s own) carry a struct shm_owned
 * right after struct shm_obj (store.h), so that any process can park and
 * free them, whether it has their kind or not. */
static struct shm_owned *owned_of(struct bpftime_shm *shm, uint64_t off)
{
	return (struct shm_owned *)((struct shm_obj *)shm_ptr(shm, off) + 1);
}

/* Puts the record at @off on the grace-period list; @released: its
 * references are dropped already (its kind is registered here). */
static void park(struct bpftime_shm *shm, uint64_t off, bool released)
{
	struct shm_owned *d = owned_of(shm, off);

	/* bit 0 of the time: released */
	d->ns = (mono_ns() & ~1ULL) | released;
	shm_lock(&shm->hdr->defer_lock);
	d->next = shm->hdr->defer_head;
	shm->hdr->defer_head = off;
	shm_unlock(&shm->hdr->defer_lock);
}

int shm_reap(struct bpftime_shm *shm, bool all)
{
	struct shm_header *h = shm->hdr;
	uint64_t now, *pp, off, list = 0;
	int n = 0;

	if (!atomic_load_explicit((_Atomic uint64_t *)&h->defer_head, memory_order_relaxed))
		return 0;
	now = mono_ns();
	shm_lock(&h->defer_lock);
	for (pp = &h->defer_head; (off = *pp);) {
		struct shm_owned *d = owned_of(shm, off);
		bool have = kind_ops(shm, ((struct shm_obj *)shm_ptr(shm, off))->type);
		bool due;

		/* an unreleased record waits for a process that has its kind,
		 * unless memory runs out (its references then leak) */
		if (all)
			due = true;
		else
			due = now - d->ns >= SHM_FREE_GRACE_NS && (have || (d->ns & 1));
		if (due) {
			*pp = d->next;
			d->next = list;
			list = off;
		} else {
			pp = &d->next;
		}
	}
	shm_unlock(&h->defer_lock);
	while (list) {
		struct shm_obj *o = shm_ptr(shm, list);
		const struct shm_kind_ops *ops = kind_ops(shm, o->type);
		struct shm_owned *d = owned_of(shm, list);

		off = list;
		list = d->next;
		if (!(d->ns & 1) && ops && ops->release)
			ops->release(shm, off); /* parked by a process without the kind */
		for (int i = 0; i < SHM_OWNED_ALLOCS; i++)
			shm_free(shm, d->allocs[i]);
		o->type = BPFTIME_HANDLER_NONE;
		shm_free(shm, off);
		n++;
	}
	return n;
}

int bpftime_shm__reap(struct bpftime_shm *shm, bool all)
{
	return shm_reap(shm, all);
}

/* The last reference to the record at @off is gone. */
static void obj_free(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_obj *o = shm_ptr(shm, off);
	const struct shm_kind_ops *ops;

	ids_unlink(shm, off);
	if (shm_own_obj_release(shm, off)) {
		o->type = BPFTIME_HANDLER_NONE;
		shm_free(shm, off);
		return;
	}
	/* a registered kind (maps): references it holds go now, its memory
	 * after the grace period */
	ops = kind_ops(shm, o->type);
	if (ops && ops->release)
		ops->release(shm, off);
	park(shm, off, ops != NULL);
}

void shm_obj_put(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_obj *o = shm_ptr(shm, off);

	if (atomic_fetch_sub(&o->refcnt, 1) == 1)
		obj_free(shm, off);
}

/* Table lock held. */
static void slot_set(struct bpftime_shm *shm, int fd, uint32_t type, uint64_t obj_off, pid_t pid)
{
	struct shm_slot *s = &shm->slots[fd];
	/* odd while changing; computed from the old value so that a writer
	 * killed half-way (gen left odd) is healed by the next change */
	uint32_t g = atomic_load_explicit(&s->gen, memory_order_relaxed) | 1;

	atomic_store_explicit(&s->gen, g, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	if (type) {
		/* readers that see the type see the object */
		atomic_store_explicit(&s->obj_off, obj_off, memory_order_relaxed);
		s->owner_pid = pid;
		atomic_store_explicit(&s->type, type, memory_order_release);
	} else {
		atomic_store_explicit(&s->type, type, memory_order_release);
		atomic_store_explicit(&s->obj_off, 0, memory_order_release);
		s->owner_pid = pid;
	}
	atomic_store_explicit(&s->gen, g + 1, memory_order_release);
}

int shm_obj_install(struct bpftime_shm *shm, int fd, uint64_t obj_off)
{
	struct shm_obj *o = shm_ptr(shm, obj_off);
	int ret = -EMFILE;

	if (fd >= 0 && !fd_ok(shm, fd))
		return -EBADF;
	shm_lock(&shm->hdr->table_lock);
	if (fd >= 0) {
		ret = atomic_load(&shm->slots[fd].type) ? -EEXIST : fd;
	} else {
		for (uint32_t i = 0; i < shm->max_fd; i++) {
			if (!atomic_load(&shm->slots[i].type)) {
				ret = (int)i;
				break;
			}
		}
	}
	if (ret >= 0)
		slot_set(shm, ret, o->type, obj_off, getpid());
	shm_unlock(&shm->hdr->table_lock);
	if (ret >= 0)
		shm_epoch_bump(shm);
	return ret;
}

int shm_obj_install_or_put(struct bpftime_shm *shm, int fd, uint64_t obj_off)
{
	int ret = shm_obj_install(shm, fd, obj_off);

	if (ret < 0)
		shm_obj_put(shm, obj_off);
	return shm_err(ret);
}

void *shm_slot_obj(struct bpftime_shm *shm, int fd, uint32_t type)
{
	struct shm_slot *s;
	const char *why;
	uint64_t off;
	uint32_t t;

	if (!fd_ok(shm, fd))
		return NULL;
	s = &shm->slots[fd];
	for (int tries = 0;; tries++) {
		uint32_t g = atomic_load_explicit(&s->gen, memory_order_acquire);

		t = atomic_load_explicit(&s->type, memory_order_acquire);
		if (!t || (type && t != type))
			return NULL;
		off = atomic_load_explicit(&s->obj_off, memory_order_acquire);
		if (!off)
			return NULL; /* closed under us */
		if (!shm_obj_check(shm, t, off, &why))
			return shm_ptr(shm, off);
		/* a slot being changed (odd or new generation) is not corrupt:
		 * its type and offset were read from two different records */
		if (((g & 1) || atomic_load_explicit(&s->gen, memory_order_acquire) != g) &&
		    tries < 1000) {
			sched_yield();
			continue;
		}
		shm_report_corrupt(shm, fd, g, why);
		errno = EBADMSG;
		return NULL;
	}
}

enum bpftime_handler_type bpftime_handler_get_type(struct bpftime_shm *shm, int fd)
{
	if (!fd_ok(shm, fd))
		return BPFTIME_HANDLER_NONE;
	return atomic_load_explicit(&shm->slots[fd].type, memory_order_acquire);
}

int bpftime_handler_get_info(struct bpftime_shm *shm, int fd, struct bpftime_handler_info *info)
{
	struct shm_slot *s;
	struct shm_obj *o;
	const char *why;

	if (!fd_ok(shm, fd))
		return shm_err(-EBADF);
	s = &shm->slots[fd];
	memset(info, 0, sizeof(*info));
	for (int tries = 0;; tries++) {
		uint32_t g = atomic_load_explicit(&s->gen, memory_order_acquire);
		uint64_t off;

		/* odd: a change in progress; after a while assume its writer
		 * died (the next change heals the generation) and read anyway */
		if ((g & 1) && tries < 1000) {
			sched_yield();
			continue;
		}
		info->type = atomic_load(&s->type);
		off = atomic_load(&s->obj_off);
		if (!info->type || !off)
			return shm_err(-ENOENT);
		if (shm_obj_check(shm, info->type, off, &why)) {
			/* changed while we read it: not corrupt, read again */
			if (atomic_load_explicit(&s->gen, memory_order_acquire) != g &&
			    tries < 1000)
				continue;
			shm_report_corrupt(shm, fd, g, why);
			return shm_err(-EBADMSG);
		}
		o = shm_ptr(shm, off);
		info->gen = g;
		info->id = o->id;
		info->owner_pid = s->owner_pid;
		info->refcnt = atomic_load(&o->refcnt);
		info->pinned = atomic_load(&o->pins) > 0;
		memcpy(info->name, o->name, sizeof(info->name));
		if (atomic_load_explicit(&s->gen, memory_order_acquire) == g || tries >= 1000)
			return 0;
	}
}

int bpftime_handler_next(struct bpftime_shm *shm, int fd)
{
	for (uint32_t i = fd < 0 ? 0 : (uint32_t)fd + 1; i < shm->max_fd; i++)
		if (atomic_load_explicit(&shm->slots[i].type, memory_order_acquire))
			return (int)i;
	return -ENOENT;
}

int bpftime_handler_close(struct bpftime_shm *shm, int fd)
{
	uint64_t off;

	if (!fd_ok(shm, fd))
		return shm_err(-EBADF);
	shm_lock(&shm->hdr->table_lock);
	if (!atomic_load(&shm->slots[fd].type)) {
		shm_unlock(&shm->hdr->table_lock);
		return shm_err(-EBADF);
	}
	off = atomic_load(&shm->slots[fd].obj_off);
	slot_set(shm, fd, BPFTIME_HANDLER_NONE, 0, 0);
	shm_unlock(&shm->hdr->table_lock);
	shm_obj_put(shm, off);
	shm_epoch_bump(shm);
	return 0;
}

int bpftime_handler_dup(struct bpftime_shm *shm, int oldfd, int newfd)
{
	uint64_t off;
	int ret;

	if (!fd_ok(shm, oldfd))
		return shm_err(-EBADF);
	shm_lock(&shm->hdr->table_lock);
	if (!atomic_load(&shm->slots[oldfd].type)) {
		shm_unlock(&shm->hdr->table_lock);
		return shm_err(-EBADF);
	}
	off = atomic_load(&shm->slots[oldfd].obj_off);
	shm_obj_get(shm, off);
	shm_unlock(&shm->hdr->table_lock);
	ret = shm_obj_install(shm, newfd, off);
	if (ret < 0)
		shm_obj_put(shm, off);
	return shm_err(ret);
}

int bpftime_handler_fd_by_id(struct bpftime_shm *shm, uint32_t id)
{
	for (uint32_t i = 0; i < shm->max_fd; i++) {
		struct shm_obj *o = shm_slot_obj(shm, (int)i, 0);

		if (o && o->id == id)
			return (int)i;
	}
	return shm_err(-ENOENT);
}

int bpftime_handler_open_id(struct bpftime_shm *shm, uint32_t id, int newfd)
{
	uint64_t off = shm_obj_find_id(shm, id, 0);

	if (!off)
		return shm_err(-ENOENT);
	return shm_obj_install_or_put(shm, newfd, off);
}

struct next_ctx {
	uint32_t type, id, best;
};

static bool next_one(struct shm_obj *o, void *ctx)
{
	struct next_ctx *c = ctx;

	if ((!c->type || o->type == c->type) && o->id > c->id && (!c->best || o->id < c->best) &&
	    atomic_load(&o->refcnt))
		c->best = o->id;
	return false;
}

int bpftime_handler_next_id(struct bpftime_shm *shm, enum bpftime_handler_type type, uint32_t id,
			    uint32_t *next_id)
{
	struct next_ctx c = { .type = type, .id = id };

	shm_lock(&shm->hdr->ids_lock);
	ids_walk(shm, next_one, &c);
	shm_unlock(&shm->hdr->ids_lock);
	if (!c.best)
		return shm_err(-ENOENT);
	*next_id = c.best;
	return 0;
}

int bpftime_handler_set_owner(struct bpftime_shm *shm, int fd, pid_t pid)
{
	int ret = -EBADF;

	if (!fd_ok(shm, fd))
		return shm_err(-EBADF);
	shm_lock(&shm->hdr->table_lock);
	if (atomic_load(&shm->slots[fd].type)) {
		shm->slots[fd].owner_pid = pid;
		ret = 0;
	}
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}

static int release_if(struct bpftime_shm *shm, bool (*match)(pid_t owner, pid_t arg), pid_t arg)
{
	int n = 0;

	for (uint32_t i = 0; i < shm->max_fd; i++) {
		struct shm_slot *s = &shm->slots[i];
		struct shm_obj *o;
		pid_t owner;

		if (!atomic_load(&s->type))
			continue;
		owner = s->owner_pid;
		o = shm_slot_obj(shm, (int)i, 0);
		if (!o || !owner || !match(owner, arg) || atomic_load(&o->pins))
			continue;
		if (bpftime_handler_close(shm, (int)i) == 0)
			n++;
	}
	return n;
}

static bool owner_is(pid_t owner, pid_t pid)
{
	return owner == pid;
}

static bool owner_dead(pid_t owner, pid_t unused)
{
	UNUSED(unused);
	return kill(owner, 0) && errno == ESRCH;
}

int bpftime_shm__release_owner(struct bpftime_shm *shm, pid_t pid)
{
	return release_if(shm, owner_is, pid);
}

int bpftime_shm__reclaim_dead(struct bpftime_shm *shm)
{
	return release_if(shm, owner_dead, 0);
}
