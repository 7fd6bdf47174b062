#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

struct AttnCase {
  int64_t tq, tk, heads, dh;
  int64_t causal_offset;
};

struct AttnRef {
  std::vector<double> out, weights;
};

// Raw pointers rather than vector indexing keep this quick in Debug + ASan builds.
AttnRef attention_ref(const std::vector<float>& q, const std::vector<float>& k,
                      const std::vector<float>& v, const AttnCase& s) {
  const int64_t d = s.heads * s.dh;
  AttnRef ref{std::vector<double>(size_t(s.tq * d)),
              std::vector<double>(size_t(s.heads * s.tq * s.tk), 0.0)};
  std::vector<double> scores(size_t(s.tk)), acc(size_t(s.dh));
  double* p = scores.data();
  for (int64_t h = 0; h < s.heads; ++h)
    for (int64_t i = 0; i < s.tq; ++i) {
      const int64_t n = s.causal_offset < 0 ? s.tk : std::min(s.tk, i + s.causal_offset + 1);
      const float* qi = q.data() + i * d + h * s.dh;
      double mx = -INFINITY, sum = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        const float* kj = k.data() + j * d + h * s.dh;
        double dot = 0.0;
        for (int64_t e = 0; e < s.dh; ++e) dot += double(qi[e]) * kj[e];
        p[j] = dot / std::sqrt(double(s.dh));
        mx = std::max(mx, p[j]);
      }
      for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(p[j] - mx));
      double* w = ref.weights.data() + (h * s.tq + i) * s.tk;
      double* a = acc.data();
      for (int64_t e = 0; e < s.dh; ++e) a[e] = 0.0;
      for (int64_t j = 0; j < n; ++j) {
        w[j] = p[j] / sum;
        const float* vj = v.data() + j * d + h * s.dh;
        for (int64_t e = 0; e < s.dh; ++e) a[e] += w[j] * vj[e];
      }
      for (int64_t e = 0; e < s.dh; ++e) ref.out[i * d + h * s.dh + e] = a[e];
    }
  return ref;
}

class AttentionTest : public OpTest {
 protected:
  void check(const AttnCase& s, bool with_weights, float range = 1.0f) {
    SCOPED_TRACE(testing::Message()
                 << "tq=" << s.tq << " tk=" << s.tk << " heads=" << s.heads << " dh=" << s.dh
                 << " causal_offset=" << s.causal_offset << " weights=" << with_weights);
    const int64_t d = s.heads * s.dh;
    const auto q = uniform(size_t(s.tq * d), -range, range);
    const auto k = uniform(size_t(s.tk * d), -range, range);
    const auto v = uniform(size_t(s.tk * d));
    Tensor out = output({s.tq, d});
    Tensor w = output({s.heads, s.tq, s.tk});
    ops::attention(input(q, {s.tq, d}), input(k, {s.tk, d}), input(v, {s.tk, d}), int(s.heads),
                   s.causal_offset, out, with_weights ? &w : nullptr);
    const AttnRef ref = attention_ref(q, k, v, s);
    EXPECT_TRUE(close(out, ref.out));
    if (!with_weights) return;
    EXPECT_TRUE(close(w, ref.weights));
    const auto got = download(w);
    for (int64_t r = 0; r < s.heads * s.tq; ++r) {
      double sum = 0.0;
      for (const float* p = got.data() + r * s.tk; p < got.data() + (r + 1) * s.tk; ++p) sum += *p;
      EXPECT_NEAR(sum, 1.0, std::max(1e-5, bc().tolerance)) << "row " << r;
    }
  }
};
HARK_OP_TEST_SUITE(AttentionTest);

TEST_P(AttentionTest, Unmasked) {
  for (const AttnCase& s : {AttnCase{1, 1, 1, 8, -1}, AttnCase{7, 13, 3, 5, -1},
                            AttnCase{4, 1500, 6, 64, -1}, AttnCase{70, 33, 2, 24, -1}})
    for (bool w : {false, true}) check(s, w);
}

TEST_P(AttentionTest, CausalWithoutCache) {
  for (const AttnCase& s : {AttnCase{9, 9, 2, 8, 0}, AttnCase{300, 300, 6, 64, 0}})
    for (bool w : {false, true}) check(s, w);
}

TEST_P(AttentionTest, CausalWithCache) {
  // Tk = offset + Tq (a KV cache of `offset` positions), and a key range longer than any query
  // sees (offset + Tq < Tk).
  for (const AttnCase& s :
       {AttnCase{5, 12, 2, 8, 7}, AttnCase{17, 30, 3, 4, 2}, AttnCase{40, 140, 4, 16, 100}})
    for (bool w : {false, true}) check(s, w);
}

TEST_P(AttentionTest, DecodeStep) {
  // One query against a cache (self-attention) and against the encoder output (cross-attention).
  for (const AttnCase& s : {AttnCase{1, 37, 4, 16, 36}, AttnCase{1, 1, 6, 64, 0},
                            AttnCase{1, 1500, 6, 64, -1}, AttnCase{1, 448, 20, 64, 447}})
    for (bool w : {false, true}) check(s, w);
}

TEST_P(AttentionTest, EncoderShape) {
  // Whisper's encoder self-attention length, with few narrow heads to keep the reference quick.
  check(AttnCase{1500, 1500, 2, 16, -1}, true);
}

TEST_P(AttentionTest, SharpScoresStayStable) { check(AttnCase{6, 50, 2, 32, -1}, true, 8.0f); }

TEST_P(AttentionTest, SameResultOnOneAndAllThreads) {
  ThreadCountGuard guard;
  for (int threads : {1, 0}) {
    ops::set_num_threads(threads);
    SCOPED_TRACE(testing::Message() << "threads " << threads);
    check(AttnCase{130, 130, 3, 16, 0}, true);
    check(AttnCase{1, 64, 3, 16, 63}, false);
  }
}

TEST_P(AttentionTest, RejectsMismatchedShapes) {
  const Tensor q = input(uniform(4 * 12), {4, 12}), k = input(uniform(6 * 12), {6, 12});
  const Tensor v = input(uniform(6 * 12), {6, 12});
  Tensor out = output({4, 12});
  HARK_EXPECT_OP_ERROR(ops::attention(q, k, v, 5, -1, out), ErrorKind::kInternal,
                       "attention: q [4,12] does not split into 5 heads");
  const Tensor v_bad = input(uniform(5 * 12), {5, 12});
  HARK_EXPECT_OP_ERROR(ops::attention(q, k, v_bad, 3, -1, out), ErrorKind::kInternal, "v [5,12]");
  Tensor w_bad = output({3, 4, 5});
  HARK_EXPECT_OP_ERROR(ops::attention(q, k, v, 3, -1, out, &w_bad), ErrorKind::kInternal,
                       "weights [3,4,5] should be [3,4,6]");
  Tensor out_bad = output({4, 11});
  HARK_EXPECT_OP_ERROR(ops::attention(q, k, v, 3, -1, out_bad), ErrorKind::kInternal, "out [4,11]");
  const Tensor k0 = input({}, {0, 12});
  HARK_EXPECT_OP_ERROR(ops::attention(q, k0, k0, 3, -1, out), ErrorKind::kInternal, "no keys");
}

}  // namespace
}  // namespace hark::ops_test
