/* SPDX-License-Identifier: MIT */
/* tests/e2e/devattach.c: an ordinary libbpf program that loads an XDP
 * program and a tc program and tries to put them on a network device in
 * every way libbpf has: bpf_xdp_attach (rtnetlink RTM_SETLINK IFLA_XDP),
 * bpf_link_create with BPF_XDP, bpf_tc_attach (RTM_NEWTFILTER, on an
 * existing clsact-less hook: nothing is created), bpf_xdp_detach.  One line
 * per attempt: "<what>: <return> <errno name>".  Under `bpftime load` each
 * must be refused with EOPNOTSUPP and nothing reach the kernel.
 *
 *   devattach OBJ XDP_PROG TC_PROG IFNAME
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static void report(const char *what, int ret)
{
	int err = ret < 0 ? -ret : 0;

	printf("%s: %d %s\n", what, ret, err == EOPNOTSUPP ? "EOPNOTSUPP" : strerror(err));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	int xdp, tc, ifindex;

	if (argc != 5) {
		fprintf(stderr, "usage: devattach OBJ XDP_PROG TC_PROG IFNAME\n");
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[4]);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "devattach: cannot load %s\n", argv[1]);
		return 1;
	}
	xdp = bpf_program__fd(bpf_object__find_program_by_name(obj, argv[2]));
	tc = bpf_program__fd(bpf_object__find_program_by_name(obj, argv[3]));
	if (xdp < 0 || tc < 0 || !ifindex) {
		fprintf(stderr, "devattach: no program %s/%s or device %s\n", argv[2], argv[3],
			argv[4]);
		return 1;
	}
	report("bpf_xdp_attach", bpf_xdp_attach(ifindex, xdp, XDP_FLAGS_SKB_MODE, NULL));
	report("bpf_link_create(BPF_XDP)", bpf_link_create(xdp, ifindex, BPF_XDP, NULL));
	{
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = tc, .handle = 1, .priority = 1);

		report("bpf_tc_attach", bpf_tc_attach(&hook, &opts));
	}
	report("bpf_xdp_detach", bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL));
	bpf_object__close(obj);
	return 0;
}
