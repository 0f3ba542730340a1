/* SPDX-License-Identifier: MIT */
/* tests/conformance/plugin_test.c: drives bpftime-conformance-plugin as a
 * separate process, exactly as the upstream bpf_conformance runner does
 * (FORMAT.md §4.2-4.3): memory as argv[1] in "xx  " form when the test has
 * some, plugin options after it, the program's bytes as one hex line on
 * stdin, r0 read back from stdout with base-16 strtoull semantics.
 *
 *   plugin_test PLUGIN_PATH
 *
 * Built-in cases always run (protocol details and error paths); every shared
 * .data file runs too when BPFTIME_SHARED_DIR has them.
 */
#define _GNU_SOURCE /* pipe2 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/testkit.h"
#include "asm.h"

static const char *plugin_path;

struct outcome {
	int status; /* exit status, or 128 + signal */
	char out[4096];
	char err[4096];
};

/* Appends the runner's hex form of @len bytes: two lowercase digits and two
 * spaces per byte, or packed digits when @packed. */
static char *hex_string(const uint8_t *p, size_t len, bool packed)
{
	char *s = malloc(len * 4 + 2), *w = s;

	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		w += sprintf(w, packed ? "%02x" : "%02x  ", p[i]);
	*w = 0;
	return s;
}

static void drain(int fd, char *buf, size_t *len, size_t cap, bool *open)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n <= 0) {
		*open = false;
		return;
	}
	*len += (size_t)n;
	buf[*len] = 0;
	if (*len == cap - 1) /* enough to judge; keep draining into the last bytes */
		*len = cap - 2;
}

/* Runs the plugin with @args (NULL-terminated, after argv[0]) and @input on
 * stdin. */
