/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/json.c: the segment as JSON, both ways.
 *
 * Export writes the documented shape (DESIGN.md section 3):
 *   {"handlers": [{"fd": 3, "type": "bpf_map_handler", "name": "m",
 *                  "attr": {...}, "data": [{"key": hex, "value": hex}]}, ...],
 *    "pins": [{"path": "/sys/fs/bpf/x", "fd": 3}]}
 * Map contents are included ("data", in the syscall format: per-CPU values
 * for every CPU, fd maps hold the fd of the object), so that export, remove,
 * import gives back the same state.  Queues and stacks are read by popping
 * every element and pushing them back.  Unsigned 64-bit values beyond
 * INT64_MAX are written as decimal strings.  A second fd of an object
 * (dup, OBJ_GET) is written as {"type": "bpf_dup_handler", "attr": {"of":
 * first fd}}, so that importing keeps one object.  Contents that cannot be
 * read back (ring buffers, stack traces, bloom filters, BPF_F_RDONLY and
 * BPF_F_WRONLY maps) are not exported.
 *
 * Import accepts that shape and bpftime's own (an object keyed by fd
 * strings), in any key order.  It is all or nothing: the whole file is
 * parsed and checked first (JSON syntax with line and column, handler types,
 * field types, hex, sizes, free fds, references between handlers), then
 * applied in dependency order (BTF, maps, programs, perf events, attach
 * lists, fd-map contents, links, freezes, pins); if applying fails half way,
 * every handler created so far is closed again.  Imported handlers belong to
 * nobody (owner 0), so they survive the tool.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"
#include "common/compiler.h"
#include "common/log.h"

#define T_MAP  "bpf_map_handler"
#define T_PROG "bpf_prog_handler"
#define T_PERF "bpf_perf_event_handler"
#define T_LINK "bpf_link_handler"
#define T_BTF  "bpf_btf_handler"
#define T_DUP  "bpf_dup_handler" /* attr {"of": fd}: another fd of that object */

/* ---- hex -------------------------------------------------------------- */

static char *hex_encode(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = data;
	char *s = malloc(2 * len + 1);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[p[i] >> 4];
		s[2 * i + 1] = digits[p[i] & 15];
	}
	s[2 * len] = 0;
	return s;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decodes @s into a malloc'ed buffer (*out, *len); -EINVAL on bad hex */
static int hex_decode(const char *s, uint8_t **out, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *p;

	if (n % 2)
		return -EINVAL;
	p = malloc(n / 2 + 1);
	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(p);
			return -EINVAL;
		}
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = p;
	*len = n / 2;
	return 0;
}

/* ---- export ----------------------------------------------------------- */

static json_t *json_u64(uint64_t v)
{
	char buf[32];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return json_string(buf);
}

static int set_hex(json_t *obj, const char *key, const void *data, size_t len)
{
	char *s = hex_encode(data, len);

	if (!s)
		return -ENOMEM;
	json_object_set_new(obj, key, json_string(s));
	free(s);
	return 0;
}

static bool is_fd_map(uint32_t type)
{
	return type == BPFTIME_MAP_PROG_ARRAY || type == BPFTIME_MAP_PERF_EVENT_ARRAY ||
	       type == BPFTIME_MAP_ARRAY_OF_MAPS || type == BPFTIME_MAP_HASH_OF_MAPS;
}

static bool is_map_in_map(uint32_t type)
{
	return type == BPFTIME_MAP_ARRAY_OF_MAPS || type == BPFTIME_MAP_HASH_OF_MAPS;
}

static bool is_queue(uint32_t type)
{
	return type == BPFTIME_MAP_QUEUE || type == BPFTIME_MAP_STACK;
}

/* map types whose contents a control-plane walk can read back and write */
static bool has_data(const struct bpftime_map_info *mi)
{
	if (mi->map_flags & (BPFTIME_F_RDONLY | BPFTIME_F_WRONLY))
		return false; /* the syscall side may not read or write them */
	switch (mi->type) {
	case BPFTIME_MAP_RINGBUF:
	case BPFTIME_MAP_STACK_TRACE:
	case BPFTIME_MAP_BLOOM_FILTER: /* cannot be enumerated */
		return false;
	default:
		return true;
	}
}

static int export_entry(json_t *data, const void *key, size_t klen, const void *value, size_t vlen)
{
	json_t *e = json_object();
	int err;

	if (!e)
		return -ENOMEM;
	err = set_hex(e, "key", key, klen);
	if (!err)
		err = set_hex(e, "value", value, vlen);
	json_array_append_new(data, e);
	return err;
}

/* queue/stack: pop everything, remember it, push it back in the order
 * that restores the map */
static int export_queue(struct bpftime_shm *shm, int fd, const struct bpftime_map_info *mi,
			json_t *data)
{
	size_t n = 0, vs = mi->value_size;
	uint8_t *vals = malloc((size_t)mi->max_entries * vs + 1);
	int err = 0;

	if (!vals)
		return -ENOMEM;
	while (n < mi->max_entries &&
	       !bpftime_map_lookup_and_delete_elem(shm, fd, NULL, vals + n * vs, 0))
		n++;
	for (size_t i = 0; i < n; i++) {
		size_t j = mi->type == BPFTIME_MAP_QUEUE ? i : n - 1 - i;

		if (bpftime_map_update_elem(shm, fd, NULL, vals + j * vs, 0))
			err = -EIO;
	}
	for (size_t i = 0; !err && i < n; i++)
		err = export_entry(data, NULL, 0, vals + i * vs, vs);
	if (err == -EIO)
		tool_err("map %d: could not push its elements back while exporting", fd);
	free(vals);
	return err;
}

static int cmp_key(const void *a, const void *b)
{
	const char *ka = json_string_value(json_object_get(*(json_t *const *)a, "key"));
	const char *kb = json_string_value(json_object_get(*(json_t *const *)b, "key"));

	return strcmp(ka, kb);
}

/* entries in key order, so that exports of equal states are equal files
 * (hash iteration order depends on the map's seed) */
static int sort_by_key(json_t *data)
{
	size_t n = json_array_size(data);
	json_t **v = calloc(n + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(data, i));
	qsort(v, n, sizeof(*v), cmp_key);
	json_array_clear(data);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(data, v[i]);
	free(v);
	return 0;
}

