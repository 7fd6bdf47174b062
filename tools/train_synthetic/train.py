#!/usr/bin/env python3
"""Trains a small Whisper (transformers' WhisperForConditionalGeneration, v2 layout: n_vocab
51865, 80 mels) on synthetic speech generated while it trains, within a wall-clock budget, and
writes an HF directory (config.json, generation_config.json with every ORACLE.md field and
alignment heads chosen on the one-word-at-a-time clips, model.safetensors in fp16,
training.json, eval.json).

  python3 tools/train_synthetic/train.py --data /tmp/synth-data --assets .device-carry/train-assets \\
      --ckpt /tmp/synth-ckpt --final /tmp/synth-model --minutes 20 --gen-workers 12

Data path (no DataLoader):
- gen_stream.py (started here as a child process, --gen-workers espeak-ng processes) keeps
  writing shards of fresh utterances into --spool; a loader thread reads each complete shard,
  deletes its files, pins it; the main loop copies it into a ring buffer of int16 PCM on the GPU
  (--bank-gb; when full the oldest utterances are overwritten) and indexes it (DeviceBank).
  Training starts when --min-start-utts utterances are in.
- Per batch, the CPU plans every window (synth_common.plan_window: which utterances where,
  speed, gain, noise, the Whisper-format tokens; utterances sampled half uniformly, half from
  the newest quarter of the bank); the GPU renders all windows at once (gather with linear
  interpolation for the speed change, gain, coloured noise at an SNR, gating, peak limit:
  render_batch) and computes the log-mel (GpuMel). CUDA events measure the GPU's idle time
  before each batch's data and the time it spends rendering: "data wait" in the log.
- The loss is computed on the labelled positions only (the 51865-way projection of the padding
  and prompt positions is skipped).
- bf16 autocast, AdamW, linear warm-up then cosine decay over the time budget. --minutes is wall
  time of the training loop *including* the checkpoint evaluations (so the session plan holds);
  resumable: --ckpt/last.pt holds model, optimiser, step, elapsed seconds; re-running continues
  until the budget (counted across runs) is spent. The bank is not saved: a resumed run
  generates afresh.
- Each checkpoint (--ckpt-minutes): last.pt; validation loss on windows/valid.npz, greedy
  no-timestamps WER per language, language-ID accuracy, no-speech detection, data wait; one
  compact line in the log and a record in --ckpt/log.jsonl.
- At the end: the generator is stopped, final evaluation, alignment heads (cross-attention DTW
  per decoder head on the word clips; q/k projections captured with forward hooks, so it works
  whatever attention implementation is active), the fp16 HF directory, then eval.json from
  eval_reference.py (transformers' generate, greedy) on heldout-big/ and heldout/.
- --dry-run: no transformers: a plain-torch stand-in with the same module names, on the CPU,
  tiny shapes; exercises everything else (generator, ingest, render, loss, checkpoint/resume,
  evals, heads, files, eval.json through evalcommon).
"""

import argparse
import collections
import copy
import glob
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import evalcommon as ec  # noqa: E402
import heads as heads_mod  # noqa: E402
import synth_common as sc  # noqa: E402
import whisper_tokens as wt  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

N = sc.N_SAMPLES


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------------------------------------
# the bank on the device, fed from the spool
# ------------------------------------------------------------------------------------------
class ShardLoader(threading.Thread):
    """Reads complete shards (json present) from the spool, deletes them, pins the PCM."""

    def __init__(self, spool, pin, maxsize=48):
        super().__init__(daemon=True)
        self.spool, self.pin = spool, pin
        self.q = queue.Queue(maxsize=maxsize)
        self.stop = threading.Event()
        self.errors = 0
        self.read_s = 0.0

    def run(self):
        while not self.stop.is_set():
            js = sorted(glob.glob(os.path.join(self.spool, "g*.json")), key=lambda p: (os.path.getmtime(p), p)
                        if os.path.exists(p) else (0, p))
            if not js:
                time.sleep(0.2)
                continue
            for j in js:
                if self.stop.is_set():
                    return
                base = j[:-5]
                try:
                    t = time.time()
                    metas = json.load(open(j, encoding="utf-8"))
                    pcm = np.load(base + ".npy")
                    os.remove(j)
                    os.remove(base + ".npy")
                    x = torch.from_numpy(pcm)
                    if self.pin:
                        x = x.pin_memory()
                    self.read_s += time.time() - t
                except Exception as e:  # a shard being written / removed: skip it this round
                    self.errors += 1
                    if self.errors < 5:
                        log(f"loader: {base}: {type(e).__name__}: {e}")
                    continue
                while not self.stop.is_set():
                    try:
                        self.q.put((x, metas), timeout=0.5)
                        break
                    except queue.Full:
                        pass


class DeviceBank:
    """int16 PCM ring buffer on the device + per-utterance index (host). The sampling interface
    matches synth_common.Bank (langs, sample, length, tokens, peak, text)."""

    def __init__(self, capacity, device, langs, p_recent=0.5, recent_frac=0.25):
        self.cap = int(capacity)
        self.device = device
        self.pcm = torch.zeros(self.cap, dtype=torch.int16, device=device)
        self.langs = list(langs)
        self.lang_index = {l: i for i, l in enumerate(self.langs)}
        self.p_recent, self.recent_frac = p_recent, recent_frac
        self.wp = 0
        self.off, self.len, self.peak_, self.toks, self.uses = [], [], [], [], []
        self.valid = bytearray()
        self.lang_of = bytearray()
        self.live = {l: [] for l in self.langs}
        self.dead = {l: 0 for l in self.langs}
        self.shards = collections.deque()  # [first id, last id + 1, start, end]
        self.pending = collections.deque()  # (event, pinned tensor) until the copy is done
        self.n_live = 0
        self.samples_live = 0
        self.samples_total = 0
        self.n_evicted = 0
        self.uses_evicted = 0
        self.placements = 0

    def __len__(self):
        return len(self.off)

    def _evict(self, a, b):
        keep = collections.deque()
        for sh in self.shards:
            u0, u1, s0, s1 = sh
            if s0 < b and a < s1:
                for j in range(u0, u1):
                    if self.valid[j]:
                        self.valid[j] = 0
                        self.dead[self.langs[self.lang_of[j]]] += 1
                        self.n_live -= 1
                        self.samples_live -= self.len[j]
                        self.n_evicted += 1
                        self.uses_evicted += self.uses[j]
                        self.toks[j] = None
            else:
                keep.append(sh)
        self.shards = keep

    def add(self, pcm, metas):
        n = int(pcm.shape[0])
        if n == 0 or n > self.cap:
            return 0
        if self.wp + n > self.cap:
            self.wp = 0
        a, b = self.wp, self.wp + n
        self._evict(a, b)
        self.pcm[a:b].copy_(pcm.to(torch.int16), non_blocking=True)
        if self.device.type == "cuda":
            ev = torch.cuda.Event()
            ev.record()
            self.pending.append((ev, pcm))
            while self.pending and self.pending[0][0].query():
                self.pending.popleft()
        u0 = len(self.off)
        added = 0
        for m in metas:
            li = self.lang_index.get(m["lang"])
            j = len(self.off)
            self.off.append(a + int(m["offset"]))
            self.len.append(int(m["length"]))
            self.peak_.append(float(m.get("peak", 0.9)))
            self.toks.append(m["tokens"] if li is not None else None)
            self.uses.append(0)
            self.lang_of.append(li if li is not None else 255)
            self.valid.append(1 if li is not None else 0)
            if li is not None:
                self.live[m["lang"]].append(j)
                self.n_live += 1
                self.samples_live += int(m["length"])
                added += 1
        self.shards.append([u0, len(self.off), a, b])
        self.samples_total += n
        self.wp = b
        for l in self.langs:  # compact the id lists when a tenth is dead
            if self.dead[l] > 1000 and self.dead[l] * 10 > len(self.live[l]):
                self.live[l] = [j for j in self.live[l] if self.valid[j]]
                self.dead[l] = 0
        return added

    def ready(self, min_per_lang=8):
        return all(len(self.live[l]) - self.dead[l] >= min_per_lang for l in self.langs)

    def sample(self, rng, lang, audio=True):
        """An utterance id of `lang`: with p_recent from the newest recent_frac of the bank, else
        uniformly. audio=False (prompt text): not counted as a use."""
        lst = self.live[lang]
        n = len(lst)
        for _ in range(64):
            if rng.random() < self.p_recent:
                k = n - 1 - int(rng.integers(max(1, int(n * self.recent_frac))))
            else:
                k = int(rng.integers(n))
            j = lst[k]
            if self.valid[j]:
                if audio:
                    self.uses[j] += 1
                    self.placements += 1
                return j
        self.live[lang] = lst = [j for j in lst if self.valid[j]]
        self.dead[lang] = 0
        j = lst[int(rng.integers(len(lst)))]
        if audio:
            self.uses[j] += 1
            self.placements += 1
        return j

    def length(self, j):
        return self.len[j]

    def tokens(self, j):
        return self.toks[j]

    def peak(self, j):
        return self.peak_[j]

    def text(self, j):
        return ""

    def stats(self):
        live_uses = [self.uses[j] for l in self.langs for j in self.live[l] if self.valid[j]]
        made = len(self.off)
        return {"utts_made": made, "utts_live": self.n_live, "hours_live": self.samples_live / sc.SR / 3600,
                "hours_made": self.samples_total / sc.SR / 3600, "placements": self.placements,
                "uses_per_utt": self.placements / max(made, 1),
                "uses_max_live": max(live_uses) if live_uses else 0,
                "uses_mean_evicted": self.uses_evicted / max(self.n_evicted, 1), "evicted": self.n_evicted}


