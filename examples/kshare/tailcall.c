/* SPDX-License-Identifier: MIT */
/* examples/kshare/tailcall.c: userspace -> kernel tail call, in the style of
 * bpftime's tailcall_minimal.
 *
 *   bpftime load ./tailcall VICTIM [FUNC]
 *
 * Creates a kernel array and loads a raw tracepoint program into the kernel
 * with raw system calls (the syscall server does not see them): the program
 * adds 1 to the array's slot 0 and returns 7.  Its fd goes into slot 0 of
 * tailcall.bpf.o's prog array, and on_call (a uprobe on FUNC, default
 * target_func, in VICTIM) tail-calls it.  On every line "p" on stdin it
 * prints "kernel_count=K missed=M" (K read from the kernel array with a raw
 * system call); "q" or EOF ends it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tailcall.skel.h"

/* the kernel's bpf(2), past any interposed libc */
static long raw_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_bpf), "D"((long)cmd), "S"(attr), "d"((long)size)
			 : "rcx", "r11", "memory");
	return ret;
}

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static int load_kernel_prog(int map_fd)
{
	struct bpf_insn insns[] = {
		INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0), /* *(u32 *)(r10 - 4) = 0 */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4), /* r2 = r10 - 4 */
		INSN(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
		INSN(0, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0), /* if r0 == 0 goto out */
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1),
		INSN(BPF_STX | BPF_ATOMIC | BPF_DW, 0, 1, 0, BPF_ADD), /* lock *(u64 *)r0 += 1 */
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 7),	       /* out: r0 = 7 */
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	static char log[4096];
	union bpf_attr a;
	long fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (__u64)(unsigned long)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (__u64)(unsigned long)"GPL";
	a.log_buf = (__u64)(unsigned long)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	strcpy(a.prog_name, "kernel_side");
	fd = raw_bpf(BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0)
		fprintf(stderr, "tailcall: the kernel refuses the program: %s\n%s\n",
			strerror((int)-fd), log);
	return (int)fd;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = argc > 2 ? argv[2] : "target_func");
	struct tailcall_bpf *skel;
	struct bpf_link *up = NULL;
	union bpf_attr a;
	long map_fd;
	int prog_fd, ret = 1;
	__u32 zero = 0;
	char line[64];

	if (argc < 2) {
		fprintf(stderr, "usage: %s VICTIM [FUNC]\n", argv[0]);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 1;
	map_fd = raw_bpf(BPF_MAP_CREATE, &a, sizeof(a));
	if (map_fd < 0) {
		fprintf(stderr, "tailcall: no kernel map: %s\n", strerror((int)-map_fd));
		return 1;
	}
	prog_fd = load_kernel_prog((int)map_fd);
	if (prog_fd < 0)
		return 1;
	skel = tailcall_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "tailcall: cannot load tailcall.bpf.o: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.jmp), &zero, &prog_fd, 0)) {
		fprintf(stderr, "tailcall: cannot put the kernel program into the prog array: %s\n",
			strerror(errno));
		goto out;
	}
	up = bpf_program__attach_uprobe_opts(skel->progs.on_call, -1, argv[1], 0, &uo);
	if (!up) {
		fprintf(stderr, "tailcall: cannot attach the uprobe: %s\n", strerror(errno));
		goto out;
	}
	printf("tailcall: ready (kernel program fd %d in the prog array)\n", prog_fd);
	fflush(stdout);
	for (;;) {
		__u64 kcount = 0, missed = 0;
		ssize_t n = read(0, line, sizeof(line) - 1);

		if (n <= 0 || line[0] == 'q')
			break;
		if (line[0] != 'p')
			continue;
		memset(&a, 0, sizeof(a));
		a.map_fd = (__u32)map_fd;
		a.key = (__u64)(unsigned long)&zero;
		a.value = (__u64)(unsigned long)&kcount;
		raw_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
		bpf_map_lookup_elem(bpf_map__fd(skel->maps.missed), &zero, &missed);
		printf("kernel_count=%llu missed=%llu\n", (unsigned long long)kcount,
		       (unsigned long long)missed);
		fflush(stdout);
	}
	ret = 0;
out:
	bpf_link__destroy(up);
	tailcall_bpf__destroy(skel);
	return ret;
}
