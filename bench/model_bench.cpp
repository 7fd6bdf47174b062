// hark-model-bench: the model part of PERF.md's standard workload (one encoder pass over a 3000-
// frame log-mel, then greedy decoding of `--tokens` tokens after the 4-token prompt with
// <|endoftext|> suppressed) on any named shape, device and precision, with random weights drawn in
// process. Builds in the engine-only configuration (no FFmpeg), so it runs on the GPU machine;
// the log-mel input is random (its CPU cost is measured by `hark bench`).
//
//   hark-model-bench --shape large-v3-turbo --device cuda --dtype f16 --tokens 128 --runs 5
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bench/shapes.h"
#include "core/error.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::bench {
namespace {

struct Args {
  std::string shape = "tiny", device = "cpu", dtype = "f32";
  int tokens = 128, runs = 3, threads = 0;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    HARK_CHECK(i + 1 < argc, ErrorKind::kInvalidArgument, "{} needs a value", k);
    const std::string v = argv[++i];
    if (k == "--shape")
      a.shape = v;
    else if (k == "--device")
      a.device = v;
    else if (k == "--dtype")
      a.dtype = v;
    else if (k == "--tokens")
      a.tokens = std::atoi(v.c_str());
    else if (k == "--runs")
      a.runs = std::atoi(v.c_str());
    else if (k == "--threads")
      a.threads = std::atoi(v.c_str());
    else
      throw_error(ErrorKind::kInvalidArgument, "unknown option {}", k);
  }
  return a;
}

void sync(Device d) {
#ifdef HARK_HAVE_CUDA
  if (d == Device::kCuda) backends::cuda::synchronize();
#endif
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Times {
  double encoder_ms, decoder_ms;
};

Times run_window(const model::WhisperModel& m, const Tensor& mel, const model::GenerationConfig& g,
                 int tokens, Device dev) {
  const double t0 = now_ms();
  Tensor enc = m.encode(mel);
  sync(dev);
  const double t1 = now_ms();
  decode_standard_tokens(m, g, enc, tokens);
  sync(dev);
  return {t1 - t0, now_ms() - t1};
}

int run(const Args& a) {
  ops::set_num_threads(a.threads);
  model::ModelPlacement p;
  p.device = a.device == "cuda" ? Device::kCuda : Device::kCpu;
  HARK_CHECK(a.device == "cuda" || a.device == "cpu", ErrorKind::kInvalidArgument,
             "--device cpu|cuda");
  p.dtype = a.dtype == "f16" ? DType::kF16 : a.dtype == "bf16" ? DType::kBF16 : DType::kF32;
  const model::ModelConfig cfg = shape_config(a.shape);
  const model::Checkpoint ckpt = random_checkpoint(cfg, 1234);
  const model::WhisperModel m(ckpt, p);
  Tensor mel = Tensor::zeros(DType::kF32, {cfg.n_mels, 3000});
  fill_uniform(mel.data<float>(), size_t(mel.numel()), 1.0f, 9);
  run_window(m, mel, ckpt.generation, std::min(a.tokens, 8), p.device);  // warm-up
  std::vector<double> enc, dec, total;
  for (int r = 0; r < a.runs; ++r) {
    const Times t = run_window(m, mel, ckpt.generation, a.tokens, p.device);
    enc.push_back(t.encoder_ms);
    dec.push_back(t.decoder_ms);
    total.push_back(t.encoder_ms + t.decoder_ms);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double peak_mb = 0;
#ifdef HARK_HAVE_CUDA
  if (p.device == Device::kCuda) peak_mb = double(backends::cuda::memory_stats().peak) / 1e6;
#endif
  std::printf(
      "%-15s %-5s %-5s batch 1  encoder %8.2f ms  decoder %8.2f ms (%6.3f ms/token)  "
      "window %8.2f ms  RTFx %7.1f  peak %.0f MB\n",
      a.shape.c_str(), a.device.c_str(), a.dtype.c_str(), median(enc), median(dec),
      median(dec) / a.tokens, median(total), 30000.0 / median(total), peak_mb);
  return 0;
}

}  // namespace
}  // namespace hark::bench

int main(int argc, char** argv) {
  try {
    return hark::bench::run(hark::bench::parse(argc, argv));
  } catch (const hark::Error& e) {
    std::fprintf(stderr, "hark-model-bench: error: %s\n", e.what());
    return 1;
  }
}
