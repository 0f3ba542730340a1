/* SPDX-License-Identifier: MIT */
/* agent/agent.c: the agent's core: a runtime over the segment, the set of
 * probes this process runs, and the thread that keeps that set in line with
 * the segment.
 *
 * What concerns this process.  Each link whose target is a uprobe,
 * uretprobe or override perf event (types 6, 7, 1008), and each program
 * whose attach_fds name such an event (bpftime's older form, e.g. imported
 * JSON), gives one attachment (program, perf event) when the event is
 * enabled, its pid is -1 or ours, and its module is mapped here (matched by
 * device and inode, attach/resolve.c).  A uprobe whose program calls
 * bpf_override_return (helper 58) is attached as an override probe, so an
 * unmodified libbpf loader with SEC("uprobe") and bpf_override_return gets
 * what it asked for.
 *
 * One probe per attachment: adding or removing one program never disturbs
 * the others on the same function, and probes at one address run in attach
 * order.  The handler runs the program's VM with ctx = the stub's struct
 * pt_regs (the kernel's layout).
 *
 * Links are found by object id, not by slot: a link lives as long as an fd
 * or a pin holds it, as in the kernel, and one whose loader pinned it and
 * closed its fd (bpf_link__pin, then close) is named by no slot.  Each sync
 * reads the links once (collect_links) for the uprobes here, the syscall
 * tracepoints (systp.c) and the timed events (profile.c); a link whose last
 * holder goes (rm of its pin) is detached by the sync its epoch bump wakes.
 *
 * Following the segment.  agent_sync() compares the wanted set with the
 * attached one and attaches/detaches the difference.  The watcher thread
 * reads the epoch, syncs, and waits on the epoch futex for the next change
 * (bpftime_shm__wait_epoch), so nothing polls.  Detach is safe while other
 * threads run the function: attach/ never frees a site or a probe list, and
 * the attachment records a handler reads are retired, never freed, since a
 * thread may still be inside the handler after detach returns; the VMs live
 * as long as the runtime, which lives as long as the process.
 *
 * Failures.  A program that does not build, a module offset that cannot be
 * hooked: one warning per program / perf event, then that attachment is
 * left out (not retried on every epoch).  A passing failure is retried:
 * -EAGAIN from attach/ (threads in the way of the patch) every
 * AGENT_RETRY_MS, and in the constructor at once (the program should start
 * with its probes); -EBUSY (a debugger's or a kernel uprobe's int3 at the
 * site) every AGENT_BUSY_RETRY_MS after one warning.  Without such a
 * failure the watcher waits without a timeout.
 *
 * The agent's own calls.  Probes hit on a thread working for the agent (the
 * watcher, the dl thread, the constructor's sync) do not run programs, so a
 * probe on malloc counts the program's calls, not the agent's bookkeeping
 * or attach/'s while it patches.
 *
 * Libraries loaded later and fork: see watch_dlopen() and agent_fork_child().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <bpftime/attach.h>
#include <bpftime/log.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/syscall_hook.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define AGENT_RETRY_MS	       50   /* retry period for passing attach failures */
#define AGENT_BUSY_RETRY_MS    1000 /* retry period while a breakpoint holds a site */
#define AGENT_START_TRIES      20   /* the constructor's retries before main runs */
#define AGENT_CHECK_MS	       500  /* how often the watcher checks the segment is still there */
#define HELPER_OVERRIDE_RETURN 58
#define HELPER_GET_STACKID     27
#define HELPER_GET_STACK       67

/* One (program, perf event) pair.  Identity: the link's object id (0 for an
 * attach_fds pair), the program's and the perf event's object ids. */
struct attachment {
	uint32_t link_id, prog_id, perf_id;
	struct bpftime_vm *vm;
	struct bpftime_probe *probe;
	uint64_t cookie;
	bool seen;	 /* wanted by the sync in progress */
	bool needs_cpu;	 /* its runs own a per-CPU slot (bpftime_runtime__needs_cpu) */
	bool func_entry; /* probed instruction: push %rbp or endbr64 (stack walks) */
	struct attachment *next;
};

/* What a sync wants, read from the segment. */
struct want {
	uint32_t link_id, prog_id, perf_id;
	int prog_fd, perf_fd;
	uint64_t cookie;
};

static struct {
	pthread_mutex_t lock;
	struct bpftime_shm *shm;
	struct bpftime_runtime *rt;
	pid_t pid;
	bool started;
	bool stopping;
	bool watching;
	pthread_t watcher;
	struct attachment *live;    /* attached now */
	struct attachment *retired; /* detached, kept for threads still inside */
	/* warned once: 0 program, 1 perf event, 2 perf event busy (retried) */
	struct agent_warned failed;
	bool in_sync; /* sync_locked is running (a fork then leaves the child alone) */
	int retry_ms; /* an attachment failed for a passing reason: retry after */
	bool pending; /* a wanted perf event's module is not mapped here (yet) */
	/* libraries loaded later: a probe on the dynamic linker's r_brk wakes
	 * the dl thread, which syncs again */
	bool dl_watched; /* tried once: the probe and the thread exist, or failed */
	_Atomic uint32_t dl_seq;
	int n_attached;
	_Atomic uint64_t syncs;
	_Atomic uint32_t synced_epoch;
} agent = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- handlers (hot path: no locks, no allocation, no logging) ---------- */

