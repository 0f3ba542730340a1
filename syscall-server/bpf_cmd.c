/* SPDX-License-Identifier: MIT */
/* syscall-server/bpf_cmd.c: bpf(2) answered from the shared memory.
 *
 * srv_bpf() copies the attribute union like the kernel does (a larger union
 * is fine if its tail is zero, else E2BIG), dispatches on the command and
 * returns the kernel's result: a new fd, 0, or -errno with the kernel's
 * codes (EBADF for a closed fd, EINVAL for an fd of the wrong kind, ENOENT,
 * E2BIG...).  Results the kernel writes back into the caller's union (next
 * ids, info lengths, batch counts, test-run results) are written there too.
 *
 * Attachments: every attachment is a link handler in the segment (what
 * agents follow).  LINK_CREATE makes one the loader holds; the legacy
 * PERF_EVENT_IOC_SET_BPF makes one tied to the perf event fd (perf.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"

#define u64_ptr(x) ((void *)(uintptr_t)(x))

int srv_bad_fd(int fd)
{
	if (fd < 0 || srv_real.fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	return -EINVAL;
}

/* 0 if @fd is one of ours holding an object of @type, else the kernel's error */
static int want(int fd, enum bpftime_handler_type type)
{
	if (srv_is_ours(fd) && srv_fd(fd)->kind == SRV_FD_HANDLER &&
	    bpftime_handler_get_type(srv.shm, fd) == type)
		return 0;
	return srv_bad_fd(fd);
}

static uint32_t obj_id(int fd)
{
	struct bpftime_handler_info hi;

	if (fd <= 0 || bpftime_handler_get_info(srv.shm, fd, &hi))
		return 0;
	return hi.id;
}

/* ---- maps ------------------------------------------------------------- */

static bool is_fd_map(uint32_t type)
{
	return type == BPF_MAP_TYPE_PROG_ARRAY || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY ||
	       type == BPF_MAP_TYPE_ARRAY_OF_MAPS || type == BPF_MAP_TYPE_HASH_OF_MAPS ||
	       type == BPF_MAP_TYPE_STACK_TRACE;
}

struct map_create_ctx {
	const union bpf_attr *a;
	const char *name;
	int32_t spin_lock_off; /* -1: none */
};

/* The kernel's map_check_btf, read from the BTF blob the loader stored with
 * BTF_LOAD: the key and value types (when given) have the map's key and
 * value sizes, and a struct bpf_spin_lock is looked for in the value: the
 * value type, typedefs and qualifiers skipped, is a struct; a member whose
 * type is the struct named bpf_spin_lock is the lock (4-byte aligned; a
 * second one is E2BIG).  Returns 0 with *@off the byte offset or -1, or
 * -errno. */
static int map_check_btf(const union bpf_attr *a, int32_t *off)
{
	const struct btf_type *t;
	const void *data;
	struct btf *btf;
	size_t size;
	int ret = 0;

	*off = -1;
	if (!a->btf_value_type_id)
		return 0;
	data = bpftime_btf_data(srv.shm, (int)a->btf_fd, &size);
	if (!data)
		return -EBADF;
	btf = btf__new(data, (uint32_t)size);
	if (!btf)
		return -EINVAL;
	if ((a->btf_key_type_id &&
	     btf__resolve_size(btf, a->btf_key_type_id) != (long long)a->key_size) ||
	    btf__resolve_size(btf, a->btf_value_type_id) != (long long)a->value_size) {
		btf__free(btf);
		return -EINVAL;
	}
	t = btf__type_by_id(btf, a->btf_value_type_id);
	while (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t)
		ret = -EINVAL;
	for (uint16_t i = 0; !ret && btf_is_struct(t) && i < btf_vlen(t); i++) {
		const struct btf_type *mt = btf__type_by_id(btf, btf_members(t)[i].type);
		uint32_t bit = btf_member_bit_offset(t, i);

		if (!mt || !btf_is_struct(mt) ||
		    strcmp(btf__name_by_offset(btf, mt->name_off) ?: "", "bpf_spin_lock"))
			continue;
		if (*off >= 0)
			ret = -E2BIG;
		else if (bit % 32)
			ret = -EINVAL;
		else
			*off = (int32_t)(bit / 8);
	}
	btf__free(btf);
	return ret;
}

/* map types whose values may hold a spin lock (the kernel's map_check_btf) */
static bool spin_lock_ok(uint32_t type)
{
	return type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_ARRAY ||
	       type == BPF_MAP_TYPE_CGROUP_STORAGE || type == BPF_MAP_TYPE_SK_STORAGE ||
	       type == BPF_MAP_TYPE_INODE_STORAGE || type == BPF_MAP_TYPE_TASK_STORAGE ||
	       type == 32 /* BPF_MAP_TYPE_CGRP_STORAGE, newer than our headers */;
}

