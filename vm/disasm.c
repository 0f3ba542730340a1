/* SPDX-License-Identifier: MIT */
/* vm/disasm.c: the disassembler, in the words of `bpftool prog dump xlated`
 * (the kernel's kernel/bpf/disasm.c conventions).
 *
 * Most lines come from the templates in insn.def ({d} dst, {s} src, {i}
 * imm, {o} jump target, {m} memory operand, {I} 64-bit imm); encodings
 * chosen by other fields are spelled here: sdiv/smod ("s/="), movsx
 * ("(s8)r2"), atomics ("lock ... +=", "atomic64_fetch_add(...)"), calls
 * (helper names, "call pc+5") and lddw pseudo sources ("map[id:3]").
 * Immediates print in decimal except in conditional jumps, which print
 * them in hex as bpftool does.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/opts.h"

struct out {
	char *buf;
	size_t len, pos; /* pos may pass len: the text is then truncated */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->pos < o->len ? o->buf + o->pos : NULL,
		      o->pos < o->len ? o->len - o->pos : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->pos += (size_t)n;
}

static const char *size_name(uint8_t code, bool sign)
{
	static const char *const u[] = { "u32", "u16", "u8", "u64" };
	static const char *const s[] = { "s32", "s16", "s8", "s64" };

	return (sign ? s : u)[BPF_SIZE(code) >> 3];
}

static void mem_operand(struct out *o, unsigned int reg, int16_t off)
{
	put(o, "(r%u %+d)", reg, off);
}

static void helper_call(struct out *o, const struct bpftime_insn *insn,
			const struct bpftime_disasm_opts *opts)
{
	const char *name = NULL;

	if (OPTS_GET(opts, helper_name, NULL))
		name = opts->helper_name(OPTS_GET(opts, ctx, NULL), insn->imm);
	if (name && *name) {
		if (!strncmp(name, "bpf_", 4))
			name += 4;
		put(o, "call bpf_%s#%d", name, insn->imm);
	} else {
		put(o, "call unknown#%d", insn->imm);
	}
}

static void lddw(struct out *o, const struct bpftime_insn *insn,
		 const struct bpftime_disasm_opts *opts)
{
	uint64_t imm = (uint64_t)(uint32_t)insn->imm | (uint64_t)(uint32_t)insn[1].imm << 32;
	char desc[96];

	put(o, "r%u = ", insn->dst);
	switch (insn->src) {
	case BPFTIME_PSEUDO_MAP_FD:
	case BPFTIME_PSEUDO_MAP_VALUE:
	case BPFTIME_PSEUDO_MAP_IDX:
	case BPFTIME_PSEUDO_MAP_IDX_VALUE:
		if (OPTS_GET(opts, map_desc, NULL) &&
		    opts->map_desc(OPTS_GET(opts, ctx, NULL), insn->src, insn->imm, insn[1].imm,
				   desc, sizeof(desc)) == 0) {
			put(o, "%s", desc);
			return;
		}
		if (insn->src == BPFTIME_PSEUDO_MAP_FD)
			put(o, "map[fd:%d]", insn->imm);
		else if (insn->src == BPFTIME_PSEUDO_MAP_VALUE)
			put(o, "map[fd:%d][0]+%u", insn->imm, (uint32_t)insn[1].imm);
		else if (insn->src == BPFTIME_PSEUDO_MAP_IDX)
			put(o, "map[idx:%d]", insn->imm);
		else
			put(o, "map[idx:%d][0]+%u", insn->imm, (uint32_t)insn[1].imm);
		return;
	case BPFTIME_PSEUDO_BTF_ID:
		put(o, "btf_id[%d]", insn->imm);
		return;
	case BPFTIME_PSEUDO_FUNC:
		put(o, "subprog[%+d]", insn->imm);
		return;
	default:
		put(o, "0x%llx", (unsigned long long)imm);
	}
}

static const char *const atomic_alu[] = {
	[BPF_ADD >> 4] = "add",
	[BPF_AND >> 4] = "and",
	[BPF_OR >> 4] = "or",
	[BPF_XOR >> 4] = "xor",
};
static const char *const atomic_op[] = {
	[BPF_ADD >> 4] = "+=",
	[BPF_AND >> 4] = "&=",
	[BPF_OR >> 4] = "|=",
	[BPF_XOR >> 4] = "^=",
};

static int atomic(struct out *o, const struct bpftime_insn *insn)
{
	const char *w = BPF_SIZE(insn->code) == BPF_DW ? "64" : "";
	const char *sz = size_name(insn->code, false);
	int32_t imm = insn->imm;

	switch (imm) {
	case BPF_ADD:
	case BPF_AND:
	case BPF_OR:
	case BPF_XOR:
		put(o, "lock *(%s *)", sz);
		mem_operand(o, insn->dst, insn->off);
		put(o, " %s r%u", atomic_op[imm >> 4], insn->src);
		return 0;
	case BPF_ADD | BPF_FETCH:
	case BPF_AND | BPF_FETCH:
	case BPF_OR | BPF_FETCH:
	case BPF_XOR | BPF_FETCH:
		put(o, "r%u = atomic%s_fetch_%s((%s *)", insn->src, w, atomic_alu[imm >> 4], sz);
		break;
	case BPF_XCHG:
		put(o, "r%u = atomic%s_xchg((%s *)", insn->src, w, sz);
		break;
	case BPF_CMPXCHG:
		put(o, "r0 = atomic%s_cmpxchg((%s *)", w, sz);
		mem_operand(o, insn->dst, insn->off);
		put(o, ", r0, r%u)", insn->src);
		return 0;
	default:
		put(o, "invalid atomic operation 0x%x", (unsigned int)imm);
		return -EINVAL;
	}
	mem_operand(o, insn->dst, insn->off);
	put(o, ", r%u)", insn->src);
	return 0;
}

