/* SPDX-License-Identifier: MIT */
/* shm/check.c: the segment as untrusted input.  Every object record a slot
 * refers to is checked before use (shm_slot_obj, bpftime_handler_get_info,
 * the slot scan at open): inside the segment, aligned, of the slot's type,
 * and every offset and count it holds in range, so that a garbled or
 * malicious segment (a wild offset in one slot) costs that slot, reported
 * once, and never the host process.
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include "internal.h"
#include "common/log.h"

static size_t record_size(uint32_t type)
{
	switch (type) {
	case BPFTIME_HANDLER_MAP: /* the rest of a map record is maps/' */
		return sizeof(struct shm_obj) + sizeof(struct shm_owned);
	case BPFTIME_HANDLER_PROG:
		return sizeof(struct shm_prog);
	case BPFTIME_HANDLER_PERF_EVENT:
		return sizeof(struct shm_perf_event);
	case BPFTIME_HANDLER_LINK:
		return sizeof(struct shm_link);
	case BPFTIME_HANDLER_BTF:
		return sizeof(struct shm_btf);
	default:
		return 0;
	}
}

/* an optional object reference (0: none) */
static bool ref_ok(const struct bpftime_shm *shm, uint64_t off)
{
	return !off || (off % 8 == 0 && shm_range_ok(shm, off, sizeof(struct shm_obj)));
}

static bool array_ok(const struct bpftime_shm *shm, uint64_t off, uint64_t n, uint64_t size)
{
	return !off || (n <= UINT32_MAX && size <= UINT32_MAX && shm_range_ok(shm, off, n * size));
}

static const char *prog_check(const struct bpftime_shm *shm, const struct shm_prog *p)
{
	if (!p->insn_cnt || !shm_range_ok(shm, p->insns_off, (uint64_t)p->insn_cnt * 8))
		return "instructions outside the segment";
	if (p->attach_cnt > BPFTIME_PROG_MAX_ATTACH || p->used_map_cnt > BPFTIME_PROG_MAX_MAPS)
		return "attach or map count out of range";
	if (p->aot_off && !shm_range_ok(shm, p->aot_off, p->aot_size))
		return "AOT object outside the segment";
	if (!array_ok(shm, p->func_info_off, p->func_info_cnt, p->func_info_rec_size) ||
	    !array_ok(shm, p->line_info_off, p->line_info_cnt, p->line_info_rec_size))
		return "BTF func or line info outside the segment";
	for (uint32_t i = 0; i < p->used_map_cnt; i++)
		if (!p->used_maps[i] || !ref_ok(shm, p->used_maps[i]))
			return "a used map outside the segment";
	if (!ref_ok(shm, p->btf_off))
		return "BTF reference outside the segment";
	return NULL;
}

static const char *perf_check(const struct bpftime_shm *shm, const struct shm_perf_event *p)
{
	uint64_t ring = atomic_load(&p->ring_off);

	if (p->module_off &&
	    (!shm_range_ok(shm, p->module_off, 1) ||
	     !memchr(shm->base + p->module_off, 0,
		     shm->size - p->module_off < PATH_MAX ? shm->size - p->module_off : PATH_MAX)))
		return "module path outside the segment";
	if (ring && !shm_range_ok(shm, ring, p->ring_len))
		return "ring outside the segment";
	return NULL;
}

/* the blocks a record of a registered kind owns (struct shm_owned) */
static const char *owned_check(const struct bpftime_shm *shm, const struct shm_obj *o)
{
	const struct shm_owned *own = (const struct shm_owned *)(o + 1);

	for (int i = 0; i < SHM_OWNED_ALLOCS; i++)
		if (own->allocs[i] && !shm_range_ok(shm, own->allocs[i], 8))
			return "an owned block outside the segment";
	return NULL;
}

int shm_obj_check(const struct bpftime_shm *shm, uint32_t type, uint64_t off, const char **why)
{
	size_t size = record_size(type);
	const struct shm_obj *o;
	const char *w = NULL;

	if (!size) {
		w = "unknown handler type";
		goto bad;
	}
	if (off % 8 || !shm_range_ok(shm, off, size)) {
		w = "object offset outside the segment";
		goto bad;
	}
	o = (const struct shm_obj *)(shm->base + off);
	if (o->type != type) {
		w = "object of another type";
		goto bad;
	}
	switch (type) {
	case BPFTIME_HANDLER_MAP:
		w = owned_check(shm, o);
		break;
	case BPFTIME_HANDLER_PROG:
		w = prog_check(shm, (const struct shm_prog *)o);
		break;
	case BPFTIME_HANDLER_PERF_EVENT:
		w = perf_check(shm, (const struct shm_perf_event *)o);
		break;
	case BPFTIME_HANDLER_LINK: {
		const struct shm_link *l = (const struct shm_link *)o;

		if (!ref_ok(shm, l->prog_off) || !ref_ok(shm, l->target_off))
			w = "link references outside the segment";
		break;
	}
	case BPFTIME_HANDLER_BTF: {
		const struct shm_btf *b = (const struct shm_btf *)o;

		if (!shm_range_ok(shm, b->data_off, b->size))
			w = "BTF data outside the segment";
		break;
	}
	default:
		break;
	}
	if (!w)
		return 0;
bad:
	if (why)
		*why = w;
	return -EBADMSG;
}

/* One message per corrupt slot and generation (the reader calls again and
 * again: a polling tool, the agent on every epoch). */
void shm_report_corrupt(struct bpftime_shm *shm, int fd, uint32_t gen, const char *why)
{
	static _Atomic uint64_t seen[8];
	static _Atomic unsigned int next;
	uint64_t key = ((uint64_t)(uint32_t)fd << 32 | gen) + 1; /* 0: empty entry */

	for (int i = 0; i < 8; i++)
		if (atomic_load(&seen[i]) == key)
			return;
	atomic_store(&seen[atomic_fetch_add(&next, 1) % 8], key);
	pr_warn("shm '%s': slot %d is corrupt (%s): skipped\n", shm->name, fd, why);
}
