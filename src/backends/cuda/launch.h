// Private to src/backends/cuda: the kernel launchers the .cu files define and kernels.cpp calls.
// Each enqueues its kernels on `s` and returns the launch status (cudaErrorInvalidValue for a
// dtype other than F32/F16/BF16); pointers are device pointers of `dtype` elements, sizes are
// checked by src/ops before they get here.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/kernels.h"
#include "core/tensor.h"

namespace hark::backends::cuda::detail {

cudaError_t launch_gelu(DType dtype, void* x, int64_t n, cudaStream_t s);
// x[r, c] = gelu(x[r, c] + bias[c]) for x [rows, d].
cudaError_t launch_bias_gelu(DType dtype, void* x, const void* bias, int64_t rows, int64_t d,
                             cudaStream_t s);
cudaError_t launch_add(DType dtype, void* x, const void* y, int64_t n, cudaStream_t s);
// x[r, c] += row[c] for x [rows, d].
cudaError_t launch_add_rows(DType dtype, void* x, const void* row, int64_t rows, int64_t d,
                            cudaStream_t s);
// x[c, t] += bias[c] for x [channels, len].
cudaError_t launch_add_channel_bias(DType dtype, void* x, const void* bias, int64_t channels,
                                    int64_t len, cudaStream_t s);
// linear_int8 for any m, reading the int8 weights directly (one warp per output channel, up to 16
// rows per block); bias may be null.
cudaError_t launch_linear_int8_rows(DType dtype, const void* x, const int8_t* q, const float* scale,
                                    const void* bias, void* y, int64_t m, int64_t n, int64_t k,
                                    cudaStream_t s);
// linear_fused's kernel: the rows kernel below with f's prologue and epilogue (scale not null:
// w is int8).
cudaError_t launch_linear_rows_fused(DType dtype, const void* x, const void* w, const float* scale,
                                     const void* bias, void* y, int64_t m, int64_t n, int64_t k,
                                     const RowsFusion& f, cudaStream_t s);
// y[m, n] = x[m, k] · w[n, k]^T (+ bias) for m <= 16 rows, all of `dtype`, weights read once
// (one warp per output channel); bias may be null.
cudaError_t launch_linear_rows(DType dtype, const void* x, const void* w, const void* bias, void* y,
                               int64_t m, int64_t n, int64_t k, cudaStream_t s);
// w[r, c] = q[r, c] * scale[r] in `dtype`, for q [n, k].
cudaError_t launch_dequantize_int8(DType dtype, const int8_t* q, const float* scale, void* w,
                                   int64_t n, int64_t k, cudaStream_t s);
cudaError_t launch_layer_norm(DType dtype, const void* x, const void* gamma, const void* beta,
                              float eps, void* y, int64_t rows, int64_t d, cudaStream_t s);
cudaError_t launch_add_layer_norm(DType dtype, void* x, const void* h, const void* bias,
                                  const void* gamma, const void* beta, float eps, void* y,
                                  int64_t rows, int64_t d, cudaStream_t s);
cudaError_t launch_softmax(DType dtype, void* x, int64_t rows, int64_t n, cudaStream_t s);
cudaError_t launch_transpose(DType dtype, const void* x, void* y, int64_t rows, int64_t cols,
                             cudaStream_t s);
// col [c_in * kernel, t_out]: col[(ci * kernel + j) * t_out + t] = x[ci, t * stride - pad + j]
// (0 outside x).
cudaError_t launch_im2col(DType dtype, const void* x, const Conv1dDims& d, void* col,
                          cudaStream_t s);
// ops::conv1d_patches.
cudaError_t launch_conv1d_patches(DType dtype, const void* x, const Conv1dPatchDims& d, void* out,
                                  cudaStream_t s);
cudaError_t launch_attention(DType dtype, const void* q, const void* k, const void* v,
                             const AttentionDims& d, void* out, void* weights, cudaStream_t s);

// Returns cudaErrorNotSupported (launching nothing) when the flash kernel does not apply.
cudaError_t launch_flash_attention(DType dtype, const void* q, const void* k, const void* v,
                                   const FlashAttentionDims& d, void* out, cudaStream_t s);
// The sm_90a warpgroup-MMA form (flash_attention_sm90.cu), for launch_flash_attention once its
// checks passed: cudaErrorNotSupported (launching nothing) unless the build has sm_90a code, the
// device is compute capability 9.0 and HARK_FLASH is not "mma".
cudaError_t launch_flash_attention_sm90(DType dtype, const void* q, const void* k, const void* v,
                                        const FlashAttentionDims& d, void* out, cudaStream_t s);

struct AttentionRowsPlan {
  int n_split = 1;  // key splits per (row, head)
  int chunk = 0;    // keys per split, a multiple of 32
};
AttentionRowsPlan plan_attention_rows(const AttentionRowsDims& d, int max_keys, int sm_count);
// k_rows, v_rows (addresses of each row's K/V matrix), n_keys: int64 device arrays; part: device
// scratch of rows * n_head * n_split * (head_dim + 2) floats (unused with one split). With
// k_scales / v_scales (int64 device arrays of the addresses of fp32 scales [n_head, d.ld_scale],
// head-major) the K/V matrices are int8 (ops::KvTable), q and out of `dtype`.
cudaError_t launch_attention_rows(DType dtype, const void* q, const int64_t* k_rows,
                                  const int64_t* v_rows, const int64_t* n_keys,
                                  const AttentionRowsDims& d, const AttentionRowsPlan& plan,
                                  bool rows_aligned16, float* part, void* out, cudaStream_t s,
                                  const int64_t* k_scales = nullptr,
                                  const int64_t* v_scales = nullptr);
// kv [rows, ld] of `dtype`: columns [ld - 2d, ld - d) to k, [ld - d, ld) to v as int8 with one
// scale per (row, head) (ops::quantize_kv_int8); k, v [rows, d], scales [n_head, scale_ld]
// head-major (row t, head h at h * scale_ld + t; scale_ld >= rows).
cudaError_t launch_quantize_kv_int8(DType dtype, const void* kv, int64_t ld, int64_t rows,
                                    int64_t d, int64_t n_head, int8_t* k, float* k_scale, int8_t* v,
                                    float* v_scale, int64_t scale_ld, cudaStream_t s);
// out [rows, d] of `dtype` = q [rows, d] * scale [n_head, scale_ld] per head (head-major).
cudaError_t launch_dequantize_kv_int8(DType dtype, const int8_t* q, const float* scale,
                                      int64_t rows, int64_t d, int64_t n_head, int64_t scale_ld,
                                      void* out, cudaStream_t s);
// ids_pos: int64 device array of (id, position) pairs.
cudaError_t launch_embed_rows(DType dtype, const void* table, const void* pos_table,
                              const int64_t* ids_pos, int64_t rows, int64_t d, void* out,
                              cudaStream_t s);
// dst (addresses of [*, d] matrices), positions: int64 device arrays.
cudaError_t launch_scatter_rows(DType dtype, const void* src, const int64_t* dst,
                                const int64_t* positions, int64_t rows, int64_t d, cudaStream_t s);
// kv [rows, ld]: the last 2d columns of row r to k_addr[r] / v_addr[r] at positions[r].
cudaError_t launch_scatter_kv_rows(DType dtype, const void* kv, int64_t ld, const int64_t* k_addr,
                                   const int64_t* v_addr, const int64_t* positions, int64_t rows,
                                   int64_t d, cudaStream_t s);
// out[r, :] = x[index[r], :] for r < rows; index: int64 device array.
cudaError_t launch_gather_rows(DType dtype, const void* x, const int64_t* index, int64_t rows,
                               int64_t d, void* out, cudaStream_t s);
// The splits of a row of n columns launch_argmax_rows uses; part_v / part_i hold rows * splits.
int argmax_splits(int64_t n);
cudaError_t launch_argmax_rows(DType dtype, const void* x, int64_t rows, int64_t n, int exclude,
                               float* part_v, int* part_i, int* out, cudaStream_t s);
// ids_pos[2 r] = ids[r] when 0 <= ids[r] < vocab, else 0 (device arrays).
cudaError_t launch_set_token_ids(const int* ids, int64_t rows, int64_t vocab, int64_t* ids_pos,
                                 cudaStream_t s);

// The log-mel (mel.cu; orchestrated by mel.cpp around two cuBLAS GEMMs). Constants of Whisper's
// STFT and of its log compression.
constexpr int kMelNFft = 400, kMelHop = 160, kMelBins = kMelNFft / 2 + 1;
constexpr float kMelLogFloor = 1e-10f, kMelDynamicRange = 8.0f;
constexpr int kMelMaxPartials = 1024;  // most blocks of launch_log10_max
// basis [400, 402]: row n holds hann(n) * (cos, -sin)(2 pi k n / 400) for k = 0..200, interleaved.
cudaError_t launch_dft_basis(float* basis, cudaStream_t s);
// out [frames, 400]: out[f - f0, n] = the padded signal at f * 160 - 200 + n for frames
// [f0, f0 + frames): pcm [n_pcm] followed by zeros up to n_samples, reflected over n_samples.
cudaError_t launch_mel_frames(const float* pcm, int64_t n_pcm, int64_t n_samples, int64_t f0,
                              int64_t frames, float* out, cudaStream_t s);
// power [frames, 201] = re^2 + im^2 of spectrum [frames, 402] (interleaved re, im).
cudaError_t launch_power_spectrum(const float* spectrum, int64_t frames, float* power,
                                  cudaStream_t s);
// Blocks launch_log10_max uses for n elements (<= kMelMaxPartials): the partials it writes.
int log10_max_blocks(int64_t n);
// x = log10(max(x, 1e-10)) in place; partial_max[b] = the maximum block b saw.
cudaError_t launch_log10_max(float* x, int64_t n, float* partial_max, cudaStream_t s);
// x = (max(x, max(partial_max) - 8) + 4) / 4 in place.
cudaError_t launch_log_mel_finish(float* x, int64_t n, const float* partial_max, int partials,
                                  cudaStream_t s);
// window [rows, width] of `dtype` = columns [seek, seek + n) of mel [rows, total] fp32, zeros in
// columns [n, width); 0 <= n <= min(width, total - seek).
cudaError_t launch_mel_window(DType dtype, const float* mel, int64_t rows, int64_t total,
                              int64_t seek, int64_t n, int64_t width, void* window, cudaStream_t s);

}  // namespace hark::backends::cuda::detail
