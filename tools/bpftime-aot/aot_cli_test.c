/* SPDX-License-Identifier: MIT */
/* tools/bpftime-aot/aot_cli_test.c: `bpftime-aot compile` and `load`
 * against a real shared-memory segment of its own: the stored object runs
 * as the program does on the interpreter, and wrong input gets a clear
 * message.  argv[1] is the bpftime-aot binary.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>

#define INSN(c, d, s, o, i)                                                                   \
	{                                                                                     \
		.code = (c), .dst = (d), .src = (s), .off = (int16_t)(o), .imm = (int32_t)(i) \
	}

static const char *aot_bin;
static char shm_name[64], tmpdir[] = "/tmp/aot_cli_test.XXXXXX";

/* r0 = sum over the memory of byte * 3, the multiplication in a subprogram */
static const struct bpftime_insn prog[] = {
	INSN(0xb7, 7, 0, 0, 0),	 /* r7 = 0 */
	INSN(0xbf, 8, 1, 0, 0),	 /* r8 = r1 */
	INSN(0xbf, 9, 2, 0, 0),	 /* r9 = r2 */
	INSN(0x15, 9, 0, 6, 0),	 /* if r9 == 0 goto pc 10 */
	INSN(0xbf, 1, 8, 0, 0),	 /* r1 = r8 */
	INSN(0x85, 0, 1, 0, 6),	 /* call pc 12 */
	INSN(0x0f, 7, 0, 0, 0),	 /* r7 += r0 */
	INSN(0x07, 8, 0, 0, 1),	 /* r8 += 1 */
	INSN(0x07, 9, 0, 0, -1), /* r9 -= 1 */
	INSN(0x05, 0, 0, -7, 0), /* goto pc 3 */
	INSN(0xbf, 0, 7, 0, 0),	 /* pc 10: r0 = r7 */
	INSN(0x95, 0, 0, 0, 0),	 /* exit */
	INSN(0x71, 0, 1, 0, 0),	 /* pc 12: r0 = *(u8 *)(r1 + 0) */
	INSN(0x27, 0, 0, 0, 3),	 /* r0 *= 3 */
	INSN(0x95, 0, 0, 0, 0),	 /* exit */
};

