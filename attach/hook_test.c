/* SPDX-License-Identifier: MIT */
/* attach/hook_test.c: the inline hook engine on real code: C targets in their
 * own compilation unit, hand-written asm targets, and a shared library. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <asm/ptrace.h>
#include <cmocka.h>
#include "common/testkit.h"

#define __TARGET_ARCH_x86
#include <bpf/bpf_tracing.h>

#include <bpftime/attach.h>
#include "attach/internal.h"
#include "attach/test_targets.h"

long testlib_mul(long a, long b);

/* the layout libbpf's PT_REGS_* macros assume (uapi struct pt_regs) */
_Static_assert(sizeof(struct bpftime_pt_regs) == sizeof(struct pt_regs), "pt_regs size");
_Static_assert(offsetof(struct bpftime_pt_regs, rdi) == offsetof(struct pt_regs, rdi), "rdi");
_Static_assert(offsetof(struct bpftime_pt_regs, rsi) == offsetof(struct pt_regs, rsi), "rsi");
_Static_assert(offsetof(struct bpftime_pt_regs, rdx) == offsetof(struct pt_regs, rdx), "rdx");
_Static_assert(offsetof(struct bpftime_pt_regs, rcx) == offsetof(struct pt_regs, rcx), "rcx");
_Static_assert(offsetof(struct bpftime_pt_regs, r8) == offsetof(struct pt_regs, r8), "r8");
_Static_assert(offsetof(struct bpftime_pt_regs, r9) == offsetof(struct pt_regs, r9), "r9");
_Static_assert(offsetof(struct bpftime_pt_regs, rax) == offsetof(struct pt_regs, rax), "rax");
_Static_assert(offsetof(struct bpftime_pt_regs, rip) == offsetof(struct pt_regs, rip), "rip");
_Static_assert(offsetof(struct bpftime_pt_regs, rsp) == offsetof(struct pt_regs, rsp), "rsp");

#define ATTACH(addr, fn, data, ...)                                                           \
	({                                                                                    \
		struct bpftime_probe_opts _o = { .sz = sizeof(_o), __VA_ARGS__ };             \
		bpftime_probe__attach((void *)(addr), (bpftime_probe_fn)(void (*)(void))(fn), \
				      (data), &_o);                                           \
	})

/* Call through a volatile pointer so the compiler cannot assume anything. */
#define CALL(fn) (*(typeof(&fn) volatile *)&(typeof(&fn)){ fn })

struct rec {
	atomic_long hits;
	struct bpftime_pt_regs last;
	uint64_t ret_addr; /* [rsp] at entry */
	uint64_t cookie, func_ip;
	bool is_return;
	int order;
};

static atomic_int order_seq;

static void rec_fn(struct bpftime_pt_regs *regs, void *data)
{
	struct rec *r = data;
	const struct bpftime_probe_ctx *c = bpftime_probe_current();

	atomic_fetch_add(&r->hits, 1);
	r->last = *regs;
	if (!c->is_return)
		r->ret_addr = *(uint64_t *)regs->rsp;
	r->cookie = c->cookie;
	r->func_ip = c->func_ip;
	r->is_return = c->is_return;
	r->order = atomic_fetch_add(&order_seq, 1);
}

static void count_fn(struct bpftime_pt_regs *regs, void *data)
{
	(void)regs;
	atomic_fetch_add((atomic_long *)data, 1);
}

/* Reads the bytes of the target (it may be executable-only elsewhere). */
static void snap(const void *addr, uint8_t *buf, size_t n)
{
	memcpy(buf, addr, n);
}

