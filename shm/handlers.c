/* shm/handlers.c: the handler table and the objects it refers to (programs,
 * perf events, links, BTF blobs; maps are a kind maps/ registers, see
 * store.h), pinned paths and owner bookkeeping.
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

/* Records of registered kinds (not shm/'s own) carry their grace-period
 * entry right after struct shm_obj (store.h), so that this process can park
 * and walk them without having their kind. */
static struct shm_defer *defer_of(struct bpftime_shm *shm, uint64_t off)
{
	return (struct shm_defer *)((struct shm_obj *)shm_ptr(shm, off) + 1);
}

/* Puts the record at @off on the grace-period list; @released: its
 * references are dropped already (its kind is registered here). */
static void park(struct bpftime_shm *shm, uint64_t off, bool released)
{
	struct shm_defer *d = defer_of(shm, off);

	d->ns = released ? mono_ns() | 1 : 0; /* never 0 once released */
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
		struct shm_defer *d = defer_of(shm, off);
		uint32_t type = ((struct shm_obj *)shm_ptr(shm, off))->type;

		/* a record of a kind this process does not have waits for a
		 * process that has it */
		if (kind_ops(shm, type) && (all || !d->ns || now - d->ns >= SHM_FREE_GRACE_NS)) {
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
		struct shm_defer *d = defer_of(shm, list);

		off = list;
		list = d->next;
		if (!d->ns && ops->release)
			ops->release(shm, off); /* parked by a process without the kind */
		if (ops->free)
			ops->free(shm, off);
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

	switch (o->type) {
	case BPFTIME_HANDLER_PROG: {
		struct shm_prog *p = (struct shm_prog *)o;

		shm_free(shm, p->insns_off);
		shm_free(shm, p->aot_off);
		shm_free(shm, p->func_info_off);
		shm_free(shm, p->line_info_off);
		for (uint32_t i = 0; i < p->used_map_cnt; i++)
			shm_obj_put(shm, p->used_maps[i]);
		if (p->btf_off)
			shm_obj_put(shm, p->btf_off);
		break;
	}
	case BPFTIME_HANDLER_PERF_EVENT: {
		struct shm_perf_event *p = (struct shm_perf_event *)o;

		shm_free(shm, p->module_off);
		shm_free(shm, atomic_load(&p->ring_off));
		break;
	}
	case BPFTIME_HANDLER_LINK: {
		struct shm_link *l = (struct shm_link *)o;

		if (l->prog_off)
			shm_obj_put(shm, l->prog_off);
		if (l->target_off)
			shm_obj_put(shm, l->target_off);
		break;
	}
	case BPFTIME_HANDLER_BTF:
		shm_free(shm, ((struct shm_btf *)o)->data_off);
		break;
	default:
		/* a registered kind (maps): references it holds go now, its
		 * memory after the grace period */
		ops = kind_ops(shm, o->type);
		if (ops && ops->release)
			ops->release(shm, off);
		park(shm, off, ops != NULL);
		return;
	}
	o->type = BPFTIME_HANDLER_NONE;
	shm_free(shm, off);
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

void *shm_slot_obj(struct bpftime_shm *shm, int fd, uint32_t type)
{
	struct shm_slot *s;
	uint64_t off;
	uint32_t t;

	if (!fd_ok(shm, fd))
		return NULL;
	s = &shm->slots[fd];
	t = atomic_load_explicit(&s->type, memory_order_acquire);
	if (!t || (type && t != type))
		return NULL;
	off = atomic_load_explicit(&s->obj_off, memory_order_acquire);
	return off ? shm_ptr(shm, off) : NULL; /* 0: closed under us */
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

/* The object with @id, wherever a reference to it lives: a slot, a pin, or
 * the maps and the BTF a program holds (BPF_PROG_BIND_MAP / used_maps,
 * prog_btf_fd).  Called with
 * the table lock held; returns its offset or 0. */
static uint64_t find_id_locked(struct bpftime_shm *shm, uint32_t id)
{
	for (uint32_t i = 0; i < shm->max_fd; i++) {
		struct shm_obj *o = shm_slot_obj(shm, (int)i, 0);

		if (o && o->id == id)
			return shm_off(shm, o);
	}
	for (int i = 0; i < BPFTIME_MAX_PINS; i++) {
		uint64_t off = shm->pins[i].obj_off;

		if (off && ((struct shm_obj *)shm_ptr(shm, off))->id == id)
			return off;
	}
	for (uint32_t i = 0; i < shm->max_fd; i++) {
		struct shm_prog *p = shm_slot_obj(shm, (int)i, BPFTIME_HANDLER_PROG);

		for (uint32_t k = 0; p && k < p->used_map_cnt; k++)
			if (((struct shm_obj *)shm_ptr(shm, p->used_maps[k]))->id == id)
				return p->used_maps[k];
		if (p && p->btf_off && ((struct shm_obj *)shm_ptr(shm, p->btf_off))->id == id)
			return p->btf_off;
	}
	return 0;
}

int bpftime_handler_open_id(struct bpftime_shm *shm, uint32_t id, int newfd)
{
	uint64_t off;
	int ret;

	shm_lock(&shm->hdr->table_lock);
	off = id ? find_id_locked(shm, id) : 0;
	if (off)
		shm_obj_get(shm, off);
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(-ENOENT);
	ret = shm_obj_install(shm, newfd, off);
	if (ret < 0)
		shm_obj_put(shm, off);
	return shm_err(ret);
}

int bpftime_handler_next_id(struct bpftime_shm *shm, enum bpftime_handler_type type, uint32_t id,
			     uint32_t *next_id)
{
	uint32_t best = 0;

	for (uint32_t i = 0; i < shm->max_fd; i++) {
		struct shm_obj *o = shm_slot_obj(shm, (int)i, type);

		if (o && o->id > id && (!best || o->id < best))
			best = o->id;
	}
	if (!best)
		return shm_err(-ENOENT);
	*next_id = best;
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

/* ---- pins ------------------------------------------------------------- */

static int pin_find(struct bpftime_shm *shm, const char *path)
{
	for (int i = 0; i < BPFTIME_MAX_PINS; i++)
		if (shm->pins[i].obj_off && !strcmp(shm->pins[i].path, path))
			return i;
	return -ENOENT;
}

int bpftime_obj_pin(struct bpftime_shm *shm, int fd, const char *path)
{
	struct shm_obj *o;
	uint64_t off;
	int ret = -ENOSPC;

	if (!path || !*path)
		return shm_err(-EINVAL);
	if (strlen(path) >= BPFTIME_PIN_PATH_MAX)
		return shm_err(-ENAMETOOLONG);
	shm_lock(&shm->hdr->table_lock);
	o = shm_slot_obj(shm, fd, 0);
	if (!o) {
		ret = -EBADF;
		goto out;
	}
	if (pin_find(shm, path) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	off = shm_off(shm, o);
	for (int i = 0; i < BPFTIME_MAX_PINS; i++) {
		if (shm->pins[i].obj_off)
			continue;
		strcpy(shm->pins[i].path, path);
		shm->pins[i].obj_off = off;
		shm_obj_get(shm, off);
		atomic_fetch_add(&o->pins, 1);
		ret = 0;
		break;
	}
out:
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		shm_epoch_bump(shm);
	return shm_err(ret);
}

int bpftime_obj_get(struct bpftime_shm *shm, const char *path, int newfd)
{
	uint64_t off = 0;
	int i, ret;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = pin_find(shm, path);
	if (i >= 0) {
		off = shm->pins[i].obj_off;
		shm_obj_get(shm, off);
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(-ENOENT);
	ret = shm_obj_install(shm, newfd, off);
	if (ret < 0)
		shm_obj_put(shm, off);
	return shm_err(ret);
}

int bpftime_obj_unpin(struct bpftime_shm *shm, const char *path)
{
	uint64_t off = 0;
	int i;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = pin_find(shm, path);
	if (i >= 0) {
		struct shm_obj *o;

		off = shm->pins[i].obj_off;
		o = shm_ptr(shm, off);
		atomic_fetch_sub(&o->pins, 1);
		shm->pins[i].obj_off = 0;
		shm->pins[i].path[0] = 0;
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(-ENOENT);
	shm_obj_put(shm, off);
	shm_epoch_bump(shm);
	return 0;
}

int bpftime_obj_pin_at(struct bpftime_shm *shm, int i, char *path, size_t len)
{
	int ret = -ENOENT;

	if (i < 0 || i >= BPFTIME_MAX_PINS)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	if (shm->pins[i].obj_off) {
		struct shm_obj *o = shm_ptr(shm, shm->pins[i].obj_off);

		if (path && len) {
			strncpy(path, shm->pins[i].path, len - 1);
			path[len - 1] = 0;
		}
		ret = (int)o->id;
	}
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}

/* ---- programs --------------------------------------------------------- */

static int install_or_drop(struct bpftime_shm *shm, int fd, uint64_t off)
{
	int ret = shm_obj_install(shm, fd, off);

	if (ret < 0)
		shm_obj_put(shm, off);
	return shm_err(ret);
}

int bpftime_prog_create(struct bpftime_shm *shm, int fd, uint32_t prog_type, const char *name,
			 const struct bpftime_insn *insns, size_t cnt,
			 const struct bpftime_prog_create_opts *opts)
{
	/* callers built before the func/line info fields */
	const size_t old_sz = offsetof(struct bpftime_prog_create_opts, func_info);
	struct shm_prog *p;
	uint64_t off;

	if (!insns || !cnt || cnt > BPFTIME_MAX_INSNS || (opts && opts->sz < old_sz))
		return shm_err(-EINVAL);
	if (opts && opts->sz >= sizeof(*opts) &&
	    ((opts->func_info_cnt && (!opts->func_info || opts->func_info_rec_size < 8)) ||
	     (opts->line_info_cnt && (!opts->line_info || opts->line_info_rec_size < 16)) ||
	     opts->func_info_cnt > BPFTIME_MAX_INSNS || opts->line_info_cnt > BPFTIME_MAX_INSNS ||
	     opts->func_info_rec_size > 4096 || opts->line_info_rec_size > 4096))
		return shm_err(-EINVAL);
	off = shm_obj_new(shm, BPFTIME_HANDLER_PROG, sizeof(*p), name);
	if (!off)
		return shm_err(-ENOMEM);
	p = shm_ptr(shm, off);
	p->prog_type = prog_type;
	p->insn_cnt = (uint32_t)cnt;
	p->attach_prog_fd = -1;
	p->prog_btf_fd = -1;
	if (opts) {
		p->expected_attach_type = opts->expected_attach_type;
		p->prog_flags = opts->prog_flags;
		p->kern_version = opts->kern_version;
		p->attach_btf_id = opts->attach_btf_id;
		p->attach_prog_fd = opts->attach_prog_fd;
		p->prog_btf_fd = opts->prog_btf_fd;
		if (opts->license)
			strncpy(p->license, opts->license, sizeof(p->license) - 1);
	}
	p->insns_off = shm_alloc(shm, cnt * sizeof(*insns), 16);
	if (!p->insns_off)
		goto nomem;
	memcpy(shm_ptr(shm, p->insns_off), insns, cnt * sizeof(*insns));
	if (opts && opts->sz >= sizeof(*opts)) {
		size_t fsz = (size_t)opts->func_info_cnt * opts->func_info_rec_size;
		size_t lsz = (size_t)opts->line_info_cnt * opts->line_info_rec_size;

		if (fsz) {
			p->func_info_off = shm_alloc(shm, fsz, 8);
			if (!p->func_info_off)
				goto nomem;
			memcpy(shm_ptr(shm, p->func_info_off), opts->func_info, fsz);
			p->func_info_rec_size = opts->func_info_rec_size;
			p->func_info_cnt = opts->func_info_cnt;
		}
		if (lsz) {
			p->line_info_off = shm_alloc(shm, lsz, 8);
			if (!p->line_info_off)
				goto nomem;
			memcpy(shm_ptr(shm, p->line_info_off), opts->line_info, lsz);
			p->line_info_rec_size = opts->line_info_rec_size;
			p->line_info_cnt = opts->line_info_cnt;
		}
	}
	if (opts && opts->prog_btf_fd >= 0) {
		struct shm_obj *b;

		shm_lock(&shm->hdr->table_lock);
		b = shm_slot_obj(shm, opts->prog_btf_fd, BPFTIME_HANDLER_BTF);
		if (b) {
			p->btf_off = shm_off(shm, b);
			shm_obj_get(shm, p->btf_off);
		}
		shm_unlock(&shm->hdr->table_lock);
	}
	return install_or_drop(shm, fd, off);
nomem:
	shm_obj_put(shm, off);
	return shm_err(-ENOMEM);
}

int bpftime_prog_get_info(struct bpftime_shm *shm, int fd, struct bpftime_prog_info *info)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return shm_err(-EBADF);
	memset(info, 0, sizeof(*info));
	info->type = p->prog_type;
	info->expected_attach_type = p->expected_attach_type;
	info->id = p->obj.id;
	info->insn_cnt = p->insn_cnt;
	info->prog_flags = p->prog_flags;
	info->kern_version = p->kern_version;
	info->attach_btf_id = p->attach_btf_id;
	info->attach_prog_fd = p->attach_prog_fd;
	info->prog_btf_fd = p->prog_btf_fd;
	info->attach_cnt = p->attach_cnt;
	info->used_map_cnt = p->used_map_cnt;
	memcpy(info->attach_fds, p->attach_fds, sizeof(info->attach_fds));
	info->aot_size = p->aot_size;
	memcpy(info->name, p->obj.name, sizeof(info->name));
	memcpy(info->license, p->license, sizeof(info->license));
	info->btf_id = p->btf_off ? ((struct shm_obj *)shm_ptr(shm, p->btf_off))->id : 0;
	info->func_info_cnt = p->func_info_cnt;
	info->line_info_cnt = p->line_info_cnt;
	return 0;
}

int bpftime_prog_get_btf_ext(struct bpftime_shm *shm, int fd, struct bpftime_prog_btf_ext *ext)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return shm_err(-EBADF);
	memset(ext, 0, sizeof(*ext));
	if (p->func_info_off) {
		ext->func_info = shm_ptr(shm, p->func_info_off);
		ext->func_info_rec_size = p->func_info_rec_size;
		ext->func_info_cnt = p->func_info_cnt;
	}
	if (p->line_info_off) {
		ext->line_info = shm_ptr(shm, p->line_info_off);
		ext->line_info_rec_size = p->line_info_rec_size;
		ext->line_info_cnt = p->line_info_cnt;
	}
	return 0;
}

const struct bpftime_insn *bpftime_prog_insns(struct bpftime_shm *shm, int fd, size_t *cnt)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return errno = EBADF, NULL;
	if (cnt)
		*cnt = p->insn_cnt;
	return shm_ptr(shm, p->insns_off);
}

int bpftime_prog_add_attach_fd(struct bpftime_shm *shm, int fd, int target_fd)
{
	struct shm_prog *p;
	int ret = 0;

	shm_lock(&shm->hdr->table_lock);
	p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);
	if (!p)
		ret = -EBADF;
	else if (p->attach_cnt >= BPFTIME_PROG_MAX_ATTACH)
		ret = -E2BIG;
	else
		p->attach_fds[p->attach_cnt++] = target_fd;
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		shm_epoch_bump(shm);
	return shm_err(ret);
}

int bpftime_prog_bind_map(struct bpftime_shm *shm, int prog_fd, int map_fd)
{
	struct shm_prog *p;
	struct shm_obj *m;
	uint64_t off;
	int ret = 0;

	shm_lock(&shm->hdr->table_lock);
	p = shm_slot_obj(shm, prog_fd, BPFTIME_HANDLER_PROG);
	m = shm_slot_obj(shm, map_fd, BPFTIME_HANDLER_MAP);
	if (!p || !m) {
		ret = -EBADF;
		goto out;
	}
	off = shm_off(shm, m);
	for (uint32_t i = 0; i < p->used_map_cnt; i++)
		if (p->used_maps[i] == off)
			goto out;
	if (p->used_map_cnt >= BPFTIME_PROG_MAX_MAPS) {
		ret = -E2BIG;
		goto out;
	}
	shm_obj_get(shm, off);
	p->used_maps[p->used_map_cnt++] = off;
out:
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}

int bpftime_prog_map_ids(struct bpftime_shm *shm, int prog_fd, uint32_t *ids, int max)
{
	struct shm_prog *p;
	int n;

	shm_lock(&shm->hdr->table_lock);
	p = shm_slot_obj(shm, prog_fd, BPFTIME_HANDLER_PROG);
	if (!p) {
		shm_unlock(&shm->hdr->table_lock);
		return shm_err(-EBADF);
	}
	n = (int)p->used_map_cnt;
	for (int i = 0; i < n && i < max; i++)
		ids[i] = ((struct shm_obj *)shm_ptr(shm, p->used_maps[i]))->id;
	shm_unlock(&shm->hdr->table_lock);
	return n;
}

int bpftime_prog_set_aot(struct bpftime_shm *shm, int fd, const void *obj, size_t size)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);
	uint64_t off, old;

	if (!p)
		return shm_err(-EBADF);
	if (!obj || !size)
		return shm_err(-EINVAL);
	off = shm_alloc(shm, size, 16);
	if (!off)
		return shm_err(-ENOMEM);
	memcpy(shm_ptr(shm, off), obj, size);
	shm_lock(&shm->hdr->table_lock);
	old = p->aot_off;
	p->aot_off = off;
	p->aot_size = size;
	shm_unlock(&shm->hdr->table_lock);
	shm_free(shm, old);
	shm_epoch_bump(shm);
	return 0;
}

const void *bpftime_prog_aot(struct bpftime_shm *shm, int fd, size_t *size)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return errno = EBADF, NULL;
	if (!p->aot_off)
		return errno = ENOENT, NULL;
	if (size)
		*size = p->aot_size;
	return shm_ptr(shm, p->aot_off);
}

