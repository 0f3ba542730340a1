/* SPDX-License-Identifier: MIT */
/* tests/e2e/systp_e2e_test.c: syscall tracepoints end to end.  The loaders
 * of examples/systp (opensnoop-like with a perf buffer and with a ring
 * buffer, syscount-like on raw_syscalls, sigsnoop-like, error injection on
 * write) and a bpftrace one-liner run under `bpftime load`, their victim
 * under `bpftime start` (or `bpftime attach`), all inside seccomp_guard (the
 * kernel's bpf() and perf_event_open() fail), and what the loaders print
 * must be exactly what the victim did.
 *
 * With --kernel the same loaders run against the kernel (root, tracefs
 * mounted in a private mount namespace) on the same victim, and the events
 * of both runs must be the same; exits 77 (skipped) when the kernel cannot.
 * The kernel also sees the dynamic linker's syscalls, which happen before
 * the agent is loaded: events are compared from the victim's first marker.
 *
 *   systp_e2e_test BPFTIME GUARD EXAMPLES_DIR [--kernel]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#include <bpftime/shm.h>
#include "proc.h"

#define BPFTRACE "/usr/bin/bpftrace"

static const char *bpftime_bin, *guard_bin, *examples;
static bool kernel_mode;
static char tmp_path[128], end_path[128];
/* The victim runs under a name of its own (a symlink "stv" + our pid, 12
 * characters as "systp_victim"): the kernel's loaders see every process
 * on the machine, and other runs of these tests may have a systp_victim
 * going.  Outputs have it put back to "systp_victim" before comparing. */
static char vcomm[16], vdir[160], vpath[256];

static int cleanup(void **state)
{
	(void)state;
	kill_live();
	if (getenv("BPFTIME_GLOBAL_SHM_NAME"))
		bpftime_shm__remove(NULL);
	return 0;
}

static const char *ex(const char *rel)
{
	static char paths[8][4096];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/systp/%s", examples, rel);
	return p;
}

/* argv of "GUARD bpftime SUBCMD ARGS..." (ours) */
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

/* The kernel's run of a loader: its own mount namespace with tracefs.
 * "unshare -m sh -c 'mount ... && exec \"$0\" \"$@\"' LOADER ARGS..." */
static void kcmd(const char **argv, ...)
{
	va_list ap;
	int i = 0;

	argv[i++] = "/usr/bin/unshare";
	argv[i++] = "-m";
	argv[i++] = "--propagation";
	argv[i++] = "private";
	argv[i++] = "sh";
	argv[i++] = "-c";
	argv[i++] = "mount -t tracefs nodev /sys/kernel/tracing && exec \"$0\" \"$@\"";
	va_start(ap, argv);
	while ((argv[i++] = va_arg(ap, const char *)))
		;
	va_end(ap);
}

/* Lines of @buf starting with @prefix, from the first that contains @from
 * (NULL: the first), joined with '\n', into @out. */
static void lines(const char *buf, const char *prefix, const char *from, char *out, size_t len)
{
	bool on = !from;
	size_t n = 0;

	out[0] = 0;
	for (const char *s = buf; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
		size_t l = strcspn(s, "\n");

		if (strncmp(s, prefix, strlen(prefix)))
			continue;
		if (!on && memmem(s, l, from, strlen(from)))
			on = true;
		if (on && n + l + 2 < len) {
			memcpy(out + n, s, l);
			n += l;
			out[n++] = '\n';
			out[n] = 0;
		}
	}
}

/* removes the lines of @buf that contain @needle */
static void drop_lines(char *buf, const char *needle)
{
	char *out = buf, *s = buf;

	while (*s) {
		size_t l = strcspn(s, "\n") + (s[strcspn(s, "\n")] ? 1 : 0);

		if (!memmem(s, l, needle, strlen(needle))) {
			memmove(out, s, l);
			out += l;
		}
		s += l;
	}
	*out = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorts the lines of @buf in place: perf buffers keep order per cpu only */
static void sort_lines(char *buf)
{
	char *v[256], *copy = strdup(buf), *save = NULL;
	size_t n = 0;

	assert_non_null(copy);
	for (char *t = strtok_r(copy, "\n", &save); t && n < 256; t = strtok_r(NULL, "\n", &save))
		v[n++] = t;
	qsort(v, n, sizeof(v[0]), cmp_str);
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		strcat(buf, v[i]);
		strcat(buf, "\n");
	}
	free(copy);
}

