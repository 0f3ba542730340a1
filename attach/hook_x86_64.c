/* attach/hook_x86_64.c: inline code patching on x86-64.
 *
 * Owns the sites (patched addresses), their stubs, the relocation of the
 * displaced instructions (Zydis), the safe patching of live code, the SIGTRAP
 * handler behind int3 sites, and the global uretprobe return trampoline.
 *
 * A site is patched with a 5-byte `jmp rel32` to its stub; the stub lives in
 * its own page within +-2 GiB (found from /proc/self/maps, mapped with
 * MAP_FIXED_NOREPLACE).  The stub:
 *   1. steps below the red zone (the probe may be inside a leaf function),
 *   2. stores a kernel-layout struct pt_regs plus xmm0-7 on the stack (inside
 *      a function: the flags, and all vector state with xsave),
 *   3. calls hook_entry(regs, site) on a 16-byte aligned stack, which calls
 *      the dispatcher of the site's current probe list,
 *   4. returns regs->rax to the caller when dispatch asks for an override,
 *   5. otherwise restores the caller-saved registers (and the flags inside a
 *      function), runs the relocated instructions and jumps back.
 * Callee-saved registers are stored for the handlers to read but not
 * reloaded: the C dispatcher preserves them (rbx holds the frame).
 *
 * A site too short for 5 bytes (the function ends first) gets an int3; the
 * SIGTRAP handler moves rip to the same kind of stub, whose relocated part is
 * then just the first instruction.  So handlers never run in signal context,
 * and override/uretprobes work the same on both kinds of sites.
 */
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

#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

#define PAGE_SIZE_4K  4096UL
#define REL32_WINDOW  0x7fff0000L /* a bit under 2 GiB: room for the stub's own size */
#define RED_ZONE      128
#define PT_REGS_SIZE  ((int)sizeof(struct bpftime_pt_regs))
#define PT(field)     ((int)offsetof(struct bpftime_pt_regs, field))
#define USER_CS	      0x33
#define USER_SS	      0x2b
#define MAX_USER_ADDR 0x7ffffffff000UL
#define MIN_MMAP_ADDR 0x10000UL

bool hook_force_abs_reloc;
uintptr_t hook_ret_tramp_addr;

static pthread_mutex_t hook_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct hook_site *sites[HOOK_MAX_SITES];
static _Atomic unsigned int n_sites;

void hook_lock(void)
{
	pthread_mutex_lock(&hook_mutex);
}

void hook_unlock(void)
{
	pthread_mutex_unlock(&hook_mutex);
}

/* ---- byte emitter: the error is sticky, checked once at the end ---- */

struct emit {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uintptr_t base; /* runtime address of buf[0] */
	int err;
};

