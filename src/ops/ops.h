// The ops the Whisper model is built from. Each is declared once here with its contract; the
// definition checks shapes and dtypes once and dispatches to the backend of the tensors' device
// (src/backends/<device>/). All tensors are contiguous, row-major, all arguments of one op on one
// device and of one dtype: F32 on the CPU; F32, F16 or BF16 on CUDA (fp32 accumulation, results
// rounded to the dtype; CUDA calls are asynchronous, Tensor::to(kCpu) waits for them).
// Outputs are written into caller-provided tensors of the right shape (no allocation inside), and
// must not overlap the inputs unless the op says so.
// Errors: a shape, dtype or overlap mismatch between the arguments is a caller bug and throws
// hark::Error kInternal naming the op and the shapes; arguments that agree but have no kernel in
// this build (a dtype without a kernel on that device, a CUDA tensor in a build without CUDA)
// throw kUnsupported.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"

namespace hark::ops {

// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N])   -- PyTorch Linear layout. bias may be null.
// x may have more leading dimensions ([B, T, K] -> y [B, T, N]); they are flattened into M.
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);

// y[M, N] = x[M, K] · w[N, K]^T for the rows of x, i.e. logits against a tied embedding.
// Same as linear without bias; kept separate so backends may choose a different GEMM path.
inline void matmul_nt(const Tensor& x, const Tensor& w, Tensor& y) { linear(x, w, nullptr, y); }

// The weight of a linear layer as a model holds it: a float tensor of the activations' dtype, or
// int8 values with one fp32 scale per output channel (weight-only quantisation: the real weight is
// row n of w times scale[n]; activations, biases and accumulation stay float).
struct LinearWeight {
  Tensor w;      // [N, K]: the activations' dtype, or I8 in [-127, 127]
  Tensor scale;  // [N] F32 on w's device when w is I8; unused otherwise

  bool quantized() const { return w.dtype() == DType::kI8; }
  int64_t dim(int i) const { return w.dim(i); }
  size_t nbytes() const { return w.nbytes() + (quantized() ? scale.nbytes() : 0); }
};

// linear() over a LinearWeight. Float weights: exactly linear(x, w.w, bias, y). Int8 weights:
// y[M, N] = x[M, K] · (w[N, K] * scale[N])^T (+ bias[N]) with x, bias, y of one float dtype (F32
// on the CPU; F32, F16 or BF16 on CUDA) and fp32 accumulation. On CUDA, up to 16 rows read the
// int8 weights directly (decoder steps); more rows dequantise the weight into a scratch buffer of
// the activations' dtype (kept for the process, the size of the largest weight) and run the float
// GEMM (the encoder).
void linear(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y);

// y = gelu(x · w^T + bias), linear() then bias_gelu_() in one op (an MLP's first layer): the sum
// is not rounded before the GELU. CPU and CUDA F32, and CUDA decoder steps (up to kDirectRows
// rows): the exact (erf) GELU. CUDA F16/BF16 with more rows (the encoder, large decoder batches):
// cuBLASLt's bias + GELU epilogue, which computes the tanh approximation (as whisper.cpp's ggml
// GELU does; at most 4.7e-4 from the exact one, at x = -2.7), so that the [M, N] output is
// written once and not read back. docs/PERF.md has its measured effect on the transcripts.
void linear_gelu(const Tensor& x, const LinearWeight& w, const Tensor* bias, Tensor& y);

// A decoder step's linear over a few rows, fused with what is before and after it (one launch on
// CUDA, where the weights are read once for all rows; meant for up to 16 rows, any count works):
//   h = LayerNorm(x) with gamma/beta [K] and eps when gamma is given (statistics per row as
//       layer_norm; h is not rounded to the dtype), else x;
//   t = h · w^T + bias (bias [N] may be null; fp32, not rounded);
//   then by `out`: kStore y = t, kGelu y = gelu(t) (exact erf form), kAdd y += t (a residual: y
//   keeps its values and gets the rounded sum).
// With kv (kStore only): besides y, the K and V blocks of t (columns [N - 2D, N - D) and
// [N - D, N)) go into the caches exactly as scatter_kv_rows(y, kv->d, ...) would put them.
// x [M, K], y [M, N], both 2-D; y must not overlap x, w or the norm's weights.
enum class RowsOut { kStore, kGelu, kAdd };
struct RowsKvScatter {
  int64_t d;                // the width of the K and V blocks
  const Tensor* k_dst;      // I64 [M]: the address of row 0 of each row's [*, d] K cache
  const Tensor* v_dst;      // I64 [M]: likewise for V
  const Tensor* positions;  // I64 [M]: the cache row each row's K/V go to
};
void fused_linear(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps,
                  const LinearWeight& w, const Tensor* bias, Tensor& y, RowsOut out,
                  const RowsKvScatter* kv = nullptr);

