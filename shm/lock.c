/* shm/lock.c: process-shared robust mutexes.  A process killed while holding
 * one does not wedge the others: the next locker gets EOWNERDEAD, marks the
 * mutex consistent and carries on.  The structures these locks protect are
 * written so that every step leaves them usable (single-store publication),
 * so "carry on" is safe; the worst case is a leaked element. */
#include <errno.h>
#include <pthread.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

int shm_mutex_init(struct shm_mutex *m)
{
	pthread_mutexattr_t a;
	int err;

	err = pthread_mutexattr_init(&a);
	if (err)
		return -err;
	err = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!err)
		err = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!err)
		err = pthread_mutex_init(&m->m, &a);
	pthread_mutexattr_destroy(&a);
	return -err;
}

void shm_lock(struct shm_mutex *m)
{
	int err = pthread_mutex_lock(&m->m);

	if (unlikely(err == EOWNERDEAD)) {
		pr_debug("recovered a lock held by a dead process\n");
		pthread_mutex_consistent(&m->m);
	}
}

int shm_trylock(struct shm_mutex *m)
{
	int err = pthread_mutex_trylock(&m->m);

	if (likely(!err))
		return 0;
	if (err == EOWNERDEAD) {
		pthread_mutex_consistent(&m->m);
		return 0;
	}
	return -EBUSY;
}

void shm_unlock(struct shm_mutex *m)
{
	pthread_mutex_unlock(&m->m);
}
