/* SPDX-License-Identifier: MIT */
/* examples/probes/probes.c: attaches two uprobes and a uretprobe to exe_func
 * in BINARY and a uprobe to lib_func in LIBRARY, and prints the counts every
 * interval.
 *
 *   probes [-n COUNT] [-i MS] [-v] BINARY LIBRARY
 */
#include <inttypes.h>
#include "example.h"
#include "probes.skel.h"

enum { FIRST, SECOND, RETURNS, RET_SUM, LIB, NR_COUNTS };

static void report(struct probes_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.counts);
	uint64_t c[NR_COUNTS] = { 0 };

	for (uint32_t k = 0; k < NR_COUNTS; k++)
		bpf_map_lookup_elem(fd, &k, &c[k]);
	printf("exe_func: first uprobe %" PRIu64 ", second uprobe %" PRIu64 ", uretprobe %" PRIu64
	       " (returns sum %" PRIu64 "); lib_func: uprobe %" PRIu64 "\n",
	       c[FIRST], c[SECOND], c[RETURNS], c[RET_SUM], c[LIB]);
	fflush(stdout);
}

static struct bpf_link *attach(struct bpf_program *prog, const char *path, const char *func,
			       bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = func, .retprobe = ret);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, -1, path, 0, &uopts);

	if (!l)
		fprintf(stderr, "probes: cannot attach to %s in %s: %s\n", func, path,
			strerror(errno));
	return l;
}

int main(int argc, char **argv)
{
	struct probes_bpf *skel;
	struct example_opts o;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY LIBRARY", &o))
		return 1;
	if (o.argc < 2) {
		fprintf(stderr, "probes: which binary and library? (e.g. examples/probes/mt_victim "
				"examples/probes/libprobes_lib.so)\n");
		return 1;
	}
	skel = probes_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "probes: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	if (!(skel->links.exe_first =
		      attach(skel->progs.exe_first, o.argv[0], "exe_func", false)) ||
	    !(skel->links.exe_second =
		      attach(skel->progs.exe_second, o.argv[0], "exe_func", false)) ||
	    !(skel->links.exe_return =
		      attach(skel->progs.exe_return, o.argv[0], "exe_func", true)) ||
	    !(skel->links.lib_entry = attach(skel->progs.lib_entry, o.argv[1], "lib_func", false)))
		goto out;
	example_ready();
	while (example_next(&o, &done))
		report(skel);
	err = 0;
out:
	probes_bpf__destroy(skel);
	return err;
}
