/* SPDX-License-Identifier: MIT */
/* shm/lock_test.c: the robust locks of shm/lock.c.  Their uncontended path
 * links mutexes into glibc's per-thread robust list itself, so these tests
 * check what the kernel sees when a holder dies: every mutex it held (taken
 * by shm_lock or by glibc, released in any order) is reported EOWNERDEAD to
 * the next locker, none stays locked, none that was released is reported.
 * The mutexes live in a MAP_SHARED mapping, as in the segment. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "shm/internal.h"

#define NLOCKS 6

struct area {
	struct shm_mutex m[NLOCKS];
	pthread_mutex_t plain; /* a robust mutex glibc alone handles */
	uint64_t counter;
	_Atomic uint32_t stop;
};

/* What a test has not unmapped yet: a failed assertion leaves it, and the
 * children (test_fork(), common/testkit.h), to the teardown (cleanup()),
 * which kills and reaps every child. */
static struct area *cur;

static void area_free(struct area *a)
{
	munmap(a, sizeof(*a));
	cur = NULL;
}

/* cmocka runs this after each test, passed or failed */
static int cleanup(void **state)
{
	(void)state;
	test_kill_kids();
	if (cur)
		area_free(cur);
	return 0;
}

static struct area *area_new(void)
{
	struct area *a =
		mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t at;

	assert_ptr_not_equal(a, MAP_FAILED);
	cur = a;
	for (int i = 0; i < NLOCKS; i++)
		assert_int_equal(shm_mutex_init(&a->m[i]), 0);
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	assert_int_equal(pthread_mutex_init(&a->plain, &at), 0);
	pthread_mutexattr_destroy(&at);
	return a;
}

/* The probe accepts this glibc: otherwise the tests below would only test
 * glibc's own robust mutexes. */
static void test_fast_path_on(void **state)
{
	struct area *a = area_new();

	(void)state;
	assert_true(shm_lock_fast_path());
	/* the fields glibc keeps are the fast path's too */
	shm_lock(&a->m[0]);
	assert_int_equal(a->m[0].m.__data.__lock, (int)syscall(SYS_gettid));
	assert_int_equal(a->m[0].m.__data.__owner, (int)syscall(SYS_gettid));
	assert_int_equal(a->m[0].m.__data.__nusers, 1);
	assert_int_equal(pthread_mutex_unlock(&a->m[0].m), 0); /* glibc accepts it */
	assert_int_equal(pthread_mutex_lock(&a->m[0].m), 0);
	shm_unlock(&a->m[0]); /* and the other way round */
	assert_int_equal(a->m[0].m.__data.__lock, 0);
	assert_int_equal(shm_trylock(&a->m[0]), 0);
	shm_unlock(&a->m[0]);
	area_free(a);
}

/* What the next locker gets from each mutex after a holder died: 0 when it
 * was free, EOWNERDEAD when the holder died with it (then it is made
 * consistent and released). */
static int take(pthread_mutex_t *m)
{
	int err = pthread_mutex_trylock(m);

	if (err == EOWNERDEAD)
		pthread_mutex_consistent(m);
	if (!err || err == EOWNERDEAD)
		pthread_mutex_unlock(m);
	return err;
}

/* A child holds some mutexes (shm_lock and glibc's own, interleaved), has
 * released others out of order, and is SIGKILLed. */
