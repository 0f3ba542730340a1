/* SPDX-License-Identifier: MIT */
/* tests/bpftrace/bpftrace_test.c: bpftrace one-liners under `bpftime load`
 * + `bpftime start`, against the deterministic victim bt_victim, and the
 * same one-liners on the kernel (where bpftrace can use it: root, kernel
 * uprobes on the victim only, never on a shared library): same output.
 *
 *   bpftrace_test BPFTIME BPFTIMETOOL BT_VICTIM [NAME]
 *
 * Each row: a program (@V@ stands for the victim's path), the victim's
 * arguments and how the run goes (victim started after bpftrace attached,
 * or given with -p PID, or started by bpftrace -c).  The compared text is
 * bpftrace's stdout without the "Attaching" line, plus how the victim ended;
 * the victim's pid is replaced by PID, hex addresses by 0xX, and for rows
 * marked SHAPE every number by N (times, stacks: compared by shape).  A row
 * also names a text the bpftime run must print (what the victim's calls
 * make it print), so a row is checked even where the kernel cannot run.
 * Exit 77 (skipped) when bpftrace is not installed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STUCK_MS      60000 /* a safety net for a broken build, never a measurement */

enum {
	F_SHAPE = 1,	      /* numbers compared by shape */
	F_PID = 2,	      /* bpftrace -p VICTIM_PID */
	F_CMD = 4,	      /* bpftrace -c VICTIM */
	F_SELF_EXIT = 8,      /* the program ends with exit(): no SIGINT */
	F_UNSAFE = 16,	      /* bpftrace --unsafe */
	F_NO_KERNEL = 32,     /* not compared with the kernel */
	F_FLOOD = 64,	      /* the text is "events N": lines printed + events reported lost */
	F_TRACEFS = 128,      /* the kernel's bpftrace needs tracefs: mounted in its own mount ns */
	F_NO_SANITIZER = 256, /* skipped in the ASan build (sanitizer_skip_reason) */
	F_NO_LOSS = 512	      /* with F_FLOOD: "printed N lost L", every event printed */
};

struct row {
	const char *name;
	const char *prog;
	const char *vargs;
	unsigned int flags;
	const char *expect; /* in the bpftime output */
};