static void test_uprobe_args(void **state)
{
	struct rec r = { 0 };
	struct bpftime_probe *p;
	uint8_t before[16], during[16], after[16];

	(void)state;
	snap((void *)tgt_add6, before, sizeof(before));
	p = ATTACH(tgt_add6, rec_fn, &r, .cookie = 0xc00c1e);
	assert_non_null(p);
	assert_int_equal(bpftime_probe__mode(p), BPFTIME_PROBE_MODE_JMP);
	snap((void *)tgt_add6, during, sizeof(during));
	assert_int_equal(during[(uint8_t *)bpftime_probe__patch_addr(p) - (uint8_t *)tgt_add6],
			 0xE9);
	assert_int_equal(CALL(tgt_add6)(1, 2, 3, 4, 5, 6), 21);
	assert_int_equal(atomic_load(&r.hits), 1);
	assert_int_equal(r.last.rdi, 1);
	assert_int_equal(r.last.rsi, 2);
	assert_int_equal(r.last.rdx, 3);
	assert_int_equal(r.last.rcx, 4);
	assert_int_equal(r.last.r8, 5);
	assert_int_equal(r.last.r9, 6);
	assert_int_equal(r.last.rip, (uintptr_t)tgt_add6);
	assert_int_equal(r.last.orig_rax, (uint64_t)-1);
	assert_int_equal(r.cookie, 0xc00c1e);
	assert_int_equal(r.func_ip, (uintptr_t)tgt_add6);
	assert_false(r.is_return);
	/* [rsp] is the return address: inside this test function */
	assert_true(r.ret_addr > (uintptr_t)test_uprobe_args &&
		    r.ret_addr < (uintptr_t)test_uprobe_args + 4096);
	assert_int_equal(CALL(tgt_add6)(10, 20, 30, 40, 50, 60), 210);
	assert_int_equal(atomic_load(&r.hits), 2);
	assert_int_equal(bpftime_probe__detach(p), 0);
	snap((void *)tgt_add6, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(CALL(tgt_add6)(1, 1, 1, 1, 1, 1), 6);
	assert_int_equal(atomic_load(&r.hits), 2);
	assert_null(bpftime_probe_current());
}

static void test_uretprobe_value(void **state)
{
	struct rec r = { 0 };
	struct bpftime_probe *p;

	(void)state;
	p = ATTACH(tgt_square, rec_fn, &r, .type = BPFTIME_PROBE_URETPROBE, .cookie = 77);
	assert_non_null(p);
	assert_int_equal(CALL(tgt_square)(9), 81);
	assert_int_equal(atomic_load(&r.hits), 1);
	assert_int_equal(r.last.rax, 81);
	assert_true(r.is_return);
	assert_int_equal(r.cookie, 77);
	assert_int_equal(r.func_ip, (uintptr_t)tgt_square);
	/* rip is the real return address, inside this function */
	assert_true(r.last.rip > (uintptr_t)test_uretprobe_value &&
		    r.last.rip < (uintptr_t)test_uretprobe_value + 4096);
	assert_int_equal(hook_shadow_depth(), 0);
	assert_int_equal(CALL(tgt_square)(-3), 9);
	assert_int_equal(r.last.rax, 9);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(CALL(tgt_square)(4), 16);
	assert_int_equal(atomic_load(&r.hits), 2);
}

static int override_fn(struct bpftime_pt_regs *regs, void *data)
{
	atomic_fetch_add((atomic_long *)data, 1);
	if ((long)regs->rdi == 5) {
		regs->rax = 4242;
		return 1;
	}
	if ((long)regs->rdi == 6)
		bpftime_probe_override_return(6006);
	return 0;
}

static void ret_helpers_fn(struct bpftime_pt_regs *regs, void *data)
{
	uint64_t v = 0;

	(void)regs;
	assert_int_equal(bpftime_probe_get_func_ret(&v), 0);
	*(uint64_t *)data = v;
	/* set_retval in a return probe changes what the caller sees */
	if (v == 49)
		assert_int_equal(bpftime_probe_set_retval(50), 0);
}

static void test_override(void **state)
{
	atomic_long n = 0;
	uint64_t seen = 0;
	long runs;
	struct bpftime_probe *p, *rp;

	(void)state;
	p = ATTACH(tgt_square, override_fn, &n, .type = BPFTIME_PROBE_OVERRIDE);
	assert_non_null(p);
	runs = tgt_body_runs;
	assert_int_equal(CALL(tgt_square)(5), 4242);
	assert_int_equal(tgt_body_runs, runs); /* skipped */
	assert_int_equal(CALL(tgt_square)(6), 6006);
	assert_int_equal(tgt_body_runs, runs);
	assert_int_equal(CALL(tgt_square)(7), 49);
	assert_int_equal(tgt_body_runs, runs + 1);
	assert_int_equal(atomic_load(&n), 3);
	/* a return probe on the same function sees the overriding value */
	rp = ATTACH(tgt_square, ret_helpers_fn, &seen, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(rp);
	assert_int_equal(CALL(tgt_square)(5), 4242);
	assert_int_equal(seen, 4242);
	assert_int_equal(CALL(tgt_square)(7), 50);
	assert_int_equal(seen, 49);
	assert_int_equal(bpftime_probe__detach(rp), 0);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(CALL(tgt_square)(5), 25);
	/* override_return outside an override probe is refused */
	assert_int_equal(bpftime_probe_override_return(1), -EINVAL);
}

static void test_two_probes(void **state)
{
	struct rec a = { 0 }, b = { 0 }, ret = { 0 };
	struct bpftime_probe *pa, *pb, *pr;

	(void)state;
	pa = ATTACH(tgt_add6, rec_fn, &a, .cookie = 1);
	pr = ATTACH(tgt_add6, rec_fn, &ret, .type = BPFTIME_PROBE_URETPROBE, .cookie = 3);
	pb = ATTACH(tgt_add6, rec_fn, &b, .cookie = 2);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_non_null(pr);
	assert_ptr_equal(bpftime_probe__patch_addr(pa), bpftime_probe__patch_addr(pb));
	assert_int_equal(CALL(tgt_add6)(1, 1, 1, 1, 1, 2), 7);
	assert_int_equal(atomic_load(&a.hits), 1);
	assert_int_equal(atomic_load(&b.hits), 1);
	assert_int_equal(atomic_load(&ret.hits), 1);
	assert_true(a.order < b.order && b.order < ret.order); /* attach order, return last */
	assert_int_equal(a.cookie, 1);
	assert_int_equal(b.cookie, 2);
	assert_int_equal(ret.cookie, 3);
	assert_int_equal(ret.last.rax, 7);
	assert_int_equal(bpftime_probe__detach(pa), 0);
	assert_int_equal(CALL(tgt_add6)(1, 1, 1, 1, 1, 3), 8);
	assert_int_equal(atomic_load(&a.hits), 1);
	assert_int_equal(atomic_load(&b.hits), 2);
	assert_int_equal(ret.last.rax, 8);
	assert_int_equal(bpftime_probe__detach(pr), 0);
	assert_int_equal(CALL(tgt_add6)(1, 1, 1, 1, 1, 4), 9);
	assert_int_equal(atomic_load(&ret.hits), 2);
	assert_int_equal(atomic_load(&b.hits), 3);
	assert_int_equal(bpftime_probe__detach(pb), 0);
}

struct fact_rec {
	int n_entry, n_ret;
	long args[16];
	long rets[16];
};

static void fact_entry(struct bpftime_pt_regs *regs, void *data)
{
	struct fact_rec *f = data;

	f->args[f->n_entry++ & 15] = (long)regs->rdi;
}

static void fact_ret(struct bpftime_pt_regs *regs, void *data)
{
	struct fact_rec *f = data;

	f->rets[f->n_ret++ & 15] = (long)regs->rax;
}

static void test_recursion(void **state)
{
	struct fact_rec f = { 0 };
	struct bpftime_probe *pe, *pr;

	(void)state;
	pe = ATTACH(tgt_fact, fact_entry, &f);
	pr = ATTACH(tgt_fact, fact_ret, &f, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(pe);
	assert_non_null(pr);
	assert_int_equal(CALL(tgt_fact)(6), 720);
	assert_int_equal(f.n_entry, 6);
	assert_int_equal(f.n_ret, 6);
	for (int i = 0; i < 6; i++) {
		static const long fact[] = { 1, 2, 6, 24, 120, 720 };

		assert_int_equal(f.args[i], 6 - i);
		assert_int_equal(f.rets[i], fact[i]); /* innermost returns first */
	}
	assert_int_equal(hook_shadow_depth(), 0);
	assert_int_equal(bpftime_probe__detach(pr), 0);
	assert_int_equal(bpftime_probe__detach(pe), 0);
}

static void test_longjmp(void **state)
{
	atomic_long n = 0;
	struct rec r = { 0 };
	struct bpftime_probe *pj, *ps;
	jmp_buf jb;
	volatile int jumped = 0;

	(void)state;
	pj = ATTACH(tgt_jumper, count_fn, &n, .type = BPFTIME_PROBE_URETPROBE);
	ps = ATTACH(tgt_square, rec_fn, &r, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(pj);
	assert_non_null(ps);
	if (!setjmp(jb)) {
		CALL(tgt_jumper)(&jb, 5);
		fail_msg("tgt_jumper returned");
	} else {
		jumped = 1;
	}
	assert_true(jumped);
	assert_int_equal(atomic_load(&n), 0);	  /* no frame returned */
	assert_int_equal(hook_shadow_depth(), 6); /* stale until the next probe */
	/* the next uretprobe pops the stale entries and returns right */
	assert_int_equal(CALL(tgt_square)(12), 144);
	assert_int_equal(r.last.rax, 144);
	assert_int_equal(hook_shadow_depth(), 0);
	assert_int_equal(bpftime_probe__detach(pj), 0);
	assert_int_equal(bpftime_probe__detach(ps), 0);
}

static void test_longjmp_then_return(void **state)
{
	atomic_long n = 0;
	struct bpftime_probe *pj;
	jmp_buf jb;

	(void)state;
	pj = ATTACH(tgt_fact, count_fn, &n, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(pj);
	if (!setjmp(jb))
		CALL(tgt_jumper)(&jb, 3); /* not probed here: plain longjmp */
	assert_int_equal(CALL(tgt_fact)(4), 24);
	assert_int_equal(atomic_load(&n), 4);
	assert_int_equal(bpftime_probe__detach(pj), 0);
}

static void test_short_trap(void **state)
{
	atomic_long n1 = 0, n3 = 0;
	struct rec r2 = { 0 }, r2ret = { 0 };
	struct bpftime_probe *p1, *p2, *p2r, *p3;
	uint8_t before[3][4], after[4];

	(void)state;
	snap((void *)asm_ret_only, before[0], 4);
	snap((void *)asm_xor_ret, before[1], 4);
	snap((void *)asm_lea_ret, before[2], 4);
	p1 = ATTACH(asm_ret_only, count_fn, &n1);
	p2 = ATTACH(asm_xor_ret, rec_fn, &r2);
	p2r = ATTACH(asm_xor_ret, rec_fn, &r2ret, .type = BPFTIME_PROBE_URETPROBE);
	p3 = ATTACH(asm_lea_ret, count_fn, &n3);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p2r);
	assert_non_null(p3);
	assert_int_equal(bpftime_probe__mode(p1), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(bpftime_probe__mode(p2), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(bpftime_probe__mode(p3), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(*(volatile uint8_t *)asm_xor_ret, 0xCC);
	for (int i = 0; i < 3; i++)
		CALL(asm_ret_only)();
	assert_int_equal(atomic_load(&n1), 3);
	assert_int_equal(CALL(asm_xor_ret)(), 0);
	assert_int_equal(atomic_load(&r2.hits), 1);
	assert_int_equal(r2.last.rip, (uintptr_t)asm_xor_ret);
	assert_int_equal(atomic_load(&r2ret.hits), 1);
	assert_int_equal(r2ret.last.rax, 0);
	assert_int_equal(CALL(asm_lea_ret)(41), 42);
	assert_int_equal(atomic_load(&n3), 1);
	assert_int_equal(bpftime_probe__detach(p1), 0);
	assert_int_equal(bpftime_probe__detach(p2), 0);
	assert_int_equal(bpftime_probe__detach(p2r), 0);
	assert_int_equal(bpftime_probe__detach(p3), 0);
	snap((void *)asm_ret_only, after, 4);
	assert_memory_equal(before[0], after, 4);
	snap((void *)asm_xor_ret, after, 4);
	assert_memory_equal(before[1], after, 4);
	snap((void *)asm_lea_ret, after, 4);
	assert_memory_equal(before[2], after, 4);
	CALL(asm_ret_only)();
	assert_int_equal(atomic_load(&n1), 3);
}

static int override_short(struct bpftime_pt_regs *regs, void *data)
{
	(void)data;
	regs->rax = 99;
	return 1;
}

static void test_short_override_and_forced_trap(void **state)
{
	atomic_long n = 0;
	struct bpftime_probe *p, *q;

	(void)state;
	p = ATTACH(asm_xor_ret, override_short, NULL, .type = BPFTIME_PROBE_OVERRIDE);
	assert_non_null(p);
	assert_int_equal(CALL(asm_xor_ret)(), 99);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(CALL(asm_xor_ret)(), 0);
	/* a function long enough for a jmp, trapped on request */
	q = ATTACH(tgt_loop_body, count_fn, &n, .force_trap = true);
	assert_non_null(q);
	assert_int_equal(bpftime_probe__mode(q), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(CALL(tgt_loop_body)(1), 2);
	assert_int_equal(atomic_load(&n), 1);
	assert_int_equal(bpftime_probe__detach(q), 0);
}

static void test_symbol_size_forces_trap(void **state)
{
	uint64_t off, size;
	atomic_long n = 0;
	struct bpftime_probe *p;

	(void)state;
	/* asm_size_only is 3 bytes by its symbol and falls through into the
	 * next symbol: a jmp would fit the instructions but cross its end */
	assert_int_equal(bpftime_elf_find_symbol("/proc/self/exe", "asm_size_only", &off, &size),
			 0);
	assert_int_equal(size, 3);
	p = ATTACH(asm_size_only, count_fn, &n, .func_size = size);
	assert_non_null(p);
	assert_int_equal(bpftime_probe__mode(p), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(((volatile uint8_t *)asm_size_only)[3], 0x48); /* next symbol intact */
	assert_int_equal(CALL(asm_size_only)(33), 33);
	assert_int_equal(atomic_load(&n), 1);
	assert_int_equal(bpftime_probe__detach(p), 0);
}

static void test_endbr(void **state)
{
	struct rec r = { 0 };
	struct bpftime_probe *p;

	(void)state;
	p = ATTACH(asm_endbr_add, rec_fn, &r);
	assert_non_null(p);
	assert_int_equal(bpftime_probe__mode(p), BPFTIME_PROBE_MODE_JMP);
	assert_ptr_equal(bpftime_probe__patch_addr(p), (uint8_t *)asm_endbr_add + 4);
	assert_int_equal(((volatile uint8_t *)asm_endbr_add)[0], 0xF3); /* endbr64 kept */
	assert_int_equal(CALL(asm_endbr_add)(20, 22), 42);
	assert_int_equal(r.last.rip, (uintptr_t)asm_endbr_add);
	assert_int_equal(r.last.rsi, 22);
	assert_int_equal(bpftime_probe__detach(p), 0);
}

static void test_riprel(void **state)
{
	atomic_long n = 0;
	struct bpftime_probe *p;

	(void)state;
	p = ATTACH(asm_rip_load, count_fn, &n);
	assert_non_null(p);
	assert_int_equal(CALL(asm_rip_load)(5), 1005);
	assert_int_equal(bpftime_probe__detach(p), 0);
	p = ATTACH(asm_rip_lea, count_fn, &n);
	assert_non_null(p);
	assert_int_equal(CALL(asm_rip_lea)(7), 1007);
	assert_int_equal(bpftime_probe__detach(p), 0);
	p = ATTACH(asm_rip_cmp, count_fn, &n);
	assert_non_null(p);
	assert_int_equal(CALL(asm_rip_cmp)(7), 8);
	assert_int_equal(bpftime_probe__detach(p), 0);
	p = ATTACH(asm_branch_first, count_fn, &n);
	assert_non_null(p);
	assert_int_equal(CALL(asm_branch_first)(0), 1);
	assert_int_equal(CALL(asm_branch_first)(9), 2);
	assert_int_equal(bpftime_probe__detach(p), 0);
	p = ATTACH(asm_call_first, count_fn, &n);
	assert_non_null(p);
	assert_int_equal(CALL(asm_call_first)(41), 42);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(atomic_load(&n), 6);
}

/* The same relocations forced to the absolute forms, checked through
 * hook_relocate on a copy that runs at its own address. */
static void test_reloc_abs_forms(void **state)
{
	static const struct {
		void *fn;
		int64_t arg, want;
	} cases[] = {
		{ (void *)asm_rip_load, 5, 1005 },  { (void *)asm_rip_lea, 7, 1007 },
		{ (void *)asm_rip_cmp, 7, 8 },	    { (void *)asm_branch_first, 0, 1 },
		{ (void *)asm_branch_first, 3, 2 }, { (void *)asm_call_first, 41, 42 },
	};
	char err[128];

	(void)state;
	hook_force_abs_reloc = true;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hook_reloc r;
		uint8_t *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				    -1, 0);
		int64_t (*f)(int64_t);

		assert_true(buf != MAP_FAILED);
		assert_int_equal(hook_relocate(cases[i].fn, (uintptr_t)cases[i].fn, 5, 32, buf,
					       (uintptr_t)buf, 4096, &r, err, sizeof(err)),
				 0);
		assert_true(r.disp_len >= 5);
		assert_int_equal(mprotect(buf, 4096, PROT_READ | PROT_EXEC), 0);
		f = (int64_t(*)(int64_t))(void *)buf;
		assert_int_equal(f(cases[i].arg), cases[i].want);
		munmap(buf, 4096);
	}
	hook_force_abs_reloc = false;
}

static void test_branch_into_patch(void **state)
{
	uint64_t off, size;
	atomic_long n = 0;
	struct bpftime_probe *p;

	(void)state;
	assert_int_equal(bpftime_elf_find_symbol("/proc/self/exe", "asm_loop_back", &off, &size),
			 0);
	/* the loop's back edge lands inside the 5 bytes: no jmp, an int3 */
	p = ATTACH(asm_loop_back, count_fn, &n, .func_size = size);
	assert_non_null(p);
	assert_int_equal(bpftime_probe__mode(p), BPFTIME_PROBE_MODE_TRAP);
	assert_int_equal(CALL(asm_loop_back)(5), 5);
	assert_int_equal(CALL(asm_loop_back)(3), 3);
	assert_int_equal(atomic_load(&n), 2);
	assert_int_equal(bpftime_probe__detach(p), 0);
}

/* hook_relocate refuses a branch into the displaced bytes themselves, and
 * an instruction it cannot move (jrcxz) */
static void test_reloc_refusals(void **state)
{
	static const uint8_t back_into[] = {
		0x90,		  /* nop */
		0x90,		  /* nop */
		0x74, 0xFD,	  /* jz -3: to +1, inside the displaced bytes */
		0x90, 0x90, 0xC3, /* nop; nop; ret */
	};
	static const uint8_t jrcxz[] = { 0xE3, 0x05, 0x90, 0x90, 0x90, 0x90, 0xC3 };
	uint8_t out[256];
	struct hook_reloc r;
	char err[128];

	(void)state;
	assert_int_equal(hook_relocate(back_into, 0x10000, 5, sizeof(back_into), out, 0x20000,
				       sizeof(out), &r, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "branches into the patched bytes"));
	assert_int_equal(hook_relocate(jrcxz, 0x10000, 5, sizeof(jrcxz), out, 0x20000, sizeof(out),
				       &r, err, sizeof(err)),
			 -ENOTSUP);
	assert_non_null(strstr(err, "jrcxz"));
	/* someone else's int3 hides an instruction we cannot know */
	{
		static const uint8_t bp[] = { 0xCC, 0x54, 0x55, 0x53, 0x48, 0x89, 0xFB, 0xC3 };

		assert_int_equal(hook_relocate(bp, 0x10000, 1, sizeof(bp), out, 0x20000,
					       sizeof(out), &r, err, sizeof(err)),
				 -EBUSY);
		assert_non_null(strstr(err, "kernel uprobe"));
	}
	/* a ret before 5 bytes: too short (the caller falls back to int3) */
	assert_int_equal(hook_relocate(jrcxz + 6, 0x10000, 5, 1, out, 0x20000, sizeof(out), &r, err,
				       sizeof(err)),
			 -E2BIG);
}

static void test_inside_func(void **state)
{
	atomic_long n = 0;
	struct bpftime_probe *p, *q;

	(void)state;
	p = ATTACH(asm_flags_mid_probe, count_fn, &n, .inside_func = true);
	q = ATTACH(asm_redzone_mid_probe, count_fn, &n, .inside_func = true);
	assert_non_null(p);
	assert_non_null(q);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(CALL(asm_flags_mid)(i, 5), i < 5);
		assert_int_equal(CALL(asm_redzone_mid)(i, 1000), i + 1000);
	}
	assert_int_equal(atomic_load(&n), 20);
	/* uretprobe and override need a function entry */
	assert_null(ATTACH(asm_flags_mid_probe, count_fn, &n, .inside_func = true,
			   .type = BPFTIME_PROBE_URETPROBE));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(bpftime_probe__detach(q), 0);
}

static void fp_clobber(struct bpftime_pt_regs *regs, void *data)
{
	volatile double x = (double)regs->rdi;

	*(double *)data = x * 3.5 + 1.25; /* uses xmm registers */
}

static void test_xmm_preserved(void **state)
{
	double sink = 0;
	struct bpftime_probe *p, *q;

	(void)state;
	p = ATTACH(tgt_fma3, fp_clobber, &sink);
	q = ATTACH(tgt_fma3, fp_clobber, &sink, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(p);
	assert_non_null(q);
	assert_true(CALL(tgt_fma3)(1.5, 4.0, 0.25) == 6.25);
	assert_true(sink != 0);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(bpftime_probe__detach(q), 0);
}

static void avx_clobber(struct bpftime_pt_regs *regs, void *data)
{
	(void)regs;
	(void)data;
	/* what glibc's AVX memcpy leaves behind, and an xmm the code uses */
	__asm__ volatile("vxorps %%xmm1, %%xmm1, %%xmm1\n\tvzeroupper" ::: "xmm1", "memory");
}

/* inside a function the whole ymm state survives the handler */
static void test_avx_inside(void **state)
{
	const double in[4] = { 1.5, 2.5, 3.5, 4.5 };
	double out[4] = { 0 };
	struct bpftime_probe *p;

	(void)state;
	if (!__builtin_cpu_supports("avx")) {
		TEST_SKIP("no AVX on this cpu");
		return;
	}
	p = ATTACH(asm_avx_mid_probe, avx_clobber, NULL, .inside_func = true);
	assert_non_null(p);
	CALL(asm_avx_mid)(in, out);
	for (int i = 0; i < 4; i++)
		assert_true(out[i] == 2 * in[i]);
	assert_int_equal(bpftime_probe__detach(p), 0);
}

static atomic_long nested_inner;

static void nested_outer_fn(struct bpftime_pt_regs *regs, void *data)
{
	(void)regs;
	(void)data;
	/* a probed function called from a handler: its probe is skipped */
	CALL(tgt_loop_body)(1);
}

static void test_nested_skipped(void **state)
{
	struct bpftime_probe *p, *q;
	uint64_t missed;

	(void)state;
	p = ATTACH(tgt_square, nested_outer_fn, NULL);
	q = ATTACH(tgt_loop_body, count_fn, &nested_inner);
	assert_non_null(p);
	assert_non_null(q);
	missed = hook_tls.missed;
	assert_int_equal(CALL(tgt_square)(3), 9);
	assert_int_equal(atomic_load(&nested_inner), 0);
	assert_int_equal(hook_tls.missed, missed + 1);
	assert_int_equal(CALL(tgt_loop_body)(3), 4);
	assert_int_equal(atomic_load(&nested_inner), 1);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(bpftime_probe__detach(q), 0);
}

static void args_helpers_fn(struct bpftime_pt_regs *regs, void *data)
{
	uint64_t *out = data, v;

	(void)regs;
	for (uint32_t i = 0; i < 6; i++) {
		assert_int_equal(bpftime_probe_get_func_arg(i, &v), 0);
		out[i] = v;
	}
	assert_int_equal(bpftime_probe_get_func_arg(6, &v), -EINVAL);
	assert_int_equal(bpftime_probe_get_func_arg_cnt(), 6);
	assert_int_equal(bpftime_probe_get_func_ret(&v), -EOPNOTSUPP);
}

static void test_ctx_helpers(void **state)
{
	uint64_t args[6] = { 0 };
	struct bpftime_probe *p;

	(void)state;
	p = ATTACH(tgt_add6, args_helpers_fn, args);
	assert_non_null(p);
	CALL(tgt_add6)(11, 12, 13, 14, 15, 16);
	for (int i = 0; i < 6; i++)
		assert_int_equal(args[i], 11 + i);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(bpftime_probe_get_func_arg_cnt(), 0);
}

/* ---- threads ---- */

struct loop_arg {
	atomic_bool *stop;
	long calls;
	long bad;
};

static void *caller_thread(void *arg)
{
	struct loop_arg *a = arg;

	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		for (int i = 0; i < 256; i++) {
			if (CALL(tgt_loop_body)(a->calls) != a->calls + 1)
				a->bad++;
			a->calls++;
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	atomic_bool stop = false;
	struct loop_arg args[2] = { { &stop, 0, 0 }, { &stop, 0, 0 } };
	pthread_t th[2];
	atomic_long n = 0, total_hits = 0;
	long runs0 = tgt_body_runs;
	struct bpftime_probe *p;
	uint8_t before[8], after[8];

	(void)state;
	snap((void *)tgt_loop_body, before, sizeof(before));
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, caller_thread, &args[i]), 0);
	/* attach and detach (jmp and trap sites) while both threads hammer it */
	for (int round = 0; round < 200; round++) {
		p = ATTACH(tgt_loop_body, count_fn, &n, .force_trap = false);
		assert_non_null(p);
		usleep(200);
		assert_int_equal(bpftime_probe__detach(p), 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	total_hits = atomic_load(&n);
	assert_int_equal(args[0].bad + args[1].bad, 0);
	assert_true(total_hits > 0);
	assert_true(total_hits <= args[0].calls + args[1].calls);
	snap((void *)tgt_loop_body, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));

	/* attached for the whole run: every call is seen exactly once */
	atomic_store(&n, 0);
	atomic_store(&stop, false);
	args[0].calls = args[1].calls = 0;
	p = ATTACH(tgt_loop_body, count_fn, &n);
	assert_non_null(p);
	runs0 = tgt_body_runs;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, caller_thread, &args[i]), 0);
	usleep(50000);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&n), args[0].calls + args[1].calls);
	assert_int_equal(args[0].bad + args[1].bad, 0);
	(void)runs0;
	assert_int_equal(bpftime_probe__detach(p), 0);
}

static void *ret_thread(void *arg)
{
	struct loop_arg *a = arg;

	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		if (CALL(tgt_fact)(5) != 120)
			a->bad++;
		a->calls++;
	}
	return NULL;
}

static void test_threads_uretprobe(void **state)
{
	atomic_bool stop = false;
	struct loop_arg args[2] = { { &stop, 0, 0 }, { &stop, 0, 0 } };
	pthread_t th[2];
	atomic_long n = 0;
	struct bpftime_probe *p;

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, ret_thread, &args[i]), 0);
	for (int round = 0; round < 100; round++) {
		p = ATTACH(tgt_fact, count_fn, &n, .type = BPFTIME_PROBE_URETPROBE);
		assert_non_null(p);
		usleep(300);
		assert_int_equal(bpftime_probe__detach(p), 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(args[0].bad + args[1].bad, 0);
	assert_true(atomic_load(&n) > 0);
	assert_true(atomic_load(&n) <= 5 * (args[0].calls + args[1].calls));
}

struct slow_arg {
	atomic_int in_handler;
	atomic_int done;
	atomic_bool stop;
};

static void slow_fn(struct bpftime_pt_regs *regs, void *data)
{
	struct slow_arg *a = data;

	(void)regs;
	if (atomic_exchange(&a->in_handler, 1))
		return;
	usleep(100000);
	atomic_store(&a->done, 1);
}

static void *slow_caller(void *arg)
{
	struct slow_arg *a = arg;

	while (!atomic_load(&a->stop))
		CALL(tgt_square)(2);
	return NULL;
}

/* detach waits for a handler running on another thread */
static void test_detach_waits(void **state)
{
	struct slow_arg a = { 0 };
	struct bpftime_probe *p;
	pthread_t th;

	(void)state;
	p = ATTACH(tgt_square, slow_fn, &a);
	assert_non_null(p);
	assert_int_equal(pthread_create(&th, NULL, slow_caller, &a), 0);
	while (!atomic_load(&a.in_handler))
		sched_yield();
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(atomic_load(&a.done), 1);
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
}

static void *spin_thread(void *arg)
{
	*(int64_t *)arg = CALL(asm_spin)();
	return NULL;
}

/* A thread looping through the displaced bytes (back edge to the patched
 * address, so it is often stopped at +2 inside them) while we patch and
 * unpatch: without moving it into the stub's copy it would run the middle
 * of the jmp. */
static void test_thread_inside_patch(void **state)
{
	atomic_long n = 0;
	int64_t iters[2] = { 0, 0 };
	pthread_t th[2];
	struct bpftime_probe *p;

	(void)state;
	asm_spin_stop = 0;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spin_thread, &iters[i]), 0);
	for (int round = 0; round < 100; round++) {
		p = ATTACH(asm_spin_loop, count_fn, &n, .inside_func = true);
		assert_non_null(p);
		usleep(100);
		assert_int_equal(bpftime_probe__detach(p), 0);
	}
	asm_spin_stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_true(atomic_load(&n) > 0);
	assert_true(atomic_load(&n) <= iters[0] + iters[1]);
}

