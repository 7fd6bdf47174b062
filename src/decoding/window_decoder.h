// Decodes one 30 s window: language identification over the language tokens, then the search the
// options ask for (greedy, temperature sampling with best_of, or beam search; see options.h) with
// OpenAI's logit filters, the no-speech probability at the <|startoftranscript|> position, and
// the sum/average log-probability of the chosen tokens.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "decoding/options.h"
#include "decoding/sampler.h"
#include "model/whisper_model.h"
#include "text/tokenizer.h"

namespace hark::decoding {

// The model as a DecoderSequence: one DecoderState. Forks and assigned copies share the window's
// cross-attention K/V (read-only Tensors sharing one buffer) and copy the self-attention cache
// of the positions decoded so far; they never carry cross_attention_out.
class ModelSequence final : public DecoderSequence {
 public:
  ModelSequence(const model::WhisperModel& model, model::DecoderState state);

  void step(int token, std::span<float> logits) override;
  std::unique_ptr<DecoderSequence> fork() const override;
  // `other` must be a ModelSequence of the same model (else throws kInternal).
  void assign(const DecoderSequence& other) override;

  model::DecoderState& state() { return state_; }
  const model::DecoderState& state() const { return state_; }

 private:
  const model::WhisperModel& model_;
  model::DecoderState state_;
};

class WindowDecoder {
 public:
  WindowDecoder(const model::WhisperModel& model, const text::Tokenizer& tokenizer);

  // Probabilities of each language (code, p) in token order, from the decoder's logits after
  // <|startoftranscript|>. Throws kInvalidArgument for an English-only model.
  std::vector<std::pair<std::string, float>> detect_language(model::DecoderState& state) const;

  // Decodes the window whose encoder output is `encoder_out` ([n_audio_ctx, d]). Throws
  // kInvalidArgument for invalid options (DecodingOptions::validate).
  DecodingResult decode(const Tensor& encoder_out, const DecodingOptions& options) const;

  // <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>] for these options. Throws
  // kInvalidArgument for an unknown language, or translate/language on an English-only model.
  std::vector<int> sot_sequence(const std::string& language, Task task, bool timestamps) const;

  // The suppress list the options imply (model default or explicit, plus the task/special tokens
  // OpenAI always suppresses).
  std::vector<int> suppress_list(const DecodingOptions& options) const;

 private:
  struct Prefix;  // the tokens before the first sampled one, and where sot sits in them

  std::string choose_language(model::DecoderState& state, const DecodingOptions& o,
                              DecodingResult& r) const;
  Prefix initial_tokens(const DecodingOptions& o, const std::string& language) const;
  SearchStart feed_prefix(model::DecoderState state, const Prefix& prefix, DecodingResult& r) const;
  void finish_result(const SearchResult& s, DecodingResult& r) const;

  const model::WhisperModel& model_;
  const text::Tokenizer& tok_;
  std::vector<int> default_suppress_;
};

}  // namespace hark::decoding
