#!/usr/bin/env python3
"""Trains a small Whisper (transformers' WhisperForConditionalGeneration, v2 layout: n_vocab
51865, 80 mels) on the synthetic bank written by make_data.py, within a hard time budget, and
writes an HF directory (config.json, generation_config.json with every ORACLE.md field and
alignment heads chosen on the one-word-at-a-time clips, model.safetensors in fp16).

  python3 tools/train_synthetic/train.py --data /tmp/synth-data --assets .device-carry/train-assets \
      --ckpt /tmp/synth-ckpt --final /tmp/synth-model --minutes 25

- Windows are composed on the fly in DataLoader workers (synth_common.compose_window: raw PCM +
  tokens); the log-mel is computed on the GPU (torch.stft, WhisperFeatureExtractor's recipe).
- bf16 autocast, AdamW, linear warm-up then cosine decay over the *time* budget (so the schedule
  ends when the budget does, whatever the step rate); resumable: --ckpt/last.pt holds model,
  optimiser, step, elapsed training seconds; written every --ckpt-minutes and at the end.
  Re-running the same command continues until the budget (counted across runs) is spent.
- Each checkpoint: validation loss on windows/valid.npz and a greedy no-timestamps eval (WER,
  language-ID accuracy, no-speech probability on the no-speech windows), logged to
  --ckpt/log.jsonl.
- --dry-run: no transformers needed: a plain-torch stand-in with the same call surface, CPU,
  a few steps, checkpoint + resume + final files; it exercises everything but transformers.
"""

import argparse
import json
import math
import os
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import heads as heads_mod  # noqa: E402
import synth_common as sc  # noqa: E402
import whisper_tokens as wt  # noqa: E402

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
class WindowStream(torch.utils.data.IterableDataset):
    def __init__(self, bank_dir, assets, seed, epoch_tag, win_cfg=None):
        self.bank_dir, self.assets, self.seed, self.epoch_tag = bank_dir, assets, seed, epoch_tag
        self.win_cfg = win_cfg or {}

    def __iter__(self):
        wi = torch.utils.data.get_worker_info()
        wid = wi.id if wi else 0
        bank = sc.Bank.load(self.bank_dir, "train")
        tok = sc.Tok(self.assets)
        rng = np.random.default_rng([self.seed, self.epoch_tag, wid])
        while True:
            x, toks, nm, info = sc.compose_window(rng, bank, tok, self.win_cfg)
            mask = sc.labels_mask(toks, nm, info)
            yield torch.from_numpy(x), torch.tensor(toks, dtype=torch.long), torch.from_numpy(mask)


