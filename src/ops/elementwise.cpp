// gelu_, bias_gelu_, add_, add_rows_ and softmax_: the in-place ops.
#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void gelu_(Tensor& x) {
  detail::OpCheck c("gelu_");
  c.tensor("x", x, -1);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::gelu(x.data<float>(), x.numel());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::gelu(c.dtype(), x.data<void>(), x.numel());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void bias_gelu_(Tensor& x, const Tensor& bias) {
  detail::OpCheck c("bias_gelu_");
  c.tensor("x", x, -1).tensor("bias", bias, 1);
  const int64_t d = x.dim(-1);
  c.require(bias.dim(0) == d, "bias {} should be [{}] for x {}", shape_str(bias.shape()), d,
            shape_str(x.shape()));
  c.disjoint("x", x, "bias", bias);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::bias_gelu(x.data<float>(), bias.data<float>(), detail::leading_rows(x), d);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::bias_gelu(c.dtype(), x.data<void>(), bias.raw(), detail::leading_rows(x), d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void add_(Tensor& x, const Tensor& y) {
  detail::OpCheck c("add_");
  c.tensor("x", x, -1).tensor("y", y, x.ndim());
  c.require(x.shape() == y.shape(), "x {} and y {} differ in shape", shape_str(x.shape()),
            shape_str(y.shape()));
  c.same_or_disjoint("x", x, "y", y);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::add(x.data<float>(), y.data<float>(), x.numel());
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::add(c.dtype(), x.data<void>(), y.raw(), x.numel());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void add_rows_(Tensor& x, const Tensor& row_block) {
  detail::OpCheck c("add_rows_");
  c.tensor("x", x, -1).tensor("row", row_block, -1);
  const int64_t d = x.dim(-1);
  c.require(row_block.numel() == d && row_block.dim(-1) == d, "row {} should be [{}] for x {}",
            shape_str(row_block.shape()), d, shape_str(x.shape()));
  c.disjoint("x", x, "row", row_block);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::add_rows(x.data<float>(), row_block.data<float>(), detail::leading_rows(x), d);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::add_rows(c.dtype(), x.data<void>(), row_block.raw(), detail::leading_rows(x),
                               d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void softmax_(Tensor& x) {
  detail::OpCheck c("softmax_");
  c.tensor("x", x, -1);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::softmax(x.data<float>(), detail::leading_rows(x), x.dim(-1));
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::softmax(c.dtype(), x.data<void>(), detail::leading_rows(x), x.dim(-1));
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
