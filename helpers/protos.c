/* SPDX-License-Identifier: MIT */
/* helpers/protos.c: what the verifier knows about this runtime: the
 * prototype of every helper of helpers.def (argument and return kinds, the
 * map types each accepts), the context rules of each program type, and the
 * maps of a segment.  bpftime_verifier_ops__init() plugs them into the VM's
 * verifier, as the kernel's bpf_verifier_ops do.
 *
 * The prototypes are one table: a PROTO_<name> row per helpers.def row.  A
 * helper added to helpers.def without its row here does not compile.  They
 * follow the kernel's bpf_func_proto of each helper; where bpftime keeps its
 * own semantics the row says so.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <bpftime/map.h>
#include <bpftime/shm.h>
#include "internal.h"
#include "common/compiler.h"
#include "common/log.h"

/* map types (the kernel's enum bpf_map_type) as bits of proto->map_types */
#define M(t)	       (UINT64_C(1) << (t))
#define M_HASH	       M(1)
#define M_ARRAY	       M(2)
#define M_PROG_ARRAY   M(3)
#define M_PERF_EVENT   M(4)
#define M_PERCPU_HASH  M(5)
#define M_PERCPU_ARRAY M(6)
#define M_STACK_TRACE  M(7)
#define M_LRU_HASH     M(9)
#define M_LRU_PERCPU   M(10)
#define M_LPM	       M(11)
#define M_QUEUE	       M(22)
#define M_STACK	       M(23)
#define M_RINGBUF      M(27)
#define M_BLOOM	       M(30)
/* maps whose values programs reach through map_lookup_elem */
#define M_LOOKUP \
	(M_HASH | M_ARRAY | M_PERCPU_HASH | M_PERCPU_ARRAY | M_LRU_HASH | M_LRU_PERCPU | M_LPM)

#define ANY  BPFTIME_ARG_ANYTHING
#define MAP  BPFTIME_ARG_CONST_MAP_PTR
#define KEY  BPFTIME_ARG_MAP_KEY
#define VAL  BPFTIME_ARG_MAP_VALUE
#define UVAL BPFTIME_ARG_UNINIT_MAP_VALUE
#define MEM  BPFTIME_ARG_MEM
#define MEMN BPFTIME_ARG_MEM_OR_NULL
#define UMEM BPFTIME_ARG_UNINIT_MEM
#define SZ   BPFTIME_ARG_CONST_SIZE
#define SZ0  BPFTIME_ARG_CONST_SIZE_OR_ZERO
#define CTX  BPFTIME_ARG_CTX
#define ASZ  BPFTIME_ARG_CONST_ALLOC_SIZE_OR_ZERO
#define RBM  BPFTIME_ARG_RINGBUF_MEM
#define LOCK BPFTIME_ARG_SPIN_LOCK
#define CB   BPFTIME_ARG_CALLBACK
#define STR  BPFTIME_ARG_CONST_STR
#define STKN BPFTIME_ARG_STACK_OR_NULL
#define LPTR BPFTIME_ARG_LONG_PTR
/* the kernel's gpl_only (measured on 6.18: a non-GPL program's call is
 * refused with "cannot call GPL-restricted function ...") */
#define GPL  BPFTIME_HF_GPL_ONLY

#define P(ret, a1, a2, a3, a4, a5, flags, maps)                           \
	{                                                                 \
		BPFTIME_RET_##ret, { a1, a2, a3, a4, a5 }, flags, maps, 0 \
	}

// clang-format off
/*                                 RET                  R1    R2    R3    R4    R5  FLAGS  MAP TYPES */
/* bpftime keeps lookup/update on bloom filters callable (lookup finds no
 * value: NULL; update: -EINVAL): explicit rows, the kernel refuses both */
