// ops::fused_linear (a decoder step's linear with the layer norm before it and the GELU, residual
// add or K/V scatter after it) on every backend and dtype, against double loops: float and int8
// weights, with and without the norm and the bias, each epilogue, row counts across the CUDA
// kernel's row tiles (1, 2, 3, 8, 16 and 20 = two tiles), K a multiple of 8 (vector path) or not
// (scalar path), and the argument checks; and ops::linear_gelu (the rows kernel, or cuBLASLt's
// bias + GELU epilogue) against the exact GELU.
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class FusedLinearTest : public OpTest {
 protected:
  // A weight [n, k] for the case's device: float of the case's dtype (deq = its values), or
  // quantised to int8 on the host (deq = q * scale, what the kernels compute with).
  struct Weight {
    ops::LinearWeight dev;
    std::vector<float> deq;
  };
  Weight weight(int64_t n, int64_t k, bool int8) {
    std::vector<float> w = uniform(size_t(n * k), -0.5f, 0.5f);
    Weight out;
    if (!int8) {
      out.dev = ops::LinearWeight{input(w, {n, k}), {}};
      out.deq = w;
      return out;
    }
    Tensor host = Tensor::zeros(DType::kF32, {n, k});
    std::copy(w.begin(), w.end(), host.data<float>());
    const ops::LinearWeight q = ops::quantize_int8(host);
    out.deq.resize(w.size());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < k; ++j)
        out.deq[size_t(r * k + j)] =
            float(q.w.data<int8_t>()[r * k + j]) * q.scale.data<float>()[r];
    const Device d = device_of(bc());
    out.dev = {q.w.to(d), q.scale.to(d)};
    return out;
  }
};
HARK_OP_TEST_SUITE(FusedLinearTest);

double gelu_ref(double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }

// t = norm?(x) · w^T + bias in double.
std::vector<double> linear_ref(const std::vector<float>& x, const std::vector<float>* gamma,
                               const std::vector<float>* beta, double eps,
                               const std::vector<float>& w, const std::vector<float>* bias,
                               int64_t m, int64_t n, int64_t k) {
  std::vector<double> h(x.begin(), x.end());
  if (gamma) h = layer_norm_ref(h, *gamma, *beta, eps, m, k);
  std::vector<double> t(size_t(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias ? (*bias)[size_t(j)] : 0.0;
      for (int64_t p = 0; p < k; ++p) s += h[size_t(i * k + p)] * w[size_t(j * k + p)];
      t[size_t(i * n + j)] = s;
    }
  return t;
}

TEST_P(FusedLinearTest, NormLinearEpilogueMatchesReference) {
  struct Case {
    int64_t m, n, k;
  };
  const float eps = 1e-5f;
  for (const Case& s : {Case{1, 5, 8}, Case{1, 37, 64}, Case{2, 9, 13}, Case{3, 40, 200},
                        Case{8, 24, 128}, Case{16, 11, 72}, Case{20, 7, 33}}) {
    for (const bool int8 : {false, true}) {
      const Weight w = weight(s.n, s.k, int8);
      // x rows with an offset, so that the norm matters (its mean is not ~0).
      std::vector<float> x = uniform(size_t(s.m * s.k), -2.0f, 3.0f);
      const auto g = uniform(size_t(s.k), 0.5f, 1.5f), be = uniform(size_t(s.k), -0.5f, 0.5f),
                 b = uniform(size_t(s.n)), y0 = uniform(size_t(s.m * s.n));
      const Tensor tx = input(x, {s.m, s.k}), tg = input(g, {s.k}), tbe = input(be, {s.k}),
                   tb = input(b, {s.n});
      for (const bool norm : {false, true})
        for (const bool with_bias : {false, true})
          for (const ops::RowsOut out :
               {ops::RowsOut::kStore, ops::RowsOut::kGelu, ops::RowsOut::kAdd}) {
            SCOPED_TRACE(testing::Message()
                         << "m=" << s.m << " n=" << s.n << " k=" << s.k << " int8=" << int8
                         << " norm=" << norm << " bias=" << with_bias << " out=" << int(out));
            const auto t = linear_ref(x, norm ? &g : nullptr, norm ? &be : nullptr, eps, w.deq,
                                      with_bias ? &b : nullptr, s.m, s.n, s.k);
            std::vector<double> ref(t.size());
            for (size_t i = 0; i < t.size(); ++i)
              ref[i] = out == ops::RowsOut::kGelu  ? gelu_ref(t[i])
                       : out == ops::RowsOut::kAdd ? y0[i] + t[i]
                                                   : t[i];
            Tensor y = out == ops::RowsOut::kAdd ? input(y0, {s.m, s.n}) : output({s.m, s.n});
            ops::fused_linear(tx, norm ? &tg : nullptr, norm ? &tbe : nullptr, eps, w.dev,
                              with_bias ? &tb : nullptr, y, out);
            EXPECT_TRUE(close(y, ref));
          }
    }
  }
}

TEST_P(FusedLinearTest, ScatterWritesTheKvBlocksIntoEachRowsCache) {
  // q | k | v of three rows: rows 0 and 2 share cache a (positions 5 and 0), row 1 uses cache b.
  const int64_t d = 24, n = 3 * d, k = 40, m = 3;
  const Weight w = weight(n, k, false);
  const auto x = uniform(size_t(m * k)), g = uniform(size_t(k), 0.5f, 1.5f),
             be = uniform(size_t(k)), b = uniform(size_t(n));
  const auto k0 = uniform(size_t(6 * d)), v0 = uniform(size_t(6 * d)), k1 = uniform(size_t(3 * d)),
             v1 = uniform(size_t(3 * d));
  Tensor ka = input(k0, {6, d}), va = input(v0, {6, d}), kb = input(k1, {3, d}),
         vb = input(v1, {3, d});
  const Tensor k_dst =
      upload_i64(bc(), {ops::address_of(ka), ops::address_of(kb), ops::address_of(ka)});
  const Tensor v_dst =
      upload_i64(bc(), {ops::address_of(va), ops::address_of(vb), ops::address_of(va)});
  const Tensor positions = upload_i64(bc(), {5, 2, 0});
  const ops::RowsKvScatter scatter{d, &k_dst, &v_dst, &positions};
  const Tensor tg = input(g, {k}), tbe = input(be, {k}), tb = input(b, {n});
  Tensor y = output({m, n});
  ops::fused_linear(input(x, {m, k}), &tg, &tbe, 1e-5f, w.dev, &tb, y, ops::RowsOut::kStore,
                    &scatter);
  const auto t = linear_ref(x, &g, &be, 1e-5, w.deq, &b, m, n, k);
  EXPECT_TRUE(close(y, t));
  std::vector<double> rka(k0.begin(), k0.end()), rva(v0.begin(), v0.end()),
      rkb(k1.begin(), k1.end()), rvb(v1.begin(), v1.end());
  const auto put = [&](std::vector<double>& kc, std::vector<double>& vc, int64_t pos, int64_t r) {
    for (int64_t c = 0; c < d; ++c) {
      kc[size_t(pos * d + c)] = t[size_t(r * n + d + c)];
      vc[size_t(pos * d + c)] = t[size_t(r * n + 2 * d + c)];
    }
  };
  put(rka, rva, 5, 0);
  put(rkb, rvb, 2, 1);
  put(rka, rva, 0, 2);
  EXPECT_TRUE(close(ka, rka));
  EXPECT_TRUE(close(va, rva));
  EXPECT_TRUE(close(kb, rkb));
  EXPECT_TRUE(close(vb, rvb));
}

TEST_P(FusedLinearTest, LinearGeluMatchesExactGelu) {
  // Row counts on both sides of the CUDA rows kernel (8) and the int8 one (16), up to GEMM sizes
  // (cuBLASLt's bias + GELU epilogue for 16-bit dtypes), float and int8 weights, with and
  // without a bias; every value of t spans the GELU's curved part.
  struct Case {
    int64_t m, n, k;
  };
  for (const Case& s :
       {Case{1, 40, 64}, Case{8, 33, 48}, Case{9, 64, 64}, Case{17, 24, 40}, Case{300, 96, 128}})
    for (const bool int8 : {false, true})
      for (const bool with_bias : {false, true}) {
        SCOPED_TRACE(testing::Message() << "m=" << s.m << " n=" << s.n << " k=" << s.k
                                        << " int8=" << int8 << " bias=" << with_bias);
        const Weight w = weight(s.n, s.k, int8);
        const auto x = uniform(size_t(s.m * s.k), -1.0f, 1.0f), b = uniform(size_t(s.n));
        const Tensor tx = input(x, {s.m, s.k}), tb = input(b, {s.n});
        auto ref =
            linear_ref(x, nullptr, nullptr, 0.0, w.deq, with_bias ? &b : nullptr, s.m, s.n, s.k);
        for (double& v : ref) v = gelu_ref(v);
        Tensor y = output({s.m, s.n});
        ops::linear_gelu(tx, w.dev, with_bias ? &tb : nullptr, y);
        EXPECT_TRUE(close(y, ref));
      }
}

TEST_P(FusedLinearTest, RejectsMismatchedArguments) {
  const Weight w = weight(6, 8, false);
  const Tensor x = input(uniform(16), {2, 8}), g = input(uniform(8), {8}),
               be = input(uniform(8), {8}), g7 = input(uniform(7), {7});
  Tensor y = output({2, 6}), bad_y = output({2, 5});
  HARK_EXPECT_OP_ERROR(
      ops::fused_linear(x, nullptr, nullptr, 0.0f, w.dev, nullptr, bad_y, ops::RowsOut::kStore),
      ErrorKind::kInternal, "fused_linear");
  HARK_EXPECT_OP_ERROR(
      ops::fused_linear(x, &g, nullptr, 0.0f, w.dev, nullptr, y, ops::RowsOut::kStore),
      ErrorKind::kInternal, "gamma and beta");
  HARK_EXPECT_OP_ERROR(
      ops::fused_linear(x, &g7, &g7, 0.0f, w.dev, nullptr, y, ops::RowsOut::kStore),
      ErrorKind::kInternal, "gamma");
  const Tensor idx = upload_i64(bc(), {0, 0}), pos = upload_i64(bc(), {0, 1});
  const ops::RowsKvScatter scatter{2, &idx, &idx, &pos};
  HARK_EXPECT_OP_ERROR(
      ops::fused_linear(x, &g, &be, 0.0f, w.dev, nullptr, y, ops::RowsOut::kGelu, &scatter),
      ErrorKind::kInternal, "plain store");
  const ops::RowsKvScatter too_wide{4, &idx, &idx, &pos};
  HARK_EXPECT_OP_ERROR(
      ops::fused_linear(x, &g, &be, 0.0f, w.dev, nullptr, y, ops::RowsOut::kStore, &too_wide),
      ErrorKind::kInternal, "K and V blocks");
}

}  // namespace
}  // namespace hark::ops_test
