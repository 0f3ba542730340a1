/* SPDX-License-Identifier: MIT */
/* syscall-server/bpffs.c: the BPF filesystem at /sys/fs/bpf as the tools
 * of a process under `bpftime load` see it.
 *
 * Pins and the directories they live in are kept in the segment (shm/pin.c),
 * so every process of the segment sees the same tree, whatever the host has
 * mounted there.  What reaches it here is what bpftool, ls, stat, rm, mkdir
 * and rmdir (coreutils 9) call in libc, as found with nm and strace:
 *   - stat, lstat, fstatat, statx (and their 64 names): a directory is
 *     S_IFDIR with mkdir's mode (less the umask), a pin S_IFREG 0600 (the
 *     kernel's bpf_mkobj mode), owned
 *     by the caller, inode numbers from the object id or the path;
 *   - opendir/readdir/closedir/rewinddir: a listing of the entries one
 *     level below the directory ("." and ".." first, as the kernel's);
 *     dirfd says ENOTSUP (ls then stats by name);
 *   - nftw: bpftool walks every bpf mount of /proc/mounts with it (glibc's
 *     own nftw calls its internal opendir, so it is served whole here), and
 *     setmntent of /proc/mounts lists /sys/fs/bpf as a bpf mount once,
 *     whether the host has none there or several stacked;
 *   - mkdir (parent must exist: ENOENT; taken: EEXIST), rmdir (ENOTEMPTY,
 *     ENOTDIR for a pin, EBUSY for the mount point), unlink/unlinkat (EISDIR
 *     for a directory), access/faccessat, and the xattr reads of ls -l
 *     (no xattrs: ENODATA).
 * statfs (BPF_FS_MAGIC) is in interpose.c.  Paths are absolute; "//" and
 * a trailing "/" are tolerated.  Anything else goes to the real libc.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mntent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include "internal.h"
#include "common/compiler.h"

#define EXPORT	    __attribute__((visibility("default")))
#define BPFFS_ROOT  "/sys/fs/bpf"
#define BPFFS_MAGIC 0xcafe4a11u /* st_dev of our entries: BPF_FS_MAGIC */

static struct {
	int (*stat)(const char *, struct stat *);
	int (*lstat)(const char *, struct stat *);
	int (*fstatat)(int, const char *, struct stat *, int);
	int (*statx)(int, const char *, int, unsigned int, struct statx *);
	DIR *(*opendir)(const char *);
	struct dirent *(*readdir)(DIR *);
	int (*closedir)(DIR *);
	int (*dirfd)(DIR *);
	void (*rewinddir)(DIR *);
	int (*rmdir)(const char *);
	int (*unlinkat)(int, const char *, int);
	int (*nftw)(const char *, __nftw_func_t, int, int);
	FILE *(*setmntent)(const char *, const char *);
	ssize_t (*getxattr)(const char *, const char *, void *, size_t);
	ssize_t (*lgetxattr)(const char *, const char *, void *, size_t);
	int (*access)(const char *, int);
	int (*faccessat)(int, const char *, int, int);
} real;

static void resolve(void)
{
	if (real.stat)
		return;
#define R(name) real.name = (typeof(real.name))dlsym(RTLD_NEXT, #name)
	R(lstat);
	R(fstatat);
	R(statx);
	R(opendir);
	R(readdir);
	R(closedir);
	R(dirfd);
	R(rewinddir);
	R(rmdir);
	R(unlinkat);
	R(nftw);
	R(setmntent);
	R(getxattr);
	R(lgetxattr);
	R(access);
	R(faccessat);
	R(stat);
#undef R
}

/* an absolute path (the libc entry points' path arguments are declared
 * nonnull, but a NULL must still reach the real function) */
static bool is_abs(const char *p)
{
	return p && p[0] == '/';
}

static int fail(int err)
{
	errno = -err;
	return -1;
}

/* @path under /sys/fs/bpf, normalised into @out ("//" folded, no trailing
 * "/"); a relative path counts from the working directory (coreutils'
 * mkdir -p changes into each parent); false for any other path or before
 * the server is up */
