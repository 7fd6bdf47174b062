#include "model/ggml.h"

#include <cstring>
#include <optional>

#include "core/error.h"
#include "model/aligned_view.h"

namespace hark::model {
namespace {

// Limits far above any Whisper file, so that a corrupt count fails here rather than in a loop.
constexpr int32_t kMaxTokenBytes = 4096;
constexpr int32_t kMaxNameBytes = 1024;
constexpr int32_t kMaxDims = 4;
constexpr int32_t kMelFftBins = 201;

// A bounds-checked little-endian cursor over the mapped file. Messages say what was being read:
// a static label ("length") plus the record it belongs to, formatted only on error.
class Reader {
 public:
  explicit Reader(const MappedFile& f) : f_(f) {}

  size_t remaining() const { return f_.size() - pos_; }
  size_t pos() const { return pos_; }
  const std::string& path() const { return f_.path(); }

  // The record being read: "<kind> <index>" ("vocabulary token 7", "tensor at offset 1234"),
  // or "tensor <name>" once the name is known.
  void set_record(const char* kind, size_t index) {
    kind_ = kind;
    index_ = index;
    name_ = {};
  }
  void set_record_name(std::string_view name) { name_ = name; }

  const uint8_t* bytes(size_t n, std::string_view what) {
    if (n > remaining())
      throw_error(ErrorKind::kInvalidModel,
                  "{}: file is truncated while reading {}{} (needs {} bytes at offset {}, {} left)",
                  f_.path(), what, record(), n, pos_, remaining());
    const uint8_t* p = f_.data() + pos_;
    pos_ += n;
    return p;
  }
  int32_t i32(std::string_view what) {
    const uint8_t* p = bytes(4, what);
    return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
                   uint32_t(p[3]) << 24);
  }
  // An i32 that must lie in [lo, hi].
  int32_t i32_in(std::string_view what, int32_t lo, int32_t hi) {
    const int32_t v = i32(what);
    if (v < lo || v > hi)
      throw_error(ErrorKind::kInvalidModel, "{}: {}{} is {}, expected {} to {} (offset {})",
                  f_.path(), what, record(), v, lo, hi, pos_ - 4);
    return v;
  }

 private:
  std::string record() const {
    if (!name_.empty()) return fmt::format(" of tensor {}", name_);
    if (kind_) return fmt::format(" of {} {}", kind_, index_);
    return {};
  }

