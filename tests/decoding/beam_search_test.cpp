// Beam search (decoding.py's BeamSearchDecoder) on a scripted decoder whose next-token
// probabilities are written per sampled prefix, with hand-worked outcomes; and, on random
// scripts, the invariants: a width of 1 is greedy, and every candidate's log-probability is what
// its own tokens get when teacher-forced (beams kept their own states through reordering).
// Toy vocabulary: 0..3 text "A".."D", 4 <|endoftext|>, 5 <|startoftranscript|>.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "core/error.h"
#include "decoding/beam_search.h"
#include "decoding/greedy.h"
#include "decoding/sampler.h"

namespace hark::decoding {
namespace {

using ::testing::ElementsAre;

constexpr int kA = 0, kB = 1, kC = 2, kD = 3, kEot = 4, kSot = 5, kVocab = 6;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Probabilities of A, B, C, D, <|endoftext|>; a zero is a -inf logit.
using Row = std::array<double, 5>;

// Rows by sampled prefix ("" at the start, "AC" after A then C); other prefixes get `fallback`,
// or, when `random` is set, logits drawn from a hash of the prefix.
struct Script {
  std::map<std::string, Row> rows;
  Row fallback{0.25, 0.25, 0.25, 0.25, 0};
  bool random = false;
  uint64_t seed = 0;
};

struct Counters {
  int forks = 0, assigns = 0, steps = 0;
};

class ScriptedSequence final : public DecoderSequence {
 public:
  ScriptedSequence(const Script& script, Counters& counters)
      : script_(&script), counters_(&counters) {}
  void step(int token, std::span<float> logits) override {
    EXPECT_GE(token, 0);
    EXPECT_LE(token, kD) << "only text continues a sequence";
    ++counters_->steps;
    sampled_ += char('A' + token);
    write(logits);
  }
  std::unique_ptr<DecoderSequence> fork() const override {
    ++counters_->forks;
    return std::make_unique<ScriptedSequence>(*this);
  }
  void assign(const DecoderSequence& other) override {
    ++counters_->assigns;
    sampled_ = dynamic_cast<const ScriptedSequence&>(other).sampled_;
  }
  void write(std::span<float> logits) const {
    logits[kSot] = kNegInf;
    if (script_->random && !script_->rows.contains(sampled_)) {
      uint64_t h = script_->seed * 0x9e3779b97f4a7c15ull + std::hash<std::string>()(sampled_);
      for (int i = 0; i < 5; ++i) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        logits[size_t(i)] = float(double(h >> 11) * 0x1.0p-53 * 4.0);
      }
      return;
    }
    const auto it = script_->rows.find(sampled_);
    const Row& p = it == script_->rows.end() ? script_->fallback : it->second;
    for (size_t i = 0; i < p.size(); ++i) logits[i] = p[i] > 0 ? float(std::log(p[i])) : kNegInf;
  }

 private:
  const Script* script_;
  Counters* counters_;
  std::string sampled_;
};

class BeamSearchTest : public ::testing::Test {
 protected:
  BeamSearchTest() {
    g_.eot = kEot;
    g_.begin_suppress_tokens = {kEot};
  }

  SearchContext context(int max_sampled, const LogitFilters& f) const {
    return SearchContext{f, kEot, false, {kSot}, 1 + max_sampled};
  }
  SearchContext context(int max_sampled) const { return context(max_sampled, plain_); }

  SearchStart start(const Script& s) {
    auto seq = std::make_unique<ScriptedSequence>(s, counters_);
    std::vector<float> logits(kVocab);
    seq->write(logits);
    return SearchStart{std::move(seq), std::move(logits)};
  }

  SearchResult beams(const Script& s, int beam_size, std::optional<double> patience = {},
                     std::optional<double> length_penalty = {}, int max_sampled = 20) {
    return beam_search(start(s), context(max_sampled), {beam_size, patience, length_penalty});
  }

