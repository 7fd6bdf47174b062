#include "decoding/greedy.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace hark::decoding {

Candidate sample_sequence(DecoderSequence& sequence, std::vector<float> logits,
                          const SearchContext& ctx, double temperature, Rng* rng) {
  std::vector<int> tokens = ctx.prefix;
  std::vector<float> logprobs(logits.size());
  Candidate c;
  while (int(tokens.size()) < ctx.max_tokens) {
    ctx.filter(logits, tokens);
    log_softmax(logits, logprobs);
    const int next = rng ? sample_categorical(logits, temperature, *rng)
                         : int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    c.sum_logprob += logprobs[size_t(next)];
    if (next == ctx.eot) {
      c.finished = true;
      break;
    }
    tokens.push_back(next);
    if (int(tokens.size()) >= ctx.max_tokens) break;
    sequence.step(next, logits);
  }
  c.tokens.assign(tokens.begin() + long(ctx.prefix.size()), tokens.end());
  return c;
}

SearchResult greedy_search(SearchStart start, const SearchContext& ctx) {
  SearchResult r;
  r.candidates.push_back(
      sample_sequence(*start.sequence, std::move(start.logits), ctx, 0, /*rng=*/nullptr));
  return r;
}

SearchResult sampling_search(SearchStart start, const SearchContext& ctx, const SamplingParams& p) {
  HARK_CHECK(p.temperature > 0 && std::isfinite(p.temperature), ErrorKind::kInvalidArgument,
             "sampling needs a finite temperature > 0, got {}", p.temperature);
  HARK_CHECK(p.best_of >= 1, ErrorKind::kInvalidArgument, "best_of must be >= 1, got {}",
             p.best_of);
  SearchResult r;
  for (int i = 0; i < p.best_of; ++i) {
    Rng rng(p.seed, uint64_t(i));
    // The last sample continues the start itself; the others continue copies of it.
    const bool last = i + 1 == p.best_of;
    std::unique_ptr<DecoderSequence> copy = last ? nullptr : start.sequence->fork();
    DecoderSequence& seq = last ? *start.sequence : *copy;
    r.candidates.push_back(sample_sequence(seq, start.logits, ctx, p.temperature, &rng));
  }
  r.best = rank_candidates(r.candidates, p.length_penalty);
  return r;
}

}  // namespace hark::decoding
