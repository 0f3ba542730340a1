/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/bpftimetool_test.c: the bpftimetool command line against
 * a private segment (a unique BPFTIME_GLOBAL_SHM_NAME per test): the seed
 * handler set imports and runs, `run` prints the documented lines, export ->
 * remove -> import restores the state (map contents included), every import
 * error leaves the segment as it was, both JSON shapes import in any key
 * order, `load`, `tracelog`, and the missing-segment messages. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "vm/test_insn.h"
#include "common/compiler.h"

static char shm_name[64], dir[128];
static pid_t child = -1; /* a tool still running: teardown ends it when a test failed */
static char out_buf[1 << 16], err_buf[1 << 16];

static int setup(void **state)
{
	static int n;

	UNUSED(state);
	snprintf(shm_name, sizeof(shm_name), "bpftimetool_test_%d_%d", getpid(), n++);
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
	bpftime_shm__remove(shm_name);
	snprintf(dir, sizeof(dir), "/tmp/bpftimetool_test_%d_XXXXXX", getpid());
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	UNUSED(state);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	bpftime_shm__remove(shm_name);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n, got = 0;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf + got, len - 1 - (size_t)got)) > 0)
		got += n;
	buf[got] = 0;
}

/* runs bpftimetool with the arguments (NULL-terminated); returns the exit
 * status, stdout in out_buf, stderr in err_buf */
