/* SPDX-License-Identifier: MIT */
/* vm/llvm/llvm.h: the interface between bpftime_vm (vm/llvm_glue.c) and the
 * LLVM back end, libbpftime-llvm.so, which the glue dlopens on demand so
 * that nothing else in the tree links LLVM.
 *
 * The shared object exports one symbol, VM_LLVM_ENTRY, a function that
 * checks the ABI of the caller (version and sizeof(struct bpftime_vm): the
 * back end reads the VM object directly, so both must come from the same
 * build) and returns its operations.
 */
#ifndef BPFTIME_VM_LLVM_H
#define BPFTIME_VM_LLVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpftime_vm;

#define VM_LLVM_ABI	 5 /* 5: struct bpftime_vm starts with the fields a run reads */
#define VM_LLVM_ENTRY	 "bpftime_llvm_entry"
#define VM_LLVM_LIB_NAME "libbpftime-llvm.so"
/* Compiled code exports, for each subprogram used as a function value (a
 * callback of bpf_loop and the like), uint64_t bpf_sub_<pc>(r1, ..., r5):
 * the subprogram run as a fresh program, for bpftime_vm__call_func(). */
#define VM_LLVM_SUB_PFX	 "bpf_sub_"
/* An AOT object records what it was compiled from: a 32-byte read-only
 * symbol holding the SHA-256 of the program's instructions as given to
 * bpftime_vm__load() (map fds included: the object's map references are
 * those fds).  vm_aot_load() refuses an object whose hash is not the one of
 * the program loaded in the VM. */
#define VM_AOT_HASH_SYM	 "bpftime_prog_sha256"

struct vm_llvm_ops {
	/* Compiles vm->insns with LLVM's ORC JIT; sets vm->llvm_fn and
	 * vm->llvm_state.  Returns 0 or -errno with vm->errmsg set. */
	int (*compile)(struct bpftime_vm *vm);
	/* Frees what compile created (vm->llvm_state); NULL state is fine. */
	void (*free)(struct bpftime_vm *vm);
	/* Compiles the loaded program into a relocatable native ELF object
	 * (AOT, symbol conventions of DESIGN.md section 3), or LLVM IR text
	 * when ir is set.  *buf is malloc'ed and owned by the caller. */
	int (*emit_aot)(struct bpftime_vm *vm, bool ir, void **buf, size_t *size);
	/* Runs the callback subprogram at pc of the JIT-compiled program:
	 * 0 with *ret set, -ENOENT if pc is not one. */
	int (*call)(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret);
	/* The LLVM version the back end was built with ("14.0.6"). */
	const char *(*version)(void);
};

/* aot_load.c (in bpftime_vm, no LLVM needed): frees what vm_aot_load()
 * created (vm_llvm_free() calls it), and runs a callback subprogram of the
 * loaded object (-ENOENT if the object exports none at pc). */
void vm_aot_free(struct bpftime_vm *vm);
int vm_aot_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret);

typedef const struct vm_llvm_ops *(*vm_llvm_entry_fn)(unsigned int abi, size_t vm_size);

#endif /* BPFTIME_VM_LLVM_H */
