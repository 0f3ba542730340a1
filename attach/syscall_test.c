/* SPDX-License-Identifier: MIT */
/* attach/syscall_test.c: the syscall hook (Syscall User Dispatch) on real
 * code: a hand-written asm syscall that checks every register and the red
 * zone, libc wrappers, a dlopen'ed library, JIT-ed code, threads created
 * before and after the start, fork, vfork, posix_spawn + execve, signal
 * handlers (rt_sigreturn), a SIGSYS handler of the program, override, a
 * raw clone(CLONE_VM) thread on this thread's TLS. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/futex.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/attach.h>
#include <bpftime/syscall_hook.h>

extern char **environ;

/* Sets every general register to a pattern, fills the red zone, makes the
 * syscall in rax (getppid) and stores every register after it, then the
 * red zone, into out[0..15] and out[16..31]; out[32] = address after the
 * syscall instruction; regs_flags = SF ZF AF PF CF just before it. */
void regs_syscall(uint64_t *out);
uint64_t regs_scratch, regs_flags;
__asm__(".text\n"
	".globl regs_syscall\n"
	".type regs_syscall, @function\n"
	"regs_syscall:\n"
	"	push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
	"	push %rdi\n"
	"	lea 2f(%rip), %rax; mov (%rsp), %rdi; mov %rax, 256(%rdi)\n"
	"	mov $16, %ecx\n"
	"1:	mov %rcx, %rax; shl $8, %rax; or $0x5a, %rax; neg %rcx\n"
	"	mov %rax, (%rsp,%rcx,8)\n"
	"	neg %rcx; dec %rcx; jnz 1b\n"
	"	mov $0x1111, %rbx; mov $0x2222, %rbp; mov $0x3333, %rsi; mov $0x4444, %rdx\n"
	"	mov $0x5555, %r8; mov $0x6666, %r9; mov $0x7777, %r10; mov $0x8888, %r12\n"
	"	mov $0x9999, %r13; mov $0xaaaa, %r14; mov $0xbbbb, %r15; mov $0xcccc, %rdi\n"
	"	mov $0xdddd, %rcx; mov $0xeeee, %r11\n"
	"	lahf; movzbl %ah, %eax; mov %rax, regs_flags(%rip)\n"
	"	mov $110, %eax\n"
	"	syscall\n"
	"2:	mov %rdi, regs_scratch(%rip)\n" /* nothing below rsp is touched */
	"	mov (%rsp), %rdi\n"
	"	mov %rax, 0(%rdi); mov %rbx, 8(%rdi); mov %rcx, 16(%rdi); mov %rdx, 24(%rdi)\n"
	"	mov %rsi, 32(%rdi); mov regs_scratch(%rip), %rax; mov %rax, 40(%rdi)\n"
	"	mov %rbp, 48(%rdi)\n"
	"	mov %r8, 56(%rdi); mov %r9, 64(%rdi); mov %r10, 72(%rdi); mov %r11, 80(%rdi)\n"
	"	mov %r12, 88(%rdi); mov %r13, 96(%rdi); mov %r14, 104(%rdi); mov %r15, 112(%rdi)\n"
	"	mov $16, %ecx\n"
	"3:	neg %rcx; mov (%rsp,%rcx,8), %rax; neg %rcx\n"
	"	mov %rax, 120(%rdi,%rcx,8)\n"
	"	dec %rcx; jnz 3b\n"
	"	pop %rdi\n"
	"	pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
	"	ret\n"
	".size regs_syscall, .-regs_syscall\n");

#define NR_MAX 512
static atomic_long enters[NR_MAX], exits[NR_MAX];
static _Atomic int32_t last_tid[NR_MAX];
static atomic_int override_getppid; /* > 0: override with this value */
static atomic_long last_exit_ret[NR_MAX];
static atomic_int restart_fd = -1; /* read on it: counted apart */
static atomic_long restart_enters, restart_exits, restart_first_ret;

static void on_enter(struct bpftime_syscall *sc, void *data)
{
	(void)data;
	if (sc->nr < 0 || sc->nr >= NR_MAX)
		return;
	atomic_fetch_add(&enters[sc->nr], 1);
	atomic_store(&last_tid[sc->nr], bpftime_syscall_tid());
	if (sc->nr == SYS_read && (int)sc->args[0] == atomic_load(&restart_fd))
		atomic_fetch_add(&restart_enters, 1);
	if (sc->nr == SYS_getppid && atomic_load(&override_getppid))
		assert_int_equal(bpftime_syscall_override_return(atomic_load(&override_getppid)),
				 0);
	if (sc->nr == SYS_exit_group || sc->nr == SYS_rt_sigreturn)
		assert_int_equal(bpftime_syscall_override_return(1), -EINVAL);
}

static atomic_long clone_exit_ret[2]; /* [0]: the child's, [1]: the parent's */
static atomic_int clone_exit_tid;     /* the thread that reported 0 */
static atomic_int vfork_exit_tid;     /* the vfork child that reported 0 */

static void on_exit_(struct bpftime_syscall *sc, void *data)
{
	(void)data;
	if (sc->nr < 0 || sc->nr >= NR_MAX)
		return;
	atomic_fetch_add(&exits[sc->nr], 1);
	atomic_store(&last_exit_ret[sc->nr], sc->ret);
	if (sc->nr == SYS_clone3 || sc->nr == SYS_clone) {
		atomic_store(&clone_exit_ret[sc->ret != 0], sc->ret);
		if (!sc->ret)
			atomic_store(&clone_exit_tid, bpftime_syscall_tid());
	}
	if (sc->nr == SYS_vfork && !sc->ret)
		atomic_store(&vfork_exit_tid, bpftime_syscall_tid());
	if (sc->nr == SYS_read && (int)sc->args[0] == atomic_load(&restart_fd) &&
	    atomic_fetch_add(&restart_exits, 1) == 0)
		atomic_store(&restart_first_ret, sc->ret);
}

static long n_enter(int nr)
{
	return atomic_load(&enters[nr]);
}

static pthread_barrier_t early_go;
static atomic_int early_tid;
static long early_ppid;

/* a thread that exists before the hook starts, blocked in a futex */
static void *early_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&early_go);
	early_tid = (int)syscall(SYS_gettid);
	early_ppid = syscall(SYS_getppid);
	return NULL;
}

static pthread_t early;

