// Tokenizer behaviour against OpenAI's: encodings, special tokens, decode, the non-speech list,
// loader errors, and the choice of tokenizer for a model.
#include "text/tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/test_env.h"

namespace hark::text {
namespace {

using ::testing::HasSubstr;

const Tokenizer& multilingual() {
  static const Tokenizer t =
      Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51865);
  return t;
}

const Tokenizer& english() {
  static const Tokenizer t = Tokenizer::from_tiktoken(hark::testing::asset("gpt2.tiktoken"), 51864);
  return t;
}

struct Encoded {
  std::string text;
  std::vector<int> ids;
};

// tiktoken 0.14's encode_ordinary with Whisper's pattern over the shared .tiktoken files (run on
// the GPU machine; transformers 5.17's WhisperTokenizer gave the same ids for every string).
const std::vector<Encoded> kMultilingualReference = {
    {" And so my fellow Americans", {400, 370, 452, 7177, 6280}},
    {"Hello world!", {15947, 1002, 0}},
    {"I'm  here!!  123abc", {40, 478, 220, 510, 1432, 220, 34466, 455, 66}},
    {"don't won't they'll we've I'd", {13966, 380, 1582, 380, 436, 603, 321, 600, 286, 1116}},
    {"'S 'LL 'Re", {6, 50, 922, 24010, 922, 8524}},
    {"hello!!!'s", {675, 1913, 4589, 6, 82}},
    {"  'll", {220, 922, 285}},
    {"a\n\nb", {64, 198, 198, 65}},
    {"   end", {220, 220, 917}},
    {"end   ", {521, 220, 220, 220}},
    {"über 42€", {12670, 14034, 28197}},
    {"x ¿y", {87, 3841, 88}},
    {"Ça va? Très bien, merci.", {27707, 64, 2773, 30, 1765, 3645, 3610, 11, 30532, 13}},
    {"日本語のテキストです。", {27311, 31348, 2972, 22985, 15535, 40498, 4767, 1543}},
    {"中文测试，还有标点！",
     {5975, 17174, 11038, 233, 5233, 243, 171, 120, 234, 35091, 162, 3921, 12579, 171, 120, 223}},
    {"한국어 문장입니다", {3049, 7854, 3103, 13086, 4573, 7416}},
    {"Привет, мир!", {43971, 31259, 11, 20536, 0}},
    {"مرحبا بالعالم", {29973, 5016, 3555, 995, 20666, 3615, 45340}},
    {"שלום עולם", {43911, 17333, 7535, 39383}},
    {"नमस\340\245\215त\340\245\207 द\340\245\201निया",
     {35082, 48521, 45938, 27099, 36158, 21981, 8485, 99, 8703, 223, 35082, 33279, 48268, 17937}},
    {"ภาษาไทย", {839, 254, 4943, 839, 102, 4943, 8809, 11099, 7044}},
    {"Ελληνικά γράμματα", {138, 243, 14870, 39452, 35085, 10643, 17750, 4043, 40370}},
    {"emoji 😀🎉👍🏽 👨\342\200\215👩\342\200\215👧",
     {36221, 4013, 20732, 222, 28864, 231, 31017, 235, 4222,  237, 121,
      36276, 101,  913,   235, 31017, 102, 913,   235, 31017, 100}},
    {"cafe\314\201 naïve", {496, 2106, 32797, 1667, 15487, 303}},
    {"a\302\240b\343\200\200c\342\200\250d", {64, 126, 254, 65, 756, 222, 66, 913, 101, 67}},
    {"tabs\tand\r\nnewlines\n", {83, 17243, 197, 474, 201, 198, 7686, 11045, 198}},
    {"3.14159 1,000,000 ½ ² Ⅻ ٣٤", {18,    13,   7271, 5211, 24,  502, 11,   1360, 11,  1360,
                                    32653, 1815, 110,  672,  227, 104, 1447, 96,   149, 97}},
    {"((( ♪♪♪ ))) [MUSIC] <<hi>> -- --- {{x}}",
     {7, 7, 7, 31650, 26435, 542, 6848, 60, 47425, 4954, 893, 1350, 32470, 10929, 90, 87, 29464}},
    {" - ' \" # @", {359, 922, 503, 3536, 10428}},
    {"    indented code():\n        return x  # comment\n",
     {220, 220, 220, 1016, 6003, 3089, 7,    4507, 198,  220,  220,
      220, 220, 220, 220,  220,  2736, 2031, 220,  3536, 2871, 198}},
    {"ALLCAPS and MiXeD CaSe", {3427, 14766, 4715, 50, 293, 10204, 55, 68, 35, 7544, 10637}},
    {"😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
     {13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222, 13125, 222,
      13125, 222, 13125, 222, 13125, 222, 13125, 222}},
    {"\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314"
     "\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201"
     "\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314"
     "\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201"
     "\314\201\314\201\314\201\314\201a",
     {32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797,
      32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797,
      32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797,
      32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 32797, 64}},
    {"The quick brown fox jumps over the lazy dog.",
     {2278, 1702, 6292, 21026, 16704, 670, 264, 14847, 3000, 13}},
    {"It's 5 o'clock; isn't it?", {3522, 311, 1025, 277, 6, 9023, 26, 1943, 380, 309, 30}},
    {"www.example.com/path?q=1&r=2",
     {17919, 13, 3121, 335, 781, 13, 1112, 14, 31852, 30, 80, 28, 16, 5, 81, 28, 17}},
    {"e-mail: someone@example.org", {68, 12, 11799, 25, 1580, 31, 3121, 335, 781, 13, 4646}},
    {"C++20 std::vector<int>", {34, 25472, 2009, 342, 67, 25, 25, 303, 1672, 27, 686, 29}},
    {std::string("\000\001\037\177", 4), {188, 189, 219, 221}},
    {"zero\342\200\213width", {32226, 3134, 21271}},
    {"\034fs", {216, 16883}},
    {"ﬁ ligature ǅ title", {171, 105, 223, 11742, 1503, 220, 131, 227, 4876}},
};

const std::vector<Encoded> kEnglishReference = {
    {" And so my fellow Americans", {843, 523, 616, 5891, 3399}},
    {"Hello world!", {15496, 995, 0}},
    {"I'm  here!!  123abc", {40, 1101, 220, 994, 3228, 220, 17031, 39305}},
    {"don't won't they'll we've I'd", {9099, 470, 1839, 470, 484, 1183, 356, 1053, 314, 1549}},
    {"'S 'LL 'Re", {6, 50, 705, 3069, 705, 3041}},
    {"hello!!!'s", {31373, 10185, 6, 82}},
    {"  'll", {220, 705, 297}},
    {"a\n\nb", {64, 198, 198, 65}},
    {"   end", {220, 220, 886}},
    {"end   ", {437, 220, 220, 220}},
    {"über 42€", {9116, 527, 5433, 26391}},
    {"x ¿y", {87, 1587, 123, 88}},
    {"Ça va? Très bien, merci.",
     {127, 229, 64, 46935, 30, 833, 14064, 82, 275, 2013, 11, 4017, 979, 13}},
    {"日本語のテキストです。",
     {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302, 30640, 33623, 16764}},
    {"中文测试，还有标点！", {40792, 23877, 229, 38184, 233, 46237, 243, 171, 120, 234, 32573,
                              246,   17312, 231, 43718, 229, 163,   224, 117, 171, 120, 223}},
    {"한국어 문장입니다", {47991, 250, 166, 113, 255, 168, 244,   112, 31619, 105, 116,
                           168,   252, 98,  168, 252, 227, 46695, 230, 46695, 97}},
    {"Привет, мир!",
     {140, 253, 21169, 18849, 38857, 16843, 20375, 11, 12466, 120, 18849, 21169, 0}},
    {"مرحبا بالعالم",
     {25405, 26897, 148, 255, 39848, 12919, 17550, 101, 23525, 44690, 23525, 25405}},
    {"שלום עולם", {50227, 40010, 27072, 147, 251, 14360, 95, 27072, 40010, 147, 251}},
    {"नमस\340\245\215त\340\245\207 द\340\245\201निया",
     {11976, 101, 11976, 106, 11976, 116, 24231, 235, 11976, 97,  24231, 229,
      28225, 99,  24231, 223, 11976, 101, 11976, 123, 11976, 107, 48077}},
    {"ภาษาไทย",
     {19567, 254, 19567, 110, 19567, 102, 19567, 110, 31479, 226, 19567, 245, 19567, 95}},
    {"Ελληνικά γράμματα", {138,  243, 39377, 39377, 138, 115,   26180, 29945, 43000, 138,  105,
                           7377, 111, 33643, 138,   105, 34703, 34703, 17394, 32830, 17394}},
    {"emoji 😀🎉👍🏽 👨\342\200\215👩\342\200\215👧",
     {368, 31370, 30325, 222, 8582, 236,   231, 41840, 235, 8582,  237,
      121, 50169, 101,   447, 235,  41840, 102, 447,   235, 41840, 100}},
    {"cafe\314\201 naïve", {66, 8635, 136, 223, 41492}},
    {"a\302\240b\343\200\200c\342\200\250d", {64, 1849, 65, 5099, 222, 66, 447, 101, 67}},
    {"tabs\tand\r\nnewlines\n", {8658, 82, 197, 392, 201, 198, 3605, 6615, 198}},
    {"3.14159 1,000,000 ½ ² Ⅻ ٣٤",
     {18, 13, 1415, 19707, 352, 11, 830, 11, 830, 25208, 1587, 110, 2343, 227, 104, 18923, 96, 149,
      97}},
    {"((( ♪♪♪ ))) [MUSIC] <<hi>> -- --- {{x}}",
     {19510, 7,    20724, 103,  17992, 103,  17992, 103,   47282, 685, 44,
      2937,  2149, 60,    9959, 5303,  4211, 1377,  11420, 22935, 87,  11709}},
    {" - ' \" # @", {532, 705, 366, 1303, 2488}},
    {"    indented code():\n        return x  # comment\n",
     {220, 220, 220, 773, 4714, 2438, 33529, 198,  220,  220, 220,
      220, 220, 220, 220, 1441, 2124, 220,   1303, 2912, 198}},
    {"ALLCAPS and MiXeD CaSe", {1847, 5639, 44580, 290, 13756, 55, 68, 35, 6488, 4653}},
    {"😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀",
     {47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222, 47249, 222,
      47249, 222, 47249, 222, 47249, 222, 47249, 222}},
    {"\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314"
     "\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201"
     "\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314"
     "\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201\314\201"
     "\314\201\314\201\314\201\314\201a",
     {136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136,
      223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223,
      136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136,
      223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223,
      136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136,
      223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 136, 223, 64}},
    {"The quick brown fox jumps over the lazy dog.",
     {464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13}},
    {"It's 5 o'clock; isn't it?", {1026, 338, 642, 267, 6, 15750, 26, 2125, 470, 340, 30}},
    {"www.example.com/path?q=1&r=2",
     {2503, 13, 20688, 13, 785, 14, 6978, 30, 80, 28, 16, 5, 81, 28, 17}},
    {"e-mail: someone@example.org", {68, 12, 4529, 25, 2130, 31, 20688, 13, 2398}},
    {"C++20 std::vector<int>", {34, 4880, 1238, 14367, 3712, 31364, 27, 600, 29}},
    {std::string("\000\001\037\177", 4), {188, 189, 219, 221}},
    {"zero\342\200\213width", {22570, 9525, 10394}},
    {"\034fs", {216, 9501}},
    {"ﬁ ligature ǅ title", {171, 105, 223, 26106, 1300, 220, 131, 227, 3670}},
};

TEST(TokenizerTest, MatchesTiktokenMultilingual) {
  for (const auto& [text, ids] : kMultilingualReference) {
    EXPECT_EQ(multilingual().encode(text), ids) << text;
  }
}

TEST(TokenizerTest, MatchesTiktokenEnglish) {
  for (const auto& [text, ids] : kEnglishReference) EXPECT_EQ(english().encode(text), ids) << text;
}

TEST(TokenizerTest, WordTokensAreTheirFileLines) {
  // multilingual.tiktoken lines "IEFuZA== 400" (" And"), "IHRoZQ== 264" (" the"), ...
  EXPECT_EQ(multilingual().encode(" And so my fellow Americans"),
            (std::vector<int>{400, 370, 452, 7177, 6280}));
  EXPECT_EQ(multilingual().encode(" the"), std::vector<int>{264});
  EXPECT_EQ(english().encode(" the"), std::vector<int>{262});
  EXPECT_EQ(multilingual().token_text(264), " the");
}

TEST(TokenizerTest, SingleBytesHaveGpt2ByteOrderRanks) {
  // The first 256 ranks are the bytes in bytes_to_unicode() order: '!'..'~', 0xA1..0xAC,
  // 0xAE..0xFF, then the other 68 bytes ascending.
  std::vector<int> order;
  for (int b = '!'; b <= '~'; ++b) order.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) order.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) order.push_back(b);
  for (int b = 0; b < 256; ++b) {
    if (std::find(order.begin(), order.end(), b) == order.end()) order.push_back(b);
  }
  for (int rank = 0; rank < 256; ++rank) {
    const std::string byte(1, char(order[size_t(rank)]));
    EXPECT_EQ(multilingual().encode(byte), std::vector<int>{rank}) << rank;
    EXPECT_EQ(english().encode(byte), std::vector<int>{rank}) << rank;
    EXPECT_EQ(multilingual().token_text(rank), byte);
  }
}

