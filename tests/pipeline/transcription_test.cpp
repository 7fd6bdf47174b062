// pipeline::Transcription driven with scripted decoder outputs and no model: seeking, segment
// splitting, temperature fallback, no-speech skips, prompt conditioning, language detection,
// clip_timestamps, word-timestamp seeking and hallucination skipping. Token ids come from the real
// multilingual vocabulary; every expected value is worked out by hand from the rules of
// openai-whisper's transcribe.py (the comments show the arithmetic).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.h"
#include "pipeline/transcription.h"
#include "support/test_env.h"
#include "text/tokenizer.h"

namespace hark::pipeline {
namespace {

using decoding::DecodingResult;
using Kind = WindowJob::Kind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr double kEps = 1e-9;

const text::Tokenizer& tok() {
  static const text::Tokenizer t =
      text::Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51865);
  return t;
}

// <|seconds|>
int ts(double seconds) {
  return tok().specials().timestamp_begin + int(std::lround(seconds / 0.02));
}

void append(std::vector<int>& out, int id) { out.push_back(id); }
void append(std::vector<int>& out, const char* text) {
  const std::vector<int> ids = tok().encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}
void append(std::vector<int>& out, const std::vector<int>& ids) {
  out.insert(out.end(), ids.begin(), ids.end());
}

// Token ids from parts: an int is one id, a string is BPE-encoded, a vector is spliced in.
template <typename... Parts>
std::vector<int> seq(const Parts&... parts) {
  std::vector<int> out;
  (append(out, parts), ...);
  return out;
}

// A decoding that passes every threshold unless told otherwise.
DecodingResult decoded(std::vector<int> tokens, double avg_logprob = -0.3,
                       double no_speech_prob = 0.05, double compression_ratio = 1.2) {
  DecodingResult r;
  r.tokens = std::move(tokens);
  r.avg_logprob = avg_logprob;
  r.no_speech_prob = no_speech_prob;
  r.compression_ratio = compression_ratio;
  return r;
}

TranscriptionOptions english() {
  TranscriptionOptions o;
  o.language = "en";
  return o;
}

// The next job, which must be of `kind` (a copy, so it outlives the on_*() call).
WindowJob take(Transcription& t, Kind kind) {
  const WindowJob* job = t.next();
  if (job == nullptr) throw std::runtime_error("expected a job, the transcription is done");
  if (job->kind != kind) {
    throw std::runtime_error("expected job kind " + std::to_string(int(kind)) + ", got " +
                             std::to_string(int(job->kind)));
  }
  return *job;
}

// Answers the next job (a decode job) with r; returns the job.
WindowJob decode(Transcription& t, DecodingResult r) {
  WindowJob job = take(t, Kind::kDecode);
  t.on_decoded(std::move(r));
  return job;
}

void expect_segment(const Segment& s, int id, int seek, double start, double end,
                    const std::string& text) {
  EXPECT_EQ(s.id, id) << text;
  EXPECT_EQ(s.seek, seek) << text;
  EXPECT_NEAR(s.start, start, kEps) << text;
  EXPECT_NEAR(s.end, end, kEps) << text;
  EXPECT_EQ(s.text, text);
}

ErrorKind error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no hark::Error thrown";
  return ErrorKind::kInternal;
}

std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no hark::Error thrown";
  return "";
}

// ---------------------------------------------------------------------------------------------
// Splitting a window and seeking

TEST(TranscriptionSeek, ConsecutiveTimestampsEndingOnTextDropTheUnfinishedSegment) {
  Transcription t(english(), tok(), 6000);
  const auto s1 = seq(ts(0), " hello", ts(2));
  const auto s2 = seq(ts(2), " world", ts(4.5));
  const WindowJob w1 = decode(t, decoded(seq(s1, s2, ts(4.5), " unfinished")));
  EXPECT_EQ(w1.seek, 0);
  EXPECT_EQ(w1.segment_size, 3000);
  EXPECT_THAT(w1.options.prompt, IsEmpty());

  // The last pair is <|4.50|><|4.50|>: seek += 225 * 2 = 450; 55.5 s left, a full window.
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 450);
  EXPECT_EQ(w2.segment_size, 3000);
  EXPECT_EQ(w2.options.prompt, seq(s1, s2));

  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 2u);
  expect_segment(r.segments[0], 0, 0, 0.0, 2.0, " hello");
  expect_segment(r.segments[1], 1, 0, 2.0, 4.5, " world");
  EXPECT_EQ(r.segments[0].tokens, s1);
  EXPECT_EQ(r.segments[1].tokens, s2);
  EXPECT_EQ(r.text, " hello world");
}

TEST(TranscriptionSeek, ConsecutiveTimestampsEndingOnASingleTimestampSeekTheWholeWindow) {
  Transcription t(english(), tok(), 4000);
  const auto s1 = seq(ts(0), " a", ts(2));
  const auto s2 = seq(ts(2), " b", ts(5));
  decode(t, decoded(seq(s1, s2)));  // ends "... b<|5.00|>": a single timestamp
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 3000);          // seek += segment_size
  EXPECT_EQ(w2.segment_size, 1000);  // min(3000, 4000 - 3000)
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 2u);
  expect_segment(r.segments[0], 0, 0, 0.0, 2.0, " a");
  expect_segment(r.segments[1], 1, 0, 2.0, 5.0, " b");  // the last segment closes at <|5.00|>
  EXPECT_EQ(r.segments[1].tokens, s2);
}

TEST(TranscriptionSeek, ConsecutiveTimestampsEndingOnAPairSeekToThatTimestamp) {
  Transcription t(english(), tok(), 6000);
  decode(t, decoded(seq(ts(0), " a", ts(3), ts(3), " b", ts(7.5), ts(7.5))));
  // Slices end at both pairs; the trailing <|7.50|> after the last pair is dropped.
  EXPECT_EQ(take(t, Kind::kDecode).seek, 750);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 2u);
  expect_segment(r.segments[1], 1, 0, 3.0, 7.5, " b");
  EXPECT_EQ(r.segments[1].tokens, seq(ts(3), " b", ts(7.5)));
}

