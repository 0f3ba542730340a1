/* SPDX-License-Identifier: MIT */
/* crc32: CRC-32 (IEEE, reflected, as zlib) over the first 1024 input bytes
 * with a 16-entry nibble table built on the stack: shifts, xors and a
 * variable-offset stack load per nibble.  (The bit-at-a-time form makes the
 * kernel's verifier fork on every bit and exceed its limit.) */
#include "bench.h"

#define CRC_LEN 1024

static __always_inline __u32 crc32(__u8 *data, __u8 *data_end)
{
	volatile __u32 tab[16];
	__u32 crc = 0xffffffff;

	if (data + CRC_LEN > data_end)
		return 0;
	/* volatile: keeps clang from turning the table into .rodata */
	tab[0] = 0x00000000;
	tab[1] = 0x1db71064;
	tab[2] = 0x3b6e20c8;
	tab[3] = 0x26d930ac;
	tab[4] = 0x76dc4190;
	tab[5] = 0x6b6b51f4;
	tab[6] = 0x4db26158;
	tab[7] = 0x5005713c;
	tab[8] = 0xedb88320;
	tab[9] = 0xf00f9344;
	tab[10] = 0xd6d6a3e8;
	tab[11] = 0xcb61b38c;
	tab[12] = 0x9b64c2b0;
	tab[13] = 0x86d3d2d4;
	tab[14] = 0xa00ae278;
	tab[15] = 0xbdbdf21c;
	for (int i = 0; i < CRC_LEN; i++) {
		crc ^= data[i];
		crc = (crc >> 4) ^ tab[crc & 15];
		crc = (crc >> 4) ^ tab[crc & 15];
	}
	return ~crc;
}

BENCH_ENTRIES(crc32);
