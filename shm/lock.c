/* SPDX-License-Identifier: MIT */
/* shm/lock.c: process-shared robust mutexes.  A process killed while holding
 * one does not wedge the others: the next locker gets EOWNERDEAD, marks the
 * mutex consistent and carries on.  The structures these locks protect are
 * written so that every step leaves them usable (single-store publication),
 * so "carry on" is safe; the worst case is a leaked element.
 *
 * The locks are glibc robust, process-shared pthread mutexes, and glibc
 * handles every case but the common one.  glibc's robust lock and unlock
 * cost about 140 instructions per pair (a generic path that switches on
 * the mutex kind and keeps the thread's robust list), which was a third of
 * a hash map update.  The uncontended case is done here instead, in about
 * 80 per pair (callgrind), by the same protocol glibc and the kernel use,
 * on the same fields.  What remains is mostly the two atomic operations
 * (the CAS that takes the word and the exchange that releases it and tells
 * whether anyone sleeps), which any lock that wakes sleepers needs:
 *
 *  - The lock word (__lock) is 0 when free, else the owner's kernel TID,
 *    plus FUTEX_WAITERS when someone sleeps on it and FUTEX_OWNER_DIED after
 *    the kernel found the owner dead.
 *  - Each thread has one robust list, registered with set_robust_list(2) by
 *    glibc at thread start.  Its head (in the thread's TCB) points at the
 *    __list.__next field of the first mutex the thread holds; the list is
 *    doubly linked through __list.__prev (glibc's "ENQUEUE/DEQUEUE_MUTEX";
 *    the head's own "prev" slot is the word before it in the TCB).  When the
 *    thread dies, however it dies, the kernel walks the list and for every
 *    entry whose lock word holds the dead TID sets FUTEX_OWNER_DIED and wakes
 *    a waiter.  list_op_pending covers the window between taking the word and
 *    linking the entry (and between unlinking and releasing).
 *  - After the lock, __owner is the TID and __nusers counts holders; unlock
 *    clears them.
 *
 * So a mutex taken here can be released by glibc and the other way round,
 * and the kernel's death handling cannot tell the difference.  Everything
 * that is not "CAS 0 -> TID" (a held lock, waiters, a dead owner) goes to
 * pthread_mutex_lock/trylock, which sleeps on the futex and reports
 * EOWNERDEAD; unlock wakes one waiter when FUTEX_WAITERS is set, as glibc's.
 *
 * This leans on glibc's private list layout, so it is checked, not assumed:
 * the first lock in a process runs a probe (lock/unlock a robust mutex with
 * glibc and with the fast path, crossing over, and compare every field and
 * the list links with what the protocol above predicts).  A mismatch (a
 * different libc, a changed layout, a thread without a robust list) makes
 * every call use glibc's functions, as before; nothing else changes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

/* The list entry of a mutex: glibc links __list.__next, and the kernel
 * finds the lock word at entry + futex_offset. */
#define ENTRY(mx) ((struct robust_list *)(void *)&(mx)->__data.__list.__next)
#define FUTEX_OFFSET                                      \
	((long)offsetof(pthread_mutex_t, __data.__lock) - \
	 (long)offsetof(pthread_mutex_t, __data.__list.__next))
/* A list pointer with bit 0 (glibc's "this entry is a PI mutex") cleared. */
#define UNTAG(p)     ((struct robust_list *)((uintptr_t)(p) & ~(uintptr_t)1))
/* __list.__prev of the entry e (also the "prev" slot glibc keeps just
 * before the head) */
#define PREV_SLOT(e) ((void **)(void *)UNTAG(e) - 1)

enum { FAST_UNKNOWN, FAST_ON, FAST_OFF };

static _Atomic int fast_mode = FAST_UNKNOWN; /* process-wide: the probe's verdict */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* per thread: the robust list head and TID; head NULL: not looked up yet
 * (or reset in a forked child, whose TID differs) */
static __thread struct robust_list_head *my_head;
static __thread uint32_t my_tid;
static __thread bool my_slow; /* this thread has no usable robust list */

static void lock_atfork_child(void)
{
	my_head = NULL;
	my_tid = 0;
	my_slow = false;
}

/* Looks up this thread's robust list head; false if it has none that
 * follows glibc's layout. */
static bool thread_init(void)
{
	struct robust_list_head *head = NULL;
	size_t len = 0;

	if (syscall(SYS_get_robust_list, 0, &head, &len) || !head || len != sizeof(*head) ||
	    head->futex_offset != FUTEX_OFFSET) {
		my_slow = true;
		return false;
	}
	my_tid = (uint32_t)syscall(SYS_gettid);
	my_head = head;
	return true;
}

static inline struct robust_list_head *self_head(void)
{
	if (likely(my_head))
		return my_head;
	if (my_slow || !thread_init())
		return NULL;
	return my_head;
}

