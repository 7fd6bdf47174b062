// Reading vocabularies: tiktoken files (base64 token, rank), HF tokenizer.json, and HF's
// vocab.json + merges.txt. HF files spell token bytes in GPT-2's printable alphabet and list the
// special tokens with the vocabulary or as added tokens; those are checked against the layout
// n_vocab implies rather than trusted, since the layout is what the model was trained with.
#include <charconv>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/tokenizer_hf_json.h"
#include "text/tokenizer_util.h"

namespace hark::text {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_file(const std::string& path) {
  std::error_code ec;
  HARK_CHECK(fs::is_regular_file(path, ec), ErrorKind::kNotFound, "{}: no such file", path);
  std::ifstream in(path, std::ios::binary);
  HARK_CHECK(in.good(), ErrorKind::kIo, "{}: cannot open for reading", path);
  std::ostringstream buf;
  buf << in.rdbuf();
  HARK_CHECK(!in.bad(), ErrorKind::kIo, "{}: read failed", path);
  return std::move(buf).str();
}

json parse_json(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: malformed JSON: {}", path, e.what());
  }
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 with padding; nullopt when s is not. Padding alone ("=") is the empty string,
// as Python's b64decode reads it: multilingual.tiktoken gives rank 50256 to the empty token.
std::optional<std::string> decode_base64(std::string_view s) {
  size_t pad = 0;
  while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  if (pad > 0 && pad == s.size()) return std::string();
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < s.size() - pad; ++i) {
    const int v = base64_value(s[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // non-canonical trailing bits
  return out;
}

std::string_view trim(std::string_view s) {
  const auto ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

int layout_base_size(int n_vocab, const std::string& source) {
  try {
    return model::GenerationConfig::defaults_for_vocab(n_vocab).eot;
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", source, e.what()));
  }
}

// (id, bytes) entries -> bytes indexed by id; the ids must be exactly 0..n-1.
std::vector<std::string> order_by_id(std::vector<std::pair<int, std::string>> entries,
                                     const std::string& source) {
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> tokens;
  tokens.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const int id = entries[i].first;
    HARK_CHECK(!(i > 0 && id == entries[i - 1].first), ErrorKind::kInvalidModel,
               "{}: id {} is given to two tokens, {} and {}", source, id,
               detail::printable(entries[i - 1].second), detail::printable(entries[i].second));
    HARK_CHECK(id == int(i), ErrorKind::kInvalidModel,
               "{}: token ids are not contiguous: no token has id {} (next is {})", source, i, id);
    tokens.push_back(std::move(entries[i].second));
  }
  return tokens;
}

// An HF vocabulary object split into the base tokens (as bytes, by id) and the special tokens
// listed with it ("<|endoftext|>" in most Whisper vocab.json files).
struct HfVocab {
  std::vector<std::string> base;
  std::vector<std::pair<std::string, int>> specials;
};

HfVocab split_hf_vocab(std::vector<std::pair<std::string, int>> vocab,
                       const std::set<std::string>& added, int base_size,
                       const std::string& source) {
  HfVocab out;
  std::vector<std::pair<int, std::string>> entries;
  entries.reserve(vocab.size());
  for (auto& [key, id] : vocab) {
    if (added.count(key) || (id >= base_size && detail::looks_special(key))) {
      out.specials.emplace_back(std::move(key), id);
      continue;
    }
    auto bytes = bpe::unmap_bytes(key);
    HARK_CHECK(bytes.has_value(), ErrorKind::kInvalidModel,
               "{}: token '{}' (id {}) has characters outside GPT-2's byte alphabet", source, key,
               id);
    entries.emplace_back(id, std::move(*bytes));
  }
  out.base = order_by_id(std::move(entries), source);
  return out;
}

// A merge "a b" (merges.txt, old tokenizer.json) or ["a", "b"] (tokenizer.json since 0.20).
std::optional<std::array<std::string, 2>> split_merge(std::string_view s) {
  const size_t sp = s.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp + 1 >= s.size() ||
      s.find(' ', sp + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::array<std::string, 2>{std::string(s.substr(0, sp)), std::string(s.substr(sp + 1))};
}

}  // namespace

Tokenizer Tokenizer::from_tiktoken(const std::string& path, int n_vocab) {
  const std::string text = read_file(path);
  std::vector<std::string_view> lines;
  std::vector<int> line_numbers;
  size_t pos = 0;
  for (int number = 1; pos < text.size(); ++number) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = trim(std::string_view(text).substr(pos, end - pos));
    if (!line.empty()) {
      lines.push_back(line);
      line_numbers.push_back(number);
    }
    pos = end + 1;
  }
  const size_t count = lines.size();
  std::vector<std::string> tokens(count);
  std::vector<int> line_of_rank(count, 0);
  for (size_t i = 0; i < count; ++i) {
    const std::string_view line = lines[i];
    const int number = line_numbers[i];
    const size_t sp = line.find_first_of(" \t");
    const std::string_view b64 = line.substr(0, std::min(sp, line.size()));
    const std::string_view rank_text = sp == std::string_view::npos ? "" : trim(line.substr(sp));
    int rank = -1;
    const auto [end, ec] =
        std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    HARK_CHECK(ec == std::errc() && end == rank_text.data() + rank_text.size() && rank >= 0,
               ErrorKind::kInvalidModel, "{}:{}: expected 'BASE64 RANK', got '{}'", path, number,
               line);
    auto bytes = decode_base64(b64);
    HARK_CHECK(bytes.has_value(), ErrorKind::kInvalidModel, "{}:{}: bad base64 '{}'", path, number,
               b64);
    HARK_CHECK(size_t(rank) < count, ErrorKind::kInvalidModel,
               "{}:{}: rank {} is out of order: ranks must be contiguous 0..{} for {} tokens", path,
               number, rank, count - 1, count);
    HARK_CHECK(line_of_rank[size_t(rank)] == 0, ErrorKind::kInvalidModel,
               "{}:{}: duplicate rank {} (already on line {})", path, number, rank,
               line_of_rank[size_t(rank)]);
    line_of_rank[size_t(rank)] = number;
    tokens[size_t(rank)] = std::move(*bytes);
  }
  return from_base_tokens(std::move(tokens), n_vocab, path);
}

void Tokenizer::set_merges(const std::vector<std::array<std::string, 2>>& merges,
                           const std::vector<int>& lines, const std::string& source) {
  HARK_CHECK(!merges.empty(), ErrorKind::kInvalidModel, "{}: the BPE model has no merges", source);
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const auto& [a, b] = merges[i];
    auto where = [&] {
      return lines.empty() ? fmt::format("{}: merge {}", source, i)
                           : fmt::format("{}:{}", source, lines[i]);
    };
    const auto left = bpe::unmap_bytes(a);
    const auto right = bpe::unmap_bytes(b);
    HARK_CHECK(left && right, ErrorKind::kInvalidModel,
               "{}: merge '{} {}' has characters outside GPT-2's byte alphabet", where(), a, b);
    const auto l = ranks_.find(*left);
    const auto r = ranks_.find(*right);
    HARK_CHECK(l != ranks_.end() && r != ranks_.end(), ErrorKind::kInvalidModel,
               "{}: merge '{} {}' names a token that is not in the vocabulary", where(), a, b);
    const auto m = ranks_.find(*left + *right);
    HARK_CHECK(m != ranks_.end(), ErrorKind::kInvalidModel,
               "{}: merge '{} {}' makes '{}{}', which is not in the vocabulary", where(), a, b, a,
               b);
    // A repeated pair takes its last line, as HF's loaders (a map filled in order) do.
    merges_.insert_or_assign(bpe::pair_key(l->second, r->second), bpe::Merge{int(i), m->second});
  }
}

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path, int n_vocab) {
  const int base_size = layout_base_size(n_vocab, path);
  detail::HfJson j = detail::read_hf_json(path, read_file(path), false);
  HARK_CHECK(j.has_model, ErrorKind::kInvalidModel,
             "{}: no \"model\" object; not an HF tokenizer.json", path);
  HARK_CHECK(j.model_type.empty() || j.model_type == "BPE", ErrorKind::kInvalidModel,
             "{}: model type is {}, expected BPE", path, j.model_type);
  HARK_CHECK(j.has_vocab, ErrorKind::kInvalidModel, "{}: model has no vocab", path);
  std::set<std::string> added_names;
  for (const auto& a : j.added) added_names.insert(a.first);
  HfVocab vocab = split_hf_vocab(std::move(j.vocab), added_names, base_size, path);
  Tokenizer t = from_base_tokens(std::move(vocab.base), n_vocab, path);
  t.set_merges(j.merges, {}, path);
  t.ignore_merges_ = j.ignore_merges;
  for (const auto& [content, id] : vocab.specials) t.check_special(content, id, path + ": vocab");
  for (const auto& [content, id] : j.added) t.check_special(content, id, path + ": added_tokens");
  return t;
}

