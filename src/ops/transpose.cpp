#include <cstring>

#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void transpose(const Tensor& x, Tensor& y) {
  detail::OpCheck c("transpose");
  c.tensor("x", x, 2).tensor("y", y, 2);
  c.require(y.dim(0) == x.dim(1) && y.dim(1) == x.dim(0), "y {} should be [{},{}] for x {}",
            shape_str(y.shape()), x.dim(1), x.dim(0), shape_str(x.shape()));
  c.disjoint("y", y, "x", x);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::transpose(x.data<float>(), y.data<float>(), x.dim(0), x.dim(1));
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::transpose(c.dtype(), x.raw(), y.data<void>(), x.dim(0), x.dim(1));
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void copy_columns(const Tensor& src, int64_t col, Tensor& dst) {
  detail::OpCheck c("copy_columns");
  c.tensor("src", src, 2).tensor("dst", dst, 2);
  const int64_t rows = src.dim(0), cols = src.dim(1), w = dst.dim(1);
  c.require(dst.dim(0) == rows && col >= 0 && col + w <= cols,
            "dst {} is not a block of columns of src {} at column {}", shape_str(dst.shape()),
            shape_str(src.shape()), col);
  c.disjoint("dst", dst, "src", src);
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const float* s = src.data<float>() + col;
      float* d = dst.data<float>();
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(d + r * w, s + r * cols, size_t(w) * sizeof(float));
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::copy_columns(c.dtype(), src.raw(), rows, cols, col, w, dst.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
