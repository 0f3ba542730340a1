/* SPDX-License-Identifier: MIT */
/* runtime/test_run.c: BPF_PROG_TEST_RUN as the kernel does it
 * (net/bpf/test_run.c), for the syscall server and bpftimetool: the
 * program runs on the context the kernel builds for its type, not on the
 * caller's raw bytes.
 *
 *  - XDP: an xdp_buff over a page-sized buffer: XDP_PACKET_HEADROOM (256)
 *    bytes of headroom, data_in after it, the skb_shared_info tailroom
 *    (320) at the end of the page that adjust_tail cannot grow into.
 *    ctx_in is a struct xdp_md: data = the metadata's length (taken from
 *    the headroom), data_end = the linear length, data_meta 0,
 *    ingress_ifindex/rx_queue_index of a device that exists.  data_out is
 *    metadata + data, ctx_out the xdp_md with data/data_end moved.
 *  - socket filter, cgroup_skb, sched_cls, sched_act: an skb with 64 bytes
 *    of headroom (NET_SKB_PAD) on the loopback device: protocol and
 *    pkt_type from the Ethernet header (eth_type_trans), which tc programs
 *    see and socket filters do not (their data starts at the network
 *    header, and data_out then has the 14 header bytes zeroed, as the
 *    kernel's).  ctx_in is a struct __sk_buff of which only mark,
 *    priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs,
 *    gso_size and hwtstamp may be non-zero.
 *  - raw tracepoint and tracing: ctx_in is the u64 argument array (at most
 *    12), nothing else may be given; syscall: ctx_in is the program's
 *    buffer, written back.  (The kernel runs fentry programs on its own
 *    test functions; we run tracing programs on ctx_in.)
 *  - raw memory (our type 0): data_in (or ctx_in) is the memory.
 *  - anything else: -ENOTSUPP, the kernel's answer for types without a
 *    test run (kprobe, tracepoint, perf_event).
 * The duration is the mean of repeat runs in ns, without the time the
 * thread did not have the CPU (as the kernel's timer); runs reuse one
 * context as the kernel's do.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpftime/shm.h>
#include "internal.h"
#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"

#define ENOTSUPP	     524 /* the kernel's, for a type without a test run */
#define PAGE_SZ		     4096
#define ETH_HLEN	     14
#define XDP_HEADROOM	     256
#define XDP_FRAME_SIZE	     40	 /* struct xdp_frame */
#define SHINFO_ROOM	     320 /* SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) */
#define SKB_HEADROOM	     64	 /* NET_SKB_PAD + NET_IP_ALIGN (0 on x86) */
#define XDP_MD_SIZE	     24
#define SKB_VIEW_SIZE	     192
#define F_TEST_RUN_ON_CPU    (1u << 0)
#define F_TEST_XDP_LIVE	     (1u << 1)
#define F_TEST_SKB_CSUM_COMP (1u << 2)
#define GSO_LEGACY_MAX	     65536
#define GSO_MAX_SEGS	     65535
#define MIN(a, b)	     ((a) < (b) ? (a) : (b))
#define MAX_FRAGS	     17 /* MAX_SKB_FRAGS */

enum {
	T_RAW = 0,
	T_SOCKET_FILTER = 1,
	T_SCHED_CLS = 3,
	T_SCHED_ACT = 4,
	T_XDP = 6,
	T_CGROUP_SKB = 8,
	T_RAW_TP = 17,
	T_TRACING = 26,
	T_SYSCALL = 31
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* runs the program repeat times on @ctx; r0's low 32 bits and the mean ns */
/* Runs the program repeat times on @ctx; r0's low 32 bits and the mean ns.
 * The kernel's test timer leaves out the time it yields the CPU between
 * runs (bpf_test_timer_continue): the lesser of the wall-clock and the
 * thread's CPU time does the same here (the CPU clock, a system call, is
 * the coarser of the two for short runs; the wall clock counts the time
 * another task had the CPU in long ones). */
static int run_timed(struct bpftime_runtime *rt, int fd, void *ctx, size_t len, uint32_t repeat,
		     struct bpftime_test_run_opts *o)
{
	struct bpftime_vm *vm = bpftime_runtime__prog(rt, fd);
	uint64_t r0 = 0, c0, t0, t1, c1, ns;
	uint32_t runs = 0;
	bool stats;
	int err = 0;

