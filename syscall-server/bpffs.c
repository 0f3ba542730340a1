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
 *   - directory fds, as rm -r (fts) and mkdir -p use them: openat/open of
 *     one of our directories gives a real fd (of /dev/null, marked
 *     SRV_FD_BPFFS_DIR in the server's fd table, its path kept here) that
 *     fdopendir, dirfd, fstat, fstatfs, fstatat/statx/unlinkat/mkdirat/
 *     faccessat/openat relative to it, fchdir, dup and close understand;
 *     opening a pin is EIO, as the kernel's bpffs_obj_open;
 *   - a working directory inside our tree (fchdir to one of our fds, chdir
 *     to one of our paths) is kept here, not in the kernel (the directory
 *     does not exist there): getcwd reports it and relative paths given
 *     to the calls above resolve against it; other calls with relative
 *     paths see the kernel's working directory, the last real one;
 *   - nftw: bpftool walks every bpf mount of /proc/mounts with it (glibc's
 *     own nftw calls its internal opendir, so it is served whole here), and
 *     setmntent of /proc/mounts lists /sys/fs/bpf as a bpf mount once,
 *     whether the host has none there or several stacked;
 *   - mkdir (parent must exist: ENOENT; taken: EEXIST), rmdir (ENOTEMPTY,
 *     ENOTDIR for a pin, EBUSY for the mount point), unlink/unlinkat (EISDIR
 *     for a directory), access/faccessat, and the xattr reads of ls -l
 *     (no xattrs: ENODATA).
 * statfs (BPF_FS_MAGIC) is in interpose.c.  Paths are made absolute and
 * canonical ("//", "." and ".." resolved, no trailing "/").  Anything else
 * goes to the real libc.
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
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <linux/magic.h>
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
	int (*fstat)(int, struct stat *);
	int (*fstatfs)(int, struct statfs *);
	DIR *(*fdopendir)(int);
	int (*mkdirat)(int, const char *, mode_t);
	int (*fchdir)(int);
	int (*chdir)(const char *);
	char *(*getcwd)(char *, size_t);
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
	R(fstat);
	R(fstatfs);
	R(fdopendir);
	R(mkdirat);
	R(fchdir);
	R(chdir);
	R(getcwd);
	R(stat);
#undef R
}

static int fail(int err)
{
	errno = -err;
	return -1;
}

/* the working directory inside our tree (fchdir/chdir there), or "" */
static char vcwd[BPFTIME_PIN_PATH_MAX];

static bool cwd_of(char *buf, size_t size)
{
	if (vcwd[0]) {
		if (strlen(vcwd) >= size)
			return false;
		strcpy(buf, vcwd);
		return true;
	}
	return real.getcwd(buf, size) != NULL;
}

/* @path made canonical into @out: "//", "." and ".." resolved, no
 * trailing "/"; false if it does not fit */
static bool canon(const char *path, char out[BPFTIME_PIN_PATH_MAX])
{
	size_t n = 0;

	out[0] = 0;
	while (*path) {
		size_t len;

		while (*path == '/')
			path++;
		len = strcspn(path, "/");
		if (!len || (len == 1 && path[0] == '.')) {
			path += len;
			continue;
		}
		if (len == 2 && path[0] == '.' && path[1] == '.') {
			while (n && out[n - 1] != '/')
				n--;
			if (n)
				n--; /* the "/" before the last component */
			out[n] = 0;
			path += len;
			continue;
		}
		if (n + 1 + len >= BPFTIME_PIN_PATH_MAX)
			return false;
		out[n++] = '/';
		memcpy(out + n, path, len);
		n += len;
		out[n] = 0;
		path += len;
	}
	if (!n) {
		out[0] = '/';
		out[1] = 0;
	}
	return true;
}

/* @path under /sys/fs/bpf, made absolute and canonical into @out; a
 * relative path counts from the working directory (coreutils' mkdir -p
 * changes into each parent); false for any other path or before the server
 * is up */
static bool bpffs_norm(const char *path, char out[BPFTIME_PIN_PATH_MAX])
{
	char abs[2 * BPFTIME_PIN_PATH_MAX];

	if (!srv.ready || !path)
		return false;
	if (path[0] != '/') {
		size_t c;

		resolve();
		if (!*path || !cwd_of(abs, BPFTIME_PIN_PATH_MAX))
			return false;
		c = strlen(abs);
		if (snprintf(abs + c, sizeof(abs) - c, "/%s", path) >= (int)(sizeof(abs) - c))
			return false;
		path = abs;
	}
	if (!canon(path, out))
		return false;
	return !strncmp(out, BPFFS_ROOT, sizeof(BPFFS_ROOT) - 1) &&
	       (!out[sizeof(BPFFS_ROOT) - 1] || out[sizeof(BPFFS_ROOT) - 1] == '/');
}

