/* SPDX-License-Identifier: MIT */
/* bpftime/vm.h: the eBPF virtual machine: load, verify, compile and run one
 * program.  Public API; compiles alone as C and C++.
 *
 * Life cycle:
 *   vm = bpftime_vm__new(&opts);              options: name, callbacks
 *   bpftime_vm__register_helper(vm, id, ...); once per helper the program may call
 *   bpftime_vm__load(vm, insns, cnt);         verify, resolve lddw, bind helpers
 *   bpftime_vm__compile(vm, engine);          pick the back end (JIT compiles here)
 *   bpftime_vm__run(vm, mem, len, &r0);       as often as needed, from any thread
 *   bpftime_vm__free(vm);
 *
 * Errors: int calls return 0 or a negative errno and set errno; pointer calls
 * return NULL and set errno.  After a failed load or compile,
 * bpftime_vm__last_error() holds a one-line message ("pc 7: ...").
 */
#ifndef BPFTIME_VM_H
#define BPFTIME_VM_H

#include <bpftime/common.h>
#include <bpftime/insn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BPFTIME_STACK_SIZE     512     /* bytes per frame, as the kernel */
#define BPFTIME_MAX_CALL_DEPTH 8       /* frames incl. the main one (kernel MAX_CALL_FRAMES) */
#define BPFTIME_MAX_TAIL_CALLS 33      /* the kernel's MAX_TAIL_CALL_CNT */
#define BPFTIME_MAX_INSNS      1000000 /* the kernel's BPF_COMPLEXITY_LIMIT_INSNS */
#define BPFTIME_MAX_HELPER_ID  511     /* highest helper id that can be registered */

/* Helpers take r1..r5 and return r0. */
typedef uint64_t (*bpftime_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				      uint64_t r5);

/* Execution engines (bpftime's run types JIT / INTERPRET / AOT, plus LLVM). */
enum bpftime_engine {
	BPFTIME_ENGINE_INTERP = 0, /* computed-goto interpreter */
	BPFTIME_ENGINE_JIT = 1,	   /* own x86-64 JIT: the default */
	BPFTIME_ENGINE_LLVM = 2,   /* LLVM ORC JIT (libbpftime-llvm.so, loaded on demand) */
	BPFTIME_ENGINE_AOT = 3,	   /* native object from bpftime-aot */
};

/* Resolves an lddw whose src is a pseudo source (1..6, the kernel's
 * BPF_PSEUDO_* values) into the 64-bit value the program sees: a map handle
 * for MAP_FD/MAP_IDX, an address for MAP_VALUE/MAP_IDX_VALUE.  imm and
 * next_imm are the two slots' imm fields.  Returns 0 or a negative errno; the
 * loader reports "pc N: cannot resolve ..." on error.
 * BTF ids (src 3, a kernel variable's address) come here too: a resolver
 * that has no such variables returns -EOPNOTSUPP and the load fails.
 * Functions (src 4) never do: the VM resolves them itself. */
typedef int (*bpftime_lddw_fn)(void *user_ctx, unsigned int src, int32_t imm, int32_t next_imm,
			       uint64_t *value);

/* Decides whether the bounds-checked interpreter may touch [addr, addr+size)
 * beyond the program's own stack and its context memory (map values, for
 * example).  Return true to allow. */
typedef bool (*bpftime_mem_check_fn)(void *user_ctx, uint64_t addr, uint64_t size, bool write);

/* bpf_tail_call (helper 12): returns the program at index in the prog array
 * map handle, or NULL when the slot is empty (the caller then continues, as
 * in the kernel).  On success the current program ends and the returned one
 * runs with r1 = ctx. */
typedef struct bpftime_vm *(*bpftime_tail_call_fn)(void *user_ctx, uint64_t map, uint64_t index);

/* ---- the memory-safety verifier's plug-in (the kernel's bpf_verifier_ops) ----
 *
 * bpftime_vm__load() always runs the structural pass.  With opts->verifier
 * set it then verifies the program by abstract interpretation (vm/verifier*.c):
 * every path, register types and bounds, stack and context accesses, helper
 * arguments, references, spin locks, termination.  What it needs to know about
 * the program type, the helpers and the maps comes from these callbacks; the
 * runtime provides them (bpftime_verifier_ops__init() in bpftime/runtime.h).
 * Without opts->verifier only the structural pass runs: that is for the VM's
 * own tests and for callers that explicitly asked for it. */

