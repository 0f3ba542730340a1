/* SPDX-License-Identifier: MIT */
/* vm/verify.c: the structural verifier, run on every load.
 *
 * It checks what can be checked without tracking register values, so that
 * every back end may assume a well-formed program:
 *   - size: at least one and at most BPFTIME_MAX_INSNS slots;
 *   - every opcode is a row of insn.def, and the fields the row does not use
 *     are zero (RFC 9669 section 3 and the kernel's check_*_op rules);
 *   - registers are r0..r10, and r10 (the frame pointer) is never written;
 *   - encodings chosen by other fields are valid: END widths 16/32/64,
 *     sdiv/smod off 0/1, movsx off 8/16/32 (MOV64) or 8/16 (MOV32), atomic
 *     operations add/and/or/xor (with or without fetch), xchg, cmpxchg;
 *   - div/mod by an immediate zero is rejected (as the kernel does; by a
 *     register zero is defined behaviour, see interp.c);
 *   - lddw: the second slot exists and is empty apart from imm, the pseudo
 *     source is 0..6;
 *   - calls: helper ids registered, local calls (src 1) and function values
 *     (lddw src 4) land on an instruction start, which then starts a
 *     subprogram; kfunc calls (src 2) are not supported;
 *   - jumps land inside the program, never on the second slot of an lddw and
 *     never in another subprogram;
 *   - no path falls off the end: each subprogram ends with exit or an
 *     unconditional jump (the kernel's rule);
 *   - the static call graph has no recursion and needs at most
 *     BPFTIME_MAX_CALL_DEPTH frames (callx and function values are dynamic;
 *     the engines check them at run time).
 * Every message names the pc and says what is wrong; tests pin them.  At
 * debug level the log also shows the instruction at that pc, disassembled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"
#include "common/alloc.h"

#define REG_FP 10

/* per-slot marks */
enum {
	SLOT_LDDW_HI = 1 << 0, /* second slot of an lddw */
	SLOT_ENTRY = 1 << 1,   /* starts a subprogram */
};

struct verifier {
	struct bpftime_vm *vm;
	const struct bpftime_insn *insns;
	size_t cnt;
	uint8_t *slot;	   /* SLOT_* per pc */
	uint32_t *entries; /* subprogram entries, ascending */
	size_t nr_entries;
	uint8_t *state;	 /* per subprogram, call-graph walk */
	uint8_t *height; /* frames needed from a subprogram, once known */
};

/* A rejection: "pc N: " and the kernel's words for it (its check_cfg and
 * do_check messages), with what is wrong in brackets where the kernel's
 * words do not say.  reject() fails with EINVAL, the kernel's errno for a
 * malformed program; reject_e() with another one (EACCES for a write to the
 * frame pointer, E2BIG for size and call depth). */
