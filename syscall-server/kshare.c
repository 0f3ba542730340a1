/* SPDX-License-Identifier: MIT */
/* syscall-server/kshare.c: kernel-shared mode (BPFTIME_RUN_WITH_KERNEL=1,
 * `bpftime load --run-with-kernel`), and kernel programs in prog arrays.
 *
 * In kernel-shared mode a loader mixes both worlds:
 *  - maps of the shareable types are created in the kernel (maps/kernel.c);
 *    a mmap of such a map's fd maps the kernel map;
 *  - programs of types only the kernel runs (XDP, tc, socket, cgroup,
 *    raw tracepoint, tracing, LSM, perf event, syscall...) are loaded into
 *    the kernel at PROG_LOAD, with the kernel's verifier and log, their map
 *    references rewritten to the kernel maps; they are stored in the segment
 *    too (visible to bpftimetool, marked as running in the kernel);
 *  - kprobe-type and tracepoint programs, which may run on either side, are
 *    verified and stored as usual and loaded into the kernel when they are
 *    attached to a kernel hook;
 *  - perf events of the kernel (hardware, software clocks and BPF output,
 *    kprobe PMUs, tracepoints other than the syscall ones) are opened in
 *    the kernel; attaching one of our programs to one (LINK_CREATE,
 *    PERF_EVENT_IOC_SET_BPF), or to an XDP device or any other kernel target,
 *    attaches its kernel copy.  The loader gets the kernel's link fd.
 * uprobes, uretprobes and syscall tracepoints stay in userspace.
 *
 * Without a usable kernel eBPF (no root, a seccomp filter) the mode refuses
 * to serve: every bpf() fails with the kernel's error, after one message.
 *
 * In any mode where the kernel's bpf(2) works, a PROG_ARRAY slot may take
 * a kernel program's fd (a loader that loaded it with a raw system call):
 * the segment gets a record of it (kernel only, its id), and a tail call
 * from a userspace program into it runs it by BPF_PROG_TEST_RUN
 * (runtime/kernel_prog.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpftime/kernel.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/log.h"
#include "common/alloc.h"
#include "common/compiler.h"

#define u64_ptr(x) ((void *)(uintptr_t)(x))
#define ptr_u64(p) ((__u64)(uintptr_t)(p))

void srv_kshare_init(void)
{
	const char *e = getenv("BPFTIME_RUN_WITH_KERNEL");
	int err;

	if (!e || !*e || !strcmp(e, "0") || !strcasecmp(e, "false") || !strcasecmp(e, "no"))
		return;
	srv.kernel = true;
	err = bpftime_kernel_probe();
	if (err) {
		srv.kernel_err = err;
		pr_err("syscall server: BPFTIME_RUN_WITH_KERNEL is set, but the kernel's eBPF is "
		       "not usable here (bpf(2): %s): every bpf() call fails; run without it for "
		       "maps in shared memory only\n",
		       strerror(-err));
	}
}

/* program types that only the kernel runs, loaded there at PROG_LOAD */
static bool kernel_only_type(uint32_t type)
{
	switch (type) {
	case BPF_PROG_TYPE_KPROBE:     /* uprobes too: decided at attach */
	case BPF_PROG_TYPE_TRACEPOINT: /* syscall tracepoints too */
	case BPF_PROG_TYPE_UNSPEC:
		return false;
	default:
		return true;
	}
}

bool srv_kshare_loads_at_prog_load(uint32_t prog_type)
{
	return srv.kernel && !srv.kernel_err && kernel_only_type(prog_type);
}

/* ---- loading into the kernel ------------------------------------------ */

struct kload {
	uint32_t type, expected_attach_type, prog_flags, kern_version, attach_btf_id;
	const char *name, *license;
	struct bpf_insn *insns; /* map fds already rewritten to kernel fds */
	uint32_t cnt;
	int btf_fd; /* ours, or -1 */
	const void *func_info, *line_info;
	uint32_t func_info_rec_size, func_info_cnt, line_info_rec_size, line_info_cnt;
	uint64_t log_buf;
	uint32_t log_size, log_level;
};

/* rewrites every map reference of @insns to the kernel map's fd in this
 * process: references by the loader's fds (or fd_array indexes) when @ids
 * is false, by the segment's map ids (a stored program) when true; 0 or
 * -EINVAL with the reason in @why */
