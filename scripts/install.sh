#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The one-command user install: builds bpftime without its tests, benchmarks
# and examples (no cmocka, no clang needed) and installs it, by default into
# ~/.bpftime as the original bpftime does:
#
#   scripts/install.sh [-i DIR | --install-location DIR] [--no-setup]
#
#   DIR/bin/       bpftime, bpftimetool, bpftime-aot    (put it on PATH)
#   DIR/lib/       libbpftime-agent.so, libbpftime-syscall-server.so,
#                  libbpftime-vm.so, libbpftime-llvm.so, pkgconfig/, cmake/
#   DIR/include/bpftime/
#
# --no-setup skips installing the Debian build dependencies (scripts/setup.sh).
# The build directory is build-install/ in the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$HOME/.bpftime"
setup=1
while [ $# -gt 0 ]; do
  case $1 in
    -i|--install-location) [ $# -ge 2 ] || { echo "install.sh: $1 needs a directory" >&2; exit 2; }
                           prefix=$2; shift 2 ;;
    --install-location=*)  prefix=${1#*=}; shift ;;
    --no-setup)            setup=0; shift ;;
    -h|--help)             sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (-i DIR, --no-setup)" >&2; exit 2 ;;
  esac
done
[ "$setup" = 1 ] && scripts/setup.sh --runtime
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
scripts/build.sh build-install -DCMAKE_BUILD_TYPE=Release -DBPFTIME_BUILD_TESTS=OFF \
  -DBPFTIME_BUILD_BENCH=OFF -DBPFTIME_BUILD_EXAMPLES=OFF
cmake --install build-install --prefix "$prefix"
echo
echo "bpftime is installed in $prefix."
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "Add it to your PATH (and to ~/.bashrc):  export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