static int group_setup(void **state)
{
	(void)state;
	pthread_barrier_init(&early_go, NULL, 2);
	if (pthread_create(&early, NULL, early_thread, NULL))
		return -1;
	usleep(20000); /* let it block */
	if (bpftime_syscall_hook__start(on_enter, on_exit_, NULL)) {
		if (errno == ENOSYS) {
			fprintf(stderr, "skipped: no Syscall User Dispatch\n");
			exit(77);
		}
		return -1;
	}
	/* the net (BPFTIME_SYSCALL_NET, auto by default) as it settles: off
	 * once the scan has proven every site, whatever the watch (the
	 * handlers here watch every syscall); the tests run the same with
	 * it off and on (attach_syscall_test_net_on) */
	for (int i = 0;
	     i < 300 && bpftime_syscall_hook__net(NULL, 0) == 1 &&
	     (!getenv("BPFTIME_SYSCALL_NET") || strcmp(getenv("BPFTIME_SYSCALL_NET"), "on"));
	     i++)
		usleep(10000);
	{
		char why[256] = "";

		fprintf(stderr, "the net is %s%s%s\n",
			bpftime_syscall_hook__net(why, sizeof(why)) ? "on" : "off",
			why[0] ? ": " : "", why);
	}
	return 0;
}

static void test_asm_registers(void **state)
{
	uint64_t out[34];
	long before = n_enter(SYS_getppid);

	(void)state;
	memset(out, 0, sizeof(out));
	regs_syscall(out);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	assert_int_equal(out[0], getppid());		     /* rax */
	assert_int_equal(out[1], 0x1111);		     /* rbx */
	assert_int_equal(out[2], out[32]);		     /* rcx = rip after syscall */
	assert_int_equal(out[3], 0x4444);		     /* rdx */
	assert_int_equal(out[4], 0x3333);		     /* rsi */
	assert_int_equal(out[5], 0xcccc);		     /* rdi */
	assert_int_equal(out[6], 0x2222);		     /* rbp */
	assert_int_equal(out[7], 0x5555);		     /* r8 */
	assert_int_equal(out[8], 0x6666);		     /* r9 */
	assert_int_equal(out[9], 0x7777);		     /* r10 */
	assert_int_equal(out[10] & 0xd5, regs_flags & 0xd5); /* r11 = rflags */
	assert_true(out[10] & 0x200);			     /* IF */
	assert_int_equal(out[11], 0x8888);		     /* r12 */
	assert_int_equal(out[12], 0x9999);
	assert_int_equal(out[13], 0xaaaa);
	assert_int_equal(out[14], 0xbbbb);
	for (int i = 1; i <= 16; i++) /* the red zone */
		assert_int_equal(out[15 + i], (uint64_t)i << 8 | 0x5a);
}

static void test_libc_and_exit(void **state)
{
	long before = n_enter(SYS_getppid), xb = atomic_load(&exits[SYS_getppid]);

	(void)state;
	assert_int_equal(getppid(), syscall(SYS_getppid));
	assert_int_equal(n_enter(SYS_getppid), before + 2);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), xb + 2);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getppid]), getppid());
	assert_int_equal(close(-1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_close]), -EBADF);
}

static void test_dlopen(void **state)
{
	long (*fn)(void);
	long before;
	void *h;

	(void)state;
	h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(h);
	fn = (long (*)(void))dlsym(h, "syscall_testlib_getppid");
	assert_non_null(fn);
	before = n_enter(SYS_getppid);
	assert_int_equal(fn(), getppid());
	assert_int_equal(n_enter(SYS_getppid), before + 2);
	dlclose(h);
}

static void test_jit(void **state)
{
	static const uint8_t code[] = { 0xb8, 0x27, 0, 0, 0, /* mov eax, SYS_getpid */
					0x0f, 0x05,	     /* syscall */
					0xc3 };
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long before = n_enter(SYS_getpid);
	long (*fn)(void);

	(void)state;
	assert_true(p != MAP_FAILED);
	memcpy(p, code, sizeof(code));
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	fn = (long (*)(void))(void *)p;
	assert_int_equal(fn(), getpid());
	assert_int_equal(n_enter(SYS_getpid), before + 2);
	munmap(p, 4096);
}

static atomic_int late_tid;
static long late_ppid;

static void *late_thread(void *arg)
{
	(void)arg;
	late_tid = (int)syscall(SYS_gettid);
	late_ppid = syscall(SYS_getppid);
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t th;
	long cx;

	(void)state;
	/* created before the start, blocked in a futex since */
	pthread_barrier_wait(&early_go);
	pthread_join(early, NULL);
	assert_int_equal(early_ppid, getppid());
	/* its getppid was seen on its own thread */
	assert_true(atomic_load(&enters[SYS_getppid]) > 0);
	/* created after: clone3 through the stub, SUD turned on in the child */
	cx = atomic_load(&exits[SYS_clone3]) + atomic_load(&exits[SYS_clone]);
	assert_int_equal(pthread_create(&th, NULL, late_thread, NULL), 0);
	pthread_join(th, NULL);
	/* the exit is reported in the parent (the thread's id) and in the
	 * thread (0), as the kernel does */
	assert_int_equal(atomic_load(&exits[SYS_clone3]) + atomic_load(&exits[SYS_clone]), cx + 2);
	assert_int_equal(atomic_load(&clone_exit_ret[1]), late_tid);
	assert_int_equal(atomic_load(&clone_exit_ret[0]), 0);
	assert_int_equal(atomic_load(&clone_exit_tid), late_tid);
	/* the late thread's getppid was intercepted on that thread */
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), late_tid);
	assert_int_equal(late_ppid, getppid());
	assert_true(atomic_load(&enters[SYS_clone3]) + atomic_load(&enters[SYS_clone]) > 0);
}

static void test_early_thread_seen(void **state)
{
	(void)state;
	/* early's gettid ran after the start, on the thread that got the
	 * enable signal while it slept in a futex */
	assert_true(early_tid > 0);
	assert_true(atomic_load(&enters[SYS_gettid]) > 0);
}

static void test_fork_vfork_spawn(void **state)
{
	long before = n_enter(SYS_getppid), vfork_exits, exec_enters;
	char *argv[] = { (char *)"true", NULL };
	pid_t pid, me = getpid();
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the child intercepts too: its count goes up by one */
		long b = n_enter(SYS_getppid);

		syscall(SYS_getppid);
		_exit(n_enter(SYS_getppid) == b + 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_wait4]), pid);
	vfork_exits = atomic_load(&exits[SYS_vfork]);
	pid = vfork();
	if (pid == 0) {
		/* SUD on in the child too: a site nothing rewrites is seen */
		long r;

		__asm__ volatile("syscall" : "=a"(r) : "0"(110L) : "rcx", "r11", "memory");
		_exit(r == me ? 3 : 4);
	}
	assert_true(pid > 0);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), pid);
	/* two exits, as in the kernel: the child's (0, under its id: it ran
	 * on this thread's state), then the parent's (the child's id) */
	assert_int_equal(atomic_load(&exits[SYS_vfork]), vfork_exits + 2);
	assert_int_equal(atomic_load(&vfork_exit_tid), pid);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_vfork]), pid);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 3);
	/* the parent's id again */
	syscall(SYS_getppid);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), gettid());
	/* posix_spawn: clone3(CLONE_VM | CLONE_VFORK), the child on a stack of
	 * its own: its exit reported under its id */
	atomic_store(&clone_exit_tid, 0);
	exec_enters = n_enter(SYS_execve);
	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ), 0);
	assert_int_equal(atomic_load(&clone_exit_tid), pid);
	/* and its execve (SUD on there) */
	assert_int_equal(n_enter(SYS_execve), exec_enters + 1);
	assert_int_equal(atomic_load(&last_tid[SYS_execve]), pid);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(n_enter(SYS_getppid), before + 2);
}

