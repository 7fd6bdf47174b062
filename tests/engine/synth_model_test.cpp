// The trained synthetic model (tests/data/models/synth-small, tools/train_synthetic) on its
// held-out set (tests/data/synth-heldout), through the public API only, on the CPU:
//  * transcripts: greedy, no temperature fallback (the CLI's `--beam-size 1
//    --temperature-increment-on-fallback none`), the language given, must equal the reference's
//    (eval.json: transformers generate on openai-whisper's windows, made by train.py on the GPU
//    machine) for every clip of the folder, the no-speech clips included. (eval.json also holds 8
//    generated no-speech clips, ns-*, that evalcommon.py writes at evaluation time; they are not in
//    the folder and are not checked here.)
//  * language detection: the reference's detected language (= the true one) for every speech clip.
//  * word timestamps: on the "words" clips (words spoken one at a time with pauses, their true
//    start/end in manifest.json) the recognised words are the spoken ones, and the word ENDS and
//    the boundaries between words follow the audio (see WordTimesFollowTheAudio for why starts
//    are only printed).
// The model's tokenizer is the shared multilingual.tiktoken ($HARK_SHARED/assets).
// $HARK_SYNTH_MODEL overrides the model directory (to check that a broken copy fails).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hark/audio.h"
#include "hark/engine.h"
#include "support/test_env.h"

namespace hark {
namespace {

std::string model_dir() {
  if (const char* v = std::getenv("HARK_SYNTH_MODEL"); v && *v) return v;
  return testing::test_data("models/synth-small");
}
std::string heldout_dir() { return testing::test_data("synth-heldout"); }

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f.good()) throw std::runtime_error(path + ": cannot open");
  return nlohmann::json::parse(f);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

// Lowercase (ASCII and the Latin-1 letters À..Þ), apostrophes deleted, other ASCII punctuation and
// ¡ ¿ « » dropped: enough for the en/de/es/it word lists of the held-out set.
std::string normalize_word(const std::string& w) {
  std::string out;
  for (size_t i = 0; i < w.size(); ++i) {
    const auto c = static_cast<unsigned char>(w[i]);
    if (c < 0x80) {
      if (std::isalnum(c)) out += char(std::tolower(c));
      continue;  // spaces, apostrophes and punctuation
    }
    if (c == 0xC2 && i + 1 < w.size()) {  // ¡ « » ¿ and other Latin-1 punctuation: drop
      const auto d = static_cast<unsigned char>(w[i + 1]);
      if (d >= 0xA0 && d <= 0xBF) {
        ++i;
        continue;
      }
    }
    if (c == 0xC3 && i + 1 < w.size()) {
      const auto d = static_cast<unsigned char>(w[i + 1]);
      out += char(c);
      out += char(d >= 0x80 && d <= 0x9E && d != 0x97 ? d + 0x20 : d);
      ++i;
      continue;
    }
    out += char(c);
  }
  return out;
}

struct Clip {
  std::string file, kind, language;
  nlohmann::json manifest, reference;
};

class SynthModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EngineOptions eo;
    eo.model_path = model_dir();
    eo.tokenizer_path = testing::asset("multilingual.tiktoken");
    eo.device = "cpu";
    eo.threads = 2;
    engine_ = Engine::load(eo).release();

    const nlohmann::json manifest = read_json(heldout_dir() + "/manifest.json");
    const nlohmann::json eval = read_json(testing::test_data("models/synth-small/eval.json"));
    std::map<std::string, nlohmann::json> ref;
    for (const auto& c : eval.at("sets").at("heldout").at("clips")) ref[c.at("file")] = c;
    clips_ = new std::vector<Clip>;
    for (const auto& m : manifest.at("clips")) {
      Clip c;
      c.file = m.at("file");
      c.kind = m.at("kind");
      c.language = m.at("language").is_string() ? m.at("language").get<std::string>() : "";
      c.manifest = m;
      auto it = ref.find(c.file);
      if (it == ref.end()) throw std::runtime_error(c.file + ": not in eval.json's heldout clips");
      c.reference = it->second;
      clips_->push_back(std::move(c));
    }
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
    delete clips_;
    clips_ = nullptr;
  }

  // The CLI's `--beam-size 1 --temperature-increment-on-fallback none`: greedy, the temperature
  // 0 only; thresholds, conditioning and timestamps as the CLI's defaults.
  static TranscribeOptions greedy(const std::string& language) {
    TranscribeOptions o;
    o.language = language;
    o.beam_size = 1;
    o.temperature = {0.0};
    return o;
  }

  static Result run(const Clip& c, const TranscribeOptions& o) {
    const std::vector<float> pcm = decode_audio_file(heldout_dir() + "/" + c.file);
    return engine_->transcribe(pcm, o);
  }

  static bool is_speech(const Clip& c) { return c.kind == "speech" || c.kind == "words"; }

  static Engine* engine_;
  static std::vector<Clip>* clips_;
};

