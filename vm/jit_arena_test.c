/* SPDX-License-Identifier: MIT */
/* vm/jit_arena_test.c: the JIT's code arena (vm/jit_arena.c) under use.
 *
 * Many programs compiled and alive at once (no two pieces overlap, each
 * runs its own code), compiled and freed in rounds (the memory is reused,
 * nothing grows), freed memory (INT3 throughout, handed out again),
 * programs larger than a chunk, compiles from several threads at once,
 * fork() (the child's arena is its own copy, with and without the
 * pthread_atfork handlers), and W^X as the kernel sees it in
 * /proc/self/maps: no mapping of the process is rwx, and the pages of
 * every live program are r-x.  Packing: small programs share a page side
 * by side, freeing one leaves its neighbours' bytes alone, code keeps
 * running while its neighbours are compiled and freed (a page holding it
 * never stops being executable), and the code cannot be written.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/testkit.h"
#include "vm/internal.h"
#include "vm/jit_arena.h"
#include "vm/test_insn.h"
#include "common/compiler.h"

static uint64_t helper_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* A program of about n instructions whose r0 is a function of seed and n:
 * r0 = seed; r0 += k for k = 1..; a helper call now and then; exit.
 * *expect is its result.  NULL (after a message) if it does not load or
 * compile (no cmocka assertion: forked children use it too). */
static struct bpftime_vm *build_try(size_t n, uint32_t seed, uint64_t *expect)
{
	struct bpftime_insn *p = calloc(n + 8, sizeof(*p));
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	uint64_t r0 = seed;
	size_t i = 0;

	if (!p || !vm || bpftime_vm__register_helper(vm, 1, "add", helper_add)) {
		fprintf(stderr, "build: out of memory\n");
		goto fail;
	}
	p[i++] = BPF_MOV64_IMM(0, (int32_t)seed);
	for (uint32_t k = 1; i + 2 < n; k++) {
		if (k % 64 == 0 && i + 8 < n) {
			/* r0 = add(r0, 1, 0, 0, 0) */
			p[i++] = BPF_MOV64_REG(1, 0);
			p[i++] = BPF_MOV64_IMM(2, 1);
			for (int r = 3; r <= 5; r++)
				p[i++] = BPF_MOV64_IMM(r, 0);
			p[i++] = BPF_CALL_HELPER(1);
			r0 += 1;
			continue;
		}
		p[i++] = BPF_ALU64_IMM(BPF_ADD, 0, (int32_t)(k * 1000));
		r0 += (uint64_t)k * 1000;
	}
	p[i++] = BPF_EXIT_INSN();
	if (bpftime_vm__load(vm, p, i) || bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT)) {
		fprintf(stderr, "build: %s\n", bpftime_vm__last_error(vm));
		goto fail;
	}
	free(p);
	*expect = r0;
	return vm;
fail:
	free(p);
	bpftime_vm__free(vm);
	return NULL;
}

static struct bpftime_vm *build(size_t n, uint32_t seed, uint64_t *expect)
{
	struct bpftime_vm *vm = build_try(n, seed, expect);

	if (!vm)
		fail_msg("cannot build a program of %zu instructions", n);
	return vm;
}

static uint64_t run(struct bpftime_vm *vm)
{
	uint64_t r0 = 0;

	assert_int_equal(bpftime_vm__engine(vm), BPFTIME_ENGINE_JIT);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	return r0;
}

/* The permissions of the mapping that holds addr ("" if none); fails on
 * any rwx mapping of the process. */
static void maps_perms(uintptr_t addr, char perms[8])
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	assert_non_null(f);
	perms[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char p[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) != 3)
			continue;
		if (p[1] == 'w' && p[2] == 'x')
			fail_msg("writable and executable mapping: %s", line);
		if (addr >= lo && addr < hi)
			memcpy(perms, p, 8);
	}
	fclose(f);
}

static void assert_rx(const struct bpftime_vm *vm)
{
	char perms[8];

	uintptr_t lo = (uintptr_t)vm->jit_mem, hi = lo + vm->jit_size;

	/* every page of the piece, not only the first */
	for (uintptr_t a = lo & ~(uintptr_t)(JIT_PAGE - 1); a < hi; a += JIT_PAGE) {
		maps_perms(a, perms);
		assert_string_equal(perms, "r-xp");
	}
}

