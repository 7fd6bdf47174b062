#include "server/cors.h"

#include "server/api_error.h"

namespace hark::server {

bool Cors::allowed(const std::string& origin) const {
  for (const std::string& o : origins_) {
    if (o == "*" || o == origin) return true;
  }
  return false;
}

std::vector<std::pair<std::string, std::string>> Cors::headers_for(const Request& request) const {
  const std::string* origin = request.header("Origin");
  if (!origin || !allowed(*origin)) return {};
  const bool any = origins_.size() == 1 && origins_[0] == "*";
  std::vector<std::pair<std::string, std::string>> h = {
      {"Access-Control-Allow-Origin", any ? "*" : *origin},
      {"Access-Control-Expose-Headers", "Retry-After, Server-Timing"}};
  if (!any) h.emplace_back("Vary", "Origin");
  return h;
}

bool Cors::is_preflight(const Request& request) {
  return request.method == "OPTIONS" && request.header("Origin") &&
         request.header("Access-Control-Request-Method");
}

Response Cors::preflight(const Request& request) const {
  const std::string* origin = request.header("Origin");
  if (!origin || !allowed(*origin)) {
    return error_response(ApiError(403, "this origin is not allowed (see --cors-origin)",
                                   "invalid_request_error", {}, "cors_origin_not_allowed"));
  }
  Response r;
  r.status = 204;
  r.content_type.clear();
  r.headers = headers_for(request);
  r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  r.headers.emplace_back("Access-Control-Allow-Headers",
                         "Authorization, X-API-Key, Content-Type, OpenAI-Organization, "
                         "OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, "
                         "X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, "
                         "X-Stainless-Runtime-Version, X-Stainless-Retry-Count, "
                         "X-Stainless-Timeout");
  r.headers.emplace_back("Access-Control-Max-Age", "600");
  return r;
}

}  // namespace hark::server
