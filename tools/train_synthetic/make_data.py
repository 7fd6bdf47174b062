#!/usr/bin/env python3
"""Synthetic Whisper training data: espeak-ng speech from fortune sentences and word lists.

Writes under --out:
  bank/train-NNN.{npy,json}   training utterances: int16 PCM at 16 kHz (trimmed), metadata
                              (lang, text, voice, speed, pitch). The trainer composes 30 s
                              windows from these on the fly (compose_window in synth_common.py):
                              infinite variety of placement, gain, noise and speed from a
                              finite set of synthesised utterances.
  bank/valid-000.{npy,json}   held-out sentences (content-hash split), same format
  bank/words-000.{npy,json}   held-out clips spoken one word at a time, word boundaries in json
  windows/valid.npz           --windows N fixed windows composed from the held-out bank:
                              mel float16 [N, 80, 3000], tokens int32 [N, 448] (-1 padded),
                              n_tok, n_masked, loss mask; used for validation loss / greedy eval
  heldout/                    small committable evaluation set (WAV + manifest.json), <= 5 MB
  meta.json                   counts, sizes, timings, settings

Deterministic for a given --seed whatever --workers is (each utterance has its own generator).

  python3 tools/train_synthetic/make_data.py --prefix /tmp/synth-prefix \
      --assets .device-carry/train-assets --out /tmp/synth-data --utts 30000 --windows 256 --workers 16
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_common as sc  # noqa: E402

G = {}  # per-process globals (set before fork)


def _utt_rng(seed, stream, i):
    return np.random.default_rng([seed, stream, i])


def _voice(rng, lang):
    v = sc.LANGS[lang]["voices"][int(rng.integers(len(sc.LANGS[lang]["voices"])))]
    var = sc.VARIANTS[int(rng.integers(len(sc.VARIANTS)))]
    return v + ("+" + var if var else "")


def _synth(text, voice, speed, pitch):
    x, sr = sc.espeak(G["env"], text, voice, speed, pitch)
    return sc.trim_silence(sc.to_16k(x, sr))


def make_utt(args):
    """(stream, i, split) -> (pcm, meta) or None."""
    stream, i, split = args
    rng = _utt_rng(G["seed"], stream, i)
    langs = G["langs"]
    w = np.array([G["lang_weight"].get(l, 1.0) for l in langs])
    lang = langs[int(rng.choice(len(langs), p=w / w.sum()))]
    pool = G["sent"][split][lang]
    if split == "train" and G["words"][lang] and rng.random() < G["p_words"]:
        ws = G["words"][lang]
        text = " ".join(ws[int(rng.integers(len(ws)))] for _ in range(int(rng.integers(3, 9))))
        src = "words"
    else:
        text = pool[int(rng.integers(len(pool)))]
        src = "fortune"
    voice = _voice(rng, lang)
    speed = int(rng.integers(130, 201))
    pitch = int(rng.integers(20, 81))
    for _ in range(3):
        try:
            x = _synth(text, voice, speed, pitch)
            break
        except Exception:  # rare: retry with the plain voice
            voice = voice.split("+")[0]
    else:
        return None
    if len(x) < 0.3 * sc.SR or len(x) > 29.0 * sc.SR:
        return None
    return x, {"lang": lang, "text": text, "voice": voice, "speed": speed, "pitch": pitch, "src": src}


def make_word_clip(args):
    """One held-out sentence spoken one word at a time; exact word boundaries."""
    stream, i = args
    rng = _utt_rng(G["seed"], stream, i)
    langs = G["langs"]
    lang = langs[i % len(langs)]
    pool = G["sent"]["valid"][lang]
    for _ in range(20):
        text = pool[int(rng.integers(len(pool)))]
        words = [w.strip(".,;:!?\"()'-") for w in text.split()]
        words = [w for w in words if w and sc._ALLOWED.match(w)]
        if 4 <= len(words) <= 12:
            break
    voice = _voice(rng, lang)
    speed = int(rng.integers(140, 191))
    pitch = int(rng.integers(30, 71))
    t = rng.uniform(0.2, 0.6)
    pieces = [np.zeros(int(t * sc.SR), np.float32)]
    bounds = []
    for wd in words:
        x = _synth(wd, voice, speed, pitch)
        x = x * np.float32(0.5 / (np.abs(x).max() + 1e-6))
        start = sum(len(p) for p in pieces)
        pieces.append(x)
        bounds.append({"word": wd, "start": start / sc.SR, "end": (start + len(x)) / sc.SR})
        pieces.append(np.zeros(int(rng.uniform(0.04, 0.25) * sc.SR), np.float32))
    pieces.append(np.zeros(int(0.3 * sc.SR), np.float32))
    pcm = np.concatenate(pieces)
    return pcm, {"lang": lang, "text": " ".join(words), "voice": voice, "speed": speed,
                 "pitch": pitch, "src": "words1", "words": bounds}


def _init_worker():
    pass


def run_pool(fn, jobs, workers, chunksize=8):
    if workers <= 1:
        return [fn(j) for j in jobs]
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker) as p:
        return list(p.imap(fn, jobs, chunksize=chunksize))


def build_heldout(out_dir, valid, words, tok, seed, per_lang=3, n_word_clips=4):
    """Small committable set: per language `per_lang` clips of 2 utterances with a gap, a few
    one-word-at-a-time clips, 3 s of silence and 3 s of noise."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([seed, 99])
    manifest = []
    for lang in sorted(valid.by_lang):
        idx = [j for j in valid.by_lang[lang] if valid.meta(j)["length"] <= 4.5 * sc.SR] or valid.by_lang[lang]
        for k in range(per_lang):
            a, b = (int(idx[(2 * k) % len(idx)]), int(idx[(2 * k + 1) % len(idx)]))
            lead = rng.uniform(0.3, 1.0)
            gap = rng.uniform(0.4, 1.2)
            ua, ub = valid.pcm(a), valid.pcm(b)
            ua = ua * np.float32(0.5 / (np.abs(ua).max() + 1e-6))
            ub = ub * np.float32(0.5 / (np.abs(ub).max() + 1e-6))
            sa = int(lead * sc.SR)
            sb = sa + len(ua) + int(gap * sc.SR)
            x = np.zeros(sb + len(ub) + int(0.5 * sc.SR), np.float32)
            x[sa:sa + len(ua)] = ua
            x[sb:sb + len(ub)] = ub
            name = f"{lang}-{k:02d}.wav"
            sc.write_wav(os.path.join(out_dir, name), x)
            segs = [{"start": round(sa / sc.SR, 3), "end": round((sa + len(ua)) / sc.SR, 3), "text": valid.meta(a)["text"]},
                    {"start": round(sb / sc.SR, 3), "end": round((sb + len(ub)) / sc.SR, 3), "text": valid.meta(b)["text"]}]
            manifest.append({"file": name, "kind": "speech", "language": lang,
                             "text": " ".join(s["text"] for s in segs), "segments": segs,
                             "voices": [valid.meta(a)["voice"], valid.meta(b)["voice"]],
                             "duration": round(len(x) / sc.SR, 3)})
    for k in range(min(n_word_clips, len(words))):
        x = words.pcm(k)
        m = words.meta(k)
        name = f"words-{m['lang']}-{k:02d}.wav"
        sc.write_wav(os.path.join(out_dir, name), x)
        manifest.append({"file": name, "kind": "words", "language": m["lang"], "text": m["text"],
                         "words": [{"word": w["word"], "start": round(w["start"], 3), "end": round(w["end"], 3)}
                                   for w in m["words"]],
                         "voices": [m["voice"]], "duration": round(len(x) / sc.SR, 3)})
    sil = np.zeros(3 * sc.SR, np.float32)
    sc.write_wav(os.path.join(out_dir, "silence.wav"), sil)
    manifest.append({"file": "silence.wav", "kind": "nospeech", "language": None, "text": "", "duration": 3.0})
    noise = sc.colored_noise(rng, 3 * sc.SR, "pink") * np.float32(0.05)
    sc.write_wav(os.path.join(out_dir, "noise.wav"), noise)
    manifest.append({"file": "noise.wav", "kind": "nospeech", "language": None, "text": "", "duration": 3.0})
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump({"sample_rate": sc.SR, "generator": "tools/train_synthetic/make_data.py", "seed": seed,
                   "clips": manifest}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))


