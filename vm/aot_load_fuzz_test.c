/* SPDX-License-Identifier: MIT */
/* vm/aot_load_fuzz_test.c: the AOT object loader (aot_load.c) against
 * malformed objects.
 *
 * A valid object (tests/aot_fixture.c, compiled at build time) first loads
 * and runs.  Then thousands of deterministic mutations of it: fields of the
 * ELF header, of every section header, symbol and relocation set to
 * boundary values (0, 1, the file size and around it, huge, -1, SHN_ABS and
 * the other special section indices), random bytes, truncations.  Each
 * mutated object is only loaded, never run (its code may be anything):
 * bpftime_vm__load_aot() must return 0 or -ENOEXEC/-ENOENT/-ENOMEM with a
 * message, never crash, never read outside the buffer (the buffer is a
 * malloc'ed copy of exactly the object's size, so ASan sees every stray
 * read) and never write outside its own mapping.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/vm.h>
#include "common/compiler.h"

static uint8_t *valid;
static size_t valid_size;
static uint64_t rng = 0x2545f4914f6cdd1dull;
static int cases = 20000;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static uint64_t helper5(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e + 25; /* 40 */
}

static struct bpftime_vm *new_vm(void)
{
	struct bpftime_vm *vm = bpftime_vm__new(NULL);

	assert_non_null(vm);
	assert_int_equal(bpftime_vm__register_helper(vm, 5, "helper5", helper5), 0);
	return vm;
}

static void test_valid_object_runs(void **state)
{
	struct bpftime_vm *vm = new_vm();
	char mem[] = "abcdef";
	uint64_t r0 = 0;

	UNUSED(state);
	if (bpftime_vm__load_aot(vm, valid, valid_size))
		fail_msg("the valid object: %s", bpftime_vm__last_error(vm));
	assert_int_equal(bpftime_vm__compile(vm, BPFTIME_ENGINE_AOT), 0);
	assert_int_equal(bpftime_vm__run(vm, mem, 6, &r0), 0);
	/* bytes 597, aot_table[2] 3, msg[6] 'a' 97, helper 40, counter 1 * 1000 */
	assert_int_equal(r0, 597 + 3 + 97 + 40 + 1000);
	assert_int_equal(bpftime_vm__run(vm, mem, 6, &r0), 0);
	assert_int_equal(r0, 597 + 3 + 97 + 40 + 2000); /* .bss is writable */
	bpftime_vm__free(vm);
}

/* ---- field-aware mutation ----------------------------------------------- */

/* where the fields of the valid object are */
struct field {
	size_t off;
	unsigned int width;
};

static struct field fields[8192];
static size_t nfields;

static void add(size_t off, unsigned int width)
{
	if (nfields < ARRAY_SIZE(fields) && off + width <= valid_size)
		fields[nfields++] = (struct field){ off, width };
}

#define ADD(base, type, member) add((base) + offsetof(type, member), sizeof(((type *)0)->member))

static void find_fields(void)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)valid;

	ADD(0, Elf64_Ehdr, e_type);
	ADD(0, Elf64_Ehdr, e_machine);
	ADD(0, Elf64_Ehdr, e_shoff);
	ADD(0, Elf64_Ehdr, e_shentsize);
	ADD(0, Elf64_Ehdr, e_shnum);
	ADD(0, Elf64_Ehdr, e_shstrndx);
	add(EI_CLASS, 1);
	add(EI_DATA, 1);
	for (size_t i = 0; i < eh->e_shnum; i++) {
		size_t b = eh->e_shoff + i * sizeof(Elf64_Shdr);
		const Elf64_Shdr *s = (const Elf64_Shdr *)(valid + b);

		ADD(b, Elf64_Shdr, sh_type);
		ADD(b, Elf64_Shdr, sh_flags);
		ADD(b, Elf64_Shdr, sh_offset);
		ADD(b, Elf64_Shdr, sh_size);
		ADD(b, Elf64_Shdr, sh_link);
		ADD(b, Elf64_Shdr, sh_info);
		ADD(b, Elf64_Shdr, sh_addralign);
		ADD(b, Elf64_Shdr, sh_entsize);
		for (size_t j = 0; s->sh_type == SHT_SYMTAB && j < s->sh_size / sizeof(Elf64_Sym);
		     j++) {
			size_t sb = s->sh_offset + j * sizeof(Elf64_Sym);

			ADD(sb, Elf64_Sym, st_name);
			ADD(sb, Elf64_Sym, st_info);
			ADD(sb, Elf64_Sym, st_shndx);
			ADD(sb, Elf64_Sym, st_value);
			ADD(sb, Elf64_Sym, st_size);
		}
		for (size_t j = 0; s->sh_type == SHT_RELA && j < s->sh_size / sizeof(Elf64_Rela);
		     j++) {
			size_t rb = s->sh_offset + j * sizeof(Elf64_Rela);

			ADD(rb, Elf64_Rela, r_offset);
			add(rb + offsetof(Elf64_Rela, r_info), 4);     /* the type */
			add(rb + offsetof(Elf64_Rela, r_info) + 4, 4); /* the symbol */
			ADD(rb, Elf64_Rela, r_addend);
		}
	}
}

