/* SPDX-License-Identifier: MIT */
/* vm/aot_load.c: loads an AOT object (a relocatable x86-64 ELF file made by
 * the LLVM back end or any compiler following DESIGN.md section 3) into
 * the running process, so BPFTIME_ENGINE_AOT runs without LLVM.
 *
 * The object is small and self-contained: we lay its allocated sections out
 * in one anonymous mapping (code, then read-only data and a GOT, then
 * writable data; pages of the JIT arena's address space, jit_arena_map(),
 * so that the code notify callback knows them), apply the x86-64 relocations the small code model
 * produces, and make the code read-execute and the rest read-only or
 * read-write: never writable and executable at once.
 *
 * Undefined symbols resolve against the VM:
 *   _bpf_helper_ext_NNNN        vm->helpers[NNNN]
 *   __lddw_helper_map_by_fd     map handle of a map fd      } through the
 *   __lddw_helper_map_by_idx    map handle of an fd_array index } embedder's
 *   __lddw_helper_map_val       value address of a map handle   } lddw resolver
 *   memset, memcpy, memmove     libc (the optimiser may introduce them)
 * The object's bpf_sub_<pc> functions are callback entries (bpftime_vm__call_func).
 * Calls that cannot reach their target with a 32-bit displacement go
 * through a 16-byte stub (jmp *[rip]; .quad target) placed with the code.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "jit_arena.h"
#include "llvm/llvm.h"
#include "common/compiler.h"
#include "common/alloc.h"
#include "common/sha256.h"

#define AOT_MAIN_SYM   "bpf_main"
#define AOT_HELPER_PFX "_bpf_helper_ext_"
#define STUB_SIZE      16
/* an AOT program's image is a few pages; this bounds what a corrupt size
 * (of .bss, say, which takes no room in the file) can ask for */
#define AOT_MAX_IMAGE  (256u << 20)

/* A map reference of the program, resolved once at load time. */
struct aot_map {
	unsigned int kind; /* BPFTIME_PSEUDO_MAP_FD or BPFTIME_PSEUDO_MAP_IDX */
	uint32_t key;	   /* fd or fd_array index */
	uint64_t handle;
	uint64_t value; /* address of the value (array maps), 0 if not asked */
	bool has_value;
};

struct aot_callback {
	uint32_t pc;
	bpftime_helper_fn fn;
};

struct aot_image {
	void *mem;
	size_t size;
	struct aot_map *maps;
	size_t nmaps;
	struct aot_callback *callbacks; /* exported bpf_sub_<pc> */
	size_t ncallbacks;
};

/* ---- map references: called from the AOT code while it runs ---- */

static struct aot_image *current_image(void)
{
	struct bpftime_vm *vm = vm_run_state.cur;

	return vm ? vm->aot_state : NULL;
}

static uint64_t map_handle(unsigned int kind, uint32_t key)
{
	struct aot_image *img = current_image();

	for (size_t i = 0; img && i < img->nmaps; i++) {
		if (img->maps[i].kind == kind && img->maps[i].key == key)
			return img->maps[i].handle;
	}
	return 0;
}

static uint64_t aot_map_by_fd(uint32_t fd)
{
	return map_handle(BPFTIME_PSEUDO_MAP_FD, fd);
}

static uint64_t aot_map_by_idx(uint32_t idx)
{
	return map_handle(BPFTIME_PSEUDO_MAP_IDX, idx);
}

static uint64_t aot_map_val(uint64_t handle)
{
	struct aot_image *img = current_image();

	for (size_t i = 0; img && i < img->nmaps; i++) {
		if (img->maps[i].handle == handle && img->maps[i].has_value)
			return img->maps[i].value;
	}
	return 0;
}

/* Adds (kind, key) to the table, resolving its handle and, when the program
 * takes the address of its value, the value address. */
