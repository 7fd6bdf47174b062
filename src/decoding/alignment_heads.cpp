#include "decoding/alignment_heads.h"

#include "core/error.h"

namespace hark::decoding {
namespace {

using HeadPair = std::pair<int, int>;

struct Preset {
  std::string_view name;
  int n_text_layer;
  int n_text_head;
  std::span<const HeadPair> heads;
};

#include "decoding/alignment_heads_table.inc"

std::string_view canonical_name(std::string_view name) {
  if (name == "large") return "large-v3";
  if (name == "turbo") return "large-v3-turbo";
  return name;
}

}  // namespace

AlignmentHeads alignment_heads_preset(std::string_view model_name) {
  const std::string_view name = canonical_name(model_name);
  for (const Preset& p : kPresets) {
    if (p.name == name) return AlignmentHeads(p.heads.begin(), p.heads.end());
  }
  return {};
}

std::string_view released_model_name(const model::ModelConfig& cfg, bool multilingual) {
  const int d = cfg.n_text_state, layers = cfg.n_text_layer, heads = cfg.n_text_head;
  std::string_view size;
  if (d == 384 && layers == 4 && heads == 6) size = "tiny";
  if (d == 512 && layers == 6 && heads == 8) size = "base";
  if (d == 768 && layers == 12 && heads == 12) size = "small";
  if (d == 1024 && layers == 24 && heads == 16) size = "medium";
  if (!size.empty()) {
    static constexpr std::string_view kEnglish[] = {"tiny.en", "base.en", "small.en", "medium.en"};
    static constexpr std::string_view kMulti[] = {"tiny", "base", "small", "medium"};
    for (size_t i = 0; i < std::size(kMulti); ++i) {
      if (kMulti[i] == size) return multilingual ? kMulti[i] : kEnglish[i];
    }
  }
  if (d != 1280 || heads != 20 || !multilingual) return "";
  const bool v3 = cfg.n_vocab >= 51866 || cfg.n_mels == 128;
  if (layers == 32) return v3 ? "large-v3" : "large-v2";
  if (layers == 4 && v3) return "large-v3-turbo";
  return "";
}

AlignmentHeads alignment_heads_preset(const model::ModelConfig& cfg, bool multilingual) {
  const std::string_view name = released_model_name(cfg, multilingual);
  return name.empty() ? AlignmentHeads{} : alignment_heads_preset(name);
}

AlignmentHeads default_alignment_heads(const model::ModelConfig& cfg) {
  AlignmentHeads heads;
  for (int l = cfg.n_text_layer / 2; l < cfg.n_text_layer; ++l) {
    for (int h = 0; h < cfg.n_text_head; ++h) heads.emplace_back(l, h);
  }
  return heads;
}

AlignmentHeads resolve_alignment_heads(const model::ModelConfig& cfg,
                                       const model::GenerationConfig& generation, bool use_preset) {
  AlignmentHeads heads = generation.alignment_heads;
  if (heads.empty() && use_preset) heads = alignment_heads_preset(cfg, generation.is_multilingual);
  if (heads.empty()) heads = default_alignment_heads(cfg);
  for (const auto& [layer, head] : heads) {
    HARK_CHECK(layer >= 0 && layer < cfg.n_text_layer && head >= 0 && head < cfg.n_text_head,
               ErrorKind::kInvalidModel,
               "alignment head [{}, {}] is outside the decoder ({} layers of {} heads)", layer,
               head, cfg.n_text_layer, cfg.n_text_head);
  }
  return heads;
}

}  // namespace hark::decoding
