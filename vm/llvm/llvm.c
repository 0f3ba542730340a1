/* SPDX-License-Identifier: MIT */
/* vm/llvm/llvm.c: the entry of libbpftime-llvm.so.  Builds the IR of a
 * loaded program (emit.c), optimises it with LLVM's O3 pipeline for the
 * host CPU, then either hands it to an ORC LLJIT (the llvm engine) or
 * emits a relocatable x86-64 ELF object or LLVM IR text (AOT).
 *
 * Only the LLVM-C API is used (LLVMRunPasses with "default<O3>" exists from
 * LLVM 13 on and replaces the legacy PassManagerBuilder removed in 17), so
 * the same file builds against LLVM 14, 15 and later.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <llvm/Config/llvm-config.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include "vm/internal.h"
#include "common/sha256.h"
#include "llvm.h"
#include "emit.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

static int take_error(struct bpftime_vm *vm, int err, const char *what, LLVMErrorRef e);

struct llvm_callback {
	uint32_t pc;
	bpftime_helper_fn fn;
};

struct llvm_jit {
	LLVMOrcLLJITRef jit;
	struct llvm_callback *callbacks; /* bpf_sub_<pc> entries */
	size_t ncallbacks;
};

/* Looks up the callback entries of the program's function values. */
static int find_callbacks(struct bpftime_vm *vm, struct llvm_jit *state)
{
	for (size_t pc = 0; pc < vm->cnt; pc++) {
		const struct bpftime_insn *insn = &vm->orig_insns[pc];
		LLVMOrcJITTargetAddress addr;
		struct llvm_callback *tmp;
		char name[32];
		uint32_t target;
		bool known = false;
		LLVMErrorRef e;

		if (insn->code != OP_LDDW)
			continue;
		pc++;
		if (insn->src != BPFTIME_PSEUDO_FUNC)
			continue;
		target = (uint32_t)((int64_t)pc + insn->imm); /* pc is the second slot */
		for (size_t i = 0; i < state->ncallbacks; i++)
			known |= state->callbacks[i].pc == target;
		if (known)
			continue;
		snprintf(name, sizeof(name), VM_LLVM_SUB_PFX "%u", target);
		e = LLVMOrcLLJITLookup(state->jit, &addr, name);
		if (e)
			return take_error(vm, EINVAL, "llvm: callback entry", e);
		tmp = realloc(state->callbacks, (state->ncallbacks + 1) * sizeof(*tmp));
		if (!tmp)
			return llvm_error(vm, ENOMEM, "out of memory");
		state->callbacks = tmp;
		tmp[state->ncallbacks++] = (struct llvm_callback){
			.pc = target,
			.fn = (bpftime_helper_fn)(uintptr_t)addr,
		};
	}
	return 0;
}

static int jit_call(struct bpftime_vm *vm, uint32_t pc, const uint64_t args[5], uint64_t *ret)
{
	struct llvm_jit *state = vm->llvm_state;

	for (size_t i = 0; state && i < state->ncallbacks; i++) {
		if (state->callbacks[i].pc == pc) {
			*ret = state->callbacks[i].fn(args[0], args[1], args[2], args[3], args[4]);
			return 0;
		}
	}
	return -ENOENT;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool init_ok;

static void init_llvm(void)
{
	init_ok = !LLVMInitializeNativeTarget() && !LLVMInitializeNativeAsmPrinter();
}

/* Takes the error and records its message; returns -err. */
static int take_error(struct bpftime_vm *vm, int err, const char *what, LLVMErrorRef e)
{
	char *msg = LLVMGetErrorMessage(e);

	llvm_error(vm, err, "%s: %s", what, msg);
	LLVMDisposeErrorMessage(msg);
	return -err;
}

/* A target machine for the host CPU.  The JIT and AOT objects both run on
 * this machine (AOT objects are built where they run, as bpftime does). */
static LLVMTargetMachineRef host_tm(struct bpftime_vm *vm, LLVMRelocMode reloc)
{
	char *triple = LLVMGetDefaultTargetTriple();
	char *cpu = LLVMGetHostCPUName();
	char *features = LLVMGetHostCPUFeatures();
	LLVMTargetMachineRef tm = NULL;
	LLVMTargetRef target;
	char *msg = NULL;

	if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
		llvm_error(vm, EOPNOTSUPP, "llvm: no target for %s: %s", triple, msg);
		LLVMDisposeMessage(msg);
	} else {
		tm = LLVMCreateTargetMachine(target, triple, cpu, features,
					     LLVMCodeGenLevelAggressive, reloc,
					     LLVMCodeModelDefault);
		if (!tm)
			llvm_error(vm, EOPNOTSUPP, "llvm: cannot create a target machine for %s",
				   triple);
	}
	LLVMDisposeMessage(triple);
	LLVMDisposeMessage(cpu);
	LLVMDisposeMessage(features);
	return tm;
}