static uint64_t boundary(uint64_t old)
{
	switch (rnd(16)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return old + 1;
	case 3:
		return old - 1;
	case 4:
		return valid_size;
	case 5:
		return valid_size - 1;
	case 6:
		return valid_size + 1;
	case 7:
		return UINT64_MAX;
	case 8:
		return UINT64_MAX - 7;
	case 9:
		return (uint64_t)1 << 31;
	case 10:
		return (uint64_t)1 << 32;
	case 11:
		return (uint64_t)1 << 63;
	case 12:
		return SHN_ABS;
	case 13:
		return (uint64_t)SHN_COMMON + rnd(16) - 8;
	case 14:
		return old ^ ((uint64_t)1 << rnd(64));
	default:
		return rnd(64);
	}
}

static void mutate(uint8_t *obj, size_t *size)
{
	switch (rnd(8)) {
	case 0: { /* random bytes */
		for (int i = 0, k = 1 + (int)rnd(8); i < k; i++)
			obj[rnd((uint32_t)*size)] = (uint8_t)rnd(256);
		break;
	}
	case 1: /* truncated */
		*size = rnd((uint32_t)*size);
		break;
	default: { /* a structure field */
		struct field *f = &fields[rnd((uint32_t)nfields)];
		uint64_t v = 0;

		memcpy(&v, obj + f->off, f->width);
		v = boundary(v);
		memcpy(obj + f->off, &v, f->width); /* little endian: the low bytes */
		break;
	}
	}
}

static void test_mutated_objects_are_rejected_cleanly(void **state)
{
	int loaded = 0, rejected = 0;

	UNUSED(state);
	find_fields();
	assert_true(nfields > 100);
	for (int n = 0; n < cases; n++) {
		uint8_t *work = malloc(valid_size), *obj;
		size_t size = valid_size;
		struct bpftime_vm *vm = new_vm();
		int err;

		assert_non_null(work);
		memcpy(work, valid, valid_size);
		for (int m = 0, k = 1 + (int)rnd(3); m < k && size; m++)
			mutate(work, &size);
		/* exactly size bytes: a read past the end is an ASan report;
		 * every eighth object starts at an odd address (from a file
		 * read at an offset, a shm blob) */
		obj = malloc(size + 1);
		assert_non_null(obj);
		memcpy(obj + n % 8 / 7, work, size);
		err = bpftime_vm__load_aot(vm, obj + n % 8 / 7, size);
		if (err) {
			if (err != -ENOEXEC && err != -ENOENT && err != -ENOMEM)
				fail_msg("case %d: unexpected error %d (%s)", n, err,
					 bpftime_vm__last_error(vm));
			if (!bpftime_vm__last_error(vm)[0])
				fail_msg("case %d: error %d without a message", n, err);
			rejected++;
		} else {
			loaded++; /* a harmless change (padding, debug info, addends) */
		}
		bpftime_vm__free(vm);
		free(obj);
		free(work);
	}
	printf("%d mutated objects: %d loaded, %d rejected\n", cases, loaded, rejected);
	assert_true(rejected > cases / 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_object_runs),
		cmocka_unit_test(test_mutated_objects_are_rejected_cleanly),
	};
	FILE *f = fopen(AOT_FIXTURE, "rb");
	long len;

	if (getenv("BPFTIME_FUZZ_CASES"))
		cases = atoi(getenv("BPFTIME_FUZZ_CASES"));
	if (getenv("BPFTIME_FUZZ_SEED"))
		rng = strtoull(getenv("BPFTIME_FUZZ_SEED"), NULL, 0) | 1;
	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "cannot read %s\n", AOT_FIXTURE);
		return 1;
	}
	valid_size = (size_t)len;
	valid = malloc(valid_size);
	if (!valid || fread(valid, 1, valid_size, f) != valid_size)
		return 1;
	fclose(f);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
