#!/usr/bin/env python3
"""Evaluates an HF Whisper directory on a held-out folder (make_data.py's heldout/ or
heldout-big/) with the reference implementation: transformers' WhisperFeatureExtractor and
WhisperForConditionalGeneration.generate, greedy (num_beams=1, do_sample=False), fp32.

  python3 tools/train_synthetic/eval_reference.py --model /tmp/synth-model --heldout /tmp/synth-data/heldout \
      --tokenizer .device-carry/train-assets/multilingual.tiktoken --out eval-heldout.json

Per clip: the language detected from the logits at the <|startoftranscript|> position (argmax
over all language tokens, as transformers' detect_language and openai-whisper do) and the
no-speech probability there; the transcript with the language given (timestamps on by default,
as `hark transcribe` decodes; --no-timestamps for <|notimestamps|>), with openai-whisper's
no-speech rule applied (text dropped when p(no-speech) > 0.6 and the average log-probability of
the generated tokens < -1; the log-probabilities are taken teacher-forced from the unfiltered
logits, a close approximation of openai-whisper's filtered ones). The no-speech clips (heldout
silence.wav / noise.wav plus evalcommon's 8 generated ones) are transcribed with language en and
count as detected when the transcript is empty. Normaliser and WER: evalcommon.py (the same as
eval_hark.py, so that both can be compared with evalcommon.compare).
"""

import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evalcommon as ec  # noqa: E402


def _seqs(out):
    """generate's output across versions: a tensor, or a ModelOutput / dict with sequences."""
    if hasattr(out, "sequences"):
        return out.sequences
    if isinstance(out, dict) and "sequences" in out:
        return out["sequences"]
    return out


