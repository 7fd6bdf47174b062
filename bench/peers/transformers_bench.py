#!/usr/bin/env python3
"""PERF.md's standard workload on transformers (the peer `hark bench` is compared with).

Runs on the GPU machine (PyTorch + transformers there, no network): a WhisperForConditionalGeneration
of the named shape with random weights, fp16 (or --dtype bfloat16/float32), SDPA attention. For each
batch size B: B windows of random log-mel [B, n_mels, 3000] through the encoder, then greedy
decoding of --tokens tokens after the 4-token prompt <|startoftranscript|><|en|><|transcribe|>
<|0.00|> with <|endoftext|> suppressed, through the KV cache (the same steps as `hark bench`:
one call with the prompt, then one call per token, each picking the argmax). Prints one line per
batch size in the format of `hark bench`, plus the peak memory from torch.cuda.

    python3 bench/peers/transformers_bench.py --shape large-v3-turbo --batch 1,8,32 --runs 3
"""
import argparse
import statistics
import time

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

# name: d_model, heads, encoder layers, decoder layers, mels, vocab (bench/shapes.cpp's table)
SHAPES = {
    "tiny": (384, 6, 4, 4, 80, 51865),
    "base": (512, 8, 6, 6, 80, 51865),
    "small": (768, 12, 12, 12, 80, 51865),
    "medium": (1024, 16, 24, 24, 80, 51865),
    "large-v3": (1280, 20, 32, 32, 128, 51866),
    "large-v3-turbo": (1280, 20, 32, 4, 128, 51866),
}
# Special token ids of the multilingual vocabularies (51865: v1/v2, 51866: v3).
SOT, EOT, EN, TRANSCRIBE = 50258, 50257, 50259, 50360
TIMESTAMP_BEGIN = {51865: 50364, 51866: 50365}


def build(shape, dtype):
    d, heads, enc, dec, mels, vocab = SHAPES[shape]
    cfg = WhisperConfig(
        vocab_size=vocab, num_mel_bins=mels, d_model=d, encoder_layers=enc, decoder_layers=dec,
        encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * d,
        decoder_ffn_dim=4 * d, max_source_positions=1500, max_target_positions=448,
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT)
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = WhisperForConditionalGeneration(cfg)
    return model.to(dtype).eval(), cfg


@torch.inference_mode()
def run_once(model, cfg, mel, tokens):
    b = mel.shape[0]
    transcribe = TRANSCRIBE if cfg.vocab_size == 51866 else TRANSCRIBE - 1
    prompt = torch.tensor([[SOT, EN, transcribe, TIMESTAMP_BEGIN[cfg.vocab_size]]] * b,
                          device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    enc = model.model.encoder(mel).last_hidden_state
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    out = model(encoder_outputs=(enc,), decoder_input_ids=prompt, use_cache=True)
    for i in range(tokens):
        logits = out.logits[:, -1, :].float()
        logits[:, EOT] = -float("inf")
        nxt = logits.argmax(-1, keepdim=True)
        if i + 1 == tokens:
            break
        out = model(encoder_outputs=(enc,), decoder_input_ids=nxt,
                    past_key_values=out.past_key_values, use_cache=True)
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="large-v3-turbo", choices=sorted(SHAPES))
    ap.add_argument("--batch", default="1")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"])
    a = ap.parse_args()
    torch.manual_seed(1234)
    model, cfg = build(a.shape, getattr(torch, a.dtype))
    import transformers
    print(f"transformers {transformers.__version__} + torch {torch.__version__}: {a.shape} on "
          f"{torch.cuda.get_device_name()}, {a.dtype}, SDPA, KV cache, {a.tokens} tokens, "
          f"median of {a.runs} runs")
    print(f"{'batch':<6} {'encoder ms':>12} {'decoder ms':>12} {'ms/step':>10} {'ms/window':>12} "
          f"{'RTFx':>10} {'peak MiB':>10}")
    for b in [int(x) for x in a.batch.split(",")]:
        try:
            mel = torch.rand(b, cfg.num_mel_bins, 3000, device="cuda", dtype=model.dtype) * 2 - 1
            run_once(model, cfg, mel, min(a.tokens, 8))  # warm-up
            torch.cuda.reset_peak_memory_stats()
            runs = [run_once(model, cfg, mel, a.tokens) for _ in range(a.runs)]
            enc = statistics.median(r[0] for r in runs)
            dec = statistics.median(r[1] for r in runs)
            total = statistics.median(r[0] + r[1] for r in runs)
            peak = torch.cuda.max_memory_allocated() / 2**20
            print(f"{b:<6} {enc:12.1f} {dec:12.1f} {dec / a.tokens:10.3f} {total / b:12.2f} "
                  f"{30.0 * b / (total / 1e3):10.1f} {peak:10.0f}", flush=True)
        except torch.OutOfMemoryError:
            print(f"{b:<6} out of memory", flush=True)
        finally:
            mel = None
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