def collate(batch, pad_id):
    xs, toks, masks = zip(*batch)
    x = torch.stack(xs)
    T = max(len(t) for t in toks) - 1
    dec_in = torch.full((len(toks), T), pad_id, dtype=torch.long)
    labels = torch.full((len(toks), T), -100, dtype=torch.long)
    for i, (t, m) in enumerate(zip(toks, masks)):
        n = len(t) - 1
        dec_in[i, :n] = t[:-1]
        lab = t[1:].clone()
        lab[~m] = -100
        labels[i, :n] = lab
    return x, dec_in, labels


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
        power = st.abs() ** 2
        mel = self.filters @ power[..., :-1]
        lg = torch.clamp(mel, min=1e-10).log10()
        lg = torch.maximum(lg, lg.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (lg + 4.0) / 4.0


# ------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------
def hf_config(a, L, suppress):
    """suppress lists are not passed here (transformers moves generation fields out of the model
    config); write_final patches them into config.json as the real checkpoints have them."""
    from transformers import WhisperConfig

    return WhisperConfig(
        vocab_size=L.n_vocab, num_mel_bins=80, d_model=a.d_model,
        encoder_layers=a.enc_layers, decoder_layers=a.dec_layers,
        encoder_attention_heads=a.heads, decoder_attention_heads=a.heads,
        encoder_ffn_dim=4 * a.d_model, decoder_ffn_dim=4 * a.d_model,
        max_source_positions=1500, max_target_positions=448,
        pad_token_id=L.eot, bos_token_id=L.eot, eos_token_id=L.eot, decoder_start_token_id=L.sot,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        tie_word_embeddings=True, scale_embedding=False,
    )


def build_model(a, L, suppress):
    if a.dry_run:
        return StubWhisper(L.n_vocab, a.d_model, a.enc_layers, a.dec_layers, a.heads)
    from transformers import WhisperForConditionalGeneration

    m = WhisperForConditionalGeneration(hf_config(a, L, suppress))
    return m


def n_params_fp16_mb(model):
    seen = set()
    n = 0
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n += p.numel()
    for name, b in model.named_buffers():
        if "positions" in name or "embed_positions" in name:
            n += b.numel()
    return n * 2 / 1e6


def encode(model, mel):
    if isinstance(model, StubWhisper):
        return model.encode(mel)
    return model.model.encoder(input_features=mel).last_hidden_state


def decode_logits(model, enc, dec_in, attentions=False):
    if isinstance(model, StubWhisper):
        return model.decode(enc, dec_in, attentions)
    out = model(encoder_outputs=(enc,), decoder_input_ids=dec_in, use_cache=False,
                output_attentions=attentions, return_dict=True)
    return out.logits, (out.cross_attentions if attentions else None)


def forward_logits(model, mel, dec_in):
    if isinstance(model, StubWhisper):
        return model.decode(model.encode(mel), dec_in)[0]
    return model(input_features=mel, decoder_input_ids=dec_in, use_cache=False, return_dict=True).logits


class _StubAttn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, kv, causal=False):
        B, T, D = x.shape
        S = kv.shape[1]
        hd = D // self.h
        q = self.q(x).view(B, T, self.h, hd).transpose(1, 2)
        k = self.k(kv).view(B, S, self.h, hd).transpose(1, 2)
        v = self.v(kv).view(B, S, self.h, hd).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if causal:
            s = s.masked_fill(torch.ones(T, S, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        w = s.softmax(-1)
        return self.o((w @ v).transpose(1, 2).reshape(B, T, D)), w


class _StubLayer(nn.Module):
    def __init__(self, d, h, cross):
        super().__init__()
        self.sa = _StubAttn(d, h)
        self.ca = _StubAttn(d, h) if cross else None
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, enc=None, causal=False):
        y = self.n1(x)
        x = x + self.sa(y, y, causal)[0]
        w = None
        if self.ca is not None:
            o, w = self.ca(self.n2(x), enc)
            x = x + o
        return x + self.ff(self.n3(x)), w


class StubWhisper(nn.Module):
    """Plain-torch stand-in with Whisper's shape (conv stem, 1500 positions, tied output)."""

    def __init__(self, n_vocab, d, el, dl, h):
        super().__init__()
        self.conv1 = nn.Conv1d(80, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.epos = nn.Parameter(torch.randn(1500, d) * 0.02)
        self.enc = nn.ModuleList(_StubLayer(d, h, False) for _ in range(el))
        self.dec = nn.ModuleList(_StubLayer(d, h, True) for _ in range(dl))
        self.emb = nn.Embedding(n_vocab, d)
        self.dpos = nn.Parameter(torch.randn(448, d) * 0.02)
        self.ln_e, self.ln_d = nn.LayerNorm(d), nn.LayerNorm(d)
        nn.init.normal_(self.emb.weight, std=0.02)

    def encode(self, mel):
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2) + self.epos
        for l in self.enc:
            x = l(x)[0]
        return self.ln_e(x)

    def decode(self, enc, ids, attentions=False):
        x = self.emb(ids) + self.dpos[: ids.shape[1]]
        ws = []
        for l in self.dec:
            x, w = l(x, enc, causal=True)
            ws.append(w)
        return self.ln_d(x) @ self.emb.weight.T, (tuple(ws) if attentions else None)


# ------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------
def normalize_text(s):
    s = s.lower()
    s = re.sub(r"[^\w\s']", " ", s)
    s = s.replace("'", " ")
    return s.split()


def wer(ref_words, hyp_words):
    r, h = ref_words, hyp_words
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev = cur
    return d[len(h)], len(r)


@torch.no_grad()
def greedy(model, enc, prompts, L, max_new=160):
    """Batched greedy decoding without KV cache (small models, short texts). Suppresses the
    special tokens below the timestamps except EOT."""
    B = enc.shape[0]
    n0 = max(len(p) for p in prompts)
    assert all(len(p) == n0 for p in prompts)
    ids = torch.tensor(prompts, dtype=torch.long, device=enc.device)
    done = torch.zeros(B, dtype=torch.bool, device=enc.device)
    for _ in range(max_new):
        logits = decode_logits(model, enc, ids)[0][:, -1].float()
        logits[:, L.eot + 1:] = float("-inf")
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, L.eot), nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
        done |= nxt == L.eot
        if bool(done.all()):
            break
    return [[int(t) for t in row[n0:] if t != L.eot] for row in ids.tolist()]


