/* SPDX-License-Identifier: MIT */
/* attach/netoff_regs.h: the register-checking syscall functions of
 * netoff_test.c and its library, in asm (test code only). */
#ifndef BPFTIME_ATTACH_NETOFF_REGS_H
#define BPFTIME_ATTACH_NETOFF_REGS_H

/* The register check of syscall_test.c's regs_syscall: sets every register
 * to a pattern and fills the red zone, makes the syscall (@LOAD puts the
 * number in eax), stores every register and the red zone into out[0..15]
 * and out[16..31]; out[32] = address after the syscall, out[33] = SF ZF AF
 * PF CF just before it.  @BEFORE and @AFTER are instructions that change
 * no register and no flag, placed right before @LOAD and right after the
 * syscall (the address in out[32] stays the syscall's end). */
// clang-format off
#define PUSH(r) "	push %" r "; .cfi_adjust_cfa_offset 8\n"
#define POP(r)	"	pop %" r "; .cfi_adjust_cfa_offset -8\n"
#define REGS_FN(name, BEFORE, LOAD, AFTER)						\
	".text\n"									\
	".p2align 4\n"									\
	".globl " name "\n"								\
	".type " name ", @function\n"							\
	name ":\n"									\
	"	.cfi_startproc\n"							\
	PUSH("rbx") PUSH("rbp") PUSH("r12") PUSH("r13") PUSH("r14") PUSH("r15")	\
	PUSH("rdi")									\
	"	lea 2f(%rip), %rax; mov %rax, 256(%rdi)\n"				\
	"	mov $16, %ecx\n"							\
	"1:	mov %rcx, %rax; shl $8, %rax; or $0x5a, %rax; neg %rcx\n"		\
	"	mov %rax, (%rsp,%rcx,8)\n"						\
	"	neg %rcx; dec %rcx; jnz 1b\n"						\
	"	mov (%rsp), %rdi\n"							\
	"	lahf; movzbl %ah, %eax; mov %rax, 264(%rdi)\n"				\
	"	mov $0x1111, %rbx; mov $0x2222, %rbp; mov $0x3333, %rsi\n"		\
	"	mov $0x4444, %rdx; mov $0x5555, %r8; mov $0x6666, %r9\n"		\
	"	mov $0x7777, %r10; mov $0x8888, %r12; mov $0x9999, %r13\n"		\
	"	mov $0xaaaa, %r14; mov $0xbbbb, %r15; mov $0xcccc, %rdi\n"		\
	"	mov $0xdddd, %rcx; mov $0xeeee, %r11\n"				\
	BEFORE LOAD									\
	"	syscall\n"								\
	"2:\n"										\
	AFTER										\
	"	mov %rdi, netoff_scratch(%rip)\n"					\
	"	mov (%rsp), %rdi\n"							\
	"	mov %rax, 0(%rdi); mov %rbx, 8(%rdi); mov %rcx, 16(%rdi)\n"		\
	"	mov %rdx, 24(%rdi); mov %rsi, 32(%rdi)\n"				\
	"	mov netoff_scratch(%rip), %rax; mov %rax, 40(%rdi)\n"			\
	"	mov %rbp, 48(%rdi); mov %r8, 56(%rdi); mov %r9, 64(%rdi)\n"		\
	"	mov %r10, 72(%rdi); mov %r11, 80(%rdi); mov %r12, 88(%rdi)\n"		\
	"	mov %r13, 96(%rdi); mov %r14, 104(%rdi); mov %r15, 112(%rdi)\n"	\
	"	mov $16, %ecx\n"							\
	"3:	neg %rcx; mov (%rsp,%rcx,8), %rax; neg %rcx\n"				\
	"	mov %rax, 120(%rdi,%rcx,8)\n"						\
	"	dec %rcx; jnz 3b\n"							\
	POP("rdi") POP("r15") POP("r14") POP("r13") POP("r12") POP("rbp") POP("rbx")	\
	"	ret\n"									\
	"	.cfi_endproc\n"							\
	".size " name ", .-" name "\n"
/* the scratch word REGS_FN uses (one per object) */
#define REGS_SCRATCH ".local netoff_scratch\n.comm netoff_scratch, 8, 8\n"

/* 160 bytes that change nothing (not nops: code, covered by the FDE) */
#define FILL160 "	.rept 40; lea 0(%rsp), %rsp; .endr\n"
// clang-format on

#endif
