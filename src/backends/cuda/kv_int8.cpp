// The kernels.h entry points of int8 cross-attention K/V: attention rows over int8 K/V, the
// quantiser and the dequantiser (kv_int8.cu, attention_rows.cu).
#include <cuda_runtime_api.h>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda {
using detail::sm_count;

void attention_rows_indexed_int8(DType dtype, const void* q, const int64_t* k_addr,
                                 const int64_t* v_addr, const int64_t* k_scale_addr,
                                 const int64_t* v_scale_addr, const int64_t* n_keys, int max_keys,
                                 const AttentionRowsDims& d, float* workspace, void* out) {
  detail::require_dtype(dtype, "attention_rows");
  if (d.rows == 0) return;
  const detail::AttentionRowsPlan plan = detail::plan_attention_rows(d, max_keys, sm_count());
  detail::check(
      detail::launch_attention_rows(dtype, q, k_addr, v_addr, n_keys, d, plan,
                                    /*rows_aligned16=*/true, plan.n_split > 1 ? workspace : nullptr,
                                    out, detail::stream(), k_scale_addr, v_scale_addr),
      "attention_rows kernel (int8 K/V)");
}

void quantize_kv_int8(DType dtype, const void* kv, int64_t ld, int64_t rows, int64_t d,
                      int64_t n_head, int8_t* k, float* k_scale, int8_t* v, float* v_scale,
                      int64_t scale_ld) {
  detail::require_dtype(dtype, "quantize_kv_int8");
  detail::check(detail::launch_quantize_kv_int8(dtype, kv, ld, rows, d, n_head, k, k_scale, v,
                                                v_scale, scale_ld, detail::stream()),
                "quantize_kv_int8 kernel");
}

void dequantize_kv_int8(DType dtype, const int8_t* q, const float* scale, int64_t rows, int64_t d,
                        int64_t n_head, int64_t scale_ld, void* out) {
  detail::require_dtype(dtype, "dequantize_kv_int8");
  detail::check(detail::launch_dequantize_kv_int8(dtype, q, scale, rows, d, n_head, scale_ld, out,
                                                  detail::stream()),
                "dequantize_kv_int8 kernel");
}

}  // namespace hark::backends::cuda
