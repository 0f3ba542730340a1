/* SPDX-License-Identifier: MIT */
/* runtime/runtime.c: the glue between the segment and the VM: builds the
 * VM of a stored program (instructions from the segment, lddw pseudo
 * sources resolved to this process's map handles and value addresses,
 * every helper registered, tail calls through PROG_ARRAY maps), picks and
 * compiles the engine, and caches the result per process.
 *
 * The cache has two indexes.  by_id maps a program object id to its built
 * VM: ids are never reused while the segment exists, so an entry never goes
 * stale, and tail calls (a PROG_ARRAY slot holds the target's id) find it
 * with a lock-free bucket walk.  by_fd remembers, per fd, the slot
 * generation it saw and the program it found there, so a lookup by fd costs
 * one consistent read of the slot; a reused fd has a new generation and is
 * looked up again.  Entries are only added (under rt->lock) and freed with
 * the runtime, which keeps every VM pointer handed out valid while another
 * thread may still be running it.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "internal.h"
#include "shm/store.h"
#include "helpers/helpers.h"
#include <bpftime/insn.h>
#include "common/compiler.h"
#include "common/log.h"
#include "common/opts.h"
#include "common/alloc.h"

/* ---- the runtime ------------------------------------------------------ */

static int set_errno(int err)
{
	if (err < 0)
		errno = -err;
	return err;
}

static int engine_from_env(enum bpftime_engine *engine)
{
	const char *name = getenv("BPFTIME_VM_NAME");
	const char *nojit = getenv("BPFTIME_DISABLE_JIT");

	*engine = BPFTIME_ENGINE_JIT;
	if (name && *name && bpftime_engine__parse(name, engine)) {
		pr_warn("unknown BPFTIME_VM_NAME '%s': use jit, ubpf, interpreter, llvm or aot\n",
			name);
		return -EINVAL;
	}
	if (nojit && *nojit && strcmp(nojit, "0"))
		*engine = BPFTIME_ENGINE_INTERP;
	return 0;
}

/* Live runtimes: the helpers write to the segment of the newest one. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bpftime_runtime *live;

struct bpftime_runtime *bpftime_runtime__new(struct bpftime_shm *shm,
					     const struct bpftime_runtime_opts *uopts)
{
	struct bpftime_runtime_opts opts = { 0 };
	struct bpftime_runtime *rt;
	enum bpftime_engine engine;
	int max_fd, err;

	if (!shm || !OPTS_VALID(uopts, bpftime_runtime_opts)) {
		errno = EINVAL;
		return NULL;
	}
	OPTS_COPY(&opts, uopts);
	if (opts.engine_set) {
		engine = opts.engine;
		if ((unsigned)engine > BPFTIME_ENGINE_AOT) {
			errno = EINVAL;
			return NULL;
		}
	} else {
		err = engine_from_env(&engine);
		if (err) {
			errno = -err;
			return NULL;
		}
	}
	max_fd = bpftime_shm__max_fd(shm);
	rt = mem_calloc(1, sizeof(*rt) + (size_t)max_fd * sizeof(rt->by_fd[0]));
	if (!rt) {
		errno = ENOMEM;
		return NULL;
	}
	rt->shm = shm;
	rt->engine = engine;
	rt->max_fd = max_fd;
	rt->no_fallback = opts.no_fallback;
	if (opts.fd_array && opts.fd_array_cnt) {
		rt->fd_array = mem_alloc(opts.fd_array_cnt * sizeof(int));
		if (!rt->fd_array) {
			free(rt);
			errno = ENOMEM;
			return NULL;
		}
		memcpy(rt->fd_array, opts.fd_array, opts.fd_array_cnt * sizeof(int));
		rt->fd_array_cnt = opts.fd_array_cnt;
	}
	{
		/* the kernel counts runs while kernel.bpf_stats_enabled is 1 too */
		FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");

		rt->sysctl_stats = f && fgetc(f) == '1';
		if (f)
			fclose(f);
	}
	pthread_mutex_init(&rt->lock, NULL);
	pthread_mutex_lock(&live_lock);
	rt->live_next = live;
	live = rt;
	bpftime_helpers__set_shm(shm);
	pthread_mutex_unlock(&live_lock);
	return rt;
}

