#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/ggml.h"
#include "model/writers.h"

namespace hark::model {
namespace {

using nlohmann::json;
using testing::expect_error;

void expect_matches(const Checkpoint& ck, const testing::TinyModel& m) {
  EXPECT_EQ(ck.config.n_vocab, m.cfg.n_vocab);
  EXPECT_EQ(ck.config.n_mels, m.cfg.n_mels);
  EXPECT_EQ(ck.config.n_audio_state, m.cfg.n_audio_state);
  EXPECT_EQ(ck.config.n_audio_ffn, m.cfg.n_audio_ffn);
  EXPECT_EQ(ck.config.n_text_layer, m.cfg.n_text_layer);
  EXPECT_EQ(ck.config.n_audio_ctx, m.cfg.n_audio_ctx);
  EXPECT_EQ(ck.config.n_text_ctx, m.cfg.n_text_ctx);
  ASSERT_EQ(ck.tensors.size(), m.values.size());
  for (const auto& [name, values] : m.values) {
    const Tensor& t = ck.get(name);
    ASSERT_EQ(t.shape(), m.shapes.at(name)) << name;
    const Tensor f = t.to_f32();
    for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(f.data<float>()[i], values[i]) << name;
  }
}

TEST(Checkpoint, ExpectedShapesOfTheTinyConfig) {
  const auto shapes = expected_tensor_shapes(testing::make_tiny_model().cfg);
  // 5 stem + 15 per encoder layer + 2 + 2 embeddings + 24 per decoder layer + 2.
  EXPECT_EQ(shapes.size(), 50u);
  EXPECT_EQ(shapes.at("encoder.conv1.weight"), (Shape{8, 80, 3}));
  EXPECT_EQ(shapes.at("encoder.conv2.bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("encoder.embed_positions.weight"), (Shape{24, 8}));
  EXPECT_EQ(shapes.at("encoder.layers.0.fc1.weight"), (Shape{32, 8}));
  EXPECT_EQ(shapes.at("encoder.layers.0.fc2.weight"), (Shape{8, 32}));
  EXPECT_EQ(shapes.at("decoder.embed_tokens.weight"), (Shape{51865, 8}));
  EXPECT_EQ(shapes.at("decoder.embed_positions.weight"), (Shape{16, 8}));
  EXPECT_EQ(shapes.at("decoder.layers.0.encoder_attn.k_proj.weight"), (Shape{8, 8}));
  EXPECT_EQ(shapes.count("decoder.layers.0.encoder_attn.k_proj.bias"), 0u);
  EXPECT_EQ(shapes.count("encoder.layers.0.self_attn.k_proj.bias"), 0u);
  EXPECT_EQ(shapes.at("decoder.layer_norm.bias"), (Shape{8}));
  ModelConfig tiny_en;
  tiny_en.n_vocab = 51864;
  tiny_en.n_audio_state = tiny_en.n_text_state = 384;
  tiny_en.n_audio_head = tiny_en.n_text_head = 6;
  tiny_en.n_audio_layer = tiny_en.n_text_layer = 4;
  tiny_en.n_audio_ffn = tiny_en.n_text_ffn = 1536;
  EXPECT_EQ(expected_tensor_shapes(tiny_en).size(), 167u);  // whisper-tiny's state dict
}

TEST(Checkpoint, LoadsHfDirectoryInEveryDtype) {
  const testing::TinyModel m = testing::make_tiny_model(5);
  for (DType dt : {DType::kF32, DType::kF16, DType::kBF16}) {
    const std::string dir = testing::fresh_dir("hf");
    testing::write_hf_dir(dir, m, dt);
    const Checkpoint ck = load_checkpoint(dir);
    EXPECT_EQ(ck.format, "safetensors");
    EXPECT_EQ(ck.path, dir + "/model.safetensors");
    for (const auto& [name, t] : ck.tensors) EXPECT_EQ(t.dtype(), dt) << name;
    expect_matches(ck, m);
    EXPECT_FALSE(ck.mel_filters);
    EXPECT_FALSE(ck.keepalive.empty());
    EXPECT_EQ(ck.generation.sot, 50258);
    EXPECT_EQ(ck.generation.max_length, 16);
    EXPECT_EQ(ck.generation.alignment_heads.size(), 2u);
  }
}

TEST(Checkpoint, TensorsOutliveTheCheckpoint) {
  const testing::TinyModel m = testing::make_tiny_model(5);
  const std::string dir = testing::fresh_dir("hf");
  testing::write_hf_dir(dir, m, DType::kF16);
  Tensor t;
  {
    const Checkpoint ck = load_checkpoint(dir);
    t = ck.get("decoder.embed_tokens.weight");
  }
  EXPECT_EQ(t.to_f32().data<float>()[12345], m.values.at("decoder.embed_tokens.weight")[12345]);
}

TEST(Checkpoint, NamesWithoutPrefixAndATiedProjection) {
  const testing::TinyModel m = testing::make_tiny_model(6);
  const std::string dir = testing::fresh_dir("hf");
  testing::write_file(dir + "/config.json", testing::hf_config_json(m.cfg));
  auto tensors = testing::hf_tensors(m, DType::kF16, /*prefix=*/false);
  for (size_t i = 0, n = tensors.size(); i < n; ++i)
    if (tensors[i].name == "decoder.embed_tokens.weight")
      tensors.push_back({"proj_out.weight", tensors[i].dtype, tensors[i].shape, tensors[i].bytes});
  tensors.push_back({"model.encoder.extra_thing", "F32", {1}, std::string(4, '\0')});
  testing::write_safetensors(dir + "/model.safetensors", tensors);
  const Checkpoint ck = load_checkpoint(dir);
  expect_matches(ck, m);  // proj_out and the extra tensor are dropped
  // No generation_config.json: the vocabulary's defaults.
  EXPECT_EQ(ck.generation.sot, 50258);
  EXPECT_TRUE(ck.generation.alignment_heads.empty());
}

TEST(Checkpoint, ShardedLoadsTheSame) {
  const testing::TinyModel m = testing::make_tiny_model(7);
  const std::string dir = testing::fresh_dir("hf");
  testing::write_hf_dir(dir, m, DType::kF16, /*shards=*/3);
  ASSERT_FALSE(std::filesystem::exists(dir + "/model.safetensors"));
  const Checkpoint ck = load_checkpoint(dir);
  expect_matches(ck, m);
  EXPECT_EQ(ck.keepalive.size(), 3u);
  // The index file itself is a valid path too.
  expect_matches(load_checkpoint(dir + "/model.safetensors.index.json"), m);
}

TEST(Checkpoint, SafetensorsFileWithConfigBeside) {
  const testing::TinyModel m = testing::make_tiny_model(8);
  const std::string dir = testing::fresh_dir("hf");
  testing::write_hf_dir(dir, m, DType::kF32);
  std::filesystem::rename(dir + "/model.safetensors", dir + "/weights.safetensors");
  expect_matches(load_checkpoint(dir + "/weights.safetensors"), m);
  // Sniffed by content when the extension says nothing.
  std::filesystem::rename(dir + "/weights.safetensors", dir + "/weights.dat");
  expect_matches(load_checkpoint(dir + "/weights.dat"), m);
}

TEST(Checkpoint, GgmlAgreesWithHf) {
  const testing::TinyModel m = testing::make_tiny_model(9);
  const std::string dir = testing::fresh_dir("ggml");
  testing::write_hf_dir(dir, m, DType::kF16);
  const Checkpoint hf = load_checkpoint(dir);
  for (int32_t type : {0, 1}) {
    const std::string path = dir + "/ggml-tiny.bin";
    testing::write_ggml_model(path, m, type);
    const Checkpoint g = load_checkpoint(path);
    EXPECT_EQ(g.format, "ggml");
    EXPECT_EQ(g.path, path);
    expect_matches(g, m);
    ASSERT_TRUE(g.mel_filters);
    EXPECT_EQ(g.mel_filters->shape(), (Shape{80, 201}));
    EXPECT_EQ(g.ggml_vocab, m.vocab);
    EXPECT_EQ(g.generation.sot, hf.generation.sot);
    EXPECT_EQ(g.generation.languages, GenerationConfig::defaults_for_vocab(51865).languages);
    for (const auto& [name, t] : hf.tensors) {
      const Tensor a = t.to_f32(), b = g.get(name).to_f32();
      ASSERT_EQ(a.shape(), b.shape()) << name;
      ASSERT_EQ(0, std::memcmp(a.raw(), b.raw(), a.nbytes())) << name;
    }
  }
}

TEST(Checkpoint, GgmlWith128Mels) {
  const testing::TinyModel m = testing::make_tiny_model(10, 128);
  const std::string path = testing::fresh_dir("ggml") + "/ggml.bin";
  testing::write_ggml_model(path, m, 1);
  const Checkpoint g = load_checkpoint(path);
  EXPECT_EQ(g.config.n_mels, 128);
  EXPECT_EQ(g.get("encoder.conv1.weight").shape(), (Shape{8, 128, 3}));
}

TEST(Checkpoint, GetNamesAMissingTensor) {
  const testing::TinyModel m = testing::make_tiny_model(5);
  const std::string dir = testing::fresh_dir("hf");
  testing::write_hf_dir(dir, m, DType::kF16);
  const Checkpoint ck = load_checkpoint(dir);
  expect_error([&] { ck.get("decoder.layers.7.fc1.weight"); }, ErrorKind::kInvalidModel,
               {"decoder.layers.7.fc1.weight"});
}

// An HF directory with the tiny model, `change` applied to its tensors first.
std::string hf_dir_with(const testing::TinyModel& m,
                        const std::function<void(std::vector<testing::RawTensor>&)>& change) {
  const std::string dir = testing::fresh_dir("bad");
  testing::write_file(dir + "/config.json", testing::hf_config_json(m.cfg));
  auto tensors = testing::hf_tensors(m, DType::kF16);
  change(tensors);
  testing::write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

TEST(Checkpoint, MissingTensorIsNamed) {
  const testing::TinyModel m = testing::make_tiny_model();
  const std::string dir = hf_dir_with(m, [](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.name == "model.decoder.layers.0.fc1.weight"; });
  });
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {dir + "/model.safetensors: tensor model.decoder.layers.0.fc1.weight is missing"});
}

TEST(Checkpoint, WrongShapeNamesTheConfigField) {
  const testing::TinyModel m = testing::make_tiny_model();
  const testing::TinyModel m128 = testing::make_tiny_model(1, 128);
  std::string dir = hf_dir_with(m, [&](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.encoder.conv1.weight") {
        t.shape = {8, 128, 3};
        t.bytes = testing::encode(m128.values.at("encoder.conv1.weight"), DType::kF16);
      }
  });
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"model.safetensors: tensor model.encoder.conv1.weight has shape [8,128,3]",
                "config.json says num_mel_bins=80", "[8,80,3]"});
  dir = hf_dir_with(m, [&](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.decoder.layers.0.fc2.weight") t.shape = {32, 8};
  });
  expect_error(
      [&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
      {"model.decoder.layers.0.fc2.weight has shape [32,8]", "config.json says d_model=8"});
  dir = hf_dir_with(m, [&](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.decoder.layer_norm.bias") t.shape = {2, 4};
  });
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"model.decoder.layer_norm.bias has shape [2,4], expected [8]"});
  dir = hf_dir_with(m, [&](auto& ts) {
    for (auto& t : ts)
      if (t.name == "model.encoder.layers.0.fc1.bias") t.dtype = "I32", t.shape = {16};
  });
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"model.encoder.layers.0.fc1.bias has dtype I32"});
  dir = hf_dir_with(m, [&](auto& ts) {
    for (size_t i = 0, n = ts.size(); i < n; ++i)
      if (ts[i].name == "model.encoder.layers.0.fc1.bias")
        ts.push_back({"encoder.layers.0.fc1.bias", ts[i].dtype, ts[i].shape, ts[i].bytes});
  });
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"encoder.layers.0.fc1.bias", "model.encoder.layers.0.fc1.bias"});
}

