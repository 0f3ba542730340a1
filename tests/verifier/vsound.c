/* SPDX-License-Identifier: MIT */
/* tests/verifier/vsound.c: soundness fuzzing of our verifier.  Every random
 * kprobe program from vgen that our verifier accepts runs on the
 * bounds-checked interpreter (vm opts bounds_check) with the real maps (in a
 * shm segment of its own) and the real helpers, and must finish without one
 * out-of-bounds access, fault or hang:
 *   - the interpreter checks every load and store against the stack frame,
 *     the context and the memory this file tells it about (mem_check): the
 *     values map lookups returned in this run, direct map values (read-only
 *     for the BPF_F_RDONLY_PROG map) and ring buffer records until they are
 *     submitted or discarded;
 *   - the helpers that take memory are wrapped: their pointer arguments
 *     must lie in that memory, the context or the program's stack frame
 *     (each program starts with "r1 = r10; call VSOUND_HELPER_FP", a helper
 *     of this file that notes the frame pointer; the verifier knows it as
 *     taking anything);
 *   - a ring buffer record still held at exit is a fault (a leak);
 *   - SIGSEGV/SIGBUS (a helper given a wild pointer) and a run longer than
 *     10 s (a hang) are faults too, and end the fuzzing at once.
 *
 *   vsound [--count N | --seconds S] [--seed S] [--structural]
 *
 * Prints programs/s, how many were accepted and ran, and the faults (must be
 * 0: the exit status is 1 otherwise).  --structural loads without the
 * memory-safety verifier, to show that the checks find what it must refuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include <bpftime/vm.h>
#include "vgen.h"

#define CTX_SIZE	 168 /* struct pt_regs */
#define MAX_REGIONS	 512
#define HANG_S		 10
#define VSOUND_HELPER_FP 211 /* notes the frame pointer (r1) of the run */

struct region {
	uint64_t lo, len;
	bool ro;
	bool ringbuf; /* released by submit/discard */
};

static struct bpftime_shm *shm;
static int map_fd[VGEN_NMAPS];
static struct bpftime_map *map_h[VGEN_NMAPS];
static struct region regions[MAX_REGIONS];
static int nregions;
static uint8_t ctx[CTX_SIZE];
static uint64_t cur_fp; /* r10 of the running program */
static bpftime_helper_fn real[BPFTIME_MAX_HELPER_ID + 1];
static volatile uint64_t cur_seed;
static volatile int in_run;
static long faults;
static char fault_msg[512];

static void add_region(uint64_t lo, uint64_t len, bool ro, bool rb)
{
	if (nregions < MAX_REGIONS)
		regions[nregions++] = (struct region){ lo, len, ro, rb };
}

static bool in(uint64_t a, uint64_t n, uint64_t lo, uint64_t len)
{
	return a >= lo && n <= len && a - lo <= len - n;
}

static bool region_ok(uint64_t a, uint64_t n, bool write)
{
	for (int i = 0; i < nregions; i++)
		if (in(a, n, regions[i].lo, regions[i].len))
			return !(write && regions[i].ro);
	return false;
}

/* what the interpreter asks beyond its stack and the context */
static bool mem_check(void *user, uint64_t addr, uint64_t size, bool write)
{
	(void)user;
	return region_ok(addr, size, write);
}

