// OpenAI's logit filters on hand-worked cases over a toy vocabulary:
//   0..4 text (0 is the "blank"), 5 <|endoftext|>, 6 <|startoftranscript|>, 7 <|notimestamps|>,
//   8..13 timestamps <|0.00|> ... <|0.10|>.
// Each case states which tokens stay allowed (finite) after the filters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "decoding/logit_filters.h"
#include "model/config.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr int kVocab = 14;
constexpr int kEot = 5, kSot = 6, kNoTs = 7, kTs = 8;
constexpr float kInf = std::numeric_limits<float>::infinity();

model::GenerationConfig toy_config() {
  model::GenerationConfig g;
  g.eot = kEot;
  g.sot = kSot;
  g.no_timestamps = kNoTs;
  g.timestamp_begin = kTs;
  g.begin_suppress_tokens = {0, kEot};
  g.max_initial_timestamp_index = 2;
  return g;
}

// The allowed tokens after filtering `logits` for a sequence of prefix {sot} + `sampled`.
std::vector<int> allowed(const LogitFilters& f, std::vector<float> logits,
                         const std::vector<int>& sampled) {
  std::vector<int> tokens{kSot};
  tokens.insert(tokens.end(), sampled.begin(), sampled.end());
  f.apply(logits, tokens);
  std::vector<int> out;
  for (int i = 0; i < int(logits.size()); ++i) {
    if (logits[size_t(i)] > -kInf) out.push_back(i);
  }
  return out;
}

std::vector<float> flat() { return std::vector<float>(kVocab, 0.0f); }

std::vector<int> range(int begin, int end) {
  std::vector<int> r;
  for (int i = begin; i < end; ++i) r.push_back(i);
  return r;
}

class LogitFiltersTest : public ::testing::Test {
 protected:
  model::GenerationConfig g_ = toy_config();
};

TEST_F(LogitFiltersTest, SuppressBlankOnlyAtTheFirstSampledPosition) {
  const LogitFilters f(g_, kVocab, /*sample_begin=*/1, {}, /*suppress_blank=*/true,
                       /*timestamps=*/false);
  EXPECT_THAT(allowed(f, flat(), {}), ElementsAre(1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13));
  EXPECT_THAT(allowed(f, flat(), {2}), ElementsAreArray(range(0, kVocab)));
  const LogitFilters off(g_, kVocab, 1, {}, /*suppress_blank=*/false, false);
  EXPECT_THAT(allowed(off, flat(), {}), ElementsAreArray(range(0, kVocab)));
}

TEST_F(LogitFiltersTest, SuppressListAppliesAtEveryStepAndIgnoresIdsOutsideTheVocabulary) {
  const LogitFilters f(g_, kVocab, 1, {2, 3, -1, 99}, false, false);
  EXPECT_THAT(allowed(f, flat(), {}), ElementsAre(0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13));
  EXPECT_THAT(allowed(f, flat(), {1, 4, 0}), ElementsAre(0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13));
}

TEST_F(LogitFiltersTest, FirstTokenIsATimestampNoLaterThanMaxInitialTimestamp) {
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  EXPECT_THAT(allowed(f, flat(), {}), ElementsAre(8, 9, 10));
  g_.max_initial_timestamp_index = -1;  // unlimited
  EXPECT_THAT(allowed(f, flat(), {}), ElementsAreArray(range(kTs, kVocab)));
  g_.max_initial_timestamp_index = 0;
  EXPECT_THAT(allowed(f, flat(), {}), ElementsAre(8));
}

TEST_F(LogitFiltersTest, NoTimestampsTokenIsAlwaysSuppressedWithTimestamps) {
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  std::vector<float> logits = flat();
  logits[kNoTs] = 100;
  EXPECT_THAT(allowed(f, logits, {9, 1}), ::testing::Not(::testing::Contains(kNoTs)));
}

TEST_F(LogitFiltersTest, AfterAnOpeningTimestampComesText) {
  // <|0.02|> opens a segment: the penultimate position counts as a timestamp, so text must follow.
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  EXPECT_THAT(allowed(f, flat(), {9}), ElementsAre(0, 1, 2, 3, 4, 5, 6));
}