/* A site first run in a forked child is rewritten there: the child has a
 * patcher thread of its own (threads do not survive a fork; without it the
 * site would take a signal at every call). */
long syscall_testlib_fork_site(void);

static void test_fork_child_patcher(void **state)
{
	const uint8_t *p = (const uint8_t *)(void *)syscall_testlib_fork_site;
	int status, tries;
	pid_t pid;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	assert_int_equal(p[0], 0xb8); /* mov eax, 110: never run here */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long ppid = (long)getppid(), b = n_enter(SYS_getppid);

		for (tries = 0; p[0] != 0xe9 && tries < 5000; tries++) {
			if (syscall_testlib_fork_site() != ppid)
				_exit(2);
			usleep(1000);
		}
		if (p[0] != 0xe9)
			_exit(3); /* not rewritten */
		/* through the trampoline: still seen */
		b = n_enter(SYS_getppid);
		if (syscall_testlib_fork_site() != ppid || n_enter(SYS_getppid) != b + 1)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(p[0], 0xb8); /* the parent's copy untouched */
}

static atomic_int usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen = (int)syscall(SYS_getppid) == getppid();
}

static atomic_int sigsys_seen;

static void on_sigsys_app(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sigsys_seen = si->si_code;
}

static void test_signals(void **state)
{
	struct sigaction sa, old;
	long rs = n_enter(SYS_rt_sigreturn);
	sigset_t set;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(usr1_seen, 1);
	assert_true(n_enter(SYS_rt_sigreturn) > rs);
	/* blocking every signal never blocks the hook's SIGSYS */
	sigfillset(&set);
	assert_int_equal(sigprocmask(SIG_SETMASK, &set, NULL), 0);
	assert_int_equal(getppid(), syscall(SYS_getppid));
	sigemptyset(&set);
	assert_int_equal(sigprocmask(SIG_SETMASK, &set, NULL), 0);
	/* the program's own SIGSYS handler gets SIGSYS that is not ours */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys_app;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGSYS, &sa, &old), 0);
	assert_int_equal(raise(SIGSYS), 0);
	assert_int_equal(sigsys_seen, SI_TKILL);
	assert_int_equal(sigaction(SIGSYS, &old, NULL), 0);
}

static atomic_int reader_tid;

/* a read of restart_fd by an inline `syscall` (no site to rewrite: the
 * signal path makes it, from the region's raw call) */
static void *restart_reader(void *arg)
{
	long r;
	char c;

	(void)arg;
	atomic_store(&reader_tid, (int)syscall(SYS_gettid));
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_read), "D"((long)atomic_load(&restart_fd)), "S"(&c),
			   "d"(1L)
			 : "rcx", "r11", "memory");
	return (void *)r;
}

/* SA_RESTART over a watched read made on the signal path (SIGSYS, then
 * the region's raw call): the handlers see what the kernel's tracepoints
 * show: enter, exit -ERESTARTSYS, enter again, exit with the byte. */
static void test_restart_signal_path(void **state)
{
	struct sigaction sa, old;
	void *ret = NULL;
	pthread_t th;
	int p[2];

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pipe(p), 0);
	atomic_store(&restart_enters, 0);
	atomic_store(&restart_exits, 0);
	atomic_store(&reader_tid, 0);
	atomic_store(&restart_fd, p[0]);
	atomic_store(&usr1_seen, 0); /* on_usr1 sets it */
	assert_int_equal(pthread_create(&th, NULL, restart_reader, NULL), 0);
	while (!atomic_load(&reader_tid))
		usleep(1000);
	test_wait_blocked(atomic_load(&reader_tid), SYS_read);
	assert_int_equal(pthread_kill(th, SIGUSR1), 0);
	while (!atomic_load(&usr1_seen))
		usleep(1000);
	test_wait_blocked(atomic_load(&reader_tid), SYS_read); /* restarted */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(pthread_join(th, &ret), 0);
	atomic_store(&restart_fd, -1);
	close(p[0]);
	close(p[1]);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	assert_int_equal((long)ret, 1);
	assert_int_equal(atomic_load(&restart_enters), 2);
	assert_int_equal(atomic_load(&restart_exits), 2);
	assert_int_equal(atomic_load(&restart_first_ret), -512); /* -ERESTARTSYS */
}

static void test_override(void **state)
{
	(void)state;
	atomic_store(&override_getppid, 4242);
	assert_int_equal(getppid(), 4242);
	atomic_store(&override_getppid, 0);
	assert_int_equal(getppid(), syscall(SYS_getppid));
	assert_int_not_equal(getppid(), 4242);
}

static void check_regs(const uint64_t *out, uint64_t flags, uint64_t ppid)
{
	assert_int_equal(out[0], ppid);			/* rax */
	assert_int_equal(out[1], 0x1111);		/* rbx */
	assert_int_equal(out[2], out[32]);		/* rcx = rip after syscall */
	assert_int_equal(out[3], 0x4444);		/* rdx */
	assert_int_equal(out[4], 0x3333);		/* rsi */
	assert_int_equal(out[5], 0xcccc);		/* rdi */
	assert_int_equal(out[6], 0x2222);		/* rbp */
	assert_int_equal(out[7], 0x5555);		/* r8 */
	assert_int_equal(out[8], 0x6666);		/* r9 */
	assert_int_equal(out[9], 0x7777);		/* r10 */
	assert_int_equal(out[10] & 0xd5, flags & 0xd5); /* r11 = rflags */
	assert_true(out[10] & 0x200);			/* IF */
	assert_int_equal(out[11], 0x8888);
	assert_int_equal(out[12], 0x9999);
	assert_int_equal(out[13], 0xaaaa);
	assert_int_equal(out[14], 0xbbbb);
	for (int i = 1; i <= 16; i++) /* the red zone */
		assert_int_equal(out[15 + i], (uint64_t)i << 8 | 0x5a);
}

