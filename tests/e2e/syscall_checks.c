/* SPDX-License-Identifier: MIT */
/* tests/e2e/syscall_checks.c: a loader that drives bpf(2) and
 * perf_event_open(2) through libbpf's low-level API and checks the answers:
 * verifier rejection with its log, oversize maps, unsupported commands,
 * freeze, test runs, pins, ids, info, batches, BTF, perf events and links.
 * The same checks hold against the kernel (run as root without bpftime) and
 * under `bpftime load`.  Prints one line per failed check and "N checks, M
 * failed"; the exit status is the number of failures (capped at 100).
 *
 *   syscall_checks --hold N   creates N maps and waits for SIGTERM
 *   syscall_checks [PIN_PATH [BPF_OBJ]]
 *     PIN_PATH  pins a map there and leaves it pinned
 *     BPF_OBJ   an object with a map "counts" (examples/malloc) for libbpf's
 *               own pinning (needs /sys/fs/bpf to be a BPF fs, as bpftime's is)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static int checks, failed;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		checks++;                                                                    \
		if (!(cond)) {                                                               \
			failed++;                                                            \
			printf("FAILED line %d: %s (errno %d %s)\n", __LINE__, #cond, errno, \
			       strerror(errno));                                             \
		}                                                                            \
	} while (0)

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_IMM(d, i)	 INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV64_REG(d, s)	 INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD64_IMM(d, i)	 INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define LDX_W(d, s, o)	 INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define LDX_DW(d, s, o)	 INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define ST_W(d, o, i)	 INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define JEQ_IMM(d, i, o) INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JA(o)		 INSN(BPF_JMP | BPF_JA, 0, 0, o, 0)
#define CALL(i)		 INSN(BPF_JMP | BPF_CALL, 0, 0, 0, i)
#define EXIT()		 INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP_FD(d, fd) \
	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

/* more of the kernel's error codes, one per rule */
static void check_errnos(void)
{
	struct bpf_insn ret0[] = { MOV64_IMM(0, 0), EXIT() };
	LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
	uint32_t k = 0, next;
	uint64_t v = 1;
	int arr, prog, nul, fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "mm_hash", 4, 8, 4, &mmapable);
	CHECK(fd < 0 && errno == EINVAL);
	arr = bpf_map_create(BPF_MAP_TYPE_ARRAY, "e_arr", 4, 8, 2, NULL);
	CHECK(arr >= 0);
	CHECK(bpf_map_update_elem(arr, &k, &v, 8) < 0 && errno == EINVAL);
	CHECK(!bpf_map_get_next_key(arr, NULL, &next) && next == 0);
	k = 1;
	CHECK(bpf_map_get_next_key(arr, &k, &next) < 0 && errno == ENOENT);
	k = 7; /* out of range: the first index */
	CHECK(!bpf_map_get_next_key(arr, &k, &next) && next == 0);
	CHECK(bpf_prog_load(999, "bad_type", "GPL", ret0, 2, NULL) < 0 && errno == EINVAL);
	CHECK(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "no_insns", "GPL", ret0, 0, NULL) < 0 &&
	      errno == E2BIG);
	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "ret0", "GPL", ret0, 2, NULL);
	CHECK(prog >= 0);
	/* a program where a map is wanted and the other way round */
	CHECK(bpf_map_lookup_elem(prog, &k, &v) < 0 && errno == EINVAL);
	CHECK(bpf_link_create(arr, -1, BPF_PERF_EVENT, NULL) < 0 && errno == EINVAL);
	nul = open("/dev/null", O_RDONLY);
	CHECK(bpf_map_lookup_elem(nul, &k, &v) < 0 && errno == EINVAL);
	CHECK(bpf_obj_pin(nul, "/sys/fs/bpf/bpftime_e2e_nul") < 0);
	close(nul);
	close(prog);
	close(arr);
}

static void check_verifier(void)
{
	struct bpf_insn bad[] = { MOV64_IMM(0, 0), JA(5), EXIT() };
	char log[4096] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd;

	fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "bad_jump", "GPL", bad, 3, &o);
	CHECK(fd < 0 && (errno == EINVAL || errno == EACCES));
	CHECK(log[0] != 0);
	printf("verifier log: %s\n", log);
}

static void check_bad_input(void)
{
	union bpf_attr attr;
	int fd;

	/* 16M entries of 4 KiB: far more than the memory there is */
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "huge", 8, 4096, 1u << 24, NULL);
	CHECK(fd < 0 && (errno == ENOMEM || errno == E2BIG));
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "zero_value", 4, 0, 4, NULL);
	CHECK(fd < 0 && errno == EINVAL);
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bad name!", 4, 8, 4, NULL);
	CHECK(fd < 0 && errno == EINVAL);
	memset(&attr, 0, sizeof(attr));
	CHECK(syscall(SYS_bpf, 999, &attr, sizeof(attr)) < 0 && errno == EINVAL);
	CHECK(bpf_map_lookup_elem(12345, &attr, &attr) < 0 && errno == EBADF);
	CHECK(bpf_map_lookup_elem(1, &attr, &attr) < 0 && (errno == EINVAL || errno == EBADF));
}

static int check_maps(void)
{
	uint32_t k = 0, zero = 0;
	uint64_t v = 77, out = 0;
	int fd, fd2;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "arr", 4, 8, 1, NULL);
	CHECK(fd >= 0);
	CHECK(!bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	CHECK(!bpf_map_lookup_elem(fd, &k, &out) && out == 77);

	fd2 = bpf_map_create(BPF_MAP_TYPE_ARRAY, "frozen", 4, 8, 2, NULL);
	CHECK(fd2 >= 0);
	CHECK(!bpf_map_update_elem(fd2, &zero, &v, BPF_ANY));
	CHECK(!bpf_map_freeze(fd2));
	CHECK(bpf_map_update_elem(fd2, &zero, &v, BPF_ANY) < 0 && errno == EPERM);
	CHECK(!bpf_map_lookup_elem(fd2, &zero, &out) && out == 77);
	CHECK(bpf_map_freeze(fd2) < 0 && errno == EPERM); /* no write access left */
	close(fd2);
	CHECK(bpf_map_lookup_elem(fd2, &zero, &out) < 0 && errno == EBADF);
	return fd;
}