	if (!vm)
		return -errno;
	if (!repeat)
		repeat = 1;
	/* as the kernel's loop: the program, looked up once, on one CPU slot */
	stats = rt->sysctl_stats || bpftime_shm__stats_enabled(rt->shm);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = clock_ns(CLOCK_MONOTONIC);
	bpftime_shm__cpu_get(rt->shm);
	while (runs < repeat && !err) {
		err = bpftime_vm__run(vm, ctx, len, &r0);
		runs++;
	}
	bpftime_shm__cpu_put(rt->shm);
	t1 = clock_ns(CLOCK_MONOTONIC);
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	if (stats) /* BPF_ENABLE_STATS or the sysctl: run_cnt and run_time_ns */
		bpftime_prog_stats_add(rt->shm, fd, runs, t1 - t0);
	if (err)
		return err;
	ns = MIN(t1 - t0, c1 - c0);
	o->retval = (uint32_t)r0;
	o->duration = (uint32_t)MIN(ns / repeat, (uint64_t)UINT32_MAX);
	return 0;
}

/* the kernel's bpf_ctx_init: NULL when neither ctx_in nor ctx_out is given
 * (*err 0), else a zeroed @size buffer with ctx_in's bytes; ctx_in longer
 * than @size must be zero past it (-E2BIG) */
static void *ctx_init(const struct bpftime_test_run_opts *o, uint32_t size, int *err)
{
	uint8_t *c;

	*err = 0;
	if (!o->ctx_in && !o->ctx_out)
		return NULL;
	c = mem_calloc(1, size);
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	if (o->ctx_in) {
		const uint8_t *in = o->ctx_in;

		for (uint32_t i = size; i < o->ctx_size_in; i++) {
			if (in[i]) {
				free(c);
				*err = -E2BIG;
				return NULL;
			}
		}
		memcpy(c, in, MIN(size, o->ctx_size_in));
	}
	return c;
}

/* the kernel's bpf_test_finish: data_out as far as it fits (-ENOSPC when
 * data_size_out is set and too small), the size, retval, duration */
static int finish_data(struct bpftime_test_run_opts *o, const void *data, uint32_t size)
{
	uint32_t copy = size;
	int err = 0;

	if (o->data_size_out && copy > o->data_size_out) {
		copy = o->data_size_out;
		err = -ENOSPC;
	}
	if (o->data_out)
		memcpy(o->data_out, data, copy);
	o->data_size_out = size;
	return err;
}

/* the kernel's bpf_ctx_finish */
static int finish_ctx(struct bpftime_test_run_opts *o, const void *ctx, uint32_t size)
{
	uint32_t copy = size;
	int err = 0;

	if (!ctx || !o->ctx_out)
		return 0;
	if (copy > o->ctx_size_out) {
		copy = o->ctx_size_out;
		err = -ENOSPC;
	}
	memcpy(o->ctx_out, ctx, copy);
	o->ctx_size_out = size;
	return err;
}

static bool all_zero(const uint8_t *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i])
			return false;
	return true;
}

static uint32_t rd32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const uint8_t *)p + off, 4);
	return v;
}

static void wr32(void *p, size_t off, uint32_t v)
{
	memcpy((uint8_t *)p + off, &v, 4);
}

/* the number of receive queues of device @ifindex of this network
 * namespace, 0 when it does not exist */
static unsigned int rx_queues(uint32_t ifindex)
{
	char name[IF_NAMESIZE], path[128];
	unsigned int n = 0;
	struct dirent *e;
	DIR *d;

	if (ifindex == 1)
		return 1; /* lo */
	if (!if_indextoname(ifindex, name))
		return 0;
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", name);
	d = opendir(path);
	if (!d)
		return 1;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "rx-", 3);
	closedir(d);
	return n ? n : 1;
}

/* ---- XDP ------------------------------------------------------------------------ */

static int test_run_xdp(struct bpftime_runtime *rt, int fd, const struct bpftime_prog_info *info,
			struct bpftime_test_run_opts *o)
{
	uint32_t headroom = XDP_HEADROOM, meta = 0, linear = o->data_size_in, max_linear, frags;
	struct bpftime_xdp_ctx x = { 0 };
	uint8_t *md, *buf = NULL;
	int err;

