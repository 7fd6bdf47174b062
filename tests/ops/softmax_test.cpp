#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

std::vector<double> softmax_ref(const std::vector<float>& x, int64_t m, int64_t n) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < m; ++r) {
    double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, double(x[r * n + i]));
    for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
    for (int64_t i = 0; i < n; ++i) y[r * n + i] = std::exp(x[r * n + i] - mx) / sum;
  }
  return y;
}

class SoftmaxTest : public OpTest {};
HARK_OP_TEST_SUITE(SoftmaxTest);

TEST_P(SoftmaxTest, MatchesReference) {
  struct Case {
    int64_t m, n;
    float range;
  };
  for (const Case& s : {Case{1, 1, 1}, Case{3, 17, 5}, Case{4, 16, 5}, Case{7, 1500, 30},
                        Case{2, 51865, 20}, Case{300, 448, 10}}) {
    SCOPED_TRACE(testing::Message() << "m=" << s.m << " n=" << s.n);
    const auto x = uniform(size_t(s.m * s.n), -s.range, s.range);
    Tensor t = input(x, {s.m, s.n});
    ops::softmax_(t);
    EXPECT_TRUE(close(t, softmax_ref(x, s.m, s.n)));
  }
}

TEST_P(SoftmaxTest, MinusInfinityGetsZero) {
  auto x = uniform(3 * 21, -4.0f, 4.0f);
  for (int64_t i = 0; i < 3 * 21; i += 4) x[i] = -std::numeric_limits<float>::infinity();
  Tensor t = input(x, {3, 21});
  ops::softmax_(t);
  EXPECT_TRUE(close(t, softmax_ref(x, 3, 21)));
  const auto got = download(t);
  for (int64_t i = 0; i < 3 * 21; i += 4) EXPECT_EQ(got[i], 0.0f) << i;
}

TEST_P(SoftmaxTest, LargeLogitsDoNotOverflow) {
  std::vector<float> x{1000.0f, 999.0f, -1000.0f, 80.0f};
  representable(x);  // bf16 rounds 999 to 1000: the reference must see what the kernel sees
  Tensor t = input(x, {1, 4});
  ops::softmax_(t);
  EXPECT_TRUE(close(t, softmax_ref(x, 1, 4)));
}

}  // namespace
}  // namespace hark::ops_test