static int rewrite_maps(struct bpf_insn *insns, uint32_t cnt, const int32_t *fd_array, bool ids,
			char *why, size_t whylen)
{
	for (uint32_t i = 0; i + 1 < cnt; i++) {
		struct bpf_insn *in = &insns[i];
		struct bpftime_map *h;
		int ref, kfd;

		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		i++;
		if (in->src_reg == BPF_PSEUDO_MAP_IDX || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE) {
			if (!fd_array)
				return -EINVAL;
			ref = fd_array[in->imm];
			in->src_reg = in->src_reg == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD
									: BPF_PSEUDO_MAP_VALUE;
			h = bpftime_map_get_handle(srv.shm, ref);
		} else if (in->src_reg == BPF_PSEUDO_MAP_FD ||
			   in->src_reg == BPF_PSEUDO_MAP_VALUE) {
			ref = in->imm;
			h = ids ? bpftime_map_get_handle_by_id(srv.shm, (uint32_t)ref)
				: bpftime_map_get_handle(srv.shm, ref);
		} else {
			continue;
		}
		if (!h) {
			snprintf(why, whylen, "insn %u: map %s %d is not a map", i - 1,
				 ids ? "id" : "fd", ref);
			return -EINVAL;
		}
		kfd = bpftime_map__kernel_fd(h);
		if (kfd < 0) {
			snprintf(why, whylen,
				 "insn %u: map %u (type %u) is not shared with the kernel "
				 "(kernel-shared types: array, hash, percpu array/hash, perf event "
				 "array, ringbuf; no bpf_spin_lock)",
				 i - 1, bpftime_map__id(h), bpftime_map__type(h));
			return -EINVAL;
		}
		in->imm = kfd;
	}
	return 0;
}

/* the kernel's copy of the program's BTF, or -1 */
static int kernel_btf(int btf_fd)
{
	union bpf_attr a;
	const void *data;
	size_t size;
	long fd;

	if (btf_fd <= 0)
		return -1;
	data = bpftime_btf_data(srv.shm, btf_fd, &size);
	if (!data)
		return -1;
	memset(&a, 0, sizeof(a));
	a.btf = ptr_u64(data);
	a.btf_size = (uint32_t)size;
	fd = bpftime_kernel_bpf(BPF_BTF_LOAD, &a, sizeof(a));
	return fd < 0 ? -1 : (int)fd;
}

/* loads @k into the kernel; the program's fd (kept by the library's table)
 * and *@id, or -errno with the kernel's log in @log (when given) */
static int kload(const struct kload *k, uint32_t *id, char *log, size_t loglen)
{
	union bpf_attr a;
	int btf = kernel_btf(k->btf_fd);
	int64_t kid;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = k->type;
	a.expected_attach_type = k->expected_attach_type;
	a.prog_flags = k->prog_flags;
	a.kern_version = k->kern_version;
	a.attach_btf_id = k->attach_btf_id;
	a.insns = ptr_u64(k->insns);
	a.insn_cnt = k->cnt;
	a.license = ptr_u64(k->license);
	snprintf(a.prog_name, sizeof(a.prog_name), "%s", k->name);
	if (btf >= 0) {
		a.prog_btf_fd = (uint32_t)btf;
		a.func_info = ptr_u64(k->func_info);
		a.func_info_cnt = k->func_info ? k->func_info_cnt : 0;
		a.func_info_rec_size = k->func_info ? k->func_info_rec_size : 0;
		a.line_info = ptr_u64(k->line_info);
		a.line_info_cnt = k->line_info ? k->line_info_cnt : 0;
		a.line_info_rec_size = k->line_info ? k->line_info_rec_size : 0;
	}
	if (k->log_buf) {
		a.log_buf = k->log_buf;
		a.log_size = k->log_size;
		a.log_level = k->log_level;
	} else if (log && loglen >= 128) {
		log[0] = 0;
		a.log_buf = ptr_u64(log);
		a.log_size = (uint32_t)loglen;
		a.log_level = 1;
	}
	fd = bpftime_kernel_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0 && fd != -EACCES && a.log_level && !k->log_buf) {
		/* a log that did not fit (ENOSPC) must not turn a good program
		 * into a failure: load once more without one */
		a.log_buf = 0;
		a.log_size = 0;
		a.log_level = 0;
		fd = bpftime_kernel_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	}
	if (btf >= 0)
		srv_real.close(btf);
	if (fd < 0)
		return (int)fd;
	kid = bpftime_kernel_obj_keep((int)fd, true);
	if (kid < 0)
		return (int)kid;
	*id = (uint32_t)kid;
	return bpftime_kernel_obj_fd((uint32_t)kid, true);
}