/* waits until the loader printed a line containing @needle */
static void wait_line(struct proc *p, const char *needle)
{
	for (int waited = 0; !strstr(p->obuf, needle); waited += 50) {
		if (waited > STUCK_MS || (p->out_eof && p->err_eof)) {
			print_error("stdout: %s\nstderr: %s\n", p->obuf, p->ebuf);
			fail_msg("no '%s' from %d", needle, (int)p->pid);
		}
		pump(p, 50);
	}
}

static void run_victim(bool ours, const char *mode, char *out, size_t len)
{
	const char *argv[16];
	struct proc v;
	int i = 0;

	if (ours) {
		cmd(argv, "start", vpath, mode, tmp_path, end_path, NULL);
	} else {
		argv[i++] = vpath;
		argv[i++] = mode;
		argv[i++] = tmp_path;
		argv[i++] = end_path;
		argv[i] = NULL;
	}
	spawn(&v, argv, false);
	if (proc_wait_eof(&v) != 0) {
		print_error("victim stdout: %s\nstderr: %s\n", v.obuf, v.ebuf);
		fail_msg("the victim failed");
	}
	assert_non_null(strstr(v.obuf, "victim: done\n"));
	if (out) {
		size_t n = v.olen < len - 1 ? v.olen : len - 1;

		memcpy(out, v.obuf, n);
		out[n] = 0;
	}
}

/* Runs @loader (NULL-terminated args after it) ours or the kernel's, the
 * victim in @mode, and returns the loader's output in @out.  @stop: the
 * loader is stopped with SIGTERM after the victim (else it exits itself).
 * Returns false when the kernel refused the loader (kernel mode only). */
static bool run(bool ours, const char *mode, bool stop, char *out, size_t len, char *vout,
		size_t vlen, const char *const *largs)
{
	const char *argv[32];
	struct proc l;
	int i = 0, st;

	if (ours) {
		proc_use_segment("bpftime_systp_e2e", mode);
		argv[i++] = guard_bin;
		argv[i++] = bpftime_bin;
		argv[i++] = "load";
	} else {
		kcmd(argv, NULL);
		i = 7;
	}
	for (int k = 0; largs[k]; k++)
		argv[i++] = largs[k];
	argv[i] = NULL;
	spawn(&l, argv, false);
	for (int waited = 0; !strstr(l.obuf, "ready\n") && !strstr(l.obuf, "Attaching");
	     waited += 50) {
		if (l.out_eof && l.err_eof) {
			st = proc_wait_eof(&l);
			if (!ours) {
				print_message("the kernel's run: exit %d: %s\n", st, l.ebuf);
				return false;
			}
			print_error("loader exited %d: %s\n%s\n", st, l.obuf, l.ebuf);
			fail_msg("the loader did not start");
		}
		if (waited > STUCK_MS)
			fail_msg("the loader never got ready: %s", l.ebuf);
		pump(&l, 50);
	}
	if (strstr(l.obuf, "Attaching"))
		usleep(300000); /* bpftrace: "Attaching" comes before the attach */
	run_victim(ours, mode, vout, vlen);
	if (stop) {
		usleep(200000);
		kill(l.pid, SIGTERM);
	}
	st = proc_wait_eof(&l);
	if (st != 0 && !(stop && st == 128 + SIGTERM)) {
		print_error("loader exited %d: %s\n%s\n", st, l.obuf, l.ebuf);
		fail_msg("the loader failed");
	}
	i = (int)(l.olen < len - 1 ? l.olen : len - 1);
	memcpy(out, l.obuf, (size_t)i);
	out[i] = 0;
	for (char *c = strstr(out, vcomm); c; c = strstr(c, vcomm))
		memcpy(c, "systp_victim", strlen(vcomm)); /* same length */
	return true;
}

static void check_same(const char *what, const char *ours, const char *kernel)
{
	if (strcmp(ours, kernel)) {
		print_error("%s: ours\n%s\nkernel\n%s\n", what, ours, kernel);
		fail_msg("%s: bpftime and the kernel saw different events", what);
	}
	print_message("%s: same events as the kernel (%zu bytes)\n", what, strlen(ours));
}

static char obuf[1 << 17], kbuf[1 << 17], sel[8192], ksel[8192];

