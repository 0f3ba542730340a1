/* SPDX-License-Identifier: MIT */
/* vm/jit_arena.c: the memory JIT code lives in (see jit_arena.h).
 *
 * Why pieces share pages.  On this project's target (PTI without PCID)
 * every distinct page touched between two syscalls costs a page walk, and
 * the programs attached to one syscall run one after the other: with a
 * page each, every further program cost a page.  A usual tracing program
 * is a few hundred bytes, so small pieces are runs of JIT_UNIT (64-byte)
 * units in shared chunks of JIT_CHUNK_PAGES pages, one busy bit per unit
 * (one uint64_t per page); first fit, which keeps a page for pieces that
 * fit in one, puts the programs compiled one after the other side by side.
 *
 * W^X and how code gets in.  A shared chunk is mapped RW and populated,
 * filled with INT3 and made RX before any piece is handed out; from then
 * to its unmapping it is never writable nor made non-executable, so code
 * running in it is never disturbed by a compile or a free next to it.
 * The JIT writes a piece's code into a buffer (jit_piece.write), and the
 * seal copies it in with one pwritev() to /proc/self/mem: the kernel
 * writes through its own temporary mapping of the page (FOLL_FORCE, as for
 * a debugger's breakpoint), which is the userspace form of the kernel's
 * bpf_prog_pack + text_poke_copy.  A free writes INT3 over the piece the
 * same way, then clears its bits.  So every byte of a shared chunk is INT3
 * except the code of sealed pieces, and a piece handed out needs no fill.
 * The file is opened for each write, never kept: a kept descriptor could
 * be closed or replaced by the host process (the agent lives in other
 * programs), and after fork() it would still write into the parent.
 * Publishing new code needs nothing more on x86: the bytes were never
 * executed (INT3 until now), and the pointer to them reaches other threads
 * through the runtime's own synchronisation, as in the kernel.
 *
 * fork().  The chunks are private anonymous memory, so a child gets its
 * own copy-on-write arena: a child writing through its /proc/self/mem
 * breaks the sharing of that page in the child only, and its parent's code
 * never changes (also for raw clone()s that skip pthread_atfork).  A dual
 * mapping of a memfd (RW view + RX view) would avoid the syscalls but is
 * shared across fork(), so a child compiling would overwrite its parent's
 * code unless every fork copied the whole arena.
 *
 * Large pieces (over half a chunk) get a mapping of their own ("solo"
 * chunks): written in place RW, then mprotect()ed RX, unmapped on free.
 * When /proc/self/mem cannot be written (no /proc, a kernel with
 * proc_mem.force_override=never, an undumpable process without the right
 * to it), the first compile finds out, says so once, and every piece is
 * solo from then on: correct, but a page (and an mmap) per program.
 *
 * Chunks are placed near the first helper a program calls when they can
 * be (512 MiB below it), so that helper calls are direct rel32 calls, as
 * in the kernel; a program is put into a chunk within reach of its helper
 * when one has room.  One mutex guards the chunk list and the bits; the
 * writes through /proc/self/mem happen outside it.  pthread_atfork()
 * handlers take it around fork() so that a child never inherits it locked.
 * The arena keeps at most one empty shared chunk around.
 *
 * Pools: the address space, registered once.  Every chunk (shared or solo,
 * and the images of AOT objects, jit_arena_map()) is a run of pages inside
 * a pool: a PROT_NONE, MAP_NORESERVE reservation of JIT_POOL_SIZE bytes
 * (or one piece's size, for a larger one or where RLIMIT_AS leaves no room
 * for a whole pool), taken near the first helper as chunks are.  A chunk
 * is committed with an mmap(MAP_FIXED) RW over its pages and given back
 * by mapping PROT_NONE over them again: its memory goes back, its
 * addresses stay the arena's for the process's life.  Each new pool is
 * reported to the code notify callback
 * (bpftime_vm_set_code_notify(), for the syscall hook's scan, which skips
 * code of ours: a `0f 05` inside an immediate is no syscall) while it is
 * still PROT_NONE, so before any byte in it can run; and since a pool is
 * never unmapped, a range once reported never holds anyone else's code
 * later.  A process needs one pool unless it holds more than JIT_POOL_SIZE
 * of code (or code out of reach of the first pool's helpers), so the
 * callback sees a handful of ranges whatever the number of programs, the
 * solo pieces of a process that cannot write /proc/self/mem included.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <bpftime/vm.h>
#include "jit_arena.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define JIT_CHUNK_PAGES 64
#define JIT_CHUNK_SIZE	(JIT_CHUNK_PAGES * JIT_PAGE)
#define JIT_PAGE_UNITS	(JIT_PAGE / JIT_UNIT) /* 64: one busy word per page */
#define JIT_SOLO_MIN	(JIT_CHUNK_SIZE / 2)  /* larger pieces are solo */
#define JIT_NEAR_BELOW	(UINT64_C(512) << 20) /* chunks this far below a helper */
#define JIT_NEAR_TRIES	16
#define JIT_IOV		32		     /* INT3 pages per pwritev() */
#define JIT_POOL_SIZE	(UINT64_C(64) << 20) /* address space reserved at a time */

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels take it as a hint */
#endif

