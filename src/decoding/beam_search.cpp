#include "decoding/beam_search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/error.h"

namespace hark::decoding {
namespace {

struct Beam {
  std::vector<int> tokens;  // prefix + sampled
  float sum_logprob = 0;
  std::unique_ptr<DecoderSequence> sequence;
  std::vector<float> logits;  // for the position after `tokens`
};

// One continuation of a live beam.
struct Expansion {
  float score;  // the beam's sum_logprob + the token's logprob
  int source;   // index of the beam it continues
  int token;
};

// Indices of the k largest entries, largest first; among equal values the lower index first.
std::vector<int> top_k(std::span<const float> x, int k) {
  std::vector<int> best;
  best.reserve(size_t(k) + 1);
  for (int i = 0; i < int(x.size()); ++i) {
    const float v = x[size_t(i)];
    if (int(best.size()) == k && !(v > x[size_t(best.back())])) continue;
    auto at = std::upper_bound(best.begin(), best.end(), v,
                               [&](float value, int j) { return value > x[size_t(j)]; });
    best.insert(at, i);
    if (int(best.size()) > k) best.pop_back();
  }
  return best;
}

class BeamSearch {
 public:
  BeamSearch(const SearchContext& ctx, const BeamSearchParams& p)
      : ctx_(ctx), p_(p), max_candidates_(max_beam_candidates(p)) {}

  SearchResult run(SearchStart start);

 private:
  std::vector<Expansion> expand();
  std::vector<Expansion> select(const std::vector<Expansion>& ranked);
  void advance(const std::vector<Expansion>& kept, bool step_model);
  void reorder_sequences(const std::vector<Expansion>& kept, std::vector<Beam>& next);
  SearchResult finalize();

