#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's demo command: installs what is missing, builds into build/, and
# runs a real eBPF uprobe in userspace, end to end:
#   bpftime load  examples/malloc/malloc   an unmodified libbpf loader; its bpf()
#                                          and perf_event_open() land in shared memory
#   bpftime start examples/victim/victim   the target, with the agent preloaded: the
#                                          uprobe on libc's malloc runs inside it (JIT)
# The loader prints the per-pid malloc counts from its hash map; the victim
# prints how many times it called malloc: the two agree.  No kernel eBPF is used.
#
#   scripts/demo.sh                  the uprobe demo
#   scripts/demo.sh vm [PROG|all]    the VM demo: bench/progs/PROG.bpf.c (default
#                                    crc32) through the interpreter and the JIT
#                                    (and LLVM when built), next to the kernel's JIT
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-malloc}
case "$mode" in
  vm) prog=${2:-crc32} ;;
  malloc) ;;
  *) prog=$mode; mode=vm ;; # the older form: scripts/demo.sh crc32|all
esac

scripts/setup.sh
scripts/build.sh build

echo
if [ "$mode" = vm ]; then
  if [ "$prog" = all ]; then
    echo "=== demo: every benchmark program in bench/progs/ through the bpftime VM ==="
    exec build/bench/vm_bench --reps 3
  fi
  echo "=== demo: bench/progs/$prog.bpf.c through the bpftime VM ==="
  echo "(same input on every engine; the result must agree; times are ns per run)"
  exec build/bench/vm_bench --prog "$prog" --reps 3
fi

bpftime=build/tools/bpftime/bpftime
export BPFTIME_GLOBAL_SHM_NAME=bpftime_demo_$$
tmp=$(mktemp -d)
loader=
cleanup() {
  [ -n "$loader" ] && kill -INT "$loader" 2>/dev/null && wait "$loader" 2>/dev/null || true
  rm -f "/dev/shm/$BPFTIME_GLOBAL_SHM_NAME"
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "=== demo: a uprobe on libc's malloc, run in userspace by bpftime ==="
echo "\$ bpftime load build/examples/malloc/malloc -i 250 &"
"$bpftime" load build/examples/malloc/malloc -i 250 >"$tmp/loader.out" 2>"$tmp/loader.err" &
loader=$!
for _ in $(seq 300); do
  grep -q '^ready' "$tmp/loader.out" && break
  kill -0 "$loader" 2>/dev/null || { cat "$tmp/loader.err" >&2; exit 1; }
  sleep 0.1
done
sed 's/^/  [loader] /' "$tmp/loader.err"
echo "\$ bpftime start build/examples/victim/victim 25 20"
"$bpftime" start build/examples/victim/victim 25 20 | tee "$tmp/victim.out" | sed 's/^/  [victim] /'
pid=$(sed -n 's/.*pid \([0-9]*\)$/\1/p' "$tmp/victim.out")
calls=$(sed -n 's/^victim: \([0-9]*\) calls.*/\1/p' "$tmp/victim.out")
# the loader reports every 250 ms: wait for the report that includes the victim's exit
for _ in $(seq 100); do
  grep -q "^pid $pid: $calls malloc calls" "$tmp/loader.out" && break
  sleep 0.1
done
echo "loader's last report for the victim:"
grep "^pid $pid:" "$tmp/loader.out" | tail -n 1 | sed 's/^/  [loader] /'
if grep -q "^pid $pid: $calls malloc calls" "$tmp/loader.out"; then
  echo "the uprobe counted $calls malloc calls in pid $pid; the victim made $calls: they match"
else
  echo "mismatch: the victim made $calls malloc calls" >&2
  exit 1
fi