/* ---- directory fds ----------------------------------------------------- */

static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static char **fd_paths; /* srv.max_fd entries, by fd; NULL: not ours */

/* the path of our directory fd @fd into @out */
static bool dirfd_path(int fd, char out[BPFTIME_PIN_PATH_MAX])
{
	bool ok = false;

	if (!srv.ready || fd < 0 || fd >= srv.max_fd)
		return false;
	pthread_mutex_lock(&fds_lock);
	if (fd_paths && fd_paths[fd]) {
		snprintf(out, BPFTIME_PIN_PATH_MAX, "%s", fd_paths[fd]);
		ok = true;
	}
	pthread_mutex_unlock(&fds_lock);
	return ok;
}

static int set_fd_path(int fd, const char *p)
{
	char *copy = p ? strdup(p) : NULL;
	int ret = 0;

	if (p && !copy)
		return -ENOMEM;
	pthread_mutex_lock(&fds_lock);
	if (!fd_paths)
		fd_paths = calloc((size_t)srv.max_fd, sizeof(*fd_paths));
	if (!fd_paths) {
		ret = -ENOMEM;
		free(copy);
	} else {
		free(fd_paths[fd]);
		fd_paths[fd] = copy;
	}
	pthread_mutex_unlock(&fds_lock);
	return ret;
}

void srv_bpffs_fd_closed(int fd)
{
	set_fd_path(fd, NULL);
}

void srv_bpffs_fd_dup(int oldfd, int newfd)
{
	char p[BPFTIME_PIN_PATH_MAX];

	if (dirfd_path(oldfd, p) && set_fd_path(newfd, p))
		srv_fd(newfd)->kind = SRV_FD_NONE; /* no memory: a plain /dev/null */
}

/* a new fd for our directory @p */
static int new_dir_fd(const char *p, int flags)
{
	struct srv_fd *f;
	int fd = srv_real.open("/dev/null", O_RDONLY | (flags & O_CLOEXEC));
	int ret;

	if (fd < 0)
		return -errno;
	srv_lock();
	f = srv_fd(fd);
	ret = f ? set_fd_path(fd, p) : -EMFILE;
	if (!ret)
		*f = (struct srv_fd){ .kind = SRV_FD_BPFFS_DIR, .implicit_link = -1 };
	srv_unlock();
	if (ret) {
		srv_real.close(fd);
		return ret;
	}
	return fd;
}

/* @path relative to @dirfd (AT_FDCWD or one of our directory fds; ""
 * with AT_EMPTY_PATH: the directory itself), if it is on our tree */
static bool at_norm(int dirfd, const char *path, int flags, char out[BPFTIME_PIN_PATH_MAX])
{
	char dir[BPFTIME_PIN_PATH_MAX], joined[2 * BPFTIME_PIN_PATH_MAX];

	if (!srv.ready || !path)
		return false;
	if (path[0] == '/' || dirfd == AT_FDCWD)
		return bpffs_norm(path, out);
	if (!dirfd_path(dirfd, dir))
		return false;
	if (!*path) {
		if (!(flags & AT_EMPTY_PATH))
			return false; /* the real call says ENOENT */
		snprintf(out, BPFTIME_PIN_PATH_MAX, "%s", dir);
		return true;
	}
	if (snprintf(joined, sizeof(joined), "%s/%s", dir, path) >= (int)sizeof(joined))
		return false;
	return bpffs_norm(joined, out);
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
		*mode = S_ISVTX |
			0700; /* the kernel's bpffs root: sticky, and the mount's mode=700 */
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
	int fd; /* its directory fd (dirfd), closed by closedir */
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
	if (!at_norm(dirfd, path, flags, p))
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
	if (!at_norm(dirfd, path, flags, p))
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

EXPORT int fstat(int fd, struct stat *st)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!dirfd_path(fd, p))
		return real.fstat(fd, st);
	ret = fill_stat(p, st);
	return ret ? fail(ret) : 0;
}

EXPORT int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

