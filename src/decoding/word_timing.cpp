#include "decoding/word_timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "decoding/word_timing_dtw.h"

namespace hark::decoding {
namespace {

// weights [H, T, A] -> [H, T, n]: each row's first n probabilities divided by their sum, i.e. the
// softmax of the raw scores restricted to those positions. A row whose first n sum to 0 (every
// probability underflowed) becomes uniform.
Tensor restrict_positions(const Tensor& weights, int64_t n) {
  const int64_t rows = weights.dim(0) * weights.dim(1), a = weights.dim(2);
  Tensor out = Tensor::zeros(DType::kF32, {weights.dim(0), weights.dim(1), n});
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = weights.data<float>() + r * a;
    float* o = out.data<float>() + r * n;
    double sum = 0;
    for (int64_t f = 0; f < n; ++f) sum += in[f];
    for (int64_t f = 0; f < n; ++f) o[f] = sum > 0 ? float(in[f] / sum) : float(1.0 / double(n));
  }
  return out;
}

// In place over [H, T, n]: (w - mean) / std over the T axis for each head and position, with the
// population std (torch.std_mean(unbiased=False)); 0 where the std is 0.
void standardize_over_tokens(Tensor& w) {
  const int64_t heads = w.dim(0), t = w.dim(1), n = w.dim(2);
  for (int64_t h = 0; h < heads; ++h) {
    float* base = w.data<float>() + h * t * n;
    for (int64_t f = 0; f < n; ++f) {
      double sum = 0, sq = 0;
      for (int64_t i = 0; i < t; ++i) sum += base[i * n + f];
      const double mean = sum / double(t);
      for (int64_t i = 0; i < t; ++i) sq += (base[i * n + f] - mean) * (base[i * n + f] - mean);
      const double sd = std::sqrt(sq / double(t));
      for (int64_t i = 0; i < t; ++i) {
        base[i * n + f] = sd > 0 ? float((base[i * n + f] - mean) / sd) : 0.0f;
      }
    }
  }
}

// -mean over heads of w [H, T, n], rows [begin, end) only: the dtw cost [end - begin, n].
Tensor negated_head_mean(const Tensor& w, int64_t begin, int64_t end) {
  const int64_t heads = w.dim(0), t = w.dim(1), n = w.dim(2);
  Tensor cost = Tensor::zeros(DType::kF32, {end - begin, n});
  for (int64_t i = begin; i < end; ++i) {
    for (int64_t f = 0; f < n; ++f) {
      double sum = 0;
      for (int64_t h = 0; h < heads; ++h) sum += w.data<float>()[(h * t + i) * n + f];
      cost.data<float>()[(i - begin) * n + f] = -float(sum / double(heads));
    }
  }
  return cost;
}

// The time (s) at which the path first enters each row: timing.py's jump_times.
std::vector<double> jump_times(const DtwPath& path) {
  std::vector<double> times;
  for (size_t k = 0; k < path.text_indices.size(); ++k) {
    if (k == 0 || path.text_indices[k] != path.text_indices[k - 1]) {
      times.push_back(path.time_indices[k] / kTokensPerSecond);
    }
  }
  return times;
}

// Python's round(x, 2): the nearest multiple of 0.01 to the exact binary value, ties to even,
// which is what glibc's correctly rounded "%.2f" gives.
double round2(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", x);
  return std::strtod(buf, nullptr);
}

double median_word_duration(const std::vector<WordTiming>& alignment) {
  std::vector<double> durations;
  for (const WordTiming& w : alignment) {
    if (w.end - w.start != 0) durations.push_back(w.end - w.start);
  }
  if (durations.empty()) return 0;
  std::sort(durations.begin(), durations.end());
  const size_t mid = durations.size() / 2;
  const double median =
      durations.size() % 2 ? durations[mid] : (durations[mid - 1] + durations[mid]) / 2;
  return std::min(0.7, median);
}

bool in_sentence_end_marks(const std::string& word) {
  return std::string_view(
             "."
             "\u3002!\uff01?\uff1f")
             .find(word) != std::string_view::npos;
}

// timing.py: words at sentence boundaries may not be longer than max_duration.
void truncate_at_sentence_ends(std::vector<WordTiming>& alignment, double max_duration) {
  for (size_t i = 1; i < alignment.size(); ++i) {
    WordTiming& w = alignment[i];
    if (w.end - w.start <= max_duration) continue;
    if (in_sentence_end_marks(w.word)) {
      w.end = w.start + max_duration;
    } else if (in_sentence_end_marks(alignment[i - 1].word)) {
      w.start = w.end - max_duration;
    }
  }
}

// timing.py's per-segment fix-ups of its first and last words (words non-empty).
void fit_segment(Segment& segment, std::vector<Word>& words, double median_duration,
                 double max_duration, double last_speech_timestamp) {
  Word& first = words.front();
  const bool after_pause = first.end - last_speech_timestamp > median_duration * 4;
  const bool long_start = first.end - first.start > max_duration ||
                          (words.size() > 1 && words[1].end - first.start > max_duration * 2);
  if (after_pause && long_start) {
    if (words.size() > 1 && words[1].end - words[1].start > max_duration) {
      const double boundary = std::max(words[1].end / 2, words[1].end - max_duration);
      first.end = words[1].start = boundary;
    }
    first.start = std::max(0.0, first.end - max_duration);
  }
  if (segment.start < first.end && segment.start - 0.5 > first.start) {
    first.start = std::max(0.0, std::min(first.end - median_duration, segment.start));
  } else {
    segment.start = first.start;
  }
  Word& last = words.back();
  if (segment.end > last.start && segment.end + 0.5 < last.end) {
    last.end = std::max(last.start + median_duration, segment.end);
  } else {
    segment.end = last.end;
  }
}

// Probability of token `id` under the softmax of row[0 .. eot) (timing.py's sampled logits).
double text_probability(const float* row, int eot, int id) {
  const float m = *std::max_element(row, row + eot);
  double total = 0;
  for (int v = 0; v < eot; ++v) total += std::exp(double(row[v]) - m);
  return std::exp(double(row[id]) - m) / total;
}

struct TeacherForced {
  Tensor weights;                        // [heads, tokens, n_audio_ctx]
  std::vector<double> text_token_probs;  // of tokens[sot_length + 1 .. size - 1)
};

// Decodes `tokens` teacher-forced in a fresh state, kAlignmentChunk tokens per decoder call so
// that the captured cross-attention of every layer ([n_head, chunk, n_audio_ctx] each) stays
// bounded whatever the text length; keeps the rows of `heads` and the text tokens' probabilities.
TeacherForced teacher_force(const model::WhisperModel& model, const Tensor& encoder_out,
                            const std::vector<int>& tokens, const AlignmentHeads& heads,
                            int sot_length, int eot) {
  constexpr int64_t kAlignmentChunk = 64;
  const int64_t t = int64_t(tokens.size()), a = encoder_out.dim(0),
                n_vocab = model.config().n_vocab;
  TeacherForced out{Tensor::zeros(DType::kF32, {int64_t(heads.size()), t, a}), {}};
  model::DecoderState state = model.begin_window(encoder_out);
  std::vector<Tensor> attention;
  state.cross_attention_out = &attention;
  for (int64_t begin = 0; begin < t; begin += kAlignmentChunk) {
    const int64_t n = std::min(kAlignmentChunk, t - begin);
    const Tensor logits = model.decode(
        state, std::span<const int>(tokens).subspan(size_t(begin), size_t(n)), /*all_logits=*/true);
    for (size_t k = 0; k < heads.size(); ++k) {
      const auto& [layer, head] = heads[k];
      const float* src = attention[size_t(layer)].data<float>() + int64_t(head) * n * a;
      std::copy_n(src, n * a, out.weights.data<float>() + (int64_t(k) * t + begin) * a);
    }
    // Position p predicts tokens[p + 1]; the text tokens are predicted from sot_length on.
    for (int64_t p = std::max<int64_t>(begin, sot_length); p < begin + n && p + 2 < t; ++p) {
      out.text_token_probs.push_back(text_probability(logits.data<float>() + (p - begin) * n_vocab,
                                                      eot, tokens[size_t(p + 1)]));
    }
  }
  return out;
}

}  // namespace

