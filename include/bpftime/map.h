/* SPDX-License-Identifier: MIT */
/* bpftime/map.h: eBPF maps living in the shared-memory segment.  Public API;
 * compiles alone as C and C++.
 *
 * Two views of every map, as in the kernel:
 *
 *  - The control plane ("syscall side"), by fd: bpftime_map_create/lookup/
 *    update/delete/get_next_key...  These follow bpf(2): the kernel's flags,
 *    errnos and iteration order rules.  Per-CPU maps exchange values of
 *    round_up(value_size, 8) * bpftime_shm__ncpus() bytes (libbpf's
 *    libbpf_num_possible_cpus(), read from /sys/devices/system/cpu/possible
 *    when the segment was created).  Frozen maps and BPF_F_RDONLY maps refuse
 *    control-plane writes with -EPERM.
 *
 *  - The in-program view, by handle: bpftime_map_get_handle() gives this
 *    process's handle for an fd; it is what an lddw of the map fd resolves to
 *    and what the helpers (bpf_map_lookup_elem and friends) receive.  Lookup
 *    returns a pointer into the segment that the program reads and writes;
 *    per-CPU maps give the current CPU's slot (the rseq cpu id, else
 *    sched_getcpu()); map-in-map lookups give the inner map's handle.
 *    Handles are owned by the bpftime_shm of this process and stay valid
 *    until it is closed.
 *
 * Pointer lifetime policy (kernel-like, not RCU): a value pointer from a
 * lookup stays a valid address in the segment for as long as the map exists
 * (and a one-second grace period after its last reference goes, see
 * bpftime_shm__reap()), but the element may be deleted and its memory reused
 * for another key, as
 * with the kernel's preallocated hash maps (whose per-CPU free lists also
 * hand a freed element to the next update).  An update of an existing key
 * installs a new element, so a pointer to the old one keeps showing the old
 * value until that element is reused.  Readers of hash maps never take locks
 * and never see a half-linked chain (nulls-terminated chains detect elements
 * that moved while being followed).
 *
 * Several processes at once: writers of a hash map take one robust
 * process-shared mutex per group of buckets (a process killed inside is
 * recovered from: at worst one element leaks); queues, stacks, stack traces,
 * LPM updates and ring buffer producers take one per map.  bpf_spin_lock
 * words hold their owner's tid and are taken over from a dead owner; a ring
 * buffer record reserved by a thread that died is discarded once the ring
 * fills up.
 *
 * Mappable memory: BPF_F_MMAPABLE arrays and ring buffers keep their bytes
 * page-aligned and contiguous in the segment; bpftime_map_mmap_region()
 * gives the file offset and length to mmap from bpftime_shm__fd().
 */
#ifndef BPFTIME_MAP_H
#define BPFTIME_MAP_H

#include <bpftime/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_shm;
struct bpftime_map;

/* Map types: the kernel's enum bpf_map_type values. */
enum bpftime_map_type {
	BPFTIME_MAP_HASH = 1,
	BPFTIME_MAP_ARRAY = 2,
	BPFTIME_MAP_PROG_ARRAY = 3,
	BPFTIME_MAP_PERF_EVENT_ARRAY = 4,
	BPFTIME_MAP_PERCPU_HASH = 5,
	BPFTIME_MAP_PERCPU_ARRAY = 6,
	BPFTIME_MAP_STACK_TRACE = 7,
	BPFTIME_MAP_LRU_HASH = 9,
	BPFTIME_MAP_LRU_PERCPU_HASH = 10,
	BPFTIME_MAP_LPM_TRIE = 11,
	BPFTIME_MAP_ARRAY_OF_MAPS = 12,
	BPFTIME_MAP_HASH_OF_MAPS = 13,
	BPFTIME_MAP_QUEUE = 22,
	BPFTIME_MAP_STACK = 23,
	BPFTIME_MAP_RINGBUF = 27,
	BPFTIME_MAP_BLOOM_FILTER = 30,
};

/* Update flags (the kernel's BPF_ANY...). */
#define BPFTIME_ANY	0
#define BPFTIME_NOEXIST 1
#define BPFTIME_EXIST	2
#define BPFTIME_F_LOCK	4

/* Map flags (the kernel's BPF_F_* map_flags values). */
#define BPFTIME_F_NO_PREALLOC	 (1U << 0)
#define BPFTIME_F_NO_COMMON_LRU	 (1U << 1)
#define BPFTIME_F_NUMA_NODE	 (1U << 2)
#define BPFTIME_F_RDONLY	 (1U << 3)
#define BPFTIME_F_WRONLY	 (1U << 4)
#define BPFTIME_F_STACK_BUILD_ID (1U << 5)
#define BPFTIME_F_ZERO_SEED	 (1U << 6)
#define BPFTIME_F_RDONLY_PROG	 (1U << 7)
#define BPFTIME_F_WRONLY_PROG	 (1U << 8)
#define BPFTIME_F_MMAPABLE	 (1U << 10)
#define BPFTIME_F_PRESERVE_ELEMS (1U << 11)
#define BPFTIME_F_INNER_MAP	 (1U << 12)

