/* SPDX-License-Identifier: MIT */
/* attach/test_targets.c: C functions the attach tests probe (see the header). */
#include "test_targets.h"

#if defined(__clang__)
#define TARGET __attribute__((noinline, used))
#else
#define TARGET __attribute__((noinline, noipa))
#endif

volatile long tgt_body_runs;

TARGET long tgt_add6(long a, long b, long c, long d, long e, long f)
{
	tgt_body_runs++;
	return a + b + c + d + e + f;
}

TARGET long tgt_square(long x)
{
	tgt_body_runs++;
	return x * x;
}

/* The asm barrier keeps the recursion a real call (no accumulator loop). */
TARGET long tgt_fact(long n)
{
	long r;

	if (n <= 1)
		return 1;
	r = tgt_fact(n - 1);
	__asm__ volatile("" : "+r"(r));
	return n * r;
}

TARGET long tgt_jumper(jmp_buf *jb, long depth)
{
	long r;

	if (depth <= 0) {
		if (jb)
			longjmp(*jb, 1);
		return 0;
	}
	r = tgt_jumper(jb, depth - 1);
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

TARGET double tgt_fma3(double a, double b, double c)
{
	return a * b + c;
}

TARGET long tgt_loop_body(long x)
{
	tgt_body_runs++;
	return x + 1;
}
