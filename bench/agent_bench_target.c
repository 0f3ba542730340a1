/* SPDX-License-Identifier: MIT */
/* bench/agent_bench_target.c: the functions agent_bench probes, in their own
 * compilation unit so every call is a real call. */
long agent_bench_target(long x);
long agent_bench_sentinel(long x);

__attribute__((noinline)) long agent_bench_target(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

__attribute__((noinline)) long agent_bench_sentinel(long x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 2;
}
