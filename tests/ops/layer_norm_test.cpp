#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class LayerNormTest : public OpTest {};
HARK_OP_TEST_SUITE(LayerNormTest);

TEST_P(LayerNormTest, MatchesReference) {
  struct Case {
    int64_t m, d;
    float offset;  // added to every input: a large mean is where float statistics go wrong
  };
  for (const Case& s :
       {Case{1, 1, 0}, Case{1, 384, 0}, Case{5, 7, 0}, Case{3, 1280, 100.0f}, Case{33, 65, -3.0f},
        Case{200, 512, 10.0f}, Case{7, 2048, 1.0f}, Case{6, 2056, 0}}) {
    SCOPED_TRACE(testing::Message() << "m=" << s.m << " d=" << s.d << " offset=" << s.offset);
    auto x = uniform(size_t(s.m * s.d), -2.0f, 2.0f);
    for (float& v : x) v += s.offset;
    representable(x);
    const auto g = uniform(size_t(s.d), 0.5f, 1.5f), b = uniform(size_t(s.d));
    Tensor y = output({s.m, s.d});
    ops::layer_norm(input(x, {s.m, s.d}), input(g, {s.d}), input(b, {s.d}), 1e-5f, y);
    EXPECT_TRUE(close(
        y, layer_norm_ref(std::vector<double>(x.begin(), x.end()), g, b, double(1e-5f), s.m, s.d)));
  }
}

TEST_P(LayerNormTest, InPlaceAndBatched) {
  const auto x = uniform(2 * 3 * 40), g = uniform(40), b = uniform(40);
  Tensor t = input(x, {2, 3, 40});
  ops::layer_norm(t, input(g, {40}), input(b, {40}), 1e-5f, t);
  EXPECT_TRUE(close(
      t, layer_norm_ref(std::vector<double>(x.begin(), x.end()), g, b, double(1e-5f), 6, 40)));
}

TEST_P(LayerNormTest, RejectsMismatchedShapes) {
  const Tensor x = input(uniform(4 * 8), {4, 8}), g = input(uniform(7), {7});
  const Tensor b = input(uniform(8), {8});
  Tensor y = output({4, 8});
  HARK_EXPECT_OP_ERROR(ops::layer_norm(x, g, b, 1e-5f, y), ErrorKind::kInternal,
                       "layer_norm: gamma [7]");
  Tensor y_bad = output({4, 9});
  HARK_EXPECT_OP_ERROR(ops::layer_norm(x, b, b, 1e-5f, y_bad), ErrorKind::kInternal, "y [4,9]");
  Tensor overlap = x.reshape({32}).slice_rows(1, 32);
  Tensor shifted = overlap.reshape({1, 31});
  const Tensor x31 = x.reshape({32}).slice_rows(0, 31).reshape({1, 31});
  const Tensor g31 = input(uniform(31), {31});
  HARK_EXPECT_OP_ERROR(ops::layer_norm(x31, g31, g31, 1e-5f, shifted), ErrorKind::kInternal,
                       "partly overlap");
}

}  // namespace
}  // namespace hark::ops_test
