/* SPDX-License-Identifier: MIT */
/* shm/cpu.c: per-CPU slots with the kernel's guarantee.
 *
 * The kernel runs a BPF program with migration disabled: while it runs,
 * nothing else uses that CPU's per-CPU map values, helper scratch or perf
 * buffer, so programs like bpftrace's `@c = count()` (a plain load, add,
 * store on a per-CPU value) are exact.  In user space any number of threads
 * run programs and can be preempted anywhere, so "the CPU I run on now"
 * gives no such guarantee.
 *
 * Instead, a program run owns a slot.  The segment holds ncpus slot words
 * (struct shm_cpu, one cache line each); a run claims one with a CAS of 0 ->
 * its tid, trying first the slot of the CPU it is on (the rseq area's
 * cpu_id, a plain load), then the others, and releases it with a store when
 * the run ends.  All per-CPU accesses of the run (maps/: per-CPU array and
 * hash, LRU per-CPU, BPF_F_CURRENT_CPU perf output; helpers:
 * bpf_get_smp_processor_id) use the claimed slot, so user space still sees
 * ncpus values per key and each is only ever written by one run at a time.
 *
 * When every slot is taken (more runs in flight than CPUs: their owners
 * were preempted inside a program), the run waits: it spins briefly, then
 * sleeps on the slot's futex word (release wakes a waiter when there is
 * one).  A slot whose owner died inside a program (SIGKILL) is taken over
 * after kill(tid, 0) says ESRCH, checked only on that slow path.
 *
 * Nesting: a run inside a run on the same thread (a signal-driven sample
 * that interrupts a program, a program run by a helper) keeps the outer
 * run's slot, as a nested program on the kernel's CPU does.  A signal that
 * arrives between the CAS and the thread-local bookkeeping finds its own tid
 * in the slot and treats it the same way.
 *
 * Cost per run, uncontended: one CAS and one store on a line the thread
 * usually already owns (measured by bench/bpftrace_bench).  Runs of
 * programs that touch no per-CPU data (runtime/percpu.c decides it from
 * the program's maps and helpers: bpftime_runtime__needs_cpu) do not claim a
 * slot at all (agent/agent.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include "internal.h"
#include "common/compiler.h"

__thread int32_t shm_cpu_slot __attribute__((tls_model("initial-exec"))) = -1;
__thread void (*shm_run_end_hook)(void);
static __thread uint32_t cpu_depth __attribute__((tls_model("initial-exec")));
static __thread uint32_t cpu_tid __attribute__((tls_model("initial-exec")));

static void cpu_tid_reset(void)
{
	cpu_tid = 0; /* the forked child's thread has a new tid */
	cpu_depth = 0;
	shm_cpu_slot = -1;
}

__attribute__((constructor)) static void cpu_atfork(void)
{
	pthread_atfork(NULL, NULL, cpu_tid_reset);
}

static inline uint32_t self_tid(void)
{
	if (unlikely(!cpu_tid))
		cpu_tid = (uint32_t)syscall(SYS_gettid);
	return cpu_tid;
}

int shm_cur_cpu(void)
{
#if defined(__x86_64__)
	if (likely(__rseq_size > 0)) {
		char *tp;
		const struct rseq *rs;
		int32_t c;

		__asm__("mov %%fs:0, %0" : "=r"(tp)); /* the TCB's self pointer */
		rs = (const struct rseq *)(tp + __rseq_offset);
		c = (int32_t)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
		if (likely(c >= 0))
			return c;
	}
#endif
	return sched_getcpu();
}

static inline bool try_claim(struct shm_cpu *s, uint32_t me)
{
	uint32_t v = atomic_load_explicit(&s->owner, memory_order_relaxed);

	if (v == me)
		return true; /* a signal interrupted our own claim */
	if (v)
		return false;
	return atomic_compare_exchange_strong_explicit(&s->owner, &v, me, memory_order_acquire,
						       memory_order_relaxed);
}

