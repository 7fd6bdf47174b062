// Bad vocabularies fail with hark::Error naming the file, the line or token, and what was wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/test_env.h"
#include "text/tokenizer.h"

namespace hark::text {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = hark::testing::temp_dir() + "/errors-" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// Runs f, expects an Error of `kind`, returns its message.
template <typename F>
std::string error_of(F&& f, ErrorKind kind) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return "";
}

std::vector<std::string> multilingual_tokens() {
  const Tokenizer t =
      Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51865);
  std::vector<std::string> tokens;
  for (int id = 0; id < t.base_vocab_size(); ++id) tokens.push_back(t.token_text(id));
  return tokens;
}

TEST(TokenizerErrorsTest, MissingFile) {
  const std::string path = hark::testing::temp_dir() + "/no-such.tiktoken";
  EXPECT_THAT(error_of([&] { Tokenizer::from_tiktoken(path, 51865); }, ErrorKind::kNotFound),
              HasSubstr(path));
  EXPECT_THAT(error_of([&] { Tokenizer::from_tokenizer_json(path + ".json", 51865); },
                       ErrorKind::kNotFound),
              HasSubstr(path + ".json"));
  EXPECT_THAT(error_of([&] { Tokenizer::from_vocab_merges(path, 51865); }, ErrorKind::kNotFound),
              HasSubstr("vocab.json"));
}

TEST(TokenizerErrorsTest, BadTiktokenLines) {
  struct Case {
    const char* name;
    const char* content;
    const char* line;
    const char* what;
  };
  const Case cases[] = {
      {"base64", "IQ== 0\n!!!! 1\n", ":2:", "bad base64 '!!!!'"},
      {"padding", "IQ== 0\nIg= 1\n", ":2:", "bad base64"},
      {"duplicate", "IQ== 0\nIg== 0\n", ":2:", "duplicate rank 0 (already on line 1)"},
      {"gap", "IQ== 0\nIg== 5\n", ":2:", "rank 5"},
      {"fields", "IQ== 0\nIg==\n", ":2:", "expected 'BASE64 RANK'"},
      {"rank", "IQ== zero\n", ":1:", "expected 'BASE64 RANK'"},
  };
  for (const Case& c : cases) {
    const std::string path = write_temp(std::string(c.name) + ".tiktoken", c.content);
    EXPECT_THAT(error_of([&] { Tokenizer::from_tiktoken(path, 51865); }, ErrorKind::kInvalidModel),
                AllOf(HasSubstr(path + c.line), HasSubstr(c.what)))
        << c.name;
  }
}

TEST(TokenizerErrorsTest, BaseSizeMustMatchTheLayout) {
  const std::string multi = hark::testing::asset("multilingual.tiktoken");
  const std::string gpt2 = hark::testing::asset("gpt2.tiktoken");
  EXPECT_THAT(error_of([&] { Tokenizer::from_tiktoken(multi, 51864); }, ErrorKind::kInvalidModel),
              AllOf(HasSubstr(multi), HasSubstr("50257 base tokens"), HasSubstr("needs 50256")));
  EXPECT_THAT(error_of([&] { Tokenizer::from_tiktoken(gpt2, 51866); }, ErrorKind::kInvalidModel),
              AllOf(HasSubstr("50256 base tokens"), HasSubstr("needs 50257")));
  EXPECT_THAT(error_of([&] { Tokenizer::from_tiktoken(multi, 50000); }, ErrorKind::kInvalidModel),
              AllOf(HasSubstr(multi), HasSubstr("50000")));
}