static int export_map_data(struct bpftime_shm *shm, int fd, const struct bpftime_map_info *mi,
			   json_t *data)
{
	size_t ks = mi->key_size, vs = mi->value_size_syscall;
	uint8_t *key = calloc(1, ks + 1), *next = calloc(1, ks + 1), *val = calloc(1, vs + 8);
	bool first = true;
	int err = 0, it = 0;

	if (!key || !next || !val) {
		err = -ENOMEM;
		goto out;
	}
	if (is_queue(mi->type)) {
		err = export_queue(shm, fd, mi, data);
		goto out;
	}
	if (mi->type == BPFTIME_MAP_PERF_EVENT_ARRAY) {
		/* the syscall side may not look these up: read the slots */
		struct bpftime_map *h = bpftime_map_get_handle(shm, fd);

		for (uint32_t i = 0; h && !err && i < mi->max_entries; i++) {
			uint32_t id = bpftime_map__fd_array_get(h, i);
			int32_t ofd = id ? bpftime_handler_fd_by_id(shm, id) : -1;

			if (ofd >= 0)
				err = export_entry(data, &i, sizeof(i), &ofd, sizeof(ofd));
		}
		goto out;
	}
	while (!(it = bpftime_map_get_next_key(shm, fd, first ? NULL : key, next))) {
		first = false;
		memcpy(key, next, ks);
		if (bpftime_map_lookup_elem(shm, fd, key, val, 0))
			continue; /* deleted meanwhile, or an empty fd slot */
		if (is_fd_map(mi->type)) {
			/* the syscall view is the object's id: export the fd naming it */
			uint32_t id;
			int32_t ofd;

			memcpy(&id, val, sizeof(id));
			ofd = bpftime_handler_fd_by_id(shm, id);
			if (ofd < 0) {
				pr_warn("map %d: the object at one key has no fd: not exported\n",
					fd);
				continue;
			}
			memcpy(val, &ofd, sizeof(ofd));
			vs = sizeof(ofd);
		}
		err = export_entry(data, key, ks, val, vs);
		if (err)
			break;
	}
	if (it && it != -ENOENT)
		pr_warn("map %d '%s': iteration stopped (%s): its data is exported incomplete\n",
			fd, mi->name, strerror(-it));
	if (!err)
		err = sort_by_key(data);
out:
	free(key);
	free(next);
	free(val);
	return err;
}

static int export_map(struct bpftime_shm *shm, int fd, json_t *h, json_t *attr)
{
	struct bpftime_map_info mi;
	json_t *data;
	int err;

	err = bpftime_map_get_info(shm, fd, &mi);
	if (err)
		return err;
	pr_info("bpf_map_handler name=%s found at %d\n", mi.name, fd);
	json_object_set_new(attr, "map_type", json_integer(mi.type));
	json_object_set_new(attr, "key_size", json_integer(mi.key_size));
	json_object_set_new(attr, "value_size", json_integer(mi.value_size));
	json_object_set_new(attr, "max_entries", json_integer(mi.max_entries));
	json_object_set_new(attr, "flags", json_integer(mi.map_flags));
	/* bpftime's name for the fd of the map's BTF */
	json_object_set_new(attr, "btf_id", json_integer(mi.btf_fd == UINT32_MAX ? 0 : mi.btf_fd));
	json_object_set_new(attr, "btf_key_type_id", json_integer(mi.btf_key_type_id));
	json_object_set_new(attr, "btf_value_type_id", json_integer(mi.btf_value_type_id));
	json_object_set_new(attr, "btf_vmlinux_value_type_id",
			    json_integer(mi.btf_vmlinux_value_type_id));
	json_object_set_new(attr, "map_extra", json_u64(mi.map_extra));
	if (is_map_in_map(mi.type)) {
		json_object_set_new(attr, "inner_map_type", json_integer(mi.inner_map_type));
		json_object_set_new(attr, "inner_key_size", json_integer(mi.inner_key_size));
		json_object_set_new(attr, "inner_value_size", json_integer(mi.inner_value_size));
		json_object_set_new(attr, "inner_max_entries", json_integer(mi.inner_max_entries));
		json_object_set_new(attr, "inner_map_flags", json_integer(mi.inner_map_flags));
	}
	if (mi.frozen)
		json_object_set_new(attr, "frozen", json_true());
	/* where the value's struct bpf_spin_lock is (found in its BTF at
	 * creation): the import recreates the lock, and verifies programs that
	 * take it, without reading BTF */
	if (mi.has_spin_lock)
		json_object_set_new(attr, "spin_lock_off", json_integer(mi.spin_lock_off));
	if (!has_data(&mi))
		return 0;
	data = json_array();
	json_object_set_new(h, "data", data);
	return export_map_data(shm, fd, &mi, data);
}

/* the program's BTF (as the fd of an exported BTF handler, when one still
 * has a slot) and its func info and line info with their record sizes */
static int export_btf_ext(struct bpftime_shm *shm, int fd, uint32_t btf_id, json_t *attr)
{
	struct bpftime_prog_btf_ext e;
	int err = bpftime_prog_get_btf_ext(shm, fd, &e), btf_fd;

	if (err)
		return err;
	btf_fd = btf_id ? bpftime_handler_fd_by_id(shm, btf_id) : -1;
	if (btf_fd >= 0)
		json_object_set_new(attr, "prog_btf_fd", json_integer(btf_fd));
	if (e.func_info_cnt) {
		json_object_set_new(attr, "func_info_rec_size", json_integer(e.func_info_rec_size));
		err = set_hex(attr, "func_info", e.func_info,
			      (size_t)e.func_info_cnt * e.func_info_rec_size);
	}
	if (!err && e.line_info_cnt) {
		json_object_set_new(attr, "line_info_rec_size", json_integer(e.line_info_rec_size));
		err = set_hex(attr, "line_info", e.line_info,
			      (size_t)e.line_info_cnt * e.line_info_rec_size);
	}
	return err;
}

static int export_prog(struct bpftime_shm *shm, int fd, json_t *attr)
{
	struct bpftime_prog_info pi;
	const struct bpftime_insn *insns;
	const void *aot;
	json_t *fds;
	size_t cnt, aot_size;
	int err;

	err = bpftime_prog_get_info(shm, fd, &pi);
	if (err)
		return err;
	insns = bpftime_prog_insns(shm, fd, &cnt);
	if (!insns)
		return -errno;
	pr_info("find prog fd=%d name=%s\n", fd, pi.name);
	json_object_set_new(attr, "type", json_integer(pi.type));
	json_object_set_new(attr, "cnt", json_integer((json_int_t)cnt));
	{
		/* the segment names maps by id; the file by the fds of its handlers */
		struct bpftime_insn *copy = malloc(cnt * sizeof(*insns));

		if (!copy)
			return -ENOMEM;
		memcpy(copy, insns, cnt * sizeof(*insns));
		for (size_t i = 0; i + 1 < cnt; i++) {
			int mfd;

			if (copy[i].code != 0x18) /* lddw */
				continue;
			if (copy[i].src == BPFTIME_PSEUDO_MAP_FD ||
			    copy[i].src == BPFTIME_PSEUDO_MAP_VALUE) {
				mfd = bpftime_handler_fd_by_id(shm, (uint32_t)copy[i].imm);
				if (mfd < 0) {
					pr_warn("prog %d: map id %d has no fd: not exported\n", fd,
						copy[i].imm);
					free(copy);
					return 1;
				}
				copy[i].imm = mfd;
			}
			i++;
		}
		err = set_hex(attr, "insns", copy, cnt * sizeof(*insns));
		free(copy);
		if (err)
			return err;
	}
	fds = json_array();
	for (uint32_t i = 0; i < pi.attach_cnt && i < BPFTIME_PROG_MAX_ATTACH; i++)
		json_array_append_new(fds, json_integer(pi.attach_fds[i]));
	json_object_set_new(attr, "attach_fds", fds);
	json_object_set_new(attr, "expected_attach_type", json_integer(pi.expected_attach_type));
	json_object_set_new(attr, "license", json_string(pi.license));
	aot = bpftime_prog_aot(shm, fd, &aot_size);
	if (aot)
		err = set_hex(attr, "aot", aot, aot_size);
	if (!err)
		err = export_btf_ext(shm, fd, pi.btf_id, attr);
	return err;
}

