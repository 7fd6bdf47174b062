// The named Whisper shapes PERF.md's workload runs on, and checkpoints of those shapes with random
// weights drawn in process (speed does not depend on the values), so that no checkpoint has to
// travel to the machine being measured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/checkpoint.h"
#include "model/config.h"
#include "model/whisper_model.h"

namespace hark::bench {

// tiny, base, small, medium, large-v3, large-v3-turbo. Throws kInvalidArgument listing them.
model::ModelConfig shape_config(const std::string& name);
const std::vector<std::string>& shape_names();

// A checkpoint of fp32 tensors of the right shapes with random values (deterministic per seed).
model::Checkpoint random_checkpoint(const model::ModelConfig& cfg, uint64_t seed);

// The workload's decoding: <|startoftranscript|>[<|en|><|transcribe|>]<|0.00|>, then `tokens`
// greedy tokens with <|endoftext|> suppressed (the last one is sampled but not fed back).
void decode_standard_tokens(const model::WhisperModel& m, const model::GenerationConfig& g,
                            const Tensor& encoder_out, int tokens);

// n uniform values in [-scale, scale], deterministic per seed.
void fill_uniform(float* p, size_t n, float scale, uint64_t seed);

}  // namespace hark::bench
