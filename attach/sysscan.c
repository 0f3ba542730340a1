/* SPDX-License-Identifier: MIT */
/* attach/sysscan.c: finds every `syscall` instruction that can run in the
 * process, or says what could not be proven.
 *
 * Why.  Syscall User Dispatch costs every syscall of a thread its check
 * (34-57 ns here) while it is on.  It can go off only when every `syscall`
 * instruction the process can execute has been found and rewritten; one that
 * is missed would make calls nobody sees.  So the scan is eager and
 * conservative: anything it cannot prove makes it say so (s->unprovable, with
 * the object and offset in s->why), and the caller keeps SUD on.
 *
 * How.  Every executable byte: the PF_X PT_LOAD segments of the objects
 * dl_iterate_phdr reports (the vDSO is one), whole pages, and the
 * executable mappings /proc/self/maps lists that belong to none of them.
 * Every byte pair that would be a way into the kernel (0f 05 syscall, 0f 34
 * sysenter, cd 80 int 0x80) is classified by decoding (Zydis) from the
 * start of the function that contains it, found in the object's
 * .eh_frame_hdr table (PT_GNU_EH_FRAME: sorted initial locations, each with
 * its FDE, whose pc_begin/pc_range give the function's bounds):
 *   - the decoding steps over the pair: it is inside another instruction;
 *   - an instruction starts on it: a `syscall` is a site, the others (real
 *     sysenter or int 0x80) cannot be handled: unprovable;
 *   - no FDE covers it, the object has no table, decoding fails before it,
 *     the mapping is writable or unreadable: unprovable.
 * A site's number is known when `mov eax, imm32` is right before it and no
 * branch of the function lands on the `syscall` itself (a function with an
 * indirect jmp: unknown).  Islands: bytes covered by no FDE between two
 * functions that decode as nothing but nop/int3 padding; each site gets 5 of
 * them (a `jmp rel32` later) within reach of a `jmp rel8` at the site, when
 * there are.
 *
 * The hook's own code (its region, pages near far sites) is registered with
 * sysscan_own() and not scanned: its syscalls are the ones it makes. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <Zydis/Zydis.h>
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "hook_x86_64.h"
#include "sysscan.h"

#define OWN_MAX	   256
#define ISLAND_LEN 5 /* jmp rel32 */

/* the hook's own code: never scanned */
static struct {
	pthread_mutex_t lock;
	uintptr_t start[OWN_MAX], end[OWN_MAX];
	int n;
	/* gaps between functions found to be padding, and how much of each
	 * is used by islands (taken from the gap's start) */
	struct gap {
		uintptr_t start, end, used;
	} * gap;
	size_t n_gap, cap_gap;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

void sysscan_own(uintptr_t start, size_t len)
{
	bool full = false;

	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < reg.n; i++)
		if (reg.start[i] == start && reg.end[i] == start + len)
			goto out; /* told again */
	if (reg.n < OWN_MAX) {
		reg.start[reg.n] = start;
		reg.end[reg.n] = start + len;
		reg.n++;
	} else {
		full = true;
	}
out:
	pthread_mutex_unlock(&reg.lock);
	if (full)
		pr_warn("syscall scan: more than %d ranges of our own code: [%#lx, %#lx) is "
			"scanned "
			"as anyone's (a `0f 05` there keeps Syscall User Dispatch on)\n",
			OWN_MAX, (unsigned long)start, (unsigned long)(start + len));
}

static bool own(uintptr_t a)
{
	bool r = false;

	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < reg.n && !r; i++)
		r = a >= reg.start[i] && a < reg.end[i];
	pthread_mutex_unlock(&reg.lock);
	return r;
}

