/* SPDX-License-Identifier: MIT */
/* agent/profile.c: timed perf events that sample this process (bpftrace's
 * `profile:hz:N`, `profile:ms:N`).
 *
 * The kernel's profile is a CPU_CLOCK (or TASK_CLOCK) software event per
 * CPU, pid -1, or per CPU on one pid: every period of CPU time it interrupts
 * whatever runs and runs the program with the interrupted registers.  Here
 * a program whose timed events are on several CPUs or on a pid that is ours
 * (one with a single system-wide event is a timer the loader runs:
 * syscall-server/timer.c) gets one process CPU-time timer (timer_create
 * with CLOCK_PROCESS_CPUTIME_ID) at the events' period: the kernel delivers
 * its signal to the thread that is running when the period elapses, which
 * is the thread a CPU sample would have caught.  The handler runs the
 * program on that thread with ctx = struct bpf_perf_event_data built from
 * the signal's ucontext (registers, period) and those registers as the
 * helpers' context, so ustack, pid, tid and comm are the sampled thread's.
 * A CPU-time timer is checked at the scheduler tick (4 ms at HZ=250), so a
 * shorter period expires several times before one signal (si_overrun says
 * how many more); the kernel's hrtimer-driven cpu-clock takes a sample at
 * each, so the program runs once per elapsed period, on the registers the
 * signal caught (at 1 ms: ~1 sample per CPU ms, as the kernel, instead of a
 * quarter of them).
 *
 * The signal is SIGRTMAX - 2 (BPFTIME_PROFILE_SIGNAL overrides), installed
 * only while the process has a profile program, with SA_RESTART.  A sample
 * that lands while the thread is inside a program run (a uprobe's), or on a
 * thread working for the agent, is skipped, as the kernel skips a program
 * that would recurse on its CPU (it counts a miss): the program it
 * interrupted may hold a lock the sample would need.
 *
 * Samplers are kept (the timer deleted) when their events go: a signal
 * already queued still finds its sampler, which then does nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <bpftime/attach.h>
#include <bpftime/log.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#define PROFILE_MAX_RUNS 64 /* samples one signal stands for, at most */

struct sampler {
	uint32_t prog_id;
	uint64_t period_ns;
	struct bpftime_vm *vm;
	struct bpftime_shm *shm;
	timer_t timer;
	_Atomic bool live;
	bool seen;
	struct sampler *next;
};

/* the kernel's struct bpf_perf_event_data */
struct perf_ctx {
	struct bpftime_pt_regs regs;
	uint64_t sample_period;
	uint64_t addr;
};

static struct sampler *samplers;
static int profile_sig;
static struct sigaction old_action;
static bool installed;

static bool is_timed(const struct bpftime_perf_event_info *pi)
{
	return pi->type == BPFTIME_PERF_TYPE_SOFTWARE &&
	       (pi->config == PERF_COUNT_SW_CPU_CLOCK || pi->config == PERF_COUNT_SW_TASK_CLOCK) &&
	       pi->sample_period && pi->enabled;
}

/* the perf event link @li targets, by its id (no fd may name it: a pinned
 * link of a loader that exited) */
static bool link_timed(struct bpftime_shm *shm, const struct bpftime_link_info *li,
		       struct bpftime_perf_event_info *pi)
{
	if (!li->prog_id || !li->target_id)
		return false;
	if (bpftime_perf_event_get_info_by_id(shm, li->target_id, pi))
		return false;
	return is_timed(pi);
}

/* programs that did not build or got no timer: warned about once */
static struct agent_warned warned;

static bool failed(uint32_t id)
{
	return agent_warned_has(&warned, 0, id);
}

static void mark_failed(uint32_t id)
{
	agent_warned_add(&warned, 0, id);
}

static uint64_t period_of(const struct bpftime_perf_event_info *pi)
{
	if (!pi->freq)
		return pi->sample_period;
	return pi->sample_period >= 1000000000ULL ? 1 : 1000000000ULL / pi->sample_period;
}

