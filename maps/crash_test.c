/* SPDX-License-Identifier: MIT */
/* maps/crash_test.c: map updates are atomic with respect to SIGKILL at any
 * instruction.  For the hash, LRU hash, LPM trie and queue maps, a writer
 * process stops just before one operation (replace, insert, delete, an
 * insert that evicts, push, pop); this process single-steps it (ptrace) N
 * instructions and kills it, for N = 0, 1, 2, ... until the operation
 * completes within N steps.  After every kill the next user (this process)
 * writes to the map, which is where a repair happens, and then checks it:
 * iteration ends, no key twice, the element count equals what iteration
 * finds, every key found is found by lookup, and the killed operation
 * either happened or did not, and no element is lost (linked, spare, parked
 * and free elements add up to the elements the map has: htab_census).
 *
 * Single-stepping to step N for every N is quadratic, so the writer's path
 * is recorded once (the address of every instruction, single-stepping to
 * the end), and each trial runs a fresh writer to its N-th instruction with
 * an int3 on that address (in the writer's copy of the text), counting the
 * earlier passes over it along the path; the stop is checked to be at that
 * address.  --stride K kills at every K-th instruction only.
 *
 * Exits 77 (skipped) where ptrace is not allowed. */
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
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "internal.h"

#define MAX_STEPS 200000 /* a safety net: an operation is a few thousand */
#define MAX_KEYS  1100	 /* keys a trial's map holds at most */

static uint64_t *path;	/* the recorded instruction addresses */
static long stride = 1; /* kill at every stride-th instruction */

static char shm_name[64];
static struct bpftime_shm *shm;

enum op { OP_REPLACE, OP_INSERT, OP_DELETE, OP_PUSH, OP_POP };

struct scenario {
	const char *name;
	enum bpftime_map_type type;
	enum op op;
	uint32_t key_size, value_size, max_entries;
	uint64_t key; /* the key the operation uses (hash: u64; lpm: plen | addr) */
	bool grow;    /* the insert adds a chunk: keys 1..fill before each trial */
	uint32_t fill;
	uint32_t flags;	   /* extra map flags */
	int fd;		   /* the map */
	long steps, kills; /* the result */
	long other_path;   /* trials whose writer finished on a shorter path */
};

/* ---- keys ---------------------------------------------------------------- */

/* LPM keys: u32 prefix length, then 4 address bytes (host order in .key:
 * plen << 32 | addr) */
static void lpm_key(uint64_t k, uint8_t out[8])
{
	uint32_t plen = (uint32_t)(k >> 32), addr = (uint32_t)k;

	memcpy(out, &plen, 4);
	out[4] = (uint8_t)(addr >> 24);
	out[5] = (uint8_t)(addr >> 16);
	out[6] = (uint8_t)(addr >> 8);
	out[7] = (uint8_t)addr;
}

static void key_of(const struct scenario *s, uint64_t k, uint8_t out[8])
{
	if (s->type == BPFTIME_MAP_LPM_TRIE)
		lpm_key(k, out);
	else
		memcpy(out, &k, 8);
}

#define P(plen, a, b, c, d) \
	((uint64_t)(plen) << 32 | (uint32_t)((a) << 24 | (b) << 16 | (c) << 8 | (d)))

/* the keys present before each trial, and the ones the operations use */
static const uint64_t hash_base[] = { 1, 2, 3, 4, 5, 6 };
static const uint64_t lpm_base[] = { P(8, 10, 0, 0, 0), P(16, 10, 2, 0, 0), P(24, 10, 2, 3, 0),
				     P(16, 192, 168, 0, 0) };

static void value_for(uint64_t k, uint64_t gen, uint64_t *v, uint32_t words)
{
	for (uint32_t i = 0; i < words; i++)
		v[i] = k * 1000 + gen;
}

/* ---- the writer ------------------------------------------------------------ */

