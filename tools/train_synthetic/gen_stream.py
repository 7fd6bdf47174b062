#!/usr/bin/env python3
"""Generates training utterances continuously: --workers espeak-ng worker processes each keep
writing shards of --shard-utts fresh utterances into --out (a spool folder) until stopped. The
trainer (train.py) takes every complete shard (its .json is renamed into place last), copies it
into its GPU bank and deletes the files, so the spool stays small; when nobody consumes, the
workers pause once the spool holds --max-spool-gb.

Each utterance: a language (en 2x), a text from synth_common.TextSource (whole training
sentences, two joined, fragments, recombined clauses, and --p-words random word sequences), a
random voice + variant, speed 120-210 wpm, pitch 10-90, sometimes longer pauses between words,
22050 -> 16 kHz (exact rational FFT resampling), trimmed, scaled to peak 0.9, token ids of
" " + text stored with it. Held-out sentences (synth_common.is_heldout) never appear.

Stops when: --stop-file exists, --parent-pid is gone, --max-utts are written (tests), or
--max-minutes have passed. Shard names: g<seed>-w<worker>-<n>.{npy,json}.

  python3 tools/train_synthetic/gen_stream.py --prefix /tmp/synth-prefix \
      --assets .device-carry/train-assets --out /tmp/synth-spool --workers 12
"""

import argparse
import glob
import json
import multiprocessing as mp
import os
import signal
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_common as sc  # noqa: E402

G = {}


def load_text(env, langs, p_words):
    root = env.get("SYNTH_TEXT_ROOT", "/usr/share")
    sent, words = {}, {}
    for l in langs:
        s = sc.fortune_sentences(root, l)
        sent[l] = [x for x in s if not sc.is_heldout(x)]
        words[l] = sc.word_list(root, l)
        if not sent[l]:
            sys.exit(f"no training sentences for {l} under {root}")
    return sc.TextSource(sent, words, p_words)


def make_train_utt(rng, env, src, tok, langs, lang_w):
    lang = langs[int(rng.choice(len(langs), p=lang_w))]
    text, tag = src.sample(rng, lang)
    r = sc.synth_utterance(env, rng, lang, text)
    if r is None:
        return None
    x, m = r
    m["src"] = tag
    m["tokens"] = tok.encode(" " + text)
    return x, m


def _alive(a):
    if a.stop_file and os.path.exists(a.stop_file):
        return False
    if a.parent_pid:
        try:
            os.kill(a.parent_pid, 0)
        except OSError:
            return False
    return True


def _spool_bytes(out):
    n = 0
    for p in glob.glob(os.path.join(out, "g*.npy")):
        try:
            n += os.path.getsize(p)
        except OSError:
            pass
    return n


def setup(a):
    """Text, tokenizer, espeak-ng environment: loaded once, inherited by the forked workers."""
    env = sc.load_synth_env(a.prefix)
    langs = [l for l in a.langs.split(",") if l]
    G.update(env=env, langs=langs, src=load_text(env, langs, a.p_words), tok=sc.Tok(a.assets))
    w = np.array([2.0 if l == "en" else 1.0 for l in langs])
    G["w"] = w / w.sum()


def worker(wid, a, per_worker):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    env, src, tok, langs, w = G["env"], G["src"], G["tok"], G["langs"], G["w"]
    k = 0
    shard = 0
    t_end = time.time() + a.max_minutes * 60 if a.max_minutes else None
    while per_worker is None or k < per_worker:
        if not _alive(a) or (t_end and time.time() > t_end):
            return
        while a.max_spool_gb and _spool_bytes(a.out) > a.max_spool_gb * 1e9:
            time.sleep(1.0)
            if not _alive(a):
                return
        utts = []
        n = a.shard_utts if per_worker is None else min(a.shard_utts, per_worker - k)
        for _ in range(n):
            r = make_train_utt(np.random.default_rng([a.seed, 1000 + wid, k]), env, src, tok, langs, w)
            k += 1
            if r is not None:
                utts.append(r)
        if utts:
            sc.write_bank_shard(os.path.join(a.out, f"g{a.seed}-w{wid:02d}-{shard:06d}"), utts, atomic=True)
            shard += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="spool folder")
    ap.add_argument("--prefix", default="/tmp/synth-prefix", help="unpack_debs.sh prefix (env.sh); '' = system espeak-ng")
    ap.add_argument("--assets", default=".device-carry/train-assets")
    ap.add_argument("--langs", default="en,de,es,it")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 4))
    ap.add_argument("--shard-utts", type=int, default=200)
    ap.add_argument("--p-words", type=float, default=0.4, help="share of random word sequences")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-utts", type=int, default=0, help="stop after this many (0: run until stopped)")
    ap.add_argument("--max-minutes", type=float, default=0.0)
    ap.add_argument("--max-spool-gb", type=float, default=12.0)
    ap.add_argument("--stop-file", default="")
    ap.add_argument("--parent-pid", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for p in glob.glob(os.path.join(a.out, ".tmp-*")):
        os.remove(p)
    per_worker = None
    if a.max_utts:
        per_worker = -(-a.max_utts // a.workers)
    t0 = time.time()
    setup(a)
    print(f"gen_stream: text loaded in {time.time() - t0:.1f} s: " +
          ", ".join(f"{l} {len(G['src'].sent[l])} sentences / {len(G['src'].dict_words[l])} + "
                    f"{len(G['src'].vocab[l])} words" for l in G["langs"]), flush=True)
    print(f"gen_stream: {a.workers} workers -> {a.out} (seed {a.seed}, p_words {a.p_words})", flush=True)
    if a.workers <= 1:
        worker(0, a, per_worker)
    else:
        ctx = mp.get_context("fork")
        procs = [ctx.Process(target=worker, args=(i, a, per_worker), daemon=True) for i in range(a.workers)]
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                time.sleep(1.0)
                if not _alive(a):
                    time.sleep(2.0)
                    break
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(5)
    n = sum(len(json.load(open(p))) for p in glob.glob(os.path.join(a.out, "g*.json"))) if a.max_utts else None
    print(f"gen_stream: done after {time.time() - t0:.0f} s" + (f", {n} utterances in the spool" if n is not None else ""),
          flush=True)


if __name__ == "__main__":
    main()
