// Expected outputs are written out by hand from openai-whisper's whisper/utils.py writers and the
// OpenAI API's documented response shapes.
#include "text/formats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace hark::text {
namespace {

using nlohmann::json;

Segment make_segment(int id, int seek, double start, double end, std::string text) {
  Segment s;
  s.id = id;
  s.seek = seek;
  s.start = start;
  s.end = end;
  s.text = std::move(text);
  return s;
}

// Three segments: unicode text; a tab and a "-->" with surrounding spaces; one that runs past an
// hour.
Result sample_result() {
  Result r;
  r.language = "en";
  r.duration = 3662.25;
  r.text =
      " Hello, w\u00f6rld \u2014 \u00e7a va? Tabs\there --> arrows \u65e5\u672c\u8a9e  Over an "
      "hour.";
  Segment a = make_segment(0, 0, 0.0, 3.32, " Hello, w\u00f6rld \u2014 \u00e7a va?");
  a.tokens = {50364, 2425, 11, 50530};
  a.temperature = 0.0;
  a.avg_logprob = -0.2860786020755768;
  a.compression_ratio = 1.2363636493682861;
  a.no_speech_prob = 0.00985979475080967;
  Segment b = make_segment(1, 332, 3.32, 7.5, " Tabs\there --> arrows \u65e5\u672c\u8a9e ");
  b.tokens = {50530, 314, 50739};
  b.temperature = 0.2;
  b.avg_logprob = -0.5;
  b.compression_ratio = 0.9;
  b.no_speech_prob = 0.1;
  Segment c = make_segment(2, 359950, 3599.5, 3661.5, " Over an hour.");
  c.tokens = {50364, 4886, 364, 1773, 13, 50464};
  r.segments = {a, b, c};
  return r;
}

Word make_word(std::string text, double start, double end, double probability) {
  return Word{std::move(text), start, end, probability};
}

Result words_result() {
  Result r;
  r.language = "de";
  r.duration = 2.0;
  r.text = " Hello world Bye.";
  r.has_words = true;
  Segment a = make_segment(0, 0, 0.0, 1.2, " Hello world");
  a.words = {make_word(" Hello", 0.1, 0.5, 0.9), make_word(" world", 0.6, 1.1, 0.8)};
  Segment b = make_segment(1, 0, 1.2, 2.0, " Bye.");
  b.words = {make_word(" Bye.", 1.3, 1.9, 0.95)};
  r.segments = {a, b};
  return r;
}

// ---- names ----

TEST(FormatNames, ParseEveryName) {
  EXPECT_EQ(parse_output_format("txt"), OutputFormat::kTxt);
  EXPECT_EQ(parse_output_format("text"), OutputFormat::kTxt);
  EXPECT_EQ(parse_output_format("json"), OutputFormat::kJson);
  EXPECT_EQ(parse_output_format("verbose_json"), OutputFormat::kVerboseJson);
  EXPECT_EQ(parse_output_format("srt"), OutputFormat::kSrt);
  EXPECT_EQ(parse_output_format("vtt"), OutputFormat::kVtt);
  EXPECT_EQ(parse_output_format("tsv"), OutputFormat::kTsv);
}

TEST(FormatNames, NameRoundTrips) {
  for (OutputFormat f : {OutputFormat::kTxt, OutputFormat::kJson, OutputFormat::kVerboseJson,
                         OutputFormat::kSrt, OutputFormat::kVtt, OutputFormat::kTsv}) {
    EXPECT_EQ(parse_output_format(format_name(f)), f);
  }
  EXPECT_EQ(format_name(OutputFormat::kVerboseJson), "verbose_json");
}

TEST(FormatNames, UnknownNameIsInvalidArgumentListingChoices) {
  try {
    parse_output_format("mp3");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    const std::string message = e.what();
    EXPECT_NE(message.find("mp3"), std::string::npos);
    EXPECT_NE(message.find("verbose_json"), std::string::npos);
    EXPECT_NE(message.find("tsv"), std::string::npos);
  }
  EXPECT_THROW(parse_output_format(""), Error);
  EXPECT_THROW(parse_output_format("SRT"), Error);
}

// ---- timestamps ----

TEST(FormatTimestamp, Zero) {
  EXPECT_EQ(format_timestamp(0.0, false, '.'), "00:00.000");
  EXPECT_EQ(format_timestamp(0.0, true, ','), "00:00:00,000");
}

TEST(FormatTimestamp, RoundsUpIntoNextMinute) {
  // 59.9995 * 1000 == 59999.5 exactly in binary; it rounds to 60000 ms.
  EXPECT_EQ(format_timestamp(59.9995, false, '.'), "01:00.000");
  EXPECT_EQ(format_timestamp(59.9995, true, ','), "00:01:00,000");
}

TEST(FormatTimestamp, HalfMillisecondRoundsToEvenLikePython) {
  // 0.0025 * 1000 == 2.5; Python's round(2.5) == 2.
  EXPECT_EQ(format_timestamp(0.0025, false, '.'), "00:00.002");
  // 1.0125 * 1000 == 1012.5; round(1012.5) == 1012.
  EXPECT_EQ(format_timestamp(1.0125, false, '.'), "00:01.012");
}

TEST(FormatTimestamp, HoursShownWhenNonZero) {
  EXPECT_EQ(format_timestamp(3661.5, false, '.'), "01:01:01.500");
  EXPECT_EQ(format_timestamp(3661.5, true, ','), "01:01:01,500");
  EXPECT_EQ(format_timestamp(3599.5, false, '.'), "59:59.500");
  EXPECT_EQ(format_timestamp(360000.0, false, '.'), "100:00:00.000");
}

TEST(FormatTimestamp, RejectsNegativeAndNonFinite) {
  EXPECT_THROW(format_timestamp(-0.5, false, '.'), Error);
  EXPECT_THROW(format_timestamp(std::nan(""), false, '.'), Error);
  EXPECT_THROW(format_timestamp(HUGE_VAL, true, ','), Error);
}

// ---- plain-text formats ----

TEST(FormatTxt, OneStrippedSegmentPerLine) {
  EXPECT_EQ(format_result(sample_result(), OutputFormat::kTxt),
            "Hello, w\u00f6rld \u2014 \u00e7a va?\n"
            "Tabs\there --> arrows \u65e5\u672c\u8a9e\n"
            "Over an hour.\n");
}

TEST(FormatTxt, StripsUnicodeWhitespaceLikePython) {
  Result r;
  r.segments = {make_segment(0, 0, 0, 1, "\u3000 Hi\u00a0\n\x1c")};
  EXPECT_EQ(format_result(r, OutputFormat::kTxt), "Hi\n");
}

TEST(FormatTxt, InvalidUtf8BecomesReplacementCharacters) {
  Result r;
  // A truncated 3-byte sequence then a stray 0xFF: two U+FFFD (one per maximal subpart);
  // an encoded surrogate (ED A0 80): three U+FFFD.
  r.segments = {make_segment(0, 0, 0, 1, "ab\xe6\x97\xff"),
                make_segment(1, 0, 1, 2, "x\xed\xa0\x80y")};
  EXPECT_EQ(format_result(r, OutputFormat::kTxt),
            "ab\ufffd\ufffd\n"
            "x\ufffd\ufffd\ufffdy\n");
}

TEST(FormatVtt, CuesWithoutHoursUnlessNeeded) {
  EXPECT_EQ(format_result(sample_result(), OutputFormat::kVtt),
            "WEBVTT\n\n"
            "00:00.000 --> 00:03.320\n"
            "Hello, w\u00f6rld \u2014 \u00e7a va?\n\n"
            "00:03.320 --> 00:07.500\n"
            "Tabs\there -> arrows \u65e5\u672c\u8a9e\n\n"
            "59:59.500 --> 01:01:01.500\n"
            "Over an hour.\n\n");
}

TEST(FormatSrt, NumberedCuesWithHoursAndComma) {
  EXPECT_EQ(format_result(sample_result(), OutputFormat::kSrt),
            "1\n"
            "00:00:00,000 --> 00:00:03,320\n"
            "Hello, w\u00f6rld \u2014 \u00e7a va?\n\n"
            "2\n"
            "00:00:03,320 --> 00:00:07,500\n"
            "Tabs\there -> arrows \u65e5\u672c\u8a9e\n\n"
            "3\n"
            "00:59:59,500 --> 01:01:01,500\n"
            "Over an hour.\n\n");
}

TEST(FormatTsv, IntegerMillisecondsAndNoTabsInText) {
  EXPECT_EQ(format_result(sample_result(), OutputFormat::kTsv),
            "start\tend\ttext\n"
            "0\t3320\tHello, w\u00f6rld \u2014 \u00e7a va?\n"
            "3320\t7500\tTabs here --> arrows \u65e5\u672c\u8a9e\n"
            "3599500\t3661500\tOver an hour.\n");
}

TEST(FormatTsv, HalfMillisecondRoundsToEven) {
  Result r;
  r.segments = {make_segment(0, 0, 0.0025, 1.0125, " x")};
  EXPECT_EQ(format_result(r, OutputFormat::kTsv), "start\tend\ttext\n2\t1012\tx\n");
}

TEST(FormatEmpty, EveryFormatOfAnEmptyResult) {
  const Result r;
  EXPECT_EQ(format_result(r, OutputFormat::kTxt), "");
  EXPECT_EQ(format_result(r, OutputFormat::kVtt), "WEBVTT\n\n");
  EXPECT_EQ(format_result(r, OutputFormat::kSrt), "");
  EXPECT_EQ(format_result(r, OutputFormat::kTsv), "start\tend\ttext\n");
  EXPECT_EQ(format_result(r, OutputFormat::kJson), R"({"text":""})");
  const json v = json::parse(format_result(r, OutputFormat::kVerboseJson));
  EXPECT_EQ(v.at("segments"), json::array());
  EXPECT_FALSE(v.contains("words"));
}

// ---- word timestamps in subtitles ----

TEST(FormatSrt, WordTimestampsTimeEachCueByItsWords) {
  EXPECT_EQ(format_result(words_result(), OutputFormat::kSrt),
            "1\n"
            "00:00:00,100 --> 00:00:01,100\n"
            "Hello world\n\n"
            "2\n"
            "00:00:01,300 --> 00:00:01,900\n"
            "Bye.\n\n");
}

TEST(FormatVtt, WordTimestampsTimeEachCueByItsWords) {
  EXPECT_EQ(format_result(words_result(), OutputFormat::kVtt),
            "WEBVTT\n\n"
            "00:00.100 --> 00:01.100\n"
            "Hello world\n\n"
            "00:01.300 --> 00:01.900\n"
            "Bye.\n\n");
}

TEST(FormatVtt, SegmentWithoutWordsKeepsItsPlainCue) {
  Result r = words_result();
  r.segments[1].words.clear();
  EXPECT_EQ(format_result(r, OutputFormat::kVtt),
            "WEBVTT\n\n"
            "00:00.100 --> 00:01.100\n"
            "Hello world\n\n"
            "00:01.200 --> 00:02.000\n"
            "Bye.\n\n");
}

TEST(FormatTxt, WordTimestampsDoNotChangeText) {
  EXPECT_EQ(format_result(words_result(), OutputFormat::kTxt), "Hello world\nBye.\n");
  EXPECT_EQ(format_result(words_result(), OutputFormat::kTsv),
            "start\tend\ttext\n0\t1200\tHello world\n1200\t2000\tBye.\n");
}

// ---- json ----

TEST(FormatJson, TextOnlyAndStripped) {
  EXPECT_EQ(format_result(sample_result(), OutputFormat::kJson),
            "{\"text\":\"Hello, w\u00f6rld \u2014 \u00e7a va? Tabs\\there --> arrows "
            "\u65e5\u672c\u8a9e  Over an hour.\"}");
}

TEST(FormatJson, InvalidUtf8StillGivesValidJson) {
  Result r;
  r.text = "ok\xc3";  // truncated 2-byte sequence
  r.segments = {make_segment(0, 0, 0, 1, "\xf0\x9f\x98 \xc0\xaf")};
  EXPECT_EQ(format_result(r, OutputFormat::kJson), "{\"text\":\"ok\ufffd\"}");
  const json v = json::parse(format_result(r, OutputFormat::kVerboseJson));
  EXPECT_EQ(v.at("text"), "ok\ufffd");
  EXPECT_EQ(v.at("segments").at(0).at("text"), "\ufffd \ufffd\ufffd");
}

TEST(FormatVerboseJson, FieldByField) {
  const std::string dumped = format_result(sample_result(), OutputFormat::kVerboseJson);
  const json v = json::parse(dumped);

  EXPECT_EQ(v.size(), 5u);
  EXPECT_EQ(dumped.rfind("{\"task\":\"transcribe\",\"language\":\"english\",\"duration\":3662.25,"
                         "\"text\":",
                         0),
            0u)
      << dumped;

  EXPECT_EQ(v.at("task"), "transcribe");
  EXPECT_EQ(v.at("language"), "english");
  EXPECT_DOUBLE_EQ(v.at("duration").get<double>(), 3662.25);
  EXPECT_EQ(v.at("text"),
            "Hello, w\u00f6rld \u2014 \u00e7a va? Tabs\there --> arrows \u65e5\u672c\u8a9e  Over "
            "an hour.");
  EXPECT_FALSE(v.contains("words"));

  const json& segments = v.at("segments");
  ASSERT_EQ(segments.size(), 3u);
  const json& s0 = segments.at(0);
  EXPECT_EQ(s0.size(), 10u);
  EXPECT_EQ(s0.at("id"), 0);
  EXPECT_EQ(s0.at("seek"), 0);
  EXPECT_TRUE(s0.at("start").is_number_float());
  EXPECT_DOUBLE_EQ(s0.at("start").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(s0.at("end").get<double>(), 3.32);
  EXPECT_EQ(s0.at("text"), " Hello, w\u00f6rld \u2014 \u00e7a va?");  // unstripped, as the API
  EXPECT_EQ(s0.at("tokens"), json({50364, 2425, 11, 50530}));
  EXPECT_DOUBLE_EQ(s0.at("temperature").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(s0.at("avg_logprob").get<double>(), -0.286079);
  EXPECT_DOUBLE_EQ(s0.at("compression_ratio").get<double>(), 1.23636);
  EXPECT_DOUBLE_EQ(s0.at("no_speech_prob").get<double>(), 0.00985979);
  EXPECT_FALSE(s0.contains("words"));

  const json& s1 = segments.at(1);
  EXPECT_EQ(s1.at("id"), 1);
  EXPECT_EQ(s1.at("seek"), 332);
  EXPECT_EQ(s1.at("text"), " Tabs\there --> arrows \u65e5\u672c\u8a9e ");
  EXPECT_DOUBLE_EQ(s1.at("temperature").get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(s1.at("avg_logprob").get<double>(), -0.5);

  const json& s2 = segments.at(2);
  EXPECT_EQ(s2.at("seek"), 359950);
  EXPECT_DOUBLE_EQ(s2.at("start").get<double>(), 3599.5);
  EXPECT_DOUBLE_EQ(s2.at("end").get<double>(), 3661.5);
  EXPECT_EQ(s2.at("tokens").size(), 6u);

  // Numbers print short: no float noise, no strings.
  EXPECT_NE(dumped.find("\"end\":3.32,"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\"avg_logprob\":-0.286079,"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("\"no_speech_prob\":0.00985979}"), std::string::npos) << dumped;
}

TEST(FormatVerboseJson, WordsAtTopLevelAndInSegments) {
  const json v = json::parse(format_result(words_result(), OutputFormat::kVerboseJson));
  EXPECT_EQ(v.at("language"), "german");
  const json& words = v.at("words");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(words.at(0), json::parse(R"({"word":"Hello","start":0.1,"end":0.5})"));
  EXPECT_EQ(words.at(1), json::parse(R"({"word":"world","start":0.6,"end":1.1})"));
  EXPECT_EQ(words.at(2), json::parse(R"({"word":"Bye.","start":1.3,"end":1.9})"));

  const json& seg_words = v.at("segments").at(0).at("words");
  ASSERT_EQ(seg_words.size(), 2u);
  EXPECT_EQ(seg_words.at(0),
            json::parse(R"({"word":" Hello","start":0.1,"end":0.5,"probability":0.9})"));
  EXPECT_EQ(seg_words.at(1),
            json::parse(R"({"word":" world","start":0.6,"end":1.1,"probability":0.8})"));
  EXPECT_EQ(v.at("segments").at(1).at("words").size(), 1u);
}

TEST(FormatVerboseJson, ExactDocumentWithWords) {
  EXPECT_EQ(
      format_result(words_result(), OutputFormat::kVerboseJson),
      R"({"task":"transcribe","language":"german","duration":2.0,"text":"Hello world Bye.",)"
      R"("segments":[)"
      R"({"id":0,"seek":0,"start":0.0,"end":1.2,"text":" Hello world","tokens":[],)"
      R"("temperature":0.0,"avg_logprob":0.0,"compression_ratio":0.0,"no_speech_prob":0.0,)"
      R"("words":[{"word":" Hello","start":0.1,"end":0.5,"probability":0.9},)"
      R"({"word":" world","start":0.6,"end":1.1,"probability":0.8}]},)"
      R"({"id":1,"seek":0,"start":1.2,"end":2.0,"text":" Bye.","tokens":[],)"
      R"("temperature":0.0,"avg_logprob":0.0,"compression_ratio":0.0,"no_speech_prob":0.0,)"
      R"("words":[{"word":" Bye.","start":1.3,"end":1.9,"probability":0.95}]}],)"
      R"("words":[{"word":"Hello","start":0.1,"end":0.5},{"word":"world","start":0.6,"end":1.1},)"
      R"({"word":"Bye.","start":1.3,"end":1.9}]})");
}

TEST(FormatVerboseJson, NonFiniteStatisticBecomesNull) {
  Result r = sample_result();
  r.segments[0].avg_logprob = -HUGE_VAL;
  r.segments[1].no_speech_prob = std::nan("");
  const json v = json::parse(format_result(r, OutputFormat::kVerboseJson));
  EXPECT_TRUE(v.at("segments").at(0).at("avg_logprob").is_null());
  EXPECT_TRUE(v.at("segments").at(1).at("no_speech_prob").is_null());
}

TEST(FormatVerboseJson, UnknownLanguageCodePassesThrough) {
  Result r;
  r.language = "xx";
  r.task = "translate";
  const json v = json::parse(format_result(r, OutputFormat::kVerboseJson));
  EXPECT_EQ(v.at("language"), "xx");
  EXPECT_EQ(v.at("task"), "translate");
}

}  // namespace
}  // namespace hark::text
