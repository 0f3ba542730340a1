/* SPDX-License-Identifier: MIT */
/* maps/diff_test.c: differential tests against the kernel's own maps.  The
 * same random operation sequences run on a kernel map (libbpf's bpf_map_*
 * wrappers of bpf(2)) and on ours; return codes and returned bytes must
 * match.  Orders the kernel leaves unspecified (hash iteration) are compared
 * as sets.  Skips cleanly when bpf(2) is not usable (no root, no BPF). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>

static char shm_name[64];
static bool kernel_ok;
static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static int silent(enum libbpf_print_level l, const char *f, va_list ap)
{
	(void)l;
	(void)f;
	(void)ap;
	return 0;
}

static int group_setup(void **state)
{
	int fd;

	(void)state;
	libbpf_set_print(silent);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	kernel_ok = fd >= 0;
	if (fd >= 0)
		close(fd);
	else
		fprintf(stderr, "bpf(2) unusable (%d): differential tests skipped\n", fd);
	return 0;
}

static int setup(void **state)
{
	static int n;
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 32, .max_fd = 128);

	if (!kernel_ok) {
		*state = NULL;
		return 0;
	}
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_diff_%d_%d", getpid(), n++);
	bpftime_shm__remove(shm_name);
	*state = bpftime_shm__create(&o);
	assert_non_null(*state);
	return 0;
}

static int teardown(void **state)
{
	if (*state) {
		bpftime_shm__close(*state);
		bpftime_shm__remove(shm_name);
	}
	return 0;
}

struct pair {
	struct bpftime_shm *shm;
	int k, u;	 /* kernel fd, our fd */
	uint32_t ks, vs; /* key size, syscall value size */
};

static void mkpair(struct bpftime_shm *shm, struct pair *p, enum bpf_map_type t, uint32_t ks,
		   uint32_t vs, uint32_t max, uint32_t flags)
{
	LIBBPF_OPTS(bpf_map_create_opts, ko, .map_flags = flags);
	BPFTIME_OPTS(bpftime_map_create_opts, uo, .map_flags = flags);
	bool percpu = t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
		      t == BPF_MAP_TYPE_LRU_PERCPU_HASH;

	p->shm = shm;
	p->k = bpf_map_create(t, "k", ks, vs, max, &ko);
	p->u = bpftime_map_create(shm, -1, (enum bpftime_map_type)t, "u", ks, vs, max, &uo);
	assert_true(p->k >= 0);
	assert_true(p->u >= 0);
	p->ks = ks;
	p->vs = percpu ? ((vs + 7) & ~7u) * (uint32_t)libbpf_num_possible_cpus() : vs;
	assert_int_equal(bpftime_shm__ncpus(shm), libbpf_num_possible_cpus());
}

static void unpair(struct pair *p)
{
	close(p->k);
	bpftime_handler_close(p->shm, p->u);
}

#define SAME(kcall, ucall, what)                                                               \
	do {                                                                                   \
		int kr_ = (kcall), ur_ = (ucall);                                              \
		if (kr_ != ur_)                                                                \
			fail_msg("%s: kernel %d, bpftime %d (step %d)", what, kr_, ur_, step); \
		rc = kr_;                                                                      \
	} while (0)

/* One random operation on both maps; keys from a small domain so that
 * lookups hit, updates collide and maps fill up. */