/* Runs bpftime-aot with args; returns its exit status, output in out. */
static int run_cli(char *out, size_t out_sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int run_cli(char *out, size_t out_sz, const char *fmt, ...)
{
	char args[1024], cmd[2048];
	size_t n = 0;
	va_list ap;
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", aot_bin, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	out[0] = 0;
	while (n + 1 < out_sz && fgets(out + n, (int)(out_sz - n), p))
		n += strlen(out + n);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint64_t run_vm(struct bpftime_vm *vm, enum bpftime_engine e)
{
	uint8_t mem[5] = { 1, 2, 3, 250, 7 };
	uint64_t r0 = 0;

	if (bpftime_vm__compile(vm, e))
		fail_msg("%s: %s", bpftime_engine__name(e), bpftime_vm__last_error(vm));
	assert_int_equal(bpftime_vm__run(vm, mem, sizeof(mem), &r0), 0);
	return r0;
}

/* r0 = bpf_ktime_get_ns() != 0 */
static const struct bpftime_insn prog_time[] = {
	INSN(0x85, 0, 0, 0, 5), /* call bpf_ktime_get_ns */
	INSN(0xbf, 1, 0, 0, 0), /* r1 = r0 */
	INSN(0xb7, 0, 0, 0, 0), /* r0 = 0 */
	INSN(0x15, 1, 0, 1, 0), /* if r1 == 0 goto +1 */
	INSN(0xb7, 0, 0, 0, 1), /* r0 = 1 */
	INSN(0x95, 0, 0, 0, 0), /* exit */
};

static void test_compile_and_load(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, opts, .size_mb = 4, .max_fd = 64);
	struct bpftime_shm *shm;
	const struct bpftime_insn *insns;
	struct bpftime_vm *vm;
	char out[4096], path[256];
	const void *obj;
	size_t cnt, size;
	FILE *f;
	int fd, nowfd;

	(void)state;
	/* sum3 loops over r2 bytes with no bound a verifier can prove (the
	 * kernel refuses it too): this test is about compiling, so the
	 * structural checks only, asked for explicitly */
	setenv("BPFTIME_VERIFIER", "structural", 1);
	/* nothing there yet: a clear message */
	assert_int_equal(run_cli(out, sizeof(out), "compile"), 1);
	assert_non_null(strstr(out, "no bpftime shared memory"));

	shm = bpftime_shm__create(&opts);
	assert_non_null(shm);
	fd = bpftime_prog_create(shm, -1, 0, "sum3", prog, sizeof(prog) / sizeof(prog[0]), NULL);
	assert_true(fd >= 0);
	assert_null(bpftime_prog_aot(shm, fd, &size));

	nowfd = bpftime_prog_create(shm, -1, 0, "now", prog_time,
				    sizeof(prog_time) / sizeof(prog_time[0]), NULL);
	assert_true(nowfd >= 0);
	assert_int_equal(run_cli(out, sizeof(out), "compile -o %s", tmpdir), 0);
	assert_non_null(strstr(out, "'sum3'"));
	/* run: the object calls a helper of the runtime */
	assert_int_equal(run_cli(out, sizeof(out), "run %s/now.o", tmpdir), 0);
	assert_string_equal(out, "Output: 1\n");
	snprintf(path, sizeof(path), "%s/now.o", tmpdir);
	unlink(path);
	obj = bpftime_prog_aot(shm, fd, &size);
	assert_non_null(obj);

	/* the stored object is the program: same result as the interpreter */
	insns = bpftime_prog_insns(shm, fd, &cnt);
	vm = bpftime_vm__new(NULL);
	assert_int_equal(bpftime_vm__load(vm, insns, cnt), 0);
	assert_int_equal(bpftime_vm__load_aot(vm, obj, size), 0);
	assert_int_equal(run_vm(vm, BPFTIME_ENGINE_AOT), (1 + 2 + 3 + 250 + 7) * 3);
	assert_int_equal(run_vm(vm, BPFTIME_ENGINE_INTERP), (1 + 2 + 3 + 250 + 7) * 3);
	bpftime_vm__free(vm);

	/* load: the file -o wrote goes back in; wrong ids and files are refused */
	snprintf(path, sizeof(path), "%s/sum3.o", tmpdir);
	assert_int_equal(run_cli(out, sizeof(out), "load %s %d", path, fd), 0);
	assert_int_equal(run_cli(out, sizeof(out), "load %s %d", path, 50), 1); /* empty slot */
	assert_non_null(strstr(out, "no program with id"));
	/* an object is bound to the instructions it was compiled from: sum3's
	 * object is refused for program "now", which keeps its own */
	{
		size_t before_size, after_size;
		const void *before = bpftime_prog_aot(shm, nowfd, &before_size);

		assert_non_null(before);
		assert_int_equal(run_cli(out, sizeof(out), "load %s %d", path, nowfd), 1);
		assert_non_null(strstr(out, "compiled from other instructions than program"));
		assert_non_null(strstr(out, "nothing was stored"));
		assert_ptr_equal(bpftime_prog_aot(shm, nowfd, &after_size), before);
		assert_int_equal(after_size, before_size);
	}
	assert_int_equal(run_cli(out, sizeof(out), "load %s.missing %d", path, fd), 1);
	assert_non_null(strstr(out, "No such file or directory"));
	snprintf(path, sizeof(path), "%s/text", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not an object at all\n", f);
	fclose(f);
	assert_int_equal(run_cli(out, sizeof(out), "load %s %d", path, fd), 1);
	assert_non_null(strstr(out, "not an ELF file"));
	/* a truncated object is loaded first and refused: the stored one stays */
	{
		char full[256];
		const void *now;
		void *copy, *buf = malloc(size);
		size_t now_size;
		FILE *in;

		obj = bpftime_prog_aot(shm, fd, &size);
		assert_non_null(obj);
		copy = malloc(size);
		assert_non_null(copy);
		memcpy(copy, obj, size);
		snprintf(full, sizeof(full), "%s/sum3.o", tmpdir);
		in = fopen(full, "rb");
		assert_non_null(in);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, size, in), size);
		fclose(in);
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(buf, 1, size / 2, f), size / 2);
		fclose(f);
		assert_int_equal(run_cli(out, sizeof(out), "load %s %d", path, fd), 1);
		assert_non_null(strstr(out, "nothing was stored"));
		now = bpftime_prog_aot(shm, fd, &now_size);
		assert_non_null(now);
		assert_int_equal(now_size, size);
		assert_memory_equal(now, copy, size);
		/* an object whose code faults: a message, not a bare crash */
		snprintf(full, sizeof(full), "%s/crash.c", tmpdir);
		f = fopen(full, "w");
		assert_non_null(f);
		fputs("unsigned long bpf_main(void *c, unsigned long s)\n"
		      "{ return *(volatile unsigned long *)0x40; }\n",
		      f);
		fclose(f);
		{
			char cmd[1024];

			snprintf(cmd, sizeof(cmd),
				 "cc -c -O2 -fPIC -fno-stack-protector -o '%s/crash.o' '%s'",
				 tmpdir, full);
			assert_int_equal(system(cmd), 0);
		}
		assert_int_equal(run_cli(out, sizeof(out), "run %s/crash.o", tmpdir), 1);
		assert_non_null(strstr(out,
				       "bpftime-aot: the object crashed (SIGSEGV at address "
				       "0x0000000000000040): a stray memory access in its code\n"));
		/* a valid object made by another compiler records no program */
		assert_int_equal(run_cli(out, sizeof(out), "load %s/crash.o %d", tmpdir, fd), 1);
		assert_non_null(strstr(out, "records no program hash"));
		/* a malformed eBPF object that crashes libbpf: a message */
		assert_int_equal(run_cli(out, sizeof(out), "build %s/libbpf_crash.bpf.o -o %s",
					 AOT_TESTS_DIR, tmpdir),
				 1);
		assert_non_null(strstr(out, "libbpf_crash.bpf.o: "));
		/* an output "directory" that is a file */
		assert_int_equal(run_cli(out, sizeof(out), "compile -o %s", path), 1);
		assert_non_null(strstr(out, "is not a directory"));
		free(copy);
		free(buf);
	}
	unlink(path);

	/* -e: IR files only */
	assert_int_equal(run_cli(out, sizeof(out), "compile -e -o %s", tmpdir), 0);
	snprintf(path, sizeof(path), "%s/sum3.ll", tmpdir);
	assert_int_equal(access(path, R_OK), 0);
	unlink(path);
	snprintf(path, sizeof(path), "%s/now.ll", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sum3.o", tmpdir);
	unlink(path);
	bpftime_shm__close(shm);
}