/* fork while another thread is inside a handler: the child's detach must not
 * wait for a thread that does not exist in it */
static void test_fork_while_inflight(void **state)
{
	struct slow_arg a = { 0 };
	struct bpftime_probe *p;
	pthread_t th;
	pid_t pid;
	int status;

	(void)state;
	p = ATTACH(tgt_square, slow_fn, &a);
	assert_non_null(p);
	assert_int_equal(pthread_create(&th, NULL, slow_caller, &a), 0);
	while (!atomic_load(&a.in_handler))
		sched_yield();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		atomic_long n = 0;
		struct bpftime_probe *q;

		alarm(10); /* a hang fails the test instead of blocking it */
		q = ATTACH(tgt_add6, count_fn, &n);
		if (!q || CALL(tgt_add6)(1, 2, 3, 4, 5, 6) != 21 || atomic_load(&n) != 1)
			_exit(1);
		if (bpftime_probe__detach(q) || bpftime_probe__detach(p))
			_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(bpftime_probe__detach(p), 0);
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
}

static volatile sig_atomic_t user_traps;

static void user_trap_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	user_traps++;
}

/* SIGTRAPs that are not ours reach the handler installed before ours */
static void test_trap_chaining(void **state)
{
	union sigval v = { .sival_int = 7 };

	(void)state;
	user_traps = 0;
	raise(SIGTRAP);
	assert_int_equal(user_traps, 1);
	__asm__ volatile("int3" ::: "memory");
	assert_int_equal(user_traps, 2);
	assert_int_equal(sigqueue(getpid(), SIGTRAP, v), 0);
	assert_int_equal(user_traps, 3);
}

