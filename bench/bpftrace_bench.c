/* SPDX-License-Identifier: MIT */
/* bench/bpftrace_bench.c: what a bpftrace count() uprobe adds per call,
 * under bpftime (bpftime load bpftrace + bpftime start) and on the kernel
 * (bpftrace alone, where it can use the kernel), in the same run, single-
 * and multi-threaded; and the exactness checks at full size (--long).
 *
 *   bpftrace_bench BPFTIME BT_VICTIM [--calls N] [--threads T] [--reps R] [--long]
 *
 * The victim (tests/bpftrace/bt_victim -T) times its own call loop; the
 * added cost per call is (median probed loop - median plain loop) / calls
 * per thread (the kernel's with calls / 20 and its own plain baseline: its
 * trap costs four orders of magnitude more).  Every probed run's count is checked against the calls made
 * (a wrong count fails the bench).  --long also runs 8 threads x 1,000,000
 * calls counted with count() and sum(arg0) (exact or fail) and a flood of
 * 1,000,000 printf events (printed + reported lost must be 1,000,000).
 * Exit 77 when bpftrace is not installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static const char *bpftime_bin, *victim_bin, *bpftrace_bin = "/usr/bin/bpftrace";
static char shm_name[64];

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = 0;
	fclose(f);
	return buf ? buf : strdup("");
}

static pid_t run(char *const *argv, const char *out, bool shm)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		if (shm)
			setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
		dup2(open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 1);
		dup2(open("/dev/null", O_WRONLY | O_CLOEXEC), 2);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

static int reap(pid_t pid)
{
	int st = -1;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static long long field(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atoll(p + strlen(key)) : -1;
}

/* one victim run; returns its loop time (ns), -1 on failure */
static long long victim(bool under_bpftime, long threads, long calls)
{
	char t[32], n[32], out[128], *text;
	char *argv[] = { (char *)bpftime_bin,
			 (char *)"start",
			 (char *)victim_bin,
			 (char *)"-T",
			 (char *)"-t",
			 t,
			 (char *)"-n",
			 n,
			 NULL };
	long long ns;

	snprintf(t, sizeof(t), "%ld", threads);
	snprintf(n, sizeof(n), "%ld", calls);
	snprintf(out, sizeof(out), "/tmp/%s.victim", shm_name);
	reap(run(under_bpftime ? argv : argv + 2, out, under_bpftime));
	text = slurp(out);
	ns = field(text, "loop_ns ");
	free(text);
	unlink(out);
	return ns;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long median(long long *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_ll);
	return v[n / 2];
}

/* bpftrace with @prog (under bpftime if @ours); returns its pid once it
 * has attached */
static pid_t tracer(bool ours, const char *prog, const char *out)
{
	char *argv[] = { (char *)bpftime_bin, (char *)"load", (char *)bpftrace_bin,
			 (char *)"-e",	      (char *)prog,   NULL };
	pid_t pid;

	unlink(out); /* a previous run's "Attaching" must not count */
	pid = run(ours ? argv : argv + 2, out, ours);
	for (int i = 0; i < 600; i++) {
		char *text = slurp(out);
		bool up = strstr(text, "Attaching") != NULL;

		free(text);
		if (up)
			break;
		usleep(50000);
	}
	usleep(1000000);
	return pid;
}

/* SIGINT, again every 5 s while bpftrace runs on: bpftrace leaves its
 * loop on the EINTR of its epoll_wait, so a SIGINT handled between two
 * waits is lost (with the kernel too, in a narrower window) */
static char *stop(pid_t pid, const char *out)
{
	int st;

	for (int i = 0; i < 12; i++) {
		kill(pid, SIGINT);
		for (int t = 0; t < 100; t++) {
			if (waitpid(pid, &st, WNOHANG) == pid)
				return slurp(out);
			usleep(50000);
		}
	}
	kill(pid, SIGKILL);
	reap(pid);
	return slurp(out);
}

/* the probed median, with the count checked; -1 if the count is wrong */
static long long probed(bool ours, long threads, long calls, int reps)
{
	char prog[512], out[128], *text;
	long long v[16], c;
	pid_t bt;

	snprintf(prog, sizeof(prog), "uprobe:%s:bt_add { @c = count(); }", victim_bin);
	snprintf(out, sizeof(out), "/tmp/%s.bt", shm_name);
	bt = tracer(ours, prog, out);
	for (int i = 0; i < reps; i++)
		v[i] = victim(ours, threads, calls);
	text = stop(bt, out);
	c = field(text, "@c: ");
	free(text);
	unlink(out);
	if (c != (long long)threads * calls * reps) {
		fprintf(stderr, "%s: count %lld, expected %lld\n", ours ? "bpftime" : "kernel", c,
			(long long)threads * calls * reps);
		return -1;
	}
	return median(v, reps);
}

