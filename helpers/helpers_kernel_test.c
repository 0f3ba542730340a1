/* SPDX-License-Identifier: MIT */
/* helpers/helpers_kernel_test.c: our helpers against the kernel's own, on
 * the same program: bpf_snprintf with a table of formats (the printf engine
 * shared by trace_printk and trace_vprintk) and bpf_strncmp.  Each case is one XDP program run once
 * with BPF_PROG_TEST_RUN in the kernel and once on our JIT; the output
 * buffer and the return value must be byte for byte the same.  Skipped
 * when the kernel's bpf() is not usable (not root, no BPF).
 *
 * The program: fmt lives in a frozen read-only array map (the kernel wants a
 * constant string); the arguments are built on the stack (numbers, or
 * pointers to a string and an IPv4 address on the stack); the output and the
 * helper's return value land in an "out" array map that the test reads. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>

/* instruction builders over the uapi constants */
#define INSN(CODE, DST, SRC, OFF, IMM) \
	((struct bpftime_insn){        \
		.code = (CODE), .dst = (DST), .src = (SRC), .off = (OFF), .imm = (IMM) })
#define MOV64_REG(D, S)	    INSN(BPF_ALU64 | BPF_MOV | BPF_X, D, S, 0, 0)
#define MOV64_IMM(D, I)	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, D, 0, 0, I)
#define ADD64_IMM(D, I)	    INSN(BPF_ALU64 | BPF_ADD | BPF_K, D, 0, 0, I)
#define STX_DW(D, S, O)	    INSN(BPF_STX | BPF_MEM | BPF_DW, D, S, O, 0)
#define ST_W(D, O, I)	    INSN(BPF_ST | BPF_MEM | BPF_W, D, 0, O, I)
#define CALL(ID)	    INSN(BPF_JMP | BPF_CALL, 0, 0, 0, ID)
#define EXIT()		    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define JEQ_IMM(D, I, O)    INSN(BPF_JMP | BPF_JEQ | BPF_K, D, 0, O, I)
#define LD64(D, SRC, I, NI) INSN(BPF_LD | BPF_DW | BPF_IMM, D, SRC, 0, I), INSN(0, 0, 0, 0, NI)

#define OUT_SIZE 128
#define STR_SIZE 112 /* the helper writes here; r0 goes at offset 120 */

struct side {
	bool kernel;
	int fmt_map, out_map;
};

static struct bpftime_shm *shm;
static struct bpftime_runtime *rt;
static char shm_name[64];
static bool kernel_ok;

static int group_setup(void **state)
{
	const struct bpftime_insn ret[] = { MOV64_IMM(0, 2), EXIT() };
	int fd;

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_helpers_kernel_%d", getpid());
	bpftime_shm__remove(shm_name);
	{
		BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 8, .max_fd = 4096);
		BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_JIT,
			     .engine_set = true);

		shm = bpftime_shm__create(&o);
		assert_non_null(shm);
		rt = bpftime_runtime__new(shm, &ro);
		assert_non_null(rt);
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "probe", "GPL", (const struct bpf_insn *)ret, 2,
			   NULL);
	kernel_ok = fd >= 0;
	if (fd >= 0)
		close(fd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

static int map_create(bool kernel, uint32_t flags, uint32_t value_size)
{
	if (kernel) {
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);

		return bpf_map_create(BPF_MAP_TYPE_ARRAY, "m", 4, value_size, 1, &o);
	}
	BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = flags);
	return bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "m", 4, value_size, 1, &o);
}

static int map_update(bool kernel, int fd, const void *value)
{
	uint32_t k = 0;

	return kernel ? bpf_map_update_elem(fd, &k, value, 0)
		      : bpftime_map_update_elem(shm, fd, &k, value, 0);
}

static int map_lookup(bool kernel, int fd, void *value)
{
	uint32_t k = 0;

	return kernel ? bpf_map_lookup_elem(fd, &k, value)
		      : bpftime_map_lookup_elem(shm, fd, &k, value, 0);
}

