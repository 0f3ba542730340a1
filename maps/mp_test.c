/* SPDX-License-Identifier: MIT */
/* maps/mp_test.c: 4 processes x 2 threads update one shared hash map and
 * one shared array map (control-plane and in-program paths, plus a churn of
 * updates/deletes on shared "scratch" keys so that bucket locks and the free
 * list are contended).  One process is SIGKILLed mid-way, possibly while it
 * holds a lock.  The others must finish (a deadlock fails by the CTest
 * timeout), every update a thread saw committed must be there, and every
 * lock must still be usable afterwards. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>

#define NPROC	4
#define NTHR	2
#define N	20000 /* main updates per thread */
#define SCRATCH 256
#define VICTIM	3

struct progress {
	_Atomic uint64_t committed[NPROC][NTHR];
	_Atomic int ready;
};

static char shm_name[64];
static struct progress *prog;
static int hfd, afd;

/* The segment mapping a test has not closed yet: a failed assertion leaves
 * it, and the children (test_fork(), common/testkit.h), to the teardown
 * (cleanup()), which kills and reaps every child and removes the segment. */
static struct bpftime_shm *test_shm;

static uint64_t key_of(int p, int t, uint64_t i)
{
	return ((uint64_t)p << 40) | ((uint64_t)t << 32) | i;
}

struct worker {
	struct bpftime_shm *shm;
	int p, t;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	struct bpftime_map *hh = bpftime_map_get_handle(w->shm, hfd);
	struct bpftime_map *ah = bpftime_map_get_handle(w->shm, afd);
	uint64_t seed = (uint64_t)(w->p * 2 + w->t + 1) * 0x9e3779b97f4a7c15ULL;

	for (uint64_t i = 0; i < N; i++) {
		uint64_t k = key_of(w->p, w->t, i), v = k * 3;

		/* the victim stops committing half-way and only churns, taking
		 * and releasing locks, until it is killed */
		while (w->p == VICTIM && i == N / 2) {
			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			k = (1ULL << 60) | (seed % SCRATCH);
			if (seed & 0x100)
				bpftime_map_update_elem(w->shm, hfd, &k, &seed, 0);
			else
				bpftime_map__delete_elem(hh, &k);
		}
		uint32_t idx = (uint32_t)((w->p * NTHR + w->t) * N + i);
		int err;

		/* alternate the control plane and the in-program path */
		if (i & 1)
			err = (int)bpftime_map__update_elem(hh, &k, &v, BPFTIME_NOEXIST);
		else
			err = bpftime_map_update_elem(w->shm, hfd, &k, &v, BPFTIME_NOEXIST);
		if (err) {
			fprintf(stderr, "update %d/%d/%llu: %d\n", w->p, w->t,
				(unsigned long long)i, err);
			_exit(2);
		}
		if (i & 2)
			memcpy(bpftime_map__lookup_elem(ah, &idx), &v, 8);
		else if (bpftime_map_update_elem(w->shm, afd, &idx, &v, 0))
			_exit(3);
		atomic_store_explicit(&prog->committed[w->p][w->t], i + 1, memory_order_release);

		/* churn on shared keys */
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		k = (1ULL << 60) | (seed % SCRATCH);
		if (seed & 0x100)
			bpftime_map_update_elem(w->shm, hfd, &k, &seed, 0);
		else
			bpftime_map__delete_elem(hh, &k);
	}
	return NULL;
}

static void child(int p)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
	struct bpftime_shm *shm = bpftime_shm__open(&o);
	struct worker w[NTHR];
	pthread_t th[NTHR];

	if (!shm)
		_exit(1);
	atomic_fetch_add(&prog->ready, 1);
	while (atomic_load(&prog->ready) < NPROC)
		sched_yield();
	for (int t = 0; t < NTHR; t++) {
		w[t] = (struct worker){ shm, p, t };
		pthread_create(&th[t], NULL, worker, &w[t]);
	}
	for (int t = 0; t < NTHR; t++)
		pthread_join(th[t], NULL);
	bpftime_shm__close(shm);
	_exit(0);
}

