// Everything `hark serve` can be told on its command line (apps/hark/serve_command.cpp fills it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hark/engine.h"

namespace hark::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;       // 0: any free port (the log line "listening on ..." says which)
  EngineOptions engine;  // model, tokenizer, threads, compute type
  std::vector<std::string> devices = {"auto"};  // one engine per entry
  int workers_per_engine = 1;
  size_t queue_size = 64;
  std::vector<std::string> api_keys;  // empty: no authentication
  std::string api_keys_file;          // one key per line; # comments
  size_t max_upload_bytes = 25u << 20;
  double max_audio_seconds = 4 * 3600;
  double request_timeout_s = 600;         // deadline of one transcription, queueing included
  double shutdown_grace_s = 30;           // SIGTERM: in-flight work gets this long to finish
  std::vector<std::string> cors_origins;  // "*" or exact origins; empty: no CORS headers
  // /transcribe/url
  bool allow_private_urls = false;
  double url_timeout_s = 60;
  size_t url_max_bytes = 0;  // 0: max_upload_bytes
  int io_threads = 2;
  // Decoding defaults for requests (which may override temperature, language, prompt).
  TranscribeOptions defaults;
  int load_delay_ms = 0;  // tests only: keep /health at "loading" this long
};

}  // namespace hark::server
