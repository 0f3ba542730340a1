#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_format.sh [--fix]: every C source and header of the tree is as
# clang-format 14 writes it with the tree's .clang-format (generated files
# excepted: examples/include/vmlinux.h).  Names each file that differs and
# exits 1; --fix formats them in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
  echo "check_format: clang-format 14 not found (apt-get install clang-format-14)" >&2
  exit 1
fi
case $("$cf" --version) in
  *" 14."*) ;;
  *) echo "check_format: $cf is not clang-format 14: $("$cf" --version)" >&2; exit 1 ;;
esac
fix=0
[ "${1:-}" = --fix ] && fix=1
status=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  case $f in examples/include/vmlinux.h) continue ;; esac
  if [ $fix = 1 ]; then
    "$cf" -i "$f"
  elif ! "$cf" "$f" | cmp -s - "$f"; then
    echo "$f: differs from .clang-format (scripts/check_format.sh --fix)" >&2
    status=1
  fi
done < <(git ls-files --cached --others --exclude-standard '*.c' '*.h')
[ $status = 0 ] && [ $fix = 0 ] && echo "check_format: ok"
exit $status
