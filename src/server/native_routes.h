// The routes the seeds' users built by hand (seed 003's API, seed 004's performance_metrics):
// POST /transcribe (multipart upload) and POST /transcribe/url (JSON {"url"}).
#pragma once

#include "server/router.h"
#include "server/server_state.h"

namespace hark::server {

void add_native_routes(Router& router, ServerState& state);

}  // namespace hark::server
