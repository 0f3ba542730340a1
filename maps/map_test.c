/* SPDX-License-Identifier: MIT */
/* maps/map_test.c: every map type against the kernel's documented
 * semantics (bpf(2), Documentation/bpf/map_*.rst): flags, errnos,
 * iteration, per-CPU layout, the in-program view, mmap'able memory, ring
 * buffer and perf buffer record formats, fd maps and their references. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include <bpftime/log.h>
#include "internal.h" /* htab_census, htab_count */

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

static char shm_name[64];

static int setup(void **state)
{
	static int n;
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 64, .max_fd = 256);

	snprintf(shm_name, sizeof(shm_name), "bpftime_test_map_%d_%d", getpid(), n++);
	bpftime_shm__remove(shm_name);
	*state = bpftime_shm__create(&o);
	assert_non_null(*state);
	return 0;
}

static int teardown(void **state)
{
	bpftime_shm__close(*state);
	bpftime_shm__remove(shm_name);
	return 0;
}

static int mkmap(struct bpftime_shm *shm, enum bpftime_map_type t, uint32_t ks, uint32_t vs,
		 uint32_t max, uint32_t flags)
{
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = flags);

	return bpftime_map_create(shm, -1, t, "m", ks, vs, max, &o);
}

static uint64_t used(struct bpftime_shm *shm)
{
	struct bpftime_shm_stats st = { .sz = sizeof(st) };

	bpftime_shm__reap(shm, true); /* closed maps wait out a grace period */
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	return st.used;
}

static void test_create_errors(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_extra = 3);

	assert_int_equal(mkmap(shm, BPFTIME_MAP_ARRAY, 8, 4, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_ARRAY, 4, 0, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 0, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_PERCPU_ARRAY, 4, 4, 1, BPFTIME_F_MMAPABLE),
			 -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_HASH, 0, 4, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_HASH, 4, 4, 1, BPFTIME_F_MMAPABLE), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_LRU_HASH, 4, 4, 1, BPFTIME_F_NO_PREALLOC),
			 -ENOTSUPP);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_LPM_TRIE, 8, 4, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_QUEUE, 4, 4, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_RINGBUF, 0, 0, 4096 * 3, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_PROG_ARRAY, 4, 8, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, 99, 4, 4, 1, 0), -EINVAL);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 1,
			       BPFTIME_F_RDONLY_PROG | BPFTIME_F_WRONLY_PROG),
			 -EINVAL);
	assert_int_equal(bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "bad-name", 4, 4, 1, NULL),
			 -EINVAL);
	assert_int_equal(bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "m", 4, 4, 1, &o),
			 -EINVAL); /* map_extra is for bloom filters only */
	assert_int_equal(bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "m", 4, 4, 1, NULL),
			 -EBADF);
	/* out of space names the variable and fails cleanly */
	assert_int_equal(mkmap(shm, BPFTIME_MAP_HASH, 64, 4096, 1u << 31, 0), -ENOMEM);
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(used(shm), 0);
	assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
}

static void test_array(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 12, 5, 0);
	uint32_t k, next;
	char v[12], z[12] = { 0 };
	struct bpftime_map *h;

	assert_true(fd >= 0);
	k = 2;
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, v, 0), 0);
	assert_memory_equal(v, z, 12);
	memcpy(v, "hello world", 12);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, BPFTIME_ANY), 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, BPFTIME_EXIST), 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, BPFTIME_NOEXIST), -EEXIST);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, 3), -EINVAL);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, BPFTIME_F_LOCK), -EINVAL);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, v, 1), -EINVAL);
	k = 5;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, 0), -E2BIG);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, v, 0), -ENOENT);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), -EINVAL);
	/* iteration: NULL and unknown keys start over; the last key ends it */
	assert_int_equal(bpftime_map_get_next_key(shm, fd, NULL, &next), 0);
	assert_int_equal(next, 0);
	k = 100;
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &k, &next), 0);
	assert_int_equal(next, 0);
	k = 3;
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &k, &next), 0);
	assert_int_equal(next, 4);
	k = 4;
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &k, &next), -ENOENT);

	/* in program: a pointer into the segment, writes visible to the syscall side */
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	assert_ptr_equal(bpftime_map_get_handle(shm, fd), h);
	k = 2;
	assert_memory_equal(bpftime_map__lookup_elem(h, &k), "hello world", 12);
	memcpy(bpftime_map__lookup_elem(h, &k), "HELLO", 5);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, v, 0), 0);
	assert_memory_equal(v, "HELLO world", 12);
	k = 9;
	assert_null(bpftime_map__lookup_elem(h, &k));
	k = 1;
	assert_int_equal(bpftime_map__update_elem(h, &k, "abcdefghijk", 0), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, v, 0), 0);
	assert_memory_equal(v, "abcdefghijk", 12);
	assert_int_equal(bpftime_map__delete_elem(h, &k), -EINVAL);

	/* freeze: the syscall side can no longer write, programs still can */
	assert_int_equal(bpftime_map_freeze(shm, fd), 0);
	assert_int_equal(bpftime_map_freeze(shm, fd), -EPERM);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, 0), -EPERM);
	assert_int_equal(bpftime_map__update_elem(h, &k, v, 0), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, 200, &k, v, 0), -EBADF);
}

static void test_array_rdonly_and_info(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 2, BPFTIME_F_RDONLY);
	struct bpftime_map_info info;
	uint32_t k = 0, v = 1;

	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), -EPERM);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
	fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 2, BPFTIME_F_WRONLY);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), -EPERM);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(bpftime_map_get_info(shm, fd, &info), 0);
	assert_int_equal(info.type, BPFTIME_MAP_ARRAY);
	assert_int_equal(info.max_entries, 2);
	assert_int_equal(info.map_flags, BPFTIME_F_WRONLY);
	assert_string_equal(info.name, "m");
	assert_int_equal(info.value_size_syscall, 4);
}

/* The syscall server mmaps the map's region of the shm object into the
 * loader: same bytes as the programs see. */
static void test_array_mmap(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 8, 3000, BPFTIME_F_MMAPABLE);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint64_t off, *p, v;
	size_t len;
	uint32_t k = 2999;

	assert_int_equal(bpftime_map_mmap_region(shm, fd, &off, &len), 0);
	assert_int_equal(off % 4096, 0);
	assert_int_equal(len, 6 * 4096); /* 3000 * 8 bytes, whole pages */
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpftime_shm__fd(shm), (off_t)off);
	assert_true(p != MAP_FAILED);
	p[2999] = 0xdeadbeef;
	assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(h, &k), 0xdeadbeef);
	v = 42;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(p[2999], 42);
	munmap(p, len);
	fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 3, 0);
	assert_int_equal(bpftime_map_mmap_region(shm, fd, &off, &len), -EINVAL);
	/* global variables: lddw map value addresses, one-element arrays only */
	{
		int dfd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 64, 1, BPFTIME_F_MMAPABLE);
		struct bpftime_map *d = bpftime_map_get_handle(shm, dfd);
		uint64_t addr;

		k = 0;
		assert_int_equal(bpftime_map__direct_value_addr(d, 16, &addr), 0);
		assert_int_equal(addr, (uintptr_t)bpftime_map__lookup_elem(d, &k) + 16);
		assert_int_equal(bpftime_map__direct_value_addr(d, 64, &addr), -EINVAL);
		assert_int_equal(bpftime_map__direct_value_addr(h, 0, &addr), -ENOTSUPP);
	}
}