Tokenizer Tokenizer::from_vocab_merges(const std::string& dir, int n_vocab) {
  const fs::path d(dir);
  const std::string vocab_path = (d / "vocab.json").string();
  const std::string merges_path = (d / "merges.txt").string();
  const int base_size = layout_base_size(n_vocab, vocab_path);
  detail::HfJson vocab_json = detail::read_hf_json(vocab_path, read_file(vocab_path), true);

  // Added tokens: added_tokens.json (content -> id), and tokenizer_config.json's
  // added_tokens_decoder (id -> {content}) written by newer transformers.
  std::vector<std::pair<std::string, int>> added;
  std::vector<std::string> added_where;
  try {
    if (fs::exists(d / "added_tokens.json")) {
      const std::string p = (d / "added_tokens.json").string();
      const json tokens = parse_json(p);
      for (const auto& [content, id] : tokens.items()) {
        added.emplace_back(content, id.get<int>());
        added_where.push_back(p);
      }
    }
    if (fs::exists(d / "tokenizer_config.json")) {
      const std::string p = (d / "tokenizer_config.json").string();
      const json config = parse_json(p);
      if (config.contains("added_tokens_decoder")) {
        for (const auto& [id, entry] : config["added_tokens_decoder"].items()) {
          added.emplace_back(entry.at("content").get<std::string>(), std::stoi(id));
          added_where.push_back(p);
        }
      }
    }
  } catch (const json::exception& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: unexpected added-token structure: {}", dir,
                e.what());
  } catch (const std::logic_error&) {  // std::stoi
    throw_error(ErrorKind::kInvalidModel, "{}: an added token id is not a number", dir);
  }
  std::set<std::string> added_names;
  for (const auto& a : added) added_names.insert(a.first);
  HfVocab vocab = split_hf_vocab(std::move(vocab_json.vocab), added_names, base_size, vocab_path);

  const std::string merges_text = read_file(merges_path);
  std::vector<std::array<std::string, 2>> merges;
  std::vector<int> lines;
  std::istringstream in(merges_text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (number == 1 && line.rfind("#version", 0) == 0)) continue;
    auto merge = split_merge(line);
    HARK_CHECK(merge.has_value(), ErrorKind::kInvalidModel, "{}:{}: expected 'a b', got '{}'",
               merges_path, number, line);
    merges.push_back(std::move(*merge));
    lines.push_back(number);
  }
  Tokenizer t = from_base_tokens(std::move(vocab.base), n_vocab, vocab_path);
  t.set_merges(merges, lines, merges_path);
  for (const auto& [content, id] : vocab.specials) t.check_special(content, id, vocab_path);
  for (size_t i = 0; i < added.size(); ++i) {
    t.check_special(added[i].first, added[i].second, added_where[i]);
  }
  return t;
}

}  // namespace hark::text
