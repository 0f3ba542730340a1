/* SPDX-License-Identifier: MIT */
/* maps/hash_race_test.c: replays, deterministically, the race the nulls
 * markers of hash chains exist for.  Built against a test variant of maps/
 * (MAP_TEST_HOOKS) whose lock-free search calls a hook between comparing an
 * element's key and following its next pointer.  In the hook the element is
 * deleted and reused for a key of another bucket: the reader, now on the
 * other bucket's chain, must notice (wrong nulls marker), restart, and still
 * find its key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>
#include "maps/internal.h"

extern void (*map_test_find_hook)(struct bpftime_map *h, void *elem_value);

static struct bpftime_shm *shm;
static char name[64];
static int fd;
static uint64_t churn_key, other_key;
static void *churn_value, *reused_value;
static int hook_runs;

static uint32_t bucket_of(struct bpftime_map *h, uint64_t k)
{
	return map_hash(&k, 8, h->seed) & h->bucket_mask;
}

static void hook(struct bpftime_map *h, void *value)
{
	uint64_t v = 2;

	if (value != churn_value || hook_runs++)
		return;
	map_test_find_hook = NULL; /* the writer's own searches run plainly */
	assert_int_equal(bpftime_map__delete_elem(h, &churn_key), 0);
	assert_int_equal(bpftime_map__update_elem(h, &other_key, &v, BPFTIME_NOEXIST), 0);
	reused_value = bpftime_map__lookup_elem(h, &other_key);
}

static void test_reader_restarts(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .size_mb = 4, .max_fd = 16);
	struct bpftime_map *h;
	uint64_t stable = 0, v = 1;

	(void)state;
	snprintf(name, sizeof(name), "bpftime_test_race_%d", getpid());
	o.name = name;
	bpftime_shm__remove(name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	fd = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "race", 8, 8, 16, NULL);
	h = bpftime_map_get_handle(shm, fd);
	/* churn_key shares the stable key's bucket; other_key lives elsewhere */
	for (churn_key = 1; bucket_of(h, churn_key) != bucket_of(h, stable); churn_key++)
		;
	for (other_key = churn_key + 1; bucket_of(h, other_key) == bucket_of(h, stable);
	     other_key++)
		;
	assert_int_equal(bpftime_map__update_elem(h, &stable, &v, 0), 0);
	assert_int_equal(bpftime_map__update_elem(h, &churn_key, &v, 0), 0); /* in front */
	/* a replacement leaves the old element as its lock group's spare, so
	 * the delete in the hook pushes to the shared free stack, from which
	 * the insert of other_key (another group) takes it */
	assert_int_equal(bpftime_map__update_elem(h, &churn_key, &v, 0), 0);
	churn_value = bpftime_map__lookup_elem(h, &churn_key);

	map_test_find_hook = hook;
	assert_non_null(bpftime_map__lookup_elem(h, &stable));
	map_test_find_hook = NULL;
	assert_int_equal(hook_runs, 1);
	/* the race really happened: the element moved to the other bucket */
	assert_ptr_equal(reused_value, churn_value);
	bpftime_shm__close(shm);
	bpftime_shm__remove(name);
}

static int cleanup(void **state)
{
	(void)state;
	bpftime_shm__remove(name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_reader_restarts, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