/* The kernel fd of program @fd (ours), loading its copy into the kernel on
 * first use (a kprobe or tracepoint program attached to a kernel hook).
 * Caller holds srv_lock.  -errno with a message logged. */
static int prog_kernel_fd(int fd)
{
	struct bpftime_prog_info pi;
	struct bpftime_prog_btf_ext ext;
	const struct bpftime_insn *insns;
	struct kload k;
	char why[256], *log = NULL;
	size_t cnt;
	uint32_t id = 0;
	int ret;

	if (bpftime_prog_get_info(srv.shm, fd, &pi))
		return -EBADF;
	if (pi.kernel_id)
		return bpftime_kernel_obj_fd(pi.kernel_id, true);
	insns = bpftime_prog_insns(srv.shm, fd, &cnt);
	if (!insns)
		return -EBADF;
	memset(&k, 0, sizeof(k));
	k.insns = mem_alloc(cnt * sizeof(*k.insns));
	log = mem_alloc(65536);
	if (!k.insns || !log) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(k.insns, insns, cnt * sizeof(*k.insns));
	why[0] = 0;
	ret = rewrite_maps(k.insns, (uint32_t)cnt, NULL, true, why, sizeof(why));
	if (ret) {
		pr_warn("syscall server: program '%s' cannot run in the kernel: %s\n", pi.name,
			why);
		goto out;
	}
	k.type = pi.type;
	k.expected_attach_type = pi.expected_attach_type;
	k.prog_flags = pi.prog_flags;
	k.kern_version = pi.kern_version;
	k.attach_btf_id = pi.attach_btf_id;
	k.name = pi.name;
	k.license = pi.license;
	k.cnt = (uint32_t)cnt;
	k.btf_fd = pi.prog_btf_fd;
	if (!bpftime_prog_get_btf_ext(srv.shm, fd, &ext)) {
		k.func_info = ext.func_info;
		k.func_info_rec_size = ext.func_info_rec_size;
		k.func_info_cnt = ext.func_info_cnt;
		k.line_info = ext.line_info;
		k.line_info_rec_size = ext.line_info_rec_size;
		k.line_info_cnt = ext.line_info_cnt;
	}
	ret = kload(&k, &id, log, 65536);
	if (ret < 0) {
		pr_warn("syscall server: the kernel refuses program '%s': %s\n%s", pi.name,
			strerror(-ret), log);
		goto out;
	}
	bpftime_prog_set_kernel(srv.shm, fd, id, false);
out:
	free(log);
	free(k.insns);
	return ret;
}

/* ---- PROG_LOAD of a kernel-only program ------------------------------- */

struct stub_ctx {
	const char *name, *license;
	uint32_t type, expected_attach_type;
	const struct bpftime_insn *insns;
	size_t cnt;
	int32_t btf_fd;
};

static int make_kprog(int fd, void *ctx)
{
	const struct stub_ctx *c = ctx;
	BPFTIME_OPTS(bpftime_prog_create_opts, o, .expected_attach_type = c->expected_attach_type,
		     .license = c->license, .prog_btf_fd = c->btf_fd);

	return bpftime_prog_create(srv.shm, fd, c->type, c->name, c->insns, c->cnt, &o);
}