def build_windows(path, bank, tok, n, seed, filters):
    rng = np.random.default_rng([seed, 7])
    mels = np.zeros((n, filters.shape[0], sc.N_FRAMES), np.float16)
    toks = np.full((n, 448), -1, np.int32)
    mask = np.zeros((n, 447), bool)
    n_tok = np.zeros(n, np.int32)
    infos = []
    for k in range(n):
        x, t, nm, info = sc.compose_window(rng, bank, tok)
        mels[k] = sc.log_mel(x, filters)
        toks[k, :len(t)] = t
        n_tok[k] = len(t)
        mask[k, :len(t) - 1] = sc.labels_mask(t, nm, info)
        infos.append({kk: v for kk, v in info.items() if kk != "segments"} |
                     {"text": " ".join(s[2] for s in info.get("segments", []))})
    np.savez(path, mel=mels, tokens=toks, n_tok=n_tok, mask=mask,
             info=np.array(json.dumps(infos, ensure_ascii=False)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="/tmp/synth-prefix", help="unpack_debs.sh prefix (env.sh); '' = system espeak-ng")
    ap.add_argument("--assets", default=".device-carry/train-assets",
                    help="folder with multilingual.tiktoken, mel_filters.npz, languages.tsv")
    ap.add_argument("--langs", default="en,de,es,it")
    ap.add_argument("--utts", type=int, default=30000, help="training utterances in the bank")
    ap.add_argument("--valid-utts", type=int, default=400, help="held-out utterances (all languages)")
    ap.add_argument("--word-clips", type=int, default=48, help="held-out one-word-at-a-time clips")
    ap.add_argument("--windows", type=int, default=256, help="fixed validation windows (mel + tokens)")
    ap.add_argument("--shard-utts", type=int, default=2500)
    ap.add_argument("--p-words", type=float, default=0.12, help="share of training utterances made of random words")
    ap.add_argument("--heldout-per-lang", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    t0 = time.time()
    env = sc.load_synth_env(a.prefix)
    langs = [l.strip() for l in a.langs.split(",") if l.strip()]
    tok = sc.Tok(a.assets)
    filters = np.load(os.path.join(a.assets, "mel_filters.npz"))["mel_80"].astype(np.float32)
    root = env.get("SYNTH_TEXT_ROOT", "/usr/share")
    sent = {"train": {}, "valid": {}}
    words = {}
    for l in langs:
        s = sc.fortune_sentences(root, l)
        sent["train"][l] = [x for x in s if not sc.is_heldout(x)]
        sent["valid"][l] = [x for x in s if sc.is_heldout(x)]
        words[l] = sc.word_list(root, l)
        print(f"{l}: {len(sent['train'][l])} train / {len(sent['valid'][l])} held-out sentences, "
              f"{len(words[l])} words", flush=True)
        if not sent["train"][l] or not sent["valid"][l]:
            sys.exit(f"no sentences for {l} under {root}")
    G.update(env=env, seed=a.seed, langs=langs, sent=sent, words=words, p_words=a.p_words,
             lang_weight={l: (2.0 if l == "en" else 1.0) for l in langs})

    bank_dir = os.path.join(a.out, "bank")
    os.makedirs(bank_dir, exist_ok=True)
    meta = {"seed": a.seed, "langs": langs, "sentences": {k: {l: len(v) for l, v in d.items()} for k, d in sent.items()},
            "tokenizer": tok.enc.name}

    # held-out first (small), so a partial run is already useful
    t = time.time()
    res = [r for r in run_pool(make_utt, [(2, i, "valid") for i in range(a.valid_utts)], a.workers) if r]
    sc.write_bank_shard(os.path.join(bank_dir, "valid-000"), res)
    meta["valid"] = {"utts": len(res), "seconds_audio": sum(len(p) for p, _ in res) / sc.SR,
                     "wall_s": time.time() - t}
    t = time.time()
    res = [r for r in run_pool(make_word_clip, [(3, i) for i in range(a.word_clips)], a.workers, 1) if r]
    sc.write_bank_shard(os.path.join(bank_dir, "words-000"), res)
    meta["words"] = {"clips": len(res), "wall_s": time.time() - t}
    print(f"held-out: {meta['valid']['utts']} utterances, {meta['words']['clips']} word clips "
          f"({time.time() - t0:.1f} s)", flush=True)

    valid = sc.Bank.load(bank_dir, "valid")
    wclips = sc.Bank.load(bank_dir, "words")
    hsize = build_heldout(os.path.join(a.out, "heldout"), valid, wclips, tok, a.seed, a.heldout_per_lang)
    meta["heldout_bytes"] = hsize
    print(f"heldout/: {hsize / 1e6:.2f} MB", flush=True)

    t = time.time()
    if a.windows:
        os.makedirs(os.path.join(a.out, "windows"), exist_ok=True)
        build_windows(os.path.join(a.out, "windows", "valid.npz"), valid, tok, a.windows, a.seed, filters)
    meta["windows"] = {"n": a.windows, "wall_s": time.time() - t,
                       "s_per_window": (time.time() - t) / max(1, a.windows)}
    print(f"windows: {a.windows} in {time.time() - t:.1f} s", flush=True)

    t = time.time()
    n_ok = 0
    secs = 0.0
    for s0 in range(0, a.utts, a.shard_utts):
        jobs = [(1, i, "train") for i in range(s0, min(a.utts, s0 + a.shard_utts))]
        res = [r for r in run_pool(make_utt, jobs, a.workers) if r]
        sc.write_bank_shard(os.path.join(bank_dir, f"train-{s0 // a.shard_utts:03d}"), res)
        n_ok += len(res)
        secs += sum(len(p) for p, _ in res) / sc.SR
        el = time.time() - t
        print(f"train: {n_ok}/{a.utts} utterances, {secs / 3600:.2f} h audio, {el:.0f} s "
              f"({n_ok / max(el, 1e-9):.1f} utt/s)", flush=True)
    meta["train"] = {"utts": n_ok, "hours_audio": secs / 3600, "wall_s": time.time() - t,
                     "utt_per_s": n_ok / max(time.time() - t, 1e-9)}
    meta["bank_bytes"] = sum(os.path.getsize(os.path.join(bank_dir, f)) for f in os.listdir(bank_dir))
    meta["total_wall_s"] = time.time() - t0
    meta["workers"] = a.workers
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
