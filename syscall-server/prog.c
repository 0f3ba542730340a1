/* syscall-server/prog.c: BPF_PROG_LOAD and BPF_PROG_TEST_RUN.
 *
 * PROG_LOAD checks the attributes as the kernel does, then runs our verifier
 * (bpftime_vm__load on a scratch VM that knows the runtime's helper ids and
 * resolves map lddws against the segment).  A rejected program gets -EINVAL
 * and the verifier's message in the loader's log buffer, which libbpf prints
 * between its "-- BEGIN PROG LOAD LOG --" lines.  Accepted programs are stored
 * with their type, expected attach type, name, license and BTF fd; lddws that
 * name maps by fd_array index are rewritten to map fds first, so the stored
 * program only refers to handler slots.
 *
 * PROG_TEST_RUN runs the stored program in our VM (JIT unless
 * BPFTIME_DISABLE_JIT is set) on a copy of data_in (r1 = data, r2 = size),
 * repeat times, and reports r0, the mean duration in ns and data_out.  Map
 * helpers, tail calls and the process-identity and time helpers run for
 * real; the other helper ids verify but answer -ENOTSUPP in a test run (the
 * agent's helper set is what programs get when they are attached).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"

#define u64_ptr(x) ((void *)(uintptr_t)(x))

/* ---- helpers usable in test runs ----------------------------------------- */

static uint64_t h_map_lookup(uint64_t map, uint64_t key, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)(uintptr_t)bpftime_map_lookup_elem(u64_ptr(map), u64_ptr(key));
}

static uint64_t h_map_update(uint64_t map, uint64_t key, uint64_t val, uint64_t flags, uint64_t a5)
{
	UNUSED(a5);
	return (uint64_t)bpftime_map_update_elem(u64_ptr(map), u64_ptr(key), u64_ptr(val), flags);
}

static uint64_t h_map_delete(uint64_t map, uint64_t key, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)bpftime_map_delete_elem(u64_ptr(map), u64_ptr(key));
}

static uint64_t h_map_push(uint64_t map, uint64_t val, uint64_t flags, uint64_t a4, uint64_t a5)
{
	UNUSED(a4), UNUSED(a5);
	return (uint64_t)bpftime_map_push_elem(u64_ptr(map), u64_ptr(val), flags);
}

static uint64_t h_map_pop(uint64_t map, uint64_t val, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)bpftime_map_pop_elem(u64_ptr(map), u64_ptr(val));
}

static uint64_t h_map_peek(uint64_t map, uint64_t val, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)bpftime_map_peek_elem(u64_ptr(map), u64_ptr(val));
}

static uint64_t h_lookup_percpu(uint64_t map, uint64_t key, uint64_t cpu, uint64_t a4, uint64_t a5)
{
	UNUSED(a4), UNUSED(a5);
	return (uint64_t)(uintptr_t)bpftime_map_lookup_percpu_elem(u64_ptr(map), u64_ptr(key),
								   (uint32_t)cpu);
}

static uint64_t h_rb_output(uint64_t map, uint64_t data, uint64_t size, uint64_t flags, uint64_t a5)
{
	UNUSED(a5);
	return (uint64_t)bpftime_ringbuf_output(u64_ptr(map), u64_ptr(data), size, flags);
}

static uint64_t h_rb_reserve(uint64_t map, uint64_t size, uint64_t flags, uint64_t a4, uint64_t a5)
{
	UNUSED(a4), UNUSED(a5);
	return (uint64_t)(uintptr_t)bpftime_ringbuf_reserve(u64_ptr(map), size, flags);
}

static uint64_t h_rb_submit(uint64_t data, uint64_t flags, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	bpftime_ringbuf_submit(u64_ptr(data), flags);
	return 0;
}

static uint64_t h_rb_discard(uint64_t data, uint64_t flags, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	bpftime_ringbuf_discard(u64_ptr(data), flags);
	return 0;
}

static uint64_t h_rb_query(uint64_t map, uint64_t flags, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return bpftime_ringbuf_query(u64_ptr(map), flags);
}

