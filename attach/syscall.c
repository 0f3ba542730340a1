/* SPDX-License-Identifier: MIT */
/* attach/syscall.c: every syscall of the process, in userspace, through
 * Syscall User Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, Linux 5.11).
 *
 * Why SUD.  It catches every `syscall` instruction wherever it is: libc
 * wrappers, inline asm in the executable or any library, code dlopen'ed or
 * generated later, with no decoding and nothing to prove about the code.
 * Binary rewriting (zpoline's `call *%rax` through page 0) is faster but
 * writes the return address into the caller's red zone and needs page 0
 * (vm.mmap_min_addr); that is left for later, with SUD as its safety net.
 *
 * How.  When the hook starts, a small code region is generated (memfd, one
 * RX view to run, one RW view to write): the only place syscalls are
 * allowed from.  Every thread turns SUD on for itself (the starting thread
 * directly, the others in a handler of SC_ENABLE_SIG sent to each), with one
 * process-wide selector byte set to BLOCK.  A syscall anywhere else then
 * raises SIGSYS (si_code SYS_USER_DISPATCH) with the registers as they were
 * at the instruction and rip after it; the handler runs the enter handler,
 * makes the call from the region (so the kernel sees the same registers and
 * rax, rcx, r11 come back as the kernel sets them: result, rip, rflags),
 * runs the exit handler and puts the result in rax.  Returning from the
 * handler goes through our own restorer in the region.
 *
 * The calls that cannot be made from inside a signal handler:
 *   rt_sigreturn   the thread is sent to a `syscall` in the region with the
 *                  stack pointer it had: the kernel restores the frame of
 *                  the handler that is returning, as it would have.
 *   clone/clone3/vfork sharing the memory (threads, posix_spawn, vfork):
 *                  the child would start in our handler on another stack.
 *                  The thread is sent to a per-site stub in the region:
 *                  `syscall`, then in a thread child with its own TLS and
 *                  in a vfork child SUD on for the child, the exit handler
 *                  in the parent and in such a child, then `mov rcx, site;
 *                  jmp rcx` back after the original instruction (rcx =
 *                  return address, as the kernel sets it).  A vfork child
 *                  runs on its parent's thread state while the parent
 *                  waits: its stub forgets the ids cached there, in the
 *                  child and again in the parent (clone_exit).
 *   fork-like clones run in the handler; the child turns SUD on again (it
 *                  is not inherited) and both report the exit.
 *   execve         SUD goes off for the call and back on if it fails.
 * The signal state is kept usable: SIGSYS never gets blocked (masks given
 * to rt_sigprocmask and rt_sigaction lose it; a blocked SIGSYS would kill
 * the process), and a SIGSYS handler the program installs is kept aside and
 * called for SIGSYS that is not ours (seccomp's SECCOMP_RET_TRAP).
 *
 * Threads created later inherit nothing: the stub turns SUD on in each
 * child.  A thread that blocks SC_ENABLE_SIG when the hook starts is not
 * intercepted until it unblocks it; start says how many did not answer.
 *
 * Threads without a TLS of their own.  A clone(CLONE_VM) without
 * CLONE_SETTLS or CLONE_VFORK (a raw thread, as a sanitizer's leak checker
 * makes at exit to stop the others) runs on its parent's TLS while the
 * parent runs on: the handler guard and tid here, and the runtime's own
 * thread-local state (lock owners, CPU slots), would be shared by two
 * threads at once.  No handler runs on such a thread: SUD stays off there
 * (the kernel clears it at clone; the stub does not turn it on), and once
 * one was made every handler entry first checks, with a gettid, that the
 * thread is the one its TLS belongs to (a rewritten site or an enable
 * signal reaches such threads too); bpftime_syscall_hook__bare_threads()
 * counts them, for the agent to say their syscalls are not traced.
 *
 * Nesting.  Syscalls made while a handler runs (helpers) raise SIGSYS too
 * (SA_NODEFER) and are made directly, without handlers.  A signal that
 * arrives while the real call blocks is delivered as usual (its handler
 * runs on top of ours, and SA_RESTART restarts our call in the region).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <linux/sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/futex.h>
#include <Zydis/Zydis.h>
#include <bpftime/attach.h>
#include <bpftime/syscall_hook.h>
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "hook_x86_64.h"
#include "sysscan.h"

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH  59
#define PR_SYS_DISPATCH_OFF	      0
#define PR_SYS_DISPATCH_ON	      1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#define SYSCALL_DISPATCH_FILTER_BLOCK 1
#endif
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2
#endif
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

#define SC_ENABLE_SIG	 (SIGRTMAX - 6) /* keep in step with agent.c's agent_thread */
#define REGION_SIZE	 (REGION_NET + 128 * 1024)
#define REGION_RAW	 0    /* long raw(nr, a1..a6) */
#define REGION_RESTORER	 64   /* rt_sigreturn of our handlers */
#define REGION_SIGRETURN 80   /* `syscall` with the interrupted thread's rax = 15 */
#define REGION_STUBS	 4096 /* clone stubs */
#define STUB_SIZE	 256
#define MAX_STUBS	 ((REGION_SITES - REGION_STUBS) / STUB_SIZE)
#define REGION_SITES	 (64 * 1024)	    /* one area per rewritten site */
#define SITE_SIZE	 1024		    /* SITE_AREAS of them, in REGION_SITES..REGION_NET */
#define REGION_NET	 (320 * 1024)	    /* the net's common body, then its sites' areas */
#define REGION_WARM	 (REGION_NET + 256) /* emit_warm_stub(), in the common body's page */
/* a site area: the trampoline (its route slot last), then the fast route's
 * list pointers, its code and its pool of list copies (emit_fast) */
#define TRAMP_SIZE	 256
#define AREA_LISTS	 TRAMP_SIZE	   /* the enter list's address, then the exit list's */
#define AREA_FAST	 (AREA_LISTS + 16) /* the fast route's code */
#define AREA_POOL	 704		   /* copies of lists, up to the area's end */
#define POOL_ENTRIES	 ((SITE_SIZE - AREA_POOL) / 16)
/* slot 0 of a page of site areas: its warm stub, the fast routes' list
 * runners (emit_page_run: one for enter lists, one for exit lists), the
 * fast routes' gate byte (1: open) */
#define PAGE_RUN	 256 /* enter lists' */
#define PAGE_RUN_EXIT	 640 /* exit lists' */
#define PAGE_GATE	 (SITE_SIZE - 8)
#define ENABLE_MAX	 4096
#define ENABLE_WAIT_NS	 2000000000L
#define SIGSYS_BIT	 (1ull << (SIGSYS - 1))

