/* SPDX-License-Identifier: MIT */
/* tests/e2e/proc.c: see proc.h. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpftime/shm.h>
#include "proc.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct {
	pid_t pid; /* 0: free slot */
	int out, err, in;
	bool reaped; /* by the test: only its group may be left */
} live[32];

void spawn(struct proc *p, const char *const *argv, bool in)
{
	int o[2], e[2], i[2] = { -1, -1 };
	pid_t parent = getpid();
	size_t slot;

	memset(p, 0, sizeof(*p));
	p->in = -1;
	for (slot = 0; slot < ARRAY_SIZE(live) && live[slot].pid; slot++)
		;
	/* all taken: one the test reaped gives its slot (its group killed, as
	 * kill_live() would) */
	for (size_t r = 0; slot == ARRAY_SIZE(live) && r < ARRAY_SIZE(live); r++) {
		if (live[r].reaped) {
			kill(-live[r].pid, SIGKILL);
			slot = r;
		}
	}
	assert_true(slot < ARRAY_SIZE(live));
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e, O_CLOEXEC), 0);
	if (in)
		assert_int_equal(pipe2(i, O_CLOEXEC), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(127);
		dup2(o[1], 1);
		dup2(e[1], 2);
		if (in)
			dup2(i[0], 0);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	setpgid(p->pid, p->pid); /* whichever of us runs first */
	close(o[1]);
	close(e[1]);
	if (in) {
		close(i[0]);
		p->in = i[1];
	}
	p->out = o[0];
	p->err = e[0];
	live[slot].pid = p->pid;
	live[slot].out = p->out;
	live[slot].err = p->err;
	live[slot].in = p->in;
	live[slot].reaped = false;
}

void reaped(pid_t pid)
{
	for (size_t i = 0; i < ARRAY_SIZE(live); i++)
		if (live[i].pid == pid)
			live[i].reaped = true;
}

void kill_live(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(live); i++) {
		if (!live[i].pid)
			continue;
		kill(-live[i].pid, SIGKILL); /* the loader too, if its bpftime went first */
		if (!live[i].reaped) {
			kill(live[i].pid, SIGKILL);
			while (waitpid(live[i].pid, NULL, 0) < 0 && errno == EINTR)
				;
			close(live[i].out);
			close(live[i].err);
			if (live[i].in >= 0)
				close(live[i].in);
		}
		live[i].pid = 0;
	}
}

void remove_stale_segments(const char *prefix)
{
	size_t len = strlen(prefix);
	DIR *d = opendir("/dev/shm");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		int pid;

		if (!strncmp(de->d_name, prefix, len) &&
		    sscanf(de->d_name + len, "%d_", &pid) == 1 && pid > 0 && kill(pid, 0) &&
		    errno == ESRCH)
			bpftime_shm__remove(de->d_name);
	}
	if (d)
		closedir(d);
}

static bool read_into(int fd, char *buf, size_t size, size_t *len, bool *eof)
{
	ssize_t n;

	if (*len + 1 >= size) /* full: keep what we have, never a false EOF */
		return false;
	n = read(fd, buf + *len, size - 1 - *len);

	if (n > 0) {
		*len += (size_t)n;
		return true;
	}
	if (n == 0)
		*eof = true;
	return false;
}

bool pump(struct proc *p, int ms)
{
	struct pollfd fds[2] = { { p->out_eof ? -1 : p->out, POLLIN, 0 },
				 { p->err_eof ? -1 : p->err, POLLIN, 0 } };
	bool got = false;

	if (poll(fds, 2, ms) <= 0)
		return false;
	if (fds[0].revents)
		got |= read_into(p->out, p->obuf, sizeof(p->obuf), &p->olen, &p->out_eof);
	if (fds[1].revents)
		got |= read_into(p->err, p->ebuf, sizeof(p->ebuf), &p->elen, &p->err_eof);
	p->obuf[p->olen] = 0;
	p->ebuf[p->elen] = 0;
	return got;
}

void expect_out(struct proc *p, const char *needle)
{
	for (int waited = 0; !strstr(p->obuf, needle); waited += 50) {
		if (waited > STUCK_MS) {
			print_error("stdout: %s\nstderr: %s\n", p->obuf, p->ebuf);
			fail_msg("'%s' never appeared", needle);
		}
		pump(p, 50);
	}
}

static int reap(struct proc *p, int status)
{
	reaped(p->pid);
	close(p->out);
	close(p->err);
	if (p->in >= 0) {
		close(p->in);
		p->in = -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int proc_wait(struct proc *p)
{
	int status = 0, silent = 0;
	pid_t w;

	while ((w = waitpid(p->pid, &status, WNOHANG)) == 0) {
		if (pump(p, 50))
			silent = 0;
		else if ((silent += 50) > 10 * STUCK_MS)
			fail_msg("process %d is stuck (silent for %d ms)", (int)p->pid, silent);
	}
	assert_int_equal(w, p->pid);
	while (pump(p, 0))
		;
	return reap(p, status);
}

int proc_wait_eof(struct proc *p)
{
	int status;

	if (p->in >= 0) {
		close(p->in);
		p->in = -1;
	}
	for (int waited = 0; !p->out_eof || !p->err_eof; waited += 50) {
		if (waited > STUCK_MS) {
			print_error("stdout: %s\nstderr: %s\n", p->obuf, p->ebuf);
			fail_msg("process %d never closed its output", (int)p->pid);
		}
		pump(p, 50);
	}
	assert_int_equal(waitpid(p->pid, &status, 0), p->pid);
	return reap(p, status);
}

void proc_use_segment(const char *prefix, const char *name)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s_%d_%s", prefix, (int)getpid(), name);
	setenv("BPFTIME_GLOBAL_SHM_NAME", buf, 1);
	bpftime_shm__remove(NULL);
}
