// openai-whisper's BeamSearchDecoder over DecoderSequences, one per beam. Each step takes, for
// every live beam, the beam_size + 1 likeliest next tokens (log_softmax of the filtered logits),
// ranks all continuations by cumulative log-probability, keeps the best beam_size that do not end
// in <|endoftext|>, and collects those that do (the ones ranked above the last kept beam) until
// round(beam_size * patience) are finished. At the end, live beams fill the candidates up to
// beam_size when too few finished, and the maximum-likelihood ranker picks one.
//
// Scores accumulate in fp32, as decoding.py's sum_logprobs tensor does, so that near-ties order
// the same way. Decoding starts from one beam: decoding.py's beam_size identical copies of the
// prefix merge into one set of continuations in its first step.
#pragma once

#include <optional>

#include "decoding/sampler.h"

namespace hark::decoding {

struct BeamSearchParams {
  int beam_size = 5;               // >= 1
  std::optional<double> patience;  // > 0; unset: 1
  std::optional<double> length_penalty;
};

// round(beam_size * patience), rounding halves to even as Python's round does. Throws
// kInvalidArgument when beam_size < 1, patience is not > 0, or the result is < 1.
int max_beam_candidates(const BeamSearchParams& p);

// Runs the search from `start` under `ctx`; candidates are the finished sequences in the order
// they finished, then the live beams the final step adds. Throws as max_beam_candidates.
SearchResult beam_search(SearchStart start, const SearchContext& ctx, const BeamSearchParams& p);

}  // namespace hark::decoding
