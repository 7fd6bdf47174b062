#include "model/config.h"

#include <array>

#include "core/error.h"

namespace hark::model {

const std::vector<std::pair<std::string, std::string>>& whisper_languages() {
  static const std::vector<std::pair<std::string, std::string>> kLanguages = {
      {"en", "english"},     {"zh", "chinese"},    {"de", "german"},
      {"es", "spanish"},     {"ru", "russian"},    {"ko", "korean"},
      {"fr", "french"},      {"ja", "japanese"},   {"pt", "portuguese"},
      {"tr", "turkish"},     {"pl", "polish"},     {"ca", "catalan"},
      {"nl", "dutch"},       {"ar", "arabic"},     {"sv", "swedish"},
      {"it", "italian"},     {"id", "indonesian"}, {"hi", "hindi"},
      {"fi", "finnish"},     {"vi", "vietnamese"}, {"he", "hebrew"},
      {"uk", "ukrainian"},   {"el", "greek"},      {"ms", "malay"},
      {"cs", "czech"},       {"ro", "romanian"},   {"da", "danish"},
      {"hu", "hungarian"},   {"ta", "tamil"},      {"no", "norwegian"},
      {"th", "thai"},        {"ur", "urdu"},       {"hr", "croatian"},
      {"bg", "bulgarian"},   {"lt", "lithuanian"}, {"la", "latin"},
      {"mi", "maori"},       {"ml", "malayalam"},  {"cy", "welsh"},
      {"sk", "slovak"},      {"te", "telugu"},     {"fa", "persian"},
      {"lv", "latvian"},     {"bn", "bengali"},    {"sr", "serbian"},
      {"az", "azerbaijani"}, {"sl", "slovenian"},  {"kn", "kannada"},
      {"et", "estonian"},    {"mk", "macedonian"}, {"br", "breton"},
      {"eu", "basque"},      {"is", "icelandic"},  {"hy", "armenian"},
      {"ne", "nepali"},      {"mn", "mongolian"},  {"bs", "bosnian"},
      {"kk", "kazakh"},      {"sq", "albanian"},   {"sw", "swahili"},
      {"gl", "galician"},    {"mr", "marathi"},    {"pa", "punjabi"},
      {"si", "sinhala"},     {"km", "khmer"},      {"sn", "shona"},
      {"yo", "yoruba"},      {"so", "somali"},     {"af", "afrikaans"},
      {"oc", "occitan"},     {"ka", "georgian"},   {"be", "belarusian"},
      {"tg", "tajik"},       {"sd", "sindhi"},     {"gu", "gujarati"},
      {"am", "amharic"},     {"yi", "yiddish"},    {"lo", "lao"},
      {"uz", "uzbek"},       {"fo", "faroese"},    {"ht", "haitian creole"},
      {"ps", "pashto"},      {"tk", "turkmen"},    {"nn", "nynorsk"},
      {"mt", "maltese"},     {"sa", "sanskrit"},   {"lb", "luxembourgish"},
      {"my", "myanmar"},     {"bo", "tibetan"},    {"tl", "tagalog"},
      {"mg", "malagasy"},    {"as", "assamese"},   {"tt", "tatar"},
      {"haw", "hawaiian"},   {"ln", "lingala"},    {"ha", "hausa"},
      {"ba", "bashkir"},     {"jw", "javanese"},   {"su", "sundanese"},
      {"yue", "cantonese"},
  };
  return kLanguages;
}

std::optional<int> GenerationConfig::language_token(const std::string& code) const {
  for (const auto& [c, id] : languages) {
    if (c == code) return id;
  }
  return std::nullopt;
}

std::optional<std::string> GenerationConfig::language_code(int token) const {
  for (const auto& [c, id] : languages) {
    if (id == token) return c;
  }
  return std::nullopt;
}

GenerationConfig GenerationConfig::defaults_for_vocab(int n_vocab) {
  // English-only vocabularies (GPT-2's 50257 base tokens) have eot 50256; multilingual ones have
  // 50257 base tokens plus eot at 50257. v3 adds one language (Cantonese) before translate.
  GenerationConfig g;
  int n_langs = 0;
  int eot = 0;
  switch (n_vocab) {
    case 51864:
      eot = 50256;
      n_langs = 99;
      g.is_multilingual = false;
      break;
    case 51865:
      eot = 50257;
      n_langs = 99;
      break;
    case 51866:
      eot = 50257;
      n_langs = 100;
      break;
    default:
      throw_error(ErrorKind::kInvalidModel,
                  "vocabulary size {} is not a Whisper layout (51864 English-only, 51865 v1/v2, "
                  "51866 v3)",
                  n_vocab);
  }
  g.eot = eot;
  g.sot = eot + 1;
  const int first_lang = g.sot + 1;
  g.translate = first_lang + n_langs;
  g.transcribe = g.translate + 1;
  g.sot_lm = g.transcribe + 1;
  g.sot_prev = g.sot_lm + 1;
  g.no_speech = g.sot_prev + 1;
  g.no_timestamps = g.no_speech + 1;
  g.timestamp_begin = g.no_timestamps + 1;
  if (g.is_multilingual) {
    const auto& langs = whisper_languages();
    for (int i = 0; i < n_langs; ++i)
      g.languages.emplace_back(langs[size_t(i)].first, first_lang + i);
  }
  g.begin_suppress_tokens = {220, eot};
  return g;
}

}  // namespace hark::model
