/* SPDX-License-Identifier: MIT */
/* helpers/probe.c: reading and writing this process's memory from a program
 * without ever faulting: bpf_probe_read{,_user,_kernel}{,_str} and
 * bpf_probe_write_user.
 *
 * A program may pass any address (a pointer it found in a traced
 * structure).  process_vm_readv()/process_vm_writev() on our own pid copy
 * through the kernel, which returns EFAULT for an unmapped or protected page
 * instead of raising SIGSEGV, and they respect page protections (a write to
 * read-only text fails).  There is no kernel memory here: the _kernel
 * variants read the same address space, as bpftime does.
 *
 * A syscall costs hundreds of ns, so one case is copied directly: memory of
 * the calling thread's own stack between the current frame and the stack's
 * top, which stays mapped while we run on it (a program's stack, buffers of
 * the probed function's callers).  Everything else goes through the kernel.
 *
 * The kernel's contract: on failure the destination is zeroed and -EFAULT
 * returned; the string variants return the length copied including the NUL
 * and always terminate the destination.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "internal.h"
#include "common/compiler.h"

static size_t page_size(void)
{
	static size_t ps;

	if (unlikely(!ps))
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

static pid_t self_pid(void)
{
	/* getpid() is a syscall, but so is the copy; after fork() it must be
	 * the child's pid, so nothing is cached */
	return getpid();
}

/* This thread's stack, [stack_lo, stack_hi): found once per thread (0, 0:
 * none that can be copied from directly) */
static __thread uint64_t stack_lo, stack_hi;
static __thread bool stack_known;

/* "start-end ..." of a maps line (sscanf may take locks and allocate) */
static bool hex_range(const char *p, uint64_t *s, uint64_t *e)
{
	uint64_t *v = s;

	*s = *e = 0;
	for (;; p++) {
		int d = *p >= '0' && *p <= '9'	 ? *p - '0'
			: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
						 : -1;

		if (d >= 0) {
			*v = *v << 4 | (uint64_t)d;
		} else if (*p == '-' && v == s) {
			v = e;
		} else {
			return v == e && (*p == ' ' || !*p);
		}
	}
}

/* The mapping of /proc/self/maps that holds @addr: [*lo, *hi), and whether
 * it is the main thread's "[stack]".  Read with plain syscalls into a
 * buffer on the stack: no lock and no allocation, so it is safe wherever
 * the program runs (a uprobe on malloc, realloc or free, a profile sample
 * or a syscall tracepoint inside libc holding a lock of its own: glibc's
 * pthread_getattr_np, which the helpers used before, holds the thread's
 * lock across realloc, free and sched_getaffinity). */
static bool maps_find(uint64_t addr, uint64_t *lo, uint64_t *hi, bool *main_stack)
{
	char buf[4096], line[512];
	size_t len = 0;
	bool found = false;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (!found && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && !found; i++) {
			uint64_t s, e;

			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = 0;
			len = 0;
			if (!hex_range(line, &s, &e) || addr < s || addr >= e)
				continue;
			*lo = s;
			*hi = e;
			*main_stack = strstr(line, " [stack]") != NULL;
			found = true;
		}
	}
	close(fd);
	return found;
}

/* The bounds of the stack @frame is on: a thread's glibc stack holds its
 * thread block (the thread pointer) at the top, so [the mapping's start,
 * the thread pointer) when both are in one mapping; the main thread's
 * "[stack]" whole.  Another stack (a coroutine's, a sigaltstack) gets
 * none: the kernel copies. */
static void stack_find(uint64_t frame)
{
	uint64_t lo, hi, tp = (uint64_t)(uintptr_t)__builtin_thread_pointer();
	int saved_errno = errno; /* the run may have interrupted code about to read it */
	bool main_stack, found;

	stack_known = true;
	found = maps_find(frame, &lo, &hi, &main_stack);
	errno = saved_errno;
	if (!found)
		return;
	if (tp > frame && tp < hi)
		hi = tp;
	else if (!main_stack)
		return;
	stack_lo = lo;
	stack_hi = hi;
}

