#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "model/writers.h"

namespace hark::model {
namespace {

using nlohmann::json;
using testing::expect_error;
using testing::RawTensor;

std::string bytes_of(const void* p, size_t n) {
  return std::string(static_cast<const char*>(p), n);
}

std::vector<RawTensor> sample_tensors() {
  const float f32[6] = {1.5f, -2.0f, 0.25f, 3.0f, -0.125f, 8.0f};
  const uint16_t f16[3] = {float_to_half(1.0f), float_to_half(-0.5f), float_to_half(2.0f)};
  const uint16_t bf16[2] = {float_to_bf16(3.0f), float_to_bf16(-1.0f)};
  const int32_t i32[2] = {7, -9};
  const int64_t i64[1] = {1ll << 40};
  return {
      {"a.f32", "F32", {2, 3}, bytes_of(f32, sizeof f32)},
      {"b.f16", "F16", {3}, bytes_of(f16, sizeof f16)},
      {"c.bf16", "BF16", {1, 2}, bytes_of(bf16, sizeof bf16)},
      {"d.i32", "I32", {2}, bytes_of(i32, sizeof i32)},
      {"e.i64", "I64", {1}, bytes_of(i64, sizeof i64)},
      {"f.empty", "F32", {0, 4}, ""},
  };
}

void expect_sample_values(const SafetensorsWeights& w) {
  ASSERT_EQ(w.tensors.size(), 6u);
  const Tensor& a = w.tensors.at("a.f32");
  EXPECT_EQ(a.dtype(), DType::kF32);
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(a.data<float>()[0], 1.5f);
  EXPECT_EQ(a.data<float>()[5], 8.0f);
  const Tensor b = w.tensors.at("b.f16").to_f32();
  EXPECT_EQ(w.tensors.at("b.f16").dtype(), DType::kF16);
  EXPECT_EQ(b.data<float>()[1], -0.5f);
  const Tensor c = w.tensors.at("c.bf16").to_f32();
  EXPECT_EQ(w.tensors.at("c.bf16").dtype(), DType::kBF16);
  EXPECT_EQ(c.shape(), (Shape{1, 2}));
  EXPECT_EQ(c.data<float>()[0], 3.0f);
  EXPECT_EQ(w.tensors.at("d.i32").data<int32_t>()[1], -9);
  EXPECT_EQ(w.tensors.at("e.i64").data<int64_t>()[0], 1ll << 40);
  EXPECT_EQ(w.tensors.at("f.empty").numel(), 0);
  for (const auto& [name, t] : w.tensors)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % dtype_size(t.dtype()), 0u) << name;
}

TEST(Safetensors, ReadsEveryDtypeAndMetadata) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  testing::write_safetensors(path, sample_tensors(), {{"format", "pt"}});
  const SafetensorsWeights w = read_safetensors(path);
  expect_sample_values(w);
  EXPECT_EQ(w.metadata.at("format"), "pt");
  EXPECT_EQ(w.tensor_file.at("a.f32"), path);
  ASSERT_EQ(w.files.size(), 1u);
  // Aligned tensors are views into the mapping.
  const uint8_t* base = w.files[0]->data();
  const auto* a = static_cast<const uint8_t*>(w.tensors.at("a.f32").raw());
  EXPECT_TRUE(a >= base && a < base + w.files[0]->size());
}

TEST(Safetensors, ViewsOutliveTheResult) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  testing::write_safetensors(path, sample_tensors());
  Tensor a;
  {
    SafetensorsWeights w = read_safetensors(path);
    a = w.tensors.at("a.f32");
  }
  EXPECT_EQ(a.data<float>()[3], 3.0f);
}

TEST(Safetensors, MisalignedTensorsAreCopied) {
  // An odd header length puts the data section, and so every tensor, at an odd address.
  std::vector<RawTensor> ts = sample_tensors();
  ts.insert(ts.begin(), RawTensor{"0.pad", "F16", {}, "\x01\x02"});
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  json header = json::object();
  std::string data;
  for (const RawTensor& t : ts) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  std::string text = header.dump();
  if ((8 + text.size()) % 2 == 0) text += ' ';
  testing::write_safetensors_raw(path, text, data);
  SafetensorsWeights w = read_safetensors(path);
  w.tensors.erase("0.pad");
  expect_sample_values(w);
  const uint8_t* base = w.files[0]->data();
  const auto* a = static_cast<const uint8_t*>(w.tensors.at("a.f32").raw());
  EXPECT_FALSE(a >= base && a < base + w.files[0]->size()) << "a misaligned tensor was viewed";
}

std::string one_tensor_header(const json& entry) { return json{{"t", entry}}.dump(); }

TEST(Safetensors, TruncatedOrShortFiles) {
  const std::string dir = testing::fresh_dir("st");
  const std::string good = dir + "/good.safetensors";
  testing::write_safetensors(good, sample_tensors());
  const std::string bytes = testing::read_file(good);
  const std::string cut = dir + "/cut.safetensors";
  // Every prefix of the file is rejected (or, for a cut inside trailing data, names the tensor).
  for (size_t n = 0; n < bytes.size(); ++n) {
    testing::write_file(cut, bytes.substr(0, n));
    expect_error([&] { read_safetensors(cut); }, ErrorKind::kInvalidModel, {cut});
  }
  testing::write_file(cut, bytes.substr(0, bytes.size() - 3));
  expect_error([&] { read_safetensors(cut); }, ErrorKind::kInvalidModel, {"e.i64", "data_offsets"});
}

