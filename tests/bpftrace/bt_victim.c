/* SPDX-License-Identifier: MIT */
/* tests/bpftrace/bt_victim.c: the deterministic process the bpftrace
 * one-liners trace (bpftrace_test, bench/bpftrace_bench).
 *
 *   bt_victim [-t THREADS] [-n CALLS] [-w WAIT_MS] [-s SPIN_MS] [-d GAP_NS] [-o OPENS]
 *             [-g ATTR_MS] [-p] [-T]
 *
 * Each of THREADS threads calls bt_add(i, i * 2) for i in [0, CALLS), which
 * calls bt_leaf(); then bt_name() with "alpha", "beta", "gamma" in turn
 * (i % 3), bt_usdt() (a USDT probe bt:tick with args i and THREADS) and
 * bt_ret(i) returning i * 3.  -w waits WAIT_MS before starting (time for a
 * tracer to attach with -p), -W FILE waits until FILE exists, -s spins SPIN_MS in bt_spin() (for profile:),
 * -d paces the calls: each iteration starts GAP_NS after the previous one (busy
 * waiting: an event rate a tracer is expected to sustain, e.g. the kernel's),
 * -o opens /dev/null write-only OPENS times after the calls (for openat),
 * -g makes each thread first call pthread_getattr_np on itself for ATTR_MS
 * of its CPU time (what ASan's thread start does once; that call holds the
 * thread's own lock: a profile sample landing there must not need it),
 * -p prints the pid first, -T the wall time of the calls (loop_ns N).  On exit it prints what the calls were:
 *   calls N sum S
 * where S is the sum of the first arguments to bt_add over all threads. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

/* A USDT probe without <sys/sdt.h>: the stapsdt note (provider, name,
 * argument spec) that bpftrace reads, and a nop at the probe address. */
