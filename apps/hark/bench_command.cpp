// `hark bench`: PERF.md's standard workload on a named Whisper shape with random weights drawn in
// process (no checkpoint needed).
// - On a GPU (--device cuda[:N]): bench/model_workload's batched passes, one line per batch size
//   (--batch 1,8,32): B windows of random log-mel through one encoder pass, then B sequences
//   decoding together with the argmax on the device.
// - On the CPU: bench/workload's window loop (log-mel of 30 s of noise, encoder, greedy decoding),
//   the windows of a batch one after another.
// The engine-only build (the GPU machine's: no FFmpeg) has the GPU path and the CPU model path.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/model_workload.h"
#include "bench/shapes.h"
#include "commands.h"
#include "core/error.h"
#include "model/placement.h"
#include "ops/ops.h"
#include "ops/profile.h"
#ifndef HARK_ENGINE_ONLY
#include "bench/workload.h"
#endif
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::app {
namespace {

struct BenchArgs {
  std::string shape = "tiny";
  std::string device = "cpu";
  std::string compute_type = "default";
  std::string cross_kv = "auto";
  std::vector<int> batches{1};
  int tokens = 128, runs = 3, warmup = 1, threads = 0;
  bool json = false, profile = false, no_cuda_graphs = false;
};

struct Where {
  model::ModelPlacement placement;
  std::string device, precision;
};

Where placement_for(const BenchArgs& a) {
  model::ResolvedPlacement r = model::resolve_placement(a.device, a.compute_type);
  r.placement.int8_cross_kv = model::parse_cross_kv(a.cross_kv);
  return {r.placement, r.device,
          model::compute_type_name(r.placement) + (r.placement.int8_cross_kv ? "+kv_int8" : "")};
}

void print_profile() {
  double sum = 0;
  const auto report = ops::profile_report();
  for (const auto& t : report) sum += t.ms;
  int shown = 0;
  for (const auto& t : report) {
    if (++shown > 16) break;
    std::printf("    %-28s %9.2f ms %5.1f %%  %7lld calls\n", t.name.c_str(), t.ms,
                100.0 * t.ms / sum, static_cast<long long>(t.calls));
  }
}

int run_model(const BenchArgs& a, const Where& w) {
  const model::ModelConfig cfg = bench::shape_config(a.shape);
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 1234);
  model::WhisperModel m(ckpt, w.placement);
  m.set_decode_graphs({.enabled = !a.no_cuda_graphs});
  const bool graphs = m.decode_graph_stats().enabled;
  if (!a.json)
    std::printf(
        "hark bench: %s (%d enc / %d dec layers, d %d) on %s, %s, %d tokens, median of "
        "%d runs%s\n%-6s %12s %12s %10s %12s %10s %10s %14s\n",
        a.shape.c_str(), cfg.n_audio_layer, cfg.n_text_layer, cfg.n_audio_state, w.device.c_str(),
        w.precision.c_str(), a.tokens, a.runs, graphs ? ", CUDA graphs" : "", "batch", "encoder ms",
        "decoder ms", "ms/step", "ms/window", "RTFx", "peak MiB", "mel ms/window");
  for (const int batch : a.batches) {
    bench::ModelWorkloadOptions o;
    o.batch = batch;
    o.tokens = a.tokens;
    o.runs = a.runs;
    o.warmup = a.warmup;
    bench::ModelWorkloadReport r;
    try {
      r = bench::run_model_workload(m, ckpt.generation, o);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kResourceExhausted) throw;
      std::printf("%-6d out of memory (%s)\n", batch, e.what());
      std::fflush(stdout);
#ifdef HARK_HAVE_CUDA
      backends::cuda::release_cached_memory();
#endif
      continue;
    }
    if (a.json) {
      std::printf(
          "{\"shape\":\"%s\",\"device\":\"%s\",\"precision\":\"%s\",\"batch\":%d,\"tokens\":%d,"
          "\"runs\":%d,\"encoder_ms\":%.2f,\"decoder_ms\":%.2f,\"step_ms\":%.3f,"
          "\"window_ms\":%.2f,\"rtfx\":%.1f,\"peak_mib\":%.0f,\"cuda_graphs\":%s,"
          "\"mel_ms\":%.2f}\n",
          a.shape.c_str(), w.device.c_str(), w.precision.c_str(), batch, a.tokens, a.runs,
          r.median.encoder_ms, r.median.decoder_ms, r.step_ms, r.window_ms, r.rtfx, r.peak_mem_mb,
          graphs ? "true" : "false", r.median.mel_ms);
    } else {
      // mel ms/window: the device log-mel from PCM (GPU only), included in ms/window and RTFx.
      std::printf("%-6d %12.1f %12.1f %10.3f %12.2f %10.1f %10.0f %14.3f\n", batch,
                  r.median.encoder_ms, r.median.decoder_ms, r.step_ms, r.window_ms, r.rtfx,
                  r.peak_mem_mb, r.median.mel_ms / batch);
    }
    if (a.profile) {
      o.runs = 1;
      o.warmup = 0;
      ops::reset_profile();
      ops::set_profiling(true);
      bench::run_model_workload(m, ckpt.generation, o);
      ops::set_profiling(false);
      std::printf("  per-op profile of one more run (device drained around each op):\n");
      print_profile();
    }
    std::fflush(stdout);
#ifdef HARK_HAVE_CUDA
    if (w.placement.device == Device::kCuda) {
      backends::cuda::release_cached_memory();
      backends::cuda::reset_peak_memory();
    }
#endif
  }
  return 0;
}

