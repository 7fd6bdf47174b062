// Long-form transcription and beam search against transformers (tools/reference/long_form.py,
// fp32 on the GPU machine's CPU) on the random-weight fixtures:
//  * long-form: silero_test.wav (60 s), greedy, no fallback or thresholds, no conditioning.
//    transformers' segments must reappear with the same start, end and text tokens, up to
//    ORACLE.md's known difference: transformers keeps seeking into the zero padding past the
//    content (segments ending after 60 s), OpenAI's loop -- and hark -- stop and clip there.
//    (transformers' segment token lists also carry the next segment's opening timestamp; the
//    text tokens are compared.)
//  * beam search: jfk.wav's window, no timestamps, 5 beams, 220 tokens, vs num_beams=5 (see the
//    test for the one scoring difference).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "audio/decode.h"
#include "decoding/window_decoder.h"
#include "engine/fixture.h"
#include "hark/engine.h"
#include "model/checkpoint.h"
#include "model/whisper_model.h"
#include "support/test_env.h"
#include "text/tokenizer.h"

namespace hark {
namespace {

nlohmann::json longform_reference(const std::string& fixture) {
  std::ifstream f(testing::test_data("models/" + fixture + "/reference_longform.json"));
  EXPECT_TRUE(f.good()) << fixture << ": reference_longform.json missing";
  return nlohmann::json::parse(f);
}

std::vector<int> text_only(const std::vector<int>& tokens, int eot) {
  std::vector<int> out;
  for (int t : tokens) {
    if (t < eot) out.push_back(t);
  }
  return out;
}

class LongFormReference : public ::testing::TestWithParam<std::string> {};

TEST_P(LongFormReference, SeeksLikeTransformersWithinTheContent) {
  const nlohmann::json ref = longform_reference(GetParam());
  EngineOptions eo;
  eo.model_path = testing::test_data("models/" + GetParam());
  auto engine = Engine::load(eo);
  TranscribeOptions o;
  o.language = "en";
  o.beam_size = std::nullopt;
  o.best_of = std::nullopt;
  o.temperature = {0.0};
  o.compression_ratio_threshold = std::nullopt;
  o.logprob_threshold = std::nullopt;
  o.no_speech_threshold = std::nullopt;
  o.condition_on_previous_text = false;
  const std::vector<float> pcm = audio::decode_file(testing::asset("silero_test.wav"));
  const Result r = engine->transcribe(pcm, o);
  const double content = r.duration;
  const int eot = 50257;  // both fixtures are multilingual

  std::vector<const Segment*> ours;
  for (const Segment& s : r.segments) {
    if (!s.tokens.empty()) ours.push_back(&s);
  }
  size_t compared = 0;
  for (const auto& hs : ref.at("long_form").at("segments")) {
    const double start = hs.at("start").get<double>();
    if (start >= content) break;  // transformers seeking into the padding
    ASSERT_LT(compared, ours.size()) << "hark has fewer segments than transformers";
    const Segment& s = *ours[compared];
    EXPECT_NEAR(s.start, start, 1e-6) << "segment " << compared;
    EXPECT_NEAR(s.end, std::min(hs.at("end").get<double>(), content), 1e-6)
        << "segment " << compared;
    EXPECT_EQ(text_only(s.tokens, eot), text_only(hs.at("tokens").get<std::vector<int>>(), eot))
        << "segment " << compared;
    ++compared;
  }
  EXPECT_EQ(compared, ours.size()) << "hark has segments transformers does not";
  EXPECT_GE(compared, 3u);
}

TEST_P(LongFormReference, BeamSearchMatchesNumBeams) {
  const nlohmann::json ref = longform_reference(GetParam());
  const testing::Reference fx = testing::load_reference(GetParam());
  const model::Checkpoint ckpt = model::load_checkpoint(fx.dir);
  const model::WhisperModel model(ckpt);
  text::Tokenizer tok = text::Tokenizer::for_model(fx.dir, "", {}, ckpt.config.n_vocab);
  tok.set_generation_config(ckpt.generation);
  decoding::WindowDecoder dec(model, tok);
  decoding::DecodingOptions o;
  o.language = "en";
  o.without_timestamps = true;
  o.beam_size = ref.at("beam").at("num_beams").get<int>();
  o.sample_len = ref.at("beam").at("max_new_tokens").get<int>();
  const auto result = dec.decode(model.encode(fx.get("mel").to_f32()), o);
  std::vector<int> expected = ref.at("beam").at("sequence").get<std::vector<int>>();
  // transformers 5 returns Whisper's generated tokens without the prompt; drop one if present.
  const auto prompt = dec.sot_sequence("en", decoding::Task::kTranscribe, false);
  if (std::equal(prompt.begin(), prompt.end(), expected.begin())) {
    expected.erase(expected.begin(), expected.begin() + long(prompt.size()));
  }
  expected.erase(std::find(expected.begin(), expected.end(), ckpt.generation.eot), expected.end());
  const size_t n = std::min(result.tokens.size(), expected.size());
  const size_t first_diff =
      size_t(std::mismatch(result.tokens.begin(), result.tokens.begin() + long(n), expected.begin())
                 .first -
             result.tokens.begin());
  // transformers scores beams with log-probabilities taken before its suppression processors
  // (no renormalisation over the allowed tokens); decoding.py, and hark, renormalise. On random
  // weights near-ties between beams can therefore flip late in a long sequence: measured,
  // tiny-v3-random agrees on all 220 tokens, tiny-v2-random on the first 52.
  EXPECT_GE(first_diff, 50u) << "first difference at sampled token " << first_diff;
  EXPECT_EQ(result.tokens.size(), expected.size());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LongFormReference,
                         ::testing::Values("tiny-v3-random", "tiny-v2-random"),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace hark