	if (info->expected_attach_type == 33 ||
	    info->expected_attach_type == 34) /* devmap, cpumap */
		return -EINVAL;
	if (o->flags & ~F_TEST_XDP_LIVE)
		return -EINVAL;
	if (o->flags & F_TEST_XDP_LIVE) {
		pr_warn("prog %d: BPF_F_TEST_XDP_LIVE_FRAMES sends frames to a device: not "
			"available in userspace\n",
			fd);
		return -EOPNOTSUPP;
	}
	if (o->batch_size)
		return -EINVAL;
	md = ctx_init(o, XDP_MD_SIZE, &err);
	if (err)
		return err;
	err = -EINVAL;
	if (md) {
		/* no user data before the metadata */
		if (rd32(md, 8) || rd32(md, 4) > o->data_size_in || rd32(md, 0) > rd32(md, 4))
			goto out;
		meta = rd32(md, 0);
		if ((meta & 3) || meta > 255 || meta > headroom - XDP_FRAME_SIZE)
			goto out;
		headroom -= meta;
		linear = rd32(md, 4);
	}
	max_linear = PAGE_SZ - headroom - SHINFO_ROOM;
	linear = MIN(linear, max_linear);
	if (o->data_size_in - meta < ETH_HLEN)
		goto out;
	/* the rest goes to page fragments (multi-buffer XDP): the program
	 * sees the linear part, data_out has both */
	frags = o->data_size_in - linear;
	if (frags > (uint64_t)MAX_FRAGS * PAGE_SZ) {
		err = -ENOMEM;
		goto out;
	}
	buf = mem_calloc(1, PAGE_SZ + 64 + frags);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	if (linear)
		memcpy(buf + headroom, o->data_in, linear);
	x.data_hard_start = (uint64_t)(uintptr_t)buf;
	x.data_meta = x.data_hard_start + headroom;
	x.data = x.data_meta;
	x.data_end = x.data + linear;
	x.data_hard_end = x.data_hard_start + PAGE_SZ - SHINFO_ROOM;
	x.md[3] = 1;	 /* the loopback device's queue 0 */
	x.frags = frags; /* bpf_xdp_adjust_tail refuses to touch fragments */
	if (frags)
		memcpy(buf + PAGE_SZ + 64, (const uint8_t *)o->data_in + linear, frags);
	if (md) {
		uint32_t ifindex = rd32(md, 12), queue = rd32(md, 16);

		if (rd32(md, 20) || (!ifindex && queue))
			goto out;
		if (ifindex) {
			unsigned int nq = rx_queues(ifindex);

			if (!nq) {
				err = -ENODEV;
				goto out;
			}
			if (queue >= nq)
				goto out;
			x.md[3] = ifindex;
			x.md[4] = queue;
		}
		x.data = x.data_meta + meta;
	}
	err = run_timed(rt, fd, &x, sizeof(x), o->repeat, o);
	if (md) {
		wr32(md, 0, (uint32_t)(x.data - x.data_meta));
		wr32(md, 4, (uint32_t)(x.data_end - x.data_meta));
	}
	if (err)
		goto out;
	if (frags) /* the fragments follow the linear part */
		memmove((void *)(uintptr_t)x.data_end, buf + PAGE_SZ + 64, frags);
	err = finish_data(o, (const void *)(uintptr_t)x.data_meta,
			  (uint32_t)(x.data_end - x.data_meta) + frags);
	if (!err)
		err = finish_ctx(o, md, XDP_MD_SIZE);
out:
	free(buf);
	free(md);
	return err;
}

/* ---- skb ------------------------------------------------------------------------ */

/* __sk_buff offsets */
enum {
	SK_LEN = 0,
	SK_PKT_TYPE = 4,
	SK_MARK = 8,
	SK_PROTOCOL = 16,
	SK_PRIORITY = 32,
	SK_INGRESS_IFINDEX = 36,
	SK_IFINDEX = 40,
	SK_CB = 48,
	SK_FAMILY = 88,
	SK_REMOTE_IP4 = 92,
	SK_LOCAL_IP4 = 96,
	SK_REMOTE_IP6 = 100,
	SK_LOCAL_IP6 = 116,
	SK_TSTAMP = 152,
	SK_WIRE_LEN = 160,
	SK_GSO_SEGS = 164,
	SK_GSO_SIZE = 172,
	SK_HWTSTAMP = 184
};