int srv_kshare_prog_load(union bpf_attr *a)
{
	const int32_t *fd_array = u64_ptr(a->fd_array);
	struct stub_ctx c;
	struct kload k;
	char name[BPF_OBJ_NAME_LEN + 1], license[64], why[256];
	struct bpf_insn *insns;
	uint32_t id = 0;
	int ret, fd;

	if (!a->insn_cnt || a->insn_cnt > BPFTIME_MAX_INSNS)
		return -E2BIG;
	if (!a->insns || !a->license)
		return -EFAULT;
	memcpy(name, a->prog_name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;
	snprintf(license, sizeof(license), "%s", (const char *)u64_ptr(a->license));
	insns = mem_alloc((size_t)a->insn_cnt * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memcpy(insns, u64_ptr(a->insns), (size_t)a->insn_cnt * sizeof(*insns));
	why[0] = 0;
	ret = rewrite_maps(insns, a->insn_cnt, fd_array, false, why, sizeof(why));
	if (ret) {
		pr_warn("syscall server: program '%s' cannot run in the kernel: %s\n", name, why);
		if (a->log_level && a->log_buf && a->log_size)
			snprintf(u64_ptr(a->log_buf), a->log_size, "bpftime: %s\n", why);
		goto out;
	}
	memset(&k, 0, sizeof(k));
	k.type = a->prog_type;
	k.expected_attach_type = a->expected_attach_type;
	k.prog_flags = a->prog_flags;
	k.kern_version = a->kern_version;
	k.attach_btf_id = a->attach_btf_id;
	k.name = name;
	k.license = license;
	k.insns = insns;
	k.cnt = a->insn_cnt;
	k.btf_fd = a->prog_btf_fd ? (int)a->prog_btf_fd : -1;
	k.func_info = u64_ptr(a->func_info);
	k.func_info_rec_size = a->func_info_rec_size;
	k.func_info_cnt = a->func_info_cnt;
	k.line_info = u64_ptr(a->line_info);
	k.line_info_rec_size = a->line_info_rec_size;
	k.line_info_cnt = a->line_info_cnt;
	/* the kernel's verifier and log answer the loader */
	k.log_buf = a->log_buf;
	k.log_size = a->log_size;
	k.log_level = a->log_level;
	ret = kload(&k, &id, NULL, 0);
	if (ret < 0) {
		pr_warn("syscall server: the kernel refuses program '%s' (type %u): %s\n", name,
			a->prog_type, strerror(-ret));
		goto out;
	}
	/* the segment's record: what bpftimetool shows, the instructions
	 * (bpftime_prog_create stores map references as the maps' ids and
	 * makes the program hold its maps) */
	memcpy(insns, u64_ptr(a->insns), (size_t)a->insn_cnt * sizeof(*insns));
	for (uint32_t i = 0; i + 1 < a->insn_cnt; i++) {
		struct bpf_insn *in = &insns[i];

		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (in->src_reg == BPF_PSEUDO_MAP_IDX || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE) {
			in->imm = fd_array[in->imm];
			in->src_reg = in->src_reg == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD
									: BPF_PSEUDO_MAP_VALUE;
		}
		i++;
	}
	c = (struct stub_ctx){ .name = name,
			       .license = license,
			       .type = a->prog_type,
			       .expected_attach_type = a->expected_attach_type,
			       .insns = (const struct bpftime_insn *)insns,
			       .cnt = a->insn_cnt,
			       .btf_fd = a->prog_btf_fd ? (int32_t)a->prog_btf_fd : -1 };
	fd = srv_new_fd(make_kprog, &c, true);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	bpftime_prog_set_kernel(srv.shm, fd, id, true);
	ret = fd;
out:
	free(insns);
	return ret;
}

/* ---- attaching to kernel hooks ----------------------------------------- */

/* a real fd from the kernel, moved off the numbers of the segment's slots */
static long real_fd(long fd)
{
	return fd < 0 ? fd : srv_avoid_taken((int)fd);
}

/* a program that runs only in the kernel (loaded there at PROG_LOAD) */
static bool kernel_only_prog(int fd)
{
	struct bpftime_prog_info pi;

	return !bpftime_prog_get_info(srv.shm, fd, &pi) && pi.kernel_only;
}

int srv_kshare_link_create(const union bpf_attr *a)
{
	int prog = (int)a->link_create.prog_fd, target = (int)a->link_create.target_fd, kfd;
	union bpf_attr k;

	/* a target of ours (a uprobe perf event): the userspace path; a
	 * kernel-only program (XDP, tc: their target is an ifindex, which may
	 * look like one of our fds) or a real target: the kernel */
	if (!srv.kernel || srv.kernel_err || !srv_is_ours(prog) ||
	    (srv_is_ours(target) && !kernel_only_prog(prog)))
		return SRV_KSHARE_PASS;
	kfd = prog_kernel_fd(prog);
	if (kfd < 0)
		return kfd;
	k = *a;
	k.link_create.prog_fd = (uint32_t)kfd;
	return (int)real_fd(bpftime_kernel_bpf(BPF_LINK_CREATE, &k, sizeof(k)));
}

int srv_kshare_prog_attach(int cmd, const union bpf_attr *a)
{
	int prog = (int)a->attach_bpf_fd, target = (int)a->target_fd, kfd;
	union bpf_attr k;

	if (!srv.kernel || srv.kernel_err || (prog && !srv_is_ours(prog)) ||
	    a->attach_type == BPF_MODIFY_RETURN ||
	    (srv_is_ours(target) && !(prog && kernel_only_prog(prog))))
		return SRV_KSHARE_PASS;
	k = *a;
	if (prog) {
		kfd = prog_kernel_fd(prog);
		if (kfd < 0)
			return kfd;
		k.attach_bpf_fd = (uint32_t)kfd;
	}
	return (int)bpftime_kernel_bpf(cmd, &k, sizeof(k));
}

int srv_kshare_set_bpf(int perf_fd, int prog)
{
	int kfd;

	srv_lock();
	kfd = prog_kernel_fd(prog);
	srv_unlock();
	if (kfd < 0)
		return kfd;
	return srv_real.ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, kfd) < 0 ? -errno : 0;
}

/* perf events the kernel serves in kernel-shared mode: everything but our
 * uprobes and the syscall tracepoints */
long srv_kshare_perf_event_open(const struct perf_event_attr *attr, void *uattr, pid_t pid, int cpu,
				int group_fd, unsigned long flags)
{
	uint64_t config;
	long ret;

	if (!srv.kernel || srv.kernel_err || attr->type == SRV_UPROBE_PMU_TYPE ||
	    attr->type == BPFTIME_PERF_TYPE_UPROBE_OVERRIDE)
		return SRV_KSHARE_PASS;
	if (attr->type == PERF_TYPE_TRACEPOINT) {
		srv_lock();
		ret = srv_tracefs_resolve((int)attr->config, &config);
		srv_unlock();
		if (!ret)
			return SRV_KSHARE_PASS; /* a syscall tracepoint: userspace */
	}
	ret = srv_real.syscall(SYS_perf_event_open, uattr, pid, cpu, group_fd, flags);
	return ret < 0 ? -errno : real_fd(ret);
}

void *srv_kshare_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, bool *done)
{
	int kfd;

	*done = false;
	if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_MAP ||
	    !bpftime_map_kernel_id(srv.shm, fd))
		return MAP_FAILED;
	*done = true;
	kfd = bpftime_map_kernel_fd(srv.shm, fd);
	if (kfd < 0) {
		errno = -kfd;
		return MAP_FAILED;
	}
	return srv_real.mmap(addr, len, prot, flags, kfd, off);
}

