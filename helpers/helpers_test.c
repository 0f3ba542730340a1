/* SPDX-License-Identifier: MIT */
/* helpers/helpers_test.c: the helpers against the kernel's documented
 * semantics, and the runtime glue (programs stored in a private segment,
 * built into VMs, lddw resolution, tail calls, engines).
 *
 * Programs are written with the kernel's instruction macros and stored with
 * bpftime_prog_create(); helpers are called by the programs, except for
 * edge cases of one helper, which call the registered function directly. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "common/testkit.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <bpftime/log.h>
#include <bpftime/map.h>
#include <bpftime/runtime.h>
#include <bpftime/shm.h>
#include "vm/test_insn.h"
#include "common/compiler.h"

struct fixture {
	char name[64];
	struct bpftime_shm *shm;
	struct bpftime_runtime *rt;
	struct bpftime_vm *direct; /* a VM with the helpers, for direct calls */
};

static struct fixture *F;

static int setup(void **state)
{
	static int n;
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->name, sizeof(f->name), "bpftime_helpers_test_%d_%d", getpid(), n++);
	bpftime_shm__remove(f->name);
	BPFTIME_OPTS(bpftime_shm_opts, o, .name = f->name, .size_mb = 8, .max_fd = 256);
	f->shm = bpftime_shm__create(&o);
	assert_non_null(f->shm);
	f->rt = bpftime_runtime__new(f->shm, NULL);
	assert_non_null(f->rt);
	f->direct = bpftime_vm__new(NULL);
	assert_int_equal(bpftime_helpers__register(f->direct), 0);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	bpftime_vm__free(f->direct);
	bpftime_runtime__free(f->rt);
	bpftime_shm__close(f->shm);
	bpftime_shm__remove(f->name);
	free(f);
	return 0;
}

#define P(x) ((uint64_t)(uintptr_t)(x))

/* calls helper @id as a program would */
static uint64_t call(uint32_t id, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	bpftime_helper_fn fn = bpftime_vm__helper(F->direct, id);

	assert_non_null(fn);
	return fn(r1, r2, r3, r4, r5);
}

static int add_prog(const struct bpftime_insn *insns, size_t cnt, int fd)
{
	int ret = bpftime_prog_create(F->shm, fd, 0, "test", insns, cnt, NULL);

	assert_true(ret >= 0);
	return ret;
}

static uint64_t run_fd(int fd, void *mem, size_t len)
{
	uint64_t r0 = 0;

	assert_int_equal(bpftime_runtime__run(F->rt, fd, mem, len, &r0), 0);
	return r0;
}

/* the message part of the next trace line, or NULL */
static const char *next_trace(uint64_t *pos)
{
	static char buf[2048];
	const char *tag = ": bpf_trace_printk: ";
	char *p;

	if (bpftime_trace__read(F->shm, pos, buf, sizeof(buf)) < 0)
		return NULL;
	p = strstr(buf, tag);
	assert_non_null(p);
	return p + strlen(tag);
}

/* ---- probe_read family ------------------------------------------------ */

static void test_probe_read(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *pages =
		mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char dst[16], src[16] = "abcdefghijklmno";
	static const uint32_t ids[] = { 4, 112, 113 };

	UNUSED(state);
	assert_true(pages != MAP_FAILED);
	assert_int_equal(mprotect(pages + ps, ps, PROT_NONE), 0);
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		memset(dst, 'x', sizeof(dst));
		assert_int_equal(call(ids[i], P(dst), 8, P(src), 0, 0), 0);
		assert_memory_equal(dst, "abcdefgh", 8);
		assert_int_equal(dst[8], 'x');
		/* a bad address: -EFAULT and the destination zeroed, no crash */
		memset(dst, 'x', sizeof(dst));
		assert_int_equal((int64_t)call(ids[i], P(dst), 8, 0, 0, 0), -EFAULT);
		assert_memory_equal(dst, "\0\0\0\0\0\0\0\0", 8);
		memset(dst, 'x', sizeof(dst));
		assert_int_equal((int64_t)call(ids[i], P(dst), 8, P(pages + ps), 0, 0), -EFAULT);
		assert_memory_equal(dst, "\0\0\0\0\0\0\0\0", 8);
		/* straddling into the protected page fails as a whole */
		assert_int_equal((int64_t)call(ids[i], P(dst), 8, P(pages + ps - 4), 0, 0),
				 -EFAULT);
		assert_int_equal((int64_t)call(ids[i], P(dst), 4, P(pages + ps - 4), 0, 0), 0);
	}
	munmap(pages, 2 * ps);
}

/* a thread whose stack ends at a PROT_NONE page: reads within the stack
 * take the direct path, a read crossing its top still fails cleanly */
struct stack_read {
	char *top;
	int64_t in, across, caller;
};

static void *stack_reader(void *arg)
{
	struct stack_read *r = arg;
	char mine[16] = "on my stack";
	char dst[16];

	r->in = (int64_t)call(112, P(dst), 4, P(r->top - 4), 0, 0);
	r->across = (int64_t)call(112, P(dst), 8, P(r->top - 4), 0, 0);
	r->caller = (int64_t)call(112, P(dst), sizeof(mine), P(mine), 0, 0);
	if (r->caller == 0 && memcmp(dst, mine, sizeof(mine)))
		r->caller = 1;
	return NULL;
}

