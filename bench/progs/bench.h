/* SPDX-License-Identifier: MIT */
/* bench/progs/bench.h: the two entry points every benchmark program has.
 *
 * A benchmark body is a `static __always_inline __u32 NAME(__u8 *data,
 * __u8 *data_end)` function.  BENCH_ENTRIES(NAME) compiles it twice:
 *   - SEC("bpftime") bench_vm(mem, len): our VM's raw-memory entry, r1 = mem,
 *     r2 = len (what bpftime_vm__run passes);
 *   - SEC("xdp") bench_xdp(ctx): the kernel's entry for BPF_PROG_TEST_RUN,
 *     which hands the same bytes over as ctx->data .. ctx->data_end.
 * Both run the same code on the same input, so their results must agree.
 * Bodies use no maps and no global data: no relocations are needed.
 */
#ifndef BENCH_PROGS_BENCH_H
#define BENCH_PROGS_BENCH_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_ENTRIES(body)                                                        \
	SEC("bpftime") int bench_vm(void *mem, __u64 len)                          \
	{                                                                          \
		return body(mem, (__u8 *)mem + len);                               \
	}                                                                          \
	SEC("xdp") int bench_xdp(struct xdp_md *ctx)                               \
	{                                                                          \
		return body((__u8 *)(long)ctx->data, (__u8 *)(long)ctx->data_end); \
	}                                                                          \
	char _license[] SEC("license") = "GPL"

#endif
