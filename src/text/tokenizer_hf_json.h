// Streaming reader for the parts of HF tokenizer files the tokenizer uses. tokenizer.json is
// ~4 MB of which only model.vocab, model.merges and added_tokens matter; reading them with a SAX
// handler instead of building a DOM halves the load time.
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace hark::text::detail {

struct HfJson {
  std::vector<std::pair<std::string, int>> vocab;  // GPT-2-mapped token -> id, in file order
  std::vector<std::array<std::string, 2>> merges;  // "a b" or ["a", "b"], in priority order
  std::vector<std::pair<std::string, int>> added;  // added_tokens: content, id
  std::string model_type;                          // model.type ("BPE"), empty when absent
  bool has_model = false;
  bool has_vocab = false;
  bool ignore_merges = false;
};

// Reads `text`, the contents of `path`: a tokenizer.json, or with root_is_vocab a vocab.json
// (one object of token -> id). Throws Error(kInvalidModel) naming path for malformed JSON or
// entries of the wrong type.
HfJson read_hf_json(const std::string& path, const std::string& text, bool root_is_vocab);

}  // namespace hark::text::detail
