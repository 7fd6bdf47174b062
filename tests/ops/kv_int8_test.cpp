// Int8 cross-attention K/V on every backend: quantize_kv_int8 against a host reference (the same
// bits: scales and int8 values), dequantize_kv_int8, and attention_rows over int8 K/V (a KvTable
// with scale addresses) against the double-precision reference over the dequantised K/V, in the
// launch shapes of decoding (one row alone: the most key splits; a mix of lengths; many rows).
// The scales are head-major [heads, S] with S (the scale stride) longer than the matrices and
// the launch's max_keys; scales past each matrix's used keys are NaN, so a kernel reading past
// n_keys, or with the old [keys, heads] layout or another stride, fails.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// One matrix [t, heads * dh] quantised per (row, head) on the host.
struct HostInt8 {
  std::vector<int8_t> q;
  std::vector<float> scale;  // [heads, s_ld] head-major: row r, head h at h * s_ld + r; NaN past t
  std::vector<float> deq;    // q * scale, [t, heads * dh]
  int64_t s_ld = 0;
};

HostInt8 quantise_ref(const std::vector<float>& x, int64_t t, int64_t heads, int64_t dh,
                      int64_t ld = -1, int64_t col = 0, int64_t s_ld = -1) {
  const int64_t d = heads * dh;
  if (ld < 0) ld = d;
  HostInt8 out;
  out.s_ld = s_ld < 0 ? t : s_ld;
  out.q.resize(size_t(t * d));
  out.scale.assign(size_t(heads * out.s_ld), kNaN);
  out.deq.resize(size_t(t * d));
  for (int64_t r = 0; r < t; ++r)
    for (int64_t h = 0; h < heads; ++h) {
      const float* src = x.data() + r * ld + col + h * dh;
      float mx = 0.0f;
      for (int64_t e = 0; e < dh; ++e) mx = std::max(mx, std::fabs(src[e]));
      const float s = mx / 127.0f;
      out.scale[size_t(h * out.s_ld + r)] = s;
      for (int64_t e = 0; e < dh; ++e) {
        const float v = s == 0.0f ? 0.0f : std::clamp(std::nearbyint(src[e] / s), -127.0f, 127.0f);
        out.q[size_t(r * d + h * dh + e)] = int8_t(v);
        out.deq[size_t(r * d + h * dh + e)] = v * s;
      }
    }
  return out;
}

template <typename T>
Tensor host_tensor(DType dtype, const std::vector<T>& v, Shape shape, Device device) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  std::copy(v.begin(), v.end(), t.data<T>());
  return t.to(device);
}

template <typename T>
std::vector<T> host_values(const Tensor& t) {
  const Tensor h = t.to(Device::kCpu);
  return std::vector<T>(h.data<T>(), h.data<T>() + h.numel());
}