static void opensnoop(const char *variant, bool failed_only)
{
	const char *args[] = {
		ex("opensnoop"), variant, vcomm, end_path, failed_only ? "failed" : NULL, NULL
	};
	char begin[160], want[2048];

	snprintf(begin, sizeof(begin), "path=%s.begin", end_path);
	run(true, "open", false, obuf, sizeof(obuf), NULL, 0, args);
	lines(obuf, "open ", begin, sel, sizeof(sel));
	if (failed_only)
		snprintf(want, sizeof(want),
			 "open comm=systp_victim ret=-2 flags=0 path=%s.begin stack=1\n"
			 "open comm=systp_victim ret=-2 flags=0 path=/nonexistent-bpftime/x "
			 "stack=1\n"
			 "open comm=systp_victim ret=-2 flags=0 path=%s stack=1\n",
			 end_path, end_path);
	else
		snprintf(want, sizeof(want),
			 "open comm=systp_victim ret=-2 flags=0 path=%s.begin stack=1\n"
			 "open comm=systp_victim ret=fd flags=0 path=/dev/null stack=1\n"
			 "open comm=systp_victim ret=-2 flags=0 path=/nonexistent-bpftime/x "
			 "stack=1\n"
			 "open comm=systp_victim ret=fd flags=0x241 path=%s stack=1\n"
			 "open comm=systp_victim ret=fd flags=0x80000 path=/dev/zero stack=1\n"
			 "open comm=systp_victim ret=fd flags=0 path=/proc/self/stat stack=1\n"
			 "open comm=systp_victim ret=fd flags=0 path=/dev/full stack=1\n"
			 "open comm=systp_victim ret=-2 flags=0 path=%s stack=1\n",
			 end_path, tmp_path, end_path);
	if (!strcmp(variant, "perf")) {
		/* all from the begin marker on (it may come after others) */
		lines(obuf, "open ", NULL, sel, sizeof(sel));
		sort_lines(sel);
		sort_lines(want);
	}
	if (strcmp(sel, want)) {
		print_error("loader:\n%s\nwanted:\n%s\n", obuf, want);
		fail_msg("opensnoop (%s) events differ from what the victim did", variant);
	}
	if (!kernel_mode)
		return;
	if (!run(false, "open", false, kbuf, sizeof(kbuf), NULL, 0, args))
		fail_msg("the kernel refused opensnoop");
	lines(kbuf, "open ", begin, ksel, sizeof(ksel));
	if (!strcmp(variant, "perf")) {
		/* the kernel also saw the dynamic linker's opens (before the
		 * agent could be there): only the victim's own paths count */
		lines(kbuf, "open ", NULL, ksel, sizeof(ksel));
		drop_lines(ksel, "path=/etc/ld.so.cache");
		drop_lines(ksel, "path=/lib/");
		drop_lines(ksel, "path=/usr/lib/");
		sort_lines(ksel);
	}
	check_same(variant, sel, ksel);
}

static void test_opensnoop_perf(void **state)
{
	(void)state;
	opensnoop("perf", false);
}

static void test_opensnoop_ringbuf(void **state)
{
	(void)state;
	opensnoop("ringbuf", false);
}

static void test_opensnoop_failed(void **state)
{
	(void)state;
	opensnoop("ringbuf", true);
}

static void test_syscount(void **state)
{
	const char *args[] = { ex("syscount"), "-i", "100", vcomm, NULL };
	const char *want[] = { "syscall 111: 7 calls, 0 errors\n",
			       "syscall 124: 5 calls, 0 errors\n", ", 3 errors\n" };

	(void)state;
	run(true, "count", true, obuf, sizeof(obuf), NULL, 0, args);
	assert_non_null(strstr(obuf, "end\n"));
	for (size_t i = 0; i < 3; i++) {
		if (!strstr(obuf, want[i])) {
			print_error("loader:\n%s\n", obuf);
			fail_msg("syscount: no '%s'", want[i]);
		}
	}
	lines(obuf, "syscall 3:", NULL, sel, sizeof(sel));
	assert_non_null(strstr(sel, ", 3 errors")); /* close(-1) x3 */
	if (!kernel_mode)
		return;
	if (!run(false, "count", true, kbuf, sizeof(kbuf), NULL, 0, args))
		fail_msg("the kernel refused syscount");
	for (size_t i = 0; i < 2; i++) {
		lines(obuf, want[i], NULL, sel, sizeof(sel));
		lines(kbuf, want[i], NULL, ksel, sizeof(ksel));
		check_same("syscount", sel, ksel);
	}
	lines(kbuf, "syscall 3:", NULL, ksel, sizeof(ksel));
	assert_non_null(strstr(ksel, ", 3 errors"));
}

