/* SPDX-License-Identifier: MIT */
/* maps/kernel_test.c: kernel-shared maps (maps/kernel.c) against the real
 * kernel: whatever is written on one side (the segment's control plane, a
 * program's lookup pointer or update, another process's handle) is what the
 * kernel's own bpf(2) reads, and the other way round; perf event arrays and
 * ring buffers fed from userspace are read by libbpf's perf buffer and ring
 * buffer on the kernel map.  Skips without a usable bpf(2) (not root, a
 * seccomp filter). */
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
#include <bpftime/kernel.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>

static char shm_name[64];
static int kernel_err;

static int group_setup(void **state)
{
	(void)state;
	kernel_err = bpftime_kernel_probe();
	return 0;
}

static int setup(void **state)
{
	static int n;
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 16, .max_fd = 64);

	*state = NULL;
	if (kernel_err)
		return 0;
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_kmap_%d_%d", getpid(), n++);
	bpftime_shm__remove(shm_name);
	*state = bpftime_shm__create(&o);
	assert_non_null(*state);
	return 0;
}

static int teardown(void **state)
{
	test_kill_kids();
	if (*state) {
		bpftime_shm__close(*state);
		bpftime_shm__remove(shm_name);
	}
	return 0;
}

#define NEED_KERNEL()                                                                      \
	do {                                                                               \
		if (kernel_err)                                                            \
			TEST_SKIP("kernel eBPF unusable here: %s", strerror(-kernel_err)); \
	} while (0)

static int kmap(struct bpftime_shm *shm, int fd, enum bpftime_map_type type, uint32_t ksz,
		uint32_t vsz, uint32_t n)
{
	BPFTIME_OPTS(bpftime_map_create_opts, o, .kernel = true);
	int ret = bpftime_map_create(shm, fd, type, "kmap", ksz, vsz, n, &o);

	assert_int_equal(ret, fd);
	assert_int_not_equal(bpftime_map_kernel_id(shm, fd), 0);
	return bpftime_map_kernel_fd(shm, fd);
}

static void test_array(void **state)
{
	struct bpftime_shm *shm = *state;
	struct bpftime_map *h;
	uint64_t v = 42, got = 0, *p;
	uint32_t k = 3;
	int kfd, st;
	pid_t pid;

	NEED_KERNEL();
	kfd = kmap(shm, 5, BPFTIME_MAP_ARRAY, 4, 8, 16);
	assert_true(kfd >= 0);
	/* control plane -> kernel */
	assert_int_equal(bpftime_map_update_elem(shm, 5, &k, &v, 0), 0);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 42);
	/* the program's pointer is the kernel's memory */
	h = bpftime_map_get_handle(shm, 5);
	assert_non_null(h);
	p = bpftime_map__lookup_elem(h, &k);
	assert_non_null(p);
	assert_int_equal(*p, 42);
	__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 43);
	k = 5;
	v = 7;
	assert_int_equal(bpf_map_update_elem(kfd, &k, &v, 0), 0);
	p = bpftime_map__lookup_elem(h, &k);
	assert_int_equal(*p, 7);
	k = 16;
	assert_null(bpftime_map__lookup_elem(h, &k));
	k = 2;
	v = 9;
	assert_int_equal(bpftime_map__update_elem(h, &k, &v, 0), 0);
	assert_int_equal(bpftime_map__update_elem(h, &k, &v, BPFTIME_NOEXIST), -EEXIST);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 9);
	/* another process opens the kernel map by its id */
	pid = test_fork();
	if (pid == 0) {
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		struct bpftime_shm *s2 = bpftime_shm__open(&o);
		struct bpftime_map *h2 = s2 ? bpftime_map_get_handle(s2, 5) : NULL;
		uint32_t zero = 0;
		uint64_t *q = h2 ? bpftime_map__lookup_elem(h2, &zero) : NULL;

		if (!q)
			_exit(1);
		*q += 100;
		_exit(0);
	}
	assert_int_equal(test_reap(pid, &st), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	k = 0;
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 100);
	/* info is the loader's view */
	struct bpftime_map_info mi;
	assert_int_equal(bpftime_map_get_info(shm, 5, &mi), 0);
	assert_int_equal(mi.map_flags, 0);
	assert_int_equal(mi.max_entries, 16);
}