class HFBackend:
    def __init__(self, model_dir, tokenizer, device=None, batch=16, log=print, openai_windows=True):
        import numpy as np
        import torch
        from transformers import WhisperForConditionalGeneration

        self.np, self.torch, self.log = np, torch, log
        self.openai_windows = openai_windows
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        m = WhisperForConditionalGeneration.from_pretrained(model_dir)
        meta = [n for n, t in list(m.named_parameters()) + list(m.named_buffers()) if t.is_meta]
        if meta:
            raise RuntimeError(f"parameters left on the meta device after from_pretrained: {meta}")
        if m.get_output_embeddings().weight.data_ptr() != m.get_input_embeddings().weight.data_ptr():
            log("eval_reference: warning: proj_out is not tied to the token embedding after loading")
        self.model = m.to(device=self.device, dtype=torch.float32).eval()
        gc = json.load(open(os.path.join(model_dir, "generation_config.json")))
        self.sot = gc["decoder_start_token_id"]
        self.eot = gc["eos_token_id"]
        self.no_ts = gc["no_timestamps_token_id"]
        self.no_speech = self.no_ts - 1  # <|nospeech|> precedes <|notimestamps|> in every layout
        self.lang_ids = {k.strip("<|>"): v for k, v in gc["lang_to_id"].items()}
        self.transcribe_id = gc.get("task_to_id", {}).get("transcribe", self.sot + len(self.lang_ids) + 2)
        self.assets = os.path.dirname(os.path.abspath(tokenizer))
        self.n_mels = self.model.config.num_mel_bins
        self.batch = batch
        self.dec = ec.TiktokenDecoder(tokenizer)
        self.fe = None
        try:
            from transformers import WhisperFeatureExtractor

            self.fe = WhisperFeatureExtractor(feature_size=self.n_mels, sampling_rate=16000, hop_length=160,
                                              chunk_length=30, n_fft=400)
        except Exception as e:  # never expected; the log-mel below is the same recipe
            log(f"eval_reference: WhisperFeatureExtractor unavailable ({type(e).__name__}: {e}); own log-mel")
        import transformers

        self.desc = (f"transformers {transformers.__version__} WhisperForConditionalGeneration.generate, greedy "
                     f"(num_beams=1, do_sample=False), fp32 on {self.device}, "
                     f"{'WhisperFeatureExtractor' if self.fe else 'own log-mel'} for language detection, "
                     f"{'openai-whisper windows (log-mel-domain zero padding)' if openai_windows else 'the same'} "
                     "for transcription")

    def _audio(self, path):
        a, sr = ec.read_wav(path)
        if sr != 16000:
            raise ValueError(f"{path}: {sr} Hz")
        return self.np.frombuffer(a.tobytes(), dtype="<i2").astype(self.np.float32) / 32768.0

    def openai_features(self, paths):
        """The window openai-whisper's transcribe() decodes for a clip of at most 30 s (and hark,
        which implements it): the log-mel of the clip followed by 30 s of zero audio (clamped at
        the maximum of that whole spectrogram minus 8), sliced to the clip's own frames
        (n_samples // 160) and padded to 3000 frames with zeros *in the log-mel domain*
        (pad_or_trim). transformers' short-form path instead pads the audio to 30 s first; an
        undertrained model answers those two windows differently, so the agreement check with
        hark feeds the reference the same window hark decodes."""
        np, torch = self.np, self.torch
        sys.path.insert(0, HERE)
        import synth_common as sc

        filt = np.load(os.path.join(self.assets, "mel_filters.npz"))[f"mel_{self.n_mels}"].astype(np.float32)
        out = []
        for p in paths:
            a = self._audio(p)[:480000]
            m = sc.log_mel(np.concatenate([a, np.zeros(480000, np.float32)]), filt)
            n = min(3000, len(a) // 160)
            w = np.zeros((m.shape[0], 3000), np.float32)
            w[:, :n] = m[:, :n]
            out.append(w)
        return torch.from_numpy(np.stack(out)).to(self.device)

    def features(self, paths):
        """The window for language detection (openai-whisper: the first 3000 frames of the
        log-mel of the clip plus 30 s of zero audio = transformers' audio-domain padding)."""
        np, torch = self.np, self.torch
        auds = [self._audio(p)[:480000] for p in paths]
        if self.fe is not None:
            f = self.fe(auds, sampling_rate=16000, return_tensors="np").input_features
            return torch.from_numpy(np.asarray(f, dtype=np.float32)).to(self.device)
        sys.path.insert(0, HERE)
        import synth_common as sc

        filt = np.load(os.path.join(self.assets, "mel_filters.npz"))[f"mel_{self.n_mels}"].astype(np.float32)
        out = []
        for a in auds:
            x = np.zeros(480000, np.float32)
            x[:len(a)] = a
            out.append(sc.log_mel(x, filt))
        return torch.from_numpy(np.stack(out)).to(self.device)

    def detect(self, paths):
        torch = self.torch
        res = []
        codes = sorted(self.lang_ids, key=lambda c: self.lang_ids[c])
        ids = torch.tensor([self.lang_ids[c] for c in codes], device=self.device)
        with torch.no_grad():
            for s in range(0, len(paths), self.batch):
                f = self.features(paths[s:s + self.batch])
                dec = torch.full((f.shape[0], 1), self.sot, dtype=torch.long, device=self.device)
                lg = self.model(input_features=f, decoder_input_ids=dec).logits[:, 0].float()
                p = lg.softmax(-1)
                best = lg[:, ids].argmax(-1)
                for k in range(f.shape[0]):
                    res.append((codes[int(best[k])], float(p[k, self.no_speech])))
        return res

    def _gen(self, f, language, timestamps):
        kw = dict(language=language, task="transcribe", return_timestamps=bool(timestamps),
                  num_beams=1, do_sample=False)
        try:
            return _seqs(self.model.generate(input_features=f, **kw))
        except Exception as e:  # an argument this version does not take: the essentials only
            self.log(f"eval_reference: generate({kw}) failed ({type(e).__name__}: {e}); retrying with "
                     "language/task/return_timestamps only")
            return _seqs(self.model.generate(input_features=f, language=language, task="transcribe",
                                             return_timestamps=bool(timestamps)))

    def transcribe(self, paths, language, timestamps):
        torch = self.torch
        out = []
        with torch.no_grad():
            for s in range(0, len(paths), self.batch):
                f = (self.openai_features if self.openai_windows else self.features)(paths[s:s + self.batch])
                seqs = self._gen(f, language, timestamps).tolist()
                # no-speech rule: p(nospeech) at sot, mean log-prob of the generated tokens
                prompt = [self.sot, self.lang_ids[language], self.transcribe_id]
                if not timestamps:
                    prompt.append(self.no_ts)
                for k, seq in enumerate(seqs):
                    gen = list(seq)
                    # strip a returned decoder prompt (version dependent) and padding after eot
                    i = 0
                    while i < len(gen) and self.eot < gen[i] <= self.no_ts:  # sot, language, task, notimestamps
                        i += 1
                    gen = gen[i:]
                    if self.eot in gen:
                        gen = gen[:gen.index(self.eot)]
                    text = self.dec.text(gen, self.eot)
                    gen = gen[:max(0, 448 - len(prompt))]  # the decoder has 448 positions
                    ids = torch.tensor([prompt + gen + [self.eot]], device=self.device)
                    lg = self.model(input_features=f[k:k + 1], decoder_input_ids=ids[:, :-1]).logits[0].float()
                    lp = lg.log_softmax(-1)
                    n0 = len(prompt) - 1
                    tgt = ids[0, 1:]
                    tok_lp = lp[torch.arange(n0, len(tgt), device=self.device), tgt[n0:]]
                    avg = float(tok_lp.sum()) / (len(gen) + 1)
                    nsp = float(lg[0].softmax(-1)[self.no_speech])
                    if nsp > 0.6 and avg < -1.0:
                        text = ""
                    out.append(text)
        return out


def evaluate_dir(model_dir, heldout_dir, tokenizer, device=None, timestamps=True, work_dir=None, log=print,
                 openai_windows=True):
    t0 = time.time()
    be = HFBackend(model_dir, tokenizer, device, log=log, openai_windows=openai_windows)
    with tempfile.TemporaryDirectory() as tmp:
        clips = ec.load_clips(heldout_dir, work_dir or tmp)
        res, tab = ec.run_eval(be, clips, timestamps=timestamps, log=log)
    return {"model": os.path.abspath(model_dir), "heldout": os.path.abspath(heldout_dir),
            "reference": be.desc, "timestamps": bool(timestamps), "seconds": round(time.time() - t0, 1),
            "table": tab, "clips": res}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--heldout", required=True, nargs="+", help="one or more held-out folders (manifest.json)")
    ap.add_argument("--tokenizer", default=os.path.join(HERE, "..", "..", "..", "shared", "assets", "multilingual.tiktoken"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--no-timestamps", action="store_true")
    ap.add_argument("--hf-windows", action="store_true",
                    help="transcribe transformers' short-form windows (audio padded to 30 s) instead of openai-whisper's")
    ap.add_argument("--out", default="", help="write the JSON here (default: stdout summary only)")
    a = ap.parse_args()
    res = {}
    for h in a.heldout:
        r = evaluate_dir(a.model, h, a.tokenizer, a.device, not a.no_timestamps, openai_windows=not a.hf_windows)
        res[os.path.basename(os.path.normpath(h))] = r
        print(f"{h}: {ec.summary_line(r['table'])} ({r['seconds']} s)", flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(res if len(res) > 1 else next(iter(res.values())), f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
