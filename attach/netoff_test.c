/* SPDX-License-Identifier: MIT */
/* attach/netoff_test.c: the syscall hook with its safety net off
 * (BPFTIME_SYSCALL_NET=auto, docs/syscall-tracepoints.md): with a watch
 * table that holds no special syscall, every `syscall` instruction of the
 * process is found and the ones that matter rewritten, and Syscall User
 * Dispatch goes off in every thread (read back through ptrace, threads
 * made before the start included).  Then each watched call is seen exactly
 * once (enter and exit) from hand-written asm (registers, flags and red
 * zone as the kernel leaves them, at a jmp rel8 site and at an int3 site),
 * libc wrappers, syscall(2), a library dlopen'ed later with odd-shaped
 * sites (number from memory, a branch onto the syscall, no island, across
 * a word), a library's code changed at run time, JIT code, W+X, shmat and
 * pkey_mprotect code (the net on), threads made before and after, a worker
 * blocking every signal, a library closed and opened again; unwatched
 * calls are not seen and their sites keep their bytes; override works; a
 * number watched later is rewritten before it counts, also under racing
 * callers; a site first called with the net off gets its `mov eax` jmp,
 * and a rewritten site that rested gets it back when watched again; a special number watched (clone, exit_group, all) turns the net
 * on first, and it goes off again (callers racing through the toggles);
 * signals: SA_RESTART, rt_sigreturn, siglongjmp out of a call, sigaltstack,
 * the program's SIGTRAP/SIGSYS handlers (kept aside, chained, also from
 * before the start and across posix_spawn(SETSIGDEF)), SIGTRAP blocked by
 * sigprocmask and by the temporary masks of sigsuspend/ppoll/pselect;
 * fork, fork/clone through syscall(2) (the child's thread id), vfork (and
 * its child's calls), posix_spawn, execve.
 *
 * NETOFF_TEST_ONLY / NETOFF_TEST_SKIP (comma-separated fnmatch patterns)
 * pick cases; NETOFF_TEST_NET_ON=1 runs the checks that do not need the net
 * off on the SUD path.  A hook that does not know "auto" fails every check
 * that needs the net off with "WAITING FOR THE IMPLEMENTATION". */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <ucontext.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/select.h>
#include <sys/shm.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/syscall_hook.h>
#include "netoff_regs.h"

extern char **environ;

/* ---- the hand-written asm sites of the executable -----------------------
 * (netoff_regs.h) Set every general register to a pattern, fill the red
 * zone, make getppid and store every register after it, then the red zone,
 * into out[0..15] and out[16..31]; out[32] = address after the syscall
 * instruction, out[33] = SF ZF AF PF CF just before it.  regs_syscall is
 * syscall_test.c's (with CFI, so that the scan knows its bounds);
 * regs_far's syscall has 160 bytes of code on each side: no padding in a
 * jmp rel8's reach, so its rewriting is an int3. */
void regs_syscall(uint64_t *out);
void regs_far(uint64_t *out);
__asm__(REGS_SCRATCH REGS_FN("regs_syscall", "", "	mov $110, %eax\n", "")
		REGS_FN("regs_far", FILL160, "	mov $110, %eax\n", FILL160));

/* what regs_syscall and the library's regs functions leave: the kernel's
 * registers (rax = @rax, rcx = the address after the syscall, r11 = the
 * flags), every other one kept, the red zone intact */
static void check_regs(const uint64_t *out, uint64_t rax)
{
	assert_int_equal(out[0], rax);			  /* rax */
	assert_int_equal(out[1], 0x1111);		  /* rbx */
	assert_int_equal(out[2], out[32]);		  /* rcx = rip after syscall */
	assert_int_equal(out[3], 0x4444);		  /* rdx */
	assert_int_equal(out[4], 0x3333);		  /* rsi */
	assert_int_equal(out[5], 0xcccc);		  /* rdi */
	assert_int_equal(out[6], 0x2222);		  /* rbp */
	assert_int_equal(out[7], 0x5555);		  /* r8 */
	assert_int_equal(out[8], 0x6666);		  /* r9 */
	assert_int_equal(out[9], 0x7777);		  /* r10 */
	assert_int_equal(out[10] & 0xd5, out[33] & 0xd5); /* r11 = rflags */
	assert_true(out[10] & 0x200);			  /* IF */
	assert_int_equal(out[11], 0x8888);		  /* r12 */
	assert_int_equal(out[12], 0x9999);
	assert_int_equal(out[13], 0xaaaa);
	assert_int_equal(out[14], 0xbbbb);
	for (int i = 1; i <= 16; i++) /* the red zone */
		assert_int_equal(out[15 + i], (uint64_t)i << 8 | 0x5a);
}

/* after a case that forks: the children it left */
static int teardown(void **state)
{
	(void)state;
	test_kill_kids();
	return 0;
}

/* test_reap() with a safety net (60 s, never a measurement): a child that
 * hangs is killed, and the case fails saying so */
static pid_t reap_child(pid_t pid, int *status)
{
	struct timespec nap = { 0, 10000000 };
	pid_t w = 0;

	for (int i = 0; i < 6000 && !w; i++) {
		w = waitpid(pid, status, WNOHANG);
		if (w < 0 && errno == EINTR)
			w = 0;
		if (!w)
			nanosleep(&nap, NULL);
	}
	if (!w) {
		kill(pid, SIGKILL);
		test_reap(pid, status);
		fail_msg("child %d hung: killed", pid);
	}
	for (size_t i = 0; i < TESTKIT_MAX_KIDS; i++) /* reaped: forgotten */
		if (testkit_kids[i] == pid)
			testkit_kids[i] = 0;
	return w;
}

/* ---- the handlers and the watch table ------------------------------------ */
#define NR_MAX 512
/* SYS_kcmp: no libc wrapper, only syscall(2) reaches it */

static atomic_long enters[NR_MAX], exits[NR_MAX];
static _Atomic int32_t last_tid[NR_MAX];
static atomic_long last_exit_ret[NR_MAX];
static atomic_long override_getppid; /* non-zero: getppid returns it */
static atomic_int restart_fd = -1;   /* readv on it: counted apart */
static atomic_long restart_enters, restart_exits, restart_first_ret;
static int exit_pipe = -1; /* exit_group: on_enter writes 'E' there */

static void on_enter(struct bpftime_syscall *sc, void *data)
{
	(void)data;
	if (sc->nr < 0 || sc->nr >= NR_MAX)
		return;
	atomic_fetch_add(&enters[sc->nr], 1);
	atomic_store(&last_tid[sc->nr], bpftime_syscall_tid());
	if (sc->nr == SYS_getppid && atomic_load(&override_getppid))
		assert_int_equal(bpftime_syscall_override_return(atomic_load(&override_getppid)),
				 0);
	if (sc->nr == SYS_readv && (int)sc->args[0] == atomic_load(&restart_fd))
		atomic_fetch_add(&restart_enters, 1);
	if (sc->nr == SYS_exit_group && exit_pipe >= 0)
		(void)!write(exit_pipe, "E", 1);
}

static void on_exit_(struct bpftime_syscall *sc, void *data)
{
	(void)data;
	if (sc->nr < 0 || sc->nr >= NR_MAX)
		return;
	atomic_fetch_add(&exits[sc->nr], 1);
	atomic_store(&last_exit_ret[sc->nr], sc->ret);
	if (sc->nr == SYS_readv && (int)sc->args[0] == atomic_load(&restart_fd) &&
	    atomic_fetch_add(&restart_exits, 1) == 0)
		atomic_store(&restart_first_ret, sc->ret);
}

static long n_enter(int nr)
{
	return atomic_load(&enters[nr]);
}

static long n_exit(int nr)
{
	return atomic_load(&exits[nr]);
}

#define BOTH (BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT)

/* getppid: asm, libc, syscall(2), the library; getpgrp: libc and the
 * library's branch; getsid (exit only): a libc wrapper; kcmp: syscall(2)
 * only; readv: the restart test (its own fd).  Unwatched: getpid, getuid,
 * mmap... (geteuid is added later). */
static uint8_t want[NR_MAX];

static void set_table(void)
{
	memset(want, 0, sizeof(want));
	want[SYS_getppid] = BOTH;
	want[SYS_getpgrp] = BOTH;
	want[SYS_getsid] = BPFTIME_SYSCALL_WATCH_EXIT;
	want[SYS_kcmp] = BOTH;
	want[SYS_readv] = BOTH;
}

/* ---- the net --------------------------------------------------------------- */
static bool waiting; /* the hook does not know BPFTIME_SYSCALL_NET=auto yet */
/* NETOFF_TEST_NET_ON=1: the checks that need the net off only print, the
 * others run on the SUD path (to test this test without the net-off work) */
static bool dry;

static int net(char *why, size_t len)
{
	int r = bpftime_syscall_hook__net(why, len);

	if (r == 1 && strstr(why, "not \"auto\""))
		waiting = true;
	return r;
}

/* waits (up to 20 s: a safety net, never a measurement) for the net to be
 * @on; returns its state, with the reason in @why when it is on */
static int wait_net(int on, char *why, size_t len)
{
	struct timespec nap = { 0, 1000000 };
	int r = net(why, len);

	for (int i = 0; i < 20000 && r != on && r >= 0 && !waiting; i++) {
		nanosleep(&nap, NULL);
		r = net(why, len);
	}
	return r;
}

/* for a reason naming "<object>+0x<offset>": the bytes there (the object
 * found among the loaded ones), to show what the scan saw */
struct find_obj {
	const char *name;
	size_t len;
	uintptr_t base;
};

static int find_obj_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find_obj *f = arg;

	(void)size;
	if (info->dlpi_name && strlen(info->dlpi_name) == f->len &&
	    !strncmp(info->dlpi_name, f->name, f->len)) {
		f->base = info->dlpi_addr;
		return 1;
	}
	return 0;
}

static void show_bytes(const char *why)
{
	const char *plus = strstr(why, "+0x");
	struct find_obj f = { 0 };
	const uint8_t *b;
	char line[128];
	int n = 0;

	if (!plus)
		return;
	f.name = why;
	f.len = (size_t)(plus - why);
	dl_iterate_phdr(find_obj_cb, &f);
	if (!f.base)
		return;
	b = (const uint8_t *)(f.base + strtoul(plus + 1, NULL, 16));
	for (int i = -12; i < 4; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, i ? "%02x " : "[%02x] ", b[i]);
	print_message("bytes at %p - 12: %s\n", (const void *)b, line);
}

/* the net must be off now (after at most the wait): fails saying why not */
static void need_off(const char *what)
{
	char why[256] = "";
	int r = wait_net(0, why, sizeof(why));

	if (r == 0)
		return;
	if (dry) {
		print_message("(dry) %s: the net is on (%s)\n", what, why);
		return;
	}
	show_bytes(strstr(why, ": /") ? strstr(why, ": /") + 2 : why);
	if (waiting)
		fail_msg("WAITING FOR THE IMPLEMENTATION (net auto): %s: the net is on (%s)", what,
			 why);
	fail_msg("%s: the net is %s (%s)", what, r < 0 ? "unknown: hook not started" : "on", why);
}

/* the net must be off right now, without waiting (a watch that widens
 * keeps it off) */
static void need_off_now(const char *what)
{
	char why[256] = "";
	int r = net(why, sizeof(why));

	if (r != 0 && !dry)
		fail_msg("%s: the net is %s (%s)", what ? what : "", r > 0 ? "on" : "unknown", why);
	if (what)
		print_message("%s: net off\n", what);
}

/* the net must be on right now, without waiting (the hook turns it on
 * before the call that needs it returns) */
static void need_on_now(const char *what)
{
	char why[256] = "";
	int r = net(why, sizeof(why));

	if (r != 1)
		fail_msg("%s: the net is %s", what ? what : "", r ? "unknown" : "off");
	if (what)
		print_message("%s: net on: %s\n", what, why);
}

/* the table again: the hook scans and turns the net off again */
static void rearm(const char *what)
{
	set_table();
	bpftime_syscall_hook__watch(want, NR_MAX);
	need_off(what);
}

/* ---- SUD read back through ptrace --------------------------------------- */
#define SUD_CANNOT (-2) /* the kernel has no PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG */

