/* SPDX-License-Identifier: MIT */
/* tests/harden/harden_test.c: the shared segment treated as untrusted input
 * (issue 16), with real processes.
 *
 *   harden_test BPFTIME VICTIM BPFTIMETOOL         unprivileged scenarios:
 *     owner/mode rules (world- and group-writable segments, BPFTIME_SHM_GROUP),
 *     corrupt slots (wild offsets) at start-up and live under a traced victim,
 *     the segment truncated and replaced under a traced victim: it survives.
 *   harden_test BPFTIME VICTIM BPFTIMETOOL priv    root only (exit 77 otherwise),
 *     in a private mount namespace: a second user squatting the segment name
 *     (created with useradd and removed with userdel by the test), /dev/shm
 *     too small for the segment, an export onto a full tmpfs.
 *
 * The victim runs under `bpftime start` with a uprobe on its harden_work()
 * whose program counts calls in an array map; the test reads the count. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/attach.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "proc.h"
#include "shm/layout.h"
#include "vm/test_insn.h"

#define KPROBE_PROG 2

static const char *bpftime_bin, *victim_bin, *tool_bin;
static char shm_name[96], user[32];
static char logbuf[1 << 14];
static bpftime_print_fn old_print;

__attribute__((format(printf, 2, 0))) static int capture(enum bpftime_log_level level,
							 const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)level;
	if (n < sizeof(logbuf) - 1)
		vsnprintf(logbuf + n, sizeof(logbuf) - n, fmt, ap);
	return 0;
}

static int setup(void **state)
{
	static int n;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_harden_%d_%d", getpid(), n++);
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
	unsetenv("BPFTIME_SHM_GROUP");
	bpftime_shm__remove(shm_name);
	logbuf[0] = 0;
	old_print = bpftime_set_print(capture);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	kill_live();
	bpftime_set_print(old_print);
	bpftime_shm__remove(shm_name);
	unsetenv("BPFTIME_SHM_GROUP");
	return 0;
}

static void shm_path(char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/%s", shm_name);
}

static struct bpftime_shm *create(uint32_t mb)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = mb, .max_fd = 256);

	return bpftime_shm__create(&o);
}

/* ---- owner and mode ----------------------------------------------------- */

static void test_owner_and_mode(void **state)
{
	struct bpftime_shm *shm;
	char path[128], gid[32];
	struct stat st;

	(void)state;
	shm = create(4);
	assert_non_null(shm);
	bpftime_shm__close(shm);
	shm_path(path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 4 << 20);
	assert_true(st.st_blocks * 512 >= (4 << 20)); /* reserved, not sparse */

	/* anyone may write it: every process refuses it */
	assert_int_equal(chmod(path, 0666), 0);
	assert_null(bpftime_shm__open(NULL));
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(logbuf, "writable by every user (mode 0666): refusing it"));
	assert_null(bpftime_shm__open_or_create(NULL));
	assert_int_equal(errno, EPERM);

	/* group-writable: only for the configured group */
	assert_int_equal(chmod(path, 0620), 0);
	logbuf[0] = 0;
	assert_null(bpftime_shm__open(NULL));
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(logbuf, "which is not the BPFTIME_SHM_GROUP configured here"));
	snprintf(gid, sizeof(gid), "%u", (unsigned int)st.st_gid + 1);
	setenv("BPFTIME_SHM_GROUP", gid, 1);
	assert_null(bpftime_shm__open(NULL));
	snprintf(gid, sizeof(gid), "%u", (unsigned int)st.st_gid);
	setenv("BPFTIME_SHM_GROUP", gid, 1);
	shm = bpftime_shm__open(NULL);
	assert_non_null(shm);
	bpftime_shm__close(shm);
	setenv("BPFTIME_SHM_GROUP", "no_such_group_bpftime", 1);
	assert_null(bpftime_shm__open(NULL));
	assert_int_equal(errno, EINVAL);

	/* the tools say so too */
	unsetenv("BPFTIME_SHM_GROUP");
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "'%s' export /dev/null 2>&1 | grep -q 'refusing it'",
			 tool_bin);
		assert_int_equal(system(cmd), 0);
	}

	/* created for a group: 0660 and that group, before anyone can open it */
	bpftime_shm__remove(shm_name);
	snprintf(gid, sizeof(gid), "%u", (unsigned int)getegid());
	setenv("BPFTIME_SHM_GROUP", gid, 1);
	shm = create(4);
	assert_non_null(shm);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getegid());
	bpftime_shm__close(shm);
	shm = bpftime_shm__open(NULL);
	assert_non_null(shm);
	bpftime_shm__close(shm);
}