@torch.no_grad()
def evaluate(model, mel_fn, vw, tok, device, amp, n_greedy=32, batch=16):
    """vw: windows/valid.npz arrays. Returns dict of val loss, WER per language, LID, no-speech."""
    L = tok.L
    model.eval()
    mel_all = torch.from_numpy(vw["mel"].astype(np.float32))
    toks, n_tok, mask = vw["tokens"], vw["n_tok"], vw["mask"]
    infos = json.loads(str(vw["info"]))
    tot, cnt = 0.0, 0
    lid_ok = lid_n = 0
    ns_probs = []
    errs = {}
    lang_ids = torch.tensor([L.first_language + i for i in range(L.n_languages)], device=device)
    for s in range(0, len(mel_all), batch):
        mel = mel_all[s:s + batch].to(device)
        with amp():
            enc = encode(model, mel)
        # teacher-forced loss
        T = int(n_tok[s:s + batch].max()) - 1
        dec_in = torch.from_numpy(np.where(toks[s:s + batch, :T] < 0, L.eot, toks[s:s + batch, :T])).long().to(device)
        lab = torch.from_numpy(toks[s:s + batch, 1:T + 1]).long()
        mk = torch.from_numpy(mask[s:s + batch, :T])
        lab[~mk] = -100
        with amp():
            logits = decode_logits(model, enc, dec_in)[0]
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), lab.to(device).reshape(-1),
                               ignore_index=-100, reduction="sum")
        tot += float(loss)
        cnt += int((lab != -100).sum())
        # language id and no-speech at the sot position
        sot = torch.full((mel.shape[0], 1), L.sot, dtype=torch.long, device=device)
        with amp():
            lg0 = decode_logits(model, enc, sot)[0][:, 0].float()
        for k in range(mel.shape[0]):
            info = infos[s + k]
            if info["kind"] == "speech":
                pred = L.language_codes[int(lg0[k, lang_ids].argmax())]
                lid_ok += pred == info["lang"]
                lid_n += 1
            else:
                ns_probs.append(float(lg0[k].softmax(-1)[L.no_speech]))
        # greedy transcription (no timestamps), the first n_greedy speech windows
        sel = [k for k in range(mel.shape[0]) if infos[s + k]["kind"] == "speech" and s + k < n_greedy]
        if sel:
            prompts = [[L.sot, tok.lang(infos[s + k]["lang"]), L.transcribe, L.no_timestamps] for k in sel]
            with amp():
                hyps = greedy(model, enc[sel], prompts, L)
            for k, h in zip(sel, hyps):
                info = infos[s + k]
                e, n = wer(normalize_text(info["text"]), normalize_text(tok.decode_text(h)))
                ee, nn_ = errs.get(info["lang"], (0, 0))
                errs[info["lang"]] = (ee + e, nn_ + n)
    model.train()
    return {"val_loss": tot / max(cnt, 1), "lid_acc": lid_ok / max(lid_n, 1),
            "nospeech_prob_mean": float(np.mean(ns_probs)) if ns_probs else None,
            "wer": {l: e / max(n, 1) for l, (e, n) in sorted(errs.items())}}


