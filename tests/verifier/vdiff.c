/* SPDX-License-Identifier: MIT */
/* tests/verifier/vdiff.c: differential testing of our verifier against the
 * kernel's.  Programs from vgen (random memory operations, helper calls,
 * NULL checks, loops) are loaded with bpf(BPF_PROG_LOAD) by the kernel, in
 * this process, and by our syscall server, in a child run as
 * `GUARD BPFTIME load vdiff --side ...` (the seccomp guard keeps the
 * kernel's bpf() out of it).  Every program is first loaded without a log
 * (the verdict), and a refused one again with log_level 1 (the reason: the
 * log line before "processed N insns").
 *
 *   vdiff --bpftime BPFTIME GUARD [--count N] [--seed S] [--strict] [--quiet] [--words]
 *         [--known-holes FILE]
 *   vdiff --kernel-only [--count N] [--seed S]     the kernel's verdicts only
 *   vdiff --side [--count N] [--seed S]            (the child) one line a program
 *
 * Prints every disagreement (the program as raw slots, both reasons) and a
 * summary with the agreement rate and how many refusals both make with a
 * different errno (--words lists those too).  "we accept, kernel refuses" is a hole in
 * our verifier; "we refuse, kernel accepts" is imprecision (not listed with
 * --quiet); --words also lists programs both refuse for different reasons.  With --strict
 * the exit status is 1 when there is a hole (CTest); 77 when the kernel's
 * bpf() is not usable.  --known-holes FILE lists holes already reported in
 * /work/coord's bug list, one a line: "SEED: reason" (that program) or a
 * substring of the kernel's reason: those are printed as KNOWN HOLE and
 * counted apart, and do not fail --strict.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include "vgen.h"

#define LOG_SIZE (1u << 20)

#define MAX_KNOWN 4096

static int map_fds[VGEN_NMAPS];
static char *known[MAX_KNOWN];
static int nknown;

static void read_known(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f) {
		fprintf(stderr, "vdiff: cannot open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (nknown == MAX_KNOWN) {
			fprintf(stderr, "vdiff: more than %d lines in %s\n", MAX_KNOWN, path);
			exit(2);
		}
		known[nknown++] = strdup(line);
	}
	fclose(f);
}

/* a line "SEED: REASON" names one program; a line without a seed is a
 * substring of the kernel's reason */
static bool is_known(unsigned long long seed, const char *why)
{
	for (int i = 0; i < nknown; i++) {
		char *end;
		unsigned long long s = strtoull(known[i], &end, 10);

		if (end != known[i] && *end == ':') {
			if (s == seed)
				return true;
		} else if (strstr(why, known[i])) {
			return true;
		}
	}
	return false;
}
static char *logbuf;

static int create_maps(void)
{
	for (int i = 0; i < VGEN_NMAPS; i++) {
		const struct vgen_map *m = &vgen_maps[i];
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = m->flags);

		map_fds[i] = bpf_map_create(m->type, "vdiff", m->key, m->value, m->entries, &o);
		if (map_fds[i] < 0)
			return -errno;
		if (m->frozen && bpf_map_freeze(map_fds[i]))
			return -errno;
	}
	return 0;
}

/* the log line that says why: the one before "processed N insns" (and
 * before the states an infinite loop prints) */
static void reason_of(const char *log, char *out, size_t len)
{
	const char *p = strstr(log, "\nprocessed ");
	const char *end, *start;

	if (!p) {
		p = log + strlen(log);
		while (p > log && p[-1] == '\n')
			p--;
	}
	end = p;
	for (;;) {
		start = end;
		while (start > log && start[-1] != '\n')
			start--;
		/* the states printed after "infinite loop detected" */
		if (start > log &&
		    (!strncmp(start, "cur state:", 10) || !strncmp(start, "old state:", 10))) {
			end = start - 1;
			continue;
		}
		break;
	}
	snprintf(out, len, "%.*s", (int)(end - start), start);
	if (!out[0])
		snprintf(out, len, "(no log)");
}

/* Loads the program of @seed.  Returns true when it is accepted; a refused
 * one gets its reason in @why and its errno in *@err. */
