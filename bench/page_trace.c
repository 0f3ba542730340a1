/* SPDX-License-Identifier: MIT */
/* bench/page_trace.c: see page_trace.h.
 *
 * The tracer is a forked child that seizes the calling thread; `int3`
 * markers around fn() start and stop the count.  At each single-step stop
 * the instruction about to run is decoded (Zydis, hidden operands too: the
 * stack of push/pop/call/ret) and the pages of its bytes and of its memory
 * operands (fs-relative ones with the thread's fs base) go into the
 * current interval's sets; a `syscall` or a signal delivered closes the
 * interval.  Only the intervals between the first and the last `syscall`
 * are counted, divided by (calls - 1): the steady state of a loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>
#include <Zydis/Zydis.h>
#include "page_trace.h"

#define SET_SIZE  1024 /* pages per interval: far more than a syscall touches */
#define MAX_STEPS 50000000L

struct page_set {
	uint64_t page[SET_SIZE];
	int n;
};

/* PAGE_TRACE_DUMP=1: each page's first touch in one interval, with the
 * instruction that touched it, to stderr; PAGE_TRACE_DUMP=insns: also
 * each instruction of that interval ("insn ADDR", to resolve with the
 * maps printed first and addr2line) */
static int dump_left;
static bool dump_insns;
static uint64_t cur_rip;

static void set_add(struct page_set *s, uint64_t addr)
{
	uint64_t p = addr >> 12;

	for (int i = 0; i < s->n; i++)
		if (s->page[i] == p)
			return;
	if (s->n < SET_SIZE)
		s->page[s->n++] = p;
	if (dump_left == 1)
		fprintf(stderr, "page %#llx at %#llx\n", (unsigned long long)addr,
			(unsigned long long)cur_rip);
}

static int peek16(pid_t tid, uint64_t at, uint8_t *buf)
{
	for (int i = 0; i < 2; i++) {
		long w;

		errno = 0;
		w = ptrace(PTRACE_PEEKTEXT, tid, (void *)(uintptr_t)(at + 8 * (unsigned)i), NULL);
		if (errno)
			return -errno;
		memcpy(buf + 8 * i, &w, 8);
	}
	return 0;
}

static void regs_to_ctx(const struct user_regs_struct *r, ZydisRegisterContext *c)
{
	memset(c, 0, sizeof(*c));
	c->values[ZYDIS_REGISTER_RAX] = r->rax;
	c->values[ZYDIS_REGISTER_RBX] = r->rbx;
	c->values[ZYDIS_REGISTER_RCX] = r->rcx;
	c->values[ZYDIS_REGISTER_RDX] = r->rdx;
	c->values[ZYDIS_REGISTER_RSI] = r->rsi;
	c->values[ZYDIS_REGISTER_RDI] = r->rdi;
	c->values[ZYDIS_REGISTER_RBP] = r->rbp;
	c->values[ZYDIS_REGISTER_RSP] = r->rsp;
	c->values[ZYDIS_REGISTER_R8] = r->r8;
	c->values[ZYDIS_REGISTER_R9] = r->r9;
	c->values[ZYDIS_REGISTER_R10] = r->r10;
	c->values[ZYDIS_REGISTER_R11] = r->r11;
	c->values[ZYDIS_REGISTER_R12] = r->r12;
	c->values[ZYDIS_REGISTER_R13] = r->r13;
	c->values[ZYDIS_REGISTER_R14] = r->r14;
	c->values[ZYDIS_REGISTER_R15] = r->r15;
	c->values[ZYDIS_REGISTER_RIP] = r->rip;
}

struct trace_state {
	struct page_set code, data;
	long pend_code, pend_data, pend_steps; /* since the last syscall */
	long code_sum, data_sum, steps_sum;    /* between the first and the last */
	long steps;
	bool counting; /* past the first syscall */
};

/* the instruction at rip is about to run; false: it is a `syscall` */
static bool record(pid_t tid, const ZydisDecoder *dec, struct trace_state *st)
{
	struct user_regs_struct r;
	ZydisDecodedInstruction in;
	ZydisDecodedOperand op[ZYDIS_MAX_OPERAND_COUNT];
	ZydisRegisterContext ctx;
	uint8_t buf[16];

	if (ptrace(PTRACE_GETREGS, tid, NULL, &r) || peek16(tid, r.rip, buf) ||
	    ZYAN_FAILED(ZydisDecoderDecodeFull(dec, buf, sizeof(buf), &in, op)))
		return true;
	cur_rip = r.rip;
	if (dump_insns && dump_left == 1)
		fprintf(stderr, "insn %#llx\n", (unsigned long long)r.rip);
	set_add(&st->code, r.rip);
	set_add(&st->code, r.rip + in.length - 1);
	regs_to_ctx(&r, &ctx);
	for (int i = 0; i < in.operand_count && in.mnemonic != ZYDIS_MNEMONIC_NOP; i++) {
		ZyanU64 a;

		if (op[i].type != ZYDIS_OPERAND_TYPE_MEMORY ||
		    op[i].mem.type == ZYDIS_MEMOP_TYPE_AGEN ||
		    op[i].mem.type == ZYDIS_MEMOP_TYPE_MIB)
			continue;
		if (ZYAN_FAILED(ZydisCalcAbsoluteAddressEx(&in, &op[i], r.rip, &ctx, &a)))
			continue;
		if (op[i].mem.segment == ZYDIS_REGISTER_FS)
			a += r.fs_base;
		else if (op[i].mem.segment == ZYDIS_REGISTER_GS)
			a += r.gs_base;
		set_add(&st->data, a);
		set_add(&st->data, a + op[i].size / 8 - (op[i].size >= 8));
	}
	st->steps++;
	st->pend_steps++;
	return in.mnemonic != ZYDIS_MNEMONIC_SYSCALL;
}