/* ---- a traced victim ---------------------------------------------------- */

struct traced {
	struct bpftime_shm *shm;
	int map; /* array: [0] counts calls */
	int prog, perf, link;
	struct proc victim;
};

static const struct bpftime_insn count_prog[] = {
	BPF_LD_MAP_VALUE(6, 0 /* patched: the map */, 0),
	BPF_MOV64_IMM(1, 1),
	BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 6, 1, 0),
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

static const struct bpftime_insn ret0_prog[] = {
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

static void make_probe(struct traced *t)
{
	struct bpftime_insn insns[sizeof(count_prog) / sizeof(count_prog[0])];
	uint64_t off, size;

	memcpy(insns, count_prog, sizeof(insns));
	t->map = bpftime_map_create(t->shm, -1, BPFTIME_MAP_ARRAY, "calls", 4, 8, 1, NULL);
	assert_true(t->map >= 0);
	insns[0].imm = t->map;
	t->prog = bpftime_prog_create(t->shm, -1, KPROBE_PROG, "count", insns,
				      sizeof(insns) / sizeof(insns[0]), NULL);
	assert_true(t->prog >= 0);
	assert_int_equal(bpftime_elf_find_symbol(victim_bin, "harden_work", &off, &size), 0);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE,
			     .pid = -1, .module = victim_bin, .offset = off);

		t->perf = bpftime_perf_event_create(t->shm, -1, &o);
	}
	assert_true(t->perf >= 0);
	assert_int_equal(bpftime_perf_event_enable(t->shm, t->perf, true), 0);
	t->link = bpftime_link_create(t->shm, -1, t->prog, t->perf, NULL);
	assert_true(t->link >= 0);
}

static uint64_t calls(struct traced *t)
{
	uint32_t k = 0;
	uint64_t v = 0;

	assert_int_equal(bpftime_map_lookup_elem(t->shm, t->map, &k, &v, 0), 0);
	return v;
}

static void start_victim(struct traced *t)
{
	const char *argv[] = { bpftime_bin, "start", victim_bin, NULL };

	spawn(&t->victim, argv, true);
	expect_out(&t->victim, "victim started\n");
}

/* waits until the probe has run @more more times */
static void expect_calls(struct traced *t, uint64_t more)
{
	uint64_t start = calls(t);

	for (int waited = 0; calls(t) < start + more; waited += 5) {
		if (waited > STUCK_MS)
			fail_msg("the probe did not run (%llu calls); victim stderr: %s",
				 (unsigned long long)calls(t), t->victim.ebuf);
		pump(&t->victim, 5);
	}
}

/* waits for @needle in the victim's stderr */
static void expect_err(struct proc *p, const char *needle)
{
	for (int waited = 0; !strstr(p->ebuf, needle); waited += 20) {
		if (waited > STUCK_MS || p->err_eof)
			fail_msg("no '%s' in the victim's stderr: %s", needle, p->ebuf);
		pump(p, 20);
	}
}

