/* SPDX-License-Identifier: MIT */
/* examples/probes/mt_victim.c: THREADS threads each call exe_func (in this
 * executable) and lib_func (in libprobes_lib.so) CALLS times, then it prints
 * the totals, so a test can compare them with what the probes counted.
 *
 *   mt_victim [THREADS [CALLS]]     (default 4 threads, 10000 calls)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int lib_func(int x);
int exe_func(int x);

static atomic_long exe_calls, lib_calls, ret_sum;
static long calls = 10000;

__attribute__((noinline, used)) int exe_func(int x)
{
	volatile int v = x;

	return v * 3;
}

static void *worker(void *arg)
{
	long sum = 0;

	(void)arg;
	for (long i = 0; i < calls; i++) {
		sum += exe_func((int)(i & 0xff));
		atomic_fetch_add(&exe_calls, 1);
		lib_func((int)i);
		atomic_fetch_add(&lib_calls, 1);
	}
	atomic_fetch_add(&ret_sum, sum);
	return NULL;
}

int main(int argc, char **argv)
{
	long threads = argc > 1 ? strtol(argv[1], NULL, 0) : 4;
	pthread_t th[64];

	if (argc > 2)
		calls = strtol(argv[2], NULL, 0);
	if (threads < 1 || threads > 64)
		threads = 4;
	for (long i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (long i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	printf("mt_victim: %ld threads, exe_func %ld calls (returns sum %ld), lib_func %ld calls, "
	       "pid %d\n",
	       threads, atomic_load(&exe_calls), atomic_load(&ret_sum), atomic_load(&lib_calls),
	       (int)getpid());
	return 0;
}
