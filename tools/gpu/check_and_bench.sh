#!/usr/bin/env bash
# GPU machine, repository root: builds the engine-only CUDA configuration (tools/gpu/deps.sh),
# runs the CUDA op tests and model tests, one compute-sanitizer memcheck pass over the batched
# model test, then `hark bench` (PERF.md's standard workload, batched) for the shapes/precisions/
# batch sizes given in BENCH (default: a quick turbo sweep), and the transformers peer script on
# the same workload for the shapes/batches in PEER (none by default). Logs go to $OUT.
#   BENCH="large-v3-turbo:float16:1,8,32 large-v3:float16:1,32" PEER="large-v3-turbo:1,8" \
#     bash tools/gpu/check_and_bench.sh
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
source tools/gpu/deps.sh
ninja -C build-gpu -j16 ops_tests cuda_tests hark > "$OUT/build.log" 2>&1 ||
  { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  ./build-gpu/ops_tests --gtest_filter='*cuda*' > "$OUT/ops_cuda.log" 2>&1; echo "ops_tests(cuda) rc=$?"
  grep -E "^\[  FAILED|PASSED|tests from.*ran|Failure|rel|=" "$OUT/ops_cuda.log" | grep -v "^\[ RUN" | tail -25
  ./build-gpu/cuda_tests > "$OUT/cuda_tests.log" 2>&1; echo "cuda_tests rc=$?"
  grep -E "FAILED|PASSED|Failure|Expected|Which|rel_error" "$OUT/cuda_tests.log" | tail -25
  compute-sanitizer --tool memcheck --error-exitcode 9 ./build-gpu/cuda_tests \
    --gtest_filter='*BatchedPassesMatchCpuOnTinyShape/f16*:*TeacherForced*f16*' > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$?"; tail -3 "$OUT/memcheck.log"
fi
for spec in ${BENCH:-large-v3-turbo:float16:1,8,32}; do
  IFS=: read -r shape dtype batches <<< "$spec"
  prof=""; [ "${PROFILE:-0}" = 1 ] && prof=--profile
  timeout 400 ./build-gpu/hark bench --shape "$shape" --device cuda --compute-type "$dtype" \
    --batch "$batches" --tokens 128 --runs "${RUNS:-3}" $prof 2>&1 | tee -a "$OUT/bench.txt"
done
for spec in ${PEER:-}; do
  IFS=: read -r shape batches <<< "$spec"
  timeout 400 python3 bench/peers/transformers_bench.py --shape "$shape" --batch "$batches" \
    --tokens 128 --runs "${RUNS:-3}" 2>&1 | grep -v Warning | tee -a "$OUT/peer.txt"
done
