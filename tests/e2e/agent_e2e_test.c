/* SPDX-License-Identifier: MIT */
/* tests/e2e/agent_e2e_test.c: the examples end to end: a libbpf loader under
 * `bpftime load` in one process, the traced program under `bpftime start` in
 * another, both inside seccomp_guard (the kernel's bpf() and
 * perf_event_open() fail with EPERM), so everything counted went through the
 * shared memory and the agent's inline hooks.  Each victim counts what it
 * did and prints it; the test compares with what the loader reports.  Also:
 * a target started before its loader (programs attach live, and detach when
 * the loader goes), and targets bpftime cannot serve (no segment, a segment
 * that is not one), which run normally with one warning on stderr.
 * Each test uses its own segment name.
 *
 *   agent_e2e_test BPFTIME GUARD EXAMPLES_DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/shm.h>
#include "proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *bpftime_bin, *guard_bin, *examples;

/* a segment the test itself made (closed by the teardown if still open) */
static struct bpftime_shm *test_shm;

/* cmocka runs this after each test, passed or failed */
static int cleanup(void **state)
{
	(void)state;
	kill_live();
	if (test_shm) {
		bpftime_shm__close(test_shm);
		test_shm = NULL;
	}
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	return 0;
}

static void stop(struct proc *p)
{
	kill(p->pid, SIGTERM); /* bpftime forwards it */
	assert_int_equal(proc_wait_eof(p), 0);
}

static const char *ex(const char *rel)
{
	static char paths[8][4096];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", examples, rel);
	return p;
}

/* argv of "GUARD bpftime SUBCMD ARGS..." */
static void cmd(const char **argv, const char *sub, ...)
{
	va_list ap;
	int i = 0;

	argv[i++] = guard_bin;
	argv[i++] = bpftime_bin;
	argv[i++] = sub;
	va_start(ap, sub);
	while ((argv[i++] = va_arg(ap, const char *)))
		;
	va_end(ap);
}

/* the last line of @buf that starts with @prefix (copied), or NULL */
static const char *last_line(const char *buf, const char *prefix, char *line, size_t len)
{
	const char *found = NULL;

	for (const char *s = buf; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (!strncmp(s, prefix, strlen(prefix)))
			found = s;
	if (!found)
		return NULL;
	snprintf(line, len, "%.*s", (int)strcspn(found, "\n"), found);
	return line;
}

/* waits until the loader's last report line starting with @prefix equals @want */
static void expect_report(struct proc *loader, const char *prefix, const char *want)
{
	char line[512];

	for (int waited = 0;; waited += 50) {
		const char *l = last_line(loader->obuf, prefix, line, sizeof(line));

		if (l && !strcmp(l, want))
			return;
		if (waited > STUCK_MS) {
			print_error("stdout: %s\nstderr: %s\n", loader->obuf, loader->ebuf);
			fail_msg("expected '%s', last: '%s'", want, l ? l : "(none)");
		}
		pump(loader, 50);
	}
}

/* waits until funclatency's last "total: N calls" has N >= @min */
static void wait_total(struct proc *loader, unsigned long min, const char *what)
{
	unsigned long total = 0;
	char line[256];

	for (int waited = 0; total < min || !total; waited += 50) {
		if (waited > STUCK_MS)
			fail_msg("%s: no calls counted: %s / %s", what, loader->obuf, loader->ebuf);
		pump(loader, 50);
		if (last_line(loader->obuf, "total: ", line, sizeof(line)))
			sscanf(line, "total: %lu", &total);
	}
}

/* ---- tests ------------------------------------------------------------ */

/* the README's demo: per-pid malloc counts equal the victim's own count */
static void test_malloc_count(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;
	char want[128];
	long calls, sum;
	int pid;

	(void)state;
#ifdef BPFTIME_E2E_SANITIZED
	/* an instrumented victim's malloc is ASan's: libc's is never called */
	TEST_SKIP("sanitized victim: malloc is ASan's");
#endif
	proc_use_segment("bpftime_agent_e2e", "malloc");
	cmd(largv, "load", ex("malloc/malloc"), "-i", "50", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("victim/victim"), "200", "0", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_int_equal(
		sscanf(victim.obuf, "victim: %ld calls, sum %ld, pid %d", &calls, &sum, &pid), 3);
	assert_int_equal(calls, 200);
	/* quiet: the victim's own line only, nothing on stderr */
	assert_int_equal(strchr(victim.obuf, '\n') - victim.obuf + 1, (long)victim.olen);
	assert_int_equal(victim.elen, 0);
	snprintf(want, sizeof(want), "pid %d: %ld malloc calls", pid, calls);
	expect_report(&loader, "pid ", want);
	stop(&loader);
	bpftime_shm__remove(NULL);
}

/* funclatency: every call of target_func lands in the histogram */
static void test_funclatency(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "funclat");
	cmd(largv, "load", ex("funclatency/funclatency"), "-i", "50", ex("victim/victim"),
	    "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("victim/victim"), "150", "0", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_non_null(strstr(victim.obuf, "victim: 150 calls"));
	expect_report(&loader, "total: ", "total: 150 calls");
	assert_non_null(strstr(loader.obuf, "nsecs"));
	stop(&loader);
	bpftime_shm__remove(NULL);
}

/* bashreadline-like: each line readline() returned comes through the ring buffer */
static void test_readline(void **state)
{
	static const char *const lines[] = { "ls -l /tmp", "echo hello world", "exit" };
	const char *largv[16], *vargv[16];
	struct proc loader, victim;
	char want[256];
	int pid;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "readline");
	cmd(largv, "load", ex("readline/readline"), "-i", "50", ex("readline/rl_victim"), NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("readline/rl_victim"), NULL);
	spawn(&victim, vargv, true);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(write(victim.in, lines[i], strlen(lines[i])),
				 (ssize_t)strlen(lines[i]));
		assert_int_equal(write(victim.in, "\n", 1), 1);
	}
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_int_equal(sscanf(victim.obuf, "rl_victim: 3 lines, pid %d", &pid), 1);
	for (size_t i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), " %-7d %-16.16s %s\n", pid, "rl_victim", lines[i]);
		expect_out(&loader, want);
	}
	stop(&loader);
	bpftime_shm__remove(NULL);
}

