/* SPDX-License-Identifier: MIT */
/* examples/malloc/malloc.c: loads malloc.bpf.o, attaches its uprobe to libc's
 * malloc (in every process, or in -p PID) and prints the per-pid call counts
 * every interval.
 *
 *   malloc [-n COUNT] [-i MS] [-v] [PID]
 */
#define _GNU_SOURCE
#include <link.h>
#include <inttypes.h>
#include "example.h"
#include "malloc.skel.h"

static char libc[4096] = "libc.so.6";

static int find_libc(struct dl_phdr_info *info, size_t size, void *ctx)
{
	(void)size;
	(void)ctx;
	if (!strstr(info->dlpi_name, "/libc.so"))
		return 0;
	snprintf(libc, sizeof(libc), "%s", info->dlpi_name);
	return 1;
}

/* libc's path as this process mapped it: what libbpf needs to find malloc
 * (not dladdr(malloc): a sanitizer build defines its own malloc) */
static const char *libc_path(void)
{
	static bool done;

	if (!done)
		dl_iterate_phdr(find_libc, NULL);
	done = true;
	return libc;
}

static void report(struct malloc_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.counts);
	uint32_t key, next;
	uint32_t *prev = NULL;
	uint64_t calls;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		if (!bpf_map_lookup_elem(fd, &next, &calls))
			printf("pid %u: %" PRIu64 " malloc calls\n", next, calls);
		key = next;
		prev = &key;
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "malloc");
	struct example_opts o;
	struct malloc_bpf *skel;
	struct bpf_link *link;
	long done = 0;
	pid_t pid = -1;
	int err;

	if (example_init(argc, argv, "[PID]", &o))
		return 1;
	if (o.argc > 0)
		pid = (pid_t)strtol(o.argv[0], NULL, 0);
	skel = malloc_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "malloc: cannot load the BPF object: %s\n", strerror(errno));
		return 1;
	}
	link = bpf_program__attach_uprobe_opts(skel->progs.count_malloc, pid, libc_path(), 0,
					       &uopts);
	if (!link) {
		err = -errno;
		fprintf(stderr, "malloc: cannot attach to malloc in %s: %s\n", libc_path(),
			strerror(-err));
		malloc_bpf__destroy(skel);
		return 1;
	}
	skel->links.count_malloc = link;
	example_ready();
	while (example_next(&o, &done))
		report(skel);
	malloc_bpf__destroy(skel);
	return 0;
}
