#include <cmath>

#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {

LinearWeight quantize_int8(const Tensor& w) {
  detail::OpCheck c("quantize_int8");
  c.tensor("w", w, 2);
  c.require(c.device() == Device::kCpu, "w must be on the CPU");
  c.kernel_dtype(DType::kF32);
  const int64_t n = w.dim(0), k = w.dim(1);
  const float* src = w.data<float>();
  for (int64_t i = 0; i < n * k; ++i)
    HARK_CHECK(std::isfinite(src[i]), ErrorKind::kInvalidArgument,
               "quantize_int8: weight [{}, {}] is {}, not a finite number", i / k, i % k, src[i]);
  LinearWeight out{Tensor::zeros(DType::kI8, {n, k}), Tensor::zeros(DType::kF32, {n})};
  backends::cpu::quantize_int8_rows(src, n, k, out.w.data<int8_t>(), out.scale.data<float>());
  return out;
}

}  // namespace hark::ops