/* override: target_func returns the loader's value without running */
static void test_override(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "override");
	cmd(largv, "load", ex("override/override"), "-i", "50", ex("victim/victim"), "target_func",
	    "1000", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("victim/victim"), "30", "0", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	/* unprobed the sum would be 30 * 30 = 900 */
	assert_non_null(strstr(victim.obuf, "victim: 30 calls, sum 30000,"));
	expect_report(&loader, "overrides: ", "overrides: 30");
	stop(&loader);
	/* with the loader gone the function runs again */
	spawn(&victim,
	      (const char *[]){ guard_bin, bpftime_bin, "start", ex("victim/victim"), "30", "0",
				NULL },
	      false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_non_null(strstr(victim.obuf, "victim: 30 calls, sum 900,"));
	bpftime_shm__remove(NULL);
}

/* the original bpftime's uprobe-override loaders, unmodified in style:
 * perf event type 1008 + BPF_PROG_ATTACH(BPF_MODIFY_RETURN), the loader
 * checking BPFTIME_USED (examples/error_inject) */
static void test_error_inject(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "errinj");
	/* target_func(i) = 2i + 1: 30 calls sum to 900 unprobed */
	cmd(largv, "load", ex("error_inject/error_inject"), "-i", "50", "inject",
	    ex("victim/victim"), "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("victim/victim"), "30", "0", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	/* odd i fail with -1 (15 of them), even i run: 435 - 15 */
	assert_non_null(strstr(victim.obuf, "victim: 30 calls, sum 420,"));
	expect_report(&loader, "injected: ", "injected: 15 passed: 15 replaced: 0");
	stop(&loader);

	cmd(largv, "load", ex("error_inject/error_inject"), "-i", "50", "replace",
	    ex("victim/victim"), "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	/* the function never runs: 3i each, 3 * 435 */
	assert_non_null(strstr(victim.obuf, "victim: 30 calls, sum 1305,"));
	expect_report(&loader, "injected: ", "injected: 0 passed: 0 replaced: 30");
	stop(&loader);
	/* outside bpftime the loader says it needs bpftime */
	{
		const char *argv[] = { guard_bin,     ex("error_inject/error_inject"),
				       "inject",      ex("victim/victim"),
				       "target_func", NULL };

		spawn(&loader, argv, false);
		assert_int_equal(proc_wait_eof(&loader), 1);
		assert_non_null(strstr(loader.ebuf, "bpftime load"));
	}
	bpftime_shm__remove(NULL);
}

/* waits until the victim is in its loop (sleeping in clock_nanosleep) */
static void wait_looping(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (int waited = 0;; waited++) {
		char buf[64] = "";
		FILE *f = fopen(path, "re");

		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		if (!strncmp(buf, "230 ", 4))
			return;
		if (waited > STUCK_MS)
			fail_msg("the victim never reached its loop (%s)", buf);
		usleep(1000);
	}
}

static unsigned long replaced_now(struct proc *loader)
{
	unsigned long n = 0;
	char line[256];

	pump(loader, 0);
	if (last_line(loader->obuf, "injected: ", line, sizeof(line)))
		sscanf(line, "injected: %*u passed: %*u replaced: %lu", &n);
	return n;
}

/* `bpftime attach` brings the attacher's segment into a process whose
 * environment names another one, and says so; `bpftime detach` takes the
 * hooks out and the process runs on; a process that cannot be served is
 * a failure with the reason */
static void test_attach_settings_detach(void **state)
{
	const char *largv[16], *aargv[16];
	struct proc loader, victim, p;
	char pid[16], other[128], seg[96];
	unsigned long n;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "attach2");
	snprintf(seg, sizeof(seg), "%s", getenv("BPFTIME_GLOBAL_SHM_NAME"));
	cmd(largv, "load", ex("error_inject/error_inject"), "-i", "20", "replace",
	    ex("victim/victim"), "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	/* the victim's own environment names a segment that does not exist */
	snprintf(other, sizeof(other), "%s_not_this", seg);
	setenv("BPFTIME_GLOBAL_SHM_NAME", other, 1);
	{
		const char *vargv[] = { guard_bin, ex("victim/victim"), "-1", "1", NULL };

		spawn(&victim, vargv, false);
	}
	setenv("BPFTIME_GLOBAL_SHM_NAME", seg, 1);
	wait_looping(victim.pid);
	snprintf(pid, sizeof(pid), "%d", (int)victim.pid);
	cmd(aargv, "attach", "--bpftime-log-output=console", pid, NULL);
	spawn(&p, aargv, false);
	if (proc_wait_eof(&p) != 0)
		fail_msg("bpftime attach failed: %s", p.ebuf);
	assert_non_null(strstr(p.obuf, "agent attached to shared memory"));
	assert_non_null(strstr(p.obuf, seg));
	assert_non_null(strstr(p.obuf, "1 probe"));
	for (int waited = 0; replaced_now(&loader) == 0; waited += 20) {
		if (waited > STUCK_MS)
			fail_msg("no call replaced after attach: %s", loader.obuf);
		usleep(20000);
	}
	/* detach: the hooks go, the process runs on */
	cmd(aargv, "detach", pid, NULL);
	spawn(&p, aargv, false);
	if (proc_wait_eof(&p) != 0)
		fail_msg("bpftime detach failed: %s", p.ebuf);
	assert_non_null(strstr(p.obuf, "1 probe removed"));
	assert_int_equal(kill(victim.pid, 0), 0);
	/* the count stops: three reports in a row with the same count (the
	 * pipe may still hold reports from before detach; with the hooks left
	 * in, the victim's call every ms moves every report) */
	for (int waited = 0, same = 0; same < 3; waited += 50) {
		size_t before = loader.olen;

		if (waited > STUCK_MS)
			fail_msg("calls are still replaced after detach: %s", loader.obuf);
		n = replaced_now(&loader);
		pump(&loader, 50);
		if (loader.olen != before && strchr(loader.obuf + before, '\n'))
			same = replaced_now(&loader) == n ? same + 1 : 0;
	}
	n = replaced_now(&loader);
	/* detach again: nothing to remove */
	spawn(&p, aargv, false);
	assert_int_equal(proc_wait_eof(&p), 0);
	assert_non_null(strstr(p.obuf, "not running"));
	/* attach again: the same agent resumes */
	cmd(aargv, "attach", pid, NULL);
	spawn(&p, aargv, false);
	if (proc_wait_eof(&p) != 0)
		fail_msg("bpftime attach (again) failed: %s", p.ebuf);
	for (int waited = 0; replaced_now(&loader) == n; waited += 20) {
		if (waited > STUCK_MS)
			fail_msg("no call replaced after the second attach: %s", loader.obuf);
		usleep(20000);
	}
	stop(&loader);
	kill(victim.pid, SIGTERM);
	assert_int_equal(proc_wait_eof(&victim), 128 + SIGTERM);
	assert_int_equal(victim.olen, 0);

	/* a process that cannot be served: no such segment for it */
	{
		const char *vargv[] = { guard_bin, ex("victim/victim"), "-1", "1", NULL };

		spawn(&victim, vargv, false);
	}
	wait_looping(victim.pid);
	snprintf(pid, sizeof(pid), "%d", (int)victim.pid);
	setenv("BPFTIME_GLOBAL_SHM_NAME", other, 1);
	cmd(aargv, "attach", pid, NULL);
	spawn(&p, aargv, false);
	assert_int_equal(proc_wait_eof(&p), 1);
	assert_non_null(strstr(p.ebuf, "cannot be served: no bpftime shared memory"));
	assert_non_null(strstr(p.ebuf, other));
	setenv("BPFTIME_GLOBAL_SHM_NAME", seg, 1);
	assert_int_equal(kill(victim.pid, 0), 0);
	/* usage errors: 2 */
	cmd(aargv, "attach", "notapid", NULL);
	spawn(&p, aargv, false);
	assert_int_equal(proc_wait_eof(&p), 2);
	cmd(aargv, "detach", "1", "2", NULL);
	spawn(&p, aargv, false);
	assert_int_equal(proc_wait_eof(&p), 2);
	kill(victim.pid, SIGTERM);
	assert_int_equal(proc_wait_eof(&victim), 128 + SIGTERM);
	bpftime_shm__remove(NULL);
}

/* two uprobes and a uretprobe on one function of the executable, a uprobe
 * in a shared library, four threads */
static void test_probes_threads_shlib(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;
	long threads, exe, lib, sum;
	char want[512];
	int pid;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "probes");
	cmd(largv, "load", ex("probes/probes"), "-i", "50", ex("probes/mt_victim"),
	    ex("probes/libprobes_lib.so"), NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	cmd(vargv, "start", ex("probes/mt_victim"), "4", "20000", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_int_equal(sscanf(victim.obuf,
				"mt_victim: %ld threads, exe_func %ld calls (returns sum %ld), "
				"lib_func %ld calls, pid %d",
				&threads, &exe, &sum, &lib, &pid),
			 5);
	assert_int_equal(exe, 80000);
	assert_int_equal(lib, 80000);
	snprintf(want, sizeof(want),
		 "exe_func: first uprobe %ld, second uprobe %ld, uretprobe %ld (returns sum %ld); "
		 "lib_func: uprobe %ld",
		 exe, exe, exe, sum, lib);
	expect_report(&loader, "exe_func: ", want);
	stop(&loader);
	bpftime_shm__remove(NULL);
}

/* the target runs first; the loader comes later (live attach), then goes
 * (live detach): the target never stops */
static void test_live_attach_detach(void **state)
{
	const char *largv[16], *vargv[16];
	struct proc loader, victim;
	int status;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "live");
	/* the segment exists before anything is loaded into it */
	BPFTIME_OPTS(bpftime_shm_opts, so);
	struct bpftime_shm *shm = test_shm = bpftime_shm__create(&so);

	assert_non_null(shm);
	cmd(vargv, "start", ex("victim/victim"), "-1", "2", NULL);
	spawn(&victim, vargv, false);
	cmd(largv, "load", ex("funclatency/funclatency"), "-i", "50", ex("victim/victim"),
	    "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	/* calls of the running victim get timed */
	wait_total(&loader, 1, "live attach");
	stop(&loader);
	/* unhooked, still running */
	pump(&victim, 200);
	assert_int_equal(waitpid(victim.pid, &status, WNOHANG), 0);
	kill(victim.pid, SIGTERM);
	assert_int_equal(proc_wait_eof(&victim), 128 + SIGTERM);
	if (victim.elen)
		fail_msg("the victim wrote to stderr: %.*s", (int)victim.elen, victim.ebuf);
	test_shm = NULL;
	bpftime_shm__close(shm);
	bpftime_shm__remove(NULL);
}

/* `bpftime attach PID`: the agent injected into a process that runs
 * without it; its target_func calls are timed from then on */
static void test_attach_pid(void **state)
{
	const char *largv[16], *aargv[16];
	const char *vargv[] = { guard_bin, ex("victim/victim"), "-1", "2", NULL };
	struct proc loader, victim, attach;
	char pid[16], path[64];

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "attach");
	cmd(largv, "load", ex("funclatency/funclatency"), "-i", "50", ex("victim/victim"),
	    "target_func", NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	/* (in a sanitizer build the victim carries the ASan runtime the
	 * instrumented agent needs) */
	spawn(&victim, vargv, false); /* the guard execs the victim: same pid */
	snprintf(pid, sizeof(pid), "%d", (int)victim.pid);
	/* attach once it runs its loop (sleeping in clock_nanosleep), not while
	 * the guard still execs it or the dynamic linker starts it */
	snprintf(path, sizeof(path), "/proc/%s/syscall", pid);
	for (int waited = 0;; waited++) {
		char buf[64] = "";
		FILE *f = fopen(path, "re");

		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		if (!strncmp(buf, "230 ", 4))
			break;
		if (waited > STUCK_MS)
			fail_msg("the victim never reached its loop (%s)", buf);
		usleep(1000);
	}
	cmd(aargv, "attach", pid, NULL);
	spawn(&attach, aargv, false);
	if (proc_wait_eof(&attach) != 0)
		fail_msg("bpftime attach failed: %s", attach.ebuf);
	assert_int_equal(attach.elen, 0);
	wait_total(&loader, 10, "attached victim");
	/* a second attach is refused: the agent is there already */
	spawn(&attach, aargv, false);
	assert_int_not_equal(proc_wait_eof(&attach), 0);
	assert_non_null(strstr(attach.ebuf, "already"));
	stop(&loader);
	kill(victim.pid, SIGTERM);
	assert_int_equal(proc_wait_eof(&victim), 128 + SIGTERM);
	assert_int_equal(victim.elen, 0);
	assert_int_equal(victim.olen, 0);
	/* no such process */
	cmd(aargv, "attach", "999999999", NULL);
	spawn(&attach, aargv, false);
	assert_int_not_equal(proc_wait_eof(&attach), 0);
	assert_true(attach.elen > 0);
	bpftime_shm__remove(NULL);
}

/* no segment, or one that is not a bpftime segment: the target runs as
 * usual, its stdout untouched, one warning on stderr */
static void test_unserved(void **state)
{
	const char *vargv[16];
	char path[128];
	struct proc victim;
	int fd;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "none");
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			snprintf(path, sizeof(path), "/dev/shm/%s",
				 getenv("BPFTIME_GLOBAL_SHM_NAME"));
			fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
			assert_true(fd >= 0);
			for (int i = 0; i < 64; i++)
				assert_int_equal(write(fd, "not a bpftime segment...", 24), 24);
			close(fd);
		}
		cmd(vargv, "start", ex("victim/victim"), "5", "0", NULL);
		spawn(&victim, vargv, false);
		assert_int_equal(proc_wait_eof(&victim), 0);
		assert_non_null(strstr(victim.obuf, "victim: 5 calls, sum 25,"));
		assert_int_equal(strchr(victim.obuf, '\n') - victim.obuf + 1, (long)victim.olen);
		assert_non_null(strstr(victim.ebuf, "running untraced"));
		assert_int_equal(strchr(victim.ebuf, '\n') - victim.ebuf + 1, (long)victim.elen);
	}
	bpftime_shm__remove(NULL);
}

