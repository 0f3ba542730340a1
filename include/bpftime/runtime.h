/* SPDX-License-Identifier: MIT */
/* bpftime/runtime.h: the glue between the shared-memory segment and the VM.
 * Public API; compiles alone as C and C++.
 *
 * A runtime turns the programs stored in a segment into ready VMs in this
 * process: instructions copied from the segment, lddw pseudo sources resolved
 * (a map fd becomes this process's map handle, a map value its address in
 * the segment, .data/.rodata/.bss included), every helper registered (the
 * kernel's ids, helpers/helpers.def), tail calls through PROG_ARRAY maps
 * resolved to the target program's VM, and the engine compiled.
 *
 * VMs are built once per program and cached: bpftime_runtime__prog() for an
 * fd notices when the fd was reused for another program (the slot's
 * generation counter) and builds the new one.  Cached VMs stay valid until
 * bpftime_runtime__free(), so a VM pointer handed to another thread (or kept
 * by a hook) never dangles while the runtime lives.
 *
 * The engine: opts->engine when opts->engine_set, else BPFTIME_VM_NAME
 * (jit|ubpf|interpreter|llvm|aot), else the JIT; BPFTIME_DISABLE_JIT (any
 * value but "0") selects the interpreter.  A program the JIT (or LLVM)
 * cannot take runs on the interpreter, with one warning saying why.  The AOT
 * engine runs the native object stored with the program
 * (bpftime_prog_set_aot); without one, building fails with -ENOENT.
 *
 * Helpers find the segment (trace ring) through the newest runtime alive in
 * the process (or bpftime_helpers__set_shm()).  Errors: int calls return 0
 * or a negative errno and set errno; pointer calls return NULL and set errno.
 * Failures to build a program are logged once with the VM's message.
 */
#ifndef BPFTIME_RUNTIME_H
#define BPFTIME_RUNTIME_H

#include <bpftime/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_shm;
struct bpftime_runtime;

struct bpftime_runtime_opts {
	size_t sz; /* sizeof(struct bpftime_runtime_opts) */
	enum bpftime_engine engine;
	bool engine_set;  /* false: BPFTIME_VM_NAME / BPFTIME_DISABLE_JIT / the JIT */
	bool no_fallback; /* true: a JIT/LLVM failure is an error, not the interpreter */
	/* fd_array of the programs' loader, for lddw sources MAP_IDX and
	 * MAP_IDX_VALUE (copied); none: such programs fail to build */
	const int *fd_array;
	size_t fd_array_cnt;
	size_t : 0;
};

/**
 * @brief **bpftime_runtime__new()** creates a runtime over @shm (borrowed:
 * it must outlive the runtime).
 * @return the runtime, or NULL with errno EINVAL (bad opts, unknown
 *         BPFTIME_VM_NAME: logged), ENOMEM
 */
BPFTIME_API struct bpftime_runtime *bpftime_runtime__new(struct bpftime_shm *shm,
							 const struct bpftime_runtime_opts *opts);

/** @brief frees the runtime and every VM it built; NULL is fine */
BPFTIME_API void bpftime_runtime__free(struct bpftime_runtime *rt);

/** @brief the engine programs are built for */
BPFTIME_API enum bpftime_engine bpftime_runtime__engine(const struct bpftime_runtime *rt);

/**
 * @brief **bpftime_runtime__set_helper()** registers (or replaces) helper @id
 * for every VM built after this call: how the agent provides the helpers
 * that need a probe's context (HELPER_EXT rows of helpers.def).
 * @return 0, -EINVAL (id above BPFTIME_MAX_HELPER_ID, NULL fn)
 */
BPFTIME_API int bpftime_runtime__set_helper(struct bpftime_runtime *rt, uint32_t id,
					    const char *name, bpftime_helper_fn fn);

/**
 * @brief **bpftime_runtime__prog()** the ready VM of the program at @fd,
 * built on first use and cached (a reused fd is noticed).  A program that
 * cannot be built is logged once and the failure remembered.
 * @return the VM (borrowed, valid until bpftime_runtime__free()), or NULL
 *         with errno: EBADF (not a program), EINVAL (the verifier or a
 *         map reference rejected it; logged), ENOENT (AOT engine, no AOT
 *         object; logged), EOPNOTSUPP (engine unavailable, no fallback), ENOMEM
 */
