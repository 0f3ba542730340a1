/* SPDX-License-Identifier: MIT */
/* agent/agent_test.c: the agent core in-process against a private segment:
 * programs, perf events and links are created through the public shm API
 * (what the syscall server does for a loader), the watcher thread follows
 * them live, and probes on this executable's functions run the programs.
 * Checks the uprobe-context helpers (58, 173, 174, 183-187) from inside real
 * probes, uretprobes, override (perf type 1008 and a uprobe calling
 * bpf_override_return), pid and module filters, two probes on one function,
 * detach under load from several threads, a program that does not build (one
 * warning, the others still run), and a process without a segment.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/attach.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/vm.h>
#include "agent/internal.h"
#include "vm/test_insn.h"

/* a safety net against a broken build hanging; never a measurement */
#define STUCK_MS 20000

#define PT_RDI	    (14 * 8) /* struct pt_regs offsets */
#define PT_RAX	    (10 * 8)
#define KPROBE_PROG 2

static struct bpftime_shm *shm;
static char exe[PATH_MAX];
static char shm_name[64];
static int vals; /* array map: one value of 32 u64 slots */

/* ---- probe targets: real calls through volatile pointers --------------- */

static atomic_long body_runs;

__attribute__((noinline)) long agt_add(long a, long b, long c, long d, long e, long f);
__attribute__((noinline)) long agt_add(long a, long b, long c, long d, long e, long f)
{
	volatile long x = a;

	atomic_fetch_add(&body_runs, 1);
	return x + b * 2 + c * 3 + d * 4 + e * 5 + f * 6;
}

__attribute__((noinline)) long agt_ret7(long a);
__attribute__((noinline)) long agt_ret7(long a)
{
	volatile long x = a;

	atomic_fetch_add(&body_runs, 1);
	return x * 0 + 7;
}

static long (*volatile add_ptr)(long, long, long, long, long, long) = agt_add;
static long (*volatile ret7_ptr)(long) = agt_ret7;

/* ---- segment helpers -------------------------------------------------- */

static uint64_t slot(int i)
{
	uint64_t v[32];
	uint32_t key = 0;

	assert_int_equal(bpftime_map_lookup_elem(shm, vals, &key, v, 0), 0);
	return v[i];
}

static void clear_slots(void)
{
	uint64_t v[32] = { 0 };
	uint32_t key = 0;

	assert_int_equal(bpftime_map_update_elem(shm, vals, &key, v, 0), 0);
}

static uint64_t sym_offset(const char *name)
{
	uint64_t off, size;

	assert_int_equal(bpftime_elf_find_symbol(exe, name, &off, &size), 0);
	return off;
}

static int new_prog(const char *name, const struct bpftime_insn *insns, size_t cnt)
{
	int fd = bpftime_prog_create(shm, -1, KPROBE_PROG, name, insns, cnt, NULL);

	assert_true(fd >= 0);
	return fd;
}

static int new_perf(int type, const char *module, const char *sym, int pid)
{
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = type, .pid = pid, .module = module,
		     .offset = sym_offset(sym));
	int fd = bpftime_perf_event_create(shm, -1, &o);

	assert_true(fd >= 0);
	assert_int_equal(bpftime_perf_event_enable(shm, fd, true), 0);
	return fd;
}

static int new_link(int prog, int perf, uint64_t cookie)
{
	BPFTIME_OPTS(bpftime_link_opts, o, .cookie = cookie);
	int fd = bpftime_link_create(shm, -1, prog, perf, &o);

	assert_true(fd >= 0);
	return fd;
}

/* waits until the watcher thread has synced the current epoch */
static void wait_synced(void)
{
	struct timespec ts = { 0, 1000000 };

	for (int waited = 0; agent_synced_epoch() != bpftime_shm__epoch(shm); waited++) {
		if (waited > STUCK_MS)
			fail_msg("the agent never synced epoch %u", bpftime_shm__epoch(shm));
		nanosleep(&ts, NULL);
	}
}

static void close_fds(int n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(bpftime_handler_close(shm, va_arg(ap, int)), 0);
	va_end(ap);
	wait_synced();
}

/* ---- programs ----------------------------------------------------------- */

