// ops::quantize_int8 (symmetric, per output channel) against values worked out by hand: the
// scale of each row, rounding to nearest with ties to even, clamping to [-127, 127] (never -128),
// all-zero rows, and the errors for inputs it cannot take.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "backends/cpu/kernels.h"
#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

Tensor host_matrix(const std::vector<float>& values, int64_t rows, int64_t cols) {
  Tensor t = Tensor::zeros(DType::kF32, {rows, cols});
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

std::vector<int> row_of(const ops::LinearWeight& q, int64_t r) {
  const int64_t k = q.w.dim(1);
  const int8_t* p = q.w.data<int8_t>() + r * k;
  return std::vector<int>(p, p + k);
}

TEST(QuantizeInt8, RowsWorkedOutByHand) {
  const std::vector<float> w = {
      // max |w| = 127: scale exactly 1, so q is w rounded, ties to even.
      127.0f, -63.5f, 0.5f, 1.5f, 2.5f, -0.5f, -127.0f, 3.49f,
      // all zeros: scale 0, q 0.
      0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
      // max |w| = 2: scale 2/127; w * 127 / 2 = 127, -63.5 -> ..., chosen away from ties:
      // 0.3 -> 19.05 -> 19, -1.1 -> -69.85 -> -70, 1.99 -> 126.365 -> 126, 0.01 -> 0.635 -> 1.
      2.0f, 0.3f, -1.1f, 1.99f, 0.01f, -0.003f, 0.0f, -2.0f,
      // the largest magnitude negative: -4 -> -127 (not -128); 1 -> 31.75 -> 32.
      -4.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  const ops::LinearWeight q = ops::quantize_int8(host_matrix(w, 4, 8));
  ASSERT_EQ(q.w.dtype(), DType::kI8);
  ASSERT_EQ(q.w.shape(), (Shape{4, 8}));
  ASSERT_EQ(q.scale.dtype(), DType::kF32);
  ASSERT_EQ(q.scale.shape(), (Shape{4}));
  EXPECT_TRUE(q.quantized());
  const float* s = q.scale.data<float>();
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_EQ(s[2], 2.0f / 127.0f);
  EXPECT_EQ(s[3], 4.0f / 127.0f);
  EXPECT_EQ(row_of(q, 0), (std::vector<int>{127, -64, 0, 2, 2, 0, -127, 3}));
  EXPECT_EQ(row_of(q, 1), (std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(row_of(q, 2), (std::vector<int>{127, 19, -70, 126, 1, 0, 0, -127}));
  EXPECT_EQ(row_of(q, 3), (std::vector<int>{-127, 32, 0, 0, 0, 0, 0, 0}));
}

TEST(QuantizeInt8, RoundsTiesToEvenAndClamps) {
  using backends::cpu::quantize_int8_value;
  EXPECT_EQ(quantize_int8_value(0.5f, 1.0f), 0);
  EXPECT_EQ(quantize_int8_value(1.5f, 1.0f), 2);
  EXPECT_EQ(quantize_int8_value(2.5f, 1.0f), 2);
  EXPECT_EQ(quantize_int8_value(3.5f, 1.0f), 4);
  EXPECT_EQ(quantize_int8_value(-2.5f, 1.0f), -2);
  EXPECT_EQ(quantize_int8_value(-3.5f, 1.0f), -4);
  EXPECT_EQ(quantize_int8_value(2.51f, 1.0f), 3);
  EXPECT_EQ(quantize_int8_value(1.0f, 0.25f), 4);
  // Clamped to the symmetric range: 127.5 would round to 128, -128 is never produced.
  EXPECT_EQ(quantize_int8_value(127.5f, 1.0f), 127);
  EXPECT_EQ(quantize_int8_value(300.0f, 1.0f), 127);
  EXPECT_EQ(quantize_int8_value(-128.0f, 1.0f), -127);
  EXPECT_EQ(quantize_int8_value(-1000.0f, 2.0f), -127);
  EXPECT_EQ(quantize_int8_value(5.0f, 0.0f), 0);  // a zero row's scale
}

TEST(QuantizeInt8, ErrorOfEveryWeightIsAtMostHalfAStep) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  const int64_t n = 37, k = 101;
  std::vector<float> w(size_t(n * k));
  for (float& v : w) v = dist(rng);
  for (int64_t j = 0; j < k; ++j) w[size_t(5 * k + j)] *= 1000.0f;  // a row of another magnitude
  const ops::LinearWeight q = ops::quantize_int8(host_matrix(w, n, k));
  for (int64_t r = 0; r < n; ++r) {
    const float s = q.scale.data<float>()[r];
    int max_q = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int qv = q.w.data<int8_t>()[r * k + j];
      max_q = std::max(max_q, std::abs(qv));
      EXPECT_LE(std::abs(double(qv) * s - w[size_t(r * k + j)]), 0.5 * s * (1 + 1e-5))
          << "row " << r << " col " << j;
    }
    EXPECT_EQ(max_q, 127) << "the largest weight of row " << r << " maps to +-127";
  }
}

TEST(QuantizeInt8, RejectsWhatItCannotQuantise) {
  HARK_EXPECT_OP_ERROR(ops::quantize_int8(host_matrix({1.0f, NAN, 2.0f, 3.0f}, 2, 2)),
                       ErrorKind::kInvalidArgument, "weight [0, 1]");
  HARK_EXPECT_OP_ERROR(ops::quantize_int8(host_matrix(
                           {1.0f, 2.0f, std::numeric_limits<float>::infinity(), 3.0f}, 2, 2)),
                       ErrorKind::kInvalidArgument, "not a finite number");
  HARK_EXPECT_OP_ERROR(ops::quantize_int8(Tensor::zeros(DType::kF32, {6})), ErrorKind::kInternal,
                       "2 dimensions");
  HARK_EXPECT_OP_ERROR(ops::quantize_int8(Tensor::zeros(DType::kF16, {2, 3})),
                       ErrorKind::kUnsupported, "F16");
}

}  // namespace
}  // namespace hark::ops_test
