// Greedy decoding, temperature sampling with best_of, the ranker, the seeded random source and
// option validation, on a scripted decoder whose next-token probabilities are written per
// sampled prefix. Toy vocabulary: 0..3 text "A".."D", 4 <|endoftext|>, 5 <|startoftranscript|>.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "core/error.h"
#include "decoding/greedy.h"
#include "decoding/options.h"
#include "decoding/sampler.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kA = 0, kB = 1, kC = 2, kD = 3, kEot = 4, kSot = 5, kVocab = 6;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Probabilities of A, B, C, D, <|endoftext|>; a zero is a -inf logit.
using Row = std::array<double, 5>;
// Rows by sampled prefix ("" at the start, "AC" after A then C); other prefixes get `fallback`.
struct Script {
  std::map<std::string, Row> rows;
  Row fallback{0.25, 0.25, 0.25, 0.25, 0};
};

class ScriptedSequence final : public DecoderSequence {
 public:
  explicit ScriptedSequence(const Script& script) : script_(&script) {}
  void step(int token, std::span<float> logits) override {
    EXPECT_GE(token, 0);
    EXPECT_LE(token, kD) << "only text continues a sequence";
    sampled_ += char('A' + token);
    write(logits);
  }
  std::unique_ptr<DecoderSequence> fork() const override {
    return std::make_unique<ScriptedSequence>(*this);
  }
  void assign(const DecoderSequence& other) override {
    sampled_ = dynamic_cast<const ScriptedSequence&>(other).sampled_;
  }
  void write(std::span<float> logits) const {
    const auto it = script_->rows.find(sampled_);
    const Row& p = it == script_->rows.end() ? script_->fallback : it->second;
    for (size_t i = 0; i < p.size(); ++i) {
      logits[i] = p[i] > 0 ? float(std::log(p[i])) : -std::numeric_limits<float>::infinity();
    }
    logits[kSot] = -std::numeric_limits<float>::infinity();
  }

 private:
  const Script* script_;
  std::string sampled_;
};

class SamplingTest : public ::testing::Test {
 protected:
  SamplingTest() { g_.eot = kEot; }

  SearchContext context(int max_sampled, bool suppress_eot = false) const {
    return SearchContext{filters_, kEot, suppress_eot, {kSot}, 1 + max_sampled};
  }
  static SearchStart start(const Script& s) {
    auto seq = std::make_unique<ScriptedSequence>(s);
    std::vector<float> logits(kVocab);
    seq->write(logits);
    return SearchStart{std::move(seq), std::move(logits)};
  }

  model::GenerationConfig g_;
  LogitFilters filters_{g_, kVocab, 1, {}, false, false};
};

TEST_F(SamplingTest, GreedyFollowsTheArgmaxAndSumsItsLogprobs) {
  Script s;
  s.rows[""] = {0.55, 0.45, 0, 0, 0};
  s.rows["A"] = {0, 0, 0.34, 0.33, 0.33};
  s.rows["AC"] = {0, 0, 0, 0, 1};
  s.rows["B"] = {0.01, 0, 0, 0, 0.99};
  const SearchResult r = greedy_search(start(s), context(10));
  ASSERT_EQ(r.candidates.size(), 1u);
  EXPECT_THAT(r.chosen().tokens, ElementsAre(kA, kC));
  EXPECT_TRUE(r.chosen().finished);
  EXPECT_NEAR(r.chosen().sum_logprob, std::log(0.55) + std::log(0.34), 1e-6);
}

TEST_F(SamplingTest, GreedyStopsAtMaxTokensUnfinished) {
  Script s;  // the fallback never ends
  const SearchResult r = greedy_search(start(s), context(7));
  EXPECT_EQ(r.chosen().tokens, std::vector<int>(7, kA));  // ties go to the lowest id
  EXPECT_FALSE(r.chosen().finished);
  EXPECT_NEAR(r.chosen().sum_logprob, 7 * std::log(0.25), 1e-5);
}