/* Set on a thread while it works for the agent (the watcher always, the
 * constructor during its sync): probes hit by the agent's own calls (malloc
 * in libelf or in attach/ while it patches) are not the program's and do
 * not run, as the kernel does not trace its own uprobe machinery. */
static __thread bool agent_busy __attribute__((tls_model("initial-exec")));

BPFTIME_HOT_FIRST bool agent_is_busy(void)
{
	return agent_busy;
}

uintptr_t agent_busy_tp_offset(void)
{
	return (uintptr_t)&agent_busy - (uintptr_t)__builtin_thread_pointer();
}

/* Runs in progress on this thread of programs that own no per-CPU slot
 * (bpftime_shm__cpu_busy() counts the others): a profile sample does not
 * run a program inside one (it could wait on a lock the interrupted run
 * holds). */
static __thread uint32_t agent_runs __attribute__((tls_model("initial-exec")));

bool agent_in_run(void)
{
	return agent_runs || bpftime_shm__cpu_busy();
}

/* BPFTIME_PERCPU_CLAIM=always: every run owns a slot, as before the
 * per-program decision (for measuring it, and as a way back) */
static bool claim_always;

/* ---- run statistics -------------------------------------------------------
 *
 * The kernel counts run_cnt and run_time_ns of every program run from its
 * hooks while run statistics are on (a BPF_ENABLE_STATS fd open anywhere,
 * or the kernel.bpf_stats_enabled sysctl); bpftool prog show prints them.
 * Here: while the segment's count of BPF_ENABLE_STATS fds is not zero.
 * The sysctl is the host kernel's switch and is not followed by the hooks
 * (test runs follow it, runtime/): tests and benchmarks flip it on a shared
 * host, and a traced process would then pay for statistics nobody of its
 * segment asked for; a loader that wants them opens the fd.  Off, a
 * uprobe or profile run pays one load of agent_stats_word's word and one
 * branch; syscall tracepoints read a copy in their dispatch table
 * (BPF_ENABLE_STATS turning on or off bumps the epoch, and the sync makes
 * a new table: no page more per syscall).  On, two clock reads and an
 * update of the program's record, found by id (the link holds it; no slot
 * of this process names it), under the segment's id lock. */
static const uint32_t stats_never;
const uint32_t *agent_stats_word = &stats_never;

uint64_t agent_stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void agent_stats_add(struct bpftime_shm *shm, uint32_t prog_id, uint64_t t0)
{
	uint64_t ns = agent_stats_now() - t0;
	bool was = agent_busy;

	/* the segment's lock is taken: no probe, syscall tracepoint or
	 * profile sample of this thread runs a program meanwhile */
	agent_busy = true;
	bpftime_prog_stats_add_by_id(shm, prog_id, 1, ns);
	agent_busy = was;
}

static inline __attribute__((always_inline)) void run_vm(struct attachment *a,
							 struct bpftime_pt_regs *regs)
{
	uint64_t ret;

	/* a run that touches per-CPU data owns a per-CPU slot, as a kernel
	 * program owns its CPU; the others skip the claim (a CAS on a shared
	 * line per run) */
	if (a->needs_cpu) {
		bpftime_shm__cpu_get(agent.shm);
		bpftime_vm__run(a->vm, regs, sizeof(*regs), &ret);
		bpftime_shm__cpu_put(agent.shm);
	} else {
		agent_runs++;
		atomic_signal_fence(memory_order_seq_cst);
		bpftime_vm__run(a->vm, regs, sizeof(*regs), &ret);
		atomic_signal_fence(memory_order_seq_cst);
		agent_runs--;
	}
}

static __attribute__((noinline)) void run_timed(struct attachment *a, struct bpftime_pt_regs *regs)
{
	uint64_t t0;

	agent_runs++; /* no profile sample inside the update either */
	t0 = agent_stats_now();
	run_vm(a, regs);
	agent_stats_add(agent.shm, a->prog_id, t0);
	agent_runs--;
}

static void run_prog(struct bpftime_pt_regs *regs, void *data)
{
	struct attachment *a = data;

	if (unlikely(agent_busy) || unlikely(bpftime_shm__gone(agent.shm)))
		return;
	if (unlikely(agent_stats_on()))
		run_timed(a, regs);
	else
		run_vm(a, regs);
}

/* the override verdict comes from bpf_override_return (the thread's probe
 * record), not from the program's return value */
static int run_override(struct bpftime_pt_regs *regs, void *data)
{
	run_prog(regs, data);
	return 0;
}

/* programs that walk the stack get the probed thread's registers as the
 * helpers' context, so the walk starts at the probed function */
static void run_prog_stack(struct bpftime_pt_regs *regs, void *data)
{
	const struct attachment *a = data;
	struct bpftime_helper_ctx ctx = { .regs = regs, .func_entry = a->func_entry }, *prev;

	prev = bpftime_helper_ctx__swap(&ctx);
	run_prog(regs, data);
	bpftime_helper_ctx__swap(prev);
}