static int export_perf(struct bpftime_shm *shm, int fd, json_t *attr)
{
	struct bpftime_perf_event_info ei;
	int err = bpftime_perf_event_get_info(shm, fd, &ei);

	if (err)
		return err;
	pr_info("bpf_perf_event_handler found at %d\n", fd);
	json_object_set_new(attr, "type", json_integer(ei.type));
	json_object_set_new(attr, "pid", json_integer(ei.pid));
	json_object_set_new(attr, "_module_name", json_string(ei.module ? ei.module : ""));
	json_object_set_new(attr, "offset", json_u64(ei.offset));
	json_object_set_new(attr, "ref_ctr_off", json_u64(ei.ref_ctr_off));
	json_object_set_new(attr, "tracepoint_id", json_integer(ei.tracepoint_id));
	json_object_set_new(attr, "cpu", json_integer(ei.cpu));
	json_object_set_new(attr, "config", json_u64(ei.config));
	json_object_set_new(attr, "sample_type", json_u64(ei.sample_type));
	json_object_set_new(attr, "cookie", json_u64(ei.cookie));
	json_object_set_new(attr, "enabled", json_boolean(ei.enabled));
	return 0;
}

static int export_link(struct bpftime_shm *shm, int fd, json_t *attr)
{
	struct bpftime_link_info li;
	int err = bpftime_link_get_info(shm, fd, &li), pfd, tfd;

	if (err)
		return err;
	/* the fds naming the objects now (the creation-time fds may be gone) */
	pfd = bpftime_handler_fd_by_id(shm, li.prog_id);
	tfd = bpftime_handler_fd_by_id(shm, li.target_id);
	if (pfd < 0 || tfd < 0) {
		pr_warn("link %d: its program or target has no fd: not exported\n", fd);
		return 1;
	}
	pr_info("bpf_link_handler found at %d\n", fd);
	json_object_set_new(attr, "prog_fd", json_integer(pfd));
	json_object_set_new(attr, "target_fd", json_integer(tfd));
	json_object_set_new(attr, "attach_type", json_integer(li.attach_type));
	json_object_set_new(attr, "cookie", json_u64(li.cookie));
	return 0;
}

/* Objects no slot names (held by a pin, a link, a program or a map only,
 * e.g. those of a loader that exited) get a slot for the time of the export,
 * so that the file's handlers can name them by fd like the rest: opened in
 * @fds (at most @max), returns how many. */
static int open_held(struct bpftime_shm *shm, int *fds, int max)
{
	uint32_t id = 0;
	int n = 0;

	while (n < max && !bpftime_handler_next_id(shm, BPFTIME_HANDLER_NONE, id, &id)) {
		int fd;

		if (bpftime_handler_fd_by_id(shm, id) >= 0)
			continue;
		fd = bpftime_handler_open_id(shm, id, -1);
		if (fd >= 0)
			fds[n++] = fd;
	}
	return n;
}

int tool_export(struct bpftime_shm *shm, FILE *out)
{
	json_t *root = json_object(), *handlers = json_array(), *pins = json_array();
	int err = 0, temp[1024], ntemp;

	if (!root || !handlers || !pins) {
		json_decref(root);
		json_decref(handlers);
		json_decref(pins);
		return -ENOMEM;
	}
	json_object_set_new(root, "handlers", handlers);
	ntemp = open_held(shm, temp, ARRAY_SIZE(temp));
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_handler_info info;
		json_t *h, *attr;
		const void *btf;
		size_t size;
		int dup_of;

		if (bpftime_handler_get_info(shm, fd, &info))
			continue; /* closed meanwhile */
		h = json_object();
		attr = json_object();
		json_object_set_new(h, "fd", json_integer(fd));
		/* a second fd of an object exported already (dup, OBJ_GET) */
		dup_of = bpftime_handler_fd_by_id(shm, info.id);
		if (dup_of >= 0 && dup_of < fd) {
			json_object_set_new(h, "type", json_string(T_DUP));
			json_object_set_new(h, "attr", attr);
			json_object_set_new(attr, "of", json_integer(dup_of));
			json_array_append_new(handlers, h);
			continue;
		}
		switch (info.type) {
		case BPFTIME_HANDLER_MAP:
			json_object_set_new(h, "type", json_string(T_MAP));
			json_object_set_new(h, "name", json_string(info.name));
			json_object_set_new(h, "attr", attr);
			err = export_map(shm, fd, h, attr);
			break;
		case BPFTIME_HANDLER_PROG:
			json_object_set_new(h, "type", json_string(T_PROG));
			json_object_set_new(h, "name", json_string(info.name));
			json_object_set_new(h, "attr", attr);
			err = export_prog(shm, fd, attr);
			break;
		case BPFTIME_HANDLER_PERF_EVENT:
			json_object_set_new(h, "type", json_string(T_PERF));
			json_object_set_new(h, "attr", attr);
			err = export_perf(shm, fd, attr);
			break;
		case BPFTIME_HANDLER_LINK:
			json_object_set_new(h, "type", json_string(T_LINK));
			json_object_set_new(h, "attr", attr);
			err = export_link(shm, fd, attr);
			break;
		case BPFTIME_HANDLER_BTF:
			json_object_set_new(h, "type", json_string(T_BTF));
			json_object_set_new(h, "attr", attr);
			btf = bpftime_btf_data(shm, fd, &size);
			err = btf ? set_hex(attr, "data", btf, size) : -errno;
			break;
		case BPFTIME_HANDLER_NONE:
			json_decref(attr);
			err = 1;
			break;
		}
		if (err == 1 || err == -EBADF) { /* skipped, or closed meanwhile */
			json_decref(h);
			err = 0;
			continue;
		}
		if (err) {
			json_decref(h);
			break;
		}
		json_array_append_new(handlers, h);
	}
	for (int i = 0; !err && i < BPFTIME_MAX_PINS; i++) {
		char path[BPFTIME_PIN_PATH_MAX];
		int id = bpftime_obj_pin_at(shm, i, path, sizeof(path)), fd;
		json_t *p;

		if (id == -EINVAL)
			break;
		if (id < 0)
			continue;
		fd = bpftime_handler_fd_by_id(shm, (uint32_t)id);
		if (fd < 0) {
			pr_warn("pin '%s': its object has no fd: not exported\n", path);
			continue;
		}
		p = json_object();
		json_object_set_new(p, "path", json_string(path));
		json_object_set_new(p, "fd", json_integer(fd));
		json_array_append_new(pins, p);
	}
	if (json_array_size(pins))
		json_object_set_new(root, "pins", pins);
	else
		json_decref(pins);
	if (!err && (json_dumpf(root, out, JSON_INDENT(2)) || fputc('\n', out) == EOF))
		err = -EIO;
	for (int i = 0; i < ntemp; i++)
		bpftime_handler_close(shm, temp[i]);
	json_decref(root);
	if (err)
		tool_err("export failed: %s", strerror(-err));
	return err;
}

/* ---- import: parse and check ------------------------------------------ */

enum kind { K_MAP, K_PROG, K_PERF, K_LINK, K_BTF, K_DUP };

struct entry {
	uint8_t *key, *value;
	size_t klen, vlen;
};

