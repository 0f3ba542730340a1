/* SPDX-License-Identifier: MIT */
/* tests/e2e/e2e_test.c: the example loaders and syscall_checks run for real
 * under `bpftime load`, inside seccomp_guard (the kernel's bpf() and
 * perf_event_open() fail with EPERM), and the test inspects what they left
 * in the shared memory through the public shm/map API: programs, maps, perf
 * events, links, global variables, and records pushed through ring buffers
 * and perf buffers to the loaders' libbpf consumers.  Each test uses its own
 * segment name.
 *
 *   e2e_test BPFTIME GUARD EXAMPLES_DIR SYSCALL_CHECKS SERVER [BPFTIMETOOL|none [BPFTOOL|none]]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *bpftime_bin, *guard_bin, *examples, *checks_bin, *server_path, *tool_bin,
	*bpftool_bin;
static char victim[4096];

/* the kernel's copy of an object, pinned while it is dumped (the teardown
 * removes the pin if a check fails first) */
static char kernel_pin[128];
/* a second segment a test made (removed by the teardown if still there) */
static char second_shm[96];

/* cmocka runs this after each test, passed or failed */
static int cleanup(void **state)
{
	(void)state;
	kill_live();
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	unsetenv("BPFTIME_E2E_USERSPACE");
	if (kernel_pin[0]) {
		unlink(kernel_pin);
		kernel_pin[0] = 0;
	}
	if (second_shm[0]) {
		bpftime_shm__remove(second_shm);
		second_shm[0] = 0;
	}
	return 0;
}

static struct bpftime_shm *shm_for_test(const char *name)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "bpftime_e2e_%d_%s", getpid(), name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", buf, 1);
	bpftime_shm__remove(NULL);
	return NULL;
}

static struct bpftime_shm *shm_open_now(void)
{
	struct bpftime_shm *shm = bpftime_shm__open(NULL);

	assert_non_null(shm);
	return shm;
}

static void shm_done(struct bpftime_shm *shm)
{
	bpftime_shm__close(shm);
	bpftime_shm__remove(NULL);
}

static int count_handlers(struct bpftime_shm *shm, enum bpftime_handler_type type)
{
	int n = 0;

	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		if (type == BPFTIME_HANDLER_NONE || bpftime_handler_get_type(shm, fd) == type)
			n++;
	return n;
}

/* the fd of the handler of @type whose name ends with @suffix, or -1 */
static int find_named(struct bpftime_shm *shm, enum bpftime_handler_type type, const char *suffix)
{
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_handler_info hi;
		size_t n, s = strlen(suffix);

		if (bpftime_handler_get_info(shm, fd, &hi) || hi.type != type)
			continue;
		n = strlen(hi.name);
		if (n >= s && !strcmp(hi.name + n - s, suffix))
			return fd;
	}
	return -1;
}

static int find_perf(struct bpftime_shm *shm, int type, struct bpftime_perf_event_info *pi)
{
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		if (!bpftime_perf_event_get_info(shm, fd, pi) && pi->type == type)
			return fd;
	return -1;
}

/* the link from @prog to @target exists */
static bool linked(struct bpftime_shm *shm, int prog, int target)
{
	struct bpftime_link_info li;

	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		if (!bpftime_link_get_info(shm, fd, &li) && li.prog_fd == prog &&
		    li.target_fd == target)
			return true;
	return false;
}

static void load_args(const char **argv, const char *example, ...)
{
	static char path[4096];
	va_list ap;
	int i = 0;

	snprintf(path, sizeof(path), "%s/%s/%s", examples, example, example);
	argv[i++] = guard_bin;
	argv[i++] = bpftime_bin;
	argv[i++] = "load";
	argv[i++] = path;
	va_start(ap, example);
	while ((argv[i++] = va_arg(ap, const char *)))
		;
	va_end(ap);
}

static void stop(struct proc *p, int want)
{
	kill(p->pid, SIGTERM); /* bpftime forwards it to the loader */
	assert_int_equal(proc_wait(p), want);
}

/* the guard works: without bpftime the loader cannot load anything */
static void test_guard_blocks_kernel(void **state)
{
	char path[4096];
	const char *argv[] = { guard_bin, path, "-n", "0", NULL };
	struct proc p;

	(void)state;
	snprintf(path, sizeof(path), "%s/malloc/malloc", examples);
	spawn(&p, argv, false);
	assert_int_not_equal(proc_wait(&p), 0);
	assert_non_null(strstr(p.ebuf, "cannot load"));
}