static int vreject(struct verifier *v, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static int vreject(struct verifier *v, int err, const char *fmt, va_list ap)
{
	vsnprintf(v->vm->errmsg, sizeof(v->vm->errmsg), fmt, ap);
	return -err;
}

static int reject(struct verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int reject(struct verifier *v, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = vreject(v, EINVAL, fmt, ap);
	va_end(ap);
	return err;
}

static int reject_e(struct verifier *v, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reject_e(struct verifier *v, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = vreject(v, err, fmt, ap);
	va_end(ap);
	return err;
}

/* the kernel's name of an instruction in "... uses reserved fields" */
static const char *kernel_class(const struct bpftime_insn *insn)
{
	switch (BPF_CLASS(insn->code)) {
	case BPF_ALU:
	case BPF_ALU64:
		switch (BPF_OP(insn->code)) {
		case BPF_MOV:
			return "BPF_MOV";
		case BPF_NEG:
			return "BPF_NEG";
		case BPF_END:
			return "BPF_END";
		default:
			return "BPF_ALU";
		}
	case BPF_JMP:
	case BPF_JMP32:
		switch (BPF_OP(insn->code)) {
		case BPF_JA:
			return "BPF_JA";
		case BPF_CALL:
			return "BPF_CALL";
		case BPF_EXIT:
			return "BPF_EXIT";
		default:
			return "BPF_JMP/JMP32";
		}
	case BPF_LDX:
		return "BPF_LDX";
	case BPF_ST:
		return "BPF_ST";
	case BPF_STX:
		return BPF_MODE(insn->code) == BPF_ATOMIC ? "BPF_ATOMIC" : "BPF_STX";
	default:
		return "BPF_LD";
	}
}

static int check_reserved(struct verifier *v, size_t pc, bool dst, bool src, bool off, bool imm)
{
	const struct bpftime_insn *insn = &v->insns[pc];
	const char *field = dst && insn->dst   ? "dst"
			    : src && insn->src ? "src"
			    : off && insn->off ? "off"
			    : imm && insn->imm ? "imm"
					       : NULL;

	if (field)
		return reject(v, "pc %zu: %s uses reserved fields (%s is not zero)", pc,
			      kernel_class(insn), field);
	return 0;
}

static int check_reg(struct verifier *v, size_t pc, unsigned int reg, bool write)
{
	if (reg > REG_FP)
		return reject(v, "pc %zu: R%u is invalid", pc, reg);
	if (write && reg == REG_FP)
		return reject_e(v, EACCES, "pc %zu: frame pointer is read only", pc);
	return 0;
}

static int check_alu(struct verifier *v, size_t pc)
{
	const struct bpftime_insn *insn = &v->insns[pc];
	uint8_t code = insn->code;
	bool is64 = BPF_CLASS(code) == BPF_ALU64, reg = BPF_SRC(code) == BPF_X;
	int err;

	err = check_reg(v, pc, insn->dst, true);
	if (err)
		return err;
	switch (BPF_OP(code)) {
	case BPF_NEG:
		return check_reserved(v, pc, false, true, true, true);
	case BPF_END:
		err = check_reserved(v, pc, false, true, true, false);
		if (err)
			return err;
		if (insn->imm != 16 && insn->imm != 32 && insn->imm != 64)
			return reject(v, "pc %zu: BPF_END uses reserved fields (width %d)", pc,
				      insn->imm);
		return 0;
	case BPF_MOV:
		if (!reg)
			return check_reserved(v, pc, false, true, true, false);
		err = check_reserved(v, pc, false, false, false, true);
		if (err)
			return err;
		if (insn->off != 0 && insn->off != 8 && insn->off != 16 &&
		    (!is64 || insn->off != 32))
			return reject(v, "pc %zu: BPF_MOV uses reserved fields (movsx off %d)", pc,
				      insn->off);
		return check_reg(v, pc, insn->src, false);
	case BPF_DIV:
	case BPF_MOD:
		if (insn->off != 0 && insn->off != 1)
			return reject(v, "pc %zu: BPF_ALU uses reserved fields (%s off %d)", pc,
				      BPF_OP(code) == BPF_DIV ? "div" : "mod", insn->off);
		if (!reg && insn->imm == 0) {
			err = check_reserved(v, pc, false, true, false, false);
			return err ? err : reject(v, "pc %zu: div by zero", pc);
		}
		break;
	default:
		err = check_reserved(v, pc, false, false, true, false);
		if (err)
			return err;
	}
	if (reg) {
		err = check_reserved(v, pc, false, false, false, true);
		return err ? err : check_reg(v, pc, insn->src, false);
	}
	return check_reserved(v, pc, false, true, false, false);
}

static int check_jmp(struct verifier *v, size_t pc)
{
	const struct bpftime_insn *insn = &v->insns[pc];
	uint8_t code = insn->code;
	const struct bpftime_vm *vm = v->vm;
	int err;

	switch (code) {
	case OP_JA:
		return check_reserved(v, pc, true, true, false, true);
	case OP_JA32:
		return check_reserved(v, pc, true, true, true, false);
	case OP_EXIT:
		return check_reserved(v, pc, true, true, true, true);
	case OP_CALLX:
		err = check_reserved(v, pc, false, true, true, true);
		return err ? err : check_reg(v, pc, insn->dst, false);
	case OP_CALL:
		err = check_reserved(v, pc, true, false, true, false);
		if (err)
			return err;
		switch (insn->src) {
		case BPFTIME_CALL_HELPER:
			if (insn->imm < 0 || insn->imm > BPFTIME_MAX_HELPER_ID ||
			    !vm->helpers[insn->imm]) {
				/* the kernel's words: a helper it knows by name
				 * that this program cannot have, or an id past
				 * its last helper (what feature probes look for) */
				const char *kn = vm_kernel_helper_name(insn->imm);

				if (kn)
					return reject(v, "pc %zu: unknown func bpf_%s#%d", pc, kn,
						      insn->imm);
				return reject(v, "pc %zu: invalid func unknown#%d", pc, insn->imm);
			}
			return 0;
		case BPFTIME_CALL_LOCAL:
			return 0; /* target checked with the jumps */
		case BPFTIME_CALL_KFUNC:
			return reject(v,
				      "pc %zu: kfunc calls (kernel functions by BTF id) are not "
				      "supported by bpftime",
				      pc);
		default:
			return reject(v, "pc %zu: BPF_CALL uses reserved fields (src %u)", pc,
				      insn->src);
		}
	}
	err = check_reg(v, pc, insn->dst, false);
	if (err)
		return err;
	if (BPF_SRC(code) == BPF_X) {
		err = check_reserved(v, pc, false, false, false, true);
		return err ? err : check_reg(v, pc, insn->src, false);
	}
	return check_reserved(v, pc, false, true, false, false);
}

static bool atomic_op_valid(int32_t imm)
{
	switch (imm) {
	case BPF_ADD:
	case BPF_ADD | BPF_FETCH:
	case BPF_AND:
	case BPF_AND | BPF_FETCH:
	case BPF_OR:
	case BPF_OR | BPF_FETCH:
	case BPF_XOR:
	case BPF_XOR | BPF_FETCH:
	case BPF_XCHG:
	case BPF_CMPXCHG:
		return true;
	default:
		return false;
	}
}

static int check_mem(struct verifier *v, size_t pc)
{
	const struct bpftime_insn *insn = &v->insns[pc];
	int err;

	switch (BPF_CLASS(insn->code)) {
	case BPF_LDX:
		err = check_reserved(v, pc, false, false, false, true);
		if (!err)
			err = check_reg(v, pc, insn->dst, true);
		return err ? err : check_reg(v, pc, insn->src, false);
	case BPF_ST:
		err = check_reserved(v, pc, false, true, false, false);
		return err ? err : check_reg(v, pc, insn->dst, false);
	default: /* BPF_STX */
		err = check_reg(v, pc, insn->dst, false);
		if (err)
			return err;
		if (BPF_MODE(insn->code) != BPF_ATOMIC) {
			err = check_reserved(v, pc, false, false, false, true);
			return err ? err : check_reg(v, pc, insn->src, false);
		}
		if (!atomic_op_valid(insn->imm))
			return reject(v, "pc %zu: BPF_ATOMIC uses invalid atomic opcode %02x", pc,
				      (unsigned int)insn->imm);
		/* fetch forms write the old value back into src */
		return check_reg(v, pc, insn->src, insn->imm & BPF_FETCH);
	}
}

static int check_lddw(struct verifier *v, size_t pc)
{
	const struct bpftime_insn *insn = &v->insns[pc], *hi;
	int err;

	if (pc + 1 >= v->cnt)
		return reject(v, "pc %zu: invalid BPF_LD_IMM insn (the second slot is missing)",
			      pc);
	hi = &insn[1];
	if (hi->code || hi->dst || hi->src || hi->off)
		return reject(v, "pc %zu: invalid bpf_ld_imm64 insn (malformed second slot)",
			      pc + 1);
	err = check_reserved(v, pc, false, false, true, false);
	if (!err)
		err = check_reg(v, pc, insn->dst, true);
	if (err)
		return err;
	if (insn->src > BPFTIME_PSEUDO_MAP_IDX_VALUE)
		return reject(v, "pc %zu: unrecognized bpf_ld_imm64 insn (pseudo source %u)", pc,
			      insn->src);
	if ((insn->src == BPFTIME_PSEUDO_MAP_FD || insn->src == BPFTIME_PSEUDO_MAP_IDX ||
	     insn->src == BPFTIME_PSEUDO_FUNC) &&
	    hi->imm)
		return reject(v, "pc %zu: invalid bpf_ld_imm64 insn (imm of the second slot)",
			      pc + 1);
	v->slot[pc + 1] |= SLOT_LDDW_HI;
	return 0;
}

/* the legacy packet loads (BPF_LD | BPF_ABS/BPF_IND, sizes B/H/W/DW) */
static bool is_ld_abs_ind(uint8_t code)
{
	return BPF_CLASS(code) == BPF_LD &&
	       (BPF_MODE(code) == BPF_ABS || BPF_MODE(code) == BPF_IND);
}

/* Pass 1: each instruction alone.  Also marks lddw second slots. */
static int check_insns(struct verifier *v)
{
	for (size_t pc = 0; pc < v->cnt; pc++) {
		const struct bpftime_insn *insn = &v->insns[pc];
		uint32_t flags = insn_desc[insn->code].flags;
		int err;

		if (!(flags & F_VALID) && is_ld_abs_ind(insn->code))
			return reject(
				v,
				"pc %zu: BPF_LD_[ABS|IND] instructions not allowed for this "
				"program type (bpftime has none of these legacy packet loads)",
				pc);
		if (!(flags & F_VALID))
			return reject(v, "pc %zu: unknown opcode %02x", pc, insn->code);
		switch (BPF_CLASS(insn->code)) {
		case BPF_ALU:
		case BPF_ALU64:
			err = check_alu(v, pc);
			break;
		case BPF_JMP:
		case BPF_JMP32:
			err = check_jmp(v, pc);
			break;
		case BPF_LD:
			err = check_lddw(v, pc);
			pc++;
			break;
		default:
			err = check_mem(v, pc);
		}
		if (err)
			return err;
	}
	return 0;
}

/* The pc an instruction jumps or calls to, as a signed value (it may be out
 * of range); false when it does not transfer control. */
static bool branch_target(const struct bpftime_insn *insn, size_t pc, int64_t *target)
{
	uint32_t flags = insn_desc[insn->code].flags;

	if (insn->code == OP_JA32)
		*target = (int64_t)pc + 1 + insn->imm;
	else if (flags & F_JUMP)
		*target = (int64_t)pc + 1 + insn->off;
	else if (insn->code == OP_CALL && insn->src == BPFTIME_CALL_LOCAL)
		*target = (int64_t)pc + 1 + insn->imm;
	else if (insn->code == OP_LDDW && insn->src == BPFTIME_PSEUDO_FUNC)
		*target = (int64_t)pc + 1 + insn->imm;
	else
		return false;
	return true;
}

/* Pass 2: targets land on instruction starts; calls and function values
 * mark subprogram entries. */
static int check_targets(struct verifier *v)
{
	v->slot[0] |= SLOT_ENTRY;
	for (size_t pc = 0; pc < v->cnt; pc++) {
		const struct bpftime_insn *insn = &v->insns[pc];
		bool call;
		int64_t t;

		if (v->slot[pc] & SLOT_LDDW_HI || !branch_target(insn, pc, &t))
			continue;
		call = !(insn_desc[insn->code].flags & F_JUMP);
		if ((t < 0 || (uint64_t)t >= v->cnt) && call)
			return reject(v, "pc %zu: call to invalid destination (pc %lld)", pc,
				      (long long)t);
		if (t < 0 || (uint64_t)t >= v->cnt)
			return reject(v, "pc %zu: jump out of range from insn %zu to %lld", pc, pc,
				      (long long)t);
		if (v->slot[t] & SLOT_LDDW_HI)
			return reject(v, "pc %zu: %s into the middle of ldimm64 insn %lld", pc,
				      call ? "call" : "jump", (long long)t - 1);
		if (call)
			v->slot[t] |= SLOT_ENTRY;
	}
	return 0;
}

/* index of the subprogram that contains pc */
static size_t subprog_of(const struct verifier *v, size_t pc)
{
	size_t lo = 0, hi = v->nr_entries;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (v->entries[mid] <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static size_t subprog_end(const struct verifier *v, size_t idx)
{
	return idx + 1 < v->nr_entries ? v->entries[idx + 1] : v->cnt;
}

static bool ends_path(const struct bpftime_insn *insn)
{
	return insn->code == OP_EXIT || insn->code == OP_JA || insn->code == OP_JA32;
}

/* Pass 3: subprogram layout: jumps stay inside, the last slot ends a path. */
static int check_subprogs(struct verifier *v)
{
	size_t n = 0;

	for (size_t pc = 0; pc < v->cnt; pc++)
		n += !!(v->slot[pc] & SLOT_ENTRY);
	v->entries = mem_alloc(n * sizeof(*v->entries));
	if (!v->entries)
		return vm_error(v->vm, ENOMEM, "out of memory verifying %zu instructions", v->cnt);
	for (size_t pc = 0; pc < v->cnt; pc++)
		if (v->slot[pc] & SLOT_ENTRY)
			v->entries[v->nr_entries++] = (uint32_t)pc;

	if (!ends_path(&v->insns[v->cnt - 1]) || v->slot[v->cnt - 1] & SLOT_LDDW_HI)
		return reject(v, "pc %zu: last insn is not an exit or jmp", v->cnt - 1);
	for (size_t i = 1; i < v->nr_entries; i++) {
		size_t last = v->entries[i] - 1;

		if (!ends_path(&v->insns[last]) || v->slot[last] & SLOT_LDDW_HI)
			return reject(
				v,
				"pc %zu: last insn is not an exit or jmp (it falls through into "
				"the subprogram at pc %u)",
				last, v->entries[i]);
	}
	for (size_t pc = 0; pc < v->cnt; pc++) {
		const struct bpftime_insn *insn = &v->insns[pc];
		size_t idx;
		int64_t t;

		if (v->slot[pc] & SLOT_LDDW_HI || !(insn_desc[insn->code].flags & F_JUMP))
			continue;
		branch_target(insn, pc, &t);
		idx = subprog_of(v, pc);
		if ((uint64_t)t < v->entries[idx] || (uint64_t)t >= subprog_end(v, idx))
			return reject(
				v,
				"pc %zu: jump out of range from insn %zu to %lld (it leaves the "
				"subprogram at pc %u)",
				pc, pc, (long long)t, v->entries[idx]);
	}
	return 0;
}

enum { WALK_NEW, WALK_ACTIVE, WALK_DONE };

/* Depth-first walk of the static call graph from subprogram idx, entered
 * as frame number `frame` (1 = main) through the call at call_pc.  Stores
 * in height[idx] the frames the subprogram needs including itself. */
static int walk_calls(struct verifier *v, size_t idx, unsigned int frame, size_t call_pc)
{
	unsigned int height = 1;

	if (frame > BPFTIME_MAX_CALL_DEPTH)
		return reject_e(v, E2BIG, "pc %zu: the call stack of %d frames is too deep !",
				call_pc, BPFTIME_MAX_CALL_DEPTH + 1);
	v->state[idx] = WALK_ACTIVE;
	for (size_t pc = v->entries[idx]; pc < subprog_end(v, idx); pc++) {
		const struct bpftime_insn *insn = &v->insns[pc];
		size_t callee;
		int err;

		if (insn->code != OP_CALL || insn->src != BPFTIME_CALL_LOCAL ||
		    v->slot[pc] & SLOT_LDDW_HI)
			continue;
		callee = subprog_of(v, pc + 1 + insn->imm);
		if (v->state[callee] == WALK_ACTIVE)
			return reject_e(v, E2BIG,
					"pc %zu: the call stack of %d frames is too deep ! (a "
					"recursive call to pc %u)",
					pc, BPFTIME_MAX_CALL_DEPTH + 1, v->entries[callee]);
		if (v->state[callee] == WALK_NEW) {
			err = walk_calls(v, callee, frame + 1, pc);
			if (err)
				return err;
		} else if (frame + v->height[callee] > BPFTIME_MAX_CALL_DEPTH) {
			return reject_e(v, E2BIG,
					"pc %zu: the call stack of %d frames is too deep !", pc,
					BPFTIME_MAX_CALL_DEPTH + 1);
		}
		if (v->height[callee] + 1u > height)
			height = v->height[callee] + 1u;
	}
	v->height[idx] = (uint8_t)height;
	v->state[idx] = WALK_DONE;
	return 0;
}

/* Pass 4: recursion and depth on the static call graph.  Subprograms only
 * reachable through function values are walked as roots of their own, as
 * callbacks start a fresh run. */
static int check_calls(struct verifier *v)
{
	int err;

	v->state = mem_calloc(v->nr_entries, 1);
	v->height = mem_calloc(v->nr_entries, 1);
	if (!v->state || !v->height)
		return vm_error(v->vm, ENOMEM, "out of memory verifying %zu instructions", v->cnt);
	for (size_t i = 0; i < v->nr_entries; i++) {
		if (v->state[i] != WALK_NEW)
			continue;
		err = walk_calls(v, i, 1, v->entries[i]);
		if (err)
			return err;
	}
	return 0;
}

/* The rejected instruction in bpftool's words, for the debug log. */
static void log_rejection(const struct verifier *v)
{
	char line[128];
	size_t pc;

	if (!bpftime_log_enabled(BPFTIME_LOG_DEBUG))
		return;
	if (sscanf(v->vm->errmsg, "pc %zu:", &pc) != 1 || pc >= v->cnt) {
		pr_debug("prog '%s': rejected: %s\n", v->vm->name, v->vm->errmsg);
		return;
	}
	bpftime_disasm_insn(v->insns, v->cnt, pc, NULL, line, sizeof(line));
	pr_debug("prog '%s': rejected: %s: %4zu: (%02x) %s\n", v->vm->name, v->vm->errmsg, pc,
		 v->insns[pc].code, line);
}

int vm_verify(struct bpftime_vm *vm, const struct bpftime_insn *insns, size_t cnt)
{
	struct verifier v = { .vm = vm, .insns = insns, .cnt = cnt };
	int err;

	vm_verify_free(vm);
	if (cnt == 0)
		return reject_e(&v, E2BIG, "program has no instructions");
	if (cnt > BPFTIME_MAX_INSNS)
		return reject_e(&v, E2BIG, "program too large: %zu instructions (max %d)", cnt,
				BPFTIME_MAX_INSNS);
	v.slot = mem_calloc(cnt, 1);
	if (!v.slot)
		return vm_error(vm, ENOMEM, "out of memory verifying %zu instructions", cnt);
	err = check_insns(&v);
	if (!err)
		err = check_targets(&v);
	if (!err)
		err = check_subprogs(&v);
	if (!err)
		err = check_calls(&v);
	if (!err) {
		vm->subprogs = v.entries;
		vm->nr_subprogs = v.nr_entries;
		v.entries = NULL;
	} else {
		log_rejection(&v);
	}
	free(v.slot);
	free(v.entries);
	free(v.state);
	free(v.height);
	return err;
}

void vm_verify_free(struct bpftime_vm *vm)
{
	free(vm->subprogs);
	vm->subprogs = NULL;
	vm->nr_subprogs = 0;
}

bool vm_is_subprog(const struct bpftime_vm *vm, uint64_t pc)
{
	size_t lo = 0, hi = vm->nr_subprogs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (vm->subprogs[mid] == pc)
			return true;
		if (vm->subprogs[mid] < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
