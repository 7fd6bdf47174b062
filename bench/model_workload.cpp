#include "bench/model_workload.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <span>

#include "bench/shapes.h"
#include "core/error.h"
#include "ops/ops.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::bench {
namespace {

void sync(Device d) {
#ifdef HARK_HAVE_CUDA
  if (d == Device::kCuda) backends::cuda::synchronize();
#else
  (void)d;
#endif
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// On the model's device (CUDA): each window's log-mel from 30 s of PCM (ops::log_mel, the PCM
// uploaded first, as the engine does per request) and its window in the model's dtype
// (ops::mel_window) into mels [B, n_mels, 3000]. The filters are random: the time does not depend
// on their values (an engine-only build has no audio layer to build the real ones).
struct DeviceMel {
  std::vector<float> pcm;
  Tensor filters;  // [n_mels, 201] F32 on the device
  Tensor mel;      // [n_mels, 3000] F32 on the device
};

void device_mels(const model::WhisperModel& m, const DeviceMel& dm, Tensor& mels) {
  const Device dev = m.placement().device;
  const int64_t n_mels = mels.dim(1), frames = mels.dim(2);
  for (int64_t b = 0; b < mels.dim(0); ++b) {
    const Tensor pcm =
        Tensor::view(DType::kF32, {int64_t(dm.pcm.size())}, const_cast<float*>(dm.pcm.data()))
            .to(dev);
    Tensor mel = dm.mel;
    ops::log_mel(pcm, dm.filters, 0, mel);
    Tensor window = mels.slice_rows(b, b + 1).reshape({n_mels, frames});
    ops::mel_window(mel, 0, frames, window);
  }
}

ModelRun run_once(const model::WhisperModel& m, const model::GenerationConfig& g, Tensor& mels,
                  const DeviceMel* dm, int tokens) {
  const Device dev = m.placement().device;
  const model::ModelConfig& c = m.config();
  const int64_t batch = mels.dim(0);
  ModelRun r;
  if (dm) {
    const double tm = now_ms();
    device_mels(m, *dm, mels);
    sync(dev);
    r.mel_ms = now_ms() - tm;
  }
  const double t0 = now_ms();
  const Tensor enc = m.encode_batch(mels);
  sync(dev);
  const double t1 = now_ms();
  std::vector<model::DecoderState> states;
  states.reserve(size_t(batch));
  for (int64_t b = 0; b < batch; ++b)
    states.push_back(
        m.begin_window(enc.slice_rows(b, b + 1).reshape({c.n_audio_ctx, c.n_audio_state})));
  std::vector<int> prompt{g.sot};
  if (g.is_multilingual) prompt.insert(prompt.end(), {*g.language_token("en"), g.transcribe});
  prompt.push_back(g.timestamp_begin);
  std::vector<model::DecoderState*> ptrs;
  for (auto& s : states) ptrs.push_back(&s);
  // The prompt step, then greedy steps whose picks stay on the device: the host queues step i + 1
  // while step i runs and never waits inside the loop.
  const std::vector<std::span<const int>> prompts(size_t(batch), prompt);
  Tensor ids = Tensor::empty_on(dev, DType::kI32, {batch});
  ops::argmax_rows(m.decode_batch(ptrs, prompts), g.eot, ids);
  for (int i = 1; i < tokens; ++i) m.decode_batch_greedy(ptrs, ids, g.eot, ids);
  sync(dev);
  r.encoder_ms = t1 - t0;
  r.decoder_ms = now_ms() - t1;
  r.total_ms = r.mel_ms + r.encoder_ms + r.decoder_ms;
  return r;
}

}  // namespace

ModelWorkloadReport run_model_workload(const model::WhisperModel& m,
                                       const model::GenerationConfig& g,
                                       const ModelWorkloadOptions& o) {
  const model::ModelConfig& c = m.config();
  HARK_CHECK(o.batch >= 1 && o.tokens >= 1 && o.runs >= 1 && o.warmup >= 0,
             ErrorKind::kInvalidArgument, "batch, tokens and runs must be >= 1");
  HARK_CHECK(4 + o.tokens <= c.n_text_ctx, ErrorKind::kInvalidArgument,
             "--tokens {} does not fit the text context of {}", o.tokens, c.n_text_ctx);
  const int64_t frames = 2 * int64_t(c.n_audio_ctx);
  Tensor mels = Tensor::zeros(DType::kF32, {o.batch, c.n_mels, frames});
  fill_uniform(mels.data<float>(), size_t(mels.numel()), 1.0f, 9);
  std::optional<DeviceMel> dm;
  if (m.placement().device != Device::kCpu && o.device_mel && frames * 160 == 480000) {
    dm.emplace();
    dm->pcm.resize(480000);
    fill_uniform(dm->pcm.data(), dm->pcm.size(), 0.1f, 7);
    Tensor f = Tensor::zeros(DType::kF32, {c.n_mels, 201});
    fill_uniform(f.data<float>(), size_t(f.numel()), 0.01f, 11);
    for (int64_t i = 0; i < f.numel(); ++i) f.data<float>()[i] = std::abs(f.data<float>()[i]);
    dm->filters = f.to(m.placement().device);
    dm->mel = Tensor::empty_on(m.placement().device, DType::kF32, {c.n_mels, frames});
    mels = Tensor::empty_on(m.placement().device, m.placement().dtype, {o.batch, c.n_mels, frames});
  }
  const DeviceMel* dmp = dm ? &*dm : nullptr;
  for (int i = 0; i < o.warmup; ++i) run_once(m, g, mels, dmp, std::min(o.tokens, 8));
  ModelWorkloadReport r;
  for (int i = 0; i < o.runs; ++i) r.runs.push_back(run_once(m, g, mels, dmp, o.tokens));
  auto stage = [&](double ModelRun::*f) {
    std::vector<double> v;
    for (const auto& t : r.runs) v.push_back(t.*f);
    return median(v);
  };
  r.median = {stage(&ModelRun::mel_ms), stage(&ModelRun::encoder_ms), stage(&ModelRun::decoder_ms),
              stage(&ModelRun::total_ms)};
  r.window_ms = r.median.total_ms / o.batch;
  r.rtfx = 30.0 * o.batch / (r.median.total_ms / 1000.0);
  r.step_ms = r.median.decoder_ms / o.tokens;
#ifdef HARK_HAVE_CUDA
  if (m.placement().device == Device::kCuda)
    r.peak_mem_mb = double(backends::cuda::memory_stats().peak) / (1024.0 * 1024.0);
#endif
  return r;
}

}  // namespace hark::bench