static void test_kill_mid_way(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 96, .max_fd = 64);
	struct bpftime_shm *shm;
	pid_t pids[NPROC];
	uint64_t total = 0, found = 0, k, v;
	int st;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_mp_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = test_shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	hfd = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "h", 8, 8, NPROC * NTHR * N + SCRATCH,
				 NULL);
	afd = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "a", 4, 8, NPROC * NTHR * N, NULL);
	assert_true(hfd >= 0 && afd >= 0);
	prog = mmap(NULL, sizeof(*prog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(prog != MAP_FAILED);

	for (int p = 0; p < NPROC; p++) {
		pids[p] = test_fork();
		if (pids[p] == 0)
			child(p);
	}
	/* kill the victim once both its threads churn on the shared keys */
	while (atomic_load(&prog->committed[VICTIM][0]) < N / 2 ||
	       atomic_load(&prog->committed[VICTIM][1]) < N / 2)
		usleep(100);
	usleep(2000);
	kill(pids[VICTIM], SIGKILL);
	assert_int_equal(test_reap(pids[VICTIM], &st), pids[VICTIM]);
	assert_true(WIFSIGNALED(st));
	for (int p = 0; p < NPROC; p++) {
		if (p == VICTIM)
			continue;
		assert_int_equal(test_reap(pids[p], &st), pids[p]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}

	/* every committed update is there, in both maps */
	for (int p = 0; p < NPROC; p++) {
		for (int t = 0; t < NTHR; t++) {
			uint64_t c = atomic_load(&prog->committed[p][t]);

			if (p != VICTIM)
				assert_int_equal(c, N);
			else
				assert_int_equal(c, N / 2); /* it really died mid-way */
			for (uint64_t i = 0; i < c; i++) {
				uint32_t idx = (uint32_t)((p * NTHR + t) * N + i);

				k = key_of(p, t, i);
				assert_int_equal(bpftime_map_lookup_elem(shm, hfd, &k, &v, 0), 0);
				assert_int_equal(v, k * 3);
				assert_int_equal(bpftime_map_lookup_elem(shm, afd, &idx, &v, 0), 0);
				assert_int_equal(v, k * 3);
			}
			total += c;
		}
	}
	/* iteration sees them all (the victim may have landed one more each
	 * thread that it did not get to record) */
	if (bpftime_map_get_next_key(shm, hfd, NULL, &k) == 0) {
		do {
			if (!(k >> 60))
				found++;
		} while (bpftime_map_get_next_key(shm, hfd, &k, &k) == 0);
	}
	assert_true(found >= total && found <= total + NTHR);

	/* every lock is still usable: touch every bucket with updates/deletes */
	for (uint64_t i = 0; i < 200000; i++) {
		k = (2ULL << 60) | i;
		v = i;
		assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, &v, 0) == 0 ||
					 bpftime_map_update_elem(shm, hfd, &k, &v, 0) == -E2BIG,
				 1);
		bpftime_map_delete_elem(shm, hfd, &k);
	}
	munmap(prog, sizeof(*prog));
	prog = NULL;
	test_shm = NULL;
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
}

/* LRU under eviction pressure from several processes: no deadlock, no
 * corruption (every element found has the value written for its key), and
 * the map never holds more than max_entries keys. */
static void lru_child(int p, int lfd)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
	struct bpftime_shm *shm = bpftime_shm__open(&o);
	struct bpftime_map *h;
	uint64_t seed = (uint64_t)(p + 1) * 0x9e3779b97f4a7c15ULL;

	if (!shm)
		_exit(1);
	h = bpftime_map_get_handle(shm, lfd);
	for (int i = 0; i < 100000; i++) {
		uint64_t k, v, *pv;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		k = seed % 4096;
		v = k * 7;
		switch (seed >> 62) {
		case 0:
		case 1:
			if (bpftime_map__update_elem(h, &k, &v, 0))
				_exit(2);
			break;
		case 2:
			pv = bpftime_map__lookup_elem(h, &k);
			/* an element reused under us may show another key's
			 * value (kernel semantics), but never garbage */
			if (pv && (*pv % 7 || *pv >= 4096 * 7))
				_exit(3);
			break;
		default:
			bpftime_map__delete_elem(h, &k);
			break;
		}
	}
	_exit(0);
}