static void test_probe_read_stack(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t len = 64 * 1024;
	char *mem = mmap(NULL, len + (size_t)ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct stack_read r;
	pthread_attr_t attr;
	pthread_t t;

	UNUSED(state);
	assert_true(mem != MAP_FAILED);
	assert_int_equal(mprotect(mem + len, (size_t)ps, PROT_NONE), 0);
	r.top = mem + len;
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstack(&attr, mem, len), 0);
	assert_int_equal(pthread_create(&t, &attr, stack_reader, &r), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	assert_int_equal(r.in, 0);
	assert_int_equal(r.across, -EFAULT);
	assert_int_equal(r.caller, 0);
	munmap(mem, len + (size_t)ps);
}

/* A coroutine on another stack (swapcontext) of the same thread: the
 * direct copy is for the thread's own stack only.  One block: [the
 * coroutine's stack][a PROT_NONE hole][the thread's stack, its thread block
 * at the top].  The thread reads first (its bounds found), then the
 * coroutine reads the hole, which lies between its frame and the thread's
 * stack top: -EFAULT through the kernel, not SIGSEGV by a direct copy. */
struct co_read {
	char *hole;
	int64_t first, hole_read, own;
	ucontext_t main_ctx, co_ctx;
};

static struct co_read *co;

static void co_body(void)
{
	char mine[8] = "co";
	char dst[8];

	co->hole_read = (int64_t)call(112, P(dst), 8, P(co->hole + 64), 0, 0);
	co->own = (int64_t)call(112, P(dst), sizeof(mine), P(mine), 0, 0);
	if (co->own == 0 && memcmp(dst, mine, sizeof(mine)))
		co->own = 1;
}

static void *co_thread(void *arg)
{
	char here[8] = "thread", dst[8];

	co = arg;
	co->first = (int64_t)call(112, P(dst), sizeof(here), P(here), 0, 0);
	if (swapcontext(&co->main_ctx, &co->co_ctx))
		co->first = -1;
	return NULL;
}

static void test_probe_read_coroutine(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t co_len = 64 * 1024, th_len = 256 * 1024, len = co_len + (size_t)ps + th_len;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct co_read r = { 0 };
	pthread_attr_t attr;
	pthread_t t;

	UNUSED(state);
	assert_true(mem != MAP_FAILED);
	r.hole = mem + co_len;
	assert_int_equal(mprotect(r.hole, (size_t)ps, PROT_NONE), 0);
	assert_int_equal(getcontext(&r.co_ctx), 0);
	r.co_ctx.uc_stack.ss_sp = mem;
	r.co_ctx.uc_stack.ss_size = co_len;
	r.co_ctx.uc_link = &r.main_ctx;
	makecontext(&r.co_ctx, co_body, 0);
	r.hole_read = r.own = 99;
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstack(&attr, r.hole + ps, th_len), 0);
	assert_int_equal(pthread_create(&t, &attr, co_thread, &r), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_attr_destroy(&attr);
	assert_int_equal(r.first, 0);
	assert_int_equal(r.hole_read, -EFAULT);
	assert_int_equal(r.own, 0);
	munmap(mem, len);
}

static void test_probe_read_str(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *pages =
		mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static const uint32_t ids[] = { 45, 114, 115 };
	char dst[16];

	UNUSED(state);
	assert_true(pages != MAP_FAILED);
	assert_int_equal(mprotect(pages + ps, ps, PROT_NONE), 0);
	/* a string that ends right before the protected page */
	memcpy(pages + ps - 4, "xyz", 4);
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		/* the length copied including the NUL */
		memset(dst, 'x', sizeof(dst));
		assert_int_equal(call(ids[i], P(dst), sizeof(dst), P("hello"), 0, 0), 6);
		assert_string_equal(dst, "hello");
		/* truncated: size - 1 bytes and a NUL, returns size */
		assert_int_equal(call(ids[i], P(dst), 4, P("hello"), 0, 0), 4);
		assert_string_equal(dst, "hel");
		assert_int_equal(call(ids[i], P(dst), 1, P("hello"), 0, 0), 1);
		assert_int_equal(dst[0], 0);
		assert_int_equal(call(ids[i], P(dst), 0, P("hello"), 0, 0), 0);
		assert_int_equal(call(ids[i], P(dst), sizeof(dst), P(""), 0, 0), 1);
		/* near the fault */
		assert_int_equal(call(ids[i], P(dst), sizeof(dst), P(pages + ps - 4), 0, 0), 4);
		assert_string_equal(dst, "xyz");
		memset(dst, 'x', sizeof(dst));
		assert_int_equal((int64_t)call(ids[i], P(dst), sizeof(dst), P(pages + ps), 0, 0),
				 -EFAULT);
		for (size_t j = 0; j < sizeof(dst); j++)
			assert_int_equal(dst[j], 0);
		assert_int_equal((int64_t)call(ids[i], P(dst), sizeof(dst), 8, 0, 0), -EFAULT);
	}
	/* unterminated before the protected page: a fault before the NUL */
	memset(pages + ps - 4, 'a', 4);
	assert_int_equal((int64_t)call(45, P(dst), sizeof(dst), P(pages + ps - 4), 0, 0), -EFAULT);
	munmap(pages, 2 * ps);
}

static void test_probe_write_user(void **state)
{
	char buf[8] = "aaaaaaa";
	long ps = sysconf(_SC_PAGESIZE);
	char *ro = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	UNUSED(state);
	assert_int_equal(call(36, P(buf), P("bcd"), 3, 0, 0), 0);
	assert_string_equal(buf, "bcdaaaa");
	assert_int_equal((int64_t)call(36, P(ro), P("bcd"), 3, 0, 0), -EFAULT);
	assert_int_equal(ro[0], 0);
	assert_int_equal((int64_t)call(36, 16, P("bcd"), 3, 0, 0), -EFAULT);
	munmap(ro, ps);
}

/* ---- time and task ---------------------------------------------------- */

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void test_time(void **state)
{
	uint64_t a, t, b;

	UNUSED(state);
	a = now_ns(CLOCK_MONOTONIC);
	t = call(5, 0, 0, 0, 0, 0);
	b = now_ns(CLOCK_MONOTONIC);
	assert_true(a <= t && t <= b);
	a = now_ns(CLOCK_BOOTTIME);
	t = call(125, 0, 0, 0, 0, 0);
	b = now_ns(CLOCK_BOOTTIME);
	assert_true(a <= t && t <= b);
	a = now_ns(CLOCK_MONOTONIC_COARSE);
	t = call(160, 0, 0, 0, 0, 0);
	b = now_ns(CLOCK_MONOTONIC_COARSE);
	assert_true(a <= t && t <= b);
}

