/* SPDX-License-Identifier: MIT */
/* maps/corrupt_test.c: a map's own structures, read from the segment, are
 * checked before use.  Each test garbles one link in a real segment (a
 * wild offset, a cycle, a wrong end marker, a garbled key, a wild
 * free-list index, queue indices, the bloom filter's bits, ring buffer
 * positions, stack trace buckets, the arena's free list) and shows that
 * lookup, update, delete, get_next_key (a whole iteration), the in-program
 * lookup and creation return an error (-EBADMSG, or the allocation fails)
 * with one "is corrupt" message, never a fault or an endless walk.
 *
 * Element layout this test relies on (maps/hash.c struct htab_elem): the
 * chain link is the first u64, the free-list link the u32 after it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "internal.h"

static char shm_name[64];
static struct bpftime_shm *shm;
static char logbuf[8192];
/* value buffers: per-CPU maps copy 32 bytes per CPU */
#define VBUF (4 * 1024)
static uint64_t vbuf[VBUF];

__attribute__((format(printf, 2, 0))) static int capture(enum bpftime_log_level level,
							 const char *fmt, va_list ap)
{
	size_t n = strlen(logbuf);

	(void)level;
	if (n < sizeof(logbuf) - 1)
		vsnprintf(logbuf + n, sizeof(logbuf) - n, fmt, ap);
	return 0;
}

/* the one report for the map, and no more */
static void expect_reported(const char *what)
{
	const char *p = strstr(logbuf, "is corrupt");

	if (!p || !strstr(logbuf, what))
		fail_msg("no report of '%s': %s", what, logbuf);
	assert_null(strstr(p + 1, "is corrupt"));
	logbuf[0] = 0;
}

static int new_hash(uint32_t type, uint32_t max)
{
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = BPFTIME_F_ZERO_SEED);
	int fd = bpftime_map_create(shm, -1, type, "garbled", 8, 32, max, &o);

	assert_true(fd >= 0);
	for (uint64_t k = 1; k <= max / 2; k++) {
		for (int i = 0; i < VBUF; i++)
			vbuf[i] = k;
		assert_int_equal(bpftime_map_update_elem(shm, fd, &k, vbuf, 0), 0);
	}
	return fd;
}

/* an absent key that hashes to the bucket of present key @k */
static uint64_t absent_in_bucket_of(struct bpftime_map *h, uint64_t k)
{
	uint32_t b = map_hash(&k, 8, h->seed) & h->bucket_mask;

	for (uint64_t x = 1000;; x++)
		if ((map_hash(&x, 8, h->seed) & h->bucket_mask) == b)
			return x;
}

static uint32_t bucket_of(struct bpftime_map *h, uint64_t k)
{
	return map_hash(&k, 8, h->seed) & h->bucket_mask;
}

/* every operation on @key fails with -EBADMSG; a full iteration ends */
static void expect_ops_fail(int fd, struct bpftime_map *h, uint64_t key)
{
	uint64_t *v = vbuf, k = 0, next;
	int n = 0, err;

	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &key, v, 0), -EBADMSG);
	assert_int_equal(bpftime_map_update_elem(shm, fd, &key, v, 0), -EBADMSG);
	assert_int_equal(bpftime_map_delete_elem(shm, fd, &key), -EBADMSG);
	assert_null(h->ops->lookup(h, &key)); /* a program: not found */
	for (err = bpftime_map_get_next_key(shm, fd, NULL, &next); !err;
	     err = bpftime_map_get_next_key(shm, fd, &k, &next)) {
		assert_true(++n < 10000);
		k = next;
	}
	assert_true(err == -EBADMSG || err == -ENOENT);
}

static void garble_chain(uint32_t type, int how)
{
	int fd = new_hash(type, 64);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	uint64_t key, head;
	uint32_t b;

	assert_non_null(h);
	b = bucket_of(h, 3);
	key = absent_in_bucket_of(h, 3);
	head = atomic_load(&h->buckets[b]);
	assert_false(head & 1);
	logbuf[0] = 0;
	switch (how) {
	case 0: /* a wild offset at the bucket's head */
		atomic_store(&h->buckets[b], (uint64_t)1 << 40);
		expect_ops_fail(fd, h, key);
		expect_reported("a link outside the segment");
		break;
	case 1: /* an element linked to itself */
		*(uint64_t *)(h->base + head) = head;
		expect_ops_fail(fd, h, key);
		expect_reported("a cycle");
		break;
	case 3: /* the key of the bucket's first element is garbled */
		*(uint64_t *)(h->base + head + 32) ^= 0x5a5a5a5a00ULL;
		{
			uint64_t k = 0, next;
			int n = 0, err;

			for (err = bpftime_map_get_next_key(shm, fd, NULL, &next); !err;
			     err = bpftime_map_get_next_key(shm, fd, &k, &next)) {
				assert_true(++n < 10000);
				k = next;
			}
			assert_int_equal(err, -EBADMSG);
		}
		expect_reported("does not hash to its bucket");
		break;
	case 2: /* the chain ends on another bucket's marker */
		*(uint64_t *)(h->base + head) = ((uint64_t)(b + 1) << 1) | 1;
		assert_int_equal(bpftime_map_lookup_elem(shm, fd, &key, vbuf, 0), -EBADMSG);
		expect_reported("a wrong marker");
		break;
	}
	/* other buckets still work */
	for (uint64_t k = 1; k <= 32; k++)
		if (bucket_of(h, k) != b)
			assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, vbuf, 0), 0);
	/* the map can be closed and freed */
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

