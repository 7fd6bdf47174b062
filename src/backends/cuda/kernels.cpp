// The entry points of kernels.h: check the dtype, enqueue the launchers of the .cu files on the
// backend's stream and turn their status into hark::Error; the GEMMs (linear, conv1d) go through
// cublasGemmEx with fp32 accumulation (CUBLAS_COMPUTE_32F: no TF32 for fp32 tensors, tensor cores
// for fp16/bf16) and add the bias in a separate broadcast kernel. cuBLASLt with the bias in the
// epilogue is the next step.
//
// cuBLAS is column-major; a row-major [r, c] matrix is a column-major [c, r] one. So
// y[m, n] = x[m, k] · w[n, k]^T becomes y^T[n, m] = (w^T)^T[n, k] · x^T[k, m]: op(A) = T on w
// (lda k), op(B) = N on x (ldb k), ldc n.
#include "backends/cuda/kernels.h"

#include <cublas_v2.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "backends/cuda/check.h"
#include "backends/cuda/gemm_lt.h"
#include "backends/cuda/launch.h"

namespace hark::backends::cuda {

namespace detail {

void require_dtype(DType dtype, const char* op) {
  if (!supports_dtype(dtype))
    throw_error(ErrorKind::kUnsupported, "{}: no CUDA kernel for {} tensors", op,
                dtype_name(dtype));
}

int sm_count() {
  static const int n = [] {
    int dev = 0, count = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      (void)cudaGetLastError();
      return 132;
    }
    return count;
  }();
  return n;
}

}  // namespace detail

using detail::require_dtype;
using detail::sm_count;