/* The fast path, on the slot of the CPU the thread runs on: the CAS
 * first, without the load before it (a load would fetch the line shared
 * and the CAS then upgrade it: two transfers when the line was last
 * written on another CPU, one this way).  The scans of claim_slow load
 * first, not to take every busy slot's line exclusively. */
static inline bool claim_home(struct shm_cpu *s, uint32_t me)
{
	uint32_t v = 0;

	if (likely(atomic_compare_exchange_strong_explicit(&s->owner, &v, me, memory_order_acquire,
							   memory_order_relaxed)))
		return true;
	return v == me; /* a signal interrupted our own claim */
}

static int claim_slow(struct bpftime_shm *shm, uint32_t start, uint32_t me)
{
	struct shm_cpu *cpus = shm->cpus;
	uint32_t n = shm->ncpus;

	for (unsigned int round = 0;; round++) {
		for (uint32_t i = 0; i < n; i++) {
			uint32_t s = (start + i) % n;

			if (try_claim(&cpus[s], me))
				return (int)s;
		}
		if (round < 64) {
			__builtin_ia32_pause();
			continue;
		}
		if (round < 128) {
			sched_yield();
			continue;
		}
		/* every slot is held by a run that is not running: sleep on
		 * the home slot until a release wakes us (bounded, so a dead
		 * owner is noticed), and take over slots of dead owners */
		for (uint32_t i = 0; i < n; i++) {
			uint32_t v = atomic_load_explicit(&cpus[i].owner, memory_order_relaxed);

			if (v && v != me && kill((pid_t)v, 0) && errno == ESRCH &&
			    atomic_compare_exchange_strong(&cpus[i].owner, &v, me))
				return (int)i;
		}
		{
			struct shm_cpu *s = &cpus[start];
			uint32_t v = atomic_load(&s->owner);
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			if (!v)
				continue;
			atomic_fetch_add(&s->waiters, 1);
			syscall(SYS_futex, &s->owner, FUTEX_WAIT, v, &ts, NULL, 0);
			atomic_fetch_sub(&s->waiters, 1);
		}
	}
}

BPFTIME_HOT int bpftime_shm__cpu_get(struct bpftime_shm *shm)
{
	uint32_t me, start;
	int s;

	if (cpu_depth) {
		cpu_depth++;
		return shm_cpu_slot;
	}
	me = self_tid();
	start = (uint32_t)shm_cur_cpu();
	if (unlikely(start >= shm->ncpus))
		start %= shm->ncpus;
	s = likely(claim_home(&shm->cpus[start], me)) ? (int)start : claim_slow(shm, start, me);
	shm_cpu_slot = s;
	atomic_signal_fence(memory_order_seq_cst);
	cpu_depth = 1;
	return s;
}

bool bpftime_shm__cpu_busy(void)
{
	return cpu_depth != 0;
}

BPFTIME_HOT void bpftime_shm__cpu_put(struct bpftime_shm *shm)
{
	struct shm_cpu *s;

	if (unlikely(!cpu_depth))
		return;
	if (cpu_depth == 1 && unlikely(shm_run_end_hook)) {
		void (*fn)(void) = shm_run_end_hook;

		shm_run_end_hook = NULL;
		fn();
	}
	if (--cpu_depth)
		return;
	s = &shm->cpus[shm_cpu_slot];
	shm_cpu_slot = -1;
	atomic_signal_fence(memory_order_seq_cst);
	/* a release store (no fence): a waiter that registers just as we
	 * read waiters == 0 misses this wake-up and sleeps out its bounded
	 * wait (claim_slow), which only happens when every slot is owned */
	atomic_store_explicit(&s->owner, 0, memory_order_release);
	if (unlikely(atomic_load_explicit(&s->waiters, memory_order_seq_cst)))
		syscall(SYS_futex, &s->owner, FUTEX_WAKE, 1, NULL, NULL, 0);
}
