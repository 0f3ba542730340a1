/* SPDX-License-Identifier: MIT */
/* helpers/maps.c: the map helpers (lookup/update/delete, push/pop/peek,
 * lookup_percpu_elem, for_each_map_elem) and bpf_loop, the two helpers that
 * call back into the program.
 *
 * r1 of a map helper is what an lddw of the map resolved to: this process's
 * struct bpftime_map handle (runtime.c).  Callbacks are function values
 * (lddw src 4) that bpftime_vm__call_func() runs on the engine of the program running
 * on this thread.
 */
#include <errno.h>
#include <bpftime/map.h>
#include "internal.h"
#include <bpftime/vm.h>
#include "common/compiler.h"

#define LOOP_MAX (1u << 23) /* the kernel's BPF_MAX_LOOPS */

#define MAP(r) ((struct bpftime_map *)(uintptr_t)(r))
#define PTR(r) ((void *)(uintptr_t)(r))

HELPER_DECL(map_lookup_elem)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)(uintptr_t)bpftime_map__lookup_elem(MAP(r1), PTR(r2));
}

HELPER_DECL(map_update_elem)
{
	UNUSED(r5);
	return (uint64_t)bpftime_map__update_elem(MAP(r1), PTR(r2), PTR(r3), r4);
}

HELPER_DECL(map_delete_elem)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)bpftime_map__delete_elem(MAP(r1), PTR(r2));
}

HELPER_DECL(map_push_elem)
{
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)bpftime_map__push_elem(MAP(r1), PTR(r2), r3);
}

/* bpf_spin_lock/unlock: r1 points at a struct bpf_spin_lock inside a map
 * value.  The protocol is the one BPF_F_LOCK control-plane operations use,
 * so a program and a loader's locked update exclude each other. */
HELPER_DECL(spin_lock)
{
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	bpftime_spin_lock(PTR(r1));
	return 0;
}

HELPER_DECL(spin_unlock)
{
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	bpftime_spin_unlock(PTR(r1));
	return 0;
}

HELPER_DECL(map_pop_elem)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)bpftime_map__pop_elem(MAP(r1), PTR(r2));
}

HELPER_DECL(map_peek_elem)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)bpftime_map__peek_elem(MAP(r1), PTR(r2));
}

HELPER_DECL(map_lookup_percpu_elem)
{
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)(uintptr_t)bpftime_map__lookup_percpu_elem(MAP(r1), PTR(r2), (uint32_t)r3);
}

struct each_ctx {
	uint64_t fn;
	uint64_t cb_ctx;
};

/* long (*callback_fn)(struct bpf_map *map, const void *key, void *value, void *ctx):
 * 0 continues, 1 stops (the verifier only allows those two) */
static long each_elem(struct bpftime_map *map, const void *key, void *value, void *ctx)
{
	struct each_ctx *c = ctx;

	return (long)bpftime_vm__call_func(c->fn, (uint64_t)(uintptr_t)map,
					   (uint64_t)(uintptr_t)key, (uint64_t)(uintptr_t)value,
					   c->cb_ctx, 0);
}

HELPER_DECL(for_each_map_elem)
{
	struct each_ctx c = { .fn = r2, .cb_ctx = r3 };

	UNUSED(r5);
	return (uint64_t)bpftime_map__for_each_elem(MAP(r1), each_elem, &c, r4);
}

/* long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags):
 * calls callback_fn(index, callback_ctx) until it returns non-zero; returns
 * the number of calls made */
HELPER_DECL(loop)
{
	uint32_t nr = (uint32_t)r1, i;

	UNUSED(r5);
	if (r4)
		return (uint64_t)-EINVAL;
	if (nr > LOOP_MAX)
		return (uint64_t)-E2BIG;
	for (i = 0; i < nr; i++) {
		if (bpftime_vm__call_func(r2, i, r3, 0, 0, 0))
			return i + 1;
	}
	return nr;
}