static void do_op(struct bpftime_shm *sh, const struct scenario *s)
{
	uint64_t v[8];
	uint8_t key[8];
	int err = 0;

	value_for(s->key, 7, v, s->value_size / 8);
	key_of(s, s->key, key);
	switch (s->op) {
	case OP_REPLACE:
	case OP_INSERT:
		err = bpftime_map_update_elem(sh, s->fd, key, v, 0);
		break;
	case OP_DELETE:
		err = bpftime_map_delete_elem(sh, s->fd, key);
		break;
	case OP_PUSH:
		err = bpftime_map_update_elem(sh, s->fd, NULL, v, 0);
		break;
	case OP_POP:
		err = bpftime_map_lookup_and_delete_elem(sh, s->fd, NULL, v, 0);
		break;
	}
	_exit(err ? 10 : 0);
}

/* a stopped child, about to run the operation */
static pid_t start_writer(const struct scenario *s)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (!pid) {
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		struct bpftime_shm *sh;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sh = bpftime_shm__open(&o);
		if (!sh || !bpftime_map_get_handle(sh, s->fd))
			_exit(3);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(4);
		raise(SIGSTOP);
		do_op(sh, s);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
		return -1; /* no ptrace here */
	assert_true(WIFSTOPPED(status));
	return pid;
}

static uint64_t rip_of(pid_t pid)
{
	struct user_regs_struct r;

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, NULL, &r), 0);
	return r.rip;
}

/* single-steps the stopped writer to the end, recording every address;
 * returns the number of steps */
static long record_path(pid_t pid)
{
	int status;
	long n = 0;

	for (;;) {
		assert_true(n < MAX_STEPS);
		path[n] = rip_of(pid);
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (WIFEXITED(status)) {
			assert_int_equal(WEXITSTATUS(status), 0);
			return n + 1;
		}
		n++;
	}
}

static void set_rip(pid_t pid, uint64_t rip)
{
	struct user_regs_struct r;

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, NULL, &r), 0);
	r.rip = rip;
	assert_int_equal(ptrace(PTRACE_SETREGS, pid, NULL, &r), 0);
}

/* runs the stopped writer to path[n], on its k-th pass over that address
 * (k counted along the recorded path), with an int3 written there (in the
 * writer's copy of the text), then kills it and returns true; false if the
 * writer took a shorter path this time (the arena allocator's free list
 * may differ) and finished its operation */
static bool run_to_and_kill(pid_t pid, long n)
{
	uint64_t addr = path[n], word, trap;
	long passes = 0;
	int status;

	if (n > 0) {
		for (long j = 1; j < n; j++)
			passes += path[j] == addr;
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSTOPPED(status));
		errno = 0;
		word = (uint64_t)ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, NULL);
		assert_int_equal(errno, 0);
		trap = (word & ~0xffULL) | 0xcc;
		for (long hits = 0;; hits++) {
			if (rip_of(pid) != addr) {
				assert_int_equal(
					ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)trap),
					0);
				assert_int_equal(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
				assert_int_equal(waitpid(pid, &status, 0), pid);
				if (WIFEXITED(status)) {
					assert_int_equal(WEXITSTATUS(status), 0);
					return false;
				}
				assert_true(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
				assert_int_equal(
					ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)word),
					0);
				assert_true(rip_of(pid) == addr + 1);
				set_rip(pid, addr);
			}
			if (hits == passes)
				break;
			/* not this pass: over the real instruction */
			assert_int_equal(ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL), 0);
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFSTOPPED(status));
		}
	}
	assert_true(rip_of(pid) == addr);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return true;
}

/* ---- the next user: normalise, then check ------------------------------- */

static void put(const struct scenario *s, uint64_t k, uint64_t gen)
{
	uint64_t v[8];
	uint8_t key[8];

	value_for(k, gen, v, s->value_size / 8);
	key_of(s, k, key);
	assert_int_equal(bpftime_map_update_elem(shm, s->fd, key, v, 0), 0);
}

static void drop(const struct scenario *s, uint64_t k)
{
	uint8_t key[8];
	int err;

	key_of(s, k, key);
	err = bpftime_map_delete_elem(shm, s->fd, key);
	assert_true(err == 0 || err == -ENOENT);
}

