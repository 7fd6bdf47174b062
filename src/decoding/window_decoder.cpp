#include "decoding/window_decoder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
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

namespace {

int argmax(std::span<const float> x) {
  return int(std::max_element(x.begin(), x.end()) - x.begin());
}

double softmax_prob(std::span<const float> x, int index) {
  const float m = *std::max_element(x.begin(), x.end());
  double total = 0;
  for (float v : x) total += std::exp(double(v) - m);
  return std::exp(double(x[size_t(index)]) - m) / total;
}

}  // namespace

DecodingResult WindowDecoder::decode(const Tensor& encoder_out, const DecodingOptions& o) const {
  const auto& g = tok_.specials();
  const int n_vocab = model_.config().n_vocab;
  DecodingResult r;
  model::DecoderState state = model_.begin_window(encoder_out);

  r.language = o.language.value_or("");
  if (!o.language && g.is_multilingual) {
    r.language_probs = detect_language(state);
    r.language =
        std::max_element(r.language_probs.begin(), r.language_probs.end(), [](auto& a, auto& b) {
          return a.second < b.second;
        })->first;
  } else if (!g.is_multilingual) {
    r.language = "en";
  }

  std::vector<int> tokens;
  if (!o.prompt.empty()) {
    const int keep = model_.config().n_text_ctx / 2 - 1;
    tokens.push_back(g.sot_prev);
    const size_t from = o.prompt.size() > size_t(keep) ? o.prompt.size() - size_t(keep) : 0;
    tokens.insert(tokens.end(), o.prompt.begin() + long(from), o.prompt.end());
  }
  const int sot_index = int(tokens.size());
  const std::vector<int> sot_seq = sot_sequence(r.language, o.task, !o.without_timestamps);
  tokens.insert(tokens.end(), sot_seq.begin(), sot_seq.end());
  const int sample_begin = int(tokens.size());
  const int sample_len = o.sample_len > 0 ? o.sample_len : model_.config().n_text_ctx / 2;
  const int max_tokens = std::min(sample_begin + sample_len, model_.config().n_text_ctx);

  LogitFilters filters(g, n_vocab, sample_begin, suppress_list(o), o.suppress_blank,
                       !o.without_timestamps);
  Tensor all = model_.decode(state, tokens, /*all_logits=*/true);
  r.no_speech_prob =
      g.no_speech >= 0
          ? softmax_prob({all.data<float>() + int64_t(sot_index) * n_vocab, size_t(n_vocab)},
                         g.no_speech)
          : 0.0;
  std::vector<float> row(all.data<float>() + int64_t(sample_begin - 1) * n_vocab,
                         all.data<float>() + int64_t(sample_begin) * n_vocab);
  std::vector<float> logprobs(static_cast<size_t>(n_vocab));
  bool ended = false;
  while (int(tokens.size()) < max_tokens) {
    filters.apply(row, tokens);
    if (o.suppress_eot) row[size_t(g.eot)] = -std::numeric_limits<float>::infinity();
    log_softmax(row, logprobs);
    const int next = argmax(row);
    r.sum_logprob += logprobs[size_t(next)];
    tokens.push_back(next);
    if (next == g.eot) {
      ended = true;
      break;
    }
    if (int(tokens.size()) >= max_tokens) break;
    Tensor logits = model_.decode(state, std::span<const int>(&next, 1));
    std::copy_n(logits.data<float>(), n_vocab, row.begin());
  }
  r.tokens.assign(tokens.begin() + sample_begin, tokens.end() - (ended ? 1 : 0));
  r.avg_logprob = r.sum_logprob / double(r.tokens.size() + 1);
  std::vector<int> text_tokens;
  for (int t : r.tokens) {
    if (t < g.eot) text_tokens.push_back(t);
  }
  r.text = tok_.decode(text_tokens);
  r.compression_ratio = text::compression_ratio(r.text);
  return r;
}

}  // namespace hark::decoding
