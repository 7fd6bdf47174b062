// Whisper's log-mel on the GPU (ops::log_mel; the host side is mel.cpp). The STFT is a GEMM: each
// frame of 400 samples times a [400, 402] basis whose columns 2k and 2k + 1 are the periodic Hann
// window times cos and -sin of bin k (the window folded into the basis, so frames are raw
// samples). The kernels here are the memory-bound steps around the two GEMMs:
//   mel_frames:   frames [F, 400] of the reflect-padded signal (pcm, then `pad` zeros, reflected
//                 over that length as the CPU path does), for frames [f0, f0 + F);
//   power:        |X_k|^2 [F, 201] from the DFT output [F, 402];
//   log10_max:    log10(max(x, 1e-10)) in place, and each block's maximum (at most kMaxPartials
//                 blocks, so the next kernel can fold them without another launch);
//   log_mel_finish: every block folds the partial maxima to the global one, then
//                 x = (max(x, max - 8) + 4) / 4 in place;
//   mel_window:   a window of the log-mel, zero-padded to its width, converted to the model's
//   dtype.
// Everything is fp32; grid-stride loops over int64 indices (an hour of audio is 360,000 frames).
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kThreads = 256;
constexpr int kNFft = kMelNFft, kHop = kMelHop, kBins = kMelBins;
constexpr int kBasisCols = 2 * kBins;

__global__ void dft_basis_kernel(float* basis) {
  const int n_elems = kNFft * kBasisCols;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_elems; i += gridDim.x * blockDim.x) {
    const int n = i / kBasisCols, j = i % kBasisCols, k = j / 2;
    // The angle 2 pi k n / 400 reduced exactly to 2 pi r / 400 before the double sincospi.
    const int r = (k * n) % kNFft;
    double s = 0, c = 0;
    sincospi(2.0 * r / kNFft, &s, &c);
    const double window = 0.5 - 0.5 * cospi(2.0 * n / kNFft);
    basis[i] = float(window * ((j & 1) ? -s : c));
  }
}

// Index of the reflect-padded signal mapped to [0, n); n >= 1 (period 2 (n - 1)).
__device__ __forceinline__ int64_t reflect_index(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

__global__ void mel_frames_kernel(const float* pcm, int64_t n_pcm, int64_t n_samples, int64_t f0,
                                  int64_t frames, float* out) {
  const int64_t n_elems = frames * kNFft;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_elems;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t f = f0 + i / kNFft, n = i % kNFft;
    int64_t src = f * kHop - kNFft / 2 + n;
    if (src < 0 || src >= n_samples) src = reflect_index(src, n_samples);
    out[i] = src < n_pcm ? pcm[src] : 0.0f;
  }
}

__global__ void power_kernel(const float* spectrum, int64_t frames, float* power) {
  const int64_t n_elems = frames * kBins;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_elems;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t f = i / kBins, k = i % kBins;
    const float re = spectrum[f * kBasisCols + 2 * k], im = spectrum[f * kBasisCols + 2 * k + 1];
    power[i] = re * re + im * im;
  }
}

__global__ void log10_max_kernel(float* x, int64_t n, float* partial_max) {
  __shared__ float scratch[32];
  float m = -INFINITY;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    const float l = log10f(v < kMelLogFloor ? kMelLogFloor : v);
    x[i] = l;
    m = fmaxf(m, l);
  }
  m = block_max(m, scratch);
  if (threadIdx.x == 0) partial_max[blockIdx.x] = m;
}

__global__ void log_mel_finish_kernel(float* x, int64_t n, const float* partial_max, int partials) {
  __shared__ float scratch[32];
  float m = -INFINITY;
  for (int i = threadIdx.x; i < partials; i += blockDim.x) m = fmaxf(m, partial_max[i]);
  const float lo = block_max(m, scratch) - kMelDynamicRange;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = x[i];
    x[i] = ((v < lo ? lo : v) + 4.0f) / 4.0f;
  }
}

template <typename T>
__global__ void mel_window_kernel(const float* mel, int64_t rows, int64_t total, int64_t seek,
                                  int64_t n, int64_t width, T* window) {
  const int64_t n_elems = rows * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_elems;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i % width;
    store(window + i, j < n ? mel[r * total + seek + j] : 0.0f);
  }
}

}  // namespace

int log10_max_blocks(int64_t n) {
  const unsigned g = grid_for(n, kThreads);
  return int(g < unsigned(kMelMaxPartials) ? g : unsigned(kMelMaxPartials));
}

cudaError_t launch_dft_basis(float* basis, cudaStream_t s) {
  dft_basis_kernel<<<grid_for(int64_t(kNFft) * kBasisCols, kThreads), kThreads, 0, s>>>(basis);
  return cudaGetLastError();
}

cudaError_t launch_mel_frames(const float* pcm, int64_t n_pcm, int64_t n_samples, int64_t f0,
                              int64_t frames, float* out, cudaStream_t s) {
  if (frames <= 0) return cudaSuccess;
  mel_frames_kernel<<<grid_for(frames * kNFft, kThreads), kThreads, 0, s>>>(pcm, n_pcm, n_samples,
                                                                            f0, frames, out);
  return cudaGetLastError();
}

cudaError_t launch_power_spectrum(const float* spectrum, int64_t frames, float* power,
                                  cudaStream_t s) {
  if (frames <= 0) return cudaSuccess;
  power_kernel<<<grid_for(frames * kBins, kThreads), kThreads, 0, s>>>(spectrum, frames, power);
  return cudaGetLastError();
}

cudaError_t launch_log10_max(float* x, int64_t n, float* partial_max, cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  log10_max_kernel<<<unsigned(log10_max_blocks(n)), kThreads, 0, s>>>(x, n, partial_max);
  return cudaGetLastError();
}

cudaError_t launch_log_mel_finish(float* x, int64_t n, const float* partial_max, int partials,
                                  cudaStream_t s) {
  if (n <= 0) return cudaSuccess;
  // As many blocks as log10_max used (at most kMelMaxPartials): each folds the partials first.
  log_mel_finish_kernel<<<unsigned(log10_max_blocks(n)), kThreads, 0, s>>>(x, n, partial_max,
                                                                           partials);
  return cudaGetLastError();
}

cudaError_t launch_mel_window(DType dtype, const float* mel, int64_t rows, int64_t total,
                              int64_t seek, int64_t n, int64_t width, void* window,
                              cudaStream_t s) {
  if (rows * width == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    mel_window_kernel<<<grid_for(rows * width, kThreads), kThreads, 0, s>>>(
        mel, rows, total, seek, n, width, static_cast<T*>(window));
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
