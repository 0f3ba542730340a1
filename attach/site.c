/* SPDX-License-Identifier: MIT */
/* attach/site.c: inline code patching on x86-64: the sites (patched
 * addresses) and their life (get, patch, unpatch).  The engine is four
 * files: site.c (sites), stub.c (stubs and the uretprobe return
 * trampoline), reloc.c (relocation of the displaced instructions, Zydis) and
 * patch.c (safe patching of live code: moving threads out, cross-core
 * sync, the SIGTRAP handler behind int3 sites); hook_x86_64.h joins them.
 *
 * A site is patched with a 5-byte `jmp rel32` to its stub; the stub lives in
 * its own page within +-2 GiB (found from /proc/self/maps, mapped with
 * MAP_FIXED_NOREPLACE).  The stub:
 *   1. steps below the red zone (the probe may be inside a leaf function),
 *   2. stores a kernel-layout struct pt_regs plus xmm0-7 on the stack (inside
 *      a function: the flags, and all vector state with xsave),
 *   3. calls hook_entry(regs, site) on a 16-byte aligned stack, which calls
 *      the dispatcher of the site's current probe list,
 *   4. returns regs->rax to the caller when dispatch asks for an override,
 *   5. otherwise restores the caller-saved registers (and the flags inside a
 *      function), runs the relocated instructions and jumps back.
 * Callee-saved registers are stored for the handlers to read but not
 * reloaded: the C dispatcher preserves them (rbx holds the frame).
 *
 * A site too short for 5 bytes (the function ends first) gets an int3; the
 * SIGTRAP handler moves rip to the same kind of stub, whose relocated part is
 * then just the first instruction.  So handlers never run in signal context,
 * and override/uretprobes work the same on both kinds of sites.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <cpuid.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <Zydis/Zydis.h>

#include "hook_x86_64.h"
#include "common/compiler.h"
#include "common/log.h"

bool hook_force_abs_reloc;
uintptr_t hook_ret_tramp_addr;

static pthread_mutex_t hook_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct hook_site *sites[HOOK_MAX_SITES];
static _Atomic unsigned int n_sites;

void hook_lock(void)
{
	pthread_mutex_lock(&hook_mutex);
}

void hook_unlock(void)
{
	pthread_mutex_unlock(&hook_mutex);
}

struct hook_site *hook_find_trap_site(uintptr_t addr)
{
	unsigned int n = atomic_load_explicit(&n_sites, memory_order_acquire);

	for (unsigned int i = 0; i < n; i++) {
		struct hook_site *s = sites[i];

		if (s->patch_addr == addr &&
		    atomic_load_explicit(&s->trap_armed, memory_order_acquire))
			return s;
	}
	return NULL;
}

/* ---- sites ---- */

static bool is_endbr64(const uint8_t *p)
{
	return p[0] == 0xF3 && p[1] == 0x0F && p[2] == 0x1E && p[3] == 0xFA;
}

static struct hook_site *find_site(uintptr_t addr)
{
	unsigned int n = atomic_load_explicit(&n_sites, memory_order_acquire);

	for (unsigned int i = 0; i < n; i++)
		if (sites[i]->req_addr == addr || sites[i]->patch_addr == addr)
			return sites[i];
	return NULL;
}

