// Layout kernels: 2-D transpose through 32x32 shared-memory tiles (padded by one column against
// bank conflicts; reads and writes both coalesced), and im2col for conv1d, which lays the
// receptive fields out as a [c_in * kernel, t_out] matrix so that the convolution is one GEMM.
#include "backends/cuda/common.cuh"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda::detail {
namespace {

constexpr int kTile = 32, kRowsPerPass = 8;

// grid (ceil(cols / 32), ceil(rows / 32)), block (32, 8).
template <typename T>
__global__ void transpose_kernel(const T* x, T* y, int64_t rows, int64_t cols) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t c0 = int64_t(blockIdx.x) * kTile, r0 = int64_t(blockIdx.y) * kTile;
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = x[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < kTile; i += kRowsPerPass) {
    const int64_t c = c0 + i, r = r0 + threadIdx.x;  // y[c, r] = x[r, c]
    if (r < rows && c < cols) y[c * rows + r] = tile[threadIdx.x][i];
  }
}

template <typename T>
__global__ void im2col_kernel(const T* x, Conv1dDims d, T* col) {
  const int64_t n = d.c_in * d.kernel * d.t_out;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i % d.t_out, row = i / d.t_out;  // row = ci * kernel + j
    const int64_t ci = row / d.kernel, j = row % d.kernel;
    const int64_t src = t * d.stride - d.pad + j;
    col[i] = (src >= 0 && src < d.t_in) ? x[ci * d.t_in + src] : T(0.0f);
  }
}

// One output element per thread (grid-stride): row (b, t), column j * C + c (channel-major x,
// conv1's mel input, or any shape).
template <typename T>
__global__ void conv1d_patches_kernel(const T* x, Conv1dPatchDims d, T* out) {
  const int64_t width = d.channels * d.kernel, n = d.batch * d.t_out * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / width, col = i - row * width;
    const int64_t b = row / d.t_out, t = row - b * d.t_out;
    const int64_t j = col / d.channels, c = col - j * d.channels;
    const int64_t src = t * d.stride + j - d.pad;
    T v = T(0.0f);
    if (src >= 0 && src < d.t_in)
      v = d.channel_major ? x[(b * d.channels + c) * d.t_in + src]
                          : x[(b * d.t_in + src) * d.channels + c];
    out[i] = v;
  }
}

// Time-major x with 16-byte aligned rows (C a multiple of 16 / sizeof(T)): each tap of an output
// row is a copy of one input row (or zeros), 16 bytes per thread.
template <typename T>
__global__ void conv1d_patches_rows_kernel(const T* x, Conv1dPatchDims d, T* out) {
  constexpr int64_t kVec = 16 / sizeof(T);
  const int64_t per_tap = d.channels / kVec, width = d.kernel * per_tap;
  const int64_t n = d.batch * d.t_out * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t row = i / width, col = i - row * width;
    const int64_t b = row / d.t_out, t = row - b * d.t_out;
    const int64_t j = col / per_tap, c = (col - j * per_tap) * kVec;
    const int64_t src = t * d.stride + j - d.pad;
    uint4 v = make_uint4(0u, 0u, 0u, 0u);
    if (src >= 0 && src < d.t_in)
      v = *reinterpret_cast<const uint4*>(x + (b * d.t_in + src) * d.channels + c);
    *reinterpret_cast<uint4*>(out + i * kVec) = v;
  }
}

}  // namespace

cudaError_t launch_conv1d_patches(DType dtype, const void* x, const Conv1dPatchDims& d, void* out,
                                  cudaStream_t s) {
  const int64_t n = d.batch * d.t_out * d.channels * d.kernel;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t kVec = 16 / sizeof(T);
    if (!d.channel_major && d.channels % kVec == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
        reinterpret_cast<uintptr_t>(out) % 16 == 0) {
      conv1d_patches_rows_kernel<<<grid_for(n / kVec, 256), 256, 0, s>>>(static_cast<const T*>(x),
                                                                         d, static_cast<T*>(out));
      return cudaGetLastError();
    }
    conv1d_patches_kernel<<<grid_for(n, 256), 256, 0, s>>>(static_cast<const T*>(x), d,
                                                           static_cast<T*>(out));
    return cudaGetLastError();
  });
}

cudaError_t launch_transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols,
                             cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const int64_t gx = (cols + kTile - 1) / kTile, gy = (rows + kTile - 1) / kTile;
  if (gy > 65535) return cudaErrorInvalidConfiguration;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    transpose_kernel<<<dim3(unsigned(gx), unsigned(gy)), dim3(kTile, kRowsPerPass), 0, s>>>(
        static_cast<const T*>(x), static_cast<T*>(y), rows, cols);
    return cudaGetLastError();
  });
}

cudaError_t launch_im2col(DType dtype, const void* x, const Conv1dDims& d, void* col,
                          cudaStream_t s) {
  const int64_t n = d.c_in * d.kernel * d.t_out;
  if (n == 0) return cudaSuccess;
  return dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<<<grid_for(n, 256), 256, 0, s>>>(static_cast<const T*>(x), d,
                                                   static_cast<T*>(col));
    return cudaGetLastError();
  });
}

}  // namespace hark::backends::cuda::detail