static int run_override_stack(struct bpftime_pt_regs *regs, void *data)
{
	run_prog_stack(regs, data);
	return 0;
}

/* ---- bookkeeping -------------------------------------------------------- */

bool agent_warned_has(const struct agent_warned *w, uint32_t kind, uint32_t id)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].kind == kind && w->v[i].id == id)
			return true;
	return false;
}

void agent_warned_add(struct agent_warned *w, uint32_t kind, uint32_t id)
{
	typeof(w->v) t = mem_realloc(w->v, (w->n + 1) * sizeof(*t));

	if (!t)
		return;
	w->v = t;
	w->v[w->n].kind = kind;
	w->v[w->n].id = id;
	w->n++;
}

static bool has_failed(uint32_t kind, uint32_t id)
{
	return agent_warned_has(&agent.failed, kind, id);
}

static void mark_failed(uint32_t kind, uint32_t id)
{
	agent_warned_add(&agent.failed, kind, id);
}

/* does the program call helper @id? */
static bool calls_helper(struct bpftime_vm *vm, int32_t id)
{
	const struct bpftime_insn *insns;
	size_t cnt;

	insns = bpftime_vm__insns(vm, &cnt);
	for (size_t i = 0; insns && i < cnt; i++)
		if (insns[i].code == 0x85 /* call */ && insns[i].src == 0 && insns[i].imm == id)
			return true;
	return false;
}

static bool is_uprobe_type(int32_t type)
{
	return type == BPFTIME_PERF_TYPE_UPROBE || type == BPFTIME_PERF_TYPE_URETPROBE ||
	       type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE;
}

/* Does the perf event at @fd (-1: the one with object id @id, which a link
 * holds) concern this process?  Fills @pi. */
static bool perf_wanted(int fd, uint32_t id, struct bpftime_perf_event_info *pi)
{
	if ((fd >= 0 ? bpftime_perf_event_get_info(agent.shm, fd, pi)
		     : bpftime_perf_event_get_info_by_id(agent.shm, id, pi)) ||
	    !is_uprobe_type(pi->type))
		return false;
	if (!pi->enabled || (pi->pid != -1 && pi->pid != agent.pid))
		return false;
	return pi->module && *pi->module;
}

static int add_want(struct want **w, size_t *n, size_t *cap, const struct want *x)
{
	for (size_t i = 0; i < *n; i++)
		if ((*w)[i].link_id == x->link_id && (*w)[i].prog_id == x->prog_id &&
		    (*w)[i].perf_id == x->perf_id)
			return 0;
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct want *t = mem_realloc(*w, ncap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		*w = t;
		*cap = ncap;
	}
	(*w)[(*n)++] = *x;
	return 0;
}

/* The links of the segment, in id order (creation order: attach order for
 * one loader), by id: whatever holds them, an fd in some process or only a
 * pin.  Fills a new array. */
static int collect_links(struct bpftime_link_info **out, size_t *nout)
{
	struct bpftime_link_info *v = NULL;
	size_t n = 0, cap = 0;
	uint32_t id = 0;

	while (!bpftime_handler_next_id(agent.shm, BPFTIME_HANDLER_LINK, id, &id)) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct bpftime_link_info *t = mem_realloc(v, ncap * sizeof(*t));

			if (!t) {
				free(v);
				return -ENOMEM;
			}
			v = t;
			cap = ncap;
		}
		/* gone since the walk saw it: skipped */
		if (!bpftime_link_get_info_by_id(agent.shm, id, &v[n]))
			n++;
	}
	*out = v;
	*nout = n;
	return 0;
}

/* Reads the wanted attachments from the segment into a new array. */
static int collect(const struct bpftime_link_info *links, size_t nlinks, struct want **out,
		   size_t *nout)
{
	struct want *w = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	/* the link holds its program and perf event: they may have no fd
	 * left (a pinned link of a loader that exited), so both by id */
	for (size_t i = 0; !err && i < nlinks; i++) {
		const struct bpftime_link_info *li = &links[i];
		struct bpftime_perf_event_info pi;

		if (!li->prog_id || !li->target_id || !perf_wanted(-1, li->target_id, &pi))
			continue;
		err = add_want(&w, &n, &cap,
			       &(struct want){ .link_id = li->id,
					       .prog_id = li->prog_id,
					       .perf_id = pi.id,
					       .prog_fd = -1,
					       .perf_fd = -1,
					       .cookie = li->cookie ? li->cookie : pi.cookie });
	}
	for (int fd = bpftime_handler_next(agent.shm, -1); !err && fd >= 0;
	     fd = bpftime_handler_next(agent.shm, fd)) {
		struct bpftime_handler_info hi;
		struct bpftime_perf_event_info pi;
		struct bpftime_prog_info gi;

		if (bpftime_handler_get_info(agent.shm, fd, &hi))
			continue;
		if (hi.type == BPFTIME_HANDLER_PROG) {
			if (bpftime_prog_get_info(agent.shm, fd, &gi))
				continue;
			for (uint32_t i = 0; !err && i < gi.attach_cnt; i++) {
				if (!perf_wanted(gi.attach_fds[i], 0, &pi))
					continue;
				err = add_want(&w, &n, &cap,
					       &(struct want){ .prog_id = hi.id,
							       .perf_id = pi.id,
							       .prog_fd = fd,
							       .perf_fd = gi.attach_fds[i],
							       .cookie = pi.cookie });
			}
		}
	}
	if (err) {
		free(w);
		return err;
	}
	*out = w;
	*nout = n;
	return 0;
}

