/* SPDX-License-Identifier: MIT */
/* syscall-server/prog.c: BPF_PROG_LOAD and BPF_PROG_TEST_RUN.
 *
 * PROG_LOAD checks the attributes as the kernel does, then runs our verifier
 * (bpftime_vm__load on a scratch VM that knows the runtime's helper ids and
 * resolves map lddws against the segment).  A rejected program gets -EINVAL
 * and the verifier's message in the loader's log buffer, which libbpf prints
 * between its "-- BEGIN PROG LOAD LOG --" lines.  BTF func info and line
 * info are checked as the kernel's check_btf_info does.  Accepted programs
 * are stored with their type, expected attach type, name, license, BTF (which
 * the program holds) and func/line info (kernel record sizes); lddws that
 * name maps by fd_array index are rewritten to map fds first, and the store
 * keeps them as map ids of maps the program holds (the kernel's used_maps and
 * xlated form), never as this process's fds.
 *
 * The verifier knows every helper of helpers/helpers.def: the ones helpers/
 * implements and the probe-context ones the agent provides (HELPER_EXT).
 *
 * PROG_TEST_RUN runs the stored program through the runtime (the engine
 * BPFTIME_VM_NAME / BPFTIME_DISABLE_JIT choose, every helper, tail calls) on
 * the context the kernel builds for its type (runtime/test_run.c: an
 * xdp_buff, an skb, the argument array), repeat times, and reports r0, the
 * mean duration in ns, data_out and ctx_out as the kernel does.  The
 * probe-context helpers answer -ENOTSUPP there: there is no probe.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/btf.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/log.h"
#include "common/compiler.h"

#define u64_ptr(x) ((void *)(uintptr_t)(x))

/* ---- helpers -------------------------------------------------------------- */

/* The helpers that need a probe's context (HELPER_EXT rows of helpers.def)
 * come from the agent when programs are attached.  Here they only need to
 * exist: the verifier accepts calls to them, and a test run gets -ENOTSUPP. */
static uint64_t h_needs_probe(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	UNUSED(a1), UNUSED(a2), UNUSED(a3), UNUSED(a4), UNUSED(a5);
	return (uint64_t)-ENOTSUPP;
}

static const struct {
	uint32_t id;
	const char *name;
} ext_helpers[] = {
#define HELPER(name, id, nargs)
#define HELPER_EXT(name, id, nargs) { id, #name },
#include "helpers/helpers.def"
};

/* ---- verification ----------------------------------------------------------- */

struct verify_ctx {
	const int32_t *fd_array; /* PROG_LOAD's fd_array, for pseudo sources 5/6 */
	const union bpf_attr *a;
	const char *license; /* PROG_LOAD's, copied */
	char *log;	     /* the verifier's log (log_level > 0), malloc'ed */
};

static int map_info(void *user, unsigned int src, int32_t imm, int32_t next_imm,
		    struct bpftime_verifier_map *out)
{
	struct verify_ctx *c = user;
	int fd = imm;

	UNUSED(next_imm);
	if (src == BPF_PSEUDO_MAP_IDX || src == BPF_PSEUDO_MAP_IDX_VALUE) {
		if (!c->fd_array || imm < 0)
			return -EINVAL;
		fd = c->fd_array[imm];
	}
	if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_MAP || !srv_is_ours(fd))
		return -EBADF;
	return bpftime_verifier_map__from_shm(srv.shm, fd, out);
}

static int resolve_lddw(void *user, unsigned int src, int32_t imm, int32_t next_imm,
			uint64_t *value)
{
	struct verify_ctx *c = user;
	struct bpftime_map *h;
	int fd = imm;

	if (src == BPF_PSEUDO_MAP_IDX || src == BPF_PSEUDO_MAP_IDX_VALUE) {
		if (!c->fd_array || imm < 0)
			return -EINVAL;
		fd = c->fd_array[imm];
		src = src == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD : BPF_PSEUDO_MAP_VALUE;
	}
	if (src != BPF_PSEUDO_MAP_FD && src != BPF_PSEUDO_MAP_VALUE)
		return -EINVAL; /* BTF ids, functions by BTF: nothing to resolve them against */
	if (bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_MAP || !srv_is_ours(fd))
		return -EBADF;
	h = bpftime_map_get_handle(srv.shm, fd);
	if (!h)
		return -EBADF;
	if (src == BPF_PSEUDO_MAP_VALUE)
		return bpftime_map__direct_value_addr(h, (uint32_t)next_imm, value);
	*value = (uint64_t)(uintptr_t)h;
	return 0;
}

