/* SPDX-License-Identifier: MIT */
/* agent/agent_net_test.c: the agent tells the syscall hook about the VM's
 * code pages (bpftime_vm_set_code_notify), so that with
 * BPFTIME_SYSCALL_NET=auto a program whose JIT code holds `0f 05` inside
 * an immediate (`r2 = 0x050f`: `mov esi, 0x50f` is be 0f 05 00 00) does not
 * keep the net (Syscall User Dispatch) on.  Each case runs in a child of
 * its own (the hook and its net are per process): the agent in-process, a
 * syscall tracepoint on getppid whose program adds 0x050f to a counter.
 *   - registered (what the agent does): the net goes off and the program
 *     still counts every getppid;
 *   - control: the callback unset before the first compile: the scan finds
 *     the `0f 05` in the JIT code and the net stays on, saying so.
 * And with the net off, a vfork child (on its parent's memory and thread
 * state until it exits): its getppid's program sees the child's ids
 * (bpf_get_current_pid_tgid), as in the kernel, and the parent's next one
 * the parent's again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/syscall_tp.h>
#include <bpftime/vm.h>
#include "common/testkit.h"
#include "internal.h"

#define TRACEPOINT_PROG 5 /* BPF_PROG_TYPE_TRACEPOINT */
#define NR_GETPPID	110
#define STUCK_MS	30000 /* the hook's patcher runs asynchronously */

enum net_case { CASE_REGISTERED, CASE_CONTROL, CASE_VFORK };

static struct bpftime_shm *shm;
static int counter, ids; /* ids: the pid_tgid of the last getppid */

static uint64_t count(void)
{
	uint32_t key = 0;
	uint64_t v = 0;

	bpftime_map_lookup_elem(shm, counter, &key, &v, 0);
	return v;
}

/* @p (@n instructions, @p[@at] a map value load whose map is @map) as
 * program @name on sys_enter_getppid; 0 or a child exit code */
static int attach_getppid(struct bpftime_insn *p, int n, int at, int map, const char *name)
{
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_TRACEPOINT, .pid = -1,
		     .tracepoint_id = BPFTIME_SYSTP_ID_BASE + 2 * NR_GETPPID, .cpu = -1,
		     .config = BPFTIME_SYSTP_CONFIG(BPFTIME_SYSTP_ENTER, NR_GETPPID));
	int prog, perf;

	p[at].imm = map;
	prog = bpftime_prog_create(shm, -1, TRACEPOINT_PROG, name, p, (uint32_t)n, NULL);
	perf = bpftime_perf_event_create(shm, -1, &o);
	if (prog < 0 || perf < 0 || bpftime_perf_event_enable(shm, perf, true) ||
	    bpftime_link_create(shm, -1, prog, perf, NULL) < 0)
		return 10;
	return 0;
}

/* the counting program: adds 0x050f to counter[0] */
static int attach_counter(void)
{
	struct bpftime_insn p[] = {
		{ .code = 0x18, .dst = 1, .src = 2 /* map value */ }, /* r1 = &counter[0] */
		{ .code = 0 },
		{ .code = 0xb7, .dst = 2, .imm = 0x050f },	/* r2 = 0x050f */
		{ .code = 0xdb, .dst = 1, .src = 2, .imm = 0 }, /* lock *(u64 *)r1 += r2 */
		{ .code = 0xb7, .dst = 0, .imm = 0 },		/* r0 = 0 */
		{ .code = 0x95 },				/* exit */
	};

	return attach_getppid(p, 6, 0, counter, "netprog");
}

/* the program that keeps the ids it sees in ids[0] */
static int attach_ids(void)
{
	struct bpftime_insn p[] = {
		{ .code = 0x85, .imm = 14 },			      /* get_current_pid_tgid */
		{ .code = 0x18, .dst = 1, .src = 2 /* map value */ }, /* r1 = &ids[0] */
		{ .code = 0 },
		{ .code = 0x7b, .dst = 1, .src = 0, .off = 0 }, /* *(u64 *)(r1 + 0) = r0 */
		{ .code = 0xb7, .dst = 0, .imm = 0 },		/* r0 = 0 */
		{ .code = 0x95 },				/* exit */
	};

	return attach_getppid(p, 6, 1, ids, "idsprog");
}