struct handler {
	int fd;
	enum kind kind;
	const char *name;
	int created; /* fd once applied, -1 before */
	/* maps */
	uint32_t map_type, key_size, value_size, max_entries, flags;
	uint32_t inner[5]; /* type, key, value, max_entries, flags */
	bool frozen;
	struct bpftime_map_create_opts mopts;
	struct entry *data;
	size_t ndata;
	/* programs */
	uint32_t prog_type, expected_attach_type;
	uint8_t *insns, *aot;
	size_t cnt, aot_size;
	int32_t prog_btf_fd;	/* -1: none */
	uint8_t *finfo, *linfo; /* BTF func info and line info */
	size_t finfo_len, linfo_len;
	uint32_t finfo_rec, linfo_rec;
	char license[64];
	int attach_fds[BPFTIME_PROG_MAX_ATTACH];
	size_t nattach;
	/* perf events */
	struct bpftime_perf_event_opts popts;
	bool enabled;
	/* links */
	int prog_fd, target_fd;
	struct bpftime_link_opts lopts;
	/* BTF */
	uint8_t *btf;
	size_t btf_size;
	/* dup */
	int of;
};

struct pin {
	const char *path;
	int fd;
};

struct import {
	struct bpftime_shm *shm;
	const char *source;
	struct handler *h;
	size_t n;
	struct pin *pins;
	size_t npins;
	size_t pins_done;
	int ncpus;
};

/* reports "SOURCE: handler fd N: message" */
static int bad(struct import *im, const struct handler *h, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct import *im, const struct handler *h, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (h)
		tool_err("%s: handler fd %d: %s", im->source, h->fd, msg);
	else
		tool_err("%s: %s", im->source, msg);
	return -EINVAL;
}

/* an integer field: a JSON integer, or a decimal string (u64 beyond
 * INT64_MAX); range-checked against [min, max] */
static int get_int(struct import *im, const struct handler *h, json_t *obj, const char *key,
		   bool required, int64_t min, uint64_t max, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char *end;

	if (!v) {
		if (required)
			return bad(im, h, "attr.%s is missing", key);
		return 0;
	}
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);

		if (x < min || (x >= 0 && (uint64_t)x > max))
			return bad(im, h, "attr.%s = %lld is out of range", key, (long long)x);
		*out = (uint64_t)x;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		uint64_t x;

		errno = 0;
		x = strtoull(s, &end, 10);
		if (!*s || *end || errno || *s == '-' || x > max)
			return bad(im, h, "attr.%s = \"%s\" is not a number in range", key, s);
		*out = x;
		return 0;
	}
	return bad(im, h, "attr.%s must be a number", key);
}

#define GET_U32(obj, key, req, dst)                                         \
	({                                                                  \
		uint64_t v_ = (dst);                                        \
		int e_ = get_int(im, h, obj, key, req, 0, UINT32_MAX, &v_); \
		(dst) = (uint32_t)v_;                                       \
		e_;                                                         \
	})
#define GET_S32(obj, key, req, dst)                                                \
	({                                                                         \
		uint64_t v_ = (uint64_t)(int64_t)(dst);                            \
		int e_ = get_int(im, h, obj, key, req, INT32_MIN, INT32_MAX, &v_); \
		(dst) = (int32_t)v_;                                               \
		e_;                                                                \
	})
#define GET_U64(obj, key, req, dst) get_int(im, h, obj, key, req, 0, UINT64_MAX, &(dst))