/* uprobe: counts in slot 0 and stores what the context helpers say */
static const struct bpftime_insn entry_prog[] = {
	BPF_MOV64_REG(9, 1),
	BPF_LD_MAP_VALUE(6, 0 /* patched: vals */, 0),
	BPF_MOV64_IMM(1, 1),
	BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 6, 1, 0),
	BPF_MOV64_REG(1, 9),
	BPF_CALL_HELPER(173), /* get_func_ip */
	BPF_STX_MEM(BPF_DW, 6, 0, 8),
	BPF_MOV64_REG(1, 9),
	BPF_CALL_HELPER(174), /* get_attach_cookie */
	BPF_STX_MEM(BPF_DW, 6, 0, 16),
	BPF_ST_MEM(BPF_DW, 10, -8, 0),
	BPF_MOV64_REG(1, 9),
	BPF_MOV64_IMM(2, 2),
	BPF_MOV64_REG(3, 10),
	BPF_ALU64_IMM(BPF_ADD, 3, -8),
	BPF_CALL_HELPER(183), /* get_func_arg(ctx, 2, &v) */
	BPF_STX_MEM(BPF_DW, 6, 0, 32),
	BPF_LDX_MEM(BPF_DW, 1, 10, -8),
	BPF_STX_MEM(BPF_DW, 6, 1, 24),
	BPF_MOV64_REG(1, 9),
	BPF_CALL_HELPER(185), /* get_func_arg_cnt */
	BPF_STX_MEM(BPF_DW, 6, 0, 40),
	BPF_MOV64_REG(1, 9),
	BPF_MOV64_IMM(2, 7),
	BPF_MOV64_REG(3, 10),
	BPF_ALU64_IMM(BPF_ADD, 3, -8),
	BPF_CALL_HELPER(183), /* get_func_arg(ctx, 7, &v): -EINVAL */
	BPF_STX_MEM(BPF_DW, 6, 0, 48),
	BPF_MOV64_REG(1, 9),
	BPF_MOV64_REG(2, 10),
	BPF_ALU64_IMM(BPF_ADD, 2, -8),
	BPF_CALL_HELPER(184), /* get_func_ret in a uprobe: -EOPNOTSUPP */
	BPF_STX_MEM(BPF_DW, 6, 0, 56),
	BPF_LDX_MEM(BPF_DW, 1, 9, PT_RDI), /* PT_REGS_PARM1 */
	BPF_STX_MEM(BPF_DW, 6, 1, 64),
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

/* uretprobe: counts in slot 10, the return value three ways, func_ip */
static const struct bpftime_insn ret_prog[] = {
	BPF_MOV64_REG(9, 1),
	BPF_LD_MAP_VALUE(6, 0, 0),
	BPF_MOV64_IMM(1, 1),
	BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 6, 1, 80),
	BPF_MOV64_REG(1, 9),
	BPF_MOV64_REG(2, 6),
	BPF_ALU64_IMM(BPF_ADD, 2, 88),
	BPF_CALL_HELPER(184), /* get_func_ret(ctx, &slot11) */
	BPF_STX_MEM(BPF_DW, 6, 0, 96),
	BPF_CALL_HELPER(186), /* get_retval */
	BPF_STX_MEM(BPF_DW, 6, 0, 104),
	BPF_LDX_MEM(BPF_DW, 1, 9, PT_RAX), /* PT_REGS_RC */
	BPF_STX_MEM(BPF_DW, 6, 1, 112),
	BPF_MOV64_REG(1, 9),
	BPF_CALL_HELPER(173),
	BPF_STX_MEM(BPF_DW, 6, 0, 120),
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

/* counts in slot 16 and overrides the return value with 42 */
static const struct bpftime_insn override_prog[] = {
	BPF_MOV64_REG(9, 1),
	BPF_LD_MAP_VALUE(6, 0, 0),
	BPF_MOV64_IMM(1, 1),
	BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 6, 1, 128),
	BPF_MOV64_REG(1, 9),
	BPF_MOV64_IMM(2, 42),
	BPF_CALL_HELPER(58), /* override_return(ctx, 42) */
	BPF_STX_MEM(BPF_DW, 6, 0, 136),
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

/* uretprobe: set_retval(-5); its result in slot 18 */
static const struct bpftime_insn setret_prog[] = {
	BPF_LD_MAP_VALUE(6, 0, 0),	BPF_MOV64_IMM(1, -5), BPF_CALL_HELPER(187),
	BPF_STX_MEM(BPF_DW, 6, 0, 144), BPF_MOV64_IMM(0, 0),  BPF_EXIT_INSN(),
};

/* counts in slot @n (a second probe on a function) */
#define COUNT_PROG(n)                                                                     \
	{                                                                                 \
		BPF_LD_MAP_VALUE(6, 0, 0), BPF_MOV64_IMM(1, 1),                           \
			BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 6, 1, (n)*8), BPF_MOV64_IMM(0, 0), \
			BPF_EXIT_INSN(),                                                  \
	}

