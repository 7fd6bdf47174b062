// The batched forward passes against the one-window, one-sequence ones on the CPU, with the
// committed random-weight fixture: encode_batch over several windows equals encode of each, and
// decode_batch over sequences of different windows, prompt lengths and positions (joining and
// leaving between steps) gives each sequence the logits decode gives it alone.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "support/test_env.h"

namespace hark::model {
namespace {

double rel_error(const float* a, const float* b, int64_t n) {
  double num = 0.0, den = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

class BatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ckpt_ = new Checkpoint(load_checkpoint(testing::test_data("models/tiny-v3-random")));
    model_ = new WhisperModel(*ckpt_);
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ckpt_;
  }
  // A deterministic mel-like window, different per seed.
  static Tensor mel(int seed) {
    const ModelConfig& c = ckpt_->config;
    Tensor m = Tensor::zeros(DType::kF32, {c.n_mels, 2 * c.n_audio_ctx});
    for (int64_t i = 0; i < m.numel(); ++i)
      m.data<float>()[i] = float(std::sin(0.37 * double(i % 9973) + seed) * 0.8);
    return m;
  }
  static Checkpoint* ckpt_;
  static WhisperModel* model_;
};
Checkpoint* BatchTest::ckpt_ = nullptr;
WhisperModel* BatchTest::model_ = nullptr;

TEST_F(BatchTest, EncodeBatchEqualsEncodeOfEachWindow) {
  const ModelConfig& c = ckpt_->config;
  const int64_t frames = 2 * c.n_audio_ctx, per = c.n_mels * frames;
  Tensor mels = Tensor::zeros(DType::kF32, {3, c.n_mels, frames});
  for (int b = 0; b < 3; ++b) std::copy_n(mel(b).data<float>(), per, mels.data<float>() + b * per);
  const Tensor batch = model_->encode_batch(mels);
  ASSERT_EQ(batch.shape(), (Shape{3, c.n_audio_ctx, c.n_audio_state}));
  const int64_t out = c.n_audio_ctx * c.n_audio_state;
  for (int b = 0; b < 3; ++b) {
    const Tensor one = model_->encode(mel(b));
    EXPECT_LT(rel_error(batch.data<float>() + b * out, one.data<float>(), out), 1e-6) << b;
  }
  // Windows really differ, so a mix-up between them would show.
  EXPECT_GT(rel_error(batch.data<float>(), batch.data<float>() + out, out), 1e-2);
}

TEST_F(BatchTest, DecodeBatchEqualsDecodeOfEachSequence) {
  const GenerationConfig& g = ckpt_->generation;
  const int v = ckpt_->config.n_vocab;
  const Tensor enc_a = model_->encode(mel(0)), enc_b = model_->encode(mel(1));
  // Sequence 0 and 1 share window a; 2 is on window b. Different prompts and lengths.
  const std::vector<std::vector<int>> prompts{
      {g.sot, g.transcribe, 440, 1000}, {g.sot}, {g.sot, g.transcribe, 50, 60, 70, 80, 90}};
  const std::vector<const Tensor*> windows{&enc_a, &enc_a, &enc_b};
  std::vector<DecoderState> batch_states, solo_states;
  for (const Tensor* w : windows) {
    batch_states.push_back(model_->begin_window(*w));
    solo_states.push_back(model_->begin_window(*w));
  }
  auto expect_same = [&](std::vector<int> seqs, const std::vector<std::vector<int>>& toks) {
    std::vector<DecoderState*> states;
    std::vector<std::span<const int>> spans;
    for (size_t i = 0; i < seqs.size(); ++i) {
      states.push_back(&batch_states[size_t(seqs[i])]);
      spans.emplace_back(toks[i]);
    }
    const Tensor got = model_->decode_batch(states, spans);
    ASSERT_EQ(got.shape(), (Shape{int64_t(seqs.size()), v}));
    const std::vector<int> picked = ops::argmax_rows(got);
    for (size_t i = 0; i < seqs.size(); ++i) {
      const Tensor want = model_->decode(solo_states[size_t(seqs[i])], toks[i]);
      EXPECT_LT(rel_error(got.data<float>() + int64_t(i) * v, want.data<float>(), v), 1e-5)
          << "sequence " << seqs[i];
      EXPECT_EQ(batch_states[size_t(seqs[i])].n_past, solo_states[size_t(seqs[i])].n_past);
      const float* row = want.data<float>();
      EXPECT_EQ(picked[i], int(std::max_element(row, row + v) - row));
    }
  };
  expect_same({0, 1, 2}, prompts);
  expect_same({2, 0}, {{17}, {18}});           // sequence 1 leaves for a step
  expect_same({1, 2, 0}, {{5, 6}, {7}, {8}});  // it comes back with two tokens
  expect_same({1}, {{9}});
}

// I32 picks as host ints.
std::vector<int> ints(const Tensor& t) {
  const Tensor h = t.to(Device::kCpu);
  return std::vector<int>(h.data<int>(), h.data<int>() + h.numel());
}

TEST_F(BatchTest, DecodeBatchGreedyEqualsDecodeBatchWithHostPicks) {
  const GenerationConfig& g = ckpt_->generation;
  const Tensor enc_a = model_->encode(mel(0)), enc_b = model_->encode(mel(1));
  const std::vector<std::vector<int>> prompts{{g.sot, g.transcribe}, {g.sot}, {g.sot, 50, 60}};
  std::vector<DecoderState> host_states, dev_states;
  for (const Tensor* w : {&enc_a, &enc_b, &enc_a}) {
    host_states.push_back(model_->begin_window(*w));
    dev_states.push_back(model_->begin_window(*w));
  }
  std::vector<DecoderState*> hp, dp;
  for (size_t i = 0; i < 3; ++i) {
    hp.push_back(&host_states[i]);
    dp.push_back(&dev_states[i]);
  }
  const std::vector<std::span<const int>> first(prompts.begin(), prompts.end());
  std::vector<int> picked = ops::argmax_rows(model_->decode_batch(hp, first), g.eot);
  Tensor ids = Tensor::zeros(DType::kI32, {3});
  ops::argmax_rows(model_->decode_batch(dp, first), g.eot, ids);
  ASSERT_EQ(ints(ids), picked);
  for (int step = 0; step < 6; ++step) {
    std::vector<std::vector<int>> next;
    for (int p : picked) next.push_back({p});
    const std::vector<std::span<const int>> spans(next.begin(), next.end());
    picked = ops::argmax_rows(model_->decode_batch(hp, spans), g.eot);
    model_->decode_batch_greedy(dp, ids, g.eot, ids);
    EXPECT_EQ(ints(ids), picked) << "step " << step;
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(dev_states[i].n_past, host_states[i].n_past);
  Tensor wide = Tensor::zeros(DType::kI64, {3});
  EXPECT_THROW(model_->decode_batch_greedy(dp, wide, g.eot, ids), Error);
  Tensor two = Tensor::zeros(DType::kI32, {2});
  EXPECT_THROW(model_->decode_batch_greedy(dp, ids, g.eot, two), Error);
  EXPECT_EQ(dev_states[0].n_past, host_states[0].n_past);
}

TEST_F(BatchTest, DecodeBatchRejectsBadInput) {
  const Tensor enc = model_->encode(mel(0));
  DecoderState st = model_->begin_window(enc);
  DecoderState* one[] = {&st};
  const std::vector<int> empty;
  const std::span<const int> none[] = {empty};
  EXPECT_THROW(model_->decode_batch(one, none), Error);
  const std::vector<int> too_far(size_t(ckpt_->config.n_text_ctx) + 1, 1);
  const std::span<const int> far[] = {too_far};
  EXPECT_THROW(model_->decode_batch(one, far), Error);
  DecoderState* twice[] = {&st, &st};
  const std::vector<int> one_tok{1};
  const std::span<const int> two[] = {one_tok, one_tok};
  EXPECT_THROW(model_->decode_batch(twice, two), Error);
  EXPECT_EQ(st.n_past, 0);
  DecoderState blank;
  DecoderState* bad[] = {&blank};
  const std::vector<int> tok{1};
  const std::span<const int> t[] = {tok};
  EXPECT_THROW(model_->decode_batch(bad, t), Error);
}

}  // namespace
}  // namespace hark::model