/* The fast paths (the protocol in the header comment). */
static inline bool fast_lock(pthread_mutex_t *mx, struct robust_list_head *head)
{
	_Atomic uint32_t *word = (_Atomic uint32_t *)(void *)&mx->__data.__lock;
	struct robust_list *e = ENTRY(mx), *first;
	uint32_t zero = 0;

	/* pending first: a death right after the CAS is still seen */
	head->list_op_pending = e;
	atomic_signal_fence(memory_order_seq_cst);
	if (!atomic_compare_exchange_strong_explicit(word, &zero, my_tid, memory_order_acquire,
						     memory_order_relaxed)) {
		head->list_op_pending = NULL;
		return false;
	}
	first = head->list.next;
	*PREV_SLOT(first) = e;
	e->next = first;
	*PREV_SLOT(e) = &head->list;
	/* the entry is complete before the head points at it (the kernel
	 * reads the list of a dead thread; this thread is the only writer) */
	atomic_signal_fence(memory_order_seq_cst);
	head->list.next = e;
	atomic_signal_fence(memory_order_seq_cst);
	head->list_op_pending = NULL;
	mx->__data.__owner = (int)my_tid;
	mx->__data.__nusers++;
	return true;
}

static inline void fast_unlock(pthread_mutex_t *mx, struct robust_list_head *head)
{
	_Atomic uint32_t *word = (_Atomic uint32_t *)(void *)&mx->__data.__lock;
	struct robust_list *e = ENTRY(mx), *next = e->next, *prev = *PREV_SLOT(e);

	head->list_op_pending = e;
	atomic_signal_fence(memory_order_seq_cst);
	*PREV_SLOT(next) = prev;
	UNTAG(prev)->next = next;
	atomic_signal_fence(memory_order_seq_cst);
	*PREV_SLOT(e) = NULL;
	e->next = NULL;
	mx->__data.__owner = 0;
	mx->__data.__nusers--;
	/* the release store is the last access to the mutex */
	if (unlikely(atomic_exchange_explicit(word, 0, memory_order_release) & FUTEX_WAITERS))
		syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
	atomic_signal_fence(memory_order_seq_cst);
	head->list_op_pending = NULL;
}

/* Checks that glibc keeps its robust list and fields as fast_lock and
 * fast_unlock assume, by crossing the two over on a private mutex. */
static void probe(void)
{
	struct robust_list_head *head;
	struct robust_list *before;
	pthread_mutexattr_t a;
	pthread_mutex_t mx;
	bool ok = false;

	pthread_atfork(NULL, NULL, lock_atfork_child);
	head = self_head();
	if (!head || pthread_mutexattr_init(&a))
		goto out;
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) || pthread_mutex_init(&mx, &a)) {
		pthread_mutexattr_destroy(&a);
		goto out;
	}
	pthread_mutexattr_destroy(&a);
	before = head->list.next;
	/* glibc locks: linked first, prev is the head, fields as expected */
	if (pthread_mutex_lock(&mx))
		goto out;
	ok = head->list.next == ENTRY(&mx) && mx.__data.__list.__next == (void *)before &&
	     *PREV_SLOT(ENTRY(&mx)) == (void *)&head->list &&
	     (uint32_t)mx.__data.__lock == my_tid && (uint32_t)mx.__data.__owner == my_tid &&
	     mx.__data.__nusers == 1 && !head->list_op_pending;
	/* the fast path unlocks what glibc locked */
	fast_unlock(&mx, head);
	ok = ok && head->list.next == before && !mx.__data.__lock && !mx.__data.__owner &&
	     !mx.__data.__nusers;
	/* glibc unlocks what the fast path locked (it checks owner and kind) */
	ok = ok && fast_lock(&mx, head) && head->list.next == ENTRY(&mx);
	ok = ok && !pthread_mutex_unlock(&mx) && head->list.next == before && !mx.__data.__lock &&
	     !mx.__data.__nusers;
	pthread_mutex_destroy(&mx);
out:
	fast_mode = ok ? FAST_ON : FAST_OFF;
	if (!ok)
		pr_debug("robust lock fast path off: glibc's robust list is not as expected\n");
}

/* The head to use for a fast-path operation, or NULL: use glibc. */
static inline struct robust_list_head *fast_head(void)
{
	int mode = atomic_load_explicit(&fast_mode, memory_order_relaxed);

	if (unlikely(mode == FAST_UNKNOWN)) {
		pthread_once(&probe_once, probe);
		mode = atomic_load_explicit(&fast_mode, memory_order_relaxed);
	}
	if (unlikely(mode != FAST_ON))
		return NULL;
	return self_head();
}

bool shm_lock_fast_path(void)
{
	return fast_head() != NULL;
}

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
	struct robust_list_head *head = fast_head();
	int err;

	if (likely(head) && likely(fast_lock(&m->m, head)))
		return;
	err = pthread_mutex_lock(&m->m);
	if (unlikely(err == EOWNERDEAD)) {
		pr_debug("recovered a lock held by a dead process\n");
		pthread_mutex_consistent(&m->m);
	}
}

int shm_trylock(struct shm_mutex *m)
{
	struct robust_list_head *head = fast_head();
	int err;

	if (likely(head) && likely(fast_lock(&m->m, head)))
		return 0;
	err = pthread_mutex_trylock(&m->m);
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
	struct robust_list_head *head = fast_head();

	/* the thread that locked unlocks, so a head here means the lock was
	 * taken by fast_lock or by glibc on the same list */
	if (likely(head)) {
		fast_unlock(&m->m, head);
		return;
	}
	pthread_mutex_unlock(&m->m);
}
