"""A stand-in for the few pieces of `transformers` that make_fixtures.py uses, for testing the
script's torch path where transformers is not installed (selftest.py --mock-torch).

The model is a real (small) Whisper forward pass with HF's parameter names; generate() is a plain
greedy loop with begin-suppress, suppress and a minimal timestamp rule. It is not transformers:
it only lets every line of make_fixtures.py run. FAKE_HF_MODE=legacy makes generate() reject
force_unique_generate_call and return generated ids only (no prompt, no EOT), like the seek path.
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

__version__ = "0.0-mock"

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.abspath(os.path.join(_HERE, "..", "..")))
import st_io  # noqa: E402
import whisper_tokens as _wt  # noqa: E402


class _Logging:
    @staticmethod
    def set_verbosity_warning():
        pass

    @staticmethod
    def set_verbosity_error():
        pass


logging = _Logging()


class _Out(dict):
    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError as e:
            raise AttributeError(k) from e


class WhisperConfig:
    def __init__(self, **kw):
        self.vocab_size = 51865
        self.num_mel_bins = 80
        self.d_model = 384
        self.encoder_layers = self.decoder_layers = 4
        self.encoder_attention_heads = self.decoder_attention_heads = 6
        self.encoder_ffn_dim = self.decoder_ffn_dim = 1536
        self.max_source_positions = 1500
        self.max_target_positions = 448
        self.begin_suppress_tokens = [220, 50256]
        self.suppress_tokens = None
        self.__dict__.update(kw)
        self._attn_implementation = "eager"

    def to_dict(self):
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        d["model_type"] = "whisper"
        return d


class GenerationConfig:
    def __init__(self, **kw):
        self.max_length = 20
        self.decoder_start_token_id = None
        self.__dict__.update(kw)

    @classmethod
    def from_pretrained(cls, d):
        with open(os.path.join(d, "generation_config.json")) as f:
            return cls(**json.load(f))


class LogitsProcessor:
    def __call__(self, input_ids, scores):
        raise NotImplementedError


class LogitsProcessorList(list):
    def __call__(self, input_ids, scores):
        for p in self:
            scores = p(input_ids, scores)
        return scores


class _Attn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x, kv=None, causal=False):
        kv = x if kv is None else kv
        b, n, d = x.shape
        m = kv.shape[1]
        hd = d // self.h
        q = self.q_proj(x).view(b, n, self.h, hd).transpose(1, 2) * hd ** -0.5
        k = self.k_proj(kv).view(b, m, self.h, hd).transpose(1, 2)
        v = self.v_proj(kv).view(b, m, self.h, hd).transpose(1, 2)
        a = q @ k.transpose(-1, -2)
        if causal:
            a = a + torch.full((n, m), float("-inf")).triu(1)
        o = (a.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        return self.out_proj(o)


class _Layer(nn.Module):
    def __init__(self, d, h, f, cross):
        super().__init__()
        self.self_attn = _Attn(d, h)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        if cross:
            self.encoder_attn = _Attn(d, h)
            self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, f)
        self.fc2 = nn.Linear(f, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.cross = cross

    def forward(self, x, enc=None):
        x = x + self.self_attn(self.self_attn_layer_norm(x), causal=self.cross)
        if self.cross:
            x = x + self.encoder_attn(self.encoder_attn_layer_norm(x), kv=enc)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class _Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.d_model
        self.conv1 = nn.Conv1d(c.num_mel_bins, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(c.max_source_positions, d)
        self.layers = nn.ModuleList(_Layer(d, c.encoder_attention_heads, c.encoder_ffn_dim, False) for _ in range(c.encoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_features=None, **kw):
        x = F.gelu(self.conv2(F.gelu(self.conv1(input_features)))).transpose(1, 2)
        x = x + self.embed_positions.weight[: x.shape[1]]
        for lyr in self.layers:
            x = lyr(x)
        return _Out(last_hidden_state=self.layer_norm(x))


class _Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c.d_model
        self.embed_tokens = nn.Embedding(c.vocab_size, d)
        self.embed_positions = nn.Embedding(c.max_target_positions, d)
        self.layers = nn.ModuleList(_Layer(d, c.decoder_attention_heads, c.decoder_ffn_dim, True) for _ in range(c.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    def forward(self, input_ids=None, encoder_hidden_states=None, use_cache=None, **kw):
        x = self.embed_tokens(input_ids) + self.embed_positions.weight[: input_ids.shape[1]]
        for lyr in self.layers:
            x = lyr(x, encoder_hidden_states)
        return _Out(last_hidden_state=self.layer_norm(x))


class _Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = _Encoder(c)
        self.decoder = _Decoder(c)


class WhisperForConditionalGeneration(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = _Model(config)
        self.proj_out = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.proj_out.weight = self.model.decoder.embed_tokens.weight
        self.generation_config = GenerationConfig()

    def get_encoder(self):
        return self.model.encoder

    def get_decoder(self):
        return self.model.decoder

    def get_output_embeddings(self):
        return self.proj_out

    def tie_weights(self):
        self.proj_out.weight = self.model.decoder.embed_tokens.weight

    def forward(self, input_features=None, decoder_input_ids=None, encoder_outputs=None, use_cache=None, **kw):
        enc = encoder_outputs[0] if encoder_outputs is not None else self.model.encoder(input_features).last_hidden_state
        h = self.model.decoder(input_ids=decoder_input_ids, encoder_hidden_states=enc).last_hidden_state
        return _Out(logits=self.proj_out(h))

    def save_pretrained(self, d, safe_serialization=True, **kw):
        os.makedirs(d, exist_ok=True)
        cfg = self.config.to_dict()
        cfg["begin_suppress_tokens"] = None  # like transformers "moving" generation params
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        sd = {k: v.detach().cpu().numpy() for k, v in self.state_dict().items() if k != "proj_out.weight"}
        st_io.write_safetensors(os.path.join(d, "model.safetensors"), sd, metadata={"format": "pt"})
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"decoder_start_token_id": 1}, f)

    @classmethod
    def from_pretrained(cls, d, dtype=None, torch_dtype=None, **kw):
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        cfg.pop("model_type", None)
        m = cls(WhisperConfig(**cfg))
        if os.path.exists(os.path.join(d, "model.safetensors")):
            t, _ = st_io.read_safetensors(os.path.join(d, "model.safetensors"))
        else:
            with open(os.path.join(d, "model.safetensors.index.json")) as f:
                idx = json.load(f)
            t = {}
            for shard in sorted(set(idx["weight_map"].values())):
                t.update(st_io.read_safetensors(os.path.join(d, shard))[0])
        sd = {k: torch.from_numpy(v.astype("float32")) for k, v in t.items()}
        missing, unexpected = m.load_state_dict(sd, strict=False)
        if unexpected or [k for k in missing if k != "proj_out.weight"]:
            raise RuntimeError(f"load: missing {missing} unexpected {unexpected}")
        m.tie_weights()
        return m

    def detect_language(self, input_features=None, generation_config=None, **kw):
        gc = generation_config
        ids = sorted(gc.lang_to_id.values())
        lg = self(input_features=input_features, decoder_input_ids=torch.tensor([[gc.decoder_start_token_id]])).logits[0, 0]
        return torch.tensor([ids[int(lg[ids].argmax())]])

    def generate(self, input_features=None, generation_config=None, logits_processor=None, return_timestamps=False,
                 language=None, task=None, max_new_tokens=100, do_sample=False, num_beams=1,
                 force_unique_generate_call=None, **kw):
        legacy = os.environ.get("FAKE_HF_MODE") == "legacy"
        if legacy and force_unique_generate_call is not None:
            raise ValueError("The following `model_kwargs` are not used by the model: ['force_unique_generate_call']")
        gc = generation_config or self.generation_config
        prompt = [gc.decoder_start_token_id]
        if language is not None:
            prompt.append(gc.lang_to_id[f"<|{language}|>"])
        if task is not None:
            prompt.append(gc.task_to_id[task])
        if not return_timestamps:
            prompt.append(gc.no_timestamps_token_id)
        eot = gc.eos_token_id
        enc = self.model.encoder(input_features).last_hidden_state
        windows = 2 if (legacy and return_timestamps) else 1  # legacy: emulate the seek loop's 2nd window
        all_gen = []
        for _w in range(windows):
            ids = self._greedy(enc, prompt, gc, logits_processor, return_timestamps, max_new_tokens)
            all_gen += ids[len(prompt):]
        if legacy:
            gen = [t for t in all_gen if t != eot]
            return torch.tensor([gen])
        return torch.tensor([ids])

    def _greedy(self, enc, prompt, gc, logits_processor, return_timestamps, max_new_tokens):
        tb = gc.no_timestamps_token_id + 1
        eot = gc.eos_token_id
        ids = list(prompt)
        with torch.no_grad():
            for step in range(max_new_tokens):
                logits = self(encoder_outputs=(enc,), decoder_input_ids=torch.tensor([ids])).logits[:, -1].clone()
                if step == 0:
                    logits[:, gc.begin_suppress_tokens] = float("-inf")
                logits[:, gc.suppress_tokens] = float("-inf")
                if return_timestamps:
                    logits[:, gc.no_timestamps_token_id] = float("-inf")
                    if step == 0:
                        logits[:, :tb] = float("-inf")
                        logits[:, tb + gc.max_initial_timestamp_index + 1:] = float("-inf")
                if logits_processor is not None:
                    logits = logits_processor(torch.tensor([ids]), logits)
                nxt = int(logits[0].argmax())
                ids.append(nxt)
                if nxt == eot:
                    break
        return ids


class WhisperFeatureExtractor:
    def __init__(self, feature_size=80, **kw):
        self.feature_size = feature_size
        self.sampling_rate = 16000
        self.hop_length = 160
        self.n_fft = 400

    def __call__(self, audio, sampling_rate=16000, return_tensors=None):
        import numpy as np

        import logmel

        f = logmel.load_mel_filters(os.environ["FAKE_HF_ASSETS"] + "/mel_filters.npz", self.feature_size)
        x = np.concatenate([np.asarray(audio, np.float64), np.zeros(480000 - len(audio))])
        m = logmel.log_mel_openai(x, f, pad_samples=0)[:, :3000].astype(np.float32)
        return {"input_features": m[None]}


class WhisperTokenizer:
    """v4-like slow tokenizer: WhisperTokenizer(vocab_file, merges_file)."""

    def __init__(self, vocab_file, merges_file, **kw):
        with open(vocab_file, encoding="utf-8") as f:
            self.vocab = json.load(f)
        with open(merges_file, encoding="utf-8") as f:
            self.merges = [ln for ln in f.read().split("\n")[1:] if ln]
        self.enc = _wt.HFFileEncoder(self.vocab, self.merges)
        self.added = {}
        self.special = set()
        self.add_tokens(["<|endoftext|>"], special_tokens=True)

    def add_tokens(self, toks, special_tokens=False):
        for t in toks:
            if t not in self.vocab and t not in self.added:
                self.added[t] = len(self.vocab) + len(self.added)
                if special_tokens:
                    self.special.add(t)

    def convert_tokens_to_ids(self, t):
        return self.added.get(t, self.vocab.get(t))

    def encode(self, s, add_special_tokens=True):
        return self.enc.encode(s)

    def decode(self, ids):
        inv = {v: k for k, v in self.vocab.items()}
        bd = {v: k for k, v in _wt.bytes_to_unicode().items()}
        return bytes(bd[c] for i in ids for c in inv[i]).decode("utf-8", errors="replace")

    def save_pretrained(self, d, legacy_format=None, **kw):
        os.makedirs(d, exist_ok=True)
        _wt.write_vocab_json(os.path.join(d, "vocab.json"), self.vocab)
        _wt.write_merges_txt(os.path.join(d, "merges.txt"), self.merges)
        with open(os.path.join(d, "added_tokens.json"), "w", encoding="utf-8") as f:
            json.dump(self.added, f, indent=2, sort_keys=True, ensure_ascii=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "WhisperTokenizer", "mock": True}, f)

    @classmethod
    def from_pretrained(cls, d):
        t = cls(os.path.join(d, "vocab.json"), os.path.join(d, "merges.txt"))
        p = os.path.join(d, "added_tokens.json")
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                t.added.update(json.load(f))
        return t


class AutoTokenizer:
    @staticmethod
    def from_pretrained(d):
        if os.path.exists(os.path.join(d, "vocab.json")):
            return WhisperTokenizer.from_pretrained(d)
        raise OSError("mock AutoTokenizer reads vocab.json + merges.txt only")
