/* SPDX-License-Identifier: MIT */
/* shm/shm_test.c: the segment (create/open/checks/remove), the allocator,
 * the handler table, pins, owners, robust locks and the trace ring. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include <bpftime/map.h>
#include "common/compiler.h"
#include "shm/internal.h"

static char shm_name[64];

static int setup(void **state)
{
	static int n;

	snprintf(shm_name, sizeof(shm_name), "bpftime_test_shm_%d_%d", getpid(), n++);
	bpftime_shm__remove(shm_name);
	*state = NULL;
	return 0;
}

static int teardown(void **state)
{
	bpftime_shm__close(*state);
	bpftime_shm__remove(shm_name);
	return 0;
}

static struct bpftime_shm *mk(void **state, uint32_t mb, uint32_t max_fd)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = mb, .max_fd = max_fd);
	struct bpftime_shm *shm = bpftime_shm__create(&o);

	assert_non_null(shm);
	*state = shm;
	return shm;
}

static struct bpftime_shm *reopen(void)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);

	return bpftime_shm__open(&o);
}

static const struct bpftime_insn prog2[2] = {
	{ .code = 0xb7, .dst = 0, .imm = 7 }, /* r0 = 7 */
	{ .code = 0x95 },		      /* exit */
};

static void test_create_open_remove(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 128), *o2;
	struct stat st;
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/%s", shm_name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 4 << 20);
	assert_int_equal(bpftime_shm__max_fd(shm), 128);
	assert_true(bpftime_shm__ncpus(shm) >= 1);
	assert_int_equal(bpftime_shm__ncpus(shm), bpftime_num_possible_cpus());

	/* a second create fails, open works and sees the same table */
	{
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name);
		assert_null(bpftime_shm__create(&o));
		assert_int_equal(errno, EEXIST);
	}
	assert_int_equal(bpftime_prog_create(shm, 5, 1, "p", prog2, 2, NULL), 5);
	o2 = reopen();
	assert_non_null(o2);
	assert_int_equal(bpftime_handler_get_type(o2, 5), BPFTIME_HANDLER_PROG);
	bpftime_shm__close(o2);

	assert_int_equal(bpftime_shm__remove(shm_name), 0);
	assert_null(reopen());
	assert_int_equal(errno, ENOENT);
	assert_int_equal(bpftime_shm__remove(shm_name), -ENOENT);
}

static void test_env_defaults(void **state)
{
	struct bpftime_shm *shm;

	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
	setenv("BPFTIME_SHM_MEMORY_MB", "3", 1);
	setenv("BPFTIME_MAX_FD_COUNT", "99", 1);
	shm = bpftime_shm__open_or_create(NULL);
	assert_non_null(shm);
	*state = shm;
	assert_string_equal(bpftime_shm__name(shm), shm_name);
	assert_int_equal(bpftime_shm__size(shm), 3 << 20);
	assert_int_equal(bpftime_shm__max_fd(shm), 99);
	setenv("BPFTIME_SHM_MEMORY_MB", "lots", 1);
	assert_null(bpftime_shm__create(NULL));
	assert_int_equal(errno, EINVAL);
	unsetenv("BPFTIME_GLOBAL_SHM_NAME");
	unsetenv("BPFTIME_SHM_MEMORY_MB");
	unsetenv("BPFTIME_MAX_FD_COUNT");
}

