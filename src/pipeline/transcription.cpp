#include "pipeline/transcription.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "decoding/word_timing.h"
#include "pipeline/segments.h"

namespace hark::pipeline {
namespace {

constexpr double kSecondsPerFrame = 0.01;
constexpr int kInputStride = 2;  // mel frames per timestamp step (20 ms)

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

const std::string kPunctuation =
    "\"'\xe2\x80\x9c\xc2\xbf([{-\"'.\xe3\x80\x82,\xef\xbc\x8c!\xef\xbc\x81?"
    "\xef\xbc\x9f:\xef\xbc\x9a\xe2\x80\x9d)]}\xe3\x80\x81";

bool is_punctuation(const std::string& w) {
  return kPunctuation.find(w) != std::string::npos;  // Python `in`: "" is in every string
}

// transcribe.py's anomaly score: very short, very long or improbable words.
double word_anomaly_score(const Word& w) {
  double score = 0;
  const double duration = w.end - w.start;
  if (w.probability < 0.15) score += 1.0;
  if (duration < 0.133) score += (0.133 - duration) * 15;
  if (duration > 2.0) score += duration - 2.0;
  return score;
}

bool is_segment_anomaly(const Segment* s) {
  if (s == nullptr || s->words.empty()) return false;
  std::vector<const Word*> words;
  for (const Word& w : s->words) {
    if (!is_punctuation(w.word) && words.size() < 8) words.push_back(&w);
  }
  double score = 0;
  for (const Word* w : words) score += word_anomaly_score(*w);
  return score >= 3 || score + 0.01 >= double(words.size());
}

const Segment* next_words_segment(const std::vector<Segment>& segs, size_t from) {
  for (size_t i = from; i < segs.size(); ++i) {
    if (!segs[i].words.empty()) return &segs[i];
  }
  return nullptr;
}

int to_frames(double seconds) { return int(std::lround(seconds * kFramesPerSecond)); }

}  // namespace

void TranscriptionOptions::validate() const {
  HARK_CHECK(!temperatures.empty(), ErrorKind::kInvalidArgument, "temperature: at least one value");
  for (double t : temperatures) {
    HARK_CHECK(std::isfinite(t) && t >= 0, ErrorKind::kInvalidArgument,
               "temperature must be >= 0, got {}", t);
  }
  HARK_CHECK(!best_of || *best_of >= 1, ErrorKind::kInvalidArgument, "best_of must be >= 1");
  HARK_CHECK(!beam_size || *beam_size >= 1, ErrorKind::kInvalidArgument, "beam_size must be >= 1");
  HARK_CHECK(!patience || *patience > 0, ErrorKind::kInvalidArgument, "patience must be > 0");
  HARK_CHECK(!hallucination_silence_threshold || word_timestamps, ErrorKind::kInvalidArgument,
             "hallucination_silence_threshold needs word timestamps (--word-timestamps)");
  HARK_CHECK(!hallucination_silence_threshold || *hallucination_silence_threshold >= 0,
             ErrorKind::kInvalidArgument, "hallucination_silence_threshold must be >= 0");
  for (double c : clip_timestamps) {
    HARK_CHECK(std::isfinite(c) && c >= 0, ErrorKind::kInvalidArgument,
               "clip_timestamps must be non-negative seconds, got {}", c);
  }
}

Transcription::Transcription(TranscriptionOptions options, const text::Tokenizer& tokenizer,
                             int content_frames, int n_text_ctx)
    : o_(std::move(options)),
      tok_(tokenizer),
      content_frames_(std::max(content_frames, 0)),
      n_text_ctx_(n_text_ctx) {
  o_.validate();
  std::vector<int> points;
  for (double c : o_.clip_timestamps) points.push_back(std::min(to_frames(c), content_frames_));
  if (points.empty()) points.push_back(0);
  if (points.size() % 2 == 1) points.push_back(content_frames_);
  for (size_t i = 0; i + 1 < points.size(); i += 2) clips_.emplace_back(points[i], points[i + 1]);
  all_tokens_ = o_.initial_prompt_tokens;
  if (o_.language) {
    language_ = *o_.language;
  } else if (!tok_.specials().is_multilingual) {
    language_ = "en";
  }
}

const WindowJob* Transcription::next() {
  if (state_ == State::kStart) {
    if (language_.empty()) {
      job_ = WindowJob{};
      job_.kind = WindowJob::Kind::kDetectLanguage;
      job_.segment_size = std::min(kWindowFrames, content_frames_);
      return &job_;
    }
    start_window();
  }
  return state_ == State::kDone ? nullptr : &job_;
}

void Transcription::on_language(const std::string& code) {
  HARK_CHECK(state_ == State::kStart && language_.empty(), ErrorKind::kInternal,
             "on_language without a language job");
  language_ = code;
  start_window();
}

bool Transcription::advance_clip() {
  while (clip_index_ < clips_.size()) {
    const auto [start, end] = clips_[clip_index_];
    if (seek_ < start) seek_ = start;
    if (seek_ < end) return true;
    if (++clip_index_ < clips_.size()) seek_ = clips_[clip_index_].first;
  }
  return false;
}

void Transcription::start_window() {
  if (!advance_clip()) {
    state_ = State::kDone;
    return;
  }
  const int clip_end = clips_[clip_index_].second;
  job_ = WindowJob{};
  job_.kind = WindowJob::Kind::kDecode;
  job_.seek = seek_;
  job_.segment_size = std::min({kWindowFrames, content_frames_ - seek_, clip_end - seek_});
  temperature_index_ = 0;
  job_.options = decode_options(o_.temperatures[0]);
  state_ = State::kDecode;
}

std::vector<int> Transcription::window_prompt() const {
  if (!o_.carry_initial_prompt) {
    return {all_tokens_.begin() + long(prompt_reset_since_), all_tokens_.end()};
  }
  const std::vector<int>& initial = o_.initial_prompt_tokens;
  const size_t ignored = std::max(initial.size(), prompt_reset_since_);
  const long room = long(n_text_ctx_ / 2) - 1 - long(initial.size());
  std::vector<int> prompt = initial;
  if (room > 0 && ignored < all_tokens_.size()) {
    const size_t available = all_tokens_.size() - ignored;
    const size_t take = std::min(available, size_t(room));
    prompt.insert(prompt.end(), all_tokens_.end() - long(take), all_tokens_.end());
  }
  return prompt;
}

decoding::DecodingOptions Transcription::decode_options(double temperature) const {
  decoding::DecodingOptions d;
  d.task = o_.task;
  d.language = language_;
  d.without_timestamps = !o_.timestamps;
  d.prompt = window_prompt();
  d.use_default_suppress = o_.use_default_suppress;
  d.suppress_tokens = o_.suppress_tokens;
  d.suppress_blank = o_.suppress_blank;
  d.temperature = temperature;
  d.length_penalty = o_.length_penalty;
  d.seed = o_.seed + uint64_t(decode_attempts_);
  if (temperature > 0) {
    d.best_of = o_.best_of;
  } else if (o_.beam_size && *o_.beam_size > 1) {
    d.beam_size = o_.beam_size;
    d.patience = o_.patience;
  }
  return d;
}

bool Transcription::needs_fallback(const decoding::DecodingResult& r) const {
  bool fallback = false;
  if (o_.compression_ratio_threshold && r.compression_ratio > *o_.compression_ratio_threshold) {
    fallback = true;  // too repetitive
  }
  if (o_.logprob_threshold && r.avg_logprob < *o_.logprob_threshold) fallback = true;
  if (o_.no_speech_threshold && r.no_speech_prob > *o_.no_speech_threshold &&
      o_.logprob_threshold && r.avg_logprob < *o_.logprob_threshold) {
    fallback = false;  // silence: skipped below rather than retried
  }
  return fallback;
}

void Transcription::on_decoded(decoding::DecodingResult r) {
  HARK_CHECK(state_ == State::kDecode, ErrorKind::kInternal, "on_decoded without a decode job");
  ++decode_attempts_;
  r.temperature = o_.temperatures[temperature_index_];
  if (needs_fallback(r) && temperature_index_ + 1 < o_.temperatures.size()) {
    ++temperature_index_;
    job_.options = decode_options(o_.temperatures[temperature_index_]);
    return;
  }
  finish_window(r);
}

void Transcription::finish_window(const decoding::DecodingResult& r) {
  const int segment_size = job_.segment_size;
  if (o_.no_speech_threshold) {
    bool skip = r.no_speech_prob > *o_.no_speech_threshold;
    if (o_.logprob_threshold && r.avg_logprob > *o_.logprob_threshold) skip = false;
    if (skip) {
      seek_ += segment_size;
      start_window();
      return;
    }
  }
  last_result_ = r;
  previous_seek_ = seek_;
  const double time_offset = seek_ * kSecondsPerFrame;
  WindowSplit split =
      split_window(r.tokens, time_offset, segment_size * kSecondsPerFrame, seek_, tok_);
  single_timestamp_ending_ = split.single_timestamp_ending;
  if (split.last_timestamp_pos > 0) {
    seek_ += split.last_timestamp_pos * kInputStride;
  } else {
    seek_ += segment_size;  // no pair of timestamps, a single-timestamp ending, or a stall
  }
  const double content_end = content_frames_ * kSecondsPerFrame;
  for (Segment& s : split.segments) {
    s.temperature = r.temperature;
    s.avg_logprob = r.avg_logprob;
    s.compression_ratio = r.compression_ratio;
    s.no_speech_prob = r.no_speech_prob;
    s.start = std::min(s.start, content_end);
    s.end = std::min(s.end, content_end);
  }
  window_segments_ = std::move(split.segments);
  if (o_.word_timestamps) {
    job_ = WindowJob{};
    job_.kind = WindowJob::Kind::kAlign;
    job_.seek = previous_seek_;
    job_.segment_size = segment_size;
    job_.segments = &window_segments_;
    job_.last_speech_timestamp = last_speech_timestamp_;
    state_ = State::kAlign;
    return;
  }
  commit_window();
}

void Transcription::on_aligned() {
  HARK_CHECK(state_ == State::kAlign, ErrorKind::kInternal, "on_aligned without an align job");
  after_alignment();
}

void Transcription::after_alignment() {
  const int segment_size = job_.segment_size;
  const double time_offset = previous_seek_ * kSecondsPerFrame;
  const double window_end = (previous_seek_ + kWindowFrames) * kSecondsPerFrame;
  std::vector<Segment>& segs = window_segments_;
  if (!single_timestamp_ending_) {
    const auto end = decoding::segments_end(segs);
    if (end && *end > time_offset) seek_ = to_frames(*end);
  }
  if (o_.hallucination_silence_threshold) {
    const double threshold = *o_.hallucination_silence_threshold;
    if (!single_timestamp_ending_) {
      const auto end = decoding::segments_end(segs);
      if (end && *end > time_offset) {
        seek_ = window_end - *end > threshold ? to_frames(*end) : previous_seek_ + segment_size;
      }
    }
    // A possible hallucination first in the window: skip the silence before it, drop the window.
    const Segment* first = next_words_segment(segs, 0);
    if (first && is_segment_anomaly(first)) {
      const double gap = first->start - time_offset;
      if (gap > threshold) {
        seek_ = previous_seek_ + to_frames(gap);
        start_window();
        return;
      }
    }
    // Cut at a possible hallucination surrounded by silence or by more hallucinations.
    double hal_last_end = last_speech_timestamp_;
    const double content_duration = content_frames_ * kSecondsPerFrame;
    for (size_t i = 0; i < segs.size(); ++i) {
      if (segs[i].words.empty()) continue;
      if (is_segment_anomaly(&segs[i])) {
        const Segment* next = next_words_segment(segs, i + 1);
        const double next_start =
            next ? next->words.front().start : time_offset + segment_size * kSecondsPerFrame;
        const bool silence_before = segs[i].start - hal_last_end > threshold ||
                                    segs[i].start < threshold || segs[i].start - time_offset < 2.0;
        const bool silence_after = next_start - segs[i].end > threshold ||
                                   is_segment_anomaly(next) || window_end - segs[i].end < 2.0;
        if (silence_before && silence_after) {
          seek_ = to_frames(std::max(time_offset + 1, segs[i].start));
          if (content_duration - segs[i].end < threshold) seek_ = content_frames_;
          segs.erase(segs.begin() + long(i), segs.end());
          break;
        }
      }
      hal_last_end = segs[i].end;
    }
  }
  if (const auto end = decoding::segments_end(segs)) last_speech_timestamp_ = *end;
  commit_window();
}

void Transcription::commit_window() {
  for (Segment& s : window_segments_) {
    if (s.start == s.end || is_blank(s.text)) {
      s.text.clear();
      s.tokens.clear();
      s.words.clear();
    }
    s.id = int(segments_.size());
    all_tokens_.insert(all_tokens_.end(), s.tokens.begin(), s.tokens.end());
    segments_.push_back(std::move(s));
  }
  window_segments_.clear();
  if (!o_.condition_on_previous_text || last_result_.temperature > 0.5) {
    prompt_reset_since_ = all_tokens_.size();
  }
  start_window();
}

double Transcription::progress() const {
  if (state_ == State::kDone || content_frames_ == 0) return 1.0;
  return std::min(1.0, double(seek_) / content_frames_);
}

Result Transcription::result() const {
  Result r;
  r.language = language_;
  r.task = o_.task == decoding::Task::kTranslate ? "translate" : "transcribe";
  r.segments = segments_;
  std::vector<int> text_tokens;
  for (size_t i = o_.initial_prompt_tokens.size(); i < all_tokens_.size(); ++i) {
    if (all_tokens_[i] < tok_.specials().eot) text_tokens.push_back(all_tokens_[i]);
  }
  r.text = tok_.decode(text_tokens);
  r.has_words = o_.word_timestamps;
  r.duration = content_frames_ * kSecondsPerFrame;
  return r;
}

}  // namespace hark::pipeline