/* Runs r0 = helper(...) as described above on one side; fills out[]. */
static bool run_case(bool kernel, uint32_t helper, const char *fmt, const char *kinds,
		     const uint64_t *nums, uint8_t out[OUT_SIZE])
{
	struct bpftime_insn p[96];
	char fmtbuf[64] = { 0 };
	uint8_t zero[OUT_SIZE] = { 0 };
	size_t n = 0, nargs = strlen(kinds);
	int fmt_map, out_map, prog;
	uint64_t r0;

	assert_true(strlen(fmt) < sizeof(fmtbuf));
	strcpy(fmtbuf, fmt);
	fmt_map = map_create(kernel, BPF_F_RDONLY_PROG, sizeof(fmtbuf));
	out_map = map_create(kernel, 0, OUT_SIZE);
	assert_true(fmt_map >= 0 && out_map >= 0);
	assert_int_equal(map_update(kernel, fmt_map, fmtbuf), 0);
	assert_int_equal(map_update(kernel, out_map, zero), 0);
	if (kernel)
		assert_int_equal(bpf_map_freeze(fmt_map), 0);
	else
		assert_int_equal(bpftime_map_freeze(shm, fmt_map), 0);

	/* "str" at r10-32, 127.0.0.1 at r10-24, args at r10-64.. */
	p[n++] = ST_W(10, -32, 0x00727473);
	p[n++] = ST_W(10, -28, 0);
	p[n++] = ST_W(10, -24, 0x0100007f);
	for (size_t i = 0; i < nargs; i++) {
		if (kinds[i] == 'n') {
			struct bpftime_insn ld[] = { LD64(1, 0, (int32_t)(uint32_t)nums[i],
							  (int32_t)(uint32_t)(nums[i] >> 32)) };

			p[n++] = ld[0];
			p[n++] = ld[1];
		} else {
			p[n++] = MOV64_REG(1, 10);
			p[n++] = ADD64_IMM(1, kinds[i] == 's' ? -32 : -24);
		}
		p[n++] = STX_DW(10, 1, (int16_t)(-64 + 8 * (int)i));
	}
	/* r6 = &out[0] */
	p[n++] = ST_W(10, -4, 0);
	{
		struct bpftime_insn ld[] = { LD64(1, BPF_PSEUDO_MAP_FD, out_map, 0) };

		p[n++] = ld[0];
		p[n++] = ld[1];
	}
	p[n++] = MOV64_REG(2, 10);
	p[n++] = ADD64_IMM(2, -4);
	p[n++] = CALL(1);
	p[n++] = JEQ_IMM(0, 0, 10);
	p[n++] = MOV64_REG(6, 0);
	if (helper == 165) { /* snprintf(out, STR_SIZE, fmt, args, 8 * nargs) */
		struct bpftime_insn ld[] = { LD64(3, BPF_PSEUDO_MAP_VALUE, fmt_map, 0) };

		p[n++] = MOV64_REG(1, 6);
		p[n++] = MOV64_IMM(2, STR_SIZE);
		p[n++] = ld[0];
		p[n++] = ld[1];
		p[n++] = MOV64_REG(4, 10);
		p[n++] = ADD64_IMM(4, -64);
		p[n++] = MOV64_IMM(5, (int32_t)(8 * nargs));
	} else { /* strncmp("str" on the stack, nums[0], fmt) */
		struct bpftime_insn ld[] = { LD64(3, BPF_PSEUDO_MAP_VALUE, fmt_map, 0) };

		p[n++] = MOV64_REG(1, 10);
		p[n++] = ADD64_IMM(1, -32);
		p[n++] = MOV64_IMM(2, (int32_t)nums[0]);
		p[n++] = ld[0];
		p[n++] = ld[1];
		p[n++] = MOV64_IMM(4, 0);
		p[n++] = MOV64_IMM(5, 0);
	}
	p[n++] = CALL((int32_t)helper);
	p[n++] = STX_DW(6, 0, 120);
	p[n++] = MOV64_IMM(0, 2);
	p[n++] = EXIT();

	if (kernel) {
		char log[8192] = "";
		uint8_t pkt[64] = { 0 };
		LIBBPF_OPTS(bpf_prog_load_opts, lo, .log_buf = log, .log_size = sizeof(log),
			    .log_level = 1);
		LIBBPF_OPTS(bpf_test_run_opts, to, .data_in = pkt, .data_size_in = sizeof(pkt));

		prog = bpf_prog_load(BPF_PROG_TYPE_XDP, "fmt", "GPL", (const struct bpf_insn *)p, n,
				     &lo);
		/* the kernel checks a constant format when it loads the program */
		if (prog < 0 && strstr(log, "Invalid format string")) {
			close(fmt_map);
			close(out_map);
			return false;
		}
		if (prog < 0)
			fail_msg("kernel rejected the program for '%s': %s", fmt,
				 log + (strlen(log) > 400 ? strlen(log) - 400 : 0));
		assert_int_equal(bpf_prog_test_run_opts(prog, &to), 0);
		close(prog);
	} else {
		prog = bpftime_prog_create(shm, -1, BPF_PROG_TYPE_XDP, "fmt", p, n, NULL);
		assert_true(prog >= 0);
		assert_int_equal(bpftime_runtime__run(rt, prog, NULL, 0, &r0), 0);
		bpftime_handler_close(shm, prog);
	}
	assert_int_equal(map_lookup(kernel, out_map, out), 0);
	if (kernel) {
		close(fmt_map);
		close(out_map);
	} else {
		bpftime_handler_close(shm, fmt_map);
		bpftime_handler_close(shm, out_map);
	}
	return true;
}

