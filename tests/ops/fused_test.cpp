// The fused ops (issue 4): add_layer_norm, bias_gelu_, and the ops that read q / k / v in place
// from a fused projection's rows (attention_batched_qkv, attention and attention_rows with a
// wider q, scatter_kv_rows) or copy a block of its columns out (copy_columns), on every backend
// against double loops. Sizes cover partial tiles and vector tails (odd widths, one row, widths
// that are not a multiple of a 16-byte group).
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

double gelu_ref(double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }

// Attention of query rows q (row stride ldq) against keys / values (row strides ldk, ldv), one
// head layout [H * dh] per row; query i sees keys j < n_keys(i).
template <typename NKeys>
std::vector<double> attend(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                           int64_t ldv, int64_t tq, int64_t heads, int64_t dh, NKeys n_keys) {
  const int64_t d = heads * dh;
  std::vector<double> out(size_t(tq * d));
  for (int64_t i = 0; i < tq; ++i) {
    const int64_t n = n_keys(i);
    std::vector<double> p(static_cast<size_t>(n));
    for (int64_t h = 0; h < heads; ++h) {
      double mx = -INFINITY, sum = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0.0;
        for (int64_t e = 0; e < dh; ++e)
          dot += double(q[i * ldq + h * dh + e]) * k[j * ldk + h * dh + e];
        p[size_t(j)] = dot / std::sqrt(double(dh));
        mx = std::max(mx, p[size_t(j)]);
      }
      for (auto& x : p) sum += (x = std::exp(x - mx));
      for (int64_t e = 0; e < dh; ++e) {
        double acc = 0.0;
        for (int64_t j = 0; j < n; ++j) acc += p[size_t(j)] * v[j * ldv + h * dh + e];
        out[size_t(i * d + h * dh + e)] = acc / sum;
      }
    }
  }
  return out;
}

class FusedOpsTest : public OpTest {};
HARK_OP_TEST_SUITE(FusedOpsTest);

TEST_P(FusedOpsTest, AddLayerNormMatchesAddThenLayerNorm) {
  struct Case {
    int64_t m, d;
    float offset;
  };
  for (const Case& s :
       {Case{1, 1, 0}, Case{1, 384, 0}, Case{5, 7, 0}, Case{3, 1280, 100.0f}, Case{33, 65, -3.0f},
        Case{200, 512, 10.0f}, Case{7, 2048, 1.0f}, Case{6, 2056, 0}}) {
    for (const auto& [in_place, with_bias] :
         {std::pair{false, false}, {true, false}, {false, true}, {true, true}}) {
      SCOPED_TRACE(testing::Message() << "m=" << s.m << " d=" << s.d << " offset=" << s.offset
                                      << " in_place=" << in_place << " bias=" << with_bias);
      auto x = uniform(size_t(s.m * s.d), -2.0f, 2.0f);
      for (float& v : x) v += s.offset;
      representable(x);
      const auto h = uniform(size_t(s.m * s.d)), g = uniform(size_t(s.d), 0.5f, 1.5f),
                 b = uniform(size_t(s.d));
      // The kernel keeps the sum in the dtype and normalises that rounded sum.
      const auto bias = uniform(size_t(s.d));
      std::vector<float> sum(x.size());
      for (size_t i = 0; i < x.size(); ++i)
        sum[i] = float(double(x[i]) + h[i] + (with_bias ? bias[i % size_t(s.d)] : 0.0f));
      representable(sum);
      const std::vector<double> sum_ref(sum.begin(), sum.end());
      const std::vector<double> y_ref = layer_norm_ref(sum_ref, g, b, 1e-5, s.m, s.d);
      Tensor xt = input(x, {s.m, s.d});
      Tensor y = in_place ? xt : output({s.m, s.d});
      const Tensor bt = input(bias, {s.d});
      ops::add_layer_norm(xt, input(h, {s.m, s.d}), input(g, {s.d}), input(b, {s.d}), 1e-5f, y,
                          with_bias ? &bt : nullptr);
      EXPECT_TRUE(close(y, y_ref));
      if (!in_place) {
        EXPECT_TRUE(close(xt, sum_ref));
      }
    }
  }
}

TEST_P(FusedOpsTest, AddLayerNormBatchedAndRejectsOverlap) {
  const auto x = uniform(2 * 3 * 40), h = uniform(2 * 3 * 40), g = uniform(40), b = uniform(40);
  Tensor xt = input(x, {2, 3, 40});
  Tensor y = output({2, 3, 40});
  ops::add_layer_norm(xt, input(h, {2, 3, 40}), input(g, {40}), input(b, {40}), 1e-5f, y);
  std::vector<float> sum(x.size());
  for (size_t i = 0; i < x.size(); ++i) sum[i] = x[i] + h[i];
  representable(sum);
  const std::vector<double> y_ref =
      layer_norm_ref(std::vector<double>(sum.begin(), sum.end()), g, b, 1e-5, 6, 40);
  EXPECT_TRUE(close(y, y_ref));
  const Tensor gt = input(g, {40}), bt = input(b, {40});
  HARK_EXPECT_OP_ERROR(ops::add_layer_norm(xt, xt, gt, bt, 1e-5f, y), ErrorKind::kInternal,
                       "add_layer_norm");
  Tensor y_bad = output({2, 3, 41});
  HARK_EXPECT_OP_ERROR(ops::add_layer_norm(xt, input(h, {2, 3, 40}), gt, bt, 1e-5f, y_bad),
                       ErrorKind::kInternal, "[2,3,41]");
}

