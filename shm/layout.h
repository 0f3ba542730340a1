/* SPDX-License-Identifier: MIT */
/* shm/layout.h: the bytes of the shared-memory segment: the header, the
 * allocator, the handler table, pins, the trace ring and the records of the
 * kinds shm/ owns (programs, perf events, links, BTF).  Other kinds' records
 * (maps: maps/internal.h) start with struct shm_obj and live in the arena.
 *
 *   0                     struct shm_header (magic, ABI version, size, offsets)
 *   alloc_off             struct shm_alloc (allocator lock and free list)
 *   config_off            struct shm_config
 *   handlers_off          struct shm_slot[max_fd]
 *   pins_off              struct shm_pin[BPFTIME_MAX_PINS]
 *   trace_off             struct shm_trace + SHM_TRACE_SIZE bytes
 *   cpus_off              struct shm_cpu[ncpus] (per-CPU slot owners, cpu.c)
 *   arena_off             the arena, to the end (page aligned)
 *
 * Everything refers to everything else by offset from the segment start;
 * offset 0 (the header) doubles as "none".  Every type here has a fixed size
 * and layout on x86-64 Linux; a change bumps SHM_ABI_VERSION.
 */
#ifndef BPFTIME_SHM_LAYOUT_H
#define BPFTIME_SHM_LAYOUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <bpftime/shm.h>

#define SHM_MAGIC	0x314d485354465042ULL /* "BPFTSHM1" little endian */
#define SHM_ABI_VERSION 11		      /* bump on any change to the bytes in the segment */
#define SHM_READY	0x52454459u	      /* "REDY" */
#define SHM_TRACE_SIZE	(256u * 1024)

/* A process-shared robust mutex (shm/lock.c). */
struct shm_mutex {
	pthread_mutex_t m;
};

struct shm_header {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t header_size; /* sizeof(struct shm_header) */
	uint64_t size;	      /* whole segment */
	_Atomic uint32_t ready;
	uint32_t page_size;
	uint32_t max_fd;
	uint32_t ncpus;
	uint32_t mutex_size; /* sizeof(pthread_mutex_t) of the creator */
	uint32_t pad0;
	uint64_t alloc_off;
	uint64_t config_off;
	uint64_t handlers_off;
	uint64_t pins_off;
	uint64_t trace_off;
	uint64_t cpus_off;
	uint64_t arena_off;
	uint64_t arena_size;
	_Atomic uint32_t epoch;	   /* futex word: handler table changes */
	_Atomic uint32_t data_seq; /* futex word: ring/perf buffer data */
	_Atomic uint32_t data_waiters;
	_Atomic uint32_t next_id;
	struct shm_mutex table_lock; /* slots, object refcounts, pins */
	struct shm_mutex defer_lock; /* records waiting out their grace period */
	uint64_t defer_head;
	/* every live object, in creation order (the kernel's id IDRs): what
	 * GET_NEXT_ID walks and GET_FD_BY_ID finds, whoever holds the object */
	struct shm_mutex ids_lock;
	uint64_t ids_head, ids_tail;
	_Atomic uint32_t ids_count;
	_Atomic uint32_t stats_enabled; /* BPF_ENABLE_STATS fds open, in any process */
};

struct shm_config {
	uint32_t size_mb;
	uint32_t max_fd;
	int32_t creator_pid;
	uint32_t pad;
	uint64_t created_ns;
};

/* A block of the arena: header, payload, footer (boundary tags).  Sizes are
 * multiples of 16 and include header and footer; bit 0 of size = used. */
struct shm_block {
	uint64_t size;
	uint64_t magic; /* SHM_BLOCK_MAGIC while used: catches double frees */
	/* free blocks: */
	uint64_t next_free;
	uint64_t prev_free;
};
#define SHM_BLOCK_MAGIC 0xb10cb10cb10cb10cULL
#define SHM_BLOCK_HDR	16
#define SHM_BLOCK_FTR	8
#define SHM_BLOCK_MIN	48

/* The allocator (shm/alloc.c).  undo is its undo log: every store to a tag,
 * a free list link or a counter during one shm_alloc/shm_free first records
 * the word's offset and old value here and then undo_n; the operation ends
 * by setting undo_n to 0.  A locker that finds undo_n set (its holder died)
 * restores the words, last first, which puts the arena back as it was. */
#define SHM_UNDO_MAX 32
struct shm_undo {
	uint64_t off; /* from the segment start, 8-byte aligned */
	uint64_t old;
};

struct shm_alloc {
	struct shm_mutex lock;
	uint64_t free_head;
	uint64_t used;
	uint64_t free_blocks;
	uint64_t undo_n;
	struct shm_undo undo[SHM_UNDO_MAX];
};

/* A handler slot.  gen is odd while the slot changes. */
struct shm_slot {
	_Atomic uint32_t gen;
	_Atomic uint32_t type; /* enum bpftime_handler_type */
	int32_t owner_pid;
	uint32_t pad;
	_Atomic uint64_t obj_off;
};

