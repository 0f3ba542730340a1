/* SPDX-License-Identifier: MIT */
/* tests/identity/identity_test.c: objects that outlive their loader, and
 * the BPF filesystem as tools see it (issue 12, items 1 and 2), with real
 * processes: id_loader (libbpf), bpftool, ls, stat, rm, mkdir, rmdir, each
 * a separate `bpftime load` inside seccomp_guard (the kernel's bpf() fails
 * there, so nothing comes from the kernel).  Each sequence runs again on
 * the kernel, in a private mount namespace with a bpffs of its own, when
 * the kernel can (root, bpf()), and the results must be the same.
 *
 *   identity_test BPFTIME GUARD ID_LOADER IDPROG_OBJ IDPROBE_OBJ VICTIM|none BPFTOOL|none
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "../e2e/proc.h"

static const char *bpftime_bin, *guard_bin, *loader_bin, *obj_path, *probe_obj, *victim_bin,
	*bpftool_bin;
static char pinall_obj[512], id_victim[512]; /* beside IDPROBE_OBJ and ID_LOADER */
static struct bpftime_shm *test_shm;
static char trace_instance[128];
/* the kernel's: a tracing instance of this run */ /* the live case's, created before its victim */

/* ---- processes ------------------------------------------------------------ */

/* @cmd found in PATH (spawn() does not search it; `bpftime load` does) */
static const char *which(const char *cmd)
{
	static char bufs[4][512];
	static int next;
	const char *path = getenv("PATH");
	char *b = bufs[next++ % 4];

	if (strchr(cmd, '/'))
		return cmd;
	for (const char *d = path ? path : "/usr/bin:/bin"; *d;) {
		size_t n = strcspn(d, ":");

		snprintf(b, sizeof(bufs[0]), "%.*s/%s", (int)n, d, cmd);
		if (!access(b, X_OK))
			return b;
		d += n + (d[n] ? 1 : 0);
	}
	return cmd;
}

/* starts @argv on the kernel, or on bpftime: `seccomp_guard bpftime load ...` */
static bool with_timeout; /* a safety net for readers that could block forever */

static void start(struct proc *p, bool kernel, const char *const *argv, bool in)
{
	const char *a[32];
	int n = 0;

	if (with_timeout) { /* never a measurement: a broken build fails instead of hanging */
		a[n++] = which("timeout");
		a[n++] = "30";
	}
	if (!kernel) {
		a[n++] = guard_bin;
		a[n++] = bpftime_bin;
		a[n++] = "load";
	}
	for (int i = 0; argv[i] && n < 31; i++)
		a[n++] = i ? argv[i] : which(argv[i]);
	a[n] = NULL;
	spawn(p, a, in);
}

/* runs it to the end: its exit status, its output in @p */
static int run(struct proc *p, bool kernel, const char *const *argv)
{
	start(p, kernel, argv, false);
	return proc_wait(p);
}

#define RUN(p, kernel, ...) run(p, kernel, (const char *const[]){ __VA_ARGS__, NULL })

static char pin_dir[96]; /* /sys/fs/bpf/idt_<pid> */

static const char *path_of(const char *rel)
{
	static char bufs[8][512];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s%s%s", pin_dir, *rel ? "/" : "", rel);
	return b;
}

/* The kernel's side: a private mount namespace with its own bpffs at
 * /sys/fs/bpf (the host's pins are neither seen nor touched).  0, or why it
 * cannot be had. */
static const char *kernel_ns(void)
{
	static bool done;

	if (done)
		return NULL;
	if (geteuid())
		return "not root";
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return strerror(errno);
	/* whatever the host stacked there goes (bpftool would walk each bpf
	 * mount of /proc/mounts), then one bpffs of our own */
	while (!umount2("/sys/fs/bpf", MNT_DETACH))
		;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=700"))
		return strerror(errno);
	/* tracefs for libbpf's tracepoint ids (not mounted on the host) */
	if (access("/sys/kernel/tracing/events", F_OK) && access("/sys/kernel/debug/tracing", F_OK))
		mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	done = true;
	return NULL;
}

static int cleanup(void **state)
{
	(void)state;
	kill_live();
	bpftime_shm__close(test_shm);
	test_shm = NULL;
	with_timeout = false;
	unsetenv("BPFTIME_KEEP_SHM");
	if (trace_instance[0]) { /* a kernel object: it outlives the namespace */
		rmdir(trace_instance);
		trace_instance[0] = 0;
	}
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	return 0;
}

/* a segment of the test's own; @pins: the directory of its pins (the same
 * for the bpftime run and the kernel's, whose bpffs is a private one) */
static void shm_for_test(const char *name, const char *pins)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "bpftime_id_%d_%s", getpid(), name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", buf, 1);
	bpftime_shm__remove(NULL);
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/idt_%d_%s", getpid(), pins);
}

/* ---- (a) a pinned program run by another loader ---------------------------- */

struct cross {
	int a_counter_fd, a_table_fd;
	int b_fds[16], nb;
	int retval;
	unsigned long long counter, table7;
	unsigned int maps;
	int untouched;
	uint64_t seg_counter; /* bpftime: counter[0] read from the segment */
	char stats[128];
	char shows[2][4096]; /* prog show, map show */
};

/* A loads and pins and exits; B creates 12 maps at A's old fd numbers and
 * stays; C (bpftool) runs the pinned program; D reads the maps back through
 * the pin and the program's map ids; B checks its maps were not touched. */
static void cross_process(bool kernel, struct cross *r)
{
	char in[64];
	struct proc a, b, c;
	const char *prog = path_of("prog"), *counter = path_of("counter");
	FILE *f;
	int off = 0, n;
	char *s;

	memset(r, 0, sizeof(*r));
	snprintf(in, sizeof(in), "/tmp/bpftime_id_%d.in", getpid());
	f = fopen(in, "w");
	assert_non_null(f);
	for (int i = 0; i < 64; i++)
		fputc(i, f);
	fclose(f);

	if (RUN(&a, kernel, loader_bin, "load", obj_path, prog, counter)) {
		if (kernel)
			return (void)(r->retval = -1); /* the kernel cannot: no comparison */
		fail_msg("loader A failed: %s", a.ebuf);
	}
	assert_int_equal(
		sscanf(a.obuf, "fds counter=%d table=%d", &r->a_counter_fd, &r->a_table_fd), 2);

	start(&b, kernel, (const char *const[]){ loader_bin, "hold", "12", NULL }, true);
	expect_out(&b, "ready\n");
	s = strstr(b.obuf, "fds");
	assert_non_null(s);
	s += 3;
	while (r->nb < 16 && sscanf(s + off, " %d%n", &r->b_fds[r->nb], &n) == 1) {
		r->nb++;
		off += n;
	}
	assert_int_equal(r->nb, 12);

	if (bpftool_bin) {
		assert_int_equal(RUN(&c, kernel, bpftool_bin, "prog", "run", "pinned", prog,
				     "data_in", in, "repeat", "3"),
				 0);
		assert_int_equal(sscanf(c.obuf, "Return value: %d", &r->retval), 1);
		/* A exited: only the pin holds the program, only the program
		 * holds "table"; both are listed */
		assert_int_equal(RUN(&c, kernel, bpftool_bin, "prog", "show", "name", "id_count"),
				 0);
		snprintf(r->shows[0], sizeof(r->shows[0]), "%.4000s", c.obuf);
		assert_int_equal(RUN(&c, kernel, bpftool_bin, "map", "show", "name", "table"), 0);
		snprintf(r->shows[1], sizeof(r->shows[1]), "%.4000s", c.obuf);
	}
	/* BPF_ENABLE_STATS: run_cnt and run_time_ns of test runs */
	assert_int_equal(RUN(&c, kernel, loader_bin, "stats", prog, "4"), 0);
	snprintf(r->stats, sizeof(r->stats), "%.120s", c.obuf);
	assert_int_equal(RUN(&c, kernel, loader_bin, "check", prog, counter), 0);
	assert_int_equal(sscanf(c.obuf, "counter %llu table7 %llu maps %u", &r->counter, &r->table7,
				&r->maps),
			 3);
	close(b.in);
	b.in = -1;
	assert_int_equal(proc_wait(&b), 0);
	assert_int_equal(sscanf(strstr(b.obuf, "untouched"), "untouched %d", &r->untouched), 1);
	unlink(in);
	if (!kernel) {
		/* and through the segment: the pinned map, as bpftimetool reads it */
		struct bpftime_shm *shm = bpftime_shm__open(NULL);
		uint32_t key = 0;
		int fd;

		assert_non_null(shm);
		fd = bpftime_obj_get(shm, counter, -1);
		assert_true(fd >= 0);
		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &key, &r->seg_counter, 0), 0);
		bpftime_handler_close(shm, fd);
		bpftime_shm__close(shm);
	}
	/* the pins go: the next sequence sees its own objects only */
	assert_int_equal(RUN(&c, kernel, "rm", prog, counter), 0);
	assert_int_equal(RUN(&c, kernel, "rmdir", pin_dir), 0);
}

