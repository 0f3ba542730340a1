/* SPDX-License-Identifier: MIT */
/* common/log.c: the one log sink.  The level comes from SPDLOG_LEVEL (bpftime's
 * variable, spdlog's level names) read once; the printer preserves errno so
 * callers can log between a failure and its return.
 *
 * Where lines go.  The tools write to stderr.  Code that lives inside other
 * programs (the agent, the syscall server: they call bpftime_log_set_component)
 * writes to ~/.bpftime/runtime.log by default, as the original bpftime does,
 * so that the traced program's stdout and stderr stay its own.
 * BPFTIME_LOG_OUTPUT=console sends them to stderr, BPFTIME_LOG_OUTPUT=PATH to
 * that file.  A file named there that cannot be opened falls back to stderr
 * after one line saying so; without a home directory (or one that cannot
 * take ~/.bpftime) the default is stderr.
 *
 * What a line looks like.  Inside other programs, and whenever the output is
 * a file, every line carries time, level, pid and component, as spdlog's
 * default pattern does:
 *   [2026-12-06 07:01:02.123] [warn] [4242] [agent] no bpftime shared memory ...
 * Messages written in several calls are decorated once, at their first
 * call.  The tools' console messages stay plain (they are the tool's
 * answer to its user, not a log).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/stat.h>
#include "log.h"
#include "compiler.h"

#define LEVEL_OFF (-1)

static int default_level = BPFTIME_LOG_INFO;
static int cur_level;
static FILE *log_file;
static const char *component; /* NULL: a tool */
static char config_level[16], config_output[4096];
static bool configured;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static __thread bool mid_line; /* the last message of this thread did not end a line */

static int parse_level(const char *s, int *level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "trace", BPFTIME_LOG_DEBUG },
		{ "debug", BPFTIME_LOG_DEBUG },
		{ "info", BPFTIME_LOG_INFO },
		{ "warn", BPFTIME_LOG_WARN },
		{ "warning", BPFTIME_LOG_WARN },
		{ "err", BPFTIME_LOG_ERROR },
		{ "error", BPFTIME_LOG_ERROR },
		{ "critical", BPFTIME_LOG_ERROR },
		{ "off", LEVEL_OFF },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcasecmp(s, names[i].name)) {
			*level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

int bpftime_log_level_valid(const char *name)
{
	int level;

	return name && !parse_level(name, &level);
}

/* ~/.bpftime/runtime.log, creating ~/.bpftime; NULL if there is no home */
static FILE *open_default_file(char *path, size_t len)
{
	const char *home = getenv("HOME");

	if (!home || !*home)
		return NULL;
	snprintf(path, len, "%s/.bpftime", home);
	mkdir(path, 0755); /* exists already, mostly */
	snprintf(path, len, "%s/.bpftime/runtime.log", home);
	return fopen(path, "ae");
}

static void log_init(void)
{
	const char *lvl = configured && config_level[0] ? config_level : getenv("SPDLOG_LEVEL");
	const char *out =
		configured && config_output[0] ? config_output : getenv("BPFTIME_LOG_OUTPUT");
	char path[4096];

	cur_level = default_level;
	if (out && *out && strcmp(out, "console") != 0) {
		log_file = fopen(out, "ae");
		if (!log_file)
			fprintf(stderr,
				"bpftime: cannot open BPFTIME_LOG_OUTPUT '%s': %s; logging to "
				"stderr\n",
				out, strerror(errno));
	} else if ((!out || !*out) && component) {
		log_file = open_default_file(path, sizeof(path));
	}
	if (log_file)
		setvbuf(log_file, NULL, _IOLBF, 0);
	if (lvl && *lvl && parse_level(lvl, &cur_level) < 0) {
		cur_level = default_level;
		fprintf(log_file ? log_file : stderr,
			"bpftime: unknown SPDLOG_LEVEL '%s' (use "
			"trace|debug|info|warn|err|critical|off)\n",
			lvl);
	}
}

static const char *level_name(enum bpftime_log_level level)
{
	switch (level) {
	case BPFTIME_LOG_ERROR:
		return "error";
	case BPFTIME_LOG_WARN:
		return "warn";
	case BPFTIME_LOG_INFO:
		return "info";
	case BPFTIME_LOG_DEBUG:
		return "debug";
	}
	return "?";
}

__attribute__((format(printf, 2, 0))) static int default_print(enum bpftime_log_level level,
							       const char *fmt, va_list ap)
{
	FILE *f = log_file ? log_file : stderr;
	size_t flen = strlen(fmt);
	int n = 0;

	if ((int)level > cur_level)
		return 0;
	if ((component || log_file) && !mid_line) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		n = fprintf(f, "[%s.%03ld] [%s] [%d] [%s] ", when, ts.tv_nsec / 1000000,
			    level_name(level), (int)getpid(), component ? component : "bpftime");
		/* the decoration says who: the message's own prefix is redundant */
		if (!strncmp(fmt, "bpftime: ", 9))
			fmt += 9;
	}
	mid_line = flen && fmt[strlen(fmt) - 1] != '\n';
	return n + vfprintf(f, fmt, ap);
}

static _Atomic(bpftime_print_fn) print_fn = default_print;

bpftime_print_fn bpftime_set_print(bpftime_print_fn fn)
{
	return atomic_exchange(&print_fn, fn);
}

void bpftime_log_set_default_level(enum bpftime_log_level level)
{
	default_level = level;
}

void bpftime_log_set_component(const char *name)
{
	component = name;
}

void bpftime_log_configure(const char *level, const char *output)
{
	snprintf(config_level, sizeof(config_level), "%s", level ? level : "");
	snprintf(config_output, sizeof(config_output), "%s", output ? output : "");
	configured = true;
}

int bpftime_log_enabled(enum bpftime_log_level level)
{
	bpftime_print_fn fn = atomic_load(&print_fn);

	if (!fn)
		return 0;
	if (fn != default_print)
		return 1;
	pthread_once(&log_once, log_init);
	return (int)level <= cur_level;
}

void bpftime_log(enum bpftime_log_level level, const char *fmt, ...)
{
	bpftime_print_fn fn = atomic_load(&print_fn);
	int saved = errno;
	va_list ap;

	if (!fn)
		return;
	pthread_once(&log_once, log_init);
	va_start(ap, fmt);
	fn(level, fmt, ap);
	va_end(ap);
	errno = saved;
}