static void test_percpu_array(void **state)
{
	struct bpftime_shm *shm = *state;
	int ncpus = bpftime_shm__ncpus(shm), fd = mkmap(shm, BPFTIME_MAP_PERCPU_ARRAY, 4, 4, 4, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	struct bpftime_map_info info;
	uint64_t *vals = calloc((size_t)ncpus, 8);
	uint32_t k = 1, *p;

	assert_int_equal(bpftime_map_get_info(shm, fd, &info), 0);
	assert_int_equal(info.value_size_syscall, 8 * ncpus); /* round_up(4, 8) per CPU */
	for (int c = 0; c < ncpus; c++)
		vals[c] = 100 + (uint64_t)c;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, vals, 0), 0);
	/* in program: this CPU's slot */
	p = bpftime_map__lookup_elem(h, &k);
	assert_non_null(p);
	assert_true(*p >= 100 && *p < 100 + (uint32_t)ncpus);
	for (int c = 0; c < ncpus; c++)
		assert_int_equal(*(uint32_t *)bpftime_map__lookup_percpu_elem(h, &k, (uint32_t)c),
				 100 + c);
	assert_null(bpftime_map__lookup_percpu_elem(h, &k, (uint32_t)ncpus));
	*(uint32_t *)bpftime_map__lookup_percpu_elem(h, &k, 0) = 7;
	memset(vals, 0xff, (size_t)ncpus * 8);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, vals, 0), 0);
	assert_int_equal((uint32_t)vals[0], 7);
	free(vals);
}

static void test_hash(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm);
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 16, 8, 100, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	char key[16] = { 0 }, next[16];
	uint64_t v, seen[100] = { 0 };
	int n = 0;

	for (uint32_t i = 0; i < 100; i++) {
		memcpy(key, &i, 4);
		v = i * 10;
		assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, BPFTIME_NOEXIST), 0);
	}
	/* full: new keys fail with E2BIG, existing ones can still be replaced */
	memset(key, 0xee, sizeof(key));
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, 0), -E2BIG);
	memset(key, 0, sizeof(key));
	key[0] = 5;
	v = 555;
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, BPFTIME_NOEXIST), -EEXIST);
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, BPFTIME_EXIST), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, 0), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, key, &v, 0), 0);
	assert_int_equal(v, 555);
	assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(h, key), 555);
	key[0] = (char)200;
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, BPFTIME_EXIST), -ENOENT);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, key, &v, 0), -ENOENT);
	assert_null(bpftime_map__lookup_elem(h, key));

	/* iteration visits every key once; an unknown key restarts */
	assert_int_equal(bpftime_map_get_next_key(shm, fd, NULL, next), 0);
	do {
		uint32_t i;

		memcpy(&i, next, 4);
		assert_true(i < 100);
		assert_int_equal(seen[i]++, 0);
		n++;
		memcpy(key, next, 16);
	} while (bpftime_map_get_next_key(shm, fd, key, next) == 0);
	assert_int_equal(n, 100);
	memset(key, 0xab, 16);
	assert_int_equal(bpftime_map_get_next_key(shm, fd, key, next), 0);

	/* delete, lookup_and_delete, reuse of freed elements */
	memset(key, 0, 16);
	key[0] = 7;
	assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, fd, key, &v, 0), 0);
	assert_int_equal(v, 70);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, key), -ENOENT);
	assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, fd, key, &v, 0), -ENOENT);
	for (uint32_t i = 0; i < 100; i++) {
		memcpy(key, &i, 4);
		assert_int_equal(bpftime_map__delete_elem(h, key), i == 7 ? -ENOENT : 0);
	}
	assert_int_equal(bpftime_map_get_next_key(shm, fd, NULL, next), -ENOENT);
	for (uint32_t round = 0; round < 5; round++) {
		for (uint32_t i = 0; i < 100; i++) {
			memcpy(key, &i, 4);
			key[8] = (char)round;
			v = i + round;
			assert_int_equal(bpftime_map__update_elem(h, key, &v, BPFTIME_NOEXIST), 0);
		}
		for (uint32_t i = 0; i < 100; i++) {
			memcpy(key, &i, 4);
			assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(h, key), i + round);
			assert_int_equal(bpftime_map__delete_elem(h, key), 0);
		}
	}
	assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &v, 0), -EINVAL);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(used(shm), base);
}

static void test_hash_big(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 8, 8, 100000, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);

	for (uint64_t i = 0; i < 100000; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ULL, v = i;

		assert_int_equal(bpftime_map__update_elem(h, &k, &v, 0), 0);
	}
	for (uint64_t i = 0; i < 100000; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ULL, *p = bpftime_map__lookup_elem(h, &k);

		assert_non_null(p);
		assert_int_equal(*p, i);
	}
}

/* BPF_F_NO_PREALLOC: memory is taken as the map fills, so a map far larger
 * than the segment can be created; running out is -ENOMEM, not a crash. */
static void test_hash_no_prealloc(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm);
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 8, 8, 1u << 22, BPFTIME_F_NO_PREALLOC);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint64_t k, v, small;
	long err = 0;

	assert_true(fd >= 0);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_HASH, 8, 8, 1u << 22, 0), -ENOMEM);
	small = used(shm);
	for (k = 0; k < 10000; k++)
		assert_int_equal(bpftime_map__update_elem(h, &k, &k, BPFTIME_NOEXIST), 0);
	assert_true(used(shm) > small);
	for (k = 0; k < 10000; k++) {
		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
		assert_int_equal(v, k);
	}
	for (k = 10000; err == 0; k++)
		err = bpftime_map__update_elem(h, &k, &k, 0);
	assert_int_equal(err, -ENOMEM);
	assert_true(k > 500000); /* most of the 64 MiB went to elements */
	/* still consistent: every key stored is found, deletes free slots */
	v = 0;
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &v, &v, 0), 0);
	k = 5;
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), 0);
	k = 1ULL << 40;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &k, 0), 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(used(shm), base);
}

/* A preallocated hash map whose elements do not fit in the free space is
 * created all the same, its elements allocated as it fills (bpftrace's maps
 * ask for more than they use); the segment running out is -ENOMEM at an
 * update, and the map stays consistent. */
static void test_hash_prealloc_too_big(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm), k, v;
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 8, 8, 1u << 21, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	long err = 0;

	assert_true(fd >= 0);
	assert_non_null(h);
	if (used(shm) - base >= (32u << 20)) /* not the ~100 MiB it asked */
		fail_msg("%llu bytes used", (unsigned long long)(used(shm) - base));
	for (k = 0; err == 0; k++)
		err = bpftime_map__update_elem(h, &k, &k, 0);
	assert_int_equal(err, -ENOMEM);
	assert_true(k > 100000);
	for (v = 0; v < k - 1; v += 997) {
		uint64_t got;

		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &v, &got, 0), 0);
		assert_int_equal(got, v);
	}
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
	assert_int_equal(used(shm), base);
}

/* what the maps said (pr_warn), for the tests of their messages */
static char said[4096];

__attribute__((format(printf, 2, 0))) static int capture(enum bpftime_log_level level,
							 const char *fmt, va_list ap)
{
	size_t n = strlen(said);

	(void)level;
	if (n < sizeof(said) - 1)
		vsnprintf(said + n, sizeof(said) - n, fmt, ap);
	return 0;
}

/* LRU maps (plain and per-CPU) too big for the free space are created with
 * their elements allocated as they fill, like the preallocated hash above.
 * Below max_entries nothing is evicted: when the segment runs out first,
 * an update of a new key fails with ENOMEM (said once, naming the setting
 * to raise), every key stored stays, replacing and deleting still work. */
