// `hark serve`: the HTTP server. Starts listening at once, loads the model in the background
// (/health answers 503 "loading" meanwhile), serves until SIGTERM or SIGINT, then stops accepting,
// lets in-flight requests finish within the grace period, cancels what is left and returns.
#pragma once

#include "server/server_options.h"

namespace hark::server {

// Runs the server to completion; the process's exit code (0 after a clean shutdown, 1 when the
// model failed to load). Throws hark::Error for options that cannot work (a port in use, a
// missing API key file).
int run_server(const ServerOptions& options);

}  // namespace hark::server
