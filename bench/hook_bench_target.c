/* SPDX-License-Identifier: MIT */
/* bench/hook_bench_target.c: the functions hook_bench probes, in their own
 * compilation unit so every call is a real call. */
long hook_bench_target(long x);
long hook_bench_target_trap(long x);

__attribute__((noinline)) long hook_bench_target(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

__attribute__((noinline)) long hook_bench_target_trap(long x)
{
	__asm__ volatile("nop" : "+r"(x)); /* not identical: no folding into the other */
	return x + 1;
}
