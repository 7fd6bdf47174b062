// `hark serve --model PATH`: the HTTP API (src/server/). This file only parses options.
#include <spdlog/spdlog.h>

#include <memory>
#include <sstream>

#include "commands.h"
#include "hark/error.h"
#include "server/server.h"

namespace hark::app {
namespace {

struct ServeArgs {
  server::ServerOptions o;
  std::string devices = "auto";
  double max_upload_mb = 25;
  double url_max_mb = 0;
  int beam_size = 5;
  int best_of = 5;
  bool no_fallback = false;
  std::string log_level = "info";
};

std::vector<std::string> split_devices(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string d; std::getline(in, d, ',');) {
    if (!d.empty()) out.push_back(d);
  }
  if (out.empty()) throw Error(ErrorKind::kInvalidArgument, "--device: no device given");
  return out;
}

int run_serve(ServeArgs a) {
  spdlog::set_level(spdlog::level::from_str(a.log_level));
  server::ServerOptions& o = a.o;
  o.devices = split_devices(a.devices);
  o.max_upload_bytes = size_t(a.max_upload_mb * 1024 * 1024);
  o.url_max_bytes = size_t(a.url_max_mb * 1024 * 1024);
  o.defaults.beam_size = a.beam_size > 1 ? std::optional<int>(a.beam_size) : std::nullopt;
  o.defaults.best_of = a.best_of;
  if (a.no_fallback) o.defaults.temperature = {0.0};
  return server::run_server(o);
}

}  // namespace

Run add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  server::ServerOptions& o = a->o;
  CLI::App* cmd = app.add_subcommand("serve", "serve the HTTP API (OpenAI-compatible and native)");
  cmd->add_option("-m,--model", o.engine.model_path,
                  "model: HF directory, .safetensors file, or whisper.cpp ggml .bin")
      ->required();
  cmd->add_option("--tokenizer", o.engine.tokenizer_path,
                  "tokenizer file (.tiktoken or tokenizer.json) when the model has none");
  cmd->add_option("--host", o.host, "address to listen on")->default_val("127.0.0.1");
  cmd->add_option("--port", o.port, "port to listen on (0: any free port; the log says which)")
      ->default_val(8000)
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--device", a->devices,
                  "auto | cpu | cuda | cuda:N, or a comma-separated list (one engine each)")
      ->default_val("auto");
  cmd->add_option("--compute-type", o.engine.compute_type,
                  "default | float32 | float16 | bfloat16 | int8 | int8_float16 | int8_bfloat16 | "
                  "int8_float32")
      ->default_val("default");
  cmd->add_option("--cross-kv", o.engine.cross_kv,
                  "cross-attention K/V of each window: auto (the compute type) or int8 (one fp32 "
                  "scale per key position and head; about half the bytes per decoder step)")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "int8"}));
  cmd->add_option("-t,--threads", o.engine.threads, "CPU threads per engine (0: all cores)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--workers", o.workers_per_engine, "transcriptions running at once per engine")
      ->default_val(1)
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue-size", o.queue_size,
                  "requests waiting per engine beyond the running ones; more get 503")
      ->default_val(64)
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--api-key", o.api_keys,
                  "require this key (Authorization: Bearer KEY or X-API-Key); repeatable");
  cmd->add_option("--api-keys-file", o.api_keys_file,
                  "require one of the keys in this file (one per line, # comments)");
  cmd->add_option("--max-upload-mb", a->max_upload_mb, "largest upload accepted, in MiB")
      ->default_val(25)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-audio-seconds", o.max_audio_seconds,
                  "longest audio accepted per request, in seconds")
      ->default_val(4 * 3600)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--request-timeout", o.request_timeout_s,
                  "deadline of one transcription in seconds, queueing included (504 after)")
      ->default_val(600)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shutdown-grace", o.shutdown_grace_s,
                  "on SIGTERM, seconds in-flight requests get to finish before cancellation")
      ->default_val(30)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--cors-origin", o.cors_origins,
                  "allow browser requests from this origin (* for any); repeatable");
  cmd->add_flag("--allow-private-urls", o.allow_private_urls,
                "let /transcribe/url fetch from private, loopback and link-local addresses");
  cmd->add_option("--url-timeout", o.url_timeout_s, "time limit of a /transcribe/url fetch, s")
      ->default_val(60)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--url-max-mb", a->url_max_mb,
                  "size limit of a /transcribe/url fetch in MiB (0: --max-upload-mb)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--beam-size", a->beam_size, "beams at temperature 0 (1: greedy)")
      ->default_val(5)
      ->check(CLI::Range(1, 64));
  cmd->add_option("--best-of", a->best_of, "candidates when sampling at temperature > 0")
      ->default_val(5)
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--no-fallback", a->no_fallback,
                "decode once at temperature 0 (no fallback to higher temperatures)");
  cmd->add_option("--io-threads", o.io_threads, "threads serving HTTP connections")
      ->default_val(2)
      ->check(CLI::Range(1, 64));
  cmd->add_option("--log-level", a->log_level, "trace | debug | info | warn | error | off")
      ->default_val("info")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  // Tests only: keep /health at "loading" this long before loading the model.
  cmd->add_option("--debug-load-delay-ms", o.load_delay_ms)->group("")->default_val(0);
  return [a] { return run_serve(*a); };
}

}  // namespace hark::app
