/* SPDX-License-Identifier: MIT */
/* common/alloc.h: heap allocation through one place, so that tests can make
 * an allocation fail (SQLite's faultsim, Lua's failnext).  vm/, runtime/ and
 * agent/ allocate with these; shm/'s arena allocator consults the same hook,
 * so one test switch fails the Nth allocation of either kind.
 *
 * The fault hook: mem_fault_set(n, persist) makes the nth allocation from
 * now fail (and every one after it when @persist); mem_fault_set(0, false)
 * turns it off; mem_fault_hits() says how many were failed.  The fault twin
 * of a test (*_fault_test.c) runs the operation for n = 1, 2, ... until it
 * succeeds without a hit, and checks that every failure is -ENOMEM and that
 * nothing leaks.  When off, the hook costs one relaxed load per allocation.
 */
#ifndef BPFTIME_COMMON_ALLOC_H
#define BPFTIME_COMMON_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* true: fail this allocation (counts it) */
bool mem_fault_step(void);
void mem_fault_set(unsigned long nth, bool persist);
unsigned long mem_fault_hits(void);

/* malloc, calloc, realloc and strdup that fail when the hook says so
 * (NULL, errno ENOMEM); free() frees what they return */
void *mem_alloc(size_t size);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *p, size_t size);
char *mem_strdup(const char *s);

#endif /* BPFTIME_COMMON_ALLOC_H */