typedef long (*raw_fn)(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

/* the kernel's struct sigaction (rt_sigaction) */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static struct {
	uint8_t *region; /* RX */
	uint8_t *rw;	 /* RW view of the same pages */
	bool installed;
	struct ksigaction app_sigsys; /* the program's SIGSYS action */
	struct ksigaction old_enable; /* what SC_ENABLE_SIG had before */
	atomic_flag stub_lock;
	int n_stubs;
	struct stub_key {
		uintptr_t site;
		long nr;
		bool child_sud, child_exit;
		bool vfork; /* the parent stops until the child's exec or exit */
	} stub[MAX_STUBS];
	pthread_mutex_t start_lock;
	bool atfork; /* fork_prepare and co. registered */
} hook = { .stub_lock = ATOMIC_FLAG_INIT, .start_lock = PTHREAD_MUTEX_INITIALIZER };

/* the pokes of code bytes (their mprotect calls): one at a time */
static pthread_mutex_t poke_lock = PTHREAD_MUTEX_INITIALIZER;

static void consider(uintptr_t ip, long nr);
static void net_new_code(const struct bpftime_syscall *sc);

#define SIGTRAP_BIT (1ull << (SIGTRAP - 1))
static atomic_bool trap_on;	      /* our SIGTRAP handler is installed (int3 sites) */
static struct ksigaction app_sigtrap; /* the program's SIGTRAP action meanwhile */

/* what a rewritten site's trampoline pushes (lowest address first) */
struct fast_frame {
	uint64_t rbx, rbp, r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, flags;
};

/* AddressSanitizer: a frame our generated code pushed is the thread's, even
 * where the stack still holds the poison of a dead thread's frames (glibc
 * hands a dead thread's stack to a new one, after a fork too); so is the
 * signal frame the kernel wrote for one of our handlers, installed with the
 * raw rt_sigaction (ASAN_MINE: common/compiler.h) */
#define frame_mine(f) ASAN_MINE((f), sizeof(*(f)))
#define sigframe_mine(si, uc) \
	(ASAN_MINE((si), sizeof(siginfo_t)), ASAN_MINE((uc), sizeof(ucontext_t)))

#define FAST_MAX  256 /* sites queued for rewriting or done */
#define RED_ZONE  128
#define WATCH_MAX 1024 /* syscall numbers the watch table covers */

#define NET_COMMON_SIZE 512 /* the common body, then the warm stub */
#define NET_AREA	64
#define NET_MAX		((REGION_SIZE - REGION_NET - NET_COMMON_SIZE) / NET_AREA)
#define SLOTS_PAGES	64
#define WARM_MAX	(1 + BPFTIME_SYSCALL_WARM_MAX) /* the hot page, then the owner's */

/* the numbers of special_nr(), net_c_nr() and exec_nr() as bit words */
#define UNUSUAL_NR_MAX 512
#define NR_BIT(w, nr)  ((nr) / 64 == (w) ? 1ull << ((nr) % 64) : 0ull)
#define UNUSUAL_WORD(w)                                                                            \
	(NR_BIT(w, SYS_rt_sigreturn) | NR_BIT(w, SYS_clone) | NR_BIT(w, SYS_clone3) |              \
	 NR_BIT(w, SYS_vfork) | NR_BIT(w, SYS_fork) | NR_BIT(w, SYS_execve) |                      \
	 NR_BIT(w, SYS_execveat) | NR_BIT(w, SYS_exit) | NR_BIT(w, SYS_exit_group) |               \
	 NR_BIT(w, SYS_prctl) | NR_BIT(w, SYS_rt_sigprocmask) | NR_BIT(w, SYS_rt_sigaction) |      \
	 NR_BIT(w, SYS_rt_sigsuspend) | NR_BIT(w, SYS_ppoll) | NR_BIT(w, SYS_pselect6) |           \
	 NR_BIT(w, SYS_epoll_pwait) | NR_BIT(w, SYS_epoll_pwait2) | NR_BIT(w, SYS_io_pgetevents) | \
	 NR_BIT(w, SYS_mmap) | NR_BIT(w, SYS_mprotect) | NR_BIT(w, SYS_mremap) |                   \
	 NR_BIT(w, SYS_pkey_mprotect) | NR_BIT(w, SYS_shmat))

/* What a hooked syscall reads, in one page of its own (after a syscall
 * each page touched is a TLB refill: docs/syscall-tracepoints.md).
 * watch_all/watch_nr: which syscalls the handlers want
 * (bpftime_syscall_hook__watch): the others skip the handlers everywhere,
 * and their rewritten sites take the direct route (no registers saved, no
 * C). */
static struct {
	/* the selector: read by the kernel on every syscall of an enabled thread */
	volatile char selector;
	atomic_bool watch_all;
	raw_fn raw;
	_Atomic(bpftime_syscall_fn) enter, exit;
	void *_Atomic data;
	atomic_int bare;	/* threads made without a TLS of their own: see above */
	atomic_bool exec_watch; /* new executable code is scanned (the net off or going off) */
	atomic_bool net_off;	/* SUD off in the threads that answered (docs: the net) */
	_Atomic uint8_t watch_nr[WATCH_MAX];
	uintptr_t ts_off; /* the thread's ts_tls from its thread pointer (ts_init) */
	/* the numbers fast_entry asks more of (unusual_nr()), a bit each */
	uint64_t unusual[UNUSUAL_NR_MAX / 64];
	uintptr_t net_area0, net_trap; /* net_area(0), net.trap: net_entry's */
	/* a bit per net site: its first call through the net was handed to
	 * consider() (a site the SIGSYS handler never saw gets rewritten too) */
	_Atomic uint64_t net_asked[(NET_MAX + 63) / 64];
} hot __attribute__((aligned(4096))) = {
	.selector = SYSCALL_DISPATCH_FILTER_ALLOW,
	.watch_all = true,
	.unusual = { UNUSUAL_WORD(0), UNUSUAL_WORD(1), UNUSUAL_WORD(2), UNUSUAL_WORD(3),
		     UNUSUAL_WORD(4), UNUSUAL_WORD(5), UNUSUAL_WORD(6), UNUSUAL_WORD(7) },
};

/* special_nr(), net_c_nr() or exec_nr(): one bit test on the hot page
 * instead of three switches (checked against them at install) */
BPFTIME_HOT static inline bool unusual_nr(long nr)
{
	return (unsigned long)nr < UNUSUAL_NR_MAX && ((hot.unusual[nr >> 6] >> (nr & 63)) & 1);
}

/* which handlers want @nr: BPFTIME_SYSCALL_WATCH_ENTER and/or _EXIT */
BPFTIME_HOT static inline unsigned int watch_bits(long nr)
{
	/* acquire: a table published before watch_all went false is the one
	 * read below */
	if (likely(atomic_load_explicit(&hot.watch_all, memory_order_acquire)))
		return BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT;
	return nr >= 0 && nr < WATCH_MAX
		       ? atomic_load_explicit(&hot.watch_nr[nr], memory_order_relaxed)
		       : 0;
}

/* @what: BPFTIME_SYSCALL_WATCH_ENTER and/or _EXIT */
BPFTIME_HOT static inline bool watched(long nr, unsigned int what)
{
	return watch_bits(nr) & what;
}

/* A rewritten site: its trampoline starts with `jmp [route]`, and route
 * holds the full path (handlers) or the direct one (the call only). */
struct fast_site {
	_Atomic uint64_t *route;
	uint64_t full, direct;
	long nr;
	uintptr_t mov;	 /* the site's `mov eax, nr` (or the instruction relocated) */
	uint8_t orig[5]; /* its bytes */
	uint8_t jmp[5];	 /* what replaces them */
	bool patched;	 /* the jmp is in place */
	bool dead;	 /* the bytes were not what we expected: left alone */
	bool can_fast;	 /* a `mov eax, nr` site in the region: emit_fast() */
	uint64_t fast;	 /* its fast route, once emitted (0: none yet) */
	size_t area;	 /* its area's offset in the region */
	int pool;	 /* entries of its pool used */
};

static struct {
	pthread_mutex_t lock; /* sites, their routes, the slot pages */
	struct fast_site site[FAST_MAX];
	int n;
	bool off; /* bpftime_syscall_hook__off(): the sites hold their own bytes */
	struct {
		uint8_t *base; /* RW page of route slots near some trampolines */
		int used;
	} pages[SLOTS_PAGES];
	int n_pages;
} routes = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct {
	bool on;			  /* BPFTIME_SYSCALL_REWRITE != 0 */
	bool scan;			  /* BPFTIME_SYSCALL_SCAN=1: scan_report() */
	_Atomic uintptr_t site[FAST_MAX]; /* syscall addresses seen (0: free) */
	atomic_uint queued;		  /* futex word: sites added */
	pthread_t th;
	_Atomic pid_t tid; /* the patcher's: it runs without SUD */
	bool started;
	atomic_int done, failed; /* sites rewritten, refused */
} fast;

struct tstate {
	bool enabled;
	int in_handler; /* running enter/exit: nested syscalls go direct */
	bool can_override;
	int32_t tid;
	/* vfork children running on this state (the parent waits): their
	 * clone_exit counts up, the parent's counts down */
	int vfork_depth;
	struct bpftime_syscall *cur;
};
static __thread struct tstate ts_tls __attribute__((tls_model("initial-exec")));

/* This thread's ts_tls, at the offset the hot page keeps: an initial-exec
 * access in a shared library reads the offset from the GOT, one more page
 * after each syscall (docs/syscall-tracepoints.md). */
#define ts (*(struct tstate __seg_fs *)hot.ts_off)

/* first of the library's constructors: the agent's starts the hook */
__attribute__((constructor(101))) static void ts_init(void)
{
	hot.ts_off = (uintptr_t)&ts_tls - (uintptr_t)__builtin_thread_pointer();
}

/* enable round: which threads were asked and answered */
static pid_t en_tids[ENABLE_MAX];
static atomic_char en_acked[ENABLE_MAX];
static atomic_int en_n;
static atomic_int en_acks;
static atomic_bool en_on = true; /* what the round asks: SUD on (start) or off */

/* ---- the net's state (see "the net off" below) ---- */

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#define NET_HASH      4096 /* > 2 * NET_MAX, a power of two */
#define NET_TRAP      16   /* bytes per trap gadget */
#define NET_RETRY_MS  200
#define NET_RETRY_MAX 10000

enum { NS_NATIVE, NS_TRAP, NS_JMP };

struct net_site {
	uintptr_t addr, island;
	long nr;
	_Atomic uint8_t state;
	uint8_t step; /* net_patch_list()'s rounds (net.lock) */
};

static struct {
	bool want;	      /* BPFTIME_SYSCALL_NET=auto */
	pthread_mutex_t lock; /* the table's changes and the patching */
	struct net_site site[NET_MAX];
	atomic_int n;
	_Atomic int32_t hash[NET_HASH]; /* site index + 1, 0: empty; lock-free lookups */
	uint8_t *trap, *trap_rw;	/* trap gadgets: RX and RW views */
	int mem_fd;			/* /proc/self/mem, -1: write through mprotect */
	long mem_pid;			/* the process mem_fd is of */
	bool sync_core;			/* membarrier SYNC_CORE registered */
	char why[256];			/* why the net is on */
	int retry_ms;			/* the last backoff */
	_Atomic int64_t retry_at;	/* the patcher's next try (mono_ms), 0: none */
	int64_t last_try_ms;
	bool last_failed; /* the last try found something unprovable */
} net = { .lock = PTHREAD_MUTEX_INITIALIZER, .mem_fd = -1 };

/* the hook's own needs: new executable code, signal masks and actions */
static bool exec_nr(long nr)
{
	return nr == SYS_mmap || nr == SYS_mprotect || nr == SYS_mremap ||
	       nr == SYS_pkey_mprotect || nr == SYS_shmat;
}

/* calls that set a signal mask or action (for good or for their
 * duration): made in C (call_fixed), so that SIGSYS and SIGTRAP stay ours
 * and deliverable; never through a direct route */
static bool net_c_nr(long nr)
{
	switch (nr) {
	case SYS_rt_sigprocmask:
	case SYS_rt_sigaction:
	case SYS_rt_sigsuspend:
	case SYS_ppoll:
	case SYS_pselect6:
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
	case SYS_io_pgetevents:
		return true;
	default:
		return false;
	}
}

/* their sites always go through the hook while the net is off: clone,
 * clone3, fork and vfork so that a child on this thread's TLS is counted
 * and a forked or vforked child knows its own ids, rt_sigreturn for the
 * syscalls a signal handler restarts (restart_events) */
static bool net_own_nr(long nr)
{
	return exec_nr(nr) || net_c_nr(nr) || nr == SYS_clone || nr == SYS_clone3 ||
	       nr == SYS_fork || nr == SYS_vfork || nr == SYS_rt_sigreturn;
}

static long raw(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	return hot.raw(nr, a1, a2, a3, a4, a5, a6);
}

BPFTIME_HOT int32_t bpftime_syscall_tid(void)
{
	if (unlikely(!ts.tid))
		ts.tid = (int32_t)(hot.raw ? raw(SYS_gettid, 0, 0, 0, 0, 0, 0)
					   : syscall(SYS_gettid));
	return ts.tid;
}

/* who hears that a thread's ids changed under its TLS */
static void (*_Atomic ids_fn)(void);

void bpftime_syscall_hook__on_new_ids(void (*fn)(void))
{
	atomic_store_explicit(&ids_fn, fn, memory_order_release);
}

/* this thread's process or thread id is not what its TLS says any more (a
 * forked child, a vfork child on its parent's TLS, that parent going on):
 * forgotten here and by whoever asked to hear it */
static void ids_changed(void)
{
	void (*fn)(void) = atomic_load_explicit(&ids_fn, memory_order_acquire);

	ts.tid = 0;
	if (fn)
		fn();
}

/* Is this thread the one its TLS (ts) belongs to?  Always, until a thread
 * without a TLS of its own was made; then a gettid says.  A parent's ts.tid
 * is set before it makes such a thread, so an unset one is its owner's. */
BPFTIME_HOT static inline bool tls_mine(void)
{
	int32_t tid;

	if (likely(!atomic_load_explicit(&hot.bare, memory_order_relaxed)))
		return true;
	tid = (int32_t)raw(SYS_gettid, 0, 0, 0, 0, 0, 0);
	if (!ts.tid)
		ts.tid = tid;
	return ts.tid == tid;
}

static long sud(bool on)
{
	if (!on)
		return raw(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0,
			   0);
	return raw(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, (long)hook.region,
		   REGION_SIZE, (long)&hot.selector, 0);
}

/* SUD on for the calling thread, SIGSYS unblocked */
static long enable_self(void)
{
	uint64_t set = SIGSYS_BIT;
	long r;

	raw(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, 8, 0, 0);
	r = sud(true);
	if (!r)
		ts.enabled = true;
	return r;
}

static long disable_self(void)
{
	long r = sud(false);

	if (!r)
		ts.enabled = false;
	return r;
}

/* ---- the generated region ----------------------------------------------- */

struct sc_emit {
	uint8_t *p;
	intptr_t rx; /* where e->p runs minus e->p (0: not known) */
};

static void put(struct sc_emit *e, const void *bytes, size_t n)
{
	memcpy(e->p, bytes, n);
	e->p += n;
}

static void put64(struct sc_emit *e, uint64_t v)
{
	put(e, &v, 8);
}

/* a rel32 jump placeholder at @at (the 4 bytes before @at), resolved to @to */
static void fix32(uint8_t *at, const uint8_t *to)
{
	memcpy(at - 4, &(int32_t){ (int32_t)(to - at) }, 4);
}

static bool rel32_ok(uintptr_t to, uintptr_t from)
{
	int64_t rel = (int64_t)to - (int64_t)from;

	return rel == (int32_t)rel;
}

/* The warm stub, called by every trampoline and the net's common body
 * once the frame is saved, and again after the call before an exit
 * handler: prefetches this thread's ts, the hot page, and what the
 * handlers' owner named (bpftime_syscall_hook__warm: the agent's table,
 * the programs' code).
 * After a syscall each page a hooked call reads is a page walk (PTI
 * without PCID empties the TLB at every kernel entry), and the C meets
 * them one after another, each address read from the page before (the
 * hot page, then the handler's table...): ~20-30 ns each here when
 * chained.  The stub's addresses are immediates (no page to read first),
 * so the walks start together.  Each is an 8-byte immediate that
 * bpftime_syscall_hook__warm rewrites in place (only immediates change, no
 * opcode): a thread running the stub meanwhile prefetches the old address,
 * the new one or, should the store tear, some other address; a prefetch
 * never faults, a hint either way.  Clobbers r11; flags untouched.
 * Layout: the ts prefetch (9 bytes), then per entry `mov r11, imm64;
 * prefetcht0 [r11]` (14 bytes), then `ret`.
 * A copy at REGION_WARM (the net's common body's page), and one at the
 * start of each page of site areas, which its trampolines call: a stub on
 * another page would be one more code page walk per call. */
#define WARM_ENTRY(k) (9 + 14 * (k))
#define SITE_PAGES    ((REGION_NET - REGION_SITES) / 4096)
#define SITE_AREAS    (SITE_PAGES * (4096 / SITE_SIZE - 1))

_Static_assert(SITE_AREAS <= FAST_MAX, "a route per site area");

/* the region offset of site area @n: slot 0 of each page is its warm stub */
static size_t site_area(int n)
{
	return REGION_SITES + (size_t)(n / (4096 / SITE_SIZE - 1)) * 4096 +
	       (size_t)(1 + n % (4096 / SITE_SIZE - 1)) * SITE_SIZE;
}

/* the region offset of warm stub copy @i (0: REGION_WARM, then the site
 * pages') */
static size_t warm_stub_off(int i)
{
	return i ? REGION_SITES + (size_t)(i - 1) * 4096 : REGION_WARM;
}

/* the owner's addresses (entries 1..): kept for a region made later */
static const void *_Atomic warm_owner[BPFTIME_SYSCALL_WARM_MAX];

/* what entry @k prefetches: the hot page, or the owner's address */
static uint64_t warm_addr(int k)
{
	const void *a = k ? atomic_load_explicit(&warm_owner[k - 1], memory_order_relaxed) : NULL;

	return (uint64_t)(uintptr_t)(a ? a : (const void *)&hot);
}

static void emit_warm_stub(uint8_t *rw)
{
	struct sc_emit e = { rw, 0 };

	put(&e, "\x64\x0f\x18\x0c\x25", 5); /* prefetcht0 fs:[ts_off] */
	put(&e, &(int32_t){ (int32_t)(intptr_t)hot.ts_off }, 4);
	for (int k = 0; k < WARM_MAX; k++) {
		put(&e, "\x49\xbb", 2); /* mov r11, imm64 */
		put64(&e, warm_addr(k));
		put(&e, "\x41\x0f\x18\x0b", 4); /* prefetcht0 [r11] */
	}
	put(&e, "\xc3", 1); /* ret */
}

/* The fast routes' list runners, at PAGE_RUN (enter lists) and
 * PAGE_RUN_EXIT (exit lists) of each page of site areas (emit_fast calls
 * them): rbp = a list of struct bpftime_syscall_fast_prog (NULL: nothing),
 * the record at rsp + 8 (16-aligned).  Each entry's fn gets the record (its
 * type put first) and its size; the thread counts as in a handler meanwhile
 * (its syscalls go direct).  rbp is callee-saved for the functions (SysV),
 * so it walks the list across their calls.  The first RUN_UNROLL entries
 * each have a call of their own, and so do enter and exit: a call whose
 * target changes from one syscall to the next is mispredicted there, the
 * kernel's entry having wiped the history that tells them apart (~8 ns an
 * entry here); the rest share a loop. */
#define RUN_UNROLL 4
static void emit_page_run(uint8_t *rw, size_t room)
{
	int32_t in_h =
		(int32_t)((intptr_t)hot.ts_off + (intptr_t)offsetof(struct tstate, in_handler));
	struct sc_emit e = { rw, 0 };
	uint8_t *out, *done[RUN_UNROLL + 1], *loop;

	put(&e, "\x48\x85\xed", 3);	/* test rbp, rbp */
	put(&e, "\x0f\x84\0\0\0\0", 6); /* jz out */
	out = e.p;
	put(&e, "\x64\xc7\x04\x25", 4); /* mov dword fs:[in_handler], 1 */
	put(&e, &in_h, 4);
	put(&e, "\x01\0\0\0", 4);
	put(&e, "\x48\x83\xec\x08", 4); /* sub rsp, 8: the calls' alignment */
	for (int k = 0; k <= RUN_UNROLL; k++) {
		loop = e.p;			/* (the last one loops) */
		put(&e, "\x48\x8b\x45\x00", 4); /* mov rax, [rbp]: fn */
		put(&e, "\x48\x85\xc0", 3);	/* test rax, rax */
		put(&e, "\x0f\x84\0\0\0\0", 6); /* jz done */
		done[k] = e.p;
		put(&e, "\x0f\xb7\x4d\x08", 4);	    /* movzx ecx, word [rbp + 8]: type */
		put(&e, "\x66\x89\x4c\x24\x10", 5); /* mov [rsp + 16], cx */
		put(&e, "\x8b\x75\x0c", 3);	    /* mov esi, [rbp + 12]: size */
		put(&e, "\x48\x8d\x7c\x24\x10", 5); /* lea rdi, [rsp + 16]: the record */
		put(&e, "\x48\x83\xc5\x10", 4);	    /* add rbp, 16 */
		put(&e, "\xff\xd0", 2);		    /* call rax */
		if (k == RUN_UNROLL) {
			put(&e, "\xe9\0\0\0\0", 5); /* jmp loop */
			fix32(e.p, loop);
		}
	}
	for (int k = 0; k <= RUN_UNROLL; k++)
		fix32(done[k], e.p);
	put(&e, "\x48\x83\xc4\x08", 4); /* add rsp, 8 */
	put(&e, "\x64\xc7\x04\x25", 4); /* mov dword fs:[in_handler], 0 */
	put(&e, &in_h, 4);
	put(&e, "\0\0\0\0", 4);
	fix32(out, e.p);
	put(&e, "\xc3", 1); /* ret */
	assert((size_t)(e.p - rw) <= room);
	(void)room;
}

/* writes entry @k's immediate in every copy (RW view; unaligned: see
 * above) */
static void warm_set(int k, uint64_t addr)
{
	for (int i = 0; i <= SITE_PAGES; i++)
		memcpy(hook.rw + warm_stub_off(i) + WARM_ENTRY(k) + 2, &addr, 8); /* one mov */
}

/* call the warm stub: its copy on the same page for a site area, else
 * REGION_WARM's; rel32 where e->p's address is known and near */
static void emit_call_warm(struct sc_emit *e)
{
	uintptr_t stub = (uintptr_t)hook.region + REGION_WARM;
	uintptr_t at = (uintptr_t)e->p + (uintptr_t)e->rx;
	uintptr_t sites = (uintptr_t)hook.region + REGION_SITES;

	if (e->rx && at >= sites && at < (uintptr_t)hook.region + REGION_NET)
		stub = at & ~(uintptr_t)4095;

	if (e->rx && rel32_ok(stub, (uintptr_t)e->p + (uintptr_t)e->rx + 5)) {
		put(e, "\xe8", 1); /* call stub */
		put(e,
		    &(int32_t){ (int32_t)((int64_t)stub -
					  (int64_t)((uintptr_t)e->p + (uintptr_t)e->rx + 4)) },
		    4);
		return;
	}
	put(e, "\x49\xbb", 2); /* mov r11, stub */
	put64(e, (uint64_t)stub);
	put(e, "\x41\xff\xd3", 3); /* call r11 */
}

/* The frame the trampolines and stubs build around a call into C: the red
 * zone skipped, flags and every register the kernel preserves saved (a
 * struct fast_frame, whose address goes in rdi), rbx keeping the frame,
 * the stack aligned for the call. */
static void emit_frame_enter(struct sc_emit *e)
{
	put(e, "\x48\x8d\x64\x24\x80", 5);	       /* lea rsp, [rsp - 128] */
	put(e, "\x9c\x50\x51\x52\x56\x57", 6);	       /* pushfq; push rax, rcx, rdx, rsi, rdi */
	put(e, "\x41\x50\x41\x51\x41\x52\x41\x53", 8); /* push r8, r9, r10, r11 */
	put(e, "\x55\x53", 2);			       /* push rbp, rbx */
	put(e, "\x48\x89\xe7", 3);		       /* mov rdi, rsp */
	put(e, "\x48\x89\xe3", 3);		       /* mov rbx, rsp */
	put(e, "\x48\x83\xe4\xf0", 4);		       /* and rsp, -16 */
}

/* back from the call: the registers and flags as the frame holds them (the
 * red zone is still skipped: the caller adds the 128 back) */
static void emit_frame_leave(struct sc_emit *e)
{
	put(e, "\x48\x89\xdc", 3);		       /* mov rsp, rbx */
	put(e, "\x5b\x5d", 2);			       /* pop rbx, rbp */
	put(e, "\x41\x5b\x41\x5a\x41\x59\x41\x58", 8); /* pop r11, r10, r9, r8 */
	put(e, "\x5f\x5e\x5a\x59\x58\x9d", 6);	       /* pop rdi, rsi, rdx, rcx, rax; popfq */
}

/* long raw(nr, a1, a2, a3, a4, a5, a6): SysV args -> syscall args */
static const uint8_t raw_code[] = {
	0x48, 0x89, 0xf8,	      /* mov rax, rdi */
	0x48, 0x89, 0xf7,	      /* mov rdi, rsi */
	0x48, 0x89, 0xd6,	      /* mov rsi, rdx */
	0x48, 0x89, 0xca,	      /* mov rdx, rcx */
	0x4d, 0x89, 0xc2,	      /* mov r10, r8 */
	0x4d, 0x89, 0xc8,	      /* mov r8, r9 */
	0x4c, 0x8b, 0x4c, 0x24, 0x08, /* mov r9, [rsp + 8] */
	0x31, 0xc9,		      /* xor ecx, ecx (restart_events) */
	0x0f, 0x05,		      /* syscall */
	0xc3,			      /* ret */
};

static void emit_fixed(uint8_t *rw)
{
	static const uint8_t restorer[] = {
		0xb8, 0x0f, 0x00, 0x00, 0x00, /* mov eax, 15 (rt_sigreturn) */
		0x0f, 0x05,		      /* syscall */
	};
	static const uint8_t sigreturn[] = {
		0x0f, 0x05, /* syscall (rax = 15, rsp = the returning handler's frame) */
		0x0f, 0x0b, /* ud2 */
	};

	memset(rw, 0xcc, REGION_SIZE); /* int3 */
	memcpy(rw + REGION_RAW, raw_code, sizeof(raw_code));
	memcpy(rw + REGION_RESTORER, restorer, sizeof(restorer));
	memcpy(rw + REGION_SIGRETURN, sigreturn, sizeof(sigreturn));
	for (int i = 0; i <= SITE_PAGES; i++)
		emit_warm_stub(rw + warm_stub_off(i));
	for (int i = 1; i <= SITE_PAGES; i++) {
		emit_page_run(rw + warm_stub_off(i) + PAGE_RUN, PAGE_RUN_EXIT - PAGE_RUN);
		emit_page_run(rw + warm_stub_off(i) + PAGE_RUN_EXIT, PAGE_GATE - PAGE_RUN_EXIT);
		rw[warm_stub_off(i) + PAGE_GATE] = !atomic_load(&hot.bare);
	}
}

/* A thread without a TLS of its own is coming: the fast routes read a
 * thread state, so they close (async-signal-safe: one byte a page; the
 * routes follow at the next route_all) */
static void fast_close_gates(void)
{
	for (int i = 1; hook.rw && i <= SITE_PAGES; i++)
		((volatile uint8_t *)hook.rw)[warm_stub_off(i) + PAGE_GATE] = 0;
}

static void clone_exit(struct fast_frame *f, long nr, uintptr_t site, bool vfork, bool sud);

/* The stub that makes a clone/vfork sharing the memory (k->nr) for the
 * syscall instruction that ends at k->site, then returns there.  In the
 * child: with child_sud SUD on first (keeping every register but rax (0),
 * rcx, r11), with child_exit (a thread with its own TLS, a vfork child) the
 * exit handler too.  In the parent (or on failure) the exit handler with
 * the result.
 * The handler runs as a trampoline's does: red zone stepped over,
 * registers saved as a struct fast_frame, flags put back from r11 (as the
 * kernel leaves them), rcx = the return address. */
static void emit_stub(uint8_t *rw, const struct stub_key *k)
{
	struct sc_emit e = { rw, 0 };
	uint8_t *to_parent, *to_tail = NULL, *event;

	put(&e, "\x0f\x05", 2);		/* syscall */
	put(&e, "\x48\x85\xc0", 3);	/* test rax, rax */
	put(&e, "\x0f\x85\0\0\0\0", 6); /* jnz parent */
	to_parent = e.p;
	if (k->child_sud) {
		/* past the red zone: a vfork child is on its parent's stack */
		put(&e, "\x48\x8d\x64\x24\x80", 5);	    /* lea rsp, [rsp - 128] */
		put(&e, "\x57\x56\x52\x41\x52\x41\x50", 7); /* push rdi, rsi, rdx, r10, r8 */
		put(&e, "\xb8\x9d\x00\x00\x00", 5);	    /* mov eax, SYS_prctl */
		put(&e, "\xbf\x3b\x00\x00\x00", 5); /* mov edi, PR_SET_SYSCALL_USER_DISPATCH */
		put(&e, "\xbe\x01\x00\x00\x00", 5); /* mov esi, PR_SYS_DISPATCH_ON */
		put(&e, "\x48\xba", 2);		    /* mov rdx, region */
		put64(&e, (uint64_t)(uintptr_t)hook.region);
		put(&e, "\x49\xba", 2); /* mov r10, REGION_SIZE */
		put64(&e, REGION_SIZE);
		put(&e, "\x49\xb8", 2); /* mov r8, &hot.selector */
		put64(&e, (uint64_t)(uintptr_t)&hot.selector);
		put(&e, "\x0f\x05", 2);				/* syscall */
		put(&e, "\x41\x58\x41\x5a\x5a\x5e\x5f", 7);	/* pop r8, r10, rdx, rsi, rdi */
		put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
		put(&e, "\x31\xc0", 2);				/* xor eax, eax */
	}
	if (!k->child_exit) {
		put(&e, "\xe9\0\0\0\0", 5); /* jmp tail */
		to_tail = e.p;
	}
	event = e.p; /* parent, or a thread child: the exit handler */
	fix32(to_parent, event);
	emit_frame_enter(&e);
	put(&e, "\xbe", 1); /* mov esi, nr */
	put(&e, &(uint32_t){ (uint32_t)k->nr }, 4);
	put(&e, "\x48\xba", 2); /* mov rdx, site */
	put64(&e, (uint64_t)k->site);
	put(&e, "\xb9", 1); /* mov ecx, vfork */
	put(&e, &(uint32_t){ k->vfork }, 4);
	put(&e, "\x41\xb8", 2); /* mov r8d, child_sud */
	put(&e, &(uint32_t){ k->child_sud }, 4);
	put(&e, "\x48\xb8", 2); /* mov rax, clone_exit */
	put64(&e, (uint64_t)(uintptr_t)clone_exit);
	put(&e, "\xff\xd0", 2); /* call rax */
	emit_frame_leave(&e);
	put(&e, "\x41\x53\x9d", 3);			/* push r11; popfq: the kernel's flags */
	put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
	if (to_tail)
		fix32(to_tail, e.p);
	put(&e, "\x48\xb9", 2); /* tail: mov rcx, site */
	put64(&e, (uint64_t)k->site);
	put(&e, "\xff\xe1", 2); /* jmp rcx */
}

/* the stub for @k, made on first use; NULL when the region is full */
static void *clone_stub(const struct stub_key *k)
{
	void *stub = NULL;
	int i;

	while (atomic_flag_test_and_set_explicit(&hook.stub_lock, memory_order_acquire))
		;
	for (i = 0; i < hook.n_stubs; i++)
		if (hook.stub[i].site == k->site && hook.stub[i].nr == k->nr &&
		    hook.stub[i].child_sud == k->child_sud &&
		    hook.stub[i].child_exit == k->child_exit && hook.stub[i].vfork == k->vfork)
			break;
	if (i == hook.n_stubs && i < MAX_STUBS) {
		emit_stub(hook.rw + REGION_STUBS + (size_t)i * STUB_SIZE, k);
		hook.stub[i] = *k;
		atomic_thread_fence(memory_order_seq_cst);
		hook.n_stubs++;
	}
	if (i < hook.n_stubs)
		stub = hook.region + REGION_STUBS + (size_t)i * STUB_SIZE;
	atomic_flag_clear_explicit(&hook.stub_lock, memory_order_release);
	return stub;
}

/* ---- the SIGSYS handler ------------------------------------------------- */

/* A signal that is not ours (@a: the program's action, kept aside): its
 * handler, or what would have happened without us (the default action,
 * raised again once we return) */
static void chain_action(const struct ksigaction *a, int sig, siginfo_t *si, void *uc)
{
	struct ksigaction dfl = { .handler = SIG_DFL };

	if (a->handler == SIG_IGN)
		return;
	if (a->handler == SIG_DFL) {
		uint64_t set = 1ull << (sig - 1);

		if (sig == SIGTRAP)
			atomic_store(&trap_on, false);
		raw(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
		raw(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&set, 0, 8, 0, 0);
		raw(SYS_tgkill, raw(SYS_getpid, 0, 0, 0, 0, 0, 0),
		    raw(SYS_gettid, 0, 0, 0, 0, 0, 0), sig, 0, 0, 0);
		return;
	}
	if (a->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
	else
		((void (*)(int))a->handler)(sig);
}

BPFTIME_HOT static void run_enter(struct bpftime_syscall *sc, bool can_override)
{
	bpftime_syscall_fn fn = atomic_load_explicit(&hot.enter, memory_order_acquire);

	if (!fn || ts.in_handler || !watched(sc->nr, BPFTIME_SYSCALL_WATCH_ENTER))
		return;
	ts.in_handler++;
	ts.cur = sc;
	ts.can_override = can_override;
	fn(sc, atomic_load_explicit(&hot.data, memory_order_relaxed));
	ts.can_override = false;
	ts.cur = NULL;
	ts.in_handler--;
	if (!can_override)
		sc->override = false;
}

BPFTIME_HOT static void run_exit(struct bpftime_syscall *sc)
{
	bpftime_syscall_fn fn = atomic_load_explicit(&hot.exit, memory_order_acquire);

	if (!fn || ts.in_handler || !watched(sc->nr, BPFTIME_SYSCALL_WATCH_EXIT))
		return;
	ts.in_handler++;
	ts.cur = sc;
	fn(sc, atomic_load_explicit(&hot.data, memory_order_relaxed));
	ts.cur = NULL;
	ts.in_handler--;
}

/* @sc: the syscall whose registers a trampoline or stub saved in @f */
BPFTIME_HOT static inline void from_frame(struct bpftime_syscall *sc, struct fast_frame *f, long nr,
					  int64_t result, uintptr_t ip)
{
	sc->nr = nr;
	sc->args[0] = f->rdi;
	sc->args[1] = f->rsi;
	sc->args[2] = f->rdx;
	sc->args[3] = f->r10;
	sc->args[4] = f->r8;
	sc->args[5] = f->r9;
	sc->ret = result;
	sc->override = false;
	sc->no_exit = false;
	sc->uctx = NULL;
	sc->frame = f;
	sc->ip = ip;
}

/* The exit of a clone/clone3/vfork made by a stub, in the parent, a thread
 * child or a @vfork child (not a signal handler): the registers are in @f,
 * the result in f->rax.  A vfork child runs on its parent's memory, thread
 * state included, while the parent waits: the ids there are the child's
 * until the parent runs again, here too. */
__attribute__((used)) static void clone_exit(struct fast_frame *f, long nr, uintptr_t site,
					     bool vfork, bool sud)
{
	struct bpftime_syscall sc;
	int saved_errno = errno;

	frame_mine(f);
	if (vfork) {
		if (!f->rax)
			ts.vfork_depth++;
		else if ((int64_t)f->rax > 0 && ts.vfork_depth > 0)
			ts.vfork_depth--;
		ids_changed();
	} else if (!f->rax) {
		ts.tid = 0;	  /* a new thread: its own id */
		ts.enabled = sud; /* and its own state: SUD as the stub left it */
	}
	if (hot.selector != SYSCALL_DISPATCH_FILTER_BLOCK)
		return;
	from_frame(&sc, f, nr, (int64_t)f->rax, site);
	run_exit(&sc);
	errno = saved_errno;
}

static long call(const struct bpftime_syscall *sc)
{
	return raw(sc->nr, (long)sc->args[0], (long)sc->args[1], (long)sc->args[2],
		   (long)sc->args[3], (long)sc->args[4], (long)sc->args[5]);
}

/* SIGSYS, and SIGTRAP while the net's int3 sites may exist: a blocked one
 * would kill the process at the next trap */
static uint64_t keep_bits(void)
{
	return SIGSYS_BIT |
	       (atomic_load_explicit(&trap_on, memory_order_relaxed) ? SIGTRAP_BIT : 0);
}

/* @sc made, except that masks lose the signals we need, and the program's
 * action for one of them is kept aside (ours stays) */
static long call_fixed(const struct bpftime_syscall *sc)
{
	struct bpftime_syscall real = *sc;
	struct ksigaction act_copy, *aside = NULL;
	uint64_t mask_copy, ms[2];

	if (sc->nr == SYS_rt_sigprocmask && sc->args[1] &&
	    (sc->args[0] == SIG_BLOCK || sc->args[0] == SIG_SETMASK) && sc->args[3] == 8) {
		memcpy(&mask_copy, (const void *)(uintptr_t)sc->args[1], 8);
		mask_copy &= ~keep_bits();
		real.args[1] = (uint64_t)(uintptr_t)&mask_copy;
	} else if (sc->nr == SYS_rt_sigsuspend || sc->nr == SYS_ppoll ||
		   sc->nr == SYS_epoll_pwait || sc->nr == SYS_epoll_pwait2) {
		/* a mask for the call's duration (a handler runs with it) */
		int at = sc->nr == SYS_rt_sigsuspend ? 0 : sc->nr == SYS_ppoll ? 3 : 4;

		if (sc->args[at] && sc->args[at + 1] == 8) {
			memcpy(&mask_copy, (const void *)(uintptr_t)sc->args[at], 8);
			mask_copy &= ~keep_bits();
			real.args[at] = (uint64_t)(uintptr_t)&mask_copy;
		}
	} else if ((sc->nr == SYS_pselect6 || sc->nr == SYS_io_pgetevents) && sc->args[5]) {
		/* { const sigset_t *mask; size_t size } */
		memcpy(ms, (const void *)(uintptr_t)sc->args[5], sizeof(ms));
		if (ms[0] && ms[1] == 8) {
			memcpy(&mask_copy, (const void *)(uintptr_t)ms[0], 8);
			mask_copy &= ~keep_bits();
			ms[0] = (uint64_t)(uintptr_t)&mask_copy;
			real.args[5] = (uint64_t)(uintptr_t)ms;
		}
	} else if (sc->nr == SYS_rt_sigaction && sc->args[3] == 8) {
		if (sc->args[0] == SIGSYS)
			aside = &hook.app_sigsys;
		else if (sc->args[0] == SIGTRAP && atomic_load(&trap_on))
			aside = &app_sigtrap;
		if (aside) {
			/* our handler stays; the program's is kept aside.  A
			 * vfork child (this thread's memory and TLS, its own
			 * actions) keeps ours too (it runs our int3 sites until
			 * its exec) and leaves the parent's copy alone */
			bool child = ts.vfork_depth > 0 ||
				     raw(SYS_gettid, 0, 0, 0, 0, 0, 0) != bpftime_syscall_tid();

			if (sc->args[2])
				memcpy((void *)(uintptr_t)sc->args[2], aside, sizeof(*aside));
			if (sc->args[1] && !child)
				memcpy(aside, (const void *)(uintptr_t)sc->args[1], sizeof(*aside));
			return 0;
		}
		if (sc->args[1]) {
			memcpy(&act_copy, (const void *)(uintptr_t)sc->args[1], sizeof(act_copy));
			act_copy.mask &= ~keep_bits();
			real.args[1] = (uint64_t)(uintptr_t)&act_copy;
		}
	}
	return call(&real);
}

static void fork_child(void);

/* the clone flags of fork, vfork, clone or clone3 (@a0, @a1: its first
 * arguments; clone3's struct read); false for any other call, or clone3
 * without its flags */
static bool clone_flags(long nr, uint64_t a0, uint64_t a1, uint64_t *flags)
{
	switch (nr) {
	case SYS_fork:
		*flags = 0;
		return true;
	case SYS_vfork:
		*flags = CLONE_VM | CLONE_VFORK;
		return true;
	case SYS_clone:
		*flags = a0;
		return true;
	case SYS_clone3:
		if (!a0 || a1 < 8)
			return false;
		memcpy(flags, (const void *)(uintptr_t)a0, 8);
		return true;
	default:
		return false;
	}
}

/* A clone (@flags) or clone3 (@args, @size) about to make a thread that
 * would run on this thread's TLS: counted before it exists, with this
 * thread's tid set, for tls_mine() */
static void count_bare(uint64_t flags, uint64_t args, uint64_t size)
{
	if (args && size >= 8)
		memcpy(&flags, (const void *)(uintptr_t)args, 8);
	else if (args)
		return;
	if ((flags & CLONE_VM) && !(flags & (CLONE_VFORK | CLONE_SETTLS))) {
		bpftime_syscall_tid();
		atomic_fetch_add(&hot.bare, 1);
		fast_close_gates();
	}
}

/* a clone sharing the memory: off to the stub (true), or made here */
static bool redirect_clone(struct bpftime_syscall *sc, greg_t *g)
{
	struct stub_key k;
	uint64_t flags;
	void *stub;

	if (!clone_flags(sc->nr, sc->args[0], sc->args[1], &flags))
		return false; /* the kernel's EFAULT/EINVAL, made here */
	if (!(flags & CLONE_VM))
		return false;
	k.site = (uintptr_t)g[REG_RIP];
	k.nr = sc->nr;
	/* SUD on in a child with a TLS of its own, and in a vfork child
	 * (this thread's state, this thread waiting); a bare child on this
	 * thread's TLS gets none (see the top): counted before it exists,
	 * with this thread's tid set for tls_mine() */
	k.child_sud = (flags & (CLONE_VFORK | CLONE_SETTLS)) != 0;
	count_bare(flags, 0, 0);
	/* a bare CLONE_VM child would run the handler on the thread state of
	 * a parent that runs on: no exit there; a vfork child has it alone */
	k.vfork = (flags & CLONE_VFORK) != 0;
	k.child_exit = k.child_sud || k.vfork;
	stub = clone_stub(&k);
	if (!stub)
		return false; /* cannot happen with fewer than MAX_STUBS sites */
	run_enter(sc, false);
	g[REG_RIP] = (greg_t)(uintptr_t)stub;
	g[REG_RAX] = (greg_t)sc->nr;
	return true;
}

/* Reads @n bytes at @at of this process's memory without faulting: 0 or
 * -EFAULT */
static int read_safe(uintptr_t at, void *buf, size_t n)
{
	struct iovec local = { buf, n }, remote = { (void *)at, n };

	return raw(SYS_process_vm_readv, raw(SYS_getpid, 0, 0, 0, 0, 0, 0), (long)&local, 1,
		   (long)&remote, 1, 0) == (long)n
		       ? 0
		       : -EFAULT;
}

/* where the registers are in the kernel's struct ucontext (x86-64: flags,
 * link, stack, then the sigcontext) */
#define KUC_GREGS 40

/* A signal handler returns with its frame at @uc (the stack pointer of
 * its rt_sigreturn).  When the frame is that of a syscall the kernel is
 * restarting (a handler with SA_RESTART over -ERESTARTSYS, or
 * -ERESTARTNOINTR: rip moved back onto the `syscall`, rax = the number
 * again, rcx = the address after the `syscall`, which its entry set; our
 * paths clear rcx before their own `syscall`, so a frame taken before the
 * entry never looks so), the kernel's tracepoints showed the call's exit
 * with that error before the handler ran and will show its enter again
 * when it restarts: the handlers see both here (the exit after the
 * handler's own calls; its error -ERESTARTSYS, SA_RESTART's: the frame
 * does not tell -ERESTARTNOINTR, rarer, apart).  A restart through
 * restart_syscall (-ERESTART_RESTARTBLOCK: rax 219, nanosleep's) is not
 * reported. */
static void restart_events(uintptr_t uc)
{
	struct bpftime_syscall sc;
	uint64_t g[NGREG];
	uint16_t insn;

	if (!atomic_load_explicit(&hot.exit, memory_order_relaxed) &&
	    !atomic_load_explicit(&hot.enter, memory_order_relaxed))
		return;
	/* the frame the kernel wrote where the handler returns: read as the
	 * kernel is about to (a frame it cannot read kills the thread with
	 * SIGSEGV either way); rip, which a program may have set to
	 * anything, only without faulting */
	ASAN_MINE((void *)(uc + KUC_GREGS), sizeof(g));
	memcpy(g, (const void *)(uc + KUC_GREGS), sizeof(g));
	if (g[REG_RCX] != g[REG_RIP] + 2 || g[REG_RAX] == SYS_restart_syscall ||
	    read_safe(g[REG_RIP], &insn, 2) || insn != 0x050f)
		return;
	sc.nr = (int64_t)g[REG_RAX];
	sc.args[0] = g[REG_RDI];
	sc.args[1] = g[REG_RSI];
	sc.args[2] = g[REG_RDX];
	sc.args[3] = g[REG_R10];
	sc.args[4] = g[REG_R8];
	sc.args[5] = g[REG_R9];
	sc.ret = -512; /* -ERESTARTSYS */
	sc.override = false;
	sc.no_exit = false;
	sc.uctx = NULL;
	sc.frame = NULL;
	sc.ip = g[REG_RIP] + 2;
	run_exit(&sc);
	sc.ret = 0;
	run_enter(&sc, false);
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	int saved_errno;
	struct bpftime_syscall sc;

	sigframe_mine(si, uc);
	saved_errno = errno;
	if (si->si_code != SYS_USER_DISPATCH) {
		chain_action(&hook.app_sigsys, sig, si, ucv);
		return;
	}
	if (unlikely(!tls_mine())) {
		/* a thread on another's TLS (SUD turned on there by the
		 * program): SUD off, and the instruction again, natively */
		sud(false);
		g[REG_RIP] -= 2;
		g[REG_RAX] = si->si_syscall;
		goto out;
	}
	sc.nr = si->si_syscall;
	sc.args[0] = (uint64_t)g[REG_RDI];
	sc.args[1] = (uint64_t)g[REG_RSI];
	sc.args[2] = (uint64_t)g[REG_RDX];
	sc.args[3] = (uint64_t)g[REG_R10];
	sc.args[4] = (uint64_t)g[REG_R8];
	sc.args[5] = (uint64_t)g[REG_R9];
	sc.ret = 0;
	sc.override = false;
	sc.no_exit = false;
	sc.uctx = uc;
	sc.frame = NULL;
	sc.ip = (uint64_t)g[REG_RIP];

	switch (sc.nr) {
	case SYS_rt_sigreturn:
		/* from the region, with this stack pointer: the kernel finds
		 * the frame of the handler that returns */
		sc.no_exit = true;
		run_enter(&sc, false);
		restart_events((uintptr_t)g[REG_RSP]);
		g[REG_RIP] = (greg_t)(uintptr_t)(hook.region + REGION_SIGRETURN);
		g[REG_RAX] = SYS_rt_sigreturn;
		goto out;
	case SYS_clone:
	case SYS_clone3:
	case SYS_vfork:
		if (redirect_clone(&sc, g))
			goto out;
		/* fork-like: made here; the child turns SUD on again */
		run_enter(&sc, false);
		sc.ret = call(&sc);
		if (sc.ret == 0) {
			ids_changed();
			fork_child();
			enable_self();
		}
		run_exit(&sc);
		g[REG_RAX] = (greg_t)sc.ret;
		goto out;
	case SYS_fork:
		run_enter(&sc, false);
		sc.ret = call(&sc);
		if (sc.ret == 0) {
			ids_changed();
			fork_child();
			enable_self();
		}
		run_exit(&sc);
		g[REG_RAX] = (greg_t)sc.ret;
		goto out;
	case SYS_execve:
	case SYS_execveat:
		run_enter(&sc, true);
		if (!sc.override) {
			sud(false);
			sc.ret = call(&sc);
			sud(true);
		}
		run_exit(&sc);
		g[REG_RAX] = (greg_t)sc.ret;
		goto out;
	case SYS_exit:
	case SYS_exit_group:
		sc.no_exit = true;
		run_enter(&sc, false);
		call(&sc);
		goto out;
	case SYS_prctl:
		if (sc.args[0] == PR_SET_SYSCALL_USER_DISPATCH) {
			/* ours while the hook runs */
			run_enter(&sc, false);
			sc.ret = -EBUSY;
			run_exit(&sc);
			g[REG_RAX] = (greg_t)sc.ret;
			goto out;
		}
		break;
	default:
		break;
	}

	run_enter(&sc, true);
	if (!sc.override) {
		sc.ret = call_fixed(&sc);
		if (unlikely(atomic_load(&hot.exec_watch)) && exec_nr(sc.nr) && !ts.in_handler)
			net_new_code(&sc);
	}
	run_exit(&sc);
	g[REG_RAX] = (greg_t)sc.ret;
	if (fast.on && !ts.in_handler)
		consider((uintptr_t)g[REG_RIP], sc.nr);
out:
	errno = saved_errno;
}

/* ---- rewritten sites -----------------------------------------------------
 *
 * The slow path costs a signal per syscall.  A site where SUD proved a
 * `syscall` instruction sits, preceded by `mov eax, NR` (glibc's wrappers:
 * b8 NR 00 00 00 0f 05), inside a function the dynamic symbols describe, is
 * rewritten by the patcher thread: the 5-byte mov becomes `jmp rel32` to a
 * trampoline next to it that steps over the red zone, saves the registers,
 * calls fast_entry() (the same handlers; the syscall is made from the
 * region), restores everything the kernel would (rax result, rcx return
 * address, r11 rflags) and jumps back after the syscall.  The syscall
 * instruction itself stays: a thread preempted between the two, or a
 * syscall restarted by the kernel (rip rewound onto it) still runs it and
 * SUD still catches it.  The function is decoded from its start to prove
 * the mov is an instruction of its own; the 5 bytes are replaced by one
 * aligned 8-byte compare-and-swap (sites whose bytes straddle an 8-byte word
 * stay on the slow path).  Sites that cannot be proven stay on SUD. */

/* code bytes are not aligned: memcpy (UBSan's alignment check) */
static uint32_t load32(uintptr_t p)
{
	uint32_t v;

	memcpy(&v, (const void *)p, 4);
	return v;
}

/* bpftime_syscall_hook__fast()'s lists (under routes.lock): [nr][0] enter,
 * [nr][1] exit */
static struct {
	const struct bpftime_syscall_fast_prog *list[WATCH_MAX][2];
	int32_t busy; /* busy_off, kept from the first call */
	bool busy_set;
} fastl;

/* under routes.lock: may @fs take its fast route (emit_fast) now? */
static bool fast_ok(const struct fast_site *fs)
{
	unsigned int w;

	if (!fs->fast || fs->nr < 0 || fs->nr >= WATCH_MAX || exec_nr(fs->nr) ||
	    atomic_load(&hot.bare))
		return false;
	w = watch_bits(fs->nr);
	return w && (!(w & BPFTIME_SYSCALL_WATCH_ENTER) || fastl.list[fs->nr][0]) &&
	       (!(w & BPFTIME_SYSCALL_WATCH_EXIT) || fastl.list[fs->nr][1]);
}

/* under routes.lock: the route @fs takes now */
static void set_route(const struct fast_site *fs)
{
	if (!fs->route)
		return; /* a site of any syscall: fast_entry decides */
	/* (new executable code is checked in the full route) */
	bool full = hot.selector == SYSCALL_DISPATCH_FILTER_BLOCK &&
		    (watched(fs->nr, BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT) ||
		     (exec_nr(fs->nr) && atomic_load(&hot.exec_watch)));

	atomic_store(fs->route, !full ? fs->direct : fast_ok(fs) ? fs->fast : fs->full);
}

/* every rewritten site follows the watch table and the selector */
static void route_all(void)
{
	pthread_mutex_lock(&routes.lock);
	for (int i = 0; i < routes.n; i++)
		set_route(&routes.site[i]);
	pthread_mutex_unlock(&routes.lock);
}

/* under routes.lock: an 8-byte RW slot that a `jmp [rip + disp32]` at
 * @at reaches, or NULL */
static _Atomic uint64_t *route_slot(uintptr_t at)
{
	int i;

	for (i = 0; i < routes.n_pages; i++) {
		uintptr_t b = (uintptr_t)routes.pages[i].base;

		if (routes.pages[i].used < 4096 / 8 && rel32_ok(b, at + 6) &&
		    rel32_ok(b + 4096, at + 6))
			break;
	}
	if (i == routes.n_pages) {
		uint8_t *page;

		if (i == SLOTS_PAGES || !(page = hook_alloc_near(at)))
			return NULL;
		routes.pages[i].base = page;
		routes.pages[i].used = 0;
		routes.n_pages++;
		if (!rel32_ok((uintptr_t)page, at + 6) || !rel32_ok((uintptr_t)page + 4096, at + 6))
			return NULL;
	}
	return (_Atomic uint64_t *)(void *)(routes.pages[i].base + 8 * routes.pages[i].used++);
}

static int peek(uintptr_t at, void *buf, size_t n);

/* Puts the 5 bytes @to (a mov site's jmp, or its own bytes again) at @at
 * where @from is now, with one aligned 8-byte compare-and-swap (the caller
 * made sure they do not straddle two words), the page made writable for
 * it.  0, or -EAGAIN when the bytes were not @from, or -errno.
 *
 * (Not through /proc/self/mem, int3 first, which would leave the page's
 * protection alone: tried, and a library's text written so while its
 * constructor ran ended up with the jmp's opcode over the `mov`'s own
 * immediate, every step having read back as written: the page the last
 * write reached was not the one the others had.  /proc/self/mem also
 * returned EIO there.  docs/syscall-tracepoints.md, known limits.) */
static int poke5(uintptr_t at, const uint8_t *to, const uint8_t *from)
{
	uintptr_t word = at & ~(uintptr_t)7;
	void *page = (void *)(word & ~(uintptr_t)4095);
	uint64_t old, new;
	int err = 0;

	pthread_mutex_lock(&poke_lock);
	err = (int)raw(SYS_mprotect, (long)page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
	if (err) {
		pthread_mutex_unlock(&poke_lock);
		return err;
	}
	old = __atomic_load_n((uint64_t *)word, __ATOMIC_RELAXED);
	new = old;
	memcpy((uint8_t *)&new + (at - word), to, 5);
	if (memcmp((uint8_t *)&old + (at - word), from, 5) ||
	    !__atomic_compare_exchange_n((uint64_t *)word, &old, new, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		err = -EAGAIN;
	raw(SYS_mprotect, (long)page, 4096, PROT_READ | PROT_EXEC, 0, 0, 0);
	pthread_mutex_unlock(&poke_lock);
	return err;
}

/* Every rewritten site back to its own bytes (@on false: no cost at all
 * while the hook is off) or to its jmp again.  A thread inside a
 * trampoline finishes there: trampolines stay. */
static void patch_all(bool on)
{
	pthread_mutex_lock(&routes.lock);
	routes.off = !on;
	for (int i = 0; i < routes.n; i++) {
		struct fast_site *fs = &routes.site[i];
		if (fs->dead || fs->patched == on)
			continue;
		if (on ? poke5(fs->mov, fs->jmp, fs->orig) : poke5(fs->mov, fs->orig, fs->jmp))
			fs->dead = true;
		else
			fs->patched = on;
	}
	pthread_mutex_unlock(&routes.lock);
}

static bool made_here(struct fast_frame *f, long nr, uintptr_t ret);

/* fork, or clone/clone3 without CLONE_VM */
static bool fork_like(long nr, uint64_t a0, uint64_t a1)
{
	uint64_t flags;

	return clone_flags(nr, a0, a1, &flags) && !(flags & (CLONE_VM | CLONE_VFORK));
}

/* a vfork, or a clone/clone3 that shares the memory and stops the parent
 * until the child's exec or exit (posix_spawn's) */
static bool vfork_like(long nr, uint64_t a0, uint64_t a1)
{
	uint64_t flags;

	return clone_flags(nr, a0, a1, &flags) &&
	       (flags & (CLONE_VM | CLONE_VFORK)) == (CLONE_VM | CLONE_VFORK);
}

BPFTIME_HOT static bool special_nr(long nr)
{
	switch (nr) {
	case SYS_rt_sigreturn:
	case SYS_clone:
	case SYS_clone3:
	case SYS_vfork:
	case SYS_fork:
	case SYS_execve:
	case SYS_execveat:
	case SYS_exit:
	case SYS_exit_group:
	case SYS_prctl:
	case SYS_rt_sigprocmask:
	case SYS_rt_sigaction:
		return true;
	default:
		return false;
	}
}

/* What fast_entry() tells the trampoline (in al): leave to f->rcx, or its
 * exit route, then fast_exit(), or its exit route with the result into
 * the frame (f->rcx and f->r11 set already) */
enum { ROUTE_LEAVE = 0, ROUTE_EXIT = 1, ROUTE_CALL = 2 };

/* fast_entry() with no handler to run: the call only (in the region's
 * exit route: after C, the call there costs less than through the direct
 * route; see fast_entry_rest) */
BPFTIME_HOT static inline int fast_call_only(struct fast_frame *f, uintptr_t ret, raw_fn call_fn,
					     uintptr_t direct)
{
	if (!call_fn) {
		f->rcx = ret;
		f->r11 = f->flags;
		return ROUTE_CALL;
	}
	f->rcx = direct;
	return ROUTE_LEAVE;
}

/* fast_entry() past the questions (@w: the watch bits of the call; the
 * thread is in no handler): the handlers */
BPFTIME_HOT static inline int fast_entry_rest(struct fast_frame *f, struct bpftime_syscall *sc,
					      unsigned int w, uintptr_t ret, raw_fn call_fn,
					      uintptr_t direct)
{
	long nr = sc->nr;
	bpftime_syscall_fn fn;

	/* run_enter(sc, true), with what fast_entry knows already */
	if ((w & BPFTIME_SYSCALL_WATCH_ENTER) &&
	    (fn = atomic_load_explicit(&hot.enter, memory_order_acquire))) {
		ts.in_handler = 1;
		ts.cur = sc;
		ts.can_override = true;
		fn(sc, atomic_load_explicit(&hot.data, memory_order_relaxed));
		ts.can_override = false;
		ts.cur = NULL;
		ts.in_handler = 0;
	}
	if (!sc->override) {
		bool exit = (w & BPFTIME_SYSCALL_WATCH_EXIT) &&
			    atomic_load_explicit(&hot.exit, memory_order_relaxed);

		/* a trampoline in the region: its exit route, with the exit
		 * handler or without (after the handlers, the call there costs
		 * ~40 ns less than through the direct route: systp_bench, 1
		 * prog against 2 in one process; not an instruction count);
		 * without, the trampoline puts the result in the frame */
		if (!call_fn && !exit) {
			f->rcx = ret;
			f->r11 = f->flags;
			return ROUTE_CALL;
		}
		if (!call_fn)
			return ROUTE_EXIT;
		if (!exit) {
			f->rcx = direct; /* no exit handler: the call on the way out */
			return ROUTE_LEAVE;
		}
		sc->ret = call_fn(nr, (long)f->rdi, (long)f->rsi, (long)f->rdx, (long)f->r10,
				  (long)f->r8, (long)f->r9);
	}
	run_exit(sc);
	f->rax = (uint64_t)sc->ret;
	f->rcx = ret;
	f->r11 = f->flags;
	return ROUTE_LEAVE;
}

static int fast_entry_unusual(struct fast_frame *f, long nr, uintptr_t ret, raw_fn call_fn,
			      uintptr_t direct, uintptr_t site_sc);

/* A vfork-like call on a thread without SUD (the signal path's
 * redirect_clone() is not there): made by a stub (clone_exit in the child
 * and the parent, which share the thread state), the enter handler first.
 * The stub returns to @ret; none left: the site's own `syscall`. */
static int vfork_by_stub(struct fast_frame *f, long nr, uintptr_t ret, uintptr_t site_sc)
{
	struct stub_key k = { .site = ret, .nr = nr, .child_exit = true, .vfork = true };
	struct bpftime_syscall sc;
	void *stub = clone_stub(&k);

	if (!stub) {
		f->rcx = site_sc;
		return ROUTE_LEAVE;
	}
	if (hot.selector == SYSCALL_DISPATCH_FILTER_BLOCK && tls_mine()) {
		from_frame(&sc, f, nr, 0, ret);
		run_enter(&sc, false);
	}
	f->rax = (uint64_t)nr;
	f->rcx = (uintptr_t)stub;
	return ROUTE_LEAVE;
}

/* Called by the trampolines (not a signal handler), with the registers
 * saved in @f.  Leaves in f->rcx where the trampoline goes once it has
 * restored them: @direct (the direct route makes the call: nothing runs
 * between the kernel's return and the site but the trampoline's page,
 * where each other page would cost a walk) or @ret with the result in
 * f->rax (the call made here through @call_fn for the exit handler, or
 * skipped by an override).  Either way rcx ends as the kernel leaves it:
 * the return address (ROUTE_LEAVE).  A trampoline in the region (@call_fn
 * NULL) makes the call itself after the handlers: then ROUTE_EXIT, and it
 * calls fast_exit() next, or ROUTE_CALL without an exit handler, and it
 * puts the result in f->rax (f->rcx, f->r11 set here).  (A `syscall; ret`
 * costs ~90 ns more than `syscall; jmp` here: the `ret` right after a
 * kernel entry; bench/syscall_floor.) */
BPFTIME_HOT __attribute__((used)) static int fast_entry(struct fast_frame *f, long nr,
							uintptr_t ret, raw_fn call_fn,
							uintptr_t direct, uintptr_t site_sc)
{
	struct bpftime_syscall sc;
	unsigned int w;

	frame_mine(f);
	if (unlikely(unusual_nr(nr)))
		return fast_entry_unusual(f, nr, ret, call_fn, direct, site_sc);
	if (hot.selector != SYSCALL_DISPATCH_FILTER_BLOCK || unlikely(!tls_mine())) {
		f->rcx = direct;
		return ROUTE_LEAVE;
	}
	w = watch_bits(nr);
	if (!w || ts.in_handler) /* nobody wants it, or a handler's own call */
		return fast_call_only(f, ret, call_fn, direct);
	from_frame(&sc, f, nr, 0, ret);
	return fast_entry_rest(f, &sc, w, ret, call_fn, direct);
}

/* A watched special number on a thread without SUD (the net off), from a
 * trampoline's frame: what on_sigsys() does for it (rt_sigreturn, the
 * signal calls and the fork- and vfork-like ones are taken before).
 * exit, exit_group: the enter, then the call natively (it does not come
 * back).  A thread (clone, clone3 with CLONE_VM): made by a stub, whose
 * exit handler runs in the parent and, in a child with a TLS of its own,
 * in the child (no SUD for it: the net is off in every thread).  The
 * program's own Syscall User Dispatch: EBUSY, as with the net on.  The
 * rest (execve, execveat, prctl): made here, enter (which may override)
 * and exit around it; an exec that succeeds does not come back. */
static int special_here(struct fast_frame *f, long nr, uintptr_t ret, uintptr_t site_sc)
{
	struct bpftime_syscall sc;
	uint64_t flags;

	from_frame(&sc, f, nr, 0, ret);
	switch (nr) {
	case SYS_exit:
	case SYS_exit_group:
		sc.no_exit = true;
		run_enter(&sc, false);
		f->rcx = site_sc;
		return ROUTE_LEAVE;
	case SYS_clone:
	case SYS_clone3:
		if (!clone_flags(nr, f->rdi, f->rsi, &flags))
			break; /* the kernel's EFAULT or EINVAL, made here */
		run_enter(&sc, false);
		if (!(flags & CLONE_VM)) {
			/* a copy (CLONE_VFORK without CLONE_VM, which
			 * fork_like() leaves): made here, the child with ids
			 * of its own */
			sc.ret = call(&sc);
			if (sc.ret == 0) {
				ids_changed();
				fork_child();
			}
			goto made;
		} else {
			static atomic_bool said;
			struct stub_key k = { .site = ret,
					      .nr = nr,
					      .child_exit = (flags & CLONE_SETTLS) != 0 };
			void *stub = clone_stub(&k);

			f->rax = (uint64_t)nr;
			/* no stub left (MAX_STUBS sites): natively, its exit
			 * unseen (said once) */
			if (!stub && !atomic_exchange(&said, true))
				pr_warn("syscall hook: more than %d sites make threads: the "
					"exit of a thread made at a further one is not seen\n",
					(int)MAX_STUBS);
			f->rcx = stub ? (uintptr_t)stub : site_sc;
			return ROUTE_LEAVE;
		}
	case SYS_prctl:
		if (f->rdi == PR_SET_SYSCALL_USER_DISPATCH) {
			run_enter(&sc, false);
			sc.ret = -EBUSY;
			goto made;
		}
		break;
	default:
		break;
	}
	run_enter(&sc, true);
	if (!sc.override)
		sc.ret = call(&sc);
made:
	run_exit(&sc);
	f->rax = (uint64_t)sc.ret;
	f->rcx = ret;
	f->r11 = f->flags;
	return ROUTE_LEAVE;
}

/* fast_entry() of a special, net_c or exec number */
__attribute__((noinline)) static int fast_entry_unusual(struct fast_frame *f, long nr,
							uintptr_t ret, raw_fn call_fn,
							uintptr_t direct, uintptr_t site_sc)
{
	struct bpftime_syscall sc;
	unsigned int w;

	if (special_nr(nr)) {
		/* no SUD on this thread (the net off): no SIGSYS will come */
		bool bare =
			!ts.enabled && hot.selector == SYSCALL_DISPATCH_FILTER_BLOCK && tls_mine();

		/* a handler returning here: its enter (on_sigsys' order), and
		 * a syscall it interrupted may restart (with SUD, the SIGSYS
		 * of the site's own `syscall` asks) */
		if (nr == SYS_rt_sigreturn && bare) {
			from_frame(&sc, f, nr, 0, ret);
			sc.no_exit = true;
			run_enter(&sc, false);
			restart_events((uintptr_t)(f + 1) + RED_ZONE);
		}
		/* signal masks and actions: fixed and made here */
		if (net_c_nr(nr))
			return made_here(f, nr, ret);
		/* a fork-like call on a thread without SUD: made here, so
		 * that the child drops this thread's id; a vfork-like one
		 * through a stub (the child runs on this thread's state) */
		if (!ts.enabled && vfork_like(nr, f->rdi, f->rsi))
			return vfork_by_stub(f, nr, ret, site_sc);
		if (!ts.enabled && fork_like(nr, f->rdi, f->rsi))
			return made_here(f, nr, ret);
		/* a thread without SUD (the net off): no SIGSYS will count a
		 * child on this thread's TLS, so it is counted here */
		if ((nr == SYS_clone || nr == SYS_clone3) && !ts.enabled)
			count_bare(nr == SYS_clone ? f->rdi : 0, nr == SYS_clone3 ? f->rdi : 0,
				   f->rsi);
		if (bare && nr != SYS_rt_sigreturn && !ts.in_handler &&
		    watched(nr, BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT))
			return special_here(f, nr, ret, site_sc);
		/* a site of any syscall made one that needs the signal
		 * path: on to the site's own `syscall` (a net site: its trap
		 * gadget), which SUD catches; without SUD, natively */
		f->rcx = site_sc;
		return ROUTE_LEAVE;
	}
	if (net_c_nr(nr) ||
	    (atomic_load_explicit(&hot.exec_watch, memory_order_relaxed) && exec_nr(nr)))
		return made_here(f, nr, ret);
	if (hot.selector != SYSCALL_DISPATCH_FILTER_BLOCK || unlikely(!tls_mine())) {
		f->rcx = direct;
		return ROUTE_LEAVE;
	}
	w = watch_bits(nr);
	if (!w || ts.in_handler)
		return fast_call_only(f, ret, call_fn, direct);
	from_frame(&sc, f, nr, 0, ret);
	return fast_entry_rest(f, &sc, w, ret, call_fn, direct);
}

/* The end of a trampoline's exit route: it made the call (@result, the
 * registers in @f) right after fast_entry() asked for it.  Runs the exit
 * handler and leaves what the trampoline restores: the result in f->rax,
 * the return address in f->rcx, the flags in f->r11, as the kernel does. */
BPFTIME_HOT __attribute__((used)) static void fast_exit(struct fast_frame *f, long result,
							uintptr_t ret, long nr)
{
	struct bpftime_syscall sc;

	frame_mine(f);
	from_frame(&sc, f, nr, result, ret);
	run_exit(&sc);
	f->rax = (uint64_t)sc.ret;
	f->rcx = ret;
	f->r11 = f->flags;
}

/* After `call fast_entry` (rbx = the frame): on to the leave (false), or
 * the exit route (true): the syscall's registers from the frame (@nr, or
 * the frame's rax when @nr < 0), `syscall` right here (a trampoline in the
 * region: SUD lets it through; rsp stays below the frame), then
 * fast_exit(frame, result, @ret, nr) (@ret 0: the frame's rcx, which the
 * net's site areas set to the return address).  The caller emits the leave next. */
static void emit_exit_route(struct sc_emit *e, long nr, uintptr_t ret)
{
	uint8_t *skip, *to_exit, *to_leave;

	put(e, "\x84\xc0", 2);	       /* test al, al: ROUTE_LEAVE */
	put(e, "\x0f\x84\0\0\0\0", 6); /* jz leave */
	skip = e->p;
	put(e, "\x0f\xb6\xe8", 3);     /* movzx ebp, al (the leave restores rbp) */
	put(e, "\x48\x8b\x7b\x30", 4); /* mov rdi, [rbx + 48] */
	put(e, "\x48\x8b\x73\x38", 4); /* mov rsi, [rbx + 56] */
	put(e, "\x48\x8b\x53\x40", 4); /* mov rdx, [rbx + 64] */
	put(e, "\x4c\x8b\x53\x18", 4); /* mov r10, [rbx + 24] */
	put(e, "\x4c\x8b\x43\x28", 4); /* mov r8, [rbx + 40] */
	put(e, "\x4c\x8b\x4b\x20", 4); /* mov r9, [rbx + 32] */
	if (nr >= 0) {
		put(e, "\xb8", 1); /* mov eax, nr */
		put(e, &(uint32_t){ (uint32_t)nr }, 4);
	} else {
		put(e, "\x48\x8b\x43\x50", 4); /* mov rax, [rbx + 80]: the thread's rax */
	}
	put(e, "\x31\xc9", 2);	   /* xor ecx, ecx (restart_events) */
	put(e, "\x0f\x05", 2);	   /* syscall */
	put(e, "\x83\xfd\x02", 3); /* cmp ebp, ROUTE_CALL */
	put(e, "\x75\0", 2);	   /* jne exit */
	to_exit = e->p;
	put(e, "\x48\x89\x43\x50", 4); /* mov [rbx + 80], rax: the frame's rax */
	/* the next call's pages, while the kernel's return runs on: their
	 * walks overlap the site's own (ret, stack) */
	emit_call_warm(e);
	put(e, "\xeb\0", 2); /* jmp leave */
	to_leave = e->p;
	to_exit[-1] = (uint8_t)(e->p - to_exit);
	emit_call_warm(e); /* the exit handler's pages, after the kernel entry */
	if (nr >= 0) {
		put(e, "\xb9", 1); /* mov ecx, nr */
		put(e, &(uint32_t){ (uint32_t)nr }, 4);
	} else {
		put(e, "\x48\x8b\x4b\x50", 4); /* mov rcx, [rbx + 80]: nr */
	}
	put(e, "\x48\x89\xdf", 3); /* mov rdi, rbx */
	put(e, "\x48\x89\xc6", 3); /* mov rsi, rax */
	if (ret) {
		put(e, "\x48\xba", 2); /* mov rdx, ret */
		put64(e, (uint64_t)ret);
	} else {
		put(e, "\x48\x8b\x53\x48", 4); /* mov rdx, [rbx + 72]: the frame's rcx */
	}
	put(e, "\x48\xb8", 2); /* mov rax, fast_exit */
	put64(e, (uint64_t)(uintptr_t)fast_exit);
	put(e, "\xff\xd0", 2); /* call rax */
	to_leave[-1] = (uint8_t)(e->p - to_leave);
	fix32(skip, e->p);
}

/* The direct route's call, in the region (the only place SUD lets a call
 * through): rcx and r11 come back as the site's own `syscall` would leave
 * them (return address, rflags: nothing on the way changed the flags). */
static void emit_gadget(uint8_t *rw, uintptr_t back)
{
	struct sc_emit e = { rw, 0 };

	put(&e, "\x0f\x05", 2); /* syscall */
	put(&e, "\x48\xb9", 2); /* mov rcx, back */
	put64(&e, (uint64_t)back);
	put(&e, "\xff\xe1", 2); /* jmp rcx */
}

/* A trampoline of @n bytes built in @buf, to @dst if it fits in @room (a
 * site's area: never written past) */
static int emit_done(uint8_t *dst, const uint8_t *buf, size_t n, size_t room)
{
	if (n > room)
		return -ENOSPC;
	/* GCC 12 -O2 dropped a byte stored in @buf just before an inlined
	 * copy (`rep movsq`; its RTL dead-store pass): the barrier says the
	 * buffer is read */
	__asm__ __volatile__("" : : "r"(buf) : "memory");
	memcpy(dst, buf, n);
	return 0;
}

/* The trampoline at @at (written at @dst) of the site whose `mov eax, nr` is
 * at @mov: `jmp [route]` (the slot at @route), then the direct route, then
 * the full one (registers saved, fast_entry, registers restored).  The
 * direct route is `mov eax, nr` and the call: right there when the
 * trampoline is in the region (@gadget 0: one page touched, SUD lets the
 * call through), else at @gadget in the region (its address after the
 * code).  In the region the full route has an exit route too
 * (emit_exit_route); out of it fast_entry makes the call through raw(). */
static int emit_tramp(uint8_t *dst, uintptr_t at, uintptr_t mov, long nr, uintptr_t route,
		      uintptr_t gadget, struct fast_site *fs)
{
	uint8_t buf[2 * TRAMP_SIZE], *p = buf; /* copied to @dst if it fits */
	struct sc_emit e = { p, (intptr_t)(at - (uintptr_t)p) };
	uint8_t *gdisp = NULL;
	int64_t rel;

	if (!rel32_ok(route, at + 6))
		return -ERANGE;
	put(&e, "\xff\x25", 2); /* jmp [rip + route] */
	put(&e, &(int32_t){ (int32_t)((int64_t)route - (int64_t)(at + 6)) }, 4);
	fs->direct = at + (uintptr_t)(e.p - p);
	put(&e, "\xb8", 1); /* mov eax, nr */
	put(&e, &(uint32_t){ (uint32_t)nr }, 4);
	if (gadget) {
		put(&e, "\xff\x25", 2); /* jmp [rip + gadget address] */
		gdisp = e.p;
		put(&e, "\0\0\0\0", 4);
	} else {
		put(&e, "\x0f\x05", 2); /* syscall */
		put(&e, "\x48\xb9", 2); /* mov rcx, back: as the site's syscall leaves it */
		put64(&e, mov + 7);
		rel = (int64_t)(mov + 7) - (int64_t)(at + (uintptr_t)(e.p - p) + 5);
		if (rel != (int32_t)rel)
			return -ERANGE;
		put(&e, "\xe9", 1); /* jmp back */
		put(&e, &(int32_t){ (int32_t)rel }, 4);
	}
	fs->full = at + (uintptr_t)(e.p - p);
	emit_frame_enter(&e);
	emit_call_warm(&e);
	put(&e, "\xbe", 1); /* mov esi, nr */
	put(&e, &(uint32_t){ (uint32_t)nr }, 4);
	put(&e, "\x48\xba", 2); /* mov rdx, return address */
	put64(&e, mov + 7);
	/* the raw call for the exit handler: in the region (out of it SUD
	 * would trap the call); none (0) when the trampoline is in the
	 * region: it has an exit route */
	put(&e, "\x48\xb9", 2); /* mov rcx, the raw call */
	put64(&e, gadget ? (uint64_t)(uintptr_t)hot.raw : 0);
	put(&e, "\x49\xb8", 2); /* mov r8, the direct route */
	put64(&e, fs->direct);
	put(&e, "\x49\xb9", 2); /* mov r9, the site's syscall */
	put64(&e, mov + 5);
	put(&e, "\x48\xb8", 2); /* mov rax, fast_entry */
	put64(&e, (uint64_t)(uintptr_t)fast_entry);
	put(&e, "\xff\xd0", 2); /* call rax */
	if (!gadget)
		emit_exit_route(&e, nr, mov + 7);
	emit_frame_leave(&e);
	put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
	put(&e, "\xff\xe1", 2);				/* jmp rcx: fast_entry's choice */
	if (gadget) {
		while ((e.p - p) & 7)
			put(&e, "\xcc", 1); /* int3 */
		memcpy(gdisp, &(int32_t){ (int32_t)(e.p - (gdisp + 4)) }, 4);
		put64(&e, (uint64_t)gadget);
	}
	return emit_done(dst, buf, (size_t)(e.p - p), TRAMP_SIZE - 8);
}

/* The trampoline (in the region, at @at, written at @dst) of a site of any
 * syscall whose 5-byte instruction before the `syscall` (at @mov) is
 * relocated: it runs first, with the thread's own rsp, then the full route
 * with the number from rax; fast_entry sends the call to the direct route
 * (a syscall nobody watches, or no exit handler), to the exit route (exit
 * handler), or sends a special one back to the site's `syscall`. */
static int emit_tramp_any(uint8_t *dst, uintptr_t at, uintptr_t mov, struct fast_site *fs)
{
	uint8_t buf[2 * TRAMP_SIZE], *p = buf; /* copied to @dst if it fits */
	struct sc_emit e = { p, (intptr_t)(at - (uintptr_t)p) };
	uint8_t *directp;
	int64_t rel;

	put(&e, fs->orig, 5); /* the relocated instruction (provable()'s copy) */
	fs->full = at + (uintptr_t)(e.p - p);
	emit_frame_enter(&e);
	emit_call_warm(&e);
	put(&e, "\x48\x8b\x73", 3); /* mov rsi, [rbx + rax's slot] */
	put(&e, &(uint8_t){ (uint8_t)offsetof(struct fast_frame, rax) }, 1);
	put(&e, "\x48\xba", 2); /* mov rdx, return address */
	put64(&e, mov + 7);
	put(&e, "\x31\xc9", 2); /* xor ecx, ecx: no raw call, the exit route */
	put(&e, "\x49\xb8", 2); /* mov r8, the direct route (below) */
	directp = e.p;
	put64(&e, 0);
	put(&e, "\x49\xb9", 2); /* mov r9, the site's syscall */
	put64(&e, mov + 5);
	put(&e, "\x48\xb8", 2); /* mov rax, fast_entry */
	put64(&e, (uint64_t)(uintptr_t)fast_entry);
	put(&e, "\xff\xd0", 2); /* call rax */
	emit_exit_route(&e, -1, mov + 7);
	emit_frame_leave(&e);
	put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
	put(&e, "\xff\xe1", 2);				/* jmp rcx: fast_entry's choice */
	fs->direct = at + (uintptr_t)(e.p - p);
	memcpy(directp, &(uint64_t){ fs->direct }, 8);
	put(&e, "\x0f\x05", 2); /* syscall (rax: the thread's number) */
	put(&e, "\x48\xb9", 2); /* mov rcx, back */
	put64(&e, mov + 7);
	rel = (int64_t)(mov + 7) - (int64_t)(at + (uintptr_t)(e.p - p) + 5);
	if (rel != (int32_t)rel)
		return -ERANGE;
	put(&e, "\xe9", 1); /* jmp back */
	put(&e, &(int32_t){ (int32_t)rel }, 4);
	return emit_done(dst, buf, (size_t)(e.p - p), TRAMP_SIZE);
}

/* the fast route's arithmetic flags as the site had them, from the image
 * pushfq left at [rbx + FAST_FLAGS] (sahf: SF ZF AF PF CF; OF by an add
 * that overflows when it was set), without popfq's ~4 ns; clobbers rax */
#define FAST_FLAGS    32 /* after the four pushes of emit_fast() */
#define FAST_PREFETCH 4	 /* functions of the enter list whose code a call prefetches */
static void emit_flags_back(struct sc_emit *e)
{
	put(e, "\x8a\x63", 2); /* mov ah, [rbx + FAST_FLAGS] */
	put(e, &(uint8_t){ FAST_FLAGS }, 1);
	put(e, "\x8a\x43", 2); /* mov al, [rbx + FAST_FLAGS + 1] */
	put(e, &(uint8_t){ FAST_FLAGS + 1 }, 1);
	put(e, "\x24\x08", 2); /* and al, 8: OF */
	put(e, "\x04\x78", 2); /* add al, 0x78: 0x80 overflows */
	put(e, "\x9e", 1);     /* sahf */
}

/* rsi, rdx, r10, r8, r9 from the record at rsp (its args[1..5]) */
static void emit_args_back(struct sc_emit *e)
{
	put(e, "\x48\x8b\x74\x24\x18", 5); /* mov rsi, [rsp + 24] */
	put(e, "\x48\x8b\x54\x24\x20", 5); /* mov rdx, [rsp + 32] */
	put(e, "\x4c\x8b\x54\x24\x28", 5); /* mov r10, [rsp + 40] */
	put(e, "\x4c\x8b\x44\x24\x30", 5); /* mov r8, [rsp + 48] */
	put(e, "\x4c\x8b\x4c\x24\x38", 5); /* mov r9, [rsp + 56] */
}

/* lahf/sahf in 64-bit mode (CPUID 0x80000001 ecx bit 0: every x86-64 but
 * the first few) */
static bool cpu_sahf(void)
{
	unsigned int a, b, c, d;

	return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & 1);
}

/* The fast route of the site whose `mov eax, nr` is at @mov, in its area
 * (at @at, written at @dst: both the area's start): the checks (DF clear,
 * the page's gate, the thread in no handler, the owner's busy byte clear,
 * its id known) or off to the full route @full; then the registers the kernel
 * keeps saved, the enter record built below them, the enter list run
 * (emit_page_run), the call made here, the exit list run on the exit
 * record, and back to the site with the registers as the site's own
 * `syscall` leaves them (rcx the return address, r11 the flags).  The
 * flags: pushfq keeps their image; emit_flags_back() puts the arithmetic
 * ones back before the call, whose return leaves them as they were (the
 * kernel's sysret loads r11's image), and after the exit list; the path
 * without one changes none (jrcxz).  No popfq on the way through.  The
 * lists' addresses are read at AREA_LISTS (bpftime_syscall_hook__fast);
 * nothing else is read but the thread's state, the stack and the
 * functions' own pages. */
static int emit_fast(uint8_t *dst, uintptr_t at, uintptr_t mov, long nr, uintptr_t full)
{
	uint8_t buf[SITE_SIZE], *p = buf; /* more than any route: emit_done() checks the room */
	uintptr_t code = at + AREA_FAST, page = at & ~(uintptr_t)4095;
	struct sc_emit e = { p, (intptr_t)(code - (uintptr_t)p) };
	int32_t in_h =
		(int32_t)((intptr_t)hot.ts_off + (intptr_t)offsetof(struct tstate, in_handler));
	int32_t tid = (int32_t)((intptr_t)hot.ts_off + (intptr_t)offsetof(struct tstate, tid));
	uint8_t *bail[5], *none, *leave, *leave2[FAST_PREFETCH];
	int64_t rel;

#define HERE() ((uintptr_t)e.p + (uintptr_t)e.rx)
#define RIP32(to, tail) \
	put(&e, &(int32_t){ (int32_t)((int64_t)(to) - (int64_t)(HERE() + 4 + (tail))) }, 4)
	put(&e, "\x48\x8d\x64\x24\x80", 5); /* lea rsp, [rsp - 128]: the red zone */
	put(&e, "\x9c", 1);		    /* pushfq */
	put(&e, "\xf6\x44\x24\x01\x04", 5); /* test byte [rsp + 1], 4: DF */
	put(&e, "\x0f\x85\0\0\0\0", 6);	    /* jnz bail: the functions want it clear */
	bail[4] = e.p;
	put(&e, "\x80\x3d", 2); /* cmp byte [rip + gate], 0 */
	RIP32(page + PAGE_GATE, 1);
	put(&e, "\0", 1);
	put(&e, "\x0f\x84\0\0\0\0", 6); /* je bail */
	bail[0] = e.p;
	put(&e, "\x64\x83\x3c\x25", 4); /* cmp dword fs:[in_handler], 0 */
	put(&e, &in_h, 4);
	put(&e, "\0", 1);
	put(&e, "\x0f\x85\0\0\0\0", 6); /* jne bail */
	bail[1] = e.p;
	put(&e, "\x64\x80\x3c\x25", 4); /* cmp byte fs:[busy], 0 */
	put(&e, &fastl.busy, 4);
	put(&e, "\0", 1);
	put(&e, "\x0f\x85\0\0\0\0", 6); /* jne bail */
	bail[2] = e.p;
	put(&e, "\x64\x8b\x04\x25", 4); /* mov eax, fs:[tid] */
	put(&e, &tid, 4);
	put(&e, "\x85\xc0", 2);		/* test eax, eax */
	put(&e, "\x0f\x84\0\0\0\0", 6); /* jz bail: not known yet */
	bail[3] = e.p;
	/* push rbx, rbp, rdi, r12 (our own; rsi, rdx, r10, r8, r9 come back
	 * from the record, which no function writes; rdi's slot there takes
	 * the result) */
	put(&e, "\x53\x55\x57\x41\x54", 5);
	put(&e, "\x48\x89\xe3", 3);	    /* mov rbx, rsp */
	put(&e, "\x48\x83\xe4\xf0", 4);	    /* and rsp, -16 */
	put(&e, "\x48\x83\xec\x40", 4);	    /* sub rsp, 64: the record */
	put(&e, "\x48\xc1\xe0\x20", 4);	    /* shl rax, 32: type 0, flags 0, pid */
	put(&e, "\x48\x89\x04\x24", 4);	    /* mov [rsp], rax */
	put(&e, "\x48\xc7\x44\x24\x08", 5); /* mov qword [rsp + 8], nr */
	put(&e, &(int32_t){ (int32_t)nr }, 4);
	put(&e, "\x48\x89\x7c\x24\x10", 5); /* mov [rsp + 16], rdi */
	put(&e, "\x48\x89\x74\x24\x18", 5); /* mov [rsp + 24], rsi */
	put(&e, "\x48\x89\x54\x24\x20", 5); /* mov [rsp + 32], rdx */
	put(&e, "\x4c\x89\x54\x24\x28", 5); /* mov [rsp + 40], r10 */
	put(&e, "\x4c\x89\x44\x24\x30", 5); /* mov [rsp + 48], r8 */
	put(&e, "\x4c\x89\x4c\x24\x38", 5); /* mov [rsp + 56], r9 */
	put(&e, "\x48\x8b\x2d", 3);	    /* mov rbp, [rip + enter list] */
	RIP32(at + AREA_LISTS, 0);
	put(&e, "\xe8", 1); /* call run */
	RIP32(page + PAGE_RUN, 0);
	put(&e, "\x48\x8b\x7c\x24\x10", 5); /* mov rdi, [rsp + 16] */
	emit_args_back(&e);
	emit_flags_back(&e);
	put(&e, "\xb8", 1); /* mov eax, nr */
	put(&e, &(uint32_t){ (uint32_t)nr }, 4);
	/* mov ecx, 0 (restart_events; no flags changed); syscall: the
	 * kernel's return leaves the site's flags, r11 their image */
	put(&e, "\xb9\0\0\0\0\x0f\x05", 7);
	put(&e, "\x48\x8b\x0d", 3); /* mov rcx, [rip + exit list] */
	RIP32(at + AREA_LISTS + 8, 0);
	put(&e, "\xe3\0", 2); /* jrcxz none (no flags changed on this path) */
	none = e.p;
	put(&e, "\x48\x89\xcd", 3); /* mov rbp, rcx */
	/* the exit record: the enter record's header and nr as they are (the
	 * runner rewrites only the type; a function reads its record, never
	 * writes it: the verifier refuses a tracepoint context's writes), the
	 * result after them */
	put(&e, "\x49\x89\xc4", 3);	    /* mov r12, rax */
	put(&e, "\x48\x89\x44\x24\x10", 5); /* mov [rsp + 16], rax: the result */
	put(&e, "\xe8", 1);		    /* call run (the exit lists') */
	RIP32(page + PAGE_RUN_EXIT, 0);
	emit_args_back(&e); /* (rdi: popped) */
	emit_flags_back(&e);
	put(&e, "\x4c\x89\xe0", 3); /* mov rax, r12 */
	put(&e, "\xeb\0", 2);	    /* jmp leave */
	leave = e.p;
	if (e.p - none > 127)
		return -ERANGE; /* (rel8 jumps) */
	none[-1] = (uint8_t)(e.p - none);
	/* none: the lines the next call writes before its syscall, read
	 * back now: its pushes, its record and the runner's two calls, at
	 * the same addresses in a loop.  The kernel's entry evicts them, and
	 * a store that misses is still draining when the next `syscall`
	 * comes: the kernel's entry waits for it (up to ~20 ns a call here,
	 * from one process to the next as their pages fall in the caches).
	 * Then what it reads, prefetched while the kernel's return to the
	 * site runs on: the thread's state (also written: in_handler), the
	 * code of the enter list's first FAST_PREFETCH functions (a list's
	 * entry is read only after the one before it: its end is in the
	 * list). */
	put(&e, "\x0f\x18\x4c\x24\xe8", 5); /* prefetcht0 [rsp - 24] */
	put(&e, "\x0f\x18\x0c\x24", 4);	    /* prefetcht0 [rsp] */
	put(&e, "\x0f\x18\x4c\x24\x3f", 5); /* prefetcht0 [rsp + 63] */
	put(&e, "\x0f\x18\x0b", 3);	    /* prefetcht0 [rbx] */
	put(&e, "\x0f\x18\x4b\x27", 4);	    /* prefetcht0 [rbx + 39] */
	put(&e, "\x64\x0f\x18\x0c\x25", 5); /* prefetcht0 fs:[tid] */
	put(&e, &tid, 4);
	put(&e, "\x4c\x8b\x1d", 3); /* mov r11, [rip + enter list] */
	RIP32(at + AREA_LISTS, 0);
	put(&e, "\x4c\x89\xd9", 3); /* mov rcx, r11 */
	for (int k = 0; k < FAST_PREFETCH; k++) {
		put(&e, "\xe3\0", 2); /* jrcxz leave: no list, or its end */
		leave2[k] = e.p;
		put(&e, "\x49\x8b\x4b", 3); /* mov rcx, [r11 + 16k]: a fn */
		put(&e, &(uint8_t){ (uint8_t)(16 * k) }, 1);
		put(&e, "\x0f\x18\x09", 3); /* prefetcht0 [rcx] (0: never faults) */
	}
	if (e.p - leave > 127)
		return -ERANGE;
	leave[-1] = (uint8_t)(e.p - leave);
	for (int k = 0; k < FAST_PREFETCH; k++)
		leave2[k][-1] = (uint8_t)(e.p - leave2[k]);
	put(&e, "\x4c\x8b\x5b", 3); /* mov r11, [rbx + FAST_FLAGS]: the site's flags */
	put(&e, &(uint8_t){ FAST_FLAGS }, 1);
	put(&e, "\x48\x89\xdc", 3); /* mov rsp, rbx */
	/* pop r12, rdi, rbp, rbx; the flags' slot and the red zone (no
	 * popfq: the flags are the site's already) */
	put(&e, "\x41\x5c\x5f\x5d\x5b", 5);
	put(&e, "\x48\x8d\xa4\x24\x88\x00\x00\x00", 8); /* lea rsp, [rsp + 136] */
	put(&e, "\x48\xb9", 2);				/* mov rcx, back */
	put64(&e, mov + 7);
	rel = (int64_t)(mov + 7) - (int64_t)(HERE() + 5);
	if (rel == (int32_t)rel) {
		put(&e, "\xe9", 1); /* jmp back */
		put(&e, &(int32_t){ (int32_t)rel }, 4);
	} else {
		put(&e, "\xff\xe1", 2); /* jmp rcx: a site far from the region */
	}
	for (int i = 0; i < 5; i++)
		fix32(bail[i], e.p);
	put(&e, "\x9d", 1);				/* popfq */
	put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
	rel = (int64_t)full - (int64_t)(HERE() + 5);
	if (rel == (int32_t)rel) {
		put(&e, "\xe9", 1); /* jmp full */
		put(&e, &(int32_t){ (int32_t)rel }, 4);
	} else {
		/* jmp [rip]: the full route of a far site's trampoline */
		put(&e, "\xff\x25\0\0\0\0", 6);
		put64(&e, full);
	}
#undef RIP32
#undef HERE
	return emit_done(dst + AREA_FAST, buf, (size_t)(e.p - p), AREA_POOL - AREA_FAST);
}

/* under routes.lock: the address @fs's area gives for @l (a caller's
 * list): a copy in its pool, on the page its fast route runs on (the same
 * copy for the same entries: the pool only grows, a copy never changes
 * while a thread may read it), or @l itself once the pool is full; 0 for
 * an empty list (nothing to run) */
static uint64_t fast_place(struct fast_site *fs, const struct bpftime_syscall_fast_prog *l)
{
	struct bpftime_syscall_fast_prog *pool =
		(struct bpftime_syscall_fast_prog *)(void *)(hook.rw + fs->area + AREA_POOL);
	int n = 1, i = 0;

	if (!l[0].fn)
		return 0;
	while (l[n - 1].fn)
		n++; /* the entries and the end */
	while (i + n <= fs->pool) {
		int k = 0;

		while (k < n && pool[i + k].fn == l[k].fn && pool[i + k].type == l[k].type &&
		       pool[i + k].size == l[k].size)
			k++;
		if (k == n)
			return (uint64_t)(uintptr_t)(hook.region + fs->area + AREA_POOL) +
			       (uint64_t)i * sizeof(*pool);
		while (pool[i].fn) /* the next copy */
			i++;
		i++;
	}
	if (fs->pool + n > POOL_ENTRIES)
		return (uint64_t)(uintptr_t)l;
	for (int k = 0; k < n; k++) {
		memset(&pool[fs->pool + k], 0, sizeof(*pool));
		pool[fs->pool + k].fn = l[k].fn;
		pool[fs->pool + k].type = l[k].type;
		pool[fs->pool + k].size = l[k].size;
	}
	fs->pool += n;
	return (uint64_t)(uintptr_t)(hook.region + fs->area + AREA_POOL) +
	       (uint64_t)(fs->pool - n) * sizeof(*pool);
}

/* under routes.lock: @fs's fast route, emitted once the owner's busy byte
 * is known (fast_ok() wants it); a site where it cannot be keeps the full
 * route */
static void fast_emit(struct fast_site *fs)
{
	uintptr_t at = (uintptr_t)hook.region + fs->area;

	if (!fs->can_fast || fs->fast || !fastl.busy_set)
		return;
	if (!cpu_sahf()) {
		fs->can_fast = false;
		return;
	}
	if (emit_fast(hook.rw + fs->area, at, fs->mov, fs->nr, fs->full))
		fs->can_fast = false;
	else
		fs->fast = at + AREA_FAST;
}

/* under routes.lock: @fs's list addresses from fastl.  A side without a
 * list now (the handlers must run it) keeps its old address: the route
 * goes to the full one first, and a call still on its way there runs the
 * old list, as a call in flight may see the old choice. */
static void fast_lists(struct fast_site *fs)
{
	for (int side = 0; fs->fast && side < 2; side++) {
		const struct bpftime_syscall_fast_prog *l = fastl.list[fs->nr][side];

		if (l)
			atomic_store((_Atomic uint64_t *)(void *)(hook.rw + fs->area + AREA_LISTS +
								  8 * side),
				     fast_place(fs, l));
	}
}

/* under routes.lock: @fs's route and lists, in the order that never sends
 * a call to a fast route without its lists */
static void fast_route(struct fast_site *fs)
{
	fast_emit(fs);
	if (fast_ok(fs)) {
		fast_lists(fs);
		set_route(fs);
	} else {
		set_route(fs);
		fast_lists(fs);
	}
}

/* what a site's 5 bytes before its `syscall` are */
enum site_kind {
	SITE_NONE,
	SITE_MOV_EAX, /* mov eax, nr: the number is known */
	SITE_RELOC,   /* an instruction that runs as well elsewhere: any number */
};

static int net_find(uintptr_t addr);

/* a `syscall` at @sc (@b: its two bytes as read): its own bytes, or the
 * net's jump or int3 in their place (a site first called after the net
 * went off: net_entry()) */
static bool syscall_bytes(uintptr_t sc, const uint8_t *b)
{
	int i;

	if (!memcmp(b, "\x0f\x05", 2))
		return true;
	pthread_mutex_lock(&net.lock);
	i = net_find(sc);
	i = i >= 0 && atomic_load(&net.site[i].state) != NS_NATIVE;
	pthread_mutex_unlock(&net.lock);
	return i;
}

#define PROVE_MAX 16384 /* the longest stretch of a function decoded */

/* Is @mov (the syscall at mov + 5) inside a function we can decode, on an
 * instruction boundary, a `mov eax, imm32`, or a 5-byte `mov` to a
 * register from memory that does not depend on where it runs (no
 * rip-relative operand; glibc's syscall(): `mov r9, [rsp + 8]`)?  Its 5
 * bytes in @orig.  The patcher thread runs this while the program may
 * dlclose the library: the symbol and the code are read through peek()
 * (an unmapped byte is an error, not a fault) and decoded from the copy. */
static enum site_kind provable(uintptr_t mov, uint8_t orig[5])
{
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	const ElfW(Sym) *sym = NULL;
	ElfW(Sym) sv;
	Dl_info info;
	uintptr_t start, pc;
	enum site_kind kind = SITE_NONE;
	uint8_t *code;
	size_t len;

	if (!dladdr1((void *)mov, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
	    !info.dli_saddr || peek((uintptr_t)sym, &sv, sizeof(sv)) || !sv.st_size)
		return SITE_NONE;
	start = (uintptr_t)info.dli_saddr;
	if (mov < start || mov + 7 > start + sv.st_size || mov + 7 - start > PROVE_MAX)
		return SITE_NONE;
	len = mov + 7 - start;
	code = mem_alloc(len);
	if (!code || peek(start, code, len)) {
		free(code);
		return SITE_NONE;
	}
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	for (pc = start; pc < mov; pc += in.length)
		if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, code + (pc - start),
							      len - (pc - start), &in)))
			goto out;
	if (pc != mov || ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, code + (pc - start),
								   len - (pc - start), &in)))
		goto out;
	if (in.length != 5 || !syscall_bytes(mov + 5, code + (len - 2)))
		goto out;
	memcpy(orig, code + (mov - start), 5);
	if (orig[0] == 0xb8)
		kind = SITE_MOV_EAX;
	else if (in.mnemonic == ZYDIS_MNEMONIC_MOV && !(in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) &&
		 (in.attributes & ZYDIS_ATTRIB_HAS_MODRM) && in.raw.modrm.mod != 3 &&
		 !(in.raw.modrm.mod == 0 && in.raw.modrm.rm == 5) && in.opcode == 0x8b &&
		 !(in.raw.modrm.reg == 4 && !in.raw.rex.R)) /* not into rsp */
		kind = SITE_RELOC;
out:
	free(code);
	return kind;
}

/* rewrites one site; 0 or -errno */
static int rewrite(uintptr_t sc_addr)
{
	uintptr_t mov = sc_addr - 5, at;
	uint8_t orig[5];
	uint32_t nr32;
	enum site_kind kind;
	uint8_t *page;
	struct fast_site *fs;
	size_t area;
	long nr;
	int64_t rel;
	int err;

	if ((mov & 7) > 3) /* the 5 bytes straddle two 8-byte words */
		return -ENOTSUP;
	kind = provable(mov, orig);
	if (kind == SITE_NONE)
		return -ENOTSUP;
	memcpy(&nr32, orig + 1, 4);
	nr = kind == SITE_MOV_EAX ? (long)nr32 : -1;
	if (kind == SITE_MOV_EAX && (special_nr(nr) || net_c_nr(nr)))
		return -ENOTSUP;
	pthread_mutex_lock(&routes.lock);
	if (routes.n == SITE_AREAS) {
		pthread_mutex_unlock(&routes.lock);
		return -ENOSPC;
	}
	fs = &routes.site[routes.n];
	fs->nr = nr;
	memcpy(fs->orig, orig, 5); /* emit_tramp_any() relocates it */
	area = site_area(routes.n);
	at = (uintptr_t)hook.region + area;
	if (rel32_ok(at, mov + 5) && rel32_ok(mov + 7, at + SITE_SIZE)) {
		/* in the region: the slot at the area's end, written
		 * through the RW view */
		page = NULL;
		if (kind == SITE_RELOC) {
			fs->route = NULL;
			err = emit_tramp_any(hook.rw + area, at, mov, fs);
		} else {
			fs->route = (_Atomic uint64_t *)(void *)(hook.rw + area + TRAMP_SIZE - 8);
			err = emit_tramp(hook.rw + area, at, mov, nr, at + TRAMP_SIZE - 8, 0, fs);
		}
	} else if (kind == SITE_RELOC) {
		page = NULL;
		err = -ERANGE; /* only in the region */
	} else {
		/* a page near the site, the call at the area's start */
		page = hook_alloc_near(mov);
		fs->route = page ? route_slot((uintptr_t)page) : NULL;
		err = !page ? -ENOMEM : !fs->route ? -ENOSPC : 0;
		if (!err)
			err = emit_tramp(page, (uintptr_t)page, mov, nr, (uintptr_t)fs->route, at,
					 fs);
		if (!err && mprotect(page, 4096, PROT_READ | PROT_EXEC))
			err = -errno;
		if (!err)
			sysscan_own((uintptr_t)page, 4096); /* the scan skips it */
		if (!err)
			emit_gadget(hook.rw + area, mov + 7);
		at = (uintptr_t)page;
	}
	rel = (int64_t)at - (int64_t)(mov + 5);
	if (!err && rel != (int32_t)rel)
		err = -ERANGE;
	if (err) {
		pthread_mutex_unlock(&routes.lock);
		if (page)
			munmap(page, 4096);
		return err;
	}
	/* the route is set before any thread can enter the trampoline */
	fs->mov = mov;
	/* (a far site's fast route is in its area too: its trampoline's
	 * route slot holds absolute addresses) */
	fs->can_fast = kind == SITE_MOV_EAX && nr < WATCH_MAX;
	fs->fast = 0;
	fs->area = area;
	fs->pool = 0;
	fast_route(fs);
	fs->jmp[0] = 0xe9;
	memcpy(fs->jmp + 1, &(int32_t){ (int32_t)rel }, 4);
	fs->patched = fs->dead = false;
	routes.n++;
	if (!routes.off) { /* else at the next start */
		err = poke5(mov, fs->jmp, fs->orig);
		fs->patched = !err;
		fs->dead = err != 0;
	}
	pthread_mutex_unlock(&routes.lock);
	return err;
}

/* BPFTIME_SYSCALL_SCAN=1: what a scan of every executable mapping finds
 * (sysscan.c), in one debug line: the first step towards SUD off in
 * threads whose every reachable `syscall` is rewritten (not done yet:
 * docs/syscall-tracepoints.md) */
static void scan_report(void)
{
	struct sysscan s = { 0 };
	size_t known = 0, island = 0;
	int err = sysscan_all(&s);

	for (size_t i = 0; i < s.n; i++) {
		known += s.site[i].nr >= 0;
		island += s.site[i].island != 0;
	}
	if (err)
		pr_debug("syscall hook: scan failed: %s\n", strerror(-err));
	else
		pr_debug("syscall hook: scan: %zu syscall sites (%zu of known number, %zu with an "
			 "island), %zu byte pairs inside other instructions; %s%s\n",
			 s.n, known, island, s.inside,
			 s.unprovable ? "unprovable: " : "every one proven", s.why);
	sysscan_free(&s);
}

static void net_try_off_locked(void);

static void *patcher(void *arg)
{
	unsigned int seen = 0;

	UNUSED(arg);
	sud(false); /* this thread's own syscalls run natively */
	/* made with every signal blocked: an int3 site would kill it */
	raw(SYS_rt_sigprocmask, SIG_UNBLOCK, (long)&(uint64_t){ SIGTRAP_BIT | SIGSYS_BIT }, 0, 8, 0,
	    0);
	atomic_store(&fast.tid, bpftime_syscall_tid());
	ts.in_handler = 1;
	if (fast.scan)
		scan_report();
	for (;;) {
		unsigned int q = atomic_load(&fast.queued);

		if (q == seen) {
			/* a deadline, not a timeout: wake-ups do not postpone it */
			int64_t at = atomic_load(&net.retry_at), left = at - mono_ms();
			struct timespec t = { left / 1000, (left % 1000) * 1000000L };

			if (at && left <= 0) {
				/* the net went on: off again if it can */
				atomic_store(&net.retry_at, 0);
				pthread_mutex_lock(&hook.start_lock);
				net_try_off_locked();
				pthread_mutex_unlock(&hook.start_lock);
				continue;
			}
			syscall(SYS_futex, &fast.queued, FUTEX_WAIT_PRIVATE, q, at ? &t : NULL,
				NULL, 0);
			continue;
		}
		for (; seen < q && seen < FAST_MAX; seen++) {
			uintptr_t a = atomic_load(&fast.site[seen]);

			if (a && !rewrite(a))
				atomic_fetch_add(&fast.done, 1);
			else
				atomic_fetch_add(&fast.failed, 1);
		}
		seen = q;
	}
	return NULL;
}

/* in the SIGSYS handler: a plain syscall at @ip - 2 with `mov eax, nr`
 * before it is queued once for the patcher */
static void consider(uintptr_t ip, long nr)
{
	uintptr_t sc_addr = ip - 2, mov = sc_addr - 5;
	unsigned int i;

	if (!fast.started || special_nr(nr) || net_c_nr(nr) || (sc_addr & 4095) < 5 ||
	    (mov & 7) > 3)
		return;
	/* `mov eax, nr`, or glibc's syscall(): `mov r9, [rsp + 8]` */
	if ((*(const uint8_t *)mov != 0xb8 || load32(mov + 1) != (uint32_t)nr) &&
	    memcmp((const void *)mov, "\x4c\x8b\x4c\x24\x08", 5))
		return;
	for (i = 0; i < FAST_MAX; i++) {
		uintptr_t cur = atomic_load(&fast.site[i]);

		if (cur == sc_addr)
			return;
		if (!cur) {
			uintptr_t zero = 0;

			if (atomic_compare_exchange_strong(&fast.site[i], &zero, sc_addr))
				break;
			if (zero == sc_addr)
				return;
		}
	}
	if (i == FAST_MAX)
		return;
	atomic_fetch_add(&fast.queued, 1);
	raw(SYS_futex, (long)&fast.queued, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

int bpftime_syscall_hook__rewritten(void)
{
	return atomic_load(&fast.done);
}

int bpftime_syscall_hook__bare_threads(void)
{
	return atomic_load(&hot.bare);
}

/* ---- the net off ---------------------------------------------------------
 *
 * With BPFTIME_SYSCALL_NET=auto, SUD (the net) goes off in every thread once
 * every `syscall` instruction the process can run is known (sysscan_all) and
 * the ones that matter go through the hook without it: sites whose number
 * is unknown, watched, or one the hook needs itself (new executable code,
 * signal masks and actions: net_own_nr()).  Such a site's `syscall` becomes
 * `jmp rel8` to its island (padding near it, holding `jmp rel32` to the
 * site's area in the region), or, without an island in reach, `int3`, whose
 * SIGTRAP handler moves the thread to the area.  A site of a known number
 * nobody watches keeps its bytes, or gets them back when a watch narrows:
 * it costs nothing.  Any watch keeps the net off, every syscall
 * (raw_syscalls) too.  The bytes change one at
 * a time (int3 first, then the jump's offset, then its opcode, the
 * kernel's text_poke_bp order), so a thread running there meets the old
 * instruction, int3 or the new one, never a mix.
 *
 * A site's area: `mov rcx, back; lea r11, [rip]; jmp common`, then its
 * direct route (`syscall; mov rcx, back; jmp rcx`).  rcx and r11 are the
 * registers the `syscall` would have overwritten anyway.  The common body
 * saves the frame and calls net_entry(), which is fast_entry() with that
 * site's routes; a number that needs the signal path (special_nr) goes on to
 * the site's trap gadget, `syscall; mov rcx, back; jmp rcx` outside the
 * region, where SUD catches it where it is on; where it is off, a watched
 * one is seen by special_here() (what on_sigsys() does, from the frame),
 * an unwatched one runs natively there.
 *
 * The net goes on again (the enable round) when something cannot be proven
 * any more: new executable code (the exit
 * of mmap, mprotect, mremap, pkey_mprotect, shmat) holds what the scan
 * cannot prove (a library being loaded, whose unwind table is not yet
 * listed; JIT code with `0f 05` bytes; a shared or writable executable
 * mapping).  The patcher thread tries to turn it off again later. */

/* does a site of @nr (-1: unknown) have to go through the hook? */
static bool net_needs(long nr)
{
	return nr < 0 || net_own_nr(nr) ||
	       watched(nr, BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT);
}

static uintptr_t net_area(int i)
{
	return (uintptr_t)hook.region + REGION_NET + NET_COMMON_SIZE + (size_t)i * NET_AREA;
}

static uint32_t net_hash(uintptr_t a)
{
	return (uint32_t)((a * 0x9e3779b97f4a7c15ull) >> 52) & (NET_HASH - 1);
}

/* the site at @addr: its index, or -1 (lock-free: the SIGTRAP handler) */
static int net_find(uintptr_t addr)
{
	for (uint32_t h = net_hash(addr), k = 0; k < NET_HASH; k++, h = (h + 1) & (NET_HASH - 1)) {
		int32_t v = atomic_load_explicit(&net.hash[h], memory_order_acquire);

		if (!v)
			return -1;
		if (net.site[v - 1].addr == addr)
			return v - 1;
	}
	return -1;
}

static int net_entry(struct fast_frame *f, long nr, uintptr_t ret, uintptr_t mark);

/* the region's common body of the net's sites (see the top) */
static void emit_net_common(uint8_t *rw, uintptr_t at)
{
	struct sc_emit e = { rw, (intptr_t)(at - (uintptr_t)rw) };

	emit_frame_enter(&e);
	emit_call_warm(&e);
	put(&e, "\x48\x8b\x73", 3); /* mov rsi, [rbx + rax's slot]: nr */
	put(&e, &(uint8_t){ (uint8_t)offsetof(struct fast_frame, rax) }, 1);
	put(&e, "\x48\x8b\x53", 3); /* mov rdx, [rbx + rcx's slot]: back */
	put(&e, &(uint8_t){ (uint8_t)offsetof(struct fast_frame, rcx) }, 1);
	put(&e, "\x48\x8b\x4b", 3); /* mov rcx, [rbx + r11's slot]: the area + 17 */
	put(&e, &(uint8_t){ (uint8_t)offsetof(struct fast_frame, r11) }, 1);
	put(&e, "\x48\xb8", 2); /* mov rax, net_entry */
	put64(&e, (uint64_t)(uintptr_t)net_entry);
	put(&e, "\xff\xd0", 2); /* call rax */
	emit_exit_route(&e, -1, 0);
	emit_frame_leave(&e);
	put(&e, "\x48\x8d\xa4\x24\x80\x00\x00\x00", 8); /* lea rsp, [rsp + 128] */
	put(&e, "\xff\xe1", 2);				/* jmp rcx: fast_entry's choice */
}

/* site @i's area and trap gadget; the return address is the site + 2 */
static void emit_net_site(int i)
{
	uintptr_t at = net_area(i), back = net.site[i].addr + 2;
	uintptr_t common = (uintptr_t)hook.region + REGION_NET;
	uint8_t *rw = hook.rw + (at - (uintptr_t)hook.region);
	struct sc_emit e = { rw, 0 };

	put(&e, "\x48\xb9", 2); /* mov rcx, back */
	put64(&e, back);
	put(&e, "\x4c\x8d\x1d\0\0\0\0", 7); /* lea r11, [rip]: the area + 17 */
	put(&e, "\xe9", 1);		    /* jmp common */
	put(&e, &(int32_t){ (int32_t)((int64_t)common - (int64_t)(at + 22)) }, 4);
	put(&e, "\xcc\xcc", 2);
	put(&e, "\x0f\x05", 2); /* + 24, the direct route: syscall */
	put(&e, "\x48\xb9", 2); /* mov rcx, back */
	put64(&e, back);
	put(&e, "\xff\xe1", 2); /* jmp rcx */
	e.p = net.trap_rw + (size_t)i * NET_TRAP;
	put(&e, "\x0f\x05", 2); /* syscall: SUD's, where it is on */
	put(&e, "\x48\xb9", 2); /* mov rcx, back */
	put64(&e, back);
	put(&e, "\xff\xe1", 2); /* jmp rcx */
}

/* Called by the common body with the registers in @f and @mark = the
 * site's area + 17 (its r11): fast_entry() with that site's routes. */
BPFTIME_HOT __attribute__((used)) static int net_entry(struct fast_frame *f, long nr, uintptr_t ret,
						       uintptr_t mark)
{
	uintptr_t area = mark - 17;
	size_t i = (area - hot.net_area0) / NET_AREA;
	uint64_t bit = 1ull << (i & 63);

	/* the site's first call here: its `mov eax, nr` may be rewritten,
	 * which is cheaper than this path (consider() does not wait) */
	if (unlikely(!(atomic_load_explicit(&hot.net_asked[i / 64], memory_order_relaxed) & bit)) &&
	    !(atomic_fetch_or(&hot.net_asked[i / 64], bit) & bit))
		consider(ret, nr);
	/* from the hot page: hook and net are pages of their own */
	return fast_entry(f, nr, ret, NULL, area + 24, hot.net_trap + i * NET_TRAP);
}

/* every core fetches instructions anew (membarrier), when the kernel can */
static void sync_cores(void)
{
	if (net.sync_core)
		raw(SYS_membarrier, 1 << 5 /* MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE */, 0, 0,
		    0, 0, 0);
}

/* /proc/self/mem of this process (a forked child inherits its parent's
 * descriptor, which writes into the parent: opened again), or -1 */
static int mem_fd(void)
{
	long pid = raw(SYS_getpid, 0, 0, 0, 0, 0, 0);

	if (net.mem_pid != pid) {
		if (net.mem_fd >= 0)
			raw(SYS_close, net.mem_fd, 0, 0, 0, 0, 0);
		net.mem_fd = (int)raw(SYS_openat, AT_FDCWD, (long)"/proc/self/mem",
				      O_RDWR | O_CLOEXEC, 0, 0, 0);
		net.mem_pid = pid;
	}
	return net.mem_fd;
}

/* writes @n code bytes at @at: through /proc/self/mem (no writable
 * mapping of code, a one-byte write is atomic), else mprotect */
static int poke(uintptr_t at, const void *bytes, size_t n)
{
	uintptr_t page = at & ~(uintptr_t)4095;
	size_t len = ((at + n + 4095) & ~(uintptr_t)4095) - page;
	long r;

	pthread_mutex_lock(&poke_lock);
	if (mem_fd() >= 0 &&
	    raw(SYS_pwrite64, net.mem_fd, (long)bytes, (long)n, (long)at, 0, 0) == (long)n) {
		pthread_mutex_unlock(&poke_lock);
		return 0;
	}
	r = raw(SYS_mprotect, (long)page, (long)len, PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
	if (!r) {
		for (size_t k = 0; k < n; k++)
			__atomic_store_n((uint8_t *)at + k, ((const uint8_t *)bytes)[k],
					 __ATOMIC_SEQ_CST);
		raw(SYS_mprotect, (long)page, (long)len, PROT_READ | PROT_EXEC, 0, 0, 0);
	}
	pthread_mutex_unlock(&poke_lock);
	return (int)r;
}

/* @n code bytes at @at into @buf, without faulting where nothing is mapped
 * any more (a site of a library closed since the scan): 0 or -EFAULT */
static int peek(uintptr_t at, void *buf, size_t n)
{
	struct iovec local = { buf, n }, remote = { (void *)at, n };

	if (mem_fd() >= 0)
		return raw(SYS_pread64, net.mem_fd, (long)buf, (long)n, (long)at, 0, 0) == (long)n
			       ? 0
			       : -EFAULT;
	return raw(SYS_process_vm_readv, raw(SYS_getpid, 0, 0, 0, 0, 0, 0), (long)&local, 1,
		   (long)&remote, 1, 0) == (long)n
		       ? 0
		       : -EFAULT;
}

/* under net.lock: sites @idx[0..n) through the hook (NATIVE -> JMP, or
 * TRAP without an island in reach), in three rounds of one-byte writes
 * with the cores synced between (see the top): int3 everywhere, then the
 * jumps' offsets (islands written first) or the int3 sites' nop, then the
 * jumps' opcodes.  0, or the first -errno (that site stays native). */
static int net_patch_list(const int *idx, int n)
{
	uint8_t b[2];
	int err = 0;

	for (int k = 0; k < n; k++) {
		struct net_site *ns = &net.site[idx[k]];
		int e;

		ns->step = 0;
		if (atomic_load(&ns->state) != NS_NATIVE)
			continue;
		if (peek(ns->addr, b, 2) || memcmp(b, "\x0f\x05", 2)) {
			err = err ? err : -EAGAIN; /* not the bytes the scan saw */
			continue;
		}
		atomic_store(&ns->state, NS_TRAP); /* the SIGTRAP handler knows it from now */
		e = poke(ns->addr, "\xcc", 1);
		if (e) {
			atomic_store(&ns->state, NS_NATIVE);
			err = err ? err : e;
			continue;
		}
		ns->step = 1;
	}
	sync_cores();
	for (int k = 0; k < n; k++) {
		struct net_site *ns = &net.site[idx[k]];
		uintptr_t area = net_area(idx[k]);
		uint8_t jmp[5], rel8;

		if (ns->step != 1)
			continue;
		ns->step = 0;
		if (!ns->island || !rel32_ok(area, ns->island + 5)) {
			/* int3 for good: `cc 90`, so that a decoder (the next
			 * scan) stays in step; nothing runs from the second byte */
			poke(ns->addr + 1, "\x90", 1);
			continue;
		}
		jmp[0] = 0xe9;
		memcpy(jmp + 1, &(int32_t){ (int32_t)((int64_t)area - (int64_t)(ns->island + 5)) },
		       4);
		rel8 = (uint8_t)(int8_t)((int64_t)ns->island - (int64_t)(ns->addr + 2));
		if (!poke(ns->island, jmp, 5) && !poke(ns->addr + 1, &rel8, 1))
			ns->step = 2; /* else the int3 stays: still through the hook */
	}
	sync_cores();
	for (int k = 0; k < n; k++) {
		struct net_site *ns = &net.site[idx[k]];

		if (ns->step == 2 && !poke(ns->addr, "\xeb", 1))
			atomic_store(&ns->state, NS_JMP);
		ns->step = 0;
	}
	return err;
}

static bool net_needs(long nr);

/* under net.lock: every site (@all), or those of a number nobody needs
 * now, back to its own `syscall`, in rounds as net_patch_list() (int3 on
 * the jumps, their second byte, the first) */
static void net_unpatch(bool all)
{
	int n = atomic_load(&net.n);
	uint8_t b[2];

	for (int i = 0; i < n; i++) {
		struct net_site *ns = &net.site[i];
		uint8_t st = atomic_load(&ns->state);

		ns->step = 0;
		if (st == NS_NATIVE || (!all && (ns->nr < 0 || net_needs(ns->nr))))
			continue;
		/* our bytes still?  (else new code is there, or none: the
		 * library was closed; left alone) */
		if (peek(ns->addr, b, 2) || b[0] != (st == NS_JMP ? 0xeb : 0xcc) ||
		    (st == NS_JMP &&
		     b[1] != (uint8_t)(int8_t)((int64_t)ns->island - (int64_t)(ns->addr + 2)))) {
			atomic_store(&ns->state, NS_NATIVE);
			continue;
		}
		if (st == NS_JMP)
			poke(ns->addr, "\xcc", 1);
		ns->step = 1;
	}
	sync_cores();
	for (int i = 0; i < n; i++)
		if (net.site[i].step == 1)
			poke(net.site[i].addr + 1, "\x05", 1);
	sync_cores();
	for (int i = 0; i < n; i++) {
		struct net_site *ns = &net.site[i];

		if (ns->step == 1) {
			poke(ns->addr, "\x0f", 1);
			atomic_store(&ns->state, NS_NATIVE);
		}
		ns->step = 0;
	}
}

/* under net.lock: the index of the site at @addr, added when new; -ENOSPC */
static int net_add(const struct sysscan_site *s)
{
	int i = net_find(s->addr), n = atomic_load(&net.n);
	uint32_t h;

	if (i >= 0) {
		struct net_site *ns = &net.site[i];

		/* found as a `syscall` again where we had rewritten one: new
		 * code at the same address (a library closed and loaded
		 * again): what the scan says now */
		if (atomic_load(&ns->state) != NS_NATIVE) {
			ns->island = s->island;
			ns->nr = s->nr;
			atomic_store(&ns->state, NS_NATIVE);
			atomic_fetch_and(&hot.net_asked[i / 64], ~(1ull << (i & 63)));
		}
		return i;
	}
	if (n == (int)NET_MAX)
		return -ENOSPC;
	net.site[n] = (struct net_site){ .addr = s->addr, .island = s->island, .nr = s->nr };
	emit_net_site(n);
	for (h = net_hash(s->addr); atomic_load(&net.hash[h]); h = (h + 1) & (NET_HASH - 1))
		;
	atomic_store(&net.n, n + 1);
	atomic_store_explicit(&net.hash[h], n + 1, memory_order_release);
	return n;
}

/* the why of a net that stays on, for bpftime_syscall_hook__net() */
__attribute__((format(printf, 1, 2))) static void net_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(net.why, sizeof(net.why), fmt, ap);
	va_end(ap);
}

/* the number of the mov-rewritten site whose `syscall` is at @sc, or -1 */
static long mov_site_nr(uintptr_t sc)
{
	long nr = -1;

	pthread_mutex_lock(&routes.lock);
	for (int i = 0; i < routes.n && nr < 0; i++)
		if (routes.site[i].mov + 5 == sc && routes.site[i].route)
			nr = routes.site[i].nr;
	pthread_mutex_unlock(&routes.lock);
	return nr;
}

/* With the net off, a watch of @w[0..n): the mov-rewritten sites of its
 * numbers that rest (net_try_off_locked() gave them their own bytes) get
 * their jmp back, so that they run their own routes, the fast one
 * included, rather than the net's area through their `syscall`. */
static void movs_wake(const uint8_t *w, size_t n)
{
	pthread_mutex_lock(&routes.lock);
	for (int i = 0; i < routes.n && !routes.off; i++) {
		struct fast_site *fs = &routes.site[i];
		uint8_t b[2];

		if (fs->dead || fs->patched || fs->nr < 0 || (size_t)fs->nr >= n || !w[fs->nr])
			continue;
		/* still the code it was (a library closed since, another
		 * at its address, may hold the same 5 bytes): its `syscall`
		 * after them, or the net's jump or int3 there */
		if (peek(fs->mov + 5, b, 2) ||
		    !((b[0] == 0x0f && b[1] == 0x05) || b[0] == 0xeb || b[0] == 0xcc)) {
			fs->dead = true;
			continue;
		}
		if (poke5(fs->mov, fs->jmp, fs->orig))
			fs->dead = true; /* its `syscall` goes through the net */
		else
			fs->patched = true;
	}
	pthread_mutex_unlock(&routes.lock);
}

/* is the `syscall` at @sc a mov-rewritten site's, its jmp in place?  (Its
 * bytes read back: a library closed and another loaded at its address
 * leaves a site that thinks it is patched.) */
static bool mov_site_awake(uintptr_t sc)
{
	bool awake = false;
	uint8_t cur[5];

	pthread_mutex_lock(&routes.lock);
	for (int i = 0; i < routes.n && !awake; i++) {
		const struct fast_site *fs = &routes.site[i];

		awake = fs->mov + 5 == sc && fs->patched && !fs->dead && !peek(fs->mov, cur, 5) &&
			!memcmp(cur, fs->jmp, 5);
	}
	pthread_mutex_unlock(&routes.lock);
	return awake;
}

static int net_patch_found(struct sysscan *sp, int err);

/* Scans [start, end) (0, 0: everything) and puts every site that needs it
 * through the hook.  0, or -errno with net.why said. */
static int net_scan_patch(uintptr_t start, uintptr_t end)
{
	struct sysscan s = { 0 };
	int err;

	/* not while a mov-site rewrite has its page writable (poke5) */
	pthread_mutex_lock(&poke_lock);
	err = start || end ? sysscan_range(&s, start, end) : sysscan_all(&s);
	pthread_mutex_unlock(&poke_lock);
	return net_patch_found(&s, err);
}

/* The segment of an object being loaded that mmap just made executable
 * (fd, file offset off, [start, end)): proven from the object's own
 * headers (sysscan_loading), its sites through the hook.  0 or -errno. */
static int net_scan_loading(int fd, uint64_t off, uintptr_t start, uintptr_t end)
{
	struct sysscan s = { 0 };
	int err;

	pthread_mutex_lock(&poke_lock);
	err = sysscan_loading(&s, fd, off, start, end);
	pthread_mutex_unlock(&poke_lock);

	if (err == -ENOENT) {
		sysscan_free(&s);
		return err; /* net.why stays what the plain scan said */
	}
	return net_patch_found(&s, err);
}

/* what a scan (@err its result) found, through the hook; frees @s */
static int net_patch_found(struct sysscan *sp, int err)
{
	struct sysscan s = *sp;
	int *todo = NULL, n_todo = 0;

	if (err) {
		net_say("the scan failed: %s", strerror(-err));
		goto out;
	}
	if (s.unprovable) {
		net_say("cannot prove every syscall instruction: %s", s.why);
		err = -EPERM;
		goto out;
	}
	todo = mem_alloc((s.n ? s.n : 1) * sizeof(*todo));
	if (!todo) {
		net_say("out of memory");
		err = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&net.lock);
	for (size_t k = 0; k < s.n && !err; k++) {
		int i;

		/* a `mov eax, NR` we rewrote to a jmp: the number is its */
		if (s.site[k].nr < 0)
			s.site[k].nr = mov_site_nr(s.site[k].addr);
		i = net_add(&s.site[k]);
		if (i < 0) {
			net_say("more than %d syscall sites", (int)NET_MAX);
			err = i;
		} else if (net_needs(net.site[i].nr)) {
			todo[n_todo++] = i;
		}
	}
	if (!err && (err = net_patch_list(todo, n_todo)))
		net_say("cannot rewrite every syscall site: %s", strerror(-err));
	pthread_mutex_unlock(&net.lock);
out:
	free(todo);
	sysscan_free(&s);
	return err;
}

static int ask_others(void);

/* with hook.start_lock: the net on in every thread (@why: the reason) */
static void net_on_locked(void)
{
	if (!atomic_load(&hot.net_off))
		return;
	atomic_store(&hot.net_off, false);
	atomic_store(&en_on, true);
	if (!ts.enabled && atomic_load(&fast.tid) != bpftime_syscall_tid())
		enable_self();
	patch_all(true); /* the mov-rewritten sites that rested */
	if (ask_others())
		pr_warn("syscall hook: some threads did not turn Syscall User Dispatch back on "
			"(they block signal %d)\n",
			SC_ENABLE_SIG);
}

/* may the net go off as things are?  (net.why says why not) */
static bool net_allowed(void)
{
	if (!net.want) {
		net_say("BPFTIME_SYSCALL_NET=on");
		return false;
	}
	if (hot.selector != SYSCALL_DISPATCH_FILTER_BLOCK) {
		net_say("the hook is paused");
		return false;
	}
	return true;
}

/* with hook.start_lock: the net off if it can go (see the top) */
/* the net off (ts.in_handler up): the sites of the numbers nobody needs
 * now get their own bytes, mov-rewritten ones and the net's (a native call
 * costs nothing; a watch, or the net on for the mov sites, puts the jump
 * back) */
static void rest_unneeded(void)
{
	pthread_mutex_lock(&routes.lock);
	for (int i = 0; i < routes.n; i++) {
		struct fast_site *fs = &routes.site[i];

		if (!fs->dead && fs->patched && fs->nr >= 0 && !net_needs(fs->nr) &&
		    !poke5(fs->mov, fs->orig, fs->jmp))
			fs->patched = false;
	}
	pthread_mutex_unlock(&routes.lock);
	pthread_mutex_lock(&net.lock);
	net_unpatch(false);
	pthread_mutex_unlock(&net.lock);
}

static void net_try_off_locked(void)
{
	int64_t now = mono_ms();

	if (atomic_load(&hot.net_off) || !net_allowed() || !fast.started)
		return;
	net.last_try_ms = now;
	ts.in_handler++; /* our own syscalls: no handler, no scan */
	atomic_store(&hot.exec_watch, true);
	route_all(); /* the exec_nr sites' full routes */
	if (net_scan_patch(0, 0)) {
		ts.in_handler--;
		pr_debug("syscall hook: the net stays on: %s\n", net.why);
		net.last_failed = true;
		net.retry_ms = net.retry_ms ? net.retry_ms * 2 : NET_RETRY_MS;
		if (net.retry_ms > NET_RETRY_MAX)
			net.retry_ms = 0; /* until the next watch change */
		atomic_store(&net.retry_at, net.retry_ms ? now + net.retry_ms : 0);
		return;
	}
	net.retry_ms = 0;
	net.last_failed = false;
	atomic_store(&net.retry_at, 0);
	net_say("it is off");
	atomic_store(&hot.net_off, true);
	atomic_store(&en_on, false);
	if (ts.enabled)
		disable_self();
	if (ask_others())
		pr_debug("syscall hook: some threads keep Syscall User Dispatch on (they block "
			 "signal %d)\n",
			 SC_ENABLE_SIG);
	rest_unneeded();
	ts.in_handler--;
	pr_debug("syscall hook: the net is off (%d syscall sites known)\n", atomic_load(&net.n));
}

/* the exit of a call that may have made code executable (@sc: exec_nr) */
static void net_new_code(const struct bpftime_syscall *sc)
{
	uintptr_t start = 0, len = 0;
	bool shared = false, file = false;

	if ((uint64_t)sc->ret > (uint64_t)-4096)
		return; /* failed */
	switch (sc->nr) {
	case SYS_mmap:
		if (!(sc->args[2] & PROT_EXEC))
			return;
		start = (uintptr_t)sc->ret;
		len = sc->args[1];
		shared = (sc->args[3] & MAP_TYPE) != MAP_PRIVATE;
		file = !(sc->args[3] & MAP_ANONYMOUS) && (int)sc->args[4] >= 0;
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		if (!(sc->args[2] & PROT_EXEC))
			return;
		start = sc->args[0];
		len = sc->args[1];
		break;
	case SYS_mremap:
		start = (uintptr_t)sc->ret;
		len = sc->args[2];
		break;
	case SYS_shmat:
		if (!(sc->args[2] & 0100000 /* SHM_EXEC */))
			return;
		shared = true;
		break;
	}
	ts.in_handler++;
	if (shared) {
		net_say("a shared executable mapping (its code may change behind the scan)");
	} else if (!net_scan_patch(start, start + len) ||
		   (file && !net_scan_loading((int)sc->args[4], sc->args[5], start, start + len))) {
		/* (a library's segment: ld.so lists it later, so its own
		 * headers prove it) */
		ts.in_handler--;
		return;
	}
	pthread_mutex_lock(&hook.start_lock);
	if (atomic_load(&hot.net_off)) {
		pr_debug("syscall hook: the net goes on: %s\n", net.why);
		net_on_locked();
		net.retry_ms = NET_RETRY_MS;
		atomic_store(&net.retry_at, mono_ms() + NET_RETRY_MS);
		raw(SYS_futex, (long)&fast.queued, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
	}
	pthread_mutex_unlock(&hook.start_lock);
	ts.in_handler--;
}

/* fast_entry() for a call made here through raw(), the handlers around it
 * when wanted: the hook's own (signal masks and actions: call_fixed;
 * exec_nr: new code scanned at its exit), or a fork-like one on a thread
 * without SUD (the child forgets this thread's id and shares nothing) */
static bool made_here(struct fast_frame *f, long nr, uintptr_t ret)
{
	bool handlers = hot.selector == SYSCALL_DISPATCH_FILTER_BLOCK && tls_mine();
	bool fork = fork_like(nr, f->rdi, f->rsi);
	struct bpftime_syscall sc;

	from_frame(&sc, f, nr, 0, ret);
	if (handlers)
		run_enter(&sc, !fork);
	if (!sc.override) {
		sc.ret = fork ? call(&sc) : call_fixed(&sc);
		if (fork && sc.ret == 0) {
			ids_changed();
			fork_child();
		} else if (exec_nr(nr) && handlers && !ts.in_handler &&
			   atomic_load_explicit(&hot.exec_watch, memory_order_relaxed)) {
			net_new_code(&sc);
		}
	}
	if (handlers)
		run_exit(&sc);
	f->rax = (uint64_t)sc.ret;
	f->rcx = ret;
	f->r11 = f->flags;
	return false;
}

/* int3 on a net site: on to its area, as its jmp would go */
static void on_sigtrap(int sig, siginfo_t *si, void *ucv)
{
	greg_t *g = ((ucontext_t *)ucv)->uc_mcontext.gregs;
	uintptr_t at;
	int i;

	sigframe_mine(si, ucv);
	at = (uintptr_t)g[REG_RIP] - 1;
	i = si->si_code == SI_KERNEL ? net_find(at) : -1;

	if (i < 0) {
		chain_action(&app_sigtrap, sig, si, ucv);
		return;
	}
	/* undone meanwhile: the instruction as it is now */
	g[REG_RIP] = (greg_t)(*(volatile uint8_t *)at == 0xcc ? net_area(i) : at);
}

/* A copy of its own of the shared memory at @rx and @rw (@len bytes, one
 * memfd seen twice), at the same addresses; raw syscalls only (the child
 * runs on while it happens, its return path inside the region) */
static void own_copy(void *rx, void *rw, size_t len)
{
	long fd = raw(SYS_memfd_create, (long)"bpftime-syscalls", 1 /* MFD_CLOEXEC */, 0, 0, 0, 0);

	if (fd < 0)
		return;
	if (!raw(SYS_ftruncate, fd, (long)len, 0, 0, 0, 0) &&
	    raw(SYS_pwrite64, fd, (long)rw, (long)len, 0, 0, 0) == (long)len) {
		raw(SYS_mmap, (long)rw, (long)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		    fd, 0);
		raw(SYS_mmap, (long)rx, (long)len, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
		    fd, 0);
	}
	raw(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* In a forked child: the region and the trap gadgets were memfd mappings
 * shared with the parent, whose route slots, site areas and clone stubs
 * the child would change under it (and the other way round): copies of
 * the child's own. */
static void fork_child(void)
{
	ts.vfork_depth = 0; /* memory of its own */
	if (hook.region)
		own_copy(hook.region, hook.rw, REGION_SIZE);
	if (net.trap)
		own_copy(net.trap, net.trap_rw,
			 ((size_t)NET_MAX * NET_TRAP + 4095) & ~(size_t)4095);
}

/* once, at the first start with BPFTIME_SYSCALL_NET=auto: the common
 * body, the trap gadgets' pages, SIGTRAP, /proc/self/mem, membarrier */
static int net_setup(void)
{
	struct ksigaction sa;
	size_t tlen = ((size_t)NET_MAX * NET_TRAP + 4095) & ~(size_t)4095;
	int fd;
	long r;

	fd = (int)syscall(SYS_memfd_create, "bpftime-syscall-traps", 1 /* MFD_CLOEXEC */);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)tlen)) {
		close(fd);
		return -errno;
	}
	net.trap_rw = mmap(NULL, tlen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	net.trap = mmap(NULL, tlen, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	close(fd);
	if (net.trap_rw == MAP_FAILED || net.trap == MAP_FAILED)
		return -ENOMEM;
	memset(net.trap_rw, 0xcc, tlen);
	sysscan_own((uintptr_t)net.trap, tlen); /* its syscalls are ours */
	hot.net_area0 = net_area(0);
	hot.net_trap = (uintptr_t)net.trap;
	emit_net_common(hook.rw + REGION_NET, (uintptr_t)hook.region + REGION_NET);
	mem_fd();
	net.sync_core = !raw(SYS_membarrier, 1 << 6 /* REGISTER_PRIVATE_EXPEDITED_SYNC_CORE */, 0,
			     0, 0, 0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.handler = (void *)on_sigtrap;
	sa.flags = SA_SIGINFO | SA_NODEFER | SA_RESTART | SA_RESTORER;
	sa.restorer = hook.region + REGION_RESTORER;
	r = raw(SYS_rt_sigaction, SIGTRAP, (long)&sa, (long)&app_sigtrap, 8, 0, 0);
	if (r)
		return (int)r;
	atomic_store(&trap_on, true);
	return 0;
}

/* ---- enabling threads ---------------------------------------------------- */

static void chain_enable(int sig, siginfo_t *si, void *uc)
{
	struct ksigaction *a = &hook.old_enable;

	if (a->handler == SIG_IGN || a->handler == SIG_DFL)
		return; /* the default for a real-time signal would kill: it is ours */
	if (a->flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
	else
		((void (*)(int))a->handler)(sig);
}

static void on_enable(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno;
	pid_t tid;
	bool mine;
	int n;

	sigframe_mine(si, uc);
	saved_errno = errno;
	if (si->si_code != SI_QUEUE || si->si_value.sival_ptr != (void *)&en_acks) {
		chain_enable(sig, si, ucv);
		return;
	}
	/* a thread on another's TLS answers without turning SUD on */
	mine = tls_mine();
	if (mine) {
		sigdelset(&uc->uc_sigmask, SIGSYS);
		if (atomic_load(&trap_on))
			sigdelset(&uc->uc_sigmask, SIGTRAP);
	}
	if (!mine || (atomic_load(&en_on) ? enable_self() : disable_self()) == 0) {
		tid = mine ? bpftime_syscall_tid() : (pid_t)raw(SYS_gettid, 0, 0, 0, 0, 0, 0);
		n = atomic_load(&en_n);
		for (int i = 0; i < n; i++) {
			if (en_tids[i] == tid) {
				if (!atomic_exchange(&en_acked[i], 1))
					atomic_fetch_add(&en_acks, 1);
				break;
			}
		}
	}
	errno = saved_errno;
}

static bool asked(pid_t tid)
{
	int n = atomic_load(&en_n);

	for (int i = 0; i < n; i++)
		if (en_tids[i] == tid)
			return true;
	return false;
}

static bool task_alive(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return access(path, F_OK) == 0;
}

/* Asks every other thread to turn SUD on (en_on) or off, until no new
 * thread shows up.  Returns the number of threads that did not answer in
 * time. */
static int ask_others(void)
{
	pid_t self = bpftime_syscall_tid(), pid = (pid_t)raw(SYS_getpid, 0, 0, 0, 0, 0, 0);
	struct timespec t0, now, nap = { 0, 1000000 };
	int late = 0;
	bool more = true;

	atomic_store(&en_n, 0);
	atomic_store(&en_acks, 0);
	while (more) {
		struct dirent *de;
		DIR *d = opendir("/proc/self/task");
		int sent = 0;

		more = false;
		if (!d)
			break;
		while ((de = readdir(d))) {
			pid_t tid = (pid_t)atoi(de->d_name);
			siginfo_t si;
			int i;

			if (tid <= 0 || tid == self || tid == atomic_load(&fast.tid) || asked(tid))
				continue;
			i = atomic_load(&en_n);
			if (i == ENABLE_MAX)
				break;
			en_tids[i] = tid;
			atomic_store(&en_acked[i], 0);
			atomic_store(&en_n, i + 1);
			memset(&si, 0, sizeof(si));
			si.si_code = SI_QUEUE;
			si.si_pid = pid;
			si.si_uid = getuid();
			si.si_value.sival_ptr = &en_acks;
			if (raw(SYS_rt_tgsigqueueinfo, pid, tid, SC_ENABLE_SIG, (long)&si, 0, 0) ==
			    0) {
				sent++;
				more = true;
			} else {
				atomic_store(&en_acked[i], 1); /* gone */
				atomic_fetch_add(&en_acks, 1);
			}
		}
		closedir(d);
		if (!sent)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (;;) {
			int n = atomic_load(&en_n);

			if (atomic_load(&en_acks) >= n)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) >
			    ENABLE_WAIT_NS) {
				for (int i = 0; i < n; i++) {
					if (atomic_load(&en_acked[i]))
						continue;
					if (task_alive(en_tids[i]))
						late++;
					atomic_store(&en_acked[i], 1);
				}
				more = false;
				break;
			}
			nanosleep(&nap, NULL);
		}
	}
	return late;
}

/* Where the region goes: a free gap within 1 GiB of libc's code, so that
 * rel32 jumps from the sites of libc (and the libraries mapped near it)
 * reach trampolines inside the region.  0: anywhere. */
static uintptr_t region_near(void)
{
	uintptr_t target, best = 0, best_dist = (uintptr_t)1 << 30;
	struct map_ent *m;
	Dl_info info;
	size_t n;

	if (!dladdr((void *)(uintptr_t)getppid, &info) || !info.dli_fbase ||
	    hook_read_maps(&m, &n) < 0)
		return 0;
	target = (uintptr_t)info.dli_fbase;
	for (size_t i = 1; i < n; i++) {
		/* a guard page on each side; not just above the heap or below
		 * the stack, which grow */
		uintptr_t gs = m[i - 1].end + 4096, ge = m[i].start - 4096, cand, dist;

		if (m[i - 1].heap || m[i].stack || ge <= gs || ge - gs < REGION_SIZE)
			continue;
		cand = target < gs ? gs : ge - REGION_SIZE;
		dist = cand > target ? cand - target : target - cand;
		if (dist < best_dist) {
			best = cand;
			best_dist = dist;
		}
	}
	free(m);
	return best;
}

static int install(void)
{
	struct ksigaction sa;
	uint8_t *rx, *rw;
	uintptr_t hint;
	long r;
	int fd;

	for (long nr = 0; nr < UNUSUAL_NR_MAX; nr++) /* the bits say what the switches say */
		assert(unusual_nr(nr) == (special_nr(nr) || net_c_nr(nr) || exec_nr(nr)));
	fd = (int)syscall(SYS_memfd_create, "bpftime-syscalls", 1 /* MFD_CLOEXEC */);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, REGION_SIZE)) {
		close(fd);
		return -errno;
	}
	rw = mmap(NULL, REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rx = MAP_FAILED;
	if (rw != MAP_FAILED && (hint = region_near())) {
		rx = mmap((void *)hint, REGION_SIZE, PROT_READ | PROT_EXEC,
			  MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		if (rx != MAP_FAILED && rx != (void *)hint) { /* a kernel without the flag */
			munmap(rx, REGION_SIZE);
			rx = MAP_FAILED;
		}
	}
	if (rw != MAP_FAILED && rx == MAP_FAILED)
		rx = mmap(NULL, REGION_SIZE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	close(fd);
	if (rx == MAP_FAILED) {
		int err = -errno;

		if (rw != MAP_FAILED)
			munmap(rw, REGION_SIZE);
		return err;
	}
	emit_fixed(rw);
	sysscan_own((uintptr_t)rx, REGION_SIZE); /* its syscalls are ours */
	hook.region = rx;
	hook.rw = rw;
	hot.raw = (raw_fn)(void *)(rx + REGION_RAW);

	/* is SUD there?  (on and off again on this thread) */
	r = sud(true);
	if (r) {
		munmap(rx, REGION_SIZE);
		munmap(rw, REGION_SIZE);
		hot.raw = NULL;
		return r == -EINVAL ? -ENOSYS : (int)r;
	}
	sud(false);

	memset(&sa, 0, sizeof(sa));
	sa.handler = (void *)on_sigsys;
	sa.flags = SA_SIGINFO | SA_NODEFER | SA_RESTART | SA_RESTORER;
	sa.restorer = rx + REGION_RESTORER;
	r = raw(SYS_rt_sigaction, SIGSYS, (long)&sa, (long)&hook.app_sigsys, 8, 0, 0);
	if (r)
		return (int)r;
	sa.handler = (void *)on_enable;
	sa.flags = SA_SIGINFO | SA_RESTART | SA_RESTORER;
	r = raw(SYS_rt_sigaction, SC_ENABLE_SIG, (long)&sa, (long)&hook.old_enable, 8, 0, 0);
	if (r)
		return (int)r;
	hook.installed = true;
	return 0;
}

/* @sig's action is @fn again if something else was set meanwhile; that
 * one goes to @aside (what the program reads back and what we chain to) */
static void reclaim_signal(int sig, void (*fn)(int, siginfo_t *, void *), unsigned long flags,
			   struct ksigaction *aside)
{
	struct ksigaction cur, sa;

	if (raw(SYS_rt_sigaction, sig, 0, (long)&cur, 8, 0, 0) || cur.handler == (void *)fn)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.handler = (void *)fn;
	sa.flags = flags | SA_RESTORER;
	sa.restorer = hook.region + REGION_RESTORER;
	if (!raw(SYS_rt_sigaction, sig, (long)&sa, 0, 8, 0, 0))
		*aside = cur;
}

/* The patcher thread, made with every signal blocked but SIGTRAP (int3
 * sites) and SIGSYS; it turns SUD off for itself.  Waits until it has said
 * its id (not to be asked to turn SUD on).  false: it could not be made. */
static bool start_patcher(void)
{
	struct timespec nap = { 0, 100000 };
	sigset_t all, saved;
	bool made;

	sigfillset(&all);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	atomic_store(&fast.tid, 0);
	made = !pthread_create(&fast.th, NULL, patcher, NULL);
	if (made) {
		pthread_detach(fast.th);
		while (!atomic_load(&fast.tid))
			nanosleep(&nap, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return made;
}

/* fork() (glibc's, with its handlers): the hook's locks are held across it,
 * in their order (start, net, routes, poke), so that the child gets them
 * free rather than held by a thread it does not have (the patcher in the
 * middle of a rewrite); the child makes a patcher of its own (threads do
 * not survive a fork: without one, its sites proven later would stay on the
 * signal path and a net that went on would stay on).  A lock not had within
 * FORK_LOCK_S (a fork from a signal handler that interrupted its holder on
 * this very thread) is left to its holder and made anew in the child. */
#define FORK_LOCK_S 2
static pthread_mutex_t *const fork_locks[] = { &hook.start_lock, &net.lock, &routes.lock,
					       &poke_lock };
static bool fork_held[ARRAY_SIZE(fork_locks)]; /* glibc runs one fork's handlers at a time */

static void fork_prepare(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += FORK_LOCK_S;
	for (size_t i = 0; i < ARRAY_SIZE(fork_locks); i++)
		fork_held[i] = !pthread_mutex_timedlock(fork_locks[i], &until);
}

static void fork_parent(void)
{
	for (size_t i = ARRAY_SIZE(fork_locks); i-- > 0;)
		if (fork_held[i])
			pthread_mutex_unlock(fork_locks[i]);
}

static void fork_child_atfork(void)
{
	for (size_t i = ARRAY_SIZE(fork_locks); i-- > 0;) {
		if (fork_held[i])
			pthread_mutex_unlock(fork_locks[i]);
		else
			pthread_mutex_init(fork_locks[i], NULL);
	}
	pthread_mutex_lock(&hook.start_lock);
	if (fast.started && !start_patcher())
		fast.started = false;
	pthread_mutex_unlock(&hook.start_lock);
}

int bpftime_syscall_hook__start(bpftime_syscall_fn enter, bpftime_syscall_fn exit, void *data)
{
	int err = 0, late;

	pthread_mutex_lock(&hook.start_lock);
	if (!hook.installed) {
		err = install();
		if (err) {
			if (err == -ENOSYS)
				pr_warn("syscall hook: this kernel has no Syscall User Dispatch "
					"(Linux 5.11 or newer needed)\n");
			else
				pr_warn("syscall hook: cannot set up: %s\n", strerror(-err));
			goto out;
		}
	}
	if (!fast.started) {
		const char *e = getenv("BPFTIME_SYSCALL_REWRITE");

		fast.on = !e || strcmp(e, "0");
		e = getenv("BPFTIME_SYSCALL_NET");
		net.want = (!e || !strcmp(e, "auto")) && fast.on;
		if (e && strcmp(e, "auto") && strcmp(e, "on"))
			pr_warn("syscall hook: BPFTIME_SYSCALL_NET=%s: \"on\" or \"auto\"; on\n",
				e);
		if (net.want) {
			int r;

			ts.in_handler++;
			r = net_setup();
			ts.in_handler--;
			if (r) {
				pr_warn("syscall hook: the net stays on: %s\n", strerror(-r));
				net.want = false;
			}
		}
		e = getenv("BPFTIME_SYSCALL_SCAN");
		fast.scan = e && !strcmp(e, "1");
		if (fast.on && start_patcher()) {
			fast.started = true;
			if (!hook.atfork)
				hook.atfork = !pthread_atfork(fork_prepare, fork_parent,
							      fork_child_atfork);
		}
	}
	/* the program may have set SIGSYS or SIGTRAP while we were off
	 * (nothing intercepted then): ours again, its action kept aside */
	reclaim_signal(SIGSYS, on_sigsys, SA_SIGINFO | SA_NODEFER | SA_RESTART, &hook.app_sigsys);
	if (atomic_load(&trap_on))
		reclaim_signal(SIGTRAP, on_sigtrap, SA_SIGINFO | SA_NODEFER | SA_RESTART,
			       &app_sigtrap);
	atomic_store(&hot.data, data);
	atomic_store(&hot.enter, enter);
	atomic_store(&hot.exit, exit);
	hot.selector = SYSCALL_DISPATCH_FILTER_BLOCK;
	route_all();
	patch_all(true);
	atomic_store(&hot.net_off, false);
	atomic_store(&en_on, true);
	if (!ts.enabled && enable_self())
		pr_warn("syscall hook: cannot turn Syscall User Dispatch on\n");
	late = ask_others();
	if (late) {
		pr_warn("syscall hook: %d thread(s) block signal %d: their syscalls are seen once "
			"they unblock it\n",
			late, SC_ENABLE_SIG);
		err = -EAGAIN;
	}
	net_try_off_locked();
out:
	pthread_mutex_unlock(&hook.start_lock);
	if (err)
		errno = -err;
	return err;
}

void bpftime_syscall_hook__set_data(void *data)
{
	atomic_store(&hot.data, data);
}

void bpftime_syscall_hook__warm(const void *const *addrs, size_t n)
{
	if (!addrs)
		n = 0;
	for (size_t k = 0; k < BPFTIME_SYSCALL_WARM_MAX; k++) {
		atomic_store_explicit(&warm_owner[k], k < n ? addrs[k] : NULL,
				      memory_order_relaxed);
		if (hook.rw)
			warm_set((int)k + 1, warm_addr((int)k + 1));
	}
}

void bpftime_syscall_hook__fast(const struct bpftime_syscall_fast_prog *const *enter,
				const struct bpftime_syscall_fast_prog *const *exit, size_t n,
				intptr_t busy_off)
{
	bool busy_ok;

	pthread_mutex_lock(&hook.start_lock);
	pthread_mutex_lock(&routes.lock);
	if (!fastl.busy_set && busy_off == (int32_t)busy_off) {
		fastl.busy = (int32_t)busy_off;
		fastl.busy_set = true;
	}
	busy_ok = fastl.busy_set && fastl.busy == busy_off;
	for (size_t nr = 0; nr < WATCH_MAX; nr++) {
		fastl.list[nr][0] = busy_ok && enter && nr < n ? enter[nr] : NULL;
		fastl.list[nr][1] = busy_ok && exit && nr < n ? exit[nr] : NULL;
	}
	for (int i = 0; i < routes.n; i++)
		fast_route(&routes.site[i]);
	pthread_mutex_unlock(&routes.lock);
	pthread_mutex_unlock(&hook.start_lock);
}

void bpftime_syscall_hook__pause(void)
{
	hot.selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	route_all();
}

int bpftime_syscall_hook__off(void)
{
	int late = 0;

	pthread_mutex_lock(&hook.start_lock);
	hot.selector = SYSCALL_DISPATCH_FILTER_ALLOW;
	route_all();
	if (hook.installed) {
		/* SUD off first (the round's signal is the only cost the
		 * threads see), then every site gets its own bytes back (the
		 * rewritten ones go direct meanwhile: the selector says so) */
		atomic_store(&hot.net_off, false);
		atomic_store(&hot.exec_watch, false);
		atomic_store(&net.retry_at, 0);
		atomic_store(&en_on, false);
		if (ts.enabled)
			disable_self();
		late = ask_others();
		patch_all(false);
		route_all();
		pthread_mutex_lock(&net.lock);
		net_unpatch(true);
		pthread_mutex_unlock(&net.lock);
	}
	pthread_mutex_unlock(&hook.start_lock);
	return late;
}

void bpftime_syscall_hook__watch(const uint8_t *w, size_t n)
{
	static uint8_t last[WATCH_MAX];
	static bool last_all = true;
	bool changed, narrowed = false;

	pthread_mutex_lock(&hook.start_lock);
	changed = last_all != !w;
	for (size_t i = 0; i < WATCH_MAX; i++) {
		uint8_t v = w && i < n ? w[i] : 0;

		changed |= last[i] != v;
		/* a number watched before and not now */
		narrowed |= w && !v && (last_all || last[i]);
		last[i] = v;
	}
	last_all = !w;
	if (atomic_load(&hot.net_off)) {
		/* before the table says so: the sites of the numbers it
		 * watches (every number: none) through the hook (the sites
		 * of a number no longer watched rest after it, below) */
		static uint8_t all[WATCH_MAX];
		static int todo[NET_MAX]; /* (under start_lock) */
		const uint8_t *wv = w ? w : all;
		size_t nv = w ? n : WATCH_MAX;
		int n_todo = 0, err;
		bool on = false;

		memset(all, BPFTIME_SYSCALL_WATCH_ENTER | BPFTIME_SYSCALL_WATCH_EXIT, sizeof(all));
		movs_wake(wv, nv);
		pthread_mutex_lock(&net.lock);
		for (int i = 0; i < atomic_load(&net.n); i++) {
			long nr = net.site[i].nr;

			if (nr >= 0 && (size_t)nr < nv && nr < WATCH_MAX && wv[nr] &&
			    atomic_load(&net.site[i].state) == NS_NATIVE &&
			    !mov_site_awake(net.site[i].addr))
				todo[n_todo++] = i;
		}
		/* in one set of rounds (every site, for every syscall) */
		if (n_todo && (err = net_patch_list(todo, n_todo))) {
			net_say("cannot rewrite every watched syscall site: %s", strerror(-err));
			on = true;
		}
		pthread_mutex_unlock(&net.lock);
		if (on)
			net_on_locked();
	}
	/* Every syscall: watch_all alone; the entries keep the last table, so
	 * that a call which read watch_all just before it went true and its
	 * entry just after still finds its number watched (zeroed entries
	 * lost that call's enter while its exit, later, saw watch_all:
	 * test_toggle_stress).  A table: its entries first, then watch_all
	 * false (release; watched() acquires). */
	if (!w) {
		atomic_store(&hot.watch_all, true);
	} else {
		for (size_t i = 0; i < WATCH_MAX; i++)
			atomic_store_explicit(&hot.watch_nr[i], i < n ? w[i] : 0,
					      memory_order_relaxed);
		atomic_store(&hot.watch_all, false);
	}
	route_all();
	if (narrowed && atomic_load(&hot.net_off)) {
		ts.in_handler++; /* our own syscalls: no handler */
		rest_unneeded();
		ts.in_handler--;
	}
	/* off if it can now: a full scan; after a failed one not more than
	 * once a second from here (the patcher's timer takes a try that
	 * comes too soon); an unchanged table changes nothing (the timer
	 * retries after a failure) */
	if (hook.installed && !atomic_load(&hot.net_off) && changed && net_allowed()) {
		int64_t since = mono_ms() - net.last_try_ms;

		if (!net.last_failed || since >= 1000) {
			net_try_off_locked();
		} else {
			atomic_store(&net.retry_at, net.last_try_ms + 1000);
			net_say("the next try is in %d ms", (int)(1000 - since));
			raw(SYS_futex, (long)&fast.queued, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
		}
	}
	pthread_mutex_unlock(&hook.start_lock);
}

int bpftime_syscall_hook__net(char *why, size_t len)
{
	bool off;

	if (!hook.installed)
		return -1;
	pthread_mutex_lock(&hook.start_lock);
	off = atomic_load(&hot.net_off);
	if (!off && why && len) {
		if (!net.want && !fast.on)
			snprintf(why, len, "rewriting is off (BPFTIME_SYSCALL_REWRITE=0)");
		else if (!net.why[0] || !strcmp(net.why, "it is off"))
			net_allowed() ? snprintf(why, len, "not tried yet")
				      : snprintf(why, len, "%s", net.why);
		else
			snprintf(why, len, "%s", net.why);
	}
	pthread_mutex_unlock(&hook.start_lock);
	return off ? 0 : 1;
}

void bpftime_syscall_hook__own(uintptr_t start, size_t len)
{
	sysscan_own(start, len);
}

struct bpftime_syscall *bpftime_syscall_current(void)
{
	return ts.cur;
}

int bpftime_syscall_override_return(int64_t rc)
{
	if (!ts.cur || !ts.can_override)
		return -EINVAL;
	ts.cur->override = true;
	ts.cur->ret = rc;
	return 0;
}

void bpftime_syscall_regs(const struct bpftime_syscall *sc, struct bpftime_pt_regs *r)
{
	const greg_t *g;

	if (!sc->uctx) { /* a rewritten site: the trampoline's frame */
		const struct fast_frame *f = sc->frame;

		memset(r, 0, sizeof(*r));
		r->rbp = f->rbp;
		r->rbx = f->rbx;
		r->r11 = f->flags; /* as the `syscall` instruction leaves them */
		r->r10 = f->r10;
		r->r9 = f->r9;
		r->r8 = f->r8;
		r->rax = (uint64_t)-ENOSYS;
		r->rcx = sc->ip;
		r->rdx = f->rdx;
		r->rsi = f->rsi;
		r->rdi = f->rdi;
		r->orig_rax = (uint64_t)sc->nr;
		r->rip = sc->ip;
		r->cs = 0x33;
		r->eflags = f->flags;
		r->rsp = (uint64_t)(uintptr_t)(f + 1) + RED_ZONE;
		r->ss = 0x2b;
		return;
	}
	g = ((const ucontext_t *)sc->uctx)->uc_mcontext.gregs;

	r->r15 = (uint64_t)g[REG_R15];
	r->r14 = (uint64_t)g[REG_R14];
	r->r13 = (uint64_t)g[REG_R13];
	r->r12 = (uint64_t)g[REG_R12];
	r->rbp = (uint64_t)g[REG_RBP];
	r->rbx = (uint64_t)g[REG_RBX];
	r->r11 = (uint64_t)g[REG_R11];
	r->r10 = (uint64_t)g[REG_R10];
	r->r9 = (uint64_t)g[REG_R9];
	r->r8 = (uint64_t)g[REG_R8];
	r->rax = (uint64_t)-ENOSYS; /* what the kernel's pt_regs hold at entry */
	r->rcx = (uint64_t)g[REG_RCX];
	r->rdx = (uint64_t)g[REG_RDX];
	r->rsi = (uint64_t)g[REG_RSI];
	r->rdi = (uint64_t)g[REG_RDI];
	r->orig_rax = (uint64_t)sc->nr;
	r->rip = (uint64_t)g[REG_RIP];
	r->cs = 0x33;
	r->eflags = (uint64_t)g[REG_EFL];
	r->rsp = (uint64_t)g[REG_RSP];
	r->ss = 0x2b;
}
