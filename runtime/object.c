/* SPDX-License-Identifier: MIT */
/* runtime/object.c: reads the programs of a clang-built eBPF ELF
 * object and links them for our VM without the kernel: libbpf parses the
 * object (programs, maps in its order), libelf gives the relocations, which
 * libbpf only applies while loading into the kernel.
 *
 * Relocations handled (all R_BPF_64_64 / R_BPF_64_32 against a symbol):
 *   lddw -> a map in ".maps"/"maps"      src 1, imm = map index
 *   lddw -> a global in .data/.rodata/.bss (libbpf's internal maps)
 *                                        src 2, imm = map index, next imm = offset
 *   lddw -> a function in .text          src 4 (function pointer, for callbacks)
 *   call -> a function in .text          bpf-to-bpf call (src 1)
 * Each program gets a copy of the whole .text appended when it calls into
 * it; unused subprograms cost nothing after LLVM's dead-code elimination.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "object.h"
#include "common/alloc.h"

#define INSN_SZ	       8
#define OP_CALL	       0x85
#define OP_LDDW	       0x18
#define PSEUDO_CALL    1
#define PSEUDO_MAP_FD  1
#define PSEUDO_MAP_VAL 2
#define PSEUDO_FUNC    4

struct elf_obj {
	int fd;
	Elf *elf;
	size_t shstrndx;
	Elf_Data *syms;
	size_t nsyms, strndx;
	size_t text_idx; /* 0: no .text */
	Elf_Data *text;
	size_t text_cnt;
	/* libbpf's maps, in order: the index is the "fd" of the AOT object */
	const char **map_names;
	bool *map_internal;
	size_t nmaps;
	char *err;
	size_t err_sz;
};

static int fail(struct elf_obj *o, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct elf_obj *o, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->err, o->err_sz, fmt, ap);
	va_end(ap);
	return -err;
}

static const char *sec_name(struct elf_obj *o, size_t idx)
{
	Elf_Scn *scn = elf_getscn(o->elf, idx);
	GElf_Shdr sh;
	const char *name;

	if (!scn || !gelf_getshdr(scn, &sh))
		return "";
	name = elf_strptr(o->elf, o->shstrndx, sh.sh_name);
	return name ? name : "";
}

static int open_elf(struct elf_obj *o, const char *path)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	elf_version(EV_CURRENT);
	o->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0)
		return fail(o, errno, "%s: %s", path, strerror(errno));
	o->elf = elf_begin(o->fd, ELF_C_READ, NULL);
	if (!o->elf || elf_kind(o->elf) != ELF_K_ELF || elf_getshdrstrndx(o->elf, &o->shstrndx))
		return fail(o, ENOEXEC, "%s: not an ELF file", path);
	while ((scn = elf_nextscn(o->elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB) {
			o->syms = elf_getdata(scn, NULL);
			o->nsyms = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
			o->strndx = sh.sh_link;
		} else if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR) &&
			   !strcmp(sec_name(o, elf_ndxscn(scn)), ".text")) {
			o->text_idx = elf_ndxscn(scn);
			o->text = elf_getdata(scn, NULL);
			o->text_cnt = o->text ? o->text->d_size / INSN_SZ : 0;
		}
	}
	if (!o->syms)
		return fail(o, ENOEXEC, "%s: no symbol table", path);
	return 0;
}

static bool get_sym(struct elf_obj *o, size_t idx, GElf_Sym *sym)
{
	return idx < o->nsyms && gelf_getsym(o->syms, (int)idx, sym);
}

static const char *sym_name(struct elf_obj *o, const GElf_Sym *sym)
{
	const char *name = elf_strptr(o->elf, o->strndx, sym->st_name);

	return name ? name : "";
}

/* Index of the map a global-data section belongs to.  libbpf names internal
 * maps "<object prefix><section name>", truncated to 15 characters, and the
 * prefix has no dot: the longest name whose part from its first dot starts
 * the section name wins. */
