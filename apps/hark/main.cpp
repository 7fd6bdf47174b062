#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("hark"));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{"hark: a speech-to-text server and toolkit for OpenAI Whisper models"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "log progress and timings to stderr")->configurable(false);
  app.set_version_flag("--version", std::string("hark 0.1.0"));
  auto bench = hark::app::add_bench_command(app);
#ifndef HARK_ENGINE_ONLY
  auto transcribe = hark::app::add_transcribe_command(app);
#ifndef HARK_NO_SERVER
  auto serve = hark::app::add_serve_command(app);
#endif
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version print and succeed; every usage error exits with 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (verbose) spdlog::set_level(spdlog::level::info);
  try {
    if (app.got_subcommand("bench")) return bench();
#ifndef HARK_ENGINE_ONLY
    if (app.got_subcommand("transcribe")) return transcribe();
#ifndef HARK_NO_SERVER
    if (app.got_subcommand("serve")) return serve();
#endif
#endif
  } catch (const hark::Error& e) {
    std::fprintf(stderr, "hark: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hark: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
