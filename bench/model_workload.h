// PERF.md's standard workload on the model alone, batched: B windows of random log-mel go through
// one encode_batch, then B sequences decode greedily together (decode_batch, argmax on the
// device): the 4-token prompt <|startoftranscript|><|en|><|transcribe|><|0.00|>, then `tokens`
// tokens with <|endoftext|> suppressed. Runs on any device and precision the model supports and
// builds in the engine-only configuration (no FFmpeg), so it runs on the GPU machine. On a GPU the
// windows' log-mel is computed on the device from 30 s of PCM first (ops::log_mel + mel_window, as
// the engine does) and timed as mel_ms, part of total_ms and RTFx as PERF.md's window defines
// them (the transformers peer starts from log-mel: it does less); on the CPU the windows are
// random log-mel and mel_ms is 0 (`hark bench --device cpu` times the CPU log-mel in its own
// workload).
#pragma once

#include <vector>

#include "model/checkpoint.h"
#include "model/whisper_model.h"

namespace hark::bench {

struct ModelWorkloadOptions {
  int batch = 1;           // windows in flight
  int tokens = 128;        // tokens picked per window
  int runs = 3;            // timed runs (median reported)
  int warmup = 1;          // untimed runs first (shortened decoding)
  bool device_mel = true;  // on a GPU: the windows' log-mel from PCM on the device, timed
};

struct ModelRun {
  double mel_ms = 0;      // device log-mel + windows of all windows (GPU), in total_ms
  double encoder_ms = 0;  // encode_batch of all windows
  double decoder_ms = 0;  // cross K/V projections + prompt + all steps
  double total_ms = 0;    // mel + encoder + decoder
};

struct ModelWorkloadReport {
  ModelRun median;
  double window_ms = 0;    // median total / batch
  double rtfx = 0;         // 30 s * batch / median total
  double step_ms = 0;      // median decoder time per step (all sequences)
  double peak_mem_mb = 0;  // device memory high-water mark (CUDA), 0 on the CPU
  std::vector<ModelRun> runs;
};

ModelWorkloadReport run_model_workload(const model::WhisperModel& m,
                                       const model::GenerationConfig& g,
                                       const ModelWorkloadOptions& o);

}  // namespace hark::bench
