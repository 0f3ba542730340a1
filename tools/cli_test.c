/* SPDX-License-Identifier: MIT */
/* tools/cli_test.c: the command line of every tool, as users and scripts
 * meet it: --help of every subcommand (exit 0, on stdout), --version, long
 * options written --opt=value, and the exit statuses: 0 success, 1 failure,
 * 2 usage error.  Runs the real binaries; nothing here touches a segment
 * (dry runs, help texts and refused command lines only).
 *
 *   cli_test BPFTIME BPFTIMETOOL BPFTIME_AOT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

static const char *bpftime_bin, *tool_bin, *aot_bin;
static char out[65536], err[65536];

/* runs @argv (NULL-terminated), captures stdout and stderr; its exit status */
static int run(const char *const *argv)
{
	char opath[] = "/tmp/cli_test_out_XXXXXX", epath[] = "/tmp/cli_test_err_XXXXXX";
	int ofd = mkstemp(opath), efd = mkstemp(epath), status;
	ssize_t n;
	pid_t pid;

	assert_true(ofd >= 0 && efd >= 0);
	unlink(opath);
	unlink(epath);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = pread(ofd, out, sizeof(out) - 1, 0);
	out[n > 0 ? n : 0] = 0;
	n = pread(efd, err, sizeof(err) - 1, 0);
	err[n > 0 ? n : 0] = 0;
	close(ofd);
	close(efd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define RUN(...) run((const char *const[]){ __VA_ARGS__, NULL })

static void expect(int want, int got, const char *what)
{
	if (want != got)
		fail_msg("%s: exit status %d, expected %d\nstdout: %s\nstderr: %s", what, got, want,
			 out, err);
}

static void test_version(void **state)
{
	(void)state;
	expect(0, RUN(bpftime_bin, "--version"), "bpftime --version");
	assert_non_null(strstr(out, "bpftime 0."));
	expect(0, RUN(bpftime_bin, "-v"), "bpftime -v (the original's)");
	assert_non_null(strstr(out, "bpftime 0."));
	expect(0, RUN(tool_bin, "--version"), "bpftimetool --version");
	assert_non_null(strstr(out, "bpftimetool 0."));
	expect(0, RUN(aot_bin, "--version"), "bpftime-aot --version");
	assert_non_null(strstr(out, "bpftime-aot 0."));
}

/* every subcommand's --help: exit 0, the text on stdout, nothing on stderr */
static void test_help(void **state)
{
	static const char *const subs[] = { "load", "start", "attach", "detach" };
	static const char *const tsubs[] = { "export", "import",   "load", "remove",
					     "run",    "tracelog", "prog", "map" };
	static const char *const asubs[] = { "build", "compile", "load", "run" };

	(void)state;
	expect(0, RUN(bpftime_bin, "--help"), "bpftime --help");
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		assert_non_null(strstr(out, subs[i]));
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		expect(0, RUN(bpftime_bin, subs[i], "--help"), subs[i]);
		assert_non_null(strstr(out, "usage: bpftime"));
		assert_non_null(strstr(out, subs[i]));
		assert_string_equal(err, "");
		expect(0, RUN(bpftime_bin, subs[i], "-h"), subs[i]);
	}
	expect(0, RUN(bpftime_bin, "load", "--help"), "load --help");
	assert_non_null(strstr(out, "--memory-size"));
	assert_non_null(strstr(out, "--shm-group"));
	assert_non_null(strstr(out, "--bpftime-log-output"));
	assert_non_null(strstr(out, "--install-location"));
	expect(0, RUN(tool_bin, "--help"), "bpftimetool --help");
	assert_non_null(strstr(out, "-j, --json"));
	for (size_t i = 0; i < sizeof(tsubs) / sizeof(tsubs[0]); i++) {
		expect(0, RUN(tool_bin, tsubs[i], "--help"), tsubs[i]);
		assert_non_null(strstr(out, "usage: bpftimetool"));
		assert_string_equal(err, "");
	}
	expect(0, RUN(tool_bin, "help"), "bpftimetool help");
	expect(0, RUN(aot_bin, "--help"), "bpftime-aot --help");
	for (size_t i = 0; i < sizeof(asubs) / sizeof(asubs[0]); i++) {
		expect(0, RUN(aot_bin, asubs[i], "--help"), asubs[i]);
		assert_non_null(strstr(out, "usage: bpftime-aot"));
		assert_string_equal(err, "");
	}
}

/* --opt=value and --opt value mean the same; a dry run shows the result */
static void test_long_options(void **state)
{
	(void)state;
	expect(0,
	       RUN(bpftime_bin, "--dry-run", "load", "--memory-size=8", "--spdlog-level=debug",
		   "--bpftime-log-output=console", "--shm-group=0", "--no-jit", "--keep-shm",
		   "/bin/echo", "hi"),
	       "load --opt=value");
	assert_non_null(strstr(out, "BPFTIME_SHM_MEMORY_MB=8 "));
	assert_non_null(strstr(out, "BPFTIME_SHM_GROUP=0 "));
	assert_non_null(strstr(out, "BPFTIME_KEEP_SHM=1 "));
	assert_non_null(strstr(out, "BPFTIME_USED=1 "));
	assert_non_null(strstr(out, "SPDLOG_LEVEL=debug "));
	assert_non_null(strstr(out, "BPFTIME_LOG_OUTPUT=console "));
	assert_non_null(strstr(out, "BPFTIME_DISABLE_JIT=1 "));
	assert_non_null(strstr(out, "libbpftime-syscall-server.so /bin/echo hi\n"));
	expect(0,
	       RUN(bpftime_bin, "load", "-d", "--memory-size", "9", "--spdlog-level", "warn",
		   "/bin/echo"),
	       "load --opt value");
	assert_non_null(strstr(out, "BPFTIME_SHM_MEMORY_MB=9 "));
	assert_non_null(strstr(out, "SPDLOG_LEVEL=warn "));
	/* the program's own options are its own */
	expect(0, RUN(bpftime_bin, "-d", "start", "-s", "/bin/ls", "-l", "--all"), "start");
	assert_non_null(strstr(out, "libbpftime-agent.so /bin/ls -l --all\n"));
	expect(0, RUN(bpftime_bin, "-d", "attach", "--spdlog-level=debug", "1"), "attach -d");
	assert_non_null(strstr(out, "level=debug"));
	assert_non_null(strstr(out, "shm="));
	/* -i/--install-location: only there */
	expect(1, RUN(bpftime_bin, "--install-location=/nonexistent", "start", "/bin/true"),
	       "--install-location=");
	assert_non_null(strstr(err, "/nonexistent"));
	expect(1, RUN(bpftime_bin, "-i", "/nonexistent", "load", "/bin/true"), "-i DIR");
	expect(1, RUN(bpftime_bin, "load", "--install-location", "/nonexistent", "/bin/true"),
	       "load --install-location DIR");
	/* bpftime-aot --output=DIR */
	expect(1, RUN(aot_bin, "build", "--output=/nonexistent", "/nonexistent.o"),
	       "bpftime-aot build --output=");
}

/* usage errors are 2 in every tool, with a message on stderr */
static void test_usage_errors(void **state)
{
	const char *const *const cases[] = {
		(const char *const[]){ "bpftime", NULL },
		(const char *const[]){ "bpftime", "frobnicate", NULL },
		(const char *const[]){ "bpftime", "--frobnicate", NULL },
		(const char *const[]){ "bpftime", "--install-location", NULL },
		(const char *const[]){ "bpftime", "load", NULL },
		(const char *const[]){ "bpftime", "load", "--bogus", "/bin/true", NULL },
		(const char *const[]){ "bpftime", "load", "--memory-size=abc", "/bin/true", NULL },
		(const char *const[]){ "bpftime", "load", "--memory-size", NULL },
		(const char *const[]){ "bpftime", "load", "--shm-group=no_such_group_here",
				       "/bin/true", NULL },
		(const char *const[]){ "bpftime", "start", NULL },
		(const char *const[]){ "bpftime", "start", "--spdlog-level=loud", "/bin/true",
				       NULL },
		(const char *const[]){ "bpftime", "start", "--memory-size=8", "/bin/true", NULL },
		(const char *const[]){ "bpftime", "attach", NULL },
		(const char *const[]){ "bpftime", "attach", "notapid", NULL },
		(const char *const[]){ "bpftime", "attach", "1", "2", NULL },
		(const char *const[]){ "bpftime", "detach", "1", "2", NULL },
		(const char *const[]){ "bpftime", "detach", "x", NULL },
		(const char *const[]){ "bpftimetool", NULL },
		(const char *const[]){ "bpftimetool", "frobnicate", NULL },
		(const char *const[]){ "bpftimetool", "-x", "prog", "show", NULL },
		(const char *const[]){ "bpftimetool", "export", NULL },
		(const char *const[]){ "bpftimetool", "remove", "now", NULL },
		(const char *const[]){ "bpftimetool", "run", "x", NULL },
		(const char *const[]){ "bpftimetool", "map", "dump", "id", NULL },
		(const char *const[]){ "bpftimetool", "prog", "frob", NULL },
		(const char *const[]){ "bpftime-aot", NULL },
		(const char *const[]){ "bpftime-aot", "frobnicate", NULL },
		(const char *const[]){ "bpftime-aot", "build", NULL },
		(const char *const[]){ "bpftime-aot", "build", "--output", NULL },
		(const char *const[]){ "bpftime-aot", "compile", "extra", NULL },
		(const char *const[]){ "bpftime-aot", "load", "x", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[16], *name = cases[i][0];
		char what[256] = "";
		size_t n = 0;

		argv[n++] = !strcmp(name, "bpftime")	   ? bpftime_bin
			    : !strcmp(name, "bpftimetool") ? tool_bin
							   : aot_bin;
		for (size_t k = 1; cases[i][k]; k++)
			argv[n++] = cases[i][k];
		argv[n] = NULL;
		for (size_t k = 0; cases[i][k]; k++)
			snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s ",
				 cases[i][k]);
		expect(2, run(argv), what);
		if (!*err)
			fail_msg("%s: no message on stderr", what);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_long_options),
		cmocka_unit_test(test_usage_errors),
	};

	if (argc < 4) {
		fprintf(stderr, "usage: cli_test BPFTIME BPFTIMETOOL BPFTIME_AOT\n");
		return 2;
	}
	bpftime_bin = argv[1];
	tool_bin = argv[2];
	aot_bin = argv[3];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