/* a program with the map fd patched in (the lddw at index @at) */
static int prog_with_map(const char *name, const struct bpftime_insn *src, size_t cnt, size_t at)
{
	struct bpftime_insn insns[64];

	assert_true(cnt <= 64);
	memcpy(insns, src, cnt * sizeof(*src));
	insns[at].imm = vals;
	return new_prog(name, insns, cnt);
}

#define PROG(name, arr, at) prog_with_map(name, arr, sizeof(arr) / sizeof(arr[0]), at)

/* ---- tests ------------------------------------------------------------ */

static void test_uprobe_helpers(void **state)
{
	int prog, perf, link;

	(void)state;
	clear_slots();
	prog = PROG("entry", entry_prog, 1);
	perf = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	link = new_link(prog, perf, 0x1234);
	wait_synced();
	assert_int_equal(agent_attached_count(), 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(add_ptr(1, 2, 3, 4, 5, 6), 1 + 4 + 9 + 16 + 25 + 36);
	assert_int_equal(slot(0), 10);
	assert_int_equal(slot(1), (uint64_t)(uintptr_t)agt_add);
	assert_int_equal(slot(2), 0x1234);
	assert_int_equal(slot(3), 3);
	assert_int_equal(slot(4), 0);
	assert_int_equal(slot(5), 6);
	assert_int_equal(slot(6), (uint64_t)-EINVAL);
	assert_int_equal(slot(7), (uint64_t)-EOPNOTSUPP);
	assert_int_equal(slot(8), 1);

	/* detached live: the function runs unprobed */
	close_fds(3, link, perf, prog);
	assert_int_equal(agent_attached_count(), 0);
	add_ptr(1, 2, 3, 4, 5, 6);
	assert_int_equal(slot(0), 10);
}

static void test_uretprobe_helpers(void **state)
{
	int prog, perf, link;

	(void)state;
	clear_slots();
	prog = PROG("ret", ret_prog, 1);
	perf = new_perf(BPFTIME_PERF_TYPE_URETPROBE, exe, "agt_add", -1);
	link = new_link(prog, perf, 0);
	wait_synced();
	assert_int_equal(add_ptr(1, 1, 1, 1, 1, 1), 21);
	assert_int_equal(add_ptr(2, 0, 0, 0, 0, 0), 2);
	assert_int_equal(slot(10), 2);
	assert_int_equal(slot(11), 2);
	assert_int_equal(slot(12), 0);
	assert_int_equal(slot(13), 2);
	assert_int_equal(slot(14), 2);
	assert_int_equal(slot(15), (uint64_t)(uintptr_t)agt_add);
	close_fds(3, link, perf, prog);
}

static void test_set_retval(void **state)
{
	int prog, perf, link;

	(void)state;
	clear_slots();
	prog = PROG("setret", setret_prog, 0);
	perf = new_perf(BPFTIME_PERF_TYPE_URETPROBE, exe, "agt_ret7", -1);
	link = new_link(prog, perf, 0);
	wait_synced();
	assert_int_equal(ret7_ptr(1), -5);
	assert_int_equal(slot(18), 0);
	close_fds(3, link, perf, prog);
	assert_int_equal(ret7_ptr(1), 7);
}

/* type 1008, and a plain uprobe whose program calls bpf_override_return */
static void test_override(void **state)
{
	int types[] = { BPFTIME_PERF_TYPE_UPROBE_OVERRIDE, BPFTIME_PERF_TYPE_UPROBE };

	(void)state;
	for (size_t t = 0; t < 2; t++) {
		int prog, perf, link;
		long before;

		clear_slots();
		prog = PROG("override", override_prog, 1);
		perf = new_perf(types[t], exe, "agt_add", -1);
		link = new_link(prog, perf, 0);
		wait_synced();
		before = atomic_load(&body_runs);
		assert_int_equal(add_ptr(1, 2, 3, 4, 5, 6), 42);
		assert_int_equal(atomic_load(&body_runs), before); /* skipped */
		assert_int_equal(slot(16), 1);
		assert_int_equal(slot(17), 0);
		close_fds(3, link, perf, prog);
		assert_int_equal(add_ptr(1, 2, 3, 4, 5, 6), 91);
		assert_int_equal(atomic_load(&body_runs), before + 1);
	}
}

/* override_return in a plain uretprobe does nothing (and says 0, as the kernel) */
static void test_override_needs_entry(void **state)
{
	int prog, perf, link;

	(void)state;
	clear_slots();
	prog = PROG("override", override_prog, 1);
	perf = new_perf(BPFTIME_PERF_TYPE_URETPROBE, exe, "agt_add", -1);
	link = new_link(prog, perf, 0);
	wait_synced();
	assert_int_equal(add_ptr(1, 2, 3, 4, 5, 6), 91);
	assert_int_equal(slot(16), 1);
	close_fds(3, link, perf, prog);
}

static void test_two_probes_one_function(void **state)
{
	static const struct bpftime_insn c20[] = COUNT_PROG(20), c21[] = COUNT_PROG(21);
	int p1, p2, e1, e2, l1, l2, r1;

	(void)state;
	clear_slots();
	p1 = PROG("c20", c20, 0);
	p2 = PROG("c21", c21, 0);
	e1 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	e2 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	l1 = new_link(p1, e1, 0);
	l2 = new_link(p2, e2, 0);
	r1 = PROG("ret", ret_prog, 1);
	int er = new_perf(BPFTIME_PERF_TYPE_URETPROBE, exe, "agt_add", -1);
	int lr = new_link(r1, er, 0);

	wait_synced();
	assert_int_equal(agent_attached_count(), 3);
	for (int i = 0; i < 5; i++)
		add_ptr(i, 0, 0, 0, 0, 0);
	assert_int_equal(slot(20), 5);
	assert_int_equal(slot(21), 5);
	assert_int_equal(slot(10), 5);
	assert_int_equal(slot(11), 4);
	/* removing one leaves the others running */
	close_fds(1, l1);
	add_ptr(1, 0, 0, 0, 0, 0);
	assert_int_equal(slot(20), 5);
	assert_int_equal(slot(21), 6);
	assert_int_equal(slot(10), 6);
	close_fds(7, l2, lr, e1, e2, er, p1, p2);
	close_fds(1, r1);
}

/* pid filter, disabled events, modules not mapped here */
static void test_filters(void **state)
{
	static const struct bpftime_insn c22[] = COUNT_PROG(22);
	int prog, other, mine, off, nomod, l1, l2, l3, l4;
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = "/bin/sh", .offset = 0x1000);

	(void)state;
	clear_slots();
	prog = PROG("c22", c22, 0);
	other = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", getpid() + 100000);
	mine = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", getpid());
	off = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	assert_int_equal(bpftime_perf_event_enable(shm, off, false), 0);
	nomod = bpftime_perf_event_create(shm, -1, &o);
	assert_true(nomod >= 0);
	assert_int_equal(bpftime_perf_event_enable(shm, nomod, true), 0);
	l1 = new_link(prog, other, 0);
	l2 = new_link(prog, mine, 0);
	l3 = new_link(prog, off, 0);
	l4 = new_link(prog, nomod, 0);
	wait_synced();
	assert_int_equal(agent_attached_count(), 1);
	add_ptr(1, 0, 0, 0, 0, 0);
	assert_int_equal(slot(22), 1);
	/* enabling the disabled one attaches it */
	assert_int_equal(bpftime_perf_event_enable(shm, off, true), 0);
	wait_synced();
	assert_int_equal(agent_attached_count(), 2);
	add_ptr(1, 0, 0, 0, 0, 0);
	assert_int_equal(slot(22), 3);
	close_fds(9, l1, l2, l3, l4, other, mine, off, nomod, prog);
	assert_int_equal(agent_attached_count(), 0);
}