static void check_batch(void)
{
	uint32_t keys[10], vals[10], okeys[16], ovals[16], batch = 0, count, total = 0;
	bool in = false;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "batch", 4, 4, 32, NULL), ret;
	LIBBPF_OPTS(bpf_map_batch_opts, bo);

	CHECK(fd >= 0);
	for (int i = 0; i < 10; i++) {
		keys[i] = (uint32_t)i + 100;
		vals[i] = (uint32_t)i * 3;
	}
	count = 10;
	CHECK(!bpf_map_update_batch(fd, keys, vals, &count, &bo) && count == 10);
	do {
		count = 4;
		ret = bpf_map_lookup_batch(fd, in ? &batch : NULL, &batch, okeys + total,
					   ovals + total, &count, &bo);
		in = true;
		total += count;
		for (uint32_t i = total - count; i < total; i++)
			CHECK(ovals[i] == (okeys[i] - 100) * 3);
	} while (!ret && total < 16);
	CHECK(ret < 0 && errno == ENOENT && total == 10);
	count = 10;
	CHECK(!bpf_map_delete_batch(fd, keys, &count, &bo) && count == 10);
	CHECK(bpf_map_get_next_key(fd, NULL, okeys) < 0 && errno == ENOENT);
	close(fd);
}

static int check_test_run(int map_fd)
{
	struct bpf_insn add1[] = { LDX_W(0, 1, 0), ADD64_IMM(0, 1), EXIT() };
	struct bpf_insn lookup[] = {
		ST_W(10, -4, 0),  MOV64_REG(2, 10), ADD64_IMM(2, -4), LD_MAP_FD(1, map_fd), CALL(1),
		JEQ_IMM(0, 0, 2), LDX_DW(0, 0, 0),  EXIT(),	      MOV64_IMM(0, -1),	    EXIT(),
	};
	uint32_t data = 41, out = 0, ids[4] = {}, len;
	struct bpf_prog_info info;
	struct bpf_map_info minfo;
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = &data, .data_size_in = sizeof(data),
		    .data_out = &out, .data_size_out = sizeof(out), .repeat = 3);
	int fd, fd2;

	/* a socket filter can be test-run by the kernel too */
	fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "add1", "GPL", add1, 3, NULL);
	CHECK(fd >= 0);
	if (fd < 0)
		return -1;
	fd2 = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "lookup", "GPL", lookup,
			    sizeof(lookup) / sizeof(lookup[0]), NULL);
	CHECK(fd2 >= 0);
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	info.nr_map_ids = 4;
	info.map_ids = (uintptr_t)ids;
	CHECK(!bpf_obj_get_info_by_fd(fd2, &info, &len));
	CHECK(info.type == BPF_PROG_TYPE_KPROBE && !strcmp(info.name, "lookup"));
	/* e2e_test compares this line with the kernel's */
	printf("tag lookup: ");
	for (int i = 0; i < 8; i++)
		printf("%02x", info.tag[i]);
	printf("\n");
	CHECK(info.nr_map_ids == 1);
	memset(&minfo, 0, sizeof(minfo));
	len = sizeof(minfo);
	CHECK(!bpf_obj_get_info_by_fd(map_fd, &minfo, &len));
	CHECK(ids[0] == minfo.id && minfo.type == BPF_MAP_TYPE_ARRAY && minfo.value_size == 8 &&
	      !strcmp(minfo.name, "arr"));
	CHECK(!bpf_prog_bind_map(fd2, map_fd, NULL));
	CHECK(bpf_prog_bind_map(fd2, fd, NULL) < 0 && errno == EINVAL); /* a program is no map */
	/* as the kernel: a socket filter runs on an skb (r1->len is the packet
	 * without its Ethernet header; fewer than 14 bytes are refused), a
	 * kprobe program cannot be test-run at all (ENOTSUPP, 524) */
	{
		uint8_t pkt[64] = { 0 };
		LIBBPF_OPTS(bpf_test_run_opts, tp, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = 3);

		CHECK(bpf_prog_test_run_opts(fd, &t) < 0 && errno == EINVAL);
		CHECK(!bpf_prog_test_run_opts(fd, &tp));
		CHECK(tp.retval == 51);
		CHECK(bpf_prog_test_run_opts(fd2, &tp) < 0 && errno == 524);
	}
	close(fd);
	return fd2;
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* dup, dup2 and F_DUPFD give more fds on the same map; each closes alone */
static void check_dup(int map_fd)
{
	uint32_t id = map_id(map_fd), k = 0;
	uint64_t v;
	int a, b, c;

	a = dup(map_fd);
	CHECK(a >= 0 && map_id(a) == id);
	b = fcntl(map_fd, F_DUPFD_CLOEXEC, 100);
	CHECK(b >= 100 && map_id(b) == id);
	c = open("/dev/null", O_RDONLY);
	CHECK(c >= 0 && dup2(map_fd, c) == c && map_id(c) == id);
	close(a);
	close(b);
	close(c);
	CHECK(map_id(a) == 0 && errno == EBADFD); /* OBJ_GET_INFO_BY_FD's code for a closed fd */
	CHECK(!bpf_map_lookup_elem(map_fd, &k, &v) && v == 77);
}

/* a program holds the maps it uses: closing the map fd leaves the map
 * alive and listed in the program's info, reachable by id */
