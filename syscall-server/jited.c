/* SPDX-License-Identifier: MIT */
/* syscall-server/jited.c: the jited_* fields of BPF_OBJ_GET_INFO_BY_FD for
 * a program, as the kernel fills them for a JITed program, from the code
 * our x86-64 JIT makes of it in this process (the VM PROG_TEST_RUN runs,
 * built on first use): `bpftool prog show` says "jited NB", and a bpftool
 * with a disassembler dumps it (`prog dump jited`, with source lines).
 *
 *   jited_prog_len, jited_prog_insns   the functions' code back to back
 *   nr_jited_ksyms, jited_ksyms        each function's address
 *   nr_jited_func_lens, jited_func_lens
 *   nr_jited_line_info, jited_line_info one address per line_info record:
 *                                       the function's address for its first
 *                                       instruction (as the kernel's, which
 *                                       libbpf's bpf_prog_linfo checks),
 *                                       else where the instruction's code starts
 * As in the kernel, a count is always reported, min(asked, held) entries
 * are written where the caller gave room, and the caller's pointers come
 * back unchanged.  A program the JIT does not run (BPFTIME_DISABLE_JIT,
 * another BPFTIME_VM_NAME, a program only the interpreter takes) reports
 * no code, like a kernel without JIT ("not jited").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <bpftime/runtime.h>
#include <bpftime/vm.h>
#include "internal.h"
#include "common/compiler.h"

static void *uptr(uint64_t p)
{
	return (void *)(uintptr_t)p;
}

/* the native address of a line info record at pc @pc */
static uint64_t line_addr(const struct bpftime_jited *j, uint32_t pc)
{
	uint32_t f = 0;

	while (f + 1 < j->nr_funcs && j->func_pc[f + 1] <= pc)
		f++;
	/* a function's first instruction: the function, prologue included */
	if (pc == j->func_pc[f])
		return (uintptr_t)(j->image + j->func_off[f]);
	return (uintptr_t)(j->image + j->insn_off[pc]);
}

int srv_prog_jited_info(int fd, const struct bpf_prog_info *u, struct bpf_prog_info *k)
{
	struct bpftime_runtime *rt = srv_prog_runtime();
	struct bpftime_prog_btf_ext e;
	struct bpftime_jited j;
	struct bpftime_vm *vm;
	size_t stored;

	k->jited_prog_insns = u->jited_prog_insns;
	k->jited_ksyms = u->jited_ksyms;
	k->jited_func_lens = u->jited_func_lens;
	k->jited_line_info = u->jited_line_info;
	k->jited_line_info_rec_size = sizeof(uint64_t);
	vm = rt ? bpftime_runtime__prog(rt, fd) : NULL;
	if (!vm || bpftime_vm__engine(vm) != BPFTIME_ENGINE_JIT || bpftime_vm__jited(vm, &j))
		return 0; /* not jited: every count 0 */
	k->jited_prog_len = j.len;
	if (u->jited_prog_len && u->jited_prog_insns)
		memcpy(uptr(u->jited_prog_insns), j.image, MIN(u->jited_prog_len, j.len));
	k->nr_jited_ksyms = j.nr_funcs;
	if (u->nr_jited_ksyms && u->jited_ksyms)
		for (uint32_t i = 0; i < MIN(u->nr_jited_ksyms, j.nr_funcs); i++)
			((uint64_t *)uptr(u->jited_ksyms))[i] =
				(uintptr_t)(j.image + j.func_off[i]);
	k->nr_jited_func_lens = j.nr_funcs;
	if (u->nr_jited_func_lens && u->jited_func_lens)
		for (uint32_t i = 0; i < MIN(u->nr_jited_func_lens, j.nr_funcs); i++)
			((uint32_t *)uptr(u->jited_func_lens))[i] =
				j.func_off[i + 1] - j.func_off[i];
	/* line info names pcs of the stored program: only when the VM runs
	 * those same instructions (no rewrite changed their number) */
	if (bpftime_prog_get_btf_ext(srv.shm, fd, &e) || !e.line_info_cnt ||
	    !bpftime_prog_insns(srv.shm, fd, &stored) || stored != j.insn_cnt)
		return 0;
	k->nr_jited_line_info = e.line_info_cnt;
	if (!u->nr_jited_line_info || !u->jited_line_info)
		return 0;
	for (uint32_t i = 0; i < MIN(u->nr_jited_line_info, e.line_info_cnt); i++) {
		const struct bpf_line_info *li = (const void *)((const char *)e.line_info +
								(size_t)i * e.line_info_rec_size);

		if (li->insn_off >= j.insn_cnt)
			return -EINVAL;
		((uint64_t *)uptr(u->jited_line_info))[i] = line_addr(&j, li->insn_off);
	}
	return 0;
}