/* tells the victim to stop; it must exit 0 and say it survived */
static void expect_survives(struct proc *p)
{
	int status;

	assert_int_equal(write(p->in, "q\n", 2), 2);
	close(p->in);
	p->in = -1;
	while (!p->out_eof || !p->err_eof)
		pump(p, 50);
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	reaped(p->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("the victim died (status %#x); stderr: %s", status, p->ebuf);
	assert_non_null(strstr(p->obuf, "victim survived"));
}

/* the slot record of @fd, through a mapping of our own */
static struct shm_slot *raw_slot(struct bpftime_shm *shm, int fd, char **base)
{
	struct shm_header *h;

	*base = mmap(NULL, bpftime_shm__size(shm), PROT_READ | PROT_WRITE, MAP_SHARED,
		     bpftime_shm__fd(shm), 0);
	assert_true(*base != MAP_FAILED);
	h = (struct shm_header *)*base;
	return (struct shm_slot *)(*base + h->handlers_off) + fd;
}

static void test_wild_offsets(void **state)
{
	struct traced t = { 0 };
	struct shm_prog *p;
	struct shm_slot *s;
	char *base;
	int wild_slot, bad_prog, bad_link, bad_perf;

	(void)state;
	t.shm = create(8);
	assert_non_null(t.shm);
	make_probe(&t);
	/* three more attachments, each with a wild offset somewhere:
	 * a slot pointing past the end, a program whose instructions are
	 * past the end, a perf event whose module path runs off the end */
	bad_prog = bpftime_prog_create(t.shm, -1, KPROBE_PROG, "bad", ret0_prog, 2, NULL);
	assert_true(bad_prog >= 0);
	bad_link = bpftime_link_create(t.shm, -1, bad_prog, t.perf, NULL);
	assert_true(bad_link >= 0);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE,
			     .pid = -1, .module = victim_bin, .offset = 0x1000);

		bad_perf = bpftime_perf_event_create(t.shm, -1, &o);
	}
	assert_true(bad_perf >= 0);
	assert_int_equal(bpftime_perf_event_enable(t.shm, bad_perf, true), 0);
	assert_true(bpftime_link_create(t.shm, -1, t.prog, bad_perf, NULL) >= 0);
	wild_slot = bpftime_map_create(t.shm, -1, BPFTIME_MAP_ARRAY, "wild", 4, 8, 1, NULL);
	assert_true(wild_slot >= 0);

	s = raw_slot(t.shm, bad_prog, &base);
	p = (struct shm_prog *)(base + atomic_load(&s->obj_off));
	p->insns_off = bpftime_shm__size(t.shm) - 8; /* 2 instructions from there */
	s = raw_slot(t.shm, bad_perf, &base);
	{
		struct shm_perf_event *pe =
			(struct shm_perf_event *)(base + atomic_load(&s->obj_off));

		pe->module_off = (uint64_t)1 << 40;
	}
	s = raw_slot(t.shm, wild_slot, &base);
	atomic_store(&s->obj_off, (uint64_t)1 << 40);

	/* the good attachment works, the corrupt slots are reported, and the
	 * victim runs on */
	start_victim(&t);
	expect_calls(&t, 20);
	expect_err(&t.victim, "is corrupt");
	assert_non_null(strstr(t.victim.ebuf, "object offset outside the segment"));

	/* live: the good program's link goes wild, an epoch change follows */
	s = raw_slot(t.shm, t.link, &base);
	atomic_store(&s->obj_off, bpftime_shm__size(t.shm) - 8);
	assert_true(bpftime_map_create(t.shm, -1, BPFTIME_MAP_ARRAY, "bump", 4, 8, 1, NULL) >= 0);
	expect_err(&t.victim, "outside the segment): skipped");
	/* the tools skip it as well */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "'%s' export /dev/null 2>/dev/null", tool_bin);
		assert_int_equal(system(cmd), 0);
	}
	expect_survives(&t.victim);
	bpftime_shm__close(t.shm);
}

/* A hash map's chain garbled under a traced victim whose probe updates
 * and looks up a key in it: the map is reported corrupt once, its
 * operations fail, the other probe keeps counting, export ends, and the
 * victim runs on.  The element layout (maps/hash.c struct htab_elem: the
 * chain link first, 32 bytes of header, the key rounded up to 8, then the
 * value) is what this test garbles. */