// Equal bits, NaN included (EXPECT_EQ on vectors treats NaN as unequal).
bool same_floats(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

class KvInt8Test : public OpTest {
 protected:
  // Values of a few magnitudes per head, and a row of one head all zero.
  std::vector<float> kv_values(int64_t t, int64_t c, int64_t dh) {
    std::vector<float> x = uniform(size_t(t * c), -1.0f, 1.0f);
    for (int64_t r = 0; r < t; ++r)
      for (int64_t j = 0; j < c; ++j) x[size_t(r * c + j)] *= 0.1f * float(1 + (r + j / dh) % 13);
    for (int64_t j = 0; j < std::min<int64_t>(dh, c); ++j)
      x[size_t(std::min<int64_t>(3, t - 1) * c + c - j - 1)] = 0.0f;
    representable(x);
    return x;
  }

  // attention_rows over int8 K/V: rows attend matrices which[r] (lengths lens) over n_keys[r],
  // the launch sized for max_keys; every scale matrix is [heads, scale_ld] (scale_ld > max_keys,
  // not a multiple of 4, so neither the matrix length nor max_keys is the stride).
  void check_attention(int64_t heads, int64_t dh, const std::vector<int64_t>& lens,
                       const std::vector<int>& which, const std::vector<int>& n_keys,
                       int max_keys) {
    const int64_t scale_ld = max_keys + 5;
    SCOPED_TRACE(testing::Message() << "heads=" << heads << " dh=" << dh << " rows=" << which.size()
                                    << " max_keys=" << max_keys << " scale_ld=" << scale_ld);
    const Device dev = device_of(bc());
    const int64_t d = heads * dh, rows = int64_t(which.size());
    std::vector<HostInt8> kq, vq;
    std::vector<Tensor> kt, vt, kst, vst;
    for (size_t m = 0; m < lens.size(); ++m) {
      int used = 0;
      for (size_t r = 0; r < which.size(); ++r)
        if (which[r] == int(m)) used = std::max(used, n_keys[r]);
      kq.push_back(quantise_ref(kv_values(lens[m], d, dh), lens[m], heads, dh, -1, 0, scale_ld));
      vq.push_back(quantise_ref(kv_values(lens[m], d, dh), lens[m], heads, dh, -1, 0, scale_ld));
      // NaN past the keys any row uses (quantise_ref already leaves [lens[m], scale_ld) NaN).
      std::vector<float> ks = kq.back().scale, vs = vq.back().scale;
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t j = used; j < scale_ld; ++j)
          ks[size_t(h * scale_ld + j)] = vs[size_t(h * scale_ld + j)] = kNaN;
      kt.push_back(host_tensor(DType::kI8, kq.back().q, {lens[m], d}, dev));
      vt.push_back(host_tensor(DType::kI8, vq.back().q, {lens[m], d}, dev));
      kst.push_back(host_tensor(DType::kF32, ks, {heads, scale_ld}, dev));
      vst.push_back(host_tensor(DType::kF32, vs, {heads, scale_ld}, dev));
    }
    std::vector<int64_t> k_addr, v_addr, ks_addr, vs_addr, n;
    for (int64_t r = 0; r < rows; ++r) {
      const size_t m = size_t(which[size_t(r)]);
      k_addr.push_back(ops::address_of(kt[m]));
      v_addr.push_back(ops::address_of(vt[m]));
      ks_addr.push_back(ops::address_of(kst[m]));
      vs_addr.push_back(ops::address_of(vst[m]));
      n.push_back(n_keys[size_t(r)]);
    }
    const auto q = uniform(size_t(rows * d), -2.0f, 2.0f);
    const Tensor qt = input(q, {rows, d});
    ops::KvTable kv{upload_i64(bc(), k_addr), upload_i64(bc(), v_addr), upload_i64(bc(), n),
                    max_keys};
    kv.k_scales = upload_i64(bc(), ks_addr);
    kv.v_scales = upload_i64(bc(), vs_addr);
    kv.scale_ld = scale_ld;
    const int64_t ws = ops::attention_rows_workspace(qt, int(heads), max_keys);
    Tensor workspace = Tensor::zeros_on(dev, DType::kF32, {std::max<int64_t>(ws, 1)});
    std::vector<double> ref(size_t(rows * d));
    for (int64_t r = 0; r < rows; ++r) {
      const size_t m = size_t(which[size_t(r)]);
      attention_row_ref(q.data() + r * d, kq[m].deq.data(), vq[m].deq.data(), n_keys[size_t(r)],
                        heads, dh, ref.data() + r * d);
    }
    // Twice: CUDA's split merge leaves its counters as it found them for the next launch.
    for (int rep = 0; rep < 2; ++rep) {
      Tensor out = output({rows, d});
      ops::attention_rows(qt, kv, int(heads), out, workspace);
      EXPECT_TRUE(close(out, ref)) << "run " << rep;
    }
  }
};
HARK_OP_TEST_SUITE(KvInt8Test);

TEST_P(KvInt8Test, QuantiseGivesTheReferenceBits) {
  // kv of a fused q | k | v projection (K and V are its last 2d columns) and of k | v alone; the
  // scales head-major [heads, S], S = t (as begin_window for a full window) or longer (the
  // columns past t, NaN here, are left alone).
  const Device dev = device_of(bc());
  for (const int64_t dh : {64, 16, 40}) {
    for (const int64_t blocks : {2, 3}) {
      for (const int64_t pad : {0, 3}) {
        SCOPED_TRACE(testing::Message() << "dh=" << dh << " blocks=" << blocks << " pad=" << pad);
        const int64_t heads = 3, d = heads * dh, t = 37, c = blocks * d, s_ld = t + pad;
        const std::vector<float> x = kv_values(t, c, dh);
        Tensor k = Tensor::zeros_on(dev, DType::kI8, {t, d});
        Tensor v = Tensor::zeros_on(dev, DType::kI8, {t, d});
        const std::vector<float> nan(size_t(heads * s_ld), kNaN);
        Tensor ks = host_tensor(DType::kF32, nan, {heads, s_ld}, dev);
        Tensor vs = host_tensor(DType::kF32, nan, {heads, s_ld}, dev);
        ops::quantize_kv_int8(input(x, {t, c}), int(heads), k, ks, v, vs);
        const HostInt8 kr = quantise_ref(x, t, heads, dh, c, c - 2 * d, s_ld);
        const HostInt8 vr = quantise_ref(x, t, heads, dh, c, c - d, s_ld);
        EXPECT_EQ(host_values<int8_t>(k), kr.q);
        EXPECT_EQ(host_values<int8_t>(v), vr.q);
        EXPECT_TRUE(same_floats(host_values<float>(ks), kr.scale));
        EXPECT_TRUE(same_floats(host_values<float>(vs), vr.scale));
        // The zeroed head (the last of row 3) has scale 0; every value is within half a step of
        // its dequantised one.
        EXPECT_EQ(vr.scale[size_t((heads - 1) * s_ld + 3)], 0.0f);
        for (int64_t r = 0; r < t; ++r)
          for (int64_t j = 0; j < d; ++j)
            ASSERT_LE(std::fabs(x[size_t(r * c + c - d + j)] - vr.deq[size_t(r * d + j)]),
                      0.5001f * vr.scale[size_t((j / dh) * s_ld + r)] + 1e-30f);
      }
    }
  }
}