/* by default the agent logs to ~/.bpftime/runtime.log, as the original
 * does: lines with time, level, pid and component; the program's own
 * stdout and stderr stay its own */
static void test_log_default(void **state)
{
	const char *vargv[16];
	char home[128], log[256], want[64], *text;
	const char *old_home = getenv("HOME");
	struct proc victim;
	FILE *f;
	long n;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "logdefault");
	snprintf(home, sizeof(home), "/tmp/bpftime_agent_e2e_home_%d", (int)getpid());
	snprintf(log, sizeof(log), "%s/.bpftime/runtime.log", home);
	mkdir(home, 0700);
	unlink(log);
	setenv("HOME", home, 1);
	unsetenv("BPFTIME_LOG_OUTPUT");
	cmd(vargv, "start", ex("victim/victim"), "5", "0", NULL);
	spawn(&victim, vargv, false);
	assert_int_equal(proc_wait_eof(&victim), 0);
	setenv("BPFTIME_LOG_OUTPUT", "console", 1);
	if (old_home)
		setenv("HOME", old_home, 1);
	assert_non_null(strstr(victim.obuf, "victim: 5 calls, sum 25,"));
	assert_int_equal(strchr(victim.obuf, '\n') - victim.obuf + 1, (long)victim.olen);
	/* bpftime start says it (the agent's words are in the log) */
	assert_non_null(strstr(victim.ebuf, "bpftime start: no bpftime shared memory"));
	assert_int_equal(strchr(victim.ebuf, '\n') - victim.ebuf + 1, (long)victim.elen);
	f = fopen(log, "re");
	assert_non_null(f);
	text = calloc(1, 65536);
	assert_non_null(text);
	n = (long)fread(text, 1, 65535, f);
	fclose(f);
	assert_true(n > 0);
	/* [2026-12-06 07:01:02.123] [warn] [PID] [agent] agent: no bpftime ... */
	{
		int pid = 0, k = 0;

		snprintf(want, sizeof(want), "%s", "] [warn] [");
		if (text[0] != '[' || text[11] != ' ' || text[20] != '.' ||
		    strncmp(text + 24, want, strlen(want)) ||
		    sscanf(text + 24 + strlen(want), "%d] [agent] %n", &pid, &k) != 1 || !k ||
		    pid <= 0 || !strstr(text, "running untraced"))
			fail_msg("runtime.log: '%s'", text);
	}
	free(text);
	unlink(log);
	snprintf(log, sizeof(log), "%s/.bpftime", home);
	rmdir(log);
	rmdir(home);
}

