/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/inspect.c: bpftool-style views of the shared memory:
 * `prog show`, `prog dump xlated OBJ`, `map show`, `map dump OBJ`, in the
 * words bpftool uses for the kernel's objects (docs/architecture.md section
 * 4).  Objects are numbered by their object ids, as bpftool numbers them;
 * the fd (slot) every other bpftimetool command takes is an extra column.
 * An object held by several fds (dup, OBJ_GET) is listed once, with its
 * lowest fd.  The listings walk the segment's registry of live objects (what
 * GET_NEXT_ID walks), so an object that only a pin, a link or a program's
 * maps hold is listed too: without an fd column, and with its pins.
 *
 *   7: kprobe  name do_uprobe_trace  gpl  fd 4
 *   	xlated 128B  attach_fds 5
 *   6: array  name .rodata.str1.1  flags 0x80  fd 3
 *   	key 4B  value 21B  max_entries 1  frozen
 *   key: 00 00 00 00  value: 01 02 ...
 *   Found 1 element
 *
 * -j/-p print the JSON bpftool prints for the same commands (arrays of
 * objects with "id", "type", "name", "bytes_key", ...; map entries as
 * {"key": ["0x00", ...], "value": [...]}), plus "fd".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <bpf/libbpf.h>
#include <bpftime/kernel.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"
#include "common/compiler.h"

static void print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%02x", i ? " " : "", p[i]);
}