EXPORT int fstatfs(int fd, struct statfs *st)
{
	char p[BPFTIME_PIN_PATH_MAX];

	resolve();
	if (!dirfd_path(fd, p))
		return real.fstatfs(fd, st);
	memset(st, 0, sizeof(*st));
	st->f_type = BPF_FS_MAGIC;
	st->f_bsize = 4096;
	st->f_namelen = 255;
	return 0;
}

EXPORT int fstatfs64(int fd, struct statfs64 *st)
{
	/* same layout on 64-bit */
	return fstatfs(fd, (struct statfs *)st);
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

/* a listing of our directory @p for @fd (taken over) */
static DIR *fake_dir_of(int fd, const char *p)
{
	struct fake_dir *f = calloc(1, sizeof(*f));
	int ret;

	if (!f)
		return fail(-ENOMEM), NULL;
	f->fd = fd;
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

EXPORT DIR *opendir(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];
	uint32_t id;
	bool dir;
	int ret, fd;
	DIR *d;

	resolve();
	if (!bpffs_norm(path, p))
		return real.opendir(path);
	ret = what(p, &dir, &id);
	if (!ret && !dir)
		ret = -ENOTDIR;
	if (ret)
		return fail(ret), NULL;
	fd = new_dir_fd(p, O_CLOEXEC);
	if (fd < 0)
		return fail(fd), NULL;
	d = fake_dir_of(fd, p);
	if (!d)
		close(fd);
	return d;
}

/* rm -r (fts) opens a directory with openat and lists it through
 * fdopendir; closedir closes the fd */
EXPORT DIR *fdopendir(int fd)
{
	char p[BPFTIME_PIN_PATH_MAX];

	resolve();
	if (!dirfd_path(fd, p))
		return real.fdopendir(fd);
	return fake_dir_of(fd, p);
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
	if (f->fd >= 0)
		close(f->fd);
	free(f->ents);
	free(f);
	return 0;
}

EXPORT int dirfd(DIR *d)
{
	struct fake_dir *f;

	resolve();
	f = fake_of(d);
	if (f)
		return f->fd;
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

EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!at_norm(dirfd, path, 0, p))
		return real.mkdirat(dirfd, path, mode);
	ret = srv_bpffs_mkdir(p, mode);
	return ret ? fail(ret) : 0;
}

int srv_bpffs_openat(int dirfd, const char *path, int flags)
{
	char p[BPFTIME_PIN_PATH_MAX];
	uint32_t id;
	bool dir;
	int ret;

	if (!at_norm(dirfd, path, 0, p))
		return SRV_BPFFS_PASS;
	ret = what(p, &dir, &id);
	if (ret)
		return flags & O_CREAT ? -EPERM : ret; /* bpffs makes no files */
	if (!dir)
		return flags & O_DIRECTORY ? -ENOTDIR : -EIO; /* the kernel's bpffs_obj_open */
	if ((flags & O_ACCMODE) != O_RDONLY)
		return -EISDIR;
	return new_dir_fd(p, flags);
}

/* a working directory in our tree: kept here (see the top) */
EXPORT int fchdir(int fd)
{
	char p[BPFTIME_PIN_PATH_MAX];
	int ret;

	resolve();
	if (!dirfd_path(fd, p)) {
		ret = real.fchdir(fd);
		if (!ret)
			vcwd[0] = 0;
		return ret;
	}
	snprintf(vcwd, sizeof(vcwd), "%s", p);
	return 0;
}

EXPORT int chdir(const char *path)
{
	char p[BPFTIME_PIN_PATH_MAX];
	uint32_t id;
	bool dir;
	int ret;

	resolve();
	if (!bpffs_norm(path, p)) {
		ret = real.chdir(path);
		if (!ret)
			vcwd[0] = 0;
		return ret;
	}
	ret = what(p, &dir, &id);
	if (!ret && !dir)
		ret = -ENOTDIR;
	if (ret)
		return fail(ret);
	snprintf(vcwd, sizeof(vcwd), "%s", p);
	return 0;
}

EXPORT char *getcwd(char *buf, size_t size)
{
	size_t n;

	resolve();
	if (!vcwd[0])
		return real.getcwd(buf, size);
	n = strlen(vcwd) + 1;
	if (!buf) {
		if (size && size < n)
			return fail(-ERANGE), NULL;
		buf = malloc(n);
		if (!buf)
			return fail(-ENOMEM), NULL;
	} else if (size < n) {
		return fail(-ERANGE), NULL;
	}
	memcpy(buf, vcwd, n);
	return buf;
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
	if (!at_norm(dirfd, path, 0, p))
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
	if (!at_norm(dirfd, path, flags, p))
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
