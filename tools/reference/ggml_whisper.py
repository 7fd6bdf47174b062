"""whisper.cpp's legacy ggml model file (the `ggml-*.bin` files), written and read with numpy.

Layout (facts from whisper.cpp models/convert-pt-to-ggml.py and convert-h5-to-ggml.py):
  int32 magic 0x67676d6c
  int32 x 11 hparams: n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
                      n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype
  mel filters: int32 n_mel, int32 n_fft (201), float32[n_mel * n_fft] row-major
  vocabulary:  int32 count (the base BPE tokens only), then per token int32 len + bytes, by rank
  tensors until EOF: int32 n_dims, int32 name_len, int32 type (0 f32, 1 f16),
                     int32 dims[n_dims] innermost first (= numpy shape reversed), name, raw data
Matrices (n_dims >= 2, conv weights included) are f16 when ftype == 1; 1-D tensors, the conv
biases (stored as [n, 1]) and both positional embeddings are always f32.
All integers little-endian ("i" in struct on x86).
"""

import struct

import numpy as np

GGML_MAGIC = 0x67676D6C
HPARAM_NAMES = (
    "n_vocab",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
    "n_mels",
    "ftype",
)
TYPE_F32 = 0
TYPE_F16 = 1
_F32_ALWAYS = {
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
}


# --------------------------------------------------------------------------------------------
# HF (transformers) names -> OpenAI names
# --------------------------------------------------------------------------------------------
_LAYER_MAP = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}
_TOP_MAP = {
    "encoder.conv1.weight": "encoder.conv1.weight",
    "encoder.conv1.bias": "encoder.conv1.bias",
    "encoder.conv2.weight": "encoder.conv2.weight",
    "encoder.conv2.bias": "encoder.conv2.bias",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "encoder.layer_norm.weight": "encoder.ln_post.weight",
    "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.layer_norm.weight": "decoder.ln.weight",
    "decoder.layer_norm.bias": "decoder.ln.bias",
}


def hf_to_openai_name(hf_name):
    """'model.encoder.layers.0.self_attn.q_proj.weight' -> 'encoder.blocks.0.attn.query.weight'.
    Returns None for names that have no OpenAI counterpart (proj_out.weight: tied)."""
    name = hf_name[len("model.") :] if hf_name.startswith("model.") else hf_name
    if name in ("proj_out.weight",):
        return None
    if name in _TOP_MAP:
        return _TOP_MAP[name]
    parts = name.split(".")
    # {encoder,decoder}.layers.N.<module path>.{weight,bias}
    if len(parts) >= 5 and parts[1] == "layers" and parts[0] in ("encoder", "decoder"):
        mod = ".".join(parts[3:-1])
        if mod not in _LAYER_MAP:
            raise KeyError(f"unknown HF layer module {mod!r} in {hf_name!r}")
        return f"{parts[0]}.blocks.{parts[2]}.{_LAYER_MAP[mod]}.{parts[-1]}"
    raise KeyError(f"cannot map HF tensor name {hf_name!r} to an OpenAI name")


def openai_tensor_order(n_audio_layer, n_text_layer):
    """Tensor names in the order of OpenAI's Whisper state_dict (what convert-pt-to-ggml writes)."""
    names = ["encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
             "encoder.conv2.weight", "encoder.conv2.bias"]

    def block(prefix, cross):
        out = []
        for m, has_bias in (("query", True), ("key", False), ("value", True), ("out", True)):
            out.append(f"{prefix}.attn.{m}.weight")
            if has_bias:
                out.append(f"{prefix}.attn.{m}.bias")
        out += [f"{prefix}.attn_ln.weight", f"{prefix}.attn_ln.bias"]
        if cross:
            for m, has_bias in (("query", True), ("key", False), ("value", True), ("out", True)):
                out.append(f"{prefix}.cross_attn.{m}.weight")
                if has_bias:
                    out.append(f"{prefix}.cross_attn.{m}.bias")
            out += [f"{prefix}.cross_attn_ln.weight", f"{prefix}.cross_attn_ln.bias"]
        out += [f"{prefix}.mlp.0.weight", f"{prefix}.mlp.0.bias", f"{prefix}.mlp.2.weight",
                f"{prefix}.mlp.2.bias", f"{prefix}.mlp_ln.weight", f"{prefix}.mlp_ln.bias"]
        return out

    for i in range(n_audio_layer):
        names += block(f"encoder.blocks.{i}", False)
    names += ["encoder.ln_post.weight", "encoder.ln_post.bias"]
    names += ["decoder.positional_embedding", "decoder.token_embedding.weight"]
    for i in range(n_text_layer):
        names += block(f"decoder.blocks.{i}", True)
    names += ["decoder.ln.weight", "decoder.ln.bias"]
    return names


