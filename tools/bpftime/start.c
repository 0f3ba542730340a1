/* tools/bpftime/start.c: `bpftime start`: runs a program with the agent
 * (libbpftime-agent.so) preloaded, so the uprobes in the shared memory run
 * inside it.
 *
 *   bpftime [-i DIR] start [-s] [--spdlog-level LEVEL] [--no-jit] COMMAND [ARGS...]
 *
 * The options become the environment the agent reads (SPDLOG_LEVEL,
 * BPFTIME_DISABLE_JIT).  -s (syscall tracepoints) is accepted for bpftime's
 * sake: the agent traces syscalls whenever the segment holds a syscall
 * tracepoint for the process, with or without it.
 * The program's exit status is passed through; the agent removes itself
 * from LD_PRELOAD, so the program's own children are not traced.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

#ifndef BPFTIME_BUILD_AGENT
#define BPFTIME_BUILD_AGENT NULL
#endif

static const char *const levels[] = { "trace", "debug", "info", "warn", "err", "critical", "off" };

static void start_usage(void)
{
	fprintf(stderr, "usage: bpftime [-i DIR] start [-s] [--spdlog-level LEVEL] [--no-jit] "
			"COMMAND [ARGS...]\n");
}

/* parses the options shared by start and attach; returns the index of the
 * first argument after them, or -1 after a message */
int cli_agent_options(const char *cmd, int argc, char **argv, bool *syscalls)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		const char *opt = argv[i];

		if (!strcmp(opt, "--")) {
			i++;
			break;
		}
		if (!strcmp(opt, "-s") || !strcmp(opt, "--enable-syscall-trace")) {
			*syscalls = true;
			i++;
		} else if (!strcmp(opt, "--no-jit")) {
			setenv("BPFTIME_DISABLE_JIT", "1", 1);
			i++;
		} else if (!strcmp(opt, "--spdlog-level") && i + 1 < argc) {
			bool ok = false;

			for (size_t k = 0; k < sizeof(levels) / sizeof(levels[0]); k++)
				ok |= !strcmp(argv[i + 1], levels[k]);
			if (!ok) {
				fprintf(stderr, "bpftime %s: unknown level '%s' (use trace|debug|info|warn|err|critical|off)\n",
					cmd, argv[i + 1]);
				return -1;
			}
			setenv("SPDLOG_LEVEL", argv[i + 1], 1);
			i += 2;
		} else {
			fprintf(stderr, "bpftime %s: unknown option '%s'\n", cmd, opt);
			return -1;
		}
	}
	return i;
}

int cmd_start(const struct cli *cli, int argc, char **argv)
{
	char agent[PATH_MAX];
	bool syscalls = false;
	int i, pid = -1;

	i = cli_agent_options("start", argc, argv, &syscalls);
	if (i < 0 || i >= argc) {
		start_usage();
		return 1;
	}
	if (cli_find_lib(cli, "libbpftime-agent.so", BPFTIME_BUILD_AGENT, agent, sizeof(agent)))
		return 1;
	/* as with `bpftime load`: a target whose wrapper is gone (killed test,
	 * closed terminal) ends too instead of running on as an orphan */
	cli_pdeathsig = SIGTERM;
	return cli_run_preloaded(agent, argv + i, &pid);
}