TEST(TranscriptionSeek, TimestampsWithoutAPairEndTheSegmentAtTheLastOne) {
  Transcription t(english(), tok(), 4200);
  // No consecutive pair: one segment from the window start (not from <|1.00|>) to the last
  // timestamp; seek += segment_size.
  const auto w1 = seq(ts(1.0), " hello", ts(3.5));
  decode(t, decoded(w1));
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 3000);
  EXPECT_EQ(w2.segment_size, 1200);
  // A lone <|0.00|> keeps the window's content duration: 30 + 12 s.
  t.on_decoded(decoded(seq(ts(0), " again")));
  EXPECT_EQ(t.next(), nullptr);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 2u);
  expect_segment(r.segments[0], 0, 0, 0.0, 3.5, " hello");
  EXPECT_EQ(r.segments[0].tokens, w1);
  expect_segment(r.segments[1], 1, 3000, 30.0, 42.0, " again");
}

TEST(TranscriptionSeek, NoTimestampsMakeOneSegmentPerWindow) {
  TranscriptionOptions o = english();
  o.timestamps = false;
  Transcription t(o, tok(), 2500);
  const WindowJob w = decode(t, decoded(seq(" hello world")));
  EXPECT_TRUE(w.options.without_timestamps);
  EXPECT_EQ(w.segment_size, 2500);
  EXPECT_EQ(t.next(), nullptr);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 0, 0.0, 25.0, " hello world");
  EXPECT_EQ(r.text, " hello world");
}

TEST(TranscriptionSeek, WindowsOver65Seconds) {
  Transcription t(english(), tok(), 6500);
  // Window 1 at 0: pairs at 10 and 27.5 s, then unfinished text -> seek 1375 * 2 = 2750.
  WindowJob w =
      decode(t, decoded(seq(ts(0), " one", ts(10), ts(10), " two", ts(27.5), ts(27.5), " three")));
  EXPECT_EQ(w.seek, 0);
  EXPECT_EQ(w.segment_size, 3000);
  EXPECT_NEAR(t.progress(), 2750.0 / 6500, kEps);
  // Window 2 at 2750, a full window: single timestamp ending at 30 s -> seek 2750 + 3000.
  w = decode(t, decoded(seq(ts(0), " four", ts(30))));
  EXPECT_EQ(w.seek, 2750);
  EXPECT_EQ(w.segment_size, 3000);
  // Window 3 at 5750, the remaining 750 frames; ends on a pair at 5 s -> seek 5750 + 500.
  w = decode(t, decoded(seq(ts(0), " five", ts(5), ts(5))));
  EXPECT_EQ(w.seek, 5750);
  EXPECT_EQ(w.segment_size, 750);
  // Window 4 at 6250, 250 frames: ends at <|9.00|> = 71.5 s, clipped to the content end 65 s.
  w = decode(t, decoded(seq(" six", ts(9))));
  EXPECT_EQ(w.seek, 6250);
  EXPECT_EQ(w.segment_size, 250);
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_TRUE(t.done());
  EXPECT_DOUBLE_EQ(t.progress(), 1.0);
  EXPECT_EQ(t.decode_attempts(), 4);

  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 5u);
  expect_segment(r.segments[0], 0, 0, 0.0, 10.0, " one");
  expect_segment(r.segments[1], 1, 0, 10.0, 27.5, " two");
  expect_segment(r.segments[2], 2, 2750, 27.5, 57.5, " four");
  expect_segment(r.segments[3], 3, 5750, 57.5, 62.5, " five");
  expect_segment(r.segments[4], 4, 6250, 62.5, 65.0, " six");
  EXPECT_EQ(r.text, " one two four five six");
  EXPECT_DOUBLE_EQ(r.duration, 65.0);
  EXPECT_EQ(r.language, "en");
  EXPECT_EQ(r.task, "transcribe");
  EXPECT_FALSE(r.has_words);
}

TEST(TranscriptionSeek, SegmentTimesAreClippedToTheContentEnd) {
  Transcription t(english(), tok(), 1000);
  // Pairs at 8 s and (12, 14) s; single timestamp ending at 16 s.
  decode(t, decoded(seq(ts(0), " six", ts(8), ts(8), " beyond", ts(12), ts(14), " ghost", ts(16))));
  EXPECT_EQ(t.next(), nullptr);  // seek += 1000
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 3u);
  expect_segment(r.segments[0], 0, 0, 0.0, 8.0, " six");
  expect_segment(r.segments[1], 1, 0, 8.0, 10.0, " beyond");  // 12 s clipped to 10 s
  // 14..16 s clipped to 10..10 s: instantaneous, so cleared.
  expect_segment(r.segments[2], 2, 0, 10.0, 10.0, "");
  EXPECT_THAT(r.segments[2].tokens, IsEmpty());
  EXPECT_EQ(r.text, " six beyond");
}

// transcribe.py would seek += 0 after "<|0.00|><|0.00|> x" and decode the same window forever;
// the machine moves on by the window instead (a documented guard, not openai-whisper's rule).
TEST(TranscriptionSeek, PairAtZeroDoesNotStall) {
  Transcription t(english(), tok(), 4000);
  decode(t, decoded(seq(ts(0), ts(0), " x")));
  EXPECT_EQ(take(t, Kind::kDecode).seek, 3000);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 0, 0.0, 0.0, "");
}

TEST(TranscriptionSeek, EmptyAndInstantaneousSegmentsAreKeptButCleared) {
  Transcription t(english(), tok(), 6000);
  const auto hi = seq(ts(0), " hi", ts(2));
  // Segments: [0, 2] " hi"; [2, 2] " x" (instantaneous); [3, 4] " " (blank); seek to 4 s.
  decode(t, decoded(seq(hi, ts(2), " x", ts(2), ts(3), " ", ts(4), ts(4))));
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 400);
  EXPECT_EQ(w2.options.prompt, hi);  // cleared segments add no tokens
  t.on_decoded(decoded(seq(ts(0), " next", ts(1))));

  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 4u);
  expect_segment(r.segments[0], 0, 0, 0.0, 2.0, " hi");
  expect_segment(r.segments[1], 1, 0, 2.0, 2.0, "");
  expect_segment(r.segments[2], 2, 0, 3.0, 4.0, "");
  expect_segment(r.segments[3], 3, 400, 4.0, 5.0, " next");
  EXPECT_THAT(r.segments[1].tokens, IsEmpty());
  EXPECT_THAT(r.segments[2].tokens, IsEmpty());
  EXPECT_EQ(r.text, " hi next");
}

// ---------------------------------------------------------------------------------------------
// No-speech skips