static int add_map(struct bpftime_vm *vm, struct aot_image *img, unsigned int kind, uint32_t key,
		   bool want_value, size_t pc)
{
	unsigned int value_src = kind == BPFTIME_PSEUDO_MAP_FD ? BPFTIME_PSEUDO_MAP_VALUE
							       : BPFTIME_PSEUDO_MAP_IDX_VALUE;
	struct aot_map *m = NULL, *tmp;
	int err;

	for (size_t i = 0; i < img->nmaps; i++) {
		if (img->maps[i].kind == kind && img->maps[i].key == key)
			m = &img->maps[i];
	}
	if (!m) {
		tmp = mem_realloc(img->maps, (img->nmaps + 1) * sizeof(*img->maps));
		if (!tmp)
			return vm_error(vm, ENOMEM, "out of memory");
		img->maps = tmp;
		m = &img->maps[img->nmaps++];
		memset(m, 0, sizeof(*m));
		m->kind = kind;
		m->key = key;
		err = vm->opts.resolve_lddw(vm->opts.user_ctx, kind, (int32_t)key, 0, &m->handle);
		if (err < 0)
			return vm_error(vm, -err, "pc %zu: cannot resolve map %u: %s", pc, key,
					strerror(-err));
	}
	if (want_value && !m->has_value) {
		err = vm->opts.resolve_lddw(vm->opts.user_ctx, value_src, (int32_t)key, 0,
					    &m->value);
		if (err < 0)
			return vm_error(vm, -err, "pc %zu: cannot resolve the value of map %u: %s",
					pc, key, strerror(-err));
		m->has_value = true;
	}
	return 0;
}

/* The map references of the loaded program (its original lddw sources). */
static int resolve_maps(struct bpftime_vm *vm, struct aot_image *img)
{
	for (size_t pc = 0; pc < vm->cnt; pc++) {
		const struct bpftime_insn *insn = &vm->orig_insns[pc];
		unsigned int kind;
		int err;

		if (insn->code != OP_LDDW)
			continue;
		pc++;
		switch (insn->src) {
		case BPFTIME_PSEUDO_MAP_FD:
		case BPFTIME_PSEUDO_MAP_VALUE:
			kind = BPFTIME_PSEUDO_MAP_FD;
			break;
		case BPFTIME_PSEUDO_MAP_IDX:
		case BPFTIME_PSEUDO_MAP_IDX_VALUE:
			kind = BPFTIME_PSEUDO_MAP_IDX;
			break;
		default:
			continue;
		}
		if (!vm->opts.resolve_lddw)
			return vm_error(vm, EINVAL, "pc %zu: map reference but no resolver",
					pc - 1);
		err = add_map(vm, img, kind, (uint32_t)insn->imm,
			      insn->src == BPFTIME_PSEUDO_MAP_VALUE ||
				      insn->src == BPFTIME_PSEUDO_MAP_IDX_VALUE,
			      pc - 1);
		if (err)
			return err;
	}
	return 0;
}

/* ---- the ELF object ---- */

struct obj {
	struct bpftime_vm *vm;
	const uint8_t *data;
	size_t size;
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strtab;
	size_t strtab_size;
	uint64_t *sec_addr; /* load address of each allocated section, else 0 */
	uint64_t *sym_addr; /* resolved address of each symbol */
	uint8_t *got;	    /* one slot per symbol */
	uint8_t *stubs;	    /* one stub per symbol */
	uint8_t *stub_used;
};

static int bad(struct obj *o, const char *what)
{
	return vm_error(o->vm, ENOEXEC, "aot object: %s", what);
}

static bool in_file(const struct obj *o, uint64_t off, uint64_t len)
{
	return off <= o->size && len <= o->size - off;
}