TEST(Checkpoint, ConfigProblems) {
  const testing::TinyModel m = testing::make_tiny_model();
  const std::string dir = testing::fresh_dir("cfg");
  testing::write_hf_dir(dir, m, DType::kF16);
  std::filesystem::remove(dir + "/config.json");
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kNotFound, {dir, "config.json"});
  expect_error([&] { load_checkpoint(dir + "/model.safetensors"); }, ErrorKind::kNotFound,
               {"config.json"});
  testing::write_file(dir + "/config.json", "{\"d_model\": 8,");
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {dir + "/config.json", "JSON"});
  json j = json::parse(testing::hf_config_json(m.cfg));
  j["num_mel_bins"] = 128;
  testing::write_file(dir + "/config.json", j.dump());
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"model.encoder.conv1.weight", "num_mel_bins=128"});
  j = json::parse(testing::hf_config_json(m.cfg));
  j["decoder_layers"] = 2;
  testing::write_file(dir + "/config.json", j.dump());
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"model.decoder.layers.1.", "is missing"});
  j["decoder_layers"] = "two";
  testing::write_file(dir + "/config.json", j.dump());
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"config.json", "decoder_layers"});
  testing::write_file(dir + "/config.json", testing::hf_config_json(m.cfg));
  json g = json::parse(testing::generation_config_json());
  g["eos_token_id"] = 50256;
  testing::write_file(dir + "/generation_config.json", g.dump());
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kInvalidModel,
               {"generation_config.json", "eos_token_id"});
}

