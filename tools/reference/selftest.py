#!/usr/bin/env python3
"""Checks the torch-free parts of make_fixtures.py (needs numpy + regex only):

    python3 tools/reference/selftest.py --assets ../shared/assets [--full-dry-run]

token layouts, OpenAI's suppression lists against the published ones, the tiktoken -> vocab.json
+ merges.txt conversion (a GPT-2 BPE over the converted merges must reproduce tiktoken's ids),
the ggml writer/reader round trip, the safetensors writer/reader, the numpy log-mel, archive
packing/splitting, and (with --full-dry-run) a whole `make_fixtures.py --dry-run`.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ggml_whisper  # noqa: E402
import logmel  # noqa: E402
import packing  # noqa: E402
import st_io  # noqa: E402
import whisper_tokens as wt  # noqa: E402

# Published lists (transformers' WhisperConfig NON_SPEECH_TOKENS*, HF generation_config.json of
# openai/whisper-large-v2 / -v3 and *.en checkpoints, whisper.cpp's tests).
NON_SPEECH_MULTI = [
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359, 503, 522, 542,
    873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253, 3268, 3536, 3846, 3961, 4183, 4667,
    6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635, 15265, 15618,
    16553, 16604, 18362, 18956, 20075, 21675, 22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302, 32470,
    36865, 42863, 47425, 49870, 50254]
NON_SPEECH_EN = [
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 357, 366, 438, 532,
    685, 705, 796, 930, 1058, 1220, 1267, 1279, 1303, 1343, 1377, 1391, 1635, 1782, 1875, 2162, 2361, 2488, 3467,
    4008, 4211, 4600, 4808, 5299, 5855, 6329, 7203, 9609, 9959, 10563, 10786, 11420, 11709, 11907, 13163, 13697,
    13700, 14808, 15306, 16410, 16791, 17992, 19203, 19510, 20724, 22305, 22935, 27007, 30109, 30420, 33409,
    34949, 40283, 40493, 40549, 47282, 49146]
SUPPRESS_V2_TAIL = [50258, 50358, 50359, 50360, 50361, 50362]
SUPPRESS_V3_TAIL = [50258, 50359, 50360, 50361, 50362, 50363]
SUPPRESS_EN_TAIL = [50257, 50357, 50358, 50359, 50360, 50361]

FAILS = []


def check(cond, what):
    print(("  ok    " if cond else "  FAIL  ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def test_layout_and_suppress(assets, langs):
    print("token layouts and suppression lists")
    out = {}
    for fam, ns_exp, tail in (("v2", NON_SPEECH_MULTI, SUPPRESS_V2_TAIL), ("v3", NON_SPEECH_MULTI, SUPPRESS_V3_TAIL),
                              ("en", NON_SPEECH_EN, SUPPRESS_EN_TAIL)):
        ranks = wt.load_tiktoken_ranks(wt.tiktoken_path(assets, fam))
        lay = wt.Layout(fam, len(ranks), langs)
        check(len(lay.special_token_strings()) == lay.n_vocab - lay.n_base, f"{fam}: {lay.n_vocab} ids, specials contiguous")
        enc = wt.PyEncoder(ranks)
        ns = wt.non_speech_tokens(enc.encode)
        check(ns == ns_exp, f"{fam}: non_speech_tokens equals the published list ({len(ns)} ids)")
        if ns != ns_exp:
            print("     got     ", ns)
            print("     expected", ns_exp)
        sup = wt.suppress_tokens(lay, ns)
        check(sup == ns_exp + tail, f"{fam}: suppress_tokens = non-speech + {tail}")
        g = wt.generation_config_dict(lay, sup, wt.alignment_heads_for(2, 4))
        check(g["begin_suppress_tokens"] == [220, lay.eot] and g["decoder_start_token_id"] == lay.sot,
              f"{fam}: generation_config begin_suppress/decoder_start")
        if lay.multilingual:
            check(g["lang_to_id"]["<|en|>"] == lay.sot + 1 and len(g["lang_to_id"]) == lay.n_languages,
                  f"{fam}: lang_to_id has {len(g['lang_to_id'])} languages, <|en|> = sot+1")
            check(g["task_to_id"] == {"transcribe": lay.transcribe, "translate": lay.translate}, f"{fam}: task_to_id")
        else:
            check("lang_to_id" not in g and g["is_multilingual"] is False, f"{fam}: English-only config has no lang_to_id")
        check(enc.encode(" ") == [220], f"{fam}: encode(' ') == [220]")
        out[fam] = (ranks, lay, enc)
    lay3 = out["v3"][1]
    check(lay3.language_codes[-1] == "yue" and lay3.language_id("yue") == 50358, "v3: <|yue|> = 50358")
    check(out["v2"][1].language_id("su") == 50357, "v2: last language <|su|> = 50357")
    check(wt.alignment_heads_for(2, 3) == [[1, 0], [1, 1], [1, 2]], "alignment heads for 2 layers x 3 heads")
    return out


def test_vocab_merges(fams):
    print("tiktoken -> vocab.json + merges.txt")
    rng = random.Random(0)
    corpus = list(wt.TEST_SENTENCES)
    with open(os.path.abspath(__file__), encoding="utf-8") as f:
        words = f.read().split()
    for _ in range(200):
        i = rng.randrange(len(words))
        corpus.append(" ".join(words[i:i + rng.randrange(1, 12)]))
    corpus += ["".join(chr(rng.randrange(32, 0x3000)) for _ in range(20)) for _ in range(50)]
    for fam in ("v2", "en"):
        ranks, lay, enc = fams[fam]
        vocab, merges = wt.tiktoken_to_vocab_merges(ranks)
        check(len(vocab) == len(ranks), f"{fam}: vocab.json has {len(vocab)} entries (= tiktoken ranks)")
        n_multi = sum(1 for t in ranks if len(t) > 1)
        check(len(merges) == n_multi, f"{fam}: {len(merges)} merges (= tokens of 2+ bytes)")
        if fam == "v2":
            check(ranks.get(b"") == 50256, "multilingual.tiktoken: rank 50256 is the empty token (kept, as OpenAI and HF do)")
            check(vocab.get("") == 50256, "vocab.json maps the empty string to 50256")
        hf = wt.HFFileEncoder(vocab, merges)
        bad = [s for s in corpus if hf.encode(s) != enc.encode(s)]
        check(not bad, f"{fam}: merges-based BPE == rank-based BPE on {len(corpus)} strings")
        for s in bad[:3]:
            print("     ", repr(s), hf.encode(s)[:10], enc.encode(s)[:10])
        tj = wt.tokenizer_json_dict(vocab, merges, lay)
        check(tj["added_tokens"][0] == {"id": lay.eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                        "rstrip": False, "normalized": False, "special": True}, f"{fam}: tokenizer.json added tokens")
        check(tj["added_tokens"][-1]["content"] == "<|30.00|>" and tj["added_tokens"][-1]["id"] == lay.n_vocab - 1,
              f"{fam}: last added token <|30.00|> = {lay.n_vocab - 1}")
    with tempfile.TemporaryDirectory() as td:
        ranks, lay, enc = fams["v2"]
        vocab, merges = wt.tiktoken_to_vocab_merges(ranks)
        wt.write_vocab_json(os.path.join(td, "vocab.json"), vocab)
        wt.write_merges_txt(os.path.join(td, "merges.txt"), merges)
        wt.write_added_tokens_json(os.path.join(td, "added_tokens.json"), lay)
        with open(os.path.join(td, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        check(lines[0] == "#version: 0.2" and lines[1:3] == merges[:2], "merges.txt header and order")
        with open(os.path.join(td, "added_tokens.json"), encoding="utf-8") as f:
            added = json.load(f)
        check(added["<|endoftext|>"] == 50257 and added["<|notimestamps|>"] == 50363 and added["<|0.00|>"] == 50364,
              "v2 added_tokens.json ids")
        with open(os.path.join(td, "vocab.json"), encoding="utf-8") as f:
            v2 = json.load(f)
        check(v2 == vocab and v2["Ġthe"] == 264, "vocab.json round trip, 'Ġthe' = 264")


def test_ggml(assets):
    print("ggml writer / reader")
    sys.path.insert(0, HERE)
    import make_fixtures as mf

    fx = dict(mf.FIXTURES[1])
    langs = wt.load_languages(os.path.join(assets, "languages.tsv"))
    ranks = wt.load_tiktoken_ranks(wt.tiktoken_path(assets, fx["family"]))
    lay = wt.Layout(fx["family"], len(ranks), langs)
    state = mf.numpy_random_state(fx, lay.n_vocab)
    oa = ggml_whisper.hf_state_to_openai(state, fx["enc_layers"], fx["dec_layers"])
    check(list(oa)[:3] == ["encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias"], "OpenAI tensor order")
    check(ggml_whisper.hf_to_openai_name("model.decoder.layers.1.encoder_attn.k_proj.weight") == "decoder.blocks.1.cross_attn.key.weight",
          "name map: encoder_attn.k_proj -> cross_attn.key")
    check(ggml_whisper.hf_to_openai_name("model.encoder.layers.0.fc2.bias") == "encoder.blocks.0.mlp.2.bias", "name map: fc2 -> mlp.2")
    check(ggml_whisper.hf_to_openai_name("proj_out.weight") is None, "proj_out skipped")
    filters = logmel.load_mel_filters(os.path.join(assets, "mel_filters.npz"), fx["n_mels"])
    vocab_bytes = [b for b, _ in sorted(ranks.items(), key=lambda kv: kv[1])]
    hp = {"n_vocab": lay.n_vocab, "n_audio_ctx": 1500, "n_audio_state": fx["d_model"], "n_audio_head": fx["heads"],
          "n_audio_layer": fx["enc_layers"], "n_text_ctx": 448, "n_text_state": fx["d_model"], "n_text_head": fx["heads"],
          "n_text_layer": fx["dec_layers"], "n_mels": fx["n_mels"]}
    with tempfile.TemporaryDirectory() as td:
        for ftype in (1, 0):
            p = os.path.join(td, f"m{ftype}.bin")
            ggml_whisper.write_ggml(p, hp, filters, vocab_bytes, oa, ftype)
            probs = ggml_whisper.verify_ggml(p, hp, filters, vocab_bytes, oa, ftype)
            check(not probs, f"ftype {ftype}: round trip exact ({os.path.getsize(p) / 1e6:.2f} MB) {probs[:3]}")
            g = ggml_whisper.read_ggml(p)
            t, dims, arr = g.tensors["encoder.conv1.weight"]
            check(dims == [3, fx["n_mels"], fx["d_model"]] and t == ftype, f"ftype {ftype}: conv1.weight dims {dims} type {t}")
            t, dims, arr = g.tensors["encoder.conv1.bias"]
            check(dims == [1, fx["d_model"]] and t == 0, f"ftype {ftype}: conv1.bias dims {dims} f32")
            t, dims, _ = g.tensors["decoder.positional_embedding"]
            check(dims == [fx["d_model"], 448] and t == 0, f"ftype {ftype}: decoder.positional_embedding [d,448] f32")
            t, dims, _ = g.tensors["decoder.token_embedding.weight"]
            check(dims == [fx["d_model"], lay.n_vocab] and t == ftype, f"ftype {ftype}: token_embedding dims/type")
            t, dims, _ = g.tensors["decoder.blocks.0.attn_ln.weight"]
            check(dims == [fx["d_model"]] and t == 0, f"ftype {ftype}: layer norm weight 1-D f32")
            with open(p, "rb") as f:
                head = np.frombuffer(f.read(4 * 14), dtype="<i4")
            check(list(head[:12]) == [0x67676D6C, lay.n_vocab, 1500, 48, 3, 3, 448, 48, 3, 2, 80, ftype]
                  and list(head[12:14]) == [80, 201], f"ftype {ftype}: header bytes {list(head)}")
            check(g.vocab[:3] == [b"!", b'"', b"#"] and len(g.vocab) == 50257, f"ftype {ftype}: embedded vocabulary")


def test_safetensors():
    print("safetensors writer / reader")
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "a.safetensors")
        t = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, 2, 3], dtype=np.int32),
             "h": np.array([0.5, -2.0], dtype=np.float16), "s": np.array([7], dtype=np.int32)}
        st_io.write_safetensors(p, t, metadata={"format": "pt"})
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        check(n % 8 == 0, "header padded to 8 bytes")
        back, meta = st_io.read_safetensors(p)
        check(all(np.array_equal(back[k], v) and back[k].dtype == v.dtype for k, v in t.items()) and meta == {"format": "pt"},
              "round trip (f32, i32, f16) + metadata")
        raw, _ = st_io.read_safetensors(p, as_raw=True)
        p2 = os.path.join(td, "b.safetensors")
        st_io.write_safetensors(p2, {}, metadata={"format": "pt"}, raw=raw)
        back2, _ = st_io.read_safetensors(p2)
        check(all(np.array_equal(back2[k], v) for k, v in t.items()), "raw copy round trip")


def test_logmel(assets):
    print("log-mel (numpy, OpenAI)")
    audio = logmel.load_wav_16k_mono(os.path.join(assets, "jfk.wav"))
    check(audio.dtype == np.float32 and 10.9 < len(audio) / 16000 < 11.1, f"jfk.wav: {len(audio)} samples")
    for n_mels in (80, 128):
        f = logmel.load_mel_filters(os.path.join(assets, "mel_filters.npz"), n_mels)
        m = logmel.log_mel_openai(audio, f)
        w = logmel.first_window(m)
        check(m.shape == (n_mels, (len(audio) + 480000) // 160), f"{n_mels} mels: full padded mel {m.shape}")
        check(w.shape == (n_mels, 3000), f"{n_mels} mels: first window {w.shape}")
        check(abs(m.max() - m.min() - 2.0) < 1e-9, f"{n_mels} mels: dynamic range clamped to 8 log10 units (max-min={m.max() - m.min():.6f})")
        tail = w[:, 1200:]
        check(np.allclose(tail, tail.min()), f"{n_mels} mels: frames after the speech are the floor value {tail.min():.4f}")
        # direct DFT of one frame as an independent check of the STFT framing
        x = np.concatenate([audio.astype(np.float64), np.zeros(480000)])
        xp = np.pad(x, 200, mode="reflect")
        k = 500
        fr = xp[k * 160:k * 160 + 400] * logmel.hann_periodic(400)
        n = np.arange(400)
        dft = np.array([np.sum(fr * np.exp(-2j * np.pi * b * n / 400)) for b in range(201)])
        p = np.abs(dft) ** 2
        val = f.astype(np.float64) @ p
        gmax = m.max() * 4.0 - 4.0
        ref = (np.maximum(np.log10(np.maximum(val, 1e-10)), gmax - 8.0) + 4.0) / 4.0
        check(np.allclose(ref, m[:, k], atol=1e-9), f"{n_mels} mels: frame {k} equals a direct DFT")


def test_packing():
    print("packing")
    with tempfile.TemporaryDirectory() as td:
        src = os.path.join(td, "out")
        os.makedirs(os.path.join(src, "fx-a"))
        rng = np.random.default_rng(0)
        blob = rng.standard_normal(400000).astype(np.float16).tobytes()
        with open(os.path.join(src, "fx-a", "model.safetensors"), "wb") as f:
            f.write(b"hdr" + blob)
        with open(os.path.join(src, "fx-a.ggml-f16.bin"), "wb") as f:
            f.write(b"ggml" + blob)
        with open(os.path.join(src, "manifest.json"), "w") as f:
            f.write("{}")
        for ext in ("tar.gz", "tar.xz"):
            arc = os.path.join(td, "x." + ext)
            size = packing.pack(src, arc, arcname_root="fixtures", log=lambda *a: None)
            digest = packing.sha256_of(arc)
            parts = packing.split_file(arc, 300000, log=lambda *a: None)
            check(len(parts) >= 2 and not os.path.exists(arc), f"{ext}: {size} bytes split into {len(parts)} parts")
            packing.join_parts(sorted(parts), arc)
            check(packing.sha256_of(arc) == digest, f"{ext}: joined parts reproduce the archive")
            with tarfile.open(arc) as tar:
                names = tar.getnames()
                data = tar.extractfile("fixtures/fx-a.ggml-f16.bin").read()
            check(names == ["fixtures/fx-a/model.safetensors", "fixtures/fx-a.ggml-f16.bin", "fixtures/manifest.json"],
                  f"{ext}: entry order {names}")
            check(data == b"ggml" + blob, f"{ext}: content intact")
            if ext == "tar.xz":
                check(size < 1.2 * len(blob), f"xz dedupes the repeated weights ({size} bytes for 2 x {len(blob)})")
            for p in parts:
                if os.path.exists(p):
                    os.remove(p)


def test_dry_run(assets):
    print("make_fixtures.py --dry-run")
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "fixtures")
        arc = os.path.join(td, "fixtures.tar.xz")
        cmd = [sys.executable, os.path.join(HERE, "make_fixtures.py"), "--assets", assets, "--out", out, "--tar", arc,
               "--dry-run", "--split-mb", "15"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        log = os.path.join(tempfile.gettempdir(), "hark-dry-run.log")
        with open(log, "w") as f:
            f.write(r.stdout + r.stderr)
        check(r.returncode == 0, f"dry run exit code {r.returncode} (log: {log})")
        # run twice: idempotent
        r2 = subprocess.run(cmd, capture_output=True, text=True)
        check(r2.returncode == 0, "second dry run (idempotent) succeeds")
        expect = ["tiny-v3-random/model.safetensors", "tiny-v3-random/config.json", "tiny-v3-random/generation_config.json",
                  "tiny-v3-random/tokenizer.json", "tiny-v3-random/tokenizer_config.json", "tiny-v3-random.ggml-f16.bin",
                  "tiny-v3-random.ggml-f32.bin", "tiny-v2-random/vocab.json", "tiny-v2-random/merges.txt",
                  "tiny-v2-random/added_tokens.json", "tiny-v2-random-sharded/model-00001-of-00002.safetensors",
                  "tiny-v2-random-sharded/model-00002-of-00002.safetensors",
                  "tiny-v2-random-sharded/model.safetensors.index.json", "tiny-v2-random-sharded/vocab.json",
                  "tiny-en-random/model.safetensors", "tiny-en-random.ggml-f16.bin", "manifest.json"]
        for e in expect:
            check(os.path.exists(os.path.join(out, e)), f"wrote {e}")
        check(not os.path.exists(os.path.join(out, "tiny-v2-random", "tokenizer.json")), "tiny-v2-random has no tokenizer.json")
        check(not any(f.startswith("vocab") or f.startswith("tokenizer") for f in os.listdir(os.path.join(out, "tiny-en-random"))),
              "tiny-en-random has no tokenizer files")
        with open(os.path.join(out, "tiny-v2-random-sharded", "model.safetensors.index.json")) as f:
            idx = json.load(f)
        a, _ = st_io.read_safetensors(os.path.join(out, "tiny-v2-random", "model.safetensors"))
        b = {}
        for shard in sorted(set(idx["weight_map"].values())):
            t, _ = st_io.read_safetensors(os.path.join(out, "tiny-v2-random-sharded", shard))
            b.update(t)
        check(set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a), "sharded copy holds the same tensors")
        check(idx["metadata"]["total_size"] == sum(v.nbytes for v in a.values()), "index total_size = tensor bytes")
        check(all(k.startswith("model.") for k in a) and "proj_out.weight" not in a and "model.encoder.conv1.weight" in a,
              "HF key layout (model.*, no proj_out.weight)")
        parts = sorted(p for p in os.listdir(td) if p.startswith("fixtures.tar.xz"))
        sizes = {p: os.path.getsize(os.path.join(td, p)) for p in parts}
        print("     archive files:", {p: f"{s / 1e6:.2f} MB" for p, s in sizes.items()})
        check(all(s <= 15e6 for p, s in sizes.items()), "every archive part <= 15 MB")
        total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
        print(f"     output folder {total / 1e6:.1f} MB (dry run: no reference tensors)")
        tail = [ln for ln in r.stdout.splitlines() if "WARNING" in ln or "ERROR" in ln]
        for ln in tail[:20]:
            print("     ", ln)


def test_mock_torch(assets):
    """The torch path of make_fixtures.py against mock/transformers (needs torch)."""
    print("make_fixtures.py against mock/transformers (torch path)")
    for mode in ("modern", "legacy"):
        with tempfile.TemporaryDirectory() as td:
            out = os.path.join(td, "fixtures")
            env = dict(os.environ, FAKE_HF_ASSETS=assets, FAKE_HF_MODE=mode,
                       PYTHONPATH=os.path.join(HERE, "mock") + os.pathsep + os.environ.get("PYTHONPATH", ""))
            env.pop("OUT", None)
            cmd = [sys.executable, os.path.join(HERE, "make_fixtures.py"), "--assets", assets, "--out", out,
                   "--fixtures", "tiny-en-random", "--threads", "2"]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            log = os.path.join(tempfile.gettempdir(), f"hark-mock-{mode}.log")
            with open(log, "w") as f:
                f.write(r.stdout + r.stderr)
            check(r.returncode == 0, f"{mode}: exit code {r.returncode} (log: {log})")
            d = os.path.join(out, "tiny-en-random")
            t, _ = st_io.read_safetensors(os.path.join(d, "reference.safetensors"))
            want = {"mel", "mel_openai", "encoder_out", "no_speech_prob", "tokens_notimestamps", "tokens_timestamps",
                    "tokens_notimestamps_openai", "tokens_timestamps_openai", "tf_input_ids", "logits_tf"}
            check(want <= set(t), f"{mode}: reference tensors {sorted(set(t))}")
            check(list(t["tokens_notimestamps"][:2]) == [50257, 50362] and t["tokens_timestamps"][0] == 50257
                  and t["tokens_timestamps"][1] >= 50363, f"{mode}: prompts [sot, notimestamps] / [sot] then a timestamp")
            check(t["logits_tf"].shape == (24, 51864) and t["encoder_out"].shape == (1500, 32), f"{mode}: shapes")
            with open(os.path.join(d, "reference.json")) as f:
                ref = json.load(f)
            check(ref["tokens_timestamps"] == t["tokens_timestamps"].tolist(), f"{mode}: reference.json agrees with the tensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", default=os.path.join(HERE, "..", "..", "..", "shared", "assets"))
    ap.add_argument("--full-dry-run", action="store_true")
    ap.add_argument("--mock-torch", action="store_true", help="also run the torch path against mock/transformers")
    args = ap.parse_args()
    assets = os.path.abspath(args.assets)
    langs = wt.load_languages(os.path.join(assets, "languages.tsv"))
    fams = test_layout_and_suppress(assets, langs)
    test_vocab_merges(fams)
    test_ggml(assets)
    test_safetensors()
    test_logmel(assets)
    test_packing()
    if args.full_dry_run:
        test_dry_run(assets)
    if args.mock_torch:
        test_mock_torch(assets)
    print(f"\n{len(FAILS)} failed" + (":\n  " + "\n  ".join(FAILS) if FAILS else ""))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
