/* SPDX-License-Identifier: MIT */
/* tools/bpftime/load.c: `bpftime load`: runs a libbpf loader with the syscall
 * server preloaded.
 *
 *   bpftime [-i DIR] load [--memory-size MB] [--shm-group GROUP] [--keep-shm]
 *                         [--spdlog-level L] [--bpftime-log-output OUT] [--no-jit]
 *                         [--run-with-kernel] [--kernel-verifier]
 *                         COMMAND [ARGS...]
 *
 * The options become the environment the server reads (BPFTIME_SHM_MEMORY_MB,
 * BPFTIME_SHM_GROUP, SPDLOG_LEVEL, BPFTIME_LOG_OUTPUT, BPFTIME_DISABLE_JIT,
 * BPFTIME_RUN_WITH_KERNEL: checked here first, so that a kernel without a
 * usable eBPF is reported before the loader runs),
 * BPFTRACE_BTF is set to the kernel's BTF file for bpftrace,
 * and BPFTIME_USED=1 tells the loader it runs under bpftime, as the original
 * does.  The loader's exit status is passed through, SIGINT/SIGTERM are
 * forwarded to the loader, and the loader gets SIGTERM if bpftime dies
 * (PR_SET_PDEATHSIG).  The server removes itself from LD_PRELOAD, so the
 * loader's own children run unserved; it puts the agent (BPFTIME_AGENT_PATH,
 * exported here when one sits next to the server or in the build tree) in
 * its place, so the programs a loader starts (bpftrace -c CMD) are traced,
 * as the kernel's uprobes trace every process.
 *
 * When the loader is gone (even killed), its unpinned objects are released
 * here too, in case its destructor never ran.  If the segment is then empty
 * (no object of any loader, no pin, no imported handler) it is removed, so
 * the last loader leaving does not leave 50 MB in /dev/shm; --keep-shm
 * (BPFTIME_KEEP_SHM=1) keeps it.  An agent still mapping a removed segment
 * keeps its mapping; a new loader creates a new segment.
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
#include <strings.h>
#include <bpftime/kernel.h>
#include <bpftime/log.h>
#include <bpftime/shm.h>
#include "cli.h"

#ifndef BPFTIME_BUILD_SERVER
#define BPFTIME_BUILD_SERVER NULL
#endif
#ifndef BPFTIME_BUILD_AGENT
#define BPFTIME_BUILD_AGENT NULL
#endif

/* the agent next to @server, else the build tree's; NULL if neither */
static const char *find_agent(const char *server, char *buf, size_t len)
{
	const char *slash = strrchr(server, '/'), *build = BPFTIME_BUILD_AGENT;

	if (slash) {
		snprintf(buf, len, "%.*s/libbpftime-agent.so", (int)(slash - server), server);
		if (!access(buf, R_OK))
			return buf;
	}
	if (build && !access(build, R_OK))
		return build;
	return NULL;
}

/* nothing left in the segment: no handler, no pin, no bpffs directory */
static bool segment_empty(struct bpftime_shm *shm)
{
	char path[256];

	if (bpftime_handler_next(shm, -1) >= 0)
		return false;
	for (int i = 0;; i++) {
		int r = bpftime_bpffs_entry_at(shm, i, path, sizeof(path));

		if (r == -EINVAL)
			return true;
		if (r >= 0)
			return false;
	}
}

/* BPFTIME_RUN_WITH_KERNEL as the server reads it (syscall-server/kshare.c) */
static bool run_with_kernel(void)
{
	const char *e = getenv("BPFTIME_RUN_WITH_KERNEL");

	return e && *e && strcmp(e, "0") && strcasecmp(e, "false") && strcasecmp(e, "no");
}

int cmd_load(struct cli *cli, int argc, char **argv)
{
	char server[PATH_MAX], agent_buf[PATH_MAX];
	const char *agent;
	struct bpftime_shm *shm = NULL;
	const char *keep;
	int i, ret, pid = -1;

	i = cli_parse(cli, "load",
		      OPT_MEMORY | OPT_LEVEL | OPT_LOG | OPT_NOJIT | OPT_GROUP | OPT_KEEP |
			      OPT_KERNEL | OPT_KVERIFY,
		      argc, argv);
	if (i == -1)
		return CLI_OK;
	if (i < 0)
		return CLI_USAGE;
	if (i >= argc) {
		fprintf(stderr, "bpftime load: which loader? (usage: bpftime load [OPTIONS] "
				"COMMAND [ARGS...])\n");
		return CLI_USAGE;
	}
	if (cli_find_lib(cli, "libbpftime-syscall-server.so", BPFTIME_BUILD_SERVER, server,
			 sizeof(server)))
		return CLI_FAIL;
	cli_export_env(cli);
	if (run_with_kernel() && !cli->dry_run) {
		int err = bpftime_kernel_probe();

		/* the server would refuse every bpf() of the loader: say why here */
		if (err) {
			fprintf(stderr,
				"bpftime load: kernel-shared mode (--run-with-kernel, "
				"BPFTIME_RUN_WITH_KERNEL) needs the kernel's eBPF, which is not "
				"usable here (bpf(2): %s): run as root on a kernel with eBPF, or "
				"without the option (maps in shared memory only)\n",
				strerror(-err));
			return CLI_FAIL;
		}
	}
	setenv("BPFTIME_USED", "1", 1);
	agent = find_agent(server, agent_buf, sizeof(agent_buf));
	if (agent)
		setenv("BPFTIME_AGENT_PATH", agent, 1);
	/* a loader whose wrapper is gone (killed test, closed terminal) stops
	 * too instead of running on as an orphan */
	cli_pdeathsig = SIGTERM;
	/* bpftrace finds the kernel's BTF by walking the kernel's BTF ids with
	 * bpf(), which the server answers with the loader's objects only: point
	 * it at the file instead */
	if (!getenv("BPFTRACE_BTF") && !access("/sys/kernel/btf/vmlinux", R_OK))
		setenv("BPFTRACE_BTF", "/sys/kernel/btf/vmlinux", 1);
	ret = cli_run_preloaded(cli, server, argv + i, &pid);
	/* release what a loader that died without its destructor left; a
	 * segment we cannot use was already reported by the server: quietly */
	if (pid > 0) {
		bpftime_print_fn old = bpftime_set_print(NULL);

		shm = bpftime_shm__open(NULL);
		bpftime_set_print(old);
	}
	if (shm) {
		bool remove;

		bpftime_shm__release_owner(shm, pid);
		bpftime_shm__reclaim_dead(shm);
		keep = getenv("BPFTIME_KEEP_SHM");
		remove = !(keep && *keep && strcmp(keep, "0")) && segment_empty(shm);
		bpftime_shm__close(shm);
		if (remove)
			bpftime_shm__remove(NULL);
	}
	return ret;
}
