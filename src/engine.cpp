// The CPU engine behind include/hark/engine.h: checkpoint + fp32 model + tokenizer + mel filters,
// loaded once; each transcribe() call computes the log-mel, encodes, decodes and splits segments.
#include "hark/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "audio/decode.h"
#include "audio/mel.h"
#include "core/error.h"
#include "decoding/window_decoder.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "pipeline/segments.h"
#include "text/tokenizer.h"

namespace hark {

struct Engine::Impl {
  model::Checkpoint checkpoint;
  std::unique_ptr<model::WhisperModel> model;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<decoding::WindowDecoder> decoder;
  Tensor mel_filters;
  ModelInfo info;
};

namespace {

decoding::Task parse_task(const std::string& task) {
  if (task == "transcribe") return decoding::Task::kTranscribe;
  if (task == "translate") return decoding::Task::kTranslate;
  throw_error(ErrorKind::kInvalidArgument, "unknown task '{}' (use transcribe or translate)", task);
}

ModelInfo describe(const model::Checkpoint& c, const std::string& path) {
  ModelInfo i;
  i.path = path;
  i.format = c.format;
  i.size_name = c.config.size_name();
  i.device = "cpu";
  i.n_vocab = c.config.n_vocab;
  i.n_mels = c.config.n_mels;
  i.d_model = c.config.n_audio_state;
  i.encoder_layers = c.config.n_audio_layer;
  i.decoder_layers = c.config.n_text_layer;
  i.multilingual = c.generation.is_multilingual;
  return i;
}

}  // namespace

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const EngineOptions& o) {
  HARK_CHECK(o.device == "auto" || o.device == "cpu", ErrorKind::kUnsupported,
             "device '{}' is not available in this build (use auto or cpu)", o.device);
  HARK_CHECK(o.threads >= 0, ErrorKind::kInvalidArgument, "threads must be >= 0, got {}",
             o.threads);
  ops::set_num_threads(o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  auto impl = std::make_unique<Impl>();
  impl->checkpoint = model::load_checkpoint(o.model_path);
  const model::Checkpoint& c = impl->checkpoint;
  impl->tokenizer = std::make_unique<text::Tokenizer>(
      text::Tokenizer::for_model(o.model_path, o.tokenizer_path, c.ggml_vocab, c.config.n_vocab));
  impl->tokenizer->set_generation_config(c.generation);
  impl->model = std::make_unique<model::WhisperModel>(c);
  impl->decoder = std::make_unique<decoding::WindowDecoder>(*impl->model, *impl->tokenizer);
  impl->mel_filters = c.mel_filters ? *c.mel_filters : audio::mel_filterbank(c.config.n_mels);
  if (impl->mel_filters.dtype() != DType::kF32) impl->mel_filters = impl->mel_filters.to_f32();
  impl->info = describe(c, o.model_path);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("loaded {} ({} {}, d_model {}, {}+{} layers) in {:.0f} ms", o.model_path,
               impl->info.format, impl->info.size_name, impl->info.d_model,
               impl->info.encoder_layers, impl->info.decoder_layers, ms);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelInfo& Engine::info() const { return impl_->info; }

Result Engine::transcribe(std::span<const float> pcm, const TranscribeOptions& o) const {
  HARK_CHECK(!pcm.empty(), ErrorKind::kInvalidAudio, "the audio holds no samples");
  const double duration = double(pcm.size()) / audio::kSampleRate;
  HARK_CHECK(pcm.size() <= size_t(audio::kChunkSamples), ErrorKind::kUnsupported,
             "audio of {:.1f} s is longer than one 30 s window; long-form transcription is not "
             "available yet",
             duration);
  decoding::DecodingOptions d;
  d.task = parse_task(o.task);
  if (o.language != "auto" && !o.language.empty()) d.language = o.language;
  d.without_timestamps = !o.timestamps;
  if (!o.initial_prompt.empty()) d.prompt = impl_->tokenizer->encode(" " + o.initial_prompt);

  Tensor mel = audio::log_mel_spectrogram(pcm, impl_->mel_filters, audio::kChunkSamples);
  Tensor window = Tensor::zeros(DType::kF32, {mel.dim(0), audio::kChunkFrames});
  for (int64_t m = 0; m < mel.dim(0); ++m) {
    std::copy_n(mel.data<float>() + m * mel.dim(1), audio::kChunkFrames,
                window.data<float>() + m * audio::kChunkFrames);
  }
  Tensor enc = impl_->model->encode(window);
  decoding::DecodingResult dr = impl_->decoder->decode(enc, d);

  Result r;
  r.duration = duration;
  r.language = dr.language;
  r.task = o.task;
  pipeline::WindowSplit split =
      pipeline::split_window(dr.tokens, 0.0, std::min(duration, 30.0), 0, *impl_->tokenizer);
  for (Segment& s : split.segments) {
    s.id = int(r.segments.size());
    s.temperature = dr.temperature;
    s.avg_logprob = dr.avg_logprob;
    s.compression_ratio = dr.compression_ratio;
    s.no_speech_prob = dr.no_speech_prob;
    s.start = std::min(s.start, duration);
    s.end = std::min(s.end, duration);
    r.text += s.text;
    r.segments.push_back(std::move(s));
  }
  return r;
}

}  // namespace hark
