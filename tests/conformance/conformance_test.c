/* SPDX-License-Identifier: MIT */
/* tests/conformance/conformance_test.c: runs every bpf_conformance .data file
 * in-process on one engine and reports each file and a total.
 *
 *   conformance_test [--engine NAME] [--bounds-check] [--dir DIR] [--only SUBSTR]
 *
 * The environment is the one the vectors expect (FORMAT.md §4.3): r1 = a
 * writable copy of the "-- mem" bytes and r2 = their length (NULL and 0
 * without mem), helper 5 returns its first argument.  A file with an
 * "-- error" section passes when load, compile or run fails with exactly that
 * message.  Nothing is skipped: a file that cannot be parsed fails.  Without
 * the shared directory (BPFTIME_SHARED_DIR) the tests are skipped (CTest: Skipped) with the
 * reason.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/vm.h>
#include "asm.h"

#define CONFORMANCE_FILES 313 /* .data files in the shared snapshot (FORMAT.md §5) */

static struct {
	enum bpftime_engine engine;
	bool bounds_check;
	const char *dir;
	const char *only;
} cfg = { .engine = BPFTIME_ENGINE_INTERP };

/* uBPF's and the kernel plugin's helper 5 differ; the vectors only need one
 * that is callable and harmless. */
static uint64_t helper_ret_arg1(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r2;
	(void)r3;
	(void)r4;
	(void)r5;
	return r1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted .data file names in cfg.dir; NULL if the directory is absent. */
static char **list_files(size_t *n)
{
	char **names = NULL, **grown;
	struct dirent *de;
	DIR *d;

	*n = 0;
	d = opendir(cfg.dir);
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 5, ".data"))
			continue;
		grown = realloc(names, (*n + 1) * sizeof(*names));
		assert_non_null(grown);
		names = grown;
		names[*n] = strdup(de->d_name);
		assert_non_null(names[*n]);
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp_names);
	return names ? names : calloc(1, sizeof(*names));
}

static void free_files(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static void skip_without_dir(void)
{
	DIR *d = cfg.dir ? opendir(cfg.dir) : NULL;

	if (d) {
		closedir(d);
		return;
	}
	TEST_SKIP("conformance: vectors not found at %s "
		  "(BPFTIME_SHARED_DIR points at ../shared; the suite needs "
		  "shared/conformance/bpf_conformance/*.data)",
		  cfg.dir ? cfg.dir : "(BPFTIME_SHARED_DIR unset)");
}

/* A failed step: passes when the file expects exactly this error. */
static bool expected_error(const struct asm_case *c, const char *step, const char *msg, char *why,
			   size_t why_sz)
{
	if (c->error && !strcmp(c->error, msg))
		return true;
	if (c->error)
		snprintf(why, why_sz, "%s failed with '%s', expected error '%s'", step, msg,
			 c->error);
	else
		snprintf(why, why_sz, "%s failed: %s (expected r0 = 0x%" PRIx64 ")", step,
			 msg[0] ? msg : strerror(errno), c->result);
	return false;
}

/* Runs one file; true on pass, else @why says what went wrong. */
static bool run_file(const char *path, char *why, size_t why_sz)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .bounds_check = cfg.bounds_check);
	struct bpftime_vm *vm = NULL;
	const char *base = strrchr(path, '/');
	uint8_t *mem = NULL;
	struct asm_case c;
	bool ok = false;
	uint64_t r0 = 0;
	char err[512];

	opts.name = base ? base + 1 : path;
	if (asm_case__parse_file(&c, path, err, sizeof(err))) {
		snprintf(why, why_sz, "cannot parse: %s", err);
		return false;
	}
	vm = bpftime_vm__new(&opts);
	if (!vm) {
		snprintf(why, why_sz, "bpftime_vm__new: %s", strerror(errno));
		goto out;
	}
	if (bpftime_vm__register_helper(vm, 5, "ret_arg1", helper_ret_arg1)) {
		snprintf(why, why_sz, "register_helper: %s", strerror(errno));
		goto out;
	}
	if (bpftime_vm__load(vm, c.insns, c.cnt)) {
		ok = expected_error(&c, "load", bpftime_vm__last_error(vm), why, why_sz);
		goto out;
	}
	if (bpftime_vm__compile(vm, cfg.engine)) {
		ok = expected_error(&c, "compile", bpftime_vm__last_error(vm), why, why_sz);
		goto out;
	}
	if (c.has_mem) {
		mem = malloc(c.mem_len ? c.mem_len : 1);
		if (!mem) {
			snprintf(why, why_sz, "out of memory");
			goto out;
		}
		memcpy(mem, c.mem, c.mem_len);
	}
	if (bpftime_vm__run(vm, mem, c.has_mem ? c.mem_len : 0, &r0)) {
		ok = expected_error(&c, "run", bpftime_vm__last_error(vm), why, why_sz);
		goto out;
	}
	if (c.error) {
		snprintf(why, why_sz, "expected error '%s', got r0 = 0x%" PRIx64, c.error, r0);
		goto out;
	}
	ok = r0 == c.result;
	if (!ok)
		snprintf(why, why_sz, "expected r0 = 0x%" PRIx64 ", got 0x%" PRIx64, c.result, r0);