/* ring buffer flags and query ids (BPF_RB_*) */
#define BPFTIME_RB_NO_WAKEUP	    (1ULL << 0)
#define BPFTIME_RB_FORCE_WAKEUP	    (1ULL << 1)
#define BPFTIME_RB_AVAIL_DATA	    0
#define BPFTIME_RB_RING_SIZE	    1
#define BPFTIME_RB_CONS_POS	    2
#define BPFTIME_RB_PROD_POS	    3
/* record header bits (BPF_RINGBUF_*) */
#define BPFTIME_RINGBUF_BUSY_BIT    (1U << 31)
#define BPFTIME_RINGBUF_DISCARD_BIT (1U << 30)
#define BPFTIME_RINGBUF_HDR_SZ	    8

/* perf_event_output / get_stackid flags */
#define BPFTIME_F_INDEX_MASK	  0xffffffffULL
#define BPFTIME_F_CURRENT_CPU	  BPFTIME_F_INDEX_MASK
#define BPFTIME_F_SKIP_FIELD_MASK 0xffULL
#define BPFTIME_F_USER_STACK	  (1ULL << 8)
#define BPFTIME_F_FAST_STACK_CMP  (1ULL << 9)
#define BPFTIME_F_REUSE_STACKID	  (1ULL << 10)

struct bpftime_map_create_opts {
	size_t sz; /* sizeof(struct bpftime_map_create_opts) */
	uint32_t map_flags;
	int32_t inner_map_fd; /* map-in-map: template map (0 or -1: none) */
	uint32_t btf_fd;
	uint32_t btf_key_type_id;
	uint32_t btf_value_type_id;
	uint32_t btf_vmlinux_value_type_id;
	uint64_t map_extra; /* bloom filter: number of hash functions (low 4 bits) */
	uint32_t numa_node;
	uint32_t map_ifindex;
	/* offset of a struct bpf_spin_lock in the value, from BTF; -1 or 0
	 * with has_spin_lock false: none (BPF_F_LOCK then fails with -EINVAL) */
	int32_t spin_lock_off;
	bool has_spin_lock;
	/* kernel-shared mode (bpftime/kernel.h): a map of a shareable type
	 * without a spin lock is created in the kernel; others as usual */
	bool kernel;
	size_t : 0;
};

struct bpftime_map_info {
	uint32_t type;
	uint32_t id;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	uint32_t btf_fd; /* the lowest slot naming its BTF object now (UINT32_MAX: none) */
	uint32_t btf_key_type_id;
	uint32_t btf_value_type_id;
	uint32_t btf_vmlinux_value_type_id;
	uint64_t map_extra;
	uint32_t value_size_syscall; /* bytes a control-plane value takes (per-CPU: x ncpus) */
	uint32_t inner_map_type;     /* map-in-map template */
	uint32_t inner_key_size;
	uint32_t inner_value_size;
	uint32_t inner_max_entries;
	uint32_t inner_map_flags;
	bool frozen;
	bool has_spin_lock;
	int32_t spin_lock_off; /* -1 without a spin lock */
	char name[16];
	uint32_t btf_id; /* id of the BTF object the map holds (0: none) */
};

/**
 * @brief **bpftime_map_create()** creates a map in the segment at slot @fd
 * (-1: first free).  Arguments as bpf(BPF_MAP_CREATE).
 * @return the fd; -EINVAL (bad sizes/flags for the type, as the kernel),
 *         -E2BIG, -EBADF (bad inner_map_fd), -ENOMEM (segment full: logged,
 *         naming BPFTIME_SHM_MEMORY_MB), -EEXIST (slot taken), -EMFILE
 */
BPFTIME_API int bpftime_map_create(struct bpftime_shm *shm, int fd, enum bpftime_map_type type,
				   const char *name, uint32_t key_size, uint32_t value_size,
				   uint32_t max_entries,
				   const struct bpftime_map_create_opts *opts);

/** @brief BPF_MAP_LOOKUP_ELEM (flags: 0 or BPFTIME_F_LOCK); queue/stack: peek
 * (key NULL); bloom filter: membership test.  @return 0, -ENOENT, -EINVAL,
 * -EBADF (not a map), -ENOTSUPP (524: the map type has no syscall lookup) */
BPFTIME_API int bpftime_map_lookup_elem(struct bpftime_shm *shm, int fd, const void *key,
					void *value, uint64_t flags);