/* what a context load yields */
enum bpftime_ctx_reg {
	BPFTIME_CTX_SCALAR = 0,	     /* a number */
	BPFTIME_CTX_PACKET = 1,	     /* start of packet data (xdp_md.data, __sk_buff.data) */
	BPFTIME_CTX_PACKET_END = 2,  /* end of packet data */
	BPFTIME_CTX_PACKET_META = 3, /* start of packet metadata */
};

/* helper argument kinds (the kernel's enum bpf_arg_type, the ones we use) */
enum bpftime_helper_arg {
	BPFTIME_ARG_NONE = 0,		      /* not an argument: r_i is not read */
	BPFTIME_ARG_ANYTHING,		      /* any initialised value */
	BPFTIME_ARG_CONST_MAP_PTR,	      /* a map from lddw, of proto->map_types */
	BPFTIME_ARG_MAP_KEY,		      /* key_size readable bytes */
	BPFTIME_ARG_MAP_VALUE,		      /* value_size readable bytes */
	BPFTIME_ARG_UNINIT_MAP_VALUE,	      /* value_size writable bytes */
	BPFTIME_ARG_MEM,		      /* readable bytes, size in the next argument */
	BPFTIME_ARG_MEM_OR_NULL,	      /* same, or NULL (with size 0) */
	BPFTIME_ARG_UNINIT_MEM,		      /* writable bytes, size in the next argument */
	BPFTIME_ARG_CONST_SIZE,		      /* size of the previous argument, > 0 */
	BPFTIME_ARG_CONST_SIZE_OR_ZERO,	      /* size of the previous argument, >= 0 */
	BPFTIME_ARG_CTX,		      /* the program's context pointer */
	BPFTIME_ARG_CONST_ALLOC_SIZE_OR_ZERO, /* known size of the returned memory */
	BPFTIME_ARG_RINGBUF_MEM,	      /* memory from ringbuf_reserve, released */
	BPFTIME_ARG_SPIN_LOCK,		      /* the bpf_spin_lock of a map value */
	BPFTIME_ARG_CALLBACK,		      /* a function value (lddw src 4) */
	BPFTIME_ARG_CONST_STR,		      /* NUL-terminated string in a read-only map */
	BPFTIME_ARG_STACK_OR_NULL,	      /* callback context: a stack pointer or NULL */
	BPFTIME_ARG_LONG_PTR,		      /* 8 writable bytes (uninitialised is fine) */
};

enum bpftime_helper_ret {
	BPFTIME_RET_INTEGER = 0,       /* a number */
	BPFTIME_RET_VOID,	       /* nothing: r0 is unreadable */
	BPFTIME_RET_MAP_VALUE_OR_NULL, /* a value of the argument-1 map, or NULL */
	BPFTIME_RET_ALLOC_MEM_OR_NULL, /* argument-2 bytes, or NULL: a reference */
};

/* special behaviour the verifier must model */
enum bpftime_helper_flag {
	BPFTIME_HF_RELEASE = 1 << 0,	 /* releases the reference it is given */
	BPFTIME_HF_LOOP_CB = 1 << 1,	 /* bpf_loop: cb(u64 index, void *ctx) */
	BPFTIME_HF_FOR_EACH_CB = 1 << 2, /* for_each_map_elem: cb(map, key, value, ctx) */
	BPFTIME_HF_TAIL_CALL = 1 << 3,	 /* ends the program when it succeeds */
	BPFTIME_HF_LOCK = 1 << 4,	 /* bpf_spin_lock */
	BPFTIME_HF_UNLOCK = 1 << 5,	 /* bpf_spin_unlock */
	BPFTIME_HF_PKT_ACCESS = 1 << 6,	 /* memory arguments may point into the packet */
	BPFTIME_HF_CHANGES_PKT = 1 << 7, /* moves or resizes the packet: packet pointers die */
	BPFTIME_HF_GPL_ONLY = 1 << 8,	 /* the kernel's gpl_only: GPL-compatible programs only */
};

struct bpftime_helper_proto {
	uint8_t ret;	    /* enum bpftime_helper_ret */
	uint8_t arg[5];	    /* enum bpftime_helper_arg, r1..r5 */
	uint16_t flags;	    /* enum bpftime_helper_flag */
	uint64_t map_types; /* CONST_MAP_PTR: bit t set = map type t accepted */
	int32_t ret_max;    /* RET_INTEGER: upper bound of r0 when > 0 */
};