/* Edits the header through a raw mapping and expects open to refuse. */
static void corrupt_and_check(size_t off, uint32_t val)
{
	int fd = shm_open(shm_name, O_RDWR, 0);
	char *p;
	uint32_t old;
	struct bpftime_shm *s;

	assert_true(fd >= 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	memcpy(&old, p + off, 4);
	memcpy(p + off, &val, 4);
	s = reopen();
	assert_null(s);
	assert_int_equal(errno, EPROTO);
	memcpy(p + off, &old, 4);
	s = reopen();
	assert_non_null(s);
	bpftime_shm__close(s);
	munmap(p, 4096);
	close(fd);
}

static void test_header_mismatch(void **state)
{
	int fd;

	mk(state, 2, 64);
	corrupt_and_check(offsetof(struct shm_header, magic), 0x12345678);
	corrupt_and_check(offsetof(struct shm_header, abi_version), SHM_ABI_VERSION + 1);
	corrupt_and_check(offsetof(struct shm_header, size), 12345);
	corrupt_and_check(offsetof(struct shm_header, max_fd), 1u << 30);

	/* an object whose creator never finished: zeros, never ready */
	bpftime_shm__close(*state);
	*state = NULL;
	bpftime_shm__remove(shm_name);
	fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	assert_null(reopen());
	assert_int_equal(errno, EPROTO);
	/* and one far too small to be ours */
	bpftime_shm__remove(shm_name);
	fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_int_equal(ftruncate(fd, 16), 0);
	close(fd);
	assert_null(reopen());
	assert_int_equal(errno, EPROTO);
}

static void test_alloc_coalesce(void **state)
{
	struct bpftime_shm *shm = mk(state, 2, 16);
	struct bpftime_shm_stats st0 = { .sz = sizeof(st0) }, st = { .sz = sizeof(st) };
	uint64_t offs[200];

	assert_int_equal(bpftime_shm__stats(shm, &st0), 0);
	assert_int_equal(st0.free_blocks, 1);
	assert_int_equal(st0.used, 0);
	for (int i = 0; i < 200; i++) {
		size_t align = (i % 7 == 0) ? 4096 : 16;

		offs[i] = shm_alloc(shm, (size_t)(i * 37 % 3000) + 1, align);
		assert_true(offs[i] != 0);
		assert_int_equal(offs[i] % align, 0);
		memset(shm_ptr(shm, offs[i]), 0xab, (size_t)(i * 37 % 3000) + 1);
	}
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	assert_true(st.used > 0);
	/* free every other block, then the rest: everything merges back */
	for (int i = 0; i < 200; i += 2)
		shm_free(shm, offs[i]);
	for (int i = 1; i < 200; i += 2)
		shm_free(shm, offs[i]);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.free_blocks, 1);
	assert_int_equal(st.largest_free, st0.largest_free);

	/* out of space: ENOMEM, and the arena is still usable */
	{
		static char big[3 << 20];

		assert_int_equal(bpftime_btf_create(shm, -1, big, sizeof(big)), -ENOMEM);
		assert_int_equal(errno, ENOMEM);
		assert_true(bpftime_btf_create(shm, -1, big, 4096) >= 0);
	}
}

