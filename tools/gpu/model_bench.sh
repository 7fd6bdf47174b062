#!/usr/bin/env bash
# On the GPU machine, from the repository root: builds hark-model-bench (engine-only, CUDA) and
# runs PERF.md's standard window (encoder + 128 greedy tokens, batch 1) for the shapes and
# precisions below. Results: one line each, also in $OUT/model_bench.txt.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
source tools/gpu/deps.sh
ninja -C build-gpu -j16 hark-model-bench > "$OUT/build.log" 2>&1 || { grep error -A5 "$OUT/build.log" | head -40; exit 1; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/model_bench.txt"
for spec in "tiny f16" "large-v3-turbo f16" "large-v3-turbo bf16" "large-v3-turbo f32" "large-v3 f16"; do
  set -- $spec
  ./build-gpu/hark-model-bench --shape "$1" --device cuda --dtype "$2" --tokens 128 --runs 5 2>&1 | tee -a "$OUT/model_bench.txt"
done
./build-gpu/hark-model-bench --shape tiny --device cpu --dtype f32 --tokens 128 --runs 3 --threads 16 2>&1 | tee -a "$OUT/model_bench.txt"
