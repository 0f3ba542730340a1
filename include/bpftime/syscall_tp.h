/* SPDX-License-Identifier: MIT */
/* bpftime/syscall_tp.h: the contexts of syscall tracepoint programs
 * (SEC("tracepoint/syscalls/sys_{enter,exit}_NAME") and
 * SEC("tracepoint/raw_syscalls/sys_{enter,exit}")), byte for byte the
 * kernel's trace records (trace_event_raw_sys_enter / _sys_exit and the
 * per-syscall records whose layout tracefs prints in events/.../format),
 * and how a syscall tracepoint perf event is described in the segment.
 * Public API; compiles alone as C and C++.  The verifier's program-type
 * plug-in takes the context sizes from here: a program may read any byte
 * of [0, size) and write none.
 */
#ifndef BPFTIME_SYSCALL_TP_H
#define BPFTIME_SYSCALL_TP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* struct trace_entry: every trace record starts with it */
struct bpftime_trace_entry {
	uint16_t type; /* the tracepoint id */
	uint8_t flags;
	uint8_t preempt_count;
	int32_t pid; /* the thread id (the kernel's current->pid) */
};

/* syscalls/sys_enter_NAME: 16 + 8 * nargs bytes (args[nargs..5] are not
 * part of the record) */
struct bpftime_sys_enter_ctx {
	struct bpftime_trace_entry ent;
	int32_t syscall_nr; /* __syscall_nr */
	uint32_t pad;
	uint64_t args[6];
};

/* syscalls/sys_exit_NAME: 24 bytes */
struct bpftime_sys_exit_ctx {
	struct bpftime_trace_entry ent;
	int32_t syscall_nr;
	uint32_t pad;
	int64_t ret;
};

/* raw_syscalls/sys_enter (trace_event_raw_sys_enter): 64 bytes */
struct bpftime_raw_sys_enter_ctx {
	struct bpftime_trace_entry ent;
	int64_t id;
	uint64_t args[6];
};

/* raw_syscalls/sys_exit (trace_event_raw_sys_exit): 24 bytes */
struct bpftime_raw_sys_exit_ctx {
	struct bpftime_trace_entry ent;
	int64_t id;
	int64_t ret;
};

enum bpftime_systp_kind {
	BPFTIME_SYSTP_ENTER = 0,     /* syscalls/sys_enter_NAME */
	BPFTIME_SYSTP_EXIT = 1,	     /* syscalls/sys_exit_NAME */
	BPFTIME_SYSTP_RAW_ENTER = 2, /* raw_syscalls/sys_enter */
	BPFTIME_SYSTP_RAW_EXIT = 3,  /* raw_syscalls/sys_exit */
};

/** @brief the context size a program of @kind reads, nargs for ENTER */
static inline uint32_t bpftime_systp_ctx_size(enum bpftime_systp_kind kind, uint32_t nargs)
{
	switch (kind) {
	case BPFTIME_SYSTP_ENTER:
		return 16 + 8 * (nargs > 6 ? 6 : nargs);
	case BPFTIME_SYSTP_RAW_ENTER:
		return (uint32_t)sizeof(struct bpftime_raw_sys_enter_ctx);
	default:
		return 24;
	}
}

/* Tracepoint ids when the machine has no tracefs: they fit the record's
 * 16-bit type field and lie above the ids kernels hand out (a few hundred
 * to a few thousand).  sys_enter_NAME = BASE + 2 * nr, sys_exit_NAME =
 * BASE + 2 * nr + 1; raw_syscalls/sys_enter = BASE - 2, sys_exit = BASE - 1. */
#define BPFTIME_SYSTP_ID_BASE 60000
#define BPFTIME_SYSTP_NR_MAX  1024 /* syscall numbers below this */

/* A syscall tracepoint perf event in the segment carries, besides the
 * tracepoint id the loader passed (real or ours), what it means in its
 * config: the syscall server resolves the id once, so the traced process
 * never needs a tracefs.  config = MAGIC | kind << 16 | nr. */
#define BPFTIME_SYSTP_CONFIG_MAGIC 0x5359535450000000ull /* "SYSTP" */
#define BPFTIME_SYSTP_CONFIG(kind, nr) \
	(BPFTIME_SYSTP_CONFIG_MAGIC | (uint64_t)(kind) << 16 | (uint64_t)(uint16_t)(nr))
#define BPFTIME_SYSTP_CONFIG_VALID(c) (((c)&0xffffffffff000000ull) == BPFTIME_SYSTP_CONFIG_MAGIC)
#define BPFTIME_SYSTP_CONFIG_KIND(c)  ((enum bpftime_systp_kind)(((c) >> 16) & 0xff))
#define BPFTIME_SYSTP_CONFIG_NR(c)    ((int)((c)&0xffff))

#ifdef __cplusplus
}
#endif
#endif