static void test_hash_wild_link(void **state)
{
	(void)state;
	garble_chain(BPFTIME_MAP_HASH, 0);
	garble_chain(BPFTIME_MAP_LRU_HASH, 0);
	garble_chain(BPFTIME_MAP_PERCPU_HASH, 0);
}

static void test_hash_cycle(void **state)
{
	(void)state;
	garble_chain(BPFTIME_MAP_HASH, 1);
	garble_chain(BPFTIME_MAP_LRU_HASH, 1);
}

static void test_hash_wrong_marker(void **state)
{
	(void)state;
	garble_chain(BPFTIME_MAP_HASH, 2);
}

static void test_hash_garbled_key(void **state)
{
	(void)state;
	garble_chain(BPFTIME_MAP_HASH, 3);
	garble_chain(BPFTIME_MAP_LRU_HASH, 3);
}

/* every free element's free-list link names no element: inserts fail */
static void test_hash_free_list(void **state)
{
	int fd = new_hash(BPFTIME_MAP_HASH, 64);
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
	int err = 0;

	(void)state;
	assert_non_null(h);
	for (uint32_t c = 0; c < 1; c++) {
		char *chunk = h->base + h->chunks[c];

		for (uint32_t i = 0; i < h->n_elems; i++)
			*(uint32_t *)(chunk + (size_t)i * h->elem_size + 8) = 0x7ffffff0;
	}
	logbuf[0] = 0;
	for (uint64_t k = 100; k < 200 && !err; k++) {
		uint64_t v[4] = { k };

		err = bpftime_map_update_elem(shm, fd, &k, v, 0);
	}
	assert_true(err == -EBADMSG || err == -ENOMEM);
	expect_reported("the free list names no element");
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* a map that grows (BPF_F_NO_PREALLOC here; LRU and preallocated maps too
 * big for the free space grow the same way): a chunk offset garbled
 * (outside the segment, unaligned, a grower's "pending" mark): elements
 * there are never resolved, inserts that reach them fail, the map closes */
static void test_hash_chunk(void **state)
{
	const uint64_t wild[] = { 1ULL << 60, 12345, 0 };

	(void)state;
	for (size_t w = 0; w < sizeof(wild) / sizeof(wild[0]); w++) {
		BPFTIME_OPTS(bpftime_map_create_opts, o,
			     .map_flags = BPFTIME_F_ZERO_SEED | BPFTIME_F_NO_PREALLOC);
		int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "garbled", 8, 32, 2048, &o);
		struct bpftime_map *h = bpftime_map_get_handle(shm, fd);
		uint64_t k, v[4] = { 0 };
		int err = 0;

		assert_non_null(h);
		for (k = 1; k <= 300; k++) /* a second chunk, most of it free */
			assert_int_equal(bpftime_map_update_elem(shm, fd, &k, v, 0), 0);
		uint64_t chunk = h->chunks[1];

		h->chunks[1] = wild[w] ? wild[w] : chunk | 1;
		logbuf[0] = 0;
		for (k = 1000; k < 1300 && !err; k++)
			err = bpftime_map_update_elem(shm, fd, &k, v, 0);
		assert_true(err == -EBADMSG || err == -ENOMEM);
		expect_reported("the free list names no element");
		for (k = 1; k <= 256; k++) /* linked elements are reached by their chains */
			assert_int_equal(bpftime_map_lookup_elem(shm, fd, &k, vbuf, 0), 0);
		h->chunks[1] = chunk; /* freed with the map (a wild block would be refused) */
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
		bpftime_shm__reap(shm, true);
	}
}

static void test_lpm(void **state)
{
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = BPFTIME_F_NO_PREALLOC);
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_LPM_TRIE, "lpm", 8, 8, 16, &o);
	struct bpftime_map *h;
	uint8_t key[8] = { 24, 0, 0, 0, 10, 1, 2, 0 }, any[8] = { 32, 0, 0, 0, 10, 1, 2, 3 };
	uint64_t v = 1;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, 0), 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	logbuf[0] = 0;
	for (uint32_t b = 0; b <= h->bucket_mask; b++)
		if (!(atomic_load(&h->buckets[b]) & 1))
			atomic_store(&h->buckets[b], (uint64_t)1 << 41);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, any, &v, 0), -EBADMSG);
	assert_null(h->ops->lookup(h, any));
	assert_int_equal(bpftime_map_update_elem(shm, fd, key, &v, 0), -EBADMSG);
	expect_reported("a link outside the segment");
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* the queue's state is {lock, head, tail, size, pad, data_off} */
static void test_queue(void **state)
{
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_QUEUE, "q", 0, 8, 8, NULL);
	struct bpftime_map *h;
	uint32_t *idx;
	uint64_t v = 5;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &v, 0), 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	idx = (uint32_t *)(h->priv + sizeof(struct shm_mutex));
	logbuf[0] = 0;
	idx[0] = 1u << 30; /* head */
	assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &v, 0), -EBADMSG);
	assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, fd, NULL, &v, 0), -EBADMSG);
	assert_int_equal(h->ops->push(h, &v, 0), -EBADMSG);
	expect_reported("queue indices or storage out of range");
	idx[0] = 1;
	*(uint64_t *)(h->priv + sizeof(struct shm_mutex) + 16) = (uint64_t)1 << 42; /* data */
	assert_int_equal(h->ops->pop(h, &v), -EBADMSG);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* the bloom filter's state is {nr_hashes, mask, seed, pad, bits_off} */