namespace {

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::kF16: return CUDA_R_16F;
    case DType::kBF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

// Column-major C[m, n] = op(A) · op(B), all of `dtype`, fp32 accumulation.
void gemm(DType dtype, cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n,
          int64_t k, const void* a, int64_t lda, const void* b, int64_t ldb, void* c, int64_t ldc,
          const char* what) {
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = cuda_type(dtype);
  detail::check(
      cublasGemmEx(detail::cublas(), op_a, op_b, int(m), int(n), int(k), &alpha, a, t, int(lda), b,
                   t, int(ldb), &beta, c, t, int(ldc), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      what);
}

// A device copy of a small host array, valid for work queued on the stream after this call (the
// caching allocator hands the block out again only to later work on the same stream).
Tensor upload_bytes(const void* host, size_t bytes, const char* what) {
  Tensor t = Tensor::empty_on(Device::kCuda, DType::kU8, {int64_t(std::max<size_t>(bytes, 1))});
  if (bytes)
    detail::check(
        cudaMemcpyAsync(t.data<void>(), host, bytes, cudaMemcpyHostToDevice, detail::stream()),
        what);
  return t;
}

void zero(void* p, int64_t elements, DType dtype, const char* what) {
  detail::check(cudaMemsetAsync(p, 0, size_t(elements) * dtype_size(dtype), detail::stream()),
                what);
}

}  // namespace

bool supports_dtype(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

void linear(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
            int64_t n, int64_t k, bool gelu) {
  require_dtype(dtype, "linear");
  if (m == 0 || n == 0) return;
  const bool half = dtype != DType::kF32;
  if (k == 0) {
    zero(y, m * n, dtype, "linear: cudaMemsetAsync");
  } else if (half && m <= kDirectRows) {
    // Few rows (a decoder step): one pass over the weights with the bias (and GELU), one launch.
    RowsFusion f;
    f.out = gelu ? kRowsGelu : kRowsStore;
    detail::check(detail::launch_linear_rows_fused(dtype, x, w, nullptr, bias, y, m, n, k, f,
                                                   detail::stream()),
                  "linear: rows kernel");
    return;
  } else if (half && (bias || gelu) && detail::gemm_bias_lt(dtype, x, w, bias, y, m, n, k, gelu)) {
    return;  // the bias (and GELU) in cuBLASLt's epilogue
  } else {
    gemm(dtype, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, w, k, x, k, y, n, "linear: cublasGemmEx");
  }
  if (gelu && bias)
    detail::check(detail::launch_bias_gelu(dtype, y, bias, m, n, detail::stream()),
                  "linear: bias + GELU kernel");
  else if (gelu)
    detail::check(detail::launch_gelu(dtype, y, m * n, detail::stream()), "linear: GELU kernel");
  else if (bias)
    detail::check(detail::launch_add_rows(dtype, y, bias, m, n, detail::stream()),
                  "linear: bias kernel");
}

void linear_fused(DType dtype, const void* x, const void* w, const float* scale, const void* bias,
                  void* y, int64_t m, int64_t n, int64_t k, const RowsFusion& f) {
  require_dtype(dtype, "linear_fused");
  detail::check(
      detail::launch_linear_rows_fused(dtype, x, w, scale, bias, y, m, n, k, f, detail::stream()),
      "linear_fused: rows kernel");
}

// The dequantised weight of linear_int8's many-row path: one device block, grown to the largest
// weight seen and never freed (a grown-out block is kept too), so that a warm call allocates
// nothing and a CUDA graph recorded with it stays valid. Holding `mu` from the dequantisation
// to the GEMM's launch keeps one call's pair together on the stream when threads share it.
// Never destroyed: device memory must not be released after the allocator at exit.
namespace {
struct Int8Scratch {
  std::mutex mu;
  std::vector<Tensor> blocks;  // the last one is in use

  void* get(size_t bytes) {
    if (blocks.empty() || blocks.back().nbytes() < bytes)
      blocks.push_back(Tensor::empty_on(Device::kCuda, DType::kU8, {int64_t(bytes)}));
    return blocks.back().data<void>();
  }
};
Int8Scratch& int8_scratch() {
  static Int8Scratch* s = new Int8Scratch;
  return *s;
}
}  // namespace

void linear_int8(DType dtype, const void* x, const int8_t* q, const float* scale, const void* bias,
                 void* y, int64_t m, int64_t n, int64_t k, bool gelu) {
  require_dtype(dtype, "linear_int8");
  if (m == 0 || n == 0) return;
  if (m <= kInt8DirectRows) {  // k == 0 included: the kernel stores bias (or 0), GELU'd
    RowsFusion f;
    f.out = gelu ? kRowsGelu : kRowsStore;
    detail::check(
        detail::launch_linear_rows_fused(dtype, x, q, scale, bias, y, m, n, k, f, detail::stream()),
        "linear_int8 kernel");
    return;
  }
  if (k == 0) {
    linear(dtype, x, nullptr, bias, y, m, n, k, gelu);
    return;
  }
  Int8Scratch& scratch = int8_scratch();
  std::lock_guard lock(scratch.mu);
  void* w = scratch.get(size_t(n * k) * dtype_size(dtype));
  detail::check(detail::launch_dequantize_int8(dtype, q, scale, w, n, k, detail::stream()),
                "linear_int8: dequantize kernel");
  linear(dtype, x, w, bias, y, m, n, k, gelu);
}

void layer_norm(DType dtype, const void* x, const void* gamma, const void* beta, float eps, void* y,
                int64_t rows, int64_t d) {
  require_dtype(dtype, "layer_norm");
  detail::check(detail::launch_layer_norm(dtype, x, gamma, beta, eps, y, rows, d, detail::stream()),
                "layer_norm kernel");
}

void add_layer_norm(DType dtype, void* x, const void* h, const void* bias, const void* gamma,
                    const void* beta, float eps, void* y, int64_t rows, int64_t d) {
  require_dtype(dtype, "add_layer_norm");
  detail::check(detail::launch_add_layer_norm(dtype, x, h, bias, gamma, beta, eps, y, rows, d,
                                              detail::stream()),
                "add_layer_norm kernel");
}

void bias_gelu(DType dtype, void* x, const void* bias, int64_t rows, int64_t d) {
  require_dtype(dtype, "bias_gelu_");
  detail::check(detail::launch_bias_gelu(dtype, x, bias, rows, d, detail::stream()),
                "bias_gelu kernel");
}

void copy_columns(DType dtype, const void* src, int64_t rows, int64_t cols, int64_t col, int64_t w,
                  void* dst) {
  require_dtype(dtype, "copy_columns");
  if (rows == 0 || w == 0) return;
  const size_t es = dtype_size(dtype);
  detail::check(cudaMemcpy2DAsync(dst, size_t(w) * es, static_cast<const char*>(src) + col * es,
                                  size_t(cols) * es, size_t(w) * es, size_t(rows),
                                  cudaMemcpyDeviceToDevice, detail::stream()),
                "copy_columns: cudaMemcpy2DAsync");
}

void gelu(DType dtype, void* x, int64_t n) {
  require_dtype(dtype, "gelu_");
  detail::check(detail::launch_gelu(dtype, x, n, detail::stream()), "gelu kernel");
}

void add(DType dtype, void* x, const void* y, int64_t n) {
  require_dtype(dtype, "add_");
  detail::check(detail::launch_add(dtype, x, y, n, detail::stream()), "add kernel");
}

void add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d) {
  require_dtype(dtype, "add_rows_");
  detail::check(detail::launch_add_rows(dtype, x, row, rows, d, detail::stream()),
                "add_rows kernel");
}

void softmax(DType dtype, void* x, int64_t rows, int64_t n) {
  require_dtype(dtype, "softmax_");
  detail::check(detail::launch_softmax(dtype, x, rows, n, detail::stream()), "softmax kernel");
}

void transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols) {
  require_dtype(dtype, "transpose");
  detail::check(detail::launch_transpose(dtype, x, y, rows, cols, detail::stream()),
                "transpose kernel");
}

