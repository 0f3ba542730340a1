/* SPDX-License-Identifier: MIT */
/* tests/conformance/plugin.c: bpftime-conformance-plugin, a plugin for the
 * upstream bpf_conformance runner (FORMAT.md §4.2-4.3):
 *
 *   bpftime-conformance-plugin [MEM_HEX] [--engine interpreter|jit|llvm|aot]
 *                              [--bounds-check]
 *
 * The default engine is the x86-64 JIT (bpftime's default too). *
 * stdin carries the program as hex bytes (8 per instruction, separated by
 * blanks or not).  argv[1] is the memory as hex bytes when it does not start
 * with "--"; the program then runs with r1 = a writable copy and r2 = its
 * length, else with r1 = NULL and r2 = 0.  Helper 5 returns its first
 * argument.  On success r0 is printed in hex on stdout and the exit status
 * is 0.  On failure the VM's message (verifier, compile or run error) goes to
 * stderr unadorned, so "-- error" vectors can match it exactly, and the exit
 * status is 1.  ELF input (--elf) is not supported.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/vm.h>

#define PROG "bpftime-conformance-plugin"

static uint64_t helper_ret_arg1(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r2;
	(void)r3;
	(void)r4;
	(void)r5;
	return r1;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Decodes the @slen characters at @s as hex bytes: whitespace may separate
 * bytes but never splits one; anything else (a NUL byte too) is an error
 * that names the offset and shows the text there, unprintable bytes as '?'. */
static int parse_hex(const char *what, const char *s, size_t slen, uint8_t **out, size_t *len)
{
	const char *start = s, *end = s + slen;
	size_t n = 0;
	uint8_t *buf = malloc(slen / 2 + 1);

	if (!buf) {
		fprintf(stderr, PROG ": out of memory\n");
		return -ENOMEM;
	}
	while (s < end) {
		int hi, lo;

		if (isspace((unsigned char)*s)) {
			s++;
			continue;
		}
		hi = hexval((unsigned char)s[0]);
		lo = hi < 0 || s + 1 == end ? -1 : hexval((unsigned char)s[1]);
		if (lo < 0) {
			char near[9] = { 0 };

			for (size_t k = 0; k < 8 && s + k < end; k++)
				near[k] = isprint((unsigned char)s[k]) ? s[k] : '?';
			fprintf(stderr,
				PROG ": invalid %s hex at offset %zu near '%s' (expected pairs of "
				     "hex digits)\n",
				what, (size_t)(s - start), near);
			free(buf);
			return -EINVAL;
		}
		buf[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	*out = buf;
	*len = n;
	return 0;
}

static char *read_stdin(size_t *lenp)
{
	size_t len = 0, cap = 0, got;
	char *buf = NULL, *grown;

	do {
		if (cap - len < 4096) {
			grown = realloc(buf, cap = cap * 2 + 4096);
			if (!grown) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
		got = fread(buf + len, 1, cap - len - 1, stdin);
		len += got;
	} while (got);
	buf[len] = 0;
	*lenp = len;
	return buf;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: " PROG " [MEM_HEX] [--engine jit|interpreter|llvm|aot] [--bounds-check]\n"
		"  program bytes as hex on stdin; prints r0 in hex (bpf_conformance plugin "
		"protocol)\n");
}

int main(int argc, char **argv)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = "conformance");
	enum bpftime_engine engine = BPFTIME_ENGINE_JIT;
	uint8_t *prog = NULL, *mem = NULL;
	size_t prog_len = 0, mem_len = 0;
	const char *mem_hex = NULL;
	struct bpftime_vm *vm = NULL;
	char *text = NULL;
	size_t text_len = 0;
	int i = 1, ret = 1;
	uint64_t r0;

	if (argc > 1 && strncmp(argv[1], "--", 2)) {
		mem_hex = argv[1];
		i = 2;
	}
	for (; i < argc; i++) {
		const char *name = NULL;

		if (!strcmp(argv[i], "--engine")) {
			if (i + 1 == argc) {
				fprintf(stderr, PROG ": --engine needs a name\n");
				return 1;
			}
			name = argv[++i];
		} else if (!strncmp(argv[i], "--engine=", 9)) {
			name = argv[i] + 9;
		} else if (!strcmp(argv[i], "--bounds-check")) {
			opts.bounds_check = true;
		} else if (!strcmp(argv[i], "--elf")) {
			fprintf(stderr, PROG
				": ELF input (--elf) is not supported: run bpf_conformance "
				"without '--elf true' so the program comes as raw instructions\n");
			return 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage();
			return 0;
		} else {
			fprintf(stderr, PROG ": unknown option '%s'\n", argv[i]);
			usage();
			return 1;
		}
		if (name && bpftime_engine__parse(name, &engine)) {
			fprintf(stderr,
				PROG ": unknown engine '%s' (interpreter, jit, llvm, aot)\n", name);
			return 1;
		}
	}

	text = read_stdin(&text_len);
	if (!text) {
		fprintf(stderr, PROG ": cannot read the program from stdin\n");
		goto out;
	}
	if (parse_hex("program", text, text_len, &prog, &prog_len) ||
	    (mem_hex && parse_hex("memory", mem_hex, strlen(mem_hex), &mem, &mem_len)))
		goto out;
	if (!prog_len || prog_len % sizeof(struct bpftime_insn)) {
		fprintf(stderr, PROG ": program is %zu bytes, expected a non-zero multiple of 8\n",
			prog_len);
		goto out;
	}
	vm = bpftime_vm__new(&opts);
	if (!vm || bpftime_vm__register_helper(vm, 5, "ret_arg1", helper_ret_arg1)) {
		fprintf(stderr, PROG ": cannot create the vm: %s\n", strerror(errno));
		goto out;
	}
	/* prog is malloc'ed, so suitably aligned for the 8-byte slots */
	if (bpftime_vm__load(vm, (const struct bpftime_insn *)(void *)prog,
			     prog_len / sizeof(struct bpftime_insn)) ||
	    bpftime_vm__compile(vm, engine) ||
	    bpftime_vm__run(vm, mem_hex ? mem : NULL, mem_hex ? mem_len : 0, &r0)) {
		const char *msg = bpftime_vm__last_error(vm);

		fprintf(stderr, "%s\n", *msg ? msg : strerror(errno));
		goto out;
	}
	printf("%" PRIx64 "\n", r0);
	ret = 0;
out:
	bpftime_vm__free(vm);
	free(text);
	free(prog);
	free(mem);
	return ret;
}
