/* common/log.c: the one log sink.  The level comes from SPDLOG_LEVEL (bpftime's
 * variable) read once; output goes to stderr or to BPFTIME_LOG_OUTPUT.  The
 * printer preserves errno so callers can log between a failure and its return. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include "log.h"
#include "compiler.h"

#define LEVEL_OFF (-1)

static int default_level = BPFTIME_LOG_INFO;
static int cur_level;
static FILE *log_file;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static int parse_level(const char *s, int *level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "trace", BPFTIME_LOG_DEBUG }, { "debug", BPFTIME_LOG_DEBUG },
		{ "info", BPFTIME_LOG_INFO },	{ "warn", BPFTIME_LOG_WARN },
		{ "warning", BPFTIME_LOG_WARN }, { "err", BPFTIME_LOG_ERROR },
		{ "error", BPFTIME_LOG_ERROR }, { "critical", BPFTIME_LOG_ERROR },
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

static void log_init(void)
{
	const char *lvl = getenv("SPDLOG_LEVEL");
	const char *out = getenv("BPFTIME_LOG_OUTPUT");

	cur_level = default_level;
	if (out && *out && strcmp(out, "console") != 0) {
		log_file = fopen(out, "ae");
		if (!log_file)
			fprintf(stderr, "bpftime: cannot open BPFTIME_LOG_OUTPUT '%s': %s; logging to stderr\n",
				out, strerror(errno));
	}
	if (lvl && *lvl && parse_level(lvl, &cur_level) < 0) {
		cur_level = default_level;
		fprintf(log_file ? log_file : stderr,
			"bpftime: unknown SPDLOG_LEVEL '%s' (use trace|debug|info|warn|err|critical|off)\n",
			lvl);
	}
}

__attribute__((format(printf, 2, 0))) static int default_print(enum bpftime_log_level level,
								const char *fmt, va_list ap)
{
	if ((int)level > cur_level)
		return 0;
	return vfprintf(log_file ? log_file : stderr, fmt, ap);
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
