/* SPDX-License-Identifier: MIT */
/* tests/e2e/jited_info.c: an ordinary libbpf program that loads OBJ and,
 * for each program, asks BPF_OBJ_GET_INFO_BY_FD for its JIT code the way
 * bpftool's `prog dump jited` does (the counts, then the arrays), and checks
 * what a disassembler relies on: the function lengths add up to the code
 * length, and libbpf's bpf_prog_linfo accepts the jited line info (each
 * function's first line at its address, addresses rising within a
 * function).  One line per program:
 *   "<name>: jited <bytes> funcs <n> lines <n> jited_lines <n> linfo <ok|error>"
 *
 *   jited_info OBJ [--hold]
 *
 * --hold: then prints "holding" and keeps the programs loaded until its
 * stdin closes (for a tool run beside it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int check(struct bpf_program *prog)
{
	struct bpf_prog_info info = { 0 }, full;
	__u32 len = sizeof(info), sum = 0;
	struct bpf_prog_linfo *pl;
	int fd = bpf_program__fd(prog), ok;

	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		fprintf(stderr, "%s: OBJ_GET_INFO: %s\n", bpf_program__name(prog), strerror(errno));
		return 1;
	}
	memset(&full, 0, sizeof(full));
	full.jited_prog_len = info.jited_prog_len;
	full.jited_prog_insns = (__u64)(uintptr_t)calloc(1, info.jited_prog_len + 1);
	full.nr_jited_ksyms = info.nr_jited_ksyms;
	full.jited_ksyms = (__u64)(uintptr_t)calloc(info.nr_jited_ksyms + 1, 8);
	full.nr_jited_func_lens = info.nr_jited_func_lens;
	full.jited_func_lens = (__u64)(uintptr_t)calloc(info.nr_jited_func_lens + 1, 4);
	full.nr_func_info = info.nr_func_info;
	full.func_info_rec_size = info.func_info_rec_size;
	full.func_info = (__u64)(uintptr_t)calloc(info.nr_func_info + 1, info.func_info_rec_size);
	full.nr_line_info = info.nr_line_info;
	full.line_info_rec_size = info.line_info_rec_size;
	full.line_info = (__u64)(uintptr_t)calloc(info.nr_line_info + 1, info.line_info_rec_size);
	full.nr_jited_line_info = info.nr_jited_line_info;
	full.jited_line_info_rec_size = info.jited_line_info_rec_size;
	full.jited_line_info = (__u64)(uintptr_t)calloc(info.nr_jited_line_info + 1, 8);
	len = sizeof(full);
	if (bpf_obj_get_info_by_fd(fd, &full, &len)) {
		fprintf(stderr, "%s: OBJ_GET_INFO (arrays): %s\n", bpf_program__name(prog),
			strerror(errno));
		return 1;
	}
	for (__u32 i = 0; i < full.nr_jited_func_lens; i++)
		sum += ((__u32 *)(uintptr_t)full.jited_func_lens)[i];
	pl = bpf_prog_linfo__new(&full);
	ok = pl != NULL;
	bpf_prog_linfo__free(pl);
	printf("%s: jited %s funcs %u lines %u jited_lines %u linfo %s\n", bpf_program__name(prog),
	       full.jited_prog_len && sum == full.jited_prog_len ? "sums" : "WRONG",
	       full.nr_jited_ksyms, full.nr_line_info, full.nr_jited_line_info,
	       ok ? "ok" : "error");
	free((void *)(uintptr_t)full.jited_prog_insns);
	free((void *)(uintptr_t)full.jited_ksyms);
	free((void *)(uintptr_t)full.jited_func_lens);
	free((void *)(uintptr_t)full.func_info);
	free((void *)(uintptr_t)full.line_info);
	free((void *)(uintptr_t)full.jited_line_info);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_program *prog;
	struct bpf_object *obj;
	int err = 0;

	if (argc != 2 && (argc != 3 || strcmp(argv[2], "--hold"))) {
		fprintf(stderr, "usage: jited_info OBJ [--hold]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "jited_info: cannot load %s\n", argv[1]);
		return 1;
	}
	bpf_object__for_each_program(prog, obj) err |= check(prog);
	if (argc == 3) {
		printf("holding\n");
		fflush(stdout);
		while (getchar() != EOF)
			;
	}
	bpf_object__close(obj);
	return err;
}