static void new_map(struct scenario *s)
{
	/* a fixed hash seed: the same buckets, lock groups and path each time */
	BPFTIME_OPTS(bpftime_map_create_opts, o,
		     .map_flags =
			     s->flags | (s->type == BPFTIME_MAP_LPM_TRIE ? BPFTIME_F_NO_PREALLOC
					 : s->type == BPFTIME_MAP_QUEUE	 ? 0
									 : BPFTIME_F_ZERO_SEED));

	int filler = -1;

	if (s->fd >= 0) {
		assert_int_equal(bpftime_handler_close(shm, s->fd), 0);
		bpftime_shm__reap(shm, true);
	}
	if (s->grow && s->type == BPFTIME_MAP_LRU_HASH) {
		/* an LRU map is allocated as it fills when its elements do
		 * not fit in the free space at creation: an array leaves 128
		 * KiB free while it is made */
		struct bpftime_shm_stats st = { .sz = sizeof(st) };

		assert_int_equal(bpftime_shm__stats(shm, &st), 0);
		filler = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "filler", 4, 8,
					    (uint32_t)((st.largest_free - (128 << 10)) / 8), NULL);
		assert_true(filler >= 0);
	}
	s->fd = bpftime_map_create(shm, -1, s->type, "crash", s->key_size, s->value_size,
				   s->max_entries, &o);
	assert_true(s->fd >= 0);
	if (filler >= 0) {
		assert_int_equal(bpftime_handler_close(shm, filler), 0);
		bpftime_shm__reap(shm, true);
	}
}

/* the state every trial starts from: a fresh map (so that every trial runs
 * the recorded path: same elements, same LRU clock), filled */
static void reset(struct scenario *s)
{
	new_map(s);
	if (s->type == BPFTIME_MAP_QUEUE) {
		for (uint64_t i = 1; i <= 4; i++)
			assert_int_equal(bpftime_map_update_elem(shm, s->fd, NULL, &i, 0), 0);
		return;
	}
	if (s->type == BPFTIME_MAP_LPM_TRIE) {
		for (size_t i = 0; i < sizeof(lpm_base) / sizeof(lpm_base[0]); i++)
			put(s, lpm_base[i], 1);
	} else if (s->grow) {
		for (uint64_t k = 1; k <= s->fill; k++)
			put(s, k, 1);
	} else {
		for (size_t i = 0; i < sizeof(hash_base) / sizeof(hash_base[0]); i++)
			if (s->type != BPFTIME_MAP_LRU_HASH || i < s->max_entries)
				put(s, hash_base[i], 1);
	}
	if (s->op == OP_INSERT)
		drop(s, s->key);
}

static void check_queue(const struct scenario *s, bool done)
{
	uint64_t got[64], v;
	int n = 0;

	/* the next user pops everything: 1..4, plus 7007 after a push that
	 * happened, minus 1 after a pop that happened */
	while (!bpftime_map_lookup_and_delete_elem(shm, s->fd, NULL, &v, 0)) {
		assert_true(n < 64); /* it ends */
		got[n++] = v;
	}
	if (s->op == OP_PUSH) {
		assert_true(n == 4 || n == 5);
		assert_true(!done || n == 5);
		for (int i = 0; i < 4; i++)
			assert_int_equal(got[i], (uint64_t)i + 1);
		if (n == 5)
			assert_int_equal(got[4], s->key * 1000 + 7);
	} else {
		assert_true(n == 4 || n == 3);
		assert_true(!done || n == 3);
		for (int i = 0; i < n; i++)
			assert_int_equal(got[i], (uint64_t)(4 - n + i + 1));
	}
}

/* iteration ends, no key twice, count = what iteration finds, lookups
 * find every key; the operation's key is there or not as it should be */
