/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/main.c: inspect and manage the shared memory of
 * bpftime: export/import its handlers as JSON, load one handler, remove the
 * segment, run and time a stored program, stream the printk trace ring.
 *
 * Thin by design: arguments in, library calls out (shm/, maps/, helpers/
 * runtime, json.c).  Every failure says what was wrong and what to do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"
#include "common/compiler.h"
#include "common/proc.h"

#ifndef BPFTIME_VERSION
#define BPFTIME_VERSION "unknown"
#endif

void tool_err(const char *fmt, ...)
{
	va_list ap;

	fputs("bpftimetool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bpftimetool [-j|-p] COMMAND [ARGS]\n"
		"  export FILE                 write the shared memory's handlers as JSON\n"
		"  import FILE                 create the handlers of a JSON file (all or "
		"nothing)\n"
		"  load FD JSON                create one handler (a JSON object) at FD\n"
		"  remove                      remove the shared memory segment\n"
		"  run ID DATA_FILE [repeat N] [type JIT|AOT|INTERPRET|LLVM]\n"
		"                              run the program at handler ID (bpftime's id: the\n"
		"                              fd column of `prog show`) on the file's bytes\n"
		"                              (XDP, tc, socket filter: the file is the packet)\n"
		"  tracelog, prog tracelog     stream bpf_printk output (Ctrl-C stops)\n"
		"  prog show | prog dump xlated OBJ | prog dump jited OBJ [opcodes]\n"
		"  map show | map dump OBJ\n"
		"                              bpftool-style listings; OBJ is id ID, fd FD,\n"
		"                              pinned PATH or a bare fd\n"
		"options:\n"
		"  -j, --json                  JSON output (prog show, map show, map dump)\n"
		"  -p, --pretty                JSON output, indented\n"
		"  -h, --help                  this text (COMMAND --help: that command)\n"
		"  -V, --version               print the version\n"
		"environment: BPFTIME_GLOBAL_SHM_NAME (default %s), BPFTIME_SHM_MEMORY_MB,\n"
		"  BPFTIME_MAX_FD_COUNT, SPDLOG_LEVEL, BPFTIME_LOG_OUTPUT\n"
		"exit status: 0 success, 1 failure, 2 usage error\n",
		BPFTIME_DEFAULT_SHM_NAME);
}

static const char *shm_name(void)
{
	const char *n = getenv("BPFTIME_GLOBAL_SHM_NAME");

	return n && *n ? n : BPFTIME_DEFAULT_SHM_NAME;
}

/* opens the segment, explaining what to do when there is none */
static struct bpftime_shm *open_shm(void)
{
	struct bpftime_shm *shm = bpftime_shm__open(NULL);

	if (shm)
		return shm;
	if (errno == ENOENT)
		tool_err("no bpftime shared memory '%s': start a loader with `bpftime load` or run "
			 "`bpftimetool import`",
			 shm_name());
	else if (errno == EPROTO)
		tool_err("the shared memory '%s' was made by an incompatible bpftime: remove it "
			 "with `bpftimetool remove`",
			 shm_name());
	else
		tool_err("cannot open the shared memory '%s': %s", shm_name(), strerror(errno));
	return NULL;
}

/* opens the segment, or creates it (*created set) when there is none */
static struct bpftime_shm *open_or_create_shm(bool *created)
{
	struct bpftime_shm *shm = bpftime_shm__open(NULL);

	*created = false;
	if (!shm && errno == ENOENT) {
		shm = bpftime_shm__create(NULL);
		if (shm)
			*created = true;
		else if (errno == EEXIST) /* another process was quicker */
			shm = bpftime_shm__open(NULL);
	}
	if (!shm && errno == EPROTO)
		tool_err("the shared memory '%s' was made by an incompatible bpftime: remove it "
			 "with `bpftimetool remove`",
			 shm_name());
	else if (!shm)
		tool_err("cannot open or create the shared memory '%s': %s", shm_name(),
			 strerror(errno));
	return shm;
}

/* JSON and data files above this are refused (/dev/zero, a wrong file):
 * checked on the file's size before anything is read, and a stream (pipe)
 * is cut off at this many bytes instead of growing without bound */
