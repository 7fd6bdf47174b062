// ops::log_mel on every backend against the float64 reference of tests/support/mel_reference (an
// independent naive DFT), on real speech (jfk.wav, 11 s; silero_test.wav, 60 s, + the engine's
// 30 s of padding: 9000 frames, more than one of the CUDA path's 8192-frame chunks), on short
// clips that exercise the reflect rule, and on padded silence; the CUDA result also against the
// CPU op's (kissfft) where this build has one. ops::mel_window against a slice made here.
//
// Tolerances. ||got - ref|| / ||ref|| <= 1e-5 over the whole log-mel, as the CPU mel tests ask of
// kissfft. And per value: |got - float64| <= 1e-4 and, on CUDA, |cuda - cpu| <= 1e-4. A value is
// (log10(p) + 4) / 4, so an error e in a value is a relative error of ~9 e in its mel power p; fp32
// gets a power to ~1e-7 of its frame's largest bins, so the quietest bands the clamp keeps (up to
// 8 decades below the loudest of the clip) carry most of the error. Measured on the CPU: kissfft
// 1.9e-5 at most against float64 (silero_test.wav + 30 s); an fp32 emulation of the CUDA path
// (the same basis, sequential fma sums over the 400 samples and 201 bins, the worst summation
// order) 2.0e-5 against float64 and 2.2e-5 against kissfft, relative L2 2.8e-7. 1e-4 leaves ~5x.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"
#include "support/mel_reference.h"
#include "support/npz.h"
#include "support/test_env.h"

namespace hark::ops_test {
namespace {

constexpr int kBins = 201, kHop = 160;
constexpr int64_t kThirtySeconds = 480000;
constexpr double kRelTol = 1e-5;
constexpr double kMaxAbsTol = 1e-4;

// The librosa filterbank Whisper ships (mel_filters.npz), [n_mels, 201] fp32 on the CPU.
const Tensor& filters(int n_mels) {
  static std::map<int, Tensor> cache;
  auto it = cache.find(n_mels);
  if (it == cache.end()) {
    const auto npz = hark::testing::read_npz(hark::testing::asset("mel_filters.npz"));
    it = cache.emplace(n_mels, hark::testing::to_tensor(npz.at("mel_" + std::to_string(n_mels))))
             .first;
  }
  return it->second;
}

std::vector<float> filter_values(int n_mels) {
  const Tensor& f = filters(n_mels);
  return {f.data<float>(), f.data<float>() + f.numel()};
}

const std::vector<float>& wav(const std::string& name) {
  static std::map<std::string, std::vector<float>> cache;
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache.emplace(name, hark::testing::read_wav_16k_mono(hark::testing::asset(name))).first;
  return it->second;
}

// The float64 log-mel, computed once per input for all backends.
const std::vector<double>& reference(const std::string& key, const std::vector<float>& pcm,
                                     int n_mels, int64_t pad) {
  static std::map<std::string, std::vector<double>> cache;
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, hark::testing::reference_log_mel(pcm, filters(n_mels), pad)).first;
  return it->second;
}

std::vector<float> noise_and_tones(int64_t samples, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.3f, 0.3f);
  std::vector<float> x(static_cast<size_t>(samples));
  for (int64_t i = 0; i < samples; ++i) {
    const double t = double(i) / 16000.0;
    x[size_t(i)] = u(rng) + float(0.4 * std::sin(2 * std::numbers::pi * 440 * t));
  }
  return x;
}

double max_abs_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    m = std::max(m, std::abs(double(got[i]) - want[i]));
  return m;
}

#ifdef HARK_HAVE_KISSFFT
// The CPU log-mel through the op (kissfft), whatever backend is under test.
std::vector<float> cpu_log_mel(const std::vector<float>& pcm, int n_mels, int64_t pad) {
  const BackendCase cpu{"cpu", Backend::kCpu, DType::kF32, 0.0};
  Tensor out = poisoned(cpu, {n_mels, (int64_t(pcm.size()) + pad) / kHop});
  ops::log_mel(upload(cpu, pcm, {int64_t(pcm.size())}), filters(n_mels), pad, out);
  return download(out);
}
#endif

class LogMelTest : public OpTest {
 protected:
  // Whether this case has a log-mel kernel: F32 only, and on the CPU only with kissfft.
  bool has_kernel() const {
    if (bc().dtype != DType::kF32) return false;
#ifndef HARK_HAVE_KISSFFT
    if (bc().backend == Backend::kCpu) return false;
#endif
    return true;
  }

