// ops::linear over int8 weights (LinearWeight from quantize_int8) on every backend and activation
// dtype, against a double-precision reference over the dequantised weights (q * scale exactly):
// the CUDA direct kernel (up to 16 rows: 1, 3, 5, 16) and its dequantise + GEMM path (17 rows and
// more), partial tiles of output channels, K not a multiple of 8, rows not 16-byte aligned, with
// and without bias, all-zero weight rows, and the argument checks.
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

// A weight [n, k] quantised on the host, on the case's device, and its dequantised values.
struct Quantised {
  ops::LinearWeight dev;
  std::vector<float> deq;  // q * scale, row-major [n, k]
};

class LinearInt8Test : public OpTest {
 protected:
  // Rows of different magnitudes (and an all-zero row when zero_row >= 0), quantised.
  Quantised quantised(int64_t n, int64_t k, int64_t zero_row = -1) {
    std::vector<float> w = uniform(size_t(n * k));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j)
        w[size_t(r * k + j)] *= r == zero_row ? 0.0f : 0.25f * float(1 + r % 7);
    Tensor host = Tensor::zeros(DType::kF32, {n, k});
    std::copy(w.begin(), w.end(), host.data<float>());
    const ops::LinearWeight q = ops::quantize_int8(host);
    Quantised out;
    out.deq.resize(w.size());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j)
        out.deq[size_t(r * k + j)] =
            float(q.w.data<int8_t>()[r * k + j]) * q.scale.data<float>()[r];
    const Device d = bc().backend == Backend::kCuda ? Device::kCuda : Device::kCpu;
    out.dev = {q.w.to(d), q.scale.to(d)};
    return out;
  }
};
HARK_OP_TEST_SUITE(LinearInt8Test);

std::vector<double> reference(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>* bias, int64_t m, int64_t n, int64_t k) {
  std::vector<double> y(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? (*bias)[size_t(j)] : 0.0;
      for (int64_t p = 0; p < k; ++p) s += double(x[size_t(i * k + p)]) * w[size_t(j * k + p)];
      y[size_t(i * n + j)] = s;
    }
  return y;
}

TEST_P(LinearInt8Test, MatchesReferenceOverDequantisedWeights) {
  struct Case {
    int64_t m, n, k;
  };
  for (const Case& s :
       {Case{1, 1, 1}, Case{1, 37, 65}, Case{1, 384, 384}, Case{1, 6, 8}, Case{3, 5, 7},
        Case{3, 64, 8}, Case{5, 33, 129}, Case{8, 40, 200}, Case{16, 17, 64}, Case{17, 33, 129},
        Case{17, 8, 16}, Case{64, 96, 200}, Case{1500, 48, 64}, Case{1501, 21, 13}}) {
    for (bool with_bias : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "m=" << s.m << " n=" << s.n << " k=" << s.k << " bias=" << with_bias);
      const Quantised w = quantised(s.n, s.k, s.n > 2 ? 2 : -1);
      const auto x = uniform(size_t(s.m * s.k)), b = uniform(size_t(s.n));
      const Tensor tx = input(x, {s.m, s.k}), tb = input(b, {s.n});
      Tensor y = output({s.m, s.n});
      ops::linear(tx, w.dev, with_bias ? &tb : nullptr, y);
      EXPECT_TRUE(close(y, reference(x, w.deq, with_bias ? &b : nullptr, s.m, s.n, s.k)));
    }
  }
}

TEST_P(LinearInt8Test, RowsNotSixteenByteAligned) {
  // x starts one element into its buffer: the CUDA kernels take their scalar paths.
  for (const int64_t m : {2, 40}) {
    SCOPED_TRACE(testing::Message() << "m=" << m);
    const int64_t n = 24, k = 64;
    const Quantised w = quantised(n, k);
    const auto x = uniform(size_t(m * k + 1)), b = uniform(size_t(n));
    const Tensor buffer = input(x, {m * k + 1, 1});
    const Tensor tx = buffer.slice_rows(1, m * k + 1).reshape({m, k});
    const Tensor tb = input(b, {n});
    Tensor y = output({m, n});
    ops::linear(tx, w.dev, &tb, y);
    EXPECT_TRUE(
        close(y, reference(std::vector<float>(x.begin() + 1, x.end()), w.deq, &b, m, n, k)));
  }
}

