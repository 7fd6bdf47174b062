// The pieces under the tokenizer: UTF-8 decoding and character classes, GPT-2's pre-tokenizer
// on hand-worked cases, the byte <-> character mapping, and the two merge loops agreeing.
#include <gtest/gtest.h>

#include <random>

#include "support/test_env.h"
#include "text/bpe.h"
#include "text/tokenizer.h"
#include "text/unicode.h"

namespace hark::text {
namespace {

using unicode::CharClass;
using unicode::classify;

TEST(UnicodeTest, DecodesUtf8AndKeepsInvalidBytes) {
  EXPECT_EQ(unicode::decode_utf8("A", 0).cp, U'A');
  const std::string s = "é日😀";
  auto d = unicode::decode_utf8(s, 0);
  EXPECT_EQ(d.cp, U'é');
  EXPECT_EQ(d.len, 2);
  d = unicode::decode_utf8(s, 2);
  EXPECT_EQ(d.cp, U'日');
  EXPECT_EQ(d.len, 3);
  d = unicode::decode_utf8(s, 5);
  EXPECT_EQ(d.cp, U'😀');
  EXPECT_EQ(d.len, 4);
  // Continuation byte alone, overlong '/', surrogate, truncated, beyond U+10FFFF.
  for (std::string bad : {"\x80", "\xC0\xAF", "\xED\xA0\x80", "\xE6\x97", "\xF4\x90\x80\x80"}) {
    d = unicode::decode_utf8(bad, 0);
    EXPECT_EQ(d.cp, unicode::kInvalid) << bad;
    EXPECT_EQ(d.len, 1);
  }
}

TEST(UnicodeTest, ClassesFollowGeneralCategoryAndWhiteSpace) {
  for (char32_t c : {U'A', U'z', U'é', U'ß', U'Ω', U'日', U'ก', U'ا', U'ǅ', U'ʰ', U'ﬁ'}) {
    EXPECT_EQ(classify(c), CharClass::kLetter) << uint32_t(c);
  }
  // Nd, Nl (Roman numeral twelve), No (vulgar fraction, superscript two), Arabic-Indic digits.
  for (char32_t c : {U'0', U'9', U'Ⅻ', U'½', U'²', U'٣', U'〇'}) {
    EXPECT_EQ(classify(c), CharClass::kNumber) << uint32_t(c);
  }
  for (char32_t c :
       {0x09, 0x0A, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028, 0x202F, 0x3000}) {
    EXPECT_EQ(classify(c), CharClass::kSpace) << uint32_t(c);
  }
  // Not White_Space: zero width space (Cf), information separators (Python's isspace() says
  // yes, the regex engines tiktoken and HF use say no), a combining accent (Mn), the euro sign.
  for (char32_t c : {U'\u200B', U'\x1C', U'\x1F', U'\u0301', U'€', U'!', U'\'', U'♪'}) {
    EXPECT_EQ(classify(c), CharClass::kOther) << uint32_t(c);
  }
  EXPECT_EQ(classify(unicode::kInvalid), CharClass::kOther);
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  for (auto p : bpe::split_gpt2(s)) out.emplace_back(p);
  return out;
}

using Pieces = std::vector<std::string>;

TEST(BpeSplitTest, HandWorkedCases) {
  // Two spaces before a word: the run gives its last space to the word.
  EXPECT_EQ(split("I'm  here!!  123abc"),
            (Pieces{"I", "'m", " ", " here", "!!", " ", " 123", "abc"}));
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("don't they'll we've I'd"),
            (Pieces{"don", "'t", " they", "'ll", " we", "'ve", " I", "'d"}));
  // Contractions are case-sensitive; an apostrophe otherwise joins the symbol run.
  EXPECT_EQ(split("'S"), (Pieces{"'", "S"}));
  EXPECT_EQ(split("hello!!!'s"), (Pieces{"hello", "!!!'", "s"}));
  EXPECT_EQ(split("  'll"), (Pieces{" ", " '", "ll"}));
  // A single newline before a word is its own piece (only U+0020 prefixes a word).
  EXPECT_EQ(split("a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("   end"), (Pieces{"  ", " end"}));
  EXPECT_EQ(split("end   "), (Pieces{"end", "   "}));
  EXPECT_EQ(split("x \t y"), (Pieces{"x", " \t", " y"}));
  EXPECT_EQ(split("über 42€"), (Pieces{"über", " 42", "€"}));
  EXPECT_EQ(split("3.14"), (Pieces{"3", ".", "14"}));
  EXPECT_EQ(split("x½²"), (Pieces{"x", "½²"}));
  EXPECT_EQ(split("日本語のテキスト"), (Pieces{"日本語のテキスト"}));
  EXPECT_EQ(split("cafe\u0301!"), (Pieces{"cafe", "\u0301!"}));
  EXPECT_EQ(split("a\u00A0b"), (Pieces{"a", "\u00A0", "b"}));
  EXPECT_EQ(split("a\xFF\xFE b"), (Pieces{"a", "\xFF\xFE", " b"}));
  EXPECT_EQ(split(""), Pieces{});
  EXPECT_EQ(split(" "), (Pieces{" "}));
  EXPECT_EQ(split("'"), (Pieces{"'"}));
}

TEST(BpeSplitTest, PiecesConcatenateToInput) {
  std::mt19937 rng(7);
  const std::vector<std::string> alphabet = {"a",      "Z",    " ",      "  ", "\n", "'",
                                             "s",      "1",    "!",      "é",  "日", "😀",
                                             "\u00A0", "\xFF", "\u0301", "'ll"};
  for (int round = 0; round < 300; ++round) {
    std::string s;
    for (int i = 0; i < 20; ++i) s += alphabet[rng() % alphabet.size()];
    std::string joined;
    for (auto p : bpe::split_gpt2(s)) {
      ASSERT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, s);
  }
}

TEST(BpeByteMapTest, MatchesGpt2Alphabet) {
  const auto& m = bpe::byte_to_unicode();
  EXPECT_EQ(m['!'], "!");
  EXPECT_EQ(m['a'], "a");
  EXPECT_EQ(m[0xA1], "\u00A1");
  EXPECT_EQ(m[0xFF], "\u00FF");
  EXPECT_EQ(m[0x00], "\u0100");  // the first unprintable byte takes 256
  EXPECT_EQ(m[' '], "\u0120");   // Ġ
  EXPECT_EQ(m['\n'], "\u010A");  // Ċ
  EXPECT_EQ(m[0xAD], "\u0143");  // soft hyphen, the last of the 68
  EXPECT_EQ(bpe::map_bytes(" the"), "\u0120the");
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(bpe::unmap_bytes(bpe::map_bytes(all)), all);
  EXPECT_FALSE(bpe::unmap_bytes("日").has_value());
  EXPECT_FALSE(bpe::unmap_bytes(" ").has_value());  // a raw space is not in the alphabet
}

const Tokenizer& multilingual() {
  static const Tokenizer t =
      Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51865);
  return t;
}

TEST(BpeMergeTest, ScanAndHeapLoopsAgree) {
  const Tokenizer& tok = multilingual();
  std::array<int, 256> byte_ids{};
  bpe::RankMap ranks;
  for (int id = 0; id < tok.base_vocab_size(); ++id) ranks.emplace(tok.token_text(id), id);
  for (int b = 0; b < 256; ++b) byte_ids[size_t(b)] = ranks.at(std::string(1, char(b)));
  const bpe::Tables tables{&byte_ids, &ranks, nullptr};
  std::mt19937 rng(11);
  const std::vector<std::string> alphabet = {"a", "e",    "th",  "in", " ", "日", "本",
                                             "😀", "\xFF", "ing", "!",  "1", "é",  "\u0301"};
  for (int round = 0; round < 200; ++round) {
    std::string piece;
    const int n = 1 + int(rng() % 150);
    for (int i = 0; i < n; ++i) piece += alphabet[rng() % alphabet.size()];
    std::vector<int> scan, heap;
    bpe::encode_piece_scan(piece, tables, scan);
    bpe::encode_piece_heap(piece, tables, heap);
    ASSERT_EQ(scan, heap) << piece;
    std::string back;
    for (int id : heap) back += tok.token_text(id);
    EXPECT_EQ(back, piece);
  }
}

}  // namespace
}  // namespace hark::text