static struct attachment *find_live(const struct want *x)
{
	for (struct attachment *a = agent.live; a; a = a->next)
		if (a->link_id == x->link_id && a->prog_id == x->prog_id &&
		    a->perf_id == x->perf_id)
			return a;
	return NULL;
}

/* shm/ names what is wrong with a segment it cannot use, the runtime why a
 * program does not build; the agent folds that into its own single warning */
static char open_msg[256];

__attribute__((format(printf, 2, 0))) static int capture_print(enum bpftime_log_level level,
							       const char *fmt, va_list ap)
{
	size_t n;

	if (level > BPFTIME_LOG_WARN)
		return 0;
	vsnprintf(open_msg, sizeof(open_msg), fmt, ap);
	n = strlen(open_msg);
	while (n && open_msg[n - 1] == '\n')
		open_msg[--n] = 0;
	return 0;
}

/* Is the instruction at @off of @module's file `push %rbp` or endbr64?
 * (the kernel's test of a uprobe at a function's entry; read from the
 * file: the code here may carry another probe's patch already) */
static bool func_entry_insn(const char *module, uint64_t off)
{
	uint8_t b[4];
	int fd = open(module, O_RDONLY | O_CLOEXEC);
	bool yes = false;

	if (fd < 0)
		return false;
	if (pread(fd, b, sizeof(b), (off_t)off) == (ssize_t)sizeof(b))
		yes = b[0] == 0x55 || !memcmp(b, "\xf3\x0f\x1e\xfa", 4);
	close(fd);
	return yes;
}

/* Attaches one wanted pair.  Failures are logged once and remembered. */
static int attach_one(const struct want *x)
{
	bpftime_print_fn prev_print;
	struct bpftime_perf_event_info pi;
	struct bpftime_probe *probe;
	struct attachment *a;
	uint64_t sym_off, sym_size;
	bool is_override, walks_stack;
	bpftime_probe_fn fn;
	struct bpftime_vm *vm;
	void *addr;
	int err;

	if (has_failed(0, x->prog_id) || has_failed(1, x->perf_id))
		return 0;
	if (!perf_wanted(x->perf_fd, x->perf_id, &pi) || pi.id != x->perf_id)
		return 0; /* changed under us: the next epoch brings it */
	err = bpftime_resolve_module_offset(pi.module, pi.offset, &addr);
	if (err == -ENOENT) {
		agent.pending = true; /* not mapped here: not ours, unless dlopen'ed later */
		return 0;
	}
	if (err) {
		pr_warn("agent: perf event id %u: cannot resolve %s+%#llx: %s\n", x->perf_id,
			pi.module, (unsigned long long)pi.offset, strerror(-err));
		mark_failed(1, x->perf_id);
		return err;
	}
	/* the runtime's reason goes into our one warning */
	open_msg[0] = 0;
	prev_print = bpftime_set_print(capture_print);
	vm = bpftime_runtime__prog_by_id(agent.rt, x->prog_id);
	err = vm ? 0 : -errno;
	bpftime_set_print(prev_print);
	if (!vm) {
		if (err == -EBADF)
			return 0; /* closed under us */
		pr_warn("agent: prog id %u is not attached: %s\n", x->prog_id,
			open_msg[0] ? open_msg + (strncmp(open_msg, "bpftime: ", 9) ? 0 : 9)
				    : strerror(-err));
		mark_failed(0, x->prog_id);
		return err;
	}
	if (open_msg[0]) /* built, with a remark (e.g. an engine fallback) */
		pr_warn("%s\n", open_msg);
	a = mem_calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->link_id = x->link_id;
	a->prog_id = x->prog_id;
	a->perf_id = x->perf_id;
	a->vm = vm;
	a->cookie = x->cookie;
	a->needs_cpu = claim_always || bpftime_runtime__needs_cpu(agent.rt, vm);

	is_override =
		pi.type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE ||
		(pi.type == BPFTIME_PERF_TYPE_UPROBE && calls_helper(vm, HELPER_OVERRIDE_RETURN));
	walks_stack = calls_helper(vm, HELPER_GET_STACK) || calls_helper(vm, HELPER_GET_STACKID);
	a->func_entry = walks_stack && pi.type != BPFTIME_PERF_TYPE_URETPROBE &&
			func_entry_insn(pi.module, pi.offset);
	BPFTIME_OPTS(bpftime_probe_opts, po, .cookie = a->cookie);
	if (pi.type == BPFTIME_PERF_TYPE_URETPROBE)
		po.type = BPFTIME_PROBE_URETPROBE;
	else if (is_override)
		po.type = BPFTIME_PROBE_OVERRIDE;
	else
		po.type = BPFTIME_PROBE_UPROBE;
	/* the enclosing function's bounds keep the patch inside it */
	if (!bpftime_elf_symbol_at(pi.module, pi.offset, &sym_off, &sym_size) && sym_size) {
		po.func = (const char *)addr - (pi.offset - sym_off);
		po.func_size = sym_size;
		po.inside_func = sym_off != pi.offset;
	}
	if (po.type == BPFTIME_PROBE_OVERRIDE)
		fn = (bpftime_probe_fn)(void (*)(void))(walks_stack ? run_override_stack
								    : run_override);
	else
		fn = walks_stack ? run_prog_stack : run_prog;
	probe = bpftime_probe__attach(addr, fn, a, &po);
	if (!probe) {
		err = -errno;
		free(a);
		if (err == -EAGAIN) {
			/* threads in the way of the patch: again shortly */
			pr_debug("agent: hooking %s+%#llx: %s, will retry\n", pi.module,
				 (unsigned long long)pi.offset, strerror(-err));
			agent.retry_ms = AGENT_RETRY_MS;
			return err;
		}
		if (err == -EBUSY) {
			/* an int3 is there (a debugger, a kernel uprobe): said
			 * once (attach/ names it), retried slowly until it goes */
			if (!has_failed(2, x->perf_id)) {
				pr_warn("agent: %s+%#llx is busy (breakpoint): prog id %u waits "
					"for it\n",
					pi.module, (unsigned long long)pi.offset, x->prog_id);
				mark_failed(2, x->perf_id);
			}
			if (!agent.retry_ms)
				agent.retry_ms = AGENT_BUSY_RETRY_MS;
			return err;
		}
		pr_warn("agent: cannot hook %s+%#llx for prog id %u: %s\n", pi.module,
			(unsigned long long)pi.offset, x->prog_id, strerror(-err));
		mark_failed(1, x->perf_id);
		return err;
	}
	a->probe = probe;
	a->next = agent.live;
	agent.live = a;
	agent.n_attached++;
	pr_debug("agent: prog id %u attached to %s+%#llx (%s)\n", x->prog_id, pi.module,
		 (unsigned long long)pi.offset,
		 po.type == BPFTIME_PROBE_URETPROBE  ? "uretprobe"
		 : po.type == BPFTIME_PROBE_OVERRIDE ? "override"
						     : "uprobe");
	return 0;
}

