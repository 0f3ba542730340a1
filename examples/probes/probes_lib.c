/* SPDX-License-Identifier: MIT */
/* examples/probes/probes_lib.c: libprobes_lib.so, the shared library whose
 * function the probes example traces. */
int lib_func(int x);

__attribute__((noinline)) int lib_func(int x)
{
	volatile int v = x;

	return v + 100;
}