static void check_used_maps(void)
{
	int m = bpf_map_create(BPF_MAP_TYPE_ARRAY, "used", 4, 8, 1, NULL), p, fd;
	struct bpf_insn insns[] = { ST_W(10, -4, 0), MOV64_REG(2, 10), ADD64_IMM(2, -4),
				    LD_MAP_FD(1, m), CALL(1),	       MOV64_IMM(0, 0),
				    EXIT() };
	struct bpf_prog_info info;
	uint32_t id = map_id(m), ids[2] = { 0 }, len = sizeof(info);

	p = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "uses_map", "GPL", insns,
			  sizeof(insns) / sizeof(insns[0]), NULL);
	CHECK(m >= 0 && p >= 0 && id);
	close(m);
	memset(&info, 0, sizeof(info));
	info.nr_map_ids = 2;
	info.map_ids = (uintptr_t)ids;
	CHECK(!bpf_obj_get_info_by_fd(p, &info, &len) && info.nr_map_ids == 1 && ids[0] == id);
	fd = bpf_map_get_fd_by_id(id);
	CHECK(fd >= 0 && map_id(fd) == id);
	close(fd);
	close(p);
}

static void check_ids_and_pins(int map_fd, const char *pin)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info), id = 0;
	bool found = false;
	int fd;

	CHECK(!bpf_obj_get_info_by_fd(map_fd, &info, &len));
	while (!bpf_map_get_next_id(id, &id))
		found |= id == info.id;
	CHECK(found);
	CHECK(errno == ENOENT);
	fd = bpf_map_get_fd_by_id(info.id);
	CHECK(fd >= 0 && fd != map_fd);
	close(fd);
	CHECK(bpf_map_get_fd_by_id(0x7ffffff0) < 0 && errno == ENOENT);
	if (!pin)
		return;
	CHECK(!bpf_obj_pin(map_fd, pin));
	CHECK(bpf_obj_pin(map_fd, pin) < 0 && errno == EEXIST);
	fd = bpf_obj_get(pin);
	CHECK(fd >= 0);
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	CHECK(!bpf_obj_get_info_by_fd(fd, &info, &len) && !strcmp(info.name, "arr"));
}

static void check_btf(void)
{
	struct btf *btf = btf__new_empty();
	struct bpf_btf_info info = {};
	uint32_t len = sizeof(info);
	char junk[64] = "not btf at all";

	CHECK(btf && btf__add_int(btf, "int", 4, BTF_INT_SIGNED) > 0);
	CHECK(!btf__load_into_kernel(btf));
	CHECK(!bpf_obj_get_info_by_fd(btf__fd(btf), &info, &len) && info.btf_size > 24);
	btf__free(btf);
	CHECK(bpf_btf_load(junk, sizeof(junk), NULL) < 0 && errno == EINVAL);
}

/* BTF func info and line info go in with PROG_LOAD and come back from
 * OBJ_GET_INFO_BY_FD with the kernel's record sizes, and the program's
 * BTF is reachable by its btf_id after the loader closed its fd */
static void check_func_line_info(void)
{
	struct bpf_insn insns[] = { MOV64_IMM(0, 1), ADD64_IMM(0, 2), EXIT() };
	struct btf *btf = btf__new_empty();
	struct bpf_func_info fi = { 0 }, fo[2];
	struct bpf_line_info li[2], lo[3];
	struct bpf_prog_info info;
	uint32_t len = sizeof(info);
	int proto, prog, bfd;

	CHECK(btf != NULL);
	if (!btf)
		return;
	btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	proto = btf__add_func_proto(btf, 1);
	fi.type_id = (uint32_t)btf__add_func(btf, "with_lines", BTF_FUNC_GLOBAL, proto);
	memset(li, 0, sizeof(li));
	li[0].file_name_off = (uint32_t)btf__add_str(btf, "/src/with_lines.c");
	li[0].line_off = (uint32_t)btf__add_str(btf, "int with_lines(void) { int r = 1;");
	li[0].line_col = 3u << 10 | 5;
	li[1].insn_off = 2;
	li[1].file_name_off = li[0].file_name_off;
	li[1].line_off = (uint32_t)btf__add_str(btf, "\treturn r + 2; }");
	li[1].line_col = 4u << 10 | 2;
	CHECK(!btf__load_into_kernel(btf));
	{
		LIBBPF_OPTS(bpf_prog_load_opts, o, .prog_btf_fd = btf__fd(btf), .func_info = &fi,
			    .func_info_cnt = 1, .func_info_rec_size = sizeof(fi), .line_info = li,
			    .line_info_cnt = 2, .line_info_rec_size = sizeof(li[0]));
		struct bpf_line_info bad[2];

		prog = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "with_lines", "GPL", insns, 3,
				     &o);
		CHECK(prog >= 0);
		/* unsorted line info, a func info that is not at 0, no BTF */
		memcpy(bad, li, sizeof(bad));
		bad[1].insn_off = 0;
		o.line_info = bad;
		CHECK(bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "bad_lines", "GPL", insns, 3, &o) <
			      0 &&
		      errno == EINVAL);
		o.line_info = li;
		fi.insn_off = 1;
		CHECK(bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "bad_funcs", "GPL", insns, 3, &o) <
			      0 &&
		      errno == EINVAL);
		fi.insn_off = 0;
		o.prog_btf_fd = 0;
		CHECK(bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "no_btf", "GPL", insns, 3, &o) <
			      0 &&
		      errno == (fcntl(0, F_GETFD) < 0 ? EBADF : EINVAL));
	}
	bfd = btf__fd(btf);
	/* the counts and record sizes first, as bpftool asks */
	memset(&info, 0, sizeof(info));
	CHECK(prog >= 0 && !bpf_obj_get_info_by_fd(prog, &info, &len));
	CHECK(info.nr_func_info == 1 && info.func_info_rec_size == sizeof(fi));
	CHECK(info.nr_line_info == 2 && info.line_info_rec_size == sizeof(li[0]));
	CHECK(info.btf_id != 0);
	/* JITed, one function, its line info mapped to native addresses */
	CHECK(info.jited_prog_len > 0 && info.nr_jited_ksyms == 1 && info.nr_jited_func_lens == 1 &&
	      info.nr_jited_line_info == 2 && info.jited_line_info_rec_size == sizeof(__u64));
	printf("func/line info: jited_prog_len %u, jited_line_info_rec_size %u\n",
	       info.jited_prog_len, info.jited_line_info_rec_size);
	/* a record size other than the kernel's is refused */
	memset(&info, 0, sizeof(info));
	info.nr_func_info = 1;
	info.func_info = (uintptr_t)fo;
	info.func_info_rec_size = 12;
	CHECK(bpf_obj_get_info_by_fd(prog, &info, &len) < 0 && errno == EINVAL);
	memset(&info, 0, sizeof(info));
	memset(fo, 0xaa, sizeof(fo));
	memset(lo, 0xaa, sizeof(lo));
	info.nr_func_info = 2;
	info.func_info = (uintptr_t)fo;
	info.func_info_rec_size = sizeof(fi);
	info.nr_line_info = 3;
	info.line_info = (uintptr_t)lo;
	info.line_info_rec_size = sizeof(li[0]);
	CHECK(!bpf_obj_get_info_by_fd(prog, &info, &len));
	CHECK(info.nr_func_info == 1 && info.nr_line_info == 2);
	CHECK(!memcmp(fo, &fi, sizeof(fi)) && fo[1].insn_off == 0xaaaaaaaa);
	CHECK(!memcmp(lo, li, sizeof(li)) && lo[2].insn_off == 0xaaaaaaaa);
	{
		struct bpf_btf_info bi;
		uint32_t blen = sizeof(bi);
		int again;

		memset(&bi, 0, sizeof(bi));
		CHECK(!bpf_obj_get_info_by_fd(bfd, &bi, &blen) && bi.id == info.btf_id && bi.id);
		btf__free(btf); /* closes the loader's fd: the program holds the BTF */
		again = bpf_btf_get_fd_by_id(info.btf_id);
		CHECK(again >= 0);
		if (again >= 0) {
			struct btf *b = btf__load_from_kernel_by_id(info.btf_id);

			CHECK(b &&
			      !strcmp(btf__name_by_offset(b, lo[1].line_off), "\treturn r + 2; }"));
			btf__free(b);
			close(again);
		}
	}
	if (prog >= 0)
		close(prog);
}

