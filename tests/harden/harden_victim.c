/* SPDX-License-Identifier: MIT */
/* tests/harden/harden_victim.c: a traced process for harden_test.  Calls
 * harden_work() about every millisecond (the test puts a uprobe on it)
 * until a line arrives on stdin, then says how many calls it made: if it
 * says so, it survived whatever happened to the segment meanwhile. */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

volatile unsigned long harden_sink;
unsigned long harden_work(long i);

__attribute__((noinline)) unsigned long harden_work(long i)
{
	unsigned long s = 0; /* wraps: no signed overflow */

	for (long k = 0; k < 4; k++)
		s += (unsigned long)(i ^ k) * 3 + harden_sink;
	harden_sink = s;
	return s;
}

int main(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	long n = 0;
	char buf[64];

	printf("victim started\n");
	fflush(stdout);
	for (;;) {
		harden_work(n++);
		if (poll(&p, 1, 1) > 0) {
			if (read(0, buf, sizeof(buf)) <= 0 || buf[0] == 'q')
				break;
		}
	}
	printf("victim survived %ld calls\n", n);
	return 0;
}
