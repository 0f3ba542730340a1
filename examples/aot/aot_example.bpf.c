/* SPDX-License-Identifier: MIT */
/* examples/aot/aot_example.bpf.c: two small eBPF programs compiled ahead of
 * time by bpftime-aot into native objects.
 *
 * checksum: adds up the bytes of its memory (r1, r2) with a bpf-to-bpf call;
 *           no helpers, no maps, so `bpftime-aot run checksum.o FILE` runs it.
 * count_calls: counts its runs in a global (.bss, i.e. a map value reached
 *           through __lddw_helper_map_by_fd/__lddw_helper_map_val) and adds
 *           the value of helper 5 (bpf_ktime_get_ns), both of which the plain
 *           C driver main.c defines.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

__u64 runs;

static __attribute__((noinline)) __u64 mix(__u64 acc, __u8 byte)
{
	return acc * 31 + byte;
}

SEC("raw")
__u64 checksum(__u8 *mem, __u64 len)
{
	__u64 acc = 0;

	for (__u32 i = 0; i < 4096 && i < len; i++)
		acc = mix(acc, mem[i]);
	return acc;
}

SEC("raw")
__u64 count_calls(void *ctx)
{
	runs++;
	return runs * 1000 + bpf_ktime_get_ns();
}

char LICENSE[] SEC("license") = "GPL";