TEST_F(SamplingTest, SuppressEotNeverEnds) {
  Script s;
  s.fallback = {0.1, 0, 0, 0, 0.9};
  const SearchResult r = greedy_search(start(s), context(5, /*suppress_eot=*/true));
  EXPECT_EQ(r.chosen().tokens, std::vector<int>(5, kA));
  EXPECT_NEAR(r.chosen().sum_logprob, 0.0, 1e-6);  // A is certain once <|endoftext|> is gone
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p) {
  double n = 0;
  for (int c : counts) n += c;
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    const double e = n * p[i];
    chi2 += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi2;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  std::vector<double> p(logits.size());
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) total += p[i] = std::exp(logits[i] / temperature);
  for (double& v : p) v /= total;
  return p;
}

// 3 degrees of freedom: P(chi2 > 21.1) = 1e-4. The draws are seeded, so the outcome is fixed;
// the bound says the fixed outcome is a plausible draw from the intended distribution.
constexpr double kChi2Bound3 = 21.1;

TEST(SampleCategorical, DrawsFollowSoftmaxOverTemperature) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits{2.0f, 1.0f, 0.0f, -1.0f, ninf};
  for (double t : {0.5, 1.0, 2.0}) {
    Rng rng(42);
    std::vector<int> counts(logits.size());
    for (int i = 0; i < 20000; ++i) ++counts[size_t(sample_categorical(logits, t, rng))];
    EXPECT_EQ(counts[4], 0) << "a suppressed token was drawn";
    EXPECT_LT(chi_square(counts, softmax(logits, t)), kChi2Bound3) << "temperature " << t;
  }
}

TEST(SampleCategorical, AllSuppressedFallsBackToTheArgmax) {
  const float ninf = -std::numeric_limits<float>::infinity();
  Rng rng(1);
  EXPECT_EQ(sample_categorical(std::vector<float>{ninf, ninf}, 1.0, rng), 0);
}

TEST(RngTest, SeedsAndStreamsGiveFixedIndependentSequences) {
  Rng a(7), b(7), c(7, 1), d(8);
  bool c_differs = false, d_differs = false;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform();
    EXPECT_EQ(x, b.uniform());
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
    c_differs |= c.uniform() != x;
    d_differs |= d.uniform() != x;
  }
  EXPECT_TRUE(c_differs);
  EXPECT_TRUE(d_differs);
}

Script three_way() {
  Script s;
  s.rows[""] = {0.5, 0.3, 0.2, 0, 0};
  s.rows["A"] = {0, 0, 0, 0.9, 0.1};
  s.rows["AD"] = {0, 0, 0, 0, 1};
  s.rows["B"] = {0, 0, 0, 0, 1};
  s.rows["C"] = {0, 0, 0, 0, 1};
  return s;
}

TEST_F(SamplingTest, SampledSequencesFollowTheTemperedDistribution) {
  const Script s = three_way();
  for (double t : {0.5, 1.0}) {
    std::vector<int> counts(3);
    for (uint64_t seed = 0; seed < 3000; ++seed) {
      const SearchResult r = sampling_search(start(s), context(10), {t, 1, seed, std::nullopt});
      ASSERT_FALSE(r.chosen().tokens.empty());
      ++counts[size_t(r.chosen().tokens[0])];
    }
    // softmax(log p / t) = p^(1/t) / sum; 2 degrees of freedom: P(chi2 > 18.4) = 1e-4.
    std::vector<double> p{std::pow(0.5, 1 / t), std::pow(0.3, 1 / t), std::pow(0.2, 1 / t)};
    const double total = p[0] + p[1] + p[2];
    for (double& v : p) v /= total;
    EXPECT_LT(chi_square(counts, p), 18.4) << "temperature " << t;
  }
}

