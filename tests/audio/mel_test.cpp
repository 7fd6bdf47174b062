// The mel filterbank against librosa's (mel_filters.npz), and the log-mel against a float64
// reference written independently (tests/support/mel_reference: explicit reflect padding and a
// naive DFT per frame; shared with the op tests of ops::log_mel).
#include "audio/mel.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "audio/decode.h"
#include "core/error.h"
#include "support/mel_reference.h"
#include "support/npz.h"
#include "support/test_env.h"

namespace hark::audio {
namespace {

constexpr int kBins = kNFft / 2 + 1;

using hark::testing::reference_log10_mel;
using hark::testing::reference_log_mel;

double relative_error(const Tensor& got, const std::vector<double>& want) {
  EXPECT_EQ(got.numel(), int64_t(want.size()));
  double diff = 0, norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    double d = double(got.data<float>()[i]) - want[i];
    diff += d * d;
    norm += want[i] * want[i];
  }
  return std::sqrt(diff / norm);
}

std::vector<float> noise_and_tones(int64_t samples, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  std::vector<float> x(static_cast<size_t>(samples));
  for (int64_t i = 0; i < samples; ++i) {
    double t = double(i) / kSampleRate;
    x[size_t(i)] = u(rng) + float(0.4 * std::sin(2 * std::numbers::pi * 440 * t) +
                                  0.1 * std::sin(2 * std::numbers::pi * 3100 * t));
  }
  return x;
}

std::vector<float> jfk_samples() { return decode_file(hark::testing::asset("jfk.wav")); }

TEST(MelFilterbank, MatchesLibrosaFilters) {
  auto npz = hark::testing::read_npz(hark::testing::asset("mel_filters.npz"));
  for (int n_mels : {80, 128}) {
    SCOPED_TRACE(n_mels);
    const auto& ref = npz.at("mel_" + std::to_string(n_mels));
    ASSERT_EQ(ref.dtype, "<f4");
    ASSERT_EQ(ref.shape, (std::vector<int64_t>{n_mels, kBins}));
    Tensor want = hark::testing::to_tensor(ref);
    Tensor got = mel_filterbank(n_mels);
    ASSERT_EQ(got.shape(), want.shape());
    ASSERT_EQ(got.dtype(), DType::kF32);
    double max_diff = 0, max_value = 0;
    for (int64_t i = 0; i < got.numel(); ++i) {
      max_diff = std::max(max_diff, double(std::abs(got.data<float>()[i] - want.data<float>()[i])));
      max_value = std::max(max_value, double(want.data<float>()[i]));
    }
    EXPECT_LT(max_diff, 1e-8);
    EXPECT_GT(max_value, 0.01);  // the comparison is not between two zero arrays
  }
}

TEST(MelFilterbank, RejectsBadSize) {
  EXPECT_THROW(mel_filterbank(0), Error);
  EXPECT_THROW(mel_filterbank(-3), Error);
  EXPECT_THROW(mel_filterbank(100000), Error);
}

TEST(LogMel, RandomAudioMatchesReference) {
  Tensor filters = mel_filterbank(80);
  std::vector<float> pcm = noise_and_tones(40123, 7);
  Tensor got = log_mel_spectrogram(pcm, filters);
  ASSERT_EQ(got.shape(), (Shape{80, 40123 / kHopLength}));
  EXPECT_LT(relative_error(got, reference_log_mel(pcm, filters, 0)), 1e-5);
}

TEST(LogMel, JfkWithPaddingMatchesReference) {
  Tensor filters = mel_filterbank(128);
  std::vector<float> pcm = jfk_samples();
  const int pad = 16000;
  Tensor got = log_mel_spectrogram(pcm, filters, pad);
  ASSERT_EQ(got.shape(), (Shape{128, int64_t(pcm.size() + pad) / kHopLength}));
  EXPECT_LT(relative_error(got, reference_log_mel(pcm, filters, pad)), 1e-5);
}

TEST(LogMel, ClampsToEightBelowTheMaximumAndScales) {
  Tensor filters = mel_filterbank(80);
  // A loud tone, then digital silence: the silence's log10 floor (-10) is far below max - 8.
  std::vector<float> pcm = noise_and_tones(8000, 3);
  pcm.resize(24000, 0.0f);
  Tensor got = log_mel_spectrogram(pcm, filters);
  const float* v = got.data<float>();
  float hi = *std::max_element(v, v + got.numel());
  float lo = *std::min_element(v, v + got.numel());
  EXPECT_FLOAT_EQ(lo, hi - 2.0f);  // (max - 8 + 4) / 4 = (max + 4) / 4 - 2
  // The silent frames (well past the tone and the window) sit exactly on the floor.
  const int64_t frames = got.dim(1);
  for (int m = 0; m < 80; ++m) EXPECT_EQ(v[m * frames + frames - 5], lo);
  // The maximum is (log10(max power) + 4) / 4 of the reference.
  std::vector<double> ref = reference_log_mel(pcm, filters, 0);
  EXPECT_NEAR(hi, *std::max_element(ref.begin(), ref.end()), 1e-5);
}

TEST(LogMel, PaddedSilenceIsTheFloor) {
  Tensor filters = mel_filterbank(80);
  Tensor got = log_mel_spectrogram({}, filters, kChunkSamples);
  ASSERT_EQ(got.shape(), (Shape{80, kChunkFrames}));
  // All power is zero: log10 floor -10, max -10, so every value is (-10 + 4) / 4.
  for (int64_t i = 0; i < got.numel(); ++i) ASSERT_EQ(got.data<float>()[i], -1.5f) << i;
}

TEST(LogMel, ThreadCountDoesNotChangeTheResult) {
  Tensor filters = mel_filterbank(80);
  std::vector<float> pcm = noise_and_tones(kSampleRate * 5, 11);
  Tensor one = log_mel_spectrogram(pcm, filters, 0, 1);
  Tensor four = log_mel_spectrogram(pcm, filters, 0, 4);
  ASSERT_EQ(one.shape(), four.shape());
  for (int64_t i = 0; i < one.numel(); ++i) ASSERT_EQ(one.data<float>()[i], four.data<float>()[i]);
}

// Shorter than the reflect padding: reflected back and forth, period 2 (n - 1).
TEST(LogMel, ShortInputReflectsRepeatedly) {
  Tensor filters = mel_filterbank(80);
  EXPECT_EQ(log_mel_spectrogram(std::vector<float>(100, 0.1f), filters).dim(1), 0);
  EXPECT_EQ(log_mel_spectrogram(std::vector<float>{}, filters).dim(1), 0);

  std::vector<float> pcm = noise_and_tones(170, 5);
  const int64_t n = int64_t(pcm.size());
  std::vector<double> padded;
  for (int64_t j = -kNFft / 2; j < n + kNFft / 2; ++j) {
    int64_t i = j;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    padded.push_back(pcm[size_t(i)]);
  }
  auto ref = reference_log10_mel(padded, 1, filters);
  Tensor got = log_mel_spectrogram(pcm, filters);
  ASSERT_EQ(got.shape(), (Shape{80, 1}));
  double max = -1e300;
  for (const auto& row : ref) max = std::max(max, row[0]);
  for (int m = 0; m < 80; ++m) {
    double want = (std::max(ref[size_t(m)][0], max - 8.0) + 4.0) / 4.0;
    EXPECT_NEAR(got.data<float>()[m], want, 1e-5) << m;
  }
  // A single sample reflects onto itself everywhere.
  EXPECT_EQ(log_mel_spectrogram(std::vector<float>{0.5f}, filters, 200).dim(1), 1);
}

TEST(LogMel, RejectsBadArguments) {
  std::vector<float> pcm(1600, 0.0f);
  try {
    log_mel_spectrogram(pcm, Tensor::zeros(DType::kF32, {80, 200}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("[80,200]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(log_mel_spectrogram(pcm, Tensor::zeros(DType::kI32, {80, kBins})), Error);
  EXPECT_THROW(log_mel_spectrogram(pcm, mel_filterbank(80), -1), Error);
}

}  // namespace
}  // namespace hark::audio
