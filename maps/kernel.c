/* SPDX-License-Identifier: MIT */
/* maps/kernel.c: kernel-shared maps (BPFTIME_RUN_WITH_KERNEL): the map
 * record in the segment names a kernel map by id, and every operation goes
 * to the kernel, so kernel programs (XDP, kprobes) and userspace programs
 * (uprobes in traced processes) share one set of values.
 *
 * Reaching the kernel map.  The creating process keeps the fd it got from
 * BPF_MAP_CREATE; any other process (an agent, bpftimetool) opens the map by
 * id (BPF_MAP_GET_FD_BY_ID, root) the first time it makes a handle, and keeps
 * that fd for its lifetime (kfd_*).  All calls are raw system calls
 * (bpftime_kernel_bpf), never libc's syscall(), which the syscall server
 * interposes.
 *
 * Costs, per access from a userspace program:
 *  - ARRAY: created BPF_F_MMAPABLE and mapped; a lookup is an address
 *    computation and the program reads and writes the kernel's memory
 *    directly (atomics included), as a kernel program does;
 *  - HASH, PERCPU_ARRAY, PERCPU_HASH: no mapping exists, so a lookup copies
 *    the value (BPF_MAP_LOOKUP_ELEM) into a per-thread buffer and returns
 *    that; what the program changes through the pointer is written back
 *    (BPF_MAP_UPDATE_ELEM with BPF_EXIST) when the run ends (the run-end hook
 *    of shm/cpu.c) or when the buffer is reused (more than KCOPIES lookups in
 *    one run).  The write-back is not atomic with respect to kernel
 *    programs: an increment a kernel program makes between the copy and the
 *    write-back is lost.  Per-CPU values: the write-back re-reads the other
 *    CPUs' values and replaces only the run's CPU slot.  Updates and deletes
 *    are one system call each;
 *  - PERF_EVENT_ARRAY and RINGBUF: userspace cannot produce into the
 *    kernel's buffers, so bpf_perf_event_output and bpf_ringbuf_output run a
 *    small kernel program (the "pump", one per map and process) through
 *    BPF_PROG_TEST_RUN; it copies the record from a staging array this
 *    process writes through a mapping.  One system call per record.
 * Maps with a bpf_spin_lock in their value stay in the segment (the kernel
 * map would need the loader's BTF).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpftime/kernel.h>
#include "internal.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"

#define KCOPIES	    8	 /* value copies a thread keeps (hash and per-CPU lookups) */
#define STAGE_SLOTS 8	 /* records in flight per pump (threads of a process at once) */
#define STAGE_MAX   8192 /* largest record a pump forwards */

#define ptr_u64(p) ((__u64)(uintptr_t)(p))

long bpftime_kernel_bpf(int cmd, void *attr, unsigned int size)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_bpf), "D"((long)cmd), "S"(attr), "d"((long)size)
			 : "rcx", "r11", "memory");
	return ret;
#else
	long ret = syscall(SYS_bpf, cmd, attr, size);

	return ret < 0 ? -errno : ret;
#endif
}

/* close(2) by a raw system call: inside the syscall server, libc's close is
 * interposed and takes the server's lock, which our callers may hold */
static void kclose(int fd)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_close), "D"((long)fd)
			 : "rcx", "r11", "memory");
	(void)ret;
#else
	close(fd);
#endif
}

bool bpftime_kernel_type_shareable(uint32_t type)
{
	switch (type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
	case BPF_MAP_TYPE_RINGBUF:
		return true;
	default:
		return false;
	}
}

int bpftime_kernel_probe(void)
{
	union bpf_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	fd = bpftime_kernel_bpf(BPF_MAP_CREATE, &a, sizeof(a));
	if (fd < 0)
		return (int)fd;
	kclose((int)fd);
	return 0;
}

/* ---- this process's fds of kernel objects ----------------------------- */

struct kfd {
	uint32_t id;
	bool prog;
	int fd;
	uint32_t prog_type; /* programs: for test runs */
};

static pthread_mutex_t kfd_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kfd *kfds;
static size_t nkfd, capkfd;