static void detach_one(struct attachment **pp)
{
	struct attachment *a = *pp;

	*pp = a->next;
	bpftime_probe__detach(a->probe);
	a->probe = NULL;
	a->next = agent.retired;
	agent.retired = a;
	agent.n_attached--;
}

/* ---- libraries loaded after the start ------------------------------------
 *
 * The dynamic linker calls the function at _r_debug.r_brk (the debugger
 * hook) around every change of the link map.  While some wanted perf event
 * names a module that is not mapped here, a uprobe on it wakes the dl
 * thread when a change is complete (RT_CONSISTENT), and that thread syncs.
 * The handler only wakes: the thread that dlopens holds the loader's lock. */

static void on_dl_change(struct bpftime_pt_regs *regs, void *data)
{
	UNUSED(regs);
	UNUSED(data);
	if (agent_busy || _r_debug.r_state != RT_CONSISTENT)
		return;
	atomic_fetch_add(&agent.dl_seq, 1);
	syscall(SYS_futex, &agent.dl_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static int sync_locked(void);

static void *watch_dl(void *arg)
{
	uint32_t seen = atomic_load(&agent.dl_seq);

	UNUSED(arg);
	agent_busy = true;
	for (;;) {
		syscall(SYS_futex, &agent.dl_seq, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
		if (atomic_load(&agent.dl_seq) == seen)
			continue;
		seen = atomic_load(&agent.dl_seq);
		pthread_mutex_lock(&agent.lock);
		/* stopped (detached): it waits on, for agent_resume */
		if (!agent.stopping && agent.pending)
			sync_locked();
		pthread_mutex_unlock(&agent.lock);
	}
	return NULL;
}

/* the threads the agent starts take none of the host's signals, except
 * attach/'s (SIGTRAP, and the migration signal it sends every thread that
 * may be inside code it patches, then waits for) and the faults, which
 * cannot be blocked */
static int agent_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
	sigset_t all, saved;
	int err;

	sigfillset(&all);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGRTMAX - 7); /* attach/'s HOOK_MIGRATE_SIG: keep in step */
	sigdelset(&all, SIGRTMAX - 6); /* attach/'s SC_ENABLE_SIG (syscall hook) */
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	err = -pthread_create(th, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return err;
}

/* agent.lock held; once per process (a failure is not retried) */
static void watch_dlopen(void)
{
	pthread_t th;
	int err;

	agent.dl_watched = true;
	if (!_r_debug.r_brk) {
		pr_debug("agent: no dynamic linker hook: libraries loaded later are not traced\n");
		return;
	}
	err = agent_thread(&th, watch_dl, NULL);
	if (!err) {
		pthread_detach(th);
		/* kept for the life of the process */
		if (!bpftime_probe__attach((void *)_r_debug.r_brk, on_dl_change, NULL, NULL))
			err = -errno;
	}
	if (err)
		pr_warn("agent: cannot follow dlopen (%s): libraries loaded later are not traced\n",
			strerror(-err));
}

/* agent.lock held */
static int sync_locked(void)
{
	struct bpftime_link_info *links = NULL;
	struct want *w = NULL;
	size_t n = 0, nlinks = 0;
	uint32_t epoch;
	int err;

	if (!agent.started || agent.stopping)
		return -ESRCH;
	epoch = bpftime_shm__epoch(agent.shm);
	agent.retry_ms = 0;
	agent.pending = false;
	err = collect_links(&links, &nlinks);
	if (!err)
		err = collect(links, nlinks, &w, &n);
	if (err) {
		free(links);
		return err;
	}
	agent.in_sync = true;
	for (struct attachment *a = agent.live; a; a = a->next)
		a->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct attachment *a = find_live(&w[i]);

		if (a)
			a->seen = true;
	}
	/* detach first: a replaced program never runs beside its successor */
	for (struct attachment **pp = &agent.live; *pp;) {
		if (!(*pp)->seen)
			detach_one(pp);
		else
			pp = &(*pp)->next;
	}
	for (size_t i = 0; i < n; i++) {
		if (find_live(&w[i]))
			continue;
		attach_one(&w[i]);
	}
	free(w);
	agent_systp_sync(agent.shm, agent.rt, agent.pid, links, nlinks);
	agent_profile_sync(agent.shm, agent.rt, agent.pid, links, nlinks);
	free(links);
	agent.in_sync = false;
	if (agent.pending && !agent.dl_watched)
		watch_dlopen();
	atomic_store(&agent.synced_epoch, epoch);
	atomic_fetch_add(&agent.syncs, 1);
	return 0;
}

int agent_sync(void)
{
	bool was = agent_busy;
	int err;

	agent_busy = true;
	pthread_mutex_lock(&agent.lock);
	err = sync_locked();
	pthread_mutex_unlock(&agent.lock);
	agent_busy = was;
	return err;
}

/* agent.lock held: the segment was truncated or replaced under us (a
 * guarded SIGBUS, or bpftime_shm__check()): its mapping is zero pages now.
 * Detach everything and stop following; the host runs on untraced. */
static void segment_gone(void)
{
	pr_warn("agent: the shared memory '%s' is gone (truncated or replaced under this "
		"process): detaching, the process runs on untraced (a segment made under that "
		"name later is not followed: start the process again)\n",
		bpftime_shm__name(agent.shm));
	agent.stopping = true;
	while (agent.live)
		detach_one(&agent.live);
}

static void *watch(void *arg)
{
	uint32_t seen = (uint32_t)(uintptr_t)arg;
	int err;

	agent_busy = true;
	for (;;) {
		int retry_ms;

		pthread_mutex_lock(&agent.lock);
		retry_ms = agent.retry_ms;
		pthread_mutex_unlock(&agent.lock);
		/* a change wakes us; a truncation of the segment does not, so
		 * it is checked at least every AGENT_CHECK_MS (an fstat and a
		 * stat: a faulting access would find it anyway) */
		err = bpftime_shm__wait_epoch(
			agent.shm, seen,
			retry_ms && retry_ms < AGENT_CHECK_MS ? retry_ms : AGENT_CHECK_MS);
		agent_systp_note_bare();
		if (bpftime_shm__check(agent.shm) == -ENXIO) {
			pthread_mutex_lock(&agent.lock);
			if (!agent.stopping)
				segment_gone();
			pthread_mutex_unlock(&agent.lock);
			return NULL;
		}
		if (err == -ETIMEDOUT && !retry_ms && bpftime_shm__epoch(agent.shm) == seen)
			continue; /* only the check was due */
		if (err && err != -EINTR && err != -ETIMEDOUT) {
			pr_warn("agent: cannot wait for changes (%s): the attachments stay as they "
				"are\n",
				strerror(-err));
			return NULL;
		}
		seen = bpftime_shm__epoch(agent.shm);
		pthread_mutex_lock(&agent.lock);
		if (agent.stopping) {
			agent.watching = false; /* agent_resume starts another */
			pthread_mutex_unlock(&agent.lock);
			return NULL;
		}
		sync_locked();
		pthread_mutex_unlock(&agent.lock);
	}
}

/* fork: the child keeps the hooks (its copy of the patched code) and this
 * state, but none of the agent's threads.  It becomes a process of its own:
 * its pid for the filters and a new watcher that syncs at once, so events
 * bound to the parent's pid stop running in it. */
static void agent_fork_child(void)
{
	int err;

	pthread_mutex_init(&agent.lock, NULL);
	agent.pid = getpid();
	agent.dl_watched = false;
	/* forked in the middle of a sync: the lists may be half changed, so
	 * the child keeps what it has and does not follow */
	if (!agent.started || agent.stopping || !agent.watching || agent.in_sync) {
		agent.watching = false;
		return;
	}
	/* the new watcher syncs at once (it "saw" another epoch); not here:
	 * other fork handlers (attach/'s) have not released their locks yet */
	err = agent_thread(&agent.watcher, watch,
			   (void *)(uintptr_t)(bpftime_shm__epoch(agent.shm) - 1));
	if (err)
		agent.watching = false;
}

/* agent.lock held, agent.shm open: the runtime, the helpers, the watcher
 * and the first sync.  0 or -errno (said once; the process runs untraced) */
static int agent_run_locked(const struct agent_opts *opts)
{
	uint32_t epoch;
	int err;

	/* a truncated segment must not kill the host with SIGBUS */
	err = bpftime_shm__guard(agent.shm);
	if (err)
		pr_warn("agent: cannot guard the shared memory against truncation (%s)\n",
			strerror(-err));
	{
		BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_INTERP,
			     .engine_set = opts && opts->no_jit);

		agent.rt = bpftime_runtime__new(agent.shm, &ro);
	}
	if (!agent.rt) {
		err = -errno;
		pr_warn("agent: cannot create the runtime (%s): running untraced\n",
			strerror(-err));
		goto fail_shm;
	}
	err = agent_register_helpers(agent.rt);
	if (err) {
		pr_warn("agent: cannot register helpers (%s): running untraced\n", strerror(-err));
		goto fail_rt;
	}
	agent_stats_word = bpftime_shm__stats_word(agent.shm);
	agent.started = true;
	agent.stopping = false;
	pthread_atfork(NULL, NULL, agent_fork_child);
	epoch = bpftime_shm__epoch(agent.shm);
	if (opts && opts->watch) {
		err = agent_thread(&agent.watcher, watch, (void *)(uintptr_t)epoch);
		if (err)
			pr_warn("agent: cannot start the watcher thread (%s): later changes are "
				"not followed\n",
				strerror(-err));
		else
			agent.watching = true;
	}
	agent_busy = true;
	err = sync_locked();
	for (int i = 0; !err && agent.retry_ms == AGENT_RETRY_MS && i < AGENT_START_TRIES; i++) {
		struct timespec ts = { 0, AGENT_RETRY_MS * 1000000L };

		nanosleep(&ts, NULL);
		err = sync_locked();
	}
	agent_busy = false;
	if (err)
		pr_warn("agent: cannot read the attachments (%s)\n", strerror(-err));
	return 0;

fail_rt:
	bpftime_runtime__free(agent.rt);
	agent.rt = NULL;
fail_shm:
	bpftime_shm__close(agent.shm);
	agent.shm = NULL;
	return err;
}