std::vector<WordTiming> align_words(const Tensor& weights, std::span<const double> text_token_probs,
                                    const text::Tokenizer& tokenizer,
                                    const std::vector<int>& text_tokens, int sot_length,
                                    int num_frames, const std::string& language,
                                    int median_filter_width) {
  const int64_t n_text = int64_t(text_tokens.size());
  const int64_t n_tokens = sot_length + n_text + 2;
  HARK_CHECK(weights.dtype() == DType::kF32 && weights.ndim() == 3 && weights.dim(0) > 0 &&
                 weights.dim(1) == n_tokens,
             ErrorKind::kInvalidArgument,
             "align_words: weights must be f32 [heads, {} tokens, positions], got {} {}", n_tokens,
             dtype_name(weights.dtype()), shape_str(weights.shape()));
  HARK_CHECK(int64_t(text_token_probs.size()) == n_text && sot_length >= 1,
             ErrorKind::kInvalidArgument,
             "align_words: {} token probabilities for {} text tokens (sot length {})",
             text_token_probs.size(), n_text, sot_length);
  const int eot = tokenizer.specials().eot;
  for (int t : text_tokens) {
    HARK_CHECK(t >= 0 && t < eot, ErrorKind::kInvalidArgument,
               "align_words: text token {} is not a text token (ids below {})", t, eot);
  }
  const int64_t n_pos = std::min<int64_t>(num_frames / 2, weights.dim(2));
  if (n_text == 0 || n_pos < 1) return {};

  Tensor w = restrict_positions(weights, n_pos);
  standardize_over_tokens(w);
  w = median_filter(w, median_filter_width);
  const DtwPath path = dtw(negated_head_mean(w, sot_length, n_tokens - 1));

  std::vector<int> with_eot = text_tokens;
  with_eot.push_back(eot);
  std::vector<WordTokens> words = split_to_word_tokens(tokenizer, with_eot, language);
  if (words.size() <= 1) return {};
  const std::vector<double> times = jump_times(path);
  HARK_CHECK(int64_t(times.size()) == n_text + 1, ErrorKind::kInternal,
             "align_words: the path entered {} of {} rows", times.size(), n_text + 1);

  std::vector<WordTiming> out;
  size_t begin = 0;
  for (size_t k = 0; k + 1 < words.size(); ++k) {
    const size_t end = begin + words[k].tokens.size();
    double p = 0;
    for (size_t i = begin; i < end; ++i) p += text_token_probs[i];
    out.push_back({std::move(words[k].word), std::move(words[k].tokens), times[begin], times[end],
                   p / double(end - begin)});
    begin = end;
  }
  return out;
}