# ------------------------------------------------------------------------------------------
# alignment heads
# ------------------------------------------------------------------------------------------
@torch.no_grad()
def choose_alignment_heads(model, mel_fn, bank_dir, tok, device, n_layers, n_heads, k=4, log_fn=log):
    L = tok.L
    words = sc.Bank.load(bank_dir, "words")
    if not isinstance(model, StubWhisper):
        try:
            model.set_attn_implementation("eager")
        except Exception:
            model.config._attn_implementation = "eager"
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
        enc = encode(model, mel.float())
        _, attn = decode_logits(model, enc.float(), torch.tensor([seq], device=device), attentions=True)
        n_frames = int(math.ceil(len(p) / sc.SR * heads_mod.TOKENS_PER_SECOND))
        a = torch.stack([t[0] for t in attn]).float().cpu().numpy()  # [layers, heads, T, 1500]
        a = a[:, :, 3:-1, :n_frames]  # rows: notimestamps position .. last text position
        clips.append({"attn": a, "word_counts": [len(w) for w in wtoks],
                      "words": [(w["start"], w["end"]) for w in m["words"]]})
    err = heads_mod.score_heads(clips, n_layers, n_heads)
    chosen = heads_mod.choose(err, k=k)
    ev = heads_mod.evaluate_heads(clips, chosen)
    log_fn(f"alignment heads {chosen}; per-head error (s):\n{np.array2string(err, precision=3)}\n{ev}")
    return [[int(l), int(h)] for l, h in chosen], err.tolist(), ev


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------
def write_final(model, a, L, suppress, align_heads, out_dir, extra):
    os.makedirs(out_dir, exist_ok=True)
    gc = wt.generation_config_dict(L, suppress, align_heads)
    if isinstance(model, StubWhisper):
        import st_io

        sd = {k: v.detach().cpu().to(torch.float16).numpy() for k, v in model.state_dict().items()}
        st_io.write_safetensors(os.path.join(out_dir, "model.safetensors"), sd, metadata={"format": "pt"})
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump({"stub": True, "d_model": a.d_model}, f, indent=2)
    else:
        import copy

        half = copy.deepcopy(model).to(torch.float16).cpu()
        half.generation_config.alignment_heads = align_heads
        try:
            half.save_pretrained(out_dir, safe_serialization=True)
        except TypeError:
            half.save_pretrained(out_dir)
        p = os.path.join(out_dir, "config.json")
        d = json.load(open(p))
        d["begin_suppress_tokens"] = [220, L.eot]
        d["suppress_tokens"] = list(suppress)
        json.dump(d, open(p, "w"), indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump(gc, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out_dir, "training.json"), "w") as f:
        json.dump(extra, f, indent=2)
        f.write("\n")
    sizes = {n: os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir)}
    log(f"wrote {out_dir}: {sizes}")
    return sizes