static bool bpffs_norm(const char *path, char out[BPFTIME_PIN_PATH_MAX])
{
	char abs[BPFTIME_PIN_PATH_MAX];
	size_t n = 0;

	if (!srv.ready || !path)
		return false;
	if (path[0] != '/') {
		size_t c;

		if (!getcwd(abs, sizeof(abs)) || strncmp(abs, BPFFS_ROOT, sizeof(BPFFS_ROOT) - 1))
			return false;
		c = strlen(abs);
		if (!strcmp(path, ".") || (path[0] == '.' && path[1] == '.') ||
		    snprintf(abs + c, sizeof(abs) - c, "/%s", path) >= (int)(sizeof(abs) - c))
			return false;
		path = abs;
	}
	if (strncmp(path, BPFFS_ROOT, sizeof(BPFFS_ROOT) - 1) ||
	    (path[sizeof(BPFFS_ROOT) - 1] && path[sizeof(BPFFS_ROOT) - 1] != '/'))
		return false;
	for (const char *p = path; *p; p++) {
		if (*p == '/' && n && out[n - 1] == '/')
			continue;
		if (n + 1 >= BPFTIME_PIN_PATH_MAX)
			return false;
		out[n++] = *p;
	}
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = 0;
	return true;
}

static bool is_root(const char *p)
{
	return !strcmp(p, BPFFS_ROOT);
}

/* what @p is: 0 with *@dir set, or -ENOENT */
static int what_mode(const char *p, bool *dir, uint32_t *id, uint32_t *mode)
{
	enum bpftime_handler_type t;
	int ret;

	*id = 0;
	if (is_root(p)) {
		*dir = true;
		*mode = 0700; /* the mount's mode=700 */
		return 0;
	}
	ret = bpftime_bpffs_lookup(srv.shm, p, &t, id, mode);
	if (ret)
		return ret;
	*dir = t == BPFTIME_HANDLER_NONE;
	return 0;
}

static int what(const char *p, bool *dir, uint32_t *id)
{
	uint32_t mode;

	return what_mode(p, dir, id, &mode);
}

/* FNV-1a of the path: inode numbers of directories */
static uint64_t path_ino(const char *p)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h | (1ULL << 63); /* never an object's (ids are small) */
}

/* a directory listing (opendir's DIR, and the walks here) */
struct fake_dir {
	struct fake_dir *next;
	size_t n, pos;
	struct dirent *ents;
	char path[BPFTIME_PIN_PATH_MAX];
};

static int list_dir(struct fake_dir *f, const char *p);

static int fill_stat(const char *p, struct stat *st)
{
	bool dir;
	uint32_t id, mode;
	int ret = what_mode(p, &dir, &id, &mode);

	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	st->st_dev = BPFFS_MAGIC;
	st->st_ino = dir ? path_ino(p) : id;
	st->st_mode = (dir ? S_IFDIR : S_IFREG) | mode;
	st->st_nlink = 1;
	if (dir) {
		/* "." and each subdirectory's "..", as the kernel counts */
		struct fake_dir f = { 0 };

		st->st_nlink = 2;
		if (!list_dir(&f, p))
			for (size_t i = 2; i < f.n; i++)
				st->st_nlink += f.ents[i].d_type == DT_DIR;
		free(f.ents);
	}
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 4096;
	clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	st->st_atim = st->st_ctim = st->st_mtim;
	return 0;
}

EXPORT int stat(const char *path, struct stat *st)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.stat(path, st);
	ret = fill_stat(p, st);
	return ret ? fail(ret) : 0;
}

EXPORT int lstat(const char *path, struct stat *st)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.lstat(path, st);
	ret = fill_stat(p, st);
	return ret ? fail(ret) : 0;
}

EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!is_abs(path) || !bpffs_norm(path, p))
		return real.fstatat(dirfd, path, st, flags);
	ret = fill_stat(p, st);
	return ret ? fail(ret) : 0;
}

EXPORT int stat64(const char *path, struct stat64 *st)
{
	return stat(path, (struct stat *)st);
}

EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return lstat(path, (struct stat *)st);
}

EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
	char p[BPFTIME_PIN_PATH_MAX];
	struct stat st;
	int ret;

	resolve();
	if (!is_abs(path) || !bpffs_norm(path, p))
		return real.statx(dirfd, path, flags, mask, sx);
	ret = fill_stat(p, &st);
	if (ret)
		return fail(ret);
	memset(sx, 0, sizeof(*sx));
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_blksize = (uint32_t)st.st_blksize;
	sx->stx_nlink = (uint32_t)st.st_nlink;
	sx->stx_uid = st.st_uid;
	sx->stx_gid = st.st_gid;
	sx->stx_mode = (uint16_t)st.st_mode;
	sx->stx_ino = st.st_ino;
	sx->stx_atime.tv_sec = st.st_atim.tv_sec;
	sx->stx_atime.tv_nsec = (uint32_t)st.st_atim.tv_nsec;
	sx->stx_mtime = sx->stx_ctime = sx->stx_btime = sx->stx_atime;
	sx->stx_dev_major = 0;
	sx->stx_dev_minor = 0x4a11;
	return 0;
}

/* ---- listing ------------------------------------------------------------ */

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_dir *dirs;

static struct fake_dir *fake_of(DIR *d)
{
	struct fake_dir *f;

	pthread_mutex_lock(&dirs_lock);
	for (f = dirs; f && (DIR *)f != d; f = f->next)
		;
	pthread_mutex_unlock(&dirs_lock);
	return f;
}

static int add_ent(struct fake_dir *f, const char *name, size_t len, unsigned char type,
		   uint64_t ino)
{
	struct dirent *e, *tmp;

	for (size_t i = 0; i < f->n; i++)
		if (strlen(f->ents[i].d_name) == len && !strncmp(f->ents[i].d_name, name, len))
			return 0; /* a directory implied by several entries */
	tmp = realloc(f->ents, (f->n + 1) * sizeof(*f->ents));
	if (!tmp)
		return -ENOMEM;
	f->ents = tmp;
	e = &f->ents[f->n++];
	memset(e, 0, sizeof(*e));
	e->d_ino = ino;
	e->d_off = (off_t)f->n;
	e->d_reclen = sizeof(*e);
	e->d_type = type;
	memcpy(e->d_name, name, MIN(len, sizeof(e->d_name) - 1));
	return 0;
}

/* the entries one level below directory @p */
static int list_dir(struct fake_dir *f, const char *p)
{
	char entry[BPFTIME_PIN_PATH_MAX], child[BPFTIME_PIN_PATH_MAX];
	size_t n = strlen(p);
	int ret = add_ent(f, ".", 1, DT_DIR, path_ino(p));

	if (!ret)
		ret = add_ent(f, "..", 2, DT_DIR, 1);
	for (int i = 0; !ret && i < BPFTIME_MAX_PINS; i++) {
		int type = bpftime_bpffs_entry_at(srv.shm, i, entry, sizeof(entry));
		const char *name, *slash;
		uint32_t id;
		bool dir;

		if (type == -EINVAL)
			break;
		if (type < 0 || strncmp(entry, p, n) || entry[n] != '/')
			continue;
		name = entry + n + 1;
		slash = strchr(name, '/');
		snprintf(child, sizeof(child), "%.*s/%.*s", (int)n, p,
			 (int)(slash ? (size_t)(slash - name) : strlen(name)), name);
		if (what(child, &dir, &id))
			continue;
		ret = add_ent(f, name, slash ? (size_t)(slash - name) : strlen(name),
			      dir ? DT_DIR : DT_REG, dir ? path_ino(child) : id);
	}
	return ret;
}

EXPORT DIR *opendir(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];
	struct fake_dir *f;
	uint32_t id;
	bool dir;
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.opendir(path);
	ret = what(p, &dir, &id);
	if (!ret && !dir)
		ret = -ENOTDIR;
	if (ret)
		return fail(ret), NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return fail(-ENOMEM), NULL;
	snprintf(f->path, sizeof(f->path), "%s", p);
	ret = list_dir(f, p);
	if (ret) {
		free(f->ents);
		free(f);
		return fail(ret), NULL;
	}
	pthread_mutex_lock(&dirs_lock);
	f->next = dirs;
	dirs = f;
	pthread_mutex_unlock(&dirs_lock);
	return (DIR *)f;
}

