#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/profile.h"

namespace hark::ops {

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  detail::OpCheck c("linear");
  c.tensor("x", x, -2).tensor("w", w, 2).tensor("y", y, x.ndim());
  if (bias) c.tensor("bias", *bias, 1);
  const int64_t k = x.dim(-1), n = w.dim(0), m = detail::leading_rows(x);
  c.require(w.dim(1) == k, "x {} and w {} disagree on K", shape_str(x.shape()),
            shape_str(w.shape()));
  if (bias)
    c.require(bias->dim(0) == n, "bias {} does not match w {}", shape_str(bias->shape()),
              shape_str(w.shape()));
  Shape want = x.shape();
  want.back() = n;
  c.require(y.shape() == want, "y {} should be {} for x {} and w {}", shape_str(y.shape()),
            shape_str(want), shape_str(x.shape()), shape_str(w.shape()));
  c.disjoint("y", y, "x", x);
  c.disjoint("y", y, "w", w);
  if (bias) c.disjoint("y", y, "bias", *bias);
  c.blas_sizes({m, n, k});
  if (ops::profiling()) c.profile_key(fmt::format("linear n={} k={}", n, k));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::linear(x.data<float>(), w.data<float>(), bias ? bias->data<float>() : nullptr,
                            y.data<float>(), m, n, k);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::linear(c.dtype(), x.raw(), w.raw(), bias ? bias->raw() : nullptr,
                             y.data<void>(), m, n, k);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void linear(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y) {
  if (!w.quantized()) {
    linear(x, w.w, bias, y);
    return;
  }
  detail::OpCheck c("linear_int8");
  c.tensor("x", x, -2).tensor("y", y, x.ndim());
  if (bias) c.tensor("bias", *bias, 1);
  const Tensor &q = w.w, &scale = w.scale;
  c.require(q.ndim() == 2, "w {} should have 2 dimensions", shape_str(q.shape()));
  const int64_t k = x.dim(-1), n = q.dim(0), m = detail::leading_rows(x);
  c.require(q.device() == c.device() && scale.defined() && scale.device() == c.device(),
            "the int8 weight and its scales must be on the device of x");
  c.require(scale.dtype() == DType::kF32 && scale.shape() == Shape{n},
            "scale should be F32 [{}] for w {}, not {} {}", n, shape_str(q.shape()),
            dtype_name(scale.dtype()), shape_str(scale.shape()));
  c.require(q.dim(1) == k, "x {} and w {} disagree on K", shape_str(x.shape()),
            shape_str(q.shape()));
  if (bias)
    c.require(bias->dim(0) == n, "bias {} does not match w {}", shape_str(bias->shape()),
              shape_str(q.shape()));
  Shape want = x.shape();
  want.back() = n;
  c.require(y.shape() == want, "y {} should be {} for x {} and w {}", shape_str(y.shape()),
            shape_str(want), shape_str(x.shape()), shape_str(q.shape()));
  c.disjoint("y", y, "x", x);
  c.disjoint("y", y, "w", q);
  c.disjoint("y", y, "scale", scale);
  if (bias) c.disjoint("y", y, "bias", *bias);
  c.blas_sizes({m, n, k});
  if (ops::profiling()) c.profile_key(fmt::format("linear_int8 n={} k={}", n, k));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::linear_int8(x.data<float>(), q.data<int8_t>(), scale.data<float>(),
                                 bias ? bias->data<float>() : nullptr, y.data<float>(), m, n, k);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::linear_int8(c.dtype(), x.raw(), q.data<int8_t>(), scale.data<float>(),
                                  bias ? bias->raw() : nullptr, y.data<void>(), m, n, k);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
