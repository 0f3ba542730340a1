/* tools/bpftime/attach.c: `bpftime attach PID`: brings the agent into a
 * running process (x86-64, glibc), without Frida: ptrace stops one of its
 * threads, makes it call mmap for a scratch page (the path and a small
 * thread body), then pthread_create with that body, which dlopens
 * libbpftime-agent.so on the new thread and detaches itself; the stopped
 * thread gets its registers back and runs on.  The agent's constructor then
 * does what it does under `bpftime start`.
 *
 *   bpftime [-i DIR] attach [-s] PID
 *
 * Calls are injected by pointing rip at the function with a return address
 * of 0: the return faults, the fault stops the tracee (the signal is never
 * delivered), and rax holds the result.  The functions are found in the
 * target's libc at the same offsets as in ours (the same file, matched by
 * device and inode); a target with another C library is refused.  The
 * interrupted thread may be anywhere, so the injected calls only take locks
 * mmap and pthread_create take; the dlopen itself runs on the new thread.
 * A thread interrupted inside a system call has the call restarted, as a
 * debugger does (orig_rax is -1 during the injected calls, then restored).
 * --spdlog-level and --no-jit cannot reach a running process's environment:
 * they are refused with a message.  The command returns once the agent is
 * mapped in the target (its constructor has started).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include "cli.h"

#ifndef BPFTIME_BUILD_AGENT
#define BPFTIME_BUILD_AGENT NULL
#endif

#define SCRATCH_SIZE  8192
#define STUB_OFF      0    /* the thread body */
#define TID_OFF	      256  /* pthread_t of the new thread */
#define PATH_OFF      512  /* the agent's path */
#define WAIT_AGENT_MS 10000 /* how long to wait for the agent to show up */

struct lib_loc {
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
};

/* the file mapped at @addr in process @pid (0: ourselves) and the start of
 * that file's mapping at offset 0 (its load base) */
static int find_lib(pid_t pid, uintptr_t addr, struct lib_loc *lib, uintptr_t *base)
{
	char maps[64], line[PATH_MAX + 256];
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof(maps), pid ? "/proc/%d/maps" : "/proc/self/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off, ino;
		unsigned int maj, min;
		char path[PATH_MAX] = "";

		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu %4095s", &lo, &hi, &off, &maj, &min, &ino,
			   path) < 6)
			continue;
		if (addr && addr >= lo && addr < hi) {
			lib->dev = makedev(maj, min);
			lib->ino = (ino_t)ino;
			snprintf(lib->path, sizeof(lib->path), "%s", path);
			found = true;
			break;
		}
		if (!addr && ino == lib->ino && makedev(maj, min) == lib->dev && off == 0) {
			*base = lo;
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	if (!addr || !found)
		return -ENOENT;
	/* now the base of that file in the same process */
	return find_lib(pid, 0, lib, base);
}

static int wait_stop(pid_t pid, int *sig)
{
	int status;

	for (;;) {
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (WIFSTOPPED(status)) {
			*sig = WSTOPSIG(status);
			return 0;
		}
	}
}

static int poke(pid_t pid, uintptr_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)addr, len };
	char mem[64];
	ssize_t n;
	int fd;

	if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
		return 0;
	/* the scratch page may not be writable that way everywhere: /proc/PID/mem is */
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
	fd = open(mem, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pwrite(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Calls fn(a0..a5) in the stopped tracee from the registers @base; returns
 * 0 with the result in *ret. */
static int call_in(pid_t pid, const struct user_regs_struct *base, uintptr_t fn,
		   const uint64_t args[6], uint64_t *ret)
{
	struct user_regs_struct r = *base;
	uint64_t zero = 0;
	int err, sig;

	/* below the red zone, 16-byte aligned, then the fake return address */
	r.rsp = ((base->rsp - 512) & ~0xfULL) - 8;
	err = poke(pid, r.rsp, &zero, sizeof(zero));
	if (err)
		return err;
	r.rip = fn;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.rcx = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
	r.rax = 0;
	r.orig_rax = (uint64_t)-1; /* no syscall restart on the way out */
	if (ptrace(PTRACE_SETREGS, pid, NULL, &r) < 0)
		return -errno;
	if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0)
		return -errno;
	for (;;) {
		err = wait_stop(pid, &sig);
		if (err)
			return err;
		if (sig == SIGSEGV)
			break;
		/* anything else (a signal for the process) waits for later:
		 * it stays pending while we run the call */
		if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0)
			return -errno;
	}
	if (ptrace(PTRACE_GETREGS, pid, NULL, &r) < 0)
		return -errno;
	if (r.rip != 0)
		return -EFAULT; /* a real fault inside the call */
	*ret = r.rax;
	return 0;
}

