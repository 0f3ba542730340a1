/* SPDX-License-Identifier: MIT */
/* examples/error_inject/error_inject.c: error injection and function
 * replacement with bpftime's uprobe override, attached as the original
 * bpftime's loaders do it (attach_override.h: perf event type 1008 and
 * BPF_PROG_ATTACH(BPF_MODIFY_RETURN)).
 *
 *   error_inject [-n COUNT] [-i MS] [-v] inject|replace BINARY FUNC
 *
 * inject: FUNC(x) returns -1 without running for odd x; replace: FUNC(x)
 * returns 3 * x without running.  Prints the counts every interval.
 * Refuses to run outside `bpftime load` (BPFTIME_USED unset): the kernel
 * has no such attach.
 */
#include <inttypes.h>
#include "example.h"
#include "attach_override.h"
#include "error_inject.skel.h"

int main(int argc, char **argv)
{
	struct error_inject_bpf *skel;
	struct example_opts o;
	struct bpf_program *prog;
	const char *used = getenv("BPFTIME_USED");
	long done = 0;
	int err = 1, pfd;

	if (example_init(argc, argv, "inject|replace BINARY FUNC", &o))
		return 1;
	if (o.argc != 3 || (strcmp(o.argv[0], "inject") && strcmp(o.argv[0], "replace"))) {
		fprintf(stderr, "error_inject: inject|replace BINARY FUNC (e.g. inject "
				"examples/victim/victim target_func)\n");
		return 1;
	}
	if (!used || strcmp(used, "1")) {
		fprintf(stderr, "error_inject: uprobe overrides need bpftime: run me under "
				"`bpftime load`\n");
		return 1;
	}
	skel = error_inject_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "error_inject: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	prog = strcmp(o.argv[0], "inject") ? skel->progs.do_replace : skel->progs.do_error_inject;
	pfd = attach_uprobe_override(bpf_program__fd(prog), o.argv[1], o.argv[2]);
	if (pfd < 0) {
		fprintf(stderr, "error_inject: cannot attach to %s in %s: %s\n", o.argv[2],
			o.argv[1], strerror(-pfd));
		goto out;
	}
	printf("%s in %s: %s\n", o.argv[2], o.argv[1],
	       strcmp(o.argv[0], "inject") ? "replaced (returns 3 * x)"
					   : "fails with -1 for odd arguments");
	example_ready();
	while (example_next(&o, &done)) {
		printf("injected: %" PRIu64 " passed: %" PRIu64 " replaced: %" PRIu64 "\n",
		       (uint64_t)skel->bss->injected, (uint64_t)skel->bss->passed,
		       (uint64_t)skel->bss->replaced);
		fflush(stdout);
	}
	err = 0;
	close(pfd);
out:
	error_inject_bpf__destroy(skel);
	return err;
}
