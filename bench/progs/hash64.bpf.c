/* SPDX-License-Identifier: MIT */
/* hash64: a 64-bit multiply/rotate hash (murmur-style mixing) over 2048
 * input bytes read 8 at a time.  Compute-bound on 64-bit multiplies. */
#include "bench.h"

#define HASH_LEN 2048

static __always_inline __u64 rotl64(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static __always_inline __u32 hash64(__u8 *data, __u8 *data_end)
{
	__u64 h = 0x9e3779b97f4a7c15ULL;

	if (data + HASH_LEN > data_end)
		return 0;
	for (int i = 0; i < HASH_LEN; i += 8) {
		__u64 k = *(__u64 *)(data + i);

		k *= 0x87c37b91114253d5ULL;
		k = rotl64(k, 31);
		k *= 0x4cf5ad432745937fULL;
		h ^= k;
		h = rotl64(h, 27) * 5 + 0x52dce729;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (__u32)(h ^ (h >> 32));
}

BENCH_ENTRIES(hash64);
