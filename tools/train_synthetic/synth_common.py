"""Shared pieces of the synthetic-speech pipeline: text sources, espeak-ng, resampling, trimming,
the utterance bank format, Whisper training-window composition, log-mel.

numpy + Python stdlib only (tokenisation: `tiktoken` when installed, else
tools/reference/whisper_tokens.py's pure-Python BPE, which needs the `regex` module).
"""

import glob
import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
import unicodedata

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import whisper_tokens as wt  # noqa: E402

SR = 16000
N_SAMPLES = 30 * SR
N_FRAMES = 3000
TS_STEP = 0.02

# ------------------------------------------------------------------------------------------
# languages, voices, text sources
# ------------------------------------------------------------------------------------------
# espeak-ng voice files per Whisper language code (file paths: "en-gb+f3" silently drops the
# variant in espeak-ng 1.51, "gmw/en+f3" applies it), and the fortune folders / word lists.
LANGS = {
    "en": {"voices": ["gmw/en-US", "gmw/en-US", "gmw/en", "gmw/en-GB-x-rp", "gmw/en-GB-scotland",
                      "gmw/en-US-nyc", "gmw/en-029", "gmw/en-GB-x-gbclan", "gmw/en-GB-x-gbcwmd"],
           "fortunes": "games/fortunes/*", "exclude": {"brasil"}, "words": "dict/american-english"},
    "de": {"voices": ["gmw/de"], "fortunes": "games/fortunes/de/*", "exclude": set(), "words": "dict/ngerman"},
    "es": {"voices": ["roa/es", "roa/es-419"], "fortunes": "games/fortunes/es/*.fortunes", "exclude": set(),
           "words": "dict/spanish"},
    "it": {"voices": ["roa/it"], "fortunes": "games/fortunes/it/*", "exclude": set(), "words": "dict/italian"},
    "pt": {"voices": ["roa/pt", "roa/pt-BR"], "fortunes": "games/fortunes/brasil", "exclude": set(),
           "words": "dict/portuguese"},
}
# fortune files that are pictures, banners or lists, not sentences
SKIP_FORTUNE_FILES = {"art", "ascii-art", "asciiart", "banner", "vornamen", "namen", "quiz",
                      "woerterbuch", "definitions", "translations"}
# espeak-ng variants (voices/!v): mixed genders and timbres; "+" appended to the voice name
VARIANTS = ["", "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "croak", "whisperf", "Alex", "Andy", "Annie", "belinda",
            "benjamin", "david", "ed", "john", "linda", "max", "michael", "steph", "robert",
            "quincy", "shelby", "travis", "victor", "Mike"]

_ALLOWED = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ .,;:!?'\"()\-]+$")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ö¿¡\"'(])")


def _read_text(path):
    b = open(path, "rb").read()
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def clean_sentence(s):
    s = unicodedata.normalize("NFC", s)
    s = (s.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
         .replace("\u00ab", '"').replace("\u00bb", '"').replace("\u2013", "-").replace("\u2014", "-")
         .replace("``", '"').replace("''", '"').replace("\t", " "))
    s = re.sub(r"\s+", " ", s).strip()
    s = s.strip("-").strip()
    s = re.sub(r"\s*--\s*", ", ", s)
    if s.startswith('"') and s.count('"') == 1:
        s = s[1:]
    if s.endswith('"') and s.count('"') == 1:
        s = s[:-1]
    return s.strip()


