/* SPDX-License-Identifier: MIT */
/* runtime/runtime_fault_test.c: the fault twin of program instantiation: a
 * runtime over a segment builds a program that uses a map (lddw of the map
 * and of its value, a helper, a tail-call-capable VM) and runs it, with the
 * nth allocation failing (heap and arena) for n = 1, 2, ... until it
 * succeeds; every failure is -ENOMEM and leaks nothing (common/testkit.h).
 * The same for a test run of an XDP program (the context the kernel's
 * BPF_PROG_TEST_RUN builds, ctx_in and ctx_out). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "vm/test_insn.h"

static char name[64];
static struct bpftime_shm *shm;
static int map_fd, prog_fd, xdp_fd;

/* XDP: writes 0x5a into the packet's first byte, returns its length */
static const struct bpftime_insn xdp[] = {
	BPF_LDX_MEM(BPF_W, 2, 1, 0), /* data */
	BPF_LDX_MEM(BPF_W, 3, 1, 4), /* data_end */
	BPF_MOV64_REG(4, 2),
	BPF_ALU64_IMM(BPF_ADD, 4, 1),
	BPF_MOV64_IMM(0, 1), /* XDP_DROP */
	BPF_JMP_REG(BPF_JGT, 4, 3, 3),
	BPF_ST_MEM(BPF_B, 2, 0, 0x5a),
	BPF_MOV64_REG(0, 3),
	BPF_ALU64_REG(BPF_SUB, 0, 2),
	BPF_EXIT_INSN(),
};

struct run {
	enum bpftime_engine engine;
	struct bpftime_runtime *rt;
};

/* r0 = map[0] (via bpf_map_lookup_elem) + the value's second word (direct
 * value access) */
static const struct bpftime_insn prog[] = {
	BPF_ST_MEM(BPF_W, 10, -4, 0),
	BPF_MOV64_REG(2, 10),
	BPF_ALU64_IMM(BPF_ADD, 2, -4),
	BPF_LD_MAP_FD(1, 3),
	BPF_CALL_HELPER(1),
	BPF_JMP_IMM(BPF_JEQ, 0, 0, 6), /* NULL: to r0 = -1 */
	BPF_LDX_MEM(BPF_DW, 6, 0, 0),
	BPF_LD_MAP_VALUE(1, 3, 8),
	BPF_LDX_MEM(BPF_DW, 0, 1, 0),
	BPF_ALU64_REG(BPF_ADD, 0, 6),
	BPF_EXIT_INSN(),
	BPF_MOV64_IMM(0, -1),
	BPF_EXIT_INSN(),
};

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = name, .size_mb = 4, .max_fd = 16);
	uint64_t value[2] = { 40, 2 };
	uint32_t key = 0;

	(void)state;
	snprintf(name, sizeof(name), "bpftime_test_rtfault_%d", getpid());
	bpftime_shm__remove(name);
	shm = bpftime_shm__create(&o);
	assert_non_null(shm);
	map_fd = bpftime_map_create(shm, 3, BPFTIME_MAP_ARRAY, "a", 4, 16, 1, NULL);
	assert_int_equal(map_fd, 3);
	assert_int_equal(bpftime_map_update_elem(shm, map_fd, &key, value, 0), 0);
	prog_fd = bpftime_prog_create(shm, 4, 1, "p", prog, sizeof(prog) / sizeof(prog[0]), NULL);
	assert_int_equal(prog_fd, 4);
	xdp_fd = bpftime_prog_create(shm, 5, 6, "x", xdp, sizeof(xdp) / sizeof(xdp[0]), NULL);
	assert_int_equal(xdp_fd, 5);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bpftime_shm__close(shm);
	bpftime_shm__remove(name);
	return 0;
}

static int build_and_run(void *arg)
{
	struct run *r = arg;
	BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = r->engine, .engine_set = true);
	uint64_t r0 = 0;
	int err;

	r->rt = bpftime_runtime__new(shm, &o);
	if (!r->rt)
		return -errno;
	err = bpftime_runtime__run(r->rt, prog_fd, NULL, 0, &r0);
	if (err) {
		bpftime_runtime__free(r->rt);
		r->rt = NULL;
		return err;
	}
	assert_int_equal(r0, 42);
	return 0;
}

static void undo(void *arg)
{
	struct run *r = arg;

	bpftime_runtime__free(r->rt);
	r->rt = NULL;
}

static int build_and_test_run(void *arg)
{
	struct run *r = arg;
	BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = r->engine, .engine_set = true);
	unsigned char pkt[64] = { 1, 2, 3 }, out[64] = { 0 };
	uint32_t md[6] = { 0, 64 }, md_out[6] = { 0 };
	BPFTIME_OPTS(bpftime_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt),
		     .data_out = out, .data_size_out = sizeof(out), .ctx_in = md,
		     .ctx_size_in = sizeof(md), .ctx_out = md_out, .ctx_size_out = sizeof(md_out),
		     .repeat = 3);
	int err;

	r->rt = bpftime_runtime__new(shm, &o);
	if (!r->rt)
		return -errno;
	err = bpftime_runtime__test_run(r->rt, xdp_fd, &t);
	if (err) {
		bpftime_runtime__free(r->rt);
		r->rt = NULL;
		return err;
	}
	assert_int_equal(t.retval, 64);
	assert_int_equal(t.data_size_out, 64);
	assert_int_equal(out[0], 0x5a);
	assert_int_equal(out[1], 2);
	assert_int_equal(md_out[1], 64);
	return 0;
}

static void test_test_run(void **state)
{
	struct run r = { .engine = *(enum bpftime_engine *)*state };

	assert_true(test_fault_loop(build_and_test_run, undo, &r) > 0);
}

/* @state: the engine (cmocka's prestate) */
static void test_engine(void **state)
{
	struct run r = { .engine = *(enum bpftime_engine *)*state };

	assert_true(test_fault_loop(build_and_run, undo, &r) > 0);
}

int main(int argc, char **argv)
{
	static enum bpftime_engine interp = BPFTIME_ENGINE_INTERP, jit = BPFTIME_ENGINE_JIT;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_engine, &interp),
		cmocka_unit_test_prestate(test_engine, &jit),
		cmocka_unit_test_prestate(test_test_run, &interp),
		cmocka_unit_test_prestate(test_test_run, &jit),
	};

	(void)argc;
	test_exact_heap(argv);
	bpftime_set_print(NULL);
	return TEST_RUN(tests, setup, teardown);
}