void conv1d(DType dtype, const void* x, const void* w, const void* b, const Conv1dDims& d,
            void* y) {
  require_dtype(dtype, "conv1d");
  const int64_t ck = d.c_in * d.kernel;
  if (d.c_out == 0 || d.t_out == 0) return;
  if (ck == 0) {
    zero(y, d.c_out * d.t_out, dtype, "conv1d: cudaMemsetAsync");
  } else {
    // Released at the end of this call; the caching allocator hands it out again only to work
    // queued after the GEMM on the same stream.
    Tensor col = Tensor::empty_on(Device::kCuda, dtype, {ck, d.t_out});
    detail::check(detail::launch_im2col(dtype, x, d, col.data<void>(), detail::stream()),
                  "conv1d: im2col kernel");
    // Row-major y[c_out, t_out] = w[c_out, ck] · col[ck, t_out], i.e. column-major
    // y^T[t_out, c_out] = col^T[t_out, ck] · w^T[ck, c_out]: both operands untransposed.
    gemm(dtype, CUBLAS_OP_N, CUBLAS_OP_N, d.t_out, d.c_out, ck, col.raw(), d.t_out, w, ck, y,
         d.t_out, "conv1d: cublasGemmEx");
  }
  detail::check(detail::launch_add_channel_bias(dtype, y, b, d.c_out, d.t_out, detail::stream()),
                "conv1d: bias kernel");
}

void conv1d_patches(DType dtype, const void* x, const Conv1dPatchDims& d, void* out) {
  require_dtype(dtype, "conv1d_patches");
  detail::check(detail::launch_conv1d_patches(dtype, x, d, out, detail::stream()),
                "conv1d_patches kernel");
}

void attention(DType dtype, const void* q, const void* k, const void* v, const AttentionDims& d,
               void* out, void* weights) {
  require_dtype(dtype, "attention");
  detail::check(detail::launch_attention(dtype, q, k, v, d, out, weights, detail::stream()),
                "attention kernel");
}

void attention_batched(DType dtype, const void* q, const void* k, const void* v,
                       const FlashAttentionDims& d, void* out) {
  require_dtype(dtype, "attention");
  const cudaError_t err = detail::launch_flash_attention(dtype, q, k, v, d, out, detail::stream());
  if (err == cudaSuccess) return;
  if (err != cudaErrorNotSupported) detail::check(err, "flash attention kernel");
  const size_t es = dtype_size(dtype);
  const auto* qb = static_cast<const char*>(q);
  const auto* kb = static_cast<const char*>(k);
  const auto* vb = static_cast<const char*>(v);
  auto* ob = static_cast<char*>(out);
  const AttentionDims one{d.tq, d.tk, d.n_head, d.head_dim, -1, d.ld_q, d.ld_k, d.ld_v, d.ld_out};
  for (int64_t b = 0; b < d.batch; ++b) {
    detail::check(detail::launch_attention(dtype, qb + b * d.bs_q * es, kb + b * d.bs_k * es,
                                           vb + b * d.bs_v * es, one, ob + b * d.bs_out * es,
                                           nullptr, detail::stream()),
                  "attention kernel");
  }
}