/* ---- perf events ------------------------------------------------------ */

int bpftime_perf_event_create(struct bpftime_shm *shm, int fd,
			       const struct bpftime_perf_event_opts *opts)
{
	struct shm_perf_event *p;
	uint64_t off;

	if (!opts || opts->sz < sizeof(*opts))
		return shm_err(-EINVAL);
	switch (opts->type) {
	case BPFTIME_PERF_TYPE_UPROBE:
	case BPFTIME_PERF_TYPE_URETPROBE:
	case BPFTIME_PERF_TYPE_UPROBE_OVERRIDE:
		if (!opts->module || !*opts->module)
			return shm_err(-EINVAL);
		break;
	case BPFTIME_PERF_TYPE_TRACEPOINT:
	case BPFTIME_PERF_TYPE_SOFTWARE:
		break;
	default:
		return shm_err(-EINVAL);
	}
	off = shm_obj_new(shm, BPFTIME_HANDLER_PERF_EVENT, sizeof(*p), NULL);
	if (!off)
		return shm_err(-ENOMEM);
	p = shm_ptr(shm, off);
	p->type = opts->type;
	p->pid = opts->pid;
	p->offset = opts->offset;
	p->ref_ctr_off = opts->ref_ctr_off;
	p->tracepoint_id = opts->tracepoint_id;
	p->cpu = opts->cpu;
	p->config = opts->config;
	p->sample_type = opts->sample_type;
	p->cookie = opts->cookie;
	if (opts->module) {
		p->module_off = shm_strdup(shm, opts->module);
		if (!p->module_off) {
			shm_obj_put(shm, off);
			return shm_err(-ENOMEM);
		}
	}
	return install_or_drop(shm, fd, off);
}

