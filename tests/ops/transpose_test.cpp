#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class TransposeTest : public OpTest {};
HARK_OP_TEST_SUITE(TransposeTest);

TEST_P(TransposeTest, MatchesReference) {
  struct Case {
    int64_t r, c;
  };
  for (const Case& s :
       {Case{1, 1}, Case{1, 37}, Case{37, 1}, Case{33, 65}, Case{64, 32}, Case{300, 1000}}) {
    SCOPED_TRACE(testing::Message() << "r=" << s.r << " c=" << s.c);
    const auto x = uniform(size_t(s.r * s.c));
    std::vector<double> ref(x.size());
    for (int64_t i = 0; i < s.r; ++i)
      for (int64_t j = 0; j < s.c; ++j) ref[j * s.r + i] = x[i * s.c + j];
    Tensor y = output({s.c, s.r});
    ops::transpose(input(x, {s.r, s.c}), y);
    EXPECT_TRUE(close_to(download(y), ref, 0.0));
  }
}

TEST_P(TransposeTest, RejectsMismatchedShapes) {
  Tensor y = output({3, 4});
  HARK_EXPECT_OP_ERROR(ops::transpose(input(uniform(12), {3, 4}), y), ErrorKind::kInternal,
                       "transpose: y [3,4] should be [4,3]");
}

}  // namespace
}  // namespace hark::ops_test
