#!/usr/bin/env python3
"""Builds hark's random-weight Whisper fixtures and their reference outputs.

Run on the GPU machine (torch + transformers + tiktoken; the CPU is used, fp32, deterministic):

    python3 tools/reference/make_fixtures.py --assets tools/reference/_assets \
        --out /tmp/hark-fixtures --tar "$OUT/fixtures.tar.xz"

See tools/reference/README.md for what it writes. Every step is guarded: a failing step is
reported (with its traceback) and the run goes on with the other outputs; the exit code is 1
when any step failed. `--dry-run` needs only numpy + regex: it makes numpy weights and every file
except the torch-computed references (used to test this script without torch).
"""

import argparse
import copy
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ggml_whisper  # noqa: E402
import logmel  # noqa: E402
import packing  # noqa: E402
import st_io  # noqa: E402
import whisper_tokens as wt  # noqa: E402

FIXTURES = [
    {"name": "tiny-v3-random", "family": "v3", "n_mels": 128, "d_model": 64, "heads": 4,
     "enc_layers": 2, "dec_layers": 2, "ffn": 256, "seed": 3003, "tokenizer": "tokenizer.json",
     "ggml_f32": False},
    {"name": "tiny-v2-random", "family": "v2", "n_mels": 80, "d_model": 48, "heads": 3,
     "enc_layers": 3, "dec_layers": 2, "ffn": 192, "seed": 2002, "tokenizer": "vocab+merges"},
    {"name": "tiny-en-random", "family": "en", "n_mels": 80, "d_model": 32, "heads": 2,
     "enc_layers": 2, "dec_layers": 2, "ffn": 128, "seed": 1001, "tokenizer": None,
     "ggml_f16": False},
]
N_AUDIO_CTX = 1500
N_TEXT_CTX = 448
WEIGHT_STD = 0.25  # N(0, 0.25): standard deviation 0.25 (weights, biases, embeddings, conv)
LN_STD = 0.1  # layer norms: weight 1 + N(0, 0.1), bias N(0, 0.1)
HF_MAX_NEW_TOKENS = 220
OPENAI_SAMPLE_LEN = N_TEXT_CTX // 2  # 224
TF_POSITIONS = 10
GENERATE_TIMEOUT_S = 150  # per generate()/greedy call
INFO_CALL_TIMEOUT_S = 30  # the informational seek-loop call
REQUIRED_ASSETS = ["multilingual.tiktoken", "gpt2.tiktoken", "mel_filters.npz", "jfk.wav", "languages.tsv"]


# ============================================================================================
# run bookkeeping
# ============================================================================================
class StepTimeout(Exception):
    pass


class time_limit:
    """SIGALRM-based limit for one step (main thread only): a hung generate() must not eat the
    GPU machine's whole command time before the archive is written."""

    def __init__(self, seconds):
        self.seconds = max(1, int(seconds))

    def _fire(self, signum, frame):
        raise StepTimeout(f"step exceeded {self.seconds}s")

    def __enter__(self):
        import signal

        self.old = signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc):
        import signal

        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)
        return False


class Run:
    def __init__(self, budget_s=None):
        self.t0 = time.time()
        self.errors = []
        self.warnings = []
        self.deadline = None if not budget_s else self.t0 + budget_s

    def time_left(self):
        return float("inf") if self.deadline is None else self.deadline - time.time()

    def limited(self, cap):
        """seconds a step may take: cap, or what is left of the budget (at least 5)."""
        return max(5, min(cap, self.time_left()))

    def log(self, msg):
        print(f"[{time.time() - self.t0:7.1f}s] {msg}", flush=True)

    def step(self, fixture, name, fn, *args, **kwargs):
        self.log(f"{fixture}: {name} ...")
        t = time.time()
        try:
            r = fn(*args, **kwargs)
            self.log(f"{fixture}: {name} done ({time.time() - t:.1f}s)")
            return r
        except Exception as e:  # keep going with the other outputs
            tb = traceback.format_exc()
            self.errors.append({"fixture": fixture, "step": name, "error": f"{type(e).__name__}: {e}"})
            print(f"!!!!! ERROR [{fixture}] {name}: {type(e).__name__}: {e}\n{tb}", flush=True)
            return None

    def warn(self, fixture, msg):
        self.warnings.append({"fixture": fixture, "warning": msg})
        print(f"!!!!! WARNING [{fixture}] {msg}", flush=True)

    def error(self, fixture, msg):
        self.errors.append({"fixture": fixture, "step": "check", "error": msg})
        print(f"!!!!! ERROR [{fixture}] {msg}", flush=True)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (np.ndarray,)):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    if hasattr(o, "tolist"):  # torch tensors
        try:
            return o.tolist()
        except Exception:
            pass
    return str(o)


def write_json(path, obj):
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def versions():
    v = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("torch", "transformers", "tokenizers", "tiktoken", "safetensors"):
        try:
            m = __import__(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception as e:
            v[mod] = f"unavailable ({type(e).__name__})"
    return v


# ============================================================================================
# shared per-family data (vocabulary, layout, suppression lists)
# ============================================================================================
class FamilyData:
    def __init__(self, run, assets, family, languages, cache):
        self.family = family
        path = wt.tiktoken_path(assets, family)
        key = os.path.basename(path)
        if key not in cache:
            ranks = wt.load_tiktoken_ranks(path)
            cache[key] = {"ranks": ranks, "vm": None}
        self.cache = cache[key]
        self.ranks = self.cache["ranks"]
        self.tiktoken_name = key
        self.layout = wt.Layout(family, len(self.ranks), languages)
        self.encoder = wt.make_encoder(self.ranks, self.layout, key, log=run.log)
        self.vocab_bytes = [b for b, _ in sorted(self.ranks.items(), key=lambda kv: kv[1])]
        self.non_speech = wt.non_speech_tokens(self.encoder.encode)
        if self.encoder.name != "python-bpe":
            try:
                other = wt.non_speech_tokens(wt.PyEncoder(self.ranks).encode)
                if other != self.non_speech:
                    run.warn(family, f"non_speech_tokens differ between tiktoken and the Python BPE: "
                                     f"{sorted(set(other) ^ set(self.non_speech))}")
            except Exception as e:
                run.log(f"    (cross-check of non_speech_tokens with the Python BPE skipped: {type(e).__name__}: {e})")
        self.suppress = wt.suppress_tokens(self.layout, self.non_speech)
        self.id_to_bytes = {r: b for b, r in self.ranks.items()}

    def vocab_merges(self):
        if self.cache["vm"] is None:
            self.cache["vm"] = wt.tiktoken_to_vocab_merges(self.ranks)
        return self.cache["vm"]

    def decode(self, ids):
        """Readable text for logs/json: base tokens as UTF-8, specials as <|...|>."""
        specials = {t: s for t, s, _ in self.layout.special_token_strings()}
        out = []
        buf = b""
        for t in ids:
            if t in self.id_to_bytes:
                buf += self.id_to_bytes[t]
            else:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = b""
                out.append(specials.get(t, f"<|id{t}|>"))
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)


# ============================================================================================
# weights
# ============================================================================================
def hf_param_shapes(fx, n_vocab):
    """HF parameter names and shapes of WhisperForConditionalGeneration (proj_out excluded)."""
    d, f, m = fx["d_model"], fx["ffn"], fx["n_mels"]
    s = {
        "model.encoder.conv1.weight": (d, m, 3), "model.encoder.conv1.bias": (d,),
        "model.encoder.conv2.weight": (d, d, 3), "model.encoder.conv2.bias": (d,),
        "model.encoder.embed_positions.weight": (N_AUDIO_CTX, d),
    }

    def attn(p):
        return {f"{p}.k_proj.weight": (d, d), f"{p}.v_proj.weight": (d, d), f"{p}.v_proj.bias": (d,),
                f"{p}.q_proj.weight": (d, d), f"{p}.q_proj.bias": (d,),
                f"{p}.out_proj.weight": (d, d), f"{p}.out_proj.bias": (d,)}

    def ln(p):
        return {f"{p}.weight": (d,), f"{p}.bias": (d,)}

    def mlp(p):
        return {f"{p}.fc1.weight": (f, d), f"{p}.fc1.bias": (f,), f"{p}.fc2.weight": (d, f), f"{p}.fc2.bias": (d,)}

    for i in range(fx["enc_layers"]):
        p = f"model.encoder.layers.{i}"
        s.update(attn(p + ".self_attn"))
        s.update(ln(p + ".self_attn_layer_norm"))
        s.update(mlp(p))
        s.update(ln(p + ".final_layer_norm"))
    s.update(ln("model.encoder.layer_norm"))
    s["model.decoder.embed_tokens.weight"] = (n_vocab, d)
    s["model.decoder.embed_positions.weight"] = (N_TEXT_CTX, d)
    for i in range(fx["dec_layers"]):
        p = f"model.decoder.layers.{i}"
        s.update(attn(p + ".self_attn"))
        s.update(ln(p + ".self_attn_layer_norm"))
        s.update(attn(p + ".encoder_attn"))
        s.update(ln(p + ".encoder_attn_layer_norm"))
        s.update(mlp(p))
        s.update(ln(p + ".final_layer_norm"))
    s.update(ln("model.decoder.layer_norm"))
    return s