static void emit_bytes(struct emit *e, const void *p, size_t n)
{
	if (e->err)
		return;
	if (e->len + n > e->cap) {
		e->err = -E2BIG;
		return;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void emit1(struct emit *e, uint8_t b)
{
	emit_bytes(e, &b, 1);
}

static void emit4(struct emit *e, uint32_t v)
{
	emit_bytes(e, &v, 4);
}

static void emit8(struct emit *e, uint64_t v)
{
	emit_bytes(e, &v, 8);
}

static uintptr_t emit_pc(const struct emit *e)
{
	return e->base + e->len;
}

static bool fits_rel32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* op reg, [rsp + disp] (REX.W form); op is 0x89 (store) or 0x8B (load) */
static void emit_gpr_rsp(struct emit *e, uint8_t op, int reg, int disp)
{
	emit1(e, 0x48 | (reg >= 8 ? 0x04 : 0));
	emit1(e, op);
	if (disp >= -128 && disp <= 127) {
		emit1(e, 0x44 | ((reg & 7) << 3)); /* mod=01 rm=100 (SIB) */
		emit1(e, 0x24);			   /* base=rsp */
		emit1(e, (uint8_t)disp);
	} else {
		emit1(e, 0x84 | ((reg & 7) << 3)); /* mod=10 rm=100 */
		emit1(e, 0x24);
		emit4(e, (uint32_t)disp);
	}
}

/* movdqu [rsp + disp], xmmN (store, 0x7F) / movdqu xmmN, [rsp + disp] (load, 0x6F) */
static void emit_xmm_rsp(struct emit *e, uint8_t op, int reg, int disp)
{
	emit1(e, 0xF3);
	if (reg >= 8)
		emit1(e, 0x44); /* REX.R */
	emit1(e, 0x0F);
	emit1(e, op);
	emit1(e, 0x84 | ((reg & 7) << 3));
	emit1(e, 0x24);
	emit4(e, (uint32_t)disp);
}

/* lea rsp, [rsp + disp]: does not touch the flags, unlike add/sub */
static void emit_lea_rsp(struct emit *e, int disp)
{
	if (disp >= -128 && disp <= 127) {
		emit1(e, 0x48), emit1(e, 0x8D), emit1(e, 0x64), emit1(e, 0x24);
		emit1(e, (uint8_t)disp);
	} else {
		emit1(e, 0x48), emit1(e, 0x8D), emit1(e, 0xA4), emit1(e, 0x24);
		emit4(e, (uint32_t)disp);
	}
}

/* mov qword [rsp + disp], simm32 */
static void emit_store_imm(struct emit *e, int disp, int32_t imm)
{
	emit1(e, 0x48), emit1(e, 0xC7), emit1(e, 0x84), emit1(e, 0x24);
	emit4(e, (uint32_t)disp);
	emit4(e, (uint32_t)imm);
}

/* mov reg64, imm64 */
static void emit_mov_imm64(struct emit *e, int reg, uint64_t imm)
{
	emit1(e, 0x48 | (reg >= 8 ? 0x01 : 0));
	emit1(e, 0xB8 | (reg & 7));
	emit8(e, imm);
}

/* jmp target: rel32 when it reaches, else jmp [rip+0] with the address inline */
static void emit_jmp(struct emit *e, uintptr_t target)
{
	int64_t rel = (int64_t)target - (int64_t)(emit_pc(e) + 5);

	if (fits_rel32(rel)) {
		emit1(e, 0xE9);
		emit4(e, (uint32_t)rel);
	} else {
		emit1(e, 0xFF), emit1(e, 0x25), emit4(e, 0); /* jmp [rip+0] */
		emit8(e, target);
	}
}

/* ---- /proc/self/maps ---- */

struct map_ent {
	uintptr_t start, end;
	int prot;
	bool heap, stack, shared;
};

/* Reads /proc/self/maps into a malloc'd array (sorted, as the kernel writes it). */
static int read_maps(struct map_ent **out, size_t *cnt)
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

static const struct map_ent *find_map(const struct map_ent *m, size_t n, uintptr_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= m[i].start && addr < m[i].end)
			return &m[i];
	return NULL;
}

/* Maps one RW page within +-2 GiB of target: the free gap closest to it,
 * searching outward (gaps nearer first), hinted with MAP_FIXED_NOREPLACE so a
 * concurrent mapping is never clobbered.  The gap above [heap] is used only
 * at its top and the gap below [stack] only at its bottom, so neither loses
 * room to grow. */
static void *alloc_near(uintptr_t target)
{
	uintptr_t lo = target > (uintptr_t)REL32_WINDOW + MIN_MMAP_ADDR ? target - REL32_WINDOW
									: MIN_MMAP_ADDR;
	uintptr_t hi =
		target + REL32_WINDOW < MAX_USER_ADDR ? target + REL32_WINDOW : MAX_USER_ADDR;
	struct map_ent *m = NULL;
	size_t n = 0;
	void *res = NULL;

	for (int attempt = 0; attempt < 4 && !res; attempt++) {
		if (read_maps(&m, &n) < 0)
			return NULL;
		for (;;) {
			uintptr_t best = 0, best_dist = UINTPTR_MAX;

			for (size_t i = 0; i <= n; i++) {
				uintptr_t gs = i ? m[i - 1].end : MIN_MMAP_ADDR;
				uintptr_t ge = i < n ? m[i].start : MAX_USER_ADDR;
				uintptr_t cand;

				if (gs < lo)
					gs = lo;
				if (ge > hi)
					ge = hi;
				gs = (gs + PAGE_SIZE_4K - 1) & ~(PAGE_SIZE_4K - 1);
				ge &= ~(PAGE_SIZE_4K - 1);
				if (ge < gs + PAGE_SIZE_4K)
					continue;
				if (i && m[i - 1].heap)
					cand = ge - PAGE_SIZE_4K;
				else if (i < n && m[i].stack)
					cand = gs;
				else if (target < gs)
					cand = gs;
				else if (target >= ge)
					cand = ge - PAGE_SIZE_4K;
				else
					cand = target & ~(PAGE_SIZE_4K - 1);
				uintptr_t dist = cand > target ? cand - target : target - cand;

				if (dist < best_dist) {
					best_dist = dist;
					best = cand;
				}
			}
			if (!best)
				break;
			void *p = mmap((void *)best, PAGE_SIZE_4K, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p == (void *)best) {
				res = p;
				break;
			}
			if (p != MAP_FAILED) /* old kernel ignoring the flag: not where we want */
				munmap(p, PAGE_SIZE_4K);
			break; /* raced with another mapping: re-read the maps */
		}
		free(m);
		m = NULL;
	}
	return res;
}

/* ---- serializing other cores after a code write ---- */

static int sync_mode; /* 0 unknown, 1 membarrier SYNC_CORE, 2 TLB-flush fallback */
static bool mb_expedited;

static void sync_core_init(void)
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
	sync_core_init();
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
	int err = read_maps(&m, &n);

	if (err)
		return err;
	me = find_map(m, n, addr);
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

static void chain(const struct sigaction *old, int sig, siginfo_t *si, void *uc)
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
		chain(&old_mig_sa, sig, si, ucv);
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

static int text_poke(uintptr_t addr, const uint8_t *bytes, size_t len, struct hook_site *mig)
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

static struct hook_site *find_trap_site(uintptr_t addr)
{
	unsigned int n = atomic_load_explicit(&n_sites, memory_order_acquire);

	for (unsigned int i = 0; i < n; i++) {
		struct hook_site *s = sites[i];

		if (s->patch_addr == addr &&
		    atomic_load_explicit(&s->trap_armed, memory_order_acquire))
			return s;
	}
	return NULL;
}

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
	struct hook_site *s = si->si_code == SI_KERNEL ? find_trap_site(ip) : NULL;

	if (s) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)s->stub;
		errno = saved_errno;
		return;
	}
	errno = saved_errno;
	chain(&old_trap_sa, sig, si, ucv);
}