static void step_once(struct pair *p, int step, uint32_t key_domain, bool iterate_exact,
		      void (*mkkey)(void *key, uint32_t i))
{
	unsigned char key[64] = { 0 }, kv[4096], uv[4096], kn[64], un[64];
	static const uint64_t flags[] = { BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3 };
	int rc;

	mkkey(key, rnd(key_domain));
	for (uint32_t i = 0; i < p->vs; i++)
		kv[i] = uv[i] = (unsigned char)rnd(256);
	switch (rnd(6)) {
	case 0:
	case 1: {
		uint64_t f = flags[rnd(4)];

		SAME(bpf_map_update_elem(p->k, key, kv, f),
		     bpftime_map_update_elem(p->shm, p->u, key, uv, f), "update");
		break;
	}
	case 2:
		memset(kv, 0x5a, p->vs);
		memset(uv, 0x5a, p->vs);
		SAME(bpf_map_lookup_elem(p->k, key, kv),
		     bpftime_map_lookup_elem(p->shm, p->u, key, uv, 0), "lookup");
		if (rc == 0 && memcmp(kv, uv, p->vs))
			fail_msg("lookup: values differ (step %d)", step);
		break;
	case 3:
		SAME(bpf_map_delete_elem(p->k, key), bpftime_map_delete_elem(p->shm, p->u, key),
		     "delete");
		break;
	case 4: {
		const void *from = rnd(4) ? key : NULL;

		if (!iterate_exact && from) {
			/* the order is the hash's: only "a next key exists" and
			 * "the map is empty" are comparable, via NULL below */
			from = NULL;
		}
		SAME(bpf_map_get_next_key(p->k, from, kn),
		     bpftime_map_get_next_key(p->shm, p->u, from, un), "get_next_key");
		if (rc == 0 && iterate_exact && memcmp(kn, un, p->ks))
			fail_msg("get_next_key: keys differ (step %d)", step);
		break;
	}
	default:
		memset(kv, 0x5a, p->vs);
		memset(uv, 0x5a, p->vs);
		SAME(bpf_map_lookup_and_delete_elem(p->k, key, kv),
		     bpftime_map_lookup_and_delete_elem(p->shm, p->u, key, uv, 0),
		     "lookup_and_delete");
		if (rc == 0 && memcmp(kv, uv, p->vs))
			fail_msg("lookup_and_delete: values differ (step %d)", step);
		break;
	}
}

/* Full contents as a set: both iterations see the same keys and values. */
static void same_contents(struct pair *p)
{
	unsigned char k[64], n[64], kv[4096], uv[4096];
	int kc = 0, uc = 0;
	const void *prev = NULL;

	while (bpf_map_get_next_key(p->k, prev, n) == 0) {
		kc++;
		assert_int_equal(bpf_map_lookup_elem(p->k, n, kv), 0);
		assert_int_equal(bpftime_map_lookup_elem(p->shm, p->u, n, uv, 0), 0);
		assert_memory_equal(kv, uv, p->vs);
		memcpy(k, n, p->ks);
		prev = k;
	}
	prev = NULL;
	while (bpftime_map_get_next_key(p->shm, p->u, prev, n) == 0) {
		uc++;
		assert_int_equal(bpf_map_lookup_elem(p->k, n, kv), 0);
		memcpy(k, n, p->ks);
		prev = k;
	}
	assert_int_equal(kc, uc);
}

static void key_u32(void *key, uint32_t i)
{
	memcpy(key, &i, 4);
}

static void key_wide(void *key, uint32_t i)
{
	uint64_t k[2] = { i * 0x9e3779b97f4a7c15ULL, i };

	memcpy(key, k, 16);
}

static void run(struct pair *p, int steps, uint32_t domain, bool exact,
		void (*mk)(void *, uint32_t))
{
	for (int s = 0; s < steps; s++) {
		step_once(p, s, domain, exact, mk);
		if (s % 97 == 0)
			same_contents(p);
	}
	same_contents(p);
}

#define NEED_KERNEL()                                                                 \
	do {                                                                          \
		if (!kernel_ok)                                                       \
			TEST_SKIP("bpf(2) unusable: no kernel maps to compare with"); \
	} while (0)

static void test_diff_hash(void **state)
{
	struct pair p;

	NEED_KERNEL();
	mkpair(*state, &p, BPF_MAP_TYPE_HASH, 16, 20, 24, 0);
	run(&p, 4000, 40, false, key_wide);
	unpair(&p);
	mkpair(*state, &p, BPF_MAP_TYPE_PERCPU_HASH, 4, 12, 16, 0);
	run(&p, 3000, 30, false, key_u32);
	unpair(&p);
	/* LRU without eviction pressure behaves like a hash map */
	mkpair(*state, &p, BPF_MAP_TYPE_LRU_HASH, 4, 8, 64, 0);
	run(&p, 3000, 40, false, key_u32);
	unpair(&p);
	mkpair(*state, &p, BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 12, 64, 0);
	run(&p, 2000, 40, false, key_u32);
	unpair(&p);
	/* no preallocation: same semantics */
	mkpair(*state, &p, BPF_MAP_TYPE_HASH, 8, 8, 32, BPF_F_NO_PREALLOC);
	run(&p, 3000, 48, false, key_u32);
	unpair(&p);
}

