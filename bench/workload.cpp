#include "bench/workload.h"

#include "bench/shapes.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "audio/mel.h"
#include "core/error.h"
#include "model/whisper_model.h"

namespace hark::bench {
namespace {

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
  for (int b = 0; b < batch; ++b) {
    auto t0 = std::chrono::steady_clock::now();
    Tensor mel = audio::log_mel_spectrogram(pcm, filters);
    t.mel_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    Tensor enc = m.encode(mel);
    t.encoder_ms += ms_since(t0);
    t0 = std::chrono::steady_clock::now();
    decode_standard_tokens(m, g, enc, n_tokens);
    t.decoder_ms += ms_since(t0);
  }
  t.total_ms = t.mel_ms + t.encoder_ms + t.decoder_ms;
  return t;
}

}  // namespace

WorkloadReport run_standard_workload(const model::Checkpoint& c, const WorkloadOptions& o) {
  HARK_CHECK(o.batch >= 1 && o.tokens >= 1 && o.runs >= 1 && o.warmup >= 0,
             ErrorKind::kInvalidArgument, "batch, tokens and runs must be >= 1");
  HARK_CHECK(4 + o.tokens <= c.config.n_text_ctx, ErrorKind::kInvalidArgument,
             "--tokens {} does not fit the text context of {}", o.tokens, c.config.n_text_ctx);
  model::ModelPlacement placement;
  placement.int8_weights = o.int8_weights;
  placement.int8_cross_kv = o.int8_cross_kv;
  const model::WhisperModel m(c, placement);
  const Tensor filters = audio::mel_filterbank(c.config.n_mels);
  std::vector<float> pcm(size_t(audio::kChunkSamples));
  fill_uniform(pcm.data(), pcm.size(), 0.1f, 7);
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
