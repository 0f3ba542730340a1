/* SPDX-License-Identifier: MIT */
/* vm/vm.c: the VM object: creation, helper registration, load (verify,
 * resolve lddw pseudo sources, bind helpers), engine selection and the run
 * entry with its tail-call loop.  The engines live in interp.c,
 * jit_x86_64.c and llvm/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/opts.h"
#include "common/alloc.h"

__thread struct vm_run_state vm_run_state __attribute__((tls_model("initial-exec")));

int vm_error(struct bpftime_vm *vm, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->errmsg, sizeof(vm->errmsg), fmt, ap);
	va_end(ap);
	return -err;
}

static int set_errno(int ret)
{
	if (ret < 0)
		errno = -ret;
	return ret;
}

struct bpftime_vm *bpftime_vm__new(const struct bpftime_vm_opts *opts)
{
	struct bpftime_vm *vm;

	if (!OPTS_VALID(opts, bpftime_vm_opts)) {
		errno = EINVAL;
		return NULL;
	}
	vm = mem_calloc(1, sizeof(*vm));
	if (!vm) {
		errno = ENOMEM;
		return NULL;
	}
	OPTS_COPY(&vm->opts, opts);
	snprintf(vm->name, sizeof(vm->name), "%s", vm->opts.name ? vm->opts.name : "prog");
	vm->opts.name = vm->name;
	if (vm->opts.verifier) {
		const struct bpftime_verifier_ops *o = vm->opts.verifier;

		if (o->sz < sizeof(size_t)) {
			free(vm);
			errno = EINVAL;
			return NULL;
		}
		memcpy(&vm->vops, o, o->sz < sizeof(vm->vops) ? o->sz : sizeof(vm->vops));
		vm->vops.sz = sizeof(vm->vops);
		vm->has_vops = true;
		vm->opts.verifier = &vm->vops;
	}
	vm->engine = BPFTIME_ENGINE_INTERP;
	vm->helpers[VM_HELPER_TAIL_CALL] = vm_tail_call_helper;
	vm->helper_names[VM_HELPER_TAIL_CALL] = mem_strdup("tail_call");
	if (!vm->helper_names[VM_HELPER_TAIL_CALL]) {
		free(vm);
		errno = ENOMEM;
		return NULL;
	}
	return vm;
}

void bpftime_vm__free(struct bpftime_vm *vm)
{
	if (!vm)
		return;
	vm_jit_free(vm);
	vm_llvm_free(vm);
	vm_interp_free(vm);
	vm_verify_free(vm);
	free(vm->ctx_pcs);
	free(vm->vlog);
	for (size_t i = 0; i < ARRAY_SIZE(vm->helper_names); i++)
		free(vm->helper_names[i]);
	free(vm->insns);
	free(vm->orig_insns);
	free(vm);
}

int bpftime_vm__register_helper(struct bpftime_vm *vm, uint32_t id, const char *name,
				bpftime_helper_fn fn)
{
	char *copy;

	if (!vm || id > BPFTIME_MAX_HELPER_ID || !fn)
		return set_errno(-EINVAL);
	if (vm->loaded)
		return set_errno(-EBUSY);
	if (id == VM_HELPER_TAIL_CALL)
		return 0; /* the VM's own: tail calls need the engine's cooperation */
	copy = mem_strdup(name ? name : "");
	if (!copy)
		return set_errno(-ENOMEM);
	free(vm->helper_names[id]);
	vm->helper_names[id] = copy;
	vm->helpers[id] = fn;
	return 0;
}

uint32_t bpftime_vm__ctx_size(const struct bpftime_vm *vm)
{
	return vm ? vm->ctx_extent : 0;
}

const char *bpftime_vm__verifier_log(const struct bpftime_vm *vm)
{
	return vm && vm->vlog ? vm->vlog : "";
}

bpftime_helper_fn bpftime_vm__helper(const struct bpftime_vm *vm, uint32_t id)
{
	return vm && id <= BPFTIME_MAX_HELPER_ID ? vm->helpers[id] : NULL;
}