/* the first thing that could not be proven is kept */
__attribute__((format(printf, 2, 3))) static void unprovable(struct sysscan *s, const char *fmt,
							     ...)
{
	va_list ap;

	if (s->unprovable)
		return;
	s->unprovable = true;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* ---- .eh_frame_hdr and FDEs ---------------------------------------------- */

#define PE_OMIT 0xff

/* a LEB128 number: its bits in @v, how many in @bits, its last byte */
static bool leb128(const uint8_t **pp, uint64_t *v, unsigned int *bits, uint8_t *last)
{
	uint8_t b;

	*v = 0;
	*bits = 0;
	do {
		if (*bits > 63)
			return false;
		b = *(*pp)++;
		*v |= (uint64_t)(b & 0x7f) << *bits;
		*bits += 7;
	} while (b & 0x80);
	*last = b;
	return true;
}

static bool uleb(const uint8_t **pp, uint64_t *out)
{
	unsigned int bits;
	uint8_t last;

	return leb128(pp, out, &bits, &last);
}

static bool sleb(const uint8_t **pp, int64_t *out)
{
	unsigned int bits;
	uint64_t v;
	uint8_t last;

	if (!leb128(pp, &v, &bits, &last))
		return false;
	if (bits < 64 && (last & 0x40))
		v |= ~(uint64_t)0 << bits;
	*out = (int64_t)v;
	return true;
}

/* A pointer encoded as @enc (DW_EH_PE_*) at *pp; @datarel is the base of
 * datarel values (the .eh_frame_hdr section).  Indirect, textrel and
 * funcrel encodings are refused (false). */
static bool read_enc(const uint8_t **pp, uint8_t enc, uintptr_t datarel, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v;
	int64_t sv;
	uint16_t u16;
	uint32_t u32;

	if (enc == PE_OMIT || (enc & 0x80))
		return false;
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		memcpy(&v, p, 8);
		*pp = p + 8;
		break;
	case 0x01:
		if (!uleb(pp, &v))
			return false;
		break;
	case 0x09:
		if (!sleb(pp, &sv))
			return false;
		v = (uint64_t)sv;
		break;
	case 0x02:
		memcpy(&u16, p, 2);
		v = u16;
		*pp = p + 2;
		break;
	case 0x0a:
		memcpy(&u16, p, 2);
		v = (uint64_t)(int64_t)(int16_t)u16;
		*pp = p + 2;
		break;
	case 0x03:
		memcpy(&u32, p, 4);
		v = u32;
		*pp = p + 4;
		break;
	case 0x0b:
		memcpy(&u32, p, 4);
		v = (uint64_t)(int64_t)(int32_t)u32;
		*pp = p + 4;
		break;
	default:
		return false;
	}
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10: /* pcrel: from the field itself */
		v += (uintptr_t)p;
		break;
	case 0x30: /* datarel: from .eh_frame_hdr */
		v += datarel;
		break;
	default:
		return false;
	}
	*out = v;
	return true;
}

/* The FDE pointer encoding its CIE gives ('R' of a "z" augmentation;
 * absptr without one), or -1. */
static int cie_fde_enc(const uint8_t *cie)
{
	const uint8_t *p = cie;
	uint32_t len32;
	uint64_t u, len;
	int64_t sv;
	uint8_t version;
	const char *aug;

	memcpy(&len32, p, 4);
	p += 4;
	len = len32;
	if (len32 == 0xffffffff) {
		memcpy(&len, p, 8);
		p += 8 + 8; /* the 64-bit CIE id */
	} else {
		p += 4; /* CIE id */
	}
	if (!len)
		return -1;
	version = *p++;
	aug = (const char *)p;
	p += strlen(aug) + 1;
	if (version >= 4)
		p += 2; /* address_size, segment_size */
	if (!uleb(&p, &u) || !sleb(&p, &sv))
		return -1;
	if (version == 1)
		p++;
	else if (!uleb(&p, &u))
		return -1;
	if (aug[0] != 'z')
		return aug[0] ? -1 : 0x00;
	if (!uleb(&p, &u))
		return -1;
	for (const char *a = aug + 1; *a; a++) {
		switch (*a) {
		case 'R':
			return *p;
		case 'L':
			p++;
			break;
		case 'P': {
			uint8_t enc = *p++;
			uint64_t pers;

			if (!read_enc(&p, enc & 0x7f, 0, &pers)) /* the indirect bit is fine here */
				return -1;
			break;
		}
		case 'S':
		case 'B':
			break;
		default:
			return -1;
		}
	}
	return 0x00;
}