int bpftime_perf_event_get_info(struct bpftime_shm *shm, int fd, struct bpftime_perf_event_info *info)
{
	struct shm_perf_event *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PERF_EVENT);

	if (!p)
		return shm_err(-EBADF);
	memset(info, 0, sizeof(*info));
	info->type = p->type;
	info->pid = p->pid;
	info->module = p->module_off ? shm_ptr(shm, p->module_off) : "";
	info->offset = p->offset;
	info->ref_ctr_off = p->ref_ctr_off;
	info->tracepoint_id = p->tracepoint_id;
	info->cpu = p->cpu;
	info->config = p->config;
	info->sample_type = p->sample_type;
	info->cookie = p->cookie;
	info->id = p->obj.id;
	info->enabled = atomic_load(&p->enabled);
	info->ring_off = atomic_load(&p->ring_off);
	info->ring_len = p->ring_len;
	return 0;
}

int bpftime_perf_event_enable(struct bpftime_shm *shm, int fd, bool enable)
{
	struct shm_perf_event *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PERF_EVENT);

	if (!p)
		return shm_err(-EBADF);
	atomic_store(&p->enabled, enable);
	shm_epoch_bump(shm);
	return 0;
}

int bpftime_perf_event_set_cookie(struct bpftime_shm *shm, int fd, uint64_t cookie)
{
	struct shm_perf_event *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PERF_EVENT);

	if (!p)
		return shm_err(-EBADF);
	p->cookie = cookie;
	shm_epoch_bump(shm);
	return 0;
}