/* Replaces every pseudo lddw by the value the embedder resolves it to. */
static int resolve_lddw(struct bpftime_vm *vm)
{
	for (size_t pc = 0; pc < vm->cnt; pc++) {
		struct bpftime_insn *insn = &vm->insns[pc];
		uint64_t value;
		int err;

		if (insn->code != OP_LDDW)
			continue;
		if (insn->src == BPFTIME_PSEUDO_IMM64) {
			pc++;
			continue;
		}
		if (insn->src == BPFTIME_PSEUDO_FUNC) {
			/* a function value is engine-neutral: a tag plus the
			 * subprogram's pc (see VM_FUNC_BASE) */
			value = VM_FUNC_BASE + pc + 1 + (int64_t)insn->imm;
		} else if (!vm->opts.resolve_lddw) {
			return vm_error(vm, EINVAL,
					"pc %zu: lddw with pseudo source %u but no resolver", pc,
					insn->src);
		} else {
			err = vm->opts.resolve_lddw(vm->opts.user_ctx, insn->src, insn->imm,
						    insn[1].imm, &value);
			if (err < 0)
				return vm_error(
					vm, -err,
					"pc %zu: cannot resolve lddw pseudo source %u imm %d: %s",
					pc, insn->src, insn->imm, strerror(-err));
		}
		insn->src = 0;
		insn->imm = (int32_t)(uint32_t)value;
		insn[1].imm = (int32_t)(uint32_t)(value >> 32);
		pc++;
	}
	return 0;
}

/* The kernel's convert_ctx_access: each context access the verifier found
 * is moved to where the field lives in the real context (vops.ctx_convert),
 * in vm->insns, before any engine sees the program.  The size may change
 * (a u32 view of a pointer becomes a u64 load); the instruction count does
 * not, so jumps stay as they are.  vm->ctx_extent becomes the real
 * context's bytes the program touches. */
static int convert_ctx(struct bpftime_vm *vm)
{
	static const uint8_t size_code[9] = { [1] = BPF_B, [2] = BPF_H, [4] = BPF_W, [8] = BPF_DW };
	uint32_t extent = 0;

	for (size_t i = 0; i < vm->nr_ctx_pcs; i++) {
		uint32_t pc = vm->ctx_pcs[i], size, real_size = 0;
		struct bpftime_insn *in = &vm->insns[pc];
		bool write = BPF_CLASS(in->code) == BPF_ST || BPF_CLASS(in->code) == BPF_STX;
		int32_t real_off = 0;
		int err;

		switch (BPF_SIZE(in->code)) {
		case BPF_B:
			size = 1;
			break;
		case BPF_H:
			size = 2;
			break;
		case BPF_W:
			size = 4;
			break;
		default:
			size = 8;
		}
		err = vm->vops.ctx_convert(vm->vops.ctx, in->off, size, write, &real_off,
					   &real_size);
		if (!err &&
		    ((real_size != 1 && real_size != 2 && real_size != 4 && real_size != 8) ||
		     real_off < 0 || real_off > INT16_MAX))
			err = -EINVAL;
		if (err)
			return vm_error(vm, -err, "pc %u: cannot convert ctx access off=%d size=%u",
					pc, in->off, size);
		if (real_size != size) {
			in->code = (uint8_t)((in->code & ~0x18) | size_code[real_size]);
			/* a wider pointer field loads whole, never sign-extended */
			if (BPF_CLASS(in->code) == BPF_LDX && BPF_MODE(in->code) == BPF_MEMSX)
				in->code = (uint8_t)((in->code & ~0xe0) | BPF_MEM);
		}
		in->off = (int16_t)real_off;
		if ((uint32_t)real_off + real_size > extent)
			extent = (uint32_t)real_off + real_size;
	}
	if (vm->vops.ctx_convert && !vm->vops.raw_ctx)
		vm->ctx_extent = extent;
	return 0;
}