struct jit_chunk {
	struct jit_chunk *next;
	uint8_t *base;
	size_t size;
	uint64_t busy[JIT_CHUNK_PAGES]; /* bit u of word p: unit u of page p is held */
	size_t nbusy;			/* units held */
	bool solo;			/* one piece, the whole mapping */
};

/* A reservation of address space the chunks are carved from (see the top) */
struct jit_pool {
	struct jit_pool *next;
	uint8_t *base;
	size_t pages;
	uint64_t *busy; /* bit p: page p is part of a chunk */
};

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static struct jit_pool *pools;
static bpftime_code_notify_fn code_notify; /* under the lock */
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static struct jit_chunk *chunks;
static size_t nr_pieces, used_bytes;
/* see jit_arena_stats.shared; written under the lock, read without it
 * where a stale -1 only costs a buffer */
static atomic_int shared_mode = -1;

static const uint8_t int3_page[JIT_PAGE] = { [0 ... JIT_PAGE - 1] = 0xcc };

static void arena_lock_fn(void)
{
	pthread_mutex_lock(&arena_lock);
}

static void arena_unlock_fn(void)
{
	pthread_mutex_unlock(&arena_lock);
}

static void arena_init(void)
{
	pthread_atfork(arena_lock_fn, arena_unlock_fn, arena_unlock_fn);
}

static bool is_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* every byte of [base, base + size) can reach near with a rel32 */
static bool in_reach(const uint8_t *base, size_t size, const void *near)
{
	int64_t t = (int64_t)(uintptr_t)near, b = (int64_t)(uintptr_t)base;

	return !near || (is_s32(t - b) && is_s32(t - (b + (int64_t)size)));
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

/* A system call made here, returning -errno on error.  Not libc's
 * open/pwritev/close nor even syscall(): inside the syscall server those
 * are interposed (it serves /proc/ paths of its own and takes its lock,
 * which a compile may run under), and a host may preload wrappers; these
 * calls must reach the kernel. */
static long sys5(long nr, long a, long b, long c, long d, long e)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Writes len bytes (iov[0..n)) at to, in this process, whatever its
 * protection: 0 or -errno. */
static int mem_writev(uint8_t *to, const struct iovec *iov, int n, size_t len)
{
	static const char path[] = "/proc/self/mem";
	long fd = sys5(SYS_openat, AT_FDCWD, (long)(uintptr_t)path, O_WRONLY | O_CLOEXEC, 0, 0);
	long done;
	int err = 0;

	if (fd < 0)
		return (int)fd;
	/* pos_l, pos_h: on x86-64 pos_l holds the whole offset */
	done = sys5(SYS_pwritev, fd, (long)(uintptr_t)iov, n, (long)(uintptr_t)to, 0);
	if (done < 0)
		err = (int)done;
	else if ((size_t)done != len)
		err = -EIO;
	sys5(SYS_close, fd, 0, 0, 0, 0);
	return err;
}

static int mem_write(uint8_t *to, const void *from, size_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)from, .iov_len = len };

	return mem_writev(to, &iov, 1, len);
}