#ifndef HARK_ENGINE_ONLY
int run_cpu_windows(const BenchArgs& a, const Where& w) {
  const model::ModelConfig cfg = bench::shape_config(a.shape);
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 1234);
  const int threads = ops::num_threads();
  for (const int batch : a.batches) {
    bench::WorkloadOptions o;
    o.batch = batch;
    o.tokens = a.tokens;
    o.runs = a.runs;
    o.warmup = a.warmup;
    o.int8_weights = w.placement.int8_weights;
    o.int8_cross_kv = w.placement.int8_cross_kv;
    const bench::WorkloadReport r = bench::run_standard_workload(ckpt, o);
    if (a.json) {
      std::printf(
          "{\"shape\":\"%s\",\"device\":\"cpu\",\"precision\":\"%s\",\"threads\":%d,"
          "\"batch\":%d,\"tokens\":%d,\"runs\":%d,\"mel_ms\":%.2f,\"encoder_ms\":%.2f,"
          "\"decoder_ms\":%.2f,\"per_token_ms\":%.3f,\"window_ms\":%.2f,\"rtfx\":%.2f}\n",
          a.shape.c_str(), w.precision.c_str(), threads, batch, a.tokens, a.runs, r.median.mel_ms,
          r.median.encoder_ms, r.median.decoder_ms, r.per_token_ms, r.window_ms, r.rtfx);
      continue;
    }
    std::printf("%s", fmt::format("hark bench: shape {} ({} layers enc / {} dec, d {}), cpu {}, "
                                  "{} threads, batch {}, {} tokens, median of {} runs\n",
                                  a.shape, cfg.n_audio_layer, cfg.n_text_layer, cfg.n_audio_state,
                                  w.precision, threads, batch, a.tokens, a.runs)
                          .c_str());
    std::printf("%-10s %10s %12s %12s %14s %12s %8s\n", "shape", "mel ms", "encoder ms",
                "decoder ms", "ms/token", "ms/window", "RTFx");
    std::printf("%-10s %10.1f %12.1f %12.1f %14.2f %12.1f %8.1f\n", a.shape.c_str(),
                r.median.mel_ms / batch, r.median.encoder_ms / batch, r.median.decoder_ms / batch,
                r.per_token_ms, r.window_ms, r.rtfx);
  }
  return 0;
}
#endif

int run_bench(const BenchArgs& a) {
  ops::set_num_threads(a.threads);
  const Where w = placement_for(a);
#ifndef HARK_ENGINE_ONLY
  if (w.placement.device == Device::kCpu && !a.profile) return run_cpu_windows(a, w);
#endif
  return run_model(a, w);
}

}  // namespace

Run add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "run the standard 30 s window workload (PERF.md)");
  cmd->add_option("--shape", args->shape, "tiny, base, small, medium, large-v3, large-v3-turbo")
      ->default_val("tiny");
  cmd->add_option("--batch", args->batches,
                  "windows in flight, one run per value (e.g. --batch 1,8,32); on the CPU the "
                  "windows of a batch run one after another")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->default_str("1");
  cmd->add_option("--tokens", args->tokens, "tokens decoded per window")
      ->default_val(128)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--runs", args->runs, "timed runs (median reported)")
      ->default_val(3)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "untimed runs first")->default_val(1);
  cmd->add_option("-t,--threads", args->threads, "CPU threads (0: all cores)")->default_val(0);
  cmd->add_option("--device", args->device, "cpu, cuda, cuda:N or auto")->default_val("cpu");
  cmd->add_option("--compute-type", args->compute_type,
                  "float16, bfloat16, float32, int8_float16, int8_bfloat16, int8_float32 or int8 "
                  "(default: float16 on a GPU, float32 on the CPU)")
      ->default_val("default");
  cmd->add_option("--cross-kv", args->cross_kv,
                  "cross-attention K/V of each window: auto (the compute type) or int8 (one fp32 "
                  "scale per key position and head; about half the bytes per decoder step)")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "int8"}));
  cmd->add_flag("--json", args->json, "print one JSON line per batch size instead of a table");
  cmd->add_flag("--no-cuda-graphs", args->no_cuda_graphs,
                "on a GPU, run each decoder step op by op instead of replaying a CUDA graph (as "
                "HARK_CUDA_GRAPHS=0 does)");
  cmd->add_flag("--profile", args->profile,
                "after each batch size, one more run with a per-op time breakdown");
  return [args] { return run_bench(*args); };
}

}  // namespace hark::app