static int make_map(int fd, void *ctx)
{
	const struct map_create_ctx *c = ctx;
	const union bpf_attr *a = c->a;
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = a->map_flags,
		     .inner_map_fd = a->inner_map_fd ? (int32_t)a->inner_map_fd : -1,
		     .btf_fd = a->btf_fd, .btf_key_type_id = a->btf_key_type_id,
		     .btf_value_type_id = a->btf_value_type_id,
		     .btf_vmlinux_value_type_id = a->btf_vmlinux_value_type_id,
		     .map_extra = a->map_extra, .numa_node = a->numa_node,
		     .spin_lock_off = c->spin_lock_off, .has_spin_lock = c->spin_lock_off >= 0,
		     .kernel = srv.kernel);

	return bpftime_map_create(srv.shm, fd, a->map_type, c->name, a->key_size, a->value_size,
				  a->max_entries, &o);
}

static int map_create(const union bpf_attr *a)
{
	struct map_create_ctx c = { .a = a, .spin_lock_off = -1 };
	char name[BPF_OBJ_NAME_LEN + 1];
	int ret;

	memcpy(name, a->map_name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;
	if (strnlen(name, BPF_OBJ_NAME_LEN + 1) >= BPF_OBJ_NAME_LEN)
		return -EINVAL;
	c.name = name;
	if (a->map_ifindex)
		return -EINVAL; /* no devices to offload to */
	if (a->btf_key_type_id || a->btf_value_type_id || a->btf_vmlinux_value_type_id) {
		ret = want((int)a->btf_fd, BPFTIME_HANDLER_BTF);
		if (ret)
			return ret;
		/* the kernel's map_check_btf: fd maps and stack traces take no BTF */
		if (is_fd_map(a->map_type))
			return -EINVAL;
		ret = map_check_btf(a, &c.spin_lock_off);
		if (ret)
			return ret;
		if (c.spin_lock_off >= 0 && !spin_lock_ok(a->map_type))
			return -EOPNOTSUPP;
	}
	if ((a->map_type == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
	     a->map_type == BPF_MAP_TYPE_HASH_OF_MAPS)) {
		ret = want((int)a->inner_map_fd, BPFTIME_HANDLER_MAP);
		if (ret)
			return ret;
	}
	ret = srv_new_fd(make_map, &c, true);
	/* -ENOMEM was logged by maps/, naming BPFTIME_SHM_MEMORY_MB */
	if (ret < 0 && ret != -EINVAL && ret != -E2BIG && ret != -ENOMEM)
		pr_warn("syscall server: cannot create map '%s' (type %u, key %u, value %u, %u "
			"entries): %s\n",
			name, a->map_type, a->key_size, a->value_size, a->max_entries,
			strerror(-ret));
	return ret;
}

static int map_info(int fd, struct bpftime_map_info *mi)
{
	int ret = want(fd, BPFTIME_HANDLER_MAP);

	if (ret)
		return ret;
	return bpftime_map_get_info(srv.shm, fd, mi);
}

static int map_elem(int cmd, const union bpf_attr *a)
{
	int fd = (int)a->map_fd, ret = want(fd, BPFTIME_HANDLER_MAP);
	void *key = u64_ptr(a->key), *value = u64_ptr(a->value);
	struct bpftime_map *h;
	uint32_t type;

	if (ret)
		return ret;
	/* the handle is cached per process: cheaper than the full info */
	h = bpftime_map_get_handle(srv.shm, fd);
	if (!h)
		return -EBADF;
	type = bpftime_map__type(h);
	if (type == BPF_MAP_TYPE_QUEUE || type == BPF_MAP_TYPE_STACK ||
	    type == BPF_MAP_TYPE_BLOOM_FILTER)
		key = NULL; /* key_size 0: the kernel ignores the pointer */
	/* a kernel program's fd into a prog array (kshare.c) */
	if (cmd == BPF_MAP_UPDATE_ELEM && type == BPF_MAP_TYPE_PROG_ARRAY && value) {
		ret = srv_kshare_prog_array_update(fd, key, value, a->flags);
		if (ret != SRV_KSHARE_PASS)
			return ret;
	}
	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
		return bpftime_map_lookup_elem(srv.shm, fd, key, value, a->flags);
	case BPF_MAP_UPDATE_ELEM:
		return bpftime_map_update_elem(srv.shm, fd, key, value, a->flags);
	case BPF_MAP_DELETE_ELEM:
		return bpftime_map_delete_elem(srv.shm, fd, key);
	case BPF_MAP_GET_NEXT_KEY:
		return bpftime_map_get_next_key(srv.shm, fd, key, u64_ptr(a->next_key));
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		return bpftime_map_lookup_and_delete_elem(srv.shm, fd, key, value, a->flags);
	default:
		return -EINVAL;
	}
}

/* Batch operations.  The batch token (in_batch/out_batch, 4 bytes as the
 * kernel's hash and array tokens) is the number of keys already returned in
 * get_next_key order; lookup-and-delete restarts from the first key each time
 * since what it returned is gone. */