static void test_lru_prealloc_too_big(void **state)
{
	struct bpftime_shm *shm = *state;
	enum bpftime_map_type types[] = { BPFTIME_MAP_LRU_HASH, BPFTIME_MAP_LRU_PERCPU_HASH };
	uint32_t maxes[] = { 1u << 21, 1u << 20 };
	int ncpus = bpftime_shm__ncpus(shm);
	uint64_t *vals = calloc((size_t)ncpus, 8);

	assert_non_null(vals);
	for (int t = 0; t < 2; t++) {
		uint64_t base = used(shm), k, v;
		int fd = mkmap(shm, types[t], 8, 8, maxes[t], 0);
		struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
		bpftime_print_fn prev;
		long err = 0;

		assert_true(fd >= 0);
		assert_non_null(h);
		/* the bucket array and one chunk, not the elements it asked */
		if (used(shm) - base >= (24u << 20))
			fail_msg("%llu bytes used", (unsigned long long)(used(shm) - base));
		said[0] = 0;
		prev = bpftime_set_print(capture);
		for (k = 0; err == 0; k++)
			err = bpftime_map__update_elem(h, &k, &k, 0);
		bpftime_set_print(prev);
		assert_int_equal(err, -ENOMEM);
		assert_true(k > 20000);
		assert_true(k < maxes[t]); /* the segment ran out first */
		if (!strstr(said, "BPFTIME_SHM_MEMORY_MB") || !strstr(said, "cannot grow"))
			fail_msg("the message does not say what to raise: '%s'", said);
		/* nothing was evicted: every key stored is there */
		for (v = 0; v < k - 1; v++) {
			assert_int_equal(bpftime_map_lookup_elem(shm, fd, &v, vals, 0), 0);
			if (t == 0)
				assert_int_equal(vals[0], v);
		}
		/* a replace needs no new element; a delete makes room for one */
		v = 7;
		assert_int_equal(bpftime_map__update_elem(h, &v, &v, BPFTIME_EXIST), 0);
		assert_int_equal(bpftime_map_delete_elem(shm, fd, &v), 0);
		v = 1ULL << 40;
		assert_int_equal(bpftime_map__update_elem(h, &v, &v, 0), 0);
		{
			uint32_t acc = 0, total = 0;

			assert_int_equal(htab_census(h, &acc, &total), 0);
			assert_int_equal(acc, total);
		}
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
		assert_int_equal(used(shm), base);
	}
	free(vals);
}

/* An LRU map created lazily (the free space was short then) that can grow
 * to all its elements later evicts as the kernel's does: it holds exactly
 * max_entries keys once full, the newest among them. */
static void test_lru_lazy_evicts(void **state)
{
	struct bpftime_shm *shm = *state;
	struct bpftime_shm_stats st = { .sz = sizeof(st) };
	uint64_t base = used(shm), lazy;
	int filler, fd, n = 0;
	struct bpftime_map *h;
	uint32_t k, next, v;

	/* an array that leaves 256 KiB free: too little for 5120 elements */
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	filler = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 8,
		       (uint32_t)((st.largest_free - (256u << 10)) / 8), 0);
	assert_true(filler >= 0);
	lazy = used(shm);
	fd = mkmap(shm, BPFTIME_MAP_LRU_HASH, 4, 4, 4096, 0);
	assert_true(fd >= 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	lazy = used(shm) - lazy;
	assert_true(lazy < (192u << 10)); /* not the 5120 elements */
	assert_int_equal(bpftime_handler_close(shm, filler), 0);
	bpftime_shm__reap(shm, true);
	for (k = 0; k < 20000; k++) {
		assert_int_equal(bpftime_map__update_elem(h, &k, &k, 0), 0);
		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
		assert_int_equal(v, k);
		/* below max_entries nothing is evicted */
		if (k < 4096)
			assert_int_equal(htab_count(h), (int)k + 1);
	}
	assert_int_equal(htab_count(h), 4096);
	for (int err = bpftime_map_get_next_key(shm, fd, NULL, &next); !err;
	     err = bpftime_map_get_next_key(shm, fd, &k, &next)) {
		k = next;
		n++;
	}
	assert_int_equal(n, 4096);
	k = 19999;
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(used(shm), base);
}

/* Arrays stay allocated whole (programs get their values without a
 * check): one that does not fit fails at creation with ENOMEM, and says
 * which setting to raise. */
static void test_array_too_big(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm);
	bpftime_print_fn prev;

	said[0] = 0;
	prev = bpftime_set_print(capture);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_ARRAY, 4, 64, 1u << 20, 0), -ENOMEM);
	assert_int_equal(mkmap(shm, BPFTIME_MAP_PERCPU_ARRAY, 4, 4096, 1u << 16, 0), -ENOMEM);
	bpftime_set_print(prev);
	if (!strstr(said, "map 'm' (type 2, 1048576 entries, key 4, value 64 bytes) does not "
			  "fit") ||
	    !strstr(said, "raise BPFTIME_SHM_MEMORY_MB") || !strstr(said, "type 6, 65536"))
		fail_msg("unclear: '%s'", said);
	assert_int_equal(used(shm), base);
}

static void test_percpu_hash(void **state)
{
	struct bpftime_shm *shm = *state;
	int ncpus = bpftime_shm__ncpus(shm);
	int fd = mkmap(shm, BPFTIME_MAP_PERCPU_HASH, 4, 8, 10, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint64_t *vals = calloc((size_t)ncpus, 8), one = 1;
	uint32_t k = 3, cpu = (uint32_t)sched_getcpu();
	uint64_t *p;

	/* in program, a new element gets our CPU's value, others zero */
	assert_int_equal(bpftime_map__update_elem(h, &k, &one, BPFTIME_NOEXIST), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, vals, 0), 0);
	{
		uint64_t sum = 0;

		for (int c = 0; c < ncpus; c++)
			sum += vals[c];
		assert_int_equal(sum, 1);
	}
	for (int c = 0; c < ncpus; c++)
		vals[c] = (uint64_t)c + 10;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, vals, BPFTIME_EXIST), 0);
	p = bpftime_map__lookup_elem(h, &k);
	assert_true(*p >= 10 && *p < 10 + (uint64_t)ncpus);
	for (int c = 0; c < ncpus; c++)
		assert_int_equal(*(uint64_t *)bpftime_map__lookup_percpu_elem(h, &k, (uint32_t)c),
				 c + 10);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, vals, BPFTIME_F_LOCK), -EINVAL);
	(void)cpu;
	free(vals);
}

static void test_lru(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_LRU_HASH, 4, 4, 64, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint32_t hot = 1000000, v = 1, k, next;
	int n = 0;

	assert_int_equal(bpftime_map_update_elem(shm, fd, &hot, &v, 0), 0);
	for (k = 0; k < 1000; k++) {
		assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &k, 0), 0);
		/* the newest key is always there (a syscall lookup does not mark
		 * it used); the key programs keep using survives */
		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
		assert_int_equal(v, k);
		assert_non_null(bpftime_map__lookup_elem(h, &hot));
	}
	if (bpftime_map_get_next_key(shm, fd, NULL, &next) == 0) {
		do {
			n++;
			k = next;
		} while (bpftime_map_get_next_key(shm, fd, &k, &next) == 0);
	}
	assert_int_equal(n, 64);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &hot, &v, BPFTIME_NOEXIST), -EEXIST);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &hot), 0);
	assert_null(bpftime_map__lookup_elem(h, &hot));

	/* per-CPU LRU */
	fd = mkmap(shm, BPFTIME_MAP_LRU_PERCPU_HASH, 4, 4, 8, 0);
	h = bpftime_map_get_handle(shm, fd);
	for (k = 0; k < 100; k++)
		assert_int_equal(bpftime_map__update_elem(h, &k, &k, 0), 0);
	k = 99;
	assert_int_equal(*(uint32_t *)bpftime_map__lookup_elem(h, &k), 99);
}

static int count_keys(struct bpftime_shm *shm, int fd)
{
	uint32_t k, next;
	int n = 0;

	if (bpftime_map_get_next_key(shm, fd, NULL, &next) == 0) {
		do {
			n++;
			k = next;
		} while (bpftime_map_get_next_key(shm, fd, &k, &next) == 0);
	}
	return n;
}

/* The lock groups' spare elements (hash.c): replacing a key in a full map
 * goes through them and evicts nothing, a delete parks its element there
 * and the next insert takes it, and neither lets a map hold more than
 * max_entries keys. */