/* on a map of maps the result is the inner map, or NULL */
#define PROTO_map_lookup_elem      P(MAP_VALUE_OR_NULL,  MAP,  KEY,  0,    0,    0,  0, M_LOOKUP | M_BLOOM | M(12) | M(13))
#define PROTO_map_update_elem      P(INTEGER,            MAP,  KEY,  VAL,  ANY,  0,  0, M_LOOKUP | M_BLOOM)
#define PROTO_map_delete_elem      P(INTEGER,            MAP,  KEY,  0,    0,    0,  0, M_LOOKUP)
#define PROTO_probe_read           P(INTEGER,            UMEM, SZ0,  ANY,  0,    0, GPL, 0)
#define PROTO_ktime_get_ns         P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
/* the kernel declares only the format: r3..r5 may be unset */
#define PROTO_trace_printk         P(INTEGER,            MEM,  SZ,   0,    0,    0, GPL, 0)
#define PROTO_get_prandom_u32      P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_get_smp_processor_id P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_skb_store_bytes      P(INTEGER,            CTX,  ANY,  MEM,  SZ,   ANY, BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_l3_csum_replace      P(INTEGER,            CTX,  ANY,  ANY,  ANY,  ANY, BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_l4_csum_replace      P(INTEGER,            CTX,  ANY,  ANY,  ANY,  ANY, BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_tail_call            P(INTEGER,            CTX,  MAP,  ANY,  0,    0,  BPFTIME_HF_TAIL_CALL, M_PROG_ARRAY)
#define PROTO_get_current_pid_tgid P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_get_current_uid_gid  P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_get_current_comm     P(INTEGER,            UMEM, SZ,   0,    0,    0,  0, 0)
#define PROTO_redirect             P(INTEGER,            ANY,  ANY,  0,    0,    0,  0, 0)
#define PROTO_perf_event_output    P(INTEGER,            CTX,  MAP,  ANY,  MEM,  SZ0, GPL, M_PERF_EVENT)
#define PROTO_skb_load_bytes       P(INTEGER,            CTX,  ANY,  UMEM, SZ,   0,  0, 0)
#define PROTO_get_stackid          P(INTEGER,            CTX,  MAP,  ANY,  0,    0, GPL, M_STACK_TRACE)
#define PROTO_csum_diff            P(INTEGER,            MEMN, SZ0,  MEMN, SZ0,  ANY, BPFTIME_HF_PKT_ACCESS, 0)
#define PROTO_xdp_adjust_head      P(INTEGER,            CTX,  ANY,  0,    0,    0,  BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_xdp_adjust_meta      P(INTEGER,            CTX,  ANY,  0,    0,    0,  BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_xdp_adjust_tail      P(INTEGER,            CTX,  ANY,  0,    0,    0,  BPFTIME_HF_CHANGES_PKT, 0)
#define PROTO_probe_write_user     P(INTEGER,            ANY,  MEM,  SZ,   0,    0, GPL, 0)
#define PROTO_probe_read_str       P(INTEGER,            UMEM, SZ0,  ANY,  0,    0, GPL, 0)
/* bpftime: override_return also from uprobes (r1 = the probe's pt_regs) */
#define PROTO_override_return      P(INTEGER,            CTX,  ANY,  0,    0,    0, GPL, 0)
#define PROTO_get_stack            P(INTEGER,            CTX,  UMEM, SZ0,  ANY,  0, GPL, 0)
#define PROTO_map_push_elem        P(INTEGER,            MAP,  VAL,  ANY,  0,    0,  0, M_QUEUE | M_STACK | M_BLOOM)
#define PROTO_map_pop_elem         P(INTEGER,            MAP,  UVAL, 0,    0,    0,  0, M_QUEUE | M_STACK)
#define PROTO_map_peek_elem        P(INTEGER,            MAP,  UVAL, 0,    0,    0,  0, M_QUEUE | M_STACK | M_BLOOM)
#define PROTO_spin_lock            P(VOID,               LOCK, 0,    0,    0,    0,  BPFTIME_HF_LOCK, 0)
#define PROTO_spin_unlock          P(VOID,               LOCK, 0,    0,    0,    0,  BPFTIME_HF_UNLOCK, 0)
/* the kernel's: u32 sig (ARG_ANYTHING) */
#define PROTO_send_signal          P(INTEGER,            ANY,  0,    0,    0,    0,  0, 0)
#define PROTO_send_signal_thread   P(INTEGER,            ANY,  0,    0,    0,    0,  0, 0)
#define PROTO_probe_read_user      P(INTEGER,            UMEM, SZ0,  ANY,  0,    0, GPL, 0)
#define PROTO_probe_read_kernel    P(INTEGER,            UMEM, SZ0,  ANY,  0,    0, GPL, 0)
#define PROTO_probe_read_user_str  P(INTEGER,            UMEM, SZ0,  ANY,  0,    0, GPL, 0)
#define PROTO_probe_read_kernel_str P(INTEGER,           UMEM, SZ0,  ANY,  0,    0, GPL, 0)
#define PROTO_ktime_get_boot_ns    P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_ringbuf_output       P(INTEGER,            MAP,  MEM,  SZ0,  ANY,  0,  0, M_RINGBUF)
#define PROTO_ringbuf_reserve      P(ALLOC_MEM_OR_NULL,  MAP,  ASZ,  ANY,  0,    0,  0, M_RINGBUF)
#define PROTO_ringbuf_submit       P(VOID,               RBM,  ANY,  0,    0,    0,  BPFTIME_HF_RELEASE, 0)
#define PROTO_ringbuf_discard      P(VOID,               RBM,  ANY,  0,    0,    0,  BPFTIME_HF_RELEASE, 0)
#define PROTO_ringbuf_query        P(INTEGER,            MAP,  ANY,  0,    0,    0,  0, M_RINGBUF)
#define PROTO_ktime_get_coarse_ns  P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_for_each_map_elem    P(INTEGER,            MAP,  CB,   STKN, ANY,  0,  BPFTIME_HF_FOR_EACH_CB, M_HASH | M_ARRAY | M_PERCPU_HASH | M_PERCPU_ARRAY | M_LRU_HASH | M_LRU_PERCPU)
#define PROTO_snprintf             P(INTEGER,            UMEM, SZ0,  STR,  MEMN, SZ0, GPL, 0)
#define PROTO_get_func_ip          P(INTEGER,            CTX,  0,    0,    0,    0, GPL, 0)
#define PROTO_get_attach_cookie    P(INTEGER,            CTX,  0,    0,    0,    0,  0, 0)
#define PROTO_trace_vprintk        P(INTEGER,            MEM,  SZ,   MEMN, SZ0,  0, GPL, 0)
#define PROTO_loop                 P(INTEGER,            ANY,  CB,   STKN, ANY,  0,  BPFTIME_HF_LOOP_CB, 0)
#define PROTO_strncmp              P(INTEGER,            MEM,  SZ,   STR,  0,    0,  0, 0)
#define PROTO_get_func_arg         P(INTEGER,            CTX,  ANY,  LPTR, 0,    0,  0, 0)
#define PROTO_get_func_ret         P(INTEGER,            CTX,  LPTR, 0,    0,    0,  0, 0)
#define PROTO_get_func_arg_cnt     P(INTEGER,            CTX,  0,    0,    0,    0,  0, 0)
#define PROTO_get_retval           P(INTEGER,            0,    0,    0,    0,    0,  0, 0)
#define PROTO_set_retval           P(INTEGER,            ANY,  0,    0,    0,    0,  0, 0)
#define PROTO_map_lookup_percpu_elem P(MAP_VALUE_OR_NULL, MAP, KEY,  ANY,  0,    0,  0, M_PERCPU_HASH | M_PERCPU_ARRAY | M_LRU_PERCPU)
// clang-format on