static void test_sigsnoop(void **state)
{
	const char *args[] = { ex("sigsnoop"), vcomm, "28", NULL };
	const char *want = "signal comm=systp_victim call=kill target=self sig=0 ret=0\n"
			   "signal comm=systp_victim call=kill target=other sig=15 ret=-3\n"
			   "signal comm=systp_victim call=tgkill target=self sig=10 ret=0\n"
			   "signal comm=systp_victim call=tkill target=self sig=12 ret=0\n"
			   "signal comm=systp_victim call=kill target=self sig=65 ret=-22\n"
			   "signal comm=systp_victim call=kill target=self sig=28 ret=0\n";

	(void)state;
	run(true, "signals", false, obuf, sizeof(obuf), NULL, 0, args);
	lines(obuf, "signal ", NULL, sel, sizeof(sel));
	if (strcmp(sel, want)) {
		print_error("loader:\n%s\nwanted:\n%s\n", obuf, want);
		fail_msg("sigsnoop events differ from what the victim did");
	}
	if (!kernel_mode)
		return;
	if (!run(false, "signals", false, kbuf, sizeof(kbuf), NULL, 0, args))
		fail_msg("the kernel refused sigsnoop");
	lines(kbuf, "signal ", NULL, ksel, sizeof(ksel));
	check_same("sigsnoop", sel, ksel);
}

static void test_errinject(void **state)
{
	const char *args[] = { ex("errinject"), "-i", "50", vcomm, "100", NULL };
	static char vout[4096];

	(void)state;
	run(true, "write", true, obuf, sizeof(obuf), vout, sizeof(vout), args);
	assert_non_null(strstr(vout, "write: 5 ok, 5 failed (Input/output error)\n"));
	assert_non_null(strstr(obuf, "writes: 10 seen, 5 failed\n"));
	if (!kernel_mode)
		return;
	/* the kernel allows bpf_override_return in kprobe programs only */
	if (run(false, "write", true, kbuf, sizeof(kbuf), vout, sizeof(vout), args))
		fail_msg("the kernel accepted bpf_override_return in a tracepoint program?");
	print_message("errinject: the kernel refuses bpf_override_return in a tracepoint program: "
		      "nothing to compare\n");
}

/* Skips without bpftrace, or in the sanitizer build (the sanitized server
 * cannot be preloaded into a binary without ASan). */
static void need_bpftrace(void)
{
	if (access(BPFTRACE, X_OK))
		TEST_SKIP("no bpftrace (apt-get install bpftrace)");
#ifdef BPFTIME_E2E_SANITIZED
	print_message("skipped: bpftrace cannot host the sanitizer build's syscall server\n");
	skip();
#endif
}

/* The one-liner @prog with the victim in @mode: the lines of its output
 * that start with @prefix, sorted (a perf buffer keeps order per cpu
 * only), must be @want (sorted here), and with --kernel the kernel's (the
 * dynamic linker's opens dropped: they come before the agent could be
 * there).  @what names it in messages. */
static void bpftrace_same(const char *prog, const char *mode, const char *prefix, char *want,
			  const char *what)
{
	const char *args[] = { BPFTRACE, "-e", prog, NULL };

	sort_lines(want);
	run(true, mode, false, obuf, sizeof(obuf), NULL, 0, args);
	lines(obuf, prefix, NULL, sel, sizeof(sel));
	sort_lines(sel);
	if (strcmp(sel, want)) {
		print_error("bpftrace:\n%s\nwanted:\n%s\n", obuf, want);
		fail_msg("%s: bpftrace's events differ from what the victim did", what);
	}
	if (!kernel_mode)
		return;
	if (!run(false, mode, false, kbuf, sizeof(kbuf), NULL, 0, args))
		fail_msg("the kernel refused the bpftrace one-liner");
	lines(kbuf, prefix, NULL, ksel, sizeof(ksel));
	drop_lines(ksel, " /etc/ld.so.cache");
	drop_lines(ksel, " /lib/");
	drop_lines(ksel, " /usr/lib/");
	sort_lines(ksel);
	check_same(what, sel, ksel);
}

