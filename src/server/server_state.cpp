#include "server/server_state.h"

#include <filesystem>

namespace hark::server {
namespace {

PoolOptions pool_options(const ServerOptions& o) {
  PoolOptions p;
  p.devices = o.devices;
  p.engine = o.engine;
  p.workers_per_engine = o.workers_per_engine;
  p.queue_size = o.queue_size;
  p.max_audio_samples = int64_t(o.max_audio_seconds * 16000);
  p.load_delay_ms = o.load_delay_ms;
  return p;
}

}  // namespace

ServerState::ServerState(ServerOptions o)
    : options(std::move(o)), pool(pool_options(options), metrics) {}

std::vector<std::string> ServerState::model_ids() const {
  std::filesystem::path p(options.engine.model_path);
  while (!p.empty() && p.filename().empty()) p = p.parent_path();  // trailing slash
  std::string own = p.stem().string();
  if (own == "model") own = p.parent_path().filename().string();  // dir/model.safetensors
  std::vector<std::string> ids = {"whisper-1"};
  if (!own.empty() && own != "whisper-1") ids.push_back(own);
  return ids;
}

}  // namespace hark::server