# ------------------------------------------------------------------------------------------
# batched rendering of window plans on the device
# ------------------------------------------------------------------------------------------
NOISE_EXP = (0.0, 0.5, 1.0)  # white, pink (1/sqrt f amplitude), brown (1/f)


def plans_to_tensors(plans, bank, device, pin):
    B = len(plans)
    K = max(1, max(len(p["place"]) for p in plans))
    start = np.full((B, K), N + 1, np.int32)
    out = np.zeros((B, K), np.int32)
    soff = np.zeros((B, K), np.int64)
    slen = np.ones((B, K), np.int32)
    fm1 = np.zeros((B, K), np.float32)  # speed - 1
    gain = np.zeros((B, K), np.float32)
    kind = np.zeros(B, np.int64)
    level = np.zeros(B, np.float32)
    rel = np.zeros(B, bool)
    gated = np.zeros(B, bool)
    for b, p in enumerate(plans):
        for k, (s, j, o, f, g) in enumerate(p["place"]):
            start[b, k], out[b, k], soff[b, k], slen[b, k] = s, o, bank.off[j], bank.len[j]
            fm1[b, k], gain[b, k] = f - 1.0, g
        kind[b], level[b], rel[b], gated[b] = p["noise"]
    d = {"start": start, "out": out, "soff": soff, "slen": slen, "fm1": fm1, "gain": gain,
         "kind": kind, "level": level, "rel": rel, "gated": gated}
    res = {}
    for k, v in d.items():
        t = torch.from_numpy(v)
        if pin:
            t = t.pin_memory()
        res[k] = t.to(device, non_blocking=True)
    return res


