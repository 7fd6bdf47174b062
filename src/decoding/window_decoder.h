// Decodes one 30 s window: language identification over the language tokens, then the sampling
// loop (greedy at temperature 0) with OpenAI's logit filters, the no-speech probability at the
// <|startoftranscript|> position, and the sum/average log-probability of the sampled tokens.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "decoding/options.h"
#include "model/whisper_model.h"
#include "text/tokenizer.h"

namespace hark::decoding {

class WindowDecoder {
 public:
  WindowDecoder(const model::WhisperModel& model, const text::Tokenizer& tokenizer);

  // Probabilities of each language (code, p) in token order, from the decoder's logits after
  // <|startoftranscript|>. Throws kInvalidArgument for an English-only model.
  std::vector<std::pair<std::string, float>> detect_language(model::DecoderState& state) const;

  // Decodes the window whose encoder output is `encoder_out` ([n_audio_ctx, d]).
  DecodingResult decode(const Tensor& encoder_out, const DecodingOptions& options) const;

  // <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>] for these options. Throws
  // kInvalidArgument for an unknown language, or translate/language on an English-only model.
  std::vector<int> sot_sequence(const std::string& language, Task task, bool timestamps) const;

  // The suppress list the options imply (model default or explicit, plus the task/special tokens
  // OpenAI always suppresses).
  std::vector<int> suppress_list(const DecodingOptions& options) const;

 private:
  const model::WhisperModel& model_;
  const text::Tokenizer& tok_;
  std::vector<int> default_suppress_;
};

}  // namespace hark::decoding
