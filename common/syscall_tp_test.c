/* SPDX-License-Identifier: MIT */
/* common/syscall_tp_test.c: the catalogue against the running kernel.
 * With root and a tracefs we can mount in a private mount namespace, every
 * syscalls/ and raw_syscalls/ event of the kernel must be in the catalogue
 * and our "format" file (with the kernel's id) must equal the kernel's byte
 * for byte.  Exits 77 (CTest: skipped) when the kernel's tracefs cannot be
 * read.  The lookups themselves are checked without a kernel. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <cmocka.h>
#include "syscall_tp.h"

#define TRACEFS "/sys/kernel/tracing/events/"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n + 4096 > cap) {
			cap = n + 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r);
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

static void test_lookups(void **state)
{
	enum bpftime_systp_kind kind;
	int nr, id;
	char buf[2048];

	(void)state;
	assert_int_equal(systp_parse_event("syscalls/sys_enter_openat", 25, &kind, &nr), 0);
	assert_int_equal(kind, BPFTIME_SYSTP_ENTER);
	assert_int_equal(nr, 257);
	assert_int_equal(systp_parse_event("syscalls/sys_exit_umount", 24, &kind, &nr), 0);
	assert_int_equal(kind, BPFTIME_SYSTP_EXIT);
	assert_int_equal(nr, 166); /* umount2 */
	assert_int_equal(systp_parse_event("raw_syscalls/sys_enter", 22, &kind, &nr), 0);
	assert_int_equal(kind, BPFTIME_SYSTP_RAW_ENTER);
	assert_int_equal(systp_parse_event("syscalls/sys_enter_nosuch", 25, &kind, &nr), -ENOENT);
	assert_int_equal(systp_parse_event("sched/sched_switch", 18, &kind, &nr), -ENOENT);
	for (size_t i = 0; i < systp_count; i++) {
		id = systp_fake_id(BPFTIME_SYSTP_EXIT, systp_table[i].nr);
		assert_true(id < 65536);
		assert_int_equal(systp_decode_fake_id(id, &kind, &nr), 0);
		assert_int_equal(kind, BPFTIME_SYSTP_EXIT);
		assert_int_equal(nr, systp_table[i].nr);
		assert_ptr_equal(systp_by_nr(nr), &systp_table[i]);
	}
	assert_int_equal(systp_decode_fake_id(443, &kind, &nr), -ENOENT);
	assert_true(systp_format(BPFTIME_SYSTP_ENTER, 110, 7, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\n\nprint fmt: \"\"\n"));
}

static int mount_tracefs(void)
{
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
		return -errno;
	return 0;
}

static int compare(const char *event, enum bpftime_systp_kind kind, int nr)
{
	char path[512], ours[4096];
	size_t len;
	char *kernel, *id;
	int err = 0;

	snprintf(path, sizeof(path), TRACEFS "%s/format", event);
	kernel = slurp(path, &len);
	assert_non_null(kernel);
	id = strstr(kernel, "\nID: ");
	assert_non_null(id);
	systp_format(kind, nr, atoi(id + 5), ours, sizeof(ours));
	if (strcmp(ours, kernel)) {
		print_error("%s: ours\n%s\nkernel\n%s\n", event, ours, kernel);
		err = -1;
	}
	free(kernel);
	return err;
}

static void test_kernel_formats(void **state)
{
	enum bpftime_systp_kind kind;
	struct dirent *de;
	char ev[300];
	int nr, n = 0, bad = 0;
	DIR *d;

	(void)state;
	d = opendir(TRACEFS "syscalls");
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "sys_", 4))
			continue;
		snprintf(ev, sizeof(ev), "syscalls/%s", de->d_name);
		if (systp_parse_event(ev, strlen(ev), &kind, &nr)) {
			print_error("kernel event %s is not in the catalogue\n", ev);
			bad++;
			continue;
		}
		bad -= compare(ev, kind, nr);
		n++;
	}
	closedir(d);
	bad -= compare("raw_syscalls/sys_enter", BPFTIME_SYSTP_RAW_ENTER, -1);
	bad -= compare("raw_syscalls/sys_exit", BPFTIME_SYSTP_RAW_EXIT, -1);
	print_message("%d syscall events compared with the kernel's\n", n);
	assert_true(n > 100);
	assert_int_equal(bad, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest base[] = { cmocka_unit_test(test_lookups) };
	const struct CMUnitTest kernel[] = { cmocka_unit_test(test_kernel_formats) };

	if (argc > 1 && !strcmp(argv[1], "--kernel")) {
		int err = mount_tracefs();

		if (err || access(TRACEFS "syscalls", R_OK)) {
			fprintf(stderr, "skipped: cannot mount the kernel's tracefs (%s)\n",
				strerror(err ? -err : errno));
			return 77;
		}
		return cmocka_run_group_tests(kernel, NULL, NULL);
	}
	return cmocka_run_group_tests(base, NULL, NULL);
}