static int parse_headers(struct obj *o)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)o->data;

	if (o->size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return bad(o, "not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return bad(o, "not an x86-64 ELF object");
	if (eh->e_type != ET_REL)
		return bad(o, "not a relocatable object (ET_REL)");
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || !eh->e_shnum ||
	    !in_file(o, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) || eh->e_shoff % 8)
		return bad(o, "bad section header table");
	o->eh = eh;
	o->sh = (const Elf64_Shdr *)(o->data + eh->e_shoff);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		const Elf64_Shdr *s = &o->sh[i];

		if (s->sh_type != SHT_NOBITS && !in_file(o, s->sh_offset, s->sh_size))
			return bad(o, "section outside the file");
		if (s->sh_addralign > 4096)
			return bad(o, "section alignment above a page");
		if (s->sh_type == SHT_SYMTAB) {
			const Elf64_Shdr *str;

			if (o->syms || s->sh_entsize != sizeof(Elf64_Sym) ||
			    s->sh_link >= eh->e_shnum || s->sh_offset % 8)
				return bad(o, "bad symbol table");
			str = &o->sh[s->sh_link];
			if (str->sh_type != SHT_STRTAB || !str->sh_size ||
			    !in_file(o, str->sh_offset, str->sh_size) ||
			    o->data[str->sh_offset + str->sh_size - 1])
				return bad(o, "bad string table");
			o->syms = (const Elf64_Sym *)(o->data + s->sh_offset);
			o->nsyms = s->sh_size / sizeof(Elf64_Sym);
			o->strtab = (const char *)o->data + str->sh_offset;
			o->strtab_size = str->sh_size;
		}
	}
	if (!o->syms)
		return bad(o, "no symbol table");
	return 0;
}

static const char *sym_name(const struct obj *o, const Elf64_Sym *s)
{
	return s->st_name < o->strtab_size ? o->strtab + s->st_name : "";
}

enum { SEG_X, SEG_R, SEG_RW, NSEGS };

static int segment_of(const Elf64_Shdr *s)
{
	if (s->sh_flags & SHF_EXECINSTR)
		return SEG_X;
	return s->sh_flags & SHF_WRITE ? SEG_RW : SEG_R;
}

static size_t align_up(size_t v, size_t a)
{
	return a > 1 ? (v + a - 1) / a * a : v;
}

/* Lays the sections out: [code | stubs] [rodata | GOT] [data | bss], each
 * group page-aligned, and copies them into a fresh RW mapping. */
static int layout(struct obj *o, struct aot_image *img, size_t seg_start[NSEGS + 1],
		  size_t *stub_off, size_t *got_off)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), off = 0, *sec_off;
	size_t nsec = o->eh->e_shnum;
	uint8_t *mem;

	sec_off = mem_calloc(nsec, sizeof(*sec_off));
	if (!sec_off)
		return vm_error(o->vm, ENOMEM, "out of memory");
	for (int seg = 0; seg < NSEGS; seg++) {
		off = align_up(off, page);
		seg_start[seg] = off;
		for (size_t i = 0; i < nsec; i++) {
			const Elf64_Shdr *s = &o->sh[i];

			if (!(s->sh_flags & SHF_ALLOC) || !s->sh_size || segment_of(s) != seg)
				continue;
			if (s->sh_size > AOT_MAX_IMAGE || off > AOT_MAX_IMAGE) {
				free(sec_off);
				return bad(o, "sections larger than 256 MiB");
			}
			off = align_up(off, s->sh_addralign ? s->sh_addralign : 1);
			sec_off[i] = off + 1; /* +1: 0 means "not loaded" */
			off += s->sh_size;
		}
		if (seg == SEG_X) {
			off = align_up(off, STUB_SIZE);
			*stub_off = off;
			off += o->nsyms * STUB_SIZE;
		} else if (seg == SEG_R) {
			off = align_up(off, 8);
			*got_off = off;
			off += o->nsyms * 8;
		}
	}
	off = align_up(off, page);
	seg_start[NSEGS] = off;
	/* in the JIT arena's address space: reported to the code notify
	 * callback (bpftime_vm_set_code_notify) before it becomes executable */
	mem = jit_arena_map(off);
	if (!mem) {
		free(sec_off);
		return vm_error(o->vm, ENOMEM, "aot object: cannot map %zu bytes", off);
	}
	img->mem = mem;
	img->size = off;
	memset(mem + seg_start[SEG_X], 0xcc, seg_start[SEG_R] - seg_start[SEG_X]); /* int3 */
	for (size_t i = 0; i < nsec; i++) {
		const Elf64_Shdr *s = &o->sh[i];

		if (!sec_off[i])
			continue;
		o->sec_addr[i] = (uint64_t)(uintptr_t)(mem + sec_off[i] - 1);
		if (s->sh_type != SHT_NOBITS)
			memcpy(mem + sec_off[i] - 1, o->data + s->sh_offset, s->sh_size);
		else
			memset(mem + sec_off[i] - 1, 0, s->sh_size);
	}
	free(sec_off);
	o->stubs = mem + *stub_off;
	o->got = mem + *got_off;
	return 0;
}