/* The Syscall User Dispatch mode of thread @tid (0 off, 1 on), read by a
 * forked tracer (Linux 6.4+); SUD_CANNOT when the kernel cannot say, -1
 * when the read failed. */
static int sud_mode_once(pid_t tid)
{
	int pfd[2], r = -1, st;
	pid_t c;

	if (pipe(pfd))
		return -1;
	c = fork();
	if (c == 0) {
		struct {
			uint64_t mode, selector, offset, len;
		} cfg = { 0 };

		if (ptrace(PTRACE_SEIZE, tid, 0, 0) == 0) {
			if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) == 0 &&
			    waitpid(tid, &st, __WALL) == tid) {
				if (ptrace((enum __ptrace_request)0x4211 /* GET_..._CONFIG */, tid,
					   (void *)sizeof(cfg), &cfg) == 0)
					r = (int)cfg.mode;
				else if (errno == EIO || errno == EINVAL)
					r = SUD_CANNOT;
			}
			ptrace(PTRACE_DETACH, tid, 0, 0);
		}
		_exit(write(pfd[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(pfd[1]);
	if (c < 0 || read(pfd[0], &r, sizeof(r)) != sizeof(r))
		r = -1;
	close(pfd[0]);
	if (c > 0)
		waitpid(c, &st, 0);
	return r;
}

/* (a read can fail transiently, e.g. while the thread stops for another
 * signal: tried a few times) */
static int sud_mode(pid_t tid)
{
	int r = -1;

	for (int i = 0; i < 5 && r == -1; i++)
		r = sud_mode_once(tid);
	return r;
}

/* ---- sites ------------------------------------------------------------------ */
/* the `syscall` of a libc function `mov eax, NR; syscall` (its bytes now:
 * the instruction, `jmp rel8` or `int3`); the mov may be a jmp of the
 * older rewriting */
static const uint8_t *libc_site(const char *fn, long nr)
{
	const uint8_t *p = dlsym(RTLD_DEFAULT, fn);

	assert_non_null(p);
	for (int i = 0; i < 32; i++)
		if ((p[i] == 0xb8 && p[i + 1] == (uint8_t)nr && !p[i + 2] && !p[i + 3] &&
		     !p[i + 4]) ||
		    (i == 0 && p[i] == 0xe9))
			return p + i + 5;
	fail_msg("%s: no `mov eax, %ld` in its first bytes", fn, nr);
	return NULL;
}

static const char *shape(const uint8_t *site)
{
	switch (site[0]) {
	case 0x0f:
		return site[1] == 0x05 ? "syscall (native)" : "?";
	case 0xeb:
		return "jmp rel8 (island)";
	case 0xcc:
		return "int3";
	default:
		return "?";
	}
}

/* a site the net-off rewriting must have taken over */
static void need_rewritten(const char *what, const uint8_t *site)
{
	if (site[0] != 0xeb && site[0] != 0xcc && dry)
		print_message("(dry) %s: site %p is %s\n", what, (void *)site, shape(site));
	else if (site[0] != 0xeb && site[0] != 0xcc)
		fail_msg("%s: site %p is %02x %02x (%s), not jmp rel8 / int3", what, (void *)site,
			 site[0], site[1], shape(site));
}

/* ---- threads made before the start ------------------------------------- */
static pthread_barrier_t early_go;
static atomic_int early_tid0, early_tid;
static pthread_t early;

static void *early_thread(void *arg)
{
	(void)arg;
	atomic_store(&early_tid0, (int)syscall(SYS_gettid));
	pthread_barrier_wait(&early_go); /* blocked in futex across the start */
	atomic_store(&early_tid, (int)syscall(SYS_gettid));
	syscall(SYS_getppid);
	return NULL;
}

/* the program's SIGTRAP handler, installed before the hook started */
static atomic_int early_trap_seen;

static void on_trap_early(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	atomic_fetch_add(&early_trap_seen, 1);
}

static int group_setup(void **state)
{
	struct sigaction sa;

	char why[256] = "";
	int r;

	(void)state;
	dry = getenv("NETOFF_TEST_NET_ON") && !strcmp(getenv("NETOFF_TEST_NET_ON"), "1");
	/* before the hook reads it at start */
	setenv("BPFTIME_SYSCALL_NET", "auto", 1);
	pthread_barrier_init(&early_go, NULL, 2);
	if (pthread_create(&early, NULL, early_thread, NULL))
		return -1;
	while (!atomic_load(&early_tid0))
		usleep(1000);
	usleep(20000); /* let it block */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap_early;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGTRAP, &sa, NULL))
		return -1;
	/* as the agent does: the table first, then the start */
	set_table();
	bpftime_syscall_hook__watch(want, NR_MAX);
	if (bpftime_syscall_hook__start(on_enter, on_exit_, NULL)) {
		if (errno == ENOSYS)
			TEST_SKIP_ALL("no Syscall User Dispatch");
		return -1;
	}
	r = wait_net(0, why, sizeof(why));
	if (r)
		printf("%snet still on after the start: %s\n",
		       waiting ? "WAITING FOR THE IMPLEMENTATION (net auto): " : "", why);
	fflush(stdout);
	return 0;
}

/* ---- 1. the net goes off, SUD off in every thread ---------------------- */
/* SUD is off in every thread of the process (@what says when); the
 * number of threads, or SUD_CANNOT */
static int all_sud_off(const char *what, pid_t must_have)
{
	int n = 0, seen = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");

	assert_non_null(d);
	while ((de = readdir(d))) {
		pid_t tid = atoi(de->d_name);
		int m;

		if (tid <= 0)
			continue;
		m = sud_mode(tid);
		if (m == SUD_CANNOT) {
			closedir(d);
			return SUD_CANNOT;
		}
		if (m != 0 && dry) {
			print_message("(dry) %s: thread %d: SUD mode %d\n", what, tid, m);
		} else if (m != 0) {
			closedir(d);
			fail_msg("%s: thread %d: SUD mode %d (read %s), not off", what, tid, m,
				 m < 0 ? "failed" : "back");
		}
		seen += tid == must_have;
		n++;
	}
	closedir(d);
	if (must_have && !seen)
		fail_msg("%s: thread %d not found", what, must_have);
	return n;
}

static void test_net_off(void **state)
{
	int n;

	(void)state;
	need_off("after start with a table of no special syscall");
	/* the early thread: made before the start */
	n = all_sud_off("after start", atomic_load(&early_tid0));
	if (n == SUD_CANNOT)
		TEST_SKIP("this kernel cannot read SUD back "
			  "(PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG, Linux 6.4)");
	assert_true(n >= 2);
	print_message("SUD off in all %d threads\n", n);
}

/* ---- 2. each watched call seen once ------------------------------------ */
static void test_asm_registers(void **state)
{
	uint64_t out[34] = { 0 };
	uint64_t ppid = (uint64_t)getppid();
	const uint8_t *site;
	long e, x;

	(void)state;
	need_off("asm");
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	regs_syscall(out);
	check_regs(out, ppid);
	site = (const uint8_t *)(uintptr_t)out[32] - 2;
	print_message("executable's asm site: %s\n", shape(site));
	need_rewritten("regs_syscall (executable)", site);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getppid]), (long)ppid);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs_syscall(out);
		check_regs(out, ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), e + 11);
	assert_int_equal(n_exit(SYS_getppid), x + 11);
}

/* getppid watched as @what: 10 rounds of the register checks through a
 * rewritten site and an int3 site, and libc's; enters counted, exits
 * counted when watched */
static void check_getppid_routes(unsigned int what, const char *why)
{
	uint64_t out[34] = { 0 };
	uint64_t ppid = (uint64_t)getppid();
	long e, x;

	set_table();
	want[SYS_getppid] = (uint8_t)what;
	bpftime_syscall_hook__watch(want, NR_MAX);
	need_off(why);
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs_syscall(out);
		check_regs(out, ppid);
		memset(out, 0, sizeof(out));
		regs_far(out);
		check_regs(out, ppid);
		assert_int_equal(getppid(), (pid_t)ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), e + 30);
	assert_int_equal(n_exit(SYS_getppid), x + (what & BPFTIME_SYSCALL_WATCH_EXIT ? 30 : 0));
}

/* getppid watched at entry only: a trampoline in the region makes the
 * call and puts the result in its frame itself (no exit handler to run);
 * the registers are the kernel's all the same, through both kinds of site */
static void test_enter_only_registers(void **state)
{
	(void)state;
	check_getppid_routes(BPFTIME_SYSCALL_WATCH_ENTER, "enter only");
	rearm("after enter only");
}

/* bpftime_syscall_hook__warm: the addresses are prefetched by every hooked
 * call, never read: unmapped, NULL, kernel and non-canonical ones change
 * nothing (a load there would kill the test), and the registers come back
 * as the kernel's, on the enter-only route and on the exit route (the
 * stub is called there too) */
static void test_warm_hints(void **state)
{
	static const char here = 1;
	const void *bad[BPFTIME_SYSCALL_WARM_MAX + 2] = {
		NULL,
		(const void *)1,
		(const void *)0xffff888000000000ull, /* the kernel's direct map */
		(const void *)0x8000000000000000ull, /* not canonical */
		(const void *)0x7ffffffff000ull,     /* the top of user space, unmapped */
		(const void *)0xffffffffff600000ull, /* vsyscall */
		&here,
		&here,
	};

	(void)state;
	bpftime_syscall_hook__warm(bad, sizeof(bad) / sizeof(bad[0])); /* more than kept */
	check_getppid_routes(BPFTIME_SYSCALL_WATCH_ENTER, "warm hints, enter only");
	check_getppid_routes(BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT,
			     "warm hints, enter and exit");
	bpftime_syscall_hook__warm(NULL, 3); /* none, whatever the count */
	check_getppid_routes(BPFTIME_SYSCALL_WATCH_ENTER, "no warm hints");
	rearm("after warm hints");
}

static void test_libc(void **state)
{
	long ppid, pgrp, sid;
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	long ge = n_enter(SYS_getpgrp), gx = n_exit(SYS_getpgrp);
	long se = n_enter(SYS_getsid), sx = n_exit(SYS_getsid);

	(void)state;
	need_off("libc");
	need_rewritten("libc getppid", libc_site("getppid", SYS_getppid));
	need_rewritten("libc getpgrp", libc_site("getpgrp", SYS_getpgrp));
	need_rewritten("libc getsid", libc_site("getsid", SYS_getsid));
	ppid = getppid();
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getppid]), ppid);
	pgrp = getpgrp();
	assert_int_equal(n_enter(SYS_getpgrp), ge + 1);
	assert_int_equal(n_exit(SYS_getpgrp), gx + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getpgrp]), pgrp);
	sid = getsid(0); /* exit only */
	assert_int_equal(n_enter(SYS_getsid), se);
	assert_int_equal(n_exit(SYS_getsid), sx + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getsid]), sid);
	assert_int_equal(getsid(-1), -1); /* an error: -errno in the exit */
	assert_int_equal(errno, ESRCH);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getsid]), -ESRCH);
	assert_int_equal(n_exit(SYS_getsid), sx + 2);
}

static void test_syscall_wrapper(void **state)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	long ke = n_enter(SYS_kcmp), kx = n_exit(SYS_kcmp);
	long r;

	(void)state;
	need_off("syscall(2)");
	assert_int_equal(syscall(SYS_getppid), getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	assert_int_equal(n_exit(SYS_getppid), x + 2);
	/* kcmp(self, self, KCMP_FILE, 0, 0): 0, or -ENOSYS without CONFIG_KCMP */
	r = syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0);
	if (r < 0)
		r = -errno;
	assert_int_equal(n_enter(SYS_kcmp), ke + 1);
	assert_int_equal(n_exit(SYS_kcmp), kx + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_kcmp]), r);
	assert_int_equal(atomic_load(&last_tid[SYS_kcmp]), gettid());
}

/* unwatched: no handler; a libc site of a known unwatched number keeps its
 * bytes (no cost); mmap is one the hook needs itself (rewritten) but the
 * handlers do not see it */
