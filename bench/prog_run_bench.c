/* SPDX-License-Identifier: MIT */
/* bench/prog_run_bench.c: BPF_PROG_TEST_RUN's duration per run (what
 * `bpftool prog run ... repeat N` prints) for the same XDP program and the
 * same repeat count, on the kernel and under `bpftime load` (the syscall
 * server, our JIT and interpreter).  The program (tests/pktctx/
 * xdp_count.bpf.c) reads ctx->data, swaps the Ethernet addresses and adds
 * the packet's length to a hash map entry.  It prints the median of the
 * trials' ns per run for each side and the ratio ours / kernel.
 *
 *   prog_run_bench [--quick] [BPFTIME]     the comparison
 *   prog_run_bench --measure OBJ REPEAT TRIALS   one side (run directly: the
 *                                          kernel; under bpftime load: ours)
 * --quick runs a few iterations only and checks that both sides run and
 * agree on the verdict and the bytes (CTest; never a timing assertion).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* one side: TRIALS test runs of REPEAT runs each; prints the verdict, a
 * checksum of data_out and the median duration */
static int measure(const char *path, uint32_t repeat, int trials)
{
	unsigned char pkt[64], out[128];
	uint32_t durations[101], sum = 0;
	struct bpf_object *obj;
	int fd, err = 0;

	if (trials < 1 || trials > 101)
		return 2;
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(path, NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("unavailable %s\n", strerror(errno));
		return 0;
	}
	fd = bpf_program__fd(bpf_object__next_program(obj, NULL));
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (unsigned char)(i * 13 + 1);
	pkt[12] = 0x08;
	pkt[13] = 0x00;
	for (int t = 0; t < trials && !err; t++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);

		err = bpf_prog_test_run_opts(fd, &o);
		durations[t] = o.duration;
		if (!t) {
			for (uint32_t i = 0; i < o.data_size_out; i++)
				sum = sum * 31 + out[i];
			printf("verdict %u size %u sum %08x\n", o.retval, o.data_size_out, sum);
		}
	}
	if (err) {
		printf("unavailable test run: %s\n", strerror(errno));
		bpf_object__close(obj);
		return 0;
	}
	qsort(durations, (size_t)trials, sizeof(durations[0]), cmp_u32);
	printf("median_ns %u\n", durations[trials / 2]);
	bpf_object__close(obj);
	return 0;
}

/* runs one side, returns its output (malloc'ed) */
static char *side(const char *const *argv, const char *engine)
{
	char *buf = calloc(1, 4096);
	size_t len = 0;
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (!buf || pipe(pipefd))
		return buf;
	pid = fork();
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		if (engine)
			setenv("BPFTIME_VM_NAME", engine, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (len < 4095 && (n = read(pipefd[0], buf + len, 4095 - len)) > 0)
		len += (size_t)n;
	close(pipefd[0]);
	waitpid(pid, &status, 0);
	return buf;
}

static double median_of(const char *out)
{
	const char *p = strstr(out, "median_ns ");

	return p ? strtod(p + 10, NULL) : -1;
}

static const char *verdict_of(const char *out, char *buf, size_t len)
{
	const char *p = strstr(out, "verdict ");

	snprintf(buf, len, "%.*s", p ? (int)strcspn(p, "\n") : 0, p ? p : "");
	return buf;
}

int main(int argc, char **argv)
{
	static const uint32_t repeats[] = { 1, 100, 10000, 1000000 };
	char self[4096], rep[16], trials_s[8], v1[128], v2[128];
	const char *bpftime = BPFTIME_BIN, *obj = XDP_OBJ;
	bool quick = false;
	int trials = 15;

	if (argc == 5 && !strcmp(argv[1], "--measure"))
		return measure(argv[2], (uint32_t)strtoul(argv[3], NULL, 10), atoi(argv[4]));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else
			bpftime = argv[i];
	}
	memset(self, 0, sizeof(self));
	if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
		return 1;
	snprintf(rep, sizeof(rep), "%d", (int)getpid());
	{
		char shm[64];

		snprintf(shm, sizeof(shm), "bpftime_prog_run_bench_%s", rep);
		setenv("BPFTIME_GLOBAL_SHM_NAME", shm, 1);
	}
	snprintf(trials_s, sizeof(trials_s), "%d", quick ? 3 : trials);
	printf("BPF_PROG_TEST_RUN of xdp_count (64-byte packet): ns per run, median of %s "
	       "trials\n",
	       trials_s);
	printf("%10s %12s %12s %8s %14s %8s\n", "repeat", "kernel", "bpftime-jit", "ratio",
	       "bpftime-interp", "ratio");
	for (size_t r = 0; r < sizeof(repeats) / sizeof(repeats[0]); r++) {
		if (quick && repeats[r] > 100)
			break;
		snprintf(rep, sizeof(rep), "%u", repeats[r]);
		const char *kargv[] = { self, "--measure", obj, rep, trials_s, NULL };
		const char *bargv[] = {
			bpftime, "load", self, "--measure", obj, rep, trials_s, NULL
		};
		char *k = side(kargv, NULL), *j = side(bargv, "jit"),
		     *in = side(bargv, "interpreter");
		double km = median_of(k), jm = median_of(j), im = median_of(in);

		if (jm < 0 || im < 0) {
			fprintf(stderr, "bpftime side failed:\n%s\n%s\n", j, in);
			return 1;
		}
		if (km >= 0 &&
		    strcmp(verdict_of(k, v1, sizeof(v1)), verdict_of(j, v2, sizeof(v2)))) {
			fprintf(stderr, "kernel and bpftime disagree: '%s' vs '%s'\n", v1, v2);
			return 1;
		}
		if (strcmp(verdict_of(in, v1, sizeof(v1)), verdict_of(j, v2, sizeof(v2)))) {
			fprintf(stderr, "interpreter and jit disagree: '%s' vs '%s'\n", v1, v2);
			return 1;
		}
		if (km >= 0)
			printf("%10u %12.0f %12.0f %8.2f %14.0f %8.2f\n", repeats[r], km, jm,
			       jm / km, im, im / km);
		else
			printf("%10u %12s %12.0f %8s %14.0f %8s\n", repeats[r], "n/a", jm, "-", im,
			       "-");
		fflush(stdout);
		free(k);
		free(j);
		free(in);
	}
	return 0;
}
