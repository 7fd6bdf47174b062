// `hark transcribe AUDIO... --model PATH`: files (any format FFmpeg reads, or `-` for raw 16 kHz
// mono s16le PCM on stdin) to text in one of OpenAI's output formats, on stdout or --output.
#include <unistd.h>

#include <cmath>
#include <optional>

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
  // openai-whisper's optional values: a number, or "none" to disable.
  double temperature = 0;
  std::string temperature_increment = "0.2";
  std::string best_of = "5", beam_size = "5", patience = "none", length_penalty = "none";
  std::string compression_ratio_threshold = "2.4", logprob_threshold = "-1.0";
  std::string no_speech_threshold = "0.6", hallucination_silence_threshold = "none";
  std::string condition_on_previous_text = "true", word_timestamps = "false";
  std::string clip_timestamps = "0";
  std::string progress = "auto";
};

std::optional<double> optional_number(const std::string& name, const std::string& v) {
  if (v == "none" || v == "None" || v.empty()) return std::nullopt;
  try {
    size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size() && std::isfinite(d)) return d;
  } catch (const std::exception&) {
  }
  throw_error(ErrorKind::kInvalidArgument, "--{}: '{}' is not a number (or none)", name, v);
}

std::optional<int> optional_int(const std::string& name, const std::string& v) {
  const auto d = optional_number(name, v);
  if (!d) return std::nullopt;
  HARK_CHECK(*d == std::floor(*d) && *d >= 1 && *d <= 1000, ErrorKind::kInvalidArgument,
             "--{}: '{}' must be a positive integer (or none)", name, v);
  return int(*d);
}

bool boolean(const std::string& name, const std::string& v) {
  if (v.empty() || v == "true" || v == "True" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "False" || v == "0" || v == "no") return false;
  throw_error(ErrorKind::kInvalidArgument, "--{}: '{}' is not true or false", name, v);
}

// openai-whisper: temperatures = arange(t, 1.0 + 1e-6, increment), or [t] without increment.
std::vector<double> temperatures(double t, const std::optional<double>& inc) {
  HARK_CHECK(t >= 0, ErrorKind::kInvalidArgument, "--temperature must be >= 0");
  if (!inc) return {t};
  HARK_CHECK(*inc > 0, ErrorKind::kInvalidArgument,
             "--temperature-increment-on-fallback must be > 0 (or none)");
  std::vector<double> out;
  for (int i = 0; t + i * *inc <= 1.0 + 1e-6; ++i) out.push_back(t + i * *inc);
  if (out.empty()) out.push_back(t);
  return out;
}

std::vector<double> clip_list(const std::string& v) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos < v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    const auto d = optional_number("clip-timestamps", v.substr(pos, comma - pos));
    HARK_CHECK(d.has_value(), ErrorKind::kInvalidArgument,
               "--clip-timestamps: comma-separated seconds, e.g. 0,30.5,60");
    out.push_back(*d);
    pos = comma + 1;
  }
  return out;
}

// Applies the string-valued options to a.options; throws on a bad value.
void resolve_options(TranscribeArgs& a) {
  TranscribeOptions& o = a.options;
  o.timestamps = !a.no_timestamps;
  o.temperature = temperatures(
      a.temperature, optional_number("temperature-increment-on-fallback", a.temperature_increment));
  o.best_of = optional_int("best-of", a.best_of);
  o.beam_size = optional_int("beam-size", a.beam_size);
  o.patience = optional_number("patience", a.patience);
  o.length_penalty = optional_number("length-penalty", a.length_penalty);
  o.compression_ratio_threshold =
      optional_number("compression-ratio-threshold", a.compression_ratio_threshold);
  o.logprob_threshold = optional_number("logprob-threshold", a.logprob_threshold);
  o.no_speech_threshold = optional_number("no-speech-threshold", a.no_speech_threshold);
  o.hallucination_silence_threshold =
      optional_number("hallucination-silence-threshold", a.hallucination_silence_threshold);
  o.condition_on_previous_text =
      boolean("condition-on-previous-text", a.condition_on_previous_text);
  o.word_timestamps = boolean("word-timestamps", a.word_timestamps);
  o.clip_timestamps = clip_list(a.clip_timestamps);
}