/* a big locked value: writers store one number everywhere, a reader must
 * never see two (a copy torn by a concurrent update) */
struct big_locked {
	uint32_t cnt, lock;
	uint64_t data[31];
};

struct lock_writer {
	int fd;
	uint32_t key, base;
	int fails;
};

static void *lock_writer(void *arg)
{
	struct lock_writer *w = arg;
	struct big_locked v = { 0 };

	for (uint32_t i = 0; i < 20000; i++) {
		v.cnt = w->base + i;
		for (int k = 0; k < 31; k++)
			v.data[k] = v.cnt;
		if (bpf_map_update_elem(w->fd, &w->key, &v, BPF_F_LOCK))
			w->fails++;
	}
	return NULL;
}

/* two writers and a reader on one element with BPF_F_LOCK: every value read
 * is whole */
static int locked_reads(int fd, uint32_t key)
{
	struct lock_writer w[2] = { { fd, key, 0, 0 }, { fd, key, 1u << 20, 0 } };
	struct big_locked v;
	pthread_t th[2];
	int torn = 0;

	for (int i = 0; i < 2; i++)
		CHECK(!pthread_create(&th[i], NULL, lock_writer, &w[i]));
	for (int i = 0; i < 20000; i++) {
		if (bpf_map_lookup_elem_flags(fd, &key, &v, BPF_F_LOCK)) {
			torn++;
			continue;
		}
		for (int k = 0; k < 31; k++)
			torn += v.data[k] != v.cnt;
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].fails == 0);
	}
	return torn;
}

/* BPF_F_LOCK: the spin lock's place comes from the BTF of the map value;
 * locked updates and lookups skip the lock word (a lookup shows it as 0) */
static void check_spin_lock(void)
{
	struct btf *btf = btf__new_empty();
	struct {
		uint32_t cnt, lock;
		uint64_t data;
	} v = { 7, 0xffffffff, 0x1122334455667788ull }, out;
	int u32, lockt, val, arr, big, fd;
	uint32_t k = 0;

	CHECK(btf != NULL);
	if (!btf)
		return;
	u32 = btf__add_int(btf, "unsigned int", 4, 0);
	btf__add_int(btf, "long long unsigned int", 8, 0);
	lockt = btf__add_struct(btf, "bpf_spin_lock", 4);
	btf__add_field(btf, "val", u32, 0, 0);
	val = btf__add_struct(btf, "val", 16);
	btf__add_field(btf, "cnt", u32, 0, 0);
	btf__add_field(btf, "lock", lockt, 32, 0);
	btf__add_field(btf, "data", u32 + 1, 64, 0);
	arr = btf__add_array(btf, u32, u32 + 1, 31);
	big = btf__add_struct(btf, "big_locked", sizeof(struct big_locked));
	btf__add_field(btf, "cnt", u32, 0, 0);
	btf__add_field(btf, "lock", lockt, 32, 0);
	CHECK(!btf__add_field(btf, "data", arr, 64, 0));
	CHECK(!btf__load_into_kernel(btf));
	for (int i = 0; i < 2; i++) {
		uint32_t type = i ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_HASH;
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = btf__fd(btf), .btf_key_type_id = u32,
			    .btf_value_type_id = val);

		fd = bpf_map_create(type, "locked", 4, 16, 4, &o);
		CHECK(fd >= 0);
		CHECK(!bpf_map_update_elem(fd, &k, &v, BPF_F_LOCK));
		memset(&out, 0xaa, sizeof(out));
		CHECK(!bpf_map_lookup_elem_flags(fd, &k, &out, BPF_F_LOCK));
		CHECK(out.cnt == 7 && out.lock == 0 && out.data == v.data);
		memset(&out, 0xaa, sizeof(out));
		CHECK(!bpf_map_lookup_elem(fd, &k, &out) && out.lock == 0 && out.cnt == 7);
		CHECK(!bpf_map_update_elem(fd, &k, &v, BPF_F_LOCK | BPF_EXIST));
		CHECK(bpf_map_update_elem(fd, &k, &v, BPF_F_LOCK | BPF_NOEXIST) < 0 &&
		      errno == EEXIST);
		close(fd);
	}
	{
		/* concurrent locked updates and lookups of a 256-byte value */
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = btf__fd(btf), .btf_key_type_id = u32,
			    .btf_value_type_id = big);
		struct big_locked z = { 0 };

		for (int i = 0; i < 2; i++) {
			fd = bpf_map_create(i ? BPF_MAP_TYPE_ARRAY : BPF_MAP_TYPE_HASH,
					    "big_locked", 4, sizeof(z), 2, &o);
			CHECK(fd >= 0);
			CHECK(!bpf_map_update_elem(fd, &k, &z, BPF_ANY));
			CHECK(locked_reads(fd, k) == 0);
			close(fd);
		}
	}
	{
		/* BTF types of other sizes than the map's key and value */
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = btf__fd(btf), .btf_key_type_id = u32,
			    .btf_value_type_id = val);

		CHECK(bpf_map_create(BPF_MAP_TYPE_HASH, "bad_value", 4, 8, 4, &o) < 0 &&
		      errno == EINVAL);
		CHECK(bpf_map_create(BPF_MAP_TYPE_HASH, "bad_key", 8, 16, 4, &o) < 0 &&
		      errno == EINVAL);
	}
	{
		/* a map type whose values take no lock */
		LIBBPF_OPTS(bpf_map_create_opts, o, .btf_fd = btf__fd(btf), .btf_key_type_id = u32,
			    .btf_value_type_id = val);

		fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "locked_lru", 4, 16, 4, &o);
		CHECK(fd < 0 && errno == EOPNOTSUPP);
	}
	/* no lock in the value (or no BTF at all): BPF_F_LOCK is EINVAL */
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "unlocked", 4, 16, 4, NULL);
	CHECK(fd >= 0);
	CHECK(bpf_map_update_elem(fd, &k, &v, BPF_F_LOCK) < 0 && errno == EINVAL);
	CHECK(!bpf_map_update_elem(fd, &k, &v, BPF_ANY));
	CHECK(bpf_map_lookup_elem_flags(fd, &k, &out, BPF_F_LOCK) < 0 && errno == EINVAL);
	CHECK(!bpf_map_lookup_elem(fd, &k, &out) && out.lock == 0xffffffff);
	close(fd);
	btf__free(btf);
}