EXPORT struct dirent *readdir(DIR *d)
{
	struct fake_dir *f;

	resolve();
	f = fake_of(d);
	if (!f)
		return real.readdir(d);
	return f->pos < f->n ? &f->ents[f->pos++] : NULL;
}

EXPORT struct dirent64 *readdir64(DIR *d)
{
	/* one layout on x86-64 */
	_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64), "dirent layout");
	return (struct dirent64 *)readdir(d);
}

EXPORT int closedir(DIR *d)
{
	struct fake_dir **pp, *f = NULL;

	resolve();
	pthread_mutex_lock(&dirs_lock);
	for (pp = &dirs; *pp; pp = &(*pp)->next) {
		if ((DIR *)*pp == d) {
			f = *pp;
			*pp = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&dirs_lock);
	if (!f)
		return real.closedir(d);
	free(f->ents);
	free(f);
	return 0;
}

/* our directories have no fd (POSIX allows ENOTSUP): ls then stats by
 * name, which is ours, instead of fstat'ing an fd, which would not be */
EXPORT int dirfd(DIR *d)
{
	resolve();
	if (fake_of(d))
		return fail(-ENOTSUP);
	return real.dirfd(d);
}

EXPORT void rewinddir(DIR *d)
{
	struct fake_dir *f;

	resolve();
	f = fake_of(d);
	if (f)
		f->pos = 0;
	else
		real.rewinddir(d);
}

/* nftw over our tree: pre-order (FTW_DEPTH: post-order), physical */
static int walk(const char *p, int base, int level, __nftw_func_t fn, int flags)
{
	struct fake_dir f = { 0 };
	struct FTW ftw = { .base = base, .level = level };
	char child[BPFTIME_PIN_PATH_MAX];
	struct stat st;
	int ret;

	if (fill_stat(p, &st))
		return fail(-ENOENT);
	if (!S_ISDIR(st.st_mode))
		return fn(p, &st, FTW_F, &ftw);
	if (!(flags & FTW_DEPTH)) {
		ret = fn(p, &st, FTW_D, &ftw);
		if (ret)
			return ret;
	}
	ret = list_dir(&f, p);
	for (size_t i = 2; !ret && i < f.n; i++) {
		snprintf(child, sizeof(child), "%s/%s", p, f.ents[i].d_name);
		ret = walk(child, (int)strlen(p) + 1, level + 1, fn, flags);
	}
	free(f.ents);
	if (!ret && (flags & FTW_DEPTH))
		ret = fn(p, &st, FTW_DP, &ftw);
	return ret;
}

EXPORT int nftw(const char *path, __nftw_func_t fn, int nopenfd, int flags)
{
	char p[BPFTIME_PIN_PATH_MAX];
	const char *slash;

	resolve();
	if (!bpffs_norm(path, p))
		return real.nftw(path, fn, nopenfd, flags);
	slash = strrchr(p, '/');
	return walk(p, slash ? (int)(slash - p) + 1 : 0, 0, fn, flags);
}

EXPORT int nftw64(const char *path, __nftw64_func_t fn, int nopenfd, int flags)
{
	/* one layout on x86-64 */
	return nftw(path, (__nftw_func_t)(void *)fn, nopenfd, flags);
}

/* /proc/mounts with /sys/fs/bpf as a bpf mount, if the host has none there:
 * bpftool finds pins by walking the bpf mounts it lists */
EXPORT FILE *setmntent(const char *file, const char *mode)
{
	char line[4096];
	bool have = false;
	size_t len = 0, cap = 0;
	char *text = NULL;
	FILE *in, *out;
	int fd;

	resolve();
	if (!srv.ready || !file ||
	    (strcmp(file, "/proc/mounts") && strcmp(file, "/proc/self/mounts") &&
	     strcmp(file, "/etc/mtab")))
		return real.setmntent(file, mode);
	in = real.setmntent(file, mode);
	if (!in)
		return NULL;
	for (;;) {
		size_t n;

		if (!fgets(line, sizeof(line), in))
			break;
		n = strlen(line);
		/* one bpffs at /sys/fs/bpf, ours, whatever the host stacked there */
		if (strstr(line, " " BPFFS_ROOT " bpf ")) {
			if (have)
				continue;
			have = true;
		}
		if (len + n + 1 > cap) {
			char *t = realloc(text, cap = (len + n + 1) * 2 + 256);

			if (!t)
				break;
			text = t;
		}
		memcpy(text + len, line, n);
		len += n;
	}
	fclose(in);
	fd = (int)srv_real.syscall(SYS_memfd_create, "bpftime-mounts", MFD_CLOEXEC);
	if (fd < 0 || (text && write(fd, text, len) != (ssize_t)len) ||
	    (!have && dprintf(fd, "bpf " BPFFS_ROOT " bpf rw,relatime,mode=700 0 0\n") < 0) ||
	    lseek(fd, 0, SEEK_SET)) {
		if (fd >= 0)
			srv_real.close(fd);
		free(text);
		return real.setmntent(file, mode);
	}
	free(text);
	out = fdopen(fd, "r");
	if (!out)
		srv_real.close(fd);
	return out;
}

/* ---- changes ------------------------------------------------------------- */

/* the parent of @p exists as a directory: 0, -ENOENT, -ENOTDIR */
static int parent_ok(const char *p)
{
	char parent[BPFTIME_PIN_PATH_MAX];
	const char *slash = strrchr(p, '/');
	uint32_t id;
	bool dir;
	int ret;

	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - p), p);
	ret = what(parent, &dir, &id);
	return ret ? ret : dir ? 0 : -ENOTDIR;
}

