/* SPDX-License-Identifier: MIT */
/* syscall-server/epoll.c: epoll for ring buffer maps and perf events.
 *
 * libbpf's ring_buffer__poll and perf_buffer__poll add the map or perf event
 * fds to an epoll instance and wait on it.  Our fds are /dev/null to the
 * kernel, so each epoll fd that gets one of them is emulated here: the real
 * epoll fd stays (it may also hold real fds), our fds live in a side table,
 * and epoll_wait reports them ready when their ring has data (ring buffer:
 * producer position ahead of the consumer's; perf ring: data_head ahead of
 * data_tail).  With nothing ready it sleeps on the segment's data sequence
 * futex, which producers bump when they publish a record, until the timeout;
 * timeout 0 returns at once.  When the epoll fd also holds real fds, it
 * waits in the real epoll_wait, on the real fds plus an eventfd of its own
 * that a watcher thread signals when the data sequence moves past the
 * waiter's snapshot: both kinds wake it at once, no polling in slices.
 * A handler of the loader's that runs during the call (a signal between
 * our waits, or one epoll_pwait's mask unblocks) ends it with EINTR, as a
 * signal ends the kernel's wait (interpose.c counts them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <linux/perf_event.h>
#include "internal.h"
#include "common/compiler.h"

/* epoll_data of the set's own eventfd in the real epoll set */
#define EFD_MARK 0xb0f7ee0fd0000001ULL

struct emu_entry {
	int fd;
	uint32_t events;
	epoll_data_t data;
};

struct emu_epoll {
	int epfd;
	int real_fds; /* real fds added through us */
	int efd;      /* mixed sets: eventfd in the real set (0: none yet) */
	int n, cap;
	struct emu_entry *e;
	struct emu_epoll *next;
};

static struct emu_epoll *emus;

static struct emu_epoll *emu_find(int epfd)
{
	for (struct emu_epoll *m = emus; m; m = m->next)
		if (m->epfd == epfd)
			return m;
	return NULL;
}

bool srv_epoll_has(int epfd)
{
	bool ret;

	if (epfd < 0)
		return false;
	srv_lock();
	ret = emu_find(epfd) != NULL;
	srv_unlock();
	return ret;
}

void srv_epoll_closed(int epfd)
{
	srv_lock();
	for (struct emu_epoll **pp = &emus; *pp; pp = &(*pp)->next) {
		if ((*pp)->epfd == epfd) {
			struct emu_epoll *m = *pp;

			*pp = m->next;
			if (m->efd > 0)
				srv_real.close(m->efd);
			free(m->e);
			free(m);
			break;
		}
	}
	srv_unlock();
}

int srv_epoll_ctl(int epfd, int op, int fd, void *event)
{
	struct epoll_event *ev = event;
	struct emu_epoll *m;
	int ret = 0, i;

	/* the epoll fd must at least be open */
	if (epfd < 0 || srv_real.fcntl(epfd, F_GETFD) < 0)
		return -EBADF;
	if (epfd == fd)
		return -EINVAL;
	srv_lock();
	m = emu_find(epfd);
	if (!m) {
		m = calloc(1, sizeof(*m));
		if (!m) {
			ret = -ENOMEM;
			goto out;
		}
		m->epfd = epfd;
		m->next = emus;
		emus = m;
	}
	for (i = 0; i < m->n && m->e[i].fd != fd; i++)
		;
	switch (op) {
	case EPOLL_CTL_ADD:
		if (i < m->n) {
			ret = -EEXIST;
			break;
		}
		if (m->n == m->cap) {
			int cap = m->cap ? m->cap * 2 : 8;
			struct emu_entry *e = realloc(m->e, (size_t)cap * sizeof(*e));

			if (!e) {
				ret = -ENOMEM;
				break;
			}
			m->e = e;
			m->cap = cap;
		}
		m->e[m->n++] = (struct emu_entry){ fd, ev ? ev->events : 0,
						   ev ? ev->data : (epoll_data_t){ 0 } };
		break;
	case EPOLL_CTL_MOD:
		if (i == m->n) {
			ret = -ENOENT;
			break;
		}
		m->e[i].events = ev ? ev->events : 0;
		m->e[i].data = ev ? ev->data : (epoll_data_t){ 0 };
		break;
	case EPOLL_CTL_DEL:
		if (i == m->n) {
			ret = -ENOENT;
			break;
		}
		m->e[i] = m->e[--m->n];
		break;
	default:
		ret = -EINVAL;
	}
out:
	srv_unlock();
	return ret;
}