TEST_P(FusedOpsTest, BiasGeluMatchesReference) {
  struct Case {
    int64_t m, d;
  };
  // 16-byte groups are 4 floats or 8 halves: widths on and off a group, one row, many rows.
  for (const Case& s : {Case{1, 1}, Case{3, 7}, Case{2, 8}, Case{4, 12}, Case{5, 64}, Case{3, 1280},
                        Case{9, 5120}, Case{2, 5121}, Case{300, 24}}) {
    SCOPED_TRACE(testing::Message() << "m=" << s.m << " d=" << s.d);
    const auto x = uniform(size_t(s.m * s.d), -6.0f, 6.0f), b = uniform(size_t(s.d), -2.0f, 2.0f);
    std::vector<float> ref_f(x.size());
    for (int64_t r = 0; r < s.m; ++r)
      for (int64_t c = 0; c < s.d; ++c)
        ref_f[size_t(r * s.d + c)] =
            float(gelu_ref(double(x[size_t(r * s.d + c)]) + double(b[size_t(c)])));
    representable(ref_f);
    Tensor t = input(x, {s.m, s.d});
    ops::bias_gelu_(t, input(b, {s.d}));
    EXPECT_TRUE(close(t, std::vector<double>(ref_f.begin(), ref_f.end())));
  }
}

TEST_P(FusedOpsTest, BiasGeluOnAnUnalignedView) {
  // Rows 1.. of a [4, 8] tensor start 8 elements in: aligned for fp16 groups, and a [*, 6] view of
  // one offset by a row of 6 is not (the scalar path).
  const auto x = uniform(4 * 6, -3.0f, 3.0f), b = uniform(6);
  Tensor t = input(x, {4, 6});
  Tensor tail = t.slice_rows(1, 4);
  ops::bias_gelu_(tail, input(b, {6}));
  std::vector<float> ref_f(x);
  for (int64_t r = 1; r < 4; ++r)
    for (int64_t c = 0; c < 6; ++c)
      ref_f[size_t(r * 6 + c)] = float(gelu_ref(double(x[size_t(r * 6 + c)]) + b[size_t(c)]));
  representable(ref_f);
  EXPECT_TRUE(close(t, std::vector<double>(ref_f.begin(), ref_f.end())));
}

TEST_P(FusedOpsTest, CopyColumnsCopiesABlock) {
  for (const auto& [rows, cols, col, w] :
       {std::array<int64_t, 4>{5, 24, 8, 8}, {3, 7, 2, 3}, {1, 9, 0, 9}, {4, 30, 20, 10}}) {
    SCOPED_TRACE(testing::Message() << rows << "x" << cols << " col " << col << " width " << w);
    const auto src = uniform(size_t(rows * cols));
    Tensor dst = output({rows, w});
    ops::copy_columns(input(src, {rows, cols}), col, dst);
    std::vector<double> ref(size_t(rows * w));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < w; ++c) ref[size_t(r * w + c)] = src[size_t(r * cols + col + c)];
    EXPECT_TRUE(close(dst, ref));
  }
  Tensor bad = output({5, 9});
  HARK_EXPECT_OP_ERROR(ops::copy_columns(input(uniform(5 * 16), {5, 16}), 8, bad),
                       ErrorKind::kInternal, "copy_columns");
}

TEST_P(FusedOpsTest, AttentionBatchedReadsAFusedProjection) {
  struct Case {
    int64_t batch, t, heads, dh;
  };
  // dh 64 is the flash kernel's on CUDA (fp16/bf16), with partial 64-row tiles; dh 8 the general.
  for (const Case& s :
       {Case{2, 17, 2, 64}, Case{1, 70, 3, 64}, Case{3, 1, 2, 64}, Case{2, 9, 3, 8}}) {
    SCOPED_TRACE(testing::Message()
                 << "B=" << s.batch << " T=" << s.t << " H=" << s.heads << " Dh=" << s.dh);
    const int64_t d = s.heads * s.dh, ld = 3 * d;
    const auto qkv = uniform(size_t(s.batch * s.t * ld), -1.5f, 1.5f);
    Tensor out = output({s.batch, s.t, d});
    ops::attention_batched_qkv(input(qkv, {s.batch, s.t, ld}), int(s.heads), out);
    std::vector<double> ref;
    for (int64_t b = 0; b < s.batch; ++b) {
      const float* base = qkv.data() + b * s.t * ld;
      const auto one = attend(base, ld, base + d, ld, base + 2 * d, ld, s.t, s.heads, s.dh,
                              [&](int64_t) { return s.t; });
      ref.insert(ref.end(), one.begin(), one.end());
    }
    EXPECT_TRUE(close(out, ref));
  }
  Tensor out = output({1, 4, 16});
  HARK_EXPECT_OP_ERROR(ops::attention_batched_qkv(input(uniform(4 * 32), {1, 4, 32}), 2, out),
                       ErrorKind::kInternal, "3 * D");
}

