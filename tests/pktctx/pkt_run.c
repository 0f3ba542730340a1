/* SPDX-License-Identifier: MIT */
/* tests/pktctx/pkt_run.c: an ordinary libbpf program that loads pkt.bpf.o
 * and test-runs its programs with BPF_PROG_TEST_RUN: data_in/data_out,
 * ctx_in/ctx_out, repeat, and the error cases.  It prints one line per
 * case (errno, retval, data_out and its size, ctx_out, the map's values)
 * and nothing that depends on time, so the kernel's run and the run under
 * `bpftime load` can be compared line by line (pktctx_test).
 *
 *   pkt_run OBJ      exit 77 when the kernel's bpf() refuses the load; the
 *                    programs that call a helper this kernel lacks (one
 *                    upstream allows, tests/kernel_lacks.h) are not loaded
 *                    and their cases print "case NAME: skipped (...)"
 *   pkt_run hold OBJ loads OBJ, prints "id N" (its first program's id) and
 *                    holds it until stdin closes (for `bpftool prog run id`)
 *   pkt_run helpers  which of our helpers each packet program type may call
 *                    (a one-call program per helper, as libbpf's probe), and
 *                    the verifier's words for helpers we lack, and a
 *                    "note: type T lacks H" line for each listed helper
 *                    the kernel here refuses although upstream allows it
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include "tests/kernel_lacks.h"

static struct bpf_object *obj;
static int out_fd;

static int prog(const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);

	return p ? bpf_program__fd(p) : -1;
}

static void hex(const char *tag, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	printf(" %s=", tag);
	for (size_t i = 0; i < len; i++)
		printf("%02x", p[i]);
}

/* prints the map's non-zero values and zeroes them */
static void dump_map(void)
{
	printf(" map=");
	for (uint32_t k = 0; k < 16; k++) {
		uint64_t v = 0, zero = 0;

		if (bpf_map_lookup_elem(out_fd, &k, &v))
			printf("E%u,", k);
		else if (v)
			printf("%u:%llx,", k, (unsigned long long)v);
		bpf_map_update_elem(out_fd, &k, &zero, 0);
	}
}

/* the programs of pkt.bpf.c that call a helper of tests/kernel_lacks.h's
 * list, and which; @lacks is set when the kernel here lacks it */
static struct {
	const char *prog;
	uint32_t prog_type;
	int helper;
	const struct upstream_helper *lacks;
} needs[] = {
	{ .prog = "xdp_meta", .prog_type = BPF_PROG_TYPE_XDP, .helper = BPF_FUNC_xdp_adjust_meta },
};

/* turns off the programs that need a helper the kernel here lacks */
static void skip_lacking(void)
{
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, needs[i].prog);

		needs[i].lacks = kernel_lacks(needs[i].prog_type, needs[i].helper);
		if (p && needs[i].lacks)
			bpf_program__set_autoload(p, false);
	}
}

/* the helper the kernel here lacks for @prog_name, or NULL */
static const struct upstream_helper *lacks_for(const char *prog_name)
{
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++)
		if (needs[i].lacks && !strcmp(needs[i].prog, prog_name))
			return needs[i].lacks;
	return NULL;
}

/* one test run; ctx_out as large as ctx_in (or @ctx_out_size) */
static void run(const char *name, const char *prog_name, const void *data, uint32_t len,
		uint32_t out_size, const void *ctx, uint32_t ctx_len, uint32_t ctx_out_size,
		uint32_t repeat)
{
	unsigned char dout[4096] = { 0 }, cout[256] = { 0 }, cin[256] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .repeat = repeat);
	const struct upstream_helper *h = lacks_for(prog_name);
	int fd, err;

	if (h) {
		printf("case %s: skipped (this kernel lacks %s for %s)\n", name, h->helper,
		       h->type);
		fflush(stdout);
		return;
	}
	fd = prog(prog_name);
	if (data) {
		t.data_in = data;
		t.data_size_in = len;
		t.data_out = dout;
		t.data_size_out = out_size;
	}
	if (ctx) {
		memcpy(cin, ctx, ctx_len);
		t.ctx_in = cin;
		t.ctx_size_in = ctx_len;
	}
	if (ctx_out_size) {
		t.ctx_out = cout;
		t.ctx_size_out = ctx_out_size;
	}
	err = bpf_prog_test_run_opts(fd, &t);
	printf("case %s: ret=%d retval=%u size=%u", name, err ? -errno : 0, t.retval,
	       t.data_size_out);
	if (data && (!err || errno == ENOSPC))
		hex("data", dout, t.data_size_out < sizeof(dout) ? t.data_size_out : 0);
	if (ctx_out_size && (!err || errno == ENOSPC)) {
		printf(" ctx_size=%u", t.ctx_size_out);
		hex("ctx", cout, ctx_out_size);
	}
	dump_map();
	printf("\n");
	fflush(stdout);
}

