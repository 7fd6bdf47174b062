// hark-model-bench: PERF.md's standard workload on the model alone (bench/model_workload.h):
// B windows of random log-mel through encode_batch, then B sequences decoding 128 greedy tokens
// together, on any named shape, device and precision, weights drawn in process. Builds in the
// engine-only configuration (no FFmpeg), so it runs on the GPU machine. One line per batch size.
//
//   hark-model-bench --shape large-v3-turbo --device cuda --dtype f16 --batch 1,8,32 --runs 3
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/model_workload.h"
#include "bench/shapes.h"
#include "core/error.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "ops/profile.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::bench {
namespace {

struct Args {
  std::string shape = "tiny", device = "cpu", dtype = "f32";
  std::vector<int> batches{1};
  int tokens = 128, runs = 3, threads = 0;
  bool profile = false;
};

std::vector<int> parse_list(const std::string& v) {
  std::vector<int> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    const size_t comma = std::min(v.find(',', pos), v.size());
    const int x = std::atoi(v.substr(pos, comma - pos).c_str());
    HARK_CHECK(x >= 1, ErrorKind::kInvalidArgument, "--batch: '{}' is not a list of sizes >= 1", v);
    out.push_back(x);
    pos = comma + 1;
  }
  return out;
}

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
    else if (k == "--batch")
      a.batches = parse_list(v);
    else if (k == "--tokens")
      a.tokens = std::atoi(v.c_str());
    else if (k == "--runs")
      a.runs = std::atoi(v.c_str());
    else if (k == "--threads")
      a.threads = std::atoi(v.c_str());
    else if (k == "--profile")
      a.profile = v == "1" || v == "on";
    else
      throw_error(ErrorKind::kInvalidArgument, "unknown option {}", k);
  }
  return a;
}

// One more run with every op timed on its own (ops/profile.h): where the time goes.
void print_profile(const model::WhisperModel& m, const model::GenerationConfig& g,
                   ModelWorkloadOptions o) {
  o.runs = 1;
  o.warmup = 0;
  ops::reset_profile();
  ops::set_profiling(true);
  const ModelWorkloadReport r = run_model_workload(m, g, o);
  ops::set_profiling(false);
  double sum = 0;
  for (const auto& t : ops::profile_report()) sum += t.ms;
  std::printf(
      "  profile (batch %d, one run of %.1f ms with the device drained around each op; "
      "ops total %.1f ms):\n",
      o.batch, r.median.total_ms, sum);
  int shown = 0;
  for (const auto& t : ops::profile_report()) {
    if (++shown > 16) break;
    std::printf("    %-28s %9.2f ms %5.1f %%  %7lld calls  %8.3f ms/call\n", t.name.c_str(), t.ms,
                100.0 * t.ms / sum, static_cast<long long>(t.calls), t.ms / double(t.calls));
  }
}

int run(const Args& a) {
  ops::set_num_threads(a.threads);
  model::ModelPlacement p;
  HARK_CHECK(a.device == "cuda" || a.device == "cpu", ErrorKind::kInvalidArgument,
             "--device cpu|cuda");
  p.device = a.device == "cuda" ? Device::kCuda : Device::kCpu;
  p.dtype = a.dtype == "f16" ? DType::kF16 : a.dtype == "bf16" ? DType::kBF16 : DType::kF32;
  const model::ModelConfig cfg = shape_config(a.shape);
  const model::Checkpoint ckpt = random_checkpoint(cfg, 1234);
  const model::WhisperModel m(ckpt, p);
  for (const int batch : a.batches) {
    ModelWorkloadOptions o;
    o.batch = batch;
    o.tokens = a.tokens;
    o.runs = a.runs;
    try {
      const ModelWorkloadReport r = run_model_workload(m, ckpt.generation, o);
      std::printf(
          "%-15s %-4s %-4s batch %4d  encoder %9.2f ms  decoder %9.2f ms (%7.3f ms/step)  "
          "per window %8.2f ms  RTFx %8.1f  peak %6.0f MiB\n",
          a.shape.c_str(), a.device.c_str(), a.dtype.c_str(), batch, r.median.encoder_ms,
          r.median.decoder_ms, r.step_ms, r.window_ms, r.rtfx, r.peak_mem_mb);
    } catch (const Error& e) {
      std::printf("%-15s %-4s %-4s batch %4d  failed: %s\n", a.shape.c_str(), a.device.c_str(),
                  a.dtype.c_str(), batch, e.what());
    }
    if (a.profile) print_profile(m, ckpt.generation, o);
    std::fflush(stdout);
#ifdef HARK_HAVE_CUDA
    if (p.device == Device::kCuda) {
      backends::cuda::release_cached_memory();
      backends::cuda::reset_peak_memory();
    }
#endif
  }
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
