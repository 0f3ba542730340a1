/* SPDX-License-Identifier: MIT */
/* examples/systp/opensnoop.c: opensnoop-like loader for opensnoop.bpf.o.
 *
 *   opensnoop [-v] perf|ringbuf COMM [END_PATH [failed]]
 *
 * Prints "ready", then one line per openat of a process named COMM
 * ("" = any): "open comm=C ret=R flags=F path=P stack=S", R being "fd" for a
 * descriptor or -errno, S whether the user stack could be read.  Exits after
 * the event whose path is END_PATH (or on SIGINT/SIGTERM); with a perf
 * buffer (one ring per cpu) the lines of different cpus may come in any
 * order, as with the kernel.  "failed" keeps
 * only failed opens (a const volatile filter).
 */
#define _GNU_SOURCE
#include "example.h"
#include "systp.h"
#include "opensnoop.skel.h"

static const char *end_path;
static bool done;

static int on_event(const struct open_event *e)
{
	char ret[32];

	if (e->ret >= 0)
		snprintf(ret, sizeof(ret), "fd");
	else
		snprintf(ret, sizeof(ret), "%ld", e->ret);
	printf("open comm=%s ret=%s flags=%#x path=%s stack=%d\n", e->comm, ret, e->flags, e->path,
	       e->stack_bytes > 0);
	fflush(stdout);
	if (end_path && !strcmp(e->path, end_path))
		done = true;
	return 0;
}

static void on_perf(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx;
	(void)cpu;
	if (size >= sizeof(struct open_event))
		on_event(data);
}

static int on_ring(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(struct open_event))
		on_event(data);
	return 0;
}

int main(int argc, char **argv)
{
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	struct example_opts o;
	struct opensnoop_bpf *skel;
	bool ring;
	int err = 1;

	if (example_init(argc, argv, "perf|ringbuf COMM [END_PATH [failed]]", &o))
		return 1;
	if (o.argc < 2)
		return fprintf(stderr, "opensnoop: perf|ringbuf COMM needed\n"), 1;
	ring = !strcmp(o.argv[0], "ringbuf");
	end_path = o.argc > 2 ? o.argv[2] : NULL;
	skel = opensnoop_bpf__open();
	if (!skel)
		return fprintf(stderr, "opensnoop: cannot open the BPF object\n"), 1;
	skel->rodata->use_ringbuf = ring;
	skel->rodata->targ_failed = o.argc > 3 && !strcmp(o.argv[3], "failed");
	strncpy((char *)skel->rodata->targ_comm, o.argv[1], SYSTP_COMM_LEN - 1);
	if (ring)
		bpf_map__set_max_entries(skel->maps.events, 1);
	if (opensnoop_bpf__load(skel) || opensnoop_bpf__attach(skel)) {
		fprintf(stderr, "opensnoop: cannot load/attach: %s\n", strerror(errno));
		goto out;
	}
	if (ring)
		rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_ring, NULL, NULL);
	else
		pb = perf_buffer__new(bpf_map__fd(skel->maps.events), 64, on_perf, NULL, NULL,
				      NULL);
	if (!rb && !pb) {
		fprintf(stderr, "opensnoop: cannot open the %s: %s\n",
			ring ? "ring buffer" : "perf buffer", strerror(errno));
		goto out;
	}
	example_ready();
	while (!done && !example_exiting) {
		int n = ring ? ring_buffer__poll(rb, 100) : perf_buffer__poll(pb, 100);

		if (n < 0 && n != -EINTR) {
			fprintf(stderr, "opensnoop: poll: %s\n", strerror(-n));
			goto out;
		}
	}
	/* events of other cpus' perf rings may still wait behind END_PATH's */
	if (pb)
		perf_buffer__consume(pb);
	err = 0;
out:
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	opensnoop_bpf__destroy(skel);
	return err;
}
