// The compression-ratio statistic Whisper's temperature fallback uses to detect repetitive
// (hallucinated) output: openai-whisper's get_compression_ratio.
#pragma once

#include <string_view>

namespace hark::text {

// UTF-8 byte length of text divided by the byte length of its zlib stream at zlib's default
// level (what Python's zlib.compress(data) produces: header, deflate data, Adler-32). The empty
// text gives 0. openai-whisper falls back to a higher temperature when this exceeds 2.4.
double compression_ratio(std::string_view text);

}  // namespace hark::text