def is_layer_norm_name(name):
    return name.rsplit(".", 2)[-2] in ("self_attn_layer_norm", "encoder_attn_layer_norm",
                                        "final_layer_norm", "layer_norm")


def numpy_random_state(fx, n_vocab):
    """--dry-run weights: same distributions as the torch path, from numpy."""
    rng = np.random.default_rng(fx["seed"])
    out = {}
    for name, shape in hf_param_shapes(fx, n_vocab).items():
        if is_layer_norm_name(name):
            v = (1.0 if name.endswith(".weight") else 0.0) + LN_STD * rng.standard_normal(shape)
        else:
            v = WEIGHT_STD * rng.standard_normal(shape)
        out[name] = v.astype(np.float16).astype(np.float32)
    return out


def build_torch_model(run, fx, layout):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    cfg = WhisperConfig(
        vocab_size=layout.n_vocab,
        num_mel_bins=fx["n_mels"],
        d_model=fx["d_model"],
        encoder_layers=fx["enc_layers"],
        encoder_attention_heads=fx["heads"],
        decoder_layers=fx["dec_layers"],
        decoder_attention_heads=fx["heads"],
        encoder_ffn_dim=fx["ffn"],
        decoder_ffn_dim=fx["ffn"],
        max_source_positions=N_AUDIO_CTX,
        max_target_positions=N_TEXT_CTX,
        pad_token_id=layout.eot,
        bos_token_id=layout.eot,
        eos_token_id=layout.eot,
        decoder_start_token_id=layout.sot,
    )
    torch.manual_seed(fx["seed"])
    model = WhisperForConditionalGeneration(cfg)
    model.eval()

    kinds = {}
    for mod in model.modules():
        if isinstance(mod, torch.nn.LayerNorm):
            if mod.weight is not None:
                kinds[id(mod.weight)] = "ln_w"
            if mod.bias is not None:
                kinds[id(mod.bias)] = "ln_b"
    g = torch.Generator().manual_seed(fx["seed"])
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            kind = kinds.get(id(p), "w")
            r = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if kind == "ln_w":
                v = 1.0 + LN_STD * r
            elif kind == "ln_b":
                v = LN_STD * r
            else:
                v = WEIGHT_STD * r
            p.copy_(v.half().float())
            n += 1
        for name, b in model.named_buffers():
            if b.is_floating_point():
                run.log(f"    note: floating buffer {name} {tuple(b.shape)} left as initialised")
    emb = model.get_decoder().embed_tokens.weight
    proj = model.get_output_embeddings().weight
    if proj.data_ptr() != emb.data_ptr():
        run.warn(fx["name"], "proj_out is not tied to embed_tokens after init; copying and re-tying")
        with torch.no_grad():
            proj.copy_(emb)
        try:
            model.tie_weights()
        except Exception as e:
            run.log(f"    tie_weights failed: {e}")
    run.log(f"    re-drew {n} parameter tensors (seed {fx['seed']}); attn impl "
            f"{getattr(model.config, '_attn_implementation', '?')}")
    return model


def torch_state_numpy(model):
    sd = model.state_dict()
    return {k: v.detach().cpu().float().numpy().copy() for k, v in sd.items()}


# ============================================================================================
# HF checkpoint files
# ============================================================================================
def save_hf_checkpoint_torch(run, fx, model, out_dir, expected):
    import torch

    os.makedirs(out_dir, exist_ok=True)
    half = copy.deepcopy(model).to(torch.float16)
    try:
        half.save_pretrained(out_dir, safe_serialization=True)
    except TypeError as e:
        run.log(f"    save_pretrained(safe_serialization=True) raised {e}; retrying without the flag")
        half.save_pretrained(out_dir)
    del half
    run.log(f"    save_pretrained wrote: {sorted(os.listdir(out_dir))}")
    st_path = os.path.join(out_dir, "model.safetensors")
    if not os.path.exists(st_path):
        raise RuntimeError(f"save_pretrained did not write model.safetensors (files: {os.listdir(out_dir)})")
    check_model_safetensors(run, fx, st_path, expected)
    return True


def check_model_safetensors(run, fx, st_path, expected):
    """expected: {hf_name: np.ndarray fp32}. Verifies names, F16 dtype, shapes and values."""
    _, header = st_io.read_header(st_path)
    meta = header.pop("__metadata__", None)
    keys = set(header)
    if "proj_out.weight" in keys:
        run.warn(fx["name"], "model.safetensors contains proj_out.weight (tied); rewriting without it")
        raw, meta2 = st_io.read_safetensors(st_path, as_raw=True)
        raw.pop("proj_out.weight")
        st_io.write_safetensors(st_path, {}, metadata=meta2 or {"format": "pt"}, raw=raw)
        _, header = st_io.read_header(st_path)
        header.pop("__metadata__", None)
        keys = set(header)
    missing = sorted(set(expected) - keys)
    extra = sorted(keys - set(expected))
    if missing or extra:
        raise RuntimeError(f"model.safetensors keys: missing {missing[:8]} extra {extra[:8]}")
    tensors, _ = st_io.read_safetensors(st_path)
    bad = []
    for k, arr in tensors.items():
        if header[k]["dtype"] != "F16":
            bad.append(f"{k}: dtype {header[k]['dtype']}")
        elif tuple(arr.shape) != tuple(expected[k].shape):
            bad.append(f"{k}: shape {arr.shape} != {expected[k].shape}")
        elif not np.array_equal(arr.astype(np.float32), expected[k]):
            bad.append(f"{k}: values differ")
    if bad:
        raise RuntimeError("model.safetensors content: " + "; ".join(bad[:8]))
    run.log(f"    model.safetensors: {len(keys)} tensors, all F16, values exact; metadata {meta}; "
            f"first keys {sorted(keys)[:3]}")


def write_config_json_numpy(path, fx, layout, suppress):
    """--dry-run stand-in for transformers' config.json."""
    d = {
        "architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper",
        "vocab_size": layout.n_vocab, "num_mel_bins": fx["n_mels"], "d_model": fx["d_model"],
        "encoder_layers": fx["enc_layers"], "encoder_attention_heads": fx["heads"],
        "decoder_layers": fx["dec_layers"], "decoder_attention_heads": fx["heads"],
        "encoder_ffn_dim": fx["ffn"], "decoder_ffn_dim": fx["ffn"],
        "max_source_positions": N_AUDIO_CTX, "max_target_positions": N_TEXT_CTX,
        "activation_function": "gelu", "scale_embedding": False, "tie_word_embeddings": True,
        "pad_token_id": layout.eot, "bos_token_id": layout.eot, "eos_token_id": layout.eot,
        "decoder_start_token_id": layout.sot, "torch_dtype": "float16",
        "begin_suppress_tokens": [220, layout.eot], "suppress_tokens": list(suppress),
        "note": "written by make_fixtures.py --dry-run (no transformers)",
    }
    write_json(path, d)


def patch_config_json(run, fx, path, layout, suppress):
    """Real checkpoints' config.json carry the family's begin_suppress_tokens/suppress_tokens;
    transformers' defaults (or its 'move to generation config') may have left other values."""
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    before = {k: d.get(k) for k in ("begin_suppress_tokens", "suppress_tokens")}
    d["begin_suppress_tokens"] = [220, layout.eot]
    d["suppress_tokens"] = list(suppress)
    write_json(path, d)
    if before["begin_suppress_tokens"] != d["begin_suppress_tokens"]:
        run.log(f"    config.json begin_suppress_tokens {before['begin_suppress_tokens']} -> {d['begin_suppress_tokens']}")
    if before["suppress_tokens"] != d["suppress_tokens"]:
        bs = before["suppress_tokens"]
        run.log(f"    config.json suppress_tokens {'None' if bs is None else str(len(bs)) + ' ids'} -> {len(suppress)} ids")


def load_model_torch(path):
    import torch
    from transformers import WhisperForConditionalGeneration

    last = None
    for kw in ({"dtype": torch.float32}, {"torch_dtype": torch.float32}, {}):
        try:
            m = WhisperForConditionalGeneration.from_pretrained(path, **kw)
            return m.float().eval()
        except TypeError as e:
            last = e
    raise last


def reload_check_torch(run, fx, path, ref_state):
    m = load_model_torch(path)
    got = torch_state_numpy(m)
    bad = []
    for k, v in ref_state.items():
        if k not in got:
            bad.append(f"missing {k}")
        elif got[k].shape != v.shape or not np.array_equal(got[k], v):
            bad.append(f"{k} differs")
    if bad:
        raise RuntimeError(f"reloading {path} gives different weights: {bad[:8]}")
    tied = m.get_output_embeddings().weight.data_ptr() == m.get_decoder().embed_tokens.weight.data_ptr()
    run.log(f"    reloaded {os.path.basename(path)} with from_pretrained: {len(ref_state)} tensors identical; "
            f"proj_out tied: {tied}")
    if not tied:
        run.warn(fx["name"], "proj_out is not tied after from_pretrained")
    return m


