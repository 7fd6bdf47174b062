// The mel filterbank, and the CPU log-mel's argument checks; the maths of the log-mel is the CPU
// backend's (src/backends/cpu/mel.cpp), shared with ops::log_mel.
#include "audio/mel.h"

#include <algorithm>
#include <cmath>

#include "audio/decode.h"
#include "backends/cpu/mel.h"
#include "core/error.h"

namespace hark::audio {
namespace {

constexpr int kNBins = kNFft / 2 + 1;
static_assert(kNFft == backends::cpu::kMelNFft && kHopLength == backends::cpu::kMelHop);
constexpr int kMaxMels = 512;

// librosa's Slaney mel scale (htk=False): linear below 1 kHz, logarithmic above.
constexpr double kMinLogHz = 1000.0;
constexpr double kLinearHzPerMel = 200.0 / 3.0;
constexpr double kMinLogMel = kMinLogHz / kLinearHzPerMel;

double log_step() { return std::log(6.4) / 27.0; }

double hz_to_mel(double hz) {
  if (hz < kMinLogHz) return hz / kLinearHzPerMel;
  return kMinLogMel + std::log(hz / kMinLogHz) / log_step();
}

double mel_to_hz(double mel) {
  if (mel < kMinLogMel) return mel * kLinearHzPerMel;
  return kMinLogHz * std::exp(log_step() * (mel - kMinLogMel));
}

// The n_mels + 2 band edges in Hz, evenly spaced in mel from 0 to Nyquist (np.linspace's rule:
// start + i * step, the last point exactly the stop).
std::vector<double> mel_band_edges(int n_mels) {
  int n = n_mels + 2;
  double lo = hz_to_mel(0.0);
  double hi = hz_to_mel(kSampleRate / 2.0);
  double step = (hi - lo) / (n - 1);
  std::vector<double> edges(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) edges[size_t(i)] = mel_to_hz(lo + i * step);
  edges.back() = mel_to_hz(hi);
  return edges;
}

}  // namespace

Tensor mel_filterbank(int n_mels) {
  HARK_CHECK(n_mels >= 1 && n_mels <= kMaxMels, ErrorKind::kInvalidArgument,
             "mel filterbank: n_mels must be in [1, {}], got {}", kMaxMels, n_mels);
  std::vector<double> edges = mel_band_edges(n_mels);
  Tensor t = Tensor::zeros(DType::kF32, {n_mels, kNBins});
  float* w = t.data<float>();
  const double bin_hz = double(kSampleRate) / kNFft;
  for (int m = 0; m < n_mels; ++m) {
    double lo = edges[size_t(m)], mid = edges[size_t(m) + 1], hi = edges[size_t(m) + 2];
    double slaney_norm = 2.0 / (hi - lo);  // equal area per band
    for (int k = 0; k < kNBins; ++k) {
      double hz = k * bin_hz;
      double rising = (hz - lo) / (mid - lo);
      double falling = (hi - hz) / (hi - mid);
      w[int64_t(m) * kNBins + k] = float(std::max(0.0, std::min(rising, falling)) * slaney_norm);
    }
  }
  return t;
}

Tensor log_mel_spectrogram(std::span<const float> pcm, const Tensor& filters, int pad_samples,
                           int threads) {
  HARK_CHECK(filters.ndim() == 2 && filters.dim(1) == kNBins && filters.dim(0) >= 1,
             ErrorKind::kInvalidArgument, "log-mel: filters must be [n_mels, {}], got {}", kNBins,
             shape_str(filters.shape()));
  HARK_CHECK(filters.device() == Device::kCpu &&
                 (filters.dtype() == DType::kF32 || filters.dtype() == DType::kF16 ||
                  filters.dtype() == DType::kBF16),
             ErrorKind::kInvalidArgument, "log-mel: filters must be a float tensor on the CPU");
  HARK_CHECK(pad_samples >= 0, ErrorKind::kInvalidArgument,
             "log-mel: pad_samples must be >= 0, got {}", pad_samples);
  const Tensor f32 = filters.dtype() == DType::kF32 ? filters : filters.to_f32();
  const int64_t n_frames = (int64_t(pcm.size()) + pad_samples) / kHopLength;
  Tensor out = Tensor::zeros(DType::kF32, {f32.dim(0), n_frames});
  backends::cpu::log_mel(pcm.data(), int64_t(pcm.size()), pad_samples, f32.data<float>(),
                         int(f32.dim(0)), out.data<float>(), threads);
  return out;
}

}  // namespace hark::audio