/* an IPv4/UDP packet: 14 + 20 + 8 + 22 bytes */
static void make_packet(unsigned char *p, size_t len, const unsigned char dst0)
{
	static const unsigned char hdr[] = {
		/* ethernet: dst, src, IPv4 */
		0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
		/* IPv4: 20 bytes, total 50, ttl 64, udp, csum, 10.0.0.1 -> 10.0.0.2 */
		0x45, 0x00, 0x00, 0x32, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 10, 0, 0, 1,
		10, 0, 0, 2,
		/* UDP: 1234 -> 53, length 30, checksum */
		0x04, 0xd2, 0x00, 0x35, 0x00, 0x1e, 0xab, 0xcd
	};
	uint32_t sum = 0;

	memset(p, 0, len);
	memcpy(p, hdr, sizeof(hdr));
	p[0] = dst0;
	for (size_t i = sizeof(hdr); i < len; i++)
		p[i] = (unsigned char)(i * 7);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(p[14 + i] << 8 | p[14 + i + 1]);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	p[14 + 10] = (unsigned char)(~sum >> 8);
	p[14 + 11] = (unsigned char)~sum;
}

/* the helpers of helpers/helpers.def (ORDER HELPERS) */
static const int our_helpers[] = { 1,	2,   3,	  4,   5,   6,	 7,   8,   9,	10,  11,  12,
				   14,	15,  16,  23,  25,  26,	 27,  28,  36,	44,  45,  54,
				   58,	65,  67,  87,  88,  89,	 93,  94,  109, 112, 113, 114,
				   115, 117, 125, 130, 131, 132, 133, 134, 160, 164, 165, 173,
				   174, 177, 181, 182, 183, 184, 185, 186, 187, 195 };

/* 'S' the type may call it, 'T' "program of this type cannot use helper",
 * 'U' "unknown func", 'I' "invalid func"; @log gets the verifier's line */
static char probe_helper(int type, int id, char *line, size_t len)
{
	struct bpf_insn in[] = { { .code = BPF_JMP | BPF_CALL, .imm = id },
				 { .code = BPF_JMP | BPF_EXIT } };
	char log[4096] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(type, NULL, "GPL", in, 2, &o);
	const char *w;

	line[0] = 0;
	if (fd >= 0) {
		close(fd);
		return 'S';
	}
	w = strstr(log, "program of this type cannot use helper ");
	if (!w)
		w = strstr(log, "unknown func ");
	if (!w)
		w = strstr(log, "invalid func ");
	if (!w)
		return 'S';
	snprintf(line, len, "%.*s", (int)strcspn(w, "\n"), w);
	return w[0] == 'p' ? 'T' : w[0] == 'u' ? 'U' : 'I';
}