/* clang-format off */
static const struct row rows[] = {
	{ "count", "uprobe:@V@:bt_add { @c = count(); }", "-n 1000", 0, "@c: 1000" },
	{ "sum", "uprobe:@V@:bt_add { @s = sum(arg0); }", "-n 1000", 0, "@s: 499500" },
	{ "avg", "uprobe:@V@:bt_add { @a = avg(arg1); }", "-n 1000", 0, "@a: 999" },
	{ "min", "uprobe:@V@:bt_add { @m = min(arg0 + 5); }", "-n 1000", 0, "@m: 5" },
	{ "max", "uprobe:@V@:bt_add { @m = max(arg1); }", "-n 1000", 0, "@m: 1998" },
	{ "stats", "uprobe:@V@:bt_add { @st = stats(arg0); }", "-n 1000", 0,
	  "@st: count 1000, average 499, total 499500" },
	{ "hist", "uprobe:@V@:bt_add { @h = hist(arg0); }", "-n 1000", 0, "[256, 512)" },
	{ "lhist", "uprobe:@V@:bt_add { @l = lhist(arg0, 0, 1000, 100); }", "-n 1000", 0,
	  "[900, 1000)" },
	{ "key_pid", "uprobe:@V@:bt_add { @[pid] = count(); }", "-n 1000", 0, "@[PID]: 1000" },
	{ "key_comm", "uprobe:@V@:bt_add { @[comm] = count(); }", "-n 1000", 0, "@[bt_victim]: 1000" },
	{ "key_tuple", "uprobe:@V@:bt_add { @[comm, arg0 % 3] = count(); }", "-n 999", 0,
	  "@[bt_victim, 2]: 333" },
	{ "printf", "uprobe:@V@:bt_add { printf(\"%d+%d\\n\", arg0, arg1); }", "-n 20", 0,
	  "19+38" },
	{ "str", "uprobe:@V@:bt_name { @[str(arg0)] = count(); }", "-n 300", 0, "@[gamma]: 100" },
	{ "printf_str", "uprobe:@V@:bt_name { printf(\"<%s>\\n\", str(arg0)); }", "-n 4", 0,
	  "<beta>" },
	{ "uretprobe", "uretprobe:@V@:bt_ret { @r = sum(retval); }", "-n 1000", 0, "@r: 1498500" },
	{ "uretprobe_lhist", "uretprobe:@V@:bt_ret { @l = lhist(retval, 0, 3000, 1000); }", "-n 1000",
	  0, "[2000, 3000)" },
	{ "usdt", "usdt:@V@:bt:tick { @u = sum(arg0); }", "-n 1000", 0, "@u: 499500" },
	{ "usdt_arg1", "usdt:@V@:bt:tick { @[arg1] = count(); }", "-t 2 -n 500", 0, "@[2]: 1000" },
	{ "begin_end",
	  "BEGIN { printf(\"start\\n\"); } uprobe:@V@:bt_add { @c = count(); } "
	  "END { printf(\"end\\n\"); }", "-n 10", 0, "end" },
	{ "predicate", "uprobe:@V@:bt_add /arg0 % 2 == 0/ { @even = count(); }", "-n 1001", 0,
	  "@even: 501" },
	{ "variable", "uprobe:@V@:bt_add { $x = arg0 * 2; @s = sum($x); }", "-n 1000", 0,
	  "@s: 999000" },
	{ "delete", "uprobe:@V@:bt_add { @[arg0 % 4] = count(); if (arg0 == 999) { delete(@[0]); } }",
	  "-n 1000", 0, "@[3]: 250" },
	{ "clear", "uprobe:@V@:bt_add { @a[arg0 % 2] = count(); @b = count(); } END { clear(@a); }",
	  "-n 100", 0, "@b: 100" },
	{ "print_end", "uprobe:@V@:bt_add { @x = sum(arg0); } END { print(@x); clear(@x); }",
	  "-n 100", 0, "@x: 4950" },
	{ "exit", "uprobe:@V@:bt_add /arg0 == 10/ { printf(\"ten\\n\"); exit(); }", "-n 1000",
	  F_SELF_EXIT, "ten" },
	{ "entry_return",
	  "uprobe:@V@:bt_add { @t[tid] = 1; } uretprobe:@V@:bt_add /@t[tid]/ { @n = count(); "
	  "delete(@t[tid]); }", "-n 500", 0, "@n: 500" },
	{ "two_probes", "uprobe:@V@:bt_add,uprobe:@V@:bt_ret { @[probe] = count(); }", "-n 100", 0,
	  "bt_ret]: 100" },
	{ "ustack", "uprobe:@V@:bt_leaf { @[ustack] = count(); }", "-n 100", 0,
	  "]: 100" },
	{ "ustack_1", "uprobe:@V@:bt_leaf { @[ustack(1)] = count(); }", "-n 100", 0, "]: 100" },
	{ "cpu", "uprobe:@V@:bt_add { @[cpu < 4096] = count(); }", "-n 100", 0, "@[1]: 100" },
	{ "nsecs", "uprobe:@V@:bt_add { @t = max(nsecs > 0); @e = max(elapsed > 0); }", "-n 100", 0,
	  "@t: 1" },
	{ "threads", "uprobe:@V@:bt_add { @c = count(); @s = sum(arg0); }", "-t 4 -n 20000", 0,
	  "@s: 799960000" },
	{ "signal", "uprobe:@V@:bt_add /arg0 == 500/ { signal(\"SIGUSR1\"); }", "-n 1000",
	  F_UNSAFE, "victim: signal 10" },
	{ "pid_opt", "uprobe:@V@:bt_add { @c = count(); }", "-n 1000", F_PID, "@c: 1000" },
	/* (the filter: the kernel's timer may fire again before bpftrace
	 * stops, and @i is printed at the end) */
	{ "interval", "interval:ms:100 /@i < 5/ { @i++; if (@i == 5) { printf(\"five\\n\"); exit(); } }",
	  "-n 1", F_SELF_EXIT, "five" },
	{ "interval_begin",
	  "BEGIN { @t = nsecs; } interval:ms:50 /@n++ == 3/ { printf(\"late %d\\n\", "
	  "(nsecs - @t) >= 150000000); clear(@t); clear(@n); exit(); }",
	  "-n 1", F_SELF_EXIT, "late 1" },
	{ "profile", "profile:hz:99 /comm == \"bt_victim\"/ { @[comm] = count(); }", "-s 1000 -n 1",
	  F_SHAPE, "@[bt_victim]: N" },
	{ "profile_ustack",
	  "profile:hz:99 /comm == \"bt_victim\"/ { @[tid == pid, reg(\"ip\") > 4096, "
	  "reg(\"sp\") > 4096] = count(); @s[ustack(1)] = 1; }",
	  "-s 1000 -n 1", F_NO_KERNEL, "@[1, 1, 1]: " },
	/* each thread first spends its time in pthread_getattr_np on itself,
	 * holding its own pthread lock (ASan's thread start calls it once):
	 * a sample there walks the stack without needing that lock (it waited
	 * for itself forever: the victim hung) */
	{ "profile_ustack_locked",
	  "profile:hz:999 /comm == \"bt_victim\"/ { @s[ustack(1)] = 1; @n = count(); }",
	  "-t 8 -n 1 -g 50", F_NO_KERNEL, "@n: " },
	{ "sys_enter_write", "tracepoint:syscalls:sys_enter_write /comm == \"bt_victim\"/ "
	  "{ @[args->fd] = count(); }", "-n 10", F_TRACEFS, "@[1]: 2" },
	{ "sys_exit_group", "tracepoint:syscalls:sys_enter_exit_group /comm == \"bt_victim\"/ "
	  "{ printf(\"exit %d\\n\", args->error_code); }", "-n 10", F_TRACEFS, "exit 0" },
	{ "flood", "uprobe:@V@:bt_add { printf(\"%d\\n\", arg0); }", "-n 20000", F_FLOOD,
	  "events 20000" },
	/* at a rate the kernel's uprobes sustain here (one event per 50 us;
	 * a kernel uprobe costs 20-100 us on this VM): nothing is lost */
	{ "flood_paced", "uprobe:@V@:bt_add { printf(\"%d\\n\", arg0); }", "-n 20000 -d 50000",
	  F_FLOOD | F_NO_LOSS, "printed 20000 lost 0" },
	{ "cmd_opt", "uprobe:@V@:bt_add { @c = count(); }", "-n 777", F_CMD | F_NO_SANITIZER,
	  "@c: 777" },
	/* the victim's -o opens /dev/null O_WRONLY (flags 1) N times; the
	 * loader's and the libraries' opens are read-only */
	{ "sys_enter_openat", "tracepoint:syscalls:sys_enter_openat /comm == \"bt_victim\" && "
	  "args->flags == 1/ { printf(\"open %s\\n\", str(args->filename)); }", "-n 10 -o 3",
	  F_TRACEFS, "open /dev/null" },
	{ "raw_syscalls_comm", "tracepoint:raw_syscalls:sys_enter /comm == \"bt_victim\"/ "
	  "{ @[comm] = count(); }", "-n 10", F_TRACEFS | F_SHAPE, "@[bt_victim]: N" },
	{ "raw_syscalls_args", "tracepoint:raw_syscalls:sys_enter /comm == \"bt_victim\" && "
	  "args->id == 231/ { printf(\"exit_group %d\\n\", args->args[0]); }", "-n 10", F_TRACEFS,
	  "exit_group 0" },
	/* the issue's full-size checks (bpftime only: the kernel's uprobes
	 * would take minutes): 8 threads x 1,000,000 calls counted exactly,
	 * a flood of 1,000,000 printf events all printed or counted lost */
	{ "threads_8x1m", "uprobe:@V@:bt_add { @c = count(); @s = sum(arg0); }",
	  "-t 8 -n 1000000", F_NO_KERNEL, "@c: 8000000\n@s: 3999996000000\n" },
	{ "flood_1m", "uprobe:@V@:bt_add { printf(\"%d\\n\", arg0); }", "-n 1000000",
	  F_FLOOD | F_NO_KERNEL, "events 1000000" },
};
/* clang-format on */