/* A site the hook can prove (an exported function's `mov eax, 110;
 * syscall`) is rewritten after its first trap; through the trampoline the
 * registers, flags and red zone are still what the kernel leaves, the
 * handlers still run, override still works. */
/* where syscall_testlib_regs' `syscall` is in its copy at @fn (or the
 * net's jump or int3 there): right before `mov [rip + testlib_scratch],
 * rdi` */
static const uint8_t *regs_syscall_at(const void *fn)
{
	const uint8_t *p = fn;

	while (!(p[2] == 0x48 && p[3] == 0x89 && p[4] == 0x3d))
		p++;
	return p;
}

static void test_rewritten_site(void **state)
{
	void (*regs)(uint64_t *);
	uint64_t out[34];
	const uint8_t *p;
	uint64_t ppid = (uint64_t)getppid();
	long before;
	void *h;
	int tries;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(h);
	regs = (void (*)(uint64_t *))dlsym(h, "syscall_testlib_regs");
	assert_non_null(regs);
	p = regs_syscall_at((const void *)regs);
	assert_int_equal(p[-5], 0xb8); /* mov eax, 110 */
	for (tries = 0; p[-5] != 0xe9 && tries < 5000; tries++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
		usleep(1000);
	}
	assert_int_equal(p[-5], 0xe9); /* jmp to the trampoline */
	assert_true(bpftime_syscall_hook__rewritten() > 0);
	{
		/* the trampoline calls the warm stub on its own page (one code
		 * page less per call than a stub elsewhere) */
		int32_t rel;
		const uint8_t *t, *c;
		bool own = false;

		memcpy(&rel, p - 4, 4);
		t = p + rel;
		for (c = t; c < t + 200 && !own; c++) {
			int32_t r2;

			memcpy(&r2, c + 1, 4);
			own = c[0] == 0xe8 &&
			      ((uintptr_t)(c + 5 + r2) == ((uintptr_t)t & ~(uintptr_t)4095));
		}
		assert_true(own);
	}
	before = n_enter(SYS_getppid);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), before + 10);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getppid]), getppid());
	/* libc's getppid is such a site too: override through it */
	atomic_store(&override_getppid, 777);
	for (int i = 0; i < 5; i++)
		assert_int_equal(getppid(), 777);
	atomic_store(&override_getppid, 0);
	assert_int_equal(getppid(), syscall(SYS_getppid));
}

/* bpftime_syscall_hook__fast: what the rewritten site's own route hands
 * its functions */
static atomic_long fast_n[3];	      /* calls of fast_fn0/1 (enter), fast_exit_fn */
static uint8_t fast_rec[3][64];	      /* the last record each got */
static uint64_t fast_size[3];	      /* and its size argument */
static atomic_bool fast_nested;	      /* fast_fn0 makes a getppid of its own */
static void (*fast_regs)(uint64_t *); /* through the test library's site */
static long fast_nested_ret;
static __thread uint8_t fast_busy_byte; /* the owner's busy byte */

static void fast_got(int k, const void *rec, uint64_t size)
{
	memcpy(fast_rec[k], rec, k == 2 ? 24 : 64);
	fast_size[k] = size;
	atomic_fetch_add(&fast_n[k], 1);
}

static uint64_t fast_fn0(void *rec, uint64_t size)
{
	fast_got(0, rec, size);
	if (atomic_load(&fast_nested)) { /* the same site, from inside its route */
		uint64_t out[34];

		fast_regs(out);
		fast_nested_ret = (long)out[0];
	}
	return 0;
}

static uint64_t fast_fn1(void *rec, uint64_t size)
{
	fast_got(1, rec, size);
	return 0;
}

static uint64_t fast_exit_fn(void *rec, uint64_t size)
{
	fast_got(2, rec, size);
	return 0;
}

static const struct bpftime_syscall_fast_prog fast_enter_list[] = {
	{ fast_fn0, 0x1234, 16 },
	{ fast_fn1, 0x5678, 64 },
	{ NULL, 0, 0 },
};
static const struct bpftime_syscall_fast_prog fast_exit_list[] = {
	{ fast_exit_fn, 0x4321, 24 },
	{ NULL, 0, 0 },
};
static const struct bpftime_syscall_fast_prog fast_none[] = { { NULL, 0, 0 } };

/* the lists for getppid alone (@enter, @exit; NULL arrays: none) */
static void fast_set(const struct bpftime_syscall_fast_prog *enter,
		     const struct bpftime_syscall_fast_prog *exit)
{
	static const struct bpftime_syscall_fast_prog *e[NR_MAX], *x[NR_MAX];
	intptr_t busy =
		(intptr_t)((uintptr_t)&fast_busy_byte - (uintptr_t)__builtin_thread_pointer());

	e[SYS_getppid] = enter;
	x[SYS_getppid] = exit;
	bpftime_syscall_hook__fast(e, x, NR_MAX, busy);
}

/* the test library's rewritten getppid site (test_rewritten_site's) */
static void (*testlib_regs(void))(uint64_t *)
{
	void *h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	void (*regs)(uint64_t *);

	assert_non_null(h);
	regs = (void (*)(uint64_t *))dlsym(h, "syscall_testlib_regs");
	assert_non_null(regs);
	return regs;
}

/* A rewritten site of a syscall with lists runs them itself: the records
 * (enter: type, tid, nr, the six arguments; exit: the result), the order,
 * the sizes; every register, the flags and the red zone as the kernel
 * leaves them; the handlers not called; a syscall of a function not seen
 * (in a handler); the owner's busy byte, and a side without a list, send
 * the call to the handlers; no lists: the handlers again. */