# ------------------------------------------------------------------------------------------
# main loop
# ------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="make_data.py --out")
    ap.add_argument("--assets", default=".device-carry/train-assets")
    ap.add_argument("--ckpt", required=True, help="checkpoint directory (resumed from when it holds last.pt)")
    ap.add_argument("--final", required=True, help="HF output directory")
    ap.add_argument("--minutes", type=float, default=25.0, help="training time budget, across resumes")
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--d-model", dest="d_model", type=int, default=256)
    ap.add_argument("--enc-layers", dest="enc_layers", type=int, default=4)
    ap.add_argument("--dec-layers", dest="dec_layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--max-mb", type=float, default=45.0, help="fp16 checkpoint size limit")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--loader-workers", type=int, default=12)
    ap.add_argument("--align-k", type=int, default=4)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: none)")
    ap.add_argument("--dry-run", action="store_true",
                    help="plain-torch stand-in model on the CPU, tiny batch; exercises the plumbing")
    a = ap.parse_args()
    if a.dry_run:
        a.d_model, a.enc_layers, a.dec_layers, a.heads = 32, 1, 2, 2
        a.batch = min(a.batch, 2)
        a.loader_workers = min(a.loader_workers, 1)

    device = torch.device("cuda" if torch.cuda.is_available() and not a.dry_run else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    def amp():
        if device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    torch.manual_seed(a.seed)
    tok = sc.Tok(a.assets)
    L = tok.L
    non_speech = wt.non_speech_tokens(tok.encode)
    suppress = wt.suppress_tokens(L, non_speech)
    filters = np.load(os.path.join(a.assets, "mel_filters.npz"))["mel_80"].astype(np.float32)
    mel_fn = GpuMel(filters).to(device)

    model = build_model(a, L, suppress).to(device)
    mb = n_params_fp16_mb(model)
    log(f"model: {'stub' if a.dry_run else 'WhisperForConditionalGeneration'} d_model {a.d_model} "
        f"{a.enc_layers}+{a.dec_layers} layers {a.heads} heads, ~{mb:.1f} MB fp16, device {device}")
    if mb > a.max_mb and not a.dry_run:
        sys.exit(f"fp16 size {mb:.1f} MB > --max-mb {a.max_mb}")
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "norm" in n or "embed_positions" in n else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6, **({"fused": True} if device.type == "cuda" else {}))

    os.makedirs(a.ckpt, exist_ok=True)
    ck_path = os.path.join(a.ckpt, "last.pt")
    step, trained_s, resumes = 0, 0.0, 0
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location=device)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, trained_s, resumes = ck["step"], ck["trained_s"], ck["resumes"] + 1
        log(f"resumed from {ck_path}: step {step}, {trained_s / 60:.1f} min trained")
    budget_s = a.minutes * 60

    def save_ckpt():
        tmp = ck_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "trained_s": trained_s, "resumes": resumes, "args": vars(a)}, tmp)
        os.replace(tmp, ck_path)

    def lr_at(step, trained_s):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        frac = min(1.0, trained_s / budget_s)
        return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))

    vw = dict(np.load(os.path.join(a.data, "windows", "valid.npz")))
    ds = WindowStream(os.path.join(a.data, "bank"), a.assets, a.seed, resumes)
    dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, num_workers=a.loader_workers,
                                     collate_fn=lambda b: collate(b, L.eot), pin_memory=device.type == "cuda",
                                     prefetch_factor=4 if a.loader_workers else None,
                                     persistent_workers=bool(a.loader_workers))
    train_model = torch.compile(model) if a.compile else model
    logf = open(os.path.join(a.ckpt, "log.jsonl"), "a")
    model.train()
    last_ck = time.time()
    t_prev = time.time()
    t_data = 0.0
    ema = None
    it = iter(dl)
    while trained_s < budget_s and (not a.max_steps or step < a.max_steps):
        t0 = time.time()
        x, dec_in, labels = next(it)
        t_data += time.time() - t0
        x, dec_in, labels = (x.to(device, non_blocking=True), dec_in.to(device, non_blocking=True),
                             labels.to(device, non_blocking=True))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, trained_s)
        mel = mel_fn(x)
        with amp():
            logits = forward_logits(train_model, mel, dec_in)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        now = time.time()
        trained_s += now - t_prev
        t_prev = now
        lv = float(loss) if step % 25 == 0 or a.dry_run else None
        if lv is not None:
            ema = lv if ema is None else 0.9 * ema + 0.1 * lv
            if step % 100 == 0 or a.dry_run:
                log(f"step {step} loss {lv:.4f} (ema {ema:.4f}) gnorm {float(gn):.2f} lr {opt.param_groups[0]['lr']:.2e} "
                    f"{trained_s / 60:.1f}/{a.minutes} min, data wait {t_data:.0f} s")
        if now - last_ck > a.ckpt_minutes * 60 or (a.dry_run and step % 3 == 0):
            save_ckpt()
            ev = evaluate(model, mel_fn, vw, tok, device, amp, n_greedy=8 if a.dry_run else 48)
            rec = {"step": step, "trained_min": trained_s / 60, "train_loss_ema": ema, **ev}
            log("eval", json.dumps(rec))
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
            last_ck = time.time()
            t_prev = time.time()  # eval time does not count as training time
    save_ckpt()
    ev = evaluate(model, mel_fn, vw, tok, device, amp, n_greedy=8 if a.dry_run else len(vw["mel"]))
    rec = {"step": step, "trained_min": trained_s / 60, "final": True, **ev}
    log("final eval", json.dumps(rec))
    logf.write(json.dumps(rec) + "\n")
    logf.close()
    align, err, aev = choose_alignment_heads(model, mel_fn, os.path.join(a.data, "bank"), tok, device,
                                             a.dec_layers, a.heads, k=a.align_k)
    extra = {"steps": step, "trained_minutes": trained_s / 60, "eval": ev, "alignment": {"heads": align,
             "per_head_error_s": err, **aev}, "args": vars(a), "torch": torch.__version__}
    try:
        import transformers

        extra["transformers"] = transformers.__version__
    except Exception:
        pass
    write_final(model, a, L, suppress, align, a.final, extra)


if __name__ == "__main__":
    main()