static bool verdict(uint64_t seed, char *why, size_t len, int *err, struct vgen_prog *keep)
{
	struct vgen_prog p;
	LIBBPF_OPTS(bpf_prog_load_opts, o);
	LIBBPF_OPTS(bpf_prog_load_opts, lo, .log_buf = logbuf, .log_size = LOG_SIZE,
		    .log_level = 1);
	int fd;

	if (vgen_generate(seed, NULL, &p)) {
		snprintf(why, len, "(generator out of memory)");
		return false;
	}
	for (size_t i = 0; i + 1 < p.cnt; i++)
		if (p.insns[i].code == (BPF_LD | BPF_IMM | BPF_DW)) {
			if (p.insns[i].src == BPF_PSEUDO_MAP_FD ||
			    p.insns[i].src == BPF_PSEUDO_MAP_VALUE)
				p.insns[i].imm = map_fds[p.insns[i].imm];
			i++;
		}
	*err = 0;
	fd = bpf_prog_load(vgen_prog_type(p.type), "vdiff", p.license, (struct bpf_insn *)p.insns,
			   p.cnt, &o);
	if (fd >= 0) {
		close(fd);
		why[0] = 0;
	} else {
		*err = errno;
		logbuf[0] = 0;
		fd = bpf_prog_load(vgen_prog_type(p.type), "vdiff", p.license,
				   (struct bpf_insn *)p.insns, p.cnt, &lo);
		if (fd >= 0) {
			close(fd);
			snprintf(why, len, "(refused with errno %d, then accepted with a log)",
				 *err);
		} else {
			reason_of(logbuf, why, len);
		}
	}
	if (keep)
		*keep = p;
	else
		vgen_free(&p);
	return fd >= 0 && !why[0];
}

static int side(uint64_t seed, long count)
{
	char why[512];
	int err;

	if (create_maps()) {
		printf("E cannot create the maps: %s\n", strerror(errno));
		return 2;
	}
	for (long i = 0; i < count; i++) {
		bool ok = verdict(seed + (uint64_t)i, why, sizeof(why), &err, NULL);

		printf("%llu %c %d %s\n", (unsigned long long)(seed + (uint64_t)i), ok ? 'A' : 'R',
		       err, why);
	}
	fflush(stdout);
	return 0;
}