  std::vector<float> run(const std::vector<float>& pcm, int n_mels, int64_t pad) {
    Tensor out = output({n_mels, (int64_t(pcm.size()) + pad) / kHop});
    ops::log_mel(input(pcm, {int64_t(pcm.size())}), input(filter_values(n_mels), {n_mels, kBins}),
                 pad, out);
    return download(out);
  }

  // The op against the float64 reference, and on CUDA against the CPU op.
  void check(const std::string& key, const std::vector<float>& pcm, int n_mels, int64_t pad) {
    const std::vector<float> got = run(pcm, n_mels, pad);
    const std::vector<double>& want = reference(key, pcm, n_mels, pad);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_TRUE(close_to(got, want, kRelTol));
    const double vs_ref = max_abs_diff(got, want);
    EXPECT_LE(vs_ref, kMaxAbsTol);
    std::printf("[ %s ] %s: %zu values, max |got - float64| = %.3g\n", bc().name.c_str(),
                key.c_str(), got.size(), vs_ref);
#ifdef HARK_HAVE_KISSFFT
    if (bc().backend == Backend::kCuda) {
      const std::vector<float> cpu = cpu_log_mel(pcm, n_mels, pad);
      const double vs_cpu = max_abs_diff(got, std::vector<double>(cpu.begin(), cpu.end()));
      EXPECT_LE(vs_cpu, kMaxAbsTol);
      std::printf("[ %s ] %s: max |cuda - cpu| = %.3g\n", bc().name.c_str(), key.c_str(), vs_cpu);
    }
#endif
  }
};
HARK_OP_TEST_SUITE(LogMelTest);

#define HARK_REQUIRE_MEL_KERNEL() \
  if (!has_kernel()) GTEST_SKIP() << "no log-mel kernel for this case (OtherDtypesAreUnsupported)"

TEST_P(LogMelTest, JfkMatchesFloat64Reference) {
  HARK_REQUIRE_MEL_KERNEL();
  check("jfk pad 0", wav("jfk.wav"), 80, 0);
  check("jfk pad 30s", wav("jfk.wav"), 128, kThirtySeconds);
}

// 60 s of audio + 30 s of padding: 9000 frames, two chunks on CUDA.
TEST_P(LogMelTest, LongClipWithThirtySecondsOfPadding) {
  HARK_REQUIRE_MEL_KERNEL();
  const std::vector<float>& pcm = wav("silero_test.wav");
  ASSERT_GT(pcm.size(), size_t(kThirtySeconds));
  check("silero pad 30s", pcm, 80, kThirtySeconds);
}

// Shorter than the 200-sample reflect padding (reflected back and forth), between 200 and 400,
// one sample plus padding, and a short clip plus the engine's padding.
TEST_P(LogMelTest, ShortClipsFollowTheReflectRule) {
  HARK_REQUIRE_MEL_KERNEL();
  check("170 samples", noise_and_tones(170, 5), 80, 0);
  check("399 samples", noise_and_tones(399, 6), 80, 0);
  check("1 sample pad 200", {0.5f}, 80, 200);
  check("300 samples pad 30s", noise_and_tones(300, 7), 128, kThirtySeconds);
}

TEST_P(LogMelTest, NoFramesWritesNothing) {
  HARK_REQUIRE_MEL_KERNEL();
  for (const int64_t n : {0, 1, 159}) {
    Tensor out = output({80, 0});
    ops::log_mel(input(noise_and_tones(n, 1), {n}), input(filter_values(80), {80, kBins}), 0, out);
    EXPECT_EQ(out.numel(), 0);
  }
}

// All power is zero: every value is the floor, (log10(1e-10) + 4) / 4 = -1.5.
TEST_P(LogMelTest, PaddedSilenceIsTheFloor) {
  HARK_REQUIRE_MEL_KERNEL();
  const std::vector<float> got = run({}, 80, kThirtySeconds);
  ASSERT_EQ(got.size(), size_t(80 * 3000));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], -1.5f, 1e-6) << i;
}

