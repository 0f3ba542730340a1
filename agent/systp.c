/* SPDX-License-Identifier: MIT */
/* agent/systp.c: syscall tracepoint programs (syscalls/sys_{enter,exit}_NAME,
 * raw_syscalls/sys_{enter,exit}) in the traced process.
 *
 * What concerns this process: each link (by id, whatever holds it: an fd
 * or only a pin) or program attach_fds entry whose target is an enabled
 * tracepoint perf event with pid -1 or ours, and whose config the syscall
 * server filled with BPFTIME_SYSTP_CONFIG (kind, nr).
 * A tracepoint perf event without it (imported from elsewhere) is decoded
 * from our own id range; anything else gets one warning.
 *
 * agent_systp_sync() (under the agent's lock, on every epoch) builds a new
 * dispatch table: per syscall number the programs of its sys_enter_ and
 * sys_exit_ events, plus the raw_syscalls programs, each with the
 * tracepoint id that goes into the record's type field.  The table is one
 * block (header, a 16-bit index per syscall number, the slots it points
 * to, the lists), in one page when it fits: after a syscall every page a
 * run touches is a TLB refill.  It is published as the hook's data (the
 * handlers read nothing else of ours) and the old one is retired, never
 * freed (a thread may still be running it).  The first table that is not empty
 * starts the syscall hook (attach/syscall.c); an empty one pauses it.  A
 * process whose segment never holds a syscall tracepoint for it never
 * starts the hook and pays nothing.
 *
 * The handlers build the kernel's records (bpftime/syscall_tp.h) on the
 * stack and run the programs in attach order.  bpf_override_return in a
 * sys_enter program skips the call (helpers.c); programs that walk the stack
 * see the thread's registers at the syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpftime/attach.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/syscall_tp.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/syscall_tp.h"
#include "common/alloc.h"

#define NR_MAX		   BPFTIME_SYSTP_NR_MAX
#define HELPER_GET_STACKID 27
#define HELPER_GET_STACK   67
#define HELPER_OVERRIDE	   58

struct tp_prog {
	struct bpftime_vm *vm;
	bpftime_vm_native_fn fn; /* its compiled code (NULL: bpftime_vm__run) */
	uint32_t prog_id;	 /* for the run statistics */
	uint16_t id;		 /* tracepoint id: the record's type */
	bool walks_stack;	 /* gets the thread's registers as helper context */
	bool needs_cpu;		 /* touches per-CPU data: the run owns a CPU slot */
	bool direct;		 /* fn needs no run state (bpftime_vm__native_direct) */
	bool overrides;		 /* calls bpf_override_return (reads the hook's call) */
};

struct tp_list {
	int n;
	bool needs_cpu;	   /* one of the programs does */
	bool plain;	   /* none does, none walks the stack, all compiled, no stats */
	uint32_t ctx_size; /* the record's size */
	struct tp_prog p[];
};

/* one syscall's lists side by side: a call touches one cache line */
struct tp_nr {
	struct tp_list *enter, *exit;
};

/* what a sync builds, then packs into a struct tp_table */
struct tp_build {
	struct tp_list *raw_enter, *raw_exit;
	int count;
	bool stats;
	struct tp_nr nr[NR_MAX];
};

/* build_fast()'s lists, by syscall number, then their entries */
struct tp_fast {
	const struct bpftime_syscall_fast_prog *enter[NR_MAX], *exit[NR_MAX];
	struct bpftime_syscall_fast_prog e[];
};

struct tp_table {
	struct tp_list *raw_enter, *raw_exit;
	struct bpftime_shm *shm; /* the segment whose programs run here */
	uintptr_t busy_off;	 /* agent_busy_tp_offset() */
	int count;
	/* run statistics on (BPF_ENABLE_STATS: a change bumps the epoch and
	 * the sync makes a new table), read where the handlers read anyway */
	bool stats;
	struct tp_table *retired_next;
	void *block;	      /* what was allocated */
	struct tp_fast *fast; /* the lists the hook's sites run themselves (build_fast) */
	uint16_t idx[NR_MAX]; /* 0: no programs for this number; else slot[idx - 1] */
	struct tp_nr slot[];  /* then the lists */
};