static int resolve_undef(struct obj *o, const char *name, uint64_t *addr)
{
	struct bpftime_vm *vm = o->vm;
	char *end;

	if (!strncmp(name, AOT_HELPER_PFX, strlen(AOT_HELPER_PFX))) {
		unsigned long id = strtoul(name + strlen(AOT_HELPER_PFX), &end, 10);

		if (*end || id > BPFTIME_MAX_HELPER_ID || !vm->helpers[id])
			return vm_error(vm, ENOENT, "aot object: helper %s is not registered",
					name);
		*addr = (uint64_t)(uintptr_t)vm->helpers[id];
	} else if (!strncmp(name, "__lddw_helper_map_", 18) && !vm->cnt) {
		/* bpftime_vm__load_aot() without the program: no map to bind */
		return vm_error(vm, ENOENT,
				"aot object uses maps (%s) but the VM has no program whose maps "
				"it could bind",
				name);
	} else if (!strcmp(name, "__lddw_helper_map_by_fd")) {
		*addr = (uint64_t)(uintptr_t)aot_map_by_fd;
	} else if (!strcmp(name, "__lddw_helper_map_by_idx")) {
		*addr = (uint64_t)(uintptr_t)aot_map_by_idx;
	} else if (!strcmp(name, "__lddw_helper_map_val")) {
		*addr = (uint64_t)(uintptr_t)aot_map_val;
	} else if (!strcmp(name, "_GLOBAL_OFFSET_TABLE_")) {
		/* gcc -fPIC names it; no relocation we apply uses its value */
		*addr = (uint64_t)(uintptr_t)o->got;
	} else if (!strcmp(name, "memset")) {
		*addr = (uint64_t)(uintptr_t)memset;
	} else if (!strcmp(name, "memcpy")) {
		*addr = (uint64_t)(uintptr_t)memcpy;
	} else if (!strcmp(name, "memmove")) {
		*addr = (uint64_t)(uintptr_t)memmove;
	} else {
		return vm_error(vm, ENOENT, "aot object: undefined symbol '%s'", name);
	}
	return 0;
}

static int resolve_symbols(struct obj *o)
{
	for (size_t i = 1; i < o->nsyms; i++) {
		const Elf64_Sym *s = &o->syms[i];
		int err;

		if (ELF64_ST_TYPE(s->st_info) == STT_FILE)
			continue;
		if (s->st_shndx == SHN_UNDEF) {
			if (!s->st_name)
				continue;
			err = resolve_undef(o, sym_name(o, s), &o->sym_addr[i]);
			if (err)
				return err;
		} else if (s->st_shndx == SHN_ABS) {
			o->sym_addr[i] = s->st_value;
		} else if (s->st_shndx < o->eh->e_shnum && o->sec_addr[s->st_shndx]) {
			if (s->st_value > o->sh[s->st_shndx].sh_size)
				return bad(o, "symbol outside its section");
			o->sym_addr[i] = o->sec_addr[s->st_shndx] + s->st_value;
		} else if (s->st_shndx == SHN_COMMON || s->st_shndx >= SHN_LORESERVE) {
			return bad(o, "common or special-section symbols are not supported");
		}
		/* else: a symbol of a section not loaded (debug info): unused */
	}
	return 0;
}

