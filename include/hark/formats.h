// The output formats of openai-whisper's CLI and the OpenAI API, for apps and the server:
//   txt (or text), json, verbose_json, srt, vtt, tsv
// (src/text/formats.h documents each; this header only forwards to it).
#pragma once

#include <string>
#include <string_view>

#include "hark/result.h"

namespace hark {

// True for the names format_result accepts.
bool is_output_format(std::string_view name);
// The result in the named format. Throws Error(kInvalidArgument) for an unknown name.
std::string format_result(const Result& result, std::string_view format);
// The language's English name as verbose_json writes it ("en" -> "english"; unknown codes as is).
std::string language_name(std::string_view code);

}  // namespace hark
