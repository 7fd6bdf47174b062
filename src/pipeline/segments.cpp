#include "pipeline/segments.h"

namespace hark::pipeline {
namespace {

constexpr double kTimePrecision = 0.02;

Segment make_segment(std::vector<int> tokens, double start, double end, int seek,
                     const text::Tokenizer& tok) {
  Segment s;
  s.seek = seek;
  s.start = start;
  s.end = end;
  std::vector<int> text_tokens;
  for (int t : tokens) {
    if (t < tok.specials().eot) text_tokens.push_back(t);
  }
  s.text = tok.decode(text_tokens);
  s.tokens = std::move(tokens);
  return s;
}

}  // namespace

WindowSplit split_window(const std::vector<int>& tokens, double time_offset,
                         double content_duration, int seek, const text::Tokenizer& tok) {
  WindowSplit out;
  const size_t n = tokens.size();
  auto is_ts = [&](size_t i) { return tok.is_timestamp(tokens[i]); };
  const int ts_begin = tok.specials().timestamp_begin;
  out.single_timestamp_ending = n >= 2 && !is_ts(n - 2) && is_ts(n - 1);

  std::vector<size_t> slices;
  for (size_t i = 1; i < n; ++i) {
    if (is_ts(i - 1) && is_ts(i)) slices.push_back(i);
  }
  if (!slices.empty()) {
    if (out.single_timestamp_ending) slices.push_back(n);
    size_t last = 0;
    for (size_t cur : slices) {
      std::vector<int> piece(tokens.begin() + long(last), tokens.begin() + long(cur));
      const double start = time_offset + (piece.front() - ts_begin) * kTimePrecision;
      const double end = time_offset + (piece.back() - ts_begin) * kTimePrecision;
      out.segments.push_back(make_segment(std::move(piece), start, end, seek, tok));
      last = cur;
    }
    if (!out.single_timestamp_ending) out.last_timestamp_pos = tokens[last - 1] - ts_begin;
    return out;
  }
  double duration = content_duration;
  int last_ts = -1;
  for (int t : tokens) {
    if (tok.is_timestamp(t)) last_ts = t;
  }
  if (last_ts >= 0 && last_ts != ts_begin) duration = (last_ts - ts_begin) * kTimePrecision;
  out.segments.push_back(make_segment(tokens, time_offset, time_offset + duration, seek, tok));
  return out;
}

}  // namespace hark::pipeline
