/* SPDX-License-Identifier: MIT */
/* syscall-server/tag.c: the program tag the kernel reports (bpf_prog_info.tag,
 * what `bpftool prog show` prints): the first 8 bytes of the SHA-256 of the
 * instructions, with the imm fields of map-loading lddws zeroed so the tag
 * does not depend on fd numbers.  Current kernels (6.18, the one here) hash
 * with SHA-256; older ones used SHA-1.  SHA-256 as FIPS 180-4 describes it;
 * the tag is an identifier, no security rests on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/vm.h>
#include "internal.h"

static uint32_t ror(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + K[i] + w[i];
		uint32_t s0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + s0 + maj;
	}
	for (int i = 0; i < 8; i++)
		h[i] += v[i];
}

static void sha256(const uint8_t *msg, size_t len, uint8_t out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	uint8_t tail[128] = { 0 };
	uint64_t bits = (uint64_t)len * 8;
	size_t full = len / 64 * 64, rest = len - full, tlen = rest < 56 ? 64 : 128;

	for (size_t off = 0; off < full; off += 64)
		sha256_block(h, msg + off);
	memcpy(tail, msg + full, rest);
	tail[rest] = 0x80;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t off = 0; off < tlen; off += 64)
		sha256_block(h, tail + off);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

int srv_prog_tag(const struct bpftime_insn *insns, size_t cnt, uint8_t tag[8])
{
	struct bpftime_insn *copy = malloc(cnt * sizeof(*copy));
	uint8_t digest[32];
	bool was_ld_map = false;

	if (!copy)
		return -ENOMEM;
	memcpy(copy, insns, cnt * sizeof(*copy));
	/* the kernel's bpf_prog_calc_tag: map references carry no fd */
	for (size_t i = 0; i < cnt; i++) {
		struct bpftime_insn *in = &copy[i];

		if (!was_ld_map && in->code == (BPF_LD | BPF_IMM | BPF_DW) &&
		    (in->src == BPF_PSEUDO_MAP_FD || in->src == BPF_PSEUDO_MAP_VALUE)) {
			was_ld_map = true;
			in->imm = 0;
		} else if (was_ld_map && !in->code && !in->dst && !in->src && !in->off) {
			was_ld_map = false;
			in->imm = 0;
		} else {
			was_ld_map = false;
		}
	}
	sha256((const uint8_t *)copy, cnt * sizeof(*copy), digest);
	memcpy(tag, digest, 8);
	free(copy);
	return 0;
}
