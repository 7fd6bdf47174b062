// The CUDA kernels as src/ops calls them: plain C++, no CUDA headers. src/ops has checked shapes,
// dtypes (all arguments of one dtype) and overlaps; every pointer is a device pointer of `dtype`
// elements, contiguous and row-major as in ops.h. Each call enqueues work on the backend's stream
// and returns without waiting; results are visible to later calls and to Tensor::to(kCpu).
// F32, F16 and BF16 are supported (supports_dtype); accumulation is fp32 everywhere (fp32 GEMMs
// use no TF32). Errors (no device, out of memory, a failed launch) throw hark::Error.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace hark::backends::cuda {

bool supports_dtype(DType dtype);

// y[m, n] = x[m, k] · w[n, k]^T (+ bias[n]), then gelu(y) when `gelu`; bias may be null. m, n,
// k fit in int32. 16-bit tensors of up to kDirectRows rows (decoder steps) take a one-pass kernel
// that adds the bias (and applies the exact GELU); more rows of 16-bit tensors go through
// cuBLASLt with the bias (and GELU: cuBLASLt's tanh form, within 4.7e-4 of the exact one) in its
// epilogue; F32 (or no cuBLASLt algorithm) runs cuBLAS, then a bias / exact bias + GELU kernel.
constexpr int64_t kDirectRows = 8;
void linear(DType dtype, const void* x, const void* w, const void* bias, void* y, int64_t m,
            int64_t n, int64_t k, bool gelu = false);

// y[m, n] = x[m, k] · (q[n, k] * scale[n])^T (+ bias[n]): int8 weights with fp32 per-row scales,
// x / bias / y of `dtype`. Up to kInt8DirectRows rows read the int8 weights directly; more rows
// dequantise q into a scratch [n, k] of `dtype` (one block for the process, grown to the largest
// weight and never freed: graph-safe once warm) and run the GEMM.
constexpr int64_t kInt8DirectRows = 16;
void linear_int8(DType dtype, const void* x, const int8_t* q, const float* scale, const void* bias,
                 void* y, int64_t m, int64_t n, int64_t k, bool gelu = false);

// ops::fused_linear: y = epilogue(layer_norm?(x) · w^T + bias) for a decoder step's few rows, one
// launch. gamma/beta (of `dtype`, null: no norm) normalise each row of x as it is read (fp32, not
// rounded); out: kRowsStore y = t, kRowsGelu y = gelu(t), kRowsAdd y += t; k_addr (null: none)
// also writes columns [n - 2 kv_d, n - kv_d) of row r to row positions[r] of the [*, kv_d]
// matrix at address k_addr[r] and the last kv_d columns to the one at v_addr[r]. w is `dtype`,
// or int8 with fp32 per-row scales when scale is not null.
enum RowsOut : int { kRowsStore = 0, kRowsGelu = 1, kRowsAdd = 2 };
struct RowsFusion {
  const void* gamma = nullptr;
  const void* beta = nullptr;
  float eps = 0.0f;
  int out = kRowsStore;
  const int64_t* k_addr = nullptr;
  const int64_t* v_addr = nullptr;
  const int64_t* positions = nullptr;
  int64_t kv_d = 0;
};
void linear_fused(DType dtype, const void* x, const void* w, const float* scale, const void* bias,
                  void* y, int64_t m, int64_t n, int64_t k, const RowsFusion& f);

// Per row of x [rows, d]: two-pass fp32 mean and variance, y = (x - mean) / sqrt(var + eps) *
// gamma + beta. y may be x.
void layer_norm(DType dtype, const void* x, const void* gamma, const void* beta, float eps, void* y,
                int64_t rows, int64_t d);

// x += h (+ bias[d], may be null), then y = layer_norm(x) per row (the rounded sum's
// statistics); y may be x, h never.
void add_layer_norm(DType dtype, void* x, const void* h, const void* bias, const void* gamma,
                    const void* beta, float eps, void* y, int64_t rows, int64_t d);

void gelu(DType dtype, void* x, int64_t n);  // exact erf form, in place
// x[r, c] = gelu(x[r, c] + bias[c]) for x [rows, d], in place, one pass.
void bias_gelu(DType dtype, void* x, const void* bias, int64_t rows, int64_t d);
// dst [rows, w] = columns [col, col + w) of src [rows, cols] (one strided device copy).
void copy_columns(DType dtype, const void* src, int64_t rows, int64_t cols, int64_t col, int64_t w,
                  void* dst);