/* Small pieces share pages here, or the test says it cannot run. */
static bool shared_or_skip(void)
{
	struct jit_arena_stats st;
	uint64_t e;

	bpftime_vm__free(build(20, 0, &e)); /* the arena decides at its first compile */
	jit_arena_stats(&st);
	if (st.shared != 1) {
		TEST_SKIP("/proc/self/mem cannot be written: no page sharing here");
		return false;
	}
	return true;
}

#define NPROGS 200

static int cmp_mem(const void *a, const void *b)
{
	const struct bpftime_vm *x = *(struct bpftime_vm *const *)a;
	const struct bpftime_vm *y = *(struct bpftime_vm *const *)b;

	return (uintptr_t)x->jit_mem < (uintptr_t)y->jit_mem ? -1 : 1;
}

/* Rounds of NPROGS live programs of many sizes: each runs its own code, no
 * two pieces overlap, all of it goes back, and later rounds map nothing
 * new. */
static void test_many(void **state)
{
	static struct bpftime_vm *vms[NPROGS], *sorted[NPROGS];
	uint64_t expect[NPROGS];
	struct jit_arena_stats base, st, after_first = { 0 };

	UNUSED(state);
	jit_arena_stats(&base);
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < NPROGS; i++)
			vms[i] = build(8 + (i * 37 + (size_t)round * 11) % 1500,
				       (uint32_t)(i + 1000 * (size_t)round), &expect[i]);
		jit_arena_stats(&st);
		assert_int_equal(st.pieces, base.pieces + NPROGS);
		for (size_t i = 0; i < NPROGS; i++)
			assert_int_equal(run(vms[i]), expect[i]);
		memcpy(sorted, vms, sizeof(vms));
		qsort(sorted, NPROGS, sizeof(*sorted), cmp_mem);
		for (size_t i = 1; i < NPROGS; i++)
			assert_true((uint8_t *)sorted[i - 1]->jit_mem + sorted[i - 1]->jit_size <=
				    (uint8_t *)sorted[i]->jit_mem);
		for (size_t i = 0; i < NPROGS; i += 7)
			assert_rx(vms[i]);
		/* free in an order unlike the allocation order */
		for (size_t i = 0; i < NPROGS; i++)
			bpftime_vm__free(vms[(i * 7) % NPROGS]);
		jit_arena_stats(&st);
		assert_int_equal(st.pieces, base.pieces);
		assert_int_equal(st.used, base.used);
		if (!round)
			after_first = st;
		else
			assert_true(st.mapped <= after_first.mapped);
	}
}

/* A freed piece is INT3 throughout until it is handed out again (its page
 * stays r-x: neighbours may be running), and it is handed out again. */
static void test_reuse(void **state)
{
	struct bpftime_vm *a, *b;
	uint64_t ea, eb;
	uint8_t *mem;
	size_t size;
	char perms[8];

	UNUSED(state);
	if (!shared_or_skip())
		return;
	a = build(300, 1, &ea);
	assert_int_equal(run(a), ea);
	assert_rx(a);
	mem = a->jit_mem;
	size = a->jit_size;
	bpftime_vm__free(a);
	maps_perms((uintptr_t)mem, perms);
	assert_string_equal(perms, "r-xp");
	for (size_t i = 0; i < size; i++)
		if (mem[i] != 0xcc)
			fail_msg("freed code byte %zu is 0x%02x, not int3", i, mem[i]);
	/* first fit: the same place, now with other code */
	b = build(300, 2, &eb);
	assert_ptr_equal(b->jit_mem, mem);
	assert_int_equal(run(b), eb);
	assert_true(ea != eb);
	assert_rx(b);
	bpftime_vm__free(b);
}

/* Programs too large for a chunk get a mapping of their own, which goes
 * away on free. */
