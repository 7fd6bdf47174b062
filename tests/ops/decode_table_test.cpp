// The batched-decoding ops whose per-row data live in I64 tensors on the device (the overloads a
// CUDA graph of a decoder step replays): attention_rows over a KvTable, embed_rows, scatter_rows
// and gather_rows by index tensor, and copy_from_host, on every backend against double loops.
// K/V rows past each row's key count hold NaN, so a kernel that reads past n_keys (a split-K
// chunk sized for max_keys that should have exited early) fails the comparison.
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class DecodeTableTest : public OpTest {
 protected:
  // Rows attend matrices `which[r]` (lengths `lens`) over n_keys[r] keys, the launch sized for
  // max_keys. Rows of a matrix past the largest n_keys that uses it are NaN.
  void check_attention(int64_t heads, int64_t dh, const std::vector<int64_t>& lens,
                       const std::vector<int>& which, const std::vector<int>& n_keys,
                       int max_keys) {
    SCOPED_TRACE(testing::Message() << "heads=" << heads << " dh=" << dh << " rows=" << which.size()
                                    << " max_keys=" << max_keys);
    const int64_t d = heads * dh, rows = int64_t(which.size());
    std::vector<std::vector<float>> kh, vh;
    std::vector<Tensor> kt, vt;
    for (size_t m = 0; m < lens.size(); ++m) {
      int used = 0;
      for (size_t r = 0; r < which.size(); ++r)
        if (which[r] == int(m)) used = std::max(used, n_keys[r]);
      kh.push_back(uniform(size_t(lens[m] * d)));
      vh.push_back(uniform(size_t(lens[m] * d)));
      for (size_t i = size_t(used) * size_t(d); i < kh.back().size(); ++i)
        kh.back()[i] = vh.back()[i] = std::numeric_limits<float>::quiet_NaN();
      kt.push_back(input(kh.back(), {lens[m], d}));
      vt.push_back(input(vh.back(), {lens[m], d}));
    }
    std::vector<int64_t> k_addr, v_addr, n;
    for (int64_t r = 0; r < rows; ++r) {
      k_addr.push_back(ops::address_of(kt[size_t(which[size_t(r)])]));
      v_addr.push_back(ops::address_of(vt[size_t(which[size_t(r)])]));
      n.push_back(n_keys[size_t(r)]);
    }
    const auto q = uniform(size_t(rows * d), -2.0f, 2.0f);
    const Tensor qt = input(q, {rows, d});
    const ops::KvTable kv{upload_i64(bc(), k_addr), upload_i64(bc(), v_addr), upload_i64(bc(), n),
                          max_keys};
    const int64_t ws = ops::attention_rows_workspace(qt, int(heads), max_keys);
    EXPECT_GE(ws, 0);
    Tensor workspace = Tensor::zeros_on(device_of(bc()), DType::kF32, {std::max<int64_t>(ws, 1)});
    Tensor out = output({rows, d});
    ops::attention_rows(qt, kv, int(heads), out, workspace);
    std::vector<double> ref(size_t(rows * d));
    for (int64_t r = 0; r < rows; ++r) {
      const size_t m = size_t(which[size_t(r)]);
      attention_row_ref(q.data() + r * d, kh[m].data(), vh[m].data(), n_keys[size_t(r)], heads, dh,
                        ref.data() + r * d);
    }
    EXPECT_TRUE(close(out, ref));
  }
};
HARK_OP_TEST_SUITE(DecodeTableTest);

TEST_P(DecodeTableTest, AttentionSizedForTheContextReadsOnlyEachRowsKeys) {
  // Self-attention-like: caches of the text context (448), a few keys each; cross-attention-like:
  // windows of 1500 keys; one row alone (the most splits), and a mix.
  for (const int64_t dh : {64, 16}) {
    check_attention(3, dh, {448}, {0}, {1}, 448);
    check_attention(3, dh, {448, 448, 448}, {0, 1, 2, 1}, {5, 448, 77, 130}, 448);
    check_attention(2, dh, {1500, 1500}, {0, 1, 0}, {1500, 1500, 1500}, 1500);
    check_attention(2, dh, {1500, 1200}, {1, 0}, {1200, 64}, 1500);
  }
}

