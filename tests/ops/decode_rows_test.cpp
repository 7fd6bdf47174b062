// The batched-decoding ops on every backend against double-precision loops written here:
// attention_batched (the encoder over B windows; on CUDA F16/BF16 with Dh = 64 this is the flash
// kernel), attention_rows (ragged decoder attention, split-K on CUDA), embed_rows, scatter_rows
// and argmax_rows (to the host and on the device), set_token_ids.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

class AttentionBatchedTest : public OpTest {
 protected:
  void check(int64_t batch, int64_t tq, int64_t tk, int64_t heads, int64_t dh, float range = 1.0f) {
    SCOPED_TRACE(testing::Message() << "batch=" << batch << " tq=" << tq << " tk=" << tk
                                    << " heads=" << heads << " dh=" << dh);
    const int64_t d = heads * dh;
    const auto q = uniform(size_t(batch * tq * d), -range, range);
    const auto k = uniform(size_t(batch * tk * d), -range, range);
    const auto v = uniform(size_t(batch * tk * d));
    Tensor out = output({batch, tq, d});
    ops::attention_batched(input(q, {batch, tq, d}), input(k, {batch, tk, d}),
                           input(v, {batch, tk, d}), int(heads), out);
    std::vector<double> ref(size_t(batch * tq * d));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < tq; ++i)
        attention_row_ref(q.data() + (b * tq + i) * d, k.data() + b * tk * d, v.data() + b * tk * d,
                          tk, heads, dh, ref.data() + (b * tq + i) * d);
    EXPECT_TRUE(close(out, ref));
  }
};
HARK_OP_TEST_SUITE(AttentionBatchedTest);

TEST_P(AttentionBatchedTest, FlashShapes) {
  // Dh = 64: whole and partial 64-query blocks and 64-key tiles, one key, and the encoder length.
  check(1, 64, 64, 1, 64);
  check(2, 100, 77, 2, 64);
  check(3, 5, 1, 2, 64);
  check(1, 130, 1500, 1, 64);
}

TEST_P(AttentionBatchedTest, SharpScores) { check(2, 70, 200, 2, 64, 6.0f); }

TEST_P(AttentionBatchedTest, OtherHeadSizesFallBack) {
  check(2, 9, 13, 3, 16);
  check(1, 4, 33, 2, 80);
}

TEST_P(AttentionBatchedTest, RejectsMismatchedShapes) {
  const Tensor q = input(uniform(2 * 4 * 8), {2, 4, 8});
  const Tensor k = input(uniform(3 * 5 * 8), {3, 5, 8});
  Tensor out = output({2, 4, 8});
  HARK_EXPECT_OP_ERROR(ops::attention_batched(q, k, k, 2, out), ErrorKind::kInternal,
                       "disagree on B");
}

class AttentionRowsTest : public OpTest {};
HARK_OP_TEST_SUITE(AttentionRowsTest);

TEST_P(AttentionRowsTest, RaggedRowsAgainstTheirOwnKeys) {
  // Three K/V matrices (two caches and an encoder-length window), rows of different lengths, two
  // rows sharing a matrix. Few rows on a long matrix exercise the split-K merge on CUDA.
  for (const int64_t dh : {64, 16}) {
    SCOPED_TRACE(testing::Message() << "dh=" << dh);
    const int64_t heads = 3, d = heads * dh;
    const std::vector<int64_t> lens{40, 448, 1500};
    std::vector<std::vector<float>> kh, vh;
    std::vector<Tensor> kt, vt;
    for (int64_t t : lens) {
      kh.push_back(uniform(size_t(t * d)));
      vh.push_back(uniform(size_t(t * d)));
      kt.push_back(input(kh.back(), {t, d}));
      vt.push_back(input(vh.back(), {t, d}));
    }
    const std::vector<int> which{0, 1, 2, 1, 0};
    const std::vector<int> n_keys{1, 448, 1500, 17, 40};
    const int64_t rows = int64_t(which.size());
    const auto q = uniform(size_t(rows * d), -2.0f, 2.0f);
    ops::KvRows kv;
    for (int64_t r = 0; r < rows; ++r) {
      kv.keys.push_back(&kt[size_t(which[size_t(r)])]);
      kv.values.push_back(&vt[size_t(which[size_t(r)])]);
      kv.n_keys.push_back(n_keys[size_t(r)]);
    }
    Tensor out = output({rows, d});
    ops::attention_rows(input(q, {rows, d}), kv, int(heads), out);
    std::vector<double> ref(size_t(rows * d));
    for (int64_t r = 0; r < rows; ++r) {
      const size_t m = size_t(which[size_t(r)]);
      attention_row_ref(q.data() + r * d, kh[m].data(), vh[m].data(), n_keys[size_t(r)], heads, dh,
                        ref.data() + r * d);
    }
    EXPECT_TRUE(close(out, ref));
  }
}