static int map_batch(int cmd, const union bpf_attr *a, union bpf_attr *ua, unsigned int size)
{
	struct bpftime_map_info mi;
	int fd = (int)a->batch.map_fd, ret;
	uint32_t want_cnt = a->batch.count, done = 0, skip = 0;
	char *keys = u64_ptr(a->batch.keys), *vals = u64_ptr(a->batch.values);
	char *prev = NULL, *cur;

	ret = map_info(fd, &mi);
	if (ret)
		return ret;
	if (a->batch.flags)
		return -EINVAL;
	if (cmd == BPF_MAP_UPDATE_BATCH || cmd == BPF_MAP_DELETE_BATCH) {
		for (; done < want_cnt; done++) {
			char *k = keys + (size_t)done * mi.key_size;

			ret = cmd == BPF_MAP_UPDATE_BATCH
				      ? bpftime_map_update_elem(
						srv.shm, fd, k,
						vals + (size_t)done * mi.value_size_syscall,
						a->batch.elem_flags)
				      : bpftime_map_delete_elem(srv.shm, fd, k);
			if (ret)
				break;
		}
		goto out;
	}
	if (!mi.key_size)
		return -ENOTSUPP;
	if (cmd == BPF_MAP_LOOKUP_BATCH && a->batch.in_batch)
		memcpy(&skip, u64_ptr(a->batch.in_batch), sizeof(skip));
	cur = malloc(mi.key_size * 2u);
	if (!cur)
		return -ENOMEM;
	for (uint32_t i = 0;; i++) {
		char *next = cur + (i % 2) * mi.key_size;

		ret = bpftime_map_get_next_key(srv.shm, fd, prev, next);
		if (ret)
			break;
		prev = next;
		if (i < skip)
			continue;
		if (done == want_cnt)
			break;
		ret = bpftime_map_lookup_elem(srv.shm, fd, next,
					      vals + (size_t)done * mi.value_size_syscall,
					      a->batch.elem_flags);
		if (ret == -ENOENT)
			continue; /* deleted meanwhile */
		if (ret)
			break;
		memcpy(keys + (size_t)done * mi.key_size, next, mi.key_size);
		done++;
	}
	if (cmd == BPF_MAP_LOOKUP_AND_DELETE_BATCH && (!ret || ret == -ENOENT)) {
		for (uint32_t i = 0; i < done; i++)
			bpftime_map_delete_elem(srv.shm, fd, keys + (size_t)i * mi.key_size);
	}
	free(cur);
	if (a->batch.out_batch) {
		uint32_t tok = cmd == BPF_MAP_LOOKUP_BATCH ? skip + done : 0;

		memcpy(u64_ptr(a->batch.out_batch), &tok, sizeof(tok));
	}
out:
	if (size >= offsetofend(union bpf_attr, batch.count))
		ua->batch.count = done;
	return ret;
}

/* ---- pins, ids, dup ---------------------------------------------------- */

static int make_get(int fd, void *ctx)
{
	return bpftime_obj_get(srv.shm, ctx, fd);
}

static int obj_pin(const union bpf_attr *a)
{
	const char *path = u64_ptr(a->pathname);
	int fd = (int)a->bpf_fd;

	if (!srv_is_ours(fd) || srv_fd(fd)->kind != SRV_FD_HANDLER)
		return srv_bad_fd(fd);
	if (!path)
		return -EFAULT;
	return bpftime_obj_pin(srv.shm, fd, path);
}

static int obj_get(const union bpf_attr *a)
{
	const char *path = u64_ptr(a->pathname);

	if (!path)
		return -EFAULT;
	if (a->file_flags & ~(uint32_t)(BPF_F_RDONLY | BPF_F_WRONLY))
		return -EINVAL;
	return srv_new_fd(make_get, (void *)path, true);
}

static enum bpftime_handler_type id_cmd_type(int cmd)
{
	switch (cmd) {
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_PROG_GET_NEXT_ID:
		return BPFTIME_HANDLER_PROG;
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_MAP_GET_NEXT_ID:
		return BPFTIME_HANDLER_MAP;
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_BTF_GET_NEXT_ID:
		return BPFTIME_HANDLER_BTF;
	default:
		return BPFTIME_HANDLER_LINK;
	}
}

struct open_id_ctx {
	uint32_t id;
	enum bpftime_handler_type type;
};

static int make_open_id(int fd, void *ctx)
{
	const struct open_id_ctx *c = ctx;
	int ret = bpftime_handler_open_id(srv.shm, c->id, fd);

	if (ret >= 0 && bpftime_handler_get_type(srv.shm, ret) != c->type) {
		bpftime_handler_close(srv.shm, ret);
		return -ENOENT; /* an id of another kind of object */
	}
	return ret;
}

