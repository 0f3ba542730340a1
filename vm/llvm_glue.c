/* SPDX-License-Identifier: MIT */
/* vm/llvm_glue.c: finds and dlopens the LLVM back end (libbpftime-llvm.so)
 * the first time a program asks for it, so that bpftime_vm, and with it the
 * agent and the syscall server, never link LLVM.
 *
 * Search order for the shared object:
 *   1. $BPFTIME_LLVM_LIB (a path to the file itself);
 *   2. the directory of the binary or library this code is linked into, and
 *      ../<libdir> from it (a tool in an install tree's bin/);
 *   3. the build tree (BPFTIME_LLVM_BUILD_DIR, set by CMake);
 *   4. the install directory, ~/.bpftime (and its <libdir>);
 *   5. the dynamic linker's own search (LD_LIBRARY_PATH, ...).
 * A failure is remembered: the back end is looked for once per process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BPFTIME_INSTALL_LIBDIR
#define BPFTIME_INSTALL_LIBDIR "lib"
#endif
#include <unistd.h>
#include "internal.h"
#include "llvm/llvm.h"
#include "common/log.h"

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;
static const struct vm_llvm_ops *llvm_ops;
static char llvm_why[PATH_MAX + 128] = "not looked for";
static bool llvm_seen; /* a candidate existed but failed: llvm_why says why */

/* Tries one candidate path; returns true once the back end is usable. */
static bool try_open(const char *path)
{
	vm_llvm_entry_fn entry;
	void *handle;

	if (!path || !*path)
		return false;
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		const char *msg = dlerror();

		/* keep the reason a file that exists could not be used */
		if (!llvm_seen || strchr(path, '/'))
			snprintf(llvm_why, sizeof(llvm_why), "%s", msg ? msg : path);
		llvm_seen |= !!strchr(path, '/');
		return false;
	}
	*(void **)&entry = dlsym(handle, VM_LLVM_ENTRY);
	llvm_ops = entry ? entry(VM_LLVM_ABI, sizeof(struct bpftime_vm)) : NULL;
	if (!llvm_ops) {
		snprintf(llvm_why, sizeof(llvm_why),
			 "%s: not a back end of this bpftime build (ABI mismatch)", path);
		llvm_seen = true;
		dlclose(handle);
		return false;
	}
	pr_debug("llvm back end %s loaded from %s\n", llvm_ops->version(), path);
	return true; /* stays loaded until exit: compiled code may point into it */
}

static bool try_dir(const char *dir)
{
	char path[PATH_MAX];

	if (!dir ||
	    snprintf(path, sizeof(path), "%s/%s", dir, VM_LLVM_LIB_NAME) >= (int)sizeof(path))
		return false;
	if (access(path, R_OK))
		return false;
	return try_open(path);
}

static bool strip_name(char *path)
{
	char *slash = strrchr(path, '/');

	if (!slash)
		return false;
	*slash = 0;
	return true;
}

static bool dir_of_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n <= 0)
		return false;
	buf[n] = 0;
	return strip_name(buf);
}

/* The directory of the file (executable or shared object) holding addr. */
static bool dir_of(const void *addr, char *buf, size_t size)
{
	Dl_info info;

	if (!dladdr(addr, &info) || !info.dli_fname || !strchr(info.dli_fname, '/'))
		return dir_of_exe(buf, size);
	if (!realpath(info.dli_fname, buf))
		snprintf(buf, size, "%s", info.dli_fname);
	return strip_name(buf);
}

