#include "model/writers.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/half.h"
#include "model/checkpoint.h"
#include "model/ggml.h"
#include "support/test_env.h"

namespace hark::model::testing {

using nlohmann::json;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string fresh_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  const std::string dir = hark::testing::temp_dir() + "/" + name + "-" + std::to_string(counter++);
  std::filesystem::create_directories(dir);
  return dir;
}

static std::string u64_le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

void write_safetensors(const std::string& path, const std::vector<RawTensor>& tensors,
                       const std::map<std::string, std::string>& metadata, size_t pad_to) {
  json header = json::object();
  std::string data;
  for (const RawTensor& t : tensors) {
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
    data += t.bytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  while ((8 + text.size()) % pad_to) text += ' ';
  write_file(path, u64_le(text.size()) + text + data);
}

void write_safetensors_raw(const std::string& path, const std::string& header,
                           const std::string& data, std::optional<uint64_t> header_len) {
  write_file(path, u64_le(header_len.value_or(header.size())) + header + data);
}

static void put_i32(std::string& out, int32_t v) {
  for (int i = 0; i < 4; ++i) out += char((uint32_t(v) >> (8 * i)) & 0xff);
}

std::string ggml_bytes(const GgmlHeader& h, const std::vector<GgmlRecord>& tensors) {
  std::string out;
  put_i32(out, int32_t(kGgmlMagic));
  for (int32_t v : h.hparams) put_i32(out, v);
  put_i32(out, h.mel_n_mel);
  put_i32(out, h.mel_n_fft);
  out.append(reinterpret_cast<const char*>(h.mel.data()), h.mel.size() * 4);
  put_i32(out, int32_t(h.vocab.size()));
  for (const std::string& t : h.vocab) {
    put_i32(out, int32_t(t.size()));
    out += t;
  }
  for (const GgmlRecord& t : tensors) {
    put_i32(out, int32_t(t.dims.size()));
    put_i32(out, int32_t(t.name.size()));
    put_i32(out, t.type);
    for (int32_t d : t.dims) put_i32(out, d);
    out += t.name;
    out += t.bytes;
  }
  return out;
}

TinyModel make_tiny_model(uint32_t seed, int n_mels) {
  TinyModel m;
  ModelConfig& c = m.cfg;
  c.n_vocab = 51865;
  c.n_mels = n_mels;
  c.n_audio_ctx = 24;
  c.n_audio_state = c.n_text_state = 8;
  c.n_audio_head = c.n_text_head = 2;
  c.n_audio_layer = c.n_text_layer = 1;
  c.n_audio_ffn = c.n_text_ffn = 32;
  c.n_text_ctx = 16;
  std::mt19937 rng(seed);
  // k / 8 for |k| <= 64: exact in f16 and bf16.
  std::uniform_int_distribution<int> k(-64, 64);
  m.shapes = expected_tensor_shapes(c);
  for (const auto& [name, shape] : m.shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = float(k(rng)) / 8.0f;
    m.values[name] = std::move(v);
  }
  m.mel.resize(size_t(n_mels) * 201);
  for (size_t i = 0; i < m.mel.size(); ++i) m.mel[i] = float(i % 201) / 256.0f;
  m.vocab = {"!", "\"", "#", " the", "\xe2\x96\x81x"};
  return m;
}

std::string encode(const std::vector<float>& v, DType dtype) {
  std::string out;
  if (dtype == DType::kF32) {
    out.assign(reinterpret_cast<const char*>(v.data()), v.size() * 4);
    return out;
  }
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    h[i] = dtype == DType::kF16 ? float_to_half(v[i]) : float_to_bf16(v[i]);
  out.assign(reinterpret_cast<const char*>(h.data()), h.size() * 2);
  return out;
}

std::string dtype_tag(DType dtype) { return std::string(dtype_name(dtype)); }

std::string hf_config_json(const ModelConfig& c) {
  json j = {{"model_type", "whisper"},
            {"activation_function", "gelu"},
            {"vocab_size", c.n_vocab},
            {"num_mel_bins", c.n_mels},
            {"d_model", c.n_audio_state},
            {"encoder_layers", c.n_audio_layer},
            {"encoder_attention_heads", c.n_audio_head},
            {"encoder_ffn_dim", c.n_audio_ffn},
            {"decoder_layers", c.n_text_layer},
            {"decoder_attention_heads", c.n_text_head},
            {"decoder_ffn_dim", c.n_text_ffn},
            {"max_source_positions", c.n_audio_ctx},
            {"max_target_positions", c.n_text_ctx},
            {"scale_embedding", false},
            {"torch_dtype", "float16"}};
  return j.dump(2);
}

std::string generation_config_json() {
  json langs = json::object();
  langs["<|en|>"] = 50259;
  langs["<|zh|>"] = 50260;
  langs["<|de|>"] = 50261;
  json j = {{"decoder_start_token_id", 50258},
            {"eos_token_id", 50257},
            {"pad_token_id", 50257},
            {"no_timestamps_token_id", 50363},
            {"prev_sot_token_id", 50361},
            {"is_multilingual", true},
            {"lang_to_id", langs},
            {"task_to_id", {{"translate", 50358}, {"transcribe", 50359}}},
            {"suppress_tokens", {1, 2, 7, 8}},
            {"begin_suppress_tokens", {220, 50257}},
            {"max_initial_timestamp_index", 50},
            {"max_length", 16},
            {"alignment_heads", {{0, 1}, {0, 0}}}};
  return j.dump(2);
}

std::vector<RawTensor> hf_tensors(const TinyModel& m, DType dtype, bool prefix) {
  std::vector<RawTensor> out;
  for (const auto& [name, v] : m.values)
    out.push_back(
        {(prefix ? "model." : "") + name, dtype_tag(dtype), m.shapes.at(name), encode(v, dtype)});
  return out;
}

void write_hf_dir(const std::string& dir, const TinyModel& m, DType dtype, int shards) {
  write_file(dir + "/config.json", hf_config_json(m.cfg));
  write_file(dir + "/generation_config.json", generation_config_json());
  const std::vector<RawTensor> all = hf_tensors(m, dtype);
  if (shards <= 1) {
    write_safetensors(dir + "/model.safetensors", all, {{"format", "pt"}});
    return;
  }
  json weight_map = json::object();
  for (int s = 0; s < shards; ++s) {
    const std::string file = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards);
    std::vector<RawTensor> part;
    for (size_t i = size_t(s); i < all.size(); i += size_t(shards)) {
      part.push_back(all[i]);
      weight_map[all[i].name] = file;
    }
    write_safetensors(dir + "/" + file, part, {{"format", "pt"}});
  }
  json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
  write_file(dir + "/model.safetensors.index.json", index.dump(2));
}

