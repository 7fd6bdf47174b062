// Word splitting (tokenizer.py split_to_word_tokens) and punctuation merging (timing.py
// merge_punctuations), with expectations worked out from those definitions and the token bytes
// of the shared multilingual.tiktoken.
#include "decoding/word_timing_words.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
// Single-byte tokens of multilingual.tiktoken: 你 = E4 BD A0, 好 = E5 A5 BD.
constexpr int kE4 = 160, kBD = 121, kA0 = 254, kE5 = 161, kA5 = 98, kFF = 187;
constexpr int kNi = 2166, kHao = 2131, kNiHao = 26410;  // "你", "好", "你好"

std::vector<std::string> words_of(const std::vector<WordTokens>& w) {
  std::vector<std::string> out;
  for (const auto& x : w) out.push_back(x.word);
  return out;
}

std::vector<std::vector<int>> tokens_of(const std::vector<WordTokens>& w) {
  std::vector<std::vector<int>> out;
  for (const auto& x : w) out.push_back(x.tokens);
  return out;
}

TEST(WordSplitTest, EnglishStartsWordsAtSpacesPunctuationAndSpecials) {
  // Hello | " world" | "!" | <|endoftext|>
  const auto w = split_to_word_tokens(multilingual(), {15947, 1002, 0, kEot}, "en");
  EXPECT_THAT(words_of(w), ElementsAre("Hello", " world", "!", "<|endoftext|>"));
  EXPECT_THAT(tokens_of(w), ElementsAre(ElementsAre(15947), ElementsAre(1002), ElementsAre(0),
                                        ElementsAre(kEot)));
}

TEST(WordSplitTest, EnglishJoinsPiecesWithoutALeadingSpace) {
  // "I" "'m" " " " here" "!!" " " " 123" "ab" "c": "'m" is no substring of string.punctuation
  // and joins "I"; "!!" is none either and joins " here"; a lone " " strips to "", which Python
  // finds in any string, so it is a word of its own.
  const auto w =
      split_tokens_on_spaces(multilingual(), {40, 478, 220, 510, 1432, 220, 34466, 455, 66, kEot});
  EXPECT_THAT(words_of(w), ElementsAre("I'm", " ", " here!!", " ", " 123abc", "<|endoftext|>"));
  EXPECT_THAT(tokens_of(w),
              ElementsAre(ElementsAre(40, 478), ElementsAre(220), ElementsAre(510, 1432),
                          ElementsAre(220), ElementsAre(34466, 455, 66), ElementsAre(kEot)));
}

TEST(WordSplitTest, ChineseSplitsAtEveryCompleteCharacter) {
  const auto w = split_to_word_tokens(multilingual(), {kE4, kBD, kA0, kHao, kEot}, "zh");
  EXPECT_THAT(words_of(w), ElementsAre("你", "好", "<|endoftext|>"));
  EXPECT_THAT(tokens_of(w),
              ElementsAre(ElementsAre(kE4, kBD, kA0), ElementsAre(kHao), ElementsAre(kEot)));
  // A token holding two characters stays one word.
  EXPECT_THAT(words_of(split_to_word_tokens(multilingual(), {kNiHao, kEot}, "zh")),
              ElementsAre("你好", "<|endoftext|>"));
  EXPECT_THAT(words_of(split_to_word_tokens(multilingual(), {kNi, kE5, kA5, kBD}, "ja")),
              ElementsAre("你", "好"));
}

TEST(WordSplitTest, LanguagesWithSpacesKeepCharactersTogether) {
  // Without a space or punctuation, the characters form one word in English mode.
  EXPECT_THAT(words_of(split_to_word_tokens(multilingual(), {kE4, kBD, kA0, kHao, kEot}, "en")),
              ElementsAre("你好", "<|endoftext|>"));
  EXPECT_TRUE(splits_on_unicode("yue"));
  EXPECT_TRUE(splits_on_unicode("th"));
  EXPECT_FALSE(splits_on_unicode("de"));
  EXPECT_FALSE(splits_on_unicode(""));
}

TEST(WordSplitTest, BytesInvalidInTheWholeTextSplitOffAsReplacementCharacters) {
  // 0xFF never starts a character: the full text has U+FFFD there, so it is a word at once.
  const auto w = split_tokens_on_unicode(multilingual(), {kFF, kNi, kEot});
  EXPECT_THAT(words_of(w), ElementsAre("\uFFFD", "你", "<|endoftext|>"));
  EXPECT_THAT(tokens_of(w), ElementsAre(ElementsAre(kFF), ElementsAre(kNi), ElementsAre(kEot)));
}