static void test_wild_map_links(void **state)
{
	struct traced t = { 0 };
	struct bpftime_map *h;
	uint64_t key = 7, val = 1;
	char *v;
	int hmap, prog;

	(void)state;
	t.shm = create(8);
	assert_non_null(t.shm);
	make_probe(&t);
	hmap = bpftime_map_create(t.shm, -1, BPFTIME_MAP_HASH, "garbled", 8, 8, 16, NULL);
	assert_true(hmap >= 0);
	assert_int_equal(bpftime_map_update_elem(t.shm, hmap, &key, &val, 0), 0);
	{
		const struct bpftime_insn insns[] = {
			BPF_ST_MEM(BPF_DW, 10, -8, 7),
			BPF_ST_MEM(BPF_DW, 10, -16, 1),
			BPF_LD_MAP_FD(1, hmap),
			BPF_MOV64_REG(2, 10),
			BPF_ALU64_IMM(BPF_ADD, 2, -8),
			BPF_MOV64_REG(3, 10),
			BPF_ALU64_IMM(BPF_ADD, 3, -16),
			BPF_MOV64_IMM(4, 0),
			BPF_CALL_HELPER(2), /* map_update_elem */
			BPF_LD_MAP_FD(1, hmap),
			BPF_MOV64_REG(2, 10),
			BPF_ALU64_IMM(BPF_ADD, 2, -8),
			BPF_CALL_HELPER(1), /* map_lookup_elem */
			BPF_MOV64_IMM(0, 0),
			BPF_EXIT_INSN(),
		};

		prog = bpftime_prog_create(t.shm, -1, KPROBE_PROG, "hashop", insns,
					   sizeof(insns) / sizeof(insns[0]), NULL);
	}
	assert_true(prog >= 0);
	assert_true(bpftime_link_create(t.shm, -1, prog, t.perf, NULL) >= 0);
	start_victim(&t);
	expect_calls(&t, 20);

	/* key 7's element: its key no longer matches, its link goes wild */
	h = bpftime_map_get_handle(t.shm, hmap);
	assert_non_null(h);
	v = bpftime_map__lookup_elem(h, &key);
	assert_non_null(v);
	*(uint64_t *)(v - 8) = 0xdeadbeef;
	*(uint64_t *)(v - 8 - 32) = (uint64_t)1 << 40;

	expect_err(&t.victim, "is corrupt (bucket");
	expect_calls(&t, 20);
	assert_int_equal(bpftime_map_lookup_elem(t.shm, hmap, &key, &val, 0), -EBADMSG);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd),
			 "'%s' export /dev/null 2>&1 | grep -q 'its data is exported incomplete'",
			 tool_bin);
		assert_int_equal(system(cmd), 0);
	}
	expect_survives(&t.victim);
	bpftime_shm__close(t.shm);
}

static void test_truncated_under_victim(void **state)
{
	struct traced t = { 0 };
	int fd;

	(void)state;
	t.shm = create(8);
	assert_non_null(t.shm);
	/* this process reads the segment too: after the truncation it must
	 * not fault either */
	assert_int_equal(bpftime_shm__guard(t.shm), 0);
	make_probe(&t);
	start_victim(&t);
	expect_calls(&t, 20);
	fd = shm_open(shm_name, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	/* the victim's next probe faults on the segment (or its watcher
	 * notices first): it detaches and goes on */
	expect_err(&t.victim, "is gone (truncated or replaced under this process)");
	expect_survives(&t.victim);
	/* our own access to the truncated mapping: zeros, and "gone" */
	{
		uint32_t k = 0;
		uint64_t v = 1;

		bpftime_map_lookup_elem(t.shm, t.map, &k, &v, 0);
		assert_true(bpftime_shm__gone(t.shm));
	}
	bpftime_shm__close(t.shm);
}

static void test_replaced_under_victim(void **state)
{
	struct traced t = { 0 };
	struct bpftime_shm *other;

	(void)state;
	t.shm = create(8);
	assert_non_null(t.shm);
	make_probe(&t);
	start_victim(&t);
	expect_calls(&t, 20);
	/* removed and made again under the same name: the victim's copy is
	 * no one's any more */
	assert_int_equal(bpftime_shm__remove(shm_name), 0);
	other = create(4);
	assert_non_null(other);
	expect_err(&t.victim, "is gone (truncated or replaced under this process)");
	{
		uint64_t before = calls(&t);
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL);
		pump(&t.victim, 50);
		assert_int_equal(calls(&t), before); /* detached: no more runs */
	}
	expect_survives(&t.victim);
	bpftime_shm__close(other);
	bpftime_shm__close(t.shm);
}

