// Word timing end to end: align_words on constructed attention patterns whose word boundaries are
// known, assign_word_timestamps on hand-worked alignments (timing.py add_word_timestamps), and
// find_alignment / add_word_timestamps through a small random-weight model.
#include "decoding/word_timing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "model/checkpoint.h"
#include "support/test_env.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;

const text::Tokenizer& multilingual() {
  static const text::Tokenizer t =
      text::Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51865);
  return t;
}

constexpr int kEot = 50257;
constexpr int kTimestampBegin = 50364;
const std::vector<int> kHelloWorld = {15947, 1002, 0};  // "Hello", " world", "!"

// Attention of `heads` heads over `positions` audio positions for sot_length + n_text + 2 tokens:
// the sot rows and the <|endoftext|> row spread evenly over every position; the row predicting
// text token k (k = n_text: <|endoftext|>) puts `inside` of its mass evenly on positions
// [first + block*k, first + block*(k+1)) and the rest on position `elsewhere`.
Tensor block_attention(int heads, int sot_length, int n_text, int positions, int first, int block,
                       double inside = 1.0, int elsewhere = 0) {
  const int64_t t = sot_length + n_text + 2;
  Tensor w = Tensor::zeros(DType::kF32, {heads, t, positions});
  for (int h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < t; ++i) {
      float* row = w.data<float>() + (h * t + i) * positions;
      const int64_t k = i - sot_length;
      if (k < 0 || k > n_text) {
        std::fill(row, row + positions, 1.0f / float(positions));
        continue;
      }
      for (int f = 0; f < block; ++f) row[first + block * k + f] = float(inside / block);
      row[elsewhere] += float(1.0 - inside);
    }
  }
  return w;
}

struct Expected {
  std::string word;
  double start, end, probability;
};

void expect_words(const std::vector<WordTiming>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].word, want[i].word) << i;
    EXPECT_NEAR(got[i].start, want[i].start, 1e-12) << i;
    EXPECT_NEAR(got[i].end, want[i].end, 1e-12) << i;
    EXPECT_NEAR(got[i].probability, want[i].probability, 1e-12) << i;
  }
}

TEST(AlignmentTest, WordBoundariesFollowTheAttendedBlocks) {
  // Token k attends positions [10k, 10k+10): 20 ms each, so words change every 0.2 s.
  const Tensor w = block_attention(1, 3, 3, 1500, 0, 10);
  const std::vector<double> probs = {0.5, 0.25, 1.0};
  const auto words = align_words(w, probs, multilingual(), kHelloWorld, 3, 200, "en");
  expect_words(words, {{"Hello", 0.0, 0.2, 0.5}, {" world", 0.2, 0.4, 0.25}, {"!", 0.4, 0.6, 1.0}});
  EXPECT_THAT(words[1].tokens, ElementsAre(1002));
}

TEST(AlignmentTest, TheFirstWordStartsAtTheWindowStart) {
  // The path starts at position 0 whatever the attention says (timing.py's jump_times[0]).
  const Tensor w = block_attention(1, 3, 3, 1500, 20, 10);
  const auto words =
      align_words(w, std::vector<double>{1, 1, 1}, multilingual(), kHelloWorld, 3, 200, "en");
  expect_words(words, {{"Hello", 0.0, 0.6, 1}, {" world", 0.6, 0.8, 1}, {"!", 0.8, 1.0, 1}});
}

TEST(AlignmentTest, OnlyTheWindowsRealFramesCountAndFlatHeadsDoNotMove) {
  // Head 0 puts 90% of every text row on position 1000, beyond num_frames / 2 = 100: restricted
  // to the first 100 positions its pattern is that of the first test. Head 1 is flat (all
  // tokens equal everywhere: standardises to 0) and only scales the mean.
  Tensor w = Tensor::zeros(DType::kF32, {2, 8, 1500});
  const Tensor h0 = block_attention(1, 3, 3, 1500, 0, 10, 0.1, 1000);
  std::copy_n(h0.data<float>(), h0.numel(), w.data<float>());
  std::fill(w.data<float>() + h0.numel(), w.data<float>() + w.numel(), 1.0f / 1500);
  const auto words = align_words(w, std::vector<double>{0.5, 0.25, 1.0}, multilingual(),
                                 kHelloWorld, 3, 200, "en");
  expect_words(words, {{"Hello", 0.0, 0.2, 0.5}, {" world", 0.2, 0.4, 0.25}, {"!", 0.4, 0.6, 1.0}});
}

