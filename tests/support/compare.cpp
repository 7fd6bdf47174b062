#include "support/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hark::testing {

double rel_error(const Tensor& got, const Tensor& ref) {
  const Tensor a = got.to(Device::kCpu).to_f32(), b = ref.to(Device::kCpu).to_f32();
  if (a.numel() != b.numel()) return std::numeric_limits<double>::infinity();
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = double(a.data<float>()[i]) - double(b.data<float>()[i]);
    num += d * d;
    den += double(b.data<float>()[i]) * b.data<float>()[i];
  }
  return std::sqrt(num / den);
}

double top1_agreement(const Tensor& a, const Tensor& b) {
  const int64_t rows = a.dim(0), n = a.dim(1);
  int64_t same = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.data<float>() + r * n;
    const float* y = b.data<float>() + r * n;
    int64_t ax = 0, ay = 0;
    for (int64_t j = 1; j < n; ++j) {
      if (x[j] > x[ax]) ax = j;
      if (y[j] > y[ay]) ay = j;
    }
    same += ax == ay;
  }
  return rows ? double(same) / double(rows) : 1.0;
}

double top1_agreement_up_to_ties(const Tensor& a, const Tensor& b, double tol, double* worst) {
  const int64_t rows = a.dim(0), n = a.dim(1);
  int64_t same = 0;
  double worst_gap = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a.data<float>() + r * n;
    const float* y = b.data<float>() + r * n;
    int64_t ax = 0, ay = 0;
    double amax = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      if (x[j] > x[ax]) ax = j;
      if (y[j] > y[ay]) ay = j;
      amax = std::max(amax, double(std::fabs(y[j])));
    }
    const double gap = (double(y[ay]) - y[ax]) / std::max(amax, 1e-30);
    worst_gap = std::max(worst_gap, gap);
    same += gap <= tol;
  }
  if (worst) *worst = worst_gap;
  return rows ? double(same) / double(rows) : 1.0;
}

std::vector<int> token_ids(const Tensor& ids) {
  std::vector<int> out;
  out.reserve(size_t(ids.numel()));
  for (int64_t i = 0; i < ids.numel(); ++i)
    out.push_back(ids.dtype() == DType::kI64 ? int(ids.data<int64_t>()[i])
                                             : ids.data<int32_t>()[i]);
  return out;
}

}  // namespace hark::testing
