/* SPDX-License-Identifier: MIT */
/* bpftime/syscall_hook.h: every system call of this process, seen in
 * userspace (x86-64 Linux >= 5.11, Syscall User Dispatch).  Public API;
 * compiles alone as C and C++.
 *
 *   bpftime_syscall_hook__start(enter, exit, data);  every thread, and threads created later
 *   ... each syscall of the process runs enter(sc) then, unless overridden, the
 *       syscall, then exit(sc) on the calling thread ...
 *   bpftime_syscall_hook__pause();                   syscalls run natively again
 *
 * Nothing is intercepted before the first start: a process that never
 * starts pays nothing.  The handlers run inside a SIGSYS handler on the
 * thread that made the call; syscalls they (or the helpers they call) make
 * are executed without running the handlers again.
 */
#ifndef BPFTIME_SYSCALL_HOOK_H
#define BPFTIME_SYSCALL_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_pt_regs;

/* One system call, as the handlers see it (valid during the call). */
struct bpftime_syscall {
	int64_t nr;
	uint64_t args[6]; /* rdi, rsi, rdx, r10, r8, r9 */
	int64_t ret;	  /* exit: the result (-errno on failure) */
	bool override;	  /* set by enter (bpftime_syscall_override_return) */
	bool no_exit; /* enter: this call reports no exit (exit, execve, clone in the child...) */
	void *uctx;   /* the signal's ucontext_t, or NULL at a rewritten site */
	void *frame;  /* a rewritten site: the trampoline's saved registers */
	uint64_t ip;  /* a rewritten site: the address after the syscall */
};

typedef void (*bpftime_syscall_fn)(struct bpftime_syscall *sc, void *data);

/**
 * @brief **bpftime_syscall_hook__start()** intercepts every syscall of every
 * thread of the process from now on (threads created later included).  Called
 * again (e.g. after pause) it turns interception back on, with new handlers.
 * @param enter run before each syscall (may be NULL)
 * @param exit run after each syscall that returns (may be NULL)
 * @param data passed to both; kept by the caller for the process's life
 * @return 0; -ENOSYS (kernel without Syscall User Dispatch), -EAGAIN (some
 *         threads did not answer the enable signal in time: they are not
 *         intercepted until they unblock it), -ENOMEM, -errno.  Logs the reason.
 */
BPFTIME_API int bpftime_syscall_hook__start(bpftime_syscall_fn enter, bpftime_syscall_fn exit,
					    void *data);

/** @brief the data the handlers get from now on (a call in flight may still
 * get the previous one, which the caller keeps) */
BPFTIME_API void bpftime_syscall_hook__set_data(void *data);

#define BPFTIME_SYSCALL_WARM_MAX 6 /* addresses bpftime_syscall_hook__warm() keeps */

/**
 * @brief **bpftime_syscall_hook__warm()** the addresses the handlers read
 * first on a hooked call (their table, the programs' code): every hooked
 * call prefetches them, with the hook's own pages, before any handler
 * runs.  After a syscall what the kernel's entry evicted costs a miss (on
 * a machine with PTI and no PCID every page touched is also a page walk),
 * ~20-30 ns each when one address is read from another; started together
 * they overlap.
 * A hint: they need not stay mapped (a prefetch never faults), and a call
 * in flight may still prefetch the previous ones.
 * @param addrs up to BPFTIME_SYSCALL_WARM_MAX addresses (more are ignored;
 *        NULL: none)
 * @param n how many (0: none)
 */
BPFTIME_API void bpftime_syscall_hook__warm(const void *const *addrs, size_t n);

/** @brief syscalls run natively again (the handlers stop being called);
 * threads keep a small kernel-side cost until the process ends */
BPFTIME_API void bpftime_syscall_hook__pause(void);

/**
 * @brief **bpftime_syscall_hook__off()** pauses and turns Syscall User
 * Dispatch off in every thread (a signal to each, as the start does), so
 * that no cost is left; bpftime_syscall_hook__start() turns it on again.
 * Waits for the threads' answers (up to 2 s for one that blocks the
 * signal): not for destructors.
 * @return the number of threads that did not answer in time (they keep
 *         the kernel-side cost until they do)
 */
BPFTIME_API int bpftime_syscall_hook__off(void);

#define BPFTIME_SYSCALL_WATCH_ENTER 1 /* the enter handler wants this syscall */
#define BPFTIME_SYSCALL_WATCH_EXIT  2 /* the exit handler does */

/**
 * @brief **bpftime_syscall_hook__watch()** the syscalls the handlers want:
 * @watch[nr] (for nr < @n; none at or above @n) says which handlers, as
 * BPFTIME_SYSCALL_WATCH_ENTER | _EXIT bits; @watch NULL: both, for every
 * syscall (the default).  A handler is not called for a syscall it does
 * not want, and a rewritten site of a syscall neither wants makes the call
 * directly, building nothing.  The array is copied; takes effect for calls
 * that start after it returns (a call in flight may still see the old
 * choice).
 */
BPFTIME_API void bpftime_syscall_hook__watch(const uint8_t *watch, size_t n);