/* The BPF back end has no rotate: clang lowers rotl(x * C, r) to
 * (x * (C << r)) | ((x * C) >> (w - r)), folding the left shift into the
 * multiplication, and from there LLVM no longer sees a rotate (hash
 * functions pay two multiplications for one plus a rol).  This puts the
 * rotate back: or(mul(X, C << r), lshr(mul(X, C), w - r)) -> fshl(m, m, r)
 * with m = mul(X, C).  The other multiplication becomes dead. */
static bool is_op(LLVMValueRef v, LLVMOpcode op)
{
	return LLVMIsAInstruction(v) && LLVMGetInstructionOpcode(v) == op;
}

static bool const_of(LLVMValueRef v, unsigned long long *c)
{
	if (!LLVMIsAConstantInt(v))
		return false;
	*c = LLVMConstIntGetZExtValue(v);
	return true;
}

/* or(a, b) where a = mul(X, C2), b = lshr(m = mul(X, C1), s): the m to
 * rotate left by w - s, or NULL. */
static LLVMValueRef match_mul_rotate(LLVMValueRef a, LLVMValueRef b, unsigned int w,
				     unsigned long long *rot)
{
	unsigned long long c1, c2, s, mask = w == 64 ? ~0ULL : (1ULL << w) - 1;
	LLVMValueRef m;

	if (!is_op(a, LLVMMul) || !is_op(b, LLVMLShr))
		return NULL;
	m = LLVMGetOperand(b, 0);
	if (!is_op(m, LLVMMul) || !const_of(LLVMGetOperand(b, 1), &s) || !s || s >= w)
		return NULL;
	if (LLVMGetOperand(m, 0) != LLVMGetOperand(a, 0) || !const_of(LLVMGetOperand(m, 1), &c1) ||
	    !const_of(LLVMGetOperand(a, 1), &c2))
		return NULL;
	if (((c1 << (w - s)) & mask) != c2)
		return NULL;
	*rot = w - s;
	return m;
}

static void recover_rotates(LLVMModuleRef mod)
{
	static const char name[] = "llvm.fshl";
	unsigned int id = LLVMLookupIntrinsicID(name, sizeof(name) - 1);
	LLVMContextRef ctx = LLVMGetModuleContext(mod);
	LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);

	for (LLVMValueRef fn = LLVMGetFirstFunction(mod); fn; fn = LLVMGetNextFunction(fn)) {
		for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(fn); bb;
		     bb = LLVMGetNextBasicBlock(bb)) {
			LLVMValueRef next;

			for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = next) {
				LLVMTypeRef t = LLVMTypeOf(in);
				LLVMValueRef m, args[3];
				unsigned long long rot;
				unsigned int w;

				next = LLVMGetNextInstruction(in);
				if (!is_op(in, LLVMOr) || LLVMGetTypeKind(t) != LLVMIntegerTypeKind)
					continue;
				w = LLVMGetIntTypeWidth(t);
				if (w > 64)
					continue;
				m = match_mul_rotate(LLVMGetOperand(in, 0), LLVMGetOperand(in, 1),
						     w, &rot);
				if (!m)
					m = match_mul_rotate(LLVMGetOperand(in, 1),
							     LLVMGetOperand(in, 0), w, &rot);
				if (!m)
					continue;
				LLVMPositionBuilderBefore(b, in);
				args[0] = args[1] = m;
				args[2] = LLVMConstInt(t, rot, 0);
				LLVMReplaceAllUsesWith(
					in,
					LLVMBuildCall2(b, LLVMIntrinsicGetType(ctx, id, &t, 1),
						       LLVMGetIntrinsicDeclaration(mod, id, &t, 1),
						       args, 3, ""));
				LLVMInstructionEraseFromParent(in);
			}
		}
	}
	LLVMDisposeBuilder(b);
}