static void test_hash_spares(void **state)
{
	struct bpftime_shm *shm = *state;
	int lfd = mkmap(shm, BPFTIME_MAP_LRU_HASH, 4, 4, 64, 0);
	int hfd = mkmap(shm, BPFTIME_MAP_HASH, 4, 4, 16, 0);
	struct bpftime_map *lh = bpftime_map_get_handle(shm, lfd);
	uint32_t k, v;

	assert_true(lfd >= 0 && hfd >= 0);
	for (k = 0; k < 64; k++)
		assert_int_equal(bpftime_map_update_elem(shm, lfd, &k, &k, 0), 0);
	for (int r = 0; r < 1000; r++) {
		k = (uint32_t)r % 64;
		v = (uint32_t)r;
		assert_int_equal(r & 1 ? bpftime_map_update_elem(shm, lfd, &k, &v, BPFTIME_EXIST)
				       : (int)bpftime_map__update_elem(lh, &k, &v, 0),
				 0);
	}
	for (k = 0; k < 64; k++) {
		assert_int_equal(bpftime_map_lookup_elem(shm, lfd, &k, &v, 0), 0);
		assert_int_equal(v % 64, k);
	}
	/* new keys evict; the count never passes max_entries */
	for (k = 64; k < 1064; k++) {
		assert_int_equal(bpftime_map_update_elem(shm, lfd, &k, &k, 0), 0);
		if (k % 100 == 0)
			assert_int_equal(count_keys(shm, lfd), 64);
	}
	assert_int_equal(count_keys(shm, lfd), 64);
	/* deletes park elements in their lock groups; inserts of other keys
	 * (other groups) find them instead of evicting, and a full map's
	 * inserts still evict */
	for (k = 0; k < 1064; k++)
		(void)bpftime_map_delete_elem(shm, lfd, &k);
	assert_int_equal(count_keys(shm, lfd), 0);
	for (k = 5000; k < 5064; k++)
		assert_int_equal(bpftime_map_update_elem(shm, lfd, &k, &k, BPFTIME_NOEXIST), 0);
	for (k = 5000; k < 5064; k++)
		assert_int_equal(bpftime_map_lookup_elem(shm, lfd, &k, &v, 0), 0);
	for (k = 6000; k < 6100; k++)
		assert_int_equal(bpftime_map_update_elem(shm, lfd, &k, &k, 0), 0);
	assert_int_equal(count_keys(shm, lfd), 64);

	for (k = 0; k < 16; k++)
		assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, &k, 0), 0);
	for (int r = 0; r < 1000; r++) {
		k = (uint32_t)r % 16;
		assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, &r, 0), 0);
		if (r % 3 == 0) {
			/* delete and insert another key: the spare moves */
			assert_int_equal(bpftime_map_delete_elem(shm, hfd, &k), 0);
			v = 100 + k;
			assert_int_equal(bpftime_map_update_elem(shm, hfd, &v, &v, BPFTIME_NOEXIST),
					 0);
			assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, &k, 0), -E2BIG);
			assert_int_equal(bpftime_map_delete_elem(shm, hfd, &v), 0);
			assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, &r, 0), 0);
		}
		assert_int_equal(count_keys(shm, hfd), 16);
	}
	for (k = 0; k < 16; k++) {
		assert_int_equal(bpftime_map_lookup_elem(shm, hfd, &k, &v, 0), 0);
		assert_int_equal(v % 16, k);
	}
}

struct fill_arg {
	struct bpftime_shm *shm;
	int fd;
	uint32_t first;
	int ok;
};

static void *fill_thread(void *p)
{
	struct fill_arg *a = p;

	for (uint32_t k = a->first; k < a->first + 16; k++)
		if (bpftime_map_update_elem(a->shm, a->fd, &k, &k, BPFTIME_NOEXIST) == 0)
			a->ok++;
	return NULL;
}

/* Inserts racing for the last places of a hash map under different bucket
 * locks: exactly max_entries of them succeed. */
static void test_hash_full_race(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 4, 4, 8, 0);

	assert_true(fd >= 0);
	for (int round = 0; round < 1000; round++) {
		struct fill_arg a[4];
		pthread_t t[4];
		int ok = 0;
		uint32_t k, next;

		for (int i = 0; i < 4; i++) {
			a[i] = (struct fill_arg){ shm, fd, (uint32_t)i * 1000, 0 };
			assert_int_equal(pthread_create(&t[i], NULL, fill_thread, &a[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			ok += a[i].ok;
		}
		assert_int_equal(ok, 8);
		assert_int_equal(count_keys(shm, fd), 8);
		while (bpftime_map_get_next_key(shm, fd, NULL, &next) == 0) {
			k = next;
			assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), 0);
		}
	}
}

static void test_spin_lock(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .has_spin_lock = true, .spin_lock_off = 4);
	int afd = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "a", 4, 12, 2, &o);
	int hfd = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "h", 4, 12, 2, &o);
	uint32_t k = 1, v[3] = { 11, 0xffffffff, 33 }, out[3];

	assert_true(afd >= 0 && hfd >= 0);
	{
		struct bpftime_map_info info;

		assert_int_equal(bpftime_map_get_info(shm, afd, &info), 0);
		assert_true(info.has_spin_lock);
		assert_int_equal(info.spin_lock_off, 4);
	}
	assert_int_equal(bpftime_map_update_elem(shm, afd, &k, v, BPFTIME_F_LOCK), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, afd, &k, out, BPFTIME_F_LOCK), 0);
	assert_int_equal(out[0], 11);
	assert_int_equal(out[1], 0); /* the lock word is never copied out */
	assert_int_equal(out[2], 33);
	assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, v, BPFTIME_F_LOCK | BPFTIME_NOEXIST),
			 0);
	assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, v, BPFTIME_F_LOCK | BPFTIME_NOEXIST),
			 -EEXIST);
	v[0] = 12;
	assert_int_equal(bpftime_map_update_elem(shm, hfd, &k, v, BPFTIME_F_LOCK), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, hfd, &k, out, BPFTIME_F_LOCK), 0);
	assert_int_equal(out[0], 12);
	assert_int_equal(out[1], 0);
	o.spin_lock_off = 10;
	assert_int_equal(bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "a", 4, 12, 2, &o),
			 -EINVAL);
}

struct lock_val {
	uint32_t lock; /* struct bpf_spin_lock */
	uint32_t pad;
	uint64_t counter;
};

static void *locked_adder(void *arg)
{
	struct lock_val *v = arg;

	for (int i = 0; i < 100000; i++) {
		bpftime_spin_lock(&v->lock);
		v->counter++;
		bpftime_spin_unlock(&v->lock);
	}
	return NULL;
}

/* bpf_spin_lock excludes, and a lock whose holder was SIGKILLed is taken
 * over instead of wedging the value (and BPF_F_LOCK syscall updates). */
static void test_spin_lock_dead_owner(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .has_spin_lock = true, .spin_lock_off = 0);
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "l", 4, 16, 1, &o);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint32_t k = 0;
	struct lock_val *v = bpftime_map__lookup_elem(h, &k), nv = { 0, 0, 99 };
	pthread_t t[2];
	int pfd[2];
	char c;
	pid_t pid;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, locked_adder, v);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(v->counter, 200000);

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		bpftime_spin_lock(&v->lock);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(v->lock, (uint32_t)pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &nv, BPFTIME_F_LOCK), 0);
	assert_int_equal(v->counter, 99);
	assert_int_equal(v->lock, 0);
	close(pfd[0]);
	close(pfd[1]);
}

struct ip4_key {
	uint32_t plen;
	uint8_t ip[4];
};