void srv_kshare_prog_info(uint32_t kernel_id, const struct bpf_prog_info *u,
			  struct bpf_prog_info *k)
{
	struct bpf_prog_info ki;
	union bpf_attr a;
	int kfd = bpftime_kernel_obj_fd(kernel_id, true);

	if (kfd < 0)
		return;
	memset(&ki, 0, sizeof(ki));
	ki.jited_prog_len = u->jited_prog_len;
	ki.jited_prog_insns = u->jited_prog_insns;
	ki.nr_jited_ksyms = u->nr_jited_ksyms;
	ki.jited_ksyms = u->jited_ksyms;
	ki.nr_jited_func_lens = u->nr_jited_func_lens;
	ki.jited_func_lens = u->jited_func_lens;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)kfd;
	a.info.info_len = sizeof(ki);
	a.info.info = ptr_u64(&ki);
	if (bpftime_kernel_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0)
		return;
	k->jited_prog_len = ki.jited_prog_len;
	k->jited_prog_insns = ki.jited_prog_insns;
	k->nr_jited_ksyms = ki.nr_jited_ksyms;
	k->jited_ksyms = ki.jited_ksyms;
	k->nr_jited_func_lens = ki.nr_jited_func_lens;
	k->jited_func_lens = ki.jited_func_lens;
	k->run_time_ns = ki.run_time_ns;
	k->run_cnt = ki.run_cnt;
	k->recursion_misses = ki.recursion_misses;
	k->verified_insns = ki.verified_insns;
	k->load_time = ki.load_time;
}

