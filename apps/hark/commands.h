// The subcommands of `hark`. Each registers its options on the CLI11 app and returns the function
// that runs it (exit code). Errors escape as hark::Error; main() prints them as one line.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace hark::app {

using Run = std::function<int()>;

Run add_transcribe_command(CLI::App& app);
Run add_bench_command(CLI::App& app);
Run add_serve_command(CLI::App& app);

}  // namespace hark::app