TEST(TranscriptionNoSpeech, SilentWindowIsSkipped) {
  Transcription t(english(), tok(), 4500);
  // no_speech_prob 0.7 > 0.6 and avg_logprob -1.5 < -1: silence, not retried, skipped.
  decode(t, decoded(seq(ts(0), " noise", ts(2)), -1.5, 0.7, 1.0));
  EXPECT_EQ(t.decode_attempts(), 1);
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 3000);  // seek += segment_size
  EXPECT_EQ(w2.segment_size, 1500);
  EXPECT_DOUBLE_EQ(w2.options.temperature, 0.0);
  EXPECT_THAT(w2.options.prompt, IsEmpty());
  EXPECT_THAT(t.result().segments, IsEmpty());
  t.on_decoded(decoded(seq(ts(0), " speech", ts(2))));
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 3000, 30.0, 32.0, " speech");
}

TEST(TranscriptionNoSpeech, ConfidentDecodingIsKeptDespiteNoSpeechProbability) {
  Transcription t(english(), tok(), 3000);
  decode(t, decoded(seq(ts(0), " quiet", ts(2)), -0.5, 0.9, 1.0));  // avg_logprob > -1
  EXPECT_EQ(t.next(), nullptr);
  ASSERT_EQ(t.result().segments.size(), 1u);
  EXPECT_EQ(t.result().segments[0].text, " quiet");
}

TEST(TranscriptionNoSpeech, DisabledNoSpeechThresholdNeverSkips) {
  TranscriptionOptions o = english();
  o.no_speech_threshold.reset();
  Transcription t(o, tok(), 3000);
  // Without the silence rule, avg_logprob -1.5 falls back through all six temperatures and the
  // last decoding is kept.
  for (int i = 0; i < 6; ++i) decode(t, decoded(seq(ts(0), " low", ts(2)), -1.5, 0.9, 1.0));
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.decode_attempts(), 6);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].text, " low");
  EXPECT_DOUBLE_EQ(r.segments[0].temperature, 1.0);
  EXPECT_DOUBLE_EQ(r.segments[0].no_speech_prob, 0.9);
}

TEST(TranscriptionNoSpeech, DisabledLogprobThresholdSkipsOnNoSpeechAlone) {
  TranscriptionOptions o = english();
  o.logprob_threshold.reset();
  Transcription t(o, tok(), 4000);
  decode(t, decoded(seq(ts(0), " hm", ts(2)), -0.2, 0.7, 1.0));
  EXPECT_EQ(t.decode_attempts(), 1);
  EXPECT_EQ(take(t, Kind::kDecode).seek, 3000);
  EXPECT_THAT(t.result().segments, IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// Temperature fallback

TEST(TranscriptionFallback, CompressionRatioRetriesTheWindowAtTheNextTemperature) {
  TranscriptionOptions o = english();
  o.patience = 1.5;
  Transcription t(o, tok(), 3000);
  const WindowJob j0 = take(t, Kind::kDecode);
  EXPECT_DOUBLE_EQ(j0.options.temperature, 0.0);
  EXPECT_EQ(j0.options.beam_size, 5);
  EXPECT_EQ(j0.options.patience, 1.5);
  EXPECT_EQ(j0.options.best_of, std::nullopt);
  EXPECT_EQ(j0.options.language, "en");
  t.on_decoded(decoded(seq(ts(0), " la la la", ts(2)), -0.2, 0.1, 2.6));  // 2.6 > 2.4

  const WindowJob j1 = take(t, Kind::kDecode);
  EXPECT_EQ(j1.seek, 0);
  EXPECT_EQ(j1.segment_size, 3000);
  EXPECT_DOUBLE_EQ(j1.options.temperature, 0.2);
  EXPECT_EQ(j1.options.best_of, 5);
  EXPECT_EQ(j1.options.beam_size, std::nullopt);
  EXPECT_EQ(j1.options.patience, std::nullopt);
  EXPECT_EQ(j1.options.prompt, j0.options.prompt);
  t.on_decoded(decoded(seq(ts(0), " fine", ts(2)), -0.2, 0.1, 1.1));

  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.decode_attempts(), 2);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].text, " fine");
  EXPECT_DOUBLE_EQ(r.segments[0].temperature, 0.2);
  EXPECT_DOUBLE_EQ(r.segments[0].compression_ratio, 1.1);
  EXPECT_DOUBLE_EQ(r.segments[0].avg_logprob, -0.2);
}

TEST(TranscriptionFallback, LowAverageLogprobRetries) {
  Transcription t(english(), tok(), 3000);
  decode(t, decoded(seq(ts(0), " mumble", ts(2)), -1.2, 0.1, 1.0));
  const WindowJob j1 = decode(t, decoded(seq(ts(0), " clear", ts(2)), -0.4, 0.1, 1.0));
  EXPECT_DOUBLE_EQ(j1.options.temperature, 0.2);
  EXPECT_EQ(t.decode_attempts(), 2);
  EXPECT_EQ(t.result().segments.at(0).text, " clear");
}

TEST(TranscriptionFallback, ThresholdsAreStrict) {
  Transcription t(english(), tok(), 3000);
  // compression_ratio == 2.4 and avg_logprob == -1.0 both pass.
  decode(t, decoded(seq(ts(0), " edge", ts(2)), -1.0, 0.1, 2.4));
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.decode_attempts(), 1);
  EXPECT_DOUBLE_EQ(t.result().segments.at(0).temperature, 0.0);
}

TEST(TranscriptionFallback, ExhaustionKeepsTheLastResult) {
  Transcription t(english(), tok(), 6000);
  const char* words[] = {" zero", " one", " two", " three", " four", " five"};
  const double temps[] = {0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  for (int i = 0; i < 6; ++i) {
    const WindowJob j = decode(t, decoded(seq(ts(0), words[i], ts(2)), -0.1, 0.1, 3.0));
    EXPECT_EQ(j.seek, 0);
    EXPECT_DOUBLE_EQ(j.options.temperature, temps[i]);
    EXPECT_EQ(j.options.best_of.has_value(), i > 0);
    EXPECT_EQ(j.options.beam_size.has_value(), i == 0);
  }
  EXPECT_EQ(t.decode_attempts(), 6);
  // Committed at temperature 1.0 > 0.5: the next window has no prompt.
  const WindowJob w2 = take(t, Kind::kDecode);
  EXPECT_EQ(w2.seek, 3000);
  EXPECT_THAT(w2.options.prompt, IsEmpty());
  EXPECT_DOUBLE_EQ(w2.options.temperature, 0.0);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].text, " five");
  EXPECT_DOUBLE_EQ(r.segments[0].temperature, 1.0);
  EXPECT_DOUBLE_EQ(r.segments[0].compression_ratio, 3.0);
}

