/* SPDX-License-Identifier: MIT */
/* vm/insn.c: the opcode descriptor table, built once from insn.def.  The
 * verifier and the disassembler read it; every other consumer re-includes
 * insn.def with its own INSN(). */
#include "insn.h"

const struct insn_desc insn_desc[256] = {
#define INSN(nm, code, tmpl, fl) [code] = { #nm, tmpl, (fl) | F_VALID },
#include "insn.def"
#undef INSN
};
