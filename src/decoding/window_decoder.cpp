#include "decoding/window_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "decoding/beam_search.h"
#include "decoding/greedy.h"
#include "decoding/logit_filters.h"
#include "text/compression.h"

namespace hark::decoding {

WindowDecoder::WindowDecoder(const model::WhisperModel& model, const text::Tokenizer& tokenizer)
    : model_(model), tok_(tokenizer) {
  const auto& g = tok_.specials();
  default_suppress_ = g.suppress_tokens.empty() ? tok_.non_speech_tokens() : g.suppress_tokens;
}

std::vector<int> WindowDecoder::suppress_list(const DecodingOptions& o) const {
  const auto& g = tok_.specials();
  std::vector<int> s = o.use_default_suppress ? default_suppress_ : std::vector<int>{};
  s.insert(s.end(), o.suppress_tokens.begin(), o.suppress_tokens.end());
  for (int t : {g.transcribe, g.translate, g.sot, g.sot_prev, g.sot_lm, g.no_speech}) {
    if (t >= 0) s.push_back(t);
  }
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return s;
}

std::vector<int> WindowDecoder::sot_sequence(const std::string& language, Task task,
                                             bool timestamps) const {
  const auto& g = tok_.specials();
  std::vector<int> seq{g.sot};
  if (g.is_multilingual) {
    const auto lang = g.language_token(language);
    HARK_CHECK(lang.has_value(), ErrorKind::kInvalidArgument,
               "unknown language '{}' (use an ISO code such as en, de, fr, or auto)", language);
    seq.push_back(*lang);
    seq.push_back(task == Task::kTranslate ? g.translate : g.transcribe);
  } else {
    HARK_CHECK(language.empty() || language == "en", ErrorKind::kInvalidArgument,
               "this model is English-only; language '{}' is not available", language);
    HARK_CHECK(task == Task::kTranscribe, ErrorKind::kInvalidArgument,
               "this model is English-only and cannot translate");
  }
  if (!timestamps) seq.push_back(g.no_timestamps);
  return seq;
}

std::vector<std::pair<std::string, float>> WindowDecoder::detect_language(
    model::DecoderState& state) const {
  const auto& g = tok_.specials();
  HARK_CHECK(g.is_multilingual && !g.languages.empty(), ErrorKind::kInvalidArgument,
             "language detection needs a multilingual model");
  state.n_past = 0;
  const int sot = g.sot;
  Tensor logits = model_.decode(state, std::span<const int>(&sot, 1));
  const float* row = logits.data<float>();
  float m = -std::numeric_limits<float>::infinity();
  for (const auto& [code, id] : g.languages) m = std::max(m, row[id]);
  double total = 0;
  for (const auto& [code, id] : g.languages) total += std::exp(double(row[id]) - m);
  std::vector<std::pair<std::string, float>> probs;
  for (const auto& [code, id] : g.languages) {
    probs.emplace_back(code, float(std::exp(double(row[id]) - m) / total));
  }
  state.n_past = 0;
  return probs;
}

// ModelSequence

ModelSequence::ModelSequence(const model::WhisperModel& model, model::DecoderState state)
    : model_(model), state_(std::move(state)) {
  state_.cross_attention_out = nullptr;
}

void ModelSequence::step(int token, std::span<float> logits) {
  const Tensor out = model_.decode(state_, std::span<const int>(&token, 1));
  std::copy_n(out.data<float>(), logits.size(), logits.begin());
}

namespace {

// dst's rows [0, rows) := src's, in dst's own buffer unless it cannot hold them (never src's).
// Device tensors are cloned whole, on their device.
void copy_rows(const Tensor& src, int64_t rows, Tensor& dst) {
  if (src.device() != Device::kCpu) {
    dst = src.clone();
    return;
  }
  const bool reusable = dst.raw() != nullptr && dst.raw() != src.raw() &&
                        dst.device() == Device::kCpu && dst.dtype() == src.dtype() &&
                        dst.shape() == src.shape();
  if (!reusable) dst = Tensor::zeros(src.dtype(), src.shape());
  if (src.numel() == 0) return;
  const size_t row_bytes = src.nbytes() / size_t(src.dim(0));
  std::memcpy(dst.data<uint8_t>(), src.data<uint8_t>(), size_t(rows) * row_bytes);
}

void copy_state(const model::DecoderState& src, model::DecoderState& dst) {
  dst.cross_k = src.cross_k;
  dst.cross_v = src.cross_v;
  dst.cross_k_scale = src.cross_k_scale;
  dst.cross_v_scale = src.cross_v_scale;
  dst.self_k.resize(src.self_k.size());
  dst.self_v.resize(src.self_v.size());
  for (size_t i = 0; i < src.self_k.size(); ++i) {
    copy_rows(src.self_k[i], src.n_past, dst.self_k[i]);
    copy_rows(src.self_v[i], src.n_past, dst.self_v[i]);
  }
  dst.n_past = src.n_past;
  dst.cross_attention_out = nullptr;
}

}  // namespace

std::unique_ptr<DecoderSequence> ModelSequence::fork() const {
  model::DecoderState copy;
  copy_state(state_, copy);
  return std::make_unique<ModelSequence>(model_, std::move(copy));
}

void ModelSequence::assign(const DecoderSequence& other) {
  const auto* o = dynamic_cast<const ModelSequence*>(&other);
  HARK_CHECK(o != nullptr && &o->model_ == &model_, ErrorKind::kInternal,
             "ModelSequence::assign: the other sequence is not of the same model");
  if (o != this) copy_state(o->state_, state_);
}

// WindowDecoder::decode, phase by phase

struct WindowDecoder::Prefix {
  std::vector<int> tokens;
  int sot_index = 0;
};

std::string WindowDecoder::choose_language(model::DecoderState& state, const DecodingOptions& o,
                                           DecodingResult& r) const {
  const auto& g = tok_.specials();
  if (!g.is_multilingual) return "en";
  if (o.language) return *o.language;
  r.language_probs = detect_language(state);
  return std::max_element(r.language_probs.begin(), r.language_probs.end(),
                          [](auto& a, auto& b) { return a.second < b.second; })
      ->first;
}

WindowDecoder::Prefix WindowDecoder::initial_tokens(const DecodingOptions& o,
                                                    const std::string& language) const {
  const auto& g = tok_.specials();
  Prefix p;
  if (!o.prompt.empty()) {
    const int keep = model_.config().n_text_ctx / 2 - 1;
    p.tokens.push_back(g.sot_prev);
    const size_t from = o.prompt.size() > size_t(keep) ? o.prompt.size() - size_t(keep) : 0;
    p.tokens.insert(p.tokens.end(), o.prompt.begin() + long(from), o.prompt.end());
  }
  p.sot_index = int(p.tokens.size());
  const std::vector<int> sot_seq = sot_sequence(language, o.task, !o.without_timestamps);
  p.tokens.insert(p.tokens.end(), sot_seq.begin(), sot_seq.end());
  return p;
}

namespace {

double softmax_prob(std::span<const float> x, int index) {
  const float m = *std::max_element(x.begin(), x.end());
  double total = 0;
  for (float v : x) total += std::exp(double(v) - m);
  return std::exp(double(x[size_t(index)]) - m) / total;
}

}  // namespace

// Runs the prefix through the decoder in one call; records the no-speech probability at
// <|startoftranscript|> and returns the sequence with the logits for the first sampled position.
SearchStart WindowDecoder::feed_prefix(model::DecoderState state, const Prefix& p,
                                       DecodingResult& r) const {
  const auto& g = tok_.specials();
  const int n_vocab = model_.config().n_vocab;
  const Tensor all = model_.decode(state, p.tokens, /*all_logits=*/true);
  const float* rows = all.data<float>();
  r.no_speech_prob =
      g.no_speech >= 0
          ? softmax_prob({rows + int64_t(p.sot_index) * n_vocab, size_t(n_vocab)}, g.no_speech)
          : 0.0;
  const int64_t last = int64_t(p.tokens.size()) - 1;
  SearchStart start;
  start.logits.assign(rows + last * n_vocab, rows + (last + 1) * n_vocab);
  start.sequence = std::make_unique<ModelSequence>(model_, std::move(state));
  return start;
}

void WindowDecoder::finish_result(const SearchResult& s, DecodingResult& r) const {
  const Candidate& best = s.chosen();
  const auto& g = tok_.specials();
  r.tokens = best.tokens;
  r.sum_logprob = best.sum_logprob;
  r.avg_logprob = r.sum_logprob / double(r.tokens.size() + 1);
  r.n_candidates = int(s.candidates.size());
  std::vector<int> text_tokens;
  for (int t : r.tokens) {
    if (t < g.eot) text_tokens.push_back(t);
  }
  r.text = tok_.decode(text_tokens);
  r.compression_ratio = text::compression_ratio(r.text);
}

DecodingResult WindowDecoder::decode(const Tensor& encoder_out, const DecodingOptions& o) const {
  o.validate();
  const auto& g = tok_.specials();
  DecodingResult r;
  r.temperature = o.temperature;
  model::DecoderState state = model_.begin_window(encoder_out);
  r.language = choose_language(state, o, r);
  const Prefix prefix = initial_tokens(o, r.language);
  const int sample_begin = int(prefix.tokens.size());
  const int sample_len = o.sample_len > 0 ? o.sample_len : model_.config().n_text_ctx / 2;

  const LogitFilters filters(g, model_.config().n_vocab, sample_begin, suppress_list(o),
                             o.suppress_blank, !o.without_timestamps);
  const SearchContext ctx{filters, g.eot, o.suppress_eot, prefix.tokens,
                          std::min(sample_begin + sample_len, model_.config().n_text_ctx)};
  SearchStart start = feed_prefix(std::move(state), prefix, r);
  SearchResult s;
  if (o.beam_size) {
    s = beam_search(std::move(start), ctx, {*o.beam_size, o.patience, o.length_penalty});
  } else if (o.temperature > 0) {
    s = sampling_search(std::move(start), ctx,
                        {o.temperature, o.best_of.value_or(1), o.seed, o.length_penalty});
  } else {
    s = greedy_search(std::move(start), ctx);
  }
  finish_result(s, r);
  return r;
}

}  // namespace hark::decoding
