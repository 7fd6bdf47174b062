// hark's CPU engine against the reference implementation (transformers, fp32) on random-weight
// checkpoints: mel, encoder output, teacher-forced logits, detected language, greedy tokens with
// and without timestamps (ORACLE.md's comparisons and tolerances), and the same weights read from
// the HF directory and the ggml file giving identical results. (Sharded HF checkpoints are covered
// by tests/model with files in HF's exact layout.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "audio/decode.h"
#include "audio/mel.h"
#include "decoding/window_decoder.h"
#include "engine/fixture.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "support/test_env.h"
#include "text/tokenizer.h"

namespace hark {
namespace {

using testing::load_reference;
using testing::Reference;
using testing::rel_error;

struct Loaded {
  model::Checkpoint ckpt;
  std::unique_ptr<model::WhisperModel> model;
  std::unique_ptr<text::Tokenizer> tok;
};

std::string tokenizer_for(const std::string& fixture) {
  return fixture == "tiny-en-random" ? testing::asset("gpt2.tiktoken") : "";
}

Loaded load(const std::string& path, const std::string& fixture) {
  Loaded l;
  l.ckpt = model::load_checkpoint(path);
  l.model = std::make_unique<model::WhisperModel>(l.ckpt);
  l.tok = std::make_unique<text::Tokenizer>(text::Tokenizer::for_model(
      path, tokenizer_for(fixture), l.ckpt.ggml_vocab, l.ckpt.config.n_vocab));
  l.tok->set_generation_config(l.ckpt.generation);
  return l;
}

Tensor first_window(const Tensor& mel) {
  Tensor w = Tensor::zeros(DType::kF32, {mel.dim(0), audio::kChunkFrames});
  for (int64_t m = 0; m < mel.dim(0); ++m) {
    std::copy_n(mel.data<float>() + m * mel.dim(1), audio::kChunkFrames,
                w.data<float>() + m * audio::kChunkFrames);
  }
  return w;
}

// The sampled part of a reference sequence: drop the prompt (our sot sequence) and a final EOT.
std::vector<int> sampled(std::vector<int> seq, const std::vector<int>& prompt, int eot) {
  EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), seq.begin()))
      << "reference prompt differs from ours";
  seq.erase(seq.begin(), seq.begin() + long(prompt.size()));
  auto end = std::find(seq.begin(), seq.end(), eot);
  seq.erase(end, seq.end());
  return seq;
}

void expect_same_prefix(const std::vector<int>& ours, const std::vector<int>& ref, size_t n,
                        const char* what) {
  const size_t k = std::min({n, ours.size(), ref.size()});
  for (size_t i = 0; i < k; ++i) {
    ASSERT_EQ(ours[i], ref[i]) << what << ": first difference at sampled token " << i;
  }
  // A sequence that ended (EOT) before n tokens must end at the same place in both.
  if (ref.size() < n || ours.size() < n) {
    EXPECT_EQ(ours.size(), ref.size()) << what << ": one ended before the other";
  }
}

class ReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string dir = testing::test_data("models/" + GetParam());
    if (!std::filesystem::exists(dir + "/reference.safetensors")) {
      GTEST_FAIL() << "fixture missing: " << dir << " (tools/reference/make_fixtures.py)";
    }
    ref_ = std::make_unique<Reference>(load_reference(GetParam()));
    m_ = load(ref_->dir, GetParam());
  }
  std::string lang() const { return m_.ckpt.generation.is_multilingual ? "en" : ""; }
  std::unique_ptr<Reference> ref_;
  Loaded m_;
};

TEST_P(ReferenceTest, MelMatches) {
  const std::vector<float> pcm = audio::decode_file(testing::asset("jfk.wav"));
  const Tensor filters = audio::mel_filterbank(m_.ckpt.config.n_mels);
  const Tensor mel = first_window(audio::log_mel_spectrogram(pcm, filters, audio::kChunkSamples));
  EXPECT_LT(rel_error(mel, ref_->get("mel")), 1e-4);
}

TEST_P(ReferenceTest, EncoderOutputMatches) {
  const Tensor enc = m_.model->encode(ref_->get("mel").to_f32());
  EXPECT_EQ(enc.shape(), ref_->get("encoder_out").shape());
  EXPECT_LT(rel_error(enc, ref_->get("encoder_out")), 1e-4);
}