/* ---- module + offset ---- */

static void test_resolve_exe(void **state)
{
	uint64_t off, size, soff, ssize;
	void *addr;

	(void)state;
	assert_int_equal(bpftime_elf_find_symbol("/proc/self/exe", "tgt_add6", &off, &size), 0);
	assert_true(size > 0);
	assert_int_equal(bpftime_resolve_module_offset("/proc/self/exe", off, &addr), 0);
	assert_ptr_equal(addr, (void *)tgt_add6);
	assert_int_equal(bpftime_elf_symbol_at("/proc/self/exe", off + 1, &soff, &ssize), 0);
	assert_int_equal(soff, off);
	assert_int_equal(ssize, size);
	assert_int_equal(
		bpftime_elf_find_symbol("/proc/self/exe", "no_such_function_xyz", &off, &size),
		-ENOENT);
	assert_int_equal(bpftime_resolve_module_offset("/no/such/file", 0, &addr), -ENOENT);
	assert_int_equal(bpftime_resolve_module_offset("/proc/self/exe", 1ULL << 40, &addr),
			 -ENOENT);
}

static void test_shared_lib(void **state)
{
	Dl_info info;
	void *real, *addr;
	uint64_t off, size;
	struct rec r = { 0 };
	struct bpftime_probe *p;

	(void)state;
	real = dlsym(RTLD_DEFAULT, "testlib_mul");
	assert_non_null(real);
	assert_true(dladdr(real, &info));
	assert_int_equal(bpftime_elf_find_symbol(info.dli_fname, "testlib_mul", &off, &size), 0);
	assert_int_equal(bpftime_resolve_module_offset(info.dli_fname, off, &addr), 0);
	assert_ptr_equal(addr, real);
	p = ATTACH(addr, rec_fn, &r, .func_size = size);
	assert_non_null(p);
	assert_int_equal(testlib_mul(6, 7), 42); /* through the PLT */
	assert_int_equal(atomic_load(&r.hits), 1);
	assert_int_equal(r.last.rdi, 6);
	assert_int_equal(r.last.rsi, 7);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(testlib_mul(3, 3), 9);
	assert_int_equal(atomic_load(&r.hits), 1);
}

