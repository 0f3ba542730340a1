/* SPDX-License-Identifier: MIT */
/* tools/bpftime-aot/main.c: the bpftime-aot command line.
 *
 *   bpftime-aot build EBPF_ELF [-o DIR] [-e]
 *       every program of a clang-built eBPF object -> DIR/<prog>.o, a
 *       relocatable x86-64 object exporting bpf_main (-e: LLVM IR, .ll)
 *   bpftime-aot compile [-o DIR] [-e]
 *       every program in the shared memory -> an AOT object stored back with
 *       the program (so `bpftimetool run ID ... type AOT` uses it); -o also
 *       writes DIR/<prog>.o; -e writes LLVM IR to DIR/<prog>.ll instead
 *   bpftime-aot load PATH ID
 *       stores the object PATH as the AOT code of program ID (its fd)
 *   bpftime-aot run PATH [MEMORY]
 *       loads the object PATH and runs it once with the runtime's helpers;
 *       the bytes of MEMORY are the program's memory (r1 = their address,
 *       r2 = their length); an object that uses maps needs the shm (compile)
 *
 * Thin: the work is in the VM (bpftime_vm__emit_aot, bpftime_vm__load_aot)
 * and in runtime/object.c (reading and linking the eBPF object).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <elf.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "runtime/object.h"
#include "common/proc.h"

#define PROG "bpftime-aot"
#ifndef BPFTIME_VERSION
#define BPFTIME_VERSION "unknown"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG
		" build EBPF_ELF [-o DIR] [-e]   compile every program to DIR/<prog>.o\n"
		"                                                (-o/--output DIR, "
		"-e/--emit-llvm)\n"
		"                                                (-e: LLVM IR as DIR/<prog>.ll)\n"
		"       " PROG
		" compile [-o DIR] [-e]          compile every program in the shared\n"
		"                                                memory and store the objects "
		"there\n"
		"       " PROG " load PATH ID                   store object PATH for program ID\n"
		"       " PROG " run PATH [MEMORY]              run an AOT object once; MEMORY's\n"
		"                                                bytes are the program's memory\n"
		"       " PROG " --version\n"
		"exit status: 0 success, 1 failure, 2 usage error\n");
}

/* The object never calls these: its helpers are external symbols bound
 * when it is loaded.  They only tell the verifier the ids exist. */
static uint64_t unbound_helper(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	return 0;
}

/* Map references stay symbolic in AOT code; any value satisfies the load. */
static int symbolic_map(void *ctx, unsigned int src, int32_t imm, int32_t next_imm, uint64_t *value)
{
	(void)ctx;
	*value = ((uint64_t)src << 56) | ((uint64_t)(uint32_t)imm << 16) | (uint16_t)next_imm;
	return 0;
}

/* the verifier's view of a stored program's maps (lddw by map id: the
 * segment stores programs with their maps' ids) */
static int shm_map_info(void *ctx, unsigned int src, int32_t imm, int32_t next_imm,
			struct bpftime_verifier_map *m)
{
	struct bpftime_map *h;

	(void)next_imm;
	if (src != 1 && src != 2)
		return -EINVAL;
	h = bpftime_map_get_handle_by_id(ctx, (uint32_t)imm);
	return h ? bpftime_verifier_map__from_handle(h, m) : -EBADF;
}

static int write_file(const char *path, const void *buf, size_t size)
{
	FILE *f = fopen(path, "wb");
	int err = 0;

	if (!f)
		return -errno;
	if (fwrite(buf, 1, size, f) != size)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Compiles one program (insns as the loader left them: map fds in the
 * lddw pseudo sources) into *buf; the message names the program. */
static int compile_prog(const char *name, const struct bpftime_insn *insns, size_t cnt, bool ir,
			void **buf, size_t *size, const struct bpftime_verifier_ops *vops)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .name = name, .resolve_lddw = symbolic_map,
		     .verifier = vops);
	struct bpftime_vm *vm = bpftime_vm__new(&opts);
	char helper[32];
	int err;

	if (!vm)
		return -errno;
	for (size_t i = 0; i < cnt; i++) {
		const struct bpftime_insn *insn = &insns[i];

		if (insn->code != 0x85 || insn->src != 0 || insn->imm < 0 ||
		    insn->imm > BPFTIME_MAX_HELPER_ID ||
		    bpftime_vm__helper(vm, (uint32_t)insn->imm))
			continue;
		snprintf(helper, sizeof(helper), "helper_%d", insn->imm);
		bpftime_vm__register_helper(vm, (uint32_t)insn->imm, helper, unbound_helper);
	}
	err = bpftime_vm__load(vm, insns, cnt);
	if (!err)
		err = bpftime_vm__emit_aot(vm, ir, buf, size);
	if (err)
		fprintf(stderr, PROG ": program '%s': %s\n", name, bpftime_vm__last_error(vm));
	bpftime_vm__free(vm);
	return err;
}

