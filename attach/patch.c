/* SPDX-License-Identifier: MIT */
/* attach/patch.c: writing live code safely: page protections from
 * /proc/self/maps, serializing the other cores after a write (membarrier
 * SYNC_CORE or a TLB-flush fallback), moving threads whose pc is inside the
 * bytes being replaced, and the SIGTRAP handler behind int3 sites. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <cpuid.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <Zydis/Zydis.h>

#include "hook_x86_64.h"
#include "common/compiler.h"
#include "common/log.h"

/* ---- /proc/self/maps ---- */

/* Reads /proc/self/maps into a malloc'd array (sorted, as the kernel writes it). */
int hook_read_maps(struct map_ent **out, size_t *cnt)
{
	FILE *f = fopen("/proc/self/maps", "re");
	struct map_ent *v = NULL;
	size_t n = 0, cap = 0;
	char line[4096 + 128];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, en;
		char perms[8] = "";
		int pos = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &s, &en, perms, &pos) < 3)
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct map_ent *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[n].start = s;
		v[n].end = en;
		v[n].prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			    (perms[2] == 'x' ? PROT_EXEC : 0);
		v[n].shared = perms[3] == 's';
		v[n].heap = strstr(line + pos, "[heap]") != NULL;
		v[n].stack = strstr(line + pos, "[stack]") != NULL;
		n++;
	}
	fclose(f);
	*out = v;
	*cnt = n;
	return 0;
}

const struct map_ent *hook_find_map(const struct map_ent *m, size_t n, uintptr_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return &m[i];
	return NULL;
}

/* ---- serializing other cores after a code write ---- */

static int sync_mode; /* 0 unknown, 1 membarrier SYNC_CORE, 2 TLB-flush fallback */
static bool mb_expedited;

void hook_sync_core_init(void)
{
	long cmds;

	if (sync_mode)
		return;
	sync_mode = 2;
	cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		mb_expedited = true;
	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		sync_mode = 1;
	else
		pr_debug(
			"membarrier SYNC_CORE unavailable: serializing code writes by TLB flush\n");
}

static char mb_page[PAGE_SIZE_4K] __attribute__((aligned(4096)));