TEST_P(KvInt8Test, DequantiseIsValueTimesScale) {
  // Scales [heads, S] with S = t and S > t (NaN past t: never read).
  for (const int64_t pad : {0, 6}) {
    SCOPED_TRACE(testing::Message() << "pad=" << pad);
    const int64_t heads = 4, dh = 24, d = heads * dh, t = 29;
    const HostInt8 h = quantise_ref(kv_values(t, d, dh), t, heads, dh, -1, 0, t + pad);
    const Device dev = device_of(bc());
    Tensor out = output({t, d});
    ops::dequantize_kv_int8(host_tensor(DType::kI8, h.q, {t, d}, dev),
                            host_tensor(DType::kF32, h.scale, {heads, t + pad}, dev), int(heads),
                            out);
    EXPECT_TRUE(close(out, std::vector<double>(h.deq.begin(), h.deq.end())));
  }
}

TEST_P(KvInt8Test, AttentionRowsOverInt8KeysAndValues) {
  for (const int64_t dh : {64, 16}) {
    check_attention(3, dh, {1500}, {0}, {1500}, 1500);  // one row: the most splits
    check_attention(2, dh, {1500, 1200}, {1, 0, 1}, {1200, 64, 1}, 1500);
    check_attention(3, dh, {448, 448}, {0, 1, 0, 1}, {5, 448, 77, 130}, 448);
  }
}

TEST_P(KvInt8Test, AttentionRowsManyRowsOverInt8) {
  // Enough (row, head) items that CUDA runs one split per item; 20 heads as large-v3.
  std::vector<int> which(48), n(48);
  for (int r = 0; r < 48; ++r) {
    which[size_t(r)] = r % 3;
    n[size_t(r)] = r % 5 == 0 ? 1500 : 1 + (r * 97) % 1500;
  }
  check_attention(20, 64, {1500, 1500, 1500}, which, n, 1500);
}

TEST_P(KvInt8Test, RejectsBadScaleTables) {
  const Device dev = device_of(bc());
  const Tensor q = input(uniform(2 * 8), {2, 8});
  Tensor out = output({2, 8});
  const Tensor addr = upload_i64(bc(), {0, 0}), n = upload_i64(bc(), {1, 1});
  ops::KvTable kv{addr, addr, n, 4};
  kv.k_scales = upload_i64(bc(), {0});
  kv.v_scales = addr;
  kv.scale_ld = 4;
  const int64_t need = ops::attention_rows_workspace(q, 2, 4);
  Tensor ws = Tensor::zeros_on(dev, DType::kF32, {std::max<int64_t>(need, 1)});
  HARK_EXPECT_OP_ERROR(ops::attention_rows(q, kv, 2, out, ws), ErrorKind::kInternal, "k_scales");
  // A scale stride shorter than the keys the launch is sized for.
  kv.k_scales = addr;
  kv.scale_ld = 3;
  HARK_EXPECT_OP_ERROR(ops::attention_rows(q, kv, 2, out, ws), ErrorKind::kInternal,
                       "scale_ld 3 < max_keys 4");
  // Scales [rows, heads] (the old layout) or with fewer columns than rows.
  Tensor k8 = Tensor::zeros_on(dev, DType::kI8, {3, 8}),
         s = Tensor::zeros_on(dev, DType::kF32, {3, 2});
  Tensor s2 = Tensor::zeros_on(dev, DType::kF32, {2, 3});
  HARK_EXPECT_OP_ERROR(ops::quantize_kv_int8(input(uniform(3 * 16), {3, 16}), 2, k8, s, k8, s2),
                       ErrorKind::kInternal, "k_scale should be F32 [2, >= 3]");
  Tensor s3 = Tensor::zeros_on(dev, DType::kF32, {2, 4});
  HARK_EXPECT_OP_ERROR(ops::quantize_kv_int8(input(uniform(3 * 16), {3, 16}), 2, k8, s2, k8, s3),
                       ErrorKind::kInternal, "v_scale [2,4] should have k_scale's shape [2,3]");
  Tensor deq = output({3, 8});
  HARK_EXPECT_OP_ERROR(ops::dequantize_kv_int8(k8, s, 2, deq), ErrorKind::kInternal,
                       "scale should be F32 [2, >= 3]");
}

}  // namespace
}  // namespace hark::ops_test