/* The whole path with maps: `compile` stores an object whose map references
 * are symbols, and the runtime's AOT engine binds them to the segment's maps:
 * the upper half of A[0] += 5; H[3] = it; r0 = H[3] + it, alternating with
 * the interpreter on the same maps. */
static void test_maps_end_to_end(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, opts, .size_mb = 4, .max_fd = 64);
	struct bpftime_runtime *aot_rt, *interp_rt;
	struct bpftime_shm *shm;
	uint32_t key = 0;
	uint64_t r0, value;
	char out[4096];
	int a, h, fd;

	(void)state;
	shm = bpftime_shm__create(&opts);
	assert_non_null(shm);
	a = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "a", 4, 8, 4, NULL);
	h = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "h", 4, 8, 8, NULL);
	assert_true(a >= 0 && h >= 0);
	{
		const struct bpftime_insn insns[] = {
			INSN(0x18, 6, 2, 0, a),	     INSN(0, 0, 0, 0, 4), /* r6 = &a[0] + 4 */
			INSN(0x61, 7, 6, 0, 0),				  /* r7 = *(u32 *)r6 */
			INSN(0x07, 7, 0, 0, 5),				  /* r7 += 5 */
			INSN(0x63, 6, 7, 0, 0),				  /* *(u32 *)r6 = r7 */
			INSN(0x62, 10, 0, -4, 3),			  /* key = 3 */
			INSN(0x7b, 10, 7, -16, 0),			  /* value = r7 */
			INSN(0x18, 1, 1, 0, h),	     INSN(0, 0, 0, 0, 0), /* r1 = h */
			INSN(0xbf, 2, 10, 0, 0),     INSN(0x07, 2, 0, 0, -4),
			INSN(0xbf, 3, 10, 0, 0),     INSN(0x07, 3, 0, 0, -16),
			INSN(0xb7, 4, 0, 0, 0),	     INSN(0x85, 0, 0, 0, 2), /* map_update_elem */
			INSN(0x18, 1, 1, 0, h),	     INSN(0, 0, 0, 0, 0),
			INSN(0xbf, 2, 10, 0, 0),     INSN(0x07, 2, 0, 0, -4),
			INSN(0x85, 0, 0, 0, 1), /* map_lookup_elem */
			INSN(0x55, 0, 0, 2, 0), /* if r0 != 0 goto +2 */
			INSN(0xb7, 0, 0, 0, 0xdead), INSN(0x95, 0, 0, 0, 0),
			INSN(0x79, 0, 0, 0, 0), /* r0 = h[3] */
			INSN(0x0f, 0, 7, 0, 0), /* r0 += r7 */
			INSN(0x95, 0, 0, 0, 0),
		};

		fd = bpftime_prog_create(shm, -1, 0, "maps", insns,
					 sizeof(insns) / sizeof(insns[0]), NULL);
	}
	assert_true(fd >= 0);
	assert_int_equal(run_cli(out, sizeof(out), "compile"), 0);
	assert_non_null(strstr(out, "'maps'"));

	{
		BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_AOT,
			     .engine_set = true, .no_fallback = true);
		BPFTIME_OPTS(bpftime_runtime_opts, ri, .engine = BPFTIME_ENGINE_INTERP,
			     .engine_set = true, .no_fallback = true);

		aot_rt = bpftime_runtime__new(shm, &ro);
		interp_rt = bpftime_runtime__new(shm, &ri);
	}
	assert_non_null(aot_rt);
	assert_non_null(interp_rt);
	assert_int_equal(bpftime_runtime__run(aot_rt, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 10);
	assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(aot_rt, fd)), BPFTIME_ENGINE_AOT);
	assert_int_equal(bpftime_runtime__run(interp_rt, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 20);
	assert_int_equal(bpftime_runtime__run(aot_rt, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 30);
	assert_int_equal(bpftime_map_lookup_elem(shm, a, &key, &value, 0), 0);
	assert_int_equal(value, 15ULL << 32);
	key = 3;
	assert_int_equal(bpftime_map_lookup_elem(shm, h, &key, &value, 0), 0);
	assert_int_equal(value, 15);
	bpftime_runtime__free(aot_rt);
	bpftime_runtime__free(interp_rt);
	bpftime_shm__close(shm);
}

static int setup(void **state)
{
	static int n;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_aot_cli_test_%d_%d", (int)getpid(), n++);
	setenv("BPFTIME_GLOBAL_SHM_NAME", shm_name, 1);
	bpftime_shm__remove(shm_name);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compile_and_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_maps_end_to_end, setup, teardown),
	};
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH-TO-bpftime-aot\n", argv[0]);
		return 2;
	}
	aot_bin = argv[1];
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ret = cmocka_run_group_tests_name("aot_cli", tests, NULL, NULL);
	{
		/* whatever a failed test left in it */
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return ret;
}
