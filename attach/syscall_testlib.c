/* attach/syscall_testlib.c: a library the syscall hook test dlopens after
 * the hook started; its syscall is an inline instruction of its own. */
__attribute__((visibility("default"), noinline)) long syscall_testlib_getppid(void);

__attribute__((visibility("default"), noinline)) long syscall_testlib_getppid(void)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(110L) : "rcx", "r11", "memory");
	return ret;
}
