/* SPDX-License-Identifier: MIT */
/* bench/syscall_floor.c: the floors a syscall hook cannot go under on this
 * machine, in ns per getppid() (issue 10's targets are relative to them):
 *
 *   bare              `mov eax, 110; syscall` in a loop
 *   SUD on            the same loop in a thread with Syscall User Dispatch
 *                     on (the region elsewhere, selector ALLOW): the
 *                     kernel's own check, paid by every syscall of the thread
 *   +N code pages     after each syscall, a call into N other code pages
 *                     (one `ret` each): what each page costs after a kernel
 *                     entry (TLB refill: with PTI and no PCID, every
 *                     syscall flushes the user TLB)
 *   +N data pages     a load from each of N other data pages
 *   ... in a chain    4 data pages, each one's address read from the one
 *                     before (the hook's hot page, the handler's table...)
 *   ... prefetched    the same chain after a prefetch of the 4 pages (the
 *                     hook's warm stub: the walks overlap)
 *   from a page       the syscall made from a page of its own (`call` to
 *                     `mov eax, 110; syscall; ret`)
 *   jmp to a page     `jmp` there, `mov eax, 110; syscall; jmp r8` back: a
 *                     rewritten site's direct route, without its SUD check
 *                     (the syscall hook's net off)
 *   ... SUD on        the same with SUD on (the syscall inside its region,
 *                     as the hook's own are): a rewritten site with the net
 *                     on; what BPFTIME_SYSCALL_NET=auto saves there
 *   SUD off again     the bare loop in a thread that turned SUD on, then
 *                     off (as the net going off does): nothing left
 *
 * Rows are interleaved (each round runs every row once); the figure is the
 * median over rounds, "added" is the median of (row - bare of the same
 * round).  Times are the thread's cpu time.
 *
 *   syscall_floor [--calls N] [--rounds R] [--quick]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH  59
#define PR_SYS_DISPATCH_OFF	      0
#define PR_SYS_DISPATCH_ON	      1
#define SYSCALL_DISPATCH_FILTER_ALLOW 0
#endif

#define MAX_PAGES  8
#define MAX_ROUNDS 101

static long n_calls = 20000;
static int n_rounds = 31;
static uint8_t *code;	/* MAX_PAGES pages of `ret`, then the syscall page */
#define JMP_PAGE_OFF 64 /* in the syscall page: mov eax, 110; syscall; jmp r8 */
static uint8_t *data;	/* MAX_PAGES data pages */
static volatile char selector = SYSCALL_DISPATCH_FILTER_ALLOW;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline long raw_getppid(void)
{
	long r;

	__asm__ volatile("syscall" : "=a"(r) : "0"(110L) : "rcx", "r11", "memory");
	return r;
}

typedef void (*fn_t)(void);
typedef long (*sc_fn_t)(void);

static double loop_bare(void)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < n_calls; i++)
		raw_getppid();
	return (double)(now_ns() - t0) / (double)n_calls;
}

static double loop_code(int pages)
{
	uint64_t t0 = now_ns();

	for (long i = 0; i < n_calls; i++) {
		raw_getppid();
		for (int p = 0; p < pages; p++)
			((fn_t)(void *)(code + (size_t)p * 4096))();
	}
	return (double)(now_ns() - t0) / (double)n_calls;
}

static double loop_data(int pages)
{
	uint64_t t0 = now_ns();
	volatile uint8_t sink = 0;

	for (long i = 0; i < n_calls; i++) {
		raw_getppid();
		for (int p = 0; p < pages; p++)
			sink += ((volatile uint8_t *)data)[(size_t)p * 4096];
	}
	(void)sink;
	return (double)(now_ns() - t0) / (double)n_calls;
}

/* the data pages as a chain: page p holds page p + 1's address (4 loads,
 * one per page); with
 * @prefetch, every page prefetched first */
static double loop_chain(bool prefetch)
{
	uint64_t t0 = now_ns();
	uint8_t *volatile sink;

	for (long i = 0; i < n_calls; i++) {
		uint8_t *q = data;

		raw_getppid();
		if (prefetch)
			for (int p = 0; p < 4; p++)
				__builtin_prefetch(data + (size_t)p * 4096);
		for (int p = 0; p < 4; p++)
			q = *(uint8_t *volatile *)q;
		sink = q;
	}
	(void)sink;
	return (double)(now_ns() - t0) / (double)n_calls;
}

static double loop_from_page(void)
{
	sc_fn_t f = (sc_fn_t)(void *)(code + (size_t)MAX_PAGES * 4096);
	uint64_t t0 = now_ns();

	for (long i = 0; i < n_calls; i++)
		f();
	return (double)(now_ns() - t0) / (double)n_calls;
}

static double loop_jmp_page(void)
{
	void *f = code + (size_t)MAX_PAGES * 4096 + JMP_PAGE_OFF;
	uint64_t t0 = now_ns();

	for (long i = 0; i < n_calls; i++)
		__asm__ volatile("lea 1f(%%rip), %%r8\n\t"
				 "jmp *%0\n"
				 "1:"
				 :
				 : "r"(f)
				 : "rax", "rcx", "r8", "r11", "memory");
	return (double)(now_ns() - t0) / (double)n_calls;
}

static int sud(bool on)
{
	/* the "region" is the syscall page: not where the loops' syscalls are */
	if (on)
		return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
			     (unsigned long)(code + (size_t)MAX_PAGES * 4096), 4096UL,
			     (unsigned long)&selector);
	return prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0UL, 0UL, 0UL);
}

