#include <utility>

#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y) {
  detail::OpCheck c("layer_norm");
  c.tensor("x", x, -1).tensor("gamma", gamma, 1).tensor("beta", beta, 1).tensor("y", y, x.ndim());
  const int64_t d = x.dim(-1);
  c.require(gamma.dim(0) == d && beta.dim(0) == d, "gamma {} and beta {} should be [{}] for x {}",
            shape_str(gamma.shape()), shape_str(beta.shape()), d, shape_str(x.shape()));
  c.require(y.shape() == x.shape(), "y {} should have the shape of x {}", shape_str(y.shape()),
            shape_str(x.shape()));
  c.require(eps >= 0.0f, "eps {} is negative", eps);
  c.same_or_disjoint("y", y, "x", x);
  c.disjoint("y", y, "gamma", gamma);
  c.disjoint("y", y, "beta", beta);
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::layer_norm(x.data<float>(), gamma.data<float>(), beta.data<float>(), eps,
                                y.data<float>(), detail::leading_rows(x), d);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::layer_norm(c.dtype(), x.raw(), gamma.raw(), beta.raw(), eps, y.data<void>(),
                                 detail::leading_rows(x), d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void add_layer_norm(Tensor& x, const Tensor& h, const Tensor& gamma, const Tensor& beta, float eps,
                    Tensor& y, const Tensor* bias) {
  detail::OpCheck c("add_layer_norm");
  c.tensor("x", x, -1).tensor("h", h, x.ndim()).tensor("gamma", gamma, 1);
  c.tensor("beta", beta, 1).tensor("y", y, x.ndim());
  if (bias) c.tensor("bias", *bias, 1);
  const int64_t d = x.dim(-1);
  if (bias)
    c.require(bias->dim(0) == d, "bias {} should be [{}] for x {}", shape_str(bias->shape()), d,
              shape_str(x.shape()));
  c.require(h.shape() == x.shape() && y.shape() == x.shape(),
            "h {} and y {} should have the shape of x {}", shape_str(h.shape()),
            shape_str(y.shape()), shape_str(x.shape()));
  c.require(gamma.dim(0) == d && beta.dim(0) == d, "gamma {} and beta {} should be [{}] for x {}",
            shape_str(gamma.shape()), shape_str(beta.shape()), d, shape_str(x.shape()));
  c.require(eps >= 0.0f, "eps {} is negative", eps);
  c.same_or_disjoint("y", y, "x", x);
  c.disjoint("x", x, "h", h);
  c.disjoint("y", y, "h", h);
  for (const auto& [name, t] : {std::pair{"gamma", &gamma}, {"beta", &beta}, {"bias", bias}}) {
    if (!t) continue;
    c.disjoint("x", x, name, *t);
    c.disjoint("y", y, name, *t);
  }
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::add_layer_norm(x.data<float>(), h.data<float>(),
                                    bias ? bias->data<float>() : nullptr, gamma.data<float>(),
                                    beta.data<float>(), eps, y.data<float>(),
                                    detail::leading_rows(x), d);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::add_layer_norm(c.dtype(), x.data<void>(), h.raw(),
                                     bias ? bias->raw() : nullptr, gamma.raw(), beta.raw(), eps,
                                     y.data<void>(), detail::leading_rows(x), d);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
