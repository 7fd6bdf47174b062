// The few Unicode facts the BPE pre-tokenizer needs: UTF-8 decoding that never fails (a byte that
// starts no valid sequence decodes as itself, one byte long, so every input keeps its bytes), and
// the classes GPT-2's regex distinguishes: \p{L}, \p{N}, \s (White_Space), everything else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hark::text::unicode {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

// One decoded code point and the number of bytes it took (1..4).
struct Decoded {
  char32_t cp;
  int len;
};

// The code point starting at s[pos] (pos < s.size()). Overlong, surrogate, out-of-range and
// truncated sequences decode as kInvalid with len 1.
Decoded decode_utf8(std::string_view s, size_t pos);
inline constexpr char32_t kInvalid = 0xFFFFFFFF;

bool is_letter(char32_t cp);       // general category L*
bool is_number(char32_t cp);       // general category N*
bool is_white_space(char32_t cp);  // the White_Space property (what \s matches in tiktoken's regex)
CharClass classify(char32_t cp);   // kInvalid is kOther

}  // namespace hark::text::unicode
