/* SPDX-License-Identifier: MIT */
/* examples/override/override.c: makes FUNC in BINARY return VALUE without
 * running (error injection), and prints how many calls it overrode.
 *
 *   override [-n COUNT] [-i MS] [-v] BINARY FUNC [VALUE]
 *
 * VALUE defaults to 0.
 */
#include <inttypes.h>
#include "example.h"
#include "override.skel.h"

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts);
	struct override_bpf *skel;
	struct example_opts o;
	long done = 0, value = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY FUNC [VALUE]", &o))
		return 1;
	if (o.argc < 2) {
		fprintf(stderr, "override: which binary and function? (e.g. examples/victim/victim "
				"target_func 1000)\n");
		return 1;
	}
	if (o.argc > 2)
		value = strtol(o.argv[2], NULL, 0);
	uopts.func_name = o.argv[1];
	skel = override_bpf__open();
	if (!skel) {
		fprintf(stderr, "override: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->new_ret = value;
	if (override_bpf__load(skel)) {
		fprintf(stderr, "override: cannot load the BPF object: %s\n", strerror(errno));
		goto out;
	}
	skel->links.do_override =
		bpf_program__attach_uprobe_opts(skel->progs.do_override, -1, o.argv[0], 0, &uopts);
	if (!skel->links.do_override) {
		fprintf(stderr, "override: cannot attach to %s in %s: %s\n", o.argv[1], o.argv[0],
			strerror(errno));
		goto out;
	}
	printf("%s in %s now returns %ld\n", o.argv[1], o.argv[0], value);
	example_ready();
	while (example_next(&o, &done)) {
		printf("overrides: %" PRIu64 "\n", (uint64_t)skel->bss->overrides);
		fflush(stdout);
	}
	err = 0;
out:
	override_bpf__destroy(skel);
	return err;
}