/* obj_off SHM_PIN_DIR: a directory made by mkdir on the BPF filesystem */
#define SHM_PIN_DIR 1u

struct shm_pin {
	uint64_t obj_off; /* 0: free entry */
	char path[BPFTIME_PIN_PATH_MAX];
	uint32_t mode; /* directories: the permission bits mkdir gave */
	uint32_t pad;
};

struct shm_trace {
	_Atomic uint64_t head; /* bytes ever written; messages are u32 len + bytes, 8-aligned */
	struct shm_mutex lock;
	uint64_t tail;	  /* bytes consumed (trace_pipe readers), under the lock */
	uint64_t written; /* messages ever written, under the lock */
};

/* A per-CPU slot (cpu.c): the tid of the program run that owns it (0:
 * free) and how many runs sleep on it; one cache line each. */
struct shm_cpu {
	_Atomic uint32_t owner;
	_Atomic uint32_t waiters;
	char pad[56];
};

/* Common head of every object. */
struct shm_obj {
	uint32_t type; /* enum bpftime_handler_type */
	uint32_t id;
	_Atomic uint32_t refcnt;
	_Atomic uint32_t pins;
	char name[BPFTIME_OBJ_NAME_LEN];
	uint64_t id_next, id_prev; /* the list of live objects (ids_lock) */
};

#define SHM_OWNED_ALLOCS 8

/* What follows struct shm_obj in a record of a registered kind (store.h):
 * its entry on the grace-period list and the arena blocks it owns, so that
 * any process can park and free it, with or without the kind.  Bit 0 of
 * ns clear: the references the record holds are not released yet (the
 * process that dropped its last reference did not have the kind). */
struct shm_owned {
	uint64_t next; /* next record on the grace-period list (offset), 0: end */
	uint64_t ns;   /* CLOCK_MONOTONIC when it got there, bit 0: released */
	uint64_t allocs[SHM_OWNED_ALLOCS]; /* arena blocks freed with the record */
};

struct shm_prog {
	struct shm_obj obj;
	uint32_t prog_type;
	uint32_t expected_attach_type;
	uint32_t insn_cnt;
	uint32_t prog_flags;
	uint32_t kern_version;
	uint32_t attach_btf_id;
	int32_t attach_prog_fd;
	int32_t prog_btf_fd;
	uint64_t insns_off;
	uint32_t attach_cnt;
	int32_t attach_fds[BPFTIME_PROG_MAX_ATTACH];
	uint64_t aot_off, aot_size;
	char license[64];
	uint32_t used_map_cnt;
	uint32_t pad;
	uint64_t used_maps[BPFTIME_PROG_MAX_MAPS]; /* map objects the program holds */
	uint64_t btf_off; /* the BTF object it holds (prog_btf_fd's), 0: none */
	/* BTF func info and line info, records of func_info_rec_size /
	 * line_info_rec_size bytes (the kernel's struct bpf_func_info and
	 * struct bpf_line_info), 0: none */
	uint64_t func_info_off, line_info_off;
	uint32_t func_info_rec_size, func_info_cnt;
	uint32_t line_info_rec_size, line_info_cnt;
	/* BPF_ENABLE_STATS: runs and their time while stats are on */
	_Atomic uint64_t run_cnt, run_time_ns;
	uint64_t load_time; /* CLOCK_BOOTTIME ns at creation, as the kernel's */
	uint32_t created_by_uid;
	/* kernel-shared mode: the program's copy in the kernel (its id), which
	 * runs it there (kernel hooks) or for tail calls from userspace; 0: none */
	_Atomic uint32_t kernel_id;
	uint32_t kernel_only; /* 1: a kernel program only (no userspace copy runs) */
};

struct shm_perf_event {
	struct shm_obj obj;
	int32_t type;
	int32_t pid;
	uint64_t module_off; /* NUL-terminated string, 0: none */
	uint64_t offset;
	uint64_t ref_ctr_off;
	int32_t tracepoint_id;
	int32_t cpu;
	uint64_t config;
	uint64_t sample_type;
	uint64_t cookie;
	_Atomic uint32_t enabled;
	uint32_t pad;
	_Atomic uint64_t ring_off; /* perf ring: meta page + data pages */
	uint64_t ring_len;
	uint64_t sample_period; /* software clocks: ns, or Hz if freq */
	uint32_t freq;
	uint32_t pad2;
};

struct shm_link {
	struct shm_obj obj;
	int32_t prog_fd;
	int32_t target_fd;
	uint64_t prog_off; /* referenced objects */
	uint64_t target_off;
	uint32_t attach_type;
	uint32_t pad;
	uint64_t cookie;
};

struct shm_btf {
	struct shm_obj obj;
	uint64_t data_off;
	uint64_t size;
};

#endif /* BPFTIME_SHM_LAYOUT_H */
