// The tokenizer proper: the vocabulary checks every loader ends in, encode/decode, special-token
// names and the non-speech list. The file formats are read in tokenizer_loaders.cpp.
#include "text/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "text/tokenizer_util.h"

namespace hark::text {

namespace fs = std::filesystem;

Tokenizer Tokenizer::from_base_tokens(std::vector<std::string> tokens, int n_vocab,
                                      const std::string& source) {
  Tokenizer t;
  try {
    t.layout_ = model::GenerationConfig::defaults_for_vocab(n_vocab);
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", source, e.what()));
  }
  const int expected = t.layout_.eot;  // the base vocabulary ends where <|endoftext|> sits
  if (int(tokens.size()) != expected) {
    throw_error(ErrorKind::kInvalidModel,
                "{}: the vocabulary has {} base tokens, but n_vocab {} ({}) needs {} (50256 for "
                "English-only gpt2 vocabularies, 50257 for multilingual ones)",
                source, tokens.size(), n_vocab,
                t.layout_.is_multilingual ? "multilingual" : "English-only", expected);
  }
  t.ranks_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto [it, inserted] = t.ranks_.emplace(tokens[i], int(i));
    HARK_CHECK(inserted, ErrorKind::kInvalidModel, "{}: token {} ({}) duplicates token {}", source,
               i, detail::printable(tokens[i]), it->second);
  }
  for (int b = 0; b < 256; ++b) {
    auto it = t.ranks_.find(std::string(1, char(b)));
    HARK_CHECK(it != t.ranks_.end(), ErrorKind::kInvalidModel,
               "{}: no token for the byte 0x{:02X}; a byte-level BPE vocabulary needs all 256",
               source, b);
    t.byte_ids_[size_t(b)] = it->second;
  }
  t.tokens_ = std::move(tokens);
  t.specials_ = t.layout_;
  t.n_vocab_ = n_vocab;
  t.source_ = source;
  return t;
}

Tokenizer Tokenizer::from_token_bytes(std::vector<std::string> tokens, int n_vocab) {
  // Files converted from HF's vocab.json may carry "<|endoftext|>" after the base tokens.
  const auto layout = model::GenerationConfig::defaults_for_vocab(n_vocab);
  while (int(tokens.size()) > layout.eot && detail::looks_special(tokens.back())) tokens.pop_back();
  return from_base_tokens(std::move(tokens), n_vocab, "ggml vocabulary");
}

Tokenizer Tokenizer::for_model(const std::string& model_path, const std::string& tokenizer_path,
                               const std::vector<std::string>& ggml_vocab, int n_vocab) {
  if (!tokenizer_path.empty()) {
    const fs::path p(tokenizer_path);
    HARK_CHECK(fs::exists(p), ErrorKind::kNotFound, "tokenizer file {} does not exist",
               tokenizer_path);
    if (fs::is_directory(p)) return for_model(tokenizer_path, "", {}, n_vocab);
    if (p.extension() == ".tiktoken") return from_tiktoken(tokenizer_path, n_vocab);
    if (p.filename() == "vocab.json" || p.filename() == "merges.txt") {
      return from_vocab_merges(p.parent_path().string(), n_vocab);
    }
    if (p.extension() == ".json") return from_tokenizer_json(tokenizer_path, n_vocab);
    throw_error(ErrorKind::kInvalidArgument,
                "{}: unknown tokenizer file type; expected a .tiktoken file, a tokenizer.json, or "
                "a directory with vocab.json and merges.txt",
                tokenizer_path);
  }
  fs::path dir;
  if (!model_path.empty()) {
    dir = fs::is_directory(model_path) ? fs::path(model_path) : fs::path(model_path).parent_path();
    if (dir.empty()) dir = ".";
  }
  std::string looked_for;
  if (!dir.empty()) {
    const fs::path json = dir / "tokenizer.json";
    if (fs::is_regular_file(json)) return from_tokenizer_json(json.string(), n_vocab);
    if (fs::is_regular_file(dir / "vocab.json") && fs::is_regular_file(dir / "merges.txt")) {
      return from_vocab_merges(dir.string(), n_vocab);
    }
    looked_for = fmt::format("{}, {} + {}, ", json.string(), (dir / "vocab.json").string(),
                             (dir / "merges.txt").string());
  }
  if (!ggml_vocab.empty()) return from_token_bytes(ggml_vocab, n_vocab);
  throw_error(ErrorKind::kNotFound,
              "no tokenizer found for model '{}': looked for {}and a vocabulary embedded in a ggml "
              "file; pass --tokenizer FILE.tiktoken (multilingual.tiktoken, or gpt2.tiktoken for "
              "English-only models)",
              model_path, looked_for);
}

void Tokenizer::encode_piece(std::string_view piece, std::vector<int>& out) const {
  // tiktoken takes a piece that is itself a token as is; HF does only with ignore_merges.
  if (merges_.empty() || ignore_merges_) {
    if (auto it = ranks_.find(piece); it != ranks_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  const text::bpe::Tables tables{&byte_ids_, &ranks_, merges_.empty() ? nullptr : &merges_};
  text::bpe::encode_piece(piece, tables, out);
}

std::vector<int> Tokenizer::bpe(std::string_view piece) const {
  std::vector<int> out;
  if (!piece.empty()) encode_piece(piece, out);
  return out;
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 1);
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = text::bpe::piece_length(text, pos);
    encode_piece(text.substr(pos, n), out);
    pos += n;
  }
  return out;
}

