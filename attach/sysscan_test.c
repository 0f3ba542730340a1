/* SPDX-License-Identifier: MIT */
/* attach/sysscan_test.c: the scan for `syscall` instructions on this
 * process's real code: libc and the vDSO, functions of hand-written asm
 * (a site with its number, a pair inside another instruction, a site a
 * branch lands on), a library dlopen'ed later, anonymous executable
 * mappings (read-only: unprovable when they hold a pair; writable:
 * unprovable), the hook's own code, islands. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "common/compiler.h"
#include "common/testkit.h"
#include "attach/sysscan.h"

void scan_site(void);
void scan_inside(void);
void scan_branch(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl scan_site\n"
	".type scan_site, @function\n"
	"scan_site:\n"
	"	.cfi_startproc\n"
	"	mov $39, %eax\n"
	"	syscall\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size scan_site, .-scan_site\n"
	".p2align 4\n"
	".globl scan_inside\n"
	".type scan_inside, @function\n"
	"scan_inside:\n"
	"	.cfi_startproc\n"
	"	mov $0x050f, %eax\n" /* b8 0f 05 00 00 */
	"	ret\n"
	"	.cfi_endproc\n"
	".size scan_inside, .-scan_inside\n"
	".p2align 4\n"
	".globl scan_branch\n"
	".type scan_branch, @function\n"
	"scan_branch:\n"
	"	.cfi_startproc\n"
	"	mov $39, %eax\n"
	"	test %edi, %edi\n"
	"	jz 1f\n"
	"	mov $110, %eax\n"
	"1:	syscall\n" /* `mov eax, 110` before it, but not the only way in */
	"	ret\n"
	"	.cfi_endproc\n"
	".size scan_branch, .-scan_branch\n"
	".p2align 4\n");

/* the first `syscall` in [p, p + n) */
static uintptr_t find_sc(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i++)
		if (b[i] == 0x0f && b[i + 1] == 0x05)
			return (uintptr_t)(b + i);
	return 0;
}

static const struct sysscan_site *site_at(const struct sysscan *s, uintptr_t a)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->site[i].addr == a)
			return &s->site[i];
	return NULL;
}

/* the number of the site at @a, -1 unknown, -2 no site there */
static long nr_at(const struct sysscan *s, uintptr_t a)
{
	const struct sysscan_site *st = site_at(s, a);

	return st ? st->nr : -2;
}

static void test_process(void **state)
{
	struct sysscan s = { 0 };
	uintptr_t a;
	size_t islands = 0;

	UNUSED(state);
	assert_int_equal(sysscan_all(&s), 0);
	if (s.unprovable)
		fail_msg("unprovable: %s", s.why);
	/* libc's getppid: `mov eax, 110; syscall` */
	a = find_sc((const void *)(uintptr_t)getppid, 32);
	assert_true(a);
	assert_int_equal(nr_at(&s, a), 110);
	/* the asm: a site with its number, a pair that is not one, a site
	 * a branch lands on (number unknown) */
	assert_int_equal(nr_at(&s, (uintptr_t)scan_site + 5), 39);
	assert_null(site_at(&s, (uintptr_t)scan_inside + 1));
	assert_true(s.inside >= 1);
	a = find_sc((const void *)(uintptr_t)scan_branch, 32);
	assert_int_equal(nr_at(&s, a), -1);
	/* islands: padding within a jmp rel8's reach, 5 bytes each */
	for (size_t i = 0; i < s.n; i++) {
		uintptr_t is = s.site[i].island;
		int64_t rel = (int64_t)is - (int64_t)(s.site[i].addr + 2);
		const uint8_t *b = (const uint8_t *)is;

		if (!is)
			continue;
		islands++;
		assert_true(rel >= -128 && rel <= 127);
		for (int k = 0; k < 5; k++)
			assert_true(b[k] == 0xcc || b[k] == 0x90 || b[k] == 0x66 || b[k] == 0x0f ||
				    b[k] == 0x1f || b[k] == 0x00 || b[k] == 0x40 || b[k] == 0x44 ||
				    b[k] == 0x80 || b[k] == 0x84 || b[k] == 0x2e);
		for (size_t j = 0; j < i; j++)
			assert_true(s.site[j].island == 0 || s.site[j].island + 5 <= is ||
				    is + 5 <= s.site[j].island);
	}
	assert_true(islands > 0);
	print_message("%zu sites (%zu pairs, %zu inside instructions), %zu with an island\n", s.n,
		      s.pairs, s.inside, islands);
	sysscan_free(&s);
}

static void test_dlopen_lib(void **state)
{
	struct sysscan s = { 0 };
	void *h = dlopen(SYSCALL_TESTLIB, RTLD_NOW | RTLD_LOCAL);
	void *fn, *regs;
	uintptr_t a, b;

	UNUSED(state);
	assert_non_null(h);
	fn = dlsym(h, "syscall_testlib_getppid");
	regs = dlsym(h, "syscall_testlib_regs");
	assert_non_null(fn);
	assert_non_null(regs);
	a = find_sc(fn, 64);
	b = find_sc(regs, 256);
	assert_true(a && b);
	assert_int_equal(sysscan_range(&s, (uintptr_t)fn, (uintptr_t)fn + 64), 0);
	assert_false(s.unprovable);
	assert_non_null(site_at(&s, a));
	sysscan_free(&s);
	/* no unwind information: decoded from the end of the function before it */
	memset(&s, 0, sizeof(s));
	assert_int_equal(sysscan_range(&s, (uintptr_t)regs, (uintptr_t)regs + 256), 0);
	assert_false(s.unprovable);
	/* a site; its number unknown: the code decoded with it has an
	 * indirect jmp (the crt's functions without unwind information) */
	assert_int_not_equal(nr_at(&s, b), -2);
	sysscan_free(&s);
	dlclose(h);
}

static const uint8_t code[] = { 0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3 };

static void test_anonymous(void **state)
{
	struct sysscan s = { 0 };
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	UNUSED(state);
	assert_true(p != MAP_FAILED);
	memset(p, 0xc3, 4096);
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	/* executable, read-only, no pair: nothing to prove */
	assert_int_equal(sysscan_range(&s, (uintptr_t)p, (uintptr_t)p + 4096), 0);
	assert_false(s.unprovable);
	assert_int_equal(s.n, 0);
	/* a syscall with no function table around it (JIT code) */
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_WRITE), 0);
	memcpy(p + 100, code, sizeof(code));
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	assert_int_equal(sysscan_range(&s, (uintptr_t)p, (uintptr_t)p + 4096), 0);
	assert_true(s.unprovable);
	assert_non_null(strstr(s.why, "anonymous"));
	assert_non_null(strstr(s.why, "outside any function"));
	/* writable and executable: unprovable even without a pair now */
	memset(&s, 0, sizeof(s));
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
	memset(p, 0xc3, 4096);
	assert_int_equal(sysscan_range(&s, (uintptr_t)p, (uintptr_t)p + 4096), 0);
	assert_true(s.unprovable);
	assert_non_null(strstr(s.why, "writable"));
	sysscan_free(&s);
	/* the hook's own code is not scanned */
	memset(&s, 0, sizeof(s));
	memcpy(p + 100, code, sizeof(code));
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
	sysscan_own((uintptr_t)p, 4096);
	assert_int_equal(sysscan_range(&s, (uintptr_t)p, (uintptr_t)p + 4096), 0);
	assert_false(s.unprovable);
	assert_int_equal(s.n, 0);
	sysscan_free(&s);
	munmap(p, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process),
		cmocka_unit_test(test_dlopen_lib),
		cmocka_unit_test(test_anonymous),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
