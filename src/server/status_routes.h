// Operational routes: GET /health (seed 003's shape; 503 while the model loads or the server
// drains), GET /gpu-status (seed 002's per-device load and memory), GET /metrics (Prometheus).
#pragma once

#include "server/router.h"
#include "server/server_state.h"

namespace hark::server {

void add_status_routes(Router& router, ServerState& state);

}  // namespace hark::server
