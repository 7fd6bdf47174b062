// What one window's decoding is asked to do, and what it returns (openai-whisper's
// DecodingOptions / DecodingResult, the subset the engine drives).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hark::decoding {

enum class Task { kTranscribe, kTranslate };

struct DecodingOptions {
  Task task = Task::kTranscribe;
  std::optional<std::string> language;  // ISO code; nullopt: detect (multilingual models)
  bool without_timestamps = false;
  int sample_len = 0;  // tokens to sample at most; 0: n_text_ctx / 2 (224), as OpenAI
  // Token ids to suppress at every step. use_default_suppress: the model's list (its
  // generation_config.json, or the tokenizer's non-speech symbols), like OpenAI's "-1".
  bool use_default_suppress = true;
  std::vector<int> suppress_tokens;
  bool suppress_blank = true;  // the begin-suppress tokens at the first sampled position
  std::vector<int> prompt;     // previous-text tokens, after <|startofprev|>
  bool suppress_eot = false;   // never end (benchmarks: a fixed number of tokens)
};

struct DecodingResult {
  std::vector<int> tokens;  // sampled tokens, without the prompt and without <|endoftext|>
  std::string text;
  std::string language;
  std::vector<std::pair<std::string, float>> language_probs;  // empty unless detected
  double sum_logprob = 0;
  double avg_logprob = 0;
  double no_speech_prob = 0;
  double temperature = 0;
  double compression_ratio = 0;
};

}  // namespace hark::decoding