static const struct bpftime_helper_proto protos[BPFTIME_MAX_HELPER_ID + 1] = {
#define HELPER(name, id, nargs)	    [id] = PROTO_##name,
#define HELPER_EXT(name, id, nargs) [id] = PROTO_##name,
#define HELPER_VM(name, id, nargs)  [id] = PROTO_##name,
#include "helpers.def"
};

static const uint8_t proto_nargs[BPFTIME_MAX_HELPER_ID + 1] = {
#define HELPER(name, id, nargs)	    [id] = nargs,
#define HELPER_EXT(name, id, nargs) [id] = nargs,
#define HELPER_VM(name, id, nargs)  [id] = nargs,
#include "helpers.def"
};

const struct bpftime_helper_proto *bpftime_helper__proto(uint32_t id)
{
	const struct bpftime_helper_proto *p;
	int n = 0;

	if (id > BPFTIME_MAX_HELPER_ID || !bpftime_helper__name(id))
		return NULL;
	p = &protos[id];
	while (n < 5 && p->arg[n])
		n++;
	/* the table declares at most helpers.def's argument count (checked by
	 * verifier_test); more is a bug: refuse the helper */
	return n <= proto_nargs[id] ? p : NULL;
}

/* ---- context rules per program type ------------------------------------------- */

