/* SPDX-License-Identifier: MIT */
/* vm/api_misuse_test.c: the public VM API (include/bpftime/vm.h) called
 * wrongly: NULL objects and pointers, zero and absurd sizes, calls out of
 * order, unknown engines and helper ids, options structs of odd sizes, and
 * bpftime_vm__load() of purely random bytes (not even valid opcodes).  Each
 * call must return its documented error (with errno set) or succeed, never
 * crash; a VM that refused something stays usable. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/vm.h>
#include "common/compiler.h"

static const struct bpftime_insn ret7[] = {
	{ .code = 0xb7, .imm = 7 }, /* r0 = 7 */
	{ .code = 0x95 },	    /* exit */
};

static uint64_t h1(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* a VM that took ret7 and runs it to 7: still usable after the misuse */
static void assert_usable(struct bpftime_vm *vm)
{
	uint64_t r0 = 0;

	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), 0);
	assert_int_equal(r0, 7);
}

static void test_null_objects(void **state)
{
	uint64_t r0 = 0;
	void *buf = NULL;
	size_t size = 0, cnt = 5;
	char text[64];

	UNUSED(state);
	bpftime_vm__free(NULL);
	errno = 0;
	assert_int_equal(bpftime_vm__register_helper(NULL, 1, "x", h1), -EINVAL);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(bpftime_vm__load(NULL, ret7, 2), -EINVAL);
	assert_int_equal(bpftime_vm__compile(NULL, BPFTIME_ENGINE_INTERP), -EINVAL);
	assert_int_equal(bpftime_vm__run(NULL, NULL, 0, &r0), -EINVAL);
	assert_int_equal(bpftime_vm__emit_aot(NULL, false, &buf, &size), -EINVAL);
	assert_int_equal(bpftime_vm__load_aot(NULL, "x", 1), -EINVAL);
	assert_null(bpftime_vm__insns(NULL, &cnt));
	assert_non_null(bpftime_vm__last_error(NULL));
	assert_null(bpftime_vm__helper(NULL, 1));
	assert_int_equal(bpftime_vm__disasm(NULL, stdout), -EINVAL);
	assert_int_equal(bpftime_disasm_insn(NULL, 0, 0, NULL, text, sizeof(text)), -EINVAL);
	assert_int_equal(bpftime_disasm_insn(ret7, 2, 0, NULL, NULL, 0), 1);
	assert_int_equal(bpftime_disasm_insn(ret7, 2, 0, NULL, text, 0), 1);
	assert_int_equal(bpftime_disasm_insn(ret7, 2, 5, NULL, text, sizeof(text)), -EINVAL);
	assert_non_null(bpftime_engine__name((enum bpftime_engine)77));
	{
		enum bpftime_engine e;

		assert_int_equal(bpftime_engine__parse(NULL, &e), -EINVAL);
		assert_int_equal(bpftime_engine__parse("quantum", &e), -EINVAL);
		assert_int_equal(bpftime_engine__parse("jit", NULL), -EINVAL);
	}
}

static void test_bad_arguments(void **state)
{
	struct bpftime_vm *vm = bpftime_vm__new(NULL);
	struct bpftime_insn big[2] = { { .code = 0xb7 }, { .code = 0x95 } };
	uint64_t r0 = 0;
	void *buf = (void *)1;
	size_t size = 99;
	int err;

	UNUSED(state);
	assert_non_null(vm);
	/* before load */
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, &r0), -EINVAL);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT), -EINVAL);
	assert_int_equal(bpftime_vm__emit_aot(vm, false, &buf, &size), -EINVAL);
	assert_int_equal(bpftime_vm__disasm(vm, stdout), -EINVAL);
	/* helpers */
	assert_int_equal(bpftime_vm__register_helper(vm, BPFTIME_MAX_HELPER_ID + 1, "x", h1),
			 -EINVAL);
	assert_int_equal(bpftime_vm__register_helper(vm, UINT32_MAX, "x", h1), -EINVAL);
	assert_int_equal(bpftime_vm__register_helper(vm, 1, "x", NULL), -EINVAL);
	assert_int_equal(bpftime_vm__register_helper(vm, 2, NULL, h1), 0);
	assert_null(bpftime_vm__helper(vm, UINT32_MAX));
	/* loads that cannot be */
	assert_int_equal(bpftime_vm__load(vm, NULL, 2), -EINVAL);
	/* no instructions, too many: the kernel's E2BIG */
	assert_int_equal(bpftime_vm__load(vm, ret7, 0), -E2BIG);
	assert_true(bpftime_vm__last_error(vm)[0]);
	assert_int_equal(bpftime_vm__load(vm, ret7, (size_t)BPFTIME_MAX_INSNS + 1), -E2BIG);
	assert_int_equal(bpftime_vm__load(vm, ret7, SIZE_MAX), -E2BIG);
	assert_int_equal(bpftime_vm__load(vm, ret7, SIZE_MAX / 8 + 1), -E2BIG);
	assert_int_equal(bpftime_vm__load(vm, big, 1), -EINVAL); /* no exit */
	/* the VM still takes a good program after all that */
	assert_int_equal(bpftime_vm__load(vm, ret7, 2), 0);
	assert_int_equal(bpftime_vm__load(vm, ret7, 2), -EBUSY);
	assert_int_equal(bpftime_vm__register_helper(vm, 3, "x", h1), -EBUSY);
	assert_int_equal(bpftime_vm__compile(vm, (enum bpftime_engine)77), -EINVAL);
	assert_int_equal(bpftime_vm__compile(vm, (enum bpftime_engine) - 1), -EINVAL);
	assert_int_equal(bpftime_vm__run(vm, NULL, 0, NULL), -EINVAL);
	assert_int_equal(bpftime_vm__run(vm, NULL, 5, &r0), -EINVAL); /* length, no memory */
	assert_int_equal(bpftime_vm__load_aot(vm, NULL, 5), -EINVAL);
	assert_int_equal(bpftime_vm__load_aot(vm, NULL, 0), -ENOEXEC);
	assert_int_equal(bpftime_vm__load_aot(vm, "garbage", 7), -ENOEXEC);
	assert_usable(vm);
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_INTERP), 0);
	assert_usable(vm);
	/* AOT without an object: LLVM builds one, or there is no LLVM */
	err = bpftime_vm__compile(vm, BPFTIME_ENGINE_AOT);
	assert_true(err == 0 || err == -EOPNOTSUPP);
	assert_usable(vm);
	bpftime_vm__free(vm);
}