void add(DType dtype, void* x, const void* y, int64_t n);  // x += y; y may be x
void add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d);
void softmax(DType dtype, void* x, int64_t rows, int64_t n);  // over each row, in place
void transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols);

struct Conv1dDims {
  int64_t c_in, t_in, c_out, kernel, stride, pad, t_out;
};
// y [c_out, t_out] = w [c_out, c_in * kernel] · im2col(x) + b, through a temporary column buffer
// of c_in * kernel * t_out elements from the caching allocator.
void conv1d(DType dtype, const void* x, const void* w, const void* b, const Conv1dDims& d, void* y);

struct Conv1dPatchDims {
  int64_t batch, channels, t_in, kernel, stride, pad, t_out;
  bool channel_major;  // x [B, C, T_in], else [B, T_in, C]
};
// ops::conv1d_patches: out [B * t_out, C * kernel].
void conv1d_patches(DType dtype, const void* x, const Conv1dPatchDims& d, void* out);

struct AttentionDims {
  int64_t tq, tk, n_head, head_dim;
  int64_t causal_offset;             // < 0: no mask, else query i sees keys j <= i + causal_offset
  int64_t ld_q, ld_k, ld_v, ld_out;  // row strides in elements
};
// ops::attention's contract; weights (may be null) is [n_head, tq, tk].
void attention(DType dtype, const void* q, const void* k, const void* v, const AttentionDims& d,
               void* out, void* weights);

// `batch` independent unmasked attentions; entry b starts at q + b * bs_q (etc., in elements).
struct FlashAttentionDims {
  int64_t batch, tq, tk, n_head, head_dim;
  int64_t ld_q, ld_k, ld_v, ld_out;  // row strides
  int64_t bs_q, bs_k, bs_v, bs_out;  // batch strides
};
// The flash kernel (flash_attention.cu) where it applies (F16/BF16, head_dim 64, aligned), else
// the general kernel once per batch entry.
void attention_batched(DType dtype, const void* q, const void* k, const void* v,
                       const FlashAttentionDims& d, void* out);

struct AttentionRowsDims {
  int64_t rows, n_head, head_dim;
  int64_t ld_q, ld_kv, ld_out;  // row strides of q, of every K/V matrix, of out
  int64_t ld_scale = 0;         // int8 K/V: row stride of every [n_head, ld_scale] scale matrix
};
// ops::attention_rows: row r of q attends rows [0, n_keys[r]) (n_keys[r] >= 1) of k_rows[r] /
// v_rows[r] (device pointers). The three arrays are host arrays of `rows` entries; they are
// uploaded here.
void attention_rows(DType dtype, const void* q, const void* const* k_rows,
                    const void* const* v_rows, const int* n_keys, const AttentionRowsDims& d,
                    void* out);

// The same with int64 device arrays (ops::KvTable): k_addr / v_addr hold the addresses of
// 16-byte-aligned K/V matrices, n_keys[r] in [1, max_keys]. The launch shape depends on rows,
// heads and max_keys only, so the call can be recorded in a CUDA graph and replayed for other
// lengths and caches. workspace: attention_rows_workspace(d, max_keys) floats (may be null when
// that is 0). Allocates nothing.
void attention_rows_indexed(DType dtype, const void* q, const int64_t* k_addr,
                            const int64_t* v_addr, const int64_t* n_keys, int max_keys,
                            const AttentionRowsDims& d, float* workspace, void* out);
int64_t attention_rows_workspace(const AttentionRowsDims& d, int max_keys);
// attention_rows_indexed over int8 K/V (kv_int8.cpp): k_addr / v_addr address I8 matrices,
// k_scale_addr / v_scale_addr their F32 [n_head, d.ld_scale] head-major scales (ops::KvTable,
// d.ld_scale >= max_keys); q and out of `dtype`. Same plan and workspace as the float call;
// graph-safe.
void attention_rows_indexed_int8(DType dtype, const void* q, const int64_t* k_addr,
                                 const int64_t* v_addr, const int64_t* k_scale_addr,
                                 const int64_t* v_scale_addr, const int64_t* n_keys, int max_keys,
                                 const AttentionRowsDims& d, float* workspace, void* out);
