#!/usr/bin/env bash
# GPU machine, repository root: builds `hark` (tools/gpu/deps_full.sh: no FFmpeg, no server) and
# transcribes jfk.wav with each model in MODELS on the CPU and on the GPU (fp32, fp16, bf16),
# printing whether the GPU's tokens equal the CPU's (greedy, no fallback: random weights rarely end a
# window, and the comparison needs one decoding path). Needs .device-carry/{debs,
# openblas-headers.tgz,assets} (jfk.wav and the tokenizers copied from ../shared/assets). Logs stay in
# /tmp/tc (nothing is written to $OUT, which other phases of a call may fill).
#   MODELS="dir[:extra transcribe args] ..." bash tools/gpu/transcribe_check.sh
set -u
OUT=/tmp/tc
mkdir -p "$OUT"
source tools/gpu/deps.sh
source tools/gpu/deps_full.sh
ninja -C build-gpu-full -j16 hark > "$OUT/build-full.log" 2>&1 ||
  { grep -E "error" -A5 "$OUT/build-full.log" | head -40; exit 1; }
A=.device-carry/assets
for spec in ${MODELS:-tests/data/models/tiny-v3-random tests/data/models/tiny-v2-random}; do
  IFS=: read -r model extra <<< "$spec"
  name=$(basename "$model")
  fast="--beam-size 1 --temperature-increment-on-fallback none"
  ./build-gpu-full/hark transcribe $A/jfk.wav --model "$model" $extra $fast --device cpu -f verbose_json \
    > "$OUT/$name.cpu.json" 2> "$OUT/$name.cpu.err" || { echo "$name cpu failed"; cat "$OUT/$name.cpu.err"; }
  for ct in float32 float16 bfloat16; do
    ./build-gpu-full/hark transcribe $A/jfk.wav --model "$model" $extra $fast --device cuda \
      --compute-type $ct -f verbose_json > "$OUT/$name.$ct.json" 2> "$OUT/$name.$ct.err" ||
      { echo "$name $ct failed"; cat "$OUT/$name.$ct.err"; }
    python3 - "$OUT/$name.cpu.json" "$OUT/$name.$ct.json" "$name $ct" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ta = [t for s in a["segments"] for t in s["tokens"]]
tb = [t for s in b["segments"] for t in s["tokens"]]
same = sum(x == y for x, y in zip(ta, tb))
print(f"{sys.argv[3]:<32} tokens cpu {len(ta)} gpu {len(tb)} identical prefix "
      f"{next((i for i, (x, y) in enumerate(zip(ta, tb)) if x != y), min(len(ta), len(tb)))} "
      f"text equal {a['text'] == b['text']} language {a['language']}/{b['language']}")
PY
  done
done
./build-gpu-full/hark transcribe $A/jfk.wav --model tests/data/models/tiny-v3-random --device cuda:7 \
  > /dev/null 2> "$OUT/bad-device.err"; echo "cuda:7 -> rc=$? $(cat $OUT/bad-device.err)"