  // The log-probability of c's tokens (and <|endoftext|> when finished) under `ctx`, fed one at
  // a time to a fresh sequence.
  double teacher_forced(const Script& s, const Candidate& c, const SearchContext& ctx) {
    SearchStart st = start(s);
    std::vector<int> tokens = ctx.prefix;
    std::vector<float> logprobs(kVocab);
    std::vector<int> sampled = c.tokens;
    if (c.finished) sampled.push_back(kEot);
    double sum = 0;
    for (int t : sampled) {
      ctx.filter(st.logits, tokens);
      log_softmax(st.logits, logprobs);
      sum += logprobs[size_t(t)];
      tokens.push_back(t);
      if (t != kEot) st.sequence->step(t, st.logits);
    }
    return sum;
  }

  model::GenerationConfig g_;
  LogitFilters plain_{g_, kVocab, 1, {}, false, false};
  Counters counters_;
};

std::string letters(const std::vector<int>& tokens) {
  std::string s;
  for (int t : tokens) s += t == kEot ? '$' : char('A' + t);
  return s;
}

// Greedy takes A (0.55) and then C (0.34): log(0.187) over 2 tokens = -0.84 per token. Beam
// search also keeps B (0.45), which ends at once with 0.99: log(0.4455) / 1 = -0.81.
Script greedy_trap() {
  Script s;
  s.rows[""] = {0.55, 0.45, 0, 0, 0};
  s.rows["A"] = {0, 0, 0.34, 0.33, 0.33};
  s.rows["AC"] = {0, 0, 0, 0, 1};
  s.rows["AD"] = {0, 0, 0, 0, 1};
  s.rows["B"] = {0.01, 0, 0, 0, 0.99};
  return s;
}

TEST_F(BeamSearchTest, FindsTheLikelierPathGreedyMisses) {
  const Script s = greedy_trap();
  EXPECT_EQ(letters(greedy_search(start(s), context(20)).chosen().tokens), "AC");
  const SearchResult r = beams(s, 2);
  // Step 2 finishes B (above both kept beams AC, AD); step 3 finishes AC and the list is full.
  ASSERT_EQ(r.candidates.size(), 2u);
  EXPECT_EQ(letters(r.candidates[0].tokens), "B");
  EXPECT_EQ(letters(r.candidates[1].tokens), "AC");
  EXPECT_TRUE(r.candidates[0].finished && r.candidates[1].finished);
  EXPECT_NEAR(r.candidates[0].sum_logprob, std::log(0.45 * 0.99), 1e-6);
  EXPECT_NEAR(r.candidates[1].sum_logprob, std::log(0.55 * 0.34), 1e-6);
  EXPECT_EQ(letters(r.chosen().tokens), "B");
}

// Beam 2. Step 2 finishes A (0.45) and B (0.27) above the kept AD (0.03) and BC (0.018).
// Patience 1 stops there: A wins with log(0.45) = -0.80. Patience 2 goes on: BC ends
// (log(0.018) / 2 = -2.01), and AD D D D D ends at 0.0299: log(0.0299) / 6 = -0.585, the best
// per-token score, though the worst total.
Script patient() {
  Script s;
  s.rows[""] = {0.5, 0.3, 0.1, 0.1, 0};
  s.rows["A"] = {0, 0.02, 0.02, 0.06, 0.9};
  s.rows["B"] = {0.02, 0, 0.06, 0.02, 0.9};
  for (const char* p : {"AD", "ADD", "ADDD", "ADDDD"}) s.rows[p] = {0.0005, 0.0005, 0, 0.999, 0};
  s.rows["ADDDDD"] = {0, 0, 0, 0, 1};
  s.rows["BC"] = {0, 0, 0, 0, 1};
  return s;  // elsewhere: uniform text, never ending
}

TEST_F(BeamSearchTest, PatienceOneStopsAtBeamSizeFinished) {
  const SearchResult r = beams(patient(), 2);
  ASSERT_EQ(r.candidates.size(), 2u);
  EXPECT_EQ(letters(r.candidates[0].tokens), "A");
  EXPECT_EQ(letters(r.candidates[1].tokens), "B");
  EXPECT_EQ(letters(r.chosen().tokens), "A");
}

TEST_F(BeamSearchTest, PatienceCollectsMoreCandidates) {
  const SearchResult r = beams(patient(), 2, /*patience=*/2.0);
  ASSERT_EQ(r.candidates.size(), 4u);
  EXPECT_EQ(letters(r.candidates[2].tokens), "BC");
  EXPECT_EQ(letters(r.candidates[3].tokens), "ADDDDD");
  EXPECT_NEAR(r.candidates[3].sum_logprob, std::log(0.5 * 0.06 * std::pow(0.999, 4)), 1e-5);
  EXPECT_EQ(letters(r.chosen().tokens), "ADDDDD");
  // round(2 * 1.5) = 3: stops once BC is in.
  const SearchResult three = beams(patient(), 2, 1.5);
  ASSERT_EQ(three.candidates.size(), 3u);
  EXPECT_EQ(letters(three.candidates[2].tokens), "BC");
  EXPECT_EQ(letters(three.chosen().tokens), "A");
}

TEST_F(BeamSearchTest, LengthPenaltyChangesTheWinner) {
  // Over A (-0.80, 1 token) and ADDDDD (-3.51, 6 tokens): length norm prefers ADDDDD; alpha 0
  // (raw sums) and alpha 1 (-3.51 / (11 / 6) = -1.92) prefer A.
  EXPECT_EQ(letters(beams(patient(), 2, 2.0).chosen().tokens), "ADDDDD");
  EXPECT_EQ(letters(beams(patient(), 2, 2.0, 0.0).chosen().tokens), "A");
  EXPECT_EQ(letters(beams(patient(), 2, 2.0, 1.0).chosen().tokens), "A");
}

TEST_F(BeamSearchTest, TooFewFinishedAreFilledWithLiveBeams) {
  // Beam 4, patience 0.25: one finished candidate ends the search. Step 1 ranks A, B, C, then
  // the empty sequence (0.1, finished), then D (-inf, kept as the fourth beam).
  Script s;
  s.rows[""] = {0.4, 0.3, 0.2, 0, 0.1};
  const SearchResult r = beams(s, 4, 0.25);
  ASSERT_EQ(r.candidates.size(), 4u);
  EXPECT_TRUE(r.candidates[0].tokens.empty());
  EXPECT_TRUE(r.candidates[0].finished);
  EXPECT_EQ(letters(r.candidates[1].tokens), "A");
  EXPECT_EQ(letters(r.candidates[2].tokens), "B");
  EXPECT_EQ(letters(r.candidates[3].tokens), "C");
  EXPECT_FALSE(r.candidates[1].finished);
  // Without a length penalty the empty candidate cannot win; A (log 0.4) does.
  EXPECT_EQ(letters(r.chosen().tokens), "A");
}

TEST_F(BeamSearchTest, NothingFinishedAtTheLimitReturnsTheLiveBeams) {
  Script s;  // uniform text after the start, never ending
  s.rows[""] = {0.4, 0.35, 0.25, 0, 0};
  const SearchResult r = beams(s, 3, {}, {}, /*max_sampled=*/2);
  ASSERT_EQ(r.candidates.size(), 3u);
  // AA, AB, AC tie (0.1 each) and come back in reverse, as decoding.py's reversed argsort does.
  EXPECT_EQ(letters(r.candidates[0].tokens), "AC");
  EXPECT_EQ(letters(r.candidates[1].tokens), "AB");
  EXPECT_EQ(letters(r.candidates[2].tokens), "AA");
  for (const Candidate& c : r.candidates) EXPECT_FALSE(c.finished);
  EXPECT_EQ(letters(r.chosen().tokens), "AC");
}

TEST_F(BeamSearchTest, FiltersApplyToEachBeam) {
  // The begin-suppress list holds <|endoftext|>: the empty sequence cannot finish at step 1.
  Script s;
  s.rows[""] = {0.1, 0.1, 0, 0, 0.8};
  s.fallback = {0.1, 0.1, 0.1, 0.1, 0.6};
  const LogitFilters blank(g_, kVocab, 1, {kB}, /*suppress_blank=*/true, false);
  const SearchResult r = beam_search(start(s), context(6, blank), {2, 2.0, {}});
  for (const Candidate& c : r.candidates) {
    EXPECT_FALSE(c.tokens.empty());
    EXPECT_THAT(c.tokens, ::testing::Not(::testing::Contains(kB)));
  }
}

TEST_F(BeamSearchTest, ForksOnlyInTheFirstStepThenReusesStates) {
  Script s;
  s.random = true;
  s.seed = 3;
  const SearchResult r = beams(s, 4, 3.0, {}, 12);
  EXPECT_EQ(counters_.forks, 3);  // one start, three copies; later reorders copy into spares
  EXPECT_GT(counters_.assigns, 0);
  EXPECT_FALSE(r.candidates.empty());
}

TEST_F(BeamSearchTest, WidthOneIsGreedy) {
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Script s;
    s.random = true;
    s.seed = seed;
    const Candidate g = greedy_search(start(s), context(10)).chosen();
    const SearchResult b = beams(s, 1, {}, {}, 10);
    EXPECT_EQ(b.chosen().tokens, g.tokens) << "seed " << seed;
    EXPECT_EQ(b.chosen().finished, g.finished) << "seed " << seed;
    EXPECT_NEAR(b.chosen().sum_logprob, g.sum_logprob, 1e-5) << "seed " << seed;
  }
}

