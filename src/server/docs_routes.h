// GET /openapi.json (an OpenAPI 3.0 document of every route) and GET /docs (a self-contained
// page that renders it and can send requests; no CDN, nothing fetched but /openapi.json).
#pragma once

#include <nlohmann/json.hpp>

#include "server/router.h"
#include "server/server_state.h"

namespace hark::server {

// The document for the routes registered so far (plus the two docs routes themselves).
nlohmann::json openapi_document(const Router& router, const ServerState& state);

void add_docs_routes(Router& router, ServerState& state);

// The HTML of /docs.
const char* docs_page();

}  // namespace hark::server