/* The perf ring: struct perf_event_mmap_page in the first page (data_head at
 * byte 1024, data_tail 1032, data_offset 1040, data_size 1048, as in
 * linux/perf_event.h), then the data pages.  Our producer lock and lost
 * counter live at byte 2048 of that page, which the kernel leaves reserved. */
int bpftime_perf_event_mmap_ring(struct bpftime_shm *shm, int fd, size_t len, uint64_t *offp)
{
	struct shm_perf_event *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PERF_EVENT);
	size_t data = len - shm->page_size;
	uint64_t off;
	char *meta;
	int ret = 0;

	if (!p)
		return shm_err(-EBADF);
	if (len <= shm->page_size || len % shm->page_size || (data & (data - 1)))
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	off = atomic_load(&p->ring_off);
	if (off) {
		if (p->ring_len != len)
			ret = -EINVAL;
		goto out;
	}
	off = shm_alloc(shm, len, shm->page_size);
	if (!off) {
		ret = -ENOMEM;
		goto out;
	}
	meta = shm_ptr(shm, off);
	*(uint64_t *)(meta + 1040) = shm->page_size; /* data_offset */
	*(uint64_t *)(meta + 1048) = data;	     /* data_size */
	*(uint32_t *)(meta + 0) = 0;		     /* version */
	*(uint32_t *)(meta + 4) = 0;		     /* compat_version */
	ret = shm_mutex_init((struct shm_mutex *)(meta + 2048));
	if (ret) {
		shm_free(shm, off);
		goto out;
	}
	p->ring_len = len;
	atomic_store(&p->ring_off, off);
