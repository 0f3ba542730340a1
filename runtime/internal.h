/* SPDX-License-Identifier: MIT */
/* runtime/internal.h: the runtime object, shared by runtime.c (the cache
 * of built VMs, engines, tail calls) and lddw.c (pseudo sources).
 * Internal to runtime/. */
#ifndef BPFTIME_RUNTIME_INTERNAL_H
#define BPFTIME_RUNTIME_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>

#define RT_ID_BUCKETS 1024

struct rt_prog {
	uint32_t id;
	int err;	/* vm NULL: why it cannot be built */
	bool needs_cpu; /* its runs own a per-CPU slot (percpu.c) */
	struct bpftime_vm *vm;
	_Atomic(struct rt_prog *) id_next; /* bucket chain */
	struct rt_prog *all_next;
};

struct rt_fd {
	uint32_t gen, id;
	struct bpftime_vm *vm;
	struct rt_fd *all_next;
};

struct rt_ext_helper {
	uint32_t id;
	char name[32];
	bpftime_helper_fn fn;
};

struct bpftime_runtime {
	struct bpftime_shm *shm;
	enum bpftime_engine engine;
	bool no_fallback;
	bool sysctl_stats; /* kernel.bpf_stats_enabled was 1 when it was made */
	int *fd_array;
	size_t fd_array_cnt;
	/* build_vm (rt->lock held): a map the program names needs a per-CPU
	 * slot (set by rt_resolve_lddw) */
	bool build_needs_cpu;
	pthread_mutex_t lock;
	struct rt_prog *all_progs;
	struct rt_fd *all_fds;
	struct rt_ext_helper *ext;
	size_t next;
	int max_fd;
	/* the program build_vm() builds (under lock): the ids of the maps it
	 * holds, which its lddws name */
	uint32_t build_maps[BPFTIME_PROG_MAX_MAPS];
	int build_nmaps;
	struct bpftime_runtime *live_next;
	_Atomic(struct rt_prog *) by_id[RT_ID_BUCKETS];
	_Atomic(struct rt_fd *) by_fd[];
};

/* percpu.c: does a map of this type make runs need a per-CPU slot; do
 * the helpers a loaded program calls */
bool rt_map_needs_cpu(uint32_t map_type);
bool rt_helpers_need_cpu(const struct bpftime_vm *vm);

/* lddw.c: the VM's bpftime_lddw_fn for programs of the runtime @user_ctx */
int rt_resolve_lddw(void *user_ctx, unsigned int src, int32_t imm, int32_t next_imm,
		    uint64_t *value);
/* lddw.c: the map an lddw of the program being built names: the map with id
 * @imm among the maps it holds (sources 1, 2), or fd_array[@imm] of the
 * runtime's options (5, 6); NULL with errno */
struct bpftime_map *rt_lddw_map(struct bpftime_runtime *rt, unsigned int src, int32_t imm);

/* kernel_prog.c: the proxy VM of a program that exists only in the kernel
 * (tail calls into it run it by BPF_PROG_TEST_RUN) */
int rt_kernel_proxy(struct bpftime_runtime *rt, uint32_t kernel_id, const char *name,
		    struct bpftime_vm **out);

#endif /* BPFTIME_RUNTIME_INTERNAL_H */
