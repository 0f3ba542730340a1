/* SPDX-License-Identifier: MIT */
/* tests/pktctx/pktctx_test.c: packet programs run the same under bpftime as
 * on the kernel.  The same libbpf program (pkt_run) test-runs XDP, tc and
 * socket filter programs (pkt.bpf.c) on the kernel and under `bpftime load`
 * inside seccomp_guard (nothing reaches the kernel's bpf()); every line it
 * prints (errno, retval, data_out and its size, ctx_out, map values) must be
 * identical.  Also: which of our helpers each packet program type may call,
 * against the kernel; the verifier's words for helpers we lack; `bpftool
 * prog run` of an XDP program reading ctx->data under bpftime, against the
 * kernel's; and `bpftool feature probe` under bpftime listing what we have.
 * The kernel comparisons are skipped (with the reason) where the kernel
 * refuses to load the programs.
 *
 *   pktctx_test BPFTIME GUARD PKT_RUN PKT_OBJ XDP_OBJ BPFTOOL|none BPFTIMETOOL
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "proc.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static const char *bpftime_bin, *guard_bin, *pkt_run, *pkt_obj, *xdp_obj, *bpftool, *tool;
static char tmpdir[128];

static int cleanup(void **state)
{
	(void)state;
	kill_live();
	bpftime_shm__remove(NULL);
	return 0;
}

static void use_shm(const char *name)
{
	char buf[96];

	snprintf(buf, sizeof(buf), "bpftime_pktctx_%d_%s", getpid(), name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", buf, 1);
	bpftime_shm__remove(NULL);
}

/* runs argv (NULL-terminated) to its end; its stdout in @p->obuf */
static int run(struct proc *p, const char **argv)
{
	spawn(p, argv, false);
	return proc_wait(p);
}

/* the same argv under `bpftime load` in the guard; the server's warnings
 * (one per program a probe has refused) go to a file */
static int run_bpftime(struct proc *p, const char **argv)
{
	const char *full[32] = { guard_bin, bpftime_bin, "load" };
	char log[160];
	size_t n = 3;
	int ret;

	for (size_t i = 0; argv[i] && n < 31; i++)
		full[n++] = argv[i];
	full[n] = NULL;
	snprintf(log, sizeof(log), "%s/server.log", tmpdir);
	setenv("BPFTIME_LOG_OUTPUT", log, 1);
	ret = run(p, full);
	setenv("BPFTIME_LOG_OUTPUT", "console", 1);
	return ret;
}

/* compares the lines of two outputs that start with @prefix; the count.
 * With @skipped, a kernel line "case NAME: skipped (...)" (pkt_run did not
 * load a program that needs a helper this kernel lacks, one upstream allows:
 * tests/kernel_lacks.h) stands for whatever line of ours that case has;
 * those are counted in *@skipped, not in the count. */
static int compare_lines(const char *kernel, const char *ours, const char *prefix, int *skipped)
{
	const char *k = kernel, *o = ours;
	int n = 0;

	for (;;) {
		while (*k && strncmp(k, prefix, strlen(prefix)))
			k = strchr(k, '\n') ? strchr(k, '\n') + 1 : k + strlen(k);
		while (*o && strncmp(o, prefix, strlen(prefix)))
			o = strchr(o, '\n') ? strchr(o, '\n') + 1 : o + strlen(o);
		if (!*k || !*o)
			break;
		size_t kl = strcspn(k, "\n"), ol = strcspn(o, "\n");
		const char *colon = memchr(k, ':', kl);
		size_t name = colon ? (size_t)(colon - k) + 1 : 0;

		if (skipped && colon && !strncmp(colon, ": skipped (", 11) && ol > name &&
		    !memcmp(k, o, name) && strncmp(o + name, " skipped (", 10)) {
			print_message("%.*s (ours: %.*s)\n", (int)kl, k, (int)(ol - name - 1),
				      o + name + 1);
			(*skipped)++;
		} else if (kl != ol || memcmp(k, o, kl)) {
			fail_msg("differs from the kernel:\n  kernel: %.*s\n  ours:   %.*s",
				 (int)kl, k, (int)ol, o);
		} else {
			n++;
		}
		k += kl + (k[kl] == '\n');
		o += ol + (o[ol] == '\n');
	}
	if (*k || *o)
		fail_msg("one output has more '%s' lines than the other:\nkernel:\n%s\nours:\n%s",
			 prefix, kernel, ours);
	return n;
}

