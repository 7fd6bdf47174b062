#include "decoding/logit_filters.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hark::decoding {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void mask_range(std::span<float> logits, int begin, int end) {
  begin = std::max(begin, 0);
  end = std::min(end, int(logits.size()));
  for (int i = begin; i < end; ++i) logits[size_t(i)] = kNegInf;
}

// log(sum(exp(x))) over a range, stable; -inf when every entry is -inf.
double log_sum_exp(std::span<const float> x) {
  float m = kNegInf;
  for (float v : x) m = std::max(m, v);
  if (m == kNegInf) return kNegInf;
  double s = 0;
  for (float v : x) s += std::exp(double(v) - m);
  return m + std::log(s);
}

}  // namespace

void log_softmax(std::span<const float> logits, std::span<float> out) {
  const double lse = log_sum_exp(logits);
  for (size_t i = 0; i < logits.size(); ++i) out[i] = float(double(logits[i]) - lse);
}

LogitFilters::LogitFilters(const model::GenerationConfig& g, int n_vocab, int sample_begin,
                           std::vector<int> suppress_tokens, bool suppress_blank, bool timestamps)
    : g_(g),
      n_vocab_(n_vocab),
      sample_begin_(sample_begin),
      suppress_(std::move(suppress_tokens)),
      suppress_blank_(suppress_blank),
      timestamps_(timestamps) {}

void LogitFilters::apply(std::span<float> logits, std::span<const int> tokens) const {
  const bool at_begin = int(tokens.size()) == sample_begin_;
  if (suppress_blank_ && at_begin) {
    for (int t : g_.begin_suppress_tokens) {
      if (t >= 0 && t < n_vocab_) logits[size_t(t)] = kNegInf;
    }
  }
  for (int t : suppress_) {
    if (t >= 0 && t < n_vocab_) logits[size_t(t)] = kNegInf;
  }
  if (timestamps_) apply_timestamp_rules(logits, tokens.subspan(size_t(sample_begin_)));
}

void LogitFilters::apply_timestamp_rules(std::span<float> logits,
                                         std::span<const int> sampled) const {
  const int ts_begin = g_.timestamp_begin;
  if (g_.no_timestamps >= 0) logits[size_t(g_.no_timestamps)] = kNegInf;

  // Timestamps come in pairs, except directly before <|endoftext|>.
  const size_t n = sampled.size();
  const bool last_was_ts = n >= 1 && sampled[n - 1] >= ts_begin;
  const bool penultimate_was_ts = n < 2 || sampled[n - 2] >= ts_begin;
  if (last_was_ts) {
    if (penultimate_was_ts) {
      mask_range(logits, ts_begin, n_vocab_);  // must be text
    } else {
      mask_range(logits, 0, g_.eot);  // must be a timestamp or <|endoftext|>
    }
  }
  // Timestamps never decrease, and a segment has non-zero length.
  int last_ts = -1;
  for (int t : sampled) {
    if (t >= ts_begin) last_ts = t;
  }
  if (last_ts >= 0) {
    const int floor = (last_was_ts && !penultimate_was_ts) ? last_ts : last_ts + 1;
    mask_range(logits, ts_begin, floor);
  }
  if (n == 0) {  // the first sampled token is a timestamp, at most max_initial_timestamp
    mask_range(logits, 0, ts_begin);
    if (g_.max_initial_timestamp_index >= 0) {
      mask_range(logits, ts_begin + g_.max_initial_timestamp_index + 1, n_vocab_);
    }
  }
  // When the timestamps together are likelier than any single text token, sample a timestamp.
  std::vector<float> logprobs(logits.size());
  log_softmax(logits, logprobs);
  const double ts_logprob = log_sum_exp(std::span<const float>(logprobs).subspan(size_t(ts_begin)));
  float max_text = kNegInf;
  for (int i = 0; i < ts_begin; ++i) max_text = std::max(max_text, logprobs[size_t(i)]);
  if (ts_logprob > max_text) mask_range(logits, 0, ts_begin);
}

}  // namespace hark::decoding
