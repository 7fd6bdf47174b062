// Whisper's byte-level BPE tokenizer: the base vocabulary (ranks 0..n-1, token bytes), BPE encode
// for prompts, decode to UTF-8, and the special tokens laid out after the base vocabulary as
// OpenAI's tokenizer.py does (endoftext, startoftranscript, languages, translate, transcribe,
// startoflm, startofprev, nospeech, notimestamps, then 1501 timestamps <|0.00|> ... <|30.00|>).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/config.h"
#include "text/bpe.h"

namespace hark::text {

// Immutable once loaded: the const members may be called from many threads at once.
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
  // Picks the right loader for a model path (a directory, or a file whose directory is searched):
  // an explicit tokenizer_path wins (*.tiktoken, vocab.json or merges.txt, other *.json as
  // tokenizer.json, or a directory); else tokenizer.json, then vocab.json+merges.txt in the model
  // directory, else ggml_vocab when non-empty. Throws kNotFound listing what was looked for.
  static Tokenizer for_model(const std::string& model_path, const std::string& tokenizer_path,
                             const std::vector<std::string>& ggml_vocab, int n_vocab);

  int n_vocab() const { return n_vocab_; }
  // Where the vocabulary came from ("path/multilingual.tiktoken", "ggml vocabulary", ...).
  const std::string& source() const { return source_; }
  // True when pairs merge in merges.txt order (HF files), false for tiktoken's rank order.
  bool uses_merge_list() const { return !merges_.empty(); }
  int base_vocab_size() const { return int(tokens_.size()); }
  const model::GenerationConfig& specials() const { return specials_; }

  // BPE-encodes ordinary text (no special tokens recognised), as tiktoken's encode_ordinary with
  // GPT-2's pre-tokenizer regex.
  std::vector<int> encode(std::string_view text) const;
  // The bytes of one token: a base token's bytes, or "<|...|>" for a special/timestamp token.
  // token_text and the decoders throw kInvalidArgument for ids outside 0..n_vocab-1.
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
  // the layout derived from n_vocab; ids in it must agree with the vocabulary. Special ids left
  // at -1 (and an empty language list) take the layout's values. Throws kInvalidModel naming the
  // first id that disagrees.
  void set_generation_config(const model::GenerationConfig& g);

 private:
  std::vector<std::string> tokens_;  // rank -> bytes
  text::bpe::RankMap ranks_;         // bytes -> rank
  std::array<int, 256> byte_ids_{};  // byte -> its single-byte token
  text::bpe::MergeMap merges_;       // HF merge order; empty: tiktoken rank order
  bool ignore_merges_ = false;       // HF's BPE ignore_merges: a piece in the vocabulary is a token
  model::GenerationConfig layout_;   // the ids defaults_for_vocab(n_vocab) gives
  model::GenerationConfig specials_;
  int n_vocab_ = 0;
  std::string source_;

  // Checks the base vocabulary against the layout of n_vocab and fills everything but merges_.
  static Tokenizer from_base_tokens(std::vector<std::string> tokens, int n_vocab,
                                    const std::string& source);
  // Installs HF merges (pairs in GPT-2's mapped alphabet, highest priority first); lines gives
  // each merge's line in source for error messages (empty: number them).
  void set_merges(const std::vector<std::array<std::string, 2>>& merges,
                  const std::vector<int>& lines, const std::string& source);
  // The name of special token id (base_vocab_size() <= id < n_vocab) in the layout of n_vocab,
  // as OpenAI's tokenizer writes it; the no-speech token is "<|nocaptions|>" for 51864/51865
  // and "<|nospeech|>" for 51866, as the HF files name it.
  std::string special_name(int id) const;
  // Checks HF special tokens (added_tokens, or "<|...|>" entries of a vocab) against the layout.
  void check_special(const std::string& content, int id, const std::string& where) const;
  std::vector<int> bpe(std::string_view piece) const;
  void encode_piece(std::string_view piece, std::vector<int>& out) const;
};

}  // namespace hark::text