static void test_task(void **state)
{
	char comm[16], old[16] = { 0 }, small[4];
	uint64_t pt, r[8];
	bool differ = false;
	int status;
	pid_t pid;

	UNUSED(state);
	pt = call(14, 0, 0, 0, 0, 0);
	assert_int_equal(pt >> 32, getpid());
	assert_int_equal((uint32_t)pt, gettid());
	assert_int_equal(call(15, 0, 0, 0, 0, 0), (uint64_t)getgid() << 32 | getuid());
	assert_true(call(8, 0, 0, 0, 0, 0) < (uint64_t)bpftime_num_possible_cpus());

	prctl(PR_GET_NAME, old, 0, 0, 0);
	prctl(PR_SET_NAME, "helper-comm", 0, 0, 0);
	memset(comm, 'x', sizeof(comm));
	assert_int_equal(call(16, P(comm), sizeof(comm), 0, 0, 0), 0);
	assert_string_equal(comm, "helper-comm");
	assert_int_equal(comm[15], 0);
	assert_int_equal(call(16, P(small), sizeof(small), 0, 0, 0), 0);
	assert_string_equal(small, "hel");
	prctl(PR_SET_NAME, old, 0, 0, 0);

	for (int i = 0; i < 8; i++) {
		r[i] = call(7, 0, 0, 0, 0, 0);
		assert_true(r[i] <= UINT32_MAX);
		differ |= i && r[i] != r[0];
	}
	assert_true(differ);

	/* after fork the child sees its own pid and tid, not the parent's cache */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		uint64_t c = call(14, 0, 0, 0, 0, 0);

		_exit(c >> 32 == (uint64_t)getpid() && (uint32_t)c == (uint32_t)gettid() && c != pt
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(call(14, 0, 0, 0, 0, 0), pt);
}

/* ---- printk, snprintf, strncmp ---------------------------------------- */

static long printk(const char *fmt, uint64_t a1, uint64_t a2, uint64_t a3)
{
	return (long)call(6, P(fmt), strlen(fmt) + 1, a1, a2, a3);
}

static void test_trace_printk(void **state)
{
	static const struct {
		const char *fmt;
		uint64_t a[3];
		const char *out;
	} cases[] = {
		{ "plain text", { 0 }, "plain text" },
		{ "%d %i %u", { (uint64_t)-1, 7, (uint64_t)-1 }, "-1 7 4294967295" },
		{ "%x %X", { 0xabcdef, 0xabcdef }, "abcdef ABCDEF" },
		{ "%ld %lu %lx",
		  { (uint64_t)-2, (uint64_t)-1, 0x1234567890ULL },
		  "-2 18446744073709551615 1234567890" },
		{ "%lld %llu %llx",
		  { (uint64_t)INT64_MIN, 42, 0xffffffffffffffffULL },
		  "-9223372036854775808 42 ffffffffffffffff" },
		{ "%d", { 0x100000005ULL }, "5" }, /* no modifier: 32 bits */
		{ "[%5d] [%-4d] [%05d]", { 42, 7, 42 }, "[   42] [7   ] [00042]" },
		{ "%c%c %%", { 'o', 'k' }, "ok %" },
		{ "%p", { 0x1234 }, "0000000000001234" },
		{ "%px %pK", { 0xdead, 0xbeef }, "000000000000dead 000000000000beef" },
		{ "%s|%s", { P("str"), 0 }, "str|" }, /* unreadable: empty */
		{ "%pI4 %pi4",
		  { P("\x7f\0\0\x01"), P("\x0a\x01\x02\x03") },
		  "127.0.0.1 010.001.002.003" },
		{ "line\n", { 0 }, "line" },
	};
	static const char *const bad[] = {
		"%d %d %d %d", "%f", "%.2d", "%n", "%hd", "%pZ", "bell\a", "%",
	};
	uint64_t pos = 0;
	const char *msg;

	UNUSED(state);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		long n = printk(cases[i].fmt, cases[i].a[0], cases[i].a[1], cases[i].a[2]);

		msg = next_trace(&pos);
		assert_non_null(msg);
		assert_string_equal(msg, cases[i].out);
		assert_true(n >= (long)strlen(cases[i].out));
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(printk(bad[i], 1, 2, 3), -EINVAL);
	/* the format must be NUL-terminated within its size */
	assert_int_equal((int64_t)call(6, P("abc"), 3, 0, 0, 0), -EINVAL);
	assert_null(next_trace(&pos)); /* errors print nothing */

	/* trace_vprintk: up to 12 arguments in an array */
	{
		uint64_t args[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
		const char *fmt = "%d %d %d %d %d %d %d %d %d %d %d %d";

		assert_true((int64_t)call(177, P(fmt), strlen(fmt) + 1, P(args), sizeof(args), 0) >
			    0);
		msg = next_trace(&pos);
		assert_string_equal(msg, "1 2 3 4 5 6 7 8 9 10 11 12");
		assert_int_equal((int64_t)call(177, P(fmt), strlen(fmt) + 1, P(args), 88, 0),
				 -EINVAL); /* 12 conversions, 11 arguments */
		assert_int_equal((int64_t)call(177, P(fmt), strlen(fmt) + 1, P(args), 12, 0),
				 -EINVAL); /* not a multiple of 8 */
		assert_int_equal((int64_t)call(177, P("%d"), 3, P(args), 13 * 8, 0), -EINVAL);
	}
}

static void test_snprintf_strncmp(void **state)
{
	uint64_t args[3] = { 12345, P("ab"), 'z' };
	char out[64], small[5];

	UNUSED(state);
	/* the size the whole output needs, including the NUL */
	assert_int_equal(call(165, P(out), sizeof(out), P("n=%d s=%s c=%c"), P(args), 24),
			 strlen("n=12345 s=ab c=z") + 1);
	assert_string_equal(out, "n=12345 s=ab c=z");
	assert_int_equal(call(165, P(small), sizeof(small), P("n=%d"), P(args), 8), 8);
	assert_string_equal(small, "n=12");
	assert_int_equal(call(165, 0, 0, P("%d"), P(args), 8), 6);
	assert_int_equal((int64_t)call(165, P(out), sizeof(out), P("%d %d"), P(args), 8), -EINVAL);
	assert_int_equal((int64_t)call(165, P(out), sizeof(out), P("%d"), P(args), 7), -EINVAL);
	assert_int_equal((int64_t)call(165, P(out), sizeof(out), P("%q"), P(args), 8), -EINVAL);

	assert_int_equal(call(182, P("abc"), 3, P("abc"), 0, 0), 0);
	assert_int_equal((int64_t)call(182, P("abc"), 3, P("abd"), 0, 0), -1);
	assert_int_equal(call(182, P("abd"), 3, P("abc"), 0, 0), 1);
	assert_int_equal(call(182, P("abcX"), 3, P("abcY"), 0, 0), 0);
	assert_int_equal(call(182, P("ab"), 3, P("abc"), 0, 0), (uint64_t)-1);
	assert_int_equal(call(182, P("\xff"), 1, P("a"), 0, 0), 1); /* unsigned compare */
}

/* the seed program (tools/bpftimetool/tests/minimal.json): builds
 * "target_func called.\n" on the stack and bpf_trace_printk()s it */
static const char seed_insns[] =
	"b701000065642e0a631af8ff0000000018010000756e63200000000063616c6c7b1af0ff00000000"
	"18010000746172670000000065745f667b1ae8ff00000000b701000000000000731afcff00000000"
	"bfa100000000000007010000e8ffffffb7020000150000008500000006000000b700000000000000"
	"9500000000000000";

static void test_printk_program(void **state)
{
	struct bpftime_insn prog[16];
	uint8_t *b = (uint8_t *)prog;
	uint64_t pos = 0;
	int fd;

	UNUSED(state);
	assert_int_equal(strlen(seed_insns), sizeof(prog) * 2);
	for (size_t i = 0; i < sizeof(prog); i++)
		assert_int_equal(sscanf(seed_insns + 2 * i, "%2hhx", &b[i]), 1);
	fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	assert_int_equal(run_fd(fd, NULL, 0), 0);
	assert_string_equal(next_trace(&pos), "target_func called.");
	assert_null(next_trace(&pos));
}

/* ---- maps, lddw resolution, callbacks --------------------------------- */

static void test_map_helpers_and_value_lddw(void **state)
{
	int arr = bpftime_map_create(F->shm, -1, BPFTIME_MAP_ARRAY, ".rodata", 4, 8, 1, NULL);
	int hash = bpftime_map_create(F->shm, -1, BPFTIME_MAP_HASH, "h", 4, 8, 16, NULL);
	uint32_t k = 0;
	uint64_t v = 0x4847464544434241ULL, out;
	/* r0 = byte 3 of .rodata (lddw map value + 3) + hash[7] (updated by the
	 * program to 100, looked up again) */
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_VALUE(6, arr, 3),
		BPF_LDX_MEM(BPF_B, 6, 6, 0),
		BPF_ST_MEM(BPF_W, 10, -4, 7),	  /* key 7 */
		BPF_ST_MEM(BPF_DW, 10, -16, 100), /* value 100 */
		BPF_LD_MAP_FD(1, hash),
		BPF_MOV64_REG(2, 10),
		BPF_ALU64_IMM(BPF_ADD, 2, -4),
		BPF_MOV64_REG(3, 10),
		BPF_ALU64_IMM(BPF_ADD, 3, -16),
		BPF_MOV64_IMM(4, BPFTIME_NOEXIST),
		BPF_CALL_HELPER(2),
		BPF_JMP_IMM(BPF_JNE, 0, 0, 8),
		BPF_LD_MAP_FD(1, hash),
		BPF_MOV64_REG(2, 10),
		BPF_ALU64_IMM(BPF_ADD, 2, -4),
		BPF_CALL_HELPER(1),
		BPF_JMP_IMM(BPF_JEQ, 0, 0, 2),
		BPF_LDX_MEM(BPF_DW, 0, 0, 0),
		BPF_ALU64_REG(BPF_ADD, 0, 6),
		BPF_EXIT_INSN(),
	};
	int fd;

	UNUSED(state);
	assert_true(arr >= 0 && hash >= 0);
	assert_int_equal(bpftime_map_update_elem(F->shm, arr, &k, &v, 0), 0);
	fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	assert_int_equal(run_fd(fd, NULL, 0), 100 + 'D');
	k = 7;
	assert_int_equal(bpftime_map_lookup_elem(F->shm, hash, &k, &out, 0), 0);
	assert_int_equal(out, 100);
	/* second run: NOEXIST fails, the program returns that error */
	assert_int_equal((int64_t)run_fd(fd, NULL, 0), -EEXIST);

	/* direct calls: delete, then lookup misses */
	{
		struct bpftime_map *h = bpftime_map_get_handle(F->shm, hash);

		assert_int_equal(call(3, P(h), P(&k), 0, 0, 0), 0);
		assert_int_equal((int64_t)call(3, P(h), P(&k), 0, 0, 0), -ENOENT);
		assert_int_equal(call(1, P(h), P(&k), 0, 0, 0), 0);
	}
}

static void test_value_lddw_errors(void **state)
{
	int hash = bpftime_map_create(F->shm, -1, BPFTIME_MAP_HASH, "h", 4, 8, 16, NULL);
	int arr = bpftime_map_create(F->shm, -1, BPFTIME_MAP_ARRAY, "a", 4, 8, 1, NULL);
	const struct bpftime_insn on_hash[] = {
		BPF_LD_MAP_VALUE(0, hash, 0),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn past_end[] = {
		BPF_LD_MAP_VALUE(0, arr, 8),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn no_map[] = {
		BPF_LD_MAP_FD(0, 200),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn idx[] = {
		BPF_LD_IMM64_RAW(0, BPFTIME_PSEUDO_MAP_IDX, 0, 0),
		BPF_EXIT_INSN(),
	};
	int fd;

	UNUSED(state);
	fd = add_prog(on_hash, ARRAY_SIZE(on_hash), -1);
	assert_null(bpftime_runtime__prog(F->rt, fd));
	assert_int_equal(errno, EINVAL);
	fd = add_prog(past_end, ARRAY_SIZE(past_end), -1);
	assert_null(bpftime_runtime__prog(F->rt, fd));
	/* a program naming no map is refused when stored, as PROG_LOAD does */
	assert_int_equal(
		bpftime_prog_create(F->shm, -1, 0, "test", no_map, ARRAY_SIZE(no_map), NULL),
		-EBADF);
	/* MAP_IDX needs the loader's fd_array */
	fd = add_prog(idx, ARRAY_SIZE(idx), -1);
	assert_null(bpftime_runtime__prog(F->rt, fd));
	{
		int fds[2] = { hash, arr };
		BPFTIME_OPTS(bpftime_runtime_opts, o, .fd_array = fds, .fd_array_cnt = 2);
		struct bpftime_runtime *rt = bpftime_runtime__new(F->shm, &o);
		uint64_t r0;

		assert_non_null(rt);
		assert_int_equal(bpftime_runtime__run(rt, fd, NULL, 0, &r0), 0);
		assert_int_equal(r0, P(bpftime_map_get_handle(F->shm, hash)));
		bpftime_runtime__free(rt);
	}
	assert_null(bpftime_runtime__prog(F->rt, 250)); /* empty slot */
	assert_int_equal(errno, EBADF);
	assert_null(bpftime_runtime__prog(F->rt, hash)); /* not a program */
	assert_int_equal(errno, EBADF);
}

static void test_loop_and_for_each(void **state)
{
	int hash = bpftime_map_create(F->shm, -1, BPFTIME_MAP_HASH, "h", 4, 8, 16, NULL);
	/* main: ctx = 0 on the stack; r0 = bpf_loop(10, cb, &ctx, 0) * 1000 + ctx,
	 * cb adds the index and stops at index 6 (returns 1) */
	const struct bpftime_insn loop_prog[] = {
		BPF_ST_MEM(BPF_DW, 10, -8, 0),
		BPF_MOV64_IMM(1, 10),
		BPF_LD_FUNC(2, 9),
		BPF_MOV64_REG(3, 10),
		BPF_ALU64_IMM(BPF_ADD, 3, -8),
		BPF_MOV64_IMM(4, 0),
		BPF_CALL_HELPER(181),
		BPF_ALU64_IMM(BPF_MUL, 0, 1000),
		BPF_LDX_MEM(BPF_DW, 1, 10, -8),
		BPF_ALU64_REG(BPF_ADD, 0, 1),
		BPF_EXIT_INSN(),
		/* cb(index r1, ctx r2) */
		BPF_LDX_MEM(BPF_DW, 3, 2, 0),
		BPF_ALU64_REG(BPF_ADD, 3, 1),
		BPF_STX_MEM(BPF_DW, 2, 3, 0),
		BPF_MOV64_IMM(0, 0),
		BPF_JMP_IMM(BPF_JNE, 1, 6, 1),
		BPF_MOV64_IMM(0, 1),
		BPF_EXIT_INSN(),
	};
	/* main: r0 = for_each(hash, cb, &sum, 0) * 1000 + sum of values;
	 * cb(map, key, value, ctx) adds *value to *ctx */
	const struct bpftime_insn each_prog[] = {
		BPF_ST_MEM(BPF_DW, 10, -8, 0),
		BPF_LD_MAP_FD(1, hash),
		BPF_LD_FUNC(2, 9),
		BPF_MOV64_REG(3, 10),
		BPF_ALU64_IMM(BPF_ADD, 3, -8),
		BPF_MOV64_IMM(4, 0),
		BPF_CALL_HELPER(164),
		BPF_ALU64_IMM(BPF_MUL, 0, 1000),
		BPF_LDX_MEM(BPF_DW, 1, 10, -8),
		BPF_ALU64_REG(BPF_ADD, 0, 1),
		BPF_EXIT_INSN(),
		BPF_LDX_MEM(BPF_DW, 5, 4, 0),
		BPF_LDX_MEM(BPF_DW, 0, 3, 0),
		BPF_ALU64_REG(BPF_ADD, 5, 0),
		BPF_STX_MEM(BPF_DW, 4, 5, 0),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};
	static const enum bpftime_engine engines[] = { BPFTIME_ENGINE_INTERP, BPFTIME_ENGINE_JIT };
	int lfd, efd;

	UNUSED(state);
	for (uint32_t k = 1; k <= 3; k++) {
		uint64_t v = k * 10;

		assert_int_equal(bpftime_map_update_elem(F->shm, hash, &k, &v, 0), 0);
	}
	lfd = add_prog(loop_prog, ARRAY_SIZE(loop_prog), -1);
	efd = add_prog(each_prog, ARRAY_SIZE(each_prog), -1);
	for (size_t i = 0; i < ARRAY_SIZE(engines); i++) {
		BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = engines[i], .engine_set = true,
			     .no_fallback = true);
		struct bpftime_runtime *rt = bpftime_runtime__new(F->shm, &o);
		uint64_t r0;

		assert_non_null(rt);
		assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(rt, lfd)), engines[i]);
		assert_int_equal(bpftime_runtime__run(rt, lfd, NULL, 0, &r0), 0);
		assert_int_equal(r0, 7 * 1000 + 21); /* 0+1+..+6, stopped after 7 calls */
		assert_int_equal(bpftime_runtime__run(rt, efd, NULL, 0, &r0), 0);
		assert_int_equal(r0, 3 * 1000 + 60);
		bpftime_runtime__free(rt);
	}
	/* bpf_loop: flags must be 0, at most 1 << 23 iterations */
	assert_int_equal((int64_t)call(181, 1, 0, 0, 1, 0), -EINVAL);
	assert_int_equal((int64_t)call(181, (1 << 23) + 1, 0, 0, 0, 0), -E2BIG);
}

/* ---- tail calls ------------------------------------------------------- */

static void test_tail_calls(void **state)
{
	int pa = bpftime_map_create(F->shm, -1, BPFTIME_MAP_PROG_ARRAY, "jmp", 4, 4, 4, NULL);
	int cnt = bpftime_map_create(F->shm, -1, BPFTIME_MAP_ARRAY, "cnt", 4, 8, 1, NULL);
	/* counts its runs in cnt[0], then tail-calls jmp[*(u32 *)ctx]; falls
	 * through to r0 = 1000 + count when the call fails */
	const struct bpftime_insn self[] = {
		BPF_MOV64_REG(6, 1),
		BPF_LD_MAP_VALUE(7, cnt, 0),
		BPF_LDX_MEM(BPF_DW, 8, 7, 0),
		BPF_ALU64_IMM(BPF_ADD, 8, 1),
		BPF_STX_MEM(BPF_DW, 7, 8, 0),
		BPF_MOV64_REG(1, 6),
		BPF_LD_MAP_FD(2, pa),
		BPF_LDX_MEM(BPF_W, 3, 6, 0),
		BPF_CALL_HELPER(12),
		BPF_MOV64_REG(0, 8),
		BPF_ALU64_IMM(BPF_ADD, 0, 1000),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn target[] = {
		BPF_LDX_MEM(BPF_W, 0, 1, 4), /* the ctx arrives unchanged */
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn other[] = {
		BPF_MOV64_IMM(0, 77),
		BPF_EXIT_INSN(),
	};
	uint32_t ctx[2], k = 0;
	uint64_t zero = 0, got;
	int sfd, tfd, ofd, idx;

	UNUSED(state);
	sfd = add_prog(self, ARRAY_SIZE(self), -1);
	tfd = add_prog(target, ARRAY_SIZE(target), -1);
	/* index 0: itself (a chain), 1: target, 2: empty */
	idx = 0;
	assert_int_equal(bpftime_map_update_elem(F->shm, pa, &idx, &sfd, 0), 0);
	idx = 1;
	assert_int_equal(bpftime_map_update_elem(F->shm, pa, &idx, &tfd, 0), 0);

	ctx[0] = 1;
	ctx[1] = 4242;
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 4242);

	/* the kernel's limit: 33 tail calls, so 34 runs, then it falls through */
	assert_int_equal(bpftime_map_update_elem(F->shm, cnt, &k, &zero, 0), 0);
	ctx[0] = 0;
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 1000 + 34);
	assert_int_equal(bpftime_map_lookup_elem(F->shm, cnt, &k, &got, 0), 0);
	assert_int_equal(got, 34);
	/* the count is per run */
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 1000 + 68);

	/* an empty slot and an index beyond the array: the caller continues */
	ctx[0] = 2;
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 1000 + 69);
	ctx[0] = 9;
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 1000 + 70);

	/* the target's fd is reused for another program: the array still holds
	 * the old program (a reference), the fd now names the new one */
	assert_int_equal(bpftime_handler_close(F->shm, tfd), 0);
	ofd = add_prog(other, ARRAY_SIZE(other), tfd);
	assert_int_equal(ofd, tfd);
	assert_int_equal(run_fd(ofd, NULL, 0), 77);
	ctx[0] = 1;
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 4242);
	idx = 1;
	assert_int_equal(bpftime_map_update_elem(F->shm, pa, &idx, &ofd, 0), 0);
	assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 77);

	/* a target nothing but the array holds (its loader closed its fd, or
	 * died: seed 004's pinned tail-call table), never built here before */
	{
		const struct bpftime_insn only[] = { BPF_MOV64_IMM(0, 55), BPF_EXIT_INSN() };
		int lfd = add_prog(only, ARRAY_SIZE(only), -1);

		idx = 3;
		assert_int_equal(bpftime_map_update_elem(F->shm, pa, &idx, &lfd, 0), 0);
		assert_int_equal(bpftime_handler_close(F->shm, lfd), 0);
		ctx[0] = 3;
		assert_int_equal(run_fd(sfd, ctx, sizeof(ctx)), 55);
	}
}