/* the process's umask, without changing it (/proc/self/status) */
static mode_t cur_umask(void)
{
	char line[128];
	unsigned int m = 022;
	FILE *f = srv_real.fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &m) == 1)
			break;
	if (f)
		fclose(f);
	return (mode_t)m;
}

bool srv_bpffs_path(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];

	return bpffs_norm(path, p);
}

int srv_bpffs_mkdir(const char *path, mode_t mode)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	if (!bpffs_norm(path, p))
		return -ENOENT;
	if (is_root(p))
		return -EEXIST;
	ret = parent_ok(p);
	return ret ? ret : bpftime_bpffs_mkdir(srv.shm, p, mode & ~cur_umask() & 07777);
}

int srv_bpffs_unlink(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];

	if (!bpffs_norm(path, p))
		return -ENOENT;
	return is_root(p) ? -EISDIR : bpftime_obj_unpin(srv.shm, p);
}

static int bpffs_rmdir(const char *p)
{
	return is_root(p) ? -EBUSY : bpftime_bpffs_rmdir(srv.shm, p);
}

EXPORT int rmdir(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.rmdir(path);
	ret = bpffs_rmdir(p);
	return ret ? fail(ret) : 0;
}

EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!is_abs(path) || !bpffs_norm(path, p))
		return real.unlinkat(dirfd, path, flags);
	ret = flags & AT_REMOVEDIR ? bpffs_rmdir(p) : srv_bpffs_unlink(p);
	return ret ? fail(ret) : 0;
}

static int bpffs_access(const char *p)
{
	uint32_t id;
	bool dir;

	return what(p, &dir, &id);
}

EXPORT int access(const char *path, int mode)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.access(path, mode);
	ret = bpffs_access(p);
	return ret ? fail(ret) : 0;
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!is_abs(path) || !bpffs_norm(path, p))
		return real.faccessat(dirfd, path, mode, flags);
	ret = bpffs_access(p);
	return ret ? fail(ret) : 0;
}

/* ls -l asks for the SELinux label and the ACLs: bpffs entries have none */
EXPORT ssize_t getxattr(const char *path, const char *name, void *value, size_t size)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.getxattr(path, name, value, size);
	ret = bpffs_access(p);
	return fail(ret ? ret : -ENODATA);
}

EXPORT ssize_t lgetxattr(const char *path, const char *name, void *value, size_t size)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!bpffs_norm(path, p))
		return real.lgetxattr(path, name, value, size);
	ret = bpffs_access(p);
	return fail(ret ? ret : -ENODATA);
}
