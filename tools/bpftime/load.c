/* tools/bpftime/load.c: `bpftime load`: runs a libbpf loader with the syscall
 * server preloaded.
 *
 * The options become the environment the server reads (BPFTIME_SHM_MEMORY_MB,
 * SPDLOG_LEVEL, BPFTIME_DISABLE_JIT); BPFTRACE_BTF is set to the kernel's
 * BTF file for bpftrace.  The loader's exit status is passed
 * through, SIGINT/SIGTERM are forwarded to the loader, and the loader gets
 * SIGTERM if bpftime dies (PR_SET_PDEATHSIG).  The server removes itself
 * from LD_PRELOAD, so the loader's own children run unserved.  When the loader is gone (even killed), its unpinned
 * objects are released here too, in case its destructor never ran.
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

#ifndef BPFTIME_BUILD_SERVER
#define BPFTIME_BUILD_SERVER NULL
#endif

static const char *const levels[] = { "trace", "debug", "info", "warn", "err", "critical", "off" };

static void load_usage(void)
{
	fprintf(stderr, "usage: bpftime [-i DIR] load [--memory-size MB] [--spdlog-level LEVEL] "
			"[--no-jit] COMMAND [ARGS...]\n");
}

int cmd_load(const struct cli *cli, int argc, char **argv)
{
	char server[PATH_MAX];
	struct bpftime_shm *shm = NULL;
	int i = 1, ret, pid = -1;

	while (i < argc && argv[i][0] == '-') {
		const char *opt = argv[i];

		if (!strcmp(opt, "--")) {
			i++;
			break;
		}
		if (!strcmp(opt, "--no-jit")) {
			setenv("BPFTIME_DISABLE_JIT", "1", 1);
			i++;
		} else if (!strcmp(opt, "--memory-size") && i + 1 < argc) {
			char *end;
			long mb = strtol(argv[i + 1], &end, 10);

			if (*end || mb <= 0 || mb > 1 << 20) {
				fprintf(stderr, "bpftime load: --memory-size takes a size in MB, not '%s'\n",
					argv[i + 1]);
				return 1;
			}
			setenv("BPFTIME_SHM_MEMORY_MB", argv[i + 1], 1);
			i += 2;
		} else if (!strcmp(opt, "--spdlog-level") && i + 1 < argc) {
			bool ok = false;

			for (size_t k = 0; k < sizeof(levels) / sizeof(levels[0]); k++)
				ok |= !strcmp(argv[i + 1], levels[k]);
			if (!ok) {
				fprintf(stderr, "bpftime load: unknown level '%s' (use trace|debug|info|warn|err|critical|off)\n",
					argv[i + 1]);
				return 1;
			}
			setenv("SPDLOG_LEVEL", argv[i + 1], 1);
			i += 2;
		} else {
			fprintf(stderr, "bpftime load: unknown option '%s'\n", opt);
			load_usage();
			return 1;
		}
	}
	if (i >= argc) {
		load_usage();
		return 1;
	}
	if (cli_find_lib(cli, "libbpftime-syscall-server.so", BPFTIME_BUILD_SERVER, server,
			 sizeof(server)))
		return 1;
	/* a loader whose wrapper is gone (killed test, closed terminal) stops
	 * too instead of running on as an orphan */
	cli_pdeathsig = SIGTERM;
	/* bpftrace finds the kernel's BTF by walking the kernel's BTF ids with
	 * bpf(), which the server answers with the loader's objects only: point
	 * it at the file instead */
	if (!getenv("BPFTRACE_BTF") && !access("/sys/kernel/btf/vmlinux", R_OK))
		setenv("BPFTRACE_BTF", "/sys/kernel/btf/vmlinux", 1);
	ret = cli_run_preloaded(server, argv + i, &pid);
	/* release what a loader that died without its destructor left; a
	 * segment we cannot use was already reported by the server: quietly */
	if (pid > 0) {
		bpftime_print_fn old = bpftime_set_print(NULL);

		shm = bpftime_shm__open(NULL);
		bpftime_set_print(old);
	}
	if (shm) {
		bpftime_shm__release_owner(shm, pid);
		bpftime_shm__close(shm);
	}
	return ret;
}