void attention_rows(DType dtype, const void* q, const void* const* k_rows,
                    const void* const* v_rows, const int* n_keys, const AttentionRowsDims& d,
                    void* out) {
  require_dtype(dtype, "attention_rows");
  if (d.rows == 0) return;
  const size_t n = size_t(d.rows);
  // One upload of int64s: [k addresses][v addresses][n_keys].
  std::vector<int64_t> host(3 * n);
  for (size_t r = 0; r < n; ++r) {
    host[r] = int64_t(reinterpret_cast<uintptr_t>(k_rows[r]));
    host[n + r] = int64_t(reinterpret_cast<uintptr_t>(v_rows[r]));
    host[2 * n + r] = n_keys[r];
  }
  const Tensor dev =
      upload_bytes(host.data(), host.size() * sizeof(int64_t), "attention_rows: upload");
  const int64_t* base = static_cast<const int64_t*>(dev.raw());
  const int max_keys = *std::max_element(n_keys, n_keys + n);
  const detail::AttentionRowsPlan plan = detail::plan_attention_rows(d, max_keys, sm_count());
  // The 16-byte-load kernel needs every K/V matrix to start on a 16-byte boundary (views made by
  // slicing a buffer at an odd row may not); otherwise the general kernel runs.
  bool aligned = true;
  for (size_t r = 0; r < n; ++r)
    aligned = aligned &&
              ((reinterpret_cast<uintptr_t>(k_rows[r]) | reinterpret_cast<uintptr_t>(v_rows[r])) &
               15u) == 0;
  Tensor part;
  if (plan.n_split > 1)
    part = Tensor::empty_on(Device::kCuda, DType::kF32,
                            {d.rows * d.n_head * plan.n_split * (d.head_dim + 2)});
  detail::check(detail::launch_attention_rows(
                    dtype, q, base, base + n, base + 2 * n, d, plan, aligned,
                    plan.n_split > 1 ? part.data<float>() : nullptr, out, detail::stream()),
                "attention_rows kernel");
}

int64_t attention_rows_workspace(const AttentionRowsDims& d, int max_keys) {
  const detail::AttentionRowsPlan plan = detail::plan_attention_rows(d, max_keys, sm_count());
  return plan.n_split > 1 ? d.rows * d.n_head * plan.n_split * (d.head_dim + 2) : 0;
}

void attention_rows_indexed(DType dtype, const void* q, const int64_t* k_addr,
                            const int64_t* v_addr, const int64_t* n_keys, int max_keys,
                            const AttentionRowsDims& d, float* workspace, void* out) {
  require_dtype(dtype, "attention_rows");
  if (d.rows == 0) return;
  const detail::AttentionRowsPlan plan = detail::plan_attention_rows(d, max_keys, sm_count());
  detail::check(
      detail::launch_attention_rows(dtype, q, k_addr, v_addr, n_keys, d, plan,
                                    /*rows_aligned16=*/true, plan.n_split > 1 ? workspace : nullptr,
                                    out, detail::stream()),
      "attention_rows kernel");
}

void embed_rows(DType dtype, const void* table, const void* pos_table, const int* ids,
                const int* positions, int64_t rows, int64_t d, void* out) {
  require_dtype(dtype, "embed_rows");
  if (rows == 0) return;
  std::vector<int64_t> pairs(size_t(2 * rows));
  for (int64_t r = 0; r < rows; ++r) {
    pairs[size_t(2 * r)] = ids[r];
    pairs[size_t(2 * r + 1)] = positions[r];
  }
  const Tensor dev =
      upload_bytes(pairs.data(), pairs.size() * sizeof(int64_t), "embed_rows: upload");
  embed_rows_indexed(dtype, table, pos_table, static_cast<const int64_t*>(dev.raw()), rows, d, out);
}

void embed_rows_indexed(DType dtype, const void* table, const void* pos_table,
                        const int64_t* ids_pos, int64_t rows, int64_t d, void* out) {
  require_dtype(dtype, "embed_rows");
  detail::check(
      detail::launch_embed_rows(dtype, table, pos_table, ids_pos, rows, d, out, detail::stream()),
      "embed_rows kernel");
}