static int build_one(const struct rt_elf_prog *p, const char *dir, bool ir)
{
	char path[4096];
	size_t size = 0;
	void *buf = NULL;
	int err;

	/* an ELF object names no program type and no map sizes here: the
	 * structural checks only; the runtime verifies the program in full
	 * before it ever loads the object (bpftime_runtime__prog) */
	err = compile_prog(p->name, p->insns, p->cnt, ir, &buf, &size, NULL);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/%s.%s", dir, p->name, ir ? "ll" : "o");
	err = write_file(path, buf, size);
	if (err)
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(-err));
	else
		printf("%s: %s (%zu instructions, %zu bytes)\n", p->name, path, p->cnt, size);
	free(buf);
	return err;
}

static bool is_dir(const char *dir);

/* -o/--output DIR and -e/--emit-llvm of build and compile (getopt_long,
 * operands anywhere); the index of the first operand after permuting, -1
 * for --help (printed), -2 after a usage message */
static int out_options(const char *cmd, int argc, char **argv, const char **dir, bool *ir)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "emit-llvm", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0; /* argv[0] is the subcommand: start at argv[1], reset getopt */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:eh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			*dir = optarg;
			break;
		case 'e':
			*ir = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		case ':':
			fprintf(stderr, PROG ": %s: '%s' needs a value\n", cmd, argv[optind - 1]);
			return -2;
		default:
			fprintf(stderr, PROG ": %s: unexpected argument '%s'\n", cmd,
				argv[optind - 1]);
			usage(stderr);
			return -2;
		}
	}
	return optind;
}

static int cmd_build(int argc, char **argv)
{
	const char *elf = NULL, *dir = ".";
	struct rt_elf_prog *progs;
	size_t nprogs;
	bool ir = false;
	char err[512];
	int ret = 0;

	int first = out_options("build", argc, argv, &dir, &ir);

	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (first + 1 < argc) {
		fprintf(stderr, PROG ": build: unexpected argument '%s'\n", argv[first + 1]);
		return 2;
	}
	elf = first < argc ? argv[first] : NULL;
	if (!elf) {
		fprintf(stderr,
			PROG ": build: which eBPF object? (build EBPF_ELF [-o DIR] [-e])\n");
		return 2;
	}
	if (!is_dir(dir))
		return 1;
	if (rt_elf_open(elf, &progs, &nprogs, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < nprogs; i++) {
		if (build_one(&progs[i], dir, ir))
			ret = 1;
	}
	rt_elf_free(progs, nprogs);
	return ret;
}

static struct bpftime_shm *open_shm(void)
{
	struct bpftime_shm *shm = bpftime_shm__open(NULL);
	const char *name = getenv("BPFTIME_GLOBAL_SHM_NAME");

	if (!shm)
		fprintf(stderr,
			PROG ": no bpftime shared memory '%s' (%s): start a loader with `bpftime "
			     "load` or run `bpftimetool import`\n",
			name && *name ? name : BPFTIME_DEFAULT_SHM_NAME, strerror(errno));
	return shm;
}

static bool is_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st))
		fprintf(stderr, PROG ": output directory '%s': %s\n", dir,
			errno == ENOENT ? "does not exist" : strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		fprintf(stderr, PROG ": output directory '%s' is not a directory\n", dir);
	else
		return true;
	return false;
}

