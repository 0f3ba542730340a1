/* SPDX-License-Identifier: MIT */
/* attach/syscall_testlib.c: a library the syscall hook test dlopens after
 * the hook started; its syscall is an inline instruction of its own. */
__attribute__((visibility("default"), noinline)) long syscall_testlib_getppid(void);

__attribute__((visibility("default"), noinline)) long syscall_testlib_getppid(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(110L) : "rcx", "r11", "memory");
	return ret;
}

/* The register check of syscall_test.c's regs_syscall, as an exported
 * function of a library, so that the hook can prove and rewrite its
 * `mov eax, 110; syscall`: sets every register to a pattern and fills the
 * red zone, makes the syscall, stores every register and the red zone into
 * out[0..15] and out[16..31]; out[32] = address after the syscall,
 * out[33] = SF ZF AF PF CF just before it. */
void syscall_testlib_regs(unsigned long *out);
__asm__(".text\n"
	".p2align 4\n" /* the `mov` where the patcher takes sites (an aligned word) */
	".globl syscall_testlib_regs\n"
	".type syscall_testlib_regs, @function\n"
	"syscall_testlib_regs:\n"
	"	push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
	"	push %rdi\n"
	"	lea 2f(%rip), %rax; mov %rax, 256(%rdi)\n"
	"	mov $16, %ecx\n"
	"1:	mov %rcx, %rax; shl $8, %rax; or $0x5a, %rax; neg %rcx\n"
	"	mov %rax, (%rsp,%rcx,8)\n"
	"	neg %rcx; dec %rcx; jnz 1b\n"
	"	mov (%rsp), %rdi\n"
	"	lahf; movzbl %ah, %eax; mov %rax, 264(%rdi)\n"
	"	mov $0x1111, %rbx; mov $0x2222, %rbp; mov $0x3333, %rsi; mov $0x4444, %rdx\n"
	"	mov $0x5555, %r8; mov $0x6666, %r9; mov $0x7777, %r10; mov $0x8888, %r12\n"
	"	mov $0x9999, %r13; mov $0xaaaa, %r14; mov $0xbbbb, %r15; mov $0xcccc, %rdi\n"
	"	mov $0xdddd, %rcx; mov $0xeeee, %r11\n"
	"	mov $110, %eax\n"
	"	syscall\n"
	"2:	mov %rdi, testlib_scratch(%rip)\n"
	"	mov (%rsp), %rdi\n"
	"	mov %rax, 0(%rdi); mov %rbx, 8(%rdi); mov %rcx, 16(%rdi); mov %rdx, 24(%rdi)\n"
	"	mov %rsi, 32(%rdi); mov testlib_scratch(%rip), %rax; mov %rax, 40(%rdi)\n"
	"	mov %rbp, 48(%rdi)\n"
	"	mov %r8, 56(%rdi); mov %r9, 64(%rdi); mov %r10, 72(%rdi); mov %r11, 80(%rdi)\n"
	"	mov %r12, 88(%rdi); mov %r13, 96(%rdi); mov %r14, 104(%rdi); mov %r15, 112(%rdi)\n"
	"	mov $16, %ecx\n"
	"3:	neg %rcx; mov (%rsp,%rcx,8), %rax; neg %rcx\n"
	"	mov %rax, 120(%rdi,%rcx,8)\n"
	"	dec %rcx; jnz 3b\n"
	"	pop %rdi\n"
	"	pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
	"	ret\n"
	".size syscall_testlib_regs, .-syscall_testlib_regs\n"
	".local testlib_scratch\n"
	".comm testlib_scratch, 8, 8\n");

/* `mov eax, 110; syscall; ret` (getppid) at an aligned start: a site of its
 * own, for a test that runs it first in a forked child */
long syscall_testlib_fork_site(void);
__asm__(".text\n"
	".p2align 4\n"
	".globl syscall_testlib_fork_site\n"
	".type syscall_testlib_fork_site, @function\n"
	"syscall_testlib_fork_site:\n"
	"	mov $110, %eax\n"
	"	syscall\n"
	"	ret\n"
	".size syscall_testlib_fork_site, .-syscall_testlib_fork_site\n");

/* rflags through a `mov eax, 110; syscall` site (getppid): sets them to
 * @in (popfq, DF included), then out[0] = rflags just before the site,
 * out[1] = rflags right after it, out[2] = r11; DF clear again before the
 * return (the C caller's ABI). */
void syscall_testlib_flags(unsigned long in, unsigned long *out);
__asm__(".text\n"
	".p2align 4\n"
	".globl syscall_testlib_flags\n"
	".type syscall_testlib_flags, @function\n"
	"syscall_testlib_flags:\n"
	"	push %rdi\n"
	"	popfq\n"
	"	pushfq\n"
	"	popq (%rsi)\n"
	"	.p2align 3\n" /* the `mov` where the patcher takes sites */
	"	mov $110, %eax\n"
	"	syscall\n"
	"	pushfq\n"
	"	popq 8(%rsi)\n"
	"	mov %r11, 16(%rsi)\n"
	"	cld\n"
	"	ret\n"
	".size syscall_testlib_flags, .-syscall_testlib_flags\n");