/* ---- waiting for a segment -------------------------------------------------
 *
 * A process started with `bpftime start` before any loader made the segment
 * (`bpftrace -p PID` run after its target, as with the kernel) is not left
 * untraced: the agent waits for the segment to be created (inotify on the
 * directory POSIX shared memory lives in: no polling) and then starts as if
 * it had been there, attaching what the segment holds for this process.
 * Only the process itself waits (a forked child does not); a segment
 * removed later (its last loader gone) is not followed by a new one: the
 * watcher says so (segment_gone). */

#define SHM_DIR "/dev/shm"

struct waiter {
	struct agent_opts opts;
	char name[256];
	int fd; /* inotify */
};

/* 0 with agent.shm open, or -errno (-ENOENT: not there yet) */
static int try_open(const char *name)
{
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = name);
	bpftime_print_fn prev = bpftime_set_print(capture_print);
	int err;

	open_msg[0] = 0;
	agent.shm = bpftime_shm__open(&so);
	err = agent.shm ? 0 : -errno;
	bpftime_set_print(prev);
	return err;
}

static void *wait_segment(void *arg)
{
	struct waiter *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int err = -ENOENT, told = 0;

	agent_busy = true;
	for (;;) {
		ssize_t n;

		pthread_mutex_lock(&agent.lock);
		if (agent.started) { /* bpftime attach got there first */
			pthread_mutex_unlock(&agent.lock);
			break;
		}
		err = try_open(w->name);
		if (!err) {
			err = agent_run_locked(&w->opts);
			pthread_mutex_unlock(&agent.lock);
			if (!err)
				pr_info("agent: the shared memory '%s' appeared: following it\n",
					w->name);
			break;
		}
		pthread_mutex_unlock(&agent.lock);
		if (err != -ENOENT && err != told) {
			/* a segment this agent cannot use took the name: said,
			 * and waited on (it may be removed and made again) */
			pr_warn("agent: cannot use the shared memory '%s' (%s): waiting for "
				"another\n",
				w->name, open_msg[0] ? open_msg : strerror(-err));
			told = err;
		}
		n = read(w->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pr_warn("agent: stopped waiting for the shared memory '%s' (%s): running "
				"untraced\n",
				w->name, n < 0 ? strerror(errno) : "end of events");
			break;
		}
		/* any event: the next round tries to open (cheap; the name
		 * may come from a rename too) */
	}
	close(w->fd);
	free(w);
	agent_busy = false;
	return NULL;
}