  const SearchContext& ctx_;
  const BeamSearchParams& p_;
  const int max_candidates_;
  std::vector<Beam> beams_;
  std::vector<Candidate> finished_;
};

SearchResult BeamSearch::run(SearchStart start) {
  beams_.clear();
  finished_.clear();
  beams_.push_back(Beam{ctx_.prefix, 0, std::move(start.sequence), std::move(start.logits)});
  while (!beams_.empty() && int(beams_.front().tokens.size()) < ctx_.max_tokens) {
    const std::vector<Expansion> kept = select(expand());
    const bool done = int(finished_.size()) >= max_candidates_;
    const bool at_limit = int(beams_.front().tokens.size()) + 1 >= ctx_.max_tokens;
    advance(kept, /*step_model=*/!done && !at_limit);
    if (done) break;
  }
  return finalize();
}

// STEP 1 of decoding.py: every beam's beam_size + 1 likeliest continuations, best first (a
// stable order: ties keep beam order, then token order).
std::vector<Expansion> BeamSearch::expand() {
  std::vector<Expansion> all;
  std::vector<float> logprobs;
  for (size_t j = 0; j < beams_.size(); ++j) {
    Beam& b = beams_[j];
    ctx_.filter(b.logits, b.tokens);
    logprobs.resize(b.logits.size());
    log_softmax(b.logits, logprobs);
    for (int t : top_k(logprobs, p_.beam_size + 1)) {
      all.push_back(Expansion{b.sum_logprob + logprobs[size_t(t)], int(j), t});
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Expansion& a, const Expansion& b) { return a.score > b.score; });
  return all;
}

// STEP 2: walks the ranking, keeping beam_size live continuations; those ending in
// <|endoftext|> seen before the last kept one join the finished list while it has room.
std::vector<Expansion> BeamSearch::select(const std::vector<Expansion>& ranked) {
  std::vector<Expansion> kept;
  std::vector<Expansion> ended;
  for (const Expansion& e : ranked) {
    if (e.token == ctx_.eot) {
      ended.push_back(e);
      continue;
    }
    kept.push_back(e);
    if (int(kept.size()) == p_.beam_size) break;
  }
  for (const Expansion& e : ended) {
    if (int(finished_.size()) >= max_candidates_) break;
    const std::vector<int>& t = beams_[size_t(e.source)].tokens;
    finished_.push_back(
        Candidate{std::vector<int>(t.begin() + long(ctx_.prefix.size()), t.end()), e.score, true});
  }
  return kept;
}

// The kept continuations become the beams. The model is fed their tokens only when the search
// goes on.
void BeamSearch::advance(const std::vector<Expansion>& kept, bool step_model) {
  std::vector<Beam> next(kept.size());
  for (size_t k = 0; k < kept.size(); ++k) {
    const Beam& from = beams_[size_t(kept[k].source)];
    next[k].tokens = from.tokens;
    next[k].tokens.push_back(kept[k].token);
    next[k].sum_logprob = kept[k].score;
  }
  if (step_model) {
    reorder_sequences(kept, next);
    for (size_t k = 0; k < kept.size(); ++k) {
      next[k].logits.resize(beams_.front().logits.size());
      next[k].sequence->step(kept[k].token, next[k].logits);
    }
  }
  beams_ = std::move(next);
}

// decoding.py's rearrange_kv_cache: each new beam gets its source's decoder state. A source's
// first heir takes it over; further heirs copy it into the states of beams nobody continues
// (forking fresh ones only in the first step, which starts from a single beam).
void BeamSearch::reorder_sequences(const std::vector<Expansion>& kept, std::vector<Beam>& next) {
  std::vector<int> heir(beams_.size(), -1);
  for (size_t k = 0; k < kept.size(); ++k) {
    const int s = kept[k].source;
    if (heir[size_t(s)] >= 0) continue;
    heir[size_t(s)] = int(k);
    next[k].sequence = std::move(beams_[size_t(s)].sequence);
  }
  std::vector<std::unique_ptr<DecoderSequence>> spare;
  for (size_t s = 0; s < beams_.size(); ++s) {
    if (heir[s] < 0) spare.push_back(std::move(beams_[s].sequence));
  }
  for (size_t k = 0; k < kept.size(); ++k) {
    if (next[k].sequence) continue;
    const DecoderSequence& source = *next[size_t(heir[size_t(kept[k].source)])].sequence;
    if (spare.empty()) {
      next[k].sequence = source.fork();
    } else {
      next[k].sequence = std::move(spare.back());
      spare.pop_back();
      next[k].sequence->assign(source);
    }
  }
}

// Too few finished: the live beams join, likeliest first (decoding.py walks numpy's ascending
// argsort backwards, so equal scores come later beam first).
SearchResult BeamSearch::finalize() {
  SearchResult r;
  r.candidates = std::move(finished_);
  if (int(r.candidates.size()) < p_.beam_size) {
    std::vector<size_t> order(beams_.size());
    for (size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return beams_[a].sum_logprob < beams_[b].sum_logprob;
    });
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const Beam& b = beams_[*it];
      r.candidates.push_back(
          Candidate{std::vector<int>(b.tokens.begin() + long(ctx_.prefix.size()), b.tokens.end()),
                    b.sum_logprob, false});
      if (int(r.candidates.size()) >= p_.beam_size) break;
    }
  }
  HARK_CHECK(!r.candidates.empty(), ErrorKind::kInternal, "beam search ended without candidates");
  r.best = rank_candidates(r.candidates, p_.length_penalty);
  return r;
}

}  // namespace

int max_beam_candidates(const BeamSearchParams& p) {
  const double patience = p.patience.value_or(1.0);
  HARK_CHECK(p.beam_size >= 1, ErrorKind::kInvalidArgument, "beam_size must be >= 1, got {}",
             p.beam_size);
  HARK_CHECK(std::isfinite(patience) && patience > 0, ErrorKind::kInvalidArgument,
             "patience must be a finite value > 0, got {}", patience);
  const double n = std::nearbyint(double(p.beam_size) * patience);
  HARK_CHECK(n >= 1, ErrorKind::kInvalidArgument,
             "beam_size {} with patience {} collects no candidates", p.beam_size, patience);
  return int(std::min(n, double(std::numeric_limits<int>::max())));
}

SearchResult beam_search(SearchStart start, const SearchContext& ctx, const BeamSearchParams& p) {
  return BeamSearch(ctx, p).run(std::move(start));
}

}  // namespace hark::decoding
