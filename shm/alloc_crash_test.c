/* SPDX-License-Identifier: MIT */
/* shm/alloc_crash_test.c: shm_alloc and shm_free are atomic with respect to
 * SIGKILL at any instruction (shm/alloc.c, the undo log).
 *
 * Each trial makes a fresh segment and the same fragmented arena (blocks
 * A..G allocated, B and D freed), then forks a writer that stops (ptrace)
 * just before one operation: an allocation that splits the big free block,
 * one with a leading alignment gap and a tail, one that takes a free block
 * whole, a free that merges with both neighbours, with the next one only,
 * with none.  This process single-steps the writer N instructions and kills
 * it, for N = 0, K, 2K, ... until the writer completes within N steps
 * (--stride K; 1 by default).  Then the next user (this process) takes the
 * allocator's lock, which is where the undo happens, and checks:
 *  - the blocks tile the arena exactly (boundary tags agree), no two free
 *    blocks are adjacent, used blocks carry the magic, free ones not;
 *  - the free list is exactly the free blocks (each once, back links
 *    right), and the counters (free blocks, bytes used) agree;
 *  - the arena is block for block either the state before the operation or
 *    the one a completed operation leaves (from an uninterrupted reference
 *    run): the operation happened or it did not; and it happened if the
 *    writer had got its result back (an allocated block the writer never
 *    recorded is the one loss allowed: it stays allocated);
 *  - the allocator then still allocates and frees.
 *
 * Exits 77 (skipped) where ptrace is not allowed. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/shm.h>
#include "internal.h"

#define MAX_BLOCKS 64
#define MAX_STEPS  200000 /* a safety net: an operation is a few hundred */

static long stride = 1;
static int trial;
static volatile uint64_t *record; /* shared with the writer: its result */
static uint64_t ref_result;	  /* the reference run's */

struct blockv {
	uint64_t off, size;
	int used;
};

struct state {
	int n;
	struct blockv b[MAX_BLOCKS];
};

enum op { OP_ALLOC, OP_FREE };

struct scenario {
	const char *name;
	enum op op;
	size_t size, align; /* OP_ALLOC */
	int victim;	    /* OP_FREE: index into the blocks A..G */
};

static const size_t sizes[7] = { 100, 200, 300, 400, 500, 600, 700 };

struct arena {
	char name[64];
	struct bpftime_shm *shm;
	uint64_t blocks[7];
};

static void arena_make(struct arena *ar)
{
	snprintf(ar->name, sizeof(ar->name), "bpftime_acrash_%d_%d", getpid(), trial++);
	bpftime_shm__remove(ar->name);
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = ar->name, .size_mb = 2, .max_fd = 16);
	ar->shm = bpftime_shm__create(&o);
	assert_non_null(ar->shm);
	for (int i = 0; i < 7; i++) {
		ar->blocks[i] = shm_alloc(ar->shm, sizes[i], 16);
		assert_true(ar->blocks[i] != 0);
	}
	shm_free(ar->shm, ar->blocks[1]);
	shm_free(ar->shm, ar->blocks[3]);
}

static void arena_drop(struct arena *ar)
{
	bpftime_shm__close(ar->shm);
	bpftime_shm__remove(ar->name);
}

static uint64_t do_op(struct arena *ar, const struct scenario *s)
{
	if (s->op == OP_ALLOC)
		return shm_alloc(ar->shm, s->size, s->align);
	shm_free(ar->shm, ar->blocks[s->victim]);
	return 1;
}

/* Walks the arena by its tags and checks everything but the before/after
 * comparison (the caller holds no lock: nobody else runs). */
static void check_arena(struct bpftime_shm *shm, struct state *st)
{
	struct shm_alloc *a = shm->alloc;
	uint64_t start = shm->hdr->arena_off, end = start + (shm->hdr->arena_size & ~15ULL);
	uint64_t off = start, used = 0, nfree = 0, prev = 0, steps = 0;

	assert_int_equal(a->undo_n, 0);
	st->n = 0;
	while (off < end) {
		uint64_t tag = *(uint64_t *)(shm->base + off), size = tag & ~1ULL;

		assert_true(size >= SHM_BLOCK_MIN && size % 16 == 0 && size <= end - off);
		assert_int_equal(*(uint64_t *)(shm->base + off + size - SHM_BLOCK_FTR), tag);
		assert_true(st->n < MAX_BLOCKS);
		st->b[st->n++] = (struct blockv){ off, size, (int)(tag & 1) };
		if (tag & 1) {
			assert_int_equal(((struct shm_block *)(shm->base + off))->magic,
					 SHM_BLOCK_MAGIC);
			used += size;
		} else {
			assert_int_equal(((struct shm_block *)(shm->base + off))->magic, 0);
			/* coalescing is immediate: no two free neighbours */
			assert_true(st->n < 2 || st->b[st->n - 2].used);
			nfree++;
		}
		off += size;
	}
	assert_int_equal(off, end);
	assert_int_equal(a->used, used);
	assert_int_equal(a->free_blocks, nfree);
	/* the free list: exactly the free blocks, each once */
	for (uint64_t f = a->free_head; f; f = ((struct shm_block *)(shm->base + f))->next_free) {
		int i;

		for (i = 0; i < st->n && st->b[i].off != f; i++)
			;
		assert_true(i < st->n);
		assert_false(st->b[i].used);
		assert_int_equal(((struct shm_block *)(shm->base + f))->prev_free, prev);
		st->b[i].used = 2; /* seen on the list */
		prev = f;
		steps++;
	}
	assert_int_equal(steps, nfree);
	for (int i = 0; i < st->n; i++) {
		assert_true(st->b[i].used != 0); /* a free block not on the list */
		if (st->b[i].used == 2)
			st->b[i].used = 0;
	}
}

