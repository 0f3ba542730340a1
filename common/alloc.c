/* SPDX-License-Identifier: MIT */
/* common/alloc.c: the allocation wrappers and their fault hook (alloc.h). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"
#include "compiler.h"

static _Atomic unsigned long fault_nth; /* 0: off */
static _Atomic unsigned long fault_seen, fault_hits;
static _Atomic bool fault_persist;

bool mem_fault_step(void)
{
	unsigned long nth = atomic_load_explicit(&fault_nth, memory_order_relaxed), k;

	if (likely(!nth))
		return false;
	k = atomic_fetch_add(&fault_seen, 1) + 1;
	if (k == nth || (k > nth && atomic_load(&fault_persist))) {
		atomic_fetch_add(&fault_hits, 1);
		return true;
	}
	return false;
}

void mem_fault_set(unsigned long nth, bool persist)
{
	atomic_store(&fault_nth, 0);
	atomic_store(&fault_seen, 0);
	atomic_store(&fault_hits, 0);
	atomic_store(&fault_persist, persist);
	atomic_store(&fault_nth, nth);
}

unsigned long mem_fault_hits(void)
{
	return atomic_load(&fault_hits);
}

void *mem_alloc(size_t size)
{
	if (mem_fault_step())
		return errno = ENOMEM, NULL;
	return malloc(size);
}

void *mem_calloc(size_t n, size_t size)
{
	if (mem_fault_step())
		return errno = ENOMEM, NULL;
	return calloc(n, size);
}

void *mem_realloc(void *p, size_t size)
{
	if (mem_fault_step())
		return errno = ENOMEM, NULL;
	return realloc(p, size);
}

char *mem_strdup(const char *s)
{
	if (mem_fault_step())
		return errno = ENOMEM, NULL;
	return strdup(s);
}