static const char *bpftime_bin, *tool_bin, *victim_bin;
static char bpftrace_bin[4096];
static bool kernel_ok;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	assert_non_null(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = 0;
	fclose(f);
	return buf;
}

/* the files of one run, and its segment */
static void remove_run_files(const char *out, const char *err, const char *vout, const char *verr,
			     const char *gofile, const char *shm)
{
	char seg[128];

	unlink(out);
	unlink(err);
	unlink(vout);
	unlink(verr);
	unlink(gofile);
	snprintf(seg, sizeof(seg), "/dev/shm/%s", shm);
	unlink(seg);
}

/* runs argv in its own process group, stdout and stderr to files */
static pid_t run(char *const *argv, const char *out, const char *err, const char *shm)
{
	pid_t parent = getpid(), pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		if (shm)
			setenv("BPFTIME_GLOBAL_SHM_NAME", shm, 1);
		dup2(open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 1);
		dup2(open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), 2);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* waits for @pid for at most @ms; returns its status or -1 */
static int wait_for(pid_t pid, int64_t ms)
{
	int64_t end = now_ms() + ms;
	int st;

	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return st;
		if (now_ms() > end)
			return -1;
		usleep(10000);
	}
}

static bool file_has(const char *path, const char *needle)
{
	char *s = slurp(path);
	bool r = strstr(s, needle) != NULL;

	free(s);
	return r;
}

