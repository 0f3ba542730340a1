/* SPDX-License-Identifier: MIT */
/* agent/agent_lock_test.c: programs that read user memory, run where glibc
 * holds the thread's own lock.  pthread_getattr_np takes the calling
 * thread's pthread lock and, holding it, calls realloc, sched_getaffinity
 * and free.  A thread's first read (bpf_probe_read_user) finds its stack's
 * bounds for the direct-copy fast path; asked of pthread_getattr_np, that
 * waited for the same lock forever.  The helpers read /proc/self/maps with
 * plain syscalls instead (helpers/probe.c).  Two cases, each in a child of
 * its own (the hooks are per process), the agent in-process: a program on
 * sys_enter_sched_getaffinity that reads 8 bytes of the mask, and a uprobe
 * on libc's free that reads 8 bytes of its own stack; each counts its runs,
 * and a new thread's first run is the one inside its pthread_getattr_np.
 * Hung, the child is stopped by its alarm (a safety net, not a measurement).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <bpftime/attach.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/syscall_tp.h>
#include <bpftime/vm.h>
#include "common/compiler.h"
#include "common/testkit.h"
#include "internal.h"

#define TRACEPOINT_PROG	      5 /* BPF_PROG_TYPE_TRACEPOINT */
#define KPROBE_PROG	      2 /* BPF_PROG_TYPE_KPROBE */
#define NR_SCHED_GETAFFINITY  204
#define HELPER_PROBE_READ_USR 112
#define STUCK_S		      60 /* the child's alarm */

static struct bpftime_shm *shm;
static int counter;

static uint64_t count(void)
{
	uint32_t key = 0;
	uint64_t v = 0;

	bpftime_map_lookup_elem(shm, counter, &key, &v, 0);
	return v;
}

/* a program of @type: @head (which puts the address to read in r3), then
 * bpf_probe_read_user(&buf, 8, r3) and counter[0] += 1; attached to the
 * perf event @o.  0, or @fail */
static int attach_counting(int type, const struct bpftime_insn *head, size_t n,
			   const struct bpftime_perf_event_opts *o, int fail)
{
	static const struct bpftime_insn tail[] = {
		{ .code = 0xbf, .dst = 1, .src = 10 },		      /* r1 = r10 */
		{ .code = 0x07, .dst = 1, .imm = -8 },		      /* r1 += -8 */
		{ .code = 0xb7, .dst = 2, .imm = 8 },		      /* r2 = 8 */
		{ .code = 0x85, .imm = HELPER_PROBE_READ_USR },	      /* call */
		{ .code = 0x18, .dst = 1, .src = 2 /* map value */ }, /* r1 = &counter[0] */
		{ .code = 0 },
		{ .code = 0xb7, .dst = 2, .imm = 1 }, /* r2 = 1 */
		{ .code = 0xdb, .dst = 1, .src = 2 }, /* lock *(u64 *)r1 += r2 */
		{ .code = 0xb7, .dst = 0, .imm = 0 }, /* r0 = 0 */
		{ .code = 0x95 },		      /* exit */
	};
	struct bpftime_insn p[16];
	size_t cnt = n + sizeof(tail) / sizeof(tail[0]);
	int prog, perf;

	if (cnt > sizeof(p) / sizeof(p[0]))
		return fail;
	memcpy(p, head, n * sizeof(*head));
	memcpy(p + n, tail, sizeof(tail));
	p[n + 4].imm = counter;
	prog = bpftime_prog_create(shm, -1, type, "lockprog", p, cnt, NULL);
	perf = bpftime_perf_event_create(shm, -1, o);
	if (prog < 0 || perf < 0 || bpftime_perf_event_enable(shm, perf, true) ||
	    bpftime_link_create(shm, -1, prog, perf, NULL) < 0)
		return fail;
	return 0;
}

/* on sys_enter_sched_getaffinity: reads 8 bytes of the mask (args[2]) */
static int attach_reader(void)
{
	static const struct bpftime_insn head[] = {
		{ .code = 0x79, .dst = 3, .src = 1, .off = 32 }, /* r3 = args[2] */
	};
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_TRACEPOINT, .pid = -1,
		     .tracepoint_id = BPFTIME_SYSTP_ID_BASE + 2 * NR_SCHED_GETAFFINITY, .cpu = -1,
		     .config = BPFTIME_SYSTP_CONFIG(BPFTIME_SYSTP_ENTER, NR_SCHED_GETAFFINITY));

	return attach_counting(TRACEPOINT_PROG, head, 1, &o, 10);
}