/* runs our verifier; 0, or its -errno (the kernel's per refusal: EACCES,
 * EINVAL, E2BIG...) with its message in @err; -ENOMEM */
static int verify(struct verify_ctx *c, const char *name, const struct bpftime_insn *insns,
		  size_t cnt, char *err, size_t errlen)
{
	struct bpftime_verifier_ops vops;
	int mode = bpftime_verifier_ops__init(&vops, c->a->prog_type, c->a->expected_attach_type);

	vops.map_info = map_info;
	vops.ctx = c;
	vops.gpl_compatible = bpftime_license__gpl_compatible(c->license);
	BPFTIME_OPTS(bpftime_vm_opts, o, .name = name, .resolve_lddw = resolve_lddw, .user_ctx = c,
		     .verifier = mode ? NULL : &vops, .log_level = c->a->log_level);
	struct bpftime_vm *vm = bpftime_vm__new(&o);
	int ret;

	if (!vm)
		return -ENOMEM;
	ret = bpftime_helpers__register_for_type(vm, c->a->prog_type);
	for (size_t i = 0; !ret && i < ARRAY_SIZE(ext_helpers); i++)
		ret = bpftime_vm__register_helper(vm, ext_helpers[i].id, ext_helpers[i].name,
						  h_needs_probe);
	if (!ret) {
		ret = bpftime_vm__load(vm, insns, cnt);
		if (ret && ret != -ENOMEM)
			snprintf(err, errlen, "%s", bpftime_vm__last_error(vm));
		if (ret != -ENOMEM && *bpftime_vm__verifier_log(vm))
			c->log = strdup(bpftime_vm__verifier_log(vm));
	}
	bpftime_vm__free(vm);
	return ret;
}

/* ---- PROG_LOAD ------------------------------------------------------------ */

struct prog_ctx {
	const union bpf_attr *a;
	const char *name;
	const char *license;
	const struct bpftime_insn *insns;
	size_t cnt;
	struct bpf_func_info *finfo; /* kernel-sized copies, or NULL */
	struct bpf_line_info *linfo;
};

/* ---- BTF func info and line info ------------------------------------------ */

/* copies @cnt user records of @rec_size bytes into @ksize-byte ones, as the
 * kernel does: the record size is at least @ksize, at most 252, a multiple
 * of 4, and the bytes past @ksize are zero (else E2BIG) */
static int copy_records(const void *user, uint32_t cnt, uint32_t rec_size, size_t ksize, void **out)
{
	char *k;

	if (rec_size < ksize || rec_size > 252 || rec_size % 4)
		return -EINVAL;
	if (!user)
		return -EFAULT;
	k = calloc(cnt, ksize);
	if (!k)
		return -ENOMEM;
	for (uint32_t i = 0; i < cnt; i++) {
		const char *r = (const char *)user + (size_t)i * rec_size;

		for (size_t b = ksize; b < rec_size; b++) {
			if (r[b]) {
				free(k);
				return -E2BIG;
			}
		}
		memcpy(k + i * ksize, r, ksize);
	}
	*out = k;
	return 0;
}

/* The kernel's check_btf_info: func info names each subprogram's start (in
 * order, one per subprogram, a FUNC type of the program's BTF); line info
 * is sorted by instruction, points at real instructions (not the second half
 * of an lddw) and at strings of the BTF, and covers every subprogram start.
 * Fills p->finfo and p->linfo; 0 or -errno with a message in @err. */