/* Expands an insn.def template. */
static void expand(struct out *o, const struct bpftime_insn *insn, const char *tmpl)
{
	uint32_t flags = insn_desc[insn->code].flags;
	bool sdiv = (flags & F_DIV) && insn->off == 1;

	for (const char *p = tmpl; *p; p++) {
		if (*p != '{') {
			if (sdiv && (*p == '/' || *p == '%') && p[1] == '=')
				put(o, "s");
			put(o, "%c", *p);
			continue;
		}
		switch (p[1]) {
		case 'd':
			put(o, "%u", insn->dst);
			break;
		case 's':
			put(o, "%u", insn->src);
			break;
		case 'i':
			if (flags & F_COND)
				put(o, "0x%x", (uint32_t)insn->imm);
			else
				put(o, "%d", insn->imm);
			break;
		case 'o':
			put(o, "pc%+d", insn->code == OP_JA32 ? insn->imm : insn->off);
			break;
		case 'm':
			mem_operand(o, BPF_CLASS(insn->code) == BPF_LDX ? insn->src : insn->dst,
				    insn->off);
			break;
		default:
			put(o, "%c", p[1]);
		}
		p += 2; /* the closing brace; the loop steps over it */
	}
}

int bpftime_disasm_insn(const struct bpftime_insn *insns, size_t cnt, size_t pc,
			const struct bpftime_disasm_opts *opts, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len };
	const struct bpftime_insn *insn;
	const struct insn_desc *desc;
	int ret = 1;

	if (buf && len)
		buf[0] = 0;
	if (!insns || pc >= cnt || (len && !buf) || !OPTS_VALID(opts, bpftime_disasm_opts))
		return -EINVAL;
	insn = &insns[pc];
	desc = &insn_desc[insn->code];
	if (!(desc->flags & F_VALID)) {
		put(&o, "invalid opcode 0x%02x", insn->code);
		return -EINVAL;
	}
	switch (insn->code) {
	case OP_LDDW:
		if (pc + 1 >= cnt) {
			put(&o, "incomplete lddw");
			return -EINVAL;
		}
		lddw(&o, insn, opts);
		ret = 2;
		break;
	case OP_CALL:
		if (insn->src == BPFTIME_CALL_LOCAL)
			put(&o, "call pc%+d", insn->imm);
		else if (insn->src == BPFTIME_CALL_KFUNC)
			put(&o, "call kernel-function#%d", insn->imm);
		else
			helper_call(&o, insn, opts);
		break;
	case OP_ATOMIC32:
	case OP_ATOMIC64:
		if (atomic(&o, insn))
			ret = -EINVAL;
		break;
	case OP_MOV64_REG:
	case OP_MOV32_REG:
		if (insn->off) {
			char r = insn->code == OP_MOV64_REG ? 'r' : 'w';

			put(&o, "%c%u = (s%d)%c%u", r, insn->dst, insn->off, r, insn->src);
			break;
		}
		expand(&o, insn, desc->tmpl);
		break;
	case OP_LDXSB:
	case OP_LDXSH:
	case OP_LDXSW:
		put(&o, "r%u = *(%s *)", insn->dst, size_name(insn->code, true));
		mem_operand(&o, insn->src, insn->off);
		break;
	default:
		expand(&o, insn, desc->tmpl);
	}
	return ret;
}

int bpftime_disasm_prog(const struct bpftime_insn *insns, size_t cnt,
			const struct bpftime_disasm_opts *opts, FILE *out)
{
	char line[160];
	int err = 0;

	if (!insns || !out || !OPTS_VALID(opts, bpftime_disasm_opts))
		return -EINVAL;
	for (size_t pc = 0; pc < cnt;) {
		int n = bpftime_disasm_insn(insns, cnt, pc, opts, line, sizeof(line));

		fprintf(out, "%4zu: (%02x) %s\n", pc, insns[pc].code, line);
		if (n < 0) {
			err = n;
			n = 1;
		}
		pc += (size_t)n;
	}
	return err;
}

static const char *vm_helper_name(void *ctx, int32_t id)
{
	const struct bpftime_vm *vm = ctx;

	return id >= 0 && id <= BPFTIME_MAX_HELPER_ID ? vm->helper_names[id] : NULL;
}

int bpftime_vm__disasm(const struct bpftime_vm *vm, FILE *out)
{
	BPFTIME_OPTS(bpftime_disasm_opts, opts, .helper_name = vm_helper_name, .ctx = (void *)vm);

	if (!vm || !vm->loaded || !out)
		return -EINVAL;
	return bpftime_disasm_prog(vm->orig_insns, vm->cnt, &opts, out);
}
