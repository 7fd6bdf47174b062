// HF JSON configs. Values are type-checked one by one (nlohmann's own conversions would throw its
// exceptions, not hark::Error); a null value counts as absent, as transformers writes them.
#include "model/config_json.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "core/error.h"

namespace hark::model {
namespace {

using nlohmann::json;

json parse_object(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: not valid JSON: {}", source, e.what());
  }
  if (!j.is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: expected a JSON object at the top level", source);
  return j;
}

const json* find(const json& j, std::string_view key) {
  const auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

int as_int(const json& v, std::string_view what, const std::string& source) {
  if (v.is_number_integer()) {
    const auto i = v.get<int64_t>();
    if (v.is_number_unsigned() ? v.get<uint64_t>() <= uint64_t(INT_MAX)
                               : (i >= INT_MIN && i <= INT_MAX))
      return int(i);
  }
  throw_error(ErrorKind::kInvalidModel, "{}: {} must be an integer, got {}", source, what,
              v.dump());
}

std::optional<int> opt_int(const json& j, std::string_view key, const std::string& source) {
  const json* v = find(j, key);
  if (!v) return std::nullopt;
  return as_int(*v, key, source);
}

int req_int(const json& j, std::string_view key, const std::string& source) {
  const auto v = opt_int(j, key, source);
  if (!v) throw_error(ErrorKind::kInvalidModel, "{}: field {} is missing", source, key);
  return *v;
}

std::optional<std::string> opt_string(const json& j, std::string_view key,
                                      const std::string& source) {
  const json* v = find(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string())
    throw_error(ErrorKind::kInvalidModel, "{}: {} must be a string, got {}", source, key,
                v->dump());
  return v->get<std::string>();
}

std::optional<bool> opt_bool(const json& j, std::string_view key, const std::string& source) {
  const json* v = find(j, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    throw_error(ErrorKind::kInvalidModel, "{}: {} must be true or false, got {}", source, key,
                v->dump());
  return v->get<bool>();
}

const json* opt_array(const json& j, std::string_view key, const std::string& source) {
  const json* v = find(j, key);
  if (v && !v->is_array())
    throw_error(ErrorKind::kInvalidModel, "{}: {} must be a list, got {}", source, key, v->dump());
  return v;
}

}  // namespace

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw_error(ErrorKind::kNotFound, "{}: no such file", path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_error(ErrorKind::kIo, "{}: cannot open for reading", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw_error(ErrorKind::kIo, "{}: read failed", path);
  return ss.str();
}

std::string_view hf_config_field(std::string_view member) {
  static constexpr std::pair<std::string_view, std::string_view> kFields[] = {
      {"n_vocab", "vocab_size"},
      {"n_mels", "num_mel_bins"},
      {"n_audio_ctx", "max_source_positions"},
      {"n_audio_state", "d_model"},
      {"n_audio_head", "encoder_attention_heads"},
      {"n_audio_layer", "encoder_layers"},
      {"n_audio_ffn", "encoder_ffn_dim"},
      {"n_text_ctx", "max_target_positions"},
      {"n_text_state", "d_model"},
      {"n_text_head", "decoder_attention_heads"},
      {"n_text_layer", "decoder_layers"},
      {"n_text_ffn", "decoder_ffn_dim"},
  };
  for (const auto& [m, f] : kFields)
    if (m == member) return f;
  return member;
}

ModelConfig parse_hf_config(const std::string& json_text, const std::string& source) {
  const json j = parse_object(json_text, source);
  if (const auto type = opt_string(j, "model_type", source); type && *type != "whisper")
    throw_error(ErrorKind::kInvalidModel, "{}: model_type is \"{}\", expected \"whisper\"", source,
                *type);
  if (const auto act = opt_string(j, "activation_function", source); act && *act != "gelu")
    throw_error(ErrorKind::kUnsupported,
                "{}: activation_function \"{}\" is not supported (Whisper uses \"gelu\")", source,
                *act);
  if (opt_bool(j, "scale_embedding", source).value_or(false))
    throw_error(ErrorKind::kUnsupported,
                "{}: scale_embedding=true is not supported (Whisper uses false)", source);
  ModelConfig c;
  c.n_vocab = req_int(j, "vocab_size", source);
  c.n_mels = req_int(j, "num_mel_bins", source);
  c.n_audio_state = c.n_text_state = req_int(j, "d_model", source);
  c.n_audio_layer = req_int(j, "encoder_layers", source);
  c.n_audio_head = req_int(j, "encoder_attention_heads", source);
  c.n_audio_ffn = req_int(j, "encoder_ffn_dim", source);
  c.n_text_layer = req_int(j, "decoder_layers", source);
  c.n_text_head = req_int(j, "decoder_attention_heads", source);
  c.n_text_ffn = req_int(j, "decoder_ffn_dim", source);
  c.n_audio_ctx = opt_int(j, "max_source_positions", source).value_or(1500);
  c.n_text_ctx = opt_int(j, "max_target_positions", source).value_or(448);
  c.validate(source, &hf_config_field);
  // Special tokens are derived from the vocabulary size; other sizes have no known layout.
  try {
    (void)GenerationConfig::defaults_for_vocab(c.n_vocab);
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
  return c;
}

ModelConfig read_hf_config(const std::string& path) {
  return parse_hf_config(read_text_file(path), path);
}

namespace {

// Checks an id the file gives against the one the vocabulary layout implies.
void expect_id(const json& j, std::string_view key, int derived, int n_vocab,
               const std::string& source) {
  const auto v = opt_int(j, key, source);
  if (v && *v != derived)
    throw_error(ErrorKind::kInvalidModel,
                "{}: {}={} disagrees with the vocabulary: {} tokens put it at {}", source, key, *v,
                n_vocab, derived);
}

void check_eos(const json& j, int eot, int n_vocab, const std::string& source) {
  const json* v = find(j, "eos_token_id");
  if (!v) return;
  // transformers allows a list of end tokens; the layout's eot must be one of them.
  std::vector<int> ids;
  if (v->is_array()) {
    for (const json& e : *v) ids.push_back(as_int(e, "eos_token_id", source));
  } else {
    ids.push_back(as_int(*v, "eos_token_id", source));
  }
  if (std::find(ids.begin(), ids.end(), eot) == ids.end())
    throw_error(ErrorKind::kInvalidModel,
                "{}: eos_token_id={} disagrees with the vocabulary: {} tokens put <|endoftext|> "
                "at {}",
                source, v->dump(), n_vocab, eot);
}

std::vector<int> token_list(const json& j, std::string_view key, int n_vocab,
                            const std::string& source) {
  std::vector<int> out;
  const json* a = opt_array(j, key, source);
  if (!a) return out;
  for (const json& e : *a) {
    const int id = as_int(e, key, source);
    if (id < 0 || id >= n_vocab)
      throw_error(ErrorKind::kInvalidModel, "{}: {} holds token {}, outside the vocabulary [0, {})",
                  source, key, id, n_vocab);
    out.push_back(id);
  }
  return out;
}

void parse_languages(const json& j, GenerationConfig& g, int n_vocab, const std::string& source) {
  const json* m = find(j, "lang_to_id");
  if (!m) return;
  if (!m->is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: lang_to_id must be an object, got {}", source,
                m->dump());
  std::vector<std::pair<std::string, int>> langs;
  for (const auto& [token, value] : m->items()) {
    const int id = as_int(value, "lang_to_id[" + token + "]", source);
    const bool wrapped = token.size() > 4 && token.starts_with("<|") && token.ends_with("|>");
    const std::string code = wrapped ? token.substr(2, token.size() - 4) : token;
    const auto derived = g.language_token(code);
    if (!derived)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: lang_to_id names {}, which is not a language of a {}-token vocabulary",
                  source, token, n_vocab);
    if (*derived != id)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: lang_to_id maps {} to {}, but a {}-token vocabulary puts it at {}", source,
                  token, id, n_vocab, *derived);
    langs.emplace_back(code, id);
  }
  std::sort(langs.begin(), langs.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  g.languages = std::move(langs);
}

void parse_tasks(const json& j, const GenerationConfig& g, int n_vocab, const std::string& source) {
  const json* m = find(j, "task_to_id");
  if (!m) return;
  if (!m->is_object())
    throw_error(ErrorKind::kInvalidModel, "{}: task_to_id must be an object, got {}", source,
                m->dump());
  for (const auto& [task, value] : m->items()) {
    const int id = as_int(value, "task_to_id[" + task + "]", source);
    int derived = -1;
    if (task == "translate") derived = g.translate;
    if (task == "transcribe") derived = g.transcribe;
    if (derived < 0)
      throw_error(ErrorKind::kInvalidModel, "{}: task_to_id names an unknown task \"{}\"", source,
                  task);
    if (id != derived)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: task_to_id maps {} to {}, but a {}-token vocabulary puts it at {}", source,
                  task, id, n_vocab, derived);
  }
}

std::vector<std::pair<int, int>> parse_alignment_heads(const json& j, const ModelConfig& cfg,
                                                       const std::string& source) {
  std::vector<std::pair<int, int>> heads;
  const json* a = opt_array(j, "alignment_heads", source);
  if (!a) return heads;
  for (const json& e : *a) {
    if (!e.is_array() || e.size() != 2)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: alignment_heads entries must be [layer, head] pairs, got {}", source,
                  e.dump());
    const int layer = as_int(e[0], "alignment_heads layer", source);
    const int head = as_int(e[1], "alignment_heads head", source);
    if (layer < 0 || layer >= cfg.n_text_layer || head < 0 || head >= cfg.n_text_head)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: alignment head [{}, {}] is outside the decoder ({} layers of {} heads)",
                  source, layer, head, cfg.n_text_layer, cfg.n_text_head);
    heads.emplace_back(layer, head);
  }
  return heads;
}

GenerationConfig generation_from_json(const json& j, const ModelConfig& cfg,
                                      const std::string& source) {
  GenerationConfig g;
  try {
    g = GenerationConfig::defaults_for_vocab(cfg.n_vocab);
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
  const int n = cfg.n_vocab;
  expect_id(j, "decoder_start_token_id", g.sot, n, source);
  check_eos(j, g.eot, n, source);
  expect_id(j, "no_timestamps_token_id", g.no_timestamps, n, source);
  expect_id(j, "prev_sot_token_id", g.sot_prev, n, source);
  if (const auto multi = opt_bool(j, "is_multilingual", source);
      multi && *multi != g.is_multilingual)
    throw_error(ErrorKind::kInvalidModel,
                "{}: is_multilingual={} disagrees with the vocabulary: {} tokens is {}", source,
                *multi, n, g.is_multilingual ? "multilingual" : "English-only");
  parse_languages(j, g, n, source);
  parse_tasks(j, g, n, source);
  if (find(j, "suppress_tokens")) g.suppress_tokens = token_list(j, "suppress_tokens", n, source);
  if (find(j, "begin_suppress_tokens"))
    g.begin_suppress_tokens = token_list(j, "begin_suppress_tokens", n, source);
  if (const auto v = opt_int(j, "max_initial_timestamp_index", source)) {
    if (*v < 0 || *v > 1500)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: max_initial_timestamp_index={} is out of range (0 to 1500)", source, *v);
    g.max_initial_timestamp_index = *v;
  }
  if (const auto v = opt_int(j, "max_length", source)) {
    if (*v < 1 || *v > cfg.n_text_ctx)
      throw_error(ErrorKind::kInvalidModel,
                  "{}: max_length={} is out of range (1 to max_target_positions={})", source, *v,
                  cfg.n_text_ctx);
    g.max_length = *v;
  }
  g.alignment_heads = parse_alignment_heads(j, cfg, source);
  return g;
}

}  // namespace

GenerationConfig parse_generation_config(const std::string& json_text, const ModelConfig& cfg,
                                         const std::string& source) {
  const json j = parse_object(json_text, source);
  try {
    return generation_from_json(j, cfg, source);
  } catch (const Error& e) {
    // transformers writes such a file from config.json, whose WhisperConfig defaults are the
    // English-only ids whatever the vocabulary; say so, as the ids alone look arbitrary.
    const auto derived = j.find("_from_model_config");
    if (derived == j.end() || *derived != true || e.kind() != ErrorKind::kInvalidModel) throw;
    throw Error(e.kind(), std::string(e.what()) +
                              " (the file was derived from config.json (_from_model_config), "
                              "whose token ids may be WhisperConfig's English-only defaults: set "
                              "them for this vocabulary in both files)");
  }
}

GenerationConfig read_generation_config(const std::string& path, const ModelConfig& cfg) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return GenerationConfig::defaults_for_vocab(cfg.n_vocab);
  return parse_generation_config(read_text_file(path), cfg, path);
}

}  // namespace hark::model
