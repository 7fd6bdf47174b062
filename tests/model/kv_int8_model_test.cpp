// The CPU model with int8 cross-attention K/V (ModelPlacement::int8_cross_kv, --cross-kv int8)
// against the same model with fp32 cross K/V, on the committed random-weight fixture
// tiny-v3-random. Only the window's cross K/V change (each value within half a step,
// scale / 2, of its fp32 value: about 0.5 % relative RMS for heads of 64), so the logits move
// little: measured ~1e-3 relative here (deterministic: fixed weights and input); bound 1e-2, and
// a floor that proves the int8 path ran. decode() (dequantises, then the float attention) and
// decode_batch (attention rows over int8 K/V) must give the same logits up to fp32 rounding, and
// greedy decoding through decode_batch must pick the float model's tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/placement.h"
#include "model/safetensors.h"
#include "model/whisper_model.h"
#include "ops/ops.h"
#include "support/compare.h"
#include "support/test_env.h"

namespace hark::model {
namespace {

using testing::rel_error;
using testing::top1_agreement;

class KvInt8ModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = testing::test_data("models/tiny-v3-random");
    ckpt_ = new Checkpoint(load_checkpoint(dir));
    f32_ = new WhisperModel(*ckpt_);
    ModelPlacement p;
    p.int8_cross_kv = true;
    kv8_ = new WhisperModel(*ckpt_, p);
    const SafetensorsWeights ref = read_safetensors(dir + "/reference.safetensors");
    enc_ = new Tensor(f32_->encode(ref.tensors.at("mel").to_f32()));
    ids_ = new std::vector<int>(testing::token_ids(ref.tensors.at("tf_input_ids")));
  }
  static void TearDownTestSuite() {
    delete ids_;
    delete enc_;
    delete kv8_;
    delete f32_;
    delete ckpt_;
  }
  static Tensor logits(const WhisperModel& m) {
    DecoderState st = m.begin_window(*enc_);
    return m.decode(st, *ids_, /*all_logits=*/true);
  }
  // `steps` greedy tokens after sot through decode_batch (batch of `copies` identical windows,
  // so rows of one step share nothing but the weights).
  static std::vector<int> greedy(const WhisperModel& m, int steps, int copies) {
    std::vector<DecoderState> st;
    for (int i = 0; i < copies; ++i) st.push_back(m.begin_window(*enc_));
    std::vector<DecoderState*> ptr;
    for (DecoderState& s : st) ptr.push_back(&s);
    std::vector<int> out{ckpt_->generation.sot};
    for (int i = 0; i < steps; ++i) {
      std::vector<std::span<const int>> toks(size_t(copies), std::span<const int>(&out.back(), 1));
      const std::vector<int> picks = ops::argmax_rows(m.decode_batch(ptr, toks));
      for (const int p : picks) EXPECT_EQ(p, picks[0]) << "step " << i;
      out.push_back(picks[0]);
    }
    return out;
  }
  static Checkpoint* ckpt_;
  static WhisperModel *f32_, *kv8_;
  static Tensor* enc_;
  static std::vector<int>* ids_;
};
Checkpoint* KvInt8ModelTest::ckpt_ = nullptr;
WhisperModel* KvInt8ModelTest::f32_ = nullptr;
WhisperModel* KvInt8ModelTest::kv8_ = nullptr;
Tensor* KvInt8ModelTest::enc_ = nullptr;
std::vector<int>* KvInt8ModelTest::ids_ = nullptr;

TEST_F(KvInt8ModelTest, StateHoldsInt8KeysValuesAndScales) {
  const DecoderState st = kv8_->begin_window(*enc_);
  const ModelConfig& c = ckpt_->config;
  ASSERT_EQ(int(st.cross_k.size()), c.n_text_layer);
  ASSERT_EQ(st.cross_k_scale.size(), st.cross_k.size());
  ASSERT_EQ(st.cross_v_scale.size(), st.cross_k.size());
  for (size_t l = 0; l < st.cross_k.size(); ++l) {
    EXPECT_EQ(st.cross_k[l].dtype(), DType::kI8);
    EXPECT_EQ(st.cross_v[l].dtype(), DType::kI8);
    EXPECT_EQ(st.cross_k[l].shape(), (Shape{c.n_audio_ctx, c.n_text_state}));
    EXPECT_EQ(st.cross_k_scale[l].dtype(), DType::kF32);
    // Head-major: a head's scales of every key position are contiguous.
    EXPECT_EQ(st.cross_k_scale[l].shape(), (Shape{c.n_text_head, c.n_audio_ctx}));
    EXPECT_EQ(st.cross_v_scale[l].shape(), (Shape{c.n_text_head, c.n_audio_ctx}));
    EXPECT_EQ(st.self_k[l].dtype(), DType::kF32) << "self-attention K/V stay in the compute dtype";
  }
  // The float model's states: no scales.
  EXPECT_TRUE(f32_->begin_window(*enc_).cross_k_scale.empty());
}