static void wait_file(const char *path, const char *needle, pid_t alive)
{
	int64_t end = now_ms() + STUCK_MS;

	while (!file_has(path, needle)) {
		if (alive > 0 && waitpid(alive, NULL, WNOHANG) == alive)
			fail_msg("process exited before printing '%s'", needle);
		if (now_ms() > end)
			fail_msg("no '%s' in %s", needle, path);
		usleep(20000);
	}
}

/* utime + stime of @pid, -1 if gone */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return -1;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

/* bpftrace has attached once it goes idle after "Attaching": its CPU time
 * (bpftrace itself, or the child of `bpftime load`) stays the same for
 * 300 ms.  Machine load only makes this take longer. */
static void wait_settled(pid_t pid)
{
	char path[64], buf[64];
	int64_t end = now_ms() + STUCK_MS;
	long long last = -2;
	int still = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	f = fopen(path, "r");
	if (f) {
		if (fgets(buf, sizeof(buf), f) && atoi(buf) > 0)
			pid = atoi(buf);
		fclose(f);
	}
	while (still < 3 && now_ms() < end) {
		long long t = cpu_ticks(pid);

		if (t < 0)
			return;
		still = t == last ? still + 1 : 0;
		last = t;
		usleep(100000);
	}
}

/* splits @cmd at spaces into @argv after @n existing entries */
static int split(char *cmd, char **argv, int n, int max)
{
	for (char *tok = strtok(cmd, " "); tok && n < max - 1; tok = strtok(NULL, " "))
		argv[n++] = tok;
	argv[n] = NULL;
	return n;
}

/* The victim's comm in this run (BT_COMM: bt_victim sets it first thing):
 * the kernel's tracepoints and profile see every process on the machine,
 * and a concurrent run of this test has a bt_victim too.  Rows say
 * "bt_victim"; the programs get this name and the outputs get bt_victim
 * back before they are compared. */
static char victim_comm[16];

/* @s with every @from replaced by @to (caller frees) */
static char *replace(const char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = strlen(s) * (tl + 1) + 1;
	char *out = calloc(1, n), *o = out;

	assert_non_null(out);
	for (const char *p = s; *p;) {
		if (!strncmp(p, from, fl)) {
			memcpy(o, to, tl);
			o += tl;
			p += fl;
		} else {
			*o++ = *p++;
		}
	}
	return out;
}

/* does @n appear in @s as a whole number? */
static bool has_number(const char *s, long n)
{
	char txt[24];
	size_t l = (size_t)snprintf(txt, sizeof(txt), "%ld", n);

	for (const char *p = strstr(s, txt); p; p = strstr(p + 1, txt))
		if ((p == s || !isdigit((unsigned char)p[-1])) && !isdigit((unsigned char)p[l]))
			return true;
	return false;
}

static char *subst(const char *prog)
{
	/* the comm first: the victim's path has bt_victim in it */
	char *v = replace(prog, "bt_victim", victim_comm), *out = replace(v, "@V@", victim_bin);

	free(v);
	return out;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorts the lines of @s in place: maps print entries of equal values in
 * hash order, which differs between runs */
static void sort_lines(char *s)
{
	char *copy = strdup(s), *lines[4096], *save = NULL, *o = s;
	size_t n = 0;

	assert_non_null(copy);
	for (char *l = strtok_r(copy, "\n", &save); l && n < ARRAY_SIZE(lines);
	     l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(lines[0]), cmp_line);
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "%s\n", lines[i]);
	free(copy);
}

/* One run of a row.  kernel: bpftrace directly and the victim unwrapped;
 * else both under bpftime with a segment of their own.  Returns the text to
 * compare (caller frees). */
