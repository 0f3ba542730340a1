/* SPDX-License-Identifier: MIT */
/* bpftime/attach.h: inline uprobes, uretprobes and override probes on x86-64
 * inside the current process, the "current probe" context helpers read, and
 * the resolvers that turn a perf-event style (module, file offset) target into
 * an address.  Public API; compiles alone as C and C++.
 *
 * Life cycle:
 *   addr = ...;                                        bpftime_resolve_module_offset() or a symbol
 *   p = bpftime_probe__attach(addr, fn, data, &opts);  patches the code (5-byte jmp or int3)
 *   ... every call of the function runs fn(regs, data) on the calling thread ...
 *   bpftime_probe__detach(p);                          unpatches when it was the last probe
 *
 * Errors: int calls return 0 or a negative errno and set errno; pointer calls
 * return NULL and set errno.  The reason is logged once (pr_warn).
 *
 * Signals: the first patch installs a SIGTRAP handler (int3 sites and the
 * moment of patching) and a handler for SIGRTMAX-7 (moving threads that are
 * inside the bytes being patched); both pass signals that are not the
 * engine's to the handler installed before.  A thread running code on a cpu
 * while a probe is attached may see a blocking call it makes right then
 * return EINTR (handlers use SA_RESTART).
 */
#ifndef BPFTIME_ATTACH_H
#define BPFTIME_ATTACH_H

#include <bpftime/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's x86-64 struct pt_regs (uapi <asm/ptrace.h> field names and
 * layout), so programs built with libbpf's PT_REGS_PARM1..6, PT_REGS_RC,
 * BPF_KPROBE and BPF_KRETPROBE read the right registers from it. */
struct bpftime_pt_regs {
	uint64_t r15;
	uint64_t r14;
	uint64_t r13;
	uint64_t r12;
	uint64_t rbp;
	uint64_t rbx;
	uint64_t r11;
	uint64_t r10;
	uint64_t r9;
	uint64_t r8;
	uint64_t rax;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rsi;
	uint64_t rdi;
	uint64_t orig_rax; /* always -1: not inside a syscall */
	uint64_t rip;	   /* probe address (entry) or return address (return probe) */
	uint64_t cs;
	uint64_t eflags;
	uint64_t rsp; /* at the probe: points at the return address for an entry probe */
	uint64_t ss;
};

/* An entry or return handler.  regs is valid only during the call. */
typedef void (*bpftime_probe_fn)(struct bpftime_pt_regs *regs, void *data);
/* An override handler (perf type 1008): a non-zero return skips the function
 * and returns regs->rax to its caller. */
typedef int (*bpftime_override_fn)(struct bpftime_pt_regs *regs, void *data);

enum bpftime_probe_type {
	BPFTIME_PROBE_UPROBE = 0,    /* handler runs at the address (perf type 6) */
	BPFTIME_PROBE_URETPROBE = 1, /* handler runs when the function returns (perf type 7) */
	BPFTIME_PROBE_OVERRIDE = 2,  /* entry handler may skip the function (perf type 1008) */
};

struct bpftime_probe_opts {
	size_t sz;
	enum bpftime_probe_type type;
	uint64_t cookie; /* bpf_get_attach_cookie() inside the handler */
	/* Bounds of the enclosing function when known (ELF symbol value and
	 * size): the patch never crosses its end (a short function falls back
	 * to a trap) and the function body is scanned for branches into the
	 * patched bytes.  func NULL with func_size set means func = addr. */
	const void *func;
	size_t func_size;
	/* The address is inside a function rather than at its entry: the stub
	 * then also preserves the flags and the whole vector state (xsave:
	 * ymm/zmm upper halves, opmasks), which the ABI makes dead at a call;
	 * at an entry only xmm0-7 are kept (no __m256/__m512 arguments).
	 * uretprobes and override need an entry address. */
	bool inside_func;
	/* Use the int3 trap even when a jmp would fit (tests, debugging). */
	bool force_trap;
};

/* How a probe site is patched. */
enum bpftime_probe_mode {
	BPFTIME_PROBE_MODE_JMP = 0,  /* 5-byte jmp rel32 to the stub */
	BPFTIME_PROBE_MODE_TRAP = 1, /* int3 + SIGTRAP redirect (too short for a jmp) */
};

struct bpftime_probe;

/**
 * @brief **bpftime_probe__attach()** attaches fn at addr in this process.
 * An `endbr64` at addr is skipped.  Several probes may share one address: they
 * run in attach order.  fn is a bpftime_probe_fn for UPROBE/URETPROBE and a
 * bpftime_override_fn (cast to bpftime_probe_fn) for OVERRIDE.
 * Handlers run on the thread that calls the function; a handler that calls a
 * probed function does not run that probe's handler (counted as missed), as
 * the kernel does with recursion.
 * @param addr probe address (function entry unless opts->inside_func)
 * @param fn handler
 * @param data passed to fn; owned by the caller, who keeps it alive until
 *        bpftime_probe__detach() returns
 * @param opts may be NULL (entry uprobe, cookie 0)
 * @return a handle owned by the caller (free with bpftime_probe__detach()),
 *         or NULL with errno: EINVAL (bad arguments), ENOTSUP (the code at addr
 *         cannot be relocated: logged with the reason), ENOMEM, EPERM (cannot
 *         change page protections), ENOSPC (too many sites), EAGAIN (a thread
 *         did not answer the migration signal in 2 s, e.g. it blocks it),
 *         EBUSY (an int3 is already in the bytes: a debugger breakpoint or a
 *         kernel uprobe, which would take our trap first; or the code changed)
 */
