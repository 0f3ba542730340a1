/* SPDX-License-Identifier: MIT */
/* tools/bpftime/attach.c: `bpftime attach PID` and `bpftime detach [PID]`:
 * bring the agent into a running process (x86-64, glibc), without Frida, and
 * take its hooks out again.  ptrace stops one of the process's threads and
 * makes it call mmap for a scratch page (the thread body, the paths, the
 * settings and a result word), then pthread_create with that body; the
 * stopped thread gets its registers back and runs on.  The new thread names
 * itself "bpftime-attach" (so the agent's constructor waits for it),
 * dlopens libbpftime-agent.so, calls its entry point (bpftime_agent_attach
 * with the attacher's segment name and log settings, or
 * bpftime_agent_detach), stores the result in the scratch page and detaches
 * itself.  The attacher reads the result and reports it: the exit status
 * says whether the agent serves the process.
 *
 *   bpftime [-i DIR] attach [-s] [--spdlog-level L] [--bpftime-log-output OUT]
 *                           [--no-jit] PID
 *   bpftime [-i DIR] detach [PID]
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
 * The scratch page (8 KiB) stays in the target: the new thread may still be
 * returning through it when the result is read.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/prctl.h>
#include <sys/syscall.h>
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
#define STUB_OFF      0		       /* the thread body */
#define TID_OFF	      256	       /* pthread_t of the new thread */
#define RES_OFF	      264	       /* int64: the entry point's return value */
#define DONE_OFF      272	       /* int32: DONE_* */
#define NAME_OFF      288	       /* the thread's name */
#define SYM_OFF	      320	       /* the entry point's name */
#define PATH_OFF      512	       /* the agent's path */
#define CFG_OFF	      4608	       /* the settings (bpftime_agent_attach's argument) */
#define WAIT_AGENT_MS 60000	       /* how long the agent may take (it builds every program) */
#define THREAD_NAME   "bpftime-attach" /* agent/main.c's AGENT_ATTACH_THREAD */

enum { DONE_NOT_YET, DONE_OK, DONE_NO_DLOPEN, DONE_NO_SYM };

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

		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu %4095s", &lo, &hi, &off, &maj, &min,
			   &ino, path) < 6)
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

/* The new thread's body (rdi = the scratch page):
 *   prctl(PR_SET_NAME, THREAD_NAME); h = dlopen(path, flags);
 *   if (!h) done = DONE_NO_DLOPEN; else if (!(f = dlsym(h, sym))) done = DONE_NO_SYM;
 *   else { res = f(cfg); done = DONE_OK; }
 *   pthread_detach(pthread_self()); return 0; */