/* perf-event style targets: the symbol decides entry or inside */
static void test_attach_module(void **state)
{
	Dl_info info;
	uint64_t off, size, mid_off;
	atomic_long n = 0;
	struct rec r = { 0 };
	struct bpftime_probe *p, *q;
	struct bpftime_probe_opts ro = { .sz = sizeof(ro), .type = BPFTIME_PROBE_URETPROBE };

	(void)state;
	assert_int_equal(bpftime_elf_find_symbol("/proc/self/exe", "asm_mid2", &off, &size), 0);
	mid_off = off + (uint64_t)(asm_mid2_probe - (char *)asm_mid2);
	p = bpftime_probe__attach_module("/proc/self/exe", mid_off, count_fn, &n, NULL);
	assert_non_null(p);
	assert_ptr_equal(bpftime_probe__patch_addr(p), asm_mid2_probe);
	/* the handler's atomic add clobbers the flags the function still needs */
	for (int i = 0; i < 10; i++)
		assert_int_equal(CALL(asm_mid2)(i, 5), i < 5);
	assert_int_equal(atomic_load(&n), 10);
	assert_int_equal(bpftime_probe__detach(p), 0);

	assert_true(dladdr(dlsym(RTLD_DEFAULT, "testlib_mul"), &info));
	assert_int_equal(bpftime_elf_find_symbol(info.dli_fname, "testlib_mul", &off, &size), 0);
	q = bpftime_probe__attach_module(info.dli_fname, off, rec_fn, &r, &ro);
	assert_non_null(q);
	assert_int_equal(testlib_mul(5, 9), 45);
	assert_int_equal(atomic_load(&r.hits), 1);
	assert_int_equal(r.last.rax, 45);
	assert_true(r.is_return);
	assert_int_equal(bpftime_probe__detach(q), 0);
	errno = 0;
	assert_null(bpftime_probe__attach_module("/proc/self/exe", 1ULL << 40, count_fn, &n, NULL));
	assert_int_equal(errno, ENOENT);
}