static void test_diff_array(void **state)
{
	struct pair p;

	NEED_KERNEL();
	mkpair(*state, &p, BPF_MAP_TYPE_ARRAY, 4, 12, 16, 0);
	run(&p, 3000, 24, true, key_u32);
	unpair(&p);
	mkpair(*state, &p, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 8, 0);
	run(&p, 2000, 12, true, key_u32);
	unpair(&p);
}

static void key_lpm(void *key, uint32_t i)
{
	/* canonical prefixes over a few /8s and /16s; bits past the prefix are 0 */
	static const uint32_t plens[] = { 0, 8, 12, 16, 24, 32 };
	uint32_t plen = plens[i % 6], addr = (10u << 24) | ((i / 6 % 4) << 20) | ((i / 24) << 8);
	unsigned char *k = key;

	/* bits past the prefix vary too: the kernel keeps them */
	addr |= (i * 2654435761u) & ((1ULL << (32 - plen)) - 1) & 0x0f0f;
	memcpy(k, &plen, 4);
	k[4] = (unsigned char)(addr >> 24);
	k[5] = (unsigned char)(addr >> 16);
	k[6] = (unsigned char)(addr >> 8);
	k[7] = (unsigned char)addr;
}

static void test_diff_lpm(void **state)
{
	struct pair p;
	int rc, step = 0;

	NEED_KERNEL();
	mkpair(*state, &p, BPF_MAP_TYPE_LPM_TRIE, 8, 4, 20, BPF_F_NO_PREALLOC);
	for (step = 0; step < 3000; step++) {
		unsigned char key[8], kv[4], uv[4];
		uint32_t plen = 32;

		if (rnd(3)) {
			step_once(&p, step, 96, true, key_lpm);
			continue;
		}
		/* longest-prefix lookups of random addresses */
		memcpy(key, &plen, 4);
		key[0 + 4] = 10;
		key[1 + 4] = (unsigned char)(rnd(4) << 4 | rnd(16));
		key[2 + 4] = (unsigned char)rnd(8);
		key[3 + 4] = (unsigned char)rnd(256);
		SAME(bpf_map_lookup_elem(p.k, key, kv),
		     bpftime_map_lookup_elem(p.shm, p.u, key, uv, 0), "lpm lookup");
		if (rc == 0)
			assert_memory_equal(kv, uv, 4);
	}
	unpair(&p);
}

static void test_diff_queue_stack(void **state)
{
	static const enum bpf_map_type types[] = { BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK };
	int rc;

	NEED_KERNEL();
	for (int t = 0; t < 2; t++) {
		struct pair p;

		mkpair(*state, &p, types[t], 0, 8, 6, 0);
		for (int step = 0; step < 2000; step++) {
			uint64_t kv = rnd(1000), uv = kv, f = (uint64_t[]){ 0, 1, 2, 4 }[rnd(4)];
			uint32_t k = 0;

			switch (rnd(5)) {
			case 0:
			case 1:
				SAME(bpf_map_update_elem(p.k, NULL, &kv, f),
				     bpftime_map_update_elem(p.shm, p.u, NULL, &uv, f), "push");
				break;
			case 2:
				SAME(bpf_map_lookup_elem(p.k, NULL, &kv),
				     bpftime_map_lookup_elem(p.shm, p.u, NULL, &uv, 0), "peek");
				if (rc == 0)
					assert_int_equal(kv, uv);
				break;
			case 3:
				SAME(bpf_map_lookup_and_delete_elem(p.k, NULL, &kv),
				     bpftime_map_lookup_and_delete_elem(p.shm, p.u, NULL, &uv, 0),
				     "pop");
				if (rc == 0)
					assert_int_equal(kv, uv);
				break;
			default:
				SAME(bpf_map_delete_elem(p.k, &k),
				     bpftime_map_delete_elem(p.shm, p.u, &k), "delete");
				SAME(bpf_map_get_next_key(p.k, NULL, &k),
				     bpftime_map_get_next_key(p.shm, p.u, NULL, &k), "next");
				break;
			}
		}
		unpair(&p);
	}
}