static size_t build_stub(uint8_t *p, uintptr_t dlopen_addr, uintptr_t dlsym_addr,
			 uintptr_t detach_addr, int dl_flags)
{
	size_t n = 0, jz1, jz2, jmp1, jmp2;
	int32_t v;

#define B(...)                                        \
	do {                                          \
		const uint8_t b_[] = { __VA_ARGS__ }; \
		memcpy(p + n, b_, sizeof(b_));        \
		n += sizeof(b_);                      \
	} while (0)
#define I32(x)                        \
	do {                          \
		v = (int32_t)(x);     \
		memcpy(p + n, &v, 4); \
		n += 4;               \
	} while (0)
#define I64(x)                           \
	do {                             \
		uint64_t v64_ = (x);     \
		memcpy(p + n, &v64_, 8); \
		n += 8;                  \
	} while (0)
	B(0x53);	     /* push rbx (aligns the stack for the calls) */
	B(0x48, 0x89, 0xfb); /* mov rbx, rdi */
	B(0xb8);
	I32(SYS_prctl); /* mov eax, SYS_prctl */
	B(0xbf);
	I32(PR_SET_NAME); /* mov edi, PR_SET_NAME */
	B(0x48, 0x8d, 0xb3);
	I32(NAME_OFF); /* lea rsi, [rbx + NAME_OFF] */
	B(0x0f, 0x05); /* syscall */
	B(0x48, 0x8d, 0xbb);
	I32(PATH_OFF); /* lea rdi, [rbx + PATH_OFF] */
	B(0xbe);
	I32(dl_flags); /* mov esi, flags */
	B(0x48, 0xb8);
	I64(dlopen_addr);    /* movabs rax, dlopen */
	B(0xff, 0xd0);	     /* call rax */
	B(0x48, 0x85, 0xc0); /* test rax, rax */
	B(0x74, 0);	     /* jz no_dlopen */
	jz1 = n;
	B(0x48, 0x89, 0xc7); /* mov rdi, rax */
	B(0x48, 0x8d, 0xb3);
	I32(SYM_OFF); /* lea rsi, [rbx + SYM_OFF] */
	B(0x48, 0xb8);
	I64(dlsym_addr);     /* movabs rax, dlsym */
	B(0xff, 0xd0);	     /* call rax */
	B(0x48, 0x85, 0xc0); /* test rax, rax */
	B(0x74, 0);	     /* jz no_sym */
	jz2 = n;
	B(0x48, 0x8d, 0xbb);
	I32(CFG_OFF);  /* lea rdi, [rbx + CFG_OFF] */
	B(0xff, 0xd0); /* call rax */
	B(0x48, 0x89, 0x83);
	I32(RES_OFF); /* mov [rbx + RES_OFF], rax */
	B(0xc7, 0x83);
	I32(DONE_OFF);
	I32(DONE_OK); /* mov dword [rbx + DONE_OFF], DONE_OK */
	B(0xeb, 0);   /* jmp out */
	jmp1 = n;
	p[jz1 - 1] = (uint8_t)(n - jz1); /* no_dlopen: */
	B(0xc7, 0x83);
	I32(DONE_OFF);
	I32(DONE_NO_DLOPEN);
	B(0xeb, 0); /* jmp out */
	jmp2 = n;
	p[jz2 - 1] = (uint8_t)(n - jz2); /* no_sym: */
	B(0xc7, 0x83);
	I32(DONE_OFF);
	I32(DONE_NO_SYM);
	p[jmp1 - 1] = (uint8_t)(n - jmp1); /* out: */
	p[jmp2 - 1] = (uint8_t)(n - jmp2);
	B(0x64, 0x48, 0x8b, 0x3c, 0x25, 0x10, 0, 0, 0); /* mov rdi, fs:[0x10] (pthread_self) */
	B(0x48, 0xb8);
	I64(detach_addr); /* movabs rax, pthread_detach */
	B(0xff, 0xd0);	  /* call rax */
	B(0x5b);	  /* pop rbx */
	B(0x31, 0xc0);	  /* xor eax, eax */
	B(0xc3);	  /* ret */
#undef B
#undef I32
#undef I64
	return n;
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

static int peek(pid_t pid, uintptr_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)addr, len };
	char mem[64];
	ssize_t n;
	int fd;

	if (process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
		return 0;
	snprintf(mem, sizeof(mem), "/proc/%d/mem", (int)pid);
	fd = open(mem, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Runs @sym(@cfg) of library @agent (dlopen'ed with @dl_flags) on a new
 * thread in @pid and waits for it.  Returns 0 with its result in *@res, or
 * a negative errno after a message (-ENOENT: dlopen failed, -ENOSYS: no
 * such symbol). */
static int inject(pid_t pid, const char *agent, const char *sym, const char *cfg, int dl_flags,
		  long *res)
{
	struct user_regs_struct saved;
	struct lib_loc ours = { 0 }, theirs = { 0 };
	uintptr_t our_base, their_base, scratch = 0, off_dlopen, off_dlsym, off_create, off_detach,
					off_mmap;
	static uint8_t page[SCRATCH_SIZE];
	struct timespec ts = { 0, 2000000 };
	int32_t done = DONE_NOT_YET;
	uint64_t ret;
	int err, sig, restore_err;

	memset(page, 0, sizeof(page));
	if (strlen(agent) >= CFG_OFF - PATH_OFF || strlen(cfg) >= SCRATCH_SIZE - CFG_OFF) {
		fprintf(stderr, "bpftime: the agent's path or the settings are too long\n");
		return -ENAMETOOLONG;
	}
	err = find_lib(0, (uintptr_t)dlsym(libc_handle(), "pthread_create"), &ours, &our_base);
	if (err) {
		fprintf(stderr, "bpftime: cannot find our own C library\n");
		return err;
	}
	if (sym_offset("pthread_create", &ours, our_base, &off_create) ||
	    sym_offset("pthread_detach", &ours, our_base, &off_detach) ||
	    sym_offset("dlopen", &ours, our_base, &off_dlopen) ||
	    sym_offset("dlsym", &ours, our_base, &off_dlsym) ||
	    sym_offset("mmap", &ours, our_base, &off_mmap))
		return -ENOTSUP;
	theirs.dev = ours.dev;
	theirs.ino = ours.ino;
	if (find_lib(pid, 0, &theirs, &their_base)) {
		if (kill(pid, 0) && errno == ESRCH) {
			fprintf(stderr, "bpftime: no process %d\n", (int)pid);
			return -ESRCH;
		}
		fprintf(stderr,
			"bpftime: process %d does not use %s (another C library, or "
			"static): cannot inject the agent\n",
			(int)pid, ours.path);
		return -ENOTSUP;
	}

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) < 0) {
		err = -errno;
		fprintf(stderr, "bpftime: cannot trace process %d: %s%s\n", (int)pid,
			strerror(errno),
			errno == EPERM
				? " (same user and /proc/sys/kernel/yama/ptrace_scope, or root)"
				: "");
		return err;
	}
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0 || (err = wait_stop(pid, &sig))) {
		err = err ? err : -errno;
		fprintf(stderr, "bpftime: cannot stop process %d: %s\n", (int)pid, strerror(-err));
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
		fprintf(stderr, "bpftime: mmap in process %d failed: %s\n", (int)pid,
			strerror(-err));
		goto restore;
	}
	scratch = (uintptr_t)ret;
	build_stub(page + STUB_OFF, their_base + off_dlopen, their_base + off_dlsym,
		   their_base + off_detach, dl_flags);
	snprintf((char *)page + NAME_OFF, 16, "%s", THREAD_NAME);
	snprintf((char *)page + SYM_OFF, PATH_OFF - SYM_OFF, "%s", sym);
	snprintf((char *)page + PATH_OFF, CFG_OFF - PATH_OFF, "%s", agent);
	snprintf((char *)page + CFG_OFF, SCRATCH_SIZE - CFG_OFF, "%s", cfg);
	err = poke(pid, scratch, page, sizeof(page));
	if (err) {
		fprintf(stderr, "bpftime: cannot write into process %d: %s\n", (int)pid,
			strerror(-err));
		goto restore;
	}
	err = call_in(
		pid, &saved, their_base + off_create,
		(const uint64_t[6]){ scratch + TID_OFF, 0, scratch + STUB_OFF, scratch, 0, 0 },
		&ret);
	if (!err && (int)ret != 0)
		err = -(int)ret;
	if (err)
		fprintf(stderr, "bpftime: pthread_create in process %d failed: %s\n", (int)pid,
			strerror(-err));
restore:
	restore_err = ptrace(PTRACE_SETREGS, pid, NULL, &saved) < 0 ? -errno : 0;
	ptrace(PTRACE_DETACH, pid, NULL, NULL);
	if (restore_err) {
		fprintf(stderr, "bpftime: cannot restore process %d's registers: %s\n", (int)pid,
			strerror(-restore_err));
		return restore_err;
	}
	if (err)
		return err;
	/* the new thread runs on its own now: wait for its answer */
	for (long waited = 0; done == DONE_NOT_YET; waited += 2) {
		if (waited > WAIT_AGENT_MS) {
			fprintf(stderr,
				"bpftime: the agent did not answer in process %d within %d s\n",
				(int)pid, WAIT_AGENT_MS / 1000);
			return -ETIMEDOUT;
		}
		nanosleep(&ts, NULL);
		err = peek(pid, scratch + DONE_OFF, &done, sizeof(done));
		if (err) {
			fprintf(stderr, "bpftime: process %d went away before the agent answered\n",
				(int)pid);
			return -ESRCH;
		}
	}
	if (done == DONE_NO_DLOPEN)
		return -ENOENT;
	if (done == DONE_NO_SYM) {
		fprintf(stderr, "bpftime: %s in process %d has no %s (an older agent?)\n", agent,
			(int)pid, sym);
		return -ENOSYS;
	}
	err = peek(pid, scratch + RES_OFF, res, sizeof(*res));
	return err ? -ESRCH : 0;
}

