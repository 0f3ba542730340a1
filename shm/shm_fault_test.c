/* SPDX-License-Identifier: MIT */
/* shm/shm_fault_test.c: the fault twin of object creation (programs, perf
 * events, links, BTF, pins, perf rings): with the arena filled so that only
 * N bytes are left, for N growing from 0 until creation succeeds, every
 * failure is -ENOMEM and leaks nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <stdio.h>
#include <unistd.h>
#include <bpftime/log.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "shm/internal.h"

static char name[64];
static struct bpftime_insn insns[64];

static int cleanup(void **state)
{
	(void)state;
	bpftime_shm__remove(name);
	return 0;
}

static uint64_t used(struct bpftime_shm *shm)
{
	struct bpftime_shm_stats st = { .sz = sizeof(st) };

	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	return st.used;
}

enum what { PROG, PERF, LINK, BTF, RING };

static int create(struct bpftime_shm *shm, enum what w)
{
	BPFTIME_OPTS(bpftime_perf_event_opts, pe, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = "/usr/lib/x86_64-linux-gnu/libc.so.6", .offset = 16);
	uint64_t off;
	int err;

	switch (w) {
	case PROG:
		return bpftime_prog_create(shm, 10, 1, "p", insns, 64, NULL);
	case PERF:
		return bpftime_perf_event_create(shm, 10, &pe);
	case LINK:
		return bpftime_link_create(shm, 10, 1, 2, NULL);
	case BTF:
		return bpftime_btf_create(shm, 10, insns, sizeof(insns));
	case RING:
		err = bpftime_perf_event_mmap_ring(shm, 2, 3 * 4096, &off);
		return err ? err : 10;
	}
	return -EINVAL;
}

static void test_object_fault(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = name, .size_mb = 2, .max_fd = 16);
	BPFTIME_OPTS(bpftime_perf_event_opts, sw, .type = BPFTIME_PERF_TYPE_SOFTWARE, .pid = -1);
	struct bpftime_shm *shm;
	uint64_t arena, base;

	(void)state;
	snprintf(name, sizeof(name), "bpftime_test_shmfault_%d", getpid());
	bpftime_shm__remove(name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	bpftime_set_print(NULL);
	insns[63].code = 0x95;
	/* fds 1 and 2: a program and a perf event for links and rings */
	assert_int_equal(bpftime_prog_create(shm, 1, 1, "p", insns, 64, NULL), 1);
	assert_int_equal(bpftime_perf_event_create(shm, 2, &sw), 2);
	arena = shm->hdr->arena_size;
	base = used(shm);
	for (enum what w = PROG; w <= RING; w++) {
		int failures = 0, fd = -1;

		for (uint64_t left = 0; left < 65536; left += 16) {
			uint64_t filler = shm_alloc(shm, arena - base - left - 64, 16);

			if (!filler)
				continue;
			fd = create(shm, w);
			shm_free(shm, filler);
			if (fd >= 0)
				break;
			assert_int_equal(fd, -ENOMEM);
			assert_int_equal(used(shm),
					 base); /* the filler is gone: nothing else left */
			failures++;
		}
		assert_int_equal(fd, 10);
		assert_true(failures > 0);
		if (w != RING)
			assert_int_equal(bpftime_handler_close(shm, 10), 0);
		if (w != RING)
			assert_int_equal(used(shm), base);
	}
	bpftime_shm__close(shm);
}

/* The same creations with the tests' fault hook (common/alloc.h, which
 * shm_alloc consults): the nth allocation fails for n = 1, 2, ... */
struct hook_run {
	struct bpftime_shm *shm;
	enum what w;
	uint64_t base;
};

static int hook_create(void *arg)
{
	struct hook_run *r = arg;
	int fd = create(r->shm, r->w);

	if (fd < 0) {
		assert_int_equal(used(r->shm), r->base); /* nothing left behind */
		return fd;
	}
	assert_int_equal(fd, 10);
	return 0;
}

static void hook_undo(void *arg)
{
	struct hook_run *r = arg;

	assert_int_equal(bpftime_handler_close(r->shm, 10), 0);
}

static void test_object_fault_hook(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = name, .size_mb = 2, .max_fd = 16);
	BPFTIME_OPTS(bpftime_perf_event_opts, sw, .type = BPFTIME_PERF_TYPE_SOFTWARE, .pid = -1);
	struct hook_run r;

	(void)state;
	snprintf(name, sizeof(name), "bpftime_test_shmfault_%d", getpid());
	bpftime_shm__remove(name);
	r.shm = bpftime_shm__create(&o);
	assert_non_null(r.shm);
	bpftime_set_print(NULL);
	insns[63].code = 0x95;
	assert_int_equal(bpftime_prog_create(r.shm, 1, 1, "p", insns, 64, NULL), 1);
	assert_int_equal(bpftime_perf_event_create(r.shm, 2, &sw), 2);
	/* (a perf ring is made once per event: the arena test above covers it) */
	for (r.w = PROG; r.w < RING; r.w++) {
		r.base = used(r.shm);
		assert_true(test_fault_loop(hook_create, hook_undo, &r) > 0);
		assert_int_equal(used(r.shm), r.base);
	}
	bpftime_shm__close(r.shm);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_object_fault, cleanup),
		cmocka_unit_test_teardown(test_object_fault_hook, cleanup),
	};

	(void)argc;
	test_exact_heap(argv);
	return TEST_RUN(tests, NULL, NULL);
}