static void test_lpm(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_LPM_TRIE, 8, 4, 4, BPFTIME_F_NO_PREALLOC);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	struct ip4_key k8 = { 8, { 10 } }, k16 = { 16, { 10, 1 } }, k24 = { 24, { 10, 1, 1 } },
		       k0 = { 0, { 0 } }, q = { 32, { 10, 1, 1, 7 } }, nk;
	uint32_t v;

	assert_int_equal(mkmap(shm, BPFTIME_MAP_LPM_TRIE, 8, 4, 4, 0), -EINVAL);
	v = 8;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k8, &v, 0), 0);
	v = 16;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k16, &v, 0), 0);
	v = 24;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k24, &v, 0), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &q, &v, 0), 0);
	assert_int_equal(v, 24);
	q.ip[2] = 2; /* 10.1.2.7 */
	assert_int_equal(*(uint32_t *)bpftime_map__lookup_elem(h, &q), 16);
	q.ip[1] = 9; /* 10.9.2.7 */
	assert_int_equal(*(uint32_t *)bpftime_map__lookup_elem(h, &q), 8);
	q.ip[0] = 11;
	assert_null(bpftime_map__lookup_elem(h, &q));
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &q, &v, 0), -ENOENT);
	v = 0;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k0, &v, 0), 0);
	assert_int_equal(*(uint32_t *)bpftime_map__lookup_elem(h, &q), 0);
	/* full: a new prefix is refused, replacing one is fine */
	nk = (struct ip4_key){ 12, { 192, 160 } };
	assert_int_equal(bpftime_map_update_elem(shm, fd, &nk, &v, 0), -ENOSPC);
	v = 88;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k8, &v, BPFTIME_EXIST), 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k8, &v, BPFTIME_NOEXIST), -EEXIST);
	nk.plen = 33;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &nk, &v, 0), -EINVAL);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k8, &v, 4), -EINVAL);
	/* iteration: more specific prefixes first */
	assert_int_equal(bpftime_map_get_next_key(shm, fd, NULL, &nk), 0);
	assert_memory_equal(&nk, &k24, sizeof(nk));
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &nk, &nk), 0);
	assert_memory_equal(&nk, &k16, sizeof(nk));
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &nk, &nk), 0);
	assert_memory_equal(&nk, &k8, sizeof(nk));
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &nk, &nk), 0);
	assert_memory_equal(&nk, &k0, sizeof(nk));
	assert_int_equal(bpftime_map_get_next_key(shm, fd, &nk, &nk), -ENOENT);
	/* bits past the prefix: same entry, and iteration returns the key as
	 * last given (as the kernel stores it) */
	{
		struct ip4_key odd = { 16, { 10, 1, 7, 9 } }, got;

		assert_int_equal(bpftime_map_update_elem(shm, fd, &odd, &v, BPFTIME_NOEXIST),
				 -EEXIST);
		assert_int_equal(bpftime_map_update_elem(shm, fd, &odd, &v, BPFTIME_EXIST), 0);
		assert_int_equal(bpftime_map_get_next_key(shm, fd, &k24, &got), 0);
		assert_memory_equal(&got, &odd, sizeof(got));
	}
	/* delete is exact */
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k16), 0);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k16), -ENOENT);
	q = (struct ip4_key){ 32, { 10, 1, 2, 7 } };
	assert_int_equal(*(uint32_t *)bpftime_map__lookup_elem(h, &q), 88);
}

static void test_queue_stack(void **state)
{
	struct bpftime_shm *shm = *state;
	int qfd = mkmap(shm, BPFTIME_MAP_QUEUE, 0, 4, 3, 0);
	int sfd = mkmap(shm, BPFTIME_MAP_STACK, 0, 4, 3, 0);
	struct bpftime_map *qh = bpftime_map_get_handle(shm, qfd);
	struct bpftime_map *sh = bpftime_map_get_handle(shm, sfd);
	uint32_t v, k = 0;

	assert_int_equal(bpftime_map_lookup_elem(shm, qfd, NULL, &v, 0), -ENOENT);
	assert_int_equal(bpftime_map__pop_elem(qh, &v), -ENOENT);
	for (v = 1; v <= 3; v++) {
		assert_int_equal(bpftime_map_update_elem(shm, qfd, NULL, &v, 0), 0);
		assert_int_equal(bpftime_map__push_elem(sh, &v, 0), 0);
	}
	assert_int_equal(bpftime_map_update_elem(shm, qfd, NULL, &v, 0), -E2BIG);
	assert_int_equal(bpftime_map__push_elem(sh, &v, BPFTIME_NOEXIST), -EINVAL);
	assert_int_equal(bpftime_map_delete_elem(shm, qfd, &k), -EINVAL);
	assert_int_equal(bpftime_map_get_next_key(shm, qfd, NULL, &k), -EINVAL);
	assert_int_equal(bpftime_map_lookup_elem(shm, qfd, NULL, &v, 0), 0);
	assert_int_equal(v, 1);
	assert_int_equal(bpftime_map__peek_elem(sh, &v), 0);
	assert_int_equal(v, 3);
	/* BPF_EXIST on a full queue/stack overwrites the oldest */
	v = 4;
	assert_int_equal(bpftime_map__push_elem(qh, &v, BPFTIME_EXIST), 0);
	assert_int_equal(bpftime_map__push_elem(sh, &v, BPFTIME_EXIST), 0);
	for (uint32_t want = 2; want <= 4; want++) {
		assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, qfd, NULL, &v, 0), 0);
		assert_int_equal(v, want);
	}
	assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, qfd, NULL, &v, 1), -EINVAL);
	assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, qfd, NULL, &v, 0), -ENOENT);
	{
		uint32_t want[] = { 4, 3, 2 };

		for (int i = 0; i < 3; i++) {
			assert_int_equal(bpftime_map__pop_elem(sh, &v), 0);
			assert_int_equal(v, want[i]);
		}
	}
	assert_int_equal(bpftime_map__pop_elem(sh, &v), -ENOENT);
}

static void test_bloom(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_extra = 3);
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_BLOOM_FILTER, "b", 0, 8, 1000, &o);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	int fp = 0;

	assert_true(fd >= 0);
	o.map_extra = 16;
	assert_int_equal(bpftime_map_create(shm, -1, BPFTIME_MAP_BLOOM_FILTER, "b", 0, 8, 10, &o),
			 -EINVAL);
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t v = i * 7919;

		assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &v, 0), 0);
	}
	for (uint64_t i = 0; i < 1000; i++) {
		uint64_t v = i * 7919;

		assert_int_equal(bpftime_map_lookup_elem(shm, fd, NULL, &v, 0),
				 0); /* no false negatives */
		v = i * 7919 + 1;
		if (bpftime_map__peek_elem(h, &v) == 0)
			fp++;
	}
	assert_true(fp < 100); /* ~ (1 - e^(-kn/m))^k, about 5% here */
	assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &fp, BPFTIME_EXIST), -EINVAL);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, NULL), -EOPNOTSUPP);
}

/* A consumer written from the kernel's documented ring buffer protocol
 * (what libbpf's ring_buffer__consume does) over a mapping made the way the
 * syscall server makes it. */
struct rb_view {
	char *base; /* consumer page */
	size_t len;
	uint64_t *cons, *prod;
	char *data;
	uint64_t mask;
};

static void rb_map(struct bpftime_shm *shm, int fd, struct rb_view *v)
{
	uint64_t off;
	size_t len, ps = 4096, size;
	char *p;

	assert_int_equal(bpftime_map_mmap_region(shm, fd, &off, &len), 0);
	size = len - 2 * ps;
	p = mmap(NULL, 2 * ps + 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_true(mmap(p, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 bpftime_shm__fd(shm), (off_t)off) != MAP_FAILED);
	assert_true(mmap(p + ps, ps + size, PROT_READ, MAP_SHARED | MAP_FIXED, bpftime_shm__fd(shm),
			 (off_t)(off + ps)) != MAP_FAILED);
	assert_true(mmap(p + 2 * ps + size, size, PROT_READ, MAP_SHARED | MAP_FIXED,
			 bpftime_shm__fd(shm), (off_t)(off + 2 * ps)) != MAP_FAILED);
	v->base = p;
	v->len = 2 * ps + 2 * size;
	v->cons = (uint64_t *)(void *)p;
	v->prod = (uint64_t *)(void *)(p + ps);
	v->data = p + 2 * ps;
	v->mask = size - 1;
}

/* returns the number of records consumed; copies the last one to last */
static int rb_consume(struct rb_view *v, char *last, uint32_t *last_len)
{
	uint64_t c = __atomic_load_n(v->cons, __ATOMIC_ACQUIRE);
	int n = 0;

	while (c < __atomic_load_n(v->prod, __ATOMIC_ACQUIRE)) {
		uint32_t *hdr = (uint32_t *)(void *)(v->data + (c & v->mask));
		uint32_t l = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);

		if (l & BPFTIME_RINGBUF_BUSY_BIT)
			break;
		c += ((l & ~BPFTIME_RINGBUF_DISCARD_BIT) + 8 + 7) & ~7u;
		if (!(l & BPFTIME_RINGBUF_DISCARD_BIT)) {
			memcpy(last, hdr + 2, l);
			*last_len = l;
			n++;
		}
		__atomic_store_n(v->cons, c, __ATOMIC_RELEASE);
	}
	return n;
}

