"""Whisper's token layout, tiktoken vocabularies, OpenAI's suppression lists, the HF tokenizer
files (vocab.json / merges.txt / added_tokens.json / tokenizer.json) and generation_config.json.

Pure Python + the `regex` module; `tiktoken` is used when installed (the GPU machine has it),
otherwise a small byte-level BPE encoder of our own gives the same ids (tiktoken's algorithm:
split with GPT-2's pattern, then merge the adjacent pair whose concatenation has the lowest rank).
"""

import base64
import json
import os

# GPT-2 / Whisper pre-tokenizer pattern (openai/whisper tokenizer.py get_encoding).
PAT_STR = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

N_TIMESTAMPS = 1501  # <|0.00|> ... <|30.00|>

FAMILIES = {
    # English-only (*.en): gpt2.tiktoken, 99 (unused) language slots
    "en": {"tiktoken": "gpt2.tiktoken", "n_vocab": 51864, "n_languages": 99, "multilingual": False},
    # v1/v2 multilingual
    "v2": {"tiktoken": "multilingual.tiktoken", "n_vocab": 51865, "n_languages": 99, "multilingual": True},
    # v3 / v3-turbo
    "v3": {"tiktoken": "multilingual.tiktoken", "n_vocab": 51866, "n_languages": 100, "multilingual": True},
}

# ORACLE.md's table, used as an assertion on the computed layout.
EXPECTED_LAYOUT = {
    "en": {"eot": 50256, "sot": 50257, "translate": 50357, "transcribe": 50358, "sot_lm": 50359,
           "sot_prev": 50360, "no_speech": 50361, "no_timestamps": 50362, "timestamp_begin": 50363},
    "v2": {"eot": 50257, "sot": 50258, "translate": 50358, "transcribe": 50359, "sot_lm": 50360,
           "sot_prev": 50361, "no_speech": 50362, "no_timestamps": 50363, "timestamp_begin": 50364},
    "v3": {"eot": 50257, "sot": 50258, "translate": 50359, "transcribe": 50360, "sot_lm": 50361,
           "sot_prev": 50362, "no_speech": 50363, "no_timestamps": 50364, "timestamp_begin": 50365},
}


def load_languages(tsv_path):
    codes = []
    with open(tsv_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                continue
            codes.append(line.split("\t")[0].strip())
    if len(codes) != 100:
        raise ValueError(f"{tsv_path}: expected 100 languages, found {len(codes)}")
    return codes


def load_tiktoken_ranks(path):
    """{token_bytes: rank}, in file order (= rank order)."""
    ranks = {}
    with open(path, "rb") as f:
        for line in f.read().splitlines():
            if not line:
                continue
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"{path}: ranks are not 0..{len(ranks) - 1}")
    return ranks


class Layout:
    """Token ids of one model family, computed the way openai/whisper's get_encoding does."""

    def __init__(self, family, n_base, languages_all):
        spec = FAMILIES[family]
        self.family = family
        self.multilingual = spec["multilingual"]
        self.n_base = n_base
        self.n_languages = spec["n_languages"]
        self.language_codes = list(languages_all[: self.n_languages])
        self.eot = n_base
        self.sot = n_base + 1
        self.first_language = self.sot + 1
        self.translate = self.first_language + self.n_languages
        self.transcribe = self.translate + 1
        self.sot_lm = self.translate + 2
        self.sot_prev = self.translate + 3
        self.no_speech = self.translate + 4
        self.no_timestamps = self.translate + 5
        self.timestamp_begin = self.translate + 6
        self.n_vocab = self.timestamp_begin + N_TIMESTAMPS
        if self.n_vocab != spec["n_vocab"]:
            raise ValueError(f"family {family}: computed n_vocab {self.n_vocab} != {spec['n_vocab']}")
        for k, v in EXPECTED_LAYOUT[family].items():
            if getattr(self, k) != v:
                raise ValueError(f"family {family}: {k} = {getattr(self, k)}, ORACLE.md says {v}")

    def language_id(self, code):
        return self.first_language + self.language_codes.index(code)

    def special_token_strings(self):
        """[(id, text, is_special)] for every id >= n_base, in id order."""
        out = [(self.eot, "<|endoftext|>", True), (self.sot, "<|startoftranscript|>", True)]
        for i, c in enumerate(self.language_codes):
            out.append((self.first_language + i, f"<|{c}|>", True))
        for name, tid in (("translate", self.translate), ("transcribe", self.transcribe),
                          ("startoflm", self.sot_lm), ("startofprev", self.sot_prev),
                          ("nospeech", self.no_speech), ("notimestamps", self.no_timestamps)):
            out.append((tid, f"<|{name}|>", True))
        for i in range(N_TIMESTAMPS):
            out.append((self.timestamp_begin + i, "<|%.2f|>" % (i * 0.02), False))
        ids = [t for t, _, _ in out]
        if ids != list(range(self.n_base, self.n_vocab)):
            raise AssertionError("special token ids are not contiguous")
        return out

    def as_dict(self):
        return {
            "family": self.family, "multilingual": self.multilingual, "n_vocab": self.n_vocab,
            "n_base_tokens": self.n_base, "eot": self.eot, "sot": self.sot,
            "first_language": self.first_language, "n_languages": self.n_languages,
            "translate": self.translate, "transcribe": self.transcribe, "sot_lm": self.sot_lm,
            "sot_prev": self.sot_prev, "no_speech": self.no_speech,
            "no_timestamps": self.no_timestamps, "timestamp_begin": self.timestamp_begin,
        }