static int trap_install(void)
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

/* ---- relocation ---- */

static bool is_terminator(const ZydisDecodedInstruction *in)
{
	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_RET:
	case ZYDIS_MNEMONIC_JMP:
	case ZYDIS_MNEMONIC_INT3:
	case ZYDIS_MNEMONIC_UD0:
	case ZYDIS_MNEMONIC_UD1:
	case ZYDIS_MNEMONIC_UD2:
	case ZYDIS_MNEMONIC_HLT:
	case ZYDIS_MNEMONIC_IRET:
	case ZYDIS_MNEMONIC_IRETD:
	case ZYDIS_MNEMONIC_IRETQ:
		return true;
	default:
		return false;
	}
}

static int jcc_code(const ZydisDecodedInstruction *in)
{
	if (in->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT && in->opcode >= 0x70 && in->opcode <= 0x7F)
		return in->opcode & 0x0F;
	if (in->opcode_map == ZYDIS_OPCODE_MAP_0F && in->opcode >= 0x80 && in->opcode <= 0x8F)
		return in->opcode & 0x0F;
	return -1;
}

static bool reg_is(ZydisRegister r, ZydisRegister gpr64)
{
	return r != ZYDIS_REGISTER_NONE &&
	       ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r) == gpr64;
}

static bool insn_uses_reg(const ZydisDecodedOperand *ops, unsigned int n, ZydisRegister gpr64)
{
	for (unsigned int i = 0; i < n; i++) {
		const ZydisDecodedOperand *op = &ops[i];

		if (op->type == ZYDIS_OPERAND_TYPE_REGISTER && reg_is(op->reg.value, gpr64))
			return true;
		if (op->type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (reg_is(op->mem.base, gpr64) || reg_is(op->mem.index, gpr64)))
			return true;
	}
	return false;
}

/* A RIP-relative memory operand whose target is out of rel32 range from the
 * stub: the address goes into a scratch register the instruction does not
 * use, and the ModRM is rewritten from [rip+disp32] to [scratch]. */
static int reloc_abs_mem(struct emit *e, const uint8_t *code, const ZydisDecodedInstruction *in,
			 const ZydisDecodedOperand *ops, uint64_t target, char *err, size_t elen)
{
	static const struct {
		ZydisRegister reg;
		int id;
	} scratch[] = {
		{ ZYDIS_REGISTER_RAX, 0 }, { ZYDIS_REGISTER_RCX, 1 }, { ZYDIS_REGISTER_RDX, 2 },
		{ ZYDIS_REGISTER_RBX, 3 }, { ZYDIS_REGISTER_RSI, 6 }, { ZYDIS_REGISTER_RDI, 7 },
	};
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	size_t n = 0;
	int id = -1;

	if (in->mnemonic == ZYDIS_MNEMONIC_LEA) {
		ZydisRegister dst = ops[0].reg.value;
		int hw = ZydisRegisterGetId(dst);

		if (ops[0].size == 64) {
			emit_mov_imm64(e, hw, target);
			return 0;
		}
		if (ops[0].size == 32) { /* mov r32, imm32: the low half, zero-extended */
			if (hw >= 8)
				emit1(e, 0x41);
			emit1(e, 0xB8 | (hw & 7));
			emit4(e, (uint32_t)target);
			return 0;
		}
	}
	if (in->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY || in->raw.disp.size != 32 ||
	    in->raw.modrm.mod != 0 || in->raw.modrm.rm != 5) {
		snprintf(err, elen, "cannot materialize the rip-relative operand of %s",
			 ZydisMnemonicGetString(in->mnemonic));
		return -ENOTSUP;
	}
	if (insn_uses_reg(ops, in->operand_count, ZYDIS_REGISTER_RSP)) {
		snprintf(err, elen, "rip-relative %s out of range uses the stack",
			 ZydisMnemonicGetString(in->mnemonic));
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(scratch); i++) {
		if (!insn_uses_reg(ops, in->operand_count, scratch[i].reg)) {
			id = scratch[i].id;
			break;
		}
	}
	if (id < 0) {
		snprintf(err, elen, "no scratch register for %s",
			 ZydisMnemonicGetString(in->mnemonic));
		return -ENOTSUP;
	}
	memcpy(buf, code, in->raw.modrm.offset);
	n = in->raw.modrm.offset;
	if (in->attributes & ZYDIS_ATTRIB_HAS_REX)
		buf[in->raw.rex.offset] &= ~0x01; /* REX.B: [scratch] is a low register */
	buf[n++] = (uint8_t)((code[in->raw.modrm.offset] & 0x38) | id); /* mod=00 rm=scratch */
	memcpy(buf + n, code + in->raw.disp.offset + 4, in->length - in->raw.disp.offset - 4u);
	n += in->length - in->raw.disp.offset - 4u;
	emit_lea_rsp(e, -RED_ZONE); /* the push must not clobber the red zone */
	emit1(e, 0x50 | id);	    /* push scratch */
	emit_mov_imm64(e, id, target);
	emit_bytes(e, buf, n);
	emit1(e, 0x58 | id); /* pop scratch */
	emit_lea_rsp(e, RED_ZONE);
	return 0;
}

