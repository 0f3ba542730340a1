/* SPDX-License-Identifier: MIT */
/* tools/bpftimetool/jited.c: `prog dump jited OBJ [opcodes]`: the x86-64
 * code our JIT makes of a program, disassembled with Zydis in the AT&T
 * syntax and layout of `bpftool prog dump jited` (libbfd's): one block per
 * eBPF function, named as a symbol, each instruction at its byte offset in
 * that function, the C source line (BTF line info) before the code of the
 * instruction it belongs to, and with `opcodes` the bytes under it:
 *
 *   bpf_prog_xdp_counter:
 *   ; __u64 *count = bpf_map_lookup_elem(&counter_map, &key);
 *     10:	movabs $0x7f3a..., %rdi
 *
 * -j/-p print bpftool's JSON for the same dump: an array with one object
 * per function {"name", "insns": [{"pc": "0x0", "operation", "operands",
 * "opcodes"?}]}.  The code is compiled here, in this process, as the agent
 * and the syscall server compile it (JIT engine, no fallback): helper call
 * targets and map addresses are this process's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <linux/btf.h>
#include <linux/bpf.h>
#include <Zydis/Zydis.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "tool.h"
#include "common/compiler.h"

/* the source line of a line info record, from the program's BTF strings */
struct lines {
	const struct bpf_line_info *rec;
	uint32_t cnt, rec_size;
	const char *strs;
	uint32_t str_len;
};

static void lines_init(struct bpftime_shm *shm, int fd, struct lines *l)
{
	struct bpftime_prog_btf_ext e;
	struct bpftime_prog_info pi;
	const struct btf_header *h;
	size_t size;

	memset(l, 0, sizeof(*l));
	if (bpftime_prog_get_info(shm, fd, &pi) || pi.prog_btf_fd < 0 ||
	    bpftime_prog_get_btf_ext(shm, fd, &e) || !e.line_info_cnt)
		return;
	h = bpftime_btf_data(shm, pi.prog_btf_fd, &size);
	if (!h || size < sizeof(*h) || h->magic != BTF_MAGIC ||
	    (uint64_t)h->hdr_len + h->str_off + h->str_len > size)
		return;
	l->strs = (const char *)h + h->hdr_len + h->str_off;
	l->str_len = h->str_len;
	l->rec = e.line_info;
	l->cnt = e.line_info_cnt;
	l->rec_size = e.line_info_rec_size;
}

/* the source text of the line info record at @pc, or NULL */
static const char *line_at(const struct lines *l, uint32_t pc)
{
	for (uint32_t i = 0; i < l->cnt; i++) {
		const struct bpf_line_info *r =
			(const void *)((const char *)l->rec + (size_t)i * l->rec_size);

		if (r->insn_off == pc && r->line_off < l->str_len &&
		    memchr(l->strs + r->line_off, 0, l->str_len - r->line_off))
			return l->strs + r->line_off;
	}
	return NULL;
}

/* the mnemonic (with its prefixes) and each operand, AT&T order */
static int format_insn(const ZydisFormatter *f, const ZydisDecodedInstruction *in,
		       const ZydisDecodedOperand *ops, uint64_t pc, char *text, size_t size,
		       char operands[][96], int *nops)
{
	char full[256];
	size_t mlen;

	if (ZYAN_FAILED(ZydisFormatterFormatInstruction(f, in, ops, in->operand_count_visible, full,
							sizeof(full), pc, NULL)))
		return -EINVAL;
	/* the operands are what follows the mnemonic; the mnemonic is what
	 * precedes the first operand Zydis formats */
	*nops = 0;
	for (int i = in->operand_count_visible - 1; i >= 0; i--) {
		if (ZYAN_FAILED(ZydisFormatterFormatOperand(f, in, &ops[i], operands[*nops], 96, pc,
							    NULL)))
			return -EINVAL;
		(*nops)++;
	}
	mlen = strlen(full);
	if (*nops) {
		const char *first = strstr(full, operands[0]);

		mlen = first ? (size_t)(first - full) : mlen;
	}
	while (mlen && full[mlen - 1] == ' ')
		mlen--;
	snprintf(text, size, "%.*s", (int)mlen, full);
	return 0;
}

