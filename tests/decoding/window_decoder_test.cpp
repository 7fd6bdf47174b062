// WindowDecoder's strategies on a tiny random-weight model with the real multilingual vocabulary:
// beam search of width 1 is greedy, a chosen beam's reported log-probability is what the model
// gives its tokens when teacher-forced (so beams kept their own KV caches through reordering), the
// timestamp rules hold on every beam, sampling is fixed by its seed, and ModelSequence's copies
// are independent while sharing the cross-attention K/V.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/error.h"
#include "decoding/logit_filters.h"
#include "decoding/window_decoder.h"
#include "model/checkpoint.h"
#include "support/test_env.h"

namespace hark::decoding {
namespace {

constexpr int kVocab = 51865;
constexpr int kSampleLen = 16;
constexpr float kEotScale = 1.5f;

model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.n_vocab = kVocab;
  c.n_mels = 80;
  c.n_audio_ctx = 12;
  c.n_audio_state = c.n_text_state = 64;
  c.n_audio_head = c.n_text_head = 2;
  c.n_audio_layer = c.n_text_layer = 2;
  c.n_audio_ffn = c.n_text_ffn = 128;
  c.n_text_ctx = 448;
  return c;
}

// Uniform in [-1, 1) from a 64-bit LCG: fixed weights on every platform.
struct Lcg {
  uint64_t s;
  float next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return float(double(s >> 11) * 0x1.0p-52 - 1.0);
  }
};

class WindowDecoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model::Checkpoint c;
    c.config = tiny_config();
    c.generation = model::GenerationConfig::defaults_for_vocab(kVocab);
    Lcg rng{2024};
    for (const auto& [name, shape] : model::expected_tensor_shapes(c.config)) {
      Tensor t = Tensor::zeros(DType::kF32, shape);
      const bool norm_weight = name.find("layer_norm.weight") != std::string::npos;
      const float scale = name.find("embed_tokens") != std::string::npos ? 0.5f : 0.2f;
      for (int64_t i = 0; i < t.numel(); ++i) {
        t.data<float>()[i] = norm_weight ? 1.0f + 0.1f * rng.next() : scale * rng.next();
      }
      c.tensors.emplace(name, std::move(t));
    }
    // A longer <|endoftext|> embedding makes its logit swing more widely, so that some searches
    // below finish (<|endoftext|> sampled) and others run to sample_len.
    float* eot = c.tensors.at("decoder.embed_tokens.weight").data<float>() +
                 int64_t(c.generation.eot) * c.config.n_text_state;
    for (int j = 0; j < c.config.n_text_state; ++j) eot[j] *= kEotScale;
    model_ = new model::WhisperModel(c);
    tok_ = new text::Tokenizer(
        text::Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), kVocab));
    encoder_out_ = new Tensor(Tensor::zeros(DType::kF32, {12, 64}));
    for (int64_t i = 0; i < encoder_out_->numel(); ++i) {
      encoder_out_->data<float>()[i] = rng.next();
    }
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tok_;
    delete encoder_out_;
  }

  static DecodingOptions english(bool timestamps) {
    DecodingOptions o;
    o.language = "en";
    o.without_timestamps = !timestamps;
    o.sample_len = kSampleLen;
    return o;
  }

  // The log-probability the model and the logit filters give r.tokens (and <|endoftext|> when
  // the result ended before sample_len), fed one token at a time through a fresh state.
  double teacher_forced_logprob(const DecodingResult& r, const DecodingOptions& o) const {
    const WindowDecoder dec(*model_, *tok_);
    const auto& g = tok_->specials();
    std::vector<int> tokens = dec.sot_sequence(r.language, o.task, !o.without_timestamps);
    const LogitFilters filters(g, kVocab, int(tokens.size()), dec.suppress_list(o),
                               o.suppress_blank, !o.without_timestamps);
    std::vector<int> sampled = r.tokens;
    if (int(sampled.size()) < o.sample_len) sampled.push_back(g.eot);
    ModelSequence seq(*model_, model_->begin_window(*encoder_out_));
    std::vector<float> logits(kVocab), logprobs(kVocab);
    for (size_t i = 0; i < tokens.size(); ++i) seq.step(tokens[i], logits);
    double sum = 0;
    for (int t : sampled) {
      filters.apply(logits, tokens);
      log_softmax(logits, logprobs);
      sum += logprobs[size_t(t)];
      tokens.push_back(t);
      if (t != g.eot) seq.step(t, logits);
    }
    return sum;
  }

  static model::WhisperModel* model_;
  static text::Tokenizer* tok_;
  static Tensor* encoder_out_;
};

model::WhisperModel* WindowDecoderTest::model_ = nullptr;
text::Tokenizer* WindowDecoderTest::tok_ = nullptr;
Tensor* WindowDecoderTest::encoder_out_ = nullptr;

TEST_F(WindowDecoderTest, BeamOfOneIsGreedy) {
  const WindowDecoder dec(*model_, *tok_);
  for (bool timestamps : {false, true}) {
    DecodingOptions o = english(timestamps);
    const DecodingResult greedy = dec.decode(*encoder_out_, o);
    o.beam_size = 1;
    const DecodingResult beam = dec.decode(*encoder_out_, o);
    EXPECT_EQ(beam.tokens, greedy.tokens) << "timestamps " << timestamps;
    EXPECT_NEAR(beam.sum_logprob, greedy.sum_logprob, 1e-3);
    EXPECT_EQ(beam.text, greedy.text);
    EXPECT_EQ(beam.no_speech_prob, greedy.no_speech_prob);
  }
}