static int get_hex(struct import *im, const struct handler *h, json_t *obj, const char *key,
		   bool required, uint8_t **out, size_t *len)
{
	json_t *v = json_object_get(obj, key);
	int err;

	if (!v) {
		if (required)
			return bad(im, h, "%s is missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return bad(im, h, "%s must be a hex string", key);
	err = hex_decode(json_string_value(v), out, len);
	if (err == -EINVAL)
		return bad(im, h, "%s is not valid hex", key);
	return err;
}

static int parse_map(struct import *im, struct handler *h, json_t *hobj, json_t *attr)
{
	json_t *data = json_object_get(hobj, "data"), *fz = json_object_get(attr, "frozen");
	uint32_t lock = 0;
	size_t vs;
	int err;

	h->mopts.sz = sizeof(h->mopts);
	if ((err = GET_U32(attr, "map_type", true, h->map_type)) ||
	    (err = GET_U32(attr, "key_size", true, h->key_size)) ||
	    (err = GET_U32(attr, "value_size", true, h->value_size)) ||
	    (err = GET_U32(attr, "max_entries", true, h->max_entries)) ||
	    (err = GET_U32(attr, "flags", false, h->flags)) ||
	    (err = GET_U32(attr, "btf_id", false, h->mopts.btf_fd)) ||
	    (err = GET_U32(attr, "btf_key_type_id", false, h->mopts.btf_key_type_id)) ||
	    (err = GET_U32(attr, "btf_value_type_id", false, h->mopts.btf_value_type_id)) ||
	    (err = GET_U32(attr, "btf_vmlinux_value_type_id", false,
			   h->mopts.btf_vmlinux_value_type_id)) ||
	    (err = GET_U64(attr, "map_extra", false, h->mopts.map_extra)) ||
	    (err = GET_U32(attr, "inner_map_type", false, h->inner[0])) ||
	    (err = GET_U32(attr, "inner_key_size", false, h->inner[1])) ||
	    (err = GET_U32(attr, "inner_value_size", false, h->inner[2])) ||
	    (err = GET_U32(attr, "inner_max_entries", false, h->inner[3])) ||
	    (err = GET_U32(attr, "inner_map_flags", false, h->inner[4])) ||
	    (err = GET_U32(attr, "spin_lock_off", false, lock)))
		return err;
	h->mopts.spin_lock_off = -1;
	if (json_object_get(attr, "spin_lock_off")) {
		/* the kernel's map types whose values may hold a lock */
		if (h->map_type != BPFTIME_MAP_HASH && h->map_type != BPFTIME_MAP_ARRAY)
			return bad(im, h, "attr.spin_lock_off: map_type %u cannot hold a spin lock",
				   h->map_type);
		if (lock % 4 || (uint64_t)lock + 4 > h->value_size)
			return bad(im, h,
				   "attr.spin_lock_off %u is not a 4-byte aligned offset inside "
				   "the %u-byte value",
				   lock, h->value_size);
		h->mopts.spin_lock_off = (int32_t)lock;
		h->mopts.has_spin_lock = true;
	}
	h->mopts.map_flags = h->flags;
	if (!libbpf_bpf_map_type_str((enum bpf_map_type)h->map_type))
		return bad(im, h, "unknown map_type %u (the kernel's BPF_MAP_TYPE_* numbers)",
			   h->map_type);
	if (fz && !json_is_boolean(fz))
		return bad(im, h, "attr.frozen must be true or false");
	h->frozen = json_is_true(fz);
	if (is_map_in_map(h->map_type) && !h->inner[0])
		return bad(im, h, "a map-in-map needs attr.inner_map_type");
	if (!data)
		return 0;
	if (!json_is_array(data))
		return bad(im, h, "data must be an array");
	vs = is_fd_map(h->map_type) ? 4
	     : (h->map_type == BPFTIME_MAP_PERCPU_HASH || h->map_type == BPFTIME_MAP_PERCPU_ARRAY ||
		h->map_type == BPFTIME_MAP_LRU_PERCPU_HASH)
		     ? ((h->value_size + 7u) & ~7u) * (size_t)im->ncpus
		     : h->value_size;
	h->data = calloc(json_array_size(data) + 1, sizeof(*h->data));
	if (!h->data)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(data); i++) {
		json_t *e = json_array_get(data, i);
		struct entry *en = &h->data[h->ndata++];

		if (!json_is_object(e))
			return bad(im, h, "data[%zu] must be an object", i);
		if ((err = get_hex(im, h, e, "key", !is_queue(h->map_type), &en->key, &en->klen)) ||
		    (err = get_hex(im, h, e, "value", true, &en->value, &en->vlen)))
			return err;
		if (en->klen != (is_queue(h->map_type) ? 0 : h->key_size))
			return bad(im, h, "data[%zu]: key has %zu bytes, the map's keys %u", i,
				   en->klen, h->key_size);
		if (en->vlen != vs)
			return bad(im, h, "data[%zu]: value has %zu bytes, expected %zu", i,
				   en->vlen, vs);
	}
	return 0;
}

/* Any map reference loads: which maps exist is checked by the runtime. */
static int any_map(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *value)
{
	UNUSED(ctx);
	UNUSED(src);
	UNUSED(imm);
	UNUSED(next_imm);
	*value = 1;
	return 0;
}

/* A program no process could ever load (an invalid opcode, a truncated
 * lddw, a jump out of the program, an unknown helper) is refused here, with
 * the verifier's words, rather than when some process tries to run it. */
/* the maps of the file being imported, by fd, for the verifier */
static int import_map_info(void *ctx, unsigned int src, int32_t imm, int32_t next_imm,
			   struct bpftime_verifier_map *m)
{
	struct import *im = ctx;

	UNUSED(next_imm);
	if (src != 1 && src != 2)
		return -EINVAL; /* fd_array indexes: no fd_array in a file */
	for (size_t i = 0; i < im->n; i++) {
		const struct handler *h = &im->h[i];

		if (h->kind != K_MAP || h->fd != imm)
			continue;
		memset(m, 0, sizeof(*m));
		m->type = h->map_type;
		m->key_size = h->key_size;
		m->value_size = h->value_size;
		m->max_entries = h->max_entries;
		/* attr.spin_lock_off: where the value's bpf_spin_lock is */
		m->spin_lock_off = h->mopts.has_spin_lock ? h->mopts.spin_lock_off : -1;
		m->rdonly_prog = h->flags & (1u << 7);
		m->frozen = h->frozen;
		m->id = (uint32_t)h->fd;
		/* a map of maps: its inner maps' template */
		m->inner_type = h->inner[0];
		m->inner_key_size = h->inner[1];
		m->inner_value_size = h->inner[2];
		m->inner_max_entries = h->inner[3];
		/* a read-only array's contents: key 0's value from the data */
		for (size_t j = 0; m->rdonly_prog && m->frozen &&
				   h->map_type == BPFTIME_MAP_ARRAY && j < h->ndata;
		     j++)
			if (h->data[j].klen == 4 && !memcmp(h->data[j].key, "\0\0\0\0", 4))
				m->ro_value = h->data[j].value;
		return 0;
	}
	return bpftime_verifier_map__from_shm(im->shm, imm, m); /* already in the segment */
}

static int verify_prog(struct import *im, struct handler *h)
{
	struct bpftime_verifier_ops vops;
	int mode = bpftime_verifier_ops__init(&vops, h->prog_type, h->expected_attach_type);

	vops.gpl_compatible = bpftime_license__gpl_compatible(h->license);
	vops.map_info = import_map_info;
	vops.ctx = im;
	BPFTIME_OPTS(bpftime_vm_opts, o, .name = h->name, .resolve_lddw = any_map,
		     .verifier = mode ? NULL : &vops);
	struct bpftime_vm *vm = bpftime_vm__new(&o);
	int err;

	if (!vm)
		return -ENOMEM;
	err = bpftime_helpers__register(vm);
	if (!err)
		err = bpftime_vm__load(vm, (const struct bpftime_insn *)h->insns, h->cnt);
	if (err && err != -ENOMEM) /* EACCES, EINVAL, E2BIG: the kernel's per refusal */
		err = bad(im, h, "the verifier refuses the program: %s",
			  bpftime_vm__last_error(vm));
	/* an AOT object must have been compiled from these instructions (the
	 * runtime refuses it at load; refused here, nothing is imported) */
	if (!err && h->aot && bpftime_vm__load_aot(vm, h->aot, h->aot_size))
		err = bad(im, h, "attr.aot does not belong to the program: %s",
			  bpftime_vm__last_error(vm));
	bpftime_vm__free(vm);
	return err;
}

static int parse_prog(struct import *im, struct handler *h, json_t *attr)
{
	json_t *fds = json_object_get(attr, "attach_fds"), *lic = json_object_get(attr, "license");
	uint64_t cnt = 0;
	size_t len = 0;
	int err;

	if ((err = GET_U32(attr, "type", true, h->prog_type)) ||
	    (err = GET_U32(attr, "expected_attach_type", false, h->expected_attach_type)) ||
	    (err = get_int(im, h, attr, "cnt", true, 1, BPFTIME_MAX_INSNS, &cnt)) ||
	    (err = get_hex(im, h, attr, "insns", true, &h->insns, &len)) ||
	    (err = get_hex(im, h, attr, "aot", false, &h->aot, &h->aot_size)))
		return err;
	if (len != cnt * sizeof(struct bpftime_insn))
		return bad(im, h, "attr.insns has %zu bytes, cnt %" PRIu64 " needs %" PRIu64, len,
			   cnt, cnt * 8);
	h->cnt = cnt;
	h->prog_btf_fd = -1;
	h->finfo_rec = 8;
	h->linfo_rec = 16;
	if ((err = GET_S32(attr, "prog_btf_fd", false, h->prog_btf_fd)) ||
	    (err = GET_U32(attr, "func_info_rec_size", false, h->finfo_rec)) ||
	    (err = GET_U32(attr, "line_info_rec_size", false, h->linfo_rec)) ||
	    (err = get_hex(im, h, attr, "func_info", false, &h->finfo, &h->finfo_len)) ||
	    (err = get_hex(im, h, attr, "line_info", false, &h->linfo, &h->linfo_len)))
		return err;
	if (h->finfo_rec < 8 || h->finfo_rec > 4096 || h->finfo_len % h->finfo_rec)
		return bad(im, h, "attr.func_info: func_info_rec_size (8 to 4096) byte records");
	if (h->linfo_rec < 16 || h->linfo_rec > 4096 || h->linfo_len % h->linfo_rec)
		return bad(im, h, "attr.line_info: line_info_rec_size (16 to 4096) byte records");
	if (lic && (!json_is_string(lic) || strlen(json_string_value(lic)) >= sizeof(h->license)))
		return bad(im, h, "attr.license must be a string of at most 63 bytes");
	snprintf(h->license, sizeof(h->license), "%s", lic ? json_string_value(lic) : "GPL");
	if (!fds)
		return 0;
	if (!json_is_array(fds) || json_array_size(fds) > BPFTIME_PROG_MAX_ATTACH)
		return bad(im, h, "attr.attach_fds must be an array of at most %d fds",
			   BPFTIME_PROG_MAX_ATTACH);
	for (size_t i = 0; i < json_array_size(fds); i++) {
		json_t *v = json_array_get(fds, i);

		if (!json_is_integer(v))
			return bad(im, h, "attr.attach_fds[%zu] must be an fd", i);
		h->attach_fds[h->nattach++] = (int)json_integer_value(v);
	}
	return 0;
}

static int parse_perf(struct import *im, struct handler *h, json_t *attr)
{
	json_t *mod = json_object_get(attr, "_module_name"), *en = json_object_get(attr, "enabled");
	int err;

	h->popts.sz = sizeof(h->popts);
	h->popts.pid = -1;
	h->popts.tracepoint_id = -1;
	h->popts.cpu = -1;
	if ((err = GET_S32(attr, "type", true, h->popts.type)) ||
	    (err = GET_S32(attr, "pid", false, h->popts.pid)) ||
	    (err = GET_U64(attr, "offset", false, h->popts.offset)) ||
	    (err = GET_U64(attr, "ref_ctr_off", false, h->popts.ref_ctr_off)) ||
	    (err = GET_S32(attr, "tracepoint_id", false, h->popts.tracepoint_id)) ||
	    (err = GET_S32(attr, "cpu", false, h->popts.cpu)) ||
	    (err = GET_U64(attr, "config", false, h->popts.config)) ||
	    (err = GET_U64(attr, "sample_type", false, h->popts.sample_type)) ||
	    (err = GET_U64(attr, "cookie", false, h->popts.cookie)))
		return err;
	if (mod && !json_is_string(mod))
		return bad(im, h, "attr._module_name must be a string");
	h->popts.module = mod ? json_string_value(mod) : NULL;
	if (en && !json_is_boolean(en))
		return bad(im, h, "attr.enabled must be true or false");
	h->enabled = en ? json_is_true(en) : false;
	switch (h->popts.type) {
	case BPFTIME_PERF_TYPE_UPROBE:
	case BPFTIME_PERF_TYPE_URETPROBE:
	case BPFTIME_PERF_TYPE_UPROBE_OVERRIDE:
		if (!h->popts.module || !*h->popts.module)
			return bad(im, h, "a uprobe needs attr._module_name");
		break;
	case BPFTIME_PERF_TYPE_TRACEPOINT:
	case BPFTIME_PERF_TYPE_SOFTWARE:
		break;
	default:
		return bad(im, h,
			   "unknown perf event type %d (6 uprobe, 7 uretprobe, 2 tracepoint, 1 "
			   "software, 1008 uprobe override)",
			   h->popts.type);
	}
	return 0;
}

static int parse_link(struct import *im, struct handler *h, json_t *attr)
{
	int err;

	h->lopts.sz = sizeof(h->lopts);
	h->prog_fd = h->target_fd = -1;
	if ((err = GET_S32(attr, "prog_fd", true, h->prog_fd)) ||
	    (err = GET_S32(attr, "target_fd", true, h->target_fd)) ||
	    (err = GET_U32(attr, "attach_type", false, h->lopts.attach_type)) ||
	    (err = GET_U64(attr, "cookie", false, h->lopts.cookie)))
		return err;
	return 0;
}

static int parse_handler(struct import *im, struct handler *h, json_t *obj)
{
	json_t *type = json_object_get(obj, "type"), *attr = json_object_get(obj, "attr");
	json_t *name = json_object_get(obj, "name");
	const char *t;

	if (!json_is_object(obj))
		return bad(im, h, "a handler must be an object");
	if (!json_is_string(type))
		return bad(im, h, "\"type\" is missing or not a string");
	t = json_string_value(type);
	if (name && !json_is_string(name))
		return bad(im, h, "\"name\" must be a string");
	h->name = name ? json_string_value(name) : "";
	if (strlen(h->name) >= BPFTIME_OBJ_NAME_LEN)
		return bad(im, h, "name '%s' is longer than %d bytes", h->name,
			   BPFTIME_OBJ_NAME_LEN - 1);
	if (!json_is_object(attr))
		return bad(im, h, "\"attr\" is missing or not an object");
	if (!strcmp(t, T_MAP)) {
		h->kind = K_MAP;
		return parse_map(im, h, obj, attr);
	}
	if (!strcmp(t, T_PROG)) {
		h->kind = K_PROG;
		return parse_prog(im, h, attr);
	}
	if (!strcmp(t, T_PERF)) {
		h->kind = K_PERF;
		return parse_perf(im, h, attr);
	}
	if (!strcmp(t, T_LINK)) {
		h->kind = K_LINK;
		return parse_link(im, h, attr);
	}
	if (!strcmp(t, T_BTF)) {
		h->kind = K_BTF;
		return get_hex(im, h, attr, "data", true, &h->btf, &h->btf_size);
	}
	if (!strcmp(t, T_DUP)) {
		h->kind = K_DUP;
		h->of = -1;
		return GET_S32(attr, "of", true, h->of);
	}
	return bad(im, h,
		   "unknown handler type '%s' (known: " T_MAP ", " T_PROG ", " T_PERF ", " T_LINK
		   ", " T_BTF ", " T_DUP ")",
		   t);
}

static struct handler *find(struct import *im, int fd)
{
	for (size_t i = 0; i < im->n; i++)
		if (im->h[i].fd == fd)
			return &im->h[i];
	return NULL;
}

/* the handler type @fd will have: from the file, else from the segment */
static enum bpftime_handler_type type_of(struct import *im, int fd)
{
	static const enum bpftime_handler_type kinds[] = {
		[K_MAP] = BPFTIME_HANDLER_MAP,	       [K_PROG] = BPFTIME_HANDLER_PROG,
		[K_PERF] = BPFTIME_HANDLER_PERF_EVENT, [K_LINK] = BPFTIME_HANDLER_LINK,
		[K_BTF] = BPFTIME_HANDLER_BTF,	       [K_DUP] = BPFTIME_HANDLER_NONE,
	};
	struct handler *h = find(im, fd);

	for (int depth = 0; h && h->kind == K_DUP && depth < 8; depth++)
		h = find(im, fd = h->of);
	if (h && h->kind == K_DUP)
		return BPFTIME_HANDLER_NONE; /* a cycle of dups */
	return h ? kinds[h->kind] : bpftime_handler_get_type(im->shm, fd);
}

static int check_refs(struct import *im)
{
	int max_fd = bpftime_shm__max_fd(im->shm);

	for (size_t i = 0; i < im->n; i++) {
		struct handler *h = &im->h[i];

		if (h->fd < 0 || h->fd >= max_fd)
			return bad(im, h, "fd out of range (the segment has %d slots)", max_fd);
		if (find(im, h->fd) != h)
			return bad(im, h, "fd appears twice");
		if (bpftime_handler_get_type(im->shm, h->fd) != BPFTIME_HANDLER_NONE)
			return bad(im, h, "fd %d is already used in '%s'", h->fd,
				   bpftime_shm__name(im->shm));
	}
	for (size_t i = 0; i < im->n; i++) {
		struct handler *h = &im->h[i];
		int err = h->kind == K_PROG ? verify_prog(im, h) : 0; /* once every map is known */

		if (err)
			return err;
		for (size_t j = 0; h->kind == K_PROG && j < h->nattach; j++)
			if (type_of(im, h->attach_fds[j]) != BPFTIME_HANDLER_PERF_EVENT)
				return bad(im, h, "attach_fds: %d is not a perf event",
					   h->attach_fds[j]);
		if (h->kind == K_PROG && h->prog_btf_fd >= 0 &&
		    type_of(im, h->prog_btf_fd) != BPFTIME_HANDLER_BTF)
			return bad(im, h, "prog_btf_fd %d is not a BTF", h->prog_btf_fd);
		if (h->kind == K_DUP && type_of(im, h->fd) == BPFTIME_HANDLER_NONE)
			return bad(im, h, "a duplicate of fd %d, which does not exist", h->of);
		if (h->kind == K_LINK) {
			if (type_of(im, h->prog_fd) != BPFTIME_HANDLER_PROG)
				return bad(im, h, "prog_fd %d is not a program", h->prog_fd);
			if (type_of(im, h->target_fd) == BPFTIME_HANDLER_NONE)
				return bad(im, h, "target_fd %d does not exist", h->target_fd);
		}
		if (h->kind == K_MAP && is_fd_map(h->map_type)) {
			enum bpftime_handler_type want =
				h->map_type == BPFTIME_MAP_PROG_ARRAY ? BPFTIME_HANDLER_PROG
				: h->map_type == BPFTIME_MAP_PERF_EVENT_ARRAY
					? BPFTIME_HANDLER_PERF_EVENT
					: BPFTIME_HANDLER_MAP;

			for (size_t j = 0; j < h->ndata; j++) {
				int32_t fd;

				memcpy(&fd, h->data[j].value, sizeof(fd));
				if (type_of(im, fd) != want)
					return bad(im, h, "data[%zu]: fd %d is not a %s", j, fd,
						   want == BPFTIME_HANDLER_PROG	 ? "program"
						   : want == BPFTIME_HANDLER_MAP ? "map"
										 : "perf event");
			}
		}
	}
	for (size_t i = 0; i < im->npins; i++) {
		char path[BPFTIME_PIN_PATH_MAX];

		if (type_of(im, im->pins[i].fd) == BPFTIME_HANDLER_NONE)
			return bad(im, NULL, "pin '%s': fd %d does not exist", im->pins[i].path,
				   im->pins[i].fd);
		if (strlen(im->pins[i].path) >= BPFTIME_PIN_PATH_MAX)
			return bad(im, NULL, "pin '%s': path too long", im->pins[i].path);
		for (int j = 0; j < BPFTIME_MAX_PINS; j++) {
			int r = bpftime_obj_pin_at(im->shm, j, path, sizeof(path));

			if (r == -EINVAL)
				break;
			if (r >= 0 && !strcmp(path, im->pins[i].path))
				return bad(im, NULL, "pin '%s' already exists", path);
		}
	}
	return 0;
}

static int parse_all(struct import *im, json_t *root, int single_fd)
{
	json_t *list, *pins, *v;
	const char *key;
	size_t i = 0;
	int err;

	if (single_fd >= 0) {
		im->h = calloc(1, sizeof(*im->h));
		if (!im->h)
			return -ENOMEM;
		im->n = 1;
		im->h[0].fd = single_fd;
		return parse_handler(im, &im->h[0], root);
	}
	if (!json_is_object(root))
		return bad(im, NULL, "expected an object with \"handlers\" or keyed by fd");
	list = json_object_get(root, "handlers");
	if (list) {
		if (!json_is_array(list))
			return bad(im, NULL, "\"handlers\" must be an array");
		im->h = calloc(json_array_size(list) + 1, sizeof(*im->h));
		if (!im->h)
			return -ENOMEM;
		json_array_foreach(list, i, v)
		{
			struct handler *h = &im->h[im->n++];
			json_t *fd = json_object_get(v, "fd");

			h->fd = -1;
			if (!json_is_integer(fd) || json_integer_value(fd) < 0 ||
			    json_integer_value(fd) > INT32_MAX)
				return bad(im, NULL,
					   "handlers[%zu]: \"fd\" is missing or not an fd", i);
			h->fd = (int)json_integer_value(fd);
			err = parse_handler(im, h, v);
			if (err)
				return err;
		}
		pins = json_object_get(root, "pins");
		if (pins && !json_is_array(pins))
			return bad(im, NULL, "\"pins\" must be an array");
		im->pins = calloc(json_array_size(pins) + 1, sizeof(*im->pins));
		if (!im->pins)
			return -ENOMEM;
		json_array_foreach(pins, i, v)
		{
			json_t *path = json_object_get(v, "path"), *fd = json_object_get(v, "fd");

			if (!json_is_string(path) || !json_is_integer(fd))
				return bad(im, NULL, "pins[%zu] needs \"path\" and \"fd\"", i);
			im->pins[im->npins].path = json_string_value(path);
			im->pins[im->npins++].fd = (int)json_integer_value(fd);
		}
		return 0;
	}
	/* bpftime's shape: {"3": {...}, "4": {...}} */
	im->h = calloc(json_object_size(root) + 1, sizeof(*im->h));
	if (!im->h)
		return -ENOMEM;
	json_object_foreach(root, key, v)
	{
		struct handler *h = &im->h[im->n++];
		char *end;
		long fd;

		errno = 0;
		fd = strtol(key, &end, 10);
		if (!*key || *end || errno || fd < 0 || fd > INT32_MAX)
			return bad(im, NULL,
				   "key \"%s\" is not an fd (expected \"handlers\" or fd keys)",
				   key);
		h->fd = (int)fd;
		err = parse_handler(im, h, v);
		if (err)
			return err;
	}
	return 0;
}

/* ---- import: apply ----------------------------------------------------- */

/* a free slot no handler of the file will take (a template for map-in-map) */
static int spare_fd(struct import *im)
{
	for (int fd = bpftime_shm__max_fd(im->shm) - 1; fd >= 0; fd--)
		if (!find(im, fd) && bpftime_handler_get_type(im->shm, fd) == BPFTIME_HANDLER_NONE)
			return fd;
	return -EMFILE;
}

static int apply_map(struct import *im, struct handler *h)
{
	int tmpl = -1, fd, err = 0;

	if (is_map_in_map(h->map_type)) {
		BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = h->inner[4]);

		tmpl = spare_fd(im);
		if (tmpl >= 0)
			tmpl = bpftime_map_create(im->shm, tmpl, h->inner[0], "inner", h->inner[1],
						  h->inner[2], h->inner[3], &o);
		if (tmpl < 0)
			return tmpl;
		h->mopts.inner_map_fd = tmpl;
	}
	fd = bpftime_map_create(im->shm, h->fd, h->map_type, h->name, h->key_size, h->value_size,
				h->max_entries, &h->mopts);
	if (tmpl >= 0)
		bpftime_handler_close(im->shm, tmpl);
	if (fd < 0)
		return fd;
	h->created = fd;
	if (is_fd_map(h->map_type))
		return 0; /* filled once the objects exist */
	for (size_t j = 0; j < h->ndata; j++) {
		/* a stack was exported top first: push it back bottom first */
		size_t k = h->map_type == BPFTIME_MAP_STACK ? h->ndata - 1 - j : j;

		err = bpftime_map_update_elem(im->shm, fd,
					      is_queue(h->map_type) ? NULL : h->data[k].key,
					      h->data[k].value, BPFTIME_ANY);
		if (err)
			break;
	}
	return err;
}