Engine* SynthModel::engine_ = nullptr;
std::vector<Clip>* SynthModel::clips_ = nullptr;

TEST_F(SynthModel, TranscriptsMatchTheReference) {
  ASSERT_EQ(clips_->size(), 18u) << "the held-out folder changed";
  int nospeech = 0;
  for (const Clip& c : *clips_) {
    // eval_reference.py / eval_hark.py transcribe the no-speech clips with language en.
    const Result r = run(c, greedy(is_speech(c) ? c.language : "en"));
    const std::string want = trim(c.reference.at("hyp").get<std::string>());
    EXPECT_EQ(trim(r.text), want) << c.file;
    if (!is_speech(c)) {
      ++nospeech;
      EXPECT_EQ(trim(r.text).empty(), c.reference.at("empty").get<bool>()) << c.file;
    }
  }
  EXPECT_EQ(nospeech, 2);
}

TEST_F(SynthModel, DetectsTheLanguage) {
  int n = 0;
  for (const Clip& c : *clips_) {
    if (!is_speech(c)) continue;
    const Result r = run(c, greedy("auto"));
    EXPECT_EQ(r.language, c.reference.at("detected_language").get<std::string>()) << c.file;
    EXPECT_EQ(r.language, c.language) << c.file;
    ++n;
  }
  EXPECT_EQ(n, 16);
}

// Word timestamps follow openai-whisper's timing.py: DTW of the alignment heads' cross-attention
// gives each token a frame; a word's END is where the path leaves its last token, and its START is
// the previous word's end (the first word's: the segment start). So in audio with pauses between
// words the start lands at (or near) the end of the previous word, and the pause counts into the
// next word: starts are far from the truth by design (printed, not asserted). What the algorithm
// does place are the ends and the boundaries between words:
//  (a) ENDS: |end - true end| <= 0.1 s for at least 80 % of the words, and the mean <= 0.1 s.
//  (b) BOUNDARIES: the predicted end of word k (= start of word k+1) lies within 0.1 s of the
//      true silent gap [end_k, start_k+1] (distance 0 inside the gap) for at least 80 % of the
//      boundaries between consecutive words.
// Measured (CPU, fp32; tools/train_synthetic/word_timing.py prints the same table): ends 32/36
// within 0.1 s, mean |d end| 0.049 s; boundaries 31/32 (mean distance 0.020 s); starts 12/36,
// mean |d start| 0.156 s. These fail it: alignment heads [[0,0]] (ends 8/36, mean 0.50 s), [[3,1]]
// (8/36), all of layer 0 (2/36); times x2 (0/36); every word given its neighbour's times (3/36);
// all times later by 0.02 s (one encoder frame: ends 28/36), 0.04 or 0.1 s, or earlier by 0.1 s.
// (Earlier by up to 0.06 s still passes: the tolerance is 0.1 s.)
TEST_F(SynthModel, WordTimesFollowTheAudio) {
  // Within 0.1 s, inclusive: hark's times are multiples of 0.01 s and the truth's of 0.001 s, so
  // kEps only keeps floating-point noise from deciding a difference of exactly 0.1 s.
  constexpr double kTol = 0.1, kEps = 1e-6;
  int words = 0, ends_ok = 0, starts_ok = 0, bounds = 0, bounds_ok = 0;
  double sum_end = 0, sum_start = 0, sum_bound = 0;
  std::printf("%-18s %-14s %7s %7s %7s %7s %7s %7s\n", "clip", "word", "t.start", "start", "d",
              "t.end", "end", "d");
  for (const Clip& c : *clips_) {
    if (c.kind != "words") continue;
    TranscribeOptions o = greedy(c.language);
    o.word_timestamps = true;
    const Result r = run(c, o);
    ASSERT_TRUE(r.has_words) << c.file;
    std::vector<Word> got;
    for (const Segment& s : r.segments) {
      for (const Word& w : s.words) {
        if (!normalize_word(w.word).empty()) got.push_back(w);
      }
    }
    const auto& truth = c.manifest.at("words");
    std::vector<std::string> got_text, want_text;
    for (const Word& w : got) got_text.push_back(normalize_word(w.word));
    for (const auto& w : truth) want_text.push_back(normalize_word(w.at("word")));
    ASSERT_EQ(got_text, want_text) << c.file << ": " << r.text;

    for (size_t k = 0; k < got.size(); ++k) {
      const double ts = truth[k].at("start"), te = truth[k].at("end");
      const double ds = got[k].start - ts, de = got[k].end - te;
      std::printf("%-18s %-14s %7.2f %7.2f %+7.2f %7.2f %7.2f %+7.2f\n", c.file.c_str(),
                  want_text[k].c_str(), ts, got[k].start, ds, te, got[k].end, de);
      ++words;
      sum_end += std::abs(de);
      sum_start += std::abs(ds);
      ends_ok += std::abs(de) <= kTol + kEps;
      starts_ok += std::abs(ds) <= kTol + kEps;
      if (k + 1 < got.size()) {
        const double lo = te, hi = truth[k + 1].at("start");
        const double b = got[k].end;
        const double dist = b < lo ? lo - b : (b > hi ? b - hi : 0.0);
        ++bounds;
        sum_bound += dist;
        bounds_ok += dist <= kTol + kEps;
      }
    }
  }
  std::printf("ends within %.1f s: %d/%d, mean |d| %.3f s\n", kTol, ends_ok, words,
              sum_end / std::max(words, 1));
  std::printf("boundaries within %.1f s of the gap: %d/%d, mean distance %.3f s\n", kTol, bounds_ok,
              bounds, sum_bound / std::max(bounds, 1));
  std::printf("starts within %.1f s: %d/%d, mean |d| %.3f s (not asserted)\n", kTol, starts_ok,
              words, sum_start / std::max(words, 1));
  ASSERT_EQ(words, 36);
  EXPECT_GE(ends_ok, 0.8 * words) << "word ends within 0.1 s of the truth";
  EXPECT_LE(sum_end / words, 0.1) << "mean |end - true end|";
  EXPECT_GE(bounds_ok, 0.8 * bounds) << "boundaries within 0.1 s of the true gap";
}

