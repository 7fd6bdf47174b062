// Decoding real files (compared with the samples read straight from the WAV), synthetic WAVs that
// need resampling and down-mixing, raw PCM, and every kind of bad input.
#include "audio/decode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>

#include "core/error.h"
#include "support/test_env.h"

namespace hark::audio {
namespace {

using hark::testing::asset;
using hark::testing::temp_dir;

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f) << path;
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string write_file(const std::string& name, std::span<const uint8_t> bytes) {
  std::string path = temp_dir() + "/" + name;
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return path;
}

uint32_t le32(const std::vector<uint8_t>& b, size_t pos) {
  return uint32_t(b[pos]) | uint32_t(b[pos + 1]) << 8 | uint32_t(b[pos + 2]) << 16 |
         uint32_t(b[pos + 3]) << 24;
}

// The int16 samples of a 16-bit mono PCM WAV, read from its chunks without FFmpeg.
std::vector<int16_t> wav_pcm16(const std::vector<uint8_t>& b) {
  EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "RIFF");
  EXPECT_EQ(std::string(b.begin() + 8, b.begin() + 12), "WAVE");
  std::vector<int16_t> samples;
  for (size_t pos = 12; pos + 8 <= b.size();) {
    std::string id(b.begin() + long(pos), b.begin() + long(pos) + 4);
    uint32_t size = le32(b, pos + 4);
    if (id == "fmt ") {
      EXPECT_EQ(b[pos + 8] | b[pos + 9] << 8, 1);    // PCM
      EXPECT_EQ(b[pos + 10] | b[pos + 11] << 8, 1);  // mono
      EXPECT_EQ(le32(b, pos + 12), 16000u);
      EXPECT_EQ(b[pos + 22] | b[pos + 23] << 8, 16);
    } else if (id == "data") {
      for (size_t i = 0; i + 1 < size && pos + 9 + i < b.size(); i += 2) {
        samples.push_back(int16_t(b[pos + 8 + i] | b[pos + 9 + i] << 8));
      }
    }
    pos += 8 + size + (size & 1);
  }
  return samples;
}

// A 16-bit PCM WAV of interleaved `channels`-channel samples.
std::vector<uint8_t> make_wav(const std::vector<int16_t>& interleaved, int channels, int rate) {
  std::vector<uint8_t> b;
  auto put = [&b](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(uint8_t(v >> (8 * i)));
  };
  auto tag = [&b](const char* s) { b.insert(b.end(), s, s + 4); };
  uint32_t data_bytes = uint32_t(interleaved.size() * 2);
  tag("RIFF");
  put(36 + data_bytes, 4);
  tag("WAVE");
  tag("fmt ");
  put(16, 4);
  put(1, 2);
  put(uint32_t(channels), 2);
  put(uint32_t(rate), 4);
  put(uint32_t(rate * channels * 2), 4);
  put(uint32_t(channels * 2), 2);
  put(16, 2);
  tag("data");
  put(data_bytes, 4);
  for (int16_t s : interleaved) put(uint16_t(s), 2);
  return b;
}

// Asserts that `fn` throws hark::Error of `kind` whose message contains `needle`.
template <typename Fn>
void expect_error(Fn fn, ErrorKind kind, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an Error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(Decode, JfkWavEqualsItsSamples) {
  std::vector<int16_t> want = wav_pcm16(read_bytes(asset("jfk.wav")));
  ASSERT_EQ(want.size(), 176000u);
  std::vector<float> got = decode_file(asset("jfk.wav"));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], float(want[i]) / 32768.0f) << i;
}

TEST(Decode, JfkFlacMatchesTheWav) {
  // The FLAC is 44.1 kHz stereo 24-bit: it goes through the resampler and the down-mix.
  std::vector<float> wav = decode_file(asset("jfk.wav"));
  std::vector<float> flac = decode_file(asset("jfk.flac"));
  ASSERT_EQ(flac.size(), wav.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < wav.size(); ++i) {
    diff += double(flac[i] - wav[i]) * double(flac[i] - wav[i]);
    norm += double(wav[i]) * double(wav[i]);
  }
  EXPECT_LT(std::sqrt(diff / norm), 3e-4);
}

TEST(Decode, MemoryEqualsFile) {
  for (const char* name : {"jfk.wav", "jfk.flac"}) {
    std::vector<uint8_t> bytes = read_bytes(asset(name));
    EXPECT_EQ(decode_memory(bytes, name), decode_file(asset(name))) << name;
  }
}

TEST(Decode, ResamplesAndAveragesChannels) {
  // 8 kHz stereo, left 0.5 sin, right 0.25 sin of 440 Hz: mono 16 kHz 0.375 sin.
  const int rate = 8000, frames = 8000;
  std::vector<int16_t> interleaved;
  for (int i = 0; i < frames; ++i) {
    double s = std::sin(2 * std::numbers::pi * 440 * i / rate);
    interleaved.push_back(int16_t(std::lround(0.5 * s * 32767)));
    interleaved.push_back(int16_t(std::lround(0.25 * s * 32767)));
  }
  std::vector<uint8_t> wav = make_wav(interleaved, 2, rate);
  std::vector<float> got = decode_memory(wav, "tone.wav");
  ASSERT_NEAR(double(got.size()), 2.0 * frames, 2.0);
  double max_err = 0;
  for (size_t i = 200; i + 200 < got.size(); ++i) {  // away from the filter's edges
    double want = 0.375 * std::sin(2 * std::numbers::pi * 440 * double(i) / kSampleRate);
    max_err = std::max(max_err, std::abs(double(got[i]) - want));
  }
  EXPECT_LT(max_err, 2e-3);
}