// Symmetric per-output-channel int8 quantisation of w [N, K] (F32, on the CPU): scale[n] =
// max_k |w[n, k]| / 127 and q[n, k] = w[n, k] / scale[n] rounded to nearest, ties to even, clamped
// to [-127, 127]; a row of zeros gets scale 0 and q 0. Returns CPU tensors (move them with
// Tensor::to). A non-finite weight throws kInvalidArgument.
LinearWeight quantize_int8(const Tensor& w);

// y = LayerNorm(x) over the last dimension with gamma/beta [D]; x, y [M, D] (or [..., D]);
// y may be x itself. Statistics are computed in double (matches a double reference to ~1e-7).
void layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y);

// Residual add fused with the layer norm that follows it: x += h (+ bias[D]: the bias of the linear
// layer that made h, when it was left out there), then y = LayerNorm(x) over the last dimension
// (gamma/beta [D]), in one pass over the rows; x, h, y [M, D] (or [..., D]). x keeps the sum,
// rounded to its dtype, and the norm is taken of that rounded sum (add_ then layer_norm). y may
// be x itself (then only the normalised values remain); h and bias must not overlap x or y.
void add_layer_norm(Tensor& x, const Tensor& h, const Tensor& gamma, const Tensor& beta, float eps,
                    Tensor& y, const Tensor* bias = nullptr);

// x = gelu(x) = x * Phi(x), exact (erf) form, in place; any shape.
void gelu_(Tensor& x);

// x[r, :] = gelu(x[r, :] + bias[:]) for x [M, D] (or [..., D]), bias [D]: a linear layer's bias and
// the exact (erf) GELU in one pass (the sum is not rounded to the dtype before the GELU).
void bias_gelu_(Tensor& x, const Tensor& bias);

// x += y, elementwise, same shape; y may be x itself.
void add_(Tensor& x, const Tensor& y);

// x[r, :] += row[:] for every row r of x [M, D] (or [..., D]); row [D] or [1, D].
void add_rows_(Tensor& x, const Tensor& row_block);

// dst [R, W] = columns [col, col + W) of src [R, C]: a block of a fused projection (q | k | v)
// copied out into a contiguous tensor (one strided 2-D copy).
void copy_columns(const Tensor& src, int64_t col, Tensor& dst);

// 1-D convolution over time, zero padding `pad` on both sides:
//   x [C_in, T], w [C_out, C_in, K], b [C_out] -> y [C_out, T_out],
//   T_out = (T + 2*pad - K) / stride + 1.
void conv1d(const Tensor& x, const Tensor& w, const Tensor& b, int stride, int pad, Tensor& y);

// A 1-D convolution's input patches, time-major and tap-major, so that the convolution of B
// sequences is one linear / linear_gelu over their B * T_out rows with the weight [C_out, C, K]
// permuted to [C_out, K, C] and seen as [C_out, K * C], output [B * T_out, C_out] (time-major,
// bias and GELU in the GEMM's epilogue):
//   out[b * T_out + t, j * C + c] = x(b, c, t * stride + j - pad), zero outside [0, T),
// for x [B, C, T] (channel_major) or [B, T, C], out [B * T_out, C * K],
// T_out = (T + 2 * pad - K) / stride + 1.
void conv1d_patches(const Tensor& x, bool channel_major, int kernel, int stride, int pad,
                    Tensor& out);

// Transpose of a 2-D tensor: x [R, C] -> y [C, R].
void transpose(const Tensor& x, Tensor& y);

// Multi-head scaled dot-product attention, heads laid side by side in the last dimension:
//   q [Tq, H*Dh], k [Tk, H*Dh], v [Tk, H*Dh] -> out [Tq, H*Dh], scale 1/sqrt(Dh).
// causal_offset < 0: no mask. causal_offset >= 0: query i may attend keys j <= i + causal_offset
// (decoding with a KV cache of causal_offset earlier positions).
// q may be wider than out ([Tq, C], C >= H*Dh = out's width): the queries are the first H*Dh
// columns of each row, read in place (q of a fused q | k | v projection).
// If weights is non-null it receives the softmaxed attention [H, Tq, Tk] (word timing), with 0
// for masked keys; every row sums to 1. Tk >= 1.
void attention(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, int64_t causal_offset,
               Tensor& out, Tensor* weights = nullptr);