static void test_unwatched(void **state)
{
	long pe = n_enter(SYS_getpid), px = n_exit(SYS_getpid);
	long ue = n_enter(SYS_getuid), me = n_enter(SYS_mmap), mx = n_exit(SYS_mmap);
	const uint8_t *site = libc_site("getpid", SYS_getpid);
	void *p;

	(void)state;
	need_off("unwatched");
	assert_int_equal(syscall(SYS_getpid), getpid());
	assert_int_equal(getuid(), syscall(SYS_getuid));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	munmap(p, 4096);
	assert_int_equal(n_enter(SYS_getpid), pe);
	assert_int_equal(n_exit(SYS_getpid), px);
	assert_int_equal(n_enter(SYS_getuid), ue);
	assert_int_equal(n_enter(SYS_mmap), me);
	assert_int_equal(n_exit(SYS_mmap), mx);
	if (site[0] != 0x0f || site[1] != 0x05)
		fail_msg("libc getpid (unwatched): site is %02x %02x (%s), not its own syscall",
			 site[0], site[1], shape(site));
	need_off("after unwatched calls and an mmap");
}

static void test_override(void **state)
{
	uint64_t out[34] = { 0 };
	long x = n_exit(SYS_getppid);

	(void)state;
	need_off("override");
	atomic_store(&override_getppid, 4242);
	regs_syscall(out); /* the rewritten asm site: every register but rax kept */
	check_regs(out, 4242);
	memset(out, 0, sizeof(out));
	regs_far(out); /* the int3 site */
	check_regs(out, 4242);
	assert_int_equal(getppid(), 4242);
	assert_int_equal(syscall(SYS_getppid), 4242);
	atomic_store(&override_getppid, 0);
	print_message("exits reported for 4 overridden calls: %ld\n", n_exit(SYS_getppid) - x);
	assert_int_not_equal(getppid(), 4242);
	assert_int_equal(getppid(), syscall(SYS_getppid));
}

/* a thread made after the net went off: SUD off in it, its calls seen */
static pthread_barrier_t late_go;
static atomic_int late_tid;
static atomic_long late_ppid;

static void *late_thread(void *arg)
{
	(void)arg;
	atomic_store(&late_tid, (int)syscall(SYS_gettid));
	atomic_store(&late_ppid, getppid());
	pthread_barrier_wait(&late_go); /* read its SUD mode meanwhile */
	pthread_barrier_wait(&late_go);
	return NULL;
}

static void test_new_thread(void **state)
{
	long ppid = getppid(), e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	pthread_t th;
	int m;

	(void)state;
	need_off("new thread");
	pthread_barrier_init(&late_go, NULL, 2);
	assert_int_equal(pthread_create(&th, NULL, late_thread, NULL), 0);
	pthread_barrier_wait(&late_go);
	m = sud_mode(atomic_load(&late_tid));
	pthread_barrier_wait(&late_go);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&late_go);
	assert_int_equal(atomic_load(&late_ppid), ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), atomic_load(&late_tid));
	if (m != SUD_CANNOT && m != 0 && dry)
		print_message("(dry) the new thread: SUD mode %d\n", m);
	else if (m != SUD_CANNOT)
		assert_int_equal(m, 0);
	need_off("after a new thread");
}

/* the thread made before the start, blocked in a futex since: its call */
static void test_early_thread(void **state)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);

	(void)state;
	need_off("early thread");
	pthread_barrier_wait(&early_go);
	pthread_join(early, NULL);
	assert_int_equal(atomic_load(&early_tid), atomic_load(&early_tid0));
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), atomic_load(&early_tid));
}

/* ---- the library dlopen'ed after the net went off --------------------- */
static void (*lib_regs_mem)(uint64_t *), (*lib_regs_far)(uint64_t *);
static long (*lib_branch)(int);
static void *lib;

/* each of the library's sites once: seen once each, registers intact */
static void call_lib(const char *when)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	long ge = n_enter(SYS_getpgrp), gx = n_exit(SYS_getpgrp);
	uint64_t ppid = (uint64_t)getppid(), out[34] = { 0 };

	e++, x++; /* that getppid */
	lib_regs_mem(out);
	check_regs(out, ppid);
	print_message("%s: number from memory: %s\n", when,
		      shape((const uint8_t *)(uintptr_t)out[32] - 2));
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	memset(out, 0, sizeof(out));
	lib_regs_far(out);
	check_regs(out, ppid);
	print_message("%s: site without island: %s\n", when,
		      shape((const uint8_t *)(uintptr_t)out[32] - 2));
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	assert_int_equal(n_exit(SYS_getppid), x + 2);
	assert_int_equal(lib_branch(0), (long)ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 3);
	assert_int_equal(n_exit(SYS_getppid), x + 3);
	assert_int_equal(lib_branch(1), getpgrp());
	assert_int_equal(n_enter(SYS_getpgrp), ge + 2);
	assert_int_equal(n_exit(SYS_getpgrp), gx + 2);
}

/* the site of a regs function, found by a call */
static const uint8_t *regs_site(void (*fn)(uint64_t *))
{
	uint64_t out[34] = { 0 };

	fn(out);
	return (const uint8_t *)(uintptr_t)out[32] - 2;
}

/* the site of @fn, with no padding in a jmp rel8's reach (160 bytes of code
 * on each side), is an int3 */
static void need_int3(const char *what, void (*fn)(uint64_t *))
{
	const uint8_t *site = regs_site(fn);

	if (site[0] != 0xcc && dry)
		print_message("(dry) %s: the site without island is %s\n", what, shape(site));
	else if (site[0] != 0xcc)
		fail_msg("%s: the site with no padding in reach is %s, not int3", what,
			 shape(site));
}

static void test_dlopen_after(void **state)
{
	long (*straddle)(void);
	long e, ge, gx, *ctor_ret;
	char why[256] = "";
	const uint8_t *branch_site;
	int r;

	(void)state;
	need_off("before dlopen");
	ge = n_enter(SYS_getpgrp);
	gx = n_exit(SYS_getpgrp);
	lib = dlopen(NETOFF_TESTLIB, RTLD_NOW);
	assert_non_null(lib);
	/* its constructor's getpgrp, through its own site, during the dlopen */
	ctor_ret = dlsym(lib, "netoff_lib_ctor_ret");
	assert_non_null(ctor_ret);
	assert_int_equal(*ctor_ret, getpgrp());
	if (n_enter(SYS_getpgrp) != ge + 2 || n_exit(SYS_getpgrp) != gx + 2)
		fail_msg("the library's constructor's getpgrp: %ld enters, %ld exits seen",
			 n_enter(SYS_getpgrp) - ge - 1, n_exit(SYS_getpgrp) - gx - 1);
	lib_regs_mem = (void (*)(uint64_t *))dlsym(lib, "netoff_lib_regs_mem");
	lib_regs_far = (void (*)(uint64_t *))dlsym(lib, "netoff_lib_regs_far");
	lib_branch = (long (*)(int))dlsym(lib, "netoff_lib_branch");
	assert_non_null(lib_regs_mem);
	assert_non_null(lib_regs_far);
	assert_non_null(lib_branch);
	r = net(why, sizeof(why));
	print_message("after dlopen the net is %s%s%s\n", r ? "on: " : "off", r ? why : "", "");
	call_lib(r ? "net on after dlopen" : "net off after dlopen");
	/* off (again): the library's sites are rewritten, none native */
	rearm("after the dlopen, the table again");
	call_lib("net off");
	need_rewritten("library: number from memory", regs_site(lib_regs_mem));
	need_rewritten("library: no island", regs_site(lib_regs_far));
	need_int3("library", lib_regs_far);
	for (branch_site = (const uint8_t *)(void *)lib_branch;
	     branch_site[0] != 0xeb && branch_site[0] != 0xcc && branch_site[0] != 0x0f;
	     branch_site++)
		;
	print_message("library: branch site: %s\n", shape(branch_site));
	need_rewritten("library: branch onto the syscall", branch_site);
	/* a site across an 8-byte word */
	straddle = (long (*)(void))dlsym(lib, "netoff_lib_straddle");
	assert_non_null(straddle);
	assert_int_equal(((uintptr_t)(void *)straddle + 7) % 8, 7);
	e = n_enter(SYS_getppid);
	assert_int_equal(straddle(), getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	print_message("library: site across a word: %s\n",
		      shape((const uint8_t *)(void *)straddle + 7));
	need_rewritten("library: site across a word", (const uint8_t *)(void *)straddle + 7);
}

/* ---- 3. a number watched later ------------------------------------------- */
static void test_watch_later(void **state)
{
	const uint8_t *site = libc_site("geteuid", SYS_geteuid);
	long e = n_enter(SYS_geteuid), x = n_exit(SYS_geteuid);
	uid_t euid;

	(void)state;
	need_off("watch later");
	if (site[0] != 0x0f || site[1] != 0x05)
		fail_msg("libc geteuid (unwatched yet): site is %s, not its own syscall",
			 shape(site));
	euid = geteuid();
	assert_int_equal(n_enter(SYS_geteuid), e);
	set_table();
	want[SYS_geteuid] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	/* rewritten before the table said so: no wait */
	need_rewritten("libc geteuid, watched now", site);
	assert_int_equal(geteuid(), euid);
	assert_int_equal(syscall(SYS_geteuid), euid);
	assert_int_equal(n_enter(SYS_geteuid), e + 2);
	assert_int_equal(n_exit(SYS_geteuid), x + 2);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_geteuid]), euid);
	need_off("with geteuid watched");
	rearm("geteuid unwatched again");
	assert_int_equal(geteuid(), euid);
	assert_int_equal(n_enter(SYS_geteuid), e + 2);
}

/* waits (up to 5 s: a safety net, never a measurement) for the byte at
 * @at to be @want; true when it is */
static bool wait_byte(const uint8_t *at, uint8_t want_byte)
{
	struct timespec nap = { 0, 1000000 };

	for (int i = 0; i < 5000 && *(const volatile uint8_t *)at != want_byte; i++)
		nanosleep(&nap, NULL);
	return *(const volatile uint8_t *)at == want_byte;
}

/* A `mov eax, nr; syscall` site first called after the net went off (the
 * SIGSYS handler never saw it): its first call through the net hands it to
 * the patcher, whose jmp over the mov (its own route, the fast one where
 * the caller gives lists) replaces the net's path.  And a rewritten site
 * that rests (the net went off while nobody watched it: its own bytes)
 * gets its jmp back when a watch names it again, before the watch returns:
 * not the net's path through its `syscall`. */
static void test_first_call_rewritten(void **state)
{
	const uint8_t *site = libc_site("getgid", SYS_getgid), *mov = site - 5;
	gid_t gid = (gid_t)syscall(SYS_getgid); /* unwatched: not seen */
	long e = n_enter(SYS_getgid), x = n_exit(SYS_getgid);

	(void)state;
	need_off("getgid's first call");
	if (mov[0] != 0xb8)
		fail_msg("libc getgid (never called): `mov eax` is %02x, not its own", mov[0]);
	set_table();
	want[SYS_getgid] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	need_rewritten("libc getgid, watched now", site);
	assert_int_equal(getgid(), gid); /* through the net: handed to the patcher */
	assert_int_equal(n_enter(SYS_getgid), e + 1);
	assert_int_equal(n_exit(SYS_getgid), x + 1);
	if (!wait_byte(mov, 0xe9) && !dry)
		fail_msg("libc getgid: its first call through the net did not get its `mov eax` "
			 "rewritten (%02x)",
			 mov[0]);
	for (int i = 0; i < 3; i++)
		assert_int_equal(getgid(), gid);
	assert_int_equal(n_enter(SYS_getgid), e + 4);
	assert_int_equal(n_exit(SYS_getgid), x + 4);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getgid]), gid);
	need_off("getgid rewritten");

	/* every syscall watched (the net stays off), then a table without
	 * getgid: the net on and off again, and the site rests */
	set_table();
	bpftime_syscall_hook__watch(want, NR_MAX);
	bpftime_syscall_hook__watch(NULL, 0);
	need_off_now("every syscall watched");
	rearm("getgid unwatched");
	if (mov[0] != 0xb8 && !dry)
		fail_msg("libc getgid, unwatched when the net went off: `mov eax` is %02x, not "
			 "its own bytes",
			 mov[0]);
	assert_int_equal(getgid(), gid);
	assert_int_equal(n_enter(SYS_getgid), e + 4);
	want[SYS_getgid] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	if (mov[0] != 0xe9 && !dry)
		fail_msg("libc getgid, watched again: `mov eax` is %02x, not the jmp back", mov[0]);
	assert_int_equal(getgid(), gid);
	assert_int_equal(n_enter(SYS_getgid), e + 5);
	assert_int_equal(n_exit(SYS_getgid), x + 5);
	rearm("getgid unwatched again");
}