TEST(Checkpoint, PathProblems) {
  expect_error([] { load_checkpoint("/nonexistent/model"); }, ErrorKind::kNotFound,
               {"/nonexistent/model"});
  const std::string dir = testing::fresh_dir("path");
  testing::write_file(dir + "/config.json",
                      testing::hf_config_json(testing::make_tiny_model().cfg));
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kNotFound, {dir, "model.safetensors"});
  testing::write_file(dir + "/pytorch_model.bin", "PK");
  expect_error([&] { load_checkpoint(dir); }, ErrorKind::kUnsupported, {"pytorch_model.bin"});
  testing::write_file(dir + "/model.gguf", "GGUF\x03\0\0\0");
  expect_error([&] { load_checkpoint(dir + "/model.gguf"); }, ErrorKind::kUnsupported, {"GGUF"});
  testing::write_file(dir + "/junk.bin", "hello, this is not a model");
  expect_error([&] { load_checkpoint(dir + "/junk.bin"); }, ErrorKind::kInvalidModel,
               {dir + "/junk.bin", "ggml"});
  testing::write_file(dir + "/empty.bin", "");
  expect_error([&] { load_checkpoint(dir + "/empty.bin"); }, ErrorKind::kInvalidModel,
               {"empty.bin"});
  testing::write_file(dir + "/trunc.safetensors", "\x10\0\0\0\0\0\0\0{");
  expect_error([&] { load_checkpoint(dir + "/trunc.safetensors"); }, ErrorKind::kInvalidModel,
               {"trunc.safetensors", "header length"});
}