TEST_F(WindowDecoderTest, ChosenBeamScoresWhatTheModelGivesItsTokens) {
  const WindowDecoder dec(*model_, *tok_);
  for (bool timestamps : {false, true}) {
    for (int beams : {2, 4}) {
      DecodingOptions o = english(timestamps);
      o.beam_size = beams;
      o.patience = 1.5;
      const DecodingResult r = dec.decode(*encoder_out_, o);
      ASSERT_FALSE(r.tokens.empty());
      EXPECT_GE(r.n_candidates, beams);
      EXPECT_LE(r.n_candidates, int(std::nearbyint(beams * 1.5)) + beams);
      const double rescored = teacher_forced_logprob(r, o);
      EXPECT_TRUE(std::isfinite(rescored)) << "a token the filters forbid";
      EXPECT_NEAR(r.sum_logprob, rescored, 1e-3) << beams << " beams, timestamps " << timestamps;
      EXPECT_DOUBLE_EQ(r.avg_logprob, r.sum_logprob / double(r.tokens.size() + 1));
    }
  }
}

TEST_F(WindowDecoderTest, TimestampedBeamsStartWithATimestampAndNeverGoBack) {
  const WindowDecoder dec(*model_, *tok_);
  DecodingOptions o = english(true);
  o.beam_size = 3;
  const DecodingResult r = dec.decode(*encoder_out_, o);
  ASSERT_FALSE(r.tokens.empty());
  EXPECT_TRUE(tok_->is_timestamp(r.tokens.front()));
  EXPECT_LE(r.tokens.front(), tok_->specials().timestamp_begin + 50);
  int last = -1;
  for (int t : r.tokens) {
    if (!tok_->is_timestamp(t)) continue;
    EXPECT_GE(t, last);
    last = t;
  }
}

TEST_F(WindowDecoderTest, SamplingIsFixedBySeedAndRanksBestOf) {
  const WindowDecoder dec(*model_, *tok_);
  DecodingOptions o = english(false);
  o.temperature = 0.8;
  o.best_of = 3;
  o.seed = 5;
  const DecodingResult a = dec.decode(*encoder_out_, o);
  const DecodingResult b = dec.decode(*encoder_out_, o);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.sum_logprob, b.sum_logprob);
  EXPECT_EQ(a.n_candidates, 3);
  EXPECT_EQ(a.temperature, 0.8);
  EXPECT_NEAR(a.sum_logprob, teacher_forced_logprob(a, o), 1e-3);
  bool differs = false;
  for (uint64_t seed = 6; seed < 12 && !differs; ++seed) {
    o.seed = seed;
    differs = dec.decode(*encoder_out_, o).tokens != a.tokens;
  }
  EXPECT_TRUE(differs) << "every seed gave the same sample";
}

TEST_F(WindowDecoderTest, DetectsTheLanguageBeforeABeamSearch) {
  const WindowDecoder dec(*model_, *tok_);
  DecodingOptions o;
  o.sample_len = 8;
  o.beam_size = 2;
  const DecodingResult r = dec.decode(*encoder_out_, o);
  EXPECT_FALSE(r.language_probs.empty());
  EXPECT_FALSE(r.language.empty());
}

TEST_F(WindowDecoderTest, RejectsInvalidOptionsBeforeDecoding) {
  const WindowDecoder dec(*model_, *tok_);
  DecodingOptions o = english(false);
  o.temperature = 0.5;
  o.beam_size = 2;
  try {
    dec.decode(*encoder_out_, o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("beam_size"));
  }
}

TEST_F(WindowDecoderTest, ModelSequenceCopiesAreIndependentAndShareCrossAttention) {
  ModelSequence a(*model_, model_->begin_window(*encoder_out_));
  std::vector<float> la(kVocab), lb(kVocab), lc(kVocab);
  for (int t : {50258, 50259, 50359}) a.step(t, la);
  const std::unique_ptr<DecoderSequence> b = a.fork();
  const auto& sb = dynamic_cast<const ModelSequence&>(*b).state();
  EXPECT_EQ(sb.cross_k[0].raw(), a.state().cross_k[0].raw());
  EXPECT_NE(sb.self_k[0].raw(), a.state().self_k[0].raw());
  EXPECT_EQ(sb.n_past, 3);

  // Each writes its own position 3; were the caches shared, b's next step would read a's token.
  b->step(500, lb);
  a.step(400, la);
  b->step(600, lb);
  std::vector<float> expect_a(kVocab), expect_b(kVocab);
  ModelSequence fresh_a(*model_, model_->begin_window(*encoder_out_));
  for (int t : {50258, 50259, 50359, 400}) fresh_a.step(t, expect_a);
  ModelSequence fresh_b(*model_, model_->begin_window(*encoder_out_));
  for (int t : {50258, 50259, 50359, 500, 600}) fresh_b.step(t, expect_b);
  EXPECT_EQ(la, expect_a);
  EXPECT_EQ(lb, expect_b);

  ModelSequence c(*model_, model_->begin_window(*encoder_out_));
  c.step(50258, lc);
  c.assign(*b);  // c takes b's state: both continue alike
  EXPECT_EQ(c.state().n_past, 5);
  EXPECT_EQ(c.state().cross_k[0].raw(), a.state().cross_k[0].raw());
  c.step(700, lc);
  b->step(700, lb);
  EXPECT_EQ(lb, lc);
}

}  // namespace
}  // namespace hark::decoding
