#include "server/form_values.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "hark/formats.h"
#include "server/api_error.h"

namespace hark::server {
namespace {

std::string shown(std::string_view value) {
  return std::string(value.substr(0, 64)) + (value.size() > 64 ? "..." : "");
}

}  // namespace

bool parse_bool(const std::string& param, std::string_view value) {
  if (value == "true" || value == "1" || value == "True" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "False" || value == "no") return false;
  throw bad_param(param,
                  fmt::format("{}: '{}' is not a boolean (true or false)", param, shown(value)));
}

double parse_number(const std::string& param, std::string_view value, double min, double max) {
  double d = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), d);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(d)) {
    throw bad_param(param, fmt::format("{}: '{}' is not a number", param, shown(value)));
  }
  if (d < min || d > max) {
    throw bad_param(param, fmt::format("{}: {} is out of range [{}, {}]", param, d, min, max));
  }
  return d;
}

std::string parse_language(const std::string& param, std::string_view value) {
  std::string code(value);
  for (char& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (code == "auto" || code.empty()) return "auto";
  if (language_name(code) == code) {
    throw bad_param(param,
                    fmt::format("{}: '{}' is not a language Whisper knows; use an ISO 639-1 code "
                                "such as en, de, ja, or auto",
                                param, shown(value)),
                    "unsupported_language");
  }
  return code;
}

std::string parse_choice(const std::string& param, std::string_view value,
                         const std::vector<std::string>& allowed) {
  for (const std::string& a : allowed) {
    if (a == value) return a;
  }
  throw bad_param(param, fmt::format("{}: '{}' is not one of {}", param, shown(value),
                                     fmt::join(allowed, ", ")));
}

}  // namespace hark::server