static int tool(const char *arg, ...)
{
	const char *argv[16] = { BPFTIMETOOL_BIN };
	int out = open(dir, O_TMPFILE | O_RDWR, 0600), err = open(dir, O_TMPFILE | O_RDWR, 0600);
	int argc = 1, status;
	va_list ap;
	pid_t pid;

	assert_true(out >= 0 && err >= 0);
	va_start(ap, arg);
	for (; arg && argc < 15; arg = va_arg(ap, const char *))
		argv[argc++] = arg;
	va_end(ap);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	slurp(out, out_buf, sizeof(out_buf));
	slurp(err, err_buf, sizeof(err_buf));
	close(out);
	close(err);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static char *path(const char *name)
{
	static char bufs[4][256];
	static int i;
	char *p = bufs[i++ % 4];

	snprintf(p, 256, "%s/%s", dir, name);
	return p;
}

static char *read_all(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct bpftime_shm *open_shm(void)
{
	struct bpftime_shm *shm = bpftime_shm__open(NULL);

	assert_non_null(shm);
	return shm;
}

static void assert_matches(const char *text, const char *re)
{
	regex_t r;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	if (regexec(&r, text, 0, NULL, 0))
		fail_msg("'%s' does not match /%s/", text, re);
	regfree(&r);
}

static const char *missing_msg(void)
{
	static char msg[256];

	snprintf(msg, sizeof(msg),
		 "bpftimetool: no bpftime shared memory '%s': start a loader with `bpftime load` "
		 "or run `bpftimetool import`",
		 shm_name);
	return msg;
}

/* ---- tests ------------------------------------------------------------ */

static void test_missing_segment(void **state)
{
	UNUSED(state);
	write_file(path("in.bin"), "x");
	assert_int_equal(tool("export", path("x.json"), NULL), 1);
	assert_non_null(strstr(err_buf, missing_msg()));
	assert_int_equal(tool("run", "4", path("in.bin"), NULL), 1);
	assert_non_null(strstr(err_buf, missing_msg()));
	assert_int_equal(tool("tracelog", NULL), 1);
	assert_non_null(strstr(err_buf, missing_msg()));
	/* nothing to remove: said, and not an error (the state asked for is there) */
	assert_int_equal(tool("remove", NULL), 0);
	assert_non_null(strstr(out_buf, "nothing to remove"));
	assert_int_equal(tool("frobnicate", NULL), 2);
	assert_int_equal(tool("run", "x", NULL), 2);
}

static void import_aot_checks(const char *json);

static void test_seed_imports_and_runs(void **state)
{
	struct bpftime_shm *shm;
	char buf[512];
	uint64_t pos = 0;

	UNUSED(state);
	assert_int_equal(tool("import", FIXTURES "/minimal.json", NULL), 0);
	shm = open_shm();
	assert_int_equal(bpftime_handler_get_type(shm, 3), BPFTIME_HANDLER_MAP);
	assert_int_equal(bpftime_handler_get_type(shm, 4), BPFTIME_HANDLER_PROG);
	assert_int_equal(bpftime_handler_get_type(shm, 5), BPFTIME_HANDLER_PERF_EVENT);
	{
		struct bpftime_handler_info hi;
		struct bpftime_prog_info pi;
		struct bpftime_perf_event_info ei;

		assert_int_equal(bpftime_handler_get_info(shm, 4, &hi), 0);
		assert_int_equal(hi.owner_pid, 0); /* survives the tool */
		assert_int_equal(bpftime_prog_get_info(shm, 4, &pi), 0);
		assert_string_equal(pi.name, "do_uprobe_trace");
		assert_int_equal(pi.insn_cnt, 16);
		assert_int_equal(pi.attach_cnt, 1);
		assert_int_equal(pi.attach_fds[0], 5);
		assert_int_equal(bpftime_perf_event_get_info(shm, 5, &ei), 0);
		assert_int_equal(ei.type, 6);
		assert_string_equal(ei.module, "example/minimal/victim");
		assert_int_equal(ei.offset, 4457);
	}

	write_file(path("in.bin"), "some input");
	assert_int_equal(tool("run", "4", path("in.bin"), NULL), 0);
	snprintf(buf, sizeof(buf),
		 "^Running eBPF program with id 4 and data in file %s\n"
		 "Repeat N: 1 with run type JIT\nTime taken: [0-9]+ ns\nReturn value: 0\n$",
		 path("in.bin"));
	assert_matches(out_buf, buf);
	assert_int_equal(tool("run", "4", path("in.bin"), "repeat", "5", "type", "INTERPRET", NULL),
			 0);
	assert_matches(out_buf, "^Repeat N: 5 with run type INTERPRET$");
	assert_matches(out_buf, "^Time taken: [0-9]+ ns\nReturn value: 0\n$");
	/* the program's bpf_printk lines are in the trace ring: 1 + 5 */
	for (int i = 0; i < 6; i++) {
		assert_true(bpftime_trace__read(shm, &pos, buf, sizeof(buf)) > 0);
		assert_non_null(strstr(buf, ": bpf_trace_printk: target_func called."));
	}
	assert_int_equal(bpftime_trace__read(shm, &pos, buf, sizeof(buf)), -EAGAIN);

	assert_int_equal(tool("run", "4", path("in.bin"), "type", "AOT", NULL), 1);
	assert_non_null(strstr(err_buf, "program 4 has no AOT object"));
	/* with an AOT object stored (as bpftime-aot compile does), AOT runs it */
	{
		BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = BPFTIME_ENGINE_INTERP,
			     .engine_set = true);
		struct bpftime_runtime *rt = bpftime_runtime__new(shm, &o);
		void *obj = NULL;
		size_t size = 0;
		int err = bpftime_vm__emit_aot(bpftime_runtime__prog(rt, 4), false, &obj, &size);

		bpftime_runtime__free(rt);
		if (!err) {
			assert_int_equal(bpftime_prog_set_aot(shm, 4, obj, size), 0);
			free(obj);
			assert_int_equal(tool("run", "4", path("in.bin"), "type", "AOT", NULL), 0);
			assert_matches(out_buf,
				       "^Repeat N: 1 with run type AOT\nTime taken: [0-9]+ "
				       "ns\nReturn value: 0\n$");
			assert_true(bpftime_trace__read(shm, &pos, buf, sizeof(buf)) > 0);
			assert_non_null(strstr(buf, "target_func called."));
			assert_int_equal(tool("export", path("aot.json"), NULL), 0);
			obj = read_all(path("aot.json"));
			assert_non_null(strstr(obj, "\"aot\": \"7f454c46")); /* an ELF object */
			import_aot_checks(obj);
			free(obj);
		} else {
			assert_int_equal(err, -EOPNOTSUPP); /* built without LLVM */
		}
	}
	assert_int_equal(tool("run", "3", path("in.bin"), NULL), 1);
	assert_non_null(strstr(err_buf, "no program with id 3"));
	assert_int_equal(tool("run", "4", path("in.bin"), "type", "FAST", NULL), 2);
	assert_int_equal(tool("run", "4", path("in.bin"), "repeat", "0", NULL), 2);
	assert_int_equal(tool("run", "4", path("nope.bin"), NULL), 1);
	bpftime_shm__close(shm);
}

/* @json (an export with an AOT object): it imports into another segment
 * as it is, and the same object given to another program is refused at
 * import, naming why, with nothing imported */
static void import_aot_checks(const char *json)
{
	const char *a = strstr(json, "\"aot\": \""), *end;
	char other[96], *bad;
	size_t len;

	assert_non_null(a);
	a += strlen("\"aot\": \"");
	end = strchr(a, '"');
	assert_non_null(end);
	len = (size_t)(end - a);
	bad = malloc(len + 512);
	assert_non_null(bad);
	snprintf(bad, len + 512,
		 "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_prog_handler\", \"name\": "
		 "\"other\", \"attr\": {\"type\": 2, \"cnt\": 2, \"insns\": "
		 "\"b7000000010000009500000000000000\", \"aot\": \"%.*s\"}}]}",
		 (int)len, a);
	write_file(path("bad_aot.json"), bad);
	free(bad);
	snprintf(other, sizeof(other), "%s_aot", shm_name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", other, 1);
	bpftime_shm__remove(other);
	assert_int_equal(tool("import", path("aot.json"), NULL), 0);
	assert_int_equal(tool("remove", NULL), 0);
	assert_int_equal(tool("import", path("bad_aot.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "attr.aot does not belong to the program"));
	assert_non_null(strstr(err_buf, "compiled from other instructions"));
	bpftime_shm__remove(other);
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
}

/* state with every kind of handler and map contents */
static void build_state(void)
{
	struct bpftime_shm *shm = bpftime_shm__open_or_create(NULL);
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 1),
		BPF_EXIT_INSN(),
	};
	int ncpu = bpftime_num_possible_cpus();
	uint64_t *pcv = calloc((size_t)ncpu, 8);
	int hash, arr, pca, lru, q, st, pa, rod, p, pe, ln, tp;
	uint32_t k;
	uint64_t v;

	assert_non_null(shm);
	hash = bpftime_map_create(shm, 3, BPFTIME_MAP_HASH, "hash", 4, 8, 64, NULL);
	arr = bpftime_map_create(shm, 4, BPFTIME_MAP_ARRAY, "arr", 4, 12, 4, NULL);
	pca = bpftime_map_create(shm, 5, BPFTIME_MAP_PERCPU_ARRAY, "pca", 4, 4, 2, NULL);
	lru = bpftime_map_create(shm, 6, BPFTIME_MAP_LRU_HASH, "lru", 8, 8, 16, NULL);
	q = bpftime_map_create(shm, 7, BPFTIME_MAP_QUEUE, "q", 0, 4, 8, NULL);
	st = bpftime_map_create(shm, 8, BPFTIME_MAP_STACK, "st", 0, 4, 8, NULL);
	pa = bpftime_map_create(shm, 9, BPFTIME_MAP_PROG_ARRAY, "pa", 4, 4, 4, NULL);
	{
		BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = BPFTIME_F_RDONLY_PROG);

		rod = bpftime_map_create(shm, 10, BPFTIME_MAP_ARRAY, ".rodata", 4, 6, 1, &o);
	}
	p = bpftime_prog_create(shm, 11, 6, "prog", prog, ARRAY_SIZE(prog), NULL);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE,
			     .pid = -1, .module = "/bin/true", .offset = 0x1234,
			     .cookie = 0xfedcba9876543210ULL, .tracepoint_id = -1, .cpu = -1);

		pe = bpftime_perf_event_create(shm, 12, &o);
	}
	ln = bpftime_link_create(shm, 13, p, pe, NULL);
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_TRACEPOINT,
			     .pid = -1, .tracepoint_id = 700, .cpu = -1);

		tp = bpftime_perf_event_create(shm, 14, &o);
	}
	assert_true(hash == 3 && arr == 4 && pca == 5 && lru == 6 && q == 7 && st == 8 && pa == 9 &&
		    rod == 10 && p == 11 && pe == 12 && ln == 13 && tp == 14);
	for (k = 0; k < 10; k++) {
		v = 1000 + k;
		assert_int_equal(bpftime_map_update_elem(shm, hash, &k, &v, 0), 0);
	}
	for (k = 0; k < 4; k += 2)
		assert_int_equal(bpftime_map_update_elem(shm, arr, &k, "twelve bytes", 0), 0);
	for (int i = 0; i < ncpu; i++)
		pcv[i] = 7u * (uint64_t)i + 1;
	k = 1;
	assert_int_equal(bpftime_map_update_elem(shm, pca, &k, pcv, 0), 0);
	for (uint64_t lk = 5; lk < 8; lk++)
		assert_int_equal(bpftime_map_update_elem(shm, lru, &lk, &lk, 0), 0);
	for (uint32_t x = 1; x <= 3; x++) {
		assert_int_equal(bpftime_map_update_elem(shm, q, NULL, &x, 0), 0);
		assert_int_equal(bpftime_map_update_elem(shm, st, NULL, &x, 0), 0);
	}
	k = 2;
	assert_int_equal(bpftime_map_update_elem(shm, pa, &k, &p, 0), 0);
	k = 0;
	assert_int_equal(bpftime_map_update_elem(shm, rod, &k, "hello", 0), 0);
	assert_int_equal(bpftime_map_freeze(shm, rod), 0);
	assert_int_equal(bpftime_prog_add_attach_fd(shm, p, pe), 0);
	assert_int_equal(bpftime_obj_pin(shm, hash, "/sys/fs/bpf/test_hash"), 0);
	assert_int_equal(bpftime_handler_dup(shm, p, 15), 15); /* a second fd of the program */
	{
		/* a perf event array holding a BPF output event at index 1 */
		BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_SOFTWARE,
			     .pid = -1, .cpu = -1, .config = 10, .tracepoint_id = -1);
		int ev = bpftime_perf_event_create(shm, 16, &o);
		int pea = bpftime_map_create(shm, 17, BPFTIME_MAP_PERF_EVENT_ARRAY, "events", 4, 4,
					     2, NULL);

		assert_true(ev == 16 && pea == 17);
		k = 1;
		assert_int_equal(bpftime_map_update_elem(shm, pea, &k, &ev, 0), 0);
	}
	{
		/* an array of maps holding an inner array; a BTF blob */
		int inner = bpftime_map_create(shm, 18, BPFTIME_MAP_ARRAY, "inner", 4, 4, 3, NULL);
		BPFTIME_OPTS(bpftime_map_create_opts, o, .inner_map_fd = inner);
		int outer = bpftime_map_create(shm, 19, BPFTIME_MAP_ARRAY_OF_MAPS, "outer", 4, 4, 2,
					       &o);

		assert_true(inner == 18 && outer == 19);
		k = 0;
		assert_int_equal(bpftime_map_update_elem(shm, outer, &k, &inner, 0), 0);
		assert_int_equal(bpftime_btf_create(shm, 20, "\x9f\xeb\x01\x00btf", 7), 20);
	}
	free(pcv);
	bpftime_shm__close(shm);
}