TEST(AlignmentTest, ChineseWordsSpanTheirByteTokens) {
  // 你 = E4 BD A0, 好 = E5 A5 BD as six single-byte tokens; one word per character.
  const std::vector<int> tokens = {160, 121, 254, 161, 98, 121};
  const Tensor w = block_attention(1, 3, 6, 1500, 0, 10);
  const std::vector<double> probs = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  const auto words = align_words(w, probs, multilingual(), tokens, 3, 200, "zh");
  expect_words(words, {{"\u4f60", 0.0, 0.6, 0.2}, {"\u597d", 0.6, 1.2, 0.5}});
  EXPECT_THAT(words[0].tokens, ElementsAre(160, 121, 254));
}

TEST(AlignmentTest, EmptyInputsAndBadShapes) {
  const Tensor w = block_attention(1, 3, 3, 1500, 0, 10);
  const std::vector<double> probs = {1, 1, 1};
  EXPECT_TRUE(
      align_words(block_attention(1, 3, 0, 1500, 0, 10), {}, multilingual(), {}, 3, 200, "en")
          .empty());
  EXPECT_TRUE(align_words(w, probs, multilingual(), kHelloWorld, 3, 1, "en").empty());
  EXPECT_THROW(align_words(w, probs, multilingual(), kHelloWorld, 2, 200, "en"), Error);
  EXPECT_THROW(align_words(w, std::vector<double>{1}, multilingual(), kHelloWorld, 3, 200, "en"),
               Error);
  EXPECT_THROW(align_words(w, probs, multilingual(), {15947, 1002, kEot}, 3, 200, "en"), Error);
}

// ---- assign_word_timestamps ------------------------------------------------------------------

Segment segment(int seek, double start, double end, int n_text) {
  Segment s;
  s.seek = seek;
  s.start = start;
  s.end = end;
  s.tokens.push_back(kTimestampBegin);
  for (int i = 0; i < n_text; ++i) s.tokens.push_back(100 + i);
  s.tokens.push_back(kTimestampBegin + 50);
  return s;
}

WordTiming wt(const std::string& word, int n_tokens, double start, double end, double p = 0.5) {
  return WordTiming{word, std::vector<int>(size_t(n_tokens), 1), start, end, p};
}

TEST(WordTimestampsTest, WordsGoToSegmentsByTokenCountWithTheWindowOffset) {
  // seek 1000 frames = 10 s. Durations 0.4, 0, 0.4, 0.5: median of the non-zero ones 0.4. ","
  // joins " Hello" (keeping its times and probability); the emptied entry still counts towards
  // the second segment but yields no word.
  std::vector<Segment> segs = {segment(1000, 10.0, 11.0, 2), segment(1000, 11.0, 12.0, 2)};
  assign_word_timestamps(segs,
                         {wt(" Hello", 1, 0.0, 0.4, 0.9), wt(",", 1, 0.4, 0.4, 0.1),
                          wt(" big", 1, 1.0, 1.4, 0.8), wt(" world", 1, 1.4, 1.9, 0.7)},
                         kEot, 9.9);
  ASSERT_EQ(segs[0].words.size(), 1u);
  EXPECT_EQ(segs[0].words[0].word, " Hello,");
  EXPECT_DOUBLE_EQ(segs[0].words[0].start, 10.0);
  EXPECT_DOUBLE_EQ(segs[0].words[0].end, 10.4);
  EXPECT_DOUBLE_EQ(segs[0].words[0].probability, 0.9);
  EXPECT_DOUBLE_EQ(segs[0].start, 10.0);
  EXPECT_DOUBLE_EQ(segs[0].end, 10.4);  // the last word's end replaces the segment's
  ASSERT_EQ(segs[1].words.size(), 2u);
  EXPECT_EQ(segs[1].words[0].word, " big");
  EXPECT_DOUBLE_EQ(segs[1].words[0].start, 11.0);
  EXPECT_DOUBLE_EQ(segs[1].words[1].end, 11.9);
  EXPECT_DOUBLE_EQ(segs[1].start, 11.0);
  EXPECT_DOUBLE_EQ(segs[1].end, 11.9);
  EXPECT_DOUBLE_EQ(*segments_end(segs), 11.9);
}