/* Address of the stub jumping to symbol idx. */
static uint64_t stub_for(struct obj *o, size_t idx)
{
	uint8_t *stub = o->stubs + idx * STUB_SIZE;

	if (!o->stub_used[idx]) {
		static const uint8_t jmp[6] = { 0xff, 0x25, 0, 0, 0, 0 }; /* jmp *[rip+0] */

		memcpy(stub, jmp, sizeof(jmp));
		memcpy(stub + 6, &o->sym_addr[idx], 8);
		o->stub_used[idx] = 1;
	}
	return (uint64_t)(uintptr_t)stub;
}

static bool fits_s32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

static int relocate_one(struct obj *o, const Elf64_Shdr *target, uint64_t base, const Elf64_Rela *r)
{
	size_t idx = ELF64_R_SYM(r->r_info);
	uint32_t type = ELF64_R_TYPE(r->r_info);
	uint64_t S, P = base + r->r_offset, v;
	int64_t A = r->r_addend, rel;
	unsigned int width = 4;

	if (idx >= o->nsyms)
		return bad(o, "relocation with a bad symbol index");
	if (r->r_offset > target->sh_size || target->sh_size - r->r_offset < 4)
		return bad(o, "relocation outside its section");
	S = o->sym_addr[idx];
	if (!S && type != R_X86_64_NONE && o->syms[idx].st_shndx != SHN_ABS &&
	    o->syms[idx].st_shndx != SHN_UNDEF)
		return bad(o, "relocation against a section that is not loaded");
	switch (type) {
	case R_X86_64_NONE:
		return 0;
	case R_X86_64_64:
		v = S + (uint64_t)A;
		width = 8;
		break;
	case R_X86_64_PC64:
		v = S + (uint64_t)A - P;
		width = 8;
		break;
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
		rel = (int64_t)(S + (uint64_t)A - P);
		if (!fits_s32(rel)) {
			/* a far function (a helper in another library): via a stub */
			rel = (int64_t)(stub_for(o, idx) + (uint64_t)A - P);
			if (!fits_s32(rel))
				return bad(o, "pc-relative relocation out of range");
		}
		v = (uint64_t)rel;
		break;
	case R_X86_64_GOTPCREL:
	case R_X86_64_GOTPCRELX:
	case R_X86_64_REX_GOTPCRELX:
		memcpy(o->got + idx * 8, &S, 8);
		rel = (int64_t)((uint64_t)(uintptr_t)(o->got + idx * 8) + (uint64_t)A - P);
		if (!fits_s32(rel))
			return bad(o, "GOT relocation out of range");
		v = (uint64_t)rel;
		break;
	case R_X86_64_32:
		v = S + (uint64_t)A;
		if (v > UINT32_MAX)
			return bad(o, "R_X86_64_32 relocation out of range (build with -fPIC)");
		break;
	case R_X86_64_32S:
		v = S + (uint64_t)A;
		if (!fits_s32((int64_t)v))
			return bad(o, "R_X86_64_32S relocation out of range (build with -fPIC)");
		break;
	default:
		return vm_error(o->vm, ENOEXEC, "aot object: unsupported relocation type %u", type);
	}
	if (width == 8 && target->sh_size - r->r_offset < 8)
		return bad(o, "relocation outside its section");
	memcpy((void *)(uintptr_t)P, &v, width);
	return 0;
}

