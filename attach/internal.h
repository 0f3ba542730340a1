/* SPDX-License-Identifier: MIT */
/* attach/internal.h: what the hook engine (site.c, stub.c, reloc.c, patch.c),
 * uprobe.c (probe lists, dispatch, shadow stack) and ctx.c (the thread's
 * current-probe record) share.  Not installed.
 *
 * Objects and their lifetime:
 *  - struct hook_site: one patched address.  Created on the first attach at
 *    that address and never freed: a thread may still be running its stub
 *    (or be about to, after an int3 trap) long after the last detach, and a
 *    later attach at the same address reuses it (bounded by distinct sites).
 *  - struct hook_list: the site's immutable probe list, replaced as a whole on
 *    attach/detach (release store, acquire load in hook_entry).  The old list
 *    is freed after a grace period (hook_sync): every thread that might have
 *    loaded it has left hook_entry / hook_dispatch_return since.
 */
#ifndef BPFTIME_ATTACH_INTERNAL_H
#define BPFTIME_ATTACH_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <bpftime/attach.h>

#define HOOK_JMP_LEN   5    /* jmp rel32 */
#define HOOK_MAX_SITES 4096 /* distinct patched addresses per process */
#define HOOK_MAX_INSNS 16   /* displaced instructions per site */
#define HOOK_STUB_SIZE 4096 /* one page per site, so W^X never hides a live stub */
#define HOOK_ORIG_MAX  32   /* displaced bytes kept for unhooking */

struct hook_list;
/* Entry dispatcher called by the stub with the frame it built; returns
 * non-zero to skip the function and return regs->rax (override). */
typedef uint64_t (*hook_dispatch_fn)(struct bpftime_pt_regs *regs, struct hook_list *list);

struct hook_ent {
	enum bpftime_probe_type type;
	bpftime_probe_fn fn;
	void *data;
	uint64_t cookie;
	struct bpftime_probe *owner;
};

/* Immutable once published.  hook_entry calls list->dispatch, so the
 * variant (plain, with uretprobes) is chosen with the list, in one load, and
 * a plain uprobe never runs uretprobe code. */
struct hook_list {
	hook_dispatch_fn dispatch;
	struct hook_site *site;
	struct hook_list *retired_next;
	uint32_t n_entry; /* UPROBE and OVERRIDE entries, in attach order */
	uint32_t n_ret;
	struct hook_ent *entry;
	struct hook_ent *ret;
	struct hook_ent ents[]; /* n_entry then n_ret */
};

enum hook_state {
	HOOK_STATE_IDLE = 0,	/* original bytes in place */
	HOOK_STATE_PATCHED = 1, /* jmp or int3 in place */
};

struct hook_site {
	uintptr_t req_addr;   /* what the user asked for (func_ip) */
	uintptr_t patch_addr; /* after endbr64 */
	enum bpftime_probe_mode mode;
	bool entry;	      /* at a function entry: flags and all but xmm0-7 are dead */
	uint8_t *stub;	      /* entry of the stub (RX page) */
	uint8_t *reloc;	      /* the relocated displaced instructions inside the stub */
	size_t patch_len;     /* bytes overwritten: 5 (jmp) or 1 (int3) */
	size_t disp_len;      /* bytes of whole instructions displaced into the stub */
	unsigned int n_insns; /* displaced instructions: original -> stub offsets */
	uint8_t orig_off[HOOK_MAX_INSNS];
	uint16_t reloc_off[HOOK_MAX_INSNS];
	uint8_t orig[HOOK_ORIG_MAX];
	_Atomic(struct hook_list *) list;
	struct hook_list *retired; /* replaced lists waiting for a grace period */
	/* read by the SIGTRAP handler without locks */
	_Atomic int trap_armed; /* an int3 may be at patch_addr: redirect to stub */
	enum hook_state state;
};

/* the hook engine: site.c, stub.c, reloc.c, patch.c (hook_x86_64.h) */
/* Every stub calls this with the frame it built: marks the thread in
 * flight, loads the site's list and calls list->dispatch. */
uint64_t hook_entry(struct bpftime_pt_regs *regs, struct hook_site *site);
/* A full memory barrier on every thread of the process (membarrier). */
void hook_membarrier(void);
struct hook_site_opts {
	const void *func;
	size_t func_size;
	bool inside_func;
	bool force_trap;
};
/* Finds or creates the site for addr (stub built, not patched); called with
 * hook_lock held.  Returns 0 or -errno (logged). */
int hook_site_get(uintptr_t addr, const struct hook_site_opts *opts, struct hook_site **site);
/* Writes the jmp/int3 (patch) or the original bytes (unpatch) safely while
 * other threads run the code; hook_lock held. */
int hook_site_patch(struct hook_site *site);
int hook_site_unpatch(struct hook_site *site);
/* Relocates the instructions at code (running at addr) covering at least
 * min_len bytes into out (running at out_addr).  Exposed for tests. */
struct hook_reloc {
	size_t disp_len; /* original bytes consumed */
	size_t out_len;	 /* bytes written */
	unsigned n_insns;
	uint8_t orig_off[HOOK_MAX_INSNS];
	uint16_t out_off[HOOK_MAX_INSNS];
	bool ends_flow; /* the last displaced insn never falls through (ret, jmp) */
};
int hook_relocate(const uint8_t *code, uintptr_t addr, size_t min_len, size_t avail, uint8_t *out,
		  uintptr_t out_addr, size_t out_cap, struct hook_reloc *r, char *err,
		  size_t err_len);
/* Test knob: materialize every RIP-relative address as if out of range. */
extern bool hook_force_abs_reloc;
void hook_lock(void);
void hook_unlock(void);
/* The global return trampoline (RX); created on first use, hook_lock held. */
int hook_ret_tramp_get(uintptr_t *tramp);
extern uintptr_t hook_ret_tramp_addr;

/* uprobe.c */
uint64_t hook_dispatch_empty(struct bpftime_pt_regs *regs, struct hook_list *list);
/* Called by the return trampoline; returns the real return address. */
uint64_t hook_dispatch_return(struct bpftime_pt_regs *regs);
/* Test hook: shadow-stack entries of this thread. */
size_t hook_shadow_depth(void);

/* ctx.c: the thread's current-probe record */
struct hook_tls {
	struct bpftime_probe_ctx ctx;
	bool active;	 /* a handler runs on this thread: nested probes are skipped */
	bool override;	 /* bpftime_probe_override_return was called */
	uint64_t missed; /* probes skipped because of nesting */
	struct hook_shadow *shadow;
	/* grace periods: written only by the owning thread (plain movs on x86),
	 * read by hook_sync on another thread */
	_Atomic unsigned int inflight; /* nesting depth inside hook_entry/return */
	_Atomic unsigned int gen;      /* bumped each time inflight returns to 0 */
	bool registered;	       /* in the thread registry (see uprobe.c) */
};
/* initial-exec: the agent is preloaded (static TLS is there for it) and a
 * __tls_get_addr call per probe hit would be a measurable part of the cost. */
extern __thread struct hook_tls hook_tls __attribute__((tls_model("initial-exec")));

#endif
