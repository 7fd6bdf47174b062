// HF tokenizer files made from the .tiktoken vocabulary inside the test, as transformers'
// convert_openai_to_hf.py makes them (ids = ranks, GPT-2-mapped strings, each merge the last
// step of BPE over the token's bytes with only lower ranks): every loader must encode alike.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "support/test_env.h"
#include "text/bpe.h"
#include "text/tokenizer.h"

namespace hark::text {
namespace {

using nlohmann::json;
using ::testing::AllOf;
using ::testing::HasSubstr;

const Tokenizer& tiktoken_multilingual() {
  static const Tokenizer t =
      Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51866);
  return t;
}

// BPE over `token` merging only pairs whose concatenation ranks below max_rank, written
// independently of the library: returns the parts it stops at.
std::vector<std::string> bpe_below(const std::unordered_map<std::string, int>& ranks,
                                   const std::string& token, int max_rank) {
  std::vector<std::string> parts;
  for (char c : token) parts.emplace_back(1, c);
  while (parts.size() > 1) {
    int best = -1, best_rank = max_rank;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = ranks.find(parts[i] + parts[i + 1]);
      if (it != ranks.end() && it->second < best_rank) best = int(i), best_rank = it->second;
    }
    if (best < 0) break;
    parts[size_t(best)] += parts[size_t(best) + 1];
    parts.erase(parts.begin() + best + 1);
  }
  return parts;
}

struct HfFiles {
  json vocab;                                               // mapped string -> id
  std::vector<std::pair<std::string, std::string>> merges;  // mapped strings, priority order
  json added;                                               // tokenizer.json's added_tokens
};

const HfFiles& hf_files() {
  static const HfFiles files = [] {
    const Tokenizer& t = tiktoken_multilingual();
    std::unordered_map<std::string, int> ranks;
    for (int id = 0; id < t.base_vocab_size(); ++id) ranks.emplace(t.token_text(id), id);
    HfFiles f;
    f.vocab = json::object();
    for (int id = 0; id < t.base_vocab_size(); ++id) {
      const std::string bytes = t.token_text(id);
      f.vocab[bpe::map_bytes(bytes)] = id;
      if (bytes.size() < 2) continue;
      const auto parts = bpe_below(ranks, bytes, id);
      if (parts.size() == 2)
        f.merges.emplace_back(bpe::map_bytes(parts[0]), bpe::map_bytes(parts[1]));
    }
    f.vocab["<|endoftext|>"] = t.specials().eot;  // as in openai/whisper-* vocab.json
    f.added = json::array();
    for (int id = t.base_vocab_size(); id < t.n_vocab(); ++id) {
      std::string name = t.token_text(id);
      if (id == t.specials().no_speech) name = "<|nospeech|>";  // transformers' converter's name
      const bool special = id < t.specials().timestamp_begin;
      f.added.push_back({{"id", id},
                         {"content", name},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", !special},
                         {"special", special}});
    }
    return f;
  }();
  return files;
}

json tokenizer_json(bool merges_as_pairs) {
  const HfFiles& f = hf_files();
  json merges = json::array();
  for (const auto& [a, b] : f.merges) {
    merges.push_back(merges_as_pairs ? json::array({a, b}) : json(a + " " + b));
  }
  json vocab = f.vocab;
  vocab.erase("<|endoftext|>");  // tokenizer.json keeps it in added_tokens only
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", f.added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"ignore_merges", false},
        {"vocab", vocab},
        {"merges", merges}}}};
}

// tokenizer_json(pairs).dump(), made once: building and printing it is slow in sanitizer builds.
const std::string& tokenizer_json_text(bool merges_as_pairs) {
  static const std::string pairs = tokenizer_json(true).dump();
  static const std::string strings = tokenizer_json(false).dump();
  return merges_as_pairs ? pairs : strings;
}