/* libbpf's own macros, compiled for userspace x86, read our pt_regs */
static long kp_seen[6];

int kp_add6(struct pt_regs *ctx);
int kr_add6(struct pt_regs *ctx);

int BPF_KPROBE(kp_add6, long a, long b, long c, long d, long e)
{
	(void)ctx;
	kp_seen[0] = a, kp_seen[1] = b, kp_seen[2] = c, kp_seen[3] = d, kp_seen[4] = e;
	return 0;
}

int BPF_KRETPROBE(kr_add6, long ret)
{
	(void)ctx;
	kp_seen[5] = ret;
	return 0;
}

static void libbpf_entry(struct bpftime_pt_regs *regs, void *data)
{
	(void)data;
	kp_add6((struct pt_regs *)(void *)regs);
}

static void libbpf_ret(struct bpftime_pt_regs *regs, void *data)
{
	(void)data;
	kr_add6((struct pt_regs *)(void *)regs);
}

static void test_libbpf_macros(void **state)
{
	struct bpftime_probe *p, *q;

	(void)state;
	p = ATTACH(tgt_add6, libbpf_entry, NULL);
	q = ATTACH(tgt_add6, libbpf_ret, NULL, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(CALL(tgt_add6)(101, 102, 103, 104, 105, 106), 621);
	for (int i = 0; i < 5; i++)
		assert_int_equal(kp_seen[i], 101 + i);
	assert_int_equal(kp_seen[5], 621);
	assert_int_equal(PT_REGS_PARM1(&(struct pt_regs){ .rdi = 7 }), 7);
	assert_int_equal(bpftime_probe__detach(p), 0);
	assert_int_equal(bpftime_probe__detach(q), 0);
}

/* the allocator itself, as the malloc example probes it (libc, or ASan's) */
struct malloc_rec {
	atomic_long entries, returns, nonnull;
};

static void malloc_entry(struct bpftime_pt_regs *regs, void *data)
{
	(void)regs;
	atomic_fetch_add(&((struct malloc_rec *)data)->entries, 1);
}

static void malloc_ret(struct bpftime_pt_regs *regs, void *data)
{
	struct malloc_rec *m = data;

	atomic_fetch_add(&m->returns, 1);
	if (regs->rax)
		atomic_fetch_add(&m->nonnull, 1);
}

static void test_libc_malloc(void **state)
{
	struct malloc_rec m = { 0 };
	void *fn = dlsym(RTLD_DEFAULT, "malloc");
	void *volatile ptrs[100];
	struct bpftime_probe *p, *q;

	(void)state;
	assert_non_null(fn);
	p = ATTACH(fn, malloc_entry, &m);
	if (!p && errno == EBUSY) {
		/* an int3 is already there: a kernel uprobe on libc's malloc
		 * (another tool on this machine) or a debugger */
		TEST_SKIP("malloc already has a breakpoint (kernel uprobe?)");
		return;
	}
	q = ATTACH(fn, malloc_ret, &m, .type = BPFTIME_PROBE_URETPROBE);
	assert_non_null(p);
	assert_non_null(q);
	for (int i = 0; i < 100; i++) {
		ptrs[i] = malloc((size_t)(16 + i));
		assert_non_null(ptrs[i]);
		memset(ptrs[i], i, (size_t)(16 + i));
	}
	assert_int_equal(bpftime_probe__detach(q), 0);
	assert_int_equal(bpftime_probe__detach(p), 0);
	for (int i = 0; i < 100; i++)
		free(ptrs[i]);
	assert_true(atomic_load(&m.entries) >= 100);
	assert_true(atomic_load(&m.returns) >= 100);
	assert_true(atomic_load(&m.nonnull) >= 100);
	assert_true(atomic_load(&m.returns) <= atomic_load(&m.entries));
}

static void test_bad_args(void **state)
{
	(void)state;
	errno = 0;
	assert_null(bpftime_probe__attach(NULL, count_fn, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	/* not executable */
	assert_null(bpftime_probe__attach((void *)&order_seq, count_fn, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(bpftime_probe__detach(NULL), 0);
	/* code in a shared mapping is never written */
	{
		static const uint8_t code[16] = { 0x48, 0x8d, 0x47, 0x01, 0x90, 0x90, 0xc3 };
		int fd = memfd_create("attach-test", MFD_CLOEXEC);
		void *m;

		assert_true(fd >= 0);
		assert_int_equal(write(fd, code, sizeof(code)), sizeof(code));
		m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
		assert_true(m != MAP_FAILED);
		errno = 0;
		assert_null(bpftime_probe__attach(m, count_fn, NULL, NULL));
		assert_int_equal(errno, EINVAL);
		munmap(m, 4096);
		close(fd);
	}
}

int main(void)
{
	struct sigaction sa = { .sa_sigaction = user_trap_handler, .sa_flags = SA_SIGINFO };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uprobe_args),
		cmocka_unit_test(test_uretprobe_value),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_two_probes),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_longjmp_then_return),
		cmocka_unit_test(test_short_trap),
		cmocka_unit_test(test_short_override_and_forced_trap),
		cmocka_unit_test(test_symbol_size_forces_trap),
		cmocka_unit_test(test_endbr),
		cmocka_unit_test(test_riprel),
		cmocka_unit_test(test_reloc_abs_forms),
		cmocka_unit_test(test_branch_into_patch),
		cmocka_unit_test(test_reloc_refusals),
		cmocka_unit_test(test_inside_func),
		cmocka_unit_test(test_xmm_preserved),
		cmocka_unit_test(test_avx_inside),
		cmocka_unit_test(test_nested_skipped),
		cmocka_unit_test(test_ctx_helpers),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_threads_uretprobe),
		cmocka_unit_test(test_detach_waits),
		cmocka_unit_test(test_thread_inside_patch),
		cmocka_unit_test(test_fork_while_inflight),
		cmocka_unit_test(test_trap_chaining),
		cmocka_unit_test(test_resolve_exe),
		cmocka_unit_test(test_shared_lib),
		cmocka_unit_test(test_attach_module),
		cmocka_unit_test(test_libbpf_macros),
		cmocka_unit_test(test_libc_malloc),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_longjmp),
	};

	/* installed before the engine's, which must chain to it */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTRAP, &sa, NULL);
	return TEST_RUN(tests, NULL, NULL);
}
