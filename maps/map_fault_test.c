/* SPDX-License-Identifier: MIT */
/* maps/map_fault_test.c: the fault twin of map creation.  For every map
 * type, the arena is filled so that only N bytes are left, for N growing
 * from 0 until creation succeeds: each step makes creation fail at a later
 * allocation.  Every failure must be -ENOMEM with nothing leaked, and the
 * first success must work and free everything when closed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include "shm/store.h"

static char name[64];

static int cleanup(void **state)
{
	(void)state;
	bpftime_shm__remove(name);
	return 0;
}

static uint64_t used(struct bpftime_shm *shm)
{
	struct bpftime_shm_stats st = { .sz = sizeof(st) };

	bpftime_shm__reap(shm, true);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	return st.used;
}

static void test_create_fault(void **state)
{
	static const struct {
		enum bpftime_map_type t;
		uint32_t ks, vs, max, flags;
	} types[] = {
		{ BPFTIME_MAP_HASH, 8, 8, 64, 0 },
		{ BPFTIME_MAP_HASH, 8, 8, 1000, BPFTIME_F_NO_PREALLOC },
		{ BPFTIME_MAP_PERCPU_HASH, 4, 8, 32, 0 },
		{ BPFTIME_MAP_LRU_HASH, 4, 8, 32, 0 },
		{ BPFTIME_MAP_ARRAY, 4, 8, 100, 0 },
		{ BPFTIME_MAP_ARRAY, 4, 8, 1000, BPFTIME_F_MMAPABLE },
		{ BPFTIME_MAP_PERCPU_ARRAY, 4, 8, 10, 0 },
		{ BPFTIME_MAP_PROG_ARRAY, 4, 4, 8, 0 },
		{ BPFTIME_MAP_PERF_EVENT_ARRAY, 4, 4, 8, 0 },
		{ BPFTIME_MAP_LPM_TRIE, 8, 4, 16, BPFTIME_F_NO_PREALLOC },
		{ BPFTIME_MAP_QUEUE, 0, 8, 16, 0 },
		{ BPFTIME_MAP_STACK, 0, 8, 16, 0 },
		{ BPFTIME_MAP_BLOOM_FILTER, 0, 8, 100, 0 },
		{ BPFTIME_MAP_RINGBUF, 0, 0, 4096, 0 },
		{ BPFTIME_MAP_STACK_TRACE, 4, 32, 16, 0 },
	};
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = name, .size_mb = 2, .max_fd = 16);
	struct bpftime_shm *shm;
	uint64_t arena, base;

	(void)state;
	snprintf(name, sizeof(name), "bpftime_test_fault_%d", getpid());
	bpftime_shm__remove(name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	bpftime_set_print(NULL); /* every failure logs; keep the output readable */
	arena = shm->hdr->arena_size;
	base = used(shm);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int failures = 0, fd = -1;

		for (uint64_t left = 0; left < (1u << 20); left += 16) {
			/* leave about `left` bytes: one filler block takes the rest */
			uint64_t filler = shm_alloc(shm, arena - left - 64, 16);
			uint64_t with_filler;

			if (!filler)
				continue;
			with_filler = used(shm);
			fd = bpftime_map_create(
				shm, -1, types[i].t, "f", types[i].ks, types[i].vs, types[i].max,
				&(struct bpftime_map_create_opts){
					.sz = sizeof(struct bpftime_map_create_opts),
					.map_flags = types[i].flags });
			if (fd < 0) {
				if (fd != -ENOMEM)
					fail_msg("type %u: %d with %llu bytes left", types[i].t, fd,
						 (unsigned long long)left);
				assert_int_equal(used(shm), with_filler); /* nothing leaked */
				assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
				failures++;
				shm_free(shm, filler);
				continue;
			}
			shm_free(shm, filler);
			break;
		}
		assert_true(fd >= 0);
		assert_true(failures > 0);
		/* the map created in a tight arena works */
		if (types[i].t == BPFTIME_MAP_HASH) {
			uint64_t k = 1, v = 2;

			assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
			assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
			assert_int_equal(v, 2);
		}
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
		assert_int_equal(used(shm), base);
	}
	bpftime_shm__close(shm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_create_fault, cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