static void test_bpftrace(void **state)
{
	static char prog[512];
	char begin[160], want[2048];

	(void)state;
	/* the one-liner, and exit() a little after the victim's last open:
	 * bpftrace ignores what it reads after its exit record, and a
	 * bpftrace slowed down (CI) may not have read the other CPU's ring
	 * (the new thread's open) when the last open's ring has the exit */
	snprintf(prog, sizeof(prog),
		 "tracepoint:syscalls:sys_enter_openat /comm == \"%s\"/ "
		 "{ printf(\"open %%s\\n\", str(args->filename)); "
		 "if (str(args->filename) == \"%s\") { @done = 1; } } "
		 "interval:ms:200 /@done/ { exit(); }",
		 vcomm, end_path);
	need_bpftrace();
	snprintf(begin, sizeof(begin), "open %s.begin", end_path);
	snprintf(want, sizeof(want),
		 "%s\nopen /dev/null\nopen /nonexistent-bpftime/x\nopen %s\nopen /dev/zero\n"
		 "open /proc/self/stat\nopen /dev/full\nopen %s\n",
		 begin, tmp_path, end_path);
	bpftrace_same(prog, "open", "open ", want, "bpftrace");
}

/* A read that a signal handler with SA_RESTART interrupts, traced by a
 * bpftrace one-liner: enter, exit with -ERESTARTSYS (-512), enter again,
 * exit with the byte, as the kernel's tracepoints show it. */
static void test_bpftrace_restart(void **state)
{
	static char prog[768];
	char want[256] = "read enter fd 50\nread enter fd 50\nread exit -512\nread exit 1\n";

	(void)state;
	snprintf(prog, sizeof(prog),
		 "tracepoint:syscalls:sys_enter_read /comm == \"%s\" && args->fd == 50/ "
		 "{ @r[tid] = 1; printf(\"read enter fd %%d\\n\", args->fd); } "
		 "tracepoint:syscalls:sys_exit_read /@r[tid]/ "
		 "{ printf(\"read exit %%d\\n\", args->ret); delete(@r[tid]); "
		 "if (args->ret == 1) { @done = 1; } } "
		 "interval:ms:200 /@done/ { clear(@r); exit(); }",
		 vcomm);
	need_bpftrace();
	bpftrace_same(prog, "restart", "read ", want, "bpftrace restart");
}