/* the function an FDE describes: [*begin, *end) */
static bool fde_range(const uint8_t *fde, uintptr_t *begin, uintptr_t *end)
{
	const uint8_t *p = fde, *cie;
	uint32_t len32, cie_off;
	uint64_t b, r;
	int enc;

	memcpy(&len32, p, 4);
	p += 4;
	if (len32 == 0xffffffff || !len32)
		return false; /* 64-bit DWARF eh_frame: not made on x86-64 Linux */
	memcpy(&cie_off, p, 4);
	if (!cie_off)
		return false; /* a CIE */
	cie = p - cie_off;
	p += 4;
	enc = cie_fde_enc(cie);
	if (enc < 0 || !read_enc(&p, (uint8_t)enc, 0, &b) ||
	    !read_enc(&p, (uint8_t)(enc & 0x0f), 0, &r))
		return false;
	*begin = (uintptr_t)b;
	*end = (uintptr_t)(b + r);
	return true;
}

struct func {
	uintptr_t begin, end;
};

static int func_cmp(const void *a, const void *b)
{
	const struct func *x = a, *y = b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* The functions an object's .eh_frame_hdr lists, sorted by start.  0 and
 * *fn (NULL: no table), or -ENOMEM; -EINVAL when the table is malformed. */
static int read_table(uintptr_t hdr, struct func **fn, size_t *n)
{
	const uint8_t *p = (const uint8_t *)hdr;
	uint8_t eh_enc, cnt_enc, tab_enc;
	uint64_t eh, cnt, loc, fde;
	struct func *f;
	size_t k = 0;

	*fn = NULL;
	*n = 0;
	if (p[0] != 1)
		return -EINVAL;
	eh_enc = p[1];
	cnt_enc = p[2];
	tab_enc = p[3];
	p += 4;
	if (!read_enc(&p, eh_enc, hdr, &eh) || cnt_enc == PE_OMIT || tab_enc == PE_OMIT ||
	    !read_enc(&p, cnt_enc, hdr, &cnt))
		return -EINVAL;
	if (!cnt || cnt > (1u << 24))
		return cnt ? -EINVAL : 0;
	f = mem_calloc((size_t)cnt, sizeof(*f));
	if (!f)
		return -ENOMEM;
	for (uint64_t i = 0; i < cnt; i++) {
		uintptr_t b, e;

		if (!read_enc(&p, tab_enc, hdr, &loc) || !read_enc(&p, tab_enc, hdr, &fde) ||
		    !fde_range((const uint8_t *)(uintptr_t)fde, &b, &e) || b != loc) {
			free(f);
			return -EINVAL;
		}
		if (e > b)
			f[k++] = (struct func){ b, e };
	}
	qsort(f, k, sizeof(*f), func_cmp);
	*fn = f;
	*n = k;
	return 0;
}

/* the function that holds @a (the last one starting at or before it) */
static const struct func *func_at(const struct func *f, size_t n, uintptr_t a)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f[mid].begin <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || a >= f[lo - 1].end)
		return NULL;
	return &f[lo - 1];
}

/* Code between two FDEs (glibc's clone and clone3 end their FDE before
 * the `syscall`, so that unwinding stops in the child; asm without CFI):
 * decoded from where the function before it ends (an instruction
 * boundary) to where the next one starts.  (Not dladdr: it takes the
 * loader's lock, which a dlopen may hold while it waits for the one
 * dl_iterate_phdr holds here.) */
static bool gap_func(const struct func *f, size_t n, uintptr_t a, uintptr_t seg_e, struct func *out)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f[mid].begin <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || f[lo - 1].end > a)
		return false;
	out->begin = f[lo - 1].end;
	out->end = lo < n ? f[lo].begin : seg_e;
	return a + 2 <= out->end;
}

/* ---- classifying a byte pair ---------------------------------------------- */

enum pair_kind {
	PAIR_INSIDE,  /* inside another instruction */
	PAIR_SYSCALL, /* a `syscall` instruction */
	PAIR_OTHER,   /* sysenter, int 0x80: real, not handled */
	PAIR_UNKNOWN, /* decoding failed before it */
};

/* Decodes @f from its start.  For a syscall, *nr is the number when it is
 * known (see the top), else -1. */
