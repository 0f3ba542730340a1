/* SPDX-License-Identifier: MIT */
/* examples/readline/readline.c: prints every line readline() returns in
 * BINARY (default /bin/bash), with the time, pid and command name.
 *
 *   readline [-n COUNT] [-i MS] [-v] [BINARY]
 *
 * COUNT counts poll intervals of MS milliseconds.
 */
#include <time.h>
#include "example.h"
#include "readline.h"
#include "readline.skel.h"

static int on_event(void *ctx, void *data, size_t size)
{
	const struct readline_event *e = data;
	char ts[16];
	time_t t = time(NULL);
	struct tm tm;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
	printf("%-9s %-7u %-16.16s %.*s\n", ts, e->pid, e->comm, READLINE_MAX, e->line);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .retprobe = true, .func_name = "readline");
	struct ring_buffer *rb = NULL;
	struct readline_bpf *skel;
	struct example_opts o;
	const char *binary;
	long done = 0;
	int err = 1;

	if (example_init(argc, argv, "[BINARY]", &o))
		return 1;
	binary = o.argc > 0 ? o.argv[0] : "/bin/bash";
	skel = readline_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "readline: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->links.printret =
		bpf_program__attach_uprobe_opts(skel->progs.printret, -1, binary, 0, &uopts);
	if (!skel->links.printret) {
		fprintf(stderr, "readline: cannot attach to readline in %s: %s\n", binary,
			strerror(errno));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "readline: cannot open the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	printf("%-9s %-7s %-16s %s\n", "TIME", "PID", "COMM", "LINE");
	example_ready();
	while (!example_exiting && (o.count < 0 || done < o.count)) {
		if (ring_buffer__poll(rb, (int)o.interval_ms) < 0 && errno != EINTR)
			break;
		done++;
	}
	ring_buffer__consume(rb);
	err = 0;
out:
	ring_buffer__free(rb);
	readline_bpf__destroy(skel);
	return err;
}
