// The row kernels of batched decoding on the CPU: ragged attention (each query row against its own
// keys; serial per (row, head), parallel across them), the embedding gather and the argmax.
// Decoding attends one or a few query rows per sequence, so plain loops beat GEMM set-up here.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/rows.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

// One (row, head) item: softmax(q k^T * scale) v over n keys. Float K/V: k_scale / v_scale null;
// int8 K/V: key j is k[j * ldkv + e] * k_scale[j] (the item's head row of the scales).
template <typename KV>
void attention_item(const float* qi, const KV* k, const KV* v, const float* k_scale,
                    const float* v_scale, int64_t n, const AttentionRowsDims& d, float scale,
                    std::vector<float>& p, float* o) {
  const int64_t dh = d.head_dim;
  p.resize(size_t(n));
  for (int64_t j = 0; j < n; ++j) {
    const KV* kj = k + j * d.ldkv;
    float dot = 0.0f;
    for (int64_t e = 0; e < dh; ++e) dot += qi[e] * float(kj[e]);
    if (k_scale) dot *= k_scale[j];
    p[size_t(j)] = dot * scale;
  }
  softmax_row(p.data(), n);
  std::fill(o, o + dh, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float w = v_scale ? p[size_t(j)] * v_scale[j] : p[size_t(j)];
    const KV* vj = v + j * d.ldkv;
    for (int64_t e = 0; e < dh; ++e) o[e] += w * float(vj[e]);
  }
}

template <typename KV>
void attention_rows_impl(const float* q, const KV* const* k_rows, const KV* const* v_rows,
                         const float* const* k_scales, const float* const* v_scales,
                         const int* n_keys, const AttentionRowsDims& d, float* out) {
  const int64_t items = d.rows * d.n_head, dh = d.head_dim;
  const float scale = float(1.0 / std::sqrt(double(dh)));
  const int nt = num_threads();
#pragma omp parallel num_threads(nt) if (nt > 1 && items > 1)
  {
    std::vector<float> p;
#pragma omp for schedule(dynamic, 4)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t r = it / d.n_head, h = it % d.n_head;
      attention_item(q + r * d.ldq + h * dh, k_rows[r] + h * dh, v_rows[r] + h * dh,
                     k_scales ? k_scales[r] + h * d.ld_scale : nullptr,
                     v_scales ? v_scales[r] + h * d.ld_scale : nullptr, n_keys[r], d, scale, p,
                     out + r * d.ldo + h * dh);
    }
  }
}

}  // namespace

void attention_rows(const float* q, const float* const* k_rows, const float* const* v_rows,
                    const int* n_keys, const AttentionRowsDims& d, float* out) {
  attention_rows_impl<float>(q, k_rows, v_rows, nullptr, nullptr, n_keys, d, out);
}

void attention_rows_int8(const float* q, const int8_t* const* k_rows, const int8_t* const* v_rows,
                         const float* const* k_scales, const float* const* v_scales,
                         const int* n_keys, const AttentionRowsDims& d, float* out) {
  attention_rows_impl<int8_t>(q, k_rows, v_rows, k_scales, v_scales, n_keys, d, out);
}

void embed_rows(const float* table, const float* pos_table, const int* ids, const int* positions,
                int64_t rows, int64_t d, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* e = table + int64_t(ids[r]) * d;
    const float* p = pos_table + int64_t(positions[r]) * d;
    float* o = out + r * d;
    for (int64_t c = 0; c < d; ++c) o[c] = e[c] + p[c];
  }
}

void argmax_rows(const float* x, int64_t rows, int64_t n, int exclude, int* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * n;
    int best = -1;
    for (int64_t j = 0; j < n; ++j) {
      if (j == exclude || std::isnan(row[j])) continue;
      if (best < 0 || row[j] > row[best]) best = int(j);
    }
    out[r] = best < 0 ? 0 : best;
  }
}

}  // namespace hark::backends::cpu
