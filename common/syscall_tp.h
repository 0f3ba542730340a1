/* SPDX-License-Identifier: MIT */
/* common/syscall_tp.h: the x86-64 syscall tracepoint catalogue
 * (syscall_tp.def): event names, numbers, argument declarations, and the
 * tracefs files made from them (format, id).  Internal to the tree: the
 * syscall server serves the files, the agent and tests look names up. */
#ifndef BPFTIME_COMMON_SYSCALL_TP_H
#define BPFTIME_COMMON_SYSCALL_TP_H

#include <stddef.h>
#include <stdint.h>
#include <bpftime/syscall_tp.h>

struct systp_info {
	int nr;
	const char *name; /* kernel event name without sys_enter_ */
	int nargs;
	const char *args; /* "type name;type name;..." as tracefs prints them */
};

/* the catalogue's rows, in syscall number order */
extern const struct systp_info systp_table[];
extern const size_t systp_count;

/* the row of syscall @nr, or NULL */
const struct systp_info *systp_by_nr(int nr);
/* the row of event name @name (@len bytes, e.g. "openat"), or NULL */
const struct systp_info *systp_by_name(const char *name, size_t len);

/* Parses an event path below events/: "syscalls/sys_enter_openat",
 * "raw_syscalls/sys_exit", ...  Returns 0 with *kind and *nr (-1 for the
 * raw ones), -ENOENT for anything else. */
int systp_parse_event(const char *event, size_t len, enum bpftime_systp_kind *kind, int *nr);

/* our tracepoint id for (kind, nr) when there is no tracefs */
int systp_fake_id(enum bpftime_systp_kind kind, int nr);
/* the inverse: 0 with kind and nr, or -ENOENT when @id is not ours */
int systp_decode_fake_id(int id, enum bpftime_systp_kind *kind, int *nr);

/* Writes the tracefs "format" file of (kind, nr) with tracepoint id @id
 * into @buf (NUL-terminated, truncated to @size).  Returns its length
 * (which may exceed @size - 1, as snprintf), or -ENOENT. */
int systp_format(enum bpftime_systp_kind kind, int nr, int id, char *buf, size_t size);

#endif