TEST_P(LinearInt8Test, SameResultOnOneAndAllThreads) {
  ThreadCountGuard guard;
  for (const int64_t m : {4, 300}) {
    const int64_t n = 200, k = 96;
    const Quantised w = quantised(n, k);
    const auto x = uniform(size_t(m * k)), b = uniform(size_t(n));
    const Tensor tx = input(x, {m, k}), tb = input(b, {n});
    const auto ref = reference(x, w.deq, &b, m, n, k);
    for (int threads : {1, 0}) {
      ops::set_num_threads(threads);
      Tensor y = output({m, n});
      ops::linear(tx, w.dev, &tb, y);
      EXPECT_TRUE(close(y, ref)) << "m " << m << " threads " << threads;
    }
  }
}

TEST_P(LinearInt8Test, FlattensLeadingDimensions) {
  const Quantised w = quantised(6, 16);
  const auto x = uniform(2 * 3 * 16), b = uniform(6);
  const Tensor tb = input(b, {6});
  Tensor y = output({2, 3, 6});
  ops::linear(input(x, {2, 3, 16}), w.dev, &tb, y);
  EXPECT_TRUE(close(y, reference(x, w.deq, &b, 6, 6, 16)));
}

TEST_P(LinearInt8Test, EmptyBatchAndEmptyK) {
  const Quantised w = quantised(4, 3);
  const auto b = uniform(4);
  const Tensor tb = input(b, {4});
  Tensor y0 = output({0, 4});
  ops::linear(input({}, {0, 3}), w.dev, &tb, y0);
  const Quantised w0 = quantised(4, 0);
  Tensor y = output({2, 4});
  ops::linear(input({}, {2, 0}), w0.dev, &tb, y);
  EXPECT_TRUE(close(y, {b[0], b[1], b[2], b[3], b[0], b[1], b[2], b[3]}));
  Tensor y_nobias = output({2, 4});
  ops::linear(input({}, {2, 0}), w0.dev, nullptr, y_nobias);
  EXPECT_TRUE(close(y_nobias, std::vector<double>(8, 0.0)));
}

TEST_P(LinearInt8Test, FloatLinearWeightIsPlainLinear) {
  const auto x = uniform(3 * 10), w = uniform(5 * 10), b = uniform(5);
  const ops::LinearWeight fw{input(w, {5, 10}), {}};
  EXPECT_FALSE(fw.quantized());
  const Tensor tb = input(b, {5});
  Tensor y = output({3, 5});
  ops::linear(input(x, {3, 10}), fw, &tb, y);
  EXPECT_TRUE(close(y, reference(x, w, &b, 3, 5, 10)));
}

TEST_P(LinearInt8Test, RejectsMismatchedArguments) {
  const Quantised w = quantised(8, 16);
  const Tensor x = input(uniform(4 * 16), {4, 16});
  Tensor y = output({4, 8});
  ops::LinearWeight short_scale = w.dev;
  short_scale.scale = w.dev.scale.slice_rows(0, 7);
  HARK_EXPECT_OP_ERROR(ops::linear(x, short_scale, nullptr, y), ErrorKind::kInternal,
                       "scale should be F32 [8]");
  const Tensor x_k = input(uniform(4 * 15), {4, 15});
  HARK_EXPECT_OP_ERROR(ops::linear(x_k, w.dev, nullptr, y), ErrorKind::kInternal,
                       "x [4,15] and w [8,16] disagree on K");
  Tensor y_bad = output({4, 9});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w.dev, nullptr, y_bad), ErrorKind::kInternal, "y [4,9]");
  const Tensor b_bad = input(uniform(7), {7});
  HARK_EXPECT_OP_ERROR(ops::linear(x, w.dev, &b_bad, y), ErrorKind::kInternal, "bias [7]");
  ops::LinearWeight host_weight{w.dev.w.to(Device::kCpu), w.dev.scale.to(Device::kCpu)};
  if (bc().backend == Backend::kCuda)
    HARK_EXPECT_OP_ERROR(ops::linear(x, host_weight, nullptr, y), ErrorKind::kInternal,
                         "on the device of x");
}

TEST_P(LinearInt8Test, CpuRunsF32ActivationsOnly) {
  if (bc().backend != Backend::kCpu) GTEST_SKIP() << "CUDA runs every float dtype";
  const Quantised w = quantised(3, 8);
  const Tensor x16 = Tensor::zeros(DType::kF16, {4, 8});
  Tensor y16 = Tensor::zeros(DType::kF16, {4, 3});
  HARK_EXPECT_OP_ERROR(ops::linear(x16, w.dev, nullptr, y16), ErrorKind::kUnsupported, "F16");
}

}  // namespace
}  // namespace hark::ops_test
