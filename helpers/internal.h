/* SPDX-License-Identifier: MIT */
/* helpers/internal.h: declarations shared by the helper families and the
 * helper table.  Internal to helpers/.
 *
 * Every helper has the VM's signature (five u64 in, u64 out) and is named
 * helper_<kernel name>; helpers.def lists them with their ids.  Errors are
 * returned as the kernel does: a negative errno in the u64.
 */
#ifndef BPFTIME_HELPERS_INTERNAL_H
#define BPFTIME_HELPERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/runtime.h>
#include "helpers.h"

#define HELPER_DECL(name) \
	uint64_t helper_##name(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)

#define HELPER(name, id, nargs) HELPER_DECL(name);
#include "helpers.def"

/* probe.c: copies @size bytes from the address @src of this process into
 * @dst without faulting.  Returns 0 or -EFAULT (dst then holds what was
 * copied before the bad byte; callers zero it as the kernel does). */
int helpers_safe_read(void *dst, uint64_t src, size_t size);
/* copies a NUL-terminated string of at most @size bytes (incl. the NUL,
 * which is always written when size > 0); returns the length incl. the NUL
 * or -EFAULT when a byte before the NUL cannot be read */
long helpers_safe_read_str(char *dst, uint64_t src, size_t size);

/* format.c: the kernel's bpf_bprintf rules.  Formats @fmt (NUL within
 * @fmt_size bytes, else -EINVAL) with @nargs u64 arguments into @out (always
 * NUL-terminated when @len > 0).  Returns the length the whole output needs
 * without the NUL, or -EINVAL for a format the kernel refuses (unknown
 * conversion, more conversions than arguments or than @max_args,
 * non-printable characters). */
long helpers_bprintf(char *out, size_t len, const char *fmt, size_t fmt_size, const uint64_t *args,
		     size_t nargs, size_t max_args);

/* output.c: writes a printk line for @msg into the trace ring */
long helpers_trace_write(const char *msg, size_t len);

#endif /* BPFTIME_HELPERS_INTERNAL_H */
