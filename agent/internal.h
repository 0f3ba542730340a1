/* SPDX-License-Identifier: MIT */
/* agent/internal.h: what the agent's files share.  Internal to agent/.
 *
 * The agent is split so that tests can drive it in-process: agent.c is the
 * core (a runtime over the segment, the attachment set, the watcher thread),
 * helpers.c the uprobe-context helpers, and main.c only the constructor and
 * destructor of libbpftime-agent.so.
 */
#ifndef BPFTIME_AGENT_INTERNAL_H
#define BPFTIME_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpftime_shm;
struct bpftime_runtime;
struct bpftime_link_info;

struct agent_opts {
	/* NULL: the environment's segment (BPFTIME_GLOBAL_SHM_NAME) */
	const char *shm_name;
	/* start the thread that follows the segment (false: only agent_sync) */
	bool watch;
	/* the interpreter (--no-jit of `bpftime attach`); false: the environment's choice */
	bool no_jit;
	/* no segment yet: wait for one on a thread (the preloaded agent of
	 * `bpftime start`), agent_start returning -ENOENT meanwhile */
	bool wait_segment;
};

/* Opens the segment, builds and attaches everything that concerns this
 * process, and (opts->watch) starts the thread that follows the segment.
 * Returns 0, or a negative errno after one warning; the process then runs
 * untraced.  Calling it again while started returns -EALREADY. */
int agent_start(const struct agent_opts *opts);
/* Detaches every probe and stops the thread; the segment and the built VMs
 * stay mapped (a thread may still be leaving a handler), so this is only
 * for tests and the end of the process. */
void agent_stop(void);
/* After agent_stop (`bpftime detach`): attaches again and follows the
 * segment again.  Returns 0, -ENOENT (never started), -EALREADY (running). */
int agent_resume(void);
/* started and not stopped */
bool agent_running(void);
/* the segment the agent serves (NULL: none) */
const char *agent_shm_name(void);
/* Stops following the segment and leaves the probes as they are (the
 * process is exiting: other threads may still run probed code); says
 * whether threads went untraced (agent_systp_note_bare). */
void agent_quiesce(void);
/* Brings the attachments in line with the segment now (what the watcher
 * does on every epoch change).  Returns 0 or -errno (not started). */
int agent_sync(void);
/* Syncs counted so far (tests wait for the watcher with it). */
uint64_t agent_sync_count(void);
/* Probes attached now. */
int agent_attached_count(void);
/* The segment epoch the last completed sync saw. */
uint32_t agent_synced_epoch(void);

/* profile.c: starts and stops the process CPU-time samplers of the timed
 * perf events that sample this process (bpftrace profile:*), from the
 * segment's @links (agent.c reads them by id once per sync); 0 or -errno */
int agent_profile_sync(struct bpftime_shm *shm, struct bpftime_runtime *rt, int self,
		       const struct bpftime_link_info *links, size_t nlinks);

/* main.c: the entry points `bpftime attach` and `bpftime detach` call in
 * the target, and the syscall hook's net state (the library's only
 * exported symbols) */
long bpftime_agent_attach(const char *cfg);
long bpftime_agent_detach(void);
int bpftime_agent_syscall_net(char *why, size_t len);

/* agent.c: run statistics (BPF_ENABLE_STATS).  A hook tests
 * agent_stats_on() (one load and a branch); when on, it times the run
 * (agent_stats_now() before) and agent_stats_add() counts it in program
 * @prog_id's run_cnt and run_time_ns. */
extern const uint32_t *agent_stats_word;
static inline bool agent_stats_on(void)
{
	return __atomic_load_n(agent_stats_word, __ATOMIC_RELAXED) != 0;
}
uint64_t agent_stats_now(void);
void agent_stats_add(struct bpftime_shm *shm, uint32_t prog_id, uint64_t t0);

/* Is the calling thread working for the agent (its probes and syscall
 * tracepoints do not run programs there)? */
/* ids a warning was given for (a program that did not build, a perf event
 * that cannot be hooked), so that it is given once and not retried; used
 * by the syncs, under the agent's lock.  @kind: the caller's id space. */
struct agent_warned {
	struct {
		uint32_t kind, id;
	} * v;
	size_t n;
};
bool agent_warned_has(const struct agent_warned *w, uint32_t kind, uint32_t id);
/* a failed allocation only costs the warning again */
void agent_warned_add(struct agent_warned *w, uint32_t kind, uint32_t id);
bool agent_is_busy(void);
/* where agent_is_busy() looks, from the thread pointer (the same in every
 * thread): the syscall handlers read it at %fs:offset, the offset kept in
 * their table (the GOT entry of an initial-exec access is one more page
 * after each syscall) */
uintptr_t agent_busy_tp_offset(void);
/* is this thread inside a program run (of any kind)? */
bool agent_in_run(void);

/* systp.c: brings the syscall tracepoint programs in line with the
 * segment (called by every sync, agent lock held); the first one starts the
 * syscall hook.  Returns the number of programs attached, or -errno. */
int agent_systp_sync(struct bpftime_shm *shm, struct bpftime_runtime *rt, int pid,
		     const struct bpftime_link_info *links, size_t nlinks);
/* programs attached now; whether the syscall hook was started */
int agent_systp_count(void);
bool agent_systp_hooked(void);
void agent_systp_note_bare(void);
/* detaches every syscall tracepoint program and pauses the hook (the
 * agent stops following the segment: `bpftime detach`) */
void agent_systp_stop(void);

/* helpers.c: registers the uprobe-context helpers (HELPER_EXT rows of
 * helpers/helpers.def) on @rt.  Returns 0 or the first error. */
int agent_register_helpers(struct bpftime_runtime *rt);

#endif