GgmlHeader ggml_header(const TinyModel& m, int32_t ftype) {
  const ModelConfig& c = m.cfg;
  GgmlHeader h{{c.n_vocab, c.n_audio_ctx, c.n_audio_state, c.n_audio_head, c.n_audio_layer,
                c.n_text_ctx, c.n_text_state, c.n_text_head, c.n_text_layer, c.n_mels, ftype},
               c.n_mels,
               201,
               m.mel,
               m.vocab};
  return h;
}

std::vector<GgmlRecord> ggml_records(const TinyModel& m, int32_t type) {
  std::vector<GgmlRecord> out;
  for (const auto& [name, v] : m.values) {
    Shape shape = m.shapes.at(name);
    const bool conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
    if (conv_bias) shape.push_back(1);
    const bool f32 = shape.size() < 2 || conv_bias || name.ends_with("embed_positions.weight");
    GgmlRecord r;
    r.name = canonical_to_ggml_name(name);
    r.type = f32 ? 0 : type;
    for (auto it = shape.rbegin(); it != shape.rend(); ++it) r.dims.push_back(int32_t(*it));
    r.bytes = encode(v, r.type == 0 ? DType::kF32 : DType::kF16);
    out.push_back(std::move(r));
  }
  return out;
}

void write_ggml_model(const std::string& path, const TinyModel& m, int32_t type) {
  write_file(path, ggml_bytes(ggml_header(m, type), ggml_records(m, type)));
}

}  // namespace hark::model::testing