WordTiming timing(const std::string& word, std::vector<int> tokens) {
  return WordTiming{word, std::move(tokens), 0, 0, 0};
}

std::vector<std::string> words_of(const std::vector<WordTiming>& w) {
  std::vector<std::string> out;
  for (const auto& x : w) out.push_back(x.word);
  return out;
}

void merge_default(std::vector<WordTiming>& a) {
  merge_punctuations(a, kDefaultPrependPunctuations, kDefaultAppendPunctuations);
}

TEST(PunctuationMergeTest, AppendsClosingPunctuationToThePreviousWord) {
  std::vector<WordTiming> a = {timing(" Hello", {1}), timing(",", {2}), timing(" world", {3}),
                               timing("!", {4})};
  merge_default(a);
  EXPECT_THAT(words_of(a), ElementsAre(" Hello,", "", " world!", ""));
  EXPECT_THAT(a[0].tokens, ElementsAre(1, 2));
  EXPECT_TRUE(a[1].tokens.empty());
  EXPECT_THAT(a[2].tokens, ElementsAre(3, 4));
}

TEST(PunctuationMergeTest, PrependsOpeningPunctuationToTheNextWord) {
  std::vector<WordTiming> a = {timing(" (", {1}), timing("Hello", {2}), timing(")", {3})};
  merge_default(a);
  EXPECT_THAT(words_of(a), ElementsAre("", " (Hello)", ""));
  EXPECT_THAT(a[1].tokens, ElementsAre(1, 2, 3));

  std::vector<WordTiming> q = {timing(" \u00bf", {1}), timing("Qu\u00e9", {2}), timing("?", {3})};
  merge_default(q);
  EXPECT_THAT(words_of(q), ElementsAre("", " \u00bfQu\u00e9?", ""));
}

TEST(PunctuationMergeTest, PrependsChainOntoTheSameWord) {
  // Backwards: " (" joins "Hi"; then " \"" joins the same (non-emptied) word.
  std::vector<WordTiming> a = {timing(" \"", {1}), timing(" (", {2}), timing("Hi", {3})};
  merge_default(a);
  EXPECT_THAT(words_of(a), ElementsAre("", "", " \" (Hi"));
  EXPECT_THAT(a[2].tokens, ElementsAre(1, 2, 3));
}

TEST(PunctuationMergeTest, AppendsChainOntoTheSameWord) {
  std::vector<WordTiming> a = {timing(" end", {1}), timing(".", {2}), timing("\"", {3}),
                               timing(" Next", {4})};
  merge_default(a);
  EXPECT_THAT(words_of(a), ElementsAre(" end.\"", "", "", " Next"));
  EXPECT_THAT(a[0].tokens, ElementsAre(1, 2, 3));
}

TEST(PunctuationMergeTest, LeavesWordsThatDoNotQualify) {
  // Opening punctuation without a leading space, closing punctuation after a word ending in a
  // space, and punctuation with a leading space on the appending side, all stay.
  std::vector<WordTiming> a = {timing("(", {1}),  timing("Hi ", {2}), timing(".", {3}),
                               timing(" ,", {4}), timing(" a", {5}),  timing(" b", {6})};
  merge_default(a);
  EXPECT_THAT(words_of(a), ElementsAre("(", "Hi ", ".", " ,", " a", " b"));
}

TEST(PunctuationMergeTest, FullWidthMarksAndTimesStay) {
  std::vector<WordTiming> a = {{"\u4f60\u597d", {1}, 0.5, 1.0, 0.9},
                               {"\u3002", {2}, 1.0, 1.2, 0.8}};
  merge_default(a);
  EXPECT_EQ(a[0].word, "\u4f60\u597d\u3002");
  EXPECT_EQ(a[0].start, 0.5);
  EXPECT_EQ(a[0].end, 1.0);
  EXPECT_EQ(a[0].probability, 0.9);
  EXPECT_EQ(a[1].word, "");
  EXPECT_EQ(a[1].start, 1.0);
}

TEST(PunctuationMergeTest, CustomSetsAndShortLists) {
  std::vector<WordTiming> a = {timing(" a", {1}), timing(".", {2})};
  merge_punctuations(a, "", "");
  EXPECT_THAT(words_of(a), ElementsAre(" a", "."));
  std::vector<WordTiming> one = {timing(" (", {1})};
  merge_default(one);
  EXPECT_THAT(words_of(one), ElementsAre(" ("));
  std::vector<WordTiming> none;
  merge_default(none);
  EXPECT_TRUE(none.empty());
}

}  // namespace
}  // namespace hark::decoding
