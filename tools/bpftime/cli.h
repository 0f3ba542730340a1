/* SPDX-License-Identifier: MIT */
/* tools/bpftime/cli.h: the subcommands of `bpftime` and what they share. */
#ifndef BPFTIME_CLI_H
#define BPFTIME_CLI_H

#include <stdbool.h>
#include <stdio.h>

/* exit statuses of every tool: success, failure, usage error */
#define CLI_OK	  0
#define CLI_FAIL  1
#define CLI_USAGE 2

struct cli {
	const char *
		install_dir; /* -i DIR, or NULL: ../lib, next to the binary, the build tree, ~/.bpftime */
	const char *argv0;
	bool dry_run; /* -d: say what would be done, do nothing */
	/* the options of load, start and attach, as given */
	bool syscalls; /* -s */
	bool no_jit;
	bool keep_shm;
	bool kernel;	      /* load --run-with-kernel */
	bool kernel_verifier; /* load --kernel-verifier */
	const char *memory_mb;
	const char *level;	/* --spdlog-level */
	const char *log_output; /* --bpftime-log-output */
	const char *shm_group;
};

/* which options a subcommand takes (cli_parse's @allowed) */
#define OPT_MEMORY  (1u << 0)
#define OPT_LEVEL   (1u << 1)
#define OPT_LOG	    (1u << 2)
#define OPT_NOJIT   (1u << 3)
#define OPT_SYSCALL (1u << 4)
#define OPT_GROUP   (1u << 5)
#define OPT_KEEP    (1u << 6)
#define OPT_KERNEL  (1u << 7)
#define OPT_KVERIFY (1u << 8)

/* Parses @cmd's options (and the global -i, -d) into @cli with getopt_long,
 * stopping at the first operand.  Returns the index of that operand, -1 for
 * --help (printed; exit 0) or -2 after a usage message (exit 2). */
int cli_parse(struct cli *cli, const char *cmd, unsigned int allowed, int argc, char **argv);
/* prints the usage of subcommand @cmd */
void cli_usage(FILE *f, const char *cmd);

/* exports the options in @cli as the environment the libraries read */
void cli_export_env(const struct cli *cli);

/* finds @lib (e.g. "libbpftime-syscall-server.so") as described in main.c;
 * fills @buf and returns 0, or -ENOENT after printing where it looked */
int cli_find_lib(const struct cli *cli, const char *lib, const char *build_path, char *buf,
		 unsigned long len);

/* runs @argv with @preload prepended to LD_PRELOAD, forwarding SIGINT/SIGTERM
 * to it; returns its exit status as a shell would (128 + signal), and its
 * pid in *@pid.  With cli->dry_run prints the command line instead. */
int cli_run_preloaded(const struct cli *cli, const char *preload, char **argv, int *pid);
/* a signal the child of cli_run_preloaded gets when this process dies
 * (PR_SET_PDEATHSIG, set before exec; 0: none) */
extern int cli_pdeathsig;

int cmd_load(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
/* attach.c: ptrace injection of the agent into a running process, and detach */
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_detach(struct cli *cli, int argc, char **argv);

#endif
