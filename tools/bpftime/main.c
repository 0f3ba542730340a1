/* SPDX-License-Identifier: MIT */
/* tools/bpftime/main.c: `bpftime [OPTIONS] SUBCOMMAND [OPTIONS] ...`, the
 * original bpftime's command line: load, start, attach, detach.
 *
 * Options are parsed with getopt_long (--opt=value and --opt value both
 * work); the global ones (-i/--install-location, -d/--dry-run) are also
 * taken after the subcommand, as the original's users write them.  Each
 * subcommand stops at its first operand, so the program's own options pass
 * through.  Exit statuses: 0 success, 1 failure, 2 usage; load and start
 * pass the program's status through.
 *
 * The libraries a subcommand preloads are looked up in this order: -i DIR
 * (only there: DIR, then DIR/<libdir>), the install tree this binary is in
 * (../<libdir> next to bin/, then the binary's own directory), the build
 * tree this binary came from, then ~/.bpftime (the default install
 * location).  So an install tree can be moved as a whole.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
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
#include "common/log.h"

#ifndef BPFTIME_VERSION
#define BPFTIME_VERSION "unknown"
#endif
#ifndef BPFTIME_INSTALL_LIBDIR
#define BPFTIME_INSTALL_LIBDIR "lib"
#endif

static const struct subcommand {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
	const char *synopsis, *what, *options;
} subcommands[] = {
	{ "load", cmd_load, "load [OPTIONS] COMMAND [ARGS...]",
	  "run a libbpf loader with libbpftime-syscall-server.so preloaded: its bpf() and\n"
	  "perf_event_open() calls land in the shared memory (BPFTIME_USED=1 in its environment)",
	  "  --memory-size MB          size of a segment it creates (BPFTIME_SHM_MEMORY_MB, "
	  "default 50)\n"
	  "  --shm-group GROUP         create the segment 0660 for GROUP (name or gid), so that\n"
	  "                            processes of that group can be traced (BPFTIME_SHM_GROUP)\n"
	  "  --keep-shm                keep the segment when the last loader leaves "
	  "(BPFTIME_KEEP_SHM=1)\n"
	  "  --spdlog-level LEVEL      trace|debug|info|warn|err|critical|off (SPDLOG_LEVEL)\n"
	  "  --bpftime-log-output OUT  console, or a file (BPFTIME_LOG_OUTPUT; default\n"
	  "                            ~/.bpftime/runtime.log)\n"
	  "  --no-jit                  programs run in the interpreter (BPFTIME_DISABLE_JIT=1)\n"
	  "  --run-with-kernel         kernel-shared mode: array, hash, per-CPU, perf event array\n"
	  "                            and ring buffer maps live in the kernel, XDP/tc/kprobe...\n"
	  "                            programs run there (BPFTIME_RUN_WITH_KERNEL=1; root)\n"
	  "  --kernel-verifier         the kernel's verifier checks every program ours accepts;\n"
	  "                            its refusal wins (BPFTIME_KERNEL_VERIFIER=1; root)\n" },
	{ "start", cmd_start, "start [OPTIONS] COMMAND [ARGS...]",
	  "run a program with libbpftime-agent.so preloaded: the segment's uprobes run in it",
	  "  -s, --enable-syscall-trace  trace its system calls too (syscall tracepoints)\n"
	  "  --shm-group GROUP           the group of a segment made with `load --shm-group`\n"
	  "                              (BPFTIME_SHM_GROUP)\n"
	  "  --spdlog-level LEVEL        trace|debug|info|warn|err|critical|off (SPDLOG_LEVEL)\n"
	  "  --bpftime-log-output OUT    console, or a file (BPFTIME_LOG_OUTPUT)\n"
	  "  --no-jit                    programs run in the interpreter "
	  "(BPFTIME_DISABLE_JIT=1)\n" },
	{ "attach", cmd_attach, "attach [OPTIONS] PID",
	  "bring libbpftime-agent.so into a running process (ptrace; x86-64, glibc 2.34+), with\n"
	  "this shell's segment (BPFTIME_GLOBAL_SHM_NAME) and settings; the exit status says\n"
	  "whether the agent could serve it",
	  "  -s, --enable-syscall-trace  trace its system calls too (syscall tracepoints)\n"
	  "  --shm-group GROUP           the group of a segment made with `load --shm-group`\n"
	  "                              (BPFTIME_SHM_GROUP)\n"
	  "  --spdlog-level LEVEL        the agent's log level there\n"
	  "  --bpftime-log-output OUT    the agent's log output there\n"
	  "  --no-jit                    programs run in the interpreter there\n" },
	{ "detach", cmd_detach, "detach [OPTIONS] [PID]",
	  "remove every hook from process PID, or from every traced process; they run on", "" },
};

static const struct subcommand *find_sub(const char *name)
{
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(name, subcommands[i].name))
			return &subcommands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bpftime [OPTIONS] SUBCOMMAND [OPTIONS] ...\n"
		"  -i, --install-location DIR  where the bpftime libraries are (default: next to\n"
		"                              this program, then ~/.bpftime)\n"
		"  -d, --dry-run               print what would run, run nothing\n"
		"  -h, --help                  this text (SUBCOMMAND --help: its options)\n"
		"  -V, --version               print the version\n"
		"subcommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-8s %s\n", subcommands[i].name,
			subcommands[i].synopsis + strlen(subcommands[i].name) + 1);
	fprintf(f,
		"environment: BPFTIME_GLOBAL_SHM_NAME (default bpftime_maps_shm), SPDLOG_LEVEL,\n"
		"  BPFTIME_LOG_OUTPUT, BPFTIME_SHM_MEMORY_MB, BPFTIME_SHM_GROUP, "
		"BPFTIME_VM_NAME\n");
}

void cli_usage(FILE *f, const char *cmd)
{
	const struct subcommand *s = find_sub(cmd);

	if (!s)
		return;
	fprintf(f, "usage: bpftime [-i DIR] [-d] %s\n%s\n", s->synopsis, s->what);
	fprintf(f, "options:\n%s", s->options);
	fprintf(f, "  -i, --install-location DIR  where the bpftime libraries are\n"
		   "  -d, --dry-run               print what would be done, do nothing\n"
		   "  -h, --help                  this text\n");
}

enum {
	O_MEMORY = 0x100,
	O_LEVEL,
	O_LOG,
	O_NOJIT,
	O_GROUP,
	O_KEEP,
	O_KERNEL,
	O_KVERIFY,
};

/* a group name or gid that exists */
static bool group_ok(const char *g)
{
	char *end;

	strtoul(g, &end, 10);
	if (*g && !*end)
		return true;
	return getgrnam(g) != NULL;
}