struct tp_want {
	uint32_t prog_id;
	int prog_fd;
	enum bpftime_systp_kind kind;
	int nr;
	uint16_t id;
};

/* the handlers get it as the hook's data, not from here */
static _Atomic(struct tp_table *) table;
static struct tp_table *retired;
static bool hook_started, hook_failed;
static struct agent_warned warned; /* programs and perf events */

static bool failed(uint32_t id)
{
	return agent_warned_has(&warned, 0, id);
}

static void mark_failed(uint32_t id)
{
	agent_warned_add(&warned, 0, id);
}

/* ---- handlers (any thread, inside the SIGSYS handler) ------------------- */

__attribute__((noinline)) BPFTIME_HOT static void run_list_full(const struct tp_table *t,
								const struct tp_list *l, void *ctx,
								size_t size,
								const struct bpftime_syscall *sc)
{
	struct bpftime_shm *shm = t->shm;
	const bool stats = t->stats;

	/* the runs own a per-CPU slot, as the kernel's run on their CPU;
	 * programs without per-CPU data skip the claim (nothing can tell) */
	if (shm && l->needs_cpu)
		bpftime_shm__cpu_get(shm);
	for (int i = 0; i < l->n; i++) {
		const struct tp_prog *p = &l->p[i];
		uint64_t ret, t0 = 0;

		if (unlikely(stats))
			t0 = agent_stats_now();
		*(uint16_t *)ctx = p->id;
		if (unlikely(p->walks_stack)) {
			struct bpftime_pt_regs regs;
			struct bpftime_helper_ctx hc = { .regs = &regs };
			struct bpftime_helper_ctx *prev;

			bpftime_syscall_regs(sc, &regs);
			prev = bpftime_helper_ctx__swap(&hc);
			bpftime_vm__run(p->vm, ctx, size, &ret);
			bpftime_helper_ctx__swap(prev);
		} else if (likely(p->fn)) {
			/* the program's code, not its struct (one page less) */
			bpftime_vm__run_native(p->vm, p->fn, ctx, size);
		} else {
			bpftime_vm__run(p->vm, ctx, size, &ret);
		}
		if (unlikely(stats) && shm)
			agent_stats_add(shm, p->prog_id, t0);
	}
	if (shm && l->needs_cpu)
		bpftime_shm__cpu_put(shm);
}

/* the programs of @l on @ctx (@size bytes) in order; a plain list (the
 * usual one) straight to their compiled code, in the handler itself */
BPFTIME_HOT static inline void run_list(const struct tp_table *t, const struct tp_list *l,
					void *ctx, size_t size, const struct bpftime_syscall *sc)
{
	if (likely(l->plain)) {
		const struct tp_prog *p = l->p, *end = l->p + l->n;

		do {
			*(uint16_t *)ctx = p->id;
			if (likely(p->direct))
				p->fn(ctx, size);
			else
				bpftime_vm__run_native(p->vm, p->fn, ctx, size);
		} while (++p < end);
		return;
	}
	run_list_full(t, l, ctx, size, sc);
}

BPFTIME_HOT static const struct tp_nr *nr_lists(const struct tp_table *t, long nr)
{
	return nr >= 0 && nr < NR_MAX && t->idx[nr] ? &t->slot[t->idx[nr] - 1] : NULL;
}

/* agent_is_busy(), without its GOT page */
BPFTIME_HOT static inline bool busy(const struct tp_table *t)
{
	return *(const bool __seg_fs *)t->busy_off;
}

BPFTIME_HOT static void on_enter(struct bpftime_syscall *sc, void *data)
{
	const struct tp_table *t = data;
	const struct tp_nr *n;
	const struct tp_list *l;

	if (!t || busy(t))
		return;
	if (t->raw_enter) {
		struct bpftime_raw_sys_enter_ctx c = { .ent.pid = bpftime_syscall_tid(),
						       .id = sc->nr };

		memcpy(c.args, sc->args, sizeof(c.args));
		run_list(t, t->raw_enter, &c, sizeof(c), sc);
	}
	if ((n = nr_lists(t, sc->nr)) && (l = n->enter)) {
		struct bpftime_sys_enter_ctx c; /* every field set: no zeroing first */

		c.ent = (struct bpftime_trace_entry){ .pid = bpftime_syscall_tid() };
		c.syscall_nr = (int32_t)sc->nr;
		c.pad = 0;
		memcpy(c.args, sc->args, sizeof(c.args));
		run_list(t, l, &c, l->ctx_size, sc);
	}
}