static void compare(uint32_t helper, const char *fmt, const char *kinds, const uint64_t *nums)
{
	uint8_t ours[OUT_SIZE], theirs[OUT_SIZE];
	int64_t r_ours, r_theirs;

	if (!kernel_ok)
		TEST_SKIP("bpf(2) unusable: no kernel to compare with");
	if (!run_case(true, helper, fmt, kinds, nums, theirs)) {
		/* refused at load by the kernel: our helper refuses it at run time */
		run_case(false, helper, fmt, kinds, nums, ours);
		memcpy(&r_ours, ours + 120, 8);
		if (r_ours != -EINVAL)
			fail_msg("'%s': the kernel refuses it, bpftime returned %lld", fmt,
				 (long long)r_ours);
		return;
	}
	run_case(false, helper, fmt, kinds, nums, ours);
	memcpy(&r_ours, ours + 120, 8);
	memcpy(&r_theirs, theirs + 120, 8);
	if (r_ours != r_theirs || memcmp(ours, theirs, STR_SIZE))
		fail_msg("'%s': kernel %lld \"%.*s\", bpftime %lld \"%.*s\"", fmt,
			 (long long)r_theirs, STR_SIZE, (const char *)theirs, (long long)r_ours,
			 STR_SIZE, (const char *)ours);
}