static void test_handlers(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	struct bpftime_handler_info info, info2;
	struct bpftime_prog_info pi;
	uint32_t e0 = bpftime_shm__epoch(shm), id;
	size_t cnt;
	const struct bpftime_insn *ins;
	BPFTIME_OPTS(bpftime_prog_create_opts, po, .license = "GPL", .expected_attach_type = 3);

	assert_int_equal(bpftime_prog_create(shm, 10, 2, "my_prog_name_is_long", prog2, 2, &po),
			 10);
	assert_true(bpftime_shm__epoch(shm) != e0);
	assert_int_equal(bpftime_prog_create(shm, 10, 2, "x", prog2, 2, NULL), -EEXIST);
	assert_int_equal(bpftime_prog_create(shm, 64, 2, "x", prog2, 2, NULL), -EBADF);
	assert_int_equal(bpftime_prog_create(shm, -1, 2, "x", prog2, 0, NULL), -EINVAL);
	assert_int_equal(bpftime_prog_create(shm, -1, 2, "first", prog2, 2, NULL), 0);
	assert_int_equal(bpftime_handler_next(shm, -1), 0);
	assert_int_equal(bpftime_handler_next(shm, 0), 10);
	assert_int_equal(bpftime_handler_next(shm, 10), -ENOENT);

	assert_int_equal(bpftime_handler_get_info(shm, 10, &info), 0);
	assert_int_equal(info.type, BPFTIME_HANDLER_PROG);
	assert_int_equal(info.owner_pid, getpid());
	assert_string_equal(info.name, "my_prog_name_is");
	assert_int_equal(info.refcnt, 1);
	assert_int_equal(bpftime_handler_get_info(shm, 11, &info2), -ENOENT);
	assert_int_equal(bpftime_handler_get_info(shm, 1000, &info2), -EBADF);

	assert_int_equal(bpftime_prog_get_info(shm, 10, &pi), 0);
	assert_int_equal(pi.type, 2);
	assert_int_equal(pi.insn_cnt, 2);
	assert_int_equal(pi.expected_attach_type, 3);
	assert_string_equal(pi.license, "GPL");
	ins = bpftime_prog_insns(shm, 10, &cnt);
	assert_non_null(ins);
	assert_int_equal(cnt, 2);
	assert_memory_equal(ins, prog2, sizeof(prog2));
	assert_int_equal(bpftime_prog_add_attach_fd(shm, 10, 33), 0);
	assert_int_equal(bpftime_prog_get_info(shm, 10, &pi), 0);
	assert_int_equal(pi.attach_cnt, 1);
	assert_int_equal(pi.attach_fds[0], 33);
	assert_int_equal(bpftime_prog_set_aot(shm, 10, "ELF", 3), 0);
	{
		size_t sz;
		const char *a = bpftime_prog_aot(shm, 10, &sz);

		assert_int_equal(sz, 3);
		assert_memory_equal(a, "ELF", 3);
	}

	/* dup: same object, two slots; ids and next_id */
	assert_int_equal(bpftime_handler_dup(shm, 10, 20), 20);
	assert_int_equal(bpftime_handler_get_info(shm, 20, &info2), 0);
	assert_int_equal(info2.id, info.id);
	assert_int_equal(info2.refcnt, 2);
	assert_int_equal(bpftime_handler_fd_by_id(shm, info.id), 10);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, 0, &id), 0);
	assert_int_equal(id, info.id); /* fd 10 was created first: ids grow */
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, id, &id), 0);
	assert_int_equal(bpftime_handler_fd_by_id(shm, id), 0);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, id, &id), -ENOENT);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_MAP, 0, &id), -ENOENT);
	assert_int_equal(bpftime_handler_close(shm, 10), 0);
	assert_int_equal(bpftime_handler_close(shm, 10), -EBADF);
	assert_int_equal(bpftime_handler_get_info(shm, 20, &info2), 0);
	assert_int_equal(info2.refcnt, 1);
	assert_int_equal(bpftime_handler_fd_by_id(shm, info.id), 20);

	/* generation: a reused slot has a different generation */
	assert_int_equal(bpftime_handler_close(shm, 20), 0);
	assert_int_equal(bpftime_handler_fd_by_id(shm, info.id), -ENOENT);
	assert_int_equal(bpftime_prog_create(shm, 10, 2, "again", prog2, 2, NULL), 10);
	assert_int_equal(bpftime_handler_get_info(shm, 10, &info2), 0);
	assert_true(info2.gen != info.gen);
	assert_true(info2.id != info.id);

	/* a writer killed mid-change leaves an odd generation: readers still
	 * get an answer, and the next change makes it even again */
	atomic_fetch_add(&shm->slots[10].gen, 1);
	assert_int_equal(bpftime_handler_get_info(shm, 10, &info2), 0);
	assert_int_equal(info2.type, BPFTIME_HANDLER_PROG);
	assert_int_equal(bpftime_handler_close(shm, 10), 0);
	assert_int_equal(atomic_load(&shm->slots[10].gen) % 2, 0);
}