/* what the verifier needs of a map named by an lddw */
struct bpftime_verifier_map {
	uint32_t type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	int32_t spin_lock_off; /* -1: the value has no bpf_spin_lock */
	bool rdonly_prog;      /* BPF_F_RDONLY_PROG: programs may not write */
	uint32_t id;	       /* distinguishes maps in messages and lock tracking */
	/* rdonly_prog and frozen arrays (a read-only map: constant contents):
	 * the bytes of key 0's value (format strings are checked for their
	 * NUL), or NULL */
	const void *ro_value;
	/* array/hash of maps: the template every inner map matches */
	uint32_t inner_type, inner_key_size, inner_value_size, inner_max_entries;
	/* frozen (BPF_MAP_FREEZE): no more writes from user space.  Alone it
	 * does not stop programs writing (the kernel's rule); with rdonly_prog
	 * the map is read-only (what bpf_snprintf formats need) */
	bool frozen;
};

struct bpftime_verifier_ops {
	size_t sz;	       /* sizeof(struct bpftime_verifier_ops) */
	const char *prog_type; /* for messages ("kprobe", "xdp", "raw memory") */
	/* bytes the context has; r1 points at them.  0 with ctx_access NULL: no context */
	uint32_t ctx_size;
	/* raw memory: r1 = ctx_size bytes readable and writable at any offset,
	 * r2 = their size (ctx_access is not called) */
	bool raw_ctx;
	/* may the program read (write false) or write @size bytes at offset
	 * @off of its context?  0 and *type set, or -EACCES */
	int (*ctx_access)(void *ctx, int32_t off, uint32_t size, bool write,
			  enum bpftime_ctx_reg *type);
	/* the prototype of helper @id, or NULL: calls to it are refused */
	const struct bpftime_helper_proto *(*helper_proto)(void *ctx, int32_t id);
	/* the map an lddw with pseudo source @src (1, 2, 5, 6) names; 0 or -errno */
	int (*map_info)(void *ctx, unsigned int src, int32_t imm, int32_t next_imm,
			struct bpftime_verifier_map *map);
	void *ctx; /* passed to the callbacks */
	/* the program's return value must be a number in [ret_min, ret_max] */
	bool ret_checked;
	int32_t ret_min, ret_max;
	/* the kernel's convert_ctx_access: where the verified context access
	 * of @size bytes at @off of the program's view (struct xdp_md, struct
	 * __sk_buff) lies in the context the program really runs on.  Load
	 * rewrites each such instruction in place (offset and size; one
	 * instruction stays one), before any engine compiles it, and runs
	 * need bpftime_vm__ctx_size() bytes of the real context.  NULL: the
	 * view is the real context.  0, or -errno (the load fails) */
	int (*ctx_convert)(void *ctx, int32_t off, uint32_t size, bool write, int32_t *real_off,
			   uint32_t *real_size);
	/* the program's license is GPL-compatible (the kernel's
	 * license_is_gpl_compatible(): bpftime_license__gpl_compatible()):
	 * it may call BPFTIME_HF_GPL_ONLY helpers; false refuses them */
	bool gpl_compatible;
	size_t : 0;
};

struct bpftime_vm_opts {
	size_t sz;			/* sizeof(struct bpftime_vm_opts) */
	const char *name;		/* program name for messages; copied */
	bpftime_lddw_fn resolve_lddw;	/* NULL: any pseudo lddw is rejected */
	bpftime_mem_check_fn mem_check; /* NULL: only stack and context memory */
	bpftime_tail_call_fn tail_call; /* NULL: bpf_tail_call always fails */
	void *user_ctx;			/* passed to the callbacks */
	bool bounds_check;		/* interpreter checks every access */
	/* the memory-safety verifier's plug-in, copied (its callbacks and ctx
	 * must stay valid during load); NULL: structural checks only */
	const struct bpftime_verifier_ops *verifier;
	/* verifier log: 0 none, 1 the failing path and totals, 2 every state
	 * (the kernel's log_level); read with bpftime_vm__verifier_log() */
	uint32_t log_level;
	size_t : 0;
};

struct bpftime_vm;

/**
 * @brief **bpftime_vm__new()** creates an empty VM.
 * @param opts may be NULL; unknown non-zero tail bytes are rejected (-EINVAL)
 * @return the VM, or NULL with errno set (ENOMEM, EINVAL)
 */
BPFTIME_API struct bpftime_vm *bpftime_vm__new(const struct bpftime_vm_opts *opts);

