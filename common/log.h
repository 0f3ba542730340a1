/* common/log.h: internal logging macros over the bpftime_set_print() sink. */
#ifndef BPFTIME_COMMON_LOG_H
#define BPFTIME_COMMON_LOG_H

#include <bpftime/log.h>

void bpftime_log(enum bpftime_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* true when a message of this level would be printed (check before costly formatting) */
int bpftime_log_enabled(enum bpftime_log_level level);

#define pr_err(fmt, ...) bpftime_log(BPFTIME_LOG_ERROR, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) bpftime_log(BPFTIME_LOG_WARN, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) bpftime_log(BPFTIME_LOG_INFO, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) bpftime_log(BPFTIME_LOG_DEBUG, "bpftime: " fmt, ##__VA_ARGS__)

#endif