const std::vector<std::string>& round_trip_corpus() {
  static const std::vector<std::string> corpus = [] {
    std::vector<std::string> c;
    for (const auto& e : kMultilingualReference) c.push_back(e.text);
    c.push_back(std::string(300, 'x'));
    c.push_back(std::string(1000, ' ') + "y");
    c.push_back(std::string(700, '\n'));
    std::string digits, cjk, mixed;
    for (int i = 0; i < 50; ++i) digits += "1234567890";
    for (int i = 0; i < 200; ++i) cjk += "漢字";
    for (int i = 0; i < 40; ++i) mixed += "word 😀 ünïcödé  \t 12 !! 's ";
    c.insert(c.end(), {digits, cjk, mixed, "\xFF\xFE invalid \xC0 utf8 \xE6\x97", ""});
    return c;
  }();
  return corpus;
}

TEST(TokenizerTest, DecodeInvertsEncode) {
  for (const Tokenizer* tok : {&multilingual(), &english()}) {
    for (const std::string& s : round_trip_corpus()) {
      EXPECT_EQ(tok->decode(tok->encode(s)), s) << s;
    }
  }
}

TEST(TokenizerTest, SpecialIdsFollowTheLayout) {
  // ORACLE.md's table: n_vocab, eot, sot, first language, translate, transcribe, sot_lm,
  // sot_prev, no_speech, no_timestamps, first timestamp.
  struct Row {
    int n_vocab, eot, sot, first_lang, translate, transcribe, sot_lm, sot_prev, no_speech,
        no_timestamps, timestamp_begin;
  };
  const Row rows[] = {
      {51864, 50256, 50257, 50258, 50357, 50358, 50359, 50360, 50361, 50362, 50363},
      {51865, 50257, 50258, 50259, 50358, 50359, 50360, 50361, 50362, 50363, 50364},
      {51866, 50257, 50258, 50259, 50359, 50360, 50361, 50362, 50363, 50364, 50365},
  };
  for (const Row& r : rows) {
    const std::string file = r.n_vocab == 51864 ? "gpt2.tiktoken" : "multilingual.tiktoken";
    const Tokenizer t = Tokenizer::from_tiktoken(hark::testing::asset(file), r.n_vocab);
    const auto& s = t.specials();
    EXPECT_EQ(t.base_vocab_size(), r.eot);
    EXPECT_EQ(s.eot, r.eot);
    EXPECT_EQ(s.sot, r.sot);
    EXPECT_EQ(s.translate, r.translate);
    EXPECT_EQ(s.transcribe, r.transcribe);
    EXPECT_EQ(s.sot_lm, r.sot_lm);
    EXPECT_EQ(s.sot_prev, r.sot_prev);
    EXPECT_EQ(s.no_speech, r.no_speech);
    EXPECT_EQ(s.no_timestamps, r.no_timestamps);
    EXPECT_EQ(s.timestamp_begin, r.timestamp_begin);
    EXPECT_EQ(r.n_vocab - r.timestamp_begin, 1501);

    EXPECT_EQ(t.token_text(r.eot), "<|endoftext|>");
    EXPECT_EQ(t.token_text(r.sot), "<|startoftranscript|>");
    EXPECT_EQ(t.token_text(r.first_lang), "<|en|>");
    EXPECT_EQ(t.token_text(r.first_lang + 1), "<|zh|>");
    EXPECT_EQ(t.token_text(r.translate - 1), r.n_vocab == 51866 ? "<|yue|>" : "<|su|>");
    EXPECT_EQ(t.token_text(r.translate), "<|translate|>");
    EXPECT_EQ(t.token_text(r.transcribe), "<|transcribe|>");
    EXPECT_EQ(t.token_text(r.sot_lm), "<|startoflm|>");
    EXPECT_EQ(t.token_text(r.sot_prev), "<|startofprev|>");
    EXPECT_EQ(t.token_text(r.no_speech), r.n_vocab == 51866 ? "<|nospeech|>" : "<|nocaptions|>");
    EXPECT_EQ(t.token_text(r.no_timestamps), "<|notimestamps|>");
    EXPECT_EQ(t.token_text(r.timestamp_begin), "<|0.00|>");
    EXPECT_EQ(t.token_text(r.timestamp_begin + 54), "<|1.08|>");
    EXPECT_EQ(t.token_text(r.timestamp_begin + 1499), "<|29.98|>");
    EXPECT_EQ(t.token_text(r.n_vocab - 1), "<|30.00|>");
    EXPECT_TRUE(t.is_timestamp(r.timestamp_begin));
    EXPECT_FALSE(t.is_timestamp(r.no_timestamps));
    EXPECT_TRUE(t.is_special(r.eot));
    EXPECT_FALSE(t.is_special(r.eot - 1));
  }
  EXPECT_EQ(multilingual().specials().language_token("de"), 50261);
}