out:
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		*offp = off;
	return shm_err(ret);
}

/* ---- links ------------------------------------------------------------ */

int bpftime_link_create(struct bpftime_shm *shm, int fd, int prog_fd, int target_fd,
			 const struct bpftime_link_opts *opts)
{
	struct shm_link *l;
	struct shm_obj *prog, *target = NULL;
	uint64_t off;

	if (opts && opts->sz < sizeof(*opts))
		return shm_err(-EINVAL);
	off = shm_obj_new(shm, BPFTIME_HANDLER_LINK, sizeof(*l), NULL);
	if (!off)
		return shm_err(-ENOMEM);
	l = shm_ptr(shm, off);
	shm_lock(&shm->hdr->table_lock);
	prog = shm_slot_obj(shm, prog_fd, BPFTIME_HANDLER_PROG);
	if (target_fd >= 0)
		target = shm_slot_obj(shm, target_fd, 0);
	if (!prog || (target_fd >= 0 && !target)) {
		shm_unlock(&shm->hdr->table_lock);
		shm_obj_put(shm, off);
		return shm_err(-EBADF);
	}
	l->prog_fd = prog_fd;
	l->target_fd = target_fd;
	l->prog_off = shm_off(shm, prog);
	shm_obj_get(shm, l->prog_off);
	if (target) {
		l->target_off = shm_off(shm, target);
		shm_obj_get(shm, l->target_off);
	}
	shm_unlock(&shm->hdr->table_lock);
	if (opts) {
		l->attach_type = opts->attach_type;
		l->cookie = opts->cookie;
	}
	return install_or_drop(shm, fd, off);
}

