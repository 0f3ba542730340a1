/* SPDX-License-Identifier: MIT */
/* shm/objects.c: the kinds of objects shm/ stores itself: programs (with
 * their instructions, AOT objects, BTF func/line info and the maps they
 * hold), perf events (with their perf rings), links and BTF blobs. */
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
#include "common/opts.h"

/* The records shm/ knows itself: programs, perf events, links, BTF.  For
 * such a record whose last reference went, frees what it owns and drops the
 * references it holds, and returns true; false for any other type. */
bool shm_own_obj_release(struct bpftime_shm *shm, uint64_t off)
{
	struct shm_obj *o = shm_ptr(shm, off);

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
		return true;
	}
	case BPFTIME_HANDLER_PERF_EVENT: {
		struct shm_perf_event *p = (struct shm_perf_event *)o;

		shm_free(shm, p->module_off);
		shm_free(shm, atomic_load(&p->ring_off));
		return true;
	}
	case BPFTIME_HANDLER_LINK: {
		struct shm_link *l = (struct shm_link *)o;

		if (l->prog_off)
			shm_obj_put(shm, l->prog_off);
		if (l->target_off)
			shm_obj_put(shm, l->target_off);
		return true;
	}
	case BPFTIME_HANDLER_BTF:
		shm_free(shm, ((struct shm_btf *)o)->data_off);
		return true;
	default:
		return false;
	}
}

/* ---- programs --------------------------------------------------------- */

static int bind_lddw_maps(struct bpftime_shm *shm, struct shm_prog *p);