TEST_P(ReferenceTest, TeacherForcedLogitsMatch) {
  const Tensor enc = m_.model->encode(ref_->get("mel").to_f32());
  model::DecoderState st = m_.model->begin_window(enc);
  const std::vector<int> ids = ref_->ints("tf_input_ids");
  const Tensor logits = m_.model->decode(st, ids, /*all_logits=*/true);
  EXPECT_LT(rel_error(logits, ref_->get("logits_tf")), 1e-4);
  // The same logits, one token at a time through the KV cache.
  model::DecoderState st2 = m_.model->begin_window(enc);
  const int64_t v = m_.ckpt.config.n_vocab;
  Tensor step_logits = Tensor::zeros(DType::kF32, {int64_t(ids.size()), v});
  for (size_t i = 0; i < ids.size(); ++i) {
    Tensor l = m_.model->decode(st2, std::span<const int>(&ids[i], 1));
    std::copy_n(l.data<float>(), v, step_logits.data<float>() + int64_t(i) * v);
  }
  EXPECT_LT(rel_error(step_logits, ref_->get("logits_tf")), 1e-4);
}

TEST_P(ReferenceTest, DetectsTheSameLanguage) {
  if (!m_.ckpt.generation.is_multilingual) GTEST_SKIP() << "English-only model";
  decoding::WindowDecoder dec(*m_.model, *m_.tok);
  model::DecoderState st = m_.model->begin_window(m_.model->encode(ref_->get("mel").to_f32()));
  const auto probs = dec.detect_language(st);
  const auto best = std::max_element(probs.begin(), probs.end(),
                                     [](auto& a, auto& b) { return a.second < b.second; });
  EXPECT_EQ(best->first, ref_->json.at("language").at("detected").get<std::string>());
  const std::vector<float> ref_probs(ref_->get("language_probs").data<float>(),
                                     ref_->get("language_probs").data<float>() + probs.size());
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(probs[i].second, ref_probs[i], 1e-4);
}

TEST_P(ReferenceTest, GreedyTokensWithoutTimestamps) {
  decoding::WindowDecoder dec(*m_.model, *m_.tok);
  decoding::DecodingOptions o;
  if (m_.ckpt.generation.is_multilingual) o.language = "en";
  o.without_timestamps = true;
  const auto r = dec.decode(m_.model->encode(ref_->get("mel").to_f32()), o);
  const auto prompt = dec.sot_sequence(lang(), decoding::Task::kTranscribe, false);
  const auto ref = sampled(ref_->ints("tokens_notimestamps"), prompt, m_.ckpt.generation.eot);
  expect_same_prefix(r.tokens, ref, 200, "no timestamps");
  EXPECT_NEAR(r.no_speech_prob, ref_->json.at("no_speech_prob").get<double>(), 1e-4);
}

TEST_P(ReferenceTest, GreedyTokensWithTimestamps) {
  decoding::WindowDecoder dec(*m_.model, *m_.tok);
  decoding::DecodingOptions o;
  if (m_.ckpt.generation.is_multilingual) o.language = "en";
  const auto r = dec.decode(m_.model->encode(ref_->get("mel").to_f32()), o);
  const auto prompt = dec.sot_sequence(lang(), decoding::Task::kTranscribe, true);
  const auto ref = sampled(ref_->ints("tokens_timestamps"), prompt, m_.ckpt.generation.eot);
  ASSERT_FALSE(ref.empty());
  EXPECT_TRUE(m_.tok->is_timestamp(ref.front())) << "reference should start with a timestamp";
  expect_same_prefix(r.tokens, ref, 150, "timestamps");
}

class GgmlReferenceTest : public ReferenceTest {};

TEST_P(GgmlReferenceTest, GgmlFormOfTheSameWeightsGivesIdenticalResults) {
  const std::string ggml = testing::test_data("models/" + GetParam() + ".ggml-f16.bin");
  Loaded g = load(ggml, GetParam());
  EXPECT_EQ(g.ckpt.format, "ggml");
  const Tensor mel = ref_->get("mel").to_f32();
  const Tensor a = m_.model->encode(mel);
  const Tensor b = g.model->encode(mel);
  EXPECT_EQ(rel_error(b, a), 0.0);
  decoding::WindowDecoder da(*m_.model, *m_.tok), db(*g.model, *g.tok);
  decoding::DecodingOptions o;
  if (m_.ckpt.generation.is_multilingual) o.language = "en";
  const auto ra = da.decode(a, o);
  const auto rb = db.decode(b, o);
  EXPECT_EQ(ra.tokens, rb.tokens);
  EXPECT_EQ(ra.text, rb.text);
}

std::string fixture_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceTest,
                         ::testing::Values("tiny-v3-random", "tiny-v2-random", "tiny-en-random"),
                         fixture_name);
// The ggml copies (tools/reference writes them for the two multilingual fixtures).
INSTANTIATE_TEST_SUITE_P(Fixtures, GgmlReferenceTest,
                         ::testing::Values("tiny-v3-random", "tiny-v2-random"), fixture_name);

}  // namespace
}  // namespace hark