/* only the fields a caller may set are non-zero (convert___skb_to_skb) */
static bool skb_ctx_ok(const uint8_t *c)
{
	return all_zero(c, 0, SK_MARK) && all_zero(c, SK_MARK + 4, SK_PRIORITY) &&
	       all_zero(c, SK_IFINDEX + 4, SK_CB) && all_zero(c, SK_CB + 20, SK_TSTAMP) &&
	       all_zero(c, SK_GSO_SEGS + 4, SK_GSO_SIZE) &&
	       all_zero(c, SK_GSO_SIZE + 4, SK_HWTSTAMP);
}

/* the device's hardware or broadcast address (lo: zeros, both) */
static void dev_addr(uint32_t ifindex, const char *which, uint8_t mac[6])
{
	char name[IF_NAMESIZE], path[128];
	unsigned int b[6];
	FILE *f;

	memset(mac, 0, 6);
	if (ifindex <= 1 || !if_indextoname(ifindex, name))
		return;
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, which);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) == 6)
		for (int i = 0; i < 6; i++)
			mac[i] = (uint8_t)b[i];
	fclose(f);
}

static int test_run_skb(struct bpftime_runtime *rt, int fd, const struct bpftime_prog_info *info,
			struct bpftime_test_run_opts *o)
{
	bool l2 = info->type == T_SCHED_CLS || info->type == T_SCHED_ACT;
	uint32_t size = o->data_size_in, ifindex = 1;
	struct bpftime_skb_ctx *s = NULL;
	uint8_t *c = NULL, *buf = NULL, *eth, mac[6], bcast[6];
	uint16_t proto;
	int err;