static int reloc_branch(struct emit *e, const ZydisDecodedInstruction *in, uint64_t target,
			char *err, size_t elen)
{
	int64_t rel;
	int cc;

	switch (in->mnemonic) {
	case ZYDIS_MNEMONIC_JMP:
		emit_jmp(e, target);
		return 0;
	case ZYDIS_MNEMONIC_CALL:
		/* returns into the stub, which then continues with the next
		 * relocated instruction and jumps back */
		rel = (int64_t)target - (int64_t)(emit_pc(e) + 5);
		if (fits_rel32(rel) && !hook_force_abs_reloc) {
			emit1(e, 0xE8);
			emit4(e, (uint32_t)rel);
		} else {
			emit1(e, 0xFF), emit1(e, 0x15), emit4(e, 2); /* call [rip+2] */
			emit1(e, 0xEB), emit1(e, 0x08);		     /* jmp over the address */
			emit8(e, target);
		}
		return 0;
	default:
		break;
	}
	cc = jcc_code(in);
	if (cc < 0) {
		snprintf(err, elen, "cannot relocate %s", ZydisMnemonicGetString(in->mnemonic));
		return -ENOTSUP;
	}
	rel = (int64_t)target - (int64_t)(emit_pc(e) + 6);
	if (fits_rel32(rel) && !hook_force_abs_reloc) {
		emit1(e, 0x0F), emit1(e, 0x80 | cc); /* jcc rel32 */
		emit4(e, (uint32_t)rel);
	} else {
		emit1(e, 0x70 | (cc ^ 1)), emit1(e, 14);     /* j!cc over the absolute jump */
		emit1(e, 0xFF), emit1(e, 0x25), emit4(e, 0); /* jmp [rip+0] */
		emit8(e, target);
	}
	return 0;
}

int hook_relocate(const uint8_t *code, uintptr_t addr, size_t min_len, size_t avail, uint8_t *out,
		  uintptr_t out_addr, size_t out_cap, struct hook_reloc *r, char *err, size_t elen)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct emit e = { .buf = out, .cap = out_cap, .base = out_addr };
	size_t off = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	/* pass 1: whole instructions covering min_len */
	while (off < min_len) {
		if (r->n_insns == HOOK_MAX_INSNS || off >= avail) {
			snprintf(err, elen, "no room for %zu bytes before the end of the code",
				 min_len);
			return -E2BIG;
		}
		if (ZYAN_FAILED(ZydisDecoderDecodeFull(&dec, code + off, avail - off, &in, ops))) {
			snprintf(err, elen, "cannot decode the instruction at +%zu", off);
			return -ENOTSUP;
		}
		if (in.mnemonic == ZYDIS_MNEMONIC_INT3) {
			/* someone else's breakpoint: the instruction it hides
			 * is unknown (a kernel uprobe on this page would also
			 * claim our int3 before any signal) */
			snprintf(err, elen,
				 "int3 at +%zu: a debugger breakpoint or a kernel uprobe is there",
				 off);
			return -EBUSY;
		}
		r->orig_off[r->n_insns++] = (uint8_t)off;
		off += in.length;
		r->ends_flow = is_terminator(&in);
		if (r->ends_flow && off < min_len) {
			snprintf(err, elen, "the code ends (%s) after %zu bytes",
				 ZydisMnemonicGetString(in.mnemonic), off);
			return -E2BIG;
		}
	}
	r->disp_len = off;
	/* pass 2: emit */
	for (unsigned int i = 0; i < r->n_insns; i++) {
		size_t o = r->orig_off[i];
		uintptr_t ia = addr + o;

		ZydisDecoderDecodeFull(&dec, code + o, avail - o, &in, ops);
		r->out_off[i] = (uint16_t)e.len;
		if (in.raw.imm[0].is_relative) {
			uint64_t target = ia + in.length + (uint64_t)in.raw.imm[0].value.s;

			if (target > addr && target < addr + r->disp_len) {
				snprintf(err, elen, "%s at +%zu branches into the patched bytes",
					 ZydisMnemonicGetString(in.mnemonic), o);
				return -ENOTSUP;
			}
			ret = reloc_branch(&e, &in, target, err, elen);
			if (ret)
				return ret;
		} else if ((in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) && in.raw.disp.size == 32) {
			uint64_t target = ia + in.length + (uint64_t)in.raw.disp.value;
			int64_t rel = (int64_t)target - (int64_t)(emit_pc(&e) + in.length);

			if (fits_rel32(rel) && !hook_force_abs_reloc) {
				int32_t d = (int32_t)rel;

				emit_bytes(&e, code + o, in.length);
				if (!e.err)
					memcpy(e.buf + e.len - in.length + in.raw.disp.offset, &d,
					       4);
			} else {
				ret = reloc_abs_mem(&e, code + o, &in, ops, target, err, elen);
				if (ret)
					return ret;
			}
		} else if (in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
			snprintf(err, elen, "cannot relocate %s",
				 ZydisMnemonicGetString(in.mnemonic));
			return -ENOTSUP;
		} else {
			emit_bytes(&e, code + o, in.length);
		}
	}
	if (!r->ends_flow)
		emit_jmp(&e, addr + r->disp_len);
	if (e.err) {
		snprintf(err, elen, "relocated code does not fit the stub");
		return e.err;
	}
	r->out_len = e.len;
	return 0;
}