static void test_perf_link_btf(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	BPFTIME_OPTS(bpftime_perf_event_opts, pe, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = "/usr/lib/libc.so.6", .offset = 0x1234, .ref_ctr_off = 8);
	BPFTIME_OPTS(bpftime_link_opts, lo, .cookie = 99);
	struct bpftime_perf_event_info pi;
	struct bpftime_link_info li;
	struct bpftime_handler_info hi;
	struct bpftime_shm_stats st = { .sz = sizeof(st) };
	uint64_t used0, off;
	size_t sz;

	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	used0 = st.used;
	assert_int_equal(bpftime_prog_create(shm, 3, 2, "p", prog2, 2, NULL), 3);
	assert_int_equal(bpftime_perf_event_create(shm, 4, &pe), 4);
	assert_int_equal(bpftime_perf_event_get_info(shm, 4, &pi), 0);
	assert_int_equal(pi.type, 6);
	assert_string_equal(pi.module, "/usr/lib/libc.so.6");
	assert_int_equal(pi.offset, 0x1234);
	assert_int_equal(pi.ref_ctr_off, 8);
	assert_false(pi.enabled);
	assert_int_equal(bpftime_perf_event_enable(shm, 4, true), 0);
	assert_int_equal(bpftime_perf_event_set_cookie(shm, 4, 77), 0);
	assert_int_equal(bpftime_perf_event_get_info(shm, 4, &pi), 0);
	assert_true(pi.enabled);
	assert_int_equal(pi.cookie, 77);
	pe.module = NULL;
	assert_int_equal(bpftime_perf_event_create(shm, -1, &pe), -EINVAL);
	pe.type = 99;
	assert_int_equal(bpftime_perf_event_create(shm, -1, &pe), -EINVAL);

	assert_int_equal(bpftime_link_create(shm, 5, 4, 3, &lo), -EBADF); /* not a prog */
	assert_int_equal(bpftime_link_create(shm, 5, 3, 40, &lo), -EBADF);
	assert_int_equal(bpftime_link_create(shm, 5, 3, 4, &lo), 5);
	assert_int_equal(bpftime_link_get_info(shm, 5, &li), 0);
	assert_int_equal(li.prog_fd, 3);
	assert_int_equal(li.target_fd, 4);
	assert_int_equal(li.cookie, 99);
	/* the link keeps the program alive */
	assert_int_equal(bpftime_handler_close(shm, 3), 0);
	assert_int_equal(bpftime_handler_get_info(shm, 4, &hi), 0);
	assert_int_equal(hi.refcnt, 2);

	/* a software event gets a perf ring at a page-aligned file offset */
	pe.type = BPFTIME_PERF_TYPE_SOFTWARE;
	pe.config = 10;
	assert_int_equal(bpftime_perf_event_create(shm, 6, &pe), 6);
	assert_int_equal(bpftime_perf_event_mmap_ring(shm, 6, 4096 * 4, &off), -EINVAL);
	assert_int_equal(bpftime_perf_event_mmap_ring(shm, 6, 4096 * 5, &off), 0);
	assert_int_equal(off % 4096, 0);
	{
		uint64_t off2;

		assert_int_equal(bpftime_perf_event_mmap_ring(shm, 6, 4096 * 5, &off2), 0);
		assert_int_equal(off, off2);
	}

	assert_int_equal(bpftime_btf_create(shm, 7, "\x9f\xeb\x01\x00", 4), 7);
	assert_memory_equal(bpftime_btf_data(shm, 7, &sz), "\x9f\xeb\x01\x00", 4);
	assert_int_equal(sz, 4);
	assert_null(bpftime_btf_data(shm, 6, &sz));

	/* closing everything gives every byte back */
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(bpftime_shm__stats(shm, &st), 0);
	assert_int_equal(st.used, used0);
	assert_int_equal(st.handlers, 0);
}

/* a program keeps its func info and line info, and holds its BTF: the
 * BTF slot may close, the object stays reachable by id until the program goes */