/** @brief BPF_MAP_UPDATE_ELEM.  Fd-holding maps (prog array, perf event
 * array, map-in-map) take the fd of the object in @value.
 * @return 0, -EEXIST, -ENOENT, -E2BIG (full), -EINVAL, -EPERM (frozen/rdonly), -EBADF */
BPFTIME_API int bpftime_map_update_elem(struct bpftime_shm *shm, int fd, const void *key,
					const void *value, uint64_t flags);
/** @brief BPF_MAP_DELETE_ELEM.  @return 0, -ENOENT, -EINVAL, -EPERM, -EBADF */
BPFTIME_API int bpftime_map_delete_elem(struct bpftime_shm *shm, int fd, const void *key);
/** @brief BPF_MAP_GET_NEXT_KEY: @key NULL or absent gives the first key.
 * @return 0, -ENOENT (no more keys), -EINVAL, -EBADF */
BPFTIME_API int bpftime_map_get_next_key(struct bpftime_shm *shm, int fd, const void *key,
					 void *next_key);
/** @brief BPF_MAP_LOOKUP_AND_DELETE_ELEM (queue/stack pop, hash maps).
 * @return 0, -ENOENT, -EINVAL, -ENOTSUPP, -EPERM, -EBADF */
BPFTIME_API int bpftime_map_lookup_and_delete_elem(struct bpftime_shm *shm, int fd, const void *key,
						   void *value, uint64_t flags);
/** @brief BPF_MAP_FREEZE: later control-plane writes fail with -EPERM.
 * @return 0, -EPERM (already frozen, or BPF_F_RDONLY: the kernel's permission
 *         check comes first), -EBADF */
BPFTIME_API int bpftime_map_freeze(struct bpftime_shm *shm, int fd);
/** @brief @return 0, -EBADF */
BPFTIME_API int bpftime_map_get_info(struct bpftime_shm *shm, int fd,
				     struct bpftime_map_info *info);
/**
 * @brief **bpftime_map_mmap_region()** the bytes a mmap of the map fd
 * shows, at file offset *@off of bpftime_shm__fd() (page aligned).
 *  - BPF_F_MMAPABLE arrays: the values, round_up(value_size, 8) apart.
 *  - ring buffers: consumer page, producer page, then the data pages
 *    (max_entries bytes).  libbpf maps the consumer page RW at map offset 0
 *    and the producer page plus the data twice RO at map offset page_size:
 *    reserve page_size + 2 * max_entries of address space and map
 *    [off + page_size, page_size + max_entries) there, then the data region
 *    [off + 2 * page_size, max_entries) again right after it (MAP_FIXED).
 * @return 0, -EBADF, -EINVAL (the map cannot be mmap'ed)
 */
BPFTIME_API int bpftime_map_mmap_region(struct bpftime_shm *shm, int fd, uint64_t *off,
					size_t *len);

/* bpftime_num_possible_cpus(): bpftime/shm.h */

/* ---- in-program view -------------------------------------------------- */

/** @brief this process's handle for the map at @fd (borrowed, owned by @shm),
 * or NULL with errno EBADF.  Cheap after the first call. */
BPFTIME_API struct bpftime_map *bpftime_map_get_handle(struct bpftime_shm *shm, int fd);
/** @brief this process's handle for the live map with object id @id (a
 * program's map references name maps by id), or NULL with errno ENOENT.
 * The caller must know something holds the map (the program naming it). */
BPFTIME_API struct bpftime_map *bpftime_map_get_handle_by_id(struct bpftime_shm *shm, uint32_t id);
/** @brief the map's attributes, as bpftime_map_get_info() */
BPFTIME_API void bpftime_map__get_info(const struct bpftime_map *map,
				       struct bpftime_map_info *info);
/** @brief the handle's map type and id */
BPFTIME_API uint32_t bpftime_map__type(const struct bpftime_map *map);
BPFTIME_API uint32_t bpftime_map__id(const struct bpftime_map *map);
BPFTIME_API uint32_t bpftime_map__value_size(const struct bpftime_map *map);

/**
 * @brief **bpftime_map__direct_value_addr()** what an lddw with src 2
 * (BPF_PSEUDO_MAP_VALUE: map fd + offset, global variables in .data,
 * .rodata, .bss) resolves to: the address of byte @off of the map's value.
 * As the kernel, only for arrays with one element.
 * @return 0, -ENOTSUPP (524: not a one-element array), -EINVAL (@off >= value_size)
 */
BPFTIME_API int bpftime_map__direct_value_addr(struct bpftime_map *map, uint32_t off,
					       uint64_t *addr);

/* The helpers' semantics (bpf_map_lookup_elem...), on a handle. */
BPFTIME_API void *bpftime_map__lookup_elem(struct bpftime_map *map, const void *key);
BPFTIME_API long bpftime_map__update_elem(struct bpftime_map *map, const void *key,
					  const void *value, uint64_t flags);
