// Which ISA level the dispatched kernels (simd.h) run at: detected once, lowered on request.
#include <atomic>
#include <cstdlib>
#include <string_view>

#include "backends/cpu/kernels.h"
#include "backends/cpu/simd.h"

namespace hark::backends::cpu {

namespace {

Isa detect() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

Isa from_env(Isa best) {
  const char* env = std::getenv("HARK_CPU_ISA");
  if (!env) return best;
  const std::string_view v(env);
  const Isa want = v == "baseline" ? Isa::kBaseline : v == "avx2" ? Isa::kAvx2 : best;
  return want < best ? want : best;
}

std::atomic<Isa>& active() {
  static std::atomic<Isa> isa{from_env(best_isa())};
  return isa;
}

}  // namespace

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

Isa set_isa(Isa isa) {
  const Isa use = isa < best_isa() ? isa : best_isa();
  active().store(use, std::memory_order_relaxed);
  return use;
}

Isa active_isa() { return active().load(std::memory_order_relaxed); }

}  // namespace hark::backends::cpu
