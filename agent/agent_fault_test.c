/* SPDX-License-Identifier: MIT */
/* agent/agent_fault_test.c: the fault twin of the agent's start: in a child
 * process each (the agent is one per process), agent_start() with the nth
 * allocation failing (heap and arena), for n = 1, 2, ... until it attaches
 * with no fault.  Every start that hit a fault returns 0 (the process runs
 * with what could be attached) or -ENOMEM, the probed function still runs
 * correctly, and the child exits cleanly (the sanitizer build checks it for
 * leaks at exit). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <bpftime/attach.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "agent/internal.h"
#include "vm/test_insn.h"

#define KPROBE_PROG   2
#define CHILD_DONE    10 /* attached with no fault: the loop ends */
#define CHILD_FAULTED 11 /* a fault was hit and handled */

static struct bpftime_shm *shm;
static char exe[PATH_MAX];
static char shm_name[64];
static int vals;

__attribute__((noinline)) long agf_target(long a);
__attribute__((noinline)) long agf_target(long a)
{
	volatile long x = a;

	return x + 1;
}

static long (*volatile target_ptr)(long) = agf_target;

/* vals[0] += 1 */
static const struct bpftime_insn count[] = {
	BPF_ST_MEM(BPF_W, 10, -4, 0),
	BPF_MOV64_REG(2, 10),
	BPF_ALU64_IMM(BPF_ADD, 2, -4),
	BPF_LD_MAP_FD(1, 0),
	BPF_CALL_HELPER(1),
	BPF_JMP_IMM(BPF_JEQ, 0, 0, 2),
	BPF_MOV64_IMM(1, 1),
	BPF_ATOMIC_OP(BPF_DW, BPF_ADD, 0, 1, 0),
	BPF_MOV64_IMM(0, 0),
	BPF_EXIT_INSN(),
};

static uint64_t counter(void)
{
	uint64_t v = 0;
	uint32_t key = 0;

	if (bpftime_map_lookup_elem(shm, vals, &key, &v, 0))
		return UINT64_MAX;
	return v;
}

static int setup(void **state)
{
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = shm_name, .size_mb = 8, .max_fd = 64);
	struct bpftime_insn prog[sizeof(count) / sizeof(count[0])];
	BPFTIME_OPTS(bpftime_perf_event_opts, pe, .type = BPFTIME_PERF_TYPE_UPROBE, .pid = -1,
		     .module = exe);
	uint64_t off, size;
	ssize_t n;
	int pfd, efd;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = 0;
	snprintf(shm_name, sizeof(shm_name), "bpftime_test_agentfault_%d", getpid());
	bpftime_shm__remove(shm_name);
	shm = bpftime_shm__create(&so);
	assert_non_null(shm);
	vals = bpftime_map_create(shm, -1, BPFTIME_MAP_ARRAY, "vals", 4, 8, 1, NULL);
	assert_true(vals >= 0);
	memcpy(prog, count, sizeof(prog));
	prog[3].imm = vals;
	pfd = bpftime_prog_create(shm, -1, KPROBE_PROG, "count", prog,
				  sizeof(prog) / sizeof(prog[0]), NULL);
	assert_true(pfd >= 0);
	assert_int_equal(bpftime_elf_find_symbol(exe, "agf_target", &off, &size), 0);
	pe.offset = off;
	efd = bpftime_perf_event_create(shm, -1, &pe);
	assert_true(efd >= 0);
	assert_int_equal(bpftime_perf_event_enable(shm, efd, true), 0);
	assert_true(bpftime_link_create(shm, -1, pfd, efd, NULL) >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_kill_kids();
	bpftime_shm__close(shm);
	bpftime_shm__remove(shm_name);
	return 0;
}

/* the child: one start with the nth allocation failing */
static int child(unsigned long n)
{
	struct agent_opts o = { .shm_name = shm_name, .watch = false };
	uint64_t before = counter();
	unsigned long hits;
	int err;

	mem_fault_set(n, false);
	err = agent_start(&o);
	hits = mem_fault_hits();
	mem_fault_set(0, false);
	if (err && err != -ENOMEM) {
		fprintf(stderr, "allocation %lu failed: agent_start returned %d\n", n, err);
		return 1;
	}
	if (target_ptr(41) != 42) {
		fprintf(stderr, "allocation %lu failed: the probed function went wrong\n", n);
		return 1;
	}
	if (!hits) {
		/* nothing failed: everything is attached and ran */
		if (err || agent_attached_count() != 1 || counter() != before + 1) {
			fprintf(stderr, "no fault: start %d, %d attached, counter %llu -> %llu\n",
				err, agent_attached_count(), (unsigned long long)before,
				(unsigned long long)counter());
			return 1;
		}
		agent_stop();
		return CHILD_DONE;
	}
	agent_stop();
	return CHILD_FAULTED;
}

static void test_start_fault(void **state)
{
	int faulted = 0, status;
	unsigned long n;

	(void)state;
	for (n = 1; n < 10000; n++) {
		pid_t pid = test_fork();

		if (pid == 0) {
			fflush(stdout);
			exit(child(n)); /* exit(): the sanitizer build's leak check runs */
		}
		assert_int_equal(test_reap(pid, &status), pid);
		if (!WIFEXITED(status))
			fail_msg("allocation %lu failed: the child died of signal %d", n,
				 WTERMSIG(status));
		if (WEXITSTATUS(status) == CHILD_DONE)
			break;
		if (WEXITSTATUS(status) != CHILD_FAULTED)
			fail_msg("allocation %lu failed: the child exited with %d", n,
				 WEXITSTATUS(status));
		faulted++;
	}
	assert_true(n < 10000);
	assert_true(faulted > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_fault),
	};

	bpftime_set_print(NULL);
	return TEST_RUN(tests, setup, teardown);
}
