/* SPDX-License-Identifier: MIT */
/* helpers/verifier_test.c: the memory-safety verifier (vm/verifier*.c) with
 * this runtime's knowledge (helpers/protos.c): for each major rule a refused
 * program with its pinned message (the kernel's words) and an accepted
 * counterpart.  Maps are described by a table here (map_info), as the
 * syscall server describes the segment's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>
#include "vm/insn.h"
#include "vm/test_insn.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* fd -> map: 1 hash u32 -> u64, 2 array of 8-byte values, 3 ringbuf,
 * 4 rdonly array ("%d\0"), 5 prog array, 6 array with a spin lock at 0 */
static const char ro_fmt[16] = "%d";
static const struct bpftime_verifier_map maps[] = {
	[1] = { .type = 1,
		.key_size = 4,
		.value_size = 8,
		.max_entries = 16,
		.spin_lock_off = -1,
		.id = 1 },
	[2] = { .type = 2,
		.key_size = 4,
		.value_size = 8,
		.max_entries = 4,
		.spin_lock_off = -1,
		.id = 2 },
	[3] = { .type = 27, .max_entries = 4096, .spin_lock_off = -1, .id = 3 },
	[4] = { .type = 2,
		.key_size = 4,
		.value_size = 16,
		.max_entries = 1,
		.spin_lock_off = -1,
		.rdonly_prog = true,
		.frozen = true,
		.id = 4,
		.ro_value = ro_fmt },
	[5] = { .type = 3,
		.key_size = 4,
		.value_size = 4,
		.max_entries = 4,
		.spin_lock_off = -1,
		.id = 5 },
	[6] = { .type = 2,
		.key_size = 4,
		.value_size = 16,
		.max_entries = 1,
		.spin_lock_off = 0,
		.id = 6 },
};

static int map_info(void *ctx, unsigned int src, int32_t imm, int32_t next_imm,
		    struct bpftime_verifier_map *m)
{
	(void)ctx;
	(void)src;
	(void)next_imm;
	if (imm <= 0 || (size_t)imm >= N(maps))
		return -EBADF;
	*m = maps[imm];
	return 0;
}

static int fake_lddw(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *v)
{
	(void)ctx;
	(void)src;
	(void)next_imm;
	*v = 0x1000 + (uint64_t)imm;
	return 0;
}

/* verifies as a kprobe program (raw: raw memory); the message or "" */
static bool gpl = true; /* the program's license is GPL-compatible */

static int verify_type(uint32_t type, const struct bpftime_insn *insns, size_t cnt, char *msg,
		       size_t len, char **log)
{
	struct bpftime_verifier_ops ops;
	struct bpftime_vm *vm;
	int err;

	assert_int_equal(bpftime_verifier_ops__init(&ops, type, 0), 0);
	ops.map_info = map_info;
	ops.gpl_compatible = gpl;
	BPFTIME_OPTS(bpftime_vm_opts, o, .name = "t", .resolve_lddw = fake_lddw, .verifier = &ops,
		     .log_level = log ? 2 : 0);
	vm = bpftime_vm__new(&o);
	assert_non_null(vm);
	assert_int_equal(bpftime_helpers__register(vm), 0);
	err = bpftime_vm__load(vm, insns, cnt);
	snprintf(msg, len, "%s", bpftime_vm__last_error(vm));
	if (log)
		*log = strdup(bpftime_vm__verifier_log(vm));
	bpftime_vm__free(vm);
	return err;
}

struct vcase {
	const char *name;
	const char *msg; /* NULL: accepted */
	uint32_t type;
	size_t cnt;
	struct bpftime_insn insns[40];
};

#define KPROBE 2
#define RAW    BPFTIME_PROG_TYPE_RAW_MEMORY
#define XDP    6

#define CASE(NAME, MSG, TYPE, ...)                                             \
	{                                                                      \
		.name = (NAME), .msg = (MSG), .type = (TYPE),                  \
		.cnt = N(((struct bpftime_insn[]){ __VA_ARGS__ })), .insns = { \
			__VA_ARGS__                                            \
		}                                                              \
	}