TEST(TranscriptionFallback, SilenceSuppressesFallback) {
  Transcription t(english(), tok(), 3000);
  // Repetitive and improbable, but no_speech_prob 0.7 with avg_logprob < -1: no retry, skipped.
  decode(t, decoded(seq(ts(0), " la la", ts(2)), -1.5, 0.7, 3.0));
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.decode_attempts(), 1);
  EXPECT_THAT(t.result().segments, IsEmpty());
}

TEST(TranscriptionFallback, NoSpeechWithGoodLogprobStillRetriesARepetitiveDecoding) {
  Transcription t(english(), tok(), 3000);
  // The silence exception needs avg_logprob < logprob_threshold too (current transcribe.py).
  decode(t, decoded(seq(ts(0), " la la", ts(2)), -0.5, 0.7, 3.0));
  const WindowJob j1 = take(t, Kind::kDecode);
  EXPECT_DOUBLE_EQ(j1.options.temperature, 0.2);
  EXPECT_EQ(t.decode_attempts(), 1);
}

TEST(TranscriptionFallback, BeamSizeOneIsGreedy) {
  TranscriptionOptions o = english();
  o.beam_size = 1;
  Transcription t(o, tok(), 3000);
  const WindowJob j0 = take(t, Kind::kDecode);
  EXPECT_EQ(j0.options.beam_size, std::nullopt);
  EXPECT_EQ(j0.options.best_of, std::nullopt);
}

TEST(TranscriptionFallback, EveryAttemptsOptionsAreValidDecodingOptions) {
  TranscriptionOptions o = english();
  o.patience = 2.0;
  o.length_penalty = 0.5;
  o.seed = 7;
  Transcription t(o, tok(), 3000);
  for (int i = 0; i < 6; ++i) {
    const WindowJob j = decode(t, decoded(seq(ts(0), " x", ts(2)), -0.1, 0.1, 3.0));
    EXPECT_NO_THROW(j.options.validate()) << "attempt " << i;
    EXPECT_EQ(j.options.length_penalty, 0.5);
  }
  EXPECT_EQ(t.next(), nullptr);

  // An out-of-range length penalty passes through to the decode options, whose validation
  // (decoding.py's _verify_options plus ranges) rejects it.
  o.length_penalty = 2.0;
  Transcription bad(o, tok(), 3000);
  const WindowJob j = take(bad, Kind::kDecode);
  EXPECT_EQ(error_kind([&] { j.options.validate(); }), ErrorKind::kInvalidArgument);
  EXPECT_THAT(error_message([&] { j.options.validate(); }), HasSubstr("length_penalty"));
}

// ---------------------------------------------------------------------------------------------
// Prompt conditioning

TEST(TranscriptionPrompt, PreviousSegmentsBecomeThePrompt) {
  Transcription t(english(), tok(), 9000);
  const auto w1 = seq(ts(0), " one", ts(2), ts(2), " two", ts(4));
  decode(t, decoded(w1));
  const WindowJob j2 = take(t, Kind::kDecode);
  EXPECT_EQ(j2.seek, 3000);
  EXPECT_EQ(j2.options.prompt, w1);
  const auto w2 = seq(ts(0), " three", ts(3));
  t.on_decoded(decoded(w2));
  const WindowJob j3 = take(t, Kind::kDecode);
  EXPECT_EQ(j3.seek, 6000);
  EXPECT_EQ(j3.options.prompt, seq(w1, w2));
}

TEST(TranscriptionPrompt, TemperatureAboveHalfResetsThePrompt) {
  TranscriptionOptions o = english();
  o.temperatures = {0.0, 0.6};
  Transcription t(o, tok(), 9000);
  decode(t, decoded(seq(ts(0), " bad", ts(2)), -0.1, 0.1, 3.0));
  decode(t, decoded(seq(ts(0), " hot", ts(2))));  // kept at 0.6
  const WindowJob j2 = take(t, Kind::kDecode);
  EXPECT_THAT(j2.options.prompt, IsEmpty());
  const auto w2 = seq(ts(0), " cool", ts(2));
  t.on_decoded(decoded(w2));
  EXPECT_EQ(take(t, Kind::kDecode).options.prompt, w2);  // only what came after the reset
  EXPECT_EQ(t.result().text, " hot cool");
}

TEST(TranscriptionPrompt, TemperatureOfExactlyHalfKeepsThePrompt) {
  TranscriptionOptions o = english();
  o.temperatures = {0.0, 0.5};
  Transcription t(o, tok(), 6000);
  decode(t, decoded(seq(ts(0), " bad", ts(2)), -0.1, 0.1, 3.0));
  const auto w1 = seq(ts(0), " warm", ts(2));
  decode(t, decoded(w1));
  EXPECT_EQ(take(t, Kind::kDecode).options.prompt, w1);
}

TEST(TranscriptionPrompt, InitialPromptLeadsAndIsNotInTheText) {
  TranscriptionOptions o = english();
  o.initial_prompt_tokens = tok().encode(" Glossary: hark.");
  Transcription t(o, tok(), 6000);
  const auto w1 = seq(ts(0), " one", ts(2));
  const WindowJob j1 = decode(t, decoded(w1));
  EXPECT_EQ(j1.options.prompt, o.initial_prompt_tokens);
  EXPECT_EQ(take(t, Kind::kDecode).options.prompt, seq(o.initial_prompt_tokens, w1));
  t.on_decoded(decoded(seq(ts(0), " two", ts(2))));
  EXPECT_EQ(t.result().text, " one two");
}

TEST(TranscriptionPrompt, WithoutConditioningOnlyTheFirstWindowSeesTheInitialPrompt) {
  TranscriptionOptions o = english();
  o.condition_on_previous_text = false;
  o.initial_prompt_tokens = tok().encode(" Names: Ada.");
  Transcription t(o, tok(), 9000);
  // all_tokens starts with the initial prompt and prompt_reset_since is 0 until the first commit.
  EXPECT_EQ(decode(t, decoded(seq(ts(0), " one", ts(2)))).options.prompt, o.initial_prompt_tokens);
  EXPECT_THAT(decode(t, decoded(seq(ts(0), " two", ts(2)))).options.prompt, IsEmpty());
  EXPECT_THAT(decode(t, decoded(seq(ts(0), " three", ts(2)))).options.prompt, IsEmpty());
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.result().text, " one two three");
}

