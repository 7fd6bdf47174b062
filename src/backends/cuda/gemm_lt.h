// Private to src/backends/cuda: GEMMs through cuBLASLt with a fused epilogue (kernels.cpp's
// many-row linear with a bias, or a bias and GELU).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace hark::backends::cuda::detail {

// y[m, n] = epilogue(x[m, k] · w[n, k]^T + bias[n]) in one cuBLASLt call on the backend's stream:
// x, w, bias, y of the 16-bit `dtype`, fp32 accumulation; gelu: cuBLASLt's GELU epilogue (the
// tanh form, within 4.7e-4 of the exact one, below 16-bit rounding). Returns false, having queued
// nothing, when cuBLASLt offers no algorithm for the call (the caller then runs GEMM + kernel).
// Throws hark::Error when a call fails.
bool gemm_bias_lt(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
                  int64_t n, int64_t k, bool gelu);

}  // namespace hark::backends::cuda::detail