/* ---- privileged: a second user, small and full file systems ------------- */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd))
		fail_msg("'%s' failed", cmd);
}

static int user_setup(void **state)
{
	setup(state);
	snprintf(user, sizeof(user), "bpfsq%d", getpid());
	sh("useradd -M -N -s /usr/sbin/nologin %s", user);
	return 0;
}

static int user_teardown(void **state)
{
	char cmd[128];

	teardown(state);
	snprintf(cmd, sizeof(cmd), "userdel %s 2>/dev/null", user);
	if (system(cmd))
		fprintf(stderr, "userdel %s failed\n", user);
	return 0;
}

/* Another user creates the segment name first: root's tools, loader
 * library and agent refuse it, naming that user; nothing of ours goes in. */
static void test_squatter(void **state)
{
	struct passwd *pw = getpwnam(user);
	struct traced t = { 0 };
	char want[128];
	int status;
	pid_t pid;

	(void)state;
	assert_non_null(pw);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct bpftime_shm *shm;

		if (setgid(pw->pw_gid) || setuid(pw->pw_uid))
			_exit(2);
		shm = create(4);
		_exit(shm ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	snprintf(want, sizeof(want), "owned by user '%s' (uid %u), not by you or root", user,
		 (unsigned int)pw->pw_uid);
	assert_null(bpftime_shm__open(NULL));
	assert_int_equal(errno, EPERM);
	assert_non_null(strstr(logbuf, want));
	assert_null(bpftime_shm__open_or_create(NULL));
	assert_int_equal(errno, EPERM);
	assert_null(create(4));
	assert_int_equal(errno, EEXIST);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "'%s' export /dev/null 2>&1 | grep -q \"%s\"", tool_bin,
			 want);
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof(cmd), "'%s' map show 2>&1 | grep -q \"%s\"", tool_bin, want);
		assert_int_equal(system(cmd), 0);
	}
	/* a traced process runs untraced and says why */
	{
		const char *argv[] = { bpftime_bin, "start", victim_bin, NULL };

		spawn(&t.victim, argv, true);
		expect_out(&t.victim, "victim started\n");
		expect_err(&t.victim, want);
		expect_survives(&t.victim);
	}
}

/* /dev/shm smaller than the segment: creation fails at once, cleanly */
static void test_small_tmpfs(void **state)
{
	struct bpftime_shm *shm;
	char cmd[512];

	(void)state;
	sh("mount -t tmpfs -o size=8m,mode=1777 harden_small /dev/shm");
	shm = create(16);
	assert_null(shm);
	assert_int_equal(errno, ENOSPC);
	assert_non_null(strstr(logbuf, "cannot reserve 16 MiB in /dev/shm: No space left on "
				       "device; free space there or lower BPFTIME_SHM_MEMORY_MB"));
	{
		char path[128];

		shm_path(path, sizeof(path));
		assert_int_equal(access(path, F_OK), -1); /* nothing left behind */
	}
	/* the tools: a message and an error status, no SIGBUS */
	snprintf(cmd, sizeof(cmd),
		 "echo '{\"handlers\": []}' > /tmp/harden_%d.json; BPFTIME_SHM_MEMORY_MB=16 "
		 "'%s' import /tmp/harden_%d.json 2>&1 | grep -q 'cannot reserve 16 MiB'; "
		 "r=$?; rm -f /tmp/harden_%d.json; exit $r",
		 getpid(), tool_bin, getpid(), getpid());
	assert_int_equal(system(cmd), 0);
	/* one that fits works */
	shm = create(4);
	assert_non_null(shm);
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	sh("umount /dev/shm");
}