// Unmasked attention over B independent sequences (the encoder over a batch of windows):
//   q [B, Tq, H*Dh], k, v [B, Tk, H*Dh] -> out [B, Tq, H*Dh], scale 1/sqrt(Dh).
// On CUDA, F16/BF16 with Dh = 64 run the flash kernel (the scores never reach memory).
void attention_batched(const Tensor& q, const Tensor& k, const Tensor& v, int n_head, Tensor& out);
// The same over a fused projection: qkv [B, T, 3*H*Dh] holds q | k | v side by side in each row
// (one GEMM over the concatenated weights); they are read in place (row stride 3*H*Dh) ->
// out [B, T, H*Dh].
void attention_batched_qkv(const Tensor& qkv, int n_head, Tensor& out);

// The keys and values of attention_rows: for query row r, the K and V matrices it attends
// (keys[r], values[r]: [T_r, H*Dh], contiguous, on the op's device and dtype) and how many of
// their leading rows it sees (1 <= n_keys[r] <= T_r). Rows may share matrices.
struct KvRows {
  std::vector<const Tensor*> keys, values;
  std::vector<int> n_keys;
};
// Ragged attention for batched decoding: row r of q [R, H*Dh] attends its own keys and values
// (a sequence's self-attention cache, or its window's cross-attention K/V) -> out [R, H*Dh].
void attention_rows(const Tensor& q, const KvRows& kv, int n_head, Tensor& out);

// out[r, :] = table[ids[r], :] + pos_table[positions[r], :]: token + position embeddings of R
// rows; table [V, D], pos_table [P, D], out [R, D]. Ids and positions out of range throw
// kInvalidArgument.
void embed_rows(const Tensor& table, const Tensor& pos_table, std::span<const int> ids,
                std::span<const int> positions, Tensor& out);

// Row r of src [R, D] is written to row positions[r] of *dst[r] ([T_r, D]; distinct (dst,
// position) pairs): the new K/V rows of a batch of sequences into their caches.
void scatter_rows(const Tensor& src, std::span<Tensor* const> dst, std::span<const int> positions);

// Batched decoding with its per-row data in tensors on the ops' device rather than host arrays:
// the kernels read indices, lengths and K/V addresses from there, so their launches are the same
// every step and a whole decoder step can be recorded once and replayed (CUDA graphs). These
// overloads allocate nothing. Index tensors are I64 on the device of the other arguments; on the
// CPU the addresses are host pointers. The device does not check the values: the caller does
// (the CPU checks ranges it can see).

// The address of t's first element, as stored in an address tensor.
inline int64_t address_of(const Tensor& t) {
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(t.raw()));
}

// The keys and values of attention_rows by address: row r attends the first n_keys[r] rows of
// the [*, H*Dh] matrices (row stride H*Dh, 16-byte aligned start) at keys[r] / values[r].
// 1 <= n_keys[r] <= max_keys; the launch is sized for max_keys (e.g. the text context), never for
// the lengths of a given step.
// Int8 K/V (the cross-attention K/V of a window with ModelPlacement::int8_cross_kv): with
// k_scales / v_scales defined, keys[r] / values[r] address I8 [*, H*Dh] matrices and k_scales[r] /
// v_scales[r] their F32 [H, scale_ld] scales (16-byte aligned), head-major: one per (head, key
// position), each head's scales contiguous, so the attention reads a chunk of keys' scales with
// coalesced loads. The real key is k[j, h*Dh + e] * k_scale[h, j] (quantize_kv_int8); the math
// stays fp32. scale_ld (>= max_keys) is the same for every row and call of a recorded graph: the
// model uses n_audio_ctx.
struct KvTable {
  Tensor keys, values, n_keys;  // I64 [R] each
  int max_keys = 0;
  Tensor k_scales{}, v_scales{};  // I64 [R] each, or undefined (K/V in q's dtype)
  int64_t scale_ld = 0;           // int8: the row stride of the scale matrices, >= max_keys

  bool int8() const { return k_scales.defined(); }
};
// The F32 workspace elements attention_rows(q, KvTable) needs for q's rows, n_head and max_keys
// on q's device (0 on the CPU).
int64_t attention_rows_workspace(const Tensor& q, int n_head, int max_keys);
// attention_rows over a KvTable (float or int8 K/V); workspace: F32 with at least
// attention_rows_workspace(...) elements (any tensor when that is 0), on q's device. q may be wider
// than out ([R, C], C >= H*Dh = out's width): the queries are the first H*Dh columns of each row (a
// fused q | k | v).
void attention_rows(const Tensor& q, const KvTable& kv, int n_head, Tensor& out, Tensor& workspace);
// The K and V blocks of a fused projection kv [T, C] (columns [C - 2D, C - D) and [C - D, C), as
// scatter_kv_rows) as int8 with one fp32 scale per (row, head): for each row t and head h, over
// the head's Dh = D / n_head values x, scale[t, h] = max |x| / 127 and q = x / scale rounded to
// nearest (ties to even), clamped to [-127, 127] (a group of zeros: scale 0, q 0); the division
// and rounding are IEEE fp32 on every backend, so all give the same bits for the same input.
// kv: a float dtype; k, v: I8 [T, D]; k_scale, v_scale: F32 [n_head, S] (head-major, S >= T: the
// scale of row t, head h is at [h, t]; columns [T, S) are left as they are), all on kv's device.
// One launch on CUDA.
void quantize_kv_int8(const Tensor& kv, int n_head, Tensor& k, Tensor& k_scale, Tensor& v,
                      Tensor& v_scale);