// The clamp uses the maximum of the whole result: a loud second after digital silence.
TEST_P(LogMelTest, ClampsEightDecadesBelowTheGlobalMaximum) {
  HARK_REQUIRE_MEL_KERNEL();
  std::vector<float> pcm(48000, 0.0f);
  const std::vector<float> tone = noise_and_tones(16000, 3);
  std::copy(tone.begin(), tone.end(), pcm.begin() + 32000);
  const std::vector<float> got = run(pcm, 80, 0);
  const float hi = *std::max_element(got.begin(), got.end());
  const float lo = *std::min_element(got.begin(), got.end());
  EXPECT_NEAR(lo, hi - 2.0f, 1e-6);  // (max - 8 + 4) / 4 = (max + 4) / 4 - 2
  const std::vector<double>& want = reference("clamp", pcm, 80, 0);
  EXPECT_NEAR(hi, *std::max_element(want.begin(), want.end()), 1e-5);
  EXPECT_EQ(got[10], lo);  // frame 10 of mel 0: silence, on the floor
}

TEST_P(LogMelTest, OtherDtypesAreUnsupported) {
  if (has_kernel() || bc().dtype == DType::kF32) GTEST_SKIP() << "F32 has a kernel";
  Tensor out = output({80, 10});
  HARK_EXPECT_OP_ERROR(ops::log_mel(input(noise_and_tones(1600, 2), {1600}),
                                    input(filter_values(80), {80, kBins}), 0, out),
                       ErrorKind::kUnsupported, "log_mel");
}

TEST_P(LogMelTest, RejectsMismatchedShapes) {
  Tensor out = output({80, 10});
  const Tensor pcm = input(noise_and_tones(1600, 2), {1600});
  HARK_EXPECT_OP_ERROR(ops::log_mel(pcm, input(uniform(80 * 200), {80, 200}), 0, out),
                       ErrorKind::kInternal, "filters [80,200] should be [n_mels, 201]");
  HARK_EXPECT_OP_ERROR(ops::log_mel(pcm, input(filter_values(80), {80, kBins}), 160, out),
                       ErrorKind::kInternal, "out [80,10] should be [80, 11]");
  HARK_EXPECT_OP_ERROR(ops::log_mel(pcm, input(filter_values(80), {80, kBins}), -1, out),
                       ErrorKind::kInternal, "pad_samples -1 is negative");
}

class MelWindowTest : public OpTest {
 protected:
  // mel is F32 whatever the case's dtype (the window takes the case's dtype).
  Tensor mel_input(const std::vector<float>& host, Shape shape) {
    BackendCase f32 = bc();
    f32.dtype = DType::kF32;
    return upload(f32, host, std::move(shape));
  }
};
HARK_OP_TEST_SUITE(MelWindowTest);

TEST_P(MelWindowTest, CopiesTheFramesAndZeroPads) {
  if (bc().backend == Backend::kCpu && bc().dtype != DType::kF32) GTEST_SKIP();
  const int64_t rows = 5, total = 37, width = 16;
  std::vector<float> mel = uniform(size_t(rows * total), -1.5f, 2.0f);
  round_to(bc().dtype, mel);  // so that only the op's conversion is compared
  const Tensor m = mel_input(mel, {rows, total});
  struct Case {
    int64_t seek, size;
  };
  for (const Case& c : {Case{0, 16}, Case{3, 10}, Case{30, 16}, Case{21, 100}, Case{37, 5},
                        Case{50, 3}, Case{0, 0}}) {
    SCOPED_TRACE(::testing::Message() << "seek " << c.seek << " size " << c.size);
    std::vector<double> want(size_t(rows * width), 0.0);
    const int64_t n = std::clamp<int64_t>(std::min(c.size, total - c.seek), 0, width);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j)
        want[size_t(r * width + j)] = mel[size_t(r * total + c.seek + j)];
    Tensor w = output({rows, width});
    ops::mel_window(m, c.seek, c.size, w);
    const std::vector<float> got = download(w);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(double(got[i]), want[i]) << i;
  }
}

TEST_P(MelWindowTest, RejectsMismatchedShapes) {
  const Tensor m = mel_input(uniform(5 * 37), {5, 37});
  Tensor w = output({4, 16});
  HARK_EXPECT_OP_ERROR(ops::mel_window(m, 0, 16, w), ErrorKind::kInternal,
                       "window [4,16] should have the 5 rows of mel [5,37]");
  Tensor w5 = output({5, 16});
  HARK_EXPECT_OP_ERROR(ops::mel_window(m, -1, 16, w5), ErrorKind::kInternal,
                       "seek -1 and size 16 must be >= 0");
}

}  // namespace
}  // namespace hark::ops_test
