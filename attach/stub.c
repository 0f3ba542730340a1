/* SPDX-License-Identifier: MIT */
/* attach/stub.c: the per-site stubs (built in a page of their own within
 * +-2 GiB of the site) and the global uretprobe return trampoline; see
 * site.c for what a stub does. */
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

/* Maps one RW page within +-2 GiB of target: the free gap closest to it,
 * searching outward (gaps nearer first), hinted with MAP_FIXED_NOREPLACE so a
 * concurrent mapping is never clobbered.  The gap above [heap] is used only
 * at its top and the gap below [stack] only at its bottom, so neither loses
 * room to grow. */
void *hook_alloc_near(uintptr_t target)
{
	uintptr_t lo = target > (uintptr_t)REL32_WINDOW + MIN_MMAP_ADDR ? target - REL32_WINDOW
									: MIN_MMAP_ADDR;
	uintptr_t hi =
		target + REL32_WINDOW < MAX_USER_ADDR ? target + REL32_WINDOW : MAX_USER_ADDR;
	struct map_ent *m = NULL;
	size_t n = 0;
	void *res = NULL;

	for (int attempt = 0; attempt < 4 && !res; attempt++) {
		if (hook_read_maps(&m, &n) < 0)
			return NULL;
		for (;;) {
			uintptr_t best = 0, best_dist = UINTPTR_MAX;

			for (size_t i = 0; i <= n; i++) {
				uintptr_t gs = i ? m[i - 1].end : MIN_MMAP_ADDR;
				uintptr_t ge = i < n ? m[i].start : MAX_USER_ADDR;
				uintptr_t cand;

				if (gs < lo)
					gs = lo;
				if (ge > hi)
					ge = hi;
				gs = (gs + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
				ge &= ~(PAGE_SIZE_4K - 1);
				if (ge < gs + PAGE_SIZE_4K)
					continue;
				if (i && m[i - 1].heap)
					cand = ge - PAGE_SIZE_4K;
				else if (i < n && m[i].stack)
					cand = gs;
				else if (target < gs)
					cand = gs;
				else if (target >= ge)
					cand = ge - PAGE_SIZE_4K;
				else
					cand = target & ~(PAGE_SIZE_4K - 1);
				uintptr_t dist = cand > target ? cand - target : target - cand;

				if (dist < best_dist) {
					best_dist = dist;
					best = cand;
				}
			}
			if (!best)
				break;
			void *p = mmap((void *)best, PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p == (void *)best) {
				res = p;
				break;
			}
			if (p != MAP_FAILED) /* old kernel ignoring the flag: not where we want */
				munmap(p, PAGE_SIZE_4K);
			break; /* raced with another mapping: re-read the maps */
		}
		free(m);
		m = NULL;
	}
	return res;
}

/* ---- stubs ---- */

/* ORDER REG: hardware number -> struct bpftime_pt_regs offset */
static const struct {
	int hw;
	int off;
} gpr_slots[] = {
	{ 0, PT(rax) },	 { 1, PT(rcx) },  { 2, PT(rdx) },  { 3, PT(rbx) },  { 5, PT(rbp) },
	{ 6, PT(rsi) },	 { 7, PT(rdi) },  { 8, PT(r8) },   { 9, PT(r9) },   { 10, PT(r10) },
	{ 11, PT(r11) }, { 12, PT(r12) }, { 13, PT(r13) }, { 14, PT(r14) }, { 15, PT(r15) },
};

/* caller-saved GPRs the stub reloads (plus rbx, its frame register) */
static const int reload_hw[] = { 7, 6, 2, 1, 8, 9, 10, 11, 0, 3 };

static int hw_slot(int hw)
{
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		if (gpr_slots[i].hw == hw)
			return gpr_slots[i].off;
	return -1;
}

/* Extended state inside a function: any vector register may be live, with
 * its upper halves (ymm/zmm), and handlers that call glibc's string functions
 * use AVX and end with vzeroupper.  Those sites save it with xsave (x87, SSE,
 * AVX, AVX-512: not AMX, whose tiles handlers never touch and which would
 * need 8 KiB of stack), or fxsave without OSXSAVE. */
#define XSAVE_WANTED 0xE7u /* x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM */

static uint32_t xsave_mask; /* 0: fxsave */
static int xsave_area = 512;

static void xsave_init(void)
{
	static bool done;
	unsigned int a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (done)
		return;
	done = true;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	xsave_mask = xcr0_lo & XSAVE_WANTED;
	xsave_area = 512 + 64; /* legacy area + header */
	for (int i = 2; i < 8; i++) {
		if (!(xsave_mask & (1u << i)) ||
		    !__get_cpuid_count(0xD, (unsigned int)i, &a, &b, &c, &d))
			continue;
		if ((int)(a + b) > xsave_area)
			xsave_area = (int)(a + b); /* size + offset in the standard form */
	}
}

int hook_build_stub(struct hook_site *s, const uint8_t *code, size_t min_len, size_t avail,
		    char *err, size_t elen)
{
	/* at an entry xmm0-7 carry arguments and the rest is dead */
	int nxmm = s->entry ? 8 : 0;
	int frame = PT_REGS_SIZE + nxmm * 16;
	uint8_t *page = hook_alloc_near(s->patch_addr);
	struct emit e;
	struct hook_reloc r;
	size_t jz_at;
	int ret;

	if (!page) {
		snprintf(err, elen, "no free page within 2 GiB");
		return -ENOMEM;
	}
	e = (struct emit){ .buf = page, .cap = HOOK_STUB_SIZE, .base = (uintptr_t)page };
	emit_lea_rsp(&e, -RED_ZONE);
	emit_lea_rsp(&e, -frame);
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		emit_gpr_rsp(&e, 0x89, gpr_slots[i].hw, gpr_slots[i].off); /* mov [rsp+off], reg */
	for (int i = 0; i < nxmm; i++)
		emit_xmm_rsp(&e, 0x7F, i, PT_REGS_SIZE + 16 * i); /* movdqu [rsp+off], xmmI */
	emit1(&e, 0x9C);					  /* pushfq */
	emit1(&e, 0x58);					  /* pop rax */
	emit_gpr_rsp(&e, 0x89, 0, PT(eflags));
	emit1(&e, 0x48), emit1(&e, 0x8D), emit1(&e, 0x84), emit1(&e, 0x24); /* lea rax,[rsp+X] */
	emit4(&e, (uint32_t)(frame + RED_ZONE));
	emit_gpr_rsp(&e, 0x89, 0, PT(rsp));
	emit_mov_imm64(&e, 0, s->req_addr);
	emit_gpr_rsp(&e, 0x89, 0, PT(rip));
	emit_store_imm(&e, PT(orig_rax), -1);
	emit_store_imm(&e, PT(cs), USER_CS);
	emit_store_imm(&e, PT(ss), USER_SS);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE3); /* mov rbx, rsp */
	if (s->entry) {
		emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4),
			emit1(&e, 0xF0); /* and rsp,-16 */
	} else {
		xsave_init();
		emit_lea_rsp(&e, -xsave_area);
		emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4),
			emit1(&e, 0xC0); /* and rsp,-64 */
		if (xsave_mask) {
			/* xrstor faults on a header with reserved bytes set,
			 * and xsave writes only its first 8 */
			for (int i = 0; i < 8; i++)
				emit_store_imm(&e, 512 + 8 * i, 0);
			emit1(&e, 0xB8), emit4(&e, xsave_mask); /* mov eax, mask */
			emit1(&e, 0x31), emit1(&e, 0xD2);	/* xor edx, edx */
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x24);
			emit1(&e, 0x24); /* xsave64 [rsp] */
		} else {
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x04);
			emit1(&e, 0x24); /* fxsave64 [rsp] */
		}
	}
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDF); /* mov rdi, rbx */
	emit_mov_imm64(&e, 6, (uintptr_t)s);		   /* mov rsi, site */
	emit_mov_imm64(&e, 0, (uintptr_t)hook_entry);	   /* mov rax, fn */
	emit1(&e, 0xFF), emit1(&e, 0xD0);		   /* call rax */
	if (!s->entry) {
		emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xC1); /* mov rcx, rax */
		if (xsave_mask) {
			emit1(&e, 0xB8), emit4(&e, xsave_mask); /* mov eax, mask */
			emit1(&e, 0x31), emit1(&e, 0xD2);	/* xor edx, edx */
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x2C);
			emit1(&e, 0x24); /* xrstor64 [rsp] */
		} else {
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x0C);
			emit1(&e, 0x24); /* fxrstor64 [rsp] */
		}
		emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xC8); /* mov rax, rcx */
	}
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDC); /* mov rsp, rbx */
	emit1(&e, 0x48), emit1(&e, 0x85), emit1(&e, 0xC0); /* test rax, rax */
	emit1(&e, 0x74), emit1(&e, 0);			   /* jz .normal */
	jz_at = e.len;
	/* .override: return regs->rax to the caller without running the function */
	emit_gpr_rsp(&e, 0x8B, 0, PT(rax));
	emit_gpr_rsp(&e, 0x8B, 3, PT(rbx));
	emit_lea_rsp(&e, frame + RED_ZONE);
	emit1(&e, 0xC3); /* ret */
	if (!e.err)
		e.buf[jz_at - 1] = (uint8_t)(e.len - jz_at);
	/* .normal */
	if (!s->entry) {
		emit_gpr_rsp(&e, 0x8B, 0, PT(eflags));
		emit1(&e, 0x50); /* push rax */
		emit1(&e, 0x9D); /* popfq */
	}
	for (int i = 0; i < nxmm; i++)
		emit_xmm_rsp(&e, 0x6F, i, PT_REGS_SIZE + 16 * i);
	for (size_t i = 0; i < ARRAY_SIZE(reload_hw); i++)
		emit_gpr_rsp(&e, 0x8B, reload_hw[i], hw_slot(reload_hw[i]));
	emit_lea_rsp(&e, frame + RED_ZONE);
	if (e.err) {
		snprintf(err, elen, "stub does not fit");
		ret = e.err;
		goto fail;
	}
	ret = hook_relocate(code, s->patch_addr, min_len, avail, e.buf + e.len, emit_pc(&e),
			    e.cap - e.len, &r, err, elen);
	if (ret)
		goto fail;
	s->stub = page;
	s->reloc = page + e.len;
	s->disp_len = r.disp_len;
	s->n_insns = r.n_insns;
	memcpy(s->orig_off, r.orig_off, sizeof(s->orig_off));
	memcpy(s->reloc_off, r.out_off, sizeof(s->reloc_off));
	memset(page + e.len + r.out_len, 0xCC, HOOK_STUB_SIZE - e.len - r.out_len);
	if (mprotect(page, HOOK_STUB_SIZE, PROT_READ | PROT_EXEC) < 0) {
		ret = -errno;
		snprintf(err, elen, "mprotect of the stub failed");
		goto fail;
	}
	return 0;
