// Our WAV reader (the audio input of builds without FFmpeg) against FFmpeg's decoding of the same
// file, and on hostile or unsupported input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "audio/decode.h"
#include "core/error.h"
#include "support/test_env.h"

namespace hark::audio {
namespace {

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

// A canonical 44-byte-header WAV of `frames` frames.
std::vector<uint8_t> make_wav(int format, int channels, uint32_t rate, int bits,
                              const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b(44 + data.size(), 0);
  std::memcpy(b.data(), "RIFF", 4);
  put32(b, 4, uint32_t(36 + data.size()));
  std::memcpy(b.data() + 8, "WAVEfmt ", 8);
  put32(b, 16, 16);
  b[20] = uint8_t(format);
  b[22] = uint8_t(channels);
  put32(b, 24, rate);
  put32(b, 28, rate * uint32_t(channels * bits / 8));
  b[32] = uint8_t(channels * bits / 8);
  b[34] = uint8_t(bits);
  std::memcpy(b.data() + 36, "data", 4);
  put32(b, 40, uint32_t(data.size()));
  for (size_t i = 0; i < data.size(); ++i) b[44 + i] = data[i];
  return b;
}

TEST(Wav, MatchesTheFfmpegDecodeOfJfk) {
  const std::string path = testing::asset("jfk.wav");
  const std::vector<float> ours = decode_wav(read_all(path), "jfk.wav");
  const std::vector<float> ref = decode_file(path);
  ASSERT_EQ(ours.size(), ref.size());
  double max_diff = 0;
  for (size_t i = 0; i < ours.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(ours[i] - ref[i])));
  EXPECT_LT(max_diff, 1e-6);
}

TEST(Wav, StereoIsAveragedAndFloatIsRead) {
  // Two frames of 16-bit stereo: (1000, 3000) and (-2000, 0).
  const std::vector<uint8_t> s16{0xE8, 0x03, 0xB8, 0x0B, 0x30, 0xF8, 0x00, 0x00};
  const auto st = decode_wav(make_wav(1, 2, 16000, 16, s16), "stereo");
  ASSERT_EQ(st.size(), 2u);
  EXPECT_FLOAT_EQ(st[0], 2000.0f / 32768.0f);
  EXPECT_FLOAT_EQ(st[1], -1000.0f / 32768.0f);
  std::vector<uint8_t> f32(8);
  const float vals[2] = {0.25f, -0.5f};
  std::memcpy(f32.data(), vals, 8);
  const auto fl = decode_wav(make_wav(3, 1, 16000, 32, f32), "float");
  EXPECT_EQ(fl, (std::vector<float>{0.25f, -0.5f}));
}

void expect_error(const std::vector<uint8_t>& b, ErrorKind kind, const std::string& needle) {
  try {
    decode_wav(b, "x.wav");
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Wav, BadOrUnsupportedInputIsAClearError) {
  const std::vector<uint8_t> two{0, 0, 1, 0};
  expect_error({}, ErrorKind::kInvalidAudio, "empty");
  expect_error({'I', 'D', '3', 4, 0, 0, 0, 0, 0, 0, 0, 0}, ErrorKind::kInvalidAudio, "not a WAV");
  expect_error(make_wav(1, 1, 44100, 16, two), ErrorKind::kUnsupported, "44100 Hz");
  expect_error(make_wav(1, 1, 16000, 8, two), ErrorKind::kUnsupported, "8-bit");
  expect_error(make_wav(1, 1, 16000, 16, {}), ErrorKind::kInvalidAudio, "no samples");
  auto cut = make_wav(1, 1, 16000, 16, two);
  cut.resize(30);  // inside the fmt chunk
  expect_error(cut, ErrorKind::kInvalidAudio, "truncated");
  auto no_data = make_wav(1, 1, 16000, 16, two);
  std::memcpy(no_data.data() + 36, "junk", 4);
  expect_error(no_data, ErrorKind::kInvalidAudio, "no data chunk");
  // The length cap applies.
  try {
    decode_wav(make_wav(1, 1, 16000, 16, std::vector<uint8_t>(400, 0)), "long.wav", 100);
    ADD_FAILURE() << "no error for the cap";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hark::audio
