/* SPDX-License-Identifier: MIT */
/* examples/systp/syscount.c: syscount-like loader for syscount.bpf.o.
 *
 *   syscount [-v] COMM
 *
 * Prints "ready"; on SIGINT/SIGTERM drains the counts with
 * BPF_MAP_LOOKUP_AND_DELETE_BATCH and prints "syscall NR: CALLS calls,
 * ERRORS errors" per syscall number, in number order, then "end".
 */
#define _GNU_SOURCE
#include "example.h"
#include "systp.h"
#include "syscount.skel.h"

#define BATCH 16

int main(int argc, char **argv)
{
	static struct count_val all[1024];
	static bool seen[1024];
	struct example_opts o;
	struct syscount_bpf *skel;
	long done = 0;
	int fd, err = 1;
	__u32 keys[BATCH], out_batch = 0;
	struct count_val vals[BATCH];
	bool first = true;

	if (example_init(argc, argv, "COMM", &o))
		return 1;
	if (o.argc < 1)
		return fprintf(stderr, "syscount: COMM needed\n"), 1;
	skel = syscount_bpf__open();
	if (!skel)
		return fprintf(stderr, "syscount: cannot open the BPF object\n"), 1;
	strncpy((char *)skel->rodata->targ_comm, o.argv[0], SYSTP_COMM_LEN - 1);
	if (syscount_bpf__load(skel) || syscount_bpf__attach(skel)) {
		fprintf(stderr, "syscount: cannot load/attach: %s\n", strerror(errno));
		goto out;
	}
	example_ready();
	while (example_next(&o, &done))
		;
	fd = bpf_map__fd(skel->maps.counts);
	for (;;) {
		__u32 n = BATCH;
		int r = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &out_batch, &out_batch,
							keys, vals, &n, NULL);

		first = false;
		if (r && errno != ENOENT) {
			fprintf(stderr, "syscount: lookup_and_delete_batch: %s\n", strerror(errno));
			goto out;
		}
		for (__u32 i = 0; i < n; i++) {
			if (keys[i] < 1024) {
				all[keys[i]] = vals[i];
				seen[keys[i]] = true;
			}
		}
		if (r)
			break; /* ENOENT: that was the last batch */
	}
	for (int i = 0; i < 1024; i++)
		if (seen[i])
			printf("syscall %d: %llu calls, %llu errors\n", i, all[i].count,
			       all[i].errors);
	printf("end\n");
	fflush(stdout);
	err = 0;
out:
	syscount_bpf__destroy(skel);
	return err;
}
