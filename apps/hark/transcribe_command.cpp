// `hark transcribe AUDIO... --model PATH`: files (any format FFmpeg reads, or `-` for raw 16 kHz
// mono s16le PCM on stdin) to text in one of OpenAI's output formats, on stdout or --output.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "audio/decode.h"
#include "commands.h"
#include "core/error.h"
#include "hark/engine.h"
#include "text/formats.h"

namespace hark::app {
namespace {

struct TranscribeArgs {
  std::vector<std::string> inputs;
  EngineOptions engine;
  TranscribeOptions options;
  std::string format = "txt";
  std::string output;
  std::string output_dir;
  bool no_timestamps = false;
};

std::vector<float> read_input(const std::string& path) {
  if (path == "-") {
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(std::cin)),
                               std::istreambuf_iterator<char>());
    HARK_CHECK(!bytes.empty(), ErrorKind::kInvalidAudio, "stdin: no audio data");
    try {
      return audio::decode_pcm16(bytes);
    } catch (const Error& e) {
      throw Error(e.kind(), std::string("stdin: ") + e.what());
    }
  }
  return audio::decode_file(path);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  HARK_CHECK(f.good(), ErrorKind::kIo, "{}: cannot open for writing", path);
  f << text;
  HARK_CHECK(f.good(), ErrorKind::kIo, "{}: write failed", path);
}

std::string output_name(const std::string& input, text::OutputFormat fmt) {
  const std::string stem = input == "-" ? "stdin" : std::filesystem::path(input).stem().string();
  std::string ext(text::format_name(fmt));
  if (ext == "verbose_json") ext = "json";
  return stem + "." + ext;
}

int run_transcribe(const TranscribeArgs& a) {
  const text::OutputFormat fmt = text::parse_output_format(a.format);
  HARK_CHECK(a.output.empty() || a.output_dir.empty(), ErrorKind::kInvalidArgument,
             "--output and --output-dir cannot be combined");
  HARK_CHECK(a.output.empty() || a.inputs.size() == 1, ErrorKind::kInvalidArgument,
             "--output takes one input; use --output-dir DIR for {} inputs", a.inputs.size());
  // Validate inputs before the (slow) model load so a typo fails fast.
  for (const auto& in : a.inputs) {
    HARK_CHECK(in == "-" || std::filesystem::exists(in), ErrorKind::kNotFound, "{}: no such file",
               in);
  }
  TranscribeOptions opts = a.options;
  opts.timestamps = !a.no_timestamps;
  auto engine = Engine::load(a.engine);
  std::string out_all;
  for (const auto& in : a.inputs) {
    const std::vector<float> pcm = read_input(in);
    const Result r = engine->transcribe(pcm, opts);
    const std::string text = text::format_result(r, fmt);
    if (!a.output_dir.empty()) {
      std::filesystem::create_directories(a.output_dir);
      write_text((std::filesystem::path(a.output_dir) / output_name(in, fmt)).string(), text);
    } else {
      out_all += text;
    }
  }
  if (!a.output.empty()) {
    write_text(a.output, out_all);
  } else if (a.output_dir.empty()) {
    std::fwrite(out_all.data(), 1, out_all.size(), stdout);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

Run add_transcribe_command(CLI::App& app) {
  auto args = std::make_shared<TranscribeArgs>();
  CLI::App* cmd = app.add_subcommand("transcribe", "transcribe audio files to text");
  cmd->add_option("audio", args->inputs,
                  "audio files (any format FFmpeg reads; - for 16 kHz s16le PCM on stdin)")
      ->required();
  cmd->add_option("-m,--model", args->engine.model_path,
                  "model: HF directory, .safetensors file, or whisper.cpp ggml .bin")
      ->required();
  cmd->add_option("--tokenizer", args->engine.tokenizer_path,
                  "tokenizer file (.tiktoken or tokenizer.json) when the model has none");
  cmd->add_option("-l,--language", args->options.language, "language code, or auto to detect")
      ->default_val("auto");
  cmd->add_option("--task", args->options.task, "transcribe or translate (to English)")
      ->check(CLI::IsMember({"transcribe", "translate"}))
      ->default_val("transcribe");
  cmd->add_flag("--no-timestamps", args->no_timestamps, "decode without timestamp tokens");
  cmd->add_option("--initial-prompt", args->options.initial_prompt,
                  "text to condition the first window on");
  cmd->add_option("-f,--format", args->format, "txt, json, verbose_json, srt, vtt or tsv")
      ->default_val("txt");
  cmd->add_option("-t,--threads", args->engine.threads, "CPU threads (0: all cores)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", args->engine.device, "auto or cpu")->default_val("auto");
  cmd->add_option("-o,--output", args->output, "write the result to this file instead of stdout");
  cmd->add_option("--output-dir", args->output_dir, "write one file per input into this directory");
  return [args] { return run_transcribe(*args); };
}

}  // namespace hark::app