/* The new thread's body: dlopen(arg, RTLD_NOW), pthread_detach(self), return. */
static size_t build_stub(uint8_t *p, uintptr_t dlopen_addr, uintptr_t detach_addr)
{
	size_t n = 0;

#define B(...)                                                                                     \
	do {                                                                                       \
		const uint8_t b_[] = { __VA_ARGS__ };                                              \
		memcpy(p + n, b_, sizeof(b_));                                                     \
		n += sizeof(b_);                                                                   \
	} while (0)
	B(0x48, 0x83, 0xec, 0x08); /* sub rsp, 8 (align for the calls) */
	B(0xbe, RTLD_NOW, 0, 0, 0); /* mov esi, RTLD_NOW */
	B(0x48, 0xb8);		    /* movabs rax, dlopen */
	memcpy(p + n, &dlopen_addr, 8);
	n += 8;
	B(0xff, 0xd0);					  /* call rax */
	B(0x64, 0x48, 0x8b, 0x3c, 0x25, 0x10, 0, 0, 0); /* mov rdi, fs:[0x10] (pthread_self) */
	B(0x48, 0xb8);					  /* movabs rax, pthread_detach */
	memcpy(p + n, &detach_addr, 8);
	n += 8;
	B(0xff, 0xd0);		   /* call rax */
	B(0x48, 0x83, 0xc4, 0x08); /* add rsp, 8 */
	B(0x31, 0xc0);		   /* xor eax, eax */
	B(0xc3);		   /* ret */
#undef B
	return n;
}

/* is @path mapped in @pid? */
static bool mapped(pid_t pid, const char *path)
{
	char maps[64], line[PATH_MAX + 256];
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, path) != NULL;
	fclose(f);
	return found;
}

/* our libc by handle: dlsym on it finds libc's own definitions, not an
 * interposer's (a sanitizer build's bpftime intercepts pthread_create) */
static void *libc_handle(void)
{
	static void *h;

	if (!h)
		h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	return h ? h : RTLD_DEFAULT;
}

/* @name's offset from the load base of @lib (ours), which must hold it */
static int sym_offset(const char *name, const struct lib_loc *lib, uintptr_t base, uintptr_t *off)
{
	uintptr_t addr = (uintptr_t)dlsym(libc_handle(), name), b;
	struct lib_loc l = { 0 };

	if (!addr || find_lib(0, addr, &l, &b) || l.ino != lib->ino || l.dev != lib->dev) {
		fprintf(stderr, "bpftime attach: %s is not in %s (glibc older than 2.34?)\n", name,
			lib->path);
		return -ENOTSUP;
	}
	*off = addr - base;
	return 0;
}

