// Helpers shared by the tokenizer's source files (not part of its interface).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace hark::text::detail {

// Token bytes for an error message: printable ASCII as is, everything else as \xNN, quoted.
inline std::string printable(std::string_view bytes) {
  std::string out = "'";
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'') {
      out += char(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out + "'";
}

// "<|...|>": how every Whisper special token is spelled.
inline bool looks_special(std::string_view s) {
  return s.size() >= 5 && s.substr(0, 2) == "<|" && s.substr(s.size() - 2) == "|>";
}

}  // namespace hark::text::detail
