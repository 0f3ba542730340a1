/* SPDX-License-Identifier: MIT */
/* bpftime/insn.h: the eBPF instruction as callers of the VM see it: the
 * slot layout, the lddw pseudo sources a resolver (bpftime_lddw_fn) is asked
 * about, and the call kinds.  Public API; compiles alone as C and C++.
 * The values are the kernel's (uapi linux/bpf.h: struct bpf_insn,
 * BPF_PSEUDO_*); the opcode encoding constants stay internal to vm/.
 */
#ifndef BPFTIME_INSN_H
#define BPFTIME_INSN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One 8-byte instruction slot, the kernel's struct bpf_insn layout:
 * u8 code | u8 dst:4 (low nibble), src:4 (high nibble) | s16 off | s32 imm.
 * lddw (code 0x18) takes two slots; the second holds the high 32 bits in imm. */
struct bpftime_insn {
	uint8_t code;
	uint8_t dst : 4;
	uint8_t src : 4;
	int16_t off;
	int32_t imm;
};

/* lddw pseudo sources (src field of the first slot) */
enum bpftime_pseudo {
	BPFTIME_PSEUDO_IMM64 = 0,	  /* plain 64-bit immediate */
	BPFTIME_PSEUDO_MAP_FD = 1,	  /* imm = map fd -> map handle */
	BPFTIME_PSEUDO_MAP_VALUE = 2,	  /* imm = map fd, next imm = offset -> value address */
	BPFTIME_PSEUDO_BTF_ID = 3,	  /* imm = BTF id of a kernel variable */
	BPFTIME_PSEUDO_FUNC = 4,	  /* imm = pc-relative subprogram -> its address */
	BPFTIME_PSEUDO_MAP_IDX = 5,	  /* imm = index into fd_array -> map handle */
	BPFTIME_PSEUDO_MAP_IDX_VALUE = 6, /* imm = fd_array index, next imm = offset */
};

/* call kinds (src field of BPF_JMP | BPF_CALL) */
enum bpftime_call_kind {
	BPFTIME_CALL_HELPER = 0, /* imm = helper id */
	BPFTIME_CALL_LOCAL = 1,	 /* imm = pc-relative bpf-to-bpf target */
	BPFTIME_CALL_KFUNC = 2,	 /* imm = BTF id of a kernel function: not supported */
};

#ifdef __cplusplus
}
#endif
#endif /* BPFTIME_INSN_H */