void scatter_rows(DType dtype, const void* src, void* const* dst, const int* positions,
                  int64_t rows, int64_t d) {
  require_dtype(dtype, "scatter_rows");
  if (rows == 0) return;
  const size_t n = size_t(rows);
  std::vector<int64_t> host(2 * n);
  for (size_t r = 0; r < n; ++r) {
    host[r] = int64_t(reinterpret_cast<uintptr_t>(dst[r]));
    host[n + r] = positions[r];
  }
  const Tensor dev =
      upload_bytes(host.data(), host.size() * sizeof(int64_t), "scatter_rows: upload");
  const int64_t* base = static_cast<const int64_t*>(dev.raw());
  scatter_rows_indexed(dtype, src, base, base + n, rows, d);
}

void scatter_rows_indexed(DType dtype, const void* src, const int64_t* dst_addr,
                          const int64_t* positions, int64_t rows, int64_t d) {
  require_dtype(dtype, "scatter_rows");
  detail::check(
      detail::launch_scatter_rows(dtype, src, dst_addr, positions, rows, d, detail::stream()),
      "scatter_rows kernel");
}

void scatter_kv_rows_indexed(DType dtype, const void* kv, int64_t ld, const int64_t* k_addr,
                             const int64_t* v_addr, const int64_t* positions, int64_t rows,
                             int64_t d) {
  require_dtype(dtype, "scatter_kv_rows");
  detail::check(detail::launch_scatter_kv_rows(dtype, kv, ld, k_addr, v_addr, positions, rows, d,
                                               detail::stream()),
                "scatter_kv_rows kernel");
}

void gather_rows(DType dtype, const void* x, const int64_t* index, int64_t rows, int64_t d,
                 void* out) {
  require_dtype(dtype, "gather_rows");
  detail::check(detail::launch_gather_rows(dtype, x, index, rows, d, out, detail::stream()),
                "gather_rows kernel");
}

void argmax_rows_device(DType dtype, const void* x, int64_t rows, int64_t n, int exclude,
                        int* out) {
  require_dtype(dtype, "argmax_rows");
  if (rows == 0) return;
  // The splits' values and indices (the block goes back to the cache at once: the allocator
  // hands it out again only to work queued after this kernel on the stream).
  const int64_t parts = rows * detail::argmax_splits(n);
  Tensor ws = Tensor::empty_on(Device::kCuda, DType::kI32, {2 * parts});
  detail::check(detail::launch_argmax_rows(dtype, x, rows, n, exclude, ws.data<float>(),
                                           ws.data<int>() + parts, out, detail::stream()),
                "argmax_rows kernel");
}

void set_token_ids(const int* ids, int64_t rows, int64_t vocab, int64_t* ids_pos) {
  detail::check(detail::launch_set_token_ids(ids, rows, vocab, ids_pos, detail::stream()),
                "set_token_ids kernel");
}

void argmax_rows(DType dtype, const void* x, int64_t rows, int64_t n, int exclude, int* out) {
  require_dtype(dtype, "argmax_rows");
  if (rows == 0) return;
  Tensor dev = Tensor::empty_on(Device::kCuda, DType::kI32, {rows});
  int* result = dev.data<int>();
  argmax_rows_device(dtype, x, rows, n, exclude, result);
  // Through pinned memory: a copy to pageable memory is staged by the driver, slower for the
  // few bytes every decoder step waits for.
  static std::mutex mu;
  static int* pinned = nullptr;  // never freed: pinned memory outlives static tensors
  static int64_t pinned_rows = 0;
  std::lock_guard lock(mu);
  if (pinned_rows < rows) {
    if (pinned) (void)cudaFreeHost(pinned);
    pinned = nullptr;
    pinned_rows = 0;
    const int64_t want = std::max<int64_t>(rows, 1024);
    detail::check(cudaMallocHost(reinterpret_cast<void**>(&pinned), size_t(want) * sizeof(int)),
                  "argmax_rows: cudaMallocHost");
    pinned_rows = want;
  }
  detail::check(cudaMemcpyAsync(pinned, result, size_t(rows) * sizeof(int), cudaMemcpyDeviceToHost,
                                detail::stream()),
                "argmax_rows: download");
  detail::check(cudaStreamSynchronize(detail::stream()), "argmax_rows: synchronize");
  std::memcpy(out, pinned, size_t(rows) * sizeof(int));
}

}  // namespace hark::backends::cuda
