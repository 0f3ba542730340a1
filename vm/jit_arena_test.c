/* SPDX-License-Identifier: MIT */
/* vm/jit_arena_test.c: the JIT's code arena (vm/jit_arena.c) under use.
 *
 * Many programs compiled and alive at once (no two pieces overlap, each
 * runs its own code), compiled and freed in rounds (the memory is reused,
 * nothing grows), freed memory (RW, INT3 throughout, handed out again),
 * programs larger than a chunk, compiles from several threads at once,
 * fork() (the child's arena is its own copy), and W^X as the kernel sees
 * it in /proc/self/maps: no mapping of the process is rwx, and the pages
 * of every live program are r-x.
 */
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
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
 * *expect is its result. */
static struct bpftime_vm *build(size_t n, uint32_t seed, uint64_t *expect)
{
	struct bpftime_insn *p = calloc(n + 8, sizeof(*p));
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	uint64_t r0 = seed;
	size_t i = 0;

	assert_non_null(p);
	assert_non_null(vm);
	assert_int_equal(bpftime_vm__register_helper(vm, 1, "add", helper_add), 0);
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
	if (bpftime_vm__load(vm, p, i))
		fail_msg("load: %s", bpftime_vm__last_error(vm));
	if (bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT))
		fail_msg("compile: %s", bpftime_vm__last_error(vm));
	free(p);
	*expect = r0;
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

	/* every page of the piece, not only the first */
	for (size_t off = 0; off < vm->jit_size; off += JIT_PAGE) {
		maps_perms((uintptr_t)vm->jit_mem + off, perms);
		assert_string_equal(perms, "r-xp");
	}
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

/* A freed piece is RW and INT3 throughout until it is handed out again,
 * and it is handed out again. */
static void test_reuse(void **state)
{
	struct bpftime_vm *a, *b;
	uint64_t ea, eb;
	uint8_t *mem;
	size_t size;
	char perms[8];

	UNUSED(state);
	a = build(300, 1, &ea);
	assert_int_equal(run(a), ea);
	assert_rx(a);
	mem = a->jit_mem;
	size = a->jit_size;
	bpftime_vm__free(a);
	maps_perms((uintptr_t)mem, perms);
	assert_string_equal(perms, "rw-p");
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
 * compiles there leaves the parent's code alone.  Another thread compiles during the fork, so the
 * arena lock may be held at that moment (pthread_atfork releases it in
 * the child). */
static atomic_bool stop_compiles;

static void *compile_loop(void *arg)
{
	uint64_t e;

	UNUSED(arg);
	while (!atomic_load(&stop_compiles))
		bpftime_vm__free(build(100, 9, &e));
	return NULL;
}

static void test_fork(void **state)
{
	struct bpftime_vm *a, *b;
	pthread_t th;
	uint64_t ea, eb;
	int status;
	pid_t pid;

	UNUSED(state);
	a = build(400, 7, &ea);
	atomic_store(&stop_compiles, false);
	assert_int_equal(pthread_create(&th, NULL, compile_loop, NULL), 0);
	for (int k = 0; k < 20; k++) {
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			/* child: free a (its pages become INT3 here, in the
			 * child's copy), compile c (likely into the same
			 * pages), run c */
			struct bpftime_vm *c;
			uint64_t ec, r0 = 0;

			bpftime_vm__free(a);
			c = build(400, 8, &ec);
			_exit(!bpftime_vm__run(c, NULL, 0, &r0) && r0 == ec ? 0 : 1);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(run(a), ea);
	}
	atomic_store(&stop_compiles, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	b = build(400, 8, &eb);
	assert_int_equal(run(a), ea);
	assert_int_equal(run(b), eb);
	bpftime_vm__free(a);
	bpftime_vm__free(b);
}

/* Bad sizes are refused; trimming keeps live pieces. */
static void test_api(void **state)
{
	struct jit_arena_stats st;
	struct bpftime_vm *vm;
	uint64_t e;

	UNUSED(state);
	errno = 0;
	assert_null(jit_arena_alloc(100, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(jit_arena_alloc(0, NULL));
	jit_arena_free(NULL, 0);
	vm = build(100, 6, &e);
	jit_arena_trim();
	jit_arena_stats(&st);
	assert_true(st.chunks >= 1);
	assert_int_equal(run(vm), e);
	bpftime_vm__free(vm);
	jit_arena_trim();
	jit_arena_stats(&st);
	assert_int_equal(st.pieces, 0);
	assert_int_equal(st.chunks, 0);
	assert_int_equal(st.mapped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many),	     cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_large),	     cmocka_unit_test(test_threads),
		cmocka_unit_test(test_direct_calls), cmocka_unit_test(test_fork),
		cmocka_unit_test(test_api),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
