#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/config_json.h"
#include "model/writers.h"

namespace hark::model {
namespace {

using nlohmann::json;
using testing::expect_error;

ModelConfig preset(int d, int heads, int enc_layers, int dec_layers) {
  ModelConfig c;
  c.n_vocab = 51865;
  c.n_audio_state = c.n_text_state = d;
  c.n_audio_head = c.n_text_head = heads;
  c.n_audio_layer = enc_layers;
  c.n_text_layer = dec_layers;
  c.n_audio_ffn = c.n_text_ffn = 4 * d;
  return c;
}

TEST(ModelConfig, SizeNames) {
  EXPECT_EQ(preset(384, 6, 4, 4).size_name(), "tiny");
  EXPECT_EQ(preset(512, 8, 6, 6).size_name(), "base");
  EXPECT_EQ(preset(768, 12, 12, 12).size_name(), "small");
  EXPECT_EQ(preset(1024, 16, 24, 24).size_name(), "medium");
  EXPECT_EQ(preset(1280, 20, 32, 32).size_name(), "large");
  EXPECT_EQ(preset(1280, 20, 32, 4).size_name(), "large-v3-turbo");
  EXPECT_EQ(preset(1280, 20, 32, 2).size_name(), "distil-large");
  EXPECT_EQ(preset(768, 12, 12, 2).size_name(), "distil-small");
  EXPECT_EQ(preset(8, 2, 1, 1).size_name(), "custom");
  EXPECT_EQ(preset(384, 6, 3, 4).size_name(), "custom");
}

TEST(ModelConfig, ValidateAcceptsRealShapes) {
  EXPECT_NO_THROW(preset(384, 6, 4, 4).validate());
  ModelConfig c = preset(1280, 20, 32, 4);
  c.n_mels = 128;
  c.n_vocab = 51866;
  EXPECT_NO_THROW(c.validate());
}

TEST(ModelConfig, ValidateNamesTheField) {
  ModelConfig c = preset(384, 5, 4, 4);
  expect_error([&] { c.validate(); }, ErrorKind::kInvalidModel,
               {"n_audio_state=384", "n_audio_head=5"});
  c = preset(384, 6, 4, 4);
  c.n_mels = 90;
  expect_error([&] { c.validate(); }, ErrorKind::kInvalidModel, {"n_mels=90"});
  c = preset(384, 6, 4, 4);
  c.n_audio_ctx = 1501;
  expect_error([&] { c.validate(); }, ErrorKind::kInvalidModel, {"n_audio_ctx=1501"});
  c = preset(384, 6, 4, 0);
  expect_error([&] { c.validate(); }, ErrorKind::kInvalidModel, {"n_text_layer=0"});
  c = preset(384, 6, 4, 4);
  c.n_vocab = -1;
  expect_error([&] { c.validate(); }, ErrorKind::kInvalidModel, {"n_vocab=-1"});
  c = preset(384, 6, 4, 4);
  c.n_text_state = 512;
  c.n_text_head = 8;
  expect_error([&] { c.validate("x.bin", nullptr); }, ErrorKind::kInvalidModel,
               {"x.bin", "n_audio_state=384", "n_text_state=512"});
}

json tiny_config() { return json::parse(testing::hf_config_json(testing::make_tiny_model().cfg)); }

TEST(HfConfig, ParsesEveryField) {
  json j = tiny_config();
  j["max_source_positions"] = 1500;
  const ModelConfig c = parse_hf_config(j.dump(), "config.json");
  EXPECT_EQ(c.n_vocab, 51865);
  EXPECT_EQ(c.n_mels, 80);
  EXPECT_EQ(c.n_audio_ctx, 1500);
  EXPECT_EQ(c.n_audio_state, 8);
  EXPECT_EQ(c.n_text_state, 8);
  EXPECT_EQ(c.n_audio_head, 2);
  EXPECT_EQ(c.n_text_head, 2);
  EXPECT_EQ(c.n_audio_layer, 1);
  EXPECT_EQ(c.n_text_layer, 1);
  EXPECT_EQ(c.n_audio_ffn, 32);
  EXPECT_EQ(c.n_text_ffn, 32);
  EXPECT_EQ(c.n_text_ctx, 16);
  j.erase("max_source_positions");
  j.erase("max_target_positions");
  const ModelConfig d = parse_hf_config(j.dump(), "config.json");
  EXPECT_EQ(d.n_audio_ctx, 1500);
  EXPECT_EQ(d.n_text_ctx, 448);
}

TEST(HfConfig, ErrorsNameFileAndField) {
  expect_error([] { parse_hf_config("{\"d_model\": ", "dir/config.json"); },
               ErrorKind::kInvalidModel, {"dir/config.json", "not valid JSON"});
  expect_error([] { parse_hf_config("[1, 2]", "config.json"); }, ErrorKind::kInvalidModel,
               {"config.json", "object"});
  json j = tiny_config();
  j.erase("encoder_layers");
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"config.json", "encoder_layers", "missing"});
  j = tiny_config();
  j["d_model"] = "eight";
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"config.json", "d_model", "\"eight\""});
  j = tiny_config();
  j["d_model"] = 8.5;
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"d_model"});
  j = tiny_config();
  j["d_model"] = 1ll << 40;
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"d_model"});
  j = tiny_config();
  j["encoder_attention_heads"] = 3;
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"config.json", "d_model=8", "encoder_attention_heads=3"});
  j = tiny_config();
  j["num_mel_bins"] = 81;
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"num_mel_bins=81"});
  j = tiny_config();
  j["activation_function"] = "relu";
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kUnsupported,
               {"config.json", "activation_function", "relu"});
  j = tiny_config();
  j["model_type"] = "bert";
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"model_type", "bert"});
  j = tiny_config();
  j["vocab_size"] = 1000;
  expect_error([&] { parse_hf_config(j.dump(), "config.json"); }, ErrorKind::kInvalidModel,
               {"config.json", "1000"});
}