static struct kfd *kfd_find(uint32_t id, bool prog)
{
	for (size_t i = 0; i < nkfd; i++)
		if (kfds[i].id == id && kfds[i].prog == prog)
			return &kfds[i];
	return NULL;
}

/* records @fd for @id (called with kfd_lock held); -ENOMEM */
static int kfd_add(uint32_t id, bool prog, int fd, uint32_t prog_type)
{
	if (nkfd == capkfd) {
		size_t n = capkfd ? capkfd * 2 : 16;
		struct kfd *t = mem_realloc(kfds, n * sizeof(*t));

		if (!t)
			return -ENOMEM;
		kfds = t;
		capkfd = n;
	}
	kfds[nkfd++] = (struct kfd){ .id = id, .prog = prog, .fd = fd, .prog_type = prog_type };
	return 0;
}

int64_t bpftime_kernel_obj_id(int kfd, bool prog)
{
	union bpf_attr a;
	struct bpf_prog_info pi;
	struct bpf_map_info mi;
	long err;

	memset(&a, 0, sizeof(a));
	memset(&pi, 0, sizeof(pi));
	memset(&mi, 0, sizeof(mi));
	a.info.bpf_fd = (__u32)kfd;
	a.info.info_len = prog ? sizeof(pi) : sizeof(mi);
	a.info.info = prog ? ptr_u64(&pi) : ptr_u64(&mi);
	err = bpftime_kernel_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
	if (err < 0)
		return err;
	return prog ? pi.id : mi.id;
}

static uint32_t prog_type_of(int kfd)
{
	union bpf_attr a;
	struct bpf_prog_info pi;

	memset(&a, 0, sizeof(a));
	memset(&pi, 0, sizeof(pi));
	a.info.bpf_fd = (__u32)kfd;
	a.info.info_len = sizeof(pi);
	a.info.info = ptr_u64(&pi);
	if (bpftime_kernel_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0)
		return 0;
	return pi.type;
}

static int obj_fd_locked(uint32_t id, bool prog, struct kfd **out)
{
	struct kfd *k = kfd_find(id, prog);
	union bpf_attr a;
	long fd;
	int err;

	if (k) {
		if (out)
			*out = k;
		return k->fd;
	}
	memset(&a, 0, sizeof(a));
	if (prog)
		a.prog_id = id;
	else
		a.map_id = id;
	fd = bpftime_kernel_bpf(prog ? BPF_PROG_GET_FD_BY_ID : BPF_MAP_GET_FD_BY_ID, &a, sizeof(a));
	if (fd < 0)
		return (int)fd;
	err = kfd_add(id, prog, (int)fd, prog ? prog_type_of((int)fd) : 0);
	if (err) {
		kclose((int)fd);
		return err;
	}
	if (out)
		*out = &kfds[nkfd - 1];
	return (int)fd;
}

int bpftime_kernel_obj_fd(uint32_t id, bool prog)
{
	int fd;

	if (!id)
		return -EINVAL;
	pthread_mutex_lock(&kfd_lock);
	fd = obj_fd_locked(id, prog, NULL);
	pthread_mutex_unlock(&kfd_lock);
	return fd;
}

/* closes this process's fd of kernel map @id, if it has one */
static void kfd_close(uint32_t id, bool prog)
{
	struct kfd *k;

	pthread_mutex_lock(&kfd_lock);
	k = kfd_find(id, prog);
	if (k) {
		kclose(k->fd);
		*k = kfds[--nkfd];
	}
	pthread_mutex_unlock(&kfd_lock);
}

int64_t bpftime_kernel_obj_keep(int kfd, bool prog)
{
	int64_t id = bpftime_kernel_obj_id(kfd, prog);
	struct kfd *k;
	int err = 0;

	if (id <= 0) {
		kclose(kfd);
		return id < 0 ? id : -EINVAL;
	}
	pthread_mutex_lock(&kfd_lock);
	k = kfd_find((uint32_t)id, prog);
	if (k) {
		kclose(kfd); /* we have one already */
	} else {
		err = kfd_add((uint32_t)id, prog, kfd, prog ? prog_type_of(kfd) : 0);
		if (err)
			kclose(kfd);
	}
	pthread_mutex_unlock(&kfd_lock);
	return err ? err : id;
}