int srv_kshare_epoll_fd(int fd)
{
	int kfd;

	if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_MAP ||
	    !bpftime_map_kernel_id(srv.shm, fd))
		return fd;
	kfd = bpftime_map_kernel_fd(srv.shm, fd);
	return kfd >= 0 ? kfd : fd;
}

/* ---- kernel programs in prog arrays ------------------------------------ */

int srv_kshare_prog_array_update(int map_fd, const void *key, const void *value, uint64_t flags)
{
	static const struct bpftime_insn ret0[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K }, /* r0 = 0 (never run) */
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_prog_info info;
	union bpf_attr a;
	struct stub_ctx c;
	uint32_t vfd;
	int64_t id;
	int kfd, stub, ret;

	memcpy(&vfd, value, 4);
	if (srv_is_ours((int)vfd))
		return SRV_KSHARE_PASS;
	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = vfd;
	a.info.info_len = sizeof(info);
	a.info.info = ptr_u64(&info);
	if (bpftime_kernel_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0 || !info.id)
		return SRV_KSHARE_PASS; /* not a kernel program: the usual EBADF */
	/* this process keeps the program alive as long as the segment's record
	 * may be tail-called into (the loader may close its own fd) */
	kfd = srv_real.fcntl((int)vfd, F_DUPFD_CLOEXEC, 0);
	if (kfd < 0)
		return -errno;
	id = bpftime_kernel_obj_keep(kfd, true);
	if (id < 0)
		return (int)id;
	c = (struct stub_ctx){ .name = info.name,
			       .license = "GPL",
			       .type = info.type,
			       .insns = ret0,
			       .cnt = 2,
			       .btf_fd = -1 };
	srv_lock();
	stub = srv_new_fd(make_kprog, &c, true);
	if (stub >= 0)
		bpftime_prog_set_kernel(srv.shm, stub, (uint32_t)id, true);
	srv_unlock();
	if (stub < 0)
		return stub;
	/* the stub keeps its slot (an fd of this process on /dev/null) while
	 * the loader lives: runtimes build programs from slots */
	ret = bpftime_map_update_elem(srv.shm, map_fd, key, &stub, flags);
	if (ret) {
		srv_lock();
		srv_release_fd(stub);
		srv_unlock();
		srv_real.close(stub);
	}
	if (!ret)
		pr_info("syscall server: prog array fd %d: kernel program %u ('%s') at a slot\n",
			map_fd, (uint32_t)id, info.name);
	return ret;
}

/* ---- the kernel verifier's second opinion ------------------------------- */

/* BPFTIME_KERNEL_VERIFIER=1 (`bpftime load --kernel-verifier`): a program
 * our verifier accepts is also loaded into the kernel (then closed) with a
 * log; the kernel's verdict is logged next to ours, and a program the kernel
 * refuses is refused with the kernel's log.  Maps of the segment get
 * stand-ins in the kernel of the same type and shape for the check (closed
 * with it).  Where the kernel's eBPF is not usable the check is skipped with
 * one warning. */
static int kverifier = -1; /* -1: not read yet */

static bool kverifier_on(void)
{
	if (kverifier < 0) {
		const char *e = getenv("BPFTIME_KERNEL_VERIFIER");

		kverifier =
			e && *e && strcmp(e, "0") && strcasecmp(e, "false") && strcasecmp(e, "no");
		if (kverifier && bpftime_kernel_probe()) {
			pr_warn("syscall server: BPFTIME_KERNEL_VERIFIER: the kernel's eBPF is "
				"not usable here: programs are checked by bpftime's verifier "
				"only\n");
			kverifier = 0;
		}
	}
	return kverifier;
}