static int data_map(struct elf_obj *o, const char *sec)
{
	size_t best_len = 0;
	int best = -1;

	for (size_t i = 0; i < o->nmaps; i++) {
		const char *dot = strchr(o->map_names[i], '.');
		size_t len;

		if (!o->map_internal[i] || !dot)
			continue;
		len = strlen(dot);
		if (!strncmp(sec, dot, len) && len > best_len) {
			best = (int)i;
			best_len = len;
		}
	}
	return best;
}

static int named_map(struct elf_obj *o, const char *name)
{
	for (size_t i = 0; i < o->nmaps; i++) {
		if (!o->map_internal[i] && !strcmp(o->map_names[i], name))
			return (int)i;
	}
	return -1;
}

/* Applies relocation rel to insns[i]; text_base is where .text starts in
 * insns (or 0 when it is not appended yet: *need_text is set instead). */
static int apply_rel(struct elf_obj *o, const char *prog, struct bpftime_insn *insns, size_t cnt,
		     size_t i, const GElf_Rel *rel, size_t text_base, bool *need_text)
{
	struct bpftime_insn *insn = &insns[i];
	const char *sec;
	GElf_Sym sym;
	int64_t t;
	int map;

	if (!get_sym(o, GELF_R_SYM(rel->r_info), &sym))
		return fail(o, ENOEXEC, "program '%s': relocation with a bad symbol", prog);
	sec = sec_name(o, sym.st_shndx);
	if (insn->code == OP_CALL && insn->src == PSEUDO_CALL) {
		if (sym.st_shndx != o->text_idx || !o->text_idx)
			return fail(o, ENOEXEC, "program '%s': call into section '%s'", prog, sec);
		if (!text_base) {
			*need_text = true;
			return 0;
		}
		t = (int64_t)(sym.st_value / INSN_SZ) + insn->imm + 1;
		if (t < 0 || (size_t)t >= o->text_cnt)
			return fail(o, ENOEXEC, "program '%s': call target outside .text", prog);
		insn->imm = (int32_t)((int64_t)text_base + t - (int64_t)i - 1);
		return 0;
	}
	if (insn->code != OP_LDDW || i + 1 >= cnt)
		return fail(o, ENOEXEC, "program '%s': relocation at insn %zu is not lddw or call",
			    prog, i);
	if (sym.st_shndx == o->text_idx && o->text_idx) {
		if (!text_base) {
			*need_text = true;
			return 0;
		}
		t = (int64_t)((sym.st_value + (uint64_t)(int64_t)insn->imm) / INSN_SZ);
		if (t < 0 || (size_t)t >= o->text_cnt)
			return fail(o, ENOEXEC, "program '%s': function pointer outside .text",
				    prog);
		insn->src = PSEUDO_FUNC;
		insn->imm = (int32_t)((int64_t)text_base + t - (int64_t)i - 1);
		return 0;
	}
	if (!strcmp(sec, ".maps") || !strcmp(sec, "maps")) {
		map = named_map(o, sym_name(o, &sym));
		if (map < 0)
			return fail(o, ENOEXEC, "program '%s': unknown map '%s'", prog,
				    sym_name(o, &sym));
		insn->src = PSEUDO_MAP_FD;
		insn->imm = map;
		return 0;
	}
	if (!strncmp(sec, ".data", 5) || !strncmp(sec, ".rodata", 7) || !strncmp(sec, ".bss", 4)) {
		map = data_map(o, sec);
		if (map < 0)
			return fail(o, ENOEXEC, "program '%s': no map for section '%s'", prog, sec);
		insn[1].imm = (int32_t)(sym.st_value + (uint64_t)(int64_t)insn->imm);
		insn->src = PSEUDO_MAP_VAL;
		insn->imm = map;
		return 0;
	}
	return fail(o, EOPNOTSUPP,
		    "program '%s': reference to '%s' in section '%s' is not supported", prog,
		    sym_name(o, &sym), sec[0] ? sec : "(extern)");
}