std::string write(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// A directory with vocab.json, merges.txt and added_tokens.json.
std::string write_vocab_merges(const std::string& dir) {
  const HfFiles& f = hf_files();
  write(dir + "/vocab.json", f.vocab.dump(2, ' ', false));
  std::string merges = "#version: 0.2\n";
  for (const auto& [a, b] : f.merges) merges += a + " " + b + "\n";
  write(dir + "/merges.txt", merges);
  json added = json::object();
  for (const json& a : f.added) {
    if (a["content"] != "<|endoftext|>") added[a["content"].get<std::string>()] = a["id"];
  }
  write(dir + "/added_tokens.json", added.dump());
  return dir;
}

std::string dir_for(const std::string& name) { return hark::testing::temp_dir() + "/hf-" + name; }

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> c = [] {
    std::vector<std::string> v = {
        " And so my fellow Americans, ask not what your country can do for you.",
        "I'm  here!!  123abc don't won't they'll we've I'd 'S 'LL",
        "Ça va? Très bien, merci. Ünïcödé naïve café",
        "日本語のテキストです。中文测试，还有标点！한국어 문장입니다",
        "Привет, мир! مرحبا بالعالم שלום עולם नमस्ते दुनिया ภาษาไทย Ελληνικά",
        "emoji 😀🎉👍🏽 👨‍👩‍👧 ♪♪♪ ((( [MUSIC] ))) <<hi>> -- ---",
        "a\u00a0b\u3000c\u2028d\ttabs\r\nnewlines\n\n\n   indented\n",
        "3.14159 1,000,000 ½ ² Ⅻ ٣٤ www.example.com/path?q=1&r=2 C++20 std::vector<int>",
        std::string(300, ' ') + "spaces",
        "\xFF\xFE invalid \xC0 utf8 \xE6\x97",
    };
    std::string cjk, digits;
    for (int i = 0; i < 100; ++i) cjk += "漢字かな";
    for (int i = 0; i < 40; ++i) digits += "0123456789";
    v.push_back(cjk);
    v.push_back(digits);
    return v;
  }();
  return c;
}

void expect_same_encodings(const Tokenizer& a, const Tokenizer& b) {
  for (const std::string& s : corpus()) EXPECT_EQ(a.encode(s), b.encode(s)) << s;
  EXPECT_EQ(a.non_speech_tokens(), b.non_speech_tokens());
}

TEST(TokenizerHfTest, TokenizerJsonEncodesLikeTiktoken) {
  const Tokenizer& ref = tiktoken_multilingual();
  for (bool pairs : {true, false}) {
    const std::string path =
        write(dir_for(pairs ? "pairs" : "strings") + "/tokenizer.json", tokenizer_json_text(pairs));
    const Tokenizer t = Tokenizer::from_tokenizer_json(path, 51866);
    EXPECT_TRUE(t.uses_merge_list());
    EXPECT_EQ(t.base_vocab_size(), 50257);
    EXPECT_EQ(t.token_text(50258), "<|startoftranscript|>");
    expect_same_encodings(ref, t);
  }
}

TEST(TokenizerHfTest, VocabMergesEncodesLikeTiktoken) {
  const Tokenizer t = Tokenizer::from_vocab_merges(write_vocab_merges(dir_for("vm")), 51866);
  EXPECT_TRUE(t.uses_merge_list());
  expect_same_encodings(tiktoken_multilingual(), t);
}

TEST(TokenizerHfTest, GgmlVocabularyEncodesLikeTiktoken) {
  const Tokenizer& ref = tiktoken_multilingual();
  std::vector<std::string> tokens;
  for (int id = 0; id < ref.base_vocab_size(); ++id) tokens.push_back(ref.token_text(id));
  expect_same_encodings(ref, Tokenizer::from_token_bytes(tokens, 51866));
}

TEST(TokenizerHfTest, ForModelPrefersTokenizerJsonThenVocabMerges) {
  const std::string dir = write_vocab_merges(dir_for("both"));
  const Tokenizer vm = Tokenizer::for_model(dir + "/model.safetensors", "", {"x"}, 51866);
  EXPECT_THAT(vm.source(), HasSubstr("vocab.json"));
  write(dir + "/tokenizer.json", tokenizer_json_text(true));
  const Tokenizer tj = Tokenizer::for_model(dir, "", {}, 51866);
  EXPECT_THAT(tj.source(), HasSubstr("tokenizer.json"));
  const Tokenizer explicit_vocab = Tokenizer::for_model(dir, dir + "/vocab.json", {}, 51866);
  EXPECT_THAT(explicit_vocab.source(), HasSubstr("vocab.json"));
  const Tokenizer explicit_tiktoken =
      Tokenizer::for_model(dir, hark::testing::asset("multilingual.tiktoken"), {}, 51866);
  EXPECT_FALSE(explicit_tiktoken.uses_merge_list());
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidModel) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

TEST(TokenizerHfTest, TruncatedJsonNamesTheFile) {
  const std::string& full = tokenizer_json_text(true);
  const std::string path = write(dir_for("truncated") + "/tokenizer.json", full.substr(0, 5000));
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(path, 51866); }),
              AllOf(HasSubstr(path), HasSubstr("malformed JSON")));
  const std::string vocab = write(dir_for("truncated-vm") + "/vocab.json", "{\"a\": 1,");
  EXPECT_THAT(error_of([&] { Tokenizer::from_vocab_merges(dir_for("truncated-vm"), 51866); }),
              AllOf(HasSubstr(vocab), HasSubstr("malformed JSON")));
  const std::string not_hf = write(dir_for("not-hf") + "/tokenizer.json", "{\"x\": 1}");
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(not_hf, 51866); }),
              AllOf(HasSubstr(not_hf), HasSubstr("\"model\"")));
}