std::string Tokenizer::special_name(int id) const {
  const auto& l = layout_;
  if (id >= l.timestamp_begin) {
    const int centis = (id - l.timestamp_begin) * 2;
    return fmt::format("<|{}.{:02}|>", centis / 100, centis % 100);
  }
  if (id == l.eot) return "<|endoftext|>";
  if (id == l.sot) return "<|startoftranscript|>";
  if (id > l.sot && id < l.translate) {
    return "<|" + model::whisper_languages()[size_t(id - l.sot - 1)].first + "|>";
  }
  if (id == l.translate) return "<|translate|>";
  if (id == l.transcribe) return "<|transcribe|>";
  if (id == l.sot_lm) return "<|startoflm|>";
  if (id == l.sot_prev) return "<|startofprev|>";
  if (id == l.no_speech) return n_vocab_ >= 51866 ? "<|nospeech|>" : "<|nocaptions|>";
  return "<|notimestamps|>";
}

std::string Tokenizer::token_text(int id) const {
  HARK_CHECK(id >= 0 && id < n_vocab_, ErrorKind::kInvalidArgument,
             "token id {} is outside the vocabulary (0..{})", id, n_vocab_ - 1);
  return is_special(id) ? special_name(id) : tokens_[size_t(id)];
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) {
    HARK_CHECK(id >= 0 && id < n_vocab_, ErrorKind::kInvalidArgument,
               "token id {} is outside the vocabulary (0..{})", id, n_vocab_ - 1);
    if (!is_special(id)) out += tokens_[size_t(id)];
  }
  return out;
}

std::string Tokenizer::decode_with_timestamps(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) out += token_text(id);
  return out;
}

std::vector<int> Tokenizer::non_speech_tokens() const {
  // OpenAI's list: symbols that open speaker tags and annotations ("[DAVID]", "( MUSIC )",
  // "♪♪♪"), suppressed when they are one token alone or after a space. The musical symbols
  // U+2669..U+266F share their first two UTF-8 bytes, so their first token is suppressed even
  // when they take several. Hyphens and apostrophes stay allowed inside words, not at a start.
  static const char* const kSymbols[] = {
      "\"",  "#",  "(",  ")",   "*",   "+",   "/",   ":",  ";",   "<",  "=",  ">",
      "@",   "[",  "\\", "]",   "^",   "_",   "`",   "{",  "|",   "}",  "~",  "「",
      "」",  "『", "』", "<<",  ">>",  "<<<", ">>>", "--", "---", "-(", "-[", "('",
      "(\"", "((", "))", "(((", ")))", "[[",  "]]",  "{{", "}}",  "♪♪", "♪♪♪"};
  static const char* const kMusic[] = {"♩", "♪", "♫", "♬", "♭", "♮", "♯"};
  std::set<int> result{encode(" -").front(), encode(" '").front()};
  auto add = [&](const std::string& symbol, bool always_first) {
    for (const std::string& s : {symbol, " " + symbol}) {
      const std::vector<int> ids = encode(s);
      if (ids.size() == 1 || always_first) result.insert(ids.front());
    }
  };
  for (const char* s : kSymbols) add(s, false);
  for (const char* s : kMusic) add(s, true);
  return {result.begin(), result.end()};
}

void Tokenizer::check_special(const std::string& content, int id, const std::string& where) const {
  const int base = base_vocab_size();
  HARK_CHECK(id >= base && id < n_vocab_, ErrorKind::kInvalidModel,
             "{}: special token {} has id {}, outside the special ids {}..{} of n_vocab {}", where,
             content, id, base, n_vocab_ - 1, n_vocab_);
  const std::string expected = special_name(id);
  const bool no_speech_alias =
      id == layout_.no_speech && (content == "<|nospeech|>" || content == "<|nocaptions|>");
  HARK_CHECK(content == expected || no_speech_alias, ErrorKind::kInvalidModel,
             "{}: token {} has id {}, but the layout of n_vocab {} puts {} there (is n_vocab right "
             "for this tokenizer?)",
             where, content, id, n_vocab_, expected);
}

void Tokenizer::set_generation_config(const model::GenerationConfig& g) {
  model::GenerationConfig merged = g;
  auto agree = [&](int& field, int layout_id, const char* name) {
    if (field < 0) {
      field = layout_id;
    } else {
      HARK_CHECK(field == layout_id, ErrorKind::kInvalidModel,
                 "generation config: {} is {}, but the vocabulary ({}, n_vocab {}) has {} at {}",
                 name, field, source_, n_vocab_, special_name(layout_id), layout_id);
    }
  };
  agree(merged.eot, layout_.eot, "eos_token_id");
  agree(merged.sot, layout_.sot, "decoder_start_token_id");
  agree(merged.translate, layout_.translate, "the translate token");
  agree(merged.transcribe, layout_.transcribe, "the transcribe token");
  agree(merged.sot_lm, layout_.sot_lm, "the startoflm token");
  agree(merged.sot_prev, layout_.sot_prev, "prev_sot_token_id");
  agree(merged.no_speech, layout_.no_speech, "the no-speech token");
  agree(merged.no_timestamps, layout_.no_timestamps, "no_timestamps_token_id");
  agree(merged.timestamp_begin, layout_.timestamp_begin, "the first timestamp token");
  if (merged.languages.empty()) merged.languages = layout_.languages;
  for (const auto& [code, id] : merged.languages) {
    const auto expected = layout_.language_token(code);
    HARK_CHECK(expected && *expected == id, ErrorKind::kInvalidModel,
               "generation config: language {} has token {}, but the vocabulary (n_vocab {}) has "
               "{}",
               code, id, n_vocab_, expected ? fmt::format("it at {}", *expected) : "no such token");
  }
  specials_ = std::move(merged);
}

}  // namespace hark::text