static bool has_fd(const struct cross *r, int fd)
{
	for (int i = 0; i < r->nb; i++)
		if (r->b_fds[i] == fd)
			return true;
	return false;
}

static struct cross ours;

static void test_pinned_prog_other_loaders(void **state)
{
	(void)state;
	shm_for_test("cross", "c");
	cross_process(false, &ours);
	/* B's maps took A's old fd numbers: the program still reaches A's maps */
	assert_true(has_fd(&ours, ours.a_counter_fd));
	assert_true(has_fd(&ours, ours.a_table_fd));
	if (bpftool_bin) {
		assert_int_equal(ours.retval, 0);
		assert_non_null(strstr(ours.shows[0], "name id_count"));
		assert_non_null(strstr(ours.shows[1], "name table"));
		assert_int_equal(ours.counter, 3 + 4 + 1); /* repeat 3, then the stats runs */
		assert_int_equal(ours.table7, 42);
	}
	assert_int_equal(ours.maps, 2);
	assert_int_equal(ours.untouched, 12);
	/* counted while the stats fd is open (and after, if the host's
	 * kernel.bpf_stats_enabled says so, as the kernel does) */
	assert_memory_equal(ours.stats, "run_cnt 4 timed 1 after_off ", 28);
	assert_int_equal(ours.seg_counter, bpftool_bin ? 3 + 4 + 1 : 4 + 1);
}

static void test_pinned_prog_kernel(void **state)
{
	const char *why = kernel_ns();
	struct cross k;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!bpftool_bin)
		TEST_SKIP("no bpftool for this build (none here, or the sanitizer build: bpftool "
			  "loops "
			  "under the ASan runtime)");
	shm_for_test("cross_k", "c");
	cross_process(true, &k);
	if (k.retval == -1)
		TEST_SKIP("the kernel cannot load the program here");
	assert_int_equal(k.retval, ours.retval);
	assert_int_equal(k.counter, ours.counter);
	assert_int_equal(k.table7, ours.table7);
	assert_int_equal(k.maps, ours.maps);
	assert_int_equal(k.untouched, ours.untouched);
	assert_string_equal(k.stats, ours.stats);
	assert_non_null(strstr(k.shows[0], "name id_count"));
	assert_non_null(strstr(k.shows[1], "name table"));
}

/* ---- a pinned link outlives its loader ---------------------------------------- */

/* The loader attaches a uprobe to a private copy of the victim (a kernel
 * uprobe then fires in that copy only), pins the link and the map, exits;
 * the victim runs 5 calls (under `bpftime start` for bpftime): the link
 * alone keeps the probe.  Returns the count, -1 if the loader cannot. */
