// median_filter and dtw against values worked out by hand from timing.py's definitions.
#include "decoding/word_timing_dtw.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;

Tensor make(const std::vector<float>& values, Shape shape) {
  Tensor t = Tensor::zeros(DType::kF32, std::move(shape));
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

std::vector<float> values(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

TEST(MedianFilterTest, Width3ReflectsWithoutRepeatingTheEdge) {
  // [1 5 2 8 3] padded to [5 | 1 5 2 8 3 | 8].
  EXPECT_THAT(values(median_filter(make({1, 5, 2, 8, 3}, {5}), 3)), ElementsAre(5, 2, 5, 3, 8));
  // Reflection, not edge replication: [1 2 3 4] reads [2 | 1 2 3 4 | 3].
  EXPECT_THAT(values(median_filter(make({1, 2, 3, 4}, {4}), 3)), ElementsAre(2, 2, 3, 3));
}

TEST(MedianFilterTest, Width5) {
  // [1 5 2 8 3] padded to [2 5 | 1 5 2 8 3 | 8 2].
  EXPECT_THAT(values(median_filter(make({1, 5, 2, 8, 3}, {5}), 5)), ElementsAre(2, 5, 3, 5, 3));
  // Three values, pad 2: [2 1 | 3 1 2 | 1 3].
  EXPECT_THAT(values(median_filter(make({3, 1, 2}, {3}), 5)), ElementsAre(2, 1, 2));
}

TEST(MedianFilterTest, Width7RemovesAnIsolatedSpike) {
  // The left reflection of index 3 doubles the spike in the first window: still a minority.
  EXPECT_THAT(values(median_filter(make({0, 0, 0, 10, 0, 0, 0, 0}, {8}), 7)),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0));
}

TEST(MedianFilterTest, RowsNoLongerThanHalfTheWidthAreUnchanged) {
  EXPECT_THAT(values(median_filter(make({4, 1}, {2}), 7)), ElementsAre(4, 1));
  EXPECT_THAT(values(median_filter(make({4, 1}, {2}), 5)), ElementsAre(4, 1));
  EXPECT_THAT(values(median_filter(make({4, 1, 9}, {3}), 7)), ElementsAre(4, 1, 9));
}

TEST(MedianFilterTest, FiltersEveryRowOfTheLastAxis) {
  const Tensor x = make({1, 5, 2, 8, 3, 9, 9, 0, 9, 9}, {2, 1, 5});
  const Tensor y = median_filter(x, 3);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_THAT(values(y), ElementsAre(5, 2, 5, 3, 8, 9, 9, 9, 9, 9));
  EXPECT_THAT(values(x), ElementsAre(1, 5, 2, 8, 3, 9, 9, 0, 9, 9));  // input untouched
}

TEST(MedianFilterTest, WidthOneIsIdentityAndNanSortsLast) {
  EXPECT_THAT(values(median_filter(make({3, 1, 2}, {3}), 1)), ElementsAre(3, 1, 2));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // [NaN | 1 NaN 2 | NaN]: sorted windows [1 NaN NaN], [1 2 NaN], [2 NaN NaN].
  const std::vector<float> y = values(median_filter(make({1, nan, 2}, {3}), 3));
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], 2);
  EXPECT_TRUE(std::isnan(y[2]));
}

TEST(MedianFilterTest, RejectsEvenWidths) {
  EXPECT_THROW(median_filter(make({1, 2, 3}, {3}), 4), Error);
  EXPECT_THROW(median_filter(make({1, 2, 3}, {3}), 0), Error);
}

TEST(DtwTest, FollowsTheCheapCells3x4) {
  // Accumulated costs (rows 1..3, columns 1..4): [0 0 9 18], [9 18 0 9], [18 18 9 0]; the path
  // enters row 1 at column 2 and row 2 at column 3.
  const DtwPath p = dtw(make({0, 0, 9, 9,  //
                              9, 9, 0, 9,  //
                              9, 9, 9, 0},
                             {3, 4}));
  EXPECT_THAT(p.text_indices, ElementsAre(0, 0, 1, 2));
  EXPECT_THAT(p.time_indices, ElementsAre(0, 1, 2, 3));
}

TEST(DtwTest, Diagonal4x4) {
  const DtwPath p = dtw(make({0, 1, 1, 1,  //
                              1, 0, 1, 1,  //
                              1, 1, 0, 1,  //
                              1, 1, 1, 0},
                             {4, 4}));
  EXPECT_THAT(p.text_indices, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(p.time_indices, ElementsAre(0, 1, 2, 3));
}

TEST(DtwTest, AllTiesGoLeftSoTheTraceBackHugsTheLastRowThenColumnZero) {
  // Every accumulated cost is 0: each inner cell records "left", column 1 records "up".
  const DtwPath p = dtw(make(std::vector<float>(16, 0.0f), {4, 4}));
  EXPECT_THAT(p.text_indices, ElementsAre(0, 1, 2, 3, 3, 3, 3));
  EXPECT_THAT(p.time_indices, ElementsAre(0, 0, 0, 0, 1, 2, 3));
}

TEST(DtwTest, TiedDiagonalAndUpTakeTheLeftEvenWhenItCostsMore) {
  // At (3,3) the diagonal and upper predecessors both cost 0 and the left one 1: neither is
  // strictly cheapest, so timing.py takes the left (cost 1). The same happens at (4,3) and (4,4),
  // so the result is not the zero-cost path through (1,2) and (2,2).
  const DtwPath p = dtw(make({0, 1, 1, 1,  //
                              1, 0, 0, 1,  //
                              1, 1, 0, 1,  //
                              1, 1, 1, 0},
                             {4, 4}));
  EXPECT_THAT(p.text_indices, ElementsAre(0, 1, 2, 3, 3, 3));
  EXPECT_THAT(p.time_indices, ElementsAre(0, 1, 1, 1, 2, 3));
}

TEST(DtwTest, SingleRowAndSingleColumn) {
  const DtwPath row = dtw(make({5, 1, 7}, {1, 3}));
  EXPECT_THAT(row.text_indices, ElementsAre(0, 0, 0));
  EXPECT_THAT(row.time_indices, ElementsAre(0, 1, 2));
  const DtwPath col = dtw(make({5, 1, 7}, {3, 1}));
  EXPECT_THAT(col.text_indices, ElementsAre(0, 1, 2));
  EXPECT_THAT(col.time_indices, ElementsAre(0, 0, 0));
}

TEST(DtwTest, RejectsEmptyAndNonMatrixInputs) {
  EXPECT_THROW(dtw(Tensor::zeros(DType::kF32, {0, 3})), Error);
  EXPECT_THROW(dtw(Tensor::zeros(DType::kF32, {3})), Error);
}

}  // namespace
}  // namespace hark::decoding
