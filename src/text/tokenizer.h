// Whisper's byte-level BPE tokenizer: the base vocabulary (ranks 0..n-1, token bytes), BPE encode
// for prompts, decode to UTF-8, and the special tokens laid out after the base vocabulary as
// OpenAI's tokenizer.py does (endoftext, startoftranscript, languages, translate, transcribe,
// startoflm, startofprev, nospeech, notimestamps, then 1501 timestamps <|0.00|> ... <|30.00|>).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/config.h"

namespace hark::text {

class Tokenizer {
 public:
  // Loaders. n_vocab is the model's vocabulary size; the special tokens fill the ids from the base
  // vocabulary's size up to n_vocab. Errors name the file and what was wrong.
  static Tokenizer from_tiktoken(const std::string& path, int n_vocab);
  static Tokenizer from_tokenizer_json(const std::string& path, int n_vocab);
  // vocab.json + merges.txt (+ added_tokens.json when present) in one directory.
  static Tokenizer from_vocab_merges(const std::string& dir, int n_vocab);
  // A ggml file's embedded base vocabulary (token bytes in rank order).
  static Tokenizer from_token_bytes(std::vector<std::string> tokens, int n_vocab);
  // Picks the right loader for a model path: an explicit tokenizer file wins; else tokenizer.json,
  // vocab.json+merges.txt in the model directory, else the ggml vocabulary. Throws kNotFound
  // listing what was looked for.
  static Tokenizer for_model(const std::string& model_path, const std::string& tokenizer_path,
                             const std::vector<std::string>& ggml_vocab, int n_vocab);

  int n_vocab() const { return n_vocab_; }
  int base_vocab_size() const { return int(tokens_.size()); }
  const model::GenerationConfig& specials() const { return specials_; }

  // BPE-encodes ordinary text (no special tokens recognised), as tiktoken's encode_ordinary with
  // GPT-2's pre-tokenizer regex.
  std::vector<int> encode(std::string_view text) const;
  // The bytes of one token: a base token's bytes, or "<|...|>" for a special/timestamp token.
  std::string token_text(int id) const;
  // Concatenates the bytes of the base tokens (specials and timestamps skipped), repairing
  // nothing: invalid UTF-8 at the edges stays as bytes (callers join segments first).
  std::string decode(const std::vector<int>& ids) const;
  // As decode, but timestamp tokens become "<|1.08|>" and other specials "<|...|>".
  std::string decode_with_timestamps(const std::vector<int>& ids) const;
  // OpenAI's tokenizer.non_speech_tokens(): the ids of the symbol tokens suppressed when
  // suppress_tokens is "-1" (used when a model has no generation_config.json, e.g. ggml files).
  std::vector<int> non_speech_tokens() const;
  bool is_timestamp(int id) const { return id >= specials_.timestamp_begin && id < n_vocab_; }
  bool is_special(int id) const { return id >= int(tokens_.size()); }

  // Applies a generation_config.json's overrides (suppress lists, alignment heads, ...) on top of
  // the layout derived from n_vocab; ids in it must agree with the vocabulary.
  void set_generation_config(const model::GenerationConfig& g) { specials_ = g; }

 private:
  std::vector<std::string> tokens_;             // rank -> bytes
  std::unordered_map<std::string, int> ranks_;  // bytes -> rank
  model::GenerationConfig specials_;
  int n_vocab_ = 0;
  std::vector<int> bpe(std::string_view piece) const;
};

}  // namespace hark::text
