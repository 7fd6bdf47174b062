#include "model/ggml.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "model/writers.h"

namespace hark::model {
namespace {

using testing::expect_error;

TEST(GgmlNames, TranslatesOpenAiToHf) {
  const std::pair<const char*, const char*> kPairs[] = {
      {"encoder.conv1.weight", "encoder.conv1.weight"},
      {"encoder.conv2.bias", "encoder.conv2.bias"},
      {"encoder.positional_embedding", "encoder.embed_positions.weight"},
      {"encoder.blocks.0.attn.query.weight", "encoder.layers.0.self_attn.q_proj.weight"},
      {"encoder.blocks.3.attn.query.bias", "encoder.layers.3.self_attn.q_proj.bias"},
      {"encoder.blocks.11.attn.key.weight", "encoder.layers.11.self_attn.k_proj.weight"},
      {"encoder.blocks.0.attn.value.bias", "encoder.layers.0.self_attn.v_proj.bias"},
      {"encoder.blocks.0.attn.out.weight", "encoder.layers.0.self_attn.out_proj.weight"},
      {"encoder.blocks.0.attn_ln.weight", "encoder.layers.0.self_attn_layer_norm.weight"},
      {"encoder.blocks.0.mlp.0.weight", "encoder.layers.0.fc1.weight"},
      {"encoder.blocks.0.mlp.2.bias", "encoder.layers.0.fc2.bias"},
      {"encoder.blocks.0.mlp_ln.bias", "encoder.layers.0.final_layer_norm.bias"},
      {"encoder.ln_post.weight", "encoder.layer_norm.weight"},
      {"decoder.token_embedding.weight", "decoder.embed_tokens.weight"},
      {"decoder.positional_embedding", "decoder.embed_positions.weight"},
      {"decoder.blocks.2.cross_attn.query.weight", "decoder.layers.2.encoder_attn.q_proj.weight"},
      {"decoder.blocks.2.cross_attn.key.weight", "decoder.layers.2.encoder_attn.k_proj.weight"},
      {"decoder.blocks.2.cross_attn.out.bias", "decoder.layers.2.encoder_attn.out_proj.bias"},
      {"decoder.blocks.2.cross_attn_ln.weight", "decoder.layers.2.encoder_attn_layer_norm.weight"},
      {"decoder.blocks.1.attn.value.weight", "decoder.layers.1.self_attn.v_proj.weight"},
      {"decoder.ln.bias", "decoder.layer_norm.bias"},
  };
  for (const auto& [openai, hf] : kPairs) {
    EXPECT_EQ(ggml_to_canonical_name(openai), hf);
    EXPECT_EQ(canonical_to_ggml_name(hf), openai);
  }
  for (const char* other : {"proj_out.weight", "encoder.blocks.x.attn.query.weight",
                            "encoder.blocks.0.attn.query", "decoder.blocks.0.foo.weight", ""})
    EXPECT_EQ(ggml_to_canonical_name(other), other);
}

class GgmlFile : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = testing::make_tiny_model(3);
    path_ = testing::fresh_dir("ggml") + "/ggml-tiny.bin";
  }
  void write(const testing::GgmlHeader& h, const std::vector<testing::GgmlRecord>& records) {
    testing::write_file(path_, testing::ggml_bytes(h, records));
  }
  testing::TinyModel model_;
  std::string path_;
};

TEST_F(GgmlFile, ReadsF16AndF32) {
  for (int32_t type : {0, 1}) {
    testing::write_ggml_model(path_, model_, type);
    const GgmlModel g = read_ggml(path_);
    EXPECT_EQ(g.ftype, type);
    EXPECT_EQ(g.config.n_vocab, 51865);
    EXPECT_EQ(g.config.n_audio_state, 8);
    EXPECT_EQ(g.config.n_audio_ffn, 32);
    EXPECT_EQ(g.config.n_text_ffn, 32);
    EXPECT_EQ(g.config.n_audio_ctx, 24);
    EXPECT_EQ(g.config.n_text_ctx, 16);
    EXPECT_EQ(g.mel_filters.shape(), (Shape{80, 201}));
    EXPECT_EQ(g.mel_filters.to_f32().data<float>()[202], model_.mel[202]);
    EXPECT_EQ(g.vocab, model_.vocab);
    ASSERT_EQ(g.tensors.size(), model_.values.size());
    for (const auto& [name, values] : model_.values) {
      const Tensor& t = g.tensors.at(name);
      EXPECT_EQ(t.shape(), model_.shapes.at(name)) << name;
      const bool matrix = t.ndim() >= 2 && !name.ends_with("embed_positions.weight");
      EXPECT_EQ(t.dtype(), matrix && type == 1 ? DType::kF16 : DType::kF32) << name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % dtype_size(t.dtype()), 0u) << name;
      const Tensor f = t.to_f32();
      for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(f.data<float>()[i], values[i]) << name;
    }
    EXPECT_EQ(g.file_names.at("encoder.layers.0.fc1.weight"), "encoder.blocks.0.mlp.0.weight");
    EXPECT_EQ(g.tensors.at("encoder.conv1.bias").shape(), (Shape{8}));
  }
}

