// The public result types: what a transcription returns, shaped like openai-whisper's result dict
// (and the OpenAI API's verbose_json): text, language, duration, segments, words.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace hark {

struct Word {
  std::string word;  // with its leading space, as OpenAI emits it
  double start = 0;
  double end = 0;
  double probability = 0;
};

struct Segment {
  int id = 0;
  int seek = 0;  // mel frame (10 ms units) where the window that produced it started
  double start = 0;
  double end = 0;
  std::string text;
  std::vector<int> tokens;  // including its timestamp tokens
  double temperature = 0;
  double avg_logprob = 0;
  double compression_ratio = 0;
  double no_speech_prob = 0;
  std::vector<Word> words;  // filled only with word timestamps
};

// Wall time spent in each stage of one transcribe() call, in milliseconds (seed 004's
// performance_metrics). Audio decoding happens before transcribe(); callers time it themselves.
struct StageTimings {
  double mel_ms = 0;
  double encoder_ms = 0;
  double decoder_ms = 0;    // language detection and window decoding, fallbacks included
  double alignment_ms = 0;  // word timestamps
  double total_ms = 0;
  int windows = 0;  // decoded windows (each fallback counts once)
};

struct Result {
  std::string text;
  std::string language;  // ISO code ("en")
  double duration = 0;   // seconds of audio
  std::vector<Segment> segments;
  bool has_words = false;
  std::string task = "transcribe";
  StageTimings timings;
};

}  // namespace hark
