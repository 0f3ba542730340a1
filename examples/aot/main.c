/* SPDX-License-Identifier: MIT */
/* examples/aot/main.c: a plain C program linked with AOT objects made by
 * bpftime-aot; it runs them without bpftime at all.  It defines what the
 * objects leave undefined (DESIGN.md section 3):
 *   _bpf_helper_ext_%04u      the helpers, uint64_t f(uint64_t x5)
 *   __lddw_helper_map_by_fd   map "fd" (its index in the eBPF object) -> handle
 *   __lddw_helper_map_val     handle -> address of the map's value
 * Each object exports bpf_main, so the two are linked under other names
 * (objcopy --redefine-sym in CMakeLists.txt).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

uint64_t checksum_main(void *ctx, uint64_t size);
uint64_t count_calls_main(void *ctx, uint64_t size);
uint64_t _bpf_helper_ext_0005(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t __lddw_helper_map_by_fd(uint32_t fd);
uint64_t __lddw_helper_map_val(uint64_t map);

/* The object has one map, its .bss (index 0): the global 'runs'. */
static uint64_t bss[1];

uint64_t _bpf_helper_ext_0005(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	return 7; /* a fixed "time" keeps the output checkable */
}

uint64_t __lddw_helper_map_by_fd(uint32_t fd)
{
	return fd + 1; /* any handle; 0 would look like a failed lookup */
}

uint64_t __lddw_helper_map_val(uint64_t map)
{
	return map == 1 ? (uint64_t)(uintptr_t)bss : 0;
}

/* what checksum computes, in plain C: the reference */
static uint64_t reference(const uint8_t *p, size_t len)
{
	uint64_t acc = 0;

	for (size_t i = 0; i < len && i < 4096; i++)
		acc = acc * 31 + p[i];
	return acc;
}

int main(int argc, char **argv)
{
	char text[] = "hello, aot";
	uint64_t expect = reference((const uint8_t *)text, strlen(text));

	if (argc == 3 && !strcmp(argv[1], "--reference")) {
		/* for the bpftime-aot run test: the same line, computed natively */
		static uint8_t buf[1 << 16];
		FILE *f = fopen(argv[2], "rb");
		size_t n;

		if (!f)
			return 1;
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		printf("Output: %" PRIu64 "\n", reference(buf, n));
		return 0;
	}
	printf("checksum: %" PRIu64 " (expected %" PRIu64 ")\n", checksum_main(text, strlen(text)),
	       expect);
	for (int i = 0; i < 3; i++)
		printf("count_calls: %" PRIu64 "\n", count_calls_main(NULL, 0));
	printf("runs: %" PRIu64 "\n", bss[0]);
	return checksum_main(text, strlen(text)) == expect && bss[0] == 3 ? 0 : 1;
}