static char *run_row(const struct row *r, bool kernel)
{
	char out[256], err[256], vout[256], verr[256], shm[64], vargs[512], pidbuf[32], cmd[512];
	char gofile[256];
	char *prog = subst(r->prog), *bargv[24], *vargv[16], *text, *vtext, *res;
	int bn = 0, vn = 0, vst = -1, bst;
	pid_t bt, victim = 0, vpid = 0;
	size_t len;

	snprintf(shm, sizeof(shm), "bt_test_%d_%s", getpid(), r->name);
	snprintf(out, sizeof(out), "/tmp/%s_%s.out", shm, kernel ? "k" : "u");
	snprintf(err, sizeof(err), "/tmp/%s_%s.err", shm, kernel ? "k" : "u");
	snprintf(vout, sizeof(vout), "/tmp/%s_%s.vout", shm, kernel ? "k" : "u");
	snprintf(verr, sizeof(verr), "/tmp/%s_%s.verr", shm, kernel ? "k" : "u");
	snprintf(gofile, sizeof(gofile), "/tmp/%s_%s.go", shm, kernel ? "k" : "u");
	unlink(gofile);
	/* -p: the victim starts its calls when bpftrace has attached */
	snprintf(vargs, sizeof(vargs), "%s -p%s%s", r->vargs, r->flags & F_PID ? " -W " : "",
		 r->flags & F_PID ? gofile : "");
	if (!kernel) {
		vargv[vn++] = (char *)bpftime_bin;
		vargv[vn++] = (char *)"start";
	}
	vargv[vn++] = (char *)victim_bin;
	vn = split(vargs, vargv, vn, (int)ARRAY_SIZE(vargv));

	/* -p: the victim runs first, before any segment exists (its agent
	 * waits for the one bpftrace's loader creates), as with the kernel */
	if (r->flags & F_PID) {
		victim = run(vargv, vout, verr, kernel ? NULL : shm);
		wait_file(vout, "pid ", victim);
		text = slurp(vout);
		vpid = (pid_t)atoi(strstr(text, "pid ") + 4);
		free(text);
	}
	if (!kernel) {
		bargv[bn++] = (char *)bpftime_bin;
		bargv[bn++] = (char *)"load";
	} else if (r->flags & F_TRACEFS) {
		/* tracefs is not mounted here: mount it in a mount namespace of
		 * bpftrace's own (unshare and sh exec: bpftrace keeps the pid) */
		bargv[bn++] = (char *)"/usr/bin/unshare";
		bargv[bn++] = (char *)"-m";
		bargv[bn++] = (char *)"/bin/sh";
		bargv[bn++] = (char *)"-c";
		bargv[bn++] = (char *)"mount -t tracefs nodev /sys/kernel/tracing && exec \"$@\"";
		bargv[bn++] = (char *)"sh";
	}
	bargv[bn++] = bpftrace_bin;
	if (r->flags & F_UNSAFE)
		bargv[bn++] = (char *)"--unsafe";
	if (r->flags & F_PID) {
		snprintf(pidbuf, sizeof(pidbuf), "%d", vpid);
		bargv[bn++] = (char *)"-p";
		bargv[bn++] = pidbuf;
	}
	if (r->flags & F_CMD) {
		snprintf(cmd, sizeof(cmd), "%s %s -p", victim_bin, r->vargs);
		bargv[bn++] = (char *)"-c";
		bargv[bn++] = cmd;
	}
	bargv[bn++] = (char *)"-e";
	bargv[bn++] = prog;
	bargv[bn] = NULL;
	bt = run(bargv, out, err, kernel ? NULL : shm);
	if (!(r->flags & F_CMD)) {
		wait_file(out, "Attaching", bt);
		wait_settled(bt); /* it attaches after it prints that line */
		if (r->flags & F_PID) {
			int fd = open(gofile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

			assert_true(fd >= 0);
			close(fd);
		}
	}
	if (!(r->flags & (F_PID | F_CMD))) {
		victim = run(vargv, vout, verr, kernel ? NULL : shm);
	}
	if (victim) {
		vst = wait_for(victim, STUCK_MS);
		assert_int_not_equal(vst, -1);
	}
	if (!(r->flags & (F_SELF_EXIT | F_CMD))) {
		/* bpftrace prints what the victim sent before it stops: idle */
		wait_settled(bt);
		kill(bt, SIGINT);
	}
	bst = wait_for(bt, 10000);
	if (bst == -1 && !(r->flags & (F_SELF_EXIT | F_CMD))) {
		kill(bt, SIGINT); /* one that came while it was still starting */
		bst = wait_for(bt, STUCK_MS);
	}
	if (bst == -1) {
		char *e = slurp(err), *o = slurp(out);

		kill(-bt, SIGKILL);
		waitpid(bt, NULL, 0);
		/* said with what it printed; the caller runs the row again once */
		print_message("%s (%s): bpftrace did not stop after SIGINT\n--- stdout:\n%s--- "
			      "stderr:\n%s",
			      r->name, kernel ? "kernel" : "bpftime", o, e);
		free(e);
		free(o);
		free(prog);
		return NULL;
	}
	text = slurp(out);
	{
		char *named = replace(text, victim_comm, "bt_victim");

		free(text);
		text = named;
	}
	vtext = slurp(vout);
	if (r->flags & F_CMD) {
		char *p = strstr(text, "pid ");

		vpid = p ? (pid_t)atoi(p + 4) : 0;
	} else {
		char *p = strstr(vtext, "pid ");

		vpid = p ? (pid_t)atoi(p + 4) : 0;
	}
	if (vpid && has_number(r->expect, vpid)) {
		/* its pid would read as PID where the row wants the number */
		print_message("%s (%s): the victim's pid %d is a number the row expects\n", r->name,
			      kernel ? "kernel" : "bpftime", (int)vpid);
		free(text);
		free(vtext);
		free(prog);
		remove_run_files(out, err, vout, verr, gofile, shm);
		return NULL;
	}
	if (r->flags & F_FLOOD) {
		/* every event printed or counted in bpftrace's "Lost N events" */
		char *e = slurp(err), *p;
		long lines = 0, lost = 0;

		for (p = text; *p; p++)
			lines += *p == '\n' && p > text && isdigit((unsigned char)p[-1]);
		for (p = text; (p = strstr(p, "Lost ")); p += 5)
			lost += atol(p + 5);
		for (p = e; (p = strstr(p, "Lost ")); p += 5)
			lost += atol(p + 5);
		free(text);
		free(e);
		text = calloc(1, 64);
		assert_non_null(text);
		if (r->flags & F_NO_LOSS)
			snprintf(text, 64, "printed %ld lost %ld\n", lines, lost);
		else
			snprintf(text, 64, "events %ld\n", lines + lost);
		if (getenv("BT_TEST_VERBOSE"))
			fprintf(stderr, "%s: %ld printed, %ld lost\n", r->name, lines, lost);
	}
	/* the text compared: stdout minus "Attaching", victim's pid as PID,
	 * hex as 0xX, numbers as N under F_SHAPE; how the victim ended */
	len = strlen(text) * 2 + 256;
	res = calloc(1, len);
	assert_non_null(res);
	{
		char *o = res, *line, *save = NULL, pidtxt[32];

		snprintf(pidtxt, sizeof(pidtxt), "%d", vpid);
		for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			if (!strncmp(line, "Attaching ", 10) || !strncmp(line, "pid ", 4))
				continue;
			for (char *p = line; *p;) {
				if (vpid && !strncmp(p, pidtxt, strlen(pidtxt)) &&
				    (p == line || !isdigit((unsigned char)p[-1])) &&
				    !isdigit((unsigned char)p[strlen(pidtxt)])) {
					o += sprintf(o, "PID");
					p += strlen(pidtxt);
				} else if (p[0] == '0' && p[1] == 'x') {
					o += sprintf(o, "0xX");
					p += 2;
					while (isxdigit((unsigned char)*p))
						p++;
				} else if ((r->flags & F_SHAPE) && isdigit((unsigned char)*p)) {
					*o++ = 'N';
					while (isdigit((unsigned char)*p))
						p++;
				} else {
					*o++ = *p++;
				}
			}
			*o++ = '\n';
		}
		if (r->flags & F_CMD)
			vst = WIFEXITED(bst) ? 0 : bst; /* bpftrace reports the child */
		if (!kernel && WIFEXITED(vst) && WEXITSTATUS(vst) > 128)
			vst = WEXITSTATUS(vst) - 128; /* bpftime start passes a signal as 128 + N */
		if (WIFSIGNALED(vst))
			sprintf(o, "victim: signal %d\n", WTERMSIG(vst));
		else
			sprintf(o, "victim: exit %d\n", WIFEXITED(vst) ? WEXITSTATUS(vst) : -1);
	}
	sort_lines(res);
	if (getenv("BT_TEST_VERBOSE")) {
		char *e = slurp(err);

		fprintf(stderr, "--- %s (%s)\n%s--- stderr:\n%s", r->name,
			kernel ? "kernel" : "bpftime", res, e);
		free(e);
	}
	free(text);
	free(vtext);
	free(prog);
	remove_run_files(out, err, vout, verr, gofile, shm);
	return res;
}