/* special numbers watched keep the net off: clone and clone3 go through
 * the hook (a thread by its stub: the exit in the parent and in the
 * thread); every syscall watched (raw_syscalls programs) too */
static void test_watch_special(void **state)
{
	long ce, cx, pid = getpid(), pe = n_enter(SYS_getpid);
	pthread_t th;

	(void)state;
	need_off("watch clone");
	set_table();
	want[SYS_clone] = BOTH;
	want[SYS_clone3] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	need_off_now("clone and clone3 watched");
	ce = n_enter(SYS_clone) + n_enter(SYS_clone3);
	cx = n_exit(SYS_clone) + n_exit(SYS_clone3);
	pthread_barrier_init(&late_go, NULL, 2);
	assert_int_equal(pthread_create(&th, NULL, late_thread, NULL), 0);
	pthread_barrier_wait(&late_go); /* the thread lives on */
	assert_int_equal(n_enter(SYS_clone) + n_enter(SYS_clone3), ce + 1);
	/* in the parent (the child's id) and in the thread (0) */
	assert_int_equal(n_exit(SYS_clone) + n_exit(SYS_clone3), cx + 2);
	rearm("clone unwatched again");
	/* off in every thread again, the one made while it was on too */
	all_sud_off("the net off again", atomic_load(&late_tid));
	pthread_barrier_wait(&late_go);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&late_go);
	/* every syscall (raw_syscalls programs) */
	bpftime_syscall_hook__watch(NULL, 0);
	need_off_now("every syscall watched");
	assert_int_equal(syscall(SYS_getpid), pid);
	assert_int_equal(n_enter(SYS_getpid), pe + 1);
	rearm("a table again after watching all");
	assert_int_equal(syscall(SYS_getpid), pid);
	assert_int_equal(n_enter(SYS_getpid), pe + 1);
}

/* More special numbers watched with the net off, each seen as the kernel's
 * tracepoints show it: a failed execve (enter, exit with -ENOENT), the
 * program's own Syscall User Dispatch (EBUSY: the hook's, as with the net
 * on), a signal handler's rt_sigreturn (enter only). */
static atomic_int usr2_seen;

static void on_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr2_seen, 1);
}

static void test_watch_special_more(void **state)
{
	char *argv[] = { (char *)"/nonexistent/bpftime-netoff", NULL };
	long ee = n_enter(SYS_execve), ex = n_exit(SYS_execve);
	long pe = n_enter(SYS_prctl), px = n_exit(SYS_prctl);
	long re = n_enter(SYS_rt_sigreturn), rx = n_exit(SYS_rt_sigreturn);
	struct sigaction sa, old;
	uint8_t selector = 0;

	(void)state;
	need_off("more specials");
	set_table();
	want[SYS_execve] = BOTH;
	want[SYS_prctl] = BOTH;
	want[SYS_rt_sigreturn] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	need_off_now("execve, prctl, rt_sigreturn watched");
	assert_int_equal(execve(argv[0], argv, environ), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(n_enter(SYS_execve), ee + 1);
	assert_int_equal(n_exit(SYS_execve), ex + 1);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_execve]), -ENOENT);
	assert_int_equal(prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &selector),
			 -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(n_enter(SYS_prctl), pe + 1);
	assert_int_equal(n_exit(SYS_prctl), px + 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
	atomic_store(&usr2_seen, 0);
	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(atomic_load(&usr2_seen), 1);
	assert_int_equal(sigaction(SIGUSR2, &old, NULL), 0);
	assert_int_equal(n_enter(SYS_rt_sigreturn), re + 1);
	assert_int_equal(n_exit(SYS_rt_sigreturn), rx); /* it does not return */
	need_off_now(NULL);
	rearm("more specials unwatched again");
	assert_int_equal(execve(argv[0], argv, environ), -1);
	assert_int_equal(n_enter(SYS_execve), ee + 1);
}

/* ---- new code ----------------------------------------------------------------- */
static const uint8_t jit_code[] = { 0xb8, 0x6e, 0, 0, 0, /* mov eax, SYS_getppid */
				    0x0f, 0x05,		 /* syscall */
				    0xc3 };

/* JIT code: RW, the code written, then RX: unprovable, the net goes on
 * before mprotect returns; the call is seen once */
static void test_jit(void **state)
{
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	long (*fn)(void);
	char why[256] = "";
	int r;

	(void)state;
	assert_true(p != MAP_FAILED);
	need_off("jit");
	memcpy(p, jit_code, sizeof(jit_code));
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	r = net(why, sizeof(why));
	print_message("after mprotect RX: net %s%s, the JIT site is %s\n", r ? "on: " : "off",
		      r ? why : "", shape(p + 5));
	fn = (long (*)(void))(void *)p;
	assert_int_equal(fn(), getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	assert_int_equal(n_exit(SYS_getppid), x + 2);
	need_on_now("anonymous code with a syscall made executable");
	munmap(p, 4096);
	rearm("the JIT code unmapped, the table again");
}

/* a writable and executable mapping: the net goes on at the mmap; its
 * syscall is seen once */
static void test_wx(void **state)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	long (*fn)(void);
	uint8_t *p;

	(void)state;
	need_off("w+x");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	assert_true(p != MAP_FAILED);
	need_on_now("a writable and executable mapping");
	memcpy(p, jit_code, sizeof(jit_code));
	fn = (long (*)(void))(void *)p;
	assert_int_equal(fn(), getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	assert_int_equal(n_exit(SYS_getppid), x + 2);
	munmap(p, 4096);
	rearm("the W+X mapping unmapped, the table again");
}

/* A library's own code changed at run time (mprotect RW, a `syscall`
 * written over a 2-byte nop, mprotect RX): the exit of the mprotect scans
 * it, and the new site's calls are seen. */
static void test_code_changed(void **state)
{
	long (*patchme)(void);
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid), ppid = getppid();
	uintptr_t page;
	char why[256] = "";
	uint8_t *at;
	int r;

	(void)state;
	e++, x++; /* that getppid */
	assert_non_null(lib);
	need_off("code changed");
	patchme = (long (*)(void))dlsym(lib, "netoff_lib_patchme");
	assert_non_null(patchme);
	assert_int_equal(patchme(), 110);
	at = (uint8_t *)(void *)patchme + 5;
	assert_true(at[0] == 0x66 && at[1] == 0x90);
	page = (uintptr_t)at & ~(uintptr_t)4095;
	/* the page holds only the library's code, none of which runs
	 * meanwhile; the patcher is done with the sites test_dlopen_after
	 * called (it makes the page writable and then RX again for each, which
	 * would take the write below away from under this test) */
	{
		uint64_t out[34];
		const uint8_t *far_mov = regs_site(lib_regs_far) - 5;
		/* its second `mov eax`: after mov (5), test (2), jz (2) */
		const uint8_t *b = (const uint8_t *)(void *)lib_branch + 9;

		assert_true(b[0] == 0xe9 || (b[0] == 0xb8 && b[1] == SYS_getpgrp));
		lib_regs_far(out);
		if (!wait_byte(far_mov, 0xe9) || !wait_byte(b, 0xe9))
			print_message("the library's mov sites are not both rewritten yet\n");
		e = n_enter(SYS_getppid);
		x = n_exit(SYS_getppid);
	}
	assert_int_equal(mprotect((void *)page, 4096, PROT_READ | PROT_WRITE), 0);
	at[0] = 0x0f;
	at[1] = 0x05;
	assert_int_equal(mprotect((void *)page, 4096, PROT_READ | PROT_EXEC), 0);
	r = net(why, sizeof(why));
	print_message("after mprotect RX: net %s%s; the new site is %s\n", r ? "on: " : "off",
		      r ? why : "", shape(at));
	assert_int_equal(patchme(), ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	need_off("after the library's code changed");
	assert_int_equal(patchme(), ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	need_rewritten("the library's new site", at);
}

/* A worker that blocks every signal (thread pools do, so that signals go to
 * the main thread) calls into a library dlopen'ed while it waits.  The net
 * goes on at the dlopen and this thread cannot answer the round, so until
 * the library is rewritten its calls through it are not seen (a documented
 * limit: printed); once the net is off again they are, exactly once. */
static pthread_barrier_t blk_go;
static long (*blk_fn)(int);
static atomic_long blk_ret[2];
static atomic_int blk_tid;
static atomic_long blk_seen; /* the enters of the first call */

static void *blocked_worker(void *arg)
{
	sigset_t all;
	long e;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	atomic_store(&blk_tid, (int)syscall(SYS_gettid));
	pthread_barrier_wait(&blk_go);
	pthread_barrier_wait(&blk_go); /* the library is loaded */
	e = n_enter(SYS_getppid);
	atomic_store(&blk_ret[0], blk_fn(0));
	atomic_store(&blk_seen, n_enter(SYS_getppid) - e);
	pthread_barrier_wait(&blk_go);
	pthread_barrier_wait(&blk_go); /* the net is off again */
	atomic_store(&blk_ret[1], blk_fn(0));
	return NULL;
}

static void test_blocked_worker_dlopen(void **state)
{
	long e, x, ppid = getppid();
	char why[256] = "";
	pthread_t th;
	void *h;
	int r, m;

	(void)state;
	need_off("a worker that blocks every signal");
	pthread_barrier_init(&blk_go, NULL, 2);
	assert_int_equal(pthread_create(&th, NULL, blocked_worker, NULL), 0);
	pthread_barrier_wait(&blk_go);
	h = dlopen(NETOFF_TESTLIB_C, RTLD_NOW);
	assert_non_null(h);
	blk_fn = (long (*)(int))dlsym(h, "netoff_lib_branch");
	assert_non_null(blk_fn);
	r = net(why, sizeof(why));
	m = sud_mode(atomic_load(&blk_tid));
	pthread_barrier_wait(&blk_go);
	pthread_barrier_wait(&blk_go); /* its first call made */
	print_message("after dlopen: net %s%s; the worker's SUD mode %d; its call right after: "
		      "%ld enter(s) seen%s\n",
		      r ? "on: " : "off", r ? why : "", m, atomic_load(&blk_seen),
		      atomic_load(&blk_seen) ? "" : " (documented limit)");
	assert_int_equal(atomic_load(&blk_ret[0]), ppid);
	need_off("after the dlopen");
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	pthread_barrier_wait(&blk_go);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&blk_go);
	assert_int_equal(atomic_load(&blk_ret[1]), ppid);
	if (n_enter(SYS_getppid) != e + 1 || n_exit(SYS_getppid) != x + 1)
		fail_msg("the worker's getppid through the new library, the net off again: %ld "
			 "enters, %ld exits seen",
			 n_enter(SYS_getppid) - e, n_exit(SYS_getppid) - x);
}

/* shmat(SHM_EXEC) and pkey_mprotect granting exec to code with a syscall:
 * the net goes on before they return; the calls are seen. */
static void test_shmat_pkey(void **state)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid), ppid = getppid();
	long (*fn)(void);
	uint8_t *w, *p;
	int id;

	(void)state;
	e++, x++; /* that getppid */
	need_off("shmat");
	id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
	assert_true(id >= 0);
	w = shmat(id, NULL, 0);
	assert_true(w != (void *)-1);
	memcpy(w, jit_code, sizeof(jit_code));
	p = shmat(id, NULL, SHM_EXEC | SHM_RDONLY);
	shmctl(id, IPC_RMID, NULL);
	assert_true(p != (void *)-1);
	need_on_now("shmat(SHM_EXEC) of code with a syscall");
	fn = (long (*)(void))(void *)p;
	assert_int_equal(fn(), ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	shmdt(p);
	shmdt(w);
	rearm("the shared code detached, the table again");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memcpy(p, jit_code, sizeof(jit_code));
	if (syscall(SYS_pkey_mprotect, p, 4096, PROT_READ | PROT_EXEC, -1)) {
		munmap(p, 4096);
		TEST_SKIP("pkey_mprotect: %s", strerror(errno));
	}
	need_on_now("pkey_mprotect granting exec to code with a syscall");
	fn = (long (*)(void))(void *)p;
	assert_int_equal(fn(), ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	munmap(p, 4096);
	rearm("the pkey code unmapped, the table again");
}

/* ---- 4. signals ---------------------------------------------------------------- */
static atomic_int usr1_seen;
static atomic_long usr1_ppid;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&usr1_seen, 1);
	atomic_store(&usr1_ppid, syscall(SYS_getppid));
}

