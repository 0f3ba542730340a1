/* SPDX-License-Identifier: MIT */
/* memops: memory-heavy passes over a 2048-byte buffer.  The first half is
 * input and is never written; the second half is scratch, rebuilt from the
 * input on every run, so repeated runs give the same result:
 *   1. a byte histogram of the input into 256 u32 counters (scratch);
 *   2. a weighted sum over the counters;
 *   3. a u64 copy of the input into the scratch half, reversed word order,
 *      then a checksum over the copy. */
#include "bench.h"

#define HALF 1024

static __always_inline __u32 memops(__u8 *data, __u8 *data_end)
{
	__u32 *hist = (__u32 *)(data + HALF);
	__u64 *in = (__u64 *)data, *out = (__u64 *)(data + HALF);
	__u64 sum = 0;

	if (data + 2 * HALF > data_end)
		return 0;
	for (int i = 0; i < 256; i++)
		hist[i] = 0;
	for (int i = 0; i < HALF; i++) {
		__u32 *h = hist + data[i];

		/* a pointer with a variable offset needs its own check for the
		 * kernel's verifier; it never fails (hist + 255 < data_end) */
		if ((__u8 *)(h + 1) > data_end)
			return 0;
		(*h)++;
	}
	for (int i = 0; i < 256; i++)
		sum += (__u64)hist[i] * (i + 1);
	for (int i = 0; i < HALF / 8; i++)
		out[HALF / 8 - 1 - i] = in[i] ^ (in[i] >> 7);
	for (int i = 0; i < HALF / 8; i++)
		sum = (sum ^ out[i]) * 0x100000001b3ULL;
	return (__u32)(sum ^ (sum >> 32));
}

BENCH_ENTRIES(memops);
