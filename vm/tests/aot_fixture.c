/* SPDX-License-Identifier: MIT */
/* vm/tests/aot_fixture.c: a hand-written AOT object for aot_load_fuzz_test,
 * compiled by the C compiler as bpftime-aot would emit one (DESIGN.md
 * section 3): bpf_main, a helper as an undefined _bpf_helper_ext_ symbol,
 * read-only, writable and zeroed data, a far call and, with -g, debug
 * sections whose relocations the loader skips. */
#include <stdint.h>

uint64_t _bpf_helper_ext_0005(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e);
uint64_t bpf_main(void *ctx, uint64_t size);

static const char msg[] = "hello aot";
static uint64_t counter;		/* .bss */
uint64_t aot_table[4] = { 1, 2, 3, 4 }; /* .data */

uint64_t bpf_main(void *ctx, uint64_t size)
{
	const uint8_t *p = ctx;
	uint64_t s = 0;

	for (uint64_t i = 0; i < size; i++)
		s += p[i];
	counter++;
	s += aot_table[size & 3] + (uint8_t)msg[size % sizeof(msg)];
	s += _bpf_helper_ext_0005(1, 2, 3, 4, 5);
	return s + counter * 1000;
}
