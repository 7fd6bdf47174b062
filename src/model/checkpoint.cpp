// load_checkpoint: picks the format from the path (directory, magic, extension), reads it through
// safetensors.h / ggml.h, brings names to the canonical layout, then checks every tensor the
// config implies. Messages name the file holding the tensor, the tensor as stored there, and the
// config field that implies the expected size.
#include "model/checkpoint.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/error.h"
#include "model/config_json.h"
#include "model/ggml.h"
#include "model/safetensors.h"

namespace hark::model {
namespace fs = std::filesystem;
namespace {

// One expected dimension and the ModelConfig member that sets it (null for constants).
struct Dim {
  int64_t value;
  const char* field;
};
using Dims = std::vector<Dim>;

class ExpectedBuilder {
 public:
  explicit ExpectedBuilder(const ModelConfig& c) : c_(c) {}

  std::map<std::string, Dims> build() {
    const Dim da{c_.n_audio_state, "n_audio_state"};
    const Dim dt{c_.n_text_state, "n_text_state"};
    add("encoder.conv1.weight", {da, {c_.n_mels, "n_mels"}, {3, nullptr}});
    add("encoder.conv1.bias", {da});
    add("encoder.conv2.weight", {da, da, {3, nullptr}});
    add("encoder.conv2.bias", {da});
    add("encoder.embed_positions.weight", {{c_.n_audio_ctx, "n_audio_ctx"}, da});
    for (int l = 0; l < c_.n_audio_layer; ++l) {
      const std::string p = fmt::format("encoder.layers.{}.", l);
      attention(p + "self_attn", da, da);
      layer_norm(p + "self_attn_layer_norm", da);
      mlp(p, da, {c_.n_audio_ffn, "n_audio_ffn"});
    }
    layer_norm("encoder.layer_norm", da);
    add("decoder.embed_tokens.weight", {{c_.n_vocab, "n_vocab"}, dt});
    add("decoder.embed_positions.weight", {{c_.n_text_ctx, "n_text_ctx"}, dt});
    for (int l = 0; l < c_.n_text_layer; ++l) {
      const std::string p = fmt::format("decoder.layers.{}.", l);
      attention(p + "self_attn", dt, dt);
      layer_norm(p + "self_attn_layer_norm", dt);
      attention(p + "encoder_attn", dt, da);
      layer_norm(p + "encoder_attn_layer_norm", dt);
      mlp(p, dt, {c_.n_text_ffn, "n_text_ffn"});
    }
    layer_norm("decoder.layer_norm", dt);
    return std::move(out_);
  }

 private:
  void add(std::string name, Dims dims) { out_.emplace(std::move(name), std::move(dims)); }
  // Whisper's key projections have no bias.
  void attention(const std::string& p, Dim d, Dim d_kv) {
    add(p + ".q_proj.weight", {d, d});
    add(p + ".q_proj.bias", {d});
    add(p + ".k_proj.weight", {d, d_kv});
    add(p + ".v_proj.weight", {d, d_kv});
    add(p + ".v_proj.bias", {d});
    add(p + ".out_proj.weight", {d, d});
    add(p + ".out_proj.bias", {d});
  }
  void layer_norm(const std::string& p, Dim d) {
    add(p + ".weight", {d});
    add(p + ".bias", {d});
  }
  void mlp(const std::string& p, Dim d, Dim ffn) {
    add(p + "fc1.weight", {ffn, d});
    add(p + "fc1.bias", {ffn});
    add(p + "fc2.weight", {d, ffn});
    add(p + "fc2.bias", {d});
    layer_norm(p + "final_layer_norm", d);
  }