/* a kernel map shaped like segment map @fd, for the kernel's verifier */
static int standin_map(int fd)
{
	struct bpftime_map_info mi;
	union bpf_attr a;
	int kfd = bpftime_map_kernel_fd(srv.shm, fd);

	if (kfd >= 0) /* kernel-shared mode: the real one */
		return fcntl(kfd, F_DUPFD_CLOEXEC, 0);
	if (bpftime_map_get_info(srv.shm, fd, &mi))
		return -EBADF;
	if (mi.type == BPF_MAP_TYPE_ARRAY_OF_MAPS || mi.type == BPF_MAP_TYPE_HASH_OF_MAPS)
		return -EOPNOTSUPP; /* would need its inner map: not checked */
	memset(&a, 0, sizeof(a));
	a.map_type = mi.type;
	a.key_size = mi.key_size;
	a.value_size = mi.value_size;
	a.max_entries = mi.max_entries;
	a.map_flags = mi.map_flags;
	a.map_extra = mi.map_extra;
	return (int)bpftime_kernel_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

int srv_kshare_kernel_verdict(const union bpf_attr *attr, const char *name)
{
	const int32_t *fd_array = u64_ptr(attr->fd_array);
	int maps[64], nmaps = 0, ret = 0;
	struct bpf_insn *insns = NULL;
	char *log = NULL;
	union bpf_attr a;
	long fd;

	if (!kverifier_on())
		return 0;
	insns = mem_alloc((size_t)attr->insn_cnt * sizeof(*insns));
	log = mem_alloc(1 << 16);
	if (!insns || !log) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(insns, u64_ptr(attr->insns), (size_t)attr->insn_cnt * sizeof(*insns));
	for (uint32_t i = 0; i + 1 < attr->insn_cnt; i++) {
		struct bpf_insn *in = &insns[i];
		int mfd, kfd = -1, j;

		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		i++;
		if (in->src_reg == BPF_PSEUDO_MAP_IDX || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE) {
			mfd = fd_array[in->imm];
			in->src_reg = in->src_reg == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD
									: BPF_PSEUDO_MAP_VALUE;
		} else if (in->src_reg == BPF_PSEUDO_MAP_FD ||
			   in->src_reg == BPF_PSEUDO_MAP_VALUE) {
			mfd = in->imm;
		} else {
			continue;
		}
		/* one stand-in per map (pairs of our fd, kernel fd) */
		for (j = 0; j + 1 < nmaps; j += 2)
			if (maps[j] == mfd)
				kfd = maps[j + 1];
		if (kfd < 0) {
			kfd = standin_map(mfd);
			if (kfd < 0 || nmaps + 2 > (int)ARRAY_SIZE(maps)) {
				pr_warn("syscall server: program '%s': the kernel's verifier "
					"cannot "
					"check it (map fd %d: %s): bpftime's verdict only\n",
					name, mfd, strerror(kfd < 0 ? -kfd : E2BIG));
				if (kfd >= 0)
					srv_real.close(kfd);
				goto out;
			}
			maps[nmaps++] = mfd;
			maps[nmaps++] = kfd;
		}
		in->imm = kfd;
	}
	memset(&a, 0, sizeof(a));
	a.prog_type = attr->prog_type;
	a.expected_attach_type = attr->expected_attach_type;
	a.prog_flags = attr->prog_flags;
	a.kern_version = attr->kern_version;
	a.attach_btf_id = attr->attach_btf_id;
	a.insns = ptr_u64(insns);
	a.insn_cnt = attr->insn_cnt;
	a.license = attr->license;
	memcpy(a.prog_name, attr->prog_name, sizeof(a.prog_name));
	log[0] = 0;
	a.log_buf = ptr_u64(log);
	a.log_size = 1 << 16;
	a.log_level = 1;
	fd = bpftime_kernel_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	if (fd == -ENOSPC) { /* only the log did not fit */
		a.log_level = 0;
		a.log_buf = 0;
		a.log_size = 0;
		fd = bpftime_kernel_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	}
	if (fd >= 0) {
		srv_real.close((int)fd);
		pr_info("syscall server: program '%s': bpftime's verifier: accepted; the kernel's "
			"verifier: accepted\n",
			name);
		goto out;
	}
	/* the kernel refuses: so do we, with its log */
	pr_warn("syscall server: program '%s': bpftime's verifier: accepted; the kernel's "
		"verifier: refused (%s):\n%s",
		name, strerror((int)-fd), log);
	if (attr->log_level && attr->log_buf && attr->log_size)
		snprintf(u64_ptr(attr->log_buf), attr->log_size,
			 "bpftime's verifier accepted the program; the kernel's refused it:\n%s",
			 log);
	ret = fd == -EACCES ? -EACCES : -EINVAL;
out:
	for (int j = 1; j < nmaps; j += 2)
		srv_real.close(maps[j]);
	free(log);
	free(insns);
	return ret;
}
