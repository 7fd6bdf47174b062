"""Shared by eval_reference.py (transformers) and eval_hark.py (hark): the held-out clips, the
text normaliser, WER, the no-speech clips, the result table, and the comparison of two results.
Python standard library only (runs on the dev/CI machine without numpy).

Normaliser ("basic"): Unicode NFKC, lowercase, apostrophes (' and U+2019) deleted, every other
character of a Unicode punctuation (P*) or symbol (S*) category replaced by a space, whitespace
collapsed. No number or spelling normalisation (the synthetic texts have no digits). The same
for every language. WER = word-level Levenshtein distance / reference words, summed over the
clips of a language (corpus WER, not a mean of per-clip WERs).
"""

import array
import base64
import json
import math
import os
import random
import unicodedata
import wave

NORMALISER = ("basic: NFKC, lowercase, apostrophes deleted, other Unicode punctuation/symbols -> space, "
              "whitespace collapsed")
SR = 16000


def normalize(text):
    t = unicodedata.normalize("NFKC", text or "").lower()
    out = []
    for ch in t:
        if ch in "'\u2019":
            continue
        cat = unicodedata.category(ch)
        out.append(" " if cat[0] in "PS" else ch)
    return " ".join("".join(out).split())


def edit_distance(ref, hyp):
    d = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(hyp) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
            prev = cur
    return d[len(hyp)]


def wer_counts(ref_text, hyp_text):
    r, h = normalize(ref_text).split(), normalize(hyp_text).split()
    return edit_distance(r, h), len(r)


