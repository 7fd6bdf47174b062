#include "server/auth.h"

#include <fmt/format.h>

#include <fstream>

#include "hark/error.h"

namespace hark::server {
namespace {

std::string trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool same(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

ApiKeys::ApiKeys(std::vector<std::string> keys, const std::string& keys_file) {
  for (const std::string& k : keys) {
    if (!trimmed(k).empty()) keys_.push_back(trimmed(k));
  }
  if (keys_file.empty()) return;
  std::ifstream in(keys_file);
  if (!in)
    throw Error(ErrorKind::kNotFound, fmt::format("{}: cannot open the API key file", keys_file));
  size_t from_file = 0;
  for (std::string line; std::getline(in, line);) {
    line = trimmed(line);
    if (line.empty() || line[0] == '#') continue;
    keys_.push_back(line);
    ++from_file;
  }
  if (from_file == 0) {
    throw Error(ErrorKind::kInvalidArgument,
                fmt::format("{}: no API keys in the file (one per line)", keys_file));
  }
}

bool ApiKeys::allows(const Request& request) const {
  if (keys_.empty()) return true;
  std::string offered;
  if (const std::string* auth = request.header("Authorization")) {
    if (auth->size() > 7 &&
        (auth->compare(0, 7, "Bearer ") == 0 || auth->compare(0, 7, "bearer ") == 0)) {
      offered = trimmed(auth->substr(7));
    }
  }
  if (offered.empty()) {
    if (const std::string* key = request.header("X-API-Key")) offered = trimmed(*key);
  }
  if (offered.empty()) return false;
  bool ok = false;
  for (const std::string& k : keys_) ok |= same(k, offered);
  return ok;
}

}  // namespace hark::server