TEST(TokenizerHfTest, SpecialIdsMustMatchTheLayout) {
  json j = tokenizer_json(true);
  // A v3 tokenizer read as v2: the languages shift by one, so <|translate|> sits at 50359.
  const std::string v3 = write(dir_for("v3") + "/tokenizer.json", j.dump());
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(v3, 51865); }),
              AllOf(HasSubstr(v3), HasSubstr("n_vocab 51865")));
  j["added_tokens"][0]["id"] = 50258;  // <|endoftext|>
  const std::string bad = write(dir_for("bad-eot") + "/tokenizer.json", j.dump());
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(bad, 51866); }),
              AllOf(HasSubstr("<|endoftext|> has id 50258"), HasSubstr("<|startoftranscript|>")));
}

TEST(TokenizerHfTest, BadVocabAndMerges) {
  json j = tokenizer_json(true);
  j["model"]["vocab"]["x y"] = 123;  // a raw space is not in GPT-2's alphabet
  std::string path = write(dir_for("bad-char") + "/tokenizer.json", j.dump());
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(path, 51866); }),
              HasSubstr("token 'x y' (id 123) has characters outside GPT-2's byte alphabet"));

  j = tokenizer_json(true);
  j["model"]["vocab"]["zzzqqq"] = 264;
  path = write(dir_for("dup-id") + "/tokenizer.json", j.dump());
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(path, 51866); }),
              HasSubstr("id 264 is given to two tokens"));

  const std::string dir = write_vocab_merges(dir_for("bad-merge"));
  std::ofstream(dir + "/merges.txt", std::ios::app) << "zzzqqq q\n";
  EXPECT_THAT(
      error_of([&] { Tokenizer::from_vocab_merges(dir, 51866); }),
      AllOf(HasSubstr("merges.txt:"), HasSubstr("'zzzqqq q'"), HasSubstr("not in the vocabulary")));
}

TEST(TokenizerHfTest, WrongEntryTypesNameTheEntry) {
  struct Case {
    const char* name;
    const char* json;
    const char* what;
  };
  const Case cases[] = {
      {"id-string", R"({"model": {"vocab": {"a": "1"}, "merges": []}})",
       "token 'a' has id \"1\", not an integer"},
      {"id-float", R"({"model": {"vocab": {"a": 1.5}}})", "token 'a' has id 1.5"},
      {"id-negative", R"({"model": {"vocab": {"a": -3}}})", "token 'a' has id -3"},
      {"merge-three", R"({"model": {"vocab": {}, "merges": [["a", "b", "c"]]}})",
       "merge 0 is a list of 3 strings"},
      {"merge-nospace", R"({"model": {"vocab": {}, "merges": ["a b", "ab"]}})", "merge 1 is 'ab'"},
      {"merge-number", R"({"model": {"merges": [7]}})", "merge 0 contains 7"},
      {"added-no-id", R"({"added_tokens": [{"content": "<|endoftext|>"}], "model": {}})",
       "added token 0 lacks"},
  };
  for (const Case& c : cases) {
    const std::string path = write(dir_for(c.name) + "/tokenizer.json", c.json);
    EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(path, 51865); }),
                AllOf(HasSubstr(path), HasSubstr(c.what)))
        << c.name;
  }
}

// A real tokenizer.json (e.g. one saved by transformers on the GPU machine), when
// HARK_TEST_TOKENIZER_JSON names one, must encode as the .tiktoken file of its n_vocab.
TEST(TokenizerHfTest, RealTokenizerJsonFromEnvironment) {
  const char* path = std::getenv("HARK_TEST_TOKENIZER_JSON");
  if (!path || !*path) GTEST_SKIP() << "HARK_TEST_TOKENIZER_JSON not set";
  const json j = json::parse(std::ifstream(path));
  const int n_vocab = int(j["model"]["vocab"].size() + j["added_tokens"].size());
  const bool english = n_vocab == 51864;
  const Tokenizer real = Tokenizer::from_tokenizer_json(path, n_vocab);
  const Tokenizer ref = Tokenizer::from_tiktoken(
      hark::testing::asset(english ? "gpt2.tiktoken" : "multilingual.tiktoken"), n_vocab);
  expect_same_encodings(ref, real);
}

}  // namespace
}  // namespace hark::text
