/* SPDX-License-Identifier: MIT */
/* attach/sysscan.h: every `syscall` instruction that can run in the
 * process, found by scanning its executable mappings (sysscan.c), for the
 * syscall hook (syscall.c) to rewrite before it turns Syscall User Dispatch
 * off.  Not installed. */
#ifndef BPFTIME_ATTACH_SYSSCAN_H
#define BPFTIME_ATTACH_SYSSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* one `syscall` instruction */
struct sysscan_site {
	uintptr_t addr;	  /* the instruction (2 bytes) */
	long nr;	  /* the number when `mov eax, imm32` right before it is the only way
			   * in (no branch of the function lands on the syscall); else -1 */
	uintptr_t island; /* 5 bytes of padding between functions that a `jmp rel8` at
			   * addr reaches (reserved for this site), or 0 */
};

struct sysscan {
	struct sysscan_site *site; /* in address order within each object */
	size_t n, cap;
	size_t pairs;	 /* 0f 05 / 0f 34 / cd 80 byte pairs looked at */
	size_t inside;	 /* of them, inside another instruction */
	bool unprovable; /* something could not be proven: why[] says what */
	char why[256];
};

/* [start, start + len) is the hook's own code: never scanned */
void sysscan_own(uintptr_t start, size_t len);

/* Scans every executable mapping of the process: the PF_X PT_LOAD
 * segments of every object dl_iterate_phdr knows (the vDSO included), and
 * the executable mappings of /proc/self/maps that belong to none.  0 (the
 * sites in s->site; s->unprovable and s->why when something could not be
 * proven), or -errno. */
int sysscan_all(struct sysscan *s);
/* Scans [start, end) only (new code: mmap/mprotect with PROT_EXEC), with
 * the object that holds it when there is one.  0 or -errno as above. */
int sysscan_range(struct sysscan *s, uintptr_t start, uintptr_t end);
/* The executable segment at file offset @off of @fd that ld.so just mapped
 * at [start, end), of an object it is loading (not listed yet): scanned
 * with the object's own headers.  0, -ENOENT when it is not such an
 * object, or -errno (see sysscan.c). */
int sysscan_loading(struct sysscan *s, int fd, uint64_t off, uintptr_t start, uintptr_t end);
void sysscan_free(struct sysscan *s);

#endif
