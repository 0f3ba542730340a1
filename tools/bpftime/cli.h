/* tools/bpftime/cli.h: the subcommands of `bpftime` and what they share. */
#ifndef BPFTIME_CLI_H
#define BPFTIME_CLI_H

#include <stdbool.h>

struct cli {
	const char *install_dir; /* -i DIR, or NULL: next to the binary, the build tree, ~/.bpftime */
	const char *argv0;
};

/* finds @lib (e.g. "libbpftime-syscall-server.so") as described in main.c;
 * fills @buf and returns 0, or -ENOENT after printing where it looked */
int cli_find_lib(const struct cli *cli, const char *lib, const char *build_path, char *buf,
		 unsigned long len);

/* runs @argv with @preload prepended to LD_PRELOAD, forwarding SIGINT/SIGTERM
 * to it; returns its exit status as a shell would (128 + signal), and its
 * pid in *@pid */
int cli_run_preloaded(const char *preload, char **argv, int *pid);
/* a signal the child of cli_run_preloaded gets when this process dies
 * (PR_SET_PDEATHSIG, set before exec; 0: none) */
extern int cli_pdeathsig;

int cmd_load(const struct cli *cli, int argc, char **argv);

/* start.c: the options of start and attach (-s, --spdlog-level, --no-jit,
 * exported to the environment); returns the index of the first operand or
 * -1 after a message */
int cli_agent_options(const char *cmd, int argc, char **argv, bool *syscalls);
int cmd_start(const struct cli *cli, int argc, char **argv);
/* attach.c: ptrace injection of the agent into a running process */
int cmd_attach(const struct cli *cli, int argc, char **argv);

#endif