/* several threads build and run the same programs at once: one VM per
 * program, every tail call resolved, every result right */
struct race {
	int fd;
	uint32_t ctx[2];
	struct bpftime_vm *seen;
	int bad;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 2000; i++) {
		struct bpftime_vm *vm = bpftime_runtime__prog(F->rt, r->fd);
		uint64_t r0 = 0;

		if (!vm || (r->seen && vm != r->seen))
			r->bad++;
		r->seen = vm;
		if (bpftime_vm__run(vm, r->ctx, sizeof(r->ctx), &r0) || r0 != r->ctx[1])
			r->bad++;
	}
	return NULL;
}

static void test_runtime_threads(void **state)
{
	int pa = bpftime_map_create(F->shm, -1, BPFTIME_MAP_PROG_ARRAY, "jmp", 4, 4, 4, NULL);
	const struct bpftime_insn entry[] = {
		BPF_LD_MAP_FD(2, pa), BPF_LDX_MEM(BPF_W, 3, 1, 0),
		BPF_CALL_HELPER(12),  BPF_MOV64_IMM(0, -1),
		BPF_EXIT_INSN(),
	};
	const struct bpftime_insn target[] = {
		BPF_LDX_MEM(BPF_W, 0, 1, 4),
		BPF_EXIT_INSN(),
	};
	struct race r[4];
	pthread_t t[4];
	int efd, tfd[2];

	UNUSED(state);
	efd = add_prog(entry, ARRAY_SIZE(entry), -1);
	for (int i = 0; i < 2; i++) {
		tfd[i] = add_prog(target, ARRAY_SIZE(target), -1);
		assert_int_equal(bpftime_map_update_elem(F->shm, pa, &i, &tfd[i], 0), 0);
	}
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){ .fd = efd, .ctx = { (uint32_t)i % 2, 100u + (uint32_t)i } };
		assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
		assert_ptr_equal(r[i].seen, r[0].seen);
	}
}

