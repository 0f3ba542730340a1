# SPDX-License-Identifier: MIT
# scripts/rename-issue15.sed: the mechanical renames of the restructuring (issue 15).
# Workflow for a branch that predates it: on your branch (before rebasing), run
#   git ls-files "*.c" "*.h" "*.md" | xargs sed -i -E -f <this file>; commit; then git rebase main.
# Run it once, on old-style code only (the map renames swap names, so they are not idempotent).
# 1. handle-shaped map calls become object methods (bpftime_map__X(map, ...))
s/\bbpftime_map_lookup_elem\b/bpftime_map__lookup_elem/g
s/\bbpftime_map_update_elem\b/bpftime_map__update_elem/g
s/\bbpftime_map_delete_elem\b/bpftime_map__delete_elem/g
s/\bbpftime_map_push_elem\b/bpftime_map__push_elem/g
s/\bbpftime_map_pop_elem\b/bpftime_map__pop_elem/g
s/\bbpftime_map_peek_elem\b/bpftime_map__peek_elem/g
s/\bbpftime_map_lookup_percpu_elem\b/bpftime_map__lookup_percpu_elem/g
s/\bbpftime_map_for_each_elem\b/bpftime_map__for_each_elem/g
s/\bbpftime_map_prog_array_get\b/bpftime_map__prog_array_get/g
s/\bbpftime_map_fd_array_get\b/bpftime_map__fd_array_get/g
s/\bbpftime_map_stack_store\b/bpftime_map__stack_store/g
s/\bbpftime_ringbuf_reserve\b/bpftime_map__ringbuf_reserve/g
s/\bbpftime_ringbuf_output\b/bpftime_map__ringbuf_output/g
s/\bbpftime_ringbuf_query\b/bpftime_map__ringbuf_query/g
s/\bbpftime_perf_event_output\b/bpftime_map__perf_event_output/g
# 2. fd-shaped calls (shm, fd, ...) follow bpf(2)'s command names
s/\bbpftime_map__create\b/bpftime_map_create/g
s/\bbpftime_map__lookup\b/bpftime_map_lookup_elem/g
s/\bbpftime_map__update\b/bpftime_map_update_elem/g
s/\bbpftime_map__delete\b/bpftime_map_delete_elem/g
s/\bbpftime_map__get_next_key\b/bpftime_map_get_next_key/g
s/\bbpftime_map__lookup_and_delete\b/bpftime_map_lookup_and_delete_elem/g
s/\bbpftime_map__freeze\b/bpftime_map_freeze/g
s/\bbpftime_map__info\b/bpftime_map_get_info/g
s/\bbpftime_map__mmap_region\b/bpftime_map_mmap_region/g
s/\bbpftime_map__handle\b/bpftime_map_get_handle/g
s/\bbpftime_handler__info\b/bpftime_handler_get_info/g
s/\bbpftime_handler__next\b/bpftime_handler_next/g
s/\bbpftime_handler__type\b/bpftime_handler_get_type/g
s/\bbpftime_handler__close\b/bpftime_handler_close/g
s/\bbpftime_handler__dup\b/bpftime_handler_dup/g
s/\bbpftime_handler__fd_by_id\b/bpftime_handler_fd_by_id/g
s/\bbpftime_handler__open_id\b/bpftime_handler_open_id/g
s/\bbpftime_handler__next_id\b/bpftime_handler_next_id/g
s/\bbpftime_handler__set_owner\b/bpftime_handler_set_owner/g
s/\bbpftime_obj__pin\b/bpftime_obj_pin/g
s/\bbpftime_obj__get\b/bpftime_obj_get/g
s/\bbpftime_obj__unpin\b/bpftime_obj_unpin/g
s/\bbpftime_obj__pin_at\b/bpftime_obj_pin_at/g
s/\bbpftime_prog__create\b/bpftime_prog_create/g
s/\bbpftime_prog__info\b/bpftime_prog_get_info/g
s/\bbpftime_prog__insns\b/bpftime_prog_insns/g
s/\bbpftime_prog__btf_ext\b/bpftime_prog_get_btf_ext/g
s/\bbpftime_prog__add_attach_fd\b/bpftime_prog_add_attach_fd/g
s/\bbpftime_prog__bind_map\b/bpftime_prog_bind_map/g
s/\bbpftime_prog__map_ids\b/bpftime_prog_map_ids/g
s/\bbpftime_prog__set_aot\b/bpftime_prog_set_aot/g
s/\bbpftime_prog__aot\b/bpftime_prog_aot/g
s/\bbpftime_perf_event__create\b/bpftime_perf_event_create/g
s/\bbpftime_perf_event__info\b/bpftime_perf_event_get_info/g
s/\bbpftime_perf_event__enable\b/bpftime_perf_event_enable/g
s/\bbpftime_perf_event__set_cookie\b/bpftime_perf_event_set_cookie/g
s/\bbpftime_perf_event__mmap_ring\b/bpftime_perf_event_mmap_ring/g
s/\bbpftime_link__create\b/bpftime_link_create/g
s/\bbpftime_link__info\b/bpftime_link_get_info/g
s/\bbpftime_btf__create\b/bpftime_btf_create/g
s/\bbpftime_btf__data\b/bpftime_btf_data/g
# 3. vm: public instruction header and callback entry
s/\bINSN_PSEUDO_/BPFTIME_PSEUDO_/g
s/\bINSN_CALL_(HELPER|LOCAL|KFUNC)\b/BPFTIME_CALL_\1/g
s/\benum insn_pseudo\b/enum bpftime_pseudo/g
s/\benum insn_call_kind\b/enum bpftime_call_kind/g
s/\bvm_call_func\b/bpftime_vm__call_func/g
# 4. map records and the ELF reader
s/\bstruct shm_map\b/struct map_record/g
s/\baot_progs__open\b/rt_elf_open/g
s/\baot_progs__free\b/rt_elf_free/g
s/\bstruct aot_prog\b/struct rt_elf_prog/g