/* appends "key=value\n" to @cfg when @value is set */
static void cfg_add(char *cfg, size_t len, const char *key, const char *value)
{
	size_t n = strlen(cfg);

	if (value && *value && n + strlen(key) + strlen(value) + 3 <= len) {
		memcpy(cfg + n, key, strlen(key));
		n += strlen(key);
		cfg[n++] = '=';
		memcpy(cfg + n, value, strlen(value));
		n += strlen(value);
		cfg[n++] = '\n';
		cfg[n] = 0;
	}
}

static const char *shm_name(void)
{
	const char *n = getenv("BPFTIME_GLOBAL_SHM_NAME");

	return n && *n ? n : "bpftime_maps_shm";
}

static bool agent_in(pid_t pid, char *path, size_t len);

static int parse_pid_quiet(const char *s, pid_t *pid)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

static int parse_pid(const char *cmd, const char *s, pid_t *pid)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (!*s || *end || errno || v <= 0 || v > INT32_MAX) {
		fprintf(stderr, "bpftime %s: '%s' is not a pid\n", cmd, s);
		return -EINVAL;
	}
	*pid = (pid_t)v;
	return 0;
}

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	char agent[PATH_MAX], real[PATH_MAX], cfg[SCRATCH_SIZE - CFG_OFF] = "", out[PATH_MAX];
	const char *level, *log;
	long res = 0;
	pid_t pid;
	int i, err;

	i = cli_parse(cli, "attach", OPT_LEVEL | OPT_LOG | OPT_NOJIT | OPT_SYSCALL | OPT_GROUP,
		      argc, argv);
	if (i == -1)
		return CLI_OK;
	if (i < 0)
		return CLI_USAGE;
	if (i + 1 != argc) {
		fprintf(stderr, "usage: bpftime attach [OPTIONS] PID (`bpftime attach --help`)\n");
		return CLI_USAGE;
	}
	if (parse_pid("attach", argv[i], &pid))
		return CLI_USAGE;
	/* -s is accepted for bpftime's sake: the agent traces syscalls whenever
	 * the segment holds a syscall tracepoint for the process
	 * (docs/syscall-tracepoints.md) */
	if (cli_find_lib(cli, "libbpftime-agent.so", BPFTIME_BUILD_AGENT, agent, sizeof(agent)))
		return CLI_FAIL;
	if (!realpath(agent, real)) {
		fprintf(stderr, "bpftime attach: %s: %s\n", agent, strerror(errno));
		return CLI_FAIL;
	}
	/* an agent there already (`bpftime start`, an earlier attach) is the one
	 * to talk to: a second copy from another path would hook everything twice */
	agent_in(pid, real, sizeof(real));
	/* the attacher's settings, not the target's environment */
	level = cli->level ? cli->level : getenv("SPDLOG_LEVEL");
	log = cli->log_output ? cli->log_output : getenv("BPFTIME_LOG_OUTPUT");
	if (log && *log && strcmp(log, "console") && log[0] != '/') {
		char cwd[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) &&
		    snprintf(out, sizeof(out), "%s/%s", cwd, log) < (int)sizeof(out))
			log = out;
	}
	cfg_add(cfg, sizeof(cfg), "shm", shm_name());
	cfg_add(cfg, sizeof(cfg), "level", level);
	cfg_add(cfg, sizeof(cfg), "log", log);
	cfg_add(cfg, sizeof(cfg), "group",
		cli->shm_group ? cli->shm_group : getenv("BPFTIME_SHM_GROUP"));
	if (cli->no_jit || (getenv("BPFTIME_DISABLE_JIT") && *getenv("BPFTIME_DISABLE_JIT")))
		cfg_add(cfg, sizeof(cfg), "nojit", "1");
	if (cli->dry_run) {
		printf("would bring %s into process %d with:\n%s", real, (int)pid, cfg);
		return CLI_OK;
	}
	err = inject(pid, real, "bpftime_agent_attach", cfg, RTLD_NOW, &res);
	if (err == -ENOENT) {
		fprintf(stderr,
			"bpftime attach: dlopen of %s failed in process %d (can its user read it? "
			"are its libraries there?)\n",
			real, (int)pid);
		return CLI_FAIL;
	}
	if (err)
		return CLI_FAIL;
	if (res >= 0) {
		printf("bpftime attach: process %d: agent attached to shared memory '%s', %ld "
		       "probe%s\n",
		       (int)pid, shm_name(), res, res == 1 ? "" : "s");
		return CLI_OK;
	}
	switch (-res) {
	case EALREADY:
		fprintf(stderr, "bpftime attach: the agent runs in process %d already\n", (int)pid);
		break;
	case EBUSY:
		fprintf(stderr,
			"bpftime attach: the agent in process %d already serves another shared "
			"memory than '%s'\n",
			(int)pid, shm_name());
		break;
	case ENOENT:
		fprintf(stderr,
			"bpftime attach: process %d cannot be served: no bpftime shared memory "
			"'%s' "
			"(start a loader with `bpftime load` first)\n",
			(int)pid, shm_name());
		break;
	case EACCES:
	case EPERM:
		fprintf(stderr,
			"bpftime attach: process %d cannot be served: its user may not open the "
			"shared memory '%s' "
			"(create it with `bpftime load --shm-group GROUP` for a group of that "
			"user)\n",
			(int)pid, shm_name());
		break;
	case EPROTO:
		fprintf(stderr,
			"bpftime attach: process %d cannot be served: the shared memory '%s' was "
			"made by an incompatible bpftime\n",
			(int)pid, shm_name());
		break;
	default:
		fprintf(stderr, "bpftime attach: process %d cannot be served: %s\n", (int)pid,
			strerror((int)-res));
	}
	return CLI_FAIL;
}

