#include "bench/workload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "audio/mel.h"
#include "core/error.h"
#include "model/whisper_model.h"

namespace hark::bench {
namespace {

struct Shape {
  const char* name;
  int d, heads, enc_layers, dec_layers, n_mels, n_vocab;
};

constexpr Shape kShapes[] = {
    {"tiny", 384, 6, 4, 4, 80, 51865},          {"base", 512, 8, 6, 6, 80, 51865},
    {"small", 768, 12, 12, 12, 80, 51865},      {"medium", 1024, 16, 24, 24, 80, 51865},
    {"large-v3", 1280, 20, 32, 32, 128, 51866}, {"large-v3-turbo", 1280, 20, 32, 4, 128, 51866},
};

// splitmix64: fast, deterministic; the values' distribution does not affect speed.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

StageTimes run_once(const model::WhisperModel& m, const Tensor& filters, const model::Checkpoint& c,
                    const std::vector<float>& pcm, int batch, int n_tokens) {
  StageTimes t;
  const auto& g = c.generation;
  const int n_vocab = c.config.n_vocab;
  for (int b = 0; b < batch; ++b) {
    auto t0 = std::chrono::steady_clock::now();
    Tensor mel = audio::log_mel_spectrogram(pcm, filters);
    t.mel_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    Tensor enc = m.encode(mel);
    t.encoder_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    model::DecoderState st = m.begin_window(enc);
    std::vector<int> prompt{g.sot};
    if (g.is_multilingual) prompt.insert(prompt.end(), {*g.language_token("en"), g.transcribe});
    prompt.push_back(g.timestamp_begin);
    Tensor logits = m.decode(st, prompt);
    for (int i = 0; i < n_tokens; ++i) {
      float* row = logits.data<float>();
      row[g.eot] = -std::numeric_limits<float>::infinity();
      const int next = int(std::max_element(row, row + n_vocab) - row);
      if (i + 1 < n_tokens) logits = m.decode(st, std::span<const int>(&next, 1));
    }
    t.decoder_ms += ms_since(t0);
  }
  t.total_ms = t.mel_ms + t.encoder_ms + t.decoder_ms;
  return t;
}

}  // namespace

const std::vector<std::string>& shape_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Shape& s : kShapes) v.emplace_back(s.name);
    return v;
  }();
  return names;
}

model::ModelConfig shape_config(const std::string& name) {
  for (const Shape& s : kShapes) {
    if (name != s.name) continue;
    model::ModelConfig c;
    c.n_vocab = s.n_vocab;
    c.n_mels = s.n_mels;
    c.n_audio_state = c.n_text_state = s.d;
    c.n_audio_head = c.n_text_head = s.heads;
    c.n_audio_layer = s.enc_layers;
    c.n_text_layer = s.dec_layers;
    c.n_audio_ffn = c.n_text_ffn = 4 * s.d;
    return c;
  }
  std::string all;
  for (const auto& n : shape_names()) all += (all.empty() ? "" : ", ") + n;
  throw_error(ErrorKind::kInvalidArgument, "unknown shape '{}' (one of: {})", name, all);
}

model::Checkpoint random_checkpoint(const model::ModelConfig& cfg, uint64_t seed) {
  model::Checkpoint c;
  c.config = cfg;
  c.generation = model::GenerationConfig::defaults_for_vocab(cfg.n_vocab);
  c.format = "random";
  c.path = "(random weights)";
  Rng rng{seed};
  for (const auto& [name, shape] : model::expected_tensor_shapes(cfg)) {
    Tensor t = Tensor::zeros(DType::kF32, shape);
    float* p = t.data<float>();
    const bool is_norm = name.find("layer_norm") != std::string::npos;
    const bool is_weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      p[i] = is_norm && is_weight ? 1.0f + 0.1f * rng.uniform() : 0.05f * rng.uniform();
    }
    c.tensors.emplace(name, std::move(t));
  }
  return c;
}

WorkloadReport run_standard_workload(const model::Checkpoint& c, const WorkloadOptions& o) {
  HARK_CHECK(o.batch >= 1 && o.tokens >= 1 && o.runs >= 1 && o.warmup >= 0,
             ErrorKind::kInvalidArgument, "batch, tokens and runs must be >= 1");
  HARK_CHECK(4 + o.tokens <= c.config.n_text_ctx, ErrorKind::kInvalidArgument,
             "--tokens {} does not fit the text context of {}", o.tokens, c.config.n_text_ctx);
  model::WhisperModel m(c);
  const Tensor filters = audio::mel_filterbank(c.config.n_mels);
  Rng rng{7};
  std::vector<float> pcm(size_t(audio::kChunkSamples));
  for (float& s : pcm) s = 0.1f * rng.uniform();
  for (int i = 0; i < o.warmup; ++i) run_once(m, filters, c, pcm, 1, std::min(o.tokens, 8));

  WorkloadReport r;
  for (int i = 0; i < o.runs; ++i)
    r.runs.push_back(run_once(m, filters, c, pcm, o.batch, o.tokens));
  auto stage = [&](double StageTimes::*f) {
    std::vector<double> v;
    for (const auto& t : r.runs) v.push_back(t.*f);
    return median(v);
  };
  r.median = {stage(&StageTimes::mel_ms), stage(&StageTimes::encoder_ms),
              stage(&StageTimes::decoder_ms), stage(&StageTimes::total_ms)};
  r.window_ms = r.median.total_ms / o.batch;
  r.rtfx = 30.0 * o.batch / (r.median.total_ms / 1000.0);
  r.per_token_ms = r.median.decoder_ms / (double(o.batch) * o.tokens);
  return r;
}

}  // namespace hark::bench