static void test_fast_route(void **state)
{
	void (*regs)(uint64_t *);
	uint64_t out[34], ppid = (uint64_t)getppid();
	uint64_t args[6] = { 0xcccc, 0x3333, 0x4444, 0x7777, 0x5555, 0x6666 };
	long before, before_x, n0;
	int32_t tid = (int32_t)syscall(SYS_gettid);

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	regs = fast_regs = testlib_regs();
	assert_true(bpftime_syscall_hook__rewritten() > 0); /* test_rewritten_site's */
	fast_set(fast_enter_list, fast_exit_list);
	before = n_enter(SYS_getppid);
	before_x = atomic_load(&exits[SYS_getppid]);
	n0 = atomic_load(&fast_n[0]);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(atomic_load(&fast_n[0]), n0 + 10);
	assert_int_equal(atomic_load(&fast_n[1]), atomic_load(&fast_n[0]));
	assert_int_equal(atomic_load(&fast_n[2]), atomic_load(&fast_n[0]));
	assert_int_equal(n_enter(SYS_getppid), before); /* no handler ran */
	assert_int_equal(atomic_load(&exits[SYS_getppid]), before_x);
	for (int k = 0; k < 3; k++) {
		uint16_t type;
		int32_t pid;
		int64_t nr;

		memcpy(&type, fast_rec[k], 2);
		memcpy(&pid, fast_rec[k] + 4, 4);
		memcpy(&nr, fast_rec[k] + 8, 8);
		assert_int_equal(type, k == 0 ? 0x1234 : k == 1 ? 0x5678 : 0x4321);
		assert_int_equal(fast_rec[k][2] | fast_rec[k][3], 0); /* flags, preempt_count */
		assert_int_equal(pid, tid);
		assert_int_equal(nr, SYS_getppid);
		if (k < 2) {
			assert_memory_equal(fast_rec[k] + 16, args, sizeof(args));
		} else {
			int64_t ret;

			memcpy(&ret, fast_rec[k] + 16, 8);
			assert_int_equal(ret, (int64_t)ppid);
		}
	}
	assert_int_equal(fast_size[0], 16);
	assert_int_equal(fast_size[1], 64);
	assert_int_equal(fast_size[2], 24);
	/* a syscall made by a function: made, not seen */
	atomic_store(&fast_nested, true);
	n0 = atomic_load(&fast_n[0]);
	regs(out);
	check_regs(out, out[33], ppid);
	atomic_store(&fast_nested, false);
	assert_int_equal(fast_nested_ret, (long)ppid);
	assert_int_equal(atomic_load(&fast_n[0]), n0 + 1);
	assert_int_equal(n_enter(SYS_getppid), before);
	/* the owner busy: the handlers (which the owner's own check skips) */
	fast_busy_byte = 1;
	regs(out);
	check_regs(out, out[33], ppid);
	fast_busy_byte = 0;
	assert_int_equal(atomic_load(&fast_n[0]), n0 + 1);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	/* an empty enter list: the exit list alone */
	fast_set(fast_none, fast_exit_list);
	n0 = atomic_load(&fast_n[2]);
	memset(fast_rec[2], 0, sizeof(fast_rec[2]));
	regs(out);
	check_regs(out, out[33], ppid);
	assert_int_equal(atomic_load(&fast_n[2]), n0 + 1);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	{ /* the exit record whole without an enter list too */
		uint16_t type;
		int32_t pid;
		int64_t nr, ret;

		memcpy(&type, fast_rec[2], 2);
		memcpy(&pid, fast_rec[2] + 4, 4);
		memcpy(&nr, fast_rec[2] + 8, 8);
		memcpy(&ret, fast_rec[2] + 16, 8);
		assert_int_equal(type, 0x4321);
		assert_int_equal(fast_rec[2][2] | fast_rec[2][3], 0);
		assert_int_equal(pid, tid);
		assert_int_equal(nr, SYS_getppid);
		assert_int_equal(ret, (int64_t)ppid);
	}
	/* an empty exit list: the route's path without one, registers whole */
	fast_set(fast_enter_list, fast_none);
	n0 = atomic_load(&fast_n[0]);
	for (int i = 0; i < 3; i++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(atomic_load(&fast_n[0]), n0 + 3);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	/* the exit side without a list (a program that needs the handlers):
	 * the whole call through them */
	fast_set(fast_enter_list, NULL);
	n0 = atomic_load(&fast_n[0]);
	regs(out);
	check_regs(out, out[33], ppid);
	assert_int_equal(atomic_load(&fast_n[0]), n0);
	assert_int_equal(n_enter(SYS_getppid), before + 2);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), before_x + 2);
	/* no lists: the handlers */
	bpftime_syscall_hook__fast(NULL, NULL, 0, 0);
	regs(out);
	assert_int_equal(n_enter(SYS_getppid), before + 3);
	assert_int_equal(atomic_load(&fast_n[0]), n0);
}

/* The flags through a fast route, as the kernel leaves them: each of CF PF
 * AF ZF SF OF set alone, all of them, none, in rflags right after the
 * site and in r11, with an exit list and without one (the route restores
 * them without popfq: sahf and an add for OF); DF set sends the call to
 * the handlers (the functions want it clear), flags intact too.  For the
 * test library's site and for the same function linked into this
 * executable, whose trampoline is on a page near it, far from the region
 * (its fast route goes back and to the full route by absolute jumps). */
void syscall_testlib_flags(uint64_t in, uint64_t *out);

static void fast_flags_at(void (*flags_fn)(uint64_t, uint64_t *), const char *what)
{
	static const uint64_t arith[] = { 0, 0x1, 0x4, 0x10, 0x40, 0x80, 0x800, 0x8d5 };
	const struct bpftime_syscall_fast_prog *exits_[2] = { fast_exit_list, fast_none };
	const size_t n_arith = sizeof(arith) / sizeof(arith[0]);
	const uint8_t *p;

	for (p = (const uint8_t *)(void *)flags_fn; p[0] != 0xb8 || p[1] != 110; p++)
		assert_true(p < (const uint8_t *)(void *)flags_fn + 32);
	fast_set(fast_enter_list, fast_exit_list);
	/* its first call traps; the patcher takes it (at most 5 s) */
	for (int i = 0; i < 5000 && *(const volatile uint8_t *)p != 0xe9; i++) {
		uint64_t out[3];

		flags_fn(0x202, out);
		usleep(1000);
	}
	if (*(const volatile uint8_t *)p != 0xe9)
		fail_msg("%s: syscall_testlib_flags' site was not rewritten", what);
	for (int side = 0; side < 2; side++) {
		fast_set(fast_enter_list, exits_[side]);
		for (size_t i = 0; i < 2 * n_arith; i++) {
			uint64_t df = i >= n_arith ? 0x400 : 0;
			uint64_t in = 0x202 | df | arith[i % n_arith];
			long n0 = atomic_load(&fast_n[0]), e0 = n_enter(SYS_getppid);
			uint64_t out[3] = { 0 };

			flags_fn(in, out);
			assert_int_equal(out[0] & 0xcd5, in & 0xcd5);
			if ((out[1] & 0xcd5) != (in & 0xcd5) || (out[2] & 0xcd5) != (in & 0xcd5))
				fail_msg("%s, %s exit list: flags %#lx in, %#lx after the site, "
					 "r11 %#lx",
					 what, side ? "no" : "an", (unsigned long)in,
					 (unsigned long)out[1], (unsigned long)out[2]);
			/* the fast route ran, or (DF) the handlers */
			if (atomic_load(&fast_n[0]) != n0 + !df ||
			    n_enter(SYS_getppid) != e0 + !!df)
				fail_msg("%s, flags %#lx: %ld fast, %ld handler enter(s)", what,
					 (unsigned long)in, atomic_load(&fast_n[0]) - n0,
					 n_enter(SYS_getppid) - e0);
		}
	}
	bpftime_syscall_hook__fast(NULL, NULL, 0, 0);
}