/* Rows that cannot run in the ASan+UBSan build: the child bpftrace -c
 * starts gets the sanitizer-built agent without the ASan runtime preloaded
 * before it, so it cannot load there (the gcc build runs them). */
static const char *sanitizer_skip_reason(const struct row *r)
{
#ifdef BPFTIME_BT_SANITIZED
	if (r->flags & F_NO_SANITIZER)
		return "the -c child cannot load the sanitizer-built agent";
#else
	(void)r;
#endif
	return NULL;
}

static void test_row(void **state)
{
	const struct row *r = *state;
	const char *why = sanitizer_skip_reason(r);
	char *ours, *theirs;

	if (why) {
		print_message("%s: skipped in the sanitizer build: %s\n", r->name, why);
		skip();
	}
	ours = run_row(r, false);

	if (!ours) {
		print_message("%s: bpftime run again\n", r->name);
		ours = run_row(r, false);
		assert_non_null(ours);
	}
	if (!strstr(ours, r->expect)) {
		print_error("%s: bpftime output lacks '%s':\n%s", r->name, r->expect, ours);
		free(ours);
		fail();
	}
	if (kernel_ok && !(r->flags & F_NO_KERNEL)) {
		theirs = run_row(r, true);
		if (!theirs) {
			print_message("%s: kernel run again\n", r->name);
			theirs = run_row(r, true);
			assert_non_null(theirs);
		}
		if (strcmp(ours, theirs)) {
			print_error("%s: bpftime and the kernel differ\n--- bpftime:\n%s--- "
				    "kernel:\n%s",
				    r->name, ours, theirs);
			free(ours);
			free(theirs);
			fail();
		}
		free(theirs);
	}
	free(ours);
}

