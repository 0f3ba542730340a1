/* SPDX-License-Identifier: MIT */
/* tests/verifier/vgpl.c: our table of gpl_only helpers (the GPL flag of
 * helpers/protos.c) against the kernel's.  For every helper of
 * helpers/helpers.def and every program type we verify, a non-GPL program
 * (license "MIT") that calls it is loaded by the kernel: where the kernel
 * refuses it with "cannot call GPL-restricted function", our prototype for
 * that type must carry BPFTIME_HF_GPL_ONLY; where the kernel has the helper
 * for the type and refuses for another reason (the arguments) or accepts,
 * ours must not.  Helpers the kernel does not give the type are not
 * compared.  Prints one line per difference and a summary; exit status 1
 * on a difference, 77 when the kernel's bpf() is not usable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>

static const struct {
	const char *name;
	uint32_t type;
} types[] = {
	{ "kprobe", BPF_PROG_TYPE_KPROBE },
	{ "sched_cls", BPF_PROG_TYPE_SCHED_CLS },
	{ "xdp", BPF_PROG_TYPE_XDP },
	{ "socket_filter", BPF_PROG_TYPE_SOCKET_FILTER },
	{ "tracepoint", BPF_PROG_TYPE_TRACEPOINT },
	{ "perf_event", BPF_PROG_TYPE_PERF_EVENT },
	{ "raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT },
	{ "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB },
};

static const uint32_t ids[] = {
#define HELPER(name, id, nargs)	    id,
#define HELPER_EXT(name, id, nargs) id,
#define HELPER_VM(name, id, nargs)  id,
#include "helpers/helpers.def"
};

static char logbuf[1 << 16];

/* the kernel's view: 1 gpl_only, 0 not, -1 the type has no such helper */
static int kernel_gpl(uint32_t type, uint32_t id)
{
	struct bpf_insn p[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = (int32_t)id },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = logbuf, .log_size = sizeof(logbuf),
		    .log_level = 1);
	int fd;

	logbuf[0] = 0;
	fd = bpf_prog_load(type, "vgpl", "MIT", p, 3, &o);
	if (fd >= 0)
		close(fd);
	if (strstr(logbuf, "cannot call GPL-restricted function"))
		return 1;
	if (strstr(logbuf, "unknown func") || strstr(logbuf, "cannot use helper") ||
	    strstr(logbuf, "invalid func"))
		return -1;
	return 0;
}

int main(void)
{
	int compared = 0, gpl = 0, diffs = 0;
	struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "vgpl", "MIT", ret0, 2, NULL);

	if (fd < 0) {
		printf("kernel bpf() unavailable (%s): skipped\n", strerror(errno));
		return 77;
	}
	close(fd);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct bpftime_verifier_ops ops;

		if (bpftime_verifier_ops__init(&ops, types[t].type, 0) < 0)
			return 2;
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			const struct bpftime_helper_proto *p =
				ops.helper_proto(ops.ctx, (int32_t)ids[i]);
			int k = kernel_gpl(types[t].type, ids[i]);
			bool ours;

			if (k < 0 || !p)
				continue;
			ours = p->flags & BPFTIME_HF_GPL_ONLY;
			compared++;
			gpl += k;
			if (ours != (k == 1)) {
				diffs++;
				printf("DIFF %s bpf_%s#%u: the kernel's gpl_only %s, ours %s\n",
				       types[t].name, bpftime_helper__name(ids[i]), ids[i],
				       k ? "yes" : "no", ours ? "yes" : "no");
			}
		}
	}
	printf("%d (type, helper) pairs compared, %d gpl_only in the kernel, %d differences\n",
	       compared, gpl, diffs);
	return diffs || compared < 100 ? 1 : 0;
}