/* agent.lock held; the segment does not exist: waits for it on a thread.
 * 0, or -errno when it cannot wait (then the caller's warning stands). */
static int wait_for_segment(const struct agent_opts *opts, const char *name)
{
	struct waiter *w = mem_calloc(1, sizeof(*w));
	pthread_t th;
	int err;

	if (!w)
		return -ENOMEM;
	if (opts)
		w->opts = *opts;
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->opts.shm_name = w->name;
	w->fd = inotify_init1(IN_CLOEXEC);
	if (w->fd < 0 || inotify_add_watch(w->fd, SHM_DIR, IN_CREATE | IN_MOVED_TO) < 0) {
		err = -errno;
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return err;
	}
	err = agent_thread(&th, wait_segment, w);
	if (err) {
		close(w->fd);
		free(w);
		return err;
	}
	pthread_detach(th);
	return 0;
}

/* bpftime_vm_set_code_notify() done: once per process (each call would
 * report the VM's ranges again) */
static bool code_notify_set;

int agent_start(const struct agent_opts *opts)
{
	const char *name;
	int err;

	pthread_mutex_lock(&agent.lock);
	if (agent.started) {
		pthread_mutex_unlock(&agent.lock);
		return -EALREADY;
	}
	agent.pid = getpid();
	/* before any program is compiled (the VM also reports what came
	 * before): the syscall hook's scan skips the VM's code pages, where a
	 * `0f 05` inside an immediate is no syscall (see bpftime/vm.h) */
	if (!code_notify_set) {
		bpftime_vm_set_code_notify(bpftime_syscall_hook__own);
		code_notify_set = true;
	}
	{
		const char *c = getenv("BPFTIME_PERCPU_CLAIM");

		claim_always = c && !strcmp(c, "always");
	}
	name = opts && opts->shm_name ? opts->shm_name : getenv("BPFTIME_GLOBAL_SHM_NAME");
	if (!name || !*name)
		name = BPFTIME_DEFAULT_SHM_NAME;
	err = try_open(opts ? opts->shm_name : NULL);
	if (err) {
		if (err == -ENOENT && opts && opts->wait_segment &&
		    !wait_for_segment(opts, name + (name[0] == '/'))) {
			pr_warn("agent: no bpftime shared memory '%s' yet: running untraced until "
				"a loader (`bpftime load`) creates it, then its probes attach\n",
				name);
			pthread_mutex_unlock(&agent.lock);
			return -ENOENT;
		}
		if (err == -ENOENT)
			pr_warn("agent: no bpftime shared memory '%s' (start a loader with "
				"`bpftime load` first): running untraced\n",
				name);
		else
			pr_warn("agent: cannot use the shared memory '%s' (%s): running untraced\n",
				name,
				open_msg[0] ? open_msg + (strncmp(open_msg, "bpftime: ", 9) ? 0 : 9)
					    : strerror(-err));
		pthread_mutex_unlock(&agent.lock);
		return err;
	}
	err = agent_run_locked(opts);
	pthread_mutex_unlock(&agent.lock);
	return err;
}

