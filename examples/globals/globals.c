/* SPDX-License-Identifier: MIT */
/* examples/globals/globals.c: sets target_pid in .rodata before loading and
 * step in .data afterwards (through the skeleton's mmap of the map), attaches
 * to FUNC in BINARY and prints the counters the program keeps in .bss.
 *
 *   globals [-n COUNT] [-i MS] [-v] BINARY [FUNC [PID [STEP]]]
 */
#include "example.h"
#include <linux/types.h>
#include "globals.skel.h"

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts);
	struct example_opts o;
	struct globals_bpf *skel;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY [FUNC [PID [STEP]]]", &o))
		return 1;
	if (o.argc < 1) {
		fprintf(stderr, "globals: which binary? (e.g. examples/victim/victim)\n");
		return 1;
	}
	uopts.func_name = o.argc > 1 ? o.argv[1] : "target_func";
	skel = globals_bpf__open();
	if (!skel) {
		fprintf(stderr, "globals: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->target_pid = o.argc > 2 ? (unsigned int)strtoul(o.argv[2], NULL, 0) : 0;
	if (globals_bpf__load(skel)) {
		fprintf(stderr, "globals: cannot load the BPF object: %s\n", strerror(errno));
		goto out;
	}
	/* after load .data is the map's memory: the program sees this store */
	skel->data->step = o.argc > 3 ? strtoull(o.argv[3], NULL, 0) : 10;
	skel->links.on_call =
		bpf_program__attach_uprobe_opts(skel->progs.on_call, -1, o.argv[0], 0, &uopts);
	if (!skel->links.on_call) {
		fprintf(stderr, "globals: cannot attach to %s in %s: %s\n", uopts.func_name,
			o.argv[0], strerror(errno));
		goto out;
	}
	example_ready();
	while (example_next(&o, &done)) {
		printf("calls %llu total %llu last_arg %lld\n",
		       (unsigned long long)skel->bss->calls, (unsigned long long)skel->bss->total,
		       (long long)skel->data->last_arg);
		fflush(stdout);
	}
	err = 0;
out:
	globals_bpf__destroy(skel);
	return err;
}
