// Log-mel on the CPU (moved here from src/audio so that ops::log_mel can dispatch to it). Frames
// are independent, so they are split across OpenMP threads, each with its own kissfft plan and
// scratch. Each mel filter is non-zero on a short run of FFT bins (a triangle), so the filterbank
// product visits only those runs: ~2 x 201 multiply-adds per frame instead of n_mels x 201. The
// padded signal is never materialised: interior frames read `pcm` directly, frames touching either
// edge go through a reflect/zero index mapping.
#include "backends/cpu/mel.h"

#ifdef HARK_HAVE_KISSFFT

#include <kiss_fftr.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <vector>

#include "core/error.h"

namespace hark::backends::cpu {
namespace {

constexpr int kNFft = kMelNFft;
constexpr int kHopLength = kMelHop;
constexpr int kNBins = kMelBins;
constexpr int kHalfWindow = kNFft / 2;  // the centred STFT's reflect padding on each side
constexpr float kLogFloor = 1e-10f;
constexpr float kDynamicRange = 8.0f;  // log10 units kept below the maximum
// Frames per thread below which extra threads cost more than they save.
constexpr int64_t kMinFramesPerThread = 64;

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

SparseFilters sparse_rows(const float* filters, int n_mels) {
  SparseFilters s;
  s.weights = filters;
  s.n_mels = n_mels;
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
  const float* pcm = nullptr;
  int64_t pcm_size = 0;
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
  if (first >= 0 && first + kNFft <= job.pcm_size) {
    const float* x = job.pcm + first;
    for (int n = 0; n < kNFft; ++n) frame[n] = x[n] * w[size_t(n)];
    return;
  }
  for (int n = 0; n < kNFft; ++n) {
    int64_t i = reflect_index(first + n, job.n_samples);
    frame[n] = i < job.pcm_size ? job.pcm[i] * w[size_t(n)] : 0.0f;
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

void log_mel(const float* pcm, int64_t n_pcm, int64_t pad, const float* filters, int n_mels,
             float* out, int threads) {
  SparseFilters sparse = sparse_rows(filters, n_mels);
  MelJob job;
  job.pcm = pcm;
  job.pcm_size = n_pcm;
  job.n_samples = n_pcm + pad;
  job.n_frames = job.n_samples / kHopLength;
  if (job.n_frames == 0) return;
  static const std::array<float, kNFft> window = periodic_hann();
  job.window = &window;
  job.filters = &sparse;
  job.out = out;

  int nt = thread_count(threads, job.n_frames);
  float floor = log_mel_frames(job, nt) - kDynamicRange;
  const int64_t total = int64_t(n_mels) * job.n_frames;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < total; ++i) out[i] = (std::max(out[i], floor) + 4.0f) / 4.0f;
}

}  // namespace hark::backends::cpu

#endif  // HARK_HAVE_KISSFFT