def write_sharded_copy(run, fx, src_dir, dst_dir):
    """Same tensors as src_dir/model.safetensors in two shards + model.safetensors.index.json
    (HF's format: {"metadata": {"total_size": bytes}, "weight_map": {name: shard}})."""
    raw, meta = st_io.read_safetensors(os.path.join(src_dir, "model.safetensors"), as_raw=True)
    os.makedirs(dst_dir, exist_ok=True)
    names = list(raw)
    first = [n for n in names if n.startswith("model.decoder.")]
    second = [n for n in names if n not in set(first)]
    if not first or not second:
        half = len(names) // 2
        first, second = names[:half], names[half:]
    shards = [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)]
    weight_map = {}
    total = 0
    for fn, group in shards:
        st_io.write_safetensors(os.path.join(dst_dir, fn), {}, metadata=meta or {"format": "pt"},
                                raw={n: raw[n] for n in group})
        for n in group:
            weight_map[n] = fn
            total += len(raw[n][2])
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(dst_dir, "model.safetensors.index.json"), index)
    for fn in os.listdir(src_dir):
        if fn in ("model.safetensors", "reference.json", "reference.safetensors"):
            continue
        full = os.path.join(src_dir, fn)
        if os.path.isfile(full):
            shutil.copy2(full, os.path.join(dst_dir, fn))
    run.log(f"    sharded copy: {len(first)} + {len(second)} tensors, total_size {total}; files {sorted(os.listdir(dst_dir))}")


# ============================================================================================
# tokenizer files
# ============================================================================================
def _tok_check_quick(tok, fam):
    s = wt.TEST_SENTENCES[0]
    try:
        got = tok.encode(s, add_special_tokens=False)
    except TypeError:
        got = tok.encode(s)
    want = fam.encoder.encode(s)
    if list(got) != want:
        raise ValueError(f"encode mismatch on a test sentence: {list(got)[:12]} vs {want[:12]}")
    bad = []
    for tid, text, _ in fam.layout.special_token_strings()[:: 37] + fam.layout.special_token_strings()[-3:]:
        if tok.convert_tokens_to_ids(text) != tid:
            bad.append((text, tok.convert_tokens_to_ids(text), tid))
    if bad:
        raise ValueError(f"special/added token ids wrong: {bad[:5]}")


def build_tokenizer_with_transformers(run, fam, stage):
    """Tries the transformers constructors that exist across versions (4.x slow
    WhisperTokenizer(vocab_file, merges_file) as convert_openai_to_hf does; 5.x
    WhisperTokenizer(vocab=..., merges=...)); adds the special and timestamp tokens like
    convert_tiktoken_to_hf. Returns (label, tokenizer) or (None, None)."""
    import transformers

    vocab, merges = fam.vocab_merges()
    vj = os.path.join(stage, "vocab.json")
    mt = os.path.join(stage, "merges.txt")
    wt.write_vocab_json(vj, vocab)
    wt.write_merges_txt(mt, merges)
    specials = [t for _, t, s in fam.layout.special_token_strings() if s]
    stamps = [t for _, t, s in fam.layout.special_token_strings() if not s]
    WT = getattr(transformers, "WhisperTokenizer", None)
    WTF = getattr(transformers, "WhisperTokenizerFast", None)
    attempts = []
    if WT is not None:
        attempts += [
            ("WhisperTokenizer(vocab_file, merges_file)", lambda: WT(vj, mt)),
            ("WhisperTokenizer(vocab=dict, merges=list[str])", lambda: WT(vocab=dict(vocab), merges=list(merges))),
            ("WhisperTokenizer(vocab=dict, merges=list[tuple])",
             lambda: WT(vocab=dict(vocab), merges=[tuple(m.split(" ")) for m in merges])),
        ]
    if WTF is not None and WTF is not WT:
        attempts.append(("WhisperTokenizerFast(vocab_file, merges_file)", lambda: WTF(vocab_file=vj, merges_file=mt)))
    for label, make in attempts:
        try:
            tok = make()
            tok.add_tokens(specials, special_tokens=True)
            tok.add_tokens(stamps, special_tokens=False)
            _tok_check_quick(tok, fam)
            run.log(f"    tokenizer built with transformers: {label} -> {type(tok).__name__}")
            return label, tok
        except Exception as e:
            run.log(f"    tokenizer attempt {label} failed: {type(e).__name__}: {str(e)[:300]}")
    return None, None


def tokenizer_json_via_tokenizers_lib(path, fam):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab, merges = fam.vocab_merges()
    pairs = [tuple(m.split(" ")) for m in merges]
    tk = Tokenizer(models.BPE(vocab=dict(vocab), merges=pairs, dropout=None, continuing_subword_prefix="",
                              end_of_word_suffix="", fuse_unk=False))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    entries = fam.layout.special_token_strings()
    tk.add_special_tokens([AddedToken(t, normalized=False, special=True) for _, t, s in entries if s])
    tk.add_tokens([AddedToken(t, normalized=False, special=False) for _, t, s in entries if not s])
    for tid, text, _ in entries:
        if tk.token_to_id(text) != tid:
            raise ValueError(f"tokenizers lib gave {text} id {tk.token_to_id(text)}, expected {tid}")
    tk.save(path)


def make_tokenizer_files(run, fx, fam, dirs, dry_run):
    """Writes the fixture's tokenizer files into every directory in `dirs`.
    Returns info for reference.json."""
    kind = fx["tokenizer"]
    info = {"kind": kind, "source": {}}
    if kind is None:
        info["note"] = "no tokenizer files: tests pass --tokenizer gpt2.tiktoken"
        return info
    stage_root = tempfile.mkdtemp(prefix="hark-tok-")
    try:
        files = {}  # final name -> source path
        stage1 = os.path.join(stage_root, "s1")
        os.makedirs(stage1)
        tok = None
        if not dry_run:
            label, tok = build_tokenizer_with_transformers(run, fam, os.path.join(stage_root))
            info["transformers_constructor"] = label
        if tok is not None:
            saved = None
            for kw in ({"legacy_format": True}, {}):
                try:
                    tok.save_pretrained(stage1, **kw)
                    saved = kw
                    break
                except Exception as e:
                    run.log(f"    save_pretrained({kw}) failed: {type(e).__name__}: {e}")
            run.log(f"    transformers save_pretrained{saved} wrote: {sorted(os.listdir(stage1))}")
            for fn in os.listdir(stage1):
                files[fn] = os.path.join(stage1, fn)
                info["source"][fn] = "transformers"
        if kind == "tokenizer.json" and "tokenizer.json" not in files and not dry_run:
            stage2 = os.path.join(stage_root, "s2")
            os.makedirs(stage2)
            try:
                import transformers

                WTF = getattr(transformers, "WhisperTokenizerFast", None) or transformers.AutoTokenizer
                fast = WTF.from_pretrained(stage1)
                try:
                    fast.save_pretrained(stage2, legacy_format=False)
                except TypeError:
                    fast.save_pretrained(stage2)
                run.log(f"    fast tokenizer ({type(fast).__name__}) save_pretrained wrote: {sorted(os.listdir(stage2))}")
                if os.path.exists(os.path.join(stage2, "tokenizer.json")):
                    for fn in os.listdir(stage2):
                        files[fn] = os.path.join(stage2, fn)
                        info["source"][fn] = "transformers (fast)"
            except Exception as e:
                run.log(f"    fast-tokenizer conversion failed: {type(e).__name__}: {e}")
        if kind == "tokenizer.json" and "tokenizer.json" not in files:
            p = os.path.join(stage_root, "tokenizer.json")
            try:
                if dry_run:
                    raise ImportError("dry run")
                tokenizer_json_via_tokenizers_lib(p, fam)
                info["source"]["tokenizer.json"] = "tokenizers library (fallback)"
            except Exception as e:
                run.log(f"    tokenizers-library fallback not used ({type(e).__name__}: {e}); writing tokenizer.json by hand")
                vocab, merges = fam.vocab_merges()
                wt.write_tokenizer_json_manual(p, vocab, merges, fam.layout)
                info["source"]["tokenizer.json"] = "hand-written JSON (fallback)"
            files["tokenizer.json"] = p
            if not dry_run:
                run.warn(fx["name"], f"tokenizer.json not produced by transformers; used {info['source']['tokenizer.json']}")
        own = os.path.join(stage_root, "own")
        os.makedirs(own)
        vocab, merges = fam.vocab_merges()
        wanted = ["tokenizer_config.json", "special_tokens_map.json"]
        if kind == "tokenizer.json":
            wanted = ["tokenizer.json"] + wanted
        else:
            wanted = ["vocab.json", "merges.txt", "added_tokens.json"] + wanted
        writers = {
            "vocab.json": lambda p: wt.write_vocab_json(p, vocab),
            "merges.txt": lambda p: wt.write_merges_txt(p, merges),
            "added_tokens.json": lambda p: wt.write_added_tokens_json(p, fam.layout),
            "tokenizer_config.json": lambda p: wt.write_tokenizer_config(p, fam.layout),
            "special_tokens_map.json": lambda p: wt.write_special_tokens_map(p, fam.layout),
        }
        for fn in wanted:
            if fn in files:
                continue
            p = os.path.join(own, fn)
            writers[fn](p)
            files[fn] = p
            info["source"][fn] = "make_fixtures.py writer (transformers did not write it)"
            if not dry_run:
                run.log(f"    {fn}: not written by transformers; wrote it with our own writer")
        for d in dirs:
            for fn in wanted:
                shutil.copy2(files[fn], os.path.join(d, fn))
        info["files"] = wanted
        info["source"] = {k: v for k, v in info["source"].items() if k in wanted}
        run.log(f"    tokenizer files {wanted} <- {info['source']}")
        return info
    finally:
        shutil.rmtree(stage_root, ignore_errors=True)