/* Applies the relocations of section sec_idx that fall into its slots
 * [from, from + n), stored at insns[base ...]. */
static int relocate_range(struct elf_obj *o, const char *prog, struct bpftime_insn *insns,
			  size_t cnt, size_t sec_idx, size_t from, size_t n, size_t base,
			  size_t text_base, bool *need_text)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(o->elf, scn))) {
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_info != sec_idx)
			continue;
		if (sh.sh_type == SHT_RELA)
			return fail(o, ENOEXEC, "RELA relocations in an eBPF object");
		if (sh.sh_type != SHT_REL || !(data = elf_getdata(scn, NULL)))
			continue;
		for (size_t j = 0; sh.sh_entsize && j < sh.sh_size / sh.sh_entsize; j++) {
			GElf_Rel rel;
			size_t slot;
			int err;

			if (!gelf_getrel(data, (int)j, &rel))
				return fail(o, ENOEXEC, "bad relocation entry");
			slot = rel.r_offset / INSN_SZ;
			if (slot < from || slot >= from + n)
				continue;
			err = apply_rel(o, prog, insns, cnt, base + slot - from, &rel, text_base,
					need_text);
			if (err)
				return err;
		}
	}
	return 0;
}

/* The slot of program prog inside its section: its function symbol. */
static int prog_offset(struct elf_obj *o, const char *name, size_t sec_idx, size_t *off)
{
	for (size_t i = 1; i < o->nsyms; i++) {
		GElf_Sym sym;

		if (!get_sym(o, i, &sym) || sym.st_shndx != sec_idx ||
		    GELF_ST_TYPE(sym.st_info) != STT_FUNC || strcmp(sym_name(o, &sym), name))
			continue;
		*off = sym.st_value / INSN_SZ;
		return 0;
	}
	return fail(o, ENOEXEC, "program '%s': no function symbol", name);
}

static size_t find_section(struct elf_obj *o, const char *name)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(o->elf, scn))) {
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    (sh.sh_flags & SHF_EXECINSTR) && !strcmp(sec_name(o, elf_ndxscn(scn)), name))
			return elf_ndxscn(scn);
	}
	return 0;
}

static int link_prog(struct elf_obj *o, struct bpf_program *bp, struct rt_elf_prog *p)
{
	const char *name = bpf_program__name(bp);
	size_t n = bpf_program__insn_cnt(bp), sec_idx, off = 0, total;
	bool need_text = false;
	int err;

	p->name = mem_strdup(name);
	p->sec = mem_strdup(bpf_program__section_name(bp));
	if (!p->name || !p->sec)
		return fail(o, ENOMEM, "out of memory");
	sec_idx = find_section(o, p->sec);
	if (!sec_idx)
		return fail(o, ENOEXEC, "program '%s': section '%s' not found", name, p->sec);
	err = prog_offset(o, name, sec_idx, &off);
	if (err)
		return err;
	/* pass 1: only to learn whether .text is needed */
	p->insns = mem_alloc(n * sizeof(*p->insns));
	if (!p->insns)
		return fail(o, ENOMEM, "out of memory");
	memcpy(p->insns, bpf_program__insns(bp), n * sizeof(*p->insns));
	err = relocate_range(o, name, p->insns, n, sec_idx, off, n, 0, 0, &need_text);
	if (err)
		return err;
	total = n + (need_text ? o->text_cnt : 0);
	if (need_text) {
		struct bpftime_insn *tmp = mem_realloc(p->insns, total * sizeof(*p->insns));

		if (!tmp)
			return fail(o, ENOMEM, "out of memory");
		p->insns = tmp;
		memcpy(p->insns, bpf_program__insns(bp), n * sizeof(*p->insns));
		memcpy(p->insns + n, o->text->d_buf, o->text_cnt * sizeof(*p->insns));
		err = relocate_range(o, name, p->insns, total, sec_idx, off, n, 0, n, &need_text);
		if (!err)
			err = relocate_range(o, name, p->insns, total, o->text_idx, 0, o->text_cnt,
					     n, n, &need_text);
		if (err)
			return err;
	}
	p->cnt = total;
	return 0;
}

