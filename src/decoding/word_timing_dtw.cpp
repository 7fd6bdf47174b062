#include "decoding/word_timing_dtw.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/error.h"

namespace hark::decoding {
namespace {

// Sorts NaN above every number, as torch.sort does.
bool nan_last_less(float a, float b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a < b;
}

void median_row(const float* in, int64_t n, int width, float* out, std::vector<float>& window) {
  const int64_t pad = width / 2;
  auto reflect = [n](int64_t i) { return i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i); };
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < width; ++k) window[size_t(k)] = in[reflect(i - pad + k)];
    std::nth_element(window.begin(), window.begin() + pad, window.end(), nan_last_less);
    out[i] = window[size_t(pad)];
  }
}

// Trace codes, as timing.py's: 0 diagonal, 1 up (previous row), 2 left (previous column).
enum : uint8_t { kDiagonal = 0, kUp = 1, kLeft = 2 };

}  // namespace

Tensor median_filter(const Tensor& x, int width) {
  HARK_CHECK(width > 0 && width % 2 == 1, ErrorKind::kInvalidArgument,
             "median filter width must be a positive odd number, got {}", width);
  HARK_CHECK(x.dtype() == DType::kF32 && x.ndim() >= 1, ErrorKind::kInvalidArgument,
             "median_filter needs an f32 tensor of rank >= 1, got {} {}", dtype_name(x.dtype()),
             shape_str(x.shape()));
  Tensor out = x.clone();
  const int64_t n = x.dim(-1);
  if (n <= width / 2 || n == 0) return out;
  const int64_t rows = x.numel() / n;
  std::vector<float> window(static_cast<size_t>(width));
  for (int64_t r = 0; r < rows; ++r) {
    median_row(x.data<float>() + r * n, n, width, out.data<float>() + r * n, window);
  }
  return out;
}

DtwPath dtw(const Tensor& cost) {
  HARK_CHECK(cost.dtype() == DType::kF32 && cost.ndim() == 2 && cost.dim(0) > 0 && cost.dim(1) > 0,
             ErrorKind::kInvalidArgument,
             "dtw needs an f32 [N, M] matrix with N, M >= 1, got {} {}", dtype_name(cost.dtype()),
             shape_str(cost.shape()));
  const int64_t n = cost.dim(0), m = cost.dim(1), stride = m + 1;
  const float* x = cost.data<float>();
  std::vector<float> acc(size_t((n + 1) * stride), std::numeric_limits<float>::infinity());
  std::vector<uint8_t> trace(size_t((n + 1) * stride), kLeft);
  acc[0] = 0;
  for (int64_t j = 1; j <= m; ++j) {
    for (int64_t i = 1; i <= n; ++i) {
      const float c0 = acc[size_t((i - 1) * stride + j - 1)];
      const float c1 = acc[size_t((i - 1) * stride + j)];
      const float c2 = acc[size_t(i * stride + j - 1)];
      float c = c2;
      uint8_t t = kLeft;
      if (c0 < c1 && c0 < c2) {
        c = c0, t = kDiagonal;
      } else if (c1 < c0 && c1 < c2) {
        c = c1, t = kUp;
      }
      // float64 sum rounded to float32, as the reference stores into its float32 cost array.
      acc[size_t(i * stride + j)] = float(double(x[(i - 1) * m + (j - 1)]) + double(c));
      trace[size_t(i * stride + j)] = t;
    }
  }
  for (int64_t j = 0; j <= m; ++j) trace[size_t(j)] = kLeft;
  for (int64_t i = 1; i <= n; ++i) trace[size_t(i * stride)] = kUp;

  DtwPath path;
  int64_t i = n, j = m;
  while (i > 0 || j > 0) {
    path.text_indices.push_back(int(i - 1));
    path.time_indices.push_back(int(j - 1));
    const uint8_t t = trace[size_t(i * stride + j)];
    if (t == kDiagonal) {
      --i, --j;
    } else if (t == kUp) {
      --i;
    } else {
      --j;
    }
  }
  std::reverse(path.text_indices.begin(), path.text_indices.end());
  std::reverse(path.time_indices.begin(), path.time_indices.end());
  return path;
}

}  // namespace hark::decoding