static int cmd_compile(int argc, char **argv)
{
	const char *dir = NULL;
	struct bpftime_shm *shm;
	bool ir = false;
	int ret = 0, progs = 0;

	int first = out_options("compile", argc, argv, &dir, &ir);

	if (first == -1)
		return 0;
	if (first < 0)
		return 2;
	if (first < argc) {
		fprintf(stderr, PROG ": compile: unexpected argument '%s'\n", argv[first]);
		return 2;
	}
	if (ir && !dir)
		dir = ".";
	if (dir && !is_dir(dir))
		return 1;
	shm = open_shm();
	if (!shm)
		return 1;
	for (int fd = bpftime_handler_next(shm, -1); fd >= 0; fd = bpftime_handler_next(shm, fd)) {
		struct bpftime_prog_info info;
		const struct bpftime_insn *insns;
		char path[4096];
		size_t cnt, size = 0;
		void *buf = NULL;
		int err;

		if (bpftime_handler_get_type(shm, fd) != BPFTIME_HANDLER_PROG ||
		    bpftime_prog_get_info(shm, fd, &info))
			continue;
		progs++;
		insns = bpftime_prog_insns(shm, fd, &cnt);
		if (!info.name[0])
			snprintf(info.name, sizeof(info.name), "prog_%d", fd);
		struct bpftime_verifier_ops vops;
		int mode = bpftime_verifier_ops__init(&vops, info.type, info.expected_attach_type);

		vops.map_info = shm_map_info;
		vops.ctx = shm;
		/* the license recorded at load (none: created through the
		 * library, not checked, as the runtime does) */
		vops.gpl_compatible =
			!info.license[0] || bpftime_license__gpl_compatible(info.license);
		if (!insns ||
		    compile_prog(info.name, insns, cnt, ir, &buf, &size, mode ? NULL : &vops)) {
			ret = 1;
			continue;
		}
		if (dir) {
			snprintf(path, sizeof(path), "%s/%s.%s", dir, info.name, ir ? "ll" : "o");
			err = write_file(path, buf, size);
			if (err) {
				fprintf(stderr, PROG ": %s: %s\n", path, strerror(-err));
				ret = 1;
			} else {
				printf("program %d '%s': %s\n", fd, info.name, path);
			}
		}
		if (!ir) {
			err = bpftime_prog_set_aot(shm, fd, buf, size);
			if (err) {
				fprintf(stderr,
					PROG ": program %d '%s': cannot store the object: %s\n", fd,
					info.name, strerror(-err));
				ret = 1;
			} else {
				printf("program %d '%s': %zu-byte AOT object stored\n", fd,
				       info.name, size);
			}
		}
		free(buf);
	}
	if (!progs)
		printf("no programs in shared memory '%s'\n", bpftime_shm__name(shm));
	bpftime_shm__close(shm);
	return ret;
}

/* A relocatable x86-64 ELF file: what the loader will take. */
static const char *check_object(const void *obj, size_t size)
{
	const Elf64_Ehdr *eh = obj;

	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return "not an ELF file";
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
		return "not an x86-64 ELF object (an eBPF object? build it with `" PROG
		       " build` first)";
	if (eh->e_type != ET_REL)
		return "not a relocatable object";
	return NULL;
}

static int map_file(const char *path, void **mem, size_t *size, bool writable);

/* Loads @obj as the runtime would, against program @fd's instructions (map
 * references symbolic, every helper it calls registered), so that a
 * truncated or foreign object is refused before it reaches the segment and
 * the processes following it.  Returns 0, or -errno with the message printed. */
static int check_loads(struct bpftime_shm *shm, int fd, const char *path, const void *obj,
		       size_t size)
{
	BPFTIME_OPTS(bpftime_vm_opts, opts, .resolve_lddw = symbolic_map);
	const struct bpftime_insn *insns;
	struct bpftime_vm *vm;
	size_t cnt = 0;
	int err;

	insns = bpftime_prog_insns(shm, fd, &cnt);
	vm = bpftime_vm__new(&opts);
	if (!insns || !vm || bpftime_helpers__register(vm)) {
		err = -errno;
		fprintf(stderr, PROG ": program %d: %s\n", fd, strerror(errno));
		bpftime_vm__free(vm);
		return err;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (insns[i].code == 0x85 && insns[i].src == 0 && insns[i].imm >= 0 &&
		    insns[i].imm <= BPFTIME_MAX_HELPER_ID &&
		    !bpftime_vm__helper(vm, (uint32_t)insns[i].imm))
			bpftime_vm__register_helper(vm, (uint32_t)insns[i].imm, "unbound",
						    unbound_helper);
	}
	err = bpftime_vm__load(vm, insns, cnt);
	if (err)
		fprintf(stderr, PROG ": program %d does not load: %s\n", fd,
			bpftime_vm__last_error(vm));
	else if ((err = bpftime_vm__load_aot(vm, obj, size)))
		fprintf(stderr, PROG ": %s: %s; nothing was stored\n", path,
			bpftime_vm__last_error(vm));
	bpftime_vm__free(vm);
	return err;
}

