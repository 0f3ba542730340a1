/* SPDX-License-Identifier: MIT */
/* common/compiler.h: small project-wide macros. */
#ifndef BPFTIME_COMMON_COMPILER_H
#define BPFTIME_COMMON_COMPILER_H

#include <assert.h>

#define UNUSED(x)     ((void)(x))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)

/* Defensive branches that "cannot happen" (SQLite's ALWAYS/NEVER): they
 * assert in debug builds and still take the safe path in release builds. */
#ifdef NDEBUG
#define ALWAYS(x) (x)
#define NEVER(x)  (x)
#else
#define ALWAYS(x) (assert(x), (x))
#define NEVER(x)  (assert(!(x)), (x))
#endif

#define BPFTIME_HIDDEN __attribute__((visibility("hidden")))

/* The path of a traced syscall (attach/syscall.c's trampolines down to the
 * programs): its functions go to one section the linker keeps together,
 * so that a run touches few code pages (after a syscall each page touched
 * is a TLB refill: docs/syscall-tracepoints.md). */
#define BPFTIME_HOT	  __attribute__((section(".text.hot.bpftime")))
/* on the first of them in the agent's link order (agent.c): the group
 * (2.5 KiB) starts a page instead of straddling two */
#define BPFTIME_HOT_FIRST __attribute__((section(".text.hot.bpftime"), aligned(4096)))

#endif
