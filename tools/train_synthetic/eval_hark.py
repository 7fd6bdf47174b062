#!/usr/bin/env python3
"""Evaluates a model with `hark transcribe` on a held-out folder, with the same clips, normaliser
and WER as eval_reference.py (evalcommon.py), so that the two can be compared. Python standard
library only.

  python3 tools/train_synthetic/eval_hark.py --model DIR --heldout tests/data/synthetic/heldout \
      [--hark build/hark] [--tokenizer ../shared/assets/multilingual.tiktoken] [--out eval-hark.json] \
      [--compare eval.json]

Per clip: `hark transcribe FILE --model DIR --tokenizer TOK --language xx --format verbose_json
--beam-size 1 --temperature-increment-on-fallback none --progress off` (greedy, no fallback;
timestamps on, as eval_reference.py's default; --no-timestamps adds hark's --no-timestamps); the
"text" is the same as --format json's (which holds only the text); once more with --language auto
for the detected language (verbose_json's "language"; the first segment's no_speech_prob when
there is a segment). No-speech clips are
transcribed with --language en and count as detected when the transcript is empty.
--compare FILE: an eval_reference.py / train.py eval.json (the section for this held-out folder
is picked by name); prints both tables side by side and exits 1 when a WER differs by more than
--tol (0.005 absolute).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evalcommon as ec  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


class HarkBackend:
    def __init__(self, hark, model, tokenizer, extra=(), threads=0):
        self.hark, self.model, self.tokenizer = hark, model, tokenizer
        self.extra = list(extra)
        self.threads = threads
        self.calls = 0
        self.seconds = 0.0

    def _run(self, path, language, timestamps):
        cmd = [self.hark, "transcribe", path, "--model", self.model, "--language", language, "--format", "verbose_json",
               "--beam-size", "1", "--temperature-increment-on-fallback", "none", "--progress", "off"]
        if self.tokenizer:
            cmd += ["--tokenizer", self.tokenizer]
        if not timestamps:
            cmd.append("--no-timestamps")
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        cmd += self.extra
        t = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        self.seconds += time.time() - t
        self.calls += 1
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} -> exit {r.returncode}: {r.stderr.strip()[-500:]}")
        return json.loads(r.stdout)

    # verbose_json's "language" is the full name ("english"), as OpenAI's API returns it; the
    # tables compare ISO codes.
    NAME_TO_CODE = {"english": "en", "german": "de", "spanish": "es", "italian": "it",
                    "french": "fr", "portuguese": "pt"}

    def detect(self, paths):
        out = []
        for p in paths:
            j = self._run(p, "auto", True)
            segs = j.get("segments") or []
            nsp = segs[0].get("no_speech_prob") if segs else None
            lang = j.get("language")
            out.append((self.NAME_TO_CODE.get(lang, lang), nsp))
        return out

    def transcribe(self, paths, language, timestamps):
        return [self._run(p, language, timestamps).get("text", "") for p in paths]


def pick_section(ref, heldout_dir, name=""):
    """train.py's eval.json holds one section per held-out folder under "sets" (and the main
    table at the top); eval_reference.py writes one folder's result directly, or one section per
    folder when given several."""
    name = name or os.path.basename(os.path.normpath(heldout_dir))
    if isinstance(ref.get("sets"), dict) and name in ref["sets"]:
        return ref["sets"][name]
    if name in ref and isinstance(ref[name], dict) and "table" in ref[name]:
        return ref[name]
    if "table" in ref:
        print(f"note: no section named {name} in the reference json: comparing with its main table "
              f"({ref.get('table_from', ref.get('heldout'))})")
        return ref
    raise KeyError(f"no section for {name} in the reference json (keys: {list(ref)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--hark", default=os.path.join(ROOT, "build", "hark"))
    ap.add_argument("--tokenizer", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "assets",
                                                                          "multilingual.tiktoken")))
    ap.add_argument("--no-timestamps", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--compare", default="", help="eval.json from eval_reference.py / train.py")
    ap.add_argument("--tol", type=float, default=0.005)
    ap.add_argument("--section", default="", help="the reference json's section to compare with (default: the "
                    "held-out folder's name; tests/data/synth-heldout is the 'heldout' section of the model's eval.json)")
    ap.add_argument("--hark-arg", action="append", default=[], metavar="ARG",
                    help="one more argument for every hark call (repeat: --hark-arg=--device --hark-arg=cuda)")
    ap.add_argument("--verbose", action="store_true", help="print every clip")
    a = ap.parse_args()
    be = HarkBackend(a.hark, a.model, a.tokenizer, extra=a.hark_arg, threads=a.threads)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        clips = ec.load_clips(a.heldout, tmp)
        res, tab = ec.run_eval(be, clips, timestamps=not a.no_timestamps)
    out = {"model": os.path.abspath(a.model), "heldout": os.path.abspath(a.heldout),
           "reference": f"hark transcribe (greedy, no fallback): {a.hark} {' '.join(a.hark_arg)}".strip(), "timestamps": not a.no_timestamps,
           "seconds": round(time.time() - t0, 1), "hark_calls": be.calls, "table": tab, "clips": res}
    if a.verbose:
        for r in res:
            print(f"{r['file']}: [{r['detected_language']}] {r['hyp']!r}" +
                  (f"  (ref {r['ref']!r}, {r['errors']}/{r['words']})" if "errors" in r else ""))
    print(f"{a.heldout}: {ec.summary_line(tab)} ({out['seconds']} s, {be.calls} hark calls)")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")
    if a.compare:
        ref = pick_section(json.load(open(a.compare, encoding="utf-8")), a.heldout, a.section)
        if bool(ref.get("timestamps", True)) != (not a.no_timestamps):
            print("note: the reference was decoded with timestamps =", ref.get("timestamps"))
        ok, lines = ec.compare(ref["table"], tab, a.tol)
        print("reference (transformers) vs hark:")
        for ln in lines:
            print("  " + ln)
        rc = {r["file"]: r for r in ref.get("clips", [])}
        for r in res:
            q = rc.get(r["file"])
            if q is not None and ec.normalize(q["hyp"]) != ec.normalize(r["hyp"]):
                print(f"  differs: {r['file']}: ref {q['hyp']!r} / hark {r['hyp']!r}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