static long pinned_link(bool kernel)
{
	char victim[128], cmd[512];
	struct proc p;
	long v = -1;

	snprintf(victim, sizeof(victim), "/tmp/bpftime_id_%d_victim", getpid());
	snprintf(cmd, sizeof(cmd), "cp %s %s", victim_bin, victim);
	assert_int_equal(system(cmd), 0);
	if (RUN(&p, kernel, loader_bin, "link", probe_obj, victim, "target_func", path_of("link"),
		path_of("hits"))) {
		unlink(victim);
		if (kernel)
			return -1;
		fail_msg("the loader failed: %s", p.ebuf);
	}
	if (kernel) {
		assert_int_equal(RUN(&p, true, victim, "5", "10"), 0);
	} else {
		const char *a[] = { guard_bin, bpftime_bin, "start", victim, "5", "10", NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
	}
	assert_non_null(strstr(p.obuf, "victim: 5 calls"));
	assert_int_equal(RUN(&p, kernel, loader_bin, "value", path_of("hits")), 0);
	assert_int_equal(sscanf(p.obuf, "value %ld", &v), 1);
	assert_int_equal(RUN(&p, kernel, "rm", path_of("link"), path_of("hits")), 0);
	RUN(&p, kernel, "rmdir", pin_dir);
	unlink(victim);
	return v;
}

static void test_pinned_link(void **state)
{
	(void)state;
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("link", "l");
	assert_int_equal(pinned_link(false), 5);
}

static void test_pinned_link_kernel(void **state)
{
	const char *why = kernel_ns();
	long v;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("link_k", "l");
	v = pinned_link(true);
	if (v == -1)
		TEST_SKIP("the kernel cannot attach the uprobe here");
	assert_int_equal(v, 5);
}

/* The same for a syscall tracepoint (bpftime only: the kernel's would count
 * every process's calls): the loader attaches sys_enter_clock_nanosleep,
 * pins the link and the map, exits; the victim's 5 sleeps (glibc's
 * nanosleep is clock_nanosleep) are counted through the link alone, its
 * program and perf event reached by id. */
static void test_pinned_systp_link(void **state)
{
	char obj[512];
	const char *slash = strrchr(probe_obj, '/');
	struct proc p;
	long v = -1;

	(void)state;
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	snprintf(obj, sizeof(obj), "%.*sidsystp.bpf.o", slash ? (int)(slash - probe_obj + 1) : 0,
		 probe_obj);
	shm_for_test("tplink", "t");
	if (RUN(&p, false, loader_bin, "tplink", obj, path_of("link"), path_of("hits")))
		fail_msg("the loader failed: %s", p.ebuf);
	{
		const char *a[] = { guard_bin, bpftime_bin, "start", victim_bin, "5", "10", NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
	}
	assert_non_null(strstr(p.obuf, "victim: 5 calls"));
	assert_null(strstr(p.ebuf, "is not attached"));
	assert_int_equal(RUN(&p, false, loader_bin, "value", path_of("hits")), 0);
	assert_int_equal(sscanf(p.obuf, "value %ld", &v), 1);
	assert_int_equal(v, 5);
	assert_int_equal(RUN(&p, false, "rm", path_of("link"), path_of("hits")), 0);
	RUN(&p, false, "rmdir", pin_dir);
}

/* ---- links whose loader closed their fds: the pins alone hold them ------------- */

/* A private copy of id_victim named "idv<pid><tag>" (its comm: what the
 * programs filter on, as the kernel's tracepoint and perf events see every
 * process; a kernel uprobe fires in this copy only) */
static const char *victim_copy(char tag, char *comm, size_t len)
{
	static char path[128];
	char cmd[700];

	snprintf(comm, len, "idv%d%c", getpid(), tag);
	snprintf(path, sizeof(path), "/tmp/%s", comm);
	snprintf(cmd, sizeof(cmd), "cp %s %s", id_victim, path);
	assert_int_equal(system(cmd), 0);
	return path;
}

/* hits[0..2] (uprobe, sys_enter, profile) through the pinned map */
static void read_hits(bool kernel, uint64_t h[3])
{
	struct proc p;

	memset(h, 0, 3 * sizeof(h[0]));
	assert_int_equal(RUN(&p, kernel, loader_bin, "value", path_of("hits")), 0);
	assert_int_equal(
		sscanf(p.obuf, "value %" SCNu64 " %" SCNu64 " %" SCNu64, &h[0], &h[1], &h[2]), 3);
}

/* the same straight from the segment (no process started: the live case
 * polls it) */
static void seg_hits(uint64_t h[3])
{
	int fd = bpftime_obj_get(test_shm, path_of("hits"), -1);

	assert_true(fd >= 0);
	for (uint32_t k = 0; k < 3; k++)
		assert_int_equal(bpftime_map_lookup_elem(test_shm, fd, &k, &h[k], 0), 0);
	bpftime_handler_close(test_shm, fd);
}

/* the links pinned under the run's directory: how many, and how many of
 * them some slot still names (an fd of a process) */
static void links_pinned(struct bpftime_shm *shm, int *links, int *with_slot)
{
	char path[BPFTIME_PIN_PATH_MAX];

	*links = *with_slot = 0;
	for (int i = 0; i < BPFTIME_MAX_PINS; i++) {
		enum bpftime_handler_type type;
		uint32_t id, mode;

		if (bpftime_obj_pin_at(shm, i, path, sizeof(path)) < 0 ||
		    strncmp(path, pin_dir, strlen(pin_dir)) ||
		    bpftime_bpffs_lookup(shm, path, &type, &id, &mode) ||
		    type != BPFTIME_HANDLER_LINK)
			continue;
		(*links)++;
		*with_slot += bpftime_handler_fd_by_id(shm, id) >= 0;
	}
}

/* the link pins the loader made: its "pinned NAME..." line */
static char link_names[8][32];
static int n_link_names;

static void note_links(const char *out)
{
	const char *s = strstr(out, "pinned ");
	int n;

	assert_non_null(s);
	s += 7;
	for (n_link_names = 0;
	     n_link_names < 8 && sscanf(s, "%31s%n", link_names[n_link_names], &n) == 1; s += n)
		n_link_names++;
	assert_true(n_link_names >= 3);
}

/* rm of the link pins */
static void rm_links(bool kernel)
{
	const char *argv[16] = { "rm" };
	char paths[8][512];
	struct proc p;

	for (int i = 0; i < n_link_names; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s", path_of(link_names[i]));
		argv[i + 1] = paths[i];
	}
	argv[n_link_names + 1] = NULL;
	assert_int_equal(run(&p, kernel, argv), 0);
}

/* run_cnt and run_time_ns of the program the link pinned at @rel holds
 * (no fd names either: by id) */
static void link_prog_stats(struct bpftime_shm *shm, const char *rel, uint64_t *cnt, uint64_t *ns)
{
	enum bpftime_handler_type type;
	struct bpftime_link_info li;
	struct bpftime_prog_info pi;
	uint32_t id, mode;
	int fd;

	assert_int_equal(bpftime_bpffs_lookup(shm, path_of(rel), &type, &id, &mode), 0);
	assert_int_equal(bpftime_link_get_info_by_id(shm, id, &li), 0);
	fd = bpftime_handler_open_id(shm, li.prog_id, -1);
	assert_true(fd >= 0);
	assert_int_equal(bpftime_prog_get_info(shm, fd, &pi), 0);
	bpftime_handler_close(shm, fd);
	*cnt = pi.run_cnt;
	*ns = pi.run_time_ns;
}

struct pinall {
	uint64_t runs[3], run_ns[3]; /* bpftime: the programs' run statistics */
	uint64_t hits[3];	     /* after the victim ran */
	uint64_t after[3];	     /* after the pins went and a second victim ran */
	int links, with_slot;
};

/* The loader pins a uprobe, a sys_enter_clock_nanosleep and a profile link
 * (one per CPU), closes every link fd and exits; a victim started
 * afterwards (under `bpftime start` for bpftime) makes 5 calls and sleeps,
 * and burns 200 ms of CPU.  Then the link pins go (rm) and a second victim
 * runs: nothing counts.  Returns false if the kernel cannot. */
static bool pinall_at_start(bool kernel, struct pinall *r)
{
	char comm[32];
	const char *victim = victim_copy(kernel ? 'k' : 'b', comm, sizeof(comm));
	struct bpftime_shm *shm = NULL;
	struct proc p;

	memset(r, 0, sizeof(*r));
	if (RUN(&p, kernel, loader_bin, "pinall", pinall_obj, victim, "target_func", comm,
		pin_dir)) {
		unlink(victim);
		if (kernel)
			return false;
		fail_msg("the loader failed: %s", p.ebuf);
	}
	note_links(p.obuf);
	if (!kernel) {
		shm = bpftime_shm__open(NULL);
		assert_non_null(shm);
		links_pinned(shm, &r->links, &r->with_slot);
		/* run statistics on, as a BPF_ENABLE_STATS fd held meanwhile */
		bpftime_shm__stats_enable(shm, true);
	}
	for (int round = 0; round < 2; round++) {
		if (kernel) {
			assert_int_equal(RUN(&p, true, victim, "5", "200"), 0);
		} else {
			const char *a[] = { guard_bin, bpftime_bin, "start", victim,
					    "5",       "200",	    NULL };

			spawn(&p, a, false);
			assert_int_equal(proc_wait(&p), 0);
			assert_null(strstr(p.ebuf, "is not attached"));
		}
		assert_non_null(strstr(p.obuf, "victim: 5 calls"));
		read_hits(kernel, round ? r->after : r->hits);
		if (!round && shm) {
			for (int k = 0; k < 3; k++)
				link_prog_stats(shm, link_names[k], &r->runs[k], &r->run_ns[k]);
			bpftime_shm__stats_enable(shm, false);
			bpftime_shm__close(shm);
			shm = NULL;
		}
		if (!round)
			rm_links(kernel);
	}
	assert_int_equal(RUN(&p, kernel, "rm", path_of("hits")), 0);
	RUN(&p, kernel, "rmdir", pin_dir);
	unlink(victim);
	return true;
}

/* A pinned `interval`-style timer link outlives its loader in the kernel
 * (the kernel keeps running it); bpftime runs such timers in the loader, so
 * the loader's exit says that this one stops (no silent stop). */
static void test_pinned_interval_link_warns(void **state)
{
	struct proc p;

	(void)state;
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("interval", "a");
	assert_int_equal(RUN(&p, false, loader_bin, "interval", pinall_obj, pin_dir), 0);
	assert_non_null(strstr(p.obuf, "pinned interval"));
	if (!strstr(p.ebuf, "pinned timed perf event link") || !strstr(p.ebuf, "stops running now"))
		fail_msg("no warning at the loader's exit: %s", p.ebuf);
	assert_int_equal(RUN(&p, false, "rm", path_of("interval")), 0);
	RUN(&p, false, "rmdir", pin_dir);
}

static struct pinall pinall_ours;

static void test_pinned_closed_links(void **state)
{
	struct pinall *r = &pinall_ours;

	(void)state;
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("pinall", "a");
	assert_true(pinall_at_start(false, r));
	printf("bpftime: links %d (with a slot %d), hits %" PRIu64 " %" PRIu64 " %" PRIu64
	       ", after rm %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
	       r->links, r->with_slot, r->hits[0], r->hits[1], r->hits[2], r->after[0], r->after[1],
	       r->after[2]);
	/* uprobe, systp and one profile link per CPU; no fd holds any */
	assert_true(r->links >= 3);
	assert_int_equal(r->with_slot, 0);
	assert_int_equal(r->hits[0], 5);
	assert_int_equal(r->hits[1], 5);
	assert_true(r->hits[2] > 0);
	/* rm of the pins detached them: the second victim counted nothing */
	assert_memory_equal(r->after, r->hits, sizeof(r->hits));
	/* every run was counted (BPF_ENABLE_STATS), and each counted once.
	 * Profile: at least every counted sample; CI saw 202 runs for 200
	 * counted samples once (not reproduced in 8 runs with the program
	 * also counting non-target runs apart: none seen; open, in the
	 * session 7 note) */
	printf("run_cnt %" PRIu64 " %" PRIu64 " %" PRIu64 ", run_time_ns %" PRIu64 " %" PRIu64
	       " %" PRIu64 "\n",
	       r->runs[0], r->runs[1], r->runs[2], r->run_ns[0], r->run_ns[1], r->run_ns[2]);
	assert_int_equal(r->runs[0], r->hits[0]);
	assert_int_equal(r->runs[1], r->hits[1]);
	assert_true(r->runs[2] >= r->hits[2]);
	for (int k = 0; k < 3; k++)
		assert_true(r->run_ns[k] > 0);
}

static void test_pinned_closed_links_kernel(void **state)
{
	const char *why = kernel_ns();
	struct pinall k;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("pinall_k", "a");
	if (!pinall_at_start(true, &k))
		TEST_SKIP("the kernel cannot attach the programs here");
	printf("kernel: hits %" PRIu64 " %" PRIu64 " %" PRIu64 ", after rm %" PRIu64 " %" PRIu64
	       " %" PRIu64 "\n",
	       k.hits[0], k.hits[1], k.hits[2], k.after[0], k.after[1], k.after[2]);
	assert_int_equal(k.hits[0], pinall_ours.hits[0]);
	assert_int_equal(k.hits[1], pinall_ours.hits[1]);
	assert_true(k.hits[2] > 0);
	assert_int_equal(k.after[0], k.hits[0]);
	assert_int_equal(k.after[1], k.hits[1]);
	/* the kernel frees a link whose last pin went from a work queue: a
	 * sample of the next process may still land meanwhile */
	assert_true(k.after[2] - k.hits[2] <= 2);
}

/* sends @cmd to the interactive victim and waits for its "done" */
static void victim_do(struct proc *v, const char *cmd)
{
	size_t had = v->olen;
	ssize_t n = (ssize_t)strlen(cmd);

	assert_int_equal(write(v->in, cmd, (size_t)n), n);
	for (int waited = 0; !memmem(v->obuf + had, v->olen - had, "done\n", 5); waited += 10) {
		if (waited > STUCK_MS || v->out_eof)
			fail_msg("the victim did not answer '%s': %s", cmd, v->ebuf);
		pump(v, 10);
	}
}

/* repeats @cmd until hits[@k] moved (@moving) or stopped moving */
static void until(struct proc *v, const char *cmd, int k, bool moving, const char *what)
{
	uint64_t before[3], now[3];

	for (int i = 0;; i++) {
		seg_hits(before);
		victim_do(v, cmd);
		seg_hits(now);
		if ((now[k] != before[k]) == moving)
			return;
		if (i > 2000)
			fail_msg("%s: hits[%d] stays %" PRIu64, what, k, now[k]);
	}
}

/* The same links made and removed while the victim runs: the agent
 * attaches them when they appear with no fd left (live), counts exactly
 * once they are attached, and detaches them when their pins go. */
static void test_pinned_closed_links_live(void **state)
{
	char comm[32];
	const char *victim;
	uint64_t base[3], now[3];
	struct proc v, p;

	(void)state;
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("pinlive", "v");
	{
		BPFTIME_OPTS(bpftime_shm_opts, so);

		test_shm = bpftime_shm__create(&so);
		assert_non_null(test_shm);
	}
	victim = victim_copy('v', comm, sizeof(comm));
	{
		const char *a[] = { guard_bin, bpftime_bin, "start", victim, "-i", NULL };

		spawn(&v, a, true);
	}
	victim_do(&v, "c 3\n"); /* running, nothing attached */
	if (RUN(&p, false, loader_bin, "pinall", pinall_obj, victim, "target_func", comm, pin_dir))
		fail_msg("the loader failed: %s", p.ebuf);
	note_links(p.obuf);
	/* each link is attached by the sync of an epoch the loader bumped */
	until(&v, "c 1\n", 0, true, "uprobe link attached");
	until(&v, "c 1\n", 1, true, "sys_enter link attached");
	until(&v, "b 20\n", 2, true, "profile link attached");
	seg_hits(base);
	victim_do(&v, "c 5\n");
	victim_do(&v, "b 100\n");
	seg_hits(now);
	printf("live: +%" PRIu64 " +%" PRIu64 " +%" PRIu64 "\n", now[0] - base[0], now[1] - base[1],
	       now[2] - base[2]);
	assert_int_equal(now[0] - base[0], 5);
	assert_int_equal(now[1] - base[1], 5);
	/* 100 ms of CPU time at a 1 ms period: about 100 samples, as the
	 * kernel's cpu-clock takes (a quarter of them before the agent
	 * counted the CPU timer's overruns: it is checked at the tick) */
	assert_true(now[2] - base[2] >= 75);

	rm_links(false);
	until(&v, "c 1\n", 0, false, "uprobe link detached");
	until(&v, "c 1\n", 1, false, "sys_enter link detached");
	until(&v, "b 20\n", 2, false, "profile link detached");
	seg_hits(base);
	victim_do(&v, "c 5\n");
	victim_do(&v, "b 100\n");
	seg_hits(now);
	assert_memory_equal(now, base, sizeof(now));

	close(v.in);
	v.in = -1;
	assert_int_equal(proc_wait(&v), 0);
	assert_null(strstr(v.ebuf, "is not attached"));
	assert_int_equal(RUN(&p, false, "rm", path_of("hits")), 0);
	RUN(&p, false, "rmdir", pin_dir);
	unlink(victim);
}

/* ---- run statistics of hook runs ------------------------------------------------ */

static const char *jfield(const char *j, const char *key, char *out, size_t len);

struct hook_stats {
	unsigned long long show_cnt, show_ns; /* bpftool prog show after the first victim */
	unsigned long long cnt;		      /* the loader's own reading at the end */
	int timed;
};

/* runs @victim CALLS 0 to the end (under `bpftime start` for bpftime) */
static void run_victim(bool kernel, const char *victim, const char *calls)
{
	struct proc p;

	if (kernel) {
		assert_int_equal(RUN(&p, true, victim, calls, "0"), 0);
	} else {
		const char *a[] = { guard_bin, bpftime_bin, "start", victim, calls, "0", NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
	}
}

/* The loader turns statistics on (BPF_ENABLE_STATS) and attaches a uprobe;
 * a victim makes 5 calls; bpftool shows the program; the stats fd closes;
 * a second victim makes 5 more calls; the loader reads its counters.
 * Returns false if the kernel cannot. */
static bool hook_stats(bool kernel, struct hook_stats *r)
{
	char comm[32], v[64], id[16];
	const char *victim = victim_copy(kernel ? 'K' : 'S', comm, sizeof(comm));
	const char *const la[] = { loader_bin, "statlink", probe_obj, victim, "target_func", NULL };
	unsigned int prog_id = 0;
	struct proc l, p;
	const char *s;

	memset(r, 0, sizeof(*r));
	start(&l, kernel, la, true);
	for (int waited = 0; !(s = strstr(l.obuf, "ready ")); waited += 10) {
		if (l.out_eof || waited > STUCK_MS) {
			close(l.in);
			l.in = -1;
			proc_wait(&l);
			unlink(victim);
			if (kernel)
				return false;
			fail_msg("the loader failed: %s", l.ebuf);
		}
		pump(&l, 10);
	}
	expect_out(&l, "\n");
	assert_int_equal(sscanf(s, "ready %u", &prog_id), 1);
	run_victim(kernel, victim, "5");
	if (bpftool_bin) {
		snprintf(id, sizeof(id), "%u", prog_id);
		assert_int_equal(RUN(&p, kernel, bpftool_bin, "-j", "prog", "show", "id", id), 0);
		r->show_cnt = strtoull(jfield(p.obuf, "run_cnt", v, sizeof(v)), NULL, 10);
		r->show_ns = strtoull(jfield(p.obuf, "run_time_ns", v, sizeof(v)), NULL, 10);
	}
	assert_int_equal(write(l.in, "off\n", 4), 4);
	expect_out(&l, "off\n");
	run_victim(kernel, victim, "5");
	close(l.in);
	l.in = -1;
	assert_int_equal(proc_wait(&l), 0);
	s = strstr(l.obuf, "run_cnt ");
	assert_non_null(s);
	assert_int_equal(sscanf(s, "run_cnt %llu timed %d", &r->cnt, &r->timed), 2);
	unlink(victim);
	return true;
}

static int read_sysctl_stats(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "re");
	int c = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	return c == '1';
}

/* bpftime: the agent's uprobe runs are counted while a BPF_ENABLE_STATS fd
 * is open, as the kernel's, and bpftool shows them.  The agent's hooks do
 * not follow kernel.bpf_stats_enabled (agent/agent.c says why); the test's
 * private mount namespace shows its processes a 0 there all the same, so
 * the result does not depend on the host either way. */
static void test_hook_stats(void **state)
{
	const char *why = kernel_ns();
	char zero[96];
	struct hook_stats r;
	int host;
	FILE *f;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace: %s", why);
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	host = read_sysctl_stats();
	snprintf(zero, sizeof(zero), "/tmp/bpftime_id_%d.sysctl", getpid());
	f = fopen(zero, "w");
	assert_non_null(f);
	fputs("0\n", f);
	fclose(f);
	if (mount(zero, "/proc/sys/kernel/bpf_stats_enabled", NULL, MS_BIND, NULL)) {
		unlink(zero);
		if (host)
			TEST_SKIP("kernel.bpf_stats_enabled is 1 and cannot be hidden: %s",
				  strerror(errno));
	}
	shm_for_test("hstats", "s");
	hook_stats(false, &r);
	umount2("/proc/sys/kernel/bpf_stats_enabled", MNT_DETACH);
	unlink(zero);
	printf("bpftime: bpftool run_cnt %llu run_time_ns %llu; at the end run_cnt %llu timed %d\n",
	       r.show_cnt, r.show_ns, r.cnt, r.timed);
	if (bpftool_bin) {
		assert_int_equal(r.show_cnt, 5);
		assert_true(r.show_ns > 0);
	}
	/* the second victim ran with the fd closed: not counted */
	assert_int_equal(r.cnt, 5);
	assert_int_equal(r.timed, 1);
}

static void test_hook_stats_kernel(void **state)
{
	const char *why = kernel_ns();
	struct hook_stats k;
	int before;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!victim_bin)
		TEST_SKIP("no agent or victim in this build");
	shm_for_test("hstats_k", "s");
	before = read_sysctl_stats();
	if (!hook_stats(true, &k))
		TEST_SKIP("the kernel cannot attach the uprobe here");
	if (read_sysctl_stats() != before)
		TEST_SKIP("kernel.bpf_stats_enabled changed during the run (another test)");
	printf("kernel (bpf_stats_enabled %d): bpftool run_cnt %llu run_time_ns %llu; at the end "
	       "run_cnt %llu timed %d\n",
	       before, k.show_cnt, k.show_ns, k.cnt, k.timed);
	if (bpftool_bin) {
		assert_int_equal(k.show_cnt, 5);
		assert_true(k.show_ns > 0);
	}
	/* the kernel counts the second victim's runs too when the sysctl is on */
	assert_int_equal(k.cnt, before ? 10 : 5);
	assert_int_equal(k.timed, 1);
}

/* ---- (b) bpffs and identity through the tools ------------------------------- */

/* the raw text of "key": in bpftool's one-line JSON @j, or "" */
static const char *jfield(const char *j, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *s;
	size_t n = 0;
	int depth = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	s = strstr(j, pat);
	out[0] = 0;
	if (!s)
		return out;
	for (s += strlen(pat); *s && n + 1 < len; s++) {
		if (*s == '[' || *s == '{')
			depth++;
		if ((*s == ']' || *s == '}') && depth-- == 0)
			break;
		if (*s == ',' && !depth)
			break;
		out[n++] = *s;
	}
	out[n] = 0;
	return out;
}

/* what one run of the sequence shows, normalised (ids, times and the
 * kernel's own entries out) */
struct seen {
	char text[16384];
	size_t len;
	unsigned int prog_id, counter_id, table_id;
};

static void note(struct seen *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void note(struct seen *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s->len += (size_t)vsnprintf(s->text + s->len, sizeof(s->text) - s->len, fmt, ap);
	va_end(ap);
	assert_true(s->len < sizeof(s->text));
}

/* ls output minus the kernel bpffs's own files (maps.debug, progs.debug) */
static void note_ls(struct seen *s, const char *what, const char *out)
{
	char line[512];

	note(s, "%s:", what);
	for (const char *l = out; *l;) {
		size_t n = strcspn(l, "\n");

		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		l += n + (l[n] ? 1 : 0);
		if (!line[0] || strstr(line, ".debug") || !strncmp(line, "total", 5))
			continue;
		if (line[0] == '-' || line[0] == 'd') { /* ls -l: mode and name */
			char mode[16], name[256];

			if (sscanf(line, "%15s %*s %*s %*s %*s %*s %*s %*s %255s", mode, name) == 2)
				note(s, " %s %s", mode, name);
		} else {
			note(s, " %s", line);
		}
	}
	note(s, "\n");
}

/* the fields of bpftool -j map/prog show that must agree with the kernel's */
static void note_json(struct seen *s, const char *what, const char *j, const char *const *keys)
{
	char v[512];

	note(s, "%s:", what);
	for (int i = 0; keys[i]; i++)
		note(s, " %s=%s", keys[i], jfield(j, keys[i], v, sizeof(v)));
	note(s, "\n");
}

/* fdinfo: the keys in order, and the values of those that name the object */
static void note_fdinfo(struct seen *s, const char *what, const char *out)
{
	static const char *const values[] = { "map_type",    "key_size",  "value_size",
					      "max_entries", "map_flags", "map_extra",
					      "frozen",	     "prog_type", "prog_jited",
					      "prog_tag",    NULL };
	char line[256], key[64], val[128];

	note(s, "%s:", what);
	for (const char *l = out; *l;) {
		size_t n = strcspn(l, "\n");
		bool show = false;

		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		l += n + (l[n] ? 1 : 0);
		if (!strncmp(line, "link ", 5)) {
			note(s, " %s", line);
			continue;
		}
		if (sscanf(line, "%63[^:]:%*[\t ]%127s", key, val) != 2)
			continue;
		for (int i = 0; values[i]; i++)
			show |= !strcmp(key, values[i]);
		note(s, show ? " %s=%s" : " %s", key, val);
	}
	note(s, "\n");
}

static void bpffs_sequence(bool kernel, struct seen *s)
{
	/* not bytes_xlated: the kernel's xlated code inlines map lookups */
	static const char *const prog_keys[] = { "type",	   "name",   "tag",
						 "gpl_compatible", "pinned", NULL };
	static const char *const map_keys[] = { "type",	     "name",	    "flags",
						"bytes_key", "bytes_value", "max_entries",
						"frozen",    "pinned",	    NULL };
	char v[256], want[64];
	struct proc p;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = RUN(&p, kernel, "mkdir", pin_dir);
	note(s, "mkdir %d\n", rc);
	rc = RUN(&p, kernel, bpftool_bin, "prog", "loadall", obj_path, path_of("progs"), "pinmaps",
		 path_of("maps"));
	note(s, "loadall %d\n", rc);
	if (rc) {
		note(s, "%s", p.ebuf);
		return;
	}
	RUN(&p, kernel, "ls", "-l", pin_dir);
	note_ls(s, "ls -l dir", p.obuf);
	RUN(&p, kernel, "ls", "-l", path_of("maps"));
	note_ls(s, "ls -l maps", p.obuf);
	RUN(&p, kernel, "ls", path_of("progs"));
	note_ls(s, "ls progs", p.obuf);
	RUN(&p, kernel, "stat", "-c", "%F %a %h", pin_dir, path_of("maps/counter"),
	    path_of("progs/id_count"));
	note(s, "stat %s", p.obuf);
	RUN(&p, kernel, "stat", "-f", "-c", "%T", path_of("maps"));
	note(s, "stat -f %s", p.obuf);

	/* identity: the objects by name, with their pins (-f) */
	RUN(&p, kernel, bpftool_bin, "-j", "-f", "prog", "show", "name", "id_count");
	note_json(s, "prog", p.obuf, prog_keys);
	s->prog_id = (unsigned int)atoi(jfield(p.obuf, "id", v, sizeof(v)));
	note(s, "prog map_ids %s btf %d\n", jfield(p.obuf, "map_ids", v, sizeof(v)),
	     !!*jfield(p.obuf, "btf_id", v, sizeof(v)));
	RUN(&p, kernel, bpftool_bin, "-j", "-f", "map", "show", "name", "counter");
	note_json(s, "counter", p.obuf, map_keys);
	s->counter_id = (unsigned int)atoi(jfield(p.obuf, "id", v, sizeof(v)));
	note(s, "counter btf %d\n", !!*jfield(p.obuf, "btf_id", v, sizeof(v)));
	RUN(&p, kernel, bpftool_bin, "-j", "map", "show", "name", "table");
	s->table_id = (unsigned int)atoi(jfield(p.obuf, "id", v, sizeof(v)));
	/* the map with BTF dumps (its btf_id is its BTF's) */
	rc = RUN(&p, kernel, bpftool_bin, "map", "dump", "pinned", path_of("maps/counter"));
	note(s, "dump %d %s", rc, strstr(p.obuf, "\"value\": 0") ? "zeros\n" : p.obuf);
	/* the program names its maps by id */
	RUN(&p, kernel, bpftool_bin, "prog", "dump", "xlated", "pinned", path_of("progs/id_count"));
	snprintf(want, sizeof(want), "map[id:%u]", s->counter_id);
	note(s, "xlated counter %d", !!strstr(p.obuf, want));
	snprintf(want, sizeof(want), "map[id:%u]", s->table_id);
	note(s, " table %d\n", !!strstr(p.obuf, want));

	/* our fds as /proc shows them */
	RUN(&p, kernel, loader_bin, "fdinfo", path_of("maps/counter"));
	note_fdinfo(s, "fdinfo map", p.obuf);
	RUN(&p, kernel, loader_bin, "fdinfo", path_of("progs/id_count"));
	note_fdinfo(s, "fdinfo prog", p.obuf);

	/* frozen, as bpftool reads it (fdinfo) */
	rc = RUN(&p, kernel, bpftool_bin, "map", "freeze", "pinned", path_of("maps/counter"));
	RUN(&p, kernel, bpftool_bin, "-j", "map", "show", "pinned", path_of("maps/counter"));
	note(s, "freeze %d frozen=%s\n", rc, jfield(p.obuf, "frozen", v, sizeof(v)));

	/* taking it apart */
	rc = RUN(&p, kernel, "rmdir", path_of("maps"));
	note(s, "rmdir full %d %s\n", rc, strstr(p.ebuf, "Directory not empty") ? "ENOTEMPTY" : "");
	rc = RUN(&p, kernel, "rm", path_of("maps/counter"));
	note(s, "rm %d\n", rc);
	RUN(&p, kernel, "ls", path_of("maps"));
	note_ls(s, "ls maps", p.obuf);
	rc = RUN(&p, kernel, "rm", path_of("maps/table"));
	note(s, "rm %d\n", rc);
	rc = RUN(&p, kernel, "rmdir", path_of("maps"));
	note(s, "rmdir %d\n", rc);
	rc = RUN(&p, kernel, "rmdir", path_of("progs/id_count"));
	note(s, "rmdir pin %d %s\n", rc, strstr(p.ebuf, "Not a directory") ? "ENOTDIR" : "");
	rc = RUN(&p, kernel, "rm", "-f", path_of("progs/id_count"));
	note(s, "rm %d\n", rc);
	rc = RUN(&p, kernel, "stat", path_of("progs/id_count"));
	note(s, "stat gone %d %s\n", rc, strstr(p.ebuf, "No such file") ? "ENOENT" : "");
	/* nothing holds the program and its maps any more: gone by id too */
	snprintf(v, sizeof(v), "%u", s->prog_id);
	rc = RUN(&p, kernel, bpftool_bin, "prog", "show", "id", v);
	note(s, "prog by id %d\n", rc);
	RUN(&p, kernel, "rmdir", path_of("progs"));
	rc = RUN(&p, kernel, "rmdir", pin_dir);
	note(s, "rmdir dir %d\n", rc);
	rc = RUN(&p, kernel, "ls", pin_dir);
	note(s, "ls gone %d\n", rc);
}

/* mkdir -p and rm -r of a tree with pins in it (coreutils: openat, fchdir,
 * fdopendir, dirfd, fstatat and unlinkat relative to directory fds) */
static void bpffs_tree_sequence(bool kernel, struct seen *s)
{
	struct proc p;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = RUN(&p, kernel, "mkdir", "-p", path_of("a/b/c"));
	note(s, "mkdir -p %d\n", rc);
	rc = RUN(&p, kernel, "mkdir", "-p", path_of("a/b"));
	note(s, "mkdir -p again %d\n", rc);
	rc = RUN(&p, kernel, "mkdir", path_of("a/b"));
	note(s, "mkdir again %d %s\n", rc, strstr(p.ebuf, "File exists") ? "EEXIST" : p.ebuf);
	rc = RUN(&p, kernel, loader_bin, "load", obj_path, path_of("a/b/prog"), path_of("a/m"));
	note(s, "pins %d\n", rc);
	if (rc)
		note(s, "%s", p.ebuf);
	RUN(&p, kernel, "ls", "-laR", pin_dir);
	note_ls(s, "ls -laR", p.obuf);
	/* a directory fd: cd into it, relative paths */
	rc = RUN(&p, kernel, "rmdir", path_of("a/b/c/../c"));
	note(s, "rmdir .. %d\n", rc);
	rc = RUN(&p, kernel, "stat", "-c", "%F %a", path_of("a/./b/prog"), path_of("a/b/.."));
	note(s, "stat %d %s", rc, p.obuf);
	rc = RUN(&p, kernel, "rm", "-r", path_of("a"));
	note(s, "rm -r %d\n", rc);
	rc = RUN(&p, kernel, "ls", "-a", pin_dir);
	note_ls(s, "ls after", p.obuf);
	rc = RUN(&p, kernel, "rm", "-r", pin_dir);
	note(s, "rm -r dir %d\n", rc);
	rc = RUN(&p, kernel, "ls", pin_dir);
	note(s, "ls gone %d\n", rc);
}

static struct seen tree_ours;

static void test_bpffs_tree(void **state)
{
	(void)state;
	shm_for_test("tree", "r");
	bpffs_tree_sequence(false, &tree_ours);
	fputs(tree_ours.text, stdout);
	assert_non_null(strstr(tree_ours.text,
			       "mkdir -p 0\nmkdir -p again 0\nmkdir again 1 EEXIST\n"
			       "pins 0\n"));
	assert_non_null(
		strstr(tree_ours.text, "rm -r 0\nls after: . ..\nrm -r dir 0\nls gone 2\n"));
}

static void test_bpffs_tree_kernel(void **state)
{
	const char *why = kernel_ns();
	struct seen k;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!tree_ours.len)
		TEST_SKIP("the bpftime run did not happen");
	shm_for_test("tree_k", "r");
	bpffs_tree_sequence(true, &k);
	if (!strstr(k.text, "pins 0\n"))
		TEST_SKIP("the kernel cannot load the program here: %s", k.text);
	fputs(k.text, stdout);
	assert_string_equal(tree_ours.text, k.text);
}

/* ---- trace_pipe consumes, trace does not ----------------------------------- */

/* the "idtp TAG SEQ" messages of @out whose tag is @tag, in order */
static void note_idtp(struct seen *s, const char *what, const char *out, const char *tag)
{
	note(s, "%s:", what);
	for (const char *l = out; (l = strstr(l, "idtp "));) {
		size_t n = strcspn(l, "\n");

		if (!strncmp(l + 5, tag, strlen(tag)) && l[5 + strlen(tag)] == ' ')
			note(s, " [%.*s]", (int)n, l);
		l += n;
	}
	note(s, "\n");
}

/* Lines printed by bpf_printk (a test-run XDP program) read through
 * trace_pipe by three readers in turn, and through trace (twice) between
 * them.  bpftime: /sys/kernel/tracing as `bpftime load` serves it; the
 * kernel: a tracing instance of this run with bpf_trace_printk enabled (no
 * other reader consumes from it; other runs' lines are told apart by the
 * tag, our pid).  Returns false if the kernel cannot. */
static bool trace_sequence(bool kernel, struct seen *s)
{
	char tag[16], pipe[192], trace[192], pat[32];
	const char *dir = "/sys/kernel/tracing";
	char obj[512];
	const char *slash = strrchr(probe_obj, '/');
	struct proc p;
	int rc;

	memset(s, 0, sizeof(*s));
	snprintf(obj, sizeof(obj), "%.*sidprintk.bpf.o", slash ? (int)(slash - probe_obj + 1) : 0,
		 probe_obj);
	snprintf(tag, sizeof(tag), "%d", getpid());
	snprintf(pat, sizeof(pat), "idtp %s ", tag);
	if (kernel) {
		char en[256];
		FILE *f;

		snprintf(trace_instance, sizeof(trace_instance),
			 "/sys/kernel/tracing/instances/bpftime_id_%d", getpid());
		if (mkdir(trace_instance, 0700))
			return false;
		snprintf(en, sizeof(en), "%s/events/bpf_trace/bpf_trace_printk/enable",
			 trace_instance);
		f = fopen(en, "w");
		if (!f || fputs("1\n", f) < 0 || fclose(f))
			return false;
		dir = trace_instance;
	}
	snprintf(pipe, sizeof(pipe), "%s/trace_pipe", dir);
	snprintf(trace, sizeof(trace), "%s/trace", dir);
	/* the trace ring lives in the segment: kept between the loaders, as
	 * the kernel's buffer is (the teardown removes it) */
	setenv("BPFTIME_KEEP_SHM", "1", 1);
	with_timeout = true;

	rc = RUN(&p, kernel, loader_bin, "printk", obj, tag, "0", "2");
	if (rc) {
		if (kernel)
			return false;
		fail_msg("the loader failed: %s", p.ebuf);
	}
	rc = RUN(&p, kernel, "grep", "-m", "2", pat, pipe);
	note(s, "A %d ", rc);
	note_idtp(s, "pipe", p.obuf, tag);
	assert_int_equal(RUN(&p, kernel, loader_bin, "printk", obj, tag, "2", "2"), 0);
	rc = RUN(&p, kernel, "grep", "-m", "2", pat, pipe);
	note(s, "B %d ", rc);
	note_idtp(s, "pipe", p.obuf, tag);
	assert_int_equal(RUN(&p, kernel, loader_bin, "printk", obj, tag, "4", "1"), 0);
	for (int i = 0; i < 2; i++) {
		rc = RUN(&p, kernel, "cat", trace);
		note(s, "trace %d %s ", rc, strncmp(p.obuf, "# tracer: nop\n#\n", 16) ? "" : "nop");
		note_idtp(s, "trace", p.obuf, tag);
	}
	rc = RUN(&p, kernel, "grep", "-m", "1", pat, pipe);
	note(s, "C %d ", rc);
	note_idtp(s, "pipe", p.obuf, tag);
	rc = RUN(&p, kernel, "cat", trace);
	note(s, "trace %d ", rc);
	note_idtp(s, "trace", p.obuf, tag);
	if (kernel) {
		rmdir(trace_instance);
		trace_instance[0] = 0;
	}
	with_timeout = false;
	unsetenv("BPFTIME_KEEP_SHM");
	return true;
}

static struct seen trace_ours;

static void test_trace_pipe(void **state)
{
	char want[256];

	(void)state;
	shm_for_test("tpipe", "p");
	assert_true(trace_sequence(false, &trace_ours));
	fputs(trace_ours.text, stdout);
	/* each line to one reader; trace shows the unconsumed ones */
	snprintf(want, sizeof(want),
		 "A 0 pipe: [idtp %d 0] [idtp %d 1]\nB 0 pipe: [idtp %d 2] [idtp %d 3]\n", getpid(),
		 getpid(), getpid(), getpid());
	assert_non_null(strstr(trace_ours.text, want));
	snprintf(want, sizeof(want), "C 0 pipe: [idtp %d 4]\ntrace 0 trace:\n", getpid());
	assert_non_null(strstr(trace_ours.text, want));
}

static void test_trace_pipe_kernel(void **state)
{
	const char *why = kernel_ns();
	struct seen k;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace: %s", why);
	if (!trace_ours.len)
		TEST_SKIP("the bpftime run did not happen");
	shm_for_test("tpipe_k", "p");
	if (!trace_sequence(true, &k))
		TEST_SKIP("no tracing instance with bpf_trace_printk here, or the kernel cannot "
			  "test-run the program: %s",
			  strerror(errno));
	fputs(k.text, stdout);
	assert_string_equal(trace_ours.text, k.text);
}

static struct seen seen_ours;

static void test_bpffs_tools(void **state)
{
	struct seen *s = &seen_ours;
	char want[128];

	(void)state;
	if (!bpftool_bin)
		TEST_SKIP("no bpftool for this build (none here, or the sanitizer build: bpftool "
			  "loops "
			  "under the ASan runtime)");
	shm_for_test("bpffs", "b");
	bpffs_sequence(false, s);
	fputs(s->text, stdout);
	/* what the kernel gives (and checked against it below when it can) */
	assert_non_null(strstr(s->text, "mkdir 0\nloadall 0\n"));
	assert_non_null(strstr(s->text, "ls -l dir: drwx------ maps drwx------ progs\n"));
	assert_non_null(strstr(s->text, "ls -l maps: -rw------- counter -rw------- table\n"));
	assert_non_null(strstr(s->text, "ls progs: id_count\n"));
	assert_non_null(strstr(s->text, "stat directory 755 4\nregular empty file 600 1\n"
					"regular empty file 600 1\n"));
	assert_non_null(strstr(s->text, "stat -f bpf_fs\n"));
	snprintf(want, sizeof(want), "prog map_ids [%u,%u] btf 1\n", s->counter_id, s->table_id);
	assert_non_null(strstr(s->text, want));
	assert_non_null(strstr(s->text, "xlated counter 1 table 1\n"));
	assert_non_null(strstr(s->text, "fdinfo map: link anon_inode:bpf-map pos flags mnt_id ino "
					"map_type=2 key_size=4 value_size=8 max_entries=4 "
					"map_flags=0x0 map_extra=0x0 memlock map_id frozen=0\n"));
	assert_non_null(strstr(s->text, "fdinfo prog: link anon_inode:bpf-prog pos flags mnt_id "
					"ino prog_type=1 prog_jited=1 prog_tag="));
	assert_non_null(strstr(s->text, "freeze 0 frozen=1\n"));
	assert_non_null(strstr(s->text, "rmdir full 1 ENOTEMPTY\nrm 0\nls maps: table\n"));
	assert_non_null(strstr(s->text, "rmdir pin 1 ENOTDIR\n"));
	assert_non_null(strstr(s->text, "stat gone 1 ENOENT\nprog by id 255\nrmdir dir 0\n"
					"ls gone 2\n"));
}

/* the same sequence on the kernel: the same text, but for the ids */
static void test_bpffs_tools_kernel(void **state)
{
	const char *why = kernel_ns();
	struct seen k;
	char *a, *b;

	(void)state;
	if (why)
		TEST_SKIP("no private mount namespace with a bpffs: %s", why);
	if (!bpftool_bin)
		TEST_SKIP("no bpftool for this build (none here, or the sanitizer build: bpftool "
			  "loops "
			  "under the ASan runtime)");
	if (!seen_ours.len)
		TEST_SKIP("the bpftime run did not happen");
	shm_for_test("bpffs_k", "b");
	bpffs_sequence(true, &k);
	if (!strstr(k.text, "loadall 0\n"))
		TEST_SKIP("the kernel cannot load the program here: %s", k.text);
	fputs(k.text, stdout);
	/* ids differ: compare line by line with the map id lists out */
	a = strstr(seen_ours.text, "prog map_ids");
	b = strstr(k.text, "prog map_ids");
	assert_non_null(a);
	assert_non_null(b);
	assert_memory_equal(seen_ours.text, k.text, (size_t)(a - seen_ours.text));
	assert_int_equal(a - seen_ours.text, b - k.text);
	a = strchr(a, '\n');
	b = strchr(b, '\n');
	assert_string_equal(a, b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pinned_prog_other_loaders, cleanup),
		cmocka_unit_test_teardown(test_bpffs_tools, cleanup),
		cmocka_unit_test_teardown(test_bpffs_tree, cleanup),
		cmocka_unit_test_teardown(test_trace_pipe, cleanup),
		cmocka_unit_test_teardown(test_pinned_link, cleanup),
		cmocka_unit_test_teardown(test_pinned_systp_link, cleanup),
		cmocka_unit_test_teardown(test_pinned_closed_links, cleanup),
		cmocka_unit_test_teardown(test_pinned_closed_links_live, cleanup),
		cmocka_unit_test_teardown(test_pinned_interval_link_warns, cleanup),
		/* the kernel's runs last: they move this process into its own
		 * mount namespace */
		cmocka_unit_test_teardown(test_pinned_prog_kernel, cleanup),
		cmocka_unit_test_teardown(test_bpffs_tools_kernel, cleanup),
		cmocka_unit_test_teardown(test_bpffs_tree_kernel, cleanup),
		cmocka_unit_test_teardown(test_trace_pipe_kernel, cleanup),
		cmocka_unit_test_teardown(test_pinned_link_kernel, cleanup),
		cmocka_unit_test_teardown(test_pinned_closed_links_kernel, cleanup),
		cmocka_unit_test_teardown(test_hook_stats, cleanup),
		cmocka_unit_test_teardown(test_hook_stats_kernel, cleanup),
	};

	if (argc < 8) {
		fprintf(stderr,
			"usage: identity_test BPFTIME GUARD ID_LOADER IDPROG_OBJ IDPROBE_OBJ "
			"VICTIM|none BPFTOOL|none\n");
		return 2;
	}
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	loader_bin = argv[3];
	obj_path = argv[4];
	probe_obj = argv[5];
	victim_bin = strcmp(argv[6], "none") ? argv[6] : NULL;
	bpftool_bin = strcmp(argv[7], "none") ? argv[7] : NULL;
	{
		const char *slash = strrchr(probe_obj, '/');

		snprintf(pinall_obj, sizeof(pinall_obj), "%.*sidpinall.bpf.o",
			 slash ? (int)(slash - probe_obj + 1) : 0, probe_obj);
		slash = strrchr(loader_bin, '/');
		snprintf(id_victim, sizeof(id_victim), "%.*sid_victim",
			 slash ? (int)(slash - loader_bin + 1) : 0, loader_bin);
	}
	signal(SIGPIPE, SIG_IGN);
	remove_stale_segments("bpftime_id_");
	return TEST_RUN(tests, NULL, NULL);
}
