/* SPDX-License-Identifier: MIT */
/* tests/e2e/kverifier_check.c: loads three kprobe-type programs with libbpf,
 * for kshare_e2e_test's check of BPFTIME_KERNEL_VERIFIER (run under the
 * syscall server):
 *   - "good": r0 = 0; exit (every verifier accepts it);
 *   - "nongpl": bpf_trace_printk from a program whose license is not GPL,
 *     which both verifiers refuse ("GPL-restricted", EINVAL);
 *   - "bloom": bpf_map_lookup_elem on a bloom filter, which the kernel
 *     refuses (its key is empty: "invalid zero-sized read", EACCES) and
 *     bpftime's verifier accepts (bpftime keeps lookups on bloom filters:
 *     an explicit prototype row).
 * Prints "NAME: OK|ERR <errno>" for each, then the logs of the last two. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

int main(void)
{
	static char log[65536];
	const struct bpf_insn good[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	const struct bpf_insn nongpl[] = {
		INSN(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 0x6968), /* "hi" */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, -8),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 8),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_trace_printk),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd, map;

	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "good", "GPL", good, 2, NULL);
	printf("good: %s %d\n", fd >= 0 ? "OK" : "ERR", fd >= 0 ? 0 : errno);
	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "nongpl", "Proprietary", nongpl, 7, &o);
	printf("nongpl: %s %d\n", fd >= 0 ? "OK" : "ERR", fd >= 0 ? 0 : errno);
	printf("nongpl log: %s\n", log);
	map = bpf_map_create(BPF_MAP_TYPE_BLOOM_FILTER, "kv_bloom", 0, 4, 16, NULL);
	if (map < 0) {
		printf("bloom: cannot create the map: %d\n", errno);
		return 1;
	}
	{
		const struct bpf_insn bloom[] = {
			INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),
			INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
			INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
			INSN(BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, map),
			INSN(0, 0, 0, 0, 0),
			INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
			INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
		};

		log[0] = 0;
		fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "bloom", "GPL", bloom, 8, &o);
		printf("bloom: %s %d\n", fd >= 0 ? "OK" : "ERR", fd >= 0 ? 0 : errno);
		printf("bloom log: %s\n", log);
	}
	return 0;
}
