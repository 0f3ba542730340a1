/* SPDX-License-Identifier: MIT */
/* examples/kshare/kshare.c: loader of kshare.bpf.o, for kernel-shared mode.
 *
 *   bpftime load --run-with-kernel ./kshare [--fork-tp] IFNAME VICTIM [FUNC]
 *
 * Attaches on_packet (XDP) to IFNAME and on_call (uprobe) to FUNC (default
 * target_func) in the program VICTIM, reads the perf event array with
 * libbpf's perf buffer, and on every line "p" on stdin prints
 *   counts total=T xdp=X uprobe=U hash=H events_xdp=EX events_uprobe=EU
 *          records_xdp=RX records_uprobe=RU forks=F
 * (totals from the maps, events from the perf buffer, records from the ring
 * buffer); "q" or EOF ends it.
 * With --fork-tp, on_fork goes on the kernel tracepoint
 * sched/sched_process_fork (a tracefs must be mounted) counting this
 * process's forks, and a line "f" makes it fork 5 children.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kshare.skel.h"

static int events[3], records[3];

static int on_record(void *ctx, void *data, size_t size)
{
	__u32 side;

	(void)ctx;
	if (size < sizeof(side))
		return 0;
	memcpy(&side, data, sizeof(side));
	if (side == 1 || side == 2)
		records[side]++;
	return 0;
}

static void on_event(void *ctx, int cpu, void *data, __u32 size)
{
	__u32 side;

	(void)ctx;
	(void)cpu;
	if (size < sizeof(side))
		return;
	memcpy(&side, data, sizeof(side));
	if (side == 1 || side == 2)
		events[side]++;
}

static void report(struct kshare_bpf *skel)
{
	int afd = bpf_map__fd(skel->maps.counts), hfd = bpf_map__fd(skel->maps.hcounts);
	__u64 v[4] = { 0 }, h = 0;
	__u32 hk = 7;

	for (__u32 k = 0; k < 4; k++)
		bpf_map_lookup_elem(afd, &k, &v[k]);
	bpf_map_lookup_elem(hfd, &hk, &h);
	printf("counts total=%llu xdp=%llu uprobe=%llu hash=%llu events_xdp=%d events_uprobe=%d "
	       "records_xdp=%d records_uprobe=%d forks=%llu\n",
	       (unsigned long long)v[0], (unsigned long long)v[1], (unsigned long long)v[2],
	       (unsigned long long)h, events[1], events[2], records[1], records[2],
	       (unsigned long long)v[3]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "target_func");
	struct bpf_link *xdp = NULL, *up = NULL, *tp = NULL;
	bool fork_tp = argc > 1 && !strcmp(argv[1], "--fork-tp");
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	struct kshare_bpf *skel;
	unsigned int ifindex;
	char line[64];
	int ret = 1;

	if (fork_tp) {
		argc--;
		argv++;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: kshare [--fork-tp] IFNAME VICTIM [FUNC]\n");
		return 2;
	}
	if (argc > 3)
		uo.func_name = argv[3];
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "kshare: no device '%s'\n", argv[1]);
		return 1;
	}
	skel = kshare_bpf__open();
	if (skel) {
		skel->rodata->fork_tgid = (__u32)getpid();
		bpf_program__set_autoload(skel->progs.on_fork, fork_tp);
		if (kshare_bpf__load(skel)) {
			kshare_bpf__destroy(skel);
			skel = NULL;
		}
	}
	if (!skel) {
		fprintf(stderr, "kshare: cannot load kshare.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	xdp = bpf_program__attach_xdp(skel->progs.on_packet, (int)ifindex);
	if (!xdp) {
		fprintf(stderr, "kshare: cannot attach XDP to %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	up = bpf_program__attach_uprobe_opts(skel->progs.on_call, -1, argv[2], 0, &uo);
	if (!up) {
		fprintf(stderr, "kshare: cannot attach the uprobe: %s\n", strerror(errno));
		goto out;
	}
	if (fork_tp) {
		tp = bpf_program__attach(skel->progs.on_fork);
		if (!tp) {
			fprintf(stderr, "kshare: cannot attach the fork tracepoint: %s\n",
				strerror(errno));
			goto out;
		}
	}
	pb = perf_buffer__new(bpf_map__fd(skel->maps.events), 8, on_event, NULL, NULL, NULL);
	if (!pb) {
		fprintf(stderr, "kshare: cannot open the perf buffer: %s\n", strerror(errno));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.records), on_record, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "kshare: cannot open the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	printf("kshare: ready (XDP on %s, uprobe on %s in %s)\n", argv[1], uo.func_name, argv[2]);
	fflush(stdout);
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p = { .fd = 0, .events = POLLIN };
		ssize_t n;

		perf_buffer__poll(pb, 50);
		ring_buffer__poll(rb, 0);
		if (poll(&p, 1, 0) <= 0)
			continue;
		n = read(0, line, sizeof(line) - 1);
		if (n == 0 || (n > 0 && line[0] == 'q'))
			break;
		if (n > 0 && line[0] == 'f') {
			for (int i = 0; i < 5; i++) {
				pid_t c = fork();

				if (c == 0)
					_exit(0);
				if (c > 0)
					waitpid(c, NULL, 0);
			}
		}
		if (n > 0 && line[0] == 'p') {
			perf_buffer__poll(pb, 0);
			ring_buffer__poll(rb, 0);
			report(skel);
		}
	}
	ret = 0;
out:
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	bpf_link__destroy(tp);
	bpf_link__destroy(up);
	bpf_link__destroy(xdp);
	kshare_bpf__destroy(skel);
	return ret;
}
