#include "ops/op_harness.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/half.h"
#include "ops/ops.h"
#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::ops_test {

const std::vector<BackendCase>& backends() {
  using backends::cpu::Isa;
  static const std::vector<BackendCase> cases = [] {
    std::vector<BackendCase> all;
    for (const auto& [isa, name] : {std::pair{Isa::kAvx512, "cpu_avx512_f32"},
                                    {Isa::kAvx2, "cpu_avx2_f32"},
                                    {Isa::kBaseline, "cpu_baseline_f32"}})
      if (isa <= backends::cpu::best_isa())
        all.push_back({name, Backend::kCpu, DType::kF32, 1e-5, isa});
#ifdef HARK_HAVE_CUDA
    all.push_back({"cuda_f32", Backend::kCuda, DType::kF32, 1e-5});
    all.push_back({"cuda_f16", Backend::kCuda, DType::kF16, 1e-2});
    all.push_back({"cuda_bf16", Backend::kCuda, DType::kBF16, 1e-2});
#endif
    return all;
  }();
  return cases;
}

Tensor upload(const BackendCase& bc, const std::vector<float>& host, Shape shape) {
  Tensor t = Tensor::zeros(DType::kF32, std::move(shape));
  if (size_t(t.numel()) != host.size())
    throw_error(ErrorKind::kInternal, "upload: {} values for shape {}", host.size(),
                shape_str(t.shape()));
  if (!host.empty()) std::memcpy(t.data<float>(), host.data(), t.nbytes());
  if (bc.dtype != DType::kF32) t = t.to_dtype(bc.dtype);
  switch (bc.backend) {
    case Backend::kCpu: return t;
    case Backend::kCuda: return t.to(Device::kCuda);
  }
  return t;
}

Tensor poisoned(const BackendCase& bc, Shape shape) {
  const int64_t n = Tensor::zeros(DType::kF32, shape).numel();
  return upload(bc, std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN()),
                std::move(shape));
}

std::vector<float> download(const Tensor& t) {
  const Tensor f = t.to(Device::kCpu).to_f32();
  std::vector<float> host(size_t(f.numel()));
  if (!host.empty()) std::memcpy(host.data(), f.data<float>(), host.size() * sizeof(float));
  return host;
}

void round_to(DType dtype, std::vector<float>& values) {
  switch (dtype) {
    case DType::kF16:
      for (float& v : values) v = half_to_float(float_to_half(v));
      break;
    case DType::kBF16:
      for (float& v : values) v = bf16_to_float(float_to_bf16(v));
      break;
    default: break;
  }
}

::testing::AssertionResult close_to(const std::vector<float>& got, const std::vector<double>& ref,
                                    double tol) {
  if (got.size() != ref.size())
    return ::testing::AssertionFailure() << got.size() << " values, expected " << ref.size();
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) && !std::isnan(ref[i]))
      return ::testing::AssertionFailure()
             << "element " << i << " is NaN (not written?), ref " << ref[i];
    const double d = double(got[i]) - ref[i];
    diff += d * d;
    norm += ref[i] * ref[i];
  }
  const double err = norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  if (err <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "||got - ref|| / ||ref|| = " << err << " > " << tol
                                       << " over " << got.size() << " values";
}

void OpTest::SetUp() {
  if (bc().backend == Backend::kCpu) backends::cpu::set_isa(bc().cpu_isa);
  if (bc().backend == Backend::kCuda) {
#ifdef HARK_HAVE_CUDA
    if (!backends::cuda::available()) GTEST_SKIP() << "no CUDA device";
#else
    GTEST_SKIP() << "built without CUDA";
#endif
  }
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("HARK_TEST_SEED"); s && *s) seed = std::strtoull(s, nullptr, 10);
  seed_ = seed;
  RecordProperty("seed", std::to_string(seed));
  rng_.seed(seed);
}

void OpTest::TearDown() {
  backends::cpu::set_isa(backends::cpu::best_isa());
  if (HasFailure())
    ADD_FAILURE() << "inputs drawn with seed " << seed_ << ": replay with HARK_TEST_SEED=" << seed_;
}

std::vector<float> OpTest::uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng_);
  representable(v);
  return v;
}

Device device_of(const BackendCase& bc) {
  return bc.backend == Backend::kCuda ? Device::kCuda : Device::kCpu;
}

Tensor upload_i64(const BackendCase& bc, const std::vector<int64_t>& values) {
  Tensor t = Tensor::zeros(DType::kI64, {int64_t(values.size())});
  std::copy(values.begin(), values.end(), t.data<int64_t>());
  return t.to(device_of(bc));
}

void attention_row_ref(const float* qi, const float* k, const float* v, int64_t n_keys,
                       int64_t heads, int64_t dh, double* out) {
  const int64_t d = heads * dh;
  std::vector<double> p(static_cast<size_t>(n_keys));
  for (int64_t h = 0; h < heads; ++h) {
    double mx = -INFINITY, sum = 0.0;
    for (int64_t j = 0; j < n_keys; ++j) {
      double dot = 0.0;
      for (int64_t e = 0; e < dh; ++e) dot += double(qi[h * dh + e]) * k[j * d + h * dh + e];
      p[size_t(j)] = dot / std::sqrt(double(dh));
      mx = std::max(mx, p[size_t(j)]);
    }
    for (auto& x : p) sum += (x = std::exp(x - mx));
    for (int64_t e = 0; e < dh; ++e) {
      double acc = 0.0;
      for (int64_t j = 0; j < n_keys; ++j) acc += p[size_t(j)] * v[j * d + h * dh + e];
      out[h * dh + e] = acc / sum;
    }
  }
}

std::vector<double> layer_norm_ref(const std::vector<double>& x, const std::vector<float>& g,
                                   const std::vector<float>& b, double eps, int64_t m, int64_t d) {
  std::vector<double> y(x.size(), 0.0);
  for (int64_t r = 0; r < m; ++r) {
    const double* row = x.data() + r * d;
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < d; ++i) mean += row[i];
    mean /= double(d);
    for (int64_t i = 0; i < d; ++i) var += (row[i] - mean) * (row[i] - mean);
    var /= double(d);
    for (int64_t i = 0; i < d; ++i)
      y[size_t(r * d + i)] = (row[i] - mean) / std::sqrt(var + eps) * g[size_t(i)] + b[size_t(i)];
  }
  return y;
}

ThreadCountGuard::ThreadCountGuard() : saved_(ops::num_threads()) {}
ThreadCountGuard::~ThreadCountGuard() { ops::set_num_threads(saved_); }

}  // namespace hark::ops_test
