#!/usr/bin/env bash
# GPU machine, repository root: one optimisation round in one call. Builds the engine-only CUDA
# configuration (tools/gpu/deps.sh), runs the CUDA op tests and model tests (unless
# SKIP_TESTS=1), then each `hark bench` spec in BENCH
# ("shape:dtype:batches[:ENV=V,...[:--flag=value,...]]",
# PERF.md's standard workload, 128 tokens, RUNS runs) and, with PROFILE="shape:dtype:batch",
# one op-by-op --profile run. A short table goes to stdout; full logs to $OUT.
#   BENCH="large-v3-turbo:bfloat16:1,32,128 large-v3-turbo:bfloat16:1,32:HARK_PDL=0" \
#     PROFILE="large-v3-turbo:bfloat16:32" bash tools/gpu/round.sh
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
if [ -d .device-carry/tests-data ] && [ ! -L tests/data ]; then
  rm -rf tests/data
  ln -s "$PWD/.device-carry/tests-data" tests/data
fi
source tools/gpu/deps.sh
t0=$(date +%s)
ninja -C build-gpu -j16 ops_tests cuda_tests hark > "$OUT/build.log" 2>&1 ||
  { grep -E "error" -A5 "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  ./build-gpu/ops_tests --gtest_filter="${OPS_FILTER:-*cuda*}" > "$OUT/ops_cuda.log" 2>&1
  echo "ops_tests(${OPS_FILTER:-*cuda*}) rc=$?"
  grep -E "^\[  FAILED|^\[  PASSED|^\[  SKIPPED \] [0-9]" "$OUT/ops_cuda.log" | tail -15
  grep -B2 -A8 "Failure" "$OUT/ops_cuda.log" | head -40
  # The mma.sync flash kernel too, where the Hopper one would run (HARK_FLASH=mma).
  HARK_FLASH=mma ./build-gpu/ops_tests --gtest_filter='*AttentionBatched*cuda*' \
    > "$OUT/ops_flash_mma.log" 2>&1
  echo "ops_tests(AttentionBatched, HARK_FLASH=mma) rc=$?"
  ./build-gpu/cuda_tests --gtest_filter="${CUDA_FILTER:-*}" > "$OUT/cuda_tests.log" 2>&1
  echo "cuda_tests rc=$?"
  grep -E "^\[  FAILED|^\[  PASSED" "$OUT/cuda_tests.log" | tail -15
  grep -B2 -A8 "Failure" "$OUT/cuda_tests.log" | head -40
fi
n_bench=0
for spec in ${BENCH:-}; do
  IFS=: read -r shape dtype batches envs args <<< "$spec"
  echo "== $shape $dtype $batches ${envs:-} ${args:-}"
  log="$OUT/bench-$((++n_bench)).txt"
  env ${envs//,/ } timeout 300 ./build-gpu/hark bench --shape "$shape" --device cuda \
    --compute-type "$dtype" --batch "$batches" --tokens 128 --runs "${RUNS:-3}" \
    ${args//,/ } ${BENCH_ARGS:-} > "$log" 2>&1
  echo "rc=$?"; grep -vE "^\s*$|loading|^\[|^hark bench" "$log" | tail -12
done
if [ -n "${PROFILE:-}" ]; then
  IFS=: read -r shape dtype batches <<< "$PROFILE"
  timeout 300 ./build-gpu/hark bench --shape "$shape" --device cuda --compute-type "$dtype" \
    --batch "$batches" --tokens 128 --runs 1 --profile > "$OUT/profile.txt" 2>&1
  echo "profile rc=$?"; head -45 "$OUT/profile.txt"
fi