static int apply_fd_map_data(struct import *im, struct handler *h)
{
	for (size_t j = 0; j < h->ndata; j++) {
		int err = bpftime_map_update_elem(im->shm, h->fd, h->data[j].key, h->data[j].value,
						  BPFTIME_ANY);

		if (err)
			return err;
	}
	return 0;
}

static const char *kind_name(enum kind k)
{
	static const char *const names[] = { T_MAP, T_PROG, T_PERF, T_LINK, T_BTF, T_DUP };

	return names[k];
}

static int apply_one(struct import *im, struct handler *h)
{
	int fd;

	switch (h->kind) {
	case K_BTF:
		fd = bpftime_btf_create(im->shm, h->fd, h->btf, h->btf_size);
		break;
	case K_MAP:
		return apply_map(im, h);
	case K_PROG: {
		BPFTIME_OPTS(bpftime_prog_create_opts, o,
			     .expected_attach_type = h->expected_attach_type, .license = h->license,
			     .prog_btf_fd = h->prog_btf_fd, .func_info = h->finfo,
			     .func_info_rec_size = h->finfo_rec,
			     .func_info_cnt = (uint32_t)(h->finfo_len / h->finfo_rec),
			     .line_info = h->linfo, .line_info_rec_size = h->linfo_rec,
			     .line_info_cnt = (uint32_t)(h->linfo_len / h->linfo_rec));

		fd = bpftime_prog_create(im->shm, h->fd, h->prog_type, h->name,
					 (const struct bpftime_insn *)h->insns, h->cnt, &o);
		if (fd >= 0 && h->aot) {
			h->created = fd;
			return bpftime_prog_set_aot(im->shm, fd, h->aot, h->aot_size);
		}
		break;
	}
	case K_PERF:
		fd = bpftime_perf_event_create(im->shm, h->fd, &h->popts);
		if (fd >= 0 && h->enabled) {
			h->created = fd;
			return bpftime_perf_event_enable(im->shm, fd, true);
		}
		break;
	case K_LINK:
		fd = bpftime_link_create(im->shm, h->fd, h->prog_fd, h->target_fd, &h->lopts);
		break;
	case K_DUP:
		fd = bpftime_handler_dup(im->shm, h->of, h->fd);
		break;
	default:
		return -EINVAL;
	}
	if (fd >= 0)
		h->created = fd;
	return fd < 0 ? fd : 0;
}

