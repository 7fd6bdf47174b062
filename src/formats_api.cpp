// include/hark/formats.h: the public face of text::format_result.
#include "hark/formats.h"

#include "core/error.h"
#include "model/config.h"
#include "text/formats.h"

namespace hark {

bool is_output_format(std::string_view name) {
  try {
    text::parse_output_format(name);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string format_result(const Result& result, std::string_view format) {
  return text::format_result(result, text::parse_output_format(format));
}

std::string language_name(std::string_view code) {
  for (const auto& [language_code, name] : model::whisper_languages()) {
    if (language_code == code) return name;
  }
  return std::string(code);
}

}  // namespace hark
