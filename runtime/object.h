/* SPDX-License-Identifier: MIT */
/* runtime/object.h: the programs of a clang-built eBPF ELF object,
 * relocated for our VM without the kernel. */
#ifndef BPFTIME_RUNTIME_OBJECT_H
#define BPFTIME_RUNTIME_OBJECT_H

#include <stddef.h>
#include <bpftime/vm.h>

struct rt_elf_prog {
	char *name;		    /* the program's function name */
	char *sec;		    /* its ELF section ("uprobe/...") */
	struct bpftime_insn *insns; /* the program, then the .text subprograms it calls */
	size_t cnt;
};

/* Every program of the object at path.  Map references become lddw pseudo
 * sources with the map's index in the object (libbpf's map order, global
 * data sections included) as the "fd": src 1 (the map) for maps, src 2 (an
 * address inside the value of entry 0) for global variables; bpf-to-bpf
 * calls and function pointers are linked against .text.
 * Returns 0 with *progs (free with rt_elf_free) or -errno with a
 * message in err. */
int rt_elf_open(const char *path, struct rt_elf_prog **progs, size_t *nprogs, char *err,
		size_t err_sz);
void rt_elf_free(struct rt_elf_prog *progs, size_t nprogs);

#endif /* BPFTIME_RUNTIME_OBJECT_H */