static int relocate(struct obj *o)
{
	for (size_t i = 0; i < o->eh->e_shnum; i++) {
		const Elf64_Shdr *s = &o->sh[i], *target;
		const Elf64_Rela *rela;
		int err;

		if (s->sh_type == SHT_REL)
			return bad(o, "REL relocations are not supported (x86-64 uses RELA)");
		if (s->sh_type != SHT_RELA)
			continue;
		if (s->sh_info >= o->eh->e_shnum || s->sh_entsize != sizeof(Elf64_Rela) ||
		    s->sh_offset % 8)
			return bad(o, "bad relocation section");
		target = &o->sh[s->sh_info];
		if (!o->sec_addr[s->sh_info])
			continue; /* relocates a section we do not load (debug info) */
		rela = (const Elf64_Rela *)(o->data + s->sh_offset);
		for (size_t j = 0; j < s->sh_size / sizeof(*rela); j++) {
			err = relocate_one(o, target, o->sec_addr[s->sh_info], &rela[j]);
			if (err)
				return err;
		}
	}
	return 0;
}

/* The callback entries the object exports (bpf_sub_<pc>). */
static int find_callbacks(struct obj *o, struct aot_image *img)
{
	size_t pfx = strlen(VM_LLVM_SUB_PFX);

	for (size_t i = 1; i < o->nsyms; i++) {
		const Elf64_Sym *s = &o->syms[i];
		const char *name = sym_name(o, s);
		struct aot_callback *tmp;
		unsigned long pc;
		char *end;

		if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF ||
		    s->st_shndx >= o->eh->e_shnum || !o->sym_addr[i] ||
		    s->st_value >= o->sh[s->st_shndx].sh_size ||
		    !(o->sh[s->st_shndx].sh_flags & SHF_EXECINSTR) ||
		    strncmp(name, VM_LLVM_SUB_PFX, pfx))
			continue;
		pc = strtoul(name + pfx, &end, 10);
		if (*end || end == name + pfx || pc > UINT32_MAX)
			continue;
		tmp = mem_realloc(img->callbacks, (img->ncallbacks + 1) * sizeof(*tmp));
		if (!tmp)
			return vm_error(o->vm, ENOMEM, "out of memory");
		img->callbacks = tmp;
		tmp[img->ncallbacks++] = (struct aot_callback){
			.pc = (uint32_t)pc,
			.fn = (bpftime_helper_fn)(uintptr_t)o->sym_addr[i],
		};
	}
	return 0;
}

int vm_aot_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret)
{
	struct aot_image *img = vm->aot_state;

	for (size_t i = 0; img && i < img->ncallbacks; i++) {
		if (img->callbacks[i].pc == pc) {
			*ret = img->callbacks[i].fn(args[0], args[1], args[2], args[3], args[4]);
			return 0;
		}
	}
	return -ENOENT;
}

static vm_jit_fn find_main(struct obj *o)
{
	for (size_t i = 1; i < o->nsyms; i++) {
		const Elf64_Sym *s = &o->syms[i];

		if (ELF64_ST_TYPE(s->st_info) == STT_FUNC && s->st_shndx != SHN_UNDEF &&
		    s->st_shndx < o->eh->e_shnum && o->sym_addr[i] &&
		    s->st_value < o->sh[s->st_shndx].sh_size &&
		    !strcmp(sym_name(o, s), AOT_MAIN_SYM) &&
		    (o->sh[s->st_shndx].sh_flags & SHF_EXECINSTR))
			return (vm_jit_fn)(uintptr_t)o->sym_addr[i];
	}
	return NULL;
}

/* An object loaded for a program must have been compiled from it: its
 * VM_AOT_HASH_SYM bytes are the SHA-256 of the program's instructions.
 * Without a program (bpftime_vm__load_aot() alone) there is nothing to
 * compare with. */