static int pipefd[2];
static atomic_long reader_ret;
static atomic_int reader_tid;

static void *reader(void *arg)
{
	char c = 0;
	struct iovec iov = { &c, 1 };

	(void)arg;
	atomic_store(&reader_tid, (int)syscall(SYS_gettid));
	atomic_store(&reader_ret, readv(pipefd[0], &iov, 1));
	return NULL;
}

/* SA_RESTART over a watched blocking call at a rewritten site: the call
 * restarts and returns the restarted call's result; the handlers see what
 * the kernel's tracepoints show: enter, exit with -ERESTARTSYS, enter again
 * (told at the handler's rt_sigreturn: the frame's rip is back on our
 * `syscall`), exit with the result. */
static void test_restart(void **state)
{
	struct sigaction sa, old;
	pthread_t th;
	int seen;

	(void)state;
	need_off("restart");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pipe(pipefd), 0);
	atomic_store(&restart_enters, 0);
	atomic_store(&restart_exits, 0);
	atomic_store(&restart_fd, pipefd[0]);
	seen = atomic_load(&usr1_seen);
	assert_int_equal(pthread_create(&th, NULL, reader, NULL), 0);
	while (!atomic_load(&reader_tid))
		usleep(1000);
	test_wait_blocked(atomic_load(&reader_tid), SYS_readv);
	assert_int_equal(atomic_load(&restart_enters), 1);
	assert_int_equal(pthread_kill(th, SIGUSR1), 0);
	while (atomic_load(&usr1_seen) == seen)
		usleep(1000);
	test_wait_blocked(atomic_load(&reader_tid), SYS_readv); /* restarted */
	assert_int_equal(write(pipefd[1], "x", 1), 1);
	pthread_join(th, NULL);
	atomic_store(&restart_fd, -1);
	close(pipefd[0]);
	close(pipefd[1]);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	assert_int_equal(atomic_load(&reader_ret), 1);
	assert_int_equal(atomic_load(&usr1_ppid), getppid());
	assert_int_equal(atomic_load(&restart_enters), 2);
	assert_int_equal(atomic_load(&restart_exits), 2);
	assert_int_equal(atomic_load(&restart_first_ret), -512); /* -ERESTARTSYS */
	assert_int_equal(atomic_load(&last_exit_ret[SYS_readv]), 1);
	need_off("after the restart");
}

/* A handler that leaves by siglongjmp, out of a watched call blocked at a
 * rewritten site (the trampoline's frame abandoned): the thread's hook
 * state must not be left "inside a call": its later calls are seen, an
 * override works. */
static sigjmp_buf jump_env;
static atomic_int jump_tid;

static void on_usr1_jump(int sig)
{
	(void)sig;
	siglongjmp(jump_env, 1);
}

static void *kicker(void *arg)
{
	pthread_t target = *(pthread_t *)arg;

	test_wait_blocked(atomic_load(&jump_tid), SYS_readv);
	pthread_kill(target, SIGUSR1);
	return NULL;
}

static void test_siglongjmp(void **state)
{
	struct sigaction sa, old;
	uint64_t out[34] = { 0 };
	long e, x, re, ppid = getppid();
	pthread_t self = pthread_self(), th;
	char c;
	struct iovec iov = { &c, 1 };
	int pfd[2];

	(void)state;
	need_off("siglongjmp");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1_jump;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pipe(pfd), 0);
	atomic_store(&jump_tid, gettid());
	re = n_enter(SYS_readv);
	if (!sigsetjmp(jump_env, 1)) {
		assert_int_equal(pthread_create(&th, NULL, kicker, &self), 0);
		readv(pfd[0], &iov, 1); /* blocks until the kick */
		fail_msg("readv returned");
	}
	pthread_join(th, NULL);
	close(pfd[0]);
	close(pfd[1]);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	print_message("readv left by siglongjmp: %ld enter(s)\n", n_enter(SYS_readv) - re);
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	regs_syscall(out);
	check_regs(out, (uint64_t)ppid);
	regs_far(out);
	check_regs(out, (uint64_t)ppid);
	assert_int_equal(getppid(), ppid);
	assert_int_equal(syscall(SYS_getppid), ppid);
	if (n_enter(SYS_getppid) != e + 4 || n_exit(SYS_getppid) != x + 4)
		fail_msg("after the siglongjmp: 4 calls, %ld enters and %ld exits seen",
			 n_enter(SYS_getppid) - e, n_exit(SYS_getppid) - x);
	atomic_store(&override_getppid, 5555);
	assert_int_equal(getppid(), 5555);
	atomic_store(&override_getppid, 0);
	need_off("after a siglongjmp out of a call");
}

/* a handler that makes a watched call, and returns (rt_sigreturn) */
static void test_sigreturn(void **state)
{
	struct sigaction sa, old;
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	uint64_t out[34] = { 0 };
	int seen = atomic_load(&usr1_seen);

	(void)state;
	need_off("rt_sigreturn");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(atomic_load(&usr1_seen), seen + 1);
	assert_int_equal(atomic_load(&usr1_ppid), getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 2);
	assert_int_equal(n_exit(SYS_getppid), x + 2);
	regs_syscall(out); /* after the return, the asm site still right */
	check_regs(out, (uint64_t)getppid());
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	need_off("after a signal handler returned");
}

static atomic_int trap_seen, trap_code;

static void on_trap_app(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	atomic_fetch_add(&trap_seen, 1);
	atomic_store(&trap_code, si->si_code);
}

/* the executable's site without island (int3) */
static void call_int3_site(void)
{
	uint64_t out[34] = { 0 };
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	uint64_t ppid = (uint64_t)getppid();

	e++, x++;
	regs_far(out);
	check_regs(out, ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
}

/* The program's SIGTRAP handler installed before the start is still its
 * own: read back, called for a raise(SIGTRAP), while the hook's serves the
 * int3 sites; set back to SIG_DFL (through the hook) at the end. */
static void test_sigtrap_before_start(void **state)
{
	struct sigaction now, dfl;

	(void)state;
	need_off("SIGTRAP handler from before the start");
	need_int3("executable", regs_far);
	assert_int_equal(sigaction(SIGTRAP, NULL, &now), 0);
	if ((void *)now.sa_sigaction != (void *)on_trap_early)
		fail_msg("the program's SIGTRAP action reads back as %p, not its handler",
			 (void *)now.sa_sigaction);
	call_int3_site();
	assert_int_equal(atomic_load(&early_trap_seen), 0);
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(atomic_load(&early_trap_seen), 1);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	assert_int_equal(sigaction(SIGTRAP, &dfl, NULL), 0);
	call_int3_site(); /* ours still serves the sites */
}

/* The program's SIGTRAP handler: kept aside (sigaction reads it back),
 * called for a raise(SIGTRAP) and for an int3 of the program's own, while
 * the hook's keeps serving the int3 sites. */
static void test_sigtrap_chain(void **state)
{
	struct sigaction sa, old, now;

	(void)state;
	need_off("SIGTRAP");
	need_int3("executable", regs_far);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap_app;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGTRAP, &sa, &old), 0);
	assert_int_equal(sigaction(SIGTRAP, NULL, &now), 0);
	assert_ptr_equal((void *)now.sa_sigaction, (void *)on_trap_app);
	call_int3_site();
	assert_int_equal(atomic_load(&trap_seen), 0);
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(atomic_load(&trap_seen), 1);
	assert_int_equal(atomic_load(&trap_code), SI_TKILL);
	__asm__ volatile("int3" ::: "memory"); /* the program's own breakpoint */
	assert_int_equal(atomic_load(&trap_seen), 2);
	assert_int_equal(atomic_load(&trap_code), SI_KERNEL);
	call_int3_site();
	assert_int_equal(atomic_load(&trap_seen), 2);
	assert_int_equal(sigaction(SIGTRAP, &old, NULL), 0);
	call_int3_site();
	need_off("after the program's SIGTRAP handler");
}

/* In children: the program's SIGTRAP as SIG_IGN (a raise is ignored, the
 * int3 sites still served) and as SIG_DFL (a raise kills with SIGTRAP, as
 * without the hook); SIGSYS as SIG_DFL (a raise kills with SIGSYS); a
 * SIGTRAP handler with SA_RESETHAND (called once, then the default: the
 * second raise kills) and with sa_mask SIGUSR1 (blocked in the handler). */
static atomic_int child_trap_calls, child_trap_mask_ok;

static void on_trap_child(int sig)
{
	sigset_t cur;

	(void)sig;
	atomic_fetch_add(&child_trap_calls, 1);
	atomic_store(&child_trap_mask_ok,
		     !sigprocmask(SIG_BLOCK, NULL, &cur) && sigismember(&cur, SIGUSR1));
}

static int trap_child(int how)
{
	struct sigaction sa, now;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = how == 0 ? SIG_IGN : SIG_DFL;
	if (how >= 3) {
		sa.sa_handler = on_trap_child;
		sa.sa_flags = how == 3 ? SA_RESETHAND : 0;
		sigaddset(&sa.sa_mask, SIGUSR1);
	}
	if (sigaction(how == 2 ? SIGSYS : SIGTRAP, &sa, NULL))
		return 10;
	call_int3_site();
	raise(how == 2 ? SIGSYS : SIGTRAP);
	call_int3_site();
	if (how == 4)
		return atomic_load(&child_trap_calls) != 1 ? 11
		       : atomic_load(&child_trap_mask_ok)  ? 0
							   : 12;
	if (how == 3) {
		if (atomic_load(&child_trap_calls) != 1)
			return 11;
		if (sigaction(SIGTRAP, NULL, &now) || now.sa_handler != SIG_DFL)
			return 13;
		raise(SIGTRAP); /* the default now */
		return 14;
	}
	return 0;
}