/* BTF_GET_NEXT_ID / BTF_GET_FD_BY_ID under bpftime offer the kernel's
 * vmlinux BTF (id 2^31 - 1): bpftool btf dump id of it (through the
 * syscall server) prints what bpftool prints from /sys/kernel/btf/vmlinux */
static void test_kernel_btf(void **state)
{
	char shm[64], out1[128], out2[128], err[128], *a, *b;
	const char *bpftool = !access("/usr/sbin/bpftool", X_OK)  ? "/usr/sbin/bpftool"
			      : !access("/usr/bin/bpftool", X_OK) ? "/usr/bin/bpftool"
								  : NULL;
	char *argv1[] = { (char *)bpftime_bin, (char *)"load", (char *)bpftool,	     (char *)"btf",
			  (char *)"dump",      (char *)"id",   (char *)"2147483647", NULL };
	char *argv2[] = { (char *)bpftool,
			  (char *)"btf",
			  (char *)"dump",
			  (char *)"file",
			  (char *)"/sys/kernel/btf/vmlinux",
			  NULL };

	(void)state;
	if (!bpftool || access("/sys/kernel/btf/vmlinux", R_OK))
		skip();
	snprintf(shm, sizeof(shm), "bt_test_%d_kbtf", getpid());
	snprintf(out1, sizeof(out1), "/tmp/%s.1", shm);
	snprintf(out2, sizeof(out2), "/tmp/%s.2", shm);
	snprintf(err, sizeof(err), "/tmp/%s.err", shm);
	assert_int_equal(wait_for(run(argv1, out1, err, shm), STUCK_MS), 0);
	assert_int_equal(wait_for(run(argv2, out2, err, NULL), STUCK_MS), 0);
	a = slurp(out1);
	b = slurp(out2);
	assert_true(strlen(a) > 1000);
	assert_true(strcmp(a, b) == 0);
	free(a);
	free(b);
	unlink(out1);
	unlink(out2);
	unlink(err);
	snprintf(out1, sizeof(out1), "/dev/shm/%s", shm);
	unlink(out1);
}

/* bpftrace -p of a process without the agent (not started with bpftime
 * start): the probes cannot run there, and the loader says so (never a
 * silent empty result).  A usdt probe: bpftrace 0.17 attaches those with
 * the pid (its uprobes on a path get pid -1, like any uprobe, which only
 * processes with the agent run) */
