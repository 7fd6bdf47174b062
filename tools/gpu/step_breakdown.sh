#!/usr/bin/env bash
# GPU machine, after tools/gpu/round.sh built build-gpu: per-kernel time of one decoder step and
# of the rest (encoder, log-mel, the windows' cross K/V), from two `hark bench` runs under
# Nsight Systems that differ only in --tokens (T1, T2): per-step = (run(T2) - run(T1)) /
# (2 * (T2 - T1)) (warm-up + one timed run each), everything else = run(T1) minus T1 steps.
# Real graphs and programmatic launch under nsys; where there is no nsys, ncu
# (--clock-control none, each kernel alone: an upper bound for short kernels).
#   SPECS="large-v3-turbo:bfloat16:1 large-v3-turbo:bfloat16:256:--cross-kv=int8" \
#     bash tools/gpu/step_breakdown.sh
set -u
OUT=${OUT:-/tmp/out}
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[ -n "$NSYS$NCU" ] || { echo "neither nsys nor ncu on this machine"; exit 1; }
T1=${T1:-8}
T2=${T2:-24}
n=0
for spec in ${SPECS:-}; do
  IFS=: read -r shape dtype batch args <<< "$spec"
  n=$((n + 1))
  for t in "$T1" "$T2"; do
    bench=(./build-gpu/hark bench --shape "$shape" --device cuda --compute-type "$dtype"
      --batch "$batch" --tokens "$t" --runs 1 --warmup 1 ${args//,/ })
    if [ -z "$NSYS" ]; then
      "$NCU" --clock-control none --metrics gpu__time_duration.sum --csv "${bench[@]}" \
        > "/tmp/sb-$n-${t}_cuda_gpu_kern_sum.csv" 2> "/tmp/sb-$n-$t.log" ||
        { echo "ncu failed:"; tail -5 "/tmp/sb-$n-$t.log"; }
      continue
    fi
    "$NSYS" profile -q -f true -o "/tmp/sb-$n-$t" --trace=cuda --cuda-graph-trace=node \
      "${bench[@]}" > "/tmp/sb-$n-$t.log" 2>&1 ||
      { echo "nsys failed:"; tail -5 "/tmp/sb-$n-$t.log"; }
    "$NSYS" stats -q --report cuda_gpu_kern_sum --format csv -o "/tmp/sb-$n-$t" \
      "/tmp/sb-$n-$t.nsys-rep" > /dev/null 2>&1
  done
  echo "== $shape $dtype batch $batch ${args:-} (tokens $T1 vs $T2)"
  python3 tools/gpu/step_breakdown.py "/tmp/sb-$n-${T1}_cuda_gpu_kern_sum.csv" \
    "/tmp/sb-$n-${T2}_cuda_gpu_kern_sum.csv" "$T1" "$T2" | tee "$OUT/breakdown-$n.txt"
done