	if ((o->flags & ~F_TEST_SKB_CSUM_COMP) || o->cpu || o->batch_size)
		return -EINVAL;
	if (size < ETH_HLEN)
		return -EINVAL;
	if (size > PAGE_SZ - SKB_HEADROOM - SHINFO_ROOM)
		return -EINVAL;
	if (o->flags & F_TEST_SKB_CSUM_COMP) {
		pr_warn("prog %d: BPF_F_TEST_SKB_CHECKSUM_COMPLETE is not supported\n", fd);
		return -EOPNOTSUPP;
	}
	c = ctx_init(o, SKB_VIEW_SIZE, &err);
	if (err)
		return err;
	buf = mem_calloc(1, PAGE_SZ);
	s = mem_calloc(1, sizeof(*s));
	if (!buf || !s) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(buf + SKB_HEADROOM, o->data_in, size);
	if (c && rd32(c, SK_IFINDEX) > 1) {
		ifindex = rd32(c, SK_IFINDEX);
		if (!rx_queues(ifindex)) {
			err = -ENODEV;
			goto out;
		}
	}
	/* eth_type_trans: the packet type from the destination address, the
	 * protocol from the type field (802.3 / 802.2 below 0x600), and the
	 * Ethernet header pulled */
	eth = buf + SKB_HEADROOM;
	dev_addr(ifindex, "address", mac);
	dev_addr(ifindex, "broadcast", bcast);
	if (memcmp(eth, mac, 6))
		s->sk[SK_PKT_TYPE / 4] = (eth[0] & 1) ? (memcmp(eth, bcast, 6) ? 2 : 1) : 3;
	if (eth[12] * 256 + eth[13] >= 0x600)
		memcpy(&proto, eth + 12, 2);
	else if (size >= ETH_HLEN + 2 && eth[14] == 0xff && eth[15] == 0xff)
		proto = 0x0100; /* htons(ETH_P_802_3) */
	else
		proto = 0x0400; /* htons(ETH_P_802_2) */
	s->sk[SK_PROTOCOL / 4] = proto;
	s->head = (uint64_t)(uintptr_t)buf;
	s->end = s->head + PAGE_SZ - SHINFO_ROOM;
	s->data = s->head + SKB_HEADROOM + ETH_HLEN;
	s->data_end = s->head + SKB_HEADROOM + size;
	/* the socket the kernel makes: its family and addresses from the
	 * network header */
	if (proto == 0x0008) { /* IPv4 */
		if (size - ETH_HLEN < 20) {
			err = -EINVAL;
			goto out;
		}
		s->sk[SK_FAMILY / 4] = 2;
		memcpy(&s->sk[SK_LOCAL_IP4 / 4], eth + ETH_HLEN + 12, 4);
		memcpy(&s->sk[SK_REMOTE_IP4 / 4], eth + ETH_HLEN + 16, 4);
	} else if (proto == 0xdd86) { /* IPv6 */
		if (size - ETH_HLEN < 40) {
			err = -EINVAL;
			goto out;
		}
		s->sk[SK_FAMILY / 4] = 10;
		memcpy(&s->sk[SK_LOCAL_IP6 / 4], eth + ETH_HLEN + 8, 16);
		memcpy(&s->sk[SK_REMOTE_IP6 / 4], eth + ETH_HLEN + 24, 16);
	}
	if (l2)
		s->data -= ETH_HLEN;
	s->data_meta = s->data;
	s->sk[SK_LEN / 4] = (uint32_t)(s->data_end - s->data);
	s->sk[SK_IFINDEX / 4] = ifindex;
	if (c) {
		/* qdisc_skb_cb's pkt_len: set only from a given context */
		s->sk[SK_WIRE_LEN / 4] = s->sk[SK_LEN / 4];
		if (!skb_ctx_ok(c)) {
			err = -EINVAL;
			goto out;
		}
		s->sk[SK_MARK / 4] = rd32(c, SK_MARK);
		s->sk[SK_PRIORITY / 4] = rd32(c, SK_PRIORITY);
		s->sk[SK_INGRESS_IFINDEX / 4] = rd32(c, SK_INGRESS_IFINDEX);
		memcpy(&s->sk[SK_TSTAMP / 4], c + SK_TSTAMP, 8);
		memcpy(&s->sk[SK_CB / 4], c + SK_CB, 20);
		if (rd32(c, SK_WIRE_LEN)) {
			if (rd32(c, SK_WIRE_LEN) < s->sk[SK_LEN / 4] ||
			    rd32(c, SK_WIRE_LEN) > GSO_LEGACY_MAX) {
				err = -EINVAL;
				goto out;
			}
			s->sk[SK_WIRE_LEN / 4] = rd32(c, SK_WIRE_LEN);
		}
		/* gso_size: accepted by older kernels, refused by 6.18 (a GSO
		 * skb without a GSO type) */
		if (rd32(c, SK_GSO_SEGS) > GSO_MAX_SEGS || rd32(c, SK_GSO_SIZE)) {
			err = -EINVAL;
			goto out;
		}
		s->sk[SK_GSO_SEGS / 4] = rd32(c, SK_GSO_SEGS);
		s->sk[SK_GSO_SIZE / 4] = rd32(c, SK_GSO_SIZE);
		memcpy(&s->sk[SK_HWTSTAMP / 4], c + SK_HWTSTAMP, 8);
	}
	err = run_timed(rt, fd, s, sizeof(*s), o->repeat, o);
	if (err)
		goto out;
	if (!l2) {
		/* the header goes back, zeroed */
		s->data -= ETH_HLEN;
		memset((void *)(uintptr_t)s->data, 0, ETH_HLEN);
	}
	if (c) { /* convert_skb_to___skb */
		wr32(c, SK_MARK, s->sk[SK_MARK / 4]);
		wr32(c, SK_PRIORITY, s->sk[SK_PRIORITY / 4]);
		wr32(c, SK_INGRESS_IFINDEX, s->sk[SK_INGRESS_IFINDEX / 4]);
		wr32(c, SK_IFINDEX, ifindex);
		memcpy(c + SK_TSTAMP, &s->sk[SK_TSTAMP / 4], 8);
		memcpy(c + SK_CB, &s->sk[SK_CB / 4], 20);
		wr32(c, SK_WIRE_LEN, s->sk[SK_WIRE_LEN / 4]);
		wr32(c, SK_GSO_SEGS, s->sk[SK_GSO_SEGS / 4]);
		memcpy(c + SK_HWTSTAMP, &s->sk[SK_HWTSTAMP / 4], 8);
	}
	err = finish_data(o, (const void *)(uintptr_t)s->data, (uint32_t)(s->data_end - s->data));
	if (!err)
		err = finish_ctx(o, c, SKB_VIEW_SIZE);
out:
	free(s);
	free(buf);
	free(c);
	return err;
}

/* ---- argument arrays and buffers ---------------------------------------------------- */

static int test_run_args(struct bpftime_runtime *rt, int fd, struct bpftime_vm *vm,
			 struct bpftime_test_run_opts *o)
{
	uint8_t args[12 * 8] = { 0 };
	long ncpu;
	int err;