void bpftime_runtime__free(struct bpftime_runtime *rt)
{
	struct bpftime_runtime **pp;

	if (!rt)
		return;
	pthread_mutex_lock(&live_lock);
	for (pp = &live; *pp; pp = &(*pp)->live_next) {
		if (*pp == rt) {
			*pp = rt->live_next;
			break;
		}
	}
	if (helpers_shm() == rt->shm)
		bpftime_helpers__set_shm(live ? live->shm : NULL);
	pthread_mutex_unlock(&live_lock);
	while (rt->all_progs) {
		struct rt_prog *p = rt->all_progs;

		rt->all_progs = p->all_next;
		bpftime_vm__free(p->vm);
		free(p);
	}
	while (rt->all_fds) {
		struct rt_fd *f = rt->all_fds;

		rt->all_fds = f->all_next;
		free(f);
	}
	pthread_mutex_destroy(&rt->lock);
	free(rt->ext);
	free(rt->fd_array);
	free(rt);
}

enum bpftime_engine bpftime_runtime__engine(const struct bpftime_runtime *rt)
{
	return rt ? rt->engine : BPFTIME_ENGINE_JIT;
}

int bpftime_runtime__set_helper(struct bpftime_runtime *rt, uint32_t id, const char *name,
				bpftime_helper_fn fn)
{
	struct rt_ext_helper *tmp;
	size_t i;

	if (!rt || !fn || id > BPFTIME_MAX_HELPER_ID)
		return set_errno(-EINVAL);
	pthread_mutex_lock(&rt->lock);
	for (i = 0; i < rt->next; i++)
		if (rt->ext[i].id == id)
			break;
	if (i == rt->next) {
		tmp = mem_realloc(rt->ext, (rt->next + 1) * sizeof(*tmp));
		if (!tmp) {
			pthread_mutex_unlock(&rt->lock);
			return set_errno(-ENOMEM);
		}
		rt->ext = tmp;
		rt->next++;
	}
	rt->ext[i].id = id;
	rt->ext[i].fn = fn;
	snprintf(rt->ext[i].name, sizeof(rt->ext[i].name), "%s",
		 name ? name : (bpftime_helper__name(id) ? bpftime_helper__name(id) : ""));
	pthread_mutex_unlock(&rt->lock);
	return 0;
}

/* the verifier's view of an lddw's map: the same resolution (lddw.c) */
static int map_info(void *user_ctx, unsigned int src, int32_t imm, int32_t next_imm,
		    struct bpftime_verifier_map *out)
{
	struct bpftime_map *map = rt_lddw_map(user_ctx, src, imm);

	UNUSED(next_imm);
	return map ? bpftime_verifier_map__from_handle(map, out) : -errno;
}

static struct rt_prog *find_id(struct bpftime_runtime *rt, uint32_t id)
{
	struct rt_prog *p =
		atomic_load_explicit(&rt->by_id[id % RT_ID_BUCKETS], memory_order_acquire);

	while (p && p->id != id)
		p = atomic_load_explicit(&p->id_next, memory_order_acquire);
	return p;
}

static struct bpftime_vm *tail_call(void *user_ctx, uint64_t map, uint64_t index);

/* Compiles @vm for the runtime's engine; JIT/LLVM fall back (JIT, then the
 * interpreter) with one warning unless no_fallback. */
static int select_engine(struct bpftime_runtime *rt, struct bpftime_vm *vm,
			 const struct shm_prog *p, const char *name)
{
	enum bpftime_engine engine = rt->engine;
	uint32_t id = p->obj.id;
	int err;

	if (engine == BPFTIME_ENGINE_INTERP)
		return bpftime_vm__compile(vm, engine);
	if (engine == BPFTIME_ENGINE_AOT) {
		if (!p->aot_off) {
			pr_warn("prog id %u '%s' has no AOT object: compile one with bpftime-aot "
				"and store it with the program\n",
				id, name);
			return -ENOENT;
		}
		err = bpftime_vm__load_aot(vm, shm_ptr(rt->shm, p->aot_off), p->aot_size);
		if (!err)
			err = bpftime_vm__compile(vm, engine);
		if (err)
			pr_warn("prog id %u '%s': cannot load its AOT object: %s\n", id, name,
				bpftime_vm__last_error(vm));
		return err;
	}
	err = bpftime_vm__compile(vm, engine);
	if (!err)
		return 0;
	if (rt->no_fallback) {
		pr_warn("prog id %u '%s': %s engine: %s\n", id, name, bpftime_engine__name(engine),
			bpftime_vm__last_error(vm));
		return err;
	}
	if (engine == BPFTIME_ENGINE_LLVM && !bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT)) {
		pr_warn("prog id %u '%s': llvm engine unavailable (%s), using the jit\n", id, name,
			bpftime_vm__last_error(vm));
		return 0;
	}
	pr_warn("prog id %u '%s': %s engine cannot take it (%s), using the interpreter\n", id, name,
		bpftime_engine__name(engine), bpftime_vm__last_error(vm));
	return bpftime_vm__compile(vm, BPFTIME_ENGINE_INTERP);
}

