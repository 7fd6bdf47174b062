// Private to src/backends/cuda: the kernel launchers the .cu files define and kernels.cpp calls.
// Each enqueues its kernels on `s` and returns the launch status (cudaErrorInvalidValue for a
// dtype other than F32/F16/BF16); pointers are device pointers of `dtype` elements, sizes are
// checked by src/ops before they get here.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/kernels.h"
#include "core/tensor.h"

namespace hark::backends::cuda::detail {

cudaError_t launch_gelu(DType dtype, void* x, int64_t n, cudaStream_t s);
cudaError_t launch_add(DType dtype, void* x, const void* y, int64_t n, cudaStream_t s);
// x[r, c] += row[c] for x [rows, d].
cudaError_t launch_add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d,
                            cudaStream_t s);
// x[c, t] += bias[c] for x [channels, len].
cudaError_t launch_add_channel_bias(DType dtype, void* x, const void* bias, int64_t channels,
                                    int64_t len, cudaStream_t s);
cudaError_t launch_layer_norm(DType dtype, const void* x, const void* gamma, const void* beta,
                              float eps, void* y, int64_t rows, int64_t d, cudaStream_t s);
cudaError_t launch_softmax(DType dtype, void* x, int64_t rows, int64_t n, cudaStream_t s);
cudaError_t launch_transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols,
                             cudaStream_t s);
// col [c_in * kernel, t_out]: col[(ci * kernel + j) * t_out + t] = x[ci, t * stride - pad + j]
// (0 outside x).
cudaError_t launch_im2col(DType dtype, const void* x, const Conv1dDims& d, void* col,
                          cudaStream_t s);
cudaError_t launch_attention(DType dtype, const void* q, const void* k, const void* v,
                             const AttentionDims& d, void* out, void* weights, cudaStream_t s);

}  // namespace hark::backends::cuda::detail
