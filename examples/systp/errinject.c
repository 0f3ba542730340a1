/* SPDX-License-Identifier: MIT */
/* examples/systp/errinject.c: loader for errinject.bpf.o.
 *
 *   errinject [-n COUNT] [-i MS] [-v] COMM FD
 *
 * Makes every second write(FD, ...) of a process named COMM fail with EIO;
 * prints "ready", then "writes: SEEN seen, FAILED failed" every interval.
 */
#define _GNU_SOURCE
#include "example.h"
#include "systp.h"
#include "errinject.skel.h"

int main(int argc, char **argv)
{
	struct example_opts o;
	struct errinject_bpf *skel;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "COMM FD", &o))
		return 1;
	if (o.argc < 2)
		return fprintf(stderr, "errinject: COMM FD needed\n"), 1;
	skel = errinject_bpf__open();
	if (!skel)
		return fprintf(stderr, "errinject: cannot open the BPF object\n"), 1;
	strncpy((char *)skel->rodata->targ_comm, o.argv[0], SYSTP_COMM_LEN - 1);
	skel->rodata->targ_fd = atoi(o.argv[1]);
	if (errinject_bpf__load(skel) || errinject_bpf__attach(skel)) {
		fprintf(stderr, "errinject: cannot load/attach: %s\n", strerror(errno));
		goto out;
	}
	example_ready();
	while (example_next(&o, &done)) {
		__u64 v[2] = { 0, 0 };
		__u32 k;

		for (k = 0; k < 2; k++)
			bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &k, &v[k]);
		printf("writes: %llu seen, %llu failed\n", v[0], v[1]);
		fflush(stdout);
	}
	err = 0;
out:
	errinject_bpf__destroy(skel);
	return err;
}