#define MAX_FILE_SIZE ((size_t)256 << 20)

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *tmp;
	size_t cap = 0, n = 0, got;
	struct stat st;

	if (!f) {
		tool_err("cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st)) {
		tool_err("cannot read '%s': %s", path, strerror(errno));
		fclose(f);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
		tool_err("'%s' is not a regular file or a pipe: is it the right file?", path);
		fclose(f);
		return NULL;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > MAX_FILE_SIZE) {
		tool_err("'%s' has %lld bytes, more than the %zu MiB bpftimetool reads: is it the "
			 "right file?",
			 path, (long long)st.st_size, MAX_FILE_SIZE >> 20);
		fclose(f);
		return NULL;
	}
	do {
		if (n > MAX_FILE_SIZE) {
			tool_err("'%s' is larger than %zu MiB: is it the right file?", path,
				 MAX_FILE_SIZE >> 20);
			free(buf);
			fclose(f);
			return NULL;
		}
		if (n + 4096 + 1 > cap) {
			/* never more than the limit plus one read */
			cap = cap ? cap * 2 : 8192;
			if (cap > MAX_FILE_SIZE + 8192)
				cap = MAX_FILE_SIZE + 8192;
			tmp = realloc(buf, cap);
			if (!tmp) {
				free(buf);
				fclose(f);
				tool_err("out of memory reading '%s'", path);
				return NULL;
			}
			buf = tmp;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	if (ferror(f)) {
		tool_err("cannot read '%s': %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = 0;
	*len = n;
	return buf;
}

/* The file a path names, following symbolic links (so that exporting onto a
 * link replaces its target, as writing through it did); @path itself when
 * it does not exist yet.  Returns a malloc'd string or NULL. */
static char *export_target(const char *path)
{
	char *real = realpath(path, NULL);

	return real ? real : strdup(path);
}

/* Writes the export to a temporary file beside @target, flushes it to disk
 * and renames it over @target: readers see the old file or the new one,
 * never a part, and on any error (a full file system, a failed handler) the
 * old file is left as it was.  A target that is not a regular file (a pipe,
 * /dev/stdout) is written directly. */
static int export_atomic(struct bpftime_shm *shm, const char *path)
{
	char *target = export_target(path), *tmp = NULL, *slash;
	mode_t mode = 0666, mask;
	int fd = -1, dfd = -1, err = 0;
	FILE *out = NULL;
	struct stat st;

	if (!target)
		return -ENOMEM;
	if (!stat(target, &st) && !S_ISREG(st.st_mode)) {
		out = fopen(target, "w");
		if (!out) {
			err = -errno;
			tool_err("cannot write '%s': %s", path, strerror(errno));
			goto out;
		}
		err = tool_export(shm, out);
		if (fclose(out) && !err) {
			err = -errno;
			tool_err("cannot write '%s': %s", path, strerror(errno));
		}
		out = NULL;
		goto out;
	}
	if (!stat(target, &st)) {
		mode = st.st_mode & 07777; /* a backup keeps its permissions */
	} else {
		mask = umask(0);
		umask(mask);
		mode &= ~mask;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", target) < 0) {
		tmp = NULL;
		err = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		tool_err("cannot create a temporary file beside '%s': %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, mode)) {
		err = -errno;
		tool_err("cannot set the mode of '%s': %s", tmp, strerror(errno));
		goto out;
	}
	out = fdopen(fd, "w");
	if (!out) {
		err = -errno;
		goto out;
	}
	fd = -1;
	err = tool_export(shm, out);
	if (err)
		goto out;
	if (fflush(out) || fsync(fileno(out))) {
		err = -errno;
		tool_err("cannot write '%s': %s (the old file is unchanged)", path,
			 strerror(errno));
		goto out;
	}
	if (fclose(out)) {
		out = NULL;
		err = -errno;
		tool_err("cannot write '%s': %s (the old file is unchanged)", path,
			 strerror(errno));
		goto out;
	}
	out = NULL;
	if (rename(tmp, target)) {
		err = -errno;
		tool_err("cannot replace '%s': %s (the old file is unchanged)", path,
			 strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	/* the rename itself reaches the disk with the directory */
	slash = strrchr(target, '/');
	if (slash == target)
		dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash) {
		*slash = 0;
		dfd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (out)
		fclose(out);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(target);
	return err;
}

static int cmd_export(const char *path)
{
	struct bpftime_shm *shm = open_shm();
	int err;

	if (!shm)
		return 1;
	err = export_atomic(shm, path);
	bpftime_shm__close(shm);
	return err ? 1 : 0;
}

static int cmd_import(const char *path)
{
	struct bpftime_shm *shm;
	size_t len;
	char *text = read_file(path, &len);
	bool created;
	int ret;

	if (!text)
		return 1;
	shm = open_or_create_shm(&created);
	if (!shm) {
		free(text);
		return 1;
	}
	ret = tool_import(shm, text, len, path, -1);
	bpftime_shm__close(shm);
	if (ret < 0 && created) /* as it was: no segment */
		bpftime_shm__remove(NULL);
	free(text);
	return ret < 0 ? 1 : 0;
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int cmd_load(const char *fd_s, const char *json)
{
	struct bpftime_shm *shm;
	bool created;
	long fd;
	int ret;

	if (parse_int(fd_s, 0, INT32_MAX, &fd)) {
		tool_err("load: '%s' is not an fd (load FD JSON)", fd_s);
		return 2;
	}
	shm = open_or_create_shm(&created);
	if (!shm)
		return 1;
	ret = tool_import(shm, json, strlen(json), "load", (int)fd);
	bpftime_shm__close(shm);
	if (ret < 0 && created)
		bpftime_shm__remove(NULL);
	return ret < 0 ? 1 : 0;
}

static int cmd_remove(void)
{
	int err = bpftime_shm__remove(NULL);

	if (err == -ENOENT) {
		/* the state asked for is there: not an error */
		printf("no bpftime shared memory '%s': nothing to remove\n", shm_name());
		return 0;
	}
	if (err) {
		tool_err("cannot remove the shared memory '%s': %s", shm_name(), strerror(-err));
		return 1;
	}
	return 0;
}

static const struct {
	const char *name;
	enum bpftime_engine engine;
} run_types[] = {
	{ "JIT", BPFTIME_ENGINE_JIT },
	{ "AOT", BPFTIME_ENGINE_AOT },
	{ "INTERPRET", BPFTIME_ENGINE_INTERP },
	{ "LLVM", BPFTIME_ENGINE_LLVM },
};

static char fault_head[64];

static int cmd_run(int argc, char **argv)
{
	const char *type = "JIT", *file;
	enum bpftime_engine engine = BPFTIME_ENGINE_JIT;
	struct bpftime_runtime *rt = NULL;
	struct bpftime_prog_info pinfo;
	struct bpftime_shm *shm = NULL;
	struct bpftime_vm *vm;
	struct timespec a, b;
	long id, repeat = 1;
	uint64_t r0 = 0, ns;
	char *data = NULL;
	size_t len;
	int ret = 1, err;

	if (argc < 2) {
		tool_err("run: expected ID DATA_FILE [repeat N] [type JIT|AOT|INTERPRET|LLVM]");
		return 2;
	}
	if (parse_int(argv[0], 0, INT32_MAX, &id)) {
		tool_err("run: '%s' is not a program id (`bpftimetool prog show` lists them)",
			 argv[0]);
		return 2;
	}
	file = argv[1];
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc) {
			tool_err("run: '%s' needs a value", argv[i]);
			return 2;
		}
		if (!strcmp(argv[i], "repeat")) {
			if (parse_int(argv[i + 1], 1, INT32_MAX, &repeat)) {
				tool_err("run: repeat needs a positive count, not '%s'",
					 argv[i + 1]);
				return 2;
			}
		} else if (!strcmp(argv[i], "type")) {
			size_t t;

			for (t = 0; t < ARRAY_SIZE(run_types); t++)
				if (!strcasecmp(argv[i + 1], run_types[t].name))
					break;
			if (t == ARRAY_SIZE(run_types)) {
				tool_err("run: unknown type '%s' (JIT, AOT, INTERPRET or LLVM)",
					 argv[i + 1]);
				return 2;
			}
			type = run_types[t].name;
			engine = run_types[t].engine;
		} else {
			tool_err("run: unknown option '%s' (repeat N, type T)", argv[i]);
			return 2;
		}
	}
	data = read_file(file, &len);
	if (!data)
		return 1;
	shm = open_shm();
	if (!shm)
		goto out;
	if (bpftime_handler_get_type(shm, (int)id) != BPFTIME_HANDLER_PROG) {
		tool_err("no program with id %ld in '%s' (`bpftimetool export` lists the handlers)",
			 id, shm_name());
		goto out;
	}
	{
		BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = engine, .engine_set = true);

		rt = bpftime_runtime__new(shm, &o);
	}
	if (!rt) {
		tool_err("cannot create a runtime: %s", strerror(errno));
		goto out;
	}
	printf("Running eBPF program with id %ld and data in file %s\n", id, file);
	printf("Repeat N: %ld with run type %s\n", repeat, type);
	fflush(stdout);
	vm = bpftime_runtime__prog(rt, (int)id);
	if (!vm) {
		if (errno == ENOENT && engine == BPFTIME_ENGINE_AOT)
			tool_err("program %ld has no AOT object: compile it first with "
				 "`bpftime-aot compile`",
				 id);
		else
			tool_err("program %ld cannot run: %s", id, strerror(errno));
		goto out;
	}
	if (bpftime_prog_get_info(shm, (int)id, &pinfo) == 0 &&
	    (pinfo.type == 1 || pinfo.type == 3 || pinfo.type == 4 || pinfo.type == 6 ||
	     pinfo.type == 8)) {
		/* a packet program: the file is the packet, run on the context
		 * the kernel's test run builds (xdp_buff, skb); shorter than an
		 * Ethernet header (which the kernel refuses), zeros complete it */
		if (len < 14) {
			char *grown = realloc(data, 14);

			if (!grown) {
				tool_err("out of memory");
				goto out;
			}
			memset(grown + len, 0, 14 - len);
			fprintf(stderr,
				"bpftimetool: %zu-byte packet padded with zeros to an Ethernet "
				"header (14 bytes)\n",
				len);
			data = grown;
			len = 14;
		}
		BPFTIME_OPTS(bpftime_test_run_opts, t, .data_in = data,
			     .data_size_in = (uint32_t)len, .repeat = (uint32_t)repeat);

		err = bpftime_runtime__test_run(rt, (int)id, &t);
		if (err) {
			tool_err("program %ld cannot run on a %zu-byte packet: %s", id, len,
				 strerror(-err));
			goto out;
		}
		printf("Time taken: %u ns\n", t.duration);
		printf("Return value: %u\n", t.retval);
		ret = 0;
		goto out;
	}
	if (len < bpftime_vm__ctx_size(vm)) {
		/* the program's context is larger than the file (pt_regs for a
		 * uprobe program): the rest reads as zeros */
		size_t need = bpftime_vm__ctx_size(vm);
		char *grown = realloc(data, need);

		if (!grown) {
			tool_err("out of memory");
			goto out;
		}
		memset(grown + len, 0, need - len);
		data = grown;
		len = need;
	}
	/* a crash of the program is reported, as its id (a stray access the
	 * structural verifier does not catch) */
	snprintf(fault_head, sizeof(fault_head), "bpftimetool: program %ld", id);
	proc_catch_faults(fault_head, "a stray memory access the verifier cannot rule out");
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < repeat; i++) {
		err = bpftime_vm__run(vm, data, len, &r0);
		if (err) {
			tool_err("program %ld failed: %s", id, bpftime_vm__last_error(vm));
			goto out;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (uint64_t)(b.tv_sec - a.tv_sec) * 1000000000ull + (uint64_t)b.tv_nsec -
	     (uint64_t)a.tv_nsec;
	printf("Time taken: %" PRIu64 " ns\n", ns / (uint64_t)repeat);
	printf("Return value: %" PRIu64 "\n", r0);
	ret = 0;
out:
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	free(data);
	return ret;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	UNUSED(sig);
	stop = 1;
}

static int cmd_tracelog(void)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: waits end */
	struct bpftime_shm *shm = open_shm();
	static char buf[8192];
	uint64_t pos = 0;

	if (!shm)
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop) {
		uint32_t seq = bpftime_shm__data_seq(shm);
		int n = bpftime_trace__read(shm, &pos, buf, sizeof(buf));

		if (n >= 0) {
			printf("%s\n", buf);
			continue;
		}
		fflush(stdout);
		/* blocks on the segment's data futex; the timeout only bounds
		 * how late a signal between the check and the wait is seen */
		bpftime_shm__wait_data(shm, seq, 1000);
	}
	fflush(stdout);
	bpftime_shm__close(shm);
	return 0;
}

/* the fd of the object @argv names (id ID, fd FD, pinned PATH, or a bare
 * fd); the number of words it took, or -1 (usage) / -2 (no such object, said).
 * An object no fd holds (a pin's, a link's) is read through a slot the tool
 * opens: *@held is then set, and the caller closes @fd. */
static int parse_obj(struct bpftime_shm *shm, int argc, char **argv, long *fd, bool *held)
{
	long v;
	int h, f;

	*held = false;

	if (argc == 1 && !parse_int(argv[0], 0, INT32_MAX, fd))
		return 1;
	if (argc != 2)
		return -1;
	if (!strcmp(argv[0], "fd"))
		return parse_int(argv[1], 0, INT32_MAX, fd) ? -1 : 2;
	if (!strcmp(argv[0], "id")) {
		if (parse_int(argv[1], 1, UINT32_MAX, &v))
			return -1;
		if (!shm)
			return 2;
		h = tool_hold_id(shm, (uint32_t)v, &f);
		if (h == -ENOENT) {
			tool_err("no object with id %ld (`bpftimetool prog show` / `map show` list "
				 "them)",
				 v);
			return -2;
		}
		if (h < 0) {
			tool_err("object %ld: %s", v, strerror(-h));
			return -2;
		}
		*fd = f;
		*held = h;
		return 2;
	}
	if (!strcmp(argv[0], "pinned")) {
		char path[256];

		if (!shm)
			return 2;
		for (int i = 0;; i++) {
			int id = bpftime_obj_pin_at(shm, i, path, sizeof(path));

			if (id == -EINVAL)
				break;
			if (id < 0 || strcmp(path, argv[1]))
				continue;
			h = tool_hold_id(shm, (uint32_t)id, &f);
			if (h < 0) {
				tool_err("the object pinned at %s: %s", argv[1], strerror(-h));
				return -2;
			}
			*fd = f;
			*held = h;
			return 2;
		}
		tool_err("nothing pinned at %s", argv[1]);
		return -2;
	}
	return -1;
}

/* prog show|list, prog dump xlated OBJ, map show|list, map dump OBJ */
static int cmd_inspect(int argc, char **argv)
{
	bool prog = !strcmp(argv[0], "prog");
	struct bpftime_shm *shm;
	bool jited = false, opcodes = false, held = false;
	long fd = -1;
	int err, words = 0;

	if (argc == 2 && (!strcmp(argv[1], "show") || !strcmp(argv[1], "list"))) {
		/* a listing */
	} else if (prog && argc >= 3 && !strcmp(argv[1], "dump") && !strcmp(argv[2], "xlated")) {
		words = 3;
	} else if (prog && argc >= 3 && !strcmp(argv[1], "dump") && !strcmp(argv[2], "jited")) {
		words = 3;
		jited = true;
		/* bpftool's trailing `opcodes` */
		if (!strcmp(argv[argc - 1], "opcodes")) {
			opcodes = true;
			argc--;
		}
	} else if (!prog && argc >= 2 && !strcmp(argv[1], "dump")) {
		words = 2;
	} else {
		tool_err("%s: expected show, or dump %sOBJ (id ID, fd FD, pinned PATH)", argv[0],
			 prog ? "xlated|jited " : "");
		return 2;
	}
	if (words && parse_obj(NULL, argc - words, argv + words, &fd, &held) < 0) {
		tool_err("%s dump: expected %sid ID, fd FD, pinned PATH or FD", argv[0],
			 prog ? "xlated " : "");
		return 2;
	}
	if (words && prog && tool_json && !jited) {
		tool_err("prog dump xlated: no JSON output (drop -j/-p)");
		return 2;
	}
	shm = open_shm();
	if (!shm)
		return 1;
	if (words && parse_obj(shm, argc - words, argv + words, &fd, &held) < 0) {
		bpftime_shm__close(shm);
		return 1;
	}
	if (held && bpftime_handler_get_type(shm, (int)fd) !=
			    (prog ? BPFTIME_HANDLER_PROG : BPFTIME_HANDLER_MAP)) {
		/* the borrowed slot's number would mean nothing to the user */
		tool_err("%s %s: not a %s", argv[words], argv[words + 1], prog ? "program" : "map");
		err = -EINVAL;
	} else if (fd < 0)
		err = prog ? tool_prog_show(shm) : tool_map_show(shm);
	else
		err = jited  ? tool_prog_dump_jited(shm, (int)fd, opcodes)
		      : prog ? tool_prog_dump(shm, (int)fd)
			     : tool_map_dump(shm, (int)fd);
	if (held)
		bpftime_handler_close(shm, (int)fd);
	bpftime_shm__close(shm);
	return err ? 1 : 0;
}

static const struct {
	const char *cmd, *args;
} synopsis[] = {
	{ "export", "FILE" }, { "import", "FILE" }, { "load", "FD JSON" },
	{ "remove", "" },     { "tracelog", "" },
};

int tool_json;

/* the help of one command: its synopsis line from usage() */
static void command_help(const char *cmd)
{
	static const struct {
		const char *cmd, *text;
	} help[] = {
		{ "export", "usage: bpftimetool export FILE\n"
			    "writes every handler of the shared memory (maps with their contents) "
			    "as JSON\n" },
		{ "import", "usage: bpftimetool import FILE\n"
			    "creates the handlers of FILE (either JSON shape), all or nothing\n" },
		{ "load",
		  "usage: bpftimetool load FD JSON\ncreates one handler (a JSON object) at FD\n" },
		{ "remove", "usage: bpftimetool remove\n"
			    "removes the shared memory segment (none: says so, exit status 0)\n" },
		{ "run",
		  "usage: bpftimetool run ID DATA_FILE [repeat N] [type JIT|AOT|INTERPRET|LLVM]\n"
		  "runs the program at handler ID (bpftime's id: the fd column of `prog show`)\n"
		  "on the file's bytes (r1 pointer, r2 length), prints\n"
		  "Time taken: <avg> ns and Return value: <r0>\n" },
		{ "tracelog",
		  "usage: bpftimetool tracelog\nstreams bpf_printk output (Ctrl-C stops)\n" },
		{ "prog",
		  "usage: bpftimetool [-j|-p] prog show\n"
		  "       bpftimetool prog dump xlated (id ID | fd FD | pinned PATH | FD)\n"
		  "       bpftimetool [-j|-p] prog dump jited (id ID | ...) [opcodes]\n"
		  "       bpftimetool prog tracelog\n"
		  "programs as bpftool lists them: object id first, the fd (slot) as a column\n"
		  "(none for one only pins or links hold), then its pins\n" },
		{ "map", "usage: bpftimetool [-j|-p] map show\n"
			 "       bpftimetool [-j|-p] map dump (id ID | fd FD | pinned PATH | FD)\n"
			 "maps as bpftool lists them: object id first, the fd (slot) as a column\n"
			 "(none for one only pins or a program hold), then its pins\n" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(help); i++)
		if (!strcmp(cmd, help[i].cmd)) {
			fputs(help[i].text, stdout);
			return;
		}
	usage(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool help = false;
	const char *cmd;
	int c;

	/* options anywhere, as bpftool takes them; "--" ends them */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "jphV", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			tool_json = tool_json ? tool_json : 1;
			break;
		case 'p':
			tool_json = 2;
			break;
		case 'h':
			help = true;
			break;
		case 'V':
			printf("bpftimetool %s\n", BPFTIME_VERSION);
			return 0;
		default:
			tool_err("unknown option '%s' (`bpftimetool --help` lists them)",
				 argv[optind - 1]);
			return 2;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	cmd = argc > 1 ? argv[1] : NULL;
	if (help || (cmd && !strcmp(cmd, "help"))) {
		if (cmd && strcmp(cmd, "help"))
			command_help(cmd);
		else
			usage(stdout);
		return 0;
	}
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "export") && argc == 3)
		return cmd_export(argv[2]);
	if (!strcmp(cmd, "import") && argc == 3)
		return cmd_import(argv[2]);
	if (!strcmp(cmd, "load") && argc == 4)
		return cmd_load(argv[2], argv[3]);
	if (!strcmp(cmd, "remove") && argc == 2)
		return cmd_remove();
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 2, argv + 2);
	if ((!strcmp(cmd, "tracelog") && argc == 2) ||
	    (!strcmp(cmd, "prog") && argc == 3 && !strcmp(argv[2], "tracelog")))
		return cmd_tracelog();
	if (!strcmp(cmd, "prog") || !strcmp(cmd, "map"))
		return cmd_inspect(argc - 1, argv + 1);
	for (size_t i = 0; i < ARRAY_SIZE(synopsis); i++) {
		if (!strcmp(cmd, synopsis[i].cmd)) {
			if (*synopsis[i].args)
				tool_err("%s: wrong number of arguments: expected `bpftimetool %s "
					 "%s`",
					 cmd, cmd, synopsis[i].args);
			else
				tool_err("%s: takes no arguments", cmd);
			return 2;
		}
	}
	tool_err("unknown command '%s' (`bpftimetool help` lists the commands)", cmd);
	return 2;
}
