/* SPDX-License-Identifier: MIT */
/* primes: counts the primes below 2 + 1500 by trial division.  Compute-bound
 * on 32-bit division with short inner loops of varying trip count.  The
 * range is fixed: with an input-dependent range the kernel's verifier sees
 * too many branches to explore.  The first input byte is folded into the
 * result so that the computation cannot be done at compile time. */
#include "bench.h"

#define PRIME_SPAN 1500

static __always_inline __u32 primes(__u8 *data, __u8 *data_end)
{
	__u32 count = 0;

	if (data + 1 > data_end)
		return 0;
	for (__u32 n = 2; n < 2 + PRIME_SPAN; n++) {
		__u32 prime = 1;

		for (__u32 d = 2; d * d <= n; d++) {
			if (n % d == 0) {
				prime = 0;
				break;
			}
		}
		count += prime;
	}
	return count << 8 | data[0];
}

BENCH_ENTRIES(primes);