#define ST_DW(d, o, i)	INSN(BPF_ST | BPF_MEM | BPF_DW, d, 0, o, i)
#define MOV32_IMM(d, i) INSN(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, i)

static long rb_seen, rb_value, pb_seen, pb_value;

static int on_rb(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size == 8)
		memcpy(&rb_value, data, 8);
	rb_seen++;
	return 0;
}

static void on_pb(void *ctx, int cpu, void *data, uint32_t size)
{
	(void)ctx;
	(void)cpu;
	if (size >= 8)
		memcpy(&pb_value, data, 8);
	pb_seen++;
}

struct delayed_run {
	int prog_fd;
	int ret;
};

/* runs the program from another thread a little later: the consumer is
 * asleep in its poll by then and must be woken, not find data by polling */
static void *run_later(void *arg)
{
	struct delayed_run *d = arg;
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt));

	usleep(100 * 1000);
	d->ret = bpf_prog_test_run_opts(d->prog_fd, &t);
	return NULL;
}

struct hammer {
	int fd;
	uint32_t base;
	int fails;
};

/* one thread's share: its own keys, written then read back, while the
 * other threads do the same on the same map */
static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;

	for (uint32_t round = 0; round < 20; round++) {
		for (uint32_t i = 0; i < 200; i++) {
			uint32_t k = h->base + i;
			uint64_t v = (uint64_t)k * 1000 + round, out = 0;

			if (bpf_map_update_elem(h->fd, &k, &v, BPF_ANY) ||
			    bpf_map_lookup_elem(h->fd, &k, &out) || out != v)
				h->fails++;
		}
	}
	return NULL;
}

/* several threads of one loader on one map at once */
static void check_threads(void)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "threads", 4, 8, 1024, NULL), n = 0;
	struct hammer h[4];
	pthread_t th[4];
	uint32_t key, *prev = NULL, next;

	CHECK(fd >= 0);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ fd, (uint32_t)i * 200, 0 };
		CHECK(!pthread_create(&th[i], NULL, hammer_thread, &h[i]));
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(h[i].fails == 0);
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		n++;
		key = next;
		prev = &key;
	}
	CHECK(n == 800);
	close(fd);
}

/* after a moment (the other thread is in epoll_wait by then, or will find
 * the event ready): a test run of @prog that writes a ring buffer record,
 * or a byte into @pipe_fd */
struct late_run {
	int prog, pipe_fd;
};

static void *late_run(void *arg)
{
	struct late_run *lr = arg;
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt));

	usleep(20000);
	if (lr->prog >= 0)
		CHECK(!bpf_prog_test_run_opts(lr->prog, &t));
	if (lr->pipe_fd >= 0)
		CHECK(write(lr->pipe_fd, "y", 1) == 1);
	return NULL;
}

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

/* epoll_pwait whose mask unblocks a pending SIGUSR1: the handler runs and
 * the wait returns EINTR at once (not after its 2 s timeout), as the
 * kernel's does; bpftrace leaves its loop on that EINTR */
static void check_epoll_eintr(int ep)
{
	struct sigaction sa, olds;
	struct epoll_event out[4];
	sigset_t usr1, none, saved;
	int n, err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&none);
	CHECK(!sigaction(SIGUSR1, &sa, &olds));
	CHECK(!pthread_sigmask(SIG_BLOCK, &usr1, &saved));
	usr1_seen = 0;
	CHECK(!raise(SIGUSR1)); /* pending until the wait's mask */
	n = epoll_pwait(ep, out, 4, 2000, &none);
	err = errno;
	CHECK(n == -1 && err == EINTR && usr1_seen == 1);
	CHECK(!pthread_sigmask(SIG_SETMASK, &saved, NULL));
	/* what the loader installed is what it reads back */
	CHECK(!sigaction(SIGUSR1, &olds, &sa) && sa.sa_handler == on_usr1 &&
	      !(sa.sa_flags & SA_SIGINFO));
}

