/* SPDX-License-Identifier: MIT */
/* runtime/lddw.c: lddw resolution for the programs a runtime builds: the
 * pseudo sources of a stored program (map id, or fd_array index) become
 * this process's map handle, or the address of a byte of an array's value. */
#include <errno.h>
#include <stdint.h>
#include <bpftime/insn.h>
#include <bpftime/map.h>
#include "internal.h"

/* The map an lddw names.  A stored program names its maps by object id (the
 * segment stores programs in the kernel's xlated form: shm/objects.c), and
 * holds them: an id must be one of the program's maps, so a program never
 * reaches a map it does not hold, whatever fds any process has. */
struct bpftime_map *rt_lddw_map(struct bpftime_runtime *rt, unsigned int src, int32_t imm)
{
	struct bpftime_map *map;
	int i;

	switch (src) {
	case BPFTIME_PSEUDO_MAP_IDX:
	case BPFTIME_PSEUDO_MAP_IDX_VALUE:
		if (imm < 0 || (size_t)imm >= rt->fd_array_cnt)
			return errno = EINVAL, NULL; /* no fd_array, or beyond it */
		map = bpftime_map_get_handle(rt->shm, rt->fd_array[imm]);
		return map ? map : (errno = EBADF, NULL);
	case BPFTIME_PSEUDO_MAP_FD:
	case BPFTIME_PSEUDO_MAP_VALUE:
		for (i = 0; i < rt->build_nmaps; i++)
			if (rt->build_maps[i] == (uint32_t)imm)
				break;
		if (i == rt->build_nmaps)
			return errno = EBADF, NULL; /* not a map the program holds */
		return bpftime_map_get_handle_by_id(rt->shm, (uint32_t)imm);
	default:
		return errno = EINVAL, NULL;
	}
}

/* lddw pseudo sources (the kernel's BPF_PSEUDO_*): map -> handle, map
 * value -> address of key 0's value plus the offset (direct value access is
 * for arrays, as in the kernel: .data, .rodata, .bss) */
int rt_resolve_lddw(void *user_ctx, unsigned int src, int32_t imm, int32_t next_imm,
		    uint64_t *value)
{
	struct bpftime_runtime *rt = user_ctx;
	struct bpftime_map *map;
	uint32_t key = 0;
	char *base;

	map = rt_lddw_map(rt, src, imm);
	if (!map)
		return -errno;
	if (rt_map_needs_cpu(bpftime_map__type(map)))
		rt->build_needs_cpu = true;
	if (src == BPFTIME_PSEUDO_MAP_FD || src == BPFTIME_PSEUDO_MAP_IDX) {
		*value = (uint64_t)(uintptr_t)map;
		return 0;
	}
	if (bpftime_map__type(map) != BPFTIME_MAP_ARRAY)
		return -EINVAL;
	if (next_imm < 0 || (uint32_t)next_imm >= bpftime_map__value_size(map))
		return -EINVAL;
	base = bpftime_map__lookup_elem(map, &key);
	if (!base)
		return -EINVAL;
	*value = (uint64_t)(uintptr_t)(base + next_imm);
	return 0;
}