/* prints a JSON array (and frees it) as bpftool does: compact or indented */
static int print_json(json_t *arr)
{
	char *text = json_dumps(arr, tool_json == 2 ? JSON_INDENT(4) : JSON_COMPACT);

	json_decref(arr);
	if (!text) {
		tool_err("out of memory");
		return -ENOMEM;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

int tool_hold_id(struct bpftime_shm *shm, uint32_t id, int *fd)
{
	int ret = -ENOENT;

	*fd = bpftime_handler_fd_by_id(shm, id);
	if (*fd >= 0)
		return 0;
	/* from the top of the table down: the low slots are the fd numbers
	 * loaders running now take */
	for (int i = bpftime_shm__max_fd(shm) - 1; i >= 0; i--) {
		if (bpftime_handler_get_type(shm, i) != BPFTIME_HANDLER_NONE)
			continue;
		ret = bpftime_handler_open_id(shm, id, i);
		if (ret == -EEXIST) /* taken meanwhile */
			continue;
		if (ret < 0)
			return ret;
		*fd = ret;
		return 1;
	}
	return ret == -ENOENT ? -EMFILE : ret;
}

/* the pins of object @id: printed as bpftool -f prints them, or added to
 * @o as its "pinned" array (nothing when there are none) */
static void print_pins(struct bpftime_shm *shm, uint32_t id, json_t *o)
{
	json_t *paths = NULL;
	char path[BPFTIME_PIN_PATH_MAX];

	for (int i = 0;; i++) {
		int ret = bpftime_obj_pin_at(shm, i, path, sizeof(path));

		if (ret == -EINVAL)
			break;
		if (ret < 0 || (uint32_t)ret != id)
			continue;
		if (!o) {
			printf("\tpinned %s\n", path);
			continue;
		}
		if (!paths)
			paths = json_array();
		json_array_append_new(paths, json_string(path));
	}
	if (paths)
		json_object_set_new(o, "pinned", paths);
}

static bool gpl_compatible(const char *license)
{
	return !strcmp(license, "GPL") || !strcmp(license, "Dual BSD/GPL") ||
	       !strcmp(license, "GPL v2") || !strcmp(license, "Dual MIT/GPL") ||
	       !strcmp(license, "GPL and additional rights") || !strcmp(license, "Dual MPL/GPL");
}

int tool_prog_show(struct bpftime_shm *shm)
{
	json_t *arr = tool_json ? json_array() : NULL;

	if (tool_json && !arr)
		return -ENOMEM;
	for (uint32_t id = 0; !bpftime_handler_next_id(shm, BPFTIME_HANDLER_PROG, id, &id);) {
		struct bpftime_prog_info pi;
		uint32_t map_ids[64];
		const char *type;
		size_t aot;
		int nmaps, fd, held;

		held = tool_hold_id(shm, id, &fd);
		if (held < 0) {
			/* gone meanwhile (-ENOENT), or no slot to read it through */
			if (held != -ENOENT)
				tool_err("program %u: %s", id, strerror(-held));
			continue;
		}
		if (bpftime_prog_get_info(shm, fd, &pi)) {
			if (held)
				bpftime_handler_close(shm, fd);
			continue;
		}
		type = libbpf_bpf_prog_type_str((enum bpf_prog_type)pi.type);
		nmaps = bpftime_prog_map_ids(shm, fd, map_ids, (int)ARRAY_SIZE(map_ids));
		if (arr) {
			json_t *o = json_object(), *ids = json_array(), *afds = json_array();

			json_object_set_new(o, "id", json_integer(pi.id));
			if (!held)
				json_object_set_new(o, "fd", json_integer(fd));
			json_object_set_new(o, "type",
					    type ? json_string(type) : json_integer(pi.type));
			json_object_set_new(o, "name", json_string(pi.name));
			json_object_set_new(o, "gpl_compatible",
					    json_boolean(gpl_compatible(pi.license)));
			json_object_set_new(o, "bytes_xlated",
					    json_integer((json_int_t)pi.insn_cnt * 8));
			if (bpftime_prog_aot(shm, fd, &aot))
				json_object_set_new(o, "bytes_aot", json_integer((json_int_t)aot));
			for (int k = 0; k < nmaps && k < (int)ARRAY_SIZE(map_ids); k++)
				json_array_append_new(ids, json_integer(map_ids[k]));
			json_object_set_new(o, "map_ids", ids);
			if (pi.btf_id)
				json_object_set_new(o, "btf_id", json_integer(pi.btf_id));
			for (uint32_t k = 0; k < pi.attach_cnt && k < BPFTIME_PROG_MAX_ATTACH; k++)
				json_array_append_new(afds, json_integer(pi.attach_fds[k]));
			json_object_set_new(o, "attach_fds", afds);
			/* kernel-shared mode: which side runs it (bpftool's keys
			 * otherwise) */
			if (pi.kernel_id) {
				json_object_set_new(o, "runs_in",
						    json_string(pi.kernel_only
									? "kernel"
									: "kernel+userspace"));
				json_object_set_new(o, "kernel_id", json_integer(pi.kernel_id));
			}
			print_pins(shm, pi.id, o);
			json_array_append_new(arr, o);
			if (held)
				bpftime_handler_close(shm, fd);
			continue;
		}
		printf("%u: %s  name %s", pi.id, type ? type : "unknown", pi.name);
		if (gpl_compatible(pi.license))
			printf("  gpl");
		if (!held)
			printf("  fd %d", fd);
		printf("\n\txlated %uB", pi.insn_cnt * 8);
		if (bpftime_prog_aot(shm, fd, &aot))
			printf("  aot %zuB", aot);
		if (nmaps > 0) {
			printf("  map_ids");
			for (int k = 0; k < nmaps && k < (int)ARRAY_SIZE(map_ids); k++)
				printf("%s%u", k ? "," : " ", map_ids[k]);
		}
		if (pi.btf_id)
			printf("  btf_id %u", pi.btf_id);
		if (pi.attach_cnt) {
			printf("  attach_fds");
			for (uint32_t i = 0; i < pi.attach_cnt && i < BPFTIME_PROG_MAX_ATTACH; i++)
				printf("%s%d", i ? "," : " ", pi.attach_fds[i]);
		}
		if (pi.kernel_only)
			printf("\n\truns in the kernel (kernel prog id %u)", pi.kernel_id);
		else if (pi.kernel_id) /* attached to a kernel hook; uprobes would run here */
			printf("\n\truns in the kernel (kernel prog id %u) and in userspace",
			       pi.kernel_id);
		printf("\n");
		print_pins(shm, pi.id, NULL);
		if (held)
			bpftime_handler_close(shm, fd);
	}
	return arr ? print_json(arr) : 0;
}

static const char *helper_name(void *ctx, int32_t id)
{
	(void)ctx;
	return id >= 0 ? bpftime_helper__name((uint32_t)id) : NULL;
}

/* stored programs name their maps by id: printed as bpftool prints them */
static int map_desc(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, char *buf,
		    size_t len)
{
	(void)ctx;
	if (src == BPFTIME_PSEUDO_MAP_FD)
		snprintf(buf, len, "map[id:%d]", imm);
	else if (src == BPFTIME_PSEUDO_MAP_VALUE)
		snprintf(buf, len, "map[id:%d][0]+%u", imm, (uint32_t)next_imm);
	else
		return -1; /* fd_array indexes: as the disassembler prints them */
	return 0;
}

int tool_prog_dump(struct bpftime_shm *shm, int fd)
{
	BPFTIME_OPTS(bpftime_disasm_opts, o, .helper_name = helper_name, .map_desc = map_desc);
	const struct bpftime_insn *insns;
	size_t cnt;

	insns = bpftime_prog_insns(shm, fd, &cnt);
	if (!insns) {
		tool_err("no program at fd %d (`bpftimetool prog show` lists them)", fd);
		return -EBADF;
	}
	return bpftime_disasm_prog(insns, cnt, &o, stdout) ? -EINVAL : 0;
}

int tool_map_show(struct bpftime_shm *shm)
{
	json_t *arr = tool_json ? json_array() : NULL;

	if (tool_json && !arr)
		return -ENOMEM;
	for (uint32_t id = 0; !bpftime_handler_next_id(shm, BPFTIME_HANDLER_MAP, id, &id);) {
		struct bpftime_map_info mi;
		const char *type;
		int fd, held;

		held = tool_hold_id(shm, id, &fd);
		if (held < 0) {
			if (held != -ENOENT)
				tool_err("map %u: %s", id, strerror(-held));
			continue;
		}
		if (bpftime_map_get_info(shm, fd, &mi)) {
			if (held)
				bpftime_handler_close(shm, fd);
			continue;
		}
		type = libbpf_bpf_map_type_str((enum bpf_map_type)mi.type);
		if (arr) {
			json_t *o = json_object();

			json_object_set_new(o, "id", json_integer(mi.id));
			if (!held)
				json_object_set_new(o, "fd", json_integer(fd));
			json_object_set_new(o, "type",
					    type ? json_string(type) : json_integer(mi.type));
			json_object_set_new(o, "name", json_string(mi.name));
			json_object_set_new(o, "flags", json_integer(mi.map_flags));
			json_object_set_new(o, "bytes_key", json_integer(mi.key_size));
			json_object_set_new(o, "bytes_value", json_integer(mi.value_size));
			json_object_set_new(o, "max_entries", json_integer(mi.max_entries));
			json_object_set_new(o, "frozen", json_integer(mi.frozen));
			if (bpftime_map_kernel_id(shm, fd))
				json_object_set_new(o, "kernel_id",
						    json_integer(bpftime_map_kernel_id(shm, fd)));
			print_pins(shm, mi.id, o);
			json_array_append_new(arr, o);
			if (held)
				bpftime_handler_close(shm, fd);
			continue;
		}
		printf("%u: %s  name %s  flags 0x%x", mi.id, type ? type : "unknown", mi.name,
		       mi.map_flags);
		if (!held)
			printf("  fd %d", fd);
		printf("\n");
		printf("\tkey %uB  value %uB  max_entries %u%s", mi.key_size, mi.value_size,
		       mi.max_entries, mi.frozen ? "  frozen" : "");
		if (bpftime_map_kernel_id(shm, fd))
			printf("  in the kernel (kernel map id %u)",
			       bpftime_map_kernel_id(shm, fd));
		printf("\n");
		print_pins(shm, mi.id, NULL);
		if (held)
			bpftime_handler_close(shm, fd);
	}
	return arr ? print_json(arr) : 0;
}

static json_t *hex_bytes(const uint8_t *p, size_t n)
{
	json_t *a = json_array();
	char b[8];

	for (size_t i = 0; a && i < n; i++) {
		snprintf(b, sizeof(b), "0x%02x", p[i]);
		json_array_append_new(a, json_string(b));
	}
	return a;
}

int tool_map_dump(struct bpftime_shm *shm, int fd)
{
	struct bpftime_map_info mi;
	json_t *arr = NULL;
	uint8_t *key, *next, *val;
	bool first = true;
	size_t found = 0;
	int err, next_err;

	err = bpftime_map_get_info(shm, fd, &mi);
	if (err) {
		tool_err("no map at fd %d (`bpftimetool map show` lists them)", fd);
		return err;
	}
	arr = tool_json ? json_array() : NULL;
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
		if (arr) {
			json_t *o = json_object();

			json_object_set_new(o, "key", hex_bytes(key, mi.key_size));
			if (err)
				json_object_set_new(o, "error", json_string(strerror(-err)));
			else
				json_object_set_new(o, "value",
						    hex_bytes(val, mi.value_size_syscall));
			json_array_append_new(arr, o);
			err = 0;
			found++;
			continue;
		}
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
	if (arr) {
		err = print_json(arr);
		arr = NULL;
	} else {
		printf("Found %zu element%s\n", found, found == 1 ? "" : "s");
	}
out:
	json_decref(arr);
	free(key);
	free(next);
	free(val);
	return err;
}
