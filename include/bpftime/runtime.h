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

/* ---- packet programs: their real contexts and test runs ------------------- */

/* The context XDP programs run on (the kernel's xdp_buff as far as a
 * program can tell).  Their struct xdp_md accesses are rewritten at load
 * time to these fields (the kernel's convert_ctx_access): xdp_md.data is
 * data, data_end data_end, data_meta data_meta (64-bit pointers), and the
 * other u32 fields are md[] at their xdp_md offsets. */
struct bpftime_xdp_ctx {
	uint64_t data;		  /* first packet byte */
	uint64_t data_end;	  /* one past the last */
	uint64_t data_meta;	  /* metadata start (== data: no metadata) */
	uint64_t data_hard_start; /* buffer start: the headroom begins here */
	uint64_t data_hard_end;	  /* how far data_end may grow (bpf_xdp_adjust_tail) */
	uint32_t md[6];		  /* struct xdp_md; md[0..2] (the pointers) unused */
	uint32_t frags;		  /* bytes in fragments past the linear part */
	uint32_t pad;
};

/* The context socket filter, sched_cls/act and cgroup_skb programs run on:
 * __sk_buff.data, data_end and data_meta become the 64-bit pointers, every
 * other field is sk[] at its __sk_buff offset (len, protocol, mark, cb[],
 * tstamp, ...).  data is the kernel's skb->data: the Ethernet header for
 * tc, the network header for socket filters (len counts from there). */
struct bpftime_skb_ctx {
	uint64_t data;
	uint64_t data_end;
	uint64_t data_meta;
	uint64_t head;	 /* buffer start */
	uint64_t end;	 /* buffer end */
	uint32_t sk[48]; /* struct __sk_buff (192 bytes); the pointer words unused */
};

#define BPFTIME_XDP_MD_OFF   40 /* offsetof(struct bpftime_xdp_ctx, md) */
#define BPFTIME_SKB_VIEW_OFF 40 /* offsetof(struct bpftime_skb_ctx, sk) */

/* BPF_PROG_TEST_RUN's arguments and results (union bpf_attr's test
 * fields): the data and ctx buffers are the caller's */
struct bpftime_test_run_opts {
	size_t sz; /* sizeof(struct bpftime_test_run_opts) */
	const void *data_in;
	uint32_t data_size_in;
	void *data_out;
	uint32_t data_size_out; /* in: data_out's size (0: unlimited); out: the data's size */
	void *ctx_in;		/* syscall programs write their context back here, as the kernel */
	uint32_t ctx_size_in;
	void *ctx_out;
	uint32_t ctx_size_out; /* in: ctx_out's size; out: the context's size */
	uint32_t repeat;
	uint32_t flags;
	uint32_t cpu;
	uint32_t batch_size;
	uint32_t retval;   /* out: r0 (as the kernel, its low 32 bits) */
	uint32_t duration; /* in: must be 0 for the types that take none; out: ns per run */
	size_t : 0;
};

/**
 * @brief **bpftime_runtime__test_run()** runs the program at @fd as the
 * kernel's BPF_PROG_TEST_RUN does for its type: XDP on an xdp_buff over a
 * copy of data_in with the kernel's headroom (ctx_in/ctx_out a struct
 * xdp_md, metadata before data), socket filter, sched_cls/act and
 * cgroup_skb on an skb (protocol from the Ethernet header, ctx_in/ctx_out
 * a struct __sk_buff with the fields the kernel lets a caller set), raw
 * tracepoint and tracing with ctx_in as the argument array, syscall with
 * ctx_in as its buffer (written back), raw memory (bpftimetool's type 0)
 * on data_in; repeat times, duration the mean ns per run.  data_out and
 * ctx_out are filled as far as they fit: -ENOSPC when data_size_out (if
 * not 0) or ctx_size_out is too small, the sizes and retval still set.
 * @return 0; the kernel's errors: -EINVAL (bad sizes, non-zero fields the
 * kernel refuses in ctx_in, flags), -E2BIG (ctx_in longer than the
 * context with non-zero tail), -ENOTSUPP (524: a type the kernel cannot
 * test-run, as kprobe), -ENOSPC; -EBADF, -ENOMEM; -EOPNOTSUPP for what
 * the kernel can do and we cannot (live XDP frames, skb checksum-complete
 * checks).  XDP data beyond the linear part (or ctx_in.data_end) is kept
 * as the kernel's fragments: the program sees the linear part only (and
 * bpf_xdp_adjust_tail answers -EOPNOTSUPP), data_out has it all.
 */
