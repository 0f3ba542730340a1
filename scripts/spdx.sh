#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx.sh: gives every source file of the tree an SPDX-License-Identifier
# line (MIT, see LICENSE) where it has none in its first lines; files that
# name a licence already (the GPL-2.0 eBPF examples) keep theirs, and the
# generated kernel type dump examples/include/vmlinux.h is left alone.
#   scripts/spdx.sh          add the missing lines
#   scripts/spdx.sh --check  list files without one; exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
line='SPDX-License-Identifier: MIT'
missing=0
while IFS= read -r f; do
  case $f in examples/include/vmlinux.h) continue ;; esac
  [ -f "$f" ] || continue
  head -n 5 "$f" | grep -q 'SPDX-License-Identifier' && continue
  missing=$((missing + 1))
  if [ $check = 1 ]; then echo "$f"; continue; fi
  case $f in
    *.sh|*.sed|.ci/run)
      if head -n 1 "$f" | grep -q '^#!'; then
        sed -i "1a # $line" "$f"
      else
        sed -i "1i # $line" "$f"
      fi ;;
    *CMakeLists.txt|*.cmake|*.in|*.py) sed -i "1i # $line" "$f" ;;
    *) sed -i "1i /* $line */" "$f" ;;
  esac
done < <(git ls-files '*.c' '*.h' '*.cc' '*.S' '*.def' '*.map' '*.sh' '*.sed' '*.py' '.ci/run' \
                      'CMakeLists.txt' '*/CMakeLists.txt' '*.cmake' '*.in')
if [ $check = 1 ]; then
  [ $missing = 0 ] || { echo "spdx.sh: $missing files without an SPDX line" >&2; exit 1; }
else
  echo "spdx.sh: added the SPDX line to $missing files"
fi
