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

/* AddressSanitizer builds: memory written by what the sanitizer does not
 * see (the kernel's signal frames below the interrupted stack pointer, the
 * frames our generated code pushes) may hold the stale poison of dead
 * frames (glibc hands a dead thread's stack to a new one); ASAN_MINE()
 * clears it before C reads there.  Nothing in other builds. */
#if defined(__SANITIZE_ADDRESS__)
#define BPFTIME_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BPFTIME_ASAN 1
#endif
#endif
#ifdef BPFTIME_ASAN
#include <stddef.h>
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define ASAN_MINE(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define ASAN_MINE(p, n) ((void)(p), (void)(n))
#endif

/* The path of a traced syscall (attach/syscall.c's trampolines down to the
 * programs): its functions go to one section the linker keeps together,
 * so that a run touches few code pages (after a syscall each page touched
 * is a TLB refill: docs/syscall-tracepoints.md). */
#define BPFTIME_HOT	  __attribute__((section(".text.hot.bpftime")))
/* on the first of them in the agent's link order (agent.c): the group
 * (2.5 KiB) starts a page instead of straddling two */
#define BPFTIME_HOT_FIRST __attribute__((section(".text.hot.bpftime"), aligned(4096)))

#endif