enum {
	R_BARE,
	R_SUD,
	R_SUD_OFF,
	R_C1,
	R_C2,
	R_C4,
	R_C8,
	R_D1,
	R_D4,
	R_CHAIN,
	R_CHAIN_PF,
	R_PAGE,
	R_JMP,
	R_JMP_SUD,
	R_N
};
static const char *const row_name[R_N] = {
	"bare getppid (`syscall` in a loop)",
	"SUD on (selector ALLOW)",
	"SUD on, then off again (the net off)",
	"+1 code page after the syscall",
	"+2 code pages",
	"+4 code pages",
	"+8 code pages",
	"+1 data page",
	"+4 data pages",
	"+4 data pages in a chain",
	"+4 data pages in a chain, prefetched first",
	"syscall made from a page of its own (call, ret)",
	"jmp to a page: syscall, jmp back (direct route)",
	"jmp to a page, SUD on (the net on)",
};
static double val[R_N][MAX_ROUNDS], added[R_N][MAX_ROUNDS];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double c[MAX_ROUNDS];

	memcpy(c, v, (size_t)n * sizeof(*c));
	qsort(c, (size_t)n, sizeof(c[0]), cmp_double);
	return c[n / 2];
}

int main(int argc, char **argv)
{
	static const uint8_t sc_page[] = { 0xb8, 0x6e, 0x00, 0x00, 0x00,  /* mov eax, 110 */
					   0x0f, 0x05, 0xc3 };		  /* syscall; ret */
	static const uint8_t jmp_page[] = { 0xb8, 0x6e, 0x00, 0x00, 0x00, /* mov eax, 110 */
					    0x0f, 0x05,			  /* syscall */
					    0x41, 0xff, 0xe0 };		  /* jmp r8 */
	bool have_sud;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--calls") && i + 1 < argc)
			n_calls = atol(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			n_rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quick")) {
			n_calls = 200;
			n_rounds = 3;
		} else {
			fprintf(stderr, "usage: %s [--calls N] [--rounds R] [--quick]\n", argv[0]);
			return 2;
		}
	}
	if (n_calls < 1 || n_rounds < 1 || n_rounds > MAX_ROUNDS) {
		fprintf(stderr, "syscall_floor: bad --calls or --rounds\n");
		return 2;
	}
	code = mmap(NULL, (MAX_PAGES + 1) * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	data = mmap(NULL, MAX_PAGES * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (code == MAP_FAILED || data == MAP_FAILED) {
		perror("syscall_floor: mmap");
		return 1;
	}
	memset(code, 0xc3, (MAX_PAGES + 1) * 4096); /* ret */
	for (int p = 0; p < 4; p++)		    /* the last one back to the first */
		*(uint8_t **)(void *)(data + (size_t)p * 4096) =
			data + (size_t)((p + 1) % 4) * 4096;
	memcpy(code + (size_t)MAX_PAGES * 4096, sc_page, sizeof(sc_page));
	memcpy(code + (size_t)MAX_PAGES * 4096 + JMP_PAGE_OFF, jmp_page, sizeof(jmp_page));
	if (mprotect(code, (MAX_PAGES + 1) * 4096, PROT_READ | PROT_EXEC)) {
		perror("syscall_floor: mprotect");
		return 1;
	}
	have_sud = sud(true) == 0;
	if (have_sud)
		sud(false);
	else
		printf("(no Syscall User Dispatch here: %s; its rows are left out)\n",
		       strerror(errno));
	if (raw_getppid() != getppid() ||
	    ((sc_fn_t)(void *)(code + MAX_PAGES * 4096))() != getppid()) {
		fprintf(stderr, "syscall_floor: getppid gave a wrong value\n");
		return 1;
	}

	for (int r = 0; r < n_rounds; r++) {
		val[R_BARE][r] = loop_bare();
		if (have_sud) {
			sud(true);
			val[R_SUD][r] = loop_bare();
			sud(false);
			val[R_SUD_OFF][r] = loop_bare();
		}
		val[R_C1][r] = loop_code(1);
		val[R_C2][r] = loop_code(2);
		val[R_C4][r] = loop_code(4);
		val[R_C8][r] = loop_code(8);
		val[R_D1][r] = loop_data(1);
		val[R_D4][r] = loop_data(4);
		val[R_CHAIN][r] = loop_chain(false);
		val[R_CHAIN_PF][r] = loop_chain(true);
		val[R_PAGE][r] = loop_from_page();
		val[R_JMP][r] = loop_jmp_page();
		if (have_sud) {
			sud(true);
			val[R_JMP_SUD][r] = loop_jmp_page();
			sud(false);
		}
		for (int k = 0; k < R_N; k++)
			added[k][r] = val[k][r] - val[R_BARE][r];
	}
	printf("ns per getppid, median of %d rounds of %ld calls   %9s %9s\n", n_rounds, n_calls,
	       "ns", "added");
	for (int k = 0; k < R_N; k++) {
		if ((k == R_SUD || k == R_SUD_OFF || k == R_JMP_SUD) && !have_sud)
			continue;
		printf("%-50s %9.1f", row_name[k], median(val[k], n_rounds));
		if (k != R_BARE)
			printf(" %9.1f", median(added[k], n_rounds));
		printf("\n");
	}
	return 0;
}