static int cmd_load(int argc, char **argv)
{
	struct bpftime_shm *shm = NULL;
	const char *why;
	void *obj = NULL;
	size_t size = 0;
	char *end;
	long id;
	int err, ret = 1;

	if (argc != 2) {
		fprintf(stderr, PROG ": load: expected PATH ID\n");
		usage(stderr);
		return 2;
	}
	id = strtol(argv[1], &end, 10);
	if (*end || end == argv[1] || id < 0 || id > INT32_MAX) {
		fprintf(stderr, PROG ": load: '%s' is not a program id\n", argv[1]);
		return 2;
	}
	err = map_file(argv[0], &obj, &size, false);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", argv[0],
			err == -EINVAL ? "not a regular file" : strerror(-err));
		return 1;
	}
	why = check_object(obj, size);
	if (why) {
		fprintf(stderr, PROG ": %s: %s\n", argv[0], why);
		goto out;
	}
	shm = open_shm();
	if (!shm)
		goto out;
	if (bpftime_handler_get_type(shm, (int)id) != BPFTIME_HANDLER_PROG) {
		fprintf(stderr, PROG ": no program with id %ld in shared memory '%s'\n", id,
			bpftime_shm__name(shm));
		goto out;
	}
	if (check_loads(shm, (int)id, argv[0], obj, size))
		goto out;
	err = bpftime_prog_set_aot(shm, (int)id, obj, size);
	if (err) {
		fprintf(stderr, PROG ": program %ld: cannot store the object: %s\n", id,
			strerror(-err));
		goto out;
	}
	printf("program %ld: %zu-byte AOT object stored\n", id, size);
	ret = 0;
out:
	bpftime_shm__close(shm);
	if (obj)
		munmap(obj, size);
	return ret;
}

/* Maps a whole file privately (the program may write its memory; the file
 * stays as it is).  An empty file gives NULL, 0. */
static int map_file(const char *path, void **mem, size_t *size, bool writable)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*mem = NULL;
	*size = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_size) {
		*mem = mmap(NULL, (size_t)st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
			    MAP_PRIVATE, fd, 0);
		if (*mem == MAP_FAILED) {
			*mem = NULL;
			close(fd);
			return -errno;
		}
		*size = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct bpftime_vm *vm = NULL;
	void *obj = NULL, *mem = NULL;
	size_t obj_size = 0, mem_size = 0;
	uint64_t r0 = 0;
	int err, ret = 1;

	if (argc < 1 || argc > 2) {
		fprintf(stderr, PROG ": run: expected PATH [MEMORY]\n");
		usage(stderr);
		return 2;
	}
	err = map_file(argv[0], &obj, &obj_size, false);
	if (err) {
		fprintf(stderr, PROG ": %s: %s\n", argv[0],
			err == -EINVAL ? "not a regular file" : strerror(-err));
		return 1;
	}
	if (argc == 2) {
		err = map_file(argv[1], &mem, &mem_size, true);
		if (err) {
			fprintf(stderr, PROG ": memory file %s: %s\n", argv[1],
				err == -EINVAL ? "not a regular file" : strerror(-err));
			goto out;
		}
	}
	vm = bpftime_vm__new(NULL);
	if (!vm || bpftime_helpers__register(vm)) {
		fprintf(stderr, PROG ": %s\n", strerror(errno));
		goto out;
	}
	if (bpftime_vm__load_aot(vm, obj, obj_size) ||
	    bpftime_vm__compile(vm, BPFTIME_ENGINE_AOT)) {
		fprintf(stderr, PROG ": %s: %s\n", argv[0], bpftime_vm__last_error(vm));
		goto out;
	}
	proc_catch_faults(PROG ": the object", "a stray memory access in its code");
	if (bpftime_vm__run(vm, mem, mem_size, &r0)) {
		fprintf(stderr, PROG ": run failed: %s\n", bpftime_vm__last_error(vm));
		goto out;
	}
	printf("Output: %" PRIu64 "\n", r0);
	ret = 0;
out:
	bpftime_vm__free(vm);
	if (obj)
		munmap(obj, obj_size);
	if (mem)
		munmap(mem, mem_size);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf(PROG " %s\n", BPFTIME_VERSION);
		return 0;
	}
	/* build and compile take -h with their options; load and run here */
	if ((!strcmp(argv[1], "load") || !strcmp(argv[1], "run")) && argc > 2 &&
	    (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "build"))
		return cmd_build(argc - 1, argv + 1);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "compile"))
		return cmd_compile(argc - 1, argv + 1);
	if (!strcmp(argv[1], "load"))
		return cmd_load(argc - 2, argv + 2);
	fprintf(stderr, PROG ": unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
