#include "decoding/word_timing_words.h"

#include <cstdint>

namespace hark::decoding {
namespace {

constexpr char32_t kReplacement = 0xFFFD;
constexpr std::string_view kPythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

// The continuation-byte range allowed after each lead byte (Unicode's table of well-formed UTF-8):
// the second byte's range depends on the lead, the later ones are always 80..BF.
struct LeadInfo {
  int length;  // 0: the byte starts no sequence
  uint8_t second_lo, second_hi;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Python's bytes.decode("utf-8", errors="replace"): one U+FFFD per maximal ill-formed subpart.
std::u32string decode_replace(std::string_view s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    const auto b = uint8_t(s[i]);
    const LeadInfo info = lead_info(b);
    if (info.length == 1) {
      out.push_back(b);
      ++i;
      continue;
    }
    if (info.length == 0) {
      out.push_back(kReplacement);
      ++i;
      continue;
    }
    char32_t cp = b & (0xFF >> (info.length + 1));
    int taken = 1;
    while (taken < info.length && i + size_t(taken) < s.size()) {
      const auto c = uint8_t(s[i + size_t(taken)]);
      const uint8_t lo = taken == 1 ? info.second_lo : 0x80,
                    hi = taken == 1 ? info.second_hi : 0xBF;
      if (c < lo || c > hi) break;
      cp = (cp << 6) | (c & 0x3F);
      ++taken;
    }
    out.push_back(taken == info.length ? cp : kReplacement);
    i += size_t(taken);
  }
  return out;
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(char(c));
    } else if (c < 0x800) {
      out.push_back(char(0xC0 | (c >> 6)));
      out.push_back(char(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(char(0xE0 | (c >> 12)));
      out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(char(0x80 | (c & 0x3F)));
    } else {
      out.push_back(char(0xF0 | (c >> 18)));
      out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(char(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Python's str.isspace().
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip() of a valid UTF-8 string.
std::string python_strip(std::string_view s) {
  const std::u32string cps = decode_replace(s);
  size_t b = 0, e = cps.size();
  while (b < e && is_python_space(cps[b])) ++b;
  while (e > b && is_python_space(cps[e - 1])) --e;
  return to_utf8(std::u32string_view(cps).substr(b, e - b));
}

// Python's `needle in haystack` for str (both valid UTF-8, so a byte match is a character match).
bool python_in(std::string_view needle, std::string_view haystack) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

bool splits_on_unicode(std::string_view language) {
  for (std::string_view l : {"zh", "ja", "th", "lo", "my", "yue"}) {
    if (language == l) return true;
  }
  return false;
}

std::vector<WordTokens> split_tokens_on_unicode(const text::Tokenizer& tokenizer,
                                                const std::vector<int>& tokens) {
  const std::u32string full = decode_replace(tokenizer.decode_with_timestamps(tokens));
  std::vector<WordTokens> words;
  std::vector<int> current;
  size_t offset = 0;
  for (int token : tokens) {
    current.push_back(token);
    const std::u32string decoded = decode_replace(tokenizer.decode_with_timestamps(current));
    const size_t bad = decoded.find(kReplacement);
    const bool whole = bad == std::u32string::npos ||
                       (offset + bad < full.size() && full[offset + bad] == kReplacement);
    if (!whole) continue;
    words.push_back({to_utf8(decoded), std::move(current)});
    current.clear();
    offset += decoded.size();
  }
  return words;
}

std::vector<WordTokens> split_tokens_on_spaces(const text::Tokenizer& tokenizer,
                                               const std::vector<int>& tokens) {
  const int eot = tokenizer.specials().eot;
  std::vector<WordTokens> words;
  for (WordTokens& piece : split_tokens_on_unicode(tokenizer, tokens)) {
    const bool special = piece.tokens.front() >= eot;
    const bool with_space = piece.word.starts_with(' ');
    const bool punctuation = python_in(python_strip(piece.word), kPythonPunctuation);
    if (special || with_space || punctuation || words.empty()) {
      words.push_back(std::move(piece));
    } else {
      words.back().word += piece.word;
      words.back().tokens.insert(words.back().tokens.end(), piece.tokens.begin(),
                                 piece.tokens.end());
    }
  }
  return words;
}

std::vector<WordTokens> split_to_word_tokens(const text::Tokenizer& tokenizer,
                                             const std::vector<int>& tokens,
                                             std::string_view language) {
  return splits_on_unicode(language) ? split_tokens_on_unicode(tokenizer, tokens)
                                     : split_tokens_on_spaces(tokenizer, tokens);
}

void merge_punctuations(std::vector<WordTiming>& alignment, std::string_view prepended,
                        std::string_view appended) {
  const auto n = static_cast<int64_t>(alignment.size());
  for (int64_t i = n - 2, j = n - 1; i >= 0; --i) {
    WordTiming& previous = alignment[size_t(i)];
    WordTiming& following = alignment[size_t(j)];
    if (previous.word.starts_with(' ') && python_in(python_strip(previous.word), prepended)) {
      following.word = previous.word + following.word;
      following.tokens.insert(following.tokens.begin(), previous.tokens.begin(),
                              previous.tokens.end());
      previous.word.clear();
      previous.tokens.clear();
    } else {
      j = i;
    }
  }
  for (int64_t i = 0, j = 1; j < n; ++j) {
    WordTiming& previous = alignment[size_t(i)];
    WordTiming& following = alignment[size_t(j)];
    if (!previous.word.ends_with(' ') && python_in(following.word, appended)) {
      previous.word += following.word;
      previous.tokens.insert(previous.tokens.end(), following.tokens.begin(),
                             following.tokens.end());
      following.word.clear();
      following.tokens.clear();
    } else {
      i = j;
    }
  }
}

}  // namespace hark::decoding
