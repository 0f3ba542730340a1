/* SPDX-License-Identifier: MIT */
/* tests/verifier/vgen.h: random programs for testing a verifier: memory
 * operations at random offsets (stack, context, map values, ring buffer
 * records), variable offsets, helper calls with random arguments, NULL
 * checks (on the pointer, on a copy, missing), loops (bounded or not),
 * forward branches, atomics.  Most items are well-formed; each has a small
 * chance of a mistake the kernel's verifier must catch, so that a good share
 * of programs is accepted and the rest fails for varied reasons.
 *
 * A program is a pure function of its seed.  It names maps by index
 * (lddw src 1 or 2 with imm = index into VGEN_MAPS below); the loader
 * replaces the index by a map fd, as vcorpus does.
 */
#ifndef BPFTIME_TESTS_VGEN_H
#define BPFTIME_TESTS_VGEN_H

#include <stddef.h>
#include <stdint.h>
#include <bpftime/vm.h>

/* the maps every program may use: index, type, key, value, entries, flags */
enum {
	VGEN_MAP_HASH = 0,    /* hash 4 -> 16, 8 entries */
	VGEN_MAP_ARRAY = 1,   /* array 4 -> 24, 4 entries */
	VGEN_MAP_RINGBUF = 2, /* ringbuf 4096 */
	VGEN_MAP_RODATA = 3,  /* array 4 -> 16, 1 entry, BPF_F_RDONLY_PROG, frozen */
	VGEN_NMAPS = 4,
};

struct vgen_map {
	uint32_t type, key, value, entries, flags;
	int frozen;
};

extern const struct vgen_map vgen_maps[VGEN_NMAPS];

enum vgen_type {
	VGEN_KPROBE = 0,	/* r1 = struct pt_regs (168 bytes) */
	VGEN_XDP = 1,		/* r1 = struct xdp_md, packet access */
	VGEN_TRACEPOINT = 2,	/* r1 = the tracepoint record */
	VGEN_RAW_TP = 3,	/* r1 = u64 args[12] */
	VGEN_SOCKET_FILTER = 4, /* r1 = struct __sk_buff */
	VGEN_PERF_EVENT = 5,	/* r1 = struct bpf_perf_event_data */
};

struct vgen_prog {
	enum vgen_type type;
	struct bpftime_insn *insns; /* malloc'ed */
	size_t cnt;
	const char *license; /* static: "GPL" mostly, sometimes not GPL-compatible */
};

struct vgen_opts {
	int kprobe_only; /* only VGEN_KPROBE programs (the soundness fuzzer runs them) */
	int mistakes;	 /* chance of a mistake per item, in 1/1000 (default 15) */
};

/* Generates the program of @seed.  Returns 0 or -ENOMEM. */
int vgen_generate(uint64_t seed, const struct vgen_opts *opts, struct vgen_prog *p);
void vgen_free(struct vgen_prog *p);

/* the kernel's program type number of @t (BPF_PROG_TYPE_*) */
uint32_t vgen_prog_type(enum vgen_type t);

#endif /* BPFTIME_TESTS_VGEN_H */
