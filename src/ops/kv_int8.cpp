// The int8 cross-attention K/V ops: quantize_kv_int8 (begin_window, after the k | v projection)
// and dequantize_kv_int8 (decode()'s attention, which reads float K/V).
#include "backends/cpu/kernels.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/kernels.h"
#endif
#include "ops/check.h"
#include "ops/ops.h"

namespace hark::ops {
namespace {

// An int8 matrix [rows, d] and its F32 scales [n_head, S] (head-major, S >= rows) on the op's
// device; returns S, the scales' row stride.
int64_t int8_pair(const detail::OpCheck& c, const char* q_name, const Tensor& q, const char* s_name,
                  const Tensor& s, int64_t rows, int64_t d, int64_t n_head) {
  c.require(q.defined() && q.dtype() == DType::kI8 && q.device() == c.device() &&
                q.shape() == Shape{rows, d},
            "{} should be I8 [{}, {}] on the op's device, got {} {}", q_name, rows, d,
            dtype_name(q.dtype()), shape_str(q.shape()));
  c.require(s.defined() && s.dtype() == DType::kF32 && s.device() == c.device() && s.ndim() == 2 &&
                s.dim(0) == n_head && s.dim(1) >= rows,
            "{} should be F32 [{}, >= {}] on the op's device, got {} {}", s_name, n_head, rows,
            dtype_name(s.dtype()), shape_str(s.shape()));
  return s.dim(1);
}

}  // namespace

void quantize_kv_int8(const Tensor& kv, int n_head, Tensor& k, Tensor& k_scale, Tensor& v,
                      Tensor& v_scale) {
  detail::OpCheck c("quantize_kv_int8");
  c.tensor("kv", kv, 2);
  const int64_t rows = kv.dim(0), ld = kv.dim(1), d = k.ndim() == 2 ? k.dim(1) : 0;
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0 && 2 * d <= ld,
            "k {} does not split into {} heads within kv {}", shape_str(k.shape()), n_head,
            shape_str(kv.shape()));
  const int64_t s_ld = int8_pair(c, "k", k, "k_scale", k_scale, rows, d, n_head);
  int8_pair(c, "v", v, "v_scale", v_scale, rows, d, n_head);
  c.require(v_scale.shape() == k_scale.shape(), "v_scale {} should have k_scale's shape {}",
            shape_str(v_scale.shape()), shape_str(k_scale.shape()));
  const int64_t dh = d / n_head;
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      // Each head's Dh values of a row are one "row" of quantize_int8_rows; its scale goes to
      // [h, t].
      for (int64_t t = 0; t < rows; ++t) {
        const float* src = kv.data<float>() + t * ld + (ld - 2 * d);
        for (int64_t h = 0; h < n_head; ++h) {
          backends::cpu::quantize_int8_rows(src + h * dh, 1, dh, k.data<int8_t>() + t * d + h * dh,
                                            k_scale.data<float>() + h * s_ld + t);
          backends::cpu::quantize_int8_rows(src + d + h * dh, 1, dh,
                                            v.data<int8_t>() + t * d + h * dh,
                                            v_scale.data<float>() + h * s_ld + t);
        }
      }
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::quantize_kv_int8(c.dtype(), kv.raw(), ld, rows, d, n_head, k.data<int8_t>(),
                                       k_scale.data<float>(), v.data<int8_t>(),
                                       v_scale.data<float>(), s_ld);
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

void dequantize_kv_int8(const Tensor& q, const Tensor& scale, int n_head, Tensor& out) {
  detail::OpCheck c("dequantize_kv_int8");
  c.tensor("out", out, 2);
  const int64_t rows = out.dim(0), d = out.dim(1);
  c.require(n_head >= 1 && d >= n_head && d % n_head == 0, "out {} does not split into {} heads",
            shape_str(out.shape()), n_head);
  const int64_t s_ld = int8_pair(c, "q", q, "scale", scale, rows, d, n_head);
  const int64_t dh = d / n_head;
  switch (c.device()) {
    case Device::kCpu: {
      c.kernel_dtype(DType::kF32);
      const int8_t* src = q.data<int8_t>();
      const float* s = scale.data<float>();
      float* dst = out.data<float>();
      for (int64_t t = 0; t < rows; ++t)
        for (int64_t j = 0; j < d; ++j)
          dst[t * d + j] = float(src[t * d + j]) * s[(j / dh) * s_ld + t];
      return;
    }
    case Device::kCuda:
#ifdef HARK_HAVE_CUDA
      backends::cuda::dequantize_kv_int8(c.dtype(), q.data<int8_t>(), scale.data<float>(), rows, d,
                                         n_head, s_ld, out.data<void>());
      return;
#else
      break;
#endif
  }
  c.unsupported_device();
}

}  // namespace hark::ops