static void test_large(void **state)
{
	struct jit_arena_stats before, during, after;
	struct bpftime_vm *vm, *small;
	uint64_t e, es;

	UNUSED(state);
	small = build(50, 3, &es);
	jit_arena_stats(&before);
	vm = build(60000, 4, &e);
	jit_arena_stats(&during);
	assert_true(vm->jit_size > 32 * JIT_PAGE);
	assert_int_equal(during.chunks, before.chunks + 1);
	assert_int_equal(run(vm), e);
	assert_int_equal(run(small), es);
	assert_rx(vm);
	bpftime_vm__free(vm);
	jit_arena_stats(&after);
	assert_int_equal(after.chunks, before.chunks);
	assert_int_equal(after.mapped, before.mapped);
	assert_int_equal(run(small), es);
	bpftime_vm__free(small);
}

/* Compiles, runs and frees from several threads at once; each thread
 * keeps a few programs alive while it compiles more. */
#define NTHREADS 4
#define NITERS	 300

static void *thread_fn(void *arg)
{
	uintptr_t t = (uintptr_t)arg;
	struct bpftime_vm *live[4] = { NULL };
	uint64_t expect[4] = { 0 };
	uintptr_t bad = 0;

	for (size_t i = 0; i < NITERS; i++) {
		size_t k = i % 4;
		uint64_t r0 = 0;

		bpftime_vm__free(live[k]);
		live[k] =
			build(10 + (i * 13 + t * 101) % 2500, (uint32_t)(t << 16 | i), &expect[k]);
		for (size_t m = 0; m < 4; m++) {
			if (!live[m])
				continue;
			if (bpftime_vm__run(live[m], NULL, 0, &r0) || r0 != expect[m])
				bad++;
		}
	}
	for (size_t m = 0; m < 4; m++)
		bpftime_vm__free(live[m]);
	return (void *)bad;
}

static void test_threads(void **state)
{
	pthread_t th[NTHREADS];
	struct jit_arena_stats base, st;

	UNUSED(state);
	jit_arena_stats(&base);
	for (uintptr_t t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, thread_fn, (void *)t), 0);
	for (size_t t = 0; t < NTHREADS; t++) {
		void *bad;

		assert_int_equal(pthread_join(th[t], &bad), 0);
		assert_int_equal((uintptr_t)bad, 0);
	}
	jit_arena_stats(&st);
	assert_int_equal(st.pieces, base.pieces);
	assert_int_equal(st.used, base.used);
}

/* Helper calls are direct (e8 rel32) when the code is in reach of the
 * helper, as the arena places it: look for a call to helper_add. */
static void test_direct_calls(void **state)
{
	uint64_t e;
	struct bpftime_vm *vm = build(200, 5, &e);
	const uint8_t *code = vm->jit_mem;
	bool found = false;

	UNUSED(state);
	assert_int_equal(run(vm), e);
	for (size_t i = 0; i + 5 <= vm->jit_size && !found; i++) {
		int32_t rel;

		if (code[i] != 0xe8)
			continue;
		memcpy(&rel, code + i + 1, 4);
		found = (uintptr_t)(code + i + 5 + rel) == (uintptr_t)helper_add;
	}
	assert_true(found);
	bpftime_vm__free(vm);
}

/* A fork()ed child has its own copy of the arena: what it frees and
 * compiles there, in the very bytes of its parent's code, leaves the
 * parent's code alone.  Another thread compiles during the fork, so the
 * arena lock may be held at that moment (pthread_atfork releases it in
 * the child).  Then the same with a raw fork system call, which runs no
 * pthread_atfork handler (nothing else compiles then: the lock is free). */
static atomic_bool stop_compiles;

static void *compile_loop(void *arg)
{
	uint64_t e;

	UNUSED(arg);
	while (!atomic_load(&stop_compiles))
		bpftime_vm__free(build(100, 9, &e));
	return NULL;
}

/* child: free a (its bytes become INT3 here, in the child's copy), compile
 * a smaller c (first fit: into a's bytes; a piece is first reserved at the
 * size of the code's largest form), run c and a neighbour of a's */
static int fork_child(struct bpftime_vm *a, struct bpftime_vm *nb, uint64_t enb)
{
	void *where = a->jit_mem;
	struct bpftime_vm *c;
	uint64_t ec, r0 = 0;

	bpftime_vm__free(a);
	c = build(100, 8, &ec);
	if (bpftime_vm__run(c, NULL, 0, &r0) || r0 != ec)
		return 1;
	if (bpftime_vm__run(nb, NULL, 0, &r0) || r0 != enb)
		return 2;
	if (c->jit_mem != where)
		return 3; /* did not land on the parent's code: tested nothing */
	bpftime_vm__free(c);
	return 0;
}

