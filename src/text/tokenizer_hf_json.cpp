#include "text/tokenizer_hf_json.h"

#include <climits>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"

namespace hark::text::detail {
namespace {

using nlohmann::json;

// Where the parser is: each open container has a role, decided by its parent's role and key.
enum class Role { kOther, kRoot, kModel, kVocab, kMerges, kMergePair, kAddedList, kAddedToken };

struct Frame {
  Role role;
  std::string key;                     // the last key seen in this object
  std::vector<std::string> strings;    // kMergePair: the pair so far
  std::optional<std::string> content;  // kAddedToken
  std::optional<long long> id;         // kAddedToken
};

class Reader : public nlohmann::json_sax<json> {
 public:
  Reader(HfJson& out, bool root_is_vocab) : out_(out), root_is_vocab_(root_is_vocab) {}
  const std::string& error() const { return error_; }

  bool null() override { return scalar("null"); }
  bool boolean(bool v) override {
    if (top() == Role::kModel && frames_.back().key == "ignore_merges") out_.ignore_merges = v;
    return scalar(v ? "true" : "false");
  }
  bool number_integer(number_integer_t v) override { return integer(v, std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override {
    return integer(v > number_unsigned_t(LLONG_MAX) ? LLONG_MAX : (long long)v, std::to_string(v));
  }
  bool number_float(number_float_t, const string_t& s) override { return scalar(s); }
  bool binary(binary_t&) override { return scalar("binary"); }
  bool string(string_t& s) override;
  bool key(string_t& k) override {
    frames_.back().key = std::move(k);
    return true;
  }
  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = fmt::format("malformed JSON: {}", e.what());
    return false;
  }

 private:
  HfJson& out_;
  bool root_is_vocab_;
  std::vector<Frame> frames_;
  std::string error_;

  Role top() const { return frames_.empty() ? Role::kOther : frames_.back().role; }
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  Role child_role(bool is_object) const;
  bool open(bool is_object) {
    frames_.push_back({child_role(is_object), {}, {}, {}, {}});
    if (frames_.back().role == Role::kModel) out_.has_model = true;
    if (frames_.back().role == Role::kVocab) out_.has_vocab = true;
    return true;
  }
  bool close();
  bool integer(long long v, const std::string& text);
  bool scalar(const std::string& text);
};

Role Reader::child_role(bool is_object) const {
  if (frames_.empty()) {
    if (!is_object) return Role::kOther;
    return root_is_vocab_ ? Role::kVocab : Role::kRoot;
  }
  const Frame& parent = frames_.back();
  switch (parent.role) {
    case Role::kRoot:
      if (parent.key == "model" && is_object) return Role::kModel;
      if (parent.key == "added_tokens" && !is_object) return Role::kAddedList;
      return Role::kOther;
    case Role::kModel:
      if (parent.key == "vocab" && is_object) return Role::kVocab;
      if (parent.key == "merges" && !is_object) return Role::kMerges;
      return Role::kOther;
    case Role::kMerges: return is_object ? Role::kOther : Role::kMergePair;
    case Role::kAddedList: return is_object ? Role::kAddedToken : Role::kOther;
    default: return Role::kOther;
  }
}

bool Reader::close() {
  Frame f = std::move(frames_.back());
  frames_.pop_back();
  if (f.role == Role::kMergePair) {
    if (f.strings.size() != 2) {
      return fail(fmt::format("merge {} is a list of {} strings, expected 2", out_.merges.size(),
                              f.strings.size()));
    }
    out_.merges.push_back({std::move(f.strings[0]), std::move(f.strings[1])});
  } else if (f.role == Role::kAddedToken) {
    if (!f.content || !f.id || *f.id < 0 || *f.id > INT_MAX) {
      return fail(
          fmt::format("added token {} lacks a \"content\" string or an \"id\"", out_.added.size()));
    }
    out_.added.emplace_back(std::move(*f.content), int(*f.id));
  } else if (!frames_.empty() &&
             (frames_.back().role == Role::kVocab || frames_.back().role == Role::kMerges)) {
    return fail(frames_.back().role == Role::kVocab
                    ? fmt::format("token '{}' has a container for its id", frames_.back().key)
                    : "a merge is an object, expected \"a b\" or [\"a\", \"b\"]");
  }
  return true;
}

bool Reader::integer(long long v, const std::string& text) {
  switch (top()) {
    case Role::kVocab:
      if (v < 0 || v > INT_MAX) {
        return fail(fmt::format("token '{}' has id {}, out of range", frames_.back().key, v));
      }
      out_.vocab.emplace_back(std::move(frames_.back().key), int(v));
      return true;
    case Role::kAddedToken:
      if (frames_.back().key == "id") frames_.back().id = v;
      return true;
    default: return scalar(text);
  }
}

bool Reader::scalar(const std::string& text) {
  switch (top()) {
    case Role::kVocab:
      return fail(fmt::format("token '{}' has id {}, not an integer", frames_.back().key, text));
    case Role::kMerges:
    case Role::kMergePair:
      return fail(fmt::format("merge {} contains {}, expected strings", out_.merges.size(), text));
    default: return true;
  }
}

bool Reader::string(string_t& s) {
  if (frames_.empty()) return true;
  Frame& f = frames_.back();
  switch (f.role) {
    case Role::kModel:
      if (f.key == "type") out_.model_type = s;
      return true;
    case Role::kMerges: {
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() ||
          s.find(' ', sp + 1) != std::string::npos) {
        return fail(fmt::format("merge {} is '{}', expected \"a b\"", out_.merges.size(), s));
      }
      out_.merges.push_back({s.substr(0, sp), s.substr(sp + 1)});
      return true;
    }
    case Role::kMergePair: f.strings.push_back(std::move(s)); return true;
    case Role::kAddedToken:
      if (f.key == "content") f.content = std::move(s);
      return true;
    case Role::kVocab:
      return fail(fmt::format("token '{}' has id \"{}\", not an integer", f.key, s));
    default: return true;
  }
}

}  // namespace

HfJson read_hf_json(const std::string& path, const std::string& text, bool root_is_vocab) {
  HfJson out;
  Reader reader(out, root_is_vocab);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &reader);
  } catch (const json::exception& e) {
    throw_error(ErrorKind::kInvalidModel, "{}: malformed JSON: {}", path, e.what());
  }
  if (!ok) {
    throw_error(ErrorKind::kInvalidModel, "{}: {}", path,
                reader.error().empty() ? "malformed JSON" : reader.error());
  }
  return out;
}

}  // namespace hark::text::detail