TEST(WordTimestampsTest, AWordLongerThanItsSegmentsTokensStaysWithThatSegment) {
  // Segment 0 has one text token but the first word two: segment 0 takes it, segment 1 the rest,
  // and a segment without text tokens gets no words and keeps its times.
  std::vector<Segment> segs = {segment(0, 0.0, 1.0, 1), segment(0, 1.0, 2.0, 1),
                               segment(0, 2.0, 3.0, 0)};
  assign_word_timestamps(segs, {wt(" ab", 2, 0.0, 0.4), wt(" c", 1, 0.4, 0.8)}, kEot, 0.0);
  ASSERT_EQ(segs[0].words.size(), 1u);
  EXPECT_EQ(segs[0].words[0].word, " ab");
  ASSERT_EQ(segs[1].words.size(), 1u);
  EXPECT_EQ(segs[1].words[0].word, " c");
  EXPECT_TRUE(segs[2].words.empty());
  EXPECT_DOUBLE_EQ(segs[2].start, 2.0);
  EXPECT_DOUBLE_EQ(segs[2].end, 3.0);
  EXPECT_DOUBLE_EQ(*segments_end(segs), 0.8);  // the last word, not the last segment
}

TEST(WordTimestampsTest, LongFirstWordAfterAPauseIsShortened) {
  // Durations 2.0, 0.4, 0.4, 0.4: median 0.4, max 0.8. The first word ends 2.0 s after the last
  // speech (> 4 * 0.4) and lasts > 0.8: it starts at 2.0 - 0.8 = 1.2, and so does the segment.
  std::vector<Segment> segs = {segment(0, 0.0, 3.2, 4)};
  assign_word_timestamps(
      segs,
      {wt(" A", 1, 0.0, 2.0), wt(" b", 1, 2.0, 2.4), wt(" c", 1, 2.4, 2.8), wt(" d", 1, 2.8, 3.2)},
      kEot, 0.0);
  ASSERT_EQ(segs[0].words.size(), 4u);
  EXPECT_NEAR(segs[0].words[0].start, 1.2, 1e-9);
  EXPECT_DOUBLE_EQ(segs[0].words[0].end, 2.0);
  EXPECT_NEAR(segs[0].start, 1.2, 1e-9);
  EXPECT_DOUBLE_EQ(segs[0].end, 3.2);
}

TEST(WordTimestampsTest, TwoLongWordsAfterAPauseShareABoundary) {
  // Durations 3.0, 1.5, 0.4, 0.4, 0.4: median 0.4, max 0.8. The second word is long too: the
  // boundary is max(4.5 / 2, 4.5 - 0.8) = 3.7, and the first word starts at 3.7 - 0.8 = 2.9.
  std::vector<Segment> segs = {segment(0, 0.0, 5.7, 5)};
  assign_word_timestamps(segs,
                         {wt(" A", 1, 0.0, 3.0), wt(" B", 1, 3.0, 4.5), wt(" c", 1, 4.5, 4.9),
                          wt(" d", 1, 4.9, 5.3), wt(" e", 1, 5.3, 5.7)},
                         kEot, 0.0);
  const auto& w = segs[0].words;
  ASSERT_EQ(w.size(), 5u);
  EXPECT_NEAR(w[0].start, 2.9, 1e-9);
  EXPECT_NEAR(w[0].end, 3.7, 1e-9);
  EXPECT_NEAR(w[1].start, 3.7, 1e-9);
  EXPECT_DOUBLE_EQ(w[1].end, 4.5);
  EXPECT_NEAR(segs[0].start, 2.9, 1e-9);
  EXPECT_DOUBLE_EQ(segs[0].end, 5.7);
}