/* Builds the VM of program record @p (checked by shm_obj_check, held by the
 * caller): from the object, not from any process's fd, so a program no
 * slot names (a tail-call target a prog array holds, the program of a
 * pinned link) builds as well.  Says in *@needs_cpu whether its runs need a
 * per-CPU slot (from the maps its lddws resolve to and the helpers it
 * calls: percpu.c).  Called with rt->lock held. */
static int build_vm(struct bpftime_runtime *rt, const struct shm_prog *p, struct bpftime_vm **out,
		    bool *needs_cpu)
{
	const struct bpftime_insn *insns = shm_ptr(rt->shm, p->insns_off);
	struct bpftime_vm *vm = NULL;
	char name[BPFTIME_OBJ_NAME_LEN];
	int err;

	memcpy(name, p->obj.name, sizeof(name));
	name[sizeof(name) - 1] = 0;
	if (p->kernel_only) /* a kernel program: tail calls run it there */
		return rt_kernel_proxy(rt, atomic_load(&p->kernel_id), name, out);
	rt->build_nmaps = (int)p->used_map_cnt;
	for (uint32_t i = 0; i < p->used_map_cnt; i++)
		rt->build_maps[i] = ((const struct shm_obj *)shm_ptr(rt->shm, p->used_maps[i]))->id;
	struct bpftime_verifier_ops vops;
	/* the same verdict as at load time (defence in depth: the segment is
	 * writable by every process that maps it) */
	int mode = bpftime_verifier_ops__init(&vops, p->prog_type, p->expected_attach_type);

	vops.map_info = map_info;
	vops.ctx = rt;
	/* the license recorded at load; a program created through the library
	 * without one (bpftime_prog_create, opts->license NULL) is not checked
	 * here: licenses are checked where programs come in from outside
	 * (PROG_LOAD, bpftimetool import, bpftime-aot compile) */
	vops.gpl_compatible = !p->license[0] || bpftime_license__gpl_compatible(p->license);
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = name, .resolve_lddw = rt_resolve_lddw,
		     .tail_call = tail_call, .user_ctx = rt, .verifier = mode ? NULL : &vops);
	vm = bpftime_vm__new(&opts);
	if (!vm)
		return -errno;
	err = bpftime_helpers__register_for_type(vm, p->prog_type);
	for (size_t i = 0; !err && i < rt->next; i++)
		err = bpftime_vm__register_helper(vm, rt->ext[i].id, rt->ext[i].name,
						  rt->ext[i].fn);
	if (err)
		goto fail;
	rt->build_needs_cpu = false;
	err = bpftime_vm__load(vm, insns, p->insn_cnt);
	if (err) {
		pr_warn("prog id %u '%s': %s\n", p->obj.id, name, bpftime_vm__last_error(vm));
		goto fail;
	}
	*needs_cpu = rt->build_needs_cpu || rt_helpers_need_cpu(vm);
	err = select_engine(rt, vm, p, name);
	if (err)
		goto fail;
	*out = vm;
	return 0;
fail:
	bpftime_vm__free(vm);
	return err;
}

/* Records @vm (or, vm NULL, the permanent failure @err) for object @id.
 * Called with rt->lock held. */
static struct rt_prog *insert_prog(struct bpftime_runtime *rt, uint32_t id, struct bpftime_vm *vm,
				   int err, bool needs_cpu)
{
	struct rt_prog *p = mem_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = id;
	p->vm = vm;
	p->err = err;
	p->needs_cpu = needs_cpu;
	p->all_next = rt->all_progs;
	rt->all_progs = p;
	atomic_store_explicit(&p->id_next, atomic_load(&rt->by_id[id % RT_ID_BUCKETS]),
			      memory_order_relaxed);
	atomic_store_explicit(&rt->by_id[id % RT_ID_BUCKETS], p, memory_order_release);
	return p;
}

/* The cached VM of program object @id, built if needed; NULL with *err
 * set.  A program that cannot be built (the verifier, a map reference, the
 * engine) is remembered as such, so it is reported once, not at every hit;
 * a missing AOT object or memory is not (they may come later). */
static struct bpftime_vm *get_prog(struct bpftime_runtime *rt, uint32_t id, int *err)
{
	struct rt_prog *p = find_id(rt, id);
	struct bpftime_vm *vm = NULL;
	bool needs_cpu = true;

