/* SPDX-License-Identifier: MIT */
/* examples/include/example.h: what every example loader shares: the common
 * options, signal handling and libbpf's print callback.
 *
 * Options understood by every loader (tests use -n 0 to stop after setup):
 *   -n COUNT   report COUNT times, then exit (default: until SIGINT/SIGTERM;
 *              0: exit right after attaching)
 *   -i MS      report interval in milliseconds (default 1000)
 *   -v         libbpf debug messages
 * The loader prints "ready" on stdout (flushed) once everything is attached.
 */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct example_opts {
	long count; /* -1: forever */
	long interval_ms;
	bool verbose;
	int argc; /* positional arguments left */
	char **argv;
};

static volatile sig_atomic_t example_exiting;

static void example_on_signal(int sig)
{
	(void)sig;
	example_exiting = 1;
}

static bool example_verbose;

__attribute__((format(printf, 2, 0))) static int example_print(enum libbpf_print_level level,
							       const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !example_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* parses the common options; extra positional args are left in opts */
static inline int example_init(int argc, char **argv, const char *usage, struct example_opts *o)
{
	struct sigaction sa = { .sa_handler = example_on_signal };
	int c;

	o->count = -1;
	o->interval_ms = 1000;
	o->verbose = false;
	while ((c = getopt(argc, argv, "n:i:vh")) != -1) {
		switch (c) {
		case 'n':
			o->count = strtol(optarg, NULL, 0);
			break;
		case 'i':
			o->interval_ms = strtol(optarg, NULL, 0);
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			fprintf(stderr, "usage: %s [-n COUNT] [-i MS] [-v] %s\n", argv[0], usage);
			return -EINVAL;
		}
	}
	o->argc = argc - optind;
	o->argv = argv + optind;
	example_verbose = o->verbose;
	libbpf_set_print(example_print);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
}

static inline void example_ready(void)
{
	printf("ready\n");
	fflush(stdout);
}

/* sleeps one interval; false when the loop should end (signal or count) */
static inline bool example_next(struct example_opts *o, long *done)
{
	struct timespec ts = { o->interval_ms / 1000, (o->interval_ms % 1000) * 1000000L };

	if (example_exiting || (o->count >= 0 && *done >= o->count))
		return false;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !example_exiting)
		;
	(*done)++;
	return !example_exiting;
}

#endif
