/* tools/bpftime/main.c: `bpftime [-i DIR] SUBCOMMAND ...`.
 *
 * Subcommands are a table; each parses its own options.  The libraries a
 * subcommand preloads are looked up in this order: -i DIR (only there), the
 * directory of this binary (an installed tree), the build tree this binary
 * came from, then the default install directory ~/.bpftime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "cli.h"

static const struct subcommand {
	const char *name;
	int (*fn)(const struct cli *cli, int argc, char **argv);
	const char *usage;
} subcommands[] = {
	{ "load", cmd_load,
	  "load [--memory-size MB] [--spdlog-level LEVEL] [--no-jit] COMMAND [ARGS...]\n"
	  "      run a libbpf loader with libbpftime-syscall-server.so preloaded" },
	{ "start", cmd_start,
	  "start [-s] [--spdlog-level LEVEL] [--no-jit] COMMAND [ARGS...]\n"
	  "      run a program with libbpftime-agent.so preloaded (its uprobes run in it)" },
	{ "attach", cmd_attach,
	  "attach PID\n"
	  "      load libbpftime-agent.so into a running process (ptrace; x86-64, glibc)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: bpftime [-i DIR] SUBCOMMAND [OPTIONS] ...\n"
		   "  -i DIR   where the bpftime libraries are installed (default ~/.bpftime)\n"
		   "subcommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %s\n", subcommands[i].usage);
}

static bool is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

int cli_find_lib(const struct cli *cli, const char *lib, const char *build_path, char *buf,
		 unsigned long len)
{
	char exe[PATH_MAX];
	ssize_t n;
	const char *home = getenv("HOME");

	if (cli->install_dir) {
		snprintf(buf, len, "%s/%s", cli->install_dir, lib);
		if (is_file(buf))
			return 0;
		fprintf(stderr, "bpftime: %s not found in %s (check -i)\n", lib, cli->install_dir);
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		snprintf(buf, len, "%s/%s", exe, lib);
		if (is_file(buf))
			return 0;
	}
	if (build_path && is_file(build_path)) {
		snprintf(buf, len, "%s", build_path);
		return 0;
	}
	snprintf(buf, len, "%s/.bpftime/%s", home ? home : "", lib);
	if (is_file(buf))
		return 0;
	fprintf(stderr,
		"bpftime: %s not found next to %s, in the build tree or in ~/.bpftime: install bpftime there or pass -i DIR\n",
		lib, cli->argv0);
	return -ENOENT;
}

#ifdef BPFTIME_ASAN_RUNTIME
/* true if the program @cmd (searched in PATH) carries its own ASan runtime:
 * clang links it statically into instrumented executables, and a second,
 * shared one in the same process is fatal */
static bool has_asan(const char *cmd)
{
	char path[PATH_MAX], *buf = NULL;
	const char *dirs = getenv("PATH");
	bool found = false;
	size_t len = 0;
	FILE *f = NULL;

	if (strchr(cmd, '/')) {
		snprintf(path, sizeof(path), "%s", cmd);
		f = fopen(path, "rb");
	}
	while (!f && dirs && *dirs) {
		size_t n = strcspn(dirs, ":");

		snprintf(path, sizeof(path), "%.*s/%s", (int)n, dirs, cmd);
		f = fopen(path, "rb");
		dirs += n + (dirs[n] == ':');
	}
	if (!f)
		return false;
	if (!fseek(f, 0, SEEK_END) && ftell(f) > 0) {
		len = (size_t)ftell(f);
		buf = malloc(len);
		rewind(f);
		if (buf && fread(buf, 1, len, f) == len)
			found = memmem(buf, len, "__asan_init", 11) != NULL;
	}
	free(buf);
	fclose(f);
	return found;
}
#endif

/* what must come before our libraries in LD_PRELOAD: in a sanitizer build,
 * the ASan runtime (always with gcc's shared libasan; with clang only when
 * the program has none of its own) */
static const char *preload_prefix(const char *cmd)
{
#ifdef BPFTIME_ASAN_RUNTIME
	if (BPFTIME_ASAN_ALWAYS || !has_asan(cmd))
		return BPFTIME_ASAN_RUNTIME;
#else
	(void)cmd;
#endif
	return NULL;
}

int cli_pdeathsig;

static volatile pid_t child_pid;
static volatile sig_atomic_t pending_sig;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
	else
		pending_sig = sig; /* between fork and knowing the pid */
}

int cli_run_preloaded(const char *preload, char **argv, int *pidp)
{
	struct sigaction sa = { .sa_handler = forward }, old_int, old_term;
	const char *old = getenv("LD_PRELOAD");
	pid_t parent = getpid(), pid, w;
	int status;

	/* forward from before the fork: a signal sent as soon as the loader
	 * is up must not kill us instead */
	child_pid = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bpftime: fork: %s\n", strerror(errno));
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		return 127;
	}
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		const char *prefix = preload_prefix(argv[0]);
		char *env;

		/* the child goes with us (also if we went before this line) */
		if (cli_pdeathsig &&
		    (prctl(PR_SET_PDEATHSIG, cli_pdeathsig) || getppid() != parent))
			_exit(128 + cli_pdeathsig);

		if (asprintf(&env, "%s%s%s%s%s", prefix ? prefix : "", prefix ? ":" : "", preload,
			     old && *old ? ":" : "", old && *old ? old : "") < 0)
			_exit(127);
		setenv("LD_PRELOAD", env, 1);
		execvp(argv[0], argv);
		fprintf(stderr, "bpftime: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	*pidp = pid;
	if (pending_sig)
		kill(pid, pending_sig);
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (w < 0)
		return 127;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	struct cli cli = { .argv0 = argv[0] };
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-i") && i + 1 < argc) {
			cli.install_dir = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bpftime: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 1;
	}
	for (size_t k = 0; k < sizeof(subcommands) / sizeof(subcommands[0]); k++)
		if (!strcmp(argv[i], subcommands[k].name))
			return subcommands[k].fn(&cli, argc - i, argv + i);
	fprintf(stderr, "bpftime: unknown subcommand '%s'\n", argv[i]);
	usage(stderr);
	return 1;
}