static void print_prog(const struct vgen_prog *p)
{
	static const char *const names[] = { "kprobe",	       "xdp",		"tracepoint",
					     "raw_tracepoint", "socket_filter", "perf_event" };

	printf("  type %s, license %s, %zu slots; map fds: %d hash 4/16/8, %d array 4/24/4, %d "
	       "ringbuf 4096, "
	       "%d array 4/16/1 rdonly_prog frozen\n",
	       names[p->type], p->license, p->cnt, map_fds[0], map_fds[1], map_fds[2], map_fds[3]);
	fflush(stdout);
	bpftime_disasm_prog(p->insns, p->cnt, NULL, stdout);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *bpftime = NULL, *guard = NULL;
	bool is_side = false, strict = false, quiet = false, kernel_only = false,
	     show_words = false;
	long count = 1000, agree = 0, holes = 0, imprecise = 0, kacc = 0, wacc = 0, words = 0;
	long known_holes = 0, errnos = 0;
	int kerr;
	uint64_t seed = 1;
	char why[512], self[4096], shm[64], line[1024], cnt_s[32], seed_s[32];
	int pfd[2], status = 0;
	FILE *child;
	pid_t pid;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--side"))
			is_side = true;
		else if (!strcmp(argv[i], "--strict"))
			strict = true;
		else if (!strcmp(argv[i], "--quiet"))
			quiet = true;
		else if (!strcmp(argv[i], "--words"))
			show_words = true;
		else if (!strcmp(argv[i], "--kernel-only"))
			kernel_only = true;
		else if (!strcmp(argv[i], "--known-holes") && i + 1 < argc)
			read_known(argv[++i]);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--bpftime") && i + 2 < argc) {
			bpftime = argv[++i];
			guard = argv[++i];
		} else {
			fprintf(stderr,
				"usage: vdiff --bpftime BPFTIME GUARD | --kernel-only | --side "
				"[--count N] [--seed S] [--strict] [--quiet] [--words]\n");
			return 2;
		}
	}
	logbuf = malloc(LOG_SIZE);
	if (!logbuf)
		return 2;
	if (is_side)
		return side(seed, count);
	if (create_maps()) {
		printf("kernel bpf() unavailable (%s): skipped\n", strerror(errno));
		return 77;
	}
	if (kernel_only) {
		for (long i = 0; i < count; i++) {
			bool ok = verdict(seed + (uint64_t)i, why, sizeof(why), &kerr, NULL);

			kacc += ok;
			if (!quiet)
				printf("%llu %c %s\n", (unsigned long long)(seed + (uint64_t)i),
				       ok ? 'A' : 'R', why);
		}
		printf("%ld programs: the kernel accepts %ld\n", count, kacc);
		return 0;
	}
	if (!bpftime) {
		fprintf(stderr, "vdiff: --bpftime BPFTIME GUARD, --kernel-only or --side\n");
		return 2;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || pipe(pfd))
		return 2;
	self[n] = 0;
	snprintf(shm, sizeof(shm), "bpftime_vdiff_%d", (int)getpid());
	snprintf(cnt_s, sizeof(cnt_s), "%ld", count);
	snprintf(seed_s, sizeof(seed_s), "%llu", (unsigned long long)seed);
	pid = fork();
	if (pid == 0) {
		setenv("BPFTIME_GLOBAL_SHM_NAME", shm, 1);
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(guard, guard, bpftime, "load", self, "--side", "--count", cnt_s, "--seed",
		      seed_s, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0)
		return 2;
	child = fdopen(pfd[0], "r");
	for (long i = 0; i < count; i++) {
		uint64_t s = seed + (uint64_t)i;
		struct vgen_prog p;
		bool kok = verdict(s, why, sizeof(why), &kerr, &p), wok;
		unsigned long long cs;
		char c, *ours;
		int werr, pos = 0;

		if (!child || !fgets(line, sizeof(line), child)) {
			printf("bpftime side ended early at program %ld\n", i);
			vgen_free(&p);
			break;
		}
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%llu %c %d %n", &cs, &c, &werr, &pos) != 3 || !pos || cs != s) {
			printf("bpftime side: unexpected line '%s'\n", line);
			vgen_free(&p);
			break;
		}
		ours = line + pos;
		wok = c == 'A';
		kacc += kok;
		wacc += wok;
		if (kok == wok) {
			agree++;
			if (!kok && !strstr(ours, why)) {
				words++; /* both refuse, in other words */
				if (show_words)
					printf("WORDS seed %llu: kernel '%s', we '%s'\n", cs, why,
					       ours);
			}
			if (!kok && kerr != werr) {
				errnos++; /* both refuse, with another errno */
				if (show_words)
					printf("ERRNO seed %llu: kernel %d '%s', we %d '%s'\n", cs,
					       kerr, why, werr, ours);
			}
		} else if (wok && is_known(cs, why)) {
			known_holes++;
			printf("KNOWN HOLE seed %llu: we accept, the kernel refuses: %s\n", cs,
			       why);
		} else if (wok) {
			holes++;
			printf("HOLE seed %llu: we accept, the kernel refuses: %s\n", cs, why);
			print_prog(&p);
		} else {
			imprecise++;
			if (!quiet) {
				printf("IMPRECISE seed %llu: we refuse (%s), the kernel accepts\n",
				       cs, ours);
				print_prog(&p);
			}
		}
		vgen_free(&p);
	}
	if (child)
		fclose(child);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	shm_unlink(shm);
	printf("%ld programs (seeds %llu..%llu): kernel accepts %ld, we accept %ld; agreement %ld "
	       "(%.2f%%); we accept what the kernel refuses: %ld (+ %ld known); we refuse what it "
	       "accepts: %ld; both refuse in other words: %ld, with another errno: %ld\n",
	       count, (unsigned long long)seed, (unsigned long long)(seed + (uint64_t)count - 1),
	       kacc, wacc, agree, count ? 100.0 * (double)agree / (double)count : 0.0, holes,
	       known_holes, imprecise, words, errnos);
	if (agree + holes + known_holes + imprecise != count)
		return 1;
	return strict && holes ? 1 : 0;
}
