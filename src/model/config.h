// The hyper-parameters of a Whisper checkpoint and its generation settings (special tokens,
// suppression lists, alignment heads). Read from HF config.json + generation_config.json, or
// derived from a ggml file's hparams; where generation_config.json is absent, derived from
// n_vocab as OpenAI's tokenizer lays the tokens out (see ../shared/design/ORACLE.md).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hark::model {

struct ModelConfig {
  int n_vocab = 0;
  int n_mels = 80;
  int n_audio_ctx = 1500;  // encoder positions (max_source_positions)
  int n_audio_state = 0;   // d_model
  int n_audio_head = 0;
  int n_audio_layer = 0;
  int n_audio_ffn = 0;   // encoder_ffn_dim (4 * d_model in every released model)
  int n_text_ctx = 448;  // max_target_positions
  int n_text_state = 0;
  int n_text_head = 0;
  int n_text_layer = 0;
  int n_text_ffn = 0;
  float layer_norm_eps = 1e-5f;

  // "tiny", "base", "small", "medium", "large", "large-v3-turbo"-like name for logs, from shape.
  std::string size_name() const;
  // Throws Error(kInvalidModel) naming the field when a value is out of range or inconsistent.
  void validate() const;
  // As validate(), with messages prefixed by `source` ("config.json") and each field named as
  // `field_name` maps the member's name ("n_mels" -> "num_mel_bins"); null keeps member names.
  void validate(std::string_view source, std::string_view (*field_name)(std::string_view)) const;
};

// Special token ids and decoding defaults. All ids are absolute token ids.
struct GenerationConfig {
  int eot = -1;  // <|endoftext|>
  int sot = -1;  // <|startoftranscript|>
  int translate = -1;
  int transcribe = -1;
  int sot_lm = -1;
  int sot_prev = -1;
  int no_speech = -1;  // <|nospeech|> (called <|nocaptions|> in v1/v2 vocabularies)
  int no_timestamps = -1;
  int timestamp_begin = -1;  // <|0.00|>
  bool is_multilingual = true;
  // language code -> token id, in token order ("en" -> 50259, ...). Empty for English-only.
  std::vector<std::pair<std::string, int>> languages;
  std::vector<int> suppress_tokens;        // non-speech symbols, suppressed at every step
  std::vector<int> begin_suppress_tokens;  // suppressed at the first sampled position
  int max_initial_timestamp_index = 50;
  int max_length = 448;
  std::vector<std::pair<int, int>> alignment_heads;  // (layer, head) pairs for word timing

  std::optional<int> language_token(const std::string& code) const;
  std::optional<std::string> language_code(int token) const;

  // The layout OpenAI's tokenizer implies for a vocabulary of n_vocab tokens (51864: English-only,
  // 51865: v1/v2, 51866: v3), with the language list in token order. Throws for other sizes.
  static GenerationConfig defaults_for_vocab(int n_vocab);
};

// The 100 language codes in Whisper's token order ("en", "zh", "de", ...), and their names.
const std::vector<std::pair<std::string, std::string>>& whisper_languages();

}  // namespace hark::model