/* Linear sweep of the enclosing function: a direct branch from outside the
 * displaced bytes to inside them (not to their start) would land in the
 * middle of the jmp.  Indirect branches (jump tables) cannot be checked. */
static int scan_func(uintptr_t func, size_t size, uintptr_t patch, size_t disp_len, char *err,
		     size_t elen)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction in;
	size_t off = 0;

	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	while (off < size) {
		uintptr_t ia = func + off;

		if (ZYAN_FAILED(ZydisDecoderDecodeInstruction(&dec, NULL, (const void *)ia,
							      size - off, &in)))
			break; /* data in the text: stop checking */
		if (in.raw.imm[0].is_relative && (ia < patch || ia >= patch + disp_len)) {
			uint64_t t = ia + in.length + (uint64_t)in.raw.imm[0].value.s;

			if (t > patch && t < patch + disp_len) {
				snprintf(
					err, elen,
					"%s at +%#zx jumps into the bytes the hook would overwrite",
					ZydisMnemonicGetString(in.mnemonic), (size_t)(ia - func));
				return -ENOTSUP;
			}
		}
		off += in.length;
	}
	return 0;
}

/* ---- stubs ---- */

/* ORDER REG: hardware number -> struct bpftime_pt_regs offset */
static const struct {
	int hw;
	int off;
} gpr_slots[] = {
	{ 0, PT(rax) },	 { 1, PT(rcx) },  { 2, PT(rdx) },  { 3, PT(rbx) },  { 5, PT(rbp) },
	{ 6, PT(rsi) },	 { 7, PT(rdi) },  { 8, PT(r8) },   { 9, PT(r9) },   { 10, PT(r10) },
	{ 11, PT(r11) }, { 12, PT(r12) }, { 13, PT(r13) }, { 14, PT(r14) }, { 15, PT(r15) },
};

/* caller-saved GPRs the stub reloads (plus rbx, its frame register) */
static const int reload_hw[] = { 7, 6, 2, 1, 8, 9, 10, 11, 0, 3 };

static int hw_slot(int hw)
{
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		if (gpr_slots[i].hw == hw)
			return gpr_slots[i].off;
	return -1;
}

/* Extended state inside a function: any vector register may be live, with
 * its upper halves (ymm/zmm), and handlers that call glibc's string functions
 * use AVX and end with vzeroupper.  Those sites save it with xsave (x87, SSE,
 * AVX, AVX-512: not AMX, whose tiles handlers never touch and which would
 * need 8 KiB of stack), or fxsave without OSXSAVE. */
#define XSAVE_WANTED 0xE7u /* x87 | SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM */

static uint32_t xsave_mask; /* 0: fxsave */
static int xsave_area = 512;

static void xsave_init(void)
{
	static bool done;
	unsigned int a, b, c, d;
	uint32_t xcr0_lo, xcr0_hi;

	if (done)
		return;
	done = true;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return;
	__asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
	xsave_mask = xcr0_lo & XSAVE_WANTED;
	xsave_area = 512 + 64; /* legacy area + header */
	for (int i = 2; i < 8; i++) {
		if (!(xsave_mask & (1u << i)) ||
		    !__get_cpuid_count(0xD, (unsigned int)i, &a, &b, &c, &d))
			continue;
		if ((int)(a + b) > xsave_area)
			xsave_area = (int)(a + b); /* size + offset in the standard form */
	}
}