static enum pair_kind classify(const struct func *f, uintptr_t a, long *nr)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	ZydisDecodedOperand op[ZYDIS_MAX_OPERAND_COUNT];
	uintptr_t pc = f->begin, prev = 0;
	enum pair_kind k = PAIR_UNKNOWN;
	uint32_t imm = 0;
	bool prev_mov = false, branch_in = false;

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	*nr = -1;
	while (pc < f->end) {
		if (ZYAN_FAILED(
			    ZydisDecoderDecodeFull(&dec, (const void *)pc, f->end - pc, &in, op)))
			break; /* before the pair: unknown; after: branches unknown */
		if (pc == a) {
			if (in.mnemonic == ZYDIS_MNEMONIC_SYSCALL) {
				k = PAIR_SYSCALL;
				if (prev && prev + 5 == a && prev_mov)
					*nr = (long)imm;
			} else {
				k = PAIR_OTHER;
				return k;
			}
		} else if (pc < a && pc + in.length > a) {
			return PAIR_INSIDE;
		}
		if (pc < a) {
			prev = pc;
			prev_mov = in.length == 5 && *(const uint8_t *)pc == 0xb8;
			if (prev_mov)
				memcpy(&imm, (const void *)(pc + 1), 4);
		}
		if (in.meta.category == ZYDIS_CATEGORY_COND_BR ||
		    in.meta.category == ZYDIS_CATEGORY_UNCOND_BR ||
		    in.meta.category == ZYDIS_CATEGORY_CALL) {
			if (op[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && op[0].imm.is_relative) {
				ZyanU64 to;

				if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(&in, &op[0], pc, &to)) &&
				    to == a)
					branch_in = true;
			} else if (in.meta.category == ZYDIS_CATEGORY_UNCOND_BR) {
				branch_in = true; /* an indirect jmp: anywhere */
			}
		}
		pc += in.length;
	}
	if (k == PAIR_SYSCALL && (branch_in || pc < f->end))
		*nr = -1;
	return k;
}

/* ---- islands -------------------------------------------------------------- */

/* Is [s, e) nothing but nop/int3 padding (decoded from its start)? */
static bool padding(uintptr_t s, uintptr_t e)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction in;

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	while (s < e) {
		if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, (const void *)s, e - s,
							      &in)) ||
		    (in.mnemonic != ZYDIS_MNEMONIC_NOP && in.mnemonic != ZYDIS_MNEMONIC_INT3))
			return false;
		s += in.length;
	}
	return true;
}

/* under reg.lock: the registered gap starting at @s, or NULL */
static struct gap *gap_find(uintptr_t s)
{
	for (size_t i = 0; i < reg.n_gap; i++)
		if (reg.gap[i].start == s)
			return &reg.gap[i];
	return NULL;
}

/* Is @a inside an island handed out? (its bytes are our jmp) */
static bool in_island(uintptr_t a)
{
	bool r = false;

	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < reg.n_gap && !r; i++)
		r = a >= reg.gap[i].start && a < reg.gap[i].start + reg.gap[i].used;
	pthread_mutex_unlock(&reg.lock);
	return r;
}

/* 5 bytes of padding in [seg_s, seg_e) between two functions that a
 * `jmp rel8` at @site reaches, reserved; 0 when there are none. */