TEST_F(KvInt8ModelTest, TeacherForcedLogitsCloseToFloatCrossKv) {
  const Tensor ref = logits(*f32_), got = logits(*kv8_);
  const double agree = top1_agreement(got, ref), err = rel_error(got, ref);
  std::printf(
      "int8 cross K/V logits: top-1 agreement %.3f over %lld positions, ||d||/||ref|| = %.3g\n",
      agree, static_cast<long long>(ref.dim(0)), err);
  EXPECT_GE(agree, 0.95);
  EXPECT_LT(err, 1e-2);
  EXPECT_GT(err, 1e-6) << "identical to fp32 cross K/V: the int8 K/V were not used";
}

TEST_F(KvInt8ModelTest, DecodeAndDecodeBatchAgree) {
  // decode() dequantises and runs the float attention; decode_batch reads the int8 K/V in the
  // attention rows: the same values, summed in another order.
  const Tensor all = logits(*kv8_);
  DecoderState st = kv8_->begin_window(*enc_), st_b = kv8_->begin_window(*enc_);
  for (size_t i = 0; i < ids_->size(); ++i) {
    const std::span<const int> tok(&(*ids_)[i], 1);
    const Tensor one = kv8_->decode(st, tok);
    DecoderState* states[] = {&st_b};
    const std::span<const int> toks[] = {tok};
    const Tensor batched = kv8_->decode_batch(states, toks);
    const Tensor row = all.slice_rows(int64_t(i), int64_t(i) + 1);
    EXPECT_LT(rel_error(one, row), 1e-4) << "position " << i;
    EXPECT_LT(rel_error(batched, row), 1e-4) << "position " << i;
  }
}

TEST_F(KvInt8ModelTest, ShorterWindowKeepsTheScaleStride) {
  // A window of fewer encoder positions than n_audio_ctx: its scales are still [n_head,
  // n_audio_ctx] (the batched step's scale stride is a model constant), the columns past its keys
  // zero; decode() (dequantise over the first t columns) and decode_batch (attention rows, scale
  // stride n_audio_ctx, in a batch with a full window) give the same logits.
  const ModelConfig& c = ckpt_->config;
  const int64_t t = c.n_audio_ctx - 403;
  const Tensor short_enc = enc_->slice_rows(0, t);
  DecoderState st = kv8_->begin_window(short_enc), st_b = kv8_->begin_window(short_enc);
  DecoderState full = kv8_->begin_window(*enc_);
  ASSERT_EQ(st.cross_k[0].dim(0), t);
  for (size_t l = 0; l < st.cross_k.size(); ++l) {
    ASSERT_EQ(st.cross_v_scale[l].shape(), (Shape{c.n_text_head, c.n_audio_ctx}));
    const Tensor vs = st.cross_v_scale[l].to(Device::kCpu);
    for (int64_t h = 0; h < c.n_text_head; ++h) {
      EXPECT_GT(vs.data<float>()[h * c.n_audio_ctx + t - 1], 0.0f) << "layer " << l;
      EXPECT_EQ(vs.data<float>()[h * c.n_audio_ctx + t], 0.0f) << "layer " << l;
    }
  }
  const size_t n = std::min<size_t>(ids_->size(), 6);
  for (size_t i = 0; i < n; ++i) {
    const std::span<const int> tok(&(*ids_)[i], 1);
    const Tensor one = kv8_->decode(st, tok);
    DecoderState* states[] = {&full, &st_b};
    const std::span<const int> toks[] = {tok, tok};
    const Tensor batched = kv8_->decode_batch(states, toks);
    EXPECT_LT(rel_error(batched.slice_rows(1, 2), one), 1e-4) << "position " << i;
  }
  // Longer than n_audio_ctx: no room in the scale rows.
  const Tensor long_enc = Tensor::zeros(DType::kF32, {c.n_audio_ctx + 1, c.n_text_state});
  try {
    (void)kv8_->begin_window(long_enc);
    ADD_FAILURE() << "an encoder output longer than n_audio_ctx was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
  }
}

TEST_F(KvInt8ModelTest, GreedyTokensEqualTheFloatModels) {
  const std::vector<int> ref = greedy(*f32_, 48, 1), got = greedy(*kv8_, 48, 3);
  int same = 0;
  for (size_t i = 0; i < ref.size(); ++i) same += ref[i] == got[i];
  std::printf("int8 cross K/V greedy: %d of %zu tokens equal\n", same, ref.size());
  EXPECT_EQ(got, ref);
}

TEST_F(KvInt8ModelTest, StatesOfTheOtherKindAreRejected) {
  DecoderState st = f32_->begin_window(*enc_);
  DecoderState* states[] = {&st};
  const int sot = ckpt_->generation.sot;
  const std::span<const int> toks[] = {std::span<const int>(&sot, 1)};
  try {
    kv8_->decode_batch(states, toks);
    ADD_FAILURE() << "a float-cross-K/V state was accepted by the int8 model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
  }
}

TEST(KvInt8Placement, CrossKvNames) {
  EXPECT_TRUE(parse_cross_kv("int8"));
  EXPECT_FALSE(parse_cross_kv("auto"));
  try {
    (void)parse_cross_kv("fp8");
    ADD_FAILURE() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
}

}  // namespace
}  // namespace hark::model
