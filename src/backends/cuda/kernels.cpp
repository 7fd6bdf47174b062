// The entry points of kernels.h: check the dtype, enqueue the launchers of the .cu files on the
// backend's stream and turn their status into hark::Error; the GEMMs (linear, conv1d) go through
// cublasGemmEx with fp32 accumulation (CUBLAS_COMPUTE_32F: no TF32 for fp32 tensors, tensor cores
// for fp16/bf16) and add the bias in a separate broadcast kernel. cuBLASLt with the bias in the
// epilogue is the next step.
//
// cuBLAS is column-major; a row-major [r, c] matrix is a column-major [c, r] one. So
// y[m, n] = x[m, k] · w[n, k]^T becomes y^T[n, m] = (w^T)^T[n, k] · x^T[k, m]: op(A) = T on w
// (lda k), op(B) = N on x (ldb k), ldc n.
#include "backends/cuda/kernels.h"

#include <cublas_v2.h>

#include "backends/cuda/check.h"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda {
namespace {

void require_dtype(DType dtype, const char* op) {
  if (!supports_dtype(dtype))
    throw_error(ErrorKind::kUnsupported, "{}: no CUDA kernel for {} tensors", op,
                dtype_name(dtype));
}

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

// Column-major C[m, n] = op(A) · op(B), all of `dtype`, fp32 accumulation.
void gemm(DType dtype, cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n,
          int64_t k, const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc,
          const char* what) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(dtype);
  detail::check(
      cublasGemmEx(detail::cublas(), op_a, op_b, int(m), int(n), int(k), &alpha, a, t, int(lda), b,
                   t, int(ldb), &beta, c, t, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      what);
}

void zero(void* p, int64_t elements, DType dtype, const char* what) {
  detail::check(cudaMemsetAsync(p, 0, size_t(elements) * dtype_size(dtype), detail::stream()),
                what);
}

}  // namespace

bool supports_dtype(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

void linear(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
            int64_t n, int64_t k) {
  require_dtype(dtype, "linear");
  if (m == 0 || n == 0) return;
  if (k == 0) {
    zero(y, m * n, dtype, "linear: cudaMemsetAsync");
  } else {
    gemm(dtype, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, w, k, x, k, y, n, "linear: cublasGemmEx");
  }
  if (bias)
    detail::check(detail::launch_add_rows(dtype, y, bias, m, n, detail::stream()),
                  "linear: bias kernel");
}

void layer_norm(DType dtype, const void* x, const void* gamma, const void* beta, float eps, void* y,
                int64_t rows, int64_t d) {
  require_dtype(dtype, "layer_norm");
  detail::check(detail::launch_layer_norm(dtype, x, gamma, beta, eps, y, rows, d, detail::stream()),
                "layer_norm kernel");
}

void gelu(DType dtype, void* x, int64_t n) {
  require_dtype(dtype, "gelu_");
  detail::check(detail::launch_gelu(dtype, x, n, detail::stream()), "gelu kernel");
}

void add(DType dtype, void* x, const void* y, int64_t n) {
  require_dtype(dtype, "add_");
  detail::check(detail::launch_add(dtype, x, y, n, detail::stream()), "add kernel");
}

void add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d) {
  require_dtype(dtype, "add_rows_");
  detail::check(detail::launch_add_rows(dtype, x, row, rows, d, detail::stream()),
                "add_rows kernel");
}

void softmax(DType dtype, void* x, int64_t rows, int64_t n) {
  require_dtype(dtype, "softmax_");
  detail::check(detail::launch_softmax(dtype, x, rows, n, detail::stream()), "softmax kernel");
}

void transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols) {
  require_dtype(dtype, "transpose");
  detail::check(detail::launch_transpose(dtype, x, y, rows, cols, detail::stream()),
                "transpose kernel");
}

void conv1d(DType dtype, const void* x, const void* w, const void* b, const Conv1dDims& d,
            void* y) {
  require_dtype(dtype, "conv1d");
  const int64_t ck = d.c_in * d.kernel;
  if (d.c_out == 0 || d.t_out == 0) return;
  if (ck == 0) {
    zero(y, d.c_out * d.t_out, dtype, "conv1d: cudaMemsetAsync");
  } else {
    // Released at the end of this call; the caching allocator hands it out again only to work
    // queued after the GEMM on the same stream.
    Tensor col = Tensor::empty_on(Device::kCuda, dtype, {ck, d.t_out});
    detail::check(detail::launch_im2col(dtype, x, d, col.data<void>(), detail::stream()),
                  "conv1d: im2col kernel");
    // Row-major y[c_out, t_out] = w[c_out, ck] · col[ck, t_out], i.e. column-major
    // y^T[t_out, c_out] = col^T[t_out, ck] · w^T[ck, c_out]: both operands untransposed.
    gemm(dtype, CUBLAS_OP_N, CUBLAS_OP_N, d.t_out, d.c_out, ck, col.raw(), d.t_out, w, ck, y,
         d.t_out, "conv1d: cublasGemmEx");
  }
  detail::check(detail::launch_add_channel_bias(dtype, y, b, d.c_out, d.t_out, detail::stream()),
                "conv1d: bias kernel");
}

void attention(DType dtype, const void* q, const void* k, const void* v, const AttentionDims& d,
               void* out, void* weights) {
  require_dtype(dtype, "attention");
  detail::check(detail::launch_attention(dtype, q, k, v, d, out, weights, detail::stream()),
                "attention kernel");
}

}  // namespace hark::backends::cuda
