// The host side of the GPU log-mel (kernels.h: log_mel, mel_window): the DFT basis made once on the
// device and kept for the process, then per call, over chunks of frames: frames kernel -> DFT GEMM
// -> power kernel -> filterbank GEMM written straight into the chunk's columns of the output; then
// log10 + block maxima, and the clamp/scale pass that folds the maxima itself. Nothing waits for
// the device. Scratch tensors are released on return; the caching allocator hands them out again
// only to work queued after this on the same stream.
//
// cuBLAS is column-major; a row-major [r, c] matrix is a column-major [c, r] one:
//   DFT:  S[F, 402] = X[F, 400] · B[400, 402]     ->  S^T = B^T · X^T: (N, N), m 402, n F, k 400.
//   mel:  out[M, T] (columns f0..f0+F) = W[M, 201] · P[F, 201]^T
//                                                  ->  out^T[F, M] (ldc T) = P · W^T: (T, N),
//                                                      m F, n M, k 201, A = P (lda 201), B = W.
#include <cublas_v2.h>

#include <algorithm>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda {
namespace {

constexpr int64_t kFramesPerChunk = 8192;  // ~32 MiB of scratch: 8192 * (400 + 402 + 201) floats
constexpr int kBasisCols = 2 * detail::kMelBins;

// The [400, 402] basis, computed on the device at first use and never freed (device memory must
// not be released after the allocator at exit).
const float* dft_basis() {
  static const Tensor* basis = [] {
    auto* t =
        new Tensor(Tensor::empty_on(Device::kCuda, DType::kF32, {detail::kMelNFft, kBasisCols}));
    detail::check(detail::launch_dft_basis(t->data<float>(), detail::stream()),
                  "log_mel: DFT basis kernel");
    return t;
  }();
  return basis->data<float>();
}

// Column-major fp32 C = op(A) · op(B) with fp32 arithmetic throughout: the pedantic compute type
// rules out TF32 and other reduced-precision paths whatever the handle's math mode; should a
// cuBLAS refuse it, CUBLAS_COMPUTE_32F (no TF32 either: the backend never enables TF32 math).
void gemm_f32(cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n, int64_t k,
              const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
              const char* what) {
  const float alpha = 1.0f, beta = 0.0f;
  const auto run = [&](cublasComputeType_t compute) {
    return cublasGemmEx(detail::cublas(), op_a, op_b, int(m), int(n), int(k), &alpha, a, CUDA_R_32F,
                        int(lda), b, CUDA_R_32F, int(ldb), &beta, c, CUDA_R_32F, int(ldc), compute,
                        CUBLAS_GEMM_DEFAULT);
  };
  cublasStatus_t status = run(CUBLAS_COMPUTE_32F_PEDANTIC);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) status = run(CUBLAS_COMPUTE_32F);
  detail::check(status, what);
}

}  // namespace

void log_mel(const float* pcm, int64_t n_pcm, int64_t pad, const float* filters, int64_t n_mels,
             float* out) {
  const int64_t n_samples = n_pcm + pad, n_frames = n_samples / detail::kMelHop;
  if (n_frames == 0 || n_mels == 0) return;
  const cudaStream_t s = detail::stream();
  const float* basis = dft_basis();
  const int64_t chunk = std::min(n_frames, kFramesPerChunk);
  Tensor frames = Tensor::empty_on(Device::kCuda, DType::kF32, {chunk, detail::kMelNFft});
  Tensor spectrum = Tensor::empty_on(Device::kCuda, DType::kF32, {chunk, kBasisCols});
  Tensor power = Tensor::empty_on(Device::kCuda, DType::kF32, {chunk, detail::kMelBins});
  for (int64_t f0 = 0; f0 < n_frames; f0 += chunk) {
    const int64_t f = std::min(chunk, n_frames - f0);
    detail::check(detail::launch_mel_frames(pcm, n_pcm, n_samples, f0, f, frames.data<float>(), s),
                  "log_mel: frames kernel");
    gemm_f32(CUBLAS_OP_N, CUBLAS_OP_N, kBasisCols, f, detail::kMelNFft, basis, kBasisCols,
             frames.data<float>(), detail::kMelNFft, spectrum.data<float>(), kBasisCols,
             "log_mel: DFT cublasGemmEx");
    detail::check(detail::launch_power_spectrum(spectrum.data<float>(), f, power.data<float>(), s),
                  "log_mel: power kernel");
    gemm_f32(CUBLAS_OP_T, CUBLAS_OP_N, f, n_mels, detail::kMelBins, power.data<float>(),
             detail::kMelBins, filters, detail::kMelBins, out + f0, n_frames,
             "log_mel: filterbank cublasGemmEx");
  }
  const int64_t n = n_mels * n_frames;
  Tensor partial = Tensor::empty_on(Device::kCuda, DType::kF32, {detail::kMelMaxPartials});
  detail::check(detail::launch_log10_max(out, n, partial.data<float>(), s),
                "log_mel: log10 kernel");
  detail::check(
      detail::launch_log_mel_finish(out, n, partial.data<float>(), detail::log10_max_blocks(n), s),
      "log_mel: clamp kernel");
}

void mel_window(DType dtype, const float* mel, int64_t rows, int64_t total, int64_t seek, int64_t n,
                int64_t width, void* window) {
  if (!supports_dtype(dtype))
    throw_error(ErrorKind::kUnsupported, "mel_window: no CUDA kernel for {} windows",
                dtype_name(dtype));
  detail::check(
      detail::launch_mel_window(dtype, mel, rows, total, seek, n, width, window, detail::stream()),
      "mel_window kernel");
}

}  // namespace hark::backends::cuda
