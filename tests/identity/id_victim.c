/* SPDX-License-Identifier: MIT */
/* tests/identity/id_victim.c: the traced process of identity_test's pinned
 * link cases (its copy under a per-run name: a kernel uprobe then fires in
 * that copy only, and its comm is the run's own).
 *
 *   id_victim CALLS BURN_MS   calls target_func CALLS times, each followed by
 *                             a 1 ms nanosleep (glibc: clock_nanosleep), then
 *                             burns BURN_MS ms of CPU time, and prints
 *                             "victim: CALLS calls"
 *   id_victim -i              the same on commands from stdin, for a link made
 *                             or removed while it runs: "c N" (N calls and
 *                             sleeps), "b MS" (burn); each answered "done"
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int target_func(int x);

__attribute__((noinline, used)) int target_func(int x)
{
	volatile int v = x; /* something the compiler cannot fold away */

	return v * 2 + 1;
}

static long sum;
static volatile unsigned long sink; /* what burn() computes, so it is not folded away */

static void calls(long n)
{
	struct timespec ts = { 0, 1000000L };

	for (long i = 0; i < n; i++) {
		sum += target_func((int)i);
		nanosleep(&ts, NULL);
	}
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* @ms of this process's CPU time (what a profile event samples) */
static void burn(long ms)
{
	double end = cpu_ms() + (double)ms;

	while (cpu_ms() < end)
		for (int i = 0; i < 10000; i++)
			sink += (unsigned long)i;
}

int main(int argc, char **argv)
{
	static char outbuf[BUFSIZ];
	char line[64];
	long n;

	setvbuf(stdout, outbuf, _IOLBF, sizeof(outbuf));
	if (argc == 3) {
		n = strtol(argv[1], NULL, 0);
		calls(n);
		burn(strtol(argv[2], NULL, 0));
		printf("victim: %ld calls, sum %ld\n", n, sum);
		return 0;
	}
	if (argc != 2 || argv[1][0] != '-' || argv[1][1] != 'i') {
		fprintf(stderr, "usage: id_victim CALLS BURN_MS | -i\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "c %ld", &n) == 1)
			calls(n);
		else if (sscanf(line, "b %ld", &n) == 1)
			burn(n);
		else
			return 2;
		printf("done\n");
	}
	return 0;
}