static void test_malloc_example(void **state)
{
	const char *argv[16];
	struct bpftime_map_info mi;
	struct bpftime_prog_info pi;
	struct bpftime_perf_event_info pe;
	struct bpftime_handler_info hi;
	struct bpftime_shm *shm;
	struct proc p;
	int map, prog, perf;

	(void)state;
	shm_for_test("malloc");
	load_args(argv, "malloc", "-i", "100", NULL);
	spawn(&p, argv, false);
	expect_out(&p, "ready\n");
	shm = shm_open_now();
	map = find_named(shm, BPFTIME_HANDLER_MAP, "counts");
	prog = find_named(shm, BPFTIME_HANDLER_PROG, "count_malloc");
	assert_true(map >= 0 && prog >= 0);
	assert_int_equal(bpftime_map_get_info(shm, map, &mi), 0);
	assert_int_equal(mi.type, BPFTIME_MAP_HASH);
	assert_int_equal(mi.key_size, 4);
	assert_int_equal(mi.value_size, 8);
	assert_int_equal(mi.max_entries, 1024);
	assert_int_equal(bpftime_prog_get_info(shm, prog, &pi), 0);
	assert_int_equal(pi.type, 2 /* BPF_PROG_TYPE_KPROBE */);
	assert_string_equal(pi.license, "GPL");
	assert_true(pi.insn_cnt > 10);
	perf = find_perf(shm, BPFTIME_PERF_TYPE_UPROBE, &pe);
	assert_true(perf >= 0);
	assert_non_null(strstr(pe.module, "libc.so"));
	assert_true(pe.offset > 0);
	assert_int_equal(pe.pid, -1);
	assert_true(linked(shm, prog, perf));
	assert_int_equal(bpftime_handler_get_info(shm, prog, &hi), 0);
	assert_true(hi.owner_pid > 0 && hi.owner_pid != p.pid);
	/* the server never writes to the loader's stdout */
	assert_null(strstr(p.obuf, "bpftime"));
	assert_non_null(strstr(p.ebuf, "bpftime-syscall-server started"));
	stop(&p, 0);
	/* the loader is gone: so are its objects */
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

static void test_exit_code_and_children(void **state)
{
	const char *argv1[] = { guard_bin, bpftime_bin, "load", "/bin/sh", "-c", "exit 7", NULL };
	const char *argv2[] = { guard_bin, bpftime_bin, "load",
				"/bin/sh", "-c",	"/bin/sh -c 'echo preload=[$LD_PRELOAD]'",
				NULL };
	const char *argv3[] = { guard_bin, bpftime_bin, "load", "--spdlog-level",
				"bogus",   "/bin/true", NULL };
	struct proc p;

	(void)state;
	shm_for_test("exit");
	spawn(&p, argv1, false);
	assert_int_equal(proc_wait(&p), 7);
	spawn(&p, argv2, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_null(strstr(p.obuf, "syscall-server"));
	assert_non_null(strstr(p.obuf, "preload=["));
	spawn(&p, argv3, false);
	assert_int_not_equal(proc_wait(&p), 0);
	assert_non_null(strstr(p.ebuf, "bogus"));
	bpftime_shm__remove(NULL);
}

/* the options reach the loader's environment; --memory-size sizes a new
 * segment; -i names where the server is */
static void test_load_options(void **state)
{
	char dir[4096];
	const char *argv1[] = {
		guard_bin,
		bpftime_bin,
		"load",
		"--memory-size=8",
		"--no-jit",
		"--spdlog-level",
		"err",
		"--keep-shm",
		"/bin/sh",
		"-c",
		"echo env=[$BPFTIME_SHM_MEMORY_MB][$BPFTIME_DISABLE_JIT][$SPDLOG_LEVEL]"
		"[$BPFTIME_USED][$BPFTIME_KEEP_SHM]",
		NULL
	};
	/* the last loader leaving an empty segment removes it */
	const char *argv0[] = { guard_bin, bpftime_bin, "load", "/bin/true", NULL };
	char shm_path[128];
	const char *argv2[] = { guard_bin, bpftime_bin, "-i", "/nonexistent",
				"load",	   "/bin/true", NULL };
	const char *argv3[] = { guard_bin, bpftime_bin, "-i", dir, "load", "/bin/true", NULL };
	struct bpftime_shm *shm;
	struct proc p;
	char *slash;

	(void)state;
	shm_for_test("options");
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", getenv("BPFTIME_GLOBAL_SHM_NAME"));
	spawn(&p, argv0, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_int_equal(access(shm_path, F_OK), -1);
	spawn(&p, argv1, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_non_null(strstr(p.obuf, "env=[8][1][err][1][1]"));
	/* the quiet level held: not even the start line */
	assert_null(strstr(p.ebuf, "bpftime-syscall-server started"));
	shm = shm_open_now();
	assert_int_equal(bpftime_shm__size(shm), 8u << 20);
	shm_done(shm);
	spawn(&p, argv2, false);
	assert_int_equal(proc_wait(&p), 1);
	assert_non_null(strstr(p.ebuf, "/nonexistent"));
	/* the server of this build, named by its directory */
	snprintf(dir, sizeof(dir), "%s", server_path);
	slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = 0;
	spawn(&p, argv3, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_non_null(strstr(p.ebuf, "bpftime-syscall-server started"));
	bpftime_shm__remove(NULL);
}

/* `bpftime load --shm-group GROUP`: a segment another user of GROUP may
 * use (a service traced by root's loader), and only when it names that
 * group too (the owner checks of shm/, branch harden) */
static void test_shm_group(void **state)
{
	const char *argv[] = { guard_bin,    bpftime_bin, "load", "--shm-group=nogroup",
			       "--keep-shm", "/bin/true", NULL };
	struct group *gr = getgrnam("nogroup");
	struct passwd *pw = getpwnam("nobody");
	char shm_path[128];
	struct stat st;
	struct proc p;

	(void)state;
	if (!gr || !pw || geteuid() != 0)
		TEST_SKIP("needs root, the user nobody and the group nogroup");
	shm_for_test("group");
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", getenv("BPFTIME_GLOBAL_SHM_NAME"));
	spawn(&p, argv, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_int_equal(stat(shm_path, &st), 0);
	if (!(st.st_mode & 0070)) {
		bpftime_shm__remove(NULL);
		TEST_SKIP("BPFTIME_SHM_GROUP is not implemented by shm/ in this build");
	}
	assert_int_equal(st.st_gid, gr->gr_gid);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* a process of user nobody, group nogroup: it may open the segment when
	 * it names the group, and is refused when it does not */
	for (int named = 0; named < 2; named++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct bpftime_shm *shm;

			if (setgroups(0, NULL) || setgid(gr->gr_gid) || setuid(pw->pw_uid))
				_exit(3);
			if (named)
				setenv("BPFTIME_SHM_GROUP", "nogroup", 1);
			else
				unsetenv("BPFTIME_SHM_GROUP");
			shm = bpftime_shm__open(NULL);
			_exit(shm ? 0 : errno == EPERM || errno == EACCES ? 1 : 2);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), named ? 0 : 1);
	}
	bpftime_shm__remove(NULL);
}

struct uret_event {
	unsigned int pid, tid;
	long long ret;
	unsigned long long seq;
};

static void test_uretprobe_ringbuf(void **state)
{
	const char *argv[16];
	struct bpftime_perf_event_info pe;
	struct bpftime_map_info mi;
	struct bpftime_shm *shm;
	struct bpftime_map *h;
	struct proc p;
	int map, prog, perf;
	char line[64];

	(void)state;
	shm_for_test("uret");
	load_args(argv, "uretprobe", "-i", "50", victim, NULL);
	spawn(&p, argv, false);
	expect_out(&p, "ready\n");
	shm = shm_open_now();
	map = find_named(shm, BPFTIME_HANDLER_MAP, "events");
	prog = find_named(shm, BPFTIME_HANDLER_PROG, "on_return");
	perf = find_perf(shm, BPFTIME_PERF_TYPE_URETPROBE, &pe);
	assert_true(map >= 0 && prog >= 0 && perf >= 0);
	assert_string_equal(pe.module, victim);
	assert_true(pe.offset > 0);
	assert_true(linked(shm, prog, perf));
	assert_int_equal(bpftime_map_get_info(shm, map, &mi), 0);
	assert_int_equal(mi.type, BPFTIME_MAP_RINGBUF);
	/* be the program: 300 records through the ring the loader polls */
	h = bpftime_map_get_handle(shm, map);
	assert_non_null(h);
	for (int i = 0; i < 300; i++) {
		struct uret_event e = { 1, 2, 1000 + i, (unsigned long long)i };

		while (bpftime_map__ringbuf_output(h, &e, sizeof(e), 0) == -EAGAIN ||
		       bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA) > 32 * 1024)
			pump(&p, 10); /* let the consumer catch up */
	}
	expect_out(&p, "returned 1299 (seq 299)");
	for (int i = 0; i < 300; i++) {
		snprintf(line, sizeof(line), "returned %d (seq %d)\n", 1000 + i, i);
		assert_non_null(strstr(p.obuf, line));
	}
	stop(&p, 0);
	assert_non_null(strstr(p.obuf, "300 events"));
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

/* @what as a @size-byte little-endian value somewhere in @buf */
static bool contains(const void *buf, size_t len, uint64_t what, size_t size)
{
	for (size_t i = 0; i + size <= len; i += size)
		if (!memcmp((const char *)buf + i, &what, size))
			return true;
	return false;
}

static void test_globals(void **state)
{
	const char *argv[16];
	struct bpftime_map_info mi;
	struct bpftime_shm *shm;
	struct proc p;
	uint64_t buf[64];
	uint32_t zero = 0;
	int ro, data, bss;

	(void)state;
	shm_for_test("globals");
	load_args(argv, "globals", "-i", "50", victim, "target_func", "4242", "0x5eed5eed", NULL);
	spawn(&p, argv, false);
	expect_out(&p, "ready\n");
	shm = shm_open_now();
	ro = find_named(shm, BPFTIME_HANDLER_MAP, ".rodata");
	data = find_named(shm, BPFTIME_HANDLER_MAP, ".data");
	bss = find_named(shm, BPFTIME_HANDLER_MAP, ".bss");
	assert_true(ro >= 0 && data >= 0 && bss >= 0);
	/* .rodata: set before load, then frozen */
	assert_int_equal(bpftime_map_get_info(shm, ro, &mi), 0);
	assert_true(mi.frozen);
	assert_true(mi.map_flags & BPFTIME_F_MMAPABLE);
	assert_true(mi.value_size <= sizeof(buf));
	assert_int_equal(bpftime_map_lookup_elem(shm, ro, &zero, buf, 0), 0);
	assert_true(contains(buf, mi.value_size, 4242, 4));
	/* .data: step written by the loader after load, through its mmap */
	assert_int_equal(bpftime_map_get_info(shm, data, &mi), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, data, &zero, buf, 0), 0);
	assert_true(contains(buf, mi.value_size, 0x5eed5eed, 8));
	/* .bss: what the program writes, the loader reads through its mmap */
	assert_int_equal(bpftime_map_get_info(shm, bss, &mi), 0);
	for (size_t i = 0; i < mi.value_size / 8; i++)
		buf[i] = 4369;
	assert_int_equal(bpftime_map_update_elem(shm, bss, &zero, buf, 0), 0);
	expect_out(&p, "calls 4369 total 4369");
	stop(&p, 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

static void test_every_map_type(void **state)
{
	static const uint32_t types[] = { 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 22, 23, 27, 30 };
	const char *argv[16];
	struct bpftime_map_info mi;
	struct bpftime_shm *shm;
	struct bpftime_map *rb, *perf;
	struct proc p;
	bool seen[64] = { false };
	int n = 0;

	(void)state;
	shm_for_test("maps");
	load_args(argv, "maps", "-i", "50", victim, NULL);
	spawn(&p, argv, false);
	expect_out(&p, "ready\n");
	assert_non_null(strstr(p.obuf, "\n0 failures\n"));
	shm = shm_open_now();
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		if (!bpftime_map_get_info(shm, fd, &mi) && mi.type < 64)
			seen[mi.type] = true;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (!seen[types[i]])
			fail_msg("no map of type %u", types[i]);
		n++;
	}
	assert_int_equal(n, 16);
	assert_true(linked(
		shm, find_named(shm, BPFTIME_HANDLER_PROG, "on_call"),
		find_perf(shm, BPFTIME_PERF_TYPE_UPROBE, &(struct bpftime_perf_event_info){ 0 })));
	/* records from "the program" reach libbpf's ring_buffer and perf_buffer */
	rb = bpftime_map_get_handle(shm, find_named(shm, BPFTIME_HANDLER_MAP, "ringbuf"));
	perf = bpftime_map_get_handle(shm, find_named(shm, BPFTIME_HANDLER_MAP, "perf"));
	assert_true(rb && perf);
	for (uint32_t i = 0; i < 7; i++) {
		assert_int_equal(bpftime_map__ringbuf_output(rb, &i, sizeof(i), 0), 0);
		assert_int_equal(
			bpftime_map__perf_event_output(perf, BPFTIME_F_CURRENT_CPU, &i, sizeof(i)),
			0);
	}
	expect_out(&p, "ringbuf 7 perf 7\n");
	stop(&p, 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

static void test_syscall_checks(void **state)
{
	const char *pin = "/sys/fs/bpf/bpftime_e2e_pinned";
	char obj[4096];
	const char *argv[] = { guard_bin, bpftime_bin, "load", checks_bin, pin, obj, NULL };
	struct bpftime_map_info mi;
	struct bpftime_shm *shm;
	struct proc p;
	uint32_t zero = 0;
	uint64_t v = 0;
	int fd;

	(void)state;
	snprintf(obj, sizeof(obj), "%s/malloc/malloc.bpf.o", examples);
	shm_for_test("checks");
	setenv("BPFTIME_E2E_USERSPACE", "1", 1);
	spawn(&p, argv, false);
	if (proc_wait(&p) != 0)
		fail_msg("syscall_checks failed:\n%s\nstderr:\n%s", p.obuf, p.ebuf);
	unsetenv("BPFTIME_E2E_USERSPACE");
	assert_non_null(strstr(p.obuf, " checks, 0 failed\n"));
	/* the rejected program's verifier message reached libbpf's log buffer
	 * and the server's log; the other bad input was logged too */
	assert_non_null(strstr(p.obuf, "verifier log: "));
	assert_non_null(strstr(p.obuf, "tracepoint sys_enter_getpid: id "));
	assert_non_null(strstr(p.ebuf, "rejected by the verifier"));
	assert_non_null(strstr(p.ebuf, "unknown bpf command 999"));
	assert_non_null(strstr(p.ebuf, "PMU type 0 is not supported"));
	assert_non_null(strstr(p.ebuf, "kprobes probe the kernel"));
	/* the pinned map outlived its loader, contents and all; nothing else did */
	shm = shm_open_now();
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_PROG), 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_LINK), 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_PERF_EVENT), 0);
	fd = bpftime_obj_get(shm, pin, -1);
	assert_true(fd >= 0);
	assert_int_equal(bpftime_map_get_info(shm, fd, &mi), 0);
	assert_string_equal(mi.name, "arr");
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &zero, &v, 0), 0);
	assert_int_equal(v, 77);
	assert_int_equal(bpftime_obj_unpin(shm, pin), 0);
	shm_done(shm);
	/* the same program gets the kernel's tag (when the kernel is there to ask) */
	{
		const char *kargv[] = { checks_bin, NULL };
		char ours[64], theirs[64];
		struct proc k;
		const char *t;
		int rc;

		spawn(&k, kargv, false);
		rc = proc_wait(&k);
		if (rc == 77)
			return;
		assert_int_equal(rc, 0);
		t = strstr(p.obuf, "tag lookup: ");
		assert_non_null(t);
		snprintf(ours, sizeof(ours), "%.*s", (int)strcspn(t, "\n"), t);
		t = strstr(k.obuf, "tag lookup: ");
		assert_non_null(t);
		snprintf(theirs, sizeof(theirs), "%.*s", (int)strcspn(t, "\n"), t);
		assert_string_equal(ours, theirs);
	}
}