static int get_fd_by_id(int cmd, const union bpf_attr *a)
{
	struct open_id_ctx c = { a->prog_id, id_cmd_type(cmd) };

	if (!c.id)
		return -ENOENT;
	if (cmd == BPF_BTF_GET_FD_BY_ID && c.id == SRV_KBTF_ID)
		return srv_kbtf_open();
	return srv_new_fd(make_open_id, &c, true);
}

static int get_next_id(int cmd, const union bpf_attr *a, union bpf_attr *ua, unsigned int size)
{
	uint32_t next;
	int ret;

	if (a->start_id == UINT32_MAX)
		return -ENOENT;
	ret = bpftime_handler_next_id(srv.shm, id_cmd_type(cmd), a->start_id, &next);
	if (cmd == BPF_BTF_GET_NEXT_ID && a->start_id < SRV_KBTF_ID &&
	    (ret == -ENOENT || (!ret && next > SRV_KBTF_ID)) && srv_kbtf_available()) {
		next = SRV_KBTF_ID; /* the kernel's vmlinux BTF, after ours */
		ret = 0;
	}
	if (ret)
		return ret;
	if (size >= offsetofend(union bpf_attr, next_id))
		ua->next_id = next;
	return 0;
}

/* ---- OBJ_GET_INFO_BY_FD ------------------------------------------------ */

/* func info and line info as the kernel reports them: the counts, the
 * kernel's record sizes, and min(count asked, count held) records written
 * (the caller must name the kernel's record sizes).  The jited_* fields
 * are jited.c's. */
static int prog_btf_ext(int fd, const struct bpf_prog_info *u, struct bpf_prog_info *k)
{
	struct bpftime_prog_btf_ext e;
	int ret = bpftime_prog_get_btf_ext(srv.shm, fd, &e);

	if (ret)
		return ret;
	/* the caller's record sizes must be the kernel's (or 0 with no records) */
	if (((u->nr_func_info || u->func_info_rec_size) &&
	     u->func_info_rec_size != sizeof(struct bpf_func_info)) ||
	    ((u->nr_line_info || u->line_info_rec_size) &&
	     u->line_info_rec_size != sizeof(struct bpf_line_info)) ||
	    ((u->nr_jited_line_info || u->jited_line_info_rec_size) &&
	     u->jited_line_info_rec_size != sizeof(uint64_t)))
		return -EINVAL;
	k->func_info_rec_size = sizeof(struct bpf_func_info);
	k->line_info_rec_size = sizeof(struct bpf_line_info);
	k->jited_line_info_rec_size = sizeof(uint64_t);
	k->nr_func_info = e.func_info_cnt;
	k->nr_line_info = e.line_info_cnt;
	if (u->nr_func_info && e.func_info_cnt) {
		if (!u->func_info)
			return -EFAULT;
		for (uint32_t i = 0; i < MIN(u->nr_func_info, e.func_info_cnt); i++)
			memcpy((char *)u64_ptr(u->func_info) + i * sizeof(struct bpf_func_info),
			       (const char *)e.func_info + (size_t)i * e.func_info_rec_size,
			       sizeof(struct bpf_func_info));
	}
	if (u->nr_line_info && e.line_info_cnt) {
		if (!u->line_info)
			return -EFAULT;
		for (uint32_t i = 0; i < MIN(u->nr_line_info, e.line_info_cnt); i++)
			memcpy((char *)u64_ptr(u->line_info) + i * sizeof(struct bpf_line_info),
			       (const char *)e.line_info + (size_t)i * e.line_info_rec_size,
			       sizeof(struct bpf_line_info));
	}
	k->func_info = u->func_info;
	k->line_info = u->line_info;
	k->jited_prog_insns = u->jited_prog_insns;
	k->jited_ksyms = u->jited_ksyms;
	k->jited_func_lens = u->jited_func_lens;
	k->jited_line_info = u->jited_line_info;
	return 0;
}

