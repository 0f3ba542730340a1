/* SPDX-License-Identifier: MIT */
/* tests/kernel_lacks.h: helpers upstream Linux gives a program type that
 * the kernel a test runs on may have been built without (test code only;
 * needs libbpf).
 *
 * The tests that compare us with the running kernel (pktctx, vcorpus) meet
 * custom kernels that refuse a helper upstream allows for a type.  We follow
 * upstream, so that difference is the environment's, not our bug.  For the
 * (type, helper) pairs listed here, and only for those, such a test reports
 * "skipped (this kernel lacks HELPER for TYPE)" once kernel_lacks() has seen
 * the kernel refuse the helper with the verifier's "program of this type
 * cannot use helper HELPER#ID"; every other difference still fails, and our
 * side is checked as before.  Keep the list short: each entry says where
 * upstream allows the helper and which kernel was seen to lack it.
 */
#ifndef BPFTIME_TESTS_KERNEL_LACKS_H
#define BPFTIME_TESTS_KERNEL_LACKS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

struct upstream_helper {
	uint32_t prog_type;
	int id;
	const char *type;   /* the type's name */
	const char *helper; /* the helper's name, as the verifier writes it */
};

static const struct upstream_helper upstream_helpers[] = {
	/* net/core/filter.c xdp_func_proto() returns
	 * bpf_xdp_adjust_meta_proto; 6.18.44-fc-v1300 refuses it */
	{ BPF_PROG_TYPE_XDP, BPF_FUNC_xdp_adjust_meta, "xdp", "bpf_xdp_adjust_meta" },
};

/* The listed entry for helper @id and @prog_type when the kernel (or
 * whatever answers bpf() here) refuses that helper to that type with
 * "program of this type cannot use helper"; NULL when the pair is not
 * listed or the helper is there.  The probe is a two-instruction program
 * calling the helper, as libbpf's libbpf_probe_bpf_helper(). */
static inline const struct upstream_helper *kernel_lacks(uint32_t prog_type, int id)
{
	for (size_t i = 0; i < sizeof(upstream_helpers) / sizeof(upstream_helpers[0]); i++) {
		const struct upstream_helper *h = &upstream_helpers[i];
		struct bpf_insn in[] = { { .code = BPF_JMP | BPF_CALL, .imm = id },
					 { .code = BPF_JMP | BPF_EXIT } };
		char log[4096] = "", want[128];
		LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log),
			    .log_level = 1);
		int fd;

		if (h->prog_type != prog_type || h->id != id)
			continue;
		fd = bpf_prog_load(prog_type, NULL, "GPL", in, 2, &o);
		if (fd >= 0) {
			close(fd);
			return NULL;
		}
		snprintf(want, sizeof(want), "program of this type cannot use helper %s#%d\n",
			 h->helper, id);
		return strstr(log, want) ? h : NULL;
	}
	return NULL;
}

#endif
