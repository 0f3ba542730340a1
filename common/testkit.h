/* SPDX-License-Identifier: MIT */
/* common/testkit.h: what the cmocka tests of every directory share (test
 * code only).
 *
 * Skips are skips.  cmocka's skip() ends a case without failing it, and a
 * run whose cases all skipped would still exit 0, which CTest shows as
 * "Passed" for a test that tested nothing.  TEST_SKIP() says why, counts the
 * skip and skips the case; TEST_RUN() runs the group and exits with
 * TEST_SKIP_CODE when every case skipped, which CTest reports as "Skipped"
 * (every test has SKIP_RETURN_CODE 77, cmake/bpftime.cmake).  A test that
 * knows up front that it cannot run calls TEST_SKIP_ALL().
 *
 * Include it after <cmocka.h>.
 */
#ifndef BPFTIME_COMMON_TESTKIT_H
#define BPFTIME_COMMON_TESTKIT_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <malloc.h>
#include "common/alloc.h"

#define TEST_SKIP_CODE 77

/* cases skipped in this process (weak: one counter however many files of
 * the test include this header) */
__attribute__((weak)) size_t testkit_skipped;

#define TEST_SKIP(...)               \
	do {                         \
		printf("skipped: "); \
		printf(__VA_ARGS__); \
		printf("\n");        \
		fflush(stdout);      \
		testkit_skipped++;   \
		skip();              \
	} while (0)

/* the whole test cannot run here: says why and exits with the skip code */
__attribute__((format(printf, 1, 2), noreturn)) static inline void TEST_SKIP_ALL(const char *fmt,
										 ...)
{
	va_list ap;

	printf("skipped: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(TEST_SKIP_CODE);
}

static inline int testkit_exit(int failed, size_t cases)
{
	if (!failed && cases && testkit_skipped >= cases)
		return TEST_SKIP_CODE;
	return failed;
}

/* cmocka_run_group_tests() whose exit status says "skipped" when every
 * case skipped */
#define TEST_RUN(tests, setup, teardown)                             \
	testkit_exit(cmocka_run_group_tests(tests, setup, teardown), \
		     sizeof(tests) / sizeof((tests)[0]))

/* ---- children of multi-process tests -------------------------------------
 * test_fork() records every child, and the child dies with the test process;
 * test_reap() forgets a child once reaped; test_kill_kids(), from a cmocka
 * teardown (which runs after a failed assertion too), kills and reaps the
 * children the test left. */
#define TESTKIT_MAX_KIDS 16

__attribute__((weak)) pid_t testkit_kids[TESTKIT_MAX_KIDS];

static inline pid_t test_fork(void)
{
	pid_t parent = getpid(), pid;
	size_t slot;

	for (slot = 0; slot < TESTKIT_MAX_KIDS && testkit_kids[slot]; slot++)
		;
	assert_true(slot < TESTKIT_MAX_KIDS);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		return 0;
	}
	testkit_kids[slot] = pid;
	return pid;
}

/* waitpid() that forgets the child once it is reaped */
static inline pid_t test_reap(pid_t pid, int *status)
{
	pid_t w;

	while ((w = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	for (size_t i = 0; w > 0 && i < TESTKIT_MAX_KIDS; i++)
		if (testkit_kids[i] == w)
			testkit_kids[i] = 0;
	return w;
}

/* Runs @fn(@arg) in a child of its own (test_fork) and checks how it
 * ended: exit 0 passes, TEST_SKIP_CODE skips saying @skip_why, anything
 * else fails; with @alarm_s a child still running after that many seconds
 * is stopped by SIGALRM (a hang fails: a safety net, never a measurement) */
static inline void test_in_child(int (*fn)(void *), void *arg, unsigned int alarm_s,
				 const char *skip_why)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = test_fork();
	if (!pid) {
		if (alarm_s)
			alarm(alarm_s);
		_exit(fn(arg));
	}
	assert_int_equal(test_reap(pid, &status), pid);
	if (WIFSIGNALED(status))
		fail_msg("the child died of signal %d%s", WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? " (SIGALRM: it hung)" : "");
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == TEST_SKIP_CODE)
		TEST_SKIP("%s", skip_why);
	assert_int_equal(WEXITSTATUS(status), 0);
}

static inline void test_kill_kids(void)
{
	for (size_t i = 0; i < TESTKIT_MAX_KIDS; i++) {
		if (testkit_kids[i]) {
			kill(testkit_kids[i], SIGKILL);
			test_reap(testkit_kids[i], NULL);
		}
	}
}

/* ---- fault twins ----------------------------------------------------------
 * test_fault_loop() runs @op for n = 1, 2, ... with the nth allocation
 * failing (common/alloc.h: the heap wrappers and shm/'s arena), until a run
 * hits no fault.  Every run that hit one must return -ENOMEM, or succeed
 * when the code recovers (a JIT failure falls back to the interpreter); any
 * other result fails the test.  @undo (may be NULL) releases what a
 * successful run made; after it the heap must hold what it held before the
 * run (mallinfo2; the sanitizer build has LeakSanitizer too).  @op runs once
 * without faults first, to fill caches that live for the process.  Returns
 * the number of runs that failed with -ENOMEM (at least one is expected). */
static inline size_t testkit_heap_in_use(void)
{
	return mallinfo2().uordblks;
}

/* glibc's per-thread caches keep freed chunks out of mallinfo2's free
 * space; a fault test calls this first in main(): it runs itself again
 * without them, so that the heap in use is exact. */
static inline void test_exact_heap(char **argv)
{
	if (getenv("BPFTIME_TESTKIT_EXACT_HEAP"))
		return;
	setenv("BPFTIME_TESTKIT_EXACT_HEAP", "1", 1);
	setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0", 1);
	execv("/proc/self/exe", argv);
	perror("execv /proc/self/exe");
	exit(1);
}

static inline int test_fault_loop(int (*op)(void *arg), void (*undo)(void *arg), void *arg)
{
	int failures = 0, err;

	mem_fault_set(0, false);
	err = op(arg);
	assert_int_equal(err, 0);
	if (undo)
		undo(arg);
	for (unsigned long n = 1;; n++) {
		size_t before = testkit_heap_in_use();
		unsigned long hits;

		mem_fault_set(n, false);
		err = op(arg);
		hits = mem_fault_hits();
		mem_fault_set(0, false);
		if (err && err != -ENOMEM)
			fail_msg("allocation %lu failed: got %d, not -ENOMEM", n, err);
		if (!err && undo)
			undo(arg);
		if (testkit_heap_in_use() != before)
			fail_msg("allocation %lu failed: %zd bytes of heap leaked", n,
				 (ssize_t)(testkit_heap_in_use() - before));
		if (err)
			failures++;
		if (!hits)
			break;
	}
	return failures;
}

/* Is thread @tid of this process blocked in syscall @nr (what
 * /proc/self/task/TID/syscall says)? */
static inline int test_blocked_in(pid_t tid, long nr)
{
	char path[64], buf[128];
	long n = -2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		n = strtol(buf, NULL, 10);
	fclose(f);
	return n == nr;
}

/* waits (up to 20 s) until thread @tid is blocked in syscall @nr; fails
 * the case if it never is */
static inline void test_wait_blocked(pid_t tid, long nr)
{
	for (int i = 0; i < 20000 && !test_blocked_in(tid, nr); i++)
		usleep(1000);
	if (!test_blocked_in(tid, nr))
		fail_msg("thread %d never blocked in syscall %ld", (int)tid, nr);
}

#endif /* BPFTIME_COMMON_TESTKIT_H */