static void test_hash(void **state)
{
	struct bpftime_shm *shm = *state;
	struct bpftime_map *h;
	uint32_t k = 1, next;
	uint64_t v = 5, got = 0, *p;
	int kfd;

	NEED_KERNEL();
	kfd = kmap(shm, 6, BPFTIME_MAP_HASH, 4, 8, 64);
	h = bpftime_map_get_handle(shm, 6);
	assert_non_null(h);
	assert_int_equal(bpftime_map__update_elem(h, &k, &v, BPFTIME_NOEXIST), 0);
	assert_int_equal(bpftime_map__update_elem(h, &k, &v, BPFTIME_NOEXIST), -EEXIST);
	/* a run changes the value through the lookup's pointer: written back
	 * when the run ends */
	bpftime_shm__cpu_get(shm);
	p = bpftime_map__lookup_elem(h, &k);
	assert_non_null(p);
	assert_int_equal(*p, 5);
	*p += 10;
	bpftime_shm__cpu_put(shm);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 15);
	/* more lookups in a run than copies: each one is still written back */
	for (uint32_t i = 100; i < 120; i++) {
		v = i;
		assert_int_equal(bpf_map_update_elem(kfd, &i, &v, 0), 0);
	}
	bpftime_shm__cpu_get(shm);
	for (uint32_t i = 100; i < 120; i++) {
		p = bpftime_map__lookup_elem(h, &i);
		assert_non_null(p);
		*p *= 2;
	}
	bpftime_shm__cpu_put(shm);
	for (uint32_t i = 100; i < 120; i++) {
		assert_int_equal(bpf_map_lookup_elem(kfd, &i, &got), 0);
		assert_int_equal(got, 2 * i);
	}
	k = 2;
	assert_null(bpftime_map__lookup_elem(h, &k));
	k = 1;
	assert_int_equal(bpftime_map__delete_elem(h, &k), 0);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), -ENOENT);
	/* the control plane iterates the kernel's keys */
	int n = 0;
	for (int err = bpftime_map_get_next_key(shm, 6, NULL, &next); !err;
	     err = bpftime_map_get_next_key(shm, 6, &next, &next))
		n++;
	assert_int_equal(n, 20);
}

static void test_percpu(void **state)
{
	struct bpftime_shm *shm = *state;
	uint32_t ncpus = bpftime_shm__ncpus(shm), k = 0, cpu;
	uint64_t *all = calloc(ncpus, 8), v, *p;
	struct bpftime_map *ha, *hh;
	int kfa, kfh;

	NEED_KERNEL();
	assert_non_null(all);
	kfa = kmap(shm, 7, BPFTIME_MAP_PERCPU_ARRAY, 4, 8, 4);
	kfh = kmap(shm, 8, BPFTIME_MAP_PERCPU_HASH, 4, 8, 8);
	ha = bpftime_map_get_handle(shm, 7);
	hh = bpftime_map_get_handle(shm, 8);
	assert_non_null(ha);
	assert_non_null(hh);
	/* a run adds to its CPU's slot; the kernel shows it there only */
	cpu = (uint32_t)bpftime_shm__cpu_get(shm);
	p = bpftime_map__lookup_elem(ha, &k);
	assert_non_null(p);
	*p += 3;
	bpftime_shm__cpu_put(shm);
	assert_int_equal(bpf_map_lookup_elem(kfa, &k, all), 0);
	for (uint32_t c = 0; c < ncpus; c++)
		assert_int_equal(all[c], c == cpu ? 3 : 0);
	/* the control plane writes every CPU's value */
	for (uint32_t c = 0; c < ncpus; c++)
		all[c] = 10 + c;
	k = 7;
	assert_int_equal(bpftime_map_update_elem(shm, 8, &k, all, 0), 0);
	p = bpftime_map__lookup_percpu_elem(hh, &k, ncpus - 1);
	assert_non_null(p);
	assert_int_equal(*p, 10 + ncpus - 1);
	/* a program's update sets its CPU's value, a new key zeros elsewhere */
	cpu = (uint32_t)bpftime_shm__cpu_get(shm);
	k = 9;
	v = 77;
	assert_int_equal(bpftime_map__update_elem(hh, &k, &v, 0), 0);
	bpftime_shm__cpu_put(shm);
	assert_int_equal(bpf_map_lookup_elem(kfh, &k, all), 0);
	for (uint32_t c = 0; c < ncpus; c++)
		assert_int_equal(all[c], c == cpu ? 77 : 0);
	free(all);
}

static int perf_seen;

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx;
	(void)cpu;
	if (size >= 16 && !memcmp(data, "kernel-shared!!", 16))
		perf_seen++;
}

static void test_perf_event_array(void **state)
{
	struct bpftime_shm *shm = *state;
	uint32_t ncpus = bpftime_shm__ncpus(shm);
	struct perf_buffer *pb;
	struct bpftime_map *h;
	int kfd;

	NEED_KERNEL();
	kfd = kmap(shm, 9, BPFTIME_MAP_PERF_EVENT_ARRAY, 4, 4, ncpus);
	/* libbpf's perf buffer opens the perf events and fills the kernel map */
	pb = perf_buffer__new(kfd, 8, on_sample, NULL, NULL, NULL);
	assert_non_null(pb);
	h = bpftime_map_get_handle(shm, 9);
	assert_non_null(h);
	perf_seen = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(bpftime_map__perf_event_output(h, BPFTIME_F_CURRENT_CPU,
								"kernel-shared!!", 16),
				 0);
	for (int i = 0; i < 50 && perf_seen < 5; i++)
		perf_buffer__poll(pb, 100);
	assert_int_equal(perf_seen, 5);
	/* an index with no perf event: the kernel's -ENOENT */
	assert_int_equal(bpftime_map__perf_event_output(h, ncpus + 1, "x", 1), -E2BIG);
	perf_buffer__free(pb);
}

