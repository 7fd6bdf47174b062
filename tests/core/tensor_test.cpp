#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/half.h"
#include "core/tensor.h"

namespace hark {
namespace {

TEST(Half, RoundTripsEveryHalfValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    EXPECT_EQ(float_to_half(f), uint16_t(h)) << "h=" << h;
  }
}

TEST(Half, KnownValuesAndRounding) {
  EXPECT_EQ(half_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_to_float(0xc000), -2.0f);
  EXPECT_EQ(half_to_float(0x7bff), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
  // 1 + 2^-11 is halfway between 1 and the next half (1 + 2^-10): ties to even -> 1.
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half(1e6f), 0x7c00);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0, 3);
  for (int i = 0; i < 10000; ++i) {
    const float f = d(rng);
    const float r = bf16_to_float(float_to_bf16(f));
    EXPECT_LE(std::fabs(r - f), std::fabs(f) * (1.0f / 256)) << f;
  }
}

TEST(Tensor, ZerosViewReshapeSlice) {
  Tensor t = Tensor::zeros(DType::kF32, {3, 4});
  EXPECT_EQ(t.numel(), 12);
  EXPECT_EQ(t.nbytes(), 48u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = float(i);
  Tensor r = t.reshape({4, 3});
  EXPECT_EQ(r.data<float>(), t.data<float>());
  Tensor s = t.slice_rows(1, 3);
  EXPECT_EQ(s.dim(0), 2);
  EXPECT_EQ(s.data<float>()[0], 4.0f);
  EXPECT_THROW(t.reshape({5, 3}), Error);
  EXPECT_THROW(t.slice_rows(2, 4), Error);
}

TEST(Tensor, ToF32ConvertsHalfAndBf16) {
  const uint16_t h[3] = {0x3c00, 0xc000, 0x3555};
  Tensor v = Tensor::view(DType::kF16, {3}, h);
  Tensor f = v.to_f32();
  EXPECT_EQ(f.dtype(), DType::kF32);
  EXPECT_EQ(f.data<float>()[0], 1.0f);
  EXPECT_EQ(f.data<float>()[1], -2.0f);
  EXPECT_NEAR(f.data<float>()[2], 1.0f / 3, 1e-3);
  const uint16_t b[2] = {0x3f80, 0x4040};
  Tensor g = Tensor::view(DType::kBF16, {2}, b).to_f32();
  EXPECT_EQ(g.data<float>()[1], 3.0f);
}

}  // namespace
}  // namespace hark
