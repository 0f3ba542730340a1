/* SPDX-License-Identifier: MIT */
/* helpers/task.c: time and the current task: ktime_get_ns (CLOCK_MONOTONIC),
 * ktime_get_boot_ns (CLOCK_BOOTTIME), ktime_get_coarse_ns
 * (CLOCK_MONOTONIC_COARSE), get_prandom_u32, get_smp_processor_id,
 * get_current_pid_tgid, get_current_uid_gid, get_current_comm.
 *
 * pid/tid are cached per thread because gettid() is a syscall on every
 * probe hit.  A fork() child inherits the forking thread's cache, so a
 * pthread_atfork() child handler bumps a generation that invalidates every
 * cache in the child (only the forking thread exists there); so does
 * bpftime_helpers__new_ids(), which the agent's syscall hook calls where
 * glibc does not (a vfork child on its parent's TLS, that parent going
 * on, a raw fork).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "internal.h"
#include "shm/store.h"
#include "common/compiler.h"

static uint64_t clock_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

HELPER_DECL(ktime_get_ns)
{
	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return clock_ns(CLOCK_MONOTONIC);
}

HELPER_DECL(ktime_get_boot_ns)
{
	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return clock_ns(CLOCK_BOOTTIME);
}

HELPER_DECL(ktime_get_coarse_ns)
{
	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

/* xorshift128+ per thread, seeded from getrandom() (the kernel's prandom
 * is also a per-CPU non-cryptographic generator) */
static __thread uint64_t rnd_state[2];

HELPER_DECL(get_prandom_u32)
{
	uint64_t s1 = rnd_state[0], s0 = rnd_state[1];

	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	if (unlikely(!s1 && !s0)) {
		if (getrandom(rnd_state, sizeof(rnd_state), GRND_NONBLOCK) != sizeof(rnd_state))
			rnd_state[0] = clock_ns(CLOCK_MONOTONIC) ^ (uint64_t)(uintptr_t)&rnd_state;
		rnd_state[1] |= 1;
		s1 = rnd_state[0];
		s0 = rnd_state[1];
	}
	rnd_state[0] = s0;
	s1 ^= s1 << 23;
	rnd_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	return (uint32_t)((rnd_state[1] + s0) >> 32);
}

HELPER_DECL(get_smp_processor_id)
{
	/* the per-CPU slot the run owns (shm/cpu.c), which is the CPU that
	 * per-CPU maps and BPF_F_CURRENT_CPU use in this run */
	int cpu = shm_cpu_slot >= 0 ? shm_cpu_slot : sched_getcpu();

	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return cpu < 0 ? 0 : (uint64_t)cpu;
}

/* long bpf_send_signal(u32 sig), long bpf_send_signal_thread(u32 sig): the
 * kernel sends @sig to the current task's process (thread group) or thread,
 * delivered on its way back to user space.  Here the program runs in the
 * traced thread itself, so that is a kill()/tgkill() of our own pid/tid:
 * the signal is pending when the probe returns, or delivered at once by the
 * kernel on the syscall's return (the program is then done with it).  sig 0
 * only checks, as in the kernel; above _NSIG is -EINVAL. */
static uint64_t send_signal(uint64_t sig, bool thread)
{
	long r;

	if (sig > 64)
		return (uint64_t)-EINVAL;
	if (getpid() == 1)
		return (uint64_t)-EPERM; /* the kernel refuses to signal init */
	r = thread ? syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), (int)sig)
		   : kill(getpid(), (int)sig);
	return r ? (uint64_t)-errno : 0;
}

HELPER_DECL(send_signal)
{
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return send_signal((uint32_t)r1, false);
}

HELPER_DECL(send_signal_thread)
{
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return send_signal((uint32_t)r1, true);
}

static _Atomic uint32_t fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

struct task_cache {
	uint32_t gen;
	uint64_t pid_tgid;
};
static __thread struct task_cache task_cache;

void bpftime_helpers__new_ids(void)
{
	fork_gen++;
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, bpftime_helpers__new_ids);
}

HELPER_DECL(get_current_pid_tgid)
{
	uint32_t gen = fork_gen;

	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	if (likely(task_cache.gen == gen))
		return task_cache.pid_tgid;
	pthread_once(&atfork_once, install_atfork);
	gen = fork_gen; /* a fork may have run before the handler existed */
	task_cache.pid_tgid = (uint64_t)getpid() << 32 | (uint32_t)gettid();
	task_cache.gen = gen;
	return task_cache.pid_tgid;
}

HELPER_DECL(get_current_uid_gid)
{
	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return (uint64_t)getgid() << 32 | getuid();
}

/* long bpf_get_current_comm(void *buf, u32 size_of_buf): the thread's name
 * (prctl PR_GET_NAME, what the kernel's task->comm is), NUL-padded */
HELPER_DECL(get_current_comm)
{
	char comm[16] = { 0 };
	char *buf = (char *)(uintptr_t)r1;
	uint32_t size = (uint32_t)r2;
	size_t n;

	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	if (!size)
		return (uint64_t)-EINVAL;
	if (prctl(PR_GET_NAME, comm, 0, 0, 0)) {
		memset(buf, 0, size);
		return (uint64_t)-EINVAL;
	}
	n = strnlen(comm, sizeof(comm) - 1);
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, comm, n);
	memset(buf + n, 0, size - n);
	return 0;
}
