/* tools/bpftimetool/inspect.c: bpftool-style views of the shared memory:
 * `prog show`, `prog dump xlated FD`, `map show`, `map dump FD`, in the
 * words bpftool uses for the kernel's objects (DESIGN.md section 4), with
 * handler fds where bpftool prints ids (the fd is what every other
 * bpftimetool command takes).
 *
 *   4: kprobe  name do_uprobe_trace  gpl
 *   	xlated 128B  attach_fds 5
 *   3: array  name .rodata.str1.1  flags 0x80
 *   	key 4B  value 21B  max_entries 1  frozen
 *   key: 00 00 00 00  value: 01 02 ...
 *   Found 1 element
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%02x", i ? " " : "", p[i]);
}

int tool_prog_show(struct bpftime_shm *shm)
{
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_prog_info pi;
		const char *type;
		size_t aot;

		if (bpftime_prog_get_info(shm, fd, &pi))
			continue;
		type = libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type);
		printf("%d: %s  name %s", fd, type ? type : "unknown", pi.name);
		if (!strcmp(pi.license, "GPL") || !strcmp(pi.license, "Dual BSD/GPL") ||
		    !strcmp(pi.license, "GPL v2") || !strcmp(pi.license, "Dual MIT/GPL"))
			printf("  gpl");
		printf("\n\txlated %uB", pi.insn_cnt * 8);
		if (bpftime_prog_aot(shm, fd, &aot))
			printf("  aot %zuB", aot);
		if (pi.attach_cnt) {
			printf("  attach_fds");
			for (uint32_t i = 0; i < pi.attach_cnt && i < BPFTIME_PROG_MAX_ATTACH; i++)
				printf("%s%d", i ? "," : " ", pi.attach_fds[i]);
		}
		printf("\n");
	}
	return 0;
}

static const char *helper_name(void *ctx, int32_t id)
{
	(void)ctx;
	return id >= 0 ? bpftime_helper__name((uint32_t)id) : NULL;
}

int tool_prog_dump(struct bpftime_shm *shm, int fd)
{
	BPFTIME_OPTS(bpftime_disasm_opts, o, .helper_name = helper_name);
	const struct bpftime_insn *insns;
	size_t cnt;

	insns = bpftime_prog_insns(shm, fd, &cnt);
	if (!insns) {
		tool_err("no program at fd %d (`bpftimetool prog show` lists them)", fd);
		return -EBADF;
	}
	/* maps print as bpftool prints an fd it could not resolve: map[fd:3] */
	return bpftime_disasm_prog(insns, cnt, &o, stdout) ? -EINVAL : 0;
}

int tool_map_show(struct bpftime_shm *shm)
{
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_map_info mi;
		const char *type;

		if (bpftime_map_get_info(shm, fd, &mi))
			continue;
		type = libbpf_bpf_map_type_str((enum bpf_map_type)mi.type);
		printf("%d: %s  name %s  flags 0x%x\n", fd, type ? type : "unknown", mi.name,
		       mi.map_flags);
		printf("\tkey %uB  value %uB  max_entries %u%s\n", mi.key_size, mi.value_size,
		       mi.max_entries, mi.frozen ? "  frozen" : "");
	}
	return 0;
}

int tool_map_dump(struct bpftime_shm *shm, int fd)
{
	struct bpftime_map_info mi;
	uint8_t *key, *next, *val;
	bool first = true;
	size_t found = 0;
	int err, next_err;

	err = bpftime_map_get_info(shm, fd, &mi);
	if (err) {
		tool_err("no map at fd %d (`bpftimetool map show` lists them)", fd);
		return err;
	}
	key = calloc(1, mi.key_size + 1);
	next = calloc(1, mi.key_size + 1);
	val = calloc(1, mi.value_size_syscall + 8);
	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	while (!(next_err = bpftime_map_get_next_key(shm, fd, first ? NULL : key, next))) {
		first = false;
		memcpy(key, next, mi.key_size);
		err = bpftime_map_lookup_elem(shm, fd, key, val, 0);
		if (err == -ENOENT)
			continue;
		printf("key: ");
		print_hex(key, mi.key_size);
		if (err) {
			printf("  value: <%s>\n", strerror(-err));
			err = 0;
		} else {
			printf("  value: ");
			print_hex(val, mi.value_size_syscall);
			printf("\n");
		}
		found++;
	}
	if (first && next_err != -ENOENT) {
		/* ring buffers, queues, stacks, bloom filters: no keys to walk */
		const char *type = libbpf_bpf_map_type_str((enum bpf_map_type)mi.type);

		tool_err("map %d (%s) cannot be dumped: its type has no keys to iterate", fd,
			 type ? type : "unknown type");
		err = next_err;
		goto out;
	}
	printf("Found %zu element%s\n", found, found == 1 ? "" : "s");
out:
	free(key);
	free(next);
	free(val);
	return err;
}
