/* SPDX-License-Identifier: MIT */
/* syscall-server/tag.c: the program tag the kernel reports (bpf_prog_info.tag,
 * what `bpftool prog show` prints): the first 8 bytes of the SHA-256 of the
 * instructions, with the imm fields of map-loading lddws zeroed so the tag
 * does not depend on fd numbers.  Current kernels (6.18, the one here) hash
 * with SHA-256 (common/sha256.c); older ones used SHA-1.  The tag is an
 * identifier, no security rests on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/sha256.h"

int srv_prog_tag(const struct bpftime_insn *insns, size_t cnt, uint8_t tag[8])
{
	struct bpftime_insn *copy = malloc(cnt * sizeof(*copy));
	uint8_t digest[SHA256_LEN];
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
	sha256(copy, cnt * sizeof(*copy), digest);
	memcpy(tag, digest, 8);
	free(copy);
	return 0;
}
