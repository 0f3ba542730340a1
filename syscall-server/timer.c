/* SPDX-License-Identifier: MIT */
/* syscall-server/timer.c: timed software perf events run by the loader.
 *
 * A perf event of PERF_TYPE_SOFTWARE with PERF_COUNT_SW_CPU_CLOCK or
 * PERF_COUNT_SW_TASK_CLOCK and a sample period (or frequency), with a
 * program attached (PERF_EVENT_IOC_SET_BPF or a perf link), is a timer: the
 * kernel runs the program every period on the event's CPU.  bpftrace's
 * `interval:*` is one such event, system-wide (pid -1) on one CPU; its
 * program does not look at the interrupted context.  Those run here, on a
 * thread of the loader, at their period: one event of this loader, pid -1,
 * and the only timed event its program has (a program with timed events on
 * several CPUs, or on a pid, samples processes: bpftrace's `profile:*`,
 * which the agent serves in the traced processes, agent/profile.c).
 *
 * The thread sleeps until the earliest deadline or a change of the
 * segment's epoch (an event enabled, disabled or detached), never polling;
 * it blocks every signal, so SIGINT still reaches the loader's own threads.
 * The program gets the kernel's struct bpf_perf_event_data with zeroed
 * registers (there is no interrupted user context to show) and the period.
 * Periods are kept on an absolute schedule (no drift); a late thread runs a
 * missed period once, as a timer interrupt that came late would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/perf_event.h>
#include <bpftime/runtime.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"

#define TIMER_MAX 64

struct timer {
	int link_fd, prog_fd, perf_fd;
	uint32_t link_id;
	uint64_t period_ns;
	uint64_t next_ns;
};

/* the kernel's struct bpf_perf_event_data: pt_regs, sample_period, addr */
struct perf_ctx {
	uint64_t regs[21];
	uint64_t sample_period;
	uint64_t addr;
};

static pthread_once_t timers_once = PTHREAD_ONCE_INIT;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool is_timed(const struct bpftime_perf_event_info *pi)
{
	return pi->type == BPFTIME_PERF_TYPE_SOFTWARE &&
	       (pi->config == PERF_COUNT_SW_CPU_CLOCK || pi->config == PERF_COUNT_SW_TASK_CLOCK) &&
	       pi->sample_period && pi->enabled;
}

static uint64_t period_of(const struct bpftime_perf_event_info *pi)
{
	if (!pi->freq)
		return pi->sample_period;
	return pi->sample_period >= 1000000000ULL ? 1 : 1000000000ULL / pi->sample_period;
}

/* the timed events of program @prog_id (any loader's): how many */
static int prog_timed_events(uint32_t prog_id)
{
	int n = 0;

	for (int fd = bpftime_handler_next(srv.shm, -1); fd >= 0;
	     fd = bpftime_handler_next(srv.shm, fd)) {
		struct bpftime_link_info li;
		struct bpftime_perf_event_info pi;

		if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_LINK ||
		    bpftime_link_get_info(srv.shm, fd, &li) || li.prog_id != prog_id ||
		    bpftime_perf_event_get_info(srv.shm, li.target_fd, &pi) || !is_timed(&pi))
			continue;
		n++;
	}
	return n;
}

/* the timers this loader runs now; keeps the schedule of those that stay */
static int scan(struct timer *t, int n_old, struct timer *out)
{
	int n = 0;

	for (int fd = bpftime_handler_next(srv.shm, -1); fd >= 0 && n < TIMER_MAX;
	     fd = bpftime_handler_next(srv.shm, fd)) {
		struct bpftime_link_info li;
		struct bpftime_perf_event_info pi;
		struct timer *nt = &out[n];

		if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_LINK ||
		    bpftime_link_get_info(srv.shm, fd, &li) || !srv_is_ours(li.target_fd) ||
		    bpftime_perf_event_get_info(srv.shm, li.target_fd, &pi) || !is_timed(&pi) ||
		    pi.pid != -1 || prog_timed_events(li.prog_id) != 1)
			continue;
		nt->link_fd = fd;
		nt->prog_fd = li.prog_fd;
		nt->perf_fd = li.target_fd;
		nt->link_id = li.id;
		nt->period_ns = period_of(&pi);
		nt->next_ns = mono_ns() + nt->period_ns;
		for (int i = 0; i < n_old; i++)
			if (t[i].link_id == li.id && t[i].period_ns == nt->period_ns)
				nt->next_ns = t[i].next_ns;
		n++;
	}
	return n;
}

static void *timer_thread(void *arg)
{
	struct timer cur[TIMER_MAX], next[TIMER_MAX];
	struct bpftime_runtime *rt = bpftime_runtime__new(srv.shm, NULL);
	int n = 0;

	UNUSED(arg);
	if (!rt) {
		pr_warn("syscall server: timed perf events will not run: no runtime: %s\n",
			strerror(errno));
		return NULL;
	}
	while (srv.ready) {
		uint32_t epoch = bpftime_shm__epoch(srv.shm);
		uint64_t now, wake = UINT64_MAX;
		int timeout_ms, nn;

		nn = scan(cur, n, next);
		memcpy(cur, next, sizeof(cur[0]) * (size_t)nn);
		n = nn;
		now = mono_ns();
		for (int i = 0; i < n; i++) {
			if (cur[i].next_ns <= now) {
				struct perf_ctx ctx = { .sample_period = cur[i].period_ns };
				uint64_t ret;

				bpftime_runtime__run(rt, cur[i].prog_fd, &ctx, sizeof(ctx), &ret);
				cur[i].next_ns += cur[i].period_ns;
				now = mono_ns();
				if (cur[i].next_ns <= now) /* late: skip what was missed */
					cur[i].next_ns = now + cur[i].period_ns -
							 (now - cur[i].next_ns) % cur[i].period_ns;
			}
			if (cur[i].next_ns < wake)
				wake = cur[i].next_ns;
		}
		if (wake == UINT64_MAX) {
			timeout_ms = -1;
		} else {
			now = mono_ns();
			if (wake <= now)
				continue;
			/* to the ms, then the rest with a precise sleep */
			timeout_ms = (int)((wake - now) / 1000000ULL);
		}
		if (timeout_ms != 0) {
			if (bpftime_shm__wait_epoch(srv.shm, epoch, timeout_ms) == 0)
				continue; /* the epoch moved: rescan */
		}
		if (wake != UINT64_MAX) {
			struct timespec ts = { (time_t)(wake / 1000000000ULL),
					       (long)(wake % 1000000000ULL) };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
	}
	return NULL;
}

static void timers_start(void)
{
	pthread_t t;
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&t, NULL, timer_thread, NULL))
		pr_warn("syscall server: cannot start the timer thread: timed perf events will not "
			"run\n");
	else
		pthread_detach(t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void srv_timers_kick(void)
{
	pthread_once(&timers_once, timers_start);
}

/* At the loader's exit: its timers stop with it.  The kernel would keep
 * running a pinned one; we cannot (nothing else runs `interval` events), so
 * each pinned timer link this loader ran says so. */
void srv_timers_fini(void)
{
	struct timer t[TIMER_MAX];
	int n = scan(NULL, 0, t);

	for (int i = 0; i < n; i++) {
		struct bpftime_handler_info hi;

		if (bpftime_handler_get_info(srv.shm, t[i].link_fd, &hi) || !hi.pinned)
			continue;
		pr_warn("syscall server: pinned timed perf event link %u stops running now: "
			"bpftime "
			"runs interval (system-wide timer) events in the loader that attached "
			"them, "
			"and it is exiting; start a loader that attaches it again to keep it "
			"running\n",
			t[i].link_id);
	}
}