static bool kernel_usable(void)
{
	char out[128], *text;
	char *argv[] = { (char *)bpftrace_bin, (char *)"-e",
			 (char *)"BEGIN { printf(\"kernel-ok\\n\"); exit(); }", NULL };
	bool ok;

	snprintf(out, sizeof(out), "/tmp/%s.probe", shm_name);
	ok = reap(run(argv, out, false)) == 0;
	text = slurp(out);
	ok = ok && strstr(text, "kernel-ok");
	free(text);
	unlink(out);
	return ok;
}

static int long_checks(void)
{
	char prog[512], out[128], *text;
	long long c, s, lines = 0, lost = 0;
	pid_t bt;
	int err = 0;

	/* 8 threads x 1,000,000 calls: count() and sum(arg0) exact */
	snprintf(prog, sizeof(prog), "uprobe:%s:bt_add { @c = count(); @s = sum(arg0); }",
		 victim_bin);
	snprintf(out, sizeof(out), "/tmp/%s.bt", shm_name);
	bt = tracer(true, prog, out);
	victim(true, 8, 1000000);
	text = stop(bt, out);
	c = field(text, "@c: ");
	s = field(text, "@s: ");
	free(text);
	printf("8 threads x 1,000,000 calls: count %lld (expected 8000000), sum %lld (expected "
	       "%lld): %s\n",
	       c, s, 8LL * (999999LL * 1000000LL / 2),
	       c == 8000000 && s == 8LL * 499999500000LL ? "exact" : "WRONG");
	err |= c != 8000000 || s != 8LL * 499999500000LL;

	/* a flood of 1,000,000 printf events */
	snprintf(prog, sizeof(prog), "uprobe:%s:bt_add { printf(\"%%d\\n\", arg0); }", victim_bin);
	bt = tracer(true, prog, out);
	victim(true, 1, 1000000);
	usleep(500000);
	text = stop(bt, out);
	for (char *p = text; *p; p++)
		lines += *p == '\n' && p > text && p[-1] >= '0' && p[-1] <= '9';
	for (char *p = text; (p = strstr(p, "Lost ")); p += 5)
		lost += atoll(p + 5);
	free(text);
	unlink(out);
	printf("printf flood of 1,000,000: printed %lld + lost %lld = %lld: %s\n", lines, lost,
	       lines + lost, lines + lost == 1000000 ? "exact" : "WRONG");
	err |= lines + lost != 1000000;
	return err;
}

int main(int argc, char **argv)
{
	long calls = 200000, threads = 2;
	int reps = 3;
	bool longrun = false, kernel;
	long tcounts[2];

	if (argc < 3) {
		fprintf(stderr,
			"usage: %s BPFTIME BT_VICTIM [--calls N] [--threads T] [--reps R] "
			"[--long]\n",
			argv[0]);
		return 2;
	}
	bpftime_bin = argv[1];
	victim_bin = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			calls = atol(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atol(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--long"))
			longrun = true;
	}
	if (reps < 1 || reps > 15 || calls < 1 || threads < 1)
		return 2;
	if (access(bpftrace_bin, X_OK)) {
		printf("bpftrace is not installed: skipped\n");
		return 77;
	}
	snprintf(shm_name, sizeof(shm_name), "bt_bench_%d", getpid());
	kernel = kernel_usable();
	tcounts[0] = 1;
	tcounts[1] = threads;
	printf("bpftrace uprobe { @c = count(); } on bt_add: ns added per call (median of %d runs "
	       "of %ld calls per thread)\n",
	       reps, calls);
	printf("%-10s %12s %12s %12s\n", "threads", "loop ns", "bpftime", "kernel");
	for (int k = 0; k < (threads > 1 ? 2 : 1); k++) {
		long th = tcounts[k], kcalls = calls / 20 > 0 ? calls / 20 : 1;
		long long v[16], plain, kplain = 0, ours, theirs = -1;

		for (int i = 0; i < reps; i++)
			v[i] = victim(false, th, calls);
		plain = median(v, reps);
		ours = probed(true, th, calls, reps);
		if (kernel) {
			/* the kernel's trap costs ~10^4 times ours: fewer calls,
			 * with their own plain baseline */
			for (int i = 0; i < reps; i++)
				v[i] = victim(false, th, kcalls);
			kplain = median(v, reps);
			theirs = probed(false, th, kcalls, reps);
		}
		if (ours < 0 || (kernel && theirs < 0))
			return 1;
		printf("%-10ld %12.1f %12.1f ", th, (double)plain / (double)calls,
		       (double)(ours - plain) / (double)calls);
		if (kernel)
			printf("%12.1f   (%.0fx)\n", (double)(theirs - kplain) / (double)kcalls,
			       (double)(theirs - kplain) / (double)kcalls /
				       ((double)(ours - plain) / (double)calls));
		else
			printf("%12s\n", "n/a");
	}
	{
		char path[128];

		snprintf(path, sizeof(path), "/dev/shm/%s", shm_name);
		unlink(path);
	}
	if (longrun && long_checks())
		return 1;
	return 0;
}