#define PT_REGS_SIZE 168 /* struct pt_regs, x86-64 */

static bool aligned(int32_t off, uint32_t size)
{
	return (size == 1 || size == 2 || size == 4 || size == 8) && off % (int32_t)size == 0;
}

/* kprobe/uprobe: struct pt_regs, read only */
static int ctx_pt_regs(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	*t = BPFTIME_CTX_SCALAR;
	if (write || off < 0 || !aligned(off, size) || off + (int32_t)size > PT_REGS_SIZE)
		return -EACCES;
	return 0;
}

/* tracepoint: the record (at most PERF_MAX_TRACE_SIZE bytes), read only */
static int ctx_tracepoint(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	*t = BPFTIME_CTX_SCALAR;
	/* the common fields (type, flags, pid: the first 8 bytes) are refused */
	if (write || off < 8 || off >= 2048 || !aligned(off, size) || off + (int32_t)size > 2048)
		return -EACCES;
	return 0;
}

/* raw tracepoint / tracing: u64 args[12], read only */
static int ctx_raw_tp(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	*t = BPFTIME_CTX_SCALAR;
	if (write || off < 0 || !aligned(off, size) || off + (int32_t)size > 12 * 8)
		return -EACCES;
	return 0;
}

/* perf_event: struct bpf_perf_event_data { pt_regs; u64 sample_period; u64 addr } */
static int ctx_perf_event(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	*t = BPFTIME_CTX_SCALAR;
	if (write || off < 0 || !aligned(off, size) || off + (int32_t)size > PT_REGS_SIZE + 16)
		return -EACCES;
	if (off < PT_REGS_SIZE && size != 8) /* narrow loads only of sample_period, addr */
		return -EACCES;
	return 0;
}

/* xdp: struct xdp_md, six u32 read as u32 only; egress_ifindex (20) only
 * for devmap programs (expected_attach_type BPF_XDP_DEVMAP) */
static int ctx_xdp_any(bool devmap, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	*t = BPFTIME_CTX_SCALAR;
	if (write || off < 0 || off >= (devmap ? 24 : 20) || size != 4 || off % 4)
		return -EACCES;
	if (off == 0)
		*t = BPFTIME_CTX_PACKET;
	else if (off == 4)
		*t = BPFTIME_CTX_PACKET_END;
	else if (off == 8)
		*t = BPFTIME_CTX_PACKET_META;
	return 0;
}

static int ctx_xdp(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	return ctx_xdp_any(false, off, size, write, t);
}

static int ctx_xdp_devmap(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	return ctx_xdp_any(true, off, size, write, t);
}

/* __sk_buff (192 bytes): u32 fields, data/data_end/data_meta pointers for
 * tc, cb[] writable; socket filters see fewer fields */
static int ctx_skb(bool tc, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	*t = BPFTIME_CTX_SCALAR;
	if (off < 0 || !aligned(off, size) || off + (int32_t)size > 192)
		return -EACCES;
	/* socket filters: no tc_classid, packet pointers, family .. local_port,
	 * tstamp, wire_len, hwtstamp */
	if (!tc && ((off >= 72 && off < 84) || (off >= 88 && off < 140 + 4) || off >= 152))
		return -EACCES;
	if (off >= 48 && off + (int32_t)size <= 68) /* cb[5] */
		return 0;
	if (off == 76 || off == 80 || off == 140) { /* data, data_end, data_meta */
		if (!tc || write || size != 4)
			return -EACCES;
		*t = off == 76	 ? BPFTIME_CTX_PACKET
		     : off == 80 ? BPFTIME_CTX_PACKET_END
				 : BPFTIME_CTX_PACKET_META;
		return 0;
	}
	if (off == 144 || off == 168) /* flow_keys, sk: pointers we do not model */
		return -EACCES;
	if (off == 152 || off == 184) { /* tstamp, hwtstamp: u64 */
		if (size != 8 || (write && (!tc || off == 184)))
			return -EACCES;
		return 0;
	}
	if (size > 4 || (off / 4) != ((off + (int32_t)size - 1) / 4))
		return -EACCES;
	if (!write)
		return 0;
	/* tc may write mark, queue_mapping, priority, tc_index, tc_classid */
	if (tc &&
	    (off / 4 * 4 == 8 || off / 4 * 4 == 12 || off / 4 * 4 == 32 || off / 4 * 4 == 44 ||
	     off / 4 * 4 == 72) &&
	    size == 4)
		return 0;
	return -EACCES;
}

