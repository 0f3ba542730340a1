/* SPDX-License-Identifier: MIT */
/* bpftime/log.h: the one print callback every message goes through. */
#ifndef BPFTIME_LOG_H
#define BPFTIME_LOG_H

#include <bpftime/common.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bpftime_log_level {
	BPFTIME_LOG_ERROR = 0,
	BPFTIME_LOG_WARN = 1,
	BPFTIME_LOG_INFO = 2,
	BPFTIME_LOG_DEBUG = 3,
};

typedef int (*bpftime_print_fn)(enum bpftime_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/**
 * @brief **bpftime_set_print()** replaces the print callback atomically.
 * NULL silences everything.  The default writes to stderr (or the file named by
 * BPFTIME_LOG_OUTPUT) at the level SPDLOG_LEVEL gives (default info; warn
 * inside the agent and the syscall server, see bpftime_log_set_default_level).
 * @return the previous callback
 */
BPFTIME_API bpftime_print_fn bpftime_set_print(bpftime_print_fn fn);

/** @brief sets the level used when SPDLOG_LEVEL is unset (before the first message) */
BPFTIME_API void bpftime_log_set_default_level(enum bpftime_log_level level);

#ifdef __cplusplus
}
#endif
#endif
