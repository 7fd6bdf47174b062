// Output writers, following openai-whisper's whisper/utils.py (txt, srt, vtt, tsv) and the OpenAI
// API's response shapes (json, verbose_json).
//
// Design notes:
// - Text passes through sanitize_utf8 first: a segment cut inside a multi-byte character must not
//   make an invalid subtitle file or JSON document. Invalid bytes become U+FFFD exactly as
//   Python's bytes.decode("utf-8", errors="replace") does (one per maximal invalid subpart).
// - strip() is Python's str.strip(): every code point for which str.isspace() holds, not only
//   ASCII blanks, so the output matches openai-whisper byte for byte.
// - Timestamps round to whole milliseconds half-to-even, as Python's round() does.
// - With word timestamps, srt/vtt follow openai-whisper's defaults (no max_line_width,
//   max_line_count, max_words_per_line, highlight_words): one cue per segment, timed from its
//   first word's start to its last word's end, text = the first word stripped + the others as
//   they are. A segment without words falls back to its plain cue (openai-whisper would drop it).
//   Those four options are the natural next step here.
// - "-->" in cue text becomes "->" in both srt and vtt cues (openai-whisper does this for plain
//   cues only), so that no text can forge a cue timing line.
// - json is the API's {"text"}; verbose_json is the API's shape. "language" holds the language
//   name ("english") as the API does, "text" is stripped as the API does, top-level "words" are
//   stripped ({"word": "The"}) as the API does, and each segment also carries openai-whisper's
//   "words" (with leading spaces and "probability") when the result has word timestamps. Times are
//   rounded to the millisecond and statistics to 6 significant digits, and printed as the shortest
//   decimal that reads back exactly; that is why the JSON is assembled here (strings escaped by
//   nlohmann) rather than dumped by nlohmann, whose Grisu2 output is not always the shortest.
#include "text/formats.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "model/config.h"

namespace hark::text {
namespace {

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

struct CodePoint {
  char32_t value;
  size_t length;  // bytes consumed
  bool valid;
};

// The code point at s[i], or (valid = false) the maximal subpart of an ill-formed sequence there.
CodePoint decode_utf8(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return {lead, 1, true};
  int continuation = 0;
  char32_t value = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    continuation = 1;
    value = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    continuation = 2;
    value = lead & 0x0F;
    if (lead == 0xE0) lo = 0xA0;  // overlong
    if (lead == 0xED) hi = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    continuation = 3;
    value = lead & 0x07;
    if (lead == 0xF0) lo = 0x90;  // overlong
    if (lead == 0xF4) hi = 0x8F;  // beyond U+10FFFF
  } else {
    return {kReplacementChar, 1, false};
  }
  size_t length = 1;
  for (int k = 0; k < continuation; ++k, ++length) {
    if (i + length >= s.size()) return {kReplacementChar, length, false};
    const unsigned char b = byte(i + length);
    if (b < lo || b > hi) return {kReplacementChar, length, false};
    value = (value << 6) | (b & 0x3F);
    lo = 0x80;
    hi = 0xBF;
  }
  return {value, length, true};
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const CodePoint cp = decode_utf8(s, i);
    if (cp.valid) {
      out.append(s.substr(i, cp.length));
    } else {
      out.append(kReplacementUtf8);
    }
    i += cp.length;
  }
  return out;
}

// Python's str.isspace(): bidirectional class WS, B or S, or general category Zs.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip() on valid UTF-8.
std::string_view strip(std::string_view s) {
  size_t begin = 0;
  while (begin < s.size()) {
    const CodePoint cp = decode_utf8(s, begin);
    if (!is_python_space(cp.value)) break;
    begin += cp.length;
  }
  size_t end = s.size();
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    if (!is_python_space(decode_utf8(s, start).value)) break;
    end = start;
  }
  return s.substr(begin, end - begin);
}

std::string clean(std::string_view s) { return std::string(strip(sanitize_utf8(s))); }

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
  return s;
}

// round(seconds * 1000) as Python computes it (half to even under the default rounding mode).
int64_t rounded_milliseconds(double seconds) {
  constexpr double kMaxSeconds = 1e12;
  HARK_CHECK(std::isfinite(seconds) && seconds >= 0 && seconds <= kMaxSeconds,
             ErrorKind::kInvalidArgument,
             "timestamp {} s: expected a finite, non-negative number of seconds", seconds);
  return static_cast<int64_t>(std::nearbyint(seconds * 1000.0));
}