TEST_P(AttentionRowsTest, ManyRowsOneSplit) {
  // Enough (row, head) items that CUDA runs one split per item (no merge pass).
  const int64_t heads = 4, dh = 64, d = heads * dh, rows = 96, t = 300;
  const auto k = uniform(size_t(t * d)), v = uniform(size_t(t * d));
  const Tensor kt = input(k, {t, d}), vt = input(v, {t, d});
  const auto q = uniform(size_t(rows * d));
  ops::KvRows kv;
  for (int64_t r = 0; r < rows; ++r) {
    kv.keys.push_back(&kt);
    kv.values.push_back(&vt);
    kv.n_keys.push_back(int(1 + (r * 37) % t));
  }
  Tensor out = output({rows, d});
  ops::attention_rows(input(q, {rows, d}), kv, int(heads), out);
  std::vector<double> ref(size_t(rows * d));
  for (int64_t r = 0; r < rows; ++r)
    attention_row_ref(q.data() + r * d, k.data(), v.data(), kv.n_keys[size_t(r)], heads, dh,
                      ref.data() + r * d);
  EXPECT_TRUE(close(out, ref));
}

TEST_P(AttentionRowsTest, RejectsBadLengths) {
  const Tensor q = input(uniform(2 * 8), {2, 8}), k = input(uniform(4 * 8), {4, 8});
  Tensor out = output({2, 8});
  ops::KvRows kv{{&k, &k}, {&k, &k}, {4, 5}};
  HARK_EXPECT_OP_ERROR(ops::attention_rows(q, kv, 2, out), ErrorKind::kInternal,
                       "row 1: 5 keys asked of a matrix of 4");
  ops::KvRows short_kv{{&k}, {&k}, {1}};
  HARK_EXPECT_OP_ERROR(ops::attention_rows(q, short_kv, 2, out), ErrorKind::kInternal,
                       "2 query rows but 1 keys");
}

class RowMovesTest : public OpTest {};
HARK_OP_TEST_SUITE(RowMovesTest);

TEST_P(RowMovesTest, EmbedRowsAddsTokenAndPosition) {
  const int64_t vocab = 50, ctx = 12, d = 24;
  const auto table = uniform(size_t(vocab * d)), pos = uniform(size_t(ctx * d));
  const std::vector<int> ids{3, 49, 0, 3}, positions{0, 11, 5, 5};
  Tensor out = output({4, d});
  ops::embed_rows(input(table, {vocab, d}), input(pos, {ctx, d}), ids, positions, out);
  std::vector<double> ref;
  for (size_t r = 0; r < ids.size(); ++r)
    for (int64_t c = 0; c < d; ++c)
      ref.push_back(double(table[size_t(ids[r] * d + c)]) + pos[size_t(positions[r] * d + c)]);
  EXPECT_TRUE(close(out, ref));
  const std::vector<int> bad{50};
  const std::vector<int> p0{0};
  Tensor one = output({1, d});
  HARK_EXPECT_OP_ERROR(
      ops::embed_rows(input(table, {vocab, d}), input(pos, {ctx, d}), bad, p0, one),
      ErrorKind::kInvalidArgument, "token 50 outside the vocabulary of 50");
}

TEST_P(RowMovesTest, ScatterRowsWritesEachRowToItsDestination) {
  const int64_t d = 40;
  const auto a0 = uniform(size_t(6 * d)), b0 = uniform(size_t(3 * d)), src = uniform(size_t(4 * d));
  Tensor a = input(a0, {6, d}), b = input(b0, {3, d});
  const std::vector<Tensor*> dst{&a, &b, &a, &b};
  const std::vector<int> positions{5, 0, 1, 2};
  ops::scatter_rows(input(src, {4, d}), dst, positions);
  std::vector<double> ra(a0.begin(), a0.end()), rb(b0.begin(), b0.end());
  for (int64_t c = 0; c < d; ++c) {
    ra[size_t(5 * d + c)] = src[size_t(0 * d + c)];
    rb[size_t(0 * d + c)] = src[size_t(1 * d + c)];
    ra[size_t(1 * d + c)] = src[size_t(2 * d + c)];
    rb[size_t(2 * d + c)] = src[size_t(3 * d + c)];
  }
  EXPECT_TRUE(close(a, ra));
  EXPECT_TRUE(close(b, rb));
  const std::vector<int> past{6};
  const std::vector<Tensor*> one{&a};
  HARK_EXPECT_OP_ERROR(ops::scatter_rows(input(src, {4, d}).slice_rows(0, 1), one, past),
                       ErrorKind::kInternal, "position 6 outside destination [6,40]");
}