/* every case of pkt_run: the kernel's BPF_PROG_TEST_RUN and ours agree */
static void test_test_run_matches_kernel(void **state)
{
	const char *argv[] = { pkt_run, pkt_obj, NULL };
	static struct proc k, b;
	int n, skipped = 0;

	(void)state;
	use_shm("run");
	assert_int_equal(run_bpftime(&b, argv), 0);
	assert_non_null(strstr(b.obuf, "case xdp_swap: ret=0 retval=3 size=64"));
	assert_non_null(strstr(b.obuf, "case sk_len: ret=0 retval=50 size=64"));
	assert_non_null(strstr(b.obuf, "case kprobe: ret=-524"));
	/* we have every helper upstream gives these types: nothing skipped */
	assert_null(strstr(b.obuf, ": skipped ("));
	if (run(&k, argv) == 77)
		TEST_SKIP("the kernel refuses to load pkt.bpf.o (%s)", k.ebuf);
	n = compare_lines(k.obuf, b.obuf, "case ", &skipped);
	print_message("%d test runs identical to the kernel's, %d skipped (helpers this kernel "
		      "lacks)\n",
		      n, skipped);
	assert_true(n >= 40 - skipped);
}

/* drops helper @id from the line "type @type @list: ..." of @out; whether
 * it was there */
static bool drop_helper(char *out, unsigned int type, const char *list, int id)
{
	char head[64], tok[16];
	char *l = out, *e, *t;
	size_t tl;

	snprintf(head, sizeof(head), "type %u %s:", type, list);
	tl = (size_t)snprintf(tok, sizeof(tok), " %d", id);
	while (strncmp(l, head, strlen(head))) {
		l = strchr(l, '\n');
		if (!l)
			return false;
		l++;
	}
	e = l + strcspn(l, "\n");
	for (t = strstr(l, tok); t && t < e; t = strstr(t + 1, tok)) {
		if (t + tl == e || t[tl] == ' ') {
			memmove(t, t + tl, strlen(t + tl) + 1);
			return true;
		}
	}
	return false;
}

/* which of our helpers each packet type may call, as the kernel; our words
 * for helpers we lack (libbpf's and bpftool's probes read them) */