TEST(TranscriptionPrompt, CarryInitialPromptKeepsItInFrontAndTruncatesTheRest) {
  TranscriptionOptions o = english();
  o.carry_initial_prompt = true;
  o.temperatures = {0.0, 0.8};
  o.initial_prompt_tokens = {100, 200, 300};
  // n_text_ctx 16: remaining_prompt_length = 16 // 2 - 1 - 3 = 4.
  Transcription t(o, tok(), 5000, 16);
  const WindowJob j1 =
      decode(t, decoded(seq(ts(0), 1000, 1001, 1002, ts(2), ts(2), 1003, ts(4), ts(4))));
  EXPECT_THAT(j1.options.prompt, ElementsAre(100, 200, 300));
  // all_tokens = initial + [<0>, 1000, 1001, 1002, <2>, <2>, 1003, <4>]: the last 4 follow it.
  const WindowJob j2 = take(t, Kind::kDecode);
  EXPECT_EQ(j2.seek, 400);
  EXPECT_THAT(j2.options.prompt, ElementsAre(100, 200, 300, ts(2), ts(2), 1003, ts(4)));
  t.on_decoded(decoded(seq(ts(0), 1004, ts(1)), -0.1, 0.1, 3.0));  // retried
  const WindowJob j2b = take(t, Kind::kDecode);
  EXPECT_EQ(j2b.options.prompt, j2.options.prompt);
  t.on_decoded(decoded(seq(ts(0), 1005, ts(1))));  // kept at 0.8: prompt reset
  // Only the initial prompt survives the reset.
  const WindowJob j3 = take(t, Kind::kDecode);
  EXPECT_EQ(j3.seek, 3400);
  EXPECT_EQ(j3.segment_size, 1600);
  EXPECT_THAT(j3.options.prompt, ElementsAre(100, 200, 300));
}

TEST(TranscriptionPrompt, WithoutCarryTheWholeHistoryIsThePrompt) {
  TranscriptionOptions o = english();
  o.initial_prompt_tokens = {100, 200, 300};
  Transcription t(o, tok(), 5000, 16);
  const auto w1 = seq(ts(0), 1000, 1001, 1002, ts(2), ts(2), 1003, ts(4), ts(4));
  decode(t, decoded(w1));
  // transcribe.py leaves the cut to n_text_ctx // 2 - 1 to the decoder here.
  EXPECT_EQ(take(t, Kind::kDecode).options.prompt,
            seq(o.initial_prompt_tokens, std::vector<int>(w1.begin(), w1.end() - 1)));
}

// ---------------------------------------------------------------------------------------------
// Language

TEST(TranscriptionLanguage, DetectedFirstWhenNotGiven) {
  TranscriptionOptions o;  // multilingual vocabulary, no language
  Transcription t(o, tok(), 1500);
  const WindowJob d = take(t, Kind::kDetectLanguage);
  EXPECT_EQ(d.segment_size, 1500);
  EXPECT_EQ(d.seek, 0);
  EXPECT_DOUBLE_EQ(t.progress(), 0.0);
  EXPECT_EQ(error_kind([&] { t.on_decoded(decoded({})); }), ErrorKind::kInternal);
  t.on_language("de");
  EXPECT_EQ(t.language(), "de");
  const WindowJob j = decode(t, decoded(seq(ts(0), " hallo", ts(2))));
  EXPECT_EQ(j.options.language, "de");
  EXPECT_EQ(j.segment_size, 1500);
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_EQ(t.result().language, "de");
}

TEST(TranscriptionLanguage, GivenLanguageSkipsDetection) {
  TranscriptionOptions o;
  o.language = "fr";
  Transcription t(o, tok(), 3000);
  const WindowJob j = take(t, Kind::kDecode);
  EXPECT_EQ(j.options.language, "fr");
  EXPECT_EQ(error_kind([&] { t.on_language("de"); }), ErrorKind::kInternal);
}

TEST(TranscriptionLanguage, EnglishOnlyVocabularyIsEnglish) {
  const text::Tokenizer en =
      text::Tokenizer::from_tiktoken(hark::testing::asset("gpt2.tiktoken"), 51864);
  ASSERT_FALSE(en.specials().is_multilingual);
  Transcription t(TranscriptionOptions{}, en, 3000);
  const WindowJob* j = t.next();
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->kind, Kind::kDecode);
  EXPECT_EQ(j->options.language, "en");
}

TEST(TranscriptionLanguage, TranslateTaskIsPassedOn) {
  TranscriptionOptions o = english();
  o.task = decoding::Task::kTranslate;
  Transcription t(o, tok(), 3000);
  EXPECT_EQ(decode(t, decoded(seq(" hi"))).options.task, decoding::Task::kTranslate);
  EXPECT_EQ(t.result().task, "translate");
}

// ---------------------------------------------------------------------------------------------
// clip_timestamps

TEST(TranscriptionClips, OddCountRunsToTheEnd) {
  TranscriptionOptions o = english();
  o.clip_timestamps = {5, 10, 20};  // [5, 10) and [20, end)
  Transcription t(o, tok(), 3000);
  WindowJob j = decode(t, decoded(seq(" a")));
  EXPECT_EQ(j.seek, 500);
  EXPECT_EQ(j.segment_size, 500);  // bounded by the clip end
  // seek 1000 reaches the clip end: the next clip starts at 20 s.
  j = decode(t, decoded(seq(ts(0), " b", ts(4), ts(4), " c")));
  EXPECT_EQ(j.seek, 2000);
  EXPECT_EQ(j.segment_size, 1000);
  j = decode(t, decoded(seq(" d")));
  EXPECT_EQ(j.seek, 2400);
  EXPECT_EQ(j.segment_size, 600);
  EXPECT_EQ(t.next(), nullptr);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 3u);
  expect_segment(r.segments[0], 0, 500, 5.0, 10.0, " a");
  expect_segment(r.segments[1], 1, 2000, 20.0, 24.0, " b");
  expect_segment(r.segments[2], 2, 2400, 24.0, 30.0, " d");
}