/* Builds, checks and optimises the module of vm's program. */
static int build_module(struct bpftime_vm *vm, LLVMModuleRef mod, LLVMTargetMachineRef tm, bool aot)
{
	LLVMPassBuilderOptionsRef opts;
	LLVMTargetDataRef td;
	char *triple, *msg = NULL;
	const char *passes;
	LLVMErrorRef e;
	int err;

	triple = LLVMGetTargetMachineTriple(tm);
	LLVMSetTarget(mod, triple);
	LLVMDisposeMessage(triple);
	td = LLVMCreateTargetDataLayout(tm);
	LLVMSetModuleDataLayout(mod, td);
	LLVMDisposeTargetData(td);

	err = llvm_emit_module(vm, mod, aot);
	if (err)
		return err;
	if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
		err = llvm_error(vm, EINVAL, "llvm: invalid IR (a bug in bpftime): %.160s", msg);
		LLVMDisposeMessage(msg);
		return err;
	}
	LLVMDisposeMessage(msg);
	/* BPFTIME_LLVM_PASSES: another pipeline, for experiments ("default<O2>") */
	passes = getenv("BPFTIME_LLVM_PASSES");
	opts = LLVMCreatePassBuilderOptions();
	e = LLVMRunPasses(mod, passes && *passes ? passes : "default<O3>", tm, opts);
	LLVMDisposePassBuilderOptions(opts);
	if (e)
		return take_error(vm, EINVAL, "llvm: optimisation failed", e);
	recover_rotates(mod);
	return 0;
}

static bool ready(struct bpftime_vm *vm)
{
	pthread_once(&init_once, init_llvm);
	if (!init_ok)
		llvm_error(vm, EOPNOTSUPP, "llvm: the native target is not available");
	return init_ok;
}

static int jit_compile(struct bpftime_vm *vm)
{
	LLVMOrcThreadSafeContextRef tsc = NULL;
	LLVMOrcDefinitionGeneratorRef gen;
	LLVMOrcJITTargetMachineBuilderRef jtmb;
	LLVMOrcLLJITBuilderRef builder;
	LLVMOrcThreadSafeModuleRef tsm;
	LLVMOrcJITTargetAddress addr;
	LLVMTargetMachineRef tm = NULL, jit_tm;
	struct llvm_jit *state = NULL;
	LLVMModuleRef mod = NULL;
	LLVMErrorRef e;
	int err;

	if (!ready(vm))
		return -EOPNOTSUPP;
	state = calloc(1, sizeof(*state));
	if (!state)
		return llvm_error(vm, ENOMEM, "out of memory");
	tm = host_tm(vm, LLVMRelocDefault);
	jit_tm = host_tm(vm, LLVMRelocDefault);
	if (!tm || !jit_tm) {
		if (jit_tm)
			LLVMDisposeTargetMachine(jit_tm);
		err = -EOPNOTSUPP;
		goto out;
	}
	/* the builder owns jit_tm from here on, the JIT owns the builder */
	jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jit_tm);
	builder = LLVMOrcCreateLLJITBuilder();
	LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
	e = LLVMOrcCreateLLJIT(&state->jit, builder);
	if (e) {
		err = take_error(vm, EOPNOTSUPP, "llvm: cannot create the jit", e);
		goto out;
	}
	/* memset/memcpy, should the optimiser introduce them */
	e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
		&gen, LLVMOrcLLJITGetGlobalPrefix(state->jit), NULL, NULL);
	if (e) {
		err = take_error(vm, EOPNOTSUPP, "llvm: jit symbol generator", e);
		goto out;
	}
	LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(state->jit), gen);

	tsc = LLVMOrcCreateNewThreadSafeContext();
	mod = LLVMModuleCreateWithNameInContext(vm->name, LLVMOrcThreadSafeContextGetContext(tsc));
	err = build_module(vm, mod, tm, false);
	if (err)
		goto out;
	tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
	mod = NULL; /* owned by tsm, which the JIT takes */
	e = LLVMOrcLLJITAddLLVMIRModule(state->jit, LLVMOrcLLJITGetMainJITDylib(state->jit), tsm);
	if (e) {
		LLVMOrcDisposeThreadSafeModule(tsm);
		err = take_error(vm, EINVAL, "llvm: jit", e);
		goto out;
	}
	e = LLVMOrcLLJITLookup(state->jit, &addr, LLVM_MAIN_SYM);
	if (e) {
		err = take_error(vm, EINVAL, "llvm: jit compilation failed", e);
		goto out;
	}
	err = find_callbacks(vm, state);
	if (err)
		goto out;
	vm->llvm_fn = (vm_jit_fn)(uintptr_t)addr;
	vm->llvm_state = state;
	state = NULL;
	err = 0;
