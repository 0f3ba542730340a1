/* SPDX-License-Identifier: MIT */
/* shm/segment.c: creating, opening, checking and removing the segment; the
 * epoch and data futex words; the trace ring.
 *
 * Creation is race-free between processes: the creator makes the object with
 * O_EXCL, sizes and initialises it, and last publishes header->ready with a
 * release store.  An opener waits (up to SHM_OPEN_WAIT_MS) for the object to
 * get its size and for the ready word, then checks the header.  A segment
 * whose creator died before publishing stays unready and openers fail with
 * -EPROTO naming it (remove it with bpftimetool remove).
 *
 * Trust.  The segment carries programs that run inside every traced process,
 * so whoever can write it owns those processes.  A segment is used only when
 * it is owned by the calling (effective) user or by root and no one else may
 * write it, except exactly the group named by BPFTIME_SHM_GROUP (a group name
 * or number) when that is set: then segments are created mode 0660 with that
 * group, and a group-writable segment is accepted only if its group is that
 * one.  Anything else (another user's segment squatting the name, a
 * world-writable one) is refused with -EPERM and a message naming the owner.
 *
 * Backing store.  The creator reserves the whole segment (posix_fallocate)
 * before publishing it, so a tmpfs too small for it fails at creation with
 * -ENOSPC instead of a SIGBUS in some process when a map grows.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/opts.h"

#define SHM_OPEN_WAIT_MS 2000

static int env_u32(const char *var, uint32_t def, uint32_t min, uint32_t max, uint32_t *out)
{
	const char *s = getenv(var);
	char *end;
	unsigned long v;

	if (!s || !*s) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max) {
		pr_warn("%s='%s' is not a number in [%u, %u]\n", var, s, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int resolve_name(const char *name, char *buf, size_t len)
{
	if (!name || !*name)
		name = getenv("BPFTIME_GLOBAL_SHM_NAME");
	if (!name || !*name)
		name = BPFTIME_DEFAULT_SHM_NAME;
	if (*name == '/')
		name++;
	if (!*name || strchr(name, '/') || strlen(name) >= len) {
		pr_warn("bad shared memory name '%s'\n", name);
		return -EINVAL;
	}
	strcpy(buf, name);
	return 0;
}

int bpftime_num_possible_cpus(void)
{
	static _Atomic int cached;
	int n = atomic_load(&cached);
	char buf[256];
	FILE *f;

	if (n > 0)
		return n;
	/* "0-3,8-11": the highest cpu number + 1, as libbpf counts */
	f = fopen("/sys/devices/system/cpu/possible", "re");
	if (f) {
		if (fgets(buf, sizeof(buf), f)) {
			char *p = buf;

			while (*p) {
				long a = strtol(p, &p, 10), b = a;

				if (*p == '-')
					b = strtol(p + 1, &p, 10);
				if (b + 1 > n)
					n = (int)(b + 1);
				if (*p != ',')
					break;
				p++;
			}
		}
		fclose(f);
	}
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_CONF);

		n = c > 0 ? (int)c : 1;
	}
	atomic_store(&cached, n);
	return n;
}

/* BPFTIME_SHM_GROUP: the group allowed to write the segment besides its
 * owner.  Returns 0 with *gid set (-1: none configured) or -EINVAL. */
static int shm_group(gid_t *gid)
{
	const char *s = getenv("BPFTIME_SHM_GROUP");
	struct group gr, *res = NULL;
	char buf[4096], *end;
	unsigned long v;

	*gid = (gid_t)-1;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*end && !errno && v < (gid_t)-1) {
		*gid = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(s, &gr, buf, sizeof(buf), &res) || !res) {
		pr_warn("BPFTIME_SHM_GROUP='%s' is not a group of this system\n", s);
		return -EINVAL;
	}
	*gid = res->gr_gid;
	return 0;
}

