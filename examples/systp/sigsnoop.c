/* SPDX-License-Identifier: MIT */
/* examples/systp/sigsnoop.c: sigsnoop-like loader for sigsnoop.bpf.o.
 *
 *   sigsnoop [-v] COMM [END_SIG]
 *
 * Prints "ready", then "signal comm=C call=kill|tkill|tgkill target=self|
 * other sig=S ret=R" per call of a process named COMM; exits after a call
 * sending END_SIG (or on SIGINT/SIGTERM).
 */
#define _GNU_SOURCE
#include "example.h"
#include "systp.h"
#include "sigsnoop.skel.h"

static int end_sig = -1;
static bool done;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct sig_event *e = data;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	printf("signal comm=%s call=%s target=%s sig=%d ret=%ld\n", e->comm,
	       e->nr == 62    ? "kill"
	       : e->nr == 200 ? "tkill"
			      : "tgkill",
	       e->target == e->pid ? "self" : "other", e->sig, e->ret);
	fflush(stdout);
	if (e->sig == end_sig)
		done = true;
	return 0;
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb = NULL;
	struct example_opts o;
	struct sigsnoop_bpf *skel;
	int err = 1;

	if (example_init(argc, argv, "COMM [END_SIG]", &o))
		return 1;
	if (o.argc < 1)
		return fprintf(stderr, "sigsnoop: COMM needed\n"), 1;
	if (o.argc > 1)
		end_sig = atoi(o.argv[1]);
	skel = sigsnoop_bpf__open();
	if (!skel)
		return fprintf(stderr, "sigsnoop: cannot open the BPF object\n"), 1;
	strncpy((char *)skel->rodata->targ_comm, o.argv[0], SYSTP_COMM_LEN - 1);
	if (sigsnoop_bpf__load(skel) || sigsnoop_bpf__attach(skel)) {
		fprintf(stderr, "sigsnoop: cannot load/attach: %s\n", strerror(errno));
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "sigsnoop: cannot open the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	example_ready();
	while (!done && !example_exiting)
		ring_buffer__poll(rb, 100);
	err = 0;
out:
	ring_buffer__free(rb);
	sigsnoop_bpf__destroy(skel);
	return err;
}
