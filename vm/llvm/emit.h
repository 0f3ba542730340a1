/* SPDX-License-Identifier: MIT */
/* vm/llvm/emit.h: internal to libbpftime-llvm.so. */
#ifndef BPFTIME_VM_LLVM_EMIT_H
#define BPFTIME_VM_LLVM_EMIT_H

#include <stdbool.h>
#include <llvm-c/Core.h>

struct bpftime_vm;

/* Symbol names of AOT objects (DESIGN.md section 3). */
#define LLVM_MAIN_SYM	    "bpf_main"
#define LLVM_HELPER_FMT	    "_bpf_helper_ext_%04u"
#define LLVM_MAP_BY_FD_SYM  "__lddw_helper_map_by_fd"
#define LLVM_MAP_BY_IDX_SYM "__lddw_helper_map_by_idx"
#define LLVM_MAP_VAL_SYM    "__lddw_helper_map_val"

/* Translates the loaded program of vm into module mod (empty, with its
 * target triple and data layout set).  aot: helpers and maps become
 * external symbols instead of constant addresses.  Returns 0, or -errno
 * with vm->errmsg set. */
int llvm_emit_module(struct bpftime_vm *vm, LLVMModuleRef mod, bool aot);

/* Writes vm->errmsg (printf-style) and returns -err. */
int llvm_error(struct bpftime_vm *vm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* BPFTIME_VM_LLVM_EMIT_H */
