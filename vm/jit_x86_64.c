/* vm/jit_x86_64.c: the x86-64 JIT (issue 3).  Placeholder until the real
 * compiler lands in this file: every compile fails cleanly so the runtime
 * falls back to the interpreter. */
#include <errno.h>
#include "internal.h"

int vm_jit_compile(struct bpftime_vm *vm)
{
	return vm_error(vm, EOPNOTSUPP, "x86-64 jit not built yet");
}

void vm_jit_free(struct bpftime_vm *vm)
{
	vm->jit_fn = NULL;
	vm->jit_mem = NULL;
	vm->jit_size = 0;
}