int bpftime_vm__load(struct bpftime_vm *vm, const struct bpftime_insn *insns, size_t cnt)
{
	int err;

	if (!vm || (!insns && cnt))
		return set_errno(-EINVAL);
	if (vm->loaded)
		return set_errno(vm_error(vm, EBUSY, "a program is already loaded"));
	vm->errmsg[0] = 0;
	err = vm_verify(vm, insns, cnt);
	if (!err && vm->has_vops) {
		err = vm_verify_safety(vm, insns, cnt);
		if (err)
			vm_verify_free(vm);
	}
	if (err)
		return set_errno(err);
	vm->orig_insns = mem_alloc(cnt * sizeof(*insns));
	vm->insns = mem_alloc(cnt * sizeof(*insns));
	if (!vm->orig_insns || !vm->insns) {
		err = vm_error(vm, ENOMEM, "out of memory copying %zu instructions", cnt);
		goto fail;
	}
	memcpy(vm->orig_insns, insns, cnt * sizeof(*insns));
	memcpy(vm->insns, insns, cnt * sizeof(*insns));
	vm->cnt = cnt;
	err = convert_ctx(vm);
	free(vm->ctx_pcs);
	vm->ctx_pcs = NULL;
	vm->nr_ctx_pcs = 0;
	if (err)
		goto fail;
	err = resolve_lddw(vm);
	if (err)
		goto fail;
	/* every program can run on the interpreter (bpftime_vm__call_func falls back to it) */
	err = vm_interp_prepare(vm);
	if (err)
		goto fail;
	vm->loaded = true;
	return 0;
fail:
	vm_verify_free(vm);
	free(vm->orig_insns);
	free(vm->insns);
	vm->orig_insns = vm->insns = NULL;
	vm->cnt = 0;
	return set_errno(err);
}

int bpftime_vm__compile(struct bpftime_vm *vm, enum bpftime_engine engine)
{
	int err = 0;

	if (!vm || !vm->loaded)
		return set_errno(-EINVAL);
	if (!vm->cnt && engine != BPFTIME_ENGINE_AOT) /* bpftime_vm__load_aot() alone */
		return set_errno(
			vm_error(vm, EOPNOTSUPP, "only an aot object is loaded in '%s'", vm->name));
	switch (engine) {
	case BPFTIME_ENGINE_INTERP:
		break;
	case BPFTIME_ENGINE_JIT:
		if (!vm->jit_fn)
			err = vm_jit_compile(vm);
		break;
	case BPFTIME_ENGINE_LLVM:
		if (!vm->llvm_fn)
			err = vm_llvm_compile(vm);
		break;
	case BPFTIME_ENGINE_AOT:
		if (!vm->aot_fn)
			err = vm_aot_compile(vm); /* none loaded: build one with LLVM now */
		break;
	default:
		err = vm_error(vm, EINVAL, "unknown engine %d", (int)engine);
	}
	if (err)
		return set_errno(err);
	vm->engine = engine;
	return 0;
}

BPFTIME_HOT static int run_one(struct bpftime_vm *vm, void *mem, uint64_t len, uint64_t *ret)
{
	switch (vm->engine) {
	case BPFTIME_ENGINE_JIT:
		*ret = vm->jit_fn(mem, len);
		return 0;
	case BPFTIME_ENGINE_LLVM:
		*ret = vm->llvm_fn(mem, len);
		return 0;
	case BPFTIME_ENGINE_AOT:
		*ret = vm->aot_fn(mem, len);
		return 0;
	case BPFTIME_ENGINE_INTERP:
		break;
	}
	return vm_interp_run(vm, mem, len, ret);
}

static int run_loop(void *mem, size_t mem_len, uint64_t *r0);

BPFTIME_HOT int bpftime_vm__run(struct bpftime_vm *vm, void *mem, size_t mem_len, uint64_t *ret)
{
	struct vm_run_state saved = vm_run_state; /* runs may nest (a hook in a helper) */
	uint64_t r0 = 0;
	int err;

	/* (no memory but a length would open [0, len) to the bounds checks) */
	if (unlikely(!vm || !vm->loaded || !ret || (!mem && mem_len)))
		return set_errno(-EINVAL);
	vm_run_state.cur = vm;
	vm_run_state.tail_next = NULL;
	vm_run_state.tail_calls = 0;
	err = run_loop(mem, mem_len, &r0);
	vm_run_state = saved;
	*ret = r0;
	return set_errno(err);
}