static uintptr_t island_for(const struct func *f, size_t n, uintptr_t seg_s, uintptr_t seg_e,
			    uintptr_t site)
{
	const struct func *here = func_at(f, n, site);
	uintptr_t lo = site + 2 >= 128 ? site + 2 - 128 : 0, hi = site + 2 + 127;
	uintptr_t res = 0;
	size_t i0;

	if (!here)
		return 0;
	i0 = (size_t)(here - f);
	pthread_mutex_lock(&reg.lock);
	/* the gaps after and before this function, nearest first */
	for (int d = 0; d < 8 && !res; d++) {
		size_t i = d & 1 ? i0 - (size_t)(d + 1) / 2 : i0 + (size_t)d / 2;
		uintptr_t gs, ge, end_max = 0;
		struct gap *g;

		if ((d & 1 && (size_t)(d + 1) / 2 > i0) || i >= n)
			continue;
		/* the gap after f[i]: up to the next start, over nested FDEs */
		for (size_t j = 0; j <= i; j++)
			if (f[j].end > end_max && i - j < 4)
				end_max = f[j].end;
		gs = end_max > f[i].end ? end_max : f[i].end;
		ge = i + 1 < n ? f[i + 1].begin : seg_e;
		if (ge > seg_e)
			ge = seg_e;
		if (gs < seg_s || ge <= gs || ge - gs < ISLAND_LEN || gs > hi || ge < lo)
			continue;
		g = gap_find(gs);
		/* a gap known from before: new code may have been mapped there
		 * since (a library closed, another loaded there): what is
		 * handed out from it must still be padding */
		if (g && g->end != ge) {
			if (!padding(gs, ge))
				continue;
			g->end = ge;
			g->used = 0;
		}
		if (g && !padding(g->start + g->used, g->end))
			continue;
		if (!g) {
			if (!padding(gs, ge))
				continue;
			if (reg.n_gap == reg.cap_gap) {
				size_t nc = reg.cap_gap ? reg.cap_gap * 2 : 256;
				struct gap *ng = mem_realloc(reg.gap, nc * sizeof(*ng));

				if (!ng)
					break;
				reg.gap = ng;
				reg.cap_gap = nc;
			}
			g = &reg.gap[reg.n_gap++];
			*g = (struct gap){ gs, ge, 0 };
		}
		if (g->start + g->used + ISLAND_LEN <= g->end && g->start + g->used >= lo &&
		    g->start + g->used <= hi) {
			res = g->start + g->used;
			g->used += ISLAND_LEN;
		}
	}
	pthread_mutex_unlock(&reg.lock);
	return res;
}

/* ---- scanning --------------------------------------------------------------- */

static int add_site(struct sysscan *s, uintptr_t a, long nr, uintptr_t island)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 1024;
		struct sysscan_site *ns = mem_realloc(s->site, nc * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		s->site = ns;
		s->cap = nc;
	}
	s->site[s->n++] = (struct sysscan_site){ a, nr, island };
	return 0;
}

static bool pair_at(const uint8_t *p)
{
	return (p[0] == 0x0f && (p[1] == 0x05 || p[1] == 0x34)) || (p[0] == 0xcd && p[1] == 0x80);
}

/* The pairs of [start, end) (part of @obj's segment [seg_s, seg_e),
 * with its functions @f; @f NULL: no table or no object). */
static int scan_bytes(struct sysscan *s, const char *obj, uintptr_t base, uintptr_t start,
		      uintptr_t end, const struct func *f, size_t n, uintptr_t seg_s,
		      uintptr_t seg_e)
{
	for (uintptr_t a = start; a + 1 < end; a++) {
		const struct func *fn;
		struct func gapf;
		enum pair_kind k;
		long nr;
		int err;

		if (!pair_at((const uint8_t *)a) || own(a) || in_island(a))
			continue;
		s->pairs++;
		fn = f ? func_at(f, n, a) : NULL;
		if (!fn && f && gap_func(f, n, a, seg_e, &gapf))
			fn = &gapf;
		if (!fn) {
			unprovable(s,
				   "%s+0x%lx: %02x %02x outside any function of its unwind table",
				   obj, (unsigned long)(a - base), ((const uint8_t *)a)[0],
				   ((const uint8_t *)a)[1]);
			continue;
		}
		k = classify(fn, a, &nr);
		switch (k) {
		case PAIR_INSIDE:
			s->inside++;
			break;
		case PAIR_SYSCALL:
			err = add_site(s, a, nr, island_for(f, n, seg_s, seg_e, a));
			if (err)
				return err;
			break;
		case PAIR_OTHER:
			unprovable(s, "%s+0x%lx: a sysenter or int 0x80 instruction", obj,
				   (unsigned long)(a - base));
			break;
		case PAIR_UNKNOWN:
			unprovable(s, "%s+0x%lx: %02x %02x where the function cannot be decoded",
				   obj, (unsigned long)(a - base), ((const uint8_t *)a)[0],
				   ((const uint8_t *)a)[1]);
			break;
		}
	}
	return 0;
}

struct walk {
	struct sysscan *s;
	uintptr_t start, end; /* only this range (sysscan_range), or 0 0: all */
	struct map_ent *maps;
	size_t n_maps;
	int err;
	/* segments seen (to find mappings of no object) */
	struct {
		uintptr_t s, e;
	} * seg;
	size_t n_seg, cap_seg;
};