TEST(TranscriptionClips, EvenCountStopsAtTheLastEnd) {
  TranscriptionOptions o = english();
  o.clip_timestamps = {5, 10};
  Transcription t(o, tok(), 3000);
  EXPECT_EQ(decode(t, decoded(seq(" a"))).segment_size, 500);
  EXPECT_EQ(t.next(), nullptr);
}

TEST(TranscriptionClips, SeekPastAClipEndRestartsAtTheNextClipStart) {
  TranscriptionOptions o = english();
  o.clip_timestamps = {0, 5, 8};
  Transcription t(o, tok(), 3000);
  // A pair at 9 s seeks to 900 >= 500: the next clip's start, 800, becomes the seek.
  decode(t, decoded(seq(ts(0), " x", ts(9), ts(9), " y")));
  const WindowJob j = take(t, Kind::kDecode);
  EXPECT_EQ(j.seek, 800);
  EXPECT_EQ(j.segment_size, 2200);
}

TEST(TranscriptionClips, ClipBeyondTheContentHasNoWindows) {
  TranscriptionOptions o = english();
  o.clip_timestamps = {40};
  Transcription t(o, tok(), 3000);
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_TRUE(t.done());
  EXPECT_DOUBLE_EQ(t.progress(), 1.0);
  EXPECT_THAT(t.result().segments, IsEmpty());
  EXPECT_EQ(t.result().text, "");
}

// ---------------------------------------------------------------------------------------------
// Word timestamps

Word word(const char* w, double start, double end, double probability = 0.9) {
  return Word{w, start, end, probability};
}

TEST(TranscriptionWords, AlignJobFollowsEachDecodeAndSeeksToTheLastWord) {
  TranscriptionOptions o = english();
  o.word_timestamps = true;
  Transcription t(o, tok(), 6000);

  // Window 1: pairs at 5 and 8 s, then unfinished text (split seek 800).
  decode(t, decoded(seq(ts(0), " hello world", ts(5), ts(5), " more", ts(8), ts(8), " tail")));
  WindowJob a = take(t, Kind::kAlign);
  EXPECT_EQ(a.seek, 0);
  EXPECT_EQ(a.segment_size, 3000);
  EXPECT_DOUBLE_EQ(a.last_speech_timestamp, 0.0);
  ASSERT_NE(a.segments, nullptr);
  ASSERT_EQ(a.segments->size(), 2u);
  EXPECT_NEAR((*a.segments)[1].end, 8.0, kEps);
  (*a.segments)[0].words = {word(" hello", 0.5, 1.0), word(" world", 1.2, 1.8)};
  (*a.segments)[1].words = {word(" more", 5.2, 7.9)};
  t.on_aligned();

  // Not a single-timestamp ending: seek = round(7.9 * 100).
  WindowJob d = decode(t, decoded(seq(ts(0), " again", ts(4))));
  EXPECT_EQ(d.seek, 790);
  a = take(t, Kind::kAlign);
  EXPECT_EQ(a.seek, 790);
  EXPECT_DOUBLE_EQ(a.last_speech_timestamp, 7.9);
  ASSERT_EQ(a.segments->size(), 1u);
  (*a.segments)[0].words = {word(" again", 8.0, 11.5)};
  t.on_aligned();

  // A single-timestamp ending keeps seek += segment_size: 3790.
  d = decode(t, decoded(seq(" end")));
  EXPECT_EQ(d.seek, 3790);
  EXPECT_EQ(d.segment_size, 2210);
  a = take(t, Kind::kAlign);
  EXPECT_DOUBLE_EQ(a.last_speech_timestamp, 11.5);
  EXPECT_NEAR((*a.segments)[0].end, 60.0, kEps);
  (*a.segments)[0].words = {word(" end", 38.0, 39.0)};
  t.on_aligned();

  // No timestamps at all: the last word (39 s) moves seek back from 6000 to 3900. That window is
  // silent (skipped, no align job) and the transcription ends at 3900 + 2100.
  d = decode(t, decoded(seq(" hum"), -1.5, 0.8));
  EXPECT_EQ(d.seek, 3900);
  EXPECT_EQ(d.segment_size, 2100);
  EXPECT_EQ(t.next(), nullptr);

  const Result r = t.result();
  EXPECT_TRUE(r.has_words);
  ASSERT_EQ(r.segments.size(), 4u);
  EXPECT_EQ(r.segments[0].words.size(), 2u);
  EXPECT_EQ(r.segments[1].words.at(0).word, " more");
  expect_segment(r.segments[2], 2, 790, 7.9, 11.9, " again");
  expect_segment(r.segments[3], 3, 3790, 37.9, 60.0, " end");
  EXPECT_EQ(r.text, " hello world more again end");
}

TEST(TranscriptionWords, WordsEndingBeforeTheWindowStartDoNotMoveSeek) {
  TranscriptionOptions o = english();
  o.word_timestamps = true;
  Transcription t(o, tok(), 6000);
  decode(t, decoded(seq(ts(0), " a", ts(2), ts(2), " b")));
  WindowJob a = take(t, Kind::kAlign);
  (*a.segments)[0].words = {word(" a", 0.0, 0.0)};  // last word end 0 is not > time_offset 0
  t.on_aligned();
  EXPECT_EQ(take(t, Kind::kDecode).seek, 200);
}

TEST(TranscriptionWords, WithoutWordsTheLastSegmentEndCounts) {
  TranscriptionOptions o = english();
  o.word_timestamps = true;
  Transcription t(o, tok(), 6000);
  // No pair: one segment 0..25 s (the last timestamp) and seek += segment_size, 3000.
  decode(t, decoded(seq(ts(1), " c", ts(25), " d")));
  take(t, Kind::kAlign);
  t.on_aligned();  // no words: get_end falls back to the last segment's end, 25 s
  EXPECT_EQ(take(t, Kind::kDecode).seek, 2500);
}

// ---------------------------------------------------------------------------------------------
// hallucination_silence_threshold (anomalous words: probability < 0.15 scores 1, a duration d
// under 0.133 s scores (0.133 - d) * 15; a segment is anomalous when its score >= 3 or
// score + 0.01 >= its word count)

TranscriptionOptions hallucination_options(double threshold) {
  TranscriptionOptions o = english();
  o.word_timestamps = true;
  o.hallucination_silence_threshold = threshold;
  return o;
}