static int prog_info(int fd, struct bpf_prog_info *u, struct bpf_prog_info *k)
{
	struct bpftime_prog_info pi;
	uint32_t ids[BPFTIME_PROG_MAX_MAPS];
	const struct bpftime_insn *insns;
	size_t cnt;
	int ret = bpftime_prog_get_info(srv.shm, fd, &pi);

	if (ret)
		return ret;
	k->type = pi.type;
	k->id = pi.id;
	k->created_by_uid = pi.created_by_uid;
	k->load_time = pi.load_time;
	k->run_cnt = pi.run_cnt;
	k->run_time_ns = pi.run_time_ns;
	k->verified_insns = pi.insn_cnt;
	k->xlated_prog_len = pi.insn_cnt * 8;
	if (u->xlated_prog_insns && u->xlated_prog_len) {
		struct bpftime_insn *out = u64_ptr(u->xlated_prog_insns);
		size_t n;

		insns = bpftime_prog_insns(srv.shm, fd, &cnt);
		n = insns ? MIN((size_t)u->xlated_prog_len / 8, cnt) : 0;
		/* stored as the kernel's xlated form: map references carry map
		 * ids; context accesses are shown rewritten (srv_prog_xlated) */
		if (n)
			srv_prog_xlated(fd, insns, out, n);
	}
	k->xlated_prog_insns = u->xlated_prog_insns;
	insns = bpftime_prog_insns(srv.shm, fd, &cnt);
	if (insns) {
		ret = srv_prog_tag(insns, cnt, k->tag);
		if (ret)
			return ret;
	}
	ret = bpftime_prog_map_ids(srv.shm, fd, ids, (int)ARRAY_SIZE(ids));
	if (ret < 0)
		return ret;
	k->nr_map_ids = (uint32_t)ret;
	if (u->map_ids && u->nr_map_ids)
		memcpy(u64_ptr(u->map_ids), ids,
		       MIN(u->nr_map_ids, (uint32_t)ret) * sizeof(uint32_t));
	k->map_ids = u->map_ids;
	memcpy(k->name, pi.name, MIN(sizeof(k->name), sizeof(pi.name)));
	k->btf_id = pi.btf_id;
	ret = prog_btf_ext(fd, u, k);
	if (ret)
		return ret;
	k->attach_btf_id = pi.attach_btf_id;
	ret = srv_prog_jited_info(fd, u, k);
	if (ret)
		return ret;
	k->gpl_compatible = !strcmp(pi.license, "GPL") || !strcmp(pi.license, "Dual BSD/GPL") ||
			    !strcmp(pi.license, "GPL v2") || !strcmp(pi.license, "Dual MIT/GPL");
	/* a program that runs in the kernel: the kernel's JIT image and run
	 * statistics (kshare.c) */
	if (pi.kernel_id)
		srv_kshare_prog_info(pi.kernel_id, u, k);
	return 0;
}

static int map_info_k(int fd, struct bpf_map_info *k)
{
	struct bpftime_map_info mi;
	int ret = bpftime_map_get_info(srv.shm, fd, &mi);

	if (ret)
		return ret;
	k->type = mi.type;
	k->id = mi.id;
	k->key_size = mi.key_size;
	k->value_size = mi.value_size;
	k->max_entries = mi.max_entries;
	k->map_flags = mi.map_flags;
	memcpy(k->name, mi.name, MIN(sizeof(k->name), sizeof(mi.name)));
	k->btf_id = mi.btf_id;
	k->btf_key_type_id = mi.btf_key_type_id;
	k->btf_value_type_id = mi.btf_value_type_id;
	k->btf_vmlinux_value_type_id = mi.btf_vmlinux_value_type_id;
	k->map_extra = mi.map_extra;
	return 0;
}

static int link_info_k(int fd, struct bpf_link_info *k)
{
	struct bpftime_link_info li;
	int ret = bpftime_link_get_info(srv.shm, fd, &li);

	if (ret)
		return ret;
	k->type = BPF_LINK_TYPE_PERF_EVENT;
	k->id = li.id;
	k->prog_id = li.prog_id;
	return 0;
}

static int btf_info_k(int fd, struct bpf_btf_info *u, struct bpf_btf_info *k)
{
	const void *data;
	size_t size;

	data = bpftime_btf_data(srv.shm, fd, &size);
	if (!data)
		return -EBADF;
	k->id = obj_id(fd);
	k->btf = u->btf;
	k->btf_size = (uint32_t)size;
	if (u->btf) {
		if (u->btf_size < size)
			return -ENOSPC;
		memcpy(u64_ptr(u->btf), data, size);
	}
	return 0;
}

/* OBJ_GET_INFO_BY_FD on the kernel's BTF (kbtf.c) */
static int kbtf_get_info(const union bpf_attr *a, union bpf_attr *ua, unsigned int size)
{
	struct bpf_btf_info u, k;
	uint32_t len = a->info.info_len;
	const char *uinfo = u64_ptr(a->info.info);
	int ret;

	for (uint32_t i = sizeof(u); i < len; i++)
		if (uinfo[i])
			return -E2BIG;
	len = MIN(len, (uint32_t)sizeof(u));
	memset(&u, 0, sizeof(u));
	memset(&k, 0, sizeof(k));
	memcpy(&u, uinfo, len);
	ret = srv_kbtf_info(&u, &k);
	if (ret)
		return ret;
	memcpy((void *)uinfo, &k, len);
	if (size >= offsetofend(union bpf_attr, info.info_len))
		ua->info.info_len = len;
	return 0;
}

