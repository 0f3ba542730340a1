/* SPDX-License-Identifier: MIT */
/* runtime/percpu.c: does a program need a per-CPU slot for its runs?
 *
 * A run owns a per-CPU slot (shm/cpu.c: bpftime_shm__cpu_get) so that no
 * other run uses the same CPU's per-CPU data meanwhile, the kernel's
 * guarantee.  The claim costs a CAS on a shared line per run; a program
 * that touches no per-CPU data does not need it, and most uprobe programs
 * (counting into a hash or an array, ring buffer output, printk) do not.
 *
 * Decided once, when the runtime builds the program (runtime.c build_vm):
 * the lddw resolver (lddw.c) sees every map the program names, whatever
 * the pseudo source (fd, fd_array index, value), and the loaded program's
 * calls name its helpers.  A run needs a slot when the program uses
 *   - a map whose type is not known to keep no per-CPU state (per-CPU
 *     maps, perf event arrays for BPF_F_CURRENT_CPU, maps of maps and
 *     program arrays, whose inner maps and tail-called programs are not
 *     known here, and any type added later);
 *   - a helper with per-CPU state: get_smp_processor_id, perf_event_output
 *     (and the skb/xdp output helpers), tail_call, per_cpu_ptr,
 *     this_cpu_ptr; or a kfunc.
 */
#include <errno.h>
#include <bpftime/insn.h>
#include <bpftime/map.h>
#include "internal.h"

bool rt_map_needs_cpu(uint32_t map_type)
{
	switch (map_type) {
	case BPFTIME_MAP_HASH:
	case BPFTIME_MAP_ARRAY:
	case BPFTIME_MAP_STACK_TRACE:
	case BPFTIME_MAP_LRU_HASH:
	case BPFTIME_MAP_LPM_TRIE:
	case BPFTIME_MAP_QUEUE:
	case BPFTIME_MAP_STACK:
	case BPFTIME_MAP_RINGBUF:
	case BPFTIME_MAP_BLOOM_FILTER:
		return false;
	default:
		return true;
	}
}

static bool helper_needs_cpu(int32_t id)
{
	switch (id) {
	case 8:	  /* get_smp_processor_id */
	case 12:  /* tail_call */
	case 25:  /* perf_event_output */
	case 111: /* skb_output */
	case 121: /* xdp_output */
	case 153: /* per_cpu_ptr */
	case 154: /* this_cpu_ptr */
		return true;
	default:
		return false;
	}
}

bool rt_helpers_need_cpu(const struct bpftime_vm *vm)
{
	const struct bpftime_insn *insns;
	size_t cnt = 0;

	insns = bpftime_vm__insns(vm, &cnt);
	if (!insns)
		return true;
	for (size_t i = 0; i < cnt; i++) {
		if (insns[i].code != 0x85 /* call */)
			continue;
		if (insns[i].src == BPFTIME_CALL_KFUNC ||
		    (insns[i].src == BPFTIME_CALL_HELPER && helper_needs_cpu(insns[i].imm)))
			return true;
	}
	return false;
}