/* ---- ring buffer, stacks, perf ---------------------------------------- */

static void test_ringbuf(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	int rb = bpftime_map_create(F->shm, -1, BPFTIME_MAP_RINGBUF, "rb", 0, 0, 4096, NULL);
	/* reserve 16 bytes, fill, submit; reserve and discard; output 4 bytes */
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_FD(1, rb),
		BPF_MOV64_IMM(2, 16),
		BPF_MOV64_IMM(3, 0),
		BPF_CALL_HELPER(131),
		BPF_JMP_IMM(BPF_JEQ, 0, 0, 23),
		BPF_ST_MEM(BPF_DW, 0, 0, 0x1111),
		BPF_ST_MEM(BPF_DW, 0, 8, 0x2222),
		BPF_MOV64_REG(1, 0),
		BPF_MOV64_IMM(2, 0),
		BPF_CALL_HELPER(132),
		BPF_LD_MAP_FD(1, rb),
		BPF_MOV64_IMM(2, 8),
		BPF_MOV64_IMM(3, 0),
		BPF_CALL_HELPER(131),
		BPF_JMP_IMM(BPF_JEQ, 0, 0, 12),
		BPF_MOV64_REG(1, 0),
		BPF_MOV64_IMM(2, 0),
		BPF_CALL_HELPER(133),
		BPF_ST_MEM(BPF_W, 10, -4, 0x33333333),
		BPF_LD_MAP_FD(1, rb),
		BPF_MOV64_REG(2, 10),
		BPF_ALU64_IMM(BPF_ADD, 2, -4),
		BPF_MOV64_IMM(3, 4),
		BPF_MOV64_IMM(4, 0),
		BPF_CALL_HELPER(130),
		BPF_EXIT_INSN(),
		BPF_MOV64_IMM(0, -1),
		BPF_EXIT_INSN(),
	};
	uint64_t off, cons, prod;
	size_t len;
	char *m;
	int fd;

	UNUSED(state);
	assert_true(rb >= 0);
	fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	assert_int_equal(run_fd(fd, NULL, 0), 0);
	assert_int_equal(
		call(134, P(bpftime_map_get_handle(F->shm, rb)), BPFTIME_RB_AVAIL_DATA, 0, 0, 0),
		(8 + 16) + (8 + 8) + (8 + 8)); /* 8-aligned records */

	/* consume as libbpf does: consumer page, producer page, data */
	assert_int_equal(bpftime_map_mmap_region(F->shm, rb, &off, &len), 0);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bpftime_shm__fd(F->shm),
		 (off_t)off);
	assert_true(m != MAP_FAILED);
	cons = *(uint64_t *)m;
	prod = *(uint64_t *)(m + ps);
	assert_int_equal(prod - cons, 56);
	{
		const char *data = m + 2 * ps;
		uint32_t hdr;

		memcpy(&hdr, data, 4);
		assert_int_equal(hdr, 16);
		assert_int_equal(*(const uint64_t *)(data + 8), 0x1111);
		assert_int_equal(*(const uint64_t *)(data + 16), 0x2222);
		memcpy(&hdr, data + 24, 4);
		assert_int_equal(hdr, BPFTIME_RINGBUF_DISCARD_BIT | 8);
		memcpy(&hdr, data + 40, 4);
		assert_int_equal(hdr, 4);
		assert_int_equal(*(const uint32_t *)(data + 48), 0x33333333);
	}
	munmap(m, len);
}