int bpftime_prog_create(struct bpftime_shm *shm, int fd, uint32_t prog_type, const char *name,
			const struct bpftime_insn *insns, size_t cnt,
			const struct bpftime_prog_create_opts *uopts)
{
	struct bpftime_prog_create_opts o, *opts = &o;
	struct shm_prog *p;
	uint64_t off;

	if (!insns || !cnt || cnt > BPFTIME_MAX_INSNS ||
	    !OPTS_VALID(uopts, bpftime_prog_create_opts))
		return shm_err(-EINVAL);
	/* callers built before the func/line info fields have none */
	OPTS_COPY(&o, uopts);
	o.attach_prog_fd = OPTS_GET(uopts, attach_prog_fd, -1);
	o.prog_btf_fd = OPTS_GET(uopts, prog_btf_fd, -1);
	if (((opts->func_info_cnt && (!opts->func_info || opts->func_info_rec_size < 8)) ||
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
	{
		struct timespec ts;

		clock_gettime(CLOCK_BOOTTIME, &ts);
		p->load_time = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		p->created_by_uid = getuid();
	}
	{
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
	{
		int err = bind_lddw_maps(shm, p);

		if (err) {
			shm_obj_put(shm, off);
			return shm_err(err);
		}
	}
	{
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
	if (opts->prog_btf_fd >= 0) {
		struct shm_obj *b;

		shm_lock(&shm->hdr->table_lock);
		b = shm_slot_obj(shm, opts->prog_btf_fd, BPFTIME_HANDLER_BTF);
		if (b) {
			p->btf_off = shm_off(shm, b);
			shm_obj_get(shm, p->btf_off);
		}
		shm_unlock(&shm->hdr->table_lock);
	}
	return shm_obj_install_or_put(shm, fd, off);
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
	info->run_cnt = atomic_load_explicit(&p->run_cnt, memory_order_relaxed);
	info->run_time_ns = atomic_load_explicit(&p->run_time_ns, memory_order_relaxed);
	info->load_time = p->load_time;
	info->created_by_uid = p->created_by_uid;
	info->kernel_id = atomic_load(&p->kernel_id);
	info->kernel_only = p->kernel_only;
	return 0;
}

int bpftime_prog_set_kernel(struct bpftime_shm *shm, int fd, uint32_t kernel_id, bool kernel_only)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return shm_err(-EBADF);
	p->kernel_only = kernel_only;
	atomic_store(&p->kernel_id, kernel_id);
	shm_epoch_bump(shm);
	return 0;
}

int bpftime_prog_stats_add(struct bpftime_shm *shm, int fd, uint64_t cnt, uint64_t ns)
{
	struct shm_prog *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PROG);

	if (!p)
		return shm_err(-EBADF);
	atomic_fetch_add_explicit(&p->run_cnt, cnt, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->run_time_ns, ns, memory_order_relaxed);
	return 0;
}

/* the program of a link an agent runs: no slot of its own may name it */
int bpftime_prog_stats_add_by_id(struct bpftime_shm *shm, uint32_t id, uint64_t cnt, uint64_t ns)
{
	uint64_t off = shm_obj_find_id(shm, id, BPFTIME_HANDLER_PROG);
	struct shm_prog *p;

	if (!off)
		return shm_err(-ENOENT);
	p = shm_ptr(shm, off);
	atomic_fetch_add_explicit(&p->run_cnt, cnt, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->run_time_ns, ns, memory_order_relaxed);
	shm_obj_put(shm, off);
	return 0;
}

const uint32_t *bpftime_shm__stats_word(const struct bpftime_shm *shm)
{
	return (const uint32_t *)&shm->hdr->stats_enabled;
}

void bpftime_shm__stats_enable(struct bpftime_shm *shm, bool on)
{
	uint32_t c = atomic_load(&shm->hdr->stats_enabled);

	/* never below zero, whatever a dead holder left */
	while (on || c)
		if (atomic_compare_exchange_weak(&shm->hdr->stats_enabled, &c, on ? c + 1 : c - 1))
			break;
	/* the agents' syscall tracepoint tables carry the state: they sync */
	if (on ? !c : c == 1)
		shm_epoch_bump(shm);
}

bool bpftime_shm__stats_enabled(const struct bpftime_shm *shm)
{
	return atomic_load_explicit(&shm->hdr->stats_enabled, memory_order_relaxed) != 0;
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

/* Program @p holds map @m (once); table lock held.  0 or -E2BIG. */
static int hold_map(struct bpftime_shm *shm, struct shm_prog *p, struct shm_obj *m)
{
	uint64_t off = shm_off(shm, m);

	for (uint32_t i = 0; i < p->used_map_cnt; i++)
		if (p->used_maps[i] == off)
			return 0;
	if (p->used_map_cnt >= BPFTIME_PROG_MAX_MAPS)
		return -E2BIG;
	shm_obj_get(shm, off);
	p->used_maps[p->used_map_cnt++] = off;
	return 0;
}

/* The map references of a new program's lddws (pseudo sources map fd and
 * map value) name maps by the creator's fds; the program is stored with
 * the maps' ids instead (the kernel's xlated form) and holds each map, so
 * that it names the same maps in every process, for as long as it lives,
 * whatever becomes of those fds.  0, -EBADF (not a map), -E2BIG. */
static int bind_lddw_maps(struct bpftime_shm *shm, struct shm_prog *p)
{
	struct bpftime_insn *in = shm_ptr(shm, p->insns_off);
	int ret = 0;

	shm_lock(&shm->hdr->table_lock);
	for (uint32_t i = 0; !ret && i + 1 < p->insn_cnt; i++) {
		struct shm_obj *m;

		if (in[i].code != 0x18) /* BPF_LD | BPF_IMM | BPF_DW */
			continue;
		if (in[i].src == BPFTIME_PSEUDO_MAP_FD || in[i].src == BPFTIME_PSEUDO_MAP_VALUE) {
			m = shm_slot_obj(shm, in[i].imm, BPFTIME_HANDLER_MAP);
			ret = m ? hold_map(shm, p, m) : -EBADF;
			if (!ret)
				in[i].imm = (int32_t)m->id;
		}
		i++;
	}
	shm_unlock(&shm->hdr->table_lock);
	return ret;
}

int bpftime_prog_bind_map(struct bpftime_shm *shm, int prog_fd, int map_fd)
{
	struct shm_prog *p;
	struct shm_obj *m;
	int ret;

	shm_lock(&shm->hdr->table_lock);
	p = shm_slot_obj(shm, prog_fd, BPFTIME_HANDLER_PROG);
	m = shm_slot_obj(shm, map_fd, BPFTIME_HANDLER_MAP);
	ret = p && m ? hold_map(shm, p, m) : -EBADF;
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
			      const struct bpftime_perf_event_opts *uopts)
{
	struct bpftime_perf_event_opts o;
	const struct bpftime_perf_event_opts *opts = &o;
	struct shm_perf_event *p;
	uint64_t off;

	/* required: it says what the event is */
	if (!uopts || !OPTS_VALID(uopts, bpftime_perf_event_opts))
		return shm_err(-EINVAL);
	OPTS_COPY(&o, uopts);
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
	p->sample_period = opts->sample_period;
	p->freq = opts->freq;
	if (opts->module) {
		p->module_off = shm_strdup(shm, opts->module);
		if (!p->module_off) {
			shm_obj_put(shm, off);
			return shm_err(-ENOMEM);
		}
	}
	return shm_obj_install_or_put(shm, fd, off);
}

static void perf_info_of(struct bpftime_shm *shm, struct shm_perf_event *p,
			 struct bpftime_perf_event_info *info);

int bpftime_perf_event_get_info(struct bpftime_shm *shm, int fd,
				struct bpftime_perf_event_info *info)
{
	struct shm_perf_event *p = shm_slot_obj(shm, fd, BPFTIME_HANDLER_PERF_EVENT);

	if (!p)
		return shm_err(-EBADF);
	perf_info_of(shm, p, info);
	return 0;
}

int bpftime_perf_event_get_info_by_id(struct bpftime_shm *shm, uint32_t id,
				      struct bpftime_perf_event_info *info)
{
	uint64_t off = shm_obj_find_id(shm, id, BPFTIME_HANDLER_PERF_EVENT);
	const char *why;
	int ret = 0;

	if (!off)
		return shm_err(-ENOENT);
	if (shm_obj_check(shm, BPFTIME_HANDLER_PERF_EVENT, off, &why))
		ret = -EBADMSG;
	else
		perf_info_of(shm, shm_ptr(shm, off), info);
	/* the caller knows what holds it (a link): the module string stays */
	shm_obj_put(shm, off);
	return shm_err(ret);
}

static void perf_info_of(struct bpftime_shm *shm, struct shm_perf_event *p,
			 struct bpftime_perf_event_info *info)
{
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
	info->sample_period = p->sample_period;
	info->freq = p->freq;
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

/* the lowest slot referring to object @off, or -1 */
static int slot_of(struct bpftime_shm *shm, uint64_t off)
{
	for (uint32_t i = 0; off && i < shm->max_fd; i++)
		if (atomic_load_explicit(&shm->slots[i].obj_off, memory_order_acquire) == off &&
		    atomic_load_explicit(&shm->slots[i].type, memory_order_acquire))
			return (int)i;
	return -1;
}

int bpftime_link_create(struct bpftime_shm *shm, int fd, int prog_fd, int target_fd,
			const struct bpftime_link_opts *opts)
{
	struct shm_link *l;
	struct shm_obj *prog, *target = NULL;
	uint64_t off;

	if (!OPTS_VALID(opts, bpftime_link_opts))
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
	l->attach_type = OPTS_GET(opts, attach_type, 0);
	l->cookie = OPTS_GET(opts, cookie, 0);
	return shm_obj_install_or_put(shm, fd, off);
}

static void link_info_of(struct bpftime_shm *shm, struct shm_link *l,
			 struct bpftime_link_info *info);

int bpftime_link_get_info(struct bpftime_shm *shm, int fd, struct bpftime_link_info *info)
{
	struct shm_link *l = shm_slot_obj(shm, fd, BPFTIME_HANDLER_LINK);

	if (!l)
		return shm_err(-EBADF);
	link_info_of(shm, l, info);
	return 0;
}

/* A link no slot names (its loader pinned it and closed its fd): the
 * agents find links by id, as the kernel keeps a link for as long as a pin
 * or an fd holds it. */
int bpftime_link_get_info_by_id(struct bpftime_shm *shm, uint32_t id,
				struct bpftime_link_info *info)
{
	uint64_t off = shm_obj_find_id(shm, id, BPFTIME_HANDLER_LINK);
	const char *why;
	int ret = 0;

	if (!off)
		return shm_err(-ENOENT);
	if (shm_obj_check(shm, BPFTIME_HANDLER_LINK, off, &why))
		ret = -EBADMSG;
	else
		link_info_of(shm, shm_ptr(shm, off), info);
	shm_obj_put(shm, off);
	return shm_err(ret);
}

static void link_info_of(struct bpftime_shm *shm, struct shm_link *l,
			 struct bpftime_link_info *info)
{
	memset(info, 0, sizeof(*info));
	/* the link holds the objects; the fds naming them now (the creator's
	 * may be closed, or reused for other objects) */
	info->prog_fd = slot_of(shm, l->prog_off);
	info->target_fd = slot_of(shm, l->target_off);
	info->prog_id = l->prog_off ? ((struct shm_obj *)shm_ptr(shm, l->prog_off))->id : 0;
	info->target_id = l->target_off ? ((struct shm_obj *)shm_ptr(shm, l->target_off))->id : 0;
	info->attach_type = l->attach_type;
	info->cookie = l->cookie;
	info->id = l->obj.id;
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
	return shm_obj_install_or_put(shm, fd, off);
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
