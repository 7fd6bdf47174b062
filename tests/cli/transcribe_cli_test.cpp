// Drives the real `hark` binary: transcription end to end in every output format, stdin PCM, and
// every kind of bad input answered with one readable line on stderr and a non-zero exit code.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "hark/devices.h"
#include "support/process.h"
#include "support/test_env.h"

namespace hark {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::run_hark;

const std::string kModel = "models/tiny-v3-random";

std::string model_dir() { return testing::test_data(kModel); }

// `hark transcribe AUDIO --model <fixture> ARGS... --beam-size 1
// --temperature-increment-on-fallback none`: greedy without fallback, because a random-weight model
// fails every fallback threshold and the defaults would decode each window six times with five
// samples (the fallback policy has its own tests in tests/pipeline).
std::vector<std::string> transcribe(const std::string& audio, std::vector<std::string> args) {
  std::vector<std::string> all{"transcribe", audio, "--model", model_dir()};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--beam-size", "1", "--temperature-increment-on-fallback", "none"});
  return all;
}
std::string jfk() { return testing::asset("jfk.wav"); }

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

// A failed run: exit code 1, exactly one line on stderr, naming `needle`; never a crash.
void expect_clean_error(const ProcessResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_EQ(r.err.rfind("hark: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' not in: " << r.err;
}

// A copy of the fixture directory whose model.safetensors the caller may damage.
std::string copy_model(const std::string& tag) {
  const std::string dst = testing::temp_dir() + "/model-" + tag;
  fs::remove_all(dst);
  fs::copy(model_dir(), dst, fs::copy_options::recursive);
  return dst;
}

// Rewrites a safetensors file's JSON header with `edit` applied (data section unchanged).
void edit_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  std::string bytes = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
  edit(h);
  std::string hs = h.dump();
  hs.append((8 - hs.size() % 8) % 8, ' ');
  const uint64_t m = hs.size();
  std::string out(reinterpret_cast<const char*>(&m), 8);
  write_file(path, out + hs + bytes.substr(8 + n));
}

TEST(TranscribeCli, EveryFormatEndToEnd) {
  for (const std::string fmt : {"txt", "json", "verbose_json", "srt", "vtt", "tsv"}) {
    const ProcessResult r = run_hark(transcribe(jfk(), {"--format", fmt}));
    ASSERT_EQ(r.exit_code, 0) << fmt << ": " << r.err;
    EXPECT_EQ(r.err, "") << fmt;
    if (fmt == "json") {
      EXPECT_TRUE(nlohmann::json::parse(r.out).contains("text"));
    } else if (fmt == "verbose_json") {
      const auto j = nlohmann::json::parse(r.out);
      EXPECT_NEAR(j.at("duration").get<double>(), 11.0, 0.01);
      ASSERT_FALSE(j.at("segments").empty());
      const auto& s = j.at("segments")[0];
      for (const char* key : {"id", "seek", "start", "end", "text", "tokens", "temperature",
                              "avg_logprob", "compression_ratio", "no_speech_prob"}) {
        EXPECT_TRUE(s.contains(key)) << key;
      }
      EXPECT_TRUE(j.contains("language"));
    } else if (fmt == "vtt") {
      EXPECT_EQ(r.out.rfind("WEBVTT", 0), 0u);
    } else if (fmt == "srt") {
      EXPECT_EQ(r.out.rfind("1\n", 0), 0u) << r.out;
      EXPECT_NE(r.out.find(" --> "), std::string::npos);
    } else if (fmt == "tsv") {
      EXPECT_EQ(r.out.rfind("start\tend\ttext\n", 0), 0u);
    }
  }
}

TEST(TranscribeCli, StdinPcmGivesTheSameResultAsTheFile) {
  // jfk.wav is 16 kHz mono s16le: its data chunk is exactly the raw PCM stdin takes.
  const std::string wav = read_file(jfk());
  const size_t data = wav.find("data");
  ASSERT_NE(data, std::string::npos);
  const std::string pcm = wav.substr(data + 8);
  const auto a = run_hark(transcribe(jfk(), {"-f", "verbose_json"}));
  const auto b = run_hark(transcribe("-", {"-f", "verbose_json"}), pcm);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(TranscribeCli, OutputFileAndNoTimestamps) {
  const std::string out = testing::temp_dir() + "/out.srt";
  const auto r = run_hark(transcribe(jfk(), {"-f", "srt", "--no-timestamps", "-o", out}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  // Without timestamp tokens the window is one segment starting at 0 (it ends at the last timestamp
  // token the model emitted anyway, else at the end of the audio), so one cue.
  const std::string srt = read_file(out);
  EXPECT_EQ(srt.rfind("1\n00:00:00,000 --> 00:00:", 0), 0u) << srt;
  EXPECT_EQ(srt.find("\n2\n"), std::string::npos) << srt;
}

TEST(TranscribeCli, WordTimestampsInVerboseJson) {
  const auto r =
      run_hark(transcribe(jfk(), {"-f", "verbose_json", "-l", "en", "--word-timestamps"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("words"));
  ASSERT_FALSE(j.at("words").empty());
  size_t in_segments = 0;
  double last_start = 0;
  for (const auto& s : j.at("segments")) {
    for (const auto& w : s.at("words")) {
      EXPECT_LE(w.at("start").get<double>(), w.at("end").get<double>());
      EXPECT_GE(w.at("start").get<double>(), last_start) << "words go forward in time";
      EXPECT_TRUE(w.contains("probability"));
      last_start = w.at("start").get<double>();
      ++in_segments;
    }
  }
  EXPECT_EQ(in_segments, j.at("words").size());
  // Without the flag there are no words.
  const auto plain = run_hark(transcribe(jfk(), {"-f", "verbose_json", "-l", "en"}));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("words"));
}

TEST(TranscribeCli, ProgressOnlyWhenAsked) {
  // stderr is a pipe here, so `auto` prints nothing; `on` draws the percentage up to 100 %.
  const auto quiet = run_hark(transcribe(jfk(), {"-f", "txt"}));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  const auto shown = run_hark(transcribe(jfk(), {"-f", "txt", "--progress", "on"}));
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.err.find("jfk.wav: 100%"), std::string::npos) << shown.err;
  EXPECT_EQ(quiet.out, shown.out);
}

TEST(TranscribeCli, UsageErrorsExitWith2) {
  EXPECT_EQ(run_hark({}).exit_code, 2);
  EXPECT_EQ(run_hark({"transcribe", jfk()}).exit_code, 2);  // no --model
  EXPECT_EQ(run_hark({"transcribe", jfk(), "--model", model_dir(), "--task", "sing"}).exit_code, 2);
}

TEST(TranscribeCli, BadOptionValues) {
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "-f", "mp3"}), "mp3");
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "-l", "xx"}), "xx");
}

