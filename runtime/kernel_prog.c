/* SPDX-License-Identifier: MIT */
/* runtime/kernel_prog.c: tail calls from userspace programs into kernel
 * programs (kernel-shared mode, and prog arrays given a kernel program's fd).
 *
 * A program record that exists only in the kernel (bpftime_prog_info
 * kernel_only) becomes a small proxy VM:
 *     r3 = r2; r2 = r1; r1 = <kernel program id>; call RT_HELPER_KERNEL_RUN; exit
 * which the tail call enters with the caller's context in r1 and its size in
 * r2; the helper runs the kernel program once by BPF_PROG_TEST_RUN with a
 * copy of that context (bpftime_kernel_prog_run: the packet for XDP and tc,
 * the first 12 u64 for raw tracepoints, all of it for other types) and its
 * verdict (r0) ends the caller's run, as a tail call's target's would.  A
 * refused run (the program was unloaded, bpf(2) is not permitted) returns
 * the -errno, logged once per program.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <bpftime/kernel.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#define RT_HELPER_KERNEL_RUN BPFTIME_MAX_HELPER_ID /* private to the proxy VMs */

static uint64_t kernel_run(uint64_t id, uint64_t ctx, uint64_t len, uint64_t r4, uint64_t r5)
{
	static _Atomic uint32_t warned_id;
	uint64_t r0 = 0;
	int err;

	UNUSED(r4);
	UNUSED(r5);
	err = bpftime_kernel_prog_run((uint32_t)id, (void *)(uintptr_t)ctx, (size_t)len, &r0);
	if (err) {
		if (atomic_exchange(&warned_id, (uint32_t)id) != (uint32_t)id)
			pr_warn("tail call into kernel program %u: BPF_PROG_TEST_RUN: %s\n",
				(uint32_t)id, strerror(-err));
		return (uint64_t)(int64_t)err;
	}
	return r0;
}

int rt_kernel_proxy(struct bpftime_runtime *rt, uint32_t kernel_id, const char *name,
		    struct bpftime_vm **out)
{
	const struct bpftime_insn insns[] = {
		{ .code = 0x07 | 0xb0 | 0x08, .dst = 3, .src = 2 },	      /* r3 = r2 */
		{ .code = 0x07 | 0xb0 | 0x08, .dst = 2, .src = 1 },	      /* r2 = r1 */
		{ .code = 0x07 | 0xb0, .dst = 1, .imm = (int32_t)kernel_id }, /* r1 = id */
		{ .code = 0x05 | 0x80, .imm = RT_HELPER_KERNEL_RUN },	      /* call */
		{ .code = 0x05 | 0x90 },				      /* exit */
	};
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = name);
	struct bpftime_vm *vm;
	int err;

	UNUSED(rt);
	if (!kernel_id || kernel_id > INT32_MAX)
		return -EINVAL;
	vm = bpftime_vm__new(&opts);
	if (!vm)
		return -errno;
	err = bpftime_vm__register_helper(vm, RT_HELPER_KERNEL_RUN, "bpftime_kernel_run",
					  kernel_run);
	if (!err)
		err = bpftime_vm__load(vm, insns, sizeof(insns) / sizeof(insns[0]));
	if (!err)
		err = bpftime_vm__compile(vm, BPFTIME_ENGINE_INTERP);
	if (err) {
		pr_warn("prog '%s': cannot build the proxy of kernel program %u: %s\n", name,
			kernel_id, bpftime_vm__last_error(vm));
		bpftime_vm__free(vm);
		return err;
	}
	*out = vm;
	return 0;
}