/* Inputs are size-checked before they are read whole: a device, a huge
 * (sparse) file, under an address-space limit that reading it would break;
 * exports replace the old file by a rename and keep its permissions. */
static void test_input_limits_and_export_rename(void **state)
{
	struct stat st, st2;
	char *a;
	int fd;

	UNUSED(state);
	assert_int_equal(tool("import", "/dev/zero", NULL), 1);
	assert_non_null(strstr(err_buf, "'/dev/zero' is not a regular file or a pipe"));
	assert_int_equal(tool("run", "4", "/dev/zero", NULL), 1);
	assert_non_null(strstr(err_buf, "'/dev/zero' is not a regular file or a pipe"));
	fd = open(path("huge.json"), O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)2 << 30), 0); /* 2 GiB of holes */
	close(fd);
	assert_int_equal(tool("import", path("huge.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "has 2147483648 bytes, more than the 256 MiB"));
	assert_int_equal(tool("run", "4", path("huge.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "has 2147483648 bytes"));

	build_state();
	write_file(path("backup.json"), "old");
	assert_int_equal(chmod(path("backup.json"), 0640), 0);
	assert_int_equal(stat(path("backup.json"), &st), 0);
	assert_int_equal(tool("export", path("backup.json"), NULL), 0);
	assert_int_equal(stat(path("backup.json"), &st2), 0);
	assert_true(st.st_ino != st2.st_ino); /* a new file renamed over the old */
	assert_int_equal(st2.st_mode & 07777, 0640);
	a = read_all(path("backup.json"));
	assert_non_null(strstr(a, "\"handlers\""));
	free(a);
	/* through a symbolic link: the link stays, its target is replaced */
	assert_int_equal(symlink(path("backup.json"), path("link.json")), 0);
	assert_int_equal(tool("export", path("link.json"), NULL), 0);
	assert_int_equal(lstat(path("link.json"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* no temporary file is left behind */
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "ls -a '%s' | grep -q '\\.tmp\\.'", dir);
		assert_int_equal(system(cmd), 256); /* grep found nothing */
	}
}

static void test_round_trip(void **state)
{
	struct bpftime_shm *shm;
	char *a, *b;
	uint32_t k, x;
	uint64_t v;

	UNUSED(state);
	build_state();
	assert_int_equal(tool("export", path("a.json"), NULL), 0);
	assert_int_equal(tool("remove", NULL), 0);
	assert_int_equal(tool("import", path("a.json"), NULL), 0);
	assert_int_equal(tool("export", path("b.json"), NULL), 0);
	a = read_all(path("a.json"));
	b = read_all(path("b.json"));
	assert_string_equal(a, b);
	/* the contents are really there, not only in the JSON */
	assert_non_null(strstr(a, "\"cookie\": \"18364758544493064720\"")); /* > INT64_MAX */
	shm = open_shm();
	for (k = 0; k < 10; k++) {
		assert_int_equal(bpftime_map_lookup_elem(shm, 3, &k, &v, 0), 0);
		assert_int_equal(v, 1000 + k);
	}
	k = 0;
	{
		char val[12];

		assert_int_equal(bpftime_map_lookup_elem(shm, 4, &k, val, 0), 0);
		assert_memory_equal(val, "twelve bytes", 12);
	}
	/* queue order and stack order survive both the export and the import */
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, 7, NULL, &x, 0), 0);
		assert_int_equal(x, i);
		assert_int_equal(bpftime_map_lookup_and_delete_elem(shm, 8, NULL, &x, 0), 0);
		assert_int_equal(x, 4 - i);
	}
	{
		struct bpftime_map_info mi;
		struct bpftime_link_info li;

		struct bpftime_handler_info h11, h15;

		assert_int_equal(bpftime_map_get_info(shm, 10, &mi), 0);
		assert_true(mi.frozen);
		assert_int_equal(bpftime_handler_get_info(shm, 11, &h11), 0);
		assert_int_equal(bpftime_handler_get_info(shm, 15, &h15), 0);
		assert_int_equal(h11.id, h15.id); /* still one object */
		assert_int_equal(bpftime_handler_get_info(shm, 16, &h15), 0);
		assert_int_equal(bpftime_map__fd_array_get(bpftime_map_get_handle(shm, 17), 1),
				 h15.id);
		assert_int_equal(bpftime_map__fd_array_get(bpftime_map_get_handle(shm, 17), 0), 0);
		assert_int_equal(bpftime_map_get_info(shm, 19, &mi), 0);
		assert_int_equal(mi.type, BPFTIME_MAP_ARRAY_OF_MAPS);
		assert_int_equal(mi.inner_map_type, BPFTIME_MAP_ARRAY);
		assert_int_equal(mi.inner_max_entries, 3);
		k = 0;
		assert_int_equal(bpftime_map_lookup_elem(shm, 19, &k, &x, 0), 0);
		assert_int_equal(bpftime_handler_fd_by_id(shm, x), 18);
		{
			size_t size;
			const void *btf = bpftime_btf_data(shm, 20, &size);

			assert_non_null(btf);
			assert_int_equal(size, 7);
			assert_memory_equal(btf, "\x9f\xeb\x01\x00btf", 7);
		}
		/* the inner template made while importing left no handler behind */
		assert_int_equal(bpftime_handler_next(shm, 20), -ENOENT);
		assert_int_equal(bpftime_link_get_info(shm, 13, &li), 0);
		assert_int_equal(bpftime_handler_fd_by_id(shm, li.prog_id), 11);
		assert_int_equal(bpftime_obj_get(shm, "/sys/fs/bpf/test_hash", -1) >= 0, 1);
		k = 2;
		assert_int_equal(bpftime_map_lookup_elem(shm, 9, &k, &x, 0), 0);
		assert_int_equal(bpftime_handler_fd_by_id(shm, x), 11);
	}
	bpftime_shm__close(shm);
	free(a);
	free(b);
}

/* Objects no slot names (a pinned program of a loader that exited, and the
 * map only the program holds) are exported too, under fds of their own, and
 * the program's map reference (an id in the segment) is the map's fd in the
 * file: imported, the program reads its map again. */
static void test_export_held_objects(void **state)
{
	struct bpftime_shm *shm = bpftime_shm__open_or_create(NULL);
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_VALUE(1, 30, 0),
		BPF_LDX_MEM(BPF_DW, 0, 1, 0),
		BPF_EXIT_INSN(),
	};
	uint64_t v = 77;
	uint32_t k = 0;
	char *a, *insns;
	int fd;

	UNUSED(state);
	assert_non_null(shm);
	assert_int_equal(bpftime_map_create(shm, 30, BPFTIME_MAP_ARRAY, "arr", 4, 8, 1, NULL), 30);
	assert_int_equal(bpftime_map_update_elem(shm, 30, &k, &v, 0), 0);
	assert_int_equal(bpftime_prog_create(shm, 31, 6, "reader", prog, ARRAY_SIZE(prog), NULL),
			 31);
	assert_int_equal(bpftime_obj_pin(shm, 31, "/sys/fs/bpf/reader"), 0);
	assert_int_equal(bpftime_handler_close(shm, 30), 0);
	assert_int_equal(bpftime_handler_close(shm, 31), 0);
	assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
	bpftime_shm__close(shm);

	assert_int_equal(tool("export", path("held.json"), NULL), 0);
	a = read_all(path("held.json"));
	/* both objects, and the lddw names the map's fd in the file (0: first free) */
	assert_non_null(strstr(a, "\"name\": \"arr\""));
	assert_non_null(strstr(a, "\"name\": \"reader\""));
	insns = strstr(a, "\"insns\": \"");
	assert_non_null(insns);
	/* lddw r1 (src 2: map value), imm = fd 0: the map took the first free fd */
	assert_memory_equal(insns + 10, "1821000000000000", 16);
	free(a);
	/* the tool's temporary fds are gone again */
	shm = open_shm();
	assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
	bpftime_shm__close(shm);

	assert_int_equal(tool("remove", NULL), 0);
	assert_int_equal(tool("import", path("held.json"), NULL), 0);
	shm = open_shm();
	fd = bpftime_obj_get(shm, "/sys/fs/bpf/reader", -1);
	assert_true(fd >= 0);
	bpftime_shm__close(shm);
	{
		char fds[16];

		snprintf(fds, sizeof(fds), "%d", fd);
		write_file(path("in.bin"), "x");
		assert_int_equal(tool("run", fds, path("in.bin"), NULL), 0);
		assert_non_null(strstr(out_buf, "Return value: 77\n"));
	}
}

static void test_import_errors_leave_segment_untouched(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{ "{\"handlers\": [\n  {\"fd\": 40,\n   \"type\": }\n]}", ":3:12: malformed JSON" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_magic_handler\", \"attr\": {}}]}",
		  "unknown handler type 'bpf_magic_handler'" },
		{ "{\"40\": {\"type\": \"bpf_prog_handler\", \"name\": \"p\", \"attr\": {\"type\": "
		  "0, "
		  "\"cnt\": 1, \"insns\": \"b70000000000000g\"}}}",
		  "handler fd 40: insns is not valid hex" },
		{ "{\"40\": {\"type\": \"bpf_prog_handler\", \"name\": \"p\", \"attr\": {\"type\": "
		  "0, "
		  "\"cnt\": 2, \"insns\": \"b700000000000000\"}}}",
		  "attr.insns has 8 bytes, cnt 2 needs 16" },
		{ "{\"40\": {\"type\": \"bpf_prog_handler\", \"name\": \"p\", \"attr\": {\"type\": "
		  "0, "
		  "\"cnt\": 2, \"insns\": \"b7000000000000009500000000000000\", \"attach_fds\": "
		  "[99]}}}",
		  "attach_fds: 99 is not a perf event" },
		{ "{\"41\": {\"type\": \"bpf_link_handler\", \"attr\": {\"prog_fd\": 98, "
		  "\"target_fd\": 3}}}",
		  "prog_fd 98 is not a program" },
		{ "{\"3\": {\"type\": \"bpf_map_handler\", \"name\": \"dup\", \"attr\": "
		  "{\"map_type\": 2, "
		  "\"key_size\": 4, \"value_size\": 4, \"max_entries\": 1}}}",
		  "fd 3 is already used" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"m\", "
		  "\"attr\": "
		  "{\"map_type\": 1, \"key_size\": 4, \"value_size\": 8, \"max_entries\": 4}, "
		  "\"data\": [{\"key\": \"00000000\", \"value\": \"0000\"}]}]}",
		  "value has 2 bytes, expected 8" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"m\", "
		  "\"attr\": "
		  "{\"map_type\": \"hash\", \"key_size\": 4, \"value_size\": 8, \"max_entries\": "
		  "4}}]}",
		  "attr.map_type = \"hash\" is not a number" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"m\", "
		  "\"attr\": "
		  "{\"map_type\": 999, \"key_size\": 4, \"value_size\": 8, \"max_entries\": 4}}]}",
		  "handler fd 40: unknown map_type 999" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"m\", "
		  "\"attr\": "
		  "{\"map_type\": 2, \"key_size\": 4, \"value_size\": 0, \"max_entries\": 4}}]}",
		  "handler fd 40: map type array refuses key_size 4, value_size 0, max_entries 4, "
		  "flags 0x0; nothing was imported" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_perf_event_handler\", \"attr\": "
		  "{\"type\": 6, \"pid\": -1}}]}",
		  "a uprobe needs attr._module_name" },
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_dup_handler\", \"attr\": {\"of\": "
		  "99}}]}",
		  "a duplicate of fd 99, which does not exist" },
		{ "[1, 2]", "expected an object" },
		{ "{\"x3\": {}}", "key \"x3\" is not an fd" },
		/* valid as JSON and as references, but the second map fails when
		 * created (hash maps need a key): the first one is undone */
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"ok\", "
		  "\"attr\": {\"map_type\": 1, \"key_size\": 4, \"value_size\": 8, "
		  "\"max_entries\": 4},"
		  " \"data\": [{\"key\": \"01000000\", \"value\": \"0200000000000000\"}]},"
		  " {\"fd\": 41, \"type\": \"bpf_map_handler\", \"name\": \"bad\", \"attr\": "
		  "{\"map_type\": 1, \"key_size\": 0, \"value_size\": 8, \"max_entries\": 4}},"
		  " {\"fd\": 42, \"type\": \"bpf_prog_handler\", \"name\": \"p\", \"attr\": "
		  "{\"type\": 0,"
		  " \"cnt\": 2, \"insns\": \"b7000000000000009500000000000000\"}}]}",
		  "nothing was imported" },
		/* a data entry the map refuses while applying (array index out of range) */
		{ "{\"handlers\": [{\"fd\": 40, \"type\": \"bpf_map_handler\", \"name\": \"a\", "
		  "\"attr\": {\"map_type\": 2, \"key_size\": 4, \"value_size\": 4, "
		  "\"max_entries\": 1},"
		  " \"data\": [{\"key\": \"05000000\", \"value\": \"01000000\"}]}]}",
		  "handler fd 40: storing its contents failed: Argument list too long; nothing was "
		  "imported" },
	};
	char *before, *after;

	UNUSED(state);
	build_state();
	assert_int_equal(tool("export", path("before.json"), NULL), 0);
	before = read_all(path("before.json"));
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		write_file(path("bad.json"), cases[i].json);
		assert_int_equal(tool("import", path("bad.json"), NULL), 1);
		if (!strstr(err_buf, cases[i].msg))
			fail_msg("case %zu: '%s' not in '%s'", i, cases[i].msg, err_buf);
		assert_int_equal(tool("export", path("after.json"), NULL), 0);
		after = read_all(path("after.json"));
		if (strcmp(before, after))
			fail_msg("case %zu changed the segment", i);
		free(after);
	}
	free(before);
}

