// What every decoding strategy (greedy, temperature sampling, beam search) shares: the decoder
// seen as a sequence that yields logits (DecoderSequence: the model behind WindowDecoder, or a
// scripted fake in tests), the window's search context (filters, prefix, where sampling stops),
// candidates and openai-whisper's MaximumLikelihoodRanker, and the seeded random source.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "decoding/logit_filters.h"

namespace hark::decoding {

// One decoding sequence: the decoder's state after the tokens fed so far (its KV cache).
class DecoderSequence {
 public:
  virtual ~DecoderSequence() = default;
  // Appends `token` and writes the logits for the next position into `logits` (n_vocab floats).
  virtual void step(int token, std::span<float> logits) = 0;
  // An independent sequence in the same state: what either is fed later leaves the other alone.
  virtual std::unique_ptr<DecoderSequence> fork() const = 0;
  // Takes `other`'s state (a sequence of the same kind), reusing this one's buffers.
  virtual void assign(const DecoderSequence& other) = 0;
};

// Where a search begins: a sequence that has been fed the whole prefix, and the logits it gave
// for the first sampled position.
struct SearchStart {
  std::unique_ptr<DecoderSequence> sequence;
  std::vector<float> logits;
};

// The rules of one window's search, shared by every sequence in it.
struct SearchContext {
  const LogitFilters& filters;
  int eot = -1;
  bool suppress_eot = false;  // never sample <|endoftext|>
  std::vector<int> prefix;    // the tokens before the first sampled one (prompt + sot sequence)
  int max_tokens = 0;         // sampling stops once prefix + sampled tokens reach this length

  // The logit filters for the sequence `tokens` (prefix + sampled so far), then suppress_eot.
  void filter(std::span<float> logits, std::span<const int> tokens) const;
};

struct Candidate {
  std::vector<int> tokens;  // sampled tokens, without <|endoftext|>
  double sum_logprob = 0;   // of the sampled tokens, <|endoftext|>'s included when finished
  bool finished = false;    // ended with <|endoftext|> (else stopped at max_tokens)
};

struct SearchResult {
  std::vector<Candidate> candidates;  // in the order the ranker saw them
  size_t best = 0;                    // the ranker's choice
  const Candidate& chosen() const { return candidates.at(best); }
};

// MaximumLikelihoodRanker's score: sum_logprob / penalty, where penalty is `length` when
// length_penalty is unset, else ((5 + length) / 6) ^ length_penalty. A zero penalty (an empty
// candidate without a length penalty) scores -inf.
double ranking_score(double sum_logprob, size_t length, std::optional<double> length_penalty);

// The index of the first candidate with the highest ranking_score (numpy's argmax). Throws
// kInternal for an empty list.
size_t rank_candidates(std::span<const Candidate> candidates, std::optional<double> length_penalty);

// A seeded, platform-independent random source (mt19937_64's sequence is fixed by the standard;
// doubles are made from its bits here rather than by a library distribution). Each (seed, stream)
// pair gives its own sequence.
class Rng {
 public:
  explicit Rng(uint64_t seed, uint64_t stream = 0);
  double uniform();  // [0, 1), 53 random bits

 private:
  std::mt19937_64 engine_;
};

// Draws an index from softmax(logits / temperature) (temperature > 0); -inf entries are never
// drawn. When every entry is -inf (or the maximum is NaN) there is no distribution: it returns
// what greedy decoding's argmax would.
int sample_categorical(std::span<const float> logits, double temperature, Rng& rng);

}  // namespace hark::decoding