def render_batch(pcm, P, gen, chunk=16):
    """P: plans_to_tensors. -> float32 [B, 480000], the same arithmetic as
    synth_common.render_window: each output sample t inside a placement (start s, speed f) is
    the source at (t - s) * f, linearly interpolated, times the gain; then noise (white noise
    shaped by 1, 1/sqrt f or 1/f in the frequency domain, unit RMS, optionally gated in 0.1 s
    blocks) at level x speech RMS (speech windows) or an absolute level; then a 0.99 peak limit.
    The source position is (t - s) + (t - s)(f - 1): integer part exact, the fractional part in
    fp32 is within 0.002 samples (fp32 (t - s) * f alone would be 0.03 samples off at 29 s)."""
    B, K = P["start"].shape
    dev = pcm.device
    t = torch.arange(N, device=dev, dtype=torch.int32)
    fr = torch.arange(N // 2 + 1, device=dev, dtype=torch.float32)
    fr[0] = 1.0
    expo_tab = torch.tensor(NOISE_EXP, device=dev)
    zero = torch.zeros((), device=dev)
    outs = []
    for c0 in range(0, B, chunk):
        c1 = min(B, c0 + chunk)
        Q = {k: v[c0:c1] for k, v in P.items()}
        b = c1 - c0
        idx = torch.searchsorted(Q["start"], t.unsqueeze(0).expand(b, N).contiguous(), right=True) - 1
        has = idx >= 0
        idx.clamp_(min=0)
        rel = t.unsqueeze(0) - Q["start"].gather(1, idx)
        cov = has & (rel >= 0) & (rel < Q["out"].gather(1, idx))
        rel.clamp_(min=0)
        d = rel.float() * Q["fm1"].gather(1, idx)
        dfl = d.floor()
        frac = d - dfl
        sl = Q["slen"].gather(1, idx)
        i0 = torch.minimum(rel + dfl.int(), sl - 1).clamp_(min=0)
        i1 = torch.minimum(i0 + 1, sl - 1).clamp_(min=0)
        so = Q["soff"].gather(1, idx)
        a = pcm[so + i0].float()
        bb = pcm[so + i1].float()
        x = torch.where(cov, (a + (bb - a) * frac) * (Q["gain"].gather(1, idx) * (1.0 / 32768.0)), zero)
        del idx, rel, d, dfl, sl, i0, i1, so, a, bb, frac
        w = torch.randn(b, N, device=dev, generator=gen)
        y = torch.fft.irfft(torch.fft.rfft(w) * fr.unsqueeze(0).pow(-expo_tab[Q["kind"]].unsqueeze(1)), n=N)
        del w
        y = y / y.std(dim=1, keepdim=True).clamp_min(1e-12)
        gate = torch.rand(b, N // 1600 + 1, device=dev, generator=gen).repeat_interleave(1600, dim=1)[:, :N]
        y = torch.where(Q["gated"].unsqueeze(1), y * gate, y)
        rms = torch.sqrt((x * x).sum(1) / cov.sum(1).clamp_min(1).float())
        lev = torch.where(Q["rel"], Q["level"] * rms, Q["level"])
        x = x + y * lev.unsqueeze(1)
        pk = x.abs().amax(1, keepdim=True)
        x = x * torch.clamp(0.99 / pk.clamp_min(1e-12), max=1.0)
        outs.append(x)
    return torch.cat(outs) if len(outs) > 1 else outs[0]


def collate_tokens(plans, pad_id):
    """-> dec_in [B, T], labels [B, T] (-100 where no loss), flat indices of labelled positions."""
    B = len(plans)
    T = max(len(p["tokens"]) for p in plans) - 1
    dec_in = np.full((B, T), pad_id, np.int64)
    labels = np.full((B, T), -100, np.int64)
    for i, p in enumerate(plans):
        t = np.asarray(p["tokens"], np.int64)
        n = len(t) - 1
        dec_in[i, :n] = t[:-1]
        m = sc.labels_mask(p["tokens"], p["n_masked"], {"task_pos": p["task_pos"]})
        lab = t[1:].copy()
        lab[~m] = -100
        labels[i, :n] = lab
    sel = np.nonzero(labels.reshape(-1) != -100)[0]
    return dec_in, labels, sel


class GpuMel(nn.Module):
    """WhisperFeatureExtractor on a batch of 30 s windows: [B, 480000] -> [B, n_mels, 3000]."""

    def __init__(self, filters):
        super().__init__()
        self.register_buffer("filters", torch.tensor(filters, dtype=torch.float32))
        self.register_buffer("window", torch.hann_window(400, periodic=True))

    @torch.no_grad()
    def forward(self, x):
        st = torch.stft(x.float(), 400, 160, window=self.window, center=True, pad_mode="reflect",
                        return_complex=True)
        power = st.real ** 2 + st.imag ** 2
        mel = self.filters @ power[..., :-1]
        lg = torch.clamp(mel, min=1e-10).log10()
        lg = torch.maximum(lg, lg.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (lg + 4.0) / 4.0


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
def hf_config(a, L):
    """suppress lists are not passed (transformers keeps generation fields out of the model
    config); write_final patches them into config.json as the real checkpoints have them."""
    from transformers import WhisperConfig

    return WhisperConfig(
        vocab_size=L.n_vocab, num_mel_bins=80, d_model=a.d_model,
        encoder_layers=a.enc_layers, decoder_layers=a.dec_layers,
        encoder_attention_heads=a.heads, decoder_attention_heads=a.heads,
        encoder_ffn_dim=4 * a.d_model, decoder_ffn_dim=4 * a.d_model,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=L.eot, bos_token_id=L.eot, eos_token_id=L.eot, decoder_start_token_id=L.sot,
        dropout=a.dropout, attention_dropout=a.dropout, activation_dropout=a.dropout,
        tie_word_embeddings=True, scale_embedding=False,
    )


def build_model(a, L):
    if a.dry_run:
        return StubWhisper(L.n_vocab, a.d_model, a.enc_layers, a.dec_layers, a.heads, a.dropout)
    from transformers import WhisperForConditionalGeneration

    cfg = hf_config(a, L)
    try:  # explicit SDPA for training; alignment heads use hooks, not attention weights
        m = WhisperForConditionalGeneration._from_config(cfg, attn_implementation="sdpa")
    except Exception as e:
        log(f"_from_config(attn_implementation='sdpa') failed ({type(e).__name__}: {e}); default constructor")
        m = WhisperForConditionalGeneration(cfg)
    return m


def is_stub(model):
    return isinstance(model, StubWhisper)


def n_params_fp16_mb(model):
    seen = set()
    n = 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n += p.numel()
    for name, b in model.named_buffers():
        if "positions" in name:
            n += b.numel()
    return n * 2 / 1e6


def _first(out, attr):
    if hasattr(out, attr) and getattr(out, attr) is not None:
        return getattr(out, attr)
    return out[0]


def encode(model, mel):
    if is_stub(model):
        return model.encode(mel)
    return _first(model.model.encoder(input_features=mel), "last_hidden_state")


def decoder_hidden(model, enc, ids):
    if is_stub(model):
        return model.decode_hidden(enc, ids)
    return _first(model.model.decoder(input_ids=ids, encoder_hidden_states=enc, use_cache=False),
                  "last_hidden_state")


def output_proj(model):
    return model.get_output_embeddings()


def decode_logits(model, enc, ids):
    return output_proj(model)(decoder_hidden(model, enc, ids))


def train_loss(model, mel, dec_in, labels_flat_sel, sel, ctc=None):
    """Cross-entropy on the labelled positions only, plus (ctc = (head, rows, targets, lengths))
    an auxiliary CTC loss over UTF-8 bytes of the normalised transcript on the encoder output of
    the windows `rows` (training only; the head is not part of the exported model). CTC makes
    the encoder learn a monotonic reading of the audio early, which the attention decoder then
    follows: joint CTC/attention training converges much faster than attention alone.
    -> (total, cross-entropy, ctc or None)."""
    if is_stub(model):
        enc = model.encode(mel)
        h = model.decode_hidden(enc, dec_in)
    else:
        enc = encode(model, mel)
        h = decoder_hidden(model, enc, dec_in)
    h = h.reshape(-1, h.shape[-1]).index_select(0, sel)
    logits = output_proj(model)(h)
    ce = F.cross_entropy(logits.float(), labels_flat_sel)
    if ctc is None:
        return ce, ce, None
    head, w, rows, targets, lengths = ctc
    e = enc.index_select(0, rows)
    lp = head(e).float().log_softmax(-1).transpose(0, 1)  # [T, B, C]
    inp = torch.full((e.shape[0],), e.shape[1], dtype=torch.long, device=e.device)
    # per target byte (an empty target counts as one): "mean" would weigh a no-speech window's
    # whole-sequence loss as much as one byte of a transcript
    c = F.ctc_loss(lp, targets, inp, lengths, blank=0, reduction="sum", zero_infinity=True)
    c = c / lengths.clamp_min(1).sum()
    return ce + w * c, ce, c


CTC_CLASSES = 257  # blank + 256 byte values


def ctc_targets(plans, bank, tok):
    """-> (rows, flat targets, lengths) for the windows whose audio holds exactly their
    transcript (a cut last utterance is heard but not transcribed: those windows are left out);
    no-speech windows have an empty target (all blank)."""
    rows, flat, lens = [], [], []
    for i, p in enumerate(plans):
        if p.get("cut") is not None:
            continue
        text = ""
        if p["kind"] == "speech":  # the device bank keeps tokens, not text
            text = ec.normalize(" ".join(tok.decode_text(bank.tokens(j)) for _, _, j in p["segments"]))
        b = [c + 1 for c in text.encode("utf-8")][:1400]
        rows.append(i)
        flat += b
        lens.append(len(b))
    return rows, flat, lens


def melpad_frames(plans, rng, p_pad):
    """openai-whisper's transcribe() feeds the last window of a clip as the clip's own log-mel
    frames followed by zeros *in the log-mel domain* (pad_or_trim after slicing); the training
    windows are 30 s of audio. A share p_pad of the windows whose speech is complete is cut the
    same way: frames from a clip end E (just after the last utterance) on are set to 0. -> frame
    index per window (3000: untouched)."""
    out = np.full(len(plans), 3000, np.int64)
    for i, p in enumerate(plans):
        if rng.random() >= p_pad or p.get("cut") is not None:
            continue
        if p["kind"] == "speech" and p["segments"]:
            end = p["segments"][-1][1] + rng.uniform(0.02, 0.6)
        elif p["kind"] != "speech":
            end = rng.uniform(1.0, 29.0)
        else:
            continue
        out[i] = min(3000, max(1, int(end * 100)))
    return out


class _StubAttn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, kv, causal=False):
        B, T, D = x.shape
        S = kv.shape[1]
        hd = D // self.h
        q = self.q_proj(x).view(B, T, self.h, hd).transpose(1, 2)
        k = self.k_proj(kv).view(B, S, self.h, hd).transpose(1, 2)
        v = self.v_proj(kv).view(B, S, self.h, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if causal:
            s = s.masked_fill(torch.ones(T, S, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        return self.out_proj((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))


class _StubLayer(nn.Module):
    def __init__(self, d, h, cross, p):
        super().__init__()
        self.self_attn = _StubAttn(d, h)
        self.encoder_attn = _StubAttn(d, h) if cross else None
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(p), nn.Linear(4 * d, d))
        self.drop = nn.Dropout(p)

    def forward(self, x, enc=None, causal=False):
        y = self.n1(x)
        x = x + self.drop(self.self_attn(y, y, causal))
        if self.encoder_attn is not None:
            x = x + self.drop(self.encoder_attn(self.n2(x), enc))
        return x + self.drop(self.ff(self.n3(x)))


class StubWhisper(nn.Module):
    """Plain-torch stand-in with Whisper's shape (conv stem, 1500 positions, tied output) and its
    module names where the code relies on them (decoder layers' encoder_attn.q_proj/k_proj)."""

    def __init__(self, n_vocab, d, el, dl, h, p=0.0):
        super().__init__()
        self.conv1 = nn.Conv1d(80, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.epos = nn.Parameter(torch.randn(1500, d) * 0.02)
        self.encoder_layers = nn.ModuleList(_StubLayer(d, h, False, p) for _ in range(el))
        self.decoder_layers = nn.ModuleList(_StubLayer(d, h, True, p) for _ in range(dl))
        self.emb = nn.Embedding(n_vocab, d)
        self.dpos = nn.Parameter(torch.randn(448, d) * 0.02)
        self.ln_e, self.ln_d = nn.LayerNorm(d), nn.LayerNorm(d)
        self.proj = nn.Linear(d, n_vocab, bias=False)
        self.proj.weight = self.emb.weight
        nn.init.normal_(self.emb.weight, std=0.02)

    def get_output_embeddings(self):
        return self.proj

    def encode(self, mel):
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2) + self.epos
        for l in self.encoder_layers:
            x = l(x)
        return self.ln_e(x)

    def decode_hidden(self, enc, ids):
        x = self.emb(ids) + self.dpos[: ids.shape[1]]
        for l in self.decoder_layers:
            x = l(x, enc, causal=True)
        return self.ln_d(x)


# ------------------------------------------------------------------------------------------
# evaluation on the fixed validation windows
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def greedy(model, enc, prompts, L, max_new=160):
    """Batched greedy decoding without KV cache (small models, short texts). Suppresses the
    special tokens above EOT."""
    B = enc.shape[0]
    n0 = len(prompts[0])
    ids = torch.tensor(prompts, dtype=torch.long, device=enc.device)
    done = torch.zeros(B, dtype=torch.bool, device=enc.device)
    for _ in range(max_new):
        logits = decode_logits(model, enc, ids)[:, -1].float()
        logits[:, L.eot + 1:] = float("-inf")
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, L.eot), nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
        done |= nxt == L.eot
        if bool(done.all()):
            break
    return [[int(t) for t in row[n0:] if t != L.eot] for row in ids.tolist()]


@torch.no_grad()
def evaluate(model, vw, tok, device, amp, n_greedy=48, batch=16):
    """vw: windows/valid.npz arrays. -> val loss, WER per language (greedy, no timestamps, first
    n_greedy speech windows), LID accuracy, no-speech detection (p > 0.6) on the no-speech windows."""
    L = tok.L
    was_training = model.training
    model.eval()
    toks, n_tok, mask = vw["tokens"], vw["n_tok"], vw["mask"]
    infos = json.loads(str(vw["info"]))
    tot, cnt = 0.0, 0
    lid_ok = lid_n = 0
    ns_probs = []
    errs = {}
    lang_ids = torch.tensor([L.first_language + i for i in range(L.n_languages)], device=device)
    n_sp = 0
    for s in range(0, len(n_tok), batch):
        mel = torch.from_numpy(vw["mel"][s:s + batch].astype(np.float32)).to(device)
        with amp():
            enc = encode(model, mel)
            T = int(n_tok[s:s + batch].max()) - 1
            dec_in = torch.from_numpy(np.where(toks[s:s + batch, :T] < 0, L.eot, toks[s:s + batch, :T])).long().to(device)
            lab = torch.from_numpy(toks[s:s + batch, 1:T + 1]).long()
            mk = torch.from_numpy(mask[s:s + batch, :T])
            lab[~mk] = -100
            logits = decode_logits(model, enc, dec_in)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), lab.to(device).reshape(-1),
                               ignore_index=-100, reduction="sum")
        tot += float(loss)
        cnt += int((lab != -100).sum())
        lg0 = logits[:, 0].float()  # position 0 of every window is sot (or sot_prev: see below)
        sel = []
        for k in range(mel.shape[0]):
            info = infos[s + k]
            if int(toks[s + k, 0]) != L.sot:  # prompted window: ask at a bare sot instead
                with amp():
                    lg = decode_logits(model, enc[k:k + 1], torch.tensor([[L.sot]], device=device))[0, 0].float()
            else:
                lg = lg0[k]
            if info["kind"] == "speech":
                lid_ok += L.language_codes[int(lg[lang_ids].argmax())] == info["lang"]
                lid_n += 1
                if n_sp < n_greedy:
                    sel.append(k)
                n_sp += 1
            else:
                ns_probs.append(float(lg.softmax(-1)[L.no_speech]))
        if sel:
            prompts = [[L.sot, tok.lang(infos[s + k]["lang"]), L.transcribe, L.no_timestamps] for k in sel]
            with amp():
                hyps = greedy(model, enc[sel], prompts, L)
            for k, h in zip(sel, hyps):
                info = infos[s + k]
                e, n = ec.wer_counts(info["text"], tok.decode_text(h))
                ee, nn_ = errs.get(info["lang"], (0, 0))
                errs[info["lang"]] = (ee + e, nn_ + n)
    if was_training:
        model.train()
    return {"val_loss": tot / max(cnt, 1), "lid_acc": lid_ok / max(lid_n, 1),
            "nospeech_detect": (float(np.mean([p > 0.6 for p in ns_probs])) if ns_probs else None),
            "nospeech_prob_mean": float(np.mean(ns_probs)) if ns_probs else None,
            "wer": {l: e / max(n, 1) for l, (e, n) in sorted(errs.items())},
            "wer_words": {l: n for l, (e, n) in sorted(errs.items())}}


# ------------------------------------------------------------------------------------------
# alignment heads (cross-attention weights from hooked q/k projections)
# ------------------------------------------------------------------------------------------
_QK = re.compile(r"decoder.*?\.(\d+)\.encoder_attn\.(q|k)_proj$")


@torch.no_grad()
def cross_attention_weights(model, mel, seq, n_heads):
    """-> [layers, heads, T, 1500] softmax(q k^T / sqrt(head_dim)) of every decoder layer."""
    cap = {}
    hooks = []
    for name, mod in model.named_modules():
        m = _QK.search(name)
        if m:
            key = (int(m.group(1)), m.group(2))
            hooks.append(mod.register_forward_hook(lambda _m, _i, o, key=key: cap.__setitem__(key, o.detach().float())))
    if not hooks:
        raise RuntimeError("no decoder.*.encoder_attn.q_proj/k_proj modules found")
    try:
        enc = encode(model, mel.float())
        decoder_hidden(model, enc, torch.tensor([seq], device=mel.device))
    finally:
        for h in hooks:
            h.remove()
    layers = sorted({l for l, _ in cap})
    out = []
    for l in layers:
        q, k = cap[(l, "q")][0], cap[(l, "k")][0]  # [T, D], [1500, D]
        D = q.shape[-1]
        hd = D // n_heads
        qh = q.view(-1, n_heads, hd).transpose(0, 1)
        kh = k.view(-1, n_heads, hd).transpose(0, 1)
        out.append((qh @ kh.transpose(-1, -2) / math.sqrt(hd)).softmax(-1))
    return torch.stack(out)


@torch.no_grad()
def choose_alignment_heads(model, mel_fn, bank_dir, tok, device, n_layers, n_heads, k=4):
    L = tok.L
    words = sc.Bank.load(bank_dir, "words", tok)
    was_training = model.training
    model.eval()
    clips = []
    for j in range(len(words)):
        m = words.meta(j)
        x = np.zeros(sc.N_SAMPLES, np.float32)
        p = words.pcm(j)[: sc.N_SAMPLES]
        x[: len(p)] = p
        mel = mel_fn(torch.from_numpy(x)[None].to(device))
        wtoks = [tok.encode(" " + w["word"]) for w in m["words"]]
        seq = [L.sot, tok.lang(m["lang"]), L.transcribe, L.no_timestamps] + [t for w in wtoks for t in w] + [L.eot]
        attn = cross_attention_weights(model, mel, seq, n_heads)
        n_frames = int(math.ceil(len(p) / sc.SR * heads_mod.TOKENS_PER_SECOND))
        a = attn.cpu().numpy()[:, :, 3:-1, :n_frames]  # rows: notimestamps position .. last text position
        clips.append({"attn": a, "word_counts": [len(w) for w in wtoks],
                      "words": [(w["start"], w["end"]) for w in m["words"]]})
    if was_training:
        model.train()
    err = heads_mod.score_heads(clips, n_layers, n_heads)
    chosen = heads_mod.choose(err, k=k)
    ev = heads_mod.evaluate_heads(clips, chosen)
    log(f"alignment heads {chosen}; per-head error (s):\n{np.array2string(err, precision=3)}\n{ev}")
    return [[int(l), int(h)] for l, h in chosen], err.tolist(), ev


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------
def write_final(model, a, L, suppress, align_heads, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for n in os.listdir(out_dir):
        if n.startswith("model") and n.endswith(".safetensors"):
            os.remove(os.path.join(out_dir, n))
    gc = wt.generation_config_dict(L, suppress, align_heads)
    import st_io

    if is_stub(model):
        sd = {k: v.detach().cpu().to(torch.float16).numpy() for k, v in model.state_dict().items() if k != "proj.weight"}
        st_io.write_safetensors(os.path.join(out_dir, "model.safetensors"), sd, metadata={"format": "pt"})
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump({"stub": True, "d_model": a.d_model}, f, indent=2)
    else:
        half = copy.deepcopy(model).to(torch.float16).cpu().eval()
        try:
            half.generation_config.alignment_heads = align_heads
        except Exception:
            pass
        try:
            half.save_pretrained(out_dir)
        except Exception as e:  # never lose the weights to a serialisation detail
            log(f"save_pretrained failed ({type(e).__name__}: {e}); writing safetensors + config directly")
            traceback.print_exc()
            sd = {k: v.detach().contiguous().numpy() for k, v in half.state_dict().items() if k != "proj_out.weight"}
            st_io.write_safetensors(os.path.join(out_dir, "model.safetensors"), sd, metadata={"format": "pt"})
            half.config.to_json_file(os.path.join(out_dir, "config.json"))
        p = os.path.join(out_dir, "config.json")
        d = json.load(open(p))
        d["begin_suppress_tokens"] = [220, L.eot]
        d["suppress_tokens"] = list(suppress)
        if "dtype" not in d and "torch_dtype" not in d:
            d["torch_dtype"] = "float16"
        json.dump(d, open(p, "w"), indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gc, f, indent=2, sort_keys=True)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir)}
    log(f"wrote {out_dir}: {sizes}")
    return sizes