/* One program a rewritten site runs itself (bpftime_syscall_hook__fast). */
struct bpftime_syscall_fast_prog {
	uint64_t (*fn)(void *record, uint64_t size); /* NULL: the end of a list */
	uint16_t type;				     /* the record's first 2 bytes when @fn runs */
	uint32_t size;				     /* @fn's second argument */
};

/**
 * @brief **bpftime_syscall_hook__fast()** lists of functions that rewritten
 * sites of a syscall run themselves, in place of the handlers (no frame of
 * registers, no C between the site and them).  Before the call, each
 * function of @enter[nr] in order gets a 64-byte record on the thread's
 * stack: { u16 type (its entry's), u8 0, u8 0, s32 thread id, s64 nr,
 * u64 args[6] } (the kernel's raw_syscalls/sys_enter record, and for nr >= 0
 * its syscalls/sys_enter_NAME record); after it, each of @exit[nr] gets
 * { u16 type, u8 0, u8 0, s32 thread id, s64 nr, s64 result } (24 bytes:
 * sys_exit's).  A function reads its record and never writes it (the
 * exit record is the enter record's first 16 bytes again, the result
 * after them).  They run as the handlers would: on the calling thread, its
 * syscalls there not seen, never while the thread is in a handler or while
 * the byte at @busy_off from its thread pointer is nonzero (the handlers
 * run then).  A syscall takes this route only where each side its watch
 * bits name (bpftime_syscall_hook__watch) has a list here; else the
 * handlers run, as for every call made elsewhere (signal path, sites of any
 * syscall).  A list may be empty (only the
 * terminating entry): nothing to run on that side.
 * @param enter, exit indexed by syscall number (NULL: no lists); each list
 *        ends with an entry whose fn is NULL and must stay valid, unchanged,
 *        for the process's life (a call in flight may still run an old one)
 * @param n the arrays' length
 * @param busy_off the offset of a per-thread byte from the thread pointer;
 *        the first call's is kept (a later call with another gets no lists)
 */
BPFTIME_API void bpftime_syscall_hook__fast(const struct bpftime_syscall_fast_prog *const *enter,
					    const struct bpftime_syscall_fast_prog *const *exit,
					    size_t n, intptr_t busy_off);

/** @brief the syscall being handled on this thread (NULL outside handlers) */
BPFTIME_API struct bpftime_syscall *bpftime_syscall_current(void);

/** @brief bpf_override_return in an enter handler: skip the syscall and
 * return rc.  @return 0, -EINVAL outside an enter handler or for a call that
 * cannot be skipped (rt_sigreturn, clone, exit) */
BPFTIME_API int bpftime_syscall_override_return(int64_t rc);

/** @brief the registers of the thread at the syscall (rip after the syscall
 * instruction, orig_rax = nr), in the kernel's struct pt_regs layout */
BPFTIME_API void bpftime_syscall_regs(const struct bpftime_syscall *sc,
				      struct bpftime_pt_regs *regs);

/** @brief syscall sites rewritten so far (they no longer take a signal) */
BPFTIME_API int bpftime_syscall_hook__rewritten(void);

/** @brief threads made by clone(CLONE_VM) without a TLS of their own (no
 * CLONE_SETTLS, not vfork) while the hook ran: they share their parent's
 * thread-local state, so no handler runs on them (their syscalls are not
 * seen) */
BPFTIME_API int bpftime_syscall_hook__bare_threads(void);

/** @brief @fn (NULL: none) runs on a thread whose process or thread id has
 * changed under its thread-local storage: the child of a fork the hook saw,
 * a vfork child (which runs on its parent's memory, TLS included, until its
 * exec or exit) and that parent when it goes on.  Per-thread caches of
 * getpid()/gettid() are stale there.  It may run in a signal handler and on
 * a vfork child's stack: async-signal-safe, small. */
BPFTIME_API void bpftime_syscall_hook__on_new_ids(void (*fn)(void));

/**
 * @brief **bpftime_syscall_hook__net()** whether the safety net (Syscall User
 * Dispatch) is on in the process's threads: 1 on, 0 off (every `syscall`
 * instruction the process can run was found and the ones that matter
 * rewritten: see docs/syscall-tracepoints.md), -1 the hook never started.
 * With BPFTIME_SYSCALL_NET=auto (the default) the hook turns the net off
 * whenever it can prove that nothing is missed, and on again when it cannot
 * (new code it cannot prove, a watched syscall that needs the signal path);
 * "on" keeps it on (e.g. under a debugger, which would see the SIGTRAPs of
 * the rewritten sites that have no room for a jump).
 * @param why when not NULL and the net is on: the reason, as a sentence
 * @param len the size of @why
 */
BPFTIME_API int bpftime_syscall_hook__net(char *why, size_t len);

/** @brief [start, start + len) is runtime-generated code of ours (JIT pages)
 * that holds no `syscall` instruction as an instruction: the hook's scan
 * skips it (a `0f 05` inside an immediate there would keep the net on).
 * The range must stay the caller's for the process's life (it is never
 * dropped: code someone else maps there later would not be scanned) */
BPFTIME_API void bpftime_syscall_hook__own(uintptr_t start, size_t len);

/** @brief the calling thread's id, cached (the syscall hook's own) */
BPFTIME_API int32_t bpftime_syscall_tid(void);

#ifdef __cplusplus
}
#endif
#endif