struct Cue {
  double start;
  double end;
  std::string text;
};

std::vector<Cue> subtitle_cues(const Result& result) {
  std::vector<Cue> cues;
  cues.reserve(result.segments.size());
  for (const Segment& segment : result.segments) {
    Cue cue;
    if (result.has_words && !segment.words.empty()) {
      cue.start = segment.words.front().start;
      cue.end = segment.words.back().end;
      cue.text = clean(segment.words.front().word);
      for (size_t i = 1; i < segment.words.size(); ++i) {
        cue.text += sanitize_utf8(segment.words[i].word);
      }
    } else {
      cue.start = segment.start;
      cue.end = segment.end;
      cue.text = clean(segment.text);
    }
    cue.text = replace_all(std::move(cue.text), "-->", "->");
    cues.push_back(std::move(cue));
  }
  return cues;
}

std::string write_txt(const Result& result) {
  std::string out;
  for (const Segment& segment : result.segments) {
    out += clean(segment.text);
    out += '\n';
  }
  return out;
}

std::string write_vtt(const Result& result) {
  std::string out = "WEBVTT\n\n";
  for (const Cue& cue : subtitle_cues(result)) {
    out += fmt::format("{} --> {}\n{}\n\n", format_timestamp(cue.start, false, '.'),
                       format_timestamp(cue.end, false, '.'), cue.text);
  }
  return out;
}

std::string write_srt(const Result& result) {
  std::string out;
  int index = 1;
  for (const Cue& cue : subtitle_cues(result)) {
    out += fmt::format("{}\n{} --> {}\n{}\n\n", index++, format_timestamp(cue.start, true, ','),
                       format_timestamp(cue.end, true, ','), cue.text);
  }
  return out;
}

std::string write_tsv(const Result& result) {
  std::string out = "start\tend\ttext\n";
  for (const Segment& segment : result.segments) {
    out +=
        fmt::format("{}\t{}\t{}\n", rounded_milliseconds(segment.start),
                    rounded_milliseconds(segment.end), replace_all(clean(segment.text), "\t", " "));
  }
  return out;
}

// Seconds to the millisecond: the nearest double to k/1000.
double json_seconds(double seconds) {
  if (!std::isfinite(seconds)) return seconds;
  return std::nearbyint(seconds * 1000.0) / 1000.0;
}

// The nearest double to value's 6-significant-digit decimal.
double json_statistic(double value) {
  if (!std::isfinite(value) || value == 0.0) return value;
  char buf[32];
  const auto printed = fmt::format_to_n(buf, sizeof(buf), "{:.5e}", value);
  double rounded = value;
  std::from_chars(buf, printed.out, rounded);
  return rounded;
}

// The shortest decimal that reads back as v (fmt's Dragonbox; nlohmann's Grisu2 sometimes prints
// 17 digits, "-0.28607900000000003"), with ".0" on integral values as Python's json writes them.
// Non-finite values have no JSON form and become null.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::string out = fmt::format("{}", v);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