TEST(WordTimestampsTest, SentenceEndMarksBoundLongWords) {
  // Durations 0.4, 1.6, 1.5, 0.4: median min(0.7, 0.95) = 0.7, max 1.4. "." (1.6) is cut to end
  // at 0.4 + 1.4; " So" (1.5) follows a "." and starts at 3.5 - 1.4 = 2.1. Then "." joins " Hi"
  // with " Hi"'s times.
  std::vector<Segment> segs = {segment(0, 0.0, 4.0, 4)};
  assign_word_timestamps(segs,
                         {wt(" Hi", 1, 0.0, 0.4), wt(".", 1, 0.4, 2.0), wt(" So", 1, 2.0, 3.5),
                          wt(" on", 1, 3.5, 3.9)},
                         kEot, 0.0);
  const auto& w = segs[0].words;
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].word, " Hi.");
  EXPECT_DOUBLE_EQ(w[0].end, 0.4);
  EXPECT_EQ(w[1].word, " So");
  EXPECT_DOUBLE_EQ(w[1].start, 2.1);
  EXPECT_DOUBLE_EQ(w[1].end, 3.5);
  EXPECT_DOUBLE_EQ(segs[0].start, 0.0);
  EXPECT_DOUBLE_EQ(segs[0].end, 3.9);
}

TEST(WordTimestampsTest, SegmentTimestampsWinOverTooLongEdgeWords) {
  // Durations 1.2, 0.4, 0.4, 1.5: median min(0.7, 0.8) = 0.7. No pause (1.2 - 0.9 < 2.8). The
  // segment starts at 1.0, inside the first word and over 0.5 s after its start: the word starts
  // at max(0, min(1.2 - 0.7, 1.0)) = 0.5. The segment ends at 2.5, inside the last word and over
  // 0.5 s before its end: the word ends at max(2.0 + 0.7, 2.5) = 2.7. The segment keeps both.
  std::vector<Segment> segs = {segment(0, 1.0, 2.5, 4)};
  assign_word_timestamps(
      segs,
      {wt(" A", 1, 0.0, 1.2), wt(" b", 1, 1.2, 1.6), wt(" c", 1, 1.6, 2.0), wt(" d", 1, 2.0, 3.5)},
      kEot, 0.9);
  const auto& w = segs[0].words;
  ASSERT_EQ(w.size(), 4u);
  EXPECT_NEAR(w[0].start, 0.5, 1e-9);
  EXPECT_NEAR(w[3].end, 2.7, 1e-9);
  EXPECT_DOUBLE_EQ(segs[0].start, 1.0);
  EXPECT_DOUBLE_EQ(segs[0].end, 2.5);
}

TEST(WordTimestampsTest, TimesAreRoundedToHundredthsAsPython) {
  // 0.125 and 0.375 are exact binary ties: Python's round(x, 2) goes to even (0.12, 0.38).
  std::vector<Segment> segs = {segment(0, 0.0, 1.0, 2)};
  assign_word_timestamps(segs, {wt(" a", 1, 0.125, 0.375), wt(" b", 1, 0.375, 0.5)}, kEot, 0.0);
  const auto& w = segs[0].words;
  ASSERT_EQ(w.size(), 2u);
  EXPECT_DOUBLE_EQ(w[0].start, 0.12);
  EXPECT_DOUBLE_EQ(w[0].end, 0.38);
  EXPECT_DOUBLE_EQ(w[1].end, 0.5);
}

TEST(WordTimestampsTest, NoSegmentsNoWords) {
  std::vector<Segment> none;
  assign_word_timestamps(none, {wt(" a", 1, 0, 1)}, kEot, 0);
  EXPECT_FALSE(segments_end(none).has_value());
  std::vector<Segment> one = {segment(0, 0.0, 1.5, 1)};
  assign_word_timestamps(one, {}, kEot, 0);
  EXPECT_TRUE(one[0].words.empty());
  EXPECT_DOUBLE_EQ(*segments_end(one), 1.5);
}

// ---- through a model -------------------------------------------------------------------------

const model::WhisperModel& random_model() {
  static const model::WhisperModel m = [] {
    model::Checkpoint c;
    c.config.n_vocab = 51865;
    c.config.n_audio_state = c.config.n_text_state = 64;
    c.config.n_audio_head = c.config.n_text_head = 2;
    c.config.n_audio_layer = 1;
    c.config.n_text_layer = 2;
    c.config.n_audio_ffn = c.config.n_text_ffn = 256;
    c.generation = model::GenerationConfig::defaults_for_vocab(51865);
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 0.3f);
    for (const auto& [name, shape] : model::expected_tensor_shapes(c.config)) {
      Tensor t = Tensor::zeros(DType::kF32, shape);
      const bool gain = name.find("layer_norm.weight") != std::string::npos;
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = (gain ? 1.0f : 0.0f) + normal(rng);
      c.tensors.emplace(name, std::move(t));
    }
    return model::WhisperModel(c);
  }();
  return m;
}