/* Timer ticks this thread's own sample runs made last time (they count in
 * its CPU time, so in the timer's overrun): not samples of the program.
 * Without it a run slower than the period / PROFILE_MAX_RUNS (ASan,
 * ustack) fed itself: ever more overrun, no time left for the thread. */
static __thread int own_ticks;

static uint64_t thread_cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void on_sample(int sig, siginfo_t *si, void *uc_)
{
	struct sampler *s;
	ucontext_t *uc = uc_;
	const greg_t *g = uc->uc_mcontext.gregs;
	struct bpftime_helper_ctx hctx, *prev;
	struct perf_ctx ctx;
	int saved, runs, overrun;
	uint64_t ret, cpu0;

	/* the kernel's signal frame may lie on a dead frame's stale poison
	 * (ASan builds; common/compiler.h) */
	ASAN_MINE(si, sizeof(*si));
	ASAN_MINE(uc, sizeof(*uc));
	s = si->si_value.sival_ptr;
	saved = errno;

	UNUSED(sig);
	if (si->si_code != SI_TIMER || !s || !atomic_load(&s->live) || agent_is_busy() ||
	    agent_in_run())
		goto out;
	memset(&ctx, 0, sizeof(ctx));
	ctx.regs.r15 = (uint64_t)g[REG_R15];
	ctx.regs.r14 = (uint64_t)g[REG_R14];
	ctx.regs.r13 = (uint64_t)g[REG_R13];
	ctx.regs.r12 = (uint64_t)g[REG_R12];
	ctx.regs.rbp = (uint64_t)g[REG_RBP];
	ctx.regs.rbx = (uint64_t)g[REG_RBX];
	ctx.regs.r11 = (uint64_t)g[REG_R11];
	ctx.regs.r10 = (uint64_t)g[REG_R10];
	ctx.regs.r9 = (uint64_t)g[REG_R9];
	ctx.regs.r8 = (uint64_t)g[REG_R8];
	ctx.regs.rax = (uint64_t)g[REG_RAX];
	ctx.regs.rcx = (uint64_t)g[REG_RCX];
	ctx.regs.rdx = (uint64_t)g[REG_RDX];
	ctx.regs.rsi = (uint64_t)g[REG_RSI];
	ctx.regs.rdi = (uint64_t)g[REG_RDI];
	ctx.regs.orig_rax = (uint64_t)-1;
	ctx.regs.rip = (uint64_t)g[REG_RIP];
	ctx.regs.cs = 0x33;
	ctx.regs.eflags = (uint64_t)g[REG_EFL];
	ctx.regs.rsp = (uint64_t)g[REG_RSP];
	ctx.regs.ss = 0x2b;
	ctx.sample_period = s->period_ns;
	hctx = (struct bpftime_helper_ctx){ .regs = &ctx.regs };
	prev = bpftime_helper_ctx__swap(&hctx);
	overrun = si->si_overrun - own_ticks;
	runs = 1 + (overrun <= 0 ? 0 : overrun < PROFILE_MAX_RUNS ? overrun : PROFILE_MAX_RUNS - 1);
	cpu0 = thread_cpu_ns();
	bpftime_shm__cpu_get(s->shm);
	for (int i = 0; i < runs; i++) {
		if (unlikely(agent_stats_on())) { /* BPF_ENABLE_STATS: the run is timed */
			uint64_t t0 = agent_stats_now();

			bpftime_vm__run(s->vm, &ctx, sizeof(ctx), &ret);
			agent_stats_add(s->shm, s->prog_id, t0);
		} else {
			bpftime_vm__run(s->vm, &ctx, sizeof(ctx), &ret);
		}
	}
	bpftime_shm__cpu_put(s->shm);
	bpftime_helper_ctx__swap(prev);
	own_ticks = s->period_ns ? (int)((thread_cpu_ns() - cpu0) / s->period_ns) : 0;
out:
	errno = saved;
}

