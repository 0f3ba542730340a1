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
 * timeout 0 returns at once.  When the epoll fd also holds real fds it waits
 * in slices of at most 10 ms so both kinds are seen.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <linux/perf_event.h>
#include "internal.h"
#include "common/compiler.h"

#define MIXED_SLICE_MS 10

struct emu_entry {
	int fd;
	uint32_t events;
	epoll_data_t data;
};

struct emu_epoll {
	int epfd;
	int real_fds; /* real fds added through us */
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

static bool fd_ready(int fd)
{
	struct perf_event_mmap_page *meta;
	struct bpftime_map *h;

	if (!srv_is_ours(fd))
		return false;
	switch (bpftime_handler_get_type(srv.shm, fd)) {
	case BPFTIME_HANDLER_MAP:
		h = bpftime_map_get_handle(srv.shm, fd);
		return h && bpftime_map__type(h) == BPF_MAP_TYPE_RINGBUF &&
		       bpftime_map__ringbuf_query(h, BPFTIME_RB_AVAIL_DATA) > 0;
	case BPFTIME_HANDLER_PERF_EVENT:
		meta = perf_meta(fd);
		/* drops not reported yet: a LOST record for the consumer,
		 * which is not reading while it waits here */
		if (meta) {
			struct bpftime_perf_event_info pi;

			if (!bpftime_perf_event_get_info(srv.shm, fd, &pi) && pi.ring_off)
				bpftime_perf_ring_flush_lost(srv.shm, pi.ring_off, pi.ring_len);
		}
		return meta && __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE) !=
				       __atomic_load_n(&meta->data_tail, __ATOMIC_ACQUIRE);
	default:
		return false;
	}
}

static int collect(struct emu_epoll *m, struct epoll_event *events, int max, bool *real)
{
	int n = 0;

	*real = m->real_fds > 0;
	for (int i = 0; i < m->n && n < max; i++) {
		if ((m->e[i].events & EPOLLIN) && fd_ready(m->e[i].fd)) {
			events[n].events = EPOLLIN;
			events[n].data = m->e[i].data;
			n++;
		}
	}
	return n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int srv_epoll_wait(int epfd, void *evp, int max, int timeout, const void *sigmask)
{
	struct epoll_event *events = evp;
	int64_t deadline = timeout > 0 ? now_ms() + timeout : 0;
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
		int slice;

		srv_lock();
		m = emu_find(epfd);
		n = m ? collect(m, events, max, &real) : 0;
		srv_unlock();
		if (real && n < max) {
			r = srv_real.epoll_wait(epfd, events + n, max - n, 0);
			if (r < 0 && n == 0) {
				ret = -errno;
				break;
			}
			n += r > 0 ? r : 0;
		}
		if (n > 0 || timeout == 0) {
			ret = n;
			break;
		}
		left = timeout < 0 ? -1 : deadline - now_ms();
		if (timeout > 0 && left <= 0) {
			ret = 0;
			break;
		}
		slice = left < 0 ? -1 : (int)left;
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
