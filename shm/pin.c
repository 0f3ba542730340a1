/* SPDX-License-Identifier: MIT */
/* shm/pin.c: pinned paths (OBJ_PIN / OBJ_GET): a path names an object and
 * holds a reference to it; and the directories of the BPF filesystem those
 * paths live in: made by mkdir (an entry with obj_off SHM_PIN_DIR), or
 * implied by the entries below them. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

/* ---- pins ------------------------------------------------------------- */

/* the object a pin entry names, or 0 (a free entry, a directory, garbage) */
static uint64_t pin_obj(struct bpftime_shm *shm, int i)
{
	uint64_t off = shm->pins[i].obj_off;

	return off % 8 == 0 && shm_range_ok(shm, off, sizeof(struct shm_obj)) ? off : 0;
}

/* the entry (pin or directory) at @path, or -ENOENT */
static int entry_find(struct bpftime_shm *shm, const char *path)
{
	for (int i = 0; i < BPFTIME_MAX_PINS; i++)
		if (shm->pins[i].obj_off && !strncmp(shm->pins[i].path, path, BPFTIME_PIN_PATH_MAX))
			return i;
	return -ENOENT;
}

/* the pin at @path, or -ENOENT */
static int pin_find(struct bpftime_shm *shm, const char *path)
{
	int i = entry_find(shm, path);

	return i >= 0 && pin_obj(shm, i) ? i : -ENOENT;
}

/* some entry lies below directory @path */
static bool has_children(struct bpftime_shm *shm, const char *path)
{
	size_t n = strlen(path);

	for (int i = 0; i < BPFTIME_MAX_PINS; i++)
		if (shm->pins[i].obj_off && !strncmp(shm->pins[i].path, path, n) &&
		    shm->pins[i].path[n] == '/')
			return true;
	return false;
}

/* a free entry, or -ENOSPC */
static int entry_free(struct bpftime_shm *shm)
{
	for (int i = 0; i < BPFTIME_MAX_PINS; i++)
		if (!shm->pins[i].obj_off)
			return i;
	return -ENOSPC;
}

int bpftime_obj_pin(struct bpftime_shm *shm, int fd, const char *path)
{
	struct shm_obj *o;
	uint64_t off;
	int ret = -ENOSPC;

	if (!path || !*path)
		return shm_err(-EINVAL);
	if (strlen(path) >= BPFTIME_PIN_PATH_MAX)
		return shm_err(-ENAMETOOLONG);
	shm_lock(&shm->hdr->table_lock);
	o = shm_slot_obj(shm, fd, 0);
	if (!o) {
		ret = -EBADF;
		goto out;
	}
	if (entry_find(shm, path) >= 0 || has_children(shm, path)) {
		ret = -EEXIST;
		goto out;
	}
	off = shm_off(shm, o);
	ret = entry_free(shm);
	if (ret >= 0) {
		int i = ret;

		strcpy(shm->pins[i].path, path);
		shm_obj_get(shm, off);
		atomic_fetch_add(&o->pins, 1);
		shm->pins[i].obj_off = off; /* published last: the entry is whole */
		ret = 0;
	}
out:
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		shm_epoch_bump(shm);
	return shm_err(ret);
}