static void test_trap_ign_dfl(void **state)
{
	static const int want_sig[] = { 0, SIGTRAP, SIGSYS };
	static const char *const names[] = { "SIGTRAP ignored", "SIGTRAP default",
					     "SIGSYS default" };
	int bad = 0;

	(void)state;
	need_off("SIG_IGN / SIG_DFL");
	for (int how = 0; how < 3; how++) {
		int status;
		pid_t pid = test_fork();

		if (pid == 0)
			_exit(trap_child(how));
		assert_int_equal(reap_child(pid, &status), pid);
		if (want_sig[how] ? !WIFSIGNALED(status) || WTERMSIG(status) != want_sig[how]
				  : !WIFEXITED(status) || WEXITSTATUS(status)) {
			print_message("%s: the child %s %d, not %s (11 handler calls, 12 sa_mask, "
				      "13 not reset)\n",
				      names[how], WIFSIGNALED(status) ? "died of signal" : "exited",
				      WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				      want_sig[how] ? "killed by the raise" : "exit 0");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The program's SIGTRAP handler moves rip (a breakpoint handler that skips
 * what follows its int3): the change must reach the thread. */
static void on_trap_skip(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_RIP] += 2; /* over the ud2 */
}

static void test_trap_handler_moves_rip(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	need_off("a SIGTRAP handler that moves rip");
	pid = test_fork();
	if (pid == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_trap_skip;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGTRAP, &sa, NULL);
		__asm__ volatile("int3; ud2" ::: "memory");
		call_int3_site();
		_exit(0);
	}
	assert_int_equal(reap_child(pid, &status), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("the child %s %d (the handler's rip change lost?)",
			 WIFSIGNALED(status) ? "died of signal" : "exited",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* seccomp's SECCOMP_RET_TRAP with the net off: SIGSYS with SYS_SECCOMP
 * goes to the program's handler, for a call at a native site (getpgid,
 * unwatched) and for one made by the hook at a rewritten site (getpgrp,
 * watched). */
static atomic_int seccomp_nr, seccomp_code;

static void on_sigsys_seccomp(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	atomic_store(&seccomp_code, si->si_code);
	atomic_store(&seccomp_nr, si->si_syscall);
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
}

static int seccomp_child(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgid, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgrp, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	struct sigaction sa;
	long e = n_enter(SYS_getpgrp);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys_seccomp;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	if (getpgid(0) != -1 || errno != EPERM)
		return 11;
	if (atomic_load(&seccomp_code) != 1 /* SYS_SECCOMP */ ||
	    atomic_load(&seccomp_nr) != SYS_getpgid)
		return 12;
	atomic_store(&seccomp_code, 0);
	if (getpgrp() != -EPERM && getpgrp() != -1)
		return 13;
	if (atomic_load(&seccomp_code) != 1 || atomic_load(&seccomp_nr) != SYS_getpgrp)
		return 14;
	return n_enter(SYS_getpgrp) > e ? 0 : 15;
}

static void test_seccomp_trap(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	need_off("seccomp");
	pid = test_fork();
	if (pid == 0)
		_exit(seccomp_child());
	assert_int_equal(reap_child(pid, &status), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("seccomp child: %s %d (10 setup, 11/12 native site, 13/14 rewritten "
			 "site, 15 not seen)",
			 WIFSIGNALED(status) ? "died of signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* blocking SIGTRAP (and everything) does not kill the process at an int3 site */
static void test_sigprocmask_trap(void **state)
{
	sigset_t set, cur, saved;

	(void)state;
	need_off("sigprocmask");
	need_int3("executable", regs_far);
	sigemptyset(&set);
	sigaddset(&set, SIGTRAP);
	assert_int_equal(sigprocmask(SIG_BLOCK, &set, &saved), 0);
	call_int3_site();
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	assert_false(sigismember(&cur, SIGTRAP));
	assert_false(sigismember(&cur, SIGSYS));
	sigfillset(&set);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &set, NULL), 0);
	call_int3_site();
	assert_int_equal(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &set, NULL, 8), 0);
	call_int3_site();
	assert_int_equal(sigprocmask(SIG_SETMASK, &saved, NULL), 0);
	need_off("after blocking SIGTRAP");
}

/* the program's SIGSYS handler is kept aside and gets SIGSYS that is not
 * the hook's, with the net off too */
static atomic_int sigsys_seen;

static void on_sigsys_app(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	atomic_store(&sigsys_seen, si->si_code);
}

static void test_sigsys_chain(void **state)
{
	struct sigaction sa, old, now;

	(void)state;
	need_off("SIGSYS");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys_app;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGSYS, &sa, &old), 0);
	assert_int_equal(sigaction(SIGSYS, NULL, &now), 0);
	assert_ptr_equal((void *)now.sa_sigaction, (void *)on_sigsys_app);
	assert_int_equal(raise(SIGSYS), 0);
	assert_int_equal(atomic_load(&sigsys_seen), SI_TKILL);
	call_int3_site();
	assert_int_equal(sigaction(SIGSYS, &old, NULL), 0);
	need_off("after the program's SIGSYS handler");
}

/* A handler on an alternate signal stack (SA_ONSTACK) makes watched calls
 * through the int3 site and the jmp site. */
static atomic_int onstack_ok;

static void on_usr2_onstack(int sig)
{
	uint64_t out[34] = { 0 };
	stack_t cur;
	int ok = 1;

	(void)sig;
	regs_far(out);
	ok &= out[0] == (uint64_t)syscall(SYS_getppid);
	regs_syscall(out);
	ok &= out[0] == (uint64_t)syscall(SYS_getppid);
	ok &= sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_ONSTACK);
	atomic_store(&onstack_ok, ok);
}

static void test_altstack(void **state)
{
	struct sigaction sa, old;
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	stack_t ss = { 0 }, oss;

	(void)state;
	need_off("sigaltstack");
	ss.ss_size = 64 * 1024;
	ss.ss_sp = malloc(ss.ss_size);
	assert_non_null(ss.ss_sp);
	assert_int_equal(sigaltstack(&ss, &oss), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2_onstack;
	sa.sa_flags = SA_ONSTACK;
	assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
	assert_int_equal(raise(SIGUSR2), 0);
	assert_int_equal(sigaction(SIGUSR2, &old, NULL), 0);
	ss.ss_flags = SS_DISABLE;
	assert_int_equal(sigaltstack(&ss, NULL), 0);
	free(ss.ss_sp);
	assert_int_equal(atomic_load(&onstack_ok), 1);
	assert_int_equal(n_enter(SYS_getppid), e + 4);
	assert_int_equal(n_exit(SYS_getppid), x + 4);
}

/* Syscalls that run with a temporary signal mask (rt_sigsuspend, ppoll,
 * pselect6) and deliver a signal under it: a mask of "everything but
 * SIGUSR1" must not leave SIGTRAP blocked in the handler, or its call
 * through an int3 site kills the process.  Each runs in a child. */
static atomic_int mask_handler_ok;

static void on_usr1_mask(int sig)
{
	uint64_t out[34] = { 0 };

	(void)sig;
	regs_far(out); /* the int3 site */
	atomic_store(&mask_handler_ok, out[0] == (uint64_t)syscall(SYS_getppid));
}

static int mask_child(int how)
{
	struct sigaction sa;
	sigset_t block, temp;
	long e = n_enter(SYS_getppid);
	int r = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1_mask;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1); /* pending until the temporary mask lets it in */
	sigfillset(&temp);
	sigdelset(&temp, SIGUSR1);
	switch (how) {
	case 0:
		r = sigsuspend(&temp);
		break;
	case 1:
		r = ppoll(NULL, 0, NULL, &temp);
		break;
	case 2:
		r = pselect(0, NULL, NULL, NULL, NULL, &temp);
		break;
	}
	if (r != -1 || errno != EINTR)
		return 10;
	if (!atomic_load(&mask_handler_ok))
		return 11;
	return n_enter(SYS_getppid) == e + 2 ? 0 : 12;
}

static void test_temporary_masks(void **state)
{
	static const char *const names[] = { "rt_sigsuspend", "ppoll", "pselect6" };
	int bad = 0;

	(void)state;
	need_off("temporary masks");
	need_int3("executable", regs_far);
	for (int how = 0; how < 3; how++) {
		int status;
		pid_t pid = test_fork();

		if (pid == 0)
			_exit(mask_child(how));
		assert_int_equal(reap_child(pid, &status), pid);
		if (WIFSIGNALED(status)) {
			print_message("%s with a mask blocking all but SIGUSR1: the handler's int3 "
				      "site killed the child (signal %d)\n",
				      names[how], WTERMSIG(status));
			bad++;
		} else if (WEXITSTATUS(status)) {
			print_message("%s: child exit %d\n", names[how], WEXITSTATUS(status));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Live patching: threads call getegid (its libc site native, unwatched)
 * while the table gets getegid: no crash, every result right, every call
 * that starts after the watch returned is seen; then unwatched again while
 * they run: only calls in flight may still be seen. */
#define RACERS 3
enum { RACE_UNWATCHED, RACE_WATCHED, RACE_PAUSE, RACE_AGAIN, RACE_STOP };
static atomic_int race_phase;
static atomic_long race_calls[RACE_STOP], race_bad;
static atomic_int race_paused; /* racers that saw RACE_PAUSE (and make no call) */
static gid_t race_egid;

static void *racer(void *arg)
{
	bool paused = false;

	(void)arg;
	for (;;) {
		int ph = atomic_load(&race_phase);

		if (ph == RACE_STOP)
			break;
		if (ph == RACE_PAUSE) {
			if (!paused)
				atomic_fetch_add(&race_paused, 1);
			paused = true;
			sched_yield();
			continue;
		}
		if (getegid() != race_egid)
			atomic_fetch_add(&race_bad, 1);
		atomic_fetch_add(&race_calls[ph], 1);
	}
	return NULL;
}

static void race_run(int phase)
{
	long c = atomic_load(&race_calls[phase]);

	/* until each phase has made calls (no clock involved) */
	while (atomic_load(&race_calls[phase]) < c + 3000)
		sched_yield();
}

static void test_live_patch(void **state)
{
	const uint8_t *site = libc_site("getegid", SYS_getegid);
	pthread_t th[RACERS];
	long e0, e1, e2, x1, x2;

	(void)state;
	need_off("live patching");
	race_egid = getegid();
	if (site[0] != 0x0f || site[1] != 0x05)
		fail_msg("libc getegid (unwatched): site is %s, not its own syscall", shape(site));
	e0 = n_enter(SYS_getegid);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, NULL), 0);
	race_run(RACE_UNWATCHED);
	set_table();
	want[SYS_getegid] = BOTH;
	bpftime_syscall_hook__watch(want, NR_MAX);
	/* calls in flight now may be seen or not: counted from here */
	e1 = n_enter(SYS_getegid);
	x1 = n_exit(SYS_getegid);
	atomic_store(&race_phase, RACE_WATCHED);
	race_run(RACE_WATCHED);
	atomic_store(&race_phase, RACE_PAUSE);
	while (atomic_load(&race_paused) < RACERS)
		sched_yield();
	/* no call in flight: every one that started after the watch was seen */
	e2 = n_enter(SYS_getegid);
	x2 = n_exit(SYS_getegid);
	need_rewritten("libc getegid, watched while called", site);
	set_table();
	bpftime_syscall_hook__watch(want, NR_MAX);
	atomic_store(&race_phase, RACE_AGAIN);
	race_run(RACE_AGAIN);
	atomic_store(&race_phase, RACE_STOP);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&race_bad), 0);
	print_message("getegid: %ld calls before, %ld watched (%ld enters, %ld exits seen), %ld "
		      "after (%ld seen); %ld seen while the table changed\n",
		      atomic_load(&race_calls[RACE_UNWATCHED]),
		      atomic_load(&race_calls[RACE_WATCHED]), e2 - e1, x2 - x1,
		      atomic_load(&race_calls[RACE_AGAIN]), n_enter(SYS_getegid) - e2, e1 - e0);
	/* the watched phase: every call, plus at most one in flight per
	 * thread when the table changed */
	assert_true(e2 - e1 >= atomic_load(&race_calls[RACE_WATCHED]));
	assert_true(e2 - e1 <= atomic_load(&race_calls[RACE_WATCHED]) + RACERS);
	assert_true(x2 - x1 >= atomic_load(&race_calls[RACE_WATCHED]));
	assert_true(x2 - x1 <= atomic_load(&race_calls[RACE_WATCHED]) + RACERS);
	/* unwatched again while no call was in flight: none seen */
	assert_int_equal(n_enter(SYS_getegid), e2);
	need_off("after live patching");
}

/* The watch widened to every syscall and narrowed again (the net off
 * throughout), and the net on and off again (code it cannot prove, mapped
 * and unmapped), again and again while threads call getppid (watched in
 * both tables) through every kind of site: each call seen exactly once
 * (none lost, none twice on a transition), results right; at the end SUD
 * is off in every thread, the callers too. */
static atomic_int tog_phase; /* 0 run, 1 pause, 2 stop */
static atomic_int tog_paused;
static atomic_long tog_calls, tog_bad;

static void *toggler_caller(void *arg)
{
	uint64_t out[34];
	long ppid = (long)(intptr_t)arg;
	bool paused = false;

	for (;;) {
		int ph = atomic_load(&tog_phase);

		if (ph == 2)
			break;
		if (ph == 1) {
			if (!paused)
				atomic_fetch_add(&tog_paused, 1);
			paused = true;
			sched_yield();
			continue;
		}
		regs_syscall(out);
		tog_bad += out[0] != (uint64_t)ppid;
		regs_far(out);
		tog_bad += out[0] != (uint64_t)ppid;
		tog_bad += getppid() != ppid;
		tog_bad += syscall(SYS_getppid) != ppid;
		atomic_fetch_add(&tog_calls, 4);
	}
	return NULL;
}

