/* SPDX-License-Identifier: MIT */
/* vm/code_notify_test.c: bpftime_vm_set_code_notify() sees the memory every
 * piece of native code runs from (vm/jit_arena.c: pools), before any of it
 * can run, and only a few ranges whatever the number of programs: JIT code
 * in shared chunks, a solo piece (large), every program with pages of its
 * own (/proc/self/mem not writable: a child with /proc hidden), and an AOT
 * object's code.  Ranges reserved before the callback is set are reported
 * when it is set.  Not covered: the llvm engine (LLVM's own memory
 * manager), see bpftime/vm.h.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/testkit.h"
#include "vm/jit_arena.h"
#include "vm/test_insn.h"
#include "common/compiler.h"

#define MAX_RANGES 64

static struct {
	uintptr_t start[MAX_RANGES];
	size_t len[MAX_RANGES];
	bool none[MAX_RANGES]; /* inaccessible when reported */
	size_t n, calls;
} seen;

/* /proc/self/maps, kept open (read again from the start each time): the
 * solo test hides /proc after opening it */
static FILE *maps;

static FILE *open_maps(void)
{
	if (!maps)
		maps = fopen("/proc/self/maps", "r");
	return maps;
}

/* The permissions of every mapping that overlaps [lo, hi) agree with p
 * ("---p"): true when they all do */
static bool all_perms(uintptr_t lo, uintptr_t hi, const char *p)
{
	char line[512];
	FILE *f = open_maps();
	bool ok = true, any = false;

	if (!f)
		return false;
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 || b <= lo || a >= hi)
			continue;
		any = true;
		ok &= !strcmp(perms, p);
	}
	return ok && any;
}

static void record(uintptr_t start, size_t len)
{
	seen.calls++;
	if (seen.n == MAX_RANGES)
		return;
	seen.start[seen.n] = start;
	seen.len[seen.n] = len;
	seen.none[seen.n] = all_perms(start, start + len, "---p");
	seen.n++;
}

static void reset(void)
{
	memset(&seen, 0, sizeof(seen));
}

/* the reported range [a, a + len) lies in, or -1 */
static int range_of(const void *a, size_t len)
{
	uintptr_t p = (uintptr_t)a;

	for (size_t i = 0; i < seen.n; i++)
		if (p >= seen.start[i] && p + len <= seen.start[i] + seen.len[i])
			return (int)i;
	return -1;
}

static uint64_t helper_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* r0 = add(seed, 1, 0, 0, 0) + 0x050f: the JIT emits `0f 05` in an
 * immediate, what the syscall hook's scan must not take for a syscall */
static struct bpftime_vm *build(int32_t seed, enum bpftime_engine engine)
{
	const struct bpftime_insn p[] = {
		BPF_MOV64_IMM(1, seed),
		BPF_MOV64_IMM(2, 1),
		BPF_MOV64_IMM(3, 0),
		BPF_MOV64_IMM(4, 0),
		BPF_MOV64_IMM(5, 0),
		BPF_CALL_HELPER(1),
		BPF_ALU64_IMM(BPF_ADD, 0, 0x050f),
		BPF_EXIT_INSN(),
	};
	struct bpftime_vm *vm = bpftime_vm__new(NULL);

	if (!vm)
		return NULL;
	if (bpftime_vm__register_helper(vm, 1, "add", helper_add) ||
	    bpftime_vm__load(vm, p, ARRAY_SIZE(p)) || bpftime_vm__compile(vm, engine)) {
		fprintf(stderr, "build: %s\n", bpftime_vm__last_error(vm));
		bpftime_vm__free(vm);
		return NULL;
	}
	return vm;
}

static bool runs(struct bpftime_vm *vm, int32_t seed)
{
	uint64_t r0 = 0;

	return !bpftime_vm__run(vm, NULL, 0, &r0) && r0 == (uint64_t)seed + 1 + 0x050f;
}

/* the native entry of a compiled VM, or NULL */
static const void *entry(struct bpftime_vm *vm)
{
	return (const void *)(uintptr_t)bpftime_vm__native(vm, 0);
}

/* Where /proc/self/mem cannot be written (/proc an empty tmpfs in a child
 * in a mount namespace of its own) every program gets pages of its own:
 * 300 of them still make one or two reported ranges, each reported while
 * inaccessible, each program's entry inside one.  It must run first: the
 * arena decides once per process, and a child inherits the decision. */
#define SOLO_PROGS 300

static int solo_child(void)
{
	static struct bpftime_vm *vms[SOLO_PROGS];
	struct jit_arena_stats st;

	if (!open_maps())
		return 7;
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("none", "/proc", "tmpfs", 0, NULL))
		return 77;
	reset();
	bpftime_vm_set_code_notify(record);
	for (int i = 0; i < SOLO_PROGS; i++) {
		vms[i] = build(i, BPFTIME_ENGINE_JIT);
		if (!vms[i] || bpftime_vm__engine(vms[i]) != BPFTIME_ENGINE_JIT)
			return 1;
		if (range_of(entry(vms[i]), 1) < 0)
			return 2;
	}
	jit_arena_stats(&st);
	if (st.shared != 0 || st.chunks != SOLO_PROGS)
		return 3; /* not the solo path */
	if (seen.n < 1 || seen.n > 2 || seen.calls != seen.n || seen.n != st.pools)
		return 4;
	for (size_t i = 0; i < seen.n; i++)
		if (!seen.none[i])
			return 5;
	for (int i = 0; i < SOLO_PROGS; i++)
		if (!runs(vms[i], i))
			return 6;
	for (int i = 0; i < SOLO_PROGS; i++)
		bpftime_vm__free(vms[i]);
	return 0;
}