int bpftime_obj_get(struct bpftime_shm *shm, const char *path, int newfd)
{
	uint64_t off = 0;
	int i;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = pin_find(shm, path);
	if (i >= 0) {
		off = shm->pins[i].obj_off;
		shm_obj_get(shm, off);
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(-ENOENT);
	return shm_obj_install_or_put(shm, newfd, off);
}

int bpftime_obj_unpin(struct bpftime_shm *shm, const char *path)
{
	uint64_t off = 0;
	int i;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = pin_find(shm, path);
	if (i >= 0) {
		struct shm_obj *o;

		off = shm->pins[i].obj_off;
		o = shm_ptr(shm, off);
		atomic_fetch_sub(&o->pins, 1);
		shm->pins[i].obj_off = 0;
		shm->pins[i].path[0] = 0;
	} else {
		i = entry_find(shm, path);
		if (i >= 0 || has_children(shm, path))
			i = -EISDIR;
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(i == -EISDIR ? -EISDIR : -ENOENT);
	shm_obj_put(shm, off);
	shm_epoch_bump(shm);
	return 0;
}

int bpftime_obj_pin_at(struct bpftime_shm *shm, int i, char *path, size_t len)
{
	int ret = -ENOENT;

	if (i < 0 || i >= BPFTIME_MAX_PINS)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	if (pin_obj(shm, i)) {
		struct shm_obj *o = shm_ptr(shm, shm->pins[i].obj_off);

		if (path && len) {
			strncpy(path, shm->pins[i].path, len - 1);
			path[len - 1] = 0;
		}
		ret = (int)o->id;
	}
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}

/* ---- directories ------------------------------------------------------ */

int bpftime_bpffs_lookup(struct bpftime_shm *shm, const char *path, enum bpftime_handler_type *type,
			 uint32_t *id, uint32_t *mode)
{
	int ret = -ENOENT, i;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = entry_find(shm, path);
	if (i >= 0 && pin_obj(shm, i)) {
		struct shm_obj *o = shm_ptr(shm, pin_obj(shm, i));

		*type = o->type;
		*id = o->id;
		*mode = 0600; /* the kernel's bpf_mkobj */
		ret = 0;
	} else if (i >= 0 || has_children(shm, path)) {
		*type = BPFTIME_HANDLER_NONE;
		*id = 0;
		*mode = i >= 0 ? shm->pins[i].mode & 07777 : 0700;
		ret = 0;
	}
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}

int bpftime_bpffs_mkdir(struct bpftime_shm *shm, const char *path, uint32_t mode)
{
	int ret;

	if (!path || !*path)
		return shm_err(-EINVAL);
	if (strlen(path) >= BPFTIME_PIN_PATH_MAX)
		return shm_err(-ENAMETOOLONG);
	shm_lock(&shm->hdr->table_lock);
	if (entry_find(shm, path) >= 0 || has_children(shm, path)) {
		ret = -EEXIST;
	} else {
		ret = entry_free(shm);
		if (ret >= 0) {
			strcpy(shm->pins[ret].path, path);
			shm->pins[ret].mode = mode & 07777;
			shm->pins[ret].obj_off = SHM_PIN_DIR;
			ret = 0;
		}
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		shm_epoch_bump(shm);
	return shm_err(ret);
}

int bpftime_bpffs_rmdir(struct bpftime_shm *shm, const char *path)
{
	int ret, i;

	if (!path)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	i = entry_find(shm, path);
	if (has_children(shm, path)) {
		ret = -ENOTEMPTY;
	} else if (i < 0) {
		ret = -ENOENT;
	} else if (shm->pins[i].obj_off != SHM_PIN_DIR) {
		ret = -ENOTDIR;
	} else {
		shm->pins[i].obj_off = 0;
		shm->pins[i].path[0] = 0;
		ret = 0;
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!ret)
		shm_epoch_bump(shm);
	return shm_err(ret);
}

int bpftime_bpffs_entry_at(struct bpftime_shm *shm, int i, char *path, size_t len)
{
	int ret = -ENOENT;

	if (i < 0 || i >= BPFTIME_MAX_PINS || !path || !len)
		return shm_err(-EINVAL);
	shm_lock(&shm->hdr->table_lock);
	if (shm->pins[i].obj_off == SHM_PIN_DIR || pin_obj(shm, i)) {
		strncpy(path, shm->pins[i].path, len - 1);
		path[len - 1] = 0;
		ret = shm->pins[i].obj_off == SHM_PIN_DIR
			      ? BPFTIME_HANDLER_NONE
			      : (int)((struct shm_obj *)shm_ptr(shm, shm->pins[i].obj_off))->type;
	}
	shm_unlock(&shm->hdr->table_lock);
	return shm_err(ret);
}
