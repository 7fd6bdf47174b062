// Test-side writers for safetensors and ggml files, and a tiny made-up Whisper (d_model 8, 2 heads,
// 1 + 1 layers, the real v1/v2 vocabulary size) whose values are exact in f16 and bf16, so that
// checkpoints written in every dtype and format must load to identical numbers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "model/config.h"

namespace hark::model::testing {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
// A fresh directory under the test process's temp dir.
std::string fresh_dir(const std::string& name);

// ---- safetensors -------------------------------------------------------------------------------
struct RawTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", ...
  Shape shape;
  std::string bytes;
};
// Header padded with spaces to a multiple of `pad_to` (8 as the safetensors library does; 1 for
// none), tensors laid out in the given order.
void write_safetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {}, size_t pad_to = 8);
// Exactly: u64 header_len (default: header.size()), header, data.
void write_safetensors_raw(const std::string& path, const std::string& header,
                           const std::string& data, std::optional<uint64_t> header_len = {});

// ---- ggml
// ----------------------------------------------------------------------------------------
struct GgmlRecord {
  std::string name;
  int32_t type;               // 0 f32, 1 f16, ...
  std::vector<int32_t> dims;  // innermost first
  std::string bytes;
};
struct GgmlHeader {
  int32_t hparams[11];  // n_vocab ... n_mels, ftype
  int32_t mel_n_mel, mel_n_fft;
  std::vector<float> mel;
  std::vector<std::string> vocab;
};
std::string ggml_bytes(const GgmlHeader& h, const std::vector<GgmlRecord>& tensors);

// ---- the tiny model
// ------------------------------------------------------------------------------
struct TinyModel {
  ModelConfig cfg;
  std::map<std::string, std::vector<float>> values;  // canonical name -> row-major values
  std::map<std::string, Shape> shapes;               // canonical name -> PyTorch shape
  std::vector<float> mel;                            // [n_mels, 201]
  std::vector<std::string> vocab;
};
TinyModel make_tiny_model(uint32_t seed = 1, int n_mels = 80);

std::string encode(const std::vector<float>& v, DType dtype);  // F32, F16 or BF16 bytes
std::string dtype_tag(DType dtype);                            // "F32", "F16", "BF16"

std::string hf_config_json(const ModelConfig& c);  // config.json text
std::string generation_config_json();              // a v1/v2 (51865) generation_config.json

// The tensors as HF stores them ("model." prefix unless `prefix` is false; proj_out omitted).
std::vector<RawTensor> hf_tensors(const TinyModel& m, DType dtype, bool prefix = true);
// config.json, generation_config.json, and either model.safetensors or `shards` shards with
// model.safetensors.index.json.
void write_hf_dir(const std::string& dir, const TinyModel& m, DType dtype, int shards = 1);

// whisper.cpp's layout: matrices in `dtype` (0 f32, 1 f16), vectors, conv biases ([n, 1]) and
// positional embeddings f32.
GgmlHeader ggml_header(const TinyModel& m, int32_t ftype);
std::vector<GgmlRecord> ggml_records(const TinyModel& m, int32_t type);
void write_ggml_model(const std::string& path, const TinyModel& m, int32_t type);

// Runs f; expects a hark::Error of `kind` whose message contains every needle.
template <typename F>
void expect_error(F&& f, ErrorKind kind, std::initializer_list<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected " << to_string(kind);
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.kind()), to_string(kind)) << e.what();
    for (const std::string& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message lacks \"" << n << "\": " << e.what();
  }
}

}  // namespace hark::model::testing
