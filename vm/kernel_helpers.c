/* SPDX-License-Identifier: MIT */
/* vm/kernel_helpers.c: the kernel's helper names by id, from the uapi
 * header of the build machine (<linux/bpf.h>, __BPF_FUNC_MAPPER), for the
 * verifier's messages about helpers this runtime does not have: the kernel
 * names every helper it knows, and "unknown" past its last one.  Kept
 * apart from the rest of vm/ because the uapi header and vm/insn.h define
 * the same BPF_* macros. */
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>

const char *vm_kernel_helper_name(int32_t id);

#define NAME_FN(x, ...) #x
static const char *const names[] = { __BPF_FUNC_MAPPER(NAME_FN) };
#undef NAME_FN

/* the name without "bpf_", or NULL past the kernel's last helper (and for
 * id 0, unspec) */
const char *vm_kernel_helper_name(int32_t id)
{
	if (id <= 0 || (size_t)id >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[id];
}