static bool same(const struct state *x, const struct state *y)
{
	if (x->n != y->n)
		return false;
	for (int i = 0; i < x->n; i++)
		if (x->b[i].off != y->b[i].off || x->b[i].size != y->b[i].size ||
		    x->b[i].used != y->b[i].used)
			return false;
	return true;
}

/* One trial: kill the writer after @n steps.  Returns true if it completed
 * within them. */
static bool run_trial(const struct scenario *s, long n, const struct state *before,
		      const struct state *after)
{
	struct arena ar;
	struct state st;
	uint64_t got, p;
	bool done = false;
	int status;
	pid_t pid;

	arena_make(&ar);
	*record = 0;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(TEST_SKIP_CODE);
		raise(SIGSTOP);
		*record = do_op(&ar, s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_CODE) {
		arena_drop(&ar);
		TEST_SKIP_ALL("ptrace is not allowed here");
	}
	if (!WIFSTOPPED(status)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("the writer did not stop (status %#x)", status);
	}
	for (long i = 0; i < n; i++) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) || waitpid(pid, &status, 0) != pid) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("single-step %ld failed", i);
		}
		if (WIFEXITED(status)) {
			done = true;
			break;
		}
		if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fail_msg("the writer stopped with status %#x at step %ld", status, i);
		}
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	} else {
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	got = *record;

	/* the next user: any locker of the allocator undoes a dead operation */
	struct bpftime_shm_stats stats = { .sz = sizeof(stats) };
	assert_int_equal(bpftime_shm__stats(ar.shm, &stats), 0);
	check_arena(ar.shm, &st);
	if (got || done) {
		if (!same(&st, after))
			fail_msg("%s, kill at %ld: the writer got its result but the arena is not "
				 "in the after state",
				 s->name, n);
		if (got)
			assert_int_equal(got, ref_result); /* the block it got is the one */
	} else if (!same(&st, before) && !same(&st, after)) {
		fail_msg("%s, kill at %ld: the arena is neither the state before nor after",
			 s->name, n);
	}
	/* and it still works */
	p = shm_alloc(ar.shm, 5000, 64);
	assert_true(p != 0);
	shm_free(ar.shm, p);
	check_arena(ar.shm, &st);
	arena_drop(&ar);
	return done;
}

static void run(const struct scenario *s)
{
	struct state before, after;
	struct arena ar;
	long n, kills = 0;
	uint64_t r;

	/* the reference: the states before and after an uninterrupted run */
	arena_make(&ar);
	check_arena(ar.shm, &before);
	r = do_op(&ar, s);
	assert_true(r != 0);
	ref_result = r;
	check_arena(ar.shm, &after);
	assert_false(same(&before, &after));
	arena_drop(&ar);

	for (n = 0; n < MAX_STEPS; n += stride, kills++)
		if (run_trial(s, n, &before, &after))
			break;
	assert_true(n < MAX_STEPS);
	printf("%s: completes within %ld instructions; %ld kill points (stride %ld), all "
	       "consistent\n",
	       s->name, n, kills, stride);
}

static void test_alloc_split(void **state)
{
	(void)state;
	run(&(struct scenario){ "alloc_split", OP_ALLOC, 1000, 16, 0 });
}

static void test_alloc_align(void **state)
{
	(void)state;
	run(&(struct scenario){ "alloc_align", OP_ALLOC, 64, 4096, 0 });
}

static void test_alloc_whole(void **state)
{
	(void)state;
	run(&(struct scenario){ "alloc_whole", OP_ALLOC, 400, 16, 0 });
}

static void test_free_merge_both(void **state)
{
	(void)state;
	run(&(struct scenario){ "free_merge_both", OP_FREE, 0, 0, 2 });
}

static void test_free_merge_next(void **state)
{
	(void)state;
	run(&(struct scenario){ "free_merge_next", OP_FREE, 0, 0, 6 });
}

static void test_free_alone(void **state)
{
	(void)state;
	run(&(struct scenario){ "free_alone", OP_FREE, 0, 0, 5 });
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_split),	cmocka_unit_test(test_alloc_align),
		cmocka_unit_test(test_alloc_whole),	cmocka_unit_test(test_free_merge_both),
		cmocka_unit_test(test_free_merge_next), cmocka_unit_test(test_free_alone),
	};

	if (argc > 2 && !strcmp(argv[1], "--stride"))
		stride = atol(argv[2]) > 0 ? atol(argv[2]) : 1;
	record = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (record == MAP_FAILED)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return TEST_RUN(tests, NULL, NULL);
}
