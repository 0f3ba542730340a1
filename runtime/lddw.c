/* SPDX-License-Identifier: MIT */
/* runtime/lddw.c: lddw resolution for the programs a runtime builds: the
 * pseudo sources of the loader (map fd or fd_array index) become this
 * process's map handle, or the address of a byte of an array's value. */
#include <errno.h>
#include <stdint.h>
#include <bpftime/insn.h>
#include <bpftime/map.h>
#include "internal.h"

/* lddw pseudo sources (the kernel's BPF_PSEUDO_*): map fd -> handle, map
 * value -> address of key 0's value plus the offset (direct value access is
 * for arrays, as in the kernel: .data, .rodata, .bss) */
int rt_resolve_lddw(void *user_ctx, unsigned int src, int32_t imm, int32_t next_imm,
		    uint64_t *value)
{
	struct bpftime_runtime *rt = user_ctx;
	struct bpftime_map *map;
	uint32_t key = 0;
	char *base;
	int fd = imm;

	switch (src) {
	case BPFTIME_PSEUDO_MAP_IDX:
	case BPFTIME_PSEUDO_MAP_IDX_VALUE:
		if (imm < 0 || (size_t)imm >= rt->fd_array_cnt)
			return -EINVAL; /* no fd_array, or the index is beyond it */
		fd = rt->fd_array[imm];
		break;
	case BPFTIME_PSEUDO_MAP_FD:
	case BPFTIME_PSEUDO_MAP_VALUE:
		break;
	default:
		return -EINVAL;
	}
	map = bpftime_map_get_handle(rt->shm, fd);
	if (!map)
		return -EBADF;
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