static int build_stub(struct hook_site *s, const uint8_t *code, size_t min_len, size_t avail,
		      char *err, size_t elen)
{
	/* at an entry xmm0-7 carry arguments and the rest is dead */
	int nxmm = s->entry ? 8 : 0;
	int frame = PT_REGS_SIZE + nxmm * 16;
	uint8_t *page = alloc_near(s->patch_addr);
	struct emit e;
	struct hook_reloc r;
	size_t jz_at;
	int ret;

	if (!page) {
		snprintf(err, elen, "no free page within 2 GiB");
		return -ENOMEM;
	}
	e = (struct emit){ .buf = page, .cap = HOOK_STUB_SIZE, .base = (uintptr_t)page };
	emit_lea_rsp(&e, -RED_ZONE);
	emit_lea_rsp(&e, -frame);
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		emit_gpr_rsp(&e, 0x89, gpr_slots[i].hw, gpr_slots[i].off); /* mov [rsp+off], reg */
	for (int i = 0; i < nxmm; i++)
		emit_xmm_rsp(&e, 0x7F, i, PT_REGS_SIZE + 16 * i); /* movdqu [rsp+off], xmmI */
	emit1(&e, 0x9C);					  /* pushfq */
	emit1(&e, 0x58);					  /* pop rax */
	emit_gpr_rsp(&e, 0x89, 0, PT(eflags));
	emit1(&e, 0x48), emit1(&e, 0x8D), emit1(&e, 0x84), emit1(&e, 0x24); /* lea rax,[rsp+X] */
	emit4(&e, (uint32_t)(frame + RED_ZONE));
	emit_gpr_rsp(&e, 0x89, 0, PT(rsp));
	emit_mov_imm64(&e, 0, s->req_addr);
	emit_gpr_rsp(&e, 0x89, 0, PT(rip));
	emit_store_imm(&e, PT(orig_rax), -1);
	emit_store_imm(&e, PT(cs), USER_CS);
	emit_store_imm(&e, PT(ss), USER_SS);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE3); /* mov rbx, rsp */
	if (s->entry) {
		emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4),
			emit1(&e, 0xF0); /* and rsp,-16 */
	} else {
		xsave_init();
		emit_lea_rsp(&e, -xsave_area);
		emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4),
			emit1(&e, 0xC0); /* and rsp,-64 */
		if (xsave_mask) {
			/* xrstor faults on a header with reserved bytes set,
			 * and xsave writes only its first 8 */
			for (int i = 0; i < 8; i++)
				emit_store_imm(&e, 512 + 8 * i, 0);
			emit1(&e, 0xB8), emit4(&e, xsave_mask); /* mov eax, mask */
			emit1(&e, 0x31), emit1(&e, 0xD2);	/* xor edx, edx */
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x24);
			emit1(&e, 0x24); /* xsave64 [rsp] */
		} else {
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x04);
			emit1(&e, 0x24); /* fxsave64 [rsp] */
		}
	}
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDF); /* mov rdi, rbx */
	emit_mov_imm64(&e, 6, (uintptr_t)s);		   /* mov rsi, site */
	emit_mov_imm64(&e, 0, (uintptr_t)hook_entry);	   /* mov rax, fn */
	emit1(&e, 0xFF), emit1(&e, 0xD0);		   /* call rax */
	if (!s->entry) {
		emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xC1); /* mov rcx, rax */
		if (xsave_mask) {
			emit1(&e, 0xB8), emit4(&e, xsave_mask); /* mov eax, mask */
			emit1(&e, 0x31), emit1(&e, 0xD2);	/* xor edx, edx */
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x2C);
			emit1(&e, 0x24); /* xrstor64 [rsp] */
		} else {
			emit1(&e, 0x48), emit1(&e, 0x0F), emit1(&e, 0xAE), emit1(&e, 0x0C);
			emit1(&e, 0x24); /* fxrstor64 [rsp] */
		}
		emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xC8); /* mov rax, rcx */
	}
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDC); /* mov rsp, rbx */
	emit1(&e, 0x48), emit1(&e, 0x85), emit1(&e, 0xC0); /* test rax, rax */
	emit1(&e, 0x74), emit1(&e, 0);			   /* jz .normal */
	jz_at = e.len;
	/* .override: return regs->rax to the caller without running the function */
	emit_gpr_rsp(&e, 0x8B, 0, PT(rax));
	emit_gpr_rsp(&e, 0x8B, 3, PT(rbx));
	emit_lea_rsp(&e, frame + RED_ZONE);
	emit1(&e, 0xC3); /* ret */
	if (!e.err)
		e.buf[jz_at - 1] = (uint8_t)(e.len - jz_at);
	/* .normal */
	if (!s->entry) {
		emit_gpr_rsp(&e, 0x8B, 0, PT(eflags));
		emit1(&e, 0x50); /* push rax */
		emit1(&e, 0x9D); /* popfq */
	}
	for (int i = 0; i < nxmm; i++)
		emit_xmm_rsp(&e, 0x6F, i, PT_REGS_SIZE + 16 * i);
	for (size_t i = 0; i < ARRAY_SIZE(reload_hw); i++)
		emit_gpr_rsp(&e, 0x8B, reload_hw[i], hw_slot(reload_hw[i]));
	emit_lea_rsp(&e, frame + RED_ZONE);
	if (e.err) {
		snprintf(err, elen, "stub does not fit");
		ret = e.err;
		goto fail;
	}
	ret = hook_relocate(code, s->patch_addr, min_len, avail, e.buf + e.len, emit_pc(&e),
			    e.cap - e.len, &r, err, elen);
	if (ret)
		goto fail;
	s->stub = page;
	s->reloc = page + e.len;
	s->disp_len = r.disp_len;
	s->n_insns = r.n_insns;
	memcpy(s->orig_off, r.orig_off, sizeof(s->orig_off));
	memcpy(s->reloc_off, r.out_off, sizeof(s->reloc_off));
	memset(page + e.len + r.out_len, 0xCC, HOOK_STUB_SIZE - e.len - r.out_len);
	if (mprotect(page, HOOK_STUB_SIZE, PROT_READ | PROT_EXEC) < 0) {
		ret = -errno;
		snprintf(err, elen, "mprotect of the stub failed");
		goto fail;
	}
	return 0;
fail:
	munmap(page, HOOK_STUB_SIZE);
	return ret;
}

/* The shared uretprobe trampoline: the hijacked return lands here with the
 * function's rax/rdx/xmm0/xmm1 live.  It builds pt_regs, asks
 * hook_dispatch_return for the real return address (running the return
 * handlers) and jumps there with the return registers restored. */
