/* SPDX-License-Identifier: MIT */
/* attach/resolve.c: from a perf-event uprobe target (module path + offset in
 * the ELF file) to an address in this process, and ELF symbol lookups for
 * tests and tools.
 *
 * The offset is a file offset, as libbpf computes it from a symbol
 * (st_value - sh_addr + sh_offset).  A file-backed mapping of the module with
 * page offset pgoff covering [pgoff, pgoff + len) holds that byte at
 * start + (offset - pgoff), whatever the load bias: this is how the kernel
 * places uprobes too.  Modules are matched by device and inode.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"
#include "common/log.h"
#include "common/opts.h"

int bpftime_resolve_module_offset(const char *module, uint64_t offset, void **addr)
{
	struct stat st;
	FILE *f;
	char line[4096 + 128];
	int ret = -ENOENT;

	if (!module || !addr)
		return errno = EINVAL, -EINVAL;
	if (stat(module, &st) < 0)
		return -errno;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, pgoff, ino;
		unsigned int maj, min;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &pgoff, &maj,
			   &min, &ino) != 7)
			continue;
		if (ino != st.st_ino || makedev(maj, min) != st.st_dev)
			continue;
		if (offset < pgoff || offset >= pgoff + (end - start))
			continue;
		*addr = (void *)(start + (offset - pgoff));
		ret = 0;
		if (perms[2] == 'x')
			break; /* prefer the executable mapping when ranges overlap */
	}
	fclose(f);
	if (ret)
		errno = -ret;
	return ret;
}

/* Calls fn for every defined function symbol of .symtab and .dynsym with its
 * file offset; stops when fn returns non-zero (that value is returned). */
typedef int (*sym_fn)(const char *name, uint64_t off, uint64_t size, void *ctx);

static int for_each_func(const char *module, sym_fn fn, void *ctx)
{
	Elf *elf = NULL;
	Elf_Scn *scn;
	int fd, ret = 0;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(module, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		ret = -EINVAL;
		goto out;
	}
	for (int pass = 0; pass < 2 && !ret; pass++) {
		Elf64_Word want = pass ? SHT_DYNSYM : SHT_SYMTAB;

		scn = NULL;
		while (!ret && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *data;
			size_t n;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != want || !sh.sh_entsize)
				continue;
			data = elf_getdata(scn, NULL);
			if (!data)
				continue;
			n = sh.sh_size / sh.sh_entsize;
			for (size_t i = 0; i < n && !ret; i++) {
				GElf_Sym sym;
				GElf_Shdr ssh;
				Elf_Scn *sscn;
				const char *name;
				int type;

				if (!gelf_getsym(data, (int)i, &sym))
					continue;
				type = GELF_ST_TYPE(sym.st_info);
				if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
				    sym.st_shndx == SHN_UNDEF || sym.st_shndx >= SHN_LORESERVE)
					continue;
				sscn = elf_getscn(elf, sym.st_shndx);
				if (!sscn || !gelf_getshdr(sscn, &ssh))
					continue;
				name = elf_strptr(elf, sh.sh_link, sym.st_name);
				if (!name)
					continue;
				ret = fn(name, sym.st_value - ssh.sh_addr + ssh.sh_offset,
					 sym.st_size, ctx);
			}
		}
	}
	if (ret > 0)
		ret = 0;
	else if (!ret)
		ret = -ENOENT;
out:
	elf_end(elf);
	close(fd);
	return ret;
}

struct find_name {
	const char *name;
	uint64_t off, size;
};

static int match_name(const char *name, uint64_t off, uint64_t size, void *ctx)
{
	struct find_name *f = ctx;

	if (strcmp(name, f->name))
		return 0;
	f->off = off;
	f->size = size;
	return 1;
}

int bpftime_elf_find_symbol(const char *module, const char *name, uint64_t *file_offset,
			    uint64_t *size)
{
	struct find_name f = { .name = name };
	int ret;

	if (!module || !name || !file_offset)
		return errno = EINVAL, -EINVAL;
	ret = for_each_func(module, match_name, &f);
	if (ret) {
		errno = -ret;
		return ret;
	}
	*file_offset = f.off;
	if (size)
		*size = f.size;
	return 0;
}

struct find_off {
	uint64_t off, sym_off, size;
};

static int match_off(const char *name, uint64_t off, uint64_t size, void *ctx)
{
	struct find_off *f = ctx;

	(void)name;
	if (f->off < off || f->off >= off + (size ? size : 1))
		return 0;
	f->sym_off = off;
	f->size = size;
	return 1;
}

int bpftime_elf_symbol_at(const char *module, uint64_t file_offset, uint64_t *sym_offset,
			  uint64_t *size)
{
	struct find_off f = { .off = file_offset };
	int ret;

	if (!module || !sym_offset)
		return errno = EINVAL, -EINVAL;
	ret = for_each_func(module, match_off, &f);
	if (ret) {
		errno = -ret;
		return ret;
	}
	*sym_offset = f.sym_off;
	if (size)
		*size = f.size;
	return 0;
}

struct bpftime_probe *bpftime_probe__attach_module(const char *module, uint64_t offset,
						   bpftime_probe_fn fn, void *data,
						   const struct bpftime_probe_opts *opts)
{
	struct bpftime_probe_opts o = { .sz = sizeof(o) };
	uint64_t sym_off, size;
	void *addr;
	int err;

	if (!module || !fn) {
		errno = EINVAL;
		return NULL;
	}
	if (!OPTS_VALID(opts, bpftime_probe_opts)) {
		errno = EINVAL;
		return NULL;
	}
	OPTS_COPY(&o, opts);
	err = bpftime_resolve_module_offset(module, offset, &addr);
	if (err) {
		pr_warn("uprobe %s+%#" PRIx64 ": not mapped in this process\n", module, offset);
		errno = -err;
		return NULL;
	}
	if (!o.func_size && !bpftime_elf_symbol_at(module, offset, &sym_off, &size) && size) {
		o.func = (const uint8_t *)addr - (offset - sym_off);
		o.func_size = size;
		o.inside_func = offset != sym_off;
	}
	return bpftime_probe__attach(addr, fn, data, &o);
}