static int install(void)
{
	struct sigaction sa;
	const char *env = getenv("BPFTIME_PROFILE_SIGNAL");

	if (installed)
		return 0;
	profile_sig = env ? atoi(env) : SIGRTMAX - 2;
	if (profile_sig < SIGRTMIN || profile_sig > SIGRTMAX) {
		pr_warn("agent: BPFTIME_PROFILE_SIGNAL %s is not a real-time signal: profile "
			"probes do not run\n",
			env ? env : "");
		return -EINVAL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sample;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(profile_sig, &sa, &old_action))
		return -errno;
	installed = true;
	return 0;
}

/* the wanted period of program @prog_id's timed events if they sample
 * processes and cover this one; 0 if not */
static uint64_t wanted(struct bpftime_shm *shm, uint32_t prog_id, pid_t self,
		       const struct bpftime_link_info *links, size_t nlinks)
{
	int n = 0, cpus = 0;
	bool mine = false;
	uint64_t period = 0;
	int32_t first_cpu = -2;

	for (size_t i = 0; i < nlinks; i++) {
		struct bpftime_perf_event_info pi;

		if (links[i].prog_id != prog_id || !link_timed(shm, &links[i], &pi))
			continue;
		n++;
		if (pi.cpu != first_cpu) {
			cpus++;
			first_cpu = first_cpu == -2 ? pi.cpu : first_cpu;
		}
		if (pi.pid == -1 || pi.pid == self) {
			mine = true;
			period = period_of(&pi);
		}
		if (pi.pid != -1)
			cpus = 2; /* a pid's events sample that process */
	}
	return mine && n && cpus >= 2 ? period : 0;
}

int agent_profile_sync(struct bpftime_shm *shm, struct bpftime_runtime *rt, int self,
		       const struct bpftime_link_info *links, size_t nlinks)
{
	for (struct sampler *s = samplers; s; s = s->next)
		s->seen = false;
	for (size_t k = 0; k < nlinks; k++) {
		const struct bpftime_link_info li = links[k];
		struct bpftime_perf_event_info pi;
		struct sampler *s;
		uint64_t period;
		bool dup = false;

		if (!link_timed(shm, &li, &pi))
			continue;
		/* a program's timed events are taken together, at its first */
		for (size_t i = 0; i < k && !dup; i++) {
			struct bpftime_perf_event_info other;

			dup = links[i].prog_id == li.prog_id && link_timed(shm, &links[i], &other);
		}
		if (dup)
			continue;
		period = wanted(shm, li.prog_id, self, links, nlinks);
		if (!period || failed(li.prog_id))
			continue;
		for (s = samplers; s; s = s->next)
			if (s->prog_id == li.prog_id && atomic_load(&s->live) &&
			    s->period_ns == period)
				break;
		if (s) {
			s->seen = true;
			continue;
		}
		if (install())
			return -EINVAL;
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->prog_id = li.prog_id;
		s->period_ns = period;
		s->shm = shm;
		/* by id: a pinned link's program may have no fd left */
		s->vm = bpftime_runtime__prog_by_id(rt, li.prog_id);
		if (!s->vm) {
			if (errno != EBADF) { /* EBADF: gone under us */
				pr_warn("agent: profile prog id %u is not attached: %s\n",
					li.prog_id, strerror(errno));
				mark_failed(li.prog_id);
			}
			free(s);
			continue;
		}
		{
			struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL,
						.sigev_signo = profile_sig,
						.sigev_value.sival_ptr = s };
			struct itimerspec its = {
				.it_interval = { (time_t)(period / 1000000000ULL),
						 (long)(period % 1000000000ULL) },
			};

			its.it_value = its.it_interval;
			if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &s->timer)) {
				pr_warn("agent: profile prog id %u is not attached: "
					"timer_create: %s\n",
					li.prog_id, strerror(errno));
				mark_failed(li.prog_id);
				free(s);
				continue;
			}
			atomic_store(&s->live, true);
			s->seen = true;
			s->next = samplers;
			samplers = s;
			timer_settime(s->timer, 0, &its, NULL);
		}
	}
	for (struct sampler *s = samplers; s; s = s->next) {
		if (!s->seen && atomic_load(&s->live)) {
			atomic_store(&s->live, false);
			timer_delete(s->timer);
		}
	}
	return 0;
}