static void test_fast_flags(void **state)
{
	void *h;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(h);
	fast_flags_at((void (*)(uint64_t, uint64_t *))dlsym(h, "syscall_testlib_flags"),
		      "the test library");
	fast_flags_at(syscall_testlib_flags, "this executable (a far site)");
}

/* Lists longer than the runner's own calls (RUN_UNROLL, 4), on both
 * sides: every entry runs once, in order, with its own type, size and
 * record (enter: the arguments; exit: the result); the registers whole. */
static uint16_t seq_type[16];
static uint64_t seq_size[16], seq_word[16];
static int seq_n;

static uint64_t fast_seq_fn(void *rec, uint64_t size)
{
	if (seq_n < 16) {
		memcpy(&seq_type[seq_n], rec, 2);
		memcpy(&seq_word[seq_n], (uint8_t *)rec + 16, 8); /* args[0], or the result */
		seq_size[seq_n++] = size;
	}
	return 0;
}

static void test_fast_long_lists(void **state)
{
	static const struct bpftime_syscall_fast_prog enter7[] = {
		{ fast_seq_fn, 0x101, 64 }, { fast_seq_fn, 0x102, 63 },
		{ fast_seq_fn, 0x103, 62 }, { fast_seq_fn, 0x104, 61 },
		{ fast_seq_fn, 0x105, 60 }, { fast_seq_fn, 0x106, 59 },
		{ fast_seq_fn, 0x107, 58 }, { NULL, 0, 0 },
	};
	static const struct bpftime_syscall_fast_prog exit6[] = {
		{ fast_seq_fn, 0x201, 24 },
		{ fast_seq_fn, 0x202, 23 },
		{ fast_seq_fn, 0x203, 22 },
		{ fast_seq_fn, 0x204, 21 },
		{ fast_seq_fn, 0x205, 20 },
		{ fast_seq_fn, 0x206, 19 },
		{ NULL, 0, 0 },
	};
	void (*regs)(uint64_t *);
	uint64_t out[34], ppid = (uint64_t)getppid();
	long before;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	regs = testlib_regs();
	before = n_enter(SYS_getppid);
	for (int side = 0; side < 2; side++) {
		fast_set(enter7, side ? fast_none : exit6);
		for (int i = 0; i < 3; i++) {
			seq_n = 0;
			memset(out, 0, sizeof(out));
			regs(out);
			check_regs(out, out[33], ppid);
			assert_int_equal(seq_n, side ? 7 : 13);
			for (int k = 0; k < seq_n; k++) {
				bool x = k >= 7;

				assert_int_equal(seq_type[k], x ? 0x201 + k - 7 : 0x101 + k);
				assert_int_equal(seq_size[k], x ? 24 - (k - 7) : 64 - k);
				/* regs() passes 0xcccc as getppid's first argument */
				assert_int_equal(seq_word[k], x ? ppid : 0xcccc);
			}
		}
	}
	assert_int_equal(n_enter(SYS_getppid), before); /* no handler ran */
	bpftime_syscall_hook__fast(NULL, NULL, 0, 0);
}

/* After a thread without a TLS of its own was made (test_bare_clone_thread)
 * the fast routes stay closed: such a thread would run them on its
 * parent's thread state.  The handlers run instead. */
static void test_fast_after_bare(void **state)
{
	void (*regs)(uint64_t *);
	uint64_t out[34], ppid = (uint64_t)getppid();
	long before, n0;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	assert_true(bpftime_syscall_hook__bare_threads() > 0); /* test_bare_clone_thread's */
	regs = testlib_regs();
	fast_set(fast_enter_list, fast_exit_list);
	before = n_enter(SYS_getppid);
	n0 = atomic_load(&fast_n[0]);
	for (int i = 0; i < 5; i++) {
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), before + 5);
	assert_int_equal(atomic_load(&fast_n[0]), n0);
	bpftime_syscall_hook__fast(NULL, NULL, 0, 0);
}

/* The same function linked into this executable: its site is more than
 * 2 GiB from the hook's region (next to libc), so its trampoline is on a
 * page of its own near the site, and calls the warm stub and the region's
 * gadget by absolute address.  Rewritten by the patcher, which works while
 * the net is on. */
void syscall_testlib_regs(uint64_t *out);

static void test_rewritten_far_site(void **state)
{
	const uint8_t *p = (const uint8_t *)(void *)syscall_testlib_regs;
	uint64_t out[34], ppid = (uint64_t)getppid();
	uintptr_t tramp;
	int32_t rel;
	long before;
	Dl_info libc;
	int tries;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	if (bpftime_syscall_hook__net(NULL, 0) == 0)
		TEST_SKIP(
			"the net is off: the executable's sites are the scan's, not the patcher's");
	p = regs_syscall_at((const void *)p);
	assert_int_equal(p[-5], 0xb8); /* mov eax, 110 */
	for (tries = 0; p[-5] != 0xe9 && tries < 5000; tries++) {
		memset(out, 0, sizeof(out));
		syscall_testlib_regs(out);
		check_regs(out, out[33], ppid);
		usleep(1000);
	}
	assert_int_equal(p[-5], 0xe9);
	memcpy(&rel, p - 4, 4);
	tramp = (uintptr_t)p + (uintptr_t)(intptr_t)rel;
	assert_true(dladdr((void *)(uintptr_t)getppid, &libc) && libc.dli_fbase);
	print_message("far site %p: trampoline %#lx, libc at %p\n", (const void *)p,
		      (unsigned long)tramp, libc.dli_fbase);
	before = n_enter(SYS_getppid);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		syscall_testlib_regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), before + 10);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_getppid]), (long)ppid);
}

/* A thread made by a raw clone(CLONE_VM) without CLONE_SETTLS (as
 * LeakSanitizer's tracer at exit) runs on this thread's TLS: no handler
 * runs on it (attach/syscall.c), neither for its own syscall instruction
 * (SUD stays off there) nor through a rewritten site, and this thread's
 * handler guard is left intact (it was shared, and a race on it lost this
 * thread's events: bpftrace_test raw_syscalls_args in the ASan build). */
static void (*bare_regs)(uint64_t *);
static atomic_long bare_ppid;