static uint64_t h_perf_output(uint64_t ctx, uint64_t map, uint64_t flags, uint64_t data,
			      uint64_t size)
{
	UNUSED(ctx);
	return (uint64_t)bpftime_perf_event_output(u64_ptr(map), flags, u64_ptr(data), size);
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t h_ktime(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return now_ns(CLOCK_MONOTONIC);
}

static uint64_t h_ktime_boot(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return now_ns(CLOCK_BOOTTIME);
}

static uint64_t h_ktime_coarse(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return now_ns(CLOCK_MONOTONIC_COARSE);
}

static uint64_t h_cpu(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	int c = sched_getcpu();

	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return c < 0 ? 0 : (uint64_t)c;
}

static uint64_t h_pid_tgid(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)getpid() << 32 | (uint32_t)syscall(SYS_gettid);
}

static uint64_t h_uid_gid(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)getgid() << 32 | getuid();
}

static uint64_t h_comm(uint64_t buf, uint64_t size, uint64_t a3, uint64_t a4, uint64_t a5)
{
	char comm[17] = "";

	UNUSED(a3), UNUSED(a4), UNUSED(a5);
	if (!size)
		return (uint64_t)-EINVAL;
	prctl(PR_GET_NAME, comm);
	strncpy(u64_ptr(buf), comm, size - 1);
	((char *)u64_ptr(buf))[size - 1] = 0;
	return 0;
}

static uint64_t h_unavailable(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)-ENOTSUPP;
}

/* The helper ids the runtime implements (issues 4 and 6): what our verifier
 * accepts.  fn NULL: verifies, answers -ENOTSUPP in a test run. */
static const struct {
	uint32_t id;
	const char *name;
	bpftime_helper_fn fn;
} helpers[] = {
	{ 1, "map_lookup_elem", h_map_lookup },
	{ 2, "map_update_elem", h_map_update },
	{ 3, "map_delete_elem", h_map_delete },
	{ 4, "probe_read", NULL },
	{ 5, "ktime_get_ns", h_ktime },
	{ 6, "trace_printk", NULL },
	{ 7, "get_prandom_u32", NULL },
	{ 8, "get_smp_processor_id", h_cpu },
	{ 14, "get_current_pid_tgid", h_pid_tgid },
	{ 15, "get_current_uid_gid", h_uid_gid },
	{ 16, "get_current_comm", h_comm },
	{ 25, "perf_event_output", h_perf_output },
	{ 27, "get_stackid", NULL },
	{ 36, "probe_write_user", NULL },
	{ 45, "probe_read_str", NULL },
	{ 58, "override_return", NULL },
	{ 67, "get_stack", NULL },
	{ 87, "map_push_elem", h_map_push },
	{ 88, "map_pop_elem", h_map_pop },
	{ 89, "map_peek_elem", h_map_peek },
	{ 112, "probe_read_user", NULL },
	{ 113, "probe_read_kernel", NULL },
	{ 114, "probe_read_user_str", NULL },
	{ 115, "probe_read_kernel_str", NULL },
	{ 125, "ktime_get_boot_ns", h_ktime_boot },
	{ 130, "ringbuf_output", h_rb_output },
	{ 131, "ringbuf_reserve", h_rb_reserve },
	{ 132, "ringbuf_submit", h_rb_submit },
	{ 133, "ringbuf_discard", h_rb_discard },
	{ 134, "ringbuf_query", h_rb_query },
	{ 160, "ktime_get_coarse_ns", h_ktime_coarse },
	{ 164, "for_each_map_elem", NULL },
	{ 165, "snprintf", NULL },
	{ 173, "get_func_ip", NULL },
	{ 174, "get_attach_cookie", NULL },
	{ 177, "trace_vprintk", NULL },
	{ 181, "loop", NULL },
	{ 182, "strncmp", NULL },
	{ 183, "get_func_arg", NULL },
	{ 184, "get_func_ret", NULL },
	{ 185, "get_func_arg_cnt", NULL },
	{ 186, "get_retval", NULL },
	{ 187, "set_retval", NULL },
	{ 195, "map_lookup_percpu_elem", h_lookup_percpu },
};

/* ---- building a VM -------------------------------------------------------- */

struct run_ctx {
	const int32_t *fd_array; /* PROG_LOAD's fd_array, for pseudo sources 5/6 */
	uint32_t fd_array_cnt;
	struct {
		int fd;
		struct bpftime_vm *vm;
	} tails[8]; /* tail-call targets built during one test run */
	int ntails;
};

