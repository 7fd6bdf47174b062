// The engine behind include/hark/engine.h: checkpoint + model (fp32 on the CPU, or fp32/fp16/bf16
// on one GPU) + tokenizer + mel filters, loaded once. transcribe() computes the log-mel of the
// whole input once (OpenAI pads 30 s of zeros first), then runs the jobs of a
// pipeline::Transcription: language detection, window decoding (with fallback) and word alignment,
// each on the window's encoder output. On a GPU placement the PCM is uploaded once and the log-mel
// and every window of it are computed on the device (ops::log_mel, ops::mel_window), so the host
// does no per-window maths and the encoder reads its input where it already is.
#include "hark/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>

#include "audio/decode.h"
#include "audio/mel.h"
#include "core/error.h"
#include "decoding/alignment_heads.h"
#include "decoding/window_decoder.h"
#include "decoding/word_timing.h"
#include "model/checkpoint.h"
#include "model/placement.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif
#include "pipeline/transcription.h"
#include "text/tokenizer.h"

namespace hark {

struct MelClock;

struct Engine::Impl {
  model::Checkpoint checkpoint;
  std::unique_ptr<model::WhisperModel> model;
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<decoding::WindowDecoder> decoder;
  decoding::AlignmentHeads heads;
  Tensor mel_filters;         // fp32, on the CPU
  Tensor mel_filters_device;  // the same on the model's GPU (GPU placements only)
  ModelInfo info;
  // The GPU backend runs one stream: requests take turns on it (batching across requests is the
  // scheduler's job). CPU requests run concurrently.
  bool on_gpu = false;
  mutable std::mutex gpu_mutex;

  Result run(std::span<const float> pcm, const TranscribeOptions& o) const;
  // The log-mel of pcm followed by 30 s of zeros, on the model's device, timed by `clock`.
  Tensor log_mel(std::span<const float> pcm, MelClock& clock) const;
  // Frames [seek, seek + size) of mel zero-padded to a 3000-frame window (OpenAI's pad_or_trim,
  // in the log-mel domain), on mel's device, in the dtype the encoder takes there.
  Tensor window_of(const Tensor& mel, int seek, int size) const;
};

// The log-mel's time for StageTimings::mel_ms: wall time on the CPU; on a GPU the device time of
// the PCM upload and the mel between two events on the stream, read at the end of run() so that
// nothing waits for the mel in between.
struct MelClock {
  double host_ms = 0;
#ifdef HARK_HAVE_CUDA
  std::optional<backends::cuda::StreamTimer> device;
#endif
  double ms() {
#ifdef HARK_HAVE_CUDA
    if (device) return device->elapsed_ms();
#endif
    return host_ms;
  }
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
  i.n_vocab = c.config.n_vocab;
  i.n_mels = c.config.n_mels;
  i.d_model = c.config.n_audio_state;
  i.encoder_layers = c.config.n_audio_layer;
  i.decoder_layers = c.config.n_text_layer;
  i.multilingual = c.generation.is_multilingual;
  return i;
}

// "-1" (the model's default set), "" (none), or comma-separated ids, -1 meaning the default set.
void parse_suppress(const std::string& spec, int n_vocab, pipeline::TranscriptionOptions& t) {
  t.use_default_suppress = false;
  t.suppress_tokens.clear();
  size_t pos = 0;
  while (pos < spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = spec.substr(pos, comma - pos);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    int id = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    HARK_CHECK(ec == std::errc() && end == item.data() + item.size() && id >= -1 && id < n_vocab,
               ErrorKind::kInvalidArgument,
               "suppress_tokens: '{}' is not a token id (comma-separated ids below {}, or -1)",
               item, n_vocab);
    if (id == -1) {
      t.use_default_suppress = true;
    } else {
      t.suppress_tokens.push_back(id);
    }
    pos = comma + 1;
  }
}

pipeline::TranscriptionOptions to_pipeline(const TranscribeOptions& o, const text::Tokenizer& tok,
                                           int n_vocab) {
  pipeline::TranscriptionOptions t;
  if (o.language != "auto" && !o.language.empty()) t.language = o.language;
  t.task = parse_task(o.task);
  t.timestamps = o.timestamps;
  t.temperatures = o.temperature;
  t.best_of = o.best_of;
  t.beam_size = o.beam_size;
  t.patience = o.patience;
  t.length_penalty = o.length_penalty;
  t.compression_ratio_threshold = o.compression_ratio_threshold;
  t.logprob_threshold = o.logprob_threshold;
  t.no_speech_threshold = o.no_speech_threshold;
  t.condition_on_previous_text = o.condition_on_previous_text;
  std::string prompt = o.initial_prompt;
  prompt.erase(0, prompt.find_first_not_of(" \t\n"));
  prompt.erase(prompt.find_last_not_of(" \t\n") + 1);
  if (!prompt.empty()) t.initial_prompt_tokens = tok.encode(" " + prompt);
  t.carry_initial_prompt = o.carry_initial_prompt;
  t.word_timestamps = o.word_timestamps;
  t.hallucination_silence_threshold = o.hallucination_silence_threshold;
  t.clip_timestamps = o.clip_timestamps;
  parse_suppress(o.suppress_tokens, n_vocab, t);
  t.suppress_blank = o.suppress_blank;
  t.seed = o.seed;
  return t;
}

}  // namespace