bpftime_vm_native_fn bpftime_vm__native(struct bpftime_vm *vm, size_t mem_len)
{
	if (!vm || !vm->loaded || vm->ctx_extent > mem_len)
		return NULL;
	switch (vm->engine) {
	case BPFTIME_ENGINE_JIT:
		return vm->jit_fn;
	case BPFTIME_ENGINE_LLVM:
		return vm->llvm_fn;
	case BPFTIME_ENGINE_AOT:
		return vm->aot_fn;
	default:
		return NULL;
	}
}

bpftime_vm_native_fn bpftime_vm__native_direct(struct bpftime_vm *vm, size_t mem_len)
{
	if (!bpftime_vm__native(vm, mem_len) || vm->engine != BPFTIME_ENGINE_JIT || !vm->orig_insns)
		return NULL;
	/* what reads the run state: a tail call, a function value and the
	 * helpers that take one (the callbacks bpftime_vm__call_func runs:
	 * for_each_map_elem, timer_set_callback, find_vma, loop,
	 * user_ringbuf_drain), callx (any of them) */
	static const int32_t callback_helpers[] = { 164, 170, 180, 181, 209 };

	for (size_t pc = 0; pc < vm->cnt; pc++) {
		const struct bpftime_insn *in = &vm->orig_insns[pc];
		bool helper = in->code == OP_CALL && in->src == BPFTIME_CALL_HELPER;

		if (in->code == OP_CALLX || (helper && in->imm == VM_HELPER_TAIL_CALL) ||
		    (in->code == OP_LDDW && in->src == BPFTIME_PSEUDO_FUNC))
			return NULL;
		for (size_t i = 0; helper && i < ARRAY_SIZE(callback_helpers); i++)
			if (in->imm == callback_helpers[i])
				return NULL;
		if (in->code == OP_LDDW)
			pc++;
	}
	return vm->jit_fn;
}

/* the programs a native run tail-called, from its r0 */
__attribute__((noinline)) static uint64_t run_native_tail(size_t mem_len, uint64_t r0)
{
	vm_run_state.cur = vm_run_state.tail_next;
	vm_run_state.tail_next = NULL;
	run_loop((void *)(uintptr_t)vm_run_state.tail_ctx, mem_len, &r0);
	return r0;
}

/* Keeps only what a run nested in another's helper changes: the running
 * program and its tail-call count (tail_next is NULL between runs, and
 * tail_ctx means nothing without it). */
BPFTIME_HOT uint64_t bpftime_vm__run_native(struct bpftime_vm *vm, bpftime_vm_native_fn fn,
					    void *mem, size_t mem_len)
{
	struct vm_run_state *rs = &vm_run_state;
	struct bpftime_vm *outer = rs->cur;
	uint32_t outer_calls = rs->tail_calls;
	uint64_t r0;

	rs->cur = vm;
	rs->tail_next = NULL;
	rs->tail_calls = 0;
	r0 = fn(mem, mem_len);
	if (unlikely(rs->tail_next))
		r0 = run_native_tail(mem_len, r0);
	rs->cur = outer;
	rs->tail_next = NULL;
	rs->tail_calls = outer_calls;
	return r0;
}

/* runs vm_run_state.cur, then the programs it tail-calls */
BPFTIME_HOT static int run_loop(void *mem, size_t mem_len, uint64_t *r0)
{
	int err;

	for (;;) {
		/* the verifier proved accesses up to ctx_extent bytes of context */
		if (unlikely(vm_run_state.cur->ctx_extent > mem_len)) {
			err = vm_error(vm_run_state.cur, EINVAL,
				       "program '%s' uses %u bytes of context, the run gives %zu",
				       vm_run_state.cur->name, vm_run_state.cur->ctx_extent,
				       mem_len);
			break;
		}
		err = run_one(vm_run_state.cur, mem, mem_len, r0);
		if (err || !vm_run_state.tail_next)
			break;
		vm_run_state.cur = vm_run_state.tail_next;
		vm_run_state.tail_next = NULL;
		mem = (void *)(uintptr_t)vm_run_state.tail_ctx;
	}
	return err;
}

