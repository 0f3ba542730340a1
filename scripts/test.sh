#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's test command: installs what is missing, builds, runs every test.
# Two build kinds, as CI runs them: gcc -O2 -Werror, and clang with ASan+UBSan.
# BPFTIME_TEST_KINDS="gcc" (or "asan") runs just one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# structural rules first: they need no build
scripts/check_layers.sh
scripts/check_format.sh # the tree as clang-format 14 writes it (.clang-format)
scripts/spdx.sh --check # every source file names its licence

kinds=${BPFTIME_TEST_KINDS:-gcc asan}
# every optional part, required: a missing cmocka or clang fails here
parts=(-DBPFTIME_BUILD_TESTS=ON -DBPFTIME_BUILD_BENCH=ON -DBPFTIME_BUILD_EXAMPLES=ON)
status=0
for kind in $kinds; do
  case $kind in
    gcc)
      CC=gcc CXX=g++ scripts/build.sh build-gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBPFTIME_WERROR=ON \
        "${parts[@]}"
      dir=build-gcc ;;
    asan)
      CC=clang CXX=clang++ scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG='-O1 -g' \
        -DBPFTIME_WERROR=ON -DBPFTIME_SANITIZE=ON -DBPFTIME_LLVM=OFF "${parts[@]}"
      dir=build-asan ;;
    *) echo "test.sh: unknown build kind '$kind' (gcc|asan)" >&2; exit 2 ;;
  esac
  echo "=== tests: $kind ==="
  (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2) || status=1
done
exit $status