std::string cpu_name(int threads) {
  return fmt::format("CPU ({} thread{})", threads, threads == 1 ? "" : "s");
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const EngineOptions& o) {
  HARK_CHECK(o.threads >= 0, ErrorKind::kInvalidArgument, "threads must be >= 0, got {}",
             o.threads);
  ops::set_num_threads(o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  model::ResolvedPlacement where = model::resolve_placement(o.device, o.compute_type);
  where.placement.int8_cross_kv = model::parse_cross_kv(o.cross_kv);
  if (!where.fallback_reason.empty())
    spdlog::info("no usable GPU ({}); running on the CPU", where.fallback_reason);
  auto impl = std::make_unique<Impl>();
  impl->checkpoint = model::load_checkpoint(o.model_path);
  const model::Checkpoint& c = impl->checkpoint;
  impl->tokenizer = std::make_unique<text::Tokenizer>(
      text::Tokenizer::for_model(o.model_path, o.tokenizer_path, c.ggml_vocab, c.config.n_vocab));
  impl->tokenizer->set_generation_config(c.generation);
  impl->model = std::make_unique<model::WhisperModel>(c, where.placement);
  impl->on_gpu = where.placement.device == Device::kCuda;
  impl->decoder = std::make_unique<decoding::WindowDecoder>(*impl->model, *impl->tokenizer);
  impl->heads = decoding::resolve_alignment_heads(c.config, c.generation, c.format == "ggml");
  impl->mel_filters = c.mel_filters ? *c.mel_filters : audio::mel_filterbank(c.config.n_mels);
  if (impl->mel_filters.dtype() != DType::kF32) impl->mel_filters = impl->mel_filters.to_f32();
  if (impl->on_gpu) impl->mel_filters_device = impl->mel_filters.to(where.placement.device);
  impl->info = describe(c, o.model_path);
  impl->info.device = where.device;
  impl->info.device_name =
      where.device_name.empty() ? cpu_name(ops::num_threads()) : where.device_name;
  impl->info.compute_type = model::compute_type_name(where.placement);
  impl->info.cross_kv = where.placement.int8_cross_kv ? "int8" : "auto";
  spdlog::info("loaded {} ({} {}, d_model {}, {}+{} layers) on {} ({}, {}) in {:.0f} ms",
               o.model_path, impl->info.format, impl->info.size_name, impl->info.d_model,
               impl->info.encoder_layers, impl->info.decoder_layers, impl->info.device,
               impl->info.device_name, impl->info.compute_type, ms_since(t0));
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelInfo& Engine::info() const { return impl_->info; }

Result Engine::transcribe(std::span<const float> pcm, const TranscribeOptions& o) const {
  if (!impl_->on_gpu) return impl_->run(pcm, o);
  std::unique_lock lock(impl_->gpu_mutex);
  return impl_->run(pcm, o);
}

Tensor Engine::Impl::log_mel(std::span<const float> pcm, MelClock& clock) const {
  if (!on_gpu) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor mel = audio::log_mel_spectrogram(pcm, mel_filters, audio::kChunkSamples);
    clock.host_ms = ms_since(t0);
    return mel;
  }
#ifdef HARK_HAVE_CUDA
  const Device device = model->placement().device;
  backends::cuda::StreamTimer& timer = clock.device.emplace();
  timer.start();
  // A pageable host source: the copy is complete when to() returns.
  const Tensor pcm_device = Tensor::view(DType::kF32, {int64_t(pcm.size())}, pcm.data()).to(device);
  const int64_t frames = (int64_t(pcm.size()) + audio::kChunkSamples) / audio::kHopLength;
  Tensor mel = Tensor::empty_on(device, DType::kF32, {mel_filters_device.dim(0), frames});
  ops::log_mel(pcm_device, mel_filters_device, audio::kChunkSamples, mel);
  timer.stop();
  return mel;
#else
  throw_error(ErrorKind::kInternal, "a GPU placement in a build without CUDA");
#endif
}

Tensor Engine::Impl::window_of(const Tensor& mel, int seek, int size) const {
  const DType dtype = mel.device() == Device::kCpu ? DType::kF32 : model->placement().dtype;
  Tensor w = Tensor::empty_on(mel.device(), dtype, {mel.dim(0), pipeline::kWindowFrames});
  ops::mel_window(mel, seek, size, w);
  return w;
}

Result Engine::Impl::run(std::span<const float> pcm, const TranscribeOptions& o) const {
  HARK_CHECK(!pcm.empty(), ErrorKind::kInvalidAudio, "the audio holds no samples");
  const auto t_start = std::chrono::steady_clock::now();
  StageTimings times;
  const int content_frames = int(pcm.size() / audio::kHopLength);
  pipeline::Transcription t(to_pipeline(o, *tokenizer, checkpoint.config.n_vocab), *tokenizer,
                            content_frames, checkpoint.config.n_text_ctx);
  MelClock mel_clock;
  const Tensor mel = log_mel(pcm, mel_clock);
  int encoded_seek = -1, encoded_size = -1;
  Tensor enc;
  auto encode = [&](int seek, int size) -> const Tensor& {
    if (seek != encoded_seek || size != encoded_size) {
      const auto t0 = std::chrono::steady_clock::now();
      enc = model->encode(window_of(mel, seek, size));
      times.encoder_ms += ms_since(t0);
      encoded_seek = seek;
      encoded_size = size;
    }
    return enc;
  };
  size_t emitted = 0;  // segments passed to o.on_segment so far
  const auto emit_final_segments = [&] {
    if (!o.on_segment) return;
    const Result so_far = t.result();
    for (; emitted < so_far.segments.size(); ++emitted) o.on_segment(so_far.segments[emitted]);
  };
  while (const pipeline::WindowJob* job = t.next()) {
    if (o.cancelled && o.cancelled()) {
      throw_error(ErrorKind::kCancelled, "transcription cancelled after {:.1f} s of {:.1f} s",
                  t.progress() * double(pcm.size()) / audio::kSampleRate,
                  double(pcm.size()) / audio::kSampleRate);
    }
    switch (job->kind) {
      case pipeline::WindowJob::Kind::kDetectLanguage: {
        // OpenAI detects on the first 30 s of the padded mel (not zero-padded in the mel domain).
        const Tensor& window_enc = encode(0, pipeline::kWindowFrames);
        const auto t0 = std::chrono::steady_clock::now();
        model::DecoderState st = model->begin_window(window_enc);
        const auto probs = decoder->detect_language(st);
        const auto best = std::max_element(probs.begin(), probs.end(),
                                           [](auto& a, auto& b) { return a.second < b.second; });
        t.on_language(best->first);
        times.decoder_ms += ms_since(t0);
        break;
      }
      case pipeline::WindowJob::Kind::kDecode: {
        const Tensor& window_enc = encode(job->seek, job->segment_size);
        const auto t0 = std::chrono::steady_clock::now();
        t.on_decoded(decoder->decode(window_enc, job->options));
        times.decoder_ms += ms_since(t0);
        emit_final_segments();
        ++times.windows;
        if (o.on_progress) o.on_progress(t.progress());
        break;
      }
      case pipeline::WindowJob::Kind::kAlign: {
        const Tensor& window_enc = encode(job->seek, job->segment_size);
        const auto t0 = std::chrono::steady_clock::now();
        const auto sot = decoder->sot_sequence(t.language(), parse_task(o.task), true);
        decoding::add_word_timestamps(*job->segments, *model, *tokenizer, window_enc, sot,
                                      job->segment_size, t.language(), heads,
                                      job->last_speech_timestamp);
        t.on_aligned();
        times.alignment_ms += ms_since(t0);
        emit_final_segments();
        break;
      }
    }
  }
  if (o.on_progress) o.on_progress(1.0);
  Result r = t.result();
  r.duration = double(pcm.size()) / audio::kSampleRate;
  times.mel_ms = mel_clock.ms();
  times.total_ms = ms_since(t_start);
  r.timings = times;
  return r;
}

}  // namespace hark