uint64_t vm_tail_call_helper(uint64_t ctx, uint64_t map, uint64_t index, uint64_t r4, uint64_t r5)
{
	struct bpftime_vm *cur = vm_run_state.cur, *next;

	UNUSED(r4);
	UNUSED(r5);
	if (!cur || !cur->opts.tail_call || vm_run_state.tail_calls >= BPFTIME_MAX_TAIL_CALLS)
		return (uint64_t)-ENOENT;
	next = cur->opts.tail_call(cur->opts.user_ctx, map, index);
	if (!next || !next->loaded)
		return (uint64_t)-ENOENT;
	/* the target keeps its own engine selection */
	vm_run_state.tail_calls++;
	vm_run_state.tail_next = next;
	vm_run_state.tail_ctx = ctx;
	return 0;
}

uint64_t bpftime_vm__call_func(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
			       uint64_t r5)
{
	struct bpftime_vm *vm = vm_run_state.cur;
	const uint64_t args[5] = { r1, r2, r3, r4, r5 };
	uint64_t ret = 0;

	if (!vm || fn < VM_FUNC_BASE || fn - VM_FUNC_BASE >= vm->cnt)
		return 0;
	switch (vm->engine) {
	case BPFTIME_ENGINE_JIT:
		if (vm->jit_fn && !vm_jit_call(vm, (uint32_t)(fn - VM_FUNC_BASE), args, &ret))
			return ret;
		break;
	case BPFTIME_ENGINE_LLVM:
	case BPFTIME_ENGINE_AOT:
		if (!vm_llvm_call(vm, (uint32_t)(fn - VM_FUNC_BASE), args, &ret))
			return ret;
		break;
	case BPFTIME_ENGINE_INTERP:
		break;
	}
	vm_interp_call(vm, (uint32_t)(fn - VM_FUNC_BASE), args, &ret);
	return ret;
}

enum bpftime_engine bpftime_vm__engine(const struct bpftime_vm *vm)
{
	return vm ? vm->engine : BPFTIME_ENGINE_INTERP;
}

const struct bpftime_insn *bpftime_vm__insns(const struct bpftime_vm *vm, size_t *cnt)
{
	if (cnt)
		*cnt = vm && vm->loaded ? vm->cnt : 0;
	return vm && vm->loaded ? vm->insns : NULL;
}

const char *bpftime_vm__last_error(const struct bpftime_vm *vm)
{
	return vm ? vm->errmsg : "";
}

static const char *const engine_names[] = {
	[BPFTIME_ENGINE_INTERP] = "interpreter",
	[BPFTIME_ENGINE_JIT] = "jit",
	[BPFTIME_ENGINE_LLVM] = "llvm",
	[BPFTIME_ENGINE_AOT] = "aot",
};

const char *bpftime_engine__name(enum bpftime_engine engine)
{
	return (unsigned)engine < ARRAY_SIZE(engine_names) ? engine_names[engine] : "unknown";
}

int bpftime_engine__parse(const char *name, enum bpftime_engine *engine)
{
	static const struct {
		const char *name;
		enum bpftime_engine engine;
	} aliases[] = {
		{ "interpreter", BPFTIME_ENGINE_INTERP },
		{ "interpret", BPFTIME_ENGINE_INTERP },
		{ "interp", BPFTIME_ENGINE_INTERP },
		{ "jit", BPFTIME_ENGINE_JIT },
		{ "ubpf", BPFTIME_ENGINE_JIT },
		{ "llvm", BPFTIME_ENGINE_LLVM },
		{ "aot", BPFTIME_ENGINE_AOT },
	};

	if (!name || !engine)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(aliases); i++) {
		if (!strcasecmp(name, aliases[i].name)) {
			*engine = aliases[i].engine;
			return 0;
		}
	}
	return -EINVAL;
}