TEST_F(GgmlFile, QuantizationVersionInFtype) {
  write(testing::ggml_header(model_, 2001), testing::ggml_records(model_, 1));
  EXPECT_EQ(read_ggml(path_).ftype, 1);
}

TEST_F(GgmlFile, OneDimensionalConvBiasIsAccepted) {
  auto records = testing::ggml_records(model_, 1);
  for (auto& r : records)
    if (r.name == "encoder.conv1.bias") r.dims = {8};
  write(testing::ggml_header(model_, 1), records);
  EXPECT_EQ(read_ggml(path_).tensors.at("encoder.conv1.bias").shape(), (Shape{8}));
}

// The records with one of them changed.
std::vector<testing::GgmlRecord> with_record(std::vector<testing::GgmlRecord> records,
                                             const std::string& name,
                                             void (*change)(testing::GgmlRecord&)) {
  for (auto& r : records)
    if (r.name == name) change(r);
  return records;
}

TEST_F(GgmlFile, QuantizedTensorsAreUnsupported) {
  const std::pair<int32_t, const char*> kQuant[] = {{2, "q4_0"}, {3, "q4_1"}, {6, "q5_0"},
                                                    {7, "q5_1"}, {8, "q8_0"}, {12, "q4_K"}};
  for (const auto& [type, name] : kQuant) {
    auto records = testing::ggml_records(model_, 1);
    for (auto& r : records)
      if (r.name == "encoder.blocks.0.mlp.0.weight") r.type = type;
    write(testing::ggml_header(model_, 1), records);
    expect_error([&] { read_ggml(path_); }, ErrorKind::kUnsupported,
                 {path_, "encoder.blocks.0.mlp.0.weight", "quantized",
                  std::string("(") + name + ")", "f16 or f32"});
  }
}

TEST_F(GgmlFile, UnknownAndUnsupportedTypes) {
  for (int32_t type : {4, 5, 31, 99, -1}) {
    auto records = testing::ggml_records(model_, 1);
    records[3].type = type;
    write(testing::ggml_header(model_, 1), records);
    expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel,
                 {path_, records[3].name, "unknown ggml type " + std::to_string(type)});
  }
  auto records = testing::ggml_records(model_, 1);
  records[0].type = 26;
  write(testing::ggml_header(model_, 1), records);
  expect_error([&] { read_ggml(path_); }, ErrorKind::kUnsupported, {records[0].name, "i32"});
}

TEST_F(GgmlFile, WrongMagic) {
  std::string bytes = testing::ggml_bytes(testing::ggml_header(model_, 1), {});
  bytes[0] = 'x';
  testing::write_file(path_, bytes);
  expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel, {path_, "magic"});
}

