/* SPDX-License-Identifier: MIT */
/* helpers/output.c: what programs send out: bpf_trace_printk and
 * bpf_trace_vprintk (to the trace ring in the segment, never the host's
 * stdout), bpf_snprintf, bpf_strncmp, bpf_perf_event_output and the ring
 * buffer helpers.  Also the segment the helpers use and the per-thread
 * context the embedder sets.
 *
 * A printk message is stored as the line the kernel's trace_pipe shows, so
 * `bpftimetool tracelog` prints what `bpftool prog tracelog` would:
 *   "           comm-pid     [cpu] d..31 sec.usec: bpf_trace_printk: msg"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "internal.h"
#include "common/compiler.h"

#define PRINTK_MAX	 1024 /* the kernel's MAX_BPRINTF_BUF */
#define PRINTK_ARGS	 3    /* MAX_TRACE_PRINTK_VARARGS */
#define BPRINTF_MAX_ARGS 12   /* MAX_BPRINTF_VARARGS */

static _Atomic(struct bpftime_shm *) cur_shm;
static __thread struct bpftime_helper_ctx *thread_ctx;

void bpftime_helpers__set_shm(struct bpftime_shm *shm)
{
	atomic_store(&cur_shm, shm);
}

struct bpftime_shm *helpers_shm(void)
{
	return atomic_load_explicit(&cur_shm, memory_order_acquire);
}

struct bpftime_helper_ctx *bpftime_helper_ctx__swap(struct bpftime_helper_ctx *ctx)
{
	struct bpftime_helper_ctx *old = thread_ctx;

	thread_ctx = ctx;
	return old;
}

struct bpftime_helper_ctx *bpftime_helper_ctx__current(void)
{
	return thread_ctx;
}

long helpers_trace_write(const char *msg, size_t len)
{
	struct bpftime_shm *shm = helpers_shm();
	char line[PRINTK_MAX + 128], comm[16] = { 0 };
	struct timespec ts;
	int cpu = sched_getcpu(), n;

	if (!shm)
		return -ENOENT;
	if (len && msg[len - 1] == '\n')
		len--; /* trace_pipe ends every line itself */
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof(line),
		     "%16s-%-7d [%03d] d..31 %5lu.%06lu: bpf_trace_printk: %.*s", comm,
		     (int)gettid(), cpu < 0 ? 0 : cpu, (unsigned long)ts.tv_sec,
		     (unsigned long)ts.tv_nsec / 1000, (int)len, msg);
	if (n < 0)
		return -EINVAL;
	return bpftime_trace__write(shm, line,
				    (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* long bpf_trace_printk(const char *fmt, u32 fmt_size, ...): at most three
 * arguments; returns the message length */
HELPER_DECL(trace_printk)
{
	const uint64_t args[PRINTK_ARGS] = { r3, r4, r5 };
	char buf[PRINTK_MAX];
	long n, err;

	n = helpers_bprintf(buf, sizeof(buf), (const char *)(uintptr_t)r1, (uint32_t)r2, args,
			    PRINTK_ARGS, PRINTK_ARGS);
	if (n < 0)
		return (uint64_t)n;
	err = helpers_trace_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return err < 0 ? (uint64_t)err : (uint64_t)n;
}

/* long bpf_trace_vprintk(const char *fmt, u32 fmt_size, const void *data,
 * u32 data_len): data holds data_len / 8 u64 arguments, at most 12 */
HELPER_DECL(trace_vprintk)
{
	char buf[PRINTK_MAX];
	uint32_t data_len = (uint32_t)r4;
	long n, err;

	UNUSED(r5);
	if (data_len % 8 || data_len > BPRINTF_MAX_ARGS * 8 || (data_len && !r3))
		return (uint64_t)-EINVAL;
	n = helpers_bprintf(buf, sizeof(buf), (const char *)(uintptr_t)r1, (uint32_t)r2,
			    (const uint64_t *)(uintptr_t)r3, data_len / 8, BPRINTF_MAX_ARGS);
	if (n < 0)
		return (uint64_t)n;
	err = helpers_trace_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return err < 0 ? (uint64_t)err : (uint64_t)n;
}

/* long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data,
 * u32 data_len): returns the bytes the whole output needs incl. the NUL */
HELPER_DECL(snprintf)
{
	uint32_t data_len = (uint32_t)r5;
	const char *fmt = (const char *)(uintptr_t)r3;
	long n;

	if (data_len % 8 || data_len > BPRINTF_MAX_ARGS * 8 || (data_len && !r4) || !fmt)
		return (uint64_t)-EINVAL;
	/* the verifier guarantees a NUL-terminated constant format */
	n = helpers_bprintf((char *)(uintptr_t)r1, (uint32_t)r2, fmt, strlen(fmt) + 1,
			    (const uint64_t *)(uintptr_t)r4, data_len / 8, BPRINTF_MAX_ARGS);
	return n < 0 ? (uint64_t)n : (uint64_t)n + 1;
}

/* long bpf_strncmp(const char *s1, u32 s1_sz, const char *s2): -1, 0 or 1,
 * as the kernel's strncmp */
HELPER_DECL(strncmp)
{
	const unsigned char *s1 = (const unsigned char *)(uintptr_t)r1;
	const unsigned char *s2 = (const unsigned char *)(uintptr_t)r3;

	UNUSED(r4);
	UNUSED(r5);
	for (uint32_t i = 0; i < (uint32_t)r2; i++) {
		if (s1[i] != s2[i])
			return s1[i] < s2[i] ? (uint64_t)-1 : 1;
		if (!s1[i])
			break;
	}
	return 0;
}

/* long bpf_perf_event_output(void *ctx, struct bpf_map *map, u64 flags,
 * void *data, u64 size) */
HELPER_DECL(perf_event_output)
{
	UNUSED(r1);
	return (uint64_t)bpftime_map__perf_event_output((struct bpftime_map *)(uintptr_t)r2, r3,
							(const void *)(uintptr_t)r4, r5);
}

HELPER_DECL(ringbuf_output)
{
	UNUSED(r5);
	return (uint64_t)bpftime_map__ringbuf_output((struct bpftime_map *)(uintptr_t)r1,
						     (const void *)(uintptr_t)r2, r3, r4);
}

HELPER_DECL(ringbuf_reserve)
{
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)(uintptr_t)bpftime_map__ringbuf_reserve(
		(struct bpftime_map *)(uintptr_t)r1, r2, r3);
}

HELPER_DECL(ringbuf_submit)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	bpftime_ringbuf_submit((void *)(uintptr_t)r1, r2);
	return 0;
}

HELPER_DECL(ringbuf_discard)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	bpftime_ringbuf_discard((void *)(uintptr_t)r1, r2);
	return 0;
}

HELPER_DECL(ringbuf_query)
{
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return bpftime_map__ringbuf_query((struct bpftime_map *)(uintptr_t)r1, r2);
}