BPFTIME_API struct bpftime_vm *bpftime_runtime__prog(struct bpftime_runtime *rt, int fd);
/** @brief the same for the program with object id @id, wherever it is held
 * (a slot, a pin, a link, a prog array): NULL with errno EBADF if no such
 * program lives */
BPFTIME_API struct bpftime_vm *bpftime_runtime__prog_by_id(struct bpftime_runtime *rt, uint32_t id);

/** @brief runs the program at @fd (bpftime_runtime__prog()) with r1 = @mem,
 * r2 = @len.  @return 0 with *@ret = r0, or a negative errno as above */
BPFTIME_API int bpftime_runtime__run(struct bpftime_runtime *rt, int fd, void *mem, size_t len,
				     uint64_t *ret);

/* ---- the verifier's knowledge of this runtime ------------------------------ */

/* a program type of our own (the kernel has no 0 type): r1 = the run's
 * memory, r2 = its length, read and written freely within it (bpftimetool
 * run data files, PROG_TEST_RUN of untyped programs, the conformance suite) */
#define BPFTIME_PROG_TYPE_RAW_MEMORY 0

/**
 * @brief **bpftime_verifier_ops__init()** fills @ops for programs of the
 * kernel's type @prog_type: its context rules (pt_regs for kprobe/uprobe,
 * tracepoint records, raw tracepoint args, xdp_md, __sk_buff, perf_event
 * data, raw memory) and every helper's prototype.  The caller adds
 * ops->map_info and ops->ctx (how its lddws name maps).
 * @return 0; 1 when BPFTIME_VERIFIER=structural asks for the structural
 *         checks only (warned once, loudly): then pass no ops to the VM;
 *         -EINVAL for a NULL @ops
 */
BPFTIME_API int bpftime_verifier_ops__init(struct bpftime_verifier_ops *ops, uint32_t prog_type,
					   uint32_t expected_attach_type);

/** @brief the verifier's view of the map at @fd of @shm.  @return 0, -EBADF */
BPFTIME_API int bpftime_verifier_map__from_shm(struct bpftime_shm *shm, int fd,
					       struct bpftime_verifier_map *out);
/** @brief the same for a map handle (bpftime_map_get_handle_by_id()).  @return 0 */
struct bpftime_map;
BPFTIME_API int bpftime_verifier_map__from_handle(struct bpftime_map *h,
						  struct bpftime_verifier_map *out);

/** @brief the prototype of helper @id (helpers/protos.c), or NULL if unknown */
BPFTIME_API const struct bpftime_helper_proto *bpftime_helper__proto(uint32_t id);

/* ---- helpers ------------------------------------------------------------ */

/** @brief registers every helper of helpers.def implemented here on @vm
 * (before bpftime_vm__load).  @return 0 or the first error */
BPFTIME_API int bpftime_helpers__register(struct bpftime_vm *vm);

/** @brief the kernel's name of helper @id without "bpf_" ("map_lookup_elem"),
 * or NULL for an id this runtime does not know */
BPFTIME_API const char *bpftime_helper__name(uint32_t id);

/** @brief the segment helpers write to (trace ring); NULL detaches */
BPFTIME_API void bpftime_helpers__set_shm(struct bpftime_shm *shm);

/* The per-thread context of the program running now, set by whoever runs it
 * (the agent, around a probe's programs).  Helpers read it: get_stack and
 * get_stackid walk the user stack from regs when it is set (otherwise from
 * the calling thread itself); the embedder's own helpers find their state in
 * data. */
struct bpftime_helper_ctx {
	const void *regs; /* struct pt_regs of the probed thread (x86-64 kernel layout) */
	void *data;	  /* the embedder's */
};

/** @brief sets this thread's context (NULL clears) and returns the previous one */
BPFTIME_API struct bpftime_helper_ctx *bpftime_helper_ctx__swap(struct bpftime_helper_ctx *ctx);
/** @brief this thread's context, or NULL */
BPFTIME_API struct bpftime_helper_ctx *bpftime_helper_ctx__current(void);

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_RUNTIME_H */