def fortune_sentences(text_root, lang, min_words=3, max_words=28, max_chars=170):
    spec = LANGS[lang]
    out = []
    for path in sorted(glob.glob(os.path.join(text_root, spec["fortunes"]))):
        base = os.path.basename(path)
        if (not os.path.isfile(path) or base.endswith(".dat") or base.endswith(".u8")
                or base in spec["exclude"] or base.split(".")[0] in SKIP_FORTUNE_FILES
                or "/off/" in path or os.path.islink(path)):
            continue
        for cookie in re.split(r"\n%\n", _read_text(path)):
            lines = []
            for ln in cookie.split("\n"):
                t = ln.strip()
                if not t or t.startswith("--") or t.startswith("~") or t == "%":
                    continue
                if re.match(r"^\s{4,}-", ln):  # indented attribution
                    continue
                lines.append(t)
            para = " ".join(lines)
            for s in _SENT_SPLIT.split(para):
                s = clean_sentence(s)
                n = len(s.split())
                if n < min_words or n > max_words or len(s) > max_chars or len(s) < 8:
                    continue
                if not _ALLOWED.match(s) or not re.search(r"[.!?]$", s):
                    continue
                if re.search(r"[A-Z]{4,}", s) or s.count("(") != s.count(")"):
                    continue
                out.append(s)
    # dedupe, keep first occurrence order (deterministic)
    seen = set()
    res = []
    for s in out:
        k = s.lower()
        if k not in seen:
            seen.add(k)
            res.append(s)
    return res


def word_list(text_root, lang, min_len=3, max_len=14):
    """Dictionary words (lowercase, or with a capital first letter: German nouns, names)."""
    path = os.path.join(text_root, LANGS[lang]["words"])
    if not os.path.exists(path):
        return []
    words = []
    for w in _read_text(path).split("\n"):
        w = w.strip()
        if min_len <= len(w) <= max_len and re.match(r"^[A-Za-zÀ-ÖØ-öø-ÿ][a-zß-öø-ÿ]+$", w):
            words.append(w)
    return sorted(set(words))


def is_heldout(text, percent=4):
    """Deterministic split by content: about `percent` % of sentences are held out."""
    h = int(hashlib.sha1(text.lower().encode("utf-8")).hexdigest()[:8], 16)
    return h % 100 < percent


# ------------------------------------------------------------------------------------------
# espeak-ng
# ------------------------------------------------------------------------------------------
def load_synth_env(prefix):
    """Reads PREFIX/env.sh written by unpack_debs.sh; falls back to a system espeak-ng."""
    env = {}
    p = os.path.join(prefix, "env.sh") if prefix else None
    if p and os.path.exists(p):
        for ln in open(p):
            m = re.match(r'export (\w+)="(.*)"', ln.strip())
            if m:
                env[m.group(1)] = m.group(2)
    else:
        env = {"ESPEAK_NG": "espeak-ng", "SYNTH_TEXT_ROOT": "/usr/share"}
    return env


