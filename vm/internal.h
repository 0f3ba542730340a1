/* SPDX-License-Identifier: MIT */
/* vm/internal.h: the VM object and the contract between vm.c (load, run),
 * the verifier and the back ends.  Internal to vm/.
 *
 * After a successful load, vm->insns holds the program in "resolved" form,
 * the form every back end consumes:
 *   - lddw with a pseudo source has src = 0 and the resolved 64-bit value
 *     split over the two imm fields (the original is in vm->orig_insns);
 *   - helper calls keep imm = helper id, and vm->helpers[id] is non-NULL;
 *   - local calls (src = 1) keep their pc-relative imm.
 *
 * Function values: lddw with src = 4 (BPF_PSEUDO_FUNC) resolves to
 * VM_FUNC_BASE + the subprogram's pc.  callx rX calls helper rX when
 * rX <= BPFTIME_MAX_HELPER_ID (uBPF's and bpf_conformance's convention),
 * the subprogram at rX - VM_FUNC_BASE when that is a subprogram entry, and
 * otherwise stops the program with r0 = 0 (the interpreter's bounds-checked
 * mode reports it).  Helpers that take callbacks (bpf_loop,
 * for_each_map_elem) call bpftime_vm__call_func(), which runs the subprogram on the
 * engine of the program running on this thread.
 *
 * Tail calls: helper 12 is bound to vm_tail_call_helper().  On success it
 * stores the next program in the thread's struct vm_run_state and returns 0;
 * every engine, right after a call with imm = 12, checks
 * vm_run_state.tail_next and, when set, leaves the program at once (all
 * frames) returning 0.  bpftime_vm__run() then runs tail_next with
 * r1 = tail_ctx, up to BPFTIME_MAX_TAIL_CALLS times.
 */
#ifndef BPFTIME_VM_INTERNAL_H
#define BPFTIME_VM_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/vm.h>
#include "insn.h"
#include "jit.h"

#define VM_HELPER_TAIL_CALL 12
#define VM_FUNC_BASE	    (UINT64_C(0xbf) << 48) /* tag of function values */

/* A compiled program: r1 = mem, r2 = len, returns r0. */
typedef uint64_t (*vm_jit_fn)(void *mem, uint64_t len);

struct vm_run_state {
	struct bpftime_vm *cur;	      /* the program running on this thread */
	struct bpftime_vm *tail_next; /* set by a successful bpf_tail_call */
	uint64_t tail_ctx;	      /* r1 for tail_next */
	uint32_t tail_calls;	      /* taken so far in this run */
};

/* initial-exec: in the agent (a dlopen'ed library) the default model goes
 * through __tls_get_addr on every run: two code and two data pages more,
 * each a TLB refill after a syscall (docs/syscall-tracepoints.md) */
extern __thread struct vm_run_state vm_run_state __attribute__((tls_model("initial-exec")));

struct bpftime_vm {
	/* what bpftime_vm__run() reads, first: one cache line, one page (the
	 * helper tables below are 3 KiB; a run after a syscall pays a TLB
	 * refill per page it touches) */
	bool loaded;
	enum bpftime_engine engine;
	uint32_t ctx_extent; /* the context bytes the program may touch (verifier.c) */
	vm_jit_fn jit_fn;    /* x86-64 JIT (jit_x86_64.c) */
	vm_jit_fn llvm_fn;   /* LLVM JIT / AOT (llvm/, loaded on demand) */
	vm_jit_fn aot_fn;

	char name[64];
	struct bpftime_vm_opts opts; /* copy; name points at ->name */

	struct bpftime_insn *insns;	 /* resolved program, see above */
	struct bpftime_insn *orig_insns; /* as given to load */
	size_t cnt;

	bpftime_helper_fn helpers[BPFTIME_MAX_HELPER_ID + 1];
	char *helper_names[BPFTIME_MAX_HELPER_ID + 1];

	/* x86-64 JIT (jit_x86_64.c) */
	void *jit_mem;
	size_t jit_size;
	/* where the code is (bpftime_vm__jited): image offset in jit_mem, then
	 * cnt + 1 pc offsets and jit_nfuncs + 1 function offsets, relative
	 * to the image, and jit_nfuncs function start pcs */
	uint32_t jit_image;
	uint32_t *jit_offs;
	uint32_t jit_nfuncs;