ModelConfig tiny() { return testing::make_tiny_model().cfg; }

TEST(GenerationConfigJson, OverridesDefaults) {
  const GenerationConfig g =
      parse_generation_config(testing::generation_config_json(), tiny(), "gen.json");
  EXPECT_EQ(g.sot, 50258);
  EXPECT_EQ(g.eot, 50257);
  EXPECT_EQ(g.no_timestamps, 50363);
  EXPECT_EQ(g.timestamp_begin, 50364);
  ASSERT_EQ(g.languages.size(), 3u);
  EXPECT_EQ(g.languages[0], (std::pair<std::string, int>{"en", 50259}));
  EXPECT_EQ(g.languages[2], (std::pair<std::string, int>{"de", 50261}));
  EXPECT_EQ(g.suppress_tokens, (std::vector<int>{1, 2, 7, 8}));
  EXPECT_EQ(g.begin_suppress_tokens, (std::vector<int>{220, 50257}));
  EXPECT_EQ(g.max_initial_timestamp_index, 50);
  EXPECT_EQ(g.max_length, 16);
  EXPECT_EQ(g.alignment_heads, (std::vector<std::pair<int, int>>{{0, 1}, {0, 0}}));
}

TEST(GenerationConfigJson, MissingFileGivesDefaults) {
  const GenerationConfig g =
      read_generation_config(testing::fresh_dir("gen") + "/generation_config.json", tiny());
  const GenerationConfig d = GenerationConfig::defaults_for_vocab(51865);
  EXPECT_EQ(g.sot, d.sot);
  EXPECT_EQ(g.languages, d.languages);
  EXPECT_EQ(g.begin_suppress_tokens, d.begin_suppress_tokens);
}

TEST(GenerationConfigJson, EosMayBeAList) {
  json j = json::parse(testing::generation_config_json());
  j["eos_token_id"] = {50257, 50256};
  EXPECT_EQ(parse_generation_config(j.dump(), tiny(), "g").eot, 50257);
}