def parse_wav_bytes(b):
    """espeak-ng --stdout writes a streaming WAV (sizes 0x7fffffff): parse chunk by chunk."""
    if b[:4] != b"RIFF" or b[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    off = 12
    sr = ch = bits = None
    while off + 8 <= len(b):
        cid = b[off:off + 4]
        size = struct.unpack("<I", b[off + 4:off + 8])[0]
        if cid == b"fmt ":
            _, ch, sr, _, _, bits = struct.unpack("<HHIIHH", b[off + 8:off + 24])
        elif cid == b"data":
            data = b[off + 8:]
            data = data[: len(data) // 2 * 2]
            x = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
            if ch and ch > 1:
                x = x[: len(x) // ch * ch].reshape(-1, ch).mean(1)
            return x, sr
        off += 8 + size + (size & 1)
    raise ValueError("no data chunk")


_RUN_ENV = {}


def espeak(env, text, voice, speed, pitch, timeout=30, word_gap=0):
    key = id(env)
    run_env = _RUN_ENV.get(key)
    if run_env is None:
        run_env = dict(os.environ)
        if env.get("SYNTH_LD_LIBRARY_PATH"):
            run_env["LD_LIBRARY_PATH"] = env["SYNTH_LD_LIBRARY_PATH"]
        if env.get("ESPEAK_DATA_PATH"):
            run_env["ESPEAK_DATA_PATH"] = env["ESPEAK_DATA_PATH"]
        _RUN_ENV[key] = run_env
    cmd = [env["ESPEAK_NG"], "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch))]
    if word_gap:
        cmd += ["-g", str(int(word_gap))]  # extra pause between words, units of 10 ms
    cmd += ["--stdout", text]
    r = subprocess.run(cmd, capture_output=True, env=run_env, timeout=timeout)
    if r.returncode != 0 or len(r.stdout) < 100:
        raise RuntimeError(f"espeak-ng failed ({r.returncode}) for {voice!r}: {r.stderr[:200]!r}")
    return parse_wav_bytes(r.stdout)


# ------------------------------------------------------------------------------------------
# text variety (training text; the held-out sentences never enter it)
# ------------------------------------------------------------------------------------------
_EDGE_PUNCT = ".,;:!?\"()'-"


def _words_of(sentence):
    out = []
    for w in sentence.split():
        w = w.strip(_EDGE_PUNCT)
        if w and re.match(r"^[A-Za-zÀ-ÖØ-öø-ÿ]+(?:'[A-Za-zÀ-ÖØ-öø-ÿ]+)?$", w):
            out.append(w)
    return out


class TextSource:
    """Training text for one split. Besides whole fortune sentences it recombines them (two short
    sentences joined, contiguous fragments, a clause of one sentence followed by a clause of
    another) and makes random word sequences from the dictionary and from the sentences'
    own vocabulary, so that the decoder cannot complete sentences from memory: it has to listen.

    sample(rng, lang) -> (text, source tag)."""

    def __init__(self, sentences, words, p_words=0.4):
        self.sent = sentences  # {lang: [sentence]}
        self.dict_words = words  # {lang: [word]}
        self.p_words = p_words
        self.short, self.long, self.clauses, self.vocab = {}, {}, {}, {}
        for l, ss in sentences.items():
            self.short[l] = [x for x in ss if len(x.split()) <= 12] or ss
            self.long[l] = [x for x in ss if len(x.split()) >= 6] or ss
            cl = []
            for x in ss:
                for c in re.split(r"\s*[,;:]\s+", x.rstrip(".!?")):
                    if 2 <= len(c.split()) <= 12 and c.count("(") == c.count(")") and c.count('"') % 2 == 0:
                        cl.append(c.strip())
            self.clauses[l] = cl or ss
            v = sorted({w for x in ss for w in _words_of(x)})
            self.vocab[l] = v or words.get(l) or ["a"]

    def _wordseq(self, rng, lang):
        n = int(rng.integers(2, 15))
        dw = self.dict_words.get(lang) or self.vocab[lang]
        ws = []
        for _ in range(n):
            pool = dw if rng.random() < 0.5 else self.vocab[lang]
            ws.append(pool[int(rng.integers(len(pool)))])
        style = rng.random()
        if style < 0.5:  # plain, as a word list would be read
            return " ".join(w.lower() if lang != "de" else w for w in ws)
        if style < 0.75:  # commas between some words
            out = []
            for i, w in enumerate(ws):
                out.append(w + ("," if i < n - 1 and rng.random() < 0.25 else ""))
            t = " ".join(out)
        else:
            t = " ".join(ws)
        return t[0].upper() + t[1:] + (".!?"[int(rng.integers(3))] if rng.random() < 0.8 else ".")

    def sample(self, rng, lang):
        if rng.random() < self.p_words:
            return self._wordseq(rng, lang), "words"
        r = rng.random()
        ss = self.sent[lang]
        if r < 0.45:
            return ss[int(rng.integers(len(ss)))], "sentence"
        if r < 0.70:
            sh = self.short[lang]
            a, b = sh[int(rng.integers(len(sh)))], sh[int(rng.integers(len(sh)))]
            return a + " " + b, "join"
        if r < 0.88:
            lg = self.long[lang]
            ws = lg[int(rng.integers(len(lg)))].split()
            k = int(rng.integers(3, max(4, min(12, len(ws) - 1) + 1)))
            i = int(rng.integers(0, max(1, len(ws) - k + 1)))
            frag = " ".join(ws[i:i + k]).strip(",;:-\"() ")
            if frag.count("(") != frag.count(")") or frag.count('"') % 2:
                frag = frag.replace("(", "").replace(")", "").replace('"', "")
            return (frag or ws[0]), "fragment"
        cl = self.clauses[lang]
        a, b = cl[int(rng.integers(len(cl)))], cl[int(rng.integers(len(cl)))]
        return a[0].upper() + a[1:] + ", " + b[0].lower() + b[1:] + ".", "clauses"


def random_voice(rng, lang):
    v = LANGS[lang]["voices"][int(rng.integers(len(LANGS[lang]["voices"])))]
    var = VARIANTS[int(rng.integers(len(VARIANTS)))]
    return v + ("+" + var if var else "")


def synth_utterance(env, rng, lang, text, speed=(120, 211), pitch=(10, 91), p_gap=0.15, peak=0.9):
    """espeak-ng with a random voice/variant/speed/pitch (and sometimes longer pauses between
    words), resampled to 16 kHz, trimmed, scaled to `peak`. -> (pcm float32, meta) or None."""
    voice = random_voice(rng, lang)
    sp = int(rng.integers(*speed))
    pi = int(rng.integers(*pitch))
    gap = int(rng.integers(1, 6)) if rng.random() < p_gap else 0
    for _ in range(3):
        try:
            x, sr = espeak(env, text, voice, sp, pi, word_gap=gap)
            x = trim_silence(to_16k(x, sr))
            break
        except Exception:  # rare: retry with the plain voice
            voice = voice.split("+")[0]
    else:
        return None
    if len(x) < 0.3 * SR or len(x) > 29.0 * SR:
        return None
    pk = float(np.abs(x).max())
    if pk < 1e-4:
        return None
    x = x * np.float32(peak / pk)
    return x, {"lang": lang, "text": text, "voice": voice, "speed": sp, "pitch": pi, "gap": gap, "peak": peak}


# ------------------------------------------------------------------------------------------
# signal processing
# ------------------------------------------------------------------------------------------
def _smooth_len(n):
    """Smallest 2^a 3^b 5^c >= n (fast FFT sizes)."""
    best = 1 << max(0, int(math.ceil(math.log2(max(n, 1)))))
    f5 = 1
    while f5 <= best:
        f35 = f5
        while f35 <= best:
            v = f35
            while v < n:
                v *= 2
            best = min(best, v)
            f35 *= 3
        f5 *= 5
    return best


def resample_fft(x, n_out_exact):
    """Band-limited resampling to n_out_exact samples (FFT method, like scipy.signal.resample
    after zero-padding both sides so the circular wrap stays in silence)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    ratio = n_out_exact / n
    pad = 256
    n_in = _smooth_len(n + 2 * pad)
    m = int(round(n_in * ratio))
    xp = np.zeros(n_in)
    xp[pad:pad + n] = x
    X = np.fft.rfft(xp)
    k = min(len(X), m // 2 + 1)
    Y = np.zeros(m // 2 + 1, dtype=np.complex128)
    Y[:k] = X[:k]
    y = np.fft.irfft(Y, m) * (m / n_in)
    start = int(round(pad * ratio))
    return y[start:start + n_out_exact].astype(np.float32)


def resample_rational(x, up, down, pad=None):
    """Band-limited FFT resampling by exactly up/down (FFT sizes down*k -> up*k with k a smooth
    number, so both transforms are fast; ~4x faster than resample_fft for 22050 -> 16000).
    Output length round(len(x) * up / down)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    pad = down if pad is None else pad  # a multiple of down: the output starts on a sample
    k = _smooth_len(-(-(n + 2 * pad) // down))
    n_in, m = down * k, up * k
    xp = np.zeros(n_in)
    xp[pad:pad + n] = x
    X = np.fft.rfft(xp)
    Y = np.zeros(m // 2 + 1, dtype=np.complex128)
    kk = min(len(X), len(Y))
    Y[:kk] = X[:kk]
    y = np.fft.irfft(Y, m) * (m / n_in)
    start = pad * up // down
    return y[start:start + int(round(n * up / down))].astype(np.float32)


def to_16k(x, sr):
    if sr == SR:
        return x.astype(np.float32)
    g = math.gcd(int(sr), SR)
    up, down = SR // g, int(sr) // g
    if down <= 2000:
        return resample_rational(x, up, down)
    return resample_fft(x, int(round(len(x) * SR / sr)))


def trim_silence(x, rel_db=-45.0, frame=160, margin=2):
    """Trims leading/trailing frames whose RMS is below max RMS + rel_db; keeps `margin` frames."""
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    thr = rms.max() * 10 ** (rel_db / 20)
    idx = np.nonzero(rms > thr)[0]
    if len(idx) == 0:
        return x[:0]
    a = max(0, idx[0] - margin) * frame
    b = min(len(x), (idx[-1] + 1 + margin) * frame)
    return x[a:b]


def colored_noise(rng, n, kind):
    w = rng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return w
    W = np.fft.rfft(w)
    f = np.arange(len(W), dtype=np.float64)
    f[0] = 1.0
    W = W / (np.sqrt(f) if kind == "pink" else f)
    y = np.fft.irfft(W, n).astype(np.float32)
    return y / (np.std(y) + 1e-12)


# ------------------------------------------------------------------------------------------
# the bank: utterances as int16 PCM at 16 kHz + JSON metadata
# ------------------------------------------------------------------------------------------
def write_bank_shard(path_prefix, utts, atomic=False):
    """utts: [(pcm float32, meta dict)] -> PREFIX.npy (int16, concatenated) + PREFIX.json.
    atomic: write both under temporary names and rename, the .json last (readers take a shard
    when its .json exists)."""
    lens = [len(p) for p, _ in utts]
    offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    pcm = np.concatenate([np.clip(np.round(p * 32767), -32768, 32767).astype(np.int16) for p, _ in utts]) \
        if utts else np.zeros(0, np.int16)
    meta = []
    for (p, m), o, n in zip(utts, offs[:-1], lens):
        d = dict(m)
        d["offset"] = int(o)
        d["length"] = int(n)
        meta.append(d)
    d, base = os.path.split(path_prefix)
    tmp = os.path.join(d, ".tmp-" + base) if atomic else path_prefix
    with open(tmp + ".npy", "wb") as f:
        np.save(f, pcm)
    with open(tmp + ".json", "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
    if atomic:
        os.replace(tmp + ".npy", path_prefix + ".npy")
        os.replace(tmp + ".json", path_prefix + ".json")


class Bank:
    """All shards of one split, PCM memory-mapped. The sampling interface (langs, sample, length,
    tokens, peak, text, pcm) is what plan_window needs; train.DeviceBank has the same one."""

    def __init__(self, paths, tok=None):
        self.shards = []
        self.items = []  # (shard index, meta)
        self.tok = tok
        for i, p in enumerate(paths):
            pcm = np.load(p + ".npy", mmap_mode="r")
            self.shards.append(pcm)
            for m in json.load(open(p + ".json", encoding="utf-8")):
                self.items.append((i, m))
        self.by_lang = {}
        for j, (_, m) in enumerate(self.items):
            self.by_lang.setdefault(m["lang"], []).append(j)
        self.langs = sorted(self.by_lang)

    @classmethod
    def load(cls, directory, split, tok=None):
        paths = sorted(p[:-4] for p in glob.glob(os.path.join(directory, f"{split}-*.npy")))
        if not paths:
            raise FileNotFoundError(f"no {split}-*.npy in {directory}")
        return cls(paths, tok)

    def __len__(self):
        return len(self.items)

    def pcm(self, j):
        s, m = self.items[j]
        return np.asarray(self.shards[s][m["offset"]:m["offset"] + m["length"]], dtype=np.float32) / 32768.0

    def meta(self, j):
        return self.items[j][1]

    def sample(self, rng, lang, audio=True):
        pool = self.by_lang[lang]
        return int(pool[int(rng.integers(len(pool)))])

    def length(self, j):
        return self.items[j][1]["length"]

    def text(self, j):
        return self.items[j][1]["text"]

    def peak(self, j):
        m = self.items[j][1]
        if "peak" not in m:
            m["peak"] = float(np.abs(self.pcm(j)).max()) + 1e-6
        return m["peak"]

    def tokens(self, j):
        m = self.items[j][1]
        if "tokens" not in m:
            m["tokens"] = self.tok.encode(" " + m["text"])
        return m["tokens"]


# ------------------------------------------------------------------------------------------
# tokens
# ------------------------------------------------------------------------------------------
class Tok:
    def __init__(self, assets):
        langs = wt.load_languages(os.path.join(assets, "languages.tsv"))
        ranks = wt.load_tiktoken_ranks(os.path.join(assets, "multilingual.tiktoken"))
        self.L = wt.Layout("v2", len(ranks), langs)
        self.enc = wt.make_encoder(ranks, self.L, "multilingual", log=lambda *a: None)
        self.ranks = ranks
        self._dec = None

    def encode(self, text):
        return list(self.enc.encode(text))

    def lang(self, code):
        return self.L.language_id(code)

    def ts(self, seconds):
        k = int(round(seconds / TS_STEP))
        return self.L.timestamp_begin + max(0, min(1500, k))

    def decode_text(self, ids):
        if self._dec is None:
            self._dec = {v: k for k, v in self.ranks.items()}
        return b"".join(self._dec.get(i, b"") for i in ids if i < self.L.eot).decode("utf-8", "replace")


# ------------------------------------------------------------------------------------------
# training windows in Whisper's format: a plan (CPU: which utterances where, speed, gain, noise,
# tokens), rendered either here in numpy (validation windows) or batched on the GPU (train.py)
# ------------------------------------------------------------------------------------------
DEFAULT_WIN = {
    "p_nospeech": 0.07,        # window without speech -> <|sot|><|nospeech|><|eot|>
    "p_nospeech_forced": 0.3,  # of those: also train the forced-language form (see README)
    "p_notimestamps": 0.3,     # <|notimestamps|> variant
    "p_prev": 0.3,             # <|startofprev|> previous text before <|sot|>
    "p_cut": 0.25,             # a last utterance runs past 30 s: only its start timestamp
    "p_noise": 0.7,
    "snr_db": (5.0, 40.0),
    "gain_db": (-18.0, 6.0),
    "p_speed": 0.6,
    "speed": (0.88, 1.12),     # resampling factor (linear interpolation): tempo and pitch
    "gap_s": (0.05, 2.5),
    "lead_s": (0.0, 3.0),
    "max_utts": 10,
    "lang_weights": None,      # {"en": 0.4, ...}; default: en 2x each other language
}
NOISE_KINDS = ("white", "pink", "brown")


def _pick_lang(rng, langs, weights):
    w = np.array([weights.get(l, 1.0) for l in langs], dtype=np.float64)
    return langs[int(rng.choice(len(langs), p=w / w.sum()))]


def speed_len(n, f):
    """Samples of an n-sample utterance played f times faster (source position k*f, k < out)."""
    return max(1, int((n - 1) / f) + 1)


def plan_window(rng, bank, tok, cfg=None, lang=None):
    """-> plan dict:
      kind       "speech" | "nospeech" | "nospeech_forced"
      tokens     [int] (prompt + sot ... eot); labels are tokens[1:]
      n_masked   the first n_masked labels carry no loss (prompt and sot)
      task_pos   further label positions without loss (transcribe / notimestamps: given)
      place      [(dst_start_sample, utt_id, out_len, speed, gain)] in time order, no overlap
      noise      (kind 0/1/2, level, relative, gated): relative: level x speech RMS, else absolute
      lang, timestamps, segments [(t0, t1, utt_id)], cut"""
    c = dict(DEFAULT_WIN)
    c.update(cfg or {})
    L = tok.L
    langs = bank.langs
    weights = c["lang_weights"] or {l: (2.0 if l == "en" else 1.0) for l in langs}
    if rng.random() < c["p_nospeech"]:
        if rng.random() < 0.25:  # (near) silence: white noise at -100..-70 dB, 1 in 5 digital zeros
            noise = (0, 0.0 if rng.random() < 0.2 else float(10 ** rng.uniform(-5, -3.5)), False, False)
        else:
            noise = (int(rng.integers(3)), float(10 ** rng.uniform(-3.3, -0.8)), False, bool(rng.random() < 0.3))
        if rng.random() < c["p_nospeech_forced"]:
            lg = _pick_lang(rng, langs, weights)
            nots = rng.random() < 0.5
            toks = [L.sot, tok.lang(lg), L.transcribe] + ([L.no_timestamps] if nots else []) + [L.eot]
            # labels: lang (masked: given), transcribe, [notimestamps], eot -> loss on eot only
            return {"kind": "nospeech_forced", "lang": lg, "tokens": toks, "n_masked": len(toks) - 2,
                    "task_pos": [], "place": [], "noise": noise, "segments": [], "cut": None, "timestamps": not nots}
        return {"kind": "nospeech", "lang": None, "tokens": [L.sot, L.no_speech, L.eot], "n_masked": 0,
                "task_pos": [], "place": [], "noise": noise, "segments": [], "cut": None, "timestamps": False}

    lg = lang or _pick_lang(rng, langs, weights)
    timestamps = rng.random() >= c["p_notimestamps"]
    t = rng.uniform(*c["lead_s"]) if rng.random() < 0.8 else 0.0
    n_target = int(rng.integers(1, c["max_utts"] + 1))
    place, segs = [], []
    cut = None
    for _ in range(n_target):
        j = bank.sample(rng, lg)
        n = bank.length(j)
        f = float(rng.uniform(*c["speed"])) if rng.random() < c["p_speed"] else 1.0
        out = speed_len(n, f)
        gain = float(10 ** (rng.uniform(*c["gain_db"]) / 20) * 0.5 / bank.peak(j))
        s = int(round(t * SR))
        if s + out > N_SAMPLES:
            if timestamps and rng.random() < c["p_cut"] and s < N_SAMPLES - SR // 2:
                place.append((s, j, N_SAMPLES - s, f, gain))
                cut = s / SR
            break
        place.append((s, j, out, f, gain))
        segs.append((s / SR, (s + out) / SR, j))
        t = (s + out) / SR + rng.uniform(*c["gap_s"])
        if t >= 30.0:
            break
    if not segs:  # the first utterance did not fit: one at 0, unchanged
        j = bank.sample(rng, lg)
        out = min(bank.length(j), N_SAMPLES)
        place = [(0, j, out, 1.0, float(0.5 / bank.peak(j)))]
        segs = [(0.0, out / SR, j)]
        cut = None
    if rng.random() < c["p_noise"]:
        noise = (int(rng.integers(3)), float(10 ** (-rng.uniform(*c["snr_db"]) / 20)), True, False)
    else:
        noise = (0, 0.0, True, False)

    head = [L.sot, tok.lang(lg), L.transcribe]
    body = []
    if timestamps:
        for a, b, j in segs:
            ta, tb = tok.ts(a), tok.ts(b)
            if tb <= ta:
                tb = ta + 1
            body += [ta] + list(bank.tokens(j)) + [tb]
        if cut is not None:
            body.append(tok.ts(cut))
    else:
        head.append(L.no_timestamps)
        for _, _, j in segs:  # == encode(" " + " ".join(texts)): every text starts a pre-token
            body += list(bank.tokens(j))
    prompt = []
    if rng.random() < c["p_prev"]:
        k = int(rng.integers(1, 4))
        prev = []
        ts_prompt = rng.random() < 0.5
        tt = 0.0
        for _ in range(k):
            j = bank.sample(rng, lg, audio=False)
            if ts_prompt:
                d = bank.length(j) / SR
                prev += [tok.ts(tt)] + list(bank.tokens(j)) + [tok.ts(tt + d)]
                tt += d + 0.5
            else:
                prev += list(bank.tokens(j))
        prev = prev[-223:]
        prompt = [L.sot_prev] + prev
    toks = prompt + head + body + [L.eot]
    if len(toks) > 448:
        toks = toks[:447] + [L.eot]
    # labels = toks[1:]: the first len(prompt) labels predict prompt[1:] and sot (no loss); the
    # labels predicting transcribe / notimestamps are given at inference (no loss).
    return {"kind": "speech", "lang": lg, "tokens": toks, "n_masked": len(prompt),
            "task_pos": [len(prompt) + 1] + ([len(prompt) + 2] if not timestamps else []),
            "place": place, "noise": noise, "segments": segs, "cut": cut, "timestamps": timestamps}


def plan_text(plan, bank):
    return " ".join(bank.text(j) for _, _, j in plan["segments"])


def render_window(plan, bank, rng):
    """numpy rendering of a plan (same arithmetic as train.py's batched GPU renderer)."""
    x = np.zeros(N_SAMPLES, np.float32)
    cov = np.zeros(N_SAMPLES, bool)
    for s, j, out, f, gain in plan["place"]:
        u = bank.pcm(j)
        out = min(out, N_SAMPLES - s)
        pos = np.arange(out, dtype=np.float64) * f
        x[s:s + out] += np.interp(pos, np.arange(len(u)), u).astype(np.float32) * np.float32(gain)
        cov[s:s + out] = True
    kind, level, relative, gated = plan["noise"]
    if level > 0:
        nz = colored_noise(rng, N_SAMPLES, NOISE_KINDS[kind])
        if relative:
            level = level * float(np.sqrt(np.sum(x.astype(np.float64) ** 2) / max(1, cov.sum())))
        if gated:
            nz = nz * np.repeat(rng.uniform(0, 1, N_SAMPLES // 1600 + 1), 1600)[:N_SAMPLES].astype(np.float32)
        x += nz * np.float32(level)
    peak = np.abs(x).max()
    if peak > 0.99:
        x *= np.float32(0.99 / peak)
    return x


def compose_window(rng, bank, tok, cfg=None, lang=None):
    """-> (pcm float32 [480000], tokens [int], n_masked, info) (plan + numpy render)."""
    p = plan_window(rng, bank, tok, cfg, lang)
    x = render_window(p, bank, rng)
    info = {"kind": p["kind"], "lang": p["lang"], "timestamps": p["timestamps"], "cut": p["cut"],
            "segments": [(a, b, bank.text(j)) for a, b, j in p["segments"]], "task_label_positions": p["task_pos"]}
    return x, p["tokens"], p["n_masked"], info


def labels_mask(toks, n_masked, info):
    """Boolean per label (len(toks)-1): True where the loss applies."""
    m = np.ones(len(toks) - 1, dtype=bool)
    m[:n_masked] = False
    for p in info.get("task_label_positions", info.get("task_pos", [])):
        if p < len(m):
            m[p] = False
    return m


# ------------------------------------------------------------------------------------------
# log-mel (numpy float32; the trainer does the same in torch on the GPU)
# ------------------------------------------------------------------------------------------
def log_mel(x, filters):
    """WhisperFeatureExtractor-equivalent for one 30 s window: [n_mels, 3000] float32."""
    x = np.asarray(x, dtype=np.float32)
    xp = np.pad(x, (200, 200), mode="reflect")
    n_frames = 1 + (len(xp) - 400) // 160
    idx = np.arange(400)[None, :] + 160 * np.arange(n_frames)[:, None]
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)).astype(np.float32)
    spec = np.fft.rfft(xp[idx] * win, axis=-1)
    power = (spec.real ** 2 + spec.imag ** 2)[:-1].astype(np.float32)
    mel = filters @ power.T
    lg = np.log10(np.maximum(mel, 1e-10))
    lg = np.maximum(lg, lg.max() - 8.0)
    return ((lg + 4.0) / 4.0).astype(np.float32)


def write_wav(path, x):
    import wave

    pcm = np.clip(np.round(np.asarray(x) * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