static int check_program_hash(struct obj *o)
{
	struct bpftime_vm *vm = o->vm;
	uint8_t want[SHA256_LEN];

	if (!vm->cnt)
		return 0;
	sha256(vm->orig_insns, vm->cnt * sizeof(*vm->orig_insns), want);
	for (size_t i = 1; i < o->nsyms; i++) {
		const Elf64_Sym *s = &o->syms[i];
		const Elf64_Shdr *sec;

		if (s->st_shndx == SHN_UNDEF || s->st_shndx >= o->eh->e_shnum ||
		    strcmp(sym_name(o, s), VM_AOT_HASH_SYM))
			continue;
		sec = &o->sh[s->st_shndx];
		if (s->st_size != SHA256_LEN || sec->sh_type == SHT_NOBITS ||
		    s->st_value > sec->sh_size || sec->sh_size - s->st_value < SHA256_LEN)
			return bad(o, "bad " VM_AOT_HASH_SYM " symbol");
		if (memcmp(o->data + sec->sh_offset + s->st_value, want, SHA256_LEN))
			return vm_error(vm, ENOEXEC,
					"aot object: compiled from other instructions than "
					"program '%s' (its " VM_AOT_HASH_SYM " differs)",
					vm->name);
		return 0;
	}
	return vm_error(vm, ENOEXEC,
			"aot object: records no program hash (" VM_AOT_HASH_SYM
			"): compile it for program '%s' with this bpftime-aot",
			vm->name);
}

void vm_aot_free(struct bpftime_vm *vm)
{
	struct aot_image *img = vm->aot_state;

	if (!img)
		return;
	if (img->mem)
		jit_arena_unmap(img->mem, img->size);
	free(img->maps);
	free(img->callbacks);
	free(img);
	vm->aot_state = NULL;
	vm->aot_fn = NULL;
}

int vm_aot_load(struct bpftime_vm *vm, const void *data, size_t size)
{
	struct aot_image *img = mem_calloc(1, sizeof(*img));
	struct obj o = { .vm = vm, .data = data, .size = size };
	size_t seg[NSEGS + 1], stub_off = 0, got_off = 0;
	void *aligned = NULL;
	vm_jit_fn fn;
	int err;

	if (!img)
		return vm_error(vm, ENOMEM, "out of memory");
	if ((uintptr_t)data % 8) {
		/* the ELF structures are read in place: they must be aligned */
		aligned = mem_alloc(size);
		if (!aligned) {
			free(img);
			return vm_error(vm, ENOMEM, "out of memory");
		}
		memcpy(aligned, data, size);
		o.data = aligned;
	}
	err = parse_headers(&o);
	if (!err)
		err = check_program_hash(&o);
	if (err)
		goto fail;
	o.sec_addr = mem_calloc(o.eh->e_shnum, sizeof(*o.sec_addr));
	o.sym_addr = mem_calloc(o.nsyms, sizeof(*o.sym_addr));
	o.stub_used = mem_calloc(o.nsyms, 1);
	if (!o.sec_addr || !o.sym_addr || !o.stub_used) {
		err = vm_error(vm, ENOMEM, "out of memory");
		goto fail;
	}
	err = layout(&o, img, seg, &stub_off, &got_off);
	if (!err)
		err = resolve_symbols(&o);
	if (!err)
		err = relocate(&o);
	if (!err)
		err = resolve_maps(vm, img);
	if (!err)
		err = find_callbacks(&o, img);
	if (err)
		goto fail;
	fn = find_main(&o);
	if (!fn) {
		err = bad(&o, "no function '" AOT_MAIN_SYM "' in an executable section");
		goto fail;
	}
	if (mprotect((uint8_t *)img->mem + seg[SEG_X], seg[SEG_R] - seg[SEG_X],
		     PROT_READ | PROT_EXEC) ||
	    (seg[SEG_RW] > seg[SEG_R] &&
	     mprotect((uint8_t *)img->mem + seg[SEG_R], seg[SEG_RW] - seg[SEG_R], PROT_READ))) {
		err = vm_error(vm, errno, "aot object: mprotect: %s", strerror(errno));
		goto fail;
	}
	vm_aot_free(vm);
	vm->aot_state = img;
	vm->aot_fn = fn;
	img = NULL;
fail:
	if (img) {
		if (img->mem)
			jit_arena_unmap(img->mem, img->size);
		free(img->maps);
		free(img->callbacks);
		free(img);
	}
	free(o.sec_addr);
	free(o.sym_addr);
	free(o.stub_used);
	free(aligned);
	return err;
}
