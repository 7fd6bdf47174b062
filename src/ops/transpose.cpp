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

}  // namespace hark::ops