uint32_t bpftime_map_kernel_id(struct bpftime_shm *shm, int fd)
{
	struct map_record *m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);

	return m ? m->kernel_id : 0;
}

int bpftime_map_kernel_fd(struct bpftime_shm *shm, int fd)
{
	struct map_record *m = shm_slot_obj(shm, fd, BPFTIME_HANDLER_MAP);

	if (!m)
		return -EBADF;
	if (!m->kernel_id)
		return -EINVAL;
	return bpftime_kernel_obj_fd(m->kernel_id, false);
}

int bpftime_kernel_prog_run(uint32_t id, void *ctx, size_t len, uint64_t *ret)
{
	struct kfd *k = NULL;
	union bpf_attr a;
	uint32_t type;
	long err;
	int fd;

	pthread_mutex_lock(&kfd_lock);
	fd = obj_fd_locked(id, true, &k);
	type = k ? k->prog_type : 0;
	pthread_mutex_unlock(&kfd_lock);
	if (fd < 0)
		return fd;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (__u32)fd; /* repeat 0: once (raw tracepoints refuse any other) */
	switch (type) {
	case BPF_PROG_TYPE_XDP:
	case BPF_PROG_TYPE_SCHED_CLS:
	case BPF_PROG_TYPE_SCHED_ACT:
	case BPF_PROG_TYPE_SOCKET_FILTER:
		/* packet programs: the context is the packet */
		a.test.data_in = ptr_u64(ctx);
		a.test.data_size_in = (__u32)len;
		break;
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		/* its context is the tracepoint's arguments, at most 12 u64 */
		a.test.ctx_in = ptr_u64(ctx);
		a.test.ctx_size_in = (__u32)(len < 96 ? len & ~(size_t)7 : 96);
		break;
	default:
		a.test.ctx_in = ptr_u64(ctx);
		a.test.ctx_size_in = (__u32)len;
		break;
	}
	err = bpftime_kernel_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a));
	if (err < 0)
		return (int)err;
	*ret = a.test.retval;
	return 0;
}

/* ---- creation --------------------------------------------------------- */

/* a kernel map's handle state in this process (h->local) */
struct kmap_local {
	int fd;
	void *mem; /* ARRAY: the kernel's values, mapped */
	size_t mem_len;
	bool writable;
	/* the pump (perf event array, ring buffer): a kernel program run by
	 * test run, copying a record out of a mapped staging array */
	pthread_mutex_t pump_lock;
	int pump_fd, stage_fd;
	char *stage;
	_Atomic uint32_t stage_busy[STAGE_SLOTS];
};

int map_kernel_create(struct bpftime_shm *shm, struct map_record *m)
{
	union bpf_attr a;
	int64_t id;
	long fd;
	int err;

	UNUSED(shm);
	if (!bpftime_kernel_type_shareable(m->map_type))
		return -EOPNOTSUPP;
	memset(&a, 0, sizeof(a));
	a.map_type = m->map_type;
	a.key_size = m->key_size;
	a.value_size = m->value_size;
	a.max_entries = m->max_entries;
	a.map_flags = m->map_flags;
	/* arrays are mapped by every process that uses them: no system call
	 * per access */
	if (m->map_type == BPF_MAP_TYPE_ARRAY)
		a.map_flags |= BPF_F_MMAPABLE;
	a.map_extra = m->map_extra;
	snprintf(a.map_name, sizeof(a.map_name), "%.15s", m->obj.name);
	fd = bpftime_kernel_bpf(BPF_MAP_CREATE, &a, sizeof(a));
	if (fd < 0)
		return (int)fd;
	id = bpftime_kernel_obj_id((int)fd, false);
	if (id <= 0) {
		kclose((int)fd);
		return id < 0 ? (int)id : -EINVAL;
	}
	pthread_mutex_lock(&kfd_lock);
	err = kfd_add((uint32_t)id, false, (int)fd, 0);
	pthread_mutex_unlock(&kfd_lock);
	if (err) {
		kclose((int)fd);
		return err;
	}
	m->kernel_id = (uint32_t)id;
	return 0;
}