TEST_F(LogitFiltersTest, AfterTextOnlyLaterTimestampsAndTheSumRule) {
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  // Flat logits over text 0..6 and timestamps 10..13 (8, 9 are not after <|0.02|>): the
  // timestamps together (4/11) beat the best text token (1/11), so only timestamps remain.
  EXPECT_THAT(allowed(f, flat(), {9, 1}), ElementsAre(10, 11, 12, 13));
  // One text token at logit 3: e^3 / (e^3 + 10) = 0.67 > 4 / (e^3 + 10) = 0.13; text stays.
  std::vector<float> logits = flat();
  logits[2] = 3;
  EXPECT_THAT(allowed(f, logits, {9, 1}), ElementsAre(0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13));
}

TEST_F(LogitFiltersTest, ClosingTimestampMayRepeatTheLastOneOrEnd) {
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  // After <|0.02|> text <|0.04|>: a timestamp >= 0.04 or <|endoftext|> (and the specials at or
  // above it, which the suppress list handles). Flat: timestamps 4/6 beat eot's 1/6.
  EXPECT_THAT(allowed(f, flat(), {9, 1, 10}), ElementsAre(10, 11, 12, 13));
  std::vector<float> logits = flat();
  logits[kEot] = 3;  // e^3 / (e^3 + 5) = 0.80 > 4 / (e^3 + 5)
  EXPECT_THAT(allowed(f, logits, {9, 1, 10}), ElementsAre(5, 6, 10, 11, 12, 13));
}

TEST_F(LogitFiltersTest, AfterAPairTextFollowsAndTimestampsNeverDecrease) {
  const LogitFilters f(g_, kVocab, 1, {}, false, true);
  EXPECT_THAT(allowed(f, flat(), {9, 1, 10, 10}), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  // After the pair closed at <|0.04|> and more text, the next timestamp is > 0.04.
  std::vector<float> logits = flat();
  logits[3] = 5;
  EXPECT_THAT(allowed(f, logits, {9, 1, 10, 10, 2}), ElementsAre(0, 1, 2, 3, 4, 5, 6, 11, 12, 13));
  // A segment that opened at the last timestamp cannot be closed: only text or <|endoftext|>.
  EXPECT_THAT(allowed(f, logits, {13, 2}), ElementsAre(0, 1, 2, 3, 4, 5, 6));
}

TEST_F(LogitFiltersTest, WithoutTimestampsNoRuleApplies) {
  const LogitFilters f(g_, kVocab, 1, {}, false, false);
  EXPECT_THAT(allowed(f, flat(), {9}), ElementsAreArray(range(0, kVocab)));
}

TEST_F(LogitFiltersTest, RulesSeeOnlyTheSampledTokens) {
  // A prompt holding timestamps (previous text) does not count: sample_begin 3 skips it.
  const LogitFilters f(g_, kVocab, /*sample_begin=*/3, {}, false, true);
  std::vector<float> logits = flat();
  std::vector<int> tokens{kSot, 12, 1};
  f.apply(logits, tokens);
  std::vector<int> out;
  for (int i = 0; i < kVocab; ++i) {
    if (logits[size_t(i)] > -kInf) out.push_back(i);
  }
  EXPECT_THAT(out, ElementsAre(8, 9, 10));
}

TEST_F(LogitFiltersTest, RealLayoutFirstTokenIsOneOfTheFirst51Timestamps) {
  const model::GenerationConfig g = model::GenerationConfig::defaults_for_vocab(51865);
  const LogitFilters f(g, 51865, 3, {}, true, true);
  std::vector<float> logits(51865, 0.0f);
  const std::vector<int> tokens{g.sot, *g.language_token("en"), g.transcribe};
  f.apply(logits, tokens);
  std::vector<int> out;
  for (int i = 0; i < 51865; ++i) {
    if (logits[size_t(i)] > -kInf) out.push_back(i);
  }
  EXPECT_THAT(out, ElementsAreArray(range(50364, 50364 + 51)));
}

TEST(LogSoftmax, NormalisesAndKeepsSuppressedEntries) {
  const std::vector<float> logits{1.0f, -kInf, 2.0f, 0.5f};
  std::vector<float> out(4);
  log_softmax(logits, out);
  EXPECT_EQ(out[1], -kInf);
  double total = 0;
  for (float v : out) total += std::exp(double(v));
  EXPECT_NEAR(total, 1.0, 1e-6);
  EXPECT_NEAR(out[2] - out[0], 1.0, 1e-6);
}

}  // namespace
}  // namespace hark::decoding
