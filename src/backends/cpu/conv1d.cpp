// conv1d as im2col + one GEMM: cols[C_in*K, T_out] holds, for each input channel c and tap k,
// the input row shifted by k - pad and sampled every `stride` steps (zeros outside [0, T)); then
// y[C_out, T_out] = w[C_out, C_in*K] · cols, with the bias broadcast into y and beta = 1 as in
// linear. Whisper's two convolutions run once per 30 s window, so the im2col buffer (C_in*K*T_out
// floats: 23 MB for large-v3's second conv) is allocated per call.
#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "backends/cpu/kernels.h"
#include "backends/cpu/threads.h"

namespace hark::backends::cpu {

namespace {

// One row of cols: out[t] = x[t*stride + shift] where in range, else 0.
void im2col_row(const float* x, int64_t t_in, int64_t shift, int stride, float* out,
                int64_t t_out) {
  // Output steps [lo, hi) read inside x; lo = ceil(-shift / stride), hi = ceil((t_in - shift) /
  // stride), both clamped to [0, t_out].
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const int64_t lo = std::clamp<int64_t>(ceil_div(-shift, stride), 0, t_out);
  const int64_t hi = std::clamp<int64_t>(ceil_div(t_in - shift, stride), lo, t_out);
  std::fill(out, out + lo, 0.0f);
  if (stride == 1) {
    std::memcpy(out + lo, x + lo + shift, size_t(hi - lo) * sizeof(float));
  } else {
    for (int64_t t = lo; t < hi; ++t) out[t] = x[t * stride + shift];
  }
  std::fill(out + hi, out + t_out, 0.0f);
}

}  // namespace

void conv1d(const float* x, const float* w, const float* b, const Conv1dDims& d, float* y) {
  const int64_t rows = d.c_in * d.kernel;
  if (d.c_out == 0 || d.t_out == 0) return;
  std::unique_ptr<float[]> cols(new float[size_t(rows * d.t_out)]);
  const int nt = threads_for(rows * d.t_out, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / d.kernel, tap = r % d.kernel;
    im2col_row(x + c * d.t_in, d.t_in, tap - d.pad, d.stride, cols.get() + r * d.t_out, d.t_out);
  }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t o = 0; o < d.c_out; ++o) std::fill(y + o * d.t_out, y + (o + 1) * d.t_out, b[o]);
  if (rows == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(d.c_out), blasint(d.t_out),
              blasint(rows), 1.0f, w, blasint(rows), cols.get(), blasint(d.t_out), 1.0f, y,
              blasint(d.t_out));
}

void conv1d_patches(const float* x, const Conv1dPatchDims& d, float* out) {
  const int64_t width = d.channels * d.kernel, rows = d.batch * d.t_out;
  const int nt = threads_for(rows * width, int64_t(1) << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t b = row / d.t_out, t = row % d.t_out;
    float* o = out + row * width;
    for (int64_t j = 0; j < d.kernel; ++j) {
      const int64_t src = t * d.stride + j - d.pad;
      float* oj = o + j * d.channels;
      if (src < 0 || src >= d.t_in) {
        std::fill(oj, oj + d.channels, 0.0f);
      } else if (d.channel_major) {
        for (int64_t c = 0; c < d.channels; ++c) oj[c] = x[(b * d.channels + c) * d.t_in + src];
      } else {
        std::copy_n(x + (b * d.t_in + src) * d.channels, d.channels, oj);
      }
    }
  }
}

}  // namespace hark::backends::cpu
