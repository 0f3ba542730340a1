/* SPDX-License-Identifier: MIT */
/* shm/pin.c: pinned paths (OBJ_PIN / OBJ_GET): a path names an object and
 * holds a reference to it. */
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

static int pin_find(struct bpftime_shm *shm, const char *path)
{
	for (int i = 0; i < BPFTIME_MAX_PINS; i++)
		if (shm->pins[i].obj_off && !strcmp(shm->pins[i].path, path))
			return i;
	return -ENOENT;
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
	if (pin_find(shm, path) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	off = shm_off(shm, o);
	for (int i = 0; i < BPFTIME_MAX_PINS; i++) {
		if (shm->pins[i].obj_off)
			continue;
		strcpy(shm->pins[i].path, path);
		shm->pins[i].obj_off = off;
		shm_obj_get(shm, off);
		atomic_fetch_add(&o->pins, 1);
		ret = 0;
		break;
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
	}
	shm_unlock(&shm->hdr->table_lock);
	if (!off)
		return shm_err(-ENOENT);
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
	if (shm->pins[i].obj_off) {
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