static int check_btf_info(struct prog_ctx *p, const struct bpftime_insn *insns, char *err,
			  size_t errlen)
{
	const union bpf_attr *a = p->a;
	uint32_t n = a->insn_cnt, nsub = 0, *sub = NULL;
	struct btf *btf = NULL;
	const void *data;
	size_t size;
	int ret;

	if (!a->func_info_cnt && !a->line_info_cnt)
		return 0;
	if (!a->prog_btf_fd)
		return srv_bad_fd(0); /* btf_get_by_fd(0): stdin is no BTF */
	data = bpftime_btf_data(srv.shm, (int)a->prog_btf_fd, &size);
	if (!data)
		return -EBADF;
	btf = btf__new(data, (uint32_t)size);
	if (!btf)
		return -EINVAL;
	/* subprogram starts: 0, and every target of a pseudo call or
	 * BPF_PSEUDO_FUNC lddw, sorted */
	sub = calloc(n, sizeof(*sub));
	ret = sub ? 0 : -ENOMEM;
	for (uint32_t i = 0; !ret && i < n; i++) {
		bool call =
			insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src == BPF_PSEUDO_CALL;
		bool func = insns[i].code == (BPF_LD | BPF_IMM | BPF_DW) &&
			    insns[i].src == BPF_PSEUDO_FUNC;
		int64_t t = (int64_t)i + insns[i].imm + 1;

		if (i == 0 || call || func) {
			uint32_t s = i == 0 ? 0 : (uint32_t)t;

			if (i && (t < 0 || t >= n))
				continue; /* the verifier already refused it */
			for (uint32_t k = 0; k < n; k++) {
				if (k == nsub || sub[k] == s) {
					if (k == nsub)
						sub[nsub++] = s;
					break;
				}
			}
		}
	}
	for (uint32_t i = 1; !ret && i < nsub; i++) /* insertion sort: few subprograms */
		for (uint32_t k = i; k && sub[k - 1] > sub[k]; k--) {
			uint32_t x = sub[k];

			sub[k] = sub[k - 1];
			sub[k - 1] = x;
		}
	if (!ret && a->func_info_cnt) {
		ret = copy_records(u64_ptr(a->func_info), a->func_info_cnt, a->func_info_rec_size,
				   sizeof(struct bpf_func_info), (void **)&p->finfo);
		if (!ret && a->func_info_cnt != nsub) {
			snprintf(err, errlen,
				 "number of funcs in func_info doesn't match number of subprogs");
			ret = -EINVAL;
		}
		for (uint32_t i = 0; !ret && i < nsub; i++) {
			const struct btf_type *t = btf__type_by_id(btf, p->finfo[i].type_id);

			if (p->finfo[i].insn_off != sub[i]) {
				snprintf(err, errlen,
					 "func_info BTF section doesn't match subprog layout in "
					 "BPF program");
				ret = -EINVAL;
			} else if (!t || !btf_is_func(t)) {
				snprintf(err, errlen, "invalid type id %u", p->finfo[i].type_id);
				ret = -EINVAL;
			}
		}
	}
	if (!ret && a->line_info_cnt) {
		uint32_t s = 0;

		ret = copy_records(u64_ptr(a->line_info), a->line_info_cnt, a->line_info_rec_size,
				   sizeof(struct bpf_line_info), (void **)&p->linfo);
		for (uint32_t i = 0; !ret && i < a->line_info_cnt; i++) {
			const struct bpf_line_info *l = &p->linfo[i];

			if ((i && l->insn_off <= l[-1].insn_off) || l->insn_off >= n ||
			    !insns[l->insn_off].code) {
				snprintf(err, errlen, "Invalid line_info[%u].insn_off:%u", i,
					 l->insn_off);
				ret = -EINVAL;
			} else if (!btf__name_by_offset(btf, l->line_off) ||
				   !btf__name_by_offset(btf, l->file_name_off)) {
				snprintf(err, errlen,
					 "Invalid line_info[%u].line_off or .file_name_off", i);
				ret = -EINVAL;
			}
			while (!ret && s < nsub && sub[s] <= l->insn_off) {
				if (sub[s] != l->insn_off) {
					snprintf(err, errlen, "missing bpf_line_info for func#%u",
						 s);
					ret = -EINVAL;
				}
				s++;
			}
		}
		if (!ret && s < nsub) {
			snprintf(err, errlen, "missing bpf_line_info for func#%u", s);
			ret = -EINVAL;
		}
	}
	free(sub);
	btf__free(btf);
	return ret;
}

static int make_prog(int fd, void *ctx)
{
	const struct prog_ctx *p = ctx;
	const union bpf_attr *a = p->a;
	BPFTIME_OPTS(bpftime_prog_create_opts, o, .expected_attach_type = a->expected_attach_type,
		     .license = p->license, .prog_flags = a->prog_flags,
		     .kern_version = a->kern_version, .attach_btf_id = a->attach_btf_id,
		     .attach_prog_fd = (int32_t)a->attach_prog_fd,
		     .prog_btf_fd = a->prog_btf_fd ? (int32_t)a->prog_btf_fd : -1,
		     .func_info = p->finfo, .func_info_rec_size = sizeof(struct bpf_func_info),
		     .func_info_cnt = p->finfo ? a->func_info_cnt : 0, .line_info = p->linfo,
		     .line_info_rec_size = sizeof(struct bpf_line_info),
		     .line_info_cnt = p->linfo ? a->line_info_cnt : 0);

	return bpftime_prog_create(srv.shm, fd, a->prog_type, p->name, p->insns, p->cnt, &o);
}

/* The log as the kernel writes it: as much as fits, NUL-terminated; a log
 * that did not fit makes the load fail with ENOSPC (the kernel's
 * bpf_vlog_finalize), whatever the verdict.  With log_level bit 0 or 1 set
 * the whole log is kept in the order written; the kernel's default
 * (rotating) mode keeps the end instead: so do we, unless BPF_LOG_FIXED (8). */
