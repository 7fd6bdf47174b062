// Splits one window's sampled tokens into segments the way openai-whisper's transcribe.py does:
// at every pair of consecutive timestamp tokens; a window ending in a single timestamp closes its
// last segment there; a window without timestamp pairs is one segment whose end is the last
// timestamp (or the window's content duration).
#pragma once

#include <vector>

#include "hark/result.h"
#include "text/tokenizer.h"

namespace hark::pipeline {

struct WindowSplit {
  std::vector<Segment> segments;  // ids are 0-based within the window; callers renumber
  bool single_timestamp_ending = false;
  // The last timestamp position (in 20 ms units) when the window ended on consecutive
  // timestamps, else -1: transcribe.py seeks to it instead of the window's end.
  int last_timestamp_pos = -1;
};

// tokens: the sampled tokens (no prompt, no <|endoftext|>). time_offset: the window's start in
// seconds. content_duration: seconds of real audio in the window (<= 30). seek: the window's first
// mel frame, recorded in each segment.
WindowSplit split_window(const std::vector<int>& tokens, double time_offset,
                         double content_duration, int seek, const text::Tokenizer& tokenizer);

}  // namespace hark::pipeline