/* memmove of memory the C code does not own (another frame's bytes, which
 * ASan may have poisoned as a redzone: the program is allowed to read them) */
__attribute__((no_sanitize("address"))) static void copy_any(char *dst, const char *src, size_t n)
{
	if (dst <= src) {
		for (size_t i = 0; i < n; i++)
			dst[i] = src[i];
	} else {
		for (size_t i = n; i-- > 0;)
			dst[i] = src[i];
	}
}

int helpers_safe_read(void *dst, uint64_t src, size_t size)
{
	struct iovec local = { .iov_base = dst, .iov_len = size };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)src, .iov_len = size };
	uint64_t frame = (uint64_t)(uintptr_t)__builtin_frame_address(0);
	ssize_t n;

	if (!size)
		return 0;
	if (src + size < src)
		return -EFAULT;
	/* above our own frame on our own stack: mapped for as long as we run
	 * (the frame checked to be on it: a coroutine's stack is not) */
	if (unlikely(!stack_known))
		stack_find(frame);
	if (frame >= stack_lo && frame < stack_hi && src >= frame && src + size <= stack_hi) {
		copy_any(dst, (const char *)(uintptr_t)src, size);
		return 0;
	}
	n = process_vm_readv(self_pid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)size ? 0 : -EFAULT;
}

long helpers_safe_read_str(char *dst, uint64_t src, size_t size)
{
	size_t done = 0;

	if (!size)
		return 0;
	/* page by page: a read that crosses into an unmapped page fails as a
	 * whole, but the string may end before it */
	while (done < size - 1) {
		uint64_t addr = src + done;
		size_t chunk = page_size() - (addr & (page_size() - 1));
		char *nul;

		if (chunk > size - 1 - done)
			chunk = size - 1 - done;
		if (helpers_safe_read(dst + done, addr, chunk))
			return -EFAULT; /* as the kernel: a fault before the NUL fails */
		nul = memchr(dst + done, 0, chunk);
		if (nul)
			return nul - dst + 1;
		done += chunk;
	}
	dst[done] = 0;
	return (long)done + 1;
}

static uint64_t probe_read(uint64_t dst, uint64_t size, uint64_t src)
{
	int err = helpers_safe_read((void *)(uintptr_t)dst, src, (uint32_t)size);

	if (err)
		memset((void *)(uintptr_t)dst, 0, (uint32_t)size);
	return (uint64_t)(int64_t)err;
}

static uint64_t probe_read_str(uint64_t dst, uint64_t size, uint64_t src)
{
	long ret = helpers_safe_read_str((char *)(uintptr_t)dst, src, (uint32_t)size);

	if (ret < 0)
		memset((void *)(uintptr_t)dst, 0, (uint32_t)size);
	return (uint64_t)ret;
}

HELPER_DECL(probe_read)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read(r1, r2, r3);
}

HELPER_DECL(probe_read_user)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read(r1, r2, r3);
}

HELPER_DECL(probe_read_kernel)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read(r1, r2, r3);
}

HELPER_DECL(probe_read_str)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read_str(r1, r2, r3);
}

HELPER_DECL(probe_read_user_str)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read_str(r1, r2, r3);
}

HELPER_DECL(probe_read_kernel_str)
{
	UNUSED(r4);
	UNUSED(r5);
	return probe_read_str(r1, r2, r3);
}

/* long bpf_probe_write_user(void *dst, const void *src, u32 len) */
HELPER_DECL(probe_write_user)
{
	struct iovec local = { .iov_base = (void *)(uintptr_t)r2, .iov_len = (uint32_t)r3 };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)r1, .iov_len = (uint32_t)r3 };
	ssize_t n;

	UNUSED(r4);
	UNUSED(r5);
	if (!local.iov_len)
		return 0;
	n = process_vm_writev(self_pid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)local.iov_len ? 0 : (uint64_t)-EFAULT;
}