static void run_plugin(const char *const *args, const char *input, struct outcome *o)
{
	int in[2], out[2], err[2], wstatus;
	const char *argv[16];
	size_t nargs = 0, olen = 0, elen = 0, ilen = strlen(input), done = 0;
	bool oopen = true, eopen = true;
	pid_t pid;

	argv[nargs++] = plugin_path;
	while (*args && nargs < 15)
		argv[nargs++] = *args++;
	argv[nargs] = NULL;
	memset(o, 0, sizeof(*o));
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(plugin_path, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	/* the plugin reads all of stdin before it writes anything, but a
	 * usage error may exit early: ignore EPIPE */
	signal(SIGPIPE, SIG_IGN);
	while (done < ilen) {
		ssize_t n = write(in[1], input + done, ilen - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(in[1]);
	while (oopen || eopen) {
		struct pollfd p[2] = { { oopen ? out[0] : -1, POLLIN, 0 },
				       { eopen ? err[0] : -1, POLLIN, 0 } };

		assert_true(poll(p, 2, -1) > 0);
		if (p[0].revents)
			drain(out[0], o->out, &olen, sizeof(o->out), &oopen);
		if (p[1].revents)
			drain(err[0], o->err, &elen, sizeof(o->err), &eopen);
	}
	close(out[0]);
	close(err[0]);
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	o->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

/* The runner's reading of stdout: strip one newline, base-16 strtoull. */
static bool parse_r0(const char *out, uint64_t *r0)
{
	char buf[4096], *end;
	size_t len;

	snprintf(buf, sizeof(buf), "%s", out);
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	if (!len)
		return false;
	errno = 0;
	*r0 = strtoull(buf, &end, 16);
	return !errno && !*end;
}

/* Assembles @src, runs it through the plugin with @mem (or none) and @opts
 * and returns the outcome. */
static void run_asm(const char *src, const uint8_t *mem, size_t mem_len, bool has_mem, bool packed,
		    const char *const *opts, struct outcome *o)
{
	struct bpftime_insn *insns;
	const char *args[12];
	char *prog_hex, *mem_hex = NULL, *input, err[256];
	size_t cnt, n = 0;

	if (asm_assemble("case", src, 1, &insns, &cnt, err, sizeof(err)))
		fail_msg("%s", err);
	prog_hex = hex_string((const uint8_t *)insns, cnt * sizeof(*insns), packed);
	input = malloc(strlen(prog_hex) + 2);
	assert_non_null(input);
	sprintf(input, "%s\n", prog_hex);
	if (has_mem) {
		mem_hex = hex_string(mem, mem_len, false);
		args[n++] = mem_hex;
	}
	while (opts && *opts && n < 11)
		args[n++] = *opts++;
	args[n] = NULL;
	run_plugin(args, input, o);
	free(insns);
	free(prog_hex);
	free(mem_hex);
	free(input);
}

static void expect_r0(const struct outcome *o, uint64_t want)
{
	uint64_t r0;

	if (o->status != 0)
		fail_msg("plugin exited %d: %s", o->status, o->err);
	if (!parse_r0(o->out, &r0))
		fail_msg("unparseable stdout '%s'", o->out);
	if (r0 != want)
		fail_msg("r0 = 0x%" PRIx64 ", expected 0x%" PRIx64, r0, want);
}

static void expect_error(const struct outcome *o, const char *substr)
{
	if (o->status != 1)
		fail_msg("plugin exited %d (stdout '%s'), expected 1", o->status, o->out);
	assert_string_equal(o->out, "");
	if (!strstr(o->err, substr))
		fail_msg("stderr '%s' does not mention '%s'", o->err, substr);
}

/* no memory: argv[1] is already an option, r1 = NULL, r2 = 0 */
static void test_no_mem(void **state)
{
	static const char *const eng[] = { "--engine", "interpreter", NULL };
	struct outcome o;

	(void)state;
	run_asm("mov %r0, %r2\nadd %r0, %r1\nadd %r0, 0x2a\nexit", NULL, 0, false, false, NULL, &o);
	expect_r0(&o, 0x2a);
	run_asm("lddw %r0, 0x1122334455667788\nexit", NULL, 0, false, false, eng, &o);
	expect_r0(&o, 0x1122334455667788);
}

/* memory arrives in r1 (writable) with its length in r2 */
static void test_mem(void **state)
{
	static const uint8_t mem[] = { 0x11, 0x22, 0x33, 0x44, 0x55 };
	static const char *const eng[] = { "--engine=interpreter", NULL };
	struct outcome o;

	(void)state;
	run_asm("mov %r0, %r2\nexit", mem, sizeof(mem), true, false, NULL, &o);
	expect_r0(&o, 5);
	run_asm("stb [%r1+4], 0x99\nldxw %r0, [%r1+1]\nldxb %r3, [%r1+4]\nlsh %r3, 32\n"
		"or %r0, %r3\nexit",
		mem, sizeof(mem), true, false, eng, &o);
	expect_r0(&o, 0x9999443322); /* bytes 1..4 after the store, | 0x99 << 32 */
	/* an empty memory argument is still memory: r1 != NULL, r2 = 0 */
	run_asm("mov %r0, %r2\nexit", mem, 0, true, false, NULL, &o);
	expect_r0(&o, 0);
}

/* program bytes may come without separators */
static void test_packed_hex(void **state)
{
	struct outcome o;

	(void)state;
	run_asm("mov32 %r0, -1\nexit", NULL, 0, false, true, NULL, &o);
	expect_r0(&o, 0xffffffff);
}

/* helper 5 is callable directly and through callx */
static void test_helper5(void **state)
{
	struct outcome o;

	(void)state;
	run_asm("mov %r1, 77\ncall 5\nexit", NULL, 0, false, false, NULL, &o);
	expect_r0(&o, 77);
	run_asm("mov %r1, -1\nmov %r2, 5\ncall %r2\nexit", NULL, 0, false, false, NULL, &o);
	expect_r0(&o, UINT64_MAX);
}

/* failures: exit 1, nothing on stdout, a message on stderr */
static void test_errors(void **state)
{
	static const char *const elf[] = { "--elf", NULL };
	static const char *const bad_engine[] = { "--engine", "quantum", NULL };
	static const char *const bad_opt[] = { "--xdp_prolog", NULL };
	static const char *const none[] = { NULL };
	struct outcome o;

	(void)state;
	run_asm("exit", NULL, 0, false, false, elf, &o);
	expect_error(&o, "--elf");
	run_asm("exit", NULL, 0, false, false, bad_engine, &o);
	expect_error(&o, "unknown engine 'quantum'");
	run_asm("exit", NULL, 0, false, false, bad_opt, &o);
	expect_error(&o, "unknown option '--xdp_prolog'");
	/* the verifier rejects a jump out of the program */
	run_asm("ja +5\nexit", NULL, 0, false, false, NULL, &o);
	expect_error(&o, "pc 0");
	run_plugin(none, "95 00 00 00 00 00 00\n", &o);
	expect_error(&o, "program is 7 bytes");
	run_plugin(none, "95 00 00 00 00 00 00 0g\n", &o);
	expect_error(&o, "invalid program hex");
	run_plugin(none, "\n", &o);
	expect_error(&o, "expected a non-zero multiple of 8");
	/* binary garbage: the offset, and no raw bytes in the message */
	run_plugin(none, "95 00 00 00 00 00 00 00 \x01\xff\n", &o);
	expect_error(&o, "invalid program hex at offset 24 near '?\?\?' (expected pairs");
	{
		static const char *const bad_mem[] = { "0102g3", NULL };

		run_plugin(bad_mem, "95 00 00 00 00 00 00 00\n", &o);
		expect_error(&o, "invalid memory hex at offset 4 near 'g3'");
	}
}

/* every shared vector passes through the plugin with these options */
static void run_shared_files(const char *label, const char *const *opts)
{
	const char *shared = getenv("BPFTIME_SHARED_DIR");
	size_t passed = 0, failed = 0;
	struct dirent *de;
	char dir[4096];
	DIR *d = NULL;

	snprintf(dir, sizeof(dir), "%s/conformance/bpf_conformance", shared ? shared : "");
	if (!shared || !*shared || !(d = opendir(dir))) {
		TEST_SKIP("plugin: shared vectors: %s not found (BPFTIME_SHARED_DIR)", dir);
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		const char *args[8] = { NULL };
		size_t nargs = 0;
		char path[4352], err[512], *prog_hex, *mem_hex = NULL, *input;
		struct asm_case c;
		struct outcome o;
		uint64_t r0;

		if (len < 5 || strcmp(de->d_name + len - 5, ".data"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (asm_case__parse_file(&c, path, err, sizeof(err)))
			fail_msg("%s", err);
		prog_hex = hex_string((const uint8_t *)c.insns, c.cnt * sizeof(*c.insns), false);
		input = malloc(strlen(prog_hex) + 2);
		assert_non_null(input);
		sprintf(input, "%s\n", prog_hex);
		if (c.has_mem)
			args[nargs++] = mem_hex = hex_string(c.mem, c.mem_len, false);
		for (const char *const *opt = opts; *opt && nargs < 7; opt++)
			args[nargs++] = *opt;
		run_plugin(args, input, &o);
		if (o.status == 0 && parse_r0(o.out, &r0) && c.has_result && r0 == c.result) {
			passed++;
		} else {
			printf("plugin (%s): FAIL %s: status %d, stdout '%s', stderr '%s', "
			       "expected "
			       "0x%" PRIx64 "\n",
			       label, de->d_name, o.status, o.out, o.err, c.result);
			failed++;
		}
		free(prog_hex);
		free(mem_hex);
		free(input);
		asm_case__free(&c);
	}
	closedir(d);
	printf("plugin (%s): %zu passed, %zu failed, 0 skipped\n", label, passed, failed);
	assert_int_equal(failed, 0);
	assert_int_equal(passed, 313);
}

static void test_shared_files_default(void **state)
{
	static const char *const none[] = { NULL };

	(void)state;
	run_shared_files("default engine", none);
}

static void test_shared_files_interpreter(void **state)
{
	static const char *const interp[] = { "--engine", "interpreter", NULL };

	(void)state;
	run_shared_files("interpreter", interp);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_mem),
		cmocka_unit_test(test_mem),
		cmocka_unit_test(test_packed_hex),
		cmocka_unit_test(test_helper5),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shared_files_default),
		cmocka_unit_test(test_shared_files_interpreter),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PLUGIN_PATH\n", argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	return TEST_RUN(tests, NULL, NULL);
}