/* @pid's mapping of a file named libbpftime-agent.so, into @path */
static bool agent_in(pid_t pid, char *path, size_t len)
{
	char maps[64], line[PATH_MAX + 256];
	bool found = false;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/'), *nl;

		if (!p)
			continue;
		nl = strchr(p, '\n');
		if (nl)
			*nl = 0;
		if (strlen(p) > 20 && !strcmp(p + strlen(p) - 20, "/libbpftime-agent.so")) {
			snprintf(path, len, "%s", p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static int detach_one(const struct cli *cli, pid_t pid, bool quiet_if_none)
{
	char path[PATH_MAX];
	long res = 0;
	int err;

	if (!agent_in(pid, path, sizeof(path))) {
		if (quiet_if_none)
			return 0;
		if (kill(pid, 0) && errno == ESRCH)
			fprintf(stderr, "bpftime detach: no process %d\n", (int)pid);
		else
			fprintf(stderr,
				"bpftime detach: process %d is not traced (no agent in it)\n",
				(int)pid);
		return -ENOENT;
	}
	if (cli->dry_run) {
		printf("would detach process %d (%s)\n", (int)pid, path);
		return 0;
	}
	err = inject(pid, path, "bpftime_agent_detach", "", RTLD_NOW | RTLD_NOLOAD, &res);
	if (err == -ENOENT) {
		fprintf(stderr, "bpftime detach: process %d has no agent loaded\n", (int)pid);
		return err;
	}
	if (err)
		return err;
	if (res < 0) {
		printf("bpftime detach: process %d: the agent was not running\n", (int)pid);
		return 0;
	}
	printf("bpftime detach: process %d: %ld probe%s removed\n", (int)pid, res,
	       res == 1 ? "" : "s");
	return 0;
}

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	struct dirent *de;
	pid_t pid, self = getpid();
	int i, failed = 0, seen = 0;
	DIR *d;

	i = cli_parse(cli, "detach", 0, argc, argv);
	if (i == -1)
		return CLI_OK;
	if (i < 0)
		return CLI_USAGE;
	if (i + 1 < argc) {
		fprintf(stderr, "usage: bpftime detach [PID] (`bpftime detach --help`)\n");
		return CLI_USAGE;
	}
	if (i < argc) {
		if (parse_pid("detach", argv[i], &pid))
			return CLI_USAGE;
		return detach_one(cli, pid, false) ? CLI_FAIL : CLI_OK;
	}
	/* every process with the agent in it that we may trace */
	d = opendir("/proc");
	if (!d) {
		fprintf(stderr, "bpftime detach: cannot read /proc: %s\n", strerror(errno));
		return CLI_FAIL;
	}
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (parse_pid_quiet(de->d_name, &pid) || pid == self ||
		    !agent_in(pid, path, sizeof(path)))
			continue;
		seen++;
		if (detach_one(cli, pid, true))
			failed++;
	}
	closedir(d);
	if (!seen)
		printf("bpftime detach: no traced process\n");
	return failed ? CLI_FAIL : CLI_OK;
}
