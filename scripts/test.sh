#!/usr/bin/env bash
# The test command: installs the Debian packages, checks formatting, builds with AddressSanitizer
# + UBSan and runs every test suite. Used by .ci/run; README.md states it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
export HARK_SHARED="${HARK_SHARED:-$(cd .. && pwd)/shared}"
build=build-asan
# CUDA code is compiled (when the toolkit is there) for sm_90a only, to keep CI fast; it cannot run here.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHARK_ASAN=ON -DHARK_WERROR=ON \
  -DHARK_CUDA_ARCHITECTURES=90a
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# OpenBLAS/OpenMP threads: keep the 2-core CI machine responsive.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
ctest --test-dir "$build" --output-on-failure -j 2 --timeout 900