/* bpftime's older form: the program lists its perf events (attach_fds) */
static void test_attach_fds(void **state)
{
	static const struct bpftime_insn c23[] = COUNT_PROG(23);
	int prog, perf;

	(void)state;
	clear_slots();
	prog = PROG("c23", c23, 0);
	perf = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_ret7", -1);
	assert_int_equal(bpftime_prog_add_attach_fd(shm, prog, perf), 0);
	wait_synced();
	assert_int_equal(agent_attached_count(), 1);
	ret7_ptr(0);
	ret7_ptr(0);
	assert_int_equal(slot(23), 2);
	close_fds(2, prog, perf);
	assert_int_equal(agent_attached_count(), 0);
}

static atomic_int warnings;
static bpftime_print_fn old_print;

__attribute__((format(printf, 2, 0))) static int count_print(enum bpftime_log_level level,
							     const char *fmt, va_list ap)
{
	if (level <= BPFTIME_LOG_WARN)
		atomic_fetch_add(&warnings, 1);
	(void)fmt;
	(void)ap;
	return 0;
}

/* a program that does not build: one warning, not retried, others run */
static void test_bad_program(void **state)
{
	static const struct bpftime_insn bad[] = {
		BPF_MOV64_IMM(0, 0), /* no exit: the verifier refuses it */
	};
	static const struct bpftime_insn c24[] = COUNT_PROG(24);
	int pbad, pgood, e1, e2, l1, l2, l3;

	(void)state;
	clear_slots();
	old_print = bpftime_set_print(count_print);
	atomic_store(&warnings, 0);
	pbad = new_prog("bad", bad, 1);
	pgood = PROG("c24", c24, 0);
	e1 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	e2 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_ret7", -1);
	l1 = new_link(pbad, e1, 0);
	l2 = new_link(pgood, e2, 0);
	wait_synced();
	assert_int_equal(atomic_load(&warnings), 1); /* one warning, with the reason */

	/* another change: the bad program is not tried (nor reported) again */
	l3 = new_link(pbad, e2, 0);
	wait_synced();
	assert_int_equal(atomic_load(&warnings), 1);
	bpftime_set_print(old_print);
	assert_int_equal(agent_attached_count(), 1);
	assert_int_equal(add_ptr(1, 1, 1, 1, 1, 1), 21);
	assert_int_equal(ret7_ptr(0), 7);
	assert_int_equal(slot(24), 1);
	close_fds(7, l1, l2, l3, e1, e2, pbad, pgood);
}