int map_kernel_freeze(struct bpftime_shm *shm, struct map_record *m)
{
	struct bpftime_map *h = map_handle_of_obj(shm, m);
	struct kmap_local *l = h ? h->local : NULL;
	union bpf_attr a;
	int fd = bpftime_kernel_obj_fd(m->kernel_id, false);

	if (fd < 0)
		return fd;
	/* the kernel refuses to freeze a map with writable mappings: ours
	 * becomes read-only in place (programs cannot write a frozen map) */
	if (l && l->writable &&
	    mmap(l->mem, l->mem_len, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED)
		l->writable = false;
	memset(&a, 0, sizeof(a));
	a.map_fd = (__u32)fd;
	return (int)bpftime_kernel_bpf(BPF_MAP_FREEZE, &a, sizeof(a));
}

/* ---- per-process handle ------------------------------------------------ */

static int k_handle_init(struct bpftime_map *h)
{
	struct kmap_local *l;
	int fd = bpftime_kernel_obj_fd(h->m->kernel_id, false);

	if (fd < 0) {
		pr_warn("map '%.16s': cannot open kernel map id %u: %s\n", h->m->obj.name,
			h->m->kernel_id, strerror(-fd));
		return fd;
	}
	l = mem_calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->fd = fd;
	l->pump_fd = -1;
	l->stage_fd = -1;
	pthread_mutex_init(&l->pump_lock, NULL);
	if (h->type == BPF_MAP_TYPE_ARRAY) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		/* a read-only program view cannot be written anyway, and a
		 * writable mapping would keep the loader from freezing it */
		int prot =
			(h->m->map_flags & BPF_F_RDONLY_PROG) ? PROT_READ : PROT_READ | PROT_WRITE;

		l->mem_len = ((size_t)h->vsize8 * h->max_entries + page - 1) & ~(page - 1);
		l->mem = mmap(NULL, l->mem_len, prot, MAP_SHARED, fd, 0);
		l->writable = l->mem != MAP_FAILED && prot != PROT_READ;
		if (l->mem == MAP_FAILED && prot != PROT_READ)
			l->mem = mmap(NULL, l->mem_len, PROT_READ, MAP_SHARED, fd, 0);
		if (l->mem == MAP_FAILED) {
			int err = -errno;

			pr_warn("map '%.16s': cannot map kernel array id %u: %s\n", h->m->obj.name,
				h->m->kernel_id, strerror(errno));
			free(l);
			return err;
		}
		h->priv = l->mem;
	}
	h->kernel = true;
	h->fd_values = false;
	h->percpu = h->type == BPF_MAP_TYPE_PERCPU_ARRAY || h->type == BPF_MAP_TYPE_PERCPU_HASH;
	h->local = l;
	return 0;
}

static void k_handle_fini(struct bpftime_map *h)
{
	struct kmap_local *l = h->local;

	if (!l)
		return;
	if (l->mem && l->mem != MAP_FAILED)
		munmap(l->mem, l->mem_len);
	if (l->stage)
		munmap(l->stage, (size_t)STAGE_SLOTS * STAGE_MAX);
	if (l->pump_fd >= 0)
		kclose(l->pump_fd);
	if (l->stage_fd >= 0)
		kclose(l->stage_fd);
	pthread_mutex_destroy(&l->pump_lock);
	free(l);
	h->local = NULL;
}

static void k_release(struct bpftime_shm *shm, struct map_record *m)
{
	UNUSED(shm);
	kfd_close(m->kernel_id, false);
}

int bpftime_map__kernel_fd(const struct bpftime_map *h)
{
	const struct kmap_local *l = h->local;

	return h->kernel && l ? l->fd : -EINVAL;
}

/* ---- control plane ----------------------------------------------------- */

static int k_elem(struct bpftime_map *h, int cmd, const void *key, void *value, uint64_t flags)
{
	struct kmap_local *l = h->local;
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (__u32)l->fd;
	a.key = ptr_u64(key);
	a.value = ptr_u64(value);
	a.flags = flags;
	return (int)bpftime_kernel_bpf(cmd, &a, sizeof(a));
}

