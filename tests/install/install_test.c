/* SPDX-License-Identifier: MIT */
/* tests/install/install_test.c: bpftime as users get it.  Installs the build
 * into a temporary prefix with `cmake --install`, checks the layout
 * (GNUInstallDirs: bin/, the libdir, include/bpftime/, pkgconfig/, cmake/),
 * that libbpftime-vm.so exports only the public API, builds embed.c against
 * the prefix with `pkg-config --cflags --libs bpftime` and a CMake project
 * with find_package(bpftime), and runs them.  Then it moves the prefix and
 * hides the build tree (a tmpfs over it, in a mount namespace of its own)
 * and runs the installed tools: the libraries they preload and the LLVM
 * back end are found relative to the tools.
 *
 *   install_test CMAKE BUILD_DIR SOURCE_DIR LIBDIR CC "CFLAGS" LLVM(0|1) FIXTURE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

static const char *cmake_bin, *build_dir, *source_dir, *libdir, *cc, *cflags, *fixture;
static bool have_llvm;
static char tmp[256], out[1 << 16];

/* runs the shell script @fmt (stdout and stderr into out[]); its status */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char *script, *cmd;
	va_list ap;
	FILE *p;
	size_t n;
	int status;

	va_start(ap, fmt);
	assert_true(vasprintf(&script, fmt, ap) > 0);
	va_end(ap);
	assert_true(asprintf(&cmd, "( %s ) 2>&1", script) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	status = pclose(p);
	free(script);
	free(cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void expect_ok(int status, const char *what)
{
	if (status)
		fail_msg("%s: exit status %d:\n%s", what, status, out);
}

static void expect_out(const char *needle)
{
	if (!strstr(out, needle))
		fail_msg("expected '%s' in:\n%s", needle, out);
}

static void test_install_and_embed(void **state)
{
	static const char *const files[] = {
		"bin/bpftime",		"bin/bpftimetool",	 "bin/bpftime-aot",
		"include/bpftime/vm.h", "include/bpftime/log.h",
	};
	static const char *const libs[] = {
		"libbpftime-agent.so",	"libbpftime-syscall-server.so",	     "libbpftime-vm.so",
		"pkgconfig/bpftime.pc", "cmake/bpftime/bpftimeConfig.cmake",
	};
	char path[512];

	(void)state;
	expect_ok(sh("'%s' --install '%s' --prefix '%s/pfx'", cmake_bin, build_dir, tmp),
		  "cmake --install");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/pfx/%s", tmp, files[i]);
		if (access(path, F_OK))
			fail_msg("%s is not installed", path);
	}
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		snprintf(path, sizeof(path), "%s/pfx/%s/%s", tmp, libdir, libs[i]);
		if (access(path, F_OK))
			fail_msg("%s is not installed", path);
	}
	if (have_llvm) {
		snprintf(path, sizeof(path), "%s/pfx/%s/libbpftime-llvm.so", tmp, libdir);
		assert_int_equal(access(path, F_OK), 0);
	}
	/* nothing flat in the prefix */
	snprintf(path, sizeof(path), "%s/pfx/bpftime", tmp);
	assert_int_equal(access(path, F_OK), -1);
	/* only the public API is exported */
	expect_ok(sh("nm -D --defined-only '%s/pfx/%s/libbpftime-vm.so' | awk '{print $3}' | "
		     "grep -v '^bpftime_' | grep -v '^$' || true",
		     tmp, libdir),
		  "nm");
	if (*out)
		fail_msg("libbpftime-vm.so exports more than the API:\n%s", out);
	expect_ok(sh("nm -D --defined-only '%s/pfx/%s/libbpftime-vm.so' | grep -c ' T "
		     "bpftime_vm__run$'",
		     tmp, libdir),
		  "bpftime_vm__run exported");

	/* pkg-config, as a user builds against the prefix */
	expect_ok(sh("export PKG_CONFIG_PATH='%s/pfx/%s/pkgconfig' && "
		     "'%s' %s -o '%s/embed' '%s/tests/install/embed.c' $(pkg-config --cflags "
		     "--libs bpftime)",
		     tmp, libdir, cc, cflags, tmp, source_dir),
		  "cc $(pkg-config --cflags --libs bpftime)");
	expect_ok(sh("LD_LIBRARY_PATH='%s/pfx/%s' '%s/embed' %s", tmp, libdir, tmp,
		     have_llvm ? "llvm" : ""),
		  "embed");
	expect_out("interpreter: r0 = 48\n");
	expect_out("jit: r0 = 48\n");
	if (have_llvm)
		expect_out("llvm: r0 = 48\n");

	/* find_package(bpftime): bpftime::vm */
	expect_ok(
		sh("mkdir -p '%s/cm' && cd '%s/cm' && "
		   "printf 'cmake_minimum_required(VERSION 3.18)\\nproject(e C)\\n"
		   "find_package(bpftime 0.1 REQUIRED)\\nadd_executable(embed "
		   "%s/tests/install/embed.c)\\n"
		   "target_link_libraries(embed PRIVATE bpftime::vm)\\n' > CMakeLists.txt && "
		   "CC='%s' CFLAGS='%s' '%s' -S . -B b -DCMAKE_PREFIX_PATH='%s/pfx' >/dev/null && "
		   "'%s' --build b >/dev/null && LD_LIBRARY_PATH='%s/pfx/%s' b/embed",
		   tmp, tmp, source_dir, cc, cflags, cmake_bin, tmp, cmake_bin, tmp, libdir),
		"find_package(bpftime)");
	expect_out("jit: r0 = 48\n");
}