/* a probe on a library the process loads later: attached at its dlopen */
static void test_dlopen_later(void **state)
{
	static const struct bpftime_insn c27[] = COUNT_PROG(27);
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = AGENT_TESTLIB);
	struct timespec ts = { 0, 1000000 };
	long (*fn)(long);
	uint64_t off, size;
	int prog, perf, link;
	void *lib;

	(void)state;
	clear_slots();
	assert_int_equal(bpftime_elf_find_symbol(AGENT_TESTLIB, "agent_testlib_fn", &off, &size),
			 0);
	o.offset = off;
	prog = PROG("c27", c27, 0);
	perf = bpftime_perf_event_create(shm, -1, &o);
	assert_true(perf >= 0);
	assert_int_equal(bpftime_perf_event_enable(shm, perf, true), 0);
	link = new_link(prog, perf, 0);
	wait_synced();
	assert_int_equal(agent_attached_count(), 0); /* not mapped yet */
	lib = dlopen(AGENT_TESTLIB, RTLD_NOW);
	assert_non_null(lib);
	for (int waited = 0; agent_attached_count() != 1; waited++) {
		if (waited > STUCK_MS)
			fail_msg("the probe in the dlopen'ed library never came");
		nanosleep(&ts, NULL);
	}
	fn = (long (*)(long))dlsym(lib, "agent_testlib_fn");
	assert_non_null(fn);
	assert_int_equal(fn(2), 15);
	assert_int_equal(fn(3), 22);
	assert_int_equal(slot(27), 2);
	close_fds(3, link, perf, prog);
	assert_int_equal(agent_attached_count(), 0);
	assert_int_equal(fn(3), 22);
	assert_int_equal(slot(27), 2);
}

/* a forked child follows the segment on its own: a link made after the
 * fork runs in the child, with the child's pid */
