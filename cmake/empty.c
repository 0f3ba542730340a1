/* SPDX-License-Identifier: MIT */
/* cmake/empty.c: libbpftime-vm.so's own source: everything in it comes from
 * the bpftime_vm and bpftime_common archives (cmake/install.cmake). */
typedef int bpftime_vm_so_empty;