static void test_diff_bloom(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, ko, .map_extra = 4);
	BPFTIME_OPTS(bpftime_map_create_opts, uo, .map_extra = 4);
	struct bpftime_shm *shm = *state;
	int kfd, ufd, rc, step = 0;
	uint64_t v;
	uint32_t k = 0;

	NEED_KERNEL();
	kfd = bpf_map_create(BPF_MAP_TYPE_BLOOM_FILTER, "b", 0, 8, 500, &ko);
	ufd = bpftime_map_create(shm, -1, BPFTIME_MAP_BLOOM_FILTER, "b", 0, 8, 500, &uo);
	assert_true(kfd >= 0 && ufd >= 0);
	for (v = 0; v < 500; v += 2) {
		SAME(bpf_map_update_elem(kfd, NULL, &v, 0),
		     bpftime_map_update_elem(shm, ufd, NULL, &v, 0), "push");
	}
	for (v = 0; v < 500; v += 2)
		SAME(bpf_map_lookup_elem(kfd, NULL, &v),
		     bpftime_map_lookup_elem(shm, ufd, NULL, &v, 0), "peek");
	SAME(bpf_map_update_elem(kfd, NULL, &v, BPF_EXIST),
	     bpftime_map_update_elem(shm, ufd, NULL, &v, BPF_EXIST), "push flags");
	SAME(bpf_map_delete_elem(kfd, &k), bpftime_map_delete_elem(shm, ufd, &k), "delete");
	SAME(bpf_map_get_next_key(kfd, NULL, &k), bpftime_map_get_next_key(shm, ufd, NULL, &k),
	     "next");
	SAME(bpf_map_lookup_and_delete_elem(kfd, NULL, &v),
	     bpftime_map_lookup_and_delete_elem(shm, ufd, NULL, &v, 0), "pop");
	(void)rc;
	close(kfd);
}