static int helpers_main(void)
{
	static const int types[] = { 1, 3, 4, 6, 8 };
	static const int lacking[] = { 43, 69, 189, 9999 };
	char line[256];

	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		printf("type %d may call:", types[t]);
		for (size_t i = 0; i < sizeof(our_helpers) / sizeof(our_helpers[0]); i++)
			if (probe_helper(types[t], our_helpers[i], line, sizeof(line)) == 'S')
				printf(" %d", our_helpers[i]);
		printf("\n");
		printf("type %d refuses:", types[t]);
		for (size_t i = 0; i < sizeof(our_helpers) / sizeof(our_helpers[0]); i++)
			if (probe_helper(types[t], our_helpers[i], line, sizeof(line)) != 'S')
				printf(" %d", our_helpers[i]);
		printf("\n");
		for (size_t i = 0; i < sizeof(upstream_helpers) / sizeof(upstream_helpers[0]);
		     i++) {
			/* NULL unless listed for this type and lacking */
			const struct upstream_helper *h =
				kernel_lacks((uint32_t)types[t], upstream_helpers[i].id);

			if (h)
				printf("note: type %d lacks %d: this kernel lacks %s for %s "
				       "(upstream Linux allows it)\n",
				       types[t], h->id, h->helper, h->type);
		}
	}
	for (size_t i = 0; i < sizeof(lacking) / sizeof(lacking[0]); i++) {
		probe_helper(6, lacking[i], line, sizeof(line));
		printf("words %d: %s\n", lacking[i], line);
	}
	probe_helper(2, 44, line, sizeof(line));
	printf("words kprobe 44: %s\n", line);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned char pkt[64], bcast[64], meta_pkt[72], small[10];
	uint32_t xmd[6] = { 0 }, xmd8[8] = { 0 };
	uint32_t skb[48] = { 0 };
	uint64_t args[2] = { 3, 4 };
	struct bpf_insn ret0[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int kp;

	if (argc < 2) {
		fprintf(stderr, "usage: pkt_run OBJ | hold OBJ | helpers\n");
		return 2;
	}
	if (!strcmp(argv[1], "helpers"))
		return helpers_main();
	if (!strcmp(argv[1], "hold") && argc == 3) {
		struct bpf_prog_info info = { 0 };
		uint32_t len = sizeof(info);
		char c;

		obj = bpf_object__open_file(argv[2], NULL);
		if (!obj || bpf_object__load(obj)) {
			fprintf(stderr, "pkt_run: cannot load %s: %s\n", argv[2], strerror(errno));
			return errno == EPERM || errno == ENOSYS ? 77 : 1;
		}
		if (bpf_obj_get_info_by_fd(bpf_program__fd(bpf_object__next_program(obj, NULL)),
					   &info, &len))
			return 1;
		printf("id %u\n", info.id);
		fflush(stdout);
		while (read(0, &c, 1) > 0)
			;
		bpf_object__close(obj);
		return 0;
	}
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (obj)
		skip_lacking();
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "pkt_run: cannot load %s: %s\n", argv[1], strerror(errno));
		return errno == EPERM || errno == ENOSYS ? 77 : 1;
	}
	out_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "out"));
	make_packet(pkt, sizeof(pkt), 0x02);
	make_packet(bcast, sizeof(bcast), 0x02);
	memset(bcast, 0xff, 6);
	for (int i = 0; i < 8; i++)
		meta_pkt[i] = (unsigned char)(0x10 + i);
	memcpy(meta_pkt + 8, pkt, sizeof(pkt));
	memset(small, 1, sizeof(small));

	/* XDP */
	run("xdp_swap", "xdp_swap", pkt, 64, sizeof(pkt), NULL, 0, 0, 0);
	run("xdp_swap_out_small", "xdp_swap", pkt, 64, 10, NULL, 0, 0, 0);
	run("xdp_swap_unlimited_out", "xdp_swap", pkt, 64, 0, NULL, 0, 0, 0);
	run("xdp_swap_repeat_101", "xdp_swap", pkt, 64, 256, NULL, 0, 0, 101);
	xmd[1] = 64;
	run("xdp_swap_ctx", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	run("xdp_swap_ctx_out_small", "xdp_swap", pkt, 64, 256, xmd, 24, 8, 0);
	xmd[3] = 1;
	run("xdp_swap_ctx_lo", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[1] = 40;
	run("xdp_swap_ctx_short", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[1] = 64;
	xmd[3] = 0;
	xmd[4] = 1;
	run("xdp_bad_ctx_queue", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[4] = 0;
	xmd[2] = 4;
	run("xdp_bad_ctx_meta", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[2] = 0;
	xmd[5] = 1;
	run("xdp_bad_ctx_egress", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[5] = 0;
	xmd[3] = 999999;
	run("xdp_bad_ctx_ifindex", "xdp_swap", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[3] = 0;
	memcpy(xmd8, xmd, 24);
	xmd8[7] = 1;
	run("xdp_bad_ctx_tail", "xdp_swap", pkt, 64, 256, xmd8, 32, 24, 0);
	xmd8[7] = 0;
	run("xdp_ctx_long_zero_tail", "xdp_swap", pkt, 64, 256, xmd8, 32, 24, 0);
	run("xdp_too_short", "xdp_swap", small, sizeof(small), 256, NULL, 0, 0, 0);
	run("xdp_head", "xdp_head", pkt, 64, 256, NULL, 0, 0, 0);
	run("xdp_tail", "xdp_tail", pkt, 64, 256, NULL, 0, 0, 0);
	run("xdp_meta", "xdp_meta", pkt, 64, 256, xmd, 24, 24, 0);
	xmd[0] = 8;
	xmd[1] = 72;
	run("xdp_meta_in", "xdp_meta_in", meta_pkt, 72, 256, xmd, 24, 24, 0);
	xmd[0] = 6;
	run("xdp_meta_in_bad", "xdp_meta_in", meta_pkt, 72, 256, xmd, 24, 24, 0);
	xmd[0] = 0;
	xmd[1] = 64;
	run("xdp_redirect", "xdp_redirect", pkt, 64, 256, NULL, 0, 0, 0);
	run("xdp_csum", "xdp_csum", pkt, 64, 256, NULL, 0, 0, 0);

	/* tc */
	skb[8 / 4] = 5; /* mark */
	for (int i = 0; i < 5; i++)
		skb[48 / 4 + i] = (uint32_t)(i + 1) * 0x1111;
	run("tc_rewrite", "tc_rewrite", pkt, 64, 256, skb, 192, 192, 0);
	run("tc_rewrite_no_ctx", "tc_rewrite", pkt, 64, 256, NULL, 0, 0, 0);
	skb[0] = 64; /* len may not be set */
	run("tc_bad_ctx_len", "tc_rewrite", pkt, 64, 256, skb, 192, 192, 0);
	skb[0] = 0;
	skb[168 / 4] = 1; /* nor sk */
	run("tc_bad_ctx_sk", "tc_rewrite", pkt, 64, 256, skb, 192, 192, 0);
	skb[168 / 4] = 0;
	skb[160 / 4] = 10; /* wire_len below len */
	run("tc_bad_ctx_wire_len", "tc_rewrite", pkt, 64, 256, skb, 192, 192, 0);
	skb[160 / 4] = 100;
	skb[152 / 4] = 77;  /* tstamp */
	skb[164 / 4] = 2;   /* gso_segs */
	skb[172 / 4] = 100; /* gso_size: refused by 6.18 */
	run("tc_bad_ctx_gso_size", "tc_fields", pkt, 64, 256, skb, 192, 192, 0);
	skb[172 / 4] = 0;
	skb[36 / 4] = 3; /* ingress_ifindex */
	skb[40 / 4] = 1; /* ifindex: lo */
	skb[32 / 4] = 6; /* priority */
	run("tc_fields", "tc_fields", pkt, 64, 256, skb, 192, 192, 0);
	run("tc_fields_bcast", "tc_fields", bcast, 64, 256, NULL, 0, 0, 0);
	run("tc_fields_out_small", "tc_fields", pkt, 64, 20, skb, 192, 100, 0);

	/* socket filters */
	run("sk_len", "sk_len", pkt, 64, 256, NULL, 0, 0, 0);
	run("sk_len_short", "sk_len", small, sizeof(small), 256, NULL, 0, 0, 0);
	memset(skb, 0, sizeof(skb));
	skb[48 / 4 + 2] = 41;
	run("sk_load", "sk_load", pkt, 64, 256, skb, 192, 192, 0);
	run("sk_load_repeat", "sk_load", pkt, 64, 256, skb, 192, 192, 5);

	/* raw tracepoint: the arguments */
	run("raw_args", "raw_args", NULL, 0, 0, args, 16, 0, 0);
	run("raw_args_data", "raw_args", pkt, 64, 256, args, 16, 0, 0);
	run("raw_args_repeat", "raw_args", NULL, 0, 0, args, 16, 0, 3);
	run("raw_args_too_long", "raw_args", NULL, 0, 0, skb, 192, 0, 0);

	/* a type the kernel cannot test-run */
	kp = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ret0", "GPL", ret0, 2, NULL);
	if (kp >= 0) {
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = 64);
		int err = bpf_prog_test_run_opts(kp, &t);

		printf("case kprobe: ret=%d\n", err ? -errno : 0);
		close(kp);
	} else {
		printf("case kprobe: load %d\n", -errno);
	}
	bpf_object__close(obj);
	return 0;
}