# --------------------------------------------------------------------------------------------
# encoders
# --------------------------------------------------------------------------------------------
def _bpe_parts(ranks, token, max_rank=None):
    """Byte-pair merge as tiktoken / transformers' convert_openai_to_hf._bpe do it."""
    parts = [bytes([b]) for b in token]
    while True:
        min_idx = None
        min_rank = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (min_rank is None or r < min_rank):
                min_idx, min_rank = i, r
        if min_rank is None or (max_rank is not None and min_rank >= max_rank):
            break
        parts = parts[:min_idx] + [parts[min_idx] + parts[min_idx + 1]] + parts[min_idx + 2 :]
    return parts


class PyEncoder:
    """Ordinary-text encoder (no special tokens), tiktoken-compatible."""

    name = "python-bpe"

    def __init__(self, ranks):
        import regex

        self.ranks = ranks
        self.pat = regex.compile(PAT_STR)
        self.cache = {}

    def encode(self, text):
        out = []
        for piece in self.pat.findall(text):
            b = piece.encode("utf-8")
            r = self.ranks.get(b)
            if r is not None:
                out.append(r)
                continue
            if b not in self.cache:
                self.cache[b] = [self.ranks[p] for p in _bpe_parts(self.ranks, b)]
            out.extend(self.cache[b])
        return out


class TiktokenEncoder:
    name = "tiktoken"

    def __init__(self, ranks, layout, tiktoken_name):
        import tiktoken

        specials = {text: tid for tid, text, _ in layout.special_token_strings()}
        self.enc = tiktoken.Encoding(
            name=tiktoken_name,
            explicit_n_vocab=layout.n_vocab,
            pat_str=PAT_STR,
            mergeable_ranks=ranks,
            special_tokens=specials,
        )

    def encode(self, text):
        return self.enc.encode(text)


def make_encoder(ranks, layout, tiktoken_name, log=print):
    try:
        enc = TiktokenEncoder(ranks, layout, tiktoken_name)
        return enc
    except Exception as e:  # tiktoken missing locally
        log(f"    (tiktoken unavailable: {type(e).__name__}: {e}; using the pure-Python BPE)")
        return PyEncoder(ranks)


# --------------------------------------------------------------------------------------------
# OpenAI's suppression lists
# --------------------------------------------------------------------------------------------
def non_speech_tokens(encode):
    """openai/whisper tokenizer.py Tokenizer.non_speech_tokens, given an encode(text) function."""
    symbols = list('"#()*+/:;<=>@[\\]^_`{|}~「」『』')
    symbols += "<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split()
    miscellaneous = set("♩♪♫♬♭♮♯")
    assert all(0x2640 <= ord(c) <= 0x267F for c in miscellaneous)
    result = {encode(" -")[0], encode(" '")[0]}
    for symbol in symbols + sorted(miscellaneous):
        for tokens in (encode(symbol), encode(" " + symbol)):
            if len(tokens) == 1 or symbol in miscellaneous:
                result.add(tokens[0])
    return sorted(result)


def suppress_tokens(layout, non_speech):
    """openai/whisper decoding.py DecodingTask._get_suppress_tokens with suppress_tokens="-1"."""
    s = set(non_speech)
    s.update([layout.transcribe, layout.translate, layout.sot, layout.sot_prev, layout.sot_lm,
              layout.no_speech])
    return sorted(s)