/** @brief **bpftime_vm__free()** releases the VM and its compiled code; NULL is fine. */
BPFTIME_API void bpftime_vm__free(struct bpftime_vm *vm);

/**
 * @brief **bpftime_vm__register_helper()** makes helper @id callable.
 * Must precede bpftime_vm__load(): calls are bound once, at load time.
 * @param name kernel name without the bpf_ prefix ("map_lookup_elem"); copied
 * @return 0, -EINVAL for an id above BPFTIME_MAX_HELPER_ID or a NULL fn,
 *         -EBUSY after load
 */
BPFTIME_API int bpftime_vm__register_helper(struct bpftime_vm *vm, uint32_t id, const char *name,
					    bpftime_helper_fn fn);

/**
 * @brief **bpftime_vm__load()** verifies the program and prepares it to run.
 * The instructions are copied.  lddw pseudo sources are resolved through the
 * opts callback and helper calls bound to registered helpers.
 * @return 0; a verifier rejection with the kernel's errno for it (-EACCES
 *         for most: memory accesses, argument and pointer types; -EINVAL for
 *         a malformed program, helper, reference, lock, loop and return
 *         value refusals; -E2BIG for too large or too deep), message in
 *         last_error; -ENOMEM; -EBUSY if a program is already loaded
 */
BPFTIME_API int bpftime_vm__load(struct bpftime_vm *vm, const struct bpftime_insn *insns,
				 size_t cnt);

/**
 * @brief **bpftime_vm__compile()** selects the engine for later runs and
 * compiles for it.  BPFTIME_ENGINE_INTERP needs no compilation.
 * @return 0; -EOPNOTSUPP if the engine is not built or cannot take this
 *         program (message in last_error; the previous engine stays selected)
 */
BPFTIME_API int bpftime_vm__compile(struct bpftime_vm *vm, enum bpftime_engine engine);

/**
 * @brief **bpftime_vm__run()** runs the program with r1 = @mem, r2 = @mem_len.
 * Thread-safe: each run has its own registers and stack.
 * @param ret receives r0
 * @return 0; -EINVAL if nothing is loaded (or @mem is NULL and @mem_len is
 *         not 0); -EFAULT when the bounds-checked
 *         interpreter stopped a stray access (message in last_error)
 */
BPFTIME_API int bpftime_vm__run(struct bpftime_vm *vm, void *mem, size_t mem_len, uint64_t *ret);

/** compiled code of a program: r1 = mem, r2 = len, returns r0 */
typedef uint64_t (*bpftime_vm_native_fn)(void *mem, uint64_t len);

/**
 * @brief **bpftime_vm__native()** for a caller that runs a program very often
 * with a context of @mem_len bytes (a syscall tracepoint): what
 * bpftime_vm__run() checks on every run, checked once.
 * @return the program's compiled code (JIT, LLVM or AOT: the selected
 *         engine's), valid until the program is unloaded; NULL when
 *         bpftime_vm__run() must be used (interpreter, nothing loaded, a
 *         context smaller than the program uses)
 */
BPFTIME_API bpftime_vm_native_fn bpftime_vm__native(struct bpftime_vm *vm, size_t mem_len);

/**
 * @brief **bpftime_vm__native_direct()** bpftime_vm__native() for a program
 * whose code needs nothing of the thread's run state: the JIT engine's,
 * with no tail call, no function value (callbacks) and no callx.
 * @return its compiled code, to call as fn(mem, mem_len) directly (one
 *         call, no state saved: the cheapest run); NULL when
 *         bpftime_vm__run_native() or bpftime_vm__run() is needed
 */
BPFTIME_API bpftime_vm_native_fn bpftime_vm__native_direct(struct bpftime_vm *vm, size_t mem_len);

/**
 * @brief **bpftime_vm__run_native()** runs @vm through @fn (its
 * bpftime_vm__native() for at least @mem_len bytes) as bpftime_vm__run()
 * would, without reading @vm itself unless the program makes a tail call
 * (one page less per run: after a syscall each page is a TLB refill).
 * @return r0
 */
BPFTIME_API uint64_t bpftime_vm__run_native(struct bpftime_vm *vm, bpftime_vm_native_fn fn,
					    void *mem, size_t mem_len);

/**
 * @brief **bpftime_vm__verifier_log()** the verifier's log of the last load
 * (opts->log_level 1 or 2), in the kernel's words; "" if none.  Borrowed,
 * valid until the next load or free.
 */