static int map_value_addr(int fd, int32_t off, uint64_t *value)
{
	struct bpftime_map_info mi;
	struct bpftime_map *h;
	uint32_t zero = 0;
	char *v;

	if (bpftime_handler__type(srv.shm, fd) != BPFTIME_HANDLER_MAP || !srv_is_ours(fd) ||
	    bpftime_map__info(srv.shm, fd, &mi))
		return -EBADF;
	if (mi.type != BPF_MAP_TYPE_ARRAY || mi.max_entries != 1 || off < 0 ||
	    (uint32_t)off >= mi.value_size)
		return -EINVAL;
	h = bpftime_map__handle(srv.shm, fd);
	v = h ? bpftime_map_lookup_elem(h, &zero) : NULL;
	if (!v)
		return -EINVAL;
	*value = (uint64_t)(uintptr_t)(v + off);
	return 0;
}

static int resolve_lddw(void *user, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *value)
{
	struct run_ctx *c = user;
	struct bpftime_map *h;
	int fd = imm;

	if (src == BPF_PSEUDO_MAP_IDX || src == BPF_PSEUDO_MAP_IDX_VALUE) {
		if (!c->fd_array || imm < 0 || (uint32_t)imm >= c->fd_array_cnt)
			return -EINVAL;
		fd = c->fd_array[imm];
		src = src == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
	}
	switch (src) {
	case BPF_PSEUDO_MAP_FD:
		if (bpftime_handler__type(srv.shm, fd) != BPFTIME_HANDLER_MAP || !srv_is_ours(fd))
			return -EBADF;
		h = bpftime_map__handle(srv.shm, fd);
		if (!h)
			return -EBADF;
		*value = (uint64_t)(uintptr_t)h;
		return 0;
	case BPF_PSEUDO_MAP_VALUE:
		return map_value_addr(fd, next_imm, value);
	default:
		return -EINVAL; /* BTF ids, functions by BTF: nothing to resolve them against */
	}
}

static struct bpftime_vm *tail_call(void *user, uint64_t map, uint64_t index);

static struct bpftime_vm *vm_build(struct run_ctx *c, const char *name,
				   const struct bpftime_insn *insns, size_t cnt, bool run,
				   char *err, size_t errlen)
{
	BPFTIME_OPTS(bpftime_vm_opts, o, .name = name, .resolve_lddw = resolve_lddw,
		     .tail_call = tail_call, .user_ctx = c);
	struct bpftime_vm *vm = bpftime_vm__new(&o);
	int ret;

	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(helpers); i++)
		bpftime_vm__register_helper(vm, helpers[i].id, helpers[i].name,
					    helpers[i].fn ? helpers[i].fn : h_unavailable);
	ret = bpftime_vm__load(vm, insns, cnt);
	if (ret) {
		snprintf(err, errlen, "%s", bpftime_vm__last_error(vm));
		bpftime_vm__free(vm);
		errno = -ret;
		return NULL;
	}
	if (run) {
		const char *nojit = getenv("BPFTIME_DISABLE_JIT");

		if (!(nojit && *nojit && strcmp(nojit, "0")))
			bpftime_vm__compile(vm, BPFTIME_ENGINE_JIT); /* else stays interpreted */
	}
	return vm;
}

static struct bpftime_vm *vm_of_fd(struct run_ctx *c, int fd)
{
	struct bpftime_prog_info pi;
	const struct bpftime_insn *insns;
	char err[256];
	size_t cnt;

	for (int i = 0; i < c->ntails; i++)
		if (c->tails[i].fd == fd)
			return c->tails[i].vm;
	if (c->ntails == (int)ARRAY_SIZE(c->tails) || bpftime_prog__info(srv.shm, fd, &pi))
		return NULL;
	insns = bpftime_prog__insns(srv.shm, fd, &cnt);
	if (!insns)
		return NULL;
	c->tails[c->ntails].vm = vm_build(c, pi.name, insns, cnt, true, err, sizeof(err));
	if (!c->tails[c->ntails].vm)
		return NULL;
	c->tails[c->ntails].fd = fd;
	return c->tails[c->ntails++].vm;
}

static struct bpftime_vm *tail_call(void *user, uint64_t map, uint64_t index)
{
	uint32_t id;
	int fd;