BPFTIME_API long bpftime_map__delete_elem(struct bpftime_map *map, const void *key);
BPFTIME_API long bpftime_map__push_elem(struct bpftime_map *map, const void *value, uint64_t flags);
BPFTIME_API long bpftime_map__pop_elem(struct bpftime_map *map, void *value);
BPFTIME_API long bpftime_map__peek_elem(struct bpftime_map *map, void *value);
/** @brief bpf_map_lookup_percpu_elem: @cpu's slot of a per-CPU map, or NULL */
BPFTIME_API void *bpftime_map__lookup_percpu_elem(struct bpftime_map *map, const void *key,
						  uint32_t cpu);

/** callback of bpftime_map__for_each_elem: nonzero stops the walk */
typedef long (*bpftime_map_elem_fn)(struct bpftime_map *map, const void *key, void *value,
				    void *ctx);
/** @brief bpf_for_each_map_elem (array and hash types).  @return the number
 * of elements visited, -EINVAL (flags or map type) */
BPFTIME_API long bpftime_map__for_each_elem(struct bpftime_map *map, bpftime_map_elem_fn fn,
					    void *ctx, uint64_t flags);

/**
 * @brief **bpftime_spin_lock()** / **bpftime_spin_unlock()**: bpf_spin_lock
 * and bpf_spin_unlock on a struct bpf_spin_lock (a 4-byte word) in a map
 * value; the same protocol BPF_F_LOCK control-plane operations use, so
 * programs and the syscall side exclude each other.  The word holds the
 * owner's thread id: a waiter that finds the owner dead (killed while it
 * held the lock) takes the lock over.
 */
BPFTIME_API void bpftime_spin_lock(void *lock);
BPFTIME_API void bpftime_spin_unlock(void *lock);

/* Ring buffers (bpf_ringbuf_*). */
BPFTIME_API void *bpftime_map__ringbuf_reserve(struct bpftime_map *map, uint64_t size,
					       uint64_t flags);
BPFTIME_API void bpftime_ringbuf_submit(void *data, uint64_t flags);
BPFTIME_API void bpftime_ringbuf_discard(void *data, uint64_t flags);
BPFTIME_API long bpftime_map__ringbuf_output(struct bpftime_map *map, const void *data,
					     uint64_t size, uint64_t flags);
BPFTIME_API uint64_t bpftime_map__ringbuf_query(struct bpftime_map *map, uint64_t flags);

/** @brief reports the drops of the perf ring at @ring_off (@ring_len bytes)
 * that no LOST record carries yet: a new LOST record, or an addition to the
 * last one if the consumer has not read it.  Call it only from the thread
 * that consumes the ring, between reads (epoll_wait).  @return 1 if it
 * reported some, 0 if none were pending, -EAGAIN if it could not yet */
BPFTIME_API int bpftime_perf_ring_flush_lost(struct bpftime_shm *shm, uint64_t ring_off,
					     uint64_t ring_len);
/** @brief the segment's data sequence (bpftime_shm__data_seq) at the write
 * that last made the perf ring whose metadata page is @meta non-empty: an
 * epoll emulation reports older ready rings first, as the kernel's ready
 * list does */
BPFTIME_API uint32_t bpftime_perf_ring_ready_seq(const void *meta);
/** @brief bpf_perf_event_output on a PERF_EVENT_ARRAY: writes a
 * PERF_RECORD_SAMPLE (raw data) to the perf ring of the event at index
 * (flags & BPFTIME_F_INDEX_MASK, or the current CPU).
 * @return 0, -ENOENT (no event / no ring there), -E2BIG (index), -EINVAL,
 *         -ENOSPC (ring full: the record is dropped and reported as lost) */
BPFTIME_API long bpftime_map__perf_event_output(struct bpftime_map *map, uint64_t flags,
						const void *data, uint64_t size);

/** @brief tail calls: the id of the program at @index of a PROG_ARRAY, or 0
 * when the slot is empty (resolve with bpftime_handler_fd_by_id) */
BPFTIME_API uint32_t bpftime_map__prog_array_get(struct bpftime_map *map, uint32_t index);

/** @brief the id of the object at @index of a fd array (prog array, perf
 * event array, array of maps), or 0 when the slot is empty or the map is not
 * one: what a tool reads to save a perf event array, whose syscall lookup
 * the kernel refuses */
BPFTIME_API uint32_t bpftime_map__fd_array_get(struct bpftime_map *map, uint32_t index);

/** @brief bpf_get_stackid: stores @nr instruction pointers in a STACK_TRACE
 * map.  @return the stack id, -EEXIST (bucket taken, no REUSE_STACKID),
 * -EFAULT (nr 0), -EINVAL */
BPFTIME_API long bpftime_map__stack_store(struct bpftime_map *map, const uint64_t *ips, uint32_t nr,
					  uint64_t flags);

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_MAP_H */