/* epoll by hand on a ring buffer fd next to a pipe: both kinds of fd in one
 * instance, the control errors, readiness following the data */
static void check_epoll(int rb_fd, int prog)
{
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt));
	int ep = epoll_create1(EPOLL_CLOEXEC), p[2], n;
	struct ring_buffer *rb;

	CHECK(ep >= 0 && !pipe(p));
	ev.data.u32 = 1;
	CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, rb_fd, &ev));
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, rb_fd, &ev) < 0 && errno == EEXIST);
	ev.data.u32 = 2;
	CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	n = epoll_wait(ep, out, 4, 1000);
	CHECK(n == 1 && out[0].data.u32 == 2);
	CHECK(!bpf_prog_test_run_opts(prog, &t));
	n = epoll_wait(ep, out, 4, 1000);
	CHECK(n == 2 && out[0].data.u32 + out[1].data.u32 == 3);
	ev.data.u32 = 7;
	CHECK(!epoll_ctl(ep, EPOLL_CTL_MOD, rb_fd, &ev));
	CHECK(!epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
	n = epoll_wait(ep, out, 4, 1000);
	CHECK(n == 1 && out[0].data.u32 == 7);
	/* consumed: no longer ready */
	rb = ring_buffer__new(rb_fd, on_rb, NULL, NULL);
	CHECK(rb && ring_buffer__consume(rb) == 1);
	CHECK(epoll_wait(ep, out, 4, 0) == 0);
	check_epoll_eintr(ep); /* a ring buffer only */
	/* a wait without timeout on both kinds: a record from another thread
	 * wakes it, then a pipe write does (the set's own machinery is never
	 * reported) */
	{
		char c;
		pthread_t th;
		struct late_run lr = { .prog = prog, .pipe_fd = -1 };

		CHECK(read(p[0], &c, 1) == 1);
		ev.data.u32 = 2;
		CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
		check_epoll_eintr(ep); /* a ring buffer and a pipe */
		CHECK(!pthread_create(&th, NULL, late_run, &lr));
		n = epoll_wait(ep, out, 4, -1);
		CHECK(n == 1 && out[0].data.u32 == 7);
		pthread_join(th, NULL);
		CHECK(ring_buffer__consume(rb) == 1);
		lr.prog = -1;
		lr.pipe_fd = p[1];
		CHECK(!pthread_create(&th, NULL, late_run, &lr));
		n = epoll_wait(ep, out, 4, -1);
		CHECK(n == 1 && out[0].data.u32 == 2);
		pthread_join(th, NULL);
	}
	CHECK(!epoll_ctl(ep, EPOLL_CTL_DEL, rb_fd, NULL));
	CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, rb_fd, NULL) < 0 && errno == ENOENT);
	ring_buffer__free(rb);
	close(p[0]);
	close(p[1]);
	close(ep);
}

/* Several perf rings ready at once: epoll_wait reports them in the order
 * they became ready, as the kernel's ready list does (bpftrace ignores what
 * it reads after its exit() record, so a ring reported late loses events).
 * @pb holds rings 0 and 1, both empty. */
static void check_epoll_order(int pb_fd, struct perf_buffer *pb)
{
	struct bpf_insn insns[] = {
		ST_DW(10, -8, 0x77), LD_MAP_FD(2, pb_fd),
		MOV32_IMM(3, -1), /* BPF_F_CURRENT_CPU: the kernel allows no other */
		MOV64_REG(4, 10),    ADD64_IMM(4, -8),
		MOV64_IMM(5, 8),     CALL(25),
		MOV64_IMM(0, 0),     EXIT(),
	};
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt));
	struct epoll_event ev = { .events = EPOLLIN }, out[4];
	int prog, ep = epoll_create1(EPOLL_CLOEXEC);
	cpu_set_t saved, one;

	if (sched_getaffinity(0, sizeof(saved), &saved) || !CPU_ISSET(0, &saved) ||
	    !CPU_ISSET(1, &saved)) {
		printf("check_epoll_order skipped: CPUs 0 and 1 not both allowed\n");
		close(ep);
		return;
	}
	prog = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "pb_ring", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
	CHECK(ep >= 0 && prog >= 0);
	for (int i = 0; i < 2; i++) {
		ev.data.u32 = 10 + (uint32_t)i;
		CHECK(!epoll_ctl(ep, EPOLL_CTL_ADD, perf_buffer__buffer_fd(pb, (size_t)i), &ev));
	}
	/* a record on CPU 1 first, then on CPU 0; then the other way round */
	for (int first = 1; first >= 0; first--) {
		CHECK(epoll_wait(ep, out, 4, 0) == 0);
		for (int k = 0; k < 2; k++) {
			CPU_ZERO(&one);
			CPU_SET(k ? !first : first, &one);
			CHECK(!sched_setaffinity(0, sizeof(one), &one));
			CHECK(!bpf_prog_test_run_opts(prog, &t) && t.retval == 0);
		}
		CHECK(epoll_wait(ep, out, 4, 1000) == 2);
		CHECK(out[0].data.u32 == 10 + (uint32_t)first &&
		      out[1].data.u32 == 10 + (uint32_t)!first);
		CHECK(perf_buffer__consume(pb) == 0);
	}
	CHECK(!sched_setaffinity(0, sizeof(saved), &saved));
	close(prog);
	close(ep);
}

/* records a program writes reach libbpf's ring_buffer and perf_buffer
 * consumers: poll timeouts (0: at once), wakeups, every record */
