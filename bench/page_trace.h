/* SPDX-License-Identifier: MIT */
/* bench/page_trace.h: how many pages a thread touches between two kernel
 * entries, counted exactly by single-stepping it.
 *
 * On a machine with PTI and no PCID every syscall empties the user TLB, so
 * each distinct page a thread touches between two syscalls costs a page
 * walk: the number of such pages is what a syscall hook adds besides its
 * instructions, and unlike the time it does not depend on the other
 * tenants of a shared machine.  (No PMU here: perf stat cannot count dTLB
 * misses.)
 */
#ifndef BPFTIME_BENCH_PAGE_TRACE_H
#define BPFTIME_BENCH_PAGE_TRACE_H

#include <stdbool.h>

struct page_count {
	double code, data; /* distinct pages per interval, summed, / calls */
	double insns;	   /* instructions per call */
};

/* Runs @fn(@arg) (which makes @calls syscalls worth counting) in the
 * calling thread while a forked tracer single-steps it.  0, or -errno
 * (ptrace not allowed: the caller says so). */
int page_trace(void (*fn)(void *), void *arg, long calls, struct page_count *out);

#endif
