#!/usr/bin/env bash
# One training session on the GPU machine, in phases (each phase is one device call; the machine
# stays held between calls, and training runs detached with setsid):
#   start [MINUTES]  unpack espeak-ng, make the data, a 30-step smoke run, then start training
#   poll  [SECONDS]  wait, then show the training log tail
#   fetch            wait for the final model, pack it (split to 15 MB parts) and the logs to $OUT
# Needs .device-carry/train-debs and .device-carry/train-assets carried (fetch_debs.sh, here).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
T=tools/train_synthetic
A=.device-carry/train-assets
case "${1:-}" in
start)
  minutes=${2:-18}
  bash $T/unpack_debs.sh .device-carry/train-debs /tmp/synth-prefix > "$OUT/unpack.log" 2>&1 ||
    { tail -20 "$OUT/unpack.log"; exit 1; }
  python3 $T/make_data.py --prefix /tmp/synth-prefix --assets $A --out /tmp/synth-data \
    --utts 30000 --windows 256 --workers 16 > "$OUT/make_data.log" 2>&1 ||
    { tail -30 "$OUT/make_data.log"; exit 1; }
  tail -3 "$OUT/make_data.log"
  python3 $T/train.py --data /tmp/synth-data --assets $A --ckpt /tmp/smoke-ckpt \
    --final /tmp/smoke-model --minutes 1 --ckpt-minutes 1 --max-steps 30 --loader-workers 8 \
    > "$OUT/smoke.log" 2>&1 || { echo "SMOKE FAILED"; tail -40 "$OUT/smoke.log"; exit 1; }
  tail -5 "$OUT/smoke.log"
  setsid nohup python3 $T/train.py --data /tmp/synth-data --assets $A --ckpt /tmp/synth-ckpt \
    --final /tmp/synth-model --minutes "$minutes" --ckpt-minutes 4 --loader-workers 14 \
    > /tmp/synth-train.log 2>&1 < /dev/null &
  sleep 90
  tail -8 /tmp/synth-train.log
  ;;
poll)
  sleep "${2:-300}"
  tail -8 /tmp/synth-train.log
  tail -2 /tmp/synth-ckpt/log.jsonl 2>/dev/null
  ;;
fetch)
  for _ in $(seq 1 110); do
    [ -f /tmp/synth-model/model.safetensors ] && ! pgrep -f "train.py --data /tmp/synth-data" >/dev/null && break
    sleep 5
  done
  tail -15 /tmp/synth-train.log
  cp /tmp/synth-train.log "$OUT/train.log"
  cp /tmp/synth-ckpt/log.jsonl "$OUT/log.jsonl" 2>/dev/null
  tar -C /tmp -cf /tmp/synth-model.tar synth-model && split -b 15M /tmp/synth-model.tar "$OUT/synth-model.tar.part-"
  tar -C /tmp/synth-data -cf "$OUT/heldout.tar" heldout
  ls -la "$OUT"
  ;;
*) echo "usage: $0 start|poll|fetch"; exit 2 ;;
esac
