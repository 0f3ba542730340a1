/* SPDX-License-Identifier: MIT */
/* common/log.h: internal logging macros over the bpftime_set_print() sink. */
#ifndef BPFTIME_COMMON_LOG_H
#define BPFTIME_COMMON_LOG_H

#include <bpftime/log.h>

void bpftime_log(enum bpftime_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* true when a message of this level would be printed (check before costly formatting) */
int bpftime_log_enabled(enum bpftime_log_level level);
/* names the code that logs inside another program ("agent", "syscall-server"):
 * its lines are decorated and go to ~/.bpftime/runtime.log by default (log.c);
 * call before the first message */
void bpftime_log_set_component(const char *name);
/* level and output as SPDLOG_LEVEL and BPFTIME_LOG_OUTPUT would give them,
 * for an agent brought in by `bpftime attach` (the target's environment is
 * not the attacher's); NULL or "": the environment's; before the first message */
void bpftime_log_configure(const char *level, const char *output);
/* true if @name is one of SPDLOG_LEVEL's names */
int bpftime_log_level_valid(const char *name);

#define pr_err(fmt, ...)   bpftime_log(BPFTIME_LOG_ERROR, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)  bpftime_log(BPFTIME_LOG_WARN, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  bpftime_log(BPFTIME_LOG_INFO, "bpftime: " fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) bpftime_log(BPFTIME_LOG_DEBUG, "bpftime: " fmt, ##__VA_ARGS__)

#endif
