#include "model/safetensors.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/error.h"
#include "model/aligned_view.h"
#include "model/config_json.h"

namespace hark::model {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::optional<DType> dtype_from_string(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  if (s == "I32") return DType::kI32;
  if (s == "I64") return DType::kI64;
  return std::nullopt;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t as_u64(const json& v, const std::string& path, const std::string& name,
                std::string_view what) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0))
    throw_error(ErrorKind::kInvalidModel,
                "{}: tensor {} has a bad {} entry {} (expected a non-negative integer)", path, name,
                what, v.dump());
  return v.get<uint64_t>();
}

struct Entry {
  DType dtype;
  Shape shape;
  uint64_t begin;
};

Entry parse_entry(const std::string& path, const std::string& name, const json& e,
                  uint64_t data_size) {
  if (!e.is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has a header entry that is not an object",
                path, name);
  const auto dt = e.find("dtype");
  const auto sh = e.find("shape");
  const auto off = e.find("data_offsets");
  if (dt == e.end() || !dt->is_string())
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has no dtype string", path, name);
  if (sh == e.end() || !sh->is_array())
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has no shape list", path, name);
  if (off == e.end() || !off->is_array() || off->size() != 2)
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has no data_offsets [begin, end]", path,
                name);
  const std::string dtype_str = dt->get<std::string>();
  const auto dtype = dtype_from_string(dtype_str);
  if (!dtype)
    throw_error(ErrorKind::kUnsupported,
                "{}: tensor {} has dtype {}, which is not supported (F32, F16, BF16, I32, I64)",
                path, name, dtype_str);
  Entry out{*dtype, {}, 0};
  uint64_t bytes = dtype_size(*dtype);
  for (const json& d : *sh) {
    const uint64_t dim = as_u64(d, path, name, "shape");
    if (dim > uint64_t(INT64_MAX) || __builtin_mul_overflow(bytes, dim, &bytes))
      throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has shape {} whose size overflows", path,
                  name, sh->dump());
    out.shape.push_back(int64_t(dim));
  }
  const uint64_t begin = as_u64((*off)[0], path, name, "data_offsets");
  const uint64_t end = as_u64((*off)[1], path, name, "data_offsets");
  if (begin > end || end > data_size)
    throw_error(ErrorKind::kInvalidModel,
                "{}: tensor {} has data_offsets [{}, {}] outside the {}-byte data section", path,
                name, begin, end, data_size);
  if (end - begin != bytes)
    throw_error(ErrorKind::kInvalidModel,
                "{}: tensor {} has data_offsets [{}, {}] ({} bytes) but dtype {} and shape {} need "
                "{} bytes",
                path, name, begin, end, end - begin, dtype_str, shape_str(out.shape), bytes);
  out.begin = begin;
  return out;
}

void parse_metadata(const std::string& path, const json& m,
                    std::map<std::string, std::string>& out) {
  if (!m.is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: __metadata__ must be an object of strings", path);
  for (const auto& [k, v] : m.items()) {
    if (!v.is_string())
      throw_error(ErrorKind::kInvalidModel, "{}: __metadata__ value of {} is not a string", path,
                  k);
    out[k] = v.get<std::string>();
  }
}

json parse_header(const MappedFile& f) {
  const std::string& path = f.path();
  if (f.size() < 8)
    throw_error(ErrorKind::kInvalidModel,
                "{}: file of {} bytes is too short for a safetensors header length", path,
                f.size());
  const uint64_t n = read_u64_le(f.data());
  if (n > f.size() - 8)
    throw_error(ErrorKind::kInvalidModel,
                "{}: header length {} exceeds the file ({} bytes); the file is truncated or not "
                "safetensors",
                path, n, f.size());
  if (n >= kMaxHeaderBytes)
    throw_error(ErrorKind::kInvalidModel, "{}: header length {} exceeds the 100 MB limit", path, n);
  json header;
  try {
    header = json::parse(f.data() + 8, f.data() + 8 + n);
  } catch (const json::parse_error& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: header is not valid JSON: {}", path, e.what());
  }
  if (!header.is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: header is not a JSON object", path);
  return header;
}

}  // namespace

SafetensorsWeights read_safetensors(const std::string& path) {
  SafetensorsWeights out;
  auto file = MappedFile::open(path);
  const json header = parse_header(*file);
  const uint64_t data_start = 8 + read_u64_le(file->data());
  const uint64_t data_size = file->size() - data_start;
  const uint8_t* data = file->data() + data_start;
  for (const auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      parse_metadata(path, e, out.metadata);
      continue;
    }
    Entry entry = parse_entry(path, name, e, data_size);
    out.tensors.emplace(
        name, view_or_copy(entry.dtype, std::move(entry.shape), data + entry.begin, file));
    out.tensor_file.emplace(name, path);
  }
  out.files.push_back(std::move(file));
  return out;
}

namespace {

// weight_map as (tensor, shard) pairs, shards checked to be plain names in the index's directory.
std::map<std::string, std::string> parse_weight_map(const std::string& index_path) {
  json index;
  try {
    index = json::parse(read_text_file(index_path));
  } catch (const json::parse_error& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: not valid JSON: {}", index_path, e.what());
  }
  const auto wm = index.is_object() ? index.find("weight_map") : index.end();
  if (wm == index.end() || !wm->is_object() || wm->empty())
    throw_error(ErrorKind::kInvalidModel, "{}: no weight_map object", index_path);
  std::map<std::string, std::string> out;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string())
      throw_error(ErrorKind::kInvalidModel, "{}: weight_map entry {} is not a file name",
                  index_path, name);
    const std::string s = shard.get<std::string>();
    if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: weight_map puts {} in \"{}\", which is not a file name in this directory",
                  index_path, name, s);
    out.emplace(name, s);
  }
  return out;
}

}  // namespace

SafetensorsWeights read_sharded_safetensors(const std::string& index_path) {
  const auto weight_map = parse_weight_map(index_path);
  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  std::set<std::string> shards;
  for (const auto& [name, shard] : weight_map) shards.insert(shard);
  SafetensorsWeights out;
  for (const std::string& shard : shards) {
    SafetensorsWeights w = read_safetensors((dir / shard).string());
    for (auto& [name, t] : w.tensors) {
      if (out.tensors.count(name))
        throw_error(ErrorKind::kInvalidModel, "{}: tensor {} is in both {} and {}", index_path,
                    name, out.tensor_file[name], w.tensor_file[name]);
      out.tensor_file[name] = w.tensor_file[name];
      out.tensors.emplace(name, std::move(t));
    }
    for (auto& [k, v] : w.metadata) out.metadata[k] = v;
    for (auto& f : w.files) out.files.push_back(std::move(f));
  }
  for (const auto& [name, shard] : weight_map) {
    const auto it = out.tensor_file.find(name);
    if (it == out.tensor_file.end() ||
        std::filesystem::path(it->second).filename().string() != shard)
      throw_error(ErrorKind::kInvalidModel, "{}: weight_map puts tensor {} in {}, which lacks it",
                  index_path, name, shard);
  }
  return out;
}

}  // namespace hark::model
