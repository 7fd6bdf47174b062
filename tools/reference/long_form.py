#!/usr/bin/env python3
"""Reference outputs for hark's long-form transcription and beam search (issue 3), from
transformers on the GPU machine (CPU, fp32), for the committed random-weight fixtures.

For each fixture directory given:
  * long-form: silero_test.wav (60 s) through WhisperForConditionalGeneration.generate's
    sequential long-form path with timestamps, greedy, no temperature fallback, no thresholds,
    condition_on_prev_tokens=False -> segments (start, end, tokens);
  * beam search: the first window of jfk.wav, language en, no timestamps, num_beams=5,
    max_new_tokens=220 -> the returned sequence.
Writes <fixture>/reference_longform.json. Run from the repository root:
  python3 tools/reference/long_form.py --assets tools/reference/_assets \
      tests/data/models/tiny-v3-random tests/data/models/tiny-v2-random
"""
import argparse
import json
import os
import sys
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import logmel  # noqa: E402


def to_list(x):
    if hasattr(x, "tolist"):
        return x.tolist()
    return list(x)


def long_form(model, fe, audio, lang_kwargs):
    import torch

    feats = fe(audio, sampling_rate=16000, truncation=False, padding="longest",
               return_attention_mask=True, return_tensors="pt")
    out = model.generate(
        input_features=feats["input_features"], attention_mask=feats["attention_mask"],
        return_timestamps=True, condition_on_prev_tokens=False, temperature=0.0,
        compression_ratio_threshold=None, logprob_threshold=None, no_speech_threshold=None,
        return_segments=True, **lang_kwargs)
    segs = out["segments"][0]
    result = []
    for s in segs:
        result.append({"start": float(s["start"]), "end": float(s["end"]),
                       "tokens": [int(t) for t in to_list(s["tokens"])]})
    seq = out["sequences"][0] if "sequences" in out else None
    return {"n_frames": int(feats["input_features"].shape[-1]), "segments": result,
            "sequence": [int(t) for t in to_list(seq)] if seq is not None else None}


def beam(model, fe, audio, lang_kwargs, num_beams=5, max_new_tokens=220):
    import torch

    feats = fe(audio, sampling_rate=16000, return_tensors="pt")
    out = model.generate(input_features=feats["input_features"], return_timestamps=False,
                         num_beams=num_beams, do_sample=False, max_new_tokens=max_new_tokens,
                         **lang_kwargs)
    seq = out[0] if not isinstance(out, dict) else out["sequences"][0]
    return {"num_beams": num_beams, "max_new_tokens": max_new_tokens,
            "sequence": [int(t) for t in to_list(seq)]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", required=True)
    ap.add_argument("fixtures", nargs="+")
    a = ap.parse_args()
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.set_num_threads(16)
    torch.manual_seed(0)
    errors = 0
    silero = logmel.load_wav_16k_mono(os.path.join(a.assets, "silero_test.wav"))
    jfk = logmel.load_wav_16k_mono(os.path.join(a.assets, "jfk.wav"))
    for d in a.fixtures:
        out = {"fixture": os.path.basename(d.rstrip("/")), "transformers": None}
        try:
            import transformers

            out["transformers"] = transformers.__version__
            model = WhisperForConditionalGeneration.from_pretrained(d, dtype=torch.float32).eval()
            cfg = json.load(open(os.path.join(d, "config.json")))
            fe = WhisperFeatureExtractor(feature_size=cfg["num_mel_bins"])
            multilingual = cfg["vocab_size"] >= 51865
            lang = {"language": "en", "task": "transcribe"} if multilingual else {}
            with torch.no_grad():
                for name, fn, audio in (("long_form", long_form, silero), ("beam", beam, jfk)):
                    try:
                        out[name] = fn(model, fe, audio, lang)
                        r = out[name]
                        print(f"{out['fixture']} {name}: ", json.dumps(r)[:600], flush=True)
                    except Exception:
                        errors += 1
                        out[name + "_error"] = traceback.format_exc()
                        print(f"!!!!! ERROR {out['fixture']} {name}\n{out[name + '_error']}", flush=True)
        except Exception:
            errors += 1
            out["error"] = traceback.format_exc()
            print(f"!!!!! ERROR {d}\n{out['error']}", flush=True)
        with open(os.path.join(d, "reference_longform.json"), "w") as f:
            json.dump(out, f, indent=1)
    print(f"long_form.py finished with {errors} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