std::vector<WordTiming> find_alignment(const model::WhisperModel& model,
                                       const text::Tokenizer& tokenizer, const Tensor& encoder_out,
                                       std::vector<int> sot_sequence,
                                       const std::vector<int>& text_tokens, int num_frames,
                                       const std::string& language, const AlignmentHeads& heads,
                                       int median_filter_width) {
  const auto& g = tokenizer.specials();
  const auto& cfg = model.config();
  if (!sot_sequence.empty() && sot_sequence.back() == g.no_timestamps) sot_sequence.pop_back();
  HARK_CHECK(!sot_sequence.empty() && sot_sequence.front() == g.sot, ErrorKind::kInvalidArgument,
             "find_alignment: the sot sequence must start with <|startoftranscript|>");
  HARK_CHECK(!heads.empty(), ErrorKind::kInvalidArgument, "find_alignment: no alignment heads");
  for (const auto& [layer, head] : heads) {
    HARK_CHECK(layer >= 0 && layer < cfg.n_text_layer && head >= 0 && head < cfg.n_text_head,
               ErrorKind::kInvalidArgument,
               "alignment head [{}, {}] is outside the decoder ({} layers of {} heads)", layer,
               head, cfg.n_text_layer, cfg.n_text_head);
  }
  if (text_tokens.empty()) return {};
  for (int t : text_tokens) {
    HARK_CHECK(t >= 0 && t < g.eot, ErrorKind::kInvalidArgument,
               "find_alignment: text token {} is not a text token (ids below {})", t, g.eot);
  }

  std::vector<int> tokens = sot_sequence;
  tokens.push_back(g.no_timestamps);
  tokens.insert(tokens.end(), text_tokens.begin(), text_tokens.end());
  tokens.push_back(g.eot);
  const int sot_length = int(sot_sequence.size());
  const TeacherForced tf = teacher_force(model, encoder_out, tokens, heads, sot_length, g.eot);
  return align_words(tf.weights, tf.text_token_probs, tokenizer, text_tokens, sot_length,
                     num_frames, language, median_filter_width);
}

