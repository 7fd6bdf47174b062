// PERF.md's standard workload on the model alone, batched: B windows of random log-mel go through
// one encode_batch, then B sequences decode greedily together (decode_batch, argmax on the
// device): the 4-token prompt <|startoftranscript|><|en|><|transcribe|><|0.00|>, then `tokens`
// tokens with <|endoftext|> suppressed. Runs on any device and precision the model supports and
// builds in the engine-only configuration (no FFmpeg), so it runs on the GPU machine. The log-mel
// itself is not part of this measurement (`hark bench --device cpu` times it on the CPU).
#pragma once

#include <vector>

#include "model/checkpoint.h"
#include "model/whisper_model.h"

namespace hark::bench {

struct ModelWorkloadOptions {
  int batch = 1;     // windows in flight
  int tokens = 128;  // tokens picked per window
  int runs = 3;      // timed runs (median reported)
  int warmup = 1;    // untimed runs first (shortened decoding)
};

struct ModelRun {
  double encoder_ms = 0;  // encode_batch of all windows
  double decoder_ms = 0;  // cross K/V projections + prompt + all steps
  double total_ms = 0;
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
