/* SPDX-License-Identifier: MIT */
/* attach/reloc.c: relocation of the instructions a patch displaces into
 * the stub (Zydis decodes; rip-relative operands and branches are rewritten
 * or materialized), and the scan of a function for jumps into them. */
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
int hook_scan_func(uintptr_t func, size_t size, uintptr_t patch, size_t disp_len, char *err,
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