static void test_pid_no_agent(void **state)
{
	char shm[64], out[128], err[128], vout[128], verr[128], gofile[128], pidbuf[32], *t;
	char prog[512], *vargv[] = { (char *)victim_bin, (char *)"-n", (char *)"10", (char *)"-p",
				     (char *)"-W",	 gofile,       NULL };
	char *bargv[] = { (char *)bpftime_bin, (char *)"load", bpftrace_bin, (char *)"-p", pidbuf,
			  (char *)"-e",	       prog,	       NULL };
	pid_t victim, bt;
	int fd;

	(void)state;
	snprintf(shm, sizeof(shm), "bt_test_%d_noagent", getpid());
	snprintf(out, sizeof(out), "/tmp/%s.out", shm);
	snprintf(err, sizeof(err), "/tmp/%s.err", shm);
	snprintf(vout, sizeof(vout), "/tmp/%s.vout", shm);
	snprintf(verr, sizeof(verr), "/tmp/%s.verr", shm);
	snprintf(gofile, sizeof(gofile), "/tmp/%s.go", shm);
	snprintf(prog, sizeof(prog), "usdt:%s:bt:tick { @c = count(); }", victim_bin);
	unlink(gofile);
	victim = run(vargv, vout, verr, NULL);
	wait_file(vout, "pid ", victim);
	t = slurp(vout);
	snprintf(pidbuf, sizeof(pidbuf), "%d", atoi(strstr(t, "pid ") + 4));
	free(t);
	setenv("BPFTIME_LOG_OUTPUT", "console", 1); /* the server's words on stderr */
	bt = run(bargv, out, err, shm);
	wait_file(err, "has no bpftime agent", bt);
	fd = open(gofile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_not_equal(wait_for(victim, STUCK_MS), -1);
	/* bpftrace -p ends when its target does */
	if (wait_for(bt, 10000) == -1) {
		kill(bt, SIGINT);
		assert_int_not_equal(wait_for(bt, STUCK_MS), -1);
	}
	remove_run_files(out, err, vout, verr, gofile, shm);
}

/* can bpftrace use the kernel here (root, BPF, perf uprobes)? */
static bool kernel_usable(void)
{
	char *argv[] = { bpftrace_bin, (char *)"-e",
			 (char *)"BEGIN { printf(\"kernel-ok\\n\"); exit(); }", NULL };
	char out[128], err[128];
	pid_t pid;
	int st;
	bool ok;

	if (getenv("BT_TEST_NO_KERNEL"))
		return false;
	snprintf(out, sizeof(out), "/tmp/bt_test_%d_probe.out", getpid());
	snprintf(err, sizeof(err), "/tmp/bt_test_%d_probe.err", getpid());
	pid = run(argv, out, err, NULL);
	st = wait_for(pid, STUCK_MS);
	ok = st == 0 && file_has(out, "kernel-ok");
	unlink(out);
	unlink(err);
	return ok;
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[ARRAY_SIZE(rows) + 2];
	size_t n = 0;
	const char *paths[] = { "/usr/bin/bpftrace", "/usr/local/bin/bpftrace",
				"/usr/sbin/bpftrace" };

	if (argc < 4) {
		fprintf(stderr, "usage: %s BPFTIME BPFTIMETOOL BT_VICTIM [NAME]\n", argv[0]);
		return 2;
	}
	bpftime_bin = argv[1];
	tool_bin = argv[2];
	victim_bin = argv[3];
	snprintf(victim_comm, sizeof(victim_comm), "btv%d", (int)getpid());
	setenv("BT_COMM", victim_comm, 1);
	for (size_t i = 0; i < ARRAY_SIZE(paths) && !bpftrace_bin[0]; i++)
		if (!access(paths[i], X_OK))
			snprintf(bpftrace_bin, sizeof(bpftrace_bin), "%s", paths[i]);
	if (!bpftrace_bin[0]) {
		printf("bpftrace is not installed: skipped\n");
		return 77;
	}
	kernel_ok = kernel_usable();
	printf("bpftrace %s; kernel comparison: %s\n", bpftrace_bin, kernel_ok ? "yes" : "no");
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		if (argc > 4 && strcmp(argv[4], rows[i].name))
			continue;
		tests[n] =
			(struct CMUnitTest){ rows[i].name, test_row, NULL, NULL, (void *)&rows[i] };
		n++;
	}
	if (argc <= 4 || !strcmp(argv[4], "kernel_btf"))
		tests[n++] = (struct CMUnitTest){ "kernel_btf", test_kernel_btf, NULL, NULL, NULL };
	if (argc <= 4 || !strcmp(argv[4], "pid_no_agent"))
		tests[n++] =
			(struct CMUnitTest){ "pid_no_agent", test_pid_no_agent, NULL, NULL, NULL };
	return _cmocka_run_group_tests("bpftrace", tests, n, NULL, NULL);
}