static char libbpf_msg[256];

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		vsnprintf(libbpf_msg, sizeof(libbpf_msg), fmt, ap);
	return 0;
}

/* Some malformed objects crash the system's libbpf inside
 * bpf_object__open_file() (seen with Debian's 1.1.2): open it once in a
 * child first, so that such a file is an error message, not a crash. */
static bool libbpf_survives(const char *path)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return true; /* cannot tell: try for real */
	if (!pid) {
		struct bpf_object *obj = bpf_object__open_file(path, NULL);

		bpf_object__close(obj);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return true;
	return WIFEXITED(status) && !WEXITSTATUS(status); /* (ASan exits 1 on a crash) */
}

int rt_elf_open(const char *path, struct rt_elf_prog **progs, size_t *nprogs, char *err,
		size_t err_sz)
{
	struct elf_obj o = { .fd = -1, .err = err, .err_sz = err_sz };
	libbpf_print_fn_t old = libbpf_set_print(quiet_print);
	struct bpf_object *obj = NULL;
	struct rt_elf_prog *out = NULL;
	struct bpf_program *bp;
	struct bpf_map *map;
	size_t n = 0, i = 0;
	int ret;

	*progs = NULL;
	*nprogs = 0;
	if (access(path, R_OK)) {
		ret = fail(&o, errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	ret = open_elf(&o, path);
	if (ret)
		goto out;
	libbpf_msg[0] = 0;
	if (!libbpf_survives(path)) {
		ret = fail(&o, ENOEXEC, "%s: a malformed eBPF object (libbpf crashed reading it)",
			   path);
		goto out;
	}
	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		char *nl = strchr(libbpf_msg, '\n');

		if (nl)
			*nl = 0;
		ret = fail(&o, ENOEXEC, "%s: not an eBPF object libbpf can open%s%s", path,
			   libbpf_msg[0] ? ": " : "", libbpf_msg);
		goto out;
	}
	bpf_object__for_each_map(map, obj) o.nmaps++;
	o.map_names = mem_calloc(o.nmaps + 1, sizeof(*o.map_names));
	o.map_internal = mem_calloc(o.nmaps + 1, sizeof(*o.map_internal));
	if (!o.map_names || !o.map_internal) {
		ret = fail(&o, ENOMEM, "out of memory");
		goto out;
	}
	bpf_object__for_each_map(map, obj)
	{
		o.map_names[i] = bpf_map__name(map);
		o.map_internal[i++] = bpf_map__is_internal(map);
	}
	bpf_object__for_each_program(bp, obj) n++;
	if (!n) {
		ret = fail(&o, ENOENT, "%s: no programs in the object", path);
		goto out;
	}
	out = mem_calloc(n, sizeof(*out));
	if (!out) {
		ret = fail(&o, ENOMEM, "out of memory");
		goto out;
	}
	i = 0;
	bpf_object__for_each_program(bp, obj)
	{
		ret = link_prog(&o, bp, &out[i++]);
		if (ret)
			goto out;
	}
	*progs = out;
	*nprogs = n;
	out = NULL;
	ret = 0;
out:
	rt_elf_free(out, n);
	bpf_object__close(obj);
	free(o.map_names);
	free(o.map_internal);
	if (o.elf)
		elf_end(o.elf);
	if (o.fd >= 0)
		close(o.fd);
	libbpf_set_print(old);
	return ret;
}

void rt_elf_free(struct rt_elf_prog *progs, size_t nprogs)
{
	for (size_t i = 0; progs && i < nprogs; i++) {
		free(progs[i].name);
		free(progs[i].sec);
		free(progs[i].insns);
	}
	free(progs);
}