/* Errors of operations a map type does not have, and of bad attributes. */
static void test_diff_errors(void **state)
{
	struct bpftime_shm *shm = *state;
	static const struct {
		enum bpf_map_type t;
		uint32_t ks, vs, max, flags;
		uint64_t extra;
	} attrs[] = {
		{ BPF_MAP_TYPE_HASH, 4, 4, 0, 0, 0 },
		{ BPF_MAP_TYPE_HASH, 0, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_HASH, 4, 0, 1, 0, 0 },
		{ BPF_MAP_TYPE_HASH, 600, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_MMAPABLE, 0 },
		{ BPF_MAP_TYPE_HASH, 4, 4, 1, BPF_F_NO_COMMON_LRU, 0 },
		{ BPF_MAP_TYPE_HASH, 4, 4, 1, 0, 5 },
		{ BPF_MAP_TYPE_LRU_HASH, 4, 4, 1, BPF_F_NO_PREALLOC, 0 },
		{ BPF_MAP_TYPE_ARRAY, 8, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_ARRAY, 4, 0, 1, 0, 0 },
		{ BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0, 0 },
		{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC, 0 },
		{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, 0 },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE, 0 },
		{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 40000, 1, 0, 0 },
		{ BPF_MAP_TYPE_PROG_ARRAY, 4, 8, 1, 0, 0 },
		{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 8, 1, 0, 0 },
		{ BPF_MAP_TYPE_QUEUE, 4, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_QUEUE, 0, 0, 1, 0, 0 },
		{ BPF_MAP_TYPE_QUEUE, 0, 4, 0, 0, 0 },
		{ BPF_MAP_TYPE_STACK, 0, 4, 1, BPF_F_NO_PREALLOC, 0 },
		{ BPF_MAP_TYPE_LPM_TRIE, 8, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_LPM_TRIE, 4, 4, 1, BPF_F_NO_PREALLOC, 0 },
		{ BPF_MAP_TYPE_LPM_TRIE, 8, 0, 1, BPF_F_NO_PREALLOC, 0 },
		{ BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 * 3, 0, 0 },
		{ BPF_MAP_TYPE_RINGBUF, 4, 0, 4096, 0, 0 },
		{ BPF_MAP_TYPE_RINGBUF, 0, 0, 100, 0, 0 },
		{ BPF_MAP_TYPE_BLOOM_FILTER, 4, 4, 1, 0, 0 },
		{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 1, 0, 16 },
		{ BPF_MAP_TYPE_BLOOM_FILTER, 0, 0, 1, 0, 0 },
		{ BPF_MAP_TYPE_STACK_TRACE, 4, 12, 1, 0, 0 },
		{ BPF_MAP_TYPE_STACK_TRACE, 8, 16, 1, 0, 0 },
		{ BPF_MAP_TYPE_STACK_TRACE, 4, 8 * 200, 1, 0, 0 },
		{ 77, 4, 4, 1, 0, 0 },
	};
	int step = 0, rc;

	NEED_KERNEL();
	for (step = 0; step < (int)(sizeof(attrs) / sizeof(attrs[0])); step++) {
		LIBBPF_OPTS(bpf_map_create_opts, ko, .map_flags = attrs[step].flags,
			    .map_extra = attrs[step].extra);
		BPFTIME_OPTS(bpftime_map_create_opts, uo, .map_flags = attrs[step].flags,
			     .map_extra = attrs[step].extra);
		int kfd = bpf_map_create(attrs[step].t, "x", attrs[step].ks, attrs[step].vs,
					 attrs[step].max, &ko);
		int ufd = bpftime_map_create(shm, -1, (enum bpftime_map_type)attrs[step].t, "x",
					     attrs[step].ks, attrs[step].vs, attrs[step].max, &uo);

		if ((kfd >= 0) != (ufd >= 0) || (kfd < 0 && kfd != ufd))
			fail_msg("create attrs #%d: kernel %d, bpftime %d", step, kfd, ufd);
		if (kfd >= 0) {
			close(kfd);
			bpftime_handler_close(shm, ufd);
		}
	}

	/* operations per type */
	{
		static const struct {
			enum bpf_map_type t;
			uint32_t ks, vs, max;
		} types[] = {
			{ BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 },
			{ BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2 },
			{ BPF_MAP_TYPE_STACK_TRACE, 4, 16, 4 },
			{ BPF_MAP_TYPE_ARRAY, 4, 4, 4 },
			{ BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4 },
		};

		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			struct pair p;
			unsigned char key[8] = { 0 }, val[64] = { 0 };
			uint32_t bad_fd = 100000;

			mkpair(shm, &p, types[i].t, types[i].ks, types[i].vs, types[i].max, 0);
			step = (int)i * 10;
			SAME(bpf_map_lookup_elem(p.k, key, val),
			     bpftime_map_lookup_elem(shm, p.u, key, val, 0), "lookup");
			step++;
			memcpy(val, &bad_fd, 4);
			SAME(bpf_map_update_elem(p.k, key, val, 0),
			     bpftime_map_update_elem(shm, p.u, key, val, 0), "update");
			step++;
			SAME(bpf_map_delete_elem(p.k, key), bpftime_map_delete_elem(shm, p.u, key),
			     "delete");
			step++;
			SAME(bpf_map_get_next_key(p.k, NULL, key),
			     bpftime_map_get_next_key(shm, p.u, NULL, key), "next");
			step++;
			SAME(bpf_map_lookup_and_delete_elem(p.k, key, val),
			     bpftime_map_lookup_and_delete_elem(shm, p.u, key, val, 0),
			     "lookup_and_delete");
			step++;
			SAME(bpf_map_lookup_elem_flags(p.k, key, val, BPF_F_LOCK),
			     bpftime_map_lookup_elem(shm, p.u, key, val, BPF_F_LOCK),
			     "lookup F_LOCK");
			unpair(&p);
		}
	}
	(void)rc;
}

/* Maps of maps: template compatibility, flags, bounds, lookups (ids are
 * compared as "same inner map", since ids differ between the two worlds). */