	if (index > UINT32_MAX)
		return NULL;
	id = bpftime_map_prog_array_get(u64_ptr(map), (uint32_t)index);
	if (!id)
		return NULL;
	fd = bpftime_handler__fd_by_id(srv.shm, id);
	return fd < 0 ? NULL : vm_of_fd(user, fd);
}

/* ---- PROG_LOAD ------------------------------------------------------------ */

struct prog_ctx {
	const union bpf_attr *a;
	const char *name;
	const char *license;
	const struct bpftime_insn *insns;
	size_t cnt;
};

static int make_prog(int fd, void *ctx)
{
	const struct prog_ctx *p = ctx;
	const union bpf_attr *a = p->a;
	BPFTIME_OPTS(bpftime_prog_create_opts, o, .expected_attach_type = a->expected_attach_type,
		     .license = p->license, .prog_flags = a->prog_flags,
		     .kern_version = a->kern_version, .attach_btf_id = a->attach_btf_id,
		     .attach_prog_fd = (int32_t)a->attach_prog_fd,
		     .prog_btf_fd = (int32_t)a->prog_btf_fd);

	return bpftime_prog__create(srv.shm, fd, a->prog_type, p->name, p->insns, p->cnt, &o);
}

static int put_verifier_log(const union bpf_attr *a, const char *msg)
{
	size_t len = strlen(msg) + 1;
	char *buf = u64_ptr(a->log_buf);

	if (!a->log_level || !buf || !a->log_size)
		return 0;
	snprintf(buf, a->log_size, "%s\n", msg);
	return len + 1 > a->log_size ? -ENOSPC : 0;
}

#define KNOWN_PROG_FLAGS                                                                           \
	(BPF_F_STRICT_ALIGNMENT | BPF_F_ANY_ALIGNMENT | BPF_F_TEST_RND_HI32 |                      \
	 BPF_F_TEST_STATE_FREQ | BPF_F_SLEEPABLE | BPF_F_XDP_HAS_FRAGS)

