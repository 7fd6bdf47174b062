#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"
#include "ops/profile.h"

namespace hark::ops {
namespace {

// y = gelu(y + bias) (bias may be null) over y [m, n] on the CPU, the exact form.
void cpu_gelu(Tensor& y, const Tensor* bias, int64_t m, int64_t n) {
  if (bias)
    backends::cpu::bias_gelu(y.data<float>(), bias->data<float>(), m, n);
  else
    backends::cpu::gelu(y.data<float>(), m * n);
}

void linear_float(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, bool gelu) {
  detail::OpCheck c(gelu ? "linear_gelu" : "linear");
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
  if (ops::profiling()) c.profile_key(fmt::format("linear{} n={} k={}", gelu ? "_gelu" : "", n, k));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::linear(x.data<float>(), w.data<float>(),
                            bias && !gelu ? bias->data<float>() : nullptr, y.data<float>(), m, n,
                            k);
      if (gelu) cpu_gelu(y, bias, m, n);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::linear(c.dtype(), x.raw(), w.raw(), bias ? bias->raw() : nullptr,
                             y.data<void>(), m, n, k, gelu);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void linear_weight(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y,
                   bool gelu) {
  if (!w.quantized()) {
    linear_float(x, w.w, bias, y, gelu);
    return;
  }
  detail::OpCheck c(gelu ? "linear_gelu_int8" : "linear_int8");
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
  if (ops::profiling())
    c.profile_key(fmt::format("linear{}_int8 n={} k={}", gelu ? "_gelu" : "", n, k));
  switch (c.device()) {
    case Device::kCpu:
      c.kernel_dtype(DType::kF32);
      backends::cpu::linear_int8(x.data<float>(), q.data<int8_t>(), scale.data<float>(),
                                 bias && !gelu ? bias->data<float>() : nullptr, y.data<float>(), m,
                                 n, k);
      if (gelu) cpu_gelu(y, bias, m, n);
      return;
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::linear_int8(c.dtype(), x.raw(), q.data<int8_t>(), scale.data<float>(),
                                  bias ? bias->raw() : nullptr, y.data<void>(), m, n, k, gelu);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  linear_float(x, w, bias, y, false);
}
void linear(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y) {
  linear_weight(x, w, bias, y, false);
}
void linear_gelu(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y) {
  linear_weight(x, w, bias, y, true);
}

}  // namespace hark::ops
