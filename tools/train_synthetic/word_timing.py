#!/usr/bin/env python3
"""Word timestamps against the truth on the "words" clips of a held-out folder (make_data.py:
words spoken one at a time with short pauses, each word's true start/end in manifest.json).
Runs the hark CLI like eval_hark.py (greedy, no fallback, the clip's language given) with
--word-timestamps, and prints a per-word table and a summary. Python standard library only.

  python3 tools/train_synthetic/word_timing.py --model tests/data/models/synth-small \\
      --heldout tests/data/synth-heldout [--hark build/hark] \\
      [--tokenizer ../shared/assets/multilingual.tiktoken] [--tol 0.1] [--json out.json]

Summary lines:
  ends        |end - true end| <= tol (count) and the mean |d|
  starts      |start - true start| <= tol and the mean |d|. openai-whisper's timing.py (which hark
              implements) starts each word where the previous one ended (the first at the segment
              start), so the pause before a word counts into it: starts are late/early by design.
  boundaries  the predicted end of word k (= start of word k+1) within tol of the true silent gap
              [end_k, start_k+1] (distance 0 inside the gap), over consecutive word pairs.
Words are compared after evalcommon's normaliser; a clip whose recognised words differ from the
spoken ones is reported and left out of the statistics. Exits 1 when a clip failed to align.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evalcommon as ec  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def hark_words(a, path, language):
    cmd = [a.hark, "transcribe", path, "--model", a.model, "--language", language, "--format", "verbose_json",
           "--beam-size", "1", "--temperature-increment-on-fallback", "none", "--progress", "off",
           "--word-timestamps"]
    if a.tokenizer:
        cmd += ["--tokenizer", a.tokenizer]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} -> exit {r.returncode}: {r.stderr.strip()[-500:]}")
    j = json.loads(r.stdout)
    words = j.get("words")
    if words is None:
        words = [w for s in j.get("segments", []) for w in s.get("words", [])]
    # A word that is only punctuation has no normalised form: not a spoken word.
    return [w for w in words if ec.normalize(w["word"])], j.get("text", "")


def gap_distance(b, lo, hi):
    return lo - b if b < lo else (b - hi if b > hi else 0.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--hark", default=os.path.join(ROOT, "build", "hark"))
    ap.add_argument("--tokenizer", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "assets",
                                                                          "multilingual.tiktoken")))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tol", type=float, default=0.1, help="seconds (default 0.1)")
    ap.add_argument("--json", default="", help="write the per-word rows and the summary here")
    a = ap.parse_args()

    man = json.load(open(os.path.join(a.heldout, "manifest.json"), encoding="utf-8"))
    clips = [c for c in man["clips"] if c["kind"] == "words"]
    rows, d_starts, d_ends, bounds, failed = [], [], [], [], []
    print(f"{'clip':<18} {'word':<14} {'t.start':>7} {'start':>7} {'d':>6} {'t.end':>7} {'end':>7} {'d':>6}")
    for c in clips:
        got, text = hark_words(a, os.path.join(a.heldout, c["file"]), c["language"])
        truth = c["words"]
        g = [ec.normalize(w["word"]) for w in got]
        t = [ec.normalize(w["word"]) for w in truth]
        if g != t:
            print(f"{c['file']}: recognised words differ: {text!r} vs {c['text']!r} (left out)")
            failed.append(c["file"])
            continue
        for k, (w, tw) in enumerate(zip(got, truth)):
            row = {"clip": c["file"], "word": tw["word"], "true_start": tw["start"], "start": w["start"],
                   "true_end": tw["end"], "end": w["end"]}
            row["d_start"] = w["start"] - tw["start"]
            row["d_end"] = w["end"] - tw["end"]
            d_starts.append(row["d_start"])
            d_ends.append(row["d_end"])
            rows.append({k2: round(v, 3) if isinstance(v, float) else v for k2, v in row.items()})
            print(f"{c['file']:<18} {tw['word']:<14} {tw['start']:7.2f} {w['start']:7.2f} {row['d_start']:+6.2f} "
                  f"{tw['end']:7.2f} {w['end']:7.2f} {row['d_end']:+6.2f}")
            if k + 1 < len(got):
                bounds.append(gap_distance(w["end"], tw["end"], truth[k + 1]["start"]))

    def stat(vals):
        n = len(vals)
        ok = sum(abs(v) <= a.tol + 1e-6 for v in vals)  # inclusive; float noise must not decide
        mean = sum(abs(v) for v in vals) / n if n else 0.0
        return {"within": ok, "total": n, "rate": round(ok / n, 4) if n else 0.0, "mean_abs": round(mean, 4), "_mean": mean}

    summary = {"tol": a.tol, "clips": len(clips) - len(failed), "failed_clips": failed,
               "ends": stat(d_ends), "starts": stat(d_starts),
               "boundaries": stat(bounds)}
    print()
    for key, what in (("ends", "word ends"), ("starts", "word starts"),
                      ("boundaries", "boundaries (distance to the true gap)")):
        s = summary[key]
        print(f"{what:<38} within {a.tol:.2f} s: {s['within']}/{s['total']} ({s['rate'] * 100:.0f}%), "
              f"mean |d| {s.pop('_mean'):.3f} s")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump({"model": os.path.abspath(a.model), "heldout": os.path.abspath(a.heldout),
                       "summary": summary, "words": rows}, f, indent=1, ensure_ascii=False)
            f.write("\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