/* export onto a full file system: the old backup stays as it was */
static void test_export_full_tmpfs(void **state)
{
	char dir[] = "/tmp/harden_full_XXXXXX", path[256], cmd[1024], buf[64];
	struct bpftime_shm *shm;
	uint8_t value[64];
	int map, fd;
	FILE *f;

	(void)state;
	shm = create(8);
	assert_non_null(shm);
	map = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "big", 8, sizeof(value), 4096, NULL);
	assert_true(map >= 0);
	memset(value, 0xab, sizeof(value));
	for (uint64_t k = 0; k < 4096; k++)
		assert_int_equal(bpftime_map_update_elem(shm, map, &k, value, 0), 0);
	bpftime_shm__close(shm); /* ~1.2 MB of JSON */

	assert_non_null(mkdtemp(dir));
	sh("mount -t tmpfs -o size=1m harden_full %s", dir);
	snprintf(path, sizeof(path), "%s/backup.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("GOOD BACKUP", f);
	fclose(f);
	/* fill what is left */
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; true", dir);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd),
		 "'%s' export %s 2>&1 | grep -q 'old file is unchanged\\|export failed'", tool_bin,
		 path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "'%s' export %s >/dev/null 2>&1", tool_bin, path);
	assert_int_not_equal(system(cmd), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), 11);
	close(fd);
	assert_string_equal(buf, "GOOD BACKUP");
	/* no temporary file left taking the space */
	snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q '\\.tmp\\.'", dir);
	assert_int_equal(system(cmd), 256);
	/* room again (a bigger file system): the export replaces it */
	sh("umount %s", dir);
	sh("mount -t tmpfs -o size=16m harden_full %s", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("GOOD BACKUP", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s' export %s", tool_bin, path);
	assert_int_equal(system(cmd), 0);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, buf, 12), 12);
	close(fd);
	assert_memory_equal(buf, "{\n  \"handler", 12);
	sh("umount %s", dir);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest plain[] = {
		cmocka_unit_test_setup_teardown(test_owner_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wild_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wild_map_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_under_victim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_under_victim, setup, teardown),
	};
	const struct CMUnitTest priv[] = {
		cmocka_unit_test_setup_teardown(test_squatter, user_setup, user_teardown),
		cmocka_unit_test_setup_teardown(test_small_tmpfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_full_tmpfs, setup, teardown),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: harden_test BPFTIME VICTIM BPFTIMETOOL [priv]\n");
		return 2;
	}
	bpftime_bin = argv[1];
	victim_bin = argv[2];
	tool_bin = argv[3];
	remove_stale_segments("bpftime_harden_");
	if (argc > 4 && !strcmp(argv[4], "priv")) {
		if (geteuid() != 0) {
			fprintf(stderr, "harden_priv_test: not root: skipped\n");
			return 77;
		}
		/* our own mount namespace: the tmpfs mounts stay in it */
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
			fprintf(stderr,
				"harden_priv_test: no private mount namespace (%s): skipped\n",
				strerror(errno));
			return 77;
		}
		if (system("command -v useradd >/dev/null && command -v userdel >/dev/null")) {
			fprintf(stderr, "harden_priv_test: no useradd/userdel: skipped\n");
			return 77;
		}
		return cmocka_run_group_tests(priv, NULL, NULL);
	}
	return cmocka_run_group_tests(plain, NULL, NULL);
}