/* the perf ring's metadata page, mapped once per fd */
static struct perf_event_mmap_page *perf_meta(int fd)
{
	struct srv_fd *f = srv_fd(fd);
	struct bpftime_perf_event_info pi;
	void *p;

	if (f->ring_meta)
		return f->ring_meta;
	if (bpftime_perf_event_get_info(srv.shm, fd, &pi) || !pi.ring_off)
		return NULL;
	p = srv_real.mmap(NULL, (size_t)getpagesize(), PROT_READ, MAP_SHARED,
			  bpftime_shm__fd(srv.shm), (off_t)pi.ring_off);
	if (p == MAP_FAILED)
		return NULL;
	f->ring_meta = p;
	return p;
}

/* whether our @fd has data; *@agep: how long ago (in data sequence steps)
 * a perf ring became ready, 0 for ring buffers */
static bool fd_ready(int fd, uint32_t *agep)
{
	struct perf_event_mmap_page *meta;
	struct bpftime_map *h;
	int32_t age;

	*agep = 0;
	if (!srv_is_ours(fd))
		return false;
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_MAP:
		h = bpftime_map_get_handle(srv.shm, fd);
		return h && bpftime_map__type(h) == BPF_MAP_TYPE_RINGBUF &&
		       bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA) > 0;
	case BPFTIME_HANDLER_PERF_EVENT:
		meta = perf_meta(fd);
		if (!meta)
			return false;
		/* drops not reported yet: a LOST record for the consumer,
		 * which is not reading while it waits here */
		struct bpftime_perf_event_info pi;

		if (!bpftime_perf_event_get_info(srv.shm, fd, &pi) && pi.ring_off)
			bpftime_perf_ring_flush_lost(srv.shm, pi.ring_off, pi.ring_len);
		if (__atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE) ==
		    __atomic_load_n(&meta->data_tail, __ATOMIC_ACQUIRE))
			return false;
		/* stamped before its producer bumps the sequence: 0 then */
		age = (int32_t)(bpftime_shm__data_seq(srv.shm) - bpftime_perf_ring_ready_seq(meta));
		*agep = age > 0 ? (uint32_t)age : 0;
		return true;
	default:
		return false;
	}
}

/* Our ready fds of @m, the one that became ready first first (the kernel's
 * ready list is in wake-up order: bpftrace ignores what it reads after its
 * exit() record, so a ring read late loses events the kernel delivers). */
static int collect(struct emu_epoll *m, struct epoll_event *events, int max, bool *real)
{
	uint32_t age[64], a;
	int n = 0;

	*real = m->real_fds > 0;
	for (int i = 0; i < m->n && n < max; i++) {
		if (!(m->e[i].events & EPOLLIN) || !fd_ready(m->e[i].fd, &a))
			continue;
		/* insertion by age, stable: older first, equals in set order
		 * (beyond 64 ready ones: set order) */
		int j = n;

		if (n < (int)ARRAY_SIZE(age)) {
			while (j > 0 && age[j - 1] < a) {
				age[j] = age[j - 1];
				events[j] = events[j - 1];
				j--;
			}
			age[j] = a;
		}
		events[j].events = EPOLLIN;
		events[j].data = m->e[i].data;
		n++;
	}
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- mixed sets: the watcher --------------------------------------------
 * A thread of the loader that, while some mixed wait is in progress, sleeps
 * on the segment's data sequence and signals the waiters' eventfds when it
 * moves past the snapshot they took before looking at their rings.  It
 * waits on the data futex only while someone waits in a mixed set, so
 * producers pay no wake-up when nobody does. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, atfork;
	uint32_t gen; /* bumped by each registration */
	uint32_t seq; /* the latest waiter's snapshot */
	int efds[16]; /* eventfds of the waiting sets (0: free) */
} w = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void signal_waiters(void)
{
	uint64_t one = 1;

	for (size_t i = 0; i < ARRAY_SIZE(w.efds); i++)
		if (w.efds[i] > 0)
			(void)!write(w.efds[i], &one, sizeof(one)); /* full: readable anyway */
}

