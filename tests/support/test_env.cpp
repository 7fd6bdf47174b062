#include "support/test_env.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace hark::testing {

static std::string env_or(const char* name, const char* fallback_env, const std::string& dflt) {
  if (const char* v = std::getenv(name); v && *v) return v;
  if (fallback_env) {
    if (const char* v = std::getenv(fallback_env); v && *v) return v;
  }
  return dflt;
}

std::string shared_dir() { return env_or("HARK_SHARED", nullptr, HARK_SHARED_DIR_DEFAULT); }
std::string asset(const std::string& name) { return shared_dir() + "/assets/" + name; }
std::string source_dir() { return env_or("HARK_SOURCE_DIR", nullptr, HARK_SOURCE_DIR_DEFAULT); }
std::string test_data(const std::string& rel) { return source_dir() + "/tests/data/" + rel; }
std::string hark_binary() { return env_or("HARK_BINARY", nullptr, HARK_BINARY_DEFAULT); }

std::string temp_dir() {
  static const std::string dir = [] {
    std::string base = env_or("TMPDIR", nullptr, "/tmp");
    std::string path = base + "/hark-test-" + std::to_string(::getpid());
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

}  // namespace hark::testing