/* The watcher is not joined: it sleeps on the epoch futex and returns on
 * the next change, when it sees agent.stopping. */
void agent_stop(void)
{
	pthread_mutex_lock(&agent.lock);
	if (agent.started && !agent.stopping) {
		agent.stopping = true;
		while (agent.live)
			detach_one(&agent.live);
		agent_systp_stop();
	}
	pthread_mutex_unlock(&agent.lock);
}

int agent_resume(void)
{
	uint32_t epoch;
	int err;

	pthread_mutex_lock(&agent.lock);
	if (!agent.started) {
		pthread_mutex_unlock(&agent.lock);
		return -ENOENT;
	}
	if (!agent.stopping) {
		pthread_mutex_unlock(&agent.lock);
		return -EALREADY;
	}
	agent.stopping = false;
	epoch = bpftime_shm__epoch(agent.shm);
	/* a watcher still asleep on the futex goes on by itself */
	if (!agent.watching && !agent_thread(&agent.watcher, watch, (void *)(uintptr_t)epoch))
		agent.watching = true;
	agent_busy = true;
	err = sync_locked();
	agent_busy = false;
	pthread_mutex_unlock(&agent.lock);
	return err;
}

bool agent_running(void)
{
	bool r;

	pthread_mutex_lock(&agent.lock);
	r = agent.started && !agent.stopping;
	pthread_mutex_unlock(&agent.lock);
	return r;
}

const char *agent_shm_name(void)
{
	return agent.shm ? bpftime_shm__name(agent.shm) : NULL;
}

void agent_quiesce(void)
{
	bool was = agent_busy;

	agent_busy = true; /* the agent's own writes: not the program's syscalls */
	agent_systp_note_bare();
	agent_busy = was;
	pthread_mutex_lock(&agent.lock);
	agent.stopping = true;
	pthread_mutex_unlock(&agent.lock);
}

uint64_t agent_sync_count(void)
{
	return atomic_load(&agent.syncs);
}

int agent_attached_count(void)
{
	int n;

	pthread_mutex_lock(&agent.lock);
	n = agent.n_attached;
	pthread_mutex_unlock(&agent.lock);
	return n;
}

uint32_t agent_synced_epoch(void)
{
	return atomic_load(&agent.synced_epoch);
}