/* a kernel entry: the interval ends; @sc: a syscall, the pending
 * intervals count (from the second syscall on) */
static void close_interval(struct trace_state *st, bool sc)
{
	st->pend_code += st->code.n;
	st->pend_data += st->data.n;
	st->code.n = st->data.n = 0;
	if (!sc)
		return;
	if (dump_left > 0)
		dump_left--;
	if (st->counting) {
		st->code_sum += st->pend_code;
		st->data_sum += st->pend_data;
		st->steps_sum += st->pend_steps;
	}
	st->pend_code = st->pend_data = st->pend_steps = 0;
	st->counting = true;
}

/* the int3 after which the thread stopped: one of our two markers?  (an
 * int3 of someone else's, e.g. a syscall site the hook rewrote, is the
 * thread's: delivered to it) */
extern const char page_trace_mark1[], page_trace_mark2[];

static bool is_marker(pid_t tid)
{
	struct user_regs_struct r;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &r))
		return false;
	return r.rip == (uintptr_t)page_trace_mark1 || r.rip == (uintptr_t)page_trace_mark2;
}

static int trace(pid_t tid, int go_fd, int done_fd, long calls)
{
	struct trace_state *st = calloc(1, sizeof(*st));
	struct page_count out = { 0 };
	struct user_regs_struct r;
	ZydisDecoder dec;
	int status, err = 0;
	bool started = false, syscall_next = false;
	char c = 0;

	if (!st)
		return -ENOMEM;
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	dump_left = getenv("PAGE_TRACE_DUMP") ? 12 : 0;
	dump_insns = dump_left && !strcmp(getenv("PAGE_TRACE_DUMP"), "insns");
	if (dump_left) {
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "cat /proc/%d/maps >&2", tid);
		if (system(cmd))
			dump_left = 0;
	}
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL))
		c = (char)errno;
	if (write(go_fd, &c, 1) != 1 || c)
		return -c;
	for (;;) {
		siginfo_t si;
		int sig = 0;

		if (waitpid(tid, &status, __WALL) < 0) {
			err = -errno;
			break;
		}
		if (!WIFSTOPPED(status)) {
			err = -ESRCH;
			break;
		}
		sig = WSTOPSIG(status);
		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si))
			memset(&si, 0, sizeof(si));
		if (sig == SIGTRAP && si.si_code == SI_KERNEL && is_marker(tid)) { /* ours */
			if (started)
				break;
			started = true;
			sig = 0;
		} else if (sig == SIGTRAP && si.si_code != SI_KERNEL) {
			sig = 0; /* a step */
			if (syscall_next)
				close_interval(st, true); /* the syscall ran */
		} else {
			close_interval(st, false); /* a signal: the kernel ran */
		}
		syscall_next = !record(tid, &dec, st);
		if (st->steps > MAX_STEPS) {
			err = -E2BIG;
			break;
		}
		if (ptrace(PTRACE_SINGLESTEP, tid, NULL, (void *)(uintptr_t)sig)) {
			err = -errno;
			break;
		}
	}
	/* what follows the last syscall is not a whole interval: dropped */
	if (!err && st->steps_sum) {
		double n = calls > 1 ? (double)(calls - 1) : 1;

		out.code = (double)st->code_sum / n;
		out.data = (double)st->data_sum / n;
		out.insns = (double)st->steps_sum / n;
	} else if (!err) {
		err = -ENODATA;
	}
	/* a signal frame saved while stepping holds TF, and its rt_sigreturn
	 * put it back as the thread's own: the detach would leave it set */
	if (!ptrace(PTRACE_GETREGS, tid, NULL, &r)) {
		r.eflags &= ~0x100ull;
		ptrace(PTRACE_SETREGS, tid, NULL, &r);
	}
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	if (write(done_fd, &err, sizeof(err)) != sizeof(err) ||
	    write(done_fd, &out, sizeof(out)) != sizeof(out))
		return -EIO;
	return err;
}

int page_trace(void (*fn)(void *), void *arg, long calls, struct page_count *out)
{
	int go[2], done[2], err = 0;
	pid_t tid = gettid(), tracer;
	char c;

	if (pipe(go))
		return -errno;
	if (pipe(done)) {
		err = -errno;
		close(go[0]);
		close(go[1]);
		return err;
	}
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	tracer = fork();
	if (tracer == 0) {
		close(go[0]);
		close(done[0]);
		_exit(trace(tid, go[1], done[1], calls) ? 1 : 0);
	}
	close(go[1]);
	close(done[1]);
	if (tracer < 0) {
		err = -errno;
	} else if (read(go[0], &c, 1) != 1) {
		err = -EIO;
	} else if (c) {
		err = -c;
	} else {
		__asm__ volatile(".globl page_trace_mark1\n\tint3\npage_trace_mark1:" ::: "memory");
		fn(arg);
		__asm__ volatile(".globl page_trace_mark2\n\tint3\npage_trace_mark2:" ::: "memory");
		if (read(done[0], &err, sizeof(err)) != sizeof(err) ||
		    (!err && read(done[0], out, sizeof(*out)) != sizeof(*out)))
			err = err ? err : -EIO;
	}
	if (tracer > 0)
		waitpid(tracer, NULL, 0);
	close(go[0]);
	close(done[0]);
	return err;
}