static int put_verifier_log(const union bpf_attr *a, const char *msg)
{
	size_t len = strlen(msg);
	char *buf = u64_ptr(a->log_buf);

	if (!a->log_level || !buf || !a->log_size)
		return 0;
	if (len + 1 <= a->log_size) {
		memcpy(buf, msg, len + 1);
		return 0;
	}
	if (a->log_level & 8)
		memcpy(buf, msg, a->log_size - 1);
	else
		memcpy(buf, msg + len - (a->log_size - 1), a->log_size - 1);
	buf[a->log_size - 1] = 0;
	return -ENOSPC;
}

#define KNOWN_PROG_FLAGS                                                      \
	(BPF_F_STRICT_ALIGNMENT | BPF_F_ANY_ALIGNMENT | BPF_F_TEST_RND_HI32 | \
	 BPF_F_TEST_STATE_FREQ | BPF_F_SLEEPABLE | BPF_F_XDP_HAS_FRAGS)

int srv_prog_load(union bpf_attr *a)
{
	struct verify_ctx vc = { .fd_array = u64_ptr(a->fd_array), .a = a };
	struct prog_ctx p = { .a = a };
	char name[BPF_OBJ_NAME_LEN + 1], license[64], err[512];
	struct bpftime_insn *insns = NULL;
	int ret;

	/* a type we cannot run fails as a type the kernel lacks */
	if (!bpftime_prog_type__supported(a->prog_type))
		return -EINVAL;
	if (a->prog_flags & ~(uint32_t)KNOWN_PROG_FLAGS)
		return -EINVAL;
	if (!a->insn_cnt || a->insn_cnt > BPFTIME_MAX_INSNS)
		return -E2BIG; /* the kernel's code for both */
	if (!a->insns || !a->license)
		return -EFAULT;
	if (a->log_level && (!a->log_buf || a->log_size < 128 || a->log_level > 15))
		return -EINVAL;
	if (srv_kshare_loads_at_prog_load(a->prog_type))
		return srv_kshare_prog_load(a); /* kernel-shared mode: XDP, tc... (kshare.c) */
	memcpy(name, a->prog_name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = 0;
	if (strnlen(name, BPF_OBJ_NAME_LEN + 1) >= BPF_OBJ_NAME_LEN)
		return -EINVAL;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
			return -EINVAL;
	snprintf(license, sizeof(license), "%s", (const char *)u64_ptr(a->license));
	vc.license = license;
	if (a->prog_btf_fd) {
		ret = bpftime_handler_get_type(srv.shm, (int)a->prog_btf_fd) ==
					      BPFTIME_HANDLER_BTF &&
				      srv_is_ours((int)a->prog_btf_fd)
			      ? 0
			      : srv_bad_fd((int)a->prog_btf_fd);
		if (ret)
			return ret;
	}
	insns = malloc((size_t)a->insn_cnt * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memcpy(insns, u64_ptr(a->insns), (size_t)a->insn_cnt * sizeof(*insns));
	err[0] = 0;
	ret = verify(&vc, name, insns, a->insn_cnt, err, sizeof(err));
	if (!ret) {
		ret = check_btf_info(&p, insns, err, sizeof(err));
		if (ret) {
			if (err[0]) {
				put_verifier_log(a, err);
				pr_warn("syscall server: program '%s': %s\n", name, err);
			}
			goto out;
		}
	}
	if (ret) {
		if (ret != -ENOMEM && err[0]) {
			/* the verifier's log ends with its verdict; a structural
			 * rejection has only the message */
			if (put_verifier_log(a,
					     vc.log && strstr(vc.log, "processed ") ? vc.log : err))
				ret = -ENOSPC;
			pr_warn("syscall server: program '%s' rejected by the verifier: %s\n", name,
				err);
		}
		goto out;
	}
	/* BPFTIME_KERNEL_VERIFIER: the kernel's verdict too (kshare.c) */
	ret = srv_kshare_kernel_verdict(a, name);
	if (ret)
		goto out;
	/* fd_array indexes become map fds; bpftime_prog_create() then binds
	 * every map the program names (used_maps) and stores its id */
	for (uint32_t i = 0; i + 1 < a->insn_cnt; i++) {
		struct bpftime_insn *in = &insns[i];

		if (in->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		if (in->src == BPF_PSEUDO_MAP_IDX || in->src == BPF_PSEUDO_MAP_IDX_VALUE) {
			in->imm = vc.fd_array[in->imm];
			in->src = in->src == BPF_PSEUDO_MAP_IDX ? BPF_PSEUDO_MAP_FD
								: BPF_PSEUDO_MAP_VALUE;
		}
		i++;
	}
	if (a->log_level && a->log_buf) {
		snprintf(err, sizeof(err), "processed %u insns (limit %u)\n", a->insn_cnt,
			 BPFTIME_MAX_INSNS);
		ret = put_verifier_log(a, vc.log ? vc.log : err);
		if (ret) /* the kernel's ENOSPC: the log did not fit */
			goto out;
	}
	p.name = name;
	p.license = license;
	p.insns = insns;
	p.cnt = a->insn_cnt;
	ret = srv_new_fd(make_prog, &p, true);
	if (ret < 0) {
		pr_warn("syscall server: cannot store program '%s': %s\n", name, strerror(-ret));
		goto out;
	}
out:
	free(vc.log);
	free(p.finfo);
	free(p.linfo);
	free(insns);
	return ret;
}

/* ---- PROG_TEST_RUN -------------------------------------------------------- */

/* the runtime that builds test-run VMs (and the code OBJ_GET_INFO reports,
 * jited.c), made on first use (under srv_lock) */
struct bpftime_runtime *srv_prog_runtime(void)
{
	static struct bpftime_runtime *rt;

	if (rt)
		return rt;
	rt = bpftime_runtime__new(srv.shm, NULL);
	for (size_t i = 0; rt && i < ARRAY_SIZE(ext_helpers); i++)
		bpftime_runtime__set_helper(rt, ext_helpers[i].id, ext_helpers[i].name,
					    h_needs_probe);
	return rt;
}

void srv_prog_xlated(int fd, const struct bpftime_insn *stored, struct bpftime_insn *out, size_t n)
{
	struct bpftime_runtime *rt = srv_prog_runtime();
	const struct bpftime_insn *run = NULL;
	struct bpftime_vm *vm;
	size_t cnt = 0;

	memcpy(out, stored, n * sizeof(*out));
	vm = rt ? bpftime_runtime__prog(rt, fd) : NULL;
	if (vm)
		run = bpftime_vm__insns(vm, &cnt);
	/* the loaded program differs from the stored one in its resolved lddws
	 * (kept as map ids here) and its rewritten context accesses (shown) */
	for (size_t pc = 0; run && pc < n && pc < cnt; pc++) {
		uint8_t cls = BPF_CLASS(stored[pc].code);

		if (stored[pc].code == (BPF_LD | BPF_IMM | BPF_DW)) {
			pc++;
			continue;
		}
		if (cls == BPF_LDX || cls == BPF_ST || cls == BPF_STX)
			out[pc] = run[pc];
	}
}

/* the kernel's test run for the program's type (runtime/test_run.c): the
 * context it builds, its errors, its outputs (also with -ENOSPC) */
int srv_prog_test_run(union bpf_attr *a, union bpf_attr *ua)
{
	int fd = (int)a->test.prog_fd, ret;
	struct bpftime_runtime *rt;
	BPFTIME_OPTS(bpftime_test_run_opts, o, .data_in = u64_ptr(a->test.data_in),
		     .data_size_in = a->test.data_size_in, .data_out = u64_ptr(a->test.data_out),
		     .data_size_out = a->test.data_size_out, .ctx_in = u64_ptr(a->test.ctx_in),
		     .ctx_size_in = a->test.ctx_size_in, .ctx_out = u64_ptr(a->test.ctx_out),
		     .ctx_size_out = a->test.ctx_size_out, .repeat = a->test.repeat,
		     .flags = a->test.flags, .cpu = a->test.cpu, .batch_size = a->test.batch_size,
		     .duration = a->test.duration);

	if (!srv_is_ours(fd) || bpftime_handler_get_type(srv.shm, fd) != BPFTIME_HANDLER_PROG)
		return srv_bad_fd(fd);
	rt = srv_prog_runtime();
	if (!rt)
		return -ENOMEM;
	ret = bpftime_runtime__test_run(rt, fd, &o);
	if (ret && ret != -ENOSPC) {
		if (ret != -EINVAL && ret != -E2BIG && ret != -ENOTSUPP)
			pr_warn("syscall server: PROG_TEST_RUN of fd %d: %s\n", fd, strerror(-ret));
		return ret;
	}
	ua->test.retval = o.retval;
	ua->test.duration = o.duration;
	if (a->test.data_out || a->test.data_in)
		ua->test.data_size_out = o.data_size_out;
	if (a->test.ctx_out)
		ua->test.ctx_size_out = o.ctx_size_out;
	return ret;
}
