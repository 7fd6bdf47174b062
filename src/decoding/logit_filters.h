// The logit filters OpenAI's decoding.py applies before each sampling step, in its order:
// SuppressBlank (at the first sampled position), SuppressTokens, ApplyTimestampRules. Each works on
// one sequence's logits row and the tokens so far, so batched and beam decoding reuse them.
#pragma once

#include <span>
#include <vector>

#include "model/config.h"

namespace hark::decoding {

class LogitFilters {
 public:
  // sample_begin: index in the token sequence of the first sampled token (the prompt's length).
  LogitFilters(const model::GenerationConfig& g, int n_vocab, int sample_begin,
               std::vector<int> suppress_tokens, bool suppress_blank, bool timestamps);

  // Sets disallowed entries of `logits` (n_vocab) to -inf given the full sequence `tokens`
  // (prompt + sampled so far).
  void apply(std::span<float> logits, std::span<const int> tokens) const;

 private:
  void apply_timestamp_rules(std::span<float> logits, std::span<const int> sampled) const;

  const model::GenerationConfig& g_;
  int n_vocab_;
  int sample_begin_;
  std::vector<int> suppress_;
  bool suppress_blank_;
  bool timestamps_;
};

// log_softmax of a logits row into `out` (same size); -inf entries stay -inf.
void log_softmax(std::span<const float> logits, std::span<float> out);

}  // namespace hark::decoding