static int mem_int3(uint8_t *to, size_t len)
{
	struct iovec iov[JIT_IOV];

	while (len) {
		size_t batch = 0;
		int n = 0;
		int err;

		for (; n < JIT_IOV && batch < len; n++) {
			iov[n].iov_base = (void *)(uintptr_t)int3_page;
			iov[n].iov_len = len - batch < JIT_PAGE ? len - batch : JIT_PAGE;
			batch += iov[n].iov_len;
		}
		err = mem_writev(to, iov, n, batch);
		if (err)
			return err;
		to += batch;
		len -= batch;
	}
	return 0;
}

/* size bytes of fresh PROT_NONE address space: within reach of near (NULL
 * if no address in reach is free), or with near NULL anywhere. */
static uint8_t *reserve(size_t size, const void *near)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint64_t t = (uint64_t)(uintptr_t)near, h;
	void *p;

	if (!near) {
		p = mmap(NULL, size, PROT_NONE, flags, -1, 0);
		return p == MAP_FAILED ? NULL : p;
	}
	if (t < 2 * JIT_NEAR_BELOW)
		return NULL;
	h = (t - JIT_NEAR_BELOW) & ~(uint64_t)(JIT_CHUNK_SIZE - 1);
	for (int i = 0; i < JIT_NEAR_TRIES && h > size + JIT_CHUNK_SIZE;
	     i++, h -= size + JIT_CHUNK_SIZE) {
		p = mmap((void *)(uintptr_t)h, size, PROT_NONE, flags | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED) {
			/* a kernel without MAP_FIXED_NOREPLACE takes it as a hint */
			if (in_reach(p, size, near))
				return p;
			munmap(p, size);
			return NULL;
		}
		if (errno != EEXIST)
			return NULL;
	}
	return NULL;
}

/* A new pool of at least size bytes (near as for reserve()), reported to
 * the notify callback; lock held.  JIT_POOL_SIZE when that much address
 * space can be had (a process limited by RLIMIT_AS may not), else just
 * what size needs. */
static struct jit_pool *new_pool(size_t size, const void *near)
{
	struct jit_pool *pl = mem_calloc(1, sizeof(*pl));
	size_t min = round_up(size, JIT_CHUNK_SIZE),
	       want = min > JIT_POOL_SIZE ? min : JIT_POOL_SIZE;

	if (!pl)
		return NULL;
	pl->busy = mem_calloc(want / JIT_PAGE / 64, sizeof(uint64_t));
	if (pl->busy) {
		pl->base = reserve(want, near);
		if (!pl->base && want > min)
			pl->base = reserve((want = min), near);
	}
	if (!pl->base) {
		free(pl->busy);
		free(pl);
		return NULL;
	}
	pl->pages = want / JIT_PAGE;
	pl->next = pools;
	pools = pl;
	if (code_notify)
		code_notify((uintptr_t)pl->base, want);
	return pl;
}

static bool page_busy(const struct jit_pool *pl, size_t p)
{
	return pl->busy[p / 64] >> (p % 64) & 1;
}

