#!/usr/bin/env bash
# Installs the Debian 12 packages hark builds and tests with. Idempotent; needs root (or sudo).
# Usage: scripts/install-deps.sh [--with-server]   (server deps are included by default)
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git clang-format
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev
  libopenblas-openmp-dev libkissfft-dev zlib1g-dev
  libgtest-dev libgmock-dev
  libboost1.81-dev libcurl4-openssl-dev
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# tests/clients runs the official openai npm client: Node and npm (any install will do).
if ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
