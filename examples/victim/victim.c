/* SPDX-License-Identifier: MIT */
/* examples/victim/victim.c: a process for the examples to trace.
 *
 *   victim [COUNT [INTERVAL_MS]]
 *
 * Calls target_func(i) (uprobe/uretprobe examples) and malloc/free COUNT
 * times (default 10, -1 forever), INTERVAL_MS apart (default 100), and prints
 * how many calls it made, so a test can compare with what a probe counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int target_func(int x);

__attribute__((noinline, used)) int target_func(int x)
{
	/* something the compiler cannot fold away */
	volatile int v = x;

	return v * 2 + 1;
}

int main(int argc, char **argv)
{
	long count = argc > 1 ? strtol(argv[1], NULL, 0) : 10;
	long ms = argc > 2 ? strtol(argv[2], NULL, 0) : 100;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	static char outbuf[BUFSIZ];
	long sum = 0, i;

	/* a static stdout buffer: then the loop's are the only malloc calls
	 * after startup, and a probe's count can be compared with ours */
	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	for (i = 0; count < 0 || i < count; i++) {
		void *p = malloc(64 + (size_t)i % 64);

		/* p escapes, or the compiler drops the malloc/free pair */
		__asm__ volatile("" : : "r"(p) : "memory");
		sum += target_func((int)i);
		free(p);
		if (ms > 0)
			nanosleep(&ts, NULL);
	}
	printf("victim: %ld calls, sum %ld, pid %d\n", i, sum, (int)getpid());
	return 0;
}