BPFTIME_API struct bpftime_probe *bpftime_probe__attach(void *addr, bpftime_probe_fn fn, void *data,
							const struct bpftime_probe_opts *opts);

/**
 * @brief **bpftime_probe__detach()** removes the probe and frees the handle.
 * The original bytes are restored when it was the last probe at its site.
 * When it returns, no other thread is running (or can start) the handler, so
 * its data may be freed; it waits for handlers in flight to finish, so a
 * handler must not wait for a detach done by another thread.  Called from a
 * handler, only the calling thread's own call may still be running.  NULL is
 * accepted.
 * @return 0, or a negative errno when the bytes could not be restored (the
 *         handler is detached anyway)
 */
BPFTIME_API int bpftime_probe__detach(struct bpftime_probe *probe);

/**
 * @brief **bpftime_probe__attach_module()** attaches at a perf-event uprobe
 * target: module path and offset in its file (perf_event_attr config1/config2,
 * as libbpf computes them).  The address comes from
 * bpftime_resolve_module_offset(); the enclosing function, from the module's
 * symbols, gives func/func_size and sets inside_func when the offset is past
 * its start (unless opts gives func_size).  Without a symbol the address is
 * taken as a function entry, as the kernel does.
 * @return as bpftime_probe__attach(); ENOENT when the module or offset is not
 *         mapped in this process
 */
BPFTIME_API struct bpftime_probe *
bpftime_probe__attach_module(const char *module, uint64_t offset, bpftime_probe_fn fn, void *data,
			     const struct bpftime_probe_opts *opts);

/** @brief how the probe's site is patched (jmp or int3 trap) */
BPFTIME_API enum bpftime_probe_mode bpftime_probe__mode(const struct bpftime_probe *probe);

/** @brief the address that was patched (addr, or addr + 4 after endbr64) */
BPFTIME_API void *bpftime_probe__patch_addr(const struct bpftime_probe *probe);

/* The record a running handler (and the helpers it calls) can read: valid on
 * the handler's thread while it runs. */
struct bpftime_probe_ctx {
	struct bpftime_pt_regs *regs;
	uint64_t cookie;   /* bpf_get_attach_cookie (174) */
	uint64_t func_ip;  /* bpf_get_func_ip (173): the probe address */
	bool is_return;	   /* a uretprobe handler */
	bool can_override; /* an override probe: bpftime_probe_override_return works */
};

/** @brief the probe running on this thread, or NULL outside handlers (borrowed) */
BPFTIME_API const struct bpftime_probe_ctx *bpftime_probe_current(void);

/**
 * @brief **bpftime_probe_override_return()**: bpf_override_return (58).
 * Makes the function return rc without running; only inside an override probe.
 * @return 0, or -EINVAL outside an override probe
 */
BPFTIME_API int bpftime_probe_override_return(uint64_t rc);

/** @brief bpf_get_func_arg (183): argument n (0..5) from the registers; -EINVAL otherwise */
BPFTIME_API int bpftime_probe_get_func_arg(uint32_t n, uint64_t *value);
/** @brief bpf_get_func_ret (184): the return value; -EOPNOTSUPP outside a return probe */
BPFTIME_API int bpftime_probe_get_func_ret(uint64_t *value);
/** @brief bpf_get_func_arg_cnt (185): register arguments available (6), 0 outside handlers */
BPFTIME_API uint64_t bpftime_probe_get_func_arg_cnt(void);
/** @brief bpf_set_retval (187): in a return probe sets the value the caller sees;
 * in an override probe overrides; -EOPNOTSUPP otherwise */
BPFTIME_API int bpftime_probe_set_retval(uint64_t rc);
/** @brief bpf_get_retval (186): rax as it is now; -EOPNOTSUPP outside handlers */
BPFTIME_API int bpftime_probe_get_retval(uint64_t *value);

/**
 * @brief **bpftime_resolve_module_offset()** turns a perf-event uprobe target
 * (module path, offset in the ELF file as libbpf computes it) into the address
 * where that byte is mapped in this process, from /proc/self/maps.  The module
 * is matched by device and inode, so symlinks and relative paths work.
 * @return 0, -ENOENT (module or offset not mapped here), or another -errno
 */
BPFTIME_API int bpftime_resolve_module_offset(const char *module, uint64_t offset, void **addr);

/**
 * @brief **bpftime_elf_find_symbol()** looks name up in the module's .symtab,
 * then .dynsym (functions and ifuncs that are defined there).
 * @param file_offset set to the symbol's offset in the file (libbpf's rule:
 *        st_value - sh_addr + sh_offset of its section)
 * @param size set to st_size (may be NULL)
 * @return 0, -ENOENT (no such symbol), -EINVAL (not an ELF file), -errno
 */
BPFTIME_API int bpftime_elf_find_symbol(const char *module, const char *name, uint64_t *file_offset,
					uint64_t *size);

/**
 * @brief **bpftime_elf_symbol_at()** finds the function containing file_offset.
 * @return 0 with *sym_offset and *size set, -ENOENT when no function contains it
 */
BPFTIME_API int bpftime_elf_symbol_at(const char *module, uint64_t file_offset,
				      uint64_t *sym_offset, uint64_t *size);

#ifdef __cplusplus
}
#endif
#endif