// The same model with int8 cross-attention K/V (--cross-kv int8): every held-out transcript
// (greedy, as TranscriptsMatchTheReference) equals the reference, so int8 K/V changed no token; and
// with beam search and word timestamps (decode(): the dequantised K/V and the cross-attention
// weights) the words equal those of the float K/V engine, their times within 0.1 s.
TEST_F(SynthModel, Int8CrossKvGivesTheSameTranscripts) {
  EngineOptions eo;
  eo.model_path = model_dir();
  eo.tokenizer_path = testing::asset("multilingual.tiktoken");
  eo.device = "cpu";
  eo.threads = 2;
  eo.cross_kv = "int8";
  const std::unique_ptr<Engine> kv8 = Engine::load(eo);
  EXPECT_EQ(kv8->info().cross_kv, "int8");
  int beams = 0;
  for (const Clip& c : *clips_) {
    const std::vector<float> pcm = decode_audio_file(heldout_dir() + "/" + c.file);
    const Result r = kv8->transcribe(pcm, greedy(is_speech(c) ? c.language : "en"));
    EXPECT_EQ(trim(r.text), trim(c.reference.at("hyp").get<std::string>())) << c.file;
    if (c.kind != "words" || beams >= 2) continue;
    ++beams;
    TranscribeOptions o = greedy(c.language);
    o.beam_size = 5;
    o.word_timestamps = true;
    const Result want = engine_->transcribe(pcm, o), got = kv8->transcribe(pcm, o);
    EXPECT_EQ(trim(got.text), trim(want.text)) << c.file;
    std::vector<Word> ww, gw;
    for (const Segment& s : want.segments) ww.insert(ww.end(), s.words.begin(), s.words.end());
    for (const Segment& s : got.segments) gw.insert(gw.end(), s.words.begin(), s.words.end());
    ASSERT_EQ(gw.size(), ww.size()) << c.file;
    for (size_t k = 0; k < ww.size(); ++k) {
      EXPECT_EQ(gw[k].word, ww[k].word) << c.file;
      EXPECT_NEAR(gw[k].end, ww[k].end, 0.1) << c.file << " " << ww[k].word;
    }
  }
  EXPECT_EQ(beams, 2);
}

}  // namespace
}  // namespace hark