static int bare_fn(void *arg)
{
	uint64_t out[34];

	(void)arg;
	for (int i = 0; i < 10; i++) {
		bare_regs(out); /* the rewritten site of the test library */
		atomic_store(&bare_ppid, (long)out[0]);
	}
	for (int i = 0; i < 10; i++)
		atomic_store(&bare_ppid, syscall(SYS_getppid));
	return 0;
}

static void test_bare_clone_thread(void **state)
{
	const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
			  CLONE_SYSVSEM | CLONE_CHILD_CLEARTID;
	size_t stack_size = 256 * 1024;
	uint64_t out[34];
	_Atomic pid_t ctid = 1;
	long ppid = getppid(), before, before_x;
	int bare0;
	void *h, *stack;
	pid_t tid;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(h);
	bare_regs = (void (*)(uint64_t *))dlsym(h, "syscall_testlib_regs");
	assert_non_null(bare_regs);
	assert_true(bpftime_syscall_hook__rewritten() > 0); /* test_rewritten_site's */
	stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(stack != MAP_FAILED);
	bare0 = bpftime_syscall_hook__bare_threads();
	before = n_enter(SYS_getppid);
	before_x = atomic_load(&exits[SYS_getppid]);
	tid = clone(bare_fn, (char *)stack + stack_size, flags, NULL, NULL, NULL, &ctid);
	assert_true(tid > 0);
	while (atomic_load(&ctid)) /* the kernel clears it when the thread ends */
		syscall(SYS_futex, &ctid, FUTEX_WAIT, atomic_load(&ctid), NULL, NULL, 0);
	munmap(stack, stack_size);
	assert_int_equal(atomic_load(&bare_ppid), ppid);
	assert_int_equal(bpftime_syscall_hook__bare_threads(), bare0 + 1);
	/* its 20 getppid ran natively: none seen */
	assert_int_equal(n_enter(SYS_getppid), before);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), before_x);
	/* this thread's are, through the same site */
	for (int i = 0; i < 5; i++)
		bare_regs(out);
	assert_int_equal(n_enter(SYS_getppid), before + 5);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), before_x + 5);
}

/* With a watch table that leaves getppid out, its rewritten sites take the
 * direct route (the call from the region, nothing saved, no handler): the
 * registers, flags and red zone are still the kernel's, and no handler
 * runs; a watched syscall still runs them; watching all again restores
 * the full route. */
static void test_unwatched_direct(void **state)
{
	void (*regs)(uint64_t *);
	uint8_t want[SYS_gettid + 1] = { 0 };
	uint64_t out[34];
	uint64_t ppid = (uint64_t)getppid();
	long before, pid_before;
	void *h;

	(void)state;
	if (!bpftime_syscall_hook__rewritten())
		TEST_SKIP("no rewritten site (BPFTIME_SYSCALL_REWRITE=0)");
	h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(h);
	regs = (void (*)(uint64_t *))dlsym(h, "syscall_testlib_regs");
	assert_non_null(regs);
	long pid_exits, tid_enters, tid_exits;

	want[SYS_getpid] = BPFTIME_SYSCALL_WATCH_ENTER;
	want[SYS_gettid] = BPFTIME_SYSCALL_WATCH_EXIT;
	bpftime_syscall_hook__watch(want, sizeof(want));
	before = n_enter(SYS_getppid);
	pid_before = n_enter(SYS_getpid);
	pid_exits = atomic_load(&exits[SYS_getpid]);
	tid_enters = n_enter(SYS_gettid);
	tid_exits = atomic_load(&exits[SYS_gettid]);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(getppid(), (pid_t)ppid);	    /* libc's rewritten site too */
	assert_int_equal(syscall(SYS_getppid), (long)ppid); /* a trap: no handler either */
	assert_int_equal(n_enter(SYS_getppid), before);
	assert_int_equal(syscall(SYS_getpid), getpid());
	assert_int_equal(n_enter(SYS_getpid), pid_before + 2);
	assert_int_equal(atomic_load(&exits[SYS_getpid]), pid_exits); /* enter only */
	assert_int_equal(syscall(SYS_gettid), gettid());
	assert_int_equal(n_enter(SYS_gettid), tid_enters); /* exit only */
	assert_int_equal(atomic_load(&exits[SYS_gettid]), tid_exits + 2);
	/* enter only: the handler runs, then the trampoline makes the call
	 * itself on the way out (no exit handler) */
	want[SYS_getppid] = BPFTIME_SYSCALL_WATCH_ENTER;
	bpftime_syscall_hook__watch(want, sizeof(want));
	pid_exits = atomic_load(&exits[SYS_getppid]);
	for (int i = 0; i < 10; i++) {
		memset(out, 0, sizeof(out));
		regs(out);
		check_regs(out, out[33], ppid);
	}
	assert_int_equal(n_enter(SYS_getppid), before + 10);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), pid_exits);
	atomic_store(&override_getppid, 4343); /* an override still skips it */
	assert_int_equal(getppid(), 4343);
	atomic_store(&override_getppid, 0);
	assert_int_equal(getppid(), (pid_t)ppid);
	bpftime_syscall_hook__watch(NULL, 0);
	regs(out);
	check_regs(out, out[33], ppid);
	assert_int_equal(n_enter(SYS_getppid), before + 13);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), pid_exits + 1);
	dlclose(h);
}

/* glibc's syscall() (`mov r9, [rsp + 8]; syscall`: any number) is
 * rewritten too: results, errors, counts, exits, override and the watch
 * table through it; a number that needs the signal path (rt_sigprocmask)
 * still takes it (SIGSYS stays deliverable). */
