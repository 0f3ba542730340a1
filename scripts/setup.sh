#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages bpftime needs to build, test and run its
# demo (--runtime: to build and install it only).  Idempotent and non-interactive; uses sudo when not root.
set -euo pipefail

# scripts/setup.sh --runtime: only what a user build needs (scripts/install.sh):
# no cmocka, clang or bpftool.
RUNTIME_PKGS=(
  build-essential cmake ninja-build pkg-config llvm-14-dev
  libbpf-dev libelf-dev zlib1g-dev libzydis-dev libjansson-dev linux-libc-dev
)
PKGS=(
  "${RUNTIME_PKGS[@]}" clang llvm libcmocka-dev bpftool bpftrace clang-format-14 libclang-rt-14-dev
)
if [ "${1:-}" = "--runtime" ]; then
  PKGS=("${RUNTIME_PKGS[@]}")
fi

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