static const struct map_ent *map_of(const struct walk *w, uintptr_t a)
{
	return hook_find_map(w->maps, w->n_maps, a);
}

static int walk_obj(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct walk *w = arg;
	struct sysscan *s = w->s;
	const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "(main)";
	uintptr_t hdr = 0;
	struct func *f = NULL;
	size_t n = 0;
	int err;

	UNUSED(size);
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			hdr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
	for (int i = 0; i < info->dlpi_phnum && !w->err; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t ss, se, a, b;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		ss = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)4095;
		se = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + 4095) & ~(uintptr_t)4095;
		if (w->n_seg == w->cap_seg) {
			size_t nc = w->cap_seg ? w->cap_seg * 2 : 64;
			void *ns = mem_realloc(w->seg, nc * sizeof(*w->seg));

			if (!ns) {
				w->err = -ENOMEM;
				break;
			}
			w->seg = ns;
			w->cap_seg = nc;
		}
		w->seg[w->n_seg].s = ss;
		w->seg[w->n_seg].e = se;
		w->n_seg++;
		a = ss;
		b = se;
		if (w->start || w->end) {
			a = a > w->start ? a : w->start;
			b = b < w->end ? b : w->end;
		}
		if (a >= b)
			continue;
		/* every page of it as mapped now: readable, not writable */
		for (uintptr_t pg = a; pg < b;) {
			const struct map_ent *m = map_of(w, pg);

			if (!m || !(m->prot & PROT_EXEC)) {
				pg += 4096;
				continue;
			}
			if ((m->prot & PROT_WRITE) || !(m->prot & PROT_READ))
				unprovable(s, "%s+0x%lx: an executable mapping that is %s", name,
					   (unsigned long)(pg - info->dlpi_addr),
					   m->prot & PROT_WRITE ? "writable" : "not readable");
			pg = m->end;
		}
		if (s->unprovable)
			continue;
		if (hdr && !f) {
			err = read_table(hdr, &f, &n);
			if (err == -ENOMEM) {
				w->err = err;
				break;
			}
			if (err)
				f = NULL;
		}
		/* a pair may start on the segment's last byte and end outside */
		err = scan_bytes(s, name, info->dlpi_addr, a, b < se ? b + 1 : b, f, n, ss, se);
		if (err)
			w->err = err;
	}
	free(f);
	return w->err;
}

static bool in_seg(const struct walk *w, uintptr_t a)
{
	for (size_t i = 0; i < w->n_seg; i++)
		if (a >= w->seg[i].s && a < w->seg[i].e)
			return true;
	return false;
}

/* executable mappings no object holds (the vDSO is one of the objects) */
static void walk_anon(struct walk *w)
{
	for (size_t i = 0; i < w->n_maps; i++) {
		const struct map_ent *m = &w->maps[i];
		uintptr_t a = m->start, b = m->end;

		if (!(m->prot & PROT_EXEC) || m->start >= 0xffffffffff600000ull)
			continue; /* [vsyscall]: emulated by the kernel, no syscall instruction */
		if (w->start || w->end) {
			a = a > w->start ? a : w->start;
			b = b < w->end ? b : w->end;
		}
		for (uintptr_t pg = a; pg < b; pg += 4096) {
			if (in_seg(w, pg) || own(pg))
				continue;
			if (m->prot & PROT_WRITE) {
				unprovable(w->s, "anonymous 0x%lx: a writable executable mapping",
					   (unsigned long)pg);
				break;
			}
			if (!(m->prot & PROT_READ)) {
				unprovable(w->s,
					   "anonymous 0x%lx: an unreadable executable mapping",
					   (unsigned long)pg);
				break;
			}
			scan_bytes(w->s, "anonymous", 0, pg, pg + 4096 < b ? pg + 4097 : b, NULL, 0,
				   pg, pg + 4096);
		}
	}
}

static int scan(struct sysscan *s, uintptr_t start, uintptr_t end)
{
	struct walk w = { .s = s, .start = start, .end = end };
	int err = hook_read_maps(&w.maps, &w.n_maps);

	if (err)
		return err;
	dl_iterate_phdr(walk_obj, &w);
	if (!w.err)
		walk_anon(&w);
	free(w.maps);
	free(w.seg);
	return w.err;
}