BPFTIME_API const char *bpftime_vm__verifier_log(const struct bpftime_vm *vm);

/** @brief the bytes of context the verified program may touch: runs with
 * less memory are refused (0 without the memory-safety verifier) */
BPFTIME_API uint32_t bpftime_vm__ctx_size(const struct bpftime_vm *vm);

/** @brief the engine the next run uses */
BPFTIME_API enum bpftime_engine bpftime_vm__engine(const struct bpftime_vm *vm);

/** @brief the loaded program after resolution (borrowed, valid until free) */
BPFTIME_API const struct bpftime_insn *bpftime_vm__insns(const struct bpftime_vm *vm, size_t *cnt);

/* The x86-64 JIT's code of a compiled program, in the shape the kernel
 * reports a JITed program (bpf_prog_info's jited_* fields): the eBPF
 * functions' code back to back (main first, then the subprograms in pc
 * order; the entry stub of programs with subprograms is not part of it). */
struct bpftime_jited {
	const uint8_t *image; /* borrowed: valid until the VM is compiled again or freed */
	uint32_t len;	      /* bytes of image */
	uint32_t nr_funcs;    /* eBPF functions */
	const uint32_t
		*func_off;	 /* nr_funcs + 1: function i is image[func_off[i], func_off[i+1]) */
	const uint32_t *func_pc; /* nr_funcs: the pc each function starts at */
	const uint32_t *insn_off; /* insn_cnt + 1: where the code of pc starts in image (the
				   * second slot of an lddw and instructions folded into the one
				   * before them: where the next code starts) */
	uint32_t insn_cnt;	  /* instructions of the resolved program (bpftime_vm__insns) */
};

/**
 * @brief **bpftime_vm__jited()** describes the native code of a VM
 * compiled with BPFTIME_ENGINE_JIT.
 * @return 0; -ENOENT when the VM has no JIT code (another engine, not
 *         compiled), -EINVAL for NULL arguments
 */
BPFTIME_API int bpftime_vm__jited(const struct bpftime_vm *vm, struct bpftime_jited *out);

/** @brief the message of the last failed load/compile/run in this VM ("" if none) */
BPFTIME_API const char *bpftime_vm__last_error(const struct bpftime_vm *vm);

/** @brief the helper registered under @id, or NULL */
BPFTIME_API bpftime_helper_fn bpftime_vm__helper(const struct bpftime_vm *vm, uint32_t id);

/**
 * @brief **bpftime_vm__emit_aot()** compiles the loaded program ahead of time
 * with the LLVM back end (libbpftime-llvm.so, loaded on demand) into a
 * relocatable x86-64 ELF object exporting bpf_main(void *ctx, uint64_t size);
 * helpers are undefined symbols _bpf_helper_ext_%04u, map references calls to
 * __lddw_helper_map_by_fd/__lddw_helper_map_by_idx and __lddw_helper_map_val;
 * subprograms used as callbacks are exported as bpf_sub_<pc>(r1, ..., r5).
 * @param llvm_ir true: LLVM IR text (optimised) instead of an object
 * @param buf receives a malloc'ed buffer, owned by the caller (free())
 * @return 0; -EINVAL if nothing is loaded; -EOPNOTSUPP if the LLVM back end
 *         is not available or cannot take the program (message in last_error)
 */
BPFTIME_API int bpftime_vm__emit_aot(struct bpftime_vm *vm, bool llvm_ir, void **buf, size_t *size);

/**
 * @brief **bpftime_vm__load_aot()** loads an AOT object (from bpftime-aot or
 * bpftime_vm__emit_aot()) into this process for BPFTIME_ENGINE_AOT; select it
 * with bpftime_vm__compile().  Its helper symbols bind to the registered
 * helpers and its map references resolve through the resolve_lddw callback
 * for the maps of the loaded program, both now.  The object is copied.
 * Without a loaded program the VM runs the object alone (AOT is then the only
 * engine it has).
 * @return 0; -ENOEXEC for a malformed or foreign object, -ENOENT for an
 *         unresolvable symbol (message in last_error), -ENOMEM
 */
BPFTIME_API int bpftime_vm__load_aot(struct bpftime_vm *vm, const void *obj, size_t size);

/**
 * @brief **bpftime_vm__call_func()** calls the function value @fn (what an
 * lddw with src BPFTIME_PSEUDO_FUNC loads) of the program running on this
 * thread, with r1..r5, on that program's engine: how helpers that take a
 * callback (bpf_loop, bpf_for_each_map_elem) run it.  Only valid inside a
 * helper called by a running program.
 * @return the callback's r0, or 0 when @fn is not a subprogram of the program
 */