static int ctx_skb_filter(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	return ctx_skb(false, off, size, write, t);
}

static int ctx_skb_tc(void *c, int32_t off, uint32_t size, bool write, enum bpftime_ctx_reg *t)
{
	UNUSED(c);
	return ctx_skb(true, off, size, write, t);
}

/* The kernel's convert_ctx_access for the two packet contexts: the
 * program's view (struct xdp_md, struct __sk_buff) onto struct
 * bpftime_xdp_ctx / bpftime_skb_ctx (bpftime/runtime.h).  The pointer
 * fields become 64-bit loads; every other field keeps its offset within
 * the view copy at BPFTIME_XDP_MD_OFF / BPFTIME_SKB_VIEW_OFF, so narrow
 * loads stay narrow loads. */
_Static_assert(offsetof(struct bpftime_xdp_ctx, md) == BPFTIME_XDP_MD_OFF, "xdp view");
_Static_assert(offsetof(struct bpftime_skb_ctx, sk) == BPFTIME_SKB_VIEW_OFF, "skb view");

static int convert_xdp(void *c, int32_t off, uint32_t size, bool write, int32_t *real_off,
		       uint32_t *real_size)
{
	UNUSED(c), UNUSED(write);
	*real_size = size;
	if (off == 0 || off == 4 || off == 8) { /* data, data_end, data_meta */
		*real_off = off * 2;
		*real_size = 8;
	} else {
		*real_off = BPFTIME_XDP_MD_OFF + off;
	}
	return 0;
}

static int convert_skb(void *c, int32_t off, uint32_t size, bool write, int32_t *real_off,
		       uint32_t *real_size)
{
	UNUSED(c), UNUSED(write);
	*real_size = size;
	if (off == 76 || off == 80 || off == 140) { /* data, data_end, data_meta */
		*real_off = off == 76 ? 0 : off == 80 ? 8 : 16;
		*real_size = 8;
	} else {
		*real_off = BPFTIME_SKB_VIEW_OFF + off;
	}
	return 0;
}

static int verifier_mode(void)
{
	static int mode = -1; /* 0 full, 1 structural */
	const char *e;

	if (mode >= 0)
		return mode;
	e = getenv("BPFTIME_VERIFIER");
	mode = e && !strcmp(e, "structural");
	if (mode)
		pr_warn("BPFTIME_VERIFIER=structural: the memory-safety verifier is OFF; programs "
			"that fault, hang or write where they may not will run in the host "
			"process\n");
	else if (e && *e && strcmp(e, "full"))
		pr_warn("unknown BPFTIME_VERIFIER '%s' (full or structural): using full\n", e);
	return mode;
}

/* ---- which helpers each program type may call -------------------------------
 *
 * As the kernel's get_func_proto per type (checked against a 6.18 kernel
 * with one-call probe programs): packet programs get the kernel's base set
 * plus their packet helpers; the other types keep every helper of ours
 * except the packet ones (bpftime's own rules: override_return from
 * uprobes, the probe-context helpers). */

static bool packet_helper(int32_t id)
{
	switch (id) {
	case 9:	 /* skb_store_bytes */
	case 10: /* l3_csum_replace */
	case 11: /* l4_csum_replace */
	case 23: /* redirect */
	case 26: /* skb_load_bytes */
	case 28: /* csum_diff */
	case 44: /* xdp_adjust_head */
	case 54: /* xdp_adjust_meta */
	case 65: /* xdp_adjust_tail */
		return true;
	default:
		return false;
	}
}

