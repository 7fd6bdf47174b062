// Hugging Face config.json and generation_config.json -> ModelConfig / GenerationConfig.
// Every error names the file (the `source` given) and the field.
#pragma once

#include <string>
#include <string_view>

#include "model/config.h"

namespace hark::model {

// config.json fields read: vocab_size, num_mel_bins, d_model, encoder_layers,
// encoder_attention_heads, encoder_ffn_dim, decoder_layers, decoder_attention_heads,
// decoder_ffn_dim (all required); max_source_positions (default 1500), max_target_positions
// (default 448), activation_function (must be "gelu"), model_type (must be "whisper" if present),
// scale_embedding (must be false if present). The result is validated.
ModelConfig parse_hf_config(const std::string& json_text, const std::string& source);
ModelConfig read_hf_config(const std::string& path);  // kNotFound when the file is absent

// Starts from GenerationConfig::defaults_for_vocab(cfg.n_vocab) and overrides it from the file:
// decoder_start_token_id, eos_token_id, no_timestamps_token_id, prev_sot_token_id, lang_to_id,
// task_to_id, is_multilingual, suppress_tokens, begin_suppress_tokens,
// max_initial_timestamp_index, max_length, alignment_heads. Ids that contradict the layout the
// vocabulary size implies (eos != eot, a language at another id, ...) are errors, as are token
// ids outside the vocabulary and alignment heads outside the decoder.
GenerationConfig parse_generation_config(const std::string& json_text, const ModelConfig& cfg,
                                         const std::string& source);
// As parse_generation_config; a missing file gives defaults_for_vocab(cfg.n_vocab).
GenerationConfig read_generation_config(const std::string& path, const ModelConfig& cfg);

// The config.json field that sets a ModelConfig member ("n_mels" -> "num_mel_bins"); members
// without a field keep their own name. Usable as ModelConfig::validate's field namer.
std::string_view hf_config_field(std::string_view member);

// The whole file as a string. Throws kNotFound / kIo naming the path.
std::string read_text_file(const std::string& path);

}  // namespace hark::model