TEST(TranscriptionHallucination, AnomalousFirstSegmentAfterALongGapSkipsTheSilence) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  decode(t, decoded(seq(ts(5), " uh", ts(5.5), ts(5.5), " real words", ts(9), ts(9))));
  WindowJob a = take(t, Kind::kAlign);
  ASSERT_EQ(a.segments->size(), 2u);
  // " uh": 1 + (0.133 - 0.05) * 15 = 2.245 >= 1 word - 0.01: anomalous; its gap is 5 s > 2 s.
  (*a.segments)[0].words = {word(" uh", 5.0, 5.05, 0.05)};
  (*a.segments)[1].words = {word(" real", 5.6, 6.5), word(" words", 6.6, 8.0)};
  t.on_aligned();

  // seek = 0 + round(5.0 * 100) and the window is dropped.
  const WindowJob d = take(t, Kind::kDecode);
  EXPECT_EQ(d.seek, 500);
  EXPECT_THAT(d.options.prompt, IsEmpty());
  EXPECT_THAT(t.result().segments, IsEmpty());
  t.on_decoded(decoded(seq(ts(0), " ok", ts(1))));
  a = take(t, Kind::kAlign);
  EXPECT_DOUBLE_EQ(a.last_speech_timestamp, 0.0);  // the dropped window left no speech
  (*a.segments)[0].words = {word(" ok", 5.1, 5.6)};
  t.on_aligned();
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 500, 5.0, 6.0, " ok");
}

TEST(TranscriptionHallucination, ProbableFirstSegmentIsKept) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  decode(t, decoded(seq(ts(5), " uh", ts(5.5), ts(5.5), " real words", ts(9), ts(9))));
  WindowJob a = take(t, Kind::kAlign);
  (*a.segments)[0].words = {word(" uh", 5.0, 5.4)};  // score 0 < 1 - 0.01
  (*a.segments)[1].words = {word(" real", 5.6, 6.5), word(" words", 6.6, 8.0)};
  t.on_aligned();
  // Remaining 30 - 8 = 22 s > 2 s: seek to the last word, 800.
  EXPECT_EQ(take(t, Kind::kDecode).seek, 800);
  EXPECT_EQ(t.result().segments.size(), 2u);
}

TEST(TranscriptionHallucination, AnomalySurroundedBySilenceTruncatesTheWindow) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  const auto good = seq(ts(0), " good speech", ts(3));
  decode(t, decoded(seq(good, ts(8), " uh", ts(8.5), ts(15), " more speech", ts(18), ts(18))));
  WindowJob a = take(t, Kind::kAlign);
  ASSERT_EQ(a.segments->size(), 3u);
  (*a.segments)[0].words = {word(" good", 0.5, 1.0), word(" speech", 1.1, 2.5)};
  (*a.segments)[1].words = {word(" uh", 8.0, 8.05, 0.05)};
  (*a.segments)[2].words = {word(" more", 15.2, 16.0), word(" speech", 16.1, 17.5)};
  t.on_aligned();
  // Before: 8.0 - 3.0 (the previous segment's end) > 2; after: 15.2 - 8.5 > 2. seek =
  // round(max(0 + 1, 8.0) * 100); 60 - 8.5 >= 2 so not the content end. Segments from it dropped.
  const WindowJob d = take(t, Kind::kDecode);
  EXPECT_EQ(d.seek, 800);
  EXPECT_EQ(d.options.prompt, good);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 0, 0.0, 3.0, " good speech");
  t.on_decoded(decoded(seq(ts(0), " next", ts(1))));
  EXPECT_DOUBLE_EQ(take(t, Kind::kAlign).last_speech_timestamp, 2.5);
}

TEST(TranscriptionHallucination, AnomalyFollowedByAnotherAnomalyTruncates) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  decode(t, decoded(seq(ts(0), " good speech", ts(3), ts(8), " uh", ts(8.5), ts(9), " um", ts(9.5),
                        ts(9.5))));
  WindowJob a = take(t, Kind::kAlign);
  ASSERT_EQ(a.segments->size(), 3u);
  (*a.segments)[0].words = {word(" good", 0.5, 1.0), word(" speech", 1.1, 2.5)};
  (*a.segments)[1].words = {word(" uh", 8.0, 8.05, 0.05)};
  (*a.segments)[2].words = {word(" um", 9.0, 9.04, 0.05)};  // 9.0 - 8.5 < 2, but anomalous
  t.on_aligned();
  EXPECT_EQ(take(t, Kind::kDecode).seek, 800);
  EXPECT_EQ(t.result().segments.size(), 1u);
}

TEST(TranscriptionHallucination, AnomalyCloseToSpeechIsKept) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  decode(t, decoded(seq(ts(0), " good speech", ts(3), ts(4), " uh", ts(4.5), ts(15), " more speech",
                        ts(18), ts(18))));
  WindowJob a = take(t, Kind::kAlign);
  ASSERT_EQ(a.segments->size(), 3u);
  (*a.segments)[0].words = {word(" good", 0.5, 1.0), word(" speech", 1.1, 2.5)};
  (*a.segments)[1].words = {word(" uh", 4.0, 4.05, 0.05)};
  (*a.segments)[2].words = {word(" more", 15.2, 16.0), word(" speech", 16.1, 17.5)};
  t.on_aligned();
  // Before: 4.0 - 3.0 <= 2, 4.0 >= 2, 4.0 - 0 >= 2: no silence before; nothing cut. The last
  // word ends at 17.5 with 12.5 s of the window left (> 2): seek 1750.
  EXPECT_EQ(take(t, Kind::kDecode).seek, 1750);
  EXPECT_EQ(t.result().segments.size(), 3u);
}

TEST(TranscriptionHallucination, LeadingAnomalyWithinTheThresholdIsCutByTheLoop) {
  Transcription t(hallucination_options(2.0), tok(), 6000);
  decode(t, decoded(seq(ts(0.4), " uh", ts(0.9), ts(10), " speech", ts(12), ts(12))));
  WindowJob a = take(t, Kind::kAlign);
  (*a.segments)[0].words = {word(" uh", 0.4, 0.45, 0.05)};
  (*a.segments)[1].words = {word(" speech", 10.2, 11.8)};
  t.on_aligned();
  // Gap 0.4 s <= 2: no leading skip. In the loop: start 0.4 < 2 (silence before) and
  // 10.2 - 0.9 > 2 (after): seek = round(max(0 + 1, 0.4) * 100) = 100, everything dropped.
  const WindowJob d = take(t, Kind::kDecode);
  EXPECT_EQ(d.seek, 100);
  EXPECT_THAT(t.result().segments, IsEmpty());
  t.on_decoded(decoded(seq(ts(0), " speech", ts(3))));
  EXPECT_DOUBLE_EQ(take(t, Kind::kAlign).last_speech_timestamp, 0.0);
}