TEST_P(RowMovesTest, ArgmaxRowsSkipsTheExcludedColumnAndTakesTheFirstTie) {
  const int64_t n = 3000;
  auto x = uniform(size_t(3 * n));
  x[size_t(0 * n + 2999)] = 5.0f;  // row 0: the last column
  x[size_t(1 * n + 7)] = 4.0f;     // row 1: the best is excluded, then a tie at 100 and 200
  x[size_t(1 * n + 100)] = 3.0f;
  x[size_t(1 * n + 200)] = 3.0f;
  x[size_t(2 * n + 0)] = 2.0f;  // row 2: the first column
  const std::vector<int> got = ops::argmax_rows(input(x, {3, n}), 7);
  EXPECT_EQ(got, (std::vector<int>{2999, 100, 0}));
  const std::vector<int> plain = ops::argmax_rows(input(x, {3, n}));
  EXPECT_EQ(plain[1], 7);
}

TEST_P(RowMovesTest, ArgmaxRowsOverAVocabularyWideRow) {
  // 51,866 columns (large-v3's vocabulary): the CUDA kernel splits a row over many blocks, so
  // ties and the excluded column must be settled across splits too.
  const int64_t n = 51866;
  auto x = uniform(size_t(3 * n));
  x[size_t(0 * n + 40000)] = 3.0f;  // row 0: a tie far apart, the first one wins
  x[size_t(0 * n + 50000)] = 3.0f;
  x[size_t(1 * n + 51865)] = 4.0f;  // row 1: the last column
  x[size_t(2 * n + 30000)] = 6.0f;  // row 2: the best is excluded; the next is in an early split
  x[size_t(2 * n + 5)] = 5.0f;
  representable(x);
  EXPECT_EQ(ops::argmax_rows(input(x, {3, n}), 30000), (std::vector<int>{40000, 51865, 5}));
  EXPECT_EQ(ops::argmax_rows(input(x, {3, n}))[2], 30000);
}

// The I32 picks of argmax_rows' device form, as host ints.
std::vector<int> host_ints(const Tensor& t) {
  const Tensor h = t.to(Device::kCpu);
  return std::vector<int>(h.data<int>(), h.data<int>() + h.numel());
}

TEST_P(RowMovesTest, ArgmaxRowsOnTheDeviceMatchesTheHostForm) {
  const int64_t n = 51866, rows = 5;
  auto x = uniform(size_t(rows * n));
  x[size_t(0 * n + 12345)] = 3.0f;  // row 0: a tie, the first wins
  x[size_t(0 * n + 40000)] = 3.0f;
  x[size_t(3 * n + 50257)] = 9.0f;  // row 3: the best is excluded
  x[size_t(3 * n + 17)] = 8.0f;
  representable(x);
  const Tensor xt = input(x, {rows, n});
  Tensor out = Tensor::zeros(DType::kI32, {rows}).to(xt.device());
  ops::argmax_rows(xt, 50257, out);
  const std::vector<int> got = host_ints(out);
  EXPECT_EQ(got, ops::argmax_rows(xt, 50257));
  EXPECT_EQ(got[0], 12345);
  EXPECT_EQ(got[3], 17);
  Tensor wrong = Tensor::zeros(DType::kI64, {rows}).to(xt.device());
  HARK_EXPECT_OP_ERROR(ops::argmax_rows(xt, -1, wrong), ErrorKind::kInternal,
                       "out should be I32 [5]");
}

TEST_P(RowMovesTest, SetTokenIdsWritesTheIdColumnOnly) {
  const Device dev = device_of(bc());
  Tensor ids = Tensor::zeros(DType::kI32, {4});
  const int picks[] = {7, 0, 50, -3};  // the last two outside a vocabulary of 50
  std::copy(std::begin(picks), std::end(picks), ids.data<int>());
  Tensor ids_pos = upload_i64(bc(), {1, 10, 2, 11, 3, 12, 4, 13});
  ops::set_token_ids(ids.to(dev), 50, ids_pos);
  const Tensor h = ids_pos.to(Device::kCpu);
  EXPECT_EQ(std::vector<int64_t>(h.data<int64_t>(), h.data<int64_t>() + 8),
            (std::vector<int64_t>{7, 10, 0, 11, 0, 12, 0, 13}));
  Tensor short_pairs = upload_i64(bc(), {1, 2, 3});
  HARK_EXPECT_OP_ERROR(ops::set_token_ids(ids.to(dev), 50, short_pairs), ErrorKind::kInternal,
                       "ids_pos should be I64 [4, 2]");
}

}  // namespace
}  // namespace hark::ops_test