/* the kernel's bpf_base_func_proto (privileged), as far as we have it */
static bool base_helper(int32_t id)
{
	switch (id) {
	case 1 ... 3:	  /* map_lookup/update/delete_elem */
	case 5 ... 8:	  /* ktime_get_ns, trace_printk, get_prandom_u32, get_smp_processor_id */
	case 12:	  /* tail_call */
	case 14 ... 16:	  /* get_current_pid_tgid, get_current_uid_gid, get_current_comm */
	case 25:	  /* perf_event_output (the skb/xdp flavour) */
	case 87 ... 89:	  /* map_push/pop/peek_elem */
	case 93:	  /* spin_lock */
	case 94:	  /* spin_unlock */
	case 109:	  /* send_signal */
	case 112 ... 115: /* probe_read_user/kernel(_str) */
	case 117:	  /* send_signal_thread */
	case 125:	  /* ktime_get_boot_ns */
	case 130 ... 134: /* ringbuf_* */
	case 160:	  /* ktime_get_coarse_ns */
	case 164:	  /* for_each_map_elem */
	case 165:	  /* snprintf */
	case 177:	  /* trace_vprintk */
	case 181:	  /* loop */
	case 182:	  /* strncmp */
	case 195:	  /* map_lookup_percpu_elem */
		return true;
	default:
		return false;
	}
}

static const struct bpftime_helper_proto *proto_of(int32_t id)
{
	return id < 0 ? NULL : bpftime_helper__proto((uint32_t)id);
}

static const struct bpftime_helper_proto *proto_cb(void *ctx, int32_t id)
{
	UNUSED(ctx);
	return packet_helper(id) ? NULL : proto_of(id);
}

/* perf_event programs: the kernel's get_stackid of this type is not
 * gpl_only (bpf_get_stackid_proto_pe; measured on 6.18) */
static const struct bpftime_helper_proto get_stackid_pe =
	P(INTEGER, CTX, MAP, ANY, 0, 0, 0, M_STACK_TRACE);

static const struct bpftime_helper_proto *proto_perf_event(void *ctx, int32_t id)
{
	UNUSED(ctx);
	if (id == 27 && proto_of(id))
		return &get_stackid_pe;
	return packet_helper(id) ? NULL : proto_of(id);
}

static const struct bpftime_helper_proto *proto_xdp(void *ctx, int32_t id)
{
	UNUSED(ctx);
	if (base_helper(id) || id == 23 || id == 28 || id == 44 || id == 54 || id == 65)
		return proto_of(id);
	return NULL;
}

static const struct bpftime_helper_proto *proto_tc(void *ctx, int32_t id)
{
	UNUSED(ctx);
	if (base_helper(id) || id == 9 || id == 10 || id == 11 || id == 23 || id == 26 || id == 28)
		return proto_of(id);
	return NULL;
}

static const struct bpftime_helper_proto *proto_sk_filter(void *ctx, int32_t id)
{
	UNUSED(ctx);
	if (base_helper(id) || id == 26)
		return proto_of(id);
	return NULL;
}

