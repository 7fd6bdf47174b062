// The harness every op test is written against, once, whatever the backend: inputs are drawn on
// the host, uploaded to the backend under test, the op runs there, and the result is downloaded
// and compared with a double-precision reference computed by naive loops in the test itself.
// Each backend/dtype pair is a BackendCase with its own tolerance; a test suite declared with
// HARK_OP_TEST_SUITE runs on every case in backends(). CUDA cases (F32, F16, BF16) exist in builds
// with the CUDA backend and skip themselves when no device is present. For F16/BF16 cases the
// drawn inputs are rounded to the dtype before the test sees them, so the double reference uses
// exactly the values the kernel gets and the tolerance covers only the kernel's own rounding.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/tensor.h"

namespace hark::ops_test {

enum class Backend { kCpu, kCuda };

struct BackendCase {
  std::string name;  // the test name suffix, e.g. "cpu_avx2_f32"
  Backend backend;
  DType dtype;
  double tolerance;                                            // bound on ||got - ref|| / ||ref||
  backends::cpu::Isa cpu_isa = backends::cpu::Isa::kBaseline;  // kCpu: the vector ISA level
};

// gtest prints the case by name (not as bytes) in test listings and failures.
inline void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }

// Every backend/dtype this build can test on this machine (every CPU ISA level up to the best).
const std::vector<BackendCase>& backends();

// A tensor of bc's dtype on bc's device holding `host` (rounded to the dtype).
Tensor upload(const BackendCase& bc, const std::vector<float>& host, Shape shape);
// An output tensor whose every element is NaN, so an element the op forgot to write shows up.
Tensor poisoned(const BackendCase& bc, Shape shape);
// Any float tensor on any device, as host fp32 values.
std::vector<float> download(const Tensor& t);
// Rounds every value to the nearest one representable in `dtype` (F32: unchanged).
void round_to(DType dtype, std::vector<float>& values);
// The device bc runs on.
Device device_of(const BackendCase& bc);
// An I64 tensor holding `values` on bc's device (row indices, positions, device addresses).
Tensor upload_i64(const BackendCase& bc, const std::vector<int64_t>& values);

// References in double precision, shared by the op tests.
// One query row qi against n_keys keys/values of row stride heads * dh, heads side by side:
// softmax(q k^T / sqrt(dh)) v into out[heads * dh].
void attention_row_ref(const float* qi, const float* k, const float* v, int64_t n_keys,
                       int64_t heads, int64_t dh, double* out);
// Layer norm of each of the m rows of x [m, d] with gamma g and beta b.
std::vector<double> layer_norm_ref(const std::vector<double>& x, const std::vector<float>& g,
                                   const std::vector<float>& b, double eps, int64_t m, int64_t d);

// Passes when no element of got is NaN where ref is not, and ||got - ref|| / ||ref|| <= tol
// (an absolute bound when ref is all zeros).
::testing::AssertionResult close_to(const std::vector<float>& got, const std::vector<double>& ref,
                                    double tol);

class OpTest : public ::testing::TestWithParam<BackendCase> {
 protected:
  // Inputs are fresh each run; the seed is logged (and read from HARK_TEST_SEED if set) so that
  // a failure can be replayed.
  void SetUp() override;
  void TearDown() override;

  const BackendCase& bc() const { return GetParam(); }
  // Values uniform in [lo, hi], rounded to the case's dtype.
  std::vector<float> uniform(size_t n, float lo = -1.0f, float hi = 1.0f);
  // Rounds values computed by a test to the case's dtype.
  void representable(std::vector<float>& values) const { round_to(bc().dtype, values); }
  Tensor input(const std::vector<float>& host, Shape shape) { return upload(bc(), host, shape); }
  Tensor output(Shape shape) { return poisoned(bc(), std::move(shape)); }
  ::testing::AssertionResult close(const Tensor& got, const std::vector<double>& ref) {
    return close_to(download(got), ref, bc().tolerance);
  }

  std::mt19937_64 rng_;
  uint64_t seed_ = 0;
};

// Restores the backend thread count when a test that changes it ends.
class ThreadCountGuard {
 public:
  ThreadCountGuard();
  ~ThreadCountGuard();

 private:
  int saved_;
};

}  // namespace hark::ops_test

#define HARK_OP_TEST_SUITE(Fixture)                                                              \
  INSTANTIATE_TEST_SUITE_P(Backends, Fixture, ::testing::ValuesIn(::hark::ops_test::backends()), \
                           [](const auto& info) { return info.param.name; })

// Expects `stmt` to throw hark::Error of `kind` whose message contains `needle`.
#define HARK_EXPECT_OP_ERROR(stmt, expected_kind, needle)                           \
  do {                                                                              \
    try {                                                                           \
      stmt;                                                                         \
      ADD_FAILURE() << #stmt " did not throw";                                      \
    } catch (const ::hark::Error& e) {                                              \
      EXPECT_EQ(e.kind(), expected_kind) << e.what();                               \
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what(); \
    }                                                                               \
  } while (0)