static void test_prog_btf_ext(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	const uint32_t finfo[4] = { 0, 7, 99, 0 }; /* 16-byte records: tail kept */
	const uint32_t linfo[8] = { 0, 1, 2, 3 << 10, 1, 1, 9, 4 << 10 };
	const char blob[32] = "pretend btf";
	BPFTIME_OPTS(bpftime_prog_create_opts, po, .prog_btf_fd = 2, .func_info = finfo,
		     .func_info_rec_size = 16, .func_info_cnt = 1, .line_info = linfo,
		     .line_info_rec_size = 16, .line_info_cnt = 2);
	struct bpftime_prog_btf_ext e;
	struct bpftime_prog_info pi;
	struct bpftime_handler_info hi;
	size_t size;
	int fd;

	assert_int_equal(bpftime_btf_create(shm, 2, blob, sizeof(blob)), 2);
	assert_int_equal(bpftime_handler_get_info(shm, 2, &hi), 0);
	assert_int_equal(bpftime_prog_create(shm, 3, 1, "p", prog2, 2, &po), 3);
	assert_int_equal(bpftime_prog_get_info(shm, 3, &pi), 0);
	assert_int_equal(pi.btf_id, hi.id);
	assert_int_equal(pi.func_info_cnt, 1);
	assert_int_equal(pi.line_info_cnt, 2);
	assert_int_equal(bpftime_prog_get_btf_ext(shm, 3, &e), 0);
	assert_int_equal(e.func_info_rec_size, 16);
	assert_int_equal(e.func_info_cnt, 1);
	assert_memory_equal(e.func_info, finfo, 16);
	assert_int_equal(e.line_info_cnt, 2);
	assert_memory_equal(e.line_info, linfo, 32);
	assert_int_equal(bpftime_prog_get_btf_ext(shm, 2, &e), -EBADF);
	/* the BTF outlives its slot while the program holds it */
	assert_int_equal(bpftime_handler_close(shm, 2), 0);
	fd = bpftime_handler_open_id(shm, hi.id, -1);
	assert_true(fd >= 0);
	assert_memory_equal(bpftime_btf_data(shm, fd, &size), blob, sizeof(blob));
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(bpftime_handler_close(shm, 3), 0);
	assert_int_equal(bpftime_handler_open_id(shm, hi.id, -1), -ENOENT);
	/* no info: nothing; bad record sizes: refused */
	assert_int_equal(bpftime_prog_create(shm, 3, 1, "p", prog2, 2, NULL), 3);
	assert_int_equal(bpftime_prog_get_btf_ext(shm, 3, &e), 0);
	assert_null(e.func_info);
	assert_int_equal(e.line_info_cnt, 0);
	po.prog_btf_fd = -1;
	po.line_info_rec_size = 8;
	assert_int_equal(bpftime_prog_create(shm, 4, 1, "p", prog2, 2, &po), -EINVAL);
	po.line_info_rec_size = 16;
	po.func_info = NULL;
	assert_int_equal(bpftime_prog_create(shm, 4, 1, "p", prog2, 2, &po), -EINVAL);
}