TEST(GenerationConfigJson, DisagreementsAreErrors) {
  auto with = [](const char* key, json v) {
    json j = json::parse(testing::generation_config_json());
    j[key] = std::move(v);
    return j.dump();
  };
  const ModelConfig c = tiny();
  expect_error([&] { parse_generation_config(with("eos_token_id", 50256), c, "g.json"); },
               ErrorKind::kInvalidModel, {"g.json", "eos_token_id", "50257"});
  expect_error([&] { parse_generation_config(with("decoder_start_token_id", 50257), c, "g.json"); },
               ErrorKind::kInvalidModel, {"decoder_start_token_id=50257", "50258"});
  expect_error([&] { parse_generation_config(with("no_timestamps_token_id", 50364), c, "g.json"); },
               ErrorKind::kInvalidModel, {"no_timestamps_token_id"});
  expect_error([&] { parse_generation_config(with("is_multilingual", false), c, "g.json"); },
               ErrorKind::kInvalidModel, {"is_multilingual"});
  expect_error(
      [&] {
        parse_generation_config(with("lang_to_id", {{"<|en|>", 50260}}), c, "g.json");
      },
      ErrorKind::kInvalidModel, {"<|en|>", "50260", "50259"});
  expect_error(
      [&] {
        parse_generation_config(with("lang_to_id", {{"<|xx|>", 50260}}), c, "g.json");
      },
      ErrorKind::kInvalidModel, {"<|xx|>"});
  expect_error(
      [&] {
        parse_generation_config(with("task_to_id", {{"transcribe", 50358}}), c, "g.json");
      },
      ErrorKind::kInvalidModel, {"transcribe", "50359"});
  expect_error(
      [&] {
        parse_generation_config(with("suppress_tokens", {1, 51865}), c, "g.json");
      },
      ErrorKind::kInvalidModel, {"suppress_tokens", "51865"});
  expect_error([&] { parse_generation_config(with("max_length", 17), c, "g.json"); },
               ErrorKind::kInvalidModel, {"max_length=17"});
  expect_error(
      [&] {
        parse_generation_config(with("alignment_heads", {{1, 0}}), c, "g.json");
      },
      ErrorKind::kInvalidModel, {"alignment head [1, 0]"});
  expect_error([&] { parse_generation_config(with("alignment_heads", {3}), c, "g.json"); },
               ErrorKind::kInvalidModel, {"alignment_heads"});
  expect_error([&] { parse_generation_config("{", c, "g.json"); }, ErrorKind::kInvalidModel,
               {"g.json", "JSON"});
}

TEST(GenerationConfigJson, EnglishOnlyLayout) {
  ModelConfig c = tiny();
  c.n_vocab = 51864;
  const GenerationConfig g = parse_generation_config(
      R"({"eos_token_id": 50256, "decoder_start_token_id": 50257, "is_multilingual": false,
          "no_timestamps_token_id": 50362})",
      c, "g");
  EXPECT_FALSE(g.is_multilingual);
  EXPECT_TRUE(g.languages.empty());
  expect_error([&] { parse_generation_config(R"({"lang_to_id": {"<|en|>": 50258}})", c, "g"); },
               ErrorKind::kInvalidModel, {"<|en|>"});
}

}  // namespace
}  // namespace hark::model

namespace hark::model {
namespace {

// transformers 5 writes this for a WhisperConfig left at its defaults: English-only ids.
TEST(GenerationConfigJson, DerivedFromModelConfigDefaultsSaysWhy) {
  const char* kDerived = R"({"_from_model_config": true, "begin_suppress_tokens": [220, 50256],
      "bos_token_id": 50256, "decoder_start_token_id": 50257, "eos_token_id": 50256,
      "pad_token_id": 50256, "transformers_version": "5.17.0", "use_cache": true})";
  testing::expect_error([&] { parse_generation_config(kDerived, tiny(), "g.json"); },
                        ErrorKind::kInvalidModel,
                        {"g.json", "decoder_start_token_id=50257", "_from_model_config"});
}

}  // namespace
}  // namespace hark::model