TEST_F(BeamSearchTest, EveryCandidateScoresWhatItsTokensGetTeacherForced) {
  const LogitFilters filters(g_, kVocab, 1, {kC}, /*suppress_blank=*/true, false);
  int finished = 0, unfinished = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Script s;
    s.random = true;
    s.seed = seed;
    for (int width : {2, 3, 4}) {
      const SearchContext ctx = context(8, filters);
      const SearchResult r = beam_search(start(s), ctx, {width, 1.5, {}});
      ASSERT_GE(int(r.candidates.size()), width);
      for (const Candidate& c : r.candidates) {
        (c.finished ? finished : unfinished)++;
        EXPECT_NEAR(c.sum_logprob, teacher_forced(s, c, ctx), 1e-4)
            << "seed " << seed << " width " << width << " " << letters(c.tokens);
      }
      for (size_t i = 0; i < r.candidates.size(); ++i) {
        EXPECT_GE(ranking_score(r.chosen().sum_logprob, r.chosen().tokens.size(), {}),
                  ranking_score(r.candidates[i].sum_logprob, r.candidates[i].tokens.size(), {}));
      }
    }
  }
  EXPECT_GT(finished, 0);
  EXPECT_GT(unfinished, 0);
}

TEST(MaxBeamCandidates, RoundsHalvesToEvenLikePython) {
  EXPECT_EQ(max_beam_candidates({5, {}, {}}), 5);
  EXPECT_EQ(max_beam_candidates({5, 0.5, {}}), 2);  // round(2.5) = 2
  EXPECT_EQ(max_beam_candidates({3, 0.5, {}}), 2);  // round(1.5) = 2
  EXPECT_EQ(max_beam_candidates({1, 2.5, {}}), 2);  // round(2.5) = 2
  EXPECT_EQ(max_beam_candidates({4, 1.5, {}}), 6);
  EXPECT_THROW(max_beam_candidates({2, 0.2, {}}), Error);  // round(0.4) = 0
  EXPECT_THROW(max_beam_candidates({0, {}, {}}), Error);
  EXPECT_THROW(max_beam_candidates({2, -1.0, {}}), Error);
}

}  // namespace
}  // namespace hark::decoding