static void fault(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fault(const char *fmt, ...)
{
	va_list ap;

	if (fault_msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(fault_msg, sizeof(fault_msg), fmt, ap);
	va_end(ap);
}

/* a helper's memory argument: the context, the known regions, or the
 * program's stack frame (vgen makes no bpf-to-bpf calls: one frame) */
static bool arg_ok(uint64_t p, uint64_t n, bool write)
{
	if (!n)
		return true;
	if (in(p, n, (uint64_t)(uintptr_t)ctx, sizeof(ctx)))
		return true;
	if (region_ok(p, n, write))
		return true;
	return cur_fp && in(p, n, cur_fp - BPFTIME_STACK_SIZE, BPFTIME_STACK_SIZE);
}

static uint64_t h_fp(uint64_t fp, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	(void)a2, (void)a3, (void)a4, (void)a5;
	cur_fp = fp;
	return 0;
}

/* the verifier's view: the runtime's prototypes plus VSOUND_HELPER_FP */
static const struct bpftime_helper_proto fp_proto = {
	.ret = BPFTIME_RET_INTEGER,
	.arg = { BPFTIME_ARG_ANYTHING },
};
static const struct bpftime_helper_proto *(*runtime_proto)(void *ctx, int32_t id);
static void *runtime_ctx;

static const struct bpftime_helper_proto *helper_proto(void *user, int32_t id)
{
	(void)user;
	return id == VSOUND_HELPER_FP ? &fp_proto : runtime_proto(runtime_ctx, id);
}

static int map_info(void *user, unsigned int src, int32_t imm, int32_t next_imm,
		    struct bpftime_verifier_map *out)
{
	(void)user, (void)next_imm;
	if ((src != 1 && src != 2) || imm < 0 || imm >= VGEN_NMAPS)
		return -EINVAL;
	return bpftime_verifier_map__from_shm(shm, map_fd[imm], out);
}

/* the program with "r1 = r10; call VSOUND_HELPER_FP" after its first
 * instruction (vgen's "r6 = r1"; no jump crosses it) */
static struct bpftime_insn *with_fp_probe(const struct vgen_prog *p, size_t *cnt)
{
	struct bpftime_insn *v = malloc((p->cnt + 2) * sizeof(*v));

	if (!v)
		return NULL;
	v[0] = p->insns[0];
	v[1] = (struct bpftime_insn){ .code = 0xbf, .dst = 1, .src = 10 }; /* r1 = r10 */
	v[2] = (struct bpftime_insn){ .code = 0x85, .imm = VSOUND_HELPER_FP };
	memcpy(v + 3, p->insns + 1, (p->cnt - 1) * sizeof(*v));
	*cnt = p->cnt + 2;
	return v;
}

static uint32_t map_value_size(uint64_t h)
{
	for (int i = 0; i < VGEN_NMAPS; i++)
		if (map_h[i] && (uint64_t)(uintptr_t)map_h[i] == h)
			return vgen_maps[i].value;
	return 0;
}

static uint32_t map_key_size(uint64_t h)
{
	for (int i = 0; i < VGEN_NMAPS; i++)
		if (map_h[i] && (uint64_t)(uintptr_t)map_h[i] == h)
			return vgen_maps[i].key;
	return 0;
}

static bool is_map(uint64_t h, const char *what)
{
	if (map_value_size(h) || map_key_size(h) ||
	    h == (uint64_t)(uintptr_t)map_h[VGEN_MAP_RINGBUF])
		return true;
	fault("%s: r1 0x%llx is not a map", what, (unsigned long long)h);
	return false;
}

static uint64_t w_lookup(uint64_t m, uint64_t k, uint64_t a3, uint64_t a4, uint64_t a5)
{
	uint64_t r;

	if (!is_map(m, "map_lookup_elem"))
		return 0;
	if (!arg_ok(k, map_key_size(m), false)) {
		fault("map_lookup_elem: key 0x%llx", (unsigned long long)k);
		return 0;
	}
	r = real[1](m, k, a3, a4, a5);
	if (r)
		add_region(r, map_value_size(m), m == (uint64_t)(uintptr_t)map_h[VGEN_MAP_RODATA],
			   false);
	return r;
}

static uint64_t w_update(uint64_t m, uint64_t k, uint64_t v, uint64_t f, uint64_t a5)
{
	if (!is_map(m, "map_update_elem"))
		return 0;
	if (!arg_ok(k, map_key_size(m), false) || !arg_ok(v, map_value_size(m), false)) {
		fault("map_update_elem: key 0x%llx value 0x%llx", (unsigned long long)k,
		      (unsigned long long)v);
		return 0;
	}
	return real[2](m, k, v, f, a5);
}

static uint64_t w_delete(uint64_t m, uint64_t k, uint64_t a3, uint64_t a4, uint64_t a5)
{
	if (!is_map(m, "map_delete_elem"))
		return 0;
	if (!arg_ok(k, map_key_size(m), false)) {
		fault("map_delete_elem: key 0x%llx", (unsigned long long)k);
		return 0;
	}
	return real[3](m, k, a3, a4, a5);
}

static uint64_t w_probe_read(uint64_t d, uint64_t n, uint64_t s, uint64_t a4, uint64_t a5)
{
	if (n > (1u << 20) || !arg_ok(d, n, true)) {
		fault("probe_read_kernel: dst 0x%llx size %llu", (unsigned long long)d,
		      (unsigned long long)n);
		return 0;
	}
	return real[113](d, n, s, a4, a5);
}

static uint64_t w_printk(uint64_t f, uint64_t n, uint64_t a3, uint64_t a4, uint64_t a5)
{
	if (n > (1u << 20) || !arg_ok(f, n, false)) {
		fault("trace_printk: fmt 0x%llx size %llu", (unsigned long long)f,
		      (unsigned long long)n);
		return 0;
	}
	return real[6](f, n, a3, a4, a5);
}

static uint64_t w_reserve(uint64_t m, uint64_t n, uint64_t f, uint64_t a4, uint64_t a5)
{
	uint64_t r;

	if (m != (uint64_t)(uintptr_t)map_h[VGEN_MAP_RINGBUF]) {
		fault("ringbuf_reserve: r1 0x%llx is not the ring buffer", (unsigned long long)m);
		return 0;
	}
	r = real[131](m, n, f, a4, a5);
	if (r)
		add_region(r, n, false, true);
	return r;
}

/* submit and discard: @p must be a live record; it is gone afterwards */
static bool release(uint64_t p, const char *what)
{
	for (int i = 0; i < nregions; i++)
		if (regions[i].ringbuf && regions[i].lo == p) {
			regions[i] = regions[--nregions];
			return true;
		}
	fault("%s: 0x%llx is not a live ring buffer record", what, (unsigned long long)p);
	return false;
}

static uint64_t w_submit(uint64_t p, uint64_t f, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return release(p, "ringbuf_submit") ? real[132](p, f, a3, a4, a5) : 0;
}

static uint64_t w_discard(uint64_t p, uint64_t f, uint64_t a3, uint64_t a4, uint64_t a5)
{
	return release(p, "ringbuf_discard") ? real[133](p, f, a3, a4, a5) : 0;
}

static const struct {
	uint32_t id;
	const char *name;
	bpftime_helper_fn fn;
} wrappers[] = {
	{ 1, "map_lookup_elem", w_lookup },	    { 2, "map_update_elem", w_update },
	{ 3, "map_delete_elem", w_delete },	    { 6, "trace_printk", w_printk },
	{ 113, "probe_read_kernel", w_probe_read }, { 131, "ringbuf_reserve", w_reserve },
	{ 132, "ringbuf_submit", w_submit },	    { 133, "ringbuf_discard", w_discard },
};

static int resolve_lddw(void *user, unsigned int src, int32_t imm, int32_t next_imm,
			uint64_t *value)
{
	(void)user;
	if ((src != 1 && src != 2) || imm < 0 || imm >= VGEN_NMAPS)
		return -EINVAL;
	if (src == 1) {
		*value = (uint64_t)(uintptr_t)map_h[imm];
		return 0;
	}
	return bpftime_map__direct_value_addr(map_h[imm], (uint32_t)next_imm, value);
}

static void on_signal(int sig)
{
	char buf[160];
	int n;

	if (sig == SIGALRM)
		n = snprintf(buf, sizeof(buf), "FAULT seed %llu: hang (still running after %d s)\n",
			     (unsigned long long)cur_seed, HANG_S);
	else
		n = snprintf(buf, sizeof(buf), "FAULT seed %llu: signal %d %s\n",
			     (unsigned long long)cur_seed, sig, in_run ? "while running" : "");
	if (n > 0 && write(1, buf, (size_t)n) < 0)
		_exit(3);
	if (shm)
		bpftime_shm__remove(bpftime_shm__name(shm));
	_exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup(void)
{
	char name[64];
	BPFTIME_OPTS(bpftime_shm_opts, so, .name = name, .size_mb = 64);

	snprintf(name, sizeof(name), "bpftime_vsound_%d", (int)getpid());
	shm = bpftime_shm__create(&so);
	if (!shm) {
		printf("cannot create shm %s: %s\n", name, strerror(errno));
		return -1;
	}
	bpftime_helpers__set_shm(shm);
	for (int i = 0; i < VGEN_NMAPS; i++) {
		const struct vgen_map *m = &vgen_maps[i];
		uint32_t zero = 0;

		BPFTIME_OPTS(bpftime_map_create_opts, o, .map_flags = m->flags);

		map_fd[i] = bpftime_map_create(shm, -1, (enum bpftime_map_type)m->type, "vsound",
					       m->key, m->value, m->entries, &o);
		if (map_fd[i] < 0) {
			printf("cannot create map %d: %s\n", i, strerror(-map_fd[i]));
			return -1;
		}
		map_h[i] = bpftime_map_get_handle(shm, map_fd[i]);
		if (m->type == 2) {
			uint8_t v[64];

			memset(v, 0x11 * (i + 1), sizeof(v));
			bpftime_map_update_elem(shm, map_fd[i], &zero, v, 0);
		}
		if (m->frozen)
			bpftime_map_freeze(shm, map_fd[i]);
	}
	return 0;
}

/* direct values: the value of element 0 of each array */
static void add_direct_regions(void)
{
	for (int i = 0; i < VGEN_NMAPS; i++) {
		uint64_t a;

		if (vgen_maps[i].type == 2 && !bpftime_map__direct_value_addr(map_h[i], 0, &a))
			add_region(a, vgen_maps[i].value, (vgen_maps[i].flags & 0x80) != 0, false);
	}
}

int main(int argc, char **argv)
{
	long count = -1, accepted = 0, ran = 0, total = 0, refused = 0;
	double seconds = 0, t0;
	uint64_t seed = 1;
	bool structural = false;
	struct vgen_opts go = { .kprobe_only = 1 };
	struct bpftime_verifier_ops vops;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--structural"))
			structural = true;
		else {
			fprintf(stderr, "usage: vsound [--count N | --seconds S] [--seed S] "
					"[--structural]\n");
			return 2;
		}
	}
	if (count < 0 && seconds <= 0)
		count = 10000;
	signal(SIGSEGV, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGALRM, on_signal);
	if (setup())
		return 2;
	if (!structural && bpftime_verifier_ops__init(&vops, 2 /* kprobe */, 0) == 1)
		structural = true; /* BPFTIME_VERIFIER=structural */
	if (!structural) {
		runtime_proto = vops.helper_proto;
		runtime_ctx = vops.ctx;
		vops.helper_proto = helper_proto;
		vops.map_info = map_info;
		vops.ctx = NULL;
		/* verified as GPL whatever vgen's license: it does not change
		 * what a program may touch */
		vops.gpl_compatible = true;
	}
	printf("vsound: %s verifier, bounds-checked interpreter\n",
	       structural ? "structural (no memory-safety)" : "memory-safety");
	t0 = now_s();
	for (uint64_t s = seed;; s++) {
		BPFTIME_OPTS(bpftime_vm_opts, o, .name = "vsound", .resolve_lddw = resolve_lddw,
			     .mem_check = mem_check, .bounds_check = true,
			     .verifier = structural ? NULL : &vops);
		struct bpftime_insn *insns;
		struct bpftime_vm *vm;
		struct vgen_prog p;
		uint64_t r0 = 0;
		size_t cnt;
		int err;

		if (count >= 0 ? total >= count : (total % 64 == 0 && now_s() - t0 >= seconds))
			break;
		total++;
		cur_seed = s;
		if (vgen_generate(s, &go, &p))
			return 2;
		vm = bpftime_vm__new(&o);
		if (!vm || bpftime_helpers__register(vm))
			return 2;
		bpftime_vm__register_helper(vm, VSOUND_HELPER_FP, "vsound_fp", h_fp);
		for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++) {
			real[wrappers[i].id] = bpftime_vm__helper(vm, wrappers[i].id);
			if (real[wrappers[i].id])
				bpftime_vm__register_helper(vm, wrappers[i].id, wrappers[i].name,
							    wrappers[i].fn);
		}
		insns = with_fp_probe(&p, &cnt);
		if (!insns)
			return 2;
		err = bpftime_vm__load(vm, insns, cnt);
		free(insns);
		if (err || bpftime_vm__compile(vm, BPFTIME_ENGINE_INTERP)) {
			refused++;
			goto next;
		}
		accepted++;
		for (size_t i = 0; i < CTX_SIZE; i++)
			ctx[i] = (uint8_t)(s * 131 + i * 7);
		nregions = 0;
		cur_fp = 0;
		fault_msg[0] = 0;
		add_direct_regions();
		alarm(HANG_S);
		in_run = 1;
		err = bpftime_vm__run(vm, ctx, CTX_SIZE, &r0);
		in_run = 0;
		alarm(0);
		ran++;
		if (!err && nregions > 0) {
			for (int i = 0; i < nregions; i++)
				if (regions[i].ringbuf)
					fault("ring buffer record 0x%llx never submitted",
					      (unsigned long long)regions[i].lo);
		}
		if (err || fault_msg[0]) {
			faults++;
			printf("FAULT seed %llu: %s\n", (unsigned long long)s,
			       fault_msg[0] ? fault_msg : bpftime_vm__last_error(vm));
			fflush(stdout);
			bpftime_vm__disasm(vm, stdout);
			fflush(stdout);
		}
	next:
		bpftime_vm__free(vm);
		vgen_free(&p);
	}
	t0 = now_s() - t0;
	printf("%ld programs in %.1f s (%.0f programs/s): %ld accepted and ran, %ld refused; "
	       "faults: %ld\n",
	       total, t0, t0 > 0 ? (double)total / t0 : 0.0, ran, refused, faults);
	(void)accepted;
	bpftime_shm__remove(bpftime_shm__name(shm));
	bpftime_shm__close(shm);
	return faults ? 1 : 0;
}