int hook_ret_tramp_get(uintptr_t *tramp)
{
	const int frame = PT_REGS_SIZE + 2 * 16;
	struct emit e;
	uint8_t *page;

	if (hook_ret_tramp_addr) {
		*tramp = hook_ret_tramp_addr;
		return 0;
	}
	page = mmap(NULL, PAGE_SIZE_4K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return -errno;
	e = (struct emit){ .buf = page, .cap = PAGE_SIZE_4K, .base = (uintptr_t)page };
	emit_lea_rsp(&e, -8);				   /* slot for the real return address */
	emit1(&e, 0x53);				   /* push rbx */
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE3); /* mov rbx, rsp */
	emit_lea_rsp(&e, -frame);
	emit1(&e, 0x48), emit1(&e, 0x83), emit1(&e, 0xE4), emit1(&e, 0xF0); /* and rsp, -16 */
	for (size_t i = 0; i < ARRAY_SIZE(gpr_slots); i++)
		if (gpr_slots[i].hw != 3)
			emit_gpr_rsp(&e, 0x89, gpr_slots[i].hw, gpr_slots[i].off);
	emit_xmm_rsp(&e, 0x7F, 0, PT_REGS_SIZE);
	emit_xmm_rsp(&e, 0x7F, 1, PT_REGS_SIZE + 16);
	emit1(&e, 0x48), emit1(&e, 0x8B), emit1(&e, 0x03); /* mov rax, [rbx] (caller's rbx) */
	emit_gpr_rsp(&e, 0x89, 0, PT(rbx));
	emit1(&e, 0x48), emit1(&e, 0x8D), emit1(&e, 0x43), emit1(&e, 0x10); /* lea rax,[rbx+16] */
	emit_gpr_rsp(&e, 0x89, 0, PT(rsp));
	emit1(&e, 0x9C); /* pushfq */
	emit1(&e, 0x58); /* pop rax */
	emit_gpr_rsp(&e, 0x89, 0, PT(eflags));
	emit_store_imm(&e, PT(orig_rax), -1);
	emit_store_imm(&e, PT(cs), USER_CS);
	emit_store_imm(&e, PT(ss), USER_SS);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xE7); /* mov rdi, rsp */
	emit_mov_imm64(&e, 0, (uintptr_t)hook_dispatch_return);
	emit1(&e, 0xFF), emit1(&e, 0xD0);				    /* call rax */
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0x43), emit1(&e, 0x08); /* mov [rbx+8], rax */
	emit_gpr_rsp(&e, 0x8B, 0, PT(rax));
	emit_gpr_rsp(&e, 0x8B, 2, PT(rdx));
	emit_xmm_rsp(&e, 0x6F, 0, PT_REGS_SIZE);
	emit_xmm_rsp(&e, 0x6F, 1, PT_REGS_SIZE + 16);
	emit1(&e, 0x48), emit1(&e, 0x89), emit1(&e, 0xDC); /* mov rsp, rbx */
	emit1(&e, 0x5B);				   /* pop rbx */
	/* An indirect jmp, not ret: the return-stack predictor is off by one
	 * frame here (the hijacked ret consumed its entry), while the
	 * indirect predictor learns the usual return address.  [rsp-8] is
	 * safe after the lea: signal frames start below the red zone. */
	emit_lea_rsp(&e, 8);
	emit1(&e, 0xFF), emit1(&e, 0x64), emit1(&e, 0x24), emit1(&e, 0xF8); /* jmp [rsp-8] */
	if (e.err || mprotect(page, PAGE_SIZE_4K, PROT_READ | PROT_EXEC) < 0) {
		munmap(page, PAGE_SIZE_4K);
		return e.err ? e.err : -errno;
	}
	hook_ret_tramp_addr = (uintptr_t)page;
	*tramp = hook_ret_tramp_addr;
	return 0;
}

/* ---- sites ---- */

static bool is_endbr64(const uint8_t *p)
{
	return p[0] == 0xF3 && p[1] == 0x0F && p[2] == 0x1E && p[3] == 0xFA;
}

static struct hook_site *find_site(uintptr_t addr)
{
	unsigned int n = atomic_load_explicit(&n_sites, memory_order_acquire);

	for (unsigned int i = 0; i < n; i++)
		if (sites[i]->req_addr == addr || sites[i]->patch_addr == addr)
			return sites[i];
	return NULL;
}