static void test_helpers_per_type(void **state)
{
	const char *argv[] = { pkt_run, "helpers", NULL };
	static struct proc k, b;
	int n;

	(void)state;
	use_shm("helpers");
	assert_int_equal(run_bpftime(&b, argv), 0);
	assert_non_null(strstr(b.obuf, "words 43: unknown func bpf_skb_change_head#43"));
	assert_non_null(strstr(b.obuf, "words 9999: invalid func unknown#9999"));
	assert_non_null(strstr(b.obuf, "words kprobe 44: program of this type cannot use helper "
				       "bpf_xdp_adjust_head#44"));
	/* we have every helper upstream gives these types */
	assert_null(strstr(b.obuf, "note: type "));
	assert_int_equal(run(&k, argv), 0);
	if (!strstr(k.obuf, "type 6 may call: 1 "))
		TEST_SKIP("the kernel loads no XDP program here");
	/* a helper upstream gives a type that this kernel lacks (pkt_run's
	 * note, tests/kernel_lacks.h): the kernel refuses it, we have it; the
	 * rest of both lines is compared */
	for (const char *p = k.obuf; (p = strstr(p, "note: type ")); p++) {
		unsigned int type;
		int id;

		assert_int_equal(sscanf(p, "note: type %u lacks %d:", &type, &id), 2);
		print_message("%.*s\n", (int)strcspn(p, "\n"), p);
		if (!drop_helper(b.obuf, type, "may call", id))
			fail_msg("type %u: we lack helper %d, which upstream allows", type, id);
		if (!drop_helper(k.obuf, type, "refuses", id))
			fail_msg("type %u: the kernel does not list %d as refused", type, id);
	}
	n = compare_lines(k.obuf, b.obuf, "type ", NULL);
	assert_int_equal(n, 10);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static size_t read_file(const char *path, void *buf, size_t len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

/* holds xdp_count (in bpftime with @under) and runs `bpftool prog run id`
 * on it; data_out in @out, bpftool's stdout in @msg */
static size_t bpftool_prog_run(bool under, unsigned char *out, size_t len, char *msg, size_t msglen)
{
	const char *hold[] = { guard_bin, bpftime_bin, "load", pkt_run, "hold", xdp_obj, NULL };
	char in_path[256], out_path[256], id[32];
	static struct proc h, r;
	unsigned char pkt[64];
	const char *p;
	size_t n;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (unsigned char)(i * 13 + 1);
	pkt[12] = 0x08;
	pkt[13] = 0x00;
	snprintf(in_path, sizeof(in_path), "%s/in.bin", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/out.bin", tmpdir);
	write_file(in_path, pkt, sizeof(pkt));
	unlink(out_path);
	spawn(&h, under ? hold : hold + 3, true);
	expect_out(&h, "\n");
	p = strstr(h.obuf, "id ");
	if (!p)
		return 0;
	snprintf(id, sizeof(id), "%u", (unsigned)strtoul(p + 3, NULL, 10));
	const char *argv[] = { bpftool, "prog",	    "run",    "id",	id,  "data_in",
			       in_path, "data_out", out_path, "repeat", "5", NULL };
	assert_int_equal(under ? run_bpftime(&r, argv) : run(&r, argv), 0);
	snprintf(msg, msglen, "%.*s", (int)MIN(msglen - 1, r.olen), r.obuf);
	close(h.in);
	assert_int_equal(proc_wait(&h), 0);
	n = read_file(out_path, out, len);
	return n;
}

/* `bpftool prog run` of an XDP program that reads ctx->data: no crash, the
 * kernel's verdict and bytes */
static void test_bpftool_prog_run(void **state)
{
	unsigned char ours[256], theirs[256];
	char msg[512], kmsg[512];
	size_t n, kn;

	(void)state;
	if (!strcmp(bpftool, "none"))
		TEST_SKIP("no bpftool");
	use_shm("bpftool");
	n = bpftool_prog_run(true, ours, sizeof(ours), msg, sizeof(msg));
	assert_int_equal(n, 64);
	assert_non_null(strstr(msg, "Return value: 3, duration (average): "));
	/* the addresses swapped */
	assert_int_equal(ours[0], 6 * 13 + 1);
	assert_int_equal(ours[6], 1);
	kn = bpftool_prog_run(false, theirs, sizeof(theirs), kmsg, sizeof(kmsg));
	if (!kn)
		TEST_SKIP("the kernel refuses to load xdp_count.bpf.o");
	assert_int_equal(kn, n);
	assert_memory_equal(ours, theirs, n);
	assert_non_null(strstr(kmsg, "Return value: 3, duration (average): "));
}

/* `bpftool feature probe` under bpftime: the program types we load, the
 * helpers we have and no other, the map types we have */
static void test_feature_probe(void **state)
{
	const char *argv[] = { bpftool, "-j", "feature", "probe", "kernel", NULL };
	static const char *const yes[] = { "socket_filter",
					   "kprobe",
					   "sched_cls",
					   "sched_act",
					   "tracepoint",
					   "xdp",
					   "perf_event",
					   "cgroup_skb",
					   "raw_tracepoint",
					   "syscall",
					   "raw_tracepoint_writable" };
	static const char *const no[] = { "cgroup_sock", "lwt_in",	   "sock_ops",
					  "sk_skb",	 "flow_dissector", "lirc_mode2",
					  "sk_lookup",	 "cgroup_sysctl",  "struct_ops" };
	static struct proc b;
	char want[160];
	int helpers = 0;

	(void)state;
	if (!strcmp(bpftool, "none"))
		TEST_SKIP("no bpftool");
	use_shm("probe");
	assert_int_equal(run_bpftime(&b, argv), 0);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(want, sizeof(want), "\"have_%s_prog_type\":true", yes[i]);
		if (!strstr(b.obuf, want))
			fail_msg("feature probe under bpftime lacks %s", want);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(want, sizeof(want), "\"have_%s_prog_type\":false", no[i]);
		if (!strstr(b.obuf, want))
			fail_msg("feature probe under bpftime lacks %s", want);
	}
	assert_non_null(strstr(b.obuf, "\"have_hash_map_type\":true"));
	assert_non_null(strstr(b.obuf, "\"have_ringbuf_map_type\":true"));
	assert_non_null(strstr(b.obuf, "\"have_devmap_map_type\":false"));
	assert_non_null(strstr(b.obuf, "\"have_sockmap_map_type\":false"));
	/* every helper listed is one of ours */
	char *hs = strstr(b.obuf, "\"helpers\":"), *he = hs ? strstr(hs, "\"misc\":") : NULL;

	if (!hs || !he) {
		fail_msg("no helpers in the probe's output: %s", b.obuf);
		return;
	}
	*he = 0;
	for (const char *p = hs; (p = strstr(p, "\"bpf_")); p += 5) {
		char name[64];
		bool found = false;

		snprintf(name, sizeof(name), "%.*s", (int)strcspn(p + 5, "\""), p + 5);
		for (uint32_t id = 1; id <= BPFTIME_MAX_HELPER_ID && !found; id++)
			found = bpftime_helper__name(id) && !strcmp(bpftime_helper__name(id), name);
		if (!found)
			fail_msg("feature probe lists bpf_%s, which we do not have", name);
		helpers++;
	}
	assert_non_null(strstr(hs, "\"xdp_available_helpers\":[\"bpf_map_lookup_elem\""));
	assert_non_null(strstr(hs, "\"bpf_xdp_adjust_head\""));
	assert_non_null(strstr(hs, "\"bpf_skb_load_bytes\""));
	assert_null(strstr(hs, "\"bpf_skb_change_head\""));
	print_message("%d helper entries listed, all ours\n", helpers);
}

/* the seed's bpftool sequence in one process (load and pin, dump xlated,
 * run pinned): the xlated dump shows the context accesses rewritten as the
 * kernel's (xdp_md.data_end becomes the u64 at 8 of the xdp_buff), and the
 * run gives the kernel's verdict and bytes */
static void test_bpftool_xlated(void **state)
{
	char cmds[256], in_path[256], out_path[256], script[1024];
	unsigned char pkt[64], ours[128], theirs[128];
	static struct proc b, k;
	const char *batch[] = { bpftool, "batch", "file", cmds, NULL };
	const char *kern[] = { "/usr/bin/unshare", "-m", "/bin/sh", "-c", script, NULL };
	size_t n, kn;

	(void)state;
	if (!strcmp(bpftool, "none"))
		TEST_SKIP("no bpftool");
	use_shm("xlated");
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (unsigned char)(i * 7 + 3);
	snprintf(in_path, sizeof(in_path), "%s/x_in.bin", tmpdir);
	snprintf(out_path, sizeof(out_path), "%s/x_out.bin", tmpdir);
	snprintf(cmds, sizeof(cmds), "%s/cmds", tmpdir);
	write_file(in_path, pkt, sizeof(pkt));
	snprintf(script, sizeof(script),
		 "prog load %s /sys/fs/bpf/pktctx_%d\n"
		 "prog dump xlated pinned /sys/fs/bpf/pktctx_%d\n"
		 "prog run pinned /sys/fs/bpf/pktctx_%d data_in %s data_out %s repeat 10\n",
		 xdp_obj, getpid(), getpid(), getpid(), in_path, out_path);
	write_file(cmds, script, strlen(script));
	assert_int_equal(run_bpftime(&b, batch), 0);
	assert_non_null(strstr(b.obuf, "0: (79) r2 = *(u64 *)(r1 +8)"));
	assert_non_null(strstr(b.obuf, "1: (79) r1 = *(u64 *)(r1 +0)"));
	assert_non_null(strstr(b.obuf, "Return value: 3, duration (average): "));
	n = read_file(out_path, ours, sizeof(ours));
	assert_int_equal(n, 64);
	unlink(out_path);
	/* the kernel, with a bpffs of its own in a private mount namespace */
	snprintf(script, sizeof(script), "mount -t bpf bpf /sys/fs/bpf && exec %s batch file %s",
		 bpftool, cmds);
	if (run(&k, kern) || !strstr(k.obuf, "Return value: "))
		TEST_SKIP("the kernel cannot run the sequence here: %s", k.ebuf);
	/* the same dump up to the bounds check (the kernel inlines its hash
	 * lookups further down, which moves jump offsets and map ids) */
	const char *kmap = strstr(k.obuf, "; if (data + 14 > end)"),
		   *bmap = strstr(b.obuf, "; if (data + 14 > end)");
	assert_true(kmap && bmap && kmap - k.obuf == bmap - b.obuf);
	assert_memory_equal(k.obuf, b.obuf, (size_t)(kmap - k.obuf));
	kn = read_file(out_path, theirs, sizeof(theirs));
	assert_int_equal(kn, n);
	assert_memory_equal(ours, theirs, n);
}

/* `bpftimetool run ID FILE` of an XDP program: the file is the packet (the
 * kernel's test-run context), not raw memory */
static void test_bpftimetool_run(void **state)
{
	const char *hold[] = { guard_bin, bpftime_bin, "load", pkt_run, "hold", xdp_obj, NULL };
	const char *show[] = { tool, "prog", "show", NULL };
	char in_path[256], fd[16];
	static struct proc h, r, s;
	unsigned char pkt[64] = { 0 };
	const char *p;

	(void)state;
	use_shm("tool");
	pkt[12] = 0x08;
	snprintf(in_path, sizeof(in_path), "%s/tool.bin", tmpdir);
	write_file(in_path, pkt, sizeof(pkt));
	spawn(&h, hold, true);
	expect_out(&h, "id ");
	assert_int_equal(run(&s, show), 0);
	p = strstr(s.obuf, "name xdp_count");
	p = p ? strstr(p, " fd ") : NULL;
	assert_non_null(p);
	snprintf(fd, sizeof(fd), "%d", atoi(p + 4));
	const char *argv[] = { tool, "run", fd, in_path, "repeat", "100", NULL };
	assert_int_equal(run(&r, argv), 0);
	assert_non_null(strstr(r.obuf, "Time taken: "));
	assert_non_null(strstr(r.obuf, "Return value: 3\n"));
	const char *interp[] = { tool, "run", fd, in_path, "type", "INTERPRET", NULL };
	assert_int_equal(run(&r, interp), 0);
	assert_non_null(strstr(r.obuf, "Return value: 3\n"));
	close(h.in);
	assert_int_equal(proc_wait(&h), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_test_run_matches_kernel, cleanup),
		cmocka_unit_test_teardown(test_helpers_per_type, cleanup),
		cmocka_unit_test_teardown(test_bpftool_prog_run, cleanup),
		cmocka_unit_test_teardown(test_feature_probe, cleanup),
		cmocka_unit_test_teardown(test_bpftimetool_run, cleanup),
		cmocka_unit_test_teardown(test_bpftool_xlated, cleanup),
	};
	int ret;

	if (argc != 8) {
		fprintf(stderr,
			"usage: pktctx_test BPFTIME GUARD PKT_RUN PKT_OBJ XDP_OBJ BPFTOOL TOOL\n");
		return 2;
	}
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	pkt_run = argv[3];
	pkt_obj = argv[4];
	xdp_obj = argv[5];
	bpftool = argv[6];
	tool = argv[7];
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pktctx_test_%d", getpid());
	if (mkdir(tmpdir, 0700) && errno != EEXIST)
		return 1;
	ret = TEST_RUN(tests, NULL, NULL);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return ret;
}