int cli_parse(struct cli *cli, const char *cmd, unsigned int allowed, int argc, char **argv)
{
	static const struct option all[] = {
		{ "memory-size", required_argument, NULL, O_MEMORY },
		{ "spdlog-level", required_argument, NULL, O_LEVEL },
		{ "bpftime-log-output", required_argument, NULL, O_LOG },
		{ "no-jit", no_argument, NULL, O_NOJIT },
		{ "enable-syscall-trace", no_argument, NULL, 's' },
		{ "shm-group", required_argument, NULL, O_GROUP },
		{ "keep-shm", no_argument, NULL, O_KEEP },
		{ "run-with-kernel", no_argument, NULL, O_KERNEL },
		{ "kernel-verifier", no_argument, NULL, O_KVERIFY },
		{ "install-location", required_argument, NULL, 'i' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const unsigned int need[] = { OPT_MEMORY, OPT_LEVEL,   OPT_LOG,
					     OPT_NOJIT,	 OPT_SYSCALL, OPT_GROUP,
					     OPT_KEEP,	 OPT_KERNEL,  OPT_KVERIFY };
	struct option opts[sizeof(all) / sizeof(all[0])];
	char shorts[16] = "+:hdi:";
	size_t n = 0;
	int c;

	for (size_t k = 0; all[k].name; k++)
		if (k >= sizeof(need) / sizeof(need[0]) || (allowed & need[k]))
			opts[n++] = all[k];
	opts[n] = all[sizeof(all) / sizeof(all[0]) - 1];
	if (allowed & OPT_SYSCALL)
		strcat(shorts, "s");
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			cli_usage(stdout, cmd);
			return -1;
		case 'd':
			cli->dry_run = true;
			break;
		case 'i':
			cli->install_dir = optarg;
			break;
		case 's':
			cli->syscalls = true;
			break;
		case O_NOJIT:
			cli->no_jit = true;
			break;
		case O_KEEP:
			cli->keep_shm = true;
			break;
		case O_KERNEL:
			cli->kernel = true;
			break;
		case O_KVERIFY:
			cli->kernel_verifier = true;
			break;
		case O_MEMORY: {
			char *end;
			long mb = strtol(optarg, &end, 10);

			if (!*optarg || *end || mb <= 0 || mb > 1 << 20) {
				fprintf(stderr,
					"bpftime %s: --memory-size takes a size in MB, not '%s'\n",
					cmd, optarg);
				return -2;
			}
			cli->memory_mb = optarg;
			break;
		}
		case O_LEVEL:
			if (!bpftime_log_level_valid(optarg)) {
				fprintf(stderr,
					"bpftime %s: unknown level '%s' (use "
					"trace|debug|info|warn|err|critical|off)\n",
					cmd, optarg);
				return -2;
			}
			cli->level = optarg;
			break;
		case O_LOG:
			if (!*optarg) {
				fprintf(stderr,
					"bpftime %s: --bpftime-log-output takes console or a "
					"file\n",
					cmd);
				return -2;
			}
			cli->log_output = optarg;
			break;
		case O_GROUP:
			if (!group_ok(optarg)) {
				fprintf(stderr, "bpftime %s: no group '%s'\n", cmd, optarg);
				return -2;
			}
			cli->shm_group = optarg;
			break;
		case ':':
			fprintf(stderr, "bpftime %s: option '%s' needs a value\n", cmd,
				argv[optind - 1]);
			goto bad;
		default:
			if (optopt)
				fprintf(stderr, "bpftime %s: unknown option '-%c'\n", cmd, optopt);
			else
				fprintf(stderr, "bpftime %s: unknown option '%s'\n", cmd,
					argv[optind - 1]);
			goto bad;
		}
	}
	return optind;
bad:
	fprintf(stderr, "usage: bpftime %s (`bpftime %s --help` lists the options)\n",
		find_sub(cmd) ? find_sub(cmd)->synopsis : cmd, cmd);
	return -2;
}