static void test_two_loaders_and_kill(void **state)
{
	const char *argv[16];
	struct bpftime_handler_info hi;
	struct bpftime_shm *shm;
	struct proc a, b;

	(void)state;
	shm_for_test("two");
	load_args(argv, "malloc", "-i", "100", NULL);
	spawn(&a, argv, false);
	expect_out(&a, "ready\n");
	spawn(&b, argv, false);
	expect_out(&b, "ready\n");
	shm = shm_open_now();
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_PROG), 2);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_LINK), 2);
	/* B is killed outright: no destructor runs, bpftime load cleans up */
	assert_int_equal(bpftime_handler_get_info(
				 shm, find_named(shm, BPFTIME_HANDLER_PROG, "count_malloc"), &hi),
			 0);
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_handler_info x;

		if (!bpftime_handler_get_info(shm, fd, &x) && x.type == BPFTIME_HANDLER_PROG &&
		    x.owner_pid != hi.owner_pid) {
			kill(x.owner_pid, SIGKILL);
			break;
		}
	}
	/* whichever loader died, its bpftime exits with 128 + 9 */
	{
		int which = -1, st = 0;

		for (int i = 0; i < STUCK_MS / 50 && which < 0; i++) {
			if (waitpid(a.pid, &st, WNOHANG) == a.pid)
				which = 0;
			else if (waitpid(b.pid, &st, WNOHANG) == b.pid)
				which = 1;
			else
				usleep(50000);
		}
		assert_true(which >= 0);
		reaped(which ? b.pid : a.pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 137);
		close(which ? b.out : a.out);
		close(which ? b.err : a.err);
		/* the survivor's objects are intact */
		assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_PROG), 1);
		assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_LINK), 1);
		stop(which ? &a : &b, 0);
	}
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

