// The route table: exact paths, one handler per (method, path). The session asks it for the route
// of each request (404 when the path is unknown, 405 with Allow when only the method is wrong);
// the OpenAPI document and /docs are checked against it in tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/reply.h"

namespace hark::server {

struct Route {
  std::string method;
  std::string path;
  std::string summary;        // one line, for the OpenAPI document
  bool requires_key = true;   // false: answered without an API key (health, docs)
  bool takes_upload = false;  // true: the body may be as large as the upload limit
  std::function<Reply(Request&)> handler;
};

class Router {
 public:
  void add(Route route);

  struct Match {
    const Route* route = nullptr;  // null: see status
    int status = 200;              // 404 or 405 when no route
    std::string allow;             // 405: the methods the path has
  };
  Match find(const std::string& method, const std::string& path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace hark::server