/* the agent leaves LD_PRELOAD to the target's children without itself, and
 * the exit status comes through */
static void test_start_children_and_status(void **state)
{
	const char *argv1[] = { guard_bin, bpftime_bin, "start",
				"/bin/sh", "-c",	"echo preload=[$LD_PRELOAD]; exit 3",
				NULL };
	const char *argv2[] = { guard_bin, bpftime_bin, "start", NULL };
	struct proc p;

	(void)state;
	proc_use_segment("bpftime_agent_e2e", "children");
	BPFTIME_OPTS(bpftime_shm_opts, so);
	struct bpftime_shm *shm = test_shm = bpftime_shm__create(&so);

	assert_non_null(shm);
	spawn(&p, argv1, false);
	assert_int_equal(proc_wait_eof(&p), 3);
	/* the agent is gone from it (a sanitizer build leaves the ASan runtime) */
	assert_non_null(strstr(p.obuf, "preload=["));
	assert_null(strstr(p.obuf, "libbpftime-agent"));
	spawn(&p, argv2, false);
	assert_int_not_equal(proc_wait_eof(&p), 0);
	assert_non_null(strstr(p.ebuf, "usage"));
	test_shm = NULL;
	bpftime_shm__close(shm);
	bpftime_shm__remove(NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_malloc_count, cleanup),
		cmocka_unit_test_teardown(test_funclatency, cleanup),
		cmocka_unit_test_teardown(test_readline, cleanup),
		cmocka_unit_test_teardown(test_override, cleanup),
		cmocka_unit_test_teardown(test_error_inject, cleanup),
		cmocka_unit_test_teardown(test_attach_settings_detach, cleanup),
		cmocka_unit_test_teardown(test_probes_threads_shlib, cleanup),
		cmocka_unit_test_teardown(test_live_attach_detach, cleanup),
		cmocka_unit_test_teardown(test_attach_pid, cleanup),
		cmocka_unit_test_teardown(test_unserved, cleanup),
		cmocka_unit_test_teardown(test_log_default, cleanup),
		cmocka_unit_test_teardown(test_start_children_and_status, cleanup),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: agent_e2e_test BPFTIME GUARD EXAMPLES_DIR\n");
		return 2;
	}
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	examples = argv[3];
	signal(SIGPIPE, SIG_IGN);
	remove_stale_segments("bpftime_agent_e2e_");
	return TEST_RUN(tests, NULL, NULL);
}
