/* SPDX-License-Identifier: MIT */
/* examples/uretprobe/uretprobe.c: attaches a uretprobe to FUNC in BINARY
 * (default target_func, as in examples/victim) and prints every return value
 * the program sends through its ring buffer.
 *
 *   uretprobe [-n COUNT] [-i MS] [-v] BINARY [FUNC]
 *
 * COUNT counts poll intervals of MS milliseconds.
 */
#include "example.h"
#include "uretprobe.h"
#include <linux/types.h>
#include "uretprobe.skel.h"

static long events_seen;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct uret_event *e = data;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	events_seen++;
	printf("pid %u tid %u: returned %lld (seq %llu)\n", e->pid, e->tid, e->ret, e->seq);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .retprobe = true);
	struct ring_buffer *rb = NULL;
	struct example_opts o;
	struct uretprobe_bpf *skel;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "BINARY [FUNC]", &o))
		return 1;
	if (o.argc < 1) {
		fprintf(stderr, "uretprobe: which binary? (e.g. examples/victim/victim)\n");
		return 1;
	}
	uopts.func_name = o.argc > 1 ? o.argv[1] : "target_func";
	skel = uretprobe_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "uretprobe: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->links.on_return =
		bpf_program__attach_uprobe_opts(skel->progs.on_return, -1, o.argv[0], 0, &uopts);
	if (!skel->links.on_return) {
		fprintf(stderr, "uretprobe: cannot attach to %s in %s: %s\n", uopts.func_name,
			o.argv[0], strerror(errno));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "uretprobe: cannot open the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	example_ready();
	while (!example_exiting && (o.count < 0 || done < o.count)) {
		int n = ring_buffer__poll(rb, (int)o.interval_ms);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "uretprobe: ring_buffer__poll: %s\n", strerror(-n));
			goto out;
		}
		fflush(stdout);
		done++;
	}
	printf("%ld events\n", events_seen);
	err = 0;
out:
	ring_buffer__free(rb);
	uretprobe_bpf__destroy(skel);
	return err;
}