Tensor random_encoder_out() {
  Tensor e = Tensor::zeros(DType::kF32, {1500, 64});
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t i = 0; i < e.numel(); ++i) e.data<float>()[i] = normal(rng);
  return e;
}

constexpr int kSot = 50258, kEn = 50259, kTranscribe = 50359, kNoTimestamps = 50363;

// align_words over one whole-sequence decode of sot + <|notimestamps|> + text + <|endoftext|>,
// with the heads gathered and the probabilities computed here. probs receives the latter.
std::vector<WordTiming> aligned_in_one_pass(const Tensor& enc, const std::vector<int>& sot,
                                            const std::vector<int>& text,
                                            const AlignmentHeads& heads,
                                            std::vector<double>& probs) {
  const auto& m = random_model();
  std::vector<int> seq = sot;
  seq.push_back(kNoTimestamps);
  seq.insert(seq.end(), text.begin(), text.end());
  seq.push_back(kEot);
  model::DecoderState st = m.begin_window(enc);
  std::vector<Tensor> attn;
  st.cross_attention_out = &attn;
  const Tensor logits = m.decode(st, seq, true);
  const int64_t t = int64_t(seq.size());
  Tensor w = Tensor::zeros(DType::kF32, {int64_t(heads.size()), t, 1500});
  for (size_t k = 0; k < heads.size(); ++k) {
    const float* src = attn[size_t(heads[k].first)].data<float>() + heads[k].second * t * 1500;
    std::copy_n(src, t * 1500, w.data<float>() + int64_t(k) * t * 1500);
  }
  probs.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    const float* row = logits.data<float>() + int64_t(sot.size() + i) * 51865;
    double total = 0;
    for (int v = 0; v < kEot; ++v) total += std::exp(double(row[v]));
    probs.push_back(std::exp(double(row[text[i]])) / total);
  }
  return align_words(w, probs, multilingual(), text, int(sot.size()), 3000, "en");
}

// Words tile the window from its start, joined they give the text, and each probability is the
// mean of its tokens' probabilities.
void expect_consistent(const std::vector<WordTiming>& words, const std::vector<double>& probs,
                       const std::string& text, double tolerance) {
  std::string joined;
  size_t token = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    double p = 0;
    for (size_t k = 0; k < words[i].tokens.size(); ++k) p += probs[token++];
    EXPECT_NEAR(words[i].probability, p / double(words[i].tokens.size()), tolerance);
    EXPECT_LE(words[i].start, words[i].end);
    EXPECT_LE(words[i].end, 30.0);
    EXPECT_EQ(words[i].start, i == 0 ? 0.0 : words[i - 1].end);
    EXPECT_NEAR(words[i].end * 50, std::round(words[i].end * 50), 1e-9);
    joined += words[i].word;
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(token, probs.size());
}

TEST(AlignmentTest, FindAlignmentMatchesItsPartsThroughTheModel) {
  const auto& m = random_model();
  const Tensor enc = random_encoder_out();
  const std::vector<int> sot = {kSot, kEn, kTranscribe};
  const std::string sentence = " Hello world! How are you?";
  const std::vector<int> text = multilingual().encode(sentence);
  const AlignmentHeads heads = {{1, 0}, {1, 1}, {0, 1}};
  const auto words = find_alignment(m, multilingual(), enc, sot, text, 3000, "en", heads);
  std::vector<double> probs;
  const auto parts = aligned_in_one_pass(enc, sot, text, heads, probs);

  ASSERT_EQ(words.size(), parts.size());
  for (size_t i = 0; i < words.size(); ++i) {
    EXPECT_EQ(words[i].word, parts[i].word);
    EXPECT_EQ(words[i].tokens, parts[i].tokens);
    EXPECT_EQ(words[i].start, parts[i].start);
    EXPECT_EQ(words[i].end, parts[i].end);
  }
  expect_consistent(words, probs, sentence, 1e-9);

  // A trailing <|notimestamps|> in the sot sequence is the same request.
  std::vector<int> sot_nt = sot;
  sot_nt.push_back(kNoTimestamps);
  const auto again = find_alignment(m, multilingual(), enc, sot_nt, text, 3000, "en", heads);
  ASSERT_EQ(again.size(), words.size());
  for (size_t i = 0; i < words.size(); ++i) EXPECT_EQ(again[i].end, words[i].end);
}