int srv_prog_load(union bpf_attr *a)
{
	struct run_ctx rc = { .fd_array = u64_ptr(a->fd_array), .fd_array_cnt = UINT32_MAX };
	struct prog_ctx p = { .a = a };
	char name[BPF_OBJ_NAME_LEN + 1], license[64], err[512];
	struct bpftime_insn *insns = NULL;
	struct bpftime_vm *vm;
	int ret;

	if (a->prog_type == BPF_PROG_TYPE_UNSPEC || a->prog_type > BPF_PROG_TYPE_SYSCALL)
		return -EINVAL;
	if (a->prog_flags & ~(uint32_t)KNOWN_PROG_FLAGS)
		return -EINVAL;
	if (!a->insn_cnt)
		return -EINVAL;
	if (a->insn_cnt > BPFTIME_MAX_INSNS)
		return -E2BIG;
	if (!a->insns || !a->license)
		return -EFAULT;
	if (a->log_level && (!a->log_buf || a->log_size < 128 || a->log_level > 7))
		return -EINVAL;
	memcpy(name, a->prog_name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;
	if (strnlen(name, BPF_OBJ_NAME_LEN + 1) >= BPF_OBJ_NAME_LEN)
		return -EINVAL;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
			return -EINVAL;
	snprintf(license, sizeof(license), "%s", (const char *)u64_ptr(a->license));
	if (a->prog_btf_fd) {
		ret = bpftime_handler__type(srv.shm, (int)a->prog_btf_fd) == BPFTIME_HANDLER_BTF &&
				      srv_is_ours((int)a->prog_btf_fd) ?
			      0 :
			      srv_bad_fd((int)a->prog_btf_fd);
		if (ret)
			return ret;
	}
	insns = malloc((size_t)a->insn_cnt * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memcpy(insns, u64_ptr(a->insns), (size_t)a->insn_cnt * sizeof(*insns));
	vm = vm_build(&rc, name, insns, a->insn_cnt, false, err, sizeof(err));
	if (!vm) {
		ret = errno == ENOMEM ? -ENOMEM : -EINVAL;
		if (ret == -EINVAL) {
			put_verifier_log(a, err);
			pr_warn("syscall server: program '%s' rejected by the verifier: %s\n", name,
				err);
		}
		goto out;
	}
	bpftime_vm__free(vm);
	/* store map references as fds only: fd_array indexes become map fds */
	for (uint32_t i = 0; i + 1 < a->insn_cnt; i++) {
		struct bpftime_insn *in = &insns[i];

		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (in->src == BPF_PSEUDO_MAP_IDX || in->src == BPF_PSEUDO_MAP_IDX_VALUE) {
			in->imm = rc.fd_array[in->imm];
			in->src = in->src == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD :
								  BPF_PSEUDO_MAP_VALUE;
		}
		i++;
	}
	if (a->log_level && a->log_buf) {
		snprintf(err, sizeof(err), "processed %u insns (limit %u)", a->insn_cnt,
			 BPFTIME_MAX_INSNS);
		put_verifier_log(a, err);
	}
	p.name = name;
	p.license = license;
	p.insns = insns;
	p.cnt = a->insn_cnt;
	ret = srv_new_fd(make_prog, &p, true);
	if (ret < 0)
		pr_warn("syscall server: cannot store program '%s': %s\n", name, strerror(-ret));
out:
	free(insns);
	return ret;
}

/* ---- PROG_TEST_RUN -------------------------------------------------------- */

int srv_prog_test_run(union bpf_attr *a, union bpf_attr *ua)
{
	struct run_ctx rc = { .fd_array = NULL };
	int fd = (int)a->test.prog_fd, ret;
	uint32_t repeat = a->test.repeat ? a->test.repeat : 1;
	struct bpftime_prog_info pi;
	const struct bpftime_insn *insns;
	struct bpftime_vm *vm;
	uint64_t r0 = 0, t0, t1;
	size_t cnt, len;
	char err[512];
	void *mem;

	if (!srv_is_ours(fd) || bpftime_handler__type(srv.shm, fd) != BPFTIME_HANDLER_PROG)
		return srv_bad_fd(fd);
	if (a->test.flags || a->test.cpu)
		return -EINVAL;
	if (bpftime_prog__info(srv.shm, fd, &pi))
		return -EBADF;
	insns = bpftime_prog__insns(srv.shm, fd, &cnt);
	if (!insns)
		return -EBADF;
	/* the context the program sees: ctx_in if given, else the data */
	len = a->test.ctx_in ? a->test.ctx_size_in : a->test.data_size_in;
	mem = calloc(1, len ? len : 1);
	if (!mem)
		return -ENOMEM;
	if (len)
		memcpy(mem, u64_ptr(a->test.ctx_in ? a->test.ctx_in : a->test.data_in), len);
	vm = vm_build(&rc, pi.name, insns, cnt, true, err, sizeof(err));
	if (!vm) {
		pr_warn("syscall server: PROG_TEST_RUN of '%s': %s\n", pi.name, err);
		free(mem);
		return -EINVAL;
	}
	rc.tails[rc.ntails].fd = fd;
	rc.tails[rc.ntails++].vm = vm;
	t0 = now_ns(CLOCK_MONOTONIC);
	ret = 0;
	for (uint32_t i = 0; i < repeat && !ret; i++)
		ret = bpftime_vm__run(vm, mem, len, &r0);
	t1 = now_ns(CLOCK_MONOTONIC);
	if (ret) {
		pr_warn("syscall server: PROG_TEST_RUN of '%s' stopped: %s\n", pi.name,
			bpftime_vm__last_error(vm));
		goto out;
	}
	ua->test.retval = (uint32_t)r0;
	ua->test.duration = (uint32_t)MIN((t1 - t0) / repeat, (uint64_t)UINT32_MAX);
	if (a->test.data_out && !a->test.ctx_in) {
		size_t out = MIN((size_t)a->test.data_size_out, len);

		memcpy(u64_ptr(a->test.data_out), mem, out);
		ua->test.data_size_out = (uint32_t)len;
		if (out < len)
			ret = -ENOSPC;
	}
	if (a->test.ctx_out && a->test.ctx_in) {
		size_t out = MIN((size_t)a->test.ctx_size_out, len);

		memcpy(u64_ptr(a->test.ctx_out), mem, out);
		ua->test.ctx_size_out = (uint32_t)len;
		if (out < len)
			ret = -ENOSPC;
	}
out:
	for (int i = 0; i < rc.ntails; i++)
		bpftime_vm__free(rc.tails[i].vm);
	free(mem);
	return ret;
}
