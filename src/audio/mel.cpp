// Log-mel on the CPU. Frames are independent, so they are split across OpenMP threads, each with
// its own kissfft plan and scratch. Each mel filter is non-zero on a short run of FFT bins (a
// triangle), so the filterbank product visits only those runs: ~2 x 201 multiply-adds per frame
// instead of n_mels x 201. The padded signal is never materialised: interior frames read `pcm`
// directly, frames touching either edge go through a reflect/zero index mapping.
#include "audio/mel.h"

#include <kiss_fftr.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>

#include "audio/decode.h"
#include "core/error.h"

namespace hark::audio {
namespace {

constexpr int kNBins = kNFft / 2 + 1;
constexpr int kHalfWindow = kNFft / 2;  // the centred STFT's reflect padding on each side
constexpr int kMaxMels = 512;
constexpr float kLogFloor = 1e-10f;
constexpr float kDynamicRange = 8.0f;  // log10 units kept below the maximum
// Frames per thread below which extra threads cost more than they save.
constexpr int64_t kMinFramesPerThread = 64;

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

std::array<float, kNFft> periodic_hann() {
  std::array<float, kNFft> w{};
  for (int n = 0; n < kNFft; ++n) {
    w[size_t(n)] = float(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / kNFft));
  }
  return w;
}

// Maps an index of the reflect-padded signal to [0, n); n >= 1.
int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

struct KissFree {
  void operator()(kiss_fftr_state* cfg) const { kiss_fftr_free(cfg); }
};
using FftPlan = std::unique_ptr<kiss_fftr_state, KissFree>;

// The non-zero run [begin, end) of each filter row, and the rows themselves.
struct SparseFilters {
  const float* weights = nullptr;
  int n_mels = 0;
  std::vector<int> begin, end;
};

SparseFilters sparse_rows(const Tensor& filters) {
  SparseFilters s;
  s.weights = filters.data<float>();
  s.n_mels = int(filters.dim(0));
  s.begin.assign(size_t(s.n_mels), 0);
  s.end.assign(size_t(s.n_mels), 0);
  for (int m = 0; m < s.n_mels; ++m) {
    const float* row = s.weights + int64_t(m) * kNBins;
    int b = 0, e = kNBins;
    while (b < kNBins && row[b] == 0.0f) ++b;
    while (e > b && row[e - 1] == 0.0f) --e;
    s.begin[size_t(m)] = b;
    s.end[size_t(m)] = e;
  }
  return s;
}

// Everything the per-frame work reads; shared by all threads.
struct MelJob {
  std::span<const float> pcm;
  int64_t n_samples = 0;  // pcm plus the appended zeros
  int64_t n_frames = 0;
  const std::array<float, kNFft>* window = nullptr;
  const SparseFilters* filters = nullptr;
  float* out = nullptr;  // [n_mels, n_frames]
};

// Writes frame f's windowed samples: padded positions [f * hop, f * hop + n_fft).
void windowed_frame(const MelJob& job, int64_t f, float* frame) {
  const auto& w = *job.window;
  int64_t first = f * kHopLength - kHalfWindow;  // index into the unpadded signal
  auto pcm_size = int64_t(job.pcm.size());
  if (first >= 0 && first + kNFft <= pcm_size) {
    const float* x = job.pcm.data() + first;
    for (int n = 0; n < kNFft; ++n) frame[n] = x[n] * w[size_t(n)];
    return;
  }
  for (int n = 0; n < kNFft; ++n) {
    int64_t i = reflect_index(first + n, job.n_samples);
    frame[n] = i < pcm_size ? job.pcm[size_t(i)] * w[size_t(n)] : 0.0f;
  }
}

// Computes frame f's log10 mel column into job.out; returns its maximum.
float log_mel_frame(const MelJob& job, int64_t f, kiss_fftr_state* plan) {
  alignas(64) float frame[kNFft];
  alignas(64) float power[kNBins];
  kiss_fft_cpx spectrum[kNBins];
  windowed_frame(job, f, frame);
  kiss_fftr(plan, frame, spectrum);
  for (int k = 0; k < kNBins; ++k)
    power[k] = spectrum[k].r * spectrum[k].r + spectrum[k].i * spectrum[k].i;

  const SparseFilters& fb = *job.filters;
  float frame_max = -std::numeric_limits<float>::infinity();
  for (int m = 0; m < fb.n_mels; ++m) {
    const float* row = fb.weights + int64_t(m) * kNBins;
    float sum = 0.0f;
    for (int k = fb.begin[size_t(m)]; k < fb.end[size_t(m)]; ++k) sum += row[k] * power[k];
    float v = std::log10(std::max(sum, kLogFloor));
    job.out[int64_t(m) * job.n_frames + f] = v;
    frame_max = std::max(frame_max, v);
  }
  return frame_max;
}

int thread_count(int requested, int64_t n_frames) {
  int64_t t = requested > 0 ? requested : omp_get_max_threads();
  t = std::min(t, std::max<int64_t>(1, n_frames / kMinFramesPerThread));
  return int(std::max<int64_t>(t, 1));
}

// Fills job.out with log10 mel values over `threads` threads; returns the global maximum.
float log_mel_frames(const MelJob& job, int threads) {
  std::vector<FftPlan> plans;
  for (int t = 0; t < threads; ++t) {
    plans.emplace_back(kiss_fftr_alloc(kNFft, 0, nullptr, nullptr));
    if (!plans.back()) throw_error(ErrorKind::kResourceExhausted, "log-mel: out of memory");
  }
  float global_max = -std::numeric_limits<float>::infinity();
#pragma omp parallel num_threads(threads) reduction(max : global_max)
  {
    kiss_fftr_state* plan = plans[size_t(omp_get_thread_num())].get();
#pragma omp for schedule(static)
    for (int64_t f = 0; f < job.n_frames; ++f) {
      global_max = std::max(global_max, log_mel_frame(job, f, plan));
    }
  }
  return global_max;
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
  Tensor f32 = filters.dtype() == DType::kF32 ? filters : filters.to_f32();
  SparseFilters sparse = sparse_rows(f32);

  MelJob job;
  job.pcm = pcm;
  job.n_samples = int64_t(pcm.size()) + pad_samples;
  job.n_frames = job.n_samples / kHopLength;
  Tensor out = Tensor::zeros(DType::kF32, {sparse.n_mels, job.n_frames});
  if (job.n_frames == 0) return out;
  static const std::array<float, kNFft> window = periodic_hann();
  job.window = &window;
  job.filters = &sparse;
  job.out = out.data<float>();

  int nt = thread_count(threads, job.n_frames);
  float floor = log_mel_frames(job, nt) - kDynamicRange;
  float* o = job.out;
  int64_t total = out.numel();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < total; ++i) o[i] = (std::max(o[i], floor) + 4.0f) / 4.0f;
  return out;
}

}  // namespace hark::audio