static bool any_waiter(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(w.efds); i++)
		if (w.efds[i] > 0)
			return true;
	return false;
}

static void *watcher(void *arg)
{
	uint32_t done = 0;

	(void)arg;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		uint32_t gen, seq;

		while (!any_waiter() || w.gen == done)
			pthread_cond_wait(&w.cond, &w.lock);
		gen = w.gen;
		seq = w.seq;
		pthread_mutex_unlock(&w.lock);
		/* back every 100 ms to see a newer waiter or none */
		while (bpftime_shm__data_seq(srv.shm) == seq) {
			bool moved;

			bpftime_shm__wait_data(srv.shm, seq, 100);
			pthread_mutex_lock(&w.lock);
			moved = w.gen != gen || !any_waiter();
			pthread_mutex_unlock(&w.lock);
			if (moved)
				break;
		}
		pthread_mutex_lock(&w.lock);
		if (bpftime_shm__data_seq(srv.shm) != seq) {
			signal_waiters();
			done = gen;
		}
	}
	return NULL;
}

static void watcher_forked(void)
{
	w.started = false; /* the thread stays with the parent */
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	memset(w.efds, 0, sizeof(w.efds));
}

/* Starts the watcher (once per process; called at start-up, so that the
 * loader's thread exists before its programs are attached: a kernel
 * sched_process_fork tracepoint of a mixed loader must not count it).
 * Without it, mixed waits fall back to slices. */
void srv_epoll_start(void)
{
	pthread_t t;
	sigset_t all, old;

	pthread_mutex_lock(&w.lock);
	if (!w.started) {
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (!pthread_create(&t, NULL, watcher, NULL)) {
			pthread_detach(t);
			w.started = true;
			if (!w.atfork)
				w.atfork = !pthread_atfork(NULL, NULL, watcher_forked);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_unlock(&w.lock);
}

/* registers @efd as waiting from snapshot @seq; false: no watcher (the
 * caller waits in slices) */
static bool watch(int efd, uint32_t seq)
{
	size_t i;

	srv_epoll_start(); /* a forked child's first mixed wait */
	pthread_mutex_lock(&w.lock);
	for (i = 0; w.started && i < ARRAY_SIZE(w.efds) && w.efds[i] > 0; i++)
		;
	if (!w.started || i == ARRAY_SIZE(w.efds)) {
		pthread_mutex_unlock(&w.lock);
		return false;
	}
	w.efds[i] = efd;
	w.seq = seq;
	w.gen++;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	return true;
}

static void unwatch(int efd)
{
	pthread_mutex_lock(&w.lock);
	for (size_t i = 0; i < ARRAY_SIZE(w.efds); i++) {
		if (w.efds[i] == efd) {
			w.efds[i] = 0;
			break;
		}
	}
	pthread_mutex_unlock(&w.lock);
}

/* the set's eventfd, added to its real epoll set on first use; -1 if that
 * fails (the caller waits in slices).  Called with srv_lock held. */
static int set_efd(struct emu_epoll *m)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EFD_MARK };
	int efd;

	if (m->efd > 0)
		return m->efd;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -1;
	if (srv_real.epoll_ctl(m->epfd, EPOLL_CTL_ADD, efd, &ev)) {
		srv_real.close(efd);
		return -1;
	}
	m->efd = efd;
	return efd;
}