class StubBackend:
    """evalcommon backend for --dry-run: our greedy decoder on the stand-in model."""

    def __init__(self, model, mel_fn, tok, device):
        self.model, self.mel_fn, self.tok, self.device = model, mel_fn, tok, device
        self.desc = "stub model, train.greedy (dry run)"

    def _mel(self, path):
        a, _ = ec.read_wav(path)
        x = np.zeros(N, np.float32)
        v = np.frombuffer(a.tobytes(), dtype="<i2").astype(np.float32)[:N] / 32768.0
        x[:len(v)] = v
        return self.mel_fn(torch.from_numpy(x)[None].to(self.device))

    def detect(self, paths):
        L = self.tok.L
        out = []
        for p in paths:
            enc = encode(self.model, self._mel(p))
            lg = decode_logits(self.model, enc, torch.tensor([[L.sot]], device=self.device))[0, 0].float()
            ids = [L.first_language + i for i in range(L.n_languages)]
            out.append((L.language_codes[int(lg[ids].argmax())], float(lg.softmax(-1)[L.no_speech])))
        return out

    def transcribe(self, paths, language, timestamps):
        L = self.tok.L
        out = []
        for p in paths:
            enc = encode(self.model, self._mel(p))
            h = greedy(self.model, enc, [[L.sot, self.tok.lang(language), L.transcribe, L.no_timestamps]], L, 40)[0]
            out.append(self.tok.decode_text(h))
        return out