/* one function: plain text or a JSON array of instructions */
static int dump_func(const ZydisDecoder *d, const ZydisFormatter *f, const uint8_t *code,
		     uint32_t len, const struct bpftime_jited *j, uint32_t fi,
		     const struct lines *l, bool opcodes, json_t *insns)
{
	uint32_t pc = 0, next = j->func_pc[fi];
	uint32_t end = fi + 1 < j->nr_funcs ? j->func_pc[fi + 1] : j->insn_cnt;

	while (pc < len) {
		ZydisDecodedInstruction in;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		char mnem[128], operands[ZYDIS_MAX_OPERAND_COUNT][96];
		const char *src = NULL;
		int nops;

		/* the source lines of the eBPF instructions whose code starts
		 * here (a function's first instruction: at its prologue) */
		while (next < end &&
		       (next == j->func_pc[fi] ? 0 : j->insn_off[next] - j->func_off[fi]) <= pc) {
			const char *s = line_at(l, next++);

			if (s && !insns)
				printf("; %s\n", s);
			src = s ? s : src;
		}
		if (ZYAN_FAILED(ZydisDecoderDecodeFull(d, code + pc, len - pc, &in, ops)) ||
		    format_insn(f, &in, ops, pc, mnem, sizeof(mnem), operands, &nops)) {
			tool_err("prog dump jited: cannot decode the code at offset 0x%x", pc);
			return -EINVAL;
		}
		if (insns) {
			json_t *o = json_object(), *a = nops ? json_array() : json_null();
			char pcs[16];

			snprintf(pcs, sizeof(pcs), "0x%x", pc);
			if (src)
				json_object_set_new(o, "src", json_string(src));
			json_object_set_new(o, "pc", json_string(pcs));
			json_object_set_new(o, "operation", json_string(mnem));
			for (int i = 0; i < nops; i++)
				json_array_append_new(a, json_string(operands[i]));
			json_object_set_new(o, "operands", a);
			if (opcodes) {
				json_t *b = json_array();

				for (int i = 0; i < in.length; i++) {
					snprintf(pcs, sizeof(pcs), "0x%02x", code[pc + i]);
					json_array_append_new(b, json_string(pcs));
				}
				json_object_set_new(o, "opcodes", b);
			}
			json_array_append_new(insns, o);
		} else {
			printf("%4x:\t%-6s", pc, mnem);
			for (int i = 0; i < nops; i++)
				printf("%s%s", i ? "," : " ", operands[i]);
			if (opcodes) {
				printf("\n\t");
				for (int i = 0; i < in.length; i++)
					printf("%02x ", code[pc + i]);
			}
			printf("\n");
		}
		pc += in.length;
	}
	return 0;
}

int tool_prog_dump_jited(struct bpftime_shm *shm, int fd, bool opcodes)
{
	BPFTIME_OPTS(bpftime_runtime_opts, ro, .engine = BPFTIME_ENGINE_JIT, .engine_set = true,
		     .no_fallback = true);
	struct bpftime_prog_info pi;
	struct bpftime_runtime *rt;
	struct bpftime_jited j;
	struct bpftime_vm *vm;
	ZydisDecoder d;
	ZydisFormatter f;
	struct lines l;
	json_t *arr = NULL;
	int err = 0;

	if (bpftime_prog_get_info(shm, fd, &pi)) {
		tool_err("no program at fd %d (`bpftimetool prog show` lists them)", fd);
		return -EBADF;
	}
	rt = bpftime_runtime__new(shm, &ro);
	if (!rt) {
		tool_err("prog dump jited: %s", strerror(errno));
		return -errno;
	}
	vm = bpftime_runtime__prog(rt, fd);
	if (!vm || bpftime_vm__jited(vm, &j)) {
		tool_err("prog dump jited: the JIT cannot compile program '%s' (fd %d): %s",
			 pi.name, fd, vm ? bpftime_vm__last_error(vm) : strerror(errno));
		bpftime_runtime__free(rt);
		return -EINVAL;
	}
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisFormatterInit(&f, ZYDIS_FORMATTER_STYLE_ATT);
	/* objdump's way with numbers: lowercase, unpadded, signed targets
	 * (a jump to the entry stub lies before the function) */
	ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_HEX_UPPERCASE, ZYAN_FALSE);
	ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_ADDR_PADDING_ABSOLUTE,
				  ZYDIS_PADDING_DISABLED);
	ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_ADDR_SIGNEDNESS,
				  ZYDIS_SIGNEDNESS_SIGNED);
	ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_DISP_PADDING, ZYDIS_PADDING_DISABLED);
	ZydisFormatterSetProperty(&f, ZYDIS_FORMATTER_PROP_IMM_PADDING, ZYDIS_PADDING_DISABLED);
	lines_init(shm, fd, &l);
	if (tool_json && !(arr = json_array())) {
		bpftime_runtime__free(rt);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < j.nr_funcs && !err; i++) {
		char name[BPFTIME_OBJ_NAME_LEN + 32];
		json_t *o = NULL, *insns = NULL;

		if (i)
			snprintf(name, sizeof(name), "bpf_prog_%s_F%u", pi.name, i);
		else
			snprintf(name, sizeof(name), "bpf_prog_%s", pi.name);
		if (arr) {
			o = json_object();
			insns = json_array();
			json_object_set_new(o, "name", json_string(name));
			json_object_set_new(o, "insns", insns);
			json_array_append_new(arr, o);
		} else {
			printf("%s%s:\n", i ? "\n" : "", name);
		}
		err = dump_func(&d, &f, j.image + j.func_off[i], j.func_off[i + 1] - j.func_off[i],
				&j, i, &l, opcodes, insns);
	}
	if (arr) {
		if (!err) {
			char *text =
				json_dumps(arr, tool_json == 2 ? JSON_INDENT(4) : JSON_COMPACT);

			if (text)
				printf("%s\n", text);
			free(text);
		}
		json_decref(arr);
	}
	bpftime_runtime__free(rt);
	return err;
}
