// The multipart/form-data parser on what real clients send and on hostile input: every malformed
// body is an Error(kInvalidArgument) with a message, never a crash or a read past the body.
#include "server/multipart.h"

#include <gtest/gtest.h>

#include <random>

#include "hark/error.h"

namespace hark::server {
namespace {

const std::string kType = "multipart/form-data; boundary=XyZ";

std::string part(const std::string& name, const std::string& value, const std::string& extra = "") {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"" + name + "\"" + extra + "\r\n\r\n" +
         value + "\r\n";
}

void expect_invalid(const std::string& body, const std::string& type, const std::string& needle) {
  try {
    parse_multipart(body, type);
    FAIL() << "accepted: " << body.substr(0, 200);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Multipart, ParsesFieldsAndFiles) {
  const std::string file = std::string("RIFF\0\r\n--Xy", 11) + "\r\n-XyZ binary --XyZ";
  const std::string body = part("model", "whisper-1") +
                           "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
                           "filename=\"a b.wav\"\r\nContent-Type: audio/wav\r\n\r\n" +
                           file + "\r\n" + part("timestamp_granularities[]", "word") +
                           "--XyZ--\r\n";
  const auto parts = parse_multipart(body, kType);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "model");
  EXPECT_EQ(parts[0].data, "whisper-1");
  EXPECT_FALSE(parts[0].filename.has_value());
  EXPECT_EQ(parts[1].name, "file");
  EXPECT_EQ(parts[1].filename.value(), "a b.wav");
  EXPECT_EQ(parts[1].content_type, "audio/wav");
  EXPECT_EQ(parts[1].data, file);  // binary, with near-boundaries inside, kept byte for byte
  EXPECT_EQ(parts[2].name, "timestamp_granularities[]");
  EXPECT_EQ(parts[2].data, "word");
}

TEST(Multipart, AcceptsPreambleEpilogueQuotedBoundaryAndEmptyValues) {
  const std::string body =
      "preamble text\r\n" + part("a", "") + part("b", "2") + "--XyZ--" + "\r\nepilogue";
  const auto parts = parse_multipart(body, "Multipart/Form-Data; charset=utf-8; Boundary=\"XyZ\"");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].data, "");
  EXPECT_EQ(parts[1].data, "2");
}

TEST(Multipart, HeaderParamsUnescapeQuotes) {
  EXPECT_EQ(header_param("form-data; name=\"a\\\"b\"; filename=x.wav", "name").value(), "a\"b");
  EXPECT_EQ(header_param("form-data; name=\"a\"; filename=x.wav", "FILENAME").value(), "x.wav");
  EXPECT_FALSE(header_param("form-data; name=\"a\"", "filename").has_value());
  EXPECT_EQ(media_type(" Multipart/Form-Data ; boundary=1"), "multipart/form-data");
}

TEST(Multipart, RejectsMalformedBodies) {
  expect_invalid(part("a", "1"), kType, "closing boundary");  // truncated upload
  expect_invalid(part("a", "1") + "--XyZ", kType, "CRLF");
  expect_invalid("no boundary at all", kType, "never occurs");
  expect_invalid("--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--", kType, "no name");
  expect_invalid("--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--", kType,
                 "no Content-Disposition");
  expect_invalid("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--XyZ--", kType,
                 "form-data");
  expect_invalid("--XyZ\r\nbroken header line\r\n\r\nv\r\n--XyZ--", kType, "no ':'");
  expect_invalid("--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--", kType,
                 "quote");
  expect_invalid("--XyZ\r\nContent-Disposition: form-data; name=a", kType, "never end");
  expect_invalid(part("a", "1") + "--XyZ--", "application/json", "multipart/form-data");
  expect_invalid(part("a", "1") + "--XyZ--", "multipart/form-data", "boundary");
  expect_invalid(part("a", "1") + "--XyZ--", "multipart/form-data; boundary=", "boundary");
  expect_invalid("", kType, "never occurs");
}

TEST(Multipart, EnforcesLimits) {
  std::string many;
  for (int i = 0; i < 70; ++i) many += part("f" + std::to_string(i), "v");
  expect_invalid(many + "--XyZ--", kType, "more than 64 parts");
  const std::string huge_header =
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nX: " + std::string(9000, 'x') +
      "\r\n\r\nv\r\n--XyZ--";
  expect_invalid(huge_header, kType, "longer than");
}

// Random bytes, and random cuts and flips of a valid body: errors only, never a crash (ASan
// watches for reads past the end).
TEST(Multipart, SurvivesFuzzedInput) {
  const std::string valid = part("model", "whisper-1") +
                            part("file", std::string(300, 'a'), "; filename=\"x.wav\"") +
                            "--XyZ--\r\n";
  std::mt19937 rng(7);
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string body = valid.substr(0, rng() % (valid.size() + 1));
    for (int flips = int(rng() % 4); flips > 0 && !body.empty(); --flips) {
      body[rng() % body.size()] = static_cast<char>(rng() % 256);
    }
    if (i % 3 == 0) {
      body.resize(rng() % 200);
      for (char& c : body) c = "-XyZ\r\n=\";: a"[rng() % 13];
    }
    try {
      const auto parts = parse_multipart(body, kType);
      for (const auto& p : parts) {
        ASSERT_GE(p.data.data(), body.data());
        ASSERT_LE(p.data.data() + p.data.size(), body.data() + body.size());
      }
      ++accepted;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    }
  }
  EXPECT_GT(accepted, 0);  // the uncut body (and harmless flips) still parse
}

}  // namespace
}  // namespace hark::server
