/* SPDX-License-Identifier: MIT */
/* agent/agent_testlib.c: a library agent_test dlopens after a probe on it
 * was created, to check that the agent attaches to libraries loaded later. */
__attribute__((visibility("default"), noinline)) long agent_testlib_fn(long x);

__attribute__((visibility("default"), noinline)) long agent_testlib_fn(long x)
{
	volatile long v = x;

	return v * 7 + 1;
}