static void undo(struct import *im)
{
	for (size_t i = im->pins_done; i-- > 0;)
		bpftime_obj_unpin(im->shm, im->pins[i].path);
	for (size_t i = im->n; i-- > 0;)
		if (im->h[i].created >= 0)
			bpftime_handler_close(im->shm, im->h[i].created);
}

static int apply_all(struct import *im)
{
	static const enum kind order[] = { K_BTF, K_MAP, K_PROG, K_PERF };
	struct handler *h = NULL;
	const char *what = "creating it";
	int err = 0;

	for (size_t i = 0; i < im->n; i++)
		im->h[i].created = -1;
	for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
		for (size_t i = 0; i < im->n; i++) {
			h = &im->h[i];
			if (h->kind != order[k])
				continue;
			pr_info("import handler type %s fd %d\n", kind_name(h->kind), h->fd);
			err = apply_one(im, h);
			if (err)
				goto fail;
		}
	}
	for (size_t i = 0; i < im->n; i++) {
		h = &im->h[i];
		what = "adding its attach fds";
		for (size_t j = 0; !err && h->kind == K_PROG && j < h->nattach; j++)
			err = bpftime_prog_add_attach_fd(im->shm, h->fd, h->attach_fds[j]);
		if (err)
			goto fail;
		what = "storing its contents";
		if (h->kind == K_MAP && is_fd_map(h->map_type))
			err = apply_fd_map_data(im, h);
		if (err)
			goto fail;
	}
	what = "creating it";
	for (size_t i = 0; i < im->n; i++) {
		h = &im->h[i];
		if (h->kind != K_LINK)
			continue;
		pr_info("import handler type %s fd %d\n", kind_name(h->kind), h->fd);
		err = apply_one(im, h);
		if (err)
			goto fail;
	}
	for (size_t pass = 0; pass < im->n; pass++) {
		/* dups of dups: repeat until each found its original */
		bool progress = false;

		for (size_t i = 0; i < im->n; i++) {
			h = &im->h[i];
			if (h->kind != K_DUP || h->created >= 0 ||
			    bpftime_handler_get_type(im->shm, h->of) == BPFTIME_HANDLER_NONE)
				continue;
			err = apply_one(im, h);
			if (err)
				goto fail;
			progress = true;
		}
		if (!progress)
			break;
	}
	what = "freezing it";
	for (size_t i = 0; i < im->n; i++) {
		h = &im->h[i];
		if (h->kind == K_MAP && h->frozen)
			err = bpftime_map_freeze(im->shm, h->fd);
		if (err)
			goto fail;
	}
	what = "pinning it";
	for (size_t i = 0; i < im->npins; i++) {
		h = find(im, im->pins[i].fd);
		err = bpftime_obj_pin(im->shm, im->pins[i].fd, im->pins[i].path);
		if (err)
			goto fail;
		im->pins_done++;
	}
	/* imported state belongs to nobody: it outlives this tool */
	for (size_t i = 0; i < im->n; i++)
		bpftime_handler_set_owner(im->shm, im->h[i].fd, 0);
	return 0;
