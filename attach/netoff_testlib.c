/* SPDX-License-Identifier: MIT */
/* attach/netoff_testlib.c: a library netoff_test.c dlopens after the
 * syscall hook turned its net (Syscall User Dispatch) off, with inline
 * `syscall` instructions of odd shapes the hook must find and rewrite
 * before its code runs: the number loaded from memory, a site two paths
 * reach with different numbers, and a site too far from any padding for a
 * `jmp rel8` to an island (the int3 fallback).  Every function has CFI, so
 * the scan knows its bounds. */

/* the number netoff_lib_regs_mem loads (getppid); hidden: read PC-relative */
__attribute__((visibility("hidden"))) int netoff_lib_nr = 110;

#include "netoff_regs.h"

// clang-format off
void netoff_lib_regs_mem(unsigned long *out);
void netoff_lib_regs_far(unsigned long *out);
long netoff_lib_branch(int pgrp);
long netoff_lib_patchme(void);
long netoff_lib_straddle(void);

__asm__(REGS_SCRATCH
	/* `mov eax, [rip + netoff_lib_nr]; syscall`: the number is unknown */
	REGS_FN("netoff_lib_regs_mem", "", "	mov netoff_lib_nr(%rip), %eax\n", "")
	/* `mov eax, 110; syscall` with 160 bytes of code on each side: no
	 * padding within a jmp rel8's reach */
	REGS_FN("netoff_lib_regs_far", FILL160, "	mov $110, %eax\n", FILL160)
	/* getppid, or getpgrp when @pgrp: a branch lands on the syscall */
	".text\n"
	".p2align 4\n"
	".globl netoff_lib_branch\n"
	".type netoff_lib_branch, @function\n"
	"netoff_lib_branch:\n"
	"	.cfi_startproc\n"
	"	mov $110, %eax\n"
	"	test %edi, %edi\n"
	"	jz 1f\n"
	"	mov $111, %eax\n"
	"1:	syscall\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size netoff_lib_branch, .-netoff_lib_branch\n"
	/* returns 110, until the test writes a `syscall` over the 2-byte nop:
	 * then getppid (code changed through mprotect RW, then RX) */
	".text\n"
	".p2align 4\n"
	".globl netoff_lib_patchme\n"
	".type netoff_lib_patchme, @function\n"
	"netoff_lib_patchme:\n"
	"	.cfi_startproc\n"
	"	mov $110, %eax\n"
	"	xchg %ax, %ax\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size netoff_lib_patchme, .-netoff_lib_patchme\n"
	/* getppid, its syscall's two bytes on both sides of an 8-byte word
	 * (at +7 from a 16-byte boundary) */
	".text\n"
	".p2align 4\n"
	".globl netoff_lib_straddle\n"
	".type netoff_lib_straddle, @function\n"
	"netoff_lib_straddle:\n"
	"	.cfi_startproc\n"
	"	mov $110, %eax\n"
	"	nop; nop\n"
	"	syscall\n"
	"	ret\n"
	"	.cfi_endproc\n"
	".size netoff_lib_straddle, .-netoff_lib_straddle\n");
// clang-format on

/* the constructor makes a watched call (getpgrp) through the library's own
 * site, while dlopen runs: before the hook could prove the library */
__attribute__((visibility("default"))) long netoff_lib_ctor_ret;

__attribute__((constructor)) static void netoff_lib_ctor(void)
{
	netoff_lib_ctor_ret = netoff_lib_branch(1);
}
