// Optional API keys: a request carries one as "Authorization: Bearer KEY" (what OpenAI clients
// send) or "X-API-Key: KEY". Keys come from --api-key and from a file (one per line, blank lines
// and # comments ignored). Comparison takes the same time wherever the strings differ.
#pragma once

#include <string>
#include <vector>

#include "server/http_types.h"

namespace hark::server {

class ApiKeys {
 public:
  // Throws Error(kNotFound) for a missing file, Error(kInvalidArgument) for one without keys.
  ApiKeys(std::vector<std::string> keys, const std::string& keys_file);

  bool enabled() const { return !keys_.empty(); }
  bool allows(const Request& request) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<std::string> keys_;
};

}  // namespace hark::server