def hf_state_to_openai(hf_state, n_audio_layer, n_text_layer):
    """{hf_name: array} -> ordered {openai_name: array}. Raises if anything is missing or extra."""
    mapped = {}
    for k, v in hf_state.items():
        o = hf_to_openai_name(k)
        if o is None:
            continue
        if o in mapped:
            raise KeyError(f"two HF tensors map to {o}")
        mapped[o] = v
    order = openai_tensor_order(n_audio_layer, n_text_layer)
    missing = [n for n in order if n not in mapped]
    extra = [n for n in mapped if n not in set(order)]
    if missing or extra:
        raise KeyError(f"HF->OpenAI mapping mismatch: missing={missing[:10]} extra={extra[:10]}")
    return {n: mapped[n] for n in order}


# --------------------------------------------------------------------------------------------
# writer / reader
# --------------------------------------------------------------------------------------------
def tensor_type_for(name, n_dims, ftype):
    if ftype == TYPE_F32:
        return TYPE_F32
    if ftype != TYPE_F16:
        raise ValueError(f"only ftype 0 (f32) and 1 (f16) are written here, got {ftype}")
    if n_dims < 2 or name in _F32_ALWAYS:
        return TYPE_F32
    return TYPE_F16


def write_ggml(path, hparams, mel_filters, vocab_bytes, openai_state, ftype):
    """hparams: dict with HPARAM_NAMES except ftype; mel_filters: [n_mel, 201] float32;
    vocab_bytes: list of bytes by rank; openai_state: ordered {openai_name: np.ndarray}
    (float32 or float16 values). Returns list of (name, type, dims) written."""
    hp = dict(hparams)
    hp["ftype"] = int(ftype)
    filters = np.ascontiguousarray(np.asarray(mel_filters, dtype=np.float32))
    if filters.ndim != 2:
        raise ValueError("mel filters must be 2-D [n_mel, n_fft]")
    written = []
    with open(path, "wb") as f:
        f.write(struct.pack("<i", GGML_MAGIC))
        for k in HPARAM_NAMES:
            f.write(struct.pack("<i", int(hp[k])))
        f.write(struct.pack("<ii", filters.shape[0], filters.shape[1]))
        f.write(filters.astype("<f4").tobytes())
        f.write(struct.pack("<i", len(vocab_bytes)))
        for tok in vocab_bytes:
            f.write(struct.pack("<i", len(tok)))
            f.write(tok)
        for name, arr in openai_state.items():
            data = np.asarray(arr)
            if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
                data = data.reshape(data.shape[0], 1)
            n_dims = data.ndim
            ttype = tensor_type_for(name, n_dims, ftype)
            data = data.astype("<f2" if ttype == TYPE_F16 else "<f4")
            nb = name.encode("utf-8")
            f.write(struct.pack("<iii", n_dims, len(nb), ttype))
            dims = [data.shape[n_dims - 1 - i] for i in range(n_dims)]
            for d in dims:
                f.write(struct.pack("<i", d))
            f.write(nb)
            f.write(np.ascontiguousarray(data).tobytes())
            written.append((name, ttype, dims))
    return written


