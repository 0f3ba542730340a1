/* SPDX-License-Identifier: MIT */
/* tests/install/embed.c: a program that embeds the bpftime VM, built
 * against an installed bpftime with `pkg-config --cflags --libs bpftime`
 * (tests/install/install_test.c does that).  It loads a four-instruction
 * program, runs it in the interpreter, the JIT and, when asked, LLVM
 * (libbpftime-llvm.so found from the install tree), and prints r0.
 *
 *   embed [llvm]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpftime/vm.h>

int main(int argc, char **argv)
{
	/* r0 = *(u32 *)(r1 + 0) * 2 + r2 */
	static const struct bpftime_insn prog[] = {
		{ .code = 0x61, .dst = 0, .src = 1 }, /* r0 = *(u32 *)(r1 + 0) */
		{ .code = 0x67, .dst = 0, .imm = 1 }, /* r0 <<= 1 */
		{ .code = 0x0f, .dst = 0, .src = 2 }, /* r0 += r2 */
		{ .code = 0x95 },		      /* exit */
	};
	enum bpftime_engine engines[] = { BPFTIME_ENGINE_INTERP, BPFTIME_ENGINE_JIT,
					  BPFTIME_ENGINE_LLVM };
	size_t n = argc > 1 && !strcmp(argv[1], "llvm") ? 3 : 2;
	unsigned char mem[8] = { 20 };
	int status = 0;

	for (size_t i = 0; i < n; i++) {
		BPFTIME_OPTS(bpftime_vm_opts, o, .name = "embed");
		struct bpftime_vm *vm = bpftime_vm__new(&o);
		uint64_t r0 = 0;

		if (!vm || bpftime_vm__load(vm, prog, sizeof(prog) / sizeof(prog[0])) ||
		    (engines[i] != BPFTIME_ENGINE_INTERP && bpftime_vm__compile(vm, engines[i])) ||
		    bpftime_vm__run(vm, mem, sizeof(mem), &r0)) {
			fprintf(stderr, "embed: %s: %s\n", bpftime_engine__name(engines[i]),
				vm ? bpftime_vm__last_error(vm) : strerror(errno));
			status = 1;
		} else {
			printf("%s: r0 = %llu\n", bpftime_engine__name(engines[i]),
			       (unsigned long long)r0);
		}
		bpftime_vm__free(vm);
	}
	return status;
}
