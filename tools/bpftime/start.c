/* SPDX-License-Identifier: MIT */
/* tools/bpftime/start.c: `bpftime start`: runs a program with the agent
 * (libbpftime-agent.so) preloaded, so the uprobes in the shared memory run
 * inside it.
 *
 *   bpftime [-i DIR] start [-s] [--spdlog-level L] [--bpftime-log-output OUT]
 *                          [--no-jit] COMMAND [ARGS...]
 *
 * The options become the environment the agent reads (SPDLOG_LEVEL,
 * BPFTIME_LOG_OUTPUT, BPFTIME_DISABLE_JIT).  -s (syscall tracepoints) is
 * accepted for bpftime's sake: the agent traces syscalls whenever the
 * segment holds a syscall tracepoint for the process, with or without it.
 * The program's exit status is passed through; the agent removes itself
 * from LD_PRELOAD, so the program's own children are not traced.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/log.h>
#include <bpftime/shm.h>
#include "cli.h"

#ifndef BPFTIME_BUILD_AGENT
#define BPFTIME_BUILD_AGENT NULL
#endif

/* The agent's own warnings go to its log file by default, out of sight:
 * when there is no segment to serve @prog, say so here (once, before it
 * runs).  With BPFTIME_LOG_OUTPUT=console the agent says it itself. */
static void warn_if_unserved(const char *prog)
{
	const char *out = getenv("BPFTIME_LOG_OUTPUT"), *name;
	bpftime_print_fn old;
	struct bpftime_shm *shm;

	if (out && !strcmp(out, "console"))
		return;
	old = bpftime_set_print(NULL);
	shm = bpftime_shm__open(NULL);
	bpftime_set_print(old);
	if (shm) {
		bpftime_shm__close(shm);
		return;
	}
	if (errno != ENOENT)
		return; /* the agent's log says what is wrong with it */
	name = getenv("BPFTIME_GLOBAL_SHM_NAME");
	fprintf(stderr,
		"bpftime start: no bpftime shared memory '%s' yet: %s runs untraced until a loader "
		"(`bpftime load`) creates it, then its probes attach\n",
		name && *name ? name : BPFTIME_DEFAULT_SHM_NAME, prog);
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
	char agent[PATH_MAX];
	int i, pid = -1;

	i = cli_parse(cli, "start", OPT_LEVEL | OPT_LOG | OPT_NOJIT | OPT_SYSCALL | OPT_GROUP, argc,
		      argv);
	if (i == -1)
		return CLI_OK;
	if (i < 0)
		return CLI_USAGE;
	if (i >= argc) {
		fprintf(stderr, "bpftime start: which program? (usage: bpftime start [OPTIONS] "
				"COMMAND [ARGS...])\n");
		return CLI_USAGE;
	}
	if (cli_find_lib(cli, "libbpftime-agent.so", BPFTIME_BUILD_AGENT, agent, sizeof(agent)))
		return CLI_FAIL;
	cli_export_env(cli);
	warn_if_unserved(argv[i]);
	/* as with `bpftime load`: a target whose wrapper is gone (killed test,
	 * closed terminal) ends too instead of running on as an orphan */
	cli_pdeathsig = SIGTERM;
	return cli_run_preloaded(cli, agent, argv + i, &pid);
}
