#!/usr/bin/env bash
# Installs the Debian 12 packages bpftime needs to build, test and run its
# demo.  Idempotent and non-interactive; uses sudo when not root.
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config clang llvm llvm-14-dev
  libbpf-dev libelf-dev zlib1g-dev libzydis-dev libjansson-dev libcmocka-dev
  bpftool libclang-rt-14-dev linux-libc-dev
)

SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: not root and no sudo: install ${PKGS[*]} by hand" >&2; exit 1; }
  SUDO=sudo
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