TEST(TokenizerTest, DecodeSkipsSpecialsAndWithTimestampsNamesThem) {
  const Tokenizer& t = multilingual();
  const auto& s = t.specials();
  std::vector<int> ids = {s.sot, s.sot + 1, s.transcribe, s.timestamp_begin};
  for (int id : t.encode(" Hello")) ids.push_back(id);
  ids.push_back(s.timestamp_begin + 54);
  ids.push_back(s.eot);
  EXPECT_EQ(t.decode(ids), " Hello");
  EXPECT_EQ(t.decode_with_timestamps(ids),
            "<|startoftranscript|><|en|><|transcribe|><|0.00|> Hello<|1.08|><|endoftext|>");
  EXPECT_THROW(t.decode({51865}), Error);
  EXPECT_THROW(t.token_text(-1), Error);
}

TEST(TokenizerTest, NonSpeechTokensMatchOpenAI) {
  // OpenAI's tokenizer.non_speech_tokens computed with tiktoken over the same files; these are
  // also the base-vocabulary part of the HF checkpoints' suppress_tokens.
  const std::vector<int> multilingual_expected = {
      1,     2,     7,     8,     9,     10,    14,    25,    26,    27,    28,    29,
      31,    58,    59,    60,    61,    62,    63,    90,    91,    92,    93,    359,
      503,   522,   542,   873,   893,   902,   918,   922,   931,   1350,  1853,  1982,
      2460,  2627,  3246,  3253,  3268,  3536,  3846,  3961,  4183,  4667,  6585,  6647,
      7273,  9061,  9383,  10428, 10929, 11938, 12033, 12331, 12562, 13793, 14157, 14635,
      15265, 15618, 16553, 16604, 18362, 18956, 20075, 21675, 22520, 26130, 26161, 26435,
      28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425, 49870, 50254};
  const std::vector<int> english_expected = {
      1,     2,     7,     8,     9,     10,    14,    25,    26,    27,    28,    29,
      31,    58,    59,    60,    61,    62,    63,    90,    91,    92,    93,    357,
      366,   438,   532,   685,   705,   796,   930,   1058,  1220,  1267,  1279,  1303,
      1343,  1377,  1391,  1635,  1782,  1875,  2162,  2361,  2488,  3467,  4008,  4211,
      4600,  4808,  5299,  5855,  6329,  7203,  9609,  9959,  10563, 10786, 11420, 11709,
      11907, 13163, 13697, 13700, 14808, 15306, 16410, 16791, 17992, 19203, 19510, 20724,
      22305, 22935, 27007, 30109, 30420, 33409, 34949, 40283, 40493, 40549, 47282, 49146};
  EXPECT_EQ(multilingual().non_speech_tokens(), multilingual_expected);
  EXPECT_EQ(english().non_speech_tokens(), english_expected);
}

}  // namespace
}  // namespace hark::text