  const MappedFile& f_;
  size_t pos_ = 0;
  const char* kind_ = nullptr;
  size_t index_ = 0;
  std::string_view name_;
};

struct GgmlType {
  int id;
  const char* name;
  enum Kind { kFloat, kQuantized, kOther } kind;
  DType dtype;  // for kFloat
};

// ggml's type numbers (ggml.h's enum ggml_type); gaps are retired types.
constexpr GgmlType kTypes[] = {
    {0, "f32", GgmlType::kFloat, DType::kF32},
    {1, "f16", GgmlType::kFloat, DType::kF16},
    {2, "q4_0", GgmlType::kQuantized, {}},
    {3, "q4_1", GgmlType::kQuantized, {}},
    {6, "q5_0", GgmlType::kQuantized, {}},
    {7, "q5_1", GgmlType::kQuantized, {}},
    {8, "q8_0", GgmlType::kQuantized, {}},
    {9, "q8_1", GgmlType::kQuantized, {}},
    {10, "q2_K", GgmlType::kQuantized, {}},
    {11, "q3_K", GgmlType::kQuantized, {}},
    {12, "q4_K", GgmlType::kQuantized, {}},
    {13, "q5_K", GgmlType::kQuantized, {}},
    {14, "q6_K", GgmlType::kQuantized, {}},
    {15, "q8_K", GgmlType::kQuantized, {}},
    {16, "iq2_xxs", GgmlType::kQuantized, {}},
    {17, "iq2_xs", GgmlType::kQuantized, {}},
    {18, "iq3_xxs", GgmlType::kQuantized, {}},
    {19, "iq1_s", GgmlType::kQuantized, {}},
    {20, "iq4_nl", GgmlType::kQuantized, {}},
    {21, "iq3_s", GgmlType::kQuantized, {}},
    {22, "iq2_s", GgmlType::kQuantized, {}},
    {23, "iq4_xs", GgmlType::kQuantized, {}},
    {24, "i8", GgmlType::kOther, {}},
    {25, "i16", GgmlType::kOther, {}},
    {26, "i32", GgmlType::kOther, {}},
    {27, "i64", GgmlType::kOther, {}},
    {28, "f64", GgmlType::kOther, {}},
    {29, "iq1_m", GgmlType::kQuantized, {}},
    {30, "bf16", GgmlType::kFloat, DType::kBF16},
    {34, "tq1_0", GgmlType::kQuantized, {}},
    {35, "tq2_0", GgmlType::kQuantized, {}},
    {39, "mxfp4", GgmlType::kQuantized, {}},
};

const GgmlType* find_type(int id) {
  for (const GgmlType& t : kTypes)
    if (t.id == id) return &t;
  return nullptr;
}

ModelConfig read_hparams(Reader& r, int& ftype) {
  ModelConfig c;
  c.n_vocab = r.i32("hparams n_vocab");
  c.n_audio_ctx = r.i32("hparams n_audio_ctx");
  c.n_audio_state = r.i32("hparams n_audio_state");
  c.n_audio_head = r.i32("hparams n_audio_head");
  c.n_audio_layer = r.i32("hparams n_audio_layer");
  c.n_text_ctx = r.i32("hparams n_text_ctx");
  c.n_text_state = r.i32("hparams n_text_state");
  c.n_text_head = r.i32("hparams n_text_head");
  c.n_text_layer = r.i32("hparams n_text_layer");
  c.n_mels = r.i32("hparams n_mels");
  ftype = r.i32_in("hparams ftype", 0, INT32_MAX) % 1000;
  // No ffn field: every released model has 4 * d. A state out of range is left to validate(),
  // which checks it before the ffn sizes.
  const auto ffn = [](int32_t d) { return d > 0 && d <= (1 << 20) ? 4 * d : 0; };
  c.n_audio_ffn = ffn(c.n_audio_state);
  c.n_text_ffn = ffn(c.n_text_state);
  c.validate(r.path(), nullptr);
  return c;
}

Tensor read_mel_filters(Reader& r, const ModelConfig& c, const std::shared_ptr<MappedFile>& f) {
  const int32_t n_mel = r.i32("mel filters n_mel");
  const int32_t n_fft = r.i32("mel filters n_fft");
  if (n_mel != c.n_mels || n_fft != kMelFftBins)
    throw_error(ErrorKind::kInvalidModel, "{}: mel filters are [{}, {}], expected [n_mels={}, {}]",
                r.path(), n_mel, n_fft, c.n_mels, kMelFftBins);
  const size_t n = size_t(n_mel) * size_t(n_fft);
  const uint8_t* p = r.bytes(n * 4, "mel filters");
  return view_or_copy(DType::kF32, {n_mel, n_fft}, p, f);
}

std::vector<std::string> read_vocab(Reader& r, const ModelConfig& c) {
  const int32_t count = r.i32_in("vocabulary size", 0, c.n_vocab);
  std::vector<std::string> vocab;
  vocab.reserve(size_t(count));
  for (int32_t i = 0; i < count; ++i) {
    r.set_record("vocabulary token", size_t(i));
    const int32_t len = r.i32_in("length", 0, kMaxTokenBytes);
    const uint8_t* p = r.bytes(size_t(len), "bytes");
    vocab.emplace_back(reinterpret_cast<const char*>(p), size_t(len));
  }
  r.set_record(nullptr, 0);
  return vocab;
}

// Reads one tensor record; returns its canonical name and tensor.
std::pair<std::string, Tensor> read_tensor(Reader& r, const std::shared_ptr<MappedFile>& f,
                                           std::string& file_name) {
  r.set_record("the tensor at offset", r.pos());
  const int32_t n_dims = r.i32_in("n_dims", 1, kMaxDims);
  const int32_t name_len = r.i32_in("name length", 1, kMaxNameBytes);
  const int32_t type_id = r.i32("type");
  int32_t dims[kMaxDims];
  static constexpr const char* kDimLabels[kMaxDims] = {"dimension 0", "dimension 1", "dimension 2",
                                                       "dimension 3"};
  for (int32_t i = 0; i < n_dims; ++i) dims[i] = r.i32_in(kDimLabels[i], 1, INT32_MAX);
  const uint8_t* np = r.bytes(size_t(name_len), "name");
  file_name.assign(reinterpret_cast<const char*>(np), size_t(name_len));
  r.set_record_name(file_name);

  const GgmlType* type = find_type(type_id);
  if (!type)
    throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has unknown ggml type {}", r.path(),
                file_name, type_id);
  if (type->kind == GgmlType::kQuantized)
    throw_error(ErrorKind::kUnsupported,
                "{}: tensor {} is quantized ({}); quantized ggml models are not supported yet; "
                "use an f16 or f32 file",
                r.path(), file_name, type->name);
  if (type->kind != GgmlType::kFloat)
    throw_error(ErrorKind::kUnsupported,
                "{}: tensor {} has ggml type {}, which is not supported (f32, f16, bf16)", r.path(),
                file_name, type->name);