/* drops the eventfd's own events from what the real epoll_wait returned */
static int drop_efd(struct epoll_event *ev, int n, int efd)
{
	int k = 0;

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == EFD_MARK) {
			uint64_t v;

			(void)!read(efd, &v, sizeof(v)); /* drained already: fine */
			continue;
		}
		ev[k++] = ev[i];
	}
	return k;
}

#define MIXED_SLICE_MS 10 /* only when the watcher cannot be had */

int srv_epoll_wait(int epfd, void *evp, int max, int timeout, const void *sigmask)
{
	struct epoll_event *events = evp;
	int64_t deadline = timeout > 0 ? now_ms() + timeout : 0;
	unsigned int signals = srv_signals_seen();
	sigset_t old;
	int n, r, ret;

	if (max <= 0)
		return -EINVAL;
	if (!events)
		return -EFAULT;
	if (sigmask)
		pthread_sigmask(SIG_SETMASK, sigmask, &old);
	for (;;) {
		uint32_t seq = bpftime_shm__data_seq(srv.shm);
		struct emu_epoll *m;
		bool real = false;
		int64_t left;
		int slice, efd = -1;

		srv_lock();
		m = emu_find(epfd);
		n = m ? collect(m, events, max, &real) : 0;
		if (real && n == 0 && timeout != 0)
			efd = set_efd(m);
		srv_unlock();
		if (real && n < max) {
			r = srv_real.epoll_wait(epfd, events + n, max - n, 0);
			if (r < 0 && n == 0) {
				ret = -errno;
				break;
			}
			n += r > 0 ? drop_efd(events + n, r, efd) : 0;
		}
		if (n > 0 || timeout == 0) {
			ret = n;
			break;
		}
		if (srv_signals_seen() != signals) {
			ret = -EINTR; /* a handler of the loader's ran meanwhile */
			break;
		}
		left = timeout < 0 ? -1 : deadline - now_ms();
		if (timeout > 0 && left <= 0) {
			ret = 0;
			break;
		}
		slice = left < 0 ? -1 : (int)left;
		if (real && efd > 0 && watch(efd, seq)) {
			/* the real fds and our rings (through the eventfd) at once */
			r = srv_real.epoll_wait(epfd, events, max, slice);
			unwatch(efd);
			if (r < 0) {
				ret = -errno;
				break;
			}
			n = drop_efd(events, r, efd);
			if (n > 0) {
				/* the real fds that woke us; our rings on the next call */
				ret = n;
				break;
			}
			continue;
		}
		if (real && (slice < 0 || slice > MIXED_SLICE_MS))
			slice = MIXED_SLICE_MS;
		r = bpftime_shm__wait_data(srv.shm, seq, slice);
		if (r == -EINTR) {
			ret = -EINTR;
			break;
		}
	}
	if (sigmask)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

void srv_epoll_note_real(int epfd, int op)
{
	struct emu_epoll *m;

	if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_DEL)
		return;
	srv_lock();
	m = emu_find(epfd);
	if (!m && op == EPOLL_CTL_ADD) {
		m = calloc(1, sizeof(*m));
		if (m) {
			m->epfd = epfd;
			m->next = emus;
			emus = m;
		}
	}
	if (m)
		m->real_fds += op == EPOLL_CTL_ADD ? 1 : (m->real_fds > 0 ? -1 : 0);
	srv_unlock();
}

void srv_epoll_forget(int fd)
{
	for (struct emu_epoll *m = emus; m; m = m->next) {
		for (int i = 0; i < m->n; i++) {
			if (m->e[i].fd == fd) {
				m->e[i] = m->e[--m->n];
				break;
			}
		}
	}
}
