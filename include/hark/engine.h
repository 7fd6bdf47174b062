// hark's public engine API: load a Whisper checkpoint once, transcribe many inputs with it.
// Apps and the server include only include/hark/. Thread-safety: transcribe() may be called from
// several threads at once; each call keeps its own decoder state.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hark/result.h"

namespace hark {

struct EngineOptions {
  std::string model_path;      // HF directory, .safetensors file, or whisper.cpp ggml .bin
  std::string tokenizer_path;  // optional: tokenizer.json, or a .tiktoken file
  int threads = 0;             // CPU threads; 0: all cores
  // auto | cpu | cuda | cuda:N. auto takes GPU 0 when one can be used, else the CPU (with one
  // info log line saying why); cuda and cuda:N fail with Error(kUnsupported) when they cannot.
  std::string device = "auto";
  // default | float32 | float16 | bfloat16 | int8 | int8_float32 | int8_float16 | int8_bfloat16.
  // default: float16 on a GPU, float32 on the CPU (the only activation type the CPU runs).
  // int8_X: the linear layers' weights int8 with per-channel scales, activations X; int8: int8
  // weights with the device's default activations.
  std::string compute_type = "default";
  // auto | int8: the cross-attention K/V each window keeps for decoding. auto: the compute type's
  // float dtype; int8: int8 with one fp32 scale per (key position, head), about half the bytes a
  // decoder step reads at large batches (fp16 activations) for a small accuracy cost.
  std::string cross_kv = "auto";
};

// Transcription options, named and defaulted as openai-whisper's CLI (see docs/CLI.md).
struct TranscribeOptions {
  std::string language = "auto";    // ISO code, or "auto" to detect (multilingual models)
  std::string task = "transcribe";  // transcribe | translate
  bool timestamps = true;           // segment-level timestamp tokens
  // Temperatures tried in order until a window passes the thresholds (fallback).
  std::vector<double> temperature{0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
  std::optional<int> best_of = 5;    // candidates when sampling (temperature > 0)
  std::optional<int> beam_size = 5;  // beams at temperature 0; nullopt or 1: greedy
  std::optional<double> patience;
  std::optional<double> length_penalty;
  std::optional<double> compression_ratio_threshold = 2.4;
  std::optional<double> logprob_threshold = -1.0;
  std::optional<double> no_speech_threshold = 0.6;
  bool condition_on_previous_text = true;
  std::string initial_prompt;  // text placed before the first window, as previous text
  bool carry_initial_prompt = false;
  bool word_timestamps = false;
  std::optional<double> hallucination_silence_threshold;  // seconds (with word_timestamps)
  std::vector<double> clip_timestamps;                    // start,end,... seconds to transcribe
  std::string suppress_tokens = "-1";  // comma-separated ids; -1: the model's default set
  bool suppress_blank = true;
  uint64_t seed = 0;  // sampling seed (temperature > 0)
  // Called after each window with the fraction of the audio done (0..1).
  std::function<void(double)> on_progress;
  // Called with each segment as soon as it is final (in order, before transcribe() returns), for
  // streaming responses.
  std::function<void(const Segment&)> on_segment;
  // Polled before each window's work; when it returns true, transcribe() stops and throws
  // Error(kCancelled) (a client that went away, a deadline that passed).
  std::function<bool()> cancelled;
};

struct ModelInfo {
  std::string path;
  std::string format;        // safetensors | ggml
  std::string size_name;     // tiny, base, ..., large-v3-turbo, custom
  std::string device;        // cpu | cuda:N
  std::string compute_type;  // float32 | float16 | bfloat16 | int8_float32 | int8_float16 | ...
  std::string cross_kv;      // auto | int8 (EngineOptions::cross_kv)
  std::string device_name;   // "NVIDIA H100 80GB HBM3", or "CPU (N threads)"
  int n_vocab = 0;
  int n_mels = 0;
  int d_model = 0;
  int encoder_layers = 0;
  int decoder_layers = 0;
  bool multilingual = true;
};

class Engine {
 public:
  // Loads and validates everything up front; throws hark::Error naming what is wrong.
  static std::unique_ptr<Engine> load(const EngineOptions& options);
  ~Engine();

  // pcm: 16 kHz mono float samples. Throws hark::Error (kInvalidArgument for bad options,
  // kInvalidAudio for empty audio).
  Result transcribe(std::span<const float> pcm, const TranscribeOptions& options) const;

  const ModelInfo& info() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hark
