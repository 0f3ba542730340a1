/* SPDX-License-Identifier: MIT */
/* attach/ctx.c: the thread's "current probe" record and the accessors the
 * agent's helpers use: bpf_get_func_ip (173), bpf_get_attach_cookie (174),
 * bpf_override_return (58), bpf_get_func_arg/ret/arg_cnt (183-185),
 * bpf_get_retval/set_retval (186, 187).
 *
 * The dispatchers fill hook_tls.ctx before each handler and clear ctx.regs
 * after the last one, so "inside a handler" is ctx.regs != NULL.  Arguments
 * come from the registers of the System V ABI (rdi rsi rdx rcx r8 r9), which
 * is all a uprobe can know without BTF for the function.
 */
#include <errno.h>
#include <stddef.h>

#include "internal.h"

__thread struct hook_tls hook_tls __attribute__((tls_model("initial-exec")));

const struct bpftime_probe_ctx *bpftime_probe_current(void)
{
	return hook_tls.ctx.regs ? &hook_tls.ctx : NULL;
}

int bpftime_probe_override_return(uint64_t rc)
{
	struct hook_tls *t = &hook_tls;

	if (!t->ctx.regs || !t->ctx.can_override)
		return -EINVAL;
	t->ctx.regs->rax = rc;
	t->override = true;
	return 0;
}

int bpftime_probe_get_func_arg(uint32_t n, uint64_t *value)
{
	const struct bpftime_pt_regs *r = hook_tls.ctx.regs;

	if (!r || n >= 6)
		return -EINVAL;
	switch (n) {
	case 0:
		*value = r->rdi;
		break;
	case 1:
		*value = r->rsi;
		break;
	case 2:
		*value = r->rdx;
		break;
	case 3:
		*value = r->rcx;
		break;
	case 4:
		*value = r->r8;
		break;
	default:
		*value = r->r9;
		break;
	}
	return 0;
}

int bpftime_probe_get_func_ret(uint64_t *value)
{
	if (!hook_tls.ctx.regs || !hook_tls.ctx.is_return)
		return -EOPNOTSUPP;
	*value = hook_tls.ctx.regs->rax;
	return 0;
}

uint64_t bpftime_probe_get_func_arg_cnt(void)
{
	return hook_tls.ctx.regs ? 6 : 0;
}

int bpftime_probe_set_retval(uint64_t rc)
{
	struct hook_tls *t = &hook_tls;

	if (!t->ctx.regs)
		return -EOPNOTSUPP;
	if (t->ctx.is_return) {
		t->ctx.regs->rax = rc; /* the trampoline reloads rax from regs */
		return 0;
	}
	if (t->ctx.can_override)
		return bpftime_probe_override_return(rc);
	return -EOPNOTSUPP;
}

int bpftime_probe_get_retval(uint64_t *value)
{
	if (!hook_tls.ctx.regs)
		return -EOPNOTSUPP;
	*value = hook_tls.ctx.regs->rax;
	return 0;
}
