/* SPDX-License-Identifier: MIT */
/* bench/segment.h: what the benchmarks that make a segment of their own
 * share. */
#ifndef BPFTIME_BENCH_SEGMENT_H
#define BPFTIME_BENCH_SEGMENT_H

/* The segment @name goes on every way out: return from main, exit(), and
 * SIGINT/SIGTERM/SIGHUP (only unlink() in the handler, then the signal's
 * default action). */
void bench_remove_segment_at_exit(const char *name);

#endif /* BPFTIME_BENCH_SEGMENT_H */