static void check_table(const struct scenario *s, bool done)
{
	struct bpftime_map *h = bpftime_map_get_handle(shm, s->fd);
	static uint8_t keys[MAX_KEYS][8];
	uint8_t key[8], next[8];
	uint64_t v[8], want = s->key * 1000 + 7;
	int n = 0, err;
	bool found = false;

	assert_non_null(h);
	for (err = bpftime_map_get_next_key(shm, s->fd, NULL, next); !err;
	     err = bpftime_map_get_next_key(shm, s->fd, key, next)) {
		/* iteration ends */
		assert_true(n < (int)s->max_entries + 4 && n < MAX_KEYS);
		for (int i = 0; i < n; i++)
			if (!memcmp(keys[i], next, 8))
				fail_msg("%s: a key twice after a kill", s->name);
		memcpy(keys[n++], next, 8);
		memcpy(key, next, 8);
		assert_int_equal(bpftime_map_lookup_elem(shm, s->fd, next, v, 0), 0);
	}
	assert_int_equal(err, -ENOENT);
	assert_int_equal(htab_count(h), n);
	key_of(s, s->key, key);
	for (int i = 0; i < n; i++)
		if (!memcmp(keys[i], key, 8))
			found = true;
	switch (s->op) {
	case OP_REPLACE:
		if (!found && s->type == BPFTIME_MAP_LRU_HASH)
			break; /* evicted to make room for the new value */
		assert_true(found);
		assert_int_equal(bpftime_map_lookup_elem(shm, s->fd, key, v, 0), 0);
		/* old or new, whole */
		assert_true(v[0] == s->key * 1000 + 1 || v[0] == want);
		assert_true(!done || v[0] == want);
		for (uint32_t i = 1; i < s->value_size / 8; i++)
			assert_int_equal(v[i], v[0]);
		break;
	case OP_INSERT:
		assert_true(!done || found);
		if (found) {
			assert_int_equal(bpftime_map_lookup_elem(shm, s->fd, key, v, 0), 0);
			assert_int_equal(v[0], want);
		}
		break;
	case OP_DELETE:
		assert_true(!done || !found);
		break;
	default:
		break;
	}
}

/* no element lost: every element the map has is linked, a spare, parked
 * or free (a writer killed with an element in hand left its group busy,
 * and the repair took the element back) */
static void check_elems(const struct scenario *s)
{
	struct bpftime_map *h = bpftime_map_get_handle(shm, s->fd);
	uint32_t accounted = 0, total = 0;

	assert_non_null(h);
	assert_int_equal(htab_census(h, &accounted, &total), 0);
	if (accounted != total)
		fail_msg("%s: %u of %u elements accounted for after a kill", s->name, accounted,
			 total);
}

/* the next user: a write (repairs if the writer died in its section),
 * then the checks */
static void check_after(struct scenario *s, bool done)
{
	if (s->type == BPFTIME_MAP_QUEUE) {
		check_queue(s, done);
		return;
	}
	/* a delete of a key that is not there: the writer's path (lock,
	 * repair) without changing what is in */
	drop(s, s->type == BPFTIME_MAP_LPM_TRIE ? P(32, 1, 2, 3, 4) : 999);
	check_table(s, done);
	check_elems(s);
}

static uint64_t arena_used(void)
{
	struct bpftime_shm_stats st = { .sz = sizeof(st) };

	bpftime_shm__reap(shm, true);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	return st.used;
}

static void run(struct scenario *s)
{
	uint64_t base = arena_used();

	s->fd = -1;
	{
		pid_t pid;

		uint64_t before;

		reset(s);
		before = arena_used();
		pid = start_writer(s);
		if (pid < 0)
			skip();
		s->steps = record_path(pid);
		/* the operation added a chunk */
		assert_true(!s->grow || arena_used() > before);
		check_after(s, true);
	}
	for (long n = 0; n < s->steps; n += stride) {
		pid_t pid;

		reset(s);
		pid = start_writer(s);
		assert_true(pid > 0);
		if (run_to_and_kill(pid, n)) {
			check_after(s, false);
			s->kills++;
		} else {
			check_after(s, true);
			s->other_path++;
		}
	}
	printf("%-22s %ld instructions, killed at %ld of them (%ld ran a shorter path): "
	       "consistent after every kill\n",
	       s->name, s->steps, s->kills, s->other_path);
	if (s->grow) {
		/* a grower killed anywhere leaks no arena block: its chunk is
		 * recorded with its allocation (shm_alloc_rec) and the repair
		 * frees or keeps it */
		assert_int_equal(bpftime_handler_close(shm, s->fd), 0);
		assert_int_equal(arena_used(), base);
	}
}