fail:
	munmap(page, HOOK_STUB_SIZE);
	return ret;
}

/* The shared uretprobe trampoline: the hijacked return lands here with the
 * function's rax/rdx/xmm0/xmm1 live.  It builds pt_regs, asks
 * hook_dispatch_return for the real return address (running the return
 * handlers) and jumps there with the return registers restored. */
int hook_ret_tramp_get(uintptr_t *tramp)
{
	const int frame = PT_REGS_SIZE + 2 * 16;
	struct emit e;
	uint8_t *page;

	if (hook_ret_tramp_addr) {
		*tramp = hook_ret_tramp_addr;
		return 0;
	}
	page = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -errno;
	e = (struct emit){ .buf = page, .cap = PAGE_SIZE_4K, .base = (uintptr_t)page };
	emit_lea_rsp(&e, -8);				   /* slot for the real return address */
	emit1(&e, 0x53);				   /* push rbx */
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE3); /* mov rbx, rsp */
	emit_lea_rsp(&e, -frame);
	emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4), emit1(&e, 0xF0); /* and rsp, -16 */
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		if (gpr_slots[i].hw != 3)
			emit_gpr_rsp(&e, 0x89, gpr_slots[i].hw, gpr_slots[i].off);
	emit_xmm_rsp(&e, 0x7F, 0, PT_REGS_SIZE);
	emit_xmm_rsp(&e, 0x7F, 1, PT_REGS_SIZE + 16);
	emit1(&e, 0x48), emit1(&e, 0x8B), emit1(&e, 0x03); /* mov rax, [rbx] (caller's rbx) */
	emit_gpr_rsp(&e, 0x89, 0, PT(rbx));
	emit1(&e, 0x48), emit1(&e, 0x8D), emit1(&e, 0x43), emit1(&e, 0x10); /* lea rax,[rbx+16] */
	emit_gpr_rsp(&e, 0x89, 0, PT(rsp));
	emit1(&e, 0x9C); /* pushfq */
	emit1(&e, 0x58); /* pop rax */
	emit_gpr_rsp(&e, 0x89, 0, PT(eflags));
	emit_store_imm(&e, PT(orig_rax), -1);
	emit_store_imm(&e, PT(cs), USER_CS);
	emit_store_imm(&e, PT(ss), USER_SS);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE7); /* mov rdi, rsp */
	emit_mov_imm64(&e, 0, (uintptr_t)hook_dispatch_return);
	emit1(&e, 0xFF), emit1(&e, 0xD0);				    /* call rax */
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0x43), emit1(&e, 0x08); /* mov [rbx+8], rax */
	emit_gpr_rsp(&e, 0x8B, 0, PT(rax));
	emit_gpr_rsp(&e, 0x8B, 2, PT(rdx));
	emit_xmm_rsp(&e, 0x6F, 0, PT_REGS_SIZE);
	emit_xmm_rsp(&e, 0x6F, 1, PT_REGS_SIZE + 16);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDC); /* mov rsp, rbx */
	emit1(&e, 0x5B);				   /* pop rbx */
	/* An indirect jmp, not ret: the return-stack predictor is off by one
	 * frame here (the hijacked ret consumed its entry), while the
	 * indirect predictor learns the usual return address.  [rsp-8] is
	 * safe after the lea: signal frames start below the red zone. */
	emit_lea_rsp(&e, 8);
	emit1(&e, 0xFF), emit1(&e, 0x64), emit1(&e, 0x24), emit1(&e, 0xF8); /* jmp [rsp-8] */
	if (e.err || mprotect(page, PAGE_SIZE_4K, PROT_READ | PROT_EXEC) < 0) {
		munmap(page, PAGE_SIZE_4K);
		return e.err ? e.err : -errno;
	}
	hook_ret_tramp_addr = (uintptr_t)page;
	*tramp = hook_ret_tramp_addr;
	return 0;
}