TEST_F(GgmlFile, BadHeaderFields) {
  auto check = [&](void (*change)(testing::GgmlHeader&), std::initializer_list<std::string> n) {
    testing::GgmlHeader h = testing::ggml_header(model_, 1);
    change(h);
    write(h, testing::ggml_records(model_, 1));
    expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel, n);
  };
  check([](testing::GgmlHeader& h) { h.hparams[9] = 90; }, {"n_mels=90"});
  check([](testing::GgmlHeader& h) { h.hparams[3] = 3; }, {"n_audio_state=8", "n_audio_head=3"});
  check([](testing::GgmlHeader& h) { h.hparams[2] = h.hparams[6] = 1 << 30; }, {"n_audio_state"});
  check([](testing::GgmlHeader& h) { h.hparams[2] = h.hparams[6] = INT32_MIN; }, {"n_audio_state"});
  check([](testing::GgmlHeader& h) { h.hparams[0] = -5; }, {"n_vocab=-5"});
  check([](testing::GgmlHeader& h) { h.hparams[10] = -1; }, {"ftype"});
  check([](testing::GgmlHeader& h) { h.mel_n_fft = 200; }, {"mel filters", "[80, 200]"});
  check([](testing::GgmlHeader& h) { h.mel_n_mel = 128; }, {"mel filters"});
  check([](testing::GgmlHeader& h) { h.vocab.resize(51866); }, {"vocabulary size"});
  check([](testing::GgmlHeader& h) { h.vocab[1] = std::string(5000, 'x'); },
        {"length of vocabulary token 1"});
}

TEST_F(GgmlFile, BadTensorRecords) {
  const auto good = testing::ggml_records(model_, 1);
  auto check = [&](void (*change)(testing::GgmlRecord&), std::initializer_list<std::string> n) {
    write(testing::ggml_header(model_, 1), with_record(good, good[2].name, change));
    expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel, n);
  };
  check([](testing::GgmlRecord& r) { r.dims = {1, 1, 1, 1, 1}; }, {"n_dims", "5"});
  check([](testing::GgmlRecord& r) { r.dims = {}; }, {"n_dims"});
  check([](testing::GgmlRecord& r) { r.dims[0] = 0; }, {"dimension 0"});
  check([](testing::GgmlRecord& r) { r.dims[0] = -4; }, {"dimension 0"});
  check([](testing::GgmlRecord& r) { r.name.clear(); }, {"name length"});
  check([](testing::GgmlRecord& r) { r.name = std::string(2000, 'n'); }, {"name length"});
  // Huge dims: the data size overflows or runs past the end of the file.
  check(
      [](testing::GgmlRecord& r) {
        r.dims = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
      },
      {"overflows"});
  check([](testing::GgmlRecord& r) { r.dims = {INT32_MAX, INT32_MAX}; }, {"truncated", "data of"});
  auto dup = good;
  dup.push_back(good[5]);
  write(testing::ggml_header(model_, 1), dup);
  expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel, {good[5].name, "twice"});
}

TEST_F(GgmlFile, TruncationAnywhereIsAnError) {
  // The big embedding goes last so that a fine sweep covers every other record cheaply.
  auto records = testing::ggml_records(model_, 1);
  std::stable_partition(records.begin(), records.end(), [](const testing::GgmlRecord& r) {
    return r.name != "decoder.token_embedding.weight";
  });
  const std::string bytes = testing::ggml_bytes(testing::ggml_header(model_, 1), records);
  testing::write_file(path_, bytes);
  const size_t small_end = bytes.size() - records.back().bytes.size();
  const size_t mel_end = 4 + 11 * 4 + 8 + 80 * 201 * 4;
  // Every byte of the header, the vocabulary and the first records; strides elsewhere. Cuts go
  // from the end down, truncating the file in place.
  const auto step = [&](size_t n) -> size_t {
    if (n < 200 || (n + 100 > mel_end && n < mel_end + 3000)) return 1;
    if (n < mel_end) return 97;
    return n < small_end ? 7 : 4099;
  };
  std::vector<size_t> cuts;
  for (size_t n = 0; n < bytes.size(); n += step(n)) cuts.push_back(n);
  for (auto it = cuts.rbegin(); it != cuts.rend(); ++it) {
    const size_t n = *it;
    std::filesystem::resize_file(path_, n);
    bool threw = false;
    try {
      read_ggml(path_);
    } catch (const Error& e) {
      threw = true;
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidModel) << e.what();
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
    // Only a cut between two records leaves a readable (if incomplete) file.
    if (!threw) {
      EXPECT_GT(n, mel_end) << "a cut inside the header was accepted at " << n;
    }
  }
  EXPECT_GT(cuts.size(), 3000u);
  testing::write_file(path_, bytes.substr(0, 100));
  expect_error([&] { read_ggml(path_); }, ErrorKind::kInvalidModel,
               {path_, "truncated", "mel filters"});
}

}  // namespace
}  // namespace hark::model