fail:
	undo(im);
	if (h && h->kind == K_MAP && h->created < 0 && err == -EINVAL)
		bad(im, h,
		    "map type %s refuses key_size %u, value_size %u, max_entries %u, flags 0x%x; "
		    "nothing was imported",
		    libbpf_bpf_map_type_str((enum bpf_map_type)h->map_type), h->key_size,
		    h->value_size, h->max_entries, h->flags);
	else if (h && h->kind == K_MAP && h->created >= 0 && !strcmp(what, "creating it"))
		bad(im, h, "storing its contents failed: %s; nothing was imported", strerror(-err));
	else if (h)
		bad(im, h, "%s failed: %s; nothing was imported", what, strerror(-err));
	else
		bad(im, NULL, "%s failed: %s; nothing was imported", what, strerror(-err));
	return err;
}

static void import_free(struct import *im)
{
	for (size_t i = 0; i < im->n; i++) {
		struct handler *h = &im->h[i];

		for (size_t j = 0; j < h->ndata; j++) {
			free(h->data[j].key);
			free(h->data[j].value);
		}
		free(h->data);
		free(h->insns);
		free(h->aot);
		free(h->finfo);
		free(h->linfo);
		free(h->btf);
	}
	free(im->h);
	free(im->pins);
}

int tool_import(struct bpftime_shm *shm, const char *text, size_t len, const char *source,
		int single_fd)
{
	struct import im = { .shm = shm, .source = source, .ncpus = bpftime_shm__ncpus(shm) };
	json_error_t jerr;
	json_t *root;
	int err;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		tool_err("%s:%d:%d: malformed JSON: %s; nothing was imported", source, jerr.line,
			 jerr.column, jerr.text);
		return -EINVAL;
	}
	err = parse_all(&im, root, single_fd);
	if (!err)
		err = check_refs(&im);
	if (err) {
		if (err == -ENOMEM)
			tool_err("%s: out of memory", source);
		else
			tool_err("%s: nothing was imported", source);
	}
	if (!err)
		err = apply_all(&im);
	import_free(&im);
	json_decref(root);
	return err ? err : (int)im.n;
}