TEST(Decode, Pcm16) {
  const std::vector<uint8_t> bytes = {0x00, 0x00, 0xff, 0x7f, 0x00, 0x80, 0x01, 0x00, 0xff, 0xff};
  std::vector<float> want = {0.0f, 32767.0f / 32768.0f, -1.0f, 1.0f / 32768.0f, -1.0f / 32768.0f};
  EXPECT_EQ(decode_pcm16(bytes), want);
  EXPECT_TRUE(decode_pcm16({}).empty());
  expect_error([&] { decode_pcm16(std::span(bytes).first(3)); }, ErrorKind::kInvalidAudio,
               "odd number of bytes (3)");
}

TEST(Decode, Pcm16OfTheWavDataEqualsTheWav) {
  std::vector<uint8_t> wav = read_bytes(asset("jfk.wav"));
  std::vector<int16_t> samples = wav_pcm16(wav);
  std::vector<uint8_t> raw(samples.size() * 2);
  std::memcpy(raw.data(), samples.data(), raw.size());  // this host is little-endian
  EXPECT_EQ(decode_pcm16(raw), decode_file(asset("jfk.wav")));
}

TEST(Decode, MissingFileIsNotFound) {
  std::string path = temp_dir() + "/does-not-exist.wav";
  expect_error([&] { decode_file(path); }, ErrorKind::kNotFound, path);
}

TEST(Decode, EmptyInputIsInvalid) {
  std::string path = write_file("empty.wav", {});
  expect_error([&] { decode_file(path); }, ErrorKind::kInvalidAudio, "empty.wav: empty");
  expect_error([&] { decode_memory({}, "upload.mp3"); }, ErrorKind::kInvalidAudio,
               "upload.mp3: empty");
}

TEST(Decode, RandomBytesAreInvalid) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> bytes(65536);
    for (auto& b : bytes) b = uint8_t(rng());
    std::string path = write_file("random.bin", bytes);
    expect_error([&] { decode_file(path); }, ErrorKind::kInvalidAudio, "random.bin");
    expect_error([&] { decode_memory(bytes, "noise.bin"); }, ErrorKind::kInvalidAudio, "noise.bin");
  }
}

TEST(Decode, TextFileIsNotAudio) {
  std::string text = "And so my fellow Americans, ask not what your country can do for you.\n";
  std::string path =
      write_file("x.txt", std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  expect_error([&] { decode_file(path); }, ErrorKind::kInvalidAudio, "x.txt: not an audio file");
}

TEST(Decode, SubtitlesHaveNoAudioStream) {
  std::string srt = "1\n00:00:01,000 --> 00:00:02,500\nAsk not what your country can do.\n\n";
  std::string path =
      write_file("talk.srt", std::span(reinterpret_cast<const uint8_t*>(srt.data()), srt.size()));
  expect_error([&] { decode_file(path); }, ErrorKind::kInvalidAudio,
               "talk.srt: not an audio file (no audio stream found)");
}

TEST(Decode, TruncatedWavIsInvalid) {
  std::vector<uint8_t> wav = read_bytes(asset("jfk.wav"));
  for (size_t keep : {4u, 20u, 44u, 78u}) {  // in RIFF, fmt, LIST; the whole header, no samples
    SCOPED_TRACE(keep);
    std::string path = write_file("cut.wav", std::span(wav).first(keep));
    expect_error([&] { decode_file(path); }, ErrorKind::kInvalidAudio, "cut.wav");
    expect_error([&] { decode_memory(std::span(wav).first(keep), "cut.wav"); },
                 ErrorKind::kInvalidAudio, "cut.wav");
  }
}

TEST(Decode, TruncatedDataKeepsWhatDecoded) {
  std::vector<uint8_t> wav = read_bytes(asset("jfk.wav"));
  std::vector<float> full = decode_file(asset("jfk.wav"));
  auto data = std::search(wav.begin(), wav.end(), std::begin("data"), std::end("data") - 1);
  ASSERT_NE(data, wav.end());
  size_t first_sample = size_t(data - wav.begin()) + 8;
  std::vector<float> cut = decode_memory(std::span(wav).first(first_sample + 2 * 1000), "cut.wav");
  ASSERT_EQ(cut.size(), 1000u);
  EXPECT_TRUE(std::equal(cut.begin(), cut.end(), full.begin()));
}

TEST(Decode, DirectoryIsInvalid) {
  expect_error([&] { decode_file(temp_dir()); }, ErrorKind::kInvalidAudio, "directory");
}

TEST(Decode, LengthCapStopsDecoding) {
  expect_error([&] { decode_file(asset("jfk.wav"), kSampleRate * 5); }, ErrorKind::kInvalidAudio,
               "too long");
  EXPECT_EQ(decode_file(asset("jfk.wav"), 176000).size(), 176000u);
}

}  // namespace
}  // namespace hark::audio
