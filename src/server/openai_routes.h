// OpenAI's audio API: POST /v1/audio/transcriptions, POST /v1/audio/translations, GET /v1/models.
// Fields, formats and error shapes follow https://platform.openai.com/docs/api-reference/audio so
// that the official clients work unmodified.
#pragma once

#include "server/router.h"
#include "server/server_state.h"

namespace hark::server {

void add_openai_routes(Router& router, ServerState& state);

}  // namespace hark::server