static void test_shapes_and_order(void **state)
{
	/* bpftime's shape with the link first and keys in reverse order, then
	 * the documented shape with the link before its program */
	const char *real =
		"{\"7\": {\"type\": \"bpf_link_handler\", \"attr\": {\"target_fd\": 6, "
		"\"prog_fd\": 5}},"
		" \"6\": {\"attr\": {\"type\": 6, \"offset\": 16, \"_module_name\": \"/bin/true\","
		" \"pid\": -1}, \"type\": \"bpf_perf_event_handler\"},"
		" \"5\": {\"name\": \"p\", \"attr\": {\"insns\": "
		"\"b7000000050000009500000000000000\","
		" \"cnt\": 2, \"type\": 6}, \"type\": \"bpf_prog_handler\"}}";
	const char *doc =
		"{\"handlers\": [{\"fd\": 17, \"type\": \"bpf_link_handler\", \"attr\": "
		"{\"prog_fd\": 15, \"target_fd\": 16, \"cookie\": \"18446744073709551615\"}},"
		" {\"attr\": {\"type\": 1, \"pid\": -1, \"config\": 10}, \"type\": "
		"\"bpf_perf_event_handler\", \"fd\": 16},"
		" {\"fd\": 15, \"type\": \"bpf_prog_handler\", \"name\": \"q\", \"attr\": "
		"{\"type\": 6, \"cnt\": 2, \"insns\": \"b7000000060000009500000000000000\"}}]}";
	struct bpftime_shm *shm;
	struct bpftime_link_info li;

	UNUSED(state);
	write_file(path("real.json"), real);
	write_file(path("doc.json"), doc);
	assert_int_equal(tool("import", path("real.json"), NULL), 0);
	assert_int_equal(tool("import", path("doc.json"), NULL), 0);
	shm = open_shm();
	assert_int_equal(bpftime_link_get_info(shm, 7, &li), 0);
	assert_int_equal(bpftime_handler_fd_by_id(shm, li.prog_id), 5);
	assert_int_equal(bpftime_handler_fd_by_id(shm, li.target_id), 6);
	assert_int_equal(bpftime_link_get_info(shm, 17, &li), 0);
	assert_int_equal(li.cookie, UINT64_MAX);
	write_file(path("in.bin"), "");
	assert_int_equal(tool("run", "15", path("in.bin"), "type", "INTERPRET", NULL), 0);
	assert_matches(out_buf, "^Return value: 6$");
	/* importing the same file again: the fds are taken, nothing changes */
	assert_int_equal(tool("import", path("real.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "fd 7 is already used"));
	bpftime_shm__close(shm);
}

static void test_load(void **state)
{
	struct bpftime_shm *shm;
	struct bpftime_map_info mi;

	UNUSED(state);
	assert_int_equal(tool("load", "30",
			      "{\"type\": \"bpf_map_handler\", \"name\": \"loaded\", \"attr\": "
			      "{\"map_type\": 1, \"key_size\": 4, \"value_size\": 4, "
			      "\"max_entries\": 8}}",
			      NULL),
			 0);
	shm = open_shm();
	assert_int_equal(bpftime_map_get_info(shm, 30, &mi), 0);
	assert_string_equal(mi.name, "loaded");
	assert_int_equal(mi.max_entries, 8);
	assert_int_equal(tool("load", "30", "{\"type\": \"bpf_map_handler\"}", NULL), 1);
	assert_int_equal(tool("load", "31", "{not json", NULL), 1);
	assert_non_null(strstr(err_buf, "load:1:4: malformed JSON"));
	assert_int_equal(bpftime_handler_get_type(shm, 31), BPFTIME_HANDLER_NONE);
	bpftime_shm__close(shm);
}

static void test_inspect(void **state)
{
	UNUSED(state);
	assert_int_equal(tool("prog", "show", NULL), 1);
	assert_non_null(strstr(err_buf, missing_msg()));
	assert_int_equal(tool("import", FIXTURES "/minimal.json", NULL), 0);
	assert_int_equal(tool("prog", "show", NULL), 0);
	/* numbered by object id as bpftool does; the fd is a column */
	assert_string_equal(out_buf, "2: unspec  name do_uprobe_trace  gpl  fd 4\n"
				     "\txlated 128B  attach_fds 5\n");
	assert_int_equal(tool("-j", "prog", "show", NULL), 0);
	assert_string_equal(out_buf, "[{\"id\":2,\"fd\":4,\"type\":\"unspec\",\"name\":"
				     "\"do_uprobe_trace\",\"gpl_compatible\":true,"
				     "\"bytes_xlated\":128,\"map_ids\":[],\"attach_fds\":[5]}]\n");
	assert_int_equal(tool("prog", "show", "--pretty", NULL), 0);
	assert_matches(out_buf, "^    \\{\n        \"id\": 2,\n        \"fd\": 4,$");
	assert_int_equal(tool("prog", "dump", "xlated", "id", "2", NULL), 0);
	assert_matches(out_buf, "^   0: \\(b7\\) r1 = 170812517$");
	assert_int_equal(tool("prog", "dump", "xlated", "fd", "4", NULL), 0);
	assert_int_equal(tool("-j", "prog", "dump", "xlated", "4", NULL), 2);
	assert_int_equal(tool("prog", "dump", "xlated", "id", "77", NULL), 1);
	assert_non_null(strstr(err_buf, "no object with id 77"));
	assert_int_equal(tool("prog", "dump", "xlated", "4", NULL), 0);
	assert_matches(out_buf, "^   0: \\(b7\\) r1 = 170812517$");
	assert_matches(out_buf, "^  13: \\(85\\) call bpf_trace_printk#6$");
	assert_matches(out_buf, "^  15: \\(95\\) exit\n$");
	assert_int_equal(tool("map", "show", NULL), 0);
	assert_string_equal(out_buf, "1: array  name .rodata.str1.1  flags 0x80  fd 3\n"
				     "\tkey 4B  value 21B  max_entries 1\n");
	assert_int_equal(tool("--json", "map", "show", NULL), 0);
	assert_string_equal(out_buf, "[{\"id\":1,\"fd\":3,\"type\":\"array\",\"name\":"
				     "\".rodata.str1.1\",\"flags\":128,\"bytes_key\":4,"
				     "\"bytes_value\":21,\"max_entries\":1,\"frozen\":0}]\n");
	assert_int_equal(tool("map", "dump", "3", NULL), 0);
	assert_matches(out_buf, "^key: 00 00 00 00  value: 00( 00){20}\nFound 1 element\n$");
	assert_int_equal(tool("map", "dump", "id", "1", NULL), 0);
	assert_matches(out_buf, "^key: 00 00 00 00  value: 00( 00){20}\nFound 1 element\n$");
	assert_int_equal(tool("-j", "map", "dump", "fd", "3", NULL), 0);
	assert_matches(out_buf, "^\\[\\{\"key\":\\[\"0x00\",\"0x00\",\"0x00\",\"0x00\"\\],"
				"\"value\":\\[\"0x00\"(,\"0x00\"){20}\\]\\}\\]\n$");
	assert_int_equal(tool("map", "dump", "id", NULL), 2);
	assert_int_equal(tool("map", "dump", "4", NULL), 1);
	assert_non_null(strstr(err_buf, "no map at fd 4"));
	assert_int_equal(tool("prog", "dump", "xlated", "3", NULL), 1);
	assert_int_equal(tool("map", "frob", NULL), 2);
	/* a map without keys says so instead of "Found 0 elements" */
	assert_int_equal(tool("load", "31",
			      "{\"type\": \"bpf_map_handler\", \"name\": \"rb\", \"attr\": "
			      "{\"map_type\": 27, \"key_size\": 0, \"value_size\": 0, "
			      "\"max_entries\": 4096}}",
			      NULL),
			 0);
	assert_int_equal(tool("map", "dump", "31", NULL), 1);
	assert_string_equal(out_buf, "");
	assert_string_equal(err_buf, "bpftimetool: map 31 (ringbuf) cannot be dumped: its type has "
				     "no keys to iterate\n");
}

/* A loader process makes two maps and a program using one of them, pins the
 * program and the other map, closes its fds and exits: no slot holds them.
 * `prog show` and `map show` still list all three (walked by id, as
 * GET_NEXT_ID walks them), without an fd column and with their pins; `dump`
 * by id and by pin reads them; the slots the tool borrowed are closed again. */
static void test_inspect_pinned_only(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_VALUE(1, 41, 0),
		BPF_LDX_MEM(BPF_DW, 0, 1, 0),
		BPF_EXIT_INSN(),
	};
	struct bpftime_shm *shm;
	int status;
	pid_t pid;

	UNUSED(state);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		uint64_t v = 0x2a;
		uint32_t k = 0;
		bool ok;

		shm = bpftime_shm__open_or_create(NULL);
		ok = shm &&
		     bpftime_map_create(shm, 40, BPFTIME_MAP_ARRAY, "pinmap", 4, 8, 2, NULL) ==
			     40 &&
		     bpftime_map_create(shm, 41, BPFTIME_MAP_ARRAY, "progmap", 4, 8, 1, NULL) ==
			     41 &&
		     !bpftime_map_update_elem(shm, 40, &k, &v, 0) &&
		     bpftime_prog_create(shm, 42, 6, "pinprog", prog, ARRAY_SIZE(prog), NULL) ==
			     42 &&
		     !bpftime_obj_pin(shm, 42, "/sys/fs/bpf/pinprog") &&
		     !bpftime_obj_pin(shm, 40, "/sys/fs/bpf/d/pinmap") &&
		     !bpftime_handler_close(shm, 40) && !bpftime_handler_close(shm, 41) &&
		     !bpftime_handler_close(shm, 42) && bpftime_handler_next(shm, -1) == -ENOENT;
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	assert_int_equal(tool("prog", "show", NULL), 0);
	assert_string_equal(out_buf, "3: xdp  name pinprog\n"
				     "\txlated 32B  map_ids 2\n"
				     "\tpinned /sys/fs/bpf/pinprog\n");
	assert_int_equal(tool("-j", "prog", "show", NULL), 0);
	assert_string_equal(out_buf, "[{\"id\":3,\"type\":\"xdp\",\"name\":\"pinprog\","
				     "\"gpl_compatible\":false,\"bytes_xlated\":32,"
				     "\"map_ids\":[2],\"attach_fds\":[],"
				     "\"pinned\":[\"/sys/fs/bpf/pinprog\"]}]\n");
	assert_int_equal(tool("map", "show", NULL), 0);
	assert_string_equal(out_buf, "1: array  name pinmap  flags 0x0\n"
				     "\tkey 4B  value 8B  max_entries 2\n"
				     "\tpinned /sys/fs/bpf/d/pinmap\n"
				     "2: array  name progmap  flags 0x0\n"
				     "\tkey 4B  value 8B  max_entries 1\n");
	assert_int_equal(tool("-j", "map", "show", NULL), 0);
	assert_matches(out_buf, "^\\[\\{\"id\":1,\"type\":\"array\",\"name\":\"pinmap\".*"
				"\"pinned\":\\[\"/sys/fs/bpf/d/pinmap\"\\]\\},"
				"\\{\"id\":2,\"type\":\"array\",\"name\":\"progmap\",[^]]*\\}\\]$");
	assert_int_equal(tool("map", "dump", "pinned", "/sys/fs/bpf/d/pinmap", NULL), 0);
	assert_string_equal(out_buf, "key: 00 00 00 00  value: 2a 00 00 00 00 00 00 00\n"
				     "key: 01 00 00 00  value: 00 00 00 00 00 00 00 00\n"
				     "Found 2 elements\n");
	assert_int_equal(tool("map", "dump", "id", "2", NULL), 0);
	assert_matches(out_buf, "^Found 1 element\n$");
	assert_int_equal(tool("prog", "dump", "xlated", "pinned", "/sys/fs/bpf/pinprog", NULL), 0);
	assert_matches(
		out_buf,
		"^   2: \\(79\\) r0 = \\*\\(u64 \\*\\)\\(r1 \\+0\\)\n   3: \\(95\\) exit\n$");
	assert_int_equal(tool("prog", "dump", "xlated", "id", "3", NULL), 0);
	assert_matches(out_buf, "exit\n$");
	assert_int_equal(tool("map", "dump", "pinned", "/sys/fs/bpf/pinprog", NULL), 1);
	assert_string_equal(err_buf, "bpftimetool: pinned /sys/fs/bpf/pinprog: not a map\n");
	assert_int_equal(tool("prog", "dump", "xlated", "id", "2", NULL), 1);
	assert_string_equal(err_buf, "bpftimetool: id 2: not a program\n");
	assert_int_equal(tool("map", "dump", "pinned", "/sys/fs/bpf/nothing", NULL), 1);
	assert_non_null(strstr(err_buf, "nothing pinned at /sys/fs/bpf/nothing"));
	/* the tool's borrowed slots are closed again; the objects live on */
	shm = open_shm();
	assert_int_equal(bpftime_handler_next(shm, -1), -ENOENT);
	{
		uint32_t id = 0;
		int n = 0;

		while (!bpftime_handler_next_id(shm, BPFTIME_HANDLER_NONE, id, &id))
			n++;
		assert_int_equal(n, 3);
	}
	bpftime_shm__close(shm);
}

/* Wrong arguments name the command and what it takes; a failed import into
 * no segment leaves no segment; a program that faults is reported, not a
 * bare crash; every failure is one line on stderr. */
/* A map whose value holds a bpf_spin_lock: the export says where
 * (attr.spin_lock_off, found in the BTF when the map was made), so the
 * import recreates the lock and verifies a program that takes it; without
 * it the verifier refuses the program with the kernel's words. */
static void test_spin_lock_import(void **state)
{
	/* sched_cls: look up key 0 of map 5, lock and unlock the value's lock */
	static const char *const json =
		"{\"5\": {\"type\": \"bpf_map_handler\", \"name\": \"locked\", \"attr\": "
		"{\"map_type\": 1, \"key_size\": 4, \"value_size\": 8, \"max_entries\": 4%s}}, "
		"\"6\": {\"type\": \"bpf_prog_handler\", \"name\": \"lock\", \"attr\": "
		"{\"type\": 3, \"cnt\": 14, \"insns\": "
		"\"620afcff00000000bfa200000000000007020000fcffffff1811000005000000"
		"000000000000000085000000010000001500050000000000bf06000000000000"
		"bf01000000000000850000005d000000bf61000000000000850000005e000000"
		"b7000000000000009500000000000000\"}}}";
	struct bpftime_map_info mi;
	struct bpftime_shm *shm;
	char buf[1024], *out;

	UNUSED(state);
	snprintf(buf, sizeof(buf), json, "");
	write_file(path("lock.json"), buf);
	assert_int_equal(tool("import", path("lock.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "handler fd 6: the verifier refuses the program: pc 9: "
					"map '5' has to have BTF in order to use bpf_spin_lock"));
	snprintf(buf, sizeof(buf), json, ", \"spin_lock_off\": 6");
	write_file(path("lock.json"), buf);
	assert_int_equal(tool("import", path("lock.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "attr.spin_lock_off 6 is not a 4-byte aligned offset"));
	snprintf(buf, sizeof(buf), json, ", \"spin_lock_off\": 0");
	write_file(path("lock.json"), buf);
	assert_int_equal(tool("import", path("lock.json"), NULL), 0);
	shm = open_shm();
	assert_int_equal(bpftime_map_get_info(shm, 5, &mi), 0);
	assert_true(mi.has_spin_lock);
	assert_int_equal(mi.spin_lock_off, 0);
	bpftime_shm__close(shm);
	assert_int_equal(tool("export", path("lock_out.json"), NULL), 0);
	out = read_all(path("lock_out.json"));
	assert_non_null(strstr(out, "\"spin_lock_off\": 0"));
	free(out);
}

static void test_bad_input(void **state)
{
	static const char *const progs =
		"{\"10\": {\"type\": \"bpf_prog_handler\", \"name\": \"wild\", \"attr\": "
		"{\"type\": 0, \"cnt\": 3, \"insns\": "
		"\"b70100000010000079100000000000009500000000000000\"}}}";
	static const char *const bad_prog =
		"{\"11\": {\"type\": \"bpf_prog_handler\", \"name\": \"bad\", \"attr\": "
		"{\"type\": 0, \"cnt\": 2, \"insns\": \"b700000000000000ff00000000000000\"}}}";
	/* a kprobe program calling trace_printk (gpl_only), license %s */
	static const char *const printk_prog =
		"{\"12\": {\"type\": \"bpf_prog_handler\", \"name\": \"printk\", \"attr\": "
		"{\"type\": 2, \"cnt\": 7, \"license\": \"%s\", \"insns\": "
		"\"7a0af8ff68690a00bfa100000000000007010000f8ffffffb702000008000000"
		"8500000006000000b7000000000000009500000000000000\"}}}";
	char shm_path[128], json[512];

	UNUSED(state);
	snprintf(shm_path, sizeof(shm_path), "/dev/shm/%s", shm_name);
	assert_int_equal(tool("export", NULL), 2);
	assert_string_equal(err_buf, "bpftimetool: export: wrong number of arguments: expected "
				     "`bpftimetool export FILE`\n");
	assert_int_equal(tool("load", "3", NULL), 2);
	assert_non_null(strstr(err_buf, "expected `bpftimetool load FD JSON`"));
	assert_int_equal(tool("remove", "now", NULL), 2);
	assert_string_equal(err_buf, "bpftimetool: remove: takes no arguments\n");
	assert_int_equal(tool("frobnicate", NULL), 2);
	assert_string_equal(err_buf,
			    "bpftimetool: unknown command 'frobnicate' (`bpftimetool help` "
			    "lists the commands)\n");
	assert_int_equal(tool("run", "12abc", path("x"), NULL), 2);
	assert_non_null(strstr(err_buf, "'12abc' is not a program id"));
	assert_int_equal(tool("run", "4", path("x"), "type", "FAST", NULL), 2);
	assert_non_null(strstr(err_buf, "unknown type 'FAST' (JIT, AOT, INTERPRET or LLVM)"));

	/* no segment before, none after a failed import or load */
	write_file(path("bad.json"), "{\"3\": {\"type\": \"bpf_map_handler\", \"attr\": {}}}");
	assert_int_equal(tool("import", path("bad.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "attr.map_type is missing"));
	assert_int_equal(access(shm_path, F_OK), -1);
	assert_int_equal(tool("load", "3", "{\"type\": 1}", NULL), 1);
	assert_int_equal(access(shm_path, F_OK), -1);
	write_file(path("empty.json"), "");
	assert_int_equal(tool("import", path("empty.json"), NULL), 1);
	assert_non_null(strstr(err_buf, ":1:0: malformed JSON"));
	assert_int_equal(access(shm_path, F_OK), -1);

	/* a program that reads address 0x1000: the verifier refuses it */
	write_file(path("progs.json"), progs);
	assert_int_equal(tool("import", path("progs.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "the verifier refuses the program: pc "));
	assert_non_null(strstr(err_buf, "invalid mem access 'scalar'"));
	/* with the verifier explicitly off (loudly): a message, exit status 1
	 * (not NULL: UBSan would stop the interpreter's memcpy first) */
	setenv("BPFTIME_VERIFIER", "structural", 1);
	assert_int_equal(tool("import", path("progs.json"), NULL), 0);
	assert_non_null(
		strstr(err_buf, "BPFTIME_VERIFIER=structural: the memory-safety verifier is OFF"));
	write_file(path("in.bin"), "abcdefgh");
	assert_int_equal(tool("run", "10", path("in.bin"), "type", "INTERPRET", NULL), 1);
	assert_non_null(strstr(err_buf,
			       "bpftimetool: program 10 crashed (SIGSEGV at address "
			       "0x0000000000001000): a stray memory access the verifier cannot "
			       "rule out\n"));
	assert_int_equal(tool("run", "10", path("in.bin"), NULL), 1);
	assert_non_null(strstr(err_buf, "program 10 crashed (SIGSEGV"));
	unsetenv("BPFTIME_VERIFIER");
	/* one the verifier refuses does not get in: its words */
	write_file(path("bad_prog.json"), bad_prog);
	assert_int_equal(tool("import", path("bad_prog.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "handler fd 11: the verifier refuses the program: pc 1: "
					"unknown opcode ff\n"));
	/* the license in the export reaches the verifier: a non-GPL program
	 * may not call a gpl_only helper (the kernel's words), a GPL one may */
	snprintf(json, sizeof(json), printk_prog, "MIT");
	write_file(path("printk.json"), json);
	assert_int_equal(tool("import", path("printk.json"), NULL), 1);
	assert_non_null(strstr(err_buf, "handler fd 12: the verifier refuses the program: pc 4: "
					"cannot call GPL-restricted function from non-GPL "
					"compatible program\n"));
	snprintf(json, sizeof(json), printk_prog, "Dual MIT/GPL");
	write_file(path("printk.json"), json);
	assert_int_equal(tool("import", path("printk.json"), NULL), 0);
}

static void test_tracelog(void **state)
{
	struct bpftime_shm *shm = bpftime_shm__open_or_create(NULL);
	char buf[4096] = { 0 };
	size_t got = 0;
	int pipefd[2], status;
	pid_t pid;

	UNUSED(state);
	assert_non_null(shm);
	assert_int_equal(bpftime_trace__write(shm, "first line", 10), 0);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execl(BPFTIMETOOL_BIN, BPFTIMETOOL_BIN, "tracelog", (char *)NULL);
		_exit(127);
	}
	child = pid;
	close(pipefd[1]);
	/* the old message at once, then a new one while it waits */
	while (!strstr(buf, "first line\n")) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 20000), 1);
		n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(bpftime_trace__write(shm, "second line", 11), 0);
	while (!strstr(buf, "second line\n")) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		ssize_t n;

		assert_int_equal(poll(&p, 1, 20000), 1);
		n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	kill(pid, SIGINT);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	child = -1;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(pipefd[0]);
	bpftime_shm__close(shm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_missing_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seed_imports_and_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_held_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_limits_and_export_rename, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_import_errors_leave_segment_untouched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_shapes_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inspect_pinned_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tracelog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spin_lock_import, setup, teardown),
	};

	unsetenv("BPFTIME_VM_NAME");
	unsetenv("BPFTIME_DISABLE_JIT");
	setenv("BPFTIME_SHM_MEMORY_MB", "8", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