#define SCENARIO(fn, NAME, TYPE, OP, KS, VS, MAX, KEY)            \
	static void fn(void **state)                              \
	{                                                         \
		struct scenario s = { .name = NAME,               \
				      .type = BPFTIME_MAP_##TYPE, \
				      .op = OP,                   \
				      .key_size = KS,             \
				      .value_size = VS,           \
				      .max_entries = MAX,         \
				      .key = KEY };               \
		(void)state;                                      \
		run(&s);                                          \
	}

/* an insert that must add a chunk of elements (htab_grow): a
 * BPF_F_NO_PREALLOC hash whose first chunk (256) is full, and an empty LRU
 * hash that did not fit in the free space at creation (its elements
 * allocated as it fills: a first chunk of 512 spares, one per lock group,
 * then the 300 of max_entries) */
#define GROW_SCENARIO(fn, NAME, TYPE, MAX, FILL, FLAGS)           \
	static void fn(void **state)                              \
	{                                                         \
		struct scenario s = { .name = NAME,               \
				      .type = BPFTIME_MAP_##TYPE, \
				      .op = OP_INSERT,            \
				      .key_size = 8,              \
				      .value_size = 32,           \
				      .max_entries = MAX,         \
				      .key = (FILL) + 77,         \
				      .grow = true,               \
				      .fill = FILL,               \
				      .flags = FLAGS };           \
		(void)state;                                      \
		run(&s);                                          \
	}

GROW_SCENARIO(test_hash_grow, "hash insert+grow", HASH, 1024, 256, BPFTIME_F_NO_PREALLOC)
GROW_SCENARIO(test_lru_grow, "lru_hash insert+grow", LRU_HASH, 300, 0, 0)

SCENARIO(test_hash_replace, "hash replace", HASH, OP_REPLACE, 8, 32, 16, 3)
SCENARIO(test_hash_insert, "hash insert", HASH, OP_INSERT, 8, 32, 16, 9)
SCENARIO(test_hash_delete, "hash delete", HASH, OP_DELETE, 8, 32, 16, 4)
SCENARIO(test_lru_replace, "lru_hash replace", LRU_HASH, OP_REPLACE, 8, 32, 4, 3)
SCENARIO(test_lru_evict, "lru_hash insert+evict", LRU_HASH, OP_INSERT, 8, 32, 4, 9)
SCENARIO(test_lru_delete, "lru_hash delete", LRU_HASH, OP_DELETE, 8, 32, 4, 2)
SCENARIO(test_lpm_replace, "lpm replace", LPM_TRIE, OP_REPLACE, 8, 16, 16, P(16, 10, 2, 0, 0))
SCENARIO(test_lpm_insert, "lpm insert", LPM_TRIE, OP_INSERT, 8, 16, 16, P(20, 10, 3, 0, 0))
SCENARIO(test_lpm_delete, "lpm delete", LPM_TRIE, OP_DELETE, 8, 16, 16, P(24, 10, 2, 3, 0))
SCENARIO(test_queue_push, "queue push", QUEUE, OP_PUSH, 0, 8, 8, 7)
SCENARIO(test_queue_pop, "queue pop", QUEUE, OP_POP, 0, 8, 8, 0)

static int quiet(enum bpftime_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0; /* the repairs' warnings: expected here */
}

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 8, .max_fd = 64);

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_crash_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	bpftime_set_print(quiet);
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
		cmocka_unit_test(test_hash_replace), cmocka_unit_test(test_hash_insert),
		cmocka_unit_test(test_hash_delete),  cmocka_unit_test(test_lru_replace),
		cmocka_unit_test(test_lru_evict),    cmocka_unit_test(test_lru_delete),
		cmocka_unit_test(test_lpm_replace),  cmocka_unit_test(test_lpm_insert),
		cmocka_unit_test(test_lpm_delete),   cmocka_unit_test(test_queue_push),
		cmocka_unit_test(test_queue_pop),    cmocka_unit_test(test_hash_grow),
		cmocka_unit_test(test_lru_grow),
	};

	if (argc > 2 && !strcmp(argv[1], "--stride"))
		stride = atol(argv[2]) > 0 ? atol(argv[2]) : 1;
	path = calloc(MAX_STEPS, sizeof(*path));
	if (!path)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