static void test_bloom(void **state)
{
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_BLOOM_FILTER, "b", 0, 8, 64, NULL);
	struct bpftime_map *h;
	uint64_t v = 5;

	(void)state;
	assert_true(fd >= 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	logbuf[0] = 0;
	*(uint64_t *)(h->priv + 16) = bpftime_shm__size(shm) - 8;
	assert_int_equal(bpftime_map_update_elem(shm, fd, NULL, &v, 0), -EBADMSG);
	assert_int_equal(h->ops->peek(h, &v), -EBADMSG);
	expect_reported("bloom filter bits out of range");
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* the ring's consumer position (page 0 of the ring, written by consumers)
 * ahead of the producer: reserve fails with a report, no write anywhere */
static void test_ringbuf(void **state)
{
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_RINGBUF, "rb", 0, 0, 4096, NULL);
	struct bpftime_map *h;
	uint64_t *cons;
	void *p;

	(void)state;
	assert_true(fd >= 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	p = bpftime_map__ringbuf_reserve(h, 16, 0);
	assert_non_null(p);
	bpftime_ringbuf_submit(p, 0);
	cons = (uint64_t *)(shm->base + h->m->mmap_off);
	logbuf[0] = 0;
	*cons = (uint64_t)1 << 40;
	assert_null(bpftime_map__ringbuf_reserve(h, 16, 0));
	expect_reported("ring buffer positions out of order");
	*cons = 0;
	assert_non_null(p = bpftime_map__ringbuf_reserve(h, 16, 0));
	bpftime_ringbuf_discard(p, 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* a stack trace bucket's offset goes wild: the stack is gone (reported),
 * storing there fails rather than writing through it */
static void test_stack_trace(void **state)
{
	int fd = bpftime_map_create(shm, -1, BPFTIME_MAP_STACK_TRACE, "st", 4, 64, 16, NULL);
	uint64_t ips[3] = { 0x401000, 0x402000, 0x403000 }, out[8];
	struct bpftime_map *h;
	long id;

	(void)state;
	assert_true(fd >= 0);
	h = bpftime_map_get_handle(shm, fd);
	assert_non_null(h);
	id = bpftime_map__stack_store(h, ips, 3, 0);
	assert_true(id >= 0);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &id, out, 0), 0);
	logbuf[0] = 0;
	atomic_store(&h->buckets[id], (uint64_t)1 << 40);
	assert_int_equal(bpftime_map_lookup_elem(shm, fd, &id, out, 0), -ENOENT);
	expect_reported("a stack bucket out of range");
	atomic_store(&h->buckets[id], 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	bpftime_shm__reap(shm, true);
}

/* the arena's free list head is wild, then a cycle: allocations fail with
 * a message, frees do not write through it */
static void test_arena(void **state)
{
	uint64_t saved = shm->alloc->free_head, a;

	(void)state;
	a = shm_alloc(shm, 100, 16);
	assert_true(a != 0);
	logbuf[0] = 0;
	shm->alloc->free_head = (uint64_t)1 << 40;
	assert_true(bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "x", 4, 8, 4, NULL) < 0);
	assert_non_null(strstr(logbuf, "the arena is corrupt (a free list entry"));
	shm_free(shm, a); /* its list_add must not follow the wild head */
	shm->alloc->free_head = saved;
	/* a free block that links to itself */
	{
		uint64_t next = *(uint64_t *)(shm->base + saved + 16);

		*(uint64_t *)(shm->base + saved + 16) = saved;
		assert_int_equal(shm_alloc(shm, shm->hdr->arena_size - 64, 16), 0);
		*(uint64_t *)(shm->base + saved + 16) = next;
	}
	shm->alloc->free_head = saved;
}

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 8, .max_fd = 64);

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_corrupt_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	bpftime_set_print(capture);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_wild_link),
		cmocka_unit_test(test_hash_cycle),
		cmocka_unit_test(test_hash_wrong_marker),
		cmocka_unit_test(test_hash_garbled_key),
		cmocka_unit_test(test_hash_free_list),
		cmocka_unit_test(test_hash_chunk),
		cmocka_unit_test(test_lpm),
		cmocka_unit_test(test_queue),
		cmocka_unit_test(test_bloom),
		cmocka_unit_test(test_ringbuf),
		cmocka_unit_test(test_stack_trace),
		cmocka_unit_test(test_arena),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