static void test_stack(void **state)
{
	int st = bpftime_map_create(F->shm, -1, BPFTIME_MAP_STACK_TRACE, "st", 4, 8 * 16, 64, NULL);
	uint64_t buf[8] = { 0 }, frames[8];
	uint64_t regs[21] = { 0 };
	struct bpftime_helper_ctx hc = { .regs = regs };
	int64_t id, n;

	UNUSED(state);
	assert_true(st >= 0);
	/* the calling thread's own stack */
	n = (int64_t)call(67, 0, P(buf), sizeof(buf), BPFTIME_F_USER_STACK, 0);
	assert_true(n > 0 && n % 8 == 0);
	assert_true(buf[0] != 0);
	/* no kernel stack in userspace; sizes must be multiples of 8 */
	assert_int_equal((int64_t)call(67, 0, P(buf), sizeof(buf), 0, 0), -EFAULT);
	assert_int_equal(buf[0], 0);
	assert_int_equal((int64_t)call(67, 0, P(buf), 12, BPFTIME_F_USER_STACK, 0), -EINVAL);
	assert_int_equal((int64_t)call(27, 0, P(bpftime_map_get_handle(F->shm, st)), 0, 0, 0),
			 -EFAULT);

	/* from a program on the JIT (no registers set): a non-empty stack, no crash */
	{
		const struct bpftime_insn prog[] = {
			BPF_MOV64_REG(2, 10), BPF_ALU64_IMM(BPF_ADD, 2, -64),
			BPF_MOV64_IMM(3, 64), BPF_MOV64_IMM(4, BPFTIME_F_USER_STACK),
			BPF_CALL_HELPER(67),  BPF_EXIT_INSN(),
		};
		int fd = add_prog(prog, ARRAY_SIZE(prog), -1);

		assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(F->rt, fd)),
				 BPFTIME_ENGINE_JIT);
		n = (int64_t)run_fd(fd, NULL, 0);
		assert_true(n > 0 && n % 8 == 0);
	}

	/* from registers: rip, then the frame-pointer chain */
	frames[0] = P(&frames[2]); /* saved rbp -> next frame */
	frames[1] = 0x401000;	   /* return address */
	frames[2] = 0;		   /* end of chain */
	frames[3] = 0x402000;
	regs[16] = 0x400000; /* rip */
	regs[4] = P(&frames[0]);
	bpftime_helper_ctx__swap(&hc);
	memset(buf, 0xff, sizeof(buf));
	n = (int64_t)call(67, 0, P(buf), sizeof(buf), BPFTIME_F_USER_STACK, 0);
	assert_int_equal(n, 24);
	assert_int_equal(buf[0], 0x400000);
	assert_int_equal(buf[1], 0x401000);
	assert_int_equal(buf[2], 0x402000);
	assert_int_equal(buf[3], 0);
	/* skip 1 */
	n = (int64_t)call(67, 0, P(buf), sizeof(buf), BPFTIME_F_USER_STACK | 1, 0);
	assert_int_equal(n, 16);
	assert_int_equal(buf[0], 0x401000);
	id = (int64_t)call(27, 0, P(bpftime_map_get_handle(F->shm, st)), BPFTIME_F_USER_STACK, 0,
			   0);
	assert_true(id >= 0);
	{
		uint64_t ips[16];
		uint32_t key = (uint32_t)id;

		assert_int_equal(bpftime_map_lookup_elem(F->shm, st, &key, ips, 0), 0);
		assert_int_equal(ips[0], 0x400000);
		assert_int_equal(ips[2], 0x402000);
		/* skipping the first frame stores the stack from the caller on */
		id = (int64_t)call(27, 0, P(bpftime_map_get_handle(F->shm, st)),
				   BPFTIME_F_USER_STACK | 1, 0, 0);
		assert_true(id >= 0);
		key = (uint32_t)id;
		assert_int_equal(bpftime_map_lookup_elem(F->shm, st, &key, ips, 0), 0);
		assert_int_equal(ips[0], 0x401000);
		assert_int_equal(ips[1], 0x402000);
		assert_int_equal(ips[2], 0);
		/* skipping all of it: nothing to store */
		assert_int_equal((int64_t)call(27, 0, P(bpftime_map_get_handle(F->shm, st)),
					       BPFTIME_F_USER_STACK | 3, 0, 0),
				 -EFAULT);
	}
	/* a bad frame pointer ends the walk, no crash */
	regs[4] = 8;
	n = (int64_t)call(67, 0, P(buf), sizeof(buf), BPFTIME_F_USER_STACK, 0);
	assert_int_equal(n, 8);
	bpftime_helper_ctx__swap(NULL);
}