void hook_membarrier(void)
{
	hook_sync_core_init();
	if (mb_expedited && !syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return;
	/* Fallback: a TLB shootdown interrupts every core running this mm,
	 * and an interrupt drains the store buffer like a full barrier.  The
	 * write makes the PTE present, or there would be nothing to flush. */
	*(volatile char *)mb_page = 1;
	mprotect(mb_page, PAGE_SIZE_4K, PROT_READ);
	mprotect(mb_page, PAGE_SIZE_4K, PROT_READ | PROT_WRITE);
}

/* Every other core running this process executes a serializing instruction
 * before this returns, so none keeps executing stale prefetched bytes
 * (Intel SDM "cross-modifying code").  Fallback: removing write permission
 * flushes the TLB on those cores by IPI, and the return from the interrupt
 * (iret) serializes them as well. */
static void sync_core(uintptr_t page, size_t len, int prot)
{
	if (sync_mode == 1 &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		return;
	mprotect((void *)page, len, prot & ~PROT_WRITE);
	mprotect((void *)page, len, prot | PROT_WRITE);
}

/* ---- writing live code ----
 *
 * Method (the kernel's text_poke_bp, in userspace): the page is made RWX for
 * the duration (never without X: other threads keep running code on it), then
 *   1. an int3 replaces the first byte (one byte store: no thread can see it
 *      torn); the SIGTRAP handler sends any thread that hits it to the stub,
 *      which is complete before this starts;
 *   2. serialize; write the other bytes, which no thread can start to decode
 *      now because every entry to the site stops at the int3;
 *   3. serialize; write the real first byte; serialize.
 * Unhooking runs the same three steps with the original bytes.  An 8-byte
 * atomic store would avoid the trap but only when the 5 bytes do not cross an
 * 8-byte boundary, which function entries often do.
 * A thread already past the first displaced instruction (preempted between
 * two of them, or looping back to the site) would resume in the middle of the
 * jmp: after step 1 such threads are moved to the same instruction in the
 * stub's relocated copy and parked until step 3 is done (migrate_park). */

static int page_prot(uintptr_t addr, int *prot)
{
	struct map_ent *m;
	size_t n;
	const struct map_ent *me;
	int err = hook_read_maps(&m, &n);

	if (err)
		return err;
	me = hook_find_map(m, n, addr);
	if (me)
		*prot = me->prot;
	free(m);
	return me ? 0 : -EFAULT;
}

static void poke_byte(uintptr_t addr, uint8_t b)
{
	*(volatile uint8_t *)addr = b;
}

/* ---- moving threads out of the displaced bytes ----
 *
 * Once the int3 is in place, every other thread that may be inside the
 * displaced instructions (on a cpu now, or stopped there) gets a real-time
 * signal (HOOK_MIGRATE_SIG) queued with rt_tgsigqueueinfo (SI_QUEUE, our pid,
 * &mig_park as value).  Its handler moves the thread to the same instruction
 * in the stub's relocated copy when it is inside, then parks it on a futex
 * until the jmp is written.  Not SIGTRAP: standard signals do not queue, so a
 * thread reaching the int3 while ours is pending would lose one of the two.
 * With two signals the int3's SIGTRAP (synchronous, delivered first) is
 * always served, and a thread seen just after the int3 by our handler really
 * ran the first instruction before the int3 went in.  Threads stopped in a
 * syscall elsewhere are not signalled (no EINTR for them); they can reach
 * the bytes only through the int3.  While threads are parked the patching
 * thread calls no allocator and takes no lock: a parked thread may hold one.
 * Signals of that number that are not ours go to the previous handler. */

#define HOOK_MIGRATE_SIG    (SIGRTMAX - 7)
#define MIGRATE_MAX_THREADS 4096
#define MIGRATE_TIMEOUT_NS  2000000000L
#define MIGRATE_POLL_NS	    5000000L /* how often exited threads are looked for */

static _Atomic(struct hook_site *) mig_site;
static atomic_int mig_acks;
static atomic_int mig_park; /* futex word: bumped to release parked threads */
static pid_t mig_tids[MIGRATE_MAX_THREADS];
static atomic_char mig_acked[MIGRATE_MAX_THREADS];
static int mig_n;
static pid_t mig_late_tid; /* one that did not answer, for the message */

/* In the signal handler: rip at displaced instruction i > 0 -> its copy. */
static void migrate_one(ucontext_t *uc, const struct hook_site *s)
{
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];

	if (ip <= s->patch_addr || ip >= s->patch_addr + s->disp_len)
		return;
	for (unsigned int i = 1; i < s->n_insns; i++) {
		if (s->patch_addr + s->orig_off[i] == ip) {
			uc->uc_mcontext.gregs[REG_RIP] =
				(greg_t)(uintptr_t)(s->reloc + s->reloc_off[i]);
			return;
		}
	}
}

static struct sigaction old_mig_sa;
static bool mig_installed;

void hook_chain_signal(const struct sigaction *old, int sig, siginfo_t *si, void *uc)
{
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler == SIG_DFL) {
		/* the default action as if we had never been here */
		signal(sig, SIG_DFL);
		raise(sig);
	} else if (old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
	}
}

static void migrate_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno = errno;
	struct hook_site *m;
	pid_t tid;
	int gen;

	if (si->si_code != SI_QUEUE || si->si_pid != getpid() ||
	    si->si_value.sival_ptr != (void *)&mig_park) {
		hook_chain_signal(&old_mig_sa, sig, si, ucv);
		errno = saved_errno;
		return;
	}
	/* the generation is read before the ack: the release that follows all
	 * acks changes it, so a thread never sleeps into the next round */
	gen = atomic_load(&mig_park);
	m = atomic_load(&mig_site);
	if (m) {
		migrate_one(uc, m);
		tid = (pid_t)syscall(SYS_gettid);
		for (int i = 0; i < mig_n; i++) {
			if (mig_tids[i] == tid) {
				if (!atomic_exchange(&mig_acked[i], 1))
					atomic_fetch_add(&mig_acks, 1);
				break;
			}
		}
		while (atomic_load(&mig_park) == gen)
			syscall(SYS_futex, &mig_park, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0);
	}
	errno = saved_errno;
}