static int get_info(const union bpf_attr *a, union bpf_attr *ua, unsigned int size)
{
	union {
		struct bpf_prog_info p;
		struct bpf_map_info m;
		struct bpf_link_info l;
		struct bpf_btf_info b;
	} u, k;
	int fd = (int)a->info.bpf_fd, ret;
	uint32_t len = a->info.info_len, ksize;
	const char *uinfo = u64_ptr(a->info.info);

	if (srv_is_ours(fd) && srv_fd(fd)->kind == SRV_FD_KBTF)
		return kbtf_get_info(a, ua, size);
	if (!srv_is_ours(fd) || srv_fd(fd)->kind != SRV_FD_HANDLER) {
		ret = srv_bad_fd(fd);
		return ret == -EBADF ? -EBADFD : ret; /* the kernel's code for this one */
	}
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_PROG:
		ksize = sizeof(struct bpf_prog_info);
		break;
	case BPFTIME_HANDLER_MAP:
		ksize = sizeof(struct bpf_map_info);
		break;
	case BPFTIME_HANDLER_LINK:
		ksize = sizeof(struct bpf_link_info);
		break;
	case BPFTIME_HANDLER_BTF:
		ksize = sizeof(struct bpf_btf_info);
		break;
	default:
		return -EINVAL; /* perf events have no info */
	}
	/* the kernel's bpf_check_uarg_tail_zero: bytes we do not know must be 0 */
	for (uint32_t i = ksize; i < len; i++)
		if (uinfo[i])
			return -E2BIG;
	len = MIN(len, ksize);
	memset(&u, 0, sizeof(u));
	memset(&k, 0, sizeof(k));
	memcpy(&u, uinfo, len);
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_PROG:
		ret = prog_info(fd, &u.p, &k.p);
		break;
	case BPFTIME_HANDLER_MAP:
		ret = map_info_k(fd, &k.m);
		break;
	case BPFTIME_HANDLER_LINK:
		ret = link_info_k(fd, &k.l);
		break;
	default:
		ret = btf_info_k(fd, &u.b, &k.b);
		break;
	}
	if (ret)
		return ret;
	memcpy((void *)uinfo, &k, len);
	if (size >= offsetofend(union bpf_attr, info.info_len))
		ua->info.info_len = len;
	return 0;
}

/* ---- BTF ---------------------------------------------------------------- */

struct btf_blob {
	const void *data;
	size_t size;
};

static int make_btf(int fd, void *ctx)
{
	const struct btf_blob *b = ctx;

	return bpftime_btf_create(srv.shm, fd, b->data, b->size);
}

static void put_log(uint64_t buf, uint32_t size, const char *msg)
{
	if (buf && size) {
		strncpy(u64_ptr(buf), msg, size - 1);
		((char *)u64_ptr(buf))[size - 1] = 0;
	}
}

static int btf_load(const union bpf_attr *a)
{
	struct btf_blob b = { u64_ptr(a->btf), a->btf_size };
	struct {
		uint16_t magic;
		uint8_t version, flags;
		uint32_t hdr_len, type_off, type_len, str_off, str_len;
	} h;
	const char *why = NULL;

	if (a->btf_size > (16u << 20))
		return -E2BIG;
	if (!b.data || b.size < sizeof(h)) {
		why = "btf header not found";
	} else {
		memcpy(&h, b.data, sizeof(h));
		if (h.magic != 0xeB9F)
			why = "invalid magic";
		else if (h.version != 1)
			why = "unsupported version";
		else if (h.flags)
			why = "unsupported flags";
		else if (h.hdr_len < sizeof(h) || h.hdr_len > b.size)
			why = "invalid header length";
		else if ((uint64_t)h.type_off + h.type_len > b.size - h.hdr_len ||
			 (uint64_t)h.str_off + h.str_len > b.size - h.hdr_len || !h.str_len)
			why = "invalid section offsets";
	}
	if (why) {
		put_log(a->btf_log_buf, a->btf_log_size, why);
		return -EINVAL;
	}
	put_log(a->btf_log_buf, a->btf_log_size, "");
	return srv_new_fd(make_btf, &b, true);
}

/* ---- links -------------------------------------------------------------- */

struct link_ctx {
	int prog_fd, target_fd;
	uint32_t attach_type;
	uint64_t cookie;
};

static int make_link(int fd, void *ctx)
{
	const struct link_ctx *c = ctx;
	BPFTIME_OPTS(bpftime_link_opts, o, .attach_type = c->attach_type, .cookie = c->cookie);

	return bpftime_link_create(srv.shm, fd, c->prog_fd, c->target_fd, &o);
}

