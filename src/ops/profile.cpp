#include "ops/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>

#ifdef HARK_HAVE_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace hark::ops {
namespace {

std::atomic<bool> g_on{false};
std::mutex g_mu;
std::map<std::string, OpTime>& buckets() {
  static std::map<std::string, OpTime> b;
  return b;
}

void drain() {
#ifdef HARK_HAVE_CUDA
  if (backends::cuda::available()) backends::cuda::synchronize();
#endif
}

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void set_profiling(bool on) { g_on = on; }
bool profiling() { return g_on.load(std::memory_order_relaxed); }

std::vector<OpTime> profile_report() {
  std::lock_guard lock(g_mu);
  std::vector<OpTime> out;
  for (const auto& [name, t] : buckets()) out.push_back(t);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.ms > b.ms; });
  return out;
}

void reset_profile() {
  std::lock_guard lock(g_mu);
  buckets().clear();
}

double profile_begin() {
  drain();
  return now_ms();
}

void profile_end(const std::string& key, double start_ms) {
  drain();
  const double ms = now_ms() - start_ms;
  std::lock_guard lock(g_mu);
  OpTime& t = buckets()[key];
  t.name = key;
  t.ms += ms;
  ++t.calls;
}

}  // namespace hark::ops
