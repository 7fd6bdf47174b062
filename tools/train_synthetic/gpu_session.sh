#!/usr/bin/env bash
# One training session on the GPU machine, in phases; each phase is one device call (<= 10 min),
# the machine stays held between calls, and training runs detached (setsid) in between.
#   smoke            ~2.5 min: tiny held-out set, data-path check + timing (bench_data.py), 1 minute
#                    of training with the live generator, checkpoint evals, final eval, alignment
#                    heads, fp16 save, eval.json (transformers generate), eval_reference.py's CLI
#   start [MINUTES]  unpack espeak-ng, held-out data (make_data.py), then train.py in the
#                    background (it starts gen_stream.py itself); returns once the first status
#                    lines (with the data-wait share) are in the log, or after START_WAIT s
#   poll [SECONDS]   waits up to SECONDS (default 240; returns early when training ends), prints
#                    a short status: step, minutes, loss, last checkpoint (val loss, WER, LID,
#                    no-speech), data wait, bank
#   fetch            waits for the end (<= 9 min), then writes to $OUT (8 files, each < 16 MB):
#                    model/model.safetensors.part-a{a,b,c} (split -b 15M), model/config.json,
#                    model/generation_config.json, model/training.json (log.jsonl records
#                    included), model/eval.json, heldout.tar (heldout/, heldout-big/ if it fits,
#                    log.jsonl, train.log, gen_stream.log)
# Carry .device-carry/train-debs and .device-carry/train-assets (tools/train_synthetic/fetch_debs.sh).
#   resume [MINUTES] restarts train.py on the same machine after a crash: continues from
#                    /tmp/synth-ckpt/last.pt (same held-out data; the bank is generated afresh)
# Environment: GEN_WORKERS (12), START_WAIT (200), PYTHON (python3), OUT; for a dry run on a
# machine without transformers/GPU: TRAIN_ARGS=--dry-run BENCH_BATCH=4 SKIP_REF=1 GEN_WORKERS=1.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
T=tools/train_synthetic
A=.device-carry/train-assets
P=/tmp/synth-prefix
PY=${PYTHON:-python3}
GEN=${GEN_WORKERS:-12}
TA=${TRAIN_ARGS:-}
LOG=/tmp/synth-train.log
PIDF=/tmp/synth-train.pid

unpack() {
  if [ -x "$P/usr/bin/espeak-ng" ] && [ -f "$P/env.sh" ]; then return 0; fi
  bash $T/unpack_debs.sh .device-carry/train-debs "$P" > /tmp/synth-unpack.log 2>&1 ||
    { echo "UNPACK FAILED"; tail -20 /tmp/synth-unpack.log; exit 1; }
  head -1 /tmp/synth-unpack.log
}

running() {
  { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; } || pgrep -f "$T/train.py --data /tmp/synth-data" > /dev/null
}

short_status() {
  [ -f "$LOG" ] || { echo "no $LOG"; return; }
  grep -E "^[0-9:]+ (model:|bank ready|status step)" "$LOG" | tail -n 2 | cut -c1-420
  grep -E "^[0-9:]+ (ckpt step|training done|final step|eval.json|ALL DONE|wrote )" "$LOG" | tail -n 4 | cut -c1-600
  grep -E "Traceback|Error|FAILED|warning:|died" "$LOG" | tail -n 5 | cut -c1-300
  if running; then echo "train.py: running (pid $(cat "$PIDF"))"; else echo "train.py: not running"; tail -n 3 "$LOG" | cut -c1-300; fi
}

case "${1:-}" in
smoke)
  t0=$(date +%s)
  unpack
  rm -rf /tmp/smoke-data /tmp/smoke-ckpt /tmp/smoke-model /tmp/smoke-spool
  S="$OUT/smoke.log"
  { echo "== make_data"; $PY $T/make_data.py --prefix "$P" --assets $A --out /tmp/smoke-data --valid-utts 96 \
      --word-clips 8 --windows 32 --heldout-per-lang 1 --heldout-word-clips 2 --big-per-lang 2 --big-word-clips 2 \
      --workers 16; } > "$S" 2>&1 || { echo "SMOKE make_data FAILED"; tail -30 "$S"; exit 1; }
  grep -E "held-out bank|heldout|windows" "$S"
  { echo "== gen_stream 1600"; $PY $T/gen_stream.py --prefix "$P" --assets $A --out /tmp/smoke-spool --workers "$GEN" \
      --max-utts 1600 --shard-utts 100; } >> "$S" 2>&1 || { echo "SMOKE gen_stream FAILED"; tail -30 "$S"; exit 1; }
  tail -1 "$S"
  { echo "== bench_data"; $PY $T/bench_data.py --spool /tmp/smoke-spool --assets $A --batch "${BENCH_BATCH:-64}" --iters 5 --check; } >> "$S" 2>&1 ||
    { echo "SMOKE bench_data FAILED"; tail -30 "$S"; exit 1; }
  grep -E "^(bank|check|example|per batch)" "$S"
  { echo "== train"; $PY $T/train.py --data /tmp/smoke-data --assets $A --prefix "$P" --ckpt /tmp/smoke-ckpt \
      --spool /tmp/smoke-spool --final /tmp/smoke-model --minutes 1 --ckpt-minutes 0.4 --gen-workers "$GEN" \
      --min-start-utts 3000 --n-greedy 16 --status-every 25 $TA; } >> "$S" 2>&1 ||
    { echo "SMOKE train FAILED"; grep -v "^\[\|^ \[" "$S" | tail -40; exit 1; }
  grep -E "^[0-9:]+ (model:|bank ready|status step|ckpt step|final step|alignment heads|wrote|eval.json|ALL DONE|training done)|FAILED|Traceback" "$S" | cut -c1-500
  [ -n "${SKIP_REF:-}" ] || { echo "== eval_reference CLI"; $PY $T/eval_reference.py --model /tmp/smoke-model --heldout /tmp/smoke-data/heldout \
      --tokenizer $A/multilingual.tiktoken --out "$OUT/smoke-eval-reference.json"; } >> "$S" 2>&1 ||
    { echo "SMOKE eval_reference FAILED"; tail -30 "$S"; exit 1; }
  tail -1 "$S"
  cp /tmp/smoke-model/eval.json "$OUT/smoke-eval.json" 2>/dev/null
  ls -la /tmp/smoke-model
  echo "SMOKE OK in $(( $(date +%s) - t0 )) s"
  ;;
