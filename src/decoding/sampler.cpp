#include "decoding/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace hark::decoding {

void SearchContext::filter(std::span<float> logits, std::span<const int> tokens) const {
  filters.apply(logits, tokens);
  if (suppress_eot && eot >= 0 && size_t(eot) < logits.size()) {
    logits[size_t(eot)] = -std::numeric_limits<float>::infinity();
  }
}

double ranking_score(double sum_logprob, size_t length, std::optional<double> length_penalty) {
  const double penalty =
      length_penalty ? std::pow((5.0 + double(length)) / 6.0, *length_penalty) : double(length);
  if (penalty == 0) return -std::numeric_limits<double>::infinity();
  return sum_logprob / penalty;
}

size_t rank_candidates(std::span<const Candidate> candidates,
                       std::optional<double> length_penalty) {
  HARK_CHECK(!candidates.empty(), ErrorKind::kInternal, "rank_candidates: no candidates");
  size_t best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    const double s = ranking_score(c.sum_logprob, c.tokens.size(), length_penalty);
    if (s > best_score) {
      best = i;
      best_score = s;
    }
  }
  return best;
}

namespace {

// splitmix64: spreads (seed, stream) over the engine's seed space.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

Rng::Rng(uint64_t seed, uint64_t stream) : engine_(mix(mix(seed) ^ stream)) {}

double Rng::uniform() { return double(engine_() >> 11) * 0x1.0p-53; }

int sample_categorical(std::span<const float> logits, double temperature, Rng& rng) {
  const auto top = std::max_element(logits.begin(), logits.end());
  const float m = *top;
  if (!(m > -std::numeric_limits<float>::infinity())) return int(top - logits.begin());
  std::vector<double> weights(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    weights[i] = std::exp((double(logits[i]) - m) / temperature);
    total += weights[i];
  }
  const double u = rng.uniform() * total;
  double cumulative = 0;
  int last = -1;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0) continue;
    cumulative += weights[i];
    last = int(i);
    if (u < cumulative) return last;
  }
  return last;  // u rounded up to the total
}

}  // namespace hark::decoding
