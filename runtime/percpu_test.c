/* SPDX-License-Identifier: MIT */
/* runtime/percpu_test.c: bpftime_runtime__needs_cpu() on real programs
 * built from a real segment: a run skips the per-CPU claim only when its
 * program touches no per-CPU data (maps by type, however the lddw names
 * them, helpers by id). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "vm/test_insn.h"

#define KPROBE_PROG 2

static char shm_name[64];
static struct bpftime_shm *shm;
static struct bpftime_runtime *rt;

/* the decision for the program at @fd, built by the runtime */
static bool needs(int fd)
{
	struct bpftime_vm *vm;

	assert_true(fd >= 0);
	vm = bpftime_runtime__prog(rt, fd);
	if (!vm)
		fail_msg("prog %d does not build: %s", fd, strerror(errno));
	return bpftime_runtime__needs_cpu(rt, vm);
}

/* a program that looks up key 0 of map @fd through lddw source @src */
static int prog_on_map(int fd, unsigned int src)
{
	const struct bpftime_insn insns[] = {
		BPF_ST_MEM(BPF_W, 10, -4, 0),
		BPF_LD_IMM64_RAW(1, src, fd, 0),
		BPF_MOV64_REG(2, 10),
		BPF_ALU64_IMM(BPF_ADD, 2, -4),
		BPF_CALL_HELPER(1),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};

	return bpftime_prog_create(shm, -1, KPROBE_PROG, "onmap", insns,
				   sizeof(insns) / sizeof(insns[0]), NULL);
}

static int prog_calling(int32_t helper)
{
	const struct bpftime_insn insns[] = {
		BPF_CALL_HELPER(helper),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};

	return bpftime_prog_create(shm, -1, KPROBE_PROG, "calls", insns,
				   sizeof(insns) / sizeof(insns[0]), NULL);
}

static int map(uint32_t type)
{
	int fd = bpftime_map_create(
		shm, -1, type, "m", 4,
		type == BPFTIME_MAP_PROG_ARRAY || type == BPFTIME_MAP_PERF_EVENT_ARRAY ? 4 : 8, 4,
		NULL);

	assert_true(fd >= 0);
	return fd;
}

static void test_maps(void **state)
{
	struct {
		uint32_t type;
		bool needs;
	} cases[] = {
		{ BPFTIME_MAP_ARRAY, false },	   { BPFTIME_MAP_HASH, false },
		{ BPFTIME_MAP_LRU_HASH, false },   { BPFTIME_MAP_PERCPU_ARRAY, true },
		{ BPFTIME_MAP_PERCPU_HASH, true }, { BPFTIME_MAP_LRU_PERCPU_HASH, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int m = map(cases[i].type);

		if (needs(prog_on_map(m, BPFTIME_PSEUDO_MAP_FD)) != cases[i].needs)
			fail_msg("map type %u: needs_cpu should be %d", cases[i].type,
				 cases[i].needs);
	}
	/* a VM the runtime did not build */
	assert_true(bpftime_runtime__needs_cpu(rt, NULL));
}

static void test_helpers(void **state)
{
	const struct {
		int32_t id;
		bool needs;
	} cases[] = {
		{ 5, false },  /* ktime_get_ns */
		{ 14, false }, /* get_current_pid_tgid */
		{ 8, true },   /* get_smp_processor_id */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (needs(prog_calling(cases[i].id)) != cases[i].needs)
			fail_msg("helper %d: needs_cpu should be %d", cases[i].id, cases[i].needs);
	/* tail_call and perf_event_output, with the arguments they take */
	{
		int pa = map(BPFTIME_MAP_PROG_ARRAY), pe = map(BPFTIME_MAP_PERF_EVENT_ARRAY);
		const struct bpftime_insn tail[] = {
			BPF_LD_MAP_FD(2, pa), BPF_MOV64_IMM(3, 0), BPF_CALL_HELPER(12),
			BPF_MOV64_IMM(0, 0),  BPF_EXIT_INSN(),
		};
		const struct bpftime_insn out[] = {
			BPF_ST_MEM(BPF_DW, 10, -8, 0),
			BPF_LD_MAP_FD(2, pe),
			BPF_LD_IMM64(3, 0xffffffffULL),
			BPF_MOV64_REG(4, 10),
			BPF_ALU64_IMM(BPF_ADD, 4, -8),
			BPF_MOV64_IMM(5, 8),
			BPF_CALL_HELPER(25),
			BPF_MOV64_IMM(0, 0),
			BPF_EXIT_INSN(),
		};

		assert_true(needs(bpftime_prog_create(shm, -1, KPROBE_PROG, "tail", tail,
						      sizeof(tail) / sizeof(tail[0]), NULL)));
		assert_true(needs(bpftime_prog_create(shm, -1, KPROBE_PROG, "out", out,
						      sizeof(out) / sizeof(out[0]), NULL)));
	}
}

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = shm_name, .size_mb = 4, .max_fd = 64);

	(void)state;
	snprintf(shm_name, sizeof(shm_name), "bpftime_percpu_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(&o);
	if (!shm)
		return -1;
	rt = bpftime_runtime__new(shm, NULL);
	return rt ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	bpftime_runtime__free(rt);
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