/* whether process @pid has the syscall hook's code region mapped */
static bool hooked(int pid)
{
	char maps[64], line[512];
	bool region = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	f = fopen(maps, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		region |= strstr(line, "bpftime-syscalls") != NULL;
	fclose(f);
	return region;
}

/* The hook comes up asynchronously (the agent's watcher, or the injected
 * agent's constructor): the victim opens END.probe on each "probe" line
 * until the loader has seen one. */
static void wait_traced(struct proc *victim, struct proc *loader)
{
	char probe[160];

	snprintf(probe, sizeof(probe), "path=%s.probe", end_path);
	for (int waited = 0; !strstr(loader->obuf, probe); waited += 20) {
		if (waited > STUCK_MS)
			fail_msg("the victim's syscalls never reached the loader");
		assert_int_equal(write(victim->in, "probe\n", 6), 6);
		pump(loader, 20);
		pump(victim, 0);
	}
}

/* the victim runs first without any syscall tracepoint (the hook is not
 * even set up: no code region in its maps), then opensnoop comes: its
 * programs run in the victim from then on */
static void test_live_and_zero_cost(void **state)
{
	const char *uargv[16], *largv[16], *vargv[16];
	struct proc up, loader, victim;
	char begin[160];
	int vpid;

	(void)state;
	if (kernel_mode)
		TEST_SKIP("live attach is bpftime's, not the kernel's");
	proc_use_segment("bpftime_systp_e2e", "live");
	/* a uprobe loader makes the segment: no syscall tracepoint in it */
	cmd(uargv, "load", ex("../malloc/malloc"), "-i", "1000", NULL);
	spawn(&up, uargv, false);
	expect_out(&up, "ready\n");
	cmd(vargv, "start", vpath, "open-wait", tmp_path, end_path, NULL);
	spawn(&victim, vargv, true);
	wait_line(&victim, "waiting\n");
	vpid = atoi(strstr(victim.obuf, "pid ") + 4);
	assert_false(hooked(vpid));
	cmd(largv, "load", ex("opensnoop"), "ringbuf", vcomm, end_path, NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	/* the victim's agent follows the segment: its hook comes up */
	wait_traced(&victim, &loader);
	assert_true(hooked(vpid));
	assert_int_equal(write(victim.in, "go\n", 3), 3);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_int_equal(proc_wait_eof(&loader), 0);
	snprintf(begin, sizeof(begin), "path=%s.begin", end_path);
	lines(loader.obuf, "open ", begin, sel, sizeof(sel));
	assert_non_null(strstr(sel, "path=/dev/null"));
	assert_non_null(strstr(sel, "path=/dev/zero"));
	assert_non_null(strstr(sel, "path=/proc/self/stat"));
	kill(up.pid, SIGTERM);
	proc_wait_eof(&up);
}

/* `bpftime attach PID` on a victim running without the agent */
static void test_attach_pid(void **state)
{
	const char *largv[16], *aargv[16],
		*vargv[] = { guard_bin, vpath, "open-wait", tmp_path, end_path, NULL };
	struct proc loader, victim, attach;
	char pid[16], begin[160];

	(void)state;
	if (kernel_mode)
		TEST_SKIP("bpftime attach is bpftime's, not the kernel's");
	proc_use_segment("bpftime_systp_e2e", "attach");
	cmd(largv, "load", ex("opensnoop"), "perf", vcomm, end_path, NULL);
	spawn(&loader, largv, false);
	expect_out(&loader, "ready\n");
	spawn(&victim, vargv, true);
	wait_line(&victim, "waiting\n");
	snprintf(pid, sizeof(pid), "%d", (int)victim.pid);
	cmd(aargv, "attach", pid, NULL);
	spawn(&attach, aargv, false);
	if (proc_wait_eof(&attach) != 0)
		fail_msg("bpftime attach failed: %s", attach.ebuf);
	/* attach returns once the agent is mapped; its constructor starts the
	 * hook on its own thread */
	wait_traced(&victim, &loader);
	assert_int_equal(write(victim.in, "go\n", 3), 3);
	assert_int_equal(proc_wait_eof(&victim), 0);
	assert_int_equal(proc_wait_eof(&loader), 0);
	snprintf(begin, sizeof(begin), "path=%s.begin", end_path);
	lines(loader.obuf, "open ", begin, sel, sizeof(sel));
	assert_non_null(strstr(sel, "path=/dev/null"));
	assert_non_null(strstr(sel, "path=/dev/zero"));
	assert_non_null(strstr(sel, "path=/proc/self/stat"));
}

int main(int argc, char **argv)
{
	static char victim_real[4096];
	int rc;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_opensnoop_perf, cleanup),
		cmocka_unit_test_teardown(test_opensnoop_ringbuf, cleanup),
		cmocka_unit_test_teardown(test_opensnoop_failed, cleanup),
		cmocka_unit_test_teardown(test_syscount, cleanup),
		cmocka_unit_test_teardown(test_sigsnoop, cleanup),
		cmocka_unit_test_teardown(test_errinject, cleanup),
		cmocka_unit_test_teardown(test_bpftrace, cleanup),
		cmocka_unit_test_teardown(test_bpftrace_restart, cleanup),
		cmocka_unit_test_teardown(test_live_and_zero_cost, cleanup),
		cmocka_unit_test_teardown(test_attach_pid, cleanup),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: systp_e2e_test BPFTIME GUARD EXAMPLES_DIR [--kernel]\n");
		return 2;
	}
	bpftime_bin = argv[1];
	guard_bin = argv[2];
	examples = argv[3];
	kernel_mode = argc > 4 && !strcmp(argv[4], "--kernel");
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/systp_e2e_%d.tmp", getpid());
	snprintf(end_path, sizeof(end_path), "/nonexistent-systp-end-%d", getpid());
	if (kernel_mode) {
		int st = system("unshare -m --propagation private sh -c "
				"'mount -t tracefs nodev /sys/kernel/tracing && "
				"test -r /sys/kernel/tracing/events/syscalls/sys_enter_openat/id' "
				"2>/dev/null");

		if (geteuid() != 0 || st != 0) {
			fprintf(stderr,
				"skipped: the kernel's tracepoints need root and a tracefs\n");
			return 77;
		}
	}
	remove_stale_segments("bpftime_systp_e2e_");
	snprintf(vcomm, sizeof(vcomm), "stv%09d", (int)getpid());
	snprintf(vdir, sizeof(vdir), "/tmp/systp_e2e_%d.d", (int)getpid());
	snprintf(vpath, sizeof(vpath), "%s/%s", vdir, vcomm);
	if (!realpath(ex("systp_victim"), victim_real) || mkdir(vdir, 0755) ||
	    symlink(victim_real, vpath)) {
		fprintf(stderr, "systp_e2e_test: cannot make %s: %s\n", vpath, strerror(errno));
		rmdir(vdir);
		return 1;
	}
	if (getenv("SYSTP_E2E_FILTER")) /* one test by name, when debugging */
		cmocka_set_test_filter(getenv("SYSTP_E2E_FILTER"));
	rc = TEST_RUN(tests, NULL, NULL);
	unlink(vpath);
	rmdir(vdir);
	return rc;
}