TEST(AlignmentTest, FindAlignmentOfATextLongerThanOneDecoderCall) {
  // Over 64 text tokens: find_alignment decodes in several calls; the words, their tokens and
  // their probabilities agree with one whole-sequence decode (to rounding).
  const auto& m = random_model();
  const Tensor enc = random_encoder_out();
  const std::vector<int> sot = {kSot, kEn, kTranscribe};
  std::string sentence;
  for (int i = 0; i < 12; ++i) sentence += " The quick brown fox jumps over it.";
  const std::vector<int> text = multilingual().encode(sentence);
  ASSERT_GT(text.size(), 70u);
  const AlignmentHeads heads = {{1, 0}, {1, 1}};
  const auto words = find_alignment(m, multilingual(), enc, sot, text, 3000, "en", heads);
  std::vector<double> probs;
  const auto parts = aligned_in_one_pass(enc, sot, text, heads, probs);
  ASSERT_EQ(words.size(), parts.size());
  for (size_t i = 0; i < words.size(); ++i) {
    EXPECT_EQ(words[i].word, parts[i].word);
    EXPECT_EQ(words[i].tokens, parts[i].tokens);
  }
  expect_consistent(words, probs, sentence, 1e-5);
}

TEST(AlignmentTest, FindAlignmentRejectsBadHeadsAndSequences) {
  const auto& m = random_model();
  const Tensor enc = random_encoder_out();
  const std::vector<int> sot = {kSot, kEn, kTranscribe};
  EXPECT_THROW(find_alignment(m, multilingual(), enc, sot, kHelloWorld, 3000, "en", {{2, 0}}),
               Error);
  EXPECT_THROW(find_alignment(m, multilingual(), enc, sot, kHelloWorld, 3000, "en", {}), Error);
  EXPECT_THROW(find_alignment(m, multilingual(), enc, {kEn}, kHelloWorld, 3000, "en", {{1, 0}}),
               Error);
  EXPECT_TRUE(find_alignment(m, multilingual(), enc, sot, {}, 3000, "en", {{1, 0}}).empty());
}

TEST(WordTimestampsTest, AddWordTimestampsFillsTheWindowsSegments) {
  const auto& m = random_model();
  const Tensor enc = random_encoder_out();
  const std::vector<int> first = multilingual().encode(" Hello world!");
  const std::vector<int> second = multilingual().encode(" How are you?");
  std::vector<Segment> segs(2);
  segs[0].seek = segs[1].seek = 3000;  // the window starts at 30 s
  segs[0].start = 30.0, segs[0].end = 31.0, segs[1].start = 31.0, segs[1].end = 32.0;
  segs[0].tokens = {kTimestampBegin};
  segs[0].tokens.insert(segs[0].tokens.end(), first.begin(), first.end());
  segs[0].tokens.push_back(kTimestampBegin + 50);
  segs[1].tokens = {kTimestampBegin + 50};
  segs[1].tokens.insert(segs[1].tokens.end(), second.begin(), second.end());
  segs[1].tokens.push_back(kTimestampBegin + 100);
  add_word_timestamps(segs, m, multilingual(), enc, {kSot, kEn, kTranscribe}, 3000, "en",
                      {{1, 0}, {1, 1}}, 0.0);
  std::string text0, text1;
  for (const Word& w : segs[0].words) text0 += w.word;
  for (const Word& w : segs[1].words) text1 += w.word;
  EXPECT_EQ(text0, " Hello world!");  // "!" joined " world"
  EXPECT_EQ(text1, " How are you?");
  for (const Segment& s : segs) {
    ASSERT_FALSE(s.words.empty());
    for (const Word& w : s.words) {
      // The pause rule may move a first word up to 2 x 0.7 s before the window start.
      EXPECT_GE(w.start, 30.0 - 1.4);
      EXPECT_LE(w.end, 60.0);
      EXPECT_GT(w.probability, 0.0);
      EXPECT_LE(w.probability, 1.0);
    }
  }
  EXPECT_EQ(*segments_end(segs), segs[1].words.back().end);
}

}  // namespace
}  // namespace hark::decoding
