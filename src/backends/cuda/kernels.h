// The CUDA kernels as src/ops calls them: plain C++, no CUDA headers. src/ops has checked shapes,
// dtypes (all arguments of one dtype) and overlaps; every pointer is a device pointer of `dtype`
// elements, contiguous and row-major as in ops.h. Each call enqueues work on the backend's stream
// and returns without waiting; results are visible to later calls and to Tensor::to(kCpu).
// F32, F16 and BF16 are supported (supports_dtype); accumulation is fp32 everywhere (fp32 GEMMs
// use no TF32). Errors (no device, out of memory, a failed launch) throw hark::Error.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace hark::backends::cuda {

bool supports_dtype(DType dtype);

// y[m, n] = x[m, k] · w[n, k]^T (+ bias[n]); bias may be null. m, n, k fit in int32.
void linear(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
            int64_t n, int64_t k);

// Per row of x [rows, d]: two-pass fp32 mean and variance, y = (x - mean) / sqrt(var + eps) *
// gamma + beta. y may be x.
void layer_norm(DType dtype, const void* x, const void* gamma, const void* beta, float eps, void* y,
                int64_t rows, int64_t d);

void gelu(DType dtype, void* x, int64_t n);                // exact erf form, in place
void add(DType dtype, void* x, const void* y, int64_t n);  // x += y; y may be x
void add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d);
void softmax(DType dtype, void* x, int64_t rows, int64_t n);  // over each row, in place
void transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols);

struct Conv1dDims {
  int64_t c_in, t_in, c_out, kernel, stride, pad, t_out;
};
// y [c_out, t_out] = w [c_out, c_in * kernel] · im2col(x) + b, through a temporary column buffer
// of c_in * kernel * t_out elements from the caching allocator.
void conv1d(DType dtype, const void* x, const void* w, const void* b, const Conv1dDims& d, void* y);

struct AttentionDims {
  int64_t tq, tk, n_head, head_dim;
  int64_t causal_offset;             // < 0: no mask, else query i sees keys j <= i + causal_offset
  int64_t ld_q, ld_k, ld_v, ld_out;  // row strides in elements
};
// ops::attention's contract; weights (may be null) is [n_head, tq, tk].
void attention(DType dtype, const void* q, const void* k, const void* v, const AttentionDims& d,
               void* out, void* weights);

}  // namespace hark::backends::cuda