int bpftime_verifier_ops__init(struct bpftime_verifier_ops *ops, uint32_t prog_type,
			       uint32_t expected_attach_type)
{
	if (!ops)
		return -EINVAL;
	memset(ops, 0, sizeof(*ops));
	ops->sz = sizeof(*ops);
	ops->helper_proto = proto_cb;
	switch (prog_type) {
	case BPFTIME_PROG_TYPE_RAW_MEMORY:
		ops->prog_type = "raw memory";
		ops->raw_ctx = true;
		ops->ctx_size = 1u << 24; /* the run's length bounds it (ctx extent) */
		break;
	case 1: /* socket filter */
		ops->prog_type = "socket_filter";
		ops->ctx_access = ctx_skb_filter;
		ops->ctx_convert = convert_skb;
		ops->helper_proto = proto_sk_filter;
		break;
	case 2: /* kprobe: bpftime's uprobes and uretprobes */
		ops->prog_type = "kprobe";
		ops->ctx_access = ctx_pt_regs;
		break;
	case 3: /* sched_cls */
	case 4: /* sched_act */
		ops->prog_type = "sched_cls";
		ops->ctx_access = ctx_skb_tc;
		ops->ctx_convert = convert_skb;
		ops->helper_proto = proto_tc;
		break;
	case 5: /* tracepoint */
		ops->prog_type = "tracepoint";
		ops->ctx_access = ctx_tracepoint;
		break;
	case 6:
		ops->prog_type = "xdp";
		ops->ctx_access =
			expected_attach_type == 33 /* BPF_XDP_DEVMAP */ ? ctx_xdp_devmap : ctx_xdp;
		ops->ctx_convert = convert_xdp;
		ops->helper_proto = proto_xdp;
		break;
	case 7:
		ops->prog_type = "perf_event";
		ops->ctx_access = ctx_perf_event;
		ops->helper_proto = proto_perf_event;
		break;
	case 8: /* cgroup_skb: the verdict is 0 or 1 */
		ops->prog_type = "cgroup_skb";
		ops->ctx_access = ctx_skb_filter;
		ops->ctx_convert = convert_skb;
		ops->helper_proto = proto_sk_filter;
		ops->ret_checked = true;
		ops->ret_min = 0;
		ops->ret_max = 1;
		break;
	case 17: /* raw tracepoint */
	case 24: /* raw tracepoint writable */
	case 26: /* tracing (fentry/fexit: args as u64) */
		ops->prog_type = "raw_tracepoint";
		ops->ctx_access = ctx_raw_tp;
		break;
	case 31: /* syscall: a user buffer of up to U16_MAX bytes */
		ops->prog_type = "syscall";
		ops->raw_ctx = true;
		ops->ctx_size = 65535;
		break;
	default:
		/* other types: helpers and maps as above, no context field */
		ops->prog_type = "unknown";
		ops->ctx_access = NULL;
		ops->ctx_size = 0;
	}
	return verifier_mode();
}

bool bpftime_license__gpl_compatible(const char *license)
{
	static const char *const gpl[] = {
		"GPL",		"GPL v2",	"GPL and additional rights",
		"Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
	};

	for (size_t i = 0; license && i < ARRAY_SIZE(gpl); i++)
		if (!strcmp(license, gpl[i]))
			return true;
	return false;
}

bool bpftime_prog_type__supported(uint32_t prog_type)
{
	switch (prog_type) {
	case 1:	 /* socket_filter */
	case 2:	 /* kprobe (uprobes) */
	case 3:	 /* sched_cls */
	case 4:	 /* sched_act */
	case 5:	 /* tracepoint */
	case 6:	 /* xdp */
	case 7:	 /* perf_event */
	case 8:	 /* cgroup_skb */
	case 17: /* raw_tracepoint */
	case 24: /* raw_tracepoint_writable */
	case 26: /* tracing */
	case 31: /* syscall */
		return true;
	default:
		return false;
	}
}

int bpftime_verifier_map__from_handle(struct bpftime_map *h, struct bpftime_verifier_map *out)
{
	struct bpftime_map_info info;
	uint64_t addr;

	bpftime_map__get_info(h, &info);
	memset(out, 0, sizeof(*out));
	out->type = info.type;
	out->key_size = info.key_size;
	out->value_size = info.value_size;
	out->max_entries = info.max_entries;
	out->spin_lock_off = info.has_spin_lock ? info.spin_lock_off : -1;
	out->rdonly_prog = info.map_flags & (1u << 7); /* BPF_F_RDONLY_PROG */
	out->frozen = info.frozen;
	out->id = info.id;
	out->inner_type = info.inner_map_type;
	out->inner_key_size = info.inner_key_size;
	out->inner_value_size = info.inner_value_size;
	out->inner_max_entries = info.inner_max_entries;
	if (out->rdonly_prog && out->frozen && info.type == BPFTIME_MAP_ARRAY &&
	    !bpftime_map__direct_value_addr(h, 0, &addr))
		out->ro_value = (const void *)(uintptr_t)addr;
	return 0;
}

int bpftime_verifier_map__from_shm(struct bpftime_shm *shm, int fd,
				   struct bpftime_verifier_map *out)
{
	struct bpftime_map *h = bpftime_map_get_handle(shm, fd);

	if (!h)
		return -EBADF;
	return bpftime_verifier_map__from_handle(h, out);
}