static void test_fork_follows(void **state)
{
	static const struct bpftime_insn c28[] = {
		BPF_LD_MAP_VALUE(6, 0, 0),     BPF_CALL_HELPER(14), /* get_current_pid_tgid */
		BPF_ALU64_IMM(BPF_RSH, 0, 32), BPF_STX_MEM(BPF_DW, 6, 0, 28 * 8),
		BPF_MOV64_IMM(0, 0),	       BPF_EXIT_INSN(),
	};
	int go[2], prog, perf, link, status;
	char c;
	pid_t pid;

	(void)state;
	clear_slots();
	assert_int_equal(pipe(go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct timespec ts = { 0, 1000000 };

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		/* the parent linked the program: wait for our watcher */
		for (int waited = 0; agent_attached_count() != 1; waited++) {
			if (waited > STUCK_MS)
				_exit(3);
			nanosleep(&ts, NULL);
		}
		ret7_ptr(0);
		_exit(slot(28) == (uint64_t)getpid() ? 0 : 4);
	}
	close(go[0]);
	prog = PROG("c28", c28, 0);
	perf = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_ret7", -1);
	link = new_link(prog, perf, 0);
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close_fds(3, link, perf, prog);
}

/* threads call the function while probes come and go */
static atomic_int stop_calls;

static void *caller(void *arg)
{
	long n = 0;

	(void)arg;
	while (!atomic_load(&stop_calls)) {
		if (add_ptr(n, 1, 0, 0, 0, 0) != n + 2)
			return (void *)1;
		n++;
	}
	return NULL;
}

static void test_threads_attach_detach(void **state)
{
	static const struct bpftime_insn c25[] = COUNT_PROG(25);
	pthread_t th[3];
	void *bad;
	int prog, ret;

	(void)state;
	clear_slots();
	prog = PROG("c25", c25, 0);
	ret = PROG("ret", ret_prog, 1);
	atomic_store(&stop_calls, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, caller, NULL), 0);
	for (int round = 0; round < 30; round++) {
		int e1 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
		int e2 = new_perf(BPFTIME_PERF_TYPE_URETPROBE, exe, "agt_add", -1);
		int l1 = new_link(prog, e1, 0), l2 = new_link(ret, e2, 0);

		wait_synced();
		close_fds(4, l1, l2, e1, e2);
	}
	atomic_store(&stop_calls, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_null(bad);
	}
	assert_true(slot(25) > 0);
	assert_true(slot(10) > 0);
	/* a quiet function afterwards: nothing attached */
	assert_int_equal(agent_attached_count(), 0);
	close_fds(2, prog, ret);
}

/* every call counted exactly while several threads run */
static void *call_n(void *arg)
{
	for (long i = 0; i < (long)(intptr_t)arg; i++)
		add_ptr(i, 0, 0, 0, 0, 0);
	return NULL;
}

static void test_threads_exact(void **state)
{
	static const struct bpftime_insn c26[] = COUNT_PROG(26);
	pthread_t th[4];
	int prog, e1, l1;

	(void)state;
	clear_slots();
	prog = PROG("c26", c26, 0);
	e1 = new_perf(BPFTIME_PERF_TYPE_UPROBE, exe, "agt_add", -1);
	l1 = new_link(prog, e1, 0);
	wait_synced();
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, call_n, (void *)(intptr_t)20000), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(slot(26), 80000);
	close_fds(3, l1, e1, prog);
}

/* no segment: agent_start fails with one warning, the process goes on */
static void test_no_segment(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct agent_opts o = { .shm_name = "bpftime_agent_test_nonexistent",
					.watch = true };
		int err;

		bpftime_set_print(count_print);
		atomic_store(&warnings, 0);
		err = agent_start(&o);
		_exit(err == -ENOENT && atomic_load(&warnings) == 1 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The agent tells the syscall hook about the VM's code pages (set before
 * any program is compiled: agent_start()). */
static void test_code_notify(void **state)
{
	bpftime_code_notify_fn fn;

	(void)state;
	fn = bpftime_vm_set_code_notify(NULL);
	bpftime_vm_set_code_notify(fn);
	assert_ptr_equal(fn, bpftime_syscall_hook__own);
}

static int setup(void **state)
{
	struct agent_opts o = { .watch = true };
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	snprintf(shm_name, sizeof(shm_name), "bpftime_agent_test_%d", getpid());
	bpftime_shm__remove(shm_name);
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = shm_name, .size_mb = 8, .max_fd = 512);
	shm = bpftime_shm__create(&so);
	if (!shm)
		return -1;
	vals = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "vals", 4, 32 * 8, 1, NULL);
	if (vals < 0)
		return -1;
	o.shm_name = shm_name;
	return agent_start(&o);
}

static int teardown(void **state)
{
	(void)state;
	agent_stop();
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_no_segment),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uprobe_helpers),
		cmocka_unit_test(test_uretprobe_helpers),
		cmocka_unit_test(test_set_retval),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_override_needs_entry),
		cmocka_unit_test(test_two_probes_one_function),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_attach_fds),
		cmocka_unit_test(test_bad_program),
		cmocka_unit_test(test_dlopen_later),
		cmocka_unit_test(test_fork_follows),
		cmocka_unit_test(test_threads_attach_detach),
		cmocka_unit_test(test_threads_exact),
		cmocka_unit_test(test_code_notify),
	};

	/* before the agent (and its thread) exists in this process */
	if (cmocka_run_group_tests_name("agent_alone", alone, NULL, NULL))
		return 1;
	return cmocka_run_group_tests_name("agent", tests, setup, teardown);
}