static void test_toggle_stress(void **state)
{
	long ppid = getppid(), e, x;
	pthread_t th[RACERS];

	(void)state;
	need_off("toggling");
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, toggler_caller, (void *)(intptr_t)ppid), 0);
	for (int round = 0; round < 4; round++) {
		long c = atomic_load(&tog_calls);
		uint8_t *code = NULL;

		if (round & 1) {
			/* code it cannot prove: the net on, and off again once
			 * it is gone (the patcher's next try) */
			code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				    -1, 0);
			assert_true(code != MAP_FAILED);
			memcpy(code, jit_code, sizeof(jit_code));
			assert_int_equal(mprotect(code, 4096, PROT_READ | PROT_EXEC), 0);
			need_on_now(round > 1 ? NULL : "toggling: JIT code");
		} else {
			/* every syscall (the net stays off: every site through
			 * the hook), then the table (the others rest again) */
			bpftime_syscall_hook__watch(NULL, 0);
			need_off_now(round ? NULL : "toggling: every syscall watched");
		}
		while (atomic_load(&tog_calls) < c + 2000)
			sched_yield();
		if (code) {
			munmap(code, 4096);
			need_off("toggling: the JIT code gone");
		} else {
			rearm("toggling: the table again");
		}
		c = atomic_load(&tog_calls);
		while (atomic_load(&tog_calls) < c + 2000)
			sched_yield();
	}
	atomic_store(&tog_phase, 1);
	while (atomic_load(&tog_paused) < RACERS)
		sched_yield();
	print_message("toggling: %ld calls, %ld enters, %ld exits seen\n", atomic_load(&tog_calls),
		      n_enter(SYS_getppid) - e, n_exit(SYS_getppid) - x);
	assert_int_equal(atomic_load(&tog_bad), 0);
	assert_int_equal(n_enter(SYS_getppid) - e, atomic_load(&tog_calls));
	assert_int_equal(n_exit(SYS_getppid) - x, atomic_load(&tog_calls));
	all_sud_off("after toggling", 0);
	atomic_store(&tog_phase, 2);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
}

/* bpftime_syscall_hook__warm rewrites the warm stub's immediates while
 * other threads run it: the callers of the toggle stress (getppid watched
 * at enter and exit, through a rewritten site, an int3 site, libc and
 * syscall(2)) see right results and every call reported, while this
 * thread swaps the hints between two sets (at least 20,000 times, and
 * until the callers made 20,000 calls) */
static void test_warm_rewrite_stress(void **state)
{
	static const char a = 1, b = 2;
	const void *set[2][BPFTIME_SYSCALL_WARM_MAX] = {
		{ &a, (const void *)0xffff888000000000ull, NULL, &b, &a, &b },
		{ (const void *)1, &b, &a, (const void *)0x8000000000000000ull, &b, &a },
	};
	long ppid = getppid(), e, x;
	pthread_t th[RACERS];

	(void)state;
	rearm("warm rewrite");
	atomic_store(&tog_phase, 0);
	atomic_store(&tog_paused, 0);
	atomic_store(&tog_calls, 0);
	atomic_store(&tog_bad, 0);
	e = n_enter(SYS_getppid);
	x = n_exit(SYS_getppid);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(
			pthread_create(&th[i], NULL, toggler_caller, (void *)(intptr_t)ppid), 0);
	for (long i = 0; i < 20000 || atomic_load(&tog_calls) < 20000; i++) {
		bpftime_syscall_hook__warm(set[i & 1], BPFTIME_SYSCALL_WARM_MAX - (size_t)(i % 3));
		if (!(i % 64))
			sched_yield();
	}
	atomic_store(&tog_phase, 1);
	while (atomic_load(&tog_paused) < RACERS)
		sched_yield();
	print_message("warm rewrite: %ld calls, %ld enters, %ld exits seen\n",
		      atomic_load(&tog_calls), n_enter(SYS_getppid) - e, n_exit(SYS_getppid) - x);
	assert_true(atomic_load(&tog_calls) > 0);
	assert_int_equal(atomic_load(&tog_bad), 0);
	assert_int_equal(n_enter(SYS_getppid) - e, atomic_load(&tog_calls));
	assert_int_equal(n_exit(SYS_getppid) - x, atomic_load(&tog_calls));
	atomic_store(&tog_phase, 2);
	for (int i = 0; i < RACERS; i++)
		pthread_join(th[i], NULL);
	bpftime_syscall_hook__warm(NULL, 0);
}

/* New code the scan can prove keeps the net off: anonymous RX code with
 * no `0f 05`, and code registered as the runtime's own
 * (bpftime_syscall_hook__own) even with a pair inside an immediate. */
static void test_own_code(void **state)
{
	static const uint8_t inside[] = { 0xb8, 0x0f, 0x05, 0, 0, /* mov eax, 0x050f */
					  0xc3 };
	uint8_t *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char why[256] = "";
	long (*fn)(void);

	(void)state;
	assert_true(p != MAP_FAILED);
	need_off("own code");
	memset(p, 0xc3, 8192);
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	if (net(why, sizeof(why)))
		fail_msg("RX code without a syscall turned the net on: %s", why);
	fn = (long (*)(void))(void *)p;
	fn();
	memcpy(p + 4096, inside, sizeof(inside));
	bpftime_syscall_hook__own((uintptr_t)p + 4096, 4096);
	assert_int_equal(mprotect(p + 4096, 4096, PROT_READ | PROT_EXEC), 0);
	if (net(why, sizeof(why)))
		fail_msg("the runtime's own code turned the net on: %s", why);
	fn = (long (*)(void))(void *)(p + 4096);
	assert_int_equal(fn(), 0x050f);
	/* the owned page stays for the process's life, as the VM's ranges do
	 * (the scan skips an owned range whatever is mapped there later) */
	munmap(p, 4096);
	need_off("after own code");
}

/* exit_group watched (a special number): the net stays off, and the call
 * is seen (in a child: on_enter writes to a pipe) */
static void test_watch_exit_group(void **state)
{
	int pfd[2], status;
	char c = 0;
	pid_t pid;

	(void)state;
	need_off("exit_group");
	assert_int_equal(pipe(pfd), 0);
	pid = test_fork();
	if (pid == 0) {
		char why[256] = "";

		close(pfd[0]);
		exit_pipe = pfd[1];
		set_table();
		want[SYS_exit_group] = BPFTIME_SYSCALL_WATCH_ENTER;
		bpftime_syscall_hook__watch(want, NR_MAX);
		if (bpftime_syscall_hook__net(why, sizeof(why)) != 0)
			_exit(21);
		_exit(7);
	}
	close(pfd[1]);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(c, 'E');
	close(pfd[0]);
}

/* A vfork child shares the memory and the thread state: its watched call
 * through a rewritten site is reported once, under the child's id (as the
 * kernel does), and the parent's calls afterwards under the parent's. */
static void test_vfork_child_calls(void **state)
{
	long e = n_enter(SYS_getppid), x = n_exit(SYS_getppid);
	volatile long child_ppid = 0;
	uint64_t out[34] = { 0 };
	int status;
	pid_t pid, me = getpid();

	(void)state;
	need_off("vfork child calls");
	pid = vfork();
	if (pid == 0) {
		child_ppid = syscall(SYS_getppid);
		_exit(9);
	}
	assert_true(pid > 0);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 9);
	assert_int_equal(child_ppid, me);
	assert_int_equal(n_enter(SYS_getppid), e + 1);
	assert_int_equal(n_exit(SYS_getppid), x + 1);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), pid);
	/* the parent's thread state is intact */
	e = n_enter(SYS_getppid);
	regs_syscall(out);
	check_regs(out, (uint64_t)getppid());
	regs_far(out);
	check_regs(out, (uint64_t)getppid());
	assert_int_equal(n_enter(SYS_getppid), e + 4);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), gettid());
	need_off("after a vfork child's calls");
}

/* posix_spawn with POSIX_SPAWN_SETSIGDEF (every signal to SIG_DFL in the
 * child): the child's rt_sigaction calls run in the parent's memory; the
 * parent's own SIGTRAP and SIGSYS handlers (kept aside by the hook) must
 * still be the program's afterwards. */