/* consumes at most one record; 1 if one was copied out */
static int rb_consume_one(struct rb_view *v, char *out, uint32_t *out_len)
{
	uint64_t c = __atomic_load_n(v->cons, __ATOMIC_ACQUIRE);

	while (c < __atomic_load_n(v->prod, __ATOMIC_ACQUIRE)) {
		uint32_t *hdr = (uint32_t *)(void *)(v->data + (c & v->mask));
		uint32_t l = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);

		if (l & BPFTIME_RINGBUF_BUSY_BIT)
			return 0;
		c += ((l & ~BPFTIME_RINGBUF_DISCARD_BIT) + 8 + 7) & ~7u;
		if (!(l & BPFTIME_RINGBUF_DISCARD_BIT))
			memcpy(out, hdr + 2, l);
		__atomic_store_n(v->cons, c, __ATOMIC_RELEASE);
		if (!(l & BPFTIME_RINGBUF_DISCARD_BIT)) {
			*out_len = l;
			return 1;
		}
	}
	return 0;
}

static void test_ringbuf(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_RINGBUF, 0, 0, 4096, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	struct rb_view v;
	char buf[4096];
	uint32_t len = 0;
	char *r1, *r2;
	uint32_t seq0 = bpftime_shm__data_seq(shm);

	assert_true(fd >= 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, NULL, buf, 0), -ENOTSUPP);
	rb_map(shm, fd, &v);
	assert_int_equal(bpftime_map__ringbuf_query(h, BPFTIME_RB_RING_SIZE), 4096);
	r1 = bpftime_map__ringbuf_reserve(h, 5, 0);
	r2 = bpftime_map__ringbuf_reserve(h, 100, 0);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_null(bpftime_map__ringbuf_reserve(h, 1, 1)); /* flags must be 0 */
	memcpy(r2, "second", 7);
	bpftime_ringbuf_submit(r2, 0);
	/* the first record is still busy: nothing is consumable yet */
	assert_int_equal(rb_consume(&v, buf, &len), 0);
	memcpy(r1, "first", 5);
	bpftime_ringbuf_discard(r1, 0);
	assert_int_equal(rb_consume(&v, buf, &len), 1);
	assert_int_equal(len, 100);
	assert_string_equal(buf, "second");
	assert_true(bpftime_shm__data_seq(shm) != seq0);
	/* wrap around many times: records stay contiguous */
	for (int i = 0; i < 500; i++) {
		char msg[300];

		memset(msg, 'a' + i % 26, sizeof(msg));
		snprintf(msg, 16, "rec %d", i);
		assert_int_equal(bpftime_map__ringbuf_output(h, msg, 100 + (uint64_t)i % 200, 0),
				 0);
		assert_int_equal(rb_consume(&v, buf, &len), 1);
		assert_int_equal(len, 100 + i % 200);
		assert_memory_equal(buf, msg, len);
	}
	assert_int_equal(bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA), 0);
	/* full: reserve fails until the consumer catches up */
	while (bpftime_map__ringbuf_reserve(h, 1000, 0))
		;
	while (bpftime_map__ringbuf_reserve(h, 1, 0))
		;
	assert_int_equal(bpftime_map__ringbuf_output(h, buf, 1, 0), -EAGAIN);
	assert_true(bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA) > 3000);
	assert_int_equal(bpftime_map__ringbuf_query(h, BPFTIME_RB_PROD_POS) -
				 bpftime_map__ringbuf_query(h, BPFTIME_RB_CONS_POS),
			 bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA));
	munmap(v.base, v.len);
}

/* A producer in another process (its own double mapping of the data pages)
 * and a consumer here that sleeps on the segment's data sequence. */
static void test_ringbuf_cross_process(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_RINGBUF, 0, 0, 8192, 0);
	struct rb_view v;
	char buf[256];
	uint32_t len = 0, seq;
	int got = 0, st;
	pid_t pid;

	rb_map(shm, fd, &v);
	seq = bpftime_shm__data_seq(shm);
	pid = fork();
	if (pid == 0) {
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		struct bpftime_shm *s = bpftime_shm__open(&o);
		struct bpftime_map *h = s ? bpftime_map_get_handle(s, fd) : NULL;

		if (!h)
			_exit(1);
		for (int i = 0; i < 1000; i++) {
			char msg[200];

			memset(msg, 'a' + i % 26, sizeof(msg));
			memcpy(msg, &i, sizeof(i));
			while (bpftime_map__ringbuf_output(h, msg, 64 + (uint64_t)i % 130, 0))
				usleep(100); /* full: let the consumer catch up */
		}
		_exit(0);
	}
	while (got < 1000) {
		int n, i;

		if (bpftime_shm__wait_data(shm, seq, 5000) == -ETIMEDOUT)
			break;
		seq = bpftime_shm__data_seq(shm);
		while ((n = rb_consume_one(&v, buf, &len)) > 0) {
			memcpy(&i, buf, sizeof(i));
			assert_int_equal(i, got);
			assert_int_equal(len, 64 + got % 130);
			assert_int_equal(buf[len - 1], 'a' + got % 26);
			got++;
		}
	}
	assert_int_equal(got, 1000);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	munmap(v.base, v.len);
}

/* A producer killed between reserve and submit: its BUSY record would hold
 * the consumer forever; once the ring is full, a producer discards it. */
