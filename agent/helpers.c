/* SPDX-License-Identifier: MIT */
/* agent/helpers.c: the helpers that need the probe a program runs under,
 * the HELPER_EXT rows of helpers/helpers.def, registered on the agent's
 * runtime with bpftime_runtime__set_helper():
 *
 *   58  override_return(regs, rc)         override probes: skip the function, return rc
 *   173 get_func_ip(ctx)                  the probed address
 *   174 get_attach_cookie(ctx)            the cookie of the link / perf event
 *   183 get_func_arg(ctx, n, *value)      argument n from the ABI registers
 *   184 get_func_ret(ctx, *value)         the return value (uretprobes)
 *   185 get_func_arg_cnt(ctx)             register arguments (6)
 *   186 get_retval()                      rax now
 *   187 set_retval(int rc)                the value the caller sees
 *
 * They read the thread's current-probe record (bpftime_probe_current() and
 * friends in attach/), so the ctx argument is not trusted: a program can
 * only ever see the probe that is running on its own thread.  Errors are
 * the kernel's: a negative errno in the u64, output left unwritten.
 */
#include <errno.h>
#include <stdint.h>
#include <bpftime/attach.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/runtime.h>
#include "internal.h"
#include "common/compiler.h"

/* long bpf_override_return(struct pt_regs *regs, u64 rc): the kernel
 * returns 0 whatever happens; only the probe kind decides if it works */
static uint64_t h_override_return(uint64_t regs, uint64_t rc, uint64_t r3, uint64_t r4, uint64_t r5)
{
	UNUSED(regs);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	if (bpftime_syscall_current()) /* a sys_enter program: skip the syscall */
		bpftime_syscall_override_return((int64_t)rc);
	else
		bpftime_probe_override_return(rc);
	return 0;
}

/* u64 bpf_get_func_ip(void *ctx) */
static uint64_t h_get_func_ip(uint64_t ctx, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	const struct bpftime_probe_ctx *c = bpftime_probe_current();

	UNUSED(ctx);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return c ? c->func_ip : 0;
}

/* u64 bpf_get_attach_cookie(void *ctx) */
static uint64_t h_get_attach_cookie(uint64_t ctx, uint64_t r2, uint64_t r3, uint64_t r4,
				    uint64_t r5)
{
	const struct bpftime_probe_ctx *c = bpftime_probe_current();

	UNUSED(ctx);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return c ? c->cookie : 0;
}

/* long bpf_get_func_arg(void *ctx, u32 n, u64 *value) */
static uint64_t h_get_func_arg(uint64_t ctx, uint64_t n, uint64_t value, uint64_t r4, uint64_t r5)
{
	uint64_t v;
	int err;

	UNUSED(ctx);
	UNUSED(r4);
	UNUSED(r5);
	err = bpftime_probe_get_func_arg((uint32_t)n, &v);
	if (err)
		return (uint64_t)(int64_t)err;
	if (!value)
		return (uint64_t)-EINVAL;
	*(uint64_t *)(uintptr_t)value = v;
	return 0;
}

/* long bpf_get_func_ret(void *ctx, u64 *value) */
static uint64_t h_get_func_ret(uint64_t ctx, uint64_t value, uint64_t r3, uint64_t r4, uint64_t r5)
{
	uint64_t v;
	int err;

	UNUSED(ctx);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	err = bpftime_probe_get_func_ret(&v);
	if (err)
		return (uint64_t)(int64_t)err;
	if (!value)
		return (uint64_t)-EINVAL;
	*(uint64_t *)(uintptr_t)value = v;
	return 0;
}

/* long bpf_get_func_arg_cnt(void *ctx) */
static uint64_t h_get_func_arg_cnt(uint64_t ctx, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	UNUSED(ctx);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return bpftime_probe_get_func_arg_cnt();
}

/* int bpf_get_retval(void) */
static uint64_t h_get_retval(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	uint64_t v;
	int err;

	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	err = bpftime_probe_get_retval(&v);
	return err ? (uint64_t)(int64_t)err : v;
}

/* int bpf_set_retval(int retval): an int, as in the kernel, so it is sign
 * extended into rax (a 64-bit value goes through override_return) */
static uint64_t h_set_retval(uint64_t rc, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)(int64_t)bpftime_probe_set_retval((uint64_t)(int64_t)(int32_t)rc);
}

static const struct {
	uint32_t id;
	const char *name;
	bpftime_helper_fn fn;
} agent_helpers[] = {
	{ 58, "override_return", h_override_return },
	{ 173, "get_func_ip", h_get_func_ip },
	{ 174, "get_attach_cookie", h_get_attach_cookie },
	{ 183, "get_func_arg", h_get_func_arg },
	{ 184, "get_func_ret", h_get_func_ret },
	{ 185, "get_func_arg_cnt", h_get_func_arg_cnt },
	{ 186, "get_retval", h_get_retval },
	{ 187, "set_retval", h_set_retval },
};

int agent_register_helpers(struct bpftime_runtime *rt)
{
	for (size_t i = 0; i < ARRAY_SIZE(agent_helpers); i++) {
		int err = bpftime_runtime__set_helper(rt, agent_helpers[i].id,
						      agent_helpers[i].name, agent_helpers[i].fn);
		if (err)
			return err;
	}
	return 0;
}