def verify_tokenizer_files(run, fx, fam, d, dry_run):
    """Encodes the test sentences with every reader we have and compares with tiktoken."""
    kind = fx["tokenizer"]
    res = {"sentences": len(wt.TEST_SENTENCES), "checks": {}}
    want = [fam.encoder.encode(s) for s in wt.TEST_SENTENCES]
    res["reference_encoder"] = fam.encoder.name

    def record(name, fn):
        try:
            got = [list(fn(s)) for s in wt.TEST_SENTENCES]
            mism = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            res["checks"][name] = "match" if not mism else f"MISMATCH on sentences {mism}"
            if mism:
                i = mism[0]
                run.error(fx["name"], f"TOKENIZER MISMATCH ({name}) on {wt.TEST_SENTENCES[i]!r}: "
                                      f"{got[i][:20]} vs tiktoken {want[i][:20]}")
            else:
                run.log(f"    tokenizer check {name}: all {len(got)} sentences match {fam.encoder.name}")
        except Exception as e:
            res["checks"][name] = f"could not run: {type(e).__name__}: {e}"
            run.warn(fx["name"], f"tokenizer check {name} could not run: {type(e).__name__}: {e}")

    if kind == "vocab+merges":
        with open(os.path.join(d, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = [ln for ln in lines[1:] if ln]
        record("vocab.json+merges.txt (own GPT-2 BPE reader)", lambda s, _c={}: _c.setdefault("e", wt.HFFileEncoder(vocab, merges)).encode(s))
        with open(os.path.join(d, "added_tokens.json"), encoding="utf-8") as f:
            added = json.load(f)
        exp = {t: i for i, t, _ in fam.layout.special_token_strings()}
        vocab_ids = {t: i for t, i in vocab.items() if i >= fam.layout.n_base}
        allmap = dict(added)
        allmap.update(vocab_ids)
        wrong = [(t, allmap.get(t), i) for t, i in exp.items() if allmap.get(t) != i]
        res["checks"]["added_tokens.json ids"] = "match" if not wrong else f"MISMATCH {wrong[:5]}"
        if wrong:
            run.error(fx["name"], f"added_tokens.json ids wrong: {wrong[:5]}")
    if kind == "tokenizer.json":
        with open(os.path.join(d, "tokenizer.json"), encoding="utf-8") as f:
            tj = json.load(f)
        m = tj["model"]
        merges = [x if isinstance(x, str) else " ".join(x) for x in m["merges"]]
        record("tokenizer.json model (own GPT-2 BPE reader)",
               lambda s, _c={}: _c.setdefault("e", wt.HFFileEncoder(m["vocab"], merges)).encode(s))
        ids = {e["content"]: e["id"] for e in tj.get("added_tokens", [])}
        exp = {t: i for i, t, _ in fam.layout.special_token_strings()}
        wrong = [(t, ids.get(t, m["vocab"].get(t)), i) for t, i in exp.items() if ids.get(t, m["vocab"].get(t)) != i]
        res["checks"]["tokenizer.json added ids"] = "match" if not wrong else f"MISMATCH {wrong[:5]}"
        res["merges_format"] = "strings" if m["merges"] and isinstance(m["merges"][0], str) else "pairs"
        if wrong:
            run.error(fx["name"], f"tokenizer.json added-token ids wrong: {wrong[:5]}")
        if not dry_run:
            try:
                from tokenizers import Tokenizer

                tk = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
                record("tokenizers.Tokenizer.from_file", lambda s: tk.encode(s, add_special_tokens=False).ids)
            except Exception as e:
                res["checks"]["tokenizers.Tokenizer.from_file"] = f"could not run: {e}"
                run.warn(fx["name"], f"tokenizers.Tokenizer.from_file failed: {e}")
    if not dry_run:
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(d)
            res["transformers_class"] = type(tok).__name__
            record(f"transformers AutoTokenizer ({type(tok).__name__})",
                   lambda s: tok.encode(s, add_special_tokens=False))
            exp = {t: i for i, t, _ in fam.layout.special_token_strings()}
            wrong = [(t, tok.convert_tokens_to_ids(t), i) for t, i in exp.items() if tok.convert_tokens_to_ids(t) != i]
            res["checks"]["AutoTokenizer special ids"] = "match" if not wrong else f"MISMATCH {wrong[:5]}"
            if wrong:
                run.error(fx["name"], f"AutoTokenizer special ids wrong: {wrong[:5]}")
            s = wt.TEST_SENTENCES[0]
            rt = tok.decode(tok.encode(s, add_special_tokens=False))
            res["checks"]["AutoTokenizer decode round trip"] = "match" if rt == s else f"MISMATCH {rt!r}"
            try:
                res["prefix_tokens_default"] = list(tok.encode("", add_special_tokens=True))
            except Exception:
                pass
        except Exception as e:
            res["checks"]["transformers AutoTokenizer"] = f"could not run: {type(e).__name__}: {e}"
            run.warn(fx["name"], f"AutoTokenizer.from_pretrained({d}) failed: {type(e).__name__}: {e}")
    return res


# ============================================================================================
# ggml
# ============================================================================================
def write_ggml_files(run, fx, fam, state, assets, out_root):
    layout = fam.layout
    filters = logmel.load_mel_filters(os.path.join(assets, "mel_filters.npz"), fx["n_mels"])
    if filters.shape != (fx["n_mels"], 201):
        raise ValueError(f"mel filters shape {filters.shape}")
    openai_state = ggml_whisper.hf_state_to_openai(state, fx["enc_layers"], fx["dec_layers"])
    hp = {"n_vocab": layout.n_vocab, "n_audio_ctx": N_AUDIO_CTX, "n_audio_state": fx["d_model"],
          "n_audio_head": fx["heads"], "n_audio_layer": fx["enc_layers"], "n_text_ctx": N_TEXT_CTX,
          "n_text_state": fx["d_model"], "n_text_head": fx["heads"], "n_text_layer": fx["dec_layers"],
          "n_mels": fx["n_mels"]}
    outs = [(f"{fx['name']}.ggml-f16.bin", ggml_whisper.TYPE_F16)] if fx.get("ggml_f16", True) else []
    if fx.get("ggml_f32"):
        outs.append((f"{fx['name']}.ggml-f32.bin", ggml_whisper.TYPE_F32))
    info = {}
    for fn, ftype in outs:
        p = os.path.join(out_root, fn)
        written = ggml_whisper.write_ggml(p, hp, filters, fam.vocab_bytes, openai_state, ftype)
        problems = ggml_whisper.verify_ggml(p, hp, filters, fam.vocab_bytes, openai_state, ftype)
        if problems:
            raise RuntimeError(f"{fn} round trip: {problems[:8]}")
        n16 = sum(1 for _, t, _ in written if t == ggml_whisper.TYPE_F16)
        run.log(f"    {fn}: {len(written)} tensors ({n16} f16), vocab {len(fam.vocab_bytes)}, "
                f"{os.path.getsize(p) / 1e6:.2f} MB; read back: exact")
        info[fn] = {"ftype": ftype, "tensors": len(written), "f16_tensors": n16, "bytes": os.path.getsize(p)}
    return info


# ============================================================================================
# reference outputs (torch)
# ============================================================================================
class FirstWindowDone(Exception):
    """Raised by the Recorder when transformers starts a second window (seek loop): the first
    window's sequence is all the reference needs."""


class Recorder:
    """A logits processor placed after transformers' own: remembers the decoder input at the first
    step (the prompt transformers really used) and the argmax of the processed scores at every
    step of the first underlying generate() call (the greedy choice), so the first window's
    sequence is known whatever generate() returns."""

    def __init__(self):
        self.first = None
        self.choices = []
        self.calls = 0
        self.windows = 1
        self._last_len = None

    def __call__(self, input_ids, scores):
        n = int(input_ids.shape[-1])
        self.calls += 1
        if self.first is None:
            self.first = [int(x) for x in input_ids[0].tolist()]
        elif n <= self._last_len:
            self.windows += 1  # a new underlying generate() call (next seek window / fallback)
            raise FirstWindowDone()
        self._last_len = n
        if self.windows == 1:
            self.choices.append(int(scores[0].argmax().item()))
        return scores


_STOPPED = object()


def make_recorder():
    try:
        from transformers import LogitsProcessor
    except Exception:
        from transformers.generation.logits_process import LogitsProcessor

    class _Rec(Recorder, LogitsProcessor):
        pass

    return _Rec()


def cut_after_eot(seq, prompt_len, eot):
    for i in range(prompt_len, len(seq)):
        if seq[i] == eot:
            return seq[: i + 1]
    return seq


def returned_sequence(out):
    import torch

    if isinstance(out, torch.Tensor):
        t = out
    elif isinstance(out, dict):
        t = out["sequences"]
    elif hasattr(out, "sequences"):
        t = out.sequences
    else:
        raise TypeError(f"generate() returned {type(out).__name__}")
    return [int(x) for x in t[0].tolist()]


def hf_generate(run, fx, model, feats, gc, layout, timestamps):
    """model.generate with the brief's parameters. Tries force_unique_generate_call=True first
    (one underlying generate() call: the raw first-window sequence incl. prompt and EOT), then the
    plain call. Returns (tokens, info)."""
    import torch

    base = {"return_timestamps": timestamps, "max_new_tokens": HF_MAX_NEW_TOKENS, "do_sample": False, "num_beams": 1}
    if layout.multilingual:
        base.update(language="en", task="transcribe")
    expected_prompt = [layout.sot] + ([layout.language_id("en"), layout.transcribe] if layout.multilingual else [])
    if not timestamps:
        expected_prompt.append(layout.no_timestamps)
    info = {"kwargs": dict(base), "expected_prompt": expected_prompt, "attempts": []}
    variants = [("force_unique_generate_call=True", {"force_unique_generate_call": True}, True),
                ("force_unique_generate_call=True, no recorder", {"force_unique_generate_call": True}, False),
                ("plain", {}, True),
                ("plain, no recorder", {}, False)]
    out = rec = None
    for label, extra, use_rec in variants:
        rec = make_recorder() if use_rec else None
        kwargs = dict(base)
        kwargs.update(extra)
        kwargs["generation_config"] = copy.deepcopy(gc)
        if rec is not None:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList([rec])
        try:
            with torch.no_grad(), time_limit(run.limited(GENERATE_TIMEOUT_S)):
                out = model.generate(input_features=feats, **kwargs)
            info["attempts"].append({"variant": label, "ok": True})
            info["variant"] = label
            break
        except FirstWindowDone:
            out = _STOPPED
            info["attempts"].append({"variant": label, "ok": True, "stopped_after_first_window": True})
            info["variant"] = label
            run.log(f"    generate [{label}] started a second window; stopped it, the first window is recorded")
            break
        except Exception as e:
            info["attempts"].append({"variant": label, "ok": False, "error": f"{type(e).__name__}: {str(e)[:400]}"})
            run.log(f"    generate [{label}] failed: {type(e).__name__}: {str(e)[:400]}")
            out = None
            if isinstance(e, StepTimeout):
                break
    if out is None:
        raise RuntimeError(f"every generate() variant failed: {info['attempts']}")
    returned = None if out is _STOPPED else returned_sequence(out)
    info["returned_raw"] = returned
    info["returned_type"] = None if out is _STOPPED else type(out).__name__
    prompt_used = rec.first if (rec is not None and rec.first is not None) else None
    info["prompt_used_by_transformers"] = prompt_used
    if prompt_used is not None and prompt_used != expected_prompt:
        run.warn(fx["name"], f"transformers used prompt {prompt_used}, expected {expected_prompt}")
    prompt = prompt_used or expected_prompt
    if returned is None:
        if rec is None or rec.first is None:
            raise RuntimeError("generate() was stopped but nothing was recorded")
        rseq = cut_after_eot(rec.first + rec.choices, len(rec.first), layout.eot)
        info["recorder"] = {"calls": rec.calls, "windows": rec.windows, "first_window_len": len(rseq)}
        info["source"] = "recorder (first window of a plain generate() call)"
        info["n_generated"] = len(rseq) - len(prompt)
        info["ended_with_eot"] = bool(rseq[-1] == layout.eot and info["n_generated"] > 0)
        return rseq, info
    if returned and returned[0] == layout.sot:
        ret_full = returned
        info["returned_includes_prompt"] = True
    else:
        ret_full = prompt + returned
        info["returned_includes_prompt"] = False
        run.log(f"    generate() returned the generated tokens only; prompt {prompt} prepended")
    ret_full = cut_after_eot(ret_full, len(prompt), layout.eot)
    full = ret_full
    forced = info["variant"].startswith("force_unique")
    if rec is not None and rec.first is not None:
        rseq = cut_after_eot(rec.first + rec.choices, len(rec.first), layout.eot)
        info["recorder"] = {"calls": rec.calls, "windows": rec.windows, "first_window_len": len(rseq)}
        if rseq == ret_full:
            info["recorder_agrees"] = True
        elif rseq[: len(ret_full)] == ret_full and rseq[len(ret_full):] in ([], [layout.eot]):
            info["recorder_agrees"] = "returned lacks the final EOT; recorder's sequence used"
            full = rseq
        elif not forced:
            info["recorder_agrees"] = False
            info["returned_full"] = ret_full
            full = rseq
            run.warn(fx["name"], f"plain generate() (timestamps={timestamps}) returned {len(ret_full)} ids over "
                                 f"{rec.windows} window(s); keeping the first window's step-wise sequence ({len(rseq)} ids)")
        else:
            info["recorder_agrees"] = False
            info["recorder_sequence"] = rseq
            fd = first_diff_index(rseq, ret_full)
            run.warn(fx["name"], f"generate() returned a sequence that differs from the step-wise argmax "
                                 f"at index {fd} (timestamps={timestamps}); keeping the returned one")
    elif not forced and timestamps:
        run.warn(fx["name"], "timestamped tokens come from a plain generate() call without the recorder: "
                             "they may span several seek windows")
    n_gen = len(full) - len(prompt)
    info["n_generated"] = n_gen
    info["ended_with_eot"] = bool(full and full[-1] == layout.eot and n_gen > 0)
    return full, info


def decoder_last_logits(model, enc, ids):
    import torch

    t = torch.tensor([ids], dtype=torch.long)
    try:
        dec = model.get_decoder()
        h = dec(input_ids=t, encoder_hidden_states=enc, use_cache=False).last_hidden_state[:, -1]
        return model.get_output_embeddings()(h)[0].float()
    except Exception:
        from transformers.modeling_outputs import BaseModelOutput

        o = model(encoder_outputs=BaseModelOutput(last_hidden_state=enc), decoder_input_ids=t, use_cache=False)
        return o.logits[0, -1].float()


def apply_timestamp_rules_openai(logits, tokens, sample_begin, layout, max_initial_timestamp_index):
    """openai/whisper decoding.py ApplyTimestampRules.apply for one sequence (in place)."""
    import torch

    ninf = float("-inf")
    tb = layout.timestamp_begin
    logits[layout.no_timestamps] = ninf
    seq = tokens[sample_begin:]
    last_was_ts = len(seq) >= 1 and seq[-1] >= tb
    penult_was_ts = len(seq) < 2 or seq[-2] >= tb
    if last_was_ts:
        if penult_was_ts:
            logits[tb:] = ninf
        else:
            logits[: layout.eot] = ninf
    stamps = [t for t in seq if t >= tb]
    if stamps:
        ts_last = stamps[-1] if (last_was_ts and not penult_was_ts) else stamps[-1] + 1
        logits[tb:ts_last] = ninf
    if len(tokens) == sample_begin:
        logits[:tb] = ninf
        if max_initial_timestamp_index is not None:
            logits[tb + max_initial_timestamp_index + 1 :] = ninf
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    ts_lp = torch.logsumexp(logprobs[tb:], dim=-1)
    max_text = logprobs[:tb].max()
    if ts_lp > max_text:
        logits[:tb] = ninf


def openai_greedy(model, enc, prompt, layout, suppress, timestamps):
    """Greedy decoding with openai/whisper's rules (DecodingTask with temperature 0):
    SuppressBlank, SuppressTokens(-1 list), ApplyTimestampRules (max_initial_timestamp 1.0 s),
    sample_len = n_text_ctx // 2 = 224; stops after EOT."""
    import torch

    tokens = list(prompt)
    sample_begin = len(prompt)
    sup = torch.tensor(suppress, dtype=torch.long)
    with torch.no_grad():
        for _ in range(OPENAI_SAMPLE_LEN):
            logits = decoder_last_logits(model, enc, tokens).clone()
            if len(tokens) == sample_begin:
                logits[[220, layout.eot]] = float("-inf")
            logits[sup] = float("-inf")
            if timestamps:
                apply_timestamp_rules_openai(logits, tokens, sample_begin, layout, 50)
            nxt = int(logits.argmax().item())
            tokens.append(nxt)
            if nxt == layout.eot or len(tokens) > N_TEXT_CTX:
                break
    return tokens


def feature_extractor_mel(audio, n_mels):
    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor(feature_size=n_mels)
    try:
        r = fe(audio, sampling_rate=16000, return_tensors="np")
    except TypeError:
        r = fe(audio, sampling_rate=16000)
    feats = np.asarray(r["input_features"], dtype=np.float32)
    if feats.ndim == 3:
        feats = feats[0]
    return feats, {k: getattr(fe, k, None) for k in ("feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft", "n_samples", "nb_max_frames")}


def first_diff_index(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def make_reference(run, fx, fam, model, gc, assets, out_dir):
    import torch

    layout = fam.layout
    name = fx["name"]
    ref = {"fixture": name, "family": fx["family"], "dims": {k: fx[k] for k in ("n_mels", "d_model", "heads", "enc_layers", "dec_layers", "ffn")},
           "seed": fx["seed"], "token_layout": layout.as_dict(), "versions": versions(),
           "torch_threads": torch.get_num_threads(), "device": "cpu", "dtype": "float32"}
    tensors = {}
    wav = os.path.join(assets, "jfk.wav")
    audio = logmel.load_wav_16k_mono(wav)
    ref["audio"] = {"file": "jfk.wav", "n_samples": int(audio.shape[0]), "sample_rate": 16000,
                    "sha256": wt.file_sha256(wav), "scaling": "int16 / 32768"}

    # ---- mel
    filters = logmel.load_mel_filters(os.path.join(assets, "mel_filters.npz"), fx["n_mels"])
    mel_oa64 = logmel.log_mel_openai(audio, filters)
    mel_oa = logmel.first_window(mel_oa64)
    ref["mel_openai"] = {"shape": list(mel_oa.shape), "padded_total_frames": int(mel_oa64.shape[1]),
                         "how": "float64 numpy: audio + 480000 zeros, reflect-centred STFT (n_fft 400, hop 160, periodic Hann), "
                                "power, last frame dropped, mel_filters.npz, log10(max(x,1e-10)), max(x, max-8) over the whole "
                                "padded file, (x+4)/4, first 3000 frames"}
    mel = None
    try:
        mel, fe_params = feature_extractor_mel(audio, fx["n_mels"])
        if mel.shape != (fx["n_mels"], logmel.N_FRAMES):
            raise ValueError(f"feature extractor gave {mel.shape}")
        d = np.abs(mel.astype(np.float64) - mel_oa)
        ref["mel"] = {"source": "transformers WhisperFeatureExtractor", "shape": list(mel.shape), "params": fe_params,
                      "max_abs_diff_vs_openai_float64": float(d.max()), "mean_abs_diff_vs_openai_float64": float(d.mean())}
        run.log(f"    mel: WhisperFeatureExtractor {mel.shape}; vs OpenAI float64: max |diff| {d.max():.3e}, mean {d.mean():.3e}")
    except Exception as e:
        run.error(name, f"WhisperFeatureExtractor failed ({type(e).__name__}: {e}); using the numpy OpenAI mel as input")
        mel = mel_oa.astype(np.float32)
        ref["mel"] = {"source": "numpy OpenAI log-mel (feature extractor FAILED)", "shape": list(mel.shape)}
    tensors["mel"] = mel
    feats = torch.from_numpy(np.ascontiguousarray(mel))[None]

    # ---- encoder
    with torch.no_grad():
        enc = model.get_encoder()(input_features=feats).last_hidden_state
    tensors["encoder_out"] = enc[0].float().numpy().copy()
    ref["encoder_out"] = {"shape": list(tensors["encoder_out"].shape), "rms": float(np.sqrt((tensors["encoder_out"] ** 2).mean()))}
    run.log(f"    encoder_out {tuple(enc.shape[1:])}, rms {ref['encoder_out']['rms']:.4f}")

    def logits_for(ids):
        with torch.no_grad():
            o = model(input_features=feats, decoder_input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
        return o.logits[0].float()

    # ---- language
    if layout.multilingual:
        def lang():
            lg = logits_for([layout.sot])[0]
            ids = list(range(layout.first_language, layout.first_language + layout.n_languages))
            p = torch.softmax(lg[ids], dim=-1).numpy().astype(np.float32)
            tensors["language_probs"] = p
            order = np.argsort(-p)
            code = layout.language_codes[int(order[0])]
            ref["language"] = {"detected": code, "token": layout.language_id(code),
                               "top5": [[layout.language_codes[int(i)], float(p[i])] for i in order[:5]],
                               "codes_in_order": layout.language_codes,
                               "how": "softmax over the language tokens of the logits at position 0 for input [sot]"}
            run.log(f"    language: {code} (p={p[order[0]]:.4f}); top5 {ref['language']['top5']}")
            try:
                got = model.detect_language(input_features=feats, generation_config=copy.deepcopy(gc))
                gid = int(got.reshape(-1)[0].item()) if hasattr(got, "reshape") else int(got[0])
                ref["language"]["hf_detect_language_token"] = gid
                ref["language"]["hf_detect_language_agrees"] = gid == layout.language_id(code)
                run.log(f"    model.detect_language -> {gid} ({'agrees' if gid == layout.language_id(code) else 'DISAGREES'})")
                if gid != layout.language_id(code):
                    run.warn(name, f"model.detect_language gave {gid}, softmax argmax gave {layout.language_id(code)}")
            except Exception as e:
                ref["language"]["hf_detect_language_error"] = f"{type(e).__name__}: {e}"
                run.log(f"    model.detect_language unavailable: {type(e).__name__}: {e}")
        run.step(name, "language probabilities", lang)

    # ---- no-speech probability (OpenAI: softmax at the sot index of the prompt)
    def nospeech():
        prompt = [layout.sot] + ([layout.language_id("en"), layout.transcribe] if layout.multilingual else [])
        lg = logits_for(prompt)
        p = float(torch.softmax(lg[0], dim=-1)[layout.no_speech].item())
        p_sot_only = float(torch.softmax(logits_for([layout.sot])[0], dim=-1)[layout.no_speech].item())
        ref["no_speech_prob"] = p
        ref["no_speech"] = {"prompt": prompt, "index": 0, "token": layout.no_speech, "prob": p,
                            "prob_with_sot_only_input": p_sot_only}
        tensors["no_speech_prob"] = np.array([p], dtype=np.float32)
        run.log(f"    no_speech_prob {p:.6g} (sot-only input: {p_sot_only:.6g})")
        if abs(p - p_sot_only) > 1e-6:
            run.warn(name, f"no_speech_prob depends on later prompt tokens ({p} vs {p_sot_only}): causal mask?")
    run.step(name, "no-speech probability", nospeech)

    # ---- greedy, transformers
    gen = {}
    for ts in (False, True):
        key = "tokens_timestamps" if ts else "tokens_notimestamps"
        r = run.step(name, f"transformers generate (return_timestamps={ts})", hf_generate, run, fx, model, feats, gc, layout, ts)
        if r is not None:
            seq, info = r
            tensors[key] = np.array(seq, dtype=np.int32)
            gen[key] = info
            n_ts = sum(1 for t in seq[len(info.get('prompt_used_by_transformers') or info['expected_prompt']):] if t >= layout.timestamp_begin)
            info["n_timestamp_tokens"] = n_ts
            stamps = [[i, t, round((t - layout.timestamp_begin) * 0.02, 2)] for i, t in enumerate(seq) if t >= layout.timestamp_begin]
            info["timestamp_tokens"] = stamps
            if stamps:
                run.log(f"      timestamp tokens [index, id, seconds]: {stamps[:16]}{' ...' if len(stamps) > 16 else ''}")
            run.log(f"    {key}: {len(seq)} ids ({info['n_generated']} generated, {n_ts} timestamp tokens, "
                    f"eot={info['ended_with_eot']}): {seq[:24]}")
            run.log(f"      text: {fam.decode(seq)[:200]!r}")
            if ts and n_ts == 0:
                run.warn(name, "no timestamp tokens in the timestamped generation")
    ref["generate"] = gen

    # the seek-loop (long-form style) output of transformers, for information
    def hf_default_ts():
        kwargs = {"return_timestamps": True, "max_new_tokens": HF_MAX_NEW_TOKENS, "do_sample": False, "num_beams": 1,
                  "generation_config": copy.deepcopy(gc)}
        if layout.multilingual:
            kwargs.update(language="en", task="transcribe")
        with torch.no_grad(), time_limit(run.limited(INFO_CALL_TIMEOUT_S)):
            out = model.generate(input_features=feats, **kwargs)
        seq = returned_sequence(out)
        ref["generate"]["timestamps_default_call_returned"] = seq
        run.log(f"    default (seek-loop) timestamped call returned {len(seq)} ids: {seq[:20]}")
    if run.time_left() > 120:
        try:
            hf_default_ts()
        except Exception as e:
            ref["generate"]["timestamps_default_call_error"] = f"{type(e).__name__}: {e}"
            run.log(f"    (informational default timestamped call failed: {type(e).__name__}: {e})")
    else:
        run.log("    skipping the informational default timestamped call (time budget)")

    # ---- greedy, OpenAI rules
    oa = {}
    for ts in (False, True):
        key = "tokens_timestamps_openai" if ts else "tokens_notimestamps_openai"
        prompt = [layout.sot] + ([layout.language_id("en"), layout.transcribe] if layout.multilingual else [])
        if not ts:
            prompt.append(layout.no_timestamps)

        def go(prompt=prompt, ts=ts):
            with time_limit(run.limited(GENERATE_TIMEOUT_S)):
                return openai_greedy(model, enc, prompt, layout, fam.suppress, ts)
        seq = run.step(name, f"OpenAI-rules greedy (timestamps={ts})", go)
        if seq is None:
            continue
        tensors[key] = np.array(seq, dtype=np.int32)
        hf_key = key.replace("_openai", "")
        entry = {"prompt": prompt, "n_generated": len(seq) - len(prompt), "sample_len": OPENAI_SAMPLE_LEN,
                 "ended_with_eot": seq[-1] == layout.eot}
        if hf_key in tensors:
            hf = tensors[hf_key].tolist()
            fd = first_diff_index(hf, seq)
            entry["first_difference_vs_transformers"] = fd
            n_cmp = 200 if not ts else 150
            entry[f"first_{n_cmp}_generated_equal"] = hf[len(prompt):len(prompt) + n_cmp] == seq[len(prompt):len(prompt) + n_cmp]
            run.log(f"    {key}: {len(seq)} ids; vs transformers: first difference at "
                    f"{'none' if fd is None else fd}; first {n_cmp} generated equal: {entry[f'first_{n_cmp}_generated_equal']}")
        oa[key] = entry
    ref["openai_greedy"] = oa

    # ---- teacher forcing
    def tf():
        src = None
        for k in ("tokens_notimestamps", "tokens_notimestamps_openai"):
            if k in tensors:
                src = k
                break
        if src is None:
            raise RuntimeError("no greedy sequence to teacher-force")
        ids = tensors[src].tolist()[:TF_POSITIONS]
        note = f"first {TF_POSITIONS} ids of {src}"
        if len(ids) < TF_POSITIONS:
            filler = fam.encoder.encode(" " + wt.TEST_SENTENCES[0])
            ids = (ids + filler)[:TF_POSITIONS]
            note += f" (only {len(tensors[src])} available; padded with the tokens of the JFK sentence)"
        lg = logits_for(ids)
        tensors["tf_input_ids"] = np.array(ids, dtype=np.int32)
        tensors["logits_tf"] = lg.numpy().astype(np.float32)
        am = lg.argmax(-1).tolist()
        agree = sum(1 for i in range(len(ids) - 1) if am[i] == ids[i + 1])
        ref["teacher_forcing"] = {"input_ids": ids, "source": note, "positions": len(ids),
                                  "argmax_equals_next_input": f"{agree}/{len(ids) - 1} (unsuppressed argmax)"}
        run.log(f"    logits_tf {tuple(lg.shape)} from {note}; rms {float(lg.pow(2).mean().sqrt()):.3f}")
    run.step(name, "teacher-forced logits", tf)

    ref["tensors"] = {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in tensors.items()}
    ref["generation"] = {"hf_max_new_tokens": HF_MAX_NEW_TOKENS, "openai_sample_len": OPENAI_SAMPLE_LEN,
                         "suppress_tokens": fam.suppress, "begin_suppress_tokens": [220, layout.eot],
                         "max_initial_timestamp_index": 50}
    for k in ("tokens_notimestamps", "tokens_timestamps"):
        if k in tensors:
            ref[k] = tensors[k].tolist()
            ref[k + "_text"] = fam.decode(tensors[k].tolist())
    st_io.write_safetensors(os.path.join(out_dir, "reference.safetensors"), tensors,
                            metadata={"format": "np", "fixture": name})
    back, _ = st_io.read_safetensors(os.path.join(out_dir, "reference.safetensors"))
    for k, v in tensors.items():
        if not np.array_equal(back[k], v):
            raise RuntimeError(f"reference.safetensors round trip failed for {k}")
    try:
        from safetensors.numpy import load_file

        chk = load_file(os.path.join(out_dir, "reference.safetensors"))
        if set(chk) != set(tensors):
            raise RuntimeError("safetensors package sees different keys")
        run.log("    reference.safetensors also loads with the safetensors package")
    except ImportError:
        pass
    write_json(os.path.join(out_dir, "reference.json"), ref)
    return ref


# ============================================================================================
# one fixture
# ============================================================================================
def make_fixture(run, fx, args, languages, cache, summary):
    name = fx["name"]
    out_root = args.out
    if run.time_left() < 20:
        run.error(name, "skipped: time budget exhausted")
        return
    d = os.path.join(out_root, name)
    for p in [d] + ([os.path.join(out_root, fx["sharded_copy"])] if fx.get("sharded_copy") else []):
        if os.path.exists(p):
            shutil.rmtree(p)
    os.makedirs(d)
    row = {"name": name, "family": fx["family"]}
    summary.append(row)

    fam = run.step(name, "vocabulary, token layout, suppression lists", FamilyData, run, args.assets, fx["family"], languages, cache)
    if fam is None:
        return
    layout = fam.layout
    run.log(f"    layout: {layout.as_dict()}")
    run.log(f"    non_speech_tokens ({len(fam.non_speech)}, via {fam.encoder.name}): {fam.non_speech}")
    run.log(f"    suppress_tokens ({len(fam.suppress)}): ...{fam.suppress[-8:]}")
    gen_dict = wt.generation_config_dict(layout, fam.suppress, wt.alignment_heads_for(fx["dec_layers"], fx["heads"]), N_TEXT_CTX)

    # ---- weights + HF checkpoint
    model = None
    state = None
    if args.dry_run:
        state = numpy_random_state(fx, layout.n_vocab)
        st_io.write_safetensors(os.path.join(d, "model.safetensors"), {k: v.astype(np.float16) for k, v in state.items()},
                                metadata={"format": "pt"})
        write_config_json_numpy(os.path.join(d, "config.json"), fx, layout, fam.suppress)
        write_json(os.path.join(d, "generation_config.json"), gen_dict)
        run.step(name, "check model.safetensors", check_model_safetensors, run, fx, os.path.join(d, "model.safetensors"), state)
    else:
        model = run.step(name, "build random model", build_torch_model, run, fx, layout)
        if model is None:
            return
        full_state = torch_state_numpy(model)
        state = {k: v for k, v in full_state.items() if k != "proj_out.weight"}
        exp_shapes = hf_param_shapes(fx, layout.n_vocab)
        diff = sorted(set(exp_shapes) ^ set(state))
        if diff:
            run.warn(name, f"state dict names differ from the expected HF layout: {diff[:10]}")
        wrong = [k for k in exp_shapes if k in state and tuple(state[k].shape) != tuple(exp_shapes[k])]
        if wrong:
            run.error(name, f"state dict shapes differ from the expected HF layout: {wrong[:10]}")
        ok = run.step(name, "save_pretrained (fp16 safetensors)", save_hf_checkpoint_torch, run, fx, model, d, state)
        write_json(os.path.join(d, "generation_config.json"), gen_dict)
        if os.path.exists(os.path.join(d, "config.json")):
            run.step(name, "patch config.json suppress lists", patch_config_json, run, fx, os.path.join(d, "config.json"), layout, fam.suppress)
        if ok or os.path.exists(os.path.join(d, "model.safetensors")):
            run.step(name, "reload with from_pretrained and compare", reload_check_torch, run, fx, d, full_state)

    # ---- tokenizer files
    tok_dirs = [d]
    tok_info = run.step(name, "tokenizer files", make_tokenizer_files, run, fx, fam, tok_dirs, args.dry_run)
    tok_check = None
    if fx["tokenizer"]:
        tok_check = run.step(name, "tokenizer check vs tiktoken", verify_tokenizer_files, run, fx, fam, d, args.dry_run)

    # ---- sharded copy (after tokenizer files so they are copied along)
    if fx.get("sharded_copy") and os.path.exists(os.path.join(d, "model.safetensors")):
        sd = os.path.join(out_root, fx["sharded_copy"])
        run.step(fx["sharded_copy"], "write 2-shard copy", write_sharded_copy, run, fx, d, sd)
        if not args.dry_run and os.path.exists(os.path.join(sd, "model.safetensors.index.json")):
            run.step(fx["sharded_copy"], "reload sharded with from_pretrained and compare", reload_check_torch,
                     run, fx, sd, torch_state_numpy(model) if model is not None else state)

    # ---- ggml
    ggml_info = run.step(name, "ggml files", write_ggml_files, run, fx, fam, state, args.assets, out_root)

    # ---- reference outputs
    ref = None
    if not args.dry_run and model is not None and run.time_left() < 45:
        run.error(name, "reference outputs skipped: time budget exhausted")
    elif not args.dry_run and model is not None:
        def gen_config():
            from transformers import GenerationConfig

            try:
                gc = GenerationConfig.from_pretrained(d)
            except Exception as e:
                run.warn(name, f"GenerationConfig.from_pretrained failed ({e}); building it from the dict")
                gc = GenerationConfig(**gen_dict)
            missing = [k for k in gen_dict if getattr(gc, k, None) is None and gen_dict[k] is not None]
            for k in missing:
                setattr(gc, k, copy.deepcopy(gen_dict[k]))
            if missing:
                run.warn(name, f"GenerationConfig lacked {missing}; set them as attributes")
            return gc
        gc = run.step(name, "load generation_config.json", gen_config)
        if gc is not None:
            model.generation_config = copy.deepcopy(gc)
            ref = run.step(name, "reference outputs on jfk.wav", make_reference, run, fx, fam, model, gc, args.assets, d)
            if ref is not None:
                ref.setdefault("tokenizer_check", tok_check)
                ref["tokenizer_files"] = tok_info
                ref["ggml"] = ggml_info
                write_json(os.path.join(d, "reference.json"), ref)
    elif args.dry_run:
        write_json(os.path.join(d, "reference.json"), {"fixture": name, "dry_run": True, "token_layout": layout.as_dict(),
                                                       "tokenizer_check": tok_check, "tokenizer_files": tok_info, "ggml": ggml_info})

    row.update({
        "d_model": fx["d_model"], "n_mels": fx["n_mels"],
        "language": (ref or {}).get("language", {}).get("detected", "-" if not layout.multilingual else "?"),
        "no_speech_prob": (ref or {}).get("no_speech_prob"),
        "tok_nots": (ref or {}).get("tokens_notimestamps", [])[:20],
        "tok_ts": (ref or {}).get("tokens_timestamps", [])[:20],
        "openai_agree": {k: v.get("first_difference_vs_transformers", "n/a") for k, v in (ref or {}).get("openai_greedy", {}).items()},
        "tokenizer_checks": (tok_check or {}).get("checks"),
    })
    del model


# ============================================================================================
def dir_size(p):
    if os.path.isfile(p):
        return os.path.getsize(p)
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(p) for f in fs)


def write_manifest(run, args, out_root, t_start):
    files = []
    for rel in sorted(packing.list_files(out_root)):
        if rel == "manifest.json":
            continue
        p = os.path.join(out_root, rel)
        files.append({"path": rel, "bytes": os.path.getsize(p), "sha256": packing.sha256_of(p)})
    m = {"generator": "tools/reference/make_fixtures.py", "argv": sys.argv, "versions": versions(),
         "seconds": round(time.time() - t_start, 1), "dry_run": bool(args.dry_run),
         "fixtures": [f["name"] for f in FIXTURES if f["name"] in args.fixtures] +
                     [f["sharded_copy"] for f in FIXTURES if f.get("sharded_copy") and f["name"] in args.fixtures],
         "errors": run.errors, "warnings": run.warnings, "files": files}
    write_json(os.path.join(out_root, "manifest.json"), m)
    return m


def print_summary(run, summary, out_root):
    print("\n" + "=" * 100)
    print("SUMMARY")
    print("=" * 100)
    for r in summary:
        print(f"{r['name']}  (family {r['family']}, d_model {r.get('d_model')}, n_mels {r.get('n_mels')})")
        print(f"  detected language : {r.get('language')}")
        ns = r.get("no_speech_prob")
        print(f"  no_speech_prob    : {'-' if ns is None else f'{ns:.6g}'}")
        print(f"  tokens (no ts)    : {r.get('tok_nots')}")
        print(f"  tokens (ts)       : {r.get('tok_ts')}")
        print(f"  OpenAI-rules greedy first difference vs transformers: {r.get('openai_agree')}")
        print(f"  tokenizer checks  : {r.get('tokenizer_checks')}")
    print("-" * 100)
    print("files:")
    for name in sorted(os.listdir(out_root)):
        p = os.path.join(out_root, name)
        print(f"  {name:45s} {dir_size(p) / 1e6:8.2f} MB")
        if os.path.isdir(p):
            for fn in sorted(os.listdir(p)):
                print(f"      {fn:41s} {os.path.getsize(os.path.join(p, fn)) / 1e6:8.3f} MB")
    print(f"total: {dir_size(out_root) / 1e6:.2f} MB")
    print("-" * 100)
    print(f"errors: {len(run.errors)}")
    for e in run.errors:
        print(f"  ERROR   [{e['fixture']}] {e['step']}: {e['error']}")
    print(f"warnings: {len(run.warnings)}")
    for w in run.warnings:
        print(f"  WARNING [{w['fixture']}] {w['warning']}")
    print("=" * 100, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", required=True, help="folder with multilingual.tiktoken, gpt2.tiktoken, mel_filters.npz, jfk.wav, languages.tsv")
    ap.add_argument("--out", required=True, help="output folder (fixture folders + ggml files + manifest.json)")
    ap.add_argument("--tar", help="also pack --out into this archive (.tar.xz recommended, .tar.gz, .tar)")
    ap.add_argument("--split-mb", type=float, default=15.0, help="split the archive into parts of at most this many MB (1e6 bytes); 0 = never (default 15)")
    ap.add_argument("--max-archive-mb", type=float, default=58.0,
                    help="a .tar.gz larger than this is re-packed as .tar.xz (default 58)")
    ap.add_argument("--delete-out-after-tar", action="store_true", help="remove --out once the archive is written")
    ap.add_argument("--keep-out", action="store_true",
                    help="keep --out after packing even when it lies under $OUT (by default it is removed then)")
    ap.add_argument("--fixtures", default=",".join(f["name"] for f in FIXTURES), help="comma-separated subset")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--time-budget", type=float, default=420.0,
                    help="seconds for making fixtures; past it, remaining steps are skipped (reported as errors) so the "
                         "archive still gets written (default 420; 0 = none)")
    ap.add_argument("--dry-run", action="store_true", help="numpy weights, no torch/transformers: every file but the references")
    args = ap.parse_args()
    args.fixtures = [s.strip() for s in args.fixtures.split(",") if s.strip()]
    unknown = [s for s in args.fixtures if s not in {f["name"] for f in FIXTURES}]
    if unknown:
        ap.error(f"unknown fixtures {unknown}")

    run = Run(budget_s=args.time_budget)
    t_start = time.time()
    run.log(f"make_fixtures.py: assets={args.assets} out={args.out} tar={args.tar} dry_run={args.dry_run}")
    run.log(f"versions: {versions()}")
    missing = [a for a in REQUIRED_ASSETS if not os.path.isfile(os.path.join(args.assets, a))]
    if missing:
        run.error("-", f"missing assets in {args.assets}: {missing}")
        print_summary(run, [], args.out if os.path.isdir(args.out) else ".")
        return 1
    for a in REQUIRED_ASSETS:
        p = os.path.join(args.assets, a)
        run.log(f"  asset {a}: {os.path.getsize(p)} bytes, sha256 {wt.file_sha256(p)[:16]}...")
    languages = wt.load_languages(os.path.join(args.assets, "languages.tsv"))

    if not args.dry_run:
        try:
            import torch

            torch.set_num_threads(max(1, min(args.threads, os.cpu_count() or 1)))
            torch.use_deterministic_algorithms(True, warn_only=True)
            run.log(f"torch {torch.__version__}: {torch.get_num_threads()} threads, deterministic algorithms on")
            import transformers

            transformers.logging.set_verbosity_warning()
            match = wt.tsv_language_codes_match_hf(languages)
            run.log(f"transformers {transformers.__version__}; languages.tsv order == transformers LANGUAGES: {match}")
            if match is False:
                run.warn("-", "languages.tsv order differs from transformers' LANGUAGES")
        except Exception as e:
            run.error("-", f"cannot import torch/transformers: {type(e).__name__}: {e}")
            traceback.print_exc()
            print_summary(run, [], ".")
            return 1

    os.makedirs(args.out, exist_ok=True)
    for fn in os.listdir(args.out):  # idempotent: drop what an earlier run of ours wrote
        if fn.endswith((".ggml-f16.bin", ".ggml-f32.bin")) or fn == "manifest.json":
            os.remove(os.path.join(args.out, fn))
    cache = {}
    summary = []
    for fx in FIXTURES:
        if fx["name"] not in args.fixtures:
            continue
        run.log("=" * 80)
        run.log(f"FIXTURE {fx['name']}")
        try:
            make_fixture(run, fx, args, languages, cache, summary)
        except Exception as e:
            run.errors.append({"fixture": fx["name"], "step": "make_fixture", "error": f"{type(e).__name__}: {e}"})
            traceback.print_exc()
    write_manifest(run, args, args.out, t_start)
    print_summary(run, summary, args.out)

    if args.tar:
        try:
            size = packing.pack(args.out, args.tar, arcname_root="fixtures", log=run.log)
            if size > args.max_archive_mb * 1e6 and not args.tar.lower().endswith((".tar.xz", ".txz")):
                xz_path = re.sub(r"(\.tar\.gz|\.tgz|\.tar)$", "", args.tar) + ".tar.xz"
                run.warn("-", f"{args.tar} is {size / 1e6:.1f} MB (> {args.max_archive_mb} MB): too much to come back from "
                              f"the GPU machine; writing {xz_path} instead (xz dedupes the repeated weights)")
                os.remove(args.tar)
                args.tar = xz_path
                size = packing.pack(args.out, args.tar, arcname_root="fixtures", log=run.log)
            digest = packing.sha256_of(args.tar)
            run.log(f"archive sha256 {digest}")
            parts = [args.tar]
            if args.split_mb and args.split_mb > 0:
                parts = packing.split_file(args.tar, int(args.split_mb * 1e6), log=run.log)
            if len(parts) > 1:
                run.log(f"reassemble with: cat {args.tar}.part-* > {args.tar} && sha256sum {args.tar}  # {digest}")
            with open(args.tar + ".sha256", "w") as f:
                f.write(f"{digest}  {os.path.basename(args.tar)}\n")
            if size > args.max_archive_mb * 1e6:
                run.warn("-", f"archive is {size / 1e6:.1f} MB: more than the {args.max_archive_mb} MB that can come back "
                              f"from the GPU machine with margin")
            env_out = os.environ.get("OUT")
            under_out = bool(env_out) and os.path.abspath(args.out).startswith(os.path.abspath(env_out) + os.sep)
            if args.delete_out_after_tar or (under_out and not args.keep_out):
                shutil.rmtree(args.out)
                why = "" if args.delete_out_after_tar else (
                    " because it lies under $OUT, from which only a few files come back (the archive holds it all; "
                    "--keep-out keeps it)")
                run.log(f"removed {args.out}{why}")
        except Exception as e:
            run.errors.append({"fixture": "-", "step": "pack", "error": f"{type(e).__name__}: {e}"})
            traceback.print_exc()

    run.log(f"finished in {time.time() - t_start:.1f}s with {len(run.errors)} error(s), {len(run.warnings)} warning(s)")
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
