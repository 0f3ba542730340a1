/* SPDX-License-Identifier: MIT */
/* tests/fuzz/fuzz_diff_test.c: differential random testing of the engines.
 *
 * Generates programs with progen (seeds start .. start + count - 1), runs
 * each on the interpreter (the reference) and on every other engine named,
 * and fails on the first program whose r0 or context differs, printing its
 * seed, the difference and the disassembly.
 *
 *   fuzz_diff_test [--count N] [--seed S] [--engines interpreter,jit,...]
 *
 * CTest runs 10,000 programs interpreter vs jit; `fuzz-long` runs more.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "progen.h"

static uint64_t opt_seed = 1;
static uint64_t opt_count = 10000;
static enum bpftime_engine engines[8] = { BPFTIME_ENGINE_INTERP, BPFTIME_ENGINE_JIT };
static size_t nengines = 2;

static void dump(const struct progen_prog *prog)
{
	bpftime_disasm_prog(prog->insns, prog->cnt, NULL, stderr);
}

static void run_seeds(bool no_calls, uint64_t first, uint64_t count)
{
	struct progen_opts opts = { .no_calls = no_calls };
	uint64_t insns = 0;

	for (uint64_t seed = first; seed < first + count; seed++) {
		struct progen_prog prog;
		char why[512];

		assert_int_equal(progen_generate(seed, &opts, &prog), 0);
		insns += prog.cnt;
		for (size_t e = 1; e < nengines; e++) {
			if (!progen_compare(&prog, engines[0], engines[e], why, sizeof(why)))
				continue;
			fprintf(stderr, "seed %llu%s: %s\n", (unsigned long long)seed,
				no_calls ? " (no calls)" : "", why);
			dump(&prog);
			progen_free(&prog);
			fail_msg("engines disagree on seed %llu", (unsigned long long)seed);
		}
		progen_free(&prog);
	}
	fprintf(stderr, "%llu programs (%llu instructions) agree on %zu engines\n",
		(unsigned long long)count, (unsigned long long)insns, nengines);
}

/* Programs with every feature. */
static void test_diff_all(void **state)
{
	(void)state;
	run_seeds(false, opt_seed, opt_count - opt_count / 4);
}

/* Programs without calls: longer straight-line and loop code. */
static void test_diff_no_calls(void **state)
{
	(void)state;
	run_seeds(true, opt_seed + opt_count, opt_count / 4);
}

/* The generator is deterministic: the same seed, the same program. */
static void test_deterministic(void **state)
{
	struct progen_prog a, b;

	(void)state;
	assert_int_equal(progen_generate(42, NULL, &a), 0);
	assert_int_equal(progen_generate(42, NULL, &b), 0);
	assert_int_equal(a.cnt, b.cnt);
	assert_memory_equal(a.insns, b.insns, a.cnt * sizeof(*a.insns));
	assert_memory_equal(a.ctx, b.ctx, sizeof(a.ctx));
	progen_free(&a);
	progen_free(&b);
}

/* The state really reaches the context: main dumps r0..r8 there before
 * exit, so the dumped r0 is the returned one, on every engine. */
static void test_dump_holds_r0(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct progen_prog p;
		struct progen_result res;
		uint64_t dumped;

		assert_int_equal(progen_generate(seed, NULL, &p), 0);
		for (size_t e = 0; e < nengines; e++) {
			assert_int_equal(progen_run(&p, engines[e], &res), 0);
			memcpy(&dumped, res.ctx + 208, 8);
			assert_int_equal(dumped, res.r0);
		}
		progen_free(&p);
	}
}

static int parse_engines(char *list)
{
	nengines = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		if (nengines == sizeof(engines) / sizeof(engines[0]) ||
		    bpftime_engine__parse(tok, &engines[nengines]))
			return -EINVAL;
		nengines++;
	}
	return nengines >= 2 ? 0 : -EINVAL;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_dump_holds_r0),
		cmocka_unit_test(test_diff_all),
		cmocka_unit_test(test_diff_no_calls),
	};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			opt_count = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			opt_seed = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--engines") && i + 1 < argc) {
			if (parse_engines(argv[++i])) {
				fprintf(stderr, "bad --engines list (two or more of interpreter, "
						"jit, llvm, aot)\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: %s [--count N] [--seed S] [--engines a,b,...]\n",
				argv[0]);
			return 2;
		}
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