static void mark_pages(struct jit_pool *pl, size_t p, size_t n, bool busy)
{
	for (size_t i = p; i < p + n; i++) {
		if (busy)
			pl->busy[i / 64] |= UINT64_C(1) << (i % 64);
		else
			pl->busy[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

/* The first run of n free pages of pl, or -1 */
static long free_pages(const struct jit_pool *pl, size_t n)
{
	size_t run = 0;

	for (size_t p = 0; p < pl->pages; p++) {
		if (p % 64 == 0 && p + 64 <= pl->pages && !pl->busy[p / 64]) {
			run += 64; /* a whole free word */
			p += 63;
		} else {
			run = page_busy(pl, p) ? 0 : run + 1;
		}
		if (run >= n)
			return (long)(p + 1 - run);
	}
	return -1;
}

/* A run of n free pages: in a pool within reach of near (a new pool there
 * if none has room), or with near NULL in any pool (a new one anywhere);
 * marked busy.  Lock held. */
static uint8_t *take_pages(size_t n, const void *near)
{
	struct jit_pool *pl;
	long p = -1;

	for (pl = pools; pl; pl = pl->next) {
		if (in_reach(pl->base, pl->pages * JIT_PAGE, near) && (p = free_pages(pl, n)) >= 0)
			break;
	}
	if (!pl) {
		pl = new_pool(n * JIT_PAGE, near);
		p = 0;
	}
	if (!pl)
		return NULL;
	mark_pages(pl, (size_t)p, n, true);
	return pl->base + (size_t)p * JIT_PAGE;
}

static struct jit_pool *pool_of(const uint8_t *a)
{
	for (struct jit_pool *pl = pools; pl; pl = pl->next)
		if (a >= pl->base && a < pl->base + pl->pages * JIT_PAGE)
			return pl;
	return NULL;
}

/* Pages [p, p + size) back to their pool: PROT_NONE, memory released,
 * addresses kept.  Lock held. */
static void unmap_pages(uint8_t *p, size_t size)
{
	struct jit_pool *pl = pool_of(p);

	if (NEVER(!pl))
		return;
	if (mmap(p, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		/* (no mapping left to split into) the pages stay ours, taken:
		 * not executable, their memory released if the kernel can */
		mprotect(p, size, PROT_NONE);
		madvise(p, size, MADV_DONTNEED);
		pr_warn("jit: cannot give back %zu bytes of code pages (%d): they stay reserved\n",
			size, errno);
		return;
	}
	mark_pages(pl, (size_t)(p - pl->base) / JIT_PAGE, size / JIT_PAGE, false);
}

/* A populated RW mapping of size bytes (a multiple of JIT_PAGE) in a pool:
 * within reach of near (NULL if no pool can be there), or with near NULL
 * anywhere.  Lock held. */
static uint8_t *map_chunk(size_t size, const void *near)
{
	uint8_t *p = take_pages(size / JIT_PAGE, near);

	if (!p)
		return NULL;
	if (mmap(p, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_FIXED, -1, 0) == MAP_FAILED) {
		unmap_pages(p, size);
		return NULL;
	}
	return p;
}

/* A new chunk on the list: solo (RW, for one piece written in place) or
 * shared (INT3 throughout and RX for good). */
static struct jit_chunk *new_chunk(size_t size, const void *near, bool solo)
{
	struct jit_chunk *c = mem_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base = map_chunk(size, near);
	if (!c->base) {
		free(c);
		return NULL;
	}
	if (!solo) {
		memset(c->base, 0xcc, size); /* int3 */
		if (mprotect(c->base, size, PROT_READ | PROT_EXEC)) {
			unmap_pages(c->base, size);
			free(c);
			return NULL;
		}
	}
	c->size = size;
	c->solo = solo;
	c->next = chunks;
	chunks = c;
	return c;
}

static void unmap_chunk(struct jit_chunk **link)
{
	struct jit_chunk *c = *link;

	*link = c->next;
	unmap_pages(c->base, c->size);
	free(c);
}

/* Bit i of the result: units i .. i + n - 1 are all free in a page whose
 * free units are the bits of free (1 <= n <= 64).  Each step doubles the
 * run length checked (at most n), so it takes log2(n) steps. */
static uint64_t runs_of(uint64_t free, size_t n)
{
	for (size_t len = 1; len < n;) {
		size_t step = len < n - len ? len : n - len;

		free &= free >> step;
		len += step;
	}
	return free;
}

/* The first run of n free units in c, or -1: inside one page when n fits
 * in a page (a small program then touches one page), anywhere otherwise.
 * A run longer than a page spans words of busy bits, so only the free bits
 * at each word's ends can extend it (a word's busy bits are one page). */
static long find_run(const struct jit_chunk *c, size_t n)
{
	size_t run = 0, start = 0;

	if (n <= JIT_PAGE_UNITS) {
		for (size_t p = 0; p < JIT_CHUNK_PAGES; p++) {
			uint64_t m = runs_of(~c->busy[p], n);

			if (m)
				return (long)(p * JIT_PAGE_UNITS + (size_t)__builtin_ctzll(m));
		}
		return -1;
	}
	for (size_t w = 0; w < c->size / JIT_PAGE; w++) {
		uint64_t b = c->busy[w];

		if (!b) {
			if (!run)
				start = w * 64;
			run += 64;
		} else {
			if (run + (size_t)__builtin_ctzll(b) >= n)
				return (long)start;
			run = (size_t)__builtin_clzll(b);
			start = (w + 1) * 64 - run;
		}
		if (run >= n)
			return (long)start;
	}
	return -1;
}

/* Marks units [u, u + n) of c held (busy) or free. */
static void mark(struct jit_chunk *c, size_t u, size_t n, bool busy)
{
	while (n) {
		size_t b = u % 64, k = 64 - b < n ? 64 - b : n;
		uint64_t m = (k == 64 ? ~UINT64_C(0) : (UINT64_C(1) << k) - 1) << b;

		if (busy)
			c->busy[u / 64] |= m;
		else
			c->busy[u / 64] &= ~m;
		u += k;
		n -= k;
	}
}

static void set_units(struct jit_chunk *c, size_t u, size_t n, bool busy)
{
	mark(c, u, n, busy);
	if (busy)
		c->nbusy += n;
	else
		c->nbusy -= n;
}

/* The first run of n free units in a shared chunk (in reach of near when
 * reach), at *first; NULL if none. */
static struct jit_chunk *first_fit(size_t n, const void *near, bool reach, long *first)
{
	for (struct jit_chunk *c = chunks; c; c = c->next) {
		if (c->solo || (reach && !in_reach(c->base, c->size, near)))
			continue;
		*first = find_run(c, n);
		if (*first >= 0)
			return c;
	}
	return NULL;
}

/* Called with the lock held, once: can this process write its code
 * through /proc/self/mem?  Tried on a new shared chunk (near, else
 * anywhere), which stays when it can.  Errors that say nothing about
 * /proc/self/mem (no memory, no descriptor left) leave the question open. */
static void probe_shared(const void *near)
{
	struct jit_chunk *c = NULL;
	int err;

	if (near)
		c = new_chunk(JIT_CHUNK_SIZE, near, false);
	if (!c)
		c = new_chunk(JIT_CHUNK_SIZE, NULL, false);
	if (!c)
		return;
	err = mem_write(c->base, int3_page, 1);
	if (!err) {
		atomic_store(&shared_mode, 1);
		return;
	}
	unmap_chunk(&chunks); /* c: the list's head */
	if (err == -ENOMEM || err == -EMFILE || err == -ENFILE || err == -EINTR)
		return;
	atomic_store(&shared_mode, 0);
	pr_warn("jit: cannot write code through /proc/self/mem (%d): every program gets "
		"pages of its own\n",
		-err);
}

/* A solo piece of size bytes (a multiple of JIT_PAGE), with the lock held */
static uint8_t *alloc_solo(size_t size, const void *near)
{
	struct jit_chunk *c = NULL;

	if (near)
		c = new_chunk(size, near, true);
	if (!c)
		c = new_chunk(size, NULL, true);
	return c ? c->base : NULL;
}

/* n units in a shared chunk, with the lock held */
static uint8_t *alloc_shared(size_t n, const void *near)
{
	struct jit_chunk *c;
	long i = -1;

	/* room in a chunk in reach of near, else a new chunk in reach; failing
	 * both, room anywhere (calls out of reach stay indirect), else a new
	 * chunk anywhere */
	c = first_fit(n, near, true, &i);
	if (!c && near && (c = new_chunk(JIT_CHUNK_SIZE, near, false)))
		i = 0;
	if (!c && near)
		c = first_fit(n, near, false, &i);
	if (!c && (c = new_chunk(JIT_CHUNK_SIZE, NULL, false)))
		i = 0;
	if (!c)
		return NULL;
	set_units(c, (size_t)i, n, true);
	return c->base + (size_t)i * JIT_UNIT;
}

int jit_arena_alloc(struct jit_piece *pc, size_t size, const void *near)
{
	size_t units = round_up(size, JIT_UNIT) / JIT_UNIT;
	uint8_t *buf = NULL, *p = NULL;
	bool solo;

	memset(pc, 0, sizeof(*pc));
	if (!size)
		return -EINVAL;
	pthread_once(&arena_once, arena_init);
	if (size <= JIT_SOLO_MIN && atomic_load_explicit(&shared_mode, memory_order_relaxed)) {
		/* the buffer first: nothing to undo under the lock */
		buf = mem_alloc(units * JIT_UNIT);
		if (!buf)
			return -ENOMEM;
	}
	pthread_mutex_lock(&arena_lock);
	if (buf && atomic_load(&shared_mode) < 0)
		probe_shared(near);
	solo = !buf || atomic_load(&shared_mode) != 1;
	if (solo) {
		size = round_up(size, JIT_PAGE);
		p = alloc_solo(size, near);
	} else {
		size = units * JIT_UNIT;
		p = alloc_shared(units, near);
	}
	if (p) {
		nr_pieces++;
		used_bytes += size;
	}
	pthread_mutex_unlock(&arena_lock);
	if (solo) {
		free(buf);
		buf = p;
	}
	if (!p) {
		if (!solo)
			free(buf);
		return -ENOMEM;
	}
	pc->code = p;
	pc->write = buf;
	pc->size = size;
	return 0;
}

static struct jit_chunk *chunk_of(const uint8_t *p, struct jit_chunk ***link)
{
	struct jit_chunk **l = &chunks;

	for (; *l; l = &(*l)->next) {
		if (p >= (*l)->base && p < (*l)->base + (*l)->size) {
			if (link)
				*link = l;
			return *l;
		}
	}
	return NULL;
}

/* Gives back [p, p + size) of a piece: unmaps the tail of a solo one or
 * clears the bits of a shared one (which must be INT3 already). */
static void give_back(uint8_t *p, size_t size)
{
	struct jit_chunk *c = chunk_of(p, NULL);

	if (NEVER(!c))
		return;
	if (c->solo) {
		unmap_pages(p, size);
		c->size -= size;
	} else {
		set_units(c, (size_t)(p - c->base) / JIT_UNIT, size / JIT_UNIT, false);
	}
	used_bytes -= size;
}

int jit_arena_seal(struct jit_piece *pc, size_t keep)
{
	bool solo = pc->write == pc->code;
	size_t held = round_up(keep, solo ? JIT_PAGE : JIT_UNIT);
	int err;

	if (!keep || keep > pc->size)
		return -EINVAL;
	if (solo) {
		memset(pc->code + keep, 0xcc, held - keep); /* int3 */
		if (mprotect(pc->code, held, PROT_READ | PROT_EXEC))
			return -errno;
	} else {
		/* the rest of the last unit is INT3 already */
		err = mem_write(pc->code, pc->write, keep);
		if (err) {
			/* part of it may be there: INT3 again before the units
			 * go back (jit_arena_drop), else they stay held */
			if (mem_int3(pc->code, held)) {
				pr_warn("jit: cannot overwrite unsealed code (%d): %zu bytes "
					"leaked\n",
					-err, pc->size);
				free(pc->write);
				pthread_mutex_lock(&arena_lock);
				nr_pieces--;
				pthread_mutex_unlock(&arena_lock);
				memset(pc, 0, sizeof(*pc));
			}
			return err;
		}
		free(pc->write);
	}
	pc->write = NULL;
	if (held < pc->size) {
		pthread_mutex_lock(&arena_lock);
		give_back(pc->code + held, pc->size - held);
		pthread_mutex_unlock(&arena_lock);
	}
	pc->size = held;
	return 0;
}

/* Keeps this chunk, now empty (the next compile is likely to want the
 * same place), and unmaps any other empty shared one.  Lock held. */
static void keep_one_empty(const struct jit_chunk *c)
{
	for (struct jit_chunk **link = &chunks; *link; link = &(*link)->next) {
		if (*link != c && !(*link)->solo && !(*link)->nbusy) {
			unmap_chunk(link);
			break;
		}
	}
}

/* The piece's memory back to the arena, its bytes INT3 (shared). */
static void release(uint8_t *p, size_t size)
{
	struct jit_chunk *c, **link;

	pthread_mutex_lock(&arena_lock);
	c = chunk_of(p, &link);
	if (NEVER(!c))
		goto out;
	nr_pieces--;
	if (c->solo) {
		used_bytes -= c->size;
		unmap_chunk(link);
		goto out;
	}
	give_back(p, size);
	if (!c->nbusy)
		keep_one_empty(c);
out:
	pthread_mutex_unlock(&arena_lock);
}

void jit_arena_drop(struct jit_piece *pc)
{
	if (!pc->code)
		return;
	if (pc->write != pc->code)
		free(pc->write); /* shared: nothing was written at pc->code */
	release(pc->code, pc->size);
	memset(pc, 0, sizeof(*pc));
}

void jit_arena_free(void *code, size_t size)
{
	struct jit_chunk *c;
	bool solo;
	int err;

	if (!code)
		return;
	pthread_mutex_lock(&arena_lock);
	c = chunk_of(code, NULL);
	solo = c && c->solo;
	pthread_mutex_unlock(&arena_lock);
	/* the piece is the caller's until release(): c stays mapped */
	if (c && !solo) {
		err = mem_int3(code, size);
		if (err) {
			/* the code stays, its units held: never handed out again */
			pr_warn("jit: cannot overwrite freed code (%d): %zu bytes leaked\n", -err,
				size);
			pthread_mutex_lock(&arena_lock);
			nr_pieces--;
			pthread_mutex_unlock(&arena_lock);
			return;
		}
	}
	release(code, size);
}

void jit_arena_trim(void)
{
	struct jit_chunk **l = &chunks;

	pthread_mutex_lock(&arena_lock);
	while (*l) {
		if (!(*l)->solo && !(*l)->nbusy)
			unmap_chunk(l);
		else
			l = &(*l)->next;
	}
	pthread_mutex_unlock(&arena_lock);
}

void jit_arena_stats(struct jit_arena_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&arena_lock);
	for (const struct jit_chunk *c = chunks; c; c = c->next) {
		st->chunks++;
		st->mapped += c->size;
	}
	for (const struct jit_pool *pl = pools; pl; pl = pl->next) {
		st->pools++;
		st->reserved += pl->pages * JIT_PAGE;
	}
	st->used = used_bytes;
	st->pieces = nr_pieces;
	st->shared = atomic_load(&shared_mode);
	pthread_mutex_unlock(&arena_lock);
}

void *jit_arena_map(size_t size)
{
	uint8_t *p;

	if (!size)
		return NULL;
	pthread_once(&arena_once, arena_init);
	pthread_mutex_lock(&arena_lock);
	p = map_chunk(round_up(size, JIT_PAGE), NULL);
	pthread_mutex_unlock(&arena_lock);
	return p;
}

void jit_arena_unmap(void *p, size_t size)
{
	if (!p)
		return;
	pthread_mutex_lock(&arena_lock);
	unmap_pages(p, round_up(size, JIT_PAGE));
	pthread_mutex_unlock(&arena_lock);
}

bpftime_code_notify_fn bpftime_vm_set_code_notify(bpftime_code_notify_fn fn)
{
	bpftime_code_notify_fn old;

	pthread_once(&arena_once, arena_init);
	pthread_mutex_lock(&arena_lock);
	old = code_notify;
	code_notify = fn;
	/* the pools reserved before: every range is reported once to each
	 * callback set (oldest first is not needed: the ranges are disjoint) */
	for (const struct jit_pool *pl = pools; fn && pl; pl = pl->next)
		fn((uintptr_t)pl->base, pl->pages * JIT_PAGE);
	pthread_mutex_unlock(&arena_lock);
	return old;
}