static void test_opts_sizes(void **state)
{
	struct {
		struct bpftime_vm_opts o;
		uint64_t tail;
	} big = { .o = { .sz = sizeof(big) }, .tail = 0 };
	struct bpftime_vm_opts small = { .sz = 1 };
	struct bpftime_vm *vm;

	UNUSED(state);
	/* larger than ours with zero tail bytes: fine (a newer caller) */
	vm = bpftime_vm__new(&big.o);
	assert_non_null(vm);
	bpftime_vm__free(vm);
	/* non-zero unknown tail bytes: refused */
	big.tail = 1;
	errno = 0;
	assert_null(bpftime_vm__new(&big.o));
	assert_int_equal(errno, EINVAL);
	/* smaller than the first field: refused or taken as empty, never read past */
	errno = 0;
	assert_null(bpftime_vm__new(&small));
	assert_int_equal(errno, EINVAL);
	/* (a sz larger than the caller's object cannot be detected: as in
	 * libbpf, the tail up to sz is read) */
}

/* Random bytes as a program: every answer is accepted or a message. */
static void test_random_bytes(void **state)
{
	uint64_t seed = 0x853c49e6748fea9bull;
	size_t accepted = 0;

	UNUSED(state);
	for (int n = 0; n < 20000; n++) {
		BPFTIME_OPTS(bpftime_vm_opts, o, .bounds_check = true);
		struct bpftime_insn prog[16];
		size_t cnt = 1 + (size_t)((seed >> 33) % (n % 4 ? 4 : 16));
		struct bpftime_vm *vm = bpftime_vm__new(&o);
		uint8_t mem[64] = { 0 };
		uint64_t r0;
		int err;

		assert_non_null(vm);
		assert_int_equal(bpftime_vm__register_helper(vm, 1, "h1", h1), 0);
		for (size_t i = 0; i < sizeof(prog); i += 8) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			memcpy((uint8_t *)prog + i, &seed, 8);
		}
		if (n % 2) {
			/* registers r0-r7 and an exit at the end, so that some
			 * get past the verifier and run */
			for (size_t i = 0; i < cnt; i++) {
				prog[i].dst &= 7;
				prog[i].src &= 7;
				if (seed >> (40 + 2 * i) & 1)
					prog[i].imm = 0;
				if (seed >> (41 + 2 * i) & 1)
					prog[i].off = 0;
			}
			prog[cnt - 1] = (struct bpftime_insn){ .code = 0x95 };
		}
		err = bpftime_vm__load(vm, prog, cnt);
		if (err) {
			assert_int_equal(err, -EINVAL);
			assert_true(bpftime_vm__last_error(vm)[0]);
		} else {
			accepted++;
			err = bpftime_vm__run(vm, mem, sizeof(mem), &r0);
			assert_true(err == 0 || err == -EFAULT);
		}
		bpftime_vm__free(vm);
	}
	print_message("random bytes: %zu of 20000 programs accepted\n", accepted);
	assert_true(accepted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_objects),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_opts_sizes),
		cmocka_unit_test(test_random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