/* r2 = fp - 4 with a zeroed u32 key, r1 = map fd F, call lookup */
#define LOOKUP(F)                                                                          \
	BPF_ST_MEM(BPF_W, 10, -4, 0), BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -4), \
		BPF_LD_MAP_FD(1, F), BPF_CALL_HELPER(1)

static void test_cases(void **state)
{
	const struct vcase cases[] = {
		CASE("uninit r0", "R0 !read_ok", KPROBE, BPF_EXIT_INSN()),
		CASE("r0 set", NULL, KPROBE, BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("uninit reg read", "R2 !read_ok", KPROBE, BPF_MOV64_REG(0, 2),
		     BPF_EXIT_INSN()),
		/* maps: a scalar where a map goes */
		CASE("scalar as map", "R1 type=scalar expected=map_ptr", KPROBE,
		     BPF_MOV64_IMM(1, 0), BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -8),
		     BPF_CALL_HELPER(1), BPF_EXIT_INSN()),
		CASE("unchecked lookup", "R0 invalid mem access 'map_value_or_null'", KPROBE,
		     LOOKUP(1), BPF_LDX_MEM(BPF_DW, 0, 0, 0), BPF_EXIT_INSN()),
		CASE("checked lookup", NULL, KPROBE, LOOKUP(1), BPF_JMP_IMM(BPF_JEQ, 0, 0, 1),
		     BPF_LDX_MEM(BPF_DW, 0, 0, 0), BPF_EXIT_INSN()),
		CASE("null check of a copy", NULL, KPROBE, LOOKUP(1), BPF_MOV64_REG(6, 0),
		     BPF_JMP_IMM(BPF_JEQ, 0, 0, 2), BPF_LDX_MEM(BPF_DW, 0, 6, 0), BPF_EXIT_INSN(),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("value out of range", "invalid access to map value, value_size=8 off=8 size=8",
		     KPROBE, LOOKUP(1), BPF_JMP_IMM(BPF_JEQ, 0, 0, 1), BPF_LDX_MEM(BPF_DW, 0, 0, 8),
		     BPF_EXIT_INSN()),
		CASE("key beyond the frame", "invalid read from stack R2 off=0 size=4", KPROBE,
		     BPF_MOV64_REG(2, 10), BPF_LD_MAP_FD(1, 1), BPF_CALL_HELPER(1),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("variable index unbounded",
		     "math between map_value pointer and register with unbounded min value is not "
		     "allowed",
		     KPROBE, LOOKUP(2), BPF_JMP_IMM(BPF_JEQ, 0, 0, 4), BPF_LDX_MEM(BPF_DW, 1, 0, 0),
		     BPF_ALU64_REG(BPF_ADD, 0, 1), BPF_LDX_MEM(BPF_B, 0, 0, 0), BPF_EXIT_INSN(),
		     BPF_EXIT_INSN()),
		CASE("variable index masked", NULL, KPROBE, LOOKUP(2),
		     BPF_JMP_IMM(BPF_JEQ, 0, 0, 5), BPF_LDX_MEM(BPF_DW, 1, 0, 0),
		     BPF_ALU64_IMM(BPF_AND, 1, 7), BPF_ALU64_REG(BPF_ADD, 0, 1),
		     BPF_LDX_MEM(BPF_B, 0, 0, 0), BPF_EXIT_INSN(), BPF_EXIT_INSN()),
		/* stack */
		CASE("stack write below", "invalid write to stack R10 off=-520 size=8", KPROBE,
		     BPF_ST_MEM(BPF_DW, 10, -520, 0), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("stack write above", "invalid write to stack R10 off=0 size=8", KPROBE,
		     BPF_ST_MEM(BPF_DW, 10, 0, 0), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		/* privileged loaders may read unwritten stack (the kernel's
		 * allow_uninit_stack): it is the program's own memory */
		CASE("stack uninit read", NULL, KPROBE, BPF_LDX_MEM(BPF_DW, 0, 10, -8),
		     BPF_EXIT_INSN()),
		CASE("stack read below", "invalid read from stack R10 off=-520 size=8", KPROBE,
		     BPF_LDX_MEM(BPF_DW, 0, 10, -520), BPF_EXIT_INSN()),
		CASE("stack spill fill", NULL, KPROBE, BPF_STX_MEM(BPF_DW, 10, 1, -8),
		     BPF_LDX_MEM(BPF_DW, 2, 10, -8), BPF_LDX_MEM(BPF_DW, 0, 2, 0), BPF_EXIT_INSN()),
		/* context */
		CASE("pt_regs read", NULL, KPROBE, BPF_LDX_MEM(BPF_DW, 0, 1, 112), BPF_EXIT_INSN()),
		CASE("pt_regs beyond", "invalid bpf_context access off=168 size=8", KPROBE,
		     BPF_LDX_MEM(BPF_DW, 0, 1, 168), BPF_EXIT_INSN()),
		CASE("pt_regs write", "invalid bpf_context access off=0 size=8", KPROBE,
		     BPF_ST_MEM(BPF_DW, 1, 0, 1), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("modified ctx", "dereference of modified ctx ptr R1 off=8 disallowed", KPROBE,
		     BPF_ALU64_IMM(BPF_ADD, 1, 8), BPF_LDX_MEM(BPF_DW, 0, 1, 0), BPF_EXIT_INSN()),
		CASE("raw memory", NULL, RAW, BPF_LDX_MEM(BPF_DW, 0, 1, 100), BPF_EXIT_INSN()),
		/* scalars are not pointers */
		CASE("scalar deref", "R1 invalid mem access 'scalar'", KPROBE, BPF_MOV64_IMM(1, 64),
		     BPF_LDX_MEM(BPF_DW, 0, 1, 0), BPF_EXIT_INSN()),
		/* read-only data */
		CASE("rodata write", "write into map forbidden, value_size=16 off=0 size=4", KPROBE,
		     BPF_LD_MAP_VALUE(1, 4, 0), BPF_ST_MEM(BPF_W, 1, 0, 7), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
		CASE("rodata read", NULL, KPROBE, BPF_LD_MAP_VALUE(1, 4, 0),
		     BPF_LDX_MEM(BPF_W, 0, 1, 12), BPF_EXIT_INSN()),
		/* termination */
		CASE("ja -1", "infinite loop detected at insn 1", KPROBE, BPF_MOV64_IMM(0, 0),
		     BPF_JMP_A(-1)),
		CASE("bounded loop", NULL, KPROBE, BPF_MOV64_IMM(0, 0),
		     BPF_ALU64_IMM(BPF_ADD, 0, 1), BPF_JMP_IMM(BPF_JLT, 0, 100, -2),
		     BPF_EXIT_INSN()),
		CASE("2^64 loop", "BPF program is too large. Processed 1000001 insn", KPROBE,
		     BPF_MOV64_IMM(0, 0), BPF_ALU64_IMM(BPF_ADD, 0, 1),
		     BPF_JMP_IMM(BPF_JNE, 0, 0, -2), BPF_EXIT_INSN()),
		/* ringbuf references */
		CASE("ringbuf leak", "Unreleased reference id=", KPROBE, BPF_LD_MAP_FD(1, 3),
		     BPF_MOV64_IMM(2, 8), BPF_MOV64_IMM(3, 0), BPF_CALL_HELPER(131),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("ringbuf submit", NULL, KPROBE, BPF_LD_MAP_FD(1, 3), BPF_MOV64_IMM(2, 8),
		     BPF_MOV64_IMM(3, 0), BPF_CALL_HELPER(131), BPF_JMP_IMM(BPF_JEQ, 0, 0, 4),
		     BPF_ST_MEM(BPF_DW, 0, 0, 1), BPF_MOV64_REG(1, 0), BPF_MOV64_IMM(2, 0),
		     BPF_CALL_HELPER(132), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("ringbuf beyond", "invalid access to memory, mem_size=8 off=8 size=8", KPROBE,
		     BPF_LD_MAP_FD(1, 3), BPF_MOV64_IMM(2, 8), BPF_MOV64_IMM(3, 0),
		     BPF_CALL_HELPER(131), BPF_JMP_IMM(BPF_JEQ, 0, 0, 4),
		     BPF_ST_MEM(BPF_DW, 0, 8, 1), BPF_MOV64_REG(1, 0), BPF_MOV64_IMM(2, 0),
		     BPF_CALL_HELPER(133), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		/* spin locks */
		CASE("lock not released",
		     "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed "
		     "region",
		     KPROBE, BPF_LD_MAP_VALUE(1, 6, 0), BPF_CALL_HELPER(93), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
		CASE("lock twice", "function calls are not allowed while holding a lock", KPROBE,
		     BPF_LD_MAP_VALUE(6, 6, 0), BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(93),
		     BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(93), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
		CASE("lock and unlock", NULL, KPROBE, BPF_LD_MAP_VALUE(6, 6, 0),
		     BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(93), BPF_ST_MEM(BPF_DW, 6, 8, 1),
		     BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(94), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
		CASE("call under lock", "function calls are not allowed while holding a lock",
		     KPROBE, BPF_LD_MAP_VALUE(6, 6, 0), BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(93),
		     BPF_CALL_HELPER(5), BPF_MOV64_REG(1, 6), BPF_CALL_HELPER(94),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		/* helpers: memory + size, format strings */
		CASE("printk unbounded size",
		     "R2 min value is negative, either use unsigned or 'var &= const'", KPROBE,
		     BPF_LDX_MEM(BPF_DW, 2, 1, 0), BPF_ST_MEM(BPF_DW, 10, -8, 0),
		     BPF_MOV64_REG(1, 10), BPF_ALU64_IMM(BPF_ADD, 1, -8), BPF_CALL_HELPER(6),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("printk", NULL, KPROBE, BPF_ST_MEM(BPF_DW, 10, -8, 0), BPF_MOV64_REG(1, 10),
		     BPF_ALU64_IMM(BPF_ADD, 1, -8), BPF_MOV64_IMM(2, 8), BPF_CALL_HELPER(6),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("tail call through a hash", "expected prog array map for tail call", KPROBE,
		     BPF_LD_MAP_FD(2, 1), BPF_MOV64_IMM(3, 0), BPF_CALL_HELPER(12),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("tail call", NULL, KPROBE, BPF_LD_MAP_FD(2, 5), BPF_MOV64_IMM(3, 0),
		     BPF_CALL_HELPER(12), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		/* bpf_loop: the callback is verified; its r0 must be 0 or 1 */
		CASE("loop callback", NULL, KPROBE, BPF_MOV64_IMM(1, 10), BPF_LD_FUNC(2, 6),
		     BPF_MOV64_IMM(3, 0), BPF_MOV64_IMM(4, 0), BPF_CALL_HELPER(181),
		     BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("loop callback r0",
		     "At callback return the register R0 has smin=7 smax=7 should have been in [0, "
		     "1]",
		     KPROBE, BPF_MOV64_IMM(1, 10), BPF_LD_FUNC(2, 6), BPF_MOV64_IMM(3, 0),
		     BPF_MOV64_IMM(4, 0), BPF_CALL_HELPER(181), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 7), BPF_EXIT_INSN()),
		/* bpf-to-bpf calls: each frame its own stack */
		CASE("subprog stack", NULL, KPROBE, BPF_MOV64_IMM(0, 0), BPF_CALL_REL(1),
		     BPF_EXIT_INSN(), BPF_ST_MEM(BPF_DW, 10, -480, 3),
		     BPF_LDX_MEM(BPF_DW, 0, 10, -480), BPF_EXIT_INSN()),
		CASE("callee stack ptr returned", "cannot return stack pointer to the caller frame",
		     KPROBE, BPF_CALL_REL(1), BPF_EXIT_INSN(), BPF_MOV64_REG(0, 10),
		     BPF_EXIT_INSN()),
		/* packets */
		CASE("xdp unchecked", "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
		     XDP, BPF_LDX_MEM(BPF_W, 2, 1, 0), BPF_LDX_MEM(BPF_B, 0, 2, 0),
		     BPF_EXIT_INSN()),
		CASE("xdp checked", NULL, XDP, BPF_LDX_MEM(BPF_W, 2, 1, 0),
		     BPF_LDX_MEM(BPF_W, 3, 1, 4), BPF_MOV64_REG(4, 2),
		     BPF_ALU64_IMM(BPF_ADD, 4, 14), BPF_MOV64_IMM(0, 1),
		     BPF_JMP_REG(BPF_JGT, 4, 3, 1), BPF_LDX_MEM(BPF_B, 0, 2, 13), BPF_EXIT_INSN()),
		/* kernel facts pinned by the corpus (tests/verifier on vcorpus) */
		CASE("stack misaligned", "misaligned stack access off 0+0+-12 size 8", KPROBE,
		     BPF_ST_MEM(BPF_DW, 10, -12, 0), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("array known key", NULL, KPROBE, LOOKUP(2), BPF_LDX_MEM(BPF_DW, 0, 0, 0),
		     BPF_EXIT_INSN()),
		CASE("stack sub", "R2 subtraction from stack pointer prohibited", KPROBE,
		     BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_SUB, 2, 8), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
		CASE("cgroup_skb verdict",
		     "At program exit the register R0 has smin=7 smax=7 should have been in [0, 1]",
		     8, BPF_MOV64_IMM(0, 7), BPF_EXIT_INSN()),
		CASE("socket filter data", "invalid bpf_context access off=76 size=4", 1,
		     BPF_LDX_MEM(BPF_W, 0, 1, 76), BPF_EXIT_INSN()),
		CASE("partial fill", "invalid size of register fill", KPROBE,
		     BPF_STX_MEM(BPF_DW, 10, 10, -8), BPF_LDX_MEM(BPF_W, 0, 10, -8),
		     BPF_EXIT_INSN()),
		CASE("unreachable", "unreachable insn 2", KPROBE, BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN(), BPF_MOV64_IMM(0, 1), BPF_EXIT_INSN()),
		CASE("combined stack", "combined stack size of 2 calls is 1024. Too large", KPROBE,
		     BPF_ST_MEM(BPF_DW, 10, -512, 0), BPF_CALL_REL(1), BPF_EXIT_INSN(),
		     BPF_ST_MEM(BPF_DW, 10, -512, 0), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		/* pointer arithmetic */
		CASE("32-bit ptr math", "R1 32-bit pointer arithmetic prohibited", KPROBE,
		     BPF_ALU32_IMM(BPF_ADD, 1, 8), BPF_MOV64_IMM(0, 0), BPF_EXIT_INSN()),
		CASE("ptr and", "R2 bitwise operator &= on pointer prohibited", KPROBE,
		     BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_AND, 2, 8), BPF_MOV64_IMM(0, 0),
		     BPF_EXIT_INSN()),
	};
	char msg[256];

	(void)state;
	for (size_t i = 0; i < N(cases); i++) {
		const struct vcase *c = &cases[i];
		int err;

		err = verify_type(c->type, c->insns, c->cnt, msg, sizeof(msg), NULL);
		if (!c->msg) {
			if (err)
				fail_msg("%s: refused: %s", c->name, msg);
			continue;
		}
		if (!err)
			fail_msg("%s: accepted, expected '%s'", c->name, c->msg);
		if (!strstr(msg, c->msg))
			fail_msg("%s: '%s', expected '%s'", c->name, msg, c->msg);
	}
}

/* every helper of helpers.def has a prototype (a missing row does not
 * compile; a wrong argument count makes bpftime_helper__proto refuse it) */
static void test_protos(void **state)
{
	(void)state;
	for (uint32_t id = 1; id <= BPFTIME_MAX_HELPER_ID; id++)
		if (bpftime_helper__name(id))
			assert_non_null(bpftime_helper__proto(id));
}

/* the kernel's gpl_only helpers: a non-GPL program may not call them (the
 * kernel's words and errno); the others it may */
static void test_gpl_only(void **state)
{
	/* trace_printk("%d\n") with the format on the stack */
	const struct bpftime_insn printk[] = {
		BPF_ST_MEM(BPF_W, 10, -4, 0x0a6425),
		BPF_MOV64_REG(1, 10),
		BPF_ALU64_IMM(BPF_ADD, 1, -4),
		BPF_MOV64_IMM(2, 4),
		BPF_CALL_HELPER(6),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn ktime[] = { BPF_CALL_HELPER(5), BPF_MOV64_IMM(0, 0),
					      BPF_EXIT_INSN() };
	struct bpftime_verifier_ops ops;
	char msg[256];

	(void)state;
	assert_true(bpftime_license__gpl_compatible("GPL"));
	assert_true(bpftime_license__gpl_compatible("GPL v2"));
	assert_true(bpftime_license__gpl_compatible("GPL and additional rights"));
	assert_true(bpftime_license__gpl_compatible("Dual BSD/GPL"));
	assert_true(bpftime_license__gpl_compatible("Dual MIT/GPL"));
	assert_true(bpftime_license__gpl_compatible("Dual MPL/GPL"));
	assert_false(bpftime_license__gpl_compatible("MIT"));
	assert_false(bpftime_license__gpl_compatible("gpl"));
	assert_false(bpftime_license__gpl_compatible("GPL "));
	assert_false(bpftime_license__gpl_compatible(""));
	assert_false(bpftime_license__gpl_compatible(NULL));

	gpl = false;
	assert_int_equal(verify_type(KPROBE, printk, N(printk), msg, sizeof(msg), NULL), -EINVAL);
	assert_string_equal(
		msg, "pc 4: cannot call GPL-restricted function from non-GPL compatible program");
	assert_int_equal(verify_type(KPROBE, ktime, N(ktime), msg, sizeof(msg), NULL), 0);
	gpl = true;
	assert_int_equal(verify_type(KPROBE, printk, N(printk), msg, sizeof(msg), NULL), 0);

	/* per type, as the kernel: get_stackid is gpl_only except for perf_event */
	assert_int_equal(bpftime_verifier_ops__init(&ops, KPROBE, 0), 0);
	assert_true(ops.helper_proto(ops.ctx, 27)->flags & BPFTIME_HF_GPL_ONLY);
	assert_int_equal(bpftime_verifier_ops__init(&ops, 7 /* perf_event */, 0), 0);
	assert_false(ops.helper_proto(ops.ctx, 27)->flags & BPFTIME_HF_GPL_ONLY);
	assert_true(ops.helper_proto(ops.ctx, 6)->flags & BPFTIME_HF_GPL_ONLY);
	assert_false(ops.helper_proto(ops.ctx, 1)->flags & BPFTIME_HF_GPL_ONLY);
}

/* log_level 2 shows the instructions and states; the verdict is last */
static void test_log(void **state)
{
	const struct bpftime_insn p[] = { LOOKUP(1), BPF_LDX_MEM(BPF_DW, 0, 0, 0),
					  BPF_EXIT_INSN() };
	char msg[256], *log = NULL;

	(void)state;
	assert_int_not_equal(verify_type(KPROBE, p, N(p), msg, sizeof(msg), &log), 0);
	assert_non_null(log);
	assert_non_null(strstr(log, "6: (79) r0 = *(u64 *)(r0 +0)\n"));
	if (!strstr(log, "R0 invalid mem access 'map_value_or_null'\nprocessed 6 insns"))
		fail_msg("log:\n%s", log);
	assert_non_null(
		strstr(log, "R0 invalid mem access 'map_value_or_null'\nprocessed 6 insns"));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_protos),
		cmocka_unit_test(test_gpl_only),
		cmocka_unit_test(test_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
