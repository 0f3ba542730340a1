/* SPDX-License-Identifier: MIT */
/* attach/testlib.c: a small shared library whose function the attach tests
 * probe through module path + file offset, as a perf-event uprobe names it. */
__attribute__((visibility("default"), noinline)) long testlib_mul(long a, long b);

__attribute__((visibility("default"), noinline)) long testlib_mul(long a, long b)
{
	return a * b;
}