out:
	if (mod)
		LLVMDisposeModule(mod);
	if (tsc)
		LLVMOrcDisposeThreadSafeContext(tsc);
	if (tm)
		LLVMDisposeTargetMachine(tm);
	if (state) {
		if (state->jit)
			LLVMOrcDisposeLLJIT(state->jit);
		free(state->callbacks);
		free(state);
	}
	return err;
}

static void jit_free(struct bpftime_vm *vm)
{
	struct llvm_jit *state = vm->llvm_state;

	if (!state)
		return;
	LLVMOrcDisposeLLJIT(state->jit);
	free(state->callbacks);
	free(state);
	vm->llvm_state = NULL;
	vm->llvm_fn = NULL;
}

/* Adds the hash of the program the object is compiled from (see
 * VM_AOT_HASH_SYM), checked by vm_aot_load(). */
static void bind_to_program(struct bpftime_vm *vm, LLVMModuleRef mod, LLVMContextRef ctx)
{
	uint8_t hash[SHA256_LEN];
	LLVMValueRef g;

	sha256(vm->orig_insns, vm->cnt * sizeof(*vm->orig_insns), hash);
	g = LLVMAddGlobal(mod, LLVMArrayType(LLVMInt8TypeInContext(ctx), SHA256_LEN),
			  VM_AOT_HASH_SYM);
	LLVMSetInitializer(g, LLVMConstStringInContext(ctx, (const char *)hash, SHA256_LEN, true));
	LLVMSetGlobalConstant(g, true);
	/* local: drivers link several objects into one program; added after
	 * the optimiser, so nothing removes it for being unused */
	LLVMSetLinkage(g, LLVMInternalLinkage);
	LLVMSetAlignment(g, 8);
}

static int emit_aot(struct bpftime_vm *vm, bool ir, void **buf, size_t *size)
{
	LLVMMemoryBufferRef mb = NULL;
	LLVMTargetMachineRef tm;
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	char *msg = NULL;
	int err;

	*buf = NULL;
	*size = 0;
	if (!ready(vm))
		return -EOPNOTSUPP;
	/* position-independent: the object is linked into PIE drivers */
	tm = host_tm(vm, LLVMRelocPIC);
	if (!tm)
		return -EOPNOTSUPP;
	ctx = LLVMContextCreate();
	mod = LLVMModuleCreateWithNameInContext(vm->name, ctx);
	err = build_module(vm, mod, tm, true);
	if (err)
		goto out;
	bind_to_program(vm, mod, ctx);
	if (ir) {
		msg = LLVMPrintModuleToString(mod);
		*size = strlen(msg);
		*buf = malloc(*size + 1);
		if (*buf)
			memcpy(*buf, msg, *size + 1);
		LLVMDisposeMessage(msg);
	} else {
		if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &mb)) {
			err = llvm_error(vm, EINVAL, "llvm: cannot emit the object: %s", msg);
			LLVMDisposeMessage(msg);
			goto out;
		}
		*size = LLVMGetBufferSize(mb);
		*buf = malloc(*size);
		if (*buf)
			memcpy(*buf, LLVMGetBufferStart(mb), *size);
		LLVMDisposeMemoryBuffer(mb);
	}
	if (!*buf) {
		*size = 0;
		err = llvm_error(vm, ENOMEM, "out of memory");
	}
out:
	LLVMDisposeModule(mod);
	LLVMContextDispose(ctx);
	LLVMDisposeTargetMachine(tm);
	return err;
}

static const char *llvm_version(void)
{
	return STR(LLVM_VERSION_MAJOR) "." STR(LLVM_VERSION_MINOR) "." STR(LLVM_VERSION_PATCH);
}

static const struct vm_llvm_ops ops = {
	.compile = jit_compile,
	.free = jit_free,
	.emit_aot = emit_aot,
	.call = jit_call,
	.version = llvm_version,
};

__attribute__((visibility("default"))) const struct vm_llvm_ops *
bpftime_llvm_entry(unsigned int abi, size_t vm_size);

const struct vm_llvm_ops *bpftime_llvm_entry(unsigned int abi, size_t vm_size)
{
	if (abi != VM_LLVM_ABI || vm_size != sizeof(struct bpftime_vm))
		return NULL;
	return &ops;
}