static void test_solo(void **state)
{
	struct jit_arena_stats st;
	int status;
	pid_t pid;

	UNUSED(state);
	jit_arena_stats(&st);
	if (st.shared != -1 || st.pools)
		fail_msg("test_solo must run before any compile");
	if (geteuid())
		TEST_SKIP("needs root for a mount namespace");
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(solo_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		TEST_SKIP("cannot hide /proc in a mount namespace");
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Set before the first compile: the pool is reported once, inaccessible,
 * and holds every program's entry; many programs, freed and compiled again,
 * report nothing more; the range stays reserved after everything is freed
 * and trimmed. */
static void test_shared(void **state)
{
	enum { N = 300 };
	static struct bpftime_vm *vms[N];
	struct jit_arena_stats st;
	size_t first;

	UNUSED(state);
	jit_arena_stats(&st);
	if (st.pools)
		fail_msg("test_shared must run before any compile in this process");
	reset();
	assert_null(bpftime_vm_set_code_notify(record));
	assert_int_equal(seen.n, 0); /* nothing reserved yet */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			vms[i] = build(i, BPFTIME_ENGINE_JIT);
			assert_non_null(vms[i]);
			assert_int_equal(bpftime_vm__engine(vms[i]), BPFTIME_ENGINE_JIT);
			assert_true(range_of(entry(vms[i]), 1) >= 0);
		}
		if (!round) {
			struct bpftime_jited j;

			/* what the scan would take for a syscall */
			assert_int_equal(bpftime_vm__jited(vms[0], &j), 0);
			assert_non_null(memmem(j.image, j.len, "\x0f\x05", 2));
			assert_true(range_of(j.image, j.len) >= 0);
		}
		for (int i = 0; i < N; i++) {
			assert_true(runs(vms[i], i));
			bpftime_vm__free(vms[i]);
		}
		if (!round)
			first = seen.n;
	}
	jit_arena_stats(&st);
	if (st.shared == 1)
		assert_int_equal(seen.n, 1); /* one pool holds them all */
	assert_int_equal(seen.n, first);
	assert_int_equal(seen.n, st.pools);
	assert_int_equal(seen.calls, seen.n);
	for (size_t i = 0; i < seen.n; i++)
		assert_true(seen.none[i]);
	jit_arena_trim();
	for (size_t i = 0; i < seen.n; i++)
		assert_true(all_perms(seen.start[i], seen.start[i] + seen.len[i], "---p"));
	assert_ptr_equal(bpftime_vm_set_code_notify(NULL), record);
}

/* A piece larger than half a chunk has pages of its own, in a pool too. */
static void test_large(void **state)
{
	struct jit_piece pc;

	UNUSED(state);
	reset();
	bpftime_vm_set_code_notify(record); /* reports the pools there are */
	assert_true(seen.n >= 1);
	assert_int_equal(jit_arena_alloc(&pc, 200 * 1024, NULL), 0);
	assert_ptr_equal(pc.write, pc.code); /* solo */
	assert_true(range_of(pc.code, pc.size) >= 0);
	jit_arena_drop(&pc);
	bpftime_vm_set_code_notify(NULL);
}

/* Set after programs were compiled: the call itself reports the ranges
 * they are in (the agent may set it late, the scan misses nothing). */
static void test_set_late(void **state)
{
	struct bpftime_vm *vm;

	UNUSED(state);
	bpftime_vm_set_code_notify(NULL);
	vm = build(7, BPFTIME_ENGINE_JIT);
	assert_non_null(vm);
	reset();
	bpftime_vm_set_code_notify(record);
	assert_true(range_of(entry(vm), 1) >= 0);
	assert_true(runs(vm, 7));
	bpftime_vm__free(vm);
	bpftime_vm_set_code_notify(NULL);
}

/* An AOT object's code (vm/aot_load.c) lies in a reported range. */
static void test_aot(void **state)
{
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	uint8_t *obj = NULL;
	long size;
	FILE *f;

	UNUSED(state);
	assert_non_null(vm);
	f = fopen(AOT_FIXTURE, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	size = ftell(f);
	assert_true(size > 0);
	rewind(f);
	obj = malloc((size_t)size);
	assert_non_null(obj);
	assert_int_equal(fread(obj, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	reset();
	bpftime_vm_set_code_notify(record);
	if (bpftime_vm__register_helper(vm, 5, "helper5", helper_add) ||
	    bpftime_vm__load_aot(vm, obj, (size_t)size) ||
	    bpftime_vm__compile(vm, BPFTIME_ENGINE_AOT))
		fail_msg("aot fixture: %s", bpftime_vm__last_error(vm));
	assert_true(range_of(entry(vm), 1) >= 0);
	bpftime_vm__free(vm);
	free(obj);
	bpftime_vm_set_code_notify(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_solo),   /* first: see there */
		cmocka_unit_test(test_shared), /* before any compile too */
		cmocka_unit_test(test_large),  cmocka_unit_test(test_set_late),
		cmocka_unit_test(test_aot),
	};

	return TEST_RUN(tests, NULL, NULL);
}