/* the prefix moved, the build tree out of sight: the tools find their
 * libraries relative to themselves */
static void test_moved_tree(void **state)
{
	char hide[1024] = "";
	pid_t pid = getpid();

	(void)state;
	expect_ok(sh("rm -rf '%s/moved' && mv '%s/pfx' '%s/moved'", tmp, tmp, tmp), "mv");
	/* a tmpfs over the build tree, in a mount namespace of this script only */
	if (!sh("unshare -m true"))
		snprintf(hide, sizeof(hide),
			 "unshare -m sh -c 'mount -t tmpfs none \"%s\" && exec sh -c \"$0\"' ",
			 build_dir);
	else
		print_message(
			"install_test: no mount namespace here: the build tree stays visible\n");
	expect_ok(sh("%s'set -e; export BPFTIME_GLOBAL_SHM_NAME=install_test_%d; cd %s; "
		     "test ! -e %s/CMakeCache.txt; "
		     "moved/bin/bpftime --version; "
		     "moved/bin/bpftime -d load /bin/true; "
		     "moved/bin/bpftime load --bpftime-log-output=console /bin/true; "
		     "moved/bin/bpftime start --bpftime-log-output=console /bin/true; "
		     "moved/bin/bpftimetool import %s; moved/bin/bpftimetool prog show; "
		     "printf 0123456789abcdef > in.bin; "
		     "moved/bin/bpftimetool run 4 in.bin type %s; "
		     "moved/bin/bpftimetool remove; moved/bin/bpftime-aot --version; "
		     "LD_LIBRARY_PATH=moved/%s ./embed %s'",
		     hide, (int)pid, tmp, build_dir, fixture, have_llvm ? "LLVM" : "JIT", libdir,
		     have_llvm ? "llvm" : ""),
		  "the moved tree");
	expect_out("bpftime 0.");
	/* the dry run names the moved tree's server */
	{
		char want[512];

		snprintf(want, sizeof(want), "%s/moved/bin/../%s/libbpftime-syscall-server.so", tmp,
			 libdir);
		expect_out(want);
	}
	expect_out("bpftime-syscall-server started");
	/* the agent ran (and found no segment: the loader's went with it) */
	expect_out("running untraced");
	expect_out("do_uprobe_trace");
	expect_out("Return value: ");
	expect_out("jit: r0 = 48\n");
	if (have_llvm)
		expect_out("llvm: r0 = 48\n");
}

static int teardown(void **state)
{
	(void)state;
	if (tmp[0])
		sh("rm -rf '%s'", tmp);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_and_embed),
		cmocka_unit_test(test_moved_tree),
	};

	if (argc < 9) {
		fprintf(stderr, "usage: install_test CMAKE BUILD_DIR SOURCE_DIR LIBDIR CC CFLAGS "
				"LLVM FIXTURE\n");
		return 2;
	}
	cmake_bin = argv[1];
	build_dir = argv[2];
	source_dir = argv[3];
	libdir = argv[4];
	cc = argv[5];
	cflags = argv[6];
	have_llvm = !strcmp(argv[7], "1");
	fixture = argv[8];
	snprintf(tmp, sizeof(tmp), "/tmp/bpftime_install_test_%d", (int)getpid());
	mkdir(tmp, 0700);
	return cmocka_run_group_tests(tests, NULL, teardown);
}