def final_eval_json(a, model, mel_fn, tok, device):
    """eval.json: the issue's table on heldout-big/ (main) and heldout/ with transformers' generate
    (HF), or with the stub backend (--dry-run)."""
    res = {"normaliser": ec.NORMALISER, "sets": {}}
    tokenizer = os.path.join(a.assets, "multilingual.tiktoken")
    for name in ("heldout-big", "heldout"):
        h = os.path.join(a.data, name)
        if not os.path.exists(os.path.join(h, "manifest.json")):
            continue
        t = time.time()
        try:
            if a.dry_run:
                import tempfile

                be = StubBackend(model, mel_fn, tok, device)
                with tempfile.TemporaryDirectory() as tmp:
                    clips = ec.load_clips(h, tmp)
                    r, tab = ec.run_eval(be, clips)
                res["sets"][name] = {"reference": be.desc, "timestamps": True, "table": tab, "clips": r,
                                     "seconds": round(time.time() - t, 1)}
            else:
                import eval_reference

                res["sets"][name] = eval_reference.evaluate_dir(a.final, h, tokenizer, str(device), timestamps=True,
                                                                log=log)
            log(f"eval.json {name}: {ec.summary_line(res['sets'][name]['table'])} ({time.time() - t:.0f} s)")
        except Exception as e:
            log(f"eval on {name} FAILED: {type(e).__name__}: {e}")
            traceback.print_exc()
            res["sets"][name] = {"error": f"{type(e).__name__}: {e}"}
    main = res["sets"].get("heldout-big") or res["sets"].get("heldout") or {}
    if "table" in main:
        res["table"] = main["table"]
        res["table_from"] = "heldout-big" if "table" in res["sets"].get("heldout-big", {}) else "heldout"
        res["reference"] = main.get("reference")
    with open(os.path.join(a.final, "eval.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, ensure_ascii=False)
        f.write("\n")
    return res


# ------------------------------------------------------------------------------------------
# the generator child process
# ------------------------------------------------------------------------------------------
class Generator:
    def __init__(self, a, seed):
        self.a = a
        self.stop_file = os.path.join(a.spool, "STOP")
        os.makedirs(a.spool, exist_ok=True)
        if os.path.exists(self.stop_file):
            os.remove(self.stop_file)
        self.proc = None
        if a.gen_workers <= 0:
            return
        cmd = [sys.executable, os.path.join(HERE, "gen_stream.py"), "--out", a.spool, "--prefix", a.prefix,
               "--assets", a.assets, "--langs", a.langs, "--workers", str(a.gen_workers), "--seed", str(seed),
               "--shard-utts", str(a.shard_utts), "--p-words", str(a.p_words), "--stop-file", self.stop_file,
               "--parent-pid", str(os.getpid()), "--max-spool-gb", str(a.max_spool_gb)]
        self.logf = open(os.path.join(a.ckpt, "gen_stream.log"), "a")
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        log(f"generator: pid {self.proc.pid}, {a.gen_workers} workers, seed {seed} -> {a.spool}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        open(self.stop_file, "w").close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        log(f"generator stopped (exit {self.proc.returncode})")
        self.proc = None

    def tail(self):
        try:
            return open(os.path.join(self.a.ckpt, "gen_stream.log")).read()[-2000:]
        except Exception:
            return ""


# ------------------------------------------------------------------------------------------
# main loop
# ------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="make_data.py --out (held-out bank, windows, heldout folders)")
    ap.add_argument("--assets", default=".device-carry/train-assets")
    ap.add_argument("--prefix", default="/tmp/synth-prefix", help="unpack_debs.sh prefix (for the generator)")
    ap.add_argument("--ckpt", required=True, help="checkpoint directory (resumed from when it holds last.pt)")
    ap.add_argument("--final", required=True, help="HF output directory")
    ap.add_argument("--spool", default="", help="generator output folder (default CKPT/spool)")
    ap.add_argument("--langs", default="en,de,es,it")
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of the training loop incl. checkpoint evals, across resumes")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--d-model", dest="d_model", type=int, default=256)
    ap.add_argument("--enc-layers", dest="enc_layers", type=int, default=4)
    ap.add_argument("--dec-layers", dest="dec_layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.1, help="dropout, attention_dropout, activation_dropout")
    ap.add_argument("--max-mb", type=float, default=45.0, help="fp16 checkpoint size limit")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--gen-workers", type=int, default=12, help="espeak-ng generator processes (0: use the spool as it is)")
    ap.add_argument("--shard-utts", type=int, default=200)
    ap.add_argument("--p-words", type=float, default=0.4)
    ap.add_argument("--max-spool-gb", type=float, default=12.0)
    ap.add_argument("--min-start-utts", type=int, default=16000, help="utterances in the bank before training starts")
    ap.add_argument("--start-timeout", type=float, default=240.0, help="start anyway after this many seconds (>= 2000 utterances)")
    ap.add_argument("--bank-gb", type=float, default=36.0, help="device ring buffer for the PCM (int16)")
    ap.add_argument("--p-recent", type=float, default=0.5, help="share of utterances drawn from the newest quarter")
    ap.add_argument("--render-chunk", type=int, default=16, help="windows rendered per chunk on the device")
    ap.add_argument("--n-greedy", type=int, default=48, help="validation windows decoded at each checkpoint")
    ap.add_argument("--align-k", type=int, default=4)
    ap.add_argument("--ctc-weight", type=float, default=0.3, help="auxiliary CTC loss on the encoder (0: off)")
    ap.add_argument("--p-melpad", type=float, default=0.2, help="share of windows zero-padded in the log-mel domain")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: none)")
    ap.add_argument("--status-every", type=int, default=100, help="status line every N steps")
    ap.add_argument("--no-final-eval", action="store_true", help="skip eval.json")
    ap.add_argument("--dry-run", action="store_true",
                    help="plain-torch stand-in model on the CPU, tiny shapes; exercises the plumbing")
    a = ap.parse_args()
    if a.dry_run:
        a.d_model, a.enc_layers, a.dec_layers, a.heads = 32, 1, 2, 2
        a.batch = min(a.batch, 4)
        a.bank_gb = min(a.bank_gb, 0.2)
        a.n_greedy = min(a.n_greedy, 8)
    a.spool = a.spool or os.path.join(a.ckpt, "spool")
    os.makedirs(a.ckpt, exist_ok=True)

    device = torch.device("cuda" if torch.cuda.is_available() and not a.dry_run else "cpu")
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.set_num_threads(4)  # the CPU cores belong to the generator
    else:
        # Debian's torch 1.13 (the CPU stand-in): its oneDNN conv1d backward gave sporadic garbage
        # gradients (up to inf) for identical inputs; the reference kernels are deterministic.
        torch.backends.mkldnn.enabled = False

    def amp():
        if cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    torch.manual_seed(a.seed)
    tok = sc.Tok(a.assets)
    L = tok.L
    non_speech = wt.non_speech_tokens(tok.encode)
    suppress = wt.suppress_tokens(L, non_speech)
    filters = np.load(os.path.join(a.assets, "mel_filters.npz"))["mel_80"].astype(np.float32)
    mel_fn = GpuMel(filters).to(device)

    model = build_model(a, L).to(device)
    mb = n_params_fp16_mb(model)
    impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
    log(f"model: {'stub' if a.dry_run else 'WhisperForConditionalGeneration'} d_model {a.d_model} "
        f"{a.enc_layers}+{a.dec_layers} layers {a.heads} heads, dropout {a.dropout}, ~{mb:.1f} MB fp16, "
        f"attention {impl}, device {device}" + (f" ({torch.cuda.get_device_name()})" if cuda else ""))
    if mb > a.max_mb and not a.dry_run:
        sys.exit(f"fp16 size {mb:.1f} MB > --max-mb {a.max_mb}")
    ctc_head = nn.Linear(a.d_model, CTC_CLASSES).to(device) if a.ctc_weight > 0 else None
    decay, no_decay = [], []
    seen = set()
    named = list(model.named_parameters()) + (list(ctc_head.named_parameters(prefix="ctc")) if ctc_head else [])
    for n, p in named:
        if id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if p.ndim < 2 or "norm" in n or "embed_positions" in n or n in ("epos", "dpos") else decay).append(p)
    opt_kw = {}
    if cuda:
        opt_kw["fused"] = True
    try:
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=a.lr, betas=(0.9, 0.98), eps=1e-6, **opt_kw)
    except Exception as e:
        log(f"fused AdamW unavailable ({e}); plain AdamW")
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=a.lr, betas=(0.9, 0.98), eps=1e-6)

    opt_params = decay + no_decay
    ck_path = os.path.join(a.ckpt, "last.pt")
    step, trained_s, resumes = 0, 0.0, 0
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location=device)
        model.load_state_dict(ck["model"])
        if ctc_head is not None and "ctc" in ck:
            ctc_head.load_state_dict(ck["ctc"])
        opt.load_state_dict(ck["opt"])
        step, trained_s, resumes = ck["step"], ck["trained_s"], ck["resumes"] + 1
        log(f"resumed from {ck_path}: step {step}, {trained_s / 60:.1f} min trained")
    budget_s = a.minutes * 60

    def save_ckpt():
        if not all(bool(torch.isfinite(q).all()) for q in model.parameters()):
            log("NOT saving the checkpoint: non-finite parameters")
            return False
        tmp = ck_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    **({"ctc": ctc_head.state_dict()} if ctc_head is not None else {}),
                    "trained_s": trained_s, "resumes": resumes, "args": vars(a)}, tmp)
        os.replace(tmp, ck_path)
        return True

    def lr_at(step, trained_s):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        frac = min(1.0, trained_s / budget_s)
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))

    vw = dict(np.load(os.path.join(a.data, "windows", "valid.npz")))

    # ---- data: generator -> spool -> loader thread -> device bank
    langs = [l for l in a.langs.split(",") if l]
    gen = Generator(a, a.seed * 1000 + resumes)

    def _cleanup(*_):
        gen.stop()
        sys.exit(1)

    signal.signal(signal.SIGTERM, _cleanup)
    loader = ShardLoader(a.spool, pin=cuda)
    loader.start()
    bank = DeviceBank(a.bank_gb * 1e9 / 2, device, langs, p_recent=a.p_recent)
    log(f"bank: {bank.cap / sc.SR / 3600:.0f} h of int16 PCM on {device} ({a.bank_gb:g} GB)")

    def ingest(max_items=1000):
        n = 0
        while n < max_items:
            try:
                x, metas = loader.q.get_nowait()
            except queue.Empty:
                break
            bank.add(x, metas)
            n += 1
        return n

    t_wait = time.time()
    last_msg = 0.0
    while True:
        ingest()
        el = time.time() - t_wait
        if (bank.n_live >= a.min_start_utts or bank.samples_total > 0.9 * bank.cap) and bank.ready():
            break  # enough, or the ring buffer is full
        if ((el > a.start_timeout and bank.n_live >= 2000) or el > 2 * a.start_timeout) and bank.ready():
            log(f"start timeout: starting with {bank.n_live} utterances")
            break
        if a.gen_workers > 0 and not gen.alive():
            gen_tail = gen.tail()
            if bank.n_live >= 200 and bank.ready():
                log("generator exited; starting with what there is")
                break
            sys.exit(f"generator died:\n{gen_tail}")
        if a.gen_workers <= 0 and loader.q.empty() and not glob.glob(os.path.join(a.spool, "g*.json")) and el > 3:
            if bank.ready(1):
                log(f"spool exhausted: starting with {bank.n_live} utterances")
                break
            sys.exit("empty spool and --gen-workers 0")
        if time.time() - last_msg > 10:
            log(f"waiting for the bank: {bank.n_live} utterances ({bank.n_live / max(el, 1e-9):.0f}/s)")
            last_msg = time.time()
        time.sleep(0.1)
    wait_s = time.time() - t_wait
    log(f"bank ready: {bank.n_live} utterances, {bank.samples_live / sc.SR / 3600:.1f} h after {wait_s:.0f} s")

    # ---- training
    logf = open(os.path.join(a.ckpt, "log.jsonl"), "a")
    rng = np.random.default_rng([a.seed, resumes, 17])
    dgen = torch.Generator(device=device)
    dgen.manual_seed(a.seed * 7919 + resumes)
    model.train()
    last_ck = time.time()
    t_prev = time.time()
    ema = None
    ema_ctc = None
    ev_pending = collections.deque()  # (step, e_data0, e_data1, e_end)
    st = collections.Counter()  # timing accumulators since the last status
    tot = collections.Counter()  # since the start of this run
    prev_end = None
    last_status = time.time()
    t_run0 = time.time()
    made0 = len(bank)
    n_bad = 0

    def drain_events(block=False):
        nonlocal prev_end
        while ev_pending:
            s_, e0, e1, e2 = ev_pending[0]
            if not block and not e2.query():
                break
            if block:
                e2.synchronize()
            ev_pending.popleft()
            compose = e0.elapsed_time(e1) / 1e3
            stepg = e1.elapsed_time(e2) / 1e3
            idle = prev_end.elapsed_time(e0) / 1e3 if prev_end is not None else 0.0
            for c in (st, tot):
                c["gpu_compose"] += compose
                c["gpu_step"] += stepg
                c["gpu_idle"] += max(0.0, idle)
                c["gpu_n"] += 1
            prev_end = e2

    def data_line(c):
        if cuda and c["gpu_n"]:
            span = c["gpu_compose"] + c["gpu_step"] + c["gpu_idle"]
            frac = (c["gpu_compose"] + c["gpu_idle"]) / max(span, 1e-9)
            return (f"data wait {100 * frac:.1f}% (GPU idle {100 * c['gpu_idle'] / max(span, 1e-9):.1f}%, "
                    f"render+mel {1e3 * c['gpu_compose'] / c['gpu_n']:.1f} ms/batch, step {1e3 * c['gpu_step'] / c['gpu_n']:.0f} ms; "
                    f"CPU plan {1e3 * c['plan'] / max(c['n'], 1):.1f} ms/batch)"), frac
        frac = (c["plan"] + c["render"]) / max(c["wall"], 1e-9)
        return (f"data wait {100 * frac:.1f}% (CPU plan {1e3 * c['plan'] / max(c['n'], 1):.1f} ms + render+mel "
                f"{1e3 * c['render'] / max(c['n'], 1):.1f} ms per batch of {a.batch})"), frac

    def bank_line():
        s = bank.stats()
        return (f"bank {s['utts_live'] / 1e3:.0f}k live ({s['hours_live']:.0f} h), {s['utts_made'] / 1e3:.0f}k made "
                f"({(len(bank) - made0) / max(time.time() - t_run0, 1e-9):.0f}/s), {s['uses_per_utt']:.1f} uses/utt"), s

    log(f"training: batch {a.batch}, lr {a.lr} (warm-up {a.warmup}), wd {a.wd}, budget {a.minutes} min "
        f"({trained_s / 60:.1f} done)")
    while trained_s < budget_s and (not a.max_steps or step < a.max_steps):
        t0 = time.time()
        ingest()
        plans = [sc.plan_window(rng, bank, tok) for _ in range(a.batch)]
        dec_in, labels, sel = collate_tokens(plans, L.eot)
        P = plans_to_tensors(plans, bank, device, cuda)
        pad_at = torch.from_numpy(melpad_frames(plans, rng, a.p_melpad)).to(device, non_blocking=True)
        ctc = None
        if ctc_head is not None:
            c_rows, c_flat, c_lens = ctc_targets(plans, bank, tok)
            if c_rows:
                ctc = (ctc_head, a.ctc_weight, torch.tensor(c_rows, device=device),
                       torch.tensor(c_flat, dtype=torch.long, device=device),
                       torch.tensor(c_lens, dtype=torch.long, device=device))
        lab_sel = torch.from_numpy(labels.reshape(-1)[sel])
        sel_t = torch.from_numpy(sel)
        dec_t = torch.from_numpy(dec_in)
        if cuda:
            lab_sel, sel_t, dec_t = lab_sel.pin_memory(), sel_t.pin_memory(), dec_t.pin_memory()
        lab_sel, sel_t, dec_t = (lab_sel.to(device, non_blocking=True), sel_t.to(device, non_blocking=True),
                                 dec_t.to(device, non_blocking=True))
        t1 = time.time()
        if cuda:
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            e2 = torch.cuda.Event(enable_timing=True)
            e0.record()
        x = render_batch(bank.pcm, P, dgen, a.render_chunk)
        mel = mel_fn(x)
        del x
        mel.masked_fill_((torch.arange(mel.shape[-1], device=device).unsqueeze(0) >= pad_at.unsqueeze(1)).unsqueeze(1), 0.0)
        if cuda:
            e1.record()
        t2 = time.time()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, trained_s)
        with amp():
            loss, ce_loss, ctc_loss = train_loss(model, mel, dec_t, lab_sel, sel_t, ctc)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(opt_params, 1.0)
        opt.step()
        if cuda:
            e2.record()
            ev_pending.append((step, e0, e1, e2))
        step += 1
        now = time.time()
        for c in (st, tot):
            c["plan"] += t1 - t0
            c["render"] += t2 - t1
            c["wall"] += now - t0
            c["n"] += 1
        trained_s += now - t_prev
        t_prev = now
        if step % 25 == 0 or a.dry_run:
            lv = float(loss)
            if ctc_loss is not None and math.isfinite(float(ctc_loss)):
                cv = float(ctc_loss)
                ema_ctc = cv if ema_ctc is None else 0.9 * ema_ctc + 0.1 * cv
            if not math.isfinite(lv) or not all(bool(torch.isfinite(q).all()) for q in (gn,)):
                n_bad += 1
                log(f"step {step}: loss {lv}, grad norm {float(gn)}: non-finite ({n_bad})")
                if n_bad > 3 or not os.path.exists(ck_path):
                    sys.exit(f"non-finite training ({n_bad}x); last good checkpoint: {ck_path}")
                ck = torch.load(ck_path, map_location=device)  # back to the last checkpoint, other data
                model.load_state_dict(ck["model"])
                if ctc_head is not None and "ctc" in ck:
                    ctc_head.load_state_dict(ck["ctc"])
                opt.load_state_dict(ck["opt"])
                if cuda:
                    drain_events(block=True)
                prev_end = None
                continue
            lv = float(ce_loss)  # the cross-entropy alone: comparable with the validation loss
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            if cuda:
                drain_events()
        if step % a.status_every == 0 or (a.dry_run and step % 2 == 0):
            dl, _ = data_line(st)
            bl, _ = bank_line()
            sps = st["n"] / max(time.time() - last_status, 1e-9)
            log(f"status step {step} | {trained_s / 60:.1f}/{a.minutes:g} min | loss {ema if ema is not None else float('nan'):.3f} ctc {ema_ctc if ema_ctc is not None else float('nan'):.3f} | gnorm {float(gn):.2f} | "
                f"lr {opt.param_groups[0]['lr']:.2e} | {sps:.1f} steps/s | {dl} | {bl}")
            st.clear()
            last_status = time.time()
        if now - last_ck > a.ckpt_minutes * 60 or (a.dry_run and step % 4 == 0):
            if cuda:
                drain_events(block=True)
            save_ckpt()
            t_ev = time.time()
            ev = evaluate(model, vw, tok, device, amp, n_greedy=a.n_greedy)
            dl, frac = data_line(tot)
            bl, bs = bank_line()
            rec = {"step": step, "trained_min": round(trained_s / 60, 2), "train_loss_ema": ema, **ev,
                   "data_wait_frac": frac, "bank": bs, "eval_s": round(time.time() - t_ev, 1)}
            wer = " ".join(f"{l} {100 * v:.1f}" for l, v in ev["wer"].items())
            log(f"ckpt step {step} {trained_s / 60:.1f} min | train {ema if ema is not None else float('nan'):.3f} val {ev['val_loss']:.3f} | WER% {wer} | "
                f"LID {100 * ev['lid_acc']:.1f}% | no-speech {100 * (ev['nospeech_detect'] or 0):.0f}% "
                f"(p {ev['nospeech_prob_mean'] or 0:.2f}) | {dl} | {bl} | eval {time.time() - t_ev:.0f} s")
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            last_ck = time.time()
            now = time.time()
            trained_s += now - t_prev  # evaluation time counts: --minutes is wall time
            t_prev = now
            prev_end = None  # the GPU's time in the evaluation is not data wait
        if a.gen_workers > 0 and not gen.alive() and step % 50 == 0:
            log("warning: the generator is not running; training on the bank as it is:\n" + gen.tail()[-500:])

    # ---- the end
    t_end0 = time.time()
    gen.stop()
    loader.stop.set()
    if cuda:
        drain_events(block=True)
    save_ckpt()
    dl, frac = data_line(tot)
    bl, bs = bank_line()
    log(f"training done: step {step}, {trained_s / 60:.1f} min | {dl} | {bl}")
    ev = evaluate(model, vw, tok, device, amp, n_greedy=a.n_greedy if a.dry_run else len(vw["n_tok"]))
    rec = {"step": step, "trained_min": round(trained_s / 60, 2), "final": True, **ev, "data_wait_frac": frac, "bank": bs}
    wer = " ".join(f"{l} {100 * v:.1f}" for l, v in ev["wer"].items())
    log(f"final step {step} | val {ev['val_loss']:.3f} | WER% {wer} | LID {100 * ev['lid_acc']:.1f}% | "
        f"no-speech {100 * (ev['nospeech_detect'] or 0):.0f}%")
    logf.write(json.dumps(rec) + "\n")
    logf.close()
    try:
        align, err, aev = choose_alignment_heads(model, mel_fn, os.path.join(a.data, "bank"), tok, device,
                                                 a.dec_layers, a.heads, k=a.align_k)
    except Exception as e:
        log(f"alignment-head selection FAILED ({type(e).__name__}: {e}); default heads")
        traceback.print_exc()
        align, err, aev = wt.alignment_heads_for(a.dec_layers, a.heads), None, {"error": str(e)}
    write_final(model, a, L, suppress, align, a.final)
    records = [json.loads(l) for l in open(os.path.join(a.ckpt, "log.jsonl")) if l.strip()]
    extra = {"steps": step, "trained_minutes": trained_s / 60, "windows_seen": step * a.batch, "eval": ev,
             "alignment": {"heads": align, "per_head_error_s": err, **aev}, "data": {"bank": bs, "data_wait_frac": frac,
             "bank_wait_s": wait_s}, "args": vars(a), "torch": torch.__version__, "log": records,
             "device": torch.cuda.get_device_name() if cuda else "cpu"}
    try:
        import transformers

        extra["transformers"] = transformers.__version__
    except Exception:
        pass
    with open(os.path.join(a.final, "training.json"), "w") as f:
        json.dump(extra, f, indent=1)
        f.write("\n")
    if not a.no_final_eval:
        final_eval_json(a, model, mel_fn, tok, device)
    log(f"ALL DONE in {time.time() - t_end0:.0f} s after training: {a.final}")


if __name__ == "__main__":
    main()