TEST(Checkpoint, GgmlMissingTensorAndWrongShape) {
  const testing::TinyModel m = testing::make_tiny_model();
  const std::string path = testing::fresh_dir("ggml") + "/ggml-tiny.bin";
  auto records = testing::ggml_records(m, 1);
  std::erase_if(records, [](const auto& r) { return r.name == "decoder.blocks.0.mlp.0.weight"; });
  testing::write_file(path, testing::ggml_bytes(testing::ggml_header(m, 1), records));
  expect_error([&] { load_checkpoint(path); }, ErrorKind::kInvalidModel,
               {path + ": tensor decoder.blocks.0.mlp.0.weight is missing"});
  const testing::TinyModel m128 = testing::make_tiny_model(1, 128);
  records = testing::ggml_records(m, 1);
  for (auto& r : records)
    if (r.name == "encoder.conv1.weight")
      r = testing::ggml_records(m128, 1)[size_t(&r - &records[0])];
  testing::write_file(path, testing::ggml_bytes(testing::ggml_header(m, 1), records));
  expect_error([&] { load_checkpoint(path); }, ErrorKind::kInvalidModel,
               {"tensor encoder.conv1.weight has shape [8,128,3]", "the header says n_mels=80"});
  testing::GgmlHeader h = testing::ggml_header(m, 1);
  h.hparams[0] = 50000;
  testing::write_file(path, testing::ggml_bytes(h, testing::ggml_records(m, 1)));
  expect_error([&] { load_checkpoint(path); }, ErrorKind::kInvalidModel, {path, "50000"});
}

}  // namespace
}  // namespace hark::model
