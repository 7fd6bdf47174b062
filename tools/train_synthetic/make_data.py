#!/usr/bin/env python3
"""Held-out material for the synthetic Whisper (the training utterances come from gen_stream.py,
generated while the model trains).

Writes under --out:
  bank/valid-000.{npy,json}   held-out sentences (content-hash split, synth_common.is_heldout) spoken
                              by random voices: int16 PCM at 16 kHz + metadata (lang, text, tokens,
                              voice, speed, pitch)
  bank/words-000.{npy,json}   held-out sentences spoken one word at a time, word boundaries in the
                              json (alignment-head choice)
  windows/valid.npz           --windows fixed 30 s windows composed from the held-out bank
                              (synth_common.plan_window + render_window: the training format):
                              mel float16 [N, 80, 3000], tokens int32 [N, 448] (-1 padded), n_tok,
                              loss mask, info; validation loss / greedy eval at each checkpoint
  heldout/                    small committable evaluation set (WAV + manifest.json), <= 5 MB
  heldout-big/                the same recipe with more clips (eval.json's main numbers), <= 11 MB
  meta.json                   counts, sizes, timings, settings

Deterministic for a given --seed whatever --workers is (each utterance has its own generator).

  python3 tools/train_synthetic/make_data.py --prefix /tmp/synth-prefix \
      --assets .device-carry/train-assets --out /tmp/synth-data --workers 16
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


def make_utt(args):
    """(stream, i) -> (pcm, meta) or None: one held-out sentence, random voice."""
    stream, i = args
    rng = _utt_rng(G["seed"], stream, i)
    langs = G["langs"]
    w = np.array([G["lang_weight"].get(l, 1.0) for l in langs])
    lang = langs[int(rng.choice(len(langs), p=w / w.sum()))]
    pool = G["sent"][lang]
    text = pool[int(rng.integers(len(pool)))]
    r = sc.synth_utterance(G["env"], rng, lang, text, speed=(130, 201), pitch=(20, 81), p_gap=0.0)
    if r is None:
        return None
    x, m = r
    m["src"] = "sentence"
    m["tokens"] = G["tok"].encode(" " + text)
    return x, m


def _synth(text, voice, speed, pitch):
    x, sr = sc.espeak(G["env"], text, voice, speed, pitch)
    return sc.trim_silence(sc.to_16k(x, sr))


def make_word_clip(args):
    """One held-out sentence spoken one word at a time; exact word boundaries."""
    stream, i = args
    rng = _utt_rng(G["seed"], stream, i)
    langs = G["langs"]
    lang = langs[i % len(langs)]
    pool = G["sent"][lang]
    for _ in range(20):
        text = pool[int(rng.integers(len(pool)))]
        words = [w.strip(".,;:!?\"()'-") for w in text.split()]
        words = [w for w in words if w and sc._ALLOWED.match(w)]
        if 4 <= len(words) <= 12:
            break
    voice = sc.random_voice(rng, lang)
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


def build_heldout(out_dir, valid, words, seed, per_lang=3, n_word_clips=4, first=0, word_first=0,
                  max_bytes=5_000_000, nospeech=True):
    """Evaluation set: per language `per_lang` clips of 2 held-out utterances (<= 4.5 s each) with a
    lead and a gap, peak 0.5; `n_word_clips` one-word-at-a-time clips; 3 s of digital silence and
    3 s of pink noise. Utterances from index `first` on (per language), word clips from
    `word_first`, so that two sets built from one bank are disjoint. Stops adding speech clips
    before the folder exceeds max_bytes."""
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([seed, 99, first])
    manifest = []
    size = 0
    reserve = (6 * sc.SR * 2 + 200) if nospeech else 0
    for k in range(min(n_word_clips, len(words) - word_first)):
        kk = word_first + k
        x = words.pcm(kk)
        m = words.meta(kk)
        name = f"words-{m['lang']}-{kk:02d}.wav"
        sc.write_wav(os.path.join(out_dir, name), x)
        size += 44 + 2 * len(x)
        manifest.append({"file": name, "kind": "words", "language": m["lang"], "text": m["text"],
                         "words": [{"word": w["word"], "start": round(w["start"], 3), "end": round(w["end"], 3)}
                                   for w in m["words"]],
                         "voices": [m["voice"]], "duration": round(len(x) / sc.SR, 3)})
    full = False
    for k in range(per_lang):
        for lang in sorted(valid.by_lang):
            idx = [j for j in valid.by_lang[lang] if valid.meta(j)["length"] <= 4.5 * sc.SR] or valid.by_lang[lang]
            a, b = (int(idx[(first + 2 * k) % len(idx)]), int(idx[(first + 2 * k + 1) % len(idx)]))
            lead = rng.uniform(0.3, 1.0)
            gap = rng.uniform(0.4, 1.2)
            ua, ub = valid.pcm(a), valid.pcm(b)
            ua = ua * np.float32(0.5 / (np.abs(ua).max() + 1e-6))
            ub = ub * np.float32(0.5 / (np.abs(ub).max() + 1e-6))
            sa = int(lead * sc.SR)
            sb = sa + len(ua) + int(gap * sc.SR)
            x = np.zeros(sb + len(ub) + int(0.5 * sc.SR), np.float32)
            if size + 44 + 2 * len(x) + reserve + 4000 > max_bytes:
                full = True
                break
            x[sa:sa + len(ua)] = ua
            x[sb:sb + len(ub)] = ub
            name = f"{lang}-{k:02d}.wav"
            sc.write_wav(os.path.join(out_dir, name), x)
            size += 44 + 2 * len(x)
            segs = [{"start": round(sa / sc.SR, 3), "end": round((sa + len(ua)) / sc.SR, 3), "text": valid.meta(a)["text"]},
                    {"start": round(sb / sc.SR, 3), "end": round((sb + len(ub)) / sc.SR, 3), "text": valid.meta(b)["text"]}]
            manifest.append({"file": name, "kind": "speech", "language": lang,
                             "text": " ".join(s["text"] for s in segs), "segments": segs,
                             "voices": [valid.meta(a)["voice"], valid.meta(b)["voice"]],
                             "duration": round(len(x) / sc.SR, 3)})
        if full:
            break
    if nospeech:
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


def _window(k):
    """One validation window (own generator: the same result whatever --workers is)."""
    bank, tok, filters = G["vbank"], G["tok"], G["filters"]
    rng = np.random.default_rng([G["seed"], 7, k])
    p = sc.plan_window(rng, bank, tok)
    x = sc.render_window(p, bank, rng)
    t = p["tokens"]
    info = {"kind": p["kind"], "lang": p["lang"], "timestamps": p["timestamps"], "cut": p["cut"],
            "text": sc.plan_text(p, bank)}
    return sc.log_mel(x, filters).astype(np.float16), t, sc.labels_mask(t, p["n_masked"], {"task_pos": p["task_pos"]}), info


def build_windows(path, bank, tok, n, filters, workers):
    G.update(vbank=bank, filters=filters)
    mels = np.zeros((n, filters.shape[0], sc.N_FRAMES), np.float16)
    toks = np.full((n, 448), -1, np.int32)
    mask = np.zeros((n, 447), bool)
    n_tok = np.zeros(n, np.int32)
    infos = []
    for k, (m, t, mk, info) in enumerate(run_pool(_window, list(range(n)), workers, 4)):
        mels[k] = m
        toks[k, :len(t)] = t
        n_tok[k] = len(t)
        mask[k, :len(t) - 1] = mk
        infos.append(info)
    np.savez(path, mel=mels, tokens=toks, n_tok=n_tok, mask=mask,
             info=np.array(json.dumps(infos, ensure_ascii=False)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prefix", default="/tmp/synth-prefix", help="unpack_debs.sh prefix (env.sh); '' = system espeak-ng")
    ap.add_argument("--assets", default=".device-carry/train-assets",
                    help="folder with multilingual.tiktoken, mel_filters.npz, languages.tsv")
    ap.add_argument("--langs", default="en,de,es,it")
    ap.add_argument("--valid-utts", type=int, default=400, help="held-out utterances (all languages)")
    ap.add_argument("--word-clips", type=int, default=48, help="held-out one-word-at-a-time clips")
    ap.add_argument("--windows", type=int, default=256, help="fixed validation windows (mel + tokens)")
    ap.add_argument("--heldout-per-lang", type=int, default=3)
    ap.add_argument("--heldout-word-clips", type=int, default=4)
    ap.add_argument("--big-per-lang", type=int, default=12, help="heldout-big/: clips per language (0: none)")
    ap.add_argument("--big-word-clips", type=int, default=8)
    ap.add_argument("--big-max-mb", type=float, default=11.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()

    t0 = time.time()
    env = sc.load_synth_env(a.prefix)
    langs = [l.strip() for l in a.langs.split(",") if l.strip()]
    tok = sc.Tok(a.assets)
    filters = np.load(os.path.join(a.assets, "mel_filters.npz"))["mel_80"].astype(np.float32)
    root = env.get("SYNTH_TEXT_ROOT", "/usr/share")
    sent = {}
    n_train = {}
    for l in langs:
        s = sc.fortune_sentences(root, l)
        sent[l] = [x for x in s if sc.is_heldout(x)]
        n_train[l] = len(s) - len(sent[l])
        print(f"{l}: {n_train[l]} training / {len(sent[l])} held-out sentences", flush=True)
        if not sent[l]:
            sys.exit(f"no held-out sentences for {l} under {root}")
    G.update(env=env, seed=a.seed, langs=langs, sent=sent, tok=tok,
             lang_weight={l: (2.0 if l == "en" else 1.0) for l in langs})

    bank_dir = os.path.join(a.out, "bank")
    os.makedirs(bank_dir, exist_ok=True)
    meta = {"seed": a.seed, "langs": langs, "sentences": {"train": n_train, "heldout": {l: len(v) for l, v in sent.items()}},
            "tokenizer": tok.enc.name}

    t = time.time()
    res = [r for r in run_pool(make_utt, [(2, i) for i in range(a.valid_utts)], a.workers) if r]
    sc.write_bank_shard(os.path.join(bank_dir, "valid-000"), res)
    meta["valid"] = {"utts": len(res), "seconds_audio": sum(len(p) for p, _ in res) / sc.SR,
                     "wall_s": time.time() - t, "utt_per_s": len(res) / max(time.time() - t, 1e-9)}
    t = time.time()
    res = [r for r in run_pool(make_word_clip, [(3, i) for i in range(a.word_clips)], a.workers, 1) if r]
    sc.write_bank_shard(os.path.join(bank_dir, "words-000"), res)
    meta["words"] = {"clips": len(res), "wall_s": time.time() - t}
    print(f"held-out bank: {meta['valid']['utts']} utterances ({meta['valid']['utt_per_s']:.0f}/s), "
          f"{meta['words']['clips']} word clips ({time.time() - t0:.1f} s)", flush=True)

    valid = sc.Bank.load(bank_dir, "valid", tok)
    wclips = sc.Bank.load(bank_dir, "words", tok)
    hsize = build_heldout(os.path.join(a.out, "heldout"), valid, wclips, a.seed, a.heldout_per_lang,
                          a.heldout_word_clips)
    meta["heldout_bytes"] = hsize
    msg = f"heldout/: {hsize / 1e6:.2f} MB"
    if a.big_per_lang:
        bsize = build_heldout(os.path.join(a.out, "heldout-big"), valid, wclips, a.seed, a.big_per_lang,
                              a.big_word_clips, first=2 * a.heldout_per_lang, word_first=a.heldout_word_clips,
                              max_bytes=int(a.big_max_mb * 1e6))
        meta["heldout_big_bytes"] = bsize
        msg += f", heldout-big/: {bsize / 1e6:.2f} MB"
    print(msg, flush=True)

    t = time.time()
    if a.windows:
        os.makedirs(os.path.join(a.out, "windows"), exist_ok=True)
        build_windows(os.path.join(a.out, "windows", "valid.npz"), valid, tok, a.windows, filters, a.workers)
    meta["windows"] = {"n": a.windows, "wall_s": time.time() - t,
                       "s_per_window": (time.time() - t) / max(1, a.windows)}
    print(f"windows: {a.windows} in {time.time() - t:.1f} s", flush=True)
    meta["total_wall_s"] = time.time() - t0
    meta["workers"] = a.workers
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
