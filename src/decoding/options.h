// What one window's decoding is asked to do, and what it returns (openai-whisper's
// DecodingOptions / DecodingResult, the subset the engine drives).
//
// The strategy follows from the options as in decoding.py: beam_size set -> beam search
// (temperature 0); else temperature 0 -> greedy; else temperature sampling, best_of independent
// samples (1 when unset). Beams and samples are ranked by the maximum-likelihood ranker with
// length_penalty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hark::decoding {

enum class Task { kTranscribe, kTranslate };

// The most samples (best_of) or beams (beam_size) one window may ask for: each holds a decoder
// state, so the bound keeps one request's memory in check.
inline constexpr int kMaxCandidates = 128;

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

  // Sampling. temperature 0: argmax (or beam search); > 0: draws from
  // softmax(filtered logits / temperature).
  double temperature = 0;
  std::optional<int> best_of;    // independent samples to rank (temperature > 0 only)
  std::optional<int> beam_size;  // beams (temperature 0 only)
  // Beam search collects round(beam_size * patience) finished candidates before it stops
  // (https://arxiv.org/abs/2204.05424); unset: 1.
  std::optional<double> patience;
  // Ranking: unset divides sum_logprob by the token count; alpha in [0, 1] divides it by
  // ((5 + length) / 6) ^ alpha (Google NMT).
  std::optional<double> length_penalty;
  // Seeds the sampler: equal seeds and options give equal results. Sample i of best_of draws
  // from its own stream of this seed, so it does not depend on the other samples.
  uint64_t seed = 0;

  // Throws Error(kInvalidArgument) with one line naming the offending option when the
  // combination is invalid (decoding.py's _verify_options, plus range checks).
  void validate() const;
};

struct DecodingResult {
  std::vector<int> tokens;  // sampled tokens, without the prompt and without <|endoftext|>
  std::string text;
  std::string language;
  std::vector<std::pair<std::string, float>> language_probs;  // empty unless detected
  double sum_logprob = 0;  // of the sampled tokens, <|endoftext|> included when it was sampled
  double avg_logprob = 0;  // sum_logprob / (tokens.size() + 1), as OpenAI
  double no_speech_prob = 0;
  double temperature = 0;
  double compression_ratio = 0;
  // Candidates ranked to choose this result: best_of samples or finished beams (1 for greedy).
  int n_candidates = 1;
};

}  // namespace hark::decoding