BPFTIME_API int bpftime_runtime__test_run(struct bpftime_runtime *rt, int fd,
					  struct bpftime_test_run_opts *opts);

/**
 * @brief **bpftime_runtime__needs_cpu()** says whether runs of @vm (a VM of
 * @rt, from bpftime_runtime__prog()) must own a per-CPU slot
 * (bpftime_shm__cpu_get()), as decided when it was built: true when it uses
 * a map that may keep per-CPU state (per-CPU maps, perf event arrays, maps
 * of maps, program arrays) or a helper with per-CPU state
 * (get_smp_processor_id, perf_event_output, tail_call, per_cpu_ptr,
 * this_cpu_ptr, kfuncs), and for a VM @rt did not build.  When false the
 * program touches no per-CPU data and its runs may skip the claim.
 */
BPFTIME_API bool bpftime_runtime__needs_cpu(struct bpftime_runtime *rt,
					    const struct bpftime_vm *vm);

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

/** @brief whether @license is GPL-compatible, as the kernel decides it
 * (license_is_gpl_compatible): exactly "GPL", "GPL v2", "GPL and additional
 * rights", "Dual BSD/GPL", "Dual MIT/GPL" or "Dual MPL/GPL".  Such programs
 * may call the kernel's gpl_only helpers (ops->gpl_compatible); NULL is not */
BPFTIME_API bool bpftime_license__gpl_compatible(const char *license);

/** @brief whether programs of the kernel's type @prog_type can be loaded
 * here: the types with context rules and somewhere to run (socket filter,
 * kprobe/uprobe, sched_cls/act, tracepoint, xdp, perf_event, cgroup_skb,
 * raw tracepoint (writable), tracing, syscall).  PROG_LOAD of any other
 * type fails as the kernel's does for a type it lacks (-EINVAL), so feature
 * probes report exactly these. */
BPFTIME_API bool bpftime_prog_type__supported(uint32_t prog_type);

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

/** @brief the same, with the implementations program type @prog_type gets
 * where the kernel binds one helper id differently per type (bpf_redirect:
 * XDP_REDIRECT for XDP, TC_ACT_REDIRECT for tc).  @return 0 or the first error */
BPFTIME_API int bpftime_helpers__register_for_type(struct bpftime_vm *vm, uint32_t prog_type);

/** @brief the kernel's name of helper @id without "bpf_" ("map_lookup_elem"),
 * or NULL for an id this runtime does not know */
BPFTIME_API const char *bpftime_helper__name(uint32_t id);

/** @brief the segment helpers write to (trace ring); NULL detaches */
BPFTIME_API void bpftime_helpers__set_shm(struct bpftime_shm *shm);

/** @brief the calling thread's process or thread id changed under its
 * thread-local storage (a vfork child, its parent going on, a fork made
 * without glibc's fork()): the ids helpers cache per thread are read again
 * (get_current_pid_tgid).  Async-signal-safe. */
BPFTIME_API void bpftime_helpers__new_ids(void);

/* The per-thread context of the program running now, set by whoever runs it
 * (the agent, around a probe's programs).  Helpers read it: get_stack and
 * get_stackid walk the user stack from regs when it is set (otherwise from
 * the calling thread itself); the embedder's own helpers find their state in
 * data. */
struct bpftime_helper_ctx {
	const void *regs; /* struct pt_regs of the probed thread (x86-64 kernel layout) */
	void *data;	  /* the embedder's */
	/* a uprobe on a function's first instruction, when that is `push
	 * %rbp` or endbr64: the function has not pushed its frame yet, so a
	 * user stack starts rip, [rsp] (the return address), then the frame
	 * chain, as the kernel's walk does for such uprobes */
	bool func_entry;
};

/** @brief sets this thread's context (NULL clears) and returns the previous one */
BPFTIME_API struct bpftime_helper_ctx *bpftime_helper_ctx__swap(struct bpftime_helper_ctx *ctx);
/** @brief this thread's context, or NULL */
BPFTIME_API struct bpftime_helper_ctx *bpftime_helper_ctx__current(void);

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_RUNTIME_H */