static int inject(pid_t pid, const char *agent)
{
	struct user_regs_struct saved;
	struct lib_loc ours = { 0 }, theirs = { 0 };
	uintptr_t our_base, their_base, scratch, off_dlopen, off_create, off_detach, off_mmap;
	uint8_t page[SCRATCH_SIZE] = { 0 };
	uint64_t ret;
	int err, sig, restore_err;

	err = find_lib(0, (uintptr_t)dlsym(libc_handle(), "pthread_create"), &ours, &our_base);
	if (err) {
		fprintf(stderr, "bpftime attach: cannot find our own C library\n");
		return err;
	}
	if (sym_offset("pthread_create", &ours, our_base, &off_create) ||
	    sym_offset("pthread_detach", &ours, our_base, &off_detach) ||
	    sym_offset("dlopen", &ours, our_base, &off_dlopen) ||
	    sym_offset("mmap", &ours, our_base, &off_mmap))
		return -ENOTSUP;
	theirs.dev = ours.dev;
	theirs.ino = ours.ino;
	if (find_lib(pid, 0, &theirs, &their_base)) {
		fprintf(stderr, "bpftime attach: process %d does not use %s (another C library, or "
				"static, or no such process): cannot inject the agent\n",
			(int)pid, ours.path);
		return -ENOTSUP;
	}

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0) {
		err = -errno;
		fprintf(stderr, "bpftime attach: cannot trace process %d: %s%s\n", (int)pid,
			strerror(errno),
			errno == EPERM ? " (same user and /proc/sys/kernel/yama/ptrace_scope, or root)" :
					 "");
		return err;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0 || (err = wait_stop(pid, &sig))) {
		err = err ? err : -errno;
		fprintf(stderr, "bpftime attach: cannot stop process %d: %s\n", (int)pid,
			strerror(-err));
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return err;
	}
	if (ptrace(PTRACE_GETREGS, pid, NULL, &saved) < 0) {
		err = -errno;
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return err;
	}

	err = call_in(pid, &saved, their_base + off_mmap,
		      (const uint64_t[6]){ 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
					   MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 },
		      &ret);
	if (!err && (ret == (uint64_t)MAP_FAILED || !ret))
		err = -ENOMEM;
	if (err) {
		fprintf(stderr, "bpftime attach: mmap in process %d failed: %s\n", (int)pid,
			strerror(-err));
		goto restore;
	}
	scratch = (uintptr_t)ret;
	build_stub(page + STUB_OFF, their_base + off_dlopen, their_base + off_detach);
	snprintf((char *)page + PATH_OFF, SCRATCH_SIZE - PATH_OFF, "%s", agent);
	err = poke(pid, scratch, page, sizeof(page));
	if (err) {
		fprintf(stderr, "bpftime attach: cannot write into process %d: %s\n", (int)pid,
			strerror(-err));
		goto restore;
	}
	err = call_in(pid, &saved, their_base + off_create,
		      (const uint64_t[6]){ scratch + TID_OFF, 0, scratch + STUB_OFF,
					   scratch + PATH_OFF, 0, 0 },
		      &ret);
	if (!err && (int)ret != 0)
		err = -(int)ret;
	if (err)
		fprintf(stderr, "bpftime attach: pthread_create in process %d failed: %s\n",
			(int)pid, strerror(-err));
restore:
	restore_err = ptrace(PTRACE_SETREGS, pid, NULL, &saved) < 0 ? -errno : 0;
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	if (restore_err) {
		fprintf(stderr, "bpftime attach: cannot restore process %d's registers: %s\n",
			(int)pid, strerror(-restore_err));
		return restore_err;
	}
	return err;
}

int cmd_attach(const struct cli *cli, int argc, char **argv)
{
	char agent[PATH_MAX], real[PATH_MAX];
	struct timespec ts = { 0, 10000000 };
	bool syscalls = false;
	char *end;
	long pid;
	int i, err;

	/* options that set the environment cannot reach a running process's */
	for (int k = 1; k < argc && argv[k][0] == '-'; k++)
		if (!strcmp(argv[k], "--spdlog-level") || !strcmp(argv[k], "--no-jit")) {
			fprintf(stderr, "bpftime attach: %s cannot reach a running process's environment\n",
				argv[k]);
			return 1;
		}
	i = cli_agent_options("attach", argc, argv, &syscalls);
	if (i < 0 || i + 1 != argc) {
		fprintf(stderr, "usage: bpftime [-i DIR] attach [-s] PID\n");
		return 1;
	}
	pid = strtol(argv[i], &end, 10);
	if (*end || pid <= 0) {
		fprintf(stderr, "bpftime attach: '%s' is not a pid\n", argv[i]);
		return 1;
	}
	if (cli_find_lib(cli, "libbpftime-agent.so", BPFTIME_BUILD_AGENT, agent, sizeof(agent)))
		return 1;
	if (!realpath(agent, real)) {
		fprintf(stderr, "bpftime attach: %s: %s\n", agent, strerror(errno));
		return 1;
	}
	if (mapped((pid_t)pid, real)) {
		fprintf(stderr, "bpftime attach: the agent is already in process %ld\n", pid);
		return 1;
	}
	err = inject((pid_t)pid, real);
	if (err)
		return 1;
	for (int waited = 0; !mapped((pid_t)pid, real); waited += 10) {
		if (waited > WAIT_AGENT_MS) {
			fprintf(stderr, "bpftime attach: the agent did not appear in process %ld\n",
				pid);
			return 1;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}
