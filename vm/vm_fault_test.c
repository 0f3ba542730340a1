/* SPDX-License-Identifier: MIT */
/* vm/vm_fault_test.c: the fault twin of the VM's life (new, helper
 * registration, load with verification, interpreter decoding, the JIT and
 * the disassembler): the nth heap allocation fails for n = 1, 2, ... until
 * the whole sequence succeeds; every failure is -ENOMEM and leaks nothing
 * (common/testkit.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/log.h>
#include <bpftime/vm.h>
#include "vm/test_insn.h"

static uint64_t helper_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* main calls a subprogram and a helper, loops, and uses the stack */
static const struct bpftime_insn prog[] = {
	BPF_MOV64_IMM(6, 0),
	BPF_MOV64_IMM(7, 10),
	BPF_ALU64_REG(BPF_ADD, 6, 7), /* loop: */
	BPF_ALU64_IMM(BPF_SUB, 7, 1),
	BPF_JMP_IMM(BPF_JNE, 7, 0, -3),
	BPF_STX_MEM(BPF_DW, 10, 6, -8),
	BPF_MOV64_REG(1, 6),
	BPF_CALL_REL(5),
	BPF_MOV64_REG(1, 0),
	BPF_LDX_MEM(BPF_DW, 2, 10, -8),
	BPF_MOV64_IMM(3, 0),
	BPF_CALL_HELPER(1),
	BPF_EXIT_INSN(),
	/* subprogram: r0 = r1 * 2 */
	BPF_MOV64_REG(0, 1),
	BPF_ALU64_IMM(BPF_MUL, 0, 2),
	BPF_EXIT_INSN(),
};

struct run {
	enum bpftime_engine engine;
	struct bpftime_vm *vm;
};

static int life(void *arg)
{
	struct run *r = arg;
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = "fault");
	FILE *null = fopen("/dev/null", "w");
	uint64_t r0 = 0;
	int err;

	assert_non_null(null);
	r->vm = bpftime_vm__new(&opts);
	if (!r->vm) {
		err = -errno;
		goto out;
	}
	err = bpftime_vm__register_helper(r->vm, 1, "add", helper_add);
	if (!err)
		err = bpftime_vm__load(r->vm, prog, sizeof(prog) / sizeof(prog[0]));
	if (!err)
		err = bpftime_vm__compile(r->vm, r->engine);
	if (!err)
		err = bpftime_vm__run(r->vm, NULL, 0, &r0);
	if (!err)
		assert_int_equal(r0, 55 * 2 + 55);
	if (!err)
		err = bpftime_vm__disasm(r->vm, null);
	if (err) {
		bpftime_vm__free(r->vm);
		r->vm = NULL;
	}
out:
	fclose(null);
	return err;
}

static void undo(void *arg)
{
	struct run *r = arg;

	bpftime_vm__free(r->vm);
	r->vm = NULL;
}

/* @state: the engine (cmocka's prestate) */
static void test_engine(void **state)
{
	struct run r = { .engine = *(enum bpftime_engine *)*state };

	assert_true(test_fault_loop(life, undo, &r) > 0);
}

int main(int argc, char **argv)
{
	static enum bpftime_engine interp = BPFTIME_ENGINE_INTERP, jit = BPFTIME_ENGINE_JIT;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_engine, &interp),
		cmocka_unit_test_prestate(test_engine, &jit),
	};

	(void)argc;
	test_exact_heap(argv);
	bpftime_set_print(NULL);
	return TEST_RUN(tests, NULL, NULL);
}