static void test_perf_event_output_and_percpu(void **state)
{
	int pea = bpftime_map_create(F->shm, -1, BPFTIME_MAP_PERF_EVENT_ARRAY, "ev", 4, 4,
				     (uint32_t)bpftime_num_possible_cpus(), NULL);
	int pc = bpftime_map_create(F->shm, -1, BPFTIME_MAP_PERCPU_ARRAY, "pc", 4, 8, 1, NULL);
	int ncpu = bpftime_num_possible_cpus();
	uint64_t *vals = calloc((size_t)ncpu, 8);
	uint32_t k = 0;
	uint64_t data = 1;

	UNUSED(state);
	assert_true(pea >= 0 && pc >= 0);
	/* no event at that index */
	assert_int_equal((int64_t)call(25, 0, P(bpftime_map_get_handle(F->shm, pea)),
				       BPFTIME_F_CURRENT_CPU, P(&data), 8),
			 -ENOENT);
	/* a BPF output event with its ring at every CPU's index; a program
	 * sends 8 bytes to the current CPU's */
	{
		BPFTIME_OPTS(bpftime_perf_event_opts, eo, .type = BPFTIME_PERF_TYPE_SOFTWARE,
			     .pid = -1, .cpu = -1, .config = 10 /* PERF_COUNT_SW_BPF_OUTPUT */);
		const struct bpftime_insn prog[] = {
			BPF_LD_IMM64(6, 0x6867666564636261ULL),
			BPF_STX_MEM(BPF_DW, 10, 6, -8),
			BPF_LD_MAP_FD(2, pea),
			BPF_LD_IMM64(3, BPFTIME_F_CURRENT_CPU),
			BPF_MOV64_REG(4, 10),
			BPF_ALU64_IMM(BPF_ADD, 4, -8),
			BPF_MOV64_IMM(5, 8),
			BPF_CALL_HELPER(25),
			BPF_EXIT_INSN(),
		};
		long ps = sysconf(_SC_PAGESIZE);
		int efd = bpftime_perf_event_create(F->shm, -1, &eo), fd;
		uint64_t off;
		char *ring, *rec;
		uint32_t type, raw;

		assert_true(efd >= 0);
		assert_int_equal(bpftime_perf_event_mmap_ring(F->shm, efd, (size_t)ps * 2, &off),
				 0);
		for (uint32_t i = 0; i < (uint32_t)ncpu; i++)
			assert_int_equal(bpftime_map_update_elem(F->shm, pea, &i, &efd, 0), 0);
		fd = add_prog(prog, ARRAY_SIZE(prog), -1);
		assert_int_equal(run_fd(fd, NULL, 0), 0);
		ring = mmap(NULL, (size_t)ps * 2, PROT_READ, MAP_SHARED, bpftime_shm__fd(F->shm),
			    (off_t)off);
		assert_true(ring != MAP_FAILED);
		/* perf_event_mmap_page: data_head at 1024, data_offset at 1040 */
		assert_int_equal(*(uint64_t *)(void *)(ring + 1024), 24);
		rec = ring + *(uint64_t *)(void *)(ring + 1040);
		memcpy(&type, rec, 4);
		memcpy(&raw, rec + 8, 4);
		assert_int_equal(type, 9); /* PERF_RECORD_SAMPLE */
		assert_int_equal(raw, 12);
		assert_memory_equal(rec + 12, "abcdefgh", 8);
		munmap(ring, (size_t)ps * 2);
	}
	for (int i = 0; i < ncpu; i++)
		vals[i] = 100 + (uint64_t)i;
	assert_int_equal(bpftime_map_update_elem(F->shm, pc, &k, vals, 0), 0);
	for (int i = 0; i < ncpu; i++) {
		uint64_t *p = (uint64_t *)(uintptr_t)call(
			195, P(bpftime_map_get_handle(F->shm, pc)), P(&k), (uint64_t)i, 0, 0);

		assert_non_null(p);
		assert_int_equal(*p, 100 + (uint64_t)i);
	}
	assert_int_equal(
		call(195, P(bpftime_map_get_handle(F->shm, pc)), P(&k), (uint64_t)ncpu, 0, 0), 0);
	free(vals);
}

/* ---- queue/stack helpers ---------------------------------------------- */

static void test_push_pop_peek(void **state)
{
	int q = bpftime_map_create(F->shm, -1, BPFTIME_MAP_QUEUE, "q", 0, 8, 2, NULL);
	struct bpftime_map *h;
	uint64_t v = 5, out = 0;

	UNUSED(state);
	assert_true(q >= 0);
	h = bpftime_map_get_handle(F->shm, q);
	assert_int_equal(call(87, P(h), P(&v), 0, 0, 0), 0);
	v = 6;
	assert_int_equal(call(87, P(h), P(&v), 0, 0, 0), 0);
	assert_int_equal((int64_t)call(87, P(h), P(&v), 0, 0, 0), -E2BIG);
	assert_int_equal(call(89, P(h), P(&out), 0, 0, 0), 0);
	assert_int_equal(out, 5);
	assert_int_equal(call(88, P(h), P(&out), 0, 0, 0), 0);
	assert_int_equal(out, 5);
	assert_int_equal(call(88, P(h), P(&out), 0, 0, 0), 0);
	assert_int_equal(out, 6);
	assert_int_equal((int64_t)call(88, P(h), P(&out), 0, 0, 0), -ENOENT);
}

/* ---- engines ---------------------------------------------------------- */

/* bpf_spin_lock/unlock: two threads increment two counters of one array
 * value under the value's lock; no increment is lost and the lock word is
 * free afterwards.  Without the lock the read-modify-write races. */
struct spin_arg {
	int fd;
	int runs;
};

static void *spin_worker(void *p)
{
	struct spin_arg *a = p;

	for (int i = 0; i < a->runs; i++) {
		uint64_t r0 = 1;

		if (bpftime_runtime__run(F->rt, a->fd, NULL, 0, &r0) || r0 != 0)
			return (void *)1;
	}
	return NULL;
}

static void test_spin_lock(void **state)
{
	BPFTIME_OPTS(bpftime_map_create_opts, mopts, .spin_lock_off = 0, .has_spin_lock = true);
	int arr = bpftime_map_create(F->shm, -1, BPFTIME_MAP_ARRAY, "locked", 4, 24, 1, &mopts);
	const struct bpftime_insn prog[] = {
		BPF_ST_MEM(BPF_W, 10, -4, 0),
		BPF_LD_MAP_FD(1, arr),
		BPF_MOV64_REG(2, 10),
		BPF_ALU64_IMM(BPF_ADD, 2, -4),
		BPF_CALL_HELPER(1),
		BPF_JMP_IMM(BPF_JEQ, 0, 0, 12),
		BPF_MOV64_REG(6, 0),
		BPF_MOV64_REG(1, 6),
		BPF_CALL_HELPER(93),
		BPF_LDX_MEM(BPF_DW, 1, 6, 8),
		BPF_ALU64_IMM(BPF_ADD, 1, 1),
		BPF_STX_MEM(BPF_DW, 6, 1, 8),
		BPF_LDX_MEM(BPF_DW, 1, 6, 16),
		BPF_ALU64_IMM(BPF_ADD, 1, 1),
		BPF_STX_MEM(BPF_DW, 6, 1, 16),
		BPF_MOV64_REG(1, 6),
		BPF_CALL_HELPER(94),
		BPF_MOV64_IMM(0, 0),
		BPF_EXIT_INSN(),
	};
	struct spin_arg a = { .runs = 100000 };
	struct {
		uint32_t lock, pad;
		uint64_t a, b;
	} v;
	pthread_t th[2];
	void *res;
	uint32_t k = 0;

	UNUSED(state);
	assert_true(arr >= 0);
	a.fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spin_worker, &a), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	assert_int_equal(bpftime_map_lookup_elem(F->shm, arr, &k, &v, 0), 0);
	assert_int_equal(v.a, 2 * (uint64_t)a.runs);
	assert_int_equal(v.b, 2 * (uint64_t)a.runs);
	assert_int_equal(v.lock, 0);
}

static void test_engines(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 9),
		BPF_EXIT_INSN(),
	};
	struct bpftime_runtime *rt;
	int fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	uint64_t r0;

	UNUSED(state);
	assert_int_equal(bpftime_runtime__engine(F->rt), BPFTIME_ENGINE_JIT);
	assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(F->rt, fd)), BPFTIME_ENGINE_JIT);
	/* the cache: the same VM for the same fd */
	assert_ptr_equal(bpftime_runtime__prog(F->rt, fd), bpftime_runtime__prog(F->rt, fd));

	setenv("BPFTIME_VM_NAME", "interpreter", 1);
	rt = bpftime_runtime__new(F->shm, NULL);
	assert_int_equal(bpftime_runtime__engine(rt), BPFTIME_ENGINE_INTERP);
	assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(rt, fd)), BPFTIME_ENGINE_INTERP);
	bpftime_runtime__free(rt);
	setenv("BPFTIME_VM_NAME", "ubpf", 1);
	rt = bpftime_runtime__new(F->shm, NULL);
	assert_int_equal(bpftime_runtime__engine(rt), BPFTIME_ENGINE_JIT);
	bpftime_runtime__free(rt);
	setenv("BPFTIME_DISABLE_JIT", "1", 1);
	rt = bpftime_runtime__new(F->shm, NULL);
	assert_int_equal(bpftime_runtime__engine(rt), BPFTIME_ENGINE_INTERP);
	bpftime_runtime__free(rt);
	unsetenv("BPFTIME_DISABLE_JIT");
	setenv("BPFTIME_VM_NAME", "quantum", 1);
	assert_null(bpftime_runtime__new(F->shm, NULL));
	assert_int_equal(errno, EINVAL);
	unsetenv("BPFTIME_VM_NAME");

	/* AOT without an object says so (ENOENT), it never builds one silently */
	{
		BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = BPFTIME_ENGINE_AOT,
			     .engine_set = true);

		rt = bpftime_runtime__new(F->shm, &o);
		assert_null(bpftime_runtime__prog(rt, fd));
		assert_int_equal(errno, ENOENT);
		assert_int_equal(bpftime_runtime__run(rt, fd, NULL, 0, &r0), -ENOENT);
		bpftime_runtime__free(rt);
	}

	/* the runtimes made and freed above leave printk writing to F's segment */
	{
		uint64_t pos = 0;

		assert_true(printk("still here", 0, 0, 0) > 0);
		assert_string_equal(next_trace(&pos), "still here");
	}

	/* helpers the embedder provides, by id */
	assert_string_equal(bpftime_helper__name(1), "map_lookup_elem");
	assert_string_equal(bpftime_helper__name(58), "override_return");
	assert_string_equal(bpftime_helper__name(12), "tail_call");
	assert_null(bpftime_helper__name(43)); /* skb_change_head: not ours */
	assert_null(bpftime_vm__helper(F->direct, 58));
}