static void llvm_find(void)
{
	char dir[PATH_MAX];
	const char *env = getenv("BPFTIME_LLVM_LIB");
	const char *home;

	if (env && *env) {
		/* an explicit choice is the only one tried */
		if (!try_open(env))
			pr_warn("BPFTIME_LLVM_LIB=%s: %s\n", env, llvm_why);
		return;
	}
	if (dir_of((const void *)llvm_find, dir, sizeof(dir)) && try_dir(dir))
		return;
	if (dir_of((const void *)llvm_find, dir, sizeof(dir)) &&
	    strlen(dir) + sizeof("/../" BPFTIME_INSTALL_LIBDIR) <= sizeof(dir)) {
		strcat(dir, "/../" BPFTIME_INSTALL_LIBDIR);
		if (try_dir(dir))
			return;
	}
	/* the main program, when this code lives in a shared object */
	if (dir_of_exe(dir, sizeof(dir)) && try_dir(dir))
		return;
#ifdef BPFTIME_LLVM_BUILD_DIR
	if (try_dir(BPFTIME_LLVM_BUILD_DIR))
		return;
#endif
	home = getenv("HOME");
	if (home && snprintf(dir, sizeof(dir), "%s/.bpftime", home) < (int)sizeof(dir) &&
	    try_dir(dir))
		return;
	if (home &&
	    snprintf(dir, sizeof(dir), "%s/.bpftime/" BPFTIME_INSTALL_LIBDIR, home) <
		    (int)sizeof(dir) &&
	    try_dir(dir))
		return;
	if (try_open(VM_LLVM_LIB_NAME) || llvm_seen)
		return;
	snprintf(llvm_why, sizeof(llvm_why),
		 "%s not found (next to the program, in the build tree, in ~/.bpftime or on the "
		 "library path; set BPFTIME_LLVM_LIB to its path)",
		 VM_LLVM_LIB_NAME);
}

/* Returns the back end, or NULL with vm->errmsg saying why. */
static const struct vm_llvm_ops *llvm_get(struct bpftime_vm *vm)
{
	pthread_once(&llvm_once, llvm_find);
	if (!llvm_ops)
		vm_error(vm, EOPNOTSUPP, "llvm back end not available: %s", llvm_why);
	return llvm_ops;
}

int vm_llvm_compile(struct bpftime_vm *vm)
{
	const struct vm_llvm_ops *ops = llvm_get(vm);

	if (!ops)
		return -EOPNOTSUPP;
	return ops->compile(vm);
}

/* Frees the LLVM JIT code and the loaded AOT object (both "llvm/"
 * back-end state in internal.h's terms). */
void vm_llvm_free(struct bpftime_vm *vm)
{
	/* llvm_state exists only if the back end was loaded and compiled */
	if (vm->llvm_state && llvm_ops)
		llvm_ops->free(vm);
	vm->llvm_state = NULL;
	vm->llvm_fn = NULL;
	vm_aot_free(vm);
}

int vm_aot_compile(struct bpftime_vm *vm)
{
	const struct vm_llvm_ops *ops = llvm_get(vm);
	size_t size;
	void *obj;
	int err;

	if (!ops)
		return vm_error(vm, EOPNOTSUPP,
				"no aot object loaded for '%s' and it cannot be built: %s",
				vm->name, llvm_why);
	err = ops->emit_aot(vm, false, &obj, &size);
	if (err)
		return err;
	err = vm_aot_load(vm, obj, size);
	free(obj);
	return err;
}

int vm_llvm_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret)
{
	if (vm->engine == BPFTIME_ENGINE_AOT)
		return vm_aot_call(vm, pc, args, ret);
	if (vm->engine == BPFTIME_ENGINE_LLVM && vm->llvm_state && llvm_ops)
		return llvm_ops->call(vm, pc, args, ret);
	return -ENOENT;
}

static int set_errno(int ret)
{
	if (ret < 0)
		errno = -ret;
	return ret;
}

int bpftime_vm__emit_aot(struct bpftime_vm *vm, bool llvm_ir, void **buf, size_t *size)
{
	const struct vm_llvm_ops *ops;

	if (!vm || !buf || !size)
		return set_errno(-EINVAL);
	*buf = NULL;
	*size = 0;
	if (!vm->loaded || !vm->cnt)
		return set_errno(vm_error(vm, EINVAL, "no program loaded"));
	ops = llvm_get(vm);
	if (!ops)
		return set_errno(-EOPNOTSUPP);
	return set_errno(ops->emit_aot(vm, llvm_ir, buf, size));
}

int bpftime_vm__load_aot(struct bpftime_vm *vm, const void *obj, size_t size)
{
	int err;

	if (!vm || (!obj && size))
		return set_errno(-EINVAL);
	vm->errmsg[0] = 0;
	err = vm_aot_load(vm, obj, size);
	if (err)
		return set_errno(err);
	if (!vm->loaded) {
		/* only native code: the VM runs it and nothing else (cnt = 0) */
		vm->loaded = true;
		vm->engine = BPFTIME_ENGINE_AOT;
	}
	return 0;
}