static void test_kill_holding_many(void **state)
{
	struct area *a = area_new();
	int pfd[2];
	pid_t child;
	char c;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	child = test_fork();
	if (child == 0) {
		shm_lock(&a->m[0]);
		shm_lock(&a->m[1]);
		pthread_mutex_lock(&a->plain);
		shm_lock(&a->m[2]);
		shm_lock(&a->m[3]);
		if (shm_trylock(&a->m[4]))
			_exit(1);
		shm_lock(&a->m[5]);
		/* out of order: the middle of the list, its first entry and an
		 * entry next to glibc's */
		shm_unlock(&a->m[1]);
		shm_unlock(&a->m[5]);
		shm_unlock(&a->m[2]);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	kill(child, SIGKILL);
	test_reap(child, NULL);
	assert_int_equal(take(&a->m[0].m), EOWNERDEAD);
	assert_int_equal(take(&a->m[1].m), 0);
	assert_int_equal(take(&a->plain), EOWNERDEAD);
	assert_int_equal(take(&a->m[2].m), 0);
	assert_int_equal(take(&a->m[3].m), EOWNERDEAD);
	assert_int_equal(take(&a->m[4].m), EOWNERDEAD);
	assert_int_equal(take(&a->m[5].m), 0);
	/* and shm_lock itself recovers one */
	child = test_fork();
	if (child == 0) {
		shm_lock(&a->m[3]);
		_exit(0);
	}
	test_reap(child, NULL);
	shm_lock(&a->m[3]);
	shm_unlock(&a->m[3]);
	assert_int_equal(take(&a->m[3].m), 0);
	close(pfd[0]);
	close(pfd[1]);
	area_free(a);
}

static void *hold_and_exit(void *arg)
{
	struct area *a = arg;

	shm_lock(&a->m[1]);
	shm_lock(&a->m[2]);
	shm_unlock(&a->m[1]);
	return NULL; /* exits holding m[2] */
}

/* A thread that returns while holding a lock: the kernel marks it too. */
static void test_thread_exit_holding(void **state)
{
	struct area *a = area_new();
	pthread_t t;

	(void)state;
	shm_lock(&a->m[0]); /* this thread's list is not involved */
	assert_int_equal(pthread_create(&t, NULL, hold_and_exit, a), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(take(&a->m[1].m), 0);
	assert_int_equal(take(&a->m[2].m), EOWNERDEAD);
	shm_unlock(&a->m[0]);
	assert_int_equal(take(&a->m[0].m), 0);
	area_free(a);
}

#define THREADS 4
#define ROUNDS	100000

static void *hammer(void *arg)
{
	struct area *a = arg;

	for (int i = 0; i < ROUNDS; i++) {
		if (i & 1) {
			shm_lock(&a->m[0]);
		} else {
			while (shm_trylock(&a->m[0]))
				;
		}
		a->counter++;
		shm_unlock(&a->m[0]);
	}
	return NULL;
}

/* Contention: the fast path fails over to glibc's lock, which sleeps; the
 * fast unlock must wake it.  A lost wake-up hangs (the test's timeout), a
 * broken exclusion loses increments. */
static void test_contention(void **state)
{
	struct area *a = area_new();
	pthread_t t[THREADS];

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, a), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(a->counter, (uint64_t)THREADS * ROUNDS);
	assert_int_equal(a->m[0].m.__data.__lock, 0);
	area_free(a);
}

/* Processes contending on one lock, one of them SIGKILLed while it churns
 * (often inside the critical section or asleep on the futex): the others
 * finish their rounds. */
static void test_kill_while_contended(void **state)
{
	struct area *a = area_new();
	pid_t victim, worker;
	int status;

	(void)state;
	victim = test_fork();
	if (victim == 0) {
		for (;;) {
			shm_lock(&a->m[0]);
			a->counter++;
			shm_unlock(&a->m[0]);
		}
	}
	worker = test_fork();
	if (worker == 0) {
		hammer(a);
		_exit(0);
	}
	usleep(20000);
	kill(victim, SIGKILL);
	test_reap(victim, NULL);
	hammer(a);
	assert_int_equal(test_reap(worker, &status), worker);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	shm_lock(&a->m[0]);
	shm_unlock(&a->m[0]);
	area_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fast_path_on, cleanup),
		cmocka_unit_test_teardown(test_kill_holding_many, cleanup),
		cmocka_unit_test_teardown(test_thread_exit_holding, cleanup),
		cmocka_unit_test_teardown(test_contention, cleanup),
		cmocka_unit_test_teardown(test_kill_while_contended, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