static void test_pins_and_owners(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	char path[BPFTIME_PIN_PATH_MAX];
	pid_t child;
	int status;

	assert_int_equal(bpftime_prog_create(shm, 3, 2, "a", prog2, 2, NULL), 3);
	assert_int_equal(bpftime_prog_create(shm, 4, 2, "b", prog2, 2, NULL), 4);
	assert_int_equal(bpftime_obj_pin(shm, 3, "/sys/fs/bpf/a"), 0);
	assert_int_equal(bpftime_obj_pin(shm, 4, "/sys/fs/bpf/a"), -EEXIST);
	assert_int_equal(bpftime_obj_pin(shm, 9, "/sys/fs/bpf/z"), -EBADF);
	assert_true(bpftime_obj_pin_at(shm, 0, path, sizeof(path)) > 0);
	assert_string_equal(path, "/sys/fs/bpf/a");

	/* the loader exits: its unpinned objects go, the pinned one stays */
	assert_int_equal(bpftime_shm__release_owner(shm, getpid()), 1);
	assert_int_equal(bpftime_handler_get_type(shm, 3), BPFTIME_HANDLER_PROG);
	assert_int_equal(bpftime_handler_get_type(shm, 4), BPFTIME_HANDLER_NONE);
	/* OBJ_GET gives another fd to the same object; unpin + close frees it */
	assert_int_equal(bpftime_obj_get(shm, "/sys/fs/bpf/a", 8), 8);
	assert_int_equal(bpftime_obj_get(shm, "/sys/fs/bpf/nope", 9), -ENOENT);
	assert_int_equal(bpftime_obj_unpin(shm, "/sys/fs/bpf/a"), 0);
	assert_int_equal(bpftime_obj_unpin(shm, "/sys/fs/bpf/a"), -ENOENT);
	assert_int_equal(bpftime_handler_close(shm, 3), 0);
	assert_int_equal(bpftime_handler_get_type(shm, 8), BPFTIME_HANDLER_PROG);

	/* a dead process's handlers are reclaimable */
	child = fork();
	if (child == 0) {
		struct bpftime_shm *c = reopen();

		_exit(c && bpftime_prog_create(c, 12, 2, "child", prog2, 2, NULL) == 12 ? 0 : 1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(status, 0);
	assert_int_equal(bpftime_handler_get_type(shm, 12), BPFTIME_HANDLER_PROG);
	assert_int_equal(bpftime_shm__reclaim_dead(shm), 1);
	assert_int_equal(bpftime_handler_get_type(shm, 12), BPFTIME_HANDLER_NONE);
	assert_int_equal(bpftime_handler_get_type(shm, 8), BPFTIME_HANDLER_PROG); /* ours, alive */
}

/* A process SIGKILLed while holding the table lock does not wedge us. */
/* Objects live as long as something holds them, whatever slot: the live
 * list (GET_NEXT_ID / GET_FD_BY_ID) shows exactly those. */
static void test_identity(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	BPFTIME_OPTS(bpftime_perf_event_opts, pe, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = "/bin/true", .offset = 16);
	BPFTIME_OPTS(bpftime_prog_create_opts, po, .prog_btf_fd = 5);
	const struct bpftime_insn names_btf[] = {
		{ .code = 0x18, .src = BPFTIME_PSEUDO_MAP_FD, .imm = 5 },
		{ 0 },
		{ .code = 0x95 },
	};
	struct bpftime_link_info li;
	uint32_t id = 0, ids[4], n = 0, prog_id;
	int fd;

	assert_int_equal(bpftime_btf_create(shm, 5, "\x9f\xeb\x01\x00", 4), 5);
	assert_int_equal(bpftime_prog_create(shm, 6, 2, "p", prog2, 2, &po), 6);
	assert_int_equal(bpftime_perf_event_create(shm, 7, &pe), 7);
	assert_int_equal(bpftime_link_create(shm, 8, 6, 7, NULL), 8);
	/* an lddw naming a slot that is no map */
	assert_int_equal(bpftime_prog_create(shm, -1, 2, "q", names_btf, 3, NULL), -EBADF);
	assert_int_equal(bpftime_obj_pin(shm, 8, "/sys/fs/bpf/l"), 0);
	for (fd = 5; fd <= 8; fd++)
		assert_int_equal(bpftime_handler_close(shm, fd), 0);
	assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
	/* the pin holds the link, the link its program and perf event, the
	 * program its BTF: all four live on, listed in creation order */
	while (!bpftime_handler_next_id(shm, BPFTIME_HANDLER_NONE, id, &id) && n < 4)
		ids[n++] = id;
	assert_int_equal(n, 4);
	assert_true(ids[0] < ids[1] && ids[1] < ids[2] && ids[2] < ids[3]);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, 0, &prog_id), 0);
	assert_int_equal(prog_id, ids[1]);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, prog_id, &id), -ENOENT);
	/* the link read by its id, with no slot anywhere (what the agent walks) */
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_LINK, 0, &id), 0);
	assert_int_equal(id, ids[3]);
	assert_int_equal(bpftime_link_get_info_by_id(shm, id, &li), 0);
	assert_int_equal(li.id, ids[3]);
	assert_int_equal(li.prog_id, prog_id);
	assert_int_equal(li.target_id, ids[2]);
	assert_int_equal(li.prog_fd, -1);
	assert_int_equal(li.target_fd, -1);
	assert_int_equal(bpftime_link_get_info_by_id(shm, prog_id, &li), -ENOENT); /* not a link */
	/* opened by id, from nothing but the link */
	fd = bpftime_handler_open_id(shm, ids[3], -1);
	assert_true(fd >= 0);
	assert_int_equal(bpftime_link_get_info(shm, fd, &li), 0);
	assert_int_equal(li.prog_id, prog_id);
	assert_int_equal(li.prog_fd, -1); /* no slot names the program */
	assert_int_equal(li.target_fd, -1);
	{
		struct bpftime_perf_event_info pi;

		assert_int_equal(bpftime_perf_event_get_info_by_id(shm, li.target_id, &pi), 0);
		assert_string_equal(pi.module, "/bin/true");
	}
	assert_int_equal(bpftime_handler_open_id(shm, prog_id, 20), 20);
	assert_int_equal(bpftime_link_get_info(shm, fd, &li), 0);
	assert_int_equal(li.prog_fd, 20);
	assert_int_equal(bpftime_handler_close(shm, 20), 0);
	assert_int_equal(bpftime_handler_close(shm, fd), 0);
	/* the last holder goes: so do they all, and their ids */
	assert_int_equal(bpftime_obj_unpin(shm, "/sys/fs/bpf/l"), 0);
	assert_int_equal(bpftime_handler_next_id(shm, BPFTIME_HANDLER_NONE, 0, &id), -ENOENT);
	assert_int_equal(bpftime_handler_open_id(shm, prog_id, -1), -ENOENT);
	assert_int_equal(bpftime_link_get_info_by_id(shm, ids[3], &li), -ENOENT);
}

