/* SPDX-License-Identifier: MIT */
/* attach/uprobe.c: probes on sites: attach/detach, the immutable probe lists
 * the stubs read, the entry and return dispatchers, and the per-thread shadow
 * stack behind uretprobes.
 *
 * Dispatch variants (chosen per list, so the stub just calls list->dispatch):
 *   hook_dispatch_empty      no probes (a thread entering after the last detach)
 *   dispatch_entry           uprobes and override probes only: no shadow stack
 *   dispatch_entry_ret       also uretprobes: hijacks the return address
 *
 * uretprobes.  At entry the return address at [rsp] is saved on the thread's
 * shadow stack with that rsp and replaced by the return trampoline; when the
 * function returns into the trampoline, rsp - 8 is the slot the address came
 * from.  Stack rule (the stack grows down; a live caller's slot is above its
 * callee's):
 *   - at entry with slot S, entries with sp < S, or sp == S unless [S] already
 *     is the trampoline, are stale (their frames were abandoned by longjmp,
 *     or an exception): pop them.  sp == S with the trampoline at [S] is a tail
 *     call from one uretprobed function into another: both entries stay and
 *     both fire, innermost first;
 *   - at return with slot S, pop entries with sp < S (stale), then the top
 *     must have sp == S: it holds the real return address.
 * So recursion nests naturally and longjmp costs nothing until the next probe
 * on that thread.  Limits: code that switches stacks (makecontext/swapcontext
 * coroutines, a sigaltstack above the thread's stack) breaks the ordering;
 * unwinders (backtrace, C++ exceptions) see the trampoline instead of the
 * caller while a uretprobed function runs.  The trampoline keeps rax, rdx,
 * xmm0 and xmm1 (every scalar return); a __m256/__m512 return in ymm0/zmm0
 * or a long double in st0 is not protected from return handlers that use
 * AVX or x87.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>

#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/opts.h"

struct bpftime_probe {
	struct hook_site *site;
	struct hook_ent ent;
};

struct hook_shadow_ent {
	uint64_t ret; /* the real return address */
	uint64_t sp;  /* where it was on the stack */
	struct hook_site *site;
};

struct hook_shadow {
	size_t top;
	size_t cap;
	size_t map_size;
	struct hook_shadow_ent ents[];
};

#define SHADOW_INIT_SIZE (4 * 4096)

/* ---- the thread registry, for grace periods ----
 *
 * Detach must not return while another thread may still run the detached
 * handler (the caller frees its data next), and replaced lists may be freed
 * only when no thread can hold them.  Readers pay two plain stores per hit:
 * hook_entry bumps the thread's inflight count before it loads the list and
 * drops it after the dispatcher returns.  hook_sync (writer, after publishing
 * a new list) issues membarrier, so every thread's inflight store is visible
 * or its list load comes after the publication, then waits for each
 * registered thread that is in flight until it leaves (inflight 0 or gen
 * changed).  A thread registers (under registry_lock) before its first list
 * load, so a thread missing from a scan loads the list after the scan and
 * sees the new one.  Threads leave the registry from a pthread key destructor.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_tls **registry;
static size_t registry_len, registry_cap;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_destroy(void *p)
{
	struct hook_tls *t = p;

	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < registry_len; i++) {
		if (registry[i] == t) {
			registry[i] = registry[--registry_len];
			break;
		}
	}
	t->registered = false;
	pthread_mutex_unlock(&registry_lock);
	if (t->shadow) {
		munmap(t->shadow, t->shadow->map_size);
		t->shadow = NULL;
	}
}

/* fork: the child has one thread, so the registry keeps only that one (the
 * others' records are frozen copies that would make hook_sync wait forever),
 * and neither lock may be left held by a thread that does not exist there. */
static void fork_prepare(void)
{
	hook_lock();
	pthread_mutex_lock(&registry_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&registry_lock);
	hook_unlock();
}

static void fork_child(void)
{
	struct hook_tls *self = &hook_tls;

	registry_len = 0;
	if (self->registered)
		registry[registry_len++] = self;
	pthread_mutex_unlock(&registry_lock);
	hook_unlock();
}

static void tls_key_init(void)
{
	if (pthread_key_create(&tls_key, tls_destroy))
		pr_warn("cannot create the thread key: per-thread state leaks at thread exit\n");
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static __attribute__((noinline)) void tls_register(struct hook_tls *t)
{
	pthread_once(&tls_once, tls_key_init);
	pthread_mutex_lock(&registry_lock);
	if (registry_len == registry_cap) {
		size_t ncap = registry_cap ? registry_cap * 2 : 64;
		struct hook_tls **n = realloc(registry, ncap * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&registry_lock);
			return; /* retried on the next hit; this one is not waited for */
		}
		registry = n;
		registry_cap = ncap;
	}
	registry[registry_len++] = t;
	t->registered = true;
	pthread_mutex_unlock(&registry_lock);
	pthread_setspecific(tls_key, t);
}