#define BT_USDT2(prov, name, a1, a2)                                                    \
	__asm__ __volatile__(                                                           \
		"990: nop\n"                                                            \
		".pushsection .note.stapsdt,\"?\",\"note\"\n"                           \
		".balign 4\n"                                                           \
		".4byte 992f-991f, 994f-993f, 3\n"                                      \
		"991: .asciz \"stapsdt\"\n"                                             \
		"992: .balign 4\n"                                                      \
		"993: .8byte 990b\n"                                                    \
		".8byte _.stapsdt.base\n"                                               \
		".8byte 0\n"                                                            \
		".asciz \"" #prov "\"\n"                                                \
		".asciz \"" #name "\"\n"                                                \
		".asciz \"-8@%0 -4@%1\"\n"                                              \
		"994: .balign 4\n"                                                      \
		".popsection\n"                                                         \
		".ifndef _.stapsdt.base\n"                                              \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n"                                                \
		".hidden _.stapsdt.base\n"                                              \
		"_.stapsdt.base: .space 1\n"                                            \
		".size _.stapsdt.base, 1\n"                                             \
		".popsection\n"                                                         \
		".endif\n"                                                              \
		:                                                                       \
		: "r"((int64_t)(a1)), "r"((int32_t)(a2)))

/* the probed functions (global, so bpftrace finds them by name) */
uint64_t bt_leaf(uint64_t x);
uint64_t bt_add(uint64_t a, uint64_t b);
size_t bt_name(const char *s);
void bt_usdt(long i);
uint64_t bt_ret(uint64_t i);
uint64_t bt_spin(long ms);

static long calls = 1000, nthreads = 1, spin_ms, gap_ns, opens, attr_ms;
volatile uint64_t bt_sink;

__attribute__((noinline)) uint64_t bt_leaf(uint64_t x)
{
	bt_sink += x;
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

__attribute__((noinline)) uint64_t bt_add(uint64_t a, uint64_t b)
{
	return bt_leaf(a + b);
}

__attribute__((noinline)) size_t bt_name(const char *s)
{
	__asm__ volatile("" ::: "memory");
	return strlen(s);
}

__attribute__((noinline)) void bt_usdt(long i)
{
	BT_USDT2(bt, tick, i, nthreads);
}

__attribute__((noinline)) uint64_t bt_ret(uint64_t i)
{
	__asm__ volatile("" ::: "memory");
	return i * 3;
}

__attribute__((noinline)) uint64_t bt_spin(long ms)
{
	struct timespec t0, t;
	uint64_t n = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 10000; i++)
			n += (uint64_t)i * 7;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	return n;
}

/* this thread's CPU time in ms */
static long thread_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void *worker(void *arg)
{
	static const char *const names[] = { "alpha", "beta", "gamma" };

	struct timespec next;

	(void)arg;
	for (long end = attr_ms ? thread_ms() + attr_ms : 0; thread_ms() < end;) {
		pthread_attr_t attr;

		if (!pthread_getattr_np(pthread_self(), &attr))
			pthread_attr_destroy(&attr);
	}
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long i = 0; i < calls; i++) {
		if (gap_ns) {
			struct timespec now;

			next.tv_nsec += gap_ns;
			while (next.tv_nsec >= 1000000000L) {
				next.tv_nsec -= 1000000000L;
				next.tv_sec++;
			}
			do
				clock_gettime(CLOCK_MONOTONIC, &now);
			while (now.tv_sec < next.tv_sec ||
			       (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec));
		}
		bt_add((uint64_t)i, (uint64_t)i * 2);
		bt_name(names[i % 3]);
		bt_usdt(i);
		bt_ret((uint64_t)i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long wait_ms = 0;
	const char *go_file = NULL;
	int opt;
	bool timed = false;
	struct timespec t0, t1;
	pthread_t *t;

	/* the name the test gave this run (its kernel comparison filters on
	 * it: other runs' victims must not match) */
	if (getenv("BT_COMM"))
		prctl(PR_SET_NAME, getenv("BT_COMM"), 0, 0, 0);
	while ((opt = getopt(argc, argv, "t:n:w:W:s:d:o:g:pT")) != -1) {
		switch (opt) {
		case 't':
			nthreads = atol(optarg);
			break;
		case 'n':
			calls = atol(optarg);
			break;
		case 'w':
			wait_ms = atol(optarg);
			break;
		case 'W':
			go_file = optarg; /* start once this file exists */
			break;
		case 's':
			spin_ms = atol(optarg);
			break;
		case 'd':
			gap_ns = atol(optarg);
			break;
		case 'o':
			opens = atol(optarg); /* opens of /dev/null O_WRONLY after the calls */
			break;
		case 'g':
			attr_ms = atol(optarg); /* pthread_getattr_np on itself first */
			break;
		case 'T':
			timed = true; /* print the call loop's wall time */
			break;
		case 'p':
			printf("pid %d\n", getpid());
			fflush(stdout);
			break;
		default:
			fprintf(stderr, "usage: %s [-t THREADS] [-n CALLS] [-w MS] [-s MS] [-p]\n",
				argv[0]);
			return 2;
		}
	}
	if (nthreads < 1 || calls < 0 || gap_ns < 0 || gap_ns >= 1000000000L || attr_ms < 0)
		return 2;
	if (wait_ms)
		usleep((useconds_t)wait_ms * 1000);
	while (go_file && access(go_file, F_OK))
		usleep(10000);
	if (spin_ms)
		bt_sink += bt_spin(spin_ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	t = calloc((size_t)nthreads, sizeof(*t));
	if (!t)
		return 1;
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 1;
	for (long i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	free(t);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (long i = 0; i < opens; i++) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			close(fd);
	}
	printf("calls %ld sum %ld\n", calls * nthreads, nthreads * (calls * (calls - 1) / 2));
	if (timed)
		printf("loop_ns %lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
						 (t1.tv_nsec - t0.tv_nsec));
	return 0;
}
