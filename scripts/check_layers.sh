#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_layers.sh: the tree's structural rules, checked before any build.
#  - a directory's internal.h is included only from that directory (and its
#    subdirectories); a header meant for another layer has its own name;
#  - public headers (include/bpftime/) include no internal header.
# Exit 1 and name every offending line.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' '*.cc' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
for f in $files; do
  [ -f "$f" ] || continue
  dir=$(dirname "$f")
  while IFS=: read -r line inc; do
    [ -n "$inc" ] || continue
    target=${inc#*\"}; target=${target%%\"*}
    case $target in
      */internal.h) ;;
      internal.h) continue ;;   # the file's own directory
      *) continue ;;
    esac
    tdir=$(dirname "$target")
    case "$f" in
      include/*)
        echo "$f:$line: public header includes $target" >&2; status=1; continue ;;
    esac
    # allowed: the including file lies in tdir or below it
    case "$dir/" in
      "$tdir"/*) ;;
      *) echo "$f:$line: includes $target from outside $tdir/ (give the header its own name)" >&2
         status=1 ;;
    esac
  done < <(grep -n '^#include "' "$f" | sed 's/^\([0-9]*\):/\1:/' || true)
done
for f in include/bpftime/*.h; do
  if grep -n '^#include "' "$f" >/dev/null; then
    grep -n '^#include "' "$f" | sed "s|^|$f:|; s|\$|: public headers include only <...> headers|" >&2
    status=1
  fi
done
[ $status = 0 ] && echo "check_layers: ok"
exit $status