TEST_F(SamplingTest, LogprobsAreOfTheUntemperedFilteredLogits) {
  const Script s = three_way();
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Candidate c =
        sampling_search(start(s), context(10), {0.3, 1, seed, std::nullopt}).chosen();
    double expected = 0;
    if (c.tokens == std::vector<int>{kA, kD}) expected = std::log(0.5) + std::log(0.9);
    if (c.tokens == std::vector<int>{kA}) expected = std::log(0.5) + std::log(0.1);
    if (c.tokens == std::vector<int>{kB}) expected = std::log(0.3);
    if (c.tokens == std::vector<int>{kC}) expected = std::log(0.2);
    EXPECT_NEAR(c.sum_logprob, expected, 1e-6);
    EXPECT_TRUE(c.finished);
  }
}

TEST_F(SamplingTest, SameSeedSameResultOtherSeedsDiffer) {
  Script s;  // uniform text, never ends: 20 draws of 4 ways
  const SamplingParams p{1.0, 3, 99, std::nullopt};
  const SearchResult a = sampling_search(start(s), context(20), p);
  const SearchResult b = sampling_search(start(s), context(20), p);
  ASSERT_EQ(a.candidates.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a.candidates[i].tokens, b.candidates[i].tokens);
  EXPECT_NE(a.candidates[0].tokens, a.candidates[1].tokens);
  const SearchResult c = sampling_search(start(s), context(20), {1.0, 3, 100, std::nullopt});
  EXPECT_NE(a.candidates[0].tokens, c.candidates[0].tokens);
}

TEST_F(SamplingTest, BestOfSampleIMatchesAStandaloneDrawFromStreamI) {
  const Script s = three_way();
  const SearchResult r = sampling_search(start(s), context(10), {1.0, 5, 1234, std::nullopt});
  ASSERT_EQ(r.candidates.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    Rng rng(1234, i);
    SearchStart st = start(s);
    const Candidate alone = sample_sequence(*st.sequence, st.logits, context(10), 1.0, &rng);
    EXPECT_EQ(r.candidates[i].tokens, alone.tokens) << "sample " << i;
    EXPECT_EQ(r.candidates[i].sum_logprob, alone.sum_logprob);
  }
}

TEST_F(SamplingTest, BestOfReturnsTheBestRankedSample) {
  // Length-normalised scores: "AD" log(0.45)/2 = -0.40, "B" -1.20, "C" -1.61, "A" -3.00.
  const Script s = three_way();
  int with_ad = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const SearchResult r = sampling_search(start(s), context(10), {1.0, 4, seed, std::nullopt});
    ASSERT_EQ(r.candidates.size(), 4u);
    for (const Candidate& c : r.candidates) {
      EXPECT_GE(ranking_score(r.chosen().sum_logprob, r.chosen().tokens.size(), std::nullopt),
                ranking_score(c.sum_logprob, c.tokens.size(), std::nullopt));
    }
    const bool any_ad = std::any_of(r.candidates.begin(), r.candidates.end(), [](auto& c) {
      return c.tokens == std::vector<int>{kA, kD};
    });
    if (any_ad) {
      ++with_ad;
      EXPECT_THAT(r.chosen().tokens, ElementsAre(kA, kD));
    }
  }
  EXPECT_GT(with_ad, 10);
}

TEST_F(SamplingTest, SamplingRejectsBadParameters) {
  const Script s = three_way();
  EXPECT_THROW(sampling_search(start(s), context(5), {0.0, 1, 0, std::nullopt}), Error);
  EXPECT_THROW(sampling_search(start(s), context(5), {1.0, 0, 0, std::nullopt}), Error);
}

TEST(Ranker, ScoresAsMaximumLikelihoodRanker) {
  // None: sum / length; alpha: sum / ((5 + length) / 6) ^ alpha.
  EXPECT_DOUBLE_EQ(ranking_score(-3.0, 2, std::nullopt), -1.5);
  EXPECT_DOUBLE_EQ(ranking_score(-3.0, 7, 1.0), -1.5);
  EXPECT_DOUBLE_EQ(ranking_score(-3.0, 7, 0.0), -3.0);
  EXPECT_DOUBLE_EQ(ranking_score(-3.0, 4, 0.5), -3.0 / std::sqrt(1.5));
  EXPECT_EQ(ranking_score(-1.0, 0, std::nullopt), -kInf);
  EXPECT_DOUBLE_EQ(ranking_score(-1.0, 0, 1.0), -1.0 / (5.0 / 6.0));
}

