/* SPDX-License-Identifier: MIT */
/* helpers/stack.c: bpf_get_stackid and bpf_get_stack.
 *
 * Userspace has only user stacks.  When the embedder set the thread's
 * context with the probed thread's registers (bpftime_helper_ctx__swap),
 * the stack is walked from them along the frame-pointer chain (rip, then
 * the return address above each saved rbp), every read fault-tolerant;
 * at a function's entry (the context says) the return address at [rsp]
 * comes second, as in the kernel's walk for a uprobe there.
 * Without registers (a program run directly, `bpftimetool run`), the
 * calling thread's own stack is taken with backtrace().  Requests for the
 * kernel stack (no BPF_F_USER_STACK) find an empty stack, which the kernel
 * reports as -EFAULT.
 */
#include <errno.h>
#include <execinfo.h>
#include <string.h>
#include <bpftime/map.h>
#include "internal.h"
#include "common/compiler.h"

#define STACK_MAX	127 /* the kernel's sysctl_perf_event_max_stack default */
#define F_USER_BUILD_ID (1ULL << 11)
#define PT_REGS_RBP	4 /* u64 slots of the x86-64 struct pt_regs */
#define PT_REGS_RIP	16
#define PT_REGS_RSP	19

static unsigned int walk_stack(uint64_t *ips, unsigned int max)
{
	struct bpftime_helper_ctx *ctx = bpftime_helper_ctx__current();
	unsigned int n = 0;

	if (ctx && ctx->regs) {
		const uint64_t *regs = ctx->regs;
		uint64_t fp = regs[PT_REGS_RBP];

		if (n < max)
			ips[n++] = regs[PT_REGS_RIP];
		if (ctx->func_entry && n < max &&
		    !helpers_safe_read(&ips[n], regs[PT_REGS_RSP], sizeof(ips[n])))
			n++;
		while (n < max && fp && !(fp & 7)) {
			uint64_t frame[2]; /* saved rbp, return address */

			if (helpers_safe_read(frame, fp, sizeof(frame)) || !frame[1])
				break;
			ips[n++] = frame[1];
			if (frame[0] <= fp) /* stacks grow down: callers are above */
				break;
			fp = frame[0];
		}
		return n;
	}
	{
		void *buf[STACK_MAX + 8];
		int got = backtrace(buf, (int)ARRAY_SIZE(buf));

		/* skip this function and the helper that called it */
		for (int i = 2; i < got && n < max; i++)
			ips[n++] = (uint64_t)(uintptr_t)buf[i];
	}
	return n;
}

/* long bpf_get_stackid(void *ctx, struct bpf_map *map, u64 flags) */
HELPER_DECL(get_stackid)
{
	uint64_t ips[STACK_MAX + BPFTIME_F_SKIP_FIELD_MASK + 1];
	unsigned int skip = (unsigned int)(r3 & BPFTIME_F_SKIP_FIELD_MASK), n;

	UNUSED(r1);
	UNUSED(r4);
	UNUSED(r5);
	if (r3 & ~(BPFTIME_F_SKIP_FIELD_MASK | BPFTIME_F_USER_STACK | BPFTIME_F_FAST_STACK_CMP |
		   BPFTIME_F_REUSE_STACKID))
		return (uint64_t)-EINVAL;
	if (!(r3 & BPFTIME_F_USER_STACK))
		return (uint64_t)-EFAULT;
	n = walk_stack(ips, STACK_MAX + skip);
	if (n <= skip)
		return (uint64_t)-EFAULT;
	/* the map applies the skip field itself */
	return (uint64_t)bpftime_map__stack_store((struct bpftime_map *)(uintptr_t)r2, ips, n, r3);
}

/* long bpf_get_stack(void *ctx, void *buf, u32 size, u64 flags): the bytes
 * written; buf is zeroed past them (and entirely on error) */
HELPER_DECL(get_stack)
{
	uint64_t ips[STACK_MAX + BPFTIME_F_SKIP_FIELD_MASK + 1];
	unsigned int skip = (unsigned int)(r4 & BPFTIME_F_SKIP_FIELD_MASK), n;
	uint32_t size = (uint32_t)r3;
	char *buf = (char *)(uintptr_t)r2;
	long err = -EFAULT;
	size_t bytes;

	UNUSED(r1);
	UNUSED(r5);
	if (r4 & ~(BPFTIME_F_SKIP_FIELD_MASK | BPFTIME_F_USER_STACK | F_USER_BUILD_ID)) {
		err = -EINVAL;
		goto clear;
	}
	if ((r4 & F_USER_BUILD_ID) || size % sizeof(uint64_t)) {
		err = -EINVAL; /* build ids need the kernel's vma walk: not offered */
		goto clear;
	}
	if (!(r4 & BPFTIME_F_USER_STACK))
		goto clear;
	n = walk_stack(ips, STACK_MAX + skip);
	if (n <= skip)
		goto clear;
	bytes = (size_t)(n - skip) * sizeof(uint64_t);
	if (bytes > size)
		bytes = size;
	memcpy(buf, ips + skip, bytes);
	memset(buf + bytes, 0, size - bytes);
	return bytes;
clear:
	memset(buf, 0, size);
	return (uint64_t)err;
}