static int k_sys_lookup(struct bpftime_map *h, const void *key, void *value, uint64_t flags)
{
	return k_elem(h, BPF_MAP_LOOKUP_ELEM, key, value, flags);
}

static int k_sys_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	return k_elem(h, BPF_MAP_UPDATE_ELEM, key, (void *)(uintptr_t)value, flags);
}

static int k_sys_delete(struct bpftime_map *h, const void *key)
{
	return k_elem(h, BPF_MAP_DELETE_ELEM, key, NULL, 0);
}

static int k_sys_lookup_and_delete(struct bpftime_map *h, const void *key, void *value,
				   uint64_t flags)
{
	return k_elem(h, BPF_MAP_LOOKUP_AND_DELETE_ELEM, key, value, flags);
}

static int k_get_next_key(struct bpftime_map *h, const void *key, void *next_key)
{
	/* next_key shares its place in the union with value */
	return k_elem(h, BPF_MAP_GET_NEXT_KEY, key, next_key, 0);
}

/* ---- in program: value copies ------------------------------------------ */

struct kcopy {
	struct bpftime_map *h;
	char *buf; /* key (rounded to 8) | value | the value as read */
	size_t cap;
	uint32_t klen, vlen, cpu;
	bool live;
};

static __thread struct kcopy kcopies[KCOPIES];
static __thread unsigned int kcopy_next;

/* the thread's buffers (value copies, ring buffer reservations) go with it */
static pthread_key_t tbuf_key;
static pthread_once_t tbuf_once = PTHREAD_ONCE_INIT;
static void tbuf_free(void *unused);

static void tbuf_key_make(void)
{
	pthread_key_create(&tbuf_key, tbuf_free);
}

static void tbuf_note(void)
{
	pthread_once(&tbuf_once, tbuf_key_make);
	pthread_setspecific(tbuf_key, (void *)1);
}

static size_t vlen_of(const struct bpftime_map *h)
{
	return h->percpu ? (size_t)h->vsize8 * h->ncpus : h->value_size;
}

/* writes a copy the program changed back to the kernel */
static void kcopy_flush(struct kcopy *k)
{
	char *key, *val, *orig;

	if (!k->live)
		return;
	k->live = false;
	key = k->buf;
	val = key + MAP_ROUND8(k->klen);
	orig = val + k->vlen;
	if (!memcmp(val, orig, k->vlen))
		return;
	if (k->h->percpu) {
		size_t off = (size_t)k->cpu * k->h->vsize8;

		/* the other CPUs' values as they are now, ours as the program left it */
		if (k_elem(k->h, BPF_MAP_LOOKUP_ELEM, key, orig, 0))
			return;
		memcpy(orig + off, val + off, k->h->vsize8);
		k_elem(k->h, BPF_MAP_UPDATE_ELEM, key, orig, BPF_EXIST);
		return;
	}
	k_elem(k->h, BPF_MAP_UPDATE_ELEM, key, val, BPF_EXIST);
}

static void kcopy_flush_all(void)
{
	for (unsigned int i = 0; i < KCOPIES; i++)
		kcopy_flush(&kcopies[i]);
}

/* a copy of @key's value (cpu's slot for per-CPU maps), written back at the
 * end of the run if the program changes it; NULL if there is none */
static void *kcopy_get(struct bpftime_map *h, const void *key, uint32_t cpu)
{
	struct kcopy *k = &kcopies[kcopy_next++ % KCOPIES];
	size_t vlen = vlen_of(h), need = MAP_ROUND8(h->key_size) + 2 * vlen;
	char *val;

	kcopy_flush(k);
	if (need > k->cap) {
		char *b = mem_realloc(k->buf, need);

		if (!b)
			return NULL;
		if (!k->buf)
			tbuf_note();
		k->buf = b;
		k->cap = need;
	}
	memcpy(k->buf, key, h->key_size);
	val = k->buf + MAP_ROUND8(h->key_size);
	if (k_elem(h, BPF_MAP_LOOKUP_ELEM, key, val, 0))
		return NULL;
	memcpy(val + vlen, val, vlen);
	k->h = h;
	k->klen = h->key_size;
	k->vlen = (uint32_t)vlen;
	k->cpu = cpu;
	k->live = true;
	shm_run_end_hook = kcopy_flush_all;
	return h->percpu ? val + (size_t)cpu * h->vsize8 : val;
}

