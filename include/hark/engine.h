// hark's public engine API: load a Whisper checkpoint once, transcribe many inputs with it.
// Apps and the server include only include/hark/. Thread-safety: transcribe() may be called from
// several threads at once; each call keeps its own decoder state.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "hark/result.h"

namespace hark {

struct EngineOptions {
  std::string model_path;       // HF directory, .safetensors file, or whisper.cpp ggml .bin
  std::string tokenizer_path;   // optional: tokenizer.json, or a .tiktoken file
  int threads = 0;              // CPU threads; 0: all cores
  std::string device = "auto";  // auto | cpu (cuda comes with the CUDA backend)
};

struct TranscribeOptions {
  std::string language = "auto";    // ISO code, or "auto" to detect (multilingual models)
  std::string task = "transcribe";  // transcribe | translate
  bool timestamps = true;           // segment-level timestamp tokens
  std::string initial_prompt;       // text placed before the first window, as previous text
};

struct ModelInfo {
  std::string path;
  std::string format;     // safetensors | ggml
  std::string size_name;  // tiny, base, ..., large-v3-turbo, custom
  std::string device;     // cpu
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