static void check_rings(void)
{
	int rb_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "rb", 0, 0, 4096, NULL);
	int pb_fd = bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "pb", 4, 4,
				   (uint32_t)libbpf_num_possible_cpus(), NULL);
	struct bpf_insn rb_prog[] = {
		ST_DW(10, -8, 0x1234),
		LD_MAP_FD(1, rb_fd),
		MOV64_REG(2, 10),
		ADD64_IMM(2, -8),
		MOV64_IMM(3, 8),
		MOV64_IMM(4, 0),
		CALL(130),
		MOV64_IMM(0, 0),
		EXIT(),
	};
	struct bpf_insn pb_prog[] = {
		ST_DW(10, -8, 0x5678),
		LD_MAP_FD(2, pb_fd),
		MOV32_IMM(3, -1),
		MOV64_REG(4, 10),
		ADD64_IMM(4, -8),
		MOV64_IMM(5, 8),
		CALL(25),
		MOV64_IMM(0, 0),
		EXIT(),
	};
	char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt, .data_size_in = sizeof(pkt));
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	struct delayed_run d;
	pthread_t th;
	int rp, pp;

	CHECK(rb_fd >= 0 && pb_fd >= 0);
	rp = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "rb_out", "GPL", rb_prog,
			   sizeof(rb_prog) / sizeof(rb_prog[0]), NULL);
	pp = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "pb_out", "GPL", pb_prog,
			   sizeof(pb_prog) / sizeof(pb_prog[0]), NULL);
	CHECK(rp >= 0 && pp >= 0);
	rb = ring_buffer__new(rb_fd, on_rb, NULL, NULL);
	pb = perf_buffer__new(pb_fd, 8, on_pb, NULL, NULL, NULL);
	CHECK(rb && pb);
	if (rp < 0 || pp < 0 || !rb || !pb)
		goto out;
	CHECK(ring_buffer__poll(rb, 0) == 0);  /* nothing yet: at once */
	CHECK(ring_buffer__poll(rb, 20) == 0); /* nothing within the timeout */
	CHECK(perf_buffer__poll(pb, 0) == 0);
	CHECK(!bpf_prog_test_run_opts(rp, &t) && t.retval == 0);
	CHECK(ring_buffer__poll(rb, 0) == 1 && rb_seen == 1 && rb_value == 0x1234);
	for (int i = 0; i < 3; i++)
		CHECK(!bpf_prog_test_run_opts(rp, &t));
	CHECK(ring_buffer__poll(rb, -1) == 3 && rb_seen == 4);
	CHECK(!bpf_prog_test_run_opts(pp, &t) && t.retval == 0);
	CHECK(perf_buffer__poll(pb, 1000) == 1 && pb_seen == 1 && pb_value == 0x5678);
	/* a consumer asleep in poll is woken by the record */
	d.prog_fd = rp;
	CHECK(!pthread_create(&th, NULL, run_later, &d));
	CHECK(ring_buffer__poll(rb, 10000) == 1 && rb_seen == 5);
	pthread_join(th, NULL);
	CHECK(d.ret == 0);
	d.prog_fd = pp;
	CHECK(!pthread_create(&th, NULL, run_later, &d));
	CHECK(perf_buffer__poll(pb, 10000) == 1 && pb_seen == 2);
	pthread_join(th, NULL);
	if (libbpf_num_possible_cpus() >= 2)
		check_epoll_order(pb_fd, pb);
	else
		printf("check_epoll_order skipped: one CPU\n");
	check_epoll(rb_fd, rp);
out:
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	close(rp);
	close(pp);
	close(rb_fd);
	close(pb_fd);
}

/* a function to put the uprobe on, and its offset in this executable's file */
__attribute__((noinline)) int probe_target(int x);
__attribute__((noinline)) int probe_target(int x)
{
	return x * 3;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *ctx)
{
	uintptr_t vaddr = (uintptr_t)probe_target - info->dlpi_addr;
	uint64_t *off = ctx;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && vaddr >= ph->p_vaddr &&
		    vaddr < ph->p_vaddr + ph->p_memsz) {
			*off = vaddr - ph->p_vaddr + ph->p_offset;
			return 1;
		}
	}
	return 0;
}

static uint64_t probe_target_offset(void)
{
	uint64_t off = 0;

	dl_iterate_phdr(phdr_cb, &off); /* the executable comes first */
	return off;
}

/* libbpf's own pinning (bpf_map__set_pin_path + load pins, a second object
 * reuses the pinned map, unpin): statfs/mkdir/unlink on the BPF fs */
static void check_libbpf_pins(const char *obj_path)
{
	const char *pin = "/sys/fs/bpf/bpftime_e2e_dir/counts";
	struct bpf_object *o1, *o2 = NULL;
	struct bpf_map *m1, *m2;
	uint32_t k = 1;
	uint64_t v = 99, out = 0;

	o1 = bpf_object__open_file(obj_path, NULL);
	CHECK(o1 != NULL);
	if (!o1)
		return;
	m1 = bpf_object__find_map_by_name(o1, "counts");
	CHECK(m1 && !bpf_map__set_pin_path(m1, pin));
	CHECK(!bpf_object__load(o1));
	CHECK(bpf_map__is_pinned(m1));
	CHECK(!bpf_map_update_elem(bpf_map__fd(m1), &k, &v, BPF_ANY));
	if (getenv("BPFTIME_E2E_USERSPACE")) {
		/* kernel functions cannot be probed from userspace: said, not faked */
		struct bpf_program *prog = bpf_object__find_program_by_name(o1, "count_malloc");

		CHECK(prog && !bpf_program__attach_kprobe(prog, false, "do_sys_openat2") &&
		      errno == EOPNOTSUPP);
	}
	o2 = bpf_object__open_file(obj_path, NULL);
	m2 = o2 ? bpf_object__find_map_by_name(o2, "counts") : NULL;
	CHECK(m2 && !bpf_map__set_pin_path(m2, pin));
	CHECK(o2 && !bpf_object__load(o2));
	/* the second object's map is the pinned one */
	CHECK(m2 && !bpf_map_lookup_elem(bpf_map__fd(m2), &k, &out) && out == 99);
	CHECK(m2 && !bpf_map__unpin(m2, NULL));
	CHECK(bpf_obj_get(pin) < 0 && errno == ENOENT);
	bpf_object__close(o2);
	bpf_object__close(o1);
}