static void test_diff_map_in_map(void **state)
{
	struct bpftime_shm *shm = *state;
	static const struct {
		enum bpf_map_type t;
		uint32_t vs, max;
	} inners[] = {
		{ BPF_MAP_TYPE_ARRAY, 8, 4 }, /* the template */
		{ BPF_MAP_TYPE_ARRAY, 8, 8 }, /* other max_entries */
		{ BPF_MAP_TYPE_HASH, 8, 4 },  /* other type */
		{ BPF_MAP_TYPE_ARRAY, 4, 4 }, /* other value size */
		{ BPF_MAP_TYPE_ARRAY, 8, 4 }, /* compatible */
	};
	int kin[5], uin[5], rc, step = 0;

	NEED_KERNEL();
	for (int i = 0; i < 5; i++) {
		kin[i] = bpf_map_create(inners[i].t, "in", 4, inners[i].vs, inners[i].max, NULL);
		uin[i] = bpftime_map_create(shm, -1, (enum bpftime_map_type)inners[i].t, "in", 4,
					    inners[i].vs, inners[i].max, NULL);
		assert_true(kin[i] >= 0 && uin[i] >= 0);
	}
	for (int outer = 0; outer < 2; outer++) {
		enum bpf_map_type t =
			outer ? BPF_MAP_TYPE_HASH_OF_MAPS : BPF_MAP_TYPE_ARRAY_OF_MAPS;
		LIBBPF_OPTS(bpf_map_create_opts, ko, .inner_map_fd = kin[0]);
		BPFTIME_OPTS(bpftime_map_create_opts, uo, .inner_map_fd = uin[0]);
		int kfd = bpf_map_create(t, "o", 4, 4, 2, &ko);
		int ufd = bpftime_map_create(shm, -1, (enum bpftime_map_type)t, "o", 4, 4, 2, &uo);
		uint32_t kid, uid, k, kv, uv;

		assert_true(kfd >= 0 && ufd >= 0);
		for (step = 0; step < 400; step++) {
			int which = (int)rnd(5);
			uint64_t f = (uint64_t[]){ 0, 1, 2, 4 }[rnd(4)];

			k = rnd(4);
			kv = (uint32_t)kin[which];
			uv = (uint32_t)uin[which];
			switch (rnd(4)) {
			case 0:
			case 1:
				SAME(bpf_map_update_elem(kfd, &k, &kv, f),
				     bpftime_map_update_elem(shm, ufd, &k, &uv, f), "update");
				break;
			case 2:
				SAME(bpf_map_lookup_elem(kfd, &k, &kid),
				     bpftime_map_lookup_elem(shm, ufd, &k, &uid, 0), "lookup");
				break;
			default:
				SAME(bpf_map_delete_elem(kfd, &k),
				     bpftime_map_delete_elem(shm, ufd, &k), "delete");
				break;
			}
		}
		close(kfd);
	}
	/* creation errors: no inner fd, an fd that is not a map, a nested template */
	{
		LIBBPF_OPTS(bpf_map_create_opts, ko, .inner_map_fd = 9999);
		BPFTIME_OPTS(bpftime_map_create_opts, uo, .inner_map_fd = 127);
		int kfd, ufd;

		SAME(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "o", 4, 4, 2, &ko),
		     bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "o", 4, 4, 2, &uo),
		     "bad inner fd");
		ko.inner_map_fd = kin[0];
		uo.inner_map_fd = uin[0];
		SAME(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "o", 4, 8, 2, &ko),
		     bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "o", 4, 8, 2, &uo),
		     "value size 8");
		kfd = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "o", 4, 4, 2, &ko);
		ufd = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "o", 4, 4, 2, &uo);
		ko.inner_map_fd = kfd;
		uo.inner_map_fd = ufd;
		SAME(bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "o", 4, 4, 2, &ko),
		     bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY_OF_MAPS, "o", 4, 4, 2, &uo),
		     "nested");
		close(kfd);
	}
	for (int i = 0; i < 5; i++)
		close(kin[i]);
	(void)rc;
}

/* Freezing: both refuse syscall writes with EPERM afterwards. */
static void test_diff_freeze(void **state)
{
	struct pair p;
	uint32_t k = 0, v = 1;
	int rc, step = 0;

	NEED_KERNEL();
	mkpair(*state, &p, BPF_MAP_TYPE_ARRAY, 4, 4, 2, 0);
	SAME(bpf_map_freeze(p.k), bpftime_map_freeze(p.shm, p.u), "freeze");
	SAME(bpf_map_freeze(p.k), bpftime_map_freeze(p.shm, p.u), "freeze again");
	SAME(bpf_map_update_elem(p.k, &k, &v, 0), bpftime_map_update_elem(p.shm, p.u, &k, &v, 0),
	     "update frozen");
	SAME(bpf_map_lookup_elem(p.k, &k, &v), bpftime_map_lookup_elem(p.shm, p.u, &k, &v, 0),
	     "lookup frozen");
	unpair(&p);
	(void)rc;
}

int main(void)
{
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_diff_hash),	  T(test_diff_array),	   T(test_diff_lpm),
		T(test_diff_queue_stack), T(test_diff_bloom),	   T(test_diff_errors),
		T(test_diff_freeze),	  T(test_diff_map_in_map),
	};

	return TEST_RUN(tests, group_setup, NULL);
}