// ops::quantize_kv_int8: kv [rows, ld] of `dtype` (K and V: its last 2d columns) -> k, v I8
// [rows, d] and k_scale, v_scale F32 [n_head, scale_ld] (head-major, scale_ld >= rows). One
// launch.
void quantize_kv_int8(DType dtype, const void* kv, int64_t ld, int64_t rows, int64_t d,
                      int64_t n_head, int8_t* k, float* k_scale, int8_t* v, float* v_scale,
                      int64_t scale_ld);
// ops::dequantize_kv_int8: out [rows, d] of `dtype` = q * scale per head, scale F32
// [n_head, scale_ld] head-major (scale_ld >= rows).
void dequantize_kv_int8(DType dtype, const int8_t* q, const float* scale, int64_t rows, int64_t d,
                        int64_t n_head, int64_t scale_ld, void* out);

// out[r, :] = table[ids[r], :] + pos_table[positions[r], :] (host index arrays).
void embed_rows(DType dtype, const void* table, const void* pos_table, const int* ids,
                const int* positions, int64_t rows, int64_t d, void* out);
// dst[r][positions[r] * d + c] = src[r * d + c] (host arrays of device row pointers/positions).
void scatter_rows(DType dtype, const void* src, void* const* dst, const int* positions,
                  int64_t rows, int64_t d);
// The same two with int64 device arrays: ids_pos [rows, 2] (id, position); dst_addr (addresses
// of [*, d] matrices) and positions [rows]. Nothing is checked or allocated (graph-safe).
void embed_rows_indexed(DType dtype, const void* table, const void* pos_table,
                        const int64_t* ids_pos, int64_t rows, int64_t d, void* out);
void scatter_rows_indexed(DType dtype, const void* src, const int64_t* dst_addr,
                          const int64_t* positions, int64_t rows, int64_t d);
// Row r of kv [rows, ld]: columns [ld - 2d, ld - d) to row positions[r] of the [*, d] matrix at
// k_addr[r], columns [ld - d, ld) to the one at v_addr[r] (int64 device arrays). Graph-safe.
void scatter_kv_rows_indexed(DType dtype, const void* kv, int64_t ld, const int64_t* k_addr,
                             const int64_t* v_addr, const int64_t* positions, int64_t rows,
                             int64_t d);
// out[r, :] = x[index[r], :] for r < rows (index: int64 device array). Graph-safe.
void gather_rows(DType dtype, const void* x, const int64_t* index, int64_t rows, int64_t d,
                 void* out);
// Copies `bytes` of host memory to device memory on the stream without waiting for it, staged
// through a small ring of pinned buffers (each reused only after its previous copy has run):
// `src` may be changed as soon as this returns. Not inside a graph capture (kInternal).
void upload_async(void* dst, const void* src, size_t bytes);
// out[r] = argmax over j != exclude of x[r, j] (lowest index on ties); out is a host array.
// Waits for the stream.
void argmax_rows(DType dtype, const void* x, int64_t rows, int64_t n, int exclude, int* out);
// The same into `out`, an int32 device array of `rows`; does not wait.
void argmax_rows_device(DType dtype, const void* x, int64_t rows, int64_t n, int exclude, int* out);
// ids_pos[2 r] = ids[r] in [0, vocab), else 0, for r < rows (device arrays). Graph-safe.
void set_token_ids(const int* ids, int64_t rows, int64_t vocab, int64_t* ids_pos);

// ops::log_mel: out [n_mels, (n_pcm + pad) / 160] fp32 = Whisper's log-mel of pcm [n_pcm] fp32
// followed by `pad` zeros, with filters [n_mels, 201] fp32 (at least one frame; the frame count
// fits in int32). The DFT and the filterbank are fp32 cuBLAS GEMMs (CUBLAS_COMPUTE_32F_PEDANTIC:
// no TF32 whatever the handle's math mode), over chunks of frames so that the scratch stays at
// ~32 MiB for any length; the global maximum stays on the device. Does not wait.
void log_mel(const float* pcm, int64_t n_pcm, int64_t pad, const float* filters, int64_t n_mels,
             float* out);
// ops::mel_window: window [rows, width] of `dtype` = columns [seek, seek + n) of mel [rows, total]
// fp32, zeros after; 0 <= n <= min(width, total - seek).
void mel_window(DType dtype, const float* mel, int64_t rows, int64_t total, int64_t seek, int64_t n,
                int64_t width, void* window);

}  // namespace hark::backends::cuda
