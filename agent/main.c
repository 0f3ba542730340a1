/* agent/main.c: libbpftime-agent.so's entry points.
 *
 * Preloaded by `bpftime start` (or dlopen'ed into a running process by
 * `bpftime attach`), the constructor runs before the host's main: it sets
 * the agent's default log level (warn: the host's stderr is not ours to
 * fill), removes this library from LD_PRELOAD, and starts the agent
 * (agent.c), which opens the segment, attaches what concerns this process
 * and follows later changes.  When the agent cannot serve the process it
 * says so once and steps aside; the host runs on untouched.
 *
 * Children.  Like the syscall server, the agent drops itself from
 * LD_PRELOAD, so programs the target runs (system(), exec) are not traced:
 * tracing is for the process `bpftime start` ran.  A forked child (without
 * exec) keeps the hooks it inherited, since the code is patched in its copy
 * of the memory, and gets a watcher of its own (agent.c), as the kernel's
 * uprobes follow fork.
 *
 * At exit the hooks stay: other threads may still be running probed code
 * while the process winds down; the destructor only stops the watcher from
 * patching anything more.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <bpftime/log.h>
#include "internal.h"

#define AGENT_LIB "libbpftime-agent"

/* drops our entries from LD_PRELOAD (others stay, in their order) */
static void strip_preload(void)
{
	const char *pre = getenv("LD_PRELOAD");
	char *copy, *out, *tok, *save = NULL;
	size_t n = 0;

	if (!pre || !strstr(pre, AGENT_LIB))
		return;
	copy = strdup(pre);
	out = calloc(1, strlen(pre) + 1);
	if (!copy || !out)
		goto out;
	for (tok = strtok_r(copy, ": ", &save); tok; tok = strtok_r(NULL, ": ", &save)) {
		if (strstr(tok, AGENT_LIB))
			continue;
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

__attribute__((constructor)) static void agent_init(void)
{
	struct agent_opts opts = { .watch = true };

	bpftime_log_set_default_level(BPFTIME_LOG_WARN);
	strip_preload();
	agent_start(&opts);
}

__attribute__((destructor)) static void agent_fini(void)
{
	agent_quiesce();
}
