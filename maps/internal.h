/* SPDX-License-Identifier: MIT */
/* maps/internal.h: the map ops table and the per-process map handle.
 *
 * A map is a struct map_record in the segment plus its storage
 * (priv_off and the own.allocs[] blocks it owns).  struct bpftime_map is this
 * process's handle: addresses resolved once, so the in-program paths are a
 * few loads away from the data.  map.c does the checks that the kernel's
 * syscall layer does (flags, permissions, frozen) and dispatches to the ops.
 */
#ifndef BPFTIME_MAPS_INTERNAL_H
#define BPFTIME_MAPS_INTERNAL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <bpftime/map.h>
#include "shm/store.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's internal "not supported", which bpf(2) leaks */
#endif

#define MAP_ROUND8(x) (((x) + 7u) & ~7u)

/* A map in the segment: a record of the store's kind BPFTIME_HANDLER_MAP
 * (registered by map.c, see shm/store.h).  Fixed size and layout: a change
 * bumps SHM_ABI_VERSION (shm/layout.h). */
struct map_record {
	struct shm_obj obj;
	struct shm_owned own; /* the store's: grace period, blocks freed with it (allocs) */
	uint32_t map_type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	int32_t spin_lock_off; /* -1: none */
	uint32_t btf_id, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id;
	uint64_t map_extra;
	uint32_t inner_type, inner_key_size, inner_value_size, inner_max_entries, inner_flags;
	_Atomic uint32_t frozen;
	uint64_t priv_off;	     /* type-specific state */
	uint64_t priv2_off;	     /* more of it (lpm: prefix counts) */
	uint64_t mmap_off, mmap_len; /* region a mmap of the fd shows (0: none) */
	uint64_t btf_off;	     /* the BTF object the map holds (0: none) */
	uint32_t kernel_id;	     /* kernel-shared mode: the kernel map (kernel.c), 0: none */
	uint32_t pad;
};

struct bpftime_map;

struct map_ops {
	/* checks the attributes (m filled from the create call) and allocates
	 * the storage; 0 or -errno (the kernel's codes) */
	int (*alloc_check)(struct bpftime_shm *shm, struct map_record *m);
	int (*alloc)(struct bpftime_shm *shm, struct map_record *m);
	/* drops references the map holds (fd maps), before its blocks are freed */
	void (*release)(struct bpftime_shm *shm, struct map_record *m);
	/* per-process handle setup/teardown (ring buffer mappings) */
	int (*handle_init)(struct bpftime_map *h);
	void (*handle_fini)(struct bpftime_map *h);

	/* control plane; value buffers in the syscall format */
	int (*sys_lookup)(struct bpftime_map *h, const void *key, void *value, uint64_t flags);
	int (*sys_update)(struct bpftime_map *h, const void *key, const void *value,
			  uint64_t flags);
	int (*sys_delete)(struct bpftime_map *h, const void *key);
	int (*sys_lookup_and_delete)(struct bpftime_map *h, const void *key, void *value,
				     uint64_t flags);
	int (*get_next_key)(struct bpftime_map *h, const void *key, void *next_key);

	/* in program */
	void *(*lookup)(struct bpftime_map *h, const void *key);
	long (*update)(struct bpftime_map *h, const void *key, const void *value, uint64_t flags);
	long (*delete)(struct bpftime_map *h, const void *key);
	long (*push)(struct bpftime_map *h, const void *value, uint64_t flags);
	long (*pop)(struct bpftime_map *h, void *value);
	long (*peek)(struct bpftime_map *h, void *value);
	void *(*lookup_percpu)(struct bpftime_map *h, const void *key, uint32_t cpu);
	long (*for_each)(struct bpftime_map *h, bpftime_map_elem_fn fn, void *ctx);
};

struct bpftime_map {
	const struct map_ops *ops;
	struct bpftime_shm *shm;
	struct map_record *m;
	char *priv;  /* shm_ptr(m->priv_off) */
	uint32_t id; /* m->obj.id when the handle was made: detects reuse */
	uint32_t type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t ncpus;
	uint32_t vsize8; /* round_up(value_size, 8): per-CPU stride */
	bool fd_values;	 /* values are object references (fd maps) */
	/* hash maps (hash.c): resolved once per process; what a lookup
	 * reads first, in one cache line */
	char *base; /* the segment start */
	_Atomic uint64_t *buckets;
	/* element offsets read from the segment are checked against these
	 * before use (elem_ok in hash.c): [elem_lo, elem_lo + 8 * elem_span8] */
	uint64_t elem_lo, elem_span8;
	uint32_t bucket_mask, seed, key8, n_elems;
	bool lru, percpu;
	char *locks;
	uint64_t *chunks;
	uint32_t chunk_shift, lock_mask, elem_size;
	_Atomic bool corrupt_told; /* map_corrupt reported this map once */
	_Atomic bool full_told;	   /* hash.c: "cannot grow, segment full" said once */
	bool kernel;		   /* the map lives in the kernel (kernel.c) */
	void *local;		   /* per-process state of the type (ring buffer mapping) */
	struct bpftime_map *next;  /* all handles of this process */
};