/* bpffs directories next to the pins */
static void test_bpffs_dirs(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	enum bpftime_handler_type t;
	uint32_t id, mode;
	char path[BPFTIME_PIN_PATH_MAX];
	int dirs = 0, pins = 0, r;

	assert_int_equal(bpftime_prog_create(shm, 3, 2, "p", prog2, 2, NULL), 3);
	assert_int_equal(bpftime_bpffs_mkdir(shm, "/sys/fs/bpf/d", 0755), 0);
	assert_int_equal(bpftime_bpffs_mkdir(shm, "/sys/fs/bpf/d", 0755), -EEXIST);
	assert_int_equal(bpftime_bpffs_lookup(shm, "/sys/fs/bpf/d", &t, &id, &mode), 0);
	assert_int_equal(t, BPFTIME_HANDLER_NONE);
	assert_int_equal(mode, 0755);
	assert_int_equal(bpftime_obj_pin(shm, 3, "/sys/fs/bpf/d/e/p"), 0);
	assert_int_equal(bpftime_obj_pin(shm, 3, "/sys/fs/bpf/d"), -EEXIST);
	assert_int_equal(bpftime_obj_pin(shm, 3, "/sys/fs/bpf/d/e"), -EEXIST); /* implied dir */
	assert_int_equal(bpftime_bpffs_lookup(shm, "/sys/fs/bpf/d/e", &t, &id, &mode), 0);
	assert_int_equal(t, BPFTIME_HANDLER_NONE);
	assert_int_equal(mode, 0700);
	assert_int_equal(bpftime_bpffs_lookup(shm, "/sys/fs/bpf/d/e/p", &t, &id, &mode), 0);
	assert_int_equal(t, BPFTIME_HANDLER_PROG);
	assert_int_equal(mode, 0600);
	assert_int_equal(bpftime_bpffs_lookup(shm, "/sys/fs/bpf/d/x", &t, &id, &mode), -ENOENT);
	assert_int_equal(bpftime_bpffs_rmdir(shm, "/sys/fs/bpf/d"), -ENOTEMPTY);
	assert_int_equal(bpftime_bpffs_rmdir(shm, "/sys/fs/bpf/d/e/p"), -ENOTDIR);
	assert_int_equal(bpftime_obj_unpin(shm, "/sys/fs/bpf/d"), -EISDIR);
	assert_int_equal(bpftime_obj_get(shm, "/sys/fs/bpf/d", -1), -ENOENT);
	for (int i = 0; (r = bpftime_bpffs_entry_at(shm, i, path, sizeof(path))) != -EINVAL; i++) {
		dirs += r == BPFTIME_HANDLER_NONE && !strcmp(path, "/sys/fs/bpf/d");
		pins += r == BPFTIME_HANDLER_PROG && !strcmp(path, "/sys/fs/bpf/d/e/p");
	}
	assert_int_equal(dirs, 1);
	assert_int_equal(pins, 1);
	/* the pin lists only pins */
	assert_int_equal(bpftime_obj_pin_at(shm, 0, path, sizeof(path)), -ENOENT);
	assert_int_equal(bpftime_obj_unpin(shm, "/sys/fs/bpf/d/e/p"), 0);
	assert_int_equal(bpftime_bpffs_lookup(shm, "/sys/fs/bpf/d/e", &t, &id, &mode), -ENOENT);
	assert_int_equal(bpftime_bpffs_rmdir(shm, "/sys/fs/bpf/d"), 0);
	assert_int_equal(bpftime_bpffs_rmdir(shm, "/sys/fs/bpf/d"), -ENOENT);
}

static void test_robust_lock(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	int pfd[2];
	pid_t child;
	char c;

	assert_int_equal(pipe(pfd), 0);
	child = fork();
	if (child == 0) {
		struct bpftime_shm *s = reopen();

		shm_lock(&s->hdr->table_lock);
		shm_lock(&s->alloc->lock);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(pfd[0], &c, 1), 1);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	assert_int_equal(bpftime_prog_create(shm, 3, 2, "after", prog2, 2, NULL), 3);
	assert_int_equal(bpftime_handler_close(shm, 3), 0);
	close(pfd[0]);
	close(pfd[1]);
}