/* 0 when ids[0] holds @pid_tgid, else 6 */
static int check_ids(const char *who, uint64_t pid_tgid)
{
	uint32_t key = 0;
	uint64_t v = 0;

	bpftime_map_lookup_elem(shm, ids, &key, &v, 0);
	if (v == pid_tgid)
		return 0;
	fprintf(stderr, "agent_net_test: %s's getppid: pid_tgid %#llx, not %#llx\n", who,
		(unsigned long long)v, (unsigned long long)pid_tgid);
	return 6;
}

/* a vfork child's getppid, then the parent's (the net is off) */
static int vfork_ids(void)
{
	int status, err;
	pid_t pid = vfork();

	if (pid == 0) {
		syscall(SYS_getppid);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 7;
	err = check_ids("the vfork child", (uint64_t)pid << 32 | (uint32_t)pid);
	if (err)
		return err;
	syscall(SYS_getppid);
	return check_ids("the parent", (uint64_t)getpid() << 32 | (uint32_t)gettid());
}

/* One case in this (forked) process: 0 as expected, 77 cannot run here,
 * else what failed (the reason on stderr). */
static int run_case(enum net_case c)
{
	bool registered = c != CASE_CONTROL;
	struct timespec nap = { 0, 2000000 };
	struct agent_opts ao = { .watch = true };
	char name[64], why[256] = "";
	int err, st = -1;
	uint64_t before;

	setenv("BPFTIME_SYSCALL_NET", "auto", 1);
	snprintf(name, sizeof(name), "bpftime_agent_net_test_%d", getpid());
	bpftime_shm__remove(name);
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = name, .size_mb = 4, .max_fd = 64);
	shm = bpftime_shm__create(&so);
	if (!shm)
		return 2;
	counter = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "counter", 4, 8, 1, NULL);
	ids = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "ids", 4, 8, 1, NULL);
	ao.shm_name = name;
	if (counter < 0 || ids < 0 || agent_start(&ao)) {
		err = 3;
		goto out;
	}
	/* no program compiled yet: the control takes the callback away */
	if (!registered)
		bpftime_vm_set_code_notify(NULL);
	err = c == CASE_VFORK ? attach_ids() : attach_counter();
	if (err)
		goto out;
	for (int waited = 0;; waited += 2) {
		syscall(SYS_getppid);
		st = bpftime_syscall_hook__net(why, sizeof(why));
		if (registered ? st == 0 : st == 1 && strstr(why, "0f 05"))
			break;
		if (waited > STUCK_MS) {
			fprintf(stderr, "agent_net_test: the net is %s after %d ms: %s\n",
				st < 0 ? "not there"
				: st   ? "on"
				       : "off",
				STUCK_MS, st == 1 ? why : "");
			/* never started: a skip only without SUD in the kernel
			 * (else the program did not load: the log says why) */
			err = st < 0 && prctl(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 0, 0, 0, 0)
				      ? 77
				      : 4;
			goto out;
		}
		nanosleep(&nap, NULL);
	}
	if (c == CASE_VFORK) {
		err = vfork_ids();
		goto out;
	}
	/* the program runs at every getppid either way */
	before = count();
	for (int i = 0; i < 100; i++)
		syscall(SYS_getppid);
	if (count() != before + 100 * 0x050f) {
		fprintf(stderr, "agent_net_test: counted %llu, not %d\n",
			(unsigned long long)(count() - before), 100 * 0x050f);
		err = 5;
		goto out;
	}
	printf("%s: the net is %s%s\n", registered ? "registered" : "control", st ? "on: " : "off",
	       st ? why : "");
	fflush(stdout);
	err = 0;
out:
	agent_stop();
	bpftime_shm__remove(name);
	return err;
}

static int case_run(void *c)
{
	return run_case(*(const enum net_case *)c);
}

static void in_child(enum net_case c)
{
	test_in_child(case_run, &c, 0, "no syscall hook here (Syscall User Dispatch, Linux 5.11)");
}

static void test_registered(void **state)
{
	(void)state;
	in_child(CASE_REGISTERED);
}

static void test_control(void **state)
{
	(void)state;
	in_child(CASE_CONTROL);
}

static void test_vfork_ids(void **state)
{
	(void)state;
	in_child(CASE_VFORK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registered),
		cmocka_unit_test(test_control),
		cmocka_unit_test(test_vfork_ids),
	};

	return TEST_RUN(tests, NULL, NULL);
}