static int link_create(const union bpf_attr *a)
{
	struct link_ctx c = {
		.prog_fd = (int)a->link_create.prog_fd,
		.target_fd = (int)a->link_create.target_fd,
		.attach_type = a->link_create.attach_type,
		.cookie = a->link_create.perf_event.bpf_cookie,
	};
	struct bpftime_prog_info pi;
	int ret = srv_kshare_link_create(a); /* a kernel target (kshare.c) */

	if (ret != SRV_KSHARE_PASS)
		return ret;
	ret = want(c.prog_fd, BPFTIME_HANDLER_PROG);
	if (ret)
		return ret;
	if (c.attach_type != BPF_PERF_EVENT) {
		ret = srv_refuse_dev_attach(c.attach_type, c.prog_fd, c.target_fd);
		if (ret)
			return ret;
		pr_warn("syscall server: LINK_CREATE with attach type %u is not supported in "
			"userspace\n",
			c.attach_type);
		return c.target_fd < 0 ? -EBADF : -EOPNOTSUPP;
	}
	ret = want(c.target_fd, BPFTIME_HANDLER_PERF_EVENT);
	if (ret)
		return ret == -EINVAL ? -EBADF : ret; /* perf_event_get: not a perf fd */
	if (bpftime_prog_get_info(srv.shm, c.prog_fd, &pi) ||
	    (pi.type != BPF_PROG_TYPE_KPROBE && pi.type != BPF_PROG_TYPE_TRACEPOINT &&
	     pi.type != BPF_PROG_TYPE_PERF_EVENT))
		return -EINVAL; /* only these program types go on perf events */
	if (a->link_create.flags)
		return -EINVAL;
	ret = bpftime_perf_event_set_cookie(srv.shm, c.target_fd, c.cookie);
	if (ret)
		return ret;
	return srv_new_fd(make_link, &c, true);
}

static int link_detach(const union bpf_attr *a)
{
	int fd = (int)a->link_detach.link_fd;
	int ret = want(fd, BPFTIME_HANDLER_LINK);

	if (ret)
		return ret;
	/* every link here is a perf-event link, and the kernel's perf links
	 * have no detach operation: close the fd instead */
	return -EOPNOTSUPP;
}

/* PROG_ATTACH/DETACH attach to cgroups, sockmaps, flow dissectors, lirc
 * devices: nothing a userspace runtime hooks.  The fds are checked as the
 * kernel would, then the command is refused.  One exception is bpftime's
 * own: BPF_MODIFY_RETURN with a perf event of type 1008 (uprobe override)
 * as the target puts the program on that perf event, as the original's
 * error-injection loaders do (their attach_override.h); PROG_DETACH takes
 * it off again. */
static int prog_attach(int cmd, const union bpf_attr *a)
{
	int target = (int)a->target_fd, prog = (int)a->attach_bpf_fd, ret;

	ret = srv_kshare_prog_attach(cmd, a); /* a kernel target (kshare.c) */
	if (ret != SRV_KSHARE_PASS)
		return ret;
	if (a->attach_type == BPF_MODIFY_RETURN && !want(target, BPFTIME_HANDLER_PERF_EVENT)) {
		struct bpftime_perf_event_info pi;
		struct srv_fd *f = srv_fd(target);

		if (bpftime_perf_event_get_info(srv.shm, target, &pi) ||
		    pi.type != BPFTIME_PERF_TYPE_UPROBE_OVERRIDE) {
			pr_warn("syscall server: PROG_ATTACH(BPF_MODIFY_RETURN) needs a perf event "
				"of type 1008 (uprobe override)\n");
			return -EINVAL;
		}
		if (cmd == BPF_PROG_ATTACH)
			return srv_perf_set_prog(target, prog, BPF_MODIFY_RETURN);
		if (f->implicit_link < 0)
			return -ENOENT;
		bpftime_handler_close(srv.shm, f->implicit_link);
		f->implicit_link = -1;
		return 0;
	}

	if (cmd == BPF_PROG_ATTACH || prog) {
		ret = want(prog, BPFTIME_HANDLER_PROG);
		if (ret)
			return ret;
	}
	if (srv_bad_fd(target) == -EBADF)
		return -EBADF;
	pr_warn("syscall server: %s (attach type %u) has no userspace equivalent\n",
		cmd == BPF_PROG_ATTACH ? "PROG_ATTACH" : "PROG_DETACH", a->attach_type);
	return -EOPNOTSUPP;
}

/* ---- the rest ------------------------------------------------------------ */

static int make_stats_fd(void)
{
	int fd = srv_real.open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (!srv_fd(fd)) {
		srv_real.close(fd);
		return -EMFILE;
	}
	srv_fd(fd)->kind = SRV_FD_STATS;
	bpftime_shm__stats_enable(srv.shm, true);
	return fd;
}

static int prog_bind_map(const union bpf_attr *a)
{
	int ret = want((int)a->prog_bind_map.prog_fd, BPFTIME_HANDLER_PROG);

	if (!ret)
		ret = want((int)a->prog_bind_map.map_fd, BPFTIME_HANDLER_MAP);
	if (!ret && a->prog_bind_map.flags)
		ret = -EINVAL;
	if (!ret)
		ret = bpftime_prog_bind_map(srv.shm, (int)a->prog_bind_map.prog_fd,
					    (int)a->prog_bind_map.map_fd);
	return ret;
}

