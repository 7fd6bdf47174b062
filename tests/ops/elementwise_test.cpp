#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class ElementwiseTest : public OpTest {};
HARK_OP_TEST_SUITE(ElementwiseTest);

// Sizes around the 16-lane vectors and above the parallel threshold.
constexpr int64_t kSizes[] = {1, 15, 16, 17, 1000, 100003};

TEST_P(ElementwiseTest, GeluMatchesErfForm) {
  for (int64_t n : kSizes) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto x = uniform(size_t(n), -8.0f, 8.0f);
    std::vector<double> ref(x.size());
    for (size_t i = 0; i < x.size(); ++i)
      ref[i] = 0.5 * x[i] * std::erfc(-double(x[i]) / std::sqrt(2.0));
    // The best a kernel can return is the reference rounded to the dtype: for one value near -8,
    // gelu (~1e-15) is 0 in fp16, and a relative bound over one value would demand more.
    std::vector<float> rounded(ref.begin(), ref.end());
    representable(rounded);
    ref.assign(rounded.begin(), rounded.end());
    Tensor t = input(x, {n});
    ops::gelu_(t);
    EXPECT_TRUE(close(t, ref));
  }
}

TEST_P(ElementwiseTest, GeluTails) {
  if (bc().dtype != DType::kF32) GTEST_SKIP() << "the tails are fp32 values";
  const std::vector<float> x{-30.0f, -12.0f, -5.0f, -1e-20f, 0.0f, 1e-20f, 5.0f, 12.0f, 1e30f};
  Tensor t = input(x, {int64_t(x.size())});
  ops::gelu_(t);
  const auto got = download(t);
  for (size_t i = 0; i < x.size(); ++i) {
    const double ref = 0.5 * x[i] * std::erfc(-double(x[i]) / std::sqrt(2.0));
    EXPECT_NEAR(got[i], ref, 1e-6 * std::fabs(ref) + 1e-30) << "x=" << x[i];
  }
}

TEST_P(ElementwiseTest, AddMatchesReference) {
  for (int64_t n : kSizes) {
    SCOPED_TRACE(testing::Message() << "n=" << n);
    const auto x = uniform(size_t(n)), y = uniform(size_t(n));
    std::vector<double> ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) ref[i] = double(x[i]) + y[i];
    Tensor t = input(x, {n});
    ops::add_(t, input(y, {n}));
    EXPECT_TRUE(close(t, ref));
  }
}

TEST_P(ElementwiseTest, AddToItself) {
  const auto x = uniform(37);
  std::vector<double> ref(x.begin(), x.end());
  for (double& v : ref) v *= 2.0;
  Tensor t = input(x, {37});
  ops::add_(t, t);
  EXPECT_TRUE(close(t, ref));
}

TEST_P(ElementwiseTest, AddRowsMatchesReference) {
  struct Case {
    int64_t m, d;
  };
  for (const Case& s : {Case{1, 1}, Case{3, 17}, Case{1500, 384}, Case{7, 64}}) {
    SCOPED_TRACE(testing::Message() << "m=" << s.m << " d=" << s.d);
    const auto x = uniform(size_t(s.m * s.d)), row = uniform(size_t(s.d));
    std::vector<double> ref(x.size());
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t i = 0; i < s.d; ++i) ref[r * s.d + i] = double(x[r * s.d + i]) + row[i];
    Tensor t = input(x, {s.m, s.d});
    ops::add_rows_(t, input(row, {s.d}));
    EXPECT_TRUE(close(t, ref));
    Tensor t2 = input(x, {s.m, s.d});
    ops::add_rows_(t2, input(row, {1, s.d}));
    EXPECT_TRUE(close(t2, ref));
  }
}

TEST_P(ElementwiseTest, RejectsMismatchedShapes) {
  Tensor x = input(uniform(12), {3, 4});
  HARK_EXPECT_OP_ERROR(ops::add_(x, input(uniform(12), {4, 3})), ErrorKind::kInternal,
                       "add_: x [3,4] and y [4,3]");
  HARK_EXPECT_OP_ERROR(ops::add_rows_(x, input(uniform(3), {3})), ErrorKind::kInternal,
                       "add_rows_: row [3]");
  HARK_EXPECT_OP_ERROR(ops::add_rows_(x, input(uniform(8), {2, 4})), ErrorKind::kInternal,
                       "row [2,4]");
  Tensor part = x.slice_rows(1, 3);
  HARK_EXPECT_OP_ERROR(ops::add_(part, x.slice_rows(0, 2)), ErrorKind::kInternal, "partly overlap");
}

}  // namespace
}  // namespace hark::ops_test