out:
	free(mem);
	bpftime_vm__free(vm);
	asm_case__free(&c);
	return ok;
}

/* the snapshot holds exactly 313 vectors: none lost or added unnoticed */
static void test_count(void **state)
{
	size_t n = 0;
	char **names;

	(void)state;
	skip_without_dir();
	names = list_files(&n);
	if (!cfg.only && n != CONFORMANCE_FILES)
		fail_msg("%s has %zu .data files, expected %d", cfg.dir, n, CONFORMANCE_FILES);
	free_files(names, n);
}

/* every file passes on the chosen engine */
static void test_all_files(void **state)
{
	const char *engine = bpftime_engine__name(cfg.engine);
	size_t n = 0, passed = 0, failed = 0;
	char **names;

	(void)state;
	skip_without_dir();
	names = list_files(&n);
	for (size_t i = 0; i < n; i++) {
		char path[4352], why[1024] = "";

		if (cfg.only && !strstr(names[i], cfg.only))
			continue;
		snprintf(path, sizeof(path), "%s/%s", cfg.dir, names[i]);
		/* name the file first, so a crash shows where it happened */
		printf("%s: %s ... ", engine, names[i]);
		fflush(stdout);
		if (run_file(path, why, sizeof(why))) {
			printf("PASS\n");
			passed++;
		} else {
			printf("FAIL: %s\n", why);
			failed++;
		}
	}
	printf("%s%s: %zu passed, %zu failed, 0 skipped\n", engine,
	       cfg.bounds_check ? " (bounds-checked)" : "", passed, failed);
	fflush(stdout);
	free_files(names, n);
	assert_int_equal(failed, 0);
	assert_true(passed > 0);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--engine interpreter|jit|llvm|aot] [--bounds-check] [--dir DIR] "
		"[--only SUBSTR]\n",
		prog);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_all_files),
	};
	static char dir[4096];
	const char *shared = getenv("BPFTIME_SHARED_DIR");

	if (shared && *shared) {
		snprintf(dir, sizeof(dir), "%s/conformance/bpf_conformance", shared);
		cfg.dir = dir;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--engine") && i + 1 < argc) {
			if (bpftime_engine__parse(argv[++i], &cfg.engine)) {
				fprintf(stderr, "%s: unknown engine '%s'\n", argv[0], argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--bounds-check")) {
			cfg.bounds_check = true;
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			cfg.dir = argv[++i];
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			cfg.only = argv[++i];
		} else {
			usage(argv[0]);
			return 2;
		}
	}
	return testkit_exit(
		cmocka_run_group_tests_name(bpftime_engine__name(cfg.engine), tests, NULL, NULL),
		sizeof(tests) / sizeof(tests[0]));
}
