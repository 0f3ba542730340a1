#!/usr/bin/env bash
# The README's demo command (for now; the uprobe demo replaces it later):
# installs what is missing, builds into build/, and runs a real eBPF program
# compiled from C by clang (bench/progs/crc32.bpf.c: CRC-32 over 1 KiB)
# through the bpftime VM's interpreter and JIT (and LLVM when built), next to
# the kernel's own JIT via BPF_PROG_TEST_RUN when bpf() is usable here.
# Pass another program name (hash64 primes memops parser helpers) or "all".
set -euo pipefail
cd "$(dirname "$0")/.."
prog=${1:-crc32}

scripts/setup.sh
scripts/build.sh build

echo
if [ "$prog" = all ]; then
  echo "=== demo: every benchmark program in bench/progs/ through the bpftime VM ==="
  exec build/bench/vm_bench --reps 3
fi
echo "=== demo: bench/progs/$prog.bpf.c through the bpftime VM ==="
echo "(same input on every engine; the result must agree; times are ns per run)"
exec build/bench/vm_bench --prog "$prog" --reps 3