static void test_ringbuf_dead_reserver(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_RINGBUF, 0, 0, 4096, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	struct rb_view v;
	char buf[4096];
	uint32_t len;
	int pfd[2], n = 0;
	pid_t pid;
	char c;

	rb_map(shm, fd, &v);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		struct bpftime_shm *s = bpftime_shm__open(&o);
		struct bpftime_map *ch = s ? bpftime_map_get_handle(s, fd) : NULL;

		if (!ch || !bpftime_map__ringbuf_reserve(ch, 100, 0) || write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause(); /* never submits */
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* records behind the dead one are not consumable yet */
	assert_int_equal(bpftime_map__ringbuf_output(h, "after", 5, 0), 0);
	assert_int_equal(rb_consume(&v, buf, &len), 0);
	/* fill the ring: the full producer discards the dead record */
	while (bpftime_map__ringbuf_output(h, buf, 200, 0) == 0)
		;
	n = rb_consume(&v, buf, &len);
	assert_true(n > 10);
	assert_int_equal(bpftime_map__ringbuf_output(h, "again", 5, 0), 0);
	assert_int_equal(rb_consume(&v, buf, &len), 1);
	assert_memory_equal(buf, "again", 5);
	munmap(v.base, v.len);
	close(pfd[0]);
	close(pfd[1]);
}

/* the drops the PERF_RECORD_LOST records in [from, to) of the perf ring
 * (a 4096-byte data area after the meta page) report */
static uint64_t sum_lost(const char *ring, uint64_t from, uint64_t to)
{
	uint64_t n = 0;

	while (from < to) {
		char rec[24];
		uint32_t type;
		uint16_t size;

		for (int i = 0; i < 24; i++)
			rec[i] = ring[4096 + ((from + (uint64_t)i) & 4095)];
		memcpy(&type, rec, 4);
		memcpy(&size, rec + 6, 2);
		if (type == 2) {
			uint64_t l;

			memcpy(&l, rec + 16, 8);
			n += l;
		}
		assert_true(size >= 8);
		from += size;
	}
	return n;
}

static void test_perf_event_array(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_PERF_EVENT_ARRAY, 4, 4, 2, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	BPFTIME_OPTS(bpftime_perf_event_opts, pe, .type = BPFTIME_PERF_TYPE_SOFTWARE, .cpu = 0,
		     .config = 10);
	int efd = bpftime_perf_event_create(shm, -1, &pe), pfd;
	uint32_t k = 0, v = (uint32_t)efd;
	uint64_t off;
	char *ring;
	struct bpftime_insn insn[2] = { { .code = 0xb7 }, { .code = 0x95 } };

	assert_int_equal(bpftime_map__perf_event_output(h, 0, "x", 1), -ENOENT);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), -ENOTSUPP);
	assert_int_equal(bpftime_map__perf_event_output(h, 0, "x", 1), -ENOENT); /* no ring yet */
	assert_int_equal(bpftime_perf_event_mmap_ring(shm, efd, 4096 * 2, &off), 0);
	assert_int_equal(bpftime_map__perf_event_output(h, 0, "hello", 5), 0);
	assert_int_equal(bpftime_map__perf_event_output(h, 5, "hello", 5), -E2BIG);
	ring = (char *)mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, bpftime_shm__fd(shm),
			    (off_t)off);
	assert_true(ring != MAP_FAILED);
	{
		uint64_t head = *(uint64_t *)(void *)(ring + 1024);
		char *rec = ring + *(uint64_t *)(void *)(ring + 1040);
		uint32_t type, raw;
		uint16_t size;

		assert_int_equal(head, 24);
		memcpy(&type, rec, 4);
		memcpy(&size, rec + 6, 2);
		memcpy(&raw, rec + 8, 4);
		assert_int_equal(type, 9); /* PERF_RECORD_SAMPLE */
		assert_int_equal(size, 24);
		assert_int_equal(raw, 12); /* 5 bytes padded so the record is 8-aligned */
		assert_memory_equal(rec + 12, "hello", 5);
	}
	/* fill it: the producer drops records rather than overwriting; the
	 * first drop is reported at once in a PERF_RECORD_LOST (a sample
	 * always leaves room for one), later ones before the next record */
	{
		uint64_t tail = *(uint64_t *)(void *)(ring + 1032), head, lost = 0;

		while (bpftime_map__perf_event_output(h, 0, ring, 100) == 0)
			;
		assert_int_equal(bpftime_map__perf_event_output(h, 0, ring, 100), -ENOSPC);
		assert_int_equal(bpftime_map__perf_event_output(h, 0, ring, 100), -ENOSPC);
		head = *(uint64_t *)(void *)(ring + 1024);
		lost += sum_lost(ring, tail, head);
		assert_int_equal(lost, 1);		   /* the first drop, at once */
		*(uint64_t *)(void *)(ring + 1032) = head; /* consume all */
		assert_int_equal(bpftime_map__perf_event_output(h, 0, "x", 1), 0);
		tail = head;
		head = *(uint64_t *)(void *)(ring + 1024);
		lost += sum_lost(ring, tail, head);
		assert_int_equal(lost, 3); /* the two later drops, before the next record */
		assert_int_equal(head, tail + 24 + 16);
		*(uint64_t *)(void *)(ring + 1032) = head;
	}
	k = 1;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0),
			 0); /* same event at index 1 */
	k = 0;
	assert_int_equal(bpftime_map__perf_event_output(h, BPFTIME_F_CURRENT_CPU, "again", 5),
			 sched_getcpu() < 2 ? 0 : -E2BIG);
	munmap(ring, 8192);
	/* only perf events go in */
	pfd = bpftime_prog_create(shm, -1, 1, "p", insn, 2, NULL);
	v = (uint32_t)pfd;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), -EBADF);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), 0);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), -ENOENT);
}

static void test_prog_array(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_PROG_ARRAY, 4, 4, 4, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	struct bpftime_insn insn[2] = { { .code = 0xb7 }, { .code = 0x95 } };
	int pfd = bpftime_prog_create(shm, -1, 1, "p", insn, 2, NULL);
	struct bpftime_handler_info info;
	uint32_t k = 2, v = (uint32_t)pfd, id;

	assert_int_equal(bpftime_handler_get_info(shm, pfd, &info), 0);
	assert_int_equal(bpftime_map__prog_array_get(h, 2), 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, BPFTIME_NOEXIST), -EINVAL);
	assert_int_equal(bpftime_map__prog_array_get(h, 2), info.id);
	assert_int_equal(bpftime_map__prog_array_get(h, 9), 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &id, 0), 0);
	assert_int_equal(id, info.id);
	v = (uint32_t)fd; /* a map is not a program */
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), -EINVAL);
	v = 250;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), -EBADF);
	k = 7;
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, &v, 0), -E2BIG);
	/* the map holds the program: closing its fd keeps it for tail calls */
	assert_int_equal(bpftime_handler_close(shm, pfd), 0);
	assert_int_equal(bpftime_map__prog_array_get(h, 2), info.id);
	k = 2;
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), 0);
	assert_int_equal(bpftime_map__prog_array_get(h, 2), 0);
}

/* A program holds the maps it is bound to (BPF_PROG_BIND_MAP, used_maps). */
static void test_prog_bind_map(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm);
	struct bpftime_insn insn[2] = { { .code = 0xb7 }, { .code = 0x95 } };
	int pfd = bpftime_prog_create(shm, -1, 1, "p", insn, 2, NULL);
	int mfd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 8, 4, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, mfd);
	struct bpftime_map_info info;
	uint32_t ids[4], k = 1;
	uint64_t v = 77;

	assert_int_equal(bpftime_map_get_info(shm, mfd, &info), 0);
	assert_int_equal(bpftime_prog_bind_map(shm, pfd, mfd), 0);
	assert_int_equal(bpftime_prog_bind_map(shm, pfd, mfd), 0);
	assert_int_equal(bpftime_prog_bind_map(shm, mfd, mfd), -EBADF);
	assert_int_equal(bpftime_prog_bind_map(shm, pfd, pfd), -EBADF);
	assert_int_equal(bpftime_prog_map_ids(shm, pfd, ids, 4), 1);
	assert_int_equal(ids[0], info.id);
	/* the loader closes the map fd: the program's map stays */
	assert_int_equal(bpftime_map_update_elem(shm, mfd, &k, &v, 0), 0);
	assert_int_equal(bpftime_handler_close(shm, mfd), 0);
	assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(h, &k), 77);
	assert_true(used(shm) > base);
	assert_int_equal(bpftime_handler_close(shm, pfd), 0);
	assert_int_equal(used(shm), base);
}