void assign_word_timestamps(std::vector<Segment>& segments, std::vector<WordTiming> alignment,
                            int eot, double last_speech_timestamp,
                            const WordTimestampOptions& options) {
  if (segments.empty()) return;
  const double median_duration = median_word_duration(alignment);
  const double max_duration = median_duration * 2;
  if (median_duration > 0) truncate_at_sentence_ends(alignment, max_duration);
  merge_punctuations(alignment, options.prepend_punctuations, options.append_punctuations);

  const double time_offset = double(segments.front().seek) * 160.0 / 16000.0;
  size_t word_index = 0;
  for (Segment& segment : segments) {
    const auto n_text = size_t(std::count_if(segment.tokens.begin(), segment.tokens.end(),
                                             [eot](int t) { return t < eot; }));
    std::vector<Word> words;
    for (size_t saved = 0; word_index < alignment.size() && saved < n_text; ++word_index) {
      const WordTiming& timing = alignment[word_index];
      if (!timing.word.empty()) {
        words.push_back({timing.word, round2(time_offset + timing.start),
                         round2(time_offset + timing.end), timing.probability});
      }
      saved += timing.tokens.size();
    }
    if (!words.empty()) {
      fit_segment(segment, words, median_duration, max_duration, last_speech_timestamp);
      last_speech_timestamp = segment.end;
    }
    segment.words = std::move(words);
  }
}

void add_word_timestamps(std::vector<Segment>& segments, const model::WhisperModel& model,
                         const text::Tokenizer& tokenizer, const Tensor& encoder_out,
                         const std::vector<int>& sot_sequence, int num_frames,
                         const std::string& language, const AlignmentHeads& heads,
                         double last_speech_timestamp, const WordTimestampOptions& options) {
  if (segments.empty()) return;
  const int eot = tokenizer.specials().eot;
  std::vector<int> text_tokens;
  for (const Segment& s : segments) {
    for (int t : s.tokens) {
      if (t < eot) text_tokens.push_back(t);
    }
  }
  std::vector<WordTiming> alignment =
      find_alignment(model, tokenizer, encoder_out, sot_sequence, text_tokens, num_frames, language,
                     heads, options.median_filter_width);
  assign_word_timestamps(segments, std::move(alignment), eot, last_speech_timestamp, options);
}

std::optional<double> segments_end(const std::vector<Segment>& segments) {
  for (auto s = segments.rbegin(); s != segments.rend(); ++s) {
    if (!s->words.empty()) return s->words.back().end;
  }
  if (segments.empty()) return std::nullopt;
  return segments.back().end;
}

}  // namespace hark::decoding
