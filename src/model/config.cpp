// Range checks on a ModelConfig. The limits are generous bounds around every released Whisper
// (and distil-whisper) model: they exist to reject corrupt or hostile headers before any size is
// used for an allocation, not to forbid custom shapes.
#include <cmath>

#include "core/error.h"
#include "model/config.h"

namespace hark::model {
namespace {

constexpr int kMaxVocab = 1 << 20;
constexpr int kMaxAudioCtx = 1500;  // 30 s of audio after the encoder's stride-2 convolution
constexpr int kMaxTextCtx = 4096;
constexpr int kMaxState = 8192;
constexpr int kMaxLayers = 256;
constexpr int kMaxFfn = 65536;

struct Checker {
  std::string_view source;
  std::string_view (*field_name)(std::string_view);

  std::string_view name(std::string_view member) const {
    return field_name ? field_name(member) : member;
  }
  void in_range(std::string_view member, int value, int lo, int hi) const {
    if (value < lo || value > hi)
      throw_error(ErrorKind::kInvalidModel, "{}: {}={} is out of range (expected {} to {})", source,
                  name(member), value, lo, hi);
  }
  void divides(std::string_view state, int d, std::string_view heads, int h) const {
    if (d % h != 0)
      throw_error(ErrorKind::kInvalidModel, "{}: {}={} is not divisible by {}={}", source,
                  name(state), d, name(heads), h);
  }
};

}  // namespace

void ModelConfig::validate() const { validate("model config", nullptr); }

void ModelConfig::validate(std::string_view source,
                           std::string_view (*field_name)(std::string_view)) const {
  const Checker c{source, field_name};
  c.in_range("n_vocab", n_vocab, 1, kMaxVocab);
  if (n_mels != 80 && n_mels != 128)
    throw_error(ErrorKind::kInvalidModel, "{}: {}={} is not a Whisper mel size (80 or 128)", source,
                c.name("n_mels"), n_mels);
  c.in_range("n_audio_ctx", n_audio_ctx, 1, kMaxAudioCtx);
  c.in_range("n_audio_state", n_audio_state, 1, kMaxState);
  c.in_range("n_audio_head", n_audio_head, 1, n_audio_state);
  c.in_range("n_audio_layer", n_audio_layer, 1, kMaxLayers);
  c.in_range("n_audio_ffn", n_audio_ffn, 1, kMaxFfn);
  c.in_range("n_text_ctx", n_text_ctx, 1, kMaxTextCtx);
  c.in_range("n_text_state", n_text_state, 1, kMaxState);
  c.in_range("n_text_head", n_text_head, 1, n_text_state);
  c.in_range("n_text_layer", n_text_layer, 1, kMaxLayers);
  c.in_range("n_text_ffn", n_text_ffn, 1, kMaxFfn);
  c.divides("n_audio_state", n_audio_state, "n_audio_head", n_audio_head);
  c.divides("n_text_state", n_text_state, "n_text_head", n_text_head);
  // Cross-attention projects encoder states with [d, d] weights; every Whisper has one width.
  if (n_audio_state != n_text_state)
    throw_error(ErrorKind::kInvalidModel, "{}: {}={} differs from {}={}", source,
                c.name("n_audio_state"), n_audio_state, c.name("n_text_state"), n_text_state);
  if (!(std::isfinite(layer_norm_eps) && layer_norm_eps > 0.0f && layer_norm_eps < 1.0f))
    throw_error(ErrorKind::kInvalidModel, "{}: layer_norm_eps={} is out of range (0, 1)", source,
                layer_norm_eps);
}

std::string ModelConfig::size_name() const {
  struct Size {
    int d_model;
    int layers;
    const char* name;
  };
  static constexpr Size kSizes[] = {
      {384, 4, "tiny"},     {512, 6, "base"},    {768, 12, "small"},
      {1024, 24, "medium"}, {1280, 32, "large"},
  };
  for (const Size& s : kSizes) {
    if (n_audio_state != s.d_model || n_text_state != s.d_model) continue;
    if (n_audio_layer != s.layers) return "custom";
    if (n_text_layer == s.layers) return s.name;
    if (s.d_model == 1280 && n_text_layer == 4) return "large-v3-turbo";
    if (n_text_layer == 2) return std::string("distil-") + s.name;
    return "custom";
  }
  return "custom";
}

}  // namespace hark::model
