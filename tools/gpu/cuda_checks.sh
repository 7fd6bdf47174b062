#!/usr/bin/env bash
# Runs on the GPU machine (cmake, ninja, CUDA, PyTorch; no Debian extras), from the repository
# root: builds the engine-only CUDA configuration with the .deb files carried in
# .device-carry/debs (fmt, spdlog, nlohmann-json, GoogleTest, OpenBLAS runtime) plus
# .device-carry/openblas-headers.tgz, runs the CUDA op and model tests, one compute-sanitizer
# memcheck pass, and tools/reference/long_form.py. Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
source tools/gpu/deps.sh

( PYTHONUNBUFFERED=1 python3 tools/reference/long_form.py --assets tools/reference/_assets \
    tests/data/models/tiny-v3-random tests/data/models/tiny-v2-random > "$OUT/long_form.log" 2>&1
  cp tests/data/models/tiny-v3-random/reference_longform.json "$OUT/v3_reference_longform.json"
  cp tests/data/models/tiny-v2-random/reference_longform.json "$OUT/v2_reference_longform.json" ) &
py=$!

ninja -C build-gpu -j16 ops_tests cuda_tests > "$OUT/build.log" 2>&1 || { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
./build-gpu/ops_tests --gtest_filter='*cuda*' > "$OUT/ops_cuda.log" 2>&1; echo "ops_tests(cuda) rc=$?"
grep -E "FAILED|PASSED|tests from.*ran" "$OUT/ops_cuda.log" | tail -15
./build-gpu/cuda_tests > "$OUT/cuda_tests.log" 2>&1; echo "cuda_tests rc=$?"
grep -E "OK \]|FAILED|PASSED|rel|top1|Failure" "$OUT/cuda_tests.log" | tail -40
compute-sanitizer --tool memcheck --error-exitcode 9 ./build-gpu/cuda_tests \
  --gtest_filter='*CudaModelTest.TeacherForcedLogitsMatchCpu*' > "$OUT/memcheck.log" 2>&1; echo "memcheck rc=$?"
tail -5 "$OUT/memcheck.log"
wait $py; echo "long_form rc=$?"; tail -5 "$OUT/long_form.log"
