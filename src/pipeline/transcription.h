// Transcription: openai-whisper's transcribe() loop as a state machine that a driver runs one job
// at a time. The machine owns the policy (seeking, clip ranges, temperature fallback, no-speech
// skips, prompt conditioning, hallucination skipping); the driver owns the compute (encoder,
// decoder, alignment), so the CPU engine and a GPU batch scheduler drive the same logic:
//
//   Transcription t(options, tokenizer, content_frames);
//   while (const WindowJob* job = t.next()) {
//     switch (job->kind) { ...run it...; t.on_language(...) / t.on_decoded(...) / t.on_aligned() }
//   }
//   Result r = t.result();
//
// Facts follow openai-whisper's transcribe.py (v20240930): 30 s windows from `seek`, timestamp-
// based seeking, single-timestamp endings, fallback over temperatures when the compression ratio
// or average log-probability fail, skips when no_speech_prob and avg_logprob say silence, prompt
// reset above temperature 0.5, initial/carry prompts, clip_timestamps and
// hallucination_silence_threshold (word timestamps only).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "decoding/options.h"
#include "hark/result.h"
#include "text/tokenizer.h"

namespace hark::pipeline {

inline constexpr int kWindowFrames = 3000;    // 30 s of mel frames
inline constexpr int kFramesPerSecond = 100;  // 10 ms hop

struct TranscriptionOptions {
  std::optional<std::string> language;  // nullopt: detected on the first 30 s
  decoding::Task task = decoding::Task::kTranscribe;
  bool timestamps = true;  // false: <|notimestamps|> (one segment per window)
  // Temperature fallback: tried in order until a decoding passes the thresholds.
  std::vector<double> temperatures{0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  std::optional<int> best_of = 5;    // samples at temperature > 0
  std::optional<int> beam_size = 5;  // beams at temperature 0 (nullopt or 1: greedy)
  std::optional<double> patience;
  std::optional<double> length_penalty;
  std::optional<double> compression_ratio_threshold = 2.4;
  std::optional<double> logprob_threshold = -1.0;
  std::optional<double> no_speech_threshold = 0.6;
  bool condition_on_previous_text = true;
  std::vector<int> initial_prompt_tokens;  // tokenizer.encode(" " + prompt.strip())
  bool carry_initial_prompt = false;       // keep the initial prompt in every window's prompt
  bool word_timestamps = false;
  std::optional<double> hallucination_silence_threshold;  // seconds; needs word_timestamps
  std::vector<double> clip_timestamps;  // start,end,start,end... seconds; odd count: to the end
  bool use_default_suppress = true;
  std::vector<int> suppress_tokens;
  bool suppress_blank = true;
  uint64_t seed = 0;

  // Throws Error(kInvalidArgument) naming the option (ranges, combinations).
  void validate() const;
};

struct WindowJob {
  enum class Kind { kDetectLanguage, kDecode, kAlign };
  Kind kind = Kind::kDecode;
  int seek = 0;          // first mel frame of the window
  int segment_size = 0;  // frames of the window that are content (<= 3000); the rest is padding
  decoding::DecodingOptions options;  // kDecode
  // kAlign: the window's segments, whose `words` the driver fills (and whose start/end it may
  // refine) given last_speech_timestamp, before calling on_aligned().
  std::vector<Segment>* segments = nullptr;
  double last_speech_timestamp = 0;
};

class Transcription {
 public:
  // content_frames: mel frames of real audio (samples / 160). Validates the options.
  Transcription(TranscriptionOptions options, const text::Tokenizer& tokenizer, int content_frames,
                int n_text_ctx = 448);

  // The job to run next, or nullptr when the transcription is complete. The pointer stays valid
  // until the matching on_*() call.
  const WindowJob* next();

  void on_language(const std::string& code);
  void on_decoded(decoding::DecodingResult result);
  void on_aligned();

  bool done() const { return state_ == State::kDone; }
  // Fraction of the content already transcribed, 0..1 (for progress reporting).
  double progress() const;
  const std::string& language() const { return language_; }
  // The result so far (complete once done()).
  Result result() const;
  // Windows decoded, counting each fallback attempt.
  int decode_attempts() const { return decode_attempts_; }

 private:
  enum class State { kStart, kDecode, kAlign, kDone };

  void start_window();
  decoding::DecodingOptions decode_options(double temperature) const;
  bool needs_fallback(const decoding::DecodingResult& r) const;
  void finish_window(const decoding::DecodingResult& r);
  void after_alignment();
  void commit_window();
  std::vector<int> window_prompt() const;
  bool advance_clip();

  TranscriptionOptions o_;
  const text::Tokenizer& tok_;
  int content_frames_;
  int n_text_ctx_;
  std::vector<std::pair<int, int>> clips_;
  size_t clip_index_ = 0;

  State state_ = State::kStart;
  WindowJob job_;
  std::string language_;
  int seek_ = 0;
  int previous_seek_ = 0;
  size_t temperature_index_ = 0;
  int decode_attempts_ = 0;
  bool single_timestamp_ending_ = false;
  decoding::DecodingResult last_result_;
  std::vector<Segment> window_segments_;
  double last_speech_timestamp_ = 0;

  std::vector<int> all_tokens_;
  size_t prompt_reset_since_ = 0;
  std::vector<Segment> segments_;
};

}  // namespace hark::pipeline
