/* SPDX-License-Identifier: MIT */
/* maps/torn_test.c: no torn values.  For every map type with values wider
 * than 8 bytes (hash, LRU hash, per-CPU hash, array, per-CPU array, LPM
 * trie, queue), two writer processes update one element over and over with
 * 64-byte values whose eight words are all equal (per-CPU: on every CPU),
 * while this process copies it out through the C API and checks that every
 * copy is one writer's whole value.
 *
 *   map_torn_test            CTest: 200000 lookups per map type
 *   map_torn_test --long     10^8 lookups per map type (the figure;
 *                            prints the counts); --lookups N: N of them
 *
 * BPF_F_LOCK is not involved: its semantics (the value's spin lock) are
 * unchanged and tested in map_test. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
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
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>

#define WORDS  8 /* 64-byte values */
#define MAXCPU 512

static long lookups = 200000;
static char shm_name[64];
static struct bpftime_shm *shm;
static int ncpus;

struct kind {
	const char *name;
	enum bpftime_map_type type;
	uint32_t key_size, max;
};

static bool percpu(enum bpftime_map_type t)
{
	return t == BPFTIME_MAP_PERCPU_HASH || t == BPFTIME_MAP_PERCPU_ARRAY;
}

static void make_key(const struct kind *k, void *key)
{
	memset(key, 0, 8);
	if (k->type == BPFTIME_MAP_LPM_TRIE) {
		uint32_t plen = 32;

		memcpy(key, &plen, 4);
		memcpy((char *)key + 4, "\x0a\x00\x00\x01", 4);
	}
}

static void fill(uint64_t *v, int cpus, uint64_t w)
{
	for (int i = 0; i < cpus * WORDS; i++)
		v[i] = w;
}

/* a writer: updates the element with whole values until killed */
static void writer(const struct kind *k, int fd, uint64_t id)
{
	static uint64_t v[MAXCPU * WORDS];
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
	struct bpftime_shm *s = bpftime_shm__open(&o);
	int cpus = percpu(k->type) ? ncpus : 1;
	uint8_t key[8];

	if (!s)
		_exit(3);
	make_key(k, key);
	for (uint64_t n = 1;; n++) {
		fill(v, cpus, id << 48 | n);
		if (k->type == BPFTIME_MAP_QUEUE) {
			if (bpftime_map_update_elem(s, fd, NULL, v, 0) == -E2BIG)
				sched_yield();
		} else if (bpftime_map_update_elem(s, fd, key, v, 0)) {
			_exit(4);
		}
	}
}

static void run_kind(const struct kind *k)
{
	static uint64_t v[MAXCPU * WORDS];
	int cpus = percpu(k->type) ? ncpus : 1, fd, status;
	long torn = 0, done = 0, empty = 0;
	pid_t w[2];
	uint8_t key[8];

	BPFTIME_OPTS(bpftime_map_create_opts, lpm_opts, .map_flags = BPFTIME_F_NO_PREALLOC);

	fd = bpftime_map_create(shm, -1, k->type, k->name, k->key_size, WORDS * 8, k->max,
				k->type == BPFTIME_MAP_LPM_TRIE ? &lpm_opts : NULL);
	assert_true(fd >= 0);
	make_key(k, key);
	fill(v, cpus, 0);
	if (k->type != BPFTIME_MAP_QUEUE)
		assert_int_equal(bpftime_map_update_elem(shm, fd, key, v, 0), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = fork();
		assert_true(w[i] >= 0);
		if (!w[i]) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			writer(k, fd, (uint64_t)i + 1);
		}
	}
	while (done < lookups) {
		int err = k->type == BPFTIME_MAP_QUEUE
				  ? bpftime_map_lookup_and_delete_elem(shm, fd, NULL, v, 0)
				  : bpftime_map_lookup_elem(shm, fd, key, v, 0);

		if (err == -ENOENT && k->type == BPFTIME_MAP_QUEUE) {
			empty++;
			continue;
		}
		assert_int_equal(err, 0);
		for (int i = 1; i < cpus * WORDS; i++)
			if (v[i] != v[0]) {
				if (!torn)
					fprintf(stderr,
						"%s: torn value: word 0 %#llx, word %d %#llx\n",
						k->name, (unsigned long long)v[0], i,
						(unsigned long long)v[i]);
				torn++;
				break;
			}
		done++;
	}
	for (int i = 0; i < 2; i++) {
		kill(w[i], SIGKILL);
		assert_int_equal(waitpid(w[i], &status, 0), w[i]);
		/* a writer that stopped by itself failed an update */
		assert_true(WIFSIGNALED(status));
	}
	printf("%-14s %ld lookups under 2 writers: %ld torn\n", k->name, done, torn);
	assert_int_equal(torn, 0);
	(void)empty;
}

#define KIND_TEST(fn, NAME, TYPE, KS, MAX)                                          \
	static void fn(void **state)                                                \
	{                                                                           \
		static const struct kind k = { NAME, BPFTIME_MAP_##TYPE, KS, MAX }; \
		(void)state;                                                        \
		run_kind(&k);                                                       \
	}

KIND_TEST(test_hash, "hash", HASH, 8, 16)
KIND_TEST(test_lru_hash, "lru_hash", LRU_HASH, 8, 16)
KIND_TEST(test_percpu_hash, "percpu_hash", PERCPU_HASH, 8, 16)
KIND_TEST(test_array, "array", ARRAY, 4, 4)
KIND_TEST(test_percpu_array, "percpu_array", PERCPU_ARRAY, 4, 4)
KIND_TEST(test_lpm, "lpm_trie", LPM_TRIE, 8, 16)
KIND_TEST(test_queue, "queue", QUEUE, 0, 64)

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 16, .max_fd = 64);

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_torn_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	ncpus = bpftime_shm__ncpus(shm);
	assert_true(ncpus <= MAXCPU);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),	     cmocka_unit_test(test_lru_hash),
		cmocka_unit_test(test_percpu_hash),  cmocka_unit_test(test_array),
		cmocka_unit_test(test_percpu_array), cmocka_unit_test(test_lpm),
		cmocka_unit_test(test_queue),
	};

	if (argc > 1 && !strcmp(argv[1], "--long"))
		lookups = 100000000;
	else if (argc > 2 && !strcmp(argv[1], "--lookups"))
		lookups = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
