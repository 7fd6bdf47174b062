#!/usr/bin/env python3
"""Checks and times train.py's data path on the machine at hand (CPU or GPU):

- --check: renders the same window plans with synth_common.render_window (numpy, the
  reference) and train.render_batch (torch, batched) without noise and compares them sample by
  sample; checks that every plan's tokens are the Whisper format (sot / language / task / text /
  timestamps / eot, prompt before sot) and that the mel has no NaN/inf.
- timing: CPU planning per batch, device rendering and log-mel per batch (synchronised).

  python3 tools/train_synthetic/bench_data.py --spool /tmp/spool --assets .device-carry/train-assets \
      --batch 64 --iters 5 --check

The spool's shards are read, not deleted (copy them first if a trainer should use them too).
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import synth_common as sc  # noqa: E402
import train as tr  # noqa: E402

import torch  # noqa: E402


class _View:
    """numpy view of a DeviceBank for synth_common.render_window (pcm(j) as float)."""

    def __init__(self, bank, host_pcm):
        self.b, self.h = bank, host_pcm

    def pcm(self, j):
        o, n = self.b.off[j], self.b.len[j]
        return self.h[o:o + n].astype(np.float32) / 32768.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--assets", default=".device-carry/train-assets")
    ap.add_argument("--langs", default="en,de,es,it")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    tok = sc.Tok(a.assets)
    L = tok.L
    langs = a.langs.split(",")
    shards = sorted(glob.glob(os.path.join(a.spool, "g*.json")))
    total = sum(os.path.getsize(p[:-5] + ".npy") for p in shards) // 2 + 1000
    bank = tr.DeviceBank(total, dev, langs)
    host = np.zeros(total, np.int16)
    for p in shards:
        x = np.load(p[:-5] + ".npy")
        a0 = bank.wp
        bank.add(torch.from_numpy(x), json.load(open(p, encoding="utf-8")))
        host[a0:a0 + len(x)] = x
    print(f"bank: {bank.n_live} utterances, {bank.samples_live / sc.SR / 3600:.2f} h, device {dev}")
    filters = np.load(os.path.join(a.assets, "mel_filters.npz"))["mel_80"].astype(np.float32)
    mel_fn = tr.GpuMel(filters).to(dev)
    rng = np.random.default_rng(5)
    g = torch.Generator(device=dev)
    g.manual_seed(5)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    if a.check:
        view = _View(bank, host)
        plans = [sc.plan_window(rng, bank, tok) for _ in range(max(8, min(a.batch, 32)))]
        quiet = [dict(p, noise=(p["noise"][0], 0.0, p["noise"][2], False)) for p in plans]
        P = tr.plans_to_tensors(quiet, bank, dev, False)
        xt = tr.render_batch(bank.pcm, P, g, a.chunk).cpu().numpy()
        worst = 0.0
        for k, p in enumerate(quiet):
            xn = sc.render_window(p, view, np.random.default_rng(0))
            worst = max(worst, float(np.abs(xn - xt[k]).max()))
        print(f"check: numpy vs torch render, {len(plans)} windows without noise: max |diff| {worst:.2e}")
        assert worst < 1e-3, worst  # fp32 fractional position: <= 0.002 samples of interpolation
        kinds = {}
        for p in plans:
            t = p["tokens"]
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
            i = t.index(L.sot)
            assert i == 0 or t[0] == L.sot_prev, t[:3]
            assert t[-1] == L.eot
            if p["kind"] == "speech":
                assert t[i + 1] == tok.lang(p["lang"]) and t[i + 2] == L.transcribe
                if p["timestamps"]:
                    assert t[i + 3] >= L.timestamp_begin, "first token after the task must be a timestamp"
                else:
                    assert t[i + 3] == L.no_timestamps
            elif p["kind"] == "nospeech":
                assert t == [L.sot, L.no_speech, L.eot]
        P = tr.plans_to_tensors(plans, bank, dev, False)
        m = mel_fn(tr.render_batch(bank.pcm, P, g, a.chunk))
        assert torch.isfinite(m).all()
        print(f"check: tokens ok ({kinds}); mel finite, range {float(m.min()):.2f} .. {float(m.max()):.2f}")
        ex = plans[0]
        print("example:", ex["kind"], ex["lang"], tok.decode_text([t for t in ex["tokens"] if t < L.eot])[:120])

    tp = tr_ = tm = 0.0
    for it in range(a.iters + 1):
        t0 = time.time()
        plans = [sc.plan_window(rng, bank, tok) for _ in range(a.batch)]
        dec_in, labels, sel = tr.collate_tokens(plans, L.eot)
        P = tr.plans_to_tensors(plans, bank, dev, dev.type == "cuda")
        sync()
        t1 = time.time()
        x = tr.render_batch(bank.pcm, P, g, a.chunk)
        sync()
        t2 = time.time()
        m = mel_fn(x)
        sync()
        t3 = time.time()
        if it:  # the first iteration warms up
            tp += t1 - t0
            tr_ += t2 - t1
            tm += t3 - t2
    n = a.iters
    print(f"per batch of {a.batch}: plan+collate {1e3 * tp / n:.1f} ms (CPU), render {1e3 * tr_ / n:.1f} ms, "
          f"mel {1e3 * tm / n:.1f} ms on {dev}; per window {1e3 * (tp + tr_ + tm) / n / a.batch:.2f} ms")


if __name__ == "__main__":
    main()