void cli_export_env(const struct cli *cli)
{
	if (cli->no_jit)
		setenv("BPFTIME_DISABLE_JIT", "1", 1);
	if (cli->memory_mb)
		setenv("BPFTIME_SHM_MEMORY_MB", cli->memory_mb, 1);
	if (cli->level)
		setenv("SPDLOG_LEVEL", cli->level, 1);
	if (cli->log_output)
		setenv("BPFTIME_LOG_OUTPUT", cli->log_output, 1);
	if (cli->shm_group)
		setenv("BPFTIME_SHM_GROUP", cli->shm_group, 1);
	if (cli->keep_shm)
		setenv("BPFTIME_KEEP_SHM", "1", 1);
	if (cli->kernel)
		setenv("BPFTIME_RUN_WITH_KERNEL", "1", 1);
	if (cli->kernel_verifier)
		setenv("BPFTIME_KERNEL_VERIFIER", "1", 1);
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
		snprintf(buf, len, "%s/" BPFTIME_INSTALL_LIBDIR "/%s", cli->install_dir, lib);
		if (is_file(buf))
			return 0;
		fprintf(stderr,
			"bpftime: %s not found in %s or %s/" BPFTIME_INSTALL_LIBDIR
			" (check -i/--install-location)\n",
			lib, cli->install_dir, cli->install_dir);
		return -ENOENT;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		snprintf(buf, len, "%s/../" BPFTIME_INSTALL_LIBDIR "/%s", exe, lib);
		if (is_file(buf))
			return 0;
		snprintf(buf, len, "%s/%s", exe, lib);
		if (is_file(buf))
			return 0;
	}
	if (build_path && is_file(build_path)) {
		snprintf(buf, len, "%s", build_path);
		return 0;
	}
	snprintf(buf, len, "%s/.bpftime/" BPFTIME_INSTALL_LIBDIR "/%s", home ? home : "", lib);
	if (is_file(buf))
		return 0;
	snprintf(buf, len, "%s/.bpftime/%s", home ? home : "", lib);
	if (is_file(buf))
		return 0;
	fprintf(stderr,
		"bpftime: %s not found next to %s, in the build tree or in ~/.bpftime: install "
		"bpftime there or pass -i DIR\n",
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

/* prints @argv as a shell line with @preload and the bpftime variables in front */
static void print_dry_run(const char *preload, char **argv)
{
	static const char *const vars[] = {
		"BPFTIME_GLOBAL_SHM_NAME", "BPFTIME_SHM_MEMORY_MB",  "BPFTIME_SHM_GROUP",
		"BPFTIME_KEEP_SHM",	   "BPFTIME_USED",	     "SPDLOG_LEVEL",
		"BPFTIME_LOG_OUTPUT",	   "BPFTIME_DISABLE_JIT",    "BPFTIME_VM_NAME",
		"BPFTIME_RUN_WITH_KERNEL", "BPFTIME_KERNEL_VERIFIER"
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (getenv(vars[i]))
			printf("%s=%s ", vars[i], getenv(vars[i]));
	printf("LD_PRELOAD=%s", preload);
	for (int i = 0; argv[i]; i++)
		printf(" %s", argv[i]);
	printf("\n");
}

int cli_run_preloaded(const struct cli *cli, const char *preload, char **argv, int *pidp)
{
	struct sigaction sa = { .sa_handler = forward }, old_int, old_term;
	const char *old = getenv("LD_PRELOAD");
	pid_t parent = getpid(), pid, w;
	int status;

	if (cli->dry_run) {
		print_dry_run(preload, argv);
		return 0;
	}

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
	static const struct option opts[] = {
		{ "install-location", required_argument, NULL, 'i' },
		{ "dry-run", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { .argv0 = argv[0] };
	const struct subcommand *sub;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:i:dhvV", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			cli.install_dir = optarg;
			break;
		case 'd':
			cli.dry_run = true;
			break;
		case 'h':
			usage(stdout);
			return CLI_OK;
		case 'v': /* the original's -v */
		case 'V':
			printf("bpftime %s\n", BPFTIME_VERSION);
			return CLI_OK;
		case ':':
			fprintf(stderr, "bpftime: option '%s' needs a value\n", argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		default:
			fprintf(stderr, "bpftime: unknown option '%s'\n", argv[optind - 1]);
			usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CLI_USAGE;
	}
	sub = find_sub(argv[optind]);
	if (!sub) {
		fprintf(stderr, "bpftime: unknown subcommand '%s'\n", argv[optind]);
		usage(stderr);
		return CLI_USAGE;
	}
	return sub->fn(&cli, argc - optind, argv + optind);
}