  const ModelConfig& c_;
  std::map<std::string, Dims> out_;
};

Shape to_shape(const Dims& dims) {
  Shape s;
  for (const Dim& d : dims) s.push_back(d.value);
  return s;
}

// How a format names things, for messages.
struct Naming {
  std::string config_source;                         // "config.json" / "the header"
  std::string_view (*field_name)(std::string_view);  // ModelConfig member -> its name there
  std::function<std::string(const std::string&)> stored_name;  // canonical -> name in the file
  std::function<std::string(const std::string&)> file_of;      // canonical -> file to blame
};

std::string_view same_name(std::string_view member) { return member; }

void check_shape(const std::string& name, const Tensor& t, const Dims& dims, const Naming& n) {
  const Shape want = to_shape(dims);
  if (t.shape() == want) return;
  const std::string head = fmt::format("{}: tensor {} has shape {}", n.file_of(name),
                                       n.stored_name(name), shape_str(t.shape()));
  if (t.shape().size() == want.size()) {
    for (size_t i = 0; i < want.size(); ++i) {
      if (t.shape()[i] == want[i] || !dims[i].field) continue;
      throw_error(ErrorKind::kInvalidModel, "{}, {} says {}={} (expected {})", head,
                  n.config_source, n.field_name(dims[i].field), dims[i].value, shape_str(want));
    }
  }
  throw_error(ErrorKind::kInvalidModel, "{}, expected {}", head, shape_str(want));
}

// Checks every tensor the config implies and drops the others (the tied proj_out, extras).
void check_tensors(Checkpoint& ck, const Naming& n) {
  const std::map<std::string, Dims> expected = ExpectedBuilder(ck.config).build();
  std::erase_if(ck.tensors, [&](const auto& kv) { return !expected.count(kv.first); });
  for (const auto& [name, dims] : expected) {
    const auto it = ck.tensors.find(name);
    if (it == ck.tensors.end())
      throw_error(ErrorKind::kInvalidModel, "{}: tensor {} is missing", n.file_of(name),
                  n.stored_name(name));
    const DType dt = it->second.dtype();
    if (dt != DType::kF32 && dt != DType::kF16 && dt != DType::kBF16)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: tensor {} has dtype {}; weights must be F32, F16 or BF16", n.file_of(name),
                  n.stored_name(name), dtype_name(dt));
    check_shape(name, it->second, dims, n);
  }
}

// Moves safetensors weights into the checkpoint under canonical names; returns the stored names.
std::map<std::string, std::string> adopt_hf_tensors(Checkpoint& ck, SafetensorsWeights& w,
                                                    const std::string& blame) {
  std::map<std::string, std::string> stored;
  for (auto& [name, t] : w.tensors) {
    std::string canonical = name.starts_with("model.") ? name.substr(6) : name;
    // The output projection is tied to decoder.embed_tokens; a stored copy is not used.
    if (canonical == "proj_out.weight") continue;
    if (stored.count(canonical))
      throw_error(ErrorKind::kInvalidModel, "{}: tensors {} and {} are the same weight", blame,
                  stored[canonical], name);
    stored.emplace(canonical, name);
    ck.tensors.emplace(std::move(canonical), std::move(t));
  }
  for (auto& f : w.files) ck.keepalive.push_back(f);
  return stored;
}

Checkpoint load_hf(const fs::path& dir, const fs::path& weights, bool sharded) {
  Checkpoint ck;
  ck.format = "safetensors";
  ck.path = weights.string();
  ck.config = read_hf_config((dir / "config.json").string());
  ck.generation = read_generation_config((dir / "generation_config.json").string(), ck.config);
  SafetensorsWeights w =
      sharded ? read_sharded_safetensors(weights.string()) : read_safetensors(weights.string());
  const auto files = w.tensor_file;
  const auto stored = adopt_hf_tensors(ck, w, weights.string());
  bool prefixed = stored.empty();
  for (const auto& [c, s] : stored) prefixed = prefixed || s.starts_with("model.");
  Naming n;
  n.config_source = "config.json";
  n.field_name = &hf_config_field;
  n.stored_name = [&](const std::string& c) {
    const auto it = stored.find(c);
    return it != stored.end() ? it->second : (prefixed ? "model." : "") + c;
  };
  n.file_of = [&](const std::string& c) {
    const auto it = stored.find(c);
    return it != stored.end() ? files.at(it->second) : weights.string();
  };
  check_tensors(ck, n);
  return ck;
}

Checkpoint load_ggml(const std::string& path) {
  GgmlModel g = read_ggml(path);
  Checkpoint ck;
  ck.format = "ggml";
  ck.path = path;
  ck.config = g.config;
  try {
    ck.generation = GenerationConfig::defaults_for_vocab(g.config.n_vocab);
  } catch (const Error& e) {
    throw Error(e.kind(), path + ": " + e.what());
  }
  ck.tensors = std::move(g.tensors);
  ck.mel_filters = g.mel_filters;
  ck.ggml_vocab = std::move(g.vocab);
  ck.keepalive.push_back(g.file);
  Naming n;
  n.config_source = "the header";
  n.field_name = &same_name;
  n.stored_name = [&](const std::string& c) {
    const auto it = g.file_names.find(c);
    return it != g.file_names.end() ? it->second : canonical_to_ggml_name(c);
  };
  n.file_of = [&](const std::string&) { return path; };
  check_tensors(ck, n);
  return ck;
}

Checkpoint load_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "config.json", ec))
    throw_error(ErrorKind::kNotFound,
                "{}: config.json is missing (a Hugging Face Whisper directory holds config.json "
                "and model.safetensors)",
                dir.string());
  if (fs::exists(dir / "model.safetensors.index.json", ec))
    return load_hf(dir, dir / "model.safetensors.index.json", true);
  if (fs::exists(dir / "model.safetensors", ec))
    return load_hf(dir, dir / "model.safetensors", false);
  if (fs::exists(dir / "pytorch_model.bin", ec))
    throw_error(ErrorKind::kUnsupported,
                "{}: only pytorch_model.bin is there; PyTorch pickles are not supported, save the "
                "model with safetensors (save_pretrained(..., safe_serialization=True))",
                dir.string());
  throw_error(ErrorKind::kNotFound,
              "{}: neither model.safetensors nor model.safetensors.index.json is there",
              dir.string());
}

