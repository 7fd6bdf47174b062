// `hark bench`: PERF.md's standard workload on a named Whisper shape with random weights drawn in
// process (no checkpoint needed), printing per-stage medians and the RTFx.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <thread>

#include "bench/workload.h"
#include "commands.h"
#include "core/error.h"
#include "ops/ops.h"

namespace hark::app {
namespace {

struct BenchArgs {
  std::string shape = "tiny";
  std::string device = "cpu";
  bench::WorkloadOptions workload;
  int threads = 0;
  bool json = false;
};

int run_bench(const BenchArgs& a) {
  HARK_CHECK(a.device == "cpu" || a.device == "auto", ErrorKind::kUnsupported,
             "device '{}' is not available in this build (use cpu)", a.device);
  ops::set_num_threads(a.threads);
  const model::ModelConfig cfg = bench::shape_config(a.shape);
  const model::Checkpoint ckpt = bench::random_checkpoint(cfg, 1234);
  const bench::WorkloadReport r = bench::run_standard_workload(ckpt, a.workload);
  const int threads = ops::num_threads();
  if (a.json) {
    std::printf(
        "{\"shape\":\"%s\",\"device\":\"cpu\",\"precision\":\"fp32\",\"threads\":%d,\"batch\":%d,"
        "\"tokens\":%d,\"runs\":%d,\"mel_ms\":%.2f,\"encoder_ms\":%.2f,\"decoder_ms\":%.2f,"
        "\"per_token_ms\":%.3f,\"window_ms\":%.2f,\"rtfx\":%.2f}\n",
        a.shape.c_str(), threads, a.workload.batch, a.workload.tokens, a.workload.runs,
        r.median.mel_ms, r.median.encoder_ms, r.median.decoder_ms, r.per_token_ms, r.window_ms,
        r.rtfx);
    return 0;
  }
  std::printf("%s", fmt::format("hark bench: shape {} ({} layers enc / {} dec, d {}), cpu fp32, "
                                "{} threads, batch {}, {} tokens, median of {} runs\n",
                                a.shape, cfg.n_audio_layer, cfg.n_text_layer, cfg.n_audio_state,
                                threads, a.workload.batch, a.workload.tokens, a.workload.runs)
                        .c_str());
  std::printf("%-10s %10s %12s %12s %14s %12s %8s\n", "shape", "mel ms", "encoder ms", "decoder ms",
              "ms/token", "ms/window", "RTFx");
  std::printf("%-10s %10.1f %12.1f %12.1f %14.2f %12.1f %8.1f\n", a.shape.c_str(),
              r.median.mel_ms / a.workload.batch, r.median.encoder_ms / a.workload.batch,
              r.median.decoder_ms / a.workload.batch, r.per_token_ms, r.window_ms, r.rtfx);
  return 0;
}

}  // namespace

Run add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "run the standard 30 s window workload (PERF.md)");
  cmd->add_option("--shape", args->shape, "tiny, base, small, medium, large-v3, large-v3-turbo")
      ->default_val("tiny");
  cmd->add_option("--batch", args->workload.batch, "windows per run")
      ->default_val(1)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--tokens", args->workload.tokens, "tokens decoded per window")
      ->default_val(128)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--runs", args->workload.runs, "timed runs (median reported)")
      ->default_val(3)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->workload.warmup, "untimed runs first")->default_val(1);
  cmd->add_option("-t,--threads", args->threads, "CPU threads (0: all cores)")->default_val(0);
  cmd->add_option("--device", args->device, "cpu")->default_val("cpu");
  cmd->add_flag("--json", args->json, "print one JSON line instead of a table");
  return [args] { return run_bench(*args); };
}

}  // namespace hark::app