BPFTIME_API uint64_t bpftime_vm__call_func(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3,
					   uint64_t r4, uint64_t r5);

/** @brief the engine's name: "interpreter", "jit", "llvm", "aot" */
BPFTIME_API const char *bpftime_engine__name(enum bpftime_engine engine);

/** @brief parses an engine name (also bpftime's "ubpf" = jit, "INTERPRET", "JIT",
 * "LLVM", "AOT", any case); returns 0 or -EINVAL */
BPFTIME_API int bpftime_engine__parse(const char *name, enum bpftime_engine *engine);

/* Called with each range of address space the VM's native code can live
 * in: [start, start + len), page-aligned. */
typedef void (*bpftime_code_notify_fn)(uintptr_t start, size_t len);

/**
 * @brief **bpftime_vm_set_code_notify()** sets the callback told about
 * the memory the VM runs native code from: the pages of the x86-64 JIT
 * (shared and solo) and of loaded AOT objects.  This address space is
 * reserved in a few large ranges, never given back, and each range is
 * reported once, while it is still inaccessible: before any code in it can
 * run.  Ranges reserved before the call are reported by the call itself
 * (to @fn, on this thread), so no range is missed whenever it is set.  A
 * range holds the VM's code and data only (INT3 where no code is,
 * inaccessible pages), never anyone else's, for the process's life.  Made for the syscall hook
 * (bpftime_syscall_hook__own(), whose scan must skip a `0f 05` inside a
 * JIT immediate).  Not covered: the llvm engine's code (LLVM's own memory
 * manager allocates it).  @fn runs with the VM's code allocator locked: it
 * must not compile nor free a VM.
 * @param fn NULL: none (the default)
 * @return the previous callback
 */
BPFTIME_API bpftime_code_notify_fn bpftime_vm_set_code_notify(bpftime_code_notify_fn fn);

/* Disassembler, in the words of `bpftool prog dump xlated`:
 * "r0 = 2", "if r1 > 0x5 goto pc+3", "call bpf_map_lookup_elem#1",
 * "r1 = map[id:3]", "r0 = *(u32 *)(r1 +4)", "lock *(u64 *)(r1 +0) += r2". */
struct bpftime_disasm_opts {
	size_t sz; /* sizeof(struct bpftime_disasm_opts) */
	/* helper name without the "bpf_" prefix ("map_lookup_elem"), or NULL:
	 * printed as "call bpf_<name>#<id>" or "call unknown#<id>" */
	const char *(*helper_name)(void *ctx, int32_t id);
	/* describes a map lddw (pseudo source 1, 2, 5 or 6) in buf, as bpftool
	 * does ("map[id:3]", "map[id:3][0]+16"); return 0, or non-zero to fall
	 * back to the fd or index ("map[fd:3]", "map[fd:3][0]+16", "map[idx:0]") */
	int (*map_desc)(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, char *buf,
			size_t len);
	void *ctx; /* passed to the callbacks */
	size_t : 0;
};

/**
 * @brief **bpftime_disasm_insn()** disassembles the instruction at @pc.
 * @param opts may be NULL
 * @param buf receives the text without the pc or a newline (truncated to @len)
 * @return the slots consumed (1, or 2 for lddw); -EINVAL for a pc out of
 *         range, an invalid opcode or a truncated lddw (buf then says why)
 */
BPFTIME_API int bpftime_disasm_insn(const struct bpftime_insn *insns, size_t cnt, size_t pc,
				    const struct bpftime_disasm_opts *opts, char *buf, size_t len);

/**
 * @brief **bpftime_disasm_prog()** prints the whole program, one line per
 * instruction as bpftool does ("   3: (b7) r0 = 2").
 * @return 0, or -EINVAL if some instruction could not be decoded (its line
 *         says why; the rest is still printed)
 */
BPFTIME_API int bpftime_disasm_prog(const struct bpftime_insn *insns, size_t cnt,
				    const struct bpftime_disasm_opts *opts, FILE *out);

/**
 * @brief **bpftime_vm__disasm()** prints the loaded program as given to load
 * (pseudo sources unresolved), naming helpers by their registered names.
 * @return 0; -EINVAL if nothing is loaded
 */
BPFTIME_API int bpftime_vm__disasm(const struct bpftime_vm *vm, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_VM_H */