	if (!p) {
		const char *why;
		uint64_t off;

		pthread_mutex_lock(&rt->lock);
		p = find_id(rt, id);
		if (p)
			goto out;
		/* held while we build: the program cannot go meanwhile */
		off = shm_obj_find_id(rt->shm, id, BPFTIME_HANDLER_PROG);
		if (!off) {
			*err = -EBADF;
			goto out;
		}
		if (shm_obj_check(rt->shm, BPFTIME_HANDLER_PROG, off, &why))
			*err = -EBADMSG;
		else
			*err = build_vm(rt, shm_ptr(rt->shm, off), &vm, &needs_cpu);
		shm_obj_put(rt->shm, off);
		/* refused for good: by the verifier (EACCES, EINVAL, E2BIG),
		 * or an engine that cannot run it */
		if (*err == -EINVAL || *err == -EACCES || *err == -E2BIG || *err == -EOPNOTSUPP ||
		    *err == -ENOEXEC)
			p = insert_prog(rt, id, NULL, *err, true);
		else if (!*err)
			p = insert_prog(rt, id, vm, 0, needs_cpu);
		if (!p && !*err) {
			bpftime_vm__free(vm);
			*err = -ENOMEM;
		}
	out:
		pthread_mutex_unlock(&rt->lock);
	}
	if (p && !p->vm)
		*err = p->err;
	return p ? p->vm : NULL;
}

static struct bpftime_vm *tail_call(void *user_ctx, uint64_t map, uint64_t index)
{
	struct bpftime_runtime *rt = user_ctx;
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)map;
	struct rt_prog *p;
	uint32_t id;
	int err;

	/* the index is a u32, as in the kernel */
	if (!m || bpftime_map__type(m) != BPFTIME_MAP_PROG_ARRAY)
		return NULL;
	id = bpftime_map__prog_array_get(m, (uint32_t)index);
	if (!id)
		return NULL;
	p = find_id(rt, id);
	if (likely(p))
		return p->vm;
	return get_prog(rt, id, &err);
}

struct bpftime_vm *bpftime_runtime__prog_by_id(struct bpftime_runtime *rt, uint32_t id)
{
	int err = 0;
	struct bpftime_vm *vm;

	if (!rt)
		return errno = EINVAL, NULL;
	vm = get_prog(rt, id, &err);
	return vm ? vm : (errno = -err, NULL);
}

bool bpftime_runtime__needs_cpu(struct bpftime_runtime *rt, const struct bpftime_vm *vm)
{
	bool needs = true;

	if (!rt || !vm)
		return true;
	pthread_mutex_lock(&rt->lock);
	for (struct rt_prog *p = rt->all_progs; p; p = p->all_next) {
		if (p->vm == vm) {
			needs = p->needs_cpu;
			break;
		}
	}
	pthread_mutex_unlock(&rt->lock);
	return needs;
}

struct bpftime_vm *bpftime_runtime__prog(struct bpftime_runtime *rt, int fd)
{
	struct bpftime_handler_info info;
	struct bpftime_vm *vm = NULL;
	struct rt_fd *f, *nf;
	int err = 0;

	if (!rt)
		return errno = EINVAL, NULL;
	if (bpftime_handler_get_info(rt->shm, fd, &info) || info.type != BPFTIME_HANDLER_PROG)
		return errno = EBADF, NULL;
	f = atomic_load_explicit(&rt->by_fd[fd], memory_order_acquire);
	if (likely(f && f->gen == info.gen && f->id == info.id))
		return f->vm;
	vm = get_prog(rt, info.id, &err);
	if (!vm)
		return errno = -err, NULL;
	nf = mem_alloc(sizeof(*nf));
	if (!nf)
		return vm; /* still correct, only not remembered by fd */
	nf->gen = info.gen;
	nf->id = info.id;
	nf->vm = vm;
	pthread_mutex_lock(&rt->lock);
	nf->all_next = rt->all_fds;
	rt->all_fds = nf;
	atomic_store_explicit(&rt->by_fd[fd], nf, memory_order_release);
	pthread_mutex_unlock(&rt->lock);
	return vm;
}

int bpftime_runtime__run(struct bpftime_runtime *rt, int fd, void *mem, size_t len, uint64_t *ret)
{
	struct bpftime_vm *vm = bpftime_runtime__prog(rt, fd);

	int err;

	if (!vm)
		return -errno;
	if (unlikely(rt->sysctl_stats || bpftime_shm__stats_enabled(rt->shm))) {
		/* BPF_ENABLE_STATS or the sysctl: the kernel's run_cnt and run_time_ns */
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		bpftime_shm__cpu_get(rt->shm);
		err = bpftime_vm__run(vm, mem, len, ret);
		bpftime_shm__cpu_put(rt->shm);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		bpftime_prog_stats_add(rt->shm, fd, 1,
				       (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
						  (t1.tv_nsec - t0.tv_nsec)));
		return err;
	}
	bpftime_shm__cpu_get(rt->shm);
	err = bpftime_vm__run(vm, mem, len, ret);
	bpftime_shm__cpu_put(rt->shm);
	return err;
}