# ------------------------------------------------------------------------------------------
# audio files
# ------------------------------------------------------------------------------------------
def read_wav(path):
    """-> (array('h') int16 samples, sample rate); mono 16-bit only."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError(f"{path}: need mono 16-bit PCM")
        sr = w.getframerate()
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
    return a, sr


def write_wav(path, samples_int16, sr=SR):
    a = array.array("h", samples_int16)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(a.tobytes())


# ------------------------------------------------------------------------------------------
# no-speech clips: deterministic (pure-Python PRNG), written as WAV by both evaluators
# ------------------------------------------------------------------------------------------
NOSPEECH_SPECS = [  # (name, kind, level dBFS RMS, gated)
    ("ns-white-70", "white", -70.0, False),
    ("ns-white-50", "white", -50.0, False),
    ("ns-white-35", "white", -35.0, False),
    ("ns-pink-45", "pink", -45.0, False),
    ("ns-pink-30", "pink", -30.0, False),
    ("ns-brown-40", "brown", -40.0, False),
    ("ns-brown-25", "brown", -25.0, False),
    ("ns-pink-30-bursts", "pink", -30.0, True),
]


def _noise(rng, n, kind):
    if kind == "white":
        x = [rng.gauss(0.0, 1.0) for _ in range(n)]
    elif kind == "pink":  # Paul Kellet's refined filter
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = 0.0
        x = []
        for _ in range(n):
            w = rng.gauss(0.0, 1.0)
            b0 = 0.99886 * b0 + w * 0.0555179
            b1 = 0.99332 * b1 + w * 0.0750759
            b2 = 0.96900 * b2 + w * 0.1538520
            b3 = 0.86650 * b3 + w * 0.3104856
            b4 = 0.55000 * b4 + w * 0.5329522
            b5 = -0.7616 * b5 - w * 0.0168980
            x.append(b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362)
            b6 = w * 0.115926
    else:  # brown: leaky integration of white
        y = 0.0
        x = []
        for _ in range(n):
            y = 0.998 * y + rng.gauss(0.0, 1.0)
            x.append(y)
    m = sum(x) / n
    x = [v - m for v in x]
    rms = math.sqrt(sum(v * v for v in x) / n) or 1.0
    return [v / rms for v in x]


def make_nospeech_clips(out_dir, seconds=4.0, seed=20261122):
    """Writes the NOSPEECH_SPECS clips into out_dir; -> manifest-style clip dicts."""
    os.makedirs(out_dir, exist_ok=True)
    clips = []
    n = int(seconds * SR)
    for k, (name, kind, db, gated) in enumerate(NOSPEECH_SPECS):
        rng = random.Random(seed + k)
        x = _noise(rng, n, kind)
        amp = 10 ** (db / 20)
        if gated:
            gate = [rng.random() for _ in range(n // 1600 + 1)]
            x = [v * gate[i // 1600] for i, v in enumerate(x)]
        pcm = [max(-32768, min(32767, int(round(v * amp * 32767)))) for v in x]
        path = os.path.join(out_dir, name + ".wav")
        write_wav(path, pcm)
        clips.append({"file": path, "kind": "nospeech", "subkind": "silence" if db <= -60 else "noise",
                      "language": None, "text": "", "duration": seconds})
    return clips


def load_clips(heldout_dir, work_dir=None, with_generated_nospeech=True):
    """manifest.json clips (absolute paths) + the generated no-speech clips (into work_dir)."""
    man = json.load(open(os.path.join(heldout_dir, "manifest.json"), encoding="utf-8"))
    clips = []
    for c in man["clips"]:
        c = dict(c)
        c["file"] = os.path.join(heldout_dir, c["file"])
        if c["kind"] == "nospeech":
            c["subkind"] = "silence" if "silence" in os.path.basename(c["file"]) else "noise"
        clips.append(c)
    if with_generated_nospeech and work_dir:
        clips += make_nospeech_clips(work_dir)
    return clips


# ------------------------------------------------------------------------------------------
# tokens -> text (the .tiktoken file: base64 token, rank)
# ------------------------------------------------------------------------------------------
class TiktokenDecoder:
    def __init__(self, path):
        self.dec = {}
        for ln in open(path, "rb"):
            if ln.strip():
                t, r = ln.split()
                self.dec[int(r)] = base64.b64decode(t)

    def text(self, ids, eot):
        return b"".join(self.dec.get(int(i), b"") for i in ids if int(i) < eot).decode("utf-8", "replace")


# ------------------------------------------------------------------------------------------
# running an evaluation and the table
# ------------------------------------------------------------------------------------------
def run_eval(backend, clips, timestamps=True, nospeech_language="en", log=print):
    """backend.detect(paths) -> [(language code, no-speech prob or None)];
    backend.transcribe(paths, language, timestamps) -> [text] (with the decoder's own no-speech
    skip rule applied, as hark / openai-whisper do). -> (per-clip results, table)."""
    res = []
    speech = [c for c in clips if c["kind"] in ("speech", "words")]
    nospeech = [c for c in clips if c["kind"] == "nospeech"]
    det = backend.detect([c["file"] for c in clips])
    by_path = {c["file"]: d for c, d in zip(clips, det)}
    groups = {}
    for c in speech:
        groups.setdefault(c["language"], []).append(c)
    texts = {}
    for lang, cs in sorted(groups.items()):
        for c, t in zip(cs, backend.transcribe([c["file"] for c in cs], lang, timestamps)):
            texts[c["file"]] = t
    for c, t in zip(nospeech, backend.transcribe([c["file"] for c in nospeech], nospeech_language, timestamps)):
        texts[c["file"]] = t
    for c in clips:
        hyp = texts.get(c["file"], "")
        dl, nsp = by_path[c["file"]]
        r = {"file": os.path.basename(c["file"]), "kind": c["kind"], "language": c.get("language"),
             "detected_language": dl, "nospeech_prob": nsp, "ref": c.get("text", ""), "hyp": hyp}
        if c["kind"] == "nospeech":
            r["subkind"] = c.get("subkind", "noise")
            r["empty"] = normalize(hyp) == ""
        else:
            r["errors"], r["words"] = wer_counts(c["text"], hyp)
        res.append(r)
    return res, table(res)


def table(res, nospeech_threshold=0.6):
    t = {"normaliser": NORMALISER, "wer": {}, "wer_words_clips": {}, "lid": {}, "nospeech": {}}
    for key, kind in (("wer", "speech"), ("wer_words_clips", "words")):
        acc = {}
        for r in res:
            if r["kind"] == kind:
                e, n, k = acc.get(r["language"], (0, 0, 0))
                acc[r["language"]] = (e + r["errors"], n + r["words"], k + 1)
        t[key] = {l: {"wer": round(e / max(n, 1), 4), "errors": e, "words": n, "clips": k}
                  for l, (e, n, k) in sorted(acc.items())}
    sp = [r for r in res if r["kind"] in ("speech", "words")]
    ok = sum(r["detected_language"] == r["language"] for r in sp)
    by = {}
    for r in sp:
        a, b = by.get(r["language"], (0, 0))
        by[r["language"]] = (a + (r["detected_language"] == r["language"]), b + 1)
    t["lid"] = {"acc": round(ok / max(len(sp), 1), 4), "correct": ok, "total": len(sp),
                "by_language": {l: round(a / b, 4) for l, (a, b) in sorted(by.items())}}
    for sub in ("silence", "noise"):
        rs = [r for r in res if r["kind"] == "nospeech" and r["subkind"] == sub]
        d = {"clips": len(rs), "empty_transcript": sum(r["empty"] for r in rs)}
        d["rate"] = round(d["empty_transcript"] / max(len(rs), 1), 4)
        ps = [r["nospeech_prob"] for r in rs if r["nospeech_prob"] is not None]
        if ps:
            d["nospeech_prob_mean"] = round(sum(ps) / len(ps), 4)
            d[f"nospeech_prob_over_{nospeech_threshold}"] = round(sum(p > nospeech_threshold for p in ps) / len(ps), 4)
        t["nospeech"][sub] = d
    return t


def summary_line(t):
    w = " ".join(f"{l} {v['wer'] * 100:.1f}%" for l, v in t["wer"].items())
    ns = " ".join(f"{k} {v['rate'] * 100:.0f}% ({v['clips']})" for k, v in t["nospeech"].items())
    return f"WER {w} | LID {t['lid']['acc'] * 100:.1f}% ({t['lid']['total']}) | no-speech {ns}"


def compare(a, b, tol=0.005):
    """Two tables (e.g. transformers vs hark): -> (ok, [lines])."""
    lines, ok = [], True
    for l in sorted(set(a["wer"]) | set(b["wer"])):
        wa = a["wer"].get(l, {}).get("wer")
        wb = b["wer"].get(l, {}).get("wer")
        good = wa is not None and wb is not None and abs(wa - wb) <= tol + 1e-9
        ok &= good
        lines.append(f"WER {l}: {wa} vs {wb} {'ok' if good else 'DIFFERS'}")
    la, lb = a["lid"]["acc"], b["lid"]["acc"]
    lines.append(f"LID: {la} vs {lb}")
    for k in sorted(set(a["nospeech"]) | set(b["nospeech"])):
        lines.append(f"no-speech {k}: {a['nospeech'].get(k, {}).get('rate')} vs {b['nospeech'].get(k, {}).get('rate')}")
    return ok, lines
