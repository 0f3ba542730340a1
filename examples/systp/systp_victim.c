/* SPDX-License-Identifier: MIT */
/* examples/systp/systp_victim.c: a deterministic victim for the syscall
 * tracepoint examples (its name, "systp_victim", is what they filter on).
 *
 *   systp_victim open TMP_PATH END_PATH   openat from libc, a new thread,
 *                                         hand-written asm and a posix_spawn
 *                                         child before its exec (/dev/full);
 *                                         END_PATH.begin first, END_PATH last
 *   systp_victim open-wait TMP END        the same after a line on stdin
 *                                         (prints "pid N" and "waiting" first);
 *                                         each "probe" line before opens END.probe
 *   systp_victim signals                  kill/tkill/tgkill with known results;
 *                                         SIGWINCH last
 *   systp_victim count                    getpgrp x7, getsid x5, close(-1) x3
 *   systp_victim write                    10 writes to fd 100 (/dev/null)
 *   systp_victim restart                  a thread's read of fd 50 (a pipe)
 *                                         interrupted by a SIGUSR1 handler
 *                                         with SA_RESTART: the read restarts,
 *                                         then gets one byte
 * Prints what it did on stdout, "victim: done" last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void *open_thread(void *arg)
{
	int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	(void)arg;
	printf("thread: open /dev/zero = %s\n", fd >= 0 ? "fd" : strerror(errno));
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* posix_spawn of /bin/true whose child opens @path (a file action) before
 * its exec: a vfork-like child on this process's memory */
static void spawn_open(const char *path)
{
	char *argv[] = { (char *)"true", NULL };
	posix_spawn_file_actions_t fa;
	int r, status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 9, path, O_RDONLY, 0);
	r = posix_spawn(&pid, "/bin/true", &fa, NULL, argv, environ);
	if (!r && waitpid(pid, &status, 0) != pid)
		r = errno;
	posix_spawn_file_actions_destroy(&fa);
	printf("posix_spawn /bin/true, open %s in the child = %s\n", path, r ? strerror(r) : "ok");
}

static long asm_openat(const char *path, long flags)
{
	register long r10 __asm__("r10") = 0;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_openat), "D"((long)AT_FDCWD), "S"(path), "d"(flags),
			   "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

static int do_open(const char *tmp, const char *end)
{
	char begin[4096];
	pthread_t th;
	long r;
	int fd;

	snprintf(begin, sizeof(begin), "%s.begin", end);
	fd = open(begin, O_RDONLY);
	printf("open %s = %d\n", begin, fd);
	fd = open("/dev/null", O_RDONLY);
	printf("open /dev/null = %s\n", fd >= 0 ? "fd" : strerror(errno));
	close(fd);
	fd = open("/nonexistent-bpftime/x", O_RDONLY);
	printf("open /nonexistent-bpftime/x = %d (%s)\n", fd, strerror(errno));
	fd = openat(AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	printf("openat %s = %s\n", tmp, fd >= 0 ? "fd" : strerror(errno));
	close(fd);
	unlink(tmp);
	pthread_create(&th, NULL, open_thread, NULL);
	pthread_join(th, NULL);
	r = asm_openat("/proc/self/stat", O_RDONLY);
	printf("asm openat /proc/self/stat = %s\n", r >= 0 ? "fd" : strerror((int)-r));
	if (r >= 0)
		close((int)r);
	spawn_open("/dev/full");
	fd = open(end, O_RDONLY);
	printf("open %s = %d\n", end, fd);
	return 0;
}

static volatile sig_atomic_t got;

static void on_sig(int sig)
{
	got += sig;
}

static int do_signals(void)
{
	pid_t child, self = getpid();
	pid_t tid = (pid_t)syscall(SYS_gettid);

	signal(SIGUSR1, on_sig);
	signal(SIGUSR2, on_sig);
	signal(SIGWINCH, on_sig);
	printf("kill self 0 = %d\n", kill(self, 0));
	child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	printf("kill reaped child = %d (%s)\n", kill(child, SIGTERM), strerror(errno));
	printf("tgkill self SIGUSR1 = %ld\n", syscall(SYS_tgkill, self, tid, SIGUSR1));
	printf("tkill self SIGUSR2 = %ld\n", syscall(SYS_tkill, tid, SIGUSR2));
	printf("kill self 65 = %d (%s)\n", kill(self, 65), strerror(errno));
	printf("kill self SIGWINCH = %d\n", kill(self, SIGWINCH));
	printf("handlers got %d\n", (int)got);
	return 0;
}

static volatile sig_atomic_t usr1_handled;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_handled++;
}

