// attention: the work is cut into (head, block of queries) items. For each item the scores
// P = scale * Q_h · K_h^T are one GEMM on strided head slices (lda = the row stride, so no head is
// ever copied out), softmax runs row by row over the unmasked keys, and out_h = P · V_h is a
// second GEMM; a single query (a decoder step) uses GEMVs. Items run in parallel over OpenMP
// threads, and OpenBLAS, seeing it is inside a parallel region, runs each GEMM single-threaded.
//
// Memory: a block of queries is sized so that its scores (block x Tk floats, ~1 MiB) stay in L2,
// so the encoder's Tq = Tk = 1500 never needs H*1500*1500 floats; when the caller asks for the
// weights, the scores are computed in place in that output instead. Smaller blocks make the
// GEMMs too thin (Dh = 64 is already a short K): 64-row blocks ran 20% slower than 160.
// Without weights the scores go to a per-thread scratch buffer kept between calls (<= 1 MiB).
// Causal masking also trims work: keys past the last one any query of the block may see are
// skipped by both GEMMs.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backends/cpu/kernels.h"
#include "backends/cpu/rows.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

constexpr int64_t kScoreFloats = 256 * 1024;  // 1 MiB: measured flat from 0.75 to 2 MiB

int64_t query_block(int64_t tq, int64_t tk) {
  const int64_t fit = std::max<int64_t>(kScoreFloats / std::max<int64_t>(tk, 1), 1);
  const int64_t block = fit >= 32 ? fit / 16 * 16 : fit;  // whole GEMM register tiles
  return std::clamp<int64_t>(block, 1, std::min<int64_t>(tq, 256));
}

struct Item {
  int64_t head, q0, rows;
};

// Keys [0, n) visible to query `qi` (0 <= qi < tq).
int64_t visible_keys(const AttentionDims& d, int64_t qi) {
  return d.causal_offset < 0 ? d.tk : std::min(d.tk, qi + d.causal_offset + 1);
}

// Scores of the item's queries against keys [0, n_keys), scaled, into p (row stride ldp).
void scores(const float* q, const float* k, const AttentionDims& d, const Item& it, int64_t n_keys,
            float scale, float* p, int64_t ldp) {
  const float* qh = q + it.q0 * d.ldq + it.head * d.head_dim;
  const float* kh = k + it.head * d.head_dim;
  if (it.rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(n_keys), blasint(d.head_dim), scale, kh,
                blasint(d.ldk), qh, 1, 0.0f, p, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(it.rows), blasint(n_keys),
                blasint(d.head_dim), scale, qh, blasint(d.ldq), kh, blasint(d.ldk), 0.0f, p,
                blasint(ldp));
  }
}

// out_h = P · V_h over keys [0, n_keys).
void weighted_values(const float* p, int64_t ldp, const float* v, const AttentionDims& d,
                     const Item& it, int64_t n_keys, float* out) {
  const float* vh = v + it.head * d.head_dim;
  float* oh = out + it.q0 * d.ldo + it.head * d.head_dim;
  if (it.rows == 1) {
    cblas_sgemv(CblasRowMajor, CblasTrans, blasint(n_keys), blasint(d.head_dim), 1.0f, vh,
                blasint(d.ldv), p, 1, 0.0f, oh, 1);
  } else {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(it.rows), blasint(d.head_dim),
                blasint(n_keys), 1.0f, p, blasint(ldp), vh, blasint(d.ldv), 0.0f, oh,
                blasint(d.ldo));
  }
}

void run_item(const float* q, const float* k, const float* v, const AttentionDims& d,
              const Item& it, float scale, float* out, float* weights) {
  const int64_t n_keys = visible_keys(d, it.q0 + it.rows - 1);
  float* p;
  int64_t ldp;
  if (weights) {
    p = weights + (it.head * d.tq + it.q0) * d.tk;
    ldp = d.tk;
  } else {
    thread_local std::vector<float> scratch;
    if (scratch.size() < size_t(it.rows * n_keys)) scratch.resize(size_t(it.rows * n_keys));
    p = scratch.data();
    ldp = n_keys;
  }
  scores(q, k, d, it, n_keys, scale, p, ldp);
  for (int64_t i = 0; i < it.rows; ++i) {
    float* row = p + i * ldp;
    const int64_t n = visible_keys(d, it.q0 + i);
    softmax_row(row, n);
    std::fill(row + n, row + (weights ? d.tk : n_keys), 0.0f);
  }
  weighted_values(p, ldp, v, d, it, n_keys, out);
}

}  // namespace

void attention(const float* q, const float* k, const float* v, const AttentionDims& d, float* out,
               float* weights) {
  if (d.tq == 0 || d.n_head == 0 || d.head_dim == 0) return;
  const float scale = float(1.0 / std::sqrt(double(d.head_dim)));
  const int64_t block = query_block(d.tq, d.tk);
  const int64_t n_blocks = (d.tq + block - 1) / block;
  const int64_t n_items = d.n_head * n_blocks;
  const int64_t macs = d.n_head * d.tq * d.tk * d.head_dim;
  const int nt = std::min<int64_t>(threads_for(macs, int64_t(1) << 17), n_items);
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
  for (int64_t i = 0; i < n_items; ++i) {
    const int64_t q0 = (i % n_blocks) * block;
    const Item it{i / n_blocks, q0, std::min(block, d.tq - q0)};
    run_item(q, k, v, d, it, scale, out, weights);
  }
}

}  // namespace hark::backends::cpu