std::string json_string(std::string_view s) {
  return nlohmann::json(sanitize_utf8(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Appends "key":value members to one JSON object; values arrive already encoded.
class JsonObject {
 public:
  JsonObject& raw(std::string_view key, std::string_view encoded) {
    out_ += out_.size() == 1 ? "" : ",";
    out_ += json_string(key);
    out_ += ':';
    out_ += encoded;
    return *this;
  }
  JsonObject& string(std::string_view key, std::string_view s) { return raw(key, json_string(s)); }
  JsonObject& number(std::string_view key, double v) { return raw(key, json_number(v)); }
  JsonObject& integer(std::string_view key, int64_t v) { return raw(key, fmt::format("{}", v)); }
  std::string close() { return out_ + '}'; }

 private:
  std::string out_ = "{";
};

std::string json_array(const std::vector<std::string>& encoded_items) {
  return fmt::format("[{}]", fmt::join(encoded_items, ","));
}

std::string language_name(const std::string& code) {
  for (const auto& [language_code, name] : model::whisper_languages()) {
    if (language_code == code) return name;
  }
  return code;
}

std::string write_json(const Result& result) {
  return JsonObject().string("text", clean(result.text)).close();
}

std::string segment_json(const Segment& segment, bool has_words) {
  std::vector<std::string> tokens;
  tokens.reserve(segment.tokens.size());
  for (int token : segment.tokens) tokens.push_back(fmt::format("{}", token));
  JsonObject json;
  json.integer("id", segment.id)
      .integer("seek", segment.seek)
      .number("start", json_seconds(segment.start))
      .number("end", json_seconds(segment.end))
      .string("text", segment.text)
      .raw("tokens", json_array(tokens))
      .number("temperature", json_statistic(segment.temperature))
      .number("avg_logprob", json_statistic(segment.avg_logprob))
      .number("compression_ratio", json_statistic(segment.compression_ratio))
      .number("no_speech_prob", json_statistic(segment.no_speech_prob));
  if (has_words) {
    std::vector<std::string> words;
    for (const Word& word : segment.words) {
      words.push_back(JsonObject()
                          .string("word", word.word)
                          .number("start", json_seconds(word.start))
                          .number("end", json_seconds(word.end))
                          .number("probability", json_statistic(word.probability))
                          .close());
    }
    json.raw("words", json_array(words));
  }
  return json.close();
}

std::string write_verbose_json(const Result& result) {
  std::vector<std::string> segments;
  std::vector<std::string> words;
  for (const Segment& segment : result.segments) {
    segments.push_back(segment_json(segment, result.has_words));
    if (!result.has_words) continue;
    for (const Word& word : segment.words) {
      words.push_back(JsonObject()
                          .string("word", clean(word.word))
                          .number("start", json_seconds(word.start))
                          .number("end", json_seconds(word.end))
                          .close());
    }
  }
  JsonObject json;
  json.string("task", result.task)
      .string("language", language_name(result.language))
      .number("duration", json_seconds(result.duration))
      .string("text", clean(result.text))
      .raw("segments", json_array(segments));
  if (result.has_words) json.raw("words", json_array(words));
  return json.close();
}

struct FormatName {
  std::string_view name;
  OutputFormat format;
};

// "text" is the OpenAI API's name for what openai-whisper's CLI calls "txt".
constexpr FormatName kFormatNames[] = {
    {"txt", OutputFormat::kTxt},   {"text", OutputFormat::kTxt},
    {"json", OutputFormat::kJson}, {"verbose_json", OutputFormat::kVerboseJson},
    {"srt", OutputFormat::kSrt},   {"vtt", OutputFormat::kVtt},
    {"tsv", OutputFormat::kTsv},
};

}  // namespace

OutputFormat parse_output_format(std::string_view name) {
  for (const FormatName& entry : kFormatNames) {
    if (entry.name == name) return entry.format;
  }
  throw_error(ErrorKind::kInvalidArgument,
              "unknown output format \"{}\": expected one of txt (or text), json, verbose_json, "
              "srt, vtt, tsv",
              name);
}

std::string_view format_name(OutputFormat f) {
  switch (f) {
    case OutputFormat::kTxt: return "txt";
    case OutputFormat::kJson: return "json";
    case OutputFormat::kVerboseJson: return "verbose_json";
    case OutputFormat::kSrt: return "srt";
    case OutputFormat::kVtt: return "vtt";
    case OutputFormat::kTsv: return "tsv";
  }
  throw_error(ErrorKind::kInternal, "format_name: unknown OutputFormat {}", static_cast<int>(f));
}

std::string format_timestamp(double seconds, bool always_include_hours, char decimal_marker) {
  int64_t ms = rounded_milliseconds(seconds);
  const int64_t hours = ms / 3'600'000;
  ms -= hours * 3'600'000;
  const int64_t minutes = ms / 60'000;
  ms -= minutes * 60'000;
  const int64_t secs = ms / 1'000;
  ms -= secs * 1'000;
  const std::string hours_marker =
      (always_include_hours || hours > 0) ? fmt::format("{:02d}:", hours) : std::string();
  return fmt::format("{}{:02d}:{:02d}{}{:03d}", hours_marker, minutes, secs, decimal_marker, ms);
}

std::string format_result(const Result& result, OutputFormat format) {
  switch (format) {
    case OutputFormat::kTxt: return write_txt(result);
    case OutputFormat::kJson: return write_json(result);
    case OutputFormat::kVerboseJson: return write_verbose_json(result);
    case OutputFormat::kSrt: return write_srt(result);
    case OutputFormat::kVtt: return write_vtt(result);
    case OutputFormat::kTsv: return write_tsv(result);
  }
  throw_error(ErrorKind::kInternal, "format_result: unknown OutputFormat {}",
              static_cast<int>(format));
}

}  // namespace hark::text
