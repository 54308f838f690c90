#!/usr/bin/env bash
# Installs the Debian packages Guardian needs, when any is missing.
# Idempotent and quick when everything is there. Needs root (or sudo) to
# install; without it, says exactly what to run.
set -euo pipefail

packages=(
  build-essential pkg-config clang libclang-rt-14-dev
  libsodium-dev libssl-dev libopenblas-dev zlib1g-dev libsqlite3-dev
  libprotobuf-c-dev protobuf-c-compiler libyaml-dev libopenmpi-dev openmpi-bin
  gnuplot-nox dataset-fashion-mnist
  python3-torch python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing missing packages: ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "setup: these Debian packages are missing and installing them needs root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    echo "Run that (or run 'make setup' as root), then run make again." >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