TEST(TranscribeCli, MissingModelAndAudio) {
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", "/nonexistent/model"}),
                     "/nonexistent/model");
  expect_clean_error(run_hark({"transcribe", "/nonexistent.wav", "--model", model_dir()}),
                     "/nonexistent.wav");
}

TEST(TranscribeCli, TruncatedSafetensors) {
  const std::string dir = copy_model("truncated");
  const std::string st = dir + "/model.safetensors";
  fs::resize_file(st, fs::file_size(st) / 2);
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", dir}), "model.safetensors");
}

TEST(TranscribeCli, HeaderThatLiesAboutSizes) {
  const std::string dir = copy_model("lying");
  edit_header(dir + "/model.safetensors", [](nlohmann::json& h) {
    auto& t = h["model.encoder.conv1.weight"];
    t["data_offsets"][1] = t["data_offsets"][1].get<uint64_t>() + 1000000000ull;
  });
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", dir}), "model.encoder.conv1.weight");
}

TEST(TranscribeCli, MissingTensor) {
  const std::string dir = copy_model("missing");
  edit_header(dir + "/model.safetensors",
              [](nlohmann::json& h) { h.erase("model.decoder.layers.1.fc1.weight"); });
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", dir}),
                     "decoder.layers.1.fc1.weight");
}

TEST(TranscribeCli, WrongShape) {
  const std::string dir = copy_model("shape");
  edit_header(dir + "/model.safetensors", [](nlohmann::json& h) {
    auto& shape = h["model.encoder.conv1.weight"]["shape"];  // [d, n_mels, 3] -> [d*3, n_mels, 1]
    shape = {shape[0].get<int>() * 3, shape[1].get<int>(), 1};
  });
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", dir}), "encoder.conv1.weight");
}