  Shape shape;
  uint64_t bytes = dtype_size(type->dtype);
  for (int32_t i = n_dims - 1; i >= 0; --i) {
    if (__builtin_mul_overflow(bytes, uint64_t(dims[i]), &bytes))
      throw_error(ErrorKind::kInvalidModel, "{}: tensor {} has dimensions whose size overflows",
                  r.path(), file_name);
    shape.push_back(dims[i]);
  }
  const uint8_t* data = r.bytes(bytes, "data");
  std::string canonical = ggml_to_canonical_name(file_name);
  // whisper.cpp stores the conv biases as [n, 1] to broadcast over time; PyTorch has [n].
  if (canonical.ends_with(".bias") && shape.size() == 2 && shape[1] == 1) shape.pop_back();
  return {std::move(canonical), view_or_copy(type->dtype, std::move(shape), data, f)};
}

}  // namespace

bool has_ggml_magic(const uint8_t* data, size_t size) {
  return size >= 4 && (uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 |
                       uint32_t(data[3]) << 24) == kGgmlMagic;
}

GgmlModel read_ggml(const std::string& path) {
  GgmlModel m;
  m.file = MappedFile::open(path);
  if (!has_ggml_magic(m.file->data(), m.file->size()))
    throw_error(ErrorKind::kInvalidModel, "{}: not a whisper.cpp ggml file (bad magic)", path);
  Reader r(*m.file);
  r.bytes(4, "magic");
  m.config = read_hparams(r, m.ftype);
  m.mel_filters = read_mel_filters(r, m.config, m.file);
  m.vocab = read_vocab(r, m.config);
  std::string file_name;
  while (r.remaining() > 0) {
    auto [name, tensor] = read_tensor(r, m.file, file_name);
    if (m.tensors.count(name))
      throw_error(ErrorKind::kInvalidModel, "{}: tensor {} appears twice", path, file_name);
    m.file_names.emplace(name, file_name);
    m.tensors.emplace(std::move(name), std::move(tensor));
  }
  return m;
}

namespace {

struct NamePair {
  std::string_view openai, hf;
};

constexpr NamePair kWholeNames[] = {
    {"encoder.positional_embedding", "encoder.embed_positions.weight"},
    {"decoder.positional_embedding", "decoder.embed_positions.weight"},
    {"decoder.token_embedding.weight", "decoder.embed_tokens.weight"},
    {"encoder.ln_post.weight", "encoder.layer_norm.weight"},
    {"encoder.ln_post.bias", "encoder.layer_norm.bias"},
    {"decoder.ln.weight", "decoder.layer_norm.weight"},
    {"decoder.ln.bias", "decoder.layer_norm.bias"},
};

// Modules inside a block, without the trailing ".weight" / ".bias".
constexpr NamePair kBlockModules[] = {
    {"attn.query", "self_attn.q_proj"},
    {"attn.key", "self_attn.k_proj"},
    {"attn.value", "self_attn.v_proj"},
    {"attn.out", "self_attn.out_proj"},
    {"attn_ln", "self_attn_layer_norm"},
    {"cross_attn.query", "encoder_attn.q_proj"},
    {"cross_attn.key", "encoder_attn.k_proj"},
    {"cross_attn.value", "encoder_attn.v_proj"},
    {"cross_attn.out", "encoder_attn.out_proj"},
    {"cross_attn_ln", "encoder_attn_layer_norm"},
    {"mlp.0", "fc1"},
    {"mlp.2", "fc2"},
    {"mlp_ln", "final_layer_norm"},
};

std::optional<std::string> translate_block(std::string_view name, bool to_hf) {
  const std::string_view from_blocks = to_hf ? "blocks." : "layers.";
  const std::string_view to_blocks = to_hf ? "layers." : "blocks.";
  for (std::string_view stack : {"encoder.", "decoder."}) {
    if (!name.starts_with(stack)) continue;
    std::string_view rest = name.substr(stack.size());
    if (!rest.starts_with(from_blocks)) return std::nullopt;
    rest.remove_prefix(from_blocks.size());
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
    const std::string_view index = rest.substr(0, dot);
    if (index.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    const std::string_view tail = rest.substr(dot + 1);
    const size_t last = tail.rfind('.');
    if (last == std::string_view::npos) return std::nullopt;
    const std::string_view module = tail.substr(0, last);
    for (const NamePair& p : kBlockModules) {
      if (module != (to_hf ? p.openai : p.hf)) continue;
      return fmt::format("{}{}{}.{}{}", stack, to_blocks, index, to_hf ? p.hf : p.openai,
                         tail.substr(last));
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::string translate(std::string_view name, bool to_hf) {
  for (const NamePair& p : kWholeNames)
    if (name == (to_hf ? p.openai : p.hf)) return std::string(to_hf ? p.hf : p.openai);
  if (auto block = translate_block(name, to_hf)) return *block;
  return std::string(name);
}

}  // namespace

std::string ggml_to_canonical_name(std::string_view name) { return translate(name, true); }
std::string canonical_to_ggml_name(std::string_view name) { return translate(name, false); }

}  // namespace hark::model
