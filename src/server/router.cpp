#include "server/router.h"

namespace hark::server {

void Router::add(Route route) { routes_.push_back(std::move(route)); }

Router::Match Router::find(const std::string& method, const std::string& path) const {
  Match m;
  m.status = 404;
  for (const Route& r : routes_) {
    if (r.path != path) continue;
    // HEAD is answered like GET (without a body).
    if (r.method == method || (method == "HEAD" && r.method == "GET")) {
      m.route = &r;
      m.status = 200;
      return m;
    }
    m.status = 405;
    m.allow += (m.allow.empty() ? "" : ", ") + r.method;
  }
  return m;
}

}  // namespace hark::server
