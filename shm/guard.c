/* SPDX-License-Identifier: MIT */
/* shm/guard.c: surviving a segment that disappears under us.
 *
 * Another process (or a user with `truncate -s 0`) can shrink the segment's
 * file while we have it mapped; the next access past the new end raises
 * SIGBUS, which would kill a traced host that never asked for bpftime.
 * bpftime_shm__guard() registers a mapping with a process-wide SIGBUS
 * handler: a fault inside a registered segment replaces the whole mapping
 * with anonymous zero pages (MAP_FIXED, one async-signal-safe mmap) and
 * marks the segment gone; the faulting instruction then runs again on zeros
 * (empty slots, empty maps: nothing happens) and the owner of the handle
 * (the agent) sees bpftime_shm__gone() and detaches.  Faults elsewhere go to
 * the handler that was installed before ours, or to the default action.
 *
 * No longjmp: the faulting code resumes where it was, on memory that is now
 * valid, so no lock or invariant of the host is skipped.
 *
 * bpftime_shm__check() finds the same conditions without a fault: the file
 * shorter than our mapping, or the name now naming another object (the
 * segment was removed and created again: our copy is no one's any more).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "common/log.h"

#define GUARD_MAX 16

static struct guard_entry {
	_Atomic uintptr_t base; /* 0: free */
	size_t size;
	_Atomic int *gone;
} guards[GUARD_MAX];

static struct sigaction prev_bus;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

/* replaces the mapping with zero pages; async-signal-safe */
static void zero_map(uintptr_t base, size_t size)
{
	mmap((void *)base, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
	     -1, 0);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (int i = 0; i < GUARD_MAX; i++) {
		uintptr_t b = atomic_load(&guards[i].base);

		if (b && a >= b && a - b < guards[i].size) {
			zero_map(b, guards[i].size);
			atomic_store(guards[i].gone, 1);
			return; /* the access runs again, on zeros */
		}
	}
	/* not ours: what was there before us */
	if (prev_bus.sa_flags & SA_SIGINFO) {
		prev_bus.sa_sigaction(sig, si, uc);
	} else if (prev_bus.sa_handler != SIG_DFL && prev_bus.sa_handler != SIG_IGN) {
		prev_bus.sa_handler(sig);
	} else {
		/* default action: the fault repeats when we return */
		signal(SIGBUS, SIG_DFL);
	}
}

int bpftime_shm__guard(struct bpftime_shm *shm)
{
	struct sigaction sa;
	int err = -ENOSPC;

	if (!shm)
		return shm_err(-EINVAL);
	pthread_mutex_lock(&guard_lock);
	if (shm->guard >= 0) {
		err = 0;
		goto out;
	}
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &prev_bus)) {
			err = -errno;
			goto out;
		}
		installed = true;
	}
	for (int i = 0; i < GUARD_MAX; i++) {
		if (atomic_load(&guards[i].base))
			continue;
		guards[i].size = shm->size;
		guards[i].gone = &shm->gone;
		atomic_store(&guards[i].base, (uintptr_t)shm->base);
		shm->guard = i;
		err = 0;
		break;
	}
out:
	pthread_mutex_unlock(&guard_lock);
	return shm_err(err);
}

void shm_unguard(struct bpftime_shm *shm)
{
	if (shm->guard < 0)
		return;
	pthread_mutex_lock(&guard_lock);
	atomic_store(&guards[shm->guard].base, 0);
	shm->guard = -1;
	pthread_mutex_unlock(&guard_lock);
}

bool bpftime_shm__gone(const struct bpftime_shm *shm)
{
	return atomic_load(&((struct bpftime_shm *)shm)->gone);
}

int bpftime_shm__check(struct bpftime_shm *shm)
{
	char path[sizeof("/dev/shm/") + NAME_MAX];
	struct stat st, now;
	const char *what = NULL;

	if (atomic_load(&shm->gone))
		return shm_err(-ENXIO);
	if (fstat(shm->fd, &st))
		return shm_err(-errno);
	snprintf(path, sizeof(path), "/dev/shm/%s", shm->name);
	if ((size_t)st.st_size < shm->size)
		what = "truncated";
	else if (!stat(path, &now) && (now.st_ino != st.st_ino || now.st_dev != st.st_dev))
		what = "replaced by another object of the same name";
	if (!what)
		return 0;
	/* no access to it may fault from now on */
	if (!atomic_exchange(&shm->gone, 1))
		zero_map((uintptr_t)shm->base, shm->size);
	pr_debug("shm '%s': %s\n", shm->name, what);
	return shm_err(-ENXIO);
}