/* a uprobe on libc's free: reads 8 bytes of its own stack (the fast path's
 * bounds are found first) */
static int attach_free_reader(void)
{
	static const struct bpftime_insn head[] = {
		{ .code = 0x7a, .dst = 10, .off = -16, .imm = 7 }, /* *(u64 *)(r10 - 16) = 7 */
		{ .code = 0xbf, .dst = 3, .src = 10 },		   /* r3 = r10 */
		{ .code = 0x07, .dst = 3, .imm = -16 },		   /* r3 += -16 */
	};
	BPFTIME_OPTS(bpftime_perf_event_opts, o, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1);
	uint64_t off, size;
	Dl_info info;

	if (!dladdr((void *)free, &info) || !info.dli_fname ||
	    bpftime_elf_find_symbol(info.dli_fname, "free", &off, &size))
		return 11;
	o.module = info.dli_fname;
	o.offset = off;
	return attach_counting(KPROBE_PROG, head, 3, &o, 12);
}

static void *getattr_thread(void *arg)
{
	pthread_attr_t a;

	(void)arg;
	if (pthread_getattr_np(pthread_self(), &a))
		return (void *)1;
	pthread_attr_destroy(&a);
	return NULL;
}

/* in the (forked) child, @uprobe: the free case, else the syscall one: 0 as
 * expected, 77 cannot run here, else what failed */
static int run_case(bool uprobe)
{
	struct timespec nap = { 0, 2000000 };
	struct agent_opts ao = { .watch = true };
	cpu_set_t set;
	char name[64];
	pthread_t th;
	void *res = NULL;
	uint64_t before;
	int err;

	snprintf(name, sizeof(name), "bpftime_agent_lock_test_%d", getpid());
	bpftime_shm__remove(name);
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = name, .size_mb = 4, .max_fd = 64);
	shm = bpftime_shm__create(&so);
	if (!shm)
		return 2;
	counter = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "counter", 4, 8, 1, NULL);
	ao.shm_name = name;
	if (counter < 0 || agent_start(&ao)) {
		err = 3;
		goto out;
	}
	err = uprobe ? attach_free_reader() : attach_reader();
	if (err)
		goto out;
	/* the program runs (on this thread, whose stack top it then knows) */
	for (int waited = 0; !count(); waited += 2) {
		if (waited > 30000) {
			err = !uprobe && bpftime_syscall_hook__net(NULL, 0) < 0 ? 77 : 4;
			goto out;
		}
		if (uprobe) {
			void *volatile m = malloc(16 + (size_t)waited); /* kept: a pair is elided */

			free(m);
		} else {
			sched_getaffinity(0, sizeof(set), &set);
		}
		nanosleep(&nap, NULL);
	}
	/* a new thread's first read is inside its pthread_getattr_np */
	before = count();
	if (pthread_create(&th, NULL, getattr_thread, NULL)) {
		err = 5;
		goto out;
	}
	pthread_join(th, &res);
	if (res) {
		err = 6;
		goto out;
	}
	if (count() == before) {
		fprintf(stderr, "agent_lock_test: the program did not run on the thread\n");
		err = 7;
		goto out;
	}
	printf("the thread's pthread_getattr_np returned; the program ran %llu time(s) there\n",
	       (unsigned long long)(count() - before));
	fflush(stdout);
	err = 0;
out:
	agent_stop();
	bpftime_shm__remove(name);
	return err;
}

static int case_syscall(void *arg)
{
	(void)arg;
	return run_case(false);
}

static int case_uprobe(void *arg)
{
	(void)arg;
	return run_case(true);
}

static void test_getattr_inside(void **state)
{
	(void)state;
	test_in_child(case_syscall, NULL, STUCK_S,
		      "no syscall hook here (Syscall User Dispatch, Linux 5.11)");
}

/* a uprobe on free, which pthread_getattr_np calls holding the lock */
static void test_free_inside(void **state)
{
	(void)state;
#ifdef BPFTIME_ASAN
	TEST_SKIP("AddressSanitizer replaces free: the uprobe on libc's free never runs");
#endif
	test_in_child(case_uprobe, NULL, STUCK_S, "the uprobe could not run here");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_getattr_inside),
		cmocka_unit_test(test_free_inside),
	};

	return TEST_RUN(tests, NULL, NULL);
}