TEST_P(FusedOpsTest, AttentionWithQueriesOfAFusedProjection) {
  const int64_t heads = 2, dh = 8, d = heads * dh, tq = 5, past = 3, tk = past + tq;
  const auto qkv = uniform(size_t(tq * 3 * d), -1.5f, 1.5f);
  const auto k = uniform(size_t(tk * d)), v = uniform(size_t(tk * d));
  Tensor out = output({tq, d});
  ops::attention(input(qkv, {tq, 3 * d}), input(k, {tk, d}), input(v, {tk, d}), int(heads), past,
                 out);
  EXPECT_TRUE(close(out, attend(qkv.data(), 3 * d, k.data(), d, v.data(), d, tq, heads, dh,
                                [&](int64_t i) { return i + past + 1; })));
}

TEST_P(FusedOpsTest, AttentionRowsWithQueriesOfAFusedProjection) {
  for (const int64_t dh : {int64_t(64), int64_t(16)}) {
    const int64_t heads = 2, d = heads * dh, rows = 3, len = 40;
    SCOPED_TRACE(testing::Message() << "dh=" << dh);
    const auto qkv = uniform(size_t(rows * 3 * d), -1.5f, 1.5f);
    const std::vector<int> n_keys{1, 33, 40};
    std::vector<std::vector<float>> kh, vh;
    std::vector<Tensor> kt, vt;
    std::vector<int64_t> ka, va, n;
    for (int64_t r = 0; r < rows; ++r) {
      kh.push_back(uniform(size_t(len * d)));
      vh.push_back(uniform(size_t(len * d)));
      for (size_t i = size_t(n_keys[size_t(r)] * d); i < kh.back().size(); ++i)
        kh.back()[i] = vh.back()[i] = std::numeric_limits<float>::quiet_NaN();
      kt.push_back(input(kh.back(), {len, d}));
      vt.push_back(input(vh.back(), {len, d}));
      ka.push_back(ops::address_of(kt.back()));
      va.push_back(ops::address_of(vt.back()));
      n.push_back(n_keys[size_t(r)]);
    }
    Tensor out = output({rows, d});
    const ops::KvTable kv{upload_i64(bc(), ka), upload_i64(bc(), va), upload_i64(bc(), n),
                          int(len)};
    const int64_t ws = ops::attention_rows_workspace(out, int(heads), int(len));
    Tensor workspace = Tensor::zeros_on(device_of(bc()), DType::kF32, {std::max<int64_t>(ws, 1)});
    ops::attention_rows(input(qkv, {rows, 3 * d}), kv, int(heads), out, workspace);
    std::vector<double> ref;
    for (int64_t r = 0; r < rows; ++r) {
      const auto one =
          attend(qkv.data() + r * 3 * d, 3 * d, kh[size_t(r)].data(), d, vh[size_t(r)].data(), d, 1,
                 heads, dh, [&](int64_t) { return int64_t(n_keys[size_t(r)]); });
      ref.insert(ref.end(), one.begin(), one.end());
    }
    EXPECT_TRUE(close(out, ref));
  }
}

TEST_P(FusedOpsTest, ScatterKvRowsWritesBothCaches) {
  for (const int64_t blocks : {int64_t(3), int64_t(2)}) {  // q | k | v, or k | v
    const int64_t d = 24, ld = blocks * d;
    SCOPED_TRACE(testing::Message() << "blocks=" << blocks);
    const auto k0 = uniform(size_t(6 * d)), v0 = uniform(size_t(6 * d)),
               k1 = uniform(size_t(3 * d)), v1 = uniform(size_t(3 * d)),
               src = uniform(size_t(3 * ld));
    Tensor ka = input(k0, {6, d}), va = input(v0, {6, d}), kb = input(k1, {3, d}),
           vb = input(v1, {3, d});
    ops::scatter_kv_rows(
        input(src, {3, ld}), d,
        upload_i64(bc(), {ops::address_of(ka), ops::address_of(kb), ops::address_of(ka)}),
        upload_i64(bc(), {ops::address_of(va), ops::address_of(vb), ops::address_of(va)}),
        upload_i64(bc(), {5, 2, 0}));
    std::vector<double> rka(k0.begin(), k0.end()), rva(v0.begin(), v0.end()),
        rkb(k1.begin(), k1.end()), rvb(v1.begin(), v1.end());
    const auto put = [&](std::vector<double>& k, std::vector<double>& v, int64_t pos, int64_t r) {
      for (int64_t c = 0; c < d; ++c) {
        k[size_t(pos * d + c)] = src[size_t(r * ld + ld - 2 * d + c)];
        v[size_t(pos * d + c)] = src[size_t(r * ld + ld - d + c)];
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
}

}  // namespace
}  // namespace hark::ops_test