static void test_syscall_wrapper(void **state)
{
	const uint8_t *p = (const uint8_t *)dlsym(RTLD_DEFAULT, "syscall");
	uint8_t want[SYS_getpid + 1] = { 0 };
	long ppid = getppid(), before, xb, sb;
	sigset_t set, cur;
	int i;

	(void)state;
	if (getenv("BPFTIME_SYSCALL_REWRITE") && !strcmp(getenv("BPFTIME_SYSCALL_REWRITE"), "0"))
		TEST_SKIP("BPFTIME_SYSCALL_REWRITE=0: no rewritten sites");
	assert_non_null(p);
	for (i = 0; i < 96 && memcmp(p + i, "\x4c\x8b\x4c\x24\x08\x0f\x05", 7) &&
		    !(p[i] == 0xe9 && p[i + 5] == 0x0f && p[i + 6] == 0x05);
	     i++)
		;
	if (i == 96)
		TEST_SKIP("this libc's syscall() has another shape");
	p += i;
	for (int tries = 0; p[0] != 0xe9 && tries < 5000; tries++) {
		assert_int_equal(syscall(SYS_getppid), ppid);
		usleep(1000);
	}
	assert_int_equal(p[0], 0xe9);
	before = n_enter(SYS_getppid);
	xb = atomic_load(&exits[SYS_getppid]);
	for (i = 0; i < 10; i++)
		assert_int_equal(syscall(SYS_getppid), ppid);
	assert_int_equal(n_enter(SYS_getppid), before + 10);
	assert_int_equal(atomic_load(&exits[SYS_getppid]), xb + 10);
	assert_int_equal(syscall(SYS_close, -1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(atomic_load(&last_exit_ret[SYS_close]), -EBADF);
	atomic_store(&override_getppid, 5151);
	assert_int_equal(syscall(SYS_getppid), 5151);
	atomic_store(&override_getppid, 0);
	/* special: made by the site's own syscall under SUD */
	sb = n_enter(SYS_rt_sigprocmask);
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	assert_int_equal(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 8), 0);
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &cur), 0);
	assert_false(sigismember(&cur, SIGSYS));
	assert_true(n_enter(SYS_rt_sigprocmask) >= sb + 2);
	/* unwatched: no handler */
	want[SYS_getpid] = BPFTIME_SYSCALL_WATCH_ENTER;
	bpftime_syscall_hook__watch(want, sizeof(want));
	before = n_enter(SYS_getppid);
	assert_int_equal(syscall(SYS_getppid), ppid);
	assert_int_equal(n_enter(SYS_getppid), before);
	bpftime_syscall_hook__watch(NULL, 0);
	assert_int_equal(syscall(SYS_getppid), ppid);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
}

static void test_pause(void **state)
{
	long before;

	(void)state;
	bpftime_syscall_hook__pause();
	before = n_enter(SYS_getppid);
	getppid();
	assert_int_equal(n_enter(SYS_getppid), before);
	assert_int_equal(bpftime_syscall_hook__start(on_enter, on_exit_, NULL), 0);
	getppid();
	assert_int_equal(n_enter(SYS_getppid), before + 1);
}

static pthread_barrier_t off_go, off_done;
static atomic_int off_tid;

/* a thread created while the hook is off: no stub turned SUD on in it */
static void *off_thread(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&off_go);
	off_tid = (int)syscall(SYS_gettid);
	syscall(SYS_getppid);
	pthread_barrier_wait(&off_done);
	return NULL;
}

/* The Syscall User Dispatch mode of thread @tid (0 off, 1 on), read by a
 * child through ptrace (PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG, Linux
 * 6.6); -1 when it cannot be read. */
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
			    waitpid(tid, &st, __WALL) == tid &&
			    ptrace((enum __ptrace_request)0x4211 /* GET_SYSCALL_USER_DISPATCH_CONFIG */
				   ,
				   tid, (void *)sizeof(cfg), &cfg) == 0)
				r = (int)cfg.mode;
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

/* the testlib's rewritable site: its `mov eax, 110` (or the jmp over it) */
static const uint8_t *testlib_site(void **h)
{
	const uint8_t *p;

	*h = dlopen(SYSCALL_TESTLIB, RTLD_NOW);
	assert_non_null(*h);
	p = (const uint8_t *)dlsym(*h, "syscall_testlib_regs");
	assert_non_null(p);
	return regs_syscall_at(p) - 5;
}

/* (a read can fail transiently, e.g. while the thread is stopping for
 * another signal: tried a few times) */
static int sud_mode(pid_t tid)
{
	int r = -1;

	for (int i = 0; i < 5 && r < 0; i++)
		r = sud_mode_once(tid);
	return r;
}

/* Off: SUD goes off in every thread (nothing intercepted, from an asm site
 * either) and rewritten sites get their own bytes back: nothing is left;
 * start again turns it on in every thread, also in one created while it
 * was off, and puts the jmps back. */
static void test_off_and_on(void **state)
{
	uint64_t out[34];
	pthread_t th;
	long before;
	int mode;
	bool rewritten = bpftime_syscall_hook__rewritten() > 0;
	const uint8_t *site;
	void *h;

	(void)state;
	site = testlib_site(&h);
	if (rewritten)
		assert_int_equal(site[0], 0xe9);
	/* SUD on, unless the net is off (then nothing is on the kernel's side) */
	mode = sud_mode(getpid());
	if (mode >= 0)
		assert_true(mode == 1 || bpftime_syscall_hook__net(NULL, 0) == 0);
	assert_int_equal(bpftime_syscall_hook__off(), 0);
	if (mode >= 0)
		assert_int_equal(sud_mode(getpid()), 0); /* no kernel-side cost left */
	assert_int_equal(site[0], 0xb8);		 /* the site's own mov */
	before = n_enter(SYS_getppid);
	regs_syscall(out);
	assert_int_equal(out[0], getppid());
	assert_int_equal(n_enter(SYS_getppid), before);
	pthread_barrier_init(&off_go, NULL, 2);
	pthread_barrier_init(&off_done, NULL, 2);
	assert_int_equal(pthread_create(&th, NULL, off_thread, NULL), 0);
	assert_int_equal(bpftime_syscall_hook__start(on_enter, on_exit_, NULL), 0);
	if (mode >= 0) /* (the net may be off again already) */
		assert_true(sud_mode(getpid()) == 1 || bpftime_syscall_hook__net(NULL, 0) == 0);
	if (rewritten)
		assert_int_equal(site[0], 0xe9);
	regs_syscall(out);
	assert_int_equal(n_enter(SYS_getppid), before + 1);
	pthread_barrier_wait(&off_go);
	pthread_barrier_wait(&off_done);
	pthread_join(th, NULL);
	assert_int_equal(n_enter(SYS_getppid), before + 2);
	assert_int_equal(atomic_load(&last_tid[SYS_getppid]), off_tid);
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_asm_registers),
		cmocka_unit_test(test_libc_and_exit),
		cmocka_unit_test(test_dlopen),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_early_thread_seen),
		cmocka_unit_test(test_fork_vfork_spawn),
		cmocka_unit_test(test_fork_child_patcher),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_restart_signal_path),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_rewritten_site),
		cmocka_unit_test(test_rewritten_far_site),
		cmocka_unit_test(test_fast_route),
		cmocka_unit_test(test_fast_flags),
		cmocka_unit_test(test_fast_long_lists),
		cmocka_unit_test(test_bare_clone_thread),
		cmocka_unit_test(test_fast_after_bare),
		cmocka_unit_test(test_unwatched_direct),
		cmocka_unit_test(test_syscall_wrapper),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_off_and_on),
		cmocka_unit_test(test_jit), /* last: its code keeps the net on */
	};

	return TEST_RUN(tests, group_setup, NULL);
}