extern const struct map_ops map_array_ops, map_percpu_array_ops, map_prog_array_ops,
	map_perf_event_array_ops, map_array_of_maps_ops;
extern const struct map_ops map_hash_ops, map_percpu_hash_ops, map_lru_hash_ops,
	map_lru_percpu_hash_ops, map_hash_of_maps_ops;
extern const struct map_ops map_kernel_ops;
extern const struct map_ops map_lpm_ops, map_queue_ops, map_stack_ops, map_bloom_ops,
	map_ringbuf_ops, map_stack_trace_ops;

/* map.c */
const struct map_ops *map_ops_of(uint32_t type);
/* records an arena block as owned by the map (freed with it); -ENOMEM if 0 */
int map_own(struct map_record *m, uint64_t off);
/* this thread's tid (cached; reset in a forked child) */
uint32_t map_self_tid(void);
/* the CPU slot an in-program per-CPU access uses */
uint32_t map_this_cpu(const struct bpftime_map *h);
/* A map's own structure read from the segment is corrupt (a link or index
 * out of range, a cycle): reports it once per map and process with @what,
 * and returns -EBADMSG for the operation to fail with. */
int map_corrupt(struct bpftime_map *h, const char *what);
/* the handle for a map object (refs held by fd maps) */
struct bpftime_map *map_handle_of_obj(struct bpftime_shm *shm, struct map_record *m);

/* bpf_spin_lock in a value (BPF_F_LOCK) */
void map_value_lock(const struct bpftime_map *h, void *value);
void map_value_unlock(const struct bpftime_map *h, void *value);
/* copies a value, skipping the spin lock word if the map has one */
void map_copy_value(const struct bpftime_map *h, void *dst, const void *src);

/* fd maps: the object a syscall value (an fd) names, with a reference taken,
 * or 0 with *err set (-EBADF, -EINVAL); and dropping such a reference. */
uint64_t map_fd_get(struct bpftime_map *h, const void *value, int *err);
void map_fd_put(struct bpftime_map *h, uint64_t obj_off);
/* the u32 a syscall lookup of an fd map returns (the object's id) */
int map_fd_sys_value(struct bpftime_map *h, uint64_t obj_off, void *value);

/* kernel.c: kernel-shared maps.  map_kernel_create() makes the kernel map
 * for record @m (filled from the create call) and records its id. */
int map_kernel_create(struct bpftime_shm *shm, struct map_record *m);
int map_kernel_freeze(struct bpftime_shm *shm, struct map_record *m);
long map_kernel_perf_output(struct bpftime_map *h, uint64_t flags, const void *data, uint64_t size);
long map_kernel_ringbuf_output(struct bpftime_map *h, const void *data, uint64_t size,
			       uint64_t flags);
void *map_kernel_ringbuf_reserve(struct bpftime_map *h, uint64_t size, uint64_t flags);
/* submits or discards @data if it is a kernel ring buffer reservation of
 * this thread; false if it is not one */
bool map_kernel_ringbuf_commit(void *data, uint64_t flags, bool discard);

/* hash.c internals used by lpm.c */
void *htab_lookup_elem_key(struct bpftime_map *h, const void *key);
int htab_count(struct bpftime_map *h);
/* Repairs the map if a writer died in its section, then counts its elements
 * with every group lock held: @accounted gets the elements linked, spare,
 * parked or free, @total the elements that exist.  0, or -EBADMSG when the
 * structure is corrupt (tests: no element lost after a killed writer). */
int htab_census(struct bpftime_map *h, uint32_t *accounted, uint32_t *total);
void htab_release(struct bpftime_shm *shm, struct map_record *m);

/* a 32-bit hash of @len bytes (hash.c) */
uint32_t map_hash(const void *data, uint32_t len, uint32_t seed);

/* the power of two at or above @v, saturated at 2^31 (a bucket count for
 * max_entries above 2^31 would not fit; shifting 1u by 32 is undefined) */
static inline uint32_t map_roundup_pow2(uint32_t v)
{
	if (v <= 1)
		return 1;
	if (v > 1u << 31)
		return 1u << 31;
	return 1u << (32 - __builtin_clz(v - 1));
}

#endif /* BPFTIME_MAPS_INTERNAL_H */