static void *k_lookup(struct bpftime_map *h, const void *key)
{
	uint32_t i;

	switch (h->type) {
	case BPF_MAP_TYPE_ARRAY:
		memcpy(&i, key, 4);
		return likely(i < h->max_entries) ? h->priv + (size_t)i * h->vsize8 : NULL;
	case BPF_MAP_TYPE_HASH:
		return kcopy_get(h, key, 0);
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
		return kcopy_get(h, key, map_this_cpu(h));
	default:
		return NULL;
	}
}

static void *k_lookup_percpu(struct bpftime_map *h, const void *key, uint32_t cpu)
{
	return h->percpu ? kcopy_get(h, key, cpu) : NULL;
}

static long k_update(struct bpftime_map *h, const void *key, const void *value, uint64_t flags)
{
	uint32_t i;

	switch (h->type) {
	case BPF_MAP_TYPE_ARRAY:
		memcpy(&i, key, 4);
		if (flags > BPF_EXIST)
			return -EINVAL;
		if (i >= h->max_entries)
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		if (h->m->map_flags & BPF_F_RDONLY_PROG)
			return -EPERM;
		memcpy(h->priv + (size_t)i * h->vsize8, value, h->value_size);
		return 0;
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH: {
		/* a program's update sets its CPU's value; a new hash key
		 * gets zeros on the other CPUs */
		size_t vlen = vlen_of(h), off = (size_t)map_this_cpu(h) * h->vsize8;
		char *all = mem_calloc(1, vlen);
		long err;

		if (!all)
			return -ENOMEM;
		err = k_elem(h, BPF_MAP_LOOKUP_ELEM, key, all, 0);
		if (err && err != -ENOENT) {
			free(all);
			return err;
		}
		memcpy(all + off, value, h->value_size);
		err = k_elem(h, BPF_MAP_UPDATE_ELEM, key, all, flags);
		free(all);
		return err;
	}
	default:
		return k_elem(h, BPF_MAP_UPDATE_ELEM, key, (void *)(uintptr_t)value, flags);
	}
}

static long k_delete(struct bpftime_map *h, const void *key)
{
	return k_elem(h, BPF_MAP_DELETE_ELEM, key, NULL, 0);
}

/* ---- the pump: records into kernel perf event arrays and ring buffers --- */

/* The pump program (raw tracepoint; its context is 3 u64: staging slot,
 * record size, flags):
 *   r6 = r1
 *   *(u32 *)(r10 - 4) = slot;  r2 = r10 - 4;  r1 = staging map
 *   r0 = map_lookup_elem();  if r0 == 0 goto out
 *   size = ctx[1], bounded to 1..STAGE_MAX
 *   perf: r1 = r6; r2 = map; r3 = ctx[2]; r4 = r0; r5 = size;
 *         r0 = perf_event_output()
 *   ring: r1 = map; r2 = r0; r3 = size; r4 = ctx[2]; r0 = ringbuf_output()
 *   exit
 */