static void test_lru_pressure(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 16, .max_fd = 64);
	struct bpftime_shm *shm;
	pid_t pids[NPROC];
	uint64_t k, v;
	int lfd, st, n = 0;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_mplru_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = test_shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	lfd = bpftime_map_create(shm, -1, BPFTIME_MAP_LRU_HASH, "l", 8, 8, 256, NULL);
	assert_true(lfd >= 0);
	for (int p = 0; p < NPROC; p++) {
		pids[p] = test_fork();
		if (pids[p] == 0)
			lru_child(p, lfd);
	}
	for (int p = 0; p < NPROC; p++) {
		assert_int_equal(test_reap(pids[p], &st), pids[p]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	if (bpftime_map_get_next_key(shm, lfd, NULL, &k) == 0) {
		do {
			assert_int_equal(bpftime_map_lookup_elem(shm, lfd, &k, &v, 0), 0);
			assert_int_equal(v, k * 7);
			n++;
		} while (bpftime_map_get_next_key(shm, lfd, &k, &k) == 0);
	}
	assert_true(n > 0 && n <= 256);
	test_shm = NULL;
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
}

/* Lock-free readers against writers that recycle elements between buckets
 * all the time: a reader must never miss a key that is always present
 * (the nulls markers make it restart when it followed a moved element). */
#define STABLE 512
#define CHURN  512

static void rw_child(int role, int fd, _Atomic int *stop)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
	struct bpftime_shm *shm = bpftime_shm__open(&o);
	struct bpftime_map *h;
	uint64_t seed = (uint64_t)(role + 7) * 0x9e3779b97f4a7c15ULL;
	long iters = 0;

	if (!shm)
		_exit(1);
	h = bpftime_map_get_handle(shm, fd);
	while (!atomic_load(stop) || iters < 1000) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		iters++;
		if (role < 2) { /* writers: churn keys come and go */
			uint64_t k = (1ULL << 32) | (seed % CHURN), v = k;

			if (seed & 1)
				bpftime_map__update_elem(h, &k, &v, 0);
			else
				bpftime_map__delete_elem(h, &k);
			if (iters > 400000)
				break;
		} else { /* readers: stable keys are always there */
			uint64_t k = seed % STABLE, *v = bpftime_map__lookup_elem(h, &k);

			if (!v || *v != k * 5)
				_exit(4);
			if (iters > 2000000)
				break;
		}
	}
	_exit(0);
}

static void test_readers_vs_recycling(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 16, .max_fd = 64);
	struct bpftime_shm *shm;
	_Atomic int *stop;
	pid_t pids[4];
	int fd, st;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_mprw_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = test_shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	/* few buckets per key: long chains, elements recycled at once */
	fd = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "rw", 8, 8, STABLE + CHURN, NULL);
	assert_true(fd >= 0);
	for (uint64_t k = 0; k < STABLE; k++) {
		uint64_t v = k * 5;

		assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
	}
	stop = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(stop != MAP_FAILED);
	for (int r = 0; r < 4; r++) {
		pids[r] = test_fork();
		if (pids[r] == 0)
			rw_child(r, fd, stop);
	}
	/* the readers stop when the writers are done */
	for (int r = 0; r < 2; r++) {
		assert_int_equal(test_reap(pids[r], &st), pids[r]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	atomic_store(stop, 1);
	for (int r = 2; r < 4; r++) {
		assert_int_equal(test_reap(pids[r], &st), pids[r]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	munmap((void *)stop, 4096);
	test_shm = NULL;
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
}

/* cmocka runs this after each test, passed or failed: a failed assertion
 * skips the test's own cleanup */
static int cleanup(void **state)
{
	(void)state;
	test_kill_kids();
	if (test_shm) {
		bpftime_shm__close(test_shm);
		test_shm = NULL;
	}
	if (prog) {
		munmap(prog, sizeof(*prog));
		prog = NULL;
	}
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill_mid_way, cleanup),
		cmocka_unit_test_teardown(test_lru_pressure, cleanup),
		cmocka_unit_test_teardown(test_readers_vs_recycling, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