/* the AOT engine runs the object stored with the program; its helper and
 * map-value references bind to this process's (skipped without LLVM) */
static void test_aot_from_prog_handler(void **state)
{
	int arr = bpftime_map_create(F->shm, -1, BPFTIME_MAP_ARRAY, "vals", 4, 8, 1, NULL);
	const struct bpftime_insn prog[] = {
		BPF_LD_MAP_VALUE(6, arr, 0),   BPF_LDX_MEM(BPF_DW, 7, 6, 0), BPF_CALL_HELPER(14),
		BPF_ALU64_IMM(BPF_RSH, 0, 32), BPF_ALU64_REG(BPF_ADD, 0, 7), BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_runtime_opts, io, .engine = BPFTIME_ENGINE_INTERP, .engine_set = true);
	BPFTIME_OPTS(bpftime_runtime_opts, ao, .engine = BPFTIME_ENGINE_AOT, .engine_set = true);
	struct bpftime_runtime *irt = bpftime_runtime__new(F->shm, &io), *art;
	uint32_t k = 0;
	uint64_t v = 5, r0 = 0;
	void *obj = NULL;
	size_t size = 0;
	int fd, err;

	UNUSED(state);
	assert_int_equal(bpftime_map_update_elem(F->shm, arr, &k, &v, 0), 0);
	fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	err = bpftime_vm__emit_aot(bpftime_runtime__prog(irt, fd), false, &obj, &size);
	bpftime_runtime__free(irt);
	if (err == -EOPNOTSUPP)
		TEST_SKIP("no LLVM back end to compile AOT objects");
	assert_int_equal(err, 0);
	assert_int_equal(bpftime_prog_set_aot(F->shm, fd, obj, size), 0);
	free(obj);
	art = bpftime_runtime__new(F->shm, &ao);
	assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(art, fd)), BPFTIME_ENGINE_AOT);
	assert_int_equal(bpftime_runtime__run(art, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 5 + (uint64_t)getpid());
	/* the object reads the map value in place */
	v = 7;
	assert_int_equal(bpftime_map_update_elem(F->shm, arr, &k, &v, 0), 0);
	assert_int_equal(bpftime_runtime__run(art, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 7 + (uint64_t)getpid());
	bpftime_runtime__free(art);
}

static uint64_t fake_cookie(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	UNUSED(r1);
	UNUSED(r2);
	UNUSED(r3);
	UNUSED(r4);
	UNUSED(r5);
	return 0xc00c1e;
}

static int warnings;

/* counts the runtime's warnings about programs ("prog id N 'name': ...") */
static int count_print(enum bpftime_log_level level, const char *fmt, va_list ap)
{
	UNUSED(ap);
	warnings += level <= BPFTIME_LOG_WARN && strstr(fmt, "prog id %u") != NULL;
	return 0;
}

static void test_embedder_helper(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_CALL_HELPER(174),
		BPF_EXIT_INSN(),
	};
	int fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	struct bpftime_runtime *rt;

	UNUSED(state);
	/* unknown helper: the load fails, once: it is said once and remembered */
	{
		bpftime_print_fn old = bpftime_set_print(count_print);

		warnings = 0;
		assert_null(bpftime_runtime__prog(F->rt, fd));
		assert_int_equal(errno, EINVAL);
		assert_null(bpftime_runtime__prog(F->rt, fd));
		assert_int_equal(errno, EINVAL);
		assert_int_equal(warnings, 1);
		bpftime_set_print(old);
	}
	rt = bpftime_runtime__new(F->shm, NULL);
	assert_int_equal(bpftime_runtime__set_helper(rt, 174, NULL, fake_cookie), 0);
	assert_int_equal(bpftime_runtime__set_helper(rt, 4096, NULL, fake_cookie), -EINVAL);
	{
		uint64_t r0;

		assert_int_equal(bpftime_runtime__run(rt, fd, NULL, 0, &r0), 0);
		assert_int_equal(r0, 0xc00c1e);
	}
	bpftime_runtime__free(rt);
}

/* run with the LLVM back end made unfindable (CTest helpers_fallback_test):
 * the llvm engine falls back to the jit, saying why once */
static void test_llvm_fallback(void **state)
{
	const struct bpftime_insn prog[] = {
		BPF_MOV64_IMM(0, 3),
		BPF_EXIT_INSN(),
	};
	BPFTIME_OPTS(bpftime_runtime_opts, o, .engine = BPFTIME_ENGINE_LLVM, .engine_set = true);
	BPFTIME_OPTS(bpftime_runtime_opts, strict, .engine = BPFTIME_ENGINE_LLVM,
		     .engine_set = true, .no_fallback = true);
	bpftime_print_fn old = bpftime_set_print(count_print);
	struct bpftime_runtime *rt = bpftime_runtime__new(F->shm, &o);
	int fd = add_prog(prog, ARRAY_SIZE(prog), -1);
	uint64_t r0;

	UNUSED(state);
	warnings = 0;
	assert_int_equal(bpftime_vm__engine(bpftime_runtime__prog(rt, fd)), BPFTIME_ENGINE_JIT);
	assert_int_equal(bpftime_runtime__run(rt, fd, NULL, 0, &r0), 0);
	assert_int_equal(r0, 3);
	assert_int_equal(warnings, 1);
	bpftime_runtime__free(rt);
	rt = bpftime_runtime__new(F->shm, &strict);
	assert_null(bpftime_runtime__prog(rt, fd));
	assert_int_equal(errno, EOPNOTSUPP);
	bpftime_runtime__free(rt);
	bpftime_set_print(old);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_read_str, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_read_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_read_coroutine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_write_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_printk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snprintf_strncmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_printk_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_helpers_and_value_lddw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_lddw_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_and_for_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runtime_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ringbuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_perf_event_output_and_percpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_pop_peek, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spin_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_engines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_embedder_helper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aot_from_prog_handler, setup, teardown),
	};

	const struct CMUnitTest fallback[] = {
		cmocka_unit_test_setup_teardown(test_llvm_fallback, setup, teardown),
	};

	unsetenv("BPFTIME_VM_NAME");
	unsetenv("BPFTIME_DISABLE_JIT");
	if (argc > 1 && !strcmp(argv[1], "fallback"))
		return TEST_RUN(fallback, NULL, NULL);
	return TEST_RUN(tests, NULL, NULL);
}
