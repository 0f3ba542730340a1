/* SPDX-License-Identifier: MIT */
/* vm/jit.h: the x86-64 JIT's entry points on a loaded VM, for vm/ and for
 * bench/jit_compile (which times them without the rest of a compile). */
#ifndef BPFTIME_VM_JIT_H
#define BPFTIME_VM_JIT_H

#include <stddef.h>

struct bpftime_vm;

/* compiles the loaded program into native code (0 or -errno, message in
 * bpftime_vm__last_error) and returns that code to the JIT's arena */
int vm_jit_compile(struct bpftime_vm *vm);
void vm_jit_free(struct bpftime_vm *vm);
/* bytes of native code the last vm_jit_compile() mapped (0: none) */
size_t vm_jit_size(const struct bpftime_vm *vm);

#endif /* BPFTIME_VM_JIT_H */