static int pump_load(struct kmap_local *l, bool perf, const char *name)
{
	struct bpf_insn in[32];
	unsigned int n = 0;
	union bpf_attr a;
	long fd;

#define I(c, d, s, o, i)                                                            \
	in[n++] = (struct bpf_insn){                                                \
		.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) \
	}
	I(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0);  /* r6 = r1 */
	I(BPF_LDX | BPF_MEM | BPF_DW, 7, 6, 0, 0);   /* r7 = ctx[0] (slot) */
	I(BPF_STX | BPF_MEM | BPF_W, 10, 7, -4, 0);  /* *(u32 *)(r10 - 4) = r7 */
	I(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0); /* r2 = r10 */
	I(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4); /* r2 += -4 */
	I(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, l->stage_fd); /* r1 = stage */
	I(0, 0, 0, 0, 0);
	I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	I(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, perf ? 12 : 11, 0); /* if r0 == 0 goto out */
	I(BPF_LDX | BPF_MEM | BPF_DW, 8, 6, 8, 0);	       /* r8 = ctx[1] (size) */
	I(BPF_JMP | BPF_JEQ | BPF_K, 8, 0, perf ? 10 : 9, 0);  /* size 0: out */
	I(BPF_JMP | BPF_JGT | BPF_K, 8, 0, perf ? 9 : 8, STAGE_MAX);
	I(BPF_LDX | BPF_MEM | BPF_DW, 9, 6, 16, 0); /* r9 = ctx[2] (flags) */
	if (perf) {
		I(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0); /* r1 = ctx */
		I(BPF_LD | BPF_IMM | BPF_DW, 2, BPF_PSEUDO_MAP_FD, 0, l->fd);
		I(0, 0, 0, 0, 0);
		I(BPF_ALU64 | BPF_MOV | BPF_X, 3, 9, 0, 0); /* r3 = flags */
		I(BPF_ALU64 | BPF_MOV | BPF_X, 4, 0, 0, 0); /* r4 = record */
		I(BPF_ALU64 | BPF_MOV | BPF_X, 5, 8, 0, 0); /* r5 = size */
		I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_perf_event_output);
	} else {
		I(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, l->fd);
		I(0, 0, 0, 0, 0);
		I(BPF_ALU64 | BPF_MOV | BPF_X, 2, 0, 0, 0); /* r2 = record */
		I(BPF_ALU64 | BPF_MOV | BPF_X, 3, 8, 0, 0); /* r3 = size */
		I(BPF_ALU64 | BPF_MOV | BPF_X, 4, 9, 0, 0); /* r4 = flags */
		I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output);
	}
	I(BPF_JMP | BPF_JA, 0, 0, 1, 0);
	I(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, -EINVAL); /* out: r0 = -EINVAL */
	I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
#undef I
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = ptr_u64(in);
	a.insn_cnt = n;
	a.license = ptr_u64("GPL");
	snprintf(a.prog_name, sizeof(a.prog_name), "%s", name);
	fd = bpftime_kernel_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0)
		return (int)fd;
	l->pump_fd = (int)fd;
	return 0;
}

/* makes the staging array and the pump of @h in this process (once) */
static int pump_init(struct bpftime_map *h, bool perf)
{
	struct kmap_local *l = h->local;
	union bpf_attr a;
	long fd;
	int err = 0;

	pthread_mutex_lock(&l->pump_lock);
	if (l->pump_fd >= 0)
		goto out;
	if (l->stage) /* an earlier attempt got this far */
		goto load;
	if (l->stage_fd >= 0) {
		kclose(l->stage_fd);
		l->stage_fd = -1;
	}
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = STAGE_MAX;
	a.max_entries = STAGE_SLOTS;
	a.map_flags = BPF_F_MMAPABLE;
	snprintf(a.map_name, sizeof(a.map_name), "bpftime_stage");
	fd = bpftime_kernel_bpf(BPF_MAP_CREATE, &a, sizeof(a));
	if (fd < 0) {
		err = (int)fd;
		goto out;
	}
	l->stage_fd = (int)fd;
	l->stage = mmap(NULL, (size_t)STAGE_SLOTS * STAGE_MAX, PROT_READ | PROT_WRITE, MAP_SHARED,
			l->stage_fd, 0);
	if (l->stage == MAP_FAILED) {
		err = -errno;
		l->stage = NULL;
		goto out;
	}
load:
	err = pump_load(l, perf, perf ? "bpftime_perfout" : "bpftime_rbout");
	if (err)
		pr_warn("map '%.16s': cannot load the kernel program that forwards records: %s\n",
			h->m->obj.name, strerror(-err));
out:
	pthread_mutex_unlock(&l->pump_lock);
	return err;
}