static inline void inflight_enter(struct hook_tls *t)
{
	unsigned int n = atomic_load_explicit(&t->inflight, memory_order_relaxed);

	atomic_store_explicit(&t->inflight, n + 1, memory_order_relaxed);
	/* the store is ordered before the list load by the writer's membarrier */
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void inflight_leave(struct hook_tls *t)
{
	unsigned int n = atomic_load_explicit(&t->inflight, memory_order_relaxed);

	atomic_signal_fence(memory_order_seq_cst);
	if (n == 1)
		atomic_store_explicit(&t->gen,
				      atomic_load_explicit(&t->gen, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	atomic_store_explicit(&t->inflight, n - 1, memory_order_release);
}

/* Waits until no other thread can still use a list replaced before the call.
 * Called with hook_lock held, never from a handler of the same thread's
 * site (the calling thread is skipped).  A handler that blocks until another
 * thread detaches would deadlock, as with the kernel's synchronize_rcu. */
static void hook_sync(void)
{
	struct hook_tls *self = &hook_tls;

	hook_membarrier();
	pthread_mutex_lock(&registry_lock);
	for (size_t i = 0; i < registry_len; i++) {
		struct hook_tls *t = registry[i];
		unsigned int gen;

		if (t == self || !atomic_load_explicit(&t->inflight, memory_order_acquire))
			continue;
		gen = atomic_load_explicit(&t->gen, memory_order_acquire);
		while (atomic_load_explicit(&t->inflight, memory_order_acquire) &&
		       atomic_load_explicit(&t->gen, memory_order_acquire) == gen)
			sched_yield();
	}
	pthread_mutex_unlock(&registry_lock);
}

/* Set while this thread registers.  tls_register's realloc may call malloc
 * (glibc's realloc(NULL, n) does), which may itself be probed: that nested
 * hit is skipped (counted as missed) instead of taking registry_lock again. */
static __thread bool tls_registering __attribute__((tls_model("initial-exec")));

/* false: a hit nested in this thread's registration, to be skipped */
static inline bool tls_ensure(struct hook_tls *t)
{
	if (likely(t->registered))
		return true;
	if (tls_registering) {
		t->missed++;
		return false;
	}
	tls_registering = true;
	tls_register(t);
	tls_registering = false;
	return true;
}

uint64_t hook_entry(struct bpftime_pt_regs *regs, struct hook_site *site)
{
	struct hook_tls *t = &hook_tls;
	struct hook_list *l;
	uint64_t ret;

	if (unlikely(!tls_ensure(t)))
		return 0;
	inflight_enter(t);
	l = atomic_load_explicit(&site->list, memory_order_acquire);
	ret = l->dispatch(regs, l);
	inflight_leave(t);
	return ret;
}

/* Grows (or creates) this thread's shadow stack.  mmap, not malloc: a
 * uretprobe on an allocator function must not re-enter it.  Signals are
 * blocked so a handler on this thread never sees a half-moved stack. */
static struct hook_shadow *shadow_grow(void)
{
	struct hook_shadow *old = hook_tls.shadow, *sh;
	size_t size = old ? old->map_size * 2 : SHADOW_INIT_SIZE;
	sigset_t all, saved;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		return NULL;
	}
	sh->map_size = size;
	sh->cap = (size - sizeof(*sh)) / sizeof(sh->ents[0]);
	sh->top = 0;
	if (old) {
		sh->top = old->top;
		memcpy(sh->ents, old->ents, old->top * sizeof(old->ents[0]));
		munmap(old, old->map_size);
	}
	hook_tls.shadow = sh;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return sh;
}

size_t hook_shadow_depth(void)
{
	return hook_tls.shadow ? hook_tls.shadow->top : 0;
}

uint64_t hook_dispatch_empty(struct bpftime_pt_regs *regs, struct hook_list *list)
{
	UNUSED(regs);
	UNUSED(list);
	return 0;
}

/* Runs the entry probes; returns 1 when an override probe asked to skip. */
static inline uint64_t run_entries(struct hook_tls *t, struct bpftime_pt_regs *regs,
				   const struct hook_list *l)
{
	uint64_t skip = 0;

	t->ctx.regs = regs;
	t->ctx.func_ip = l->site->req_addr;
	t->ctx.is_return = false;
	for (uint32_t i = 0; i < l->n_entry; i++) {
		const struct hook_ent *e = &l->entry[i];

		t->ctx.cookie = e->cookie;
		if (e->type == BPFTIME_PROBE_OVERRIDE) {
			bpftime_override_fn ofn = (bpftime_override_fn)(void (*)(void))e->fn;

			t->ctx.can_override = true;
			t->override = false;
			if (ofn(regs, e->data) || t->override)
				skip = 1;
			t->ctx.can_override = false;
		} else {
			e->fn(regs, e->data);
		}
	}
	t->ctx.regs = NULL;
	return skip;
}

static uint64_t dispatch_entry(struct bpftime_pt_regs *regs, struct hook_list *l)
{
	struct hook_tls *t = &hook_tls;
	uint64_t skip;

	if (unlikely(t->active)) {
		t->missed++;
		return 0;
	}
	t->active = true;
	skip = run_entries(t, regs, l);
	t->active = false;
	return skip;
}

static uint64_t dispatch_entry_ret(struct bpftime_pt_regs *regs, struct hook_list *l)
{
	struct hook_tls *t = &hook_tls;
	struct hook_shadow *sh;
	uint64_t skip, sp, ret, tramp = hook_ret_tramp_addr;

	if (unlikely(t->active)) {
		t->missed++;
		return 0;
	}
	t->active = true;
	skip = run_entries(t, regs, l);
	/* The return probes fire also after an override: the stub's ret then
	 * lands in the trampoline with the overriding rax. */
	sp = regs->rsp;
	ret = *(uint64_t *)sp;
	sh = t->shadow;
	if (sh) {
		while (sh->top && (sh->ents[sh->top - 1].sp < sp ||
				   (sh->ents[sh->top - 1].sp == sp && ret != tramp)))
			sh->top--;
	}
	if (unlikely(!sh || sh->top == sh->cap))
		sh = shadow_grow();
	if (likely(sh)) {
		struct hook_shadow_ent *e = &sh->ents[sh->top];

		e->ret = ret;
		e->sp = sp;
		e->site = l->site;
		/* the entry is complete before it becomes visible to a signal
		 * handler on this thread */
		atomic_signal_fence(memory_order_release);
		sh->top++;
		atomic_signal_fence(memory_order_release);
		*(uint64_t *)sp = tramp;
	} else {
		t->missed++;
	}
	t->active = false;
	return skip;
}

uint64_t hook_dispatch_return(struct bpftime_pt_regs *regs)
{
	struct hook_tls *t = &hook_tls;
	struct hook_shadow *sh = t->shadow;
	uint64_t slot = regs->rsp - 8;
	struct hook_shadow_ent ent;

	while (sh && sh->top && sh->ents[sh->top - 1].sp < slot)
		sh->top--;
	if (unlikely(!sh || !sh->top || sh->ents[sh->top - 1].sp != slot)) {
		/* No way to know where to return: the stack was switched under
		 * us (see the limits above).  Continuing would jump to garbage. */
		pr_err("uretprobe: no shadow entry for the return at sp %#" PRIx64
		       ": the thread switched stacks; aborting\n",
		       slot);
		abort();
	}
	ent = sh->ents[sh->top - 1];
	atomic_signal_fence(memory_order_acquire);
	sh->top--;
	regs->rip = ent.ret;
	if (likely(!t->active && tls_ensure(t))) {
		struct hook_list *l;

		inflight_enter(t);
		l = atomic_load_explicit(&ent.site->list, memory_order_acquire);
		t->active = true;
		t->ctx.regs = regs;
		t->ctx.func_ip = ent.site->req_addr;
		t->ctx.is_return = true;
		for (uint32_t i = 0; i < l->n_ret; i++) {
			t->ctx.cookie = l->ret[i].cookie;
			l->ret[i].fn(regs, l->ret[i].data);
		}
		t->ctx.regs = NULL;
		t->ctx.is_return = false;
		t->active = false;
		inflight_leave(t);
	} else if (t->active) {
		t->missed++;
	}
	return ent.ret;
}

/* Builds the list of old's probes plus add minus del.  hook_lock held. */
static struct hook_list *list_build(struct hook_site *s, const struct hook_list *old,
				    const struct bpftime_probe *add,
				    const struct bpftime_probe *del)
{
	uint32_t n = old->n_entry + old->n_ret + (add ? 1 : 0) - (del ? 1 : 0);
	struct hook_list *l = calloc(1, sizeof(*l) + n * sizeof(l->ents[0]));
	uint32_t k = 0;

	if (!l)
		return NULL;
	l->site = s;
	for (int pass = 0; pass < 2; pass++) {
		bool want_ret = pass == 1;
		uint32_t cnt = 0;

		if (want_ret)
			l->ret = &l->ents[k];
		else
			l->entry = &l->ents[k];
		for (uint32_t i = 0; i < old->n_entry + old->n_ret; i++) {
			const struct hook_ent *e = &old->ents[i];

			if ((e->type == BPFTIME_PROBE_URETPROBE) != want_ret || e->owner == del)
				continue;
			l->ents[k++] = *e;
			cnt++;
		}
		if (add && (add->ent.type == BPFTIME_PROBE_URETPROBE) == want_ret) {
			l->ents[k++] = add->ent;
			cnt++;
		}
		if (want_ret)
			l->n_ret = cnt;
		else
			l->n_entry = cnt;
	}
	if (l->n_ret)
		l->dispatch = dispatch_entry_ret;
	else if (l->n_entry)
		l->dispatch = dispatch_entry;
	else
		l->dispatch = hook_dispatch_empty;
	return l;
}

/* Publishes l; the old list is retired until the next grace period. */
static void list_publish(struct hook_site *s, struct hook_list *l)
{
	struct hook_list *old = atomic_load_explicit(&s->list, memory_order_relaxed);

	atomic_store_explicit(&s->list, l, memory_order_release);
	old->retired_next = s->retired;
	s->retired = old;
}

/* After a grace period: frees the site's retired lists, unless this thread
 * is itself inside a hook (a handler detaching), which may hold one. */
static void list_reclaim(struct hook_site *s)
{
	if (atomic_load_explicit(&hook_tls.inflight, memory_order_relaxed))
		return;
	while (s->retired) {
		struct hook_list *l = s->retired;

		s->retired = l->retired_next;
		free(l);
	}
}

static int opts_copy(const struct bpftime_probe_opts *in, struct bpftime_probe_opts *out)
{
	if (!OPTS_VALID(in, bpftime_probe_opts))
		return -EINVAL;
	OPTS_COPY(out, in);
	return 0;
}

struct bpftime_probe *bpftime_probe__attach(void *addr, bpftime_probe_fn fn, void *data,
					    const struct bpftime_probe_opts *opts)
{
	struct bpftime_probe_opts o;
	struct hook_site_opts so;
	struct bpftime_probe *p = NULL;
	struct hook_site *s;
	struct hook_list *old, *l;
	uintptr_t tramp;
	int err;

	err = opts_copy(opts, &o);
	if (err || !addr || !fn || o.type > BPFTIME_PROBE_OVERRIDE) {
		err = -EINVAL;
		goto out_noloc;
	}
	if (o.type != BPFTIME_PROBE_UPROBE && o.inside_func) {
		pr_warn("probe at %p: uretprobe and override need a function entry\n", addr);
		err = -EINVAL;
		goto out_noloc;
	}
	so = (struct hook_site_opts){ .func = o.func,
				      .func_size = o.func_size,
				      .inside_func = o.inside_func,
				      .force_trap = o.force_trap };
	hook_lock();
	if (o.type == BPFTIME_PROBE_URETPROBE) {
		err = hook_ret_tramp_get(&tramp);
		if (err)
			goto out;
	}
	err = hook_site_get((uintptr_t)addr, &so, &s);
	if (err)
		goto out;
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	p->site = s;
	p->ent = (struct hook_ent){
		.type = o.type, .fn = fn, .data = data, .cookie = o.cookie, .owner = p
	};
	old = atomic_load_explicit(&s->list, memory_order_relaxed);
	l = list_build(s, old, p, NULL);
	if (!l) {
		err = -ENOMEM;
		goto out;
	}
	list_publish(s, l);
	err = hook_site_patch(s);
	if (err) {
		l = list_build(s, atomic_load_explicit(&s->list, memory_order_relaxed), NULL, p);
		if (l)
			list_publish(s, l);
		hook_sync(); /* the caller may free data when we fail */
	}
out:
	hook_unlock();
out_noloc:
	if (err) {
		free(p);
		errno = -err;
		return NULL;
	}
	return p;
}

int bpftime_probe__detach(struct bpftime_probe *p)
{
	struct hook_site *s;
	struct hook_list *l;
	int err = 0;

	if (!p)
		return 0;
	s = p->site;
	hook_lock();
	l = list_build(s, atomic_load_explicit(&s->list, memory_order_relaxed), NULL, p);
	if (!l) {
		err = -ENOMEM;
		goto out;
	}
	list_publish(s, l);
	if (!l->n_entry && !l->n_ret)
		err = hook_site_unpatch(s);
	/* no thread runs p's handler after this: the caller may free its data */
	hook_sync();
	list_reclaim(s);
	free(p);
out:
	hook_unlock();
	if (err)
		errno = -err;
	return err;
}

enum bpftime_probe_mode bpftime_probe__mode(const struct bpftime_probe *p)
{
	return p->site->mode;
}

void *bpftime_probe__patch_addr(const struct bpftime_probe *p)
{
	return (void *)p->site->patch_addr;
}