static void test_map_in_map(void **state)
{
	struct bpftime_shm *shm = *state;
	uint64_t base = used(shm);
	int inner = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 8, 4, 0);
	int other = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 8, 4, 0);
	int wrong = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 4, 0);
	BPFTIME_OPTS(bpftime_map_create_opts, o, .inner_map_fd = inner);
	int aom = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "aom", 4, 4, 2, &o);
	int hom = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH_OF_MAPS, "hom", 8, 4, 2, &o);
	struct bpftime_map *ha = bpftime_map_get_handle(shm, aom),
			   *hh = bpftime_map_get_handle(shm, hom);
	struct bpftime_map *in;
	struct bpftime_map_info info;
	uint32_t k = 1, v = (uint32_t)other, id, ik = 3;
	uint64_t hk = 77, val = 1234;

	assert_true(aom >= 0 && hom >= 0);
	assert_int_equal(bpftime_map_get_info(shm, aom, &info), 0);
	assert_int_equal(info.inner_map_type, BPFTIME_MAP_ARRAY);
	assert_int_equal(info.inner_value_size, 8);
	assert_int_equal(bpftime_map_update_elem(shm, aom, &k, &v, 0), 0);
	assert_int_equal(bpftime_map_update_elem(shm, hom, &hk, &v, 0), 0);
	v = (uint32_t)wrong;
	assert_int_equal(bpftime_map_update_elem(shm, aom, &k, &v, 0), -EINVAL);
	assert_int_equal(bpftime_map_update_elem(shm, hom, &hk, &v, 0), -EINVAL);
	assert_int_equal(bpftime_map_lookup_elem(shm, aom, &k, &id, 0), 0);
	assert_int_equal(bpftime_map_get_info(shm, other, &info), 0);
	assert_int_equal(id, info.id);
	assert_int_equal(bpftime_map_lookup_elem(shm, hom, &hk, &id, 0), 0);
	assert_int_equal(id, info.id);
	/* in program: the inner map's handle */
	assert_int_equal(bpftime_map_update_elem(shm, other, &ik, &val, 0), 0);
	in = bpftime_map__lookup_elem(ha, &k);
	assert_non_null(in);
	assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(in, &ik), 1234);
	assert_ptr_equal(bpftime_map__lookup_elem(hh, &hk), in);
	k = 0;
	assert_null(bpftime_map__lookup_elem(ha, &k));
	/* the outer maps keep the inner one alive */
	assert_int_equal(bpftime_handler_close(shm, other), 0);
	assert_int_equal(*(uint64_t *)bpftime_map__lookup_elem(in, &ik), 1234);
	assert_int_equal(bpftime_map_delete_elem(shm, hom, &hk), 0);
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(used(shm), base);
}

static void test_stack_trace(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_STACK_TRACE, 4, 8 * 4, 16, 0);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint64_t ips[6] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 }, out[4];
	long id, id2;
	uint32_t k, next;
	int n = 0;

	assert_int_equal(mkmap(shm, BPFTIME_MAP_STACK_TRACE, 4, 12, 16, 0), -EINVAL);
	id = bpftime_map__stack_store(h, ips, 3, 0);
	assert_true(id >= 0 && id < 16);
	assert_int_equal(bpftime_map__stack_store(h, ips, 3, 0), id); /* same stack, same id */
	k = (uint32_t)id;
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, out, 0), 0);
	assert_int_equal(out[0], 0x11);
	assert_int_equal(out[2], 0x33);
	assert_int_equal(out[3], 0);
	/* skip field and truncation to value_size / 8 */
	id2 = bpftime_map__stack_store(h, ips, 6, 1 | BPFTIME_F_REUSE_STACKID);
	assert_true(id2 >= 0);
	k = (uint32_t)id2;
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, out, 0), 0);
	assert_int_equal(out[0], 0x22);
	assert_int_equal(out[3], 0x55);
	assert_int_equal(bpftime_map__stack_store(h, ips, 0, 0), -EFAULT);
	/* many distinct stacks: collisions without REUSE give EEXIST */
	for (uint64_t i = 0; i < 200; i++) {
		uint64_t s[2] = { i, i * 3 };
		long r = bpftime_map__stack_store(h, s, 2, 0);

		assert_true(r == -EEXIST || (r >= 0 && r < 16));
	}
	if (bpftime_map_get_next_key(shm, fd, NULL, &next) == 0) {
		do {
			n++;
			k = next;
		} while (bpftime_map_get_next_key(shm, fd, &k, &next) == 0);
	}
	assert_int_equal(n, 16);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &k, out, 0), -EINVAL);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), 0);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), -ENOENT);
	k = 16;
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &k), -E2BIG);
}

static long count_cb(struct bpftime_map *map, const void *key, void *value, void *ctx)
{
	uint64_t *sum = ctx;

	(void)map;
	(void)key;
	*sum += *(uint32_t *)value;
	return *sum > 1000;
}

static void test_for_each(void **state)
{
	struct bpftime_shm *shm = *state;
	int afd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4, 10, 0);
	int hfd = mkmap(shm, BPFTIME_MAP_HASH, 4, 4, 10, 0);
	struct bpftime_map *a = bpftime_map_get_handle(shm, afd),
			   *h = bpftime_map_get_handle(shm, hfd);
	uint64_t sum = 0;

	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(bpftime_map__update_elem(a, &i, &i, 0), 0);
		if (i % 2)
			assert_int_equal(bpftime_map__update_elem(h, &i, &i, 0), 0);
	}
	assert_int_equal(bpftime_map__for_each_elem(a, count_cb, &sum, 0), 10);
	assert_int_equal(sum, 45);
	sum = 0;
	assert_int_equal(bpftime_map__for_each_elem(h, count_cb, &sum, 0), 5);
	assert_int_equal(sum, 25);
	sum = 995; /* the callback stops the walk: 995 + 0 + 1 + 2 + 3 > 1000 */
	assert_int_equal(bpftime_map__for_each_elem(a, count_cb, &sum, 0), 4);
	assert_int_equal(bpftime_map__for_each_elem(a, count_cb, &sum, 1), -EINVAL);
}

/* Maps are visible from another process through the segment. */

/* A closed map's memory waits out a grace period (agents may still be
 * running a program on it), unless the space is needed. */
static void test_free_grace(void **state)
{
	struct bpftime_shm *shm = *state;
	struct bpftime_shm_stats st = { .sz = sizeof(st) };
	uint64_t base = used(shm), during;
	int fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4096, 10000, 0); /* ~40 MiB of 64 */
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint32_t k = 9999;

	assert_true(fd >= 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	/* still writable by a program that has not noticed yet */
	memset(bpftime_map__lookup_elem(h, &k), 0xab, 4096);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	during = st.used;
	assert_true(during > base + 40000000ULL);
	/* needing the space reaps at once */
	fd = mkmap(shm, BPFTIME_MAP_ARRAY, 4, 4096, 10000, 0);
	assert_true(fd >= 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(bpftime_shm__reap(shm, true), 1);
	assert_int_equal(bpftime_shm__reap(shm, true), 0);
	assert_int_equal(used(shm), base);
}

static void test_cross_process(void **state)
{
	struct bpftime_shm *shm = *state;
	int fd = mkmap(shm, BPFTIME_MAP_HASH, 4, 4, 10, 0);
	uint32_t k = 1, v = 0;
	pid_t pid = fork();

	if (pid == 0) {
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		struct bpftime_shm *s = bpftime_shm__open(&o);
		uint32_t kk = 1, vv = 42;

		_exit(s && bpftime_map_update_elem(s, fd, &kk, &vv, 0) == 0 ? 0 : 1);
	}
	{
		int st;

		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_int_equal(st, 0);
	}
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, &v, 0), 0);
	assert_int_equal(v, 42);
}

int main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_create_errors),
		T(test_array),
		T(test_array_rdonly_and_info),
		T(test_array_mmap),
		T(test_percpu_array),
		T(test_hash),
		T(test_hash_big),
		T(test_hash_no_prealloc),
		T(test_hash_prealloc_too_big),
		T(test_lru_prealloc_too_big),
		T(test_lru_lazy_evicts),
		T(test_array_too_big),
		T(test_percpu_hash),
		T(test_lru),
		T(test_hash_spares),
		T(test_hash_full_race),
		T(test_spin_lock),
		T(test_spin_lock_dead_owner),
		T(test_lpm),
		T(test_queue_stack),
		T(test_bloom),
		T(test_ringbuf),
		T(test_ringbuf_cross_process),
		T(test_ringbuf_dead_reserver),
		T(test_perf_event_array),
		T(test_prog_array),
		T(test_prog_bind_map),
		T(test_map_in_map),
		T(test_stack_trace),
		T(test_for_each),
		T(test_cross_process),
		T(test_free_grace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
