// openai-whisper's GreedyDecoder: each sequence on its own, taking the argmax at temperature 0,
// else a draw from softmax(filtered logits / temperature); with best_of, independent samples
// ranked by the maximum-likelihood ranker. Log-probabilities are those of the filtered logits at
// temperature 1, as decoding.py sums them.
#pragma once

#include <cstdint>
#include <optional>

#include "decoding/sampler.h"

namespace hark::decoding {

struct SamplingParams {
  double temperature = 1;  // > 0
  int best_of = 1;         // independent samples, >= 1
  uint64_t seed = 0;       // sample i draws from Rng(seed, i)
  std::optional<double> length_penalty;
};

// Continues `sequence` (fed ctx.prefix; `logits` its next-token logits) until <|endoftext|> or
// ctx.max_tokens: filters, then picks the argmax (rng null) or draws at `temperature` from rng.
Candidate sample_sequence(DecoderSequence& sequence, std::vector<float> logits,
                          const SearchContext& ctx, double temperature, Rng* rng);

// Temperature 0: the one argmax sequence.
SearchResult greedy_search(SearchStart start, const SearchContext& ctx);

// best_of samples, each from its own fork of the start, ranked. Throws kInvalidArgument for a
// temperature <= 0 or best_of < 1.
SearchResult sampling_search(SearchStart start, const SearchContext& ctx, const SamplingParams& p);

}  // namespace hark::decoding
