#include <vector>

#include "core/error.h"
#include "ops/op_harness.h"
#include "ops/ops.h"

namespace hark::ops_test {
namespace {

struct ConvCase {
  int64_t c_in, t, c_out, k;
  int stride, pad;
  int64_t t_out;
};

std::vector<double> conv1d_ref(const std::vector<float>& x, const std::vector<float>& w,
                               const std::vector<float>& b, const ConvCase& s) {
  std::vector<double> y(size_t(s.c_out * s.t_out));
  for (int64_t o = 0; o < s.c_out; ++o)
    for (int64_t t = 0; t < s.t_out; ++t) {
      double acc = b[o];
      for (int64_t c = 0; c < s.c_in; ++c)
        for (int64_t j = 0; j < s.k; ++j) {
          const int64_t src = t * s.stride + j - s.pad;
          if (src >= 0 && src < s.t)
            acc += double(w[(o * s.c_in + c) * s.k + j]) * x[c * s.t + src];
        }
      y[o * s.t_out + t] = acc;
    }
  return y;
}

class Conv1dTest : public OpTest {};
HARK_OP_TEST_SUITE(Conv1dTest);

TEST_P(Conv1dTest, MatchesReference) {
  // Whisper's two convolutions (kernel 3, pad 1, stride 1 then 2, T = 3000) with few channels,
  // and odd shapes around them.
  for (const ConvCase& s :
       {ConvCase{5, 3000, 6, 3, 1, 1, 3000}, ConvCase{6, 3000, 4, 3, 2, 1, 1500},
        ConvCase{3, 7, 2, 3, 2, 1, 4}, ConvCase{1, 1, 1, 1, 1, 0, 1},
        ConvCase{4, 10, 3, 5, 1, 0, 6}, ConvCase{2, 9, 3, 4, 3, 2, 4},
        ConvCase{3, 2, 2, 3, 2, 1, 1}, ConvCase{80, 50, 16, 3, 1, 1, 50}}) {
    SCOPED_TRACE(testing::Message() << "c_in=" << s.c_in << " t=" << s.t << " c_out=" << s.c_out
                                    << " k=" << s.k << " stride=" << s.stride << " pad=" << s.pad);
    const auto x = uniform(size_t(s.c_in * s.t)), w = uniform(size_t(s.c_out * s.c_in * s.k));
    const auto b = uniform(size_t(s.c_out));
    Tensor y = output({s.c_out, s.t_out});
    ops::conv1d(input(x, {s.c_in, s.t}), input(w, {s.c_out, s.c_in, s.k}), input(b, {s.c_out}),
                s.stride, s.pad, y);
    EXPECT_TRUE(close(y, conv1d_ref(x, w, b, s)));
  }
}

TEST_P(Conv1dTest, PatchesThenLinearConvolveEverySequence) {
  // B sequences, channel-major [B, C, T] and time-major [B, T, C]: the patches are copies of the
  // inputs (exact), and linear over them with w as [C_out, C * K] is each sequence's convolution.
  // 16 channels: CUDA's 16-byte row copies for time-major x.
  for (const ConvCase& s : {ConvCase{5, 300, 6, 3, 1, 1, 300}, ConvCase{6, 300, 4, 3, 2, 1, 150},
                            ConvCase{16, 40, 5, 3, 2, 1, 20}, ConvCase{2, 9, 3, 4, 3, 2, 4},
                            ConvCase{3, 2, 2, 3, 2, 1, 1}}) {
    for (const bool channel_major : {true, false}) {
      SCOPED_TRACE(testing::Message()
                   << "c_in=" << s.c_in << " t=" << s.t << " k=" << s.k << " stride=" << s.stride
                   << " channel_major=" << channel_major);
      const int64_t batch = 3, width = s.c_in * s.k;
      const auto x = uniform(size_t(batch * s.c_in * s.t)), w = uniform(size_t(s.c_out * width));
      std::vector<float> w_taps(w.size());  // w [C_out, C, K] as [C_out, K, C]
      for (int64_t o = 0; o < s.c_out; ++o)
        for (int64_t c = 0; c < s.c_in; ++c)
          for (int64_t j = 0; j < s.k; ++j)
            w_taps[size_t((o * s.k + j) * s.c_in + c)] = w[size_t((o * s.c_in + c) * s.k + j)];
      const auto b = uniform(size_t(s.c_out));
      std::vector<float> laid(x.size());  // x in the layout under test
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t c = 0; c < s.c_in; ++c)
          for (int64_t t = 0; t < s.t; ++t)
            laid[size_t(channel_major ? (n * s.c_in + c) * s.t + t : (n * s.t + t) * s.c_in + c)] =
                x[size_t((n * s.c_in + c) * s.t + t)];
      const Tensor xt =
          channel_major ? input(laid, {batch, s.c_in, s.t}) : input(laid, {batch, s.t, s.c_in});
      Tensor patches = output({batch * s.t_out, width});
      ops::conv1d_patches(xt, channel_major, int(s.k), s.stride, s.pad, patches);
      std::vector<double> want_patches;
      for (int64_t n = 0; n < batch; ++n)
        for (int64_t t = 0; t < s.t_out; ++t)
          for (int64_t j = 0; j < s.k; ++j)
            for (int64_t c = 0; c < s.c_in; ++c) {
              const int64_t src = t * s.stride + j - s.pad;
              want_patches.push_back(src >= 0 && src < s.t ? x[size_t((n * s.c_in + c) * s.t + src)]
                                                           : 0.0);
            }
      EXPECT_TRUE(close_to(download(patches), want_patches, 0.0));
      Tensor y = output({batch * s.t_out, s.c_out});
      const Tensor bt = input(b, {s.c_out});
      ops::linear(patches, input(w_taps, {s.c_out, width}), &bt, y);
      std::vector<double> want;  // [B * T_out, C_out]: each sequence's conv1d, transposed
      for (int64_t n = 0; n < batch; ++n) {
        const std::vector<float> xn(x.begin() + n * s.c_in * s.t,
                                    x.begin() + (n + 1) * s.c_in * s.t);
        const std::vector<double> yn = conv1d_ref(xn, w, b, s);
        for (int64_t t = 0; t < s.t_out; ++t)
          for (int64_t o = 0; o < s.c_out; ++o) want.push_back(yn[size_t(o * s.t_out + t)]);
      }
      EXPECT_TRUE(close(y, want));
    }
  }
  Tensor bad = output({10, 12});
  HARK_EXPECT_OP_ERROR(
      ops::conv1d_patches(input(uniform(2 * 5 * 10), {2, 5, 10}), true, 3, 2, 1, bad),
      ErrorKind::kInternal, "out [10,12] should be [10,15]");
}

TEST_P(Conv1dTest, RejectsMismatchedShapes) {
  const Tensor x = input(uniform(4 * 20), {4, 20}), b = input(uniform(6), {6});
  const Tensor w = input(uniform(6 * 5 * 3), {6, 5, 3});
  Tensor y = output({6, 20});
  HARK_EXPECT_OP_ERROR(ops::conv1d(x, w, b, 1, 1, y), ErrorKind::kInternal,
                       "conv1d: x [4,20] and w [6,5,3] disagree on C_in");
  const Tensor w_ok = input(uniform(6 * 4 * 3), {6, 4, 3});
  HARK_EXPECT_OP_ERROR(ops::conv1d(x, w_ok, b, 2, 1, y), ErrorKind::kInternal,
                       "y [6,20] should be [6,10]");
  HARK_EXPECT_OP_ERROR(ops::conv1d(x, w_ok, b, 0, 1, y), ErrorKind::kInternal, "stride 0");
  HARK_EXPECT_OP_ERROR(ops::conv1d(x, w_ok, input(uniform(5), {5}), 1, 1, y), ErrorKind::kInternal,
                       "b [5]");
}

}  // namespace
}  // namespace hark::ops_test
