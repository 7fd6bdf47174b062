// Private to src/backends/cuda: GEMMs through cuBLASLt with the bias in the epilogue
// (kernels.cpp's many-row linear with a bias). cuBLASLt's GELU epilogue is not used: it computes
// the tanh approximation, and Whisper's GELU is the exact (erf) one.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace hark::backends::cuda::detail {

// y[m, n] = x[m, k] · w[n, k]^T + bias[n] in one cuBLASLt call on the backend's stream: x, w,
// bias, y of the 16-bit `dtype`, fp32 accumulation, the bias added before the one rounding.
// Returns false, having queued nothing, when cuBLASLt offers no algorithm for the call (the
// caller then runs GEMM + bias kernel). Throws hark::Error when a call fails.
bool gemm_bias_lt(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
                  int64_t n, int64_t k);

}  // namespace hark::backends::cuda::detail