static int rb_seen;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size == 8 && *(uint64_t *)data == 0x5eed)
		rb_seen++;
	return 0;
}

static void test_ringbuf(void **state)
{
	struct bpftime_shm *shm = *state;
	struct ring_buffer *rb;
	struct bpftime_map *h;
	uint64_t v = 0x5eed, *r;
	int kfd;

	NEED_KERNEL();
	kfd = kmap(shm, 10, BPFTIME_MAP_RINGBUF, 0, 0, 4096 * 4);
	rb = ring_buffer__new(kfd, on_record, NULL, NULL);
	assert_non_null(rb);
	h = bpftime_map_get_handle(shm, 10);
	assert_non_null(h);
	rb_seen = 0;
	assert_int_equal(bpftime_map__ringbuf_output(h, &v, 8, 0), 0);
	assert_int_equal(bpftime_map__ringbuf_output(h, &v, 8, 0), 0);
	r = bpftime_map__ringbuf_reserve(h, 8, 0);
	assert_non_null(r);
	*r = 0x5eed;
	bpftime_ringbuf_submit(r, 0);
	r = bpftime_map__ringbuf_reserve(h, 8, 0);
	assert_non_null(r);
	*r = 0x5eed;
	bpftime_ringbuf_discard(r, 0);
	for (int i = 0; i < 50 && rb_seen < 3; i++)
		ring_buffer__poll(rb, 100);
	ring_buffer__poll(rb, 50);
	assert_int_equal(rb_seen, 3);
	ring_buffer__free(rb);
}

static void test_not_shared(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .kernel = true);
	BPFTIME_OPTS(bpftime_map_create_opts, lk, .kernel = true, .has_spin_lock = true,
		     .spin_lock_off = 0);
	uint32_t k = 0;
	uint64_t v = 1, got;
	int kfd;

	NEED_KERNEL();
	/* types the kernel does not share with us stay in the segment */
	assert_int_equal(bpftime_map_create(shm, 11, BPFTIME_MAP_LRU_HASH, "lru", 4, 8, 8, &o), 11);
	assert_int_equal(bpftime_map_kernel_id(shm, 11), 0);
	assert_int_equal(bpftime_map_kernel_fd(shm, 11), -EINVAL);
	/* and so do values with a spin lock (the kernel map would need BTF) */
	assert_int_equal(bpftime_map_create(shm, 12, BPFTIME_MAP_HASH, "lk", 4, 8, 8, &lk), 12);
	assert_int_equal(bpftime_map_kernel_id(shm, 12), 0);
	/* freezing reaches the kernel */
	kfd = kmap(shm, 13, BPFTIME_MAP_ARRAY, 4, 8, 1);
	assert_int_equal(bpftime_map_update_elem(shm, 13, &k, &v, 0), 0);
	assert_int_equal(bpftime_map_freeze(shm, 13), 0);
	assert_int_equal(bpf_map_update_elem(kfd, &k, &v, 0), -EPERM);
	assert_int_equal(bpftime_map_update_elem(shm, 13, &k, &v, 0), -EPERM);
	assert_int_equal(bpf_map_lookup_elem(kfd, &k, &got), 0);
	assert_int_equal(got, 1);
}

static int open_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += !access(path, F_OK);
	}
	return n;
}

/* fault twin: every allocation of creating a kernel-shared hash, making
 * its handle and a run's lookup through a copy fails in turn: -ENOMEM (or
 * no value), and a failed creation leaves no kernel fd behind */
static void test_fault(void **state)
{
	struct bpftime_shm *shm = *state;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .kernel = true);
	uint32_t k = 1;
	uint64_t v = 5, *p;
	unsigned long n;

	NEED_KERNEL();
	for (n = 1; n < 200; n++) {
		struct bpftime_map *h = NULL;
		int before = open_fds(), ret;

		mem_fault_set(n, false);
		ret = bpftime_map_create(shm, 20, BPFTIME_MAP_HASH, "fault", 4, 8, 4, &o);
		if (ret == 20) {
			h = bpftime_map_get_handle(shm, 20);
			if (h && !bpftime_map_update_elem(shm, 20, &k, &v, 0)) {
				bpftime_shm__cpu_get(shm);
				p = bpftime_map__lookup_elem(h, &k);
				assert_true(!p || *p == 5);
				bpftime_shm__cpu_put(shm);
			}
		} else {
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(open_fds(), before);
		}
		mem_fault_set(0, false);
		if (ret == 20)
			bpftime_handler_close(shm, 20);
		if (!mem_fault_hits())
			break;
	}
	assert_true(n < 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_array, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_percpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perf_event_array, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ringbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup, teardown),
	};

	return TEST_RUN(tests, group_setup, NULL);
}