TEST(Safetensors, HeaderLengthLies) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  const std::string header =
      one_tensor_header({{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}});
  testing::write_safetensors_raw(path, header, std::string(4, '\0'), header.size() + 100);
  expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel,
               {path, "header length", "exceeds the file"});
  testing::write_safetensors_raw(path, header, std::string(4, '\0'), ~0ull);
  expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel, {path, "header length"});
  // A sparse 200 MB file whose header claims 150 MB.
  testing::write_safetensors_raw(path, header, "", 150ull << 20);
  std::filesystem::resize_file(path, 200ull << 20);
  expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel, {path, "100 MB"});
  testing::write_safetensors_raw(path, header, "", 3);
  expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel, {path, "JSON"});
}

TEST(Safetensors, BadJson) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  for (const char* h : {"{\"t\": {\"dtype\": ", "[1,2,3]", "\"x\"", "", "{\"t\": 3}",
                        "{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}",
                        "{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}",
                        "{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}",
                        "{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
                        "{\"__metadata__\": {\"a\": 1}}", "{\"__metadata__\": []}"}) {
    testing::write_safetensors_raw(path, h, std::string(4, '\0'));
    expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel, {path});
  }
}

TEST(Safetensors, EntriesThatLie) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  const std::string data(16, '\0');
  auto check = [&](const json& entry, std::initializer_list<std::string> needles) {
    testing::write_safetensors_raw(path, one_tensor_header(entry), data);
    expect_error([&] { read_safetensors(path); }, ErrorKind::kInvalidModel, needles);
  };
  check({{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {8, 24}}},
        {path, "tensor t", "outside the 16-byte data section"});
  check({{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {12, 4}}}, {"tensor t", "[12, 4]"});
  check({{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 8}}},
        {"tensor t", "8 bytes", "need 12 bytes"});
  check({{"dtype", "F16"}, {"shape", {1ll << 40, 1ll << 40}}, {"data_offsets", {0, 8}}},
        {"tensor t", "overflows"});
  check({{"dtype", "F32"}, {"shape", {~0ull}}, {"data_offsets", {0, 8}}}, {"tensor t"});
  check({{"dtype", "F32"}, {"shape", {-2}}, {"data_offsets", {0, 8}}}, {"tensor t", "shape"});
  check({{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {-8, 0}}}, {"tensor t"});
  check({{"dtype", "F32"}, {"shape", {"2"}}, {"data_offsets", {0, 8}}}, {"tensor t"});
  check({{"dtype", 3}, {"shape", {2}}, {"data_offsets", {0, 8}}}, {"tensor t", "dtype"});
}

TEST(Safetensors, UnsupportedDtypeNamesTensorAndDtype) {
  const std::string path = testing::fresh_dir("st") + "/m.safetensors";
  for (const char* dt : {"F64", "U8", "BOOL", "F8_E4M3", "Q4"}) {
    testing::write_safetensors_raw(
        path, one_tensor_header({{"dtype", dt}, {"shape", {2}}, {"data_offsets", {0, 16}}}),
        std::string(16, '\0'));
    expect_error([&] { read_safetensors(path); }, ErrorKind::kUnsupported, {path, "tensor t", dt});
  }
}

TEST(Safetensors, MissingFile) {
  expect_error([] { read_safetensors("/nonexistent/m.safetensors"); }, ErrorKind::kNotFound,
               {"/nonexistent/m.safetensors"});
}

void write_index(const std::string& dir, const json& weight_map) {
  testing::write_file(dir + "/model.safetensors.index.json",
                      json{{"metadata", json::object()}, {"weight_map", weight_map}}.dump());
}

TEST(ShardedSafetensors, MergesShards) {
  const std::string dir = testing::fresh_dir("shard");
  const auto ts = sample_tensors();
  testing::write_safetensors(dir + "/s1.safetensors", {ts[0], ts[1], ts[2]});
  testing::write_safetensors(dir + "/s2.safetensors", {ts[3], ts[4], ts[5]});
  json wm = json::object();
  for (size_t i = 0; i < ts.size(); ++i)
    wm[ts[i].name] = i < 3 ? "s1.safetensors" : "s2.safetensors";
  write_index(dir, wm);
  const SafetensorsWeights w = read_sharded_safetensors(dir + "/model.safetensors.index.json");
  expect_sample_values(w);
  EXPECT_EQ(w.files.size(), 2u);
  EXPECT_EQ(w.tensor_file.at("d.i32"), dir + "/s2.safetensors");
}

TEST(ShardedSafetensors, BadIndexes) {
  const std::string dir = testing::fresh_dir("shard");
  const std::string index = dir + "/model.safetensors.index.json";
  const auto ts = sample_tensors();
  testing::write_safetensors(dir + "/s1.safetensors", {ts[0], ts[1]});
  testing::write_safetensors(dir + "/s2.safetensors", {ts[1], ts[2]});

  write_index(dir, {{"a.f32", "s1.safetensors"}, {"c.bf16", "s3.safetensors"}});
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kNotFound, {"s3.safetensors"});
  write_index(dir, {{"a.f32", "s1.safetensors"}, {"c.bf16", "s1.safetensors"}});
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kInvalidModel,
               {index, "c.bf16", "s1.safetensors"});
  write_index(dir, {{"a.f32", "s1.safetensors"}, {"c.bf16", "s2.safetensors"}});
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kInvalidModel,
               {"b.f16", "s1.safetensors", "s2.safetensors"});
  write_index(dir, {{"a.f32", "../s1.safetensors"}});
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kInvalidModel,
               {"../s1.safetensors"});
  write_index(dir, json::object());
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kInvalidModel, {"weight_map"});
  testing::write_file(index, "{not json");
  expect_error([&] { read_sharded_safetensors(index); }, ErrorKind::kInvalidModel, {index, "JSON"});
}

}  // namespace
}  // namespace hark::model