BPFTIME_HOT static void on_exit_(struct bpftime_syscall *sc, void *data)
{
	const struct tp_table *t = data;
	const struct tp_nr *n;
	const struct tp_list *l;

	if (!t || busy(t))
		return;
	if ((n = nr_lists(t, sc->nr)) && (l = n->exit)) {
		struct bpftime_sys_exit_ctx c = { .ent.pid = bpftime_syscall_tid(),
						  .syscall_nr = (int32_t)sc->nr,
						  .ret = sc->ret };

		run_list(t, l, &c, sizeof(c), sc);
	}
	if (t->raw_exit) {
		struct bpftime_raw_sys_exit_ctx c = { .ent.pid = bpftime_syscall_tid(),
						      .id = sc->nr,
						      .ret = sc->ret };

		run_list(t, t->raw_exit, &c, sizeof(c), sc);
	}
}

/* ---- sync ---------------------------------------------------------------- */

static bool calls_helper(struct bpftime_vm *vm, int32_t id)
{
	const struct bpftime_insn *insns;
	size_t cnt;

	insns = bpftime_vm__insns(vm, &cnt);
	for (size_t i = 0; insns && i < cnt; i++)
		if (insns[i].code == 0x85 && insns[i].src == 0 && insns[i].imm == id)
			return true;
	return false;
}

/* Is the perf event at @fd (-1: the one with object id @id, which a link
 * holds: a pinned link of a loader that exited) a syscall tracepoint for
 * this process?  Fills kind, nr and the id. */
static bool tp_wanted(struct bpftime_shm *shm, int fd, uint32_t id, pid_t pid, struct tp_want *w)
{
	struct bpftime_perf_event_info pi;

	if ((fd >= 0 ? bpftime_perf_event_get_info(shm, fd, &pi)
		     : bpftime_perf_event_get_info_by_id(shm, id, &pi)) ||
	    pi.type != BPFTIME_PERF_TYPE_TRACEPOINT)
		return false;
	if (!pi.enabled || (pi.pid != -1 && pi.pid != pid))
		return false;
	if (BPFTIME_SYSTP_CONFIG_VALID(pi.config)) {
		w->kind = BPFTIME_SYSTP_CONFIG_KIND(pi.config);
		w->nr = BPFTIME_SYSTP_CONFIG_NR(pi.config);
	} else if (systp_decode_fake_id(pi.tracepoint_id, &w->kind, &w->nr)) {
		if (!failed(pi.id)) {
			pr_warn("agent: perf event id %u: tracepoint id %d is not a syscall "
				"tracepoint: it does not run in userspace\n",
				pi.id, pi.tracepoint_id);
			mark_failed(pi.id);
		}
		return false;
	}
	if (w->kind > BPFTIME_SYSTP_RAW_EXIT ||
	    (w->kind <= BPFTIME_SYSTP_EXIT && (w->nr < 0 || w->nr >= NR_MAX)))
		return false;
	w->id = (uint16_t)pi.tracepoint_id;
	return true;
}

