/* SPDX-License-Identifier: MIT */
/* bpftime/kernel.h: the bridge to the kernel's eBPF (kernel-shared mode,
 * BPFTIME_RUN_WITH_KERNEL).  Public API; compiles alone as C and C++.
 *
 * In kernel-shared mode the maps of the shareable types (array, hash,
 * per-CPU array, per-CPU hash, perf event array, ring buffer) live in the
 * kernel: the segment's map record names the kernel map by its id, and each
 * process (loader, agents, tools) opens it by id (BPF_MAP_GET_FD_BY_ID, which
 * needs CAP_SYS_ADMIN) the first time it needs it.  Programs that only the
 * kernel can run are loaded there, their map references rewritten to the
 * kernel maps.  Every call here goes to the real bpf(2) with a raw system
 * call instruction, never through a libc wrapper the syscall server
 * interposes.
 */
#ifndef BPFTIME_KERNEL_H
#define BPFTIME_KERNEL_H

#include <bpftime/common.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_shm;
struct bpftime_map;

/** @brief **bpftime_kernel_bpf()** the kernel's bpf(2), by a raw system call.
 * @return the kernel's result (an fd or 0), or -errno (errno untouched) */
BPFTIME_API long bpftime_kernel_bpf(int cmd, void *attr, unsigned int size);

/** @brief **bpftime_kernel_probe()** can this process use the kernel's eBPF
 * (a one-entry array map is created and closed)?
 * @return 0, or -errno of the refusal (-EPERM, -ENOSYS under a seccomp
 *         filter, ...) */
BPFTIME_API int bpftime_kernel_probe(void);

/** @brief **bpftime_kernel_type_shareable()** does map type @type live in the
 * kernel in kernel-shared mode? */
BPFTIME_API bool bpftime_kernel_type_shareable(uint32_t type);

/** @brief **bpftime_map_kernel_id()** the kernel map behind segment map @fd.
 * @return its id, or 0 (a map of the segment, or no map) */
BPFTIME_API uint32_t bpftime_map_kernel_id(struct bpftime_shm *shm, int fd);

/** @brief **bpftime_map_kernel_fd()** this process's fd of the kernel map
 * behind segment map @fd, opened by id on first use and kept (owned by the
 * library: do not close it).
 * @return the fd, or -EBADF (no such map), -EINVAL (not a kernel map), or the
 *         kernel's error opening it */
BPFTIME_API int bpftime_map_kernel_fd(struct bpftime_shm *shm, int fd);

/** @brief **bpftime_map__kernel_fd()** this process's fd of the kernel map
 * behind handle @map (owned by the library).  @return the fd, or -EINVAL
 * (a map of the segment) */
BPFTIME_API int bpftime_map__kernel_fd(const struct bpftime_map *map);

/** @brief **bpftime_kernel_obj_fd()** this process's fd of kernel program
 * (@prog true) or map @id, opened on first use and kept (owned by the
 * library).  @return the fd or -errno */
BPFTIME_API int bpftime_kernel_obj_fd(uint32_t id, bool prog);

/** @brief **bpftime_kernel_obj_keep()** hands kernel object fd @kfd (a
 * program if @prog, else a map) to the library's table, which keeps it open
 * for the process's lifetime (bpftime_kernel_obj_fd() then returns it).
 * @return the object's id, or -errno (@kfd is then closed) */
BPFTIME_API int64_t bpftime_kernel_obj_keep(int kfd, bool prog);

/** @brief **bpftime_kernel_obj_id()** the id of kernel object @kfd (a map or
 * a program fd of this process), or -errno */
BPFTIME_API int64_t bpftime_kernel_obj_id(int kfd, bool prog);

/** @brief **bpftime_kernel_prog_run()** runs kernel program @id through
 * BPF_PROG_TEST_RUN with @ctx (@len bytes) as its context (raw tracepoint,
 * syscall and other context-taking types) or as packet data (XDP, tc), and
 * stores its r0 in @ret.  @return 0 or -errno */
BPFTIME_API int bpftime_kernel_prog_run(uint32_t id, void *ctx, size_t len, uint64_t *ret);

#ifdef __cplusplus
}
#endif

#endif /* BPFTIME_KERNEL_H */
