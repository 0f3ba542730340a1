/* SPDX-License-Identifier: MIT */
/* attach/hook_x86_64.h: what the files of the x86-64 hook engine share
 * (site.c, stub.c, reloc.c, patch.c): limits, the byte emitter and the
 * functions one file provides to another.  Internal to attach/. */
#ifndef BPFTIME_ATTACH_HOOK_X86_64_H
#define BPFTIME_ATTACH_HOOK_X86_64_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"

#define PAGE_SIZE_4K  4096UL
#define REL32_WINDOW  0x7fff0000L /* a bit under 2 GiB: room for the stub's own size */
#define RED_ZONE      128
#define PT_REGS_SIZE  ((int)sizeof(struct bpftime_pt_regs))
#define PT(field)     ((int)offsetof(struct bpftime_pt_regs, field))
#define USER_CS	      0x33
#define USER_SS	      0x2b
#define MAX_USER_ADDR 0x7ffffffff000UL
#define MIN_MMAP_ADDR 0x10000UL

/* ---- byte emitter: the error is sticky, checked once at the end ---- */

struct emit {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uintptr_t base; /* runtime address of buf[0] */
	int err;
};

static inline void emit_bytes(struct emit *e, const void *p, size_t n)
{
	if (e->err)
		return;
	if (e->len + n > e->cap) {
		e->err = -E2BIG;
		return;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static inline void emit1(struct emit *e, uint8_t b)
{
	emit_bytes(e, &b, 1);
}

static inline void emit4(struct emit *e, uint32_t v)
{
	emit_bytes(e, &v, 4);
}

static inline void emit8(struct emit *e, uint64_t v)
{
	emit_bytes(e, &v, 8);
}

static inline uintptr_t emit_pc(const struct emit *e)
{
	return e->base + e->len;
}

static inline bool fits_rel32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* op reg, [rsp + disp] (REX.W form); op is 0x89 (store) or 0x8B (load) */
static inline void emit_gpr_rsp(struct emit *e, uint8_t op, int reg, int disp)
{
	emit1(e, 0x48 | (reg >= 8 ? 0x04 : 0));
	emit1(e, op);
	if (disp >= -128 && disp <= 127) {
		emit1(e, 0x44 | ((reg & 7) << 3)); /* mod=01 rm=100 (SIB) */
		emit1(e, 0x24);			   /* base=rsp */
		emit1(e, (uint8_t)disp);
	} else {
		emit1(e, 0x84 | ((reg & 7) << 3)); /* mod=10 rm=100 */
		emit1(e, 0x24);
		emit4(e, (uint32_t)disp);
	}
}

/* movdqu [rsp + disp], xmmN (store, 0x7F) / movdqu xmmN, [rsp + disp] (load, 0x6F) */
static inline void emit_xmm_rsp(struct emit *e, uint8_t op, int reg, int disp)
{
	emit1(e, 0xF3);
	if (reg >= 8)
		emit1(e, 0x44); /* REX.R */
	emit1(e, 0x0F);
	emit1(e, op);
	emit1(e, 0x84 | ((reg & 7) << 3));
	emit1(e, 0x24);
	emit4(e, (uint32_t)disp);
}

/* lea rsp, [rsp + disp]: does not touch the flags, unlike add/sub */
static inline void emit_lea_rsp(struct emit *e, int disp)
{
	if (disp >= -128 && disp <= 127) {
		emit1(e, 0x48), emit1(e, 0x8D), emit1(e, 0x64), emit1(e, 0x24);
		emit1(e, (uint8_t)disp);
	} else {
		emit1(e, 0x48), emit1(e, 0x8D), emit1(e, 0xA4), emit1(e, 0x24);
		emit4(e, (uint32_t)disp);
	}
}

/* mov qword [rsp + disp], simm32 */
static inline void emit_store_imm(struct emit *e, int disp, int32_t imm)
{
	emit1(e, 0x48), emit1(e, 0xC7), emit1(e, 0x84), emit1(e, 0x24);
	emit4(e, (uint32_t)disp);
	emit4(e, (uint32_t)imm);
}

/* mov reg64, imm64 */
static inline void emit_mov_imm64(struct emit *e, int reg, uint64_t imm)
{
	emit1(e, 0x48 | (reg >= 8 ? 0x01 : 0));
	emit1(e, 0xB8 | (reg & 7));
	emit8(e, imm);
}

/* jmp target: rel32 when it reaches, else jmp [rip+0] with the address inline */
static inline void emit_jmp(struct emit *e, uintptr_t target)
{
	int64_t rel = (int64_t)target - (int64_t)(emit_pc(e) + 5);

	if (fits_rel32(rel)) {
		emit1(e, 0xE9);
		emit4(e, (uint32_t)rel);
	} else {
		emit1(e, 0xFF), emit1(e, 0x25), emit4(e, 0); /* jmp [rip+0] */
		emit8(e, target);
	}
}

/* patch.c: /proc/self/maps */
struct map_ent {
	uintptr_t start, end;
	int prot;
	bool heap, stack, shared;
};
int hook_read_maps(struct map_ent **out, size_t *cnt);
const struct map_ent *hook_find_map(const struct map_ent *m, size_t n, uintptr_t addr);

/* stub.c: an RX-able page within +-2 GiB of @target, or NULL */
void *hook_alloc_near(uintptr_t target);
/* stub.c: builds the stub of a new site */
int hook_build_stub(struct hook_site *s, const uint8_t *code, size_t min_len, size_t avail,
		    char *err, size_t elen);

/* patch.c: cross-core serialization, writing live code (moving threads out
 * of the bytes being replaced), SIGTRAP for int3 sites */
void hook_sync_core_init(void);
int hook_text_poke(uintptr_t addr, const uint8_t *bytes, size_t len, struct hook_site *mig);
int hook_trap_install(void);
void hook_chain_signal(const struct sigaction *old, int sig, siginfo_t *si, void *uc);

/* reloc.c: checks that no jump in the function lands inside the bytes a
 * patch would displace */
int hook_scan_func(uintptr_t func, size_t size, uintptr_t patch, size_t disp_len, char *err,
		   size_t elen);

/* site.c: the armed int3 site at @addr (lock-free, for the SIGTRAP handler) */
struct hook_site *hook_find_trap_site(uintptr_t addr);

#endif /* BPFTIME_ATTACH_HOOK_X86_64_H */
