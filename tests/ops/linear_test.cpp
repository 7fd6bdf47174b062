#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

std::vector<double> linear_ref(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>* bias, int64_t m, int64_t n, int64_t k) {
  std::vector<double> y(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? (*bias)[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) s += double(x[i * k + p]) * w[j * k + p];
      y[i * n + j] = s;
    }
  return y;
}

class LinearTest : public OpTest {};
HARK_OP_TEST_SUITE(LinearTest);

TEST_P(LinearTest, MatchesReference) {
  struct Case {
    int64_t m, n, k;
  };
  for (const Case& s : {Case{1, 1, 1}, Case{1, 37, 65}, Case{1, 384, 384}, Case{3, 5, 7},
                        Case{4, 32, 64}, Case{17, 33, 129}, Case{64, 96, 200}, Case{130, 7, 3},
                        // CUDA 16-bit: up to 8 rows take the one-pass rows kernel (unrolled k
                        // loop, tails), 9 rows cuBLAS
                        Case{2, 130, 1280}, Case{8, 64, 520}, Case{5, 21, 1288}, Case{9, 40, 64}}) {
    for (bool with_bias : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "m=" << s.m << " n=" << s.n << " k=" << s.k << " bias=" << with_bias);
      const auto x = uniform(size_t(s.m * s.k)), w = uniform(size_t(s.n * s.k));
      const auto b = uniform(size_t(s.n));
      const Tensor tx = input(x, {s.m, s.k}), tw = input(w, {s.n, s.k}), tb = input(b, {s.n});
      Tensor y = output({s.m, s.n});
      ops::linear(tx, tw, with_bias ? &tb : nullptr, y);
      EXPECT_TRUE(close(y, linear_ref(x, w, with_bias ? &b : nullptr, s.m, s.n, s.k)));
    }
  }
}

TEST_P(LinearTest, FlattensLeadingDimensions) {
  const auto x = uniform(2 * 3 * 10), w = uniform(6 * 10), b = uniform(6);
  const Tensor tb = input(b, {6});
  Tensor y = output({2, 3, 6});
  ops::linear(input(x, {2, 3, 10}), input(w, {6, 10}), &tb, y);
  EXPECT_TRUE(close(y, linear_ref(x, w, &b, 6, 6, 10)));
}

TEST_P(LinearTest, EmptyBatchAndEmptyK) {
  const auto w = uniform(4 * 3), b = uniform(4);
  const Tensor tb = input(b, {4});
  Tensor y0 = output({0, 4});
  ops::linear(input({}, {0, 3}), input(w, {4, 3}), &tb, y0);
  Tensor y = output({2, 4});
  ops::linear(input({}, {2, 0}), input({}, {4, 0}), &tb, y);
  EXPECT_TRUE(close(y, {b[0], b[1], b[2], b[3], b[0], b[1], b[2], b[3]}));
}

TEST_P(LinearTest, MatmulNtIsLinearWithoutBias) {
  const auto x = uniform(5 * 24), w = uniform(51 * 24);
  Tensor y = output({5, 51});
  ops::matmul_nt(input(x, {5, 24}), input(w, {51, 24}), y);
  EXPECT_TRUE(close(y, linear_ref(x, w, nullptr, 5, 51, 24)));
}

TEST_P(LinearTest, SameResultOnOneAndAllThreads) {
  ThreadCountGuard guard;
  const auto x = uniform(300 * 96), w = uniform(200 * 96), b = uniform(200);
  const Tensor tx = input(x, {300, 96}), tw = input(w, {200, 96}), tb = input(b, {200});
  const auto ref = linear_ref(x, w, &b, 300, 200, 96);
  for (int threads : {1, 0}) {
    ops::set_num_threads(threads);
    Tensor y = output({300, 200});
    ops::linear(tx, tw, &tb, y);
    EXPECT_TRUE(close(y, ref)) << "threads " << threads;
  }
}

TEST_P(LinearTest, RejectsMismatchedShapes) {
  const Tensor x = input(uniform(4 * 64), {4, 64}), w = input(uniform(32 * 65), {32, 65});
  Tensor y = output({4, 32});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w, nullptr, y), ErrorKind::kInternal,
                       "linear: x [4,64] and w [32,65] disagree on K");
  const Tensor w_ok = input(uniform(32 * 64), {32, 64}), b = input(uniform(31), {31});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w_ok, &b, y), ErrorKind::kInternal, "bias [31]");
  Tensor y_bad = output({4, 33});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w_ok, nullptr, y_bad), ErrorKind::kInternal, "y [4,33]");
  HARK_EXPECT_OP_ERROR(ops::linear(x.reshape({256}), w_ok, nullptr, y), ErrorKind::kInternal,
                       "x [256]");
  Tensor alias = x;
  HARK_EXPECT_OP_ERROR(ops::linear(x, input(uniform(64 * 64), {64, 64}), nullptr, alias),
                       ErrorKind::kInternal, "share memory");
}

TEST_P(LinearTest, RejectsMixedAndUnsupportedDtypes) {
  if (bc().dtype != DType::kF32) GTEST_SKIP() << "mixes this case's dtype with F16";
  const Tensor x = input(uniform(4 * 8), {4, 8});
  Tensor y = output({4, 3});
  const Tensor w16 = Tensor::zeros(DType::kF16, {3, 8});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w16, nullptr, y), ErrorKind::kInternal, "w is F16");
  const Tensor x16 = Tensor::zeros(DType::kF16, {4, 8});
  Tensor y16 = Tensor::zeros(DType::kF16, {4, 3});
  HARK_EXPECT_OP_ERROR(ops::linear(x16, w16, nullptr, y16), ErrorKind::kUnsupported, "F16");
}

TEST_P(LinearTest, RejectsMixedDevices) {
  if (bc().backend == Backend::kCpu) GTEST_SKIP() << "needs a second device";
  const Tensor x = input(uniform(4 * 8), {4, 8});
  Tensor y = output({4, 3});
  const Tensor w_host = Tensor::zeros(bc().dtype, {3, 8});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w_host, nullptr, y), ErrorKind::kInternal, "w is on CPU");
}

}  // namespace
}  // namespace hark::ops_test
