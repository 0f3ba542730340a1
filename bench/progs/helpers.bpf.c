/* SPDX-License-Identifier: MIT */
/* helpers: helper-call-heavy code: each of 64 iterations calls
 * bpf_ktime_get_ns, bpf_get_prandom_u32 and bpf_get_smp_processor_id, then
 * does a little work on the input.  The result does not depend on the
 * helpers' values (time is monotonic, a random value is never both 0x5eed
 * and at time 0, cpu ids are small), so both sides must agree. */
#include "bench.h"

#define ROUNDS 64

static __always_inline __u32 helpers(__u8 *data, __u8 *data_end)
{
	__u64 prev = 0, acc = 0;

	if (data + ROUNDS > data_end)
		return 0;
	for (int i = 0; i < ROUNDS; i++) {
		__u64 now = bpf_ktime_get_ns();
		__u32 rnd = bpf_get_prandom_u32();
		__u32 cpu = bpf_get_smp_processor_id();

		if (now < prev)
			acc ^= 1ULL << 63; /* time went backwards */
		if (rnd == 0x5eed && now == 0)
			acc ^= 1ULL << 62;
		if (cpu > 0xffff)
			acc ^= 1ULL << 61;
		prev = now;
		acc = acc * 31 + data[i];
	}
	return (__u32)(acc ^ (acc >> 32));
}

BENCH_ENTRIES(helpers);