	if (o->data_in || o->data_out || o->ctx_out || o->duration || o->repeat || o->batch_size)
		return -EINVAL;
	if (o->ctx_size_in < bpftime_vm__ctx_size(vm) || o->ctx_size_in > sizeof(args))
		return -EINVAL;
	if (!(o->flags & F_TEST_RUN_ON_CPU) && o->cpu)
		return -EINVAL;
	ncpu = sysconf(_SC_NPROCESSORS_CONF);
	if ((o->flags & F_TEST_RUN_ON_CPU) && (long)o->cpu >= ncpu)
		return -ENXIO;
	if (o->ctx_size_in)
		memcpy(args, o->ctx_in, o->ctx_size_in);
	err = run_timed(rt, fd, o->ctx_size_in ? args : NULL, o->ctx_size_in, 1, o);
	o->duration = 0; /* the kernel reports none */
	return err;
}

static int test_run_syscall(struct bpftime_runtime *rt, int fd, struct bpftime_vm *vm,
			    struct bpftime_test_run_opts *o)
{
	uint8_t *ctx = NULL;
	int err;

	if (o->data_in || o->data_out || o->ctx_out || o->duration || o->repeat || o->flags ||
	    o->batch_size)
		return -EINVAL;
	if (o->ctx_size_in < bpftime_vm__ctx_size(vm) || o->ctx_size_in > 65535)
		return -EINVAL;
	if (o->ctx_size_in) {
		ctx = mem_alloc(o->ctx_size_in);
		if (!ctx)
			return -ENOMEM;
		memcpy(ctx, o->ctx_in, o->ctx_size_in);
	}
	err = run_timed(rt, fd, ctx, o->ctx_size_in, 1, o);
	o->duration = 0;
	if (!err && ctx)
		memcpy(o->ctx_in, ctx, o->ctx_size_in);
	free(ctx);
	return err;
}

/* bpftime's raw memory programs: the bytes are the memory, r2 their length */
static int test_run_raw(struct bpftime_runtime *rt, int fd, struct bpftime_test_run_opts *o)
{
	bool use_ctx = o->ctx_in != NULL;
	uint32_t len = use_ctx ? o->ctx_size_in : o->data_size_in;
	uint8_t *mem = mem_calloc(1, len ? len : 1);
	int err;

	if (!mem)
		return -ENOMEM;
	if (len)
		memcpy(mem, use_ctx ? o->ctx_in : o->data_in, len);
	err = run_timed(rt, fd, mem, len, o->repeat, o);
	if (!err && use_ctx)
		err = finish_ctx(o, mem, len);
	else if (!err)
		err = finish_data(o, mem, len);
	free(mem);
	return err;
}

int bpftime_runtime__test_run(struct bpftime_runtime *rt, int fd, struct bpftime_test_run_opts *o)
{
	struct bpftime_prog_info info;
	struct bpftime_vm *vm;

	if (!rt || !o || o->sz < sizeof(*o))
		return -EINVAL;
	if (bpftime_prog_get_info(rt->shm, fd, &info))
		return -EBADF;
	if ((o->ctx_size_in && !o->ctx_in) || (!o->ctx_size_in && o->ctx_in) ||
	    (o->ctx_size_out && !o->ctx_out) || (!o->ctx_size_out && o->ctx_out))
		return -EINVAL;
	switch (info.type) {
	case T_RAW:
	case T_SOCKET_FILTER:
	case T_SCHED_CLS:
	case T_SCHED_ACT:
	case T_XDP:
	case T_CGROUP_SKB:
	case T_RAW_TP:
	case T_TRACING:
	case T_SYSCALL:
		break;
	default:
		return -ENOTSUPP;
	}
	/* build (verify, compile) outside the timing */
	vm = bpftime_runtime__prog(rt, fd);
	if (!vm)
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	switch (info.type) {
	case T_XDP:
		return test_run_xdp(rt, fd, &info, o);
	case T_SOCKET_FILTER:
	case T_SCHED_CLS:
	case T_SCHED_ACT:
	case T_CGROUP_SKB:
		return test_run_skb(rt, fd, &info, o);
	case T_RAW_TP:
	case T_TRACING:
		return test_run_args(rt, fd, vm, o);
	case T_SYSCALL:
		return test_run_syscall(rt, fd, vm, o);
	default:
		return test_run_raw(rt, fd, o);
	}
}