TEST_P(DecodeTableTest, AttentionWithManyRows) {
  // Enough (row, head) items that CUDA runs one split per item.
  std::vector<int> which(96), n(96);
  for (int r = 0; r < 96; ++r) {
    which[size_t(r)] = r % 3;
    n[size_t(r)] = 1 + (r * 37) % 448;
  }
  check_attention(4, 64, {448, 448, 448}, which, n, 448);
}

TEST_P(DecodeTableTest, EmbedRowsByIndexTensor) {
  const int64_t vocab = 50, ctx = 12, d = 24;
  const auto table = uniform(size_t(vocab * d)), pos = uniform(size_t(ctx * d));
  const std::vector<int64_t> ids_pos{3, 0, 49, 11, 0, 5, 3, 5};
  Tensor out = output({4, d});
  ops::embed_rows(input(table, {vocab, d}), input(pos, {ctx, d}),
                  upload_i64(bc(), ids_pos).reshape({4, 2}), out);
  std::vector<double> ref;
  for (size_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < d; ++c)
      ref.push_back(double(table[size_t(ids_pos[2 * r] * d + c)]) +
                    pos[size_t(ids_pos[2 * r + 1] * d + c)]);
  EXPECT_TRUE(close(out, ref));
}

TEST_P(DecodeTableTest, ScatterRowsByAddressTensor) {
  const int64_t d = 40;
  const auto a0 = uniform(size_t(6 * d)), b0 = uniform(size_t(3 * d)), src = uniform(size_t(4 * d));
  Tensor a = input(a0, {6, d}), b = input(b0, {3, d});
  const int64_t pa = ops::address_of(a), pb = ops::address_of(b);
  ops::scatter_rows(input(src, {4, d}), upload_i64(bc(), {pa, pb, pa, pb}),
                    upload_i64(bc(), {5, 0, 1, 2}));
  std::vector<double> ra(a0.begin(), a0.end()), rb(b0.begin(), b0.end());
  for (int64_t c = 0; c < d; ++c) {
    ra[size_t(5 * d + c)] = src[size_t(0 * d + c)];
    rb[size_t(0 * d + c)] = src[size_t(1 * d + c)];
    ra[size_t(1 * d + c)] = src[size_t(2 * d + c)];
    rb[size_t(2 * d + c)] = src[size_t(3 * d + c)];
  }
  EXPECT_TRUE(close(a, ra));
  EXPECT_TRUE(close(b, rb));
}

TEST_P(DecodeTableTest, GatherRowsPicksRowsInAnyOrder) {
  const int64_t d = 33;
  const auto x = uniform(size_t(7 * d));
  const std::vector<int64_t> pick{6, 0, 3, 3};
  Tensor out = output({4, d});
  ops::gather_rows(input(x, {7, d}), upload_i64(bc(), pick), out);
  std::vector<double> ref;
  for (const int64_t i : pick)
    for (int64_t c = 0; c < d; ++c) ref.push_back(x[size_t(i * d + c)]);
  EXPECT_TRUE(close(out, ref));
}

TEST_P(DecodeTableTest, CopyFromHostRoundTrips) {
  const std::vector<int64_t> values{0, -1, 7, int64_t(1) << 47,
                                    std::numeric_limits<int64_t>::min()};
  Tensor dev = Tensor::zeros_on(device_of(bc()), DType::kI64, {5});
  ops::copy_from_host(values, dev);
  const Tensor back = dev.to(Device::kCpu);
  EXPECT_EQ(std::vector<int64_t>(back.data<int64_t>(), back.data<int64_t>() + 5), values);
  std::vector<int64_t> again(values.rbegin(), values.rend());
  ops::copy_from_host(again, dev);  // the staging buffer is reused; the first copy is not redone
  const Tensor back2 = dev.to(Device::kCpu);
  EXPECT_EQ(std::vector<int64_t>(back2.data<int64_t>(), back2.data<int64_t>() + 5), again);
}

TEST_P(DecodeTableTest, RejectsIndexTensorsOfTheWrongKind) {
  const Tensor x = input(uniform(4 * 8), {4, 8});
  Tensor out = output({2, 8});
  const Tensor as_float = input(uniform(2), {2});
  HARK_EXPECT_OP_ERROR(ops::gather_rows(x, as_float, out), ErrorKind::kInternal,
                       "index should be I64 [2]");
  HARK_EXPECT_OP_ERROR(ops::gather_rows(x, upload_i64(bc(), {0, 1, 2}), out), ErrorKind::kInternal,
                       "index should be I64 [2]");
}

}  // namespace
}  // namespace hark::ops_test