/* bpftime killed outright: its loader gets SIGTERM (PR_SET_PDEATHSIG)
 * instead of running on as an orphan, and exits as on ^C, releasing its
 * objects */
static void test_loader_dies_with_bpftime(void **state)
{
	const char *argv[16];
	struct bpftime_handler_info hi;
	struct bpftime_shm *shm;
	struct proc p;
	int waited = 0;

	(void)state;
	shm_for_test("orphan");
	load_args(argv, "malloc", "-i", "50", NULL);
	spawn(&p, argv, false);
	expect_out(&p, "ready\n");
	shm = shm_open_now();
	assert_int_equal(bpftime_handler_get_info(
				 shm, find_named(shm, BPFTIME_HANDLER_PROG, "count_malloc"), &hi),
			 0);
	assert_true(hi.owner_pid > 0 && hi.owner_pid != p.pid);
	kill(p.pid, SIGKILL);
	assert_int_equal(proc_wait(&p), 128 + SIGKILL);
	while (!kill(hi.owner_pid, 0) || errno != ESRCH) {
		assert_true(waited < STUCK_MS);
		usleep(10000);
		waited += 10;
	}
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

/* what a loader left is what bpftimetool sees: export lists it, and `run`
 * executes the loader's program in another process, on the shared map */
static void test_bpftimetool(void **state)
{
	char json[256], data[256], cmdline[64];
	const char *argv[16];
	struct bpftime_shm *shm;
	struct proc loader, p;
	FILE *f;
	int prog;

	(void)state;
	if (!tool_bin)
		TEST_SKIP("bpftimetool not built");
	shm_for_test("tool");
	load_args(argv, "malloc", "-i", "50", NULL);
	spawn(&loader, argv, false);
	expect_out(&loader, "ready\n");
	shm = shm_open_now();
	prog = find_named(shm, BPFTIME_HANDLER_PROG, "count_malloc");
	assert_true(prog >= 0);

	snprintf(json, sizeof(json), "/tmp/bpftime_e2e_%d.json", getpid());
	{
		const char *eargv[] = { guard_bin, tool_bin, "export", json, NULL };
		char *text;
		long n;

		spawn(&p, eargv, false);
		assert_int_equal(proc_wait(&p), 0);
		f = fopen(json, "r");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)n + 1);
		assert_non_null(text);
		assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
		fclose(f);
		assert_non_null(strstr(text, "bpf_prog_handler"));
		assert_non_null(strstr(text, "count_malloc"));
		assert_non_null(strstr(text, "bpf_map_handler"));
		assert_non_null(strstr(text, "bpf_perf_event_handler"));
		assert_non_null(strstr(text, "libc.so"));
		assert_non_null(strstr(text, "bpf_link_handler"));
		/* the program's BTF func info and line info go along */
		assert_non_null(strstr(text, "\"prog_btf_fd\""));
		assert_non_null(strstr(text, "\"func_info\""));
		assert_non_null(strstr(text, "\"line_info\""));
		free(text);
	}
	{
		/* and come back the same from an import into another segment */
		const char *iargv[] = { guard_bin, tool_bin, "import", json, NULL };
		struct bpftime_prog_btf_ext e1, e2;
		struct bpftime_prog_info pi;
		BPFTIME_OPTS(bpftime_shm_opts, so, .name = second_shm);
		struct bpftime_shm *other;
		char name[64];
		int fd2, rc;

		snprintf(name, sizeof(name), "%s", getenv("BPFTIME_GLOBAL_SHM_NAME"));
		snprintf(second_shm, sizeof(second_shm), "%s_import", name);
		setenv("BPFTIME_GLOBAL_SHM_NAME", second_shm, 1);
		spawn(&p, iargv, false);
		rc = proc_wait(&p);
		setenv("BPFTIME_GLOBAL_SHM_NAME", name, 1);
		unlink(json);
		assert_int_equal(rc, 0);
		other = bpftime_shm__open(&so);
		assert_non_null(other);
		fd2 = find_named(other, BPFTIME_HANDLER_PROG, "count_malloc");
		assert_true(fd2 >= 0);
		assert_int_equal(bpftime_prog_get_btf_ext(shm, prog, &e1), 0);
		assert_int_equal(bpftime_prog_get_btf_ext(other, fd2, &e2), 0);
		assert_true(e1.line_info_cnt > 5 && e1.func_info_cnt == 1);
		assert_int_equal(e2.func_info_cnt, e1.func_info_cnt);
		assert_int_equal(e2.line_info_cnt, e1.line_info_cnt);
		assert_memory_equal(e2.func_info, e1.func_info, e1.func_info_cnt * 8);
		assert_memory_equal(e2.line_info, e1.line_info, e1.line_info_cnt * 16);
		assert_int_equal(bpftime_prog_get_info(other, fd2, &pi), 0);
		assert_true(pi.btf_id != 0);
		bpftime_shm__close(other);
		bpftime_shm__remove(second_shm);
		second_shm[0] = 0;
	}
	/* a zeroed struct pt_regs as the context; five runs count five calls
	 * for bpftimetool's pid, which the loader then reports */
	snprintf(data, sizeof(data), "/tmp/bpftime_e2e_%d.bin", getpid());
	f = fopen(data, "w");
	assert_non_null(f);
	for (int i = 0; i < 21 * 8; i++)
		fputc(0, f);
	fclose(f);
	snprintf(cmdline, sizeof(cmdline), "%d", prog);
	{
		const char *rargv[] = { guard_bin, tool_bin, "run", cmdline,
					data,	   "repeat", "5",   NULL };
		char want[64];

		spawn(&p, rargv, false);
		assert_int_equal(proc_wait(&p), 0);
		unlink(data);
		assert_non_null(strstr(p.obuf, "Return value: 0"));
		snprintf(want, sizeof(want), "pid %d: 5 malloc calls\n", p.pid);
		expect_out(&loader, want);
	}
	stop(&loader, 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

/* a loader that fills the segment gets ENOMEM like a kernel out of memory,
 * and after it the segment works for the next loader */
static void test_segment_full(void **state)
{
	const char *fargv[] = { guard_bin,    bpftime_bin, "load",   "--memory-size", "2",
				"--keep-shm", checks_bin,  "--hold", "100000",	      NULL };
	const char *margv[16];
	struct bpftime_shm_stats st = { .sz = sizeof(st) };
	struct bpftime_shm *shm;
	struct proc p;

	(void)state;
	shm_for_test("full");
	spawn(&p, fargv, false);
	assert_int_equal(proc_wait(&p), 1);
	assert_non_null(strstr(p.obuf, "Cannot allocate memory"));
	assert_non_null(strstr(p.ebuf, "BPFTIME_SHM_MEMORY_MB"));
	shm = shm_open_now();
	assert_int_equal(bpftime_shm__size(shm), 2u << 20);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	assert_int_equal(st.handlers, 0);
	/* its memory comes back (maps after a grace period, or at once when
	 * an allocation would fail): the next loader gets what it needs */
	load_args(margv, "maps", "-n", "0", victim, NULL);
	spawn(&p, margv, false);
	assert_int_equal(proc_wait(&p), 0);
	assert_non_null(strstr(p.obuf, "\n0 failures\n"));
	shm_done(shm);
}

/* every source line (";" comment with file, line and column) of bpftool's
 * xlated dump of count_malloc is in @ours and the other way round, when the
 * kernel can load the object */
static void same_source_lines_as_kernel(const char *ours)
{
	char obj[4096];
	const char *load[] = { bpftool_bin, "prog", "load", obj, kernel_pin, NULL };
	const char *dump[] = { bpftool_bin, "prog",	"dump",	 "xlated",
			       "pinned",    kernel_pin, "linum", NULL };
	struct proc k;

	snprintf(obj, sizeof(obj), "%s/malloc/malloc.bpf.o", examples);
	snprintf(kernel_pin, sizeof(kernel_pin), "/sys/fs/bpf/bpftime_e2e_%d_xlated", getpid());
	spawn(&k, load, false);
	if (proc_wait(&k)) {
		print_message("kernel cannot load %s (%s): no comparison\n", obj, k.ebuf);
		kernel_pin[0] = 0;
		return;
	}
	spawn(&k, dump, false);
	assert_int_equal(proc_wait(&k), 0);
	unlink(kernel_pin);
	kernel_pin[0] = 0;
	for (int dir = 0; dir < 2; dir++) {
		const char *a = dir ? k.obuf : ours, *b = dir ? ours : k.obuf;
		int n = 0;

		for (const char *l = a; (l = strstr(l, "\n; ")); l++) {
			char line[512];

			snprintf(line, sizeof(line), "%.*s", (int)strcspn(l + 1, "\n") + 2, l);
			if (!strstr(b, line))
				fail_msg("line '%s' of the %s dump is not in the %s one", line + 1,
					 dir ? "kernel's" : "bpftime",
					 dir ? "bpftime" : "kernel's");
			n++;
		}
		assert_true(n >= 8);
	}
}

/* bpftool itself, an unmodified libbpf program, under `bpftime load`: it
 * sees the other loader's objects and changes its map */
static void test_bpftool(void **state)
{
	const char *argv[16];
	struct bpftime_handler_info hi;
	struct bpftime_shm *shm;
	struct proc loader, p;
	char want[64];

	(void)state;
	if (!bpftool_bin)
		TEST_SKIP("no bpftool on this machine");
	shm_for_test("bpftool");
	load_args(argv, "malloc", "-i", "50", NULL);
	spawn(&loader, argv, false);
	expect_out(&loader, "ready\n");
	shm = shm_open_now();
	assert_int_equal(
		bpftime_handler_get_info(shm, find_named(shm, BPFTIME_HANDLER_MAP, "counts"), &hi),
		0);
	{
		const char *a[] = { guard_bin, bpftime_bin, "load", bpftool_bin,
				    "prog",    "show",	    NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
		assert_non_null(strstr(p.obuf, "kprobe  name count_malloc"));
		snprintf(want, sizeof(want), "map_ids %u", hi.id);
		assert_non_null(strstr(p.obuf, want));
	}
	{
		const char *a[] = { guard_bin,	    bpftime_bin, "load",   bpftool_bin,
				    "prog",	    "dump",	 "xlated", "name",
				    "count_malloc", "linum",	 NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
		snprintf(want, sizeof(want), "r1 = map[id:%u]", hi.id);
		assert_non_null(strstr(p.obuf, want));
		assert_non_null(strstr(p.obuf, "call bpf_map_lookup_elem#1"));
		/* the BTF func info and line info: the prototype and C lines */
		assert_non_null(strstr(p.obuf, "int count_malloc(struct pt_regs * ctx):\n"));
		assert_non_null(strstr(p.obuf, "; v = bpf_map_lookup_elem(&counts, &pid); [file:"));
		assert_non_null(strstr(p.obuf, "malloc.bpf.c line_num:"));
		same_source_lines_as_kernel(p.obuf);
	}
	{
		/* pid 4242 made 77 calls, says bpftool */
		const char *a[] = { guard_bin, bpftime_bin, "load", bpftool_bin, "map",	 "update",
				    "name",    "counts",    "key",  "0x92",	 "0x10", "0",
				    "0",       "value",	    "77",   "0",	 "0",	 "0",
				    "0",       "0",	    "0",    "0",	 NULL };

		spawn(&p, a, false);
		assert_int_equal(proc_wait(&p), 0);
		expect_out(&loader, "pid 4242: 77 malloc calls\n");
	}
	stop(&loader, 0);
	shm_done(shm);
}

/* a segment this build cannot use: the loader is told, and fails like a
 * kernel without bpf(); the segment is left alone */
static void test_foreign_segment(void **state)
{
	const char *argv[16];
	char path[128];
	struct proc p;
	FILE *f;

	(void)state;
	shm_for_test("foreign");
	snprintf(path, sizeof(path), "/dev/shm/%s", getenv("BPFTIME_GLOBAL_SHM_NAME"));
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 65536; i++)
		fputc(i * 7 % 251, f);
	fclose(f);
	chmod(path, 0600);
	load_args(argv, "malloc", "-n", "0", NULL);
	spawn(&p, argv, false);
	assert_int_equal(proc_wait(&p), 1);
	assert_non_null(strstr(p.ebuf, "not a bpftime segment"));
	assert_non_null(strstr(p.ebuf, "Function not implemented"));
	/* reported once, by the server */
	assert_null(strstr(strstr(p.ebuf, "not a bpftime segment") + 1, "not a bpftime segment"));
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fgetc(f), 0);
	fclose(f);
	bpftime_shm__remove(NULL);
}

/* a loader holding 300 slots: a second one skips them all and works */
static void test_crowded_table(void **state)
{
	const char *hargv[] = { guard_bin, bpftime_bin, "load", checks_bin, "--hold", "300", NULL };
	const char *margv[16];
	struct bpftime_shm *shm;
	struct proc h, m;

	(void)state;
	shm_for_test("crowded");
	spawn(&h, hargv, false);
	expect_out(&h, "holding 300 maps\n");
	load_args(margv, "maps", "-n", "0", victim, NULL);
	spawn(&m, margv, false);
	assert_int_equal(proc_wait(&m), 0);
	assert_non_null(strstr(m.obuf, "\n0 failures\n"));
	shm = shm_open_now();
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 300);
	stop(&h, 0);
	assert_int_equal(count_handlers(shm, BPFTIME_HANDLER_NONE), 0);
	shm_done(shm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_guard_blocks_kernel, cleanup),
		cmocka_unit_test_teardown(test_malloc_example, cleanup),
		cmocka_unit_test_teardown(test_exit_code_and_children, cleanup),
		cmocka_unit_test_teardown(test_load_options, cleanup),
		cmocka_unit_test_teardown(test_shm_group, cleanup),
		cmocka_unit_test_teardown(test_uretprobe_ringbuf, cleanup),
		cmocka_unit_test_teardown(test_globals, cleanup),
		cmocka_unit_test_teardown(test_every_map_type, cleanup),
		cmocka_unit_test_teardown(test_syscall_checks, cleanup),
		cmocka_unit_test_teardown(test_two_loaders_and_kill, cleanup),
		cmocka_unit_test_teardown(test_loader_dies_with_bpftime, cleanup),
		cmocka_unit_test_teardown(test_crowded_table, cleanup),
		cmocka_unit_test_teardown(test_foreign_segment, cleanup),
		cmocka_unit_test_teardown(test_segment_full, cleanup),
		cmocka_unit_test_teardown(test_bpftimetool, cleanup),
		cmocka_unit_test_teardown(test_bpftool, cleanup),
	};

	if (argc < 6) {
		fprintf(stderr,
			"usage: e2e_test BPFTIME GUARD EXAMPLES_DIR SYSCALL_CHECKS SERVER\n");
		return 2;
	}
	server_path = argv[5];
	tool_bin = argc > 6 && strcmp(argv[6], "none") ? argv[6] : NULL;
	bpftool_bin = argc > 7 && strcmp(argv[7], "none") ? argv[7] : NULL;
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	examples = argv[3];
	checks_bin = argv[4];
	snprintf(victim, sizeof(victim), "%s/victim/victim", examples);
	signal(SIGPIPE, SIG_IGN);
	remove_stale_segments("bpftime_e2e_");
	return TEST_RUN(tests, NULL, NULL);
}