TEST(Ranker, LengthPenaltyChangesTheWinner) {
  const std::vector<Candidate> c{{{kA}, -1.0, true}, {{kA, kB, kC}, -2.4, true}};
  EXPECT_EQ(rank_candidates(c, std::nullopt), 1u);  // -1.0 vs -0.8
  EXPECT_EQ(rank_candidates(c, 0.0), 0u);           // -1.0 vs -2.4
  EXPECT_EQ(rank_candidates(c, 1.0), 0u);           // -1.0 vs -1.8
  const std::vector<Candidate> tied{{{kA, kB}, -2.0, true}, {{kC, kD}, -2.0, true}};
  EXPECT_EQ(rank_candidates(tied, std::nullopt), 0u);  // the first of equals
  EXPECT_THROW(rank_candidates({}, std::nullopt), Error);
}

// DecodingOptions::validate: the message for `o`, or "" when it is valid.
std::string validation_error(const DecodingOptions& o) {
  try {
    o.validate();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one line";
    return e.what();
  }
  return "";
}

TEST(OptionsValidation, AcceptsWhatDecodingPyAccepts) {
  DecodingOptions o;
  EXPECT_EQ(validation_error(o), "");
  o.beam_size = 5;
  o.patience = 2.0;
  o.length_penalty = 0.6;
  EXPECT_EQ(validation_error(o), "");
  DecodingOptions s;
  s.temperature = 0.4;
  s.best_of = 5;
  s.length_penalty = 1.0;
  EXPECT_EQ(validation_error(s), "");
}

TEST(OptionsValidation, RejectsWhatDecodingPyRejects) {
  DecodingOptions o;
  o.best_of = 3;
  EXPECT_THAT(validation_error(o), HasSubstr("best_of needs temperature > 0"));
  o.temperature = 0.5;
  o.beam_size = 2;
  EXPECT_THAT(validation_error(o), HasSubstr("beam_size and best_of"));
  o.best_of.reset();
  EXPECT_THAT(validation_error(o), HasSubstr("beam_size needs temperature 0"));
  DecodingOptions p;
  p.patience = 1.5;
  EXPECT_THAT(validation_error(p), HasSubstr("patience requires beam_size"));
  for (double alpha : {-0.1, 1.5, std::nan("")}) {
    DecodingOptions l;
    l.length_penalty = alpha;
    EXPECT_THAT(validation_error(l), HasSubstr("length_penalty"));
  }
}

TEST(OptionsValidation, RejectsOutOfRangeValues) {
  auto with = [](auto set) {
    DecodingOptions o;
    set(o);
    return validation_error(o);
  };
  EXPECT_THAT(with([](auto& o) { o.temperature = -1; }), HasSubstr("temperature"));
  EXPECT_THAT(with([](auto& o) { o.temperature = kInf; }), HasSubstr("temperature"));
  EXPECT_THAT(with([](auto& o) { o.beam_size = 0; }), HasSubstr("beam_size"));
  EXPECT_THAT(with([](auto& o) { o.beam_size = kMaxCandidates + 1; }), HasSubstr("beam_size"));
  EXPECT_THAT(with([](auto& o) { o.temperature = 1, o.best_of = 0; }), HasSubstr("best_of"));
  EXPECT_THAT(with([](auto& o) { o.beam_size = 2, o.patience = 0.0; }), HasSubstr("patience"));
  EXPECT_THAT(with([](auto& o) { o.beam_size = 2, o.patience = 0.2; }), HasSubstr("patience"));
  EXPECT_THAT(with([](auto& o) { o.sample_len = -1; }), HasSubstr("sample_len"));
}

}  // namespace
}  // namespace hark::decoding
