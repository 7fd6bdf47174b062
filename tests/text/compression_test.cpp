#include "text/compression.h"

#include <gtest/gtest.h>

#include <string>

namespace hark::text {
namespace {

// Expected values are Python's len(b) / len(zlib.compress(b)) (zlib 1.2.13, level -1 = 6).

TEST(CompressionRatio, RepeatedLetter) {
  // zlib.compress(b"a" * 1000) is 17 bytes.
  EXPECT_DOUBLE_EQ(compression_ratio(std::string(1000, 'a')), 1000.0 / 17.0);
}

TEST(CompressionRatio, ShortSentenceIsBelowOne) {
  // 44 bytes compress to 51 (header and checksum outweigh the savings).
  EXPECT_DOUBLE_EQ(compression_ratio("The quick brown fox jumps over the lazy dog."), 44.0 / 51.0);
}

TEST(CompressionRatio, CountsUtf8Bytes) {
  // 16 code points, 18 bytes; compressed to 26 bytes.
  EXPECT_DOUBLE_EQ(compression_ratio("\xC3\xA7"
                                     "a va, tr\xC3\xA8s bien"),
                   18.0 / 26.0);
}

TEST(CompressionRatio, EmptyIsZero) { EXPECT_EQ(compression_ratio(""), 0.0); }

TEST(CompressionRatio, HallucinatedRepetitionExceedsThreshold) {
  const std::string text =
      " Thank you. Thank you. Thank you. Thank you. Thank you. Thank you. Thank you. Thank you.";
  EXPECT_DOUBLE_EQ(compression_ratio(text), 88.0 / 22.0);
  EXPECT_GT(compression_ratio(text), 2.4);
}

TEST(CompressionRatio, ProseStaysBelowThreshold) {
  const std::string text =
      " And so, my fellow Americans, ask not what your country can do for you, ask what you can "
      "do for your country.";
  EXPECT_DOUBLE_EQ(compression_ratio(text), 109.0 / 80.0);
  EXPECT_LT(compression_ratio(text), 2.4);
}

}  // namespace
}  // namespace hark::text