static int migrate_install(void)
{
	struct sigaction sa;

	if (mig_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = migrate_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(HOOK_MIGRATE_SIG, &sa, &old_mig_sa) < 0)
		return -errno;
	mig_installed = true;
	return 0;
}

/* Whether thread tid may be inside the displaced bytes: /proc reports where
 * a thread that is off-cpu stopped ("-1 sp pc" preempted in user mode,
 * "nr args... sp pc" in a syscall); "running" means it is on a cpu now. */
static bool thread_may_be_inside(pid_t tid, const struct hook_site *s)
{
	char path[64], buf[256];
	unsigned long long pc;
	const char *last;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	if (buf[0] == 'r')
		return true; /* running */
	last = strrchr(buf, ' ');
	if (!last || sscanf(last + 1, "%llx", &pc) != 1)
		return true;
	return pc > s->patch_addr && pc < s->patch_addr + s->disp_len;
}

static void migrate_send(pid_t pid, pid_t tid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = HOOK_MIGRATE_SIG;
	si.si_code = SI_QUEUE;
	si.si_pid = pid;
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)&mig_park;
	syscall(SYS_rt_tgsigqueueinfo, pid, tid, HOOK_MIGRATE_SIG, &si);
}

/* Parks every thread that may be inside the displaced bytes (moving it out).
 * Returns 0 with them parked (migrate_release() lets them go; *timed_out is
 * the number that never answered, and then nothing may be written). */
static int migrate_park(struct hook_site *s, int *timed_out)
{
	pid_t self = (pid_t)syscall(SYS_gettid), pid = getpid();
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	struct timespec t0, t, last;
	const struct timespec nap = { 0, 20000 };
	int n = 0;

	*timed_out = 0;
	if (!d)
		return -errno;
	if (migrate_install() < 0) {
		closedir(d);
		return -EPERM;
	}
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || tid == self || !thread_may_be_inside(tid, s))
			continue;
		if (n == MIGRATE_MAX_THREADS) {
			closedir(d);
			*timed_out = 1; /* cannot account for every thread: do not patch */
			return 0;
		}
		mig_tids[n++] = tid;
	}
	closedir(d);
	if (!n)
		return 0;
	for (int i = 0; i < n; i++)
		atomic_store(&mig_acked[i], 0);
	mig_n = n;
	atomic_store(&mig_acks, 0);
	atomic_store(&mig_site, s);
	for (int i = 0; i < n; i++)
		migrate_send(pid, mig_tids[i]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	last = t0;
	while (atomic_load(&mig_acks) < n) {
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) >
		    MIGRATE_TIMEOUT_NS) {
			*timed_out = n - atomic_load(&mig_acks);
			for (int i = 0; i < n; i++)
				if (!atomic_load(&mig_acked[i]))
					mig_late_tid = mig_tids[i];
			break;
		}
		if ((t.tv_sec - last.tv_sec) * 1000000000L + (t.tv_nsec - last.tv_nsec) >
		    MIGRATE_POLL_NS) {
			/* a thread that exited meanwhile counts as answered */
			for (int i = 0; i < n; i++) {
				if (!atomic_load(&mig_acked[i]) &&
				    syscall(SYS_tgkill, pid, mig_tids[i], 0) < 0 &&
				    !atomic_exchange(&mig_acked[i], 1))
					atomic_fetch_add(&mig_acks, 1);
			}
			last = t;
		}
	}
	return 0;
}