// out[t, h*Dh + e] = q[t, h*Dh + e] * scale[h, t]: q I8 [T, D], scale F32 [n_head, S] with S >= T
// (quantize_kv_int8's layout), out a float dtype [T, D] on q's device (decode()'s attention over
// int8 cross K/V).
void dequantize_kv_int8(const Tensor& q, const Tensor& scale, int n_head, Tensor& out);
// embed_rows with ids_pos I64 [R, 2] (token id, position).
void embed_rows(const Tensor& table, const Tensor& pos_table, const Tensor& ids_pos, Tensor& out);
// scatter_rows with dst I64 [R] (addresses of [*, D] matrices) and positions I64 [R].
void scatter_rows(const Tensor& src, const Tensor& dst, const Tensor& positions);
// The K and V rows of a fused projection into the caches: for kv [R, C] with C >= 2*D, row r's
// columns [C - 2D, C - D) go to row positions[r] of the [*, D] matrix at k_dst[r] and columns
// [C - D, C) to the one at v_dst[r] (q | k | v with C = 3D, or k | v with C = 2D); one launch.
// k_dst, v_dst, positions: I64 [R].
void scatter_kv_rows(const Tensor& kv, int64_t d, const Tensor& k_dst, const Tensor& v_dst,
                     const Tensor& positions);
// out[i, :] = x[index[i], :] for x [R, D], index I64 [B], out [B, D].
void gather_rows(const Tensor& x, const Tensor& index, Tensor& out);
// dst (I64, numel == host.size(), any device) = host. On CUDA the copy is queued through pinned
// staging and the call returns without waiting; `host` may be reused at once.
void copy_from_host(std::span<const int64_t> host, Tensor& dst);

// The index of the largest value of each row of x [R, N], skipping column `exclude` (< 0: none);
// the lowest index wins ties. Waits for the device.
std::vector<int> argmax_rows(const Tensor& x, int exclude = -1);
// The same into out (I32 [R] on x's device), without waiting: a greedy decoder feeds it to the
// next step on the device (set_token_ids).
void argmax_rows(const Tensor& x, int exclude, Tensor& out);
// ids_pos[r, 0] = ids[r] for ids I32 [R] and ids_pos I64 [R, 2] (embed_rows' (token, position)
// pairs) on one device; an id outside [0, vocab) is written as 0 (the device cannot report it).
// Graph-safe: allocates and waits for nothing.
void set_token_ids(const Tensor& ids, int64_t vocab, Tensor& ids_pos);

// In-place softmax over the last dimension of x [M, N] (or [..., N]). -inf entries get
// probability 0 (a row of only -inf gives NaN).
void softmax_(Tensor& x);

// Whisper's log-mel (../shared/design/ORACLE.md): out [n_mels, (n + pad_samples) / 160] of
// pcm [n] (16 kHz mono) followed by pad_samples zeros, with filters [n_mels, 201]: reflect-padded
// centred STFT (n_fft 400, hop 160, periodic Hann; input shorter than the padding reflected back
// and forth over the padded length), power, the last frame dropped, filterbank,
// log10(max(x, 1e-10)), max(x, max(out) - 8), (x + 4) / 4. All F32 on one device. CPU: kissfft
// (kUnsupported in an engine-only build without it); CUDA: fp32 GEMMs for the DFT and the
// filterbank, the maximum kept on the device (the call does not wait). out may have 0 frames.
void log_mel(const Tensor& pcm, const Tensor& filters, int64_t pad_samples, Tensor& out);

// A window of a log-mel, zero-padded in the log-mel domain (OpenAI's pad_or_trim): window
// [n_mels, W] takes frames [seek, seek + size) of mel [n_mels, T] (those that exist, at most W),
// zeros after. seek >= 0, size >= 0. mel is F32; window is F32, or on CUDA also F16/BF16 (the
// model's dtype: converted on the way).
void mel_window(const Tensor& mel, int64_t seek, int64_t size, Tensor& window);

// Sets the number of threads the CPU backend uses, for its own loops and for OpenBLAS (0: all
// cores). Process-wide. The default is OpenMP's (OMP_NUM_THREADS, else all cores).
void set_num_threads(int n);
int num_threads();

}  // namespace hark::ops