class GgmlFile:
    def __init__(self):
        self.hparams = {}
        self.mel_filters = None
        self.vocab = []
        self.tensors = {}  # name -> (type, dims innermost-first, np.ndarray in numpy (reversed) shape)


def read_ggml(path):
    g = GgmlFile()
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(buf):
            raise ValueError(f"{path}: truncated at byte {pos} reading {fmt}")
        vals = struct.unpack_from(fmt, buf, pos)
        pos += size
        return vals

    (magic,) = take("<i")
    if magic != GGML_MAGIC:
        raise ValueError(f"{path}: bad magic {magic:#x}")
    vals = take("<" + "i" * len(HPARAM_NAMES))
    g.hparams = dict(zip(HPARAM_NAMES, vals))
    n_mel, n_fft = take("<ii")
    nbytes = n_mel * n_fft * 4
    g.mel_filters = np.frombuffer(buf, dtype="<f4", count=n_mel * n_fft, offset=pos).reshape(n_mel, n_fft)
    pos += nbytes
    (count,) = take("<i")
    for _ in range(count):
        (ln,) = take("<i")
        g.vocab.append(bytes(buf[pos : pos + ln]))
        pos += ln
    while pos < len(buf):
        n_dims, name_len, ttype = take("<iii")
        dims = list(take("<" + "i" * n_dims))
        name = buf[pos : pos + name_len].decode("utf-8")
        pos += name_len
        if ttype == TYPE_F32:
            dt, es = "<f4", 4
        elif ttype == TYPE_F16:
            dt, es = "<f2", 2
        else:
            raise ValueError(f"{path}: tensor {name} has type {ttype}; this reader handles f32/f16 only")
        n = int(np.prod(dims)) if dims else 1
        arr = np.frombuffer(buf, dtype=dt, count=n, offset=pos).reshape(list(reversed(dims)))
        pos += n * es
        g.tensors[name] = (ttype, dims, arr)
    return g


def verify_ggml(path, hparams, mel_filters, vocab_bytes, openai_state, ftype):
    """Reads `path` back and compares everything with what was meant to be written.
    Returns a list of problems (empty when the round trip is exact)."""
    problems = []
    g = read_ggml(path)
    for k in HPARAM_NAMES:
        want = int(ftype) if k == "ftype" else int(hparams[k])
        if g.hparams[k] != want:
            problems.append(f"hparam {k}: file {g.hparams[k]} != {want}")
    mf = np.asarray(mel_filters, dtype=np.float32)
    if g.mel_filters.shape != mf.shape or not np.array_equal(g.mel_filters, mf):
        problems.append("mel filters differ")
    if g.vocab != list(vocab_bytes):
        problems.append(f"vocab differs (file {len(g.vocab)} tokens, expected {len(vocab_bytes)})")
    if list(g.tensors) != list(openai_state):
        problems.append("tensor names/order differ")
    for name, arr in openai_state.items():
        if name not in g.tensors:
            problems.append(f"missing tensor {name}")
            continue
        ttype, dims, got = g.tensors[name]
        want = np.asarray(arr)
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            want = want.reshape(want.shape[0], 1)
        exp_type = tensor_type_for(name, want.ndim, ftype)
        if ttype != exp_type:
            problems.append(f"{name}: type {ttype} != expected {exp_type}")
        if list(got.shape) != list(want.shape):
            problems.append(f"{name}: shape {got.shape} != {want.shape}")
            continue
        if ttype == TYPE_F16:
            ok = np.array_equal(got.astype(np.float32), want.astype(np.float16).astype(np.float32))
            exact_src = np.array_equal(want.astype(np.float16).astype(np.float32), want.astype(np.float32))
            if not exact_src:
                problems.append(f"{name}: source values are not exactly representable in f16")
        else:
            ok = np.array_equal(got, want.astype(np.float32))
        if not ok:
            problems.append(f"{name}: data differs")
    return problems