static int want_add(struct tp_want **w, size_t *n, const struct tp_want *x)
{
	struct tp_want *t = mem_realloc(*w, (*n + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	*w = t;
	t[(*n)++] = *x;
	return 0;
}

/* The wanted programs: those of @links (by id: a link lives as long as an
 * fd or a pin holds it, and its program and perf event may have no fd
 * left), then those of programs' attach_fds (the older form). */
static int collect(struct bpftime_shm *shm, pid_t pid, const struct bpftime_link_info *links,
		   size_t nlinks, struct tp_want **out, size_t *nout)
{
	struct tp_want *w = NULL, x;
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; !err && i < nlinks; i++) {
		if (!links[i].prog_id || !links[i].target_id ||
		    !tp_wanted(shm, -1, links[i].target_id, pid, &x))
			continue;
		x.prog_fd = -1;
		x.prog_id = links[i].prog_id;
		err = want_add(&w, &n, &x);
	}
	for (int fd = bpftime_handler_next(shm, -1); !err && fd >= 0;
	     fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_handler_info hi;
		struct bpftime_prog_info gi;

		/* a program several slots name (dup, OBJ_GET of a pin) once */
		if (bpftime_handler_get_info(shm, fd, &hi) || hi.type != BPFTIME_HANDLER_PROG ||
		    bpftime_handler_fd_by_id(shm, hi.id) != fd ||
		    bpftime_prog_get_info(shm, fd, &gi))
			continue;
		for (uint32_t i = 0; !err && i < gi.attach_cnt; i++) {
			if (gi.attach_fds[i] < 0 || !tp_wanted(shm, gi.attach_fds[i], 0, pid, &x))
				continue;
			x.prog_fd = fd;
			x.prog_id = hi.id;
			err = want_add(&w, &n, &x);
		}
	}
	if (err) {
		free(w);
		return err;
	}
	*out = w;
	*nout = n;
	return 0;
}

static int list_add(struct tp_list **l, const struct tp_prog *p)
{
	int n = *l ? (*l)->n : 0;
	struct tp_list *t = mem_realloc(*l, sizeof(*t) + (size_t)(n + 1) * sizeof(t->p[0]));

	if (!t)
		return -ENOMEM;
	t->p[n] = *p;
	t->n = n + 1;
	t->needs_cpu = (n && t->needs_cpu) || p->needs_cpu;
	t->plain = (!n || t->plain) && !p->needs_cpu && !p->walks_stack && p->fn;
	*l = t;
	return 0;
}

static bool same_list(const struct tp_list *a, const struct tp_list *b)
{
	if (!a || !b)
		return a == b;
	return a->n == b->n && a->needs_cpu == b->needs_cpu &&
	       !memcmp(a->p, b->p, (size_t)a->n * sizeof(a->p[0]));
}

/* unchanged: the running table stays (no garbage per epoch) */
static bool same_table(const struct tp_table *a, const struct tp_build *b)
{
	if (a->count != b->count || a->stats != b->stats ||
	    !same_list(a->raw_enter, b->raw_enter) || !same_list(a->raw_exit, b->raw_exit))
		return false;
	for (int i = 0; i < NR_MAX; i++) {
		const struct tp_nr *n = nr_lists(a, i);

		if (!same_list(n ? n->enter : NULL, b->nr[i].enter) ||
		    !same_list(n ? n->exit : NULL, b->nr[i].exit))
			return false;
	}
	return true;
}

static void free_build(struct tp_build *b)
{
	for (int i = 0; i < NR_MAX; i++) {
		free(b->nr[i].enter);
		free(b->nr[i].exit);
	}
	free(b->raw_enter);
	free(b->raw_exit);
	free(b);
}

static size_t list_size(const struct tp_list *l)
{
	return l ? sizeof(*l) + (size_t)l->n * sizeof(l->p[0]) : 0;
}

/* a copy of @l at *@at (advanced), or NULL; @stats: the runs are timed
 * (not plain) */
static struct tp_list *pack_list(const struct tp_list *l, uint8_t **at, bool stats)
{
	struct tp_list *c = (struct tp_list *)(void *)*at;
	size_t size = list_size(l);

	if (!l)
		return NULL;
	memcpy(c, l, size);
	c->plain = c->plain && !stats;
	*at += (size + 7) & ~(size_t)7;
	return c;
}

/* @b as one block, aligned to its size rounded up to a power of two (so a
 * table of a page or less is in one page), or NULL */
static struct tp_table *pack(const struct tp_build *b, struct bpftime_shm *shm)
{
	size_t size = sizeof(struct tp_table), align = 64;
	int slots = 0;
	struct tp_table *t;
	uint8_t *block, *at;

	size += ((list_size(b->raw_enter) + 7) & ~(size_t)7) +
		((list_size(b->raw_exit) + 7) & ~(size_t)7);
	for (int i = 0; i < NR_MAX; i++) {
		if (!b->nr[i].enter && !b->nr[i].exit)
			continue;
		slots++;
		size += sizeof(struct tp_nr) + ((list_size(b->nr[i].enter) + 7) & ~(size_t)7) +
			((list_size(b->nr[i].exit) + 7) & ~(size_t)7);
	}
	while (align < size && align < 4096)
		align *= 2;
	block = mem_calloc(1, size + align);
	if (!block)
		return NULL;
	t = (struct tp_table *)(void *)(((uintptr_t)block + align - 1) & ~(uintptr_t)(align - 1));
	t->block = block;
	t->shm = shm;
	t->busy_off = agent_busy_tp_offset();
	t->count = b->count;
	t->stats = b->stats;
	at = (uint8_t *)&t->slot[slots];
	t->raw_enter = pack_list(b->raw_enter, &at, b->stats);
	t->raw_exit = pack_list(b->raw_exit, &at, b->stats);
	slots = 0;
	for (int i = 0; i < NR_MAX; i++) {
		if (!b->nr[i].enter && !b->nr[i].exit)
			continue;
		t->slot[slots].enter = pack_list(b->nr[i].enter, &at, b->stats);
		t->slot[slots].exit = pack_list(b->nr[i].exit, &at, b->stats);
		t->idx[i] = (uint16_t)++slots;
	}
	return t;
}

/* @a in @w (up to BPFTIME_SYSCALL_WARM_MAX, each page once) */
static void warm_add(const void **w, size_t *n, const void *a)
{
	for (size_t i = 0; i < *n; i++)
		if (((uintptr_t)w[i] >> 12) == ((uintptr_t)a >> 12))
			return;
	if (*n < BPFTIME_SYSCALL_WARM_MAX)
		w[(*n)++] = a;
}

static void warm_list(const void **w, size_t *n, const struct tp_list *l)
{
	if (!l)
		return;
	warm_add(w, n, l);
	for (int i = 0; i < l->n; i++)
		warm_add(w, n, l->p[i].fn ? (const void *)l->p[i].fn : (const void *)l->p[i].vm);
}

/* What a run of @t reads after a syscall, for the hook to prefetch with
 * its own pages: the table's pages, then the lists' and the programs'
 * code (as many as the hook keeps).  Each would otherwise be a page walk
 * started only once the page before it gave its address. */
static void set_warm(const struct tp_table *t)
{
	const void *w[BPFTIME_SYSCALL_WARM_MAX];
	size_t n = 0;

	warm_add(w, &n, t);
	warm_add(w, &n, &t->idx[NR_MAX - 1]);
	warm_list(w, &n, t->raw_enter);
	warm_list(w, &n, t->raw_exit);
	for (int i = 0; i < NR_MAX; i++) {
		const struct tp_nr *nl = nr_lists(t, i);

		if (nl) {
			warm_add(w, &n, nl);
			warm_list(w, &n, nl->enter);
			warm_list(w, &n, nl->exit);
		}
	}
	bpftime_syscall_hook__warm(w, n);
}

static int progs(const struct tp_list *l)
{
	return l ? l->n : 0;
}

/* can a rewritten site run @l's programs itself (no handler: nothing of
 * run_list_full, no hook call read)? */
static bool list_fast(const struct tp_list *l)
{
	if (!l)
		return true;
	if (!l->plain)
		return false;
	for (int i = 0; i < l->n; i++)
		if (!l->p[i].direct || l->p[i].overrides)
			return false;
	return true;
}

/* @a's programs then @b's (either NULL) at *@at (advanced), records of
 * @size_a and @size_b bytes, the end entry last */
static struct bpftime_syscall_fast_prog *fast_list(const struct tp_list *a, uint32_t size_a,
						   const struct tp_list *b, uint32_t size_b,
						   struct bpftime_syscall_fast_prog **at)
{
	struct bpftime_syscall_fast_prog *l = *at;
	const struct tp_list *two[2] = { a, b };
	const uint32_t size[2] = { size_a, size_b };

	for (int k = 0; k < 2; k++)
		for (int i = 0; two[k] && i < two[k]->n; i++, (*at)++) {
			(*at)->fn = two[k]->p[i].fn;
			(*at)->type = two[k]->p[i].id;
			(*at)->size = size[k];
		}
	(*at)++->fn = NULL;
	return l;
}

/* The lists the hook's rewritten sites run themselves (the usual case: a
 * JIT-compiled program that needs nothing of the handlers), in the
 * handlers' order: raw_syscalls' enter programs then the syscall's, the
 * syscall's exit programs then raw_syscalls'.  NULL for a side with a
 * program that needs the handlers (its sites run them).  Kept with @t for
 * the process's life, as the hook wants. */
static void build_fast(struct tp_table *t)
{
	struct bpftime_syscall_fast_prog *at, *raw_enter, *raw_exit;
	struct tp_fast *f;
	size_t n = 2 + (size_t)progs(t->raw_enter) + (size_t)progs(t->raw_exit);
	const uint32_t raw_size = bpftime_systp_ctx_size(BPFTIME_SYSTP_RAW_ENTER, 6);
	const uint32_t exit_size = bpftime_systp_ctx_size(BPFTIME_SYSTP_EXIT, 0);
	bool raw_in = list_fast(t->raw_enter), raw_out = list_fast(t->raw_exit);

	for (int i = 0; i < NR_MAX; i++) {
		const struct tp_nr *nl = nr_lists(t, i);

		if (nl)
			n += 2 + (size_t)(progs(t->raw_enter) + progs(nl->enter) +
					  progs(t->raw_exit) + progs(nl->exit));
	}
	f = mem_calloc(1, sizeof(*f) + n * sizeof(f->e[0]));
	if (!f)
		return;
	at = f->e;
	raw_enter = fast_list(t->raw_enter, raw_size, NULL, 0, &at);
	raw_exit = fast_list(NULL, 0, t->raw_exit, exit_size, &at);
	for (int i = 0; i < NR_MAX; i++) {
		const struct tp_nr *nl = nr_lists(t, i);

		f->enter[i] = !raw_in ? NULL : !nl || !nl->enter ? raw_enter : NULL;
		f->exit[i] = !raw_out ? NULL : !nl || !nl->exit ? raw_exit : NULL;
		if (raw_in && nl && nl->enter && list_fast(nl->enter))
			f->enter[i] = fast_list(t->raw_enter, raw_size, nl->enter,
						nl->enter->ctx_size, &at);
		if (raw_out && nl && nl->exit && list_fast(nl->exit))
			f->exit[i] = fast_list(nl->exit, exit_size, t->raw_exit, exit_size, &at);
	}
	t->fast = f;
}

/* The syscalls with programs: the hook calls our enter (exit) handler for
 * those with enter (exit) programs only, and its rewritten sites of the
 * others just make the call.  raw_syscalls programs want every one. */
static void set_watch(const struct tp_table *t)
{
	static uint8_t want[NR_MAX];

	if (t->raw_enter || t->raw_exit) { /* also numbers past the table (x32) */
		bpftime_syscall_hook__watch(NULL, 0);
		return;
	}
	for (int i = 0; i < NR_MAX; i++) {
		const struct tp_nr *n = nr_lists(t, i);

		want[i] = (uint8_t)((n && n->enter ? BPFTIME_SYSCALL_WATCH_ENTER : 0) |
				    (n && n->exit ? BPFTIME_SYSCALL_WATCH_EXIT : 0));
	}
	bpftime_syscall_hook__watch(want, NR_MAX);
}

int agent_systp_sync(struct bpftime_shm *shm, struct bpftime_runtime *rt, int pid,
		     const struct bpftime_link_info *links, size_t nlinks)
{
	struct tp_table *t, *old;
	struct tp_build *b;
	struct tp_want *w = NULL;
	size_t n = 0;
	int err;

	err = collect(shm, pid, links, nlinks, &w, &n);
	if (err)
		return err;
	old = atomic_load(&table);
	if (!n && !old) {
		free(w);
		return 0; /* nothing now, nothing before: the hook stays off */
	}
	b = mem_calloc(1, sizeof(*b));
	if (!b) {
		free(w);
		return -ENOMEM;
	}
	b->stats = agent_stats_on();
	/* links in id order are attach order for one loader */
	for (size_t i = 0; i < n; i++) {
		const struct systp_info *si;
		size_t size;
		struct tp_prog p;
		struct tp_list **l;

		if (failed(w[i].prog_id))
			continue;
		memset(&p, 0, sizeof(p)); /* compared with memcmp */
		p.id = w[i].id;
		p.prog_id = w[i].prog_id;
		/* a pinned link's program may have no fd left: by its id */
		p.vm = w[i].prog_fd >= 0 ? bpftime_runtime__prog(rt, w[i].prog_fd)
					 : bpftime_runtime__prog_by_id(rt, w[i].prog_id);
		if (!p.vm) {
			if (errno != EBADF) {
				pr_warn("agent: syscall tracepoint prog id %u is not attached: "
					"%s\n",
					w[i].prog_id, strerror(errno));
				mark_failed(w[i].prog_id);
			}
			continue;
		}
		p.walks_stack = calls_helper(p.vm, HELPER_GET_STACK) ||
				calls_helper(p.vm, HELPER_GET_STACKID);
		p.overrides = calls_helper(p.vm, HELPER_OVERRIDE);
		p.needs_cpu = bpftime_runtime__needs_cpu(rt, p.vm);
		si = systp_by_nr(w[i].nr);
		size = bpftime_systp_ctx_size(w[i].kind, si ? si->nargs : 6);
		p.fn = bpftime_vm__native_direct(p.vm, size);
		p.direct = p.fn != NULL;
		if (!p.direct)
			p.fn = bpftime_vm__native(p.vm, size);
		switch (w[i].kind) {
		case BPFTIME_SYSTP_ENTER:
			l = &b->nr[w[i].nr].enter;
			break;
		case BPFTIME_SYSTP_EXIT:
			l = &b->nr[w[i].nr].exit;
			break;
		case BPFTIME_SYSTP_RAW_ENTER:
			l = &b->raw_enter;
			break;
		default:
			l = &b->raw_exit;
			break;
		}
		if (!list_add(l, &p)) {
			b->count++;
			if (w[i].kind == BPFTIME_SYSTP_ENTER)
				(*l)->ctx_size = (uint32_t)bpftime_systp_ctx_size(
					BPFTIME_SYSTP_ENTER, si ? si->nargs : 6);
		}
	}
	free(w);
	if ((!b->count && !old) || (old && same_table(old, b))) {
		free_build(b);
		return old ? old->count : 0;
	}
	t = pack(b, shm);
	free_build(b);
	if (!t)
		return -ENOMEM;
	build_fast(t);
	bpftime_syscall_hook__fast(t->fast ? t->fast->enter : NULL, t->fast ? t->fast->exit : NULL,
				   NR_MAX, (intptr_t)t->busy_off);
	set_watch(t);
	if (t->count && !hook_started && !hook_failed) {
		/* a vfork child's programs see its ids, not its parent's */
		bpftime_syscall_hook__on_new_ids(bpftime_helpers__new_ids);
		err = bpftime_syscall_hook__start(on_enter, on_exit_, t);
		if (err && err != -EAGAIN) {
			/* attach/ said why; once per process */
			pr_warn("agent: syscall tracepoints cannot run in this process (%s)\n",
				strerror(-err));
			hook_failed = true;
		} else {
			hook_started = true;
		}
	} else if (t->count && hook_started && (!old || !old->count)) {
		bpftime_syscall_hook__start(on_enter, on_exit_, t);
	} else {
		bpftime_syscall_hook__set_data(t);
	}
	set_warm(t);
	atomic_store_explicit(&table, t, memory_order_release);
	if (!t->count && hook_started)
		bpftime_syscall_hook__off(); /* no cost left until the next program */
	if (old) {
		old->retired_next = retired;
		retired = old;
	}
	return t->count;
}

int agent_systp_count(void)
{
	struct tp_table *t = atomic_load(&table);

	return t ? t->count : 0;
}

bool agent_systp_hooked(void)
{
	return hook_started;
}

/* Says once that threads without a TLS of their own were made (attach/
 * runs no handler on them); from the watcher and at exit, not from the
 * hook (the parent may hold any lock when it makes one). */
void agent_systp_note_bare(void)
{
	static atomic_bool said;
	int n;

	if (!hook_started || atomic_load(&said) || !(n = bpftime_syscall_hook__bare_threads()) ||
	    atomic_exchange(&said, true))
		return;
	pr_warn("agent: %d thread(s) made with clone(CLONE_VM) and no TLS of their own (a raw "
		"clone, as a sanitizer's leak checker makes): their syscalls are not traced\n",
		n);
}

void agent_systp_stop(void)
{
	struct tp_table *old = atomic_exchange(&table, NULL);

	if (hook_started) {
		bpftime_syscall_hook__pause();
		bpftime_syscall_hook__set_data(NULL);
	}
	if (old) {
		old->retired_next = retired;
		retired = old;
	}
}
