// Writers for the output formats openai-whisper's CLI and the OpenAI API produce:
//   txt           the text of each segment on its own line (stripped)
//   json          {"text": ...}
//   verbose_json  {"task","language","duration","text","segments":[...],"words":[...]}
//   srt, vtt      subtitles, one cue per segment (or per word group with word timestamps)
//   tsv           start<TAB>end<TAB>text with integer milliseconds, header "start\tend\ttext"
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "hark/result.h"

namespace hark::text {

enum class OutputFormat { kTxt, kJson, kVerboseJson, kSrt, kVtt, kTsv };

// Throws Error(kInvalidArgument) listing the valid names.
OutputFormat parse_output_format(std::string_view name);
std::string_view format_name(OutputFormat f);

std::string format_result(const Result& result, OutputFormat format);

// "00:01:02,345" (srt, comma) / "01:02.345" (vtt, hours only when non-zero), as openai-whisper's
// format_timestamp does.
std::string format_timestamp(double seconds, bool always_include_hours, char decimal_marker);

}  // namespace hark::text