start)
  minutes=${2:-20}
  t0=$(date +%s)
  if running; then echo "train.py already running (pid $(cat $PIDF))"; short_status; exit 1; fi
  unpack
  rm -rf /tmp/synth-ckpt /tmp/synth-model /tmp/synth-data
  $PY $T/make_data.py --prefix "$P" --assets $A --out /tmp/synth-data --workers 16 > /tmp/synth-make_data.log 2>&1 ||
    { echo "make_data FAILED"; tail -30 /tmp/synth-make_data.log; exit 1; }
  grep -E "held-out bank|heldout|windows" /tmp/synth-make_data.log
  echo "data: $(( $(date +%s) - t0 )) s"
  setsid nohup $PY $T/train.py --data /tmp/synth-data --assets $A --prefix "$P" --ckpt /tmp/synth-ckpt \
    --final /tmp/synth-model --minutes "$minutes" --ckpt-minutes 4 --gen-workers "$GEN" $TA \
    > "$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDF"
  for _ in $(seq 1 "${START_WAIT:-200}"); do
    sleep 1
    n=$(grep -c "status step" "$LOG" 2>/dev/null); n=${n:-0}
    [ "$n" -ge 2 ] && break
    running || break
  done
  grep -v "^\[\|^ \[" "$LOG" | head -n 14 | cut -c1-420
  short_status
  echo "start: $(( $(date +%s) - t0 )) s"
  ;;
resume)
  minutes=${2:-20}
  if running; then echo "train.py already running (pid $(cat $PIDF))"; short_status; exit 1; fi
  [ -f /tmp/synth-data/windows/valid.npz ] || { echo "no /tmp/synth-data: use start"; exit 1; }
  unpack
  cp "$LOG" "$LOG.$(date +%s)" 2>/dev/null
  setsid nohup $PY $T/train.py --data /tmp/synth-data --assets $A --prefix "$P" --ckpt /tmp/synth-ckpt \
    --final /tmp/synth-model --minutes "$minutes" --ckpt-minutes 4 --gen-workers "$GEN" $TA \
    > "$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDF"
  for _ in $(seq 1 "${START_WAIT:-200}"); do
    sleep 1
    grep -q "status step" "$LOG" 2>/dev/null && break
    running || break
  done
  short_status
  ;;
poll)
  for _ in $(seq 1 "${2:-240}"); do running || break; sleep 1; done
  short_status
  ;;
fetch)
  for _ in $(seq 1 540); do running || break; sleep 1; done
  short_status
  M=/tmp/synth-model
  [ -f $M/model.safetensors ] || { echo "NO MODEL in $M"; ls -la $M 2>/dev/null; tail -40 "$LOG"; exit 1; }
  mkdir -p "$OUT/model"
  split -b 15M $M/model.safetensors "$OUT/model/model.safetensors.part-"
  for f in config.json generation_config.json training.json eval.json; do
    [ -f $M/$f ] && cp $M/$f "$OUT/model/" || echo "missing $M/$f"
  done
  cp "$LOG" /tmp/synth-ckpt/train.log 2>/dev/null
  tar -cf "$OUT/heldout.tar" -C /tmp/synth-data heldout heldout-big -C /tmp/synth-ckpt log.jsonl train.log gen_stream.log 2>/dev/null
  if [ "$(stat -c %s "$OUT/heldout.tar")" -gt 15900000 ]; then
    echo "heldout.tar too big with heldout-big/: without it"
    tar -cf "$OUT/heldout.tar" -C /tmp/synth-data heldout -C /tmp/synth-ckpt log.jsonl train.log gen_stream.log
  fi
  (cd "$OUT" && sha256sum model/model.safetensors.part-* && ls -la . model)
  echo "files: $(find "$OUT" -type f | wc -l) (max 8); sha256 of the whole model.safetensors: $(sha256sum $M/model.safetensors | cut -c1-64)"
  $PY - <<'PY'
import json
try:
    e = json.load(open("/tmp/synth-model/eval.json"))
    t = e.get("table", {})
    print("eval.json (" + str(e.get("table_from")) + "):", json.dumps({k: t.get(k) for k in ("wer", "lid", "nospeech")}))
except Exception as x:
    print("eval.json unreadable:", x)
PY
  ;;
*) echo "usage: $0 smoke | start [MINUTES] | poll [SECONDS] | fetch"; exit 2 ;;
esac
