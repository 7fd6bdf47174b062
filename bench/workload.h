// PERF.md's standard workload, runnable for any named Whisper shape with weights drawn in-process:
// one window = log-mel of 30 s of audio (3000 frames), one encoder pass, then greedy decoding of
// `tokens` tokens after the prompt <|startoftranscript|><|en|><|transcribe|><|0.00|> with
// <|endoftext|> suppressed, so every implementation does the same work.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"

namespace hark::bench {

struct WorkloadOptions {
  int batch = 1;               // windows per run (processed one after another on the CPU)
  int tokens = 128;            // tokens sampled per window
  int runs = 3;                // timed runs (median reported)
  int warmup = 1;              // untimed runs first
  bool int8_weights = false;   // the CPU model with int8 linear weights (--compute-type int8)
  bool int8_cross_kv = false;  // int8 cross-attention K/V (--cross-kv int8)
};

struct StageTimes {
  double mel_ms = 0;
  double encoder_ms = 0;
  double decoder_ms = 0;  // all decoder steps of the window(s), prompt included
  double total_ms = 0;
};

struct WorkloadReport {
  StageTimes median;     // per run of `batch` windows: the median of each stage independently
  double window_ms = 0;  // median total / batch
  double rtfx = 0;       // 30 s * batch / median total
  double per_token_ms = 0;
  std::vector<StageTimes> runs;
};

WorkloadReport run_standard_workload(const model::Checkpoint& checkpoint,
                                     const WorkloadOptions& options);

}  // namespace hark::bench
