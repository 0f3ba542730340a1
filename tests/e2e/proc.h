/* SPDX-License-Identifier: MIT */
/* tests/e2e/proc.h: the child processes an end-to-end test starts.  Every
 * process started with spawn() is remembered until the test reaps it, so the
 * cmocka teardown (kill_live()) can kill what a failed assertion left: its
 * whole process group (guard, bpftime and the loader or target).  A child
 * also gets SIGKILL when the test process itself dies. */
#ifndef BPFTIME_E2E_PROC_H
#define BPFTIME_E2E_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* a safety net so a broken build fails instead of hanging; never a measurement */
#define STUCK_MS 60000

struct proc {
	pid_t pid;	  /* also its process group */
	int out, err, in; /* in: -1 unless spawned with a stdin pipe */
	bool out_eof, err_eof;
	char obuf[1 << 17], ebuf[1 << 16];
	size_t olen, elen;
};

/* runs argv with stdout/stderr to pipes (and stdin from one if @in) */
void spawn(struct proc *p, const char *const *argv, bool in);
/* reads what is available from both pipes, waiting up to @ms; notes EOF;
 * returns whether anything was read */
bool pump(struct proc *p, int ms);
/* Waits for the process to exit, reading its output meanwhile (a full pipe
 * would block it) and then what is left; reaps it and closes its pipes.
 * Returns the exit status, or 128 + the signal that killed it.  Children
 * it left behind with the pipes open do not hold the test up. */
int proc_wait(struct proc *p);
/* The same, but first reads until both pipes reach end of file (at most
 * STUCK_MS): everything the process and the children it leaves write
 * (bpftime start's target, a loader's child) is in obuf/ebuf. */
int proc_wait_eof(struct proc *p);
/* The test's own segment: BPFTIME_GLOBAL_SHM_NAME = "<prefix>_<pid>_<name>",
 * removed if a previous run left it. */
void proc_use_segment(const char *prefix, const char *name);
/* waits (at most STUCK_MS) for @needle in the process's stdout */
void expect_out(struct proc *p, const char *needle);
/* the test reaped @pid itself: the teardown leaves it (but not its group) alone */
void reaped(pid_t pid);
/* teardown: kills the groups of every process spawned since, reaps and
 * closes what the test did not */
void kill_live(void);
/* removes /dev/shm segments "<prefix><pid>_*" of runs whose pid is dead */
void remove_stale_segments(const char *prefix);

#endif
