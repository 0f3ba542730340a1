/* SPDX-License-Identifier: MIT */
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
 *
 * `bpftime attach` and `bpftime detach`.  The attacher's thread in the
 * target names itself AGENT_ATTACH_THREAD before it dlopens this library,
 * so the constructor leaves the start to bpftime_agent_attach(), which gets
 * the attacher's settings (its segment name, log level and output, --no-jit:
 * the target's environment is not the attacher's) and returns the outcome
 * the attacher reports.  bpftime_agent_detach() removes every hook and stops
 * following the segment; the process runs on.  These two and
 * bpftime_agent_syscall_net() are the only symbols the library exports.
 * A plain dlopen (an embedding program, a benchmark) starts the agent from
 * the environment, as preloading does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <bpftime/log.h>
#include <bpftime/syscall_hook.h>
#include "internal.h"
#include "common/log.h"
#include "common/proc.h"

#define AGENT_LIB "libbpftime-agent"

/* the name the attacher's thread in the target takes (keep in step with
 * tools/bpftime/attach.c) */
#define AGENT_ATTACH_THREAD "bpftime-attach"

__attribute__((constructor)) static void agent_init(void)
{
	struct agent_opts opts = { .watch = true, .wait_segment = true };
	char thread[17] = "";

	bpftime_log_set_default_level(BPFTIME_LOG_WARN);
	bpftime_log_set_component("agent");
	prctl(PR_GET_NAME, thread, 0, 0, 0);
	if (!strcmp(thread, AGENT_ATTACH_THREAD))
		return; /* bpftime_agent_attach() follows, with the attacher's settings */
	proc_strip_preload(AGENT_LIB, NULL);
	agent_start(&opts);
}

/* the value of @key in @cfg ("key=value\n" lines), copied into @buf */
static const char *cfg_get(const char *cfg, const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);

	for (const char *p = cfg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\n");

			if (n >= len)
				n = len - 1;
			memcpy(buf, p + klen + 1, n);
			buf[n] = 0;
			return buf;
		}
	}
	return NULL;
}

/* Called by `bpftime attach` in the target, on its own thread, with
 * "shm=NAME\nlevel=L\nlog=OUT\nnojit=1\ngroup=G\n" (every line optional;
 * group= is set as BPFTIME_SHM_GROUP in the target's environment).
 * Returns the number of probes attached now (>= 0), or -errno: -ENOENT no
 * such segment, -EPROTO a segment of another version, -EBUSY the agent
 * serves another segment already, -EALREADY it runs already. */
__attribute__((visibility("default"))) long bpftime_agent_attach(const char *cfg)
{
	char shm[256] = "", level[16] = "", out[4096] = "", nojit[4] = "", group[64] = "";
	struct agent_opts opts = { .watch = true };
	const char *serving;
	int err;

	cfg_get(cfg, "shm", shm, sizeof(shm));
	cfg_get(cfg, "level", level, sizeof(level));
	cfg_get(cfg, "log", out, sizeof(out));
	cfg_get(cfg, "nojit", nojit, sizeof(nojit));
	cfg_get(cfg, "group", group, sizeof(group));
	serving = agent_shm_name();
	if (serving) {
		/* there already (`bpftime start`, or attached and detached since) */
		if (shm[0] && strcmp(serving, shm))
			return -EBUSY;
		err = agent_resume();
		return err ? err : agent_attached_count();
	}
	bpftime_log_configure(level, out);
	/* the segment's group (`--shm-group`): what shm/ checks a group-writable
	 * segment against; it has to be in this process's environment */
	if (group[0])
		setenv("BPFTIME_SHM_GROUP", group, 1);
	opts.shm_name = shm[0] ? shm : NULL;
	opts.no_jit = nojit[0] == '1';
	err = agent_start(&opts);
	if (err == -EALREADY)
		return err;
	return err ? err : agent_attached_count();
}

/* Called by `bpftime detach` in the target: every hook removed, the
 * segment no longer followed; the process runs on.  Returns the number of
 * probes removed, or -ENOENT when the agent never started here, -EALREADY
 * when it was detached already. */
__attribute__((visibility("default"))) long bpftime_agent_detach(void)
{
	int n = agent_attached_count() + agent_systp_count();

	if (!agent_shm_name())
		return -ENOENT;
	if (!agent_running())
		return -EALREADY;
	agent_stop();
	return n;
}

/* The syscall hook's safety net (Syscall User Dispatch) in this process,
 * as bpftime_syscall_hook__net() of the agent's own copy of attach/ says:
 * 1 on (the reason in @why), 0 off, -1 the hook never started.  For tools
 * and benchmarks that load the agent (dlsym). */
__attribute__((visibility("default"))) int bpftime_agent_syscall_net(char *why, size_t len)
{
	return bpftime_syscall_hook__net(why, len);
}

__attribute__((destructor)) static void agent_fini(void)
{
	agent_quiesce();
}
