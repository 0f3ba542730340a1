/* SPDX-License-Identifier: MIT */
/* common/proc.h: process plumbing shared by the preloaded libraries and the
 * tools: LD_PRELOAD cleanup and a crash report for code we run. */
#ifndef BPFTIME_COMMON_PROC_H
#define BPFTIME_COMMON_PROC_H

/* Drops every LD_PRELOAD entry whose path contains @lib (others stay, in
 * their order), so that the process's children are not served too.  A
 * non-NULL @replacement (one path, no ':' or ' ') takes the place of the
 * first such entry instead. */
void proc_strip_preload(const char *lib, const char *replacement);

/* Until the process ends, a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP)
 * writes "<head> crashed (<SIGNAME> at address 0x<addr>): <tail>\n" to
 * stderr and exits with status 1, on an alternate stack.  @head and @tail
 * are kept (static storage or alive until exit).  For code that may fault
 * (a program the structural verifier cannot rule out, a foreign object). */
void proc_catch_faults(const char *head, const char *tail);

#endif /* BPFTIME_COMMON_PROC_H */