static void test_spawn_sigdef(void **state)
{
	char *argv[] = { (char *)"true", NULL };
	struct sigaction sa, old_trap, old_sys, now;
	posix_spawnattr_t attr;
	sigset_t all;
	int status, trap0 = atomic_load(&trap_seen);
	pid_t pid;

	(void)state;
	need_off("posix_spawn SETSIGDEF");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap_app;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGTRAP, &sa, &old_trap), 0);
	sa.sa_sigaction = on_sigsys_app;
	assert_int_equal(sigaction(SIGSYS, &sa, &old_sys), 0);
	assert_int_equal(posix_spawnattr_init(&attr), 0);
	sigfillset(&all);
	assert_int_equal(posix_spawnattr_setsigdefault(&attr, &all), 0);
	assert_int_equal(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF), 0);
	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, &attr, argv, environ), 0);
	posix_spawnattr_destroy(&attr);
	assert_int_equal(reap_child(pid, &status), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("posix_spawn(SETSIGDEF) of /bin/true: %s %d",
			 WIFSIGNALED(status) ? "killed by signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	assert_int_equal(sigaction(SIGTRAP, NULL, &now), 0);
	if ((void *)now.sa_sigaction != (void *)on_trap_app)
		fail_msg("after posix_spawn(SETSIGDEF) the program's SIGTRAP action is %p, not "
			 "its handler",
			 (void *)now.sa_sigaction);
	assert_int_equal(sigaction(SIGSYS, NULL, &now), 0);
	if ((void *)now.sa_sigaction != (void *)on_sigsys_app)
		fail_msg("after posix_spawn(SETSIGDEF) the program's SIGSYS action is %p, not "
			 "its handler",
			 (void *)now.sa_sigaction);
	atomic_store(&sigsys_seen, 0);
	assert_int_equal(raise(SIGSYS), 0);
	assert_int_equal(atomic_load(&sigsys_seen), SI_TKILL);
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(atomic_load(&trap_seen), trap0 + 1);
	call_int3_site();
	assert_int_equal(sigaction(SIGTRAP, &old_trap, NULL), 0);
	assert_int_equal(sigaction(SIGSYS, &old_sys, NULL), 0);
}

/* A library closed and opened again (at the same address, usually): its
 * sites are fresh bytes; each watched call through them is seen once. */
static void test_dlclose_reopen(void **state)
{
	uintptr_t base[2] = { 0 };

	(void)state;
	need_off("dlclose and dlopen again");
	for (int round = 0; round < 2; round++) {
		void (*regs_mem)(uint64_t *), (*regs_far_b)(uint64_t *);
		const uint8_t *mem_site, *far_site;
		long (*branch)(int);
		uint64_t out[34] = { 0 };
		uint64_t ppid = (uint64_t)getppid();
		long e, x;
		Dl_info info;
		void *h = dlopen(NETOFF_TESTLIB_B, RTLD_NOW | RTLD_LOCAL);

		assert_non_null(h);
		regs_mem = (void (*)(uint64_t *))dlsym(h, "netoff_lib_regs_mem");
		regs_far_b = (void (*)(uint64_t *))dlsym(h, "netoff_lib_regs_far");
		branch = (long (*)(int))dlsym(h, "netoff_lib_branch");
		assert_true(regs_mem && regs_far_b && branch);
		assert_true(dladdr((void *)regs_mem, &info));
		base[round] = (uintptr_t)info.dli_fbase;
		print_message("round %d: library B at %#lx\n", round, (unsigned long)base[round]);
		rearm(round ? "the library opened again" : "the library opened");
		e = n_enter(SYS_getppid);
		x = n_exit(SYS_getppid);
		regs_mem(out);
		check_regs(out, ppid);
		mem_site = (const uint8_t *)out[32] - 2;
		regs_far_b(out);
		check_regs(out, ppid);
		far_site = (const uint8_t *)out[32] - 2;
		assert_int_equal(branch(0), (long)ppid);
		if (n_enter(SYS_getppid) != e + 3 || n_exit(SYS_getppid) != x + 3)
			fail_msg("round %d: 3 calls through library B, %ld enters and %ld exits "
				 "seen "
				 "(sites: %s, %s)",
				 round, n_enter(SYS_getppid) - e, n_exit(SYS_getppid) - x,
				 shape(mem_site), shape(far_site));
		need_rewritten("library B: number from memory", mem_site);
		need_rewritten("library B: no island", far_site);
		assert_int_equal(dlclose(h), 0);
	}
	print_message("library B opened at %#lx, then at %#lx\n", (unsigned long)base[0],
		      (unsigned long)base[1]);
}

/* A library whose `mov eax, nr` site was rewritten is closed, and opened
 * again at the same address while nobody watches that number (its scan
 * leaves the fresh `syscall` alone); a watch that names the number later
 * must put the fresh site through the hook: the old site's record says
 * "patched", but the bytes there are the fresh library's. */
static void test_reopen_watch_later(void **state)
{
	uintptr_t base[2] = { 0 };
	const volatile uint8_t *mov = NULL;
	uint64_t out[34] = { 0 }, ppid = (uint64_t)getppid();
	long e;

	(void)state;
	need_off("a rewritten library closed, opened again, watched later");
	for (int round = 0; round < 2; round++) {
		void *h;
		void (*far_fn)(uint64_t *);
		Dl_info info;

		if (round) { /* getppid unwatched while it loads */
			set_table();
			want[SYS_getppid] = 0;
			bpftime_syscall_hook__watch(want, NR_MAX);
		}
		h = dlopen(NETOFF_TESTLIB_B, RTLD_NOW | RTLD_LOCAL);
		assert_non_null(h);
		far_fn = (void (*)(uint64_t *))dlsym(h, "netoff_lib_regs_far");
		assert_non_null(far_fn);
		assert_true(dladdr((void *)far_fn, &info));
		base[round] = (uintptr_t)info.dli_fbase;
		if (!round) {
			far_fn(out); /* through the net: handed to the patcher */
			mov = (const volatile uint8_t *)(uintptr_t)out[32] - 7;
			if (!wait_byte((const uint8_t *)mov, 0xe9) && !dry)
				fail_msg("library B's `mov eax` site was not rewritten (%02x)",
					 mov[0]);
			assert_int_equal(dlclose(h), 0);
			continue;
		}
		if (base[1] != base[0]) {
			dlclose(h);
			rearm("library B elsewhere");
			TEST_SKIP("library B came back at %#lx, not at %#lx: no stale site to "
				  "check",
				  (unsigned long)base[1], (unsigned long)base[0]);
		}
		assert_int_equal(mov[0], 0xb8); /* the fresh library's own bytes */
		set_table();
		bpftime_syscall_hook__watch(want, NR_MAX);
		e = n_enter(SYS_getppid);
		memset(out, 0, sizeof(out));
		far_fn(out);
		check_regs(out, ppid);
		if (n_enter(SYS_getppid) != e + 1)
			fail_msg("library B opened again, getppid watched after: its call was "
				 "seen %ld times",
				 n_enter(SYS_getppid) - e);
		assert_int_equal(dlclose(h), 0);
	}
	rearm("after library B again");
}

/* pause: no handler runs (every kind of site, registers intact); off:
 * every site gets its own bytes back, SUD off everywhere, the program's
 * SIGTRAP action is its own again; start again: the net off again, the
 * sites rewritten, the calls seen. */
static void test_pause_off_start(void **state)
{
	const uint8_t *far_site = regs_site(regs_far), *asm_site = regs_site(regs_syscall);
	const uint8_t *libc = libc_site("getppid", SYS_getppid);
	struct sigaction sa, old, now;
	uint64_t out[34] = { 0 }, ppid = (uint64_t)getppid();
	long e = n_enter(SYS_getppid);
	int trap0 = atomic_load(&trap_seen), r;

	(void)state;
	need_off("pause, off, start");
	bpftime_syscall_hook__pause();
	regs_syscall(out);
	check_regs(out, ppid);
	regs_far(out);
	check_regs(out, ppid);
	assert_int_equal(getppid(), (pid_t)ppid);
	assert_int_equal(n_enter(SYS_getppid), e);
	assert_int_equal(bpftime_syscall_hook__off(), 0);
	if (far_site[0] != 0x0f || asm_site[0] != 0x0f || libc[0] != 0x0f)
		fail_msg("after off: sites %s, %s, %s (int3, asm, libc), not their own bytes",
			 shape(far_site), shape(asm_site), shape(libc));
	assert_true(all_sud_off("after off", 0) != 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap_app;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGTRAP, &sa, &old), 0);
	assert_int_equal(raise(SIGTRAP), 0);
	assert_int_equal(atomic_load(&trap_seen), trap0 + 1);
	regs_far(out);
	check_regs(out, ppid);
	assert_int_equal(n_enter(SYS_getppid), e);
	assert_int_equal(bpftime_syscall_hook__start(on_enter, on_exit_, NULL), 0);
	need_off("started again");
	trap0 = atomic_load(&trap_seen);
	/* the program's action set while off is still its own */
	r = sigaction(SIGTRAP, NULL, &now);
	if (r || atomic_load(&trap_seen) != trap0)
		fail_msg("after start again: sigaction() returned %d, the program's SIGTRAP "
			 "handler ran %d time(s) (the int3 sites' traps went to it?)",
			 r, atomic_load(&trap_seen) - trap0);
	assert_ptr_equal((void *)now.sa_sigaction, (void *)on_trap_app);
	regs_syscall(out);
	check_regs(out, ppid);
	regs_far(out);
	check_regs(out, ppid);
	assert_int_equal(getppid(), (pid_t)ppid);
	assert_int_equal(n_enter(SYS_getppid), e + 3);
	need_rewritten("asm site after start", asm_site);
	need_rewritten("int3 site after start", far_site);
	assert_int_equal(sigaction(SIGTRAP, &old, NULL), 0);
}

/* The program installs its SIGSYS handler while the hook is off; after the
 * start, with the net on (JIT code it cannot prove keeps it on), a call SUD
 * catches (that code) must still be the hook's, seen once and made, not
 * the program's SIGSYS.  In a child. */
static int sigsys_while_off_child(void)
{
	struct sigaction sa;
	long (*fn)(void);
	long e;
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 10;
	memcpy(p, jit_code, sizeof(jit_code));
	if (bpftime_syscall_hook__off())
		return 11;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys_app;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL))
		return 12;
	if (bpftime_syscall_hook__start(on_enter, on_exit_, NULL))
		return 13;
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC))
		return 15;
	if (bpftime_syscall_hook__net(NULL, 0) != 1)
		return 14;
	fn = (long (*)(void))(void *)p;
	atomic_store(&sigsys_seen, 0);
	e = n_enter(SYS_getppid);
	if (fn() != getppid())
		return 16;
	if (atomic_load(&sigsys_seen))
		return 17;
	return n_enter(SYS_getppid) == e + 2 ? 0 : 18;
}

static void test_sigsys_while_off(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	need_off("SIGSYS handler installed while off");
	pid = test_fork();
	if (pid == 0)
		_exit(sigsys_while_off_child());
	assert_int_equal(reap_child(pid, &status), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("child: %s %d (16 wrong result, 17 the program's SIGSYS handler got "
			 "the hook's SIGSYS, 18 not seen)",
			 WIFSIGNALED(status) ? "died of signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* ---- 5. fork, vfork, posix_spawn, execve ---------------------------------- */
static void test_fork_exec(void **state)
{
	char *argv[] = { (char *)"true", NULL };
	long e = n_enter(SYS_getppid);
	int status;
	pid_t pid;

	(void)state;
	need_off("fork");
	pid = test_fork();
	if (pid == 0) {
		/* the child sees its own calls, through the same sites */
		long b = n_enter(SYS_getppid);
		uint64_t out[34] = { 0 };

		syscall(SYS_getppid);
		getppid();
		regs_syscall(out);
		if (n_enter(SYS_getppid) != b + 3 || out[0] != (uint64_t)getppid())
			_exit(1);
		/* the handlers' thread id is the child's */
		if (atomic_load(&last_tid[SYS_getppid]) != (int32_t)syscall(SYS_gettid))
			_exit(2);
		_exit(bpftime_syscall_tid() == (int32_t)syscall(SYS_gettid) ? 0 : 3);
	}
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2 || WEXITSTATUS(status) == 3)
		print_message("fork child: the handlers' thread id is not the child's (exit %d)\n",
			      WEXITSTATUS(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* fork through syscall(2): the rewritten generic site */
	pid = (pid_t)syscall(SYS_fork);
	if (pid == 0)
		_exit(bpftime_syscall_tid() == (int32_t)syscall(SYS_gettid) ? 5 : 6);
	assert_true(pid > 0);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 5);
	/* clone(SIGCHLD) through syscall(2) too */
	pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (pid == 0)
		_exit(bpftime_syscall_tid() == (int32_t)syscall(SYS_gettid) ? 4 : 6);
	assert_true(pid > 0);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 4);
	pid = vfork();
	if (pid == 0)
		_exit(3);
	assert_true(pid > 0);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 3);
	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ), 0);
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	pid = test_fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
		_exit(127);
	}
	assert_int_equal(reap_child(pid, &status), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 7);
	assert_int_equal(n_enter(SYS_getppid), e); /* the children's were theirs */
	need_off("after fork, vfork, posix_spawn, execve");
}

/* @name matches one of the comma-separated fnmatch patterns of @pats
 * (@none: the answer when @pats is NULL) */
static bool matches(const char *pats, const char *name, bool none)
{
	char buf[256], *save = NULL, *pat;

	if (!pats)
		return none;
	snprintf(buf, sizeof(buf), "%s", pats);
	for (pat = strtok_r(buf, ",", &save); pat; pat = strtok_r(NULL, ",", &save))
		if (!fnmatch(pat, name, 0))
			return true;
	return false;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_off),
		cmocka_unit_test(test_asm_registers),
		cmocka_unit_test(test_libc),
		cmocka_unit_test(test_syscall_wrapper),
		cmocka_unit_test(test_unwatched),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_new_thread),
		cmocka_unit_test(test_early_thread),
		cmocka_unit_test(test_dlopen_after),
		cmocka_unit_test(test_code_changed),
		cmocka_unit_test(test_blocked_worker_dlopen),
		cmocka_unit_test(test_watch_later),
		cmocka_unit_test(test_first_call_rewritten),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_sigreturn),
		cmocka_unit_test(test_siglongjmp),
		cmocka_unit_test(test_sigtrap_before_start),
		cmocka_unit_test(test_sigtrap_chain),
		cmocka_unit_test(test_sigprocmask_trap),
		cmocka_unit_test_teardown(test_trap_ign_dfl, teardown),
		cmocka_unit_test_teardown(test_trap_handler_moves_rip, teardown),
		cmocka_unit_test_teardown(test_seccomp_trap, teardown),
		cmocka_unit_test(test_sigsys_chain),
		cmocka_unit_test(test_altstack),
		cmocka_unit_test_teardown(test_temporary_masks, teardown),
		cmocka_unit_test(test_live_patch),
		cmocka_unit_test(test_toggle_stress),
		cmocka_unit_test(test_warm_rewrite_stress),
		cmocka_unit_test(test_enter_only_registers),
		cmocka_unit_test(test_warm_hints),
		cmocka_unit_test(test_own_code),
		cmocka_unit_test_teardown(test_watch_exit_group, teardown),
		cmocka_unit_test_teardown(test_fork_exec, teardown),
		cmocka_unit_test(test_vfork_child_calls),
		cmocka_unit_test(test_spawn_sigdef),
		cmocka_unit_test(test_reopen_watch_later),
		cmocka_unit_test(test_dlclose_reopen),
		cmocka_unit_test(test_pause_off_start),
		cmocka_unit_test_teardown(test_sigsys_while_off, teardown),
		cmocka_unit_test(test_jit),
		cmocka_unit_test(test_wx),
		cmocka_unit_test(test_shmat_pkey),
		cmocka_unit_test(test_watch_special),
		cmocka_unit_test(test_watch_special_more),
	};

	/* NETOFF_TEST_SKIP=pattern[,pattern...]: leave the cases whose names
	 * match out (fnmatch); NETOFF_TEST_ONLY=...: run only those; to look
	 * at cases one by one */
	const char *skip = getenv("NETOFF_TEST_SKIP"), *only = getenv("NETOFF_TEST_ONLY");
	struct CMUnitTest run[sizeof(tests) / sizeof(tests[0])];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!matches(skip, tests[i].name, false) && matches(only, tests[i].name, true))
			run[n++] = tests[i];
	if (n < sizeof(tests) / sizeof(tests[0]))
		return testkit_exit(_cmocka_run_group_tests("netoff", run, n, group_setup, NULL),
				    n);
	return TEST_RUN(tests, group_setup, NULL);
}