int hook_site_get(uintptr_t addr, const struct hook_site_opts *o, struct hook_site **out)
{
	struct hook_site *s;
	struct hook_list *empty;
	struct map_ent *m = NULL;
	const struct map_ent *me;
	size_t n, avail;
	uintptr_t func_end = 0;
	char err[160] = "";
	int ret;

	s = find_site(addr);
	if (s) {
		if (s->entry && o->inside_func) {
			pr_warn("probe at %#" PRIxPTR ": already hooked as a function entry\n",
				addr);
			return -EINVAL;
		}
		*out = s;
		return 0;
	}
	if (atomic_load(&n_sites) == HOOK_MAX_SITES) {
		pr_warn("probe at %#" PRIxPTR ": too many hooked addresses (%d)\n", addr,
			HOOK_MAX_SITES);
		return -ENOSPC;
	}
	ret = hook_read_maps(&m, &n);
	if (ret)
		return ret;
	me = hook_find_map(m, n, addr);
	if (!me || !(me->prot & PROT_EXEC) || !(me->prot & PROT_READ)) {
		free(m);
		pr_warn("probe at %#" PRIxPTR ": not in executable memory\n", addr);
		return -EINVAL;
	}
	if (me->shared) {
		/* writing it would change the file or other processes' code */
		free(m);
		pr_warn("probe at %#" PRIxPTR ": in a shared mapping\n", addr);
		return -EINVAL;
	}
	/* decode no further than the mapping (or the readable run after it) */
	avail = me->end - addr;
	if (avail < 64 && me + 1 < m + n && me[1].start == me->end && (me[1].prot & PROT_READ))
		avail += me[1].end - me[1].start;
	free(m);
	if (avail > 64)
		avail = 64;

	s = calloc(1, sizeof(*s));
	empty = calloc(1, sizeof(*empty));
	if (!s || !empty) {
		free(s);
		free(empty);
		return -ENOMEM;
	}
	s->req_addr = addr;
	s->patch_addr = addr;
	s->entry = !o->inside_func;
	if (avail >= 4 && is_endbr64((const uint8_t *)addr)) {
		s->patch_addr += 4;
		avail -= 4;
	}
	if (o->func_size) {
		uintptr_t f = o->func ? (uintptr_t)o->func : addr;

		func_end = f + o->func_size;
		if (s->patch_addr >= func_end) {
			pr_warn("probe at %#" PRIxPTR ": outside the function\n", addr);
			ret = -EINVAL;
			goto fail;
		}
		if (func_end - s->patch_addr < avail)
			avail = func_end - s->patch_addr;
	}
	hook_sync_core_init();
	ret = -E2BIG;
	if (!o->force_trap && avail >= HOOK_JMP_LEN) {
		s->mode = BPFTIME_PROBE_MODE_JMP;
		s->patch_len = HOOK_JMP_LEN;
		ret = hook_build_stub(s, (const uint8_t *)s->patch_addr, HOOK_JMP_LEN, avail, err,
				      sizeof(err));
		if (!ret && o->func_size)
			ret = hook_scan_func(o->func ? (uintptr_t)o->func : addr, o->func_size,
					     s->patch_addr, s->disp_len, err, sizeof(err));
		if (ret && s->stub) {
			munmap(s->stub, HOOK_STUB_SIZE);
			s->stub = NULL;
		}
	}
	/* Too short, or bytes a jmp cannot take over (a branch into them, an
	 * instruction that cannot be relocated): an int3 displaces only the
	 * first instruction. */
	if (ret == -E2BIG || ret == -ENOTSUP) {
		if (!o->force_trap)
			pr_warn("probe at %#" PRIxPTR ": %s (%s): using an int3 trap, "
				"about 1 us per hit\n",
				addr, ret == -E2BIG ? "too short for a jmp" : "no jmp possible",
				avail < HOOK_JMP_LEN ? "function ends" : err);
		err[0] = 0;
		s->mode = BPFTIME_PROBE_MODE_TRAP;
		s->patch_len = 1;
		ret = hook_build_stub(s, (const uint8_t *)s->patch_addr, 1, avail, err,
				      sizeof(err));
		if (!ret)
			ret = hook_trap_install();
	}
	if (ret) {
		if (err[0])
			pr_warn("probe at %#" PRIxPTR ": %s\n", addr, err);
		if (ret == -E2BIG)
			ret = -ENOTSUP;
		goto fail;
	}
	memcpy(s->orig, (const void *)s->patch_addr,
	       s->disp_len < HOOK_ORIG_MAX ? s->disp_len : HOOK_ORIG_MAX);
	empty->dispatch = hook_dispatch_empty;
	empty->site = s;
	atomic_init(&s->list, empty);
	s->retired = NULL;
	sites[atomic_load(&n_sites)] = s;
	atomic_fetch_add_explicit(&n_sites, 1, memory_order_release);
	pr_debug("probe at %#" PRIxPTR ": %s site, %zu bytes displaced, stub %p\n", addr,
		 s->mode == BPFTIME_PROBE_MODE_JMP ? "jmp" : "int3", s->disp_len, s->stub);
	*out = s;
	return 0;
fail:
	if (s->stub)
		munmap(s->stub, HOOK_STUB_SIZE);
	free(s);
	free(empty);
	return ret;
}

int hook_site_patch(struct hook_site *s)
{
	uint8_t bytes[HOOK_JMP_LEN];
	int ret;

	if (s->state == HOOK_STATE_PATCHED)
		return 0;
	if (memcmp((const void *)s->patch_addr, s->orig, s->patch_len)) {
		pr_warn("probe at %#" PRIxPTR ": code changed since the stub was built\n",
			s->req_addr);
		return -EBUSY;
	}
	ret = hook_trap_install();
	if (ret)
		return ret;
	/* armed before any int3 can be written; never disarmed (see trap_handler) */
	atomic_store(&s->trap_armed, 1);
	if (s->mode == BPFTIME_PROBE_MODE_JMP) {
		int32_t rel = (int32_t)((intptr_t)s->stub - (intptr_t)(s->patch_addr + 5));

		bytes[0] = 0xE9; /* jmp rel32 */
		memcpy(bytes + 1, &rel, 4);
	} else {
		bytes[0] = 0xCC; /* int3 */
	}
	ret = hook_text_poke(s->patch_addr, bytes, s->patch_len, s);
	if (ret) {
		pr_warn("probe at %#" PRIxPTR ": cannot write the code: %s\n", s->req_addr,
			strerror(-ret));
		return ret;
	}
	s->state = HOOK_STATE_PATCHED;
	return 0;
}

int hook_site_unpatch(struct hook_site *s)
{
	int ret;

	if (s->state == HOOK_STATE_IDLE)
		return 0;
	ret = hook_text_poke(s->patch_addr, s->orig, s->patch_len, NULL);
	if (ret) {
		pr_warn("probe at %#" PRIxPTR ": cannot restore the code: %s\n", s->req_addr,
			strerror(-ret));
		return ret;
	}
	s->state = HOOK_STATE_IDLE;
	return 0;
}