int hook_site_get(uintptr_t addr, const struct hook_site_opts *o, struct hook_site **out)
{
	struct hook_site *s;
	struct hook_list *empty;
	struct map_ent *m = NULL;
	const struct map_ent *me;
	size_t n, avail;
	uintptr_t func_end = 0;
	char err[160] = "";
	int ret;

	s = find_site(addr);
	if (s) {
		if (s->entry && o->inside_func) {
			pr_warn("probe at %#" PRIxPTR ": already hooked as a function entry\n",
				addr);
			return -EINVAL;
		}
		*out = s;
		return 0;
	}
	if (atomic_load(&n_sites) == HOOK_MAX_SITES) {
		pr_warn("probe at %#" PRIxPTR ": too many hooked addresses (%d)\n", addr,
			HOOK_MAX_SITES);
		return -ENOSPC;
	}
	ret = read_maps(&m, &n);
	if (ret)
		return ret;
	me = find_map(m, n, addr);
	if (!me || !(me->prot & PROT_EXEC) || !(me->prot & PROT_READ)) {
		free(m);
		pr_warn("probe at %#" PRIxPTR ": not in executable memory\n", addr);
		return -EINVAL;
	}
	if (me->shared) {
		/* writing it would change the file or other processes' code */
		free(m);
		pr_warn("probe at %#" PRIxPTR ": in a shared mapping\n", addr);
		return -EINVAL;
	}
	/* decode no further than the mapping (or the readable run after it) */
	avail = me->end - addr;
	if (avail < 64 && me + 1 < m + n && me[1].start == me->end && (me[1].prot & PROT_READ))
		avail += me[1].end - me[1].start;
	free(m);
	if (avail > 64)
		avail = 64;

	s = calloc(1, sizeof(*s));
	empty = calloc(1, sizeof(*empty));
	if (!s || !empty) {
		free(s);
		free(empty);
		return -ENOMEM;
	}
	s->req_addr = addr;
	s->patch_addr = addr;
	s->entry = !o->inside_func;
	if (avail >= 4 && is_endbr64((const uint8_t *)addr)) {
		s->patch_addr += 4;
		avail -= 4;
	}
	if (o->func_size) {
		uintptr_t f = o->func ? (uintptr_t)o->func : addr;

		func_end = f + o->func_size;
		if (s->patch_addr >= func_end) {
			pr_warn("probe at %#" PRIxPTR ": outside the function\n", addr);
			ret = -EINVAL;
			goto fail;
		}
		if (func_end - s->patch_addr < avail)
			avail = func_end - s->patch_addr;
	}
	sync_core_init();
	ret = -E2BIG;
	if (!o->force_trap && avail >= HOOK_JMP_LEN) {
		s->mode = BPFTIME_PROBE_MODE_JMP;
		s->patch_len = HOOK_JMP_LEN;
		ret = build_stub(s, (const uint8_t *)s->patch_addr, HOOK_JMP_LEN, avail, err,
				 sizeof(err));
		if (!ret && o->func_size)
			ret = scan_func(o->func ? (uintptr_t)o->func : addr, o->func_size,
					s->patch_addr, s->disp_len, err, sizeof(err));
		if (ret && s->stub) {
			munmap(s->stub, HOOK_STUB_SIZE);
			s->stub = NULL;
		}
	}
	/* Too short, or bytes a jmp cannot take over (a branch into them, an
	 * instruction that cannot be relocated): an int3 displaces only the
	 * first instruction. */
	if (ret == -E2BIG || ret == -ENOTSUP) {
		if (!o->force_trap)
			pr_warn("probe at %#" PRIxPTR ": %s (%s): using an int3 trap, "
				"about 1 us per hit\n",
				addr, ret == -E2BIG ? "too short for a jmp" : "no jmp possible",
				avail < HOOK_JMP_LEN ? "function ends" : err);
		err[0] = 0;
		s->mode = BPFTIME_PROBE_MODE_TRAP;
		s->patch_len = 1;
		ret = build_stub(s, (const uint8_t *)s->patch_addr, 1, avail, err, sizeof(err));
		if (!ret)
			ret = trap_install();
	}
	if (ret) {
		if (err[0])
			pr_warn("probe at %#" PRIxPTR ": %s\n", addr, err);
		if (ret == -E2BIG)
			ret = -ENOTSUP;
		goto fail;
	}
	memcpy(s->orig, (const void *)s->patch_addr,
	       s->disp_len < HOOK_ORIG_MAX ? s->disp_len : HOOK_ORIG_MAX);
	empty->dispatch = hook_dispatch_empty;
	empty->site = s;
	atomic_init(&s->list, empty);
	s->retired = NULL;
	sites[atomic_load(&n_sites)] = s;
	atomic_fetch_add_explicit(&n_sites, 1, memory_order_release);
	pr_debug("probe at %#" PRIxPTR ": %s site, %zu bytes displaced, stub %p\n", addr,
		 s->mode == BPFTIME_PROBE_MODE_JMP ? "jmp" : "int3", s->disp_len, s->stub);
	*out = s;
	return 0;
fail:
	if (s->stub)
		munmap(s->stub, HOOK_STUB_SIZE);
	free(s);
	free(empty);
	return ret;
}

int hook_site_patch(struct hook_site *s)
{
	uint8_t bytes[HOOK_JMP_LEN];
	int ret;

	if (s->state == HOOK_STATE_PATCHED)
		return 0;
	if (memcmp((const void *)s->patch_addr, s->orig, s->patch_len)) {
		pr_warn("probe at %#" PRIxPTR ": code changed since the stub was built\n",
			s->req_addr);
		return -EBUSY;
	}
	ret = trap_install();
	if (ret)
		return ret;
	/* armed before any int3 can be written; never disarmed (see trap_handler) */
	atomic_store(&s->trap_armed, 1);
	if (s->mode == BPFTIME_PROBE_MODE_JMP) {
		int32_t rel = (int32_t)((intptr_t)s->stub - (intptr_t)(s->patch_addr + 5));

		bytes[0] = 0xE9; /* jmp rel32 */
		memcpy(bytes + 1, &rel, 4);
	} else {
		bytes[0] = 0xCC; /* int3 */
	}
	ret = text_poke(s->patch_addr, bytes, s->patch_len, s);
	if (ret) {
		pr_warn("probe at %#" PRIxPTR ": cannot write the code: %s\n", s->req_addr,
			strerror(-ret));
		return ret;
	}
	s->state = HOOK_STATE_PATCHED;
	return 0;
}

int hook_site_unpatch(struct hook_site *s)
{
	int ret;

	if (s->state == HOOK_STATE_IDLE)
		return 0;
	ret = text_poke(s->patch_addr, s->orig, s->patch_len, NULL);
	if (ret) {
		pr_warn("probe at %#" PRIxPTR ": cannot restore the code: %s\n", s->req_addr,
			strerror(-ret));
		return ret;
	}
	s->state = HOOK_STATE_IDLE;
	return 0;
}