static void *bumper(void *arg)
{
	struct bpftime_shm *shm = arg;

	usleep(20000);
	bpftime_prog_create(shm, -1, 2, "t", prog2, 2, NULL);
	return NULL;
}

static void test_epoch_wait(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 64);
	uint32_t e = bpftime_shm__epoch(shm);
	pthread_t t;

	assert_int_equal(bpftime_shm__wait_epoch(shm, e, 1), -ETIMEDOUT);
	assert_int_equal(bpftime_shm__wait_epoch(shm, e - 1, 1), 0);
	pthread_create(&t, NULL, bumper, shm);
	assert_int_equal(bpftime_shm__wait_epoch(shm, e, -1), 0);
	pthread_join(t, NULL);
	assert_true(bpftime_shm__epoch(shm) != e);
}

static void test_concurrent_create(void **state)
{
	enum { N = 6 };
	pid_t kids[N];
	struct bpftime_shm *shm;
	int n = 0;

	UNUSED(state);
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 4,
				     .max_fd = 64);
			struct bpftime_shm *s = bpftime_shm__open_or_create(&o);

			if (!s || bpftime_prog_create(s, -1, 2, "k", prog2, 2, NULL) < 0)
				_exit(1);
			bpftime_handler_set_owner(s, bpftime_handler_next(s, -1), 0);
			_exit(0);
		}
	}
	for (int i = 0; i < N; i++) {
		int st;

		assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
		assert_int_equal(st, 0);
	}
	shm = reopen();
	assert_non_null(shm);
	*state = shm;
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd))
		n++;
	assert_int_equal(n, N);
}

static void test_trace_ring(void **state)
{
	struct bpftime_shm *shm = mk(state, 4, 16);
	uint64_t pos = 0, pos2;
	char buf[64], msg[64];
	int n = 0;

	assert_int_equal(bpftime_trace__read(shm, &pos, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(bpftime_trace__write(shm, "hello\n", 6), 0);
	assert_int_equal(bpftime_trace__write(shm, "world\n", 6), 0);
	assert_int_equal(bpftime_trace__read(shm, &pos, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "hello\n");
	assert_int_equal(bpftime_trace__read(shm, &pos, buf, 4), 6);
	assert_string_equal(buf, "wor");
	assert_int_equal(bpftime_trace__read(shm, &pos, buf, sizeof(buf)), -EAGAIN);
	/* trace_pipe consumes (one position for all), trace does not */
	{
		uint64_t start, written;

		assert_int_equal(bpftime_trace__unconsumed(shm, &start, &written), 2);
		assert_int_equal(written, 2);
		assert_int_equal(bpftime_trace__consume(shm, buf, sizeof(buf)), 6);
		assert_string_equal(buf, "hello\n");
		assert_int_equal(bpftime_trace__unconsumed(shm, &start, &written), 1);
		assert_int_equal(bpftime_trace__read(shm, &start, buf, sizeof(buf)), 6);
		assert_string_equal(buf, "world\n");
		assert_int_equal(bpftime_trace__consume(shm, buf, sizeof(buf)), 6);
		assert_string_equal(buf, "world\n");
		assert_int_equal(bpftime_trace__consume(shm, buf, sizeof(buf)), -EAGAIN);
		assert_int_equal(bpftime_trace__unconsumed(shm, &start, &written), 0);
	}
	/* lap the reader: it resumes on a message boundary with intact messages */
	pos2 = pos;
	for (int i = 0; i < 20000; i++) {
		int l = snprintf(msg, sizeof(msg), "message %d", i);

		assert_int_equal(bpftime_trace__write(shm, msg, (size_t)l), 0);
	}
	while (bpftime_trace__read(shm, &pos2, buf, sizeof(buf)) > 0) {
		assert_memory_equal(buf, "message ", 8);
		n++;
	}
	assert_true(n > 0);
	assert_string_equal(buf, "message 19999");
	/* a lapped consumer resumes the same way */
	n = 0;
	while (bpftime_trace__consume(shm, buf, sizeof(buf)) > 0)
		n++;
	assert_true(n > 0);
	assert_string_equal(buf, "message 19999");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_open_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_coalesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handlers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perf_link_btf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prog_btf_ext, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pins_and_owners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bpffs_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_robust_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_ring, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