static void migrate_release(void)
{
	mig_n = 0;
	atomic_store(&mig_site, NULL);
	atomic_fetch_add(&mig_park, 1);
	syscall(SYS_futex, &mig_park, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Names a thread that did not answer, with what /proc says about it. */
static void warn_late(const struct hook_site *s, int count)
{
	char path[64], line[256], state[64] = "?", blk[64] = "?", sc[128] = "?";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)mig_late_tid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "State:", 6))
			snprintf(state, sizeof(state), "%.60s", line + 7);
		else if (!strncmp(line, "SigBlk:", 7))
			snprintf(blk, sizeof(blk), "%.60s", line + 8);
	}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)mig_late_tid);
	f = fopen(path, "re");
	if (f && fgets(line, sizeof(line), f))
		snprintf(sc, sizeof(sc), "%.120s", line);
	if (f)
		fclose(f);
	state[strcspn(state, "\n")] = 0;
	blk[strcspn(blk, "\n")] = 0;
	sc[strcspn(sc, "\n")] = 0;
	pr_warn("probe at %#" PRIxPTR ": %d threads did not answer the migration signal "
		"(e.g. tid %d: %s, blocked %s, syscall %s): not patched\n",
		s->req_addr, count, (int)mig_late_tid, state, blk, sc);
}

int hook_text_poke(uintptr_t addr, const uint8_t *bytes, size_t len, struct hook_site *mig)
{
	uintptr_t page = addr & ~(PAGE_SIZE_4K - 1);
	size_t plen = ((addr + len + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1)) - page;
	int prot, err;

	err = page_prot(addr, &prot);
	if (!err && ((addr + len - 1) & ~(PAGE_SIZE_4K - 1)) != page) {
		int prot2;

		err = page_prot(addr + len - 1, &prot2);
		prot |= err ? 0 : prot2;
	}
	if (err)
		return err;
	if (mprotect((void *)page, plen, prot | PROT_WRITE | PROT_EXEC) < 0)
		return -errno;
	if (len == 1) {
		poke_byte(addr, bytes[0]);
	} else {
		uint8_t old0 = *(volatile uint8_t *)addr;
		int timed_out = 0;

		poke_byte(addr, 0xCC); /* int3 */
		sync_core(page, plen, prot | PROT_EXEC);
		if (mig && mig->n_insns > 1) {
			err = migrate_park(mig, &timed_out);
			if (err || timed_out) {
				poke_byte(addr, old0);
				sync_core(page, plen, prot | PROT_EXEC);
				migrate_release();
				mprotect((void *)page, plen, prot);
				if (timed_out)
					warn_late(mig, timed_out);
				return err ? err : -EAGAIN;
			}
		}
		for (size_t i = 1; i < len; i++)
			poke_byte(addr + i, bytes[i]);
		sync_core(page, plen, prot | PROT_EXEC);
		poke_byte(addr, bytes[0]);
		sync_core(page, plen, prot | PROT_EXEC);
		if (mig && mig->n_insns > 1)
			migrate_release();
	}
	sync_core(page, plen, prot | PROT_EXEC);
	if (mprotect((void *)page, plen, prot) < 0)
		return -errno;
	return 0;
}

/* ---- SIGTRAP ---- */

static struct sigaction old_trap_sa;
static bool trap_installed;

/* An int3 of ours: rip (after the int3) - 1 is an armed site.  The thread
 * continues in the stub with all its registers as they were at the site, as
 * if the jmp had been there.  Sites stay armed forever: a thread that hit the
 * int3 may run this handler long after the bytes changed again.  Anything else
 * goes to the handler that was installed before ours. */
static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno = errno;
	uintptr_t ip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP] - 1;
	struct hook_site *s = si->si_code == SI_KERNEL ? hook_find_trap_site(ip) : NULL;

	if (s) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)s->stub;
		errno = saved_errno;
		return;
	}
	errno = saved_errno;
	hook_chain_signal(&old_trap_sa, sig, si, ucv);
}

int hook_trap_install(void)
{
	struct sigaction sa;

	if (trap_installed)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	/* NODEFER: a handler may itself hit a trap site (skipped as nested,
	 * but the trap must still be served or the kernel kills the process) */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &old_trap_sa) < 0)
		return -errno;
	trap_installed = true;
	return 0;
}