def alignment_heads_for(decoder_layers, decoder_heads):
    """A few (layer, head) pairs valid for the shape, in the upper half of the decoder."""
    layer = decoder_layers - 1
    heads = sorted({0, decoder_heads // 2, decoder_heads - 1})
    return [[layer, h] for h in heads]


def generation_config_dict(layout, suppress, alignment_heads, max_length=448):
    d = {
        "alignment_heads": alignment_heads,
        "begin_suppress_tokens": [220, layout.eot],
        "bos_token_id": layout.eot,
        "decoder_start_token_id": layout.sot,
        "eos_token_id": layout.eot,
        "is_multilingual": layout.multilingual,
        "max_initial_timestamp_index": 50,
        "max_length": max_length,
        "no_timestamps_token_id": layout.no_timestamps,
        "pad_token_id": layout.eot,
        "prev_sot_token_id": layout.sot_prev,
        "return_timestamps": False,
        "suppress_tokens": list(suppress),
    }
    if layout.multilingual:
        d["lang_to_id"] = {f"<|{c}|>": layout.language_id(c) for c in layout.language_codes}
        d["task_to_id"] = {"transcribe": layout.transcribe, "translate": layout.translate}
    return d


# --------------------------------------------------------------------------------------------
# HF tokenizer files
# --------------------------------------------------------------------------------------------
def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def tiktoken_to_vocab_merges(ranks):
    """Same algorithm as transformers' convert_openai_to_hf.convert_tiktoken_bpe_to_hf:
    vocab {unicode_token: rank}; merges ["a b", ...] in rank order."""
    be = bytes_to_unicode()

    def tstr(b):
        return "".join(be[x] for x in b)

    vocab = {}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        vocab[tstr(token)] = rank
        if len(token) == 1:
            continue
        merged = _bpe_parts(ranks, token, max_rank=rank)
        if len(merged) == 2:
            merges.append(tstr(merged[0]) + " " + tstr(merged[1]))
    return vocab, merges


def write_vocab_json(path, vocab):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_merges_txt(path, merges):
    with open(path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for m in merges:
            f.write(m + "\n")


def write_added_tokens_json(path, layout):
    added = {text: tid for tid, text, _ in layout.special_token_strings()}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(added, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _added_token_entry(tid, text, special):
    return {"id": tid, "content": text, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": special}


def special_strings_without_timestamps(layout):
    return [t for _, t, s in layout.special_token_strings() if s]


def write_special_tokens_map(path, layout):
    d = {
        "additional_special_tokens": special_strings_without_timestamps(layout),
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(d, indent=2, ensure_ascii=False) + "\n")


def write_tokenizer_config(path, layout):
    dec = {}
    for tid, text, special in layout.special_token_strings():
        e = _added_token_entry(tid, text, special)
        del e["id"]
        dec[str(tid)] = e
    d = {
        "add_prefix_space": False,
        "added_tokens_decoder": dec,
        "additional_special_tokens": special_strings_without_timestamps(layout),
        "bos_token": "<|endoftext|>",
        "clean_up_tokenization_spaces": True,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": "<|endoftext|>",
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "tokenizer_class": "WhisperTokenizer",
        "unk_token": "<|endoftext|>",
    }
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(d, indent=2, ensure_ascii=False) + "\n")


def tokenizer_json_dict(vocab, merges, layout):
    """A tokenizers-library `tokenizer.json` for a byte-level BPE with Whisper's added tokens
    (fallback when neither transformers nor the tokenizers package produced one)."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [_added_token_entry(t, s, sp) for t, s, sp in layout.special_token_strings()],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }


def write_tokenizer_json_manual(path, vocab, merges, layout):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json_dict(vocab, merges, layout), f, ensure_ascii=False, indent=2)
        f.write("\n")


class HFFileEncoder:
    """Encodes with vocab.json + merges.txt semantics (GPT-2 BPE by merge rank), independently of
    tiktoken: used in the self-test to check that the converted merges reproduce tiktoken."""

    def __init__(self, vocab, merges):
        import regex

        self.vocab = vocab
        self.ranks = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
        self.be = bytes_to_unicode()
        self.pat = regex.compile(PAT_STR)
        self.cache = {}

    def _bpe(self, word):
        parts = list(word)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts = parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2 :]
        return parts

    def encode(self, text):
        out = []
        for piece in self.pat.findall(text):
            w = "".join(self.be[b] for b in piece.encode("utf-8"))
            if w not in self.cache:
                self.cache[w] = [self.vocab[p] for p in self._bpe(w)]
            out.extend(self.cache[w])
        return out


TEST_SENTENCES = [
    "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    " Hello world! It's 3:45pm -- isn't it?",
    "Ça va très bien, merci. Grüße aus Köln; ¿qué tal?",
    "日本語のテキストと中文字符，한국어 문장도。",
    "  multiple   spaces\tand\nnewlines\n\n",
    "Numbers 1234567 and 3.14159, emoji 🙂🎵 ♪♪ (music) [laughs] <<quote>>",
    " the",
]


def tsv_language_codes_match_hf(codes):
    """Returns the HF LANGUAGES order if transformers is importable, else None (informational)."""
    try:
        from transformers.models.whisper.tokenization_whisper import LANGUAGES
    except Exception:
        return None
    return list(LANGUAGES.keys()) == list(codes)


def file_sha256(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tiktoken_path(assets, family):
    return os.path.join(assets, FAMILIES[family]["tiktoken"])
