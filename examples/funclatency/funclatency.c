/* SPDX-License-Identifier: MIT */
/* examples/funclatency/funclatency.c: times FUNC in BINARY (entry uprobe +
 * uretprobe) and prints the latency histogram every interval, with the total
 * number of calls timed.
 *
 *   funclatency [-n COUNT] [-i MS] [-v] BINARY FUNC
 */
#include <inttypes.h>
#include "example.h"
#include "funclatency.skel.h"

#define MAX_SLOTS 64

static void print_stars(uint64_t val, uint64_t max, int width)
{
	int n = max ? (int)(val * (uint64_t)width / max) : 0;

	for (int i = 0; i < width; i++)
		putchar(i < n ? '*' : ' ');
}

static void report(struct funclatency_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.hist);
	uint64_t slots[MAX_SLOTS] = { 0 }, max = 0, total = 0;
	int last = -1;

	for (uint32_t k = 0; k < MAX_SLOTS; k++) {
		if (bpf_map_lookup_elem(fd, &k, &slots[k]))
			slots[k] = 0;
		if (slots[k]) {
			last = (int)k;
			total += slots[k];
			if (slots[k] > max)
				max = slots[k];
		}
	}
	printf("%24s : %-10s distribution\n", "nsecs", "count");
	for (int k = 0; k <= last; k++) {
		uint64_t lo = k ? 1ull << k : 0, hi = (1ull << (k + 1)) - 1;

		printf("%10" PRIu64 " -> %-10" PRIu64 " : %-10" PRIu64 " |", lo, hi, slots[k]);
		print_stars(slots[k], max, 40);
		printf("|\n");
	}
	printf("total: %" PRIu64 " calls\n", total);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, entry_opts);
	LIBBPF_OPTS(bpf_uprobe_opts, ret_opts, .retprobe = true);
	struct funclatency_bpf *skel;
	struct example_opts o;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY FUNC", &o))
		return 1;
	if (o.argc < 2) {
		fprintf(stderr, "funclatency: which binary and function? (e.g. "
				"examples/victim/victim target_func)\n");
		return 1;
	}
	entry_opts.func_name = o.argv[1];
	ret_opts.func_name = o.argv[1];
	skel = funclatency_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "funclatency: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->links.func_entry = bpf_program__attach_uprobe_opts(skel->progs.func_entry, -1,
								 o.argv[0], 0, &entry_opts);
	if (!skel->links.func_entry)
		goto fail;
	skel->links.func_return = bpf_program__attach_uprobe_opts(skel->progs.func_return, -1,
								  o.argv[0], 0, &ret_opts);
	if (!skel->links.func_return)
		goto fail;
	printf("tracing %s in %s\n", o.argv[1], o.argv[0]);
	example_ready();
	while (example_next(&o, &done))
		report(skel);
	err = 0;
	goto out;
fail:
	fprintf(stderr, "funclatency: cannot attach to %s in %s: %s\n", o.argv[1], o.argv[0],
		strerror(errno));
out:
	funclatency_bpf__destroy(skel);
	return err;
}