static const char *const cmd_names[] = {
#define C(x) [BPF_##x] = #x
	C(MAP_CREATE),	      C(MAP_LOOKUP_ELEM),
	C(MAP_UPDATE_ELEM),   C(MAP_DELETE_ELEM),
	C(MAP_GET_NEXT_KEY),  C(PROG_LOAD),
	C(OBJ_PIN),	      C(OBJ_GET),
	C(PROG_ATTACH),	      C(PROG_DETACH),
	C(PROG_TEST_RUN),     C(PROG_GET_NEXT_ID),
	C(MAP_GET_NEXT_ID),   C(PROG_GET_FD_BY_ID),
	C(MAP_GET_FD_BY_ID),  C(OBJ_GET_INFO_BY_FD),
	C(PROG_QUERY),	      C(RAW_TRACEPOINT_OPEN),
	C(BTF_LOAD),	      C(BTF_GET_FD_BY_ID),
	C(TASK_FD_QUERY),     C(MAP_LOOKUP_AND_DELETE_ELEM),
	C(MAP_FREEZE),	      C(BTF_GET_NEXT_ID),
	C(MAP_LOOKUP_BATCH),  C(MAP_LOOKUP_AND_DELETE_BATCH),
	C(MAP_UPDATE_BATCH),  C(MAP_DELETE_BATCH),
	C(LINK_CREATE),	      C(LINK_UPDATE),
	C(LINK_GET_FD_BY_ID), C(LINK_GET_NEXT_ID),
	C(ENABLE_STATS),      C(ITER_CREATE),
	C(LINK_DETACH),	      C(PROG_BIND_MAP),
#undef C
};

static long dispatch(int cmd, union bpf_attr *a, union bpf_attr *ua, unsigned int size)
{
	switch (cmd) {
	case BPF_MAP_CREATE:
		return map_create(a);
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		return map_elem(cmd, a);
	case BPF_MAP_FREEZE: {
		struct bpftime_map_info mi;
		int ret = map_info((int)a->map_fd, &mi);

		/* a frozen map has no write access left: the kernel says EPERM
		 * before it could say EBUSY */
		if (!ret && mi.frozen)
			ret = -EPERM;
		return ret ? ret : bpftime_map_freeze(srv.shm, (int)a->map_fd);
	}
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
		return map_batch(cmd, a, ua, size);
	case BPF_PROG_LOAD:
		return srv_prog_load(a);
	case BPF_PROG_TEST_RUN:
		return srv_prog_test_run(a, ua);
	case BPF_BTF_LOAD:
		return btf_load(a);
	case BPF_OBJ_PIN:
		return obj_pin(a);
	case BPF_OBJ_GET:
		return obj_get(a);
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_LINK_GET_FD_BY_ID:
		return get_fd_by_id(cmd, a);
	case BPF_PROG_GET_NEXT_ID:
	case BPF_MAP_GET_NEXT_ID:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_LINK_GET_NEXT_ID:
		return get_next_id(cmd, a, ua, size);
	case BPF_OBJ_GET_INFO_BY_FD:
		return get_info(a, ua, size);
	case BPF_PROG_BIND_MAP:
		return prog_bind_map(a);
	case BPF_LINK_CREATE:
		return link_create(a);
	case BPF_LINK_DETACH:
		return link_detach(a);
	case BPF_PROG_ATTACH:
	case BPF_PROG_DETACH:
		return prog_attach(cmd, a);
	case BPF_ENABLE_STATS:
		return a->enable_stats.type == BPF_STATS_RUN_TIME ? make_stats_fd() : -EINVAL;
	default:
		if (cmd >= 0 && (size_t)cmd < ARRAY_SIZE(cmd_names) && cmd_names[cmd]) {
			pr_warn("syscall server: bpf command %s is not supported in userspace\n",
				cmd_names[cmd]);
			return -EOPNOTSUPP;
		}
		pr_warn("syscall server: unknown bpf command %d\n", cmd);
		return -EINVAL;
	}
}

long srv_bpf(int cmd, union bpf_attr *uattr, unsigned int size)
{
	union bpf_attr a;
	long ret;

	if (!uattr)
		return -EFAULT;
	if (unlikely(srv.kernel_err))
		return srv.kernel_err; /* kernel-shared mode without the kernel (kshare.c) */
	if (size > sizeof(a)) {
		for (unsigned int i = sizeof(a); i < size; i++)
			if (((const char *)uattr)[i])
				return -E2BIG;
	}
	if (size >= sizeof(a)) {
		a = *uattr;
	} else {
		memset(&a, 0, sizeof(a));
		memcpy(&a, uattr, size);
	}
	/* element operations only read the fd table, and maps/ locks what it
	 * needs: the common control-plane calls skip the server's lock */
	switch (cmd) {
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		ret = map_elem(cmd, &a);
		break;
	default:
		srv_lock();
		ret = dispatch(cmd, &a, uattr, size);
		srv_unlock();
	}
	if (ret < 0 && bpftime_log_enabled(BPFTIME_LOG_DEBUG))
		pr_debug("syscall server: bpf(%d) = %s\n", cmd, strerror((int)-ret));
	return ret;
}
