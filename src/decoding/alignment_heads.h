// Which decoder cross-attention heads word timing reads (openai-whisper's alignment heads): the
// checkpoint's own list (generation_config.json), else OpenAI's preset for the released model of
// the same shape (whisper.cpp's ggml files carry none), else every head of the last half of the
// decoder layers, as openai-whisper does for models without a preset.
#pragma once

#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "model/config.h"

namespace hark::decoding {

using AlignmentHeads = std::vector<std::pair<int, int>>;  // (decoder layer, head), both 0-based

// OpenAI's preset for one of its model names ("tiny.en", "tiny", "base.en", "base", "small.en",
// "small", "medium.en", "medium", "large-v1", "large-v2", "large-v3", "large-v3-turbo", and the
// aliases "large" = large-v3, "turbo" = large-v3-turbo). Empty for any other name.
AlignmentHeads alignment_heads_preset(std::string_view model_name);

// The name of the released model whose decoder this config has, or "" when none matches:
// d_model / decoder layers / heads pick the size; English-only ("*.en") when !multilingual
// (there is no English-only large); large-v3 versus v2 by the v3 vocabulary (n_vocab 51866) or
// 128 mel bins; large-v3-turbo by its 4 decoder layers at d_model 1280. large-v1 has v2's shape
// and is reported as large-v2 (their heads differ; a v1 ggml file needs explicit heads).
std::string_view released_model_name(const model::ModelConfig& cfg, bool multilingual);

// alignment_heads_preset(released_model_name(cfg, multilingual)): empty when no model matches.
AlignmentHeads alignment_heads_preset(const model::ModelConfig& cfg, bool multilingual);

// Every head of layers n_text_layer / 2 .. n_text_layer - 1, layer-major (openai-whisper's
// default).
AlignmentHeads default_alignment_heads(const model::ModelConfig& cfg);

// The heads word timing should use: generation.alignment_heads when non-empty; else, when
// use_preset (checkpoints without a generation config of their own, e.g. ggml files), the preset
// of the matching released model; else (or when none matches) default_alignment_heads(cfg).
// Throws kInvalidModel when a listed head lies outside the decoder.
AlignmentHeads resolve_alignment_heads(const model::ModelConfig& cfg,
                                       const model::GenerationConfig& generation, bool use_preset);

}  // namespace hark::decoding