// Byte offset of the first tensor's type field in a ggml file (after hparams, mel, vocabulary).
size_t first_ggml_tensor_type_offset(const std::string& b) {
  auto i32 = [&](size_t off) {
    int32_t v;
    std::memcpy(&v, b.data() + off, 4);
    return v;
  };
  size_t off = 4 + 11 * 4;
  const int n_mel = i32(off), n_fft = i32(off + 4);
  off += 8 + size_t(n_mel) * size_t(n_fft) * 4;
  const int n_tokens = i32(off);
  off += 4;
  for (int i = 0; i < n_tokens; ++i) off += 4 + size_t(i32(off));
  return off + 8;  // n_dims, name_len, then type
}

TEST(TranscribeCli, UnknownGgmlType) {
  const std::string src = testing::test_data("models/tiny-v3-random.ggml-f16.bin");
  std::string b = read_file(src);
  const int32_t bogus = 99;
  std::memcpy(b.data() + first_ggml_tensor_type_offset(b), &bogus, 4);
  const std::string path = testing::temp_dir() + "/bogus-type.bin";
  write_file(path, b);
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", path}), "99");
}

TEST(TranscribeCli, TruncatedGgml) {
  std::string b = read_file(testing::test_data("models/tiny-v3-random.ggml-f16.bin"));
  const std::string path = testing::temp_dir() + "/truncated.bin";
  write_file(path, b.substr(0, b.size() * 2 / 3));
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", path}), "truncated.bin");
}

TEST(TranscribeCli, BadAudio) {
  const std::string dir = testing::temp_dir();
  write_file(dir + "/empty.wav", "");
  std::string noise(4096, '\0');
  for (size_t i = 0; i < noise.size(); ++i) noise[i] = char((i * 2654435761u) >> 13);
  write_file(dir + "/corrupt.mp3", noise);
  write_file(dir + "/notes.txt", "This is a text file, not audio.\n");
  const std::string wav = read_file(jfk());
  write_file(dir + "/cut.wav", wav.substr(0, 30));
  for (const std::string name : {"empty.wav", "corrupt.mp3", "notes.txt", "cut.wav"}) {
    SCOPED_TRACE(name);
    expect_clean_error(run_hark({"transcribe", dir + "/" + name, "--model", model_dir()}), name);
  }
  expect_clean_error(run_hark({"transcribe", "-", "--model", model_dir()}, "abc"), "stdin");
}

TEST(TranscribeCli, DeviceAndComputeTypeChoices) {
  // The CPU takes float32 only; an unknown device or compute type names the culprit.
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "--compute-type",
                               "float16", "--device", "cpu"}),
                     "float32 only");
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "--device", "tpu"}),
                     "tpu");
  expect_clean_error(
      run_hark({"transcribe", jfk(), "--model", model_dir(), "--compute-type", "float8"}),
      "float8");
  // An explicit CPU device transcribes like the default on a machine without a usable GPU.
  const auto cpu = run_hark(transcribe(jfk(), {"-f", "json", "--device", "cpu"}));
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_NE(cpu.out.find("\"text\""), std::string::npos);
  // int8 weights run on the CPU too, with float32 activations; fp16 activations do not.
  const auto int8 =
      run_hark(transcribe(jfk(), {"-f", "json", "--device", "cpu", "--compute-type", "int8"}));
  ASSERT_EQ(int8.exit_code, 0) << int8.err;
  EXPECT_NE(int8.out.find("\"text\""), std::string::npos);
  expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "--compute-type",
                               "int8_float16", "--device", "cpu"}),
                     "float32 only");
}

TEST(TranscribeCli, CudaWithoutAUsableGpuFailsWithOneLine) {
  if (!hark::gpu_unavailable_reason().empty()) {
    expect_clean_error(run_hark({"transcribe", jfk(), "--model", model_dir(), "--device", "cuda"}),
                       "cannot be used");
    expect_clean_error(
        run_hark({"transcribe", jfk(), "--model", model_dir(), "--device", "cuda:3"}), "cuda:3");
  } else {
    // With a GPU, a device index past the last one is refused by name.
    expect_clean_error(
        run_hark({"transcribe", jfk(), "--model", model_dir(), "--device", "cuda:99"}), "99");
  }
}

}  // namespace
}  // namespace hark