static long pump(struct bpftime_map *h, bool perf, const void *data, uint64_t size, uint64_t flags)
{
	struct kmap_local *l = h->local;
	uint64_t ctx[3];
	union bpf_attr a;
	uint32_t slot, zero;
	long err;

	if (!size || size > STAGE_MAX)
		return -E2BIG;
	if (unlikely(l->pump_fd < 0)) {
		err = pump_init(h, perf);
		if (err)
			return err;
	}
	/* a free staging slot (threads of this process only: the staging
	 * array is this process's own) */
	for (slot = map_self_tid() % STAGE_SLOTS;; slot = (slot + 1) % STAGE_SLOTS) {
		zero = 0;
		if (atomic_compare_exchange_weak(&l->stage_busy[slot], &zero, 1))
			break;
	}
	memcpy(l->stage + (size_t)slot * STAGE_MAX, data, size);
	ctx[0] = slot;
	ctx[1] = size;
	ctx[2] = flags;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (__u32)l->pump_fd;
	a.test.ctx_in = ptr_u64(ctx);
	a.test.ctx_size_in = sizeof(ctx); /* (raw tracepoints refuse a repeat count) */
	err = bpftime_kernel_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a));
	atomic_store(&l->stage_busy[slot], 0);
	if (err < 0)
		return err;
	return (long)(int32_t)a.test.retval;
}

long map_kernel_perf_output(struct bpftime_map *h, uint64_t flags, const void *data, uint64_t size)
{
	if (h->type != BPF_MAP_TYPE_PERF_EVENT_ARRAY || (flags & ~BPF_F_INDEX_MASK))
		return -EINVAL;
	return pump(h, true, data, size, flags);
}

long map_kernel_ringbuf_output(struct bpftime_map *h, const void *data, uint64_t size,
			       uint64_t flags)
{
	if (h->type != BPF_MAP_TYPE_RINGBUF)
		return -EINVAL;
	return pump(h, false, data, size, flags);
}

/* bpf_ringbuf_reserve on a kernel ring buffer: a buffer of this thread
 * (KRB_DEPTH reservations at once), forwarded by the pump at submit */
#define KRB_DEPTH 4

static __thread struct {
	struct bpftime_map *h;
	char *buf;
	size_t cap;
	uint64_t size;
} krb[KRB_DEPTH];

void *map_kernel_ringbuf_reserve(struct bpftime_map *h, uint64_t size, uint64_t flags)
{
	if (h->type != BPF_MAP_TYPE_RINGBUF || flags || !size || size > STAGE_MAX)
		return NULL;
	for (int i = 0; i < KRB_DEPTH; i++) {
		if (krb[i].h)
			continue;
		if (krb[i].cap < size) {
			char *b = mem_realloc(krb[i].buf, STAGE_MAX);

			if (!b)
				return NULL;
			if (!krb[i].buf)
				tbuf_note();
			krb[i].buf = b;
			krb[i].cap = STAGE_MAX;
		}
		krb[i].h = h;
		krb[i].size = size;
		return krb[i].buf;
	}
	return NULL;
}

bool map_kernel_ringbuf_commit(void *data, uint64_t flags, bool discard)
{
	for (int i = 0; i < KRB_DEPTH; i++) {
		if (!krb[i].h || krb[i].buf != data)
			continue;
		if (!discard)
			pump(krb[i].h, false, data, krb[i].size, flags);
		krb[i].h = NULL;
		return true;
	}
	return false;
}

static void tbuf_free(void *unused)
{
	UNUSED(unused);
	kcopy_flush_all();
	for (int i = 0; i < KCOPIES; i++) {
		free(kcopies[i].buf);
		kcopies[i].buf = NULL;
		kcopies[i].cap = 0;
	}
	for (int i = 0; i < KRB_DEPTH; i++) {
		free(krb[i].buf);
		krb[i].buf = NULL;
		krb[i].cap = 0;
		krb[i].h = NULL;
	}
}

const struct map_ops map_kernel_ops = {
	.release = k_release,
	.handle_init = k_handle_init,
	.handle_fini = k_handle_fini,
	.sys_lookup = k_sys_lookup,
	.sys_update = k_sys_update,
	.sys_delete = k_sys_delete,
	.sys_lookup_and_delete = k_sys_lookup_and_delete,
	.get_next_key = k_get_next_key,
	.lookup = k_lookup,
	.update = k_update,
	.delete = k_delete,
	.lookup_percpu = k_lookup_percpu,
};
