/* SPDX-License-Identifier: MIT */
/* examples/error_inject/attach_override.h: how the original bpftime's
 * loaders attach a uprobe override (error injection, function replacement):
 * a perf event of bpftime's type 1008 on BINARY at the function's file
 * offset (config1 = path, config2 = offset, as a uprobe), then
 * bpf_prog_attach(prog, perf_fd, BPF_MODIFY_RETURN, 0).  The kernel has no
 * such perf type: only a process running under `bpftime load` (which sets
 * BPFTIME_USED=1) can do this. */
#ifndef ATTACH_OVERRIDE_H
#define ATTACH_OVERRIDE_H

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>

#define BPF_TYPE_UPROBE_OVERRIDE 1008

/* the file offset of function @name in ELF @path, or -errno */
static long func_file_offset(const char *path, const char *name)
{
	long ret = -ENOENT;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && ret == -ENOENT && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM))
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;
			Elf_Scn *text;
			GElf_Shdr tsh;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || !sym.st_value)
				continue;
			n = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (!n || strcmp(n, name))
				continue;
			text = elf_getscn(elf, sym.st_shndx);
			if (!text || !gelf_getshdr(text, &tsh))
				continue;
			/* address -> file offset through its section */
			ret = (long)(sym.st_value - tsh.sh_addr + tsh.sh_offset);
			break;
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return ret;
}

static int perf_event_open_override(const char *path, unsigned long offset, int pid)
{
	struct perf_event_attr attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = BPF_TYPE_UPROBE_OVERRIDE;
	attr.config1 = (unsigned long)path;
	attr.config2 = offset;
	fd = (int)syscall(__NR_perf_event_open, &attr, pid < 0 ? -1 : pid, pid < 0 ? 0 : -1, -1,
			  PERF_FLAG_FD_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

/* puts @prog_fd on @name in @path as an override; the perf fd, or -errno */
static int attach_uprobe_override(int prog_fd, const char *path, const char *name)
{
	long off = func_file_offset(path, name);
	int pfd;

	if (off < 0)
		return (int)off;
	pfd = perf_event_open_override(path, (unsigned long)off, -1);
	if (pfd < 0)
		return pfd;
	if (bpf_prog_attach(prog_fd, pfd, BPF_MODIFY_RETURN, 0) < 0) {
		int err = -errno;

		close(pfd);
		return err;
	}
	return pfd;
}

#endif