TEST(TranscriptionHallucination, AnomalyStartingBeforeTheThresholdHasSilenceBefore) {
  TranscriptionOptions o = hallucination_options(10.0);
  o.clip_timestamps = {3};  // one window at 300: 3..33 s
  Transcription t(o, tok(), 6000);
  decode(t, decoded(seq(ts(3), " uh", ts(3.5), ts(3.5))));  // 6.0..6.5 s; split seek 650
  WindowJob a = take(t, Kind::kAlign);
  (*a.segments)[0].words = {word(" uh", 6.0, 6.05, 0.05)};
  t.on_aligned();
  // Last word 6.05 s (seek 605; 33 - 6.05 > 10 keeps it); gap 3 s <= 10: no leading skip.
  // Silence before only through start 6.0 < threshold 10 (6.0 - 0 <= 10, 6.0 - 3 >= 2);
  // after: 33 - 6.5 > 10. seek = round(max(3 + 1, 6.0) * 100) = 600; the segment is dropped.
  EXPECT_EQ(take(t, Kind::kDecode).seek, 600);
  EXPECT_THAT(t.result().segments, IsEmpty());
}

TEST(TranscriptionHallucination, AnomalyNearTheContentEndFinishes) {
  TranscriptionOptions o = hallucination_options(2.0);
  o.clip_timestamps = {10};  // one window at 1000 of 4000 frames: 10..40 s
  Transcription t(o, tok(), 4000);
  decode(t, decoded(seq(ts(0), " good speech", ts(3), ts(28.5), " uh", ts(29), ts(29))));
  WindowJob a = take(t, Kind::kAlign);
  EXPECT_EQ(a.seek, 1000);
  ASSERT_EQ(a.segments->size(), 2u);
  EXPECT_NEAR((*a.segments)[1].start, 38.5, kEps);
  (*a.segments)[0].words = {word(" good", 10.5, 11.0), word(" speech", 11.1, 12.5)};
  (*a.segments)[1].words = {word(" uh", 38.5, 38.55, 0.05)};
  t.on_aligned();
  // Before: 38.5 - 13 > 2; after: window end 40 - 39 < 2. seek would be 3850, but the content
  // ends 40 - 39 = 1 s < 2 s after the anomaly: seek = content_frames, done.
  EXPECT_EQ(t.next(), nullptr);
  const Result r = t.result();
  ASSERT_EQ(r.segments.size(), 1u);
  expect_segment(r.segments[0], 0, 1000, 10.0, 13.0, " good speech");
}

TEST(TranscriptionHallucination, RemainingDurationDecidesTheSeek) {
  const auto tokens = seq(ts(0), " long speech", ts(29), ts(29), " cut");
  const auto run = [&](std::optional<double> threshold) {
    TranscriptionOptions o = english();
    o.word_timestamps = true;
    o.hallucination_silence_threshold = threshold;
    Transcription t(o, tok(), 6000);
    decode(t, decoded(tokens));
    WindowJob a = take(t, Kind::kAlign);
    (*a.segments)[0].words = {word(" long", 27.0, 27.6), word(" speech", 27.8, 28.5)};
    t.on_aligned();
    return take(t, Kind::kDecode).seek;
  };
  EXPECT_EQ(run(std::nullopt), 2850);  // the last word's end
  EXPECT_EQ(run(1.0), 2850);           // 30 - 28.5 = 1.5 s left > 1
  EXPECT_EQ(run(2.0), 3000);           // 1.5 s left <= 2: previous_seek + segment_size
}

// ---------------------------------------------------------------------------------------------
// Progress, result, validation

TEST(TranscriptionState, ProgressAndDuration) {
  Transcription t(english(), tok(), 6000);
  EXPECT_DOUBLE_EQ(t.progress(), 0.0);
  decode(t, decoded(seq(ts(0), " a", ts(2))));
  EXPECT_DOUBLE_EQ(t.progress(), 0.5);
  EXPECT_FALSE(t.done());
  decode(t, decoded(seq(ts(0), " b", ts(2))));
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_TRUE(t.done());
  EXPECT_DOUBLE_EQ(t.progress(), 1.0);
  EXPECT_DOUBLE_EQ(t.result().duration, 60.0);
  EXPECT_EQ(error_kind([&] { t.on_aligned(); }), ErrorKind::kInternal);
}

TEST(TranscriptionState, EmptyContentIsDoneAtOnce) {
  Transcription t(english(), tok(), 0);
  EXPECT_EQ(t.next(), nullptr);
  EXPECT_DOUBLE_EQ(t.progress(), 1.0);
  EXPECT_DOUBLE_EQ(t.result().duration, 0.0);
}

TEST(TranscriptionState, InvalidOptionsAreRejected) {
  const auto rejects = [](const std::function<void(TranscriptionOptions&)>& edit,
                          const std::string& names) {
    TranscriptionOptions o = english();
    edit(o);
    EXPECT_EQ(error_kind([&] { o.validate(); }), ErrorKind::kInvalidArgument) << names;
    EXPECT_THAT(error_message([&] { Transcription tr(o, tok(), 3000); }), HasSubstr(names));
  };
  rejects([](auto& o) { o.temperatures = {0.0, -0.2}; }, "temperature");
  rejects([](auto& o) { o.temperatures.clear(); }, "temperature");
  rejects([](auto& o) { o.hallucination_silence_threshold = 2.0; },
          "hallucination_silence_threshold");
  rejects(
      [](auto& o) {
        o.word_timestamps = true;
        o.hallucination_silence_threshold = -1.0;
      },
      "hallucination_silence_threshold");
  rejects([](auto& o) { o.clip_timestamps = {-1.0, 5.0}; }, "clip_timestamps");
  rejects([](auto& o) { o.best_of = 0; }, "best_of");
  rejects([](auto& o) { o.beam_size = 0; }, "beam_size");
  rejects([](auto& o) { o.patience = 0.0; }, "patience");
  TranscriptionOptions ok = english();
  ok.word_timestamps = true;
  ok.hallucination_silence_threshold = 2.0;
  EXPECT_NO_THROW(ok.validate());
}

}  // namespace
}  // namespace hark::pipeline
