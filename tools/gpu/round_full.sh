#!/usr/bin/env bash
# GPU machine, repository root: the checks that need the whole program (tools/gpu/deps_full.sh:
# no FFmpeg, no server): engine tests on the GPU (GPU log-mel, the synthetic model), and the
# synthetic model's held-out clips through `hark transcribe --device cuda` for each compute type /
# extra flag set in EVALS ("name:--flag=v,--flag=v ...") against the reference's eval.json.
# Needs .device-carry/{debs,openblas-headers.tgz,assets} and tests-data/{models/synth-small,
# synth-heldout}. Logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export HARK_SHARED=$PWD/.device-carry
if [ -d .device-carry/tests-data ] && [ ! -L tests/data ]; then
  rm -rf tests/data
  ln -s "$PWD/.device-carry/tests-data" tests/data
fi
source tools/gpu/deps.sh
source tools/gpu/deps_full.sh
t0=$(date +%s)
ninja -C build-gpu-full -j16 engine_tests ops_tests hark > "$OUT/build-full.log" 2>&1 ||
  { grep -E "error" -A5 "$OUT/build-full.log" | head -60; exit 1; }
echo "build-full: $(( $(date +%s) - t0 )) s"
./build-gpu-full/ops_tests --gtest_filter="${OPS_FILTER:-*cuda*}" > "$OUT/ops_full.log" 2>&1
echo "ops_tests(${OPS_FILTER:-*cuda*}) rc=$?"
grep -E "^\[  FAILED|^\[  PASSED|^\[  SKIPPED \] [0-9]|max" "$OUT/ops_full.log" | tail -12
./build-gpu-full/engine_tests --gtest_filter="${ENGINE_FILTER:-GpuMel*}" > "$OUT/engine.log" 2>&1
echo "engine_tests(${ENGINE_FILTER:-GpuMel*}) rc=$?"
grep -E "^\[  FAILED|^\[  PASSED|^\[  SKIPPED \] [0-9]|^\[       OK" "$OUT/engine.log" | tail -12
grep -B2 -A8 "Failure" "$OUT/engine.log" | head -30
for spec in ${EVALS:-}; do
  IFS=: read -r name flags <<< "$spec"
  extra=""
  for f in ${flags//,/ }; do extra="$extra --hark-arg=$f"; done
  echo "== eval $name"
  timeout 300 python3 tools/train_synthetic/eval_hark.py --model tests/data/models/synth-small \
    --heldout tests/data/synth-heldout --hark build-gpu-full/hark \
    --tokenizer .device-carry/assets/multilingual.tiktoken --section heldout \
    --compare tests/data/models/synth-small/eval.json $extra > "$OUT/eval-$name.txt" 2>&1
  echo "rc=$?"; tail -14 "$OUT/eval-$name.txt"
done