int bpftime_link_get_info(struct bpftime_shm *shm, int fd, struct bpftime_link_info *info)
{
	struct shm_link *l = shm_slot_obj(shm, fd, BPFTIME_HANDLER_LINK);

	if (!l)
		return shm_err(-EBADF);
	memset(info, 0, sizeof(*info));
	info->prog_fd = l->prog_fd;
	info->target_fd = l->target_fd;
	info->prog_id = l->prog_off ? ((struct shm_obj *)shm_ptr(shm, l->prog_off))->id : 0;
	info->target_id = l->target_off ? ((struct shm_obj *)shm_ptr(shm, l->target_off))->id : 0;
	info->attach_type = l->attach_type;
	info->cookie = l->cookie;
	info->id = l->obj.id;
	return 0;
}

/* ---- BTF -------------------------------------------------------------- */

int bpftime_btf_create(struct bpftime_shm *shm, int fd, const void *data, size_t size)
{
	struct shm_btf *b;
	uint64_t off;

	if (!data || !size)
		return shm_err(-EINVAL);
	off = shm_obj_new(shm, BPFTIME_HANDLER_BTF, sizeof(*b), NULL);
	if (!off)
		return shm_err(-ENOMEM);
	b = shm_ptr(shm, off);
	b->data_off = shm_alloc(shm, size, 16);
	if (!b->data_off) {
		shm_obj_put(shm, off);
		return shm_err(-ENOMEM);
	}
	memcpy(shm_ptr(shm, b->data_off), data, size);
	b->size = size;
	return install_or_drop(shm, fd, off);
}

const void *bpftime_btf_data(struct bpftime_shm *shm, int fd, size_t *size)
{
	struct shm_btf *b = shm_slot_obj(shm, fd, BPFTIME_HANDLER_BTF);

	if (!b)
		return errno = EBADF, NULL;
	if (size)
		*size = b->size;
	return shm_ptr(shm, b->data_off);
}
