// The CPU kernels behind hark::ops: fp32, row-major, raw pointers and sizes. The ops layer has
// checked shapes, dtypes and devices before calling here, so kernels check nothing. Outputs are
// fully overwritten; nothing is allocated for the caller. Threading uses OpenMP with the count set
// by set_num_threads; GEMMs come from OpenBLAS (its OpenMP build runs single-threaded when called
// inside one of our parallel regions, so the two never oversubscribe the cores).
#pragma once

#include <cstdint>

namespace hark::backends::cpu {

// y[M, N] = x[M, K] · w[N, K]^T (+ bias[N]); bias may be null.
void linear(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t n,
            int64_t k);

// y[M, N] = x[M, K] · (q[N, K] * scale[N])^T (+ bias[N]): int8 weights, fp32 activations and
// accumulation; bias may be null.
void linear_int8(const float* x, const int8_t* q, const float* scale, const float* bias, float* y,
                 int64_t m, int64_t n, int64_t k);

// w / scale rounded to nearest (ties to even) and clamped to [-127, 127]; 0 when scale is 0.
int8_t quantize_int8_value(float w, float scale);
// Per row r of w[N, K]: scale[r] = max_k |w[r, k]| / 127, q[r, k] = quantize_int8_value(w[r, k],
// scale[r]). Weights must be finite.
void quantize_int8_rows(const float* w, int64_t n, int64_t k, int8_t* q, float* scale);

// Per row of x[M, D]: (x - mean) / sqrt(var + eps) * gamma + beta. y may alias x.
void layer_norm(const float* x, const float* gamma, const float* beta, float eps, float* y,
                int64_t m, int64_t d);

// Per row: x += h (+ bias[D]; bias may be null), then y = LayerNorm(x) as layer_norm. y may alias
// x; h never.
void add_layer_norm(float* x, const float* h, const float* bias, const float* gamma,
                    const float* beta, float eps, float* y, int64_t m, int64_t d);

// x[i] = x[i] * Phi(x[i]), the exact (erf) GELU.
void gelu(float* x, int64_t n);

// x[r, c] = gelu(x[r, c] + bias[c]) for x[M, D].
void bias_gelu(float* x, const float* bias, int64_t m, int64_t d);

// x[i] += y[i].
void add(float* x, const float* y, int64_t n);

// x[r, :] += row[:] for each of the M rows of x[M, D].
void add_rows(float* x, const float* row, int64_t m, int64_t d);

// Softmax over each row of x[M, N], in place. -inf entries get probability 0.
void softmax(float* x, int64_t m, int64_t n);

struct Conv1dDims {
  int64_t c_in, t_in, c_out, kernel;
  int stride, pad;
  int64_t t_out;  // (t_in + 2*pad - kernel) / stride + 1
};
// y[C_out, T_out] = conv1d(x[C_in, T_in], w[C_out, C_in, K]) + b[C_out], zero padded.
void conv1d(const float* x, const float* w, const float* b, const Conv1dDims& d, float* y);

struct Conv1dPatchDims {
  int64_t batch, channels, t_in, kernel, stride, pad, t_out;
  bool channel_major;  // x [B, C, T_in], else [B, T_in, C]
};
// ops::conv1d_patches: out [B * t_out, C * kernel].
void conv1d_patches(const float* x, const Conv1dPatchDims& d, float* out);

// y[C, R] = x[R, C]^T.
void transpose(const float* x, float* y, int64_t r, int64_t c);

struct AttentionDims {
  int64_t tq, tk, n_head, head_dim;
  int64_t causal_offset;  // < 0: no mask; else query i sees keys j <= i + causal_offset
  // Row strides (in floats) of q, k, v and out; heads sit side by side within a row, so the
  // strides are at least n_head * head_dim (larger when q/k/v are column slices of a fused QKV).
  int64_t ldq, ldk, ldv, ldo;
};
// out = softmax(q·k^T / sqrt(head_dim), masked) · v per head; weights [H, Tq, Tk] or null.
void attention(const float* q, const float* k, const float* v, const AttentionDims& d, float* out,
               float* weights);

struct AttentionRowsDims {
  int64_t rows, n_head, head_dim;
  int64_t ldq, ldkv, ldo;  // row strides of q, of every K/V matrix, of out
  int64_t ld_scale = 0;    // int8 K/V: row stride of every [n_head, ld_scale] scale matrix
};
// Row r of q attends rows [0, n_keys[r]) of k_rows[r] / v_rows[r] (ops::attention_rows).
void attention_rows(const float* q, const float* const* k_rows, const float* const* v_rows,
                    const int* n_keys, const AttentionRowsDims& d, float* out);
// The same over int8 K/V: key j of row r, head h is k_rows[r][j * ldkv + h * head_dim + e] *
// k_scales[r][h * ld_scale + j] (head-major scales; values likewise); fp32 math.
void attention_rows_int8(const float* q, const int8_t* const* k_rows, const int8_t* const* v_rows,
                         const float* const* k_scales, const float* const* v_scales,
                         const int* n_keys, const AttentionRowsDims& d, float* out);

// out[r, :] = table[ids[r], :] + pos_table[positions[r], :] for out [rows, d].
void embed_rows(const float* table, const float* pos_table, const int* ids, const int* positions,
                int64_t rows, int64_t d, float* out);

// Index of the largest value of each row of x [rows, n], skipping `exclude`; ties: lowest index.
void argmax_rows(const float* x, int64_t rows, int64_t n, int exclude, int* out);

// The x86 vector ISA our own loops are compiled for (GEMMs are OpenBLAS's own business).
// Every level is built in; the best the CPU supports is used unless HARK_CPU_ISA (baseline, avx2,
// avx512) or set_isa asks for a lower one. set_isa clamps to what the CPU supports and returns
// the level now in use; tests use it to check every level against the same references.
enum class Isa { kBaseline, kAvx2, kAvx512 };
Isa best_isa();
Isa set_isa(Isa isa);

// Threads for our parallel loops and for OpenBLAS (n <= 0: all cores).
void set_num_threads(int n);
int num_threads();

}  // namespace hark::backends::cpu