	void *llvm_state;
	void *aot_state;

	/* verify.c: subprogram entry pcs in ascending order, subprogs[0] = 0 */
	uint32_t *subprogs;
	size_t nr_subprogs;

	/* verifier.c: the plug-in copied from opts (has_vops), the log of the
	 * last load (ctx_extent above: runs with a smaller context are refused) */
	struct bpftime_verifier_ops vops;
	bool has_vops;
	char *vlog;
	/* the context accesses to rewrite (vops.ctx_convert): their pcs, set
	 * by the verifier, applied by load */
	uint32_t *ctx_pcs;
	size_t nr_ctx_pcs;

	/* interp.c: the pre-decoded program built at load (vm_interp_prepare) */
	void *interp_code;

	char errmsg[256];
};

/* Records a message in vm->errmsg (printf-style) and returns -err for the
 * caller to pass on. */
int vm_error(struct bpftime_vm *vm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* verify.c: structural verification of vm->orig_insns (see issue list in
 * the file).  Returns 0 or -EINVAL with vm->errmsg set.  On success it also
 * fills vm->subprogs (freed by vm_verify_free()). */
int vm_verify(struct bpftime_vm *vm, const struct bpftime_insn *insns, size_t cnt);
void vm_verify_free(struct bpftime_vm *vm);

/* verifier.c: the memory-safety verifier, after vm_verify() succeeded and
 * when vm->has_vops.  0 or -EINVAL with vm->errmsg ("pc N: <the kernel's
 * words>") and vm->vlog (log_level > 0) set; -ENOMEM. */
int vm_verify_safety(struct bpftime_vm *vm, const struct bpftime_insn *insns, size_t cnt);

/* true when pc is the entry of a subprogram (a valid local call target) */
bool vm_is_subprog(const struct bpftime_vm *vm, uint64_t pc);

/* interp.c: runs the resolved program.  Returns 0 with *ret set, or
 * -EFAULT (bounds-checked mode) with vm->errmsg set. */
int vm_interp_run(struct bpftime_vm *vm, void *mem, uint64_t len, uint64_t *ret);

/* interp.c: builds vm->interp_code from vm->insns (called by load), and
 * frees it.  vm_interp_call() runs the subprogram at pc with r1..r5 = args
 * on a fresh stack (bpftime_vm__call_func() on the interpreter). */
int vm_interp_prepare(struct bpftime_vm *vm);
void vm_interp_free(struct bpftime_vm *vm);
int vm_interp_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret);

/* jit_x86_64.c: compiles vm->insns into vm->jit_fn (jit.h). */
/* jit_x86_64.c: runs the compiled subprogram at pc with r1..r5 = args on a
 * fresh frame stack (bpftime_vm__call_func() on the JIT); -ENOENT if pc is not a
 * subprogram or nothing is compiled. */
int vm_jit_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret);

/* llvm/ back end, through a dlopen'ed libbpftime-llvm.so */
int vm_llvm_compile(struct bpftime_vm *vm);
int vm_aot_load(struct bpftime_vm *vm, const void *obj, size_t size);
/* compiles an AOT object with LLVM and loads it (no object was loaded) */
int vm_aot_compile(struct bpftime_vm *vm);
/* runs the callback subprogram at pc on the llvm or aot code (bpftime_vm__call_func);
 * -ENOENT when the compiled code has no entry for it */
int vm_llvm_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret);
void vm_llvm_free(struct bpftime_vm *vm);

/* kernel_helpers.c: the kernel's name of helper @id without "bpf_" (from
 * the build machine's uapi header), or NULL past its last helper */
const char *vm_kernel_helper_name(int32_t id);

/* The helper bound to id 12; see the tail-call contract above. */
uint64_t vm_tail_call_helper(uint64_t ctx, uint64_t map, uint64_t index, uint64_t r4, uint64_t r5);

#endif /* BPFTIME_VM_INTERNAL_H */