TEST(TokenizerErrorsTest, TokenBytesChecks) {
  std::vector<std::string> tokens = multilingual_tokens();
  // whisper.cpp files converted from HF vocab.json end with "<|endoftext|>": dropped.
  auto with_eot = tokens;
  with_eot.push_back("<|endoftext|>");
  EXPECT_EQ(Tokenizer::from_token_bytes(with_eot, 51865).base_vocab_size(), 50257);

  auto duplicate = tokens;
  duplicate[300] = duplicate[264];
  EXPECT_THAT(
      error_of([&] { Tokenizer::from_token_bytes(duplicate, 51865); }, ErrorKind::kInvalidModel),
      AllOf(HasSubstr("ggml vocabulary"), HasSubstr("token 300 (' the') duplicates token 264")));

  auto no_bang = tokens;
  no_bang[0] = "!unique-token!";
  EXPECT_THAT(
      error_of([&] { Tokenizer::from_token_bytes(no_bang, 51865); }, ErrorKind::kInvalidModel),
      HasSubstr("no token for the byte 0x21"));
}

TEST(TokenizerErrorsTest, GenerationConfigMustAgree) {
  Tokenizer t = Tokenizer::from_tiktoken(hark::testing::asset("multilingual.tiktoken"), 51866);
  model::GenerationConfig g;
  g.suppress_tokens = {1, 2, 7};
  g.eot = 50257;
  t.set_generation_config(g);  // unset ids and languages take the layout's values
  EXPECT_EQ(t.specials().timestamp_begin, 50365);
  EXPECT_EQ(t.specials().suppress_tokens, (std::vector<int>{1, 2, 7}));
  EXPECT_EQ(t.specials().language_token("yue"), 50358);

  g.no_timestamps = 50363;  // the v1/v2 position
  EXPECT_THAT(error_of([&] { t.set_generation_config(g); }, ErrorKind::kInvalidModel),
              AllOf(HasSubstr("no_timestamps_token_id is 50363"), HasSubstr("<|notimestamps|>")));
  g.no_timestamps = -1;
  g.languages = {{"en", 50259}, {"de", 50262}};
  EXPECT_THAT(error_of([&] { t.set_generation_config(g); }, ErrorKind::kInvalidModel),
              HasSubstr("language de has token 50262"));
}

TEST(TokenizerErrorsTest, ForModelExplainsWhatItLookedFor) {
  const std::string dir = hark::testing::temp_dir() + "/empty-model";
  std::filesystem::create_directories(dir);
  const std::string msg =
      error_of([&] { Tokenizer::for_model(dir + "/model.safetensors", "", {}, 51865); },
               ErrorKind::kNotFound);
  EXPECT_THAT(msg, AllOf(HasSubstr(dir + "/tokenizer.json"), HasSubstr(dir + "/vocab.json"),
                         HasSubstr("merges.txt"), HasSubstr("ggml"),
                         HasSubstr("--tokenizer FILE.tiktoken")));
  EXPECT_THAT(error_of([&] { Tokenizer::for_model(dir, dir + "/missing.tiktoken", {}, 51865); },
                       ErrorKind::kNotFound),
              HasSubstr("missing.tiktoken"));
  const std::string odd = write_temp("vocab.bin", "x");
  EXPECT_THAT(
      error_of([&] { Tokenizer::for_model(dir, odd, {}, 51865); }, ErrorKind::kInvalidArgument),
      HasSubstr("unknown tokenizer file type"));
}

TEST(TokenizerErrorsTest, ForModelFallsBackToGgmlVocabulary) {
  const std::string dir = hark::testing::temp_dir() + "/ggml-model";
  std::filesystem::create_directories(dir);
  const Tokenizer t =
      Tokenizer::for_model(dir + "/ggml-tiny.bin", "", multilingual_tokens(), 51865);
  EXPECT_EQ(t.source(), "ggml vocabulary");
  EXPECT_EQ(t.encode(" the"), std::vector<int>{264});
  // An explicit tokenizer file wins over the embedded vocabulary.
  const Tokenizer e = Tokenizer::for_model(
      dir + "/ggml-tiny.bin", hark::testing::asset("multilingual.tiktoken"), {"x"}, 51865);
  EXPECT_THAT(e.source(), HasSubstr("multilingual.tiktoken"));
}

}  // namespace
}  // namespace hark::text