std::string read_prefix(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(ErrorKind::kIo, "{}: cannot open for reading", path);
  std::string buf(n, '\0');
  in.read(buf.data(), std::streamsize(n));
  buf.resize(size_t(in.gcount()));
  return buf;
}

}  // namespace

std::map<std::string, Shape> expected_tensor_shapes(const ModelConfig& cfg) {
  std::map<std::string, Shape> out;
  for (const auto& [name, dims] : ExpectedBuilder(cfg).build()) out.emplace(name, to_shape(dims));
  return out;
}

const Tensor& Checkpoint::get(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end())
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} is not in the checkpoint", path, name);
  return it->second;
}

Checkpoint load_checkpoint(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw_error(ErrorKind::kNotFound, "{}: no such file or directory", path);
  if (fs::is_directory(st)) return load_directory(path);
  const std::string head = read_prefix(path, 9);
  const auto* bytes = reinterpret_cast<const uint8_t*>(head.data());
  if (has_ggml_magic(bytes, head.size())) return load_ggml(path);
  if (head.starts_with("GGUF"))
    throw_error(ErrorKind::kUnsupported,
                "{}: GGUF files are not supported; use a whisper.cpp ggml .bin or safetensors",
                path);
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string fname = p.filename().string();
  if (fname.ends_with(".safetensors.index.json")) return load_hf(dir, p, true);
  // A safetensors header is a JSON object right after its 8-byte length.
  if (fname.ends_with(".safetensors") || (head.size() == 9 && head[8] == '{')) {
    if (!fs::exists(dir / "config.json", ec))
      throw_error(ErrorKind::kNotFound, "{}: config.json is missing beside it (in {})", path,
                  dir.string());
    return load_hf(dir, p, false);
  }
  throw_error(ErrorKind::kInvalidModel,
              "{}: neither a whisper.cpp ggml file (magic 0x67676d6c) nor a safetensors file",
              path);
}

}  // namespace hark::model
