/* SPDX-License-Identifier: MIT */
/* bench/llvm_native.c: the benchmark bodies of bench/progs/ compiled as
 * plain native C (gcc -O2), the reference llvm_bench measures the LLVM JIT
 * and AOT code against.  The .bpf.c files are included unchanged; only
 * their BENCH_ENTRIES is replaced by a native entry native_<body>(mem, len),
 * the same shape as the eBPF bench_vm(mem, len).  helpers.bpf.c is left out:
 * its body calls eBPF helpers, which have no native form.
 */
#include <stdint.h>
#include <linux/types.h>

#define BENCH_PROGS_BENCH_H /* skip bench.h: no SEC(), no eBPF entries */
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define BENCH_ENTRIES(body)                                 \
	uint32_t native_##body(uint8_t *mem, uint64_t len); \
	uint32_t native_##body(uint8_t *mem, uint64_t len)  \
	{                                                   \
		return body(mem, mem + len);                \
	}                                                   \
	struct native_##body##_semicolon

#include "progs/crc32.bpf.c"
#include "progs/hash64.bpf.c"
#include "progs/primes.bpf.c"
#include "progs/memops.bpf.c"
#include "progs/parser.bpf.c"