static void check_child(pid_t pid)
{
	int status;

	assert_true(pid >= 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_fork_copy(void **state)
{
	struct bpftime_vm *a, *b, *nb;
	uint8_t *copy;
	pthread_t th;
	uint64_t ea, eb, enb;
	pid_t pid;

	UNUSED(state);
	if (!shared_or_skip())
		return;
	jit_arena_trim();
	a = build(400, 7, &ea);
	nb = build(40, 17, &enb);
	copy = malloc(a->jit_size);
	assert_non_null(copy);
	memcpy(copy, a->jit_mem, a->jit_size);
	atomic_store(&stop_compiles, false);
	assert_int_equal(pthread_create(&th, NULL, compile_loop, NULL), 0);
	for (int k = 0; k < 20; k++) {
		pid = fork();
		if (!pid)
			_exit(fork_child(a, nb, enb));
		check_child(pid);
		assert_memory_equal(a->jit_mem, copy, a->jit_size);
		assert_int_equal(run(a), ea);
	}
	atomic_store(&stop_compiles, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	for (int k = 0; k < 3; k++) {
		pid = (pid_t)syscall(SYS_fork);
		if (!pid)
			_exit(fork_child(a, nb, enb));
		check_child(pid);
		assert_memory_equal(a->jit_mem, copy, a->jit_size);
		assert_int_equal(run(a), ea);
		assert_int_equal(run(nb), enb);
	}
	b = build(400, 8, &eb);
	assert_int_equal(run(a), ea);
	assert_int_equal(run(b), eb);
	bpftime_vm__free(a);
	bpftime_vm__free(b);
	bpftime_vm__free(nb);
	free(copy);
}

/* Small programs compiled one after the other sit side by side in one
 * page; each runs; freeing one makes its bytes INT3 and leaves the
 * others' bytes and results alone; the hole is handed out again. */
#define NSMALL 8

static void test_packing(void **state)
{
	struct bpftime_vm *vms[NSMALL];
	uint64_t expect[NSMALL];
	uint8_t *snap[NSMALL];
	struct jit_arena_stats st, base;
	uintptr_t page;
	struct bpftime_vm *again;
	uint64_t e;
	uint8_t *hole;
	size_t hole_size;

	UNUSED(state);
	if (!shared_or_skip())
		return;
	jit_arena_trim();
	jit_arena_stats(&base);
	for (size_t i = 0; i < NSMALL; i++) {
		vms[i] = build(12, (uint32_t)(100 + i), &expect[i]);
		assert_true(vms[i]->jit_size < JIT_PAGE / NSMALL);
		assert_int_equal((uintptr_t)vms[i]->jit_mem % JIT_UNIT, 0);
		if (i)
			assert_ptr_equal(vms[i]->jit_mem,
					 (uint8_t *)vms[i - 1]->jit_mem + vms[i - 1]->jit_size);
	}
	page = (uintptr_t)vms[0]->jit_mem & ~(uintptr_t)(JIT_PAGE - 1);
	for (size_t i = 0; i < NSMALL; i++) {
		/* an empty arena: all in its first page */
		if (!base.pieces)
			assert_int_equal((uintptr_t)vms[i]->jit_mem & ~(uintptr_t)(JIT_PAGE - 1),
					 page);
		assert_int_equal(run(vms[i]), expect[i]);
		assert_rx(vms[i]);
		snap[i] = malloc(vms[i]->jit_size);
		assert_non_null(snap[i]);
		memcpy(snap[i], vms[i]->jit_mem, vms[i]->jit_size);
	}
	jit_arena_stats(&st);
	if (!base.pieces)
		assert_int_equal(st.chunks, 1);
	hole = vms[3]->jit_mem;
	hole_size = vms[3]->jit_size;
	bpftime_vm__free(vms[3]);
	vms[3] = NULL;
	for (size_t i = 0; i < hole_size; i++)
		if (hole[i] != 0xcc)
			fail_msg("freed code byte %zu is 0x%02x, not int3", i, hole[i]);
	for (size_t i = 0; i < NSMALL; i++) {
		if (!vms[i])
			continue;
		assert_memory_equal(vms[i]->jit_mem, snap[i], vms[i]->jit_size);
		assert_int_equal(run(vms[i]), expect[i]);
		assert_rx(vms[i]);
	}
	again = build(12, 999, &e);
	assert_ptr_equal(again->jit_mem, hole);
	assert_int_equal(run(again), e);
	for (size_t i = 0; i < NSMALL; i++) {
		bpftime_vm__free(vms[i]);
		free(snap[i]);
	}
	bpftime_vm__free(again);
}

/* A program keeps running, in another thread, while programs are
 * compiled and freed next to it in its page: a page holding live code is
 * never made writable-only or non-executable (the runner would fault), and
 * its bytes never change. */
static atomic_bool stop_runs;

struct runner {
	struct bpftime_vm *vm;
	uint64_t expect;
	size_t runs, bad;
	atomic_bool ran; /* a first run is done (the loop waits for it) */
};

static void *run_loop(void *arg)
{
	struct runner *r = arg;

	while (!atomic_load(&stop_runs)) {
		uint64_t r0 = 0;

		if (bpftime_vm__run(r->vm, NULL, 0, &r0) || r0 != r->expect)
			r->bad++;
		r->runs++;
		atomic_store(&r->ran, true);
	}
	return NULL;
}

static void test_live_neighbours(void **state)
{
	struct runner r = { 0 };
	pthread_t th;
	uint8_t *copy;
	uintptr_t page;
	size_t same_page = 0;

	UNUSED(state);
	if (!shared_or_skip())
		return;
	jit_arena_trim();
	r.vm = build(30, 77, &r.expect);
	page = (uintptr_t)r.vm->jit_mem & ~(uintptr_t)(JIT_PAGE - 1);
	copy = malloc(r.vm->jit_size);
	assert_non_null(copy);
	memcpy(copy, r.vm->jit_mem, r.vm->jit_size);
	atomic_store(&stop_runs, false);
	assert_int_equal(pthread_create(&th, NULL, run_loop, &r), 0);
	/* on a loaded machine the runner may not get a cpu for a while: the
	 * compiles start once it runs */
	while (!atomic_load(&r.ran))
		sched_yield();
	for (size_t i = 0; i < 300; i++) {
		struct bpftime_vm *n[3];
		uint64_t e[3];

		for (size_t k = 0; k < 3; k++) {
			n[k] = build(10 + (i + k) % 40, (uint32_t)(i * 3 + k), &e[k]);
			same_page +=
				((uintptr_t)n[k]->jit_mem & ~(uintptr_t)(JIT_PAGE - 1)) == page;
		}
		for (size_t k = 0; k < 3; k++) {
			assert_int_equal(run(n[k]), e[k]);
			bpftime_vm__free(n[k]);
		}
	}
	atomic_store(&stop_runs, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(same_page >= 300); /* the neighbours were in its page */
	assert_true(r.runs > 0);
	assert_int_equal(r.bad, 0);
	assert_memory_equal(r.vm->jit_mem, copy, r.vm->jit_size);
	assert_rx(r.vm);
	bpftime_vm__free(r.vm);
	free(copy);
}

/* The code cannot be written through its address: a store faults. */
static void segv_exit(int sig)
{
	UNUSED(sig);
	_exit(42);
}

static void test_not_writable(void **state)
{
	struct bpftime_vm *vm;
	uint64_t e;
	int status;
	pid_t pid;

	UNUSED(state);
	vm = build(30, 5, &e);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		signal(SIGSEGV, segv_exit);
		*(volatile uint8_t *)vm->jit_mem = 0x90;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
	assert_int_equal(run(vm), e);
	bpftime_vm__free(vm);
}

/* Where /proc/self/mem cannot be written (here: /proc is an empty tmpfs,
 * in a child in a mount namespace of its own), the arena finds out at its
 * first compile and gives every program pages of its own: they compile,
 * run, and go back whole.  It must run first: the arena decides once per
 * process, and a child inherits the decision. */
static int no_proc_mem_child(void)
{
	struct bpftime_vm *vms[3];
	struct jit_arena_stats st;
	uint64_t e[3], r0;

	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", "/proc", "tmpfs", 0, NULL))
		return 77;
	for (size_t i = 0; i < 3; i++) {
		vms[i] = build_try(20 + i, (uint32_t)i, &e[i]);
		if (!vms[i] || bpftime_vm__engine(vms[i]) != BPFTIME_ENGINE_JIT)
			return 1;
		if ((uintptr_t)vms[i]->jit_mem % JIT_PAGE || vms[i]->jit_size != JIT_PAGE)
			return 2;
	}
	jit_arena_stats(&st);
	if (st.shared != 0 || st.pieces != 3 || st.chunks != 3 || st.used != 3 * JIT_PAGE)
		return 3;
	for (size_t i = 0; i < 3; i++)
		if (bpftime_vm__run(vms[i], NULL, 0, &r0) || r0 != e[i])
			return 4;
	for (size_t i = 0; i < 3; i++)
		bpftime_vm__free(vms[i]);
	jit_arena_stats(&st);
	if (st.pieces || st.chunks || st.used || st.mapped)
		return 5;
	return 0;
}

static void test_no_proc_mem(void **state)
{
	struct jit_arena_stats st;
	int status;
	pid_t pid;

	UNUSED(state);
	jit_arena_stats(&st);
	if (st.shared != -1)
		fail_msg("test_no_proc_mem must run before any compile");
	if (geteuid())
		TEST_SKIP("needs root for a mount namespace");
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(no_proc_mem_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		TEST_SKIP("cannot hide /proc in a mount namespace");
	assert_int_equal(WEXITSTATUS(status), 0);
	jit_arena_stats(&st);
	assert_int_equal(st.shared, -1); /* the parent has not decided yet */
}

/* Bad sizes are refused; a piece used directly: written at .write, sealed,
 * run at .code, INT3 after the code up to its unit; trimming keeps live
 * pieces. */
static void test_api(void **state)
{
	/* mov eax, 42; ret */
	static const uint8_t fn42[] = { 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3 };
	struct jit_arena_stats st;
	struct jit_piece pc;
	struct bpftime_vm *vm;
	uint64_t e;

	UNUSED(state);
	assert_int_equal(jit_arena_alloc(&pc, 0, NULL), -EINVAL);
	assert_null(pc.code);
	jit_arena_drop(&pc);
	jit_arena_free(NULL, 0);
	assert_int_equal(jit_arena_alloc(&pc, 100, NULL), 0);
	assert_non_null(pc.write);
	assert_true(pc.size >= 100);
	memcpy(pc.write, fn42, sizeof(fn42));
	assert_int_equal(jit_arena_seal(&pc, pc.size + 1), -EINVAL);
	assert_int_equal(jit_arena_seal(&pc, sizeof(fn42)), 0);
	assert_null(pc.write);
	jit_arena_stats(&st);
	assert_int_equal(pc.size, st.shared == 1 ? JIT_UNIT : JIT_PAGE);
	assert_int_equal(((int (*)(void))(void *)pc.code)(), 42);
	for (size_t i = sizeof(fn42); i < pc.size; i++)
		assert_int_equal(pc.code[i], 0xcc);
	jit_arena_free(pc.code, pc.size);
	/* an unsealed piece goes back whole */
	assert_int_equal(jit_arena_alloc(&pc, 3000, NULL), 0);
	jit_arena_drop(&pc);
	assert_null(pc.code);
	vm = build(100, 6, &e);
	jit_arena_trim();
	jit_arena_stats(&st);
	assert_true(st.chunks >= 1);
	assert_int_equal(run(vm), e);
	bpftime_vm__free(vm);
	jit_arena_trim();
	jit_arena_stats(&st);
	assert_int_equal(st.pieces, 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.mapped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_proc_mem), /* first: see there */
		cmocka_unit_test(test_many),	     cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_large),	     cmocka_unit_test(test_threads),
		cmocka_unit_test(test_direct_calls), cmocka_unit_test(test_fork_copy),
		cmocka_unit_test(test_packing),	     cmocka_unit_test(test_live_neighbours),
		cmocka_unit_test(test_not_writable), cmocka_unit_test(test_api),
	};

	return TEST_RUN(tests, NULL, NULL);
}