static void test_snprintf_formats(void **state)
{
	static const struct {
		const char *fmt, *kinds;
		uint64_t nums[4];
	} cases[] = {
		{ "plain", "", { 0 } },
		{ "%d %i %u", "nnn", { (uint64_t)-1, 7, (uint64_t)-1 } },
		{ "%x %X", "nn", { 0xabcdef, 0xabcdef } },
		{ "%ld %lu %lx", "nnn", { (uint64_t)-2, (uint64_t)-1, 0x1234567890ULL } },
		{ "%lld %llu %llx", "nnn", { (uint64_t)INT64_MIN, 42, (uint64_t)-1 } },
		{ "%d", "n", { 0x100000005ULL } },
		{ "[%5d] [%-4d] [%05d]", "nnn", { 42, 7, 42 } },
		{ "[%+d] [% d] [%-6x]", "nnn", { 5, 5, 0xab } },
		{ "%c%c %%", "nn", { 'o', 'k' } },
		{ "%s|%5s|%-5s|", "sss", { 0 } },
		{ "%pI4 %pi4", "ii", { 0 } },
		{ "%px", "n", { 0xdeadbeef } },
		{ "a%%b %d", "n", { 3 } },
		{ "[%-08d] [%08x] [%3c]", "nnn", { 42, 0xbeef, 'q' } },
		{ "%lli %llX [% 5d] [%+5d]", "nnnn", { (uint64_t)-9, 0xabcULL, 12, 12 } },
		{ "[%10s] [%-3s]", "ss", { 0 } },
		{ "%u %x", "nn", { 0xffffffff80000000ULL, 0xffffffff80000000ULL } },
		{ "%d %d %d %d %d", "nnnn", { 1, 2, 3, 4 } }, /* more conversions than args */
		{ "%f", "n", { 1 } },
		{ "%.2d", "n", { 1 } },
		{ "%hd", "n", { 1 } },
		{ "%pZ", "n", { 1 } },
		{ "%", "n", { 1 } },
		{ "very long output: %lld %lld %lld %lld",
		  "nnnn",
		  { (uint64_t)INT64_MIN, (uint64_t)INT64_MIN, (uint64_t)INT64_MIN,
		    (uint64_t)INT64_MIN } }, /* truncated at STR_SIZE */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		compare(165, cases[i].fmt, cases[i].kinds, cases[i].nums);
}

static void test_strncmp(void **state)
{
	static const struct {
		const char *s1;
		uint64_t n;
	} cases[] = {
		{ "str", 4 },  { "sts", 4 }, { "stq", 4 }, { "strX", 3 },
		{ "strX", 5 }, { "s", 4 },   { "", 1 },	   { "zzz", 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t nums[1] = { cases[i].n };

		compare(182, cases[i].s1, "", nums);
	}
}

/* Return codes of map helpers and of the callback helpers, in a program:
 * each step's r0 goes to out[step] (u64), the same program on both sides. */
static void run_codes(bool kernel, int64_t res[14], bool *ok)
{
	struct bpftime_insn p[160];
	uint8_t zero[OUT_SIZE] = { 0 }, out[OUT_SIZE];
	int hash, outm, prog, step = 0, sub_pc[2], fix[2], nfix = 0;
	size_t n = 0;
	uint64_t r0;

	outm = map_create(kernel, 0, OUT_SIZE);
	if (kernel) {
		hash = bpf_map_create(BPF_MAP_TYPE_HASH, "h", 4, 8, 4, NULL);
	} else {
		hash = bpftime_map_create(shm, -1, BPFTIME_MAP_HASH, "h", 4, 8, 4, NULL);
	}
	assert_true(outm >= 0 && hash >= 0);
	assert_int_equal(map_update(kernel, outm, zero), 0);
	/* r6 = &out; key 1 at r10-4, value at r10-16, ctx (counter) at r10-24 */
	p[n++] = ST_W(10, -4, 0);
	{
		struct bpftime_insn ld[] = { LD64(1, BPF_PSEUDO_MAP_FD, outm, 0) };

		p[n++] = ld[0];
		p[n++] = ld[1];
	}
	p[n++] = MOV64_REG(2, 10);
	p[n++] = ADD64_IMM(2, -4);
	p[n++] = CALL(1);
	p[n++] = JEQ_IMM(0, 0, 0); /* patched: to the exit */
	fix[nfix++] = (int)n - 1;
	p[n++] = MOV64_REG(6, 0);
	p[n++] = ST_W(10, -4, 1);
	p[n++] = ST_W(10, -16, 7);
	p[n++] = ST_W(10, -12, 0);
	p[n++] = ST_W(10, -24, 0);
	p[n++] = ST_W(10, -20, 0);
#define MAPCALL(ID, FLAGS, WITH_VALUE)                                               \
	do {                                                                         \
		struct bpftime_insn ld_[] = { LD64(1, BPF_PSEUDO_MAP_FD, hash, 0) }; \
		p[n++] = ld_[0];                                                     \
		p[n++] = ld_[1];                                                     \
		p[n++] = MOV64_REG(2, 10);                                           \
		p[n++] = ADD64_IMM(2, -4);                                           \
		if (WITH_VALUE) {                                                    \
			p[n++] = MOV64_REG(3, 10);                                   \
			p[n++] = ADD64_IMM(3, -16);                                  \
			p[n++] = MOV64_IMM(4, FLAGS);                                \
		}                                                                    \
		p[n++] = CALL(ID);                                                   \
		p[n++] = STX_DW(6, 0, (int16_t)(8 * step++));                        \
	} while (0)
	MAPCALL(2, BPF_EXIST, true);   /* absent: -ENOENT */
	MAPCALL(3, 0, false);	       /* absent: -ENOENT */
	MAPCALL(2, BPF_NOEXIST, true); /* 0 */
	MAPCALL(2, BPF_NOEXIST, true); /* -EEXIST */
	MAPCALL(2, BPF_EXIST, true);   /* 0 */
	MAPCALL(2, 4, true);	       /* BPF_F_LOCK without a spin lock: -EINVAL */
	MAPCALL(2, 8, true);	       /* unknown flag: -EINVAL */
	MAPCALL(3, 0, false);	       /* 0 */
	MAPCALL(3, 0, false);	       /* -ENOENT */
	MAPCALL(2, BPF_ANY, true);     /* 0, for the walk below */
#undef MAPCALL
	/* bpf_loop(5, cb, &ctx, 0): 5; flags 1: -EINVAL; for_each: 1 element */
	for (int k = 0; k < 3; k++) {
		if (k < 2) {
			p[n++] = MOV64_IMM(1, 5);
		} else {
			struct bpftime_insn ld[] = { LD64(1, BPF_PSEUDO_MAP_FD, hash, 0) };

			p[n++] = ld[0];
			p[n++] = ld[1];
		}
		p[n++] = INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_FUNC, 0, 0); /* patched */
		p[n++] = INSN(0, 0, 0, 0, 0);
		p[n++] = MOV64_REG(3, 10);
		p[n++] = ADD64_IMM(3, -24);
		p[n++] = MOV64_IMM(4, k == 1);
		p[n++] = CALL(k < 2 ? 181 : 164);
		p[n++] = STX_DW(6, 0, (int16_t)(8 * step++));
	}
	/* the counter the callbacks advanced: 5 + 1 */
	p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 10, -24, 0);
	p[n++] = STX_DW(6, 1, (int16_t)(8 * step++));
	p[n++] = MOV64_IMM(0, 2);
	p[n++] = EXIT();
	p[fix[0]].off = (int16_t)((int)n - 2 - (fix[0] + 1));
	/* callbacks: *(u64 *)ctx += 1, return 0; bpf_loop passes ctx in r2,
	 * for_each_map_elem in r4 */
	for (int cb = 0; cb < 2; cb++) {
		sub_pc[cb] = (int)n;
		p[n++] = INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, cb ? 4 : 2, 0, 0);
		p[n++] = ADD64_IMM(1, 1);
		p[n++] = STX_DW(cb ? 4 : 2, 1, 0);
		p[n++] = MOV64_IMM(0, 0);
		p[n++] = EXIT();
	}
	for (size_t pc = 0, k = 0; pc < (size_t)sub_pc[0]; pc++) {
		if (p[pc].code == (BPF_LD | BPF_DW | BPF_IMM) && p[pc].src == BPF_PSEUDO_FUNC)
			p[pc].imm = sub_pc[k++ < 2 ? 0 : 1] - (int)pc - 1;
	}
	*ok = true;
	if (kernel) {
		char log[16384] = "";
		uint8_t pkt[64] = { 0 };
		/* callbacks need BTF func info: main and two static subprograms */
		struct btf *btf = btf__new_empty();
		int int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
		int proto = btf__add_func_proto(btf, int_id);
		struct bpf_func_info fi[3] = {
			{ 0, (uint32_t)btf__add_func(btf, "main", BTF_FUNC_GLOBAL, proto) },
			{ (uint32_t)sub_pc[0],
			  (uint32_t)btf__add_func(btf, "cb_loop", BTF_FUNC_STATIC, proto) },
			{ (uint32_t)sub_pc[1],
			  (uint32_t)btf__add_func(btf, "cb_each", BTF_FUNC_STATIC, proto) },
		};
		LIBBPF_OPTS(bpf_prog_load_opts, lo, .log_buf = log, .log_size = sizeof(log),
			    .log_level = 1, .func_info = fi, .func_info_cnt = 3,
			    .func_info_rec_size = sizeof(fi[0]));
		LIBBPF_OPTS(bpf_test_run_opts, to, .data_in = pkt, .data_size_in = sizeof(pkt));

		assert_int_equal(btf__load_into_kernel(btf), 0);
		lo.prog_btf_fd = btf__fd(btf);
		prog = bpf_prog_load(BPF_PROG_TYPE_XDP, "codes", "GPL", (const struct bpf_insn *)p,
				     n, &lo);
		btf__free(btf);
		if (prog < 0) {
			fprintf(stderr, "kernel refused the program: %s\n",
				log + (strlen(log) > 600 ? strlen(log) - 600 : 0));
			*ok = false;
		} else {
			assert_int_equal(bpf_prog_test_run_opts(prog, &to), 0);
			close(prog);
		}
	} else {
		prog = bpftime_prog_create(shm, -1, BPF_PROG_TYPE_XDP, "codes", p, n, NULL);
		assert_true(prog >= 0);
		assert_int_equal(bpftime_runtime__run(rt, prog, NULL, 0, &r0), 0);
		bpftime_handler_close(shm, prog);
	}
	if (*ok) {
		assert_int_equal(map_lookup(kernel, outm, out), 0);
		memcpy(res, out, 14 * 8);
	}
	if (kernel) {
		close(hash);
		close(outm);
	} else {
		bpftime_handler_close(shm, hash);
		bpftime_handler_close(shm, outm);
	}
}

static void test_map_and_callback_codes(void **state)
{
	int64_t ours[14], theirs[14];
	bool ok;

	(void)state;
	if (!kernel_ok)
		TEST_SKIP("bpf(2) unusable: no kernel to compare with");
	run_codes(true, theirs, &ok);
	if (!ok)
		TEST_SKIP("the kernel cannot run the program (no bpf_loop?)");
	run_codes(false, ours, &ok);
	for (int i = 0; i < 14; i++) {
		if (ours[i] != theirs[i])
			fail_msg("step %d: kernel %lld, bpftime %lld", i, (long long)theirs[i],
				 (long long)ours[i]);
	}
	/* and they are what the documentation says */
	assert_int_equal(theirs[0], -ENOENT);
	assert_int_equal(theirs[3], -EEXIST);
	assert_int_equal(theirs[10], 5);
	assert_int_equal(theirs[11], -EINVAL);
	assert_int_equal(theirs[12], 1);
	assert_int_equal(theirs[13], 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snprintf_formats),
		cmocka_unit_test(test_strncmp),
		cmocka_unit_test(test_map_and_callback_codes),
	};

	return TEST_RUN(tests, group_setup, group_teardown);
}