static void user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (!getpwuid_r(uid, &pw, buf, sizeof(buf), &res) && res)
		snprintf(out, len, "'%s' (uid %u)", res->pw_name, (unsigned int)uid);
	else
		snprintf(out, len, "uid %u", (unsigned int)uid);
}

/* The trust rule above, on the opened object's status.  0 or -EPERM (logged). */
static int check_owner(const char *name, const struct stat *st)
{
	uid_t me = geteuid();
	char owner[300];
	gid_t group;
	int err = shm_group(&group);

	if (err)
		return err;
	user_name(st->st_uid, owner, sizeof(owner));
	if (st->st_uid != me && st->st_uid != 0) {
		pr_warn("shm '%s': owned by user %s, not by you or root: refusing it (another user "
			"may have created it to run programs in your processes); remove it or use "
			"another BPFTIME_GLOBAL_SHM_NAME\n",
			name, owner);
		return -EPERM;
	}
	if (st->st_mode & S_IWOTH) {
		pr_warn("shm '%s' (owner %s): writable by every user (mode %04o): refusing it; "
			"remove it and let bpftime create it again\n",
			name, owner, (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	if ((st->st_mode & S_IWGRP) && (group == (gid_t)-1 || st->st_gid != group)) {
		pr_warn("shm '%s' (owner %s): writable by group %u (mode %04o), which is not the "
			"BPFTIME_SHM_GROUP configured here: refusing it\n",
			name, owner, (unsigned int)st->st_gid, (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static struct bpftime_shm *shm_new(const char *name)
{
	struct bpftime_shm *shm = calloc(1, sizeof(*shm));

	if (!shm)
		return NULL;
	snprintf(shm->name, sizeof(shm->name), "%s", name);
	shm->fd = -1;
	shm->guard = -1;
	shm->page_size = (size_t)sysconf(_SC_PAGESIZE);
	pthread_mutex_init(&shm->kinds_lock, NULL);
	return shm;
}

static void shm_bind(struct bpftime_shm *shm)
{
	struct shm_header *h = (struct shm_header *)shm->base;

	shm->hdr = h;
	shm->alloc = (struct shm_alloc *)(shm->base + h->alloc_off);
	shm->slots = (struct shm_slot *)(shm->base + h->handlers_off);
	shm->pins = (struct shm_pin *)(shm->base + h->pins_off);
	shm->trace = (struct shm_trace *)(shm->base + h->trace_off);
	shm->trace_buf = shm->base + h->trace_off + sizeof(struct shm_trace);
	shm->max_fd = h->max_fd;
	shm->ncpus = h->ncpus;
	shm->cpus = (struct shm_cpu *)(shm->base + h->cpus_off);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int shm_init_layout(struct bpftime_shm *shm, uint32_t size_mb, uint32_t max_fd)
{
	struct shm_header *h = (struct shm_header *)shm->base;
	struct shm_config *cfg;
	uint64_t off = align_up(sizeof(*h), 64);
	int err;

	h->magic = SHM_MAGIC;
	h->abi_version = SHM_ABI_VERSION;
	h->header_size = sizeof(*h);
	h->size = shm->size;
	h->page_size = (uint32_t)shm->page_size;
	h->max_fd = max_fd;
	h->ncpus = (uint32_t)bpftime_num_possible_cpus();
	h->mutex_size = sizeof(pthread_mutex_t);
	h->alloc_off = off;
	off = align_up(off + sizeof(struct shm_alloc), 64);
	h->config_off = off;
	off = align_up(off + sizeof(struct shm_config), 64);
	h->handlers_off = off;
	off = align_up(off + (uint64_t)max_fd * sizeof(struct shm_slot), 64);
	h->pins_off = off;
	off = align_up(off + BPFTIME_MAX_PINS * sizeof(struct shm_pin), 64);
	h->trace_off = off;
	off = align_up(off + sizeof(struct shm_trace) + SHM_TRACE_SIZE, 64);
	h->cpus_off = off;
	off = align_up(off + (uint64_t)h->ncpus * sizeof(struct shm_cpu), shm->page_size);
	h->arena_off = off;
	if (off + (1u << 16) > shm->size) {
		pr_warn("shm '%s': %u MiB cannot hold %u handler slots; raise "
			"BPFTIME_SHM_MEMORY_MB\n",
			shm->name, size_mb, max_fd);
		return -EINVAL;
	}
	h->arena_size = shm->size - off;
	atomic_store(&h->next_id, 1);
	err = shm_mutex_init(&h->table_lock);
	if (!err)
		err = shm_mutex_init(&h->defer_lock);
	if (!err)
		err = shm_mutex_init(&h->ids_lock);
	if (err)
		return err;
	shm_bind(shm);
	err = shm_mutex_init(&shm->alloc->lock);
	if (!err)
		err = shm_mutex_init(&shm->trace->lock);
	if (err)
		return err;
	cfg = (struct shm_config *)(shm->base + h->config_off);
	cfg->size_mb = size_mb;
	cfg->max_fd = max_fd;
	cfg->creator_pid = getpid();
	cfg->created_ns = now_ns();
	shm_alloc_init(shm);
	atomic_store_explicit(&h->ready, SHM_READY, memory_order_release);
	return 0;
}

static struct bpftime_shm *shm_create(const struct bpftime_shm_opts *opts, const char *name,
				      int *errp)
{
	struct bpftime_shm *shm = NULL;
	uint32_t size_mb = opts ? opts->size_mb : 0, max_fd = opts ? opts->max_fd : 0;
	gid_t group;
	int err = 0;

	if (!size_mb)
		err = env_u32("BPFTIME_SHM_MEMORY_MB", BPFTIME_DEFAULT_SHM_MB, 1, 1u << 20,
			      &size_mb);
	if (!err && !max_fd)
		err = env_u32("BPFTIME_MAX_FD_COUNT", BPFTIME_DEFAULT_MAX_FD, 1, 1u << 24, &max_fd);
	if (err)
		goto out;
	shm = shm_new(name);
	if (!shm) {
		err = -ENOMEM;
		goto out;
	}
	err = shm_group(&group);
	if (err)
		goto out;
	shm->size = (size_t)size_mb << 20;
	/* O_EXCL: never adopt an object someone else made under this name */
	shm->fd = shm_open(shm->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (shm->fd < 0) {
		err = -errno;
		goto out;
	}
	/* owner and mode are right before anything is published: the umask
	 * may have narrowed the mode, and a configured group gets write access */
	if ((group != (gid_t)-1 && fchown(shm->fd, (uid_t)-1, group)) ||
	    fchmod(shm->fd, group != (gid_t)-1 ? 0660 : 0600)) {
		err = -errno;
		pr_warn("shm '%s': cannot give it to group %u (BPFTIME_SHM_GROUP): %s\n", shm->name,
			(unsigned int)group, strerror(errno));
		goto out_unlink;
	}
	/* reserve the backing store now: a full tmpfs says so here, not with
	 * a SIGBUS in a traced process when a map first touches a page */
	err = -posix_fallocate(shm->fd, 0, (off_t)shm->size);
	if (err) {
		pr_warn("shm '%s': cannot reserve %u MiB in /dev/shm: %s; free space there or "
			"lower BPFTIME_SHM_MEMORY_MB\n",
			shm->name, size_mb, strerror(-err));
		goto out_unlink;
	}
	shm->base = mmap(NULL, shm->size, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd, 0);
	if (shm->base == MAP_FAILED) {
		shm->base = NULL;
		err = -errno;
		goto out_unlink;
	}
	err = shm_init_layout(shm, size_mb, max_fd);
	if (err)
		goto out_unlink;
	pr_debug("shm '%s': created, %u MiB, %u slots\n", shm->name, size_mb, max_fd);
	return shm;
out_unlink:
	shm_unlink(shm->name);
out:
	if (shm) {
		if (shm->base)
			munmap(shm->base, shm->size);
		if (shm->fd >= 0)
			close(shm->fd);
		free(shm);
	}
	*errp = err;
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int check_header(struct bpftime_shm *shm, const struct shm_header *h)
{
	const char *n = shm->name;
	uint64_t end;

	if (h->magic != SHM_MAGIC) {
		pr_warn("shm '%s': bad magic %#llx: not a bpftime segment (remove it with "
			"bpftimetool remove)\n",
			n, (unsigned long long)h->magic);
		return -EPROTO;
	}
	if (h->abi_version != SHM_ABI_VERSION || h->header_size != sizeof(*h) ||
	    h->mutex_size != sizeof(pthread_mutex_t)) {
		pr_warn("shm '%s': layout version %u (header %u bytes), this build uses version %u "
			"(header %zu bytes): use the same bpftime build or recreate the segment\n",
			n, h->abi_version, h->header_size, SHM_ABI_VERSION, sizeof(*h));
		return -EPROTO;
	}
	if (h->size != shm->size) {
		pr_warn("shm '%s': header says %llu bytes but the object has %zu\n", n,
			(unsigned long long)h->size, shm->size);
		return -EPROTO;
	}
	end = h->handlers_off + (uint64_t)h->max_fd * sizeof(struct shm_slot);
	if (h->page_size != shm->page_size || !h->max_fd || h->max_fd > (1u << 24) ||
	    h->ncpus == 0 || h->ncpus > 65536 || h->alloc_off < sizeof(*h) ||
	    h->alloc_off > h->size - sizeof(struct shm_alloc) ||
	    h->config_off > h->size - sizeof(struct shm_config) || h->handlers_off < sizeof(*h) ||
	    end > h->size || h->pins_off > h->size - BPFTIME_MAX_PINS * sizeof(struct shm_pin) ||
	    h->trace_off > h->size - sizeof(struct shm_trace) - SHM_TRACE_SIZE ||
	    h->cpus_off < sizeof(*h) || h->cpus_off > h->arena_off ||
	    h->cpus_off + (uint64_t)h->ncpus * sizeof(struct shm_cpu) > h->arena_off ||
	    h->arena_off % shm->page_size || h->arena_off > h->size ||
	    h->arena_off + h->arena_size != h->size) {
		pr_warn("shm '%s': corrupt header (offsets out of range)\n", n);
		return -EPROTO;
	}
	return 0;
}

/* Reports the slots whose records are corrupt when the segment is opened
 * (each use checks again: shm_slot_obj() skips them). */
static void check_slots(struct bpftime_shm *shm)
{
	int bad = 0;

	for (uint32_t fd = 0; fd < shm->max_fd; fd++) {
		uint32_t gen = atomic_load(&shm->slots[fd].gen);
		uint32_t type = atomic_load(&shm->slots[fd].type);
		uint64_t off = atomic_load(&shm->slots[fd].obj_off);
		const char *why;

		if (!type || !off || !shm_obj_check(shm, type, off, &why))
			continue;
		/* a slot another process is changing now is not corrupt */
		if ((gen & 1) || atomic_load(&shm->slots[fd].gen) != gen)
			continue;
		if (bad++ < 8)
			pr_warn("shm '%s': slot %u is corrupt (%s): it will be skipped\n",
				shm->name, fd, why);
	}
	if (bad > 8)
		pr_warn("shm '%s': %d corrupt slots in all\n", shm->name, bad);
}

static struct bpftime_shm *shm_open_existing(const char *name, int *errp)
{
	struct bpftime_shm *shm = shm_new(name);
	struct stat st;
	int err = 0;
	long waited = 0;

	if (!shm) {
		*errp = -ENOMEM;
		return NULL;
	}
	shm->fd = shm_open(shm->name, O_RDWR | O_CLOEXEC, 0);
	if (shm->fd < 0) {
		err = -errno;
		goto out;
	}
	if (fstat(shm->fd, &st)) {
		err = -errno;
		goto out;
	}
	err = check_owner(shm->name, &st);
	if (err)
		goto out;
	for (;;) {
		if (fstat(shm->fd, &st)) {
			err = -errno;
			goto out;
		}
		if (st.st_size > 0 || waited >= SHM_OPEN_WAIT_MS)
			break;
		sleep_ms(1);
		waited++;
	}
	if ((size_t)st.st_size < sizeof(struct shm_header)) {
		pr_warn("shm '%s': %lld bytes, too small for a bpftime segment (creator died?)\n",
			shm->name, (long long)st.st_size);
		err = -EPROTO;
		goto out;
	}
	shm->size = (size_t)st.st_size;
	shm->base = mmap(NULL, shm->size, PROT_READ | PROT_WRITE, MAP_SHARED, shm->fd, 0);
	if (shm->base == MAP_FAILED) {
		shm->base = NULL;
		err = -errno;
		goto out;
	}
	for (;;) {
		const struct shm_header *h = (const struct shm_header *)shm->base;

		if (atomic_load_explicit(&h->ready, memory_order_acquire) == SHM_READY)
			break;
		if (h->magic && h->magic != SHM_MAGIC)
			break; /* check_header says what is wrong */
		if (waited >= SHM_OPEN_WAIT_MS) {
			pr_warn("shm '%s': never became ready (its creator died during setup?); "
				"remove it with bpftimetool remove\n",
				shm->name);
			err = -EPROTO;
			goto out;
		}
		sleep_ms(1);
		waited++;
	}
	err = check_header(shm, (const struct shm_header *)shm->base);
	if (err)
		goto out;
	shm_bind(shm);
	check_slots(shm);
	return shm;
out:
	if (shm->base)
		munmap(shm->base, shm->size);
	if (shm->fd >= 0)
		close(shm->fd);
	free(shm);
	*errp = err;
	return NULL;
}

/* validates @in and copies it into @out (fields an older caller lacks: 0) */
static bool opts_get(const struct bpftime_shm_opts *in, struct bpftime_shm_opts *out)
{
	if (!OPTS_VALID(in, bpftime_shm_opts))
		return false;
	OPTS_COPY(out, in);
	return true;
}

struct bpftime_shm *bpftime_shm__create(const struct bpftime_shm_opts *uopts)
{
	struct bpftime_shm_opts o, *opts = &o;
	char name[NAME_MAX + 1];
	struct bpftime_shm *shm;
	int err;

	if (!opts_get(uopts, &o))
		return errno = EINVAL, NULL;
	err = resolve_name(opts->name, name, sizeof(name));
	if (err)
		return errno = -err, NULL;
	shm = shm_create(opts, name, &err);
	if (!shm)
		errno = -err;
	return shm;
}

struct bpftime_shm *bpftime_shm__open(const struct bpftime_shm_opts *uopts)
{
	struct bpftime_shm_opts o, *opts = &o;
	char name[NAME_MAX + 1];
	struct bpftime_shm *shm;
	int err;

	if (!opts_get(uopts, &o))
		return errno = EINVAL, NULL;
	err = resolve_name(opts->name, name, sizeof(name));
	if (err)
		return errno = -err, NULL;
	shm = shm_open_existing(name, &err);
	if (!shm)
		errno = -err;
	return shm;
}

struct bpftime_shm *bpftime_shm__open_or_create(const struct bpftime_shm_opts *uopts)
{
	struct bpftime_shm_opts o, *opts = &o;
	char name[NAME_MAX + 1];
	struct bpftime_shm *shm;
	int err;

	if (!opts_get(uopts, &o))
		return errno = EINVAL, NULL;
	err = resolve_name(opts->name, name, sizeof(name));
	if (err)
		return errno = -err, NULL;
	for (int tries = 0; tries < 3; tries++) {
		shm = shm_open_existing(name, &err);
		if (shm || err != -ENOENT)
			break;
		shm = shm_create(opts, name, &err);
		if (shm || err != -EEXIST)
			break; /* EEXIST: another process won the race; open it */
	}
	if (!shm)
		errno = -err;
	return shm;
}

void bpftime_shm__close(struct bpftime_shm *shm)
{
	if (!shm)
		return;
	for (int t = 0; t < SHM_KINDS; t++) {
		const struct shm_kind *k = &shm->kinds[t];

		if (k->ops && k->ops->close)
			k->ops->close(shm, k->state);
	}
	shm_unguard(shm);
	if (shm->base)
		munmap(shm->base, shm->size);
	if (shm->fd >= 0)
		close(shm->fd);
	pthread_mutex_destroy(&shm->kinds_lock);
	free(shm);
}

int bpftime_shm__remove(const char *name)
{
	char buf[NAME_MAX + 1];
	int err = resolve_name(name, buf, sizeof(buf));

	if (err)
		return shm_err(err);
	if (shm_unlink(buf))
		return shm_err(-errno);
	return 0;
}

const char *bpftime_shm__name(const struct bpftime_shm *shm)
{
	return shm->name;
}

int bpftime_shm__fd(const struct bpftime_shm *shm)
{
	return shm->fd;
}

size_t bpftime_shm__size(const struct bpftime_shm *shm)
{
	return shm->size;
}

int bpftime_shm__max_fd(const struct bpftime_shm *shm)
{
	return (int)shm->max_fd;
}

int bpftime_shm__ncpus(const struct bpftime_shm *shm)
{
	return (int)shm->ncpus;
}

static int futex_wait(_Atomic uint32_t *word, uint32_t val, int timeout_ms)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	if (syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0) == 0)
		return 0;
	return -errno;
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static int wait_change(_Atomic uint32_t *word, uint32_t seen, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int left = timeout_ms, err;

		if (atomic_load(word) != seen)
			return 0;
		if (timeout_ms >= 0) {
			long el;

			clock_gettime(CLOCK_MONOTONIC, &now);
			el = (now.tv_sec - start.tv_sec) * 1000 +
			     (now.tv_nsec - start.tv_nsec) / 1000000;
			if (el >= timeout_ms)
				return -ETIMEDOUT;
			left = timeout_ms - (int)el;
		}
		err = futex_wait(word, seen, left);
		if (err == -EINTR)
			return err;
	}
}

uint32_t bpftime_shm__epoch(const struct bpftime_shm *shm)
{
	return atomic_load(&shm->hdr->epoch);
}

int bpftime_shm__wait_epoch(struct bpftime_shm *shm, uint32_t seen, int timeout_ms)
{
	return shm_err(wait_change(&shm->hdr->epoch, seen, timeout_ms));
}

void shm_epoch_bump(struct bpftime_shm *shm)
{
	atomic_fetch_add(&shm->hdr->epoch, 1);
	futex_wake(&shm->hdr->epoch);
}

uint32_t bpftime_shm__data_seq(const struct bpftime_shm *shm)
{
	return atomic_load(&shm->hdr->data_seq);
}

int bpftime_shm__wait_data(struct bpftime_shm *shm, uint32_t seen, int timeout_ms)
{
	int err;

	atomic_fetch_add(&shm->hdr->data_waiters, 1);
	err = wait_change(&shm->hdr->data_seq, seen, timeout_ms);
	atomic_fetch_sub(&shm->hdr->data_waiters, 1);
	return shm_err(err);
}

/* Producers call this after publishing data: one atomic add, and a futex
 * wake only when someone waits, so the in-program path stays cheap. */
void shm_data_notify(struct bpftime_shm *shm)
{
	/* seq_cst on both sides (here and in wait_data: waiters++, then read
	 * the sequence): either the waiter sees the new sequence or we see
	 * the waiter.  On x86 the RMW is a full barrier anyway. */
	atomic_fetch_add_explicit(&shm->hdr->data_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&shm->hdr->data_waiters, memory_order_seq_cst))
		futex_wake(&shm->hdr->data_seq);
}

/* ---- trace ring --------------------------------------------------------
 * A byte ring of SHM_TRACE_SIZE bytes; head counts bytes ever written.  A
 * message is a u32 length, the bytes, padded to 8; a message never wraps (a
 * zero length word means "skip to the start").  Readers keep a position; if
 * the head is more than one ring ahead of it, they jump to the oldest
 * message that is still there (found by walking from the tail marker). */
#define TRACE_MAX_MSG 4096

int bpftime_trace__write(struct bpftime_shm *shm, const char *msg, size_t len)
{
	struct shm_trace *t = shm->trace;
	uint64_t head, pos, need;

	if (!msg)
		return shm_err(-EINVAL);
	if (len > TRACE_MAX_MSG)
		len = TRACE_MAX_MSG;
	need = (4 + len + 7) & ~7ULL;
	shm_lock(&t->lock);
	head = atomic_load(&t->head);
	pos = head % SHM_TRACE_SIZE;
	if (pos + need > SHM_TRACE_SIZE) {
		/* no room before the end: mark the rest as skipped */
		memset(shm->trace_buf + pos, 0, 4);
		head += SHM_TRACE_SIZE - pos;
		pos = 0;
	}
	memcpy(shm->trace_buf + pos, &(uint32_t){ (uint32_t)len + 1 }, 4);
	memcpy(shm->trace_buf + pos + 4, msg, len);
	t->written++;
	atomic_store_explicit(&t->head, head + need, memory_order_release);
	shm_unlock(&t->lock);
	shm_data_notify(shm);
	return 0;
}

/* The next message at or after *@posp into @buf (lock held); see
 * bpftime_trace__read(). */
static int trace_next(struct bpftime_shm *shm, uint64_t *posp, char *buf, size_t len)
{
	struct shm_trace *t = shm->trace;
	uint64_t head, pos = *posp;
	uint32_t l;
	int ret;

	head = atomic_load(&t->head);
	if (head - pos > SHM_TRACE_SIZE || pos > head) {
		/* lapped: the oldest complete message starts at or after head - size;
		 * walk from the ring start of the current lap */
		pos = head - head % SHM_TRACE_SIZE;
		if (head % SHM_TRACE_SIZE == 0 && head)
			pos = head - SHM_TRACE_SIZE;
	}
	for (;;) {
		if (pos >= head) {
			*posp = pos;
			return -EAGAIN;
		}
		memcpy(&l, shm->trace_buf + pos % SHM_TRACE_SIZE, 4);
		if (l)
			break;
		pos += SHM_TRACE_SIZE - pos % SHM_TRACE_SIZE;
	}
	l -= 1;
	ret = (int)l;
	if (len) {
		size_t n = l < len - 1 ? l : len - 1;

		memcpy(buf, shm->trace_buf + pos % SHM_TRACE_SIZE + 4, n);
		buf[n] = 0;
	}
	*posp = pos + ((4 + l + 7) & ~7ULL);
	return ret;
}

int bpftime_trace__read(struct bpftime_shm *shm, uint64_t *posp, char *buf, size_t len)
{
	int ret;

	shm_lock(&shm->trace->lock);
	ret = trace_next(shm, posp, buf, len);
	shm_unlock(&shm->trace->lock);
	return shm_err(ret);
}

int bpftime_trace__consume(struct bpftime_shm *shm, char *buf, size_t len)
{
	struct shm_trace *t = shm->trace;
	int ret;

	shm_lock(&t->lock);
	ret = trace_next(shm, &t->tail, buf, len);
	shm_unlock(&t->lock);
	return shm_err(ret);
}

int bpftime_trace__unconsumed(struct bpftime_shm *shm, uint64_t *pos, uint64_t *written)
{
	struct shm_trace *t = shm->trace;
	uint64_t p;
	int n = 0;

	shm_lock(&t->lock);
	p = t->tail;
	while (trace_next(shm, &p, NULL, 0) >= 0)
		n++;
	*pos = t->tail;
	*written = t->written;
	shm_unlock(&t->lock);
	return n;
}