// A one-line percentage on stderr, redrawn in place; only when stderr is a terminal (or forced).
class Progress {
 public:
  Progress(const std::string& mode, std::string name)
      : on_(mode == "on" || (mode == "auto" && ::isatty(2))), name_(std::move(name)) {}
  void update(double fraction) {
    if (!on_) return;
    std::fprintf(stderr, "\r%s: %3d%%", name_.c_str(), int(fraction * 100 + 0.5));
    std::fflush(stderr);
  }
  ~Progress() {
    if (on_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_;
  std::string name_;
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
  TranscribeArgs resolved = a;
  resolve_options(resolved);
  TranscribeOptions opts = resolved.options;
  auto engine = Engine::load(a.engine);
  std::string out_all;
  for (const auto& in : a.inputs) {
    const std::vector<float> pcm = read_input(in);
    Result r;
    {
      Progress progress(a.progress, in == "-" ? "stdin" : in);
      TranscribeOptions with_progress = opts;
      with_progress.on_progress = [&progress](double f) { progress.update(f); };
      r = engine->transcribe(pcm, with_progress);
    }
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
  cmd->add_flag("--carry-initial-prompt", args->options.carry_initial_prompt,
                "keep the initial prompt before every window's previous text");
  cmd->add_option("--temperature", args->temperature, "sampling temperature of the first attempt")
      ->default_val(0);
  cmd->add_option("--temperature-increment-on-fallback", args->temperature_increment,
                  "temperature step on fallback, or none")
      ->default_val("0.2");
  cmd->add_option("--best-of", args->best_of, "candidates when sampling at temperature > 0")
      ->default_val("5");
  cmd->add_option("--beam-size", args->beam_size, "beams at temperature 0 (1 or none: greedy)")
      ->default_val("5");
  cmd->add_option("--patience", args->patience, "beam search patience (none: 1.0)")
      ->default_val("none");
  cmd->add_option("--length-penalty", args->length_penalty,
                  "length penalty alpha in [0,1] (none: divide by length)")
      ->default_val("none");
  cmd->add_option("--condition-on-previous-text", args->condition_on_previous_text,
                  "prompt each window with the previous text (true|false)")
      ->default_val("true");
  cmd->add_option("--compression-ratio-threshold", args->compression_ratio_threshold,
                  "fall back when the gzip compression ratio is above this (or none)")
      ->default_val("2.4");
  cmd->add_option("--logprob-threshold", args->logprob_threshold,
                  "fall back when the average log-probability is below this (or none)")
      ->default_val("-1.0");
  cmd->add_option("--no-speech-threshold", args->no_speech_threshold,
                  "skip a window as silence when <|nospeech|> is likelier than this and the "
                  "log-probability threshold failed (or none)")
      ->default_val("0.6");
  cmd->add_flag(
      "--word-timestamps{true}", args->word_timestamps,
      "word-level timestamps in verbose_json, srt and vtt (--word-timestamps[=true|false])");
  cmd->add_option("--hallucination-silence-threshold", args->hallucination_silence_threshold,
                  "with word timestamps, skip silences longer than this many seconds around a "
                  "possible hallucination (or none)")
      ->default_val("none");
  cmd->add_option("--clip-timestamps", args->clip_timestamps,
                  "comma-separated start,end,... seconds to transcribe (default: all)")
      ->default_val("0");
  cmd->add_option("--suppress-tokens", args->options.suppress_tokens,
                  "comma-separated token ids to suppress; -1: the model's non-speech set")
      ->default_val("-1");
  cmd->add_option("--seed", args->options.seed, "seed for sampling at temperature > 0")
      ->default_val(0);
  cmd->add_option("--progress", args->progress, "auto (when stderr is a terminal), on or off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->default_val("auto");
  cmd->add_option("-f,--format", args->format, "txt, json, verbose_json, srt, vtt or tsv")
      ->default_val("txt");
  cmd->add_option("-t,--threads", args->engine.threads, "CPU threads (0: all cores)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", args->engine.device,
                  "auto | cpu | cuda | cuda:N (auto: GPU 0 when usable, else the CPU)")
      ->default_val("auto");
  cmd->add_option("--compute-type", args->engine.compute_type,
                  "default | float32 | float16 | bfloat16 | int8 | int8_float16 | int8_bfloat16 "
                  "| int8_float32 (default: float16 on a GPU, float32 on the CPU; int8_X: int8 "
                  "linear weights, X activations)")
      ->default_val("default");
  cmd->add_option("--cross-kv", args->engine.cross_kv,
                  "cross-attention K/V of each window: auto (the compute type) or int8 (one fp32 "
                  "scale per key position and head; about half the bytes per decoder step)")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "int8"}));
  cmd->add_option("-o,--output", args->output, "write the result to this file instead of stdout");
  cmd->add_option("--output-dir", args->output_dir, "write one file per input into this directory");
  return [args] { return run_transcribe(*args); };
}

}  // namespace hark::app