static volatile pid_t reader_tid;

static void *restart_reader(void *arg)
{
	char c;

	(void)arg;
	reader_tid = (pid_t)syscall(SYS_gettid);
	return (void *)(intptr_t)read(50, &c, 1);
}

/* the thread @tid is blocked in read (syscall 0), within 5 s */
static int blocked_in_read(pid_t tid)
{
	char path[64], buf[64] = "";

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");

		if (f) {
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = 0;
			fclose(f);
		}
		if (!strncmp(buf, "0 ", 2))
			return 1;
		usleep(1000);
	}
	return 0;
}

static int do_restart(void)
{
	struct sigaction sa;
	pthread_t th;
	void *ret = NULL;
	int p[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	if (pipe(p) || dup2(p[0], 50) != 50 || sigaction(SIGUSR1, &sa, NULL) ||
	    pthread_create(&th, NULL, restart_reader, NULL))
		return 1;
	while (!reader_tid)
		usleep(1000);
	if (!blocked_in_read(reader_tid))
		return 1;
	pthread_kill(th, SIGUSR1);
	while (!usr1_handled)
		usleep(1000);
	if (!blocked_in_read(reader_tid)) /* restarted */
		return 1;
	if (write(p[1], "x", 1) != 1)
		return 1;
	pthread_join(th, &ret);
	printf("restart: read = %ld after SIGUSR1\n", (long)(intptr_t)ret);
	return (intptr_t)ret == 1 ? 0 : 1;
}

static int do_count(void)
{
	/* calls the sanitizers' runtime never makes (LeakSanitizer uses
	 * getppid and sched_yield at exit) */
	for (int i = 0; i < 7; i++)
		syscall(SYS_getpgrp);
	for (int i = 0; i < 5; i++)
		getsid(0);
	for (int i = 0; i < 3; i++)
		close(-1);
	printf("getpgrp 7, getsid 5, close(-1) 3\n");
	return 0;
}

static int do_write(void)
{
	int fd = open("/dev/null", O_WRONLY), ok = 0, failed = 0, err = 0;

	if (fd < 0 || dup2(fd, 100) != 100)
		return perror("systp_victim: /dev/null"), 1;
	close(fd);
	for (int i = 0; i < 10; i++) {
		if (write(100, "x", 1) == 1) {
			ok++;
		} else {
			failed++;
			err = errno;
		}
	}
	printf("write: %d ok, %d failed (%s)\n", ok, failed, failed ? strerror(err) : "-");
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 3 && !strcmp(argv[1], "open")) {
		r = do_open(argv[2], argv[3]);
	} else if (argc > 3 && !strcmp(argv[1], "open-wait")) {
		char line[64];

		char probe[4096];

		snprintf(probe, sizeof(probe), "%s.probe", argv[3]);
		printf("pid %d\nwaiting\n", (int)getpid());
		while (fgets(line, sizeof(line), stdin) && !strcmp(line, "probe\n")) {
			int fd = open(probe, O_RDONLY);

			printf("probed %d\n", fd);
		}
		r = do_open(argv[2], argv[3]);
	} else if (argc > 1 && !strcmp(argv[1], "signals"))
		r = do_signals();
	else if (argc > 1 && !strcmp(argv[1], "count"))
		r = do_count();
	else if (argc > 1 && !strcmp(argv[1], "write"))
		r = do_write();
	else if (argc > 1 && !strcmp(argv[1], "restart"))
		r = do_restart();
	else
		fprintf(stderr,
			"usage: systp_victim open TMP END | signals | count | write | restart\n");
	if (!r)
		printf("victim: done\n");
	return r;
}