static int uprobe_type(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");
	int type = -1;

	if (f) {
		if (fscanf(f, "%d", &type) != 1)
			type = -1;
		fclose(f);
	}
	return type;
}

/* a syscall tracepoint the way libbpf attaches one: id from tracefs (served
 * by bpftime when the machine has none), PERF_TYPE_TRACEPOINT, a link */
static void check_tracepoint(void)
{
	const char *paths[] = { "/sys/kernel/tracing/events/syscalls/sys_enter_getpid/id",
				"/sys/kernel/debug/tracing/events/syscalls/sys_enter_getpid/id" };
	struct bpf_insn ret0[] = { MOV64_IMM(0, 0), EXIT() };
	struct perf_event_attr a;
	int id = -1, pfd, prog, lfd;
	FILE *f = NULL;

	for (size_t i = 0; i < 2 && !f; i++)
		f = fopen(paths[i], "r");
	if (!f) {
		/* only the kernel may lack it: bpftime serves the ids */
		CHECK(!getenv("BPFTIME_E2E_USERSPACE"));
		return;
	}
	CHECK(fscanf(f, "%d", &id) == 1 && id > 0);
	fclose(f);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_TRACEPOINT;
	a.config = (uint64_t)id;
	pfd = (int)syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	CHECK(pfd >= 0);
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "tp", "GPL", ret0, 2, NULL);
	CHECK(prog >= 0);
	lfd = bpf_link_create(prog, pfd, BPF_PERF_EVENT, NULL);
	CHECK(lfd >= 0);
	printf("tracepoint sys_enter_getpid: id %d\n", id);
	close(lfd);
	close(prog);
	close(pfd);
}

static void check_perf_and_links(int prog_fd)
{
	struct perf_event_attr a;
	struct bpf_link_info li;
	struct bpf_prog_info pi;
	uint32_t len;
	int pfd, lfd, stats;
	LIBBPF_OPTS(bpf_link_create_opts, lo, .perf_event.bpf_cookie = 0x1234);

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_CPU_CYCLES;
	/* a hardware counter: fine for the kernel, refused in userspace */
	pfd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (getenv("BPFTIME_E2E_USERSPACE"))
		CHECK(pfd < 0 && errno == ENOENT);
	if (pfd >= 0)
		close(pfd);

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = (uint32_t)uprobe_type();
	a.config1 = (uintptr_t) "/proc/self/exe";
	a.config2 = probe_target_offset();
	pfd = (int)syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	CHECK(pfd >= 0);
	if (pfd < 0 || prog_fd < 0)
		return;
	/* libbpf's FEAT_PERF_LINK probe: no target is EBADF */
	CHECK(bpf_link_create(prog_fd, -1, BPF_PERF_EVENT, NULL) < 0 && errno == EBADF);
	lfd = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, &lo);
	if (lfd < 0 && errno == EINVAL)
		return; /* the kernel wants a kprobe program for a uprobe event */
	CHECK(lfd >= 0);
	memset(&li, 0, sizeof(li));
	memset(&pi, 0, sizeof(pi));
	len = sizeof(li);
	CHECK(!bpf_obj_get_info_by_fd(lfd, &li, &len));
	len = sizeof(pi);
	CHECK(!bpf_obj_get_info_by_fd(prog_fd, &pi, &len));
	CHECK(li.prog_id == pi.id && li.type == BPF_LINK_TYPE_PERF_EVENT);
	/* perf links cannot be detached, only closed */
	CHECK(bpf_link_detach(lfd) < 0 && errno == EOPNOTSUPP);
	{
		/* the legacy attachment: PERF_EVENT_IOC_SET_BPF, once per event */
		int pfd2 = (int)syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);

		CHECK(pfd2 >= 0);
		CHECK(!ioctl(pfd2, PERF_EVENT_IOC_SET_BPF, prog_fd));
		CHECK(ioctl(pfd2, PERF_EVENT_IOC_SET_BPF, prog_fd) < 0 && errno == EEXIST);
		CHECK(!ioctl(pfd2, PERF_EVENT_IOC_ENABLE, 0));
		CHECK(!ioctl(pfd2, PERF_EVENT_IOC_DISABLE, 0));
		close(pfd2);
	}
	stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
	CHECK(stats >= 0);
	close(stats);
	printf("left open: prog %d, perf event %d, link %d\n", prog_fd, pfd, lfd);
}

static void on_term(int sig)
{
	(void)sig;
}

/* --hold N: N maps held until SIGTERM, for tests of several loaders */
static int hold(int n)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGTERM, on_term);
	for (int i = 0; i < n; i++) {
		if (bpf_map_create(BPF_MAP_TYPE_ARRAY, "held", 4, 8, 1, NULL) < 0) {
			printf("map %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	printf("holding %d maps\n", n);
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}

int main(int argc, char **argv)
{
	int map_fd, prog_fd;

	if (argc > 2 && !strcmp(argv[1], "--hold"))
		return hold(atoi(argv[2]));

	if (!getenv("BPFTIME_E2E_USERSPACE")) {
		/* the kernel reference run: skip where the kernel's bpf() is closed */
		int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "probe", 4, 4, 1, NULL);

		if (fd < 0) {
			printf("kernel bpf() unavailable (%s): skipped\n", strerror(errno));
			return 77;
		}
		close(fd);
	}

	check_verifier();
	check_errnos();
	check_bad_input();
	map_fd = check_maps();
	check_batch();
	check_threads();
	prog_fd = check_test_run(map_fd);
	check_dup(map_fd);
	check_used_maps();
	check_ids_and_pins(map_fd, argc > 1 ? argv[1] : NULL);
	check_btf();
	check_spin_lock();
	check_func_line_info();
	check_perf_and_links(prog_fd);
	check_rings();
	check_tracepoint();
	if (argc > 2)
		check_libbpf_pins(argv[2]);
	printf("%d checks, %d failed\n", checks, failed);
	fflush(stdout);
	return failed > 100 ? 100 : failed;
}