int sysscan_all(struct sysscan *s)
{
	return scan(s, 0, 0);
}

int sysscan_range(struct sysscan *s, uintptr_t start, uintptr_t end)
{
	return scan(s, start & ~(uintptr_t)4095, (end + 4095) & ~(uintptr_t)4095);
}

/* An object ld.so is loading (dl_iterate_phdr does not list it yet): its
 * executable PT_LOAD at file offset @off of @fd was just mapped at [start,
 * end).  ld.so maps the object's whole extent from the file first and its
 * segments over it, so when every PT_LOAD's offset matches its address (as
 * ld links them), the headers, the unwind table and the code are in memory
 * at their addresses already: the object is scanned as a listed one, with
 * its headers read from the file.  0, -ENOENT (not such an object: the
 * caller proves it otherwise or not at all), or -errno. */
int sysscan_loading(struct sysscan *s, int fd, uint64_t off, uintptr_t start, uintptr_t end)
{
	ElfW(Ehdr) eh;
	ElfW(Phdr) ph[64];
	const ElfW(Phdr) *text = NULL, *first = NULL, *eh_frame = NULL, *table = NULL;
	struct walk w = { .s = s, .start = start, .end = end };
	struct dl_phdr_info info;
	uintptr_t bias, lo;
	int err;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(ph[0]) || !eh.e_phnum ||
	    eh.e_phnum > 64 ||
	    pread(fd, ph, eh.e_phnum * sizeof(ph[0]), (off_t)eh.e_phoff) !=
		    (ssize_t)(eh.e_phnum * sizeof(ph[0])))
		return -ENOENT;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			eh_frame = &ph[i];
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (!first)
			first = &ph[i];
		if ((ph[i].p_flags & PF_X) && (ph[i].p_offset & ~(uint64_t)4095) == off)
			text = &ph[i];
	}
	for (int i = 0; eh_frame && i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && eh_frame->p_vaddr >= ph[i].p_vaddr &&
		    eh_frame->p_vaddr + eh_frame->p_memsz <= ph[i].p_vaddr + ph[i].p_filesz)
			table = &ph[i];
	/* the unwind table's segment: where the initial mapping of the whole
	 * extent put the file's bytes (offsets and addresses agree) */
	if (!text || !first || !table ||
	    table->p_vaddr - first->p_vaddr != table->p_offset - first->p_offset)
		return -ENOENT;
	bias = start - (uintptr_t)(text->p_vaddr & ~(uint64_t)4095);
	lo = bias + (uintptr_t)(first->p_vaddr & ~(uint64_t)4095);
	err = hook_read_maps(&w.maps, &w.n_maps);
	if (err)
		return err;
	/* the extent mapped from this file: its header and the unwind
	 * table's segment are where the headers say, readable, byte for byte
	 * the file's */
	{
		uintptr_t ts = bias + table->p_vaddr;
		const struct map_ent *m0 = map_of(&w, lo), *m1 = map_of(&w, ts);
		const struct map_ent *m2 = map_of(&w, ts + table->p_filesz - 1);
		uint8_t *buf = mem_alloc(table->p_filesz ? table->p_filesz : 1);
		bool same = buf && m0 && (m0->prot & PROT_READ) && m1 && (m1->prot & PROT_READ) &&
			    m2 && (m2->prot & PROT_READ) &&
			    !memcmp((const void *)lo, &eh, sizeof(eh)) &&
			    pread(fd, buf, table->p_filesz, (off_t)table->p_offset) ==
				    (ssize_t)table->p_filesz &&
			    !memcmp((const void *)ts, buf, table->p_filesz);

		free(buf);
		if (!same) {
			free(w.maps);
			return -ENOENT;
		}
	}
	memset(&info, 0, sizeof(info));
	info.dlpi_addr = bias;
	info.dlpi_name = "(being loaded)";
	info.dlpi_phdr = ph;
	info.dlpi_phnum = eh.e_phnum;
	walk_obj(&info, sizeof(info), &w);
	free(w.maps);
	free(w.seg);
	return w.err;
}

void sysscan_free(struct sysscan *s)
{
	free(s->site);
	s->site = NULL;
	s->n = s->cap = 0;
}
