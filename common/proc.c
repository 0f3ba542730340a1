/* SPDX-License-Identifier: MIT */
/* common/proc.c: LD_PRELOAD cleanup and the crash report (proc.h). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "proc.h"
#include "compiler.h"

void proc_strip_preload(const char *lib, const char *replacement)
{
	const char *pre = getenv("LD_PRELOAD");
	char *copy, *out, *tok, *save = NULL;
	size_t n = 0;

	if (!pre || !strstr(pre, lib))
		return;
	if (replacement && (!*replacement || strchr(replacement, ':') || strchr(replacement, ' ')))
		replacement = NULL;
	copy = strdup(pre);
	out = calloc(1, strlen(pre) + (replacement ? strlen(replacement) : 0) + 2);
	if (!copy || !out)
		goto out;
	for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
		if (strstr(tok, lib)) {
			if (!replacement)
				continue;
			tok = (char *)replacement; /* takes the first place of lib only */
			replacement = NULL;
		}
		if (n)
			out[n++] = ':';
		memcpy(out + n, tok, strlen(tok));
		n += strlen(tok);
	}
	if (n)
		setenv("LD_PRELOAD", out, 1);
	else
		unsetenv("LD_PRELOAD");
out:
	free(copy);
	free(out);
}

static const char *fault_head, *fault_tail;

static size_t put(char *buf, size_t n, size_t cap, const char *s)
{
	size_t len = strlen(s);

	if (len > cap - n)
		len = cap - n;
	memcpy(buf + n, s, len);
	return n + len;
}

/* Only async-signal-safe calls. */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	const char *what = sig == SIGSEGV  ? "SIGSEGV"
			   : sig == SIGBUS ? "SIGBUS"
			   : sig == SIGILL ? "SIGILL"
			   : sig == SIGFPE ? "SIGFPE"
					   : "SIGTRAP";
	uint64_t addr = (uint64_t)(uintptr_t)si->si_addr;
	char msg[512], hex[17];
	size_t n = 0;

	UNUSED(uc);
	for (int i = 15; i >= 0; i--, addr >>= 4)
		hex[i] = "0123456789abcdef"[addr & 15];
	hex[16] = 0;
	n = put(msg, n, sizeof(msg), fault_head);
	n = put(msg, n, sizeof(msg), " crashed (");
	n = put(msg, n, sizeof(msg), what);
	n = put(msg, n, sizeof(msg), " at address 0x");
	n = put(msg, n, sizeof(msg), hex);
	n = put(msg, n, sizeof(msg), "): ");
	n = put(msg, n, sizeof(msg), fault_tail);
	n = put(msg, n, sizeof(msg), "\n");
	if (write(STDERR_FILENO, msg, n) < 0)
		_exit(1);
	_exit(1);
}

void proc_catch_faults(const char *head, const char *tail)
{
	static char stack[64 * 1024];
	stack_t ss = { .ss_sp = stack, .ss_size = sizeof(stack) };
	struct sigaction sa = { .sa_sigaction = on_fault,
				.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND };
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP };

	fault_head = head;
	fault_tail = tail;
	sigaltstack(&ss, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}
